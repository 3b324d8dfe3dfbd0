/* The k-fold policies of `sim sprout`, each evaluated out of sample:
 *
 *   ours           per-request groups (true task x length), the plan from
 *                  the true mix of the hour (as a live router cannot know);
 *   ours-live      groups from the prompt classifier (dmodel.h) trained on
 *                  the other folds only, the plan from the predicted mix of
 *                  past hours and the intensity forecast (live.h, the code
 *                  the router runs);
 *   prompt-oracle  per prompt any level, reading its judge label, under the
 *                  same floor over the same periods: the upper bound.
 *
 * Each fold holds out one fifth (by default) of every dataset's labelled
 * prompts; the month is replayed with requests drawn only from them, and
 * Sprout's LP runs on the same requests for a like-for-like row. The
 * requests and the decisions use separate random streams, so all three
 * policies see the same requests in a fold. */
#include "directive/assign.h"
#include "directive/dmodel.h"
#include "directive/live.h"
#include "sim/sprout_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef eco_sprout_sim sim;
typedef eco_sprout_rng rng;
typedef eco_sprout_req req;

#define NDS ECO_SPROUT_NDS
#define NLV ECO_SPROUT_NLV

/* features of every labelled prompt, computed once per run (ours-live) */
typedef struct featcache {
  eco_dclass_feat *f[NDS]; /* concatenated */
  size_t *off[NDS];        /* [n_lab + 1] */
} featcache;

static void featcache_free(featcache *c) {
  for (int k = 0; k < NDS; k++) {
    free(c->f[k]);
    free(c->off[k]);
  }
  memset(c, 0, sizeof *c);
}

static int featcache_build(const sim *s, unsigned bits, featcache *c, eco_error *err) {
  memset(c, 0, sizeof *c);
  eco_dclass_feat *tmp = malloc(ECO_DCLASS_MAX_FEATS * sizeof *tmp);
  if (!tmp) return eco_error_set(err, ECO_ENOMEM, "out of memory");
  for (int k = 0; k < NDS; k++) {
    const eco_sprout_dataset *ds = &s->d->ds[k];
    size_t cap = 4096, n = 0;
    c->f[k] = malloc(cap * sizeof *c->f[k]);
    c->off[k] = malloc((ds->n_lab + 1) * sizeof *c->off[k]);
    if (!c->f[k] || !c->off[k]) goto oom;
    for (size_t j = 0; j < ds->n_lab; j++) {
      size_t i = ds->lab_idx[j];
      size_t m = eco_dclass_features(ds->text[i], ds->chars[i], bits, tmp, ECO_DCLASS_MAX_FEATS);
      if (n + m > cap) {
        while (n + m > cap)
          cap *= 2;
        eco_dclass_feat *nf = realloc(c->f[k], cap * sizeof *nf);
        if (!nf) goto oom;
        c->f[k] = nf;
      }
      memcpy(c->f[k] + n, tmp, m * sizeof *tmp);
      c->off[k][j] = n;
      n += m;
      c->off[k][j + 1] = n;
    }
  }
  free(tmp);
  return 0;
oom:
  free(tmp);
  featcache_free(c);
  return eco_error_set(err, ECO_ENOMEM, "out of memory");
}

typedef struct fold {
  sim *s;
  size_t id;
  size_t *pool[NDS], npool[NDS]; /* held-out label indices */
  eco_assign_model *m;           /* the groups the policy plans over */
  eco_assign_model own;          /* ours */
  eco_dmodel dm;                 /* ours-live */
  int *pcls[NDS];                /* ours-live: predicted class of held-out label j */
  eco_dlive live;                /* ours-live */
  eco_assign_plan *plan;         /* ours: the rest of the period */
  double *fc;                    /* forecast scratch, [period_h] */
  double credit;                 /* ours */
  bool period_degraded;          /* ours */
  size_t deg_hours, deg_periods; /* ours */
  /* Sprout's LP on the same requests */
  eco_eval_sched sched;
  double qest[NLV], ci_mean;
  rng rq_r, dec_r; /* requests; decisions */
} fold;

