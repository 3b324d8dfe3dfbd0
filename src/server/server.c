/* ecoinfer: the node server (see server.h). */
#include "server/server.h"

#include "accounting/wire.h"
#include "dashboard/dashboard.h"

#include "energy/tracker.h"
#include "server/metrics.h"
#include "util/auth.h"
#include "util/http_front.h"
#include "util/rand.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/utf8.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

typedef struct gen_req gen_req;

struct eco_server {
  eco_server_cfg cfg;
  eco_backend *backend;
  eco_accounting acct;
  bool have_acct;
  const eco_logger *log;
  struct event_base *base;
  struct evhttp *http, *admin;
  eco_http_front *front, *admin_front; /* framing checks before evhttp (util/http_front.h) */
  eco_auth auth;                       /* cfg.api_keys as digests (util/auth.h) */
  struct evhttp_bound_socket *bound, *admin_bound;
  int port, admin_port;
  struct event *sigterm, *sigint, *stop_ev, *drain_timer;
  eco_srv_metrics metrics;
  gen_req *reqs; /* in-flight generations (loop thread only) */
  int n_reqs;
  int n_sending; /* generation replies handed to libevent, not yet flushed */
  bool draining, drain_forced;
  /* node profile: totals (loop thread only) */
  double energy_j_total;   /* J */
  double gen_tokens_total; /* tokens */
  double busy_s;           /* s with at least one request in flight */
  uint64_t busy_since_ns;
  /* meter attribution (loop thread only) */
  struct event *attr_timer;
  eco_tracker *tracker; /* per-request energy from the node meter, or NULL */
  pthread_t thread;
  bool thread_started;
  int run_rc;
  /* dashboard (GET /dashboard on the public listener; loop thread only) */
  eco_dash *dash;
  struct event *dash_timer;
  char last_esrc[32];  /* energy source of the last receipt */
  bool last_emeasured; /* its energy was read from a meter */
};

struct gen_req {
  eco_server *srv;
  struct evhttp_request *http; /* NULL once answered */
  struct evhttp_connection *conn;
  eco_oai_request oai;
  char id[48];
  char model[128];
  long created;
  int directive_level; /* generation directive level applied, 0 = none */
  size_t echo_skip;    /* bytes of directive prepended to oai.prompt (echo skips them) */
  uint64_t t0_ns;
  eco_backend_id bid;
  struct event *wake;
  struct event *watch; /* notices the client closing its end */
  bool client_gone, streaming, sent_role;
  eco_utf8_hold utf8;    /* an incomplete character of the generated text */
  eco_strbuf text;       /* non-stream: the whole completion */
  bool tracked;          /* begun in the energy tracker */
  int attr_gen;          /* generated tokens already reported to the tracker */
  bool attr_prompt_done; /* prompt tokens already reported */
  uint64_t attr_last_ns; /* last progress report, monotonic ns */
  /* shared with the backend thread, under mu */
  pthread_mutex_t mu;
  eco_strbuf pending;
  bool done;
  char finish[16];
  int error;
  eco_backend_stats st;
  gen_req *next, *prev;
};

void eco_server_cfg_default(eco_server_cfg *c) {
  memset(c, 0, sizeof *c);
  c->host = "127.0.0.1";
  c->port = 8080;
  c->admin_host = "127.0.0.1";
  c->admin_port = 8081;
  c->max_body_bytes = 1 << 20;
  c->max_header_bytes = 16 << 10;
  c->http_timeout_s = 120;
  eco_oai_limits_default(&c->limits);
  c->drain_timeout_s = 30;
  c->retry_after_s = 1;
}

/* ---- small helpers ------------------------------------------------------ */

static void add_header(struct evhttp_request *r, const char *k, const char *v) {
  evhttp_add_header(evhttp_request_get_output_headers(r), k, v);
}

static void reply_text(eco_server *s, struct evhttp_request *r, const char *endpoint, int status,
                       const char *ctype, const char *body, size_t len) {
  struct evbuffer *b = evbuffer_new();
  if (b && body) evbuffer_add(b, body, len);
  add_header(r, "Content-Type", ctype);
  const char *reason = status == 200   ? "OK"
                       : status == 400 ? "Bad Request"
                       : status == 401 ? "Unauthorized"
                       : status == 404 ? "Not Found"
                       : status == 405 ? "Method Not Allowed"
                       : status == 413 ? "Payload Too Large"
                       : status == 429 ? "Too Many Requests"
                       : status == 431 ? "Request Header Fields Too Large"
                       : status == 501 ? "Not Implemented"
                       : status == 503 ? "Service Unavailable"
                       : status == 505 ? "HTTP Version Not Supported"
                                       : "Error";
  evhttp_send_reply(r, status, reason, b);
  if (b) evbuffer_free(b);
  eco_srv_metrics_request(&s->metrics, endpoint, status);
}

static void reply_json(eco_server *s, struct evhttp_request *r, const char *endpoint, int status,
                       json_t *o) {
  char *t = o ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  if (!t) {
    static const char oom[] = ECO_WIRE_ERROR_OOM;
    reply_text(s, r, endpoint, 500, "application/json", oom, sizeof oom - 1);
    return;
  }
  reply_text(s, r, endpoint, status, "application/json", t, strlen(t));
  free(t);
}

