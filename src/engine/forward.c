/* ecoinfer: the batched forward pass (model.h): one sequence of steps for
 * every architecture, each optional step (q/k norms, post-norms, fused
 * matrices, soft-capping, sliding windows) taken where the layer or the
 * hyperparameters have it (arch.h). */
#include "engine/forward_internal.h"
#include "engine/quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* F32 rows are the largest activation form (Q8_0 34/32, Q8_K 292/256 < 4). */
static size_t max_act_bytes(int n) { return (size_t)n * 4; }

static bool any_fused_qkv(const eco_model *m) {
  for (int l = 0; l < m->hp.n_layer; l++)
    if (m->layers[l].wqkv.data) return true;
  return false;
}

static bool any_fused_gate_up(const eco_model *m) {
  for (int l = 0; l < m->hp.n_layer; l++)
    if (!m->layers[l].w_gate.data) return true;
  return false;
}

static int alloc_scratch(eco_ctx *c) {
  const eco_model *m = c->m;
  const eco_hparams *h = &m->hp;
  const size_t B = (size_t)c->max_batch, E = (size_t)h->n_embd, Q = (size_t)h->n_head * h->head_dim,
               KV = (size_t)h->n_head_kv * h->head_dim, F = (size_t)h->n_ff,
               half = (size_t)h->rope_dims / 2;
  const bool fused_gu = any_fused_gate_up(m);
  c->x = malloc(B * E * 4);
  c->xn = malloc(B * E * 4);
  c->q = malloc(B * Q * 4);
  c->k = malloc(B * KV * 4);
  c->v = malloc(B * KV * 4);
  c->att = malloc(B * Q * 4);
  c->qkv = any_fused_qkv(m) ? malloc(B * (Q + 2 * KV) * 4) : NULL;
  c->gate = malloc(B * F * (fused_gu ? 2 : 1) * 4);
  c->up = fused_gu ? NULL : malloc(B * F * 4);
  c->h16 = m->gelu_f16 ? malloc(F * 2) : NULL;
  size_t widest = E > F ? E : F;
  if (Q > widest) widest = Q;
  c->act_cap = max_act_bytes((int)widest);
  for (int i = 0; i < MAX_JOBS; i++)
    c->act[i] = malloc(B * c->act_cap);
  for (int i = 0; i < 2; i++) {
    c->rope_cos[i] = malloc(B * half * 4);
    c->rope_sin[i] = malloc(B * half * 4);
  }
  c->o_tmp = malloc((size_t)(2 * c->nth) * 8 * (size_t)h->head_dim * 4);
  bool ok = c->x && c->xn && c->q && c->k && c->v && c->att && c->gate && c->o_tmp &&
            (c->up || fused_gu) && (c->qkv || !any_fused_qkv(m)) && (c->h16 || !m->gelu_f16);
  for (int i = 0; i < MAX_JOBS; i++)
    ok = ok && c->act[i];
  for (int i = 0; i < 2; i++)
    ok = ok && c->rope_cos[i] && c->rope_sin[i];
  return ok ? 0 : ECO_ENOMEM;
}

