/* ecoinfer: packed (8-row interleaved) weight layout; see pack.h. */
#include "engine/pack.h"

#include <stdlib.h>
#include <string.h>

bool eco_pack_supported(eco_ggml_type t) { return t == ECO_GGML_Q8_0 || t == ECO_GGML_Q4_0; }

size_t eco_pack_group_bytes(eco_ggml_type t, int64_t n) {
  if (!eco_pack_supported(t) || n <= 0 || n % 32) return 0;
  return (size_t)ECO_PACK_ROWS * eco_quant_row_bytes(t, n);
}

size_t eco_pack_bytes(eco_ggml_type t, int64_t rows, int64_t n) {
  if (rows <= 0) return 0;
  const int64_t groups = (rows + ECO_PACK_ROWS - 1) / ECO_PACK_ROWS;
  return (size_t)groups * eco_pack_group_bytes(t, n);
}

void eco_pack_group(eco_ggml_type t, int64_t n, const void *w, size_t row_bytes, int64_t rows,
                    int64_t g, void *dst) {
  const int64_t nb = n / 32;
  const size_t xb = eco_pack_group_bytes(t, n) / (size_t)nb; /* bytes per x8 block */
  const int chunks = t == ECO_GGML_Q8_0 ? 8 : 4;             /* 32-byte chunks per x8 block */
  memset(dst, 0, (size_t)nb * xb);
  for (int r = 0; r < ECO_PACK_ROWS; r++) {
    const int64_t row = g * ECO_PACK_ROWS + r;
    if (row >= rows) break; /* padding rows stay zero */
    const uint8_t *src = (const uint8_t *)w + (size_t)row * row_bytes;
    for (int64_t b = 0; b < nb; b++) {
      uint8_t *blk = (uint8_t *)dst + (size_t)b * xb;
      uint16_t d;
      const uint8_t *qs;
      if (t == ECO_GGML_Q8_0) {
        const eco_block_q8_0 *q = (const eco_block_q8_0 *)(const void *)src + b;
        d = q->d;
        qs = (const uint8_t *)q->qs;
      } else {
        const eco_block_q4_0 *q = (const eco_block_q4_0 *)(const void *)src + b;
        d = q->d;
        qs = q->qs;
      }
      memcpy(blk + 2 * r, &d, 2);
      for (int k = 0; k < chunks; k++)
        memcpy(blk + 16 + 32 * k + 4 * r, qs + 4 * k, 4);
    }
  }
}

size_t eco_pack_act_bytes(int64_t n) { return (size_t)n + (size_t)(n / 32) * 8; }

void eco_pack_act(const float *x, void *dst, int64_t n) {
  const int64_t nb = n / 32;
  float *d = dst;
  int32_t *s = (int32_t *)(void *)((uint8_t *)dst + (size_t)nb * 4);
  int8_t *qs = (int8_t *)dst + (size_t)nb * 8;
  for (int64_t b = 0; b < nb; b++) {
    eco_block_q8_0 q;
    eco_quantize_row(ECO_GGML_Q8_0, x + 32 * b, &q, 32);
    d[b] = eco_fp16_to_fp32(q.d);
    int32_t sum = 0;
    for (int i = 0; i < 32; i++)
      sum += q.qs[i];
    s[b] = sum;
    memcpy(qs + 32 * b, q.qs, 32);
  }
}

void eco_pack_dot_ref(eco_ggml_type t, int n, const void *group, const void *x, size_t x_stride,
                      int nx, float *out, size_t out_stride) {
  const int nb = n / 32;
  const size_t xb = eco_pack_group_bytes(t, n) / (size_t)nb;
  for (int j = 0; j < nx; j++) {
    const void *a = (const uint8_t *)x + (size_t)j * x_stride;
    const float *ad = eco_pack_act_d(a);
    const int8_t *aq = eco_pack_act_qs(a, n);
    for (int r = 0; r < ECO_PACK_ROWS; r++) {
      float sum = 0;
      for (int b = 0; b < nb; b++) {
        const uint8_t *blk = (const uint8_t *)group + (size_t)b * xb;
        uint16_t dh;
        memcpy(&dh, blk + 2 * r, 2);
        const int8_t *ab = aq + 32 * b;
        int32_t si = 0;
        if (t == ECO_GGML_Q8_0) {
          for (int i = 0; i < 32; i++)
            si += (int8_t)blk[16 + 32 * (i / 4) + 4 * r + i % 4] * ab[i];
        } else {
          for (int i = 0; i < 16; i++) {
            const uint8_t q = blk[16 + 32 * (i / 4) + 4 * r + i % 4];
            si += ((q & 0xF) - 8) * ab[i] + ((q >> 4) - 8) * ab[i + 16];
          }
        }
        sum += (float)si * (eco_fp16_to_fp32(dh) * ad[b]);
      }
      out[(size_t)j * out_stride + (size_t)r] = sum;
    }
  }
}
