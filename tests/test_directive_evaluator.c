/* Tests for src/directive/evaluator: the judge-reply parser, and a full run
 * against a loopback OpenAI-compatible server (tests/helpers/httpd.h) whose
 * judge answers with good, ambiguous and garbage verdicts and an error. */
#include "testutil.h"

#include "directive/evaluator.h"
#include "httpd.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

static void test_parse_verdict(void **state) {
  (void)state;
  assert_int_equal(eco_eval_parse_verdict("2", 3), 1);
  assert_int_equal(eco_eval_parse_verdict("Answer 3.", 3), 2);
  assert_int_equal(eco_eval_parse_verdict("**1**", 3), 0);
  assert_int_equal(eco_eval_parse_verdict("The best answer is answer 2, clearly.", 3), 1);
  assert_int_equal(eco_eval_parse_verdict("2. Answer 2 is best", 3), 1); /* same number twice */
  assert_int_equal(eco_eval_parse_verdict("{\"best\": 3}", 3), 2);
  assert_int_equal(eco_eval_parse_verdict("{\"best\": \"1\"}", 3), 0);
  /* no decision */
  assert_int_equal(eco_eval_parse_verdict("1 or 2", 3), -1);
  assert_int_equal(eco_eval_parse_verdict("Both are fine", 3), -1);
  assert_int_equal(eco_eval_parse_verdict("4", 3), -1);
  assert_int_equal(eco_eval_parse_verdict("0", 3), -1);
  assert_int_equal(eco_eval_parse_verdict("2.5", 3), -1);
  assert_int_equal(eco_eval_parse_verdict("", 3), -1);
  assert_int_equal(eco_eval_parse_verdict(NULL, 3), -1);
  assert_int_equal(eco_eval_parse_verdict("{\"best\": 9}", 3), -1);
  assert_int_equal(eco_eval_parse_verdict("{\"winner\": 1}", 3), -1);
  assert_int_equal(eco_eval_parse_verdict("\x01\xff garbage 12abc", 3), -1);
  int order[3];
  eco_eval_order(1, 3, order);
  assert_int_equal(order[0], 1);
  assert_int_equal(order[1], 2);
  assert_int_equal(order[2], 0);
}

static void test_pick(void **state) {
  (void)state;
  size_t idx[10];
  assert_int_equal(eco_eval_pick(100, 10, 7, idx), 10);
  for (int i = 1; i < 10; i++)
    assert_true(idx[i - 1] < idx[i]); /* distinct, sorted */
  assert_true(idx[9] < 100);
  assert_int_equal(eco_eval_pick(3, 10, 7, idx), 3); /* clamped: all of them */
  assert_true(idx[0] == 0 && idx[1] == 1 && idx[2] == 2);
  /* every index is reachable: over many seeds each of 5 is picked */
  int seen[5] = {0};
  for (uint64_t sd = 1; sd < 200; sd++) {
    size_t one;
    eco_eval_pick(5, 1, sd, &one);
    seen[one]++;
  }
  for (int i = 0; i < 5; i++)
    assert_true(seen[i] > 10);
}

typedef struct fake {
  pthread_mutex_t mu;
  int judge_calls;
  int gen_calls;
  int gen_with_directive;
  char body[2048];
} fake;

static void handler(const eco_test_request *req, eco_test_response *resp, void *user) {
  fake *f = user;
  pthread_mutex_lock(&f->mu);
  json_t *j = json_loads(req->body, 0, NULL);
  const char *model = json_string_value(json_object_get(j, "model"));
  const char *sys = json_string_value(
      json_object_get(json_array_get(json_object_get(j, "messages"), 0), "content"));
  resp->status = 200;
  resp->body = f->body;
  if (model && strcmp(model, "judge") == 0) {
    /* verdicts per prompt: good, ambiguous, garbage, JSON, HTTP error */
    static const char *const verdicts[] = {"2", "1 or 2", "lorem ipsum", "{\\\"best\\\": 1}", NULL};
    const char *v = verdicts[f->judge_calls % 5];
    f->judge_calls++;
    if (!v) {
      resp->status = 500;
      snprintf(f->body, sizeof f->body, "{\"error\":\"overloaded\"}");
    } else {
      snprintf(f->body, sizeof f->body,
               "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"%s\"}}],"
               "\"usage\":{\"completion_tokens\":1}}",
               v);
    }
  } else {
    f->gen_calls++;
    if (sys && strstr(sys, "Always answer")) f->gen_with_directive++;
    snprintf(f->body, sizeof f->body,
             "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"answer %d\"}}],"
             "\"usage\":{\"completion_tokens\":10,\"carbon\":{\"energy_j\":5.0}}}",
             f->gen_calls);
  }
  json_decref(j);
  pthread_mutex_unlock(&f->mu);
}

