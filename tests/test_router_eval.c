/* The quality loop in the router (directive.eval; directive/evalsched.h,
 * router/gw_eval_internal.h): the pure decisions (sampling, refit timing, retries,
 * the refit of the group rates), the config's errors, and the loop against
 * a scripted judge on loopback: live chat requests sampled, their other
 * levels regenerated as an evaluation batch (ledger kind eval), judged
 * pairwise, verdicts and training lines stored, the model refitted and
 * swapped in; a judge that is down or answers garbage (counted, retried,
 * the router keeps serving), the bounded queue, a restart that keeps the
 * verdicts, and no judge at all (priors kept, said in /admin and the
 * dashboard). The same against real `serve --replay` nodes is
 * tests/router_eval_replay.sh. */
#include "router_fixture.h"
#include "testutil.h"

#include "carbon/ledger.h"
#include "directive/dmodel.h"
#include "directive/dserve.h"
#include "directive/dtrain.h"
#include "directive/evalsched.h"
#include "directive/judge.h"
#include "router/router.h"

#include <jansson.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- pure decisions ------------------------------------------------------------ */

static void active_cfg(eco_evalsched_cfg *c) {
  eco_evalsched_cfg_default(c);
  c->configured = true;
  snprintf(c->judge_url, sizeof c->judge_url, "http://127.0.0.1:9");
  snprintf(c->db, sizeof c->db, "v.db");
}

static void test_sample_decisions(void **state) {
  (void)state;
  eco_evalsched_cfg c;
  active_cfg(&c);
  c.sample = 0.25;
  c.max_pending = 2;
  eco_evalsched_req q = {.chat = true, .decided = true, .ok = true};
  assert_int_equal(eco_evalsched_sample(&c, &q, 0, 0.1), ECO_EVALSCHED_SAMPLE);
  assert_int_equal(eco_evalsched_sample(&c, &q, 0, 0.25), ECO_EVALSCHED_SKIP);
  assert_int_equal(eco_evalsched_sample(&c, &q, 2, 0.1), ECO_EVALSCHED_FULL);
  q.opted_out = true;
  assert_int_equal(eco_evalsched_sample(&c, &q, 0, 0.0), ECO_EVALSCHED_SKIP);
  q.opted_out = false;
  q.decided = false;
  assert_int_equal(eco_evalsched_sample(&c, &q, 0, 0.0), ECO_EVALSCHED_SKIP);
  q.decided = true;
  q.chat = false;
  assert_int_equal(eco_evalsched_sample(&c, &q, 0, 0.0), ECO_EVALSCHED_SKIP);
  q.chat = true;
  c.judge_url[0] = '\0'; /* no judge: nothing is sampled */
  assert_int_equal(eco_evalsched_sample(&c, &q, 0, 0.0), ECO_EVALSCHED_SKIP);
  /* refits: by count, by interval, never without new verdicts */
  active_cfg(&c);
  c.refit_every = 3;
  c.refit_interval_s = 100;
  assert_false(eco_evalsched_refit_due(&c, 0, 0, 1e9));
  assert_false(eco_evalsched_refit_due(&c, 2, 50, 60));
  assert_true(eco_evalsched_refit_due(&c, 3, 50, 60));
  assert_true(eco_evalsched_refit_due(&c, 1, 50, 150));
  c.refit_interval_s = 0;
  assert_false(eco_evalsched_refit_due(&c, 1, 50, 1e9));
  /* retries: doubling from retry_s, given up after `retries` attempts */
  c.retries = 3;
  c.retry_s = 10;
  assert_true(fabs(eco_evalsched_retry_at(&c, 1, 100) - 110) < 1e-9);
  assert_true(fabs(eco_evalsched_retry_at(&c, 2, 100) - 120) < 1e-9);
  assert_true(eco_evalsched_retry_at(&c, 3, 100) < 0);
}

/* The judge row's intensity: the judge zone's value now, labelled (and
 * estimated when the zone was assumed); else the sampled answer's, labelled
 * as the fallback; else none. */