static void fold_free(fold *f) {
  for (int k = 0; k < NDS; k++) {
    free(f->pool[k]);
    free(f->pcls[k]);
  }
  eco_dmodel_free(&f->dm);
  free(f->plan);
  free(f->fc);
}

/* Learns the fold's model from every labelled prompt outside the fold. */
static int fold_train(fold *f, const unsigned char *const *in_fold, const featcache *fcache,
                      eco_sprout_result *res, eco_sprout_fold *fr, eco_error *err) {
  const sim *s = f->s;
  const eco_sprout_cfg *cfg = s->cfg;
  size_t ntr = 0;
  for (int k = 0; k < NDS; k++)
    ntr += s->d->ds[k].n_lab;
  bool live = cfg->policy == ECO_SPROUT_OURS_LIVE;
  eco_dtrain_rec *tr = calloc(ntr ? ntr : 1, sizeof *tr);
  eco_assign_sample *as = calloc(ntr ? ntr : 1, sizeof *as);
  int rc = 0;
  if (!tr || !as) {
    rc = eco_error_set(err, ECO_ENOMEM, "out of memory");
    goto out;
  }
  ntr = 0;
  for (int k = 0; k < NDS; k++) {
    const eco_sprout_dataset *ds = &s->d->ds[k];
    for (size_t j = 0; j < ds->n_lab; j++) {
      if (in_fold[k][j] == f->id) continue; /* held out: evaluated, never learnt from */
      size_t i = ds->lab_idx[j];
      eco_dtrain_rec *t = &tr[ntr];
      eco_assign_sample *a = &as[ntr++];
      t->len = ds->chars[i];
      t->label = k, t->preferred = ds->lab_level[j], t->has_cost = true;
      a->f.task = k, a->f.prompt_chars = ds->chars[i], a->preferred = ds->lab_level[j];
      if (live) {
        t->feat = fcache->f[k] + fcache->off[k][j];
        t->n_feat = fcache->off[k][j + 1] - fcache->off[k][j];
      }
      for (int l = 0; l < NLV; l++) {
        t->energy_kwh[l] = a->energy_kwh[l] = ds->energy[l][i];
        t->time_s[l] = a->time_s[l] = ds->time[l][i];
      }
    }
  }
  if (!live) {
    f->m = &f->own;
    rc = eco_assign_train(&f->own, as, ntr, NDS, NLV, 5.0, err);
    goto out;
  }
  const char *labels[NDS];
  for (int k = 0; k < NDS; k++)
    labels[k] = s->d->ds[k].name;
  eco_dmodel_fit_cfg fc;
  eco_dmodel_fit_cfg_default(&fc);
  fc.inner_folds = cfg->inner_folds;
  fc.fold_seed = cfg->sample_seed * 131 + f->id + 1;
  if ((rc = eco_dmodel_fit(&f->dm, &fc, labels, NDS, tr, ntr, NULL, err))) goto out;
  f->m = &f->dm.groups;
  /* the classifier on the held-out prompts: each is predicted once */
  size_t ok = 0, all = 0;
  for (int k = 0; k < NDS; k++)
    for (size_t p = 0; p < f->npool[k]; p++) {
      size_t j = f->pool[k][p];
      const eco_dclass_feat *ft = fcache->f[k] + fcache->off[k][j];
      int c =
          eco_dclass_predict_feats(&f->dm.cls, ft, fcache->off[k][j + 1] - fcache->off[k][j], NULL);
      f->pcls[k][j] = c;
      res->confusion[k][c]++;
      ok += c == k, all++;
    }
  fr->accuracy = all ? (double)ok / (double)all : 0;
out:
  free(tr);
  free(as);
  return rc;
}

