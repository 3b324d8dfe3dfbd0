/* Integration tests for the router gateway (src/router/gateway.c) against
 * fake OpenAI-compatible backends on loopback (tests/helpers/httpd.h):
 * each policy's choice, per-request policy and SLO headers, receipts,
 * streaming pass-through, failover on drops, 5xx and a eco_test_backend killed
 * mid-run with zero failed client requests, the error event when a stream
 * dies after output was sent, the admin API, DNS discovery, batch windows
 * bounded by the SLO, the config loader, and the dashboard the router
 * serves (its JSON state, and the page in headless chromium). */
#include "router_fixture.h"
#include "testutil.h"

#include "carbon/intensity.h"
#include "energy/agent.h"
#include "dashboard/dashboard.h"
#include "router/router.h"
#include "router/sse.h"
#include "util/config.h"

#include <curl/curl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---- client --------------------------------------------------------------- */

static const char *chat_body =
    "{\"model\":\"m\",\"max_tokens\":100,\"messages\":[{\"role\":\"user\",\"content\":"
    "\"Say hello to the carbon-aware router, please, in a few words\"}]}";

/* Sends one chat request; returns the chosen node id (x-ecoinfer-node). */
static void chat(const eco_test_router *t, const char *policy, const char *slo_ms,
                 eco_test_resp *out) {
  char url[128], ph[64], sh[64];
  snprintf(url, sizeof url, "%s/v1/chat/completions", t->url);
  const char *hdrs[3] = {NULL, NULL, NULL};
  size_t k = 0;
  if (policy) {
    snprintf(ph, sizeof ph, "x-ecoinfer-policy: %s", policy);
    hdrs[k++] = ph;
  }
  if (slo_ms) {
    snprintf(sh, sizeof sh, "x-ecoinfer-slo-ms: %s", slo_ms);
    hdrs[k++] = sh;
  }
  assert_int_equal(eco_test_http(NULL, url, chat_body, hdrs, out), 0);
}

