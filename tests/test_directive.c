/* Tests for src/directive: levels and their application to chat messages,
 * route caps and the opt-out header, the Sprout LP against hand-solved
 * cases, the re-plan and evaluation-schedule rules, and the per-request
 * assignment model. */
#include "testutil.h"

#include "directive/assign.h"
#include "directive/directive.h"
#include "directive/plan.h"
#include "util/config.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

#define NEAR(a, b) assert_true(fabs((a) - (b)) < 1e-6)

/* ---- levels and messages ---------------------------------------------------*/
static void test_defaults_and_apply(void **state) {
  (void)state;
  eco_directive_cfg c;
  eco_directive_cfg_default(&c);
  assert_int_equal(c.n_levels, 3);
  assert_string_equal(c.text[0], "");
  assert_string_equal(c.text[1], "Always answer briefly");
  assert_string_equal(c.text[2], "Always answer very briefly");

  /* no system message: one is inserted first */
  json_t *m = json_loads("[{\"role\":\"user\",\"content\":\"hi\"}]", 0, NULL);
  assert_int_equal(eco_directive_apply(&c, 1, m, NULL), 0);
  assert_int_equal(json_array_size(m), 2);
  assert_string_equal(json_string_value(json_object_get(json_array_get(m, 0), "role")), "system");
  assert_string_equal(json_string_value(json_object_get(json_array_get(m, 0), "content")),
                      "Always answer briefly");
  json_decref(m);

  /* existing system message: merged, still one system message */
  m = json_loads("[{\"role\":\"system\",\"content\":\"You are kind.\"},"
                 "{\"role\":\"user\",\"content\":\"hi\"}]",
                 0, NULL);
  assert_int_equal(eco_directive_apply(&c, 2, m, NULL), 0);
  assert_int_equal(json_array_size(m), 2);
  assert_string_equal(json_string_value(json_object_get(json_array_get(m, 0), "content")),
                      "Always answer very briefly\n\nYou are kind.");
  json_decref(m);

  /* level 0 changes nothing; bad level and bad input are errors */
  m = json_loads("[{\"role\":\"user\",\"content\":\"hi\"}]", 0, NULL);
  assert_int_equal(eco_directive_apply(&c, 0, m, NULL), 0);
  assert_int_equal(json_array_size(m), 1);
  eco_error e = {0};
  assert_int_equal(eco_directive_apply(&c, 3, m, &e), ECO_EINVAL);
  assert_int_equal(eco_directive_apply(&c, -1, m, NULL), ECO_EINVAL);
  json_decref(m);
  json_t *obj = json_object();
  assert_int_equal(eco_directive_apply(&c, 1, obj, NULL), ECO_EINVAL);
  json_decref(obj);
  json_t *bad = json_loads("[1]", 0, NULL);
  assert_int_equal(eco_directive_apply(&c, 1, bad, NULL), ECO_EINVAL);
  json_decref(bad);
}

