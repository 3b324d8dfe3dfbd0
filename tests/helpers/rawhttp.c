/* ecoinfer test helper: raw HTTP over TCP and the hostile request cases
 * (see rawhttp.h). */
#include "rawhttp.h"

#include "testutil.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A complete first answer: head and Content-Length body. */
static bool answer_complete(const char *d, size_t len) {
  const char *he = strstr(d, "\r\n\r\n");
  if (!he) return false;
  const char *cl = strcasestr(d, "\r\nContent-Length:");
  if (!cl || cl > he) return false;
  size_t want = (size_t)strtoul(cl + 17, NULL, 10);
  return len >= (size_t)(he + 4 - d) + want;
}

static int raw_send(int port, const char *req, size_t len, size_t piece, int timeout_ms,
                    bool until_close, eco_test_raw *out) {
  memset(out, 0, sizeof *out);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  double t0 = now_s();
  for (size_t off = 0; off < len;) {
    size_t n = piece ? (len - off < piece ? len - off : piece) : len - off;
    ssize_t w = send(fd, req + off, n, MSG_NOSIGNAL);
    if (w <= 0) break; /* the server may close early: read what it said */
    off += (size_t)w;
    if (piece && off < len) usleep(20000);
  }
  size_t cap = 4096;
  out->data = malloc(cap);
  double done_at = -1;
  for (;;) {
    double left_ms = timeout_ms - (now_s() - t0) * 1e3;
    if (done_at > 0) left_ms = 300 - (now_s() - done_at) * 1e3; /* a close soon after? */
    if (left_ms <= 0) break;
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, (int)left_ms) <= 0) break;
    if (out->len + 2048 > cap) out->data = realloc(out->data, cap *= 2);
    ssize_t r = recv(fd, out->data + out->len, cap - out->len - 1, 0);
    if (r <= 0) {
      out->closed = true;
      break;
    }
    out->len += (size_t)r;
    out->data[out->len] = '\0';
    if (!until_close && done_at < 0 && answer_complete(out->data, out->len)) done_at = now_s();
  }
  out->data[out->len] = '\0';
  out->wait_s = now_s() - t0;
  close(fd);
  if (out->len > 12 && strncmp(out->data, "HTTP/1.", 7) == 0) out->status = atoi(out->data + 9);
  return 0;
}

int eco_test_raw_send(int port, const char *req, size_t len, size_t piece, int timeout_ms,
                      eco_test_raw *out) {
  return raw_send(port, req, len, piece, timeout_ms, false, out);
}

int eco_test_raw_until_close(int port, const char *req, size_t len, int timeout_ms,
                             eco_test_raw *out) {
  return raw_send(port, req, len, 0, timeout_ms, true, out);
}

void eco_test_raw_free(eco_test_raw *r) {
  free(r->data);
  r->data = NULL;
}

