/* ecoinfer: AVX-512 VNNI packed integer kernels (level ECO_SIMD_AVX512VNNI;
 * they replace the AVX2 / AVX-512BW packed kernels that eco_kernels_init
 * installs first; the plain-layout fallbacks stay AVX2).
 *
 * vpdpbusd multiplies unsigned bytes by signed bytes and adds each group of
 * four products into an int32 lane, in one instruction: what the AVX2
 * kernels do with sign + maddubs + madd + add. The first operand must be
 * unsigned, so:
 *   - Q8_0 weights are flipped to w + 128 (xor 0x80) and the dot is
 *     corrected by -128 * sum(a), the activation block sum that the Q8_0
 *     split format (pack.h) already carries;
 *   - Q4_0, Q4_K and Q6_K weights are stored unsigned (0..15, 0..63) and
 *     their offsets are removed as in the AVX2 kernels.
 * All integer sums are exact (|lane| < 2^21 per block), so results equal
 * the other levels' up to the order of float additions.
 *
 * Q8_0, Q4_0 and Q4_K use 512-bit vectors, two chunks per load
 * (avx512_util.h); Q6_K stays on 256-bit vectors (AVX512VL), whose
 * per-lane high-bit shifts and scale spreading cost more in 512 bits than
 * they save (measured with bench_engine_matmul on Zen 4), except in its
 * two-group kernel, which puts one group in each 256-bit half. The 32 vector
 * registers let the Q8_0/Q4_0 kernels keep 8 activation rows in flight
 * (4 in AVX2). */
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

/* 4 activation bytes at p, in every 32-bit lane (Q6_K, 256-bit) */
INLINE __m256i bcast4(const int8_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

/* --- packed 8-row groups (pack.h) --------------------------------------------------- */
/* The activation-side offset correction of the Q8_0/Q4_0 kernels, in
 * chunks of CORR_CH blocks: cor[j][i] = -(s_j[b0 + i] << shift), the block
 * sums of the n blocks from b0 times -2^shift, made 16 at a time in vector
 * registers. The kernels then start each block's int32 sums from a
 * broadcast load of cor[j][i] instead of a scalar multiply and a
 * general-register broadcast per row and block (Q8_0 at batch 4: 6 % more
 * MAC/s in cache on Zen 4). */
#define CORR_CH 32
INLINE void corr_chunk(const int32_t *const *as, int b0, int n, const int NX, const int shift,
                       int32_t (*cor)[CORR_CH]) {
  const __m512i zero = _mm512_setzero_si512();
  for (int i = 0; i < n; i += 16) {
    const __mmask16 m = (__mmask16)(n - i >= 16 ? 0xFFFFu : (1u << (n - i)) - 1u);
    for (int j = 0; j < NX; j++) {
      const __m512i v = _mm512_maskz_loadu_epi32(m, as[j] + b0 + i);
      _mm512_store_si512((void *)(cor[j] + i), _mm512_sub_epi32(zero, _mm512_slli_epi32(v, shift)));
    }
  }
}

/* Q8_0: sum((w + 128) a) - 128 sum(a), the correction split as -64 sum(a)
 * in each of the row's two lanes. */
INLINE void q8_0_x8_nx(int n, const uint8_t *g, const uint8_t *x, size_t xs, const int NX,
                       float *out, size_t os) {
  const int nb = n / 32;
  const __m512i flip = _mm512_set1_epi8((char)0x80);
  __m512 acc[8];
  const float *ad[8];
  const int32_t *as[8];
  const int8_t *aq[8];
  int32_t cor[8][CORR_CH] __attribute__((aligned(64)));
  for (int j = 0; j < NX; j++) {
    acc[j] = _mm512_setzero_ps();
    ad[j] = eco_pack_act_d(x + j * xs);
    as[j] = eco_pack_act_s(x + j * xs, n);
    aq[j] = eco_pack_act_qs(x + j * xs, n);
  }
  for (int b0 = 0; b0 < nb; b0 += CORR_CH) {
    const int nc = nb - b0 < CORR_CH ? nb - b0 : CORR_CH;
    corr_chunk(as, b0, nc, NX, 6, cor);
    for (int i = 0; i < nc; i++, g += 272) {
      const int b = b0 + i;
      for (int l = 0; l < 272; l += 64)
        _mm_prefetch((const char *)g + PF_DIST + l, _MM_HINT_T0);
      __m512i is[8];
      for (int j = 0; j < NX; j++)
        is[j] = _mm512_set1_epi32(cor[j][i]);
      for (int p = 0; p < 4; p++) {
        const __m512i w = _mm512_xor_si512(eco512_load_il(g + 16 + 64 * p), flip);
        for (int j = 0; j < NX; j++)
          is[j] = _mm512_dpbusd_epi32(is[j], w, eco512_bcast8(aq[j] + 32 * b + 8 * p));
      }
      const __m512 dw = eco512_scales16(g);
      for (int j = 0; j < NX; j++)
        acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is[j]),
                                 _mm512_mul_ps(dw, _mm512_set1_ps(ad[j][b])), acc[j]);
    }
  }
  for (int j = 0; j < NX; j++)
    _mm256_storeu_ps(out + os * (size_t)j, eco512_fold16(acc[j]));
}

