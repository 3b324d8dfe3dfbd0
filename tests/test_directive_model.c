/* Tests for the directive model of live traffic: the prompt classifier
 * (classify.h), the model and its file (dmodel.h), the training records
 * (dtrain.h) and the live period planner (live.h). Synthetic prompts only:
 * no shared data needed. */
#include "testutil.h"

#include "directive/dmodel.h"
#include "directive/dtrain.h"
#include "directive/live.h"

#include <math.h>
#include <openssl/evp.h>

#define NEAR(a, b) assert_true(fabs((double)(a) - (double)(b)) < 1e-6)

/* --- synthetic prompts of three kinds ------------------------------------- */
static const char *const nouns[] = {"France", "the Nile", "Mozart",  "Jupiter", "the Moon",
                                    "Canada", "Picasso",  "Everest", "Tokyo",   "the Alps"};
static const char *const things[] = {"apples", "pencils", "marbles", "books", "cookies"};

static uint64_t lcg(uint64_t *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return *s >> 33;
}

/* class 0: trivia questions; 1: arithmetic word problems; 2: multiple choice */
static void make_prompt(int cls, uint64_t *r, char *buf, size_t cap) {
  const char *n = nouns[lcg(r) % 10], *t = things[lcg(r) % 5];
  switch (cls) {
  case 0:
    snprintf(buf, cap, "Which %s is most associated with %s?", lcg(r) % 2 ? "country" : "person",
             n);
    break;
  case 1:
    snprintf(buf, cap, "Tom has %u %s and gives %u to Ann. She buys %u more. How many %s now?",
             (unsigned)(lcg(r) % 90 + 10), t, (unsigned)(lcg(r) % 9 + 1), (unsigned)(lcg(r) % 20),
             t);
    break;
  default:
    snprintf(buf, cap, "What is true of %s?\n(A): it is large\n(B): it is %s\n(C): neither", n, t);
    break;
  }
}

static const char *const labels3[] = {"trivia", "maths", "choice"};

/* n records per class; class 0 prefers level 1, class 1 level 0, class 2
 * level 2 (3 of 4 prompts), with costs 1.0/0.3/0.2 kWh-ish (J below) */
static void make_set(eco_dtrain_set *set, size_t n, uint64_t seed) {
  uint64_t r = seed;
  for (size_t i = 0; i < 3 * n; i++) {
    int c = (int)(i % 3);
    char buf[256];
    make_prompt(c, &r, buf, sizeof buf);
    int pref = (i / 3) % 4 == 0 ? 0 : (c == 0 ? 1 : c == 1 ? 0 : 2);
    double e[3] = {3.6e6 * 1e-3, 3.6e6 * 3e-4, 3.6e6 * 2e-4}, t[3] = {5, 1.5, 1};
    assert_int_equal(eco_dtrain_add(set, buf, strlen(buf), labels3[c], pref, e, t, NULL), 0);
  }
}

static void test_features(void **state) {
  (void)state;
  eco_dclass_feat a[ECO_DCLASS_MAX_FEATS], b[ECO_DCLASS_MAX_FEATS];
  const char *p = "Which city hosts the Louvre?";
  size_t na = eco_dclass_features(p, strlen(p), 16, a, ECO_DCLASS_MAX_FEATS);
  size_t nb = eco_dclass_features(p, strlen(p), 16, b, ECO_DCLASS_MAX_FEATS);
  assert_true(na > 20);
  assert_int_equal(na, nb);
  assert_memory_equal(a, b, na * sizeof *a); /* deterministic */
  for (size_t i = 0; i < na; i++)
    assert_true((a[i] & 0x7fffffffu) < (1u << 16));
  /* bounded whatever the size: a 1 MiB prompt reads its head and tail only */
  size_t big = (size_t)1 << 20;
  char *t = malloc(big);
  for (size_t i = 0; i < big; i++)
    t[i] = (char)('a' + (i * 7 + i / 13) % 26);
  size_t nbig = eco_dclass_features(t, big, 16, a, ECO_DCLASS_MAX_FEATS);
  assert_true(nbig > 0 && nbig <= ECO_DCLASS_MAX_FEATS);
  /* the middle does not matter; the length does (via the shape features) */
  memset(t + 4096, 'z', 8192);
  assert_int_equal(eco_dclass_features(t, big, 16, b, ECO_DCLASS_MAX_FEATS), nbig);
  assert_memory_equal(a, b, nbig * sizeof *a);
  free(t);
  /* empty or NULL text: shape features only; bad bits or cap: none */
  assert_true(eco_dclass_features("", 0, 16, a, ECO_DCLASS_MAX_FEATS) > 0);
  assert_true(eco_dclass_features(NULL, 5, 16, a, ECO_DCLASS_MAX_FEATS) > 0);
  assert_int_equal(eco_dclass_features(p, strlen(p), 40, a, ECO_DCLASS_MAX_FEATS), 0);
  assert_int_equal(eco_dclass_features(p, strlen(p), 16, a, 3), 3);
}

