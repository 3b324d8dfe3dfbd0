/* Every fast kernel against the scalar reference on random data, with
 * awkward sizes and batch widths; conversions; the thread pool. */
#include "engine/kernels.h"
#include "engine/pack.h"
#include "engine/pool.h"
#include "testutil.h"

#include <math.h>
#include <stdatomic.h>

static uint64_t rng_state = 88172645463325252ULL;
static float frand(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (float)((rng_state >> 11) * (1.0 / 9007199254740992.0)) * 2.f - 1.f;
}

static const eco_ggml_type types[] = {ECO_GGML_F32,  ECO_GGML_F16,  ECO_GGML_BF16, ECO_GGML_Q8_0,
                                      ECO_GGML_Q4_0, ECO_GGML_Q4_K, ECO_GGML_Q6_K};

static void check_level(eco_simd_level level) {
  eco_kernels k;
  eco_kernels_init(&k, level);
  if (k.level != level) {
    print_message("level %s not compiled here; skipped\n", eco_simd_name(level));
    return;
  }
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
            fail_msg("%s %s n=%d nx=%d j=%d: ref %.7g got %.7g", eco_simd_name(level),
                     eco_ggml_type_name(t), n, nx, j, ref[j], got[j]);
        }
        free(w);
        free(x);
        free(wq);
        free(xq);
      }
    }
  }
}

/* the optional 4-row kernels against four scalar dots */
static void check_dot4(eco_simd_level level) {
  eco_kernels k;
  eco_kernels_init(&k, level);
  if (k.level != level) return;
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
          fail_msg("%s dot4 %s n=%d row %d: ref %.7g got %.7g", eco_simd_name(level),
                   eco_ggml_type_name(t), n, r, ref, got[r]);
      }
      free(w);
      free(x);
      free(wq);
      free(xq);
    }
  }
}

/* Packed 8-row groups (pack.h): every row of a matrix whose row count is
 * not a multiple of 8, against the scalar dot on the plain layout, for
 * batch widths 1..9; the packed scalar reference and the level's kernel. */
static void check_packed(eco_simd_level level) {
  eco_kernels k;
  eco_kernels_init(&k, level);
  if (k.level != level) return;
  const eco_ggml_type pt[] = {ECO_GGML_Q8_0, ECO_GGML_Q4_0, ECO_GGML_Q4_K, ECO_GGML_Q6_K};
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
        assert_int_equal(eco_pack_bytes(t, rows, n), gb * (size_t)groups);
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
                  fail_msg("%s packed %s n=%d rows=%d nx=%d j=%d row=%d: ref %.7g got %.7g "
                           "scalar-packed %.7g",
                           eco_simd_name(level), eco_ggml_type_name(t), n, rows, nx, j, row, ref,
                           got[j * 8 + r], gref[j * 8 + r]);
              }
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
  assert_int_equal(eco_pack_bytes(ECO_GGML_F16, 8, 256), 0);
  assert_false(eco_pack_supported(ECO_GGML_F16));
}

/* Attention kernels against plain loops: head sizes with and without a
 * SIMD-friendly width, 1..8 query heads, padded KV rows. */
static void check_attention(eco_simd_level level) {
  eco_kernels k;
  eco_kernels_init(&k, level);
  if (k.level != level) return;
  const int hds[] = {64, 80, 12, 128, 8, 16, 32, 48};
  for (size_t hi = 0; hi < sizeof hds / sizeof hds[0]; hi++) {
    const int hd = hds[hi];
    for (int nq = 1; nq <= 8; nq += 3) {
      for (int np = 1; np <= 67; np += 33) {
        const size_t stride = (size_t)hd * 3; /* three KV heads per row */
        float *q = malloc((size_t)nq * hd * 4), *K = malloc(stride * np * 4),
              *V = malloc(stride * np * 4), *sc = malloc((size_t)nq * np * 4),
              *o = malloc((size_t)nq * hd * 4);
        for (int i = 0; i < nq * hd; i++)
          q[i] = frand();
        for (size_t i = 0; i < stride * (size_t)np; i++) {
          K[i] = frand();
          V[i] = frand();
        }
        k.attn_scores(hd, q, nq, K + hd, stride, np, 0.125f, sc);
        for (int j = 0; j < nq; j++)
          for (int s = 0; s < np; s++) {
            double d = 0;
            for (int i = 0; i < hd; i++)
              d += (double)q[j * hd + i] * K[(size_t)s * stride + hd + i];
            d *= 0.125;
            if (fabs(d - sc[j * np + s]) > 1e-5 * (1 + fabs(d)))
              fail_msg("%s attn_scores hd=%d nq=%d np=%d: %g vs %g", eco_simd_name(level), hd, nq,
                       np, d, sc[j * np + s]);
          }
        k.attn_accum(hd, sc, nq, V + 2 * hd, stride, np, o);
        for (int j = 0; j < nq; j++)
          for (int i = 0; i < hd; i++) {
            double d = 0;
            for (int s = 0; s < np; s++)
              d += (double)sc[j * np + s] * V[(size_t)s * stride + 2 * hd + i];
            if (fabs(d - o[j * hd + i]) > 1e-5 * (1 + fabs(d)) * np)
              fail_msg("%s attn_accum hd=%d nq=%d np=%d: %g vs %g", eco_simd_name(level), hd, nq,
                       np, d, o[j * hd + i]);
          }
        free(q);
        free(K);
        free(V);
        free(sc);
        free(o);
      }
    }
  }
}

