/* The router's own ledger rows (issue 18): one per routed request, with the
 * policy, the directive level, the engine, the prediction, the
 * counterfactual (greedy, no directive) and the savings by lever; receipts
 * of backends that send none are built by the router and kept; the
 * directive lever is claimed only from measured answer lengths. Fake
 * backends and the router fixture (tests/helpers/router_fixture.h). */
#include "router_fixture.h"
#include "testutil.h"

#include "carbon/ledger.h"
#include "directive/dmodel.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* At PL's 800 gCO2/kWh the plan is all level 2 (see test_router_directive). */
static const char *const DIRECTIVE_YAML = "directive:\n  plan: lp\n  ci_min: 100\n  ci_max: 600\n  "
                                          "xi: 0.1\n  threshold: 0.1\n  zone: PL\n"
                                          "  stats:\n"
                                          "    - {energy_kwh: 0.001, time_s: 1, pref: 0.5}\n"
                                          "    - {energy_kwh: 0.0005, time_s: 1, pref: 0.3}\n"
                                          "    - {energy_kwh: 0.0001, time_s: 1, pref: 0.48}\n";

static const char *CHAT = "{\"model\":\"m\",\"max_tokens\":200,\"messages\":["
                          "{\"role\":\"user\",\"content\":\"hello there\"}]}";

typedef struct rows {
  int n, router, directive_saved, level2, level0, estimated;
  double q_min; /* smallest no-directive / directive ratio among rows that claim one */
} rows;

static int on_row(const eco_ledger_entry *e, void *user) {
  rows *r = user;
  r->n++;
  assert_int_equal(e->recorder, ECO_LEDGER_BY_ROUTER);
  assert_int_equal(e->kind, ECO_LEDGER_REQUEST);
  assert_string_equal(e->policy, "carbon");
  assert_string_equal(e->model, "m");
  assert_string_equal(e->facts.engine, "openai");
  assert_true(e->facts.predicted_g > 0);
  assert_true(e->facts.counterfactual_g > 0);
  assert_true(e->receipt.total_g > 0);
  /* the modelled carbon (the prediction at the measured length) is positive */
  const eco_ledger_facts *f = &e->facts;
  double modelled =
      f->counterfactual_g - f->saved_routing_g - f->saved_directive_g - f->saved_shifting_g;
  assert_true(modelled > 0);
  r->router++;
  if (e->directive_level == 2) r->level2++;
  if (e->directive_level == 0) r->level0++;
  if (e->directive_level == 0) assert_true(f->saved_directive_g == 0);
  if (f->saved_directive_g > 0) {
    r->directive_saved++;
    double q = (modelled + f->saved_directive_g) / modelled;
    if (r->q_min == 0 || q < r->q_min) r->q_min = q;
  }
  /* B and C send no receipt: the router's estimate is kept */
  if (strcmp(e->node, "A") != 0) {
    assert_non_null(strstr(e->receipt.method, "router"));
    r->estimated++;
  }
  return 0;
}

static void send(const eco_test_router *t, const char *const *hdrs) {
  char url[128];
  snprintf(url, sizeof url, "%s/v1/chat/completions", t->url);
  eco_test_resp r;
  assert_int_equal(eco_test_http(NULL, url, CHAT, hdrs, &r), 0);
  if (r.code != 200) fail_msg("status %ld: %s", r.code, r.body);
  eco_test_resp_free(&r);
}

