/* ecoinfer: helpers shared by the x86 kernels of the packed layouts
 * (kernels_x8_main_avx2.c, kernels_x8_avx2.c, kernels_x8_avx512vnni.c);
 * included only by files compiled for AVX2 or above. */
#ifndef ECO_ENGINE_KERNELS_X8_X86_H
#define ECO_ENGINE_KERNELS_X8_X86_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))

/* Software prefetch distance of the packed kernels, in bytes ahead of the
 * block being read: weights stream from DRAM once per decode step, and at
 * batch > 1 the kernels compute long enough per block that the hardware
 * prefetcher alone falls behind. */
#ifndef PF_DIST
#define PF_DIST 4096
#endif

/* the 4 activation bytes at p in every 32-bit lane */
INLINE __m256i bcast4(const int8_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

/* bit `from` of every byte of h moved to bit `to` (0..7), other bits clear;
 * 16-bit shifts bring no bit across a byte boundary into the kept one */
INLINE __m256i bit_at(__m256i h, const int from, const int to) {
  const __m256i m = _mm256_set1_epi8((char)(1 << to));
  if (from == to) return _mm256_and_si256(h, m);
  if (from < to) return _mm256_and_si256(_mm256_slli_epi16(h, to - from), m);
  return _mm256_and_si256(_mm256_srli_epi16(h, from - to), m);
}

/* chunk k's low / high 5-bit quants from a NIB chunk w and the BIT area h */
INLINE __m256i q5_lo(__m256i w, __m256i h, const int k) {
  return _mm256_or_si256(_mm256_and_si256(w, _mm256_set1_epi8(0xF)), bit_at(h, k, 4));
}
INLINE __m256i q5_hi(__m256i w, __m256i h, const int k) {
  return _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(w, 4), _mm256_set1_epi8(0xF)),
                         bit_at(h, 4 + k, 4));
}

INLINE void prefetch3(const uint8_t *p) {
  _mm_prefetch((const char *)p + PF_DIST, _MM_HINT_T0);
  _mm_prefetch((const char *)p + PF_DIST + 64, _MM_HINT_T0);
  _mm_prefetch((const char *)p + PF_DIST + 128, _MM_HINT_T0);
}

#endif
