#include "engine/engine.h"

#include "engine/prefix.h"
#include "engine/sampler.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct req {
  uint64_t id;
  int32_t *tokens; /* prompt then generated ids, [n_prompt + max_tokens] */
  uint32_t n_prompt;
  uint32_t n_tokens; /* valid entries of tokens */
  eco_gen_params p;  /* stop points into stop_copy */
  char **stop_copy;
  eco_token_cb cb;
  void *user;
  void *sampler;     /* ops->sampler_new state */
  eco_tok_stream ts; /* UTF-8-safe piece decoder */
  eco_stop stop;     /* stop-string matcher (holds back possible prefixes) */
  eco_gen_stats st;
  bool admitted; /* KV reserved on the engine thread */
  int32_t slot;
  bool cancel;    /* cancel requested (engine thread finalizes) */
  bool done;      /* no more work; final callback due or delivered */
  bool delivered; /* final callback returned: the record may be freed */
  bool forget;    /* eco_engine_forget came before delivery: free after it */
  double last_tok_t;
  double itl_sum;
  uint32_t n_itl;
  double batch_sum;
  uint32_t n_batch;
} req;

struct eco_engine {
  eco_engine_model_ops ops;
  void *model;
  const eco_tokenizer *tok;
  const eco_logger *log;
  eco_engine_cfg cfg;
  eco_sched *sched; /* guarded by mu */
  req **reqs;       /* guarded by mu */
  size_t n_reqs, cap_reqs;
  uint64_t next_id;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t thread;
  bool stop;
  bool hold;              /* no new step starts while set (eco_engine_hold); guarded by mu */
  eco_engine_usage usage; /* guarded by mu */
  /* engine thread scratch */
  eco_sched_item *items; /* [max_batch] the step being run */
  req **item_req;        /* [max_batch] request of each item */
  bool *finished;        /* [max_batch] item's request ended in this step */
  int32_t *out_tok;      /* [max_batch] token to deliver (INT32_MIN: none) */
  eco_strbuf *out_txt;   /* [max_batch] text to deliver */
  eco_gen_stats *out_st; /* [max_batch] stats to deliver */
  int32_t *tok_buf;
  size_t tok_cap;
  float *logits;
  size_t logits_rows;
  eco_prefix *prefix;      /* prefix cache, NULL when off; engine thread only */
  eco_prefix_block **pblk; /* [n_ctx / prefix_block] blocks matched at admission */
};

static double now_s(void) { return (double)eco_time_mono_ns() * 1e-9; }

void eco_gen_params_default(eco_gen_params *p) {
  memset(p, 0, sizeof *p);
  p->top_p = 1.0f;
  p->repeat_penalty = 1.0f;
  p->repeat_last_n = 64;
  p->max_tokens = 128;
}

const char *eco_finish_reason_name(eco_finish_reason r) {
  switch (r) {
  case ECO_FINISH_STOP: return "stop";
  case ECO_FINISH_LENGTH: return "length";
  case ECO_FINISH_CANCELED: return "canceled";
  case ECO_FINISH_ERROR: return "error";
  default: return "none";
  }
}

static void req_free(const eco_engine_model_ops *ops, void *model, req *r) {
  if (!r) return;
  if (r->sampler) ops->sampler_free(model, r->sampler);
  free(r->tokens);
  for (size_t i = 0; i < r->p.n_stop; i++)
    free(r->stop_copy[i]);
  free(r->stop_copy);
  eco_stop_free(&r->stop);
  free(r);
}

static req *find_req(eco_engine *b, uint64_t id) {
  for (size_t i = 0; i < b->n_reqs; i++)
    if (b->reqs[i]->id == id) return b->reqs[i];
  return NULL;
}

static void remove_at(eco_engine *b, size_t i) {
  req *r = b->reqs[i];
  memmove(&b->reqs[i], &b->reqs[i + 1], (b->n_reqs - i - 1) * sizeof *b->reqs);
  b->n_reqs--;
  eco_sched_reap(b->sched, r->id);
  req_free(&b->ops, b->model, r);
}

