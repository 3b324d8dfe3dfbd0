/* ecoinfer router: generation directives: configuration, and Sprout's LP plan.
 *
 * Two plans (directive.plan):
 *   live (default)  each request's level from its text: the directive model
 *                   file (directive.model, written by `ecoinfer directive
 *                   train`) classifies the prompt, and the period planner of
 *                   live traffic (directive/dserve.h over live.h, the code of
 *                   `sim sprout --policy ours-live`) draws the level from the
 *                   hour's plan, made from the intensity forecast with each
 *                   served model's costs learned from its receipts
 *                   (directive/dlearn.h; persisted by router/dstats_db.h).
 *                   Wired by gw_directive.c.
 *   lp              Sprout's LP (below): one level distribution for every
 *                   request, from fixed level statistics. Kept for clusters
 *                   with no directive model file: it needs no training and
 *                   no labelled prompts, but it beats no directive by less
 *                   (docs/benchmarks/sprout.md).
 *
 * The LP plan: the probability of each directive level from
 * eco_directive_plan() over the configured level statistics, at the
 * intensity of the directive zone. It re-solves when eco_directive_replan_due()
 * says so (every directive.period, and when the intensity moved more than
 * directive.threshold). Each request's level is drawn from the plan with a
 * seeded RNG held in this state (no globals), then lowered to the route's cap,
 * or 0 when the client sent `x-ecoinfer-directive: off`.
 *
 * Config (all under `directive:`; the router applies directives only when
 * the section is present and directive.enabled is not false):
 *   levels, routes, default_cap    as for the node (directive.h)
 *   xi, ci_min, ci_max, embodied_g, life_years, period, threshold  (plan.h)
 *   stats: one entry per level, {energy_kwh: kWh, time_s: s, pref: 0..1};
 *          absent = the Sprout artifact summary (ECO_RDIR_SPROUT_* below)
 *   zone:  grid zone whose intensity drives the plan ("" = first node's)
 *   seed:  RNG seed of the per-request draw (default 1)
 *   plan:  live | lp (default live)
 *   model: the directive model file (required by plan: live)
 *   live:  {floor_period: duration, whole hours (24h), margin: 0.005,
 *           mix_half_life: duration (1h)}          (live.h)
 *   learn: {db: SQLite file ("" = in memory only), flush: 10s, alpha: 0.05,
 *           prior_weight: 5, scale_alpha: 0.1}    (dlearn.h)
 *   priors: {source: text, energy_j: [J per level], out_tokens: [..],
 *           time_s: [..]}  the figures used before any receipt (default:
 *           Llama-2-13B-chat's in the Sprout artifact, ECO_DLEARN_PRIOR_SOURCE)
 *   eval:  the quality loop in the router (directive/evalsched.h; wired by
 *          gw_eval.c); a judge needs plan: live and router.batch_api.db
 * Everything here is pure (no clock, no I/O): the gateway passes the time
 * and the intensity in. */
#ifndef ECO_ROUTER_DIRECTIVE_HOOK_H
#define ECO_ROUTER_DIRECTIVE_HOOK_H

#include "directive/directive.h"
#include "directive/dserve.h"
#include "directive/evalsched.h"
#include "directive/plan.h"
#include "util/config.h"
#include "util/status.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum eco_rdir_plan_kind {
  ECO_RDIR_PLAN_LIVE = 0, /* per request: classifier + period plan (dserve.h) */
  ECO_RDIR_PLAN_LP = 1,   /* Sprout's LP: one distribution for every request */
} eco_rdir_plan_kind;

typedef struct eco_rdir_cfg {
  bool enabled;                                    /* section present, not disabled */
  eco_rdir_plan_kind plan_kind;                    /* directive.plan */
  char model_path[512];                            /* directive.model (live) */
  eco_dserve_cfg live;                             /* live planner, learning, priors */
  char learn_db[512];                              /* SQLite file of learned costs, "" none */
  double learn_flush_s;                            /* s between writes of learned costs */
  eco_directive_cfg dcfg;                          /* levels and route caps */
  eco_level_stats stats[ECO_DIRECTIVE_MAX_LEVELS]; /* per level: kWh, s, preference */
  eco_plan_cfg plan;                               /* xi, intensity range, embodied g/s */
  eco_replan_cfg replan;                           /* period s, relative threshold */
  char zone[32];                                   /* zone of the plan's intensity */
  uint64_t seed;                                   /* per-request draw seed */
  eco_evalsched_cfg eval;                          /* the quality loop (directive.eval) */
} eco_rdir_cfg;

/* The router's directive state (owned by the gateway, loop thread only). */
typedef struct eco_rdir {
  eco_rdir_cfg cfg;
  bool planned;                       /* a plan exists */
  double last_t_s;                    /* s (caller's clock) of the last solve */
  double last_ci;                     /* gCO2/kWh at the last solve */
  double x[ECO_DIRECTIVE_MAX_LEVELS]; /* probability of each level */
  uint64_t rng;                       /* xorshift64* state */
  uint64_t solves, solve_errors;      /* counts */
} eco_rdir;

/* Disabled; plan live; default levels; Sprout's level statistics; xi 0.1;
 * intensity range 100..600 gCO2/kWh; period 1 h; threshold 0.1; seed 1;
 * the live planner's and the learning's defaults (dserve.h); flush 10 s. */
void eco_rdir_cfg_default(eco_rdir_cfg *c);
/* Reads the `directive:` section (above). ECO_ECONFIG on bad values. */
int eco_rdir_cfg_load(const eco_cfg *cfg, eco_rdir_cfg *out, eco_error *err);

/* "live" or "lp". */
const char *eco_rdir_plan_name(eco_rdir_plan_kind k);

void eco_rdir_init(eco_rdir *d, const eco_rdir_cfg *c);

/* Re-solves the plan at now_s (s, any monotonic clock) and intensity ci
 * (gCO2/kWh) when due. A failed solve (infeasible LP) falls back to all
 * probability on level 0 and returns the error; ci < 0 or non-finite
 * (unknown) keeps the current plan (level 0 before any). */
int eco_rdir_update(eco_rdir *d, double now_s, double ci, eco_error *err);

/* Draws one request's level from the plan, caps it for route and applies
 * the opt-out header value (NULL = absent). Advances the RNG. */
int eco_rdir_draw(eco_rdir *d, const char *route, const char *optout_hdr);
/* The planned level of one draw (before cap and opt-out). Advances the RNG. */
int eco_rdir_draw_plan(eco_rdir *d);

/* Frees the LP library's state for the calling thread (GLPK keeps one
 * environment per thread that solved): call on the thread that ran
 * eco_rdir_update before it exits. Harmless when there is none. */
void eco_rdir_thread_done(void);

/* For backends that do not understand the level header: a copy of the
 * request body with the level applied (chat: merged system message; raw
 * prompt: the instruction and a blank line prepended to a string prompt).
 * *out = NULL when nothing changes (level 0, no usable messages/prompt).
 * 0, ECO_ENOMEM, ECO_EINVAL. */
int eco_rdir_rewrite_body(const eco_rdir_cfg *c, int level, const json_t *body, char **out,
                          size_t *out_len, eco_error *err);

#endif