static void test_router_rows(void **state) {
  eco_test_cluster *cl = *state;
  cl->b[0].with_carbon = true;
  for (int i = 0; i < 3; i++)
    cl->b[i].brief = true;
  char *d = eco_test_tmpdir();
  char *path = eco_test_path(d, "router.db");
  eco_ledger *l = NULL;
  eco_error err = {0};
  assert_int_equal(eco_ledger_open(path, NULL, &l, &err), 0);
  char *y = eco_test_cluster_yaml(cl->b, 3, NULL);
  char yaml[8192];
  snprintf(yaml, sizeof yaml, "%s%s", y, DIRECTIVE_YAML);
  free(y);
  cl->rt.ledger = l;
  eco_test_router_start(&cl->rt, yaml);
  const char *off[] = {"x-ecoinfer-policy: carbon", "x-ecoinfer-directive: off", NULL};
  const char *on[] = {"x-ecoinfer-policy: carbon", NULL};
  /* level 0 answers first (100 tokens), then level 2 (14 tokens): the
   * directive lever is claimed once each level has 3 answers */
  for (int i = 0; i < 4; i++)
    send(&cl->rt, off);
  for (int i = 0; i < 6; i++)
    send(&cl->rt, on);
  char url[128];
  snprintf(url, sizeof url, "%s/metrics", cl->rt.url);
  eco_test_resp m;
  assert_int_equal(eco_test_http("GET", url, NULL, NULL, &m), 0);
  assert_non_null(strstr(m.body, "ecoinfer_router_ledger_rows_total 10\n"));
  assert_non_null(strstr(m.body, "ecoinfer_router_ledger_errors_total 0\n"));
  assert_non_null(strstr(m.body, "ecoinfer_router_saved_gco2_total{lever=\"directives\"} "));
  eco_test_resp_free(&m);
  eco_test_router_stop(&cl->rt); /* every row is written */
  rows r = {0};
  assert_int_equal(eco_ledger_foreach(l, 0, 0, on_row, &r, &err), 0);
  assert_int_equal(r.n, 10);
  assert_int_equal(r.level0, 4);
  assert_int_equal(r.level2, 6);
  assert_int_equal(r.directive_saved, 3); /* level-2 answers 4, 5 and 6 */
  /* 100 tokens instead of 14: decode dominates the prediction */
  assert_true(r.q_min > 3);
  eco_ledger_levers v;
  assert_int_equal(eco_ledger_levers_sum(l, 0, 0, &v, &err), 0);
  assert_int_equal(v.requests, 10);
  assert_int_equal(v.with_facts, 10);
  assert_true(v.directive_g > 0);
  assert_true(v.routing_g >= 0); /* carbon never predicts more than greedy */
  assert_true(fabs(v.baseline_g - (v.actual_g + v.routing_g + v.directive_g + v.shifting_g)) <
              1e-12);
  eco_ledger_close(l);
  cl->rt.ledger = NULL;
  free(path);
  eco_test_rmtree(d);
  free(d);
}

/* A two-class directive model (trivia, math) trained on 40 made-up prompts
 * (tests/helpers/router_fixture.h). */
static int preferred(int i, bool trivia) { return trivia ? i % 3 : 0; }

static void train_model(const char *path) { eco_test_dmodel_write(path, 40, preferred); }

static int group_row(const eco_ledger_entry *e, void *user) {
  char(*g)[32] = user;
  snprintf(g[e->prompt_tokens > 0 && strstr(e->facts.group, "math") ? 1 : 0], 32, "%s",
           e->facts.group);
  return 0;
}

/* With the live plan (issue 17) the row names the prompt classifier's group. */
static void test_router_rows_group(void **state) {
  eco_test_cluster *cl = *state;
  char *d = eco_test_tmpdir();
  char *path = eco_test_path(d, "router.db"), *model = eco_test_path(d, "d.model");
  train_model(model);
  eco_ledger *l = NULL;
  eco_error err = {0};
  assert_int_equal(eco_ledger_open(path, NULL, &l, &err), 0);
  char yaml[2048];
  snprintf(yaml, sizeof yaml,
           "router: {port: 0, admin_port: 0, policy: latency, health: {interval: 100ms}}\n"
           "zones: {PL: 800}\nnodes:\n  - id: N\n    url: %s\n    zone: PL\n"
           "    profile: {prefill_tps: 1000, decode_tps: 100, j_per_token: 1.0}\n"
           "directive:\n  model: %s\n  zone: PL\n  ci_min: 100\n  ci_max: 600\n  xi: 0\n",
           eco_test_httpd_url(cl->b[0].h), model);
  cl->rt.ledger = l;
  eco_test_router_start(&cl->rt, yaml);
  char url[128];
  snprintf(url, sizeof url, "%s/v1/chat/completions", cl->rt.url);
  static const char *const q[] = {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
                                  "\"Which city is the capital of country number 7?\"}]}",
                                  "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
                                  "\"Compute 31 * 7 + 12 and show every step.\"}]}"};
  for (int i = 0; i < 2; i++) {
    eco_test_resp r;
    assert_int_equal(eco_test_http(NULL, url, q[i], NULL, &r), 0);
    if (r.code != 200) fail_msg("status %ld: %s", r.code, r.body);
    eco_test_resp_free(&r);
  }
  eco_test_router_stop(&cl->rt);
  char g[2][32] = {"", ""};
  assert_int_equal(eco_ledger_foreach(l, 0, 0, group_row, g, &err), 0);
  assert_non_null(strstr(g[0], "trivia/"));
  assert_non_null(strstr(g[1], "math/"));
  eco_ledger_agg *a = NULL;
  size_t na = 0;
  assert_int_equal(eco_ledger_aggregate(l, ECO_GROUP_GROUP, 0, 0, &a, &na, &err), 0);
  assert_int_equal(na, 2);
  free(a);
  eco_ledger_close(l);
  cl->rt.ledger = NULL;
  eco_test_rmtree(d);
  free(d);
  free(path);
  free(model);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_router_rows, eco_test_cluster_setup,
                                      eco_test_cluster_teardown),
      cmocka_unit_test_setup_teardown(test_router_rows_group, eco_test_cluster_setup,
                                      eco_test_cluster_teardown),
  };
  return cmocka_run_group_tests_name("router_ledger", tests, NULL, NULL);
}
