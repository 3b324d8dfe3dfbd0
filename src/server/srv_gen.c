/* ecoinfer node server: generation requests (see srv_internal.h). The
 * backend delivers tokens on its own thread (on_token); the loop drains
 * them (on_wake), streams them or collects the whole answer, and prices the
 * request when it ends (gen_finish). */
#include "server/srv_internal.h"

#include "accounting/wire.h"
#include "util/rand.h"
#include "util/timeutil.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Ends the loop once a drain has nothing left in flight or unflushed. */
static void drain_check(eco_server *s) {
  if (s->draining && s->n_reqs == 0 && s->n_sending == 0) event_base_loopexit(s->base, NULL);
}

static void on_sent(struct evhttp_request *r, void *arg) {
  eco_server *s = arg;
  s->n_sending--;
  drain_check(s);
}

/* Hands the final reply to libevent, counting it until flushed. */
static void track_send(gen_req *g) {
  g->srv->n_sending++;
  evhttp_request_set_on_complete_cb(g->http, on_sent, g->srv);
}

static void cancel_gen(gen_req *g, const char *why) {
  if (g->client_gone) return;
  g->client_gone = true;
  ECO_DEBUG(g->srv->log, "server", "%s: %s, cancelling", g->id, why);
  g->srv->backend->vt->cancel(g->srv->backend->self, g->bid);
}

/* The client's socket became readable-at-EOF (EV_CLOSED) or the poll timer
 * fired: a peek tells whether the peer has closed its end. */
static void on_watch(evutil_socket_t fd, short what, void *arg) {
  gen_req *g = arg;
  char c;
  ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
    cancel_gen(g, "client disconnected");
    event_del(g->watch);
  }
}

/* Reports a request's work since its previous report to the energy
 * tracker (src/energy/tracker.h, which applies src/energy/attribute.c):
 * prompt tokens once its first token exists, new output tokens, and the
 * elapsed time as busy time. */
static void report_progress(eco_server *s, gen_req *g, const eco_backend_stats *st) {
  uint64_t now = eco_time_mono_ns();
  double prompt = 0;
  if (!g->attr_prompt_done && st->generated_tokens > 0) {
    prompt = st->prompt_tokens;
    g->attr_prompt_done = true;
  }
  double out = st->generated_tokens > g->attr_gen ? st->generated_tokens - g->attr_gen : 0;
  g->attr_gen = st->generated_tokens;
  double busy = (double)(now - g->attr_last_ns) / 1e9;
  g->attr_last_ns = now;
  eco_tracker_progress(s->tracker, g->bid, prompt, out, busy);
}

/* While requests run: report everyone's progress, close the interval. */
void srv_on_attr_timer(evutil_socket_t fd, short what, void *arg) {
  eco_server *s = arg;
  if (!s->tracker || s->n_reqs == 0) return;
  for (gen_req *g = s->reqs; g; g = g->next) {
    eco_backend_stats st;
    if (g->tracked && s->backend->vt->stats(s->backend->self, g->bid, &st) == 0)
      report_progress(s, g, &st);
  }
  eco_tracker_settle(s->tracker);
}

static void gen_free(gen_req *g) {
  eco_server *s = g->srv;
  if (g->prev)
    g->prev->next = g->next;
  else
    s->reqs = g->next;
  if (g->next) g->next->prev = g->prev;
  s->n_reqs--;
  if (s->n_reqs == 0 && s->attr_timer) event_del(s->attr_timer);
  if (s->n_reqs == 0 && s->busy_since_ns) {
    s->busy_s += (double)(eco_time_mono_ns() - s->busy_since_ns) / 1e9;
    s->busy_since_ns = 0;
  }
  eco_srv_metrics_inflight(&s->metrics, -1);
  if (g->wake) event_free(g->wake);
  if (g->watch) event_free(g->watch);
  pthread_mutex_destroy(&g->mu);
  eco_sb_free(&g->pending);
  eco_sb_free(&g->text);
  eco_oai_request_free(&g->oai);
  free(g);
  drain_check(s);
}

