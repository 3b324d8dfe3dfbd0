/* bench_engine_matmul: single-thread matrix x batch throughput per weight
 * type, against this machine's read bandwidth measured in the same run.
 * Shows how a batch of activation vectors shares each pass over the weights
 * (issue 5): weight GB/s at batch 1 is bounded by memory bandwidth; at larger
 * batches the same bytes serve more tokens.
 * The packed (8-row) kernels are timed at every kernel level of this CPU
 * from AVX2 up (or the levels in LEVELS=avx2,avx512vnni), interleaved, with
 * each level's rate as a ratio to the first level's; where a level has a
 * two-group kernel and the batch is wider than 1 they run in pairs of
 * groups ("x16" rows), as the engine runs them; PAIRS=0 in the environment
 * times the one-group kernels instead.
 * Usage: bench_engine_matmul [ROWS COLS [TYPE...]]   (default 4096 x 4096,
 * every type; TYPE as eco_ggml_type_name: Q4_K, IQ4_XS, ...) */
#include "engine/kernels.h"
#include "engine/pack.h"
#include "util/cpu.h"
#include "util/timeutil.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double read_bw(size_t bytes) {
  uint64_t *b = malloc(bytes);
  if (!b) return 0;
  for (size_t i = 0; i < bytes / 8; i++)
    b[i] = i;
  double best = 0;
  uint64_t sink = 0;
  for (int r = 0; r < 4; r++) {
    uint64_t t0 = eco_time_mono_ns(), s0 = 0, s1 = 0;
    for (size_t i = 0; i + 2 <= bytes / 8; i += 2) {
      s0 += b[i];
      s1 += b[i + 1];
    }
    sink += s0 + s1;
    double s = (double)(eco_time_mono_ns() - t0) / 1e9;
    if (r && bytes / s > best) best = (double)bytes / s;
  }
  free(b);
  return sink == 42 ? 0 : best;
}

