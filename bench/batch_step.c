/* bench_batch_step: the cost of one decode step for B sequences against one
 * sequence, without the scheduler around it. Each of the B sequences is
 * prefilled to POS tokens, then single-token decode steps for all of them
 * run as one eco_forward batch; batch sizes are measured in interleaved
 * rounds (so a machine that slows down for a while slows all of them) and
 * the median step time is kept. Prints the aggregate decode rate of each
 * batch size as a ratio to the first size given (batch 1 by default),
 * measured in the same run.
 *
 * With LEVELS=avx2,avx512vnni (kernel levels, as ECOINFER_CPU_MAX names
 * them) in the environment, every round runs every batch size at each
 * level in turn, and each row also gives its rate against the first
 * level's rate at the same batch size: kernel variants compared in one run.
 * With PAIR_MIN=8192,12288 (bytes; see eco_ctx_set_pair_min) every level
 * runs once per threshold for the two-group kernels, and with KV=f32,f16
 * once per KV cache type (each type its own prefilled caches), all compared
 * the same way. Without KV the caches are the product's type (F16).
 *
 * Usage: bench_batch_step MODEL [THREADS=2] [POS=64] [STEPS=16] [ROUNDS=7] [B...=1 2 4 8] */
#include "engine/model.h"
#include "util/cpu.h"
#include "util/timeutil.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Splits spec at commas and hands each item to one(item, i, out); returns
 * the count, 0 when spec is unset or empty, -1 when an item is bad or there
 * are more than cap. */
static int parse_list(const char *spec, int cap, bool (*one)(const char *item, int i, void *out),
                      void *out) {
  if (!spec || !*spec) return 0;
  int n = 0;
  char buf[256];
  snprintf(buf, sizeof buf, "%s", spec);
  for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    if (n == cap || !one(t, n, out)) return -1;
    n++;
  }
  return n;
}

/* LEVELS items: kernel level names, as ECOINFER_CPU_MAX names them. */
static bool one_level(const char *item, int i, void *out) {
  for (int l = ECO_SIMD_SCALAR; l <= ECO_SIMD_AVX512VNNI; l++)
    if (strcmp(item, eco_simd_name((eco_simd_level)l)) == 0) {
      ((eco_simd_level *)out)[i] = (eco_simd_level)l;
      return true;
    }
  return false;
}

/* PAIR_MIN items: byte counts >= 1. */
static bool one_pair_min(const char *item, int i, void *out) {
  char *end = NULL;
  const long v = strtol(item, &end, 10);
  if (*end || v < 1) return false;
  ((size_t *)out)[i] = (size_t)v;
  return true;
}

/* KV items: f32 or f16. */
static bool one_kv_type(const char *item, int i, void *out) {
  return eco_kv_type_parse(item, &((eco_ggml_type *)out)[i]) == 0;
}

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* The command line, LEVELS, PAIR_MIN and KV. Variants (a level, a pairing
 * threshold, a KV cache type: every combination, variant_of) are compared
 * in interleaved rounds. */
typedef struct bench_args {
  const char *model;
  int threads, pos, steps, rounds; /* pos: tokens prefilled per sequence */
  int sizes[16], n_sizes, max_b;   /* batch sizes (sequences), the largest */
  eco_simd_level levels[8];        /* kernel levels to compare; none: the context's */
  int n_levels;
  size_t pmins[8]; /* bytes: two-group kernel thresholds; none: the default */
  int n_pmins;
  eco_ggml_type kvts[2]; /* KV cache types; none: the product's (ECO_KV_TYPE_DEFAULT) */
  int n_kvts, n_variants;
} bench_args;

/* Variant v of a: its kernel level, pairing threshold and KV cache type
 * (the index into kvts, which is also the index of its caches). */
typedef struct variant {
  eco_simd_level level;
  size_t pair_min; /* bytes */
  int kvt;
} variant;

static variant variant_of(const bench_args *a, int v) {
  return (variant){.level = a->levels[v / (a->n_pmins * a->n_kvts)],
                   .pair_min = a->pmins[v / a->n_kvts % a->n_pmins],
                   .kvt = v % a->n_kvts};
}

/* What the measurement uses; everything is freed by bench_free. */
typedef struct bench_state {
  eco_model *m;
  eco_ctx *c;
  eco_kv **kv;         /* [n_kvts][max_b], each prefilled to pos tokens */
  int n_kv;            /* sequences made and prefilled per type (max_b after setup) */
  int32_t *tok, *tpos; /* [max_b] the step's token and position per sequence */
  float *logits;       /* [max_b][n_vocab] */
  uint8_t *want;       /* [max_b] logits wanted: all */
  double *samples;     /* [n_sizes * n_levels][rounds] seconds per step */
} bench_state;

