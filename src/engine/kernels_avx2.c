/* ecoinfer: AVX2 + FMA + F16C kernels of the plain (row-major) layouts,
 * attention and the element-wise helpers. One weight row against up to 4
 * activation vectors at a time: the row is decoded once per block and used
 * for every vector. The packed 8-row-group kernels are in
 * kernels_x8_main_avx2.c (Q8_0, Q4_0, Q4_K, Q6_K) and kernels_x8_avx2.c (the
 * other types). */
#include "engine/attn_x86.h"
#include "engine/kernels.h"
#include "engine/pack.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))

INLINE float hsum_ps(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

INLINE float h2f(uint16_t h) { return _cvtsh_ss(h); }

/* sum of products of signed bytes, in 8 int32 lanes */
INLINE __m256i dot_i8(__m256i w, __m256i a) {
  const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
  return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

/* --- F32 ------------------------------------------------------------------- */
INLINE void f32_nx(int n, const float *w, const uint8_t *x, size_t xs, const int NX, float *out) {
  __m256 acc[4][2];
  for (int j = 0; j < NX; j++)
    acc[j][0] = acc[j][1] = _mm256_setzero_ps();
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 w0 = _mm256_loadu_ps(w + i), w1 = _mm256_loadu_ps(w + i + 8);
    for (int j = 0; j < NX; j++) {
      const float *a = (const float *)(const void *)(x + j * xs) + i;
      acc[j][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(a), acc[j][0]);
      acc[j][1] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(a + 8), acc[j][1]);
    }
  }
  for (int j = 0; j < NX; j++) {
    const float *a = (const float *)(const void *)(x + j * xs);
    float s = hsum_ps(_mm256_add_ps(acc[j][0], acc[j][1]));
    for (int k = i; k < n; k++)
      s += w[k] * a[k];
    out[j] = s;
  }
}

/* --- F16 (activations in F16 too, as llama.cpp) ------------------------------ */
INLINE void f16_nx(int n, const uint16_t *w, const uint8_t *x, size_t xs, const int NX,
                   float *out) {
  __m256 acc[4][2];
  for (int j = 0; j < NX; j++)
    acc[j][0] = acc[j][1] = _mm256_setzero_ps();
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i)));
    const __m256 w1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i + 8)));
    for (int j = 0; j < NX; j++) {
      const uint16_t *a = (const uint16_t *)(x + j * xs) + i;
      acc[j][0] =
          _mm256_fmadd_ps(w0, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)a)), acc[j][0]);
      acc[j][1] = _mm256_fmadd_ps(w1, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + 8))),
                                  acc[j][1]);
    }
  }
  for (int j = 0; j < NX; j++) {
    const uint16_t *a = (const uint16_t *)(x + j * xs);
    float s = hsum_ps(_mm256_add_ps(acc[j][0], acc[j][1]));
    for (int k = i; k < n; k++)
      s += h2f(w[k]) * h2f(a[k]);
    out[j] = s;
  }
}

/* --- BF16 ---------------------------------------------------------------------- */
INLINE __m256 bf16x8(const uint16_t *p) {
  const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

INLINE void bf16_nx(int n, const uint16_t *w, const uint8_t *x, size_t xs, const int NX,
                    float *out) {
  __m256 acc[4];
  for (int j = 0; j < NX; j++)
    acc[j] = _mm256_setzero_ps();
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 w0 = bf16x8(w + i);
    for (int j = 0; j < NX; j++)
      acc[j] = _mm256_fmadd_ps(w0, bf16x8((const uint16_t *)(x + j * xs) + i), acc[j]);
  }
  for (int j = 0; j < NX; j++) {
    const uint16_t *a = (const uint16_t *)(x + j * xs);
    float s = hsum_ps(acc[j]);
    for (int k = i; k < n; k++)
      s += eco_bf16_to_fp32(w[k]) * eco_bf16_to_fp32(a[k]);
    out[j] = s;
  }
}

