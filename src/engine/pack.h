/* ecoinfer: row-interleaved ("packed") weight layouts.
 *
 * The plain layout stores a matrix row by row, so a SIMD dot product of one
 * row against an activation ends in a horizontal sum and pays for a scale
 * conversion and a float multiply-add per 32-element block and row. The
 * packed layout stores 8 consecutive rows block-interleaved, so that one
 * pass produces the 8 row dots in the 8 lanes of a vector: the per-block
 * float work (scale load, conversion, fused multiply-add) is done once for 8
 * rows, and there is no horizontal sum at all.
 *
 * Layout of a packed matrix of R rows and n columns (nb = n/32 blocks):
 *   groups g = 0 .. ceil(R/8)-1, each nb "x8 blocks" in column order;
 *   rows past R in the last group are zero (scale 0) and their results are
 *   discarded.
 *   x8 block (Q8_0, 272 bytes = 8 x 34):
 *     uint16_t d[8];              F16 scale of row 8g+r in block b
 *     int8_t   qs[8][8][4];       qs[k][r][i] = element 4k+i of row 8g+r
 *   x8 block (Q4_0, 144 bytes = 8 x 18):
 *     uint16_t d[8];
 *     uint8_t  qs[4][8][4];       qs[k][r][i] = byte 4k+i of row 8g+r's
 *                                 Q4_0 block: low nibble = element 4k+i,
 *                                 high nibble = element 16+4k+i
 *   x8 super-block (Q4_K, 256 columns, 1184 bytes = 8 x 144 + 32):
 *     uint16_t d[8], dmin[8];     F16 super-block scales of the 8 rows
 *     uint8_t  sc[8][8];          sc[s][r]: 6-bit scale of sub-block s (32
 *                                 elements), row r, decoded
 *     uint8_t  mn[4][8][2];       mn[p][r][i]: 6-bit min of sub-block 2p+i
 *     uint8_t  qs[8][4][8][4];    qs[s][k][r][i]: sub-block s as in Q4_0:
 *                                 low nibble = element 32s+4k+i, high =
 *                                 element 32s+16+4k+i (unsigned, 0..15)
 *   The decoded scales cost 32 bytes per 1152 (2.8 %) and save the kernel
 *   the 6-bit unpacking.
 *   x8 super-block (Q6_K, 256 columns, 1680 bytes = 8 x 210):
 *     uint16_t d[8];
 *     int8_t   sc[8][8][2];       sc[p][r][i]: scale of sub-block 2p+i (16
 *                                 elements), row r
 *     unit u = 0..7 (elements 32u..32u+31), 192 bytes each:
 *       uint8_t ql[4][8][4];      low 4 bits as Q4_0 above (element 32u+4k+i
 *                                 low nibble, 32u+16+4k+i high nibble)
 *       uint8_t qhA[8][4];        bits 2k..2k+1 of byte [r][i]: high 2 bits
 *                                 of element 32u+4k+i, k = 0..3
 *       uint8_t qhB[8][4];        the same for element 32u+16+4k+i
 *     quants are unsigned 0..63 (value = q - 32).
 * So a 32-byte load of chunk k holds 4 consecutive elements of each of the
 * 8 rows, one row per 32-bit lane, and broadcasting the matching 4
 * activation bytes to all lanes lines the product up lane by lane.
 *
 * The other types (pack_x8.c) reuse three ways of spreading the quants of a
 * 32-element piece over 8 rows, where element j of row r lies in chunk
 * k = (j % 16) / 4, byte i = j % 4, "low" for j < 16 and "high" otherwise:
 *   NIB (128 bytes): 4 low bits as Q4_0: chunk k byte 4r+i = low | high << 4
 *   BIT (32 bytes):  one more bit: byte 4r+i holds bit k = the low element of
 *                    chunk k, bit 4+k = the high one
 *   2B (64 bytes):   2 low bits: plane A (low elements) then B (high), byte
 *                    4r+i holding chunk k at bits 2k..2k+1
 * so that one 16-bit shift and a mask bring chunk k's bits into place.
 *   Q5_0 (176 = 8 x 22 bytes per 32 columns): d[8] | NIB | BIT (5th bit);
 *     quants unsigned 0..31 (value = q - 16)
 *   Q5_1 (192 = 8 x 24): d[8] | m[8] | NIB | BIT; x = d*q + m
 *   IQ4_NL (144 = 8 x 18): d[8] | NIB (indexes into eco_iq4nl_values)
 *   per 256 columns:
 *   Q2_K (672 = 8 x 84): d[8] | dmin[8] | sm[8][8][2]: byte [p][r][i] = the
 *     original scale|min<<4 byte of 16-element sub-block 2p+i | per
 *     32-element unit u = 0..7: 2B (quants 0..3)
 *   Q3_K (912 = 8 x 114): d[8] | sc[8][8][2] signed scales (6-bit - 32) of
 *     sub-block 2p+i | per unit: 2B, then BIT (bit 2); quants unsigned 0..7
 *     (value = q - 4)
 *   Q5_K (1440 = 8 x 176 + 32): Q4_K's header (d, dmin, sc[8][8], mn[4][8][2])
 *     | per 32-element sub-block s: NIB, then BIT (5th bit); quants 0..31
 *   IQ4_XS (1104 = 8 x 136 + 16): d[8] | sc[8][8] signed scales (6-bit - 32)
 *     of sub-block s, row r | per sub-block: NIB
 * A unit's "low" 16 elements are one 16-element sub-block (2u) and its
 * "high" ones the next (2u+1), as in Q6_K.
 *
 * Packed Q2_K..Q6_K and IQ4_XS kernels take plain Q8_K activation rows (they
 * need its per-16 sums for the mins and offsets), packed Q5_1 plain Q8_1
 * rows. Packed Q8_0, Q4_0, Q5_0 and IQ4_NL kernels take their
 * activations in the "Q8_0 split" row format,
 * made from exactly the Q8_0 blocks the plain kernels use (the numbers are
 * identical; only the arrangement differs):
 *   float   d[nb];   block scales, already converted from F16
 *   int32_t s[nb];   sum of the block's 32 quants (for Q4_0's -8 offset)
 *   int8_t  qs[n];   quants
 * Bytes per row: eco_pack_act_bytes(n) = n + 8*nb.
 *
 * Integer block sums are exact, so packed results equal the plain ones up
 * to the order of the float additions.
 */
