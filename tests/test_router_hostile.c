/* The router against hostile HTTP clients (issue 19):
 *  - raw HTTP that breaks RFC 9112 framing gets the right status with an
 *    OpenAI-style JSON error on the public and the admin port, never
 *    libevent's HTML (tests/helpers/rawhttp.c holds the cases, shared with
 *    the node's test);
 *  - a body that is not JSON gets code "invalid_json";
 *  - idle and half-sent client connections are closed after
 *    router.client_timeout;
 *  - router.api_keys: every /v1/ path (files and batches too), /metrics and the
 *    dashboard need a key, per-key rate limits answer 429, the client's key
 *    is not sent on, a node's own api_key is (proxying and health checks);
 *  - config: keys from the environment or a file, an open admin API on a
 *    public address refused with FILE:LINE:COL. */
#include "testutil.h"

#include "rawhttp.h"
#include "router_fixture.h"
#include "util/config.h"

#include <curl/curl.h>
#include <jansson.h>
#include <signal.h>
#include <unistd.h>

static int port_of(const char *url) { return atoi(strrchr(url, ':') + 1); }

static void test_router_http_framing(void **state) {
  eco_test_cluster *cl = *state;
  char *y = eco_test_cluster_yaml(cl->b, 2, NULL);
  eco_test_router_start(&cl->rt, y);
  free(y);
  eco_test_hostile_expect(port_of(cl->rt.url), "/v1/chat/completions", 8u << 20, "public port");
  eco_test_hostile_expect(port_of(cl->rt.admin), "/admin/policy", 65536, "admin port");
  /* a body that is not JSON: a client error with a code */
  char url[128];
  snprintf(url, sizeof url, "%s/v1/chat/completions", cl->rt.url);
  eco_test_resp out;
  assert_int_equal(eco_test_http(NULL, url, "{\"model\": ", NULL, &out), 0);
  assert_int_equal(out.code, 400);
  json_t *j = json_loads(out.body, 0, NULL);
  const char *code = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
  if (!code || strcmp(code, "invalid_json") != 0) fail_msg("invalid JSON: %s", out.body);
  json_decref(j);
  eco_test_resp_free(&out);
  /* a valid request through a chunked body still works */
  const char *body = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  char req[1024];
  int len = snprintf(req, sizeof req,
                     "POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n%zx\r\n%s\r\n0\r\n\r\n",
                     strlen(body), body);
  eco_test_raw r;
  assert_int_equal(eco_test_raw_send(port_of(cl->rt.url), req, (size_t)len, 7, 5000, &r), 0);
  if (r.status != 200) fail_msg("chunked through the router: %s", r.data);
  eco_test_raw_free(&r);
}

static void test_router_client_timeout(void **state) {
  eco_test_cluster *cl = *state;
  char *y = eco_test_cluster_yaml(cl->b, 1, "  client_timeout: 700ms\n");
  eco_test_router_start(&cl->rt, y);
  free(y);
  int port = port_of(cl->rt.url);
  eco_test_raw r;
  /* idle: connected, nothing sent */
  assert_int_equal(eco_test_raw_send(port, "", 0, 0, 5000, &r), 0);
  if (!r.closed || r.wait_s < 0.5 || r.wait_s > 3)
    fail_msg("idle: closed %d after %.2f s", r.closed, r.wait_s);
  eco_test_raw_free(&r);
  /* half-sent head */
  const char *half = "POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Le";
  assert_int_equal(eco_test_raw_send(port, half, strlen(half), 0, 5000, &r), 0);
  if (!r.closed || r.wait_s > 3)
    fail_msg("half-sent head: closed %d after %.2f s", r.closed, r.wait_s);
  eco_test_raw_free(&r);
  /* half-sent body */
  const char *hb = "POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{";
  assert_int_equal(eco_test_raw_send(port, hb, strlen(hb), 0, 5000, &r), 0);
  if (!r.closed || r.wait_s > 3)
    fail_msg("half-sent body: closed %d after %.2f s", r.closed, r.wait_s);
  eco_test_raw_free(&r);
  /* kept alive after an answer, then idle */
  const char *h = "GET /health HTTP/1.1\r\nHost: t\r\n\r\n";
  assert_int_equal(eco_test_raw_until_close(port, h, strlen(h), 5000, &r), 0);
  if (r.status != 200 || !r.closed || r.wait_s > 3)
    fail_msg("idle after an answer: status %d closed %d after %.2f s", r.status, r.closed,
             r.wait_s);
  eco_test_raw_free(&r);
}

static long get(const char *url, const char *key, eco_test_resp *out) {
  char h[128];
  snprintf(h, sizeof h, "Authorization: Bearer %s", key ? key : "");
  const char *hdrs[] = {h, NULL};
  assert_int_equal(eco_test_http("GET", url, NULL, key ? hdrs : NULL, out), 0);
  return out->code;
}

