/* ecoinfer directives: the Sprout optimizer and its pure scheduling rules.
 *
 * Sprout (arXiv 2403.12900) picks, every period, the probability x_L of each
 * directive level L (0 = none, 1 = "briefly", 2 = "very briefly") by solving
 *
 *   minimise   sum_L x_L * (E_L * CI + e * T_L)
 *   subject to sum_L x_L * q_L >= (1 - xi * (CI - CI_min) / (CI_max - CI_min)) * q_0
 *              sum_L x_L = 1,  0 <= x_L <= 1
 *
 * with E_L the mean energy per request (kWh), T_L the mean time (s), e the
 * embodied carbon per second (g/s), q_L the judge's preference rate of level
 * L. Solved with GLPK's simplex. Everything here is pure: no clock, no I/O. */
#ifndef ECO_DIRECTIVE_PLAN_H
#define ECO_DIRECTIVE_PLAN_H

#include "util/status.h"

#include <stdbool.h>
#include <stddef.h>

#define ECO_DIRECTIVE_MAX_LEVELS 8

/* What the optimizer knows about one level over the current request mix. */
typedef struct eco_level_stats {
  double energy_kwh; /* mean energy per request at this level, kWh */
  double time_s;     /* mean service time per request, s (embodied share) */
  double pref;       /* preference rate q_L, 0..1 (shares sum to <= 1) */
} eco_level_stats;

typedef struct eco_plan_cfg {
  double xi;               /* quality tolerance at CI_max, 0..1 (Sprout: 0.1) */
  double ci_min;           /* gCO2/kWh: intensity with no tolerance (year's min) */
  double ci_max;           /* gCO2/kWh: intensity with full tolerance (year's max) */
  double embodied_g_per_s; /* g/s of device embodied carbon (26356.568 g / 5 y) */
} eco_plan_cfg;

/* Sprout's defaults: xi 0.1, embodied 26356.568 g over 5 years; ci range must
 * still be set by the caller (from the trace). */
void eco_plan_cfg_default(eco_plan_cfg *cfg);

/* The quality floor factor 1 - xi * clamp((ci - ci_min)/(ci_max - ci_min)). */
double eco_plan_floor_factor(const eco_plan_cfg *cfg, double ci);

/* Cost of one request at level stats s and intensity ci: E*CI + e*T, g. */
double eco_plan_cost_g(const eco_plan_cfg *cfg, const eco_level_stats *s, double ci);

/* Solves the LP for n levels (level 0 is the reference, no directive) at
 * intensity ci (gCO2/kWh); writes the n probabilities to x_out. Returns 0,
 * ECO_EINVAL for bad input (n < 1, n > max, non-finite values, ci_max <=
 * ci_min), ECO_ERANGE when the LP is infeasible, ECO_EINTERNAL when GLPK
 * fails. */
int eco_directive_plan(const eco_level_stats *levels, size_t n, double ci, const eco_plan_cfg *cfg,
                       double *x_out, eco_error *err);

/* When to solve again: every period_s, or when the intensity has moved by
 * more than threshold (relative, e.g. 0.1 = 10 %) since the last solve. */
typedef struct eco_replan_cfg {
  double period_s;  /* s, default 3600 */
  double threshold; /* relative change of CI, default 0.1; <= 0 disables */
} eco_replan_cfg;

/* Pure: true when a plan made at last_t_s with intensity last_ci must be
 * redone at now_s with intensity ci. never_planned forces true. */
bool eco_directive_replan_due(const eco_replan_cfg *cfg, bool never_planned, double last_t_s,
                              double last_ci, double now_s, double ci);

/* Sprout's rule for when the offline quality evaluation runs (per hour):
 * never within grace_h hours of the last run, always after max_idle_h,
 * otherwise when the intensity is below the period mean and at a local
 * minimum of the decay-weighted intensity (falling then rising). */
typedef struct eco_eval_sched {
  double grace_h;    /* h, default 6 */
  double max_idle_h; /* h, default 72 */
  double decay;      /* 1/h, default 0.029 (half weight after 24 h) */
  /* state, updated by eco_eval_sched_step */
  long last_run_h;  /* hour index of the last run */
  double grad_prev; /* previous decay-weighted gradient */
  double grad_cur;
} eco_eval_sched;

void eco_eval_sched_init(eco_eval_sched *s);

/* One step at hour index h >= 1 (hours must be consecutive): ci_prev and
 * ci_now are the intensities of hours h-1 and h, ci_mean the mean intensity
 * of the period (or a forecast of it). Returns true when the evaluation runs
 * now (and records it). Pure apart from the state in *s. */
bool eco_eval_sched_step(eco_eval_sched *s, long h, double ci_prev, double ci_now, double ci_mean);

#endif
