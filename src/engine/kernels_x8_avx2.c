/* ecoinfer: AVX2 kernels of the packed (8-row interleaved) layouts of Q5_0,
 * Q5_1, IQ4_NL, Q2_K, Q3_K, Q5_K and IQ4_XS (pack.h). As in the Q8_0/Q4_0/
 * Q4_K/Q6_K kernels of kernels_x8_main_avx2.c, lane r of every vector
 * belongs to row r of the group; a 32-byte chunk holds 4 consecutive quants
 * of each row, and the matching 4 activation bytes are broadcast to every
 * lane.
 *
 * Unsigned quants (Q5_*, Q2_K, Q3_K, Q5_K) go straight into maddubs; their
 * offsets (-16, -4) come from the activation block sums. IQ4 quants are
 * looked up (pshufb) into signed values and multiplied with the sign trick.
 * int16 partial sums are widened before they can overflow: two chunks of
 * 5-bit quants (2 x 2 x 2 x 31 x 127 = 31496), four chunks of 2- and 3-bit
 * ones (at most 7112), every chunk of IQ4 ones (2 x 127 x 127 = 32258). */
#include "engine/kernels.h"
#include "engine/pack.h"

#include "engine/kernels_x8_x86.h"

/* the int8 value of lane r in both int16 halves of lane r */
INLINE __m256i dup16(__m256i v32) {
  return _mm256_or_si256(_mm256_and_si256(v32, _mm256_set1_epi32(0xFFFF)),
                         _mm256_slli_epi32(v32, 16));
}

/* a pair of int16 values (a, b) in every 32-bit lane */
INLINE __m256i pair16(int a, int b) {
  return _mm256_set1_epi32((int32_t)((uint32_t)(uint16_t)a | ((uint32_t)(uint16_t)b << 16)));
}

/* --- Q5_0 x Q8_0 split, Q5_1 x Q8_1 ---------------------------------------------------------
 * One block: is[j] = per-row sum of q * a (q unsigned 0..31). */
INLINE void q5_block(const uint8_t *qs, __m256i h, const int8_t *const *aq, const int NX,
                     __m256i *is) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i t[4];
  for (int j = 0; j < NX; j++)
    is[j] = _mm256_setzero_si256();
#define Q5_CHUNK(k)                                                                                \
  do {                                                                                             \
    const __m256i w = _mm256_loadu_si256((const __m256i *)(qs + 32 * (k)));                        \
    const __m256i lo = q5_lo(w, h, k), hi = q5_hi(w, h, k);                                        \
    for (int j = 0; j < NX; j++) {                                                                 \
      const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(lo, bcast4(aq[j] + 4 * (k))),        \
                                         _mm256_maddubs_epi16(hi, bcast4(aq[j] + 16 + 4 * (k))));  \
      t[j] = (k) % 2 ? _mm256_add_epi16(t[j], p) : p;                                              \
      if ((k) % 2) is[j] = _mm256_add_epi32(is[j], _mm256_madd_epi16(t[j], ones));                 \
    }                                                                                              \
  } while (0)
  Q5_CHUNK(0);
  Q5_CHUNK(1);
  Q5_CHUNK(2);
  Q5_CHUNK(3);
#undef Q5_CHUNK
}

INLINE void q5_0_x8_nx(int n, const uint8_t *g, const uint8_t *x, size_t xs, const int NX,
                       float *out, size_t os) {
  const int nb = n / 32;
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
  for (int b = 0; b < nb; b++, g += 176) {
    prefetch3(g);
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g));
    const __m256i h = _mm256_loadu_si256((const __m256i *)(g + 144));
    const int8_t *ab[4];
    for (int j = 0; j < NX; j++)
      ab[j] = aq[j] + 32 * b;
    __m256i is[4];
    q5_block(g + 16, h, ab, NX, is);
    for (int j = 0; j < NX; j++) {
      const __m256i i32 = _mm256_sub_epi32(is[j], _mm256_set1_epi32(16 * as[j][b]));
      acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i32), _mm256_mul_ps(dw, _mm256_set1_ps(ad[j][b])),
                               acc[j]);
    }
  }
  for (int j = 0; j < NX; j++)
    _mm256_storeu_ps(out + os * (size_t)j, acc[j]);
}

