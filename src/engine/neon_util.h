/* ecoinfer: helpers shared by the NEON kernels of the packed layouts
 * (kernels_neon.c, kernels_x8_neon.c); included only on aarch64. */
#ifndef ECO_ENGINE_NEON_UTIL_H
#define ECO_ENGINE_NEON_UTIL_H

#include <arm_neon.h>
#include <stdint.h>
#include <string.h>

/* the 4 activation bytes at a in every 32-bit lane */
static inline int8x16_t dup4(const int8_t *a) {
  int32_t v;
  memcpy(&v, a, 4);
  return vreinterpretq_s8_s32(vdupq_n_s32(v));
}

/* 8 F16 scales -> two float32x4 (rows 0-3, 4-7) */
static inline void scales8(const uint8_t *g, float32x4_t *lo, float32x4_t *hi) {
  const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16((const uint16_t *)(const void *)g));
  *lo = vcvt_f32_f16(vget_low_f16(h));
  *hi = vcvt_high_f32_f16(h);
}

/* per-row sums of two int16 accumulators (rows 0,1 | rows 2,3) -> int32x4 */
static inline int32x4_t rows4_sum16(int16x8_t p0, int16x8_t p1) {
  return vpaddq_s32(vpaddlq_s16(p0), vpaddlq_s16(p1));
}

#endif
