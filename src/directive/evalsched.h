/* ecoinfer directives: the live quality loop's configuration and its pure
 * decisions (the router wires them: src/router/gw_eval.c).
 *
 * The router samples a share of the live chat requests that got a
 * directive decision (not opted out), regenerates each one's answer at the
 * other levels as deferrable Batch API work (metadata ecoinfer_kind: eval:
 * evaluation overhead on the ledger), asks a judge pairwise (judge.h,
 * evaluator.h), stores the verdict (verdicts.h) and, every refit_every
 * verdicts or refit_interval, moves the directive model's group preference
 * rates toward what the verdicts say (eco_evalsched_refit below) and swaps
 * the result in.
 *
 * Config, under `directive.eval:` (docs/directives.md, "The quality loop in
 * the router"):
 *   sample: 0.02          share of decided live chat requests sampled, 0..1
 *   seed: 1               sampling RNG seed
 *   judge: {url, model, api_key | api_key_env | api_key_file, timeout: 60s,
 *           max_tokens: 64, zone}   absent: no judge; nothing is sampled and
 *                         the model file's rates (the priors) are kept;
 *                         zone: the judge's grid zone (its ledger rows'
 *                         intensity), "" = the directive plan's zone
 *   db: verdicts.db       the verdict store (required with a judge)
 *   train_out: FILE       training-data lines appended (directive train)
 *   model_out: FILE       the refitted model file written (not directive.model)
 *   refit_every: 50       verdicts between refits (0 = by interval only)
 *   refit_interval: 1h    longest wait for a refit once verdicts came in
 *                         (0 = by count only)
 *   prior_weight: 20      verdicts the model file's rates of a group count as
 *   max_pending: 64       sampled requests waiting or running at once;
 *                         more are dropped and counted
 *   window: 24h           completion window of an evaluation batch
 *   retries: 3            judge attempts per sample (judge down, garbage)
 *   retry: 30s            first retry delay, doubling
 *   poll: 1s              how often the worker looks at its batches
 * Pure: no clock, no I/O, no globals; the caller passes time and draws. */
#ifndef ECO_DIRECTIVE_EVALSCHED_H
#define ECO_DIRECTIVE_EVALSCHED_H

#include "directive/dmodel.h"
#include "util/config.h"
#include "util/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct eco_evalsched_cfg {
  bool configured;         /* directive.eval present */
  double sample;           /* share of decided live chat requests sampled, 0..1 */
  uint64_t seed;           /* sampling RNG seed (non-zero) */
  char judge_url[256];     /* "" = no judge: priors kept */
  char judge_model[128];   /* model name sent to the judge */
  char judge_key[256];     /* bearer token for the judge, "" = none; never logged */
  double judge_timeout_s;  /* per judge request, s */
  int judge_max_tokens;    /* per judge reply, tokens */
  char judge_zone[32];     /* the judge's grid zone, "" = not given (the plan's zone) */
  char db[512];            /* SQLite verdict store */
  char train_out[512];     /* training-data lines appended, "" = none */
  char model_out[512];     /* refitted model file, "" = swapped in memory only */
  uint32_t refit_every;    /* verdicts between refits, 0 = by interval only */
  double refit_interval_s; /* s between refits while verdicts come in, 0 = by count only */
  double prior_weight;     /* verdicts a group's model-file rates count as */
  uint32_t max_pending;    /* sampled requests waiting or running */
  char window[32];         /* completion window of an evaluation batch, e.g. "24h" */
  double window_s;         /* the same, s */
  uint32_t retries;        /* judge attempts per sample, >= 1 */
  double retry_s;          /* first retry delay, s (doubles per attempt) */
  double poll_s;           /* worker's polling period, s */
} eco_evalsched_cfg;

/* Not configured, sample 0.02, seed 1, timeout 60 s, 64 tokens, refit every
 * 50 verdicts or 1 h, prior weight 20, 64 pending, window 24h, 3 attempts,
 * retry 30 s, poll 1 s. */
void eco_evalsched_cfg_default(eco_evalsched_cfg *c);

