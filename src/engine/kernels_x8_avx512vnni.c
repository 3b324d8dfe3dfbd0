/* ecoinfer: AVX-512 VNNI kernels (256-bit vectors, AVX512VL + VNNI) of the
 * packed Q5_0, Q5_1, IQ4_NL, Q2_K, Q3_K, Q5_K and IQ4_XS layouts (pack.h).
 * The same data flow as kernels_x8_avx2.c, with two differences that the
 * wider ISA allows:
 *   - vpdpbusd multiplies unsigned quants by signed activation bytes and adds
 *     the 4 products into the int32 lane in one instruction (no int16 sums,
 *     so no widening steps);
 *   - 32 vector registers hold the sums of up to 8 activation rows, so each
 *     chunk of weights is decoded once for 8 rows instead of 4.
 * IQ4 values (-127..113) are looked up as value + 128 (unsigned) and the
 * 128 * sum(a) this adds is taken off with the activation block sums.
 * Registered at the avx512vnni level only; the avx512 level without VNNI
 * keeps the AVX2 kernels for these types. */
#include "engine/kernels.h"
#include "engine/pack.h"

#include "engine/kernels_x8_x86.h"

#define NXMAX 8 /* activation rows per pass */

INLINE __m256i dp(__m256i acc, __m256i u, const int8_t *a) {
  return _mm256_dpbusd_epi32(acc, u, bcast4(a));
}

/* One 32-element piece of 5-bit quants (NIB at qs, BIT at h): is[j] += per-row sum of q * a_j. */
INLINE void q5_piece(const uint8_t *qs, __m256i h, const int8_t *const *a, const int NX,
                     __m256i *is) {
#define Q5_CHUNK(k)                                                                                \
  do {                                                                                             \
    const __m256i w = _mm256_loadu_si256((const __m256i *)(qs + 32 * (k)));                        \
    const __m256i lo = q5_lo(w, h, k), hi = q5_hi(w, h, k);                                        \
    for (int j = 0; j < NX; j++)                                                                   \
      is[j] = dp(dp(is[j], lo, a[j] + 4 * (k)), hi, a[j] + 16 + 4 * (k));                          \
  } while (0)
  Q5_CHUNK(0);
  Q5_CHUNK(1);
  Q5_CHUNK(2);
  Q5_CHUNK(3);
#undef Q5_CHUNK
}

/* --- Q5_0 x Q8_0 split, Q5_1 x Q8_1 ---------------------------------------------------------- */
INLINE void q5_0_nx(int n, const uint8_t *g, const uint8_t *x, size_t xs, const int NX, float *out,
                    size_t os) {
  __m256 acc[NXMAX];
  const float *ad[NXMAX];
  const int32_t *as[NXMAX];
  const int8_t *aq[NXMAX];
  for (int j = 0; j < NX; j++) {
    acc[j] = _mm256_setzero_ps();
    ad[j] = eco_pack_act_d(x + j * xs);
    as[j] = eco_pack_act_s(x + j * xs, n);
    aq[j] = eco_pack_act_qs(x + j * xs, n);
  }
  for (int b = 0; b < n / 32; b++, g += 176) {
    prefetch3(g);
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g));
    __m256i is[NXMAX];
    const int8_t *ab[NXMAX];
    for (int j = 0; j < NX; j++) {
      is[j] = _mm256_set1_epi32(-16 * as[j][b]); /* quants are q - 16 */
      ab[j] = aq[j] + 32 * b;
    }
    q5_piece(g + 16, _mm256_loadu_si256((const __m256i *)(g + 144)), ab, NX, is);
    for (int j = 0; j < NX; j++)
      acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is[j]),
                               _mm256_mul_ps(dw, _mm256_set1_ps(ad[j][b])), acc[j]);
  }
  for (int j = 0; j < NX; j++)
    _mm256_storeu_ps(out + os * (size_t)j, acc[j]);
}