static void test_classifier(void **state) {
  (void)state;
  eco_dtrain_set set;
  eco_dtrain_init(&set, 3);
  make_set(&set, 200, 7);
  eco_dclass_sample *s = calloc(set.n, sizeof *s);
  eco_dclass_feat *f = malloc(set.n * 256 * sizeof *f);
  for (size_t i = 0; i < set.n; i++) {
    s[i].feat = f + i * 256;
    s[i].n_feat = eco_dclass_features(set.rec[i].text, set.rec[i].len, 14, f + i * 256, 256);
    s[i].cls = set.rec[i].label, s[i].weight = 1;
  }
  eco_dclass_cfg cfg;
  eco_dclass_cfg_default(&cfg);
  cfg.hash_bits = 14;
  eco_dclass m;
  assert_int_equal(eco_dclass_train(&m, &cfg, labels3, 3, s, set.n, NULL, NULL), 0);
  assert_int_equal(eco_dclass_find(&m, "maths"), 1);
  assert_int_equal(eco_dclass_find(&m, "nope"), -1);
  /* fresh prompts (another seed) are classified correctly */
  uint64_t r = 99;
  size_t ok = 0;
  for (int i = 0; i < 300; i++) {
    char buf[256];
    make_prompt(i % 3, &r, buf, sizeof buf);
    double p[3];
    int c = eco_dclass_predict(&m, buf, strlen(buf), p);
    NEAR(p[0] + p[1] + p[2], 1.0);
    assert_true(p[c] >= p[0] && p[c] >= p[1] && p[c] >= p[2]);
    ok += c == i % 3;
  }
  assert_true(ok >= 295);
  /* training is deterministic for a seed */
  eco_dclass m2;
  assert_int_equal(eco_dclass_train(&m2, &cfg, labels3, 3, s, set.n, NULL, NULL), 0);
  assert_memory_equal(m.w, m2.w, ((size_t)1 << 14) * 3 * sizeof *m.w);
  eco_dclass_free(&m2);
  /* bad arguments */
  eco_error e = {0};
  const char *dup[] = {"a", "a", "b"}, *empty[] = {"a", "", "b"};
  assert_int_equal(eco_dclass_train(&m2, &cfg, dup, 3, s, set.n, NULL, &e), ECO_EINVAL);
  assert_non_null(strstr(e.msg, "repeated"));
  assert_int_equal(eco_dclass_train(&m2, &cfg, empty, 3, s, set.n, NULL, NULL), ECO_EINVAL);
  assert_int_equal(eco_dclass_train(&m2, &cfg, labels3, 2, s, set.n, NULL, NULL), ECO_EINVAL);
  unsigned char none[600] = {0};
  assert_int_equal(eco_dclass_train(&m2, &cfg, labels3, 3, s, set.n, none, NULL), ECO_EINVAL);
  cfg.hash_bits = 30;
  assert_int_equal(eco_dclass_train(&m2, &cfg, labels3, 3, s, set.n, NULL, NULL), ECO_EINVAL);
  eco_dclass_free(&m);
  free(s);
  free(f);
  eco_dtrain_free(&set);
}

