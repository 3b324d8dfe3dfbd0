/* ecoinfer: block formats, conversions and scalar reference kernels. */
#include "engine/quant.h"

#include <math.h>
#include <string.h>

static uint32_t f2u(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}
static float u2f(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

float eco_fp16_to_fp32(uint16_t h) {
  const uint32_t w = (uint32_t)h << 16;
  const uint32_t sign = w & 0x80000000u;
  const uint32_t two_w = w + w;
  /* normal numbers: shift the exponent and mantissa into place, rescale */
  const float normalized = u2f((two_w >> 4) + (0xE0u << 23)) * 0x1.0p-112f;
  /* subnormals: use the mantissa as the low bits of 0.5 and subtract 0.5 */
  const float denormalized = u2f((two_w >> 17) | (126u << 23)) - 0.5f;
  const uint32_t r = sign | (two_w < (1u << 27) ? f2u(denormalized) : f2u(normalized));
  return u2f(r);
}

uint16_t eco_fp32_to_fp16(float f) {
  /* Round to nearest even by letting the FPU add at the right exponent. */
  float base = (fabsf(f) * 0x1.0p+112f) * 0x1.0p-110f;
  const uint32_t w = f2u(f);
  const uint32_t shl1_w = w + w;
  const uint32_t sign = w & 0x80000000u;
  uint32_t bias = shl1_w & 0xFF000000u;
  if (bias < 0x71000000u) bias = 0x71000000u;
  base = u2f((bias >> 1) + 0x07800000u) + base;
  const uint32_t bits = f2u(base);
  const uint32_t exp_bits = (bits >> 13) & 0x00007C00u;
  const uint32_t mantissa_bits = bits & 0x00000FFFu;
  const uint32_t nonsign = exp_bits + mantissa_bits;
  return (uint16_t)((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

float eco_bf16_to_fp32(uint16_t h) { return u2f((uint32_t)h << 16); }

uint16_t eco_fp32_to_bf16(float f) {
  uint32_t u = f2u(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 64); /* quiet NaN */
  return (uint16_t)((u + (0x7fffu + ((u >> 16) & 1))) >> 16);
}

bool eco_quant_supported(eco_ggml_type t) {
  switch (t) {
  case ECO_GGML_F32:
  case ECO_GGML_F16:
  case ECO_GGML_BF16:
  case ECO_GGML_Q8_0:
  case ECO_GGML_Q4_0:
  case ECO_GGML_Q4_K:
  case ECO_GGML_Q6_K: return true;
  default: return false;
  }
}

eco_ggml_type eco_quant_act_type(eco_ggml_type t) {
  switch (t) {
  case ECO_GGML_F16: return ECO_GGML_F16;
  case ECO_GGML_BF16: return ECO_GGML_BF16;
  case ECO_GGML_Q8_0:
  case ECO_GGML_Q4_0: return ECO_GGML_Q8_0;
  case ECO_GGML_Q4_K:
  case ECO_GGML_Q6_K: return ECO_GGML_Q8_K;
  default: return ECO_GGML_F32;
  }
}

size_t eco_quant_row_bytes(eco_ggml_type t, int64_t n) {
  uint32_t be = eco_ggml_block_elems(t);
  return be ? (size_t)(n / be) * eco_ggml_block_bytes(t) : 0;
}

/* Round to nearest, ties to even (the FPU's default mode), as llama.cpp's
 * nearest_int(). */
static int nearest_int(float fval) {
  float val = fval + 12582912.f;
  int i;
  memcpy(&i, &val, 4);
  return (i & 0x007fffff) - 0x00400000;
}

static void quantize_q8_0(const float *x, eco_block_q8_0 *y, int64_t n) {
  for (int64_t b = 0; b < n / 32; b++) {
    float amax = 0;
    for (int j = 0; j < 32; j++) { /* not fmaxf: a libm call per element at -O3 */
      const float v = fabsf(x[b * 32 + j]);
      amax = v > amax ? v : amax;
    }
    const float d = amax / 127.f;
    const float id = amax != 0 ? 127.f / amax : 0.f;
    y[b].d = eco_fp32_to_fp16(d);
    for (int j = 0; j < 32; j++)
      y[b].qs[j] = (int8_t)nearest_int(x[b * 32 + j] * id);
  }
}

static void quantize_q8_k(const float *x, eco_block_q8_k *y, int64_t n) {
  for (int64_t b = 0; b < n / 256; b++) {
    const float *xb = x + b * 256;
    float max = 0, amax = 0;
    for (int j = 0; j < 256; j++) {
      float ax = fabsf(xb[j]);
      if (ax > amax) {
        amax = ax;
        max = xb[j];
      }
    }
    if (amax == 0) {
      memset(&y[b], 0, sizeof y[b]);
      continue;
    }
    const float iscale = -127.f / max;
    for (int j = 0; j < 256; j++) {
      int v = nearest_int(iscale * xb[j]);
      y[b].qs[j] = (int8_t)(v < 127 ? v : 127);
    }
    for (int g = 0; g < 16; g++) {
      int s = 0;
      for (int j = 0; j < 16; j++)
        s += y[b].qs[g * 16 + j];
      y[b].bsums[g] = (int16_t)s;
    }
    y[b].d = 1 / iscale;
  }
}

static void quantize_q4_0(const float *x, eco_block_q4_0 *y, int64_t n) {
  for (int64_t b = 0; b < n / 32; b++) {
    const float *xb = x + b * 32;
    float amax = 0, max = 0;
    for (int j = 0; j < 32; j++)
      if (fabsf(xb[j]) > amax) {
        amax = fabsf(xb[j]);
        max = xb[j];
      }
    const float d = max / -8;
    const float id = d != 0 ? 1.0f / d : 0;
    y[b].d = eco_fp32_to_fp16(d);
    for (int j = 0; j < 16; j++) {
      int a = (int)(xb[j] * id + 8.5f), c = (int)(xb[j + 16] * id + 8.5f);
      a = a < 0 ? 0 : a > 15 ? 15 : a;
      c = c < 0 ? 0 : c > 15 ? 15 : c;
      y[b].qs[j] = (uint8_t)(a | (c << 4));
    }
  }
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

/* Simple (not error-minimizing) Q4_K quantizer: per 32 a scale and a min. */
static void quantize_q4_k(const float *x, eco_block_q4_k *y, int64_t n) {
  for (int64_t b = 0; b < n / 256; b++) {
    const float *xb = x + b * 256;
    float sc[8], mn[8], max_sc = 0, max_mn = 0;
    for (int s = 0; s < 8; s++) {
      float lo = 0, hi = 0;
      for (int j = 0; j < 32; j++) {
        lo = fminf(lo, xb[s * 32 + j]);
        hi = fmaxf(hi, xb[s * 32 + j]);
      }
      sc[s] = (hi - lo) / 15.f;
      mn[s] = -lo;
      max_sc = fmaxf(max_sc, sc[s]);
      max_mn = fmaxf(max_mn, mn[s]);
    }
    const float d = max_sc / 63.f, dmin = max_mn / 63.f;
    uint8_t ls[8], lm[8];
    for (int s = 0; s < 8; s++) {
      int a = d > 0 ? nearest_int(sc[s] / d) : 0, c = dmin > 0 ? nearest_int(mn[s] / dmin) : 0;
      ls[s] = (uint8_t)(a < 0 ? 0 : a > 63 ? 63 : a);
      lm[s] = (uint8_t)(c < 0 ? 0 : c > 63 ? 63 : c);
    }
    memset(y[b].scales, 0, 12);
    for (int j = 0; j < 8; j++) {
      if (j < 4) {
        y[b].scales[j] = ls[j];
        y[b].scales[j + 4] = lm[j];
      } else {
        y[b].scales[j + 4] = (uint8_t)((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
        y[b].scales[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
        y[b].scales[j] |= (uint8_t)((lm[j] >> 4) << 6);
      }
    }
    y[b].d = eco_fp32_to_fp16(d);
    y[b].dmin = eco_fp32_to_fp16(dmin);
    const float dd = eco_fp16_to_fp32(y[b].d), dm = eco_fp16_to_fp32(y[b].dmin);
    uint8_t L[256];
    for (int s = 0; s < 8; s++) {
      uint8_t si, mi;
      eco_q4k_scale_min(s, y[b].scales, &si, &mi);
      const float es = dd * si, em = dm * mi;
      for (int j = 0; j < 32; j++) {
        int q = es > 0 ? nearest_int((xb[s * 32 + j] + em) / es) : 0;
        L[s * 32 + j] = (uint8_t)(q < 0 ? 0 : q > 15 ? 15 : q);
      }
    }
    for (int j = 0; j < 256; j += 64)
      for (int l = 0; l < 32; l++)
        y[b].qs[j / 2 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
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
        q = q < -32 ? -32 : q > 31 ? 31 : q;
        L[g * 16 + j] = (uint8_t)(q + 32);
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

void eco_quantize_row(eco_ggml_type t, const float *x, void *y, int64_t n) {
  switch (t) {
  case ECO_GGML_F32: memcpy(y, x, (size_t)n * 4); break;
  case ECO_GGML_F16:
    for (int64_t i = 0; i < n; i++)
      ((uint16_t *)y)[i] = eco_fp32_to_fp16(x[i]);
    break;
  case ECO_GGML_BF16:
    for (int64_t i = 0; i < n; i++)
      ((uint16_t *)y)[i] = eco_fp32_to_bf16(x[i]);
    break;
  case ECO_GGML_Q8_0: quantize_q8_0(x, y, n); break;
  case ECO_GGML_Q8_K: quantize_q8_k(x, y, n); break;
  case ECO_GGML_Q4_0: quantize_q4_0(x, y, n); break;
  case ECO_GGML_Q4_K: quantize_q4_k(x, y, n); break;
  case ECO_GGML_Q6_K: quantize_q6_k(x, y, n); break;
  default: memset(y, 0, eco_quant_row_bytes(t, n)); break;
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

static void dequant_q6_k(const eco_block_q6_k *x, float *y, int64_t n) {
  for (int64_t b = 0; b < n / 256; b++) {
    const float d = eco_fp16_to_fp32(x[b].d);
    const uint8_t *ql = x[b].ql, *qh = x[b].qh;
    const int8_t *sc = x[b].scales;
    for (int j = 0; j < 256; j += 128) {
      for (int l = 0; l < 32; l++) {
        int is = l / 16;
        int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * sc[is + 0] * (float)q1;
        y[l + 32] = d * sc[is + 2] * (float)q2;
        y[l + 64] = d * sc[is + 4] * (float)q3;
        y[l + 96] = d * sc[is + 6] * (float)q4;
      }
      y += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}

void eco_dequantize_row(eco_ggml_type t, const void *x, float *y, int64_t n) {
  switch (t) {
  case ECO_GGML_F32: memcpy(y, x, (size_t)n * 4); break;
  case ECO_GGML_F16:
    for (int64_t i = 0; i < n; i++)
      y[i] = eco_fp16_to_fp32(((const uint16_t *)x)[i]);
    break;
  case ECO_GGML_BF16:
    for (int64_t i = 0; i < n; i++)
      y[i] = eco_bf16_to_fp32(((const uint16_t *)x)[i]);
    break;
  case ECO_GGML_Q8_0: {
    const eco_block_q8_0 *b = x;
    for (int64_t i = 0; i < n / 32; i++) {
      const float d = eco_fp16_to_fp32(b[i].d);
      for (int j = 0; j < 32; j++)
        y[i * 32 + j] = d * b[i].qs[j];
    }
    break;
  }
  case ECO_GGML_Q8_K: {
    const eco_block_q8_k *b = x;
    for (int64_t i = 0; i < n / 256; i++)
      for (int j = 0; j < 256; j++)
        y[i * 256 + j] = b[i].d * b[i].qs[j];
    break;
  }
  case ECO_GGML_Q4_0: {
    const eco_block_q4_0 *b = x;
    for (int64_t i = 0; i < n / 32; i++) {
      const float d = eco_fp16_to_fp32(b[i].d);
      for (int j = 0; j < 16; j++) {
        y[i * 32 + j] = d * (float)((b[i].qs[j] & 0xF) - 8);
        y[i * 32 + j + 16] = d * (float)((b[i].qs[j] >> 4) - 8);
      }
    }
    break;
  }
  case ECO_GGML_Q4_K: dequant_q4_k(x, y, n); break;
  case ECO_GGML_Q6_K: dequant_q6_k(x, y, n); break;
  default: memset(y, 0, (size_t)n * sizeof *y); break;
  }
}

/* --- scalar reference dot products ---------------------------------------- */

static float dot_f32(int n, const float *w, const float *x) {
  double s = 0;
  for (int i = 0; i < n; i++)
    s += (double)w[i] * x[i];
  return (float)s;
}

static float dot_f16(int n, const uint16_t *w, const uint16_t *x) {
  double s = 0;
  for (int i = 0; i < n; i++)
    s += (double)eco_fp16_to_fp32(w[i]) * eco_fp16_to_fp32(x[i]);
  return (float)s;
}

static float dot_bf16(int n, const uint16_t *w, const uint16_t *x) {
  double s = 0;
  for (int i = 0; i < n; i++)
    s += (double)eco_bf16_to_fp32(w[i]) * eco_bf16_to_fp32(x[i]);
  return (float)s;
}

static float dot_q8_0(int n, const eco_block_q8_0 *w, const eco_block_q8_0 *x) {
  float s = 0;
  for (int b = 0; b < n / 32; b++) {
    int si = 0;
    for (int j = 0; j < 32; j++)
      si += w[b].qs[j] * x[b].qs[j];
    s += (float)si * (eco_fp16_to_fp32(w[b].d) * eco_fp16_to_fp32(x[b].d));
  }
  return s;
}

static float dot_q4_0(int n, const eco_block_q4_0 *w, const eco_block_q8_0 *x) {
  float s = 0;
  for (int b = 0; b < n / 32; b++) {
    int si = 0;
    for (int j = 0; j < 16; j++) {
      si += ((w[b].qs[j] & 0xF) - 8) * x[b].qs[j];
      si += ((w[b].qs[j] >> 4) - 8) * x[b].qs[j + 16];
    }
    s += (float)si * (eco_fp16_to_fp32(w[b].d) * eco_fp16_to_fp32(x[b].d));
  }
  return s;
}

static float dot_q4_k(int n, const eco_block_q4_k *w, const eco_block_q8_k *x) {
  float s = 0;
  for (int b = 0; b < n / 256; b++) {
    int32_t sumq = 0, summ = 0;
    const uint8_t *q = w[b].qs;
    const int8_t *a = x[b].qs;
    for (int s2 = 0; s2 < 4; s2++) { /* 64 elements: low nibbles then high */
      uint8_t sc0, m0, sc1, m1;
      eco_q4k_scale_min(2 * s2, w[b].scales, &sc0, &m0);
      eco_q4k_scale_min(2 * s2 + 1, w[b].scales, &sc1, &m1);
      int32_t lo = 0, hi = 0;
      for (int l = 0; l < 32; l++) {
        lo += (q[l] & 0xF) * a[l];
        hi += (q[l] >> 4) * a[l + 32];
      }
      sumq += sc0 * lo + sc1 * hi;
      summ += m0 * (x[b].bsums[4 * s2] + x[b].bsums[4 * s2 + 1]) +
              m1 * (x[b].bsums[4 * s2 + 2] + x[b].bsums[4 * s2 + 3]);
      q += 32;
      a += 64;
    }
    const float d = eco_fp16_to_fp32(w[b].d) * x[b].d;
    const float dmin = eco_fp16_to_fp32(w[b].dmin) * x[b].d;
    s += d * (float)sumq - dmin * (float)summ;
  }
  return s;
}

static float dot_q6_k(int n, const eco_block_q6_k *w, const eco_block_q8_k *x) {
  float s = 0;
  for (int b = 0; b < n / 256; b++) {
    const uint8_t *ql = w[b].ql, *qh = w[b].qh;
    const int8_t *sc = w[b].scales, *a = x[b].qs;
    int32_t sumi = 0;
    for (int j = 0; j < 256; j += 128) {
      int32_t g[8] = {0};
      for (int l = 0; l < 32; l++) {
        int is = l / 16;
        int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        g[is + 0] += q1 * a[l];
        g[is + 2] += q2 * a[l + 32];
        g[is + 4] += q3 * a[l + 64];
        g[is + 6] += q4 * a[l + 96];
      }
      for (int k = 0; k < 8; k++)
        sumi += sc[k] * g[k];
      ql += 64;
      qh += 32;
      sc += 8;
      a += 128;
    }
    s += eco_fp16_to_fp32(w[b].d) * x[b].d * (float)sumi;
  }
  return s;
}

float eco_dot_ref(eco_ggml_type t, int n, const void *w, const void *x) {
  switch (t) {
  case ECO_GGML_F32: return dot_f32(n, w, x);
  case ECO_GGML_F16: return dot_f16(n, w, x);
  case ECO_GGML_BF16: return dot_bf16(n, w, x);
  case ECO_GGML_Q8_0: return dot_q8_0(n, w, x);
  case ECO_GGML_Q4_0: return dot_q4_0(n, w, x);
  case ECO_GGML_Q4_K: return dot_q4_k(n, w, x);
  case ECO_GGML_Q6_K: return dot_q6_k(n, w, x);
  default: return 0;
  }
}
