/* ecoinfer: tensor storage formats (ggml-compatible blocks), conversions and
 * the scalar reference kernels.
 *
 * A matrix W of shape [rows][n] is stored row by row; one row is n/B blocks
 * of the weight type (B = eco_ggml_block_elems). Before a dot product the
 * F32 activation vector is converted to the weight's "activation type"
 * exactly as llama.cpp does, so that results agree with it:
 *   F32 -> F32, F16 -> F16, BF16 -> BF16,
 *   Q8_0, Q4_0, Q5_0, IQ4_NL -> Q8_0;  Q5_1 -> Q8_1;
 *   Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS -> Q8_K.
 * Block formats, dequantization and the quantizers' per-tensor choices are
 * llama.cpp's (ggml-common.h, ggml-quants.c); the code is our own. The
 * K-quants and IQ4_XS are in quant_k.c.
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

typedef struct eco_block_q5_0 {
  uint16_t d;     /* F16 scale */
  uint8_t qh[4];  /* bit j = 5th bit of element j */
  uint8_t qs[16]; /* low nibbles as Q4_0; x = d*(q - 16) */
} eco_block_q5_0; /* 22 bytes */

typedef struct eco_block_q5_1 {
  uint16_t d, m;  /* F16 scale and min: x = d*q + m */
  uint8_t qh[4];  /* as Q5_0 */
  uint8_t qs[16]; /* as Q5_0 */
} eco_block_q5_1; /* 24 bytes */

typedef struct eco_block_q8_1 {
  uint16_t d;     /* F16 scale */
  uint16_t s;     /* F16 of (F32 scale before rounding) * sum(qs) */
  int8_t qs[32];  /* x = d * qs */
} eco_block_q8_1; /* 36 bytes: Q5_1's activation type */

typedef struct eco_block_iq4_nl {
  uint16_t d;       /* F16 scale */
  uint8_t qs[16];   /* nibbles as Q4_0, x = d * eco_iq4nl_values[nibble] */
} eco_block_iq4_nl; /* 18 bytes */

typedef struct eco_block_q2_k {
  uint8_t scales[16]; /* per 16 elements: 4-bit scale (low), 4-bit min (high) */
  uint8_t qs[64];     /* 2-bit quants: element 128h+32j+l at bits 2j of qs[32h+l] */
  uint16_t d, dmin;   /* F16 super-block scales: x = d*sc*q - dmin*m */
} eco_block_q2_k;     /* 84 bytes */

typedef struct eco_block_q3_k {
  uint8_t hmask[32];  /* bit 4h+j of hmask[l]: high bit of element 128h+32j+l */
  uint8_t qs[64];     /* low 2 bits, as Q2_K */
  uint8_t scales[12]; /* 16 x 6-bit scales (value - 32), packed (eco_q3k_scales) */
  uint16_t d;         /* F16: x = d*(sc-32)*(q2 - (high bit ? 0 : 4)) */
} eco_block_q3_k;     /* 110 bytes */

typedef struct eco_block_q5_k {
  uint16_t d, dmin;   /* as Q4_K */
  uint8_t scales[12]; /* as Q4_K */
  uint8_t qh[32];     /* bit 2i (2i+1) of qh[l]: 5th bit of element 64i+l (64i+32+l) */
  uint8_t qs[128];    /* low 4 bits, as Q4_K */
} eco_block_q5_k;     /* 176 bytes */

typedef struct eco_block_iq4_xs {
  uint16_t d;          /* F16 super-block scale */
  uint16_t scales_h;   /* bits 2i..2i+1: high 2 bits of sub-block i's scale */
  uint8_t scales_l[4]; /* low 4 bits of the 8 sub-block scales (value - 32) */
  uint8_t qs[128];     /* sub-block i (32 elements) as IQ4_NL: qs[16i..16i+15] */
} eco_block_iq4_xs;    /* 136 bytes */

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
_Static_assert(sizeof(eco_block_q5_0) == 22, "q5_0 layout");
_Static_assert(sizeof(eco_block_q5_1) == 24, "q5_1 layout");
_Static_assert(sizeof(eco_block_q8_1) == 36, "q8_1 layout");
_Static_assert(sizeof(eco_block_iq4_nl) == 18, "iq4_nl layout");
_Static_assert(sizeof(eco_block_q2_k) == 84, "q2_k layout");
_Static_assert(sizeof(eco_block_q3_k) == 110, "q3_k layout");
_Static_assert(sizeof(eco_block_q5_k) == 176, "q5_k layout");
_Static_assert(sizeof(eco_block_iq4_xs) == 136, "iq4_xs layout");

/* The 16 values of IQ4_NL and IQ4_XS quants (llama.cpp's kvalues_iq4nl). */
extern const int8_t eco_iq4nl_values[16];

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

/* Converts n floats to type t: exactly as llama.cpp for the activation
 * types (F32, F16, BF16, Q8_0, Q8_1, Q8_K); for the weight types (Q4_0,
 * Q5_0, Q5_1, IQ4_NL, Q2_K..Q6_K, IQ4_XS) a simple, not error-minimizing
 * rounding, used by the synthetic writer and the tests. */
void eco_quantize_row(eco_ggml_type t, const float *x, void *y, int64_t n);
/* Converts one row of type t back to floats. */
void eco_dequantize_row(eco_ggml_type t, const void *x, float *y, int64_t n);

/* Q4_K and Q5_K: the 6-bit scale *d and min *m of sub-block j (0..7) from
 * the 12 packed bytes q. */
void eco_q4k_scale_min(int j, const uint8_t *q, uint8_t *d, uint8_t *m);
/* Q3_K: the 16 signed scales (6-bit value - 32) from the 12 packed bytes. */
void eco_q3k_scales(const uint8_t *q, int8_t out[16]);
/* IQ4_XS: the signed scale (6-bit value - 32) of sub-block i (0..7). */
int eco_iq4xs_scale(const eco_block_iq4_xs *b, int i);

/* Scalar reference dot products: w is one weight row of n elements, x one
 * activation row already in eco_quant_act_type(t). */
float eco_dot_ref(eco_ggml_type t, int n, const void *w, const void *x);

#endif
