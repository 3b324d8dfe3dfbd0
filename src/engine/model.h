/* ecoinfer: transformer models on the CPU (architectures: see arch.h).
 *
 * Lifecycle:
 *   eco_model_load(path)          GGUF (mmap, weights used in place) or a
 *                                 llama2.c .bin checkpoint (F32)
 *   eco_ctx_new(model, threads)   thread pool + scratch for a token batch
 *   eco_kv_new(model, n_ctx)      one KV cache per sequence, preallocated
 *                                 for n_ctx positions (sliding-window
 *                                 layers: for their window only)
 *   eco_forward(ctx, batch, out)  one pass over the weights for a batch of
 *                                 tokens that may belong to several
 *                                 sequences (each token names its KV cache)
 *
 * One forward pass serves every architecture: what a layer contains (q/k
 * norms, post-norms, fused matrices, a sliding window) is data in eco_layer
 * and eco_hparams, filled at load time from arch.c's table and the file's
 * metadata.
 *
 * Numerics follow llama.cpp's CPU backend: activations are converted to the
 * weight's activation type before each matmul (quant.h); norms, RoPE,
 * attention, activations and residuals are F32, except GELU, which goes
 * through F16 as ggml's table does.
 */
#ifndef ECO_ENGINE_MODEL_H
#define ECO_ENGINE_MODEL_H

#include "engine/gguf.h"
#include "engine/kernels.h"
#include "util/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum eco_arch {
  ECO_ARCH_LLAMA = 0,
  ECO_ARCH_QWEN2 = 1,
  ECO_ARCH_QWEN3 = 2,
  ECO_ARCH_GEMMA2 = 3,
  ECO_ARCH_GEMMA3 = 4,
  ECO_ARCH_PHI3 = 5,
} eco_arch;
typedef enum eco_rope_type { ECO_ROPE_NORM = 0, ECO_ROPE_NEOX = 2 } eco_rope_type;
/* Feed-forward activation: SwiGLU (silu(gate) * up) or GeGLU with the tanh
 * approximation of GELU (gelu(gate) * up). */
typedef enum eco_ffn_act { ECO_ACT_SILU = 0, ECO_ACT_GELU = 1 } eco_ffn_act;

#define ECO_MAX_LAYERS 4096

typedef struct eco_hparams {
  eco_arch arch;
  char arch_name[32];    /* general.architecture ("llama", "qwen2", ...) */
  int n_vocab;           /* tokens (rows of token_embd) */
  int n_embd;            /* model width */
  int n_ff;              /* feed-forward width */
  int n_layer;           /* transformer blocks */
  int n_head;            /* query heads */
  int n_head_kv;         /* key/value heads (GQA: n_head % n_head_kv == 0) */
  int head_dim;          /* n_embd / n_head unless attention.key_length says */
  int n_ctx_train;       /* context_length from metadata (positions) */
  float rms_eps;         /* RMSNorm epsilon */
  float rope_base;       /* rope.freq_base */
  float rope_freq_scale; /* 1 / linear scaling factor (1 = none) */
  int rope_dims;         /* rotated dimensions per head (<= head_dim) */
  eco_rope_type rope_type;
  bool tied_output; /* output projection = token_embd */
  /* what differs between architectures (arch.c) */
  eco_ffn_act act;
  float embd_scale;          /* token embeddings are multiplied by it (gemma: sqrt(n_embd)) */
  float attn_scale;          /* query scale (1/sqrt(head_dim) unless the architecture says) */
  float attn_softcap;        /* scores -> c * tanh(scores / c) before softmax; 0 = none */
  float final_softcap;       /* logits -> c * tanh(logits / c); 0 = none */
  int n_swa;                 /* positions a sliding-window layer sees (itself included); 0 = none */
  float rope_base_swa;       /* rope.freq_base of sliding-window layers */
  float rope_freq_scale_swa; /* 1 / linear scaling of sliding-window layers */
  float rope_attn_factor;    /* multiplies RoPE's cos and sin (LongRoPE); 1 = none */
  int n_ctx_orig;            /* rope.scaling.original_context_length (positions): a cache
                                longer than this uses the long LongRoPE factors */
  uint64_t swa_layers[ECO_MAX_LAYERS / 64]; /* bit l set: layer l uses the sliding window */
} eco_hparams;

