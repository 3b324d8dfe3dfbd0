/* The directive model: classifier plus cross-fitted group statistics (see
 * dmodel.h). */
#include "directive/dmodel.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void eco_dmodel_fit_cfg_default(eco_dmodel_fit_cfg *c) {
  memset(c, 0, sizeof *c);
  eco_dclass_cfg_default(&c->cls);
  c->n_levels = 3;
  c->inner_folds = 5;
  c->alpha = 5.0;
  c->fold_seed = 1;
}

void eco_dmodel_free(eco_dmodel *m) {
  if (!m) return;
  eco_dclass_free(&m->cls);
  memset(m, 0, sizeof *m);
}

static int check_recs(const eco_dtrain_rec *r, size_t n, size_t n_classes, size_t n_levels,
                      eco_error *err) {
  for (size_t i = 0; i < n; i++) {
    if (r[i].label < -1 || r[i].label >= (int)n_classes)
      return eco_error_set(err, ECO_EINVAL, "training record %zu: label %d out of range", i,
                           r[i].label);
    if (r[i].preferred < -1 || r[i].preferred >= (int)n_levels)
      return eco_error_set(err, ECO_EINVAL, "training record %zu: level %d out of range", i,
                           r[i].preferred);
    if (!r[i].feat && r[i].len && !r[i].text)
      return eco_error_set(err, ECO_EINVAL, "training record %zu: no text", i);
    for (size_t l = 0; r[i].has_cost && l < n_levels; l++)
      if (!isfinite(r[i].energy_kwh[l]) || r[i].energy_kwh[l] < 0 || !isfinite(r[i].time_s[l]) ||
          r[i].time_s[l] < 0)
        return eco_error_set(err, ECO_EINVAL, "training record %zu: bad cost at level %zu", i, l);
  }
  return 0;
}

/* Features of every record (borrowed when given, computed otherwise):
 * feats[i] / nf[i]; owned[i] marks the ones to free. */
typedef struct featset {
  const eco_dclass_feat **f;
  size_t *n;
  eco_dclass_feat **owned;
  size_t count;
} featset;

static void featset_free(featset *fs) {
  for (size_t i = 0; fs->owned && i < fs->count; i++)
    free(fs->owned[i]);
  free(fs->owned);
  free((void *)fs->f);
  free(fs->n);
  memset(fs, 0, sizeof *fs);
}

static int featset_build(featset *fs, const eco_dtrain_rec *r, size_t n, unsigned bits,
                         eco_error *err) {
  memset(fs, 0, sizeof *fs);
  fs->count = n;
  fs->f = calloc(n ? n : 1, sizeof *fs->f);
  fs->n = calloc(n ? n : 1, sizeof *fs->n);
  fs->owned = calloc(n ? n : 1, sizeof *fs->owned);
  eco_dclass_feat *tmp = malloc(ECO_DCLASS_MAX_FEATS * sizeof *tmp);
  if (!fs->f || !fs->n || !fs->owned || !tmp) goto oom;
  for (size_t i = 0; i < n; i++) {
    if (r[i].feat) {
      fs->f[i] = r[i].feat;
      fs->n[i] = r[i].n_feat;
      continue;
    }
    size_t k = eco_dclass_features(r[i].text, r[i].len, bits, tmp, ECO_DCLASS_MAX_FEATS);
    fs->owned[i] = malloc((k ? k : 1) * sizeof *tmp);
    if (!fs->owned[i]) goto oom;
    memcpy(fs->owned[i], tmp, k * sizeof *tmp);
    fs->f[i] = fs->owned[i];
    fs->n[i] = k;
  }
  free(tmp);
  return 0;
oom:
  free(tmp);
  featset_free(fs);
  return eco_error_set(err, ECO_ENOMEM, "directive model: out of memory");
}

