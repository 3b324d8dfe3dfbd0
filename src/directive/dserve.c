/* The live per-request directive decision (see dserve.h). */
#include "directive/dserve.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void eco_dserve_cfg_default(eco_dserve_cfg *c) {
  memset(c, 0, sizeof *c);
  eco_dlive_cfg_default(&c->live);
  eco_plan_cfg_default(&c->plan);
  c->plan.ci_min = 100;
  c->plan.ci_max = 600;
  eco_dlearn_cfg_default(&c->learn);
}

int eco_dserve_init(eco_dserve *s, const eco_dserve_cfg *c, const eco_dmodel *dm, eco_error *err) {
  if (!s || !c || !dm || !dm->cls.w || dm->groups.n_levels != c->learn.n_levels ||
      dm->groups.n_tasks != dm->cls.n_classes)
    return eco_error_set(err, ECO_EINVAL,
                         "directive: the model file's levels do not match the configured ones");
  if (!(c->plan.ci_max > c->plan.ci_min))
    return eco_error_set(err, ECO_EINVAL, "directive: ci_max must be above ci_min");
  memset(s, 0, sizeof *s);
  s->cfg = *c;
  s->dm = dm;
  eco_dlive probe;
  if (eco_dlearn_init(&s->learn, &c->learn) || eco_dlive_init(&probe, &c->live, dm->groups.n_tasks))
    return eco_error_set(err, ECO_EINVAL, "directive: bad planner or learning settings");
  s->slot = calloc(ECO_DLEARN_MAX_MODELS, sizeof *s->slot);
  if (!s->slot) return eco_error_set(err, ECO_ENOMEM, "directive: out of memory");
  return 0;
}

void eco_dserve_free(eco_dserve *s) {
  if (!s) return;
  free(s->slot);
  s->slot = NULL;
}

static void retire(eco_dserve *s, eco_dserve_slot *sl) {
  s->retired.hours += sl->live.st.hours;
  s->retired.hours_degraded += sl->live.st.hours_degraded;
  s->retired.periods += sl->live.st.periods;
  s->retired.periods_degraded += sl->live.st.periods_degraded;
}

/* The planner of model's dlearn slot (reset when the slot changed hands). */
static eco_dserve_slot *slot_for(eco_dserve *s, const char *model, int *idx) {
  int i = eco_dlearn_find(&s->learn, model, true);
  eco_dserve_slot *sl = &s->slot[i];
  if (!sl->used || strcmp(sl->name, s->learn.m[i].name) != 0) {
    if (sl->used) retire(s, sl);
    memset(sl, 0, sizeof *sl);
    sl->used = true;
    memcpy(sl->name, s->learn.m[i].name, sizeof sl->name);
    (void)eco_dlive_init(&sl->live, &s->cfg.live, s->dm->groups.n_tasks); /* checked at init */
  }
  *idx = i;
  return sl;
}

/* The model file's groups with the model's learned costs: each level's
 * figures scaled by learned / prior (the file's figures keep the shape
 * across groups); a file without costs takes the learned figures as is. */
static void rebuild_costs(eco_dserve *s, eco_dserve_slot *sl, int slot) {
  const eco_assign_model *g = &s->dm->groups;
  sl->costs = *g;
  size_t nl = g->n_levels;
  double e[ECO_DIRECTIVE_MAX_LEVELS], t[ECO_DIRECTIVE_MAX_LEVELS];
  double re[ECO_DIRECTIVE_MAX_LEVELS], rt[ECO_DIRECTIVE_MAX_LEVELS];
  for (size_t l = 0; l < nl; l++) {
    e[l] = eco_dlearn_estimate(&s->learn, slot, (int)l, ECO_DLEARN_ENERGY) / 3.6e6; /* kWh */
    t[l] = eco_dlearn_estimate(&s->learn, slot, (int)l, ECO_DLEARN_TIME);
    re[l] = e[l] / (s->cfg.learn.pri.v[ECO_DLEARN_ENERGY][l] / 3.6e6);
    rt[l] = t[l] / s->cfg.learn.pri.v[ECO_DLEARN_TIME][l];
  }
  for (size_t k = 0; k < g->n_tasks; k++) {
    for (size_t l = 0; l < nl; l++) {
      eco_level_stats *tl = &sl->costs.task_lv[k][l];
      tl->energy_kwh = s->dm->has_costs ? tl->energy_kwh * re[l] : e[l];
      tl->time_s = s->dm->has_costs ? tl->time_s * rt[l] : t[l];
      for (int b = 0; b < ECO_ASSIGN_BUCKETS; b++) {
        eco_level_stats *gl = &sl->costs.g[k][b].lv[l];
        gl->energy_kwh = s->dm->has_costs ? gl->energy_kwh * re[l] : e[l];
        gl->time_s = s->dm->has_costs ? gl->time_s * rt[l] : t[l];
      }
    }
  }
}

static bool same_classes(const eco_dmodel *a, const eco_dmodel *b) {
  if (a->cls.n_classes != b->cls.n_classes) return false;
  for (size_t k = 0; k < a->cls.n_classes; k++)
    if (strcmp(a->cls.label[k], b->cls.label[k]) != 0) return false;
  return true;
}