/* Q5_1: x = d*q + m against Q8_1 blocks: sum of (d_w d_a) * sum(q a) + m_w * s_a */
INLINE void q5_1_x8_nx(int n, const uint8_t *g, const uint8_t *x, size_t xs, const int NX,
                       float *out, size_t os) {
  const int nb = n / 32;
  __m256 acc[4];
  const eco_block_q8_1 *a[4];
  for (int j = 0; j < NX; j++) {
    acc[j] = _mm256_setzero_ps();
    a[j] = (const eco_block_q8_1 *)(const void *)(x + j * xs);
  }
  for (int b = 0; b < nb; b++, g += 192) {
    prefetch3(g);
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g));
    const __m256 mw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(g + 16)));
    const __m256i h = _mm256_loadu_si256((const __m256i *)(g + 160));
    const int8_t *ab[4];
    for (int j = 0; j < NX; j++)
      ab[j] = a[j][b].qs;
    __m256i is[4];
    q5_block(g + 32, h, ab, NX, is);
    for (int j = 0; j < NX; j++) {
      const float da = _cvtsh_ss(a[j][b].d), sa = _cvtsh_ss(a[j][b].s);
      acc[j] =
          _mm256_fmadd_ps(_mm256_cvtepi32_ps(is[j]), _mm256_mul_ps(dw, _mm256_set1_ps(da)), acc[j]);
      acc[j] = _mm256_fmadd_ps(mw, _mm256_set1_ps(sa), acc[j]);
    }
  }
  for (int j = 0; j < NX; j++)
    _mm256_storeu_ps(out + os * (size_t)j, acc[j]);
}

/* --- IQ4_NL x Q8_0 split, IQ4_XS x Q8_K --------------------------------------------------------
 * The 16 values in both 128-bit halves, for pshufb. */
INLINE __m256i iq4_table(void) {
  return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)eco_iq4nl_values));
}

/* Per-row int16 pairs of one IQ4 chunk (lo, hi) times the activations:
 * *pl, *ph (each at most 2 x 127 x 127 = 32258, so never added in int16). */
INLINE void iq4_chunk(__m256i vl, __m256i vh, const int8_t *a, __m256i *pl, __m256i *ph) {
  *pl = _mm256_maddubs_epi16(_mm256_abs_epi8(vl), _mm256_sign_epi8(bcast4(a), vl));
  *ph = _mm256_maddubs_epi16(_mm256_abs_epi8(vh), _mm256_sign_epi8(bcast4(a + 16), vh));
}

INLINE void iq4_nl_x8_nx(int n, const uint8_t *g, const uint8_t *x, size_t xs, const int NX,
                         float *out, size_t os) {
  const int nb = n / 32;
  const __m256i ones = _mm256_set1_epi16(1), m4 = _mm256_set1_epi8(0xF), tab = iq4_table();
  __m256 acc[4];
  const float *ad[4];
  const int8_t *aq[4];
  for (int j = 0; j < NX; j++) {
    acc[j] = _mm256_setzero_ps();
    ad[j] = eco_pack_act_d(x + j * xs);
    aq[j] = eco_pack_act_qs(x + j * xs, n);
  }
  for (int b = 0; b < nb; b++, g += 144) {
    prefetch3(g);
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g));
    __m256i is[4];
    for (int j = 0; j < NX; j++)
      is[j] = _mm256_setzero_si256();
#pragma GCC unroll 2
    for (int k = 0; k < 4; k++) {
      const __m256i w = _mm256_loadu_si256((const __m256i *)(g + 16 + 32 * k));
      const __m256i vl = _mm256_shuffle_epi8(tab, _mm256_and_si256(w, m4));
      const __m256i vh = _mm256_shuffle_epi8(tab, _mm256_and_si256(_mm256_srli_epi16(w, 4), m4));
      for (int j = 0; j < NX; j++) {
        __m256i pl, ph;
        iq4_chunk(vl, vh, aq[j] + 32 * b + 4 * k, &pl, &ph);
        is[j] = _mm256_add_epi32(
            is[j], _mm256_add_epi32(_mm256_madd_epi16(pl, ones), _mm256_madd_epi16(ph, ones)));
      }
    }
    for (int j = 0; j < NX; j++)
      acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is[j]),
                               _mm256_mul_ps(dw, _mm256_set1_ps(ad[j][b])), acc[j]);
  }
  for (int j = 0; j < NX; j++)
    _mm256_storeu_ps(out + os * (size_t)j, acc[j]);
}

