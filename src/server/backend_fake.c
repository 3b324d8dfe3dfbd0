/* ecoinfer: the deterministic fake backend (see backend_fake.h). */
#include "server/backend_fake.h"

#include "util/status.h"
#include "util/timeutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const default_script[] = {"Hello",     "!",     " This",    " is", " the",
                                             " ecoinfer", " fake", " backend", "."};

enum { SLOT_QUEUED = 0, SLOT_ACTIVE = 1 };

typedef struct fake_req {
  eco_backend_id id;
  eco_backend_token_cb cb;
  void *user;
  int state;
  bool cancelled;
  bool stop_hit; /* a stop string was seen: finish "stop" next step */
  int max_tokens;
  char **stop;
  size_t n_stop;
  char *out; /* text emitted so far (for stop strings) */
  size_t out_len;
  eco_backend_stats st;
  uint64_t t_submit_ns, t_first_ns, t_last_ns;
  struct fake_req *next;
} fake_req;

typedef struct fake {
  eco_fake_cfg cfg;
  char model_name[128];
  char **script;
  size_t n_script;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t thread;
  bool quit, busy, paused;
  fake_req *head; /* submit order */
  int n_queued, n_active, n_cancelled;
  eco_backend_id next_id;
  char *last_prompt; /* the last submitted prompt, flattened (tests) */
} fake;

/* An event to deliver outside the lock. */
typedef struct pending {
  eco_backend_token_cb cb;
  void *user;
  eco_backend_event ev;
  char *text;
  eco_backend_stats st;
} pending;

void eco_fake_cfg_default(eco_fake_cfg *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->model_name = "fake-model";
  cfg->stop_at_script_end = true;
  cfg->tokens_per_s = 0;
  cfg->max_batch = 4;
  cfg->queue_cap = 16;
  cfg->context_length = 2048;
  cfg->cpu_s_per_token = 0.002;
  cfg->kv_bytes_per_seq = 4.0 * 1024 * 1024;
}

static int count_words(const char *s) {
  int n = 0;
  bool in = false;
  for (; s && *s; s++) {
    bool sp = *s == ' ' || *s == '\n' || *s == '\t' || *s == '\r';
    if (!sp && !in) n++;
    in = !sp;
  }
  return n;
}

static void req_free(fake_req *r) {
  if (!r) return;
  for (size_t i = 0; i < r->n_stop; i++)
    free(r->stop[i]);
  free(r->stop);
  free(r->out);
  free(r);
}

static void fill_times(fake_req *r) {
  if (r->t_first_ns) r->st.ttft_s = (double)(r->t_first_ns - r->t_submit_ns) / 1e9;
  if (r->st.generated_tokens > 1)
    r->st.per_token_s =
        (double)(r->t_last_ns - r->t_first_ns) / 1e9 / (double)(r->st.generated_tokens - 1);
}

/* Produces the next event of an active request into *p; returns true when
 * the request is finished (p is then a DONE event). Called locked. */
