/* bench_directive_classify: the cost of classifying one prompt (features,
 * logistic regression, length bucket: eco_dmodel_predict) against what the
 * router already pays for the same request in the same run: parsing its
 * JSON body with jansson. Also the worst case (a 64 KiB prompt: only its
 * head and tail are read) and the 20 us budget of issue #17.
 *
 * Prompts: the Sprout artifact's (all six datasets, ../shared/data/sprout)
 * when present, else synthetic ones (said so in the output). The model is
 * trained on those prompts (16-bit feature hashing, 6 classes).
 *
 * Times are the thread's CPU time (the machine is shared).
 * Usage: bench_directive_classify [SPROUT_DIR] [ROUNDS] [HASH_BITS] */
#include "directive/dmodel.h"
#include "directive/dtrain.h"
#include "sim/sprout.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* CPU time of this thread: on a shared machine the time the thread is not
 * running does not count (cache and memory contention still do) */
static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static uint64_t lcg(uint64_t *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return *s >> 33;
}

/* synthetic prompts of six kinds when the shared data is absent */
static void synth(eco_dtrain_set *set, size_t n) {
  static const char *const lab[] = {"ask", "maths", "choice", "search", "trivia", "science"};
  static const char *const w[] = {"river",  "planet", "poem",    "engine",  "market",
                                  "violin", "castle", "protein", "theorem", "glacier"};
  uint64_t r = 1;
  for (size_t i = 0; i < n; i++) {
    char b[512];
    int k = (int)(i % 6);
    snprintf(b, sizeof b,
             k == 0   ? "Write a short %s about the %s and the %s."
             : k == 1 ? "A %s costs 12 dollars and a %s 7. How much for 3 of each %s?"
             : k == 2 ? "Which is a %s?\n(A): %s\n(B): %s\n(C): none"
             : k == 3 ? "where is the biggest %s near the %s %s"
             : k == 4 ? "Which %s is famous for its %s and its %s?"
                      : "Is a %s a good or a service?\nChoices:\n(A): %s\n(B): %s",
             w[lcg(&r) % 10], w[lcg(&r) % 10], w[lcg(&r) % 10]);
    eco_dtrain_add(set, b, strlen(b), lab[k], -1, NULL, NULL, NULL);
  }
}

/* What the report prints: per-prompt times in seconds (CPU time). */
typedef struct classify_result {
  size_t n, bytes;    /* prompts, their total bytes */
  double *tc, *tj;    /* [rounds] sorted: classify, body parse per prompt */
  double tbig, tbigj; /* the 64 KiB prompt: classify, body parse */
  size_t sink;        /* folded results, printed so nothing is optimized out */
} classify_result;

/* Fills set with the Sprout prompts in dir, else synthetic ones; *source
 * says which. Returns 0 or -1. */
static int load_prompts(const char *dir, eco_dtrain_set *set, const char **source) {
  eco_sprout_data d;
  eco_error err = {0};
  *source = "the Sprout artifact's prompts (6 datasets)";
  if (eco_sprout_data_load(dir, &d, &err) == 0) {
    int rc = eco_sprout_to_train(&d, set, &err);
    eco_sprout_data_free(&d);
    return rc ? -1 : 0;
  }
  *source = "SYNTHETIC prompts (Sprout data absent)";
  synth(set, 12000);
  return 0;
}

/* Trains the classifier on every prompt of set (no inner folds). */
static int train(const eco_dtrain_set *set, int bits, eco_dmodel *m) {
  eco_dmodel_fit_cfg fc;
  eco_dmodel_fit_cfg_default(&fc);
  fc.inner_folds = 0;
  fc.cls.hash_bits = (unsigned)bits;
  const char *labels[ECO_DCLASS_MAX_CLASSES];
  for (size_t c = 0; c < set->n_labels; c++)
    labels[c] = set->label[c];
  eco_error err = {0};
  if (eco_dmodel_fit(m, &fc, labels, set->n_labels, set->rec, set->n, NULL, &err)) {
    fprintf(stderr, "train: %s\n", err.msg);
    return -1;
  }
  return 0;
}

/* Interleaved rounds over the same prompts: classify each, then parse each
 * one's request body (the bodies the router parses); sorts the per-round
 * means. Returns 0 or -1 when out of memory. */
static int measure_prompts(const eco_dmodel *m, const eco_dtrain_set *set, int rounds,
                           classify_result *res) {
  const size_t n = set->n;
  char **body = calloc(n ? n : 1, sizeof *body);
  if (!body) return -1;
  for (size_t i = 0; i < n; i++) {
    json_t *o = json_pack("{s:s,s:[{s:s,s:s%}]}", "model", "m", "messages", "role", "user",
                          "content", set->rec[i].text, set->rec[i].len);
    body[i] = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    res->bytes += set->rec[i].len;
  }
  volatile size_t sink = 0;
  for (int r = 0; r < rounds; r++) { /* interleaved rounds, same prompts */
    double t0 = now_s();
    for (size_t i = 0; i < n; i++) {
      eco_dmodel_pred p;
      eco_dmodel_predict(m, set->rec[i].text, set->rec[i].len, &p);
      sink += (size_t)p.cls + (size_t)p.bucket;
    }
    res->tc[r] = (now_s() - t0) / (double)n;
    t0 = now_s();
    for (size_t i = 0; i < n; i++) {
      json_t *o = json_loads(body[i], 0, NULL);
      sink += o != NULL;
      json_decref(o);
    }
    res->tj[r] = (now_s() - t0) / (double)n;
  }
  res->n = n;
  res->sink += sink;
  qsort(res->tc, (size_t)rounds, sizeof *res->tc, cmp_d);
  qsort(res->tj, (size_t)rounds, sizeof *res->tj, cmp_d);
  for (size_t i = 0; i < n; i++)
    free(body[i]);
  free(body);
  return 0;
}