INLINE void iq4_xs_x8_nx(int n, const uint8_t *g, const uint8_t *x, size_t xs, const int NX,
                         float *out, size_t os) {
  const int nb = n / 256;
  const __m256i m4 = _mm256_set1_epi8(0xF), tab = iq4_table();
  __m256 acc[4];
  for (int j = 0; j < NX; j++)
    acc[j] = _mm256_setzero_ps();
  for (int b = 0; b < nb; b++, g += 1104) {
    const eco_block_q8_k *a[4];
    __m256i isum[4];
    for (int j = 0; j < NX; j++) {
      a[j] = (const eco_block_q8_k *)(const void *)(x + j * xs) + b;
      isum[j] = _mm256_setzero_si256();
    }
    for (int s = 0; s < 8; s++) {
      const uint8_t *q = g + 80 + 128 * s;
      prefetch3(q);
      const __m256i sc =
          dup16(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(g + 16 + 8 * s))));
#pragma GCC unroll 2
      for (int k = 0; k < 4; k++) {
        const __m256i w = _mm256_loadu_si256((const __m256i *)(q + 32 * k));
        const __m256i vl = _mm256_shuffle_epi8(tab, _mm256_and_si256(w, m4));
        const __m256i vh = _mm256_shuffle_epi8(tab, _mm256_and_si256(_mm256_srli_epi16(w, 4), m4));
        for (int j = 0; j < NX; j++) {
          __m256i pl, ph;
          iq4_chunk(vl, vh, a[j]->qs + 32 * s + 4 * k, &pl, &ph);
          isum[j] = _mm256_add_epi32(
              isum[j], _mm256_add_epi32(_mm256_madd_epi16(pl, sc), _mm256_madd_epi16(ph, sc)));
        }
      }
    }
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g));
    for (int j = 0; j < NX; j++)
      acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[j]),
                               _mm256_mul_ps(d, _mm256_set1_ps(a[j]->d)), acc[j]);
  }
  for (int j = 0; j < NX; j++)
    _mm256_storeu_ps(out + os * (size_t)j, acc[j]);
}

/* --- Q2_K, Q3_K x Q8_K ----------------------------------------------------------------------
 * A 32-element unit u: 16-element sub-blocks 2u (low elements) and 2u+1 (high).
 * The per-row int16 sums over the 4 chunks, lo16 and hi16, are scaled with
 * one madd each by the sub-blocks' scales, given per row as a pair of int16
 * (s_2u, s_2u+1) in sc16: sc_lo / sc_hi repeat one of the two. */
INLINE __m256i rep_lo(__m256i sc16) {
  return _mm256_shufflehi_epi16(_mm256_shufflelo_epi16(sc16, 0xA0), 0xA0);
}
INLINE __m256i rep_hi(__m256i sc16) {
  return _mm256_shufflehi_epi16(_mm256_shufflelo_epi16(sc16, 0xF5), 0xF5);
}

/* One unit of 2-bit (Q3 = 1: plus a high bit at bit 2) quants: lo16/hi16 per
 * activation row. */
