/* ecoinfer: the batching engine's public API (engine/engine.h): submit, cancel, stats and
 * the requests' records; the engine thread's step loop is engine_step.c. */
#include "engine/engine_internal.h"

#include <stdlib.h>
#include <string.h>

typedef eco_engine_req req;

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

req *eco_engine_find_req(eco_engine *b, uint64_t id) {
  for (size_t i = 0; i < b->n_reqs; i++)
    if (b->reqs[i]->id == id) return b->reqs[i];
  return NULL;
}

void eco_engine_remove_at(eco_engine *b, size_t i) {
  req *r = b->reqs[i];
  memmove(&b->reqs[i], &b->reqs[i + 1], (b->n_reqs - i - 1) * sizeof *b->reqs);
  b->n_reqs--;
  eco_sched_reap(b->sched, r->id);
  req_free(&b->ops, b->model, r);
}

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
  if (pthread_create(&b->thread, NULL, eco_engine_main, b) != 0) {
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
  r->st.t_submit = eco_engine_now_s();
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
  req *r = eco_engine_find_req(b, id);
  int rc = ECO_ENOENT;
  if (r && !r->done && !r->cancel && !r->forget) {
    /* Frees the scheduler slot and KV reservation now; the engine thread
     * releases the memory and sends the final callback. */
    eco_sched_cancel(b->sched, id, eco_engine_now_s());
    r->cancel = true;
    pthread_cond_signal(&b->cv);
    rc = ECO_OK;
  }
  pthread_mutex_unlock(&b->mu);
  return rc;
}

int eco_engine_stats(eco_engine *b, uint64_t id, eco_gen_stats *out) {
  pthread_mutex_lock(&b->mu);
  req *r = eco_engine_find_req(b, id);
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
      eco_engine_remove_at(b, i);
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