static void test_judge_intensity(void **state) {
  (void)state;
  eco_evalsched_ci now = {.gco2_kwh = 120, .source = "trace:DE.csv"};
  eco_evalsched_ci sampled = {.gco2_kwh = 800, .source = "static"}, out;
  assert_true(eco_evalsched_judge_ci(&now, false, &sampled, &out));
  assert_true(out.gco2_kwh == 120 && !out.estimated);
  assert_string_equal(out.source, "trace:DE.csv:judge-time");
  assert_true(eco_evalsched_judge_ci(&now, true, &sampled, &out));
  assert_true(out.gco2_kwh == 120 && out.estimated);
  assert_string_equal(out.source, "trace:DE.csv:judge-time:plan-zone");
  now.gco2_kwh = -1; /* no current value: the sampled answer's, said so */
  assert_true(eco_evalsched_judge_ci(&now, false, &sampled, &out));
  assert_true(out.gco2_kwh == 800 && out.estimated);
  assert_string_equal(out.source, "static:sampled-answer");
  assert_true(eco_evalsched_judge_ci(NULL, true, &sampled, &out));
  assert_string_equal(out.source, "static:sampled-answer");
  sampled.gco2_kwh = -1;
  out.gco2_kwh = 5;
  assert_false(eco_evalsched_judge_ci(&now, false, &sampled, &out));
  assert_false(eco_evalsched_judge_ci(NULL, false, NULL, &out));
  assert_true(out.gco2_kwh == 5); /* untouched */
}

#define TRIVIA_Q "Which city is the capital of Peru? Answer with its name."

/* Trivia questions (preferred 0/1/2 = 30/30/40 %) and maths (always 0). */
static int preferred(int i, bool trivia) {
  return trivia ? (i % 10 < 3 ? 0 : i % 10 < 6 ? 1 : 2) : 0;
}

static void train_model(const char *path) { eco_test_dmodel_write(path, 40, preferred); }

/* The verdicts move a group's rates by (wins + w * prior) / (n + w); the
 * groups without verdicts, the classifier and the bucket edges stay. */
static void test_refit_rates(void **state) {
  (void)state;
  char *dir = eco_test_tmpdir(), *mp = eco_test_path(dir, "d.model");
  train_model(mp);
  eco_dmodel m, orig;
  eco_error err = {0};
  assert_int_equal(eco_dmodel_load(mp, &m, &err), 0);
  assert_int_equal(eco_dmodel_load(mp, &orig, &err), 0);
  eco_evalsched_group g[2];
  memset(g, 0, sizeof g);
  eco_dmodel_group_name(&m, 0, 1, g[0].name, sizeof g[0].name);
  g[0].n = 10;
  g[0].wins[1] = 10; /* every verdict: level 1 */
  snprintf(g[1].name, sizeof g[1].name, "nosuch/0");
  g[1].n = 5;
  size_t changed = 0;
  assert_int_equal(eco_evalsched_refit(&m, g, 2, 10, &changed, &err), 0);
  assert_int_equal(changed, 1);
  for (size_t l = 0; l < 3; l++) {
    double prior = orig.groups.g[0][1].lv[l].pref;
    double want = ((l == 1 ? 10.0 : 0.0) + 10 * prior) / 20;
    assert_true(fabs(m.groups.g[0][1].lv[l].pref - want) < 1e-12);
    assert_true(fabs(m.groups.g[0][0].lv[l].pref - orig.groups.g[0][0].lv[l].pref) < 1e-12);
    assert_true(fabs(m.groups.g[1][1].lv[l].pref - orig.groups.g[1][1].lv[l].pref) < 1e-12);
  }
  assert_true(m.groups.task_lv[0][1].pref > orig.groups.task_lv[0][1].pref);
  assert_true(m.groups.len_edge[0][0] == orig.groups.len_edge[0][0]);
  g[0].wins[1] = NAN;
  assert_int_equal(eco_evalsched_refit(&m, g, 1, 10, NULL, &err), ECO_EINVAL);
  eco_dmodel_free(&m);
  eco_dmodel_free(&orig);
  eco_test_rmtree(dir);
  free(mp);
  free(dir);
}

static size_t flat_fc(void *user, long hour, double *out, size_t cap) {
  (void)user;
  (void)hour;
  for (size_t i = 0; i < cap; i++)
    out[i] = 300;
  return cap;
}

/* The ledger's directive counterfactual: E(0) / E(L) of the request's
 * group in the plan's cost figures; with a model file without costs and
 * no receipt yet, the priors' (Llama-2-13B-chat: 1208.77 J / 186.82 J at
 * level 2); receipts move it. */
