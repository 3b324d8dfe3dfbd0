/* ecoinfer: AVX-512 F/BW/VL/DQ kernels (level ECO_SIMD_AVX512, for CPUs
 * without VNNI such as Skylake-SP; where VNNI exists,
 * kernels_avx512vnni.c replaces the integer ones). F32 with 512-bit FMA
 * and the packed integer kernels (pack.h) on 512-bit vectors; every other
 * kernel stays AVX2 (eco_kernels_init_avx2 runs first).
 *
 * A 64-byte load of a packed block holds two chunks: chunk k in lanes 0-7
 * and chunk k+1 in lanes 8-15, row r in lanes r and r+8. The activation
 * bytes that match are 4 consecutive quants per half, made from the
 * block's 32 quants with one vpermd; the products use the AVX2 scheme
 * (maddubs of an unsigned operand and a signed one, then madd), and the
 * two halves of a row are added once per block (super-block for the
 * K-quants) or kept as 16 float lanes until the end (Q8_0, Q4_0). */
#include "engine/avx512_util.h"
#include "engine/kernels.h"
#include "engine/pack.h"

#include <immintrin.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))

/* Software prefetch distance of the packed kernels (see kernels_x8_x86.h). */
#ifndef PF_DIST
#define PF_DIST 4096
#endif

static void dot_f32(int n, const void *wv, const void *xv, size_t xs, int nx, float *out) {
  const float *w = wv;
  for (int j = 0; j < nx; j++) {
    const float *a = (const float *)(const void *)((const uint8_t *)xv + j * xs);
    __m512 acc = _mm512_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16)
      acc = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), _mm512_loadu_ps(a + i), acc);
    float s = _mm512_reduce_add_ps(acc);
    for (; i < n; i++)
      s += w[i] * a[i];
    out[j] = s;
  }
}

/* --- packed 8-row groups (pack.h) ---------------------------------------------------- */
/* Q8_0: signed x signed as |w| x (a with w's sign). */
INLINE void q8_0_x8_nx(int n, const uint8_t *g, const uint8_t *x, size_t xs, const int NX,
                       float *out, size_t os) {
  const int nb = n / 32;
  const __m512i ones = _mm512_set1_epi16(1), zero = _mm512_setzero_si512();
  __m512 acc[4];
  const float *ad[4];
  const int8_t *aq[4];
  for (int j = 0; j < NX; j++) {
    acc[j] = _mm512_setzero_ps();
    ad[j] = eco_pack_act_d(x + j * xs);
    aq[j] = eco_pack_act_qs(x + j * xs, n);
  }
  for (int b = 0; b < nb; b++, g += 272) {
    for (int l = 0; l < 272; l += 64)
      _mm_prefetch((const char *)g + PF_DIST + l, _MM_HINT_T0);
    __m512i is[4];
    for (int j = 0; j < NX; j++)
      is[j] = _mm512_setzero_si512();
    for (int p = 0; p < 4; p++) {
      const __m512i w = eco512_load_il(g + 16 + 64 * p);
      const __m512i aw = _mm512_abs_epi8(w);
      const __mmask64 neg = _mm512_movepi8_mask(w);
      for (int j = 0; j < NX; j++) {
        __m512i a = eco512_bcast8(aq[j] + 32 * b + 8 * p);
        a = _mm512_mask_sub_epi8(a, neg, zero, a);
        is[j] = _mm512_add_epi32(is[j], _mm512_madd_epi16(_mm512_maddubs_epi16(aw, a), ones));
      }
    }
    const __m512 dw = eco512_scales16(g);
    for (int j = 0; j < NX; j++)
      acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is[j]),
                               _mm512_mul_ps(dw, _mm512_set1_ps(ad[j][b])), acc[j]);
  }
  for (int j = 0; j < NX; j++)
    _mm256_storeu_ps(out + os * (size_t)j, eco512_fold16(acc[j]));
}

/* Q4_0: unsigned nibbles; int16 sums of a block (4 maddubs, at most 15240)
 * then -8 * sum(a), split as -4 * sum(a) in each of the row's two lanes. */
