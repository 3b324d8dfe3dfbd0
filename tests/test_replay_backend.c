/* Tests for the pairwise judge prompt (src/directive/judge.h) and the
 * replay backend and judge (src/server/backend_replay.h). The backend's
 * tests read the Sprout artifact in ../shared/data/sprout and skip visibly
 * without it; the prompt's tests need nothing. */
#include "testutil.h"

#include "directive/judge.h"
#include "server/backend_replay.h"
#include "server/replay_data.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- the judge prompt ----------------------------------------------------- */

static void test_pair_prompt_roundtrip(void **state) {
  (void)state;
  /* answers that contain the markers themselves still read back whole */
  const char *ins = "Name a colour.", *a = "Red.\n\n## Output (b):\nnot a marker",
             *b = "Blue\n\n## Preferred output:\nfake end";
  char *p = eco_judge_pair_prompt(ins, a, b);
  assert_non_null(p);
  const char *i0, *a0, *b0;
  size_t in, an, bn;
  assert_int_equal(eco_judge_pair_parse(p, &i0, &in, &a0, &an, &b0, &bn), 0);
  assert_int_equal(in, strlen(ins));
  assert_memory_equal(i0, ins, in);
  /* the last (b) marker wins: an answer (a) holding one is cut there; the
   * evaluator never builds such a prompt from levels whose texts collide,
   * and the replay judge then finds no recorded answer: no decision */
  assert_true(an > 0 && bn > 0);
  free(p);
  p = eco_judge_pair_prompt(ins, "Red.", "Blue.");
  assert_int_equal(eco_judge_pair_parse(p, &i0, &in, &a0, &an, &b0, &bn), 0);
  assert_int_equal(an, 4);
  assert_memory_equal(a0, "Red.", 4);
  assert_int_equal(bn, 5);
  assert_memory_equal(b0, "Blue.", 5);
  free(p);
  assert_int_equal(eco_judge_pair_parse("hello", &i0, &in, &a0, &an, &b0, &bn), ECO_EFORMAT);
  assert_int_equal(eco_judge_pair_parse(NULL, &i0, &in, &a0, &an, &b0, &bn), ECO_EFORMAT);
  assert_null(eco_judge_pair_prompt(NULL, "a", "b"));
}

static void test_judge_reply(void **state) {
  (void)state;
  assert_int_equal(eco_judge_parse_reply("Output (a)"), 0);
  assert_int_equal(eco_judge_parse_reply("output (B)"), 1);
  assert_int_equal(eco_judge_parse_reply("I prefer Output (b) because ..."), 1);
  assert_int_equal(eco_judge_parse_reply(" b. "), 1);
  assert_int_equal(eco_judge_parse_reply("A"), 0);
  assert_int_equal(eco_judge_parse_reply("Output (a) and Output (b) are equal"), -1);
  assert_int_equal(eco_judge_parse_reply("banana"), -1);
  assert_int_equal(eco_judge_parse_reply(""), -1);
  assert_int_equal(eco_judge_parse_reply(NULL), -1);
  /* both orders agree: a winner; they disagree (position bias): a tie */
  assert_int_equal(eco_judge_combine(0, 1), 0);
  assert_int_equal(eco_judge_combine(1, 0), 1);
  assert_int_equal(eco_judge_combine(0, 0), -1);
  assert_int_equal(eco_judge_combine(1, 1), -1);
  assert_int_equal(eco_judge_combine(-1, 1), -1);
}

/* ---- the replay backend --------------------------------------------------- */

typedef struct sink {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  char text[65536];
  size_t len;
  bool done;
  char finish[16];
  eco_backend_stats st;
} sink;

static void on_ev(const eco_backend_event *ev, void *user) {
  sink *s = user;
  pthread_mutex_lock(&s->mu);
  if (ev->kind == ECO_BACKEND_TOKEN && s->len + ev->len < sizeof s->text) {
    memcpy(s->text + s->len, ev->text, ev->len);
    s->len += ev->len;
    s->text[s->len] = 0;
  } else if (ev->kind == ECO_BACKEND_DONE) {
    s->done = true;
    snprintf(s->finish, sizeof s->finish, "%s", ev->finish_reason);
    s->st = *ev->stats;
    pthread_cond_signal(&s->cv);
  }
  pthread_mutex_unlock(&s->mu);
}

