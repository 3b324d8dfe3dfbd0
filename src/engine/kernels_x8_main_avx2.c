/* ecoinfer: AVX2 kernels of the packed (8-row interleaved, pack.h) layouts
 * of Q8_0, Q4_0, Q4_K and Q6_K against Q8_0 split / Q8_K activations, up to
 * 4 activation rows at a time (2 for Q6_K). The other packed types are in
 * kernels_x8_avx2.c, the plain layouts in kernels_avx2.c. */
#include "engine/kernels.h"
#include "engine/pack.h"

#include "engine/kernels_x8_x86.h"

/* --- packed 8-row groups (pack.h) x Q8_0 split activations -----------------------
 * Lane r of every vector belongs to row r of the group. Chunk k of an x8
 * block holds 4 consecutive quants of each row; the matching 4 activation
 * bytes are broadcast to all lanes, so maddubs + madd give each row's
 * partial dot in its own lane. The per-block scale work is one F16->F32
 * conversion of the 8 row scales and one multiply-add per activation row. */
INLINE void q8_0_x8_nx(int n, const uint8_t *g, const uint8_t *x, size_t xs, const int NX,
                       float *out, size_t os) {
  const int nb = n / 32;
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[4];
  const float *ad[4];
  const int8_t *aq[4];
  for (int j = 0; j < NX; j++) {
    acc[j] = _mm256_setzero_ps();
    ad[j] = eco_pack_act_d(x + j * xs);
    aq[j] = eco_pack_act_qs(x + j * xs, n);
  }
  for (int b = 0; b < nb; b++, g += 272) {
    _mm_prefetch((const char *)g + PF_DIST, _MM_HINT_T0);
    _mm_prefetch((const char *)g + PF_DIST + 64, _MM_HINT_T0);
    _mm_prefetch((const char *)g + PF_DIST + 128, _MM_HINT_T0);
    _mm_prefetch((const char *)g + PF_DIST + 192, _MM_HINT_T0);
    _mm_prefetch((const char *)g + PF_DIST + 256, _MM_HINT_T0);
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g));
    __m256i is[4];
    for (int j = 0; j < NX; j++)
      is[j] = _mm256_setzero_si256();
#pragma GCC unroll 2 /* fully unrolled, gcc spills the partial sums */
    for (int k = 0; k < 8; k++) {
      const __m256i w = _mm256_loadu_si256((const __m256i *)(g + 16 + 32 * k));
      const __m256i aw = _mm256_sign_epi8(w, w);
      for (int j = 0; j < NX; j++) {
        int32_t a4;
        memcpy(&a4, aq[j] + 32 * b + 4 * k, 4);
        const __m256i p = _mm256_maddubs_epi16(aw, _mm256_sign_epi8(_mm256_set1_epi32(a4), w));
        is[j] = _mm256_add_epi32(is[j], _mm256_madd_epi16(p, ones));
      }
    }
    for (int j = 0; j < NX; j++)
      acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is[j]),
                               _mm256_mul_ps(dw, _mm256_set1_ps(ad[j][b])), acc[j]);
  }
  for (int j = 0; j < NX; j++)
    _mm256_storeu_ps(out + os * (size_t)j, acc[j]);
}

/* Q4_0: quants stay unsigned (0..15) and the -8 offset is removed with the
 * activation block sums, 8 * s[b], once per block for all 8 rows. The int16
 * partial sums of one block cannot overflow: 8 products of |q| <= 15 and
 * |a| <= 127 per lane are at most 30480. */
INLINE void q4_0_x8_nx(int n, const uint8_t *g, const uint8_t *x, size_t xs, const int NX,
                       float *out, size_t os) {
  const int nb = n / 32;
  const __m256i ones = _mm256_set1_epi16(1), m4 = _mm256_set1_epi8(0xF);
  __m256 acc[4];
  const float *ad[4];
  const int32_t *as[4];
  const int8_t *aq[4];
  for (int j = 0; j < NX; j++) {
    acc[j] = _mm256_setzero_ps();
    ad[j] = eco_pack_act_d(x + j * xs);
    as[j] = eco_pack_act_s(x + j * xs, n);
    aq[j] = eco_pack_act_qs(x + j * xs, n);
  }
  for (int b = 0; b < nb; b++, g += 144) {
    _mm_prefetch((const char *)g + PF_DIST, _MM_HINT_T0);
    _mm_prefetch((const char *)g + PF_DIST + 64, _MM_HINT_T0);
    _mm_prefetch((const char *)g + PF_DIST + 128, _MM_HINT_T0);
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g));
    __m256i is[4];
    for (int j = 0; j < NX; j++)
      is[j] = _mm256_setzero_si256();