static void test_energy_ratio(void **state) {
  (void)state;
  char *dir = eco_test_tmpdir(), *mp = eco_test_path(dir, "d.model");
  train_model(mp);
  eco_dmodel m;
  eco_error err = {0};
  assert_int_equal(eco_dmodel_load(mp, &m, &err), 0);
  eco_dserve_cfg c;
  eco_dserve_cfg_default(&c);
  c.learn.n_levels = 3;
  eco_dserve s;
  assert_int_equal(eco_dserve_init(&s, &c, &m, &err), 0);
  eco_dserve_decision d;
  assert_int_equal(
      eco_dserve_decide(&s, "m", 10, flat_fc, NULL, TRIVIA_Q, strlen(TRIVIA_Q), 0.5, &d, &err), 0);
  const double *pe = c.learn.pri.v[ECO_DLEARN_ENERGY];
  assert_true(fabs(eco_dserve_energy_ratio(&s, &d, 2) - pe[0] / pe[2]) < 1e-9);
  assert_true(fabs(eco_dserve_energy_ratio(&s, &d, 0) - 1) < 1e-12);
  assert_true(eco_dserve_energy_ratio(&s, &d, 3) < 0);
  /* receipts: level 0 at the prior, level 2 at a third of it: the next hour's figures follow */
  for (int i = 0; i < 50; i++) {
    eco_dserve_learn(&s, "m", 0, pe[0], 200, 4);
    eco_dserve_learn(&s, "m", 2, pe[2] / 3, 20, 0.3);
  }
  assert_int_equal(
      eco_dserve_decide(&s, "m", 11, flat_fc, NULL, TRIVIA_Q, strlen(TRIVIA_Q), 0.5, &d, &err), 0);
  assert_true(eco_dserve_energy_ratio(&s, &d, 2) > 1.5 * pe[0] / pe[2]);
  eco_dserve_free(&s);
  eco_dmodel_free(&m);
  eco_test_rmtree(dir);
  free(mp);
  free(dir);
}

/* ---- configuration -------------------------------------------------------------- */

#define CFG_HEAD                                                                                   \
  "router: {port: 0, admin_port: 0%s}\n"                                                           \
  "zones: {PL: 800}\n"                                                                             \
  "nodes:\n  - {id: N, url: \"http://127.0.0.1:9\", zone: PL}\n"                                   \
  "directive:\n  model: m.model\n  eval:\n%s"

static void expect_cfg_error(const char *router_extra, const char *eval, const char *want) {
  char text[2048];
  snprintf(text, sizeof text, CFG_HEAD, router_extra, eval);
  eco_cfg *cfg = NULL;
  eco_error err = {0};
  assert_int_equal(eco_cfg_load_string(text, "c.yaml", &cfg, &err), 0);
  eco_cfg_use_env(cfg, false);
  eco_router_cfg rc;
  int r = eco_router_cfg_load(cfg, &rc, &err);
  if (r == 0) {
    eco_router_cfg_free(&rc);
    fail_msg("accepted: %s", eval);
  }
  if (!strstr(eco_error_text(&err), want))
    fail_msg("error '%s' lacks '%s'", eco_error_text(&err), want);
  eco_cfg_free(cfg);
}

static void test_config(void **state) {
  (void)state;
  const char *bapi = ", batch_api: {db: b.db}";
  expect_cfg_error(bapi, "    sample: 1.5\n", "c.yaml:8:13: key 'directive.eval.sample'");
  expect_cfg_error(bapi, "    smaple: 0.1\n", "c.yaml:8:5: unknown key 'directive.eval.smaple'");
  expect_cfg_error(bapi, "    judge: {url: \"http://j:1\", modle: x}\n",
                   "directive.eval.judge.modle");
  expect_cfg_error(bapi, "    judge: {url: \"j:1\"}\n    db: v.db\n", "judge's base URL");
  expect_cfg_error(bapi, "    judge: {url: \"http://j:1\"}\n", "directive.eval.db");
  expect_cfg_error(bapi, "    judge: {url: \"http://j:1\"}\n    db: v.db\n    model_out: m.model\n",
                   "must differ from directive.model");
  expect_cfg_error("", "    judge: {url: \"http://j:1\"}\n    db: v.db\n", "router.batch_api.db");
  expect_cfg_error(bapi,
                   "    judge: {url: \"http://j:1\", api_key_env: ECO_TEST_NO_SUCH_VAR}\n"
                   "    db: v.db\n",
                   "ECO_TEST_NO_SUCH_VAR");
  expect_cfg_error(bapi, "    refit_every: 0\n    refit_interval: 0\n", "never be used");
  expect_cfg_error(bapi,
                   "    judge: {url: \"http://j:1\", zone: ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456}\n"
                   "    db: v.db\n",
                   "directive.eval.judge.zone");
  /* accepted: a judge with everything it needs; no judge at all */
  const char *ok[] = {
      "    judge: {url: \"http://j:1/\", model: jm, zone: DE}\n    db: v.db\n    window: 2h\n",
      "    sample: 0.5\n"};
  for (size_t i = 0; i < 2; i++) {
    char text[2048];
    snprintf(text, sizeof text, CFG_HEAD, bapi, ok[i]);
    eco_cfg *cfg = NULL;
    eco_error err = {0};
    assert_int_equal(eco_cfg_load_string(text, "c.yaml", &cfg, &err), 0);
    eco_router_cfg rc;
    if (eco_router_cfg_load(cfg, &rc, &err)) fail_msg("%s", eco_error_text(&err));
    assert_true(rc.directive.eval.configured);
    assert_int_equal(eco_evalsched_active(&rc.directive.eval), i == 0);
    if (i == 0) {
      assert_string_equal(rc.directive.eval.judge_url, "http://j:1");
      assert_string_equal(rc.directive.eval.window, "7200s");
      assert_string_equal(rc.directive.eval.judge_zone, "DE");
    }
    eco_router_cfg_free(&rc);
    eco_cfg_free(cfg);
  }
}

