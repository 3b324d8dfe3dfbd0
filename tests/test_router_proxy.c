/* The router's proxying against fake backends on loopback
 * (tests/helpers/router_fixture.h): failover on dropped connections, 5xx
 * and a backend killed mid-run with zero failed client requests, streaming
 * passed through event by event, the error event when a stream dies after
 * output was sent, and clients that give up (the upstream request is
 * cancelled). */
#include "router_fixture.h"
#include "testutil.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void test_failover_scripted(void **state) {
  eco_test_cluster *cl = *state;
  eco_test_backend *b = cl->b;
  eco_test_router *t = eco_test_cluster_route(cl, 3, NULL);
  /* A drops connections: the latency policy's first choice fails, C
   * (next best) answers; one answer, two attempts. */
  b[0].drop = true;
  eco_test_resp r;
  eco_test_chat(t, "latency", NULL, &r);
  char v[64];
  assert_int_equal(r.code, 200);
  assert_string_equal(eco_test_resp_header(&r, "x-ecoinfer-node", v, sizeof v), "C");
  assert_string_equal(eco_test_resp_header(&r, "x-ecoinfer-attempts", v, sizeof v), "2");
  json_t *j = json_loads(r.body, 0, NULL);
  json_t *ro = json_object_get(json_object_get(json_object_get(j, "usage"), "carbon"), "router");
  assert_string_equal(json_string_value(json_array_get(json_object_get(ro, "failed_nodes"), 0)),
                      "A");
  json_decref(j);
  eco_test_resp_free(&r);
  /* 5xx is retried too; 4xx is the client's and passes through. */
  b[0].drop = false;
  b[0].fail_status = 503;
  eco_test_chat(t, "latency", NULL, &r);
  assert_int_equal(r.code, 200);
  eco_test_resp_free(&r);
  b[0].fail_status = 400;
  b[2].fail_status = 400;
  eco_test_chat(t, "latency", NULL, &r);
  /* A's circuit is open after 2 failures: C answers with its 400 */
  assert_int_equal(r.code, 400);
  assert_string_equal(eco_test_resp_header(&r, "x-ecoinfer-node", v, sizeof v), "C");
  eco_test_resp_free(&r);
  /* Every node failing: 502 once, after the configured attempts. */
  for (int i = 0; i < 3; i++)
    b[i].fail_status = 500;
  size_t before = eco_test_httpd_count(b[1].h, NULL);
  eco_test_chat(t, "carbon", NULL, &r);
  assert_int_equal(r.code, 502);
  assert_non_null(strstr(r.body, "attempts failed"));
  assert_int_equal(eco_test_httpd_count(b[1].h, "/v1/chat/completions") >= 1, 1);
  (void)before;
  eco_test_resp_free(&r);
}

typedef struct load {
  const eco_test_router *t;
  int n, ok, bad;
} load;

static void *load_thread(void *arg) {
  load *l = arg;
  for (int i = 0; i < l->n; i++) {
    eco_test_resp r;
    char url[128];
    snprintf(url, sizeof url, "%s/v1/chat/completions", l->t->url);
    const char *h[] = {"x-ecoinfer-policy: latency", NULL};
    if (eco_test_http(NULL, url, eco_test_chat_body, h, &r) == 0 && r.code == 200 &&
        strstr(r.body, "from "))
      l->ok++;
    else
      l->bad++;
    eco_test_resp_free(&r);
  }
  return NULL;
}

static void test_failover_kill(void **state) {
  eco_test_cluster *cl = *state;
  eco_test_backend *b = cl->b;
  for (int i = 0; i < 3; i++)
    b[i].delay_ms = 20;
  eco_test_router *t = eco_test_cluster_route(cl, 3, NULL);
  enum { THREADS = 4, PER = 15 };
  load l[THREADS];
  pthread_t th[THREADS];
  for (int i = 0; i < THREADS; i++) {
    l[i] = (load){.t = t, .n = PER};
    assert_int_equal(pthread_create(&th[i], NULL, load_thread, &l[i]), 0);
  }
  /* Kill the busiest node (A, the fastest) while requests are in flight. */
  while (eco_test_httpd_count(b[0].h, "/v1/chat/completions") < 8)
    usleep(2000);
  eco_test_backend_stop(&b[0]);
  int ok = 0, bad = 0;
  for (int i = 0; i < THREADS; i++) {
    pthread_join(th[i], NULL);
    ok += l[i].ok;
    bad += l[i].bad;
  }
  assert_int_equal(bad, 0);
  assert_int_equal(ok, THREADS * PER);
  /* The others took over. */
  assert_true(eco_test_httpd_count(b[2].h, "/v1/chat/completions") +
                  eco_test_httpd_count(b[1].h, "/v1/chat/completions") >
              0);
}

static void test_streaming(void **state) {
  eco_test_cluster *cl = *state;
  eco_test_router *t = eco_test_cluster_route(cl, 3, NULL);
  char url[128];
  snprintf(url, sizeof url, "%s/v1/chat/completions", t->url);
  const char *body = "{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                     "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  const char *h[] = {"x-ecoinfer-policy: carbon", NULL};
  eco_test_resp r;
  assert_int_equal(eco_test_http(NULL, url, body, h, &r), 0);
  assert_int_equal(r.code, 200);
  char v[128];
  assert_non_null(
      strstr(eco_test_resp_header(&r, "content-type", v, sizeof v), "text/event-stream"));
  assert_string_equal(eco_test_resp_header(&r, "x-ecoinfer-node", v, sizeof v), "B");
  /* Passed through as the events arrived (40 ms apart), not in one piece. */
  assert_true(r.writes >= 3);
  assert_non_null(strstr(r.body, "\"content\":\"Hel\""));
  assert_non_null(strstr(r.body, "data: [DONE]\n\n"));
  /* The usage chunk carries the node's receipt plus the decision. */
  const char *u = strstr(r.body, "\"usage\"");
  assert_non_null(u);
  assert_non_null(strstr(u, "\"router\":{"));
  assert_non_null(strstr(u, "\"policy\":\"carbon\""));
  /* Events stay whole and in order. */
  assert_true(strstr(r.body, "Hel") < strstr(r.body, "\"lo\""));
  eco_test_resp_free(&r);
}

