/* ecoinfer directives: a prompt classifier (text -> group) for live traffic.
 *
 * The per-request assignment (assign.h) chooses a level per group of
 * similar prompts. A live request carries no dataset name, so its group
 * must come from its text. This module maps a prompt to one of up to
 * ECO_DCLASS_MAX_CLASSES labels with a multinomial logistic regression over
 * hashed features (Weinberger et al.'s signed feature hashing):
 *
 *   - byte n-grams of orders 3 and 5, case kept ("(A):", "Choices:",
 *     "Which ", "how many"),
 *   - lower-cased word unigrams and bigrams, digit runs folded to one word,
 *     with start and end markers (the first word, "? <end>"),
 *   - shape: length buckets (log2 of the full length, half steps), line
 *     count, digit share, whether it ends with a question mark.
 *
 * Only the first ECO_DCLASS_HEAD and last ECO_DCLASS_TAIL bytes are read
 * (the length features use the full length), so the cost per prompt is
 * bounded whatever its size: at most ECO_DCLASS_MAX_FEATS features, no
 * allocation, a fixed stack buffer. The feature vector is scaled to unit
 * L2 norm (1/sqrt(count) per feature).
 *
 * Training is SGD on the softmax loss with L2 regularisation (weights kept
 * as scale * v, Bottou's trick, so each step touches only the sample's
 * features), a seeded shuffle per epoch: deterministic for a seed.
 *
 * Pure functions: no clock, no I/O, no globals. The model file (weights,
 * labels, group statistics, checksum) is written and read by dmodel.h. */
#ifndef ECO_DIRECTIVE_CLASSIFY_H
#define ECO_DIRECTIVE_CLASSIFY_H

#include "util/status.h"

#include <stddef.h>
#include <stdint.h>

#define ECO_DCLASS_MAX_CLASSES 16   /* = ECO_ASSIGN_MAX_TASKS */
#define ECO_DCLASS_LABEL_MAX   32   /* bytes of a label, NUL included */
#define ECO_DCLASS_HEAD        768  /* bytes read from the start of a prompt */
#define ECO_DCLASS_TAIL        256  /* bytes read from its end */
#define ECO_DCLASS_MAX_FEATS   4096 /* features of one prompt, at most */
#define ECO_DCLASS_MIN_BITS    8
#define ECO_DCLASS_MAX_BITS    20

/* One feature: bits 0..30 the hashed index, bit 31 the sign (1 = -1). */
typedef uint32_t eco_dclass_feat;

typedef struct eco_dclass {
  size_t n_classes;   /* 1..ECO_DCLASS_MAX_CLASSES */
  unsigned hash_bits; /* feature space = 1 << hash_bits */
  char label[ECO_DCLASS_MAX_CLASSES][ECO_DCLASS_LABEL_MAX];
  float bias[ECO_DCLASS_MAX_CLASSES];
  float *w; /* [1 << hash_bits][n_classes], row-major by feature */
} eco_dclass;

typedef struct eco_dclass_cfg {
  unsigned hash_bits; /* default 16 (65,536 x classes weights) */
  unsigned epochs;    /* default 8 */
  double lr;          /* initial learning rate, default 0.5 */
  double l2;          /* L2 regularisation per sample, default 1e-6 */
  uint64_t seed;      /* shuffle seed, default 1 */
} eco_dclass_cfg;

void eco_dclass_cfg_default(eco_dclass_cfg *c);

/* Features of a prompt (text, len bytes; need not be NUL-terminated) for a
 * model of hash_bits, into out[cap]. Returns the number written (at most
 * cap and ECO_DCLASS_MAX_FEATS). */
size_t eco_dclass_features(const char *text, size_t len, unsigned hash_bits, eco_dclass_feat *out,
                           size_t cap);

/* A training sample: its features (from eco_dclass_features with the same
 * hash_bits), its class, and a weight (> 0; 1 = one prompt). */
typedef struct eco_dclass_sample {
  const eco_dclass_feat *feat;
  size_t n_feat;
  int cls;       /* 0..n_classes-1 */
  double weight; /* > 0 */
} eco_dclass_sample;

/* Learns m from n samples over n_classes labels (label[i] names class i,
 * copied). Only the samples whose use[i] is nonzero are used when use is
 * not NULL (cross-validation without copying). m is initialised here; free
 * it with eco_dclass_free. ECO_EINVAL (bad arguments, a label too long or
 * repeated, no sample), ECO_ENOMEM. */
int eco_dclass_train(eco_dclass *m, const eco_dclass_cfg *cfg, const char *const *label,
                     size_t n_classes, const eco_dclass_sample *s, size_t n,
                     const unsigned char *use, eco_error *err);

/* Class probabilities of pre-computed features into p[n_classes] (may be
 * NULL); returns the most probable class. */
int eco_dclass_predict_feats(const eco_dclass *m, const eco_dclass_feat *f, size_t n, double *p);

/* Class probabilities of a prompt into p[n_classes] (may be NULL); returns
 * the most probable class (0 for an empty model). Bounded time and stack. */
int eco_dclass_predict(const eco_dclass *m, const char *text, size_t len, double *p);

/* The class index of a label, or -1. */
int eco_dclass_find(const eco_dclass *m, const char *label);

void eco_dclass_free(eco_dclass *m);

#endif
