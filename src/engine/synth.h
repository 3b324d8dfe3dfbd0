/* ecoinfer: synthetic GGUF models (random weights, real shapes) for speed
 * measurements without downloading models.
 *
 * Files follow the GGUF v3 spec and llama.cpp's tensor names and metadata
 * keys (u32 integers, f32 floats), with a SentencePiece-style ("llama")
 * tokenizer of n_vocab synthetic pieces (<unk>, <s>, </s>, 256 byte tokens,
 * then letter strings). Type mixes follow llama.cpp's file types:
 *   f16     2-D weights F16
 *   q8_0    2-D weights Q8_0
 *   q4_0    2-D weights Q4_0, output.weight Q6_K
 *   q4_k_m  2-D weights Q4_K; attn_v/ffn_down Q6_K on llama.cpp's "more bits"
 *           layers; output.weight Q6_K
 * A K-quant tensor whose rows are not a multiple of 256 falls back to Q4_0
 * (for Q4_K) or Q8_0 (for Q6_K), as llama.cpp falls back too.
 */
#ifndef ECO_ENGINE_SYNTH_H
#define ECO_ENGINE_SYNTH_H

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
/* "f16", "q8_0", "q4_0", "q4_k_m"; ECO_EINVAL otherwise. */
int eco_synth_write(const eco_synth_shape *shape, const char *type, const char *path, uint64_t seed,
                    eco_error *err);

#endif
