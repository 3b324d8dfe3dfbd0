/* ecoinfer: the batched forward pass and its scratch context (model.h). */
#include "engine/model.h"
#include "engine/kernels.h"
#include "engine/pack.h"
#include "engine/pool.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_JOBS 3

typedef struct mm_job {
  const eco_weight *w;
  const uint8_t *act; /* [T] activation rows, act_stride bytes apart */
  size_t act_stride;
  float *y; /* [T][y_stride] */
  int y_stride;
  const float *bias; /* [rows] or NULL */
} mm_job;

struct eco_ctx {
  const eco_model *m;
  eco_pool *pool;
  eco_kernels kern;
  int max_batch;
  int nth;
  /* scratch, sized for max_batch tokens */
  float *x, *xn, *q, *k, *v, *att, *gate, *up; /* [B][...] */
  uint8_t *act[MAX_JOBS];                      /* quantized activations, [B][row bytes] */
  size_t act_cap;                              /* bytes per act buffer */
  float *rope_cos, *rope_sin;                  /* [B][rope_dims/2] */
  float *scores;                               /* [2 * nth][score_cap] */
  int score_cap;
  /* current parallel job */
  mm_job jobs[MAX_JOBS];
  int n_jobs, T;
  /* attention job */
  int layer;
  const int32_t *pos;
  eco_kv *const *kvs;
};

/* F32 rows are the largest activation form (Q8_0 34/32, Q8_K 292/256 < 4). */
static size_t max_act_bytes(int n) { return (size_t)n * 4; }

int eco_ctx_new(const eco_model *m, int n_threads, int max_batch, eco_ctx **out, eco_error *err) {
  *out = NULL;
  if (max_batch < 1 || max_batch > 4096)
    return eco_error_set(err, ECO_EINVAL, "ctx: batch size %d not in 1..4096", max_batch);
  eco_ctx *c = calloc(1, sizeof *c);
  if (!c) return eco_error_set(err, ECO_ENOMEM, "ctx: out of memory");
  c->m = m;
  c->max_batch = max_batch;
  int rc = eco_pool_new(n_threads, &c->pool, err);
  if (rc) {
    free(c);
    return rc;
  }
  c->nth = n_threads;
  eco_cpu_info ci;
  eco_cpu_detect(&ci);
  eco_kernels_init(&c->kern, ci.level);
  const eco_hparams *h = &m->hp;
  const size_t B = (size_t)max_batch, E = (size_t)h->n_embd, Q = (size_t)h->n_head * h->head_dim,
               KV = (size_t)h->n_head_kv * h->head_dim, F = (size_t)h->n_ff;
  c->x = malloc(B * E * 4);
  c->xn = malloc(B * E * 4);
  c->q = malloc(B * Q * 4);
  c->k = malloc(B * KV * 4);
  c->v = malloc(B * KV * 4);
  c->att = malloc(B * Q * 4);
  c->gate = malloc(B * F * 4);
  c->up = malloc(B * F * 4);
  size_t widest = E > F ? E : F;
  if (Q > widest) widest = Q;
  c->act_cap = max_act_bytes((int)widest);
  for (int i = 0; i < MAX_JOBS; i++)
    c->act[i] = malloc(B * c->act_cap);
  c->rope_cos = malloc(B * (size_t)h->rope_dims / 2 * 4);
  c->rope_sin = malloc(B * (size_t)h->rope_dims / 2 * 4);
  if (!c->x || !c->xn || !c->q || !c->k || !c->v || !c->att || !c->gate || !c->up || !c->act[0] ||
      !c->act[1] || !c->act[2] || !c->rope_cos || !c->rope_sin) {
    eco_ctx_free(c);
    return eco_error_set(err, ECO_ENOMEM, "ctx: out of memory for scratch buffers");
  }
  *out = c;
  return 0;
}

void eco_ctx_free(eco_ctx *c) {
  if (!c) return;
  eco_pool_free(c->pool);
  free(c->x);
  free(c->xn);
  free(c->q);
  free(c->k);
  free(c->v);
  free(c->att);
  free(c->gate);
  free(c->up);
  for (int i = 0; i < MAX_JOBS; i++)
    free(c->act[i]);
  free(c->rope_cos);
  free(c->rope_sin);
  free(c->scores);
  free(c);
}

