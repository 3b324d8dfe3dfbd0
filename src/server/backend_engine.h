/* ecoinfer: the real backend: a GGUF model served by the batching engine
 * (engine/engine.h) behind the server's eco_backend vtable.
 *
 * Chat requests are rendered with the model's chat template (engine/chat.h)
 * and tokenized with special tokens parsed; completions are tokenized as
 * plain text with BOS as the model's metadata says. Sampling maps OpenAI's
 * temperature, top_p, top_k and seed; presence and frequency penalties are
 * mapped onto the engine's repetition penalty (1 + max(presence,
 * frequency) / 2, capped at 2) and documented as an approximation. */
#ifndef ECO_SERVER_BACKEND_ENGINE_H
#define ECO_SERVER_BACKEND_ENGINE_H

#include "server/backend.h"
#include "util/log.h"
#include "util/status.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct eco_backend_engine_cfg {
  const char *model_path;   /* GGUF file */
  const char *model_name;   /* id for /v1/models; NULL = file name */
  int threads;              /* forward-pass threads (0 = all cores) */
  uint32_t n_ctx;           /* context served, tokens (0 = model's, capped at 8192) */
  uint32_t max_batch;       /* sequences per step (default 4) */
  uint32_t max_queue;       /* waiting requests before 429 (default 64) */
  uint64_t kv_budget_bytes; /* KV budget (0 = half of available memory) */
  uint32_t prefill_chunk;   /* prompt tokens per sequence per step (default 128) */
  const char *kv_type;      /* KV cache element type: "f16" (default, NULL) or "f32" */
  uint32_t prefix_block;    /* tokens per prefix-cache block (0 = 16) */
  bool no_prefix_cache;     /* recompute every prompt (no KV reuse across requests) */
  const eco_logger *log;
} eco_backend_engine_cfg;

int eco_backend_engine_new(const eco_backend_engine_cfg *cfg, eco_backend *out, eco_error *err);

#endif
