/* ecoinfer sim sprout: replays the Sprout artifact's evaluation protocol
 * (EMNLP'24, github.com/boringlee24/EMNLP24_Sprout) on its public data.
 *
 * Per hour of the trace window: the request mix (six datasets) follows the
 * PAI trace; 1,000 labelled prompts sampled from the mix give the true
 * preference rate q_L of each level; the mean energy and time of each level
 * over the mix feed the policy; the policy gives level probabilities x (or a
 * level per request); carbon per request = E * CI + e * T. See
 * docs/benchmarks/sprout.md for the deviations from the artifact (its numpy
 * random streams are not reproduced; seeds are ours). */
#ifndef ECO_SIM_SPROUT_H
#define ECO_SIM_SPROUT_H

#include "directive/plan.h"
#include "util/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ECO_SPROUT_NDS 6 /* datasets */
#define ECO_SPROUT_NLV 3 /* directive levels */

typedef struct eco_sprout_dataset {
  char name[16];                  /* "alpaca", "math", ... */
  size_t n;                       /* prompts with measurements */
  double *energy[ECO_SPROUT_NLV]; /* [n] kWh per request at each level */
  double *time[ECO_SPROUT_NLV];   /* [n] s per request at each level */
  size_t *chars;                  /* [n] prompt length, bytes */
  char **text;                    /* [n] prompt text (the first user message) */
  size_t n_lab;                   /* prompts with a judge label */
  size_t *lab_idx;                /* [n_lab] index into the arrays above */
  int *lab_level;                 /* [n_lab] preferred level */
} eco_sprout_dataset;

typedef struct eco_sprout_data {
  eco_sprout_dataset ds[ECO_SPROUT_NDS];
  double *pai; /* [n_pai] PAI job counts per step */
  size_t n_pai;
} eco_sprout_data;

/* Loads request_carbon/, prompts/, quality_summary_2000.json and pai.csv
 * from dir. ECO_ENOENT / ECO_EFORMAT with the file named in err. */
int eco_sprout_data_load(const char *dir, eco_sprout_data *d, eco_error *err);
void eco_sprout_data_free(eco_sprout_data *d);

/* Appends the labelled prompts of every dataset to a training set (dtrain.h):
 * text, dataset name as the label, the judge's preferred level, measured
 * energy (J) and time at each level. The set must have 3 levels. */
struct eco_dtrain_set;
int eco_sprout_to_train(const eco_sprout_data *d, struct eco_dtrain_set *s, eco_error *err);
/* The same without the prompts of fold hold_out (in_fold from
 * eco_sprout_fold_split): what a k-fold policy learns from. in_fold NULL =
 * every prompt. */
int eco_sprout_to_train_fold(const eco_sprout_data *d, unsigned char *const *in_fold,
                             size_t hold_out, struct eco_dtrain_set *s, eco_error *err);

/* Reads the direct-intensity column of an Electricity Maps hourly CSV
 * through the carbon trace provider (carbon/intensity.h).
 * *ci_out is malloc'd (gCO2/kWh per hour). */
int eco_sprout_trace_load(const char *path, double **ci_out, size_t *n_out, eco_error *err);

typedef enum eco_sprout_policy {
  ECO_SPROUT_BASELINE = 0,  /* always level 0 */
  ECO_SPROUT_STATIC,        /* one x for the month, from the year's mean CI */
  ECO_SPROUT_LP,            /* Sprout: hourly LP with evaluator-refreshed q */
  ECO_SPROUT_OURS,          /* per-request groups, out of sample (k-fold) */
  ECO_SPROUT_ORACLE,        /* artifact's oracle: per-prompt true labels (upper bound) */
  ECO_SPROUT_CO2OPT,        /* always the cheapest level */
  ECO_SPROUT_OURS_LIVE,     /* ours on live traffic: groups from the prompt classifier
                             * (trained on the other folds), the plan from the predicted
                             * mix of past hours (k-fold) */
  ECO_SPROUT_PROMPT_ORACLE, /* per prompt any level, reading its label, under the same
                             * floor: the true upper bound (k-fold requests) */
} eco_sprout_policy;

int eco_sprout_policy_parse(const char *s, eco_sprout_policy *out);
const char *eco_sprout_policy_name(eco_sprout_policy p);