static void on_close(struct evhttp_connection *c, void *arg) {
  gen_req *g = arg;
  evhttp_connection_set_closecb(c, NULL, NULL);
  g->conn = NULL;
  if (g->watch) event_del(g->watch);
  cancel_gen(g, "connection closed");
}

/* Backend thread. Never blocks beyond the request's own mutex. */
static void on_token(const eco_backend_event *ev, void *user) {
  gen_req *g = user;
  pthread_mutex_lock(&g->mu);
  if (ev->kind == ECO_BACKEND_TOKEN) {
    if (ev->len) eco_sb_append(&g->pending, ev->text, ev->len);
  } else {
    g->done = true;
    snprintf(g->finish, sizeof g->finish, "%s", ev->finish_reason ? ev->finish_reason : "stop");
    g->error = ev->error;
    if (ev->stats) g->st = *ev->stats;
  }
  /* activate while holding mu: the loop frees g only after seeing done under
   * mu, so g->wake is alive here */
  event_active(g->wake, EV_READ, 0);
  pthread_mutex_unlock(&g->mu);
}

static void send_sse(gen_req *g, const char *json) {
  if (!g->http || !json) return;
  struct evbuffer *b = evbuffer_new();
  if (!b) return;
  evbuffer_add_printf(b, "data: %s\n\n", json);
  evhttp_send_reply_chunk(g->http, b);
  evbuffer_free(b);
}

static void add_carbon_headers(struct evhttp_request *r, const eco_receipt *rc,
                               const eco_acct_intensity *in) {
  char v[64];
  snprintf(v, sizeof v, "%.6g", rc->energy_j);
  srv_add_header(r, ECO_HDR_ENERGY_J, v);
  srv_add_header(r, ECO_HDR_ENERGY_SOURCE, rc->energy_source);
  snprintf(v, sizeof v, "%.6g", rc->intensity_gco2_kwh);
  srv_add_header(r, ECO_HDR_INTENSITY, v);
  srv_add_header(r, ECO_HDR_INTENSITY_SOURCE, rc->intensity_source);
  snprintf(v, sizeof v, "%.6g", rc->total_g);
  srv_add_header(r, ECO_HDR_CO2_G, v);
  if (in && in->zone[0]) srv_add_header(r, ECO_HDR_ZONE, in->zone);
}

static void add_directive_header(struct evhttp_request *r, int level) {
  char v[16];
  snprintf(v, sizeof v, "%d", level);
  srv_add_header(r, ECO_HDR_DIRECTIVE_LEVEL, v);
}

/* Decides the request's directive level and applies it to its messages or
 * prompt (src/server/srv_directive.h). 0, or the HTTP status with *e set. */
static int directive_prepare(eco_server *s, struct evhttp_request *r, gen_req *g, const char *ep,
                             eco_oai_error *e) {
  const eco_srv_directive_cfg *d = s->cfg.directive;
  if (!d) return 0;
  struct evkeyvalq *h = evhttp_request_get_input_headers(r);
  g->directive_level =
      eco_srv_directive_decide(d, g->oai.chat, ep, evhttp_find_header(h, ECO_HDR_DIRECTIVE_LEVEL),
                               evhttp_find_header(h, ECO_HDR_DIRECTIVE));
  eco_error err = {0};
  int rc = 0;
  if (g->oai.chat)
    rc = eco_srv_directive_apply_msgs(&d->dcfg, g->directive_level, &g->oai.messages,
                                      &g->oai.n_messages, &err);
  else if (g->oai.prompt) {
    size_t before = strlen(g->oai.prompt);
    rc = eco_srv_directive_apply_prompt(&d->dcfg, g->directive_level, &g->oai.prompt, &err);
    if (rc == 0) g->echo_skip = strlen(g->oai.prompt) - before;
  }
  if (rc)
    return eco_oai_error_set(e, rc == ECO_ENOMEM ? 500 : 400,
                             rc == ECO_ENOMEM ? "server_error" : "invalid_request_error", NULL,
                             NULL, "directive: %.200s", eco_error_text(&err));
  return 0;
}

