/* ecoinfer test helpers for the router's tests: fake OpenAI-compatible
 * backends on loopback (on tests/helpers/httpd.h), the router running in a
 * thread from a YAML text, an HTTP client that keeps headers, and a cmocka
 * fixture (setup and teardown) that owns them, so that a test that fails
 * halfway still stops its router and backends.
 *
 *   static void test_x(void **state) {
 *     eco_test_cluster *cl = *state; // backends A, B, C running
 *     char *y = eco_test_cluster_yaml(cl->b, 3, NULL);
 *     eco_test_router_start(&cl->rt, y);
 *     ...
 *   }
 *   cmocka_unit_test_setup_teardown(test_x, eco_test_cluster_setup, eco_test_cluster_teardown)
 */
#ifndef ECO_TEST_ROUTER_FIXTURE_H
#define ECO_TEST_ROUTER_FIXTURE_H

#include "httpd.h"

#include "router/router.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/* ---- a fake backend ---------------------------------------------------------- */

/* Answers POST /v1/chat/completions and /v1/completions like an OpenAI
 * server (JSON, or an SSE stream when the body asks for one), GET /health
 * and GET /v1/models. The fields after h script it; set them at any time. */
typedef struct eco_test_backend {
  eco_test_httpd *h;
  const char *name; /* node id; non-stream answers say "from NAME", ids "NAME-<n>" */
  int delay_ms;     /* per answer */
  bool with_carbon; /* ecoinfer-like receipts in usage.carbon */
  int fail_status;  /* answer this status instead (0 = normal) */
  bool drop;        /* drop connections */
  bool slow_stream; /* stream 20 events, 100 ms apart (a long generation) */
  unsigned answers; /* non-stream answers so far */
  bool brief;       /* answer a directive briefly: 100 completion tokens at level 0 (none),
                       25 at level 1, 14 at level 2 (header or instruction in the body) */
  char body[1024];
} eco_test_backend;

void eco_test_backend_start(eco_test_backend *b, const char *name);
/* Stops it; a stopped backend is a no-op. */
void eco_test_backend_stop(eco_test_backend *b);

/* ---- the router in a thread ---------------------------------------------------- */

typedef struct eco_test_router {
  eco_router *r;             /* NULL when not running */
  struct eco_ledger *ledger; /* set before start: the router's ledger (the test owns it) */
  pthread_t th;
  char url[64], admin[64]; /* "http://127.0.0.1:PORT" of the public and admin listeners */
} eco_test_router;

/* Loads yaml as a cluster file and runs the router (fails the test on a bad
 * config). ECO_TEST_LOG=1 in the environment shows its debug log. */
void eco_test_router_start(eco_test_router *t, const char *yaml);
/* Stops and frees it; a router not running is a no-op. */
void eco_test_router_stop(eco_test_router *t);

/* ---- an HTTP client ----------------------------------------------------------- */

typedef struct eco_test_resp {
  long code;      /* HTTP status, 0 if none */
  char *body;     /* malloc'd, NUL-terminated (never NULL after eco_test_http) */
  size_t len;     /* body bytes */
  char hdr[4096]; /* the response's header lines */
  size_t hlen;
  int writes; /* body callbacks (a stream arrives in several) */
} eco_test_resp;

/* method NULL: POST with a body, else GET. hdrs: NULL-terminated "Name: value"
 * lines, or NULL. Returns 0 if a response came (any status). 8 s timeout. */
int eco_test_http(const char *method, const char *url, const char *body, const char *const *hdrs,
                  eco_test_resp *out);
/* As eco_test_http with a timeout: 0 a response came, 1 the timeout passed
 * first (a client that gives up), -1 another error. */
int eco_test_http_ms(const char *method, const char *url, const char *body, const char *const *hdrs,
                     long timeout_ms, eco_test_resp *out);
void eco_test_resp_free(eco_test_resp *r);
/* The value of the response header name (case-insensitive) into buf; "" if absent. */
const char *eco_test_resp_header(const eco_test_resp *r, const char *name, char *buf, size_t cap);
/* The value of header name in a request a backend received, into buf; "" if absent. */
const char *eco_test_request_header(const eco_test_request *q, const char *name, char *buf,
                                    size_t cap);

/* ---- requests through the router ---------------------------------------------- */

/* A chat request: ~18 prompt tokens, max_tokens 100. */
extern const char *const eco_test_chat_body;

/* POSTs eco_test_chat_body to the router's /v1/chat/completions with the
 * headers x-ecoinfer-policy and x-ecoinfer-slo-ms (each NULL = not sent);
 * fails the test when no response came. */
void eco_test_chat(const eco_test_router *t, const char *policy, const char *slo_ms,
                   eco_test_resp *out);
/* eco_test_chat, and fails the test unless node want answered (200,
 * x-ecoinfer-node). */
void eco_test_expect_node(const eco_test_router *t, const char *policy, const char *slo_ms,
                          const char *want);
/* An integer field of node id in the router's /admin/nodes, or -1. */
int eco_test_router_node_int(const eco_test_router *t, const char *id, const char *field);

/* ---- a directive model file --------------------------------------------------- */

/* Fits a two-class directive model (groups "trivia" and "math",
 * directive/dmodel.h) on n (<= 60) made-up prompts, the first n/2
 * capital-city questions and the rest arithmetic to show step by step, and
 * saves it at path. preferred(i, trivia) is the level the judge would
 * prefer for prompt i. Fails the test on an error. */
void eco_test_dmodel_write(const char *path, int n, int (*preferred)(int i, bool trivia));

/* ---- a test program's main ------------------------------------------------------ */

/* Runs a router test program's group: libcurl set up around it, and
 * ECO_TEST_FILTER in the environment (a cmocka test filter) honoured:
 *   int main(void) { return ECO_TEST_ROUTER_MAIN("router", tests); } */
#define ECO_TEST_ROUTER_MAIN(name, tests)                                                          \
  eco_test_router_main(name, tests, sizeof(tests) / sizeof((tests)[0]))
struct CMUnitTest;
int eco_test_router_main(const char *name, const struct CMUnitTest *tests, size_t n);

/* ---- the fixture -------------------------------------------------------------- */

#define ECO_TEST_BACKENDS 3

typedef struct eco_test_cluster {
  eco_test_backend b[ECO_TEST_BACKENDS]; /* "A", "B", "C", running */
  eco_test_router rt;                    /* started by the test, stopped by the teardown */
} eco_test_cluster;

/* A cluster file for the first n (<= 4) backends: A fast and dirty (PL), B
 * slow and clean (SE), C in the middle (FR), a fourth as C (DE); health
 * checks every 100 ms, circuit after 2 failures; extra is YAML inserted
 * under router: (indented, or NULL). malloc'd. */
char *eco_test_cluster_yaml(const eco_test_backend *bs, size_t n, const char *extra);

/* Starts cl's router on eco_test_cluster_yaml(cl->b, n, extra); returns it. */
eco_test_router *eco_test_cluster_route(eco_test_cluster *cl, size_t n, const char *extra);

/* cmocka setup: *state = a cluster with backends A, B and C started. */
int eco_test_cluster_setup(void **state);
/* cmocka teardown: stops the router (if running) and the backends. */
int eco_test_cluster_teardown(void **state);

#endif
