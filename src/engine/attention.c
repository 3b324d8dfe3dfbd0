/* ecoinfer: attention of the forward pass: the KV-cache writes of a layer
 * and each token's attention over its cache, with the sliding window and
 * the logit soft-capping that some architectures use. */
#include "engine/forward_internal.h"

#include <math.h>
#include <string.h>

/* Element offset of (layer l, KV head kh, slot s) in kv->k / kv->v. */
static size_t kv_at(const eco_kv *kv, int l, int kh, int slot, int hd) {
  return kv->off[l] + ((size_t)kh * (size_t)kv->len[l] + (size_t)slot) * (size_t)hd;
}

/* c->k and c->v rows [t0, t1) into their caches. */
static void store_kv(eco_ctx *c, int t0, int t1) {
  const eco_hparams *h = &c->m->hp;
  const int hd = h->head_dim, KVd = h->n_head_kv * hd, l = c->layer;
  for (int t = t0; t < t1; t++) {
    eco_kv *kv = c->kvs[t];
    const int slot = c->pos[t] % kv->len[l];
    for (int kh = 0; kh < h->n_head_kv; kh++) {
      const size_t off = kv_at(kv, l, kh, slot, hd);
      const float *ks = c->k + (size_t)t * KVd + (size_t)kh * hd;
      const float *vs = c->v + (size_t)t * KVd + (size_t)kh * hd;
      if (kv->type == ECO_GGML_F16) {
        c->kern.to_f16(hd, ks, (uint16_t *)kv->k + off);
        c->kern.to_f16(hd, vs, (uint16_t *)kv->v + off);
      } else {
        memcpy((float *)kv->k + off, ks, (size_t)hd * 4);
        memcpy((float *)kv->v + off, vs, (size_t)hd * 4);
      }
    }
  }
}

/* Attention tasks: (token t, KV head kh, piece of its GQA group). The query
 * heads of one group share each pass over the K and V rows; the group is
 * split into pieces only when there are too few (t, kh) pairs to keep every
 * thread busy. */
static int attn_piece(const eco_ctx *c) {
  const eco_hparams *h = &c->m->hp;
  const int group = h->n_head / h->n_head_kv, pairs = c->T * h->n_head_kv;
  int pieces = (2 * c->nth + pairs - 1) / pairs;
  if (pieces < (group + 7) / 8) pieces = (group + 7) / 8; /* kernels take <= 8 heads */
  if (pieces > group) pieces = group;
  return (group + pieces - 1) / pieces; /* heads per piece */
}

/* The cache slots a token at position p reads in layer l: positions lo..p
 * (lo = p - n_swa + 1 in a sliding-window layer), which a ring layer holds
 * in at most two runs of slots. */
typedef struct slot_runs {
  int n;        /* runs (1 or 2) */
  int start[2]; /* first slot of each run */
  int len[2];   /* slots of each run */
  int total;    /* positions attended */
} slot_runs;

static slot_runs runs_of(const eco_kv *kv, const eco_layer *y, int n_swa, int l, int p) {
  slot_runs r = {0};
  const int lo = y->swa && p - n_swa + 1 > 0 ? p - n_swa + 1 : 0, L = kv->len[l];
  r.total = p - lo + 1;
  r.start[0] = lo % L;
  if (r.start[0] + r.total <= L) {
    r.n = 1;
    r.len[0] = r.total;
  } else {
    r.n = 2;
    r.len[0] = L - r.start[0];
    r.start[1] = 0;
    r.len[1] = r.total - r.len[0];
  }
  return r;
}

/* scores [nq][r.total] = scale * q_j . K_s over the runs of one KV head
 * (base: the head's slot 0); gather: scratch of the same size. Each run's
 * K rows are read beside a prefetch of the same positions' V rows, which
 * accum_over reads next (the kernels' prefetch hint, kernels.h). */
