/* Fast kernels against the scalar reference on random data, with awkward
 * sizes and batch widths: shared by test_kernels (cmocka) and the aarch64
 * self-check that runs the NEON kernels under qemu (tests/kernels_aarch64.sh).
 * No test framework here: a failure is reported through the message. */
#include "kernel_checks.h"

#include "engine/kernels.h"
#include "engine/pack.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KFAIL(...)                                                                                 \
  do {                                                                                             \
    snprintf(msg, cap, __VA_ARGS__);                                                               \
    return 1;                                                                                      \
  } while (0)

/* xorshift: the same test data on every run and machine (test code only) */
static uint64_t rng_state = 88172645463325252ULL;
float eco_kcheck_frand(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (float)((rng_state >> 11) * (1.0 / 9007199254740992.0)) * 2.f - 1.f;
}
#define frand eco_kcheck_frand

static const eco_ggml_type types[] = {ECO_GGML_F32,  ECO_GGML_F16,    ECO_GGML_BF16, ECO_GGML_Q8_0,
                                      ECO_GGML_Q4_0, ECO_GGML_Q4_K,   ECO_GGML_Q6_K, ECO_GGML_Q5_0,
                                      ECO_GGML_Q5_1, ECO_GGML_IQ4_NL, ECO_GGML_Q2_K, ECO_GGML_Q3_K,
                                      ECO_GGML_Q5_K, ECO_GGML_IQ4_XS};

static int check_level(eco_simd_level level, char *msg, size_t cap) {
  eco_kernels k;
  eco_kernels_init(&k, level);
  if (k.level != level) return 0;
  const int sizes_small[] = {1, 3, 8, 15, 16, 17, 31, 33, 100, 1000};
  const int sizes_block[] = {1, 2, 3, 7, 9};
  for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
    const eco_ggml_type t = types[ti];
    const int be = (int)eco_ggml_block_elems(t);
    const eco_ggml_type at = eco_quant_act_type(t);
    const size_t ns = be == 1 ? sizeof sizes_small / sizeof sizes_small[0]
                              : sizeof sizes_block / sizeof sizes_block[0];
    for (size_t si = 0; si < ns; si++) {
      const int n = be == 1 ? sizes_small[si] : sizes_block[si] * (be == 32 ? 8 : 1) * be;
      for (int nx = 1; nx <= 7; nx += 2) {
        float *w = malloc((size_t)n * 4), *x = malloc((size_t)n * nx * 4);
        for (int i = 0; i < n; i++)
          w[i] = frand() * (i % 7 == 0 ? 3.f : 1.f);
        for (int i = 0; i < n * nx; i++)
          x[i] = frand();
        const size_t wb = eco_quant_row_bytes(t, n), xb = eco_quant_row_bytes(at, n);
        uint8_t *wq = malloc(wb), *xq = malloc(xb * (size_t)nx);
        eco_quantize_row(t, w, wq, n);
        for (int j = 0; j < nx; j++)
          eco_quantize_row(at, x + (size_t)j * n, xq + j * xb, n);
        float ref[8], got[8];
        eco_dot_scalar(t, n, wq, xq, xb, nx, ref);
        k.dot[t](n, wq, xq, xb, nx, got);
        for (int j = 0; j < nx; j++) {
          const double tol = 1e-4 * (fabs(ref[j]) + sqrt((double)n)) + 1e-5;
          if (fabs(ref[j] - got[j]) > tol)
            KFAIL("%s %s n=%d nx=%d j=%d: ref %.7g got %.7g", eco_simd_name(level),
                  eco_ggml_type_name(t), n, nx, j, ref[j], got[j]);
        }
        free(w);
        free(x);
        free(wq);
        free(xq);
      }
    }
  }
  return 0;
}

