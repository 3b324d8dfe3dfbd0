/* ecoinfer: synthetic GGUF models (random weights, real shapes) for speed
 * measurements without downloading models.
 *
 * Files follow the GGUF v3 spec and llama.cpp's tensor names and metadata
 * keys (u32 integers, f32 floats) for the shape's architecture (arch.h:
 * q/k norms for qwen3 and gemma3, post-norms for gemma, fused qkv and
 * gate/up plus LongRoPE factors for phi3), with a SentencePiece-style ("llama")
 * tokenizer of n_vocab synthetic pieces (<unk>, <s>, </s>, 256 byte tokens,
 * then letter strings). Each 2-D weight gets the type llama.cpp's
 * llama-quantize gives it for the mix (its llama_tensor_get_type: the mix's
 * base type, more bits for attn_v / ffn_down / attn_output / output where
 * the mix says so, the output type for tied embeddings, and the fallbacks
 * for rows that are not a multiple of 256: IQ4_XS -> IQ4_NL, Q2_K/Q3_K ->
 * Q4_0, Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0). Mixes: f16, q8_0, q4_0,
 * q5_0, q5_1, q2_k, q3_k_m, q4_k_m, q5_k_m, q6_k, iq4_nl, iq4_xs.
 * tests/fixtures/llama/mixes.json holds llama-quantize's own choices for the
 * real shapes, which tests/test_synth_mix.c compares with these. A fused
 * attn_qkv (phi3) follows attn_v's rules, as llama-quantize's do. Norm
 * weights are 1 + 0.1 u (u uniform in [-1, 1]), so that a test notices a
 * norm that is not applied; LongRoPE factors are 1 + 0.2 u (short) and
 * 1 + 3 (u + 1) (long).
 */
#ifndef ECO_ENGINE_SYNTH_H
#define ECO_ENGINE_SYNTH_H

#include "engine/gguf.h"
#include "util/status.h"

#include <stddef.h>
#include <stdint.h>

typedef struct eco_synth_shape {
  const char *name; /* "smollm2-135m" */
  const char *arch; /* "llama" | "qwen2" | "qwen3" | "gemma2" | "gemma3" | "phi3" */
  int n_vocab, n_embd, n_ff, n_layer, n_head, n_head_kv, n_ctx;
  float rope_base, rms_eps;
  int tied; /* output projection = token_embd */
  /* architecture extras; 0 = the key is not written (llama.cpp's default) */
  int head_dim;        /* attention.key_length/value_length (0: n_embd / n_head) */
  int rope_dims;       /* rope.dimension_count (partial rotation) */
  int n_swa;           /* attention.sliding_window */
  int swa_pattern;     /* attention.sliding_window_pattern */
  float rope_base_swa; /* rope.freq_base_swa */
  float rope_scale;    /* rope.scaling.type linear, rope.scaling.factor */
  float attn_softcap;  /* attn_logit_softcapping */
  float final_softcap; /* final_logit_softcapping */
  int n_ctx_orig;      /* LongRoPE (phi3): rope.scaling.original_context_length, the
                          rope_factors_short/long tensors and rope.scaling.attn_factor */
} eco_synth_shape;

/* NULL if unknown. Known: see eco_synth_shape_names. */
const eco_synth_shape *eco_synth_find_shape(const char *name);
/* The shape names, ", "-separated (real models first, then the tiny test-*
 * shapes of the test fixtures), into buf (cut to cap bytes). */
void eco_synth_shape_names(char *buf, size_t cap);
/* type: one of the mixes above; ECO_EINVAL otherwise. */
int eco_synth_write(const eco_synth_shape *shape, const char *type, const char *path, uint64_t seed,
                    eco_error *err);

typedef struct eco_synth_tensor_type {
  char name[64];      /* "blk.0.attn_v.weight" */
  eco_ggml_type type; /* F32 for 1-D tensors */
} eco_synth_tensor_type;

/* The tensors eco_synth_write would write for (shape, type), in file order,
 * with their types: fills up to cap entries, returns the tensor count (or a
 * negative ECO_E* code). */
int eco_synth_types(const eco_synth_shape *shape, const char *type, eco_synth_tensor_type *out,
                    int cap, eco_error *err);

#endif
