/* ecoinfer node server: the server's shared state and the functions its
 * files call across one another. Private to src/server/server.c and
 * srv_*.c; see server.h for the public interface. Everything here runs on
 * the server's one event loop thread, except on_token (srv_gen.c), which
 * the backend calls on its own thread.
 *
 *   server.c      configuration defaults, routes, the other endpoints,
 *                 drain and signals, construction, run, free
 *   srv_http.c    the HTTP front (util/http_front.h), listeners, replies,
 *                 API keys
 *   srv_gen.c     generation requests: admission, submit, tokens, SSE,
 *                 the receipt and the final answer
 *   srv_dash.c    the node's dashboard feed */
#ifndef ECO_SERVER_SRV_INTERNAL_H
#define ECO_SERVER_SRV_INTERNAL_H

#include "server/server.h"

#include "dashboard/dashboard.h"
#include "energy/tracker.h"
#include "server/metrics.h"
#include "util/auth.h"
#include "util/http_front.h"
#include "util/strbuf.h"
#include "util/utf8.h"

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* ---- srv_http.c: replies, keys, listeners ---------------------------------- */

void srv_add_header(struct evhttp_request *r, const char *k, const char *v);
/* Sends a whole reply and counts it under endpoint in the metrics. */
void srv_reply_text(eco_server *s, struct evhttp_request *r, const char *endpoint, int status,
                    const char *ctype, const char *body, size_t len);
/* As srv_reply_text with o as compact JSON (takes o; NULL = out of memory). */
void srv_reply_json(eco_server *s, struct evhttp_request *r, const char *endpoint, int status,
                    json_t *o);
/* OpenAI's error body, with Retry-After on 429 and 503. */
void srv_reply_error(eco_server *s, struct evhttp_request *r, const char *endpoint,
                     const eco_oai_error *e);
/* True when the request carries a valid API key (or none are configured);
 * otherwise answers 401 and returns false. */
bool srv_authorized(eco_server *s, struct evhttp_request *r, const char *endpoint);
/* The dashboard's key check (eco_dash_set_auth), arg = the server. */
bool srv_dash_auth(struct evhttp_request *r, void *arg);
/* cfg.api_keys as digests; the caller's strings are forgotten. */
int srv_keys_set(eco_server *s, eco_error *err);
/* A listener with the HTTP front's checks before evhttp, requests to cb. */
struct evhttp *srv_make_http(eco_server *s, void (*cb)(struct evhttp_request *, void *),
                             eco_http_front **front);
/* Binds h to host:port; *out_port = the port bound (an ephemeral one too). */
int srv_bind(struct evhttp *h, const char *host, int port, struct evhttp_bound_socket **bs,
             int *out_port, eco_error *err);

/* ---- srv_gen.c: generation requests ------------------------------------------ */

/* POST /v1/chat/completions (chat) or /v1/completions. */
void srv_handle_generate(eco_server *s, struct evhttp_request *r, bool chat);
/* The attribution timer: every request's progress to the energy tracker. */
void srv_on_attr_timer(evutil_socket_t fd, short what, void *arg);

/* ---- srv_dash.c: the node's dashboard ------------------------------------------ */

/* The dashboard, its refresh timer and its key check; the first update. */
int srv_dash_setup(eco_server *s, eco_error *err);
/* Pushes this node and its zone to its dashboard. */
void srv_dash_update(eco_server *s);
/* One finished request as a dashboard decision (policy "node"); rc NULL =
 * no receipt. */
void srv_dash_record(eco_server *s, const gen_req *g, double wall, const eco_receipt *rc);

#endif