/* Reads `directive.eval` (above); with a judge, db is required and
 * model_out may not be model_path (the model file is the prior; refits
 * would count the verdicts twice after a restart). ECO_ECONFIG with
 * FILE:LINE:COL and the key. */
int eco_evalsched_cfg_load(const eco_cfg *cfg, const char *model_path, eco_evalsched_cfg *out,
                           eco_error *err);

/* True when a judge is configured (the loop runs). */
bool eco_evalsched_active(const eco_evalsched_cfg *c);

/* What the router knows of a finished request. */
typedef struct eco_evalsched_req {
  bool chat;      /* POST /v1/chat/completions */
  bool decided;   /* it got a live directive decision (a group) */
  bool opted_out; /* the client sent x-ecoinfer-directive: off */
  bool ok;        /* answered 200 */
} eco_evalsched_req;

typedef enum eco_evalsched_pick {
  ECO_EVALSCHED_SKIP = 0,   /* not sampled */
  ECO_EVALSCHED_SAMPLE = 1, /* sampled: enqueue it */
  ECO_EVALSCHED_FULL = 2,   /* sampled, but max_pending are waiting: dropped, counted */
} eco_evalsched_pick;

/* Whether to sample one request, with u uniform in [0, 1) drawn by the
 * caller for every eligible request (so the draws do not depend on the
 * queue) and pending the sampled requests not yet judged. */
eco_evalsched_pick eco_evalsched_sample(const eco_evalsched_cfg *c, const eco_evalsched_req *q,
                                        size_t pending, double u);

/* Whether to refit now: new_verdicts decided verdicts arrived since the
 * last refit at last_s (s, caller's clock). */
bool eco_evalsched_refit_due(const eco_evalsched_cfg *c, uint64_t new_verdicts, double last_s,
                             double now_s);

/* When to ask the judge again after attempts failed ones (the judge
 * answered nothing usable): now + retry * 2^(attempts-1), capped at 1 h;
 * < 0 when the attempts are used up (the sample counts as failed). */
double eco_evalsched_retry_at(const eco_evalsched_cfg *c, uint32_t attempts, double now_s);

/* The verdicts of one group: decided ones and the wins of each level. */
typedef struct eco_evalsched_group {
  char name[48];                         /* "label/bucket" (eco_dmodel_group_name) */
  int64_t n;                             /* decided verdicts */
  double wins[ECO_DIRECTIVE_MAX_LEVELS]; /* verdicts preferring each level */
} eco_evalsched_group;

/* Moves m's preference rates toward the verdicts: for each group with
 * verdicts, pref[l] = (wins[l] + w * prior[l]) / (n + w), prior = m's rate
 * (the model file's, which stays the prior: call it on a fresh copy of the
 * file each time), w = prior_weight; each class's rates likewise from the
 * sum of its groups. Classifier, bucket edges, shares and costs are kept,
 * so group names stay stable. *changed (may be NULL) gets the groups
 * updated. ECO_EINVAL on bad arguments. */
int eco_evalsched_refit(eco_dmodel *m, const eco_evalsched_group *g, size_t n, double prior_weight,
                        size_t *changed, eco_error *err);

/* A grid intensity as the quality loop carries it. */
typedef struct eco_evalsched_ci {
  double gco2_kwh; /* gCO2e/kWh, < 0 = none */
  char source[64]; /* where it came from */
  bool estimated;  /* forecast, fallback or static value */
} eco_evalsched_ci;

/* The intensity of the judge's ledger row: now, the router's current
 * value for the judge's zone when its call ended, labelled
 * "SOURCE:judge-time" (":judge-time:plan-zone" and estimated when the
 * zone was assumed, zone_assumed); else sampled, the live answer's
 * intensity at sampling, labelled "SOURCE:sampled-answer" and estimated.
 * Either may be NULL. False (out untouched) when neither is known. */
bool eco_evalsched_judge_ci(const eco_evalsched_ci *now, bool zone_assumed,
                            const eco_evalsched_ci *sampled, eco_evalsched_ci *out);

#endif