static long post(const char *url, const char *key, eco_test_resp *out) {
  char h[128];
  snprintf(h, sizeof h, "Authorization: Bearer %s", key ? key : "");
  const char *hdrs[] = {h, NULL};
  const char *body = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  assert_int_equal(eco_test_http(NULL, url, body, key ? hdrs : NULL, out), 0);
  return out->code;
}

static void expect_code(eco_test_resp *out, long status, const char *code, const char *what) {
  json_t *j = json_loads(out->body, 0, NULL);
  const char *c = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
  if (out->code != status || !c || strcmp(c, code) != 0)
    fail_msg("%s: want %ld %s, got %ld: %s", what, status, code, out->code, out->body);
  json_decref(j);
  eco_test_resp_free(out);
}

#define KEY_A "sk-test-aaaaaaaaaaaaaaaa"
#define KEY_B "sk-test-bbbbbbbbbbbbbbbb"
#define KEY_N "node-key-cccccccccccccccc"

static void test_router_api_keys(void **state) {
  eco_test_cluster *cl = *state;
  setenv("ECO_TEST_ROUTER_KEY_B", KEY_B, 1);
  char *y = eco_test_cluster_yaml(cl->b, 2,
                                  "  api_keys:\n"
                                  "    - {key: '" KEY_A "', name: a}\n"
                                  "    - {key_env: ECO_TEST_ROUTER_KEY_B, name: b, rpm: 60, "
                                  "burst: 2}\n");
  /* node B has its own key (appended to its entry) */
  char *yb = malloc(strlen(y) + 128);
  snprintf(yb, strlen(y) + 128, "%s    api_key: '" KEY_N "'\n", y);
  eco_test_router_start(&cl->rt, yb);
  free(y);
  free(yb);
  char url[160];
  eco_test_resp out;
  snprintf(url, sizeof url, "%s/v1/chat/completions", cl->rt.url);
  post(url, NULL, &out);
  expect_code(&out, 401, "invalid_api_key", "chat without a key");
  post(url, "sk-test-wrong-wrong-wrong", &out);
  expect_code(&out, 401, "invalid_api_key", "chat with a wrong key");
  for (int i = 0; i < 4; i++) { /* the backends are fast: both nodes serve in turn */
    if (post(url, KEY_A, &out) != 200) fail_msg("chat with key a: %ld %s", out.code, out.body);
    eco_test_resp_free(&out);
  }
  /* the router's key is its own: no backend saw it; node B got its own key */
  for (int i = 0; i < 2; i++) {
    eco_test_request q;
    if (eco_test_httpd_last(cl->b[i].h, "/v1/chat/completions", &q) != 0) continue;
    char v[160];
    eco_test_request_header(&q, "Authorization", v, sizeof v);
    const char *want = i == 1 ? "Bearer " KEY_N : "";
    if (strcmp(v, want) != 0) fail_msg("backend %d saw Authorization '%s'", i, v);
    eco_test_request_free(&q);
  }
  eco_test_request q;
  /* the first health check may come after the chats on a quiet host: wait for one */
  int hrc = -1;
  for (int i = 0; i < 100 && (hrc = eco_test_httpd_last(cl->b[1].h, "/health", &q)) != 0; i++)
    usleep(50000);
  assert_int_equal(hrc, 0);
  char v[160];
  eco_test_request_header(&q, "Authorization", v, sizeof v);
  if (strcmp(v, "Bearer " KEY_N) != 0) fail_msg("node B's health check sent '%s'", v);
  eco_test_request_free(&q);
  /* key b: a burst of 2, then 429 with Retry-After */
  for (int i = 0; i < 2; i++) {
    if (post(url, KEY_B, &out) != 200) fail_msg("key b, request %d: %ld", i, out.code);
    eco_test_resp_free(&out);
  }
  post(url, KEY_B, &out);
  char ra[16];
  if (!eco_test_resp_header(&out, "Retry-After", ra, sizeof ra)[0]) fail_msg("no Retry-After");
  expect_code(&out, 429, "rate_limit_exceeded", "key b over its rate");
  /* every /v1/ path, /metrics and the dashboard; /health stays open */
  const char *const paths[] = {"/v1/models", "/v1/files",  "/v1/batches",
                               "/metrics",   "/dashboard", "/dashboard/api/state"};
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
    snprintf(url, sizeof url, "%s%s", cl->rt.url, paths[i]);
    get(url, NULL, &out);
    expect_code(&out, 401, "invalid_api_key", paths[i]);
    if (get(url, KEY_A, &out) == 401) fail_msg("%s with key a: 401", paths[i]);
    eco_test_resp_free(&out);
  }
  snprintf(url, sizeof url, "%s/dashboard/api/state?key=" KEY_A, cl->rt.url);
  if (get(url, NULL, &out) != 200) fail_msg("dashboard state with ?key=: %ld", out.code);
  eco_test_resp_free(&out);
  snprintf(url, sizeof url, "%s/health", cl->rt.url);
  if (get(url, NULL, &out) != 200) fail_msg("/health: %ld", out.code);
  eco_test_resp_free(&out);
}

