/* The router's live directive plan (directive.plan: live): each request's
 * level from its prompt text (a directive model file trained here on two
 * kinds of prompts) and the period plan; the decision in the receipt's
 * router.directive; costs learned from receipts and kept in SQLite across a
 * restart; degraded hours and periods counted in /metrics; the opt-out
 * header and route caps. Fake backends on loopback and the router fixture
 * (tests/helpers/router_fixture.h). Also the pure parts (dlearn.h,
 * dserve.h). */
#include "router_fixture.h"
#include "testutil.h"

#include "directive/dlearn.h"
#include "directive/dmodel.h"
#include "directive/dserve.h"
#include "router/directive_hook.h"
#include "router/router.h"

#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Trivia questions are as good briefly (preferred 0/1/2 = 30/30/40 %);
 * maths needs the full answer (always level 0). */
static int preferred(int i, bool trivia) {
  return trivia ? (i % 10 < 3 ? 0 : i % 10 < 6 ? 1 : 2) : 0;
}

static void train_model_n(const char *path, int n) { eco_test_dmodel_write(path, n, preferred); }

static void train_model(const char *path) { train_model_n(path, 60); }

typedef struct env {
  eco_test_cluster *cl;
  char *dir, *model, *db;
} env;

static void start(env *e, const char *extra) {
  char yaml[2048];
  snprintf(yaml, sizeof yaml,
           "router: {port: 0, admin_port: 0, policy: latency, health: {interval: 100ms}}\n"
           "zones: {PL: 800}\nnodes:\n  - id: N\n    url: %s\n    zone: PL\n    kind: openai\n"
           "    profile: {prefill_tps: 1000, decode_tps: 100, j_per_token: 1.0}\n"
           "directive:\n  model: %s\n  zone: PL\n  ci_min: 100\n  ci_max: 600\n  xi: 0\n"
           "  routes: {/v1/completions: 1}\n  learn: {db: %s, flush: 50ms}\n%s",
           eco_test_httpd_url(e->cl->b[0].h), e->model, e->db, extra ? extra : "");
  eco_test_router_start(&e->cl->rt, yaml);
}

static int setup(void **state) {
  eco_test_cluster_setup(state);
  env *e = calloc(1, sizeof *e);
  e->cl = *state;
  e->cl->b[0].with_carbon = true;
  e->dir = eco_test_tmpdir();
  e->model = eco_test_path(e->dir, "d.model");
  e->db = eco_test_path(e->dir, "costs.db");
  train_model(e->model);
  *state = e;
  return 0;
}

static int teardown(void **state) {
  env *e = *state;
  void *cl = e->cl;
  eco_test_rmtree(e->dir);
  free(e->dir);
  free(e->model);
  free(e->db);
  free(e);
  return eco_test_cluster_teardown(&cl);
}

/* One request with prompt q; returns usage.carbon.router (new reference). */
static json_t *ask(env *e, const char *path, const char *q, const char *hdr) {
  char body[512], url[128];
  if (strcmp(path, "/v1/completions") == 0)
    snprintf(body, sizeof body, "{\"model\":\"m\",\"max_tokens\":50,\"prompt\":\"%s\"}", q);
  else
    snprintf(body, sizeof body,
             "{\"model\":\"m\",\"max_tokens\":50,\"messages\":[{\"role\":\"user\","
             "\"content\":\"%s\"}]}",
             q);
  snprintf(url, sizeof url, "%s%s", e->cl->rt.url, path);
  const char *hdrs[] = {hdr, NULL};
  eco_test_resp r;
  assert_int_equal(eco_test_http(NULL, url, body, hdr ? hdrs : NULL, &r), 0);
  if (r.code != 200) fail_msg("status %ld: %s", r.code, r.body);
  json_t *j = json_loads(r.body, 0, NULL);
  assert_non_null(j);
  json_t *ro = json_object_get(json_object_get(json_object_get(j, "usage"), "carbon"), "router");
  if (!json_is_object(ro)) fail_msg("no usage.carbon.router: %s", r.body);
  json_incref(ro);
  json_decref(j);
  eco_test_resp_free(&r);
  return ro;
}

static int ival(const json_t *o, const char *k) {
  return (int)json_integer_value(json_object_get(o, k));
}

