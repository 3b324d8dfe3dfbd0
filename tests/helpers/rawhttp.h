/* ecoinfer test helper: raw HTTP/1.1 over a TCP socket, for what an HTTP
 * library will not send (duplicate Content-Length, odd transfer codings, bad
 * chunk sizes, unknown methods, oversized heads), and the hostile cases that
 * node and router must both answer with an OpenAI-style JSON error. */
#ifndef ECO_TEST_RAWHTTP_H
#define ECO_TEST_RAWHTTP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct eco_test_raw {
  int status; /* of the first answer, 0 if none */
  char *data; /* everything read, NUL-terminated, malloc'd */
  size_t len;
  bool closed;   /* the server closed the connection (EOF) */
  double wait_s; /* seconds until EOF or the timeout */
} eco_test_raw;

/* Connects to 127.0.0.1:port, sends req (len bytes; sent in pieces of
 * `piece` bytes with 20 ms between them when piece > 0), then reads until
 * EOF or timeout_ms. Returns 0, -1 when the connection failed. */
int eco_test_raw_send(int port, const char *req, size_t len, size_t piece, int timeout_ms,
                      eco_test_raw *out);
/* As eco_test_raw_send (no pieces), but reads on after a complete answer
 * until the server closes or timeout_ms passes. */
int eco_test_raw_until_close(int port, const char *req, size_t len, int timeout_ms,
                             eco_test_raw *out);
void eco_test_raw_free(eco_test_raw *r);

/* One hostile request and what it must get. */
typedef struct eco_test_hostile_case {
  const char *name;
  char *req; /* malloc'd by eco_test_hostile_cases */
  size_t len;
  int status;       /* expected status */
  const char *code; /* expected "code" of the JSON error */
} eco_test_hostile_case;

/* The cases for a server whose body limit is max_body bytes (node 1 MiB,
 * router 8 MiB), against path (a POST endpoint). *n is set; free with
 * eco_test_hostile_free. */
eco_test_hostile_case *eco_test_hostile_cases(const char *path, size_t max_body, size_t *n);
void eco_test_hostile_free(eco_test_hostile_case *c, size_t n);

/* Checks one answer: status, a JSON body {"error":{...,"code":CODE}} and no
 * HTML; NULL if it passes, else a static description of what failed. */
const char *eco_test_hostile_check(const eco_test_hostile_case *c, const eco_test_raw *r);

/* Sends every case of eco_test_hostile_cases(path, max_body) to the server on
 * 127.0.0.1:port, each on its own connection, and fails the running cmocka
 * test (naming what, the case and the answer) at the first wrong answer. */
void eco_test_hostile_expect(int port, const char *path, size_t max_body, const char *what);

#endif
