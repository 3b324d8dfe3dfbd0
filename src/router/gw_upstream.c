/* ecoinfer router: upstream attempts: pooled connections, dispatch,
 * streaming pass-through and failover (see gw_internal.h). */
#include "router/gw_internal.h"

#include "accounting/wire.h"
#include "router/sse.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

/* The upstream attempt failed before any output reached the client:
 * retry elsewhere or answer with an error. */
static void attempt_failed(preq *r, const char *why) {
  gw *g = r->g;
  node *n = r->target;
  if (n) {
    ECO_WARN(&g->log, MOD, "node %s failed (%s), attempt %d", n->cfg.id, why, r->attempts);
    gw_node_request_failed(n);
    if (!r->excluded) r->excluded = calloc(g->cap_nodes, sizeof *r->excluded);
    if (r->excluded) r->excluded[n->idx] = true;
    size_t fl = strlen(r->failed);
    if (fl + strlen(n->cfg.id) + 2 < sizeof r->failed)
      snprintf(r->failed + fl, sizeof r->failed - fl, "%s%s", fl ? "," : "", n->cfg.id);
  }
  gw_target_release(r);
  if (r->ubody) evbuffer_drain(r->ubody, evbuffer_get_length(r->ubody));
  if (r->sse) evbuffer_drain(r->sse, evbuffer_get_length(r->sse));
  r->ustatus = 0;
  r->stream_tokens = 0;
  r->tfirst_ns = 0;
  r->have_eusage = false;
  if (!r->creq) {
    gw_preq_free(r);
    return;
  }
  if (r->output_sent) {
    /* Output already went out: end the stream with an error event. */
    struct evbuffer *b = evbuffer_new();
    if (b) {
      evbuffer_add_printf(b,
                          "data: {\"error\":{\"message\":\"upstream node failed mid-stream: "
                          "%s\",\"type\":\"upstream_error\"}}\n\ndata: [DONE]\n\n",
                          why);
      evhttp_send_reply_chunk(r->creq, b);
      evbuffer_free(b);
    }
    g->stream_errors++;
    struct evhttp_request *c = r->creq;
    gw_client_detach(r);
    evhttp_send_reply_end(c);
    gw_preq_free(r);
    return;
  }
  if (r->attempts >= g->cfg.max_attempts) {
    struct evhttp_request *c = r->creq;
    gw_client_detach(r);
    char msg[512];
    snprintf(msg, sizeof msg, "all %d attempts failed (nodes: %s)", r->attempts, r->failed);
    if (r->reply_started) {
      evhttp_send_reply_end(c);
    } else {
      gw_send_error(g, c, 502, "upstream_error", NULL, msg);
    }
    gw_preq_free(r);
    return;
  }
  g->retries++;
  if (gw_choose_and_dispatch(r) != 0) {
    struct evhttp_request *c = r->creq;
    gw_client_detach(r);
    g->no_node++;
    if (r->reply_started)
      evhttp_send_reply_end(c);
    else
      gw_send_error(g, c, 503, "unavailable", NULL, "no healthy node can take the request");
    gw_preq_free(r);
  }
}

static void start_client_stream(preq *r) {
  if (r->reply_started || !r->creq) return;
  struct evkeyvalq *h = evhttp_request_get_output_headers(r->creq);
  evhttp_add_header(h, "Content-Type", r->uctype[0] ? r->uctype : "text/event-stream");
  evhttp_add_header(h, "Cache-Control", "no-cache");
  gw_add_router_headers(r, h);
  gw_cwatch_stop(r); /* from here on libevent notices a client that leaves (writes fail) */
  evhttp_send_reply_start(r->creq, 200, "OK");
  r->reply_started = true;
  gw_count_code(r->g, 200);
}

/* Remembers the response "id" of the first event that has one. */
static void take_id(preq *r, const char *data, size_t dl) {
  json_t *j = json_loadb(data, dl, 0, NULL);
  const char *id = json_string_value(json_object_get(j, "id"));
  if (id) snprintf(r->rid, sizeof r->rid, "%s", id);
  json_decref(j);
}