static void test_optout_and_caps(void **state) {
  (void)state;
  assert_true(eco_directive_opted_out("off"));
  assert_true(eco_directive_opted_out("  OFF \t"));
  assert_true(eco_directive_opted_out("none"));
  assert_false(eco_directive_opted_out(NULL));
  assert_false(eco_directive_opted_out("on"));
  assert_false(eco_directive_opted_out("offf"));

  eco_cfg *cfg = NULL;
  eco_error e = {0};
  const char *y = "directive:\n"
                  "  levels: [\"\", \"Be brief\", \"Be very brief\", \"One word\"]\n"
                  "  routes:\n"
                  "    /v1/legal: 0\n"
                  "    /v1/chat/completions: 1\n";
  assert_int_equal(eco_cfg_load_string(y, "t.yaml", &cfg, &e), 0);
  eco_directive_cfg c;
  assert_int_equal(eco_directive_cfg_load(cfg, &c, &e), 0);
  assert_int_equal(c.n_levels, 4);
  assert_string_equal(c.text[3], "One word");
  assert_int_equal(c.default_cap, 3);
  assert_int_equal(eco_directive_route_cap_for(&c, "/v1/legal"), 0);
  assert_int_equal(eco_directive_effective_level(&c, 3, "/v1/chat/completions", NULL), 1);
  assert_int_equal(eco_directive_effective_level(&c, 3, "/v1/legal", NULL), 0);
  assert_int_equal(eco_directive_effective_level(&c, 3, "/other", NULL), 3);
  assert_int_equal(eco_directive_effective_level(&c, 2, "/other", "off"), 0);
  eco_cfg_free(cfg);

  /* optimizer settings */
  eco_plan_cfg pc;
  eco_plan_cfg_default(&pc);
  eco_replan_cfg rp;
  assert_int_equal(eco_cfg_load_string("directive:\n  xi: 0.2\n  ci_min: 50\n  ci_max: 450\n"
                                       "  period: 30m\n  threshold: 0.25\n",
                                       "p.yaml", &cfg, &e),
                   0);
  assert_int_equal(eco_directive_plan_cfg_load(cfg, &pc, &rp, &e), 0);
  assert_true(fabs(pc.xi - 0.2) < 1e-12 && pc.ci_min == 50 && pc.ci_max == 450);
  assert_true(fabs(pc.embodied_g_per_s - 26356.568 / (5 * 365.0 * 86400)) < 1e-15);
  assert_true(rp.period_s == 1800 && fabs(rp.threshold - 0.25) < 1e-12);
  eco_cfg_free(cfg);
  assert_int_equal(eco_cfg_load_string("directive:\n  xi: 2\n", "q.yaml", &cfg, &e), 0);
  assert_int_equal(eco_directive_plan_cfg_load(cfg, &pc, NULL, &e), ECO_ECONFIG);
  eco_cfg_free(cfg);

  /* level 0 must be empty; caps must name a level */
  assert_int_equal(eco_cfg_load_string("directive:\n  levels: [\"x\"]\n", "b.yaml", &cfg, &e), 0);
  assert_int_equal(eco_directive_cfg_load(cfg, &c, &e), ECO_ECONFIG);
  assert_non_null(strstr(e.msg, "b.yaml"));
  eco_cfg_free(cfg);
  assert_int_equal(eco_cfg_load_string("directive:\n  routes:\n    /a: 7\n", "c.yaml", &cfg, &e),
                   0);
  assert_int_equal(eco_directive_cfg_load(cfg, &c, &e), ECO_ECONFIG);
  eco_cfg_free(cfg);
}

/* ---- the LP ------------------------------------------------------------------*/
static eco_plan_cfg plan_cfg(void) {
  eco_plan_cfg p;
  eco_plan_cfg_default(&p);
  p.ci_min = 0;
  p.ci_max = 100;
  p.embodied_g_per_s = 0;
  return p;
}

static void test_lp_hand_solved(void **state) {
  (void)state;
  eco_plan_cfg p = plan_cfg();
  double x[3];
  /* costs at ci 50: 10*50=500, 4*50=200, 2*50=100 (kWh scaled), q .40 .35 .25;
   * floor = (1 - 0.1*0.5) * 0.40 = 0.38. Two-level vertices meeting the
   * floor with equality: (L0,L1) x0 = 0.6 -> cost 380; (L0,L2) x0 = 13/15
   * -> cost 446.7; (L1,L2) cannot reach 0.38. Optimum (0.6, 0.4, 0). */
  eco_level_stats lv[3] = {{10, 0, .40}, {4, 0, .35}, {2, 0, .25}};
  assert_int_equal(eco_directive_plan(lv, 3, 50, &p, x, NULL), 0);
  NEAR(x[0], 0.6);
  NEAR(x[1], 0.4);
  NEAR(x[2], 0.0);

  /* at CI_min the floor is q0 itself: always level 0 */
  assert_int_equal(eco_directive_plan(lv, 3, 0, &p, x, NULL), 0);
  NEAR(x[0], 1.0);

  /* brief answers preferred (q1 > q0): floor at ci 100 = 0.9 * 0.30 = 0.27;
   * (L1,L2): 0.4 x1 + 0.2 (1-x1) = 0.27 -> x1 = 0.35, cost 4*.35+2*.65 = 2.7
   * (per unit ci) beats (L0,L2) x0 = 0.7, cost 7.6. */
  eco_level_stats lv2[3] = {{10, 0, .30}, {4, 0, .40}, {2, 0, .20}};
  assert_int_equal(eco_directive_plan(lv2, 3, 100, &p, x, NULL), 0);
  NEAR(x[0], 0.0);
  NEAR(x[1], 0.35);
  NEAR(x[2], 0.65);

  /* intensity above the range is clamped to full tolerance */
  assert_int_equal(eco_directive_plan(lv2, 3, 1000, &p, x, NULL), 0);
  NEAR(x[1], 0.35);

  /* embodied carbon: at ci 0 only time counts. L0 2 s, L1 1 s, e = 1 g/s,
   * q .5 .4, xi 1, ci_min 0 ... ci 0 -> floor = q0 -> x0 = 1 */
  p.embodied_g_per_s = 1;
  eco_level_stats lv3[2] = {{0, 2, .5}, {0, 1, .4}};
  assert_int_equal(eco_directive_plan(lv3, 2, 0, &p, x, NULL), 0);
  NEAR(x[0], 1.0);
  /* at ci 100 with xi 0.5: floor .25 -> L1 alone (q .4) is feasible and cheaper */
  p.xi = 0.5;
  assert_int_equal(eco_directive_plan(lv3, 2, 100, &p, x, NULL), 0);
  NEAR(x[1], 1.0);
  NEAR(eco_plan_floor_factor(&p, 100), 0.5);
  NEAR(eco_plan_cost_g(&p, &lv3[0], 100), 2.0);
}