/* the optional 4-row kernels against four scalar dots */
static int check_dot4(eco_simd_level level, char *msg, size_t cap) {
  eco_kernels k;
  eco_kernels_init(&k, level);
  if (k.level != level) return 0;
  for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
    const eco_ggml_type t = types[ti];
    if (!k.dot4[t]) continue;
    const eco_ggml_type at = eco_quant_act_type(t);
    const int be = (int)eco_ggml_block_elems(t);
    for (int nblk = 1; nblk <= 70; nblk += 23) {
      const int n = nblk * be;
      const size_t wb = eco_quant_row_bytes(t, n), xb = eco_quant_row_bytes(at, n);
      float *w = malloc((size_t)n * 4 * 4), *x = malloc((size_t)n * 4);
      for (int i = 0; i < 4 * n; i++)
        w[i] = frand();
      for (int i = 0; i < n; i++)
        x[i] = frand() * 2.f;
      uint8_t *wq = malloc(wb * 4), *xq = malloc(xb);
      for (int r = 0; r < 4; r++)
        eco_quantize_row(t, w + (size_t)r * n, wq + r * wb, n);
      eco_quantize_row(at, x, xq, n);
      float got[4];
      k.dot4[t](n, wq, wb, xq, got);
      for (int r = 0; r < 4; r++) {
        const float ref = eco_dot_ref(t, n, wq + r * wb, xq);
        if (fabs(ref - got[r]) > 1e-4 * (fabs(ref) + sqrt((double)n)) + 1e-5)
          KFAIL("%s dot4 %s n=%d row %d: ref %.7g got %.7g", eco_simd_name(level),
                eco_ggml_type_name(t), n, r, ref, got[r]);
      }
      free(w);
      free(x);
      free(wq);
      free(xq);
    }
  }
  return 0;
}

/* Packed 8-row groups (pack.h): every row of a matrix whose row count is
 * not a multiple of 8, against the scalar dot on the plain layout, for
 * batch widths 1..9; the packed scalar reference and the level's kernel. */