static void expect_node(const eco_test_router *t, const char *policy, const char *slo_ms,
                        const char *want) {
  eco_test_resp r;
  chat(t, policy, slo_ms, &r);
  char node[64];
  if (r.code != 200 ||
      strcmp(eco_test_resp_header(&r, "x-ecoinfer-node", node, sizeof node), want) != 0)
    fail_msg("policy %s slo %s: got %ld node '%s', want '%s' (%s)", policy ? policy : "-",
             slo_ms ? slo_ms : "-", r.code, node, want, r.body);
  eco_test_resp_free(&r);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_policies(void **state) {
  eco_test_cluster *cl = *state;
  eco_test_backend *b = cl->b;
  char *y = eco_test_cluster_yaml(b, 3, NULL);
  /* Fresh router per group: profiles learn from the (instant) fake
   * answers, which would change later predictions. */
  eco_test_router *t = &cl->rt;
  eco_test_router_start(t, y);
  /* Prompt ~ 18 tokens, 100 expected output tokens:
   * A 1.0 s / 800 g/kWh, B 5 s / 50 g/kWh, C 2 s / 300 g/kWh. */
  expect_node(t, "slo-carbon", "3000", "C");
  expect_node(t, "slo-carbon", "500", "A"); /* none meets it: the fastest */
  expect_node(t, "latency", NULL, "A");
  expect_node(t, "greedy", NULL, "A");
  expect_node(t, NULL, NULL, "A"); /* configured default: latency */
  expect_node(t, "carbon", NULL, "B");
  eco_test_router_stop(t);
  eco_test_router_start(t, y);
  /* round-robin visits every node */
  int seen[3] = {0};
  for (int i = 0; i < 6; i++) {
    eco_test_resp r;
    chat(t, "round-robin", NULL, &r);
    char node[64];
    eco_test_resp_header(&r, "x-ecoinfer-node", node, sizeof node);
    assert_int_equal(r.code, 200);
    if (node[0] >= 'A' && node[0] <= 'C') seen[node[0] - 'A']++;
    eco_test_resp_free(&r);
  }
  assert_int_equal(seen[0], 2);
  assert_int_equal(seen[1], 2);
  assert_int_equal(seen[2], 2);
  /* bad headers: 400 in OpenAI's error shape, nothing forwarded */
  size_t before = eco_test_httpd_count(b[0].h, "/v1/chat/completions") +
                  eco_test_httpd_count(b[1].h, "/v1/chat/completions") +
                  eco_test_httpd_count(b[2].h, "/v1/chat/completions");
  eco_test_resp r;
  chat(t, "fastest", NULL, &r);
  assert_int_equal(r.code, 400);
  assert_non_null(strstr(r.body, "x-ecoinfer-policy"));
  eco_test_resp_free(&r);
  chat(t, NULL, "-5", &r);
  assert_int_equal(r.code, 400);
  eco_test_resp_free(&r);
  char url[128];
  snprintf(url, sizeof url, "%s/v1/chat/completions", t->url);
  assert_int_equal(eco_test_http(NULL, url, "{not json", NULL, &r), 0);
  assert_int_equal(r.code, 400);
  assert_non_null(strstr(r.body, "invalid_request_error"));
  eco_test_resp_free(&r);
  size_t after = eco_test_httpd_count(b[0].h, "/v1/chat/completions") +
                 eco_test_httpd_count(b[1].h, "/v1/chat/completions") +
                 eco_test_httpd_count(b[2].h, "/v1/chat/completions");
  assert_int_equal(before, after);
  free(y);
}

static void test_receipts(void **state) {
  eco_test_cluster *cl = *state;
  eco_test_backend *b = cl->b;
  b[1].with_carbon = true;
  char *y = eco_test_cluster_yaml(b, 3, NULL);
  eco_test_router *t = &cl->rt;
  eco_test_router_start(t, y);
  /* Node receipt (B, ecoinfer-like) extended with the decision. */
  eco_test_resp r;
  chat(t, "carbon", NULL, &r);
  assert_int_equal(r.code, 200);
  json_t *j = json_loads(r.body, 0, NULL);
  assert_non_null(j);
  json_t *carbon = json_object_get(json_object_get(j, "usage"), "carbon");
  assert_true(json_is_object(carbon));
  assert_true(json_real_value(json_object_get(carbon, "total_g")) == 0.0003);
  json_t *ro = json_object_get(carbon, "router");
  assert_string_equal(json_string_value(json_object_get(ro, "policy")), "carbon");
  assert_string_equal(json_string_value(json_object_get(ro, "node")), "B");
  assert_string_equal(json_string_value(json_object_get(ro, "zone")), "SE");
  json_t *pred = json_object_get(ro, "predicted");
  json_t *meas = json_object_get(ro, "measured");
  /* B: 100 out tokens at 20 tok/s = 5 s decode; energy 100 J + prompt. */
  assert_true(json_real_value(json_object_get(pred, "latency_s")) > 5.0);
  assert_true(json_real_value(json_object_get(pred, "total_g")) > 0);
  assert_true(json_real_value(json_object_get(meas, "total_g")) == 0.0003);
  assert_true(json_real_value(json_object_get(meas, "energy_j")) == 2.0);
  assert_int_equal(json_integer_value(json_object_get(meas, "completion_tokens")), 100);
  assert_int_equal(json_integer_value(json_object_get(ro, "attempts")), 1);
  json_decref(j);
  eco_test_resp_free(&r);
  /* Foreign backend (A, no carbon): the router estimates a receipt. */
  chat(t, "latency", NULL, &r);
  j = json_loads(r.body, 0, NULL);
  carbon = json_object_get(json_object_get(j, "usage"), "carbon");
  assert_true(json_is_object(carbon));
  assert_string_equal(json_string_value(json_object_get(carbon, "method")),
                      "sci-v1.0/router-estimate");
  assert_string_equal(json_string_value(json_object_get(carbon, "energy_source")), "model");
  /* 12 prompt tokens * 0.2 + 100 * 2.0 = 202.4 J at 800 g/kWh */
  assert_true(fabs(json_real_value(json_object_get(carbon, "energy_j")) - 202.4) < 1e-6);
  assert_true(fabs(json_real_value(json_object_get(carbon, "intensity_gco2_kwh")) - 800) < 1e-9);
  assert_string_equal(json_string_value(json_object_get(json_object_get(carbon, "router"), "node")),
                      "A");
  json_decref(j);
  eco_test_resp_free(&r);
  /* /v1/models, /health, /metrics */
  char url[128];
  snprintf(url, sizeof url, "%s/v1/models", t->url);
  assert_int_equal(eco_test_http(NULL, url, NULL, NULL, &r), 0);
  assert_int_equal(r.code, 200);
  assert_non_null(strstr(r.body, "\"data\""));
  eco_test_resp_free(&r);
  snprintf(url, sizeof url, "%s/health", t->url);
  assert_int_equal(eco_test_http(NULL, url, NULL, NULL, &r), 0);
  assert_int_equal(r.code, 200);
  assert_non_null(strstr(r.body, "\"nodes\":3"));
  eco_test_resp_free(&r);
  snprintf(url, sizeof url, "%s/metrics", t->url);
  assert_int_equal(eco_test_http(NULL, url, NULL, NULL, &r), 0);
  assert_non_null(strstr(r.body, "ecoinfer_router_requests_total{code=\"2xx\"} "));
  assert_non_null(strstr(r.body, "ecoinfer_router_zone_intensity_gco2_per_kwh{zone=\"SE\"} 50"));
  eco_test_resp_free(&r);
  /* admin endpoints are not on the public port */
  snprintf(url, sizeof url, "%s/admin/policy", t->url);
  assert_int_equal(eco_test_http(NULL, url, NULL, NULL, &r), 0);
  assert_int_equal(r.code, 404);
  eco_test_resp_free(&r);
  free(y);
}

static void test_admin(void **state) {
  eco_test_cluster *cl = *state;
  eco_test_backend *b = cl->b;
  char *y = eco_test_cluster_yaml(b, 3, "  admin_token: s3cret\n");
  eco_test_router *t = &cl->rt;
  eco_test_router_start(t, y);
  char url[128];
  eco_test_resp r;
  snprintf(url, sizeof url, "%s/admin/policy", t->admin);
  assert_int_equal(eco_test_http("PUT", url, "{\"policy\":\"carbon\"}", NULL, &r), 0);
  assert_int_equal(r.code, 401);
  eco_test_resp_free(&r);
  const char *auth[] = {"Authorization: Bearer s3cret", NULL};
  assert_int_equal(eco_test_http("PUT", url, "{\"policy\":\"carbon\"}", auth, &r), 0);
  assert_int_equal(r.code, 200);
  assert_non_null(strstr(r.body, "\"policy\":\"carbon\""));
  eco_test_resp_free(&r);
  assert_int_equal(eco_test_http("PUT", url, "{\"policy\":\"nope\"}", auth, &r), 0);
  assert_int_equal(r.code, 400);
  eco_test_resp_free(&r);
  expect_node(t, NULL, NULL, "B");
  /* SE becomes dirty at run time: carbon moves to C (FR, 300). */
  snprintf(url, sizeof url, "%s/admin/intensity", t->admin);
  assert_int_equal(eco_test_http("PUT", url, "{\"zone\":\"SE\",\"gco2_kwh\":5000}", auth, &r), 0);
  assert_int_equal(r.code, 200);
  eco_test_resp_free(&r);
  expect_node(t, NULL, NULL, "C");
  assert_int_equal(eco_test_http("PUT", url, "{\"zone\":\"SE\",\"gco2_kwh\":\"x\"}", auth, &r), 0);
  assert_int_equal(r.code, 400);
  eco_test_resp_free(&r);
  snprintf(url, sizeof url, "%s/admin/nodes", t->admin);
  assert_int_equal(eco_test_http(NULL, url, NULL, auth, &r), 0);
  assert_int_equal(r.code, 200);
  json_t *j = json_loads(r.body, 0, NULL);
  assert_int_equal(json_array_size(json_object_get(j, "nodes")), 3);
  assert_string_equal(
      json_string_value(json_object_get(json_array_get(json_object_get(j, "nodes"), 1), "labels")),
      "rack=r1");
  json_decref(j);
  eco_test_resp_free(&r);
  free(y);
}

static void test_failover_scripted(void **state) {
  eco_test_cluster *cl = *state;
  eco_test_backend *b = cl->b;
  char *y = eco_test_cluster_yaml(b, 3, NULL);
  eco_test_router *t = &cl->rt;
  eco_test_router_start(t, y);
  /* A drops connections: the latency policy's first choice fails, C
   * (next best) answers; one answer, two attempts. */
  b[0].drop = true;
  eco_test_resp r;
  chat(t, "latency", NULL, &r);
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
  chat(t, "latency", NULL, &r);
  assert_int_equal(r.code, 200);
  eco_test_resp_free(&r);
  b[0].fail_status = 400;
  b[2].fail_status = 400;
  chat(t, "latency", NULL, &r);
  /* A's circuit is open after 2 failures: C answers with its 400 */
  assert_int_equal(r.code, 400);
  assert_string_equal(eco_test_resp_header(&r, "x-ecoinfer-node", v, sizeof v), "C");
  eco_test_resp_free(&r);
  /* Every node failing: 502 once, after the configured attempts. */
  for (int i = 0; i < 3; i++)
    b[i].fail_status = 500;
  size_t before = eco_test_httpd_count(b[1].h, NULL);
  chat(t, "carbon", NULL, &r);
  assert_int_equal(r.code, 502);
  assert_non_null(strstr(r.body, "attempts failed"));
  assert_int_equal(eco_test_httpd_count(b[1].h, "/v1/chat/completions") >= 1, 1);
  (void)before;
  eco_test_resp_free(&r);
  free(y);
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
    if (eco_test_http(NULL, url, chat_body, h, &r) == 0 && r.code == 200 && strstr(r.body, "from "))
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
  char *y = eco_test_cluster_yaml(b, 3, NULL);
  eco_test_router *t = &cl->rt;
  eco_test_router_start(t, y);
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
  free(y);
}

static void test_streaming(void **state) {
  eco_test_cluster *cl = *state;
  eco_test_backend *b = cl->b;
  char *y = eco_test_cluster_yaml(b, 3, NULL);
  eco_test_router *t = &cl->rt;
  eco_test_router_start(t, y);
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
  free(y);
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
  char *y = eco_test_cluster_yaml(b, 3, NULL);
  eco_test_router *t = &cl->rt;
  eco_test_router_start(t, y);
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
  free(y);
}

/* Health: a node that goes away is marked down. DNS discovery has its own
 * test, against a DNS server it controls (test_router_dns.c). */
static void test_health(void **state) {
  eco_test_cluster *cl = *state;
  eco_test_backend *b = cl->b;
  char *y = eco_test_cluster_yaml(b, 2, NULL);
  eco_test_router *t = &cl->rt;
  eco_test_router_start(t, y);
  char url[128];
  snprintf(url, sizeof url, "%s/admin/nodes", t->admin);
  /* A goes away and is marked down. */
  eco_test_backend_stop(&b[0]);
  bool down = false;
  for (int i = 0; i < 200 && !down; i++) {
    eco_test_resp r;
    if (eco_test_http(NULL, url, NULL, NULL, &r) == 0 && strstr(r.body, "\"id\":\"A\"")) {
      const char *a = strstr(r.body, "\"id\":\"A\"");
      const char *hs = strstr(a, "\"health\":\"");
      if (hs && strncmp(hs + 10, "down", 4) == 0) down = true;
    }
    eco_test_resp_free(&r);
    if (!down) usleep(20000);
  }
  assert_true(down);
  free(y);
}

typedef struct bclient {
  const eco_test_router *t;
  const char *slo;
  eco_test_resp r;
} bclient;

static void *batch_thread(void *arg) {
  bclient *c = arg;
  chat(c->t, "latency", c->slo, &c->r);
  return NULL;
}

static void test_batch_window(void **state) {
  eco_test_cluster *cl = *state;
  eco_test_backend *b = cl->b;
  /* A 20 s window: requests only finish within curl's 8 s timeout if the
   * window is cut short, by a full batch (2 prompts) or by the SLO. */
  char *y = eco_test_cluster_yaml(b, 1, "  batch: {max: 2, window: 20s}\n");
  eco_test_router *t = &cl->rt;
  eco_test_router_start(t, y);
  bclient c[2] = {{.t = t}, {.t = t}};
  pthread_t th[2];
  for (int i = 0; i < 2; i++)
    assert_int_equal(pthread_create(&th[i], NULL, batch_thread, &c[i]), 0);
  for (int i = 0; i < 2; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(c[i].r.code, 200);
    eco_test_resp_free(&c[i].r);
  }
  /* Alone, with a 1.5 s SLO (predicted ~1.02 s): waits at most the slack. */
  bclient one = {.t = t, .slo = "1500"};
  batch_thread(&one);
  assert_int_equal(one.r.code, 200);
  eco_test_resp_free(&one.r);
  free(y);
}

static void test_config_errors(void **state) {
  (void)state;
  static const char *const bad[] = {
      "router: {policy: fastest}\n",
      "router: {prot: 1}\n",
      "nodes:\n  - id: x\n    url: ftp://h\n",
      "nodes:\n  - id: x\n    url: http://h:1\n    kind: tgi\n",
      "nodes:\n  - id: x\n    url: http://h:1\n    meter: nvml:0\n",
      "nodes:\n  - id: x\n    url: http://h:1\n    agent: http://h:2\n    meter: \"gpu!\"\n",
      "nodes:\n  - id: x\n    url: http://h:1\n    agent: http://h:2\n    gpu: maybe\n",
      "nodes:\n  - id: x\n    url: http://h:1\n    profile: {decode_tps: 0}\n",
      "dns:\n  - name: h\n",
      "router: {alpha: 2}\n",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    eco_cfg *cfg = NULL;
    eco_error err = {0};
    assert_int_equal(eco_cfg_load_string(bad[i], "c.yaml", &cfg, &err), 0);
    eco_cfg_use_env(cfg, false);
    eco_router_cfg rc;
    if (eco_router_cfg_load(cfg, &rc, &err) == 0) fail_msg("accepted: %s", bad[i]);
    assert_true(strlen(err.msg) > 0);
    eco_cfg_free(cfg);
  }
  /* embodied from total and lifetime: 157680 g over 5 y = 0.001 g/s */
  eco_cfg *cfg = NULL;
  eco_error err = {0};
  assert_int_equal(eco_cfg_load_string("nodes:\n  - id: x\n    url: http://h:1\n    "
                                       "embodied_g: 157680\n    lifetime_y: 5\n",
                                       "c.yaml", &cfg, &err),
                   0);
  eco_cfg_use_env(cfg, false);
  eco_router_cfg rc;
  assert_int_equal(eco_router_cfg_load(cfg, &rc, &err), 0);
  assert_int_equal(rc.n_nodes, 1);
  assert_true(fabs(rc.nodes[0].embodied_g_per_s - 0.001) < 1e-12);
  assert_int_equal(rc.policy, ECO_POLICY_SLO_CARBON);
  eco_router_cfg_free(&rc);
  eco_cfg_free(cfg);
}

static void test_sse_helpers(void **state) {
  (void)state;
  const char *s = "data: {\"a\":1}\n\ndata: [DONE]\r\n\r\nrest";
  size_t l1 = eco_sse_event_len(s, strlen(s));
  assert_int_equal(l1, strlen("data: {\"a\":1}\n\n"));
  const char *d;
  size_t dl;
  assert_int_equal(eco_sse_classify(s, l1, &d, &dl), ECO_SSE_DATA);
  assert_int_equal(dl, 7);
  size_t l2 = eco_sse_event_len(s + l1, strlen(s + l1));
  assert_int_equal(l2, strlen("data: [DONE]\r\n\r\n"));
  assert_int_equal(eco_sse_classify(s + l1, l2, NULL, NULL), ECO_SSE_DONE);
  assert_int_equal(eco_sse_event_len("rest", 4), 0);
  assert_int_equal(eco_sse_classify(": ping\n\n", 8, NULL, NULL), ECO_SSE_OTHER);
  const char *t1 = "{\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}";
  const char *t2 = "{\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}";
  const char *t3 = "{\"choices\":[{\"text\": \"x\"}],\"usage\":null}";
  const char *t4 = "{\"choices\":[],\"usage\": {\"prompt_tokens\":1}}";
  assert_true(eco_sse_has_text(t1, strlen(t1)));
  assert_false(eco_sse_has_text(t2, strlen(t2)));
  assert_true(eco_sse_has_text(t3, strlen(t3)));
  assert_false(eco_sse_has_usage(t3, strlen(t3)));
  assert_true(eco_sse_has_usage(t4, strlen(t4)));
  /* prompt estimate: 40 bytes / 4 + 4 per message = 14 */
  json_t *j = json_loads("{\"messages\":[{\"role\":\"user\",\"content\":"
                         "\"0123456789012345678901234567890123456789\"}]}",
                         0, NULL);
  assert_int_equal(eco_router_estimate_prompt_tokens(j), 14);
  json_decref(j);
  j = json_loads("{\"prompt\":\"abcdefgh\"}", 0, NULL);
  assert_int_equal(eco_router_estimate_prompt_tokens(j), 2);
  json_decref(j);
  assert_int_equal(eco_router_estimate_prompt_tokens(NULL), 1);
}

/* Zone intensities from the shared hourly traces (acct's trace provider):
 * FR starts at the first row of FR_2023_hourly.csv, 35.34 g/kWh (direct),
 * not the 300 of the static table; a zone without a trace falls back to
 * the static table. */
static void test_trace_intensity(void **state) {
  char *fr = NULL;
  ECO_TEST_NEED_SHARED("data/carbon/FR_2023_hourly.csv", &fr);
  char dir[1024];
  snprintf(dir, sizeof dir, "%s", fr);
  *strrchr(dir, '/') = '\0';
  free(fr);
  eco_test_cluster *cl = *state;
  eco_test_backend *b = cl->b;
  char extra[1200];
  snprintf(extra, sizeof extra, "carbon:\n  trace: %s\n  refresh: 1s\n", dir);
  char *y = eco_test_cluster_yaml(b, 3, NULL);
  char *y2 = malloc(strlen(y) + strlen(extra) + 1);
  strcpy(y2, extra);
  strcat(y2, y);
  eco_test_router *t = &cl->rt;
  eco_test_router_start(t, y2);
  char url[128];
  snprintf(url, sizeof url, "%s/admin/nodes", t->admin);
  eco_test_resp r;
  assert_int_equal(eco_test_http(NULL, url, NULL, NULL, &r), 0);
  json_t *j = json_loads(r.body, 0, NULL);
  json_t *nodes = json_object_get(j, "nodes");
  double ci_c = json_real_value(json_object_get(json_array_get(nodes, 2), "intensity_gco2_kwh"));
  double ci_b = json_real_value(json_object_get(json_array_get(nodes, 1), "intensity_gco2_kwh"));
  assert_true(fabs(ci_c - 35.34) < 1e-9); /* FR from the trace */
  assert_true(fabs(ci_b - 50) < 1e-9);    /* SE: no trace, static table */
  json_decref(j);
  eco_test_resp_free(&r);
  free(y);
  free(y2);
}

/* ---- dashboard ------------------------------------------------------------- */

/* GET /dashboard/api/state, parsed. */
static json_t *dash_state(const eco_test_router *t) {
  char url[128];
  snprintf(url, sizeof url, "%s/dashboard/api/state", t->url);
  eco_test_resp r;
  assert_int_equal(eco_test_http(NULL, url, NULL, NULL, &r), 0);
  assert_int_equal(r.code, 200);
  json_t *j = json_loads(r.body, 0, NULL);
  eco_test_resp_free(&r);
  assert_true(json_is_object(j));
  return j;
}

static const json_t *find_by(const json_t *arr, const char *key, const char *want) {
  size_t i;
  const json_t *v;
  json_array_foreach(arr, i, v) {
    const char *s = json_string_value(json_object_get(v, key));
    if (s && strcmp(s, want) == 0) return v;
  }
  return NULL;
}

/* One request through the router, then its decision with the receipt, the
 * zones and the nodes in the dashboard state; the page itself is served. */
static void test_dashboard_state(void **state) {
  eco_test_cluster *cl = *state;
  eco_test_backend *b = cl->b;
  b[1].with_carbon = true;
  char *y = eco_test_cluster_yaml(b, 3, NULL);
  eco_test_router *t = &cl->rt;
  eco_test_router_start(t, y);
  eco_test_resp r;
  chat(t, "carbon", NULL, &r); /* B: the cleanest node */
  assert_int_equal(r.code, 200);
  json_t *body = json_loads(r.body, 0, NULL);
  char rid[64];
  snprintf(rid, sizeof rid, "%s", json_string_value(json_object_get(body, "id")));
  assert_string_equal(rid, "B-1");
  json_decref(body);
  eco_test_resp_free(&r);

  /* nodes arrive, and turn from "degraded" to "up", with their first
   * health check (100 ms period; slower on a loaded machine) */
  json_t *st = NULL;
  for (int i = 0; i < 250; i++) {
    json_decref(st);
    st = dash_state(t);
    const json_t *b_node = find_by(json_object_get(st, "nodes"), "id", "B");
    const char *hb = b_node ? json_string_value(json_object_get(b_node, "health")) : NULL;
    if (json_array_size(json_object_get(st, "nodes")) == 3 && hb && strcmp(hb, "up") == 0) break;
    usleep(20000);
  }
  assert_string_equal(json_string_value(json_object_get(st, "role")), "router");
  const json_t *d = find_by(json_object_get(st, "decisions"), "request_id", rid);
  assert_non_null(d);
  assert_string_equal(json_string_value(json_object_get(d, "policy")), "carbon");
  assert_int_equal(json_integer_value(json_object_get(d, "directive_level")), -1); /* off */
  assert_string_equal(json_string_value(json_object_get(d, "node")), "B");
  assert_int_equal(json_integer_value(json_object_get(d, "tokens")), 112);
  assert_int_equal(json_integer_value(json_object_get(d, "output_tokens")), 100);
  assert_true(json_number_value(json_object_get(d, "latency_ms")) > 0);
  const json_t *rc = json_object_get(d, "receipt");
  assert_true(fabs(json_number_value(json_object_get(rc, "total_g")) - 0.0003) < 1e-12);
  assert_true(fabs(json_number_value(json_object_get(rc, "energy_j")) - 2.0) < 1e-12);
  assert_string_equal(json_string_value(json_object_get(rc, "method")), "sci-v1.0");
  /* prediction for B; counterfactual = greedy's pick (A, fast and dirty):
   * 100 tokens at 2 J/token in PL (800 g/kWh) predict far more than B */
  double pred = json_number_value(json_object_get(d, "predicted_g"));
  double cf = json_number_value(json_object_get(d, "counterfactual_g"));
  assert_true(pred > 0);
  assert_true(cf > 10 * pred);
  assert_true(json_number_value(json_object_get(json_object_get(st, "totals"), "saved_g")) > 0);

  const json_t *zs = json_object_get(st, "zones");
  const json_t *pl = find_by(zs, "zone", "PL"), *se = find_by(zs, "zone", "SE");
  assert_non_null(pl);
  assert_non_null(se);
  assert_true(fabs(json_number_value(json_object_get(pl, "gco2_kwh")) - 800) < 1e-9);
  assert_true(fabs(json_number_value(json_object_get(se, "gco2_kwh")) - 50) < 1e-9);
  assert_non_null(json_string_value(json_object_get(pl, "source")));

  const json_t *ns = json_object_get(st, "nodes");
  assert_int_equal(json_array_size(ns), 3);
  const json_t *nb = find_by(ns, "id", "B");
  assert_non_null(nb);
  assert_string_equal(json_string_value(json_object_get(nb, "device")), "dev1");
  assert_string_equal(json_string_value(json_object_get(nb, "zone")), "SE");
  assert_string_equal(json_string_value(json_object_get(nb, "health")), "up");
  assert_false(json_is_true(json_object_get(nb, "circuit_open")));
  assert_true(json_number_value(json_object_get(nb, "tokens_per_s")) > 0);
  /* B's J/token comes from its receipt (2 J / 100 tokens), labelled estimated:
   * the fake receipt does not say its energy was measured */
  assert_true(fabs(json_number_value(json_object_get(nb, "j_per_token")) - 0.02) < 1e-9);
  assert_non_null(strstr(json_string_value(json_object_get(nb, "energy_source")), "estimated"));
  const char *ps = json_string_value(json_object_get(nb, "power_source"));
  assert_true(strcmp(ps, "estimated") == 0 || strcmp(ps, "measured") == 0);
  json_decref(st);

  char url[128];
  snprintf(url, sizeof url, "%s/dashboard", t->url);
  assert_int_equal(eco_test_http(NULL, url, NULL, NULL, &r), 0);
  assert_int_equal(r.code, 200);
  assert_non_null(strstr(r.body, "<html"));
  eco_test_resp_free(&r);

  free(y);
}

/* With directives on, the page shows the plan (level mix, quality floor)
 * and each decision its level: at PL's 800 g/kWh (top of the range) the
 * plan is all level 2 (the numbers of test_router_directive.c). */
static void test_dashboard_directives(void **state) {
  eco_test_cluster *cl = *state;
  eco_test_backend *b = cl->b;
  b[0].with_carbon = true;
  char *y = eco_test_cluster_yaml(
      b, 1,
      "directive:\n  plan: lp\n  ci_min: 100\n  ci_max: 600\n  xi: 0.1\n  zone: PL\n"
      "  stats:\n    - {energy_kwh: 0.001, time_s: 1, pref: 0.5}\n"
      "    - {energy_kwh: 0.0005, time_s: 1, pref: 0.3}\n"
      "    - {energy_kwh: 0.0001, time_s: 1, pref: 0.48}\n");
  eco_test_router *t = &cl->rt;
  eco_test_router_start(t, y);
  eco_test_resp r;
  chat(t, NULL, NULL, &r);
  assert_int_equal(r.code, 200);
  eco_test_resp_free(&r);
  json_t *st = dash_state(t);
  const json_t *dir = json_object_get(st, "directives");
  const json_t *mix = json_object_get(dir, "mix");
  assert_int_equal(json_array_size(mix), 3);
  assert_true(fabs(json_number_value(json_array_get(mix, 2)) - 1.0) < 1e-6);
  assert_string_equal(json_string_value(json_array_get(json_object_get(dir, "levels"), 2)), "L2");
  assert_true(fabs(json_number_value(json_object_get(dir, "quality_floor")) - 0.9) < 1e-9);
  const json_t *d = json_array_get(json_object_get(st, "decisions"), 0);
  assert_int_equal(json_integer_value(json_object_get(d, "directive_level")), 2);
  json_decref(st);
  free(y);
}

typedef struct load_arg {
  const eco_test_router *t;
  volatile bool stop;
} load_arg;

/* Keeps requests flowing while the browser watches (series with data). */
/* Live traffic while the browser looks: at most 60 requests, so the known
 * request stays among the 100 rows the page's decision table keeps however
 * slowly the browser starts (on a loaded host, 150 pushed it out). */
static void *dash_load(void *arg) {
  load_arg *a = arg;
  for (int i = 0; i < 60 && !a->stop; i++) {
    eco_test_resp r;
    char url[128];
    snprintf(url, sizeof url, "%s/v1/chat/completions", a->t->url);
    if (eco_test_http(NULL, url, chat_body, NULL, &r) == 0) eco_test_resp_free(&r);
    usleep(50000);
  }
  return NULL;
}

/* A real node: `ecoinfer serve --fake-backend` on an ephemeral loopback
 * port in zone (static intensity gco2), its port read from --port-file.
 * Returns its pid. */
static pid_t node_spawn(const char *dir, const char *name, const char *zone, int gco2, int *port) {
  char pf[1024], log[1024], cf[1024], yaml[256];
  snprintf(cf, sizeof cf, "%s/%s.yaml", dir, name);
  snprintf(yaml, sizeof yaml, "carbon: {zone: %s, static: {zones: {%s: %d}}}\n", zone, zone, gco2);
  snprintf(pf, sizeof pf, "%s.yaml", name);
  assert_int_equal(eco_test_write_file(dir, pf, yaml), 0);
  snprintf(pf, sizeof pf, "%s/%s.ports", dir, name);
  snprintf(log, sizeof log, "%s/%s.log", dir, name);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive a failed test */
    if (!freopen(log, "w", stderr) || !freopen("/dev/null", "w", stdout)) _exit(127);
    execl(eco_test_binary(), eco_test_binary(), "serve", "--config", cf, "--fake-backend",
          "--fake-rate", "500", "--model-name", "m", "--port", "0", "--port-file", pf,
          "--no-ledger", "--drain-timeout", "1s", (char *)NULL);
    _exit(127);
  }
  *port = 0;
  for (int i = 0; i < 400 && *port <= 0; i++) { /* up to 20 s on a busy machine */
    FILE *fp = fopen(pf, "r");
    if (fp) {
      if (fscanf(fp, "%d", port) != 1) *port = 0;
      fclose(fp);
    }
    if (*port <= 0) usleep(50000);
  }
  if (*port <= 0) fail_msg("node %s did not start (see %s)", name, log);
  return pid;
}