INLINE void q4_0_x8_nx(int n, const uint8_t *g, const uint8_t *x, size_t xs, const int NX,
                       float *out, size_t os) {
  const int nb = n / 32;
  const __m512i ones = _mm512_set1_epi16(1), m4 = _mm512_set1_epi8(0xF);
  __m512 acc[4];
  const float *ad[4];
  const int32_t *as[4];
  const int8_t *aq[4];
  for (int j = 0; j < NX; j++) {
    acc[j] = _mm512_setzero_ps();
    ad[j] = eco_pack_act_d(x + j * xs);
    as[j] = eco_pack_act_s(x + j * xs, n);
    aq[j] = eco_pack_act_qs(x + j * xs, n);
  }
  for (int b = 0; b < nb; b++, g += 144) {
    for (int l = 0; l < 144; l += 64)
      _mm_prefetch((const char *)g + PF_DIST + l, _MM_HINT_T0);
    __m512i is[4];
    for (int j = 0; j < NX; j++)
      is[j] = _mm512_setzero_si512();
    for (int p = 0; p < 2; p++) {
      const __m512i w = eco512_load_il(g + 16 + 64 * p);
      const __m512i lo = _mm512_and_si512(w, m4);
      const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(w, 4), m4);
      for (int j = 0; j < NX; j++) {
        const int8_t *a = aq[j] + 32 * b + 8 * p;
        is[j] = _mm512_add_epi16(is[j],
                                 _mm512_add_epi16(_mm512_maddubs_epi16(lo, eco512_bcast8(a)),
                                                  _mm512_maddubs_epi16(hi, eco512_bcast8(a + 16))));
      }
    }
    const __m512 dw = eco512_scales16(g);
    for (int j = 0; j < NX; j++) {
      const __m512i i32 =
          _mm512_sub_epi32(_mm512_madd_epi16(is[j], ones), _mm512_set1_epi32(4 * as[j][b]));
      acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i32), _mm512_mul_ps(dw, _mm512_set1_ps(ad[j][b])),
                               acc[j]);
    }
  }
  for (int j = 0; j < NX; j++)
    _mm256_storeu_ps(out + os * (size_t)j, eco512_fold16(acc[j]));
}

/* Q4_K: per 32-element sub-block, int16 sums (4 maddubs, at most 15240)
 * times the sub-block scale with madd; the row's two lanes are folded once
 * per super-block, then the mins as in kernels_x8_main_avx2.c. */
INLINE void q4_k_x8_nx(int n, const uint8_t *g, const uint8_t *x, size_t xs, const int NX,
                       float *out, size_t os) {
  const int nb = n / 256;
  const __m512i m4 = _mm512_set1_epi8(0xF);
  __m256 acc[4];
  for (int j = 0; j < NX; j++)
    acc[j] = _mm256_setzero_ps();
  for (int b = 0; b < nb; b++, g += 1184) {
    _mm_prefetch((const char *)g + PF_DIST, _MM_HINT_T0);
    const int8_t *aq[4];
    __m512i isum[4];
    for (int j = 0; j < NX; j++) {
      aq[j] = ((const eco_block_q8_k *)(const void *)(x + j * xs))[b].qs;
      isum[j] = _mm512_setzero_si512();
    }
    for (int s = 0; s < 8; s++) {
      _mm_prefetch((const char *)g + PF_DIST + 64 + 128 * s, _MM_HINT_T0);
      _mm_prefetch((const char *)g + PF_DIST + 128 + 128 * s, _MM_HINT_T0);
      __m256i sc8 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(g + 32 + 8 * s)));
      sc8 = _mm256_or_si256(sc8, _mm256_slli_epi32(sc8, 16)); /* scale in both int16 halves */
      const __m512i sc = eco512_dup8(sc8);
      __m512i is[4];
      for (int j = 0; j < NX; j++)
        is[j] = _mm512_setzero_si512();
      for (int p = 0; p < 2; p++) {
        const __m512i w = eco512_load_il(g + 160 + 128 * s + 64 * p);
        const __m512i lo = _mm512_and_si512(w, m4);
        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(w, 4), m4);
        for (int j = 0; j < NX; j++) {
          const int8_t *a = aq[j] + 32 * s + 8 * p;
          is[j] = _mm512_add_epi16(
              is[j], _mm512_add_epi16(_mm512_maddubs_epi16(lo, eco512_bcast8(a)),
                                      _mm512_maddubs_epi16(hi, eco512_bcast8(a + 16))));
        }
      }
      for (int j = 0; j < NX; j++)
        isum[j] = _mm512_add_epi32(isum[j], _mm512_madd_epi16(is[j], sc));
    }
    eco512_q4k_finish(g, x, xs, b, NX, isum, acc);
  }
  for (int j = 0; j < NX; j++)
    _mm256_storeu_ps(out + os * (size_t)j, acc[j]);
}

/* Q6_K: quants rebuilt unsigned (0..63) as in kernels_x8_main_avx2.c. The high
 * bits of chunk k sit at bits 2k..2k+1 of the row's qhA/qhB dword, so the
 * row's dword goes to both of its lanes and each lane shifts by its own
 * count (vpsllvw/vpsrlvw). A lane holds one chunk's pair products (at most
 * 16002); two pairs sum to 32004 in int16, then madd with the 16-element
 * sub-block scales. */
