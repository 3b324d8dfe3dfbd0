/* Integration tests for the router gateway (src/router/gateway.c and
 * gw_*.c) against fake OpenAI-compatible backends on loopback
 * (tests/helpers/router_fixture.h): each policy's choice, per-request
 * policy and SLO headers, receipts, batch windows bounded by the SLO, zone
 * intensities from traces, the config loader, the SSE helpers and the
 * command. Proxying and failover are in test_router_proxy.c, the admin API,
 * health and node reports in test_router_nodes.c, the dashboard in
 * test_router_dash.c. */
#include "router_fixture.h"
#include "testutil.h"

#include "router/router.h"
#include "router/sse.h"
#include "util/config.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

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
  eco_test_expect_node(t, "slo-carbon", "3000", "C");
  eco_test_expect_node(t, "slo-carbon", "500", "A"); /* none meets it: the fastest */
  eco_test_expect_node(t, "latency", NULL, "A");
  eco_test_expect_node(t, "greedy", NULL, "A");
  eco_test_expect_node(t, NULL, NULL, "A"); /* configured default: latency */
  eco_test_expect_node(t, "carbon", NULL, "B");
  eco_test_router_stop(t);
  eco_test_router_start(t, y);
  /* round-robin visits every node */
  int seen[3] = {0};
  for (int i = 0; i < 6; i++) {
    eco_test_resp r;
    eco_test_chat(t, "round-robin", NULL, &r);
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
  eco_test_chat(t, "fastest", NULL, &r);
  assert_int_equal(r.code, 400);
  assert_non_null(strstr(r.body, "x-ecoinfer-policy"));
  eco_test_resp_free(&r);
  eco_test_chat(t, NULL, "-5", &r);
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
  eco_test_router *t = eco_test_cluster_route(cl, 3, NULL);
  /* Node receipt (B, ecoinfer-like) extended with the decision. */
  eco_test_resp r;
  eco_test_chat(t, "carbon", NULL, &r);
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
  eco_test_chat(t, "latency", NULL, &r);
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
}

typedef struct bclient {
  const eco_test_router *t;
  const char *slo;
  eco_test_resp r;
} bclient;

static void *batch_thread(void *arg) {
  bclient *c = arg;
  eco_test_chat(c->t, "latency", c->slo, &c->r);
  return NULL;
}

static void test_batch_window(void **state) {
  eco_test_cluster *cl = *state;
  /* A 20 s window: requests only finish within curl's 8 s timeout if the
   * window is cut short, by a full batch (2 prompts) or by the SLO. */
  eco_test_router *t = eco_test_cluster_route(cl, 1, "  batch: {max: 2, window: 20s}\n");
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sse_helpers),
      cmocka_unit_test(test_config_errors),
      cmocka_unit_test_setup_teardown(test_policies, eco_test_cluster_setup,
                                      eco_test_cluster_teardown),
      cmocka_unit_test_setup_teardown(test_receipts, eco_test_cluster_setup,
                                      eco_test_cluster_teardown),
      cmocka_unit_test_setup_teardown(test_batch_window, eco_test_cluster_setup,
                                      eco_test_cluster_teardown),
      cmocka_unit_test_setup_teardown(test_trace_intensity, eco_test_cluster_setup,
                                      eco_test_cluster_teardown),
      cmocka_unit_test(test_cli),
  };
  return ECO_TEST_ROUTER_MAIN("router", tests);
}
