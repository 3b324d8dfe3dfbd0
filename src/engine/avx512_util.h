/* ecoinfer: helpers of the AVX-512 packed kernels (kernels_avx512.c,
 * kernels_avx512vnni.c). Include only from files compiled for AVX-512
 * (file suffix _avx512.c / _avx512vnni.c, see CMakeLists.txt).
 *
 * The 512-bit packed kernels read two chunks of a packed block (pack.h) per
 * 64-byte load: chunk k (8 rows x 4 bytes) and chunk k+1. il() interleaves
 * them so that lane 2r holds chunk k of row r and lane 2r+1 chunk k+1 of
 * row r; the 8 matching activation bytes (4 per chunk) are then one 64-bit
 * element broadcast to every lane, a plain load (bcast8). A row's sum ends
 * in its two lanes, which fold16/fold16i add. Per-row values (scales) are
 * spread over the same two lanes with dup8. */
#ifndef ECO_ENGINE_AVX512_UTIL_H
#define ECO_ENGINE_AVX512_UTIL_H

#include "engine/quant.h"

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define ECO_AVX512_INLINE static inline __attribute__((always_inline))

ECO_AVX512_INLINE __m512i eco512_il(__m512i w) {
  return _mm512_permutexvar_epi32(
      _mm512_setr_epi32(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15), w);
}

/* 64 bytes at p, interleaved by eco512_il */
ECO_AVX512_INLINE __m512i eco512_load_il(const uint8_t *p) {
  return eco512_il(_mm512_loadu_si512((const void *)p));
}

/* 8 activation bytes at p in every 64-bit element */
ECO_AVX512_INLINE __m512i eco512_bcast8(const int8_t *p) {
  int64_t v;
  memcpy(&v, p, 8);
  return _mm512_set1_epi64(v);
}

/* 8 int32 lanes (one per row) -> 16, row r in lanes 2r and 2r+1 */
ECO_AVX512_INLINE __m512i eco512_dup8(__m256i v) {
  return _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7),
                                  _mm512_castsi256_si512(v));
}

/* 8 F16 row scales at p -> 16 floats, row r in lanes 2r and 2r+1 */
ECO_AVX512_INLINE __m512 eco512_scales16(const uint8_t *p) {
  return _mm512_castsi512_ps(
      eco512_dup8(_mm256_castps_si256(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)))));
}

/* lanes 2r + 2r+1 -> lane r */
ECO_AVX512_INLINE __m256i eco512_fold16i(__m512i v) {
  return _mm512_cvtepi64_epi32(_mm512_add_epi32(v, _mm512_srli_epi64(v, 32)));
}
ECO_AVX512_INLINE __m256 eco512_fold16(__m512 v) {
  const __m512 s =
      _mm512_add_ps(v, _mm512_castsi512_ps(_mm512_srli_epi64(_mm512_castps_si512(v), 32)));
  return _mm256_castsi256_ps(_mm512_cvtepi64_epi32(_mm512_castps_si512(s)));
}

/* The K-quant corrections of one packed super-block g against one Q8_K
 * activation block a, 8 int32 lanes (one per row):
 *   Q4_K mins:    sum over sub-blocks s of min[s][r] * (sum of a's quants in s)
 *   Q6_K offset:  sum over 16-element sub-blocks of scale[r] * (a's sub-block sum),
 *                 to be taken 32 times (the quants are stored + 32) */
ECO_AVX512_INLINE __m256i eco512_q4k_mins(const uint8_t *g, const eco_block_q8_k *a) {
  __m256i msum = _mm256_setzero_si256();
  for (int p = 0; p < 4; p++) {
    const int32_t b0 = a->bsums[4 * p] + a->bsums[4 * p + 1];
    const int32_t b1 = a->bsums[4 * p + 2] + a->bsums[4 * p + 3];
    const __m256i mn = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(g + 96 + 16 * p)));
    const __m256i bb =
        _mm256_set1_epi32((int32_t)((uint32_t)(uint16_t)b0 | ((uint32_t)(uint16_t)b1 << 16)));
    msum = _mm256_add_epi32(msum, _mm256_madd_epi16(mn, bb));
  }
  return msum;
}
ECO_AVX512_INLINE __m256i eco512_q6k_offset(const uint8_t *g, const eco_block_q8_k *a) {
  __m256i msum = _mm256_setzero_si256();
  for (int p = 0; p < 8; p++) {
    const __m256i scp = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(g + 16 + 16 * p)));
    const __m256i bb =
        _mm256_set1_epi32((int32_t)((uint32_t)(uint16_t)a->bsums[2 * p] |
                                    ((uint32_t)(uint16_t)a->bsums[2 * p + 1] << 16)));
    msum = _mm256_add_epi32(msum, _mm256_madd_epi16(scp, bb));
  }
  return msum;
}