static void scores_over(const eco_ctx *c, const eco_kv *kv, size_t base, const float *q, int nq,
                        const slot_runs *r, float scale, float *sc, float *gather) {
  const int hd = c->m->hp.head_dim;
  for (int i = 0; i < r->n; i++) {
    float *dst = r->n == 1 ? sc : gather;
    const size_t at = base + (size_t)r->start[i] * (size_t)hd;
    if (kv->type == ECO_GGML_F16)
      c->kern.attn_scores_f16(hd, q, nq, (const uint16_t *)kv->k + at, (size_t)hd, r->len[i], scale,
                              dst, (const uint16_t *)kv->v + at, r->len[i]);
    else
      c->kern.attn_scores(hd, q, nq, (const float *)kv->k + at, (size_t)hd, r->len[i], scale, dst,
                          (const float *)kv->v + at, r->len[i]);
    if (r->n == 1) return;
    const int skip = i == 0 ? 0 : r->len[0];
    for (int j = 0; j < nq; j++)
      memcpy(sc + (size_t)j * r->total + skip, gather + (size_t)j * r->len[i],
             (size_t)r->len[i] * sizeof *sc);
  }
}

/* The K rows a task reads first (its first run), as a prefetch hint. */
typedef struct kv_hint {
  const void *rows; /* NULL: none */
  int n;            /* rows */
} kv_hint;

/* o [nq][hd] = sum_s w_j[s] V_s over the runs; o2: [nq][hd] scratch; the
 * first run's pass prefetches `next` (the thread's next task's K rows). */
static void accum_over(const eco_ctx *c, const eco_kv *kv, size_t base, const float *w, int nq,
                       const slot_runs *r, float *gather, float *o, float *o2, kv_hint next) {
  const int hd = c->m->hp.head_dim;
  for (int i = 0; i < r->n; i++) {
    const float *wi = w;
    if (r->n == 2) { /* this run's weights, [nq][len] */
      const int skip = i == 0 ? 0 : r->len[0];
      for (int j = 0; j < nq; j++)
        memcpy(gather + (size_t)j * r->len[i], w + (size_t)j * r->total + skip,
               (size_t)r->len[i] * sizeof *w);
      wi = gather;
    }
    float *dst = i == 0 ? o : o2;
    const size_t at = base + (size_t)r->start[i] * (size_t)hd;
    const void *pf = i == 0 ? next.rows : NULL;
    if (kv->type == ECO_GGML_F16)
      c->kern.attn_accum_f16(hd, wi, nq, (const uint16_t *)kv->v + at, (size_t)hd, r->len[i], dst,
                             pf, next.n);
    else
      c->kern.attn_accum(hd, wi, nq, (const float *)kv->v + at, (size_t)hd, r->len[i], dst, pf,
                         next.n);
  }
  if (r->n == 2)
    for (size_t i = 0; i < (size_t)nq * (size_t)hd; i++)
      o[i] += o2[i];
}

/* Task `task` of attn_worker: token t, KV head kh, query heads h0..h0+nq-1. */
typedef struct attn_task {
  int t, kh, h0, nq;
} attn_task;

static attn_task task_of(const eco_hparams *h, int task, int piece, int pieces) {
  const int group = h->n_head / h->n_head_kv, rest = task % (h->n_head_kv * pieces);
  attn_task a = {.t = task / (h->n_head_kv * pieces), .kh = rest / pieces};
  a.h0 = a.kh * group + (rest % pieces) * piece;
  a.nq = a.h0 + piece <= (a.kh + 1) * group ? piece : (a.kh + 1) * group - a.h0;
  return a;
}

/* The K rows task a reads first (its first run), as a prefetch hint. */
static kv_hint task_hint(const eco_ctx *c, const eco_layer *y, attn_task a) {
  const eco_hparams *h = &c->m->hp;
  const eco_kv *kv = c->kvs[a.t];
  const slot_runs r = runs_of(kv, y, h->n_swa, c->layer, c->pos[a.t]);
  const size_t at = kv_at(kv, c->layer, a.kh, r.start[0], h->head_dim);
  const size_t es = kv->type == ECO_GGML_F16 ? 2 : 4;
  return (kv_hint){(const char *)kv->k + at * es, r.len[0]};
}