/* Frees delivered records whose owner already forgot them. Caller holds mu. */
static void reap_forgotten(eco_engine *b) {
  for (size_t i = 0; i < b->n_reqs;) {
    if (b->reqs[i]->delivered && b->reqs[i]->forget)
      remove_at(b, i);
    else
      i++;
  }
}

/* Drops the oldest finished records beyond max_requests. Caller holds mu. */
static void trim_records(eco_engine *b) {
  while (b->n_reqs > b->cfg.max_requests) {
    size_t i = 0;
    while (i < b->n_reqs && !b->reqs[i]->delivered)
      i++;
    if (i == b->n_reqs) return;
    remove_at(b, i);
  }
}

/* ---- text and stop strings ---------------------------------------------- */

/* Adds a token's text: UTF-8-safe piece (tokenizer stream), then the stop
 * matcher (sampler.h), which holds back text that may start a stop string.
 * Fills out with the text that can be emitted now; sets *stop when a stop
 * string completed (its text and what follows are never emitted). */
static void add_text(eco_engine *b, req *r, int32_t token, eco_strbuf *out, bool *stop) {
  *stop = false;
  if (!b->tok) return;
  eco_strbuf piece;
  eco_sb_init(&piece);
  eco_tok_stream_push(&r->ts, token, &piece);
  const char *emit = NULL;
  size_t n = 0;
  *stop = eco_stop_feed(&r->stop, eco_sb_str(&piece), piece.len, &emit, &n);
  if (n) eco_sb_append(out, emit, n);
  eco_sb_free(&piece);
}

static void flush_text(eco_engine *b, req *r, eco_strbuf *out) {
  if (!b->tok) return;
  eco_strbuf tail;
  eco_sb_init(&tail);
  eco_tok_stream_flush(&r->ts, &tail);
  const char *emit = NULL;
  size_t n = 0;
  bool stop = eco_stop_feed(&r->stop, eco_sb_str(&tail), tail.len, &emit, &n);
  if (n) eco_sb_append(out, emit, n);
  if (!stop) {
    eco_stop_flush(&r->stop, &emit, &n);
    if (n) eco_sb_append(out, emit, n);
  }
  eco_sb_free(&tail);
}

/* ---- engine thread -------------------------------------------------------- */

static void finish_stats(req *r, eco_finish_reason why, int err, double t) {
  r->st.finish = why;
  r->st.error = err;
  r->st.t_done = t;
  r->st.total_s = t - r->st.t_submit;
  r->st.generated_tokens = r->n_tokens - r->n_prompt;
  r->st.itl_mean_s = r->n_itl ? r->itl_sum / r->n_itl : 0;
  r->st.batch_mean_x100 = r->n_batch ? (uint32_t)(100.0 * r->batch_sum / r->n_batch) : 0;
}

/* Final callback for a request ended outside a step (cancel, error). */
static void end_request(eco_engine *b, req *r, eco_finish_reason why, int err) {
  eco_strbuf out;
  eco_sb_init(&out);
  if (why != ECO_FINISH_CANCELED) flush_text(b, r, &out);
  if (r->admitted) {
    b->ops.kv_release(b->model, r->slot);
    r->admitted = false;
  }
  pthread_mutex_lock(&b->mu);
  finish_stats(r, why, err, now_s());
  eco_gen_stats st = r->st;
  pthread_mutex_unlock(&b->mu);
  r->cb(r->user, r->id, -1, eco_sb_str(&out), out.len, true, &st);
  eco_sb_free(&out);
  pthread_mutex_lock(&b->mu);
  r->delivered = true;
  reap_forgotten(b);
  pthread_mutex_unlock(&b->mu);
}

/* ---- prefix cache (engine thread) ------------------------------------------ */

/* Bytes the prefix cache may hold: the part of the KV budget no request
 * has reserved. Caller holds mu. */
static uint64_t prefix_room(eco_engine *b) {
  eco_sched_usage u;
  eco_sched_usage_get(b->sched, &u);
  return u.kv_budget > u.kv_reserved ? u.kv_budget - u.kv_reserved : 0;
}

/* Mirrors the cache's counters into usage. Caller holds mu. */
static void prefix_sync(eco_engine *b) {
  eco_prefix_usage pu;
  eco_prefix_usage_get(b->prefix, &pu);
  b->usage.prefix_blocks = pu.blocks;
  b->usage.prefix_bytes = pu.bytes;
  b->usage.prefix_evictions = pu.evictions;
}

