/* The replay backend (see backend_replay.h). */
#include "server/backend_replay.h"

#include "server/replay_data.h"
#include "util/timeutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct rreq {
  eco_backend_id id;
  eco_backend_token_cb cb;
  void *user;
  char *text;         /* what is emitted */
  const char *finish; /* "stop" or "length" */
  bool cancelled;
  uint64_t due_ns; /* monotonic time of the answer */
  eco_backend_stats st;
  struct rreq *next;
} rreq;

typedef struct replay {
  eco_replay_cfg cfg;
  char model_name[128];
  eco_replay_data *data;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t thread;
  bool quit;
  rreq *head;
  int n;
  eco_backend_id next_id;
} replay;

void eco_replay_cfg_default(eco_replay_cfg *c) {
  memset(c, 0, sizeof *c);
  c->queue_cap = 1024;
  c->context_length = 32768;
}

static bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

/* whitespace-led word pieces in s[0..n) */
static size_t count_pieces(const char *s, size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (!is_space(s[i]) && (i == 0 || is_space(s[i - 1]))) k++;
  return k;
}

/* byte length of the first max pieces of s */
static size_t pieces_prefix(const char *s, size_t max) {
  size_t k = 0, i = 0, n = strlen(s);
  for (; i < n; i++)
    if (!is_space(s[i]) && (i == 0 || is_space(s[i - 1])) && k++ == max) break;
  while (i > 0 && i < n && is_space(s[i - 1]))
    i--;
  return i;
}

static void rreq_free(rreq *r) {
  if (r) free(r->text);
  free(r);
}

/* Emits r's pieces and its DONE event (outside the lock). */
static void deliver(rreq *r) {
  eco_backend_event ev = {.id = r->id};
  if (!r->cancelled) {
    const char *s = r->text;
    size_t n = strlen(s), i = 0;
    ev.kind = ECO_BACKEND_TOKEN;
    while (i < n) {
      size_t j = i;
      while (j < n && is_space(s[j]))
        j++;
      while (j < n && !is_space(s[j]))
        j++;
      ev.text = s + i, ev.len = j - i;
      r->cb(&ev, r->user);
      i = j;
    }
  }
  ev.kind = ECO_BACKEND_DONE;
  ev.text = NULL, ev.len = 0;
  ev.finish_reason = r->cancelled ? "cancelled" : r->finish;
  ev.stats = &r->st;
  r->cb(&ev, r->user);
}

