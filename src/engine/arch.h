/* ecoinfer: the model architectures the engine runs, as data.
 *
 * Each architecture (GGUF general.architecture) is one row of a table: its
 * RoPE layout, FFN activation, which optional tensors its blocks carry, and
 * a hook that reads its own metadata keys (soft-capping, sliding windows,
 * attention scale). The loader binds tensors from the row, and the single
 * forward pass (forward.c) runs whatever parts a layer has. Keys and
 * defaults follow llama.cpp's loader (src/models/<arch>.cpp there):
 *
 *   llama   Llama 1-3, Mistral, SmolLM, TinyLlama: the base case. An
 *           optional llama.attention.sliding_window (Mistral-7B-v0.1's
 *           4096) is applied to every layer (or to the layers that
 *           attention.sliding_window_pattern names); llama.cpp ignores this
 *           key for `llama`, so past the window the two engines differ.
 *   qwen2   q/k/v biases.
 *   qwen3   per-head RMSNorm of q and k before RoPE (attn_q_norm,
 *           attn_k_norm).
 *   gemma2  embeddings * sqrt(n_embd); RMSNorm after attention and after
 *           the FFN as well as before; GeGLU (tanh GELU); attention logit
 *           soft-capping (attn_logit_softcapping, default 50) and final
 *           logit soft-capping (final_logit_softcapping, default 30);
 *           sliding-window attention (attention.sliding_window, default
 *           4096) on every other layer starting with layer 0
 *           (attention.sliding_window_pattern, default 2); tied output.
 *           Norm weights are stored as (1 + w) by the converter and used
 *           as stored.
 *   gemma3  gemma2 without the soft-capping (final only if the key is
 *           there), plus q/k norms; when attention.sliding_window is set,
 *           5 of every 6 layers slide (pattern default 6) and use
 *           rope.freq_base_swa (default 10000) with no RoPE scaling, while
 *           global layers use rope.freq_base and the file's scaling.
 *   phi3    fused attn_qkv and ffn_up = [gate; up]; LongRoPE: per-dimension
 *           factors rope_factors_short/long (long once the cache is longer
 *           than rope.scaling.original_context_length) and
 *           rope.scaling.attn_factor on cos/sin. Its sliding_window key is
 *           ignored, as llama.cpp does.
 */
#ifndef ECO_ENGINE_ARCH_H
#define ECO_ENGINE_ARCH_H

#include "engine/gguf.h"
#include "engine/model.h"

typedef struct eco_arch_desc {
  const char *name; /* general.architecture */
  eco_arch arch;
  eco_rope_type rope_type;
  eco_ffn_act act;
  bool qkv_bias;      /* attn_q/k/v.bias required */
  bool qk_norm;       /* attn_q_norm / attn_k_norm required */
  bool post_norms;    /* post_attention_norm / post_ffw_norm required */
  bool embd_scale;    /* embeddings * sqrt(n_embd) */
  bool fused_gate_up; /* ffn_up is [2*n_ff][n_embd] = [gate; up], no ffn_gate */
  bool tied_only;     /* the output projection is always token_embd */
  /* reads the architecture's own keys into h (common keys already read) */
  int (*hparams)(const eco_gguf *g, eco_hparams *h, eco_error *err);
} eco_arch_desc;

/* The row for general.architecture `name`, or NULL. */
const eco_arch_desc *eco_arch_find(const char *name);
/* "llama, qwen2, qwen3, gemma2, gemma3, phi3" */
const char *eco_arch_names(void);

/* Reads every hyperparameter of a GGUF file into h (n_vocab from
 * token_embd.weight) and checks them: an unknown architecture is
 * ECO_EUNSUPPORTED, a missing or out-of-range value ECO_EFORMAT, each with
 * a message naming the key. */
int eco_arch_load_hparams(const eco_gguf *g, eco_hparams *h, eco_error *err);
/* The checks alone (also for llama2.c checkpoints). */
int eco_arch_check_hparams(const eco_hparams *h, eco_error *err);

#endif