INLINE void q5_1_nx(int n, const uint8_t *g, const uint8_t *x, size_t xs, const int NX, float *out,
                    size_t os) {
  __m256 acc[NXMAX];
  const eco_block_q8_1 *a[NXMAX];
  for (int j = 0; j < NX; j++) {
    acc[j] = _mm256_setzero_ps();
    a[j] = (const eco_block_q8_1 *)(const void *)(x + j * xs);
  }
  for (int b = 0; b < n / 32; b++, g += 192) {
    prefetch3(g);
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g));
    const __m256 mw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(g + 16)));
    __m256i is[NXMAX];
    const int8_t *ab[NXMAX];
    for (int j = 0; j < NX; j++) {
      is[j] = _mm256_setzero_si256();
      ab[j] = a[j][b].qs;
    }
    q5_piece(g + 32, _mm256_loadu_si256((const __m256i *)(g + 160)), ab, NX, is);
    for (int j = 0; j < NX; j++) {
      acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is[j]),
                               _mm256_mul_ps(dw, _mm256_set1_ps(_cvtsh_ss(a[j][b].d))), acc[j]);
      acc[j] = _mm256_fmadd_ps(mw, _mm256_set1_ps(_cvtsh_ss(a[j][b].s)), acc[j]);
    }
  }
  for (int j = 0; j < NX; j++)
    _mm256_storeu_ps(out + os * (size_t)j, acc[j]);
}

/* --- IQ4_NL x Q8_0 split, IQ4_XS x Q8_K --------------------------------------------------------
 * Table of value + 128 (1..241), both 128-bit halves. */
INLINE __m256i iq4_table_u(void) {
  const __m128i t = _mm_loadu_si128((const __m128i *)eco_iq4nl_values);
  return _mm256_broadcastsi128_si256(_mm_xor_si128(t, _mm_set1_epi8((char)0x80)));
}

/* is[j] += per-row sum of (value + 128) * a_j over one 32-element piece */
INLINE void iq4_piece(const uint8_t *qs, __m256i tab, const int8_t *const *a, const int NX,
                      __m256i *is) {
  const __m256i m4 = _mm256_set1_epi8(0xF);
#define IQ4_CHUNK(k)                                                                               \
  do {                                                                                             \
    const __m256i w = _mm256_loadu_si256((const __m256i *)(qs + 32 * (k)));                        \
    const __m256i lo = _mm256_shuffle_epi8(tab, _mm256_and_si256(w, m4));                          \
    const __m256i hi = _mm256_shuffle_epi8(tab, _mm256_and_si256(_mm256_srli_epi16(w, 4), m4));    \
    for (int j = 0; j < NX; j++)                                                                   \
      is[j] = dp(dp(is[j], lo, a[j] + 4 * (k)), hi, a[j] + 16 + 4 * (k));                          \
  } while (0)
  IQ4_CHUNK(0);
  IQ4_CHUNK(1);
  IQ4_CHUNK(2);
  IQ4_CHUNK(3);
#undef IQ4_CHUNK
}

INLINE void iq4_nl_nx(int n, const uint8_t *g, const uint8_t *x, size_t xs, const int NX,
                      float *out, size_t os) {
  const __m256i tab = iq4_table_u();
  __m256 acc[NXMAX];
  const float *ad[NXMAX];
  const int32_t *as[NXMAX];
  const int8_t *aq[NXMAX];
  for (int j = 0; j < NX; j++) {
    acc[j] = _mm256_setzero_ps();
    ad[j] = eco_pack_act_d(x + j * xs);
    as[j] = eco_pack_act_s(x + j * xs, n);
    aq[j] = eco_pack_act_qs(x + j * xs, n);
  }
  for (int b = 0; b < n / 32; b++, g += 144) {
    prefetch3(g);
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g));
    __m256i is[NXMAX];
    const int8_t *ab[NXMAX];
    for (int j = 0; j < NX; j++) {
      is[j] = _mm256_set1_epi32(-128 * as[j][b]);
      ab[j] = aq[j] + 32 * b;
    }
    iq4_piece(g + 16, tab, ab, NX, is);
    for (int j = 0; j < NX; j++)
      acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is[j]),
                               _mm256_mul_ps(dw, _mm256_set1_ps(ad[j][b])), acc[j]);
  }
  for (int j = 0; j < NX; j++)
    _mm256_storeu_ps(out + os * (size_t)j, acc[j]);
}

