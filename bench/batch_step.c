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
 *
 * Usage: bench_batch_step MODEL [THREADS=2] [POS=64] [STEPS=16] [ROUNDS=7] [B...=1 2 4 8] */
#include "engine/model.h"
#include "util/cpu.h"
#include "util/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses LEVELS (comma-separated level names) into lv; returns the count,
 * 0 when unset, -1 on an unknown name. */
static int parse_levels(const char *spec, eco_simd_level *lv, int cap) {
  if (!spec || !*spec) return 0;
  int n = 0;
  char buf[256];
  snprintf(buf, sizeof buf, "%s", spec);
  for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    int found = -1;
    for (int l = ECO_SIMD_SCALAR; l <= ECO_SIMD_AVX512VNNI; l++)
      if (strcmp(t, eco_simd_name((eco_simd_level)l)) == 0) found = l;
    if (found < 0 || n == cap) return -1;
    lv[n++] = (eco_simd_level)found;
  }
  return n;
}

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench_batch_step MODEL [THREADS] [POS] [STEPS] [ROUNDS] [B...]\n");
    return 2;
  }
  const int threads = argc > 2 ? atoi(argv[2]) : 2, pos = argc > 3 ? atoi(argv[3]) : 64;
  const int steps = argc > 4 ? atoi(argv[4]) : 16, rounds = argc > 5 ? atoi(argv[5]) : 7;
  int sizes[16] = {1, 2, 4, 8}, n_sizes = 4;
  if (argc > 6) {
    n_sizes = 0;
    for (int i = 6; i < argc && n_sizes < 16; i++)
      sizes[n_sizes++] = atoi(argv[i]);
  }
  int max_b = 0;
  for (int i = 0; i < n_sizes; i++) {
    if (sizes[i] < 1 || sizes[i] > 64) {
      fprintf(stderr, "batch sizes must be in 1..64\n");
      return 2;
    }
    max_b = sizes[i] > max_b ? sizes[i] : max_b;
  }
  if (threads < 1 || pos < 1 || steps < 1 || rounds < 1) {
    fprintf(stderr, "THREADS, POS, STEPS and ROUNDS must be positive\n");
    return 2;
  }
  eco_simd_level levels[8];
  int n_levels = parse_levels(getenv("LEVELS"), levels, 8);
  if (n_levels < 0) {
    fprintf(stderr, "LEVELS: comma-separated scalar, avx2, avx512, avx512vnni or neon\n");
    return 2;
  }
  eco_error err = {0};
  eco_model *m;
  if (eco_model_load(argv[1], &m, &err)) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  const int ctx_len = pos + steps * rounds + 8;
  eco_ctx *c;
  if (eco_ctx_new(m, threads, pos > max_b ? pos : max_b, &c, &err)) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  const int V = m->hp.n_vocab;
  eco_kv **kv = calloc((size_t)max_b, sizeof *kv);
  int32_t *prompt = malloc((size_t)pos * sizeof *prompt), *tok = malloc((size_t)max_b * 4),
          *tpos = malloc((size_t)max_b * 4);
  float *logits = malloc((size_t)max_b * (size_t)V * sizeof *logits);
  uint8_t *want = malloc((size_t)max_b);
  if (n_levels == 0) levels[n_levels++] = eco_ctx_simd(c);
  for (int l = 0; l < n_levels; l++) {
    eco_ctx_set_simd(c, levels[l]);
    if (eco_ctx_simd(c) != levels[l]) {
      fprintf(stderr, "level %s is not available on this CPU\n", eco_simd_name(levels[l]));
      return 1;
    }
  }
  const int n_cells = n_sizes * n_levels;
  double *samples = malloc((size_t)n_cells * (size_t)rounds * sizeof *samples);
  if (!kv || !prompt || !tok || !tpos || !logits || !want || !samples) return 1;
  memset(want, 1, (size_t)max_b);
  for (int s = 0; s < max_b; s++) {
    if (eco_kv_new(m, ctx_len, &kv[s], &err)) {
      fprintf(stderr, "%s\n", err.msg);
      return 1;
    }
    for (int i = 0; i < pos; i++)
      prompt[i] = (int32_t)((s * 7919 + i * 104729 + 3) % V);
    if (eco_forward_seq(c, kv[s], prompt, pos, NULL, &err)) {
      fprintf(stderr, "%s\n", err.msg);
      return 1;
    }
  }
  for (int r = 0; r < rounds; r++)
    for (int cell = 0; cell < n_cells; cell++) {
      const int i = cell % n_sizes, B = sizes[i];
      eco_ctx_set_simd(c, levels[cell / n_sizes]);
      const uint64_t t0 = eco_time_mono_ns();
      for (int st = 0; st < steps; st++) {
        for (int s = 0; s < B; s++) {
          tok[s] = (int32_t)((s * 31 + st * 17 + r) % V);
          tpos[s] = kv[s]->n_past;
        }
        eco_batch b = {.n = B, .token = tok, .pos = tpos, .kv = kv, .logits = want};
        if (eco_forward(c, &b, logits, &err)) {
          fprintf(stderr, "%s\n", err.msg);
          return 1;
        }
      }
      samples[cell * rounds + r] = (double)(eco_time_mono_ns() - t0) / 1e9 / steps;
      for (int s = 0; s < B; s++) /* back to POS, so every round sees the same context */
        eco_kv_truncate(kv[s], pos);
    }
  printf("model %s, %d threads, context %d, median of %d rounds x %d steps\n", argv[1], threads,
         pos, rounds, steps);
  char head[32];
  snprintf(head, sizeof head, "x batch %d", sizes[0]);
  printf("%-11s %5s %12s %14s %10s %10s\n", "kernels", "batch", "step ms", "agg tok/s", head,
         n_levels > 1 ? "x level 1" : "");
  double *rate = malloc((size_t)n_cells * sizeof *rate);
  if (!rate) return 1;
  for (int cell = 0; cell < n_cells; cell++) {
    const int i = cell % n_sizes;
    qsort(samples + cell * rounds, (size_t)rounds, sizeof *samples, cmp_double);
    const double med = samples[cell * rounds + rounds / 2];
    rate[cell] = sizes[i] / med;
    const double base = rate[cell - i], first = rate[i];
    printf("%-11s %5d %12.3f %14.1f %10.2f", eco_simd_name(levels[cell / n_sizes]), sizes[i],
           med * 1e3, rate[cell], rate[cell] / base);
    if (n_levels > 1) printf(" %10.2f", rate[cell] / first);
    printf("\n");
  }
  free(rate);
  for (int s = 0; s < max_b; s++)
    eco_kv_free(kv[s]);
  eco_ctx_free(c);
  eco_model_free(m);
  free(kv);
  free(prompt);
  free(tok);
  free(tpos);
  free(logits);
  free(want);
  free(samples);
  return 0;
}