static void *worker(void *arg) {
  replay *p = arg;
  pthread_mutex_lock(&p->mu);
  while (!p->quit) {
    uint64_t now = eco_time_mono_ns(), next = UINT64_MAX;
    rreq *ready = NULL, **link = &p->head;
    while (*link) {
      rreq *r = *link;
      if (r->cancelled || r->due_ns <= now) {
        *link = r->next;
        r->next = ready, ready = r;
        p->n--;
      } else {
        if (r->due_ns < next) next = r->due_ns;
        link = &r->next;
      }
    }
    if (ready) {
      pthread_mutex_unlock(&p->mu);
      /* reverse to submit order */
      rreq *ord = NULL;
      while (ready) {
        rreq *r = ready;
        ready = r->next, r->next = ord, ord = r;
      }
      while (ord) {
        rreq *r = ord;
        ord = r->next;
        deliver(r);
        rreq_free(r);
      }
      pthread_mutex_lock(&p->mu);
      continue;
    }
    if (next == UINT64_MAX) {
      pthread_cond_wait(&p->cv, &p->mu);
      continue;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t wait = next - now;
    ts.tv_sec += (time_t)(wait / 1000000000u);
    ts.tv_nsec += (long)(wait % 1000000000u);
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&p->cv, &p->mu, &ts);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

/* The text the backend looks up: the last user message, or the raw prompt. */
static const char *request_text(const eco_backend_request *q, int *words) {
  const char *t = q->prompt;
  *words = 0;
  for (size_t i = 0; i < q->n_messages; i++) {
    if (strcmp(q->messages[i].role, "user") == 0) t = q->messages[i].content;
    const char *c = q->messages[i].content;
    *words += 3 + (int)count_pieces(c, strlen(c)); /* role markers */
  }
  if (q->prompt) *words += (int)count_pieces(q->prompt, strlen(q->prompt));
  return t;
}

/* Cuts r->text at max_tokens pieces and at the first stop string. */
static void apply_limits(rreq *r, const eco_backend_request *q) {
  size_t cut = pieces_prefix(r->text, (size_t)q->max_tokens);
  r->finish = "stop";
  if (cut < strlen(r->text)) r->text[cut] = 0, r->finish = "length";
  for (size_t i = 0; i < q->n_stop; i++) {
    const char *hit = q->stop[i] && q->stop[i][0] ? strstr(r->text, q->stop[i]) : NULL;
    if (hit) r->text[hit - r->text] = 0, r->finish = "stop";
  }
}

static int build(replay *p, const eco_backend_request *q, rreq *r) {
  int words;
  const char *t = request_text(q, &words);
  if (!t) return ECO_EINVAL;
  r->st.prompt_tokens = words;
  r->st.batch_size = 1;
  if (words >= p->cfg.context_length) return ECO_ECONTEXT;
  if (p->cfg.judge) {
    char verdict[160];
    eco_replay_judge(p->data, t, verdict, sizeof verdict);
    if (!(r->text = strdup(verdict))) return ECO_ENOMEM;
    apply_limits(r, q);
    r->st.generated_tokens = (int)count_pieces(r->text, strlen(r->text));
    return 0; /* energy: the node's own meter or estimate */
  }
  const eco_replay_item *it = eco_replay_find(p->data, t, strlen(t));
  int lv = q->directive_level;
  if (!it) return ECO_ENOENT;
  if (lv < 0 || lv >= ECO_REPLAY_LEVELS) return ECO_EINVAL;
  if (!(r->text = strdup(it->answer[lv]))) return ECO_ENOMEM;
  size_t all = count_pieces(it->answer[lv], strlen(it->answer[lv]));
  apply_limits(r, q);
  size_t got = count_pieces(r->text, strlen(r->text));
  double share = all ? (double)got / (double)all : 1.0;
  r->st.generated_tokens = (int)got;
  r->st.energy_j = it->energy_kwh[lv] * 3.6e6 * share;
  r->st.device_s = it->time_s[lv] * share;
  r->st.energy_known = true;
  r->st.energy_estimated = false; /* the artifact's metered reading (carbontracker) */
  snprintf(r->st.energy_source, sizeof r->st.energy_source, "replay:sprout-a100");
  return 0;
}

static int rp_submit(void *self, const eco_backend_request *q, eco_backend_token_cb cb, void *user,
                     eco_backend_id *id) {
  replay *p = self;
  if (!q || !cb || !id || q->max_tokens < 1 || (!q->prompt && !q->messages)) return ECO_EINVAL;
  rreq *r = calloc(1, sizeof *r);
  if (!r) return ECO_ENOMEM;
  int rc = build(p, q, r);
  if (rc) {
    rreq_free(r);
    return rc;
  }
  r->cb = cb, r->user = user;
  double delay = (p->cfg.judge ? 0 : r->st.device_s) * p->cfg.time_scale;
  r->st.ttft_s = delay;
  uint64_t now = eco_time_mono_ns();
  r->due_ns = now + (uint64_t)(delay * 1e9);
  pthread_mutex_lock(&p->mu);
  if (p->quit || p->n >= p->cfg.queue_cap) {
    pthread_mutex_unlock(&p->mu);
    rreq_free(r);
    return ECO_EBUSY;
  }
  r->id = ++p->next_id;
  *id = r->id;
  rreq **link = &p->head;
  while (*link)
    link = &(*link)->next;
  *link = r;
  p->n++;
  pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->mu);
  return 0;
}

static int rp_cancel(void *self, eco_backend_id id) {
  replay *p = self;
  int rc = ECO_ENOENT;
  pthread_mutex_lock(&p->mu);
  for (rreq *r = p->head; r; r = r->next)
    if (r->id == id) {
      r->cancelled = true;
      rc = 0;
      pthread_cond_signal(&p->cv);
      break;
    }
  pthread_mutex_unlock(&p->mu);
  return rc;
}

static int rp_stats(void *self, eco_backend_id id, eco_backend_stats *out) {
  replay *p = self;
  int rc = ECO_ENOENT;
  pthread_mutex_lock(&p->mu);
  for (rreq *r = p->head; r; r = r->next)
    if (r->id == id) {
      *out = r->st;
      out->generated_tokens = 0; /* nothing emitted before the answer is due */
      rc = 0;
      break;
    }
  pthread_mutex_unlock(&p->mu);
  return rc;
}

static int rp_info(void *self, eco_backend_info *out) {
  replay *p = self;
  memset(out, 0, sizeof *out);
  pthread_mutex_lock(&p->mu);
  snprintf(out->model_name, sizeof out->model_name, "%s", p->model_name);
  snprintf(out->device, sizeof out->device, "replay");
  out->context_length = p->cfg.context_length;
  out->loaded = true;
  out->queue_cap = p->cfg.queue_cap;
  out->active = p->n;
  out->max_batch = p->cfg.queue_cap;
  pthread_mutex_unlock(&p->mu);
  return 0;
}

static void rp_destroy(void *self) {
  replay *p = self;
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  for (rreq *r = p->head; r; r = r->next)
    r->cancelled = true;
  pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->mu);
  for (;;) { /* the worker delivers the cancelled DONE events */
    pthread_mutex_lock(&p->mu);
    bool empty = p->head == NULL;
    if (empty) p->quit = true, pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (empty) break;
    eco_time_sleep_s(0.001);
  }
  pthread_join(p->thread, NULL);
  pthread_cond_destroy(&p->cv);
  pthread_mutex_destroy(&p->mu);
  eco_replay_data_free(p->data);
  free(p);
}

static const eco_backend_vtable replay_vt = {
    .submit = rp_submit,
    .cancel = rp_cancel,
    .stats = rp_stats,
    .info = rp_info,
    .destroy = rp_destroy,
};

int eco_backend_replay_new(const eco_replay_cfg *c, eco_backend *out, eco_error *err) {
  if (!c || !out || !c->data_dir || !(c->time_scale >= 0) || c->time_scale > 1e3 ||
      c->queue_cap < 1 || c->context_length < 2)
    return eco_error_set(err, ECO_EINVAL, "replay backend: bad settings");
  replay *p = calloc(1, sizeof *p);
  if (!p) return eco_error_set(err, ECO_ENOMEM, "out of memory");
  p->cfg = *c;
  snprintf(p->model_name, sizeof p->model_name, "%s",
           c->model_name ? c->model_name
           : c->judge    ? "replay-judge"
                         : "replay-llama-2-13b-chat");
  int rc = eco_replay_data_load(c->data_dir, &p->data, err);
  if (rc) {
    free(p);
    return rc;
  }
  pthread_mutex_init(&p->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&p->cv, &ca);
  pthread_condattr_destroy(&ca);
  if (pthread_create(&p->thread, NULL, worker, p) != 0) {
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    eco_replay_data_free(p->data);
    free(p);
    return eco_error_set(err, ECO_ENOMEM, "replay backend: cannot start its thread");
  }
  out->vt = &replay_vt;
  out->self = p;
  return 0;
}
