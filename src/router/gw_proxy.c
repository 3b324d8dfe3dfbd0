/* ecoinfer router: the proxied request: parsing, routing, batch windows and
 * the client connection (see gw_internal.h). */
#include "router/gw_internal.h"

#include "accounting/wire.h"
#include "dashboard/dash_feed.h"
#include "router/sse.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

void gw_cwatch_stop(preq *r) {
  if (r->cwatch) event_free(r->cwatch);
  r->cwatch = NULL;
}

void gw_preq_free(preq *r) {
  gw_cwatch_stop(r);
  if (r->ubody) evbuffer_free(r->ubody);
  if (r->sse) evbuffer_free(r->sse);
  json_decref(r->body);
  free(r->raw);
  free(r->draw);
  free(r->excluded);
  free(r);
}

/* Detaches from the client request (called right before the final send). */
void gw_client_detach(preq *r) {
  gw_cwatch_stop(r);
  if (r->cconn) evhttp_connection_set_closecb(r->cconn, NULL, NULL);
  r->cconn = NULL;
  r->creq = NULL;
}

void gw_target_release(preq *r) {
  if (r->target) {
    if (r->target->inflight > 0) r->target->inflight--;
    r->target->done_total++;
    eco_batch_api_interactive(r->g->batch, r->target->cfg.url, -1);
    r->target = NULL;
  }
}

void gw_add_router_headers(preq *r, struct evkeyvalq *h) {
  char buf[64];
  node *n = r->target;
  if (!n) return;
  evhttp_add_header(h, ECO_HDR_NODE, n->cfg.id);
  evhttp_add_header(h, ECO_HDR_ZONE, n->cfg.zone);
  evhttp_add_header(h, ECO_HDR_POLICY, eco_policy_name(r->pol.kind));
  snprintf(buf, sizeof buf, "%.3f", r->pred.latency_s * 1e3);
  evhttp_add_header(h, ECO_HDR_PREDICTED_LATENCY_MS, buf);
  snprintf(buf, sizeof buf, "%.6g", r->pred.total_g);
  evhttp_add_header(h, ECO_HDR_PREDICTED_GCO2, buf);
  snprintf(buf, sizeof buf, "%d", r->attempts);
  evhttp_add_header(h, ECO_HDR_ATTEMPTS, buf);
}

static void batch_flush(node *n) {
  preq *r = n->bhead;
  n->bhead = n->btail = NULL;
  n->nb = 0;
  if (n->bev) evtimer_del(n->bev);
  while (r) {
    preq *next = r->bnext;
    r->bnext = NULL;
    r->in_batch = false;
    gw_dispatch(r);
    r = next;
  }
}

static void on_batch_timer(evutil_socket_t fd, short ev, void *arg) {
  (void)fd;
  (void)ev;
  batch_flush(arg);
}

static void batch_remove(preq *r) {
  node *n = r->target;
  if (!n || !r->in_batch) return;
  preq **pp = &n->bhead;
  preq *prev = NULL;
  while (*pp && *pp != r) {
    prev = *pp;
    pp = &(*pp)->bnext;
  }
  if (*pp) {
    *pp = r->bnext;
    if (n->btail == r) n->btail = prev;
    n->nb--;
  }
  r->in_batch = false;
}

/* Queues r for its target's batch window, or sends it at once. The wait is
 * at most the window and never past the request's SLO slack. */