/* Q4_0: unsigned nibbles (0..15); the -8 offset is -8 * sum(a), split as
 * -4 * sum(a) in each of the row's two lanes. */
INLINE void q4_0_x8_nx(int n, const uint8_t *g, const uint8_t *x, size_t xs, const int NX,
                       float *out, size_t os) {
  const int nb = n / 32;
  const __m512i m4 = _mm512_set1_epi8(0xF);
  __m512 acc[8];
  const float *ad[8];
  const int32_t *as[8];
  const int8_t *aq[8];
  int32_t cor[8][CORR_CH] __attribute__((aligned(64)));
  for (int j = 0; j < NX; j++) {
    acc[j] = _mm512_setzero_ps();
    ad[j] = eco_pack_act_d(x + j * xs);
    as[j] = eco_pack_act_s(x + j * xs, n);
    aq[j] = eco_pack_act_qs(x + j * xs, n);
  }
  for (int b0 = 0; b0 < nb; b0 += CORR_CH) {
    const int nc = nb - b0 < CORR_CH ? nb - b0 : CORR_CH;
    corr_chunk(as, b0, nc, NX, 2, cor);
    for (int i = 0; i < nc; i++, g += 144) {
      const int b = b0 + i;
      for (int l = 0; l < 144; l += 64)
        _mm_prefetch((const char *)g + PF_DIST + l, _MM_HINT_T0);
      __m512i is[8];
      for (int j = 0; j < NX; j++)
        is[j] = _mm512_set1_epi32(cor[j][i]);
      for (int p = 0; p < 2; p++) {
        const __m512i w = eco512_load_il(g + 16 + 64 * p);
        const __m512i lo = _mm512_and_si512(w, m4);
        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(w, 4), m4);
        for (int j = 0; j < NX; j++) {
          const int8_t *a = aq[j] + 32 * b + 8 * p;
          is[j] = _mm512_dpbusd_epi32(is[j], lo, eco512_bcast8(a));
          is[j] = _mm512_dpbusd_epi32(is[j], hi, eco512_bcast8(a + 16));
        }
      }
      const __m512 dw = eco512_scales16(g);
      for (int j = 0; j < NX; j++)
        acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is[j]),
                                 _mm512_mul_ps(dw, _mm512_set1_ps(ad[j][b])), acc[j]);
    }
  }
  for (int j = 0; j < NX; j++)
    _mm256_storeu_ps(out + os * (size_t)j, eco512_fold16(acc[j]));
}

/* Two consecutive packed groups (16 rows, gbytes apart) at once, the same
 * arithmetic as the kernels above: each activation broadcast and block
 * correction then serves two weight vectors, which at batch 4 removes a
 * quarter of the vector work per weight byte (the broadcasts are not free
 * on Zen 4). Up to 4 activation rows per pass (32 vector registers). */
/* Where the first group's stream prefetches at byte `at` of a pair (g
 * pointing at that byte of the first group): PF_DIST ahead while that
 * stays in the group; past its end the second group is already being read,
 * so it prefetches the next pair's second group instead (pairs run in
 * order, mm_packed_groups), which would otherwise start cold. The second
 * group's stream runs on into the next pair's first group by itself. */