/* Forwards every complete event in r->sse. */
static void pump_events(preq *r, bool final) {
  struct evbuffer *out = evbuffer_new();
  if (!out) return;
  for (;;) {
    size_t len = evbuffer_get_length(r->sse);
    if (!len) break;
    const char *buf = (const char *)evbuffer_pullup(r->sse, -1);
    size_t el = eco_sse_event_len(buf, len);
    if (!el) {
      if (!final) break;
      el = len; /* trailing bytes without a terminator */
    }
    const char *data = NULL;
    size_t dl = 0;
    eco_sse_kind k = eco_sse_classify(buf, el, &data, &dl);
    if (k == ECO_SSE_DATA) {
      if (!r->tfirst_ns) r->tfirst_ns = eco_time_mono_ns();
      if (!r->rid[0]) take_id(r, data, dl);
      if (eco_sse_has_text(data, dl)) r->stream_tokens++;
      /* llama.cpp's server ends a stream with its timings (with or without usage) */
      if (r->target && r->target->cfg.engine >= ECO_ENGINE_LLAMA_CPP &&
          memmem(data, dl, "\"timings\"", 9)) {
        json_t *tj = json_loadb(data, dl, 0, NULL);
        r->have_eusage = eco_engine_usage_from_json(tj, &r->eusage) > 0 || r->have_eusage;
        json_decref(tj);
      }
      if (eco_sse_has_usage(data, dl)) {
        json_t *j = json_loadb(data, dl, 0, NULL);
        json_t *u = j ? json_object_get(j, "usage") : NULL;
        if (json_is_object(u)) {
          r->saw_usage = true;
          gw_finish_accounting(r, u, j, eco_time_mono_ns());
          char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(10));
          if (s) {
            evbuffer_add_printf(out, "data: %s\n\n", s);
            free(s);
            json_decref(j);
            evbuffer_drain(r->sse, el);
            continue;
          }
        }
        json_decref(j);
      }
    }
    evbuffer_remove_buffer(r->sse, out, el);
  }
  if (evbuffer_get_length(out) && r->creq) {
    start_client_stream(r);
    r->output_sent = true;
    evhttp_send_reply_chunk(r->creq, out);
  }
  evbuffer_free(out);
}

static bool retryable(int code) { return code == 0 || code == 429 || code >= 500; }

static int on_up_header(struct evhttp_request *req, void *arg) {
  preq *r = arg;
  r->ustatus = evhttp_request_get_response_code(req);
  const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
  snprintf(r->uctype, sizeof r->uctype, "%s", ct ? ct : "");
  return 0;
}

static void on_up_chunk(struct evhttp_request *req, void *arg) {
  preq *r = arg;
  struct evbuffer *in = evhttp_request_get_input_buffer(req);
  if (r->ustatus == 200 && r->stream && strncmp(r->uctype, "text/event-stream", 17) == 0) {
    evbuffer_add_buffer(r->sse, in);
    pump_events(r, false);
  } else {
    if (evbuffer_get_length(r->ubody) + evbuffer_get_length(in) > MAX_BODY) {
      evbuffer_drain(in, evbuffer_get_length(in));
      return;
    }
    evbuffer_add_buffer(r->ubody, in);
  }
}

static void on_up_error(enum evhttp_request_error e, void *arg) {
  (void)e;
  (void)arg;
}

static void pool_put(node *n, struct evhttp_connection *c) {
  if (n->n_idle < POOL_MAX)
    n->idle[n->n_idle++] = c;
  else
    gw_conn_free_later(n->g, c);
}

/* A buffered answer (non-stream, or a stream request answered with JSON) to the client,
 * with its usage accounted and the router's receipt in it; ends the request. */
