/* ecoinfer: a loaded eco_model as the batching engine's model
 * (eco_engine_model_ops): one KV cache per engine slot, allocated at
 * admission for exactly the request's reservation; forward passes built
 * from the scheduler's items; llama.cpp-compatible sampling (sampler.h). */
#ifndef ECO_ENGINE_ENGINE_MODEL_H
#define ECO_ENGINE_ENGINE_MODEL_H

#include "engine/engine.h"
#include "engine/model.h"

typedef struct eco_engine_model eco_engine_model;

/* n_threads: forward-pass threads; max_slots: engine max_batch; max_tokens:
 * most tokens one step may carry (the scheduler's step_tokens). The model
 * must outlive the adapter. */
int eco_engine_model_new(const eco_model *m, int n_threads, uint32_t max_slots, uint32_t max_tokens,
                         eco_engine_model **out, eco_error *err);
void eco_engine_model_free(eco_engine_model *em);
/* KV cache element type: ECO_GGML_F32 (default) or ECO_GGML_F16, which
 * halves the bytes per position, so a KV budget admits twice the
 * sequences. Set it before eco_engine_model_ops_fill. ECO_EINVAL for other
 * types. */
int eco_engine_model_set_kv_type(eco_engine_model *em, eco_ggml_type type);

/* Fills ops for this adapter (pass em as the engine's model pointer).
 * n_ctx: context length to serve (<= the model's training context, or
 * the model's if 0). */
void eco_engine_model_ops_fill(const eco_engine_model *em, uint32_t n_ctx,
                               eco_engine_model_ops *ops);

#endif