int eco_ctx_new(const eco_model *m, int n_threads, int max_batch, eco_ctx **out, eco_error *err) {
  *out = NULL;
  if (max_batch < 1 || max_batch > 4096)
    return eco_error_set(err, ECO_EINVAL, "ctx: batch size %d not in 1..4096", max_batch);
  eco_ctx *c = calloc(1, sizeof *c);
  if (!c) return eco_error_set(err, ECO_ENOMEM, "ctx: out of memory");
  c->m = m;
  c->max_batch = max_batch;
  c->pair_min_bytes = ECO_PAIR_MIN_GROUP_BYTES;
  int rc = eco_pool_new(n_threads, &c->pool, err);
  if (rc) {
    free(c);
    return rc;
  }
  c->nth = n_threads;
  eco_cpu_info ci;
  eco_cpu_detect(&ci);
  eco_kernels_init(&c->kern, ci.level);
  if (alloc_scratch(c)) {
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
  free(c->qkv);
  free(c->gate);
  free(c->up);
  free(c->h16);
  for (int i = 0; i < MAX_JOBS; i++)
    free(c->act[i]);
  for (int i = 0; i < 2; i++) {
    free(c->rope_cos[i]);
    free(c->rope_sin[i]);
  }
  free(c->scores);
  free(c->o_tmp);
  free(c);
}

void eco_ctx_set_simd(eco_ctx *c, eco_simd_level level) { eco_kernels_init(&c->kern, level); }
eco_simd_level eco_ctx_simd(const eco_ctx *c) { return c->kern.level; }
void eco_ctx_set_pair_min(eco_ctx *c, size_t bytes) {
  c->pair_min_bytes = bytes ? bytes : ECO_PAIR_MIN_GROUP_BYTES;
}
size_t eco_ctx_pair_min(const eco_ctx *c) { return c->pair_min_bytes; }

/* --- element-wise steps ------------------------------------------------------ */

static void rmsnorm(const eco_ctx *c, float *out, const float *x, const float *w, int n,
                    float eps) {
  const double ss = c->kern.sumsq(n, x);
  const float scale = 1.0f / sqrtf((float)(ss / n) + eps);
  for (int i = 0; i < n; i++)
    out[i] = (x[i] * scale) * w[i];
}

/* The sums of squares of four rows, each exactly as c->kern.sumsq adds it
 * (squares in float, summed in double in element order, kernels.h): four
 * independent chains of dependent additions, which the core runs side by
 * side, where one row at a time waits on each addition's latency (a batch
 * of 4 paid four times batch 1's norm time). */
static void sumsq4(int n, const float *const *x, double *ss) {
  const float *x0 = x[0], *x1 = x[1], *x2 = x[2], *x3 = x[3];
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (int i = 0; i < n; i++) {
    s0 += (double)(x0[i] * x0[i]);
    s1 += (double)(x1[i] * x1[i]);
    s2 += (double)(x2[i] * x2[i]);
    s3 += (double)(x3[i] * x3[i]);
  }
  ss[0] = s0;
  ss[1] = s1;
  ss[2] = s2;
  ss[3] = s3;
}

/* RMSNorm of each of the T rows of n floats (rows `stride` floats apart),
 * up to four at a time (the last row stands in for missing ones). */
static void rmsnorm_rows(const eco_ctx *c, float *out, const float *x, const float *w, int T, int n,
                         size_t stride) {
  const float eps = c->m->hp.rms_eps;
  if (T == 1) {
    for (int t = 0; t < T; t++)
      rmsnorm(c, out + (size_t)t * stride, x + (size_t)t * stride, w, n, eps);
    return;
  }
  for (int t = 0; t < T; t += 4) {
    const int k = T - t < 4 ? T - t : 4;
    const float *rows[4];
    double ss[4];
    for (int i = 0; i < 4; i++)
      rows[i] = x + (size_t)(t + (i < k ? i : k - 1)) * stride;
    sumsq4(n, rows, ss);
    for (int i = 0; i < k; i++) {
      const float scale = 1.0f / sqrtf((float)(ss[i] / n) + eps);
      float *o = out + (size_t)(t + i) * stride;
      for (int e = 0; e < n; e++)
        o[e] = (rows[i][e] * scale) * w[e];
    }
  }
}

/* g[i] = gelu(g[i]) * u[i], GELU with the tanh approximation read from the
 * model's F16 table as ggml does: x rounded to F16, the result an F16;
 * x <= -10 gives 0 and x >= 10 gives x. */
static void gelu_mul(const eco_ctx *c, int n, float *g, const float *u) {
  const uint16_t *tab = c->m->gelu_f16;
  const int F = c->m->hp.n_ff;
  for (int i0 = 0; i0 < n; i0 += F) {
    const int nn = n - i0 < F ? n - i0 : F;
    c->kern.to_f16(nn, g + i0, c->h16);
    for (int i = 0; i < nn; i++) {
      const float x = g[i0 + i];
      const float y = x <= -10.0f ? 0.0f : x >= 10.0f ? x : eco_fp16_to_fp32(tab[c->h16[i]]);
      g[i0 + i] = y * u[i0 + i];
    }
  }
}

static void activate(const eco_ctx *c, int n, float *g, const float *u) {
  if (c->m->hp.act == ECO_ACT_GELU)
    gelu_mul(c, n, g, u);
  else
    c->kern.silu_mul(n, g, u);
}

static void add_rows(float *x, const float *y, size_t n) {
  for (size_t i = 0; i < n; i++)
    x[i] += y[i];
}

/* --- RoPE ---------------------------------------------------------------------- */

/* Per-dimension frequency divisors for a token whose cache is kv: Llama-3
 * factors, else LongRoPE's long ones once the cache is longer than the
 * original context, else its short ones (llama.cpp's get_rope_factors). */
static const float *rope_factors(const eco_model *m, const eco_kv *kv) {
  if (m->rope_freqs) return m->rope_freqs;
  if (m->rope_long && kv->n_ctx > m->hp.n_ctx_orig) return m->rope_long;
  return m->rope_short;
}

/* cos/sin of position p: theta_i = p * base^(-2i/d), iterated as ggml does,
 * divided by the factor, scaled by freq_scale; both times attn_factor. */
static void rope_angles(const eco_hparams *h, float base, float freq_scale, const float *ff, int p,
                        float *cs, float *sn) {
  const int half = h->rope_dims / 2;
  const float theta_scale = powf(base, -2.0f / (float)h->rope_dims), mscale = h->rope_attn_factor;
  float theta = (float)p;
  for (int i = 0; i < half; i++) {
    const float th = (ff ? theta / ff[i] : theta) * freq_scale;
    cs[i] = cosf(th) * mscale;
    sn[i] = sinf(th) * mscale;
    theta *= theta_scale;
  }
}

/* Whether sliding-window layers rotate with their own base/scale. */
static bool swa_rope(const eco_hparams *h) {
  return h->n_swa > 0 &&
         (h->rope_base_swa != h->rope_base || h->rope_freq_scale_swa != h->rope_freq_scale);
}

static void rope_tables(eco_ctx *c, int T) {
  const eco_model *m = c->m;
  const eco_hparams *h = &m->hp;
  const size_t half = (size_t)h->rope_dims / 2;
  for (int t = 0; t < T; t++) {
    const float *ff = rope_factors(m, c->kvs[t]);
    rope_angles(h, h->rope_base, h->rope_freq_scale, ff, c->pos[t], c->rope_cos[0] + t * half,
                c->rope_sin[0] + t * half);
    if (swa_rope(h))
      rope_angles(h, h->rope_base_swa, h->rope_freq_scale_swa, ff, c->pos[t],
                  c->rope_cos[1] + t * half, c->rope_sin[1] + t * half);
  }
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

/* --- blocks ---------------------------------------------------------------------- */

/* c->q, c->k, c->v of the T normalized rows in c->xn. */
static void project_qkv(eco_ctx *c, const eco_layer *y, int T) {
  const eco_hparams *h = &c->m->hp;
  if (!y->wqkv.data) {
    const eco_weight *w[3] = {&y->wq, &y->wk, &y->wv};
    float *const o[3] = {c->q, c->k, c->v};
    const float *const b[3] = {y->bq, y->bk, y->bv};
    eco_fwd_matmul(c, 3, w, c->xn, T, o, b);
    return;
  }
  const size_t Qd = (size_t)h->n_head * h->head_dim, KVd = (size_t)h->n_head_kv * h->head_dim;
  const eco_weight *w[1] = {&y->wqkv};
  float *const o[1] = {c->qkv};
  const float *const b[1] = {y->bqkv};
  eco_fwd_matmul(c, 1, w, c->xn, T, o, b);
  for (int t = 0; t < T; t++) {
    const float *row = c->qkv + (size_t)t * (Qd + 2 * KVd);
    float *q = c->q + t * Qd, *k = c->k + t * KVd, *v = c->v + t * KVd;
    memcpy(q, row, Qd * 4);
    memcpy(k, row + Qd, KVd * 4);
    memcpy(v, row + Qd + KVd, KVd * 4);
    if (y->bq) add_rows(q, y->bq, Qd);
    if (y->bk) add_rows(k, y->bk, KVd);
    if (y->bv) add_rows(v, y->bv, KVd);
  }
}

/* q/k norms and RoPE of every head of rows [t0, t1) (c->prep of the
 * attention of layer c->prep_layer). */
static void shape_qk(eco_ctx *c, int t0, int t1) {
  const eco_hparams *h = &c->m->hp;
  const eco_layer *y = &c->m->layers[c->prep_layer];
  const int hd = h->head_dim, half = h->rope_dims / 2, n = t1 - t0;
  const size_t Qd = (size_t)h->n_head * hd, KVd = (size_t)h->n_head_kv * hd;
  float *q = c->q + (size_t)t0 * Qd, *k = c->k + (size_t)t0 * KVd;
  if (y->q_norm) rmsnorm_rows(c, q, q, y->q_norm, n * h->n_head, hd, (size_t)hd);
  if (y->k_norm) rmsnorm_rows(c, k, k, y->k_norm, n * h->n_head_kv, hd, (size_t)hd);
  const int var = y->swa && swa_rope(h) ? 1 : 0;
  for (int t = t0; t < t1; t++) {
    const float *cs = c->rope_cos[var] + (size_t)t * half,
                *sn = c->rope_sin[var] + (size_t)t * half;
    for (int hh = 0; hh < h->n_head; hh++)
      rope_apply(h, c->q + t * Qd + (size_t)hh * hd, cs, sn);
    for (int hh = 0; hh < h->n_head_kv; hh++)
      rope_apply(h, c->k + t * KVd + (size_t)hh * hd, cs, sn);
  }
}

/* Input rows of the projections, made in their pool jobs (c->prep). */
static void prep_attn_norm(eco_ctx *c, int t0, int t1) {
  const size_t E = (size_t)c->m->hp.n_embd;
  rmsnorm_rows(c, c->xn + (size_t)t0 * E, c->x + (size_t)t0 * E,
               c->m->layers[c->prep_layer].attn_norm, t1 - t0, (int)E, E);
}

static void prep_ffn_norm(eco_ctx *c, int t0, int t1) {
  const size_t E = (size_t)c->m->hp.n_embd;
  rmsnorm_rows(c, c->xn + (size_t)t0 * E, c->x + (size_t)t0 * E,
               c->m->layers[c->prep_layer].ffn_norm, t1 - t0, (int)E, E);
}

static void prep_silu(eco_ctx *c, int t0, int t1) {
  const size_t F = (size_t)c->m->hp.n_ff;
  c->kern.silu_mul((int)((size_t)(t1 - t0) * F), c->gate + (size_t)t0 * F, c->up + (size_t)t0 * F);
}

static void prep_out_norm(eco_ctx *c, int t0, int t1) {
  const size_t E = (size_t)c->m->hp.n_embd;
  rmsnorm_rows(c, c->xn + (size_t)t0 * E, c->x + (size_t)t0 * E, c->m->out_norm, t1 - t0, (int)E,
               E);
}

static void attn_block(eco_ctx *c, int l, int T) {
  const eco_hparams *h = &c->m->hp;
  const eco_layer *y = &c->m->layers[l];
  const int E = h->n_embd;
  c->prep = prep_attn_norm;
  c->prep_layer = l;
  project_qkv(c, y, T);
  c->prep = shape_qk; /* in the attention's pool job */
  c->prep_layer = l;
  c->layer = l;
  eco_fwd_attention(c, T);
  const eco_weight *wo[1] = {&y->wo};
  float *const yo[1] = {c->xn}; /* reuse xn as [T][E] output */
  eco_fwd_matmul(c, 1, wo, c->att, T, yo, NULL);
  if (y->attn_post_norm) rmsnorm_rows(c, c->xn, c->xn, y->attn_post_norm, T, E, (size_t)E);
  add_rows(c->x, c->xn, (size_t)T * E);
}

static void ffn_block(eco_ctx *c, int l, int T) {
  const eco_hparams *h = &c->m->hp;
  const eco_layer *y = &c->m->layers[l];
  const int E = h->n_embd, F = h->n_ff;
  c->prep = prep_ffn_norm;
  c->prep_layer = l;
  if (y->w_gate.data) {
    const eco_weight *w[2] = {&y->w_gate, &y->w_up};
    float *const o[2] = {c->gate, c->up};
    eco_fwd_matmul(c, 2, w, c->xn, T, o, NULL);
    if (h->act == ECO_ACT_GELU) /* its F16 table scratch is one buffer */
      activate(c, T * F, c->gate, c->up);
    else
      c->prep = prep_silu; /* in the down projection's pool job */
  } else {                 /* fused: row t of c->gate holds [gate | up] */
    const eco_weight *w[1] = {&y->w_up};
    float *const o[1] = {c->gate};
    eco_fwd_matmul(c, 1, w, c->xn, T, o, NULL);
    for (int t = 0; t < T; t++) {
      float *gu = c->gate + (size_t)t * 2 * F;
      activate(c, F, gu, gu + F);
      memmove(c->gate + (size_t)t * F, gu, (size_t)F * 4); /* compact to [T][F] */
    }
  }
  const eco_weight *wd[1] = {&y->w_down};
  float *const yd[1] = {c->xn};
  eco_fwd_matmul(c, 1, wd, c->gate, T, yd, NULL);
  if (y->ffn_post_norm) rmsnorm_rows(c, c->xn, c->xn, y->ffn_post_norm, T, E, (size_t)E);
  add_rows(c->x, c->xn, (size_t)T * E);
}

/* Final norm, output projection and soft-capping for the tokens that want
 * logits (packed rows). */
static int head(eco_ctx *c, int T, const uint8_t *want, float *logits) {
  const eco_model *m = c->m;
  const eco_hparams *h = &m->hp;
  const int E = h->n_embd;
  int n = 0;
  for (int t = 0; t < T; t++)
    n += want[t] != 0;
  if (!n) return 0;
  if (n == T) { /* every row (decode steps): the norms in the product's pool job */
    c->prep = prep_out_norm;
  } else {
    n = 0;
    for (int t = 0; t < T; t++)
      if (want[t]) {
        rmsnorm(c, c->xn + (size_t)n * E, c->x + (size_t)t * E, m->out_norm, E, h->rms_eps);
        n++;
      }
  }
  const eco_weight *wout[1] = {&m->output};
  float *const yout[1] = {logits};
  eco_fwd_matmul(c, 1, wout, c->xn, n, yout, NULL);
  const float cap = h->final_softcap;
  if (cap > 0) {
    const float inv = 1.0f / cap;
    for (size_t i = 0; i < (size_t)n * (size_t)h->n_vocab; i++)
      logits[i] = cap * tanhf(logits[i] * inv);
  }
  return n;
}

static int forward_chunk(eco_ctx *c, int T, const int32_t *tok, const int32_t *pos,
                         eco_kv *const *kvs, const uint8_t *want, float *logits) {
  const eco_model *m = c->m;
  const int E = m->hp.n_embd;
  for (int t = 0; t < T; t++) {
    float *x = c->x + (size_t)t * E;
    eco_dequantize_row(m->tok_embd.type,
                       (const uint8_t *)m->tok_embd.data + (size_t)tok[t] * m->tok_embd.row_bytes,
                       x, E);
    if (m->hp.embd_scale != 1.f)
      for (int i = 0; i < E; i++)
        x[i] *= m->hp.embd_scale;
  }
  c->pos = pos;
  c->kvs = kvs;
  c->T = T;
  rope_tables(c, T);
  for (int l = 0; l < m->hp.n_layer; l++) {
    attn_block(c, l, T);
    ffn_block(c, l, T);
  }
  return head(c, T, want, logits);
}

/* --- batches ------------------------------------------------------------------- */

/* How many tokens of b from `done` one chunk takes: at most max_batch, and
 * for caches with bounded sliding-window layers only as many as keep every
 * token's window in the ring once the chunk's keys are written (a ring
 * keeps the positions above its highest written one minus its length). */
static int chunk_len(const eco_ctx *c, const eco_batch *b, int done, int *T, eco_error *err) {
  const int lim = b->n - done < c->max_batch ? b->n - done : c->max_batch;
  int t = 0, rc = 0;
  for (; t < lim; t++) {
    eco_kv *kv = b->kv[done + t];
    if (kv->ring >= kv->n_ctx) continue;
    const int p = b->pos[done + t];
    const int lo = kv->scan_lo >= 0 ? kv->scan_lo : p;
    const int hi = p > kv->n_past - 1 ? p : kv->n_past - 1;
    const int need = lo - kv->n_swa + 1 > 0 ? lo - kv->n_swa + 1 : 0;
    if (need <= hi - kv->ring) {
      if (t == 0)
        rc = eco_error_set(err, ECO_ESTATE,
                           "forward: position %d is more than %d positions below the %d cached "
                           "ones of a sliding-window cache (truncate it first)",
                           p, kv->swa_slack, kv->n_past);
      break;
    }
    kv->scan_lo = lo;
  }
  for (int i = 0; i < t; i++)
    b->kv[done + i]->scan_lo = -1;
  *T = t;
  return rc;
}

static int check_batch(eco_ctx *c, const eco_batch *b, eco_error *err) {
  const eco_hparams *h = &c->m->hp;
  int max_pos = 0;
  for (int i = 0; i < b->n; i++) {
    if (b->token[i] < 0 || b->token[i] >= h->n_vocab)
      return eco_error_set(err, ECO_EINVAL, "forward: token id %d out of range [0, %d)",
                           b->token[i], h->n_vocab);
    if (!b->kv[i]) return eco_error_set(err, ECO_EINVAL, "forward: token %d has no KV cache", i);
    if (b->kv[i]->n_layer != h->n_layer || b->kv[i]->kv_dim != h->n_head_kv * h->head_dim ||
        b->kv[i]->n_swa != h->n_swa)
      return eco_error_set(err, ECO_EINVAL, "forward: token %d: KV cache made for another model",
                           i);
    if (b->pos[i] < 0 || b->pos[i] >= b->kv[i]->n_ctx)
      return eco_error_set(err, ECO_ECONTEXT,
                           "context length exceeded: position %d does not fit a context of %d "
                           "tokens",
                           b->pos[i], b->kv[i]->n_ctx);
    if (b->pos[i] + 1 > max_pos) max_pos = b->pos[i] + 1;
  }
  if (max_pos > c->score_cap) { /* two [group][max_pos] buffers per attention chunk */
    const size_t group = (size_t)(h->n_head / h->n_head_kv);
    float *s =
        realloc(c->scores, (size_t)(2 * c->nth) * 2 * group * (size_t)max_pos * sizeof(float));
    if (!s) return eco_error_set(err, ECO_ENOMEM, "forward: out of memory for attention scores");
    c->scores = s;
    c->score_cap = max_pos;
  }
  return 0;
}

int eco_forward(eco_ctx *c, const eco_batch *b, float *logits, eco_error *err) {
  const eco_hparams *h = &c->m->hp;
  if (b->n <= 0) return 0;
  int rc = check_batch(c, b, err);
  if (rc) return rc;
  int done = 0;
  float *out = logits;
  while (done < b->n) {
    int T;
    if ((rc = chunk_len(c, b, done, &T, err))) return rc;
    uint8_t want[4096];
    for (int t = 0; t < T; t++)
      want[t] = !logits     ? 0
                : b->logits ? (b->logits[done + t] != 0)
                            : (uint8_t)(done + t == b->n - 1);
    const int n_out = forward_chunk(c, T, b->token + done, b->pos + done, b->kv + done, want, out);
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