/* A config error: the message must name want (position, key, reason). */
static void expect_config_error(const char *yaml, const char *want) {
  eco_cfg *cfg = NULL;
  eco_error err = {0};
  assert_int_equal(eco_cfg_load_string(yaml, "c.yaml", &cfg, &err), 0);
  eco_router_cfg rc;
  int e = eco_router_cfg_load(cfg, &rc, &err);
  eco_cfg_free(cfg);
  if (!e) {
    eco_router_cfg_free(&rc);
    fail_msg("accepted: %s", yaml);
  }
  if (!strstr(eco_error_text(&err), want))
    fail_msg("error '%s' does not say '%s'", eco_error_text(&err), want);
}

static void test_router_key_config(void **state) {
  (void)state;
  const char *nodes = "nodes:\n  - id: a\n    url: 'http://127.0.0.1:1'\n";
  char y[1024];
  snprintf(y, sizeof y, "router:\n  admin_host: 0.0.0.0\n%s", nodes);
  expect_config_error(y, "c.yaml:2:15: key 'router.admin_host'");
  snprintf(y, sizeof y, "router:\n  api_keys: ['short']\n%s", nodes);
  expect_config_error(y, "c.yaml:2:14: key 'router.api_keys.0'");
  snprintf(y, sizeof y, "router:\n  api_keys:\n    - {key_env: ECO_TEST_UNSET_VAR_X}\n%s", nodes);
  expect_config_error(y, "ECO_TEST_UNSET_VAR_X is not set");
  snprintf(y, sizeof y, "router:\n  api_keys:\n    - {key_file: /nonexistent/k}\n%s", nodes);
  expect_config_error(y, "cannot read '/nonexistent/k'");
  snprintf(y, sizeof y, "router:\n  api_keys:\n    - {key: '" KEY_A "', rpm: -1}\n%s", nodes);
  expect_config_error(y, "c.yaml:3:46: key 'router.api_keys.0.rpm'");
  snprintf(y, sizeof y, "router:\n  api_keys:\n    - {key: '" KEY_A "', rate: 1}\n%s", nodes);
  expect_config_error(y, "rate");
  snprintf(y, sizeof y, "%s    api_key_env: ECO_TEST_UNSET_VAR_Y\n", nodes);
  expect_config_error(y, "c.yaml:4:18: key 'nodes.0.api_key_env'");
  /* what loads: a token from a file opens a public admin address; keys from files */
  char *dir = eco_test_tmpdir();
  char *tf = eco_test_path(dir, "token");
  FILE *f = fopen(tf, "w");
  fputs("admin-token-from-a-file\n", f);
  fclose(f);
  snprintf(y, sizeof y,
           "router:\n  admin_host: 0.0.0.0\n  admin_token_file: %s\n"
           "  api_keys:\n    - {key_file: %s}\n%s    api_key_file: %s\n",
           tf, tf, nodes, tf);
  eco_cfg *cfg = NULL;
  eco_error err = {0};
  assert_int_equal(eco_cfg_load_string(y, "c.yaml", &cfg, &err), 0);
  eco_router_cfg rc;
  if (eco_router_cfg_load(cfg, &rc, &err)) fail_msg("%s", eco_error_text(&err));
  eco_cfg_free(cfg);
  assert_string_equal(rc.admin_token, "admin-token-from-a-file");
  assert_int_equal(rc.n_api_keys, 1);
  assert_string_equal(rc.api_keys[0].key, "admin-token-from-a-file");
  assert_string_equal(rc.nodes[0].api_key, "admin-token-from-a-file");
  /* the same check when the router is built from a struct (flags) */
  rc.admin_token[0] = '\0';
  eco_router *r = NULL;
  if (eco_router_new(&rc, NULL, &r, &err) == 0) {
    eco_router_free(r);
    fail_msg("a router with a public admin API and no token started");
  }
  if (!strstr(eco_error_text(&err), "without a token")) fail_msg("%s", eco_error_text(&err));
  eco_router_cfg_free(&rc);
  free(tf);
  eco_test_rmtree(dir);
  free(dir);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_router_http_framing, eco_test_cluster_setup,
                                      eco_test_cluster_teardown),
      cmocka_unit_test_setup_teardown(test_router_client_timeout, eco_test_cluster_setup,
                                      eco_test_cluster_teardown),
      cmocka_unit_test_setup_teardown(test_router_api_keys, eco_test_cluster_setup,
                                      eco_test_cluster_teardown),
      cmocka_unit_test(test_router_key_config),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