static int fold_setup(fold *f, sim *s, size_t id, const unsigned char *const *in_fold,
                      const featcache *fcache, eco_sprout_result *res, eco_sprout_fold *fr,
                      eco_error *err) {
  memset(f, 0, sizeof *f);
  f->s = s;
  f->id = id;
  const eco_sprout_cfg *cfg = s->cfg;
  f->plan = malloc(cfg->period_h * sizeof *f->plan);
  f->fc = malloc(cfg->period_h * sizeof *f->fc);
  if (!f->plan || !f->fc) return eco_error_set(err, ECO_ENOMEM, "out of memory");
  for (int k = 0; k < NDS; k++) {
    const eco_sprout_dataset *ds = &s->d->ds[k];
    f->pool[k] = malloc((ds->n_lab ? ds->n_lab : 1) * sizeof *f->pool[k]);
    f->pcls[k] = calloc(ds->n_lab ? ds->n_lab : 1, sizeof *f->pcls[k]);
    if (!f->pool[k] || !f->pcls[k]) return eco_error_set(err, ECO_ENOMEM, "out of memory");
    for (size_t j = 0; j < ds->n_lab; j++)
      if (in_fold[k][j] == id) f->pool[k][f->npool[k]++] = j;
  }
  eco_sprout_rng_seed(&f->rq_r, cfg->sample_seed * 1000003ULL + id + 1);
  eco_sprout_rng_seed(&f->dec_r, (cfg->sample_seed * 1000003ULL + id + 1) ^ 0xdec15105ULL);
  eco_eval_sched_init(&f->sched);
  f->qest[0] = 1;
  for (size_t h = 0; h < s->H; h++)
    f->ci_mean += s->ci[h] / (double)s->H;
  if (cfg->policy == ECO_SPROUT_PROMPT_ORACLE) return 0;
  int rc = fold_train(f, in_fold, fcache, res, fr, err);
  if (!rc && cfg->policy == ECO_SPROUT_OURS_LIVE) {
    eco_dlive_cfg lc;
    eco_dlive_cfg_default(&lc);
    lc.period_h = cfg->period_h;
    lc.margin = cfg->margin;
    lc.mix_half_life_h = cfg->mix_half_life_h;
    if (eco_dlive_init(&f->live, &lc, NDS))
      rc = eco_error_set(err, ECO_EINVAL, "sim sprout: bad live planner settings");
  }
  return rc;
}

/* The intensity forecast for hours h .. h+len-1 of the window: this hour is
 * known; later hours are the same hour of the most recent day already seen
 * (persistence), or the trace itself with --forecast perfect. */
static void forecast(const sim *s, size_t h, size_t len, double *fc) {
  long lo = -(long)s->cfg->start_hour, hi = (long)s->n_after - 1;
  for (size_t j = 0; j < len; j++) {
    long t = (long)(h + j), src = t;
    if (s->cfg->forecast != 1 && j > 0) src = t - 24 * (long)((j + 23) / 24);
    if (src < lo || src > hi) src = (long)h;
    fc[j] = s->ci[src];
  }
}

/* ours: the rest of the period planned for the true mix of this hour */
static int plan_ours(fold *f, size_t h, eco_error *err) {
  const sim *s = f->s;
  size_t P = s->cfg->period_h, left = P - h % P;
  if (h % P == 0) f->credit = 0, f->period_degraded = false;
  if (left > s->H - h) left = s->H - h;
  forecast(s, h, left, f->fc);
  int rc = eco_assign_solve_period(f->m, s->comp[h], f->fc, left, &s->pc, s->cfg->margin,
                                   f->credit / (double)left, f->plan, err);
  if (rc) return rc;
  f->credit += f->plan[0].expect_pref - f->plan[0].floor;
  if (f->plan[0].degraded) {
    f->deg_hours++;
    f->deg_periods += !f->period_degraded;
    f->period_degraded = true;
  }
  return 0;
}

/* n requests of hour h from the held-out pools (with replacement) */
static size_t draw_hour(fold *f, size_t h, req *rq) {
  const sim *s = f->s;
  size_t cnt[NDS], n = 0;
  eco_sprout_draw_counts(&f->rq_r, s->comp[h], s->cfg->n_sample, cnt);
  for (int k = 0; k < NDS; k++)
    for (size_t j = 0; j < cnt[k] && f->npool[k]; j++, n++) {
      size_t li = f->pool[k][eco_sprout_rng_below(&f->rq_r, f->npool[k])];
      rq[n] = (req){k, s->d->ds[k].lab_idx[li], li, s->d->ds[k].lab_level[li]};
    }
  return n;
}