/* ---- the loop against a scripted judge ------------------------------------------ */

enum { JUDGE_OK = 0, JUDGE_DOWN = 1, JUDGE_GARBAGE = 2 };

typedef struct env {
  eco_test_cluster *cl;
  eco_test_httpd *gen, *judge;
  atomic_int judge_mode;
  atomic_int judge_delay_ms;
  char *dir, *model, *vdb, *bdb, *train, *mout, *ledger;
  eco_ledger *l;
  char gen_body[1024];
  char judge_body[512];
  char judge_extra[64]; /* more keys of directive.eval.judge, e.g. ", zone: DE" */
} env;

/* A generator: the level from the instruction in the body (a foreign
 * node), the level in the answer's text, energy per level in the receipt. */
static void on_gen(const eco_test_request *req, eco_test_response *resp, void *user) {
  env *e = user;
  int level = 0;
  if (req->body && strstr(req->body, "very briefly"))
    level = 2;
  else if (req->body && strstr(req->body, "briefly"))
    level = 1;
  resp->status = 200;
  snprintf(e->gen_body, sizeof e->gen_body,
           "{\"id\":\"g\",\"object\":\"chat.completion\",\"model\":\"m\",\"choices\":[{\"index\":0,"
           "\"message\":{\"role\":\"assistant\",\"content\":\"answer L%d\"},\"finish_reason\":"
           "\"stop\"}],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":%d,\"total_tokens\":"
           "%d,\"carbon\":{\"energy_j\":%g,\"total_g\":%g,\"method\":\"sci-v1.0\"}}}",
           level, 40 >> level, 12 + (40 >> level), 12.0 / (1 << level), 0.002 / (1 << level));
  resp->body = e->gen_body;
}

/* A judge that prefers the answer at level 1, in either position. */
static void on_judge(const eco_test_request *req, eco_test_response *resp, void *user) {
  env *e = user;
  resp->delay_ms = atomic_load(&e->judge_delay_ms);
  int mode = atomic_load(&e->judge_mode);
  if (mode == JUDGE_DOWN) {
    resp->status = 503;
    resp->body = "{\"error\":{\"message\":\"judge down\"}}";
    return;
  }
  json_t *j = json_loads(req->body, 0, NULL);
  const char *user_text = json_string_value(
      json_object_get(json_array_get(json_object_get(j, "messages"), 1), "content"));
  const char *ins, *a, *b;
  size_t il, al, bl;
  const char *pick = "I cannot tell";
  if (mode == JUDGE_OK && user_text &&
      eco_judge_pair_parse(user_text, &ins, &il, &a, &al, &b, &bl) == 0)
    pick = memmem(a, al, "L1", 2) ? "Output (a)" : memmem(b, bl, "L1", 2) ? "Output (b)" : "tie";
  snprintf(e->judge_body, sizeof e->judge_body,
           "{\"id\":\"j\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":"
           "{\"role\":\"assistant\",\"content\":\"%s\"},\"finish_reason\":\"stop\"}],"
           "\"usage\":{\"prompt_tokens\":50,\"completion_tokens\":3,\"total_tokens\":53}}",
           pick);
  json_decref(j);
  resp->status = 200;
  resp->body = e->judge_body;
}

static int setup(void **state) {
  eco_test_cluster_setup(state);
  env *e = calloc(1, sizeof *e);
  e->cl = *state;
  e->dir = eco_test_tmpdir();
  e->model = eco_test_path(e->dir, "d.model");
  e->vdb = eco_test_path(e->dir, "verdicts.db");
  e->bdb = eco_test_path(e->dir, "batch.db");
  e->train = eco_test_path(e->dir, "train.jsonl");
  e->mout = eco_test_path(e->dir, "refit.model");
  e->ledger = eco_test_path(e->dir, "ledger.db");
  train_model(e->model);
  assert_int_equal(eco_test_httpd_start(&e->gen), 0);
  assert_int_equal(eco_test_httpd_start(&e->judge), 0);
  eco_test_httpd_handler(e->gen, "POST", "/v1/chat/completions", on_gen, e);
  eco_test_response ok = {.status = 200, .body = "{\"status\":\"ok\"}"};
  eco_test_httpd_on(e->gen, "GET", "/health", &ok);
  eco_test_httpd_handler(e->judge, "POST", "/v1/chat/completions", on_judge, e);
  eco_error err = {0};
  assert_int_equal(eco_ledger_open(e->ledger, NULL, &e->l, &err), 0);
  *state = e;
  return 0;
}