static void reply_error(eco_server *s, struct evhttp_request *r, const char *endpoint,
                        const eco_oai_error *e) {
  char *t = eco_oai_error_json(e);
  if (e->status == 429 || e->status == 503) {
    char ra[16];
    snprintf(ra, sizeof ra, "%d", s->cfg.retry_after_s);
    add_header(r, "Retry-After", ra);
  }
  reply_text(s, r, endpoint, e->status, "application/json", t ? t : "{}", t ? strlen(t) : 2);
  free(t);
}

/* The key check (util/auth.h: SHA-256 digests compared with CRYPTO_memcmp
 * against every key). The dashboard also takes ?key=, which its page passes
 * on (a browser's EventSource cannot send headers). */
static bool authorized(eco_server *s, struct evhttp_request *r, const char *endpoint) {
  if (!eco_auth_on(&s->auth)) return true;
  const char *h = evhttp_find_header(evhttp_request_get_input_headers(r), "Authorization");
  char qb[300];
  const char *qk = NULL;
  const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(r);
  const char *q = u ? evhttp_uri_get_query(u) : NULL;
  struct evkeyvalq kv = {0};
  if (q && strncmp(endpoint, "/dashboard", 10) == 0 && evhttp_parse_query_str(q, &kv) == 0) {
    const char *k = evhttp_find_header(&kv, "key");
    if (k && strlen(k) < sizeof qb) qk = strcpy(qb, k);
    evhttp_clear_headers(&kv);
  }
  eco_auth_result res =
      eco_auth_check(&s->auth, h, qk, (double)eco_time_mono_ns() / 1e9, NULL, NULL);
  if (res == ECO_AUTH_OK) return true;
  eco_oai_error e;
  eco_oai_error_set(&e, 401, "invalid_request_error", NULL, "invalid_api_key", "%s",
                    res == ECO_AUTH_MISSING ? "missing API key: send Authorization: Bearer KEY"
                                            : "incorrect API key provided");
  add_header(r, "WWW-Authenticate", "Bearer");
  reply_error(s, r, endpoint, &e);
  return false;
}

static bool dash_auth(struct evhttp_request *r, void *arg) {
  return authorized(arg, r, "/dashboard");
}

/* ---- generation requests ---------------------------------------------- */

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
static void on_attr_timer(evutil_socket_t fd, short what, void *arg) {
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
  add_header(r, ECO_HDR_ENERGY_J, v);
  add_header(r, ECO_HDR_ENERGY_SOURCE, rc->energy_source);
  snprintf(v, sizeof v, "%.6g", rc->intensity_gco2_kwh);
  add_header(r, ECO_HDR_INTENSITY, v);
  add_header(r, ECO_HDR_INTENSITY_SOURCE, rc->intensity_source);
  snprintf(v, sizeof v, "%.6g", rc->total_g);
  add_header(r, ECO_HDR_CO2_G, v);
  if (in && in->zone[0]) add_header(r, ECO_HDR_ZONE, in->zone);
}

/* Pushes this node and its zone to its dashboard. */
static void dash_update(eco_server *s) {
  if (!s->dash) return;
  double now = eco_time_wall_s();
  eco_backend_info info;
  memset(&info, 0, sizeof info);
  (void)s->backend->vt->info(s->backend->self, &info);
  eco_acct_intensity in;
  memset(&in, 0, sizeof in);
  snprintf(in.zone, sizeof in.zone, "unknown");
  bool have_in =
      s->have_acct && s->acct.intensity(s->acct.intensity_user, now, &in) == 0 && in.zone[0];
  if (have_in) {
    eco_dash_zone z;
    memset(&z, 0, sizeof z);
    snprintf(z.zone, sizeof z.zone, "%s", in.zone);
    z.gco2_kwh = in.gco2_kwh;
    snprintf(z.source, sizeof z.source, "%s", in.source);
    z.estimated = in.estimated;
    (void)eco_dash_set_zone(s->dash, &z);
  }
  double busy = s->busy_s;
  if (s->busy_since_ns) busy += (double)(eco_time_mono_ns() - s->busy_since_ns) / 1e9;
  eco_dash_node n;
  memset(&n, 0, sizeof n);
  snprintf(n.id, sizeof n.id, "%s:%d", s->cfg.host, s->port);
  snprintf(n.device, sizeof n.device, "%s", info.device[0] ? info.device : "unknown");
  snprintf(n.zone, sizeof n.zone, "%s", have_in ? in.zone : "unknown");
  snprintf(n.health, sizeof n.health, "%s",
           s->draining ? "down" : (info.loaded ? "up" : "degraded"));
  n.queue = (uint32_t)(info.queue_len > 0 ? info.queue_len : 0);
  n.batch = (uint32_t)(info.active > 0 ? info.active : 0);
  n.tokens_per_s = busy > 0 ? s->gen_tokens_total / busy : 0;
  n.j_per_token = s->gen_tokens_total > 0 ? s->energy_j_total / s->gen_tokens_total : 0;
  /* average power while generating: tokens/s x J/token */
  n.power_w = n.tokens_per_s * n.j_per_token;
  const char *lab = s->last_emeasured ? "measured" : "estimated";
  snprintf(n.power_source, sizeof n.power_source, "%s", lab);
  snprintf(n.energy_source, sizeof n.energy_source, "%.18s (%s)",
           s->last_esrc[0] ? s->last_esrc : "none", lab);
  (void)eco_dash_set_node(s->dash, &n);
}

