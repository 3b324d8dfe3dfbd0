/* ecoinfer: super-block (256-element) weight formats: Q2_K, Q3_K, Q4_K,
 * Q5_K, Q6_K and IQ4_XS. Internal to the engine: quant.c dispatches here.
 * Every one of them takes Q8_K activations. */
#ifndef ECO_ENGINE_QUANT_K_H
#define ECO_ENGINE_QUANT_K_H

#include "engine/quant.h"

#include <stdbool.h>
#include <stdint.h>

/* Whether t is one of the types above. */
bool eco_quant_k_type(eco_ggml_type t);
/* Simple rounding of n floats (n a multiple of 256) into type t. */
void eco_quant_k_quantize(eco_ggml_type t, const float *x, void *y, int64_t n);
/* llama.cpp's dequantization, operation for operation. */
void eco_quant_k_dequantize(eco_ggml_type t, const void *x, float *y, int64_t n);
/* Scalar reference dot of one weight row with one Q8_K activation row. */
float eco_quant_k_dot(eco_ggml_type t, int n, const void *w, const eco_block_q8_k *x);
/* Packing of the 6-bit scales: Q4_K/Q5_K (8 scales and 8 mins, 0..63) and
 * Q3_K (16 signed scales, -32..31) into their 12 bytes; the inverses are
 * eco_q4k_scale_min and eco_q3k_scales (quant.h). */
void eco_q4k_pack_scales(const uint8_t *ls, const uint8_t *lm, uint8_t *out);
void eco_q3k_pack_scales(const int8_t sc[16], uint8_t out[12]);
/* Index of the IQ4_NL value (eco_iq4nl_values) nearest to v. */
int eco_quant_iq4_index(float v);
/* The first element of largest magnitude among x[0..n), with its sign. */
float eco_quant_signed_absmax(const float *x, int n);
/* Round to nearest, ties to even (llama.cpp's nearest_int). */
int eco_quant_nearest_int(float fval);

#endif