/* The request's energy from the tracker, when the backend measured none
 * itself; rails receives the meters that covered it. */
static void gen_energy(eco_server *s, gen_req *g, char *rails, size_t cap) {
  if (!g->tracked) return;
  report_progress(s, g, &g->st);
  double j = 0;
  eco_energy_source src;
  g->tracked = false;
  if (eco_tracker_end(s->tracker, g->bid, &j, &src) == 0 && !g->st.energy_known) {
    g->st.energy_j = j;
    g->st.energy_known = true;
    g->st.energy_estimated = src.estimated;
    snprintf(g->st.energy_source, sizeof g->st.energy_source, "%s", src.name);
    snprintf(rails, cap, "%s", src.detail);
  }
}

/* Prices the finished request (accounting/pricing.h) and hands its receipt
 * to the sink (the ledger). True when *rc holds a receipt. */
static bool gen_price(eco_server *s, gen_req *g, double wall, const char *rails, eco_receipt *rc,
                      eco_acct_intensity *in) {
  if (!s->have_acct) return false;
  eco_acct_usage use = {.prompt_tokens = g->st.prompt_tokens,
                        .output_tokens = g->st.generated_tokens,
                        .cached_tokens = g->st.cached_tokens,
                        .cpu_s = g->st.cpu_s,
                        .batch_size = g->st.batch_size,
                        .energy_known = g->st.energy_known,
                        .energy_j = g->st.energy_j,
                        .energy_estimated = g->st.energy_estimated};
  snprintf(use.energy_source, sizeof use.energy_source, "%s", g->st.energy_source);
  snprintf(use.energy_rails, sizeof use.energy_rails, "%s", rails);
  /* a backend that measured the device time itself (the replay backend's
   * recording) prices embodied carbon from it, not from the wall clock */
  double held = g->st.device_s > 0 ? g->st.device_s : wall;
  int e = eco_acct_price(&s->acct, &use, held, eco_time_wall_s(), rc, in);
  if (e) {
    ECO_WARN(s->log, "server", "%s: cannot price request: %s", g->id, eco_strerror(e));
    return false;
  }
  eco_srv_metrics_carbon(&s->metrics, rc->energy_source, rc->energy_j, rc->total_g);
  s->energy_j_total += rc->energy_j;
  if (s->acct.sink) {
    eco_acct_receipt_ctx ctx = {.request_id = g->id,
                                .model = g->model,
                                .zone = in->zone,
                                .time_s = eco_time_wall_s(),
                                .latency_s = wall,
                                .receipt = rc,
                                .usage = &use,
                                .directive_level = s->cfg.directive ? g->directive_level : -1};
    s->acct.sink(s->acct.sink_user, &ctx);
  }
  return true;
}

/* A generation that failed: the error as the stream's last event, or as
 * the whole answer. */
static void finish_error(eco_server *s, gen_req *g, const char *ep) {
  eco_oai_error e;
  eco_oai_error_set(&e, 500, "server_error", NULL, NULL, "generation failed: %s",
                    eco_strerror(g->error));
  if (g->streaming) {
    char *t = eco_oai_error_json(&e);
    send_sse(g, t);
    free(t);
    send_sse(g, "[DONE]");
    evhttp_send_reply_end(g->http);
    eco_srv_metrics_request(&s->metrics, ep, 200);
  } else {
    srv_reply_error(s, g->http, ep, &e);
  }
}