int main(int argc, char **argv) {
  int rows = argc > 2 ? atoi(argv[1]) : 4096, cols = argc > 2 ? atoi(argv[2]) : 4096;
  if (rows <= 0 || cols <= 0 || cols % 256) {
    fprintf(stderr, "COLS must be a positive multiple of 256\n");
    return 2;
  }
  eco_cpu_info ci;
  eco_cpu_detect(&ci);
  eco_kernels k;
  eco_kernels_init(&k, ci.level);
  const double bw = read_bw((size_t)512 << 20);
  printf("machine: %s, %s kernels, read bandwidth %.2f GB/s (1 thread; shared, busy machine)\n",
         ci.model, eco_simd_name(k.level), bw / 1e9);
  /* the packed kernels' levels: AVX2 and up, or LEVELS */
  eco_kernels lk[8];
  int n_levels = 0;
  const char *spec = getenv("LEVELS"), *pairs_env = getenv("PAIRS");
  const bool no_pairs = pairs_env && strcmp(pairs_env, "0") == 0;
  for (int l = ECO_SIMD_AVX2; l <= (int)ci.level && n_levels < 8; l++) {
    if (spec && *spec) {
      const char *name = eco_simd_name((eco_simd_level)l), *hit = strstr(spec, name);
      const size_t len = strlen(name);
      if (!hit || (hit != spec && hit[-1] != ',') || (hit[len] != ',' && hit[len] != '\0'))
        continue;
    }
    eco_kernels_init(&lk[n_levels], (eco_simd_level)l);
    if (no_pairs) /* the one-group kernels at every batch, for comparison */
      memset(lk[n_levels].pdot2, 0, sizeof lk[n_levels].pdot2);
    if (lk[n_levels].level == (eco_simd_level)l) n_levels++;
  }
  if (n_levels == 0) lk[n_levels++] = k;
  printf("%-6s %6s %12s %14s %12s   %-10s %6s\n", "type", "batch", "weight GB/s", "of bandwidth",
         "GMAC/s", "packed", "x 1st");
  const eco_ggml_type types[] = {ECO_GGML_F16,  ECO_GGML_Q8_0,   ECO_GGML_Q4_0, ECO_GGML_Q5_0,
                                 ECO_GGML_Q5_1, ECO_GGML_IQ4_NL, ECO_GGML_Q2_K, ECO_GGML_Q3_K,
                                 ECO_GGML_Q4_K, ECO_GGML_Q5_K,   ECO_GGML_Q6_K, ECO_GGML_IQ4_XS};
  float *row = malloc((size_t)cols * sizeof *row);
  for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
    const eco_ggml_type t = types[ti], at = eco_quant_act_type(t);
    bool wanted = argc <= 3;
    for (int a = 3; a < argc; a++)
      wanted |= strcmp(argv[a], eco_ggml_type_name(t)) == 0;
    if (!wanted) continue;
    const size_t rb = eco_quant_row_bytes(t, cols), ab = eco_quant_row_bytes(at, cols);
    uint8_t *w = malloc(rb * (size_t)rows), *x = malloc(ab * 16);
    float out[16];
    for (int r = 0; r < rows; r++) {
      for (int j = 0; j < cols; j++)
        row[j] = (float)((r * 31 + j * 17) % 101) / 101.f - 0.5f;
      eco_quantize_row(t, row, w + rb * (size_t)r, cols);
    }
    for (int b = 0; b < 16; b++)
      eco_quantize_row(at, row, x + ab * (size_t)b, cols);
    const int batches[] = {1, 4, 16};
    for (int bi = 0; bi < 3; bi++) {
      const int nb = batches[bi];
      double best = 1e30;
      for (int rep = 0; rep < 3; rep++) {
        uint64_t t0 = eco_time_mono_ns();
        for (int r = 0; r < rows; r++)
          k.dot[t](cols, w + rb * (size_t)r, x, ab, nb, out);
        double s = (double)(eco_time_mono_ns() - t0) / 1e9;
        if (s < best) best = s;
      }
      const double gbs = (double)rb * rows / best;
      printf("%-6s %6d %12.2f %13.0f%% %12.2f\n", eco_ggml_type_name(t), nb, gbs / 1e9,
             100 * gbs / bw, (double)rows * cols * nb / best / 1e9);
    }
    if (k.pdot[t]) { /* the same matrix in the 8-row packed layout, at each level */
      const bool split = eco_pack_split_act(t);
      const size_t gb = eco_pack_group_bytes(t, cols),
                   pab = split ? eco_pack_act_bytes(cols) : eco_quant_row_bytes(at, cols);
      const int64_t groups = (rows + 7) / 8;
      uint8_t *pw = malloc(gb * (size_t)groups), *px = malloc(pab * 16);
      float pout[16 * 16];
      for (int64_t g = 0; g < groups; g++)
        eco_pack_group(t, cols, w, rb, rows, g, pw + gb * (size_t)g);
      for (int b = 0; b < 16; b++)
        if (split)
          eco_pack_act(row, px + pab * (size_t)b, cols);
        else
          eco_quantize_row(at, row, px + pab * (size_t)b, cols);
      for (int bi = 0; bi < 3; bi++) {
        const int nb = batches[bi];
        double best[8];
        for (int l = 0; l < n_levels; l++)
          best[l] = 1e30;
        for (int rep = 0; rep < 3; rep++)
          for (int l = 0; l < n_levels; l++) {
            const uint64_t t0 = eco_time_mono_ns();
            int64_t g = 0;
            if (nb > 1 && lk[l].pdot2[t]) /* pairs of groups, as the engine runs batches */
              for (; g + 1 < groups; g += 2)
                lk[l].pdot2[t](cols, pw + gb * (size_t)g, gb, px, pab, nb, pout, 16);
            for (; g < groups; g++)
              lk[l].pdot[t](cols, pw + gb * (size_t)g, px, pab, nb, pout, 8);
            const double s = (double)(eco_time_mono_ns() - t0) / 1e9;
            if (s < best[l]) best[l] = s;
          }
        for (int l = 0; l < n_levels; l++) {
          const double gbs = (double)rb * rows / best[l];
          char name[16];
          snprintf(name, sizeof name, "%s x%d", eco_ggml_type_name(t),
                   nb > 1 && lk[l].pdot2[t] ? 16 : 8);
          printf("%-9s %3d %12.2f %13.0f%% %12.2f   %-10s %5.2fx\n", name, nb, gbs / 1e9,
                 100 * gbs / bw, (double)rows * cols * nb / best[l] / 1e9,
                 eco_simd_name(lk[l].level), best[0] / best[l]);
        }
      }
      free(pw);
      free(px);
    }
    free(w);
    free(x);
  }
  free(row);
  return 0;
}