static void test_lp_bad_input(void **state) {
  (void)state;
  eco_plan_cfg p = plan_cfg();
  double x[3];
  eco_level_stats lv[2] = {{1, 0, .5}, {0.5, 0, .4}};
  eco_error e = {0};
  assert_int_equal(eco_directive_plan(lv, 0, 50, &p, x, &e), ECO_EINVAL);
  assert_int_equal(eco_directive_plan(lv, 2, NAN, &p, x, &e), ECO_EINVAL);
  lv[1].pref = 1.5;
  assert_int_equal(eco_directive_plan(lv, 2, 50, &p, x, &e), ECO_EINVAL);
  lv[1].pref = .4;
  p.ci_max = p.ci_min;
  assert_int_equal(eco_directive_plan(lv, 2, 50, &p, x, &e), ECO_EINVAL);
  assert_non_null(strstr(e.msg, "range"));
}

/* ---- scheduling rules ----------------------------------------------------------*/
static void test_replan_rule(void **state) {
  (void)state;
  eco_replan_cfg r = {3600, 0.1};
  assert_true(eco_directive_replan_due(&r, true, 0, 100, 0, 100));
  assert_false(eco_directive_replan_due(&r, false, 0, 100, 1800, 105));
  assert_true(eco_directive_replan_due(&r, false, 0, 100, 1800, 115)); /* +15 % */
  assert_true(eco_directive_replan_due(&r, false, 0, 100, 1800, 85));  /* -15 % */
  assert_true(eco_directive_replan_due(&r, false, 0, 100, 3600, 100)); /* period */
  r.threshold = 0;
  assert_false(eco_directive_replan_due(&r, false, 0, 100, 1800, 300));
}

static void test_eval_schedule(void **state) {
  (void)state;
  eco_eval_sched s;
  eco_eval_sched_init(&s);
  s.decay = 0; /* plain intensities: easy to solve by hand */
  /* hours 1..6 are within the grace period: never, even at a minimum */
  double ci[] = {100, 90, 80, 90, 80, 90, 100, 90, 80, 70, 80, 90};
  bool ran[12] = {false};
  for (long h = 1; h < 12; h++)
    ran[h] = eco_eval_sched_step(&s, h, ci[h - 1], ci[h], 85);
  for (int h = 1; h <= 6; h++)
    assert_false(ran[h]);
  /* falling to 70 at h=9 then rising at h=10: run at h=10? The rule runs at
   * the hour where the gradient turns from <= 0 to >= 0: h=10 (70->80 after
   * 80->70) and ci[10] = 80 is below the mean 85. */
  assert_false(ran[7]);
  assert_false(ran[8]);
  assert_false(ran[9]);
  assert_true(ran[10]);
  assert_int_equal(s.last_run_h, 10);
  /* above the mean: never at a minimum; but always after max_idle */
  eco_eval_sched_init(&s);
  s.decay = 0;
  int runs = 0;
  for (long h = 1; h <= 80; h++)
    runs += eco_eval_sched_step(&s, h, 500, 500, 100);
  assert_int_equal(runs, 1);
  assert_int_equal(s.last_run_h, 72);
}

