/* ecoinfer: compute kernels with run-time dispatch (scalar, AVX2, AVX-512,
 * NEON).
 *
 * The central primitive multiplies ONE weight row by SEVERAL activation
 * vectors, so that a batch (prompt tokens, or the decode steps of several
 * sequences) shares each pass over the weights:
 *
 *   out[j] = dot(w[0..n), x_j[0..n))   for j in [0, nx)
 *   w   : one row of n elements in the weight type
 *   x_j : (const uint8_t *)x + j * x_stride, n elements already converted
 *         to eco_quant_act_type(weight type) (see quant.h)
 *
 * Fast variants agree with the scalar reference to float rounding (integer
 * block sums are exact; only the float summation order differs).
 */
#ifndef ECO_ENGINE_KERNELS_H
#define ECO_ENGINE_KERNELS_H

#include "engine/quant.h"
#include "util/cpu.h"

#include <stddef.h>

typedef void (*eco_dot_fn)(int n, const void *w, const void *x, size_t x_stride, int nx,
                           float *out);

#define ECO_N_TYPES 31 /* indexes eco_ggml_type values up to BF16 (30) */

/* Four consecutive weight rows (row_bytes apart) times ONE activation
 * vector: out[r] = dot(w_r, x) for r < 4. Decode-only fast path; NULL
 * where a type has none (callers then use dot). */
typedef void (*eco_dot4_fn)(int n, const void *w, size_t row_bytes, const void *x, float *out);

/* One packed group of 8 rows (pack.h) times nx activation rows in the Q8_0
 * split format (x_stride bytes apart):
 *   out[j*out_stride + r] = dot(row r, x_j)   for r < 8, j < nx. */
typedef void (*eco_pdot_fn)(int n, const void *group, const void *x, size_t x_stride, int nx,
                            float *out, size_t out_stride);
/* Two consecutive packed groups (16 rows; the second group_bytes after the
 * first) times nx activation rows, as two eco_pdot_fn calls would give:
 *   out[j*out_stride + r] = dot(row r, x_j)   for r < 16, j < nx. */
typedef void (*eco_pdot2_fn)(int n, const void *group, size_t group_bytes, const void *x,
                             size_t x_stride, int nx, float *out, size_t out_stride);

/* Attention over a KV cache (F32), for nq query heads that share one KV
 * head (GQA group), over positions 0..n_pos-1:
 *   scores: out[j*n_pos + s] = scale * dot(q_j, K_s)
 *           q_j = q + j*hd, K_s = K + s*kv_stride (floats)
 *   accum:  o_j = sum_s w[j*n_pos + s] * V_s   (o_j = o + j*hd, overwritten)
 * hd = head dimension; nq <= 8.
 * pf, pf_rows: a prefetch hint, or NULL / 0: pf_rows rows of hd elements of
 * the cache's type, kv_stride elements apart, that the caller reads next.
 * The kernel only issues software prefetches for them, spread over its own
 * pass over the cache, so that a second read stream runs beside its own:
 * one head's positions are short runs that one stream at a time cannot
 * keep DRAM busy with. The results do not depend on it. */
typedef void (*eco_attn_scores_fn)(int hd, const float *q, int nq, const float *K, size_t kv_stride,
                                   int n_pos, float scale, float *out, const void *pf, int pf_rows);
typedef void (*eco_attn_accum_fn)(int hd, const float *w, int nq, const float *V, size_t kv_stride,
                                  int n_pos, float *o, const void *pf, int pf_rows);
/* The same over an F16 cache (K, V as IEEE half, kv_stride in elements),
 * and the conversion that fills it: y[i] = fp16(x[i]), round to nearest
 * even (eco_fp32_to_fp16). */
typedef void (*eco_attn_scores_f16_fn)(int hd, const float *q, int nq, const uint16_t *K,
                                       size_t kv_stride, int n_pos, float scale, float *out,
                                       const void *pf, int pf_rows);
typedef void (*eco_attn_accum_f16_fn)(int hd, const float *w, int nq, const uint16_t *V,
                                      size_t kv_stride, int n_pos, float *o, const void *pf,
                                      int pf_rows);
