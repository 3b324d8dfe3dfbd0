/* ecoinfer util: the HTTP front that node and router servers put before
 * libevent's evhttp. It reads every byte a client sends before evhttp does
 * and enforces RFC 9112 framing, so that evhttp never answers with its own
 * HTML error pages and never parses a request two ways:
 *   - one request line METHOD SP TARGET SP HTTP/1.x; methods outside the
 *     served set get 501, other versions 505, garbage 400;
 *   - header lines `name: value` (no obs-fold, no space before the colon,
 *     no control characters); request line and headers together at most
 *     max_header_bytes (431);
 *   - Content-Length: digits only, all copies equal (else 400); more than
 *     max_body_bytes: 413, after which the declared body is read and
 *     discarded so the client reads the answer instead of a reset;
 *   - Transfer-Encoding: only plain `chunked` (other codings 501, chunked not
 *     last 400, with Content-Length or in HTTP/1.0 400); chunk sizes are
 *     1 to 15 hex digits without extensions (else 400), their sum at most
 *     max_body_bytes (413).
 * A rejected request reaches the server's own error function (the same JSON
 * error body and metrics as every other answer) in order after the answers
 * before it on the connection; the connection closes after that answer.
 * The front keeps one small state per file descriptor. Everything runs on the
 * evhttp's event loop thread. */
#ifndef ECO_UTIL_HTTP_FRONT_H
#define ECO_UTIL_HTTP_FRONT_H

#include <event2/event.h>
#include <event2/http.h>
#include <stddef.h>

typedef struct eco_http_front eco_http_front;

/* Answers a request the front refused: status (400, 413, 431, 501, 505),
 * an OpenAI-style error code ("invalid_request", "request_too_large", ...)
 * and a message for the client. */
typedef void (*eco_http_front_error_fn)(struct evhttp_request *req, int status, const char *code,
                                        const char *message, void *arg);

typedef struct eco_http_front_cfg {
  size_t max_body_bytes;   /* bytes; also set on the evhttp */
  size_t max_header_bytes; /* bytes: request line and header lines; also set on the evhttp */
  int methods;             /* EVHTTP_REQ_* served; others are answered 501 */
  double timeout_s;        /* idle and half-sent connections close after this, s (<= 0: 120) */
  eco_http_front_error_fn on_error;
  void (*gencb)(struct evhttp_request *req, void *arg); /* the server's generic callback */
  void *arg;                                            /* for on_error and gencb */
} eco_http_front_cfg;

/* Installs the front on h (connection factory, limits, allowed methods,
 * timeout, generic callback). Free it after evhttp_free(h). */
int eco_http_front_attach(struct evhttp *h, const eco_http_front_cfg *cfg, eco_http_front **out);
void eco_http_front_free(eco_http_front *f);

#endif