static void on_dash_timer(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  dash_update(arg);
}

/* One finished request as a dashboard decision (policy "node"). */
static void dash_record(eco_server *s, const gen_req *g, double wall, const eco_receipt *rc) {
  if (!s->dash) return;
  eco_dash_decision x;
  memset(&x, 0, sizeof x);
  x.t = eco_time_wall_s();
  snprintf(x.request_id, sizeof x.request_id, "%s", g->id);
  snprintf(x.policy, sizeof x.policy, "node");
  snprintf(x.node, sizeof x.node, "%s:%d", s->cfg.host, s->port);
  x.latency_ms = wall * 1e3;
  x.tokens = (uint32_t)(g->st.prompt_tokens + g->st.generated_tokens);
  x.output_tokens = (uint32_t)g->st.generated_tokens;
  if (rc) {
    x.receipt = *rc;
    snprintf(s->last_esrc, sizeof s->last_esrc, "%s", rc->energy_source);
    s->last_emeasured = !rc->energy_estimated;
  }
  /* a node makes no routing prediction: its receipt stands in, and no
   * counterfactual is claimed */
  x.predicted_g = rc ? rc->total_g : 0;
  x.counterfactual_g = -1;
  x.directive_level = s->cfg.directive ? g->directive_level : -1;
  (void)eco_dash_record(s->dash, &x);
  dash_update(s);
}

