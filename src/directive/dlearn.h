/* ecoinfer directives: what each level costs on each served model, learned
 * from the receipts the router sees.
 *
 * The directive plan needs, per level, the energy of a request, its output
 * length and its service time. The only figures known before any traffic
 * are PRIORS: by default Llama-2-13B-chat's on an A100 from the Sprout
 * artifact (ECO_DLEARN_PRIOR_SOURCE), which say little about a 1B model on
 * a CPU. Per served model (the request's "model") and level this module
 * keeps a running estimate of each figure:
 *
 *   - model scale: an EWMA of log(observed / prior) over every receipt of
 *     the model, whatever its level, so a level never seen yet on this
 *     model is priced as prior[level] * exp(scale) (a 1B model is cheaper
 *     at every level, not only at the one it served);
 *   - per level: a running mean that becomes an EWMA: the k-th observation
 *     moves the mean by max(1/k, alpha) of its distance (the mean of the
 *     first 1/alpha receipts, then a moving average that follows a change of
 *     hardware or load);
 *   - the estimate: (k * mean + w * prior[level] * exp(scale)) / (k + w),
 *     k capped at 1/alpha, w = prior_weight receipts' worth of prior.
 *
 * Energy (J), output tokens and time (s) are learned separately (a receipt
 * may lack energy). The table holds at most ECO_DLEARN_MAX_MODELS models;
 * a new one evicts the least recently used (counted). The router persists
 * the table (router/dstats_db.c); eco_dlearn_set restores a row.
 *
 * Pure: no clock, no I/O, no globals. */
#ifndef ECO_DIRECTIVE_DLEARN_H
#define ECO_DIRECTIVE_DLEARN_H

#include "directive/plan.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ECO_DLEARN_MAX_MODELS 32
#define ECO_DLEARN_NAME_MAX   96 /* bytes of a model name, NUL included; longer names are cut */
#define ECO_DLEARN_PRIOR_SOURCE                                                                    \
  "Llama-2-13B-chat, A100 (Sprout artifact: mean energy and time per level over its six "          \
  "datasets; output tokens = answer characters / 4)"

enum { ECO_DLEARN_ENERGY = 0, ECO_DLEARN_TOKENS = 1, ECO_DLEARN_TIME = 2, ECO_DLEARN_NFIG = 3 };

/* Prior figures per level: [figure][level], J, tokens, s. */
typedef struct eco_dlearn_prior {
  double v[ECO_DLEARN_NFIG][ECO_DIRECTIVE_MAX_LEVELS];
  char source[160]; /* what they measured */
} eco_dlearn_prior;

typedef struct eco_dlearn_cfg {
  size_t n_levels;      /* 1..ECO_DIRECTIVE_MAX_LEVELS */
  double alpha;         /* EWMA weight once past 1/alpha receipts, (0, 1] (0.05) */
  double prior_weight;  /* receipts' worth of prior in an estimate, >= 0 (5) */
  double scale_alpha;   /* EWMA weight of the model scale, (0, 1] (0.1) */
  eco_dlearn_prior pri; /* Sprout's Llama-2-13B figures by default */
} eco_dlearn_cfg;

/* One figure of one level (or, for the scale, of a model). */
typedef struct eco_dlearn_fig {
  double n;    /* receipts seen */
  double mean; /* running mean / EWMA (J, tokens, s); for the scale: log ratio */
} eco_dlearn_fig;

typedef struct eco_dlearn_model {
  char name[ECO_DLEARN_NAME_MAX];
  uint64_t last_use; /* tick of the last observation or look-up */
  eco_dlearn_fig scale[ECO_DLEARN_NFIG];
  eco_dlearn_fig lv[ECO_DIRECTIVE_MAX_LEVELS][ECO_DLEARN_NFIG];
  bool dirty; /* changed since the caller last saved it */
} eco_dlearn_model;

typedef struct eco_dlearn {
  eco_dlearn_cfg cfg;
  eco_dlearn_model m[ECO_DLEARN_MAX_MODELS];
  size_t n;
  uint64_t tick;
  uint64_t evicted; /* models dropped to make room */
} eco_dlearn;

/* Three levels, Sprout's Llama-2-13B figures as priors, alpha 0.05, prior
 * weight 5, scale alpha 0.1. */
void eco_dlearn_cfg_default(eco_dlearn_cfg *c);

/* ECO_EINVAL on a bad configuration (non-finite or non-positive priors). */
int eco_dlearn_init(eco_dlearn *d, const eco_dlearn_cfg *c);

/* The slot of model (created, evicting the least recently used, when
 * absent and create is true); -1 when absent. */
int eco_dlearn_find(eco_dlearn *d, const char *model, bool create);

/* One receipt of a request of model served at level: energy_j, out_tokens,
 * time_s (each < 0 or non-finite = unknown, skipped). Returns the slot, or
 * -1 for a bad level. */
int eco_dlearn_observe(eco_dlearn *d, const char *model, int level, double energy_j,
                       double out_tokens, double time_s);

/* The estimate of figure fig at level for slot (slot < 0: the prior). */
double eco_dlearn_estimate(const eco_dlearn *d, int slot, int level, int fig);

/* Restores one saved figure (persistence): level -1 = the model scale. */
int eco_dlearn_set(eco_dlearn *d, const char *model, int level, int fig, double n, double mean);

/* The level statistics of a model (kWh, s; pref untouched) for planners
 * that take eco_level_stats (Sprout's LP). */
void eco_dlearn_level_stats(const eco_dlearn *d, int slot, eco_level_stats *lv);

#endif
