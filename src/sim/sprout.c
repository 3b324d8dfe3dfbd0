/* The Sprout artifact's evaluation protocol, hour by hour. */
#include "carbon/sci.h"
#include "directive/plan.h"
#include "sim/sprout.h"
#include "sim/sprout_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* --- MT19937 as numpy's legacy RandomState uses it -------------------------
 * Only to draw the request mix exactly as the artifact does with
 * np.random.seed(seed): randint for the PAI start of each dataset, then
 * normal(24, 4.8) for the time to the next change. Written from the
 * published MT19937 algorithm (Matsumoto & Nishimura) and numpy's documented
 * legacy semantics (masked rejection for bounded ints, polar Box-Muller). */
typedef struct mt {
  uint32_t key[624];
  int pos;
  bool has_gauss;
  double gauss;
} mt;

static void mt_seed(mt *m, uint32_t seed) {
  for (int i = 0; i < 624; i++) {
    m->key[i] = seed;
    seed = 1812433253U * (seed ^ (seed >> 30)) + (uint32_t)i + 1;
  }
  m->pos = 624;
  m->has_gauss = false;
  m->gauss = 0;
}

static uint32_t mt_next(mt *m) {
  if (m->pos >= 624) {
    for (int i = 0; i < 624; i++) {
      uint32_t y = (m->key[i] & 0x80000000U) | (m->key[(i + 1) % 624] & 0x7fffffffU);
      m->key[i] = m->key[(i + 397) % 624] ^ (y >> 1) ^ ((y & 1U) ? 0x9908b0dfU : 0U);
    }
    m->pos = 0;
  }
  uint32_t y = m->key[m->pos++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680U;
  y ^= (y << 15) & 0xefc60000U;
  y ^= y >> 18;
  return y;
}

static double mt_double(mt *m) {
  uint32_t a = mt_next(m) >> 5, b = mt_next(m) >> 6;
  return ((double)a * 67108864.0 + (double)b) / 9007199254740992.0;
}

/* randint(0, n): uniform in [0, n) by masked rejection */
static uint32_t mt_below(mt *m, uint32_t n) {
  if (n <= 1) return 0;
  uint32_t span = n - 1, mask = span;
  mask |= mask >> 1, mask |= mask >> 2, mask |= mask >> 4, mask |= mask >> 8, mask |= mask >> 16;
  uint32_t v;
  while ((v = (mt_next(m) & mask)) > span) {
  }
  return v;
}

static double mt_gauss(mt *m) {
  if (m->has_gauss) {
    m->has_gauss = false;
    return m->gauss;
  }
  double x1, x2, r2;
  do {
    x1 = 2.0 * mt_double(m) - 1.0;
    x2 = 2.0 * mt_double(m) - 1.0;
    r2 = x1 * x1 + x2 * x2;
  } while (r2 >= 1.0 || r2 == 0.0);
  double f = sqrt(-2.0 * log(r2) / r2);
  m->gauss = f * x1;
  m->has_gauss = true;
  return f * x2;
}

/* Python's round(): half to even */
static long round_half_even(double x) {
  double r = nearbyint(x); /* default rounding mode: to nearest, ties to even */
  return (long)r;
}

static const char *const pol_names[] = {"baseline", "static", "lp",        "ours",
                                        "oracle",   "co2opt", "ours-live", "prompt-oracle"};

int eco_sprout_policy_parse(const char *s, eco_sprout_policy *out) {
  for (size_t i = 0; s && i < sizeof pol_names / sizeof pol_names[0]; i++)
    if (strcmp(s, pol_names[i]) == 0) {
      *out = (eco_sprout_policy)i;
      return 0;
    }
  return ECO_EINVAL;
}
const char *eco_sprout_policy_name(eco_sprout_policy p) {
  return (unsigned)p < sizeof pol_names / sizeof pol_names[0] ? pol_names[p] : "?";
}

void eco_sprout_cfg_default(eco_sprout_cfg *c) {
  memset(c, 0, sizeof *c);
  c->policy = ECO_SPROUT_LP;
  c->start_hour = 800;
  c->hours = 720;
  c->seed = 0;
  c->n_sample = 1000;
  c->xi = 0.1;
  c->embodied_g = 26356.568;
  c->life_years = 5;
  c->update_h = 24;
  c->folds = 5;
  c->margin = 0.005;
  c->period_h = 24;
  c->forecast = 0;
  c->inner_folds = 5;
  c->mix_half_life_h = 1.0;
}

/* --- the shared per-run context -------------------------------------------- */
#define N_E 5000 /* the artifact samples energy from the first 5000 prompts */

typedef eco_sprout_sim sim;
typedef eco_sprout_rng rng;
typedef eco_sprout_req req;

/* The PAI-driven mix: every ~update_h hours (normal, sd 20 %) each
 * dataset's weight is the next PAI value from its own random start. */
static void gen_mix(sim *s) {
  const eco_sprout_data *d = s->d;
  mt m;
  mt_seed(&m, (uint32_t)s->cfg->seed);
  /* randint(0, len(pai) - hours/update_h): the artifact's float bound */
  double bound = (double)d->n_pai - (double)s->H / s->cfg->update_h;
  uint32_t lim = bound > 1 ? (uint32_t)ceil(bound) : 1;
  size_t idx[ECO_SPROUT_NDS];
  for (int k = 0; k < ECO_SPROUT_NDS; k++)
    idx[k] = mt_below(&m, lim);
  size_t next = 0;
  for (size_t h = 0; h < s->H; h++) {
    if (h == next) {
      double sum = 0;
      for (int k = 0; k < ECO_SPROUT_NDS; k++) {
        s->comp[h][k] = d->pai[idx[k] < d->n_pai ? idx[k] : d->n_pai - 1];
        idx[k]++;
        sum += s->comp[h][k];
      }
      for (int k = 0; k < ECO_SPROUT_NDS; k++)
        s->comp[h][k] = sum > 0 ? s->comp[h][k] / sum : 1.0 / ECO_SPROUT_NDS;
      long step = round_half_even(s->cfg->update_h + 0.2 * s->cfg->update_h * mt_gauss(&m));
      next += step < 1 ? 1 : (size_t)step;
    } else {
      memcpy(s->comp[h], s->comp[h - 1], sizeof s->comp[h]);
    }
  }
}

/* Dataset counts of n draws from the mix. */
void eco_sprout_draw_counts(rng *r, const double *comp, size_t n, size_t *cnt) {
  memset(cnt, 0, ECO_SPROUT_NDS * sizeof *cnt);
  for (size_t i = 0; i < n; i++) {
    double u = eco_sprout_rng_unif(r), acc = 0;
    int k = 0;
    for (; k < ECO_SPROUT_NDS - 1; k++) {
      acc += comp[k];
      if (u < acc) break;
    }
    cnt[k]++;
  }
}

/* True preference rates of n labelled prompts sampled (without replacement
 * within a dataset) from the mix; q[ECO_SPROUT_NLV]. */
static void sample_quality(sim *s, rng *r, const double *comp, size_t n, double *q) {
  size_t cnt[ECO_SPROUT_NDS], tot[ECO_SPROUT_NLV] = {0}, all = 0;
  eco_sprout_draw_counts(r, comp, n, cnt);
  for (int k = 0; k < ECO_SPROUT_NDS; k++) {
    const eco_sprout_dataset *ds = &s->d->ds[k];
    size_t m = cnt[k] < ds->n_lab ? cnt[k] : ds->n_lab;
    for (size_t i = 0; i < ds->n_lab; i++)
      s->scratch[i] = i;
    for (size_t i = 0; i < m; i++) {
      size_t j = i + eco_sprout_rng_below(r, ds->n_lab - i);
      size_t t = s->scratch[i];
      s->scratch[i] = s->scratch[j], s->scratch[j] = t;
      tot[ds->lab_level[s->scratch[i]]]++;
      all++;
    }
  }
  for (int l = 0; l < ECO_SPROUT_NLV; l++)
    q[l] = all ? (double)tot[l] / (double)all : 0;
}

void eco_sprout_mix_stats(const sim *s, const double *comp, const double *q, eco_level_stats *lv) {
  for (int l = 0; l < ECO_SPROUT_NLV; l++) {
    lv[l].energy_kwh = lv[l].time_s = 0;
    for (int k = 0; k < ECO_SPROUT_NDS; k++) {
      lv[l].energy_kwh += comp[k] * s->mE[k][l];
      lv[l].time_s += comp[k] * s->mT[k][l];
    }
    lv[l].pref = q ? q[l] : 0;
  }
}

/* Expected g per request of the mix under x. */
static double mix_carbon(const sim *s, const double *comp, const double *x, double ci) {
  eco_level_stats lv[ECO_SPROUT_NLV];
  eco_sprout_mix_stats(s, comp, NULL, lv);
  double g = 0;
  for (int l = 0; l < ECO_SPROUT_NLV; l++)
    g += x[l] * eco_plan_cost_g(&s->pc, &lv[l], ci);
  return g;
}

double eco_sprout_prompt_g(const sim *s, int k, size_t i, int l, double ci) {
  const eco_sprout_dataset *ds = &s->d->ds[k];
  return ds->energy[l][i] * ci + s->pc.embodied_g_per_s * ds->time[l][i];
}

static double dot(const double *a, const double *b) {
  double v = 0;
  for (int l = 0; l < ECO_SPROUT_NLV; l++)
    v += a[l] * b[l];
  return v;
}

int eco_sprout_lp(const sim *s, const eco_level_stats *lv, double ci, double *x, bool *degraded,
                  eco_error *err) {
  *degraded = false;
  int rc = eco_directive_plan(lv, ECO_SPROUT_NLV, ci, &s->pc, x, err);
  if (rc != ECO_ERANGE) return rc;
  int best = 0; /* never abort: the level the judge prefers most */
  for (int l = 1; l < ECO_SPROUT_NLV; l++)
    if (lv[l].pref > lv[best].pref) best = l;
  for (int l = 0; l < ECO_SPROUT_NLV; l++)
    x[l] = l == best;
  *degraded = true;
  return 0;
}

/* --- policies following the artifact --------------------------------------- */
static int static_x(sim *s, double *x, eco_error *err) {
  /* one x from all prompts sampled over the window, the mean energy over
   * the window and the mean intensity of the whole year */
  double q[ECO_SPROUT_NLV] = {0}, qh[ECO_SPROUT_NLV];
  eco_level_stats lv[ECO_SPROUT_NLV] = {{0}}, lh[ECO_SPROUT_NLV];
  rng r2;
  eco_sprout_rng_seed(&r2, s->cfg->sample_seed ^ 0x5eed5eedULL);
  for (size_t h = 0; h < s->H; h++) {
    sample_quality(s, &r2, s->comp[h], s->cfg->n_sample, qh);
    eco_sprout_mix_stats(s, s->comp[h], NULL, lh);
    for (int l = 0; l < ECO_SPROUT_NLV; l++) {
      q[l] += qh[l] / (double)s->H;
      lv[l].energy_kwh += lh[l].energy_kwh / (double)s->H;
      lv[l].time_s += lh[l].time_s / (double)s->H;
    }
  }
  for (int l = 0; l < ECO_SPROUT_NLV; l++)
    lv[l].pref = q[l];
  return eco_directive_plan(lv, ECO_SPROUT_NLV, s->ci_year_mean, &s->pc, x, err);
}

static int run_mixture(sim *s, rng *r, eco_sprout_result *res, eco_error *err) {
  const eco_sprout_cfg *cfg = s->cfg;
  double xs[ECO_SPROUT_NLV] = {1, 0, 0}, qest[ECO_SPROUT_NLV] = {1, 0, 0};
  int rc = 0;
  if (cfg->policy == ECO_SPROUT_STATIC && (rc = static_x(s, xs, err))) return rc;
  eco_eval_sched sched;
  eco_eval_sched_init(&sched);
  double ci_mean = 0;
  for (size_t h = 0; h < s->H; h++)
    ci_mean += s->ci[h] / (double)s->H;
  double sum_g = 0, sum_b = 0, sum_q = 0, sum_pm = 0;
  for (size_t h = 0; h < s->H; h++) {
    eco_sprout_hour *o = &res->hour[h];
    double q[ECO_SPROUT_NLV], ci = s->ci[h];
    sample_quality(s, r, s->comp[h], cfg->n_sample, q);
    bool eval = h == 0 || (cfg->policy == ECO_SPROUT_LP &&
                           eco_eval_sched_step(&sched, (long)h, s->ci[h - 1], ci, ci_mean));
    if (cfg->policy != ECO_SPROUT_LP || eval) memcpy(qest, q, sizeof q);
    o->evaluated = cfg->policy == ECO_SPROUT_LP && eval;
    if (o->evaluated) res->n_evals++;
    eco_level_stats lv[ECO_SPROUT_NLV];
    eco_sprout_mix_stats(s, s->comp[h], qest, lv);
    double x[ECO_SPROUT_NLV] = {1, 0, 0};
    switch (cfg->policy) {
    case ECO_SPROUT_STATIC: memcpy(x, xs, sizeof x); break;
    case ECO_SPROUT_LP: {
      bool deg = false;
      if ((rc = eco_sprout_lp(s, lv, ci, x, &deg, err))) return rc;
      res->n_degraded_hours += deg;
      break;
    }
    case ECO_SPROUT_CO2OPT: {
      int best = 0;
      for (int l = 1; l < ECO_SPROUT_NLV; l++)
        if (eco_plan_cost_g(&s->pc, &lv[l], ci) < eco_plan_cost_g(&s->pc, &lv[best], ci)) best = l;
      x[0] = 0, x[best] = 1;
      break;
    }
    default: break;
    }
    double x0[ECO_SPROUT_NLV] = {1, 0, 0};
    o->ci = ci;
    memcpy(o->x, x, sizeof x);
    o->carbon_g = mix_carbon(s, s->comp[h], x, ci);
    o->base_g = mix_carbon(s, s->comp[h], x0, ci);
    o->quality = dot(q, x);
    o->pref_max = q[0];
    sum_g += o->carbon_g, sum_b += o->base_g, sum_q += o->quality, sum_pm += o->pref_max;
  }
  res->carbon_g = sum_g / (double)s->H;
  res->base_carbon_g = sum_b / (double)s->H;
  res->quality = sum_q / (double)s->H;
  res->pref_max = sum_pm / (double)s->H;
  return 0;
}

static int cmp_saving_desc(const void *a, const void *b) {
  double x = ((const double *)a)[0], y = ((const double *)b)[0];
  return (x < y) - (x > y);
}

/* The artifact's oracle: 10,000 prompts per hour (with repetition), LP on
 * their true rates, then the prompts with the largest saving between the
 * two active levels get the cheaper one. An upper bound: it reads the judge
 * labels of the very prompts it assigns. */
static int run_oracle(sim *s, rng *r, eco_sprout_result *res, eco_error *err) {
  const size_t N = 10000;
  req *rq = malloc(N * sizeof *rq);
  double *sv = malloc(2 * N * sizeof *sv);
  int rc = 0;
  if (!rq || !sv) {
    rc = eco_error_set(err, ECO_ENOMEM, "out of memory");
    goto fail;
  }
  double sum_g = 0, sum_b = 0, sum_q = 0, sum_pm = 0;
  for (size_t h = 0; h < s->H; h++) {
    double ci = s->ci[h];
    size_t cnt[ECO_SPROUT_NDS], n = 0;
    eco_sprout_draw_counts(r, s->comp[h], N, cnt);
    double q[ECO_SPROUT_NLV] = {0};
    eco_level_stats lv[ECO_SPROUT_NLV] = {{0}};
    for (int k = 0; k < ECO_SPROUT_NDS; k++) {
      const eco_sprout_dataset *ds = &s->d->ds[k];
      for (size_t j = 0; j < cnt[k]; j++, n++) {
        size_t li = eco_sprout_rng_below(r, ds->n_lab);
        rq[n] = (req){k, ds->lab_idx[li], li, ds->lab_level[li]};
        q[rq[n].label] += 1.0 / (double)N;
        for (int l = 0; l < ECO_SPROUT_NLV; l++) {
          lv[l].energy_kwh += ds->energy[l][rq[n].i] / (double)N;
          lv[l].time_s += ds->time[l][rq[n].i] / (double)N;
        }
      }
    }
    for (int l = 0; l < ECO_SPROUT_NLV; l++)
      lv[l].pref = q[l];
    double x[ECO_SPROUT_NLV];
    bool deg = false;
    if ((rc = eco_sprout_lp(s, lv, ci, x, &deg, err))) goto fail;
    res->n_degraded_hours += deg;
    int act[2] = {-1, -1}, na = 0;
    for (int l = 0; l < ECO_SPROUT_NLV && na < 2; l++)
      if (x[l] > 1e-12) act[na++] = l;
    if (na == 1) act[1] = act[0];
    double share_hi = x[act[1]];
    for (size_t j = 0; j < n; j++) {
      sv[2 * j] = eco_sprout_prompt_g(s, rq[j].k, rq[j].i, act[0], ci) -
                  eco_sprout_prompt_g(s, rq[j].k, rq[j].i, act[1], ci);
      sv[2 * j + 1] = (double)j;
    }
    qsort(sv, n, 2 * sizeof *sv, cmp_saving_desc);
    double g = 0, b = 0, actual_q = 0;
    for (size_t j = 0; j < n; j++) {
      const req *p = &rq[(size_t)sv[2 * j + 1]];
      int l = (double)j < share_hi * (double)n ? act[1] : act[0];
      g += eco_sprout_prompt_g(s, p->k, p->i, l, ci);
      b += eco_sprout_prompt_g(s, p->k, p->i, 0, ci);
      actual_q += p->label == l;
    }
    eco_sprout_hour *o = &res->hour[h];
    o->ci = ci;
    memcpy(o->x, x, sizeof x);
    o->carbon_g = g / (double)n;
    o->base_g = b / (double)n;
    o->quality = dot(q, x); /* as the artifact reports it */
    o->pref_max = q[0];
    (void)actual_q;
    sum_g += o->carbon_g, sum_b += o->base_g, sum_q += o->quality, sum_pm += o->pref_max;
  }
  res->carbon_g = sum_g / (double)s->H;
  res->base_carbon_g = sum_b / (double)s->H;
  res->quality = sum_q / (double)s->H;
  res->pref_max = sum_pm / (double)s->H;
fail:
  free(rq);
  free(sv);
  return rc;
}

int eco_sprout_run(const eco_sprout_data *d, const double *ci_year, size_t n_year,
                   const eco_sprout_cfg *cfg, eco_sprout_result *res, eco_error *err) {
  if (!d || !ci_year || !cfg || !res || cfg->hours == 0 || cfg->n_sample == 0 ||
      cfg->start_hour + cfg->hours > n_year || !(cfg->update_h >= 1) || !(cfg->life_years > 0))
    return eco_error_set(err, ECO_EINVAL,
                         "sim sprout: window %zu+%zu outside the %zu-hour trace (or bad options)",
                         cfg ? cfg->start_hour : 0, cfg ? cfg->hours : 0, n_year);
  memset(res, 0, sizeof *res);
  res->accuracy = -1;
  sim s = {0};
  s.d = d;
  s.cfg = cfg;
  s.H = cfg->hours;
  s.ci = ci_year + cfg->start_hour;
  s.n_after = n_year - cfg->start_hour;
  eco_plan_cfg_default(&s.pc);
  s.pc.xi = cfg->xi;
  eco_embodied dev = {
      .total_g = cfg->embodied_g, .lifetime_s = cfg->life_years * ECO_SECONDS_PER_YEAR, .share = 1};
  s.pc.embodied_g_per_s = eco_sci_embodied_rate(&dev);
  s.pc.ci_min = INFINITY, s.pc.ci_max = -INFINITY;
  for (size_t h = 0; h < n_year; h++) {
    s.pc.ci_min = fmin(s.pc.ci_min, ci_year[h]);
    s.pc.ci_max = fmax(s.pc.ci_max, ci_year[h]);
  }
  /* the artifact's static policy averages the first 8759 hours */
  size_t ny = n_year > 1 ? n_year - 1 : n_year;
  for (size_t h = 0; h < ny; h++)
    s.ci_year_mean += ci_year[h] / (double)ny;
  size_t maxlab = 0;
  for (int k = 0; k < ECO_SPROUT_NDS; k++) {
    const eco_sprout_dataset *ds = &d->ds[k];
    if (ds->n_lab > maxlab) maxlab = ds->n_lab;
    size_t ne = ds->n < N_E ? ds->n : N_E;
    for (int l = 0; l < ECO_SPROUT_NLV; l++) {
      double e = 0, t = 0;
      for (size_t i = 0; i < ne; i++)
        e += ds->energy[l][i], t += ds->time[l][i];
      s.mE[k][l] = ne ? e / (double)ne : 0;
      s.mT[k][l] = ne ? t / (double)ne : 0;
    }
  }
  int rc = 0;
  s.comp = malloc(s.H * sizeof *s.comp);
  s.scratch = malloc((maxlab ? maxlab : 1) * sizeof *s.scratch);
  res->hour = calloc(s.H, sizeof *res->hour);
  if (!s.comp || !s.scratch || !res->hour) {
    rc = eco_error_set(err, ECO_ENOMEM, "out of memory");
    goto fail;
  }
  res->n_hours = s.H;
  rng r;
  eco_sprout_rng_seed(&r, cfg->sample_seed);
  gen_mix(&s);
  switch (cfg->policy) {
  case ECO_SPROUT_ORACLE: rc = run_oracle(&s, &r, res, err); break;
  case ECO_SPROUT_OURS:
  case ECO_SPROUT_OURS_LIVE:
  case ECO_SPROUT_PROMPT_ORACLE: rc = eco_sprout_run_kfold(&s, res, err); break;
  default: rc = run_mixture(&s, &r, res, err); break;
  }
  for (size_t h = 0; !rc && h < s.H; h++)
    memcpy(res->hour[h].mix, s.comp[h], sizeof s.comp[h]);
  if (!rc && !res->n_folds)
    res->reduction_pct =
        res->base_carbon_g > 0 ? 100.0 * (1 - res->carbon_g / res->base_carbon_g) : 0;
fail:
  free(s.comp);
  free(s.scratch);
  if (rc) eco_sprout_result_free(res);
  return rc;
}

void eco_sprout_result_free(eco_sprout_result *r) {
  if (!r) return;
  free(r->hour);
  r->hour = NULL;
  r->n_hours = 0;
}
