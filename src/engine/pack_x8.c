/* ecoinfer: packed layouts of Q5_0, Q5_1, IQ4_NL, Q2_K, Q3_K, Q5_K and
 * IQ4_XS (described in pack.h). Every plain block is spread into its x8
 * block and can be read back byte for byte (eco_pack_x8_get), which is how
 * the scalar packed reference and the tests use it. */
#include "engine/pack_x8.h"
#include "engine/quant_k.h"

#include <string.h>

bool eco_pack_x8_type(eco_ggml_type t) {
  switch (t) {
  case ECO_GGML_Q5_0:
  case ECO_GGML_Q5_1:
  case ECO_GGML_IQ4_NL:
  case ECO_GGML_Q2_K:
  case ECO_GGML_Q3_K:
  case ECO_GGML_Q5_K:
  case ECO_GGML_IQ4_XS: return true;
  default: return false;
  }
}

size_t eco_pack_x8_block_bytes(eco_ggml_type t) {
  switch (t) {
  case ECO_GGML_Q5_0: return 176;
  case ECO_GGML_Q5_1: return 192;
  case ECO_GGML_IQ4_NL: return 144;
  case ECO_GGML_Q2_K: return 672;
  case ECO_GGML_Q3_K: return 912;
  case ECO_GGML_Q5_K: return 1440;
  case ECO_GGML_IQ4_XS: return 1104;
  default: return 0;
  }
}

/* --- the three ways a 32-element block's quants are spread over 8 rows -------------
 * For element j of row r the chunk is k = (j % 16) / 4, the byte i = j % 4;
 * elements j < 16 are "low", j >= 16 "high". */

/* 4 low bits: 128 bytes, chunk k byte 4r+i = low | high << 4 (as Q4_0). */
static void put_nib(const uint8_t *v, int r, uint8_t *qs) {
  for (int k = 0; k < 4; k++)
    for (int i = 0; i < 4; i++)
      qs[32 * k + 4 * r + i] = (uint8_t)((v[4 * k + i] & 0xF) | ((v[16 + 4 * k + i] & 0xF) << 4));
}
static void get_nib(const uint8_t *qs, int r, uint8_t *v) {
  for (int k = 0; k < 4; k++)
    for (int i = 0; i < 4; i++) {
      const uint8_t b = qs[32 * k + 4 * r + i];
      v[4 * k + i] = b & 0xF;
      v[16 + 4 * k + i] = b >> 4;
    }
}

/* One bit (bit `bit` of each value): 32 bytes, byte 4r+i holds bit k = the
 * low element of chunk k, bit 4+k = the high one. */
static void put_bit(const uint8_t *v, int bit, int r, uint8_t *h) {
  for (int i = 0; i < 4; i++) {
    unsigned b = 0;
    for (int k = 0; k < 4; k++)
      b |= (unsigned)((v[4 * k + i] >> bit) & 1) << k | (unsigned)((v[16 + 4 * k + i] >> bit) & 1)
                                                            << (4 + k);
    h[4 * r + i] = (uint8_t)b;
  }
}
static void get_bit(const uint8_t *h, int bit, int r, uint8_t *v) {
  for (int i = 0; i < 4; i++)
    for (int k = 0; k < 4; k++) {
      v[4 * k + i] |= (uint8_t)(((h[4 * r + i] >> k) & 1) << bit);
      v[16 + 4 * k + i] |= (uint8_t)(((h[4 * r + i] >> (4 + k)) & 1) << bit);
    }
}

/* 2 low bits: 64 bytes, plane A (low elements) then plane B (high ones);
 * byte 4r+i holds chunk k at bits 2k..2k+1. */
static void put_2b(const uint8_t *v, int r, uint8_t *p) {
  for (int i = 0; i < 4; i++) {
    unsigned a = 0, b = 0;
    for (int k = 0; k < 4; k++) {
      a |= (unsigned)(v[4 * k + i] & 3) << (2 * k);
      b |= (unsigned)(v[16 + 4 * k + i] & 3) << (2 * k);
    }
    p[4 * r + i] = (uint8_t)a;
    p[32 + 4 * r + i] = (uint8_t)b;
  }
}
static void get_2b(const uint8_t *p, int r, uint8_t *v) {
  for (int i = 0; i < 4; i++)
    for (int k = 0; k < 4; k++) {
      v[4 * k + i] = (p[4 * r + i] >> (2 * k)) & 3;
      v[16 + 4 * k + i] = (p[32 + 4 * r + i] >> (2 * k)) & 3;
    }
}