static void node_kill(pid_t pid) {
  kill(pid, SIGTERM);
  int st;
  waitpid(pid, &st, 0);
}

/* The browser test: the router's /dashboard with real nodes
 * (`ecoinfer serve --fake-backend`) on loopback, after a request whose
 * response id the test knows (tests/browser/dashboard.mjs: no console
 * errors, charts with data, the request in the decision table with its
 * receipt, light/dark and phone width; screenshots in
 * build/tests/artifacts/). Skips without chromium or the bundle. */
static void test_dashboard_browser(void **state) {
  (void)state;
  if (!eco_dash_bundled()) {
    print_message("SKIP: dashboard bundle not built (npm unavailable at build time)\n");
    skip();
  }
  char *dir = eco_test_tmpdir();
  int p1, p2;
  pid_t n1 = node_spawn(dir, "se-node", "SE", 50, &p1);
  pid_t n2 = node_spawn(dir, "pl-node", "PL", 800, &p2);
  char y[2048];
  snprintf(
      y, sizeof y,
      "router:\n  port: 0\n  admin_port: -1\n  policy: slo-carbon\n"
      "  health: {interval: 100ms, max_backoff: 400ms, fail_threshold: 2}\n"
      "zones: {SE: 50, PL: 800}\nnodes:\n"
      "  - {id: se-node, url: \"http://127.0.0.1:%d\", kind: ecoinfer, zone: SE, max_batch: 4}\n"
      "  - {id: pl-node, url: \"http://127.0.0.1:%d\", kind: ecoinfer, zone: PL, max_batch: 4}\n",
      p1, p2);
  eco_test_router t = {0};
  eco_test_router_start(&t, y);
  eco_test_resp r;
  char url[128], rid[64] = "";
  snprintf(url, sizeof url, "%s/v1/chat/completions", t.url);
  const char *slo[] = {"x-ecoinfer-slo-ms: 5000", NULL};
  long status = eco_test_http(NULL, url, chat_body, slo, &r) == 0 ? r.code : -1;
  json_t *body = json_loads(r.body, 0, NULL);
  const char *id = json_string_value(json_object_get(body, "id"));
  bool receipt = json_is_object(json_object_get(json_object_get(body, "usage"), "carbon"));
  if (status == 200 && id && receipt) snprintf(rid, sizeof rid, "%s", id);
  json_decref(body);
  if (!rid[0]) print_message("request through the router: %ld %s\n", status, r.body);
  eco_test_resp_free(&r);
  char *out = NULL;
  int code = -1;
  if (rid[0]) {
    load_arg la = {.t = &t, .stop = false};
    pthread_t lt;
    assert_int_equal(pthread_create(&lt, NULL, dash_load, &la), 0);
    mkdir("artifacts", 0755);
    char cmd[1024], cwd[512];
    snprintf(cmd, sizeof cmd,
             "bash %s/tests/browser/run.sh dashboard.mjs %s/dashboard %s "
             "%s/artifacts/router-dashboard.png 2>&1",
             ECO_TEST_SOURCE_DIR, t.url, rid, getcwd(cwd, sizeof cwd) ? cwd : ".");
    if (eco_test_run(cmd, &out, &code) != 0) code = -1;
    la.stop = true;
    pthread_join(lt, NULL);
  }
  /* the nodes go before any assertion can end the test */
  eco_test_router_stop(&t);
  node_kill(n1);
  node_kill(n2);
  eco_test_rmtree(dir);
  free(dir);
  assert_true(rid[0] != '\0');
  print_message("%s", out ? out : "");
  free(out);
  if (code == 77) skip();
  assert_int_equal(code, 0);
}