static bool step_req(fake *f, fake_req *r, pending *p, uint64_t now) {
  p->cb = r->cb;
  p->user = r->user;
  p->ev.id = r->id;
  if (r->cancelled) {
    p->ev.kind = ECO_BACKEND_DONE;
    p->ev.finish_reason = "cancelled";
    f->n_cancelled++;
    return true;
  }
  int g = r->st.generated_tokens;
  if (r->stop_hit) {
    p->ev.kind = ECO_BACKEND_DONE;
    p->ev.finish_reason = "stop";
    return true;
  }
  if (g >= r->max_tokens) {
    p->ev.kind = ECO_BACKEND_DONE;
    p->ev.finish_reason = "length";
    return true;
  }
  if (f->cfg.stop_at_script_end && (size_t)g >= f->n_script) {
    p->ev.kind = ECO_BACKEND_DONE;
    p->ev.finish_reason = "stop";
    return true;
  }
  if (g + r->st.prompt_tokens >= f->cfg.context_length) {
    p->ev.kind = ECO_BACKEND_DONE;
    p->ev.finish_reason = "length";
    return true;
  }
  const char *piece = f->script[(size_t)g % f->n_script];
  size_t plen = strlen(piece);
  char *grown = realloc(r->out, r->out_len + plen + 1);
  if (!grown) {
    p->ev.kind = ECO_BACKEND_DONE;
    p->ev.finish_reason = "error";
    p->ev.error = ECO_ENOMEM;
    return true;
  }
  r->out = grown;
  memcpy(r->out + r->out_len, piece, plen + 1);
  size_t emit = plen;
  bool stopped = false;
  for (size_t i = 0; i < r->n_stop; i++) {
    const char *hit = strstr(r->out, r->stop[i]);
    if (!hit) continue;
    size_t at = (size_t)(hit - r->out);
    size_t e = at > r->out_len ? at - r->out_len : 0;
    if (!stopped || e < emit) emit = e;
    stopped = true;
  }
  r->out_len += plen;
  r->st.generated_tokens++;
  r->st.cpu_s += f->cfg.cpu_s_per_token;
  if (f->cfg.energy_j_per_token > 0) r->st.energy_j += f->cfg.energy_j_per_token;
  if (!r->t_first_ns) r->t_first_ns = now;
  r->t_last_ns = now;
  r->st.batch_size = f->n_active;
  if (stopped && emit == 0) {
    p->ev.kind = ECO_BACKEND_DONE;
    p->ev.finish_reason = "stop";
    return true;
  }
  p->ev.kind = ECO_BACKEND_TOKEN;
  p->text = malloc(emit + 1);
  if (p->text) memcpy(p->text, piece, emit);
  p->ev.text = p->text;
  p->ev.len = p->text ? emit : 0;
  r->stop_hit = stopped;
  return false;
}

static void *worker(void *arg) {
  fake *f = arg;
  pthread_mutex_lock(&f->mu);
  uint64_t next_ns = eco_time_mono_ns();
  while (!f->quit) {
    /* admit in submit order */
    for (fake_req *r = f->head; r && f->n_active < f->cfg.max_batch; r = r->next) {
      if (r->state != SLOT_QUEUED) continue;
      r->state = SLOT_ACTIVE;
      r->st.queue_s = (double)(eco_time_mono_ns() - r->t_submit_ns) / 1e9;
      f->n_queued--;
      f->n_active++;
    }
    bool any_cancel = false;
    for (fake_req *r = f->head; r; r = r->next)
      any_cancel |= r->cancelled;
    if ((f->paused && !any_cancel) || !f->head) {
      pthread_cond_wait(&f->cv, &f->mu);
      next_ns = eco_time_mono_ns();
      continue;
    }
    uint64_t now = eco_time_mono_ns();
    if (!any_cancel && now < next_ns) {
      struct timespec ts;
      clock_gettime(CLOCK_MONOTONIC, &ts);
      uint64_t wait = next_ns - now;
      ts.tv_sec += (time_t)(wait / 1000000000u);
      ts.tv_nsec += (long)(wait % 1000000000u);
      if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
      pthread_cond_timedwait(&f->cv, &f->mu, &ts);
      continue;
    }
    /* one step: every active request (or only cancelled ones while paused) */
    size_t n = 0;
    for (fake_req *r = f->head; r; r = r->next)
      n++;
    pending *ps = calloc(n ? n : 1, sizeof *ps);
    size_t np = 0;
    fake_req **link = &f->head;
    while (*link) {
      fake_req *r = *link;
      bool eligible = r->cancelled || (!f->paused && r->state == SLOT_ACTIVE);
      if (!eligible || !ps) {
        link = &r->next;
        continue;
      }
      pending *p = &ps[np++];
      bool done = step_req(f, r, p, now);
      if (done) {
        fill_times(r);
        p->st = r->st;
        if (f->cfg.energy_j_per_token > 0) {
          p->st.energy_known = true;
          snprintf(p->st.energy_source, sizeof p->st.energy_source, "fake");
        }
        if (r->state == SLOT_ACTIVE)
          f->n_active--;
        else
          f->n_queued--;
        *link = r->next;
        req_free(r);
      } else {
        link = &r->next;
      }
    }
    if (f->cfg.tokens_per_s > 0) {
      next_ns += (uint64_t)(1e9 / f->cfg.tokens_per_s);
      if (next_ns < now) next_ns = now;
    }
    pthread_mutex_unlock(&f->mu);
    for (size_t i = 0; i < np; i++) {
      if (ps[i].ev.kind == ECO_BACKEND_DONE) ps[i].ev.stats = &ps[i].st;
      ps[i].cb(&ps[i].ev, ps[i].user);
      free(ps[i].text);
    }
    free(ps);
    pthread_mutex_lock(&f->mu);
  }
  pthread_mutex_unlock(&f->mu);
  return NULL;
}