INLINE void q23_unit(const uint8_t *p, const int Q3, const int8_t *const *aq, const int NX,
                     __m256i *lo16, __m256i *hi16) {
  const __m256i m3 = _mm256_set1_epi8(3);
  const __m256i A = _mm256_loadu_si256((const __m256i *)p);
  const __m256i B = _mm256_loadu_si256((const __m256i *)(p + 32));
  const __m256i H = Q3 ? _mm256_loadu_si256((const __m256i *)(p + 64)) : _mm256_setzero_si256();
#define Q23_CHUNK(k)                                                                               \
  do {                                                                                             \
    __m256i lo = _mm256_and_si256(_mm256_srli_epi16(A, 2 * (k)), m3);                              \
    __m256i hi = _mm256_and_si256(_mm256_srli_epi16(B, 2 * (k)), m3);                              \
    if (Q3) {                                                                                      \
      lo = _mm256_or_si256(lo, bit_at(H, k, 2));                                                   \
      hi = _mm256_or_si256(hi, bit_at(H, 4 + (k), 2));                                             \
    }                                                                                              \
    for (int j = 0; j < NX; j++) {                                                                 \
      const __m256i pl = _mm256_maddubs_epi16(lo, bcast4(aq[j] + 4 * (k)));                        \
      const __m256i ph = _mm256_maddubs_epi16(hi, bcast4(aq[j] + 16 + 4 * (k)));                   \
      lo16[j] = (k) ? _mm256_add_epi16(lo16[j], pl) : pl;                                          \
      hi16[j] = (k) ? _mm256_add_epi16(hi16[j], ph) : ph;                                          \
    }                                                                                              \
  } while (0)
  Q23_CHUNK(0);
  Q23_CHUNK(1);
  Q23_CHUNK(2);
  Q23_CHUNK(3);
#undef Q23_CHUNK
}

/* Q2_K (Q3 = 0): scale and min nibbles per sub-block, the mins against
 * Q8_K's per-16 sums. Q3_K (Q3 = 1): signed scales, quants q = 0..7 of
 * value q - 4, the offset 4 * sum(scale * bsum). */
INLINE void q23_x8_nx(int n, const uint8_t *g, const uint8_t *x, size_t xs, const int NX,
                      float *out, size_t os, const int Q3) {
  const size_t sb = Q3 ? 912 : 672, units = Q3 ? 144 : 160, ub = Q3 ? 96 : 64, sco = Q3 ? 16 : 32;
  __m256 acc[4];
  for (int j = 0; j < NX; j++)
    acc[j] = _mm256_setzero_ps();
  for (int b = 0; b < n / 256; b++, g += sb) {
    const eco_block_q8_k *a[4];
    const int8_t *aq[4];
    __m256i isum[4], msum[4];
    for (int j = 0; j < NX; j++) {
      a[j] = (const eco_block_q8_k *)(const void *)(x + j * xs) + b;
      isum[j] = msum[j] = _mm256_setzero_si256();
    }
    for (int u = 0; u < 8; u++) {
      const uint8_t *p = g + units + ub * u;
      _mm_prefetch((const char *)p + PF_DIST, _MM_HINT_T0);
      if (Q3) _mm_prefetch((const char *)p + PF_DIST + 64, _MM_HINT_T0);
      const __m128i raw = _mm_loadu_si128((const __m128i *)(g + sco + 16 * u));
      const __m256i sm = Q3 ? _mm256_cvtepi8_epi16(raw) : _mm256_cvtepu8_epi16(raw);
      const __m256i sc = Q3 ? sm : _mm256_and_si256(sm, _mm256_set1_epi16(0xF));
      const __m256i mn = Q3 ? sm : _mm256_srli_epi16(sm, 4); /* Q3_K: for the offset */
      for (int j = 0; j < NX; j++)
        aq[j] = a[j]->qs + 32 * u;
      __m256i lo16[4], hi16[4];
      q23_unit(p, Q3, aq, NX, lo16, hi16);
      const __m256i sc_lo = rep_lo(sc), sc_hi = rep_hi(sc);
      for (int j = 0; j < NX; j++) {
        isum[j] = _mm256_add_epi32(isum[j], _mm256_add_epi32(_mm256_madd_epi16(lo16[j], sc_lo),
                                                             _mm256_madd_epi16(hi16[j], sc_hi)));
        msum[j] = _mm256_add_epi32(
            msum[j], _mm256_madd_epi16(mn, pair16(a[j]->bsums[2 * u], a[j]->bsums[2 * u + 1])));
      }
    }
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g));
    for (int j = 0; j < NX; j++) {
      const __m256 da = _mm256_set1_ps(a[j]->d);
      if (Q3) {
        const __m256i i32 = _mm256_sub_epi32(isum[j], _mm256_slli_epi32(msum[j], 2));
        acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i32), _mm256_mul_ps(d, da), acc[j]);
      } else {
        const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(g + 16)));
        acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[j]), _mm256_mul_ps(d, da), acc[j]);
        acc[j] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum[j]), _mm256_mul_ps(dmin, da), acc[j]);
      }
    }
  }
  for (int j = 0; j < NX; j++)
    _mm256_storeu_ps(out + os * (size_t)j, acc[j]);
}