static void enqueue(preq *r) {
  gw *g = r->g;
  node *n = r->target;
  double win = g->cfg.batch_window_s;
  if (win <= 0 || g->cfg.batch_max <= 1 || r->attempts > 0) {
    gw_dispatch(r);
    return;
  }
  double slack = r->pred.slo_s > 0 ? r->pred.slo_s - r->pred.latency_s : win;
  if (slack <= 0) {
    gw_dispatch(r);
    return;
  }
  double wait = slack < win ? slack : win;
  r->bnext = NULL;
  r->in_batch = true;
  if (n->btail)
    n->btail->bnext = r;
  else
    n->bhead = r;
  n->btail = r;
  n->nb++;
  eco_node_view *v = &g->views[n->idx];
  uint32_t cap = g->cfg.batch_max;
  uint32_t mb = v->max_batch ? v->max_batch : 1;
  if (cap > mb) cap = mb;
  if (n->nb >= cap) {
    batch_flush(n);
    return;
  }
  double now = mono_s();
  if (!n->bev) n->bev = evtimer_new(g->base, on_batch_timer, n);
  if (!n->bev) {
    batch_flush(n);
    return;
  }
  if (n->nb == 1 || now + wait < n->bdeadline_s) {
    n->bdeadline_s = now + wait;
    struct timeval tv = {(time_t)wait, (suseconds_t)((wait - floor(wait)) * 1e6)};
    evtimer_add(n->bev, &tv);
  }
}

int gw_choose_and_dispatch(preq *r) {
  gw *g = r->g;
  if (g->n_nodes == 0) return ECO_ENOENT;
  double now = mono_s();
  gw_views_refresh(g, now);
  r->rr.excluded = r->excluded;
  if (!r->models) {
    r->rr.expected_out_tokens =
        eco_outlen_predict(&g->outlen, r->rr.prompt_tokens, r->rr.max_tokens);
    r->out_base = r->rr.expected_out_tokens; /* level-blind: what directives are measured against */
    /* a brief answer: the length its level has on this model (live plan) */
    double dt = gw_directive_out_tokens(r);
    if (dt > 0 && dt < r->rr.expected_out_tokens) r->rr.expected_out_tokens = dt;
  }
  uint64_t t0 = eco_time_mono_ns();
  int rc = eco_policy_choose(&r->pol, &r->rr, g->views, g->n_nodes, &r->pred);
  g->decision_s_sum += (double)(eco_time_mono_ns() - t0) / 1e9;
  g->decisions++;
  if (rc != 0) {
    /* No eligible node: try the ones whose circuit is open, best effort. */
    if (rc != ECO_ENOENT) return rc;
    bool any = false;
    for (size_t i = 0; i < g->n_nodes; i++) {
      if (g->views[i].circuit_open && g->views[i].health != ECO_NODE_DOWN &&
          !(r->excluded && r->excluded[i])) {
        g->views[i].circuit_open = false;
        any = true;
      }
    }
    if (!any) return rc;
    rc = eco_policy_choose(&r->pol, &r->rr, g->views, g->n_nodes, &r->pred);
    if (rc != 0) return rc;
  }
  if (!r->models) gw_counterfactual(r);
  if (!r->models && r->pol.kind == ECO_POLICY_ROUND_ROBIN &&
      r->pol.rr_cursor == g->policy.rr_cursor)
    g->policy.rr_cursor = r->pred.rr_next;
  r->target = g->nodes[r->pred.node];
  r->target->inflight++;
  eco_batch_api_interactive(g->batch, r->target->cfg.url, +1);
  if (r->attempts == 0)
    enqueue(r);
  else
    gw_dispatch(r);
  return 0;
}

/* The client of r is gone (r->creq already NULL): a request waiting in a
 * batch window is dropped now; with an upstream attempt in flight the
 * node's work is cut (on_up_done frees r); otherwise the request runs its
 * course and is freed when its answer finds no client. */
static void client_gone_cleanup(preq *r) {
  if (r->in_batch) {
    batch_remove(r);
    gw_target_release(r);
    gw_preq_free(r);
    return;
  }
  gw_upstream_abandon(r);
}