void eco_ctx_set_simd(eco_ctx *c, eco_simd_level level) { eco_kernels_init(&c->kern, level); }
eco_simd_level eco_ctx_simd(const eco_ctx *c) { return c->kern.level; }

/* One packed group against c->T activation rows; writes the rows of the
 * group that fall in [a, b). Whole groups are written straight into y. */
static void mm_packed_group(const eco_ctx *c, const mm_job *jb, int64_t g, int64_t a, int64_t b) {
  const eco_weight *w = jb->w;
  const void *grp = (const uint8_t *)w->packed + eco_pack_group_bytes(w->type, w->cols) * (size_t)g;
  const int64_t r0 = g * ECO_PACK_ROWS;
  const size_t ys = (size_t)jb->y_stride;
  if (r0 >= a && r0 + ECO_PACK_ROWS <= b) {
    float *y = jb->y + r0;
    if (c->kern.pdot[w->type])
      c->kern.pdot[w->type]((int)w->cols, grp, jb->act, jb->act_stride, c->T, y, ys);
    else /* scalar kernels forced on a packed model (tests) */
      eco_pack_dot_ref(w->type, (int)w->cols, grp, jb->act, jb->act_stride, c->T, y, ys);
    if (jb->bias)
      for (int t = 0; t < c->T; t++)
        for (int r = 0; r < ECO_PACK_ROWS; r++)
          y[(size_t)t * ys + (size_t)r] += jb->bias[r0 + r];
    return;
  }
  float o[4 * ECO_PACK_ROWS]; /* a partial group (the last one of a matrix) */
  for (int t0 = 0; t0 < c->T; t0 += 4) {
    const int nt = c->T - t0 < 4 ? c->T - t0 : 4;
    const uint8_t *x = jb->act + (size_t)t0 * jb->act_stride;
    if (c->kern.pdot[w->type])
      c->kern.pdot[w->type]((int)w->cols, grp, x, jb->act_stride, nt, o, ECO_PACK_ROWS);
    else
      eco_pack_dot_ref(w->type, (int)w->cols, grp, x, jb->act_stride, nt, o, ECO_PACK_ROWS);
    for (int t = 0; t < nt; t++)
      for (int64_t r = r0 > a ? r0 : a; r < r0 + ECO_PACK_ROWS && r < b; r++)
        jb->y[(size_t)(t0 + t) * ys + (size_t)r] =
            o[t * ECO_PACK_ROWS + (r - r0)] + (jb->bias ? jb->bias[r] : 0.f);
  }
}

/* Rows [a, b) of a plain-layout job. */
static void mm_plain_rows(const eco_ctx *c, const mm_job *jb, int64_t a, int64_t b) {
  const eco_dot_fn dot = c->kern.dot[jb->w->type];
  const eco_dot4_fn dot4 = c->kern.dot4[jb->w->type];
  float tmp[64];
  if (c->T == 1 && dot4) { /* decode: four rows per call */
    for (; a + 4 <= b; a += 4) {
      float o4[4];
      dot4((int)jb->w->cols, (const uint8_t *)jb->w->data + (size_t)a * jb->w->row_bytes,
           jb->w->row_bytes, jb->act, o4);
      for (int k = 0; k < 4; k++)
        jb->y[a + k] = o4[k] + (jb->bias ? jb->bias[a + k] : 0.f);
    }
  }
  for (int64_t r = a; r < b; r++) {
    const uint8_t *wr = (const uint8_t *)jb->w->data + (size_t)r * jb->w->row_bytes;
    const float bias = jb->bias ? jb->bias[r] : 0.f;
    for (int t0 = 0; t0 < c->T; t0 += 64) {
      const int nt = c->T - t0 < 64 ? c->T - t0 : 64;
      dot((int)jb->w->cols, wr, jb->act + (size_t)t0 * jb->act_stride, jb->act_stride, nt, tmp);
      for (int t = 0; t < nt; t++)
        jb->y[(size_t)(t0 + t) * (size_t)jb->y_stride + (size_t)r] = tmp[t] + bias;
    }
  }
}