typedef struct hour_acc {
  double g, b, q, lg, lq;      /* sums over requests */
  double qh[NLV], shares[NLV]; /* label shares, level shares */
} hour_acc;

/* Sprout's LP on the same requests: q refreshed from them when the
 * evaluation runs (as Sprout's evaluator would) */
static int lp_hour(fold *f, size_t h, const req *rq, size_t n, hour_acc *a, eco_sprout_result *res,
                   eco_error *err) {
  const sim *s = f->s;
  double ci = s->ci[h];
  bool eval = h == 0 || eco_eval_sched_step(&f->sched, (long)h, s->ci[h - 1], ci, f->ci_mean);
  if (eval) memcpy(f->qest, a->qh, sizeof a->qh);
  eco_level_stats lv[NLV];
  eco_sprout_mix_stats(s, s->comp[h], f->qest, lv);
  double xl[NLV];
  bool deg = false;
  int rc = eco_sprout_lp(s, lv, ci, xl, &deg, err);
  if (rc) return rc;
  (void)res;
  for (size_t j = 0; j < n; j++) {
    for (int L = 0; L < NLV; L++)
      a->lg += xl[L] * eco_sprout_prompt_g(s, rq[j].k, rq[j].i, L, ci);
    a->lq += xl[rq[j].label];
  }
  return 0;
}

static void hour_out(const sim *s, size_t h, size_t n, const hour_acc *a, double *sums,
                     eco_sprout_hour *hours) {
  double dn = n ? (double)n : 1;
  sums[0] += a->g / dn, sums[1] += a->b / dn, sums[2] += a->q / dn;
  sums[3] += a->lg / dn, sums[4] += a->lq / dn;
  if (!hours) return;
  eco_sprout_hour *o = &hours[h];
  o->ci = s->ci[h];
  for (int l = 0; l < NLV; l++)
    o->x[l] = a->shares[l] / dn;
  o->carbon_g = a->g / dn;
  o->base_g = a->b / dn;
  o->quality = a->q / dn;
  o->pref_max = a->qh[0];
}

static void fold_result(const sim *s, const double *sums, eco_sprout_fold *fr) {
  fr->reduction_pct = sums[1] > 0 ? 100.0 * (1 - sums[0] / sums[1]) : 0;
  fr->quality = sums[2] / (double)s->H;
  fr->lp_reduction_pct = sums[1] > 0 ? 100.0 * (1 - sums[3] / sums[1]) : 0;
  fr->lp_quality = sums[4] / (double)s->H;
}

static void label_shares(const req *rq, size_t n, hour_acc *a) {
  for (size_t j = 0; j < n; j++)
    a->qh[rq[j].label] += 1;
  for (int l = 0; l < NLV; l++)
    a->qh[l] = n ? a->qh[l] / (double)n : 0;
}