static void add_directive_header(struct evhttp_request *r, int level) {
  char v[16];
  snprintf(v, sizeof v, "%d", level);
  add_header(r, ECO_HDR_DIRECTIVE_LEVEL, v);
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

static void gen_finish(gen_req *g) {
  eco_server *s = g->srv;
  const char *ep = g->oai.chat ? "/v1/chat/completions" : "/v1/completions";
  double wall = (double)(eco_time_mono_ns() - g->t0_ns) / 1e9;
  eco_receipt rc;
  eco_acct_intensity in;
  memset(&in, 0, sizeof in);
  bool have_rc = false;
  char rails[96] = "";
  if (g->tracked) {
    report_progress(s, g, &g->st);
    double j = 0;
    eco_energy_source src;
    g->tracked = false;
    if (eco_tracker_end(s->tracker, g->bid, &j, &src) == 0 && !g->st.energy_known) {
      g->st.energy_j = j;
      g->st.energy_known = true;
      g->st.energy_estimated = src.estimated;
      snprintf(g->st.energy_source, sizeof g->st.energy_source, "%s", src.name);
      snprintf(rails, sizeof rails, "%s", src.detail);
    }
  }
  if (s->have_acct) {
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
    int e = eco_acct_price(&s->acct, &use, held, eco_time_wall_s(), &rc, &in);
    if (e == 0) {
      have_rc = true;
      eco_srv_metrics_carbon(&s->metrics, rc.energy_source, rc.energy_j, rc.total_g);
      s->energy_j_total += rc.energy_j;
      if (s->acct.sink) {
        eco_acct_receipt_ctx ctx = {.request_id = g->id,
                                    .model = g->model,
                                    .zone = in.zone,
                                    .time_s = eco_time_wall_s(),
                                    .latency_s = wall,
                                    .receipt = &rc,
                                    .usage = &use,
                                    .directive_level = s->cfg.directive ? g->directive_level : -1};
        s->acct.sink(s->acct.sink_user, &ctx);
      }
    } else {
      ECO_WARN(s->log, "server", "%s: cannot price request: %s", g->id, eco_strerror(e));
    }
  }
  bool cancelled = strcmp(g->finish, "cancelled") == 0;
  s->gen_tokens_total += g->st.generated_tokens;
  eco_srv_metrics_generation(&s->metrics, wall, g->st.ttft_s, g->st.per_token_s,
                             g->st.prompt_tokens, g->st.generated_tokens,
                             cancelled || g->client_gone);
  if (strcmp(g->finish, "error") != 0) dash_record(s, g, wall, have_rc ? &rc : NULL);
  eco_oai_usage u = {.prompt_tokens = g->st.prompt_tokens,
                     .completion_tokens = g->st.generated_tokens,
                     .cached_tokens = g->st.cached_tokens,
                     .carbon = have_rc ? &rc : NULL,
                     .has_directive = s->cfg.directive != NULL,
                     .directive_level = g->directive_level};
  const char *finish = g->finish;
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
  if (strcmp(finish, "error") == 0) {
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
      reply_error(s, g->http, ep, &e);
    }
    g->http = NULL;
    return;
  }
  if (g->streaming) {
    char *t = eco_oai_chunk_json(g->oai.chat, g->id, g->created, g->model, NULL, 0,
                                 g->oai.chat && !g->sent_role, finish, NULL, g->oai.include_usage);
    send_sse(g, t);
    free(t);
    if (g->oai.include_usage) {
      t = eco_oai_chunk_json(g->oai.chat, g->id, g->created, g->model, NULL, 0, false, NULL, &u,
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
  } else {
    const char *txt = eco_sb_str(&g->text);
    char *body = eco_oai_response_json(g->oai.chat, g->id, g->created, g->model, txt, g->text.len,
                                       finish, &u);
    add_header(g->http, ECO_HDR_REQUEST_ID, g->id);
    if (have_rc) add_carbon_headers(g->http, &rc, &in);
    if (s->cfg.directive) add_directive_header(g->http, g->directive_level);
    if (body)
      reply_text(s, g->http, ep, 200, "application/json", body, strlen(body));
    else
      reply_text(s, g->http, ep, 500, "application/json", "{}", 2);
    free(body);
  }
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

static void handle_generate(eco_server *s, struct evhttp_request *r, bool chat) {
  const char *ep = chat ? "/v1/chat/completions" : "/v1/completions";
  eco_oai_error e;
  if (evhttp_request_get_command(r) != EVHTTP_REQ_POST) {
    eco_oai_error_set(&e, 405, "invalid_request_error", NULL, NULL, "use POST");
    reply_error(s, r, ep, &e);
    return;
  }
  if (!authorized(s, r, ep)) return;
  if (s->draining) {
    eco_oai_error_set(&e, 503, "server_error", NULL, "shutting_down",
                      "the server is shutting down");
    reply_error(s, r, ep, &e);
    return;
  }
  struct evbuffer *in = evhttp_request_get_input_buffer(r);
  size_t len = evbuffer_get_length(in);
  if (len > s->cfg.max_body_bytes) {
    eco_oai_error_set(&e, 413, "invalid_request_error", NULL, NULL, "request body over %zu bytes",
                      s->cfg.max_body_bytes);
    reply_error(s, r, ep, &e);
    return;
  }
  const char *body = (const char *)evbuffer_pullup(in, -1);
  gen_req *g = calloc(1, sizeof *g);
  if (!g) {
    eco_oai_error_set(&e, 500, "server_error", NULL, NULL, "out of memory");
    reply_error(s, r, ep, &e);
    return;
  }
  if (eco_oai_parse(chat, body ? body : "", len, &s->cfg.limits, &g->oai, &e)) {
    free(g);
    reply_error(s, r, ep, &e);
    return;
  }
  eco_backend_info info;
  if (s->backend->vt->info(s->backend->self, &info) != 0 || !info.loaded) {
    eco_oai_error_set(&e, 503, "server_error", NULL, "model_not_ready", "the model is not loaded");
    goto reject;
  }
  if (strcmp(g->oai.model, info.model_name) != 0 &&
      !(s->cfg.model_alias && strcmp(g->oai.model, s->cfg.model_alias) == 0)) {
    eco_oai_error_set(&e, 404, "invalid_request_error", "model", "model_not_found",
                      "the model '%.100s' does not exist on this node (serving '%.100s')",
                      g->oai.model, info.model_name);
    goto reject;
  }
  if (info.context_length > 0 && g->oai.max_tokens >= info.context_length) {
    eco_oai_error_set(&e, 400, "invalid_request_error", "max_tokens", "context_length_exceeded",
                      "max_tokens %d does not fit the context length %d", g->oai.max_tokens,
                      info.context_length);
    goto reject;
  }
  if (directive_prepare(s, r, g, ep, &e)) goto reject;
  snprintf(g->model, sizeof g->model, "%s", g->oai.model);
  g->srv = s;
  g->http = r;
  g->created = (long)eco_time_wall_s();
  g->t0_ns = eco_time_mono_ns();
  /* 128 random bits: ids stay unique across restarts and nodes that share
   * a ledger (a per-process counter repeated them). */
  if (eco_rand_id(chat ? "chatcmpl-" : "cmpl-", 16, g->id, sizeof g->id)) {
    eco_oai_error_set(&e, 500, "server_error", NULL, NULL, "no random bytes for a request id");
    goto reject;
  }
  pthread_mutex_init(&g->mu, NULL);
  eco_sb_init(&g->pending);
  eco_sb_init(&g->text);
  g->wake = event_new(s->base, -1, 0, on_wake, g);
  if (!g->wake) {
    pthread_mutex_destroy(&g->mu);
    eco_oai_error_set(&e, 500, "server_error", NULL, NULL, "out of memory");
    goto reject;
  }
  eco_backend_request br = {
      .messages = g->oai.messages,
      .n_messages = g->oai.n_messages,
      .prompt = g->oai.prompt,
      .sampling = g->oai.sampling,
      .max_tokens = g->oai.max_tokens,
      .stop = (const char *const *)g->oai.stop,
      .n_stop = g->oai.n_stop,
      .ignore_eos = g->oai.ignore_eos,
      .directive_level = g->directive_level > 0 ? g->directive_level : 0,
  };
  if (!chat) br.messages = NULL;
  if (s->tracker) eco_tracker_settle(s->tracker); /* close the interval before it joins */
  if (s->tracker && s->n_reqs == 0 && s->attr_timer) {
    double iv = s->acct.attr_interval_s;
    struct timeval tv = {(time_t)iv, (suseconds_t)((iv - (double)(time_t)iv) * 1e6)};
    event_add(s->attr_timer, &tv);
  }
  /* link first: the callback may fire before submit returns */
  g->next = s->reqs;
  if (s->reqs) s->reqs->prev = g;
  s->reqs = g;
  if (s->n_reqs++ == 0) s->busy_since_ns = eco_time_mono_ns();
  eco_srv_metrics_inflight(&s->metrics, 1);
  if (g->oai.stream) {
    /* headers go out before the first token: no event can be handled before
     * this handler returns, so the order is safe */
    g->streaming = true;
  }
  int rc = s->backend->vt->submit(s->backend->self, &br, on_token, g, &g->bid);
  if (rc) {
    g->http = NULL;
    if (rc == ECO_EBUSY)
      eco_oai_error_set(&e, s->cfg.busy_status_503 ? 503 : 429, "server_error", NULL, "queue_full",
                        "the node's queue is full, retry later");
    else if (rc == ECO_ECONTEXT)
      eco_oai_error_set(&e, 400, "invalid_request_error", "messages", "context_length_exceeded",
                        "the prompt plus max_tokens exceeds the context length %d",
                        info.context_length);
    else if (rc == ECO_EINVAL)
      eco_oai_error_set(&e, 400, "invalid_request_error", NULL, NULL,
                        "the backend rejected the request");
    else if (rc == ECO_ENOENT)
      eco_oai_error_set(&e, 400, "invalid_request_error", "messages", "unknown_prompt",
                        "the backend has no answer for this prompt (a replay backend answers "
                        "only the prompts it has recordings of)");
    else
      eco_oai_error_set(&e, 500, "server_error", NULL, NULL, "submit failed: %s", eco_strerror(rc));
    gen_free(g);
    reply_error(s, r, ep, &e);
    return;
  }
  if (s->tracker && eco_tracker_begin(s->tracker, g->bid) == 0) {
    g->tracked = true;
    g->attr_last_ns = eco_time_mono_ns();
  }
  g->conn = evhttp_request_get_connection(r);
  if (g->conn) {
    evhttp_connection_set_closecb(g->conn, on_close, g);
    struct bufferevent *bev = evhttp_connection_get_bufferevent(g->conn);
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    if (fd >= 0) {
      bool early = (event_base_get_features(s->base) & EV_FEATURE_EARLY_CLOSE) != 0;
      g->watch = event_new(s->base, fd, early ? (EV_CLOSED | EV_PERSIST) : EV_PERSIST, on_watch, g);
      struct timeval poll = {0, 250000};
      if (g->watch) event_add(g->watch, early ? NULL : &poll);
    }
  }
  if (g->streaming) {
    add_header(r, "Content-Type", "text/event-stream");
    add_header(r, "Cache-Control", "no-cache");
    add_header(r, ECO_HDR_REQUEST_ID, g->id);
    if (s->cfg.directive) add_directive_header(r, g->directive_level);
    if (s->have_acct) {
      eco_acct_intensity iv;
      if (s->acct.intensity(s->acct.intensity_user, eco_time_wall_s(), &iv) == 0) {
        char v[32];
        snprintf(v, sizeof v, "%.6g", iv.gco2_kwh);
        add_header(r, ECO_HDR_INTENSITY, v);
        add_header(r, ECO_HDR_INTENSITY_SOURCE, iv.source);
        if (iv.zone[0]) add_header(r, ECO_HDR_ZONE, iv.zone);
      }
    }
    evhttp_send_reply_start(r, 200, "OK");
  }
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
  reply_error(s, r, ep, &e);
}

/* ---- other endpoints --------------------------------------------------- */

static void handle_models(eco_server *s, struct evhttp_request *r, const char *path) {
  if (!authorized(s, r, "/v1/models")) return;
  eco_backend_info info;
  s->backend->vt->info(s->backend->self, &info);
  json_t *m = json_pack("{s:s,s:s,s:I,s:s}", "id", info.model_name, "object", "model", "created",
                        (json_int_t)s->metrics.started_s, "owned_by", "ecoinfer");
  if (m && info.chat_template[0]) /* how chats are rendered, and any fallback warning */
    json_object_set_new(m, "chat_template",
                        json_pack("{s:s,s:s}", "renderer", info.chat_template, "warning",
                                  info.chat_template_warning));
  if (strncmp(path, "/v1/models/", 11) == 0) {
    if (strcmp(path + 11, info.model_name) != 0) {
      json_decref(m);
      eco_oai_error e;
      eco_oai_error_set(&e, 404, "invalid_request_error", "model", "model_not_found",
                        "the model '%.100s' does not exist", path + 11);
      reply_error(s, r, "/v1/models", &e);
      return;
    }
    reply_json(s, r, "/v1/models", 200, m);
    return;
  }
  reply_json(s, r, "/v1/models", 200, json_pack("{s:s,s:[o]}", "object", "list", "data", m));
}

static bool ready(eco_server *s, eco_backend_info *info) {
  if (s->backend->vt->info(s->backend->self, info) != 0) return false;
  return info->loaded && !s->draining && info->queue_len < info->queue_cap;
}

static void handle_node(eco_server *s, struct evhttp_request *r) {
  if (!authorized(s, r, "/v1/node")) return;
  eco_backend_info info;
  bool ok = ready(s, &info);
  eco_acct_intensity in;
  memset(&in, 0, sizeof in);
  json_t *ji = json_null();
  if (s->have_acct && s->acct.intensity(s->acct.intensity_user, eco_time_wall_s(), &in) == 0)
    ji = json_pack("{s:f,s:s,s:b}", "gco2_kwh", in.gco2_kwh, "source", in.source, "estimated",
                   in.estimated);
  double busy = s->busy_s;
  if (s->busy_since_ns) busy += (double)(eco_time_mono_ns() - s->busy_since_ns) / 1e9;
  json_t *o = json_pack(
      "{s:s,s:s,s:s,s:o,s:o,s:o,s:{s:i,s:i},s:{s:i,s:i},s:{s:f,s:f,s:f},s:i,s:b,s:b,s:f}", "device",
      info.device, "model", info.model_name, "zone", in.zone, "intensity", ji, "energy_j_per_token",
      s->gen_tokens_total > 0 ? json_real(s->energy_j_total / s->gen_tokens_total) : json_null(),
      "tokens_per_s", busy > 0 ? json_real(s->gen_tokens_total / busy) : json_null(), "queue",
      "depth", info.queue_len, "capacity", info.queue_cap, "batch", "active", info.active, "max",
      info.max_batch, "kv", "used_bytes", info.kv_used_bytes, "budget_bytes", info.kv_budget_bytes,
      "usage", info.kv_budget_bytes > 0 ? info.kv_used_bytes / info.kv_budget_bytes : 0.0,
      "context_length", info.context_length, "ready", ok, "draining", s->draining,
      "generated_tokens", s->gen_tokens_total);
  /* the router sends no body over this (it answers 413 itself) */
  if (o) json_object_set_new(o, "max_body_bytes", json_integer((json_int_t)s->cfg.max_body_bytes));
  reply_json(s, r, "/v1/node", 200, o);
}

static void begin_drain(eco_server *s, const char *why);

static void route(struct evhttp_request *r, eco_server *s, bool admin_listener) {
  const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(r);
  const char *path = u ? evhttp_uri_get_path(u) : NULL;
  if (!path) path = "/";
  bool admin_paths = admin_listener || s->cfg.admin_port < 0;
  bool public_paths = !admin_listener;
  enum evhttp_cmd_type cmd = evhttp_request_get_command(r);
  if (strcmp(path, "/health") == 0) {
    reply_json(s, r, "/health", 200, json_pack("{s:s}", "status", "ok"));
  } else if (strcmp(path, "/ready") == 0) {
    eco_backend_info info;
    bool ok = ready(s, &info);
    reply_json(s, r, "/ready", ok ? 200 : 503,
               json_pack("{s:b,s:b,s:b,s:i,s:i}", "ready", ok, "loaded", info.loaded, "draining",
                         s->draining, "queue_depth", info.queue_len, "queue_capacity",
                         info.queue_cap));
  } else if (admin_paths && strcmp(path, "/metrics") == 0) {
    /* on the public listener (no admin port), /metrics needs the key too */
    if (!admin_listener && !authorized(s, r, "/metrics")) return;
    eco_backend_info info;
    eco_strbuf sb;
    eco_sb_init(&sb);
    s->backend->vt->info(s->backend->self, &info);
    eco_srv_metrics_request(&s->metrics, "/metrics", 200); /* counted before rendering */
    eco_srv_metrics_render(&s->metrics, &info, &sb);
    struct evbuffer *b = evbuffer_new();
    if (b) evbuffer_add(b, eco_sb_str(&sb), sb.len);
    add_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    evhttp_send_reply(r, 200, "OK", b);
    if (b) evbuffer_free(b);
    eco_sb_free(&sb);
  } else if (admin_paths && strcmp(path, "/admin/drain") == 0 && cmd == EVHTTP_REQ_POST) {
    reply_json(s, r, "/admin/drain", 202, json_pack("{s:b}", "draining", true));
    begin_drain(s, "admin request");
  } else if (public_paths && strcmp(path, "/v1/chat/completions") == 0) {
    handle_generate(s, r, true);
  } else if (public_paths && strcmp(path, "/v1/completions") == 0) {
    handle_generate(s, r, false);
  } else if (public_paths &&
             (strcmp(path, "/v1/models") == 0 || strncmp(path, "/v1/models/", 11) == 0)) {
    handle_models(s, r, path);
  } else if (public_paths && strcmp(path, "/v1/node") == 0) {
    handle_node(s, r);
  } else {
    eco_oai_error e;
    eco_oai_error_set(&e, 404, "invalid_request_error", NULL, "not_found", "no route for %.200s",
                      path);
    reply_error(s, r, "other", &e);
  }
}

static void on_public(struct evhttp_request *r, void *arg) { route(r, arg, false); }
static void on_admin(struct evhttp_request *r, void *arg) { route(r, arg, true); }

/* ---- lifecycle ---------------------------------------------------------- */

static void on_drain_timeout(evutil_socket_t fd, short what, void *arg) {
  eco_server *s = arg;
  if (s->n_reqs == 0) {
    event_base_loopexit(s->base, NULL);
    return;
  }
  if (!s->drain_forced) {
    ECO_WARN(s->log, "server", "drain timeout: cancelling %d in-flight request(s)", s->n_reqs);
    s->drain_forced = true;
    for (gen_req *g = s->reqs; g; g = g->next)
      s->backend->vt->cancel(s->backend->self, g->bid);
    struct timeval tv = {5, 0}; /* grace for the backend to deliver DONE */
    evtimer_add(s->drain_timer, &tv);
    return;
  }
  ECO_ERROR(s->log, "server", "%d request(s) still not finished after cancel; exiting", s->n_reqs);
  event_base_loopexit(s->base, NULL);
}

static void begin_drain(eco_server *s, const char *why) {
  if (s->draining) return;
  s->draining = true;
  ECO_INFO(s->log, "server", "%s: draining %d in-flight request(s), timeout %.1f s", why, s->n_reqs,
           s->cfg.drain_timeout_s);
  if (s->bound) {
    evhttp_del_accept_socket(s->http, s->bound);
    s->bound = NULL;
  }
  if (s->n_reqs == 0 && s->n_sending == 0) {
    event_base_loopexit(s->base, NULL);
    return;
  }
  double t = s->cfg.drain_timeout_s > 0 ? s->cfg.drain_timeout_s : 0;
  struct timeval tv = {(time_t)t, (suseconds_t)((t - (double)(time_t)t) * 1e6)};
  evtimer_add(s->drain_timer, &tv);
}

static void on_signal(evutil_socket_t sig, short what, void *arg) {
  begin_drain(arg, sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void on_stop(evutil_socket_t fd, short what, void *arg) { begin_drain(arg, "shutdown"); }

static int bind_one(struct evhttp *h, const char *host, int port, struct evhttp_bound_socket **bs,
                    int *out_port, eco_error *err) {
  *bs = evhttp_bind_socket_with_handle(h, host, (ev_uint16_t)port);
  if (!*bs) return eco_error_set(err, ECO_ENET, "cannot listen on %s:%d", host, port);
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t sl = sizeof ss;
  evutil_socket_t fd = evhttp_bound_socket_get_fd(*bs);
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
    if (ss.ss_family == AF_INET)
      *out_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    else if (ss.ss_family == AF_INET6)
      *out_port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  }
  return 0;
}

/* A request the HTTP front refused (framing, limits, methods): the same
 * JSON error body as every other answer. */
static void on_front_error(struct evhttp_request *r, int status, const char *code, const char *msg,
                           void *arg) {
  eco_oai_error e;
  eco_oai_error_set(&e, status, "invalid_request_error", NULL, code, "%s", msg);
  reply_error(arg, r, "other", &e);
}

static struct evhttp *make_http(eco_server *s, void (*cb)(struct evhttp_request *, void *),
                                eco_http_front **front) {
  struct evhttp *h = evhttp_new(s->base);
  if (!h) return NULL;
  eco_http_front_cfg fc = {
      .max_body_bytes = s->cfg.max_body_bytes,
      .max_header_bytes = s->cfg.max_header_bytes,
      .methods = EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD,
      .timeout_s = s->cfg.http_timeout_s > 0 ? s->cfg.http_timeout_s : 120,
      .on_error = on_front_error,
      .gencb = cb,
      .arg = s,
  };
  if (eco_http_front_attach(h, &fc, front) != 0) {
    evhttp_free(h);
    return NULL;
  }
  return h;
}

int eco_server_new(const eco_server_cfg *cfg, eco_backend *backend, const eco_accounting *acct,
                   const eco_logger *log, eco_server **out, eco_error *err) {
  *out = NULL;
  if (!cfg || !backend || !backend->vt) return eco_error_set(err, ECO_EINVAL, "no backend");
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, (void (*)(void))evthread_use_pthreads);
  signal(SIGPIPE, SIG_IGN);
  eco_server *s = calloc(1, sizeof *s);
  if (!s) return eco_error_set(err, ECO_ENOMEM, "out of memory");
  s->cfg = *cfg;
  if (!s->cfg.host) s->cfg.host = "127.0.0.1";
  if (!s->cfg.admin_host) s->cfg.admin_host = "127.0.0.1";
  if (s->cfg.max_body_bytes == 0) s->cfg.max_body_bytes = 1 << 20;
  if (s->cfg.max_header_bytes == 0) s->cfg.max_header_bytes = 16 << 10;
  if (s->cfg.limits.max_tokens_limit == 0) eco_oai_limits_default(&s->cfg.limits);
  s->backend = backend;
  if (acct) {
    s->acct = *acct;
    s->have_acct = acct->energy && acct->intensity;
  }
  s->log = log;
  s->admin_port = -1;
  eco_srv_metrics_init(&s->metrics, eco_time_wall_s());
  int rc;
  s->base = event_base_new();
  if (!s->base) {
    rc = eco_error_set(err, ECO_ENOMEM, "cannot create the event loop");
    goto fail;
  }
  s->http = make_http(s, on_public, &s->front);
  s->stop_ev = event_new(s->base, -1, 0, on_stop, s);
  s->drain_timer = evtimer_new(s->base, on_drain_timeout, s);
  s->attr_timer = event_new(s->base, -1, EV_PERSIST, on_attr_timer, s);
  if (!s->http || !s->stop_ev || !s->drain_timer || !s->attr_timer) {
    rc = eco_error_set(err, ECO_ENOMEM, "out of memory");
    goto fail;
  }
  if (s->have_acct && s->acct.meter &&
      (rc = eco_tracker_new(s->acct.meter, &s->acct.attr, &s->tracker, err)))
    goto fail;
  if ((rc = bind_one(s->http, s->cfg.host, s->cfg.port, &s->bound, &s->port, err))) goto fail;
  /* GET /dashboard: exact paths take precedence over on_public */
  s->dash_timer = event_new(s->base, -1, EV_PERSIST, on_dash_timer, s);
  if (!s->dash_timer || eco_dash_new("node", &s->dash) != 0 ||
      eco_dash_attach(s->dash, s->base, s->http, "/dashboard", 1.0) != 0) {
    rc = eco_error_set(err, ECO_ENOMEM, "cannot attach the dashboard");
    goto fail;
  }
  for (size_t i = 0; i < s->cfg.n_api_keys; i++)
    if (eco_auth_add(&s->auth, s->cfg.api_keys[i], NULL, 0, 0) != 0) {
      rc = eco_error_set(err, ECO_EINVAL, "API key %zu is empty", i);
      goto fail;
    }
  s->cfg.api_keys = NULL; /* the caller's strings; the digests are kept */
  s->cfg.n_api_keys = 0;
  if (eco_auth_on(&s->auth)) eco_dash_set_auth(s->dash, dash_auth, s);
  struct timeval dtv = {2, 0};
  event_add(s->dash_timer, &dtv);
  dash_update(s);
  if (s->cfg.admin_port >= 0) {
    s->admin = make_http(s, on_admin, &s->admin_front);
    if (!s->admin) {
      rc = eco_error_set(err, ECO_ENOMEM, "out of memory");
      goto fail;
    }
    if ((rc = bind_one(s->admin, s->cfg.admin_host, s->cfg.admin_port, &s->admin_bound,
                       &s->admin_port, err)))
      goto fail;
  }
  if (s->cfg.handle_signals) {
    s->sigterm = evsignal_new(s->base, SIGTERM, on_signal, s);
    s->sigint = evsignal_new(s->base, SIGINT, on_signal, s);
    if (!s->sigterm || !s->sigint || evsignal_add(s->sigterm, NULL) ||
        evsignal_add(s->sigint, NULL)) {
      rc = eco_error_set(err, ECO_EINTERNAL, "cannot install signal handlers");
      goto fail;
    }
  }
  *out = s;
  return 0;
fail:
  eco_server_free(s);
  return rc;
}

int eco_server_port(const eco_server *s) { return s->port; }
int eco_server_admin_port(const eco_server *s) { return s->admin ? s->admin_port : -1; }

int eco_server_run(eco_server *s) {
  ECO_INFO(s->log, "server", "listening on http://%s:%d (admin %s:%d)", s->cfg.host, s->port,
           s->admin ? s->cfg.admin_host : "-", s->admin ? s->admin_port : -1);
  event_base_dispatch(s->base);
  s->run_rc = s->drain_forced ? ECO_ETIMEOUT : 0;
  return s->run_rc;
}

static void *run_thread(void *arg) {
  eco_server_run(arg);
  return NULL;
}

int eco_server_start(eco_server *s) {
  if (pthread_create(&s->thread, NULL, run_thread, s) != 0) return ECO_EINTERNAL;
  s->thread_started = true;
  return 0;
}

void eco_server_shutdown(eco_server *s) { event_active(s->stop_ev, EV_READ, 0); }

int eco_server_join(eco_server *s) {
  if (s->thread_started) {
    pthread_join(s->thread, NULL);
    s->thread_started = false;
  }
  return s->run_rc;
}

void eco_server_free(eco_server *s) {
  if (!s) return;
  if (s->n_reqs) {
    /* requests the backend still references: cancel, and let the backend's
     * destroy deliver their DONE events into a loop that no longer runs
     * would be unsafe, so run the loop until they are gone */
    for (gen_req *g = s->reqs; g; g = g->next)
      s->backend->vt->cancel(s->backend->self, g->bid);
    s->draining = true;
    uint64_t t0 = eco_time_mono_ns();
    while (s->n_reqs && eco_time_mono_ns() - t0 < 5000000000ull)
      event_base_loop(s->base, EVLOOP_ONCE | EVLOOP_NONBLOCK), eco_time_sleep_s(0.001);
  }
  if (s->http) evhttp_free(s->http);
  if (s->admin) evhttp_free(s->admin);
  eco_http_front_free(s->front); /* after its evhttp */
  eco_http_front_free(s->admin_front);
  eco_dash_free(s->dash); /* after its listener */
  if (s->dash_timer) event_free(s->dash_timer);
  if (s->sigterm) event_free(s->sigterm);
  if (s->sigint) event_free(s->sigint);
  if (s->stop_ev) event_free(s->stop_ev);
  if (s->drain_timer) event_free(s->drain_timer);
  if (s->attr_timer) event_free(s->attr_timer);
  if (s->tracker) eco_tracker_free(s->tracker);
  if (s->base && !s->n_reqs) event_base_free(s->base);
  eco_srv_metrics_destroy(&s->metrics);
  eco_auth_free(&s->auth);
  free(s);
}