static json_t *admin_get(env *e, const char *path) {
  char url[128];
  snprintf(url, sizeof url, "%s%s", e->cl->rt.admin, path);
  eco_test_resp r;
  assert_int_equal(eco_test_http("GET", url, NULL, NULL, &r), 0);
  assert_int_equal(r.code, 200);
  json_t *j = json_loads(r.body, 0, NULL);
  if (!j) fail_msg("not JSON: %s", r.body);
  eco_test_resp_free(&r);
  return j;
}

/* The level follows the prompt's text: trivia questions are answered
 * briefly (the plan gives their group level 2 with certainty), maths in
 * full; the receipt names the group and the probabilities. */
static void test_level_from_text(void **state) {
  env *e = *state;
  start(e, NULL);
  for (int i = 0; i < 5; i++) {
    json_t *ro = ask(e, "/v1/chat/completions",
                     "Which city is the capital of Spain? Answer with its name.", NULL);
    json_t *d = json_object_get(ro, "directive");
    assert_int_equal(ival(ro, "directive_level"), 2);
    assert_string_equal(json_string_value(json_object_get(d, "plan")), "live");
    assert_non_null(strstr(json_string_value(json_object_get(d, "group")), "trivia/"));
    assert_true(json_real_value(json_object_get(d, "group_p")) > 0.5);
    assert_int_equal(ival(d, "planned_level"), 2);
    assert_true(json_real_value(json_object_get(d, "level_p")) > 0.99);
    assert_false(json_is_true(json_object_get(d, "degraded")));
    json_decref(ro);
  }
  int full = 0;
  for (int i = 0; i < 10; i++) {
    json_t *ro = ask(e, "/v1/chat/completions",
                     "Compute 81 * 9 + 4 and show every step of the working, then check it.", NULL);
    json_t *d = json_object_get(ro, "directive");
    assert_non_null(strstr(json_string_value(json_object_get(d, "group")), "math/"));
    int l = ival(ro, "directive_level");
    full += l == 0;
    /* the receipt's probability is the plan's for the level drawn */
    double p = json_real_value(json_object_get(d, "level_p"));
    assert_true(p > 0 && p <= 1);
    if (l == 0) assert_true(p > 0.8);
    json_decref(ro);
  }
  assert_true(full >= 8);
  /* the backend got the instruction only for the trivia questions (foreign node: in the body) */
  eco_test_request q;
  assert_int_equal(eco_test_httpd_last(e->cl->b[0].h, "/v1/chat/completions", &q), 0);
  eco_test_request_free(&q);
}

/* Opt-out and route caps: the plan still draws (planned_level), the level
 * sent is 0 / the cap. */
static void test_optout_and_cap(void **state) {
  env *e = *state;
  start(e, NULL);
  const char *tq = "Which city is the capital of Chile? Answer with its name.";
  json_t *ro = ask(e, "/v1/chat/completions", tq, "x-ecoinfer-directive: off");
  json_t *d = json_object_get(ro, "directive");
  assert_int_equal(ival(ro, "directive_level"), 0);
  assert_int_equal(ival(d, "planned_level"), 2);
  assert_true(json_is_true(json_object_get(d, "opted_out")));
  json_decref(ro);
  ro = ask(e, "/v1/completions", tq, NULL);
  assert_int_equal(ival(ro, "directive_level"), 1);
  assert_int_equal(ival(json_object_get(ro, "directive"), "planned_level"), 2);
  json_decref(ro);
  /* the raw prompt got the level-1 instruction */
  eco_test_request q;
  assert_int_equal(eco_test_httpd_last(e->cl->b[0].h, "/v1/completions", &q), 0);
  assert_non_null(strstr(q.body, "Always answer briefly\\n\\nWhich city"));
  eco_test_request_free(&q);
}

/* What receipts teach survives a restart: the learned figures come back
 * from SQLite, and /admin/directive names the priors as priors. */
