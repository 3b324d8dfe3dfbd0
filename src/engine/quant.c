/* ecoinfer: block formats, conversions and scalar reference kernels for the
 * 32-element blocks (the super-block types are in quant_k.c). */
#include "engine/quant.h"
#include "engine/quant_k.h"

#include <math.h>
#include <string.h>

#if defined(__clang__) /* no fused multiply-adds: dequantization must round like llama.cpp */
#pragma STDC FP_CONTRACT OFF
#endif

const int8_t eco_iq4nl_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                     1,    13,   25,  38,  53,  69,  89,  113};

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
  case ECO_GGML_Q5_0:
  case ECO_GGML_Q5_1:
  case ECO_GGML_IQ4_NL: return true;
  default: return eco_quant_k_type(t);
  }
}

eco_ggml_type eco_quant_act_type(eco_ggml_type t) {
  switch (t) {
  case ECO_GGML_F16: return ECO_GGML_F16;
  case ECO_GGML_BF16: return ECO_GGML_BF16;
  case ECO_GGML_Q8_0:
  case ECO_GGML_Q4_0:
  case ECO_GGML_Q5_0:
  case ECO_GGML_IQ4_NL: return ECO_GGML_Q8_0;
  case ECO_GGML_Q5_1: return ECO_GGML_Q8_1;
  default: return eco_quant_k_type(t) ? ECO_GGML_Q8_K : ECO_GGML_F32;
  }
}

size_t eco_quant_row_bytes(eco_ggml_type t, int64_t n) {
  uint32_t be = eco_ggml_block_elems(t);
  return be ? (size_t)(n / be) * eco_ggml_block_bytes(t) : 0;
}

#define nearest_int eco_quant_nearest_int

/* One block of 32 as llama.cpp's Q8_0/Q8_1: q = round(x * 127/amax);
 * returns the F32 scale amax/127 (before any rounding to F16). */
static float q8_block(const float *x, int8_t *qs) {
  float amax = 0;
  for (int j = 0; j < 32; j++) { /* not fmaxf: a libm call per element at -O3 */
    const float v = fabsf(x[j]);
    amax = v > amax ? v : amax;
  }
  const float id = amax != 0 ? 127.f / amax : 0.f;
  for (int j = 0; j < 32; j++)
    qs[j] = (int8_t)nearest_int(x[j] * id);
  return amax / 127.f;
}

