/* ecoinfer directives: the directive model of live traffic.
 *
 * One object, one file: the prompt classifier (classify.h) and the
 * per-group statistics of the assignment (assign.h) over the classes the
 * classifier PREDICTS. A group is (predicted class, prompt-length bucket of
 * that class); its preference rates come from judge verdicts on the
 * training prompts that land in it, so the statistics already account for
 * the classifier's mistakes (the training prompts' classes are predicted
 * out of fold, by classifiers that never saw them: cross-fitting).
 *
 * Training input (eco_dtrain_rec, and its JSONL form in dtrain.h): a prompt
 * with any of
 *   label      its class (the Sprout dataset name), trains the classifier;
 *   preferred  the judge's preferred level: the group's preference rates;
 *   costs      measured energy and time at each level: the group's prior
 *              cost figures (the router replaces them with what it learns
 *              from receipts).
 * A verdict from the live judge loop has no label: it is assigned to the
 * group the classifier predicts and updates that group's preference rates.
 *
 * The file (eco_dmodel_save / eco_dmodel_load) is versioned, bounds-checked
 * and ends with a SHA-256 of everything before it; the loader treats it as
 * untrusted input (it is fuzzed: fuzz/fuzz_dmodel.c). Layout, all
 * little-endian (docs/directives.md):
 *   header, 64 bytes: magic "ECODIRM\0", u32 version (1), u32 feature
 *     version (1), u32 classes, u32 levels, u32 hash bits, u32 length
 *     buckets (3), u32 flags (bit 0: has costs), u32 0, u64 payload bytes,
 *     f64 cross-validated accuracy (-1 = unknown), u64 training prompts;
 *   payload: labels (32 bytes each), cost source (64 bytes), per class its
 *     bias (f32), bucket edges (f64 each) and class statistics (per level
 *     energy kWh, time s, preference: f64), per group share (f64), training
 *     prompts (u64) and statistics, then the weights (f32, [features][classes]);
 *   trailer: SHA-256 of header and payload (32 bytes). */
#ifndef ECO_DIRECTIVE_DMODEL_H
#define ECO_DIRECTIVE_DMODEL_H

#include "directive/assign.h"
#include "directive/classify.h"

#include <stdbool.h>
#include <stddef.h>

#define ECO_DMODEL_VERSION      1
#define ECO_DMODEL_FEAT_VERSION 1                  /* eco_dclass_features as written today */
#define ECO_DMODEL_MAX_BYTES    ((size_t)96 << 20) /* the largest file the loader reads */
#define ECO_DMODEL_SOURCE_MAX   64

typedef struct eco_dmodel {
  eco_dclass cls;                          /* text -> class */
  eco_assign_model groups;                 /* tasks = the classifier's classes */
  bool has_costs;                          /* groups carry cost figures from training */
  char cost_source[ECO_DMODEL_SOURCE_MAX]; /* what the cost figures measured, e.g.
                                            * "Llama-2-13B-chat, A100 (Sprout artifact)" */
  double accuracy;                         /* cross-validated accuracy, -1 = unknown */
  size_t n_train;                          /* training prompts */
} eco_dmodel;

/* One training prompt. */
typedef struct eco_dtrain_rec {
  const char *text;            /* prompt text (not needed when feat is given) */
  size_t len;                  /* bytes */
  const eco_dclass_feat *feat; /* pre-computed features (eco_dclass_features), or NULL */
  size_t n_feat;
  int label;                                   /* class index, -1 = none (an unlabelled verdict) */
  int preferred;                               /* judge's preferred level, -1 = none */
  bool has_cost;                               /* energy_kwh/time_s below are measured */
  double energy_kwh[ECO_DIRECTIVE_MAX_LEVELS]; /* kWh per request at each level */
  double time_s[ECO_DIRECTIVE_MAX_LEVELS];     /* s per request at each level */
} eco_dtrain_rec;

typedef struct eco_dmodel_fit_cfg {
  eco_dclass_cfg cls;      /* classifier training */
  size_t n_levels;         /* directive levels, 1..ECO_DIRECTIVE_MAX_LEVELS (3) */
  size_t inner_folds;      /* cross-fitting folds for the group statistics (5; 0 or 1 =
                            * in-sample predictions, optimistic) */
  double alpha;            /* shrinkage of a group's preferences toward its class's, in
                            * prompts (5) */
  uint64_t fold_seed;      /* seed of the fold split (1) */
  const char *cost_source; /* stored with the cost figures, or NULL */
} eco_dmodel_fit_cfg;

void eco_dmodel_fit_cfg_default(eco_dmodel_fit_cfg *c);

/* What training measured: the out-of-fold confusion matrix of the labelled
 * records (conf[true][predicted]), when inner_folds >= 2. */
typedef struct eco_dmodel_report {
  size_t n_labelled, n_verdicts, n_costs; /* records used for each part */
  size_t conf[ECO_DCLASS_MAX_CLASSES][ECO_DCLASS_MAX_CLASSES];
  double accuracy; /* out of fold; -1 when not cross-validated */
} eco_dmodel_report;

/* Learns a model from n records over n_classes labels. rep may be NULL.
 * ECO_EINVAL (no labelled record, bad label or level), ECO_ENOMEM. */
int eco_dmodel_fit(eco_dmodel *m, const eco_dmodel_fit_cfg *cfg, const char *const *labels,
                   size_t n_classes, const eco_dtrain_rec *r, size_t n, eco_dmodel_report *rep,
                   eco_error *err);

/* Re-estimates the group statistics of an existing model from records
 * (e.g. the live judge's verdicts), keeping its classifier: every record
 * goes to the group the classifier predicts. When the records carry no
 * cost, the model's cost figures are kept. */
int eco_dmodel_refit_groups(eco_dmodel *m, const eco_dtrain_rec *r, size_t n, double alpha,
                            eco_error *err);

/* What one request's text decides: its class and group. */
typedef struct eco_dmodel_pred {
  int cls;                /* predicted class */
  double p;               /* its probability, 0..1 */
  int bucket;             /* length bucket within the class */
  eco_request_features f; /* task = cls, prompt_chars = len */
} eco_dmodel_pred;

/* Classifies a prompt (bounded time, no allocation). */
void eco_dmodel_predict(const eco_dmodel *m, const char *text, size_t len, eco_dmodel_pred *out);

/* "label/bucket" of a group into buf, e.g. "triviaqa/1". */
void eco_dmodel_group_name(const eco_dmodel *m, int cls, int bucket, char *buf, size_t cap);

/* File I/O (dmodel_io.c). Save writes atomically. Load reads at most
 * ECO_DMODEL_MAX_BYTES and checks everything: ECO_EFORMAT (bad magic,
 * version, size, checksum or value, with the reason in err), ECO_ENOENT,
 * ECO_EIO, ECO_EOVERFLOW, ECO_ENOMEM. On error *m is left empty. */
int eco_dmodel_save(const eco_dmodel *m, const char *path, eco_error *err);
int eco_dmodel_load(const char *path, eco_dmodel *m, eco_error *err);
/* Serialises into a malloc'd buffer / parses a buffer (what save/load use). */
int eco_dmodel_encode(const eco_dmodel *m, unsigned char **out, size_t *len, eco_error *err);
int eco_dmodel_decode(const unsigned char *buf, size_t len, eco_dmodel *m, eco_error *err);

void eco_dmodel_free(eco_dmodel *m);

#endif