/* The command: usage errors exit 2 with a message. */
static void test_cli(void **state) {
  (void)state;
  char *dir = eco_test_tmpdir();
  assert_int_equal(eco_test_write_file(dir, "empty.yaml", "router: {port: 0}\n"), 0);
  assert_int_equal(eco_test_write_file(dir, "bad.yaml", "router: {policy: fastest}\n"), 0);
  char cmd[2048];
  char *out = NULL;
  int code = -1;
  snprintf(cmd, sizeof cmd, "%s route --config %s/empty.yaml 2>&1", eco_test_binary(), dir);
  assert_int_equal(eco_test_run(cmd, &out, &code), 0);
  assert_int_equal(code, 2);
  assert_non_null(strstr(out, "no nodes"));
  free(out);
  snprintf(cmd, sizeof cmd, "%s route --config %s/bad.yaml 2>&1", eco_test_binary(), dir);
  assert_int_equal(eco_test_run(cmd, &out, &code), 0);
  assert_int_equal(code, 2);
  assert_non_null(strstr(out, "fastest"));
  free(out);
  snprintf(cmd, sizeof cmd, "%s route --help 2>&1", eco_test_binary());
  assert_int_equal(eco_test_run(cmd, &out, &code), 0);
  assert_int_equal(code, 0);
  assert_non_null(strstr(out, "x-ecoinfer-policy"));
  free(out);
  eco_test_rmtree(dir);
  free(dir);
}

