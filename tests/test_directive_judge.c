/* Tests for the live judge's pieces: Sprout's pairwise judging with position
 * swapping (eco_eval_judge_pairwise) against a scripted loopback judge and
 * against a real `ecoinfer serve --replay DIR --replay-judge` node (skips
 * visibly without ../shared/data/sprout), and the verdict store
 * (directive/verdicts.h) with its training-data lines (dtrain.h). */
#include "testutil.h"

#include "directive/dtrain.h"
#include "directive/evaluator.h"
#include "directive/judge.h"
#include "directive/verdicts.h"
#include "httpd.h"
#include "server/replay_data.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- a scripted judge ----------------------------------------------------- */

typedef struct script {
  pthread_mutex_t mu;
  int mode; /* 0: prefers the output containing "GOOD"; 1: always (a); 2: HTTP 500 */
  int calls;
  char body[1024];
} script;

static void judge(const eco_test_request *req, eco_test_response *resp, void *user) {
  script *s = user;
  pthread_mutex_lock(&s->mu);
  s->calls++;
  json_t *j = json_loads(req->body, 0, NULL);
  json_t *msgs = json_object_get(j, "messages");
  const char *p = json_string_value(
      json_object_get(json_array_get(msgs, json_array_size(msgs) - 1), "content"));
  const char *in, *a, *b;
  size_t in_n, a_n, b_n;
  const char *v = "I cannot tell.";
  if (p && eco_judge_pair_parse(p, &in, &in_n, &a, &a_n, &b, &b_n) == 0) {
    if (s->mode == 1)
      v = "Output (a)";
    else
      v = memmem(a, a_n, "GOOD", 4) ? "Output (a)" : memmem(b, b_n, "GOOD", 4) ? "Output (b)" : v;
  }
  resp->status = s->mode == 2 ? 500 : 200;
  snprintf(s->body, sizeof s->body,
           "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"%s\"}}],"
           "\"usage\":{\"completion_tokens\":3,\"carbon\":{\"energy_j\":2.0}}}",
           v);
  resp->body = s->body;
  json_decref(j);
  pthread_mutex_unlock(&s->mu);
}

static void test_pairwise_scripted(void **state) {
  (void)state;
  eco_test_httpd *h;
  assert_int_equal(eco_test_httpd_start(&h), 0);
  script s = {.mode = 0};
  pthread_mutex_init(&s.mu, NULL);
  eco_test_httpd_handler(h, "POST", "/v1/chat/completions", judge, &s);
  eco_eval_cfg c;
  eco_eval_cfg_default(&c);
  c.judge_url = eco_test_httpd_url(h);
  c.judge_model = "judge";
  const char *ans[3] = {"a long answer", "a GOOD brief answer", "terse"};
  eco_eval_pair_result r;
  eco_error e = {0};
  assert_int_equal(eco_eval_judge_pairwise(&c, "Q?", ans, 3, &r, &e), 0);
  /* 3 pairs x 2 orders; level 1 wins both of its pairs; 0 vs 2 is a tie */
  assert_int_equal(r.spent.n_requests, 6);
  assert_int_equal(r.pairs, 3);
  assert_int_equal(r.pairs_decided, 2);
  assert_int_equal(r.preferred, 1);
  assert_int_equal(r.wins[1], 2);
  assert_true(r.spent.energy_j == 12.0 && !r.spent.energy_estimated);
  /* a judge that always names the first position decides nothing */
  s.mode = 1;
  assert_int_equal(eco_eval_judge_pairwise(&c, "Q?", ans, 3, &r, &e), 0);
  assert_int_equal(r.pairs_decided, 0);
  assert_int_equal(r.preferred, -1);
  /* a failing judge: no decision, nothing crashes */
  s.mode = 2;
  assert_int_equal(eco_eval_judge_pairwise(&c, "Q?", ans, 3, &r, &e), 0);
  assert_int_equal(r.preferred, -1);
  assert_int_equal(r.replies_undecided, 6);
  /* bad arguments */
  const char *missing[3] = {"x", NULL, "z"};
  assert_int_equal(eco_eval_judge_pairwise(&c, "Q?", missing, 3, &r, &e), ECO_EINVAL);
  assert_int_equal(eco_eval_judge_pairwise(&c, "Q?", ans, 1, &r, &e), ECO_EINVAL);
  eco_test_httpd_stop(h);
  pthread_mutex_destroy(&s.mu);
}

/* ---- the verdict store ---------------------------------------------------- */

