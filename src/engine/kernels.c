/* ecoinfer: kernel dispatch and scalar batch wrappers. */
#include "engine/kernels.h"
#include "engine/pack.h"

#include <math.h>

#include <string.h>

void eco_dot_scalar(eco_ggml_type t, int n, const void *w, const void *x, size_t x_stride, int nx,
                    float *out) {
  for (int j = 0; j < nx; j++)
    out[j] = eco_dot_ref(t, n, w, (const uint8_t *)x + j * x_stride);
}

#define SCALAR_WRAP(name, type)                                                                    \
  static void name(int n, const void *w, const void *x, size_t xs, int nx, float *out) {           \
    eco_dot_scalar(type, n, w, x, xs, nx, out);                                                    \
  }
SCALAR_WRAP(dot_f32, ECO_GGML_F32)
SCALAR_WRAP(dot_f16, ECO_GGML_F16)
SCALAR_WRAP(dot_bf16, ECO_GGML_BF16)
SCALAR_WRAP(dot_q8_0, ECO_GGML_Q8_0)
SCALAR_WRAP(dot_q4_0, ECO_GGML_Q4_0)
SCALAR_WRAP(dot_q4_k, ECO_GGML_Q4_K)
SCALAR_WRAP(dot_q6_k, ECO_GGML_Q6_K)
SCALAR_WRAP(dot_q5_0, ECO_GGML_Q5_0)
SCALAR_WRAP(dot_q5_1, ECO_GGML_Q5_1)
SCALAR_WRAP(dot_iq4_nl, ECO_GGML_IQ4_NL)
SCALAR_WRAP(dot_q2_k, ECO_GGML_Q2_K)
SCALAR_WRAP(dot_q3_k, ECO_GGML_Q3_K)
SCALAR_WRAP(dot_q5_k, ECO_GGML_Q5_K)
SCALAR_WRAP(dot_iq4_xs, ECO_GGML_IQ4_XS)

/* Reference attention over an F32 or F16 cache: one body, the element
 * type a flag (F16: IEEE half, converted on read). */
static inline float kv_elem(const void *base, size_t idx, bool f16) {
  return f16 ? eco_fp16_to_fp32(((const uint16_t *)base)[idx]) : ((const float *)base)[idx];
}

static void scores_ref(int hd, const float *q, int nq, const void *K, size_t kv_stride, int n_pos,
                       float scale, float *out, bool f16) {
  for (int s = 0; s < n_pos; s++) {
    const size_t row = (size_t)s * kv_stride;
    for (int j = 0; j < nq; j++) {
      const float *qj = q + (size_t)j * (size_t)hd;
      float d = 0;
      for (int i = 0; i < hd; i++)
        d += qj[i] * kv_elem(K, row + (size_t)i, f16);
      out[(size_t)j * (size_t)n_pos + (size_t)s] = d * scale;
    }
  }
}

static void accum_ref(int hd, const float *w, int nq, const void *V, size_t kv_stride, int n_pos,
                      float *o, bool f16) {
  memset(o, 0, (size_t)nq * (size_t)hd * sizeof *o);
  for (int s = 0; s < n_pos; s++) {
    const size_t row = (size_t)s * kv_stride;
    for (int j = 0; j < nq; j++) {
      const float wj = w[(size_t)j * (size_t)n_pos + (size_t)s];
      float *oj = o + (size_t)j * (size_t)hd;
      for (int i = 0; i < hd; i++)
        oj[i] += wj * kv_elem(V, row + (size_t)i, f16);
    }
  }
}

/* The reference kernels ignore the prefetch hint (pf, pf_rows). */
static void attn_scores_ref(int hd, const float *q, int nq, const float *K, size_t kv_stride,
                            int n_pos, float scale, float *out, const void *pf, int pf_rows) {
  (void)pf, (void)pf_rows;
  scores_ref(hd, q, nq, K, kv_stride, n_pos, scale, out, false);
}
static void attn_accum_ref(int hd, const float *w, int nq, const float *V, size_t kv_stride,
                           int n_pos, float *o, const void *pf, int pf_rows) {
  (void)pf, (void)pf_rows;
  accum_ref(hd, w, nq, V, kv_stride, n_pos, o, false);
}
static void attn_scores_f16_ref(int hd, const float *q, int nq, const uint16_t *K, size_t kv_stride,
                                int n_pos, float scale, float *out, const void *pf, int pf_rows) {
  (void)pf, (void)pf_rows;
  scores_ref(hd, q, nq, K, kv_stride, n_pos, scale, out, true);
}
static void attn_accum_f16_ref(int hd, const float *w, int nq, const uint16_t *V, size_t kv_stride,
                               int n_pos, float *o, const void *pf, int pf_rows) {
  (void)pf, (void)pf_rows;
  accum_ref(hd, w, nq, V, kv_stride, n_pos, o, true);
}

