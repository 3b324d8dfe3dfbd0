/* Tests for src/policy/shift: the time/zone planner on hand-checked
 * forecasts (every expected assignment is worked out in the comments). */
#include "testutil.h"

#include "policy/shift.h"
#include "util/status.h"

#include <math.h>
#include <string.h>

static void expect_cell(const eco_shift_plan *p, size_t i, uint32_t slot, uint32_t zone,
                        int64_t count) {
  assert_true(i < p->n_cells);
  assert_int_equal(p->cells[i].slot, slot);
  assert_int_equal(p->cells[i].zone, zone);
  assert_int_equal(p->cells[i].count, count);
}

/* One zone, 1 kWh per request, no embodied, 2 requests per slot.
 * Forecast 300 100 200 50 | 400, deadline after 4 slots (slot 4 excluded).
 * Cheapest first: slot 3 (50) x2, slot 1 (100) x2, slot 2 (200) x1
 * = 100 + 200 + 200 = 500 g. Run-now: slots 0,0,1,1,2 = 600+200+200 = 1000 g. */
static void test_one_zone(void **state) {
  (void)state;
  eco_shift_zone z = {.name = "A", .energy_j = 3.6e6, .pue = 1.0, .capacity = 2};
  double ci[5] = {300, 100, 200, 50, 400};
  eco_shift_problem p = {.n_zones = 1,
                         .n_slots = 5,
                         .zones = &z,
                         .intensity = ci,
                         .deadline_slots = 4,
                         .first_frac = 1.0,
                         .n_requests = 5};
  eco_shift_plan plan;
  eco_error err = {0};
  assert_int_equal(eco_shift_plan_make(&p, &plan, &err), 0);
  assert_int_equal(plan.n_cells, 3);
  expect_cell(&plan, 0, 1, 0, 2);
  expect_cell(&plan, 1, 2, 0, 1);
  expect_cell(&plan, 2, 3, 0, 2);
  assert_true(fabs(plan.predicted_g - 500.0) < 1e-9);
  assert_true(fabs(plan.run_now_g - 1000.0) < 1e-9);
  assert_int_equal(plan.n_requests, 5);
  eco_shift_plan now;
  assert_int_equal(eco_shift_plan_run_now(&p, &now, &err), 0);
  assert_int_equal(now.n_cells, 3);
  expect_cell(&now, 0, 0, 0, 2);
  expect_cell(&now, 1, 1, 0, 2);
  expect_cell(&now, 2, 2, 0, 1);
  assert_true(fabs(now.predicted_g - 1000.0) < 1e-9);
  eco_shift_plan_free(&now);

  /* A tie (two slots at 100) goes to the earlier slot. */
  double tie[3] = {100, 100, 300};
  p.intensity = tie;
  p.n_slots = 3;
  p.deadline_slots = 3;
  p.n_requests = 1;
  eco_shift_plan_free(&plan);
  assert_int_equal(eco_shift_plan_make(&p, &plan, &err), 0);
  assert_int_equal(plan.n_cells, 1);
  expect_cell(&plan, 0, 0, 0, 1);
  eco_shift_plan_free(&plan);
}

/* Two zones with PUE, embodied carbon, an interactive reserve and a
 * partly elapsed slot 0 (first_frac 0.5).
 *   A: 0.1 kWh, PUE 1.5, 5 g embodied, capacity 10, 50 % reserved -> 5/slot
 *      cost = 0.15*I + 5;  I = 200 100 300 -> 35 20 50
 *   B: 0.2 kWh, PUE 1.0, 1 g embodied, capacity 4, 25 % reserved -> 3/slot
 *      cost = 0.2*I + 1;   I = 100 150 20  -> 21 31 5
 *   slot 0 free: A floor(5*0.5) = 2, B floor(3*0.5) = 1.
 * 9 requests, cheapest first: B2 (5) x3, A1 (20) x5, B0 (21) x1
 *   = 15 + 100 + 21 = 136 g.
 * Run-now: slot 0: B0 (21) x1, A0 (35) x2; slot 1: A1 (20) x5, B1 (31) x1
 *   = 21 + 70 + 100 + 31 = 222 g. */
