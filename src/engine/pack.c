/* ecoinfer: packed (8-row interleaved) weight layout; see pack.h. */
#include "engine/pack.h"
#include "engine/pack_x8.h"

#include <stdlib.h>
#include <string.h>

#define Q4K_X8_BYTES 1184 /* one packed Q4_K super-block of 8 rows */
#define Q6K_X8_BYTES 1680 /* one packed Q6_K super-block of 8 rows */

bool eco_pack_supported(eco_ggml_type t) {
  return t == ECO_GGML_Q8_0 || t == ECO_GGML_Q4_0 || t == ECO_GGML_Q4_K || t == ECO_GGML_Q6_K ||
         eco_pack_x8_type(t);
}

bool eco_pack_split_act(eco_ggml_type t) {
  return t == ECO_GGML_Q8_0 || t == ECO_GGML_Q4_0 || t == ECO_GGML_Q5_0 || t == ECO_GGML_IQ4_NL;
}

size_t eco_pack_group_bytes(eco_ggml_type t, int64_t n) {
  if (!eco_pack_supported(t) || n <= 0 || n % (int64_t)eco_ggml_block_elems(t)) return 0;
  if (t == ECO_GGML_Q4_K) return (size_t)(n / 256) * Q4K_X8_BYTES;
  if (t == ECO_GGML_Q6_K) return (size_t)(n / 256) * Q6K_X8_BYTES;
  if (eco_pack_x8_type(t))
    return (size_t)(n / (int64_t)eco_ggml_block_elems(t)) * eco_pack_x8_block_bytes(t);
  return (size_t)ECO_PACK_ROWS * eco_quant_row_bytes(t, n);
}

/* Row r of a Q4_K super-block into its packed super-block (pack.h). */
static void pack_q4_k_row(const eco_block_q4_k *q, int r, uint8_t *dst) {
  memcpy(dst + 2 * r, &q->d, 2);
  memcpy(dst + 16 + 2 * r, &q->dmin, 2);
  for (int s = 0; s < 8; s++) {
    uint8_t sc, mn;
    eco_q4k_scale_min(s, q->scales, &sc, &mn);
    dst[32 + 8 * s + r] = sc;
    dst[96 + 16 * (s / 2) + 2 * r + s % 2] = mn;
  }
  /* sub-block s is the low (even s) or high (odd s) nibbles of qs[32(s/2) ..] */
  for (int s = 0; s < 8; s++) {
    const uint8_t *src = q->qs + 32 * (s / 2);
    const int shift = 4 * (s % 2);
    uint8_t *o = dst + 160 + 128 * s + 4 * r;
    for (int j = 0; j < 16; j++)
      o[32 * (j / 4) + j % 4] =
          (uint8_t)(((src[j] >> shift) & 0xF) | (((src[j + 16] >> shift) & 0xF) << 4));
  }
}

size_t eco_pack_bytes(eco_ggml_type t, int64_t rows, int64_t n) {
  if (rows <= 0) return 0;
  const int64_t groups = (rows + ECO_PACK_ROWS - 1) / ECO_PACK_ROWS;
  return (size_t)groups * eco_pack_group_bytes(t, n);
}

/* Unsigned 6-bit quant (0..63) of element e of a Q6_K block. */
static int q6_k_quant(const eco_block_q6_k *q, int e) {
  const int h = e / 128, p = e % 128, k4 = p / 32, l = p % 32;
  const uint8_t *ql = q->ql + 64 * h, *qh = q->qh + 32 * h;
  const int lo = k4 & 1 ? ql[l + 32] : ql[l];
  return ((k4 < 2 ? lo & 0xF : lo >> 4) | (((qh[l] >> (2 * k4)) & 3) << 4));
}

/* Offset of a Q6_K quant's low-nibble byte and its qh byte in a packed
 * super-block (pack.h); *hi_nib / *shift say where its bits go. */
static size_t q6_k_slot(int e, int r, size_t *qh_off, int *hi_nib, int *shift) {
  const int u = e / 32, i = e % 32, k = (i % 16) / 4, b = i % 4;
  *hi_nib = i >= 16;
  *shift = 2 * k;
  *qh_off = 144 + 192 * (size_t)u + (i < 16 ? 128 : 160) + 4 * (size_t)r + (size_t)b;
  return 144 + 192 * (size_t)u + 32 * (size_t)k + 4 * (size_t)r + (size_t)b;
}