#pragma GCC unroll 2
    for (int k = 0; k < 4; k++) {
      const __m256i w = _mm256_loadu_si256((const __m256i *)(g + 16 + 32 * k));
      const __m256i lo = _mm256_and_si256(w, m4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(w, 4), m4);
      for (int j = 0; j < NX; j++) {
        int32_t al, ah;
        memcpy(&al, aq[j] + 32 * b + 4 * k, 4);
        memcpy(&ah, aq[j] + 32 * b + 16 + 4 * k, 4);
        const __m256i pl = _mm256_maddubs_epi16(lo, _mm256_set1_epi32(al));
        const __m256i ph = _mm256_maddubs_epi16(hi, _mm256_set1_epi32(ah));
        is[j] = _mm256_add_epi16(is[j], _mm256_add_epi16(pl, ph));
      }
    }
    for (int j = 0; j < NX; j++) {
      const __m256i i32 =
          _mm256_sub_epi32(_mm256_madd_epi16(is[j], ones), _mm256_set1_epi32(8 * as[j][b]));
      acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i32), _mm256_mul_ps(dw, _mm256_set1_ps(ad[j][b])),
                               acc[j]);
    }
  }
  for (int j = 0; j < NX; j++)
    _mm256_storeu_ps(out + os * (size_t)j, acc[j]);
}

/* Q4_K: each 32-element sub-block is a Q4_0-like pass (unsigned quants,
 * int16 partial sums, at most 30480) whose pair sums are multiplied by the
 * sub-block's scale with one madd; the mins are a length-8 dot per row
 * against the activation's sub-block sums, four madds per super-block. */
INLINE void q4_k_x8_nx(int n, const uint8_t *g, const uint8_t *x, size_t xs, const int NX,
                       float *out, size_t os) {
  const int nb = n / 256;
  const __m256i m4 = _mm256_set1_epi8(0xF);
  __m256 acc[4];
  for (int j = 0; j < NX; j++)
    acc[j] = _mm256_setzero_ps();
  for (int b = 0; b < nb; b++, g += 1184) {
    _mm_prefetch((const char *)g + PF_DIST, _MM_HINT_T0);
    __m256i isum[4];
    for (int j = 0; j < NX; j++)
      isum[j] = _mm256_setzero_si256();
    const int8_t *aq[4];
    for (int j = 0; j < NX; j++)
      aq[j] = ((const eco_block_q8_k *)(const void *)(x + j * xs))[b].qs;
    for (int s = 0; s < 8; s++) {
      _mm_prefetch((const char *)g + PF_DIST + 64 + 128 * s, _MM_HINT_T0);
      _mm_prefetch((const char *)g + PF_DIST + 128 + 128 * s, _MM_HINT_T0);
      __m256i sc = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(g + 32 + 8 * s)));
      sc = _mm256_or_si256(sc, _mm256_slli_epi32(sc, 16)); /* scale in both int16 halves */
      __m256i is[4];
      for (int j = 0; j < NX; j++)
        is[j] = _mm256_setzero_si256();
#pragma GCC unroll 2
      for (int k = 0; k < 4; k++) {
        const __m256i w = _mm256_loadu_si256((const __m256i *)(g + 160 + 128 * s + 32 * k));
        const __m256i lo = _mm256_and_si256(w, m4);
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(w, 4), m4);
        for (int j = 0; j < NX; j++) {
          int32_t al, ah;
          memcpy(&al, aq[j] + 32 * s + 4 * k, 4);
          memcpy(&ah, aq[j] + 32 * s + 16 + 4 * k, 4);
          is[j] = _mm256_add_epi16(
              is[j], _mm256_add_epi16(_mm256_maddubs_epi16(lo, _mm256_set1_epi32(al)),
                                      _mm256_maddubs_epi16(hi, _mm256_set1_epi32(ah))));
        }
      }
      for (int j = 0; j < NX; j++)
        isum[j] = _mm256_add_epi32(isum[j], _mm256_madd_epi16(is[j], sc));
    }
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g));
    const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(g + 16)));
    for (int j = 0; j < NX; j++) {
      const eco_block_q8_k *a = (const eco_block_q8_k *)(const void *)(x + j * xs) + b;
      __m256i msum = _mm256_setzero_si256();
      for (int p = 0; p < 4; p++) {
        const int32_t b0 = a->bsums[4 * p] + a->bsums[4 * p + 1];
        const int32_t b1 = a->bsums[4 * p + 2] + a->bsums[4 * p + 3];
        const __m256i mn =
            _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(g + 96 + 16 * p)));
        const __m256i bb =
            _mm256_set1_epi32((int32_t)((uint32_t)(uint16_t)b0 | ((uint32_t)(uint16_t)b1 << 16)));
        msum = _mm256_add_epi32(msum, _mm256_madd_epi16(mn, bb));
      }
      const __m256 da = _mm256_set1_ps(a->d);
      acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[j]), _mm256_mul_ps(d, da), acc[j]);
      acc[j] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_mul_ps(dmin, da), acc[j]);
    }
  }
  for (int j = 0; j < NX; j++)
    _mm256_storeu_ps(out + os * (size_t)j, acc[j]);
}