int eco_dserve_set_model(eco_dserve *s, const eco_dmodel *dm, eco_error *err) {
  if (!s || !s->slot || !dm || !dm->cls.w || dm->groups.n_levels != s->cfg.learn.n_levels ||
      dm->groups.n_tasks != dm->cls.n_classes)
    return eco_error_set(err, ECO_EINVAL,
                         "directive: the model file's levels do not match the configured ones");
  bool keep = same_classes(s->dm, dm);
  s->dm = dm;
  if (keep) return 0;
  for (size_t i = 0; i < ECO_DLEARN_MAX_MODELS; i++) {
    eco_dserve_slot *sl = &s->slot[i];
    if (!sl->used) continue;
    retire(s, sl);
    memset(&sl->live, 0, sizeof sl->live);
    (void)eco_dlive_init(&sl->live, &s->cfg.live, dm->groups.n_tasks);
  }
  return 0;
}

static int begin_hour(eco_dserve *s, eco_dserve_slot *sl, int slot, long hour,
                      eco_dserve_forecast_fn fc, void *fc_user, eco_error *err) {
  double v[ECO_DSERVE_FC_MAX];
  size_t n = fc ? fc(fc_user, hour, v, ECO_DSERVE_FC_MAX) : 0;
  if (n > ECO_DSERVE_FC_MAX) n = ECO_DSERVE_FC_MAX;
  if (n == 0) {
    s->no_forecast++;
    return 0; /* the previous plan (level 0 before any) until an intensity is known */
  }
  rebuild_costs(s, sl, slot);
  int rc = eco_dlive_begin_hour(&sl->live, &sl->costs, &s->cfg.plan, hour, v, n, err);
  if (rc) {
    s->plan_errors++;
    sl->live.started = false; /* level 0 until a plan succeeds */
  }
  return rc;
}

int eco_dserve_decide(eco_dserve *s, const char *model, long hour, eco_dserve_forecast_fn fc,
                      void *fc_user, const char *text, size_t len, double u,
                      eco_dserve_decision *out, eco_error *err) {
  memset(out, 0, sizeof *out);
  out->cls = -1;
  out->level_p = 1;
  snprintf(out->group, sizeof out->group, "unknown");
  if (!s || !s->slot) return eco_error_set(err, ECO_EINVAL, "directive: no state");
  int i;
  eco_dserve_slot *sl = slot_for(s, model, &i);
  out->slot = i;
  s->decisions++;
  eco_dmodel_pred p;
  eco_dmodel_predict(s->dm, text ? text : "", text ? len : 0, &p);
  out->cls = p.cls;
  out->cls_p = p.p;
  out->bucket = p.bucket;
  out->f = p.f;
  eco_dmodel_group_name(s->dm, p.cls, p.bucket, out->group, sizeof out->group);
  int rc = 0;
  if (!sl->live.started || hour > sl->live.hour) rc = begin_hour(s, sl, i, hour, fc, fc_user, err);
  if (rc || !sl->live.started) return rc;
  out->level = eco_dlive_level(&sl->live, &sl->costs, &p.f, u, &out->level_p);
  out->degraded = sl->live.plan.degraded;
  return 0;
}

void eco_dserve_applied(eco_dserve *s, const eco_dserve_decision *d, int level) {
  if (!s || !s->slot || !d || d->slot < 0 || d->slot >= ECO_DLEARN_MAX_MODELS) return;
  eco_dserve_slot *sl = &s->slot[d->slot];
  if (!sl->used || !sl->live.started) return;
  eco_dlive_observe(&sl->live, &sl->costs, &d->f, level);
}

void eco_dserve_learn(eco_dserve *s, const char *model, int level, double energy_j,
                      double out_tokens, double time_s) {
  if (!s) return;
  (void)eco_dlearn_observe(&s->learn, model, level, energy_j, out_tokens, time_s);
}

void eco_dserve_totals(const eco_dserve *s, eco_dlive_stats *out) {
  *out = s->retired;
  for (size_t i = 0; s->slot && i < ECO_DLEARN_MAX_MODELS; i++) {
    if (!s->slot[i].used) continue;
    out->hours += s->slot[i].live.st.hours;
    out->hours_degraded += s->slot[i].live.st.hours_degraded;
    out->periods += s->slot[i].live.st.periods;
    out->periods_degraded += s->slot[i].live.st.periods_degraded;
  }
}

double eco_dserve_energy_ratio(const eco_dserve *s, const eco_dserve_decision *d, int level) {
  if (!s || !d || !s->dm || level < 0 || (size_t)level >= s->dm->groups.n_levels || d->slot < 0 ||
      d->slot >= ECO_DLEARN_MAX_MODELS)
    return -1;
  double e0, el;
  const eco_dserve_slot *sl = &s->slot[d->slot];
  if (sl->used && d->cls >= 0 && (size_t)d->cls < sl->costs.n_tasks && d->bucket >= 0 &&
      d->bucket < ECO_ASSIGN_BUCKETS) {
    e0 = sl->costs.g[d->cls][d->bucket].lv[0].energy_kwh;
    el = sl->costs.g[d->cls][d->bucket].lv[level].energy_kwh;
  } else {
    e0 = eco_dlearn_estimate(&s->learn, d->slot, 0, ECO_DLEARN_ENERGY);
    el = eco_dlearn_estimate(&s->learn, d->slot, level, ECO_DLEARN_ENERGY);
  }
  return isfinite(e0) && isfinite(el) && e0 > 0 && el > 0 ? e0 / el : -1;
}
