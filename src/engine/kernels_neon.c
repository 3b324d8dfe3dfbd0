/* ecoinfer: NEON kernels (aarch64 baseline Advanced SIMD, no dotprod
 * extension needed): F32, F16, Q8_0 and Q4_0 in the row layout, and packed
 * 8-row groups (pack.h) of Q8_0, Q4_0, Q4_K and Q6_K. BF16 and row-layout
 * K-quants keep the scalar kernels on ARM. */
#include "engine/kernels.h"
#include "engine/neon_util.h"
#include "engine/pack.h"

#include <arm_neon.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#if defined(__linux__)
#include <asm/hwcap.h>
#endif

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

/* --- packed 8-row groups -------------------------------------------------------------
 * A 32-byte chunk holds 4 consecutive quants of each of 8 rows (row r in
 * bytes 4r..4r+3); its two 16-byte halves are rows 0-3 and 4-7. The 4
 * matching activation bytes are duplicated into every 32-bit lane, so the
 * widening multiplies line up element by element, and two pairwise adds
 * leave one int32 per row. */

/* sum over 4 elements of w*a per row, for the 4 rows of one half, added to acc */
static inline int32x4_t rows4_dot(int32x4_t acc, int8x16_t w, int8x16_t a) {
  const int16x8_t p0 = vmull_s8(vget_low_s8(w), vget_low_s8(a)); /* rows 0,1 */
  const int16x8_t p1 = vmull_high_s8(w, a);                      /* rows 2,3 */
  return vpadalq_s16(acc, vpaddq_s16(p0, p1));
}

static void pdot_q8_0(int n, const void *gv, const void *xv, size_t xs, int nx, float *out,
                      size_t os) {
  for (int j = 0; j < nx; j++) {
    const uint8_t *g = gv, *a = (const uint8_t *)xv + (size_t)j * xs;
    const float *ad = eco_pack_act_d(a);
    const int8_t *aq = eco_pack_act_qs(a, n);
    float32x4_t acc0 = vdupq_n_f32(0), acc1 = vdupq_n_f32(0);
    for (int b = 0; b < n / 32; b++, g += 272) {
      int32x4_t s0 = vdupq_n_s32(0), s1 = vdupq_n_s32(0);
      for (int k = 0; k < 8; k++) {
        const int8x16_t av = dup4(aq + 32 * b + 4 * k);
        s0 = rows4_dot(s0, vld1q_s8((const int8_t *)(g + 16 + 32 * k)), av);
        s1 = rows4_dot(s1, vld1q_s8((const int8_t *)(g + 32 + 32 * k)), av);
      }
      float32x4_t d0, d1;
      scales8(g, &d0, &d1);
      acc0 = vfmaq_f32(acc0, vcvtq_f32_s32(s0), vmulq_n_f32(d0, ad[b]));
      acc1 = vfmaq_f32(acc1, vcvtq_f32_s32(s1), vmulq_n_f32(d1, ad[b]));
    }
    vst1q_f32(out + (size_t)j * os, acc0);
    vst1q_f32(out + (size_t)j * os + 4, acc1);
  }
}

/* unsigned 4-bit quants (0..15): products fit int16 even two at a time */
static inline int32x4_t rows4_dot_q4(int32x4_t acc, uint8x16_t w, int8x16_t al, int8x16_t ah) {
  const int8x16_t lo = vreinterpretq_s8_u8(vandq_u8(w, vdupq_n_u8(0xF)));
  const int8x16_t hi = vreinterpretq_s8_u8(vshrq_n_u8(w, 4));
  int16x8_t p0 = vmull_s8(vget_low_s8(lo), vget_low_s8(al));
  p0 = vmlal_s8(p0, vget_low_s8(hi), vget_low_s8(ah));
  int16x8_t p1 = vmull_high_s8(lo, al);
  p1 = vmlal_high_s8(p1, hi, ah);
  return vpadalq_s16(acc, vpaddq_s16(p0, p1));
}

