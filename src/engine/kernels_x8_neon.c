/* ecoinfer: NEON kernels (aarch64 baseline Advanced SIMD) of the packed
 * layouts of Q5_0, Q5_1, IQ4_NL, Q2_K, Q3_K, Q5_K and IQ4_XS (pack.h), in
 * the manner of kernels_neon.c: a 32-byte chunk is two 16-byte halves (rows
 * 0-3 and 4-7), the 4 matching activation bytes are duplicated into every
 * 32-bit lane, widening multiplies line the products up element by
 * element, and pairwise adds leave one int32 per row. int16 lanes hold
 * single products here (at most 31 x 127 for 5-bit quants, 127 x 127 for
 * IQ4 values), so 8 of them (four chunks, low and high) fit for the
 * unsigned types, and IQ4 products are widened every chunk. */
#include "engine/kernels.h"
#include "engine/neon_util.h"
#include "engine/pack.h"

#include <arm_neon.h>
#include <string.h>

/* w * a added to the accumulators of rows 0,1 (*p0) and 2,3 (*p1) */
static inline void mla(int16x8_t *p0, int16x8_t *p1, uint8x16_t w, int8x16_t a) {
  const int8x16_t s = vreinterpretq_s8_u8(w);
  *p0 = vmlal_s8(*p0, vget_low_s8(s), vget_low_s8(a));
  *p1 = vmlal_high_s8(*p1, s, a);
}

static inline int32x4_t s32x4(int32_t a, int32_t b, int32_t c, int32_t d) {
  const int32_t v[4] = {a, b, c, d};
  return vld1q_s32(v);
}

/* bit `from` of every byte of h moved to bit `to`, other bits clear */
#define BIT_AT(h, from, to)                                                                        \
  ((from) == (to)  ? vandq_u8((h), vdupq_n_u8(1u << (to)))                                         \
   : (from) < (to) ? vandq_u8(vshlq_n_u8((h), ((to) - (from)) & 7), vdupq_n_u8(1u << (to)))        \
                   : vandq_u8(vshrq_n_u8((h), ((from) - (to)) & 7), vdupq_n_u8(1u << (to))))

/* --- Q5_0 x Q8_0 split, Q5_1 x Q8_1 ------------------------------------------------------------
 * Per-row sum of q * a over one block, rows 4h..4h+3 (q unsigned 0..31). */
static int32x4_t q5_half(const uint8_t *qs, const uint8_t *qh, int h, const int8_t *a) {
  const uint8x16_t H = vld1q_u8(qh + 16 * h), m4 = vdupq_n_u8(0xF);
  int16x8_t p0 = vdupq_n_s16(0), p1 = vdupq_n_s16(0);
#define Q5_CHUNK(k)                                                                                \
  do {                                                                                             \
    const uint8x16_t w = vld1q_u8(qs + 32 * (k) + 16 * h);                                         \
    mla(&p0, &p1, vorrq_u8(vandq_u8(w, m4), BIT_AT(H, k, 4)), dup4(a + 4 * (k)));                  \
    mla(&p0, &p1, vorrq_u8(vshrq_n_u8(w, 4), BIT_AT(H, 4 + (k), 4)), dup4(a + 16 + 4 * (k)));      \
  } while (0)
  Q5_CHUNK(0);
  Q5_CHUNK(1);
  Q5_CHUNK(2);
  Q5_CHUNK(3);
#undef Q5_CHUNK
  return rows4_sum16(p0, p1);
}

static void pdot_q5_0(int n, const void *gv, const void *xv, size_t xs, int nx, float *out,
                      size_t os) {
  for (int j = 0; j < nx; j++) {
    const uint8_t *g = gv, *a = (const uint8_t *)xv + (size_t)j * xs;
    const float *ad = eco_pack_act_d(a);
    const int32_t *as = eco_pack_act_s(a, n);
    const int8_t *aq = eco_pack_act_qs(a, n);
    float32x4_t acc[2] = {vdupq_n_f32(0), vdupq_n_f32(0)};
    for (int b = 0; b < n / 32; b++, g += 176) {
      float32x4_t d[2];
      scales8(g, &d[0], &d[1]);
      for (int h = 0; h < 2; h++) {
        const int32x4_t s = vsubq_s32(q5_half(g + 16, g + 144, h, aq + 32 * b),
                                      vdupq_n_s32(16 * as[b])); /* quants are q - 16 */
        acc[h] = vfmaq_f32(acc[h], vcvtq_f32_s32(s), vmulq_n_f32(d[h], ad[b]));
      }
    }
    vst1q_f32(out + (size_t)j * os, acc[0]);
    vst1q_f32(out + (size_t)j * os + 4, acc[1]);
  }
}