/* Parallel matmul over the rows of all jobs (same T activation rows each).
 * Work is counted in units of 8 rows per job (a packed group, or 8 plain
 * rows), and chunk k of n takes a contiguous range of units, so no unit is
 * split between threads. */
static void mm_worker(void *arg, int chunk, int n_chunks) {
  eco_ctx *c = arg;
  int64_t total = 0;
  for (int j = 0; j < c->n_jobs; j++)
    total += (c->jobs[j].w->rows + ECO_PACK_ROWS - 1) / ECO_PACK_ROWS;
  const int64_t per = (total + n_chunks - 1) / n_chunks;
  const int64_t u0 = per * chunk, u1 = u0 + per < total ? u0 + per : total;
  int64_t base = 0; /* first unit of job j */
  for (int j = 0; j < c->n_jobs && u0 < u1; j++) {
    const mm_job *jb = &c->jobs[j];
    const int64_t rows = jb->w->rows, units = (rows + ECO_PACK_ROWS - 1) / ECO_PACK_ROWS;
    const int64_t ga = u0 > base ? u0 - base : 0, gb = u1 - base < units ? u1 - base : units;
    if (ga < gb) {
      const int64_t a = ga * ECO_PACK_ROWS,
                    b = gb * ECO_PACK_ROWS < rows ? gb * ECO_PACK_ROWS : rows;
      if (jb->w->packed)
        for (int64_t g = ga; g < gb; g++)
          mm_packed_group(c, jb, g, a, b);
      else
        mm_plain_rows(c, jb, a, b);
    }
    base += units;
  }
}

/* Activation format key of a weight: its ggml activation type, or PACKED_ACT
 * for packed weights whose kernels take Q8_0 split rows (pack.h). */
#define PACKED_ACT 1000
static int act_format(const eco_weight *w) {
  return w->packed && eco_pack_split_act(w->type) ? PACKED_ACT : (int)eco_quant_act_type(w->type);
}

/* y_j[t] = W_j x[t] (+ b_j) for up to 3 weights sharing the input x [T][cols]. */
static void matmul(eco_ctx *c, int n, const eco_weight *const *ws, const float *x, int T,
                   float *const *ys, const float *const *biases) {
  for (int j = 0; j < n; j++) {
    const eco_weight *w = ws[j];
    const int fmt = act_format(w);
    const size_t stride = fmt == PACKED_ACT ? eco_pack_act_bytes(w->cols)
                                            : eco_quant_row_bytes((eco_ggml_type)fmt, w->cols);
    int same = -1;
    for (int i = 0; i < j; i++)
      if (act_format(ws[i]) == fmt) same = i;
    if (same >= 0) {
      c->jobs[j].act = c->jobs[same].act;
    } else {
      for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * (size_t)w->cols;
        uint8_t *dst = c->act[j] + (size_t)t * stride;
        if (fmt == PACKED_ACT)
          c->kern.quant_act(xr, dst, (int)w->cols);
        else
          eco_quantize_row((eco_ggml_type)fmt, xr, dst, w->cols);
      }
      c->jobs[j].act = c->act[j];
    }
    c->jobs[j].w = w;
    c->jobs[j].act_stride = stride;
    c->jobs[j].y = ys[j];
    c->jobs[j].y_stride = (int)w->rows;
    c->jobs[j].bias = biases ? biases[j] : NULL;
  }
  c->n_jobs = n;
  c->T = T;
  /* small products are not worth waking the other threads */
  uint64_t work = 0;
  for (int j = 0; j < n; j++)
    work += (uint64_t)ws[j]->rows * (uint64_t)ws[j]->cols;
  if (work * (uint64_t)T < (1u << 16) || c->nth == 1) {
    mm_worker(c, 0, 1);
  } else {
    /* a few chunks per thread, none smaller than 2 units (16 rows) */
    int64_t units = 0;
    for (int j = 0; j < n; j++)
      units += (ws[j]->rows + ECO_PACK_ROWS - 1) / ECO_PACK_ROWS;
    int64_t chunks = (int64_t)c->nth * 4;
    if (chunks > units / 2) chunks = units / 2 > 0 ? units / 2 : 1;
    eco_pool_run(c->pool, mm_worker, c, (int)chunks);
  }
}