static void to_f16_ref(int n, const float *x, uint16_t *y) {
  for (int i = 0; i < n; i++)
    y[i] = eco_fp32_to_fp16(x[i]);
}

static void silu_mul_ref(int n, float *g, const float *u) {
  for (int i = 0; i < n; i++)
    g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

static void softmax_ref(int n, float *x) {
  float mx = -INFINITY;
  for (int i = 0; i < n; i++)
    mx = x[i] > mx ? x[i] : mx;
  double sum = 0;
  for (int i = 0; i < n; i++) {
    x[i] = expf(x[i] - mx);
    sum += x[i];
  }
  const float inv = (float)(1.0 / sum);
  for (int i = 0; i < n; i++)
    x[i] *= inv;
}

/* llama.cpp's RMSNorm sum, operation for operation: each square rounded to
 * float, added in double in element order. Its rounding decides the norm's
 * scale to the last bit, and the scale's last bit decides how the normed
 * activations round to 8 bits; any other order makes such roundings flip
 * now and then, which small random models amplify to 1e-2 in logits. */
static double sumsq_ref(int n, const float *x) {
  double s = 0;
  for (int i = 0; i < n; i++)
    s += (double)(x[i] * x[i]);
  return s;
}

static void quant_act_ref(const float *x, void *dst, int n) { eco_pack_act(x, dst, n); }
static void quant_q8k_ref(const float *x, void *dst, int n) {
  eco_quantize_row(ECO_GGML_Q8_K, x, dst, n);
}

void eco_kernels_init(eco_kernels *k, eco_simd_level level) {
  memset(k, 0, sizeof *k);
  k->level = ECO_SIMD_SCALAR;
  k->dot[ECO_GGML_F32] = dot_f32;
  k->dot[ECO_GGML_F16] = dot_f16;
  k->dot[ECO_GGML_BF16] = dot_bf16;
  k->dot[ECO_GGML_Q8_0] = dot_q8_0;
  k->dot[ECO_GGML_Q4_0] = dot_q4_0;
  k->dot[ECO_GGML_Q4_K] = dot_q4_k;
  k->dot[ECO_GGML_Q6_K] = dot_q6_k;
  k->dot[ECO_GGML_Q5_0] = dot_q5_0;
  k->dot[ECO_GGML_Q5_1] = dot_q5_1;
  k->dot[ECO_GGML_IQ4_NL] = dot_iq4_nl;
  k->dot[ECO_GGML_Q2_K] = dot_q2_k;
  k->dot[ECO_GGML_Q3_K] = dot_q3_k;
  k->dot[ECO_GGML_Q5_K] = dot_q5_k;
  k->dot[ECO_GGML_IQ4_XS] = dot_iq4_xs;
  k->attn_scores = attn_scores_ref;
  k->attn_accum = attn_accum_ref;
  k->attn_scores_f16 = attn_scores_f16_ref;
  k->attn_accum_f16 = attn_accum_f16_ref;
  k->to_f16 = to_f16_ref;
  k->silu_mul = silu_mul_ref;
  k->softmax = softmax_ref;
  k->sumsq = sumsq_ref;
  k->quant_act = quant_act_ref;
  k->quant_q8k = quant_q8k_ref;
#if defined(ECO_ARCH_X86)
  if (level >= ECO_SIMD_AVX2) {
    eco_kernels_init_avx2(k);
    k->level = ECO_SIMD_AVX2;
  }
  if (level >= ECO_SIMD_AVX512) {
    eco_kernels_init_avx512(k);
    k->level = ECO_SIMD_AVX512;
  }
  if (level >= ECO_SIMD_AVX512VNNI) {
    eco_kernels_init_avx512vnni(k);
    eco_kernels_init_x8_avx512vnni(k);
    k->level = ECO_SIMD_AVX512VNNI;
  }
#elif defined(ECO_ARCH_ARM)
  if (level >= ECO_SIMD_NEON) {
    eco_kernels_init_neon(k);
    k->level = ECO_SIMD_NEON;
  }
#else
  (void)level;
#endif
}