INLINE void iq4_xs_nx(int n, const uint8_t *g, const uint8_t *x, size_t xs, const int NX,
                      float *out, size_t os) {
  const __m256i tab = iq4_table_u();
  __m256 acc[NXMAX];
  for (int j = 0; j < NX; j++)
    acc[j] = _mm256_setzero_ps();
  for (int b = 0; b < n / 256; b++, g += 1104) {
    const eco_block_q8_k *a[NXMAX];
    __m256i isum[NXMAX];
    for (int j = 0; j < NX; j++) {
      a[j] = (const eco_block_q8_k *)(const void *)(x + j * xs) + b;
      isum[j] = _mm256_setzero_si256();
    }
    for (int s = 0; s < 8; s++) {
      const uint8_t *q = g + 80 + 128 * s;
      prefetch3(q);
      const __m256i sc = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(g + 16 + 8 * s)));
      __m256i is[NXMAX];
      const int8_t *ab[NXMAX];
      for (int j = 0; j < NX; j++) {
        is[j] = _mm256_set1_epi32(-128 * (a[j]->bsums[2 * s] + a[j]->bsums[2 * s + 1]));
        ab[j] = a[j]->qs + 32 * s;
      }
      iq4_piece(q, tab, ab, NX, is);
      for (int j = 0; j < NX; j++)
        isum[j] = _mm256_add_epi32(isum[j], _mm256_mullo_epi32(is[j], sc));
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
 * One 32-element unit: lo[j] / hi[j] = per-row sums over sub-blocks 2u / 2u+1. */
INLINE void q23_unit(const uint8_t *p, const int Q3, const int8_t *const *aq, const int NX,
                     __m256i *lo, __m256i *hi) {
  const __m256i m3 = _mm256_set1_epi8(3);
  const __m256i A = _mm256_loadu_si256((const __m256i *)p);
  const __m256i B = _mm256_loadu_si256((const __m256i *)(p + 32));
  const __m256i H = Q3 ? _mm256_loadu_si256((const __m256i *)(p + 64)) : _mm256_setzero_si256();
  for (int j = 0; j < NX; j++)
    lo[j] = hi[j] = _mm256_setzero_si256();
#define Q23_CHUNK(k)                                                                               \
  do {                                                                                             \
    __m256i l = _mm256_and_si256(_mm256_srli_epi16(A, 2 * (k)), m3);                               \
    __m256i h = _mm256_and_si256(_mm256_srli_epi16(B, 2 * (k)), m3);                               \
    if (Q3) {                                                                                      \
      l = _mm256_or_si256(l, bit_at(H, k, 2));                                                     \
      h = _mm256_or_si256(h, bit_at(H, 4 + (k), 2));                                               \
    }                                                                                              \
    for (int j = 0; j < NX; j++) {                                                                 \
      lo[j] = dp(lo[j], l, aq[j] + 4 * (k));                                                       \
      hi[j] = dp(hi[j], h, aq[j] + 16 + 4 * (k));                                                  \
    }                                                                                              \
  } while (0)
  Q23_CHUNK(0);
  Q23_CHUNK(1);
  Q23_CHUNK(2);
  Q23_CHUNK(3);
#undef Q23_CHUNK
}

/* Q2_K (Q3 = 0: scale/min nibbles, mins from bsums) and Q3_K (Q3 = 1:
 * signed scales, -4 offset from bsums), one super-block loop */
INLINE void q23_nx(int n, const uint8_t *g, const uint8_t *x, size_t xs, const int NX, float *out,
                   size_t os, const int Q3) {
  const size_t sb = Q3 ? 912 : 672, units = Q3 ? 144 : 160, ub = Q3 ? 96 : 64, sco = Q3 ? 16 : 32;
  __m256 acc[NXMAX];
  for (int j = 0; j < NX; j++)
    acc[j] = _mm256_setzero_ps();
  for (int b = 0; b < n / 256; b++, g += sb) {
    const eco_block_q8_k *a[NXMAX];
    const int8_t *aq[NXMAX];
    __m256i isum[NXMAX], msum[NXMAX];
    for (int j = 0; j < NX; j++) {
      a[j] = (const eco_block_q8_k *)(const void *)(x + j * xs) + b;
      isum[j] = msum[j] = _mm256_setzero_si256();
    }
    for (int u = 0; u < 8; u++) {
      const uint8_t *p = g + units + ub * u;
      _mm_prefetch((const char *)p + PF_DIST, _MM_HINT_T0);
      _mm_prefetch((const char *)p + PF_DIST + 64, _MM_HINT_T0);
      /* per row: the two sub-blocks' scale (and Q2_K's min) as int32 */
      const __m128i raw = _mm_loadu_si128((const __m128i *)(g + sco + 16 * u));
      const __m256i pr = Q3 ? _mm256_cvtepi8_epi16(raw) : _mm256_cvtepu8_epi16(raw);
      const __m256i s0 = _mm256_srai_epi32(_mm256_slli_epi32(pr, 16), 16); /* sub-block 2u */
      const __m256i s1 = _mm256_srai_epi32(pr, 16);                        /* sub-block 2u+1 */
      const __m256i m15 = _mm256_set1_epi32(15);
      const __m256i sc0 = Q3 ? s0 : _mm256_and_si256(s0, m15);
      const __m256i sc1 = Q3 ? s1 : _mm256_and_si256(s1, m15);
      const __m256i mn0 = Q3 ? s0 : _mm256_srli_epi32(s0, 4),
                    mn1 = Q3 ? s1 : _mm256_srli_epi32(s1, 4);
      for (int j = 0; j < NX; j++)
        aq[j] = a[j]->qs + 32 * u;
      __m256i lo[NXMAX], hi[NXMAX];
      q23_unit(p, Q3, aq, NX, lo, hi);
      for (int j = 0; j < NX; j++) {
        isum[j] = _mm256_add_epi32(isum[j], _mm256_add_epi32(_mm256_mullo_epi32(lo[j], sc0),
                                                             _mm256_mullo_epi32(hi[j], sc1)));
        msum[j] = _mm256_add_epi32(
            msum[j],
            _mm256_add_epi32(_mm256_mullo_epi32(mn0, _mm256_set1_epi32(a[j]->bsums[2 * u])),
                             _mm256_mullo_epi32(mn1, _mm256_set1_epi32(a[j]->bsums[2 * u + 1]))));
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

INLINE void q2_k_nx(int n, const uint8_t *g, const uint8_t *x, size_t xs, const int NX, float *out,
                    size_t os) {
  q23_nx(n, g, x, xs, NX, out, os, 0);
}
INLINE void q3_k_nx(int n, const uint8_t *g, const uint8_t *x, size_t xs, const int NX, float *out,
                    size_t os) {
  q23_nx(n, g, x, xs, NX, out, os, 1);
}

/* --- Q5_K x Q8_K ------------------------------------------------------------------------------ */
INLINE void q5_k_nx(int n, const uint8_t *g, const uint8_t *x, size_t xs, const int NX, float *out,
                    size_t os) {
  __m256 acc[NXMAX];
  for (int j = 0; j < NX; j++)
    acc[j] = _mm256_setzero_ps();
  for (int b = 0; b < n / 256; b++, g += 1440) {
    const eco_block_q8_k *a[NXMAX];
    __m256i isum[NXMAX];
    for (int j = 0; j < NX; j++) {
      a[j] = (const eco_block_q8_k *)(const void *)(x + j * xs) + b;
      isum[j] = _mm256_setzero_si256();
    }
    for (int s = 0; s < 8; s++) {
      const uint8_t *q = g + 160 + 160 * s;
      prefetch3(q);
      const __m256i sc = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(g + 32 + 8 * s)));
      __m256i is[NXMAX];
      const int8_t *ab[NXMAX];
      for (int j = 0; j < NX; j++) {
        is[j] = _mm256_setzero_si256();
        ab[j] = a[j]->qs + 32 * s;
      }
      q5_piece(q, _mm256_loadu_si256((const __m256i *)(q + 128)), ab, NX, is);
      for (int j = 0; j < NX; j++)
        isum[j] = _mm256_add_epi32(isum[j], _mm256_mullo_epi32(is[j], sc));
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
        msum = _mm256_add_epi32(
            msum,
            _mm256_madd_epi16(mn, _mm256_set1_epi32((int32_t)((uint32_t)(uint16_t)b0 |
                                                              ((uint32_t)(uint16_t)b1 << 16)))));
      }
      const __m256 da = _mm256_set1_ps(a[j]->d);
      acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[j]), _mm256_mul_ps(d, da), acc[j]);
      acc[j] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_mul_ps(dmin, da), acc[j]);
    }
  }
  for (int j = 0; j < NX; j++)
    _mm256_storeu_ps(out + os * (size_t)j, acc[j]);
}

