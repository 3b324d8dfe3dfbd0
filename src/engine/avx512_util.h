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
