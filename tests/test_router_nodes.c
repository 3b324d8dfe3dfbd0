/* The router's view of its nodes, against fake backends on loopback
 * (tests/helpers/router_fixture.h): the admin API (policy, intensities,
 * nodes), health checks, profiles seeded from an ecoinfer node's /v1/node,
 * stale load reports, and energy from a host's agent (the agent server,
 * and the router's receipts from its meters). DNS discovery is in
 * test_router_dns.c. */
#include "router_fixture.h"
#include "testutil.h"

#include "carbon/intensity.h"
#include "energy/agent.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void test_admin(void **state) {
  eco_test_cluster *cl = *state;
  eco_test_router *t = eco_test_cluster_route(cl, 3, "  admin_token: s3cret\n");
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
  eco_test_expect_node(t, NULL, NULL, "B");
  /* SE becomes dirty at run time: carbon moves to C (FR, 300). */
  snprintf(url, sizeof url, "%s/admin/intensity", t->admin);
  assert_int_equal(eco_test_http("PUT", url, "{\"zone\":\"SE\",\"gco2_kwh\":5000}", auth, &r), 0);
  assert_int_equal(r.code, 200);
  eco_test_resp_free(&r);
  eco_test_expect_node(t, NULL, NULL, "C");
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
}

/* Health: a node that goes away is marked down. DNS discovery has its own
 * test, against a DNS server it controls (test_router_dns.c). */
static void test_health(void **state) {
  eco_test_cluster *cl = *state;
  eco_test_backend *b = cl->b;
  eco_test_router *t = eco_test_cluster_route(cl, 2, NULL);
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
  eco_test_chat(t, "carbon", NULL, &r);
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
  eco_test_expect_node(t, NULL, NULL, "N");
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
    active = eco_test_router_node_int(t, "N", "active_batch");
    if (active != 1) usleep(10000);
  }
  assert_int_equal(active, 1);
  const size_t polls = eco_test_httpd_count(b[0].h, "/v1/node");
  /* that request finishes (ours): the report is now stale */
  eco_test_resp r;
  eco_test_chat(t, NULL, NULL, &r);
  assert_int_equal(r.code, 200);
  eco_test_resp_free(&r);
  active = eco_test_router_node_int(t, "N", "active_batch");
  if (eco_test_httpd_count(b[0].h, "/v1/node") == polls) /* no new poll in between */
    assert_int_equal(active, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_admin, eco_test_cluster_setup,
                                      eco_test_cluster_teardown),
      cmocka_unit_test_setup_teardown(test_health, eco_test_cluster_setup,
                                      eco_test_cluster_teardown),
      cmocka_unit_test(test_agent_server),
      cmocka_unit_test_setup_teardown(test_router_uses_agent, eco_test_cluster_setup,
                                      eco_test_cluster_teardown),
      cmocka_unit_test_setup_teardown(test_node_profile_from_v1_node, eco_test_cluster_setup,
                                      eco_test_cluster_teardown),
      cmocka_unit_test_setup_teardown(test_stale_load_report, eco_test_cluster_setup,
                                      eco_test_cluster_teardown),
  };
  return ECO_TEST_ROUTER_MAIN("router_nodes", tests);
}