static void quantize_q8_0(const float *x, eco_block_q8_0 *y, int64_t n) {
  for (int64_t b = 0; b < n / 32; b++)
    y[b].d = eco_fp32_to_fp16(q8_block(x + b * 32, y[b].qs));
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
    const float max = eco_quant_signed_absmax(xb, 32);
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

/* Q8_1 as llama.cpp's x86 quantize_row_q8_1: Q8_0's numbers, and
 * s = F16(d * sum) with d the F32 scale before its rounding to F16. */
static void quantize_q8_1(const float *x, eco_block_q8_1 *y, int64_t n) {
  for (int64_t b = 0; b < n / 32; b++) {
    const float d = q8_block(x + b * 32, y[b].qs);
    int sum = 0;
    for (int j = 0; j < 32; j++)
      sum += y[b].qs[j];
    y[b].d = eco_fp32_to_fp16(d);
    y[b].s = eco_fp32_to_fp16(d * (float)sum);
  }
}

/* 5-bit quants: low nibbles as Q4_0 into qs, 5th bits into qh (bit j =
 * element j). */
static void put_q5(const int *q, uint8_t *qs, uint8_t *qh) {
  uint32_t h = 0;
  for (int j = 0; j < 16; j++) {
    qs[j] = (uint8_t)((q[j] & 0xF) | ((q[j + 16] & 0xF) << 4));
    h |= (uint32_t)(q[j] >> 4) << j;
    h |= (uint32_t)(q[j + 16] >> 4) << (j + 16);
  }
  memcpy(qh, &h, 4);
}

static int clamp_q(int v, int hi) { return v < 0 ? 0 : v > hi ? hi : v; }

static void quantize_q5_0(const float *x, eco_block_q5_0 *y, int64_t n) {
  for (int64_t b = 0; b < n / 32; b++) {
    const float *xb = x + b * 32;
    const float max = eco_quant_signed_absmax(xb, 32);
    const float d = max / -16;
    const float id = d != 0 ? 1.0f / d : 0;
    y[b].d = eco_fp32_to_fp16(d);
    int q[32];
    for (int j = 0; j < 32; j++)
      q[j] = clamp_q((int)(xb[j] * id + 16.5f), 31);
    put_q5(q, y[b].qs, y[b].qh);
  }
}

static void quantize_q5_1(const float *x, eco_block_q5_1 *y, int64_t n) {
  for (int64_t b = 0; b < n / 32; b++) {
    const float *xb = x + b * 32;
    float lo = xb[0], hi = xb[0];
    for (int j = 1; j < 32; j++) {
      lo = fminf(lo, xb[j]);
      hi = fmaxf(hi, xb[j]);
    }
    const float d = (hi - lo) / 31;
    const float id = d != 0 ? 1.0f / d : 0;
    y[b].d = eco_fp32_to_fp16(d);
    y[b].m = eco_fp32_to_fp16(lo);
    int q[32];
    for (int j = 0; j < 32; j++)
      q[j] = clamp_q((int)((xb[j] - lo) * id + 0.5f), 31);
    put_q5(q, y[b].qs, y[b].qh);
  }
}

static void quantize_iq4_nl(const float *x, eco_block_iq4_nl *y, int64_t n) {
  for (int64_t b = 0; b < n / 32; b++) {
    const float *xb = x + b * 32;
    const float max = eco_quant_signed_absmax(xb, 32);
    y[b].d = eco_fp32_to_fp16(max / -127.f); /* the largest maps to the value -127 */
    const float d = eco_fp16_to_fp32(y[b].d);
    for (int j = 0; j < 16; j++) {
      const int a = eco_quant_iq4_index(d != 0 ? xb[j] / d : 0.f);
      const int c = eco_quant_iq4_index(d != 0 ? xb[j + 16] / d : 0.f);
      y[b].qs[j] = (uint8_t)(a | (c << 4));
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
  case ECO_GGML_Q8_1: quantize_q8_1(x, y, n); break;
  case ECO_GGML_Q4_0: quantize_q4_0(x, y, n); break;
  case ECO_GGML_Q5_0: quantize_q5_0(x, y, n); break;
  case ECO_GGML_Q5_1: quantize_q5_1(x, y, n); break;
  case ECO_GGML_IQ4_NL: quantize_iq4_nl(x, y, n); break;
  default:
    if (eco_quant_k_type(t))
      eco_quant_k_quantize(t, x, y, n);
    else
      memset(y, 0, eco_quant_row_bytes(t, n));
    break;
  }
}

/* The 5-bit quant (0..31) of element j of a Q5_0/Q5_1 block. */
static int q5_at(const uint8_t *qs, const uint8_t *qh, int j) {
  uint32_t h;
  memcpy(&h, qh, 4);
  const int lo = j < 16 ? qs[j] & 0xF : qs[j - 16] >> 4;
  return lo | (int)(((h >> j) & 1) << 4);
}

/* llama.cpp: Q5_0 x = (q - 16) * d; Q5_1 x = q * d + m. */
static void dequant_q5(eco_ggml_type t, const void *x, float *y, int64_t n) {
  for (int64_t i = 0; i < n / 32; i++) {
    if (t == ECO_GGML_Q5_0) {
      const eco_block_q5_0 *b = (const eco_block_q5_0 *)x + i;
      const float d = eco_fp16_to_fp32(b->d);
      for (int j = 0; j < 32; j++)
        y[i * 32 + j] = (float)(q5_at(b->qs, b->qh, j) - 16) * d;
    } else {
      const eco_block_q5_1 *b = (const eco_block_q5_1 *)x + i;
      const float d = eco_fp16_to_fp32(b->d), m = eco_fp16_to_fp32(b->m);
      for (int j = 0; j < 32; j++)
        y[i * 32 + j] = (float)q5_at(b->qs, b->qh, j) * d + m;
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
  case ECO_GGML_Q8_1: {
    const eco_block_q8_1 *b = x;
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
  case ECO_GGML_Q5_0:
  case ECO_GGML_Q5_1: dequant_q5(t, x, y, n); break;
  case ECO_GGML_IQ4_NL: {
    const eco_block_iq4_nl *b = x;
    for (int64_t i = 0; i < n / 32; i++) {
      const float d = eco_fp16_to_fp32(b[i].d);
      for (int j = 0; j < 16; j++) {
        y[i * 32 + j] = d * (float)eco_iq4nl_values[b[i].qs[j] & 0xF];
        y[i * 32 + j + 16] = d * (float)eco_iq4nl_values[b[i].qs[j] >> 4];
      }
    }
    break;
  }
  default:
    if (eco_quant_k_type(t))
      eco_quant_k_dequantize(t, x, y, n);
    else
      memset(y, 0, (size_t)n * sizeof *y);
    break;
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

static float dot_q5_0(int n, const eco_block_q5_0 *w, const eco_block_q8_0 *x) {
  float s = 0;
  for (int b = 0; b < n / 32; b++) {
    int si = 0;
    for (int j = 0; j < 32; j++)
      si += (q5_at(w[b].qs, w[b].qh, j) - 16) * x[b].qs[j];
    s += (float)si * (eco_fp16_to_fp32(w[b].d) * eco_fp16_to_fp32(x[b].d));
  }
  return s;
}

/* llama.cpp: sum of d_w*d_a*sum(q*a) + m_w*s_a over blocks */
static float dot_q5_1(int n, const eco_block_q5_1 *w, const eco_block_q8_1 *x) {
  float s = 0;
  for (int b = 0; b < n / 32; b++) {
    int si = 0;
    for (int j = 0; j < 32; j++)
      si += q5_at(w[b].qs, w[b].qh, j) * x[b].qs[j];
    s += (eco_fp16_to_fp32(w[b].d) * eco_fp16_to_fp32(x[b].d)) * (float)si +
         eco_fp16_to_fp32(w[b].m) * eco_fp16_to_fp32(x[b].s);
  }
  return s;
}

static float dot_iq4_nl(int n, const eco_block_iq4_nl *w, const eco_block_q8_0 *x) {
  float s = 0;
  for (int b = 0; b < n / 32; b++) {
    int si = 0;
    for (int j = 0; j < 16; j++)
      si += eco_iq4nl_values[w[b].qs[j] & 0xF] * x[b].qs[j] +
            eco_iq4nl_values[w[b].qs[j] >> 4] * x[b].qs[j + 16];
    s += (float)si * (eco_fp16_to_fp32(w[b].d) * eco_fp16_to_fp32(x[b].d));
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
  case ECO_GGML_Q5_0: return dot_q5_0(n, w, x);
  case ECO_GGML_Q5_1: return dot_q5_1(n, w, x);
  case ECO_GGML_IQ4_NL: return dot_iq4_nl(n, w, x);
  default: return eco_quant_k_type(t) ? eco_quant_k_dot(t, n, w, x) : 0;
  }
}