/* ---- agent --------------------------------------------------------------- */

/* A fake meter: every poll adds 2 J. */
static int fake_poll(eco_meter *m, double now_s, double *delta_j, eco_error *err) {
  (void)m;
  (void)now_s;
  (void)err;
  *delta_j = 2.0;
  return 0;
}
static void fake_destroy(eco_meter *m) { free(m); }
static const eco_meter_vtbl fake_vt = {.kind = "fake", .poll = fake_poll, .destroy = fake_destroy};

static void *run_agent(void *arg) {
  eco_agent_run(arg);
  return NULL;
}

static void test_agent_server(void **state) {
  (void)state;
  eco_meter *m = calloc(1, sizeof *m);
  assert_non_null(m);
  assert_int_equal(eco_meter_init_base(m, &fake_vt, "rapl", "package-0", false), 0);
  eco_error err = {0};
  for (int i = 0; i < 3; i++)
    assert_int_equal(eco_meter_poll(m, &err), 0);
  eco_agent_meter am = {.device = "cpu", .meter = m};
  eco_agent *a = NULL;
  assert_int_equal(eco_agent_new("127.0.0.1", 0, &am, 1, &a, &err), 0);
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, run_agent, a), 0);
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/meters", eco_agent_port(a));
  eco_test_resp r;
  assert_int_equal(eco_test_http(NULL, url, NULL, NULL, &r), 0);
  assert_int_equal(r.code, 200);
  json_t *j = json_loads(r.body, 0, NULL);
  json_t *m0 = json_array_get(json_object_get(j, "meters"), 0);
  /* the first poll gives 0 (no previous reading), then 2 + 2 */
  double joules = json_real_value(json_object_get(m0, "joules"));
  assert_true(fabs(joules - eco_meter_total(m)) < 1e-9);
  assert_true(joules >= 2.0);
  assert_string_equal(json_string_value(json_object_get(m0, "source")), "rapl");
  assert_string_equal(json_string_value(json_object_get(m0, "device")), "cpu");
  assert_true(json_is_false(json_object_get(m0, "estimated")));
  assert_true(json_is_number(json_object_get(j, "time_s")));
  json_decref(j);
  eco_test_resp_free(&r);
  snprintf(url, sizeof url, "http://127.0.0.1:%d/nope", eco_agent_port(a));
  assert_int_equal(eco_test_http(NULL, url, NULL, NULL, &r), 0);
  assert_int_equal(r.code, 404);
  eco_test_resp_free(&r);
  eco_agent_stop(a);
  pthread_join(th, NULL);
  eco_agent_free(a);
  eco_meter_free(m);
}