static void test_run_against_loopback_judge(void **state) {
  (void)state;
  eco_test_httpd *h;
  assert_int_equal(eco_test_httpd_start(&h), 0);
  fake f;
  memset(&f, 0, sizeof f);
  pthread_mutex_init(&f.mu, NULL);
  eco_test_httpd_handler(h, "POST", "/v1/chat/completions", handler, &f);
  eco_eval_cfg c;
  eco_eval_cfg_default(&c);
  c.gen_url = c.judge_url = eco_test_httpd_url(h);
  c.gen_model = "llama";
  c.judge_model = "judge";
  c.timeout_s = 10;
  c.intensity_gco2_kwh = 360;
  eco_directive_cfg d;
  eco_directive_cfg_default(&d);
  const char *prompts[] = {"q0", "q1", "q2", "q3", "q4"};
  eco_eval_outcome o;
  eco_eval_prompt_result pp[5];
  assert_int_equal(eco_eval_run(&c, &d, prompts, 5, &o, pp, NULL), 0);
  assert_int_equal(pp[0].preferred, 1);
  assert_int_equal(pp[1].preferred, -1);
  assert_int_equal(pp[2].preferred, -1);
  assert_int_equal(pp[3].preferred, 0);
  assert_int_equal(pp[4].preferred, -1);
  for (int i = 0; i < 5; i++)
    for (int l = 0; l < 3; l++) {
      assert_int_equal(pp[i].tokens[l], 10);
      assert_true(fabs(pp[i].energy_j[l] - 5.0) < 1e-12);
    }
  assert_int_equal(o.n_prompts, 5);
  assert_int_equal(o.n_decided, 2);   /* "2" and {"best": 1} */
  assert_int_equal(o.n_undecided, 3); /* ambiguous, garbage, HTTP 500 */
  /* prompt 0: order (0,1,2), answer 2 = level 1; prompt 3: order
   * ((3+j) % 3) = (0,1,2), answer 1 = level 0 */
  assert_int_equal(o.wins[0], 1);
  assert_int_equal(o.wins[1], 1);
  assert_int_equal(o.wins[2], 0);
  assert_int_equal(f.gen_calls, 15);
  assert_int_equal(f.gen_with_directive, 10); /* levels 1 and 2 carry the directive */
  assert_int_equal(o.n_requests, 20);
  /* energy: 15 answers * 5 J reported + 4 verdicts * 1 token * 2 J estimated */
  assert_true(fabs(o.energy_j - 83.0) < 1e-9);
  assert_true(o.energy_estimated);
  assert_true(fabs(o.carbon_g - 83.0 / 3.6e6 * 360) < 1e-12);
  double pref[3];
  eco_eval_rates(&o, 3, pref);
  assert_true(fabs(pref[0] - 0.5) < 1e-12 && fabs(pref[1] - 0.5) < 1e-12 && pref[2] == 0);
  /* the optimizer's rates are replaced only with enough decisions */
  eco_level_stats lv[3] = {{1, 1, .4}, {1, 1, .3}, {1, 1, .3}};
  assert_false(eco_eval_update_prefs(&o, 3, 3, lv));
  assert_true(fabs(lv[0].pref - 0.4) < 1e-12);
  assert_true(eco_eval_update_prefs(&o, 3, 2, lv));
  assert_true(fabs(lv[0].pref - 0.5) < 1e-12 && fabs(lv[1].pref - 0.5) < 1e-12 && lv[2].pref == 0);

  /* an unreachable generator: every prompt undecided, no crash */
  eco_test_httpd_stop(h);
  c.gen_url = "http://127.0.0.1:1";
  c.timeout_s = 2;
  assert_int_equal(eco_eval_run(&c, &d, prompts, 2, &o, NULL, NULL), 0);
  assert_int_equal(o.n_undecided, 2);
  assert_int_equal(o.n_decided, 0);
  /* bad configuration */
  c.gen_url = NULL;
  assert_int_equal(eco_eval_run(&c, &d, prompts, 2, &o, NULL, NULL), ECO_EINVAL);
  pthread_mutex_destroy(&f.mu);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_verdict),
      cmocka_unit_test(test_pick),
      cmocka_unit_test(test_run_against_loopback_judge),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