/* Parses argv and LEVELS into a; returns 0, or 2 after a message on stderr. */
static int parse_args(int argc, char **argv, bench_args *a) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench_batch_step MODEL [THREADS] [POS] [STEPS] [ROUNDS] [B...]\n");
    return 2;
  }
  a->model = argv[1];
  a->threads = argc > 2 ? atoi(argv[2]) : 2, a->pos = argc > 3 ? atoi(argv[3]) : 64;
  a->steps = argc > 4 ? atoi(argv[4]) : 16, a->rounds = argc > 5 ? atoi(argv[5]) : 7;
  static const int def_sizes[] = {1, 2, 4, 8};
  memcpy(a->sizes, def_sizes, sizeof def_sizes);
  a->n_sizes = 4;
  if (argc > 6) {
    a->n_sizes = 0;
    for (int i = 6; i < argc && a->n_sizes < 16; i++)
      a->sizes[a->n_sizes++] = atoi(argv[i]);
  }
  a->max_b = 0;
  for (int i = 0; i < a->n_sizes; i++) {
    if (a->sizes[i] < 1 || a->sizes[i] > 64) {
      fprintf(stderr, "batch sizes must be in 1..64\n");
      return 2;
    }
    a->max_b = a->sizes[i] > a->max_b ? a->sizes[i] : a->max_b;
  }
  if (a->threads < 1 || a->pos < 1 || a->steps < 1 || a->rounds < 1) {
    fprintf(stderr, "THREADS, POS, STEPS and ROUNDS must be positive\n");
    return 2;
  }
  a->n_levels = parse_list(getenv("LEVELS"), 8, one_level, a->levels);
  if (a->n_levels < 0) {
    fprintf(stderr, "LEVELS: comma-separated scalar, avx2, avx512, avx512vnni or neon\n");
    return 2;
  }
  a->n_pmins = parse_list(getenv("PAIR_MIN"), 8, one_pair_min, a->pmins);
  if (a->n_pmins < 0) {
    fprintf(stderr, "PAIR_MIN: comma-separated positive byte counts (at most 8)\n");
    return 2;
  }
  if (a->n_pmins == 0) a->pmins[a->n_pmins++] = ECO_PAIR_MIN_GROUP_BYTES;
  a->n_kvts = parse_list(getenv("KV"), 2, one_kv_type, a->kvts);
  if (a->n_kvts < 0) {
    fprintf(stderr, "KV: f32, f16 or both, comma-separated\n");
    return 2;
  }
  if (a->n_kvts == 0) a->kvts[a->n_kvts++] = ECO_KV_TYPE_DEFAULT;
  return 0;
}

/* Prefills every sequence's cache to a->pos tokens of a fixed pseudo-random
 * prompt; returns 0, or 1 after a message on stderr. */
static int prefill(const bench_args *a, bench_state *b) {
  const int V = b->m->hp.n_vocab, ctx_len = a->pos + a->steps * a->rounds + 8;
  eco_error err = {0};
  int32_t *prompt = malloc((size_t)a->pos * sizeof *prompt);
  if (!prompt) return 1;
  for (int k = 0; k < a->n_kvts; k++)
    for (int s = 0; s < a->max_b; s++) {
      eco_kv **kv = &b->kv[k * a->max_b + s];
      if (eco_kv_new_type(b->m, ctx_len, a->kvts[k], kv, &err)) goto fail;
      for (int i = 0; i < a->pos; i++)
        prompt[i] = (int32_t)((s * 7919 + i * 104729 + 3) % V);
      if (eco_forward_seq(b->c, *kv, prompt, a->pos, NULL, &err)) goto fail;
    }
  b->n_kv = a->max_b;
  free(prompt);
  return 0;
fail:
  fprintf(stderr, "%s\n", err.msg);
  free(prompt);
  return 1;
}

/* Loads the model, makes the context, checks the levels (the context's own
 * when none were given) and prefills; returns 0, or 1 (a message on stderr,
 * except when out of memory). */
static int setup(bench_args *a, bench_state *b) {
  eco_error err = {0};
  eco_model *m = NULL;
  eco_ctx *c = NULL;
  const int rc = eco_model_load(a->model, &m, &err) ||
                 eco_ctx_new(m, a->threads, a->pos > a->max_b ? a->pos : a->max_b, &c, &err);
  b->m = m, b->c = c;
  if (rc) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  const size_t max_b = (size_t)a->max_b;
  b->kv = calloc(max_b * (size_t)a->n_kvts, sizeof *b->kv);
  b->tok = malloc(max_b * sizeof *b->tok);
  b->tpos = malloc(max_b * sizeof *b->tpos);
  b->logits = malloc(max_b * (size_t)b->m->hp.n_vocab * sizeof *b->logits);
  b->want = malloc(max_b);
  if (a->n_levels == 0) a->levels[a->n_levels++] = eco_ctx_simd(b->c);
  a->n_variants = a->n_levels * a->n_pmins * a->n_kvts;
  for (int l = 0; l < a->n_levels; l++) {
    eco_ctx_set_simd(b->c, a->levels[l]);
    if (eco_ctx_simd(b->c) != a->levels[l]) {
      fprintf(stderr, "level %s is not available on this CPU\n", eco_simd_name(a->levels[l]));
      return 1;
    }
  }
  b->samples =
      malloc((size_t)(a->n_sizes * a->n_variants) * (size_t)a->rounds * sizeof *b->samples);
  if (!b->kv || !b->tok || !b->tpos || !b->logits || !b->want || !b->samples) return 1;
  memset(b->want, 1, max_b);
  return prefill(a, b);
}