/* The end of a packed super-block b for activation rows j < NX (x: Q8_K
 * rows xs bytes apart), from each row's int32 dot isum[j] in 16 lanes:
 *   Q4_K:  acc[j] += d * da * dot - dmin * da * mins
 *   Q6_K:  acc[j] += d * da * (dot - 32 * offset) */
ECO_AVX512_INLINE void eco512_q4k_finish(const uint8_t *g, const uint8_t *x, size_t xs, int b,
                                         const int NX, const __m512i *isum, __m256 *acc) {
  const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g));
  const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(g + 16)));
  for (int j = 0; j < NX; j++) {
    const eco_block_q8_k *a = (const eco_block_q8_k *)(const void *)(x + j * xs) + b;
    const __m256 da = _mm256_set1_ps(a->d);
    acc[j] =
        _mm256_fmadd_ps(_mm256_cvtepi32_ps(eco512_fold16i(isum[j])), _mm256_mul_ps(d, da), acc[j]);
    acc[j] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(eco512_q4k_mins(g, a)), _mm256_mul_ps(dmin, da),
                              acc[j]);
  }
}
ECO_AVX512_INLINE void eco512_q6k_finish(const uint8_t *g, const uint8_t *x, size_t xs, int b,
                                         const int NX, const __m256i *isum, __m256 *acc) {
  const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g));
  for (int j = 0; j < NX; j++) {
    const eco_block_q8_k *a = (const eco_block_q8_k *)(const void *)(x + j * xs) + b;
    const __m256i i32 = _mm256_sub_epi32(isum[j], _mm256_slli_epi32(eco512_q6k_offset(g, a), 5));
    acc[j] =
        _mm256_fmadd_ps(_mm256_cvtepi32_ps(i32), _mm256_mul_ps(d, _mm256_set1_ps(a->d)), acc[j]);
  }
}

/* Batch wrappers of a packed kernel KERNEL(n, g, x, xs, NX, out, os):
 * activation rows in groups of 8 (or 4), then the rest, NX a compile-time
 * constant inside each call. */
#define ECO512_REST(kernel, r)                                                                     \
  case r:                                                                                          \
    kernel(n, g, xb + j * xs, xs, r, out + os * (size_t)j, os);                                    \
    break
#define ECO512_PBATCH_HEAD(name, kernel, NMAX)                                                     \
  static void name(int n, const void *g, const void *x, size_t xs, int nx, float *out,             \
                   size_t os) {                                                                    \
    const uint8_t *xb = x;                                                                         \
    int j = 0;                                                                                     \
    for (; j + (NMAX) <= nx; j += (NMAX))                                                          \
      kernel(n, g, xb + j * xs, xs, (NMAX), out + os * (size_t)j, os);
#define ECO512_PBATCH8(name, kernel)                                                               \
  ECO512_PBATCH_HEAD(name, kernel, 8)                                                              \
  switch (nx - j) {                                                                                \
    ECO512_REST(kernel, 7);                                                                        \
    ECO512_REST(kernel, 6);                                                                        \
    ECO512_REST(kernel, 5);                                                                        \
    ECO512_REST(kernel, 4);                                                                        \
    ECO512_REST(kernel, 3);                                                                        \
    ECO512_REST(kernel, 2);                                                                        \
    ECO512_REST(kernel, 1);                                                                        \
  default: break;                                                                                  \
  }                                                                                                \
  }
#define ECO512_PBATCH4(name, kernel)                                                               \
  ECO512_PBATCH_HEAD(name, kernel, 4)                                                              \
  switch (nx - j) {                                                                                \
    ECO512_REST(kernel, 3);                                                                        \
    ECO512_REST(kernel, 2);                                                                        \
    ECO512_REST(kernel, 1);                                                                        \
  default: break;                                                                                  \
  }                                                                                                \
  }

#endif