static void fit3(eco_dmodel *m, eco_dtrain_set *set, eco_dmodel_report *rep) {
  eco_dmodel_fit_cfg fc;
  eco_dmodel_fit_cfg_default(&fc);
  fc.cls.hash_bits = 12;
  fc.inner_folds = 3;
  fc.cost_source = "synthetic";
  const char *lab[3] = {set->label[0], set->label[1], set->label[2]};
  assert_int_equal(eco_dmodel_fit(m, &fc, lab, 3, set->rec, set->n, rep, NULL), 0);
}

static void test_dmodel_fit(void **state) {
  (void)state;
  eco_dtrain_set set;
  eco_dtrain_init(&set, 3);
  make_set(&set, 120, 3);
  eco_dmodel m;
  eco_dmodel_report rep;
  fit3(&m, &set, &rep);
  assert_int_equal(rep.n_labelled, 360);
  assert_true(rep.accuracy > 0.95);
  size_t tot = 0;
  for (int a = 0; a < 3; a++)
    for (int b = 0; b < 3; b++)
      tot += rep.conf[a][b];
  assert_int_equal(tot, 360);
  assert_true(m.has_costs);
  assert_string_equal(m.cost_source, "synthetic");
  /* the groups carry the preferences of their class */
  for (int b = 0; b < ECO_ASSIGN_BUCKETS; b++) {
    const eco_assign_group *g = &m.groups.g[0][b];
    assert_true(g->lv[1].pref > g->lv[0].pref && g->lv[1].pref > g->lv[2].pref);
    assert_true(m.groups.g[1][b].lv[0].pref > 0.6);
  }
  NEAR(m.groups.task_lv[0][0].energy_kwh, 1e-3);
  /* a prediction names class, probability and group */
  eco_dmodel_pred pr;
  const char *q = "Which person is most associated with Picasso?";
  eco_dmodel_predict(&m, q, strlen(q), &pr);
  assert_int_equal(pr.cls, 0);
  assert_true(pr.p > 0.5 && pr.p <= 1.0);
  char name[64];
  eco_dmodel_group_name(&m, pr.cls, pr.bucket, name, sizeof name);
  assert_true(strncmp(name, "trivia/", 7) == 0);
  /* refit from unlabelled verdicts without costs: class 0 now prefers L2,
   * the cost figures stay */
  eco_dtrain_set v;
  eco_dtrain_init(&v, 3);
  uint64_t r = 5;
  for (int i = 0; i < 90; i++) {
    char buf[256];
    make_prompt(0, &r, buf, sizeof buf);
    assert_int_equal(eco_dtrain_add(&v, buf, strlen(buf), NULL, 2, NULL, NULL, NULL), 0);
  }
  assert_int_equal(eco_dmodel_refit_groups(&m, v.rec, v.n, 1.0, NULL), 0);
  assert_true(m.groups.task_lv[0][2].pref > 0.9);
  NEAR(m.groups.task_lv[0][0].energy_kwh, 1e-3);
  /* bad input */
  eco_dmodel m2;
  eco_dmodel_fit_cfg fc;
  eco_dmodel_fit_cfg_default(&fc);
  const char *lab[3] = {"a", "b", "c"};
  assert_int_equal(eco_dmodel_fit(&m2, &fc, lab, 3, v.rec, v.n, NULL, NULL), ECO_EINVAL);
  eco_dtrain_rec bad = set.rec[0];
  bad.label = 7;
  assert_int_equal(eco_dmodel_fit(&m2, &fc, lab, 3, &bad, 1, NULL, NULL), ECO_EINVAL);
  eco_dtrain_free(&v);
  eco_dmodel_free(&m);
  eco_dtrain_free(&set);
}

/* recomputes the SHA-256 trailer after a deliberate edit */
static void reseal(unsigned char *buf, size_t len) {
  unsigned int n = 0;
  EVP_Digest(buf, len - 32, buf + len - 32, &n, EVP_sha256(), NULL);
}