static void add(eco_test_hostile_case *c, size_t *n, const char *name, int status, const char *code,
                const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void add(eco_test_hostile_case *c, size_t *n, const char *name, int status, const char *code,
                const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = NULL;
  int len = vasprintf(&s, fmt, ap);
  va_end(ap);
  c[*n] = (eco_test_hostile_case){name, s, len > 0 ? (size_t)len : 0, status, code};
  (*n)++;
}

eco_test_hostile_case *eco_test_hostile_cases(const char *path, size_t max_body, size_t *n) {
  eco_test_hostile_case *c = calloc(40, sizeof *c);
  *n = 0;
  const char *p = path;
#define POST "POST %s HTTP/1.1\r\nHost: t\r\n"
  add(c, n, "two different Content-Length", 400, "invalid_content_length",
      POST "Content-Length: 2\r\nContent-Length: 12\r\n\r\n{}", p);
  add(c, n, "Content-Length list", 400, "invalid_content_length",
      POST "Content-Length: 2, 2\r\n\r\n{}", p);
  add(c, n, "Content-Length with a sign", 400, "invalid_content_length",
      POST "Content-Length: +2\r\n\r\n{}", p);
  add(c, n, "Transfer-Encoding: gzip, chunked", 501, "unsupported_transfer_encoding",
      POST "Transfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", p);
  add(c, n, "Transfer-Encoding: chunked, gzip", 400, "invalid_transfer_encoding",
      POST "Transfer-Encoding: chunked, gzip\r\n\r\n2\r\n{}\r\n0\r\n\r\n", p);
  add(c, n, "Transfer-Encoding: identity", 400, "invalid_transfer_encoding",
      POST "Transfer-Encoding: identity\r\n\r\n{}", p);
  add(c, n, "Transfer-Encoding with Content-Length", 400, "invalid_transfer_encoding",
      POST "Content-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", p);
  add(c, n, "Transfer-Encoding in HTTP/1.0", 400, "invalid_transfer_encoding",
      "POST %s HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", p);
  add(c, n, "chunk size not hex", 400, "invalid_chunk",
      POST "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", p);
  add(c, n, "negative chunk size", 400, "invalid_chunk",
      POST "Transfer-Encoding: chunked\r\n\r\n-2\r\n{}\r\n0\r\n\r\n", p);
  add(c, n, "chunk size overflow", 400, "invalid_chunk",
      POST "Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n{}\r\n0\r\n\r\n", p);
  add(c, n, "empty chunk size", 400, "invalid_chunk",
      POST "Transfer-Encoding: chunked\r\n\r\n\r\n{}\r\n0\r\n\r\n", p);
  add(c, n, "chunk extension", 400, "invalid_chunk",
      POST "Transfer-Encoding: chunked\r\n\r\n2;x=y\r\n{}\r\n0\r\n\r\n", p);
  add(c, n, "chunk data longer than its size", 400, "invalid_chunk",
      POST "Transfer-Encoding: chunked\r\n\r\n1\r\n{}\r\n0\r\n\r\n", p);
  add(c, n, "second chunk size bad", 400, "invalid_chunk",
      POST "Transfer-Encoding: chunked\r\n\r\n1\r\n{\r\n1x\r\n}\r\n0\r\n\r\n", p);
  add(c, n, "chunks over the body limit", 413, "request_too_large",
      POST "Transfer-Encoding: chunked\r\n\r\n%zx\r\n{}", p, max_body + 1);
  add(c, n, "Content-Length over the body limit", 413, "request_too_large",
      POST "Content-Length: %zu\r\n\r\n{}", p, max_body + 1);
  add(c, n, "unknown method", 501, "method_not_supported", "BREW %s HTTP/1.1\r\nHost: t\r\n\r\n",
      p);
  add(c, n, "method not served", 501, "method_not_supported",
      "TRACE %s HTTP/1.1\r\nHost: t\r\n\r\n", p);
  add(c, n, "bad request line", 400, "invalid_request_line", "GARBAGE\r\n\r\n");
  add(c, n, "two spaces in the request line", 400, "invalid_request_line",
      "GET  /health HTTP/1.1\r\nHost: t\r\n\r\n");
  add(c, n, "CR inside the request line", 400, "invalid_request_line",
      "GET /hea\rlth HTTP/1.1\r\nHost: t\r\n\r\n");
  add(c, n, "HTTP/2.0 request line", 505, "http_version_not_supported",
      "GET /health HTTP/2.0\r\nHost: t\r\n\r\n");
  add(c, n, "header line without a colon", 400, "invalid_header",
      "GET /health HTTP/1.1\r\nHost: t\r\nNoColonHere\r\n\r\n");
  add(c, n, "space before the colon", 400, "invalid_header",
      "GET /health HTTP/1.1\r\nHost : t\r\n\r\n");
  add(c, n, "obs-fold", 400, "invalid_header",
      "GET /health HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n  folded\r\n\r\n");
  add(c, n, "control character in a value", 400, "invalid_header",
      "GET /health HTTP/1.1\r\nHost: t\r\nX-A: a\x01z\r\n\r\n");
  add(c, n, "two Host headers", 400, "invalid_header",
      "GET /health HTTP/1.1\r\nHost: t\r\nHost: u\r\n\r\n");
  add(c, n, "HEAD with a body", 400, "invalid_request",
      "HEAD /health HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}");
  /* 70 KiB of headers: over the node's 16 KiB and the router's 64 KiB */
  char *big = malloc(70 * 1024 + 1);
  memset(big, 'a', 70 * 1024);
  big[70 * 1024] = '\0';
  add(c, n, "oversized headers", 431, "headers_too_large",
      "GET /health HTTP/1.1\r\nHost: t\r\nX-Big: %s\r\n\r\n", big);
  free(big);
  add(c, n, "oversized request line", 431, "headers_too_large", "GET /%070000d HTTP/1.1\r\n\r\n",
      0);
#undef POST
  return c;
}

void eco_test_hostile_free(eco_test_hostile_case *c, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(c[i].req);
  free(c);
}

const char *eco_test_hostile_check(const eco_test_hostile_case *c, const eco_test_raw *r) {
  if (r->status != c->status) return "wrong status";
  if (strcasestr(r->data, "<html")) return "HTML body";
  if (!strcasestr(r->data, "\r\nContent-Type: application/json")) return "not JSON";
  const char *b = strstr(r->data, "\r\n\r\n");
  json_t *j = b ? json_loads(b + 4, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
  const char *code = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
  const char *type = json_string_value(json_object_get(json_object_get(j, "error"), "type"));
  const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
  const char *why = NULL;
  if (!code || strcmp(code, c->code) != 0)
    why = "wrong error code";
  else if (!type || !msg || !msg[0])
    why = "no error type or message";
  json_decref(j);
  return why;
}

void eco_test_hostile_expect(int port, const char *path, size_t max_body, const char *what) {
  size_t n;
  eco_test_hostile_case *c = eco_test_hostile_cases(path, max_body, &n);
  for (size_t i = 0; i < n; i++) {
    eco_test_raw r;
    assert_int_equal(eco_test_raw_send(port, c[i].req, c[i].len, 0, 3000, &r), 0);
    const char *why = eco_test_hostile_check(&c[i], &r);
    if (why)
      fail_msg("%s: %s: %s (want %d %s): %.400s", what, c[i].name, why, c[i].status, c[i].code,
               r.data);
    eco_test_raw_free(&r);
  }
  eco_test_hostile_free(c, n);
}
