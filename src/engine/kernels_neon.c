/* ecoinfer: NEON kernels (aarch64 baseline Advanced SIMD, no dotprod
 * extension needed): F32, F16, Q8_0 and Q4_0. K-quants and BF16 keep the
 * scalar kernels on ARM for now. */
#include "engine/kernels.h"

#include <arm_neon.h>

static void dot_f32(int n, const void *wv, const void *xv, size_t xs, int nx, float *out) {
  const float *w = wv;
  for (int j = 0; j < nx; j++) {
    const float *a = (const float *)(const void *)((const uint8_t *)xv + j * xs);
    float32x4_t acc0 = vdupq_n_f32(0), acc1 = vdupq_n_f32(0);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
      acc0 = vfmaq_f32(acc0, vld1q_f32(w + i), vld1q_f32(a + i));
      acc1 = vfmaq_f32(acc1, vld1q_f32(w + i + 4), vld1q_f32(a + i + 4));
    }
    float s = vaddvq_f32(vaddq_f32(acc0, acc1));
    for (; i < n; i++)
      s += w[i] * a[i];
    out[j] = s;
  }
}

static void dot_f16(int n, const void *wv, const void *xv, size_t xs, int nx, float *out) {
  const uint16_t *w = wv;
  for (int j = 0; j < nx; j++) {
    const uint16_t *a = (const uint16_t *)((const uint8_t *)xv + j * xs);
    float32x4_t acc0 = vdupq_n_f32(0), acc1 = vdupq_n_f32(0);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
      const float16x8_t wh = vreinterpretq_f16_u16(vld1q_u16(w + i));
      const float16x8_t ah = vreinterpretq_f16_u16(vld1q_u16(a + i));
      acc0 = vfmaq_f32(acc0, vcvt_f32_f16(vget_low_f16(wh)), vcvt_f32_f16(vget_low_f16(ah)));
      acc1 = vfmaq_f32(acc1, vcvt_high_f32_f16(wh), vcvt_high_f32_f16(ah));
    }
    float s = vaddvq_f32(vaddq_f32(acc0, acc1));
    for (; i < n; i++)
      s += eco_fp16_to_fp32(w[i]) * eco_fp16_to_fp32(a[i]);
    out[j] = s;
  }
}

/* 32 signed bytes times 32 signed bytes, summed to one int32 */
static inline int32_t dot32_i8(int8x16_t w0, int8x16_t w1, const int8_t *a) {
  const int8x16_t a0 = vld1q_s8(a), a1 = vld1q_s8(a + 16);
  int16x8_t p = vmull_s8(vget_low_s8(w0), vget_low_s8(a0));
  p = vmlal_s8(p, vget_high_s8(w0), vget_high_s8(a0));
  int16x8_t q = vmull_s8(vget_low_s8(w1), vget_low_s8(a1));
  q = vmlal_s8(q, vget_high_s8(w1), vget_high_s8(a1));
  return vaddvq_s32(vaddq_s32(vpaddlq_s16(p), vpaddlq_s16(q)));
}

static void dot_q8_0(int n, const void *wv, const void *xv, size_t xs, int nx, float *out) {
  const eco_block_q8_0 *w = wv;
  for (int j = 0; j < nx; j++) {
    const eco_block_q8_0 *a = (const eco_block_q8_0 *)((const uint8_t *)xv + j * xs);
    float s = 0;
    for (int b = 0; b < n / 32; b++) {
      const int32_t si = dot32_i8(vld1q_s8(w[b].qs), vld1q_s8(w[b].qs + 16), a[b].qs);
      s += (float)si * (eco_fp16_to_fp32(w[b].d) * eco_fp16_to_fp32(a[b].d));
    }
    out[j] = s;
  }
}

static void dot_q4_0(int n, const void *wv, const void *xv, size_t xs, int nx, float *out) {
  const eco_block_q4_0 *w = wv;
  const uint8x16_t m4 = vdupq_n_u8(0xF);
  const int8x16_t eight = vdupq_n_s8(8);
  for (int j = 0; j < nx; j++) {
    const eco_block_q8_0 *a = (const eco_block_q8_0 *)((const uint8_t *)xv + j * xs);
    float s = 0;
    for (int b = 0; b < n / 32; b++) {
      const uint8x16_t q = vld1q_u8(w[b].qs);
      const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, m4)), eight);
      const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), eight);
      const int32_t si = dot32_i8(lo, hi, a[b].qs);
      s += (float)si * (eco_fp16_to_fp32(w[b].d) * eco_fp16_to_fp32(a[b].d));
    }
    out[j] = s;
  }
}

void eco_kernels_init_neon(eco_kernels *k) {
  k->dot[ECO_GGML_F32] = dot_f32;
  k->dot[ECO_GGML_F16] = dot_f16;
  k->dot[ECO_GGML_Q8_0] = dot_q8_0;
  k->dot[ECO_GGML_Q4_0] = dot_q4_0;
}