static void test_learned_costs_persist(void **state) {
  env *e = *state;
  start(e, NULL);
  for (int i = 0; i < 6; i++)
    json_decref(ask(e, "/v1/chat/completions",
                    "Which city is the capital of Peru? Answer with its name.", NULL));
  json_t *a = admin_get(e, "/admin/directive");
  assert_string_equal(json_string_value(json_object_get(a, "plan")), "live");
  const char *src = json_string_value(json_object_get(json_object_get(a, "priors"), "source"));
  assert_non_null(strstr(src, "Llama-2-13B"));
  json_t *m0 = json_array_get(json_object_get(a, "models"), 0);
  assert_string_equal(json_string_value(json_object_get(m0, "model")), "m");
  json_t *l2 = json_array_get(json_object_get(m0, "levels"), 2);
  assert_int_equal(ival(l2, "energy_j_receipts"), 6);
  assert_int_equal(ival(l2, "out_tokens_receipts"), 6);
  double ej = json_real_value(json_object_get(l2, "energy_j"));
  /* the fake backend's receipts say 2 J and 100 tokens: far from the prior's 187 J */
  assert_true(ej < 20 && ej > 1.5);
  /* level 0 was never served, but the model's scale moved it too */
  json_t *l0 = json_array_get(json_object_get(m0, "levels"), 0);
  assert_int_equal(ival(l0, "energy_j_receipts"), 0);
  assert_true(json_real_value(json_object_get(l0, "energy_j")) < 100);
  json_decref(a);
  eco_test_router_stop(&e->cl->rt);
  start(e, NULL);
  a = admin_get(e, "/admin/directive");
  m0 = json_array_get(json_object_get(a, "models"), 0);
  assert_string_equal(json_string_value(json_object_get(m0, "model")), "m");
  l2 = json_array_get(json_object_get(m0, "levels"), 2);
  assert_int_equal(ival(l2, "energy_j_receipts"), 6);
  assert_true(fabs(json_real_value(json_object_get(l2, "energy_j")) - ej) < 1e-6 * ej);
  json_decref(a);
}

/* An unreachable floor (margin 0.9): the request is still answered, with
 * the highest-preference plan, marked degraded, and /metrics counts it. */
static void test_degraded_counted(void **state) {
  env *e = *state;
  start(e, "  live: {margin: 0.9}\n");
  json_t *ro = ask(e, "/v1/chat/completions",
                   "Compute 12 * 4 + 9 and show every step of the working, then check it.", NULL);
  json_t *d = json_object_get(ro, "directive");
  assert_true(json_is_true(json_object_get(d, "degraded")));
  assert_int_equal(ival(ro, "directive_level"), 0); /* maths: the judge's favourite */
  json_decref(ro);
  ro = ask(e, "/v1/chat/completions", "Which city is the capital of Egypt? Answer with its name.",
           NULL);
  assert_int_equal(ival(ro, "directive_level"), 2); /* trivia: level 2 is preferred most */
  json_decref(ro);
  char url[128];
  snprintf(url, sizeof url, "%s/metrics", e->cl->rt.url);
  eco_test_resp r;
  assert_int_equal(eco_test_http("GET", url, NULL, NULL, &r), 0);
  assert_non_null(strstr(r.body, "ecoinfer_router_directive_degraded_periods_total 1\n"));
  assert_non_null(strstr(r.body, "ecoinfer_router_directive_degraded_hours_total 1\n"));
  assert_non_null(strstr(r.body, "ecoinfer_router_directive_decisions_total 2\n"));
  eco_test_resp_free(&r);
}

/* POST /admin/directive/reload swaps in the refitted file; a bad file is
 * refused and the running model kept. */
static void test_reload(void **state) {
  env *e = *state;
  start(e, NULL);
  json_decref(ask(e, "/v1/chat/completions",
                  "Which city is the capital of Peru? Answer with its name.", NULL));
  json_t *a = admin_get(e, "/admin/directive");
  assert_int_equal(ival(json_object_get(a, "model"), "training_prompts"), 60);
  json_decref(a);
  train_model_n(e->model, 40);
  char url[128];
  snprintf(url, sizeof url, "%s/admin/directive/reload", e->cl->rt.admin);
  eco_test_resp r;
  assert_int_equal(eco_test_http(NULL, url, "{}", NULL, &r), 0);
  assert_int_equal(r.code, 200);
  eco_test_resp_free(&r);
  a = admin_get(e, "/admin/directive");
  assert_int_equal(ival(json_object_get(a, "model"), "training_prompts"), 40);
  json_decref(a);
  assert_int_equal(eco_test_write_file(e->dir, "d.model", "not a model"), 0);
  assert_int_equal(eco_test_http(NULL, url, "{}", NULL, &r), 0);
  assert_int_equal(r.code, 409);
  eco_test_resp_free(&r);
  json_t *ro = ask(e, "/v1/chat/completions",
                   "Which city is the capital of Peru? Answer with its name.", NULL);
  assert_int_equal(ival(ro, "directive_level"), 2);
  json_decref(ro);
}