static void pdot_q5_1(int n, const void *gv, const void *xv, size_t xs, int nx, float *out,
                      size_t os) {
  for (int j = 0; j < nx; j++) {
    const uint8_t *g = gv;
    const eco_block_q8_1 *a = (const eco_block_q8_1 *)((const uint8_t *)xv + (size_t)j * xs);
    float32x4_t acc[2] = {vdupq_n_f32(0), vdupq_n_f32(0)};
    for (int b = 0; b < n / 32; b++, g += 192) {
      float32x4_t d[2], m[2];
      scales8(g, &d[0], &d[1]);
      scales8(g + 16, &m[0], &m[1]);
      const float da = eco_fp16_to_fp32(a[b].d), sa = eco_fp16_to_fp32(a[b].s);
      for (int h = 0; h < 2; h++) {
        const int32x4_t s = q5_half(g + 32, g + 160, h, a[b].qs);
        acc[h] = vfmaq_f32(acc[h], vcvtq_f32_s32(s), vmulq_n_f32(d[h], da));
        acc[h] = vfmaq_n_f32(acc[h], m[h], sa);
      }
    }
    vst1q_f32(out + (size_t)j * os, acc[0]);
    vst1q_f32(out + (size_t)j * os + 4, acc[1]);
  }
}

/* --- IQ4_NL x Q8_0 split, IQ4_XS x Q8_K ---------------------------------------------------------
 * Per-row sum of value * a over one 32-element piece, rows 4h..4h+3. */
static int32x4_t iq4_half(const uint8_t *qs, int h, const int8_t *a) {
  const int8x16_t tab = vld1q_s8(eco_iq4nl_values);
  const uint8x16_t m4 = vdupq_n_u8(0xF);
  int32x4_t s0 = vdupq_n_s32(0), s1 = vdupq_n_s32(0);
  for (int k = 0; k < 4; k++) {
    const uint8x16_t w = vld1q_u8(qs + 32 * k + 16 * h);
    const int8x16_t vl = vqtbl1q_s8(tab, vandq_u8(w, m4)), vh = vqtbl1q_s8(tab, vshrq_n_u8(w, 4));
    const int8x16_t al = dup4(a + 4 * k), ah = dup4(a + 16 + 4 * k);
    int16x8_t p0 = vmull_s8(vget_low_s8(vl), vget_low_s8(al));
    p0 = vmlal_s8(p0, vget_low_s8(vh), vget_low_s8(ah)); /* two products: at most 32258 */
    int16x8_t p1 = vmull_high_s8(vl, al);
    p1 = vmlal_high_s8(p1, vh, ah);
    s0 = vpadalq_s16(s0, p0);
    s1 = vpadalq_s16(s1, p1);
  }
  return vpaddq_s32(s0, s1);
}

static void pdot_iq4_nl(int n, const void *gv, const void *xv, size_t xs, int nx, float *out,
                        size_t os) {
  for (int j = 0; j < nx; j++) {
    const uint8_t *g = gv, *a = (const uint8_t *)xv + (size_t)j * xs;
    const float *ad = eco_pack_act_d(a);
    const int8_t *aq = eco_pack_act_qs(a, n);
    float32x4_t acc[2] = {vdupq_n_f32(0), vdupq_n_f32(0)};
    for (int b = 0; b < n / 32; b++, g += 144) {
      float32x4_t d[2];
      scales8(g, &d[0], &d[1]);
      for (int h = 0; h < 2; h++)
        acc[h] = vfmaq_f32(acc[h], vcvtq_f32_s32(iq4_half(g + 16, h, aq + 32 * b)),
                           vmulq_n_f32(d[h], ad[b]));
    }
    vst1q_f32(out + (size_t)j * os, acc[0]);
    vst1q_f32(out + (size_t)j * os + 4, acc[1]);
  }
}

