/* Generation directives in the router: the Sprout plan drives the level of
 * every request, which is forwarded to ecoinfer nodes as
 * x-ecoinfer-directive-level (or applied to the messages for foreign
 * backends) and recorded in usage.carbon.router.directive_level. Fake
 * backends on loopback and the router fixture (tests/helpers/router_fixture.h). */
#include "router_fixture.h"
#include "testutil.h"

#include "router/directive_hook.h"
#include "server/backend_fake.h"
#include "server/server.h"
#include "router/router.h"
#include "util/config.h"

#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Level 2 is almost as preferred as level 0 and much cheaper: at the top of
 * the intensity range (floor 0.9 q0 = 0.45) the plan is all level 2; at the
 * bottom (floor q0 = 0.5) only level 0 qualifies. */
static const char *const DIRECTIVE_YAML = "directive:\n  plan: lp\n  ci_min: 100\n  ci_max: 600\n  "
                                          "xi: 0.1\n  threshold: 0.1\n  zone: PL\n"
                                          "  routes: {/v1/completions: 1}\n  stats:\n"
                                          "    - {energy_kwh: 0.001, time_s: 1, pref: 0.5}\n"
                                          "    - {energy_kwh: 0.0005, time_s: 1, pref: 0.3}\n"
                                          "    - {energy_kwh: 0.0001, time_s: 1, pref: 0.48}\n";

/* Runs the router in front of one node at url of kind (ecoinfer or openai). */
static void directive_router_start(eco_test_router *t, const char *url, const char *kind) {
  char yaml[2048];
  snprintf(yaml, sizeof yaml,
           "router: {port: 0, admin_port: 0, policy: latency, health: {interval: 100ms}}\n"
           "zones: {PL: 800}\nnodes:\n  - id: N\n    url: %s\n    zone: PL\n    kind: %s\n"
           "    profile: {prefill_tps: 1000, decode_tps: 100, j_per_token: 1.0}\n%s",
           url, kind, DIRECTIVE_YAML);
  eco_test_router_start(t, yaml);
}

/* Sends body to url (method NULL: POST); returns the status, *out the body (malloc'd). */
static long post(const char *url, const char *method, const char *body, const char *hdr,
                 char **out) {
  const char *hdrs[] = {hdr, NULL};
  eco_test_resp r;
  int rc = eco_test_http(method, url, body, hdr ? hdrs : NULL, &r);
  *out = r.body;
  return rc == 0 ? r.code : -1;
}

static const char *CHAT = "{\"model\":\"m\",\"max_tokens\":10,\"messages\":["
                          "{\"role\":\"system\",\"content\":\"Be kind.\"},"
                          "{\"role\":\"user\",\"content\":\"hello\"}]}";

/* Sends one request through the router; returns
 * usage.carbon.router.directive_level of the answer. */
static int send_one(const eco_test_router *t, const char *path, const char *body, const char *hdr) {
  char url[128], *out;
  snprintf(url, sizeof url, "%s%s", t->url, path);
  long code = post(url, NULL, body, hdr, &out);
  if (code != 200) fail_msg("status %ld: %s", code, out ? out : "");
  json_t *j = json_loads(out, 0, NULL);
  assert_non_null(j);
  json_t *l = json_object_get(
      json_object_get(json_object_get(json_object_get(j, "usage"), "carbon"), "router"),
      "directive_level");
  if (!json_is_integer(l)) fail_msg("no usage.carbon.router.directive_level: %s", out);
  int v = (int)json_integer_value(l);
  json_decref(j);
  free(out);
  return v;
}

/* Value of header name in the backend's last request for path, or "". */
static void last_header(eco_test_httpd *h, const char *path, const char *name, char *buf,
                        size_t cap, char **body) {
  eco_test_request q;
  assert_int_equal(eco_test_httpd_last(h, path, &q), 0);
  eco_test_request_header(&q, name, buf, cap);
  if (body) *body = strdup(q.body ? q.body : "");
  eco_test_request_free(&q);
}

