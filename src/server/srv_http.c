/* ecoinfer node server: the HTTP front, listeners, replies and API keys
 * (see srv_internal.h). */
#include "server/srv_internal.h"

#include "accounting/wire.h"
#include "util/timeutil.h"

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

void srv_add_header(struct evhttp_request *r, const char *k, const char *v) {
  evhttp_add_header(evhttp_request_get_output_headers(r), k, v);
}

void srv_reply_text(eco_server *s, struct evhttp_request *r, const char *endpoint, int status,
                    const char *ctype, const char *body, size_t len) {
  struct evbuffer *b = evbuffer_new();
  if (b && body) evbuffer_add(b, body, len);
  srv_add_header(r, "Content-Type", ctype);
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

void srv_reply_json(eco_server *s, struct evhttp_request *r, const char *endpoint, int status,
                    json_t *o) {
  char *t = o ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  if (!t) {
    static const char oom[] = ECO_WIRE_ERROR_OOM;
    srv_reply_text(s, r, endpoint, 500, "application/json", oom, sizeof oom - 1);
    return;
  }
  srv_reply_text(s, r, endpoint, status, "application/json", t, strlen(t));
  free(t);
}

void srv_reply_error(eco_server *s, struct evhttp_request *r, const char *endpoint,
                     const eco_oai_error *e) {
  char *t = eco_oai_error_json(e);
  if (e->status == 429 || e->status == 503) {
    char ra[16];
    snprintf(ra, sizeof ra, "%d", s->cfg.retry_after_s);
    srv_add_header(r, "Retry-After", ra);
  }
  srv_reply_text(s, r, endpoint, e->status, "application/json", t ? t : "{}", t ? strlen(t) : 2);
  free(t);
}

/* The key check (util/auth.h: SHA-256 digests compared with CRYPTO_memcmp
 * against every key). The dashboard also takes ?key=, which its page passes
 * on (a browser's EventSource cannot send headers). */
bool srv_authorized(eco_server *s, struct evhttp_request *r, const char *endpoint) {
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
  srv_add_header(r, "WWW-Authenticate", "Bearer");
  srv_reply_error(s, r, endpoint, &e);
  return false;
}

bool srv_dash_auth(struct evhttp_request *r, void *arg) {
  return srv_authorized(arg, r, "/dashboard");
}

int srv_keys_set(eco_server *s, eco_error *err) {
  for (size_t i = 0; i < s->cfg.n_api_keys; i++)
    if (eco_auth_add(&s->auth, s->cfg.api_keys[i], NULL, 0, 0) != 0)
      return eco_error_set(err, ECO_EINVAL, "API key %zu is empty", i);
  s->cfg.api_keys = NULL; /* the caller's strings; the digests are kept */
  s->cfg.n_api_keys = 0;
  return 0;
}

int srv_bind(struct evhttp *h, const char *host, int port, struct evhttp_bound_socket **bs,
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
  srv_reply_error(arg, r, "other", &e);
}

struct evhttp *srv_make_http(eco_server *s, void (*cb)(struct evhttp_request *, void *),
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