/* --- Q8_0 x Q8_0 and Q4_0 x Q8_0 ------------------------------------------------ */
INLINE void q8_0_nx(int n, const eco_block_q8_0 *w, const uint8_t *x, size_t xs, const int NX,
                    float *out) {
  __m256 acc[4];
  for (int j = 0; j < NX; j++)
    acc[j] = _mm256_setzero_ps();
  const int nb = n / 32;
  for (int b = 0; b < nb; b++) {
    const __m256i qw = _mm256_loadu_si256((const __m256i *)w[b].qs);
    const float dw = h2f(w[b].d);
    for (int j = 0; j < NX; j++) {
      const eco_block_q8_0 *a = (const eco_block_q8_0 *)(x + j * xs) + b;
      const __m256i s = dot_i8(qw, _mm256_loadu_si256((const __m256i *)a->qs));
      acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(dw * h2f(a->d)), _mm256_cvtepi32_ps(s), acc[j]);
    }
  }
  for (int j = 0; j < NX; j++)
    out[j] = hsum_ps(acc[j]);
}

INLINE __m256i q4_unpack(const uint8_t *qs) {
  const __m128i t = _mm_loadu_si128((const __m128i *)qs);
  const __m256i b = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
  return _mm256_sub_epi8(_mm256_and_si256(b, _mm256_set1_epi8(0xF)), _mm256_set1_epi8(8));
}

INLINE void q4_0_nx(int n, const eco_block_q4_0 *w, const uint8_t *x, size_t xs, const int NX,
                    float *out) {
  __m256 acc[4];
  for (int j = 0; j < NX; j++)
    acc[j] = _mm256_setzero_ps();
  const int nb = n / 32;
  for (int b = 0; b < nb; b++) {
    const __m256i qw = q4_unpack(w[b].qs);
    const float dw = h2f(w[b].d);
    for (int j = 0; j < NX; j++) {
      const eco_block_q8_0 *a = (const eco_block_q8_0 *)(x + j * xs) + b;
      const __m256i s = dot_i8(qw, _mm256_loadu_si256((const __m256i *)a->qs));
      acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(dw * h2f(a->d)), _mm256_cvtepi32_ps(s), acc[j]);
    }
  }
  for (int j = 0; j < NX; j++)
    out[j] = hsum_ps(acc[j]);
}

/* Single activation vector (decode): two blocks per step into two
 * accumulators, so the FMA latency chain does not limit the loop. */
static void q8_0_x1(int n, const eco_block_q8_0 *w, const eco_block_q8_0 *a, float *out) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  const int nb = n / 32;
  int b = 0;
  for (; b + 2 <= nb; b += 2) {
    const __m256i s0 = dot_i8(_mm256_loadu_si256((const __m256i *)w[b].qs),
                              _mm256_loadu_si256((const __m256i *)a[b].qs));
    const __m256i s1 = dot_i8(_mm256_loadu_si256((const __m256i *)w[b + 1].qs),
                              _mm256_loadu_si256((const __m256i *)a[b + 1].qs));
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(w[b].d) * h2f(a[b].d)), _mm256_cvtepi32_ps(s0), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(w[b + 1].d) * h2f(a[b + 1].d)),
                           _mm256_cvtepi32_ps(s1), acc1);
  }
  for (; b < nb; b++) {
    const __m256i s0 = dot_i8(_mm256_loadu_si256((const __m256i *)w[b].qs),
                              _mm256_loadu_si256((const __m256i *)a[b].qs));
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(w[b].d) * h2f(a[b].d)), _mm256_cvtepi32_ps(s0), acc0);
  }
  *out = hsum_ps(_mm256_add_ps(acc0, acc1));
}

static void q4_0_x1(int n, const eco_block_q4_0 *w, const eco_block_q8_0 *a, float *out) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  const int nb = n / 32;
  int b = 0;
  for (; b + 2 <= nb; b += 2) {
    const __m256i s0 = dot_i8(q4_unpack(w[b].qs), _mm256_loadu_si256((const __m256i *)a[b].qs));
    const __m256i s1 =
        dot_i8(q4_unpack(w[b + 1].qs), _mm256_loadu_si256((const __m256i *)a[b + 1].qs));
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(w[b].d) * h2f(a[b].d)), _mm256_cvtepi32_ps(s0), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(w[b + 1].d) * h2f(a[b + 1].d)),
                           _mm256_cvtepi32_ps(s1), acc1);
  }
  for (; b < nb; b++) {
    const __m256i s0 = dot_i8(q4_unpack(w[b].qs), _mm256_loadu_si256((const __m256i *)a[b].qs));
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(w[b].d) * h2f(a[b].d)), _mm256_cvtepi32_ps(s0), acc0);
  }
  *out = hsum_ps(_mm256_add_ps(acc0, acc1));
}