/* The end of a stream: the finish chunk, the usage chunk, [DONE]. */
static void finish_stream(eco_server *s, gen_req *g, const char *ep, const eco_oai_usage *u) {
  char *t = eco_oai_chunk_json(g->oai.chat, g->id, g->created, g->model, NULL, 0,
                               g->oai.chat && !g->sent_role, g->finish, NULL, g->oai.include_usage);
  send_sse(g, t);
  free(t);
  if (g->oai.include_usage) {
    t = eco_oai_chunk_json(g->oai.chat, g->id, g->created, g->model, NULL, 0, false, NULL, u,
                           false);
    send_sse(g, t);
    free(t);
  }
  struct evbuffer *b = evbuffer_new();
  if (b) {
    evbuffer_add_printf(b, "data: [DONE]\n\n");
    evhttp_send_reply_chunk(g->http, b);
    evbuffer_free(b);
  }
  evhttp_send_reply_end(g->http);
  eco_srv_metrics_request(&s->metrics, ep, 200);
}

/* The whole answer in one JSON body, with the receipt's headers. */
static void finish_body(eco_server *s, gen_req *g, const char *ep, const eco_oai_usage *u,
                        const eco_acct_intensity *in) {
  const char *txt = eco_sb_str(&g->text);
  char *body = eco_oai_response_json(g->oai.chat, g->id, g->created, g->model, txt, g->text.len,
                                     g->finish, u);
  srv_add_header(g->http, ECO_HDR_REQUEST_ID, g->id);
  if (u->carbon) add_carbon_headers(g->http, u->carbon, in);
  if (s->cfg.directive) add_directive_header(g->http, g->directive_level);
  if (body)
    srv_reply_text(s, g->http, ep, 200, "application/json", body, strlen(body));
  else
    srv_reply_text(s, g->http, ep, 500, "application/json", "{}", 2);
  free(body);
}

static void gen_finish(gen_req *g) {
  eco_server *s = g->srv;
  const char *ep = g->oai.chat ? "/v1/chat/completions" : "/v1/completions";
  double wall = (double)(eco_time_mono_ns() - g->t0_ns) / 1e9;
  eco_receipt rc;
  eco_acct_intensity in;
  memset(&in, 0, sizeof in);
  char rails[96] = "";
  gen_energy(s, g, rails, sizeof rails);
  bool have_rc = gen_price(s, g, wall, rails, &rc, &in);
  bool cancelled = strcmp(g->finish, "cancelled") == 0;
  s->gen_tokens_total += g->st.generated_tokens;
  eco_srv_metrics_generation(&s->metrics, wall, g->st.ttft_s, g->st.per_token_s,
                             g->st.prompt_tokens, g->st.generated_tokens,
                             cancelled || g->client_gone);
  if (strcmp(g->finish, "error") != 0) srv_dash_record(s, g, wall, have_rc ? &rc : NULL);
  eco_oai_usage u = {.prompt_tokens = g->st.prompt_tokens,
                     .completion_tokens = g->st.generated_tokens,
                     .cached_tokens = g->st.cached_tokens,
                     .carbon = have_rc ? &rc : NULL,
                     .has_directive = s->cfg.directive != NULL,
                     .directive_level = g->directive_level};
  if (!g->http) return;
  if (g->watch) event_del(g->watch);
  if (g->conn) evhttp_connection_set_closecb(g->conn, NULL, NULL);
  if (g->client_gone) {
    /* a detached request is freed by this; an attached one fails its write */
    if (g->streaming)
      evhttp_send_reply_end(g->http);
    else
      evhttp_send_reply(g->http, 499, "Client Closed Request", NULL);
    g->http = NULL;
    eco_srv_metrics_request(&s->metrics, ep, 499);
    return;
  }
  track_send(g);
  if (strcmp(g->finish, "error") == 0)
    finish_error(s, g, ep);
  else if (g->streaming)
    finish_stream(s, g, ep, &u);
  else
    finish_body(s, g, ep, &u, &in);
  g->http = NULL;
}