/* A scripted agent: each reading is 1 s and 50 J after the previous one
 * (50 W). */
typedef struct fake_agent {
  int calls;
  char body[256];
} fake_agent;

static void on_meters(const eco_test_request *req, eco_test_response *out, void *user) {
  (void)req;
  fake_agent *f = user;
  f->calls++;
  snprintf(f->body, sizeof f->body,
           "{\"time_s\":%d.0,\"total_j\":%d.0,\"meters\":[{\"device\":\"cpu\","
           "\"joules\":%d.0,\"source\":\"rapl\",\"estimated\":false}]}",
           f->calls, 50 * f->calls, 50 * f->calls);
  out->status = 200;
  out->body = f->body;
}

static void test_router_uses_agent(void **state) {
  eco_test_cluster *cl = *state;
  eco_test_backend *b = cl->b;
  fake_agent fa = {0};
  eco_test_httpd *ag = NULL;
  assert_int_equal(eco_test_httpd_start(&ag), 0);
  eco_test_httpd_handler(ag, "GET", "/v1/meters", on_meters, &fa);
  char *y = eco_test_cluster_yaml(b, 1, NULL);
  char agent_line[128];
  snprintf(agent_line, sizeof agent_line, "    agent: %s\n", eco_test_httpd_url(ag));
  char *y2 = malloc(strlen(y) + strlen(agent_line) + 1);
  strcpy(y2, y);
  strcat(y2, agent_line);
  eco_test_router *t = &cl->rt;
  eco_test_router_start(t, y2);
  /* wait for two readings */
  for (int i = 0; i < 200 && eco_test_httpd_count(ag, "/v1/meters") < 3; i++)
    usleep(10000);
  eco_test_resp r;
  chat(t, "carbon", NULL, &r);
  assert_int_equal(r.code, 200);
  json_t *j = json_loads(r.body, 0, NULL);
  json_t *carbon = json_object_get(json_object_get(j, "usage"), "carbon");
  assert_string_equal(json_string_value(json_object_get(carbon, "energy_source")), "agent:rapl");
  assert_string_equal(json_string_value(json_object_get(carbon, "method")),
                      "sci-v1.0/router-agent");
  assert_true(json_is_false(json_object_get(carbon, "energy_estimated")));
  /* 50 W times the upstream time (one request in flight) */
  double e = json_real_value(json_object_get(carbon, "energy_j"));
  double up = json_real_value(json_object_get(
      json_object_get(json_object_get(carbon, "router"), "measured"), "upstream_s"));
  assert_true(up > 0);
  assert_true(fabs(e - 50.0 * up) < 1e-6 * (1 + e));
  json_decref(j);
  eco_test_resp_free(&r);
  free(y);
  free(y2);
  eco_test_httpd_stop(ag);
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

/* An integer field of node `id` in /admin/nodes, or -1. */
static int admin_node_int(const eco_test_router *t, const char *id, const char *field) {
  char url[128];
  snprintf(url, sizeof url, "%s/admin/nodes", t->admin);
  eco_test_resp r;
  int v = -1;
  if (eco_test_http(NULL, url, NULL, NULL, &r) == 0) {
    json_t *j = json_loads(r.body, 0, NULL);
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(j, "nodes"), i, n) {
      const json_t *x = json_object_get(n, field);
      if (strcmp(json_string_value(json_object_get(n, "id")), id) == 0 && json_is_integer(x))
        v = (int)json_integer_value(x);
    }
    json_decref(j);
  }
  eco_test_resp_free(&r);
  return v;
}