/* Q4_0, four rows x one vector: the activation block is loaded once for the
 * four rows; weights stay unsigned (0..15) and the -8 offset is removed
 * with 8 * sum(a), computed once per block. Integer sums are exact. */
static void q4_0_r4(int n, const void *wv, size_t rb, const void *xv, float *out) {
  const eco_block_q8_0 *a = xv;
  const eco_block_q4_0 *w0 = wv;
  const eco_block_q4_0 *w1 = (const eco_block_q4_0 *)((const uint8_t *)wv + rb);
  const eco_block_q4_0 *w2 = (const eco_block_q4_0 *)((const uint8_t *)wv + 2 * rb);
  const eco_block_q4_0 *w3 = (const eco_block_q4_0 *)((const uint8_t *)wv + 3 * rb);
  const eco_block_q4_0 *w[4] = {w0, w1, w2, w3};
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
  const __m256i m4 = _mm256_set1_epi8(0xF), ones = _mm256_set1_epi16(1),
                eight = _mm256_set1_epi8(8);
  const int nb = n / 32;
  for (int b = 0; b < nb; b++) {
    const __m256i av = _mm256_loadu_si256((const __m256i *)a[b].qs);
    const __m256i corr = _mm256_madd_epi16(_mm256_maddubs_epi16(eight, av), ones);
    const float da = h2f(a[b].d);
    for (int r = 0; r < 4; r++) {
      const __m128i t = _mm_loadu_si128((const __m128i *)w[r][b].qs);
      const __m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), m4);
      const __m256i p =
          _mm256_sub_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(q, av), ones), corr);
      acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(h2f(w[r][b].d) * da), _mm256_cvtepi32_ps(p), acc[r]);
    }
  }
  for (int r = 0; r < 4; r++)
    out[r] = hsum_ps(acc[r]);
}

/* --- attention (F32 KV cache) ----------------------------------------------------- */
/* Sums each of 8 vectors into lane i of the result. */
INLINE __m256 hsum8_ps(const __m256 *v) {
  const __m256 t0 = _mm256_hadd_ps(v[0], v[1]), t1 = _mm256_hadd_ps(v[2], v[3]);
  const __m256 t2 = _mm256_hadd_ps(v[4], v[5]), t3 = _mm256_hadd_ps(v[6], v[7]);
  const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
  /* u0 = [v0 v1 v2 v3 | v0 v1 v2 v3] half sums, u1 likewise for v4..v7 */
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

/* Attention over an F32 or F16 cache: one body, the element type a
 * compile-time constant (F16 = 1: IEEE half, widened with F16C on load). */
INLINE __m256 kv_load8(const void *base, size_t idx, const int F16) {
  if (F16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)base + idx)));
  return _mm256_loadu_ps((const float *)base + idx);
}

INLINE float kv_at(const void *base, size_t idx, const int F16) {
  return F16 ? h2f(((const uint16_t *)base)[idx]) : ((const float *)base)[idx];
}