/* --- plain blocks <-> quant values ------------------------------------------------ */
/* Q5_0/Q5_1/IQ4_NL-style 32 quants: nibbles in qs[16] (low, high), 5th bits in qh. */
static void q32_values(const uint8_t *qs, const uint8_t *qh, uint8_t *v) {
  uint32_t h = 0;
  if (qh) memcpy(&h, qh, 4);
  for (int j = 0; j < 16; j++) {
    v[j] = (uint8_t)((qs[j] & 0xF) | (((h >> j) & 1) << 4));
    v[j + 16] = (uint8_t)((qs[j] >> 4) | (((h >> (j + 16)) & 1) << 4));
  }
}
static void q32_encode(const uint8_t *v, uint8_t *qs, uint8_t *qh) {
  uint32_t h = 0;
  for (int j = 0; j < 16; j++) {
    qs[j] = (uint8_t)((v[j] & 0xF) | ((v[j + 16] & 0xF) << 4));
    h |= (uint32_t)((v[j] >> 4) & 1) << j | (uint32_t)((v[j + 16] >> 4) & 1) << (j + 16);
  }
  if (qh) memcpy(qh, &h, 4);
}

/* 2-bit plane of Q2_K/Q3_K: element e = 128h + 32j + l at bits 2j of byte 32h + l. */
static void q2_values(const uint8_t *qs, uint8_t *v) {
  for (int e = 0; e < 256; e++)
    v[e] = (qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
}
static void q2_encode(const uint8_t *v, uint8_t *qs) {
  memset(qs, 0, 64);
  for (int e = 0; e < 256; e++)
    qs[32 * (e / 128) + e % 32] |= (uint8_t)((v[e] & 3) << (2 * ((e % 128) / 32)));
}

/* Q5_K quants (0..31): low nibbles as Q4_K, bit s of qh[l] for sub-block s. */
static void q5k_values(const eco_block_q5_k *b, uint8_t *v) {
  for (int s = 0; s < 8; s++)
    for (int l = 0; l < 32; l++) {
      const uint8_t q = b->qs[32 * (s / 2) + l];
      v[32 * s + l] = (uint8_t)((s % 2 ? q >> 4 : q & 0xF) | (((b->qh[l] >> s) & 1) << 4));
    }
}
static void q5k_encode(const uint8_t *v, eco_block_q5_k *b) {
  memset(b->qh, 0, sizeof b->qh);
  for (int i = 0; i < 4; i++)
    for (int l = 0; l < 32; l++) {
      const uint8_t lo = v[64 * i + l], hi = v[64 * i + 32 + l];
      b->qs[32 * i + l] = (uint8_t)((lo & 0xF) | ((hi & 0xF) << 4));
      b->qh[l] |= (uint8_t)(((lo >> 4) << (2 * i)) | ((hi >> 4) << (2 * i + 1)));
    }
}

/* --- per type ------------------------------------------------------------------------ */
static void put_q5(const uint16_t *d, const uint16_t *m, const uint8_t *qs, const uint8_t *qh,
                   int r, uint8_t *x8) {
  const size_t q0 = m ? 32 : 16; /* Q5_1 adds the mins after the scales */
  uint8_t v[32];
  memcpy(x8 + 2 * r, d, 2);
  if (m) memcpy(x8 + 16 + 2 * r, m, 2);
  q32_values(qs, qh, v);
  put_nib(v, r, x8 + q0);
  put_bit(v, 4, r, x8 + q0 + 128);
}

static void get_q5(const uint8_t *x8, int r, uint16_t *d, uint16_t *m, uint8_t *qs, uint8_t *qh) {
  const size_t q0 = m ? 32 : 16;
  uint8_t v[32];
  memcpy(d, x8 + 2 * r, 2);
  if (m) memcpy(m, x8 + 16 + 2 * r, 2);
  get_nib(x8 + q0, r, v);
  get_bit(x8 + q0 + 128, 4, r, v);
  q32_encode(v, qs, qh);
}

static void put_q2_k(const eco_block_q2_k *b, int r, uint8_t *x8) {
  uint8_t v[256];
  memcpy(x8 + 2 * r, &b->d, 2);
  memcpy(x8 + 16 + 2 * r, &b->dmin, 2);
  for (int s = 0; s < 16; s++)
    x8[32 + 16 * (s / 2) + 2 * r + s % 2] = b->scales[s];
  q2_values(b->qs, v);
  for (int u = 0; u < 8; u++)
    put_2b(v + 32 * u, r, x8 + 160 + 64 * u);
}

static void get_q2_k(const uint8_t *x8, int r, eco_block_q2_k *b) {
  uint8_t v[256];
  memcpy(&b->d, x8 + 2 * r, 2);
  memcpy(&b->dmin, x8 + 16 + 2 * r, 2);
  for (int s = 0; s < 16; s++)
    b->scales[s] = x8[32 + 16 * (s / 2) + 2 * r + s % 2];
  for (int u = 0; u < 8; u++)
    get_2b(x8 + 160 + 64 * u, r, v + 32 * u);
  q2_encode(v, b->qs);
}

/* Q3_K quants as unsigned 0..7 = low 2 bits + 4 * high bit (value = q - 4). */
static void put_q3_k(const eco_block_q3_k *b, int r, uint8_t *x8) {
  uint8_t v[256];
  int8_t sc[16];
  memcpy(x8 + 2 * r, &b->d, 2);
  eco_q3k_scales(b->scales, sc);
  for (int s = 0; s < 16; s++)
    x8[16 + 16 * (s / 2) + 2 * r + s % 2] = (uint8_t)sc[s];
  q2_values(b->qs, v);
  for (int e = 0; e < 256; e++)
    v[e] = (uint8_t)(v[e] | (((b->hmask[e % 32] >> (e / 32)) & 1) << 2));
  for (int u = 0; u < 8; u++) {
    put_2b(v + 32 * u, r, x8 + 144 + 96 * u);
    put_bit(v + 32 * u, 2, r, x8 + 144 + 96 * u + 64);
  }
}

static void get_q3_k(const uint8_t *x8, int r, eco_block_q3_k *b) {
  uint8_t v[256];
  int8_t sc[16];
  memcpy(&b->d, x8 + 2 * r, 2);
  for (int s = 0; s < 16; s++)
    sc[s] = (int8_t)x8[16 + 16 * (s / 2) + 2 * r + s % 2];
  eco_q3k_pack_scales(sc, b->scales);
  for (int u = 0; u < 8; u++) {
    get_2b(x8 + 144 + 96 * u, r, v + 32 * u);
    get_bit(x8 + 144 + 96 * u + 64, 2, r, v + 32 * u);
  }
  q2_encode(v, b->qs);
  memset(b->hmask, 0, sizeof b->hmask);
  for (int e = 0; e < 256; e++)
    b->hmask[e % 32] |= (uint8_t)(((v[e] >> 2) & 1) << (e / 32));
}

static void put_q5_k(const eco_block_q5_k *b, int r, uint8_t *x8) {
  uint8_t v[256];
  memcpy(x8 + 2 * r, &b->d, 2);
  memcpy(x8 + 16 + 2 * r, &b->dmin, 2);
  for (int s = 0; s < 8; s++) {
    uint8_t sc, mn;
    eco_q4k_scale_min(s, b->scales, &sc, &mn);
    x8[32 + 8 * s + r] = sc;
    x8[96 + 16 * (s / 2) + 2 * r + s % 2] = mn;
  }
  q5k_values(b, v);
  for (int s = 0; s < 8; s++) {
    put_nib(v + 32 * s, r, x8 + 160 + 160 * s);
    put_bit(v + 32 * s, 4, r, x8 + 160 + 160 * s + 128);
  }
}

static void get_q5_k(const uint8_t *x8, int r, eco_block_q5_k *b) {
  uint8_t v[256], ls[8], lm[8];
  memcpy(&b->d, x8 + 2 * r, 2);
  memcpy(&b->dmin, x8 + 16 + 2 * r, 2);
  for (int s = 0; s < 8; s++) {
    ls[s] = x8[32 + 8 * s + r];
    lm[s] = x8[96 + 16 * (s / 2) + 2 * r + s % 2];
    get_nib(x8 + 160 + 160 * s, r, v + 32 * s);
    get_bit(x8 + 160 + 160 * s + 128, 4, r, v + 32 * s);
  }
  eco_q4k_pack_scales(ls, lm, b->scales);
  q5k_encode(v, b);
}

static void put_iq4_xs(const eco_block_iq4_xs *b, int r, uint8_t *x8) {
  uint8_t v[32];
  memcpy(x8 + 2 * r, &b->d, 2);
  for (int s = 0; s < 8; s++) {
    x8[16 + 8 * s + r] = (uint8_t)(int8_t)eco_iq4xs_scale(b, s);
    q32_values(b->qs + 16 * s, NULL, v);
    put_nib(v, r, x8 + 80 + 128 * s);
  }
}

static void get_iq4_xs(const uint8_t *x8, int r, eco_block_iq4_xs *b) {
  uint8_t v[32];
  memcpy(&b->d, x8 + 2 * r, 2);
  b->scales_h = 0;
  memset(b->scales_l, 0, sizeof b->scales_l);
  for (int s = 0; s < 8; s++) {
    const int ls = (int8_t)x8[16 + 8 * s + r] + 32;
    b->scales_l[s / 2] |= (uint8_t)((ls & 0xF) << (4 * (s % 2)));
    b->scales_h |= (uint16_t)((ls >> 4) << (2 * s));
    get_nib(x8 + 80 + 128 * s, r, v);
    q32_encode(v, b->qs + 16 * s, NULL);
  }
}

void eco_pack_x8_put(eco_ggml_type t, const void *blk, int r, uint8_t *x8) {
  if (!blk || !x8) return;
  switch (t) {
  case ECO_GGML_Q5_0: {
    const eco_block_q5_0 *b = blk;
    put_q5(&b->d, NULL, b->qs, b->qh, r, x8);
    break;
  }
  case ECO_GGML_Q5_1: {
    const eco_block_q5_1 *b = blk;
    put_q5(&b->d, &b->m, b->qs, b->qh, r, x8);
    break;
  }
  case ECO_GGML_IQ4_NL: {
    const eco_block_iq4_nl *b = blk;
    uint8_t v[32];
    memcpy(x8 + 2 * r, &b->d, 2);
    q32_values(b->qs, NULL, v);
    put_nib(v, r, x8 + 16);
    break;
  }
  case ECO_GGML_Q2_K: put_q2_k(blk, r, x8); break;
  case ECO_GGML_Q3_K: put_q3_k(blk, r, x8); break;
  case ECO_GGML_Q5_K: put_q5_k(blk, r, x8); break;
  case ECO_GGML_IQ4_XS: put_iq4_xs(blk, r, x8); break;
  default: break;
  }
}

void eco_pack_x8_get(eco_ggml_type t, const uint8_t *x8, int r, void *blk) {
  if (!blk || !x8) return;
  switch (t) {
  case ECO_GGML_Q5_0: {
    eco_block_q5_0 *b = blk;
    get_q5(x8, r, &b->d, NULL, b->qs, b->qh);
    break;
  }
  case ECO_GGML_Q5_1: {
    eco_block_q5_1 *b = blk;
    get_q5(x8, r, &b->d, &b->m, b->qs, b->qh);
    break;
  }
  case ECO_GGML_IQ4_NL: {
    eco_block_iq4_nl *b = blk;
    uint8_t v[32];
    memcpy(&b->d, x8 + 2 * r, 2);
    get_nib(x8 + 16, r, v);
    q32_encode(v, b->qs, NULL);
    break;
  }
  case ECO_GGML_Q2_K: get_q2_k(x8, r, blk); break;
  case ECO_GGML_Q3_K: get_q3_k(x8, r, blk); break;
  case ECO_GGML_Q5_K: get_q5_k(x8, r, blk); break;
  case ECO_GGML_IQ4_XS: get_iq4_xs(x8, r, blk); break;
  default: break;
  }
}
