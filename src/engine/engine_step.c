/* ecoinfer: the batching engine's thread: each step cancels, plans (engine/sched.h), admits
 * (KV and the prefix cache), runs one forward pass for the whole batch, samples,
 * detokenizes, applies stop strings and delivers, as engine/engine.h describes. */
#include "engine/engine_internal.h"

#include <stdlib.h>
#include <string.h>

typedef eco_engine_req req;

/* Frees delivered records whose owner already forgot them. Caller holds mu. */
static void reap_forgotten(eco_engine *b) {
  for (size_t i = 0; i < b->n_reqs;) {
    if (b->reqs[i]->delivered && b->reqs[i]->forget)
      eco_engine_remove_at(b, i);
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
    eco_engine_remove_at(b, i);
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
  finish_stats(r, why, err, eco_engine_now_s());
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

/* 1. Cancellations: finalize on this thread (KV release happens here). Called and returns
 * with b->mu held. */
static void end_canceled(eco_engine *b) {
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
}

/* 3. KV for the step's newly admitted sequences (items [n]); failures end those requests
 * (their item_req becomes NULL). Called without b->mu. */
static void admit_new(eco_engine *b, uint32_t n, double t0) {
  for (uint32_t i = 0; i < n; i++) {
    req *r = b->item_req[i];
    if (!r || r->admitted) continue;
    r->slot = b->items[i].slot;
    const uint32_t nb = prefix_match(b, r);
    int rc = b->ops.kv_reserve(b->model, r->slot, r->n_prompt + r->p.max_tokens);
    if (rc && b->prefix) eco_prefix_unpin(b->prefix, b->pblk, nb);
    if (rc) {
      ECO_WARN(b->log, "engine", "request %llu: KV allocation failed: %s",
               (unsigned long long)r->id, eco_strerror(rc));
      pthread_mutex_lock(&b->mu);
      eco_sched_cancel(b->sched, r->id, eco_engine_now_s());
      r->done = true;
      pthread_mutex_unlock(&b->mu);
      end_request(b, r, ECO_FINISH_ERROR, rc);
      b->item_req[i] = NULL;
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
}

/* Drops the items whose request ended and compacts the rest; returns how many are left,
 * with their token count. */
static uint32_t compact_items(eco_engine *b, uint32_t n, uint32_t *n_tok) {
  uint32_t m = 0;
  *n_tok = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (!b->item_req[i] || b->item_req[i]->done) continue;
    b->items[m] = b->items[i];
    b->item_req[m] = b->item_req[i];
    *n_tok += b->items[m].n_tokens;
    m++;
  }
  return m;
}

/* Ends the step's m requests after a failed forward pass. Called without b->mu. */
static void fail_step(eco_engine *b, uint32_t m, int rc, double t1) {
  ECO_ERROR(b->log, "engine", "forward pass failed: %s", eco_strerror(rc));
  for (uint32_t i = 0; i < m; i++) {
    req *r = b->item_req[i];
    pthread_mutex_lock(&b->mu);
    eco_sched_cancel(b->sched, r->id, t1);
    r->done = true;
    pthread_mutex_unlock(&b->mu);
    end_request(b, r, ECO_FINISH_ERROR, rc);
  }
}

/* Caches the prompts whose prefill just completed, unless their logits are non-finite (a
 * poisoned prompt's KV is not worth keeping). */
static void cache_prefills(eco_engine *b, uint32_t m) {
  for (uint32_t i = 0, crow = 0; b->prefix && i < m; i++) {
    const req *r = b->item_req[i];
    const float *lg = b->items[i].wants_logits ? b->logits + (size_t)crow++ * b->ops.n_vocab : NULL;
    if (b->items[i].pos + b->items[i].n_tokens == r->n_prompt && r->n_tokens == r->n_prompt &&
        (!lg || eco_logits_finite(lg, b->ops.n_vocab)))
      prefix_store(b, b->item_req[i], r->n_prompt);
  }
}

/* The timing of one step, shared by its items in proportion to their tokens. */
typedef struct step_time {
  double t1;      /* end of the forward pass, s */
  double dt;      /* wall time of the step, s */
  double cpu;     /* CPU time of this thread in the forward pass, s */
  uint32_t m;     /* sequences in the step */
  uint32_t n_tok; /* tokens in the step */
} step_time;

/* Item i's request after its new token: stats, and the end when why says so. Called with
 * b->mu held. */
static void note_token(eco_engine *b, uint32_t i, const step_time *t, eco_finish_reason why) {
  req *r = b->item_req[i];
  uint32_t gen = r->n_tokens - r->n_prompt;
  r->st.prompt_tokens = r->n_prompt;
  r->st.generated_tokens = gen;
  if (gen == 1) {
    r->st.t_first = t->t1;
    r->st.ttft_s = t->t1 - r->st.t_submit;
  } else {
    double gap = t->t1 - r->last_tok_t;
    r->itl_sum += gap;
    r->n_itl++;
    if (gap > r->st.itl_max_s) r->st.itl_max_s = gap;
  }
  r->last_tok_t = t->t1;
  r->batch_sum += t->m;
  r->n_batch++;
  if (why != ECO_FINISH_NONE) {
    finish_stats(r, why, 0, t->t1);
    r->done = true;
  }
  b->out_st[i] = r->st;
}

/* 5. Samples item i's next token from its logits lg (NULL: none this step), detokenizes it
 * and applies the stops. Only this thread touches a request's tokens and text; its stats are
 * shared, so they change under the lock. Returns whether a token was generated. */
static bool sample_item(eco_engine *b, uint32_t i, float *lg, const step_time *t) {
  req *r = b->item_req[i];
  const double share = t->n_tok ? (double)b->items[i].n_tokens / t->n_tok : 0;
  b->out_tok[i] = INT32_MIN; /* no callback for this item */
  eco_sb_reset(&b->out_txt[i]);
  if (!lg || r->cancel) {
    pthread_mutex_lock(&b->mu);
    r->st.engine_busy_s += t->dt * share;
    r->st.cpu_s += t->cpu * share;
    pthread_mutex_unlock(&b->mu);
    return false; /* a canceled request is finalized at the top of the loop */
  }
  if (!eco_logits_finite(lg, b->ops.n_vocab)) {
    fail_nonfinite(b, r, t->t1, &b->finished[i], &b->out_tok[i], &b->out_st[i]);
    return false;
  }
  int32_t tok = b->ops.sample(b->model, r->sampler, lg);
  r->tokens[r->n_tokens++] = tok;
  uint32_t gen = r->n_tokens - r->n_prompt;
  eco_finish_reason why = ECO_FINISH_NONE;
  bool eog = b->tok && !r->p.ignore_eos && eco_tokenizer_is_eog(b->tok, tok);
  bool stop = false;
  if (eog)
    why = ECO_FINISH_STOP;
  else
    add_text(b, r, tok, &b->out_txt[i], &stop);
  if (stop)
    why = ECO_FINISH_STOP;
  else if (!eog && gen >= r->p.max_tokens)
    why = ECO_FINISH_LENGTH;
  if (why != ECO_FINISH_NONE) {
    if (!stop) flush_text(b, r, &b->out_txt[i]);
    b->finished[i] = true;
    prefix_store(b, r, r->n_tokens - 1); /* the last token was never fed */
    if (r->admitted) {
      b->ops.kv_release(b->model, r->slot);
      r->admitted = false;
    }
  }
  b->out_tok[i] = eog ? -1 : tok;
  pthread_mutex_lock(&b->mu);
  r->st.engine_busy_s += t->dt * share;
  r->st.cpu_s += t->cpu * share;
  note_token(b, i, t, why);
  pthread_mutex_unlock(&b->mu);
  return true;
}

/* 6. Scheduler bookkeeping before delivery: when a client sees its final token, its slot
 * and KV reservation are already free. 7. Delivery, without the lock (callbacks may call
 * back into us). Called without b->mu; returns with it held. */
static void complete_step(eco_engine *b, const step_time *t, uint32_t n_gen) {
  const uint32_t m = t->m;
  pthread_mutex_lock(&b->mu);
  eco_sched_step done_step = {.items = b->items, .n_items = m};
  eco_sched_complete(b->sched, &done_step, b->finished, t->t1);
  b->usage.steps++;
  b->usage.tokens += t->n_tok;
  b->usage.generated += n_gen;
  b->usage.busy_s += t->dt;
  b->usage.last_batch = m;
  pthread_mutex_unlock(&b->mu);
  for (uint32_t i = 0; i < m; i++) {
    if (b->out_tok[i] == INT32_MIN) continue;
    req *r = b->item_req[i];
    r->cb(r->user, r->id, b->out_tok[i], eco_sb_str(&b->out_txt[i]), b->out_txt[i].len,
          b->finished[i], &b->out_st[i]);
  }
  pthread_mutex_lock(&b->mu);
  for (uint32_t i = 0; i < m; i++)
    if (b->finished[i]) b->item_req[i]->delivered = true;
  reap_forgotten(b);
  trim_records(b);
}

/* Runs the planned step of n items (b->items): admission, one forward pass for the whole
 * batch, sampling and delivery. Called without b->mu; returns with it held. */
static void run_step(eco_engine *b, uint32_t n, double t0) {
  admit_new(b, n, t0);
  uint32_t n_tok;
  const uint32_t m = compact_items(b, n, &n_tok);
  uint32_t n_rows = 0;
  for (uint32_t i = 0; i < m; i++)
    n_rows += b->items[i].wants_logits;
  int rc = ensure_scratch(b, n_tok ? n_tok : 1, n_rows ? n_rows : 1);
  uint32_t k = 0;
  for (uint32_t i = 0; i < m && !rc; i++) {
    memcpy(b->tok_buf + k, b->item_req[i]->tokens + b->items[i].pos,
           b->items[i].n_tokens * sizeof *b->tok_buf);
    k += b->items[i].n_tokens;
  }
  /* 4. One forward pass for the whole batch. */
  double cpu0 = eco_time_thread_cpu_s();
  if (!rc && m) rc = b->ops.forward(b->model, b->items, m, b->tok_buf, b->logits);
  double t1 = eco_engine_now_s();
  step_time t = {
      .t1 = t1, .dt = t1 - t0, .cpu = eco_time_thread_cpu_s() - cpu0, .m = m, .n_tok = n_tok};
  if (rc) {
    fail_step(b, m, rc, t1);
    pthread_mutex_lock(&b->mu);
    return;
  }
  cache_prefills(b, m);
  uint32_t row = 0, n_gen = 0;
  for (uint32_t i = 0; i < m; i++) {
    float *lg = b->items[i].wants_logits ? b->logits + (size_t)row++ * b->ops.n_vocab : NULL;
    n_gen += sample_item(b, i, lg, &t);
  }
  complete_step(b, &t, n_gen);
}

/* Shutdown: cancel everything still known. Called and returns with b->mu held. */
static void cancel_all(eco_engine *b) {
  for (size_t i = 0; i < b->n_reqs; i++) {
    req *r = b->reqs[i];
    if (r->done) continue;
    r->done = true;
    eco_sched_cancel(b->sched, r->id, eco_engine_now_s());
    pthread_mutex_unlock(&b->mu);
    end_request(b, r, ECO_FINISH_CANCELED, 0);
    pthread_mutex_lock(&b->mu);
  }
}

void *eco_engine_main(void *arg) {
  eco_engine *b = arg;
  pthread_mutex_lock(&b->mu);
  for (;;) {
    end_canceled(b);
    if (b->stop) break;
    if (b->hold) { /* requests arriving together: wait until they all are in */
      pthread_cond_wait(&b->cv, &b->mu);
      continue;
    }
    /* 2. Plan the next step. */
    eco_sched_step step;
    double t0 = eco_engine_now_s();
    eco_sched_plan(b->sched, t0, &step);
    if (step.n_items == 0) {
      pthread_cond_wait(&b->cv, &b->mu);
      continue;
    }
    const uint32_t n = step.n_items;
    memcpy(b->items, step.items, n * sizeof *b->items);
    for (uint32_t i = 0; i < n; i++) {
      b->item_req[i] = eco_engine_find_req(b, b->items[i].id);
      b->finished[i] = false;
    }
    pthread_mutex_unlock(&b->mu);
    run_step(b, n, t0);
  }
  cancel_all(b);
  pthread_mutex_unlock(&b->mu);
  return NULL;
}

/* ---- public API ------------------------------------------------------------ */