/* ---- per-request assignment -----------------------------------------------------*/
static void test_assign(void **state) {
  (void)state;
  /* task 0 ("trivia"): brief as good as full (1:1) and 5x cheaper; task 1
   * ("maths"): full answers preferred 3:1. 20 prompts each. */
  eco_assign_sample s[40];
  memset(s, 0, sizeof s);
  for (int i = 0; i < 40; i++) {
    int t = i < 20 ? 0 : 1;
    s[i].f.task = t;
    s[i].f.prompt_chars = (size_t)(10 + i % 20);
    s[i].energy_kwh[0] = 1e-3, s[i].energy_kwh[1] = 2e-4;
    s[i].time_s[0] = 0, s[i].time_s[1] = 0;
    s[i].preferred = t == 0 ? (i % 2) : (i % 4 == 0 ? 1 : 0);
  }
  eco_assign_model m;
  /* alpha huge: every group takes its task's rates (hand-solvable) */
  assert_int_equal(eco_assign_train(&m, s, 40, 2, 2, 1e9, NULL), 0);
  NEAR(m.task_lv[0][1].pref, 0.5);
  NEAR(m.task_lv[1][0].pref, 0.75);
  eco_plan_cfg p = plan_cfg();
  double mix[2] = {1, 1};
  eco_assign_plan plan;
  assert_int_equal(eco_assign_solve(&m, mix, 100, &p, 0, &plan, NULL), 0);
  /* q0 of the mix = 0.5*0.5 + 0.5*0.75 = 0.625, floor = 0.9 * 0.625 = 0.5625.
   * Trivia brief loses nothing (0.5 either way) and is cheaper: always
   * brief. Maths brief share y: 0.25 + 0.5*(0.25 y + 0.75 (1 - y)) = 0.5625
   * -> y = 0.25. */
  eco_request_features f0 = {0, 15}, f1 = {1, 15};
  for (int b = 0; b < ECO_ASSIGN_BUCKETS; b++)
    NEAR(plan.y[0][b][1], 1.0);
  assert_int_equal(eco_assign_level(&m, &plan, &f0, 0.99), 1);
  NEAR(plan.floor, 0.5625);
  NEAR(plan.expect_pref, 0.5625);
  double y = 0;
  for (int b = 0; b < ECO_ASSIGN_BUCKETS; b++)
    y += plan.y[1][b][1] * m.g[1][b].share;
  NEAR(y, 0.25);
  /* expected carbon per request: ci 100 * (0.5*2e-4 + 0.5*(0.25*2e-4 + 0.75*1e-3)) */
  NEAR(plan.expect_g, 100 * (0.5 * 2e-4 + 0.5 * (0.25 * 2e-4 + 0.75 * 1e-3)));
  NEAR(plan.ref_g, 100 * 1e-3);
  /* unknown task: level 0; explanation names the group */
  eco_request_features fu = {-1, 5};
  assert_int_equal(eco_assign_level(&m, &plan, &fu, 0.5), 0);
  char buf[256];
  eco_assign_explain(&m, &plan, &f1, 100, &p, buf, sizeof buf);
  assert_non_null(strstr(buf, "task 1"));
  /* bad input */
  assert_int_equal(eco_assign_train(&m, s, 0, 2, 2, 0.0, NULL), ECO_EINVAL);
  double neg[2] = {-1, 1};
  assert_int_equal(eco_assign_solve(&m, neg, 100, &p, 0, &plan, NULL), ECO_EINVAL);
  assert_false(plan.degraded);
  /* a floor above what any level reaches never fails: the plan degrades to
   * the highest-preference one (trivia: a tie at 0.5, the cheaper L1;
   * maths: L0 at 0.75) and says so */
  assert_int_equal(eco_assign_solve(&m, mix, 100, &p, 0.5, &plan, NULL), 0);
  assert_true(plan.degraded);
  for (int b = 0; b < ECO_ASSIGN_BUCKETS; b++) {
    NEAR(plan.y[0][b][1], 1.0);
    NEAR(plan.y[1][b][0], 1.0);
  }
  NEAR(plan.expect_pref, 0.5 * 0.5 + 0.5 * 0.75);
  NEAR(plan.floor, 0.5625 + 0.5);
  /* the same over a period */
  double fc2[2] = {100, 100};
  eco_assign_plan pp[2];
  assert_int_equal(eco_assign_solve_period(&m, mix, fc2, 2, &p, 0.5, 0, pp, NULL), 0);
  assert_true(pp[0].degraded && pp[1].degraded);
  NEAR(pp[1].y[1][0][0], 1.0);
}