static int teardown(void **state) {
  env *e = *state;
  void *cl = e->cl;
  eco_test_cluster_teardown(&cl); /* the router first: it calls the judge */
  eco_test_httpd_stop(e->gen);
  eco_test_httpd_stop(e->judge);
  eco_ledger_close(e->l);
  eco_test_rmtree(e->dir);
  free(e->dir);
  free(e->model);
  free(e->vdb);
  free(e->bdb);
  free(e->train);
  free(e->mout);
  free(e->ledger);
  free(e);
  return 0;
}

static void start(env *e, const char *eval_extra, bool judge) {
  char yaml[4096], jl[512] = "";
  if (judge)
    snprintf(jl, sizeof jl,
             "    judge: {url: \"%s\", model: judge-m, timeout: 5s%s}\n    db: \"%s\"\n"
             "    train_out: \"%s\"\n    model_out: \"%s\"\n",
             eco_test_httpd_url(e->judge), e->judge_extra, e->vdb, e->train, e->mout);
  snprintf(yaml, sizeof yaml,
           "router: {port: 0, admin_port: 0, policy: latency, health: {interval: 100ms},\n"
           "         batch_api: {db: \"%s\", poll: 50ms}}\n"
           "zones: {PL: 800}\nnodes:\n  - id: N\n    url: \"%s\"\n    zone: PL\n    kind: openai\n"
           "    profile: {prefill_tps: 1000, decode_tps: 100, j_per_token: 1.0}\n"
           "directive:\n  model: \"%s\"\n  zone: PL\n  ci_min: 100\n  ci_max: 600\n  xi: 0\n"
           "  eval:\n    sample: 1\n    poll: 50ms\n    prior_weight: 1\n"
           "%s%s",
           e->bdb, eco_test_httpd_url(e->gen), e->model, jl, eval_extra ? eval_extra : "");
  e->cl->rt.ledger = e->l;
  eco_test_router_start(&e->cl->rt, yaml);
}

static void chat(env *e, const char *q) {
  char body[512], url[128];
  snprintf(body, sizeof body,
           "{\"model\":\"m\",\"max_tokens\":50,\"messages\":[{\"role\":\"user\",\"content\":"
           "\"%s\"}]}",
           q);
  snprintf(url, sizeof url, "%s/v1/chat/completions", e->cl->rt.url);
  eco_test_resp r;
  assert_int_equal(eco_test_http(NULL, url, body, NULL, &r), 0);
  if (r.code != 200) fail_msg("status %ld: %s", r.code, r.body);
  eco_test_resp_free(&r);
}

/* /admin/directive's "eval" (new reference). */
static json_t *eval_state(env *e) {
  char url[128];
  snprintf(url, sizeof url, "%s/admin/directive", e->cl->rt.admin);
  eco_test_resp r;
  assert_int_equal(eco_test_http("GET", url, NULL, NULL, &r), 0);
  assert_int_equal(r.code, 200);
  json_t *j = json_loads(r.body, 0, NULL);
  if (!j) fail_msg("not JSON: %s", r.body);
  json_t *ev = json_incref(json_object_get(j, "eval"));
  if (!ev) fail_msg("no eval: %s", r.body);
  json_decref(j);
  eco_test_resp_free(&r);
  return ev;
}

static long counter(const json_t *ev, const char *k) {
  return (long)json_integer_value(json_object_get(ev, k));
}

/* Waits up to 60 s until eval.key >= want; returns the state. */
static json_t *wait_count(env *e, const char *key, long want) {
  for (int i = 0; i < 1200; i++) {
    json_t *ev = eval_state(e);
    if (counter(ev, key) >= want) return ev;
    json_decref(ev);
    usleep(50 * 1000);
  }
  json_t *ev = eval_state(e);
  char *s = json_dumps(ev, 0);
  fail_msg("eval.%s never reached %ld: %s", key, want, s);
  return NULL;
}

static const char *TRIVIA = TRIVIA_Q;
static const char *MATH = "Compute 81 * 9 + 4 and show every step of the working, then check it.";