static void test_dmodel_file(void **state) {
  (void)state;
  eco_dtrain_set set;
  eco_dtrain_init(&set, 3);
  make_set(&set, 60, 11);
  eco_dmodel m;
  fit3(&m, &set, NULL);
  unsigned char *buf;
  size_t len;
  assert_int_equal(eco_dmodel_encode(&m, &buf, &len, NULL), 0);
  assert_int_equal(len, 64 + 3 * 32 + 64 + 3 * (4 + 16 + 72) + 9 * (16 + 72) + 4096 * 3 * 4 + 32);
  eco_dmodel d;
  assert_int_equal(eco_dmodel_decode(buf, len, &d, NULL), 0);
  assert_memory_equal(d.cls.w, m.cls.w, 4096 * 3 * sizeof *m.cls.w);
  assert_memory_equal(&d.groups, &m.groups, sizeof m.groups);
  assert_string_equal(d.cls.label[2], "choice");
  NEAR(d.accuracy, m.accuracy);
  eco_dmodel_free(&d);
  /* save and load through a file */
  char *dir = eco_test_tmpdir(), *path = eco_test_path(dir, "m.ecd");
  assert_int_equal(eco_dmodel_save(&m, path, NULL), 0);
  assert_int_equal(eco_dmodel_load(path, &d, NULL), 0);
  eco_dmodel_free(&d);
  eco_error e = {0};
  /* damage, each with a reason */
  struct {
    size_t off;
    unsigned char val;
    bool reseal;
    const char *why;
  } cases[] = {
      {0, 'X', true, "not a directive model"},
      {8, 2, true, "format version"},
      {12, 9, true, "feature version"},
      {16, 99, true, "bad header"},
      {24, 31, true, "bad header"},
      {64 + 3 * 32 + 64 + 4096 * 0 + 100, 0x7f, false, "checksum"},
      {len - 40, 0xff, false, "checksum"},
      {64 + 5, '"', true, "byte 0x22"},
      {64 + 31, 'x', true, "padding not zero"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    unsigned char *c = malloc(len);
    memcpy(c, buf, len);
    c[cases[i].off] = cases[i].val;
    if (cases[i].reseal) reseal(c, len);
    memset(&e, 0, sizeof e);
    assert_int_equal(eco_dmodel_decode(c, len, &d, &e), ECO_EFORMAT);
    if (!strstr(e.msg, cases[i].why)) fail_msg("case %zu: '%s' lacks '%s'", i, e.msg, cases[i].why);
    assert_null(d.cls.w);
    free(c);
  }
  /* a label that fills its field */
  unsigned char *c = malloc(len);
  memcpy(c, buf, len);
  memset(c + 64, 'x', 32);
  reseal(c, len);
  assert_int_equal(eco_dmodel_decode(c, len, &d, &e), ECO_EFORMAT);
  assert_non_null(strstr(e.msg, "not terminated"));
  /* a NaN weight or a preference above 1 under a valid checksum */
  memcpy(c, buf, len);
  memset(c + len - 32 - 8, 0xff, 4);
  reseal(c, len);
  assert_int_equal(eco_dmodel_decode(c, len, &d, &e), ECO_EFORMAT);
  assert_non_null(strstr(e.msg, "weight"));
  memcpy(c, buf, len);
  size_t pref_off = 64 + 3 * 32 + 64 + 4 + 16 + 16; /* class 0, level 0 preference */
  double two = 2.0;
  memcpy(c + pref_off, &two, 8);
  reseal(c, len);
  assert_int_equal(eco_dmodel_decode(c, len, &d, &e), ECO_EFORMAT);
  assert_non_null(strstr(e.msg, "out of range"));
  /* truncated or extended */
  assert_int_equal(eco_dmodel_decode(buf, len - 1, &d, &e), ECO_EFORMAT);
  assert_int_equal(eco_dmodel_decode(buf, 50, &d, &e), ECO_EFORMAT);
  assert_int_equal(eco_dmodel_decode(NULL, 0, &d, &e), ECO_EINVAL);
  /* a missing file */
  assert_int_equal(eco_dmodel_load("/nonexistent/m.ecd", &d, &e) < 0, 1);
  free(c);
  free(buf);
  eco_test_rmtree(dir);
  free(dir);
  free(path);
  eco_dmodel_free(&m);
  eco_dtrain_free(&set);
}

static void test_dtrain(void **state) {
  (void)state;
  eco_dtrain_set s;
  eco_dtrain_init(&s, 3);
  const char *good[] = {
      "{\"prompt\":\"What is 2+2?\",\"label\":\"maths\",\"preferred\":0}",
      "  # a comment",
      "",
      "{\"messages\":[{\"role\":\"system\",\"content\":\"be nice\"},{\"role\":\"user\","
      "\"content\":\"Which planet is red?\"}],\"label\":\"trivia\",\"extra\":1}",
      "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"part "
      "one\"},{\"type\":\"image_url\"},{\"type\":\"text\",\"text\":\"two\"}]}],\"preferred\":2}",
      "{\"prompt\":\"x\",\"label\":null,\"preferred\":1,\"energy_j\":[3,2,1],\"time_s\":[3,2,1]}",
  };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
    assert_int_equal(eco_dtrain_parse_line(&s, good[i], strlen(good[i]), NULL), 0);
  assert_int_equal(s.n, 4);
  assert_int_equal(s.n_labels, 2);
  assert_string_equal(s.rec[1].text, "Which planet is red?");
  assert_int_equal(s.rec[1].preferred, -1);
  assert_string_equal(s.rec[2].text, "part one\ntwo");
  assert_int_equal(s.rec[2].label, -1);
  assert_true(s.rec[3].has_cost);
  NEAR(s.rec[3].energy_kwh[0], 3 / 3.6e6);
  const char *bad[] = {
      "not json",
      "[1,2]",
      "{\"label\":\"a\"}",
      "{\"prompt\":\"x\"}",
      "{\"prompt\":\"x\",\"label\":3}",
      "{\"prompt\":\"x\",\"preferred\":3}",
      "{\"prompt\":\"x\",\"preferred\":\"1\"}",
      "{\"prompt\":\"x\",\"label\":\"a\",\"energy_j\":[1,2]}",
      "{\"prompt\":\"x\",\"label\":\"a\",\"energy_j\":[1,2,3]}",
      "{\"prompt\":\"x\",\"label\":\"a\",\"energy_j\":[1,-2,3],\"time_s\":[1,2,3]}",
      "{\"prompt\":\"x\",\"label\":\"a\\\"b\"}",
      "{\"prompt\":\"x\",\"label\":\"a\",\"label\":\"b\"}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    eco_error e = {0};
    if (eco_dtrain_parse_line(&s, bad[i], strlen(bad[i]), &e) != ECO_EFORMAT)
      fail_msg("line %zu accepted: %s", i, bad[i]);
    assert_true(e.msg[0] != '\0');
  }
  assert_int_equal(s.n, 4); /* nothing added by a bad line */
  /* at most 16 labels */
  for (int i = 0; i < 20; i++) {
    char l[16];
    snprintf(l, sizeof l, "c%d", i);
    int rc = eco_dtrain_add(&s, "p", 1, l, -1, NULL, NULL, NULL);
    assert_int_equal(rc, i < 14 ? 0 : ECO_EOVERFLOW);
  }
  /* a formatted record parses back to the same */
  double e3[3] = {10, 5, 2.5}, t3[3] = {1, 0.5, 0.25};
  char *line = eco_dtrain_format("Say \"hi\"\n", "trivia", 1, e3, t3, 3);
  assert_non_null(line);
  size_t before = s.n;
  assert_int_equal(eco_dtrain_parse_line(&s, line, strlen(line), NULL), 0);
  assert_string_equal(s.rec[before].text, "Say \"hi\"\n");
  assert_int_equal(s.rec[before].preferred, 1);
  NEAR(s.rec[before].time_s[2], 0.25);
  free(line);
  eco_dtrain_free(&s);
  /* the text of request bodies */
  json_t *b = json_loads("{\"prompt\":[\"first\",\"second\"]}", 0, NULL);
  char buf[64];
  size_t n;
  const char *t = eco_dtrain_request_text(b, buf, sizeof buf, &n);
  assert_non_null(t);
  assert_int_equal(n, 5);
  json_decref(b);
  b = json_loads("{\"messages\":[{\"role\":\"assistant\",\"content\":\"hi\"}]}", 0, NULL);
  assert_null(eco_dtrain_request_text(b, buf, sizeof buf, &n));
  json_decref(b);
}

/* --- the live planner ---------------------------------------------------- */
/* two tasks with hand-made statistics: task 0 ("trivia") prefers L1 as much
 * as L0 and L1 is 5x cheaper; task 1 ("maths") prefers L0 3:1 */
static void hand_model(eco_assign_model *m, double l0_best) {
  memset(m, 0, sizeof *m);
  m->n_levels = 2, m->n_tasks = 2;
  for (size_t t = 0; t < 2; t++) {
    for (int b = 0; b < ECO_ASSIGN_BUCKETS - 1; b++)
      m->len_edge[t][b] = 1e9;
    for (int b = 0; b < ECO_ASSIGN_BUCKETS; b++) {
      eco_assign_group *g = &m->g[t][b];
      g->share = b == 0 ? 1.0 : 0.0;
      g->lv[0] = (eco_level_stats){1e-3, 0, t == 0 ? 0.5 : 0.75};
      g->lv[1] = (eco_level_stats){2e-4, 0, t == 0 ? (l0_best > 0 ? 0.4 : 0.5) : 0.25};
    }
    m->task_lv[t][0] = m->g[t][0].lv[0];
    m->task_lv[t][1] = m->g[t][0].lv[1];
  }
}

static eco_plan_cfg plan_cfg(void) {
  eco_plan_cfg p;
  eco_plan_cfg_default(&p);
  p.ci_min = 100, p.ci_max = 200, p.embodied_g_per_s = 0;
  return p;
}

static void test_live_planner(void **state) {
  (void)state;
  eco_assign_model m;
  hand_model(&m, 0);
  eco_plan_cfg p = plan_cfg();
  eco_dlive_cfg c;
  eco_dlive_cfg_default(&c);
  c.period_h = 1, c.margin = 0, c.mix_half_life_h = 0;
  eco_dlive s;
  assert_int_equal(eco_dlive_init(&s, &c, 2), 0);
  /* before any hour: level 0 */
  eco_request_features f0 = {0, 10}, f1 = {1, 10};
  assert_int_equal(eco_dlive_level(&s, &m, &f0, 0.5, NULL), 0);
  double fc[1] = {200}; /* ci_max: floor factor 0.9 */
  assert_int_equal(eco_dlive_begin_hour(&s, &m, &p, 1000, fc, 1, NULL), 0);
  /* uniform prior mix: trivia all L1; maths y = 0.25 (as test_assign) */
  NEAR(s.mix[0], 0.5);
  double pl;
  assert_int_equal(eco_dlive_level(&s, &m, &f0, 0.99, &pl), 1);
  NEAR(pl, 1.0);
  NEAR(s.plan.y[1][0][1], 0.25);
  /* an hour of maths only: the next plan assumes (almost) only maths */
  for (int i = 0; i < 1000; i++)
    eco_dlive_observe(&s, &m, &f1, 0);
  assert_int_equal(eco_dlive_begin_hour(&s, &m, &p, 1001, fc, 1, NULL), 0);
  assert_true(s.mix[1] > 0.99);
  /* maths alone: 0.75 (1 - y) + 0.25 y >= 0.9 * 0.75 -> y = 0.15 */
  assert_true(fabs(s.plan.y[1][0][1] - 0.15) < 0.01);
  assert_int_equal(s.st.periods, 2);
  /* hours must move forward */
  assert_int_equal(eco_dlive_begin_hour(&s, &m, &p, 1001, fc, 1, NULL), ECO_EINVAL);
  double badfc[1] = {NAN};
  assert_int_equal(eco_dlive_begin_hour(&s, &m, &p, 1002, badfc, 1, NULL), ECO_EINVAL);
  /* bad settings */
  eco_dlive_cfg bc = c;
  bc.period_h = 0;
  assert_int_equal(eco_dlive_init(&s, &bc, 2), ECO_EINVAL);
  assert_int_equal(eco_dlive_init(&s, &c, 0), ECO_EINVAL);
}

static void test_live_credit(void **state) {
  (void)state;
  eco_assign_model m;
  hand_model(&m, 0);
  eco_plan_cfg p = plan_cfg();
  eco_dlive_cfg c;
  eco_dlive_cfg_default(&c);
  c.period_h = 24, c.margin = 0;
  eco_dlive a, b;
  assert_int_equal(eco_dlive_init(&a, &c, 2), 0);
  assert_int_equal(eco_dlive_init(&b, &c, 2), 0);
  double fc[24];
  for (int j = 0; j < 24; j++)
    fc[j] = 150; /* floor factor 0.95 */
  assert_int_equal(eco_dlive_begin_hour(&a, &m, &p, 24 * 100, fc, 24, NULL), 0);
  assert_int_equal(eco_dlive_begin_hour(&b, &m, &p, 24 * 100, fc, 24, NULL), 0);
  /* a serves maths in full (opt-outs, caps), b briefly: a is 0.0375 above
   * the floor 0.7125, b 0.4625 below */
  eco_request_features f1 = {1, 10};
  for (int i = 0; i < 100; i++) {
    eco_dlive_observe(&a, &m, &f1, 0);
    eco_dlive_observe(&b, &m, &f1, 1);
  }
  /* now is dirtier than the rest of the day (floor factor 0.9 vs 0.95):
   * the brevity the day allows goes here first. Maths only: each hour
   * allows (0.75 - floor) / 0.5 of brevity, 1.8 over the 23 hours left;
   * a's surplus adds 0.075 (y now 1), b's deficit takes 0.925 (y 0.875) */
  fc[0] = 200;
  assert_int_equal(eco_dlive_begin_hour(&a, &m, &p, 24 * 100 + 1, fc, 24, NULL), 0);
  assert_int_equal(eco_dlive_begin_hour(&b, &m, &p, 24 * 100 + 1, fc, 24, NULL), 0);
  NEAR(a.credit, 0.0375);
  NEAR(b.credit, -0.4625);
  assert_true(a.plan.y[1][0][1] > 0.99);
  assert_true(fabs(b.plan.y[1][0][1] - 0.875) < 0.02);
  assert_false(a.plan.degraded || b.plan.degraded);
  /* a new day clears the credit */
  assert_int_equal(eco_dlive_begin_hour(&b, &m, &p, 24 * 101, fc, 24, NULL), 0);
  NEAR(b.credit, 0.0);
  assert_int_equal(b.st.periods, 2);
}

static void test_live_degrades(void **state) {
  (void)state;
  /* level 0 is every group's favourite and the margin asks for more than
   * level 0 gives: no plan reaches the floor */
  eco_assign_model m;
  hand_model(&m, 1);
  eco_plan_cfg p = plan_cfg();
  eco_dlive_cfg c;
  eco_dlive_cfg_default(&c);
  c.period_h = 2, c.margin = 0.05;
  eco_dlive s;
  assert_int_equal(eco_dlive_init(&s, &c, 2), 0);
  double fc[2] = {100, 100};
  assert_int_equal(eco_dlive_begin_hour(&s, &m, &p, 10, fc, 2, NULL), 0);
  assert_true(s.plan.degraded);
  eco_request_features f0 = {0, 10};
  for (int k = 0; k < 10; k++)
    assert_int_equal(eco_dlive_level(&s, &m, &f0, k / 10.0, NULL), 0);
  assert_int_equal(eco_dlive_begin_hour(&s, &m, &p, 11, fc, 2, NULL), 0);
  assert_int_equal(eco_dlive_begin_hour(&s, &m, &p, 12, fc, 2, NULL), 0);
  assert_int_equal(s.st.hours, 3);
  assert_int_equal(s.st.hours_degraded, 3);
  assert_int_equal(s.st.periods_degraded, 2);
  /* with no margin the floor is reachable again */
  c.margin = 0;
  assert_int_equal(eco_dlive_init(&s, &c, 2), 0);
  assert_int_equal(eco_dlive_begin_hour(&s, &m, &p, 10, fc, 2, NULL), 0);
  assert_false(s.plan.degraded);
  assert_int_equal(s.st.hours_degraded, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_features),    cmocka_unit_test(test_classifier),
      cmocka_unit_test(test_dmodel_fit),  cmocka_unit_test(test_dmodel_file),
      cmocka_unit_test(test_dtrain),      cmocka_unit_test(test_live_planner),
      cmocka_unit_test(test_live_credit), cmocka_unit_test(test_live_degrades),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