static int inflight_of(const eco_test_router *t, const char *id) {
  return admin_node_int(t, id, "inflight");
}

static void test_client_disconnect(void **state) {
  eco_test_cluster *cl = *state;
  eco_test_backend *b = cl->b;
  b[1].delay_ms = 400;     /* B answers late (non-stream), streams slowly */
  b[1].slow_stream = true; /* 2 s of events: the client leaves in the middle */
  char *y = eco_test_cluster_yaml(b, 3, NULL);
  eco_test_router *t = &cl->rt;
  eco_test_router_start(t, y);
  char url[128];
  snprintf(url, sizeof url, "%s/v1/chat/completions", t->url);
  assert_int_equal(http_give_up(url, chat_body, 100), 0);
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
  expect_node(t, "carbon", NULL, "B");
  free(y);
}

/* An ecoinfer node without a configured profile: seeded from /v1/node. */
static void test_node_profile_from_v1_node(void **state) {
  eco_test_cluster *cl = *state;
  eco_test_backend *b = cl->b;
  b[0].name = "N";
  eco_test_response node = {
      .status = 200,
      /* the node server's shape (issue 6) */
      .body = "{\"device\":\"rtx-2000-ada\",\"model\":\"m\",\"zone\":\"SE\",\"intensity\":{"
              "\"gco2_kwh\":42.5,\"source\":\"static\",\"estimated\":true},"
              "\"energy_j_per_token\":0.8,\"tokens_per_s\":40,\"queue\":{\"depth\":0,"
              "\"capacity\":64},\"batch\":{\"active\":0,\"max\":8},\"kv\":{\"used_bytes\":0,"
              "\"budget_bytes\":1000,\"usage\":0.0},\"context_length\":2048,\"ready\":true,"
              "\"draining\":false,\"generated_tokens\":0}"};
  eco_test_httpd_on(b[0].h, "GET", "/v1/node", &node);
  char yaml[1024];
  snprintf(yaml, sizeof yaml,
           "router: {port: 0, admin_port: 0, policy: carbon, health: {interval: 100ms}}\n"
           "nodes:\n  - id: N\n    url: %s\n    kind: ecoinfer\n",
           eco_test_httpd_url(b[0].h));
  eco_test_router *t = &cl->rt;
  eco_test_router_start(t, yaml);
  char url[128];
  snprintf(url, sizeof url, "%s/admin/nodes", t->admin);
  bool seeded = false;
  for (int i = 0; i < 200 && !seeded; i++) {
    eco_test_resp r;
    if (eco_test_http(NULL, url, NULL, NULL, &r) == 0) {
      json_t *j = json_loads(r.body, 0, NULL);
      json_t *n = json_array_get(json_object_get(j, "nodes"), 0);
      json_t *p = json_object_get(n, "profile");
      if (fabs(json_real_value(json_object_get(p, "decode_s_per_tok")) - 1.0 / 40) < 1e-12) {
        seeded = true;
        assert_true(fabs(json_real_value(json_object_get(p, "decode_j_per_tok")) - 0.8) < 1e-12);
        assert_int_equal(json_integer_value(json_object_get(n, "max_batch")), 8);
        assert_string_equal(json_string_value(json_object_get(n, "device")), "rtx-2000-ada");
        /* zone learnt from the node; SE is in the built-in static table */
        assert_string_equal(json_string_value(json_object_get(n, "zone")), "SE");
        size_t nb = 0;
        double world = 0, se = -1;
        const eco_static_entry *tab = eco_static_builtin(&nb, &world);
        for (size_t k = 0; k < nb; k++)
          if (strcmp(tab[k].zone, "SE") == 0) se = tab[k].gco2_kwh;
        if (se >= 0)
          assert_true(fabs(json_real_value(json_object_get(n, "intensity_gco2_kwh")) - se) < 1e-9);
      }
      json_decref(j);
    }
    eco_test_resp_free(&r);
    if (!seeded) usleep(10000);
  }
  assert_true(seeded);
  assert_true(eco_test_httpd_count(b[0].h, "/v1/node") >= 1);
  expect_node(t, NULL, NULL, "N");
}