/* silu_mul (polynomial exp) within 4 float ulps of the libm formula,
 * sumsq to double rounding, quant_act bit-identical to eco_pack_act. */
static void check_elementwise(eco_simd_level level) {
  eco_kernels k;
  eco_kernels_init(&k, level);
  if (k.level != level) return;
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
        fail_msg("%s silu_mul(%g) * %g: %.9g want %.9g", eco_simd_name(level), g0[j], u[j], g[j],
                 want);
      ss += (double)u[j] * u[j];
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
        fail_msg("%s softmax n=%d [%d]: %.9g want %.9g", eco_simd_name(level), n, j, sm[j], want);
    }
    free(sm);
    const double got = k.sumsq(n, u);
    if (fabs(got - ss) > 1e-12 * ss) fail_msg("%s sumsq n=%d", eco_simd_name(level), n);
    free(g);
    free(u);
    free(g0);
  }
  for (int nb = 1; nb <= 9; nb += 4) {
    const int n = 32 * nb;
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
      fail_msg("%s quant_act differs from eco_pack_act (n=%d)", eco_simd_name(level), n);
    free(x);
    free(a);
    free(b);
  }
}

static void test_kernels_all_levels(void **state) {
  (void)state;
  eco_cpu_info ci;
  eco_cpu_detect(&ci);
  for (int l = ECO_SIMD_SCALAR; l <= (int)ci.level; l++) {
    check_level((eco_simd_level)l);
    check_dot4((eco_simd_level)l);
    check_packed((eco_simd_level)l);
    check_attention((eco_simd_level)l);
    check_elementwise((eco_simd_level)l);
  }
}

/* quantize/dequantize round trips stay within the format's resolution */
static void test_roundtrip(void **state) {
  (void)state;
  const int n = 512;
  float x[512], y[512];
  for (int i = 0; i < n; i++)
    x[i] = frand();
  const eco_ggml_type all[] = {ECO_GGML_F32,  ECO_GGML_F16,  ECO_GGML_BF16, ECO_GGML_Q8_0,
                               ECO_GGML_Q8_K, ECO_GGML_Q4_0, ECO_GGML_Q4_K, ECO_GGML_Q6_K};
  const double tol[] = {0, 1e-3, 8e-3, 1e-2, 1e-2, 0.15, 0.15, 0.05};
  uint8_t buf[4096];
  for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) {
    eco_quantize_row(all[k], x, buf, n);
    eco_dequantize_row(all[k], buf, y, n);
    double md = 0;
    for (int i = 0; i < n; i++)
      md = fmax(md, fabs(x[i] - y[i]));
    if (md > tol[k]) fail_msg("%s: max error %.4g > %.4g", eco_ggml_type_name(all[k]), md, tol[k]);
  }
  /* the Q8_K dot of a vector with itself equals the float dot closely */
  assert_int_equal(eco_fp32_to_fp16(1.0f), 0x3c00);
  assert_int_equal(eco_fp32_to_fp16(65520.f), 0x7c00); /* rounds to inf */
  assert_true(eco_fp16_to_fp32(0x0001) > 0 && eco_fp16_to_fp32(0x0001) < 1e-7f);
  assert_int_equal(eco_fp32_to_bf16(1.0f), 0x3f80);
  assert_true(eco_bf16_to_fp32(0x3f80) == 1.0f);
}

typedef struct pool_ctx {
  atomic_int calls;
  int seen[8]; /* per chunk: sum of n_chunks seen */
} pool_ctx;

static void pool_fn(void *arg, int ith, int nth) {
  pool_ctx *c = arg;
  atomic_fetch_add(&c->calls, 1);
  c->seen[ith] += nth;
}

static void test_pool(void **state) {
  (void)state;
  for (int n = 1; n <= 4; n++) {
    eco_pool *p;
    eco_error err = {0};
    assert_int_equal(eco_pool_new(n, &p, &err), 0);
    pool_ctx c;
    memset(&c, 0, sizeof c);
    atomic_init(&c.calls, 0);
    for (int r = 0; r < 1000; r++)
      eco_pool_run(p, pool_fn, &c, 2 * n); /* each chunk exactly once per run */
    assert_int_equal(atomic_load(&c.calls), 2000 * n);
    for (int i = 0; i < 2 * n; i++)
      assert_int_equal(c.seen[i], 2000 * n);
    eco_pool_free(p);
  }
  eco_pool *p;
  eco_error err = {0};
  assert_int_equal(eco_pool_new(0, &p, &err), ECO_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_kernels_all_levels),
      cmocka_unit_test(test_roundtrip),
      cmocka_unit_test(test_pool),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
