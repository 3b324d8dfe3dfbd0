/* ecoinfer test helper: a real HTTP/1.1 server on 127.0.0.1, on an
 * ephemeral port, in its own thread (libevent evhttp), that a test scripts:
 * for each method + path it answers with a canned status, headers and body,
 * after an optional delay, as a chunked stream, or by dropping the
 * connection. A handler callback covers dynamic answers. It records every
 * request so tests can assert what a client sent. */
#ifndef ECO_TEST_HTTPD_H
#define ECO_TEST_HTTPD_H

#include <stdbool.h>
#include <stddef.h>

typedef struct eco_test_httpd eco_test_httpd;

typedef struct eco_test_request {
  char method[16];
  char path[512];   /* without the query */
  char query[1024]; /* after '?', "" if none */
  char *headers;    /* "Name: value\n" lines */
  char *body;       /* NUL-terminated */
  size_t body_len;
} eco_test_request;

typedef struct eco_test_response {
  int status;                /* e.g. 200; 0 = drop the connection, no answer */
  const char *content_type;  /* default application/json */
  const char *headers;       /* extra "Name: value\n" lines, or NULL */
  const char *body;          /* or NULL */
  int delay_ms;              /* wait before answering (timeouts) */
  const char *const *chunks; /* if set: chunked stream of these pieces */
  size_t n_chunks;
  int chunk_delay_ms; /* between chunks */
} eco_test_response;

/* Dynamic handler, called on the server thread. Fill *resp; pointers in it
 * must stay valid until the response is sent (use static or user data). */
typedef void (*eco_test_handler)(const eco_test_request *req, eco_test_response *resp, void *user);

int eco_test_httpd_start(eco_test_httpd **out);
/* Listens on ip:port instead (port 0 = any): servers on 127.0.0.2 and
 * 127.0.0.3 with one port stand for the nodes behind a DNS name. */
int eco_test_httpd_start_at(const char *ip, int port, eco_test_httpd **out);
void eco_test_httpd_stop(eco_test_httpd *h);
int eco_test_httpd_port(const eco_test_httpd *h);
/* "http://IP:PORT" */
const char *eco_test_httpd_url(const eco_test_httpd *h);

/* Scripts method+path (method NULL = any). Replaces an earlier script for
 * the same pair. Strings are copied. Unscripted paths answer 404. */
int eco_test_httpd_on(eco_test_httpd *h, const char *method, const char *path,
                      const eco_test_response *resp);
int eco_test_httpd_handler(eco_test_httpd *h, const char *method, const char *path,
                           eco_test_handler fn, void *user);

/* Number of requests received for path (NULL = all). */
size_t eco_test_httpd_count(eco_test_httpd *h, const char *path);
/* Answers (delayed or streamed) to path (NULL = any) abandoned because the
 * client closed the connection before they were complete. */
size_t eco_test_httpd_cut_short(eco_test_httpd *h, const char *path);
/* Copy of the last request for path (NULL = any); free with
 * eco_test_request_free. Returns 0, or -1 if none. */
int eco_test_httpd_last(eco_test_httpd *h, const char *path, eco_test_request *out);
void eco_test_request_free(eco_test_request *r);

#endif