/* Whether layer l of h uses the sliding window. */
static inline bool eco_hparams_is_swa(const eco_hparams *h, int l) {
  return h->n_swa > 0 && (h->swa_layers[l / 64] >> (l % 64) & 1u);
}

/* A weight matrix [rows][cols], row-major, rows of `type` blocks. */
typedef struct eco_weight {
  eco_ggml_type type;
  int64_t rows, cols;
  size_t row_bytes;
  const void *data; /* [rows][row_bytes], plain layout (usually in the file mapping) */
  void *packed;     /* [ceil(rows/8)] 8-row interleaved groups (pack.h), in the model's
                       pack arena; NULL = the kernels use `data` */
} eco_weight;

/* One transformer block. Optional parts are NULL (vectors) or have
 * data == NULL (matrices). */
typedef struct eco_layer {
  const float *attn_norm;       /* [n_embd] */
  eco_weight wq;                /* [n_head*head_dim][n_embd] */
  eco_weight wk, wv;            /* [n_head_kv*head_dim][n_embd] */
  eco_weight wqkv;              /* fused [q; k; v] rows (phi3), then wq/wk/wv are empty */
  const float *bqkv;            /* [rows of wqkv] bias of the fused matrix, or NULL */
  eco_weight wo;                /* [n_embd][n_head*head_dim] */
  const float *bq, *bk, *bv;    /* q/k/v biases (qwen2), or NULL */
  const float *q_norm, *k_norm; /* [head_dim] per-head RMSNorm (qwen3, gemma3), or NULL */
  const float *attn_post_norm;  /* [n_embd] norm of the attention output (gemma), or NULL */
  const float *ffn_norm;        /* [n_embd] */
  eco_weight w_gate;            /* [n_ff][n_embd]; empty when w_up is fused */
  eco_weight w_up;              /* [n_ff][n_embd], or [2*n_ff][n_embd] = [gate; up] (phi3) */
  eco_weight w_down;            /* [n_embd][n_ff] */
  const float *ffn_post_norm;   /* [n_embd] norm of the FFN output (gemma), or NULL */
  bool swa;                     /* sliding-window layer (hparams.n_swa) */
} eco_layer;

typedef struct eco_model {
  eco_hparams hp;
  eco_weight tok_embd;     /* [n_vocab][n_embd] */
  const float *out_norm;   /* [n_embd] */
  eco_weight output;       /* [n_vocab][n_embd] (= tok_embd when tied) */
  const float *rope_freqs; /* [rope_dims/2] Llama-3 frequency factors, or NULL */
  const float *rope_long;  /* [rope_dims/2] LongRoPE factors past n_ctx_orig, or NULL */
  const float *rope_short; /* [rope_dims/2] LongRoPE factors up to n_ctx_orig, or NULL */
  uint16_t *gelu_f16;      /* [65536] GELU of every F16 value, as F16 (ECO_ACT_GELU), or NULL */
  eco_layer *layers;       /* [n_layer] */
  eco_gguf *gguf;          /* the GGUF file (metadata for the tokenizer), NULL for .bin */
  void *map;               /* llama2.c mapping */
  size_t map_size;
  float *owned;                    /* norm vectors converted to F32 */
  uint64_t weight_bytes;           /* bytes of all weight tensors */
  uint64_t weight_bytes_per_token; /* bytes read per decoded token (all matrices + 1 embd row) */
  char file_type[16];              /* "F32", "Q4_K_M"-like description of the main type */
  uint64_t packed_bytes;           /* bytes of repacked weights (owned copies) */
  void *pack_arena;                /* mapping that holds every packed weight, or NULL */
  size_t pack_arena_len;           /* bytes */
} eco_model;

/* Load options (zero = defaults). */
typedef struct eco_model_opts {
  bool no_repack; /* keep every weight in its file layout (A/B measurements) */
} eco_model_opts;