static void test_verdict_store(void **state) {
  (void)state;
  char *dir = eco_test_tmpdir();
  char *path = eco_test_path(dir, "verdicts.db");
  eco_verdicts *v;
  eco_error e = {0};
  assert_int_equal(eco_verdicts_open(path, &v, &e), 0);
  eco_verdict r = {.time_s = 1e9,
                   .model = "m",
                   .group = "triviaqa/0",
                   .prompt = "Who?",
                   .served_level = 2,
                   .preferred = 1,
                   .n_levels = 3,
                   .energy_j = {100, 40, 30},
                   .time_s_lv = {4, 1.5, 1},
                   .judge_energy_j = 3};
  int64_t id = 0;
  assert_int_equal(eco_verdicts_add(v, &r, &id, &e), 0);
  assert_true(id > 0);
  r.preferred = 0;
  assert_int_equal(eco_verdicts_add(v, &r, NULL, &e), 0);
  r.preferred = -1; /* undecided: stored, not counted in the rates */
  assert_int_equal(eco_verdicts_add(v, &r, NULL, &e), 0);
  r.group = "math/1", r.preferred = 2;
  assert_int_equal(eco_verdicts_add(v, &r, NULL, &e), 0);
  r.preferred = 3; /* out of range */
  assert_int_equal(eco_verdicts_add(v, &r, NULL, &e), ECO_EINVAL);
  double pref[3];
  int64_t n = 0, all = 0, dec = 0;
  assert_int_equal(eco_verdicts_rates(v, "triviaqa/0", 3, pref, &n, &e), 0);
  assert_int_equal(n, 2);
  assert_true(pref[0] == 0.5 && pref[1] == 0.5 && pref[2] == 0);
  assert_int_equal(eco_verdicts_rates(v, NULL, 3, pref, &n, &e), 0);
  assert_int_equal(n, 3);
  assert_int_equal(eco_verdicts_rates(v, "nobody", 3, pref, &n, &e), 0);
  assert_int_equal(n, 0);
  assert_int_equal(eco_verdicts_count(v, &all, &dec, &e), 0);
  assert_int_equal(all, 4);
  assert_int_equal(dec, 3);
  /* the training data: decided verdicts as lines `directive train` reads */
  char *tpath = eco_test_path(dir, "train.jsonl");
  FILE *f = fopen(tpath, "w");
  assert_int_equal(eco_verdicts_export(v, f, 0, &n, &e), 0);
  fclose(f);
  assert_int_equal(n, 3);
  eco_dtrain_set set;
  eco_dtrain_init(&set, 3);
  assert_int_equal(eco_dtrain_load(&set, tpath, &e), 0);
  assert_int_equal(set.n, 3);
  assert_int_equal(set.rec[0].preferred, 1);
  assert_true(set.rec[0].has_cost);
  assert_int_equal(set.rec[0].label, -1); /* a verdict has no class label */
  eco_dtrain_free(&set);
  eco_verdicts_close(v);
  /* survives a reopen */
  assert_int_equal(eco_verdicts_open(path, &v, &e), 0);
  assert_int_equal(eco_verdicts_count(v, &all, &dec, &e), 0);
  assert_int_equal(all, 4);
  eco_verdicts_close(v);
  assert_int_not_equal(eco_verdicts_open("/nonexistent/dir/v.db", &v, &e), 0);
  eco_test_rmtree(dir);
  free(tpath);
  free(path);
  free(dir);
}

/* ---- a real node as the judge -------------------------------------------- */

static void test_pairwise_real_node(void **state) {
  (void)state;
  char *probe;
  ECO_TEST_NEED_SHARED("data/sprout/quality_summary_2000.json", &probe);
  *strrchr(probe, '/') = '\0';
  char *dir = eco_test_tmpdir();
  char *pf = eco_test_path(dir, "judge.port");
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    execl(eco_test_binary(), "ecoinfer", "serve", "--replay", probe, "--replay-judge", "--port",
          "0", "--port-file", pf, "--no-ledger", "--log-level", "warn", (char *)NULL);
    _exit(127);
  }
  int port = 0;
  for (int i = 0; i < 1200 && port <= 0; i++) { /* up to 60 s on a loaded host */
    FILE *f = fopen(pf, "r");
    if (f) {
      if (fscanf(f, "%d", &port) != 1) port = 0;
      fclose(f);
    }
    if (port <= 0) usleep(50000);
  }
  assert_true(port > 0);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
  eco_eval_cfg c;
  eco_eval_cfg_default(&c);
  c.judge_url = url;
  c.judge_model = "replay-judge";
  eco_replay_data *d;
  eco_error e = {0};
  assert_int_equal(eco_replay_data_load(probe, &d, &e), 0);
  /* the real node's verdicts reproduce the artifact's labels */
  size_t checked = 0;
  json_t *q = NULL;
  {
    char qp[1024];
    snprintf(qp, sizeof qp, "%s/quality_summary_2000.json", probe);
    q = json_load_file(qp, 0, NULL);
  }
  const char *sets[] = {"alpaca", "math", "mmlu", "naturalqa", "triviaqa", "scienceqa"};
  for (int k = 0; k < 6; k++) {
    json_t *lab = json_object_get(q, sets[k]);
    for (size_t j = 0; j < json_array_size(lab) && j < 40; j += 20) {
      const char *t = json_string_value(json_object_get(json_array_get(lab, j), "instruction"));
      const eco_replay_item *it = t ? eco_replay_find(d, t, strlen(t)) : NULL;
      if (!it || it->label < 0 || !strcmp(it->answer[0], it->answer[1]) ||
          !strcmp(it->answer[1], it->answer[2]) || !strcmp(it->answer[0], it->answer[2]))
        continue;
      eco_eval_pair_result r;
      assert_int_equal(eco_eval_judge_pairwise(&c, it->prompt, it->answer, 3, &r, &e), 0);
      assert_int_equal(r.spent.n_requests, 6);
      assert_int_equal(r.preferred, it->label);
      checked++;
    }
  }
  assert_true(checked >= 6);
  json_decref(q);
  eco_replay_data_free(d);
  kill(pid, SIGTERM);
  waitpid(pid, NULL, 0);
  eco_test_rmtree(dir);
  free(pf);
  free(dir);
  free(probe);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pairwise_scripted),
      cmocka_unit_test(test_verdict_store),
      cmocka_unit_test(test_pairwise_real_node),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
