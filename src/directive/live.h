/* ecoinfer directives: the period planner of live traffic ("ours-live").
 *
 * It plans with what a live router knows, and nothing else:
 *   - the mix of PREDICTED groups of the requests served in past hours
 *     (decayed counts; a uniform prior before any), never the true mix of
 *     the hour being planned;
 *   - the intensity forecast for the rest of the period;
 *   - the group statistics of the directive model (dmodel.h).
 * Every hour (eco_dlive_begin_hour) it closes the hour before: the expected
 * preference it delivered (under the model's group rates, for the requests
 * actually served and the levels actually applied, caps and opt-outs
 * included) minus that hour's floor is carried as a credit, so the quality
 * floor holds over the period (default 24 h) as in eco_assign_solve_period.
 * It then plans the rest of the period. An unreachable floor never stops
 * it: the plan degrades to the highest-preference plan and the hour and its
 * period are counted.
 *
 * Pure: the hour index, the forecast and the uniform draws come from the
 * caller (the simulator's clock and RNG, or the router's). The router, the
 * simulator (`sim sprout --policy ours-live`) and the tests share it. */
#ifndef ECO_DIRECTIVE_LIVE_H
#define ECO_DIRECTIVE_LIVE_H

#include "directive/assign.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct eco_dlive_cfg {
  size_t period_h;        /* hours over which the floor holds, 1..168 (24); periods are
                           * aligned to hour indices divisible by it (UTC days) */
  double margin;          /* added to Sprout's floor (0.005) */
  double mix_half_life_h; /* h: weight of past hours in the mix (1; 0 = last hour only) */
  double prior_weight;    /* requests' worth of a uniform mix added to the counts (1) */
} eco_dlive_cfg;

typedef struct eco_dlive_stats {
  uint64_t hours;            /* hours planned */
  uint64_t hours_degraded;   /* hours whose floor was unreachable */
  uint64_t periods;          /* periods begun */
  uint64_t periods_degraded; /* periods with at least one degraded hour */
} eco_dlive_stats;

typedef struct eco_dlive {
  eco_dlive_cfg cfg;
  size_t n_tasks;
  bool started;
  long hour;                         /* index of the current hour */
  double cur[ECO_ASSIGN_MAX_TASKS];  /* predicted classes served this hour */
  double hist[ECO_ASSIGN_MAX_TASKS]; /* decayed counts of past hours */
  double mix[ECO_ASSIGN_MAX_TASKS];  /* the mix this hour's plan assumes (sums to 1) */
  double credit;                     /* hour-mean preference above the floor, summed
                                      * over the period so far */
  double factor;                     /* Sprout's floor factor of this hour */
  double pref_sum, q0_sum, n_cur;    /* served this hour: expected preference, L0's */
  bool period_degraded;
  eco_assign_plan plan; /* this hour's */
  eco_dlive_stats st;
} eco_dlive;

void eco_dlive_cfg_default(eco_dlive_cfg *c);

/* ECO_EINVAL on a bad configuration or n_tasks outside 1..ECO_ASSIGN_MAX_TASKS. */
int eco_dlive_init(eco_dlive *s, const eco_dlive_cfg *c, size_t n_tasks);

/* Begins hour `hour` (any monotonic hour index, e.g. Unix time / 3600; gaps
 * allowed, a repeat or a step back is ECO_EINVAL): closes the previous one,
 * then plans the rest of the period from ci_fc[0..n_fc) (gCO2/kWh, [0] =
 * this hour; a short forecast repeats its last value). Never fails on an
 * unreachable floor (s->plan.degraded is set instead). ECO_EINVAL on bad
 * input, ECO_ENOMEM, ECO_EINTERNAL (GLPK). */
int eco_dlive_begin_hour(eco_dlive *s, const eco_assign_model *m, const eco_plan_cfg *pc, long hour,
                         const double *ci_fc, size_t n_fc, eco_error *err);

/* The planned level of one request (u uniform in [0,1) from the caller);
 * *p_level (may be NULL) receives the plan's probability of that level.
 * Level 0 before any plan or for an unknown group. */
int eco_dlive_level(const eco_dlive *s, const eco_assign_model *m, const eco_request_features *f,
                    double u, double *p_level);

/* Records a served request of hour s->hour and the level applied to it. */
void eco_dlive_observe(eco_dlive *s, const eco_assign_model *m, const eco_request_features *f,
                       int level);

#endif
