/* ecoinfer: AVX-512 (F, BW, VL, VNNI) kernels. Deliberately small: F32 with
 * 512-bit FMA and, where the CPU has VNNI, Q8_0/Q4_0 with the VNNI dot
 * instruction; every other type keeps its AVX2 kernel (eco_kernels_init_avx2
 * runs first). */
#include "engine/kernels.h"

#include <immintrin.h>

#define INLINE static inline __attribute__((always_inline))

INLINE float h2f(uint16_t h) { return _cvtsh_ss(h); }

INLINE float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

static void dot_f32(int n, const void *wv, const void *xv, size_t xs, int nx, float *out) {
  const float *w = wv;
  for (int j = 0; j < nx; j++) {
    const float *a = (const float *)(const void *)((const uint8_t *)xv + j * xs);
    __m512 acc = _mm512_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16)
      acc = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), _mm512_loadu_ps(a + i), acc);
    float s = _mm512_reduce_add_ps(acc);
    for (; i < n; i++)
      s += w[i] * a[i];
    out[j] = s;
  }
}

INLINE __m256i dot_i8_vnni(__m256i w, __m256i a) {
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(w, w),
                             _mm256_sign_epi8(a, w));
}

static void dot_q8_0(int n, const void *wv, const void *xv, size_t xs, int nx, float *out) {
  const eco_block_q8_0 *w = wv;
  for (int j = 0; j < nx; j++) {
    const eco_block_q8_0 *a = (const eco_block_q8_0 *)((const uint8_t *)xv + j * xs);
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < n / 32; b++) {
      const __m256i s = dot_i8_vnni(_mm256_loadu_si256((const __m256i *)w[b].qs),
                                    _mm256_loadu_si256((const __m256i *)a[b].qs));
      acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(w[b].d) * h2f(a[b].d)), _mm256_cvtepi32_ps(s), acc);
    }
    out[j] = hsum256(acc);
  }
}

static void dot_q4_0(int n, const void *wv, const void *xv, size_t xs, int nx, float *out) {
  const eco_block_q4_0 *w = wv;
  const __m256i m4 = _mm256_set1_epi8(0xF), eight = _mm256_set1_epi8(8);
  for (int j = 0; j < nx; j++) {
    const eco_block_q8_0 *a = (const eco_block_q8_0 *)((const uint8_t *)xv + j * xs);
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < n / 32; b++) {
      const __m128i t = _mm_loadu_si128((const __m128i *)w[b].qs);
      const __m256i q =
          _mm256_sub_epi8(_mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), m4), eight);
      const __m256i s = dot_i8_vnni(q, _mm256_loadu_si256((const __m256i *)a[b].qs));
      acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(w[b].d) * h2f(a[b].d)), _mm256_cvtepi32_ps(s), acc);
    }
    out[j] = hsum256(acc);
  }
}

void eco_kernels_init_avx512(eco_kernels *k) {
  k->dot[ECO_GGML_F32] = dot_f32;
  /* AVX-512 without VNNI (Skylake-X) keeps the AVX2 integer kernels */
  eco_cpu_info ci;
  eco_cpu_detect(&ci);
  if (ci.has_avx512vnni) {
    k->dot[ECO_GGML_Q8_0] = dot_q8_0;
    k->dot[ECO_GGML_Q4_0] = dot_q4_0;
  }
}