/* Loop thread: drains what the backend delivered. */
static void on_wake(evutil_socket_t fd, short what, void *arg) {
  gen_req *g = arg;
  eco_strbuf got;
  pthread_mutex_lock(&g->mu);
  got = g->pending;
  eco_sb_init(&g->pending);
  bool done = g->done;
  pthread_mutex_unlock(&g->mu);
  eco_strbuf clean;
  eco_sb_init(&clean);
  /* valid UTF-8 only: JSON strings must be (util/utf8.h) */
  if (got.len) (void)eco_utf8_feed(&g->utf8, ECO_UTF8_REPLACE, got.data, got.len, &clean);
  if (done) (void)eco_utf8_flush(&g->utf8, ECO_UTF8_REPLACE, &clean);
  eco_sb_free(&got);
  if (clean.len) {
    if (g->streaming) {
      char *t = eco_oai_chunk_json(g->oai.chat, g->id, g->created, g->model, clean.data, clean.len,
                                   g->oai.chat && !g->sent_role, NULL, NULL, g->oai.include_usage);
      send_sse(g, t);
      free(t);
      g->sent_role = true;
    } else if (!g->client_gone) {
      eco_sb_append(&g->text, clean.data, clean.len);
    }
  }
  eco_sb_free(&clean);
  if (done) {
    gen_finish(g);
    gen_free(g);
  }
}

/* Method, key, drain and body size: false after answering. */
static bool gen_admit(eco_server *s, struct evhttp_request *r, const char *ep) {
  eco_oai_error e;
  if (evhttp_request_get_command(r) != EVHTTP_REQ_POST) {
    eco_oai_error_set(&e, 405, "invalid_request_error", NULL, NULL, "use POST");
    srv_reply_error(s, r, ep, &e);
    return false;
  }
  if (!srv_authorized(s, r, ep)) return false;
  if (s->draining) {
    eco_oai_error_set(&e, 503, "server_error", NULL, "shutting_down",
                      "the server is shutting down");
    srv_reply_error(s, r, ep, &e);
    return false;
  }
  size_t len = evbuffer_get_length(evhttp_request_get_input_buffer(r));
  if (len > s->cfg.max_body_bytes) {
    eco_oai_error_set(&e, 413, "invalid_request_error", NULL, NULL, "request body over %zu bytes",
                      s->cfg.max_body_bytes);
    srv_reply_error(s, r, ep, &e);
    return false;
  }
  return true;
}

/* The parsed request against the backend: loaded, the model, the context;
 * then its directive. 0, or nonzero with *e set. */
static int gen_check(eco_server *s, struct evhttp_request *r, gen_req *g, const char *ep,
                     eco_backend_info *info, eco_oai_error *e) {
  if (s->backend->vt->info(s->backend->self, info) != 0 || !info->loaded)
    return eco_oai_error_set(e, 503, "server_error", NULL, "model_not_ready",
                             "the model is not loaded");
  if (strcmp(g->oai.model, info->model_name) != 0 &&
      !(s->cfg.model_alias && strcmp(g->oai.model, s->cfg.model_alias) == 0))
    return eco_oai_error_set(e, 404, "invalid_request_error", "model", "model_not_found",
                             "the model '%.100s' does not exist on this node (serving '%.100s')",
                             g->oai.model, info->model_name);
  if (info->context_length > 0 && g->oai.max_tokens >= info->context_length)
    return eco_oai_error_set(e, 400, "invalid_request_error", "max_tokens",
                             "context_length_exceeded",
                             "max_tokens %d does not fit the context length %d", g->oai.max_tokens,
                             info->context_length);
  return directive_prepare(s, r, g, ep, e);
}