static void pack_q6_k_row(const eco_block_q6_k *q, int r, uint8_t *dst) {
  memcpy(dst + 2 * r, &q->d, 2);
  for (int s = 0; s < 16; s++)
    dst[16 + 16 * (s / 2) + 2 * r + s % 2] = (uint8_t)q->scales[s];
  uint8_t v[256];
  for (int e = 0; e < 256; e++)
    v[e] = (uint8_t)q6_k_quant(q, e);
  for (int u = 0; u < 8; u++) {
    const uint8_t *w = v + 32 * u;
    uint8_t *o = dst + 144 + 192 * u + 4 * r;
    for (int j = 0; j < 16; j++)
      o[32 * (j / 4) + j % 4] = (uint8_t)((w[j] & 0xF) | ((w[j + 16] & 0xF) << 4));
    for (int i = 0; i < 4; i++) {
      uint8_t a = 0, b = 0;
      for (int k = 0; k < 4; k++) {
        a = (uint8_t)(a | ((w[4 * k + i] >> 4) << (2 * k)));
        b = (uint8_t)(b | ((w[16 + 4 * k + i] >> 4) << (2 * k)));
      }
      o[128 + i] = a;
      o[160 + i] = b;
    }
  }
}

/* Row r's copy of one block of a Q8_0 or Q4_0 row into its x8 block. */
static void pack_q8_q4_block(eco_ggml_type t, const void *src, int r, uint8_t *dst) {
  const int chunks = t == ECO_GGML_Q8_0 ? 8 : 4; /* 32-byte chunks per x8 block */
  const uint8_t *qs;
  uint16_t d;
  if (t == ECO_GGML_Q8_0) {
    const eco_block_q8_0 *q = src;
    d = q->d;
    qs = (const uint8_t *)q->qs;
  } else {
    const eco_block_q4_0 *q = src;
    d = q->d;
    qs = q->qs;
  }
  memcpy(dst + 2 * r, &d, 2);
  for (int k = 0; k < chunks; k++)
    memcpy(dst + 16 + 32 * k + 4 * r, qs + 4 * k, 4);
}