static void pdot_q4_0(int n, const void *gv, const void *xv, size_t xs, int nx, float *out,
                      size_t os) {
  for (int j = 0; j < nx; j++) {
    const uint8_t *g = gv, *a = (const uint8_t *)xv + (size_t)j * xs;
    const float *ad = eco_pack_act_d(a);
    const int32_t *as = eco_pack_act_s(a, n);
    const int8_t *aq = eco_pack_act_qs(a, n);
    float32x4_t acc0 = vdupq_n_f32(0), acc1 = vdupq_n_f32(0);
    for (int b = 0; b < n / 32; b++, g += 144) {
      int32x4_t s0 = vdupq_n_s32(0), s1 = vdupq_n_s32(0);
      for (int k = 0; k < 4; k++) {
        const int8x16_t al = dup4(aq + 32 * b + 4 * k), ah = dup4(aq + 32 * b + 16 + 4 * k);
        s0 = rows4_dot_q4(s0, vld1q_u8(g + 16 + 32 * k), al, ah);
        s1 = rows4_dot_q4(s1, vld1q_u8(g + 32 + 32 * k), al, ah);
      }
      const int32x4_t off = vdupq_n_s32(8 * as[b]); /* quants are q - 8 */
      float32x4_t d0, d1;
      scales8(g, &d0, &d1);
      acc0 = vfmaq_f32(acc0, vcvtq_f32_s32(vsubq_s32(s0, off)), vmulq_n_f32(d0, ad[b]));
      acc1 = vfmaq_f32(acc1, vcvtq_f32_s32(vsubq_s32(s1, off)), vmulq_n_f32(d1, ad[b]));
    }
    vst1q_f32(out + (size_t)j * os, acc0);
    vst1q_f32(out + (size_t)j * os + 4, acc1);
  }
}

/* 4-bit products of one chunk half (rows 0-3 of the half) added to two
 * int16 accumulators (rows 0,1 and rows 2,3), without widening */
static inline void q4_acc16(int16x8_t *p0, int16x8_t *p1, uint8x16_t w, int8x16_t al,
                            int8x16_t ah) {
  const int8x16_t lo = vreinterpretq_s8_u8(vandq_u8(w, vdupq_n_u8(0xF)));
  const int8x16_t hi = vreinterpretq_s8_u8(vshrq_n_u8(w, 4));
  *p0 = vmlal_s8(*p0, vget_low_s8(lo), vget_low_s8(al));
  *p0 = vmlal_s8(*p0, vget_low_s8(hi), vget_low_s8(ah));
  *p1 = vmlal_high_s8(*p1, lo, al);
  *p1 = vmlal_high_s8(*p1, hi, ah);
}

/* 4 unsigned bytes -> int32x4 */
static inline int32x4_t u8x4_s32(const uint8_t *p) {
  uint8_t b[8] = {p[0], p[1], p[2], p[3], 0, 0, 0, 0};
  return vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(vmovl_u8(vld1_u8(b)))));
}

static inline int32x4_t s8x4_s32(const int8_t *p) {
  int8_t b[8] = {p[0], p[1], p[2], p[3], 0, 0, 0, 0};
  return vmovl_s16(vget_low_s16(vmovl_s8(vld1_s8(b))));
}

static void pdot_q4_k(int n, const void *gv, const void *xv, size_t xs, int nx, float *out,
                      size_t os) {
  for (int j = 0; j < nx; j++) {
    const uint8_t *g = gv;
    const eco_block_q8_k *a = (const eco_block_q8_k *)((const uint8_t *)xv + (size_t)j * xs);
    float32x4_t acc[2] = {vdupq_n_f32(0), vdupq_n_f32(0)};
    for (int b = 0; b < n / 256; b++, g += 1184) {
      int32x4_t isum[2] = {vdupq_n_s32(0), vdupq_n_s32(0)};
      for (int s = 0; s < 8; s++)
        for (int h = 0; h < 2; h++) { /* rows 4h .. 4h+3 */
          int16x8_t p0 = vdupq_n_s16(0), p1 = vdupq_n_s16(0);
          for (int k = 0; k < 4; k++)
            q4_acc16(&p0, &p1, vld1q_u8(g + 160 + 128 * s + 32 * k + 16 * h),
                     dup4(a[b].qs + 32 * s + 4 * k), dup4(a[b].qs + 32 * s + 16 + 4 * k));
          isum[h] = vmlaq_s32(isum[h], rows4_sum16(p0, p1), u8x4_s32(g + 32 + 8 * s + 4 * h));
        }
      int32_t msum[8] = {0};
      for (int s = 0; s < 8; s++) {
        const int32_t bs = a[b].bsums[2 * s] + a[b].bsums[2 * s + 1];
        for (int r = 0; r < 8; r++)
          msum[r] += g[96 + 16 * (s / 2) + 2 * r + s % 2] * bs;
      }
      float32x4_t d[2], dm[2];
      scales8(g, &d[0], &d[1]);
      scales8(g + 16, &dm[0], &dm[1]);
      for (int h = 0; h < 2; h++) {
        acc[h] = vfmaq_f32(acc[h], vcvtq_f32_s32(isum[h]), vmulq_n_f32(d[h], a[b].d));
        acc[h] =
            vfmsq_f32(acc[h], vcvtq_f32_s32(vld1q_s32(msum + 4 * h)), vmulq_n_f32(dm[h], a[b].d));
      }
    }
    vst1q_f32(out + (size_t)j * os, acc[0]);
    vst1q_f32(out + (size_t)j * os + 4, acc[1]);
  }
}