/* ours and ours-live, hour by hour */
static int run_fold_online(fold *f, eco_sprout_fold *fr, eco_sprout_hour *hours,
                           eco_sprout_result *res, eco_error *err) {
  sim *s = f->s;
  const eco_sprout_cfg *cfg = s->cfg;
  bool live = cfg->policy == ECO_SPROUT_OURS_LIVE;
  req *rq = malloc(cfg->n_sample * sizeof *rq);
  if (!rq) return eco_error_set(err, ECO_ENOMEM, "out of memory");
  double sums[5] = {0};
  int rc = 0;
  for (size_t h = 0; h < s->H; h++) {
    double ci = s->ci[h];
    if (live) {
      forecast(s, h, cfg->period_h, f->fc);
      rc = eco_dlive_begin_hour(&f->live, f->m, &s->pc, (long)(cfg->start_hour + h), f->fc,
                                cfg->period_h, err);
    } else {
      rc = plan_ours(f, h, err);
    }
    if (rc) break;
    size_t n = draw_hour(f, h, rq);
    hour_acc a = {0};
    label_shares(rq, n, &a);
    if ((rc = lp_hour(f, h, rq, n, &a, res, err))) break;
    for (size_t j = 0; j < n; j++) {
      const req *p = &rq[j];
      double u = eco_sprout_rng_unif(&f->dec_r);
      int l;
      if (live) {
        eco_request_features ft = {f->pcls[p->k][p->j], s->d->ds[p->k].chars[p->i]};
        l = eco_dlive_level(&f->live, f->m, &ft, u, NULL);
        eco_dlive_observe(&f->live, f->m, &ft, l);
      } else {
        eco_request_features ft = {p->k, s->d->ds[p->k].chars[p->i]};
        l = eco_assign_level(f->m, &f->plan[0], &ft, u);
      }
      a.shares[l] += 1;
      a.g += eco_sprout_prompt_g(s, p->k, p->i, l, ci);
      a.b += eco_sprout_prompt_g(s, p->k, p->i, 0, ci);
      a.q += p->label == l;
    }
    hour_out(s, h, n, &a, sums, hours);
  }
  free(rq);
  if (rc) return rc;
  fold_result(s, sums, fr);
  if (live) {
    res->n_degraded_hours += f->live.st.hours_degraded;
    res->n_degraded_periods += f->live.st.periods_degraded;
  } else {
    res->n_degraded_hours += f->deg_hours;
    res->n_degraded_periods += f->deg_periods;
  }
  return 0;
}

typedef struct po_item {
  double saving; /* g: the label's level over the cheapest level */
  size_t idx;    /* into the fold's requests */
} po_item;

static int cmp_saving_asc(const void *a, const void *b) {
  double x = ((const po_item *)a)->saving, y = ((const po_item *)b)->saving;
  return (x > y) - (x < y);
}

/* prompt-oracle, one period [h0, h1): every prompt gets its label's level
 * or the cheapest level; the labels are kept where they cost least until
 * the period's floor (Sprout's hourly floors at the hours' true q0, summed)
 * is met. Each kept label adds the same quality, so the greedy is exact. */
static int poracle_period(const sim *s, size_t h0, size_t h1, const req *all, const size_t *nh,
                          unsigned char *lvl, eco_error *err) {
  size_t N = s->cfg->n_sample, ni = 0;
  po_item *it = malloc((h1 - h0) * N * sizeof *it);
  if (!it) return eco_error_set(err, ECO_ENOMEM, "out of memory");
  double need = 0, have = 0;
  for (size_t h = h0; h < h1; h++) {
    if (!nh[h]) continue;
    double ci = s->ci[h], unit = 1.0 / (double)nh[h];
    size_t q0 = 0;
    for (size_t j = 0; j < nh[h]; j++) {
      const req *p = &all[h * N + j];
      q0 += p->label == 0;
      int lmin = 0;
      for (int l = 1; l < NLV; l++)
        if (eco_sprout_prompt_g(s, p->k, p->i, l, ci) <
            eco_sprout_prompt_g(s, p->k, p->i, lmin, ci))
          lmin = l;
      double d = eco_sprout_prompt_g(s, p->k, p->i, p->label, ci) -
                 eco_sprout_prompt_g(s, p->k, p->i, lmin, ci);
      lvl[h * N + j] = (unsigned char)(d <= 0 ? p->label : lmin);
      if (d <= 0)
        have += unit;
      else
        it[ni++] = (po_item){d, h * N + j};
    }
    need += eco_plan_floor_factor(&s->pc, ci) * (double)q0 * unit;
  }
  qsort(it, ni, sizeof *it, cmp_saving_asc);
  for (size_t k = 0; k < ni && have < need - 1e-12; k++) {
    size_t h = it[k].idx / N;
    lvl[it[k].idx] = (unsigned char)all[it[k].idx].label;
    have += 1.0 / (double)nh[h];
  }
  free(it);
  return 0;
}