static void test_assign_period(void **state) {
  (void)state;
  /* one task, 10 prompts: 6 prefer full answers, 4 brief; 1 vs 0.2 kWh */
  eco_assign_sample s[10];
  memset(s, 0, sizeof s);
  for (int i = 0; i < 10; i++) {
    s[i].f.task = 0;
    s[i].f.prompt_chars = 10 + (size_t)i;
    s[i].energy_kwh[0] = 1, s[i].energy_kwh[1] = 0.2;
    s[i].preferred = i < 6 ? 0 : 1;
  }
  eco_assign_model m;
  assert_int_equal(eco_assign_train(&m, s, 10, 1, 2, 1e9, NULL), 0);
  eco_plan_cfg p = plan_cfg();
  double mix[1] = {1}, fc[2] = {50, 100};
  eco_assign_plan plans[2];
  /* floors 0.95*0.6 = 0.57 and 0.9*0.6 = 0.54, together 1.11. Brevity
   * costs 0.2 preference per unit in both hours but saves 0.8*50 = 40 now
   * and 0.8*100 = 80 later: all of it goes to the dirty hour:
   * 0.6 + 0.6 - 0.2 y1 = 1.11 -> y1 = 0.45, y0 = 0. (Hour by hour it
   * would be y0 = 0.15, y1 = 0.3, costing 44 + 76 = 120 > 50 + 64.) */
  assert_int_equal(eco_assign_solve_period(&m, mix, fc, 2, &p, 0, 0, plans, NULL), 0);
  double y0 = 0, y1 = 0;
  for (int b = 0; b < ECO_ASSIGN_BUCKETS; b++) {
    y0 += plans[0].y[0][b][1] * m.g[0][b].share;
    y1 += plans[1].y[0][b][1] * m.g[0][b].share;
  }
  NEAR(y0, 0.0);
  NEAR(y1, 0.45);
  NEAR(plans[0].expect_g + plans[1].expect_g, 114.0);
  NEAR(plans[0].floor, 0.57);
  /* credit from earlier hours lowers what is needed: 0.05 per hour = 0.1 */
  assert_int_equal(eco_assign_solve_period(&m, mix, fc, 2, &p, 0, 0.05, plans, NULL), 0);
  y1 = 0;
  for (int b = 0; b < ECO_ASSIGN_BUCKETS; b++)
    y1 += plans[1].y[0][b][1] * m.g[0][b].share;
  NEAR(y1, 0.95);
  double bad[2] = {50, NAN};
  assert_int_equal(eco_assign_solve_period(&m, mix, bad, 2, &p, 0, 0, plans, NULL), ECO_EINVAL);
}

/* Subnormal and tiny statistics (a fuzzed model file): GLPK's scaling
 * aborted the process on them ("glp_set_rii: invalid scale factor"). The
 * LP treats them as zero and still answers. */
static void test_assign_tiny_coefficients(void **state) {
  (void)state;
  eco_assign_sample s[8];
  memset(s, 0, sizeof s);
  for (int i = 0; i < 8; i++) {
    s[i].f.task = 0;
    s[i].f.prompt_chars = 10 + (size_t)i;
    s[i].energy_kwh[0] = 1, s[i].energy_kwh[1] = 0.2;
    s[i].preferred = i < 4 ? 0 : 1;
  }
  eco_assign_model m;
  assert_int_equal(eco_assign_train(&m, s, 8, 1, 2, 1e9, NULL), 0);
  eco_plan_cfg p = plan_cfg();
  double mix[1] = {1}, fc[3] = {400, 100, 250};
  eco_assign_plan plans[3];
  double tiny[] = {4.9e-324, 1e-310, 2.2e-308, 1e-200, 1e-13};
  for (size_t i = 0; i < sizeof tiny / sizeof tiny[0]; i++) {
    for (int b = 0; b < ECO_ASSIGN_BUCKETS; b++) {
      m.g[0][b].lv[0].pref = tiny[i];
      m.g[0][b].lv[1].pref = b % 2 ? tiny[i] : 0.5;
      m.g[0][b].lv[1].energy_kwh = tiny[i];
    }
    assert_int_equal(eco_assign_solve_period(&m, mix, fc, 3, &p, 0, 0, plans, NULL), 0);
    for (int h = 0; h < 3; h++)
      for (int b = 0; b < ECO_ASSIGN_BUCKETS; b++)
        NEAR(plans[h].y[0][b][0] + plans[h].y[0][b][1], 1.0);
    for (int b = 0; b < ECO_ASSIGN_BUCKETS; b++)
      m.g[0][b].share = tiny[i];
    m.g[0][0].share = 1;
    assert_int_equal(eco_assign_solve_period(&m, mix, fc, 3, &p, 0, 0, plans, NULL), 0);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults_and_apply),
      cmocka_unit_test(test_optout_and_caps),
      cmocka_unit_test(test_lp_hand_solved),
      cmocka_unit_test(test_lp_bad_input),
      cmocka_unit_test(test_replan_rule),
      cmocka_unit_test(test_eval_schedule),
      cmocka_unit_test(test_assign),
      cmocka_unit_test(test_assign_period),
      cmocka_unit_test(test_assign_tiny_coefficients),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