INLINE const char *pair_prefetch(const uint8_t *g, size_t gbytes, size_t at) {
  return (const char *)g + PF_DIST + (at + PF_DIST < gbytes ? 0 : 2 * gbytes);
}

INLINE void q8_0_x16_nx(int n, const uint8_t *g, size_t gbytes, const uint8_t *x, size_t xs,
                        const int NX, float *out, size_t os) {
  const int nb = n / 32;
  const __m512i flip = _mm512_set1_epi8((char)0x80);
  __m512 acc[2][4];
  const float *ad[4];
  const int32_t *as[4];
  const int8_t *aq[4];
  int32_t cor[4][CORR_CH] __attribute__((aligned(64)));
  for (int j = 0; j < NX; j++) {
    acc[0][j] = acc[1][j] = _mm512_setzero_ps();
    ad[j] = eco_pack_act_d(x + j * xs);
    as[j] = eco_pack_act_s(x + j * xs, n);
    aq[j] = eco_pack_act_qs(x + j * xs, n);
  }
  const uint8_t *g1 = g + gbytes;
  for (int b0 = 0; b0 < nb; b0 += CORR_CH) {
    const int nc = nb - b0 < CORR_CH ? nb - b0 : CORR_CH;
    corr_chunk(as, b0, nc, NX, 6, cor);
    for (int i = 0; i < nc; i++, g += 272, g1 += 272) {
      const int b = b0 + i;
      const char *pa = pair_prefetch(g, gbytes, (size_t)b * 272);
      for (int l = 0; l < 272; l += 64) {
        _mm_prefetch(pa + l, _MM_HINT_T0);
        _mm_prefetch((const char *)g1 + PF_DIST + l, _MM_HINT_T0);
      }
      __m512i is[2][4];
      for (int j = 0; j < NX; j++)
        is[0][j] = is[1][j] = _mm512_set1_epi32(cor[j][i]);
      for (int p = 0; p < 4; p++) {
        const __m512i w0 = _mm512_xor_si512(eco512_load_il(g + 16 + 64 * p), flip);
        const __m512i w1 = _mm512_xor_si512(eco512_load_il(g1 + 16 + 64 * p), flip);
        for (int j = 0; j < NX; j++) {
          const __m512i a = eco512_bcast8(aq[j] + 32 * b + 8 * p);
          is[0][j] = _mm512_dpbusd_epi32(is[0][j], w0, a);
          is[1][j] = _mm512_dpbusd_epi32(is[1][j], w1, a);
        }
      }
      const __m512 dw0 = eco512_scales16(g), dw1 = eco512_scales16(g1);
      for (int j = 0; j < NX; j++) {
        const __m512 da = _mm512_set1_ps(ad[j][b]);
        acc[0][j] =
            _mm512_fmadd_ps(_mm512_cvtepi32_ps(is[0][j]), _mm512_mul_ps(dw0, da), acc[0][j]);
        acc[1][j] =
            _mm512_fmadd_ps(_mm512_cvtepi32_ps(is[1][j]), _mm512_mul_ps(dw1, da), acc[1][j]);
      }
    }
  }
  for (int j = 0; j < NX; j++) {
    _mm256_storeu_ps(out + os * (size_t)j, eco512_fold16(acc[0][j]));
    _mm256_storeu_ps(out + os * (size_t)j + 8, eco512_fold16(acc[1][j]));
  }
}