/* "role: content\n" per message, or the raw prompt; malloc'd, NULL on OOM. */
static char *flatten_prompt(const eco_backend_request *req) {
  if (req->prompt) return strdup(req->prompt);
  size_t n = 1;
  for (size_t i = 0; i < req->n_messages; i++)
    n += strlen(req->messages[i].role) + 2 + strlen(req->messages[i].content) + 1;
  char *p = malloc(n), *w = p;
  if (!p) return NULL;
  for (size_t i = 0; i < req->n_messages; i++)
    w += sprintf(w, "%s: %s\n", req->messages[i].role, req->messages[i].content);
  *w = 0;
  return p;
}

static int fake_submit(void *self, const eco_backend_request *req, eco_backend_token_cb cb,
                       void *user, eco_backend_id *id) {
  fake *f = self;
  if (!req || !cb || !id || req->max_tokens < 1 || (!req->prompt && !req->messages))
    return ECO_EINVAL;
  int words = 0;
  if (req->prompt) words = count_words(req->prompt);
  for (size_t i = 0; i < req->n_messages; i++)
    words += 3 + count_words(req->messages[i].content); /* role markers */
  if (words + req->max_tokens > f->cfg.context_length && words >= f->cfg.context_length)
    return ECO_ECONTEXT;
  fake_req *r = calloc(1, sizeof *r);
  if (!r) return ECO_ENOMEM;
  r->cb = cb;
  r->user = user;
  r->max_tokens = req->max_tokens;
  r->st.prompt_tokens = words;
  if (req->n_stop) {
    r->stop = calloc(req->n_stop, sizeof *r->stop);
    if (!r->stop) goto fail;
    for (size_t i = 0; i < req->n_stop; i++) {
      if (!req->stop[i] || !req->stop[i][0]) continue;
      r->stop[r->n_stop] = strdup(req->stop[i]);
      if (!r->stop[r->n_stop]) goto fail;
      r->n_stop++;
    }
  }
  r->out = calloc(1, 1);
  if (!r->out) goto fail;
  char *flat = flatten_prompt(req);
  if (!flat) goto fail;
  pthread_mutex_lock(&f->mu);
  free(f->last_prompt);
  f->last_prompt = flat;
  if (f->busy || f->quit || (f->n_active >= f->cfg.max_batch && f->n_queued >= f->cfg.queue_cap)) {
    pthread_mutex_unlock(&f->mu);
    req_free(r);
    return ECO_EBUSY;
  }
  r->id = ++f->next_id;
  r->t_submit_ns = eco_time_mono_ns();
  fake_req **link = &f->head;
  while (*link)
    link = &(*link)->next;
  *link = r;
  f->n_queued++;
  *id = r->id;
  pthread_cond_signal(&f->cv);
  pthread_mutex_unlock(&f->mu);
  return 0;
fail:
  req_free(r);
  return ECO_ENOMEM;
}

static int fake_cancel(void *self, eco_backend_id id) {
  fake *f = self;
  int rc = ECO_ENOENT;
  pthread_mutex_lock(&f->mu);
  for (fake_req *r = f->head; r; r = r->next)
    if (r->id == id) {
      r->cancelled = true;
      rc = 0;
      pthread_cond_signal(&f->cv);
      break;
    }
  pthread_mutex_unlock(&f->mu);
  return rc;
}

static int fake_stats(void *self, eco_backend_id id, eco_backend_stats *out) {
  fake *f = self;
  int rc = ECO_ENOENT;
  pthread_mutex_lock(&f->mu);
  for (fake_req *r = f->head; r; r = r->next)
    if (r->id == id) {
      fill_times(r);
      *out = r->st;
      rc = 0;
      break;
    }
  pthread_mutex_unlock(&f->mu);
  return rc;
}

static int fake_info(void *self, eco_backend_info *out) {
  fake *f = self;
  memset(out, 0, sizeof *out);
  pthread_mutex_lock(&f->mu);
  snprintf(out->model_name, sizeof out->model_name, "%s", f->model_name);
  snprintf(out->device, sizeof out->device, "fake");
  out->context_length = f->cfg.context_length;
  out->loaded = true;
  out->queue_len = f->n_queued;
  out->queue_cap = f->cfg.queue_cap;
  out->active = f->n_active;
  out->max_batch = f->cfg.max_batch;
  out->kv_used_bytes = f->n_active * f->cfg.kv_bytes_per_seq;
  out->kv_budget_bytes = f->cfg.max_batch * f->cfg.kv_bytes_per_seq;
  if (f->busy) out->queue_len = out->queue_cap;
  pthread_mutex_unlock(&f->mu);
  return 0;
}