/* The measured loop: every round runs every (variant, batch size) cell for
 * a->steps decode steps and keeps its seconds per step; returns 0, or 1
 * after a message on stderr. */
static int measure(const bench_args *a, bench_state *b) {
  const int V = b->m->hp.n_vocab, n_cells = a->n_sizes * a->n_variants;
  eco_error err = {0};
  for (int r = 0; r < a->rounds; r++)
    for (int cell = 0; cell < n_cells; cell++) {
      const int B = a->sizes[cell % a->n_sizes];
      if (B > b->n_kv) return 1; /* cannot be: max_b is the largest size */
      const variant va = variant_of(a, cell / a->n_sizes);
      eco_ctx_set_simd(b->c, va.level);
      eco_ctx_set_pair_min(b->c, va.pair_min);
      eco_kv **kv = b->kv + (size_t)va.kvt * (size_t)a->max_b;
      for (int s = 0; s < B; s++)
        if (!kv[s]) return 1; /* cannot be: prefill made them all */
      const uint64_t t0 = eco_time_mono_ns();
      for (int st = 0; st < a->steps; st++) {
        for (int s = 0; s < B; s++) {
          b->tok[s] = (int32_t)((s * 31 + st * 17 + r) % V);
          b->tpos[s] = kv[s]->n_past;
        }
        eco_batch batch = {.n = B, .token = b->tok, .pos = b->tpos, .kv = kv, .logits = b->want};
        if (eco_forward(b->c, &batch, b->logits, &err)) {
          fprintf(stderr, "%s\n", err.msg);
          return 1;
        }
      }
      b->samples[cell * a->rounds + r] = (double)(eco_time_mono_ns() - t0) / 1e9 / a->steps;
      for (int s = 0; s < B; s++) /* back to POS, so every round sees the same context */
        eco_kv_truncate(kv[s], a->pos);
    }
  return 0;
}

/* Prints the table: median step time and aggregate rate per cell, against
 * the first batch size and (with several variants) the first variant. */
static int report(const bench_args *a, double *samples) {
  const int n_sizes = a->n_sizes, n_cells = n_sizes * a->n_variants, rounds = a->rounds;
  printf("model %s, %d threads, context %d, median of %d rounds x %d steps\n", a->model, a->threads,
         a->pos, rounds, a->steps);
  char head[32];
  snprintf(head, sizeof head, "x batch %d", a->sizes[0]);
  printf("%-11s %9s %4s %5s %12s %14s %10s %10s\n", "kernels", "pair min", "kv", "batch", "step ms",
         "agg tok/s", head, a->n_variants > 1 ? "x variant 1" : "");
  double *rate = malloc((size_t)n_cells * sizeof *rate);
  if (!rate) return 1;
  for (int cell = 0; cell < n_cells; cell++) {
    const int i = cell % n_sizes;
    const variant va = variant_of(a, cell / n_sizes);
    qsort(samples + cell * rounds, (size_t)rounds, sizeof *samples, cmp_double);
    const double med = samples[cell * rounds + rounds / 2];
    rate[cell] = a->sizes[i] / med;
    const double base = rate[cell - i], first = rate[i];
    printf("%-11s %9zu %4s %5d %12.3f %14.1f %10.2f", eco_simd_name(va.level), va.pair_min,
           eco_kv_type_name(a->kvts[va.kvt]), a->sizes[i], med * 1e3, rate[cell],
           rate[cell] / base);
    if (a->n_variants > 1) printf(" %10.2f", rate[cell] / first);
    printf("\n");
  }
  free(rate);
  return 0;
}

static void bench_free(const bench_args *a, bench_state *b) {
  for (int s = 0; b->kv && s < a->max_b * a->n_kvts; s++)
    eco_kv_free(b->kv[s]);
  eco_ctx_free(b->c);
  eco_model_free(b->m);
  free(b->kv);
  free(b->tok);
  free(b->tpos);
  free(b->logits);
  free(b->want);
  free(b->samples);
}

int main(int argc, char **argv) {
  bench_args a = {0};
  int rc = parse_args(argc, argv, &a);
  if (rc) return rc;
  bench_state b = {0};
  rc = setup(&a, &b);
  if (!rc) rc = measure(&a, &b);
  if (!rc) rc = report(&a, b.samples);
  bench_free(&a, &b);
  return rc;
}