static int run_fold_poracle(fold *f, eco_sprout_fold *fr, eco_sprout_hour *hours,
                            eco_sprout_result *res, eco_error *err) {
  sim *s = f->s;
  size_t H = s->H, N = s->cfg->n_sample, P = s->cfg->period_h;
  req *all = malloc(H * N * sizeof *all);
  size_t *nh = calloc(H, sizeof *nh);
  unsigned char *lvl = calloc(H * N, 1);
  int rc = 0;
  if (!all || !nh || !lvl) {
    rc = eco_error_set(err, ECO_ENOMEM, "out of memory");
    goto out;
  }
  for (size_t h = 0; h < H; h++)
    nh[h] = draw_hour(f, h, all + h * N);
  for (size_t h0 = 0; h0 < H;) { /* periods aligned as the live planner's */
    size_t h1 = h0 + (P - (s->cfg->start_hour + h0) % P);
    if (h1 > H) h1 = H;
    if ((rc = poracle_period(s, h0, h1, all, nh, lvl, err))) goto out;
    h0 = h1;
  }
  double sums[5] = {0};
  for (size_t h = 0; h < H; h++) {
    const req *rq = all + h * N;
    hour_acc a = {0};
    label_shares(rq, nh[h], &a);
    if ((rc = lp_hour(f, h, rq, nh[h], &a, res, err))) goto out;
    for (size_t j = 0; j < nh[h]; j++) {
      int l = lvl[h * N + j];
      a.shares[l] += 1;
      a.g += eco_sprout_prompt_g(s, rq[j].k, rq[j].i, l, s->ci[h]);
      a.b += eco_sprout_prompt_g(s, rq[j].k, rq[j].i, 0, s->ci[h]);
      a.q += rq[j].label == l;
    }
    hour_out(s, h, nh[h], &a, sums, hours);
  }
  fold_result(s, sums, fr);
out:
  free(all);
  free(nh);
  free(lvl);
  return rc;
}

static void aggregate(const sim *s, eco_sprout_result *res) {
  size_t K = res->n_folds;
  double mr = 0, mq = 0, lr = 0, lq = 0, acc = 0;
  res->red_min = res->q_min = INFINITY;
  res->red_max = res->q_max = -INFINITY;
  for (size_t f = 0; f < K; f++) {
    const eco_sprout_fold *fr = &res->fold[f];
    mr += fr->reduction_pct / (double)K;
    mq += fr->quality / (double)K;
    lr += fr->lp_reduction_pct / (double)K;
    lq += fr->lp_quality / (double)K;
    res->red_min = fmin(res->red_min, fr->reduction_pct);
    res->red_max = fmax(res->red_max, fr->reduction_pct);
    res->q_min = fmin(res->q_min, fr->quality);
    res->q_max = fmax(res->q_max, fr->quality);
  }
  double vr = 0, vq = 0;
  for (size_t f = 0; f < K; f++) {
    vr += pow(res->fold[f].reduction_pct - mr, 2) / (double)(K - 1);
    vq += pow(res->fold[f].quality - mq, 2) / (double)(K - 1);
  }
  res->reduction_pct = mr;
  res->quality = mq;
  res->lp_reduction_pct = lr;
  res->lp_quality = lq;
  res->red_sd = sqrt(vr);
  res->q_sd = sqrt(vq);
  size_t ok = 0, all = 0;
  for (int a = 0; a < NDS; a++)
    for (int b = 0; b < NDS; b++)
      all += res->confusion[a][b], ok += a == b ? res->confusion[a][b] : 0;
  acc = all ? (double)ok / (double)all : -1;
  res->accuracy = s->cfg->policy == ECO_SPROUT_OURS_LIVE ? acc : -1;
  double sg = 0, sb = 0, spm = 0;
  for (size_t h = 0; h < s->H; h++)
    sg += res->hour[h].carbon_g, sb += res->hour[h].base_g, spm += res->hour[h].pref_max;
  res->carbon_g = sg / (double)s->H;
  res->base_carbon_g = sb / (double)s->H;
  res->pref_max = spm / (double)s->H;
}

