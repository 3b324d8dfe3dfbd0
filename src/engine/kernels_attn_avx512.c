/* ecoinfer: AVX-512 attention kernels over F32 and F16 KV caches (level
 * ECO_SIMD_AVX512 and up; they replace the AVX2 ones, kernels.h has the
 * contract).
 *
 * The AVX2 kernels widen every K element once per query head and reduce
 * each (head, position) dot in 256-bit registers, vector work that grows
 * with the context. Here:
 *   - scores: a block of 8 positions against up to 3 query heads keeps 24
 *     accumulators in registers, so each K chunk is loaded and widened once
 *     for those heads; the 8 dots of a head are then reduced together by a
 *     shuffle tree (reduce8) instead of one horizontal sum each;
 *   - accumulation: up to 4 heads by 64 columns (16 accumulators) per pass
 *     over the V rows, each V chunk widened once for all of them.
 * Head dimensions that are not a multiple of 16 use masked loads and stores
 * in their last chunk. Sums run in a different order than the reference's,
 * so results agree to rounding (tests/helpers/kernel_checks.c).
 * On Zen 4 (docs/benchmarks/batch.md, session 9) decode steps at context 512
 * ran 3-9 % faster than with the AVX2 kernels; at context 64, where the
 * tasks wait on the cache's DRAM reads rather than on arithmetic, 0-3 %. */
#include "engine/attn_x86.h"
#include "engine/kernels.h"

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#define INLINE static inline __attribute__((always_inline))

#define SC_POS   8 /* positions per scores block */
#define SC_HEADS 3 /* query heads per scores pass (3 x 8 accumulators) */
#define AC_HEADS 4 /* query heads per accumulation pass */
#define AC_CH    4 /* 16-column chunks per accumulation pass */

/* The lanes of chunk c (16 elements from 16c) that lie inside hd. */
INLINE __mmask16 chunk_mask(int hd, int c) {
  const int left = hd - 16 * c;
  return left >= 16 ? (__mmask16)0xFFFFu : (__mmask16)((1u << left) - 1u);
}

/* 16 cache elements from idx (lanes outside m read as zero), widened. */
INLINE __m512 kv_load16(const void *base, size_t idx, __mmask16 m, const int F16) {
  if (F16) return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)base + idx));
  return _mm512_maskz_loadu_ps(m, (const float *)base + idx);
}

/* lanes 0-7: a's 256-bit halves added, lanes 8-15: b's, as 128-bit lanes
 * [a0 + a2, a1 + a3, b0 + b2, b1 + b3] */
INLINE __m512 fold_pair(__m512 a, __m512 b) {
  return _mm512_add_ps(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(1, 0, 1, 0)),
                       _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
}

/* Lane p of the result = the sum of v[p]'s 16 lanes. */
INLINE __m256 reduce8(const __m512 *v) {
  const __m512 t01 = fold_pair(v[0], v[1]), t23 = fold_pair(v[2], v[3]);
  const __m512 t45 = fold_pair(v[4], v[5]), t67 = fold_pair(v[6], v[7]);
  /* 128-bit lane k of u0 holds 4 partial sums of v[k], of u1 of v[4 + k] */
  const __m512 u0 = _mm512_add_ps(_mm512_shuffle_f32x4(t01, t23, _MM_SHUFFLE(2, 0, 2, 0)),
                                  _mm512_shuffle_f32x4(t01, t23, _MM_SHUFFLE(3, 1, 3, 1)));
  const __m512 u1 = _mm512_add_ps(_mm512_shuffle_f32x4(t45, t67, _MM_SHUFFLE(2, 0, 2, 0)),
                                  _mm512_shuffle_f32x4(t45, t67, _MM_SHUFFLE(3, 1, 3, 1)));
  /* lane k: [v[k]: x0 + x2, v[4+k]: x0 + x2, v[k]: x1 + x3, v[4+k]: x1 + x3] */
  const __m512 x = _mm512_add_ps(_mm512_unpacklo_ps(u0, u1), _mm512_unpackhi_ps(u0, u1));
  /* lane k: [sum v[k], sum v[4+k], (copies)] */
  const __m512 y = _mm512_add_ps(x, _mm512_permute_ps(x, _MM_SHUFFLE(1, 0, 3, 2)));
  return _mm512_castps512_ps256(_mm512_permutexvar_ps(
      _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 0, 0, 0, 0, 0, 0, 0, 0), y));
}

/* out[j][s0 + p] = scale * q_j . K_{s0+p} for heads j < NH (q: NH rows of
 * hd) and positions p < np (np <= SC_POS; np is SC_POS in the hot path). */
INLINE void scores_block(int hd, const float *q, const int NH, const void *K, size_t kv_stride,
                         int s0, const int np, float scale, float *out, int n_pos, const int F16) {
  __m512 acc[SC_HEADS][SC_POS];
  for (int j = 0; j < NH; j++)
    for (int p = 0; p < SC_POS; p++)
      acc[j][p] = _mm512_setzero_ps();
  for (int c = 0; 16 * c < hd; c++) {
    const __mmask16 m = chunk_mask(hd, c);
    __m512 qv[SC_HEADS];
    for (int j = 0; j < NH; j++)
      qv[j] = _mm512_maskz_loadu_ps(m, q + (size_t)j * hd + 16 * c);
    for (int p = 0; p < np; p++) {
      const __m512 k = kv_load16(K, (size_t)(s0 + p) * kv_stride + 16 * (size_t)c, m, F16);
      for (int j = 0; j < NH; j++)
        acc[j][p] = _mm512_fmadd_ps(qv[j], k, acc[j][p]);
    }
  }
  const __mmask8 om = (__mmask8)((1u << np) - 1u);
  for (int j = 0; j < NH; j++)
    _mm256_mask_storeu_ps(out + (size_t)j * n_pos + s0, om,
                          _mm256_mul_ps(reduce8(acc[j]), _mm256_set1_ps(scale)));
}