INLINE void scores_impl(int hd, const float *q, int nq, const void *K, size_t kv_stride, int n_pos,
                        float scale, float *out, const void *pf, int pf_rows, const int F16) {
  const size_t es = F16 ? 2 : 4; /* bytes per element */
  int s0 = 0;
  if (hd % 8 == 0) /* 8 positions at a time, reduced together */
    for (; s0 + 8 <= n_pos; s0 += 8) {
      /* the run's rows two blocks ahead, which would otherwise wait on DRAM */
      eco_attn_prefetch_rows(K, n_pos, s0 + 16, s0 + 24, hd, kv_stride, es);
      /* the hint's rows at the same positions: a second stream beside K's */
      eco_attn_prefetch_rows(pf, pf_rows, s0, s0 + 8, hd, kv_stride, es);
      for (int j = 0; j < nq; j++) {
        const float *qj = q + (size_t)j * hd;
        __m256 acc[8];
        for (int p = 0; p < 8; p++)
          acc[p] = _mm256_setzero_ps();
        for (int i = 0; i < hd; i += 8) {
          const __m256 qv = _mm256_loadu_ps(qj + i);
          for (int p = 0; p < 8; p++)
            acc[p] = _mm256_fmadd_ps(qv, kv_load8(K, (size_t)(s0 + p) * kv_stride + (size_t)i, F16),
                                     acc[p]);
        }
        _mm256_storeu_ps(out + (size_t)j * n_pos + s0,
                         _mm256_mul_ps(hsum8_ps(acc), _mm256_set1_ps(scale)));
      }
    }
  for (int s = s0; s < n_pos; s++) /* the rest, one dot at a time */
    for (int j = 0; j < nq; j++) {
      const float *qj = q + (size_t)j * hd;
      const size_t row = (size_t)s * kv_stride;
      int i = 0;
      __m256 a = _mm256_setzero_ps();
      for (; i + 8 <= hd; i += 8)
        a = _mm256_fmadd_ps(_mm256_loadu_ps(qj + i), kv_load8(K, row + (size_t)i, F16), a);
      float d = hsum_ps(a);
      for (; i < hd; i++)
        d += qj[i] * kv_at(K, row + (size_t)i, F16);
      out[(size_t)j * n_pos + s] = d * scale;
    }
}

/* o[h][c0..c0+8*NV) for heads h0..h0+NH over all positions: NH*NV
 * accumulators stay in registers while the V rows stream past. */
INLINE void accum_block(int hd, const float *w, int h0, const int NH, int c0, const int NV,
                        const void *V, size_t kv_stride, int n_pos, float *o, const void *pf,
                        int pf_rows, const int F16) {
  const size_t es = F16 ? 2 : 4;
  __m256 acc[2][4];
  for (int j = 0; j < NH; j++)
    for (int v = 0; v < NV; v++)
      acc[j][v] = _mm256_setzero_ps();
  for (int s = 0; s < n_pos; s++) {
    const size_t row = (size_t)s * kv_stride + (size_t)c0;
    _mm_prefetch((const char *)V + (row + 16 * kv_stride) * es, _MM_HINT_T0);
    if (NV > 2 && !F16)
      _mm_prefetch((const char *)V + (row + 16 * kv_stride + 16) * es, _MM_HINT_T0);
    eco_attn_prefetch_rows(pf, pf_rows, s, s + 1, hd, kv_stride, es); /* a second stream */
    __m256 bw[2];
    for (int j = 0; j < NH; j++)
      bw[j] = _mm256_broadcast_ss(w + (size_t)(h0 + j) * n_pos + s);
    for (int v = 0; v < NV; v++) {
      const __m256 x = kv_load8(V, row + 8 * (size_t)v, F16);
      for (int j = 0; j < NH; j++)
        acc[j][v] = _mm256_fmadd_ps(bw[j], x, acc[j][v]);
    }
  }
  for (int j = 0; j < NH; j++)
    for (int v = 0; v < NV; v++)
      _mm256_storeu_ps(o + (size_t)(h0 + j) * hd + c0 + 8 * v, acc[j][v]);
}

INLINE void accum_impl(int hd, const float *w, int nq, const void *V, size_t kv_stride, int n_pos,
                       float *o, const void *pf, int pf_rows, const int F16) {
  if (hd % 8) {
    memset(o, 0, (size_t)nq * (size_t)hd * sizeof *o);
    for (int s = 0; s < n_pos; s++)
      for (int j = 0; j < nq; j++)
        for (int i = 0; i < hd; i++)
          o[(size_t)j * hd + i] +=
              w[(size_t)j * n_pos + s] * kv_at(V, (size_t)s * kv_stride + (size_t)i, F16);
    return;
  }
  /* heads in pairs, columns in blocks of 32 (then 8); the first pass over
   * the rows prefetches the hint, the others run from cache */
  for (int h0 = 0; h0 < nq; h0 += 2) {
    int c0 = 0;
    if (nq - h0 >= 2) {
      for (; c0 + 32 <= hd; c0 += 32, pf = NULL)
        accum_block(hd, w, h0, 2, c0, 4, V, kv_stride, n_pos, o, pf, pf_rows, F16);
      for (; c0 < hd; c0 += 8, pf = NULL)
        accum_block(hd, w, h0, 2, c0, 1, V, kv_stride, n_pos, o, pf, pf_rows, F16);
    } else {
      for (; c0 + 32 <= hd; c0 += 32, pf = NULL)
        accum_block(hd, w, h0, 1, c0, 4, V, kv_stride, n_pos, o, pf, pf_rows, F16);
      for (; c0 < hd; c0 += 8, pf = NULL)
        accum_block(hd, w, h0, 1, c0, 1, V, kv_stride, n_pos, o, pf, pf_rows, F16);
    }
  }
}

