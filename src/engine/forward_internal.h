/* ecoinfer: the forward pass's context, shared by forward.c (the layer
 * sequence), matmul.c (parallel matrix products) and attention.c (KV-cache
 * writes and attention). Engine files only. */
#ifndef ECO_ENGINE_FORWARD_INTERNAL_H
#define ECO_ENGINE_FORWARD_INTERNAL_H

#include "engine/kernels.h"
#include "engine/model.h"
#include "engine/pool.h"

#define MAX_JOBS 3

typedef struct mm_job {
  const eco_weight *w;
  const uint8_t *act; /* [T] activation rows, act_stride bytes apart */
  size_t act_stride;
  float *y; /* [T][y_stride] */
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
  /* attention job */
  int layer;
  const int32_t *pos;
  eco_kv *const *kvs;
};

/* y_j[t] = W_j x[t] (+ b_j) for up to 3 weights sharing the input x
 * [T][cols] (matmul.c). */
void eco_fwd_matmul(eco_ctx *c, int n, const eco_weight *const *ws, const float *x, int T,
                    float *const *ys, const float *const *biases);

/* Writes c->k and c->v of the T tokens into their caches, then c->att =
 * attention of c->q over them, for layer c->layer (attention.c). */
void eco_fwd_attention(eco_ctx *c, int T);

#endif