/* Loads a GGUF file or a llama2.c checkpoint (.bin). Unsupported
 * architectures and tensor types are refused with ECO_EUNSUPPORTED and a
 * message naming them. Q8_0 and Q4_0 matrices are repacked into the 8-row
 * interleaved layout (pack.h) when this CPU has packed kernels for them; the
 * file pages they came from are released, so resident memory stays about
 * the size of the weights. When the memory for the packed copy cannot be
 * had, the model keeps the file layout (packed_bytes == 0). */
int eco_model_load(const char *path, eco_model **out, eco_error *err);
int eco_model_load_opts(const char *path, const eco_model_opts *opts, eco_model **out,
                        eco_error *err);
void eco_model_free(eco_model *m);

/* KV cache of one sequence. Layer l holds len[l] positions: n_ctx, or for
 * a sliding-window layer min(n_ctx, n_swa + slack) (ECO_SWA_SLACK unless
 * eco_kv_opts says otherwise), used as a ring
 * (position p in slot p % len[l]). k and v are, per layer l from off[l]
 * (elements), [n_head_kv][len[l]][head_dim] (head-major, so attention
 * streams one head's positions contiguously); F32 (as llama.cpp's
 * references are made) or F16 (half the memory and the attention traffic;
 * llama.cpp's default). */
typedef struct eco_kv {
  int n_ctx;          /* positions it can hold */
  int n_layer;        /* layers */
  int kv_dim;         /* n_head_kv * head_dim */
  int n_head_kv;      /* KV heads */
  int n_past;         /* positions filled so far (updated by eco_forward) */
  eco_ggml_type type; /* ECO_GGML_F32 or ECO_GGML_F16 */
  void *k, *v;        /* float or uint16_t (IEEE half) elements */
  int *len;           /* [n_layer] positions layer l holds */
  size_t *off;        /* [n_layer] first element of layer l in k and v */
  int n_swa;          /* the model's sliding window (0 = none) */
  int ring;           /* positions of a bounded sliding-window layer (= n_ctx: none bounded) */
  int swa_slack;      /* ring - n_swa when bounded */
  int scan_lo;        /* eco_forward's scratch */
} eco_kv;

/* Positions beyond the window that a bounded sliding-window layer keeps, so
 * that one forward chunk can write up to this many positions of a sequence
 * before its attention reads them (eco_forward splits larger chunks). */
#define ECO_SWA_SLACK 512

/* The cache type of the product's sequences (run, serve, bench batch and
 * the engine's model adapter) unless a setting names one: F16, as
 * llama.cpp's (and vLLM's) default, for half the KV memory per sequence (a
 * KV budget admits twice the sequences) and half the attention traffic.
 * eco_kv_new stays F32, the type llama.cpp's references are made with. */
#define ECO_KV_TYPE_DEFAULT ECO_GGML_F16

/* Bytes an n_ctx cache needs (F32, or the given element type). */
uint64_t eco_kv_bytes(const eco_model *m, int n_ctx);
uint64_t eco_kv_bytes_type(const eco_model *m, int n_ctx, eco_ggml_type type);
/* An F32 cache, or one of `type` (F32 or F16; other types: ECO_EINVAL). */
int eco_kv_new(const eco_model *m, int n_ctx, eco_kv **out, eco_error *err);
/* "f32" or "f16" (also upper case) -> the cache type; ECO_EINVAL otherwise. */
int eco_kv_type_parse(const char *s, eco_ggml_type *out);
/* The inverse: "f16" for ECO_GGML_F16, else "f32" (the spelling the options take). */
const char *eco_kv_type_name(eco_ggml_type type);
int eco_kv_new_type(const eco_model *m, int n_ctx, eco_ggml_type type, eco_kv **out,
                    eco_error *err);
/* All the options (zero = defaults). */
typedef struct eco_kv_opts {
  eco_ggml_type type; /* ECO_GGML_F32 (0) or ECO_GGML_F16 */
  int swa_slack;      /* positions a bounded sliding-window layer keeps beyond the window
                         (0 = ECO_SWA_SLACK); eco_forward then writes at most this many
                         positions of the sequence per chunk */
  bool swa_unbounded; /* sliding-window layers keep every position, as others do */
} eco_kv_opts;
int eco_kv_new_opts(const eco_model *m, int n_ctx, const eco_kv_opts *o, eco_kv **out,
                    eco_error *err);