static void test_two_zones(void **state) {
  (void)state;
  eco_shift_zone z[2] = {
      {.name = "A",
       .energy_j = 3.6e5,
       .pue = 1.5,
       .embodied_g = 5,
       .capacity = 10,
       .interactive_share = 0.5},
      {.name = "B",
       .energy_j = 7.2e5,
       .pue = 1.0,
       .embodied_g = 1,
       .capacity = 4,
       .interactive_share = 0.25},
  };
  double ci[6] = {200, 100, 300, /* A */ 100, 150, 20 /* B */};
  eco_shift_problem p = {.n_zones = 2,
                         .n_slots = 3,
                         .zones = z,
                         .intensity = ci,
                         .deadline_slots = 3,
                         .first_frac = 0.5,
                         .n_requests = 9};
  assert_int_equal(eco_shift_free(&p, 0, 0), 2);
  assert_int_equal(eco_shift_free(&p, 1, 0), 1);
  assert_int_equal(eco_shift_free(&p, 0, 1), 5);
  assert_int_equal(eco_shift_free(&p, 1, 2), 3);
  eco_shift_plan plan;
  eco_error err = {0};
  assert_int_equal(eco_shift_plan_make(&p, &plan, &err), 0);
  assert_int_equal(plan.n_cells, 3);
  expect_cell(&plan, 0, 0, 1, 1);
  expect_cell(&plan, 1, 1, 0, 5);
  expect_cell(&plan, 2, 2, 1, 3);
  assert_true(fabs(plan.predicted_g - 136.0) < 1e-9);
  assert_true(fabs(plan.run_now_g - 222.0) < 1e-9);
  eco_shift_plan_free(&plan);

  /* Other batches hold B2 fully and 4 of A1: now B2 is gone, A1 has 1.
   * Cheapest: A1 (20) x1, B0 (21) x1, B1 (31) x3, A0 (35) x2, A2 (50) x2 = 9
   *   = 20 + 21 + 93 + 70 + 100 = 304 g. */
  int64_t used[6] = {0, 4, 0, /* A */ 0, 0, 3 /* B */};
  p.used = used;
  assert_int_equal(eco_shift_plan_make(&p, &plan, &err), 0);
  assert_int_equal(plan.n_cells, 5);
  expect_cell(&plan, 0, 0, 0, 2);
  expect_cell(&plan, 1, 0, 1, 1);
  expect_cell(&plan, 2, 1, 0, 1);
  expect_cell(&plan, 3, 1, 1, 3);
  expect_cell(&plan, 4, 2, 0, 2);
  assert_true(fabs(plan.predicted_g - 304.0) < 1e-9);
  /* The ledger: reserving the plan fills the cells it used. */
  eco_shift_reserve(&plan, used, 2, 3);
  assert_int_equal(used[0], 2);
  assert_int_equal(used[1], 5);
  assert_int_equal(used[2], 2);
  assert_int_equal(used[3], 1);
  assert_int_equal(used[4], 3);
  assert_int_equal(used[5], 3);
  eco_shift_plan_free(&plan);
}

/* Admission: 19 request-slots are free before the deadline in the
 * two-zone case (2+5+5 + 1+3+3); 20 requests are refused with a message,
 * and so is a deadline inside the current slot. */
