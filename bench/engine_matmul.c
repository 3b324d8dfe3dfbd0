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

/* The packed kernels' levels: AVX2 and up to this CPU's level, or those
 * named in LEVELS; PAIRS=0 clears the two-group kernels. Returns the count
 * (at least 1: k itself when none fits). */
static int packed_levels(const eco_cpu_info *ci, const eco_kernels *k, eco_kernels lk[8]) {
  int n_levels = 0;
  const char *spec = getenv("LEVELS"), *pairs_env = getenv("PAIRS");
  const bool no_pairs = pairs_env && strcmp(pairs_env, "0") == 0;
  for (int l = ECO_SIMD_AVX2; l <= (int)ci->level && n_levels < 8; l++) {
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
  if (n_levels == 0) lk[n_levels++] = *k;
  return n_levels;
}

/* One weight type's matrix: rows x cols weights (row-major, rb bytes a row),
 * the 16 activation rows (ab bytes each) and the last float row quantized. */
typedef struct mm_case {
  eco_ggml_type t, at; /* weight type, activation type */
  int rows, cols;
  size_t rb, ab; /* bytes per weight row, per activation row */
  const uint8_t *w, *x;
  const float *row; /* [cols] the activations before quantizing */
  double bw;        /* read bandwidth, bytes/s */
} mm_case;

static const int k_batches[] = {1, 4, 16};

/* The row-by-row kernel at batches 1, 4 and 16: best of 3. */
static void bench_rows(const mm_case *mc, const eco_kernels *k) {
  float out[16];
  for (int bi = 0; bi < 3; bi++) {
    const int nb = k_batches[bi];
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
      uint64_t t0 = eco_time_mono_ns();
      for (int r = 0; r < mc->rows; r++)
        k->dot[mc->t](mc->cols, mc->w + mc->rb * (size_t)r, mc->x, mc->ab, nb, out);
      double s = (double)(eco_time_mono_ns() - t0) / 1e9;
      if (s < best) best = s;
    }
    const double gbs = (double)mc->rb * mc->rows / best;
    printf("%-6s %6d %12.2f %13.0f%% %12.2f\n", eco_ggml_type_name(mc->t), nb, gbs / 1e9,
           100 * gbs / mc->bw, (double)mc->rows * mc->cols * nb / best / 1e9);
  }
}

/* Times the packed groups at each level, interleaved, best of 3 per level,
 * and prints one row per level. */
static void time_packed(const mm_case *mc, const eco_kernels *lk, int n_levels, int nb,
                        const uint8_t *pw, size_t gb, const uint8_t *px, size_t pab) {
  const eco_ggml_type t = mc->t;
  const int64_t groups = (mc->rows + 7) / 8;
  float pout[16 * 16];
  double best[8];
  for (int l = 0; l < n_levels; l++)
    best[l] = 1e30;
  for (int rep = 0; rep < 3; rep++)
    for (int l = 0; l < n_levels; l++) {
      const uint64_t t0 = eco_time_mono_ns();
      int64_t g = 0;
      if (nb > 1 && lk[l].pdot2[t]) /* pairs of groups, as the engine runs batches */
        for (; g + 1 < groups; g += 2)
          lk[l].pdot2[t](mc->cols, pw + gb * (size_t)g, gb, px, pab, nb, pout, 16);
      for (; g < groups; g++)
        lk[l].pdot[t](mc->cols, pw + gb * (size_t)g, px, pab, nb, pout, 8);
      const double s = (double)(eco_time_mono_ns() - t0) / 1e9;
      if (s < best[l]) best[l] = s;
    }
  for (int l = 0; l < n_levels; l++) {
    const double gbs = (double)mc->rb * mc->rows / best[l];
    char name[16];
    snprintf(name, sizeof name, "%s x%d", eco_ggml_type_name(t), nb > 1 && lk[l].pdot2[t] ? 16 : 8);
    printf("%-9s %3d %12.2f %13.0f%% %12.2f   %-10s %5.2fx\n", name, nb, gbs / 1e9,
           100 * gbs / mc->bw, (double)mc->rows * mc->cols * nb / best[l] / 1e9,
           eco_simd_name(lk[l].level), best[0] / best[l]);
  }
}