typedef struct stream_client {
  const char *url;
  eco_test_resp r;
} stream_client;

static void *stream_thread(void *arg) {
  stream_client *s = arg;
  const char *body = "{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\","
                     "\"content\":\"hi\"}]}";
  const char *h[] = {"x-ecoinfer-policy: carbon", NULL};
  eco_test_http(NULL, s->url, body, h, &s->r);
  return NULL;
}

static void test_stream_dies_midway(void **state) {
  eco_test_cluster *cl = *state;
  eco_test_backend *b = cl->b;
  eco_test_router *t = eco_test_cluster_route(cl, 3, NULL);
  char url[128];
  snprintf(url, sizeof url, "%s/v1/chat/completions", t->url);
  stream_client s = {.url = url};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, stream_thread, &s), 0);
  /* B streams 6 events 40 ms apart; kill it after the request arrived and
   * the first events went out. */
  while (eco_test_httpd_count(b[1].h, "/v1/chat/completions") < 1)
    usleep(2000);
  usleep(100 * 1000);
  eco_test_backend_stop(&b[1]);
  pthread_join(th, NULL);
  assert_int_equal(s.r.code, 200);
  /* One answer: the partial stream, then an error event and [DONE]. */
  assert_non_null(strstr(s.r.body, "\"content\":\"\""));
  assert_non_null(strstr(s.r.body, "upstream node failed mid-stream"));
  const char *done = strstr(s.r.body, "data: [DONE]");
  assert_non_null(done);
  assert_null(strstr(done + 1, "data: [DONE]"));
  /* Not retried elsewhere: output had been sent. */
  assert_int_equal(eco_test_httpd_count(b[0].h, "/v1/chat/completions"), 0);
  assert_int_equal(eco_test_httpd_count(b[2].h, "/v1/chat/completions"), 0);
  eco_test_resp_free(&s.r);
}

/* Clients that give up: the router cancels the upstream request, frees
 * the request and the node's in-flight count returns to 0. */
static int http_give_up(const char *url, const char *body, long ms) {
  static const char *const hdrs[] = {"x-ecoinfer-policy: carbon", NULL};
  eco_test_resp r;
  int rc = eco_test_http_ms(NULL, url, body, hdrs, ms, &r);
  eco_test_resp_free(&r);
  return rc == 1 ? 0 : -1;
}

static int inflight_of(const eco_test_router *t, const char *id) {
  return eco_test_router_node_int(t, id, "inflight");
}

static void test_client_disconnect(void **state) {
  eco_test_cluster *cl = *state;
  eco_test_backend *b = cl->b;
  b[1].delay_ms = 400;     /* B answers late (non-stream), streams slowly */
  b[1].slow_stream = true; /* 2 s of events: the client leaves in the middle */
  eco_test_router *t = eco_test_cluster_route(cl, 3, NULL);
  char url[128];
  snprintf(url, sizeof url, "%s/v1/chat/completions", t->url);
  assert_int_equal(http_give_up(url, eco_test_chat_body, 100), 0);
  const char *sbody = "{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\","
                      "\"content\":\"hi\"}]}";
  assert_int_equal(http_give_up(url, sbody, 500), 0);
  int v = -1;
  for (int i = 0; i < 200 && v != 0; i++) {
    v = inflight_of(t, "B");
    if (v != 0) usleep(10000);
  }
  assert_int_equal(v, 0);
  /* Both clients left before their answers were complete, so the router cut
   * both upstream requests and B stopped working on them: the non-stream
   * one while B was still generating (the router watches the client socket
   * until the answer starts), the stream in the middle of its 2 s. */
  size_t cut = 0;
  for (int i = 0; i < 200 && cut < 2; i++) {
    cut = eco_test_httpd_cut_short(b[1].h, "/v1/chat/completions");
    if (cut < 2) usleep(10000);
  }
  assert_int_equal(cut, 2);
  char murl[128];
  snprintf(murl, sizeof murl, "%s/metrics", t->url);
  eco_test_resp m;
  assert_int_equal(eco_test_http(NULL, murl, NULL, NULL, &m), 0);
  assert_non_null(strstr(m.body, "ecoinfer_router_upstream_cancelled_total 2"));
  assert_non_null(strstr(m.body, "ecoinfer_router_client_disconnects_total 2"));
  eco_test_resp_free(&m);
  /* and the router still answers */
  b[1].delay_ms = 0;
  b[1].slow_stream = false;
  eco_test_expect_node(t, "carbon", NULL, "B");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_failover_scripted, eco_test_cluster_setup,
                                      eco_test_cluster_teardown),
      cmocka_unit_test_setup_teardown(test_failover_kill, eco_test_cluster_setup,
                                      eco_test_cluster_teardown),
      cmocka_unit_test_setup_teardown(test_streaming, eco_test_cluster_setup,
                                      eco_test_cluster_teardown),
      cmocka_unit_test_setup_teardown(test_stream_dies_midway, eco_test_cluster_setup,
                                      eco_test_cluster_teardown),
      cmocka_unit_test_setup_teardown(test_client_disconnect, eco_test_cluster_setup,
                                      eco_test_cluster_teardown),
  };
  return ECO_TEST_ROUTER_MAIN("router_proxy", tests);
}