INLINE void q4_0_x16_nx(int n, const uint8_t *g, size_t gbytes, const uint8_t *x, size_t xs,
                        const int NX, float *out, size_t os) {
  const int nb = n / 32;
  const __m512i m4 = _mm512_set1_epi8(0xF);
  __m512 acc[2][4];
  const float *ad[4];
  const int32_t *as[4];
  const int8_t *aq[4];
  int32_t cor[4][CORR_CH] __attribute__((aligned(64)));
  for (int j = 0; j < NX; j++) {
    acc[0][j] = acc[1][j] = _mm512_setzero_ps();
    ad[j] = eco_pack_act_d(x + j * xs);
    as[j] = eco_pack_act_s(x + j * xs, n);
    aq[j] = eco_pack_act_qs(x + j * xs, n);
  }
  const uint8_t *g1 = g + gbytes;
  for (int b0 = 0; b0 < nb; b0 += CORR_CH) {
    const int nc = nb - b0 < CORR_CH ? nb - b0 : CORR_CH;
    corr_chunk(as, b0, nc, NX, 2, cor);
    for (int i = 0; i < nc; i++, g += 144, g1 += 144) {
      const int b = b0 + i;
      const char *pa = pair_prefetch(g, gbytes, (size_t)b * 144);
      for (int l = 0; l < 144; l += 64) {
        _mm_prefetch(pa + l, _MM_HINT_T0);
        _mm_prefetch((const char *)g1 + PF_DIST + l, _MM_HINT_T0);
      }
      __m512i is[2][4];
      for (int j = 0; j < NX; j++)
        is[0][j] = is[1][j] = _mm512_set1_epi32(cor[j][i]);
      for (int p = 0; p < 2; p++) {
        const __m512i w0 = eco512_load_il(g + 16 + 64 * p);
        const __m512i w1 = eco512_load_il(g1 + 16 + 64 * p);
        const __m512i lo0 = _mm512_and_si512(w0, m4), lo1 = _mm512_and_si512(w1, m4);
        const __m512i hi0 = _mm512_and_si512(_mm512_srli_epi16(w0, 4), m4);
        const __m512i hi1 = _mm512_and_si512(_mm512_srli_epi16(w1, 4), m4);
        for (int j = 0; j < NX; j++) {
          const int8_t *a = aq[j] + 32 * b + 8 * p;
          const __m512i alo = eco512_bcast8(a), ahi = eco512_bcast8(a + 16);
          is[0][j] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(is[0][j], lo0, alo), hi0, ahi);
          is[1][j] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(is[1][j], lo1, alo), hi1, ahi);
        }
      }
      const __m512 dw0 = eco512_scales16(g), dw1 = eco512_scales16(g1);
      for (int j = 0; j < NX; j++) {
        const __m512 da = _mm512_set1_ps(ad[j][b]);
        acc[0][j] =
            _mm512_fmadd_ps(_mm512_cvtepi32_ps(is[0][j]), _mm512_mul_ps(dw0, da), acc[0][j]);
        acc[1][j] =
            _mm512_fmadd_ps(_mm512_cvtepi32_ps(is[1][j]), _mm512_mul_ps(dw1, da), acc[1][j]);
      }
    }
  }
  for (int j = 0; j < NX; j++) {
    _mm256_storeu_ps(out + os * (size_t)j, eco512_fold16(acc[0][j]));
    _mm256_storeu_ps(out + os * (size_t)j + 8, eco512_fold16(acc[1][j]));
  }
}

/* Pair wrappers: activation rows 4 at a time, then the rest. */
#define PAIR_REST(kernel, r)                                                                       \
  case r:                                                                                          \
    kernel(n, g, gbytes, xb + j * xs, xs, r, out + os * (size_t)j, os);                            \
    break
#define PDOT2(name, kernel)                                                                        \
  static void name(int n, const void *g, size_t gbytes, const void *x, size_t xs, int nx,          \
                   float *out, size_t os) {                                                        \
    const uint8_t *xb = x;                                                                         \
    int j = 0;                                                                                     \
    for (; j + 4 <= nx; j += 4)                                                                    \
      kernel(n, g, gbytes, xb + j * xs, xs, 4, out + os * (size_t)j, os);                          \
    switch (nx - j) {                                                                              \
      PAIR_REST(kernel, 3);                                                                        \
      PAIR_REST(kernel, 2);                                                                        \
      PAIR_REST(kernel, 1);                                                                        \
    default: break;                                                                                \
    }                                                                                              \
  }
PDOT2(pdot2_q8_0, q8_0_x16_nx)
PDOT2(pdot2_q4_0, q4_0_x16_nx)

/* Q4_K: each 32-element sub-block is a Q4_0-like int32 dot per row, times
 * the row's 6-bit sub-block scale (vpmulld); the mins are a length-8 dot
 * per row against the activation's sub-block sums (as in kernels_x8_main_avx2.c). */