ECO_ATTN_ENTRIES(scores_impl, accum_impl)

static void to_f16(int n, const float *x, uint16_t *y) {
  int i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128((__m128i *)(y + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; i++)
    y[i] = eco_fp32_to_fp16(x[i]);
}

/* --- element-wise helpers ---------------------------------------------------------- */
/* exp(x) for |x| <= 88: x = k ln2 + r with |r| <= ln2/2 (ln2 split in two
 * parts for an exact reduction), e^r by its degree-6 Taylor polynomial
 * (error < 2e-9 relative, below float rounding), times 2^k built in the
 * exponent bits. Inputs are clamped so 2^k stays a normal float. */
INLINE __m256 exp_ps(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
  const __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.0f / 720);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  const __m256i e =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

static void silu_mul(int n, float *g, const float *u) {
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 x = _mm256_loadu_ps(g + i);
    const __m256 d =
        _mm256_add_ps(_mm256_set1_ps(1.0f), exp_ps(_mm256_sub_ps(_mm256_setzero_ps(), x)));
    _mm256_storeu_ps(g + i, _mm256_mul_ps(_mm256_div_ps(x, d), _mm256_loadu_ps(u + i)));
  }
  for (; i < n; i++)
    g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

static void softmax(int n, float *x) {
  __m256 vm = _mm256_set1_ps(-INFINITY);
  int i = 0;
  for (; i + 8 <= n; i += 8)
    vm = _mm256_max_ps(vm, _mm256_loadu_ps(x + i));
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(vm), _mm256_extractf128_ps(vm, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  float mx = _mm_cvtss_f32(m);
  for (int k = i; k < n; k++)
    mx = x[k] > mx ? x[k] : mx;
  const __m256 vmx = _mm256_set1_ps(mx);
  __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
  for (i = 0; i + 8 <= n; i += 8) {
    const __m256 e = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmx));
    _mm256_storeu_ps(x + i, e);
    s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
  }
  s0 = _mm256_add_pd(s0, s1);
  __m128d s = _mm_add_pd(_mm256_castpd256_pd128(s0), _mm256_extractf128_pd(s0, 1));
  double sum = _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
  for (; i < n; i++) {
    x[i] = expf(x[i] - mx);
    sum += x[i];
  }
  const __m256 inv = _mm256_set1_ps((float)(1.0 / sum));
  for (i = 0; i + 8 <= n; i += 8)
    _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
  for (; i < n; i++)
    x[i] *= (float)(1.0 / sum);
}

/* Q8_0 split activations (pack.h), the same numbers as the scalar path:
 * d = amax/127 rounded to F16, q = round-to-nearest-even(x * 127/amax). */
static void quant_act(const float *x, void *dst, int n) {
  const int nb = n / 32;
  float *d = dst;
  int32_t *s = (int32_t *)(void *)((uint8_t *)dst + (size_t)nb * 4);
  int8_t *qs = (int8_t *)dst + (size_t)nb * 8;
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int b = 0; b < nb; b++) {
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    for (int k = 0; k < 4; k++) {
      v[k] = _mm256_loadu_ps(x + 32 * b + 8 * k);
      amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[k]));
    }
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    const float mx = _mm_cvtss_f32(m);
    /* the scale through F16 in hardware (F16C, round to nearest even): the
     * bits of eco_fp32_to_fp16 / eco_fp16_to_fp32 for every non-NaN value,
     * without two function calls per block */
    d[b] = _cvtsh_ss(_cvtss_sh(mx / 127.f, _MM_FROUND_TO_NEAREST_INT));
    const __m256 id = _mm256_set1_ps(mx != 0 ? 127.f / mx : 0.f);
    __m256i q[4];
    for (int k = 0; k < 4; k++)
      q[k] = _mm256_cvtps_epi32(
          _mm256_round_ps(_mm256_mul_ps(v[k], id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    const __m256i sum =
        _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
    s[b] = _mm_cvtsi128_si32(t);
    /* pack 32 int32 -> 32 int8 in order (packs work within 128-bit lanes) */
    const __m256i p01 = _mm256_packs_epi32(q[0], q[1]), p23 = _mm256_packs_epi32(q[2], q[3]);
    __m256i p = _mm256_packs_epi16(p01, p23);
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)(qs + 32 * b), p);
  }
}