static void reply_buffered(preq *r, struct evhttp_request *req, int code, uint64_t tend) {
  gw *g = r->g;
  size_t len = evbuffer_get_length(r->ubody);
  const char *body = len ? (const char *)evbuffer_pullup(r->ubody, -1) : "";
  struct evhttp_request *c = r->creq;
  struct evkeyvalq *h = evhttp_request_get_output_headers(c);
  const struct evkeyvalq *uh = evhttp_request_get_input_headers(req);
  for (const struct evkeyval *kv = uh->tqh_first; kv; kv = kv->next.tqe_next)
    if (strncasecmp(kv->key, ECO_HDR_PREFIX, strlen(ECO_HDR_PREFIX)) == 0)
      evhttp_add_header(h, kv->key, kv->value);
  evhttp_add_header(h, "Content-Type", r->uctype[0] ? r->uctype : "application/json");
  gw_add_router_headers(r, h);
  struct evbuffer *ob = evbuffer_new();
  json_t *j = NULL;
  if (code == 200 && !r->models && r->ustatus == 200) j = json_loadb(body, len, 0, NULL);
  json_t *u = j ? json_object_get(j, "usage") : NULL;
  const char *rid = json_string_value(json_object_get(j, "id"));
  if (!rid) rid = evhttp_find_header(uh, ECO_HDR_REQUEST_ID);
  if (rid) snprintf(r->rid, sizeof r->rid, "%s", rid);
  if (json_is_object(u)) {
    gw_finish_accounting(r, u, j, tend);
    char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(10));
    if (s && ob) evbuffer_add(ob, s, strlen(s));
    free(s);
  } else {
    if (code == 200 && !r->models) gw_finish_accounting(r, NULL, j, tend);
    if (ob) evbuffer_add(ob, body, len);
  }
  json_decref(j);
  gw_client_detach(r);
  evhttp_send_reply(c, code, "OK", ob);
  gw_count_code(g, code);
  if (ob) evbuffer_free(ob);
  gw_target_release(r);
  gw_preq_free(r);
}

static void on_up_done(struct evhttp_request *req, void *arg) {
  preq *r = arg;
  gw *g = r->g;
  struct evhttp_connection *uc = r->uconn;
  r->ureq = NULL;
  r->uconn = NULL;
  int code = req ? evhttp_request_get_response_code(req) : 0;
  if (req && code > 0) r->ustatus = code;
  node *n = r->target;
  if (r->abandoned) { /* the client left and we cut the upstream: no retry, no reuse */
    gw_conn_free_later(g, uc);
    gw_target_release(r);
    gw_preq_free(r);
    return;
  }
  if (!req || code == 0) {
    gw_conn_free_later(g, uc);
    attempt_failed(r, "connection error");
    return;
  }
  /* Whatever the chunk callback left (non-chunked bodies arrive here). */
  struct evbuffer *in = evhttp_request_get_input_buffer(req);
  if (evbuffer_get_length(in)) on_up_chunk(req, r);
  if (n)
    pool_put(n, uc);
  else
    gw_conn_free_later(g, uc);
  if (retryable(code) && !r->output_sent) {
    char why[32];
    snprintf(why, sizeof why, "HTTP %d", code);
    attempt_failed(r, why);
    return;
  }
  if (n) gw_node_request_ok(n);
  if (!r->creq) {
    gw_target_release(r);
    gw_preq_free(r);
    return;
  }
  uint64_t tend = eco_time_mono_ns();
  if (r->reply_started) {
    pump_events(r, true);
    if (!r->saw_usage) gw_finish_accounting(r, NULL, NULL, tend);
    struct evhttp_request *c = r->creq;
    gw_client_detach(r);
    evhttp_send_reply_end(c);
    gw_target_release(r);
    gw_preq_free(r);
    return;
  }
  reply_buffered(r, req, code, tend);
}

static struct evhttp_connection *pool_get(node *n) {
  gw *g = n->g;
  if (n->n_idle) return n->idle[--n->n_idle];
  struct evhttp_connection *c =
      evhttp_connection_base_new(g->base, g->dns, n->host, (unsigned short)n->port);
  if (!c) return NULL;
  struct timeval tv = {(time_t)g->cfg.timeout_s,
                       (suseconds_t)((g->cfg.timeout_s - floor(g->cfg.timeout_s)) * 1e6)};
  evhttp_connection_set_timeout_tv(c, &tv);
  evhttp_connection_set_retries(c, 0);
  return c;
}