INLINE void q4_k_x8_nx(int n, const uint8_t *g, const uint8_t *x, size_t xs, const int NX,
                       float *out, size_t os) {
  const int nb = n / 256;
  const __m512i m4 = _mm512_set1_epi8(0xF);
  __m256 acc[4];
  for (int j = 0; j < NX; j++)
    acc[j] = _mm256_setzero_ps();
  for (int b = 0; b < nb; b++, g += 1184) {
    const int8_t *aq[4];
    __m512i isum[4];
    for (int j = 0; j < NX; j++) {
      aq[j] = ((const eco_block_q8_k *)(const void *)(x + j * xs))[b].qs;
      isum[j] = _mm512_setzero_si512();
    }
    _mm_prefetch((const char *)g + PF_DIST, _MM_HINT_T0);
    for (int s = 0; s < 8; s++) {
      _mm_prefetch((const char *)g + PF_DIST + 64 + 128 * s, _MM_HINT_T0);
      _mm_prefetch((const char *)g + PF_DIST + 128 + 128 * s, _MM_HINT_T0);
      const __m512i sc =
          eco512_dup8(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(g + 32 + 8 * s))));
      __m512i is[4];
      for (int j = 0; j < NX; j++)
        is[j] = _mm512_setzero_si512();
      for (int p = 0; p < 2; p++) {
        const __m512i w = eco512_load_il(g + 160 + 128 * s + 64 * p);
        const __m512i lo = _mm512_and_si512(w, m4);
        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(w, 4), m4);
        for (int j = 0; j < NX; j++) {
          const int8_t *a = aq[j] + 32 * s + 8 * p;
          is[j] = _mm512_dpbusd_epi32(is[j], lo, eco512_bcast8(a));
          is[j] = _mm512_dpbusd_epi32(is[j], hi, eco512_bcast8(a + 16));
        }
      }
      for (int j = 0; j < NX; j++)
        isum[j] = _mm512_add_epi32(isum[j], _mm512_mullo_epi32(is[j], sc));
    }
    eco512_q4k_finish(g, x, xs, b, NX, isum, acc);
  }
  for (int j = 0; j < NX; j++)
    _mm256_storeu_ps(out + os * (size_t)j, acc[j]);
}

/* Q6_K: quants rebuilt unsigned (0..63) from the low nibbles and the
 * pre-arranged high bits (pack.h); one int32 dot per 16-element sub-block
 * and row, times its signed scale (vpmulld); the -32 offset is 32 *
 * sum(scale * sub-block sum of the activation), from Q8_K's bsums. */
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
  __m256 acc[4];
  for (int j = 0; j < NX; j++)
    acc[j] = _mm256_setzero_ps();
  for (int b = 0; b < nb; b++, g += 1680) {
    _mm_prefetch((const char *)g + PF_DIST, _MM_HINT_T0);
    const int8_t *aq[4];
    __m256i isum[4];
    for (int j = 0; j < NX; j++) {
      aq[j] = ((const eco_block_q8_k *)(const void *)(x + j * xs))[b].qs;
      isum[j] = _mm256_setzero_si256();
    }
    for (int u = 0; u < 8; u++) {
      const uint8_t *base = g + 144 + 192 * u;
      for (int l = 0; l < 192; l += 64)
        _mm_prefetch((const char *)base + PF_DIST + l, _MM_HINT_T0);
      const __m256i qa = _mm256_loadu_si256((const __m256i *)(base + 128));
      const __m256i qb = _mm256_loadu_si256((const __m256i *)(base + 160));
      /* int16 pairs (scale of sub-block 2u, of 2u+1) per row -> int32 lanes */
      const __m256i scp = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(g + 16 + 16 * u)));
      const __m256i sc_lo = _mm256_srai_epi32(_mm256_slli_epi32(scp, 16), 16);
      const __m256i sc_hi = _mm256_srai_epi32(scp, 16);
      __m256i lo32[4], hi32[4];
      for (int j = 0; j < NX; j++)
        lo32[j] = hi32[j] = _mm256_setzero_si256();
      for (int k = 0; k < 4; k++) {
        const __m256i w = _mm256_loadu_si256((const __m256i *)(base + 32 * k));
        const __m256i lo = _mm256_or_si256(_mm256_and_si256(w, m4), q6_hi2(qa, k));
        const __m256i hi =
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(w, 4), m4), q6_hi2(qb, k));
        for (int j = 0; j < NX; j++) {
          lo32[j] = _mm256_dpbusd_epi32(lo32[j], lo, bcast4(aq[j] + 32 * u + 4 * k));
          hi32[j] = _mm256_dpbusd_epi32(hi32[j], hi, bcast4(aq[j] + 32 * u + 16 + 4 * k));
        }
      }
      for (int j = 0; j < NX; j++)
        isum[j] = _mm256_add_epi32(isum[j], _mm256_add_epi32(_mm256_mullo_epi32(lo32[j], sc_lo),
                                                             _mm256_mullo_epi32(hi32[j], sc_hi)));
    }
    eco512_q6k_finish(g, x, xs, b, NX, isum, acc);
  }
  for (int j = 0; j < NX; j++)
    _mm256_storeu_ps(out + os * (size_t)j, acc[j]);
}