/* Its id, clock, buffers and wake event. 0, or nonzero with *e set. */
static int gen_init(eco_server *s, struct evhttp_request *r, gen_req *g, bool chat,
                    eco_oai_error *e) {
  snprintf(g->model, sizeof g->model, "%s", g->oai.model);
  g->srv = s;
  g->http = r;
  g->created = (long)eco_time_wall_s();
  g->t0_ns = eco_time_mono_ns();
  /* 128 random bits: ids stay unique across restarts and nodes that share
   * a ledger (a per-process counter repeated them). */
  if (eco_rand_id(chat ? "chatcmpl-" : "cmpl-", 16, g->id, sizeof g->id))
    return eco_oai_error_set(e, 500, "server_error", NULL, NULL,
                             "no random bytes for a request id");
  pthread_mutex_init(&g->mu, NULL);
  eco_sb_init(&g->pending);
  eco_sb_init(&g->text);
  g->wake = event_new(s->base, -1, 0, on_wake, g);
  if (!g->wake) {
    pthread_mutex_destroy(&g->mu);
    return eco_oai_error_set(e, 500, "server_error", NULL, NULL, "out of memory");
  }
  return 0;
}

/* Links g among the in-flight requests (before submit: the callback may
 * fire before submit returns) and starts the attribution timer. */
static void gen_link(eco_server *s, gen_req *g) {
  if (s->tracker) eco_tracker_settle(s->tracker); /* close the interval before it joins */
  if (s->tracker && s->n_reqs == 0 && s->attr_timer) {
    double iv = s->acct.attr_interval_s;
    struct timeval tv = {(time_t)iv, (suseconds_t)((iv - (double)(time_t)iv) * 1e6)};
    event_add(s->attr_timer, &tv);
  }
  g->next = s->reqs;
  if (s->reqs) s->reqs->prev = g;
  s->reqs = g;
  if (s->n_reqs++ == 0) s->busy_since_ns = eco_time_mono_ns();
  eco_srv_metrics_inflight(&s->metrics, 1);
}

/* The backend's refusal (submit's return rc) as an OpenAI error. */
static void submit_error(const eco_server *s, int rc, const eco_backend_info *info,
                         eco_oai_error *e) {
  if (rc == ECO_EBUSY)
    eco_oai_error_set(e, s->cfg.busy_status_503 ? 503 : 429, "server_error", NULL, "queue_full",
                      "the node's queue is full, retry later");
  else if (rc == ECO_ECONTEXT)
    eco_oai_error_set(e, 400, "invalid_request_error", "messages", "context_length_exceeded",
                      "the prompt plus max_tokens exceeds the context length %d",
                      info->context_length);
  else if (rc == ECO_EINVAL)
    eco_oai_error_set(e, 400, "invalid_request_error", NULL, NULL,
                      "the backend rejected the request");
  else if (rc == ECO_ENOENT)
    eco_oai_error_set(e, 400, "invalid_request_error", "messages", "unknown_prompt",
                      "the backend has no answer for this prompt (a replay backend answers "
                      "only the prompts it has recordings of)");
  else
    eco_oai_error_set(e, 500, "server_error", NULL, NULL, "submit failed: %s", eco_strerror(rc));
}

/* After submit: the energy tracker, and a watch on the client's socket that
 * cancels the generation when the client goes away. */
static void gen_watch(eco_server *s, gen_req *g, struct evhttp_request *r) {
  if (s->tracker && eco_tracker_begin(s->tracker, g->bid) == 0) {
    g->tracked = true;
    g->attr_last_ns = eco_time_mono_ns();
  }
  g->conn = evhttp_request_get_connection(r);
  if (!g->conn) return;
  evhttp_connection_set_closecb(g->conn, on_close, g);
  struct bufferevent *bev = evhttp_connection_get_bufferevent(g->conn);
  evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
  if (fd < 0) return;
  bool early = (event_base_get_features(s->base) & EV_FEATURE_EARLY_CLOSE) != 0;
  g->watch = event_new(s->base, fd, early ? (EV_CLOSED | EV_PERSIST) : EV_PERSIST, on_watch, g);
  struct timeval poll = {0, 250000};
  if (g->watch) event_add(g->watch, early ? NULL : &poll);
}