static void test_admission(void **state) {
  (void)state;
  eco_shift_zone z[2] = {
      {.energy_j = 3.6e5, .pue = 1.5, .embodied_g = 5, .capacity = 10, .interactive_share = 0.5},
      {.energy_j = 7.2e5, .pue = 1.0, .embodied_g = 1, .capacity = 4, .interactive_share = 0.25},
  };
  double ci[6] = {200, 100, 300, 100, 150, 20};
  eco_shift_problem p = {.n_zones = 2,
                         .n_slots = 3,
                         .zones = z,
                         .intensity = ci,
                         .deadline_slots = 3,
                         .first_frac = 0.5,
                         .n_requests = 19};
  eco_shift_plan plan;
  eco_error err = {0};
  assert_int_equal(eco_shift_plan_make(&p, &plan, &err), 0);
  assert_int_equal(plan.n_requests, 19);
  eco_shift_plan_free(&plan);
  p.n_requests = 20;
  assert_int_equal(eco_shift_plan_make(&p, &plan, &err), ECO_ERANGE);
  assert_non_null(strstr(err.msg, "cannot meet the deadline"));
  assert_non_null(strstr(err.msg, "only 19 are free"));
  assert_int_equal(plan.n_cells, 0);
  p.deadline_slots = 0;
  p.n_requests = 1;
  assert_int_equal(eco_shift_plan_make(&p, &plan, &err), ECO_ERANGE);
  /* Zero requests always fit. */
  p.n_requests = 0;
  assert_int_equal(eco_shift_plan_make(&p, &plan, &err), 0);
  assert_int_equal(plan.n_cells, 0);
  /* A deadline beyond the forecast is an error, not a guess. */
  p.deadline_slots = 4;
  assert_int_equal(eco_shift_plan_make(&p, &plan, &err), ECO_ERANGE);
  p.deadline_slots = 3;
  ci[4] = NAN;
  assert_int_equal(eco_shift_plan_make(&p, &plan, &err), ECO_EINVAL);
}

/* Slot grid of 1 h starting at 3600 s; now = 4500 s (a quarter in);
 * deadline = now + 4 h = 18900 s: (18900-3600)/3600 = 4.25 -> 4 whole
 * slots end by it; 0.75 of slot 0 is left. */
static void test_window(void **state) {
  (void)state;
  size_t n;
  double f;
  eco_error err = {0};
  assert_int_equal(eco_shift_window(3600, 3600, 4500, 18900, &n, &f, &err), 0);
  assert_int_equal(n, 4);
  assert_true(fabs(f - 0.75) < 1e-12);
  assert_int_equal(eco_shift_window(3600, 3600, 4500, 7199, &n, &f, &err), 0);
  assert_int_equal(n, 0);
  assert_int_equal(eco_shift_window(3600, 3600, 7200, 9000, &n, &f, &err), ECO_EINVAL);
}

/* Replan. The one-zone plan of test_one_zone holds slot 1 x2, slot 2 x1,
 * slot 3 x2. One slot later (elapsed 1) the 2 requests of old slot 1 are
 * running (kept, and hold the current slot's capacity of 2). The new
 * forecast on the new grid is 100 20 300 (old slots 1..3), deadline 3
 * slots: the 3 others go to new slot 1 (20) x2 and new slot 2 (300) x1
 * = 40 + 300 = 340 g. */