INLINE __m512i q6_hi2x2(__m512i qh, const int p) {
  const __m512i m = _mm512_set1_epi8(0x30);
  if (p == 0) /* chunks 0, 1: bits 0-1 and 2-3 up to 4-5 */
    return _mm512_and_si512(_mm512_sllv_epi16(qh, _mm512_set1_epi64(0x0002000200040004LL)), m);
  /* chunks 2, 3: bits 4-5 stay, bits 6-7 down to 4-5 */
  return _mm512_and_si512(_mm512_srlv_epi16(qh, _mm512_set1_epi64(0x0002000200000000LL)), m);
}

INLINE void q6_k_x8_nx(int n, const uint8_t *g, const uint8_t *x, size_t xs, const int NX,
                       float *out, size_t os) {
  const int nb = n / 256;
  const __m512i m4 = _mm512_set1_epi8(0xF);
  __m256 acc[4];
  for (int j = 0; j < NX; j++)
    acc[j] = _mm256_setzero_ps();
  for (int b = 0; b < nb; b++, g += 1680) {
    _mm_prefetch((const char *)g + PF_DIST, _MM_HINT_T0);
    const int8_t *aq[4];
    __m512i isum[4];
    for (int j = 0; j < NX; j++) {
      aq[j] = ((const eco_block_q8_k *)(const void *)(x + j * xs))[b].qs;
      isum[j] = _mm512_setzero_si512();
    }
    for (int u = 0; u < 8; u++) {
      const uint8_t *base = g + 144 + 192 * u;
      for (int l = 0; l < 192; l += 64)
        _mm_prefetch((const char *)base + PF_DIST + l, _MM_HINT_T0);
      const __m512i qa = eco512_dup8(_mm256_loadu_si256((const __m256i *)(base + 128)));
      const __m512i qb = eco512_dup8(_mm256_loadu_si256((const __m256i *)(base + 160)));
      const __m256i scp = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(g + 16 + 16 * u)));
      const __m512i sc_lo =
          eco512_dup8(_mm256_shufflehi_epi16(_mm256_shufflelo_epi16(scp, 0xA0), 0xA0));
      const __m512i sc_hi =
          eco512_dup8(_mm256_shufflehi_epi16(_mm256_shufflelo_epi16(scp, 0xF5), 0xF5));
      __m512i lo16[4], hi16[4];
      for (int j = 0; j < NX; j++)
        lo16[j] = hi16[j] = _mm512_setzero_si512();
      for (int p = 0; p < 2; p++) {
        const __m512i w = eco512_load_il(base + 64 * p);
        const __m512i lo = _mm512_or_si512(_mm512_and_si512(w, m4), q6_hi2x2(qa, p));
        const __m512i hi =
            _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(w, 4), m4), q6_hi2x2(qb, p));
        for (int j = 0; j < NX; j++) {
          const int8_t *a = aq[j] + 32 * u + 8 * p;
          lo16[j] = _mm512_add_epi16(lo16[j], _mm512_maddubs_epi16(lo, eco512_bcast8(a)));
          hi16[j] = _mm512_add_epi16(hi16[j], _mm512_maddubs_epi16(hi, eco512_bcast8(a + 16)));
        }
      }
      for (int j = 0; j < NX; j++)
        isum[j] = _mm512_add_epi32(isum[j], _mm512_add_epi32(_mm512_madd_epi16(lo16[j], sc_lo),
                                                             _mm512_madd_epi16(hi16[j], sc_hi)));
    }
    __m256i folded[4];
    for (int j = 0; j < NX; j++)
      folded[j] = eco512_fold16i(isum[j]);
    eco512_q6k_finish(g, x, xs, b, NX, folded, acc);
  }
  for (int j = 0; j < NX; j++)
    _mm256_storeu_ps(out + os * (size_t)j, acc[j]);
}

ECO512_PBATCH4(pdot_q8_0, q8_0_x8_nx)
ECO512_PBATCH4(pdot_q4_0, q4_0_x8_nx)
ECO512_PBATCH4(pdot_q4_k, q4_k_x8_nx)
ECO512_PBATCH4(pdot_q6_k, q6_k_x8_nx)

void eco_kernels_init_avx512(eco_kernels *k) {
  eco_kernels_init_attn_avx512(k);
  k->dot[ECO_GGML_F32] = dot_f32;
  k->pdot[ECO_GGML_Q8_0] = pdot_q8_0;
  k->pdot[ECO_GGML_Q4_0] = pdot_q4_0;
  k->pdot[ECO_GGML_Q4_K] = pdot_q4_k;
  k->pdot[ECO_GGML_Q6_K] = pdot_q6_k;
}