typedef struct prefix_src {
  eco_engine *b;
  int32_t slot;
} prefix_src;

static int prefix_fill(void *ctx, uint32_t pos, uint32_t n, void *dst) {
  const prefix_src *c = ctx;
  return c->b->ops.kv_save(c->b->model, c->slot, pos, n, dst);
}

/* Caches the whole blocks among r's first n_pos positions (its KV holds
 * them), within the room the reservations leave. */
static void prefix_store(eco_engine *b, req *r, uint32_t n_pos) {
  if (!b->prefix || !r->admitted) return;
  pthread_mutex_lock(&b->mu);
  const uint64_t room = prefix_room(b);
  pthread_mutex_unlock(&b->mu);
  prefix_src c = {b, r->slot};
  eco_prefix_insert(b->prefix, r->tokens, n_pos / b->cfg.prefix_block, room, prefix_fill, &c);
  pthread_mutex_lock(&b->mu);
  prefix_sync(b);
  pthread_mutex_unlock(&b->mu);
}

/* Before a new request's KV is reserved: pins the longest cached prefix
 * of its prompt (at most n_prompt - 1 tokens: the last one must run for
 * its logits), then evicts what the new reservations no longer leave room
 * for. Returns the blocks pinned in b->pblk. */
static uint32_t prefix_match(eco_engine *b, const req *r) {
  if (!b->prefix) return 0;
  const uint32_t nb = eco_prefix_match(b->prefix, r->tokens, r->n_prompt,
                                       (r->n_prompt - 1) / b->cfg.prefix_block, b->pblk);
  pthread_mutex_lock(&b->mu);
  eco_prefix_evict(b->prefix, prefix_room(b));
  prefix_sync(b);
  pthread_mutex_unlock(&b->mu);
  return nb;
}

/* Copies the nb pinned blocks into r's reserved KV and releases them.
 * Returns the prompt tokens now in its KV (whole blocks loaded). */
static uint32_t prefix_load(eco_engine *b, const req *r, uint32_t nb) {
  const uint32_t B = b->cfg.prefix_block;
  uint32_t i = 0;
  for (; i < nb; i++)
    if (b->ops.kv_load(b->model, r->slot, i * B, B, eco_prefix_block_data(b->pblk[i]))) break;
  eco_prefix_unpin(b->prefix, b->pblk, nb);
  pthread_mutex_lock(&b->mu); /* what the pins kept beyond the room */
  eco_prefix_evict(b->prefix, prefix_room(b));
  prefix_sync(b);
  pthread_mutex_unlock(&b->mu);
  return i * B;
}

/* Records a reuse of n tokens by r (item it, its first prefill chunk, not
 * yet run): the scheduler and the item continue after them. Caller holds
 * mu. */
static void prefix_account(eco_engine *b, req *r, eco_sched_item *it, uint32_t n) {
  if (!b->prefix) return;
  if (n && eco_sched_skip_prefill(b->sched, r->id, n) == ECO_OK) {
    const uint32_t left = r->n_prompt - n;
    it->pos = n;
    it->n_tokens = it->n_tokens < left ? it->n_tokens : left;
    it->wants_logits = it->n_tokens == left;
    r->st.cached_tokens = n;
    b->usage.prefix_hits++;
    b->usage.prefix_saved_tokens += n;
  } else {
    b->usage.prefix_misses++;
  }
}

static int ensure_scratch(eco_engine *b, uint32_t n_tokens, uint32_t n_rows) {
  if (n_tokens > b->tok_cap) {
    int32_t *t = realloc(b->tok_buf, n_tokens * sizeof *t);
    if (!t) return ECO_ENOMEM;
    b->tok_buf = t;
    b->tok_cap = n_tokens;
  }
  if (n_rows > b->logits_rows) {
    float *l = realloc(b->logits, (size_t)n_rows * b->ops.n_vocab * sizeof *l);
    if (!l) return ECO_ENOMEM;
    b->logits = l;
    b->logits_rows = n_rows;
  }
  return ECO_OK;
}