/* bits 2k..2k+1 of each byte -> bits 4..5 */
static inline uint8x16_t q6_hi2(uint8x16_t qh, int k) {
  const uint8x16_t m = vdupq_n_u8(0x30);
  switch (k) {
  case 0: return vandq_u8(vshlq_n_u8(qh, 4), m);
  case 1: return vandq_u8(vshlq_n_u8(qh, 2), m);
  case 2: return vandq_u8(qh, m);
  default: return vandq_u8(vshrq_n_u8(qh, 2), m);
  }
}

static void pdot_q6_k(int n, const void *gv, const void *xv, size_t xs, int nx, float *out,
                      size_t os) {
  for (int j = 0; j < nx; j++) {
    const uint8_t *g = gv;
    const eco_block_q8_k *a = (const eco_block_q8_k *)((const uint8_t *)xv + (size_t)j * xs);
    float32x4_t acc[2] = {vdupq_n_f32(0), vdupq_n_f32(0)};
    for (int b = 0; b < n / 256; b++, g += 1680) {
      int32x4_t isum[2] = {vdupq_n_s32(0), vdupq_n_s32(0)};
      for (int u = 0; u < 8; u++) {
        const uint8_t *base = g + 144 + 192 * u;
        const int8_t *aq = a[b].qs + 32 * u;
        for (int h = 0; h < 2; h++) {
          /* products are at most 63 * 127 per element: 4 chunks fit int16 */
          int16x8_t l0 = vdupq_n_s16(0), l1 = vdupq_n_s16(0), h0 = vdupq_n_s16(0),
                    h1 = vdupq_n_s16(0);
          const uint8x16_t qa = vld1q_u8(base + 128 + 16 * h), qb = vld1q_u8(base + 160 + 16 * h);
          for (int k = 0; k < 4; k++) {
            const uint8x16_t w = vld1q_u8(base + 32 * k + 16 * h);
            const int8x16_t lo =
                vreinterpretq_s8_u8(vorrq_u8(vandq_u8(w, vdupq_n_u8(0xF)), q6_hi2(qa, k)));
            const int8x16_t hi = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(w, 4), q6_hi2(qb, k)));
            const int8x16_t al = dup4(aq + 4 * k), ah = dup4(aq + 16 + 4 * k);
            l0 = vmlal_s8(l0, vget_low_s8(lo), vget_low_s8(al));
            l1 = vmlal_high_s8(l1, lo, al);
            h0 = vmlal_s8(h0, vget_low_s8(hi), vget_low_s8(ah));
            h1 = vmlal_high_s8(h1, hi, ah);
          }
          int8_t sc_lo[4], sc_hi[4];
          for (int r = 0; r < 4; r++) {
            sc_lo[r] = (int8_t)g[16 + 16 * u + 2 * (4 * h + r)];
            sc_hi[r] = (int8_t)g[16 + 16 * u + 2 * (4 * h + r) + 1];
          }
          isum[h] = vmlaq_s32(isum[h], rows4_sum16(l0, l1), s8x4_s32(sc_lo));
          isum[h] = vmlaq_s32(isum[h], rows4_sum16(h0, h1), s8x4_s32(sc_hi));
        }
      }
      int32_t corr[8] = {0}; /* sum over sub-blocks of scale * activation sum */
      for (int s = 0; s < 16; s++)
        for (int r = 0; r < 8; r++)
          corr[r] += (int8_t)g[16 + 16 * (s / 2) + 2 * r + s % 2] * a[b].bsums[s];
      float32x4_t d[2];
      scales8(g, &d[0], &d[1]);
      for (int h = 0; h < 2; h++) {
        const int32x4_t i32 = vsubq_s32(isum[h], vshlq_n_s32(vld1q_s32(corr + 4 * h), 5));
        acc[h] = vfmaq_f32(acc[h], vcvtq_f32_s32(i32), vmulq_n_f32(d[h], a[b].d));
      }
    }
    vst1q_f32(out + (size_t)j * os, acc[0]);
    vst1q_f32(out + (size_t)j * os + 4, acc[1]);
  }
}

/* --- packed groups with the dot-product extension (ARMv8.2 sdot) -----------------------
 * The layout was made for it: one sdot of a 16-byte half (4 rows x 4 quants)
 * against the 4 activation bytes in every lane gives the 4 rows' partial
 * dots. Compiled for armv8.2-a+dotprod and chosen at run time from HWCAP. */
#define DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))