INLINE void q2_k_x8_nx(int n, const uint8_t *g, const uint8_t *x, size_t xs, const int NX,
                       float *out, size_t os) {
  q23_x8_nx(n, g, x, xs, NX, out, os, 0);
}
INLINE void q3_k_x8_nx(int n, const uint8_t *g, const uint8_t *x, size_t xs, const int NX,
                       float *out, size_t os) {
  q23_x8_nx(n, g, x, xs, NX, out, os, 1);
}

/* --- Q5_K x Q8_K: Q4_K's scheme with a 5th bit, scales applied per two chunks ---------------- */
INLINE void q5_k_x8_nx(int n, const uint8_t *g, const uint8_t *x, size_t xs, const int NX,
                       float *out, size_t os) {
  const int nb = n / 256;
  __m256 acc[4];
  for (int j = 0; j < NX; j++)
    acc[j] = _mm256_setzero_ps();
  for (int b = 0; b < nb; b++, g += 1440) {
    const eco_block_q8_k *a[4];
    __m256i isum[4];
    for (int j = 0; j < NX; j++) {
      a[j] = (const eco_block_q8_k *)(const void *)(x + j * xs) + b;
      isum[j] = _mm256_setzero_si256();
    }
    for (int s = 0; s < 8; s++) {
      const uint8_t *q = g + 160 + 160 * s;
      prefetch3(q);
      __m256i sc = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(g + 32 + 8 * s)));
      sc = _mm256_or_si256(sc, _mm256_slli_epi32(sc, 16)); /* scale in both int16 halves */
      const __m256i h = _mm256_loadu_si256((const __m256i *)(q + 128));
      __m256i t[4];
#define Q5K_CHUNK(k)                                                                               \
  do {                                                                                             \
    const __m256i w = _mm256_loadu_si256((const __m256i *)(q + 32 * (k)));                         \
    const __m256i lo = q5_lo(w, h, k), hi = q5_hi(w, h, k);                                        \
    for (int j = 0; j < NX; j++) {                                                                 \
      const int8_t *aj = a[j]->qs + 32 * s + 4 * (k);                                              \
      const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(lo, bcast4(aj)),                     \
                                         _mm256_maddubs_epi16(hi, bcast4(aj + 16)));               \
      t[j] = (k) % 2 ? _mm256_add_epi16(t[j], p) : p;                                              \
      if ((k) % 2) isum[j] = _mm256_add_epi32(isum[j], _mm256_madd_epi16(t[j], sc));               \
    }                                                                                              \
  } while (0)
      Q5K_CHUNK(0);
      Q5K_CHUNK(1);
      Q5K_CHUNK(2);
      Q5K_CHUNK(3);
#undef Q5K_CHUNK
    }
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g));
    const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(g + 16)));
    for (int j = 0; j < NX; j++) {
      __m256i msum = _mm256_setzero_si256();
      for (int p = 0; p < 4; p++) {
        const __m256i mn =
            _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(g + 96 + 16 * p)));
        const int b0 = a[j]->bsums[4 * p] + a[j]->bsums[4 * p + 1];
        const int b1 = a[j]->bsums[4 * p + 2] + a[j]->bsums[4 * p + 3];
        msum = _mm256_add_epi32(msum, _mm256_madd_epi16(mn, pair16(b0, b1)));
      }
      const __m256 da = _mm256_set1_ps(a[j]->d);
      acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[j]), _mm256_mul_ps(d, da), acc[j]);
      acc[j] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_mul_ps(dmin, da), acc[j]);
    }
  }
  for (int j = 0; j < NX; j++)
    _mm256_storeu_ps(out + os * (size_t)j, acc[j]);
}