/* An ecoinfer node gets the level as a header; the body is unchanged. */
static void test_ecoinfer_node_gets_header(void **state) {
  eco_test_cluster *cl = *state;
  eco_test_backend *be = &cl->b[0];
  be->with_carbon = true; /* answers with a receipt, like a node */
  eco_test_httpd *b = be->h;
  /* the router checks an ecoinfer node's health on GET /v1/node: answer it like
   * a node, or two failed checks mark the node down while the test runs */
  eco_test_response node = {.status = 200,
                            .body = "{\"queue\":{\"depth\":0},\"batch\":{\"active\":0}}"};
  eco_test_httpd_on(b, "GET", "/v1/node", &node);
  eco_test_router *t = &cl->rt;
  directive_router_start(t, eco_test_httpd_url(b), "ecoinfer");
  char v[32], *body;
  for (int i = 0; i < 5; i++) {
    assert_int_equal(send_one(t, "/v1/chat/completions", CHAT, NULL), 2);
    last_header(b, "/v1/chat/completions", "x-ecoinfer-directive-level", v, sizeof v, &body);
    assert_string_equal(v, "2");
    assert_null(strstr(body, "Always answer")); /* the node applies it */
    free(body);
  }
  /* opt-out: level 0 and the opt-out passed on */
  assert_int_equal(send_one(t, "/v1/chat/completions", CHAT, "x-ecoinfer-directive: off"), 0);
  last_header(b, "/v1/chat/completions", "x-ecoinfer-directive-level", v, sizeof v, NULL);
  assert_string_equal(v, "0");
  last_header(b, "/v1/chat/completions", "x-ecoinfer-directive", v, sizeof v, NULL);
  assert_string_equal(v, "off");
  /* the route cap of /v1/completions is 1 */
  assert_int_equal(
      send_one(t, "/v1/completions", "{\"model\":\"m\",\"max_tokens\":5,\"prompt\":\"hi\"}", NULL),
      1);
  last_header(b, "/v1/completions", "x-ecoinfer-directive-level", v, sizeof v, NULL);
  assert_string_equal(v, "1");
}

/* A foreign backend gets the instruction merged into its messages; a clean
 * grid (admin intensity override) re-plans to level 0. */
static void test_foreign_backend_and_replan(void **state) {
  eco_test_cluster *cl = *state;
  eco_test_backend *be = &cl->b[0];
  be->with_carbon = true; /* answers with a receipt, like a node */
  eco_test_httpd *b = be->h;
  eco_test_router *t = &cl->rt;
  directive_router_start(t, eco_test_httpd_url(b), "openai");
  char v[32], *body;
  assert_int_equal(send_one(t, "/v1/chat/completions", CHAT, NULL), 2);
  last_header(b, "/v1/chat/completions", "x-ecoinfer-directive-level", v, sizeof v, &body);
  assert_string_equal(v, ""); /* no header for foreign backends */
  json_t *j = json_loads(body, 0, NULL);
  assert_non_null(j);
  json_t *msgs = json_object_get(j, "messages");
  assert_int_equal(json_array_size(msgs), 2);
  assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 0), "content")),
                      "Always answer very briefly\n\nBe kind.");
  json_decref(j);
  free(body);
  /* the grid gets clean: the intensity moved by more than the threshold */
  char url[128], *out;
  snprintf(url, sizeof url, "%s/admin/intensity", t->admin);
  assert_int_equal(post(url, "PUT", "{\"zone\":\"PL\",\"gco2_kwh\":50}", NULL, &out), 200);
  free(out);
  assert_int_equal(send_one(t, "/v1/chat/completions", CHAT, NULL), 0);
  last_header(b, "/v1/chat/completions", "x-ecoinfer-directive-level", v, sizeof v, &body);
  assert_string_equal(body, CHAT); /* forwarded unchanged */
  free(body);
}

/* End to end: router -> a real ecoinfer node (fake backend): the node
 * applies the level the router drew and both receipts name it. */
static void test_router_to_real_node(void **state) {
  eco_backend be;
  eco_fake_cfg fc;
  eco_fake_cfg_default(&fc);
  fc.model_name = "m";
  assert_int_equal(eco_backend_fake_new(&fc, &be), 0);
  eco_srv_directive_cfg dir;
  eco_srv_directive_cfg_default(&dir);
  eco_server_cfg sc;
  eco_server_cfg_default(&sc);
  sc.port = 0;
  sc.admin_port = -1;
  sc.directive = &dir;
  eco_server *srv;
  eco_error err = {0};
  eco_logger lg;
  eco_log_init(&lg);
  lg.level = ECO_LOG_ERROR;
  if (eco_server_new(&sc, &be, NULL, &lg, &srv, &err)) fail_msg("%s", eco_error_text(&err));
  assert_int_equal(eco_server_start(srv), 0);
  char nurl[64];
  snprintf(nurl, sizeof nurl, "http://127.0.0.1:%d", eco_server_port(srv));
  eco_test_router t = {0};
  directive_router_start(&t, nurl, "ecoinfer");
  char url[128], *out;
  snprintf(url, sizeof url, "%s/v1/chat/completions", t.url);
  assert_int_equal(post(url, NULL, CHAT, NULL, &out), 200);
  json_t *j = json_loads(out, 0, NULL);
  assert_non_null(j);
  json_t *c = json_object_get(json_object_get(j, "usage"), "carbon");
  assert_int_equal(json_integer_value(json_object_get(c, "directive_level")), 2);
  assert_int_equal(
      json_integer_value(json_object_get(json_object_get(c, "router"), "directive_level")), 2);
  json_decref(j);
  free(out);
  char p[512];
  assert_int_equal(eco_backend_fake_last_prompt(&be, p, sizeof p), 0);
  assert_string_equal(p, "system: Always answer very briefly\n\nBe kind.\nuser: hello\n");
  eco_test_router_stop(&t);
  eco_server_shutdown(srv);
  eco_server_join(srv);
  eco_server_free(srv);
  be.vt->destroy(be.self);
}