typedef void (*eco_to_f16_fn)(int n, const float *x, uint16_t *y);

/* Element-wise helpers of the forward pass:
 *   silu_mul:  g[i] = silu(g[i]) * u[i] = g[i] / (1 + exp(-g[i])) * u[i]
 *              (SIMD variants use a polynomial exp within 2 ulp of expf)
 *   sumsq:     sum of x[i]^2 exactly as llama.cpp's RMSNorm: squares in float,
 *              summed in double in element order (every variant: scalar)
 *   quant_act: n floats -> one Q8_0 split activation row (pack.h), the same
 *              numbers as eco_pack_act
 *   quant_q8k: n floats (n a multiple of 256) -> one Q8_K row, bit-identical
 *              to eco_quantize_row(ECO_GGML_Q8_K) (the K-quants' activations) */
typedef void (*eco_silu_mul_fn)(int n, float *g, const float *u);
/* x[i] = exp(x[i] - max x) / sum_j exp(x[j] - max x), the sum in double */
typedef void (*eco_softmax_fn)(int n, float *x);
typedef double (*eco_sumsq_fn)(int n, const float *x);
typedef void (*eco_quant_act_fn)(const float *x, void *dst, int n);

typedef struct eco_kernels {
  eco_simd_level level;                   /* variant actually selected */
  eco_dot_fn dot[ECO_N_TYPES];            /* by weight type; NULL if unsupported */
  eco_dot4_fn dot4[ECO_N_TYPES];          /* optional 4-row single-vector kernels */
  eco_pdot_fn pdot[ECO_N_TYPES];          /* packed-layout kernels; NULL where this variant has none
                                             (the model then keeps the plain layout) */
  eco_pdot2_fn pdot2[ECO_N_TYPES];        /* optional two-group kernels (batches of 2 and more) */
  eco_attn_scores_fn attn_scores;         /* always set */
  eco_attn_accum_fn attn_accum;           /* always set */
  eco_attn_scores_f16_fn attn_scores_f16; /* always set */
  eco_attn_accum_f16_fn attn_accum_f16;   /* always set */
  eco_to_f16_fn to_f16;                   /* always set */
  eco_silu_mul_fn silu_mul;               /* always set */
  eco_softmax_fn softmax;                 /* always set */
  eco_sumsq_fn sumsq;                     /* always set */
  eco_quant_act_fn quant_act;             /* always set */
  eco_quant_act_fn quant_q8k;             /* always set */
} eco_kernels;

/* Fills k with the best kernels for `level` (capped to what was compiled
 * in); types without a fast variant use the scalar one. */
void eco_kernels_init(eco_kernels *k, eco_simd_level level);

/* Scalar batch dot built on eco_dot_ref (always available). */
void eco_dot_scalar(eco_ggml_type t, int n, const void *w, const void *x, size_t x_stride, int nx,
                    float *out);

/* Per-variant registration (defined in kernels_<isa>.c). */
#if defined(ECO_ARCH_X86)
void eco_kernels_init_avx2(eco_kernels *k);          /* also calls the two x8 ones below */
void eco_kernels_init_x8_main_avx2(eco_kernels *k);  /* packed Q8_0, Q4_0, Q4_K, Q6_K */
void eco_kernels_init_x8_avx2(eco_kernels *k);       /* packed Q5_*, IQ4_*, Q2_K, Q3_K, Q5_K */
void eco_kernels_init_avx512(eco_kernels *k);        /* F/BW/VL/DQ, after avx2 */
void eco_kernels_init_attn_avx512(eco_kernels *k);   /* attention, from avx512 */
void eco_kernels_init_avx512vnni(eco_kernels *k);    /* + VNNI, after avx512 */
void eco_kernels_init_x8_avx512vnni(eco_kernels *k); /* packed Q5_*, IQ4_*, Q2_K, Q3_K, Q5_K */
#endif
#if defined(ECO_ARCH_ARM)
void eco_kernels_init_neon(eco_kernels *k);    /* also calls eco_kernels_init_x8_neon */
void eco_kernels_init_x8_neon(eco_kernels *k); /* packed Q5_*, IQ4_*, Q2_K, Q3_K, Q5_K */
#endif

#endif