static int check_packed(eco_simd_level level, char *msg, size_t cap) {
  eco_kernels k;
  eco_kernels_init(&k, level);
  if (k.level != level) return 0;
  const eco_ggml_type pt[] = {ECO_GGML_Q8_0, ECO_GGML_Q4_0, ECO_GGML_Q4_K,   ECO_GGML_Q6_K,
                              ECO_GGML_Q5_0, ECO_GGML_Q5_1, ECO_GGML_IQ4_NL, ECO_GGML_Q2_K,
                              ECO_GGML_Q3_K, ECO_GGML_Q5_K, ECO_GGML_IQ4_XS};
  const int rows_list[] = {1, 8, 13, 24};
  for (size_t ti = 0; ti < sizeof pt / sizeof pt[0]; ti++) {
    const eco_ggml_type t = pt[ti];
    const eco_ggml_type at = eco_quant_act_type(t);
    const bool split = eco_pack_split_act(t);
    for (int nblk = 1; nblk <= 70; nblk += 23) {
      const int n = nblk * (int)eco_ggml_block_elems(t);
      for (size_t ri = 0; ri < sizeof rows_list / sizeof rows_list[0]; ri++) {
        const int rows = rows_list[ri], groups = (rows + 7) / 8, NX = 9;
        const size_t wb = eco_quant_row_bytes(t, n), xb = eco_quant_row_bytes(at, n);
        const size_t gb = eco_pack_group_bytes(t, n), pb = split ? eco_pack_act_bytes(n) : xb;
        if (eco_pack_bytes(t, rows, n) != gb * (size_t)groups)
          KFAIL("eco_pack_bytes(%s, %d, %d) = %zu, want %zu", eco_ggml_type_name(t), rows, n,
                eco_pack_bytes(t, rows, n), gb * (size_t)groups);
        float *w = malloc((size_t)n * rows * 4), *x = malloc((size_t)n * NX * 4);
        for (int i = 0; i < n * rows; i++)
          w[i] = frand() * (i % 5 == 0 ? 4.f : 1.f);
        for (int i = 0; i < n * NX; i++)
          x[i] = frand();
        uint8_t *wq = malloc(wb * rows), *xq = malloc(xb * NX), *pw = malloc(gb * groups),
                *px = malloc(pb * NX);
        for (int r = 0; r < rows; r++)
          eco_quantize_row(t, w + (size_t)r * n, wq + r * wb, n);
        for (int j = 0; j < NX; j++) {
          eco_quantize_row(at, x + (size_t)j * n, xq + j * xb, n);
          if (split)
            eco_pack_act(x + (size_t)j * n, px + j * pb, n);
          else
            eco_quantize_row(at, x + (size_t)j * n, px + j * pb, n);
        }
        for (int g = 0; g < groups; g++)
          eco_pack_group(t, n, wq, wb, rows, g, pw + g * gb);
        uint8_t *back = malloc(wb); /* rows read back byte for byte */
        for (int row = 0; row < rows; row++)
          if (eco_pack_get_row(t, n, pw + (row / 8) * gb, row % 8, back) &&
              memcmp(back, wq + row * wb, wb) != 0)
            KFAIL("packed %s n=%d: row %d does not read back as packed", eco_ggml_type_name(t), n,
                  row);
        free(back);
        for (int nx = 1; nx <= NX; nx++)
          for (int g = 0; g < groups; g++) {
            float got[9 * 8], gref[9 * 8];
            eco_pack_dot_ref(t, n, pw + g * gb, px, pb, nx, gref, 8);
            if (k.pdot[t])
              k.pdot[t](n, pw + g * gb, px, pb, nx, got, 8);
            else
              memcpy(got, gref, sizeof got);
            for (int j = 0; j < nx; j++)
              for (int r = 0; r < 8; r++) {
                const int row = g * 8 + r;
                const float ref = row < rows ? eco_dot_ref(t, n, wq + row * wb, xq + j * xb) : 0.f;
                const double tol = 1e-4 * (fabs(ref) + sqrt((double)n)) + 1e-5;
                if (fabs(ref - got[j * 8 + r]) > tol || fabs(ref - gref[j * 8 + r]) > tol)
                  KFAIL("%s packed %s n=%d rows=%d nx=%d j=%d row=%d: ref %.7g got %.7g "
                        "scalar-packed %.7g",
                        eco_simd_name(level), eco_ggml_type_name(t), n, rows, nx, j, row, ref,
                        got[j * 8 + r], gref[j * 8 + r]);
              }
          }
        /* the two-group kernel gives exactly what two one-group calls give */
        for (int nx = 1; nx <= NX && k.pdot2[t]; nx++)
          for (int g = 0; g + 1 < groups; g++) {
            float got[9 * 16], one[9 * 16];
            k.pdot2[t](n, pw + g * gb, gb, px, pb, nx, got, 16);
            k.pdot[t](n, pw + g * gb, px, pb, nx, one, 16);
            k.pdot[t](n, pw + (g + 1) * gb, px, pb, nx, one + 8, 16);
            for (int j = 0; j < nx; j++)
              for (int r = 0; r < 16; r++)
                /* bit-identical, as the contract says (not just equal values) */
                // NOLINTNEXTLINE(bugprone-suspicious-memory-comparison)
                if (memcmp(&got[j * 16 + r], &one[j * 16 + r], sizeof(float)) != 0)
                  KFAIL("%s packed pair %s n=%d rows=%d nx=%d j=%d row=%d: %.9g, one group "
                        "at a time %.9g",
                        eco_simd_name(level), eco_ggml_type_name(t), n, rows, nx, j, g * 8 + r,
                        got[j * 16 + r], one[j * 16 + r]);
          }
        free(w);
        free(x);
        free(wq);
        free(xq);
        free(pw);
        free(px);
      }
    }
  }
  if (eco_pack_bytes(ECO_GGML_F16, 8, 256) != 0 || eco_pack_supported(ECO_GGML_F16))
    KFAIL("F16 must have no packed layout");
  return 0;
}

/* Attention kernels against plain loops: head sizes with and without a
 * SIMD-friendly width, 1..8 query heads (the AVX-512 kernels take heads in
 * threes and fours), position counts around their blocks of 8, padded KV
 * rows. */
