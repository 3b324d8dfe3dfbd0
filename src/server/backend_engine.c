#include "server/backend_engine.h"

#include "engine/chat.h"
#include "engine/engine.h"
#include "engine/engine_model.h"
#include "engine/tokenizer.h"
#include "util/cpu.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct be {
  eco_model *model;
  eco_tokenizer *tok;
  eco_engine_model *em;
  eco_engine *engine;
  eco_chat_tmpl *tmpl; /* the chat template, compiled and checked once */
  eco_logger quiet;    /* logger for per-request rendering (fallback warned once) */
  char name[128];
  uint32_t n_ctx, max_batch, max_queue;
  uint64_t kv_budget;
  bool prefix_cache; /* KV reuse across requests is on */
  const eco_logger *log;
} be;

/* One request: the server's callback and user pointer. */
typedef struct be_req {
  eco_backend_token_cb cb;
  void *user;
} be_req;

static void to_backend_stats(const eco_gen_stats *g, eco_backend_stats *s) {
  memset(s, 0, sizeof *s);
  s->prompt_tokens = (int)g->prompt_tokens;
  s->cached_tokens = (int)g->cached_tokens;
  s->generated_tokens = (int)g->generated_tokens;
  s->queue_s = g->queue_s;
  s->ttft_s = g->ttft_s;
  s->per_token_s = g->itl_mean_s;
  s->cpu_s = g->cpu_s;
  s->energy_known = false; /* the server attributes energy from its meter */
  s->batch_size = (int)((g->batch_mean_x100 + 50) / 100);
}

static const char *finish_name(eco_finish_reason r) {
  switch (r) {
  case ECO_FINISH_STOP: return "stop";
  case ECO_FINISH_LENGTH: return "length";
  case ECO_FINISH_CANCELED: return "cancelled";
  default: return "error";
  }
}

static void on_token(void *user, uint64_t id, int32_t token, const char *text, size_t len,
                     bool done, const eco_gen_stats *st) {
  (void)token;
  be_req *r = user;
  if (len > 0 || (!done && token >= 0)) {
    eco_backend_event ev = {.kind = ECO_BACKEND_TOKEN, .id = id, .text = text, .len = len};
    r->cb(&ev, r->user);
  }
  if (!done) return;
  eco_backend_stats bs;
  to_backend_stats(st, &bs);
  eco_backend_event ev = {.kind = ECO_BACKEND_DONE,
                          .id = id,
                          .finish_reason = finish_name(st->finish),
                          .error = st->finish == ECO_FINISH_ERROR ? st->error : 0,
                          .stats = &bs};
  r->cb(&ev, r->user);
  free(r);
}

static int be_submit(void *self, const eco_backend_request *q, eco_backend_token_cb cb, void *user,
                     eco_backend_id *id) {
  be *b = self;
  if (!q || !cb || q->max_tokens < 1 || (!q->messages && !q->prompt)) return ECO_EINVAL;
  eco_prompt_in pin = {.msgs = q->messages,
                       .n_msgs = q->n_messages,
                       .text = q->prompt,
                       .tmpl = b->tmpl,
                       .max_ids = b->n_ctx + 16, /* longer cannot fit anyway */
                       .lg = &b->quiet};         /* a fallback was warned once, at load */
  eco_prompt pr;
  int rc = eco_chat_prompt(b->tok, &pin, &pr, NULL);
  if (rc) return rc == ECO_ENOMEM || rc == ECO_ECONTEXT ? rc : ECO_EINVAL;
  eco_sb_free(&pr.text);
  int32_t *ids = pr.ids;
  size_t n = pr.n_ids;
  eco_gen_params p;
  eco_gen_params_default(&p);
  p.temperature = (float)q->sampling.temperature;
  p.top_p = q->sampling.top_p > 0 ? (float)q->sampling.top_p : 1.0f;
  p.top_k = q->sampling.top_k;
  double pen = q->sampling.presence_pen > q->sampling.frequency_pen ? q->sampling.presence_pen
                                                                    : q->sampling.frequency_pen;
  p.repeat_penalty = pen > 0 ? (float)(1.0 + (pen > 2 ? 2 : pen) / 2.0) : 1.0f;
  p.seed = q->sampling.has_seed ? q->sampling.seed : eco_time_mono_ns();
  p.max_tokens = (uint32_t)q->max_tokens;
  p.stop = q->stop;
  p.n_stop = q->n_stop;
  p.ignore_eos = q->ignore_eos;
  be_req *r = calloc(1, sizeof *r);
  if (!r) {
    free(ids);
    return ECO_ENOMEM;
  }
  r->cb = cb;
  r->user = user;
  uint64_t eid = 0;
  rc = eco_engine_submit(b->engine, ids, (uint32_t)n, &p, on_token, r, &eid);
  free(ids);
  if (rc) {
    free(r);
    return rc;
  }
  *id = eid;
  return ECO_OK;
}

static int be_cancel(void *self, eco_backend_id id) {
  return eco_engine_cancel(((be *)self)->engine, id);
}

static int be_stats(void *self, eco_backend_id id, eco_backend_stats *out) {
  eco_gen_stats g;
  int rc = eco_engine_stats(((be *)self)->engine, id, &g);
  if (rc) return rc;
  if (g.finish != ECO_FINISH_NONE) return ECO_ENOENT; /* contract: until DONE only */
  to_backend_stats(&g, out);
  return ECO_OK;
}