/* n[0] requests, n[1] evaluation rows; n[2] requests served at a brief
 * level with a directive saving; n[3] requests whose saving does not
 * match their level (a saving at level 0, none at a brief level); n[4]
 * the judge's rows among the evaluation rows; n[5] of those, the ones
 * priced at the plan zone PL's current 800 g/kWh (no judge.zone given). */
static int count_eval(const eco_ledger_entry *x, void *user) {
  int *n = user;
  n[x->kind == ECO_LEDGER_EVAL]++;
  bool judge = x->kind == ECO_LEDGER_EVAL && strcmp(x->policy, "eval-judge") == 0;
  n[4] += judge;
  n[5] += judge && x->receipt.intensity_gco2_kwh == 800 && x->receipt.intensity_estimated &&
          strcmp(x->receipt.intensity_source, "static:judge-time:plan-zone") == 0 &&
          strcmp(x->zone, "PL") == 0;
  if (x->kind != ECO_LEDGER_REQUEST) return 0;
  bool saved = x->facts.saved_directive_g > 0;
  n[2] += x->directive_level > 0 && saved;
  n[3] += (x->directive_level > 0) != saved;
  return 0;
}

static size_t file_lines(const char *path) {
  FILE *f = fopen(path, "r");
  size_t n = 0;
  for (int c; f && (c = fgetc(f)) != EOF;)
    n += c == '\n';
  if (f) fclose(f);
  return n;
}

/* Every training line carries the cost arrays directive train reads: the
 * generator's energy per level (12 J >> level) and each answer's time. */
static void check_train_costs(const char *path) {
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  char line[8192];
  int n = 0;
  while (fgets(line, sizeof line, f)) {
    json_t *o = json_loads(line, 0, NULL), *ej = json_object_get(o, "energy_j");
    json_t *ts = json_object_get(o, "time_s");
    if (json_array_size(ej) != 3 || json_array_size(ts) != 3) fail_msg("no costs: %s", line);
    for (size_t l = 0; l < 3; l++) {
      assert_true(fabs(json_number_value(json_array_get(ej, l)) - 12.0 / (1 << l)) < 1e-9);
      double t = json_number_value(json_array_get(ts, l));
      assert_true(t > 0 && t < 30);
    }
    json_decref(o);
    n++;
  }
  fclose(f);
  assert_int_equal(n, 4);
  eco_dtrain_set ds; /* and directive train reads them with their costs */
  eco_dtrain_init(&ds, 3);
  eco_error err = {0};
  if (eco_dtrain_load(&ds, path, &err)) fail_msg("%s", eco_error_text(&err));
  assert_int_equal(ds.n, 4);
  for (size_t i = 0; i < ds.n; i++)
    assert_true(ds.rec[i].has_cost);
  eco_dtrain_free(&ds);
}

/* Every sampled request is judged: level 1 preferred in every group seen,
 * the rates and the refitted model move there, the regenerations are on
 * the ledger as evaluation overhead. Then a restart keeps the verdicts. */