/* A row of logits with NaN or infinity (a broken model, or a token whose
 * weights are): this request fails with ECO_ENUMERIC; the others in the
 * step go on. Its final callback is delivered with the step's. */
static void fail_nonfinite(eco_engine *b, req *r, double t, bool *finished, int32_t *out_tok,
                           eco_gen_stats *out_st) {
  ECO_WARN(b->log, "engine",
           "request %llu: the model produced non-finite logits (NaN or infinity); "
           "failing the request",
           (unsigned long long)r->id);
  *finished = true;
  *out_tok = -1;
  if (r->admitted) {
    b->ops.kv_release(b->model, r->slot);
    r->admitted = false;
  }
  pthread_mutex_lock(&b->mu);
  finish_stats(r, ECO_FINISH_ERROR, ECO_ENUMERIC, t);
  r->done = true;
  b->usage.nonfinite++;
  *out_st = r->st;
  pthread_mutex_unlock(&b->mu);
}

static void *engine_main(void *arg) {
  eco_engine *b = arg;
  bool *finished = b->finished;
  req **item_req = b->item_req;
  int32_t *out_tok = b->out_tok;
  eco_strbuf *out_txt = b->out_txt;
  eco_gen_stats *out_st = b->out_st;
  pthread_mutex_lock(&b->mu);
  for (;;) {
    /* 1. Cancellations: finalize on this thread (KV release happens here). */
    for (size_t i = 0; i < b->n_reqs; i++) {
      req *r = b->reqs[i];
      if (r->cancel && !r->done) {
        r->done = true;
        pthread_mutex_unlock(&b->mu);
        end_request(b, r, ECO_FINISH_CANCELED, 0);
        pthread_mutex_lock(&b->mu);
        i = (size_t)-1; /* the list may have changed: rescan */
      }
    }
    if (b->stop) break;
    if (b->hold) { /* requests arriving together: wait until they all are in */
      pthread_cond_wait(&b->cv, &b->mu);
      continue;
    }
    /* 2. Plan the next step. */
    eco_sched_step step;
    double t0 = now_s();
    eco_sched_plan(b->sched, t0, &step);
    if (step.n_items == 0) {
      pthread_cond_wait(&b->cv, &b->mu);
      continue;
    }
    uint32_t n = step.n_items, n_rows = 0;
    memcpy(b->items, step.items, n * sizeof *b->items);
    for (uint32_t i = 0; i < n; i++) {
      item_req[i] = find_req(b, b->items[i].id);
      n_rows += b->items[i].wants_logits;
      finished[i] = false;
    }
    pthread_mutex_unlock(&b->mu);

    /* 3. KV for newly admitted sequences; failures end those requests. */
    for (uint32_t i = 0; i < n; i++) {
      req *r = item_req[i];
      if (!r || r->admitted) continue;
      r->slot = b->items[i].slot;
      const uint32_t nb = prefix_match(b, r);
      int rc = b->ops.kv_reserve(b->model, r->slot, r->n_prompt + r->p.max_tokens);
      if (rc && b->prefix) eco_prefix_unpin(b->prefix, b->pblk, nb);
      if (rc) {
        ECO_WARN(b->log, "engine", "request %llu: KV allocation failed: %s",
                 (unsigned long long)r->id, eco_strerror(rc));
        pthread_mutex_lock(&b->mu);
        eco_sched_cancel(b->sched, r->id, now_s());
        r->done = true;
        pthread_mutex_unlock(&b->mu);
        end_request(b, r, ECO_FINISH_ERROR, rc);
        item_req[i] = NULL;
        continue;
      }
      r->admitted = true;
      const uint32_t reused = nb ? prefix_load(b, r, nb) : 0;
      pthread_mutex_lock(&b->mu);
      prefix_account(b, r, &b->items[i], reused);
      r->st.t_admit = t0;
      r->st.queue_s = t0 - r->st.t_submit;
      pthread_mutex_unlock(&b->mu);
    }
    /* Drop items whose request ended; compact. */
    uint32_t m = 0, n_tok = 0;
    n_rows = 0;
    for (uint32_t i = 0; i < n; i++) {
      if (!item_req[i] || item_req[i]->done) continue;
      b->items[m] = b->items[i];
      item_req[m] = item_req[i];
      n_tok += b->items[m].n_tokens;
      n_rows += b->items[m].wants_logits;
      m++;
    }
    int rc = ensure_scratch(b, n_tok ? n_tok : 1, n_rows ? n_rows : 1);
    uint32_t k = 0;
    for (uint32_t i = 0; i < m && !rc; i++) {
      memcpy(b->tok_buf + k, item_req[i]->tokens + b->items[i].pos,
             b->items[i].n_tokens * sizeof *b->tok_buf);
      k += b->items[i].n_tokens;
    }
    /* 4. One forward pass for the whole batch. */
    double cpu0 = eco_time_thread_cpu_s();
    if (!rc && m) rc = b->ops.forward(b->model, b->items, m, b->tok_buf, b->logits);
    double t1 = now_s(), cpu = eco_time_thread_cpu_s() - cpu0, dt = t1 - t0;
    if (rc) {
      ECO_ERROR(b->log, "engine", "forward pass failed: %s", eco_strerror(rc));
      for (uint32_t i = 0; i < m; i++) {
        pthread_mutex_lock(&b->mu);
        eco_sched_cancel(b->sched, item_req[i]->id, t1);
        item_req[i]->done = true;
        pthread_mutex_unlock(&b->mu);
        end_request(b, item_req[i], ECO_FINISH_ERROR, rc);
      }
      pthread_mutex_lock(&b->mu);
      continue;
    }
    /* Cache the prompts whose prefill just completed, unless their logits
     * are non-finite (a poisoned prompt's KV is not worth keeping). */
    for (uint32_t i = 0, crow = 0; b->prefix && i < m; i++) {
      const float *lg =
          b->items[i].wants_logits ? b->logits + (size_t)crow++ * b->ops.n_vocab : NULL;
      if (b->items[i].pos + b->items[i].n_tokens == item_req[i]->n_prompt &&
          item_req[i]->n_tokens == item_req[i]->n_prompt &&
          (!lg || eco_logits_finite(lg, b->ops.n_vocab)))
        prefix_store(b, item_req[i], item_req[i]->n_prompt);
    }
    /* 5. Sample, detokenize, apply stops. Only this thread touches a
     * request's tokens and text; its stats are shared, so they change under
     * the lock. */
    uint32_t row = 0, n_gen = 0;
    for (uint32_t i = 0; i < m; i++) {
      req *r = item_req[i];
      const eco_sched_item *it = &b->items[i];
      double share = n_tok ? (double)it->n_tokens / n_tok : 0;
      float *lg = it->wants_logits ? b->logits + (size_t)row++ * b->ops.n_vocab : NULL;
      out_tok[i] = INT32_MIN; /* no callback for this item */
      eco_sb_reset(&out_txt[i]);
      if (!lg || r->cancel) {
        pthread_mutex_lock(&b->mu);
        r->st.engine_busy_s += dt * share;
        r->st.cpu_s += cpu * share;
        pthread_mutex_unlock(&b->mu);
        continue; /* a canceled request is finalized at the top of the loop */
      }
      if (!eco_logits_finite(lg, b->ops.n_vocab)) {
        fail_nonfinite(b, r, t1, &finished[i], &out_tok[i], &out_st[i]);
        continue;
      }
      int32_t tok = b->ops.sample(b->model, r->sampler, lg);
      r->tokens[r->n_tokens++] = tok;
      n_gen++;
      uint32_t gen = r->n_tokens - r->n_prompt;
      eco_finish_reason why = ECO_FINISH_NONE;
      bool eog = b->tok && !r->p.ignore_eos && eco_tokenizer_is_eog(b->tok, tok);
      bool stop = false;
      if (eog)
        why = ECO_FINISH_STOP;
      else
        add_text(b, r, tok, &out_txt[i], &stop);
      if (stop)
        why = ECO_FINISH_STOP;
      else if (!eog && gen >= r->p.max_tokens)
        why = ECO_FINISH_LENGTH;
      if (why != ECO_FINISH_NONE) {
        if (!stop) flush_text(b, r, &out_txt[i]);
        finished[i] = true;
        prefix_store(b, r, r->n_tokens - 1); /* the last token was never fed */
        if (r->admitted) {
          b->ops.kv_release(b->model, r->slot);
          r->admitted = false;
        }
      }
      out_tok[i] = eog ? -1 : tok;
      pthread_mutex_lock(&b->mu);
      r->st.engine_busy_s += dt * share;
      r->st.cpu_s += cpu * share;
      r->st.prompt_tokens = r->n_prompt;
      r->st.generated_tokens = gen;
      if (gen == 1) {
        r->st.t_first = t1;
        r->st.ttft_s = t1 - r->st.t_submit;
      } else {
        double gap = t1 - r->last_tok_t;
        r->itl_sum += gap;
        r->n_itl++;
        if (gap > r->st.itl_max_s) r->st.itl_max_s = gap;
      }
      r->last_tok_t = t1;
      r->batch_sum += m;
      r->n_batch++;
      if (why != ECO_FINISH_NONE) {
        finish_stats(r, why, 0, t1);
        r->done = true;
      }
      out_st[i] = r->st;
      pthread_mutex_unlock(&b->mu);
    }
    /* 6. Scheduler bookkeeping before delivery: when a client sees its
     * final token, its slot and KV reservation are already free. */
    pthread_mutex_lock(&b->mu);
    eco_sched_step done_step = {.items = b->items, .n_items = m};
    eco_sched_complete(b->sched, &done_step, finished, t1);
    b->usage.steps++;
    b->usage.tokens += n_tok;
    b->usage.generated += n_gen;
    b->usage.busy_s += dt;
    b->usage.last_batch = m;
    pthread_mutex_unlock(&b->mu);
    /* 7. Deliver, without the lock (callbacks may call back into us). */
    for (uint32_t i = 0; i < m; i++) {
      if (out_tok[i] == INT32_MIN) continue;
      req *r = item_req[i];
      r->cb(r->user, r->id, out_tok[i], eco_sb_str(&out_txt[i]), out_txt[i].len, finished[i],
            &out_st[i]);
    }
    pthread_mutex_lock(&b->mu);
    for (uint32_t i = 0; i < m; i++)
      if (finished[i]) item_req[i]->delivered = true;
    reap_forgotten(b);
    trim_records(b);
  }
  /* Shutdown: cancel everything still known. */
  for (size_t i = 0; i < b->n_reqs; i++) {
    req *r = b->reqs[i];
    if (r->done) continue;
    r->done = true;
    eco_sched_cancel(b->sched, r->id, now_s());
    pthread_mutex_unlock(&b->mu);
    end_request(b, r, ECO_FINISH_CANCELED, 0);
    pthread_mutex_lock(&b->mu);
  }
  pthread_mutex_unlock(&b->mu);
  return NULL;
}