/* --- Q4_K x Q8_K -------------------------------------------------------------------- */
INLINE void q4k_scales(const uint8_t *q, uint8_t *sc, uint8_t *m) {
  for (int j = 0; j < 4; j++) {
    sc[j] = q[j] & 63;
    m[j] = q[j + 4] & 63;
  }
  for (int j = 4; j < 8; j++) {
    sc[j] = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    m[j] = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

INLINE void q4_k_nx(int n, const eco_block_q4_k *w, const uint8_t *x, size_t xs, const int NX,
                    float *out) {
  __m256 acc[4];
  float accm[4];
  for (int j = 0; j < NX; j++) {
    acc[j] = _mm256_setzero_ps();
    accm[j] = 0;
  }
  const __m256i m4 = _mm256_set1_epi8(0xF);
  const int nb = n / 256;
  for (int b = 0; b < nb; b++) {
    uint8_t sc[8], mn[8];
    q4k_scales(w[b].scales, sc, mn);
    const float d = h2f(w[b].d), dmin = h2f(w[b].dmin);
    __m256i isum[4];
    for (int j = 0; j < NX; j++)
      isum[j] = _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
      const __m256i q = _mm256_loadu_si256((const __m256i *)(w[b].qs + 32 * c));
      const __m256i lo = _mm256_and_si256(q, m4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
      const __m256i s0 = _mm256_set1_epi16(sc[2 * c]), s1 = _mm256_set1_epi16(sc[2 * c + 1]);
      for (int j = 0; j < NX; j++) {
        const eco_block_q8_k *a = (const eco_block_q8_k *)(x + j * xs) + b;
        const __m256i a0 = _mm256_loadu_si256((const __m256i *)(a->qs + 64 * c));
        const __m256i a1 = _mm256_loadu_si256((const __m256i *)(a->qs + 64 * c + 32));
        const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, a0), s0);
        const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, a1), s1);
        isum[j] = _mm256_add_epi32(isum[j], _mm256_add_epi32(p0, p1));
      }
    }
    for (int j = 0; j < NX; j++) {
      const eco_block_q8_k *a = (const eco_block_q8_k *)(x + j * xs) + b;
      int32_t summ = 0;
      for (int s = 0; s < 8; s++)
        summ += mn[s] * (a->bsums[2 * s] + a->bsums[2 * s + 1]);
      acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(d * a->d), _mm256_cvtepi32_ps(isum[j]), acc[j]);
      accm[j] += dmin * a->d * (float)summ;
    }
  }
  for (int j = 0; j < NX; j++)
    out[j] = hsum_ps(acc[j]) - accm[j];
}