static void test_judged_and_refit(void **state) {
  env *e = *state;
  start(e, "    refit_every: 2\n", true);
  for (int i = 0; i < 3; i++)
    chat(e, TRIVIA);
  chat(e, MATH);
  json_t *ev = wait_count(e, "judged", 4);
  assert_int_equal(counter(ev, "decided"), 4);
  assert_int_equal(counter(ev, "failed"), 0);
  assert_int_equal(counter(ev, "sampled"), 4);
  assert_int_equal(counter(ev, "submitted"), 4);
  json_t *rates = json_object_get(ev, "rates");
  assert_true(json_object_size(rates) >= 2);
  const char *gname;
  json_t *gv;
  json_object_foreach(rates, gname, gv) {
    assert_true(fabs(json_real_value(json_array_get(json_object_get(gv, "pref"), 1)) - 1) < 1e-9);
  }
  json_decref(ev);
  ev = wait_count(e, "swaps", 2); /* refit_every 2: after verdicts 2 and 4 */
  assert_true(json_is_real(json_object_get(ev, "last_refit")));
  json_decref(ev);
  /* the refitted model: the trivia group served at level 2 now leans to level 1 */
  eco_dmodel prior, m;
  eco_error err = {0};
  assert_int_equal(eco_dmodel_load(e->model, &prior, &err), 0);
  assert_int_equal(eco_dmodel_load(e->mout, &m, &err), 0);
  eco_dmodel_pred p;
  eco_dmodel_predict(&m, TRIVIA, strlen(TRIVIA), &p);
  assert_true(m.groups.g[p.cls][p.bucket].lv[1].pref >
              prior.groups.g[p.cls][p.bucket].lv[1].pref + 0.1);
  eco_dmodel_free(&prior);
  eco_dmodel_free(&m);
  assert_int_equal(file_lines(e->train), 4);
  check_train_costs(e->train);
  /* metrics and dashboard */
  char url[160];
  snprintf(url, sizeof url, "%s/metrics", e->cl->rt.url);
  eco_test_resp r;
  assert_int_equal(eco_test_http("GET", url, NULL, NULL, &r), 0);
  assert_non_null(strstr(r.body, "ecoinfer_router_eval_judged_total 4\n"));
  assert_non_null(strstr(r.body, "ecoinfer_router_eval_pending 0\n"));
  eco_test_resp_free(&r);
  snprintf(url, sizeof url, "%s/dashboard/api/state", e->cl->rt.url);
  assert_int_equal(eco_test_http("GET", url, NULL, NULL, &r), 0);
  assert_non_null(strstr(r.body, "4 judged (4 decided)"));
  eco_test_resp_free(&r);
  eco_test_router_stop(&e->cl->rt);
  /* the ledger: 4 interactive rows; as evaluation, 8 regenerations (two levels each) and the
   * judge's requests of each sample */
  int n[6] = {0, 0, 0, 0, 0, 0};
  assert_int_equal(eco_ledger_foreach(e->l, 0, 0, count_eval, n, &err), 0);
  assert_int_equal(n[1], 12); /* 8 regenerations, 4 judge rows (its energy estimated per token) */
  assert_int_equal(n[4], 4);
  assert_int_equal(n[5], 4);
  assert_int_equal(n[0], 4);
  assert_true(n[2] >= 1); /* from the group's energy per level (no answer-length history) */
  assert_int_equal(n[3], 0);
  /* a restart: the verdicts are still there, and the model is refitted from them at once */
  start(e, "    refit_every: 2\n", true);
  ev = wait_count(e, "swaps", 1);
  assert_true(json_object_size(json_object_get(ev, "rates")) >= 2);
  assert_int_equal(counter(ev, "judged"), 0); /* counters are per process */
  json_decref(ev);
}

/* The judge's rows: the intensity of what it ran on when it ran. */
typedef struct judge_rows {
  int n;           /* judge rows */
  double gco2_kwh; /* the last one's intensity */
  char source[64], zone[32];
  bool estimated;
} judge_rows;

static int find_judge_rows(const eco_ledger_entry *x, void *user) {
  judge_rows *jr = user;
  if (x->kind != ECO_LEDGER_EVAL || strcmp(x->policy, "eval-judge") != 0) return 0;
  jr->n++;
  jr->gco2_kwh = x->receipt.intensity_gco2_kwh;
  jr->estimated = x->receipt.intensity_estimated;
  snprintf(jr->source, sizeof jr->source, "%s", x->receipt.intensity_source);
  snprintf(jr->zone, sizeof jr->zone, "%s", x->zone);
  return 0;
}

static void set_intensity(env *e, const char *zone, double v) {
  char url[160], body[96];
  snprintf(url, sizeof url, "%s/admin/intensity", e->cl->rt.admin);
  snprintf(body, sizeof body, "{\"zone\":\"%s\",\"gco2_kwh\":%g}", zone, v);
  eco_test_resp r;
  assert_int_equal(eco_test_http(NULL, url, body, NULL, &r), 0);
  if (r.code != 200) fail_msg("status %ld: %s", r.code, r.body);
  eco_test_resp_free(&r);
}

/* The judge (judge.zone DE) is down when the sample is taken (DE at 50
 * g/kWh); DE's intensity changes before it is back: its row on the ledger
 * carries DE's value at the time its call ran, not the sampled answer's. */
static void test_judge_time_intensity(void **state) {
  env *e = *state;
  snprintf(e->judge_extra, sizeof e->judge_extra, ", zone: DE");
  atomic_store(&e->judge_mode, JUDGE_DOWN);
  start(e, "    retries: 5\n    retry: 300ms\n", true);
  set_intensity(e, "DE", 50);
  chat(e, TRIVIA);
  json_decref(wait_count(e, "judge_errors", 1));
  set_intensity(e, "DE", 123);
  atomic_store(&e->judge_mode, JUDGE_OK);
  json_decref(wait_count(e, "judged", 1));
  eco_test_router_stop(&e->cl->rt);
  judge_rows jr = {0};
  eco_error err = {0};
  assert_int_equal(eco_ledger_foreach(e->l, 0, 0, find_judge_rows, &jr, &err), 0);
  assert_int_equal(jr.n, 1);
  assert_true(jr.gco2_kwh == 123);
  assert_false(jr.estimated); /* an admin value for the configured zone */
  assert_string_equal(jr.source, "admin:judge-time");
  assert_string_equal(jr.zone, "DE");
}

