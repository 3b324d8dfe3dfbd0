/* Per-model, per-level cost figures learned from receipts (see dlearn.h). */
#include "directive/dlearn.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Sprout artifact, Llama-2-13B-chat on an A100: energy (J) and time (s) are
 * the means over all requests of the six datasets in request_carbon/ (as
 * router/directive_hook.c's kWh figures), output tokens the mean answer
 * length in characters of responses/ divided by 4 (an estimate). */
static const double sprout_prior[ECO_DLEARN_NFIG][3] = {
    {1208.77, 280.02, 186.82}, /* J */
    {193.4, 38.8, 23.9},       /* tokens */
    {4.8613, 1.1277, 0.7527},  /* s */
};

void eco_dlearn_cfg_default(eco_dlearn_cfg *c) {
  memset(c, 0, sizeof *c);
  c->n_levels = 3;
  c->alpha = 0.05;
  c->prior_weight = 5;
  c->scale_alpha = 0.1;
  for (int f = 0; f < ECO_DLEARN_NFIG; f++)
    for (int l = 0; l < 3; l++)
      c->pri.v[f][l] = sprout_prior[f][l];
  snprintf(c->pri.source, sizeof c->pri.source, "%s", ECO_DLEARN_PRIOR_SOURCE);
}

int eco_dlearn_init(eco_dlearn *d, const eco_dlearn_cfg *c) {
  if (!d || !c || c->n_levels < 1 || c->n_levels > ECO_DIRECTIVE_MAX_LEVELS ||
      !(c->alpha > 0 && c->alpha <= 1) || !(c->scale_alpha > 0 && c->scale_alpha <= 1) ||
      !(c->prior_weight >= 0) || !isfinite(c->prior_weight))
    return ECO_EINVAL;
  for (int f = 0; f < ECO_DLEARN_NFIG; f++)
    for (size_t l = 0; l < c->n_levels; l++)
      if (!(c->pri.v[f][l] > 0) || !isfinite(c->pri.v[f][l])) return ECO_EINVAL;
  memset(d, 0, sizeof *d);
  d->cfg = *c;
  return 0;
}

int eco_dlearn_find(eco_dlearn *d, const char *model, bool create) {
  if (!d) return -1;
  char name[ECO_DLEARN_NAME_MAX];
  snprintf(name, sizeof name, "%s", model ? model : "");
  for (size_t i = 0; i < d->n; i++)
    if (strcmp(d->m[i].name, name) == 0) {
      d->m[i].last_use = ++d->tick;
      return (int)i;
    }
  if (!create) return -1;
  size_t s = d->n;
  if (d->n == ECO_DLEARN_MAX_MODELS) {
    s = 0;
    for (size_t i = 1; i < d->n; i++)
      if (d->m[i].last_use < d->m[s].last_use) s = i;
    d->evicted++;
  } else {
    d->n++;
  }
  memset(&d->m[s], 0, sizeof d->m[s]);
  memcpy(d->m[s].name, name, sizeof name);
  d->m[s].last_use = ++d->tick;
  return (int)s;
}

static void fig_update(eco_dlearn_fig *f, double x, double alpha) {
  f->n += 1;
  double a = 1.0 / f->n;
  if (a < alpha) a = alpha;
  f->mean += a * (x - f->mean);
}

int eco_dlearn_observe(eco_dlearn *d, const char *model, int level, double energy_j,
                       double out_tokens, double time_s) {
  if (!d || level < 0 || (size_t)level >= d->cfg.n_levels) return -1;
  int s = eco_dlearn_find(d, model, true);
  eco_dlearn_model *m = &d->m[s];
  const double x[ECO_DLEARN_NFIG] = {energy_j, out_tokens, time_s};
  for (int f = 0; f < ECO_DLEARN_NFIG; f++) {
    if (!(x[f] >= 0) || !isfinite(x[f])) continue;
    fig_update(&m->lv[level][f], x[f], d->cfg.alpha);
    /* the scale: log of observed over prior (a zero reads as a tiny value) */
    double r = log((x[f] > 1e-9 ? x[f] : 1e-9) / d->cfg.pri.v[f][level]);
    fig_update(&m->scale[f], r, d->cfg.scale_alpha);
    m->dirty = true;
  }
  return s;
}

double eco_dlearn_estimate(const eco_dlearn *d, int slot, int level, int fig) {
  if (!d || level < 0 || (size_t)level >= d->cfg.n_levels || fig < 0 || fig >= ECO_DLEARN_NFIG)
    return 0;
  double prior = d->cfg.pri.v[fig][level];
  if (slot < 0 || (size_t)slot >= d->n) return prior;
  const eco_dlearn_model *m = &d->m[slot];
  if (m->scale[fig].n > 0) prior *= exp(m->scale[fig].mean);
  const eco_dlearn_fig *f = &m->lv[level][fig];
  double k = f->n, kmax = 1.0 / d->cfg.alpha, w = d->cfg.prior_weight;
  if (k > kmax) k = kmax;
  if (k + w <= 0) return f->n > 0 ? f->mean : prior;
  return (k * f->mean + w * prior) / (k + w);
}

int eco_dlearn_set(eco_dlearn *d, const char *model, int level, int fig, double n, double mean) {
  if (!d || level < -1 || level >= (int)d->cfg.n_levels || fig < 0 || fig >= ECO_DLEARN_NFIG ||
      !(n >= 0) || !isfinite(n) || !isfinite(mean))
    return ECO_EINVAL;
  if (level >= 0 && mean < 0) return ECO_EINVAL;
  int s = eco_dlearn_find(d, model, true);
  eco_dlearn_fig *f = level < 0 ? &d->m[s].scale[fig] : &d->m[s].lv[level][fig];
  f->n = n;
  f->mean = mean;
  return 0;
}

void eco_dlearn_level_stats(const eco_dlearn *d, int slot, eco_level_stats *lv) {
  for (size_t l = 0; l < d->cfg.n_levels; l++) {
    lv[l].energy_kwh = eco_dlearn_estimate(d, slot, (int)l, ECO_DLEARN_ENERGY) / 3.6e6;
    lv[l].time_s = eco_dlearn_estimate(d, slot, (int)l, ECO_DLEARN_TIME);
  }
}