static void rmsnorm(const eco_ctx *c, float *out, const float *x, const float *w, int n,
                    float eps) {
  const double ss = c->kern.sumsq(n, x);
  const float scale = 1.0f / sqrtf((float)(ss / n) + eps);
  for (int i = 0; i < n; i++)
    out[i] = (x[i] * scale) * w[i];
}

static void rope_apply(const eco_hparams *h, float *v, const float *cs, const float *sn) {
  const int half = h->rope_dims / 2;
  if (h->rope_type == ECO_ROPE_NORM) {
    for (int i = 0; i < half; i++) {
      const float x0 = v[2 * i], x1 = v[2 * i + 1];
      v[2 * i] = x0 * cs[i] - x1 * sn[i];
      v[2 * i + 1] = x0 * sn[i] + x1 * cs[i];
    }
  } else {
    for (int i = 0; i < half; i++) {
      const float x0 = v[i], x1 = v[i + half];
      v[i] = x0 * cs[i] - x1 * sn[i];
      v[i + half] = x0 * sn[i] + x1 * cs[i];
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

static void attn_worker(void *arg, int ith, int nth) {
  /* chunk ith of nth: tasks ith, ith + nth, ... */
  eco_ctx *c = arg;
  const eco_hparams *h = &c->m->hp;
  const int hd = h->head_dim, group = h->n_head / h->n_head_kv;
  const float scale = 1.0f / sqrtf((float)hd);
  const int piece = attn_piece(c), pieces = (group + piece - 1) / piece;
  float *sc = c->scores + (size_t)ith * (size_t)c->score_cap * (size_t)group;
  const int tasks = c->T * h->n_head_kv * pieces;
  for (int task = ith; task < tasks; task += nth) {
    const int t = task / (h->n_head_kv * pieces), rest = task % (h->n_head_kv * pieces);
    const int kh = rest / pieces, h0 = kh * group + (rest % pieces) * piece;
    const int nq = h0 + piece <= (kh + 1) * group ? piece : (kh + 1) * group - h0;
    const eco_kv *kv = c->kvs[t];
    const int np = c->pos[t] + 1;
    const float *q = c->q + (size_t)t * (size_t)(h->n_head * hd) + (size_t)h0 * hd;
    const size_t base =
        ((size_t)c->layer * (size_t)h->n_head_kv + (size_t)kh) * (size_t)kv->n_ctx * (size_t)hd;
    const bool f16 = kv->type == ECO_GGML_F16;
    if (f16)
      c->kern.attn_scores_f16(hd, q, nq, (const uint16_t *)kv->k + base, (size_t)hd, np, scale, sc);
    else
      c->kern.attn_scores(hd, q, nq, (const float *)kv->k + base, (size_t)hd, np, scale, sc);
    for (int j = 0; j < nq; j++) /* softmax of each head's row */
      c->kern.softmax(np, sc + (size_t)j * np);
    float *o = c->att + (size_t)t * (size_t)(h->n_head * hd) + (size_t)h0 * hd;
    if (f16)
      c->kern.attn_accum_f16(hd, sc, nq, (const uint16_t *)kv->v + base, (size_t)hd, np, o);
    else
      c->kern.attn_accum(hd, sc, nq, (const float *)kv->v + base, (size_t)hd, np, o);
  }
}

static int forward_chunk(eco_ctx *c, int T, const int32_t *tok, const int32_t *pos,
                         eco_kv *const *kvs, const uint8_t *want, float *logits, int *n_out) {
  const eco_model *m = c->m;
  const eco_hparams *h = &m->hp;
  const int E = h->n_embd, hd = h->head_dim, Qd = h->n_head * hd, KVd = h->n_head_kv * hd,
            F = h->n_ff, half = h->rope_dims / 2;
  /* embeddings */
  for (int t = 0; t < T; t++)
    eco_dequantize_row(m->tok_embd.type,
                       (const uint8_t *)m->tok_embd.data + (size_t)tok[t] * m->tok_embd.row_bytes,
                       c->x + (size_t)t * E, E);
  /* RoPE angles per token, as llama.cpp: theta_i = p * base^(-2i/d) (iterated) */
  const float theta_scale = powf(h->rope_base, -2.0f / (float)h->rope_dims);
  for (int t = 0; t < T; t++) {
    float theta = (float)pos[t];
    for (int i = 0; i < half; i++) {
      float th = theta * h->rope_freq_scale;
      if (m->rope_freqs) th /= m->rope_freqs[i];
      c->rope_cos[(size_t)t * half + i] = cosf(th);
      c->rope_sin[(size_t)t * half + i] = sinf(th);
      theta *= theta_scale;
    }
  }
  c->pos = pos;
  c->kvs = kvs;
  c->T = T;
  for (int l = 0; l < h->n_layer; l++) {
    const eco_layer *y = &m->layers[l];
    for (int t = 0; t < T; t++)
      rmsnorm(c, c->xn + (size_t)t * E, c->x + (size_t)t * E, y->attn_norm, E, h->rms_eps);
    const eco_weight *wqkv[3] = {&y->wq, &y->wk, &y->wv};
    float *const yqkv[3] = {c->q, c->k, c->v};
    const float *const bqkv[3] = {y->bq, y->bk, y->bv};
    matmul(c, 3, wqkv, c->xn, T, yqkv, bqkv);
    for (int t = 0; t < T; t++) {
      const float *cs = c->rope_cos + (size_t)t * half, *sn = c->rope_sin + (size_t)t * half;
      for (int hh = 0; hh < h->n_head; hh++)
        rope_apply(h, c->q + (size_t)t * Qd + (size_t)hh * hd, cs, sn);
      for (int hh = 0; hh < h->n_head_kv; hh++)
        rope_apply(h, c->k + (size_t)t * KVd + (size_t)hh * hd, cs, sn);
      eco_kv *kv = kvs[t];
      for (int kh = 0; kh < h->n_head_kv; kh++) { /* head-major: see eco_kv */
        const size_t off =
            (((size_t)l * (size_t)h->n_head_kv + (size_t)kh) * (size_t)kv->n_ctx + (size_t)pos[t]) *
            (size_t)hd;
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
    c->layer = l;
    int max_p = 0;
    for (int t = 0; t < T; t++)
      max_p = pos[t] > max_p ? pos[t] : max_p;
    c->T = T; /* attn_piece reads it */
    const int piece = attn_piece(c), group = h->n_head / h->n_head_kv;
    const int tasks = T * h->n_head_kv * ((group + piece - 1) / piece);
    if ((uint64_t)T * (uint64_t)(max_p + 1) * (uint64_t)Qd < (1u << 15) || c->nth == 1)
      attn_worker(c, 0, 1);
    else
      eco_pool_run(c->pool, attn_worker, c, tasks < 2 * c->nth ? tasks : 2 * c->nth);
    const eco_weight *wo[1] = {&y->wo};
    float *const yo[1] = {c->xn}; /* reuse xn as [T][E] output */
    matmul(c, 1, wo, c->att, T, yo, NULL);
    for (size_t i = 0; i < (size_t)T * E; i++)
      c->x[i] += c->xn[i];
    for (int t = 0; t < T; t++)
      rmsnorm(c, c->xn + (size_t)t * E, c->x + (size_t)t * E, y->ffn_norm, E, h->rms_eps);
    const eco_weight *wgu[2] = {&y->w_gate, &y->w_up};
    float *const ygu[2] = {c->gate, c->up};
    matmul(c, 2, wgu, c->xn, T, ygu, NULL);
    c->kern.silu_mul(T * F, c->gate, c->up);
    const eco_weight *wd[1] = {&y->w_down};
    float *const yd[1] = {c->xn};
    matmul(c, 1, wd, c->gate, T, yd, NULL);
    for (size_t i = 0; i < (size_t)T * E; i++)
      c->x[i] += c->xn[i];
  }
  /* final norm and logits for the tokens that want them (packed) */
  int n = 0;
  for (int t = 0; t < T; t++) {
    if (!want[t]) continue;
    rmsnorm(c, c->xn + (size_t)n * E, c->x + (size_t)t * E, m->out_norm, E, h->rms_eps);
    n++;
  }
  if (n) {
    const eco_weight *wout[1] = {&m->output};
    float *const yout[1] = {logits};
    matmul(c, 1, wout, c->xn, n, yout, NULL);
  }
  *n_out = n;
  return 0;
}

int eco_forward(eco_ctx *c, const eco_batch *b, float *logits, eco_error *err) {
  const eco_hparams *h = &c->m->hp;
  if (b->n <= 0) return 0;
  int max_pos = 0;
  for (int i = 0; i < b->n; i++) {
    if (b->token[i] < 0 || b->token[i] >= h->n_vocab)
      return eco_error_set(err, ECO_EINVAL, "forward: token id %d out of range [0, %d)",
                           b->token[i], h->n_vocab);
    if (!b->kv[i]) return eco_error_set(err, ECO_EINVAL, "forward: token %d has no KV cache", i);
    if (b->kv[i]->n_layer != h->n_layer || b->kv[i]->kv_dim != h->n_head_kv * h->head_dim)
      return eco_error_set(err, ECO_EINVAL, "forward: token %d: KV cache made for another model",
                           i);
    if (b->pos[i] < 0 || b->pos[i] >= b->kv[i]->n_ctx)
      return eco_error_set(err, ECO_ECONTEXT,
                           "context length exceeded: position %d does not fit a context of %d "
                           "tokens",
                           b->pos[i], b->kv[i]->n_ctx);
    if (b->pos[i] + 1 > max_pos) max_pos = b->pos[i] + 1;
  }
  if (max_pos > c->score_cap) {
    const size_t group = (size_t)(h->n_head / h->n_head_kv);
    float *s = realloc(c->scores, (size_t)(2 * c->nth) * group * (size_t)max_pos * sizeof(float));
    if (!s) return eco_error_set(err, ECO_ENOMEM, "forward: out of memory for attention scores");
    c->scores = s;
    c->score_cap = max_pos;
  }
  int done = 0;
  float *out = logits;
  while (done < b->n) {
    int T = b->n - done < c->max_batch ? b->n - done : c->max_batch;
    uint8_t want[4096];
    for (int t = 0; t < T; t++)
      want[t] = !logits     ? 0
                : b->logits ? (b->logits[done + t] != 0)
                            : (uint8_t)(done + t == b->n - 1);
    int n_out = 0;
    int rc = forward_chunk(c, T, b->token + done, b->pos + done, b->kv + done, want, out, &n_out);
    if (rc) return rc;
    for (int t = 0; t < T; t++) {
      eco_kv *kv = b->kv[done + t];
      if (b->pos[done + t] + 1 > kv->n_past) kv->n_past = b->pos[done + t] + 1;
    }
    if (out) out += (size_t)n_out * (size_t)h->n_vocab;
    done += T;
  }
  return 0;
}

int eco_forward_seq(eco_ctx *c, eco_kv *kv, const int32_t *tokens, int n, float *logits,
                    eco_error *err) {
  if (n <= 0) return eco_error_set(err, ECO_EINVAL, "forward: no tokens");
  if (kv->n_past + n > kv->n_ctx)
    return eco_error_set(err, ECO_ECONTEXT,
                         "context length exceeded: %d cached + %d new tokens > context of %d",
                         kv->n_past, n, kv->n_ctx);
  int32_t *pos = malloc((size_t)n * sizeof *pos);
  eco_kv **kvs = malloc((size_t)n * sizeof *kvs);
  if (!pos || !kvs) {
    free(pos);
    free(kvs);
    return eco_error_set(err, ECO_ENOMEM, "forward: out of memory");
  }
  for (int i = 0; i < n; i++) {
    pos[i] = kv->n_past + i;
    kvs[i] = kv;
  }
  eco_batch b = {.n = n, .token = tokens, .pos = pos, .kv = kvs, .logits = NULL};
  int rc = eco_forward(c, &b, logits, err);
  free(pos);
  free(kvs);
  return rc;
}