static void pdot_iq4_xs(int n, const void *gv, const void *xv, size_t xs, int nx, float *out,
                        size_t os) {
  for (int j = 0; j < nx; j++) {
    const uint8_t *g = gv;
    const eco_block_q8_k *a = (const eco_block_q8_k *)((const uint8_t *)xv + (size_t)j * xs);
    float32x4_t acc[2] = {vdupq_n_f32(0), vdupq_n_f32(0)};
    for (int b = 0; b < n / 256; b++, g += 1104) {
      int32x4_t isum[2] = {vdupq_n_s32(0), vdupq_n_s32(0)};
      for (int s = 0; s < 8; s++) {
        const int8_t *sc = (const int8_t *)(g + 16 + 8 * s);
        for (int h = 0; h < 2; h++)
          isum[h] = vmlaq_s32(isum[h], iq4_half(g + 80 + 128 * s, h, a[b].qs + 32 * s),
                              s32x4(sc[4 * h], sc[4 * h + 1], sc[4 * h + 2], sc[4 * h + 3]));
      }
      float32x4_t d[2];
      scales8(g, &d[0], &d[1]);
      for (int h = 0; h < 2; h++)
        acc[h] = vfmaq_f32(acc[h], vcvtq_f32_s32(isum[h]), vmulq_n_f32(d[h], a[b].d));
    }
    vst1q_f32(out + (size_t)j * os, acc[0]);
    vst1q_f32(out + (size_t)j * os + 4, acc[1]);
  }
}

/* --- Q2_K, Q3_K x Q8_K --------------------------------------------------------------------------
 * One 32-element unit, rows 4h..4h+3: per-row sums of the low elements
 * (sub-block 2u) in *lo and of the high ones (2u+1) in *hi. Q3: the quants
 * get their high bit (bit 2) from the BIT area after the two planes. */
static void q23_half(const uint8_t *p, int q3, int h, const int8_t *a, int32x4_t *lo,
                     int32x4_t *hi) {
  const uint8x16_t m3 = vdupq_n_u8(3);
  const uint8x16_t A = vld1q_u8(p + 16 * h), B = vld1q_u8(p + 32 + 16 * h);
  const uint8x16_t H = q3 ? vld1q_u8(p + 64 + 16 * h) : vdupq_n_u8(0);
  int16x8_t l0 = vdupq_n_s16(0), l1 = vdupq_n_s16(0), h0 = vdupq_n_s16(0), h1 = vdupq_n_s16(0);
#define Q23_CHUNK(k)                                                                               \
  do {                                                                                             \
    uint8x16_t ql = vandq_u8(vshrq_n_u8(A, (2 * (k)) & 7), m3);                                    \
    uint8x16_t qh = vandq_u8(vshrq_n_u8(B, (2 * (k)) & 7), m3);                                    \
    if (q3) {                                                                                      \
      ql = vorrq_u8(ql, BIT_AT(H, k, 2));                                                          \
      qh = vorrq_u8(qh, BIT_AT(H, 4 + (k), 2));                                                    \
    }                                                                                              \
    mla(&l0, &l1, ql, dup4(a + 4 * (k)));                                                          \
    mla(&h0, &h1, qh, dup4(a + 16 + 4 * (k)));                                                     \
  } while (0)
  Q23_CHUNK(0);
  Q23_CHUNK(1);
  Q23_CHUNK(2);
  Q23_CHUNK(3);
#undef Q23_CHUNK
  *lo = rows4_sum16(l0, l1);
  *hi = rows4_sum16(h0, h1);
}

/* Q2_K (q3 = 0): scale and min nibbles per sub-block, the mins against
 * Q8_K's per-16 sums. Q3_K (q3 = 1): signed scales, quants 0..7 of value
 * q - 4, the offset 4 * sum(scale * bsum). */