static int check_attention(eco_simd_level level, char *msg, size_t cap) {
  eco_kernels k;
  eco_kernels_init(&k, level);
  if (k.level != level) return 0;
  const int hds[] = {64, 80, 12, 128, 8, 16, 32, 48};
  for (size_t hi = 0; hi < sizeof hds / sizeof hds[0]; hi++) {
    const int hd = hds[hi];
    const int nqs[] = {1, 3, 4, 8}, nps[] = {1, 9, 34, 67};
    for (size_t qi = 0; qi < sizeof nqs / sizeof nqs[0]; qi++) {
      const int nq = nqs[qi];
      for (size_t pi = 0; pi < sizeof nps / sizeof nps[0]; pi++) {
        const int np = nps[pi];
        const size_t stride = (size_t)hd * 3; /* three KV heads per row */
        float *q = malloc((size_t)nq * hd * 4), *K = malloc(stride * np * 4),
              *V = malloc(stride * np * 4), *sc = malloc((size_t)nq * np * 4),
              *o = malloc((size_t)nq * hd * 4);
        for (int i = 0; i < nq * hd; i++)
          q[i] = frand();
        /* values an F16 cache holds exactly, so both cache types must give
         * the same results */
        uint16_t *Kh = malloc(stride * np * 2), *Vh = malloc(stride * np * 2);
        for (size_t i = 0; i < stride * (size_t)np; i++) {
          Kh[i] = eco_fp32_to_fp16(frand());
          Vh[i] = eco_fp32_to_fp16(frand());
          K[i] = eco_fp16_to_fp32(Kh[i]);
          V[i] = eco_fp16_to_fp32(Vh[i]);
        }
        for (int f16 = 0; f16 <= 1; f16++) {
          if (f16)
            k.attn_scores_f16(hd, q, nq, Kh + hd, stride, np, 0.125f, sc, Vh + 2 * hd, np);
          else
            k.attn_scores(hd, q, nq, K + hd, stride, np, 0.125f, sc, V + 2 * hd, np);
          for (int j = 0; j < nq; j++)
            for (int s = 0; s < np; s++) {
              double d = 0;
              for (int i = 0; i < hd; i++)
                d += (double)q[j * hd + i] * K[(size_t)s * stride + hd + i];
              d *= 0.125;
              if (fabs(d - sc[j * np + s]) > 1e-5 * (1 + fabs(d)))
                KFAIL("%s attn_scores%s hd=%d nq=%d np=%d: %g vs %g", eco_simd_name(level),
                      f16 ? "_f16" : "", hd, nq, np, d, sc[j * np + s]);
            }
          if (f16)
            k.attn_accum_f16(hd, sc, nq, Vh + 2 * hd, stride, np, o, Kh + hd, np);
          else
            k.attn_accum(hd, sc, nq, V + 2 * hd, stride, np, o, K + hd, np);
          for (int j = 0; j < nq; j++)
            for (int i = 0; i < hd; i++) {
              double d = 0;
              for (int s = 0; s < np; s++)
                d += (double)sc[j * np + s] * V[(size_t)s * stride + 2 * hd + i];
              if (fabs(d - o[j * hd + i]) > 1e-5 * (1 + fabs(d)) * np)
                KFAIL("%s attn_accum%s hd=%d nq=%d np=%d: %g vs %g", eco_simd_name(level),
                      f16 ? "_f16" : "", hd, nq, np, d, o[j * hd + i]);
            }
        }
        free(Kh);
        free(Vh);
        free(q);
        free(K);
        free(V);
        free(sc);
        free(o);
      }
    }
  }
  return 0;
}

/* silu_mul (polynomial exp) within 4 float ulps of the libm formula,
 * sumsq bit-identical to llama.cpp's order, quant_act bit-identical to
 * eco_pack_act. */
