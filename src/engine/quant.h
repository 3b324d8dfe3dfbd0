/* ecoinfer: tensor storage formats (ggml-compatible blocks), conversions and
 * the scalar reference kernels.
 *
 * A matrix W of shape [rows][n] is stored row by row; one row is n/B blocks
 * of the weight type (B = eco_ggml_block_elems). Before a dot product the
 * F32 activation vector is converted to the weight's "activation type"
 * exactly as llama.cpp does, so that results agree with it:
 *   F32 -> F32, F16 -> F16, BF16 -> BF16, Q8_0/Q4_0 -> Q8_0, Q4_K/Q6_K -> Q8_K.
 */
#ifndef ECO_ENGINE_QUANT_H
#define ECO_ENGINE_QUANT_H

#include "engine/gguf.h"

#include <stddef.h>
#include <stdint.h>

#define ECO_QK8_0 32
#define ECO_QK_K  256

typedef struct eco_block_q8_0 {
  uint16_t d;     /* F16 scale */
  int8_t qs[32];  /* x = d * qs */
} eco_block_q8_0; /* 34 bytes */

typedef struct eco_block_q4_0 {
  uint16_t d;     /* F16 scale */
  uint8_t qs[16]; /* x[j] = d*((qs[j]&15)-8), x[j+16] = d*((qs[j]>>4)-8) */
} eco_block_q4_0; /* 18 bytes */

typedef struct eco_block_q4_k {
  uint16_t d;         /* F16 super-block scale for the scales */
  uint16_t dmin;      /* F16 super-block scale for the mins */
  uint8_t scales[12]; /* 8 x (6-bit scale, 6-bit min), packed */
  uint8_t qs[128];    /* 4-bit quants */
} eco_block_q4_k;     /* 144 bytes */

typedef struct eco_block_q6_k {
  uint8_t ql[128];   /* low 4 bits */
  uint8_t qh[64];    /* high 2 bits */
  int8_t scales[16]; /* 8-bit scale per 16 elements */
  uint16_t d;        /* F16 super-block scale */
} eco_block_q6_k;    /* 210 bytes */

typedef struct eco_block_q8_k {
  float d;           /* scale */
  int8_t qs[256];    /* x = d * qs */
  int16_t bsums[16]; /* sum of qs in each group of 16 */
} eco_block_q8_k;    /* 292 bytes */

_Static_assert(sizeof(eco_block_q8_0) == 34, "q8_0 layout");
_Static_assert(sizeof(eco_block_q4_0) == 18, "q4_0 layout");
_Static_assert(sizeof(eco_block_q4_k) == 144, "q4_k layout");
_Static_assert(sizeof(eco_block_q6_k) == 210, "q6_k layout");
_Static_assert(sizeof(eco_block_q8_k) == 292, "q8_k layout");

/* IEEE half <-> float (round to nearest even), bfloat16 <-> float. */
float eco_fp16_to_fp32(uint16_t h);
uint16_t eco_fp32_to_fp16(float f);
float eco_bf16_to_fp32(uint16_t h);
uint16_t eco_fp32_to_bf16(float f);

/* Weight types the engine computes with. */
bool eco_quant_supported(eco_ggml_type t);
/* Activation type used for dot products with weights of type t. */
eco_ggml_type eco_quant_act_type(eco_ggml_type t);
/* Bytes of one row of n elements of type t (n a multiple of the block). */
size_t eco_quant_row_bytes(eco_ggml_type t, int64_t n);

/* Converts n floats to type t (F32, F16, BF16, Q8_0, Q8_K; Q4_0, Q4_K and
 * Q6_K for the synthetic writer and tests: simple, not optimal, rounding). */
void eco_quantize_row(eco_ggml_type t, const float *x, void *y, int64_t n);
/* Converts one row of type t back to floats. */
void eco_dequantize_row(eco_ggml_type t, const void *x, float *y, int64_t n);

/* Q4_K: the 6-bit scale *d and min *m of sub-block j (0..7) from the
 * 12 packed bytes q. */
void eco_q4k_scale_min(int j, const uint8_t *q, uint8_t *d, uint8_t *m);

/* Scalar reference dot products: w is one weight row of n elements, x one
 * activation row already in eco_quant_act_type(t). */
float eco_dot_ref(eco_ggml_type t, int n, const void *w, const void *x);

#endif