DOTPROD static void pdot_q8_0_dp(int n, const void *gv, const void *xv, size_t xs, int nx,
                                 float *out, size_t os) {
  for (int j = 0; j < nx; j++) {
    const uint8_t *g = gv, *a = (const uint8_t *)xv + (size_t)j * xs;
    const float *ad = eco_pack_act_d(a);
    const int8_t *aq = eco_pack_act_qs(a, n);
    float32x4_t acc0 = vdupq_n_f32(0), acc1 = vdupq_n_f32(0);
    for (int b = 0; b < n / 32; b++, g += 272) {
      int32x4_t s0 = vdupq_n_s32(0), s1 = vdupq_n_s32(0);
      for (int k = 0; k < 8; k++) {
        const int8x16_t av = dup4(aq + 32 * b + 4 * k);
        s0 = vdotq_s32(s0, vld1q_s8((const int8_t *)(g + 16 + 32 * k)), av);
        s1 = vdotq_s32(s1, vld1q_s8((const int8_t *)(g + 32 + 32 * k)), av);
      }
      float32x4_t d0, d1;
      scales8(g, &d0, &d1);
      acc0 = vfmaq_f32(acc0, vcvtq_f32_s32(s0), vmulq_n_f32(d0, ad[b]));
      acc1 = vfmaq_f32(acc1, vcvtq_f32_s32(s1), vmulq_n_f32(d1, ad[b]));
    }
    vst1q_f32(out + (size_t)j * os, acc0);
    vst1q_f32(out + (size_t)j * os + 4, acc1);
  }
}

DOTPROD static void pdot_q4_0_dp(int n, const void *gv, const void *xv, size_t xs, int nx,
                                 float *out, size_t os) {
  const uint8x16_t m4 = vdupq_n_u8(0xF);
  for (int j = 0; j < nx; j++) {
    const uint8_t *g = gv, *a = (const uint8_t *)xv + (size_t)j * xs;
    const float *ad = eco_pack_act_d(a);
    const int32_t *as = eco_pack_act_s(a, n);
    const int8_t *aq = eco_pack_act_qs(a, n);
    float32x4_t acc0 = vdupq_n_f32(0), acc1 = vdupq_n_f32(0);
    for (int b = 0; b < n / 32; b++, g += 144) {
      int32x4_t s0 = vdupq_n_s32(0), s1 = vdupq_n_s32(0);
      for (int k = 0; k < 4; k++) {
        const int8x16_t al = dup4(aq + 32 * b + 4 * k), ah = dup4(aq + 32 * b + 16 + 4 * k);
        const uint8x16_t w0 = vld1q_u8(g + 16 + 32 * k), w1 = vld1q_u8(g + 32 + 32 * k);
        s0 = vdotq_s32(s0, vreinterpretq_s8_u8(vandq_u8(w0, m4)), al);
        s0 = vdotq_s32(s0, vreinterpretq_s8_u8(vshrq_n_u8(w0, 4)), ah);
        s1 = vdotq_s32(s1, vreinterpretq_s8_u8(vandq_u8(w1, m4)), al);
        s1 = vdotq_s32(s1, vreinterpretq_s8_u8(vshrq_n_u8(w1, 4)), ah);
      }
      const int32x4_t off = vdupq_n_s32(8 * as[b]); /* quants are q - 8 */
      float32x4_t d0, d1;
      scales8(g, &d0, &d1);
      acc0 = vfmaq_f32(acc0, vcvtq_f32_s32(vsubq_s32(s0, off)), vmulq_n_f32(d0, ad[b]));
      acc1 = vfmaq_f32(acc1, vcvtq_f32_s32(vsubq_s32(s1, off)), vmulq_n_f32(d1, ad[b]));
    }
    vst1q_f32(out + (size_t)j * os, acc0);
    vst1q_f32(out + (size_t)j * os + 4, acc1);
  }
}

/* The dot-product extension, unless ECOINFER_NO_DOTPROD is set (tests run
 * both paths under emulation). */
static bool has_dotprod(void) {
  const char *off = getenv("ECOINFER_NO_DOTPROD");
  if (off && *off && strcmp(off, "0") != 0) return false;
#if defined(__linux__) && defined(HWCAP_ASIMDDP)
  return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#else
  return false;
#endif
}

void eco_kernels_init_neon(eco_kernels *k) {
  k->dot[ECO_GGML_F32] = dot_f32;
  k->dot[ECO_GGML_F16] = dot_f16;
  k->dot[ECO_GGML_Q8_0] = dot_q8_0;
  k->dot[ECO_GGML_Q4_0] = dot_q4_0;
  k->pdot[ECO_GGML_Q8_0] = pdot_q8_0;
  k->pdot[ECO_GGML_Q4_0] = pdot_q4_0;
  k->pdot[ECO_GGML_Q4_K] = pdot_q4_k;
  k->pdot[ECO_GGML_Q6_K] = pdot_q6_k;
  if (has_dotprod()) {
    k->pdot[ECO_GGML_Q8_0] = pdot_q8_0_dp;
    k->pdot[ECO_GGML_Q4_0] = pdot_q4_0_dp;
  }
  eco_kernels_init_x8_neon(k);
}