static int be_info(void *self, eco_backend_info *out) {
  be *b = self;
  eco_engine_usage u;
  eco_engine_usage_get(b->engine, &u);
  memset(out, 0, sizeof *out);
  snprintf(out->model_name, sizeof out->model_name, "%s", b->name);
  snprintf(out->device, sizeof out->device, "cpu");
  snprintf(out->chat_template, sizeof out->chat_template, "%s",
           eco_chat_family_name(eco_chat_tmpl_family(b->tmpl)));
  snprintf(out->chat_template_warning, sizeof out->chat_template_warning, "%s",
           eco_chat_tmpl_warning(b->tmpl));
  out->context_length = (int)b->n_ctx;
  out->loaded = true;
  out->queue_len = (int)u.sched.queued;
  out->queue_cap = (int)b->max_queue;
  out->active = (int)u.sched.active;
  out->max_batch = (int)b->max_batch;
  out->kv_used_bytes = (double)u.sched.kv_reserved;
  out->kv_budget_bytes = (double)u.sched.kv_budget;
  out->failed_nonfinite = u.nonfinite;
  out->prefix_cache = b->prefix_cache;
  out->prefix_hits = (double)u.prefix_hits;
  out->prefix_misses = (double)u.prefix_misses;
  out->prefix_saved_tokens = (double)u.prefix_saved_tokens;
  out->prefix_bytes = (double)u.prefix_bytes;
  out->prefix_evictions = (double)u.prefix_evictions;
  return ECO_OK;
}

static void be_destroy(void *self) {
  be *b = self;
  if (!b) return;
  eco_engine_free(b->engine); /* delivers DONE (cancelled) for every open request */
  eco_engine_model_free(b->em);
  eco_tokenizer_free(b->tok);
  eco_model_free(b->model);
  eco_chat_tmpl_free(b->tmpl);
  free(b);
}

static const eco_backend_vtable vt = {.submit = be_submit,
                                      .cancel = be_cancel,
                                      .stats = be_stats,
                                      .info = be_info,
                                      .destroy = be_destroy};

int eco_backend_engine_new(const eco_backend_engine_cfg *cfg, eco_backend *out, eco_error *err) {
  int rc;
  be *b = calloc(1, sizeof *b);
  if (!b) return eco_error_set(err, ECO_ENOMEM, "out of memory");
  b->log = cfg->log;
  if ((rc = eco_model_load(cfg->model_path, &b->model, err))) goto fail;
  if (!b->model->gguf) {
    rc = eco_error_set(err, ECO_EUNSUPPORTED,
                       "%s: serve needs a GGUF model (its tokenizer and chat template live in "
                       "the metadata)",
                       cfg->model_path);
    goto fail;
  }
  if ((rc = eco_tokenizer_from_gguf(b->model->gguf, &b->tok, err))) goto fail;
  /* Compile and check the chat template once: one that cannot be rendered
   * falls back to its family with one warning here (and in /v1/models),
   * rather than one per request. */
  eco_log_init(&b->quiet);
  b->quiet.level = ECO_LOG_OFF;
  if ((rc = eco_chat_tmpl_load(b->model->gguf, b->tok, cfg->log, &b->tmpl, err))) goto fail;
  const char *slash = strrchr(cfg->model_path, '/');
  snprintf(b->name, sizeof b->name, "%s",
           cfg->model_name ? cfg->model_name : (slash ? slash + 1 : cfg->model_path));
  b->n_ctx = cfg->n_ctx ? cfg->n_ctx : (uint32_t)b->model->hp.n_ctx_train;
  if (b->n_ctx > 8192 && !cfg->n_ctx) b->n_ctx = 8192;
  b->max_batch = cfg->max_batch ? cfg->max_batch : 4;
  b->max_queue = cfg->max_queue ? cfg->max_queue : 64;
  uint32_t chunk = cfg->prefill_chunk ? cfg->prefill_chunk : 128;
  eco_cpu_info ci;
  eco_cpu_detect(&ci);
  int threads = cfg->threads > 0 ? cfg->threads : ci.physical_cores;
  b->kv_budget = cfg->kv_budget_bytes ? cfg->kv_budget_bytes : ci.mem_available_bytes / 2;
  eco_engine_cfg ec;
  memset(&ec, 0, sizeof ec);
  ec.sched.kv_budget_bytes = b->kv_budget;
  ec.sched.max_batch = b->max_batch;
  ec.sched.max_queue = b->max_queue;
  ec.sched.prefill_chunk = chunk;
  ec.sched.step_tokens = chunk + b->max_batch;
  ec.prefix_block = cfg->no_prefix_cache ? 0 : cfg->prefix_block ? cfg->prefix_block : 16;
  b->prefix_cache = ec.prefix_block > 0;
  eco_ggml_type kv_type = ECO_KV_TYPE_DEFAULT;
  if (cfg->kv_type && cfg->kv_type[0] && eco_kv_type_parse(cfg->kv_type, &kv_type)) {
    rc = eco_error_set(err, ECO_EINVAL, "KV cache type '%s' is not f32 or f16", cfg->kv_type);
    goto fail;
  }
  if ((rc = eco_engine_model_new(b->model, threads, b->max_batch, ec.sched.step_tokens, &b->em,
                                 err)))
    goto fail;
  eco_engine_model_set_kv_type(b->em, kv_type);
  eco_engine_model_ops ops;
  eco_engine_model_ops_fill(b->em, b->n_ctx, &ops);
  if ((rc = eco_engine_new(&ops, b->em, b->tok, &ec, cfg->log, &b->engine, err))) goto fail;
  out->vt = &vt;
  out->self = b;
  return ECO_OK;
fail:
  be_destroy(b);
  return rc;
}
