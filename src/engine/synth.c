/* ecoinfer: synthetic GGUF writer (see synth.h). */
#include "engine/synth.h"
#include "engine/gguf.h"
#include "engine/quant.h"
#include "util/strbuf.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Real shapes from each model's config.json (and what llama.cpp's converter
 * writes from it), then tiny shapes for the architecture test fixtures
 * (tests/fixtures/arch): head_dim != n_embd / n_head, GQA, windows of 8
 * positions so that the reference prompts cross them, soft-caps small
 * enough to bite. */
static const eco_synth_shape shapes[] = {
    {"smollm2-135m", "llama", 49152, 576, 1536, 30, 9, 3, 8192, 100000.f, 1e-5f, .tied = 1},
    {"qwen2.5-0.5b", "qwen2", 151936, 896, 4864, 24, 14, 2, 32768, 1000000.f, 1e-6f, .tied = 1},
    {"tinyllama-1.1b", "llama", 32000, 2048, 5632, 22, 32, 4, 2048, 10000.f, 1e-5f, .tied = 0},
    {"llama3.2-1b", "llama", 128256, 2048, 8192, 16, 32, 8, 131072, 500000.f, 1e-5f, .tied = 1},
    {"mistral-7b", "llama", 32000, 4096, 14336, 32, 32, 8, 32768, 10000.f, 1e-5f, .tied = 0,
     .n_swa = 4096},
    {"qwen3-0.6b", "qwen3", 151936, 1024, 3072, 28, 16, 8, 40960, 1000000.f, 1e-6f, .tied = 1,
     .head_dim = 128},
    {"qwen3-1.7b", "qwen3", 151936, 2048, 6144, 28, 16, 8, 40960, 1000000.f, 1e-6f, .tied = 1,
     .head_dim = 128},
    {"gemma2-2b", "gemma2", 256000, 2304, 9216, 26, 8, 4, 8192, 10000.f, 1e-6f, .tied = 1,
     .head_dim = 256, .n_swa = 4096, .attn_softcap = 50.f, .final_softcap = 30.f},
    {"gemma3-1b", "gemma3", 262144, 1152, 6912, 26, 4, 1, 32768, 1000000.f, 1e-6f, .tied = 1,
     .head_dim = 256, .n_swa = 512, .rope_base_swa = 10000.f},
    {"gemma3-4b", "gemma3", 262208, 2560, 10240, 34, 8, 4, 131072, 1000000.f, 1e-6f, .tied = 1,
     .head_dim = 256, .n_swa = 1024, .rope_base_swa = 10000.f, .rope_scale = 8.f},
    {"phi3.5-mini", "phi3", 32064, 3072, 8192, 32, 32, 32, 131072, 10000.f, 1e-5f, .tied = 0,
     .n_swa = 262144, .n_ctx_orig = 4096},
    {"phi4-mini", "phi3", 200064, 3072, 8192, 32, 24, 8, 131072, 10000.f, 1e-5f, .tied = 1,
     .rope_dims = 96, .n_swa = 262144, .n_ctx_orig = 4096},
    /* small shapes for the quantization fixtures (tests/fixtures/llama): rows of
     * 256 (every K-quant fits) and of 128 (the quantizer's fallbacks), a
     * vocabulary of 300 (not a multiple of 8: a partial packed group) */
    {"test-256", "llama", 300, 256, 256, 1, 4, 1, 512, 10000.f, 1e-5f, .tied = 0},
    {"test-128", "qwen2", 300, 128, 256, 2, 2, 1, 512, 1000000.f, 1e-6f, .tied = 0},
    /* architecture fixtures (tests/fixtures/arch) */
    {"test-mistral", "llama", 320, 48, 64, 2, 4, 2, 512, 10000.f, 1e-5f, .tied = 0, .head_dim = 16,
     .n_swa = 256},
    {"test-qwen3", "qwen3", 320, 48, 64, 2, 4, 2, 512, 1000000.f, 1e-6f, .tied = 1, .head_dim = 16},
    {"test-gemma2", "gemma2", 320, 48, 64, 4, 4, 2, 512, 10000.f, 1e-6f, .tied = 1, .head_dim = 16,
     .n_swa = 8, .attn_softcap = 0.5f, .final_softcap = 2.f},
    {"test-gemma3", "gemma3", 320, 48, 64, 6, 4, 2, 512, 1000000.f, 1e-6f, .tied = 1,
     .head_dim = 16, .n_swa = 8, .rope_base_swa = 10000.f, .rope_scale = 4.f},
    {"test-phi3", "phi3", 320, 48, 64, 2, 4, 4, 512, 10000.f, 1e-5f, .tied = 0, .n_swa = 262144,
     .n_ctx_orig = 4096},
    {"test-phi4", "phi3", 320, 64, 64, 2, 4, 2, 512, 10000.f, 1e-5f, .tied = 1, .rope_dims = 12,
     .n_swa = 262144, .n_ctx_orig = 256},
};