/* The worst case: a 64 KiB prompt (the classifier reads 1 KiB of it) and
 * the same prompt's body parse. Returns 0 or -1 when out of memory. */
static int measure_worst(const eco_dmodel *m, classify_result *res) {
  const size_t big = 65536;
  char *t = malloc(big + 1), *bb = NULL;
  if (!t) return -1;
  for (size_t i = 0; i < big; i++)
    t[i] = " etaoinshrdlucmfwypvbgkqjxz.,?\n0123456789"[(i * 7 + i / 11) % 41];
  t[big] = '\0';
  const int reps = 2000;
  volatile size_t sink = 0;
  double t0 = now_s();
  for (int i = 0; i < reps; i++) {
    eco_dmodel_pred p;
    eco_dmodel_predict(m, t, big, &p);
    sink += (size_t)p.cls;
  }
  res->tbig = (now_s() - t0) / reps;
  json_t *bo = json_pack("{s:[{s:s,s:s}]}", "messages", "role", "user", "content", t);
  bb = json_dumps(bo, JSON_COMPACT);
  json_decref(bo);
  t0 = now_s();
  for (int i = 0; i < reps / 10; i++) {
    json_t *o = json_loads(bb, 0, NULL);
    sink += o != NULL;
    json_decref(o);
  }
  res->tbigj = (now_s() - t0) / (reps / 10);
  res->sink += sink;
  free(bb);
  free(t);
  return 0;
}

static void report(const char *source, int rounds, const eco_dmodel *m,
                   const classify_result *res) {
  const double med_c = res->tc[rounds / 2], med_j = res->tj[rounds / 2];
  const double tbig = res->tbig, tbigj = res->tbigj;
  const size_t model_bytes = ((size_t)1 << m->cls.hash_bits) * m->cls.n_classes * sizeof(float);
  printf("bench_directive_classify: %zu prompts from %s, mean %.0f bytes; %d rounds (median)\n",
         res->n, source, (double)res->bytes / (double)res->n, rounds);
  printf("model: %zu classes, 2^%u features, %.2f MiB of weights; per prompt: no allocation, "
         "%zu bytes of stack\n",
         m->cls.n_classes, m->cls.hash_bits, (double)model_bytes / 1048576.0,
         (size_t)ECO_DCLASS_MAX_FEATS * sizeof(eco_dclass_feat));
  printf("%-44s %10.2f us\n", "classify one prompt (eco_dmodel_predict)", med_c * 1e6);
  printf("%-44s %10.2f us\n", "peer: jansson parse of its request body", med_j * 1e6);
  printf("%-44s %10.2f\n", "ratio classify / parse", med_c / med_j);
  printf("%-44s %10.2f us (parse %.2f us, ratio %.3f)\n", "64 KiB prompt (worst case)", tbig * 1e6,
         tbigj * 1e6, tbig / tbigj);
  printf("%-44s %10.2f (budget 20 us; %s)\n", "worst case / budget", tbig / 20e-6,
         tbig < 20e-6 && med_c < 20e-6 ? "met" : "NOT met");
  printf("(rounds: classify %.2f..%.2f us, parse %.2f..%.2f us) %zu\n", res->tc[0] * 1e6,
         res->tc[rounds - 1] * 1e6, res->tj[0] * 1e6, res->tj[rounds - 1] * 1e6,
         (size_t)(res->sink & 1));
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : "../shared/data/sprout", *source = NULL;
  int rounds = argc > 2 ? atoi(argv[2]) : 5, bits = argc > 3 ? atoi(argv[3]) : 16;
  if (rounds < 1) rounds = 1;
  eco_dtrain_set set;
  eco_dtrain_init(&set, 3);
  eco_dmodel m;
  if (load_prompts(dir, &set, &source) || train(&set, bits, &m)) return 1;
  classify_result res = {0};
  res.tc = malloc((size_t)rounds * sizeof *res.tc);
  res.tj = malloc((size_t)rounds * sizeof *res.tj);
  int rc = 1;
  if (res.tc && res.tj && measure_prompts(&m, &set, rounds, &res) == 0 &&
      measure_worst(&m, &res) == 0) {
    report(source, rounds, &m, &res);
    rc = 0;
  }
  free(res.tc);
  free(res.tj);
  eco_dmodel_free(&m);
  eco_dtrain_free(&set);
  return rc;
}