/* ---- public API ------------------------------------------------------------ */

static void free_scratch(eco_engine *b) {
  for (uint32_t i = 0; b->out_txt && i < b->cfg.sched.max_batch; i++)
    eco_sb_free(&b->out_txt[i]);
  free(b->items);
  free(b->item_req);
  free(b->finished);
  free(b->out_tok);
  free(b->out_txt);
  free(b->out_st);
  free(b->tok_buf);
  free(b->logits);
  free(b->pblk);
  eco_prefix_free(b->prefix);
}

int eco_engine_new(const eco_engine_model_ops *ops, void *model, const eco_tokenizer *tok,
                   const eco_engine_cfg *cfg, const eco_logger *log, eco_engine **out,
                   eco_error *err) {
  if (!ops || !ops->forward || !ops->sample || !ops->sampler_new || !ops->sampler_free ||
      !ops->kv_reserve || !ops->kv_release || !ops->n_vocab || !cfg)
    return eco_error_set(err, ECO_EINVAL, "batch engine: incomplete model ops or config");
  int rc = ECO_ENOMEM;
  eco_engine *b = calloc(1, sizeof *b);
  if (!b) return eco_error_set(err, ECO_ENOMEM, "batch engine: out of memory");
  b->ops = *ops;
  b->model = model;
  b->tok = tok;
  b->log = log;
  b->cfg = *cfg;
  b->cfg.sched.n_ctx = ops->n_ctx;
  b->cfg.sched.kv_bytes_per_token = ops->kv_bytes_per_token;
  if (b->cfg.max_requests < b->cfg.sched.max_batch + b->cfg.sched.max_queue)
    b->cfg.max_requests = 2 * (b->cfg.sched.max_batch + b->cfg.sched.max_queue) + 16;
  pthread_mutex_init(&b->mu, NULL);
  pthread_cond_init(&b->cv, NULL);
  if ((rc = eco_sched_new(&b->cfg.sched, &b->sched))) {
    eco_error_set(err, rc, "batch engine: invalid scheduler config (budget %llu B, batch %u)",
                  (unsigned long long)b->cfg.sched.kv_budget_bytes, b->cfg.sched.max_batch);
    goto fail;
  }
  /* Per-step scratch, allocated here so that a failure is reported to the
   * caller instead of leaving an engine thread that never runs. */
  uint32_t mb = b->cfg.sched.max_batch;
  b->items = calloc(mb, sizeof *b->items);
  b->item_req = calloc(mb, sizeof *b->item_req);
  b->finished = calloc(mb, sizeof *b->finished);
  b->out_tok = calloc(mb, sizeof *b->out_tok);
  b->out_txt = calloc(mb, sizeof *b->out_txt);
  b->out_st = calloc(mb, sizeof *b->out_st);
  if (!b->items || !b->item_req || !b->finished || !b->out_tok || !b->out_txt || !b->out_st) {
    rc = eco_error_set(err, ECO_ENOMEM, "batch engine: out of memory");
    goto fail;
  }
  if (b->cfg.prefix_block && ops->kv_save && ops->kv_load) {
    if ((rc =
             eco_prefix_new(b->cfg.prefix_block,
                            (uint64_t)b->cfg.prefix_block * ops->kv_bytes_per_token, &b->prefix)) ||
        !(b->pblk = calloc(ops->n_ctx / b->cfg.prefix_block + 1, sizeof *b->pblk))) {
      rc = eco_error_set(err, rc ? rc : ECO_ENOMEM, "batch engine: cannot set up the prefix cache");
      goto fail;
    }
  } else {
    b->cfg.prefix_block = 0;
  }
  if (pthread_create(&b->thread, NULL, engine_main, b) != 0) {
    rc = eco_error_set(err, ECO_EINTERNAL, "batch engine: cannot start thread");
    goto fail;
  }
  *out = b;
  return ECO_OK;
fail:
  eco_sched_free(b->sched);
  free_scratch(b);
  pthread_mutex_destroy(&b->mu);
  pthread_cond_destroy(&b->cv);
  free(b);
  return rc;
}