/* A /v1/node report taken while our request ran must not outlive it: after
 * the request finishes, the node's view is idle again before the next poll
 * (docs/router.md: the stale-report discount). */
static void test_stale_load_report(void **state) {
  eco_test_cluster *cl = *state;
  eco_test_backend *b = cl->b;
  b[0].name = "N";
  eco_test_response node = {
      .status = 200,
      .body = "{\"device\":\"d\",\"zone\":\"SE\",\"queue\":{\"depth\":0},\"batch\":{\"active\":1,"
              "\"max\":4},\"kv\":{\"usage\":0.1},\"draining\":false}"};
  eco_test_httpd_on(b[0].h, "GET", "/v1/node", &node);
  char yaml[1024];
  snprintf(yaml, sizeof yaml,
           "router: {port: 0, admin_port: 0, policy: carbon, health: {interval: 3s}}\n"
           "nodes:\n  - id: N\n    url: %s\n    kind: ecoinfer\n",
           eco_test_httpd_url(b[0].h));
  eco_test_router *t = &cl->rt;
  eco_test_router_start(t, yaml);
  /* the first poll: the node says one request is running */
  int active = -1;
  for (int i = 0; i < 500 && active != 1; i++) {
    active = admin_node_int(t, "N", "active_batch");
    if (active != 1) usleep(10000);
  }
  assert_int_equal(active, 1);
  const size_t polls = eco_test_httpd_count(b[0].h, "/v1/node");
  /* that request finishes (ours): the report is now stale */
  eco_test_resp r;
  chat(t, NULL, NULL, &r);
  assert_int_equal(r.code, 200);
  eco_test_resp_free(&r);
  active = admin_node_int(t, "N", "active_batch");
  if (eco_test_httpd_count(b[0].h, "/v1/node") == polls) /* no new poll in between */
    assert_int_equal(active, 0);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sse_helpers),
      cmocka_unit_test(test_config_errors),
      cmocka_unit_test_setup_teardown(test_policies, eco_test_cluster_setup,
                                      eco_test_cluster_teardown),
      cmocka_unit_test_setup_teardown(test_receipts, eco_test_cluster_setup,
                                      eco_test_cluster_teardown),
      cmocka_unit_test_setup_teardown(test_admin, eco_test_cluster_setup,
                                      eco_test_cluster_teardown),
      cmocka_unit_test_setup_teardown(test_failover_scripted, eco_test_cluster_setup,
                                      eco_test_cluster_teardown),
      cmocka_unit_test_setup_teardown(test_failover_kill, eco_test_cluster_setup,
                                      eco_test_cluster_teardown),
      cmocka_unit_test_setup_teardown(test_streaming, eco_test_cluster_setup,
                                      eco_test_cluster_teardown),
      cmocka_unit_test_setup_teardown(test_stream_dies_midway, eco_test_cluster_setup,
                                      eco_test_cluster_teardown),
      cmocka_unit_test_setup_teardown(test_health, eco_test_cluster_setup,
                                      eco_test_cluster_teardown),
      cmocka_unit_test_setup_teardown(test_batch_window, eco_test_cluster_setup,
                                      eco_test_cluster_teardown),
      cmocka_unit_test_setup_teardown(test_trace_intensity, eco_test_cluster_setup,
                                      eco_test_cluster_teardown),
      cmocka_unit_test(test_cli),
      cmocka_unit_test(test_agent_server),
      cmocka_unit_test_setup_teardown(test_router_uses_agent, eco_test_cluster_setup,
                                      eco_test_cluster_teardown),
      cmocka_unit_test_setup_teardown(test_client_disconnect, eco_test_cluster_setup,
                                      eco_test_cluster_teardown),
      cmocka_unit_test_setup_teardown(test_node_profile_from_v1_node, eco_test_cluster_setup,
                                      eco_test_cluster_teardown),
      cmocka_unit_test_setup_teardown(test_stale_load_report, eco_test_cluster_setup,
                                      eco_test_cluster_teardown),
      cmocka_unit_test_setup_teardown(test_dashboard_state, eco_test_cluster_setup,
                                      eco_test_cluster_teardown),
      cmocka_unit_test_setup_teardown(test_dashboard_directives, eco_test_cluster_setup,
                                      eco_test_cluster_teardown),
      cmocka_unit_test(test_dashboard_browser),
  };
  if (getenv("ECO_TEST_FILTER")) cmocka_set_test_filter(getenv("ECO_TEST_FILTER"));
  int rc = cmocka_run_group_tests_name("router", tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
