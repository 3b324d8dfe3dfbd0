/* The period planner of live traffic (see live.h). */
#include "directive/live.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void eco_dlive_cfg_default(eco_dlive_cfg *c) {
  c->period_h = 24;
  c->margin = 0.005;
  c->mix_half_life_h = 1.0;
  c->prior_weight = 1.0;
}

int eco_dlive_init(eco_dlive *s, const eco_dlive_cfg *c, size_t n_tasks) {
  if (!s || !c || n_tasks < 1 || n_tasks > ECO_ASSIGN_MAX_TASKS || c->period_h < 1 ||
      c->period_h > 168 || !isfinite(c->margin) || fabs(c->margin) > 1 ||
      !(c->mix_half_life_h >= 0) || !isfinite(c->mix_half_life_h) || !(c->prior_weight > 0) ||
      !isfinite(c->prior_weight))
    return ECO_EINVAL;
  memset(s, 0, sizeof *s);
  s->cfg = *c;
  s->n_tasks = n_tasks;
  for (size_t t = 0; t < n_tasks; t++)
    s->mix[t] = 1.0 / (double)n_tasks;
  return 0;
}

static long period_of(const eco_dlive *s, long hour) {
  long p = (long)s->cfg.period_h;
  return hour >= 0 ? hour / p : -((-hour + p - 1) / p);
}

/* closes the current hour: credit, mix history */
static void close_hour(eco_dlive *s, long next) {
  if (s->n_cur > 0)
    s->credit += s->pref_sum / s->n_cur - (s->factor * s->q0_sum / s->n_cur + s->cfg.margin);
  double d = s->cfg.mix_half_life_h > 0 ? exp2(-1.0 / s->cfg.mix_half_life_h) : 0.0;
  long gap = next - s->hour; /* >= 1 */
  double dg = pow(d, (double)gap), dc = gap > 1 ? pow(d, (double)(gap - 1)) : 1.0;
  for (size_t t = 0; t < s->n_tasks; t++) {
    s->hist[t] = s->hist[t] * dg + s->cur[t] * dc;
    s->cur[t] = 0;
  }
  s->pref_sum = s->q0_sum = s->n_cur = 0;
}

int eco_dlive_begin_hour(eco_dlive *s, const eco_assign_model *m, const eco_plan_cfg *pc, long hour,
                         const double *ci_fc, size_t n_fc, eco_error *err) {
  if (!s || !m || !pc || !ci_fc || n_fc < 1 || m->n_tasks != s->n_tasks ||
      (s->started && hour <= s->hour))
    return eco_error_set(err, ECO_EINVAL, "directive live plan: bad hour or arguments");
  for (size_t j = 0; j < n_fc; j++)
    if (!isfinite(ci_fc[j]) || ci_fc[j] < 0)
      return eco_error_set(err, ECO_EINVAL, "directive live plan: bad forecast at hour %zu", j);
  bool new_period = !s->started || period_of(s, hour) != period_of(s, s->hour);
  if (s->started) close_hour(s, hour);
  if (new_period) {
    s->credit = 0;
    s->period_degraded = false;
    s->st.periods++;
  }
  s->started = true;
  s->hour = hour;
  /* the mix: decayed counts of predicted groups plus a uniform prior */
  double tot = 0;
  for (size_t t = 0; t < s->n_tasks; t++)
    tot += s->hist[t];
  for (size_t t = 0; t < s->n_tasks; t++)
    s->mix[t] =
        (s->hist[t] + s->cfg.prior_weight / (double)s->n_tasks) / (tot + s->cfg.prior_weight);
  long P = (long)s->cfg.period_h, pos = hour - period_of(s, hour) * P;
  size_t left = (size_t)(P - pos);
  double *fc = malloc(left * sizeof *fc);
  eco_assign_plan *plans = malloc(left * sizeof *plans);
  int rc = 0;
  if (!fc || !plans) {
    rc = eco_error_set(err, ECO_ENOMEM, "directive live plan: out of memory");
    goto out;
  }
  for (size_t j = 0; j < left; j++)
    fc[j] = ci_fc[j < n_fc ? j : n_fc - 1];
  rc = eco_assign_solve_period(m, s->mix, fc, left, pc, s->cfg.margin, s->credit / (double)left,
                               plans, err);
  if (rc) goto out;
  s->plan = plans[0];
  s->factor = eco_plan_floor_factor(pc, fc[0]);
  s->st.hours++;
  if (s->plan.degraded) {
    s->st.hours_degraded++;
    if (!s->period_degraded) s->st.periods_degraded++;
    s->period_degraded = true;
  }
out:
  free(fc);
  free(plans);
  return rc;
}

int eco_dlive_level(const eco_dlive *s, const eco_assign_model *m, const eco_request_features *f,
                    double u, double *p_level) {
  if (p_level) *p_level = 1.0;
  if (!s || !m || !f || !s->started || f->task < 0 || (size_t)f->task >= s->n_tasks) return 0;
  int l = eco_assign_level(m, &s->plan, f, u);
  if (p_level) *p_level = s->plan.y[f->task][eco_assign_bucket(m, f)][l];
  return l;
}

void eco_dlive_observe(eco_dlive *s, const eco_assign_model *m, const eco_request_features *f,
                       int level) {
  if (!s || !m || !f || !s->started || f->task < 0 || (size_t)f->task >= s->n_tasks || level < 0 ||
      (size_t)level >= m->n_levels)
    return;
  const eco_assign_group *g = &m->g[f->task][eco_assign_bucket(m, f)];
  s->cur[f->task] += 1;
  s->pref_sum += g->lv[level].pref;
  s->q0_sum += g->lv[0].pref;
  s->n_cur += 1;
}