#ifndef ECO_ENGINE_PACK_H
#define ECO_ENGINE_PACK_H

#include "engine/quant.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ECO_PACK_ROWS 8 /* rows per interleaved group */

/* Weight types with a packed layout: Q8_0, Q4_0, Q5_0, Q5_1, IQ4_NL, Q2_K,
 * Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS. */
bool eco_pack_supported(eco_ggml_type t);

/* Whether packed kernels of type t take Q8_0 split activations (true:
 * Q8_0, Q4_0, Q5_0, IQ4_NL) or plain eco_quant_act_type(t) rows (false). */
bool eco_pack_split_act(eco_ggml_type t);

/* Bytes of the packed form of a [rows][n] matrix of type t (rows padded to
 * a multiple of 8; n a multiple of 32). 0 for unsupported types. */
size_t eco_pack_bytes(eco_ggml_type t, int64_t rows, int64_t n);

/* Bytes of one packed group (8 rows of n columns). */
size_t eco_pack_group_bytes(eco_ggml_type t, int64_t n);

/* Packs rows [8g, 8g+8) of the plain matrix w ([rows][row_bytes]) into
 * dst (eco_pack_group_bytes bytes); rows >= `rows` become zero. */
void eco_pack_group(eco_ggml_type t, int64_t n, const void *w, size_t row_bytes, int64_t rows,
                    int64_t g, void *dst);

/* Row r (0..7) of a packed group back in the plain layout, byte for byte
 * (row_bytes of n columns at row); the types of pack_x8.c only (false for
 * the others). */
bool eco_pack_get_row(eco_ggml_type t, int64_t n, const void *group, int r, void *row);

/* Bytes of one activation row in the Q8_0 split format. */
size_t eco_pack_act_bytes(int64_t n);

/* Quantizes n floats to the Q8_0 split format (same numbers as Q8_0). */
void eco_pack_act(const float *x, void *dst, int64_t n);

/* Scalar reference: one packed group against nx activation rows (the
 * format eco_pack_split_act says, x_stride bytes apart).
 * out[j*out_stride + r] = dot(row 8g+r, x_j). */
void eco_pack_dot_ref(eco_ggml_type t, int n, const void *group, const void *x, size_t x_stride,
                      int nx, float *out, size_t out_stride);

/* Views into a split-format activation row. */
static inline const float *eco_pack_act_d(const void *row) { return (const float *)row; }
static inline const int32_t *eco_pack_act_s(const void *row, int n) {
  return (const int32_t *)((const uint8_t *)row + (size_t)(n / 32) * 4);
}
static inline const int8_t *eco_pack_act_qs(const void *row, int n) {
  return (const int8_t *)((const uint8_t *)row + (size_t)(n / 32) * 8);
}

#endif