/* A stream's headers (the zone's intensity now; the receipt comes in the
 * usage chunk) and its status line. */
static void stream_start(eco_server *s, gen_req *g, struct evhttp_request *r) {
  srv_add_header(r, "Content-Type", "text/event-stream");
  srv_add_header(r, "Cache-Control", "no-cache");
  srv_add_header(r, ECO_HDR_REQUEST_ID, g->id);
  if (s->cfg.directive) add_directive_header(r, g->directive_level);
  if (s->have_acct) {
    eco_acct_intensity iv;
    if (s->acct.intensity(s->acct.intensity_user, eco_time_wall_s(), &iv) == 0) {
      char v[32];
      snprintf(v, sizeof v, "%.6g", iv.gco2_kwh);
      srv_add_header(r, ECO_HDR_INTENSITY, v);
      srv_add_header(r, ECO_HDR_INTENSITY_SOURCE, iv.source);
      if (iv.zone[0]) srv_add_header(r, ECO_HDR_ZONE, iv.zone);
    }
  }
  evhttp_send_reply_start(r, 200, "OK");
}

void srv_handle_generate(eco_server *s, struct evhttp_request *r, bool chat) {
  const char *ep = chat ? "/v1/chat/completions" : "/v1/completions";
  eco_oai_error e;
  if (!gen_admit(s, r, ep)) return;
  struct evbuffer *in = evhttp_request_get_input_buffer(r);
  size_t len = evbuffer_get_length(in);
  const char *body = (const char *)evbuffer_pullup(in, -1);
  gen_req *g = calloc(1, sizeof *g);
  if (!g) {
    eco_oai_error_set(&e, 500, "server_error", NULL, NULL, "out of memory");
    srv_reply_error(s, r, ep, &e);
    return;
  }
  if (eco_oai_parse(chat, body ? body : "", len, &s->cfg.limits, &g->oai, &e)) {
    free(g);
    srv_reply_error(s, r, ep, &e);
    return;
  }
  eco_backend_info info;
  if (gen_check(s, r, g, ep, &info, &e) || gen_init(s, r, g, chat, &e)) goto reject;
  eco_backend_request br = {
      .messages = chat ? g->oai.messages : NULL,
      .n_messages = g->oai.n_messages,
      .prompt = g->oai.prompt,
      .sampling = g->oai.sampling,
      .max_tokens = g->oai.max_tokens,
      .stop = (const char *const *)g->oai.stop,
      .n_stop = g->oai.n_stop,
      .ignore_eos = g->oai.ignore_eos,
      .directive_level = g->directive_level > 0 ? g->directive_level : 0,
  };
  gen_link(s, g);
  /* headers go out before the first token: no event can be handled before
   * this handler returns, so the order is safe */
  g->streaming = g->oai.stream;
  int rc = s->backend->vt->submit(s->backend->self, &br, on_token, g, &g->bid);
  if (rc) {
    g->http = NULL;
    submit_error(s, rc, &info, &e);
    gen_free(g);
    srv_reply_error(s, r, ep, &e);
    return;
  }
  gen_watch(s, g, r);
  if (g->streaming) stream_start(s, g, r);
  const char *echo = g->oai.prompt ? g->oai.prompt + g->echo_skip : NULL; /* as sent */
  if (!chat && g->oai.echo && echo && echo[0]) {                          /* completions: echo */
    if (g->streaming) {
      char *t = eco_oai_chunk_json(false, g->id, g->created, g->model, echo, strlen(echo), false,
                                   NULL, NULL, g->oai.include_usage);
      send_sse(g, t);
      free(t);
    } else {
      eco_sb_puts(&g->text, echo);
    }
  }
  return;
reject:
  eco_oai_request_free(&g->oai);
  free(g);
  srv_reply_error(s, r, ep, &e);
}
