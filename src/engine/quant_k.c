/* ecoinfer: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K and IQ4_XS (see quant_k.h).
 * Dequantization repeats llama.cpp's float operations in the same order, so
 * the results are bit-identical (checked against llama.cpp's own to_float in
 * tests/test_quant_ref.c); the quantizers are simple roundings for the
 * synthetic writer and the tests. */
#include "engine/quant_k.h"

#include <math.h>
#include <string.h>

#if defined(__clang__) /* no fused multiply-adds: dequantization must round like llama.cpp */
#pragma STDC FP_CONTRACT OFF
#endif

int eco_quant_nearest_int(float fval) {
  float val = fval + 12582912.f;
  int i;
  memcpy(&i, &val, 4);
  return (i & 0x007fffff) - 0x00400000;
}
#define nearest_int eco_quant_nearest_int

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

bool eco_quant_k_type(eco_ggml_type t) {
  return t == ECO_GGML_Q2_K || t == ECO_GGML_Q3_K || t == ECO_GGML_Q4_K || t == ECO_GGML_Q5_K ||
         t == ECO_GGML_Q6_K || t == ECO_GGML_IQ4_XS;
}

void eco_q4k_scale_min(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

void eco_q4k_pack_scales(const uint8_t *ls, const uint8_t *lm, uint8_t *out) {
  memset(out, 0, 12);
  for (int j = 0; j < 8; j++) {
    if (j < 4) {
      out[j] = ls[j];
      out[j + 4] = lm[j];
    } else {
      out[j + 4] = (uint8_t)((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
      out[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
      out[j] |= (uint8_t)((lm[j] >> 4) << 6);
    }
  }
}

void eco_q3k_scales(const uint8_t *q, int8_t out[16]) {
  for (int i = 0; i < 16; i++) {
    const int lo = i < 8 ? q[i] & 0xF : q[i - 8] >> 4;
    const int hi = (q[8 + i % 4] >> (2 * (i / 4))) & 3;
    out[i] = (int8_t)((lo | (hi << 4)) - 32);
  }
}

void eco_q3k_pack_scales(const int8_t sc[16], uint8_t out[12]) {
  memset(out, 0, 12);
  for (int s = 0; s < 16; s++) {
    const int v = sc[s] + 32;
    if (s < 8)
      out[s] |= (uint8_t)(v & 0xF);
    else
      out[s - 8] |= (uint8_t)((v & 0xF) << 4);
    out[8 + s % 4] |= (uint8_t)((v >> 4) << (2 * (s / 4)));
  }
}

int eco_iq4xs_scale(const eco_block_iq4_xs *b, int i) {
  const int lo = (b->scales_l[i / 2] >> (4 * (i % 2))) & 0xF;
  const int hi = (b->scales_h >> (2 * i)) & 3;
  return (lo | (hi << 4)) - 32;
}

/* Element e of a 2-bit plane of 64 bytes (Q2_K, Q3_K): byte 32h + l, bits
 * 2j, for e = 128h + 32j + l. */
static int q2_at(const uint8_t *qs, int e) {
  return (qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
}
static void q2_put(uint8_t *qs, int e, int v) {
  qs[32 * (e / 128) + e % 32] |= (uint8_t)(v << (2 * ((e % 128) / 32)));
}

float eco_quant_signed_absmax(const float *x, int n) {
  float amax = 0, max = 0;
  for (int i = 0; i < n; i++)
    if (fabsf(x[i]) > amax) {
      amax = fabsf(x[i]);
      max = x[i];
    }
  return max;
}

/* --- quantizers ------------------------------------------------------------ */
/* Affine sub-blocks (scale and min, 4 or 6 bits each): Q2_K, Q4_K, Q5_K.
 * For sub-block s of `len` elements, qmax levels: x = d*ls*q - dmin*lm. */
static void affine_scales(const float *xb, int n_sub, int len, int qmax, int smax, float *d,
                          float *dmin, uint8_t *ls, uint8_t *lm) {
  float sc[16], mn[16], max_sc = 0, max_mn = 0;
  for (int s = 0; s < n_sub; s++) {
    float lo = 0, hi = 0;
    for (int j = 0; j < len; j++) {
      lo = fminf(lo, xb[s * len + j]);
      hi = fmaxf(hi, xb[s * len + j]);
    }
    sc[s] = (hi - lo) / (float)qmax;
    mn[s] = -lo;
    max_sc = fmaxf(max_sc, sc[s]);
    max_mn = fmaxf(max_mn, mn[s]);
  }
  *d = max_sc / (float)smax;
  *dmin = max_mn / (float)smax;
  for (int s = 0; s < n_sub; s++) {
    ls[s] = (uint8_t)clampi(*d > 0 ? nearest_int(sc[s] / *d) : 0, 0, smax);
    lm[s] = (uint8_t)clampi(*dmin > 0 ? nearest_int(mn[s] / *dmin) : 0, 0, smax);
  }
}

static int affine_q(float x, float es, float em, int qmax) {
  return clampi(es > 0 ? nearest_int((x + em) / es) : 0, 0, qmax);
}

static void quantize_q2_k(const float *x, eco_block_q2_k *y, int64_t n) {
  for (int64_t b = 0; b < n / 256; b++) {
    const float *xb = x + b * 256;
    float d, dmin;
    uint8_t ls[16], lm[16];
    affine_scales(xb, 16, 16, 3, 15, &d, &dmin, ls, lm);
    memset(&y[b], 0, sizeof y[b]);
    y[b].d = eco_fp32_to_fp16(d);
    y[b].dmin = eco_fp32_to_fp16(dmin);
    const float dd = eco_fp16_to_fp32(y[b].d), dm = eco_fp16_to_fp32(y[b].dmin);
    for (int s = 0; s < 16; s++) {
      y[b].scales[s] = (uint8_t)(ls[s] | (lm[s] << 4));
      for (int j = 0; j < 16; j++)
        q2_put(y[b].qs, 16 * s + j, affine_q(xb[16 * s + j], dd * ls[s], dm * lm[s], 3));
    }
  }
}

static void quantize_q3_k(const float *x, eco_block_q3_k *y, int64_t n) {
  for (int64_t b = 0; b < n / 256; b++) {
    const float *xb = x + b * 256;
    float sc[16];
    for (int s = 0; s < 16; s++)
      sc[s] = eco_quant_signed_absmax(xb + 16 * s, 16) / -4.f; /* the largest maps to q = -4 */
    const float d = eco_quant_signed_absmax(sc, 16) / -32.f;
    memset(&y[b], 0, sizeof y[b]);
    y[b].d = eco_fp32_to_fp16(d);
    const float dd = eco_fp16_to_fp32(y[b].d);
    int8_t ls[16];
    for (int s = 0; s < 16; s++)
      ls[s] = (int8_t)clampi(d != 0 ? nearest_int(sc[s] / d) : 0, -32, 31);
    eco_q3k_pack_scales(ls, y[b].scales);
    for (int s = 0; s < 16; s++) {
      const float dl = dd * (float)ls[s];
      for (int j = 0; j < 16; j++) {
        const int e = 16 * s + j;
        const int q = clampi(dl != 0 ? nearest_int(xb[e] / dl) : 0, -4, 3) + 4;
        q2_put(y[b].qs, e, q & 3);
        if (q >> 2) y[b].hmask[e % 32] |= (uint8_t)(1u << (e / 32));
      }
    }
  }
}

static void quantize_q4_k(const float *x, eco_block_q4_k *y, int64_t n) {
  for (int64_t b = 0; b < n / 256; b++) {
    const float *xb = x + b * 256;
    float d, dmin;
    uint8_t ls[8], lm[8];
    affine_scales(xb, 8, 32, 15, 63, &d, &dmin, ls, lm);
    eco_q4k_pack_scales(ls, lm, y[b].scales);
    y[b].d = eco_fp32_to_fp16(d);
    y[b].dmin = eco_fp32_to_fp16(dmin);
    const float dd = eco_fp16_to_fp32(y[b].d), dm = eco_fp16_to_fp32(y[b].dmin);
    uint8_t L[256];
    for (int s = 0; s < 8; s++)
      for (int j = 0; j < 32; j++)
        L[s * 32 + j] = (uint8_t)affine_q(xb[s * 32 + j], dd * ls[s], dm * lm[s], 15);
    for (int j = 0; j < 256; j += 64)
      for (int l = 0; l < 32; l++)
        y[b].qs[j / 2 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
  }
}

static void quantize_q5_k(const float *x, eco_block_q5_k *y, int64_t n) {
  for (int64_t b = 0; b < n / 256; b++) {
    const float *xb = x + b * 256;
    float d, dmin;
    uint8_t ls[8], lm[8];
    affine_scales(xb, 8, 32, 31, 63, &d, &dmin, ls, lm);
    eco_q4k_pack_scales(ls, lm, y[b].scales);
    y[b].d = eco_fp32_to_fp16(d);
    y[b].dmin = eco_fp32_to_fp16(dmin);
    const float dd = eco_fp16_to_fp32(y[b].d), dm = eco_fp16_to_fp32(y[b].dmin);
    memset(y[b].qh, 0, sizeof y[b].qh);
    for (int i = 0; i < 4; i++)
      for (int l = 0; l < 32; l++) {
        const int q0 = affine_q(xb[64 * i + l], dd * ls[2 * i], dm * lm[2 * i], 31);
        const int q1 = affine_q(xb[64 * i + 32 + l], dd * ls[2 * i + 1], dm * lm[2 * i + 1], 31);
        y[b].qs[32 * i + l] = (uint8_t)((q0 & 0xF) | ((q1 & 0xF) << 4));
        y[b].qh[l] |= (uint8_t)(((q0 >> 4) << (2 * i)) | ((q1 >> 4) << (2 * i + 1)));
      }
  }
}

static void quantize_q6_k(const float *x, eco_block_q6_k *y, int64_t n) {
  for (int64_t b = 0; b < n / 256; b++) {
    const float *xb = x + b * 256;
    float sc[16], max_sc = 0;
    for (int g = 0; g < 16; g++) {
      float a = 0;
      for (int j = 0; j < 16; j++)
        a = fmaxf(a, fabsf(xb[g * 16 + j]));
      sc[g] = a / 31.f;
      max_sc = fmaxf(max_sc, sc[g]);
    }
    const float d = max_sc / 127.f;
    y[b].d = eco_fp32_to_fp16(d);
    const float dd = eco_fp16_to_fp32(y[b].d);
    uint8_t L[256];
    for (int g = 0; g < 16; g++) {
      int s = d > 0 ? nearest_int(sc[g] / d) : 0;
      s = s > 127 ? 127 : s;
      y[b].scales[g] = (int8_t)s;
      const float es = dd * (float)s;
      for (int j = 0; j < 16; j++) {
        int q = es > 0 ? nearest_int(xb[g * 16 + j] / es) : 0;
        L[g * 16 + j] = (uint8_t)(clampi(q, -32, 31) + 32);
      }
    }
    uint8_t *ql = y[b].ql, *qh = y[b].qh;
    for (int j = 0; j < 256; j += 128) {
      for (int l = 0; l < 32; l++) {
        const uint8_t q1 = L[j + l], q2 = L[j + l + 32], q3 = L[j + l + 64], q4 = L[j + l + 96];
        ql[l] = (uint8_t)((q1 & 0xF) | ((q3 & 0xF) << 4));
        ql[l + 32] = (uint8_t)((q2 & 0xF) | ((q4 & 0xF) << 4));
        qh[l] = (uint8_t)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
      }
      ql += 64;
      qh += 32;
    }
  }
}

/* Index of the IQ4_NL value nearest to v (the table is ascending). */
int eco_quant_iq4_index(float v) {
  int lo = 0, hi = 15;
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (v < (float)eco_iq4nl_values[mid])
      hi = mid;
    else
      lo = mid;
  }
  return v - (float)eco_iq4nl_values[lo] <= (float)eco_iq4nl_values[hi] - v ? lo : hi;
}

static void quantize_iq4_xs(const float *x, eco_block_iq4_xs *y, int64_t n) {
  for (int64_t b = 0; b < n / 256; b++) {
    const float *xb = x + b * 256;
    float sc[8];
    for (int i = 0; i < 8; i++)
      sc[i] = eco_quant_signed_absmax(xb + 32 * i, 32) / -127.f; /* the largest maps to -127 */
    const float d = eco_quant_signed_absmax(sc, 8) / -32.f;
    memset(&y[b], 0, sizeof y[b]);
    y[b].d = eco_fp32_to_fp16(d);
    const float dd = eco_fp16_to_fp32(y[b].d);
    for (int i = 0; i < 8; i++) {
      const int l = clampi(d != 0 ? nearest_int(sc[i] / d) : 0, -32, 31), v = l + 32;
      y[b].scales_l[i / 2] |= (uint8_t)((v & 0xF) << (4 * (i % 2)));
      y[b].scales_h |= (uint16_t)((v >> 4) << (2 * i));
      const float dl = dd * (float)l;
      for (int j = 0; j < 16; j++) {
        const int a = eco_quant_iq4_index(dl != 0 ? xb[32 * i + j] / dl : 0.f);
        const int c = eco_quant_iq4_index(dl != 0 ? xb[32 * i + 16 + j] / dl : 0.f);
        y[b].qs[16 * i + j] = (uint8_t)(a | (c << 4));
      }
    }
  }
}

void eco_quant_k_quantize(eco_ggml_type t, const float *x, void *y, int64_t n) {
  switch (t) {
  case ECO_GGML_Q2_K: quantize_q2_k(x, y, n); break;
  case ECO_GGML_Q3_K: quantize_q3_k(x, y, n); break;
  case ECO_GGML_Q4_K: quantize_q4_k(x, y, n); break;
  case ECO_GGML_Q5_K: quantize_q5_k(x, y, n); break;
  case ECO_GGML_Q6_K: quantize_q6_k(x, y, n); break;
  case ECO_GGML_IQ4_XS: quantize_iq4_xs(x, y, n); break;
  default: break;
  }
}

/* --- dequantization (llama.cpp's operations, in its order) ------------------------ */
static void dequant_q2_k(const eco_block_q2_k *x, float *y, int64_t n) {
  for (int64_t b = 0; b < n / 256; b++) {
    const float d = eco_fp16_to_fp32(x[b].d), dmin = eco_fp16_to_fp32(x[b].dmin);
    for (int e = 0; e < 256; e++) {
      const uint8_t sc = x[b].scales[e / 16];
      const float dl = d * (float)(sc & 0xF), ml = dmin * (float)(sc >> 4);
      *y++ = dl * (float)q2_at(x[b].qs, e) - ml;
    }
  }
}

static void dequant_q3_k(const eco_block_q3_k *x, float *y, int64_t n) {
  for (int64_t b = 0; b < n / 256; b++) {
    const float d = eco_fp16_to_fp32(x[b].d);
    int8_t sc[16];
    eco_q3k_scales(x[b].scales, sc);
    for (int e = 0; e < 256; e++) {
      const float dl = d * (float)sc[e / 16];
      const int h = (x[b].hmask[e % 32] >> (e / 32)) & 1;
      *y++ = dl * (float)(q2_at(x[b].qs, e) - (h ? 0 : 4));
    }
  }
}

static void dequant_q4_k(const eco_block_q4_k *x, float *y, int64_t n) {
  for (int64_t b = 0; b < n / 256; b++) {
    const float d = eco_fp16_to_fp32(x[b].d), dmin = eco_fp16_to_fp32(x[b].dmin);
    const uint8_t *q = x[b].qs;
    for (int j = 0, is = 0; j < 256; j += 64, is += 2) {
      uint8_t sc, m;
      eco_q4k_scale_min(is, x[b].scales, &sc, &m);
      const float d1 = d * sc, m1 = dmin * m;
      eco_q4k_scale_min(is + 1, x[b].scales, &sc, &m);
      const float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; l++)
        *y++ = d1 * (float)(q[l] & 0xF) - m1;
      for (int l = 0; l < 32; l++)
        *y++ = d2 * (float)(q[l] >> 4) - m2;
      q += 32;
    }
  }
}

static void dequant_q5_k(const eco_block_q5_k *x, float *y, int64_t n) {
  for (int64_t b = 0; b < n / 256; b++) {
    const float d = eco_fp16_to_fp32(x[b].d), dmin = eco_fp16_to_fp32(x[b].dmin);
    const uint8_t *q = x[b].qs;
    for (int i = 0; i < 4; i++) {
      uint8_t sc, m;
      eco_q4k_scale_min(2 * i, x[b].scales, &sc, &m);
      const float d1 = d * sc, m1 = dmin * m;
      eco_q4k_scale_min(2 * i + 1, x[b].scales, &sc, &m);
      const float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; l++)
        *y++ = d1 * (float)((q[l] & 0xF) + ((x[b].qh[l] >> (2 * i)) & 1 ? 16 : 0)) - m1;
      for (int l = 0; l < 32; l++)
        *y++ = d2 * (float)((q[l] >> 4) + ((x[b].qh[l] >> (2 * i + 1)) & 1 ? 16 : 0)) - m2;
      q += 32;
    }
  }
}

/* Unsigned 6-bit quant (0..63) of element e of a Q6_K block. */
static int q6_k_quant(const eco_block_q6_k *q, int e) {
  const int h = e / 128, p = e % 128, k4 = p / 32, l = p % 32;
  const uint8_t *ql = q->ql + 64 * h, *qh = q->qh + 32 * h;
  const int lo = k4 & 1 ? ql[l + 32] : ql[l];
  return ((k4 < 2 ? lo & 0xF : lo >> 4) | (((qh[l] >> (2 * k4)) & 3) << 4));
}

static void dequant_q6_k(const eco_block_q6_k *x, float *y, int64_t n) {
  for (int64_t b = 0; b < n / 256; b++) {
    const float d = eco_fp16_to_fp32(x[b].d);
    for (int e = 0; e < 256; e++) /* (d * scale) * q, as llama.cpp */
      *y++ = d * (float)x[b].scales[e / 16] * (float)(q6_k_quant(&x[b], e) - 32);
  }
}

static void dequant_iq4_xs(const eco_block_iq4_xs *x, float *y, int64_t n) {
  for (int64_t b = 0; b < n / 256; b++) {
    const float d = eco_fp16_to_fp32(x[b].d);
    for (int i = 0; i < 8; i++) {
      const float dl = d * (float)eco_iq4xs_scale(&x[b], i);
      const uint8_t *qs = x[b].qs + 16 * i;
      for (int j = 0; j < 16; j++) {
        y[j] = dl * (float)eco_iq4nl_values[qs[j] & 0xF];
        y[j + 16] = dl * (float)eco_iq4nl_values[qs[j] >> 4];
      }
      y += 32;
    }
  }
}

void eco_quant_k_dequantize(eco_ggml_type t, const void *x, float *y, int64_t n) {
  switch (t) {
  case ECO_GGML_Q2_K: dequant_q2_k(x, y, n); break;
  case ECO_GGML_Q3_K: dequant_q3_k(x, y, n); break;
  case ECO_GGML_Q4_K: dequant_q4_k(x, y, n); break;
  case ECO_GGML_Q5_K: dequant_q5_k(x, y, n); break;
  case ECO_GGML_Q6_K: dequant_q6_k(x, y, n); break;
  case ECO_GGML_IQ4_XS: dequant_iq4_xs(x, y, n); break;
  default: memset(y, 0, (size_t)n * sizeof *y); break;
  }
}

/* --- scalar reference dot products against Q8_K -------------------------------------- */
/* The integer sums of one super-block: *sumq = sum over sub-blocks of
 * scale * sum(q * a), *summ = sum of min * activation sum (affine types),
 * with q the type's quant (signed where the type has no min). */
static void sums_q2_k(const eco_block_q2_k *w, const eco_block_q8_k *a, int32_t *sumq,
                      int32_t *summ) {
  *sumq = *summ = 0;
  for (int s = 0; s < 16; s++) {
    int32_t si = 0;
    for (int j = 0; j < 16; j++)
      si += q2_at(w->qs, 16 * s + j) * a->qs[16 * s + j];
    *sumq += (w->scales[s] & 0xF) * si;
    *summ += (w->scales[s] >> 4) * a->bsums[s];
  }
}

static int32_t sums_q3_k(const eco_block_q3_k *w, const eco_block_q8_k *a) {
  int8_t sc[16];
  eco_q3k_scales(w->scales, sc);
  int32_t sumi = 0;
  for (int s = 0; s < 16; s++) {
    int32_t si = 0;
    for (int j = 0; j < 16; j++) {
      const int e = 16 * s + j, h = (w->hmask[e % 32] >> (e / 32)) & 1;
      si += (q2_at(w->qs, e) - (h ? 0 : 4)) * a->qs[e];
    }
    sumi += sc[s] * si;
  }
  return sumi;
}

/* Q4_K and Q5_K: q = low nibble (+ 16 * high bit for Q5_K). */
static void sums_q45_k(const uint8_t *scales, const uint8_t *qs, const uint8_t *qh,
                       const eco_block_q8_k *a, int32_t *sumq, int32_t *summ) {
  *sumq = *summ = 0;
  for (int s = 0; s < 8; s++) {
    uint8_t sc, m;
    eco_q4k_scale_min(s, scales, &sc, &m);
    int32_t si = 0;
    for (int l = 0; l < 32; l++) {
      const uint8_t byte = qs[32 * (s / 2) + l];
      int q = s % 2 ? byte >> 4 : byte & 0xF;
      if (qh) q += ((qh[l] >> s) & 1) << 4;
      si += q * a->qs[32 * s + l];
    }
    *sumq += sc * si;
    *summ += m * (a->bsums[2 * s] + a->bsums[2 * s + 1]);
  }
}

static int32_t sums_q6_k(const eco_block_q6_k *w, const eco_block_q8_k *a) {
  int32_t sumi = 0;
  for (int s = 0; s < 16; s++) {
    int32_t si = 0;
    for (int j = 0; j < 16; j++)
      si += (q6_k_quant(w, 16 * s + j) - 32) * a->qs[16 * s + j];
    sumi += w->scales[s] * si;
  }
  return sumi;
}

static int32_t sums_iq4_xs(const eco_block_iq4_xs *w, const eco_block_q8_k *a) {
  int32_t sumi = 0;
  for (int i = 0; i < 8; i++) {
    int32_t si = 0;
    for (int j = 0; j < 16; j++) {
      const uint8_t q = w->qs[16 * i + j];
      si += eco_iq4nl_values[q & 0xF] * a->qs[32 * i + j] +
            eco_iq4nl_values[q >> 4] * a->qs[32 * i + 16 + j];
    }
    sumi += eco_iq4xs_scale(w, i) * si;
  }
  return sumi;
}

float eco_quant_k_dot(eco_ggml_type t, int n, const void *wv, const eco_block_q8_k *x) {
  float s = 0;
  for (int b = 0; b < n / 256; b++) {
    const eco_block_q8_k *a = &x[b];
    int32_t sumq = 0, summ = 0;
    float d = 0, dmin = 0;
    switch (t) {
    case ECO_GGML_Q2_K: {
      const eco_block_q2_k *w = (const eco_block_q2_k *)wv + b;
      sums_q2_k(w, a, &sumq, &summ);
      d = eco_fp16_to_fp32(w->d), dmin = eco_fp16_to_fp32(w->dmin);
      break;
    }
    case ECO_GGML_Q3_K: {
      const eco_block_q3_k *w = (const eco_block_q3_k *)wv + b;
      sumq = sums_q3_k(w, a);
      d = eco_fp16_to_fp32(w->d);
      break;
    }
    case ECO_GGML_Q4_K: {
      const eco_block_q4_k *w = (const eco_block_q4_k *)wv + b;
      sums_q45_k(w->scales, w->qs, NULL, a, &sumq, &summ);
      d = eco_fp16_to_fp32(w->d), dmin = eco_fp16_to_fp32(w->dmin);
      break;
    }
    case ECO_GGML_Q5_K: {
      const eco_block_q5_k *w = (const eco_block_q5_k *)wv + b;
      sums_q45_k(w->scales, w->qs, w->qh, a, &sumq, &summ);
      d = eco_fp16_to_fp32(w->d), dmin = eco_fp16_to_fp32(w->dmin);
      break;
    }
    case ECO_GGML_Q6_K: {
      const eco_block_q6_k *w = (const eco_block_q6_k *)wv + b;
      sumq = sums_q6_k(w, a);
      d = eco_fp16_to_fp32(w->d);
      break;
    }
    case ECO_GGML_IQ4_XS: {
      const eco_block_iq4_xs *w = (const eco_block_iq4_xs *)wv + b;
      sumq = sums_iq4_xs(w, a);
      d = eco_fp16_to_fp32(w->d);
      break;
    }
    default: return 0;
    }
    s += d * a->d * (float)sumq - dmin * a->d * (float)summ;
  }
  return s;
}