void eco_engine_free(eco_engine *b) {
  if (!b) return;
  pthread_mutex_lock(&b->mu);
  b->stop = true;
  pthread_cond_signal(&b->cv);
  pthread_mutex_unlock(&b->mu);
  pthread_join(b->thread, NULL);
  for (size_t i = 0; i < b->n_reqs; i++)
    req_free(&b->ops, b->model, b->reqs[i]);
  free(b->reqs);
  eco_sched_free(b->sched);
  free_scratch(b);
  pthread_mutex_destroy(&b->mu);
  pthread_cond_destroy(&b->cv);
  free(b);
}

int eco_engine_submit(eco_engine *b, const int32_t *prompt, uint32_t n_prompt,
                      const eco_gen_params *p, eco_token_cb cb, void *user, uint64_t *id) {
  if (!b || !prompt || !p || !cb || n_prompt == 0 || p->max_tokens == 0) return ECO_EINVAL;
  for (uint32_t i = 0; i < n_prompt; i++)
    if (prompt[i] < 0 || (uint32_t)prompt[i] >= b->ops.n_vocab) return ECO_EINVAL;
  if ((uint64_t)n_prompt + p->max_tokens > b->ops.n_ctx) return ECO_ECONTEXT;
  req *r = calloc(1, sizeof *r);
  if (!r) return ECO_ENOMEM;
  r->tokens = malloc(((size_t)n_prompt + p->max_tokens) * sizeof *r->tokens);
  r->p = *p;
  r->p.stop = NULL;
  r->p.n_stop = 0;
  if (p->n_stop) r->stop_copy = calloc(p->n_stop, sizeof *r->stop_copy);
  if (!r->tokens || (p->n_stop && !r->stop_copy)) goto oom;
  for (size_t i = 0; i < p->n_stop; i++) {
    if (!(r->stop_copy[i] = strdup(p->stop[i] ? p->stop[i] : ""))) goto oom;
    r->p.n_stop++;
  }
  r->p.stop = (const char *const *)r->stop_copy;
  if (eco_stop_init(&r->stop, r->p.stop, r->p.n_stop)) goto oom;
  memcpy(r->tokens, prompt, n_prompt * sizeof *prompt);
  r->n_prompt = r->n_tokens = n_prompt;
  r->cb = cb;
  r->user = user;
  r->sampler = b->ops.sampler_new(b->model, &r->p, prompt, n_prompt);
  if (!r->sampler) goto oom;
  r->slot = -1;
  r->st.prompt_tokens = n_prompt;
  r->st.t_submit = now_s();
  if (b->tok) eco_tok_stream_init(&r->ts, b->tok, false);

  pthread_mutex_lock(&b->mu);
  if (b->n_reqs == b->cap_reqs) {
    size_t cap = b->cap_reqs ? b->cap_reqs * 2 : 32;
    req **nr = realloc(b->reqs, cap * sizeof *nr);
    if (!nr) {
      pthread_mutex_unlock(&b->mu);
      goto oom;
    }
    b->reqs = nr;
    b->cap_reqs = cap;
  }
  r->id = ++b->next_id;
  int rc = eco_sched_submit(b->sched, r->id, n_prompt, p->max_tokens, r->st.t_submit);
  if (rc) {
    b->next_id--;
    pthread_mutex_unlock(&b->mu);
    req_free(&b->ops, b->model, r);
    return rc;
  }
  b->reqs[b->n_reqs++] = r;
  if (id) *id = r->id;
  pthread_cond_signal(&b->cv);
  pthread_mutex_unlock(&b->mu);
  return ECO_OK;
oom:
  req_free(&b->ops, b->model, r);
  return ECO_ENOMEM;
}