/* The pure hook: plans, re-plan rule, draws, config errors. */
static void test_hook_pure(void **state) {
  eco_cfg *cfg;
  eco_error err = {0};
  char yaml[1024];
  snprintf(yaml, sizeof yaml, "%s  seed: 7\n", DIRECTIVE_YAML);
  assert_int_equal(eco_cfg_load_string(yaml, "t", &cfg, &err), 0);
  eco_rdir_cfg c;
  assert_int_equal(eco_rdir_cfg_load(cfg, &c, &err), 0);
  eco_cfg_free(cfg);
  assert_true(c.enabled);
  assert_string_equal(c.zone, "PL");
  eco_rdir d;
  eco_rdir_init(&d, &c);
  /* before any plan: level 0 */
  assert_int_equal(eco_rdir_draw(&d, "/v1/chat/completions", NULL), 0);
  assert_int_equal(eco_rdir_update(&d, 0, 800, &err), 0);
  assert_true(d.x[2] > 0.999);
  assert_int_equal(eco_rdir_draw(&d, "/v1/chat/completions", NULL), 2);
  assert_int_equal(eco_rdir_draw(&d, "/v1/chat/completions", " OFF "), 0);
  /* within the threshold and the period: no new solve */
  assert_int_equal(eco_rdir_update(&d, 10, 760, &err), 0);
  assert_int_equal(d.solves, 1);
  /* the period ends: a new solve at the lowest intensity -> level 0 */
  assert_int_equal(eco_rdir_update(&d, 3601, 100, &err), 0);
  assert_int_equal(d.solves, 2);
  assert_true(d.x[0] > 0.999);
  assert_int_equal(eco_rdir_draw(&d, "/v1/chat/completions", NULL), 0);
  /* a mixed plan: the draws follow it */
  c.stats[2].pref = 0.40; /* floor 0.45 at the top: mix of 0 and 2 */
  eco_rdir_init(&d, &c);
  assert_int_equal(eco_rdir_update(&d, 0, 600, &err), 0);
  assert_true(d.x[0] > 0.1 && d.x[2] > 0.1);
  int n2 = 0, N = 20000;
  for (int i = 0; i < N; i++)
    n2 += eco_rdir_draw(&d, "/v1/chat/completions", NULL) == 2;
  assert_true(fabs((double)n2 / N - d.x[2]) < 0.02);
  /* the body rewrite for a raw prompt */
  json_t *b = json_pack("{s:s}", "prompt", "Q");
  char *o;
  size_t ol;
  assert_int_equal(eco_rdir_rewrite_body(&c, 1, b, &o, &ol, &err), 0);
  assert_string_equal(o, "{\"prompt\":\"Always answer briefly\\n\\nQ\"}");
  free(o);
  assert_int_equal(eco_rdir_rewrite_body(&c, 0, b, &o, &ol, &err), 0);
  assert_null(o);
  json_decref(b);
  /* config errors */
  assert_int_equal(
      eco_cfg_load_string("directive:\n  stats: [{energy_kwh: 1, pref: 0.5}]\n", "t", &cfg, &err),
      0);
  assert_int_equal(eco_rdir_cfg_load(cfg, &c, &err), ECO_ECONFIG);
  eco_cfg_free(cfg);
  /* no directive section: off */
  assert_int_equal(eco_cfg_load_string("router: {port: 0}\n", "t", &cfg, &err), 0);
  assert_int_equal(eco_rdir_cfg_load(cfg, &c, &err), 0);
  assert_false(c.enabled);
  eco_cfg_free(cfg);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hook_pure),
      cmocka_unit_test_setup_teardown(test_ecoinfer_node_gets_header, eco_test_cluster_setup,
                                      eco_test_cluster_teardown),
      cmocka_unit_test_setup_teardown(test_foreign_backend_and_replan, eco_test_cluster_setup,
                                      eco_test_cluster_teardown),
      cmocka_unit_test(test_router_to_real_node),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