/* Q6_K: 6-bit quants rebuilt from the low nibbles and the pre-arranged
 * high bits (pack.h), unsigned (0..63); int16 sums of two chunks (at most
 * 32004) are scaled per 16-element sub-block with madd; the -32 offset is
 * 32 * sum(scale * sub-block sum of the activation), from Q8_K's bsums. */
INLINE __m256i q6_hi2(__m256i qh, const int k) {
  const __m256i m = _mm256_set1_epi8(0x30); /* bits 2k..2k+1 -> bits 4..5 */
  switch (k) {
  case 0: return _mm256_and_si256(_mm256_slli_epi16(qh, 4), m);
  case 1: return _mm256_and_si256(_mm256_slli_epi16(qh, 2), m);
  case 2: return _mm256_and_si256(qh, m);
  default: return _mm256_and_si256(_mm256_srli_epi16(qh, 2), m);
  }
}

INLINE void q6_k_x8_nx(int n, const uint8_t *g, const uint8_t *x, size_t xs, const int NX,
                       float *out, size_t os) {
  const int nb = n / 256;
  const __m256i m4 = _mm256_set1_epi8(0xF);
  __m256 acc[2];
  for (int j = 0; j < NX; j++)
    acc[j] = _mm256_setzero_ps();
  for (int b = 0; b < nb; b++, g += 1680) {
    _mm_prefetch((const char *)g + PF_DIST, _MM_HINT_T0);
    const int8_t *aq[2];
    __m256i isum[2];
    for (int j = 0; j < NX; j++) {
      aq[j] = ((const eco_block_q8_k *)(const void *)(x + j * xs))[b].qs;
      isum[j] = _mm256_setzero_si256();
    }
    for (int u = 0; u < 8; u++) {
      const uint8_t *base = g + 144 + 192 * u;
      _mm_prefetch((const char *)base + PF_DIST, _MM_HINT_T0);
      _mm_prefetch((const char *)base + PF_DIST + 64, _MM_HINT_T0);
      _mm_prefetch((const char *)base + PF_DIST + 128, _MM_HINT_T0);
      const __m256i qa = _mm256_loadu_si256((const __m256i *)(base + 128));
      const __m256i qb = _mm256_loadu_si256((const __m256i *)(base + 160));
      const __m256i scp = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(g + 16 + 16 * u)));
      const __m256i sc_lo = _mm256_shufflehi_epi16(_mm256_shufflelo_epi16(scp, 0xA0), 0xA0);
      const __m256i sc_hi = _mm256_shufflehi_epi16(_mm256_shufflelo_epi16(scp, 0xF5), 0xF5);
      __m256i lo16[2], hi16[2];
      for (int k = 0; k < 4; k++) {
        const __m256i w = _mm256_loadu_si256((const __m256i *)(base + 32 * k));
        const __m256i lo = _mm256_or_si256(_mm256_and_si256(w, m4), q6_hi2(qa, k));
        const __m256i hi =
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(w, 4), m4), q6_hi2(qb, k));
        for (int j = 0; j < NX; j++) {
          int32_t al, ah;
          memcpy(&al, aq[j] + 32 * u + 4 * k, 4);
          memcpy(&ah, aq[j] + 32 * u + 16 + 4 * k, 4);
          const __m256i pl = _mm256_maddubs_epi16(lo, _mm256_set1_epi32(al));
          const __m256i ph = _mm256_maddubs_epi16(hi, _mm256_set1_epi32(ah));
          lo16[j] = k % 2 ? _mm256_add_epi16(lo16[j], pl) : pl;
          hi16[j] = k % 2 ? _mm256_add_epi16(hi16[j], ph) : ph;
          if (k % 2)
            isum[j] =
                _mm256_add_epi32(isum[j], _mm256_add_epi32(_mm256_madd_epi16(lo16[j], sc_lo),
                                                           _mm256_madd_epi16(hi16[j], sc_hi)));
        }
      }
    }
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g));
    for (int j = 0; j < NX; j++) {
      const eco_block_q8_k *a = (const eco_block_q8_k *)(const void *)(x + j * xs) + b;
      __m256i msum = _mm256_setzero_si256();
      for (int p = 0; p < 8; p++) {
        const __m256i scp =
            _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(g + 16 + 16 * p)));
        const __m256i bb =
            _mm256_set1_epi32((int32_t)((uint32_t)(uint16_t)a->bsums[2 * p] |
                                        ((uint32_t)(uint16_t)a->bsums[2 * p + 1] << 16)));
        msum = _mm256_add_epi32(msum, _mm256_madd_epi16(scp, bb));
      }
      const __m256i i32 = _mm256_sub_epi32(isum[j], _mm256_slli_epi32(msum, 5));
      acc[j] =
          _mm256_fmadd_ps(_mm256_cvtepi32_ps(i32), _mm256_mul_ps(d, _mm256_set1_ps(a->d)), acc[j]);
    }
  }
  for (int j = 0; j < NX; j++)
    _mm256_storeu_ps(out + os * (size_t)j, acc[j]);
}