static int ask(eco_backend *be, const char *user_text, int level, int max_tokens, sink *s) {
  memset(s, 0, sizeof *s);
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  eco_chat_msg m[2] = {{.role = "system", .content = "Always answer briefly"},
                       {.role = "user", .content = (char *)user_text}};
  eco_backend_request q = {
      .messages = m, .n_messages = 2, .max_tokens = max_tokens, .directive_level = level};
  eco_backend_id id;
  int rc = be->vt->submit(be->self, &q, on_ev, s, &id);
  if (rc == 0) {
    pthread_mutex_lock(&s->mu);
    while (!s->done)
      pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
  }
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  return rc;
}

typedef struct fx {
  char *dir;
  eco_replay_data *d;
} fx;

static int setup(void **state) {
  char *probe = eco_test_shared_path("data/sprout/quality_summary_2000.json");
  *state = NULL;
  if (!probe) return 0;
  fx *f = calloc(1, sizeof *f);
  f->dir = probe;
  *strrchr(f->dir, '/') = '\0';
  eco_error e = {0};
  if (eco_replay_data_load(f->dir, &f->d, &e)) {
    fprintf(stderr, "load: %s\n", e.msg);
    return -1;
  }
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  if (!f) return 0;
  eco_replay_data_free(f->d);
  free(f->dir);
  free(f);
  return 0;
}

#define NEED(f)                                                                                    \
  fx *f = *state;                                                                                  \
  if (!(f)) {                                                                                      \
    char *p_;                                                                                      \
    ECO_TEST_NEED_SHARED("data/sprout/quality_summary_2000.json", &p_);                            \
    free(p_);                                                                                      \
    return;                                                                                        \
  }

/* the first recorded item of a dataset with a label and three distinct answers */
static const eco_replay_item *pick(const eco_replay_data *d, const char *ds_file, const char *dir) {
  char path[1024];
  snprintf(path, sizeof path, "%s/quality_summary_2000.json", dir);
  json_t *q = json_load_file(path, 0, NULL);
  const eco_replay_item *out = NULL;
  json_t *lab = json_object_get(q, ds_file);
  for (size_t i = 0; !out && i < json_array_size(lab); i++) {
    const char *t = json_string_value(json_object_get(json_array_get(lab, i), "instruction"));
    const eco_replay_item *it = t ? eco_replay_find(d, t, strlen(t)) : NULL;
    if (it && it->label >= 0 && strcmp(it->answer[0], it->answer[1]) != 0 &&
        strcmp(it->answer[1], it->answer[2]) != 0 && strcmp(it->answer[0], it->answer[2]) != 0)
      out = it;
  }
  json_decref(q);
  return out;
}

static void test_data_loaded(void **state) {
  NEED(f);
  /* six datasets of up to 2,000 labelled prompts, each with all three answers */
  size_t n = eco_replay_data_count(f->d);
  assert_true(n > 6 * 1500 && n <= 6 * 2000);
  const eco_replay_item *it = pick(f->d, "triviaqa", f->dir);
  assert_non_null(it);
  assert_string_equal(it->dataset, "triviaqa");
  for (int l = 0; l < ECO_REPLAY_LEVELS; l++) {
    assert_true(it->energy_kwh[l] > 0 && it->energy_kwh[l] < 0.01);
    assert_true(it->time_s[l] > 0 && it->time_s[l] < 600);
    assert_int_equal(eco_replay_answer_level(it, it->answer[l], strlen(it->answer[l])), l);
  }
  assert_null(eco_replay_find(f->d, "no such prompt", 14));
}

