/* ecoinfer directives: per-request level assignment ("ours").
 *
 * Sprout draws every request's level from one probability vector. Requests
 * differ: a trivia question loses nothing when answered briefly, a maths
 * word problem does. This module learns, from labelled prompts (the offline
 * evaluator's output), per group of similar prompts
 *   group = (task type, prompt-length bucket of that task)
 * the mean energy and time at each level and the judge's preference rate of
 * each level, and then solves Sprout's LP over groups instead of over the
 * whole mix: minimise the expected carbon of the mix subject to the same
 * quality floor, choosing a level distribution per group. Per request the
 * decision is a table look-up (microseconds), explainable as "task T,
 * length bucket B: P(level) = ..., because level L saves X g at preference
 * p_L".
 *
 * Only what is known before the answer is used: the task type (metadata),
 * the prompt length, and statistics of OTHER prompts. Pure functions. */
#ifndef ECO_DIRECTIVE_ASSIGN_H
#define ECO_DIRECTIVE_ASSIGN_H

#include "directive/plan.h"

#include <stdbool.h>
#include <stddef.h>

#define ECO_ASSIGN_MAX_TASKS 16
#define ECO_ASSIGN_BUCKETS   3

/* What is known about a request before it is answered. */
typedef struct eco_request_features {
  int task;            /* task / dataset type id, 0..n_tasks-1; -1 = unknown */
  size_t prompt_chars; /* prompt length, characters */
} eco_request_features;

/* One labelled training prompt (from the evaluator's history). */
typedef struct eco_assign_sample {
  eco_request_features f;
  double energy_kwh[ECO_DIRECTIVE_MAX_LEVELS]; /* measured at each level, kWh */
  double time_s[ECO_DIRECTIVE_MAX_LEVELS];     /* s */
  bool no_cost;  /* energy/time unknown (a verdict without measurements): the
                  * sample counts for shares and preferences only */
  int preferred; /* judge's preferred level, -1 = no decision */
} eco_assign_sample;

typedef struct eco_assign_group {
  double share;                                 /* share of its task's prompts, 0..1 */
  size_t n_train;                               /* training prompts in the group */
  eco_level_stats lv[ECO_DIRECTIVE_MAX_LEVELS]; /* means and preference rates */
} eco_assign_group;

typedef struct eco_assign_model {
  size_t n_levels, n_tasks;
  double len_edge[ECO_ASSIGN_MAX_TASKS][ECO_ASSIGN_BUCKETS - 1]; /* chars: bucket edges */
  eco_assign_group g[ECO_ASSIGN_MAX_TASKS][ECO_ASSIGN_BUCKETS];
  eco_level_stats task_lv[ECO_ASSIGN_MAX_TASKS][ECO_DIRECTIVE_MAX_LEVELS]; /* per task */
} eco_assign_model;

/* Learns the model from n samples. Preference rates of a group are shrunk
 * toward its task's rates with prior weight alpha (prompts). Returns 0 or
 * ECO_EINVAL (no samples, task out of range, too many levels/tasks). */
int eco_assign_train(eco_assign_model *m, const eco_assign_sample *s, size_t n, size_t n_tasks,
                     size_t n_levels, double alpha, eco_error *err);

/* The length bucket of a request within its task, 0..ECO_ASSIGN_BUCKETS-1. */
int eco_assign_bucket(const eco_assign_model *m, const eco_request_features *f);

typedef struct eco_assign_plan {
  size_t n_levels, n_tasks;
  double y[ECO_ASSIGN_MAX_TASKS][ECO_ASSIGN_BUCKETS][ECO_DIRECTIVE_MAX_LEVELS]; /* P(level) */
  double floor;       /* preference floor the plan meets, 0..1 */
  double expect_pref; /* expected preference of the mix under the plan */
  double expect_g;    /* expected gCO2e per request under the plan */
  double ref_g;       /* expected gCO2e per request with no directive */
  bool degraded;      /* the floor was unreachable: this is the highest-preference
                       * plan (per group the level the judge prefers most, the
                       * cheaper one on ties), not a solution of the LP */
} eco_assign_plan;

/* Solves the group LP for a task mix (task_mix[t] >= 0, any scale) at
 * intensity ci with Sprout's floor: factor(ci) * (expected L0 preference of
 * the mix) + margin. When no plan reaches the floor it never fails: it
 * returns the highest-preference plan with out->degraded set (the caller
 * counts it). Returns 0, ECO_EINVAL or ECO_EINTERNAL (GLPK). It is
 * eco_assign_solve_period over one hour. */
int eco_assign_solve(const eco_assign_model *m, const double *task_mix, double ci,
                     const eco_plan_cfg *cfg, double margin, eco_assign_plan *out, eco_error *err);

/* Plans a period of n_hours (e.g. the rest of the day) at once from an
 * intensity forecast ci_fc[n_hours] (gCO2/kWh; [0] = now) and the task mix
 * expected over the period: the quality floor holds over the period, not
 * in every hour, so brevity moves to the dirtiest hours. The floor is the
 * mean of Sprout's hourly floors + margin, less credit_pref: preference
 * already delivered above the floor earlier in the period (expected, from
 * earlier plans; may be negative for a deficit), per request-hour of the
 * remaining period. Writes n_hours plans (plans[0] is for now). When the
 * period's floor is unreachable every hour gets the highest-preference plan
 * with .degraded set. Returns as eco_assign_solve. */
int eco_assign_solve_period(const eco_assign_model *m, const double *task_mix, const double *ci_fc,
                            size_t n_hours, const eco_plan_cfg *cfg, double margin,
                            double credit_pref, eco_assign_plan *plans, eco_error *err);

/* The level for one request: u is a uniform draw in [0,1) supplied by the
 * caller (so this stays pure). Unknown task -> level 0. */
int eco_assign_level(const eco_assign_model *m, const eco_assign_plan *p,
                     const eco_request_features *f, double u);

/* One line explaining the decision for a request into buf. */
void eco_assign_explain(const eco_assign_model *m, const eco_assign_plan *p,
                        const eco_request_features *f, double ci, const eco_plan_cfg *cfg,
                        char *buf, size_t cap);

#endif
