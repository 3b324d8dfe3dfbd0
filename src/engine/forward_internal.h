/* ecoinfer: the forward pass's context, shared by forward.c (the layer
 * sequence), matmul.c (parallel matrix products) and attention.c (KV-cache
 * writes and attention). Engine files only. */
#ifndef ECO_ENGINE_FORWARD_INTERNAL_H
#define ECO_ENGINE_FORWARD_INTERNAL_H

#include "engine/kernels.h"
#include "engine/model.h"
#include "engine/pool.h"

#include <stdatomic.h>

#define MAX_JOBS 3

/* Makes rows [t0, t1) of the next matrix product's input (matmul.c runs it
 * in the product's pool job). */
typedef void (*eco_fwd_prep_fn)(eco_ctx *c, int t0, int t1);

typedef struct mm_job {
  const eco_weight *w;
  const uint8_t *act; /* [T] activation rows, act_stride bytes apart */
  size_t act_stride;
  int act_fmt;  /* activation format (matmul.c's act_format) */
  bool own_act; /* this job quantizes act (the first job of its format) */
  float *y;     /* [T][y_stride] */
  int y_stride;
  const float *bias;  /* [rows] or NULL */
  size_t group_bytes; /* bytes of one packed group (packed weights) */
} mm_job;

struct eco_ctx {
  const eco_model *m;
  eco_pool *pool;
  eco_kernels kern;
  int max_batch;
  int nth;
  size_t pair_min_bytes; /* bytes: two-group kernels from this group size (matmul.c) */
  /* scratch, sized for max_batch tokens */
  float *x, *xn, *q, *k, *v, *att;  /* [B][n_embd or n_head*head_dim or kv_dim] */
  float *qkv;                       /* [B][q + 2 kv] output of a fused qkv matrix, or NULL */
  float *gate, *up;                 /* [B][n_ff] ([B][2 n_ff] for a fused gate/up) */
  uint16_t *h16;                    /* [n_ff] F16 scratch of the GELU */
  uint8_t *act[MAX_JOBS];           /* quantized activations, [B][row bytes] */
  size_t act_cap;                   /* bytes per act buffer */
  float *rope_cos[2], *rope_sin[2]; /* [B][rope_dims/2]: global layers, sliding-window layers */
  float *scores;                    /* [2 nth][2][group * score_cap]: scores and a gather buffer */
  float *o_tmp;                     /* [2 nth][8 * head_dim] */
  int score_cap;
  /* current parallel job */
  mm_job jobs[MAX_JOBS];
  int n_jobs, T;
  const float *mm_x;    /* [T][cols] input of the current product */
  eco_fwd_prep_fn prep; /* set by the caller for one product (NULL: input ready) */
  int prep_layer;       /* the layer prep works on */
  int n_prep;           /* prep chunks of the current pool job */
  atomic_int prep_done; /* prep chunks finished */
  /* attention job */
  int layer;
  const int32_t *pos;
  eco_kv *const *kvs;
};

/* Pool jobs that first make their input rows: chunks [0, n_prep) each
 * make ceil(T / n_prep) rows, the others wait until all rows are made,
 * then do the job's real work. The pool hands out chunks in index order,
 * so every prep chunk is claimed (and running) by the time anyone waits
 * for it. This runs the per-row work of a batch (norms, RoPE, activations,
 * quantization: four times batch 1's at batch 4) on every thread instead
 * of the caller's alone, with no extra pool job (matmul.c).
 *   eco_fwd_prep_chunks: sets up c->n_prep for c->T rows (at most one chunk
 *                        per thread, two rows or more each) and returns it;
 *                        with fewer than 4 rows it makes them with `make`
 *                        itself and returns 0
 *   eco_fwd_prep_part:   chunk < n_prep: makes its rows with `make`, true;
 *                        else waits for all rows, false */
int eco_fwd_prep_chunks(eco_ctx *c, eco_fwd_prep_fn make);
bool eco_fwd_prep_part(eco_ctx *c, int chunk, eco_fwd_prep_fn make);

/* y_j[t] = W_j x[t] (+ b_j) for up to 3 weights sharing the input x
 * [T][cols] (matmul.c). Where c->prep is set, it makes x's rows first,
 * inside the product's pool job; it is cleared on return. */
void eco_fwd_matmul(eco_ctx *c, int n, const eco_weight *const *ws, const float *x, int T,
                    float *const *ys, const float *const *biases);

/* Writes c->k and c->v of the T tokens into their caches, then c->att =
 * attention of c->q over them, for layer c->layer (attention.c). Where
 * c->prep is set, it first makes the rows of c->q and c->k (RoPE), inside
 * the attention's pool job; it is cleared on return. */
void eco_fwd_attention(eco_ctx *c, int T);

#endif