/* Q6_K, two consecutive groups at once: group 0's rows in the low 256 bits
 * of each vector, group 1's in the high 256 bits, so every 512-bit
 * operation (the high-bit rebuild, the activation broadcasts, the dots)
 * serves both groups; the arithmetic of each half is q6_k_x8_nx's, lane
 * for lane, so the results are the same bits. At batch 4 (TinyLlama's
 * output matrix) this halves the broadcasts and the instructions that
 * Zen 4 issues per weight byte. */
INLINE __m512i q6_hi2_512(__m512i qh, const int k) {
  const __m512i m = _mm512_set1_epi8(0x30);
  switch (k) {
  case 0: return _mm512_and_si512(_mm512_slli_epi16(qh, 4), m);
  case 1: return _mm512_and_si512(_mm512_slli_epi16(qh, 2), m);
  case 2: return _mm512_and_si512(qh, m);
  default: return _mm512_and_si512(_mm512_srli_epi16(qh, 2), m);
  }
}

/* 32 bytes at p0 (low half) and at p1 (high half) */
INLINE __m512i load_2x32(const uint8_t *p0, const uint8_t *p1) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)p0)),
                            _mm256_loadu_si256((const __m256i *)p1), 1);
}

/* 16 bytes at p0 (low half) and at p1 (high half) */
INLINE __m256i load_2x16(const uint8_t *p0, const uint8_t *p1) {
  return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)p0)),
                                 _mm_loadu_si128((const __m128i *)p1), 1);
}