/* Config: plan live needs a model; errors name the key. */
static void test_config_errors(void **state) {
  (void)state;
  static const struct {
    const char *yaml, *want;
  } cases[] = {
      {"directive:\n  zone: PL\n",
       "c.yaml:2:3: key 'directive': directive.model: required by directive.plan: live"},
      {"directive:\n  plan: fast\n", "expected live or lp"},
      {"directive:\n  plan: lp\n  live: {floor_period: 90m}\n", "whole hours"},
      {"directive:\n  plan: lp\n  learn: {alpha: 2}\n", "directive.learn.alpha"},
      {"directive:\n  plan: lp\n  learn: {dbb: x}\n", "unknown key 'directive.learn.dbb'"},
      {"directive:\n  plan: lp\n  priors: {energy_j: [1, 2]}\n",
       ":3:22: key 'directive.priors.energy_j'"},
      {"directive:\n  plan: lp\n  priors: {time_s: [1, -2, 3]}\n", "directive.priors.time_s.1"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    eco_cfg *cfg;
    eco_error err = {0};
    assert_int_equal(eco_cfg_load_string(cases[i].yaml, "c.yaml", &cfg, &err), 0);
    eco_rdir_cfg c;
    int rc = eco_rdir_cfg_load(cfg, &c, &err);
    eco_cfg_free(cfg);
    if (rc != ECO_ECONFIG || !strstr(eco_error_text(&err), cases[i].want))
      fail_msg("case %zu: rc %d, '%s' lacks '%s'", i, rc, eco_error_text(&err), cases[i].want);
  }
}

/* The pure learner: a new model starts from the priors, moves toward its
 * receipts, and an unseen level follows the model's scale. */
static void test_dlearn_pure(void **state) {
  (void)state;
  eco_dlearn_cfg c;
  eco_dlearn_cfg_default(&c);
  eco_dlearn d;
  assert_int_equal(eco_dlearn_init(&d, &c), 0);
  assert_true(fabs(eco_dlearn_estimate(&d, -1, 0, ECO_DLEARN_ENERGY) - 1208.77) < 1e-9);
  int s = -1;
  for (int i = 0; i < 100; i++)
    s = eco_dlearn_observe(&d, "tiny", 1, 28.0, 3.88, 0.11);
  assert_true(s >= 0);
  assert_true(fabs(eco_dlearn_estimate(&d, s, 1, ECO_DLEARN_ENERGY) - 28.0) < 0.5);
  /* level 0 unseen: the prior times the learned scale (0.1) */
  assert_true(fabs(eco_dlearn_estimate(&d, s, 0, ECO_DLEARN_ENERGY) - 120.877) < 2);
  /* a change of hardware: the EWMA follows */
  for (int i = 0; i < 200; i++)
    eco_dlearn_observe(&d, "tiny", 1, 56.0, -1, NAN);
  assert_true(fabs(eco_dlearn_estimate(&d, s, 1, ECO_DLEARN_ENERGY) - 56.0) < 2);
  assert_true(fabs(eco_dlearn_estimate(&d, s, 1, ECO_DLEARN_TOKENS) - 3.88) < 0.1);
  assert_int_equal(eco_dlearn_observe(&d, "tiny", 3, 1, 1, 1), -1);
  /* the table is bounded: the least recently used model goes */
  char name[32];
  for (int i = 0; i < ECO_DLEARN_MAX_MODELS + 3; i++) {
    snprintf(name, sizeof name, "m%d", i);
    eco_dlearn_observe(&d, name, 0, 1, 1, 1);
  }
  assert_int_equal(d.n, ECO_DLEARN_MAX_MODELS);
  assert_int_equal(d.evicted, 4);
  assert_int_equal(eco_dlearn_find(&d, "tiny", false), -1);
  c.pri.v[0][1] = 0;
  assert_int_equal(eco_dlearn_init(&d, &c), ECO_EINVAL);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dlearn_pure),
      cmocka_unit_test(test_config_errors),
      cmocka_unit_test_setup_teardown(test_level_from_text, setup, teardown),
      cmocka_unit_test_setup_teardown(test_optout_and_cap, setup, teardown),
      cmocka_unit_test_setup_teardown(test_learned_costs_persist, setup, teardown),
      cmocka_unit_test_setup_teardown(test_degraded_counted, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