static int check_elementwise(eco_simd_level level, char *msg, size_t cap) {
  eco_kernels k;
  eco_kernels_init(&k, level);
  if (k.level != level) return 0;
  const int ns[] = {1, 7, 8, 33, 1000};
  for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
    const int n = ns[i];
    float *g = malloc((size_t)n * 4), *u = malloc((size_t)n * 4), *g0 = malloc((size_t)n * 4);
    for (int j = 0; j < n; j++) {
      g0[j] = g[j] = frand() * (j % 3 ? 12.f : 120.f); /* past exp's range too */
      u[j] = frand();
    }
    k.silu_mul(n, g, u);
    double ss = 0;
    for (int j = 0; j < n; j++) {
      const float want = g0[j] / (1.0f + expf(-g0[j])) * u[j];
      if (fabsf(want - g[j]) > 4 * 1.2e-7f * fabsf(want) + 1e-30f)
        KFAIL("%s silu_mul(%g) * %g: %.9g want %.9g", eco_simd_name(level), g0[j], u[j], g[j],
              want);
      ss += (double)(u[j] * u[j]); /* llama.cpp's order: the result must be identical */
    }
    float *sm = malloc((size_t)n * 4);
    for (int j = 0; j < n; j++)
      sm[j] = g0[j] * 0.1f;
    k.softmax(n, sm);
    float mx = -INFINITY; /* the reference subtracts in float, as the kernels do */
    double den = 0;
    for (int j = 0; j < n; j++)
      mx = fmaxf(mx, g0[j] * 0.1f);
    for (int j = 0; j < n; j++)
      den += exp((double)(g0[j] * 0.1f - mx));
    for (int j = 0; j < n; j++) {
      const double want = exp((double)(g0[j] * 0.1f - mx)) / den;
      if (fabs(want - sm[j]) > 1e-6 * want + 1e-30)
        KFAIL("%s softmax n=%d [%d]: %.9g want %.9g", eco_simd_name(level), n, j, sm[j], want);
    }
    free(sm);
    uint16_t *h = malloc((size_t)n * 2);
    float *big = malloc((size_t)n * 4);
    for (int j = 0; j < n; j++) /* normal, subnormal, overflowing and tie values */
      big[j] = j % 4 == 0   ? g0[j] * 1e4f
               : j % 4 == 1 ? g0[j] * 1e-6f
               : j % 4 == 2 ? g0[j] * 7e3f
                            : g0[j];
    k.to_f16(n, big, h);
    for (int j = 0; j < n; j++)
      if (h[j] != eco_fp32_to_fp16(big[j]))
        KFAIL("%s to_f16(%g) = 0x%04x, want 0x%04x", eco_simd_name(level), big[j], h[j],
              eco_fp32_to_fp16(big[j]));
    free(h);
    free(big);
    const double got = k.sumsq(n, u);
    if (got != ss) KFAIL("%s sumsq n=%d: %.17g, want %.17g", eco_simd_name(level), n, got, ss);
    free(g);
    free(u);
    free(g0);
  }
  const int nbs[] = {1, 5, 8, 9, 16, 24}; /* rows of 256, 512, 768 for Q8_K too */
  for (size_t bi = 0; bi < sizeof nbs / sizeof nbs[0]; bi++) {
    const int n = 32 * nbs[bi];
    float *x = malloc((size_t)n * 4);
    for (int j = 0; j < n; j++)
      x[j] = frand() * (j % 32 == 5 ? 30.f : 1.f);
    for (int j = 64; j < 96 && j < n; j++)
      x[j] = 0.f; /* an all-zero block */
    const size_t ab = eco_pack_act_bytes(n);
    uint8_t *a = malloc(ab), *b = malloc(ab);
    eco_pack_act(x, a, n);
    k.quant_act(x, b, n);
    if (memcmp(a, b, ab))
      KFAIL("%s quant_act differs from eco_pack_act (n=%d)", eco_simd_name(level), n);
    if (n % 256 == 0) { /* Q8_K rows, with ties for the largest magnitude */
      x[3] = -40.f;     /* two largest magnitudes of opposite sign: the first one decides */
      x[10] = 40.f;
      if (n == 512) memset(x + 256, 0, 256 * sizeof *x); /* an all-zero super-block */
      const size_t kb = eco_quant_row_bytes(ECO_GGML_Q8_K, n);
      uint8_t *c = malloc(kb), *d = malloc(kb);
      eco_quantize_row(ECO_GGML_Q8_K, x, c, n);
      k.quant_q8k(x, d, n);
      if (memcmp(c, d, kb))
        KFAIL("%s quant_q8k differs from eco_quantize_row (n=%d)", eco_simd_name(level), n);
      free(c);
      free(d);
    }
    free(x);
    free(a);
    free(b);
  }
  return 0;
}

int eco_kcheck_level(eco_simd_level level, char *msg, size_t cap) {
  eco_kernels k;
  eco_kernels_init(&k, level);
  if (k.level != level) return -1; /* not compiled for this machine */
  int rc;
  if ((rc = check_level(level, msg, cap)) || (rc = check_dot4(level, msg, cap)) ||
      (rc = check_packed(level, msg, cap)) || (rc = check_attention(level, msg, cap)) ||
      (rc = check_elementwise(level, msg, cap)))
    return rc;
  return 0;
}