INLINE __m512i bcast4_512(const int8_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

/* eco512_q6k_offset of both groups, group 0 in lanes 0..7 */
INLINE __m512i q6k_offset2(const uint8_t *g0, const uint8_t *g1, const eco_block_q8_k *a) {
  __m512i msum = _mm512_setzero_si512();
  for (int p = 0; p < 8; p++) {
    const __m512i scp = _mm512_cvtepi8_epi16(load_2x16(g0 + 16 + 16 * p, g1 + 16 + 16 * p));
    const __m512i bb =
        _mm512_set1_epi32((int32_t)((uint32_t)(uint16_t)a->bsums[2 * p] |
                                    ((uint32_t)(uint16_t)a->bsums[2 * p + 1] << 16)));
    msum = _mm512_add_epi32(msum, _mm512_madd_epi16(scp, bb));
  }
  return msum;
}

INLINE void q6_k_x16_nx(int n, const uint8_t *g, size_t gbytes, const uint8_t *x, size_t xs,
                        const int NX, float *out, size_t os) {
  const int nb = n / 256;
  const __m512i m4 = _mm512_set1_epi8(0xF);
  const uint8_t *g1 = g + gbytes;
  __m512 acc[4];
  for (int j = 0; j < NX; j++)
    acc[j] = _mm512_setzero_ps();
  for (int b = 0; b < nb; b++, g += 1680, g1 += 1680) {
    const char *pa = pair_prefetch(g, gbytes, (size_t)b * 1680);
    _mm_prefetch(pa, _MM_HINT_T0);
    _mm_prefetch((const char *)g1 + PF_DIST, _MM_HINT_T0);
    const int8_t *aq[4];
    __m512i isum[4];
    for (int j = 0; j < NX; j++) {
      aq[j] = ((const eco_block_q8_k *)(const void *)(x + j * xs))[b].qs;
      isum[j] = _mm512_setzero_si512();
    }
    for (int u = 0; u < 8; u++) {
      const uint8_t *base0 = g + 144 + 192 * u, *base1 = g1 + 144 + 192 * u;
      for (int l = 0; l < 192; l += 64) {
        _mm_prefetch(pa + 144 + 192 * u + l, _MM_HINT_T0);
        _mm_prefetch((const char *)base1 + PF_DIST + l, _MM_HINT_T0);
      }
      const __m512i qa = load_2x32(base0 + 128, base1 + 128);
      const __m512i qb = load_2x32(base0 + 160, base1 + 160);
      const __m512i scp = _mm512_cvtepi8_epi16(load_2x16(g + 16 + 16 * u, g1 + 16 + 16 * u));
      const __m512i sc_lo = _mm512_srai_epi32(_mm512_slli_epi32(scp, 16), 16);
      const __m512i sc_hi = _mm512_srai_epi32(scp, 16);
      __m512i lo32[4], hi32[4];
      for (int j = 0; j < NX; j++)
        lo32[j] = hi32[j] = _mm512_setzero_si512();
      for (int k = 0; k < 4; k++) {
        const __m512i w = load_2x32(base0 + 32 * k, base1 + 32 * k);
        const __m512i lo = _mm512_or_si512(_mm512_and_si512(w, m4), q6_hi2_512(qa, k));
        const __m512i hi =
            _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(w, 4), m4), q6_hi2_512(qb, k));
        for (int j = 0; j < NX; j++) {
          lo32[j] = _mm512_dpbusd_epi32(lo32[j], lo, bcast4_512(aq[j] + 32 * u + 4 * k));
          hi32[j] = _mm512_dpbusd_epi32(hi32[j], hi, bcast4_512(aq[j] + 32 * u + 16 + 4 * k));
        }
      }
      for (int j = 0; j < NX; j++)
        isum[j] = _mm512_add_epi32(isum[j], _mm512_add_epi32(_mm512_mullo_epi32(lo32[j], sc_lo),
                                                             _mm512_mullo_epi32(hi32[j], sc_hi)));
    }
    const __m512 d = _mm512_cvtph_ps(load_2x16(g, g1));
    for (int j = 0; j < NX; j++) {
      const eco_block_q8_k *a = (const eco_block_q8_k *)(const void *)(x + j * xs) + b;
      const __m512i i32 = _mm512_sub_epi32(isum[j], _mm512_slli_epi32(q6k_offset2(g, g1, a), 5));
      acc[j] =
          _mm512_fmadd_ps(_mm512_cvtepi32_ps(i32), _mm512_mul_ps(d, _mm512_set1_ps(a->d)), acc[j]);
    }
  }
  for (int j = 0; j < NX; j++)
    _mm512_storeu_ps(out + os * (size_t)j, acc[j]);
}
PDOT2(pdot2_q6_k, q6_k_x16_nx)

ECO512_PBATCH8(pdot_q8_0, q8_0_x8_nx)
ECO512_PBATCH8(pdot_q4_0, q4_0_x8_nx)
ECO512_PBATCH4(pdot_q4_k, q4_k_x8_nx)
ECO512_PBATCH4(pdot_q6_k, q6_k_x8_nx)

void eco_kernels_init_avx512vnni(eco_kernels *k) {
  k->pdot[ECO_GGML_Q8_0] = pdot_q8_0;
  k->pdot[ECO_GGML_Q4_0] = pdot_q4_0;
  k->pdot2[ECO_GGML_Q8_0] = pdot2_q8_0;
  k->pdot2[ECO_GGML_Q4_0] = pdot2_q4_0;
  k->pdot[ECO_GGML_Q4_K] = pdot_q4_k;
  k->pdot[ECO_GGML_Q6_K] = pdot_q6_k;
  k->pdot2[ECO_GGML_Q6_K] = pdot2_q6_k;
}