/* Two activation rows at a time (register pressure), then the rest. */
static void pdot_q6_k(int n, const void *g, const void *x, size_t xs, int nx, float *out,
                      size_t os) {
  const uint8_t *xb = x;
  int j = 0;
  for (; j + 2 <= nx; j += 2)
    q6_k_x8_nx(n, g, xb + j * xs, xs, 2, out + os * (size_t)j, os);
  if (j < nx) q6_k_x8_nx(n, g, xb + j * xs, xs, 1, out + os * (size_t)j, os);
}

#define PBATCH(name, kernel)                                                                       \
  static void name(int n, const void *g, const void *x, size_t xs, int nx, float *out,             \
                   size_t os) {                                                                    \
    const uint8_t *xb = x;                                                                         \
    int j = 0;                                                                                     \
    for (; j + 4 <= nx; j += 4)                                                                    \
      kernel(n, g, xb + j * xs, xs, 4, out + os * (size_t)j, os);                                  \
    switch (nx - j) {                                                                              \
    case 3: kernel(n, g, xb + j * xs, xs, 3, out + os * (size_t)j, os); break;                     \
    case 2: kernel(n, g, xb + j * xs, xs, 2, out + os * (size_t)j, os); break;                     \
    case 1: kernel(n, g, xb + j * xs, xs, 1, out + os * (size_t)j, os); break;                     \
    default: break;                                                                                \
    }                                                                                              \
  }
PBATCH(pdot_q8_0, q8_0_x8_nx)
PBATCH(pdot_q4_0, q4_0_x8_nx)
PBATCH(pdot_q4_k, q4_k_x8_nx)

void eco_kernels_init_x8_main_avx2(eco_kernels *k) {
  k->pdot[ECO_GGML_Q8_0] = pdot_q8_0;
  k->pdot[ECO_GGML_Q4_0] = pdot_q4_0;
  k->pdot[ECO_GGML_Q4_K] = pdot_q4_k;
  k->pdot[ECO_GGML_Q6_K] = pdot_q6_k;
}