void eco_kv_free(eco_kv *kv);
/* Forgets positions >= n (no change when n >= n_past). A cache whose
 * sliding-window layers are bounded keeps only the last positions of those
 * layers: going back further than its slack (ECO_SWA_SLACK: the next token
 * would need positions already overwritten) fails with ECO_ESTATE and
 * changes nothing. */
int eco_kv_truncate(eco_kv *kv, int n);
/* Positions [pos, pos + n) of every layer and KV head, K then V, packed
 * into n * eco_kv_bytes_type(m, 1, kv->type) bytes at dst (the prefix
 * cache's block format), and back. copy_out needs pos + n <= n_past;
 * copy_in needs pos <= n_past and pos + n <= n_ctx, and extends n_past to
 * pos + n. ECO_EINVAL otherwise (nothing copied). A bounded sliding-window
 * layer no longer holds positions more than its length below n_past:
 * copying them out fails with ECO_ESTATE (nothing copied); copying in
 * writes each position to its ring slot, so loading a prefix in order
 * leaves the ring as running the prefix would. */
int eco_kv_copy_out(const eco_kv *kv, int pos, int n, void *dst);
int eco_kv_copy_in(eco_kv *kv, int pos, int n, const void *src);

typedef struct eco_ctx eco_ctx;

/* n_threads >= 1; max_batch = tokens per internal chunk (larger batches
 * are split). level: SIMD cap (ECO_SIMD_AVX512 = best available). */
int eco_ctx_new(const eco_model *m, int n_threads, int max_batch, eco_ctx **out, eco_error *err);
void eco_ctx_free(eco_ctx *c);
/* Overrides the kernel variant (tests): must not exceed what the CPU has. */
void eco_ctx_set_simd(eco_ctx *c, eco_simd_level level);
eco_simd_level eco_ctx_simd(const eco_ctx *c);
/* Overrides (benchmarks, tests) the smallest packed group, in bytes, that
 * batches of 2..7 rows run two groups at a time through the two-group
 * kernels (wider batches always do; results are bit-identical either way,
 * only the speed differs). 0 restores the default, ECO_PAIR_MIN_GROUP_BYTES. */
#define ECO_PAIR_MIN_GROUP_BYTES 12288
void eco_ctx_set_pair_min(eco_ctx *c, size_t bytes);
size_t eco_ctx_pair_min(const eco_ctx *c);

/* A batch of tokens. Tokens of one sequence appear in increasing position
 * order; a token at position p attends to positions 0..p of its own cache
 * (p - n_swa + 1..p in a sliding-window layer), which must already hold
 * them (earlier calls or earlier in the batch). */
typedef struct eco_batch {
  int n;                 /* tokens */
  const int32_t *token;  /* [n] token ids */
  const int32_t *pos;    /* [n] positions in their sequences */
  eco_kv *const *kv;     /* [n] cache of each token's sequence */
  const uint8_t *logits; /* [n] nonzero = produce logits; NULL = only the last token */
} eco_batch;

/* Runs the batch. Writes one row of n_vocab logits to `logits` (may be NULL:
 * none are computed) for each token that asked for them, in batch order
 * ([n_out][n_vocab]). Fails with ECO_ECONTEXT when a position is >= its
 * cache's n_ctx, ECO_EINVAL for a token id out of range, ECO_ESTATE for a
 * position that a bounded sliding-window cache can no longer rewrite
 * (more than its slack below n_past: truncate first). */
int eco_forward(eco_ctx *c, const eco_batch *b, float *logits, eco_error *err);

/* Convenience for one sequence: feeds tokens[0..n) at positions
 * kv->n_past.. and writes the logits of the last one ([n_vocab]). */
int eco_forward_seq(eco_ctx *c, eco_kv *kv, const int32_t *tokens, int n, float *logits,
                    eco_error *err);

#endif