void eco_pack_group(eco_ggml_type t, int64_t n, const void *w, size_t row_bytes, int64_t rows,
                    int64_t g, void *dst) {
  const int64_t be = (int64_t)eco_ggml_block_elems(t), nb = n / be;
  const size_t src_bytes = eco_ggml_block_bytes(t);
  const size_t xb = eco_pack_group_bytes(t, n) / (size_t)nb; /* bytes per x8 block */
  if (g * ECO_PACK_ROWS + ECO_PACK_ROWS > rows)              /* padding rows stay zero */
    memset(dst, 0, (size_t)nb * xb);
  for (int r = 0; r < ECO_PACK_ROWS && g * ECO_PACK_ROWS + r < rows; r++) {
    const uint8_t *src = (const uint8_t *)w + (size_t)(g * ECO_PACK_ROWS + r) * row_bytes;
    for (int64_t b = 0; b < nb; b++) {
      const void *blk = src + (size_t)b * src_bytes;
      uint8_t *out = (uint8_t *)dst + (size_t)b * xb;
      if (eco_pack_x8_type(t))
        eco_pack_x8_put(t, blk, r, out);
      else if (t == ECO_GGML_Q4_K)
        pack_q4_k_row(blk, r, out);
      else if (t == ECO_GGML_Q6_K)
        pack_q6_k_row(blk, r, out);
      else
        pack_q8_q4_block(t, blk, r, out);
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

/* Q4_K reference on the packed layout, summed in eco_dot_ref's order. */
static void dot_ref_q4_k(int n, const uint8_t *group, const void *x, size_t x_stride, int nx,
                         float *out, size_t out_stride) {
  for (int j = 0; j < nx; j++) {
    const eco_block_q8_k *a =
        (const eco_block_q8_k *)(const void *)((const uint8_t *)x + (size_t)j * x_stride);
    for (int r = 0; r < ECO_PACK_ROWS; r++) {
      float sum = 0;
      for (int b = 0; b < n / 256; b++) {
        const uint8_t *blk = group + (size_t)b * Q4K_X8_BYTES;
        int32_t sumq = 0, summ = 0;
        for (int s = 0; s < 8; s++) {
          int32_t si = 0;
          for (int i = 0; i < 32; i++) {
            const uint8_t byte = blk[160 + 128 * s + 32 * ((i % 16) / 4) + 4 * r + i % 4];
            si += (i < 16 ? byte & 0xF : byte >> 4) * a[b].qs[32 * s + i];
          }
          sumq += blk[32 + 8 * s + r] * si;
          summ +=
              blk[96 + 16 * (s / 2) + 2 * r + s % 2] * (a[b].bsums[2 * s] + a[b].bsums[2 * s + 1]);
        }
        uint16_t dh, mh;
        memcpy(&dh, blk + 2 * r, 2);
        memcpy(&mh, blk + 16 + 2 * r, 2);
        sum += eco_fp16_to_fp32(dh) * a[b].d * (float)sumq -
               eco_fp16_to_fp32(mh) * a[b].d * (float)summ;
      }
      out[(size_t)j * out_stride + (size_t)r] = sum;
    }
  }
}

/* Q6_K reference on the packed layout, summed in eco_dot_ref's order. */
static void dot_ref_q6_k(int n, const uint8_t *group, const void *x, size_t x_stride, int nx,
                         float *out, size_t out_stride) {
  for (int j = 0; j < nx; j++) {
    const eco_block_q8_k *a =
        (const eco_block_q8_k *)(const void *)((const uint8_t *)x + (size_t)j * x_stride);
    for (int r = 0; r < ECO_PACK_ROWS; r++) {
      float sum = 0;
      for (int b = 0; b < n / 256; b++) {
        const uint8_t *blk = group + (size_t)b * Q6K_X8_BYTES;
        int32_t sumi = 0;
        for (int s = 0; s < 16; s++) {
          int32_t gsum = 0;
          for (int e = 16 * s; e < 16 * s + 16; e++) {
            size_t qh;
            int hi, shift;
            const size_t lo = q6_k_slot(e, r, &qh, &hi, &shift);
            const int v = ((hi ? blk[lo] >> 4 : blk[lo] & 0xF) | (((blk[qh] >> shift) & 3) << 4));
            gsum += (v - 32) * a[b].qs[e];
          }
          sumi += (int8_t)blk[16 + 16 * (s / 2) + 2 * r + s % 2] * gsum;
        }
        uint16_t dh;
        memcpy(&dh, blk + 2 * r, 2);
        sum += eco_fp16_to_fp32(dh) * a[b].d * (float)sumi;
      }
      out[(size_t)j * out_stride + (size_t)r] = sum;
    }
  }
}

bool eco_pack_get_row(eco_ggml_type t, int64_t n, const void *group, int r, void *row) {
  if (!eco_pack_x8_type(t) || r < 0 || r >= ECO_PACK_ROWS) return false;
  const int64_t nb = n / (int64_t)eco_ggml_block_elems(t);
  const size_t xb = eco_pack_x8_block_bytes(t), bb = eco_ggml_block_bytes(t);
  for (int64_t b = 0; b < nb; b++)
    eco_pack_x8_get(t, (const uint8_t *)group + (size_t)b * xb, r, (uint8_t *)row + (size_t)b * bb);
  return true;
}

/* The packed types of pack_x8.c: each row read back in the plain layout and
 * dotted by eco_dot_ref (split activations turned back into Q8_0 blocks). */
static void dot_ref_x8(eco_ggml_type t, int n, const void *group, const void *x, size_t x_stride,
                       int nx, float *out, size_t out_stride) {
  const size_t rb = eco_quant_row_bytes(t, n), ab = eco_quant_row_bytes(ECO_GGML_Q8_0, n);
  uint8_t *row = malloc(rb), *act = malloc(ab);
  if (!row || !act) {
    free(row);
    free(act);
    return;
  }
  for (int r = 0; r < ECO_PACK_ROWS; r++) {
    eco_pack_get_row(t, n, group, r, row);
    for (int j = 0; j < nx; j++) {
      const uint8_t *a = (const uint8_t *)x + (size_t)j * x_stride;
      if (eco_pack_split_act(t)) {
        eco_block_q8_0 *q = (eco_block_q8_0 *)(void *)act;
        for (int b = 0; b < n / 32; b++) {
          q[b].d = eco_fp32_to_fp16(eco_pack_act_d(a)[b]);
          memcpy(q[b].qs, eco_pack_act_qs(a, n) + 32 * b, 32);
        }
        a = act;
      }
      out[(size_t)j * out_stride + (size_t)r] = eco_dot_ref(t, n, row, a);
    }
  }
  free(row);
  free(act);
}

void eco_pack_dot_ref(eco_ggml_type t, int n, const void *group, const void *x, size_t x_stride,
                      int nx, float *out, size_t out_stride) {
  if (eco_pack_x8_type(t)) {
    dot_ref_x8(t, n, group, x, x_stride, nx, out, out_stride);
    return;
  }
  if (t == ECO_GGML_Q6_K) {
    dot_ref_q6_k(n, group, x, x_stride, nx, out, out_stride);
    return;
  }
  if (t == ECO_GGML_Q4_K) {
    dot_ref_q4_k(n, group, x, x_stride, nx, out, out_stride);
    return;
  }
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