static void pdot_q23(int n, const void *gv, const void *xv, size_t xs, int nx, float *out,
                     size_t os, int q3) {
  const size_t sb = q3 ? 912 : 672, units = q3 ? 144 : 160, ub = q3 ? 96 : 64, sco = q3 ? 16 : 32;
  for (int j = 0; j < nx; j++) {
    const uint8_t *g = gv;
    const eco_block_q8_k *a = (const eco_block_q8_k *)((const uint8_t *)xv + (size_t)j * xs);
    float32x4_t acc[2] = {vdupq_n_f32(0), vdupq_n_f32(0)};
    for (int b = 0; b < n / 256; b++, g += sb) {
      int32x4_t isum[2] = {vdupq_n_s32(0), vdupq_n_s32(0)};
      int32_t msum[8] = {0}; /* mins (Q2_K) or scales (Q3_K) times the activation sums */
      for (int u = 0; u < 8; u++) {
        int32_t sc[16], mn[16]; /* [r][i]: sub-block 2u+i of row r */
        for (int e = 0; e < 16; e++) {
          const uint8_t raw = g[sco + 16 * u + e];
          sc[e] = q3 ? (int8_t)raw : raw & 15;
          mn[e] = q3 ? (int8_t)raw : raw >> 4;
        }
        for (int h = 0; h < 2; h++) {
          int32x4_t lo, hi;
          q23_half(g + units + ub * u, q3, h, a[b].qs + 32 * u, &lo, &hi);
          const int32_t *s = sc + 8 * h;
          isum[h] = vmlaq_s32(isum[h], lo, s32x4(s[0], s[2], s[4], s[6]));
          isum[h] = vmlaq_s32(isum[h], hi, s32x4(s[1], s[3], s[5], s[7]));
        }
        for (int r = 0; r < 8; r++)
          msum[r] += mn[2 * r] * a[b].bsums[2 * u] + mn[2 * r + 1] * a[b].bsums[2 * u + 1];
      }
      float32x4_t d[2], dm[2];
      scales8(g, &d[0], &d[1]);
      if (!q3) scales8(g + 16, &dm[0], &dm[1]);
      for (int h = 0; h < 2; h++) {
        const int32x4_t m = vld1q_s32(msum + 4 * h);
        if (q3) {
          const int32x4_t i32 = vsubq_s32(isum[h], vshlq_n_s32(m, 2));
          acc[h] = vfmaq_f32(acc[h], vcvtq_f32_s32(i32), vmulq_n_f32(d[h], a[b].d));
        } else {
          acc[h] = vfmaq_f32(acc[h], vcvtq_f32_s32(isum[h]), vmulq_n_f32(d[h], a[b].d));
          acc[h] = vfmsq_f32(acc[h], vcvtq_f32_s32(m), vmulq_n_f32(dm[h], a[b].d));
        }
      }
    }
    vst1q_f32(out + (size_t)j * os, acc[0]);
    vst1q_f32(out + (size_t)j * os + 4, acc[1]);
  }
}

static void pdot_q2_k(int n, const void *g, const void *x, size_t xs, int nx, float *out,
                      size_t os) {
  pdot_q23(n, g, x, xs, nx, out, os, 0);
}
static void pdot_q3_k(int n, const void *g, const void *x, size_t xs, int nx, float *out,
                      size_t os) {
  pdot_q23(n, g, x, xs, nx, out, os, 1);
}

/* --- Q5_K x Q8_K -------------------------------------------------------------------------------
 */
static void pdot_q5_k(int n, const void *gv, const void *xv, size_t xs, int nx, float *out,
                      size_t os) {
  for (int j = 0; j < nx; j++) {
    const uint8_t *g = gv;
    const eco_block_q8_k *a = (const eco_block_q8_k *)((const uint8_t *)xv + (size_t)j * xs);
    float32x4_t acc[2] = {vdupq_n_f32(0), vdupq_n_f32(0)};
    for (int b = 0; b < n / 256; b++, g += 1440) {
      int32x4_t isum[2] = {vdupq_n_s32(0), vdupq_n_s32(0)};
      for (int s = 0; s < 8; s++) {
        const uint8_t *q = g + 160 + 160 * s, *sc = g + 32 + 8 * s;
        for (int h = 0; h < 2; h++)
          isum[h] = vmlaq_s32(isum[h], q5_half(q, q + 128, h, a[b].qs + 32 * s),
                              s32x4(sc[4 * h], sc[4 * h + 1], sc[4 * h + 2], sc[4 * h + 3]));
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

void eco_kernels_init_x8_neon(eco_kernels *k) {
  k->pdot[ECO_GGML_Q5_0] = pdot_q5_0;
  k->pdot[ECO_GGML_Q5_1] = pdot_q5_1;
  k->pdot[ECO_GGML_IQ4_NL] = pdot_iq4_nl;
  k->pdot[ECO_GGML_Q2_K] = pdot_q2_k;
  k->pdot[ECO_GGML_Q3_K] = pdot_q3_k;
  k->pdot[ECO_GGML_Q5_K] = pdot_q5_k;
  k->pdot[ECO_GGML_IQ4_XS] = pdot_iq4_xs;
}
