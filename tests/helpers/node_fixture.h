/* ecoinfer test helpers for the node server's tests (test_server*.c): the
 * real server on a loopback port over the fake backend, with accounting
 * (zone GB at 200 g/kWh, PUE 1.5, the cpu-time model at 10 W) and a ledger
 * in a temp dir, and a libcurl client that keeps the response's headers.
 *
 *   eco_test_node *f = eco_test_node_start(NULL, NULL);
 *   eco_test_node_resp r;
 *   eco_test_node_post(f, "/v1/chat/completions", eco_test_node_chat_body, &r);
 *   ...
 *   eco_test_node_resp_free(&r);
 *   assert_int_equal(eco_test_node_stop(f), 0);
 */
#ifndef ECO_TEST_NODE_FIXTURE_H
#define ECO_TEST_NODE_FIXTURE_H

#include "server/backend_fake.h"
#include "server/server.h"
#include "util/strbuf.h"

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>

typedef struct eco_test_node {
  eco_backend be;
  eco_server *srv;
  eco_acct_state st;
  eco_accounting acct;
  char base[64], admin[64]; /* "http://127.0.0.1:PORT" of the public and admin listeners */
  int n_receipts;           /* receipts the accounting sink saw (under mu) */
  pthread_mutex_t mu;
  eco_logger lg;
  char *dir; /* holds the ledger */
} eco_test_node;

typedef struct eco_test_node_resp {
  long status; /* HTTP status, -1 when the connection was closed or refused */
  eco_strbuf body, headers;
} eco_test_node_resp;

/* A chat request for the fake model: "say hi". */
extern const char *const eco_test_node_chat_body;

/* Starts a node server on the fake backend (fc NULL: its defaults) with the
 * server config scfg (NULL: defaults; the ports are set to 0). m, if not
 * NULL, becomes the accounting's meter (owned by the node from then on);
 * the attribution then ticks only at request start and finish. Fails the
 * test on an error. */
eco_test_node *eco_test_node_start_meter(const eco_fake_cfg *fc, const eco_server_cfg *scfg,
                                         eco_meter *m);
/* eco_test_node_start_meter without a meter. */
eco_test_node *eco_test_node_start(const eco_fake_cfg *fc, const eco_server_cfg *scfg);
/* Shuts the server down, frees everything; returns eco_server_join's result. */
int eco_test_node_stop(eco_test_node *f);

/* One request; extra_hdr: "\n"-separated header lines or NULL; body NULL
 * sends none. 20 s timeout. */
void eco_test_node_http(const char *method, const char *url, const char *extra_hdr,
                        const char *body, size_t body_len, eco_test_node_resp *r);
/* POSTs body to f's public listener at path. */
void eco_test_node_post(eco_test_node *f, const char *path, const char *body,
                        eco_test_node_resp *r);
void eco_test_node_resp_free(eco_test_node_resp *r);
/* The body parsed as JSON (fails the test when it is not); json_decref it. */
json_t *eco_test_node_json(eco_test_node_resp *r);
/* Asserts an OpenAI-shaped error with this status and param ("" = null). */
void eco_test_node_expect_error(eco_test_node_resp *r, long status, const char *param);

#endif