/* Forwards the level: a header for ecoinfer nodes, the instruction in the
 * body for foreign backends (built once, on first need). */
static void directive_forward(preq *r, struct evkeyvalq *h, const char **raw, size_t *raw_len) {
  if (r->dlevel < 0) return;
  if (r->target->cfg.ecoinfer) {
    char v[16];
    snprintf(v, sizeof v, "%d", r->dlevel);
    evhttp_add_header(h, ECO_HDR_DIRECTIVE_LEVEL, v);
    if (r->dopt_out) evhttp_add_header(h, ECO_HDR_DIRECTIVE, "off");
    return;
  }
  eco_error err = {0};
  if (!r->draw && r->dlevel > 0 &&
      eco_rdir_rewrite_body(&r->g->dir.cfg, r->dlevel, r->body, &r->draw, &r->draw_len, &err))
    ECO_WARN(&r->g->log, MOD, "directive: %s (forwarded unchanged)", eco_error_text(&err));
  if (r->draw) {
    *raw = r->draw;
    *raw_len = r->draw_len;
  }
}

/* Sends r to r->target now. */
void gw_dispatch(preq *r) {
  gw *g = r->g;
  node *n = r->target;
  r->attempts++;
  n->routed++;
  /* an Ollama node with no model in memory loads it now */
  r->cold = n->cfg.engine == ECO_ENGINE_OLLAMA && n->eload_s > 0 && n->eload.models_loaded == 0;
  if (r->cold) n->eload.models_loaded = -1;
  r->tdisp_ns = eco_time_mono_ns();
  struct evhttp_connection *c = pool_get(n);
  struct evhttp_request *u = c ? evhttp_request_new(on_up_done, r) : NULL;
  if (!u) {
    if (c) pool_put(n, c);
    attempt_failed(r, "out of memory");
    return;
  }
  evhttp_request_set_header_cb(u, on_up_header);
  evhttp_request_set_chunked_cb(u, on_up_chunk);
  evhttp_request_set_error_cb(u, on_up_error);
  struct evkeyvalq *h = evhttp_request_get_output_headers(u);
  char hostport[160];
  snprintf(hostport, sizeof hostport, "%s:%d", n->host, n->port);
  evhttp_add_header(h, "Host", hostport);
  if (n->cfg.api_key[0])
    gw_upstream_auth(n, h);
  else if (r->auth[0] && !eco_auth_on(&r->g->auth)) /* the router's own keys stay here */
    evhttp_add_header(h, "Authorization", r->auth);
  if (!r->models) {
    evhttp_add_header(h, "Content-Type", "application/json");
    const char *raw = r->raw;
    size_t raw_len = r->raw_len;
    directive_forward(r, h, &raw, &raw_len);
    evbuffer_add(evhttp_request_get_output_buffer(u), raw, raw_len);
  }
  r->uconn = c;
  r->ureq = u;
  if (evhttp_make_request(c, u, r->models ? EVHTTP_REQ_GET : EVHTTP_REQ_POST, r->path) != 0) {
    /* libevent freed u */
    r->ureq = NULL;
    r->uconn = NULL;
    gw_conn_free_later(g, c);
    attempt_failed(r, "cannot send");
  }
}

/* Shuts the upstream socket down when an attempt is in flight: the node
 * sees its client leave and cancels the generation (an ecoinfer node frees
 * the batch slot at once), and libevent fails the request through its usual
 * path, which frees it and calls on_up_done, where the abandoned request is
 * freed. (evhttp_cancel_request, or freeing the connection, leaked a
 * libevent request object under ASan with libevent 2.1.12.) */
void gw_upstream_abandon(preq *r) {
  if (!r->ureq || !r->uconn || r->abandoned) return;
  struct bufferevent *bev = evhttp_connection_get_bufferevent(r->uconn);
  const evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
  if (fd < 0) return;
  r->abandoned = true;
  r->g->upstream_cancelled++;
  shutdown(fd, SHUT_RDWR);
}
