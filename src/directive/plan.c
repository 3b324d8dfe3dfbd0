#include "directive/plan.h"

#include <glpk.h>
#include <math.h>

void eco_plan_cfg_default(eco_plan_cfg *cfg) {
  cfg->xi = 0.1;
  cfg->ci_min = 0.0;
  cfg->ci_max = 0.0;
  cfg->embodied_g_per_s = 26356.568 / (5.0 * 365.0 * 24.0 * 3600.0);
}

double eco_plan_floor_factor(const eco_plan_cfg *cfg, double ci) {
  double span = cfg->ci_max - cfg->ci_min;
  double f = span > 0 ? (ci - cfg->ci_min) / span : 0.0;
  if (f < 0) f = 0;
  if (f > 1) f = 1;
  return 1.0 - cfg->xi * f;
}

double eco_plan_cost_g(const eco_plan_cfg *cfg, const eco_level_stats *s, double ci) {
  return s->energy_kwh * ci + cfg->embodied_g_per_s * s->time_s;
}

int eco_directive_plan(const eco_level_stats *levels, size_t n, double ci, const eco_plan_cfg *cfg,
                       double *x_out, eco_error *err) {
  if (!levels || !cfg || !x_out || n < 1 || n > ECO_DIRECTIVE_MAX_LEVELS)
    return eco_error_set(err, ECO_EINVAL, "directive plan: need 1..%d levels",
                         ECO_DIRECTIVE_MAX_LEVELS);
  if (!isfinite(ci) || ci < 0 || !isfinite(cfg->xi) || cfg->xi < 0 || cfg->xi > 1 ||
      !(cfg->ci_max > cfg->ci_min) || !isfinite(cfg->embodied_g_per_s) || cfg->embodied_g_per_s < 0)
    return eco_error_set(err, ECO_EINVAL, "directive plan: bad ci %g, xi %g or range [%g, %g]", ci,
                         cfg->xi, cfg->ci_min, cfg->ci_max);
  for (size_t i = 0; i < n; i++) {
    const eco_level_stats *s = &levels[i];
    if (!isfinite(s->energy_kwh) || !isfinite(s->time_s) || !isfinite(s->pref) ||
        s->energy_kwh < 0 || s->time_s < 0 || s->pref < 0 || s->pref > 1)
      return eco_error_set(err, ECO_EINVAL, "directive plan: bad stats for level %zu", i);
  }
  double floor = eco_plan_floor_factor(cfg, ci) * levels[0].pref;
  int rc = 0;
  glp_prob *lp = glp_create_prob();
  glp_set_obj_dir(lp, GLP_MIN);
  glp_add_rows(lp, 2);
  glp_set_row_bnds(lp, 1, GLP_LO, floor, 0.0); /* quality */
  glp_set_row_bnds(lp, 2, GLP_FX, 1.0, 1.0);   /* probabilities */
  glp_add_cols(lp, (int)n);
  int ia[1 + 2 * ECO_DIRECTIVE_MAX_LEVELS], ja[1 + 2 * ECO_DIRECTIVE_MAX_LEVELS];
  double ar[1 + 2 * ECO_DIRECTIVE_MAX_LEVELS];
  int k = 0;
  for (size_t i = 0; i < n; i++) {
    int c = (int)i + 1;
    glp_set_col_bnds(lp, c, GLP_DB, 0.0, 1.0);
    glp_set_obj_coef(lp, c, eco_plan_cost_g(cfg, &levels[i], ci));
    ++k, ia[k] = 1, ja[k] = c, ar[k] = levels[i].pref;
    ++k, ia[k] = 2, ja[k] = c, ar[k] = 1.0;
  }
  glp_load_matrix(lp, k, ia, ja, ar);
  glp_smcp parm;
  glp_init_smcp(&parm);
  parm.msg_lev = GLP_MSG_OFF;
  parm.presolve = GLP_ON; /* reports infeasibility instead of failing */
  int grc = glp_simplex(lp, &parm);
  int st = glp_get_status(lp);
  if (grc == GLP_ENOPFS || grc == GLP_ENODFS || st == GLP_NOFEAS || st == GLP_INFEAS) {
    rc = eco_error_set(err, ECO_ERANGE, "directive plan: quality floor %.4f unreachable", floor);
    goto fail;
  }
  if (grc != 0 || st != GLP_OPT) {
    rc = eco_error_set(err, ECO_EINTERNAL, "directive plan: GLPK simplex failed (%d, %d)", grc, st);
    goto fail;
  }
  double sum = 0;
  for (size_t i = 0; i < n; i++) {
    double v = glp_get_col_prim(lp, (int)i + 1);
    if (v < 0) v = 0;
    if (v > 1) v = 1;
    x_out[i] = v;
    sum += v;
  }
  if (sum > 0)
    for (size_t i = 0; i < n; i++)
      x_out[i] /= sum;
fail:
  glp_delete_prob(lp);
  return rc;
}

bool eco_directive_replan_due(const eco_replan_cfg *cfg, bool never_planned, double last_t_s,
                              double last_ci, double now_s, double ci) {
  if (never_planned) return true;
  double period = cfg && cfg->period_s > 0 ? cfg->period_s : 3600.0;
  if (now_s - last_t_s >= period) return true;
  if (cfg && cfg->threshold > 0) {
    double base = fabs(last_ci) > 1e-9 ? fabs(last_ci) : 1e-9;
    if (fabs(ci - last_ci) / base > cfg->threshold) return true;
  }
  return false;
}

void eco_eval_sched_init(eco_eval_sched *s) {
  s->grace_h = 6;
  s->max_idle_h = 72;
  s->decay = 0.029;
  s->last_run_h = 0;
  s->grad_prev = 0;
  s->grad_cur = 0;
}

bool eco_eval_sched_step(eco_eval_sched *s, long h, double ci_prev, double ci_now, double ci_mean) {
  if (h <= 0) return false;
  /* intensity weighted up by its distance from the last run: the longer
   * since the last run, the more a dip counts. */
  double w_prev = exp(s->decay * (double)(h - 1 - s->last_run_h));
  double w_now = exp(s->decay * (double)(h - s->last_run_h));
  s->grad_prev = s->grad_cur;
  s->grad_cur = ci_now * w_now - ci_prev * w_prev;
  long idle = h - s->last_run_h;
  if ((double)idle >= s->max_idle_h) {
    s->last_run_h = h;
    return true;
  }
  if ((double)idle <= s->grace_h) return false;
  if (ci_now > ci_mean) return false;
  if (s->grad_prev <= 0 && s->grad_cur >= 0) {
    s->last_run_h = h;
    return true;
  }
  return false;
}
