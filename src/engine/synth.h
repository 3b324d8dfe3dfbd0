/* ecoinfer: synthetic GGUF models (random weights, real shapes) for speed
 * measurements without downloading models.
 *
 * Files follow the GGUF v3 spec and llama.cpp's tensor names and metadata
 * keys (u32 integers, f32 floats), with a SentencePiece-style ("llama")
 * tokenizer of n_vocab synthetic pieces (<unk>, <s>, </s>, 256 byte tokens,
 * then letter strings). Each 2-D weight gets the type llama.cpp's
 * llama-quantize gives it for the mix (its llama_tensor_get_type: the mix's
 * base type, more bits for attn_v / ffn_down / attn_output / output where
 * the mix says so, the output type for tied embeddings, and the fallbacks
 * for rows that are not a multiple of 256: IQ4_XS -> IQ4_NL, Q2_K/Q3_K ->
 * Q4_0, Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0). Mixes: f16, q8_0, q4_0,
 * q5_0, q5_1, q2_k, q3_k_m, q4_k_m, q5_k_m, q6_k, iq4_nl, iq4_xs.
 * tests/fixtures/llama/mixes.json holds llama-quantize's own choices for the
 * real shapes, which tests/test_synth_mix.c compares with these.
 */
#ifndef ECO_ENGINE_SYNTH_H
#define ECO_ENGINE_SYNTH_H

#include "engine/gguf.h"
#include "util/status.h"

#include <stdint.h>

typedef struct eco_synth_shape {
  const char *name; /* "smollm2-135m" */
  const char *arch; /* "llama" | "qwen2" */
  int n_vocab, n_embd, n_ff, n_layer, n_head, n_head_kv, n_ctx;
  float rope_base, rms_eps;
  int tied; /* output projection = token_embd */
} eco_synth_shape;

/* NULL if unknown. Known: smollm2-135m, qwen2.5-0.5b, tinyllama-1.1b, llama3.2-1b,
 * and the test-fixture shapes test-256 and test-128. */
const eco_synth_shape *eco_synth_find_shape(const char *name);
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