static void test_replan(void **state) {
  (void)state;
  eco_shift_zone z = {.energy_j = 3.6e6, .pue = 1.0, .capacity = 2};
  double ci[5] = {300, 100, 200, 50, 400};
  eco_shift_problem p = {.n_zones = 1,
                         .n_slots = 5,
                         .zones = &z,
                         .intensity = ci,
                         .deadline_slots = 4,
                         .first_frac = 1.0,
                         .n_requests = 5};
  eco_shift_plan cur, next;
  eco_error err = {0};
  assert_int_equal(eco_shift_plan_make(&p, &cur, &err), 0);
  double ci2[3] = {100, 20, 300};
  eco_shift_problem q = {.n_zones = 1,
                         .n_slots = 3,
                         .zones = &z,
                         .intensity = ci2,
                         .deadline_slots = 3,
                         .first_frac = 1.0};
  int64_t kept = -1;
  assert_int_equal(eco_shift_replan(&cur, 1, true, &q, &next, &kept, &err), 0);
  assert_int_equal(kept, 2);
  assert_int_equal(next.n_requests, 3);
  assert_int_equal(next.n_cells, 2);
  expect_cell(&next, 0, 1, 0, 2);
  expect_cell(&next, 1, 2, 0, 1);
  assert_true(fabs(next.predicted_g - 340.0) < 1e-9);
  eco_shift_plan_free(&next);

  /* The same replan at the very start of the slot (nothing of it begun):
   * all 5 are open again. New grid 100 20 300, 2 per slot: slot 1 (20) x2,
   * slot 0 (100) x2, slot 2 (300) x1 = 40 + 200 + 300 = 540 g. */
  assert_int_equal(eco_shift_replan(&cur, 1, false, &q, &next, &kept, &err), 0);
  assert_int_equal(kept, 0);
  assert_int_equal(next.n_cells, 3);
  expect_cell(&next, 0, 0, 0, 2);
  expect_cell(&next, 1, 1, 0, 2);
  expect_cell(&next, 2, 2, 0, 1);
  assert_true(fabs(next.predicted_g - 540.0) < 1e-9);
  eco_shift_plan_free(&next);
  /* Two slots on, slot 1 done (2 kept) and slot 2 not begun. */
  assert_int_equal(eco_shift_replan(&cur, 2, false, &q, &next, &kept, &err), 0);
  assert_int_equal(kept, 2);
  assert_int_equal(next.n_requests, 3);
  eco_shift_plan_free(&next);

  /* Unchanged forecast, no time elapsed: the replan equals the plan. */
  assert_int_equal(eco_shift_replan(&cur, 0, false, &p, &next, &kept, &err), 0);
  assert_int_equal(kept, 0);
  assert_int_equal(next.n_cells, cur.n_cells);
  for (size_t i = 0; i < cur.n_cells; i++)
    expect_cell(&next, i, cur.cells[i].slot, cur.cells[i].zone, cur.cells[i].count);
  eco_shift_plan_free(&next);

  /* The old plan's own cells stay free for it, so a replan of an admitted
   * batch always fits: a forecast that flips (everything dear later)
   * moves work earlier, within the same capacity. */
  double ci3[4] = {100, 900, 900, 900};
  eco_shift_problem r = {.n_zones = 1,
                         .n_slots = 4,
                         .zones = &z,
                         .intensity = ci3,
                         .deadline_slots = 3,
                         .first_frac = 1.0};
  assert_int_equal(eco_shift_replan(&cur, 1, true, &r, &next, &kept, &err), 0);
  assert_int_equal(kept, 2);
  expect_cell(&next, 0, 1, 0, 2);
  expect_cell(&next, 1, 2, 0, 1);
  eco_shift_plan_free(&next);
  eco_shift_plan_free(&cur);
}

/* Replan hysteresis. The one-zone plan holds slot 1 x2, slot 2 x1, slot 3
 * x2 (costs 100, 200, 50). The current slot turns out cheaper than
 * forecast: 180 instead of 300. Without a margin the slot-2 request moves
 * there (180 < 200): 100+100 + 180 + 50+50 = 480 g. With keep_margin 0.2 the
 * old cells rank at 80, 160, 40: 160 < 180, nothing moves (500 g). With
 * 0.05 slot 2 ranks at 190 > 180 and the request moves again. */
static void test_keep_margin(void **state) {
  (void)state;
  eco_shift_zone z = {.energy_j = 3.6e6, .pue = 1.0, .capacity = 2};
  double ci[5] = {300, 100, 200, 50, 400};
  eco_shift_problem p = {.n_zones = 1,
                         .n_slots = 5,
                         .zones = &z,
                         .intensity = ci,
                         .deadline_slots = 4,
                         .first_frac = 1.0,
                         .n_requests = 5};
  eco_shift_plan cur, next;
  eco_error err = {0};
  assert_int_equal(eco_shift_plan_make(&p, &cur, &err), 0);
  double ci2[5] = {180, 100, 200, 50, 400};
  eco_shift_problem q = p;
  q.intensity = ci2;
  int64_t kept;
  double margins[3] = {0, 0.2, 0.05};
  double expect_g[3] = {480, 500, 480};
  for (int i = 0; i < 3; i++) {
    q.keep_margin = margins[i];
    assert_int_equal(eco_shift_replan(&cur, 0, false, &q, &next, &kept, &err), 0);
    assert_int_equal(kept, 0);
    assert_true(fabs(next.predicted_g - expect_g[i]) < 1e-9);
    assert_int_equal(next.cells[0].slot, expect_g[i] == 500 ? 1 : 0);
    eco_shift_plan_free(&next);
  }
  eco_shift_plan_free(&cur);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_one_zone),  cmocka_unit_test(test_two_zones),
      cmocka_unit_test(test_admission), cmocka_unit_test(test_window),
      cmocka_unit_test(test_replan),    cmocka_unit_test(test_keep_margin),
  };
  return cmocka_run_group_tests_name("shift", tests, NULL, NULL);
}