static void on_client_close(struct evhttp_connection *c, void *arg) {
  (void)c;
  preq *r = arg;
  gw *g = r->g;
  g->client_gone++;
  gw_cwatch_stop(r); /* its socket is about to be closed */
  /* A client that left before its answer: libevent detaches the request
   * from the connection and leaves it to us (evhttp_connection_incoming_fail
   * on EOF); a request still attached is freed by libevent after this
   * callback. */
  if (r->creq && !evhttp_request_get_connection(r->creq)) evhttp_request_free(r->creq);
  r->creq = NULL;
  r->cconn = NULL;
  client_gone_cleanup(r);
}

/* A client that leaves while its answer is generated is not reported by
 * libevent 2.1 until the router writes to it. Until the answer starts, the
 * client socket is watched for end of file; on EOF the router answers (to
 * nobody: libevent then frees the request) and cuts the upstream request. */
static void on_client_readable(evutil_socket_t fd, short ev, void *arg) {
  (void)ev;
  preq *r = arg;
  char c;
  const ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  gw_cwatch_stop(r);
  if (n > 0 || !r->creq) return; /* a pipelined request: stop watching, nothing lost */
  gw *g = r->g;
  g->client_gone++;
  struct evhttp_request *creq = r->creq;
  gw_client_detach(r);
  evhttp_send_error(creq, 499, "client closed request");
  client_gone_cleanup(r);
}

static void cwatch_start(preq *r) {
  struct bufferevent *bev = r->cconn ? evhttp_connection_get_bufferevent(r->cconn) : NULL;
  const evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
  if (fd < 0) return;
  r->cwatch = event_new(r->g->base, fd, EV_READ | EV_PERSIST, on_client_readable, r);
  if (r->cwatch && event_add(r->cwatch, NULL) != 0) gw_cwatch_stop(r);
}

/* Leaves out the nodes whose known body limit (config max_body_bytes or
 * their /v1/node report) is below this body: they would answer 413 and
 * close while the body is still being sent. Returns the largest limit when
 * no node is left, 0 otherwise. */
static uint64_t exclude_small_nodes(preq *r) {
  gw *g = r->g;
  uint64_t largest = 0;
  for (size_t i = 0; i < g->n_nodes; i++) {
    node *n = g->nodes[i];
    if (n->removed) continue;
    if (!n->max_body || r->raw_len <= n->max_body) return 0;
    if (n->max_body > largest) largest = n->max_body;
    if (!r->excluded) r->excluded = calloc(g->cap_nodes, sizeof *r->excluded);
    if (r->excluded) r->excluded[i] = true;
  }
  return largest;
}

/* The routing headers: policy override and SLO. Sends a 400 and returns -1 on a bad one. */
static int read_route_headers(preq *r, struct evhttp_request *req, const struct evkeyvalq *ih) {
  gw *g = r->g;
  const char *auth = evhttp_find_header(ih, "Authorization"); /* not sent on with router keys */
  if (auth) snprintf(r->auth, sizeof r->auth, "%s", auth);
  const char *ph = evhttp_find_header(ih, ECO_HDR_POLICY);
  if (ph && eco_policy_parse(ph, &r->pol.kind) != 0) {
    gw_send_error(g, req, 400, "invalid_request_error", ECO_HDR_POLICY,
                  "unknown policy (round-robin, greedy, carbon, latency, slo-carbon)");
    return -1;
  }
  const char *sh = evhttp_find_header(ih, ECO_HDR_SLO_MS);
  if (sh) {
    char *e;
    double ms = strtod(sh, &e);
    if (e == sh || *e || !(ms > 0) || !isfinite(ms)) {
      gw_send_error(g, req, 400, "invalid_request_error", ECO_HDR_SLO_MS,
                    ECO_HDR_SLO_MS " must be a positive number of milliseconds");
      return -1;
    }
    r->rr.slo_s = ms / 1e3;
  }
  return 0;
}

/* The request body: a JSON object within MAX_BODY; what routing needs from it (stream,
 * prompt and output token estimates). Sends the error and returns -1 when it is bad. */
