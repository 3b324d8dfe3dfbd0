/* bench_batch_step: the cost of one decode step for B sequences against one
 * sequence, without the scheduler around it. Each of the B sequences is
 * prefilled to POS tokens, then single-token decode steps for all of them
 * run as one eco_forward batch; batch sizes are measured in interleaved
 * rounds (so a machine that slows down for a while slows all of them) and
 * the median step time is kept. Prints the aggregate decode rate of each
 * batch size as a ratio to the first size given (batch 1 by default),
 * measured in the same run.
 *
 * Usage: bench_batch_step MODEL [THREADS=2] [POS=64] [STEPS=16] [ROUNDS=7] [B...=1 2 4 8] */
#include "engine/model.h"
#include "util/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
  double *samples = malloc((size_t)n_sizes * (size_t)rounds * sizeof *samples);
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
    for (int i = 0; i < n_sizes; i++) {
      const int B = sizes[i];
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
      samples[i * rounds + r] = (double)(eco_time_mono_ns() - t0) / 1e9 / steps;
      for (int s = 0; s < B; s++) /* back to POS, so every round sees the same context */
        eco_kv_truncate(kv[s], pos);
    }
  printf("model %s, %d threads, context %d, median of %d rounds x %d steps\n", argv[1], threads,
         pos, rounds, steps);
  char head[32];
  snprintf(head, sizeof head, "x batch %d", sizes[0]);
  printf("%5s %12s %14s %10s\n", "batch", "step ms", "agg tok/s", head);
  double base = 0;
  for (int i = 0; i < n_sizes; i++) {
    qsort(samples + i * rounds, (size_t)rounds, sizeof *samples, cmp_double);
    const double med = samples[i * rounds + rounds / 2], rate = sizes[i] / med;
    if (i == 0) base = rate;
    printf("%5d %12.3f %14.1f %10.2f\n", sizes[i], med * 1e3, rate, rate / base);
  }
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