INLINE void scores_impl(int hd, const float *q, int nq, const void *K, size_t kv_stride, int n_pos,
                        float scale, float *out, const void *pf, int pf_rows, const int F16) {
  const size_t es = F16 ? 2 : 4;
  for (int s0 = 0; s0 < n_pos; s0 += SC_POS) {
    const int np = n_pos - s0 < SC_POS ? n_pos - s0 : SC_POS;
    /* the run's rows two blocks ahead, and the hint's rows at these positions */
    eco_attn_prefetch_rows(K, n_pos, s0 + 2 * SC_POS, s0 + 3 * SC_POS, hd, kv_stride, es);
    eco_attn_prefetch_rows(pf, pf_rows, s0, s0 + np, hd, kv_stride, es);
    for (int h0 = 0; h0 < nq; h0 += SC_HEADS) {
      const float *qh = q + (size_t)h0 * hd;
      float *oh = out + (size_t)h0 * n_pos;
      const int nh = nq - h0 < SC_HEADS ? nq - h0 : SC_HEADS;
      if (np == SC_POS) {
        if (nh == 3)
          scores_block(hd, qh, 3, K, kv_stride, s0, SC_POS, scale, oh, n_pos, F16);
        else if (nh == 2)
          scores_block(hd, qh, 2, K, kv_stride, s0, SC_POS, scale, oh, n_pos, F16);
        else
          scores_block(hd, qh, 1, K, kv_stride, s0, SC_POS, scale, oh, n_pos, F16);
      } else { /* the last, partial block */
        for (int j = 0; j < nh; j++)
          scores_block(hd, qh + (size_t)j * hd, 1, K, kv_stride, s0, np, scale,
                       oh + (size_t)j * n_pos, n_pos, F16);
      }
    }
  }
}

/* o[j][c0 .. c0 + 16 NC) = sum_s w[j][s] V_s[...] for heads h0 .. h0 + NH;
 * the first pass over the rows (pf set) prefetches the hint beside V. */
INLINE void accum_block(int hd, const float *w, int h0, const int NH, int c0, const int NC,
                        const void *V, size_t kv_stride, int n_pos, float *o, const void *pf,
                        int pf_rows, const int F16) {
  const size_t es = F16 ? 2 : 4;
  __m512 acc[AC_HEADS][AC_CH];
  __mmask16 m[AC_CH];
  for (int v = 0; v < NC; v++)
    m[v] = chunk_mask(hd, c0 / 16 + v);
  for (int j = 0; j < NH; j++)
    for (int v = 0; v < NC; v++)
      acc[j][v] = _mm512_setzero_ps();
  for (int s = 0; s < n_pos; s++) {
    const size_t row = (size_t)s * kv_stride + (size_t)c0;
    for (size_t l = 0; l < (size_t)NC * 16 * es; l += 64) /* this block's row 16 ahead */
      _mm_prefetch((const char *)V + (row + 16 * kv_stride) * es + l, _MM_HINT_T0);
    eco_attn_prefetch_rows(pf, pf_rows, s, s + 1, hd, kv_stride, es);
    __m512 x[AC_CH];
    for (int v = 0; v < NC; v++)
      x[v] = kv_load16(V, row + 16 * (size_t)v, m[v], F16);
    for (int j = 0; j < NH; j++) {
      const __m512 bw = _mm512_set1_ps(w[(size_t)(h0 + j) * n_pos + s]);
      for (int v = 0; v < NC; v++)
        acc[j][v] = _mm512_fmadd_ps(bw, x[v], acc[j][v]);
    }
  }
  for (int j = 0; j < NH; j++)
    for (int v = 0; v < NC; v++)
      _mm512_mask_storeu_ps(o + (size_t)(h0 + j) * hd + c0 + 16 * v, m[v], acc[j][v]);
}

/* accum_block with NH and NC as compile-time constants */
#define AC_CASE(nh, nc)                                                                            \
  case (nh)*8 + (nc):                                                                              \
    accum_block(hd, w, h0, nh, c0, nc, V, kv_stride, n_pos, o, pf, pf_rows, F16);                  \
    break
#define AC_CASES(nh)                                                                               \
  AC_CASE(nh, 1);                                                                                  \
  AC_CASE(nh, 2);                                                                                  \
  AC_CASE(nh, 3);                                                                                  \
  AC_CASE(nh, 4)

INLINE void accum_impl(int hd, const float *w, int nq, const void *V, size_t kv_stride, int n_pos,
                       float *o, const void *pf, int pf_rows, const int F16) {
  const int chunks = (hd + 15) / 16;
  for (int h0 = 0; h0 < nq; h0 += AC_HEADS) {
    const int nh = nq - h0 < AC_HEADS ? nq - h0 : AC_HEADS;
    for (int c = 0; c < chunks; c += AC_CH, pf = NULL) {
      const int nc = chunks - c < AC_CH ? chunks - c : AC_CH, c0 = 16 * c;
      switch (nh * 8 + nc) {
        AC_CASES(1);
        AC_CASES(2);
        AC_CASES(3);
        AC_CASES(4);
      default: break;
      }
    }
  }
}

ECO_ATTN_ENTRIES(scores_impl, accum_impl)

void eco_kernels_init_attn_avx512(eco_kernels *k) {
  k->attn_scores = attn_scores;
  k->attn_scores_f16 = attn_scores_f16;
  k->attn_accum = attn_accum;
  k->attn_accum_f16 = attn_accum_f16;
}