static uint64_t splitmix(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* Out-of-fold predictions of the labelled samples (K inner classifiers)
 * into pred[]; the confusion matrix into rep. */
static int cross_fit(const eco_dmodel_fit_cfg *cfg, const char *const *labels, size_t C,
                     const eco_dclass_sample *s, const size_t *rec_of, size_t ns, int *pred,
                     eco_dmodel_report *rep, eco_error *err) {
  size_t K = cfg->inner_folds;
  unsigned char *fold = malloc(ns ? ns : 1), *use = malloc(ns ? ns : 1);
  size_t *perm = malloc((ns ? ns : 1) * sizeof *perm);
  int rc = 0;
  if (!fold || !use || !perm) {
    rc = eco_error_set(err, ECO_ENOMEM, "directive model: out of memory");
    goto out;
  }
  uint64_t seed = cfg->fold_seed;
  for (size_t i = 0; i < ns; i++)
    perm[i] = i;
  for (size_t i = ns; i > 1; i--) {
    size_t j = (size_t)(splitmix(&seed) % i), t = perm[i - 1];
    perm[i - 1] = perm[j], perm[j] = t;
  }
  for (size_t i = 0; i < ns; i++)
    fold[perm[i]] = (unsigned char)(i % K);
  size_t ok = 0;
  for (size_t k = 0; k < K; k++) {
    size_t nu = 0;
    for (size_t i = 0; i < ns; i++)
      nu += (use[i] = fold[i] != k);
    if (nu == 0 || nu == ns) continue; /* too few samples for this fold */
    eco_dclass c;
    if ((rc = eco_dclass_train(&c, &cfg->cls, labels, C, s, ns, use, err))) goto out;
    for (size_t i = 0; i < ns; i++)
      if (!use[i]) {
        int p = eco_dclass_predict_feats(&c, s[i].feat, s[i].n_feat, NULL);
        pred[rec_of[i]] = p;
        rep->conf[s[i].cls][p]++;
        ok += p == s[i].cls;
      }
    eco_dclass_free(&c);
  }
  rep->accuracy = ns ? (double)ok / (double)ns : -1;
out:
  free(fold);
  free(use);
  free(perm);
  return rc;
}

static int groups_from(eco_assign_model *g, const eco_dtrain_rec *r, const int *cls, size_t n,
                       size_t C, size_t L, double alpha, eco_error *err) {
  eco_assign_sample *as = calloc(n ? n : 1, sizeof *as);
  if (!as) return eco_error_set(err, ECO_ENOMEM, "directive model: out of memory");
  for (size_t i = 0; i < n; i++) {
    as[i].f.task = cls[i];
    as[i].f.prompt_chars = r[i].len;
    as[i].no_cost = !r[i].has_cost;
    as[i].preferred = r[i].preferred;
    for (size_t l = 0; r[i].has_cost && l < L; l++) {
      as[i].energy_kwh[l] = r[i].energy_kwh[l];
      as[i].time_s[l] = r[i].time_s[l];
    }
  }
  int rc = eco_assign_train(g, as, n, C, L, alpha, err);
  free(as);
  return rc;
}

int eco_dmodel_fit(eco_dmodel *m, const eco_dmodel_fit_cfg *cfg, const char *const *labels,
                   size_t n_classes, const eco_dtrain_rec *r, size_t n, eco_dmodel_report *rep,
                   eco_error *err) {
  eco_dmodel_report local;
  if (!rep) rep = &local;
  memset(rep, 0, sizeof *rep);
  rep->accuracy = -1;
  if (!m || !cfg || !labels || !r || n == 0 || n_classes < 1 ||
      n_classes > ECO_DCLASS_MAX_CLASSES || cfg->n_levels < 1 ||
      cfg->n_levels > ECO_DIRECTIVE_MAX_LEVELS || cfg->inner_folds > 32 || !(cfg->alpha >= 0))
    return eco_error_set(err, ECO_EINVAL, "directive model: bad training arguments");
  memset(m, 0, sizeof *m);
  int rc = check_recs(r, n, n_classes, cfg->n_levels, err);
  if (rc) return rc;
  featset fs;
  if ((rc = featset_build(&fs, r, n, cfg->cls.hash_bits, err))) return rc;
  if (!fs.f || !fs.n) return eco_error_set(err, ECO_EINTERNAL, "directive model: no features");
  eco_dclass_sample *s = calloc(n, sizeof *s);
  size_t *rec_of = calloc(n, sizeof *rec_of);
  int *cls = calloc(n, sizeof *cls);
  size_t ns = 0;
  if (!s || !rec_of || !cls) {
    rc = eco_error_set(err, ECO_ENOMEM, "directive model: out of memory");
    goto fail;
  }
  for (size_t i = 0; i < n; i++) {
    rep->n_verdicts += r[i].preferred >= 0;
    rep->n_costs += r[i].has_cost;
    if (r[i].label < 0) continue;
    s[ns] = (eco_dclass_sample){fs.f[i], fs.n[i], r[i].label, 1.0};
    rec_of[ns++] = i;
  }
  rep->n_labelled = ns;
  if (ns == 0) {
    rc =
        eco_error_set(err, ECO_EINVAL, "directive model: no labelled prompt to learn classes from");
    goto fail;
  }
  if ((rc = eco_dclass_train(&m->cls, &cfg->cls, labels, n_classes, s, ns, NULL, err))) goto fail;
  for (size_t i = 0; i < n; i++) /* unlabelled, or no cross-fitting: the main model */
    cls[i] = eco_dclass_predict_feats(&m->cls, fs.f[i], fs.n[i], NULL);
  if (cfg->inner_folds >= 2 &&
      (rc = cross_fit(cfg, labels, n_classes, s, rec_of, ns, cls, rep, err)))
    goto fail;
  if ((rc = groups_from(&m->groups, r, cls, n, n_classes, cfg->n_levels, cfg->alpha, err)))
    goto fail;
  m->has_costs = rep->n_costs > 0;
  snprintf(m->cost_source, sizeof m->cost_source, "%s",
           m->has_costs && cfg->cost_source ? cfg->cost_source : "");
  m->accuracy = rep->accuracy;
  m->n_train = n;
fail:
  if (rc) eco_dmodel_free(m);
  free(s);
  free(rec_of);
  free(cls);
  featset_free(&fs);
  return rc;
}

int eco_dmodel_refit_groups(eco_dmodel *m, const eco_dtrain_rec *r, size_t n, double alpha,
                            eco_error *err) {
  if (!m || !m->cls.w || !r || n == 0 || !(alpha >= 0))
    return eco_error_set(err, ECO_EINVAL, "directive model: bad refit arguments");
  size_t C = m->cls.n_classes, L = m->groups.n_levels;
  int rc = check_recs(r, n, C, L, err);
  if (rc) return rc;
  int *cls = calloc(n, sizeof *cls);
  eco_assign_model *g = malloc(sizeof *g);
  if (!cls || !g) {
    rc = eco_error_set(err, ECO_ENOMEM, "directive model: out of memory");
    goto out;
  }
  bool costs = false;
  for (size_t i = 0; i < n; i++) {
    cls[i] = r[i].feat ? eco_dclass_predict_feats(&m->cls, r[i].feat, r[i].n_feat, NULL)
                       : eco_dclass_predict(&m->cls, r[i].text, r[i].len, NULL);
    costs |= r[i].has_cost;
  }
  if ((rc = groups_from(g, r, cls, n, C, L, alpha, err))) goto out;
  if (!costs) /* keep the model's cost figures, group by group */
    for (size_t t = 0; t < C; t++) {
      for (size_t l = 0; l < L; l++) {
        g->task_lv[t][l].energy_kwh = m->groups.task_lv[t][l].energy_kwh;
        g->task_lv[t][l].time_s = m->groups.task_lv[t][l].time_s;
      }
      for (int b = 0; b < ECO_ASSIGN_BUCKETS; b++)
        for (size_t l = 0; l < L; l++) {
          g->g[t][b].lv[l].energy_kwh = m->groups.g[t][b].lv[l].energy_kwh;
          g->g[t][b].lv[l].time_s = m->groups.g[t][b].lv[l].time_s;
        }
    }
  else
    m->has_costs = true;
  m->groups = *g;
  m->n_train = n;
out:
  free(cls);
  free(g);
  return rc;
}

void eco_dmodel_predict(const eco_dmodel *m, const char *text, size_t len, eco_dmodel_pred *out) {
  memset(out, 0, sizeof *out);
  if (!m || !m->cls.w) {
    out->f.task = -1;
    return;
  }
  double p[ECO_DCLASS_MAX_CLASSES];
  out->cls = eco_dclass_predict(&m->cls, text, len, p);
  out->p = p[out->cls];
  out->f.task = out->cls;
  out->f.prompt_chars = len;
  out->bucket = eco_assign_bucket(&m->groups, &out->f);
}

void eco_dmodel_group_name(const eco_dmodel *m, int cls, int bucket, char *buf, size_t cap) {
  if (!buf || !cap) return;
  if (!m || cls < 0 || (size_t)cls >= m->cls.n_classes)
    snprintf(buf, cap, "unknown");
  else
    snprintf(buf, cap, "%s/%d", m->cls.label[cls], bucket);
}