static int read_body(preq *r, struct evhttp_request *req) {
  gw *g = r->g;
  struct evbuffer *in = evhttp_request_get_input_buffer(req);
  size_t len = evbuffer_get_length(in);
  if (len > MAX_BODY) {
    gw_send_error_code(g, req, 413, "invalid_request_error", NULL, "request_too_large",
                       "request body too large");
    return -1;
  }
  r->raw = malloc(len + 1);
  if (!r->raw) {
    gw_send_error(g, req, 500, "server_error", NULL, "out of memory");
    return -1;
  }
  evbuffer_copyout(in, r->raw, len);
  r->raw[len] = '\0';
  r->raw_len = len;
  json_error_t je;
  r->body = json_loadb(r->raw, len, JSON_REJECT_DUPLICATES, &je);
  if (!json_is_object(r->body)) {
    char msg[256];
    snprintf(msg, sizeof msg, "request body is not a JSON object: %s", je.text);
    gw_send_error_code(g, req, 400, "invalid_request_error", NULL, "invalid_json", msg);
    return -1;
  }
  r->stream = json_is_true(json_object_get(r->body, "stream"));
  r->rr.prompt_tokens = eco_router_estimate_prompt_tokens(r->body);
  json_t *mt = json_object_get(r->body, "max_tokens");
  if (!mt) mt = json_object_get(r->body, "max_completion_tokens");
  if (json_is_integer(mt) && json_integer_value(mt) > 0)
    r->rr.max_tokens =
        (uint32_t)(json_integer_value(mt) > UINT32_MAX ? UINT32_MAX : json_integer_value(mt));
  return 0;
}

/* A new proxied request: its record, or NULL after a 500. */
static preq *preq_new(gw *g, struct evhttp_request *req, const char *path, bool models) {
  preq *r = calloc(1, sizeof *r);
  if (!r) {
    gw_send_error(g, req, 500, "server_error", NULL, "out of memory");
    return NULL;
  }
  r->g = g;
  r->t0_ns = eco_time_mono_ns();
  r->models = models;
  snprintf(r->path, sizeof r->path, "%s", path);
  r->pol = g->policy;
  r->pol.default_slo_s = g->cfg.default_slo_s;
  r->ubody = evbuffer_new();
  r->sse = evbuffer_new();
  if (!r->ubody || !r->sse) {
    gw_send_error(g, req, 500, "server_error", NULL, "out of memory");
    gw_preq_free(r);
    return NULL;
  }
  return r;
}

void gw_handle_proxy(gw *g, struct evhttp_request *req, const char *path, bool models) {
  preq *r = preq_new(g, req, path, models);
  if (!r) return;
  const struct evkeyvalq *ih = evhttp_request_get_input_headers(req);
  if (read_route_headers(r, req, ih) || (!models && read_body(r, req))) {
    gw_preq_free(r);
    return;
  }
  if (models) { /* /v1/models: any node will do, in turn. */
    r->pol.kind = ECO_POLICY_ROUND_ROBIN;
    r->pol.rr_cursor = g->models_rr++;
  }
  uint64_t limit = models ? 0 : exclude_small_nodes(r);
  if (limit) { /* a client error: no node tried, none marked as failing */
    char msg[160];
    snprintf(msg, sizeof msg, "request body of %zu bytes is over every node's limit (%llu bytes)",
             r->raw_len, (unsigned long long)limit);
    gw_send_error_code(g, req, 413, "invalid_request_error", NULL, "request_too_large", msg);
    gw_preq_free(r);
    return;
  }
  gw_directive_decide(r, ih);
  r->creq = req;
  r->cconn = evhttp_request_get_connection(req);
  evhttp_connection_set_closecb(r->cconn, on_client_close, r);
  cwatch_start(r);
  if (gw_choose_and_dispatch(r) != 0) {
    gw_client_detach(r);
    g->no_node++;
    gw_send_error(g, req, 503, "unavailable", NULL, "no healthy node can take the request");
    gw_preq_free(r);
  }
}