static void attn_worker(void *arg, int ith, int nth) {
  /* chunk ith of nth: tasks ith, ith + nth, ... */
  eco_ctx *c = arg;
  const eco_hparams *h = &c->m->hp;
  const eco_layer *y = &c->m->layers[c->layer];
  const int hd = h->head_dim, group = h->n_head / h->n_head_kv;
  const float cap = h->attn_softcap, inv_cap = cap > 0 ? 1.0f / cap : 0.f;
  const int piece = attn_piece(c), pieces = (group + piece - 1) / piece;
  const size_t per = (size_t)c->score_cap * (size_t)group;
  float *sc = c->scores + (size_t)ith * 2 * per, *gather = sc + per;
  float *o2 = c->o_tmp + (size_t)ith * 8 * (size_t)hd;
  const int tasks = c->T * h->n_head_kv * pieces;
  for (int task = ith; task < tasks; task += nth) {
    const attn_task a = task_of(h, task, piece, pieces);
    const int t = a.t, kh = a.kh, h0 = a.h0, nq = a.nq;
    const eco_kv *kv = c->kvs[t];
    const slot_runs r = runs_of(kv, y, h->n_swa, c->layer, c->pos[t]);
    const float *q = c->q + (size_t)t * (size_t)(h->n_head * hd) + (size_t)h0 * hd;
    const size_t base = kv_at(kv, c->layer, kh, 0, hd);
    scores_over(c, kv, base, q, nq, &r, h->attn_scale, sc, gather);
    const size_t n_sc = (size_t)nq * (size_t)r.total;
    if (cap > 0) /* soft-capping: cap * tanh(score / cap), as llama.cpp */
      for (size_t i = 0; i < n_sc; i++)
        sc[i] = cap * tanhf(sc[i] * inv_cap);
    for (int j = 0; j < nq; j++) /* softmax of each head's row */
      c->kern.softmax(r.total, sc + (size_t)j * r.total);
    float *o = c->att + (size_t)t * (size_t)(h->n_head * hd) + (size_t)h0 * hd;
    const kv_hint next = task + nth < tasks ? task_hint(c, y, task_of(h, task + nth, piece, pieces))
                                            : (kv_hint){NULL, 0};
    accum_over(c, kv, base, sc, nq, &r, gather, o, o2, next);
  }
}

/* Rows [t0, t1): c->prep's shaping of q and k, then the cache writes. */
static void attn_prep(eco_ctx *c, int t0, int t1) {
  if (c->prep) c->prep(c, t0, t1);
  store_kv(c, t0, t1);
}

/* The attention's pool job: the rows (attn_prep), then attn_worker's
 * chunks (eco_fwd_prep_part). */
static void attn_job_worker(void *arg, int chunk, int n_chunks) {
  eco_ctx *c = arg;
  if (!eco_fwd_prep_part(c, chunk, attn_prep))
    attn_worker(c, chunk - c->n_prep, n_chunks - c->n_prep);
}

void eco_fwd_attention(eco_ctx *c, int T) {
  const eco_hparams *h = &c->m->hp;
  c->T = T; /* attn_piece reads it */
  int max_p = 0;
  for (int t = 0; t < T; t++)
    max_p = c->pos[t] > max_p ? c->pos[t] : max_p;
  const int piece = attn_piece(c), group = h->n_head / h->n_head_kv;
  const int tasks = T * h->n_head_kv * ((group + piece - 1) / piece);
  if ((uint64_t)T * (uint64_t)(max_p + 1) * (uint64_t)(h->n_head * h->head_dim) < (1u << 15) ||
      c->nth == 1) {
    attn_prep(c, 0, T);
    attn_worker(c, 0, 1);
  } else {
    const int chunks = tasks < 2 * c->nth ? tasks : 2 * c->nth;
    eco_pool_run(c->pool, attn_job_worker, c, eco_fwd_prep_chunks(c, attn_prep) + chunks);
  }
  c->prep = NULL;
}
