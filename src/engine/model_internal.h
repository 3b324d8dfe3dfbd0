/* ecoinfer: what the model's loading, repacking, KV-cache and forward-pass
 * files share (not a public header: engine files only). */
#ifndef ECO_ENGINE_MODEL_INTERNAL_H
#define ECO_ENGINE_MODEL_INTERNAL_H

#include "engine/model.h"

/* The 8 matrices of layer *y, as an array initializer (const or not); the
 * ones a layer lacks (fused q/k/v or gate/up) have data == NULL and no rows. */
#define LAYER_MATRICES(y)                                                                          \
  { &(y)->wq, &(y)->wk, &(y)->wv, &(y)->wqkv, &(y)->wo, &(y)->w_gate, &(y)->w_up, &(y)->w_down }
#define N_LAYER_MATRICES 8

/* Repacks every matrix this CPU has packed kernels for (model_pack.c); a
 * model whose packed copy cannot be allocated keeps its file layout. */
int eco_model_repack(eco_model *m, eco_error *err);

#endif