static void fake_destroy(void *self) {
  fake *f = self;
  if (!f) return;
  pthread_mutex_lock(&f->mu);
  for (fake_req *r = f->head; r; r = r->next)
    r->cancelled = true;
  f->paused = false;
  pthread_cond_signal(&f->cv);
  pthread_mutex_unlock(&f->mu);
  /* let the worker deliver the cancelled DONE events, then stop it */
  for (;;) {
    pthread_mutex_lock(&f->mu);
    bool empty = f->head == NULL;
    if (empty) {
      f->quit = true;
      pthread_cond_signal(&f->cv);
    }
    pthread_mutex_unlock(&f->mu);
    if (empty) break;
    eco_time_sleep_s(0.001);
  }
  pthread_join(f->thread, NULL);
  for (size_t i = 0; i < f->n_script; i++)
    free(f->script[i]);
  free(f->script);
  free(f->last_prompt);
  pthread_cond_destroy(&f->cv);
  pthread_mutex_destroy(&f->mu);
  free(f);
}

static const eco_backend_vtable fake_vt = {
    .submit = fake_submit,
    .cancel = fake_cancel,
    .stats = fake_stats,
    .info = fake_info,
    .destroy = fake_destroy,
};

int eco_backend_fake_new(const eco_fake_cfg *cfg, eco_backend *out) {
  eco_fake_cfg def;
  if (!cfg) {
    eco_fake_cfg_default(&def);
    cfg = &def;
  }
  if (cfg->max_batch < 1 || cfg->queue_cap < 0 || cfg->context_length < 1) return ECO_EINVAL;
  fake *f = calloc(1, sizeof *f);
  if (!f) return ECO_ENOMEM;
  f->cfg = *cfg;
  snprintf(f->model_name, sizeof f->model_name, "%s",
           cfg->model_name ? cfg->model_name : "fake-model");
  const char *const *sc = cfg->n_script ? cfg->script : default_script;
  size_t ns = cfg->n_script ? cfg->n_script : sizeof default_script / sizeof default_script[0];
  f->script = calloc(ns, sizeof *f->script);
  if (!f->script) goto fail;
  for (size_t i = 0; i < ns; i++) {
    f->script[i] = strdup(sc[i]);
    if (!f->script[i]) goto fail;
    f->n_script++;
  }
  pthread_mutex_init(&f->mu, NULL);
  pthread_cond_init(&f->cv, NULL);
  if (pthread_create(&f->thread, NULL, worker, f) != 0) {
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    goto fail;
  }
  out->vt = &fake_vt;
  out->self = f;
  return 0;
fail:
  if (f->script)
    for (size_t i = 0; i < f->n_script; i++)
      free(f->script[i]);
  free(f->script);
  free(f);
  return ECO_ENOMEM;
}

void eco_backend_fake_set_busy(eco_backend *b, bool busy) {
  fake *f = b->self;
  pthread_mutex_lock(&f->mu);
  f->busy = busy;
  pthread_mutex_unlock(&f->mu);
}

void eco_backend_fake_set_paused(eco_backend *b, bool paused) {
  fake *f = b->self;
  pthread_mutex_lock(&f->mu);
  f->paused = paused;
  pthread_cond_signal(&f->cv);
  pthread_mutex_unlock(&f->mu);
}

int eco_backend_fake_cancelled(eco_backend *b) {
  fake *f = b->self;
  pthread_mutex_lock(&f->mu);
  int n = f->n_cancelled;
  pthread_mutex_unlock(&f->mu);
  return n;
}

int eco_backend_fake_last_prompt(eco_backend *b, char *buf, size_t n) {
  fake *f = b->self;
  pthread_mutex_lock(&f->mu);
  int rc = f->last_prompt ? 0 : ECO_ENOENT;
  if (n) snprintf(buf, n, "%s", f->last_prompt ? f->last_prompt : "");
  pthread_mutex_unlock(&f->mu);
  return rc;
}
