/* ecoinfer: what the x86 attention kernels share (kernels_avx2.c and
 * kernels_attn_avx512.c): the prefetch of the caller's hint rows, and the
 * four eco_kernels attention entries (kernels.h) made from one scores body
 * and one accumulation body, each taking the cache's element type as a
 * compile-time flag (F16 = 1: IEEE half, else F32). Included only by files
 * compiled for AVX2 or above. */
#ifndef ECO_ENGINE_ATTN_X86_H
#define ECO_ENGINE_ATTN_X86_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

/* Prefetches rows [r0, r1) of a run of cache rows (the caller's hint,
 * kernels.h, or the kernel's own K rows ahead), clipped to its pf_rows rows:
 * each row's hd elements of es bytes, rows kv_stride elements apart. */
static inline __attribute__((always_inline)) void
eco_attn_prefetch_rows(const void *pf, int pf_rows, int r0, int r1, int hd, size_t kv_stride,
                       size_t es) {
  if (!pf) return;
  if (r1 > pf_rows) r1 = pf_rows;
  for (int r = r0; r < r1; r++)
    for (size_t l = 0; l < (size_t)hd * es; l += 64)
      _mm_prefetch((const char *)pf + (size_t)r * kv_stride * es + l, _MM_HINT_T0);
}

/* Defines the static attn_scores, attn_scores_f16, attn_accum and
 * attn_accum_f16 of kernels.h's signatures over SCORES(hd, q, nq, K,
 * kv_stride, n_pos, scale, out, pf, pf_rows, F16) and ACCUM(hd, w, nq, V,
 * kv_stride, n_pos, o, pf, pf_rows, F16). */
#define ECO_ATTN_ENTRIES(SCORES, ACCUM)                                                            \
  static void attn_scores(int hd, const float *q, int nq, const float *K, size_t kv_stride,        \
                          int n_pos, float scale, float *out, const void *pf, int pf_rows) {       \
    SCORES(hd, q, nq, K, kv_stride, n_pos, scale, out, pf, pf_rows, 0);                            \
  }                                                                                                \
  static void attn_scores_f16(int hd, const float *q, int nq, const uint16_t *K, size_t kv_stride, \
                              int n_pos, float scale, float *out, const void *pf, int pf_rows) {   \
    SCORES(hd, q, nq, K, kv_stride, n_pos, scale, out, pf, pf_rows, 1);                            \
  }                                                                                                \
  static void attn_accum(int hd, const float *w, int nq, const float *V, size_t kv_stride,         \
                         int n_pos, float *o, const void *pf, int pf_rows) {                       \
    ACCUM(hd, w, nq, V, kv_stride, n_pos, o, pf, pf_rows, 0);                                      \
  }                                                                                                \
  static void attn_accum_f16(int hd, const float *w, int nq, const uint16_t *V, size_t kv_stride,  \
                             int n_pos, float *o, const void *pf, int pf_rows) {                   \
    ACCUM(hd, w, nq, V, kv_stride, n_pos, o, pf, pf_rows, 1);                                      \
  }

#endif