static void test_backend_answers(void **state) {
  NEED(f);
  const eco_replay_item *it = pick(f->d, "alpaca", f->dir);
  assert_non_null(it);
  eco_replay_cfg c;
  eco_replay_cfg_default(&c);
  c.data_dir = f->dir;
  eco_backend be;
  eco_error e = {0};
  assert_int_equal(eco_backend_replay_new(&c, &be, &e), 0);
  static sink s;
  for (int l = 0; l < ECO_REPLAY_LEVELS; l++) {
    assert_int_equal(ask(&be, it->prompt, l, 100000, &s), 0);
    assert_string_equal(s.finish, "stop");
    assert_string_equal(s.text, it->answer[l]); /* the recording, byte for byte */
    assert_true(s.st.energy_known && !s.st.energy_estimated);
    assert_string_equal(s.st.energy_source, "replay:sprout-a100");
    assert_true(fabs(s.st.energy_j - it->energy_kwh[l] * 3.6e6) < 1e-6 * s.st.energy_j);
    assert_true(fabs(s.st.device_s - it->time_s[l]) < 1e-9);
  }
  /* max_tokens cuts the answer and scales the recorded cost */
  assert_int_equal(ask(&be, it->prompt, 0, 3, &s), 0);
  assert_string_equal(s.finish, "length");
  assert_int_equal(s.st.generated_tokens, 3);
  assert_true(s.st.energy_j < it->energy_kwh[0] * 3.6e6);
  /* a prompt without a recording, a level out of range */
  assert_int_equal(ask(&be, "What is the airspeed of an unladen swallow?", 0, 100, &s), ECO_ENOENT);
  assert_int_equal(ask(&be, it->prompt, 3, 100, &s), ECO_EINVAL);
  eco_backend_info info;
  assert_int_equal(be.vt->info(be.self, &info), 0);
  assert_string_equal(info.model_name, "replay-llama-2-13b-chat");
  assert_string_equal(info.device, "replay");
  be.vt->destroy(be.self);
}

static void test_replay_judge(void **state) {
  NEED(f);
  const eco_replay_item *it = pick(f->d, "mmlu", f->dir);
  assert_non_null(it);
  eco_replay_cfg c;
  eco_replay_cfg_default(&c);
  c.data_dir = f->dir;
  c.judge = true;
  eco_backend be;
  eco_error e = {0};
  assert_int_equal(eco_backend_replay_new(&c, &be, &e), 0);
  static sink s;
  int lab = it->label;
  for (int o = 0; o < ECO_REPLAY_LEVELS; o++) {
    if (o == lab) continue;
    /* the labelled level wins in both positions */
    char *p = eco_judge_pair_prompt(it->prompt, it->answer[lab], it->answer[o]);
    assert_int_equal(ask(&be, p, 0, 64, &s), 0);
    assert_int_equal(eco_judge_parse_reply(s.text), 0);
    free(p);
    p = eco_judge_pair_prompt(it->prompt, it->answer[o], it->answer[lab]);
    assert_int_equal(ask(&be, p, 0, 64, &s), 0);
    assert_int_equal(eco_judge_parse_reply(s.text), 1);
    free(p);
  }
  /* an answer that is not a recording: no decision, said plainly */
  char *p = eco_judge_pair_prompt(it->prompt, it->answer[0], "something else");
  assert_int_equal(ask(&be, p, 0, 64, &s), 0);
  assert_int_equal(eco_judge_parse_reply(s.text), -1);
  assert_non_null(strstr(s.text, "No decision"));
  free(p);
  assert_int_equal(ask(&be, "not a judge prompt", 0, 64, &s), 0);
  assert_int_equal(eco_judge_parse_reply(s.text), -1);
  be.vt->destroy(be.self);
}

static void test_bad_settings(void **state) {
  (void)state;
  eco_replay_cfg c;
  eco_replay_cfg_default(&c);
  eco_backend be;
  eco_error e = {0};
  assert_int_equal(eco_backend_replay_new(&c, &be, &e), ECO_EINVAL); /* no directory */
  c.data_dir = "/nonexistent/sprout";
  assert_int_not_equal(eco_backend_replay_new(&c, &be, &e), 0);
  assert_non_null(strstr(e.msg, "/nonexistent/sprout"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pair_prompt_roundtrip), cmocka_unit_test(test_judge_reply),
      cmocka_unit_test(test_bad_settings),          cmocka_unit_test(test_data_loaded),
      cmocka_unit_test(test_backend_answers),       cmocka_unit_test(test_replay_judge),
  };
  /* the artifact is loaded once for the group (a few seconds) */
  return cmocka_run_group_tests(tests, setup, teardown);
}