const eco_synth_shape *eco_synth_find_shape(const char *name) {
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
    if (strcmp(shapes[i].name, name) == 0) return &shapes[i];
  return NULL;
}

void eco_synth_shape_names(char *buf, size_t cap) {
  size_t n = 0;
  if (cap) buf[0] = 0;
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0] && n < cap; i++)
    n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? ", " : "", shapes[i].name);
}

#define ALIGN 32 /* general.alignment default */

/* --- header serialization ------------------------------------------------ */
static void put(eco_strbuf *b, const void *p, size_t n) { eco_sb_append(b, p, n); }
static void put_u32(eco_strbuf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(eco_strbuf *b, uint64_t v) { put(b, &v, 8); }
static void put_str(eco_strbuf *b, const char *s, size_t n) {
  put_u64(b, n);
  put(b, s, n);
}
static void kv_key(eco_strbuf *b, const char *k, uint32_t type) {
  put_str(b, k, strlen(k));
  put_u32(b, type);
}
static void kv_u32(eco_strbuf *b, const char *k, uint32_t v) {
  kv_key(b, k, ECO_GGUF_UINT32);
  put_u32(b, v);
}
static void kv_f32(eco_strbuf *b, const char *k, float v) {
  kv_key(b, k, ECO_GGUF_FLOAT32);
  put(b, &v, 4);
}
static void kv_str(eco_strbuf *b, const char *k, const char *v) {
  kv_key(b, k, ECO_GGUF_STRING);
  put_str(b, v, strlen(v));
}

#define TYPES "f16, q8_0, q4_0, q5_0, q5_1, q2_k, q3_k_m, q4_k_m, q5_k_m, q6_k, iq4_nl, iq4_xs"

/* How a tensor's values are made (u uniform in [-1, 1)). */
typedef enum fill { FILL_RAND, FILL_NORM, FILL_ROPE_SHORT, FILL_ROPE_LONG } fill;

typedef struct tdesc {
  char name[64];
  int n_dims;
  uint64_t ne[2];
  eco_ggml_type type;
  uint64_t offset, bytes;
  fill how; /* FILL_RAND: 0.03 u */
} tdesc;

static uint64_t xs64(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *s = x;
  return x;
}

/* --- llama.cpp's per-tensor type choice (llama-quant.cpp), for the mixes
 * and architectures here (no MoE, no Falcon, no 70B special case) ---------- */
typedef enum cat {
  CAT_TOKEN_EMBD,
  CAT_OUTPUT,
  CAT_ATTN_Q,
  CAT_ATTN_K,
  CAT_ATTN_V,
  CAT_ATTN_OUT,
  CAT_FFN_GATE,
  CAT_FFN_UP,
  CAT_FFN_DOWN,
} cat;

/* llama_ftype values (general.file_type) */
enum {
  FT_F16 = 1,
  FT_Q4_0 = 2,
  FT_Q8_0 = 7,
  FT_Q5_0 = 8,
  FT_Q5_1 = 9,
  FT_Q2_K = 10,
  FT_Q3_K_M = 12,
  FT_Q4_K_M = 15,
  FT_Q5_K_M = 17,
  FT_Q6_K = 18,
  FT_IQ4_NL = 25,
  FT_IQ4_XS = 30,
};

typedef struct mix {
  const char *name;
  uint32_t ftype;     /* general.file_type */
  eco_ggml_type base; /* llama_ftype_get_default_type */
} mix;

static const mix mixes[] = {
    {"f16", FT_F16, ECO_GGML_F16},          {"q8_0", FT_Q8_0, ECO_GGML_Q8_0},
    {"q4_0", FT_Q4_0, ECO_GGML_Q4_0},       {"q5_0", FT_Q5_0, ECO_GGML_Q5_0},
    {"q5_1", FT_Q5_1, ECO_GGML_Q5_1},       {"q2_k", FT_Q2_K, ECO_GGML_Q2_K},
    {"q3_k_m", FT_Q3_K_M, ECO_GGML_Q3_K},   {"q4_k_m", FT_Q4_K_M, ECO_GGML_Q4_K},
    {"q5_k_m", FT_Q5_K_M, ECO_GGML_Q5_K},   {"q6_k", FT_Q6_K, ECO_GGML_Q6_K},
    {"iq4_nl", FT_IQ4_NL, ECO_GGML_IQ4_NL}, {"iq4_xs", FT_IQ4_XS, ECO_GGML_IQ4_XS},
};

/* use_more_bits(i, n): the first and last eighth of the layers and every third between */
static bool more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

/* Rows of ne0 elements that a type's blocks cannot hold fall back to a type
 * with 32-element blocks, or to F16 (tensor_type_fallback). */
static eco_ggml_type fallback(eco_ggml_type t, uint64_t ne0) {
  if (ne0 % eco_ggml_block_elems(t) == 0) return t;
  switch (t) {
  case ECO_GGML_IQ4_XS: t = ECO_GGML_IQ4_NL; break;
  case ECO_GGML_Q2_K:
  case ECO_GGML_Q3_K: t = ECO_GGML_Q4_0; break;
  case ECO_GGML_Q4_K: t = ECO_GGML_Q5_0; break;
  case ECO_GGML_Q5_K: t = ECO_GGML_Q5_1; break;
  case ECO_GGML_Q6_K: t = ECO_GGML_Q8_0; break;
  default: break;
  }
  return ne0 % eco_ggml_block_elems(t) ? ECO_GGML_F16 : t;
}

/* The type llama-quantize gives a 2-D weight of category c, row length ne0,
 * in layer il of nl (il counts the attn_v / ffn_down tensors before it). */
static eco_ggml_type pick_type(const mix *mx, cat c, uint64_t ne0, int il, int nl, int gqa,
                               bool tied) {
  eco_ggml_type t = mx->base;
  if (eco_ggml_block_elems(t) == 1) return t; /* F16: nothing is quantized */
  const uint32_t ft = mx->ftype;
  if (c == CAT_OUTPUT || (tied && c == CAT_TOKEN_EMBD)) {
    if (ne0 % eco_ggml_block_elems(t))
      t = ECO_GGML_Q8_0;
    else if (t != ECO_GGML_Q8_0)
      t = ECO_GGML_Q6_K;
  } else if (c == CAT_ATTN_V) {
    if (ft == FT_Q2_K)
      t = gqa >= 4 ? ECO_GGML_Q4_K : ECO_GGML_Q3_K;
    else if (ft == FT_Q3_K_M)
      t = il < 2 ? ECO_GGML_Q5_K : ECO_GGML_Q4_K;
    else if ((ft == FT_IQ4_NL || ft == FT_IQ4_XS) && gqa >= 4)
      t = ECO_GGML_Q5_K;
    else if ((ft == FT_Q4_K_M || ft == FT_Q5_K_M) && more_bits(il, nl))
      t = ECO_GGML_Q6_K;
  } else if (c == CAT_FFN_DOWN) {
    if (ft == FT_Q2_K)
      t = ECO_GGML_Q3_K;
    else if (ft == FT_Q3_K_M)
      t = il < nl / 16 ? ECO_GGML_Q5_K : ECO_GGML_Q4_K;
    else if (ft == FT_Q4_K_M) {
      if (more_bits(il, nl)) t = ECO_GGML_Q6_K;
    } else if (il < nl / 8 && (ft == FT_IQ4_NL || ft == FT_IQ4_XS))
      t = ECO_GGML_Q5_K;
    else if (ft == FT_Q5_K_M && more_bits(il, nl))
      t = ECO_GGML_Q6_K;
  } else if (c == CAT_ATTN_OUT) {
    if (ft == FT_Q2_K)
      t = ECO_GGML_Q3_K;
    else if (ft == FT_Q3_K_M)
      t = ECO_GGML_Q4_K;
  }
  return fallback(t, ne0);
}

static void add_t(tdesc *ts, int *n, const char *name, int nd, uint64_t ne0, uint64_t ne1,
                  eco_ggml_type t, fill how) {
  tdesc *d = &ts[(*n)++];
  memset(d, 0, sizeof *d);
  snprintf(d->name, sizeof d->name, "%s", name);
  d->n_dims = nd;
  d->ne[0] = ne0;
  d->ne[1] = ne1;
  d->type = nd == 1 ? ECO_GGML_F32 : t;
  d->how = how;
  d->bytes = eco_quant_row_bytes(d->type, (int64_t)ne0) * ne1;
}

static const mix *find_mix(const char *type) {
  for (size_t i = 0; i < sizeof mixes / sizeof mixes[0]; i++)
    if (strcmp(mixes[i].name, type) == 0) return &mixes[i];
  return NULL;
}

/* Dimensions derived from a shape. */
typedef struct dims {
  uint64_t E, F, V, hd, Q, KV, rot;
} dims;

static dims dims_of(const eco_synth_shape *sh) {
  dims d;
  d.E = (uint64_t)sh->n_embd;
  d.F = (uint64_t)sh->n_ff;
  d.V = (uint64_t)sh->n_vocab;
  d.hd = sh->head_dim ? (uint64_t)sh->head_dim : d.E / (uint64_t)sh->n_head;
  d.Q = d.hd * (uint64_t)sh->n_head;
  d.KV = d.hd * (uint64_t)sh->n_head_kv;
  d.rot = sh->rope_dims ? (uint64_t)sh->rope_dims : d.hd;
  return d;
}

/* Tensors per block at most, and outside the blocks. */
#define MAX_LAYER_TENSORS 16
#define MAX_OTHER_TENSORS 5

/* The tensors of block l, as llama.cpp's loader expects them for the shape's
 * architecture; a fused attn_qkv gets attn_v's type rules, as llama-quantize
 * gives it. */
static void plan_layer(const eco_synth_shape *sh, const mix *mx, int l, tdesc *ts, int *nt) {
  const dims d = dims_of(sh);
  const int nl = sh->n_layer, gqa = sh->n_head / sh->n_head_kv;
  const bool tied = sh->tied != 0, qwen2 = strcmp(sh->arch, "qwen2") == 0,
             phi3 = strcmp(sh->arch, "phi3") == 0, gemma = strncmp(sh->arch, "gemma", 5) == 0,
             qk_norm = strcmp(sh->arch, "qwen3") == 0 || strcmp(sh->arch, "gemma3") == 0;
  char n[64];
#define W(suffix, c, a, b)                                                                         \
  (snprintf(n, sizeof n, "blk.%d.%s", l, suffix),                                                  \
   add_t(ts, nt, n, 2, a, b, pick_type(mx, c, a, l, nl, gqa, tied), FILL_RAND))
#define V1(suffix, a, how)                                                                         \
  (snprintf(n, sizeof n, "blk.%d.%s", l, suffix), add_t(ts, nt, n, 1, a, 1, ECO_GGML_F32, how))
  V1("attn_norm.weight", d.E, FILL_NORM);
  if (phi3) {
    W("attn_qkv.weight", CAT_ATTN_V, d.E, d.Q + 2 * d.KV);
  } else {
    W("attn_q.weight", CAT_ATTN_Q, d.E, d.Q);
    W("attn_k.weight", CAT_ATTN_K, d.E, d.KV);
    W("attn_v.weight", CAT_ATTN_V, d.E, d.KV);
  }
  if (qwen2) {
    V1("attn_q.bias", d.Q, FILL_RAND);
    V1("attn_k.bias", d.KV, FILL_RAND);
    V1("attn_v.bias", d.KV, FILL_RAND);
  }
  if (qk_norm) {
    V1("attn_q_norm.weight", d.hd, FILL_NORM);
    V1("attn_k_norm.weight", d.hd, FILL_NORM);
  }
  W("attn_output.weight", CAT_ATTN_OUT, d.Q, d.E);
  if (gemma) V1("post_attention_norm.weight", d.E, FILL_NORM);
  V1("ffn_norm.weight", d.E, FILL_NORM);
  if (phi3) {
    W("ffn_up.weight", CAT_FFN_UP, d.E, 2 * d.F);
  } else {
    W("ffn_gate.weight", CAT_FFN_GATE, d.E, d.F);
    W("ffn_up.weight", CAT_FFN_UP, d.E, d.F);
  }
  W("ffn_down.weight", CAT_FFN_DOWN, d.F, d.E);
  if (gemma) V1("post_ffw_norm.weight", d.E, FILL_NORM);
#undef W
#undef V1
}

/* The tensors of a shape in file order, with their types and offsets (ts:
 * MAX_OTHER_TENSORS + MAX_LAYER_TENSORS per layer). */
static int plan(const eco_synth_shape *sh, const mix *mx, tdesc *ts) {
  const dims d = dims_of(sh);
  const int nl = sh->n_layer, gqa = sh->n_head / sh->n_head_kv;
  const bool tied = sh->tied != 0 || strcmp(sh->arch, "gemma2") == 0; /* gemma2: always tied */
  int nt = 0;
  add_t(ts, &nt, "token_embd.weight", 2, d.E, d.V,
        pick_type(mx, CAT_TOKEN_EMBD, d.E, 0, nl, gqa, tied), FILL_RAND);
  add_t(ts, &nt, "output_norm.weight", 1, d.E, 1, ECO_GGML_F32, FILL_NORM);
  if (!tied)
    add_t(ts, &nt, "output.weight", 2, d.E, d.V, pick_type(mx, CAT_OUTPUT, d.E, 0, nl, gqa, tied),
          FILL_RAND);
  if (sh->n_ctx_orig) {
    add_t(ts, &nt, "rope_factors_long.weight", 1, d.rot / 2, 1, ECO_GGML_F32, FILL_ROPE_LONG);
    add_t(ts, &nt, "rope_factors_short.weight", 1, d.rot / 2, 1, ECO_GGML_F32, FILL_ROPE_SHORT);
  }
  for (int l = 0; l < nl; l++)
    plan_layer(sh, mx, l, ts, &nt);
  uint64_t off = 0;
  for (int i = 0; i < nt; i++) {
    ts[i].offset = off;
    off += (ts[i].bytes + ALIGN - 1) / ALIGN * ALIGN;
  }
  return nt;
}

static tdesc *alloc_plan(const eco_synth_shape *sh) {
  return calloc(MAX_OTHER_TENSORS + (size_t)sh->n_layer * MAX_LAYER_TENSORS, sizeof(tdesc));
}

int eco_synth_types(const eco_synth_shape *sh, const char *type, eco_synth_tensor_type *out,
                    int cap, eco_error *err) {
  const mix *mx = find_mix(type);
  if (!mx) return eco_error_set(err, ECO_EINVAL, "synth: unknown type '%s' (%s)", type, TYPES);
  tdesc *ts = alloc_plan(sh);
  if (!ts) return eco_error_set(err, ECO_ENOMEM, "synth: out of memory");
  const int nt = plan(sh, mx, ts);
  for (int i = 0; i < nt && i < cap; i++) {
    snprintf(out[i].name, sizeof out[i].name, "%s", ts[i].name);
    out[i].type = ts[i].type;
  }
  free(ts);
  return nt;
}

/* The architecture's metadata; returns the number of keys written. */
static int put_arch_meta(eco_strbuf *h, const eco_synth_shape *sh) {
  const dims d = dims_of(sh);
  char key[128];
  int n = 0;
#define AK(s) (snprintf(key, sizeof key, "%s.%s", sh->arch, s), n++, key)
  kv_u32(h, AK("context_length"), (uint32_t)sh->n_ctx);
  kv_u32(h, AK("embedding_length"), (uint32_t)d.E);
  kv_u32(h, AK("block_count"), (uint32_t)sh->n_layer);
  kv_u32(h, AK("feed_forward_length"), (uint32_t)d.F);
  kv_u32(h, AK("attention.head_count"), (uint32_t)sh->n_head);
  kv_u32(h, AK("attention.head_count_kv"), (uint32_t)sh->n_head_kv);
  kv_f32(h, AK("attention.layer_norm_rms_epsilon"), sh->rms_eps);
  kv_f32(h, AK("rope.freq_base"), sh->rope_base);
  if (sh->head_dim) {
    kv_u32(h, AK("attention.key_length"), (uint32_t)d.hd);
    kv_u32(h, AK("attention.value_length"), (uint32_t)d.hd);
  }
  if (sh->rope_dims) kv_u32(h, AK("rope.dimension_count"), (uint32_t)d.rot);
  if (sh->n_swa) kv_u32(h, AK("attention.sliding_window"), (uint32_t)sh->n_swa);
  if (sh->swa_pattern) kv_u32(h, AK("attention.sliding_window_pattern"), (uint32_t)sh->swa_pattern);
  if (sh->rope_base_swa > 0) kv_f32(h, AK("rope.freq_base_swa"), sh->rope_base_swa);
  if (sh->rope_scale > 0) {
    kv_str(h, AK("rope.scaling.type"), "linear");
    kv_f32(h, AK("rope.scaling.factor"), sh->rope_scale);
  }
  if (sh->attn_softcap > 0) kv_f32(h, AK("attn_logit_softcapping"), sh->attn_softcap);
  if (sh->final_softcap > 0) kv_f32(h, AK("final_logit_softcapping"), sh->final_softcap);
  if (sh->n_ctx_orig) { /* as llama.cpp's converter writes LongRoPE */
    kv_u32(h, AK("rope.scaling.original_context_length"), (uint32_t)sh->n_ctx_orig);
    const double scale = (double)sh->n_ctx / sh->n_ctx_orig;
    const double af = scale > 1.0 ? sqrt(1.0 + log(scale) / log((double)sh->n_ctx_orig)) : 1.0;
    kv_f32(h, AK("rope.scaling.attn_factor"), (float)af);
  }
#undef AK
  return n;
}

/* The synthetic SentencePiece vocabulary (7 keys). phi3 files end with
 * Phi-3's <|endoftext|> control token, which llama.cpp's loader looks up
 * for models named phi3. */
static void put_vocab(eco_strbuf *h, uint64_t V, bool eot) {
  kv_str(h, "tokenizer.ggml.model", "llama");
  kv_u32(h, "tokenizer.ggml.bos_token_id", 1);
  kv_u32(h, "tokenizer.ggml.eos_token_id", 2);
  kv_u32(h, "tokenizer.ggml.unknown_token_id", 0);
  /* tokens, scores, token types */
  kv_key(h, "tokenizer.ggml.tokens", ECO_GGUF_ARRAY);
  put_u32(h, ECO_GGUF_STRING);
  put_u64(h, V);
  for (uint64_t i = 0; i < V; i++) {
    char s[32];
    size_t n;
    if (i == 0)
      n = (size_t)snprintf(s, sizeof s, "<unk>");
    else if (i == 1)
      n = (size_t)snprintf(s, sizeof s, "<s>");
    else if (i == 2)
      n = (size_t)snprintf(s, sizeof s, "</s>");
    else if (i < 259)
      n = (size_t)snprintf(s, sizeof s, "<0x%02X>", (unsigned)(i - 3));
    else if (eot && i == V - 1)
      n = (size_t)snprintf(s, sizeof s, "<|endoftext|>");
    else {
      /* "\u2581" + letters for even k, letters alone for odd k: all unique */
      uint64_t k = i - 259;
      n = 0;
      if (k % 2 == 0) {
        memcpy(s, "\xe2\x96\x81", 3);
        n = 3;
      }
      k /= 2;
      do {
        s[n++] = (char)('a' + k % 26);
        k /= 26;
      } while (k && n < 30);
    }
    put_str(h, s, n);
  }
  kv_key(h, "tokenizer.ggml.scores", ECO_GGUF_ARRAY);
  put_u32(h, ECO_GGUF_FLOAT32);
  put_u64(h, V);
  for (uint64_t i = 0; i < V; i++) {
    float sc = i < 259 ? 0.f : -(float)(i - 259);
    put(h, &sc, 4);
  }
  kv_key(h, "tokenizer.ggml.token_type", ECO_GGUF_ARRAY);
  put_u32(h, ECO_GGUF_INT32);
  put_u64(h, V);
  for (uint64_t i = 0; i < V; i++) {
    int32_t t = i == 0 ? 2 : i < 3 || (eot && i == V - 1) ? 3 : i < 259 ? 6 : 1;
    put(h, &t, 4);
  }
}

/* GGUF header, metadata and tensor infos, padded to ALIGN. */
static void put_header(eco_strbuf *out, const eco_synth_shape *sh, const mix *mx, const tdesc *ts,
                       int nt) {
  eco_strbuf meta;
  eco_sb_init(&meta);
  kv_str(&meta, "general.architecture", sh->arch);
  kv_str(&meta, "general.name", sh->name);
  kv_u32(&meta, "general.file_type", mx->ftype);
  kv_u32(&meta, "general.quantization_version", 2);
  const int n_kv = 4 + put_arch_meta(&meta, sh) + 7;
  put_vocab(&meta, (uint64_t)sh->n_vocab, strcmp(sh->arch, "phi3") == 0);
  put(out, "GGUF", 4);
  put_u32(out, 3);
  put_u64(out, (uint64_t)nt);
  put_u64(out, (uint64_t)n_kv);
  put(out, meta.data, meta.len);
  if (meta.oom) out->oom = true;
  eco_sb_free(&meta);
  for (int i = 0; i < nt; i++) {
    put_str(out, ts[i].name, strlen(ts[i].name));
    put_u32(out, (uint32_t)ts[i].n_dims);
    for (int d = 0; d < ts[i].n_dims; d++)
      put_u64(out, ts[i].ne[d]);
    put_u32(out, (uint32_t)ts[i].type);
    put_u64(out, ts[i].offset);
  }
  while (out->len % ALIGN)
    put(out, "", 1);
}

static float value(fill how, uint64_t *rng) {
  const float u = (float)(xs64(rng) >> 40) * (2.0f / 16777216.0f) - 1.0f;
  switch (how) {
  case FILL_NORM: return 1.0f + 0.1f * u;
  case FILL_ROPE_SHORT: return 1.0f + 0.2f * u;
  case FILL_ROPE_LONG: return 1.0f + 3.0f * (u + 1.0f);
  default: return 0.03f * u;
  }
}

/* The tensor data, in plan order. */
static int put_data(FILE *f, const tdesc *ts, int nt, uint64_t seed, eco_error *err) {
  uint64_t max_ne0 = 1;
  for (int i = 0; i < nt; i++)
    if (ts[i].ne[0] > max_ne0) max_ne0 = ts[i].ne[0];
  float *row = malloc(max_ne0 * sizeof *row);
  uint8_t *q = malloc(max_ne0 * 4 + 64);
  if (!row || !q) {
    free(row);
    free(q);
    return eco_error_set(err, ECO_ENOMEM, "synth: out of memory");
  }
  uint64_t rng = seed * 0x9E3779B97F4A7C15ULL + 1;
  for (int i = 0; i < nt; i++) {
    const tdesc *d = &ts[i];
    const size_t rb = eco_quant_row_bytes(d->type, (int64_t)d->ne[0]);
    for (uint64_t r = 0; r < d->ne[1]; r++) {
      for (uint64_t j = 0; j < d->ne[0]; j++)
        row[j] = value(d->how, &rng);
      eco_quantize_row(d->type, row, q, (int64_t)d->ne[0]);
      fwrite(q, 1, rb, f);
    }
    static const char zeros[ALIGN] = {0};
    const uint64_t pad = (ALIGN - d->bytes % ALIGN) % ALIGN;
    fwrite(zeros, 1, (size_t)pad, f); /* the last tensor too, as gguf-py does */
  }
  free(row);
  free(q);
  return 0;
}

int eco_synth_write(const eco_synth_shape *sh, const char *type, const char *path, uint64_t seed,
                    eco_error *err) {
  const mix *mx = find_mix(type);
  if (!mx) return eco_error_set(err, ECO_EINVAL, "synth: unknown type '%s' (%s)", type, TYPES);
  int rc = 0;
  tdesc *ts = alloc_plan(sh);
  if (!ts) return eco_error_set(err, ECO_ENOMEM, "synth: out of memory");
  const int nt = plan(sh, mx, ts);
  eco_strbuf h;
  eco_sb_init(&h);
  put_header(&h, sh, mx, ts, nt);
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = NULL;
  if (h.oom) {
    rc = eco_error_set(err, ECO_ENOMEM, "synth: out of memory for the header");
    goto out;
  }
  f = fopen(tmp, "wb");
  if (!f) {
    rc = eco_error_set(err, eco_status_from_errno(errno), "synth: cannot write '%s': %s", tmp,
                       strerror(errno));
    goto out;
  }
  fwrite(h.data, 1, h.len, f);
  if ((rc = put_data(f, ts, nt, seed, err))) goto out;
  if (ferror(f) || fclose(f) != 0) {
    f = NULL;
    rc = eco_error_set(err, ECO_EIO, "synth: write to '%s' failed", tmp);
    goto out;
  }
  f = NULL;
  if (rename(tmp, path) != 0)
    rc = eco_error_set(err, eco_status_from_errno(errno), "synth: cannot rename to '%s'", path);
out:
  if (f) fclose(f);
  if (rc) unlink(tmp);
  free(ts);
  eco_sb_free(&h);
  return rc;
}