typedef struct eco_sprout_cfg {
  eco_sprout_policy policy;
  size_t start_hour;      /* first hour of the year, default 800 */
  size_t hours;           /* window length, default 720 */
  uint64_t seed;          /* seed of the request mix (numpy MT19937 as the artifact), default 0 */
  uint64_t sample_seed;   /* seed of the per-hour prompt samples (our RNG), default 0 */
  size_t n_sample;        /* prompts sampled per hour for q, default 1000 */
  double xi;              /* tolerance, default 0.1 */
  double embodied_g;      /* device embodied carbon, g (26356.568) */
  double life_years;      /* device life, years (5) */
  double update_h;        /* mean hours between mix changes (24) */
  size_t folds;           /* ours: k of k-fold, default 5 */
  double margin;          /* ours: extra preference floor, default 0.005 */
  size_t period_h;        /* ours: quality floor holds over periods of this many hours
                           * (default 24; 1 = every hour, as Sprout) */
  int forecast;           /* ours: 0 persistence (same hour yesterday), 1 perfect */
  size_t inner_folds;     /* ours-live: cross-fitting folds of the group statistics (5) */
  double mix_half_life_h; /* ours-live: weight of past hours in the predicted mix (1) */
} eco_sprout_cfg;

void eco_sprout_cfg_default(eco_sprout_cfg *c);

typedef struct eco_sprout_hour {
  double ci;                  /* gCO2/kWh */
  double x[ECO_SPROUT_NLV];   /* level probabilities (share of requests for ours) */
  double carbon_g;            /* g per request */
  double quality;             /* mean quality preference */
  double pref_max;            /* q_0 of the hour */
  double base_g;              /* g per request at level 0, same prompts (ours/oracle) */
  bool evaluated;             /* lp: the offline evaluation ran this hour */
  double mix[ECO_SPROUT_NDS]; /* share of each dataset this hour */
} eco_sprout_hour;

typedef struct eco_sprout_fold {
  double reduction_pct;                /* vs baseline on the same prompts */
  double quality;                      /* mean quality preference */
  double lp_reduction_pct, lp_quality; /* Sprout's LP on the same test prompts */
  double accuracy;                     /* ours-live: classifier on the held-out fold */
} eco_sprout_fold;

typedef struct eco_sprout_result {
  size_t n_hours;
  eco_sprout_hour *hour; /* [n_hours]; for ours: fold 0 */
  double carbon_g;       /* mean g per request over the window */
  double base_carbon_g;  /* baseline mean g per request (same protocol) */
  double reduction_pct;  /* 100 * (1 - carbon / baseline) */
  double quality;        /* mean quality preference */
  double pref_max;       /* mean q_0 */
  size_t n_evals;        /* lp: offline evaluations run */
  size_t n_folds;        /* ours: folds */
  eco_sprout_fold fold[16];
  double red_sd, q_sd; /* ours: spread across folds (sd) */
  double red_min, red_max, q_min, q_max;
  double lp_reduction_pct, lp_quality; /* k-fold: lp on the same prompts, fold mean */
  size_t n_degraded_hours;             /* hours whose quality floor was unreachable (all folds) */
  size_t n_degraded_periods;           /* periods with such an hour (all folds) */
  /* ours-live: the classifier on held-out prompts (each labelled prompt is
   * held out in exactly one fold): confusion[true][predicted] */
  size_t confusion[ECO_SPROUT_NDS][ECO_SPROUT_NDS];
  double accuracy; /* pooled over folds, -1 when not applicable */
} eco_sprout_result;

/* The k-fold split of the labelled prompts that the k-fold policies (ours,
 * ours-live, prompt-oracle) use: in_fold[k][j] = the fold (0..folds-1) of
 * label j of dataset k (a seeded shuffle per dataset, then equal folds).
 * The replay harness (`ecoinfer replay`) holds out the same fold. Each
 * in_fold[k] is malloc'd (free()). ECO_EINVAL for folds outside 2..16. */
int eco_sprout_fold_split(const eco_sprout_data *d, size_t folds, uint64_t sample_seed,
                          unsigned char *in_fold[ECO_SPROUT_NDS], eco_error *err);

/* Runs one policy over ci[start_hour .. start_hour+hours) of a year trace
 * (ci_year, n_year hours; the range for the floor is the year's extremes). */
int eco_sprout_run(const eco_sprout_data *d, const double *ci_year, size_t n_year,
                   const eco_sprout_cfg *cfg, eco_sprout_result *res, eco_error *err);
void eco_sprout_result_free(eco_sprout_result *r);

#endif