/* Batch wrappers: groups of NMAX activation rows, then the rest. */
#define PBATCH(name, kernel, NMAX)                                                                 \
  static void name(int n, const void *g, const void *x, size_t xs, int nx, float *out,             \
                   size_t os) {                                                                    \
    const uint8_t *xb = x;                                                                         \
    int j = 0;                                                                                     \
    for (; j + (NMAX) <= nx; j += (NMAX))                                                          \
      kernel(n, g, xb + j * xs, xs, (NMAX), out + os * (size_t)j, os);                             \
    switch (nx - j) {                                                                              \
    case 3: kernel(n, g, xb + j * xs, xs, 3, out + os * (size_t)j, os); break;                     \
    case 2: kernel(n, g, xb + j * xs, xs, 2, out + os * (size_t)j, os); break;                     \
    case 1: kernel(n, g, xb + j * xs, xs, 1, out + os * (size_t)j, os); break;                     \
    default: break;                                                                                \
    }                                                                                              \
  }
PBATCH(pdot_q5_0, q5_0_x8_nx, 4)
PBATCH(pdot_q5_1, q5_1_x8_nx, 4)
PBATCH(pdot_iq4_nl, iq4_nl_x8_nx, 4)
PBATCH(pdot_q2_k, q2_k_x8_nx, 4)
PBATCH(pdot_q3_k, q3_k_x8_nx, 4)
PBATCH(pdot_q5_k, q5_k_x8_nx, 4)
PBATCH(pdot_iq4_xs, iq4_xs_x8_nx, 4)

/* --- Q8_K activations, bit-identical to quant.c's quantize_q8_k ---------------------------
 * Per 256: the first element of largest magnitude (max, with its sign),
 * iscale = -127/max, q = min(127, round-nearest-even(iscale * x)), the sums
 * of each 16 quants, d = 1/iscale; an all-zero block stays zero. */
static void quant_q8k(const float *x, void *dst, int n) {
  eco_block_q8_k *y = dst;
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int b = 0; b < n / 256; b++, x += 256) {
    __m256 am = _mm256_setzero_ps();
    for (int i = 0; i < 256; i += 8)
      am = _mm256_max_ps(am, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(am), _mm256_extractf128_ps(am, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    const float amax = _mm_cvtss_f32(m);
    if (amax == 0) {
      memset(&y[b], 0, sizeof y[b]);
      continue;
    }
    float max = 0;
    for (int i = 0; i < 256; i++) /* the first element of that magnitude */
      if (x[i] == amax || x[i] == -amax) {
        max = x[i];
        break;
      }
    const float iscale = -127.f / max;
    const __m256 vs = _mm256_set1_ps(iscale);
    const __m256i lim = _mm256_set1_epi32(127);
    for (int i = 0; i < 256; i += 32) {
      __m256i q[4];
      for (int k = 0; k < 4; k++)
        q[k] = _mm256_min_epi32(
            _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(vs, _mm256_loadu_ps(x + i + 8 * k)),
                                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)),
            lim);
      __m256i p =
          _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
      p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
      _mm256_storeu_si256((__m256i *)(y[b].qs + i), p);
      /* the two 16-element sums, one per 128-bit half */
      __m256i s4 =
          _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), p), _mm256_set1_epi16(1));
      s4 = _mm256_hadd_epi32(s4, s4);
      s4 = _mm256_hadd_epi32(s4, s4);
      y[b].bsums[i / 16] = (int16_t)_mm256_extract_epi32(s4, 0);
      y[b].bsums[i / 16 + 1] = (int16_t)_mm256_extract_epi32(s4, 4);
    }
    y[b].d = 1 / iscale;
  }
}

void eco_kernels_init_x8_avx2(eco_kernels *k) {
  k->quant_q8k = quant_q8k;
  k->pdot[ECO_GGML_Q5_0] = pdot_q5_0;
  k->pdot[ECO_GGML_Q5_1] = pdot_q5_1;
  k->pdot[ECO_GGML_IQ4_NL] = pdot_iq4_nl;
  k->pdot[ECO_GGML_Q2_K] = pdot_q2_k;
  k->pdot[ECO_GGML_Q3_K] = pdot_q3_k;
  k->pdot[ECO_GGML_Q5_K] = pdot_q5_k;
  k->pdot[ECO_GGML_IQ4_XS] = pdot_iq4_xs;
}