int eco_engine_cancel(eco_engine *b, uint64_t id) {
  pthread_mutex_lock(&b->mu);
  req *r = find_req(b, id);
  int rc = ECO_ENOENT;
  if (r && !r->done && !r->cancel && !r->forget) {
    /* Frees the scheduler slot and KV reservation now; the engine thread
     * releases the memory and sends the final callback. */
    eco_sched_cancel(b->sched, id, now_s());
    r->cancel = true;
    pthread_cond_signal(&b->cv);
    rc = ECO_OK;
  }
  pthread_mutex_unlock(&b->mu);
  return rc;
}

int eco_engine_stats(eco_engine *b, uint64_t id, eco_gen_stats *out) {
  pthread_mutex_lock(&b->mu);
  req *r = find_req(b, id);
  if (r && r->forget) r = NULL; /* forgotten, freed after its final callback */
  if (r) *out = r->st;
  pthread_mutex_unlock(&b->mu);
  return r ? ECO_OK : ECO_ENOENT;
}

int eco_engine_forget(eco_engine *b, uint64_t id) {
  int rc = ECO_ENOENT;
  pthread_mutex_lock(&b->mu);
  for (size_t i = 0; i < b->n_reqs; i++) {
    req *r = b->reqs[i];
    if (r->id != id) continue;
    if (!r->done) {
      rc = ECO_ESTATE; /* still running: cancel it first */
      break;
    }
    if (r->delivered)
      remove_at(b, i);
    else
      r->forget = true; /* the engine thread frees it after the final callback */
    rc = ECO_OK;
    break;
  }
  pthread_mutex_unlock(&b->mu);
  return rc;
}

void eco_engine_hold(eco_engine *b, bool hold) {
  pthread_mutex_lock(&b->mu);
  b->hold = hold;
  pthread_cond_broadcast(&b->cv);
  pthread_mutex_unlock(&b->mu);
}

void eco_engine_usage_get(eco_engine *b, eco_engine_usage *u) {
  pthread_mutex_lock(&b->mu);
  *u = b->usage;
  eco_sched_usage_get(b->sched, &u->sched);
  pthread_mutex_unlock(&b->mu);
}