/* The judge down, then back: counted, retried, nothing lost; then garbage
 * until the attempts run out: counted as failed; the router serves on. */
static void test_judge_down_and_garbage(void **state) {
  env *e = *state;
  atomic_store(&e->judge_mode, JUDGE_DOWN);
  start(e, "    retries: 3\n    retry: 300ms\n", true);
  chat(e, TRIVIA);
  json_t *ev = wait_count(e, "judge_errors", 1);
  json_decref(ev);
  atomic_store(&e->judge_mode, JUDGE_OK);
  ev = wait_count(e, "judged", 1);
  assert_int_equal(counter(ev, "failed"), 0);
  assert_int_equal(counter(ev, "decided"), 1);
  json_decref(ev);
  atomic_store(&e->judge_mode, JUDGE_GARBAGE);
  chat(e, MATH);
  ev = wait_count(e, "failed", 1);
  assert_true(counter(ev, "judge_errors") >= 4);
  assert_int_equal(counter(ev, "judged"), 1);
  assert_non_null(strstr(json_string_value(json_object_get(ev, "last_error")), "judge"));
  json_decref(ev);
  for (int i = 0; i < 100 && (ev = eval_state(e)) && counter(ev, "pending") > 0; i++) {
    json_decref(ev);
    usleep(20 * 1000);
  }
  assert_int_equal(counter(ev, "pending"), 0);
  json_decref(ev);
  chat(e, TRIVIA); /* still serving */
}

/* A sample waiting for the judge when the router stops is stored and
 * judged after the restart (its batch is not run again). */
static void test_restart_picks_up(void **state) {
  env *e = *state;
  atomic_store(&e->judge_mode, JUDGE_DOWN);
  start(e, "    retries: 5\n    retry: 1s\n", true);
  chat(e, TRIVIA);
  json_decref(wait_count(e, "judge_errors", 1));
  eco_test_router_stop(&e->cl->rt);
  size_t gen_before = eco_test_httpd_count(e->gen, "/v1/chat/completions");
  atomic_store(&e->judge_mode, JUDGE_OK);
  start(e, "    retries: 5\n    retry: 1s\n", true);
  json_t *ev = wait_count(e, "judged", 1);
  assert_int_equal(counter(ev, "decided"), 1);
  assert_int_equal(counter(ev, "sampled"), 0); /* this process sampled nothing */
  assert_int_equal(counter(ev, "submitted"), 0);
  json_decref(ev);
  assert_int_equal(eco_test_httpd_count(e->gen, "/v1/chat/completions"), gen_before);
}

/* max_pending: while one sample waits for a slow judge, the next ones are
 * dropped and counted. */
static void test_bounded_queue(void **state) {
  env *e = *state;
  atomic_store(&e->judge_delay_ms, 700);
  start(e, "    max_pending: 1\n", true);
  for (int i = 0; i < 4; i++)
    chat(e, TRIVIA);
  json_t *ev = eval_state(e);
  assert_int_equal(counter(ev, "sampled"), 1);
  assert_int_equal(counter(ev, "dropped"), 3);
  json_decref(ev);
  atomic_store(&e->judge_delay_ms, 0);
}

/* No judge: nothing sampled, the priors kept, and /admin and the dashboard say so. */
static void test_no_judge(void **state) {
  env *e = *state;
  start(e, NULL, false);
  chat(e, TRIVIA);
  json_t *ev = eval_state(e);
  assert_true(json_is_null(json_object_get(ev, "judge")));
  assert_string_equal(json_string_value(json_object_get(ev, "status")),
                      "no judge configured: priors kept");
  json_decref(ev);
  char url[160];
  snprintf(url, sizeof url, "%s/dashboard/api/state", e->cl->rt.url);
  eco_test_resp r;
  assert_int_equal(eco_test_http("GET", url, NULL, NULL, &r), 0);
  assert_non_null(strstr(r.body, "(priors) are kept"));
  eco_test_resp_free(&r);
  assert_int_equal(eco_test_httpd_count(e->judge, NULL), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sample_decisions),
      cmocka_unit_test(test_refit_rates),
      cmocka_unit_test(test_energy_ratio),
      cmocka_unit_test(test_config),
      cmocka_unit_test(test_judge_intensity),
      cmocka_unit_test_setup_teardown(test_judged_and_refit, setup, teardown),
      cmocka_unit_test_setup_teardown(test_judge_time_intensity, setup, teardown),
      cmocka_unit_test_setup_teardown(test_judge_down_and_garbage, setup, teardown),
      cmocka_unit_test_setup_teardown(test_restart_picks_up, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bounded_queue, setup, teardown),
      cmocka_unit_test_setup_teardown(test_no_judge, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
