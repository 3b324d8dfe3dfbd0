/* ecoinfer: packed (8-row interleaved) layouts of Q5_0, Q5_1, IQ4_NL, Q2_K,
 * Q3_K, Q5_K and IQ4_XS. Internal to pack.c, which dispatches here; the
 * layouts are described in pack.h. */
#ifndef ECO_ENGINE_PACK_X8_H
#define ECO_ENGINE_PACK_X8_H

#include "engine/quant.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Whether t is one of the types above. */
bool eco_pack_x8_type(eco_ggml_type t);
/* Bytes of one x8 block (8 rows of one 32- or 256-element block). */
size_t eco_pack_x8_block_bytes(eco_ggml_type t);
/* Row r's copy of one plain block into its x8 block. */
void eco_pack_x8_put(eco_ggml_type t, const void *blk, int r, uint8_t *x8);
/* The inverse: row r's plain block, byte for byte as it was packed. */
void eco_pack_x8_get(eco_ggml_type t, const uint8_t *x8, int r, void *blk);

#endif