/* Batch wrappers: groups of 8 activation rows, then one call for the rest. */
#define PBATCH(name, kernel)                                                                       \
  static void name(int n, const void *g, const void *x, size_t xs, int nx, float *out,             \
                   size_t os) {                                                                    \
    const uint8_t *xb = x;                                                                         \
    int j = 0;                                                                                     \
    for (; j + NXMAX <= nx; j += NXMAX)                                                            \
      kernel(n, g, xb + j * xs, xs, NXMAX, out + os * (size_t)j, os);                              \
    switch (nx - j) {                                                                              \
    case 7: kernel(n, g, xb + j * xs, xs, 7, out + os * (size_t)j, os); break;                     \
    case 6: kernel(n, g, xb + j * xs, xs, 6, out + os * (size_t)j, os); break;                     \
    case 5: kernel(n, g, xb + j * xs, xs, 5, out + os * (size_t)j, os); break;                     \
    case 4: kernel(n, g, xb + j * xs, xs, 4, out + os * (size_t)j, os); break;                     \
    case 3: kernel(n, g, xb + j * xs, xs, 3, out + os * (size_t)j, os); break;                     \
    case 2: kernel(n, g, xb + j * xs, xs, 2, out + os * (size_t)j, os); break;                     \
    case 1: kernel(n, g, xb + j * xs, xs, 1, out + os * (size_t)j, os); break;                     \
    default: break;                                                                                \
    }                                                                                              \
  }
PBATCH(pdot_q5_0, q5_0_nx)
PBATCH(pdot_q5_1, q5_1_nx)
PBATCH(pdot_iq4_nl, iq4_nl_nx)
PBATCH(pdot_q2_k, q2_k_nx)
PBATCH(pdot_q3_k, q3_k_nx)
PBATCH(pdot_q5_k, q5_k_nx)
PBATCH(pdot_iq4_xs, iq4_xs_nx)

void eco_kernels_init_x8_avx512vnni(eco_kernels *k) {
  k->pdot[ECO_GGML_Q5_0] = pdot_q5_0;
  k->pdot[ECO_GGML_Q5_1] = pdot_q5_1;
  k->pdot[ECO_GGML_IQ4_NL] = pdot_iq4_nl;
  k->pdot[ECO_GGML_Q2_K] = pdot_q2_k;
  k->pdot[ECO_GGML_Q3_K] = pdot_q3_k;
  k->pdot[ECO_GGML_Q5_K] = pdot_q5_k;
  k->pdot[ECO_GGML_IQ4_XS] = pdot_iq4_xs;
}