/* --- Q6_K x Q8_K -------------------------------------------------------------------- */
INLINE void q6_k_nx(int n, const eco_block_q6_k *w, const uint8_t *x, size_t xs, const int NX,
                    float *out) {
  __m256 acc[4];
  float accc[4];
  for (int j = 0; j < NX; j++) {
    acc[j] = _mm256_setzero_ps();
    accc[j] = 0;
  }
  const __m256i m4 = _mm256_set1_epi8(0xF), m3 = _mm256_set1_epi8(3);
  const int nb = n / 256;
  for (int b = 0; b < nb; b++) {
    const float d = h2f(w[b].d);
    __m256i isum[4];
    for (int j = 0; j < NX; j++)
      isum[j] = _mm256_setzero_si256();
    for (int c = 0; c < 2; c++) {
      const uint8_t *ql = w[b].ql + 64 * c, *qh = w[b].qh + 32 * c;
      const int8_t *sc = w[b].scales + 8 * c;
      const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
      const __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
      const __m256i h = _mm256_loadu_si256((const __m256i *)qh);
      __m256i q[4], s[4];
      q[0] =
          _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(h, m3), 4));
      q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), m3), 4));
      q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), m3), 4));
      q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), m3), 4));
      for (int k = 0; k < 4; k++)
        s[k] = _mm256_set_m128i(_mm_set1_epi16(sc[2 * k + 1]), _mm_set1_epi16(sc[2 * k]));
      for (int j = 0; j < NX; j++) {
        const eco_block_q8_k *a = (const eco_block_q8_k *)(x + j * xs) + b;
        for (int k = 0; k < 4; k++) {
          const __m256i av = _mm256_loadu_si256((const __m256i *)(a->qs + 128 * c + 32 * k));
          isum[j] =
              _mm256_add_epi32(isum[j], _mm256_madd_epi16(_mm256_maddubs_epi16(q[k], av), s[k]));
        }
      }
    }
    for (int j = 0; j < NX; j++) {
      const eco_block_q8_k *a = (const eco_block_q8_k *)(x + j * xs) + b;
      int32_t corr = 0;
      for (int g = 0; g < 16; g++)
        corr += w[b].scales[g] * a->bsums[g];
      acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(d * a->d), _mm256_cvtepi32_ps(isum[j]), acc[j]);
      accc[j] += d * a->d * (float)(32 * corr);
    }
  }
  for (int j = 0; j < NX; j++)
    out[j] = hsum_ps(acc[j]) - accc[j];
}

/* Batch wrappers: groups of 4 vectors, then the remainder. */
#define BATCH(name, kernel, wtype)                                                                 \
  static void name(int n, const void *w, const void *x, size_t xs, int nx, float *out) {           \
    const uint8_t *xb = x;                                                                         \
    int j = 0;                                                                                     \
    for (; j + 4 <= nx; j += 4)                                                                    \
      kernel(n, (const wtype *)w, xb + j * xs, xs, 4, out + j);                                    \
    switch (nx - j) {                                                                              \
    case 3: kernel(n, (const wtype *)w, xb + j * xs, xs, 3, out + j); break;                       \
    case 2: kernel(n, (const wtype *)w, xb + j * xs, xs, 2, out + j); break;                       \
    case 1: kernel(n, (const wtype *)w, xb + j * xs, xs, 1, out + j); break;                       \
    default: break;                                                                                \
    }                                                                                              \
  }

BATCH(dot_f32, f32_nx, float)
BATCH(dot_f16, f16_nx, uint16_t)
BATCH(dot_bf16, bf16_nx, uint16_t)
BATCH(dot_q8_0_b, q8_0_nx, eco_block_q8_0)
BATCH(dot_q4_0_b, q4_0_nx, eco_block_q4_0)

static void dot_q8_0(int n, const void *w, const void *x, size_t xs, int nx, float *out) {
  if (nx == 1)
    q8_0_x1(n, w, x, out);
  else
    dot_q8_0_b(n, w, x, xs, nx, out);
}
static void dot_q4_0(int n, const void *w, const void *x, size_t xs, int nx, float *out) {
  if (nx == 1)
    q4_0_x1(n, w, x, out);
  else
    dot_q4_0_b(n, w, x, xs, nx, out);
}
BATCH(dot_q4_k, q4_k_nx, eco_block_q4_k)
BATCH(dot_q6_k, q6_k_nx, eco_block_q6_k)

void eco_kernels_init_avx2(eco_kernels *k) {
  k->dot[ECO_GGML_F32] = dot_f32;
  k->dot[ECO_GGML_F16] = dot_f16;
  k->dot[ECO_GGML_BF16] = dot_bf16;
  k->dot[ECO_GGML_Q8_0] = dot_q8_0;
  k->dot[ECO_GGML_Q4_0] = dot_q4_0;
  k->dot4[ECO_GGML_Q4_0] = q4_0_r4;
  k->dot[ECO_GGML_Q4_K] = dot_q4_k;
  k->dot[ECO_GGML_Q6_K] = dot_q6_k;
  k->attn_scores = attn_scores;
  k->attn_accum = attn_accum;
  k->attn_scores_f16 = attn_scores_f16;
  k->attn_accum_f16 = attn_accum_f16;
  k->to_f16 = to_f16;
  k->silu_mul = silu_mul;
  k->softmax = softmax;
  k->quant_act = quant_act;
  eco_kernels_init_x8_main_avx2(k);
  eco_kernels_init_x8_avx2(k);
}