int eco_sprout_fold_split(const eco_sprout_data *d, size_t folds, uint64_t sample_seed,
                          unsigned char *in_fold[ECO_SPROUT_NDS], eco_error *err) {
  if (!d || !in_fold || folds < 2 || folds > 16) {
    eco_error_set(err, ECO_EINVAL, "sprout: folds must be 2..16");
    return ECO_EINVAL; /* spelled out: the analyzer cannot see eco_error_set's result */
  }
  size_t nmax = 0;
  for (int k = 0; k < NDS; k++) {
    in_fold[k] = NULL;
    if (d->ds[k].n_lab > nmax) nmax = d->ds[k].n_lab;
  }
  size_t *perm = malloc((nmax ? nmax : 1) * sizeof *perm);
  if (!perm) return eco_error_set(err, ECO_ENOMEM, "out of memory");
  rng r;
  eco_sprout_rng_seed(&r, sample_seed ^ 0xf01dULL);
  for (int k = 0; k < NDS; k++) {
    size_t n = d->ds[k].n_lab;
    in_fold[k] = malloc(n ? n : 1);
    if (!in_fold[k]) {
      free(perm);
      for (int j = 0; j <= k; j++)
        free(in_fold[j]), in_fold[j] = NULL;
      return eco_error_set(err, ECO_ENOMEM, "out of memory");
    }
    /* a seeded shuffle, then folds of equal size */
    for (size_t i = 0; i < n; i++)
      perm[i] = i;
    for (size_t i = n; i > 1; i--) {
      size_t j = eco_sprout_rng_below(&r, i), t = perm[i - 1];
      perm[i - 1] = perm[j], perm[j] = t;
    }
    for (size_t i = 0; i < n; i++)
      in_fold[k][perm[i]] = (unsigned char)(i % folds);
  }
  free(perm);
  return 0;
}

int eco_sprout_run_kfold(sim *s, eco_sprout_result *res, eco_error *err) {
  const eco_sprout_cfg *cfg = s->cfg;
  size_t K = cfg->folds;
  if (K < 2 || K > 16) return eco_error_set(err, ECO_EINVAL, "sim sprout: folds must be 2..16");
  if (cfg->period_h < 1 || cfg->period_h > 168)
    return eco_error_set(err, ECO_EINVAL, "sim sprout: period must be 1..168 hours");
  if (cfg->inner_folds > 16 || !(cfg->mix_half_life_h >= 0) || cfg->mix_half_life_h > 1e4)
    return eco_error_set(err, ECO_EINVAL, "sim sprout: bad inner folds or mix half-life");
  unsigned char *in_fold[NDS] = {0};
  featcache fcache = {0};
  int rc = eco_sprout_fold_split(s->d, K, cfg->sample_seed, in_fold, err);
  if (rc) goto fail;
  eco_dclass_cfg ccfg;
  eco_dclass_cfg_default(&ccfg);
  if (cfg->policy == ECO_SPROUT_OURS_LIVE &&
      (rc = featcache_build(s, ccfg.hash_bits, &fcache, err)))
    goto fail;
  res->n_folds = K;
  for (size_t k = 0; k < K && !rc; k++) {
    fold f;
    eco_sprout_hour *hours = k == 0 ? res->hour : NULL;
    rc = fold_setup(&f, s, k, (const unsigned char *const *)in_fold, &fcache, res, &res->fold[k],
                    err);
    if (!rc)
      rc = cfg->policy == ECO_SPROUT_PROMPT_ORACLE
               ? run_fold_poracle(&f, &res->fold[k], hours, res, err)
               : run_fold_online(&f, &res->fold[k], hours, res, err);
    fold_free(&f);
  }
  if (!rc) aggregate(s, res);
fail:
  featcache_free(&fcache);
  for (int k = 0; k < NDS; k++)
    free(in_fold[k]);
  return rc;
}