/* The same matrix in the 8-row packed layout, at batches 1, 4 and 16.
 * Returns 0, or 1 when out of memory. */
static int bench_packed(const mm_case *mc, const eco_kernels *lk, int n_levels) {
  const eco_ggml_type t = mc->t;
  const bool split = eco_pack_split_act(t);
  const size_t gb = eco_pack_group_bytes(t, mc->cols),
               pab = split ? eco_pack_act_bytes(mc->cols) : eco_quant_row_bytes(mc->at, mc->cols);
  const int64_t groups = (mc->rows + 7) / 8;
  uint8_t *pw = malloc(gb * (size_t)groups), *px = malloc(pab * 16);
  int rc = 1;
  if (!pw || !px) goto fail;
  for (int64_t g = 0; g < groups; g++)
    eco_pack_group(t, mc->cols, mc->w, mc->rb, mc->rows, g, pw + gb * (size_t)g);
  for (int b = 0; b < 16; b++)
    if (split)
      eco_pack_act(mc->row, px + pab * (size_t)b, mc->cols);
    else
      eco_quantize_row(mc->at, mc->row, px + pab * (size_t)b, mc->cols);
  for (int bi = 0; bi < 3; bi++)
    time_packed(mc, lk, n_levels, k_batches[bi], pw, gb, px, pab);
  rc = 0;
fail:
  free(pw);
  free(px);
  return rc;
}

/* Quantizes a rows x cols test matrix of type t and times it row by row and,
 * where the type has packed kernels, packed. Returns 0, or 1 when out of
 * memory. */
static int bench_type(eco_ggml_type t, int rows, int cols, double bw, const eco_kernels *k,
                      const eco_kernels *lk, int n_levels) {
  const eco_ggml_type at = eco_quant_act_type(t);
  mm_case mc = {.t = t, .at = at, .rows = rows, .cols = cols, .bw = bw};
  mc.rb = eco_quant_row_bytes(t, cols), mc.ab = eco_quant_row_bytes(at, cols);
  float *row = malloc((size_t)cols * sizeof *row);
  uint8_t *w = malloc(mc.rb * (size_t)rows), *x = malloc(mc.ab * 16);
  int rc = 1;
  if (!row || !w || !x) goto fail;
  for (int r = 0; r < rows; r++) {
    for (int j = 0; j < cols; j++)
      row[j] = (float)((r * 31 + j * 17) % 101) / 101.f - 0.5f;
    eco_quantize_row(t, row, w + mc.rb * (size_t)r, cols);
  }
  for (int b = 0; b < 16; b++)
    eco_quantize_row(at, row, x + mc.ab * (size_t)b, cols);
  mc.w = w, mc.x = x, mc.row = row;
  bench_rows(&mc, k);
  rc = k->pdot[t] ? bench_packed(&mc, lk, n_levels) : 0;
fail:
  free(row);
  free(w);
  free(x);
  return rc;
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
  eco_kernels lk[8];
  const int n_levels = packed_levels(&ci, &k, lk);
  printf("%-6s %6s %12s %14s %12s   %-10s %6s\n", "type", "batch", "weight GB/s", "of bandwidth",
         "GMAC/s", "packed", "x 1st");
  const eco_ggml_type types[] = {ECO_GGML_F16,  ECO_GGML_Q8_0,   ECO_GGML_Q4_0, ECO_GGML_Q5_0,
                                 ECO_GGML_Q5_1, ECO_GGML_IQ4_NL, ECO_GGML_Q2_K, ECO_GGML_Q3_K,
                                 ECO_GGML_Q4_K, ECO_GGML_Q5_K,   ECO_GGML_Q6_K, ECO_GGML_IQ4_XS};
  for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
    bool wanted = argc <= 3;
    for (int a = 3; a < argc; a++)
      wanted |= strcmp(argv[a], eco_ggml_type_name(types[ti])) == 0;
    if (wanted && bench_type(types[ti], rows, cols, bw, &k, lk, n_levels)) return 1;
  }
  return 0;
}
