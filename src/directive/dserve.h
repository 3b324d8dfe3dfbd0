/* ecoinfer directives: the per-request decision of a live server (the
 * router), as one pure state machine over the directive model (dmodel.h),
 * the period planner (live.h: the code `sim sprout --policy ours-live`
 * runs) and the cost figures learned from receipts (dlearn.h).
 *
 * Per served model ("model" of the request) it keeps one period planner
 * whose group costs are the model file's, rescaled level by level to what
 * that model's receipts say (learned / prior), so a small model on a CPU
 * is planned with its own energy per level, not Llama-2-13B's. A request:
 *
 *   1. its text is classified: group = (predicted class, length bucket),
 *      with the class's probability;
 *   2. at the first request of a new hour the model's plan is made for the
 *      rest of the period from the intensity forecast (the caller's
 *      callback) and the predicted mix of past hours;
 *   3. its level is drawn from the group's row of the plan (the caller's
 *      uniform u), with that level's probability;
 *   4. the caller lowers the level (route cap, opt-out) and reports the
 *      level applied (eco_dserve_applied): the mix and the quality credit
 *      count what was served;
 *   5. the receipt's energy, output tokens and time (eco_dserve_learn)
 *      update the model's figures, used from the next hour's plan on.
 *
 * No clock, no I/O, no globals: the hour index, the forecast and the draws
 * come from the caller (router/directive_hook.c; tests). */
#ifndef ECO_DIRECTIVE_DSERVE_H
#define ECO_DIRECTIVE_DSERVE_H

#include "directive/dlearn.h"
#include "directive/dmodel.h"
#include "directive/live.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ECO_DSERVE_GROUP_MAX 48 /* "label/bucket", NUL included */
#define ECO_DSERVE_FC_MAX    168

typedef struct eco_dserve_cfg {
  eco_dlive_cfg live;   /* period (h), margin, mix half-life */
  eco_plan_cfg plan;    /* xi, intensity range (gCO2/kWh), embodied g/s */
  eco_dlearn_cfg learn; /* priors and learning rates */
} eco_dserve_cfg;

/* The forecast of hours hour .. hour+cap-1 (gCO2/kWh, [0] = now) into out;
 * returns how many values it wrote (0 = the intensity is unknown). */
typedef size_t (*eco_dserve_forecast_fn)(void *user, long hour, double *out, size_t cap);

typedef struct eco_dserve_slot {
  bool used;
  char name[ECO_DLEARN_NAME_MAX]; /* the model it plans for (dlearn's slot of that name) */
  eco_dlive live;
  eco_assign_model costs; /* the model file's groups at this model's learned costs */
} eco_dserve_slot;

typedef struct eco_dserve {
  eco_dserve_cfg cfg;
  const eco_dmodel *dm; /* borrowed: outlives the state */
  eco_dlearn learn;
  eco_dserve_slot *slot;   /* [ECO_DLEARN_MAX_MODELS] */
  eco_dlive_stats retired; /* counts of planners dropped with an evicted model */
  uint64_t decisions;      /* requests decided */
  uint64_t plan_errors;    /* hours whose plan failed (level 0 until the next) */
  uint64_t no_forecast;    /* hours with no intensity at all (previous plan kept) */
} eco_dserve;

/* What one request's text and the plan decided. */
typedef struct eco_dserve_decision {
  int slot;                         /* the model's slot */
  int cls;                          /* predicted class, -1 = none */
  double cls_p;                     /* its probability, 0..1 */
  int bucket;                       /* length bucket within the class */
  char group[ECO_DSERVE_GROUP_MAX]; /* "label/bucket" */
  int level;                        /* planned level */
  double level_p;                   /* the plan's probability of it for the group */
  bool degraded;                    /* this hour's plan could not reach the floor */
  eco_request_features f;
} eco_dserve_decision;

/* Defaults: live.h's, plan.h's with intensity range 100..600 gCO2/kWh,
 * dlearn.h's. */
void eco_dserve_cfg_default(eco_dserve_cfg *c);

/* dm must have as many levels as cfg->learn.n_levels. ECO_EINVAL, ECO_ENOMEM. */
int eco_dserve_init(eco_dserve *s, const eco_dserve_cfg *c, const eco_dmodel *dm, eco_error *err);
void eco_dserve_free(eco_dserve *s);

/* Replaces the directive model (e.g. refitted from the live judge's
 * verdicts) without a restart; dm is borrowed as in init. With the same
 * classes (labels, in order) the planners keep their mix and credit and the
 * new group statistics take effect at each model's next hour; otherwise the
 * planners start afresh (their counts kept in the totals). The learned
 * costs are kept either way. ECO_EINVAL when the levels differ (s unchanged). */
int eco_dserve_set_model(eco_dserve *s, const eco_dmodel *dm, eco_error *err);

/* Steps 1-3 above for one request of model at hour (any monotonic hour
 * index, e.g. Unix time / 3600) with prompt text[len]; u uniform in [0,1).
 * A failed plan never fails the request: level 0, counted, error in err
 * and returned (the decision is still filled). */
int eco_dserve_decide(eco_dserve *s, const char *model, long hour, eco_dserve_forecast_fn fc,
                      void *fc_user, const char *text, size_t len, double u,
                      eco_dserve_decision *out, eco_error *err);

/* Step 4: the level actually applied to the decided request. */
void eco_dserve_applied(eco_dserve *s, const eco_dserve_decision *d, int level);

/* Step 5: a receipt of model at level (eco_dlearn_observe). */
void eco_dserve_learn(eco_dserve *s, const char *model, int level, double energy_j,
                      double out_tokens, double time_s);

/* The energy of a decided request's group at level 0 over that at level
 * (> 0): the plan's cost figures (the model file's per group, scaled to
 * what the served model's receipts taught; the learned figures of the
 * model when the request has no group). What the router's ledger takes
 * for the directive's counterfactual: energy is not proportional to the
 * answer's length. -1 when unknown (bad arguments, no figures). */
double eco_dserve_energy_ratio(const eco_dserve *s, const eco_dserve_decision *d, int level);

/* Hours and periods planned and degraded, over every model ever planned. */
void eco_dserve_totals(const eco_dserve *s, eco_dlive_stats *out);

#endif
