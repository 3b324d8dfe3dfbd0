/* Tests for src/sim/shift_replay (the year-long shifting simulation) and
 * `ecoinfer sim shift` on a shared trace (its SVG writer: tests/test_svg.c). */
#include "testutil.h"

#include "sim/shift_replay.h"
#include "util/status.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

/* 100 g/kWh for hours 0..11 of each day, 300 for 12..23. With a 24 h
 * deadline every window holds a 100 hour, so a perfect forecast runs every
 * request at 100; a seasonal-naive forecast of a perfectly periodic trace
 * is exact too. Nothing is ever late. */
static void test_square_wave(void **state) {
  (void)state;
  size_t n = 24 * 60;
  double *ci = malloc(n * sizeof *ci);
  assert_non_null(ci);
  for (size_t i = 0; i < n; i++)
    ci[i] = (i % 24) < 12 ? 100 : 300;
  eco_sim_shift_cfg c;
  eco_sim_shift_defaults(&c);
  c.n_jobs = 50;
  c.embodied.total_g = 0;
  c.fc.kind = ECO_FORECAST_ORACLE;
  eco_sim_shift_result perfect, naive;
  eco_error err = {0};
  assert_int_equal(eco_sim_shift_run(ci, n, &c, &perfect, &err), 0);
  assert_int_equal(perfect.jobs, 50);
  assert_int_equal(perfect.refused, 0);
  assert_int_equal(perfect.late, 0);
  assert_true(fabs(perfect.mean_shift_ci - 100) < 1e-9);
  assert_true(perfect.mean_now_ci > 100 && perfect.mean_now_ci < 300);
  /* saving = 1 - 100 / mean run-now intensity (same energy per request) */
  assert_true(fabs(perfect.saving_pct - 100 * (1 - 100 / perfect.mean_now_ci)) < 1e-6);
  /* 1000 J at PUE 1.2 and 100 g/kWh = 1/30 g per request. */
  assert_true(fabs(perfect.shifted_g - (double)perfect.requests / 30.0) < 1e-9);
  c.fc = (eco_forecast_cfg){.kind = ECO_FORECAST_SEASONAL_NAIVE, .period = 24, .k_days = 1};
  assert_int_equal(eco_sim_shift_run(ci, n, &c, &naive, &err), 0);
  assert_true(fabs(naive.shifted_g - perfect.shifted_g) < 1e-9);
  assert_true(fabs(naive.run_now_g - perfect.run_now_g) < 1e-9);
  c.replan = false;
  assert_int_equal(eco_sim_shift_run(ci, n, &c, &naive, &err), 0);
  assert_true(fabs(naive.shifted_g - perfect.shifted_g) < 1e-9);

  /* 4 h deadline: only windows that reach hour 0 can shift; never late. */
  c.deadline_s = 4 * 3600;
  assert_int_equal(eco_sim_shift_run(ci, n, &c, &naive, &err), 0);
  assert_int_equal(naive.late, 0);
  assert_true(naive.shifted_g <= naive.run_now_g + 1e-9);

  /* Far more work than capacity: the admission check refuses jobs, and the
   * admitted ones still all finish in time. */
  c.deadline_s = 24 * 3600;
  c.n_jobs = 3000;
  c.replan = true;
  assert_int_equal(eco_sim_shift_run(ci, n, &c, &naive, &err), 0);
  assert_true(naive.refused > 0);
  assert_int_equal(naive.late, 0);
  assert_int_equal(naive.jobs + naive.refused, 3000);

  /* Bad input. */
  ci[5] = NAN;
  assert_int_equal(eco_sim_shift_run(ci, n, &c, &naive, &err), ECO_EFORMAT);
  assert_int_equal(eco_sim_shift_run(ci, 100, &c, &naive, &err), ECO_EFORMAT);
  ci[5] = 100;
  assert_int_equal(eco_sim_shift_run(ci, 100, &c, &naive, &err), ECO_ERANGE);
  free(ci);
}

/* Two zones, A at a constant 300 g/kWh and B at 100. Jobs alternate
 * between home zones A and B (50 jobs: 25 each). Run-now runs each at home:
 * mean 200. The planner moves all of A's work to B (moved 50 %), which has
 * room for it: every request at 100, a saving of exactly 50 % without
 * embodied carbon, and nothing late. */
static void test_two_zones(void **state) {
  (void)state;
  size_t n = 24 * 60;
  double *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
  assert_non_null(a);
  assert_non_null(b);
  for (size_t i = 0; i < n; i++) {
    a[i] = 300;
    b[i] = 100;
  }
  const double *zones[2] = {a, b};
  eco_sim_shift_cfg c;
  eco_sim_shift_defaults(&c);
  c.n_jobs = 50;
  c.embodied.total_g = 0;
  eco_sim_shift_result r;
  eco_error err = {0};
  assert_int_equal(eco_sim_shift_run_zones(zones, 2, n, &c, &r, &err), 0);
  assert_int_equal(r.jobs, 50);
  assert_int_equal(r.late, 0);
  assert_true(fabs(r.mean_now_ci - 200) < 1e-9);
  assert_true(fabs(r.mean_shift_ci - 100) < 1e-9);
  assert_true(fabs(r.saving_pct - 50) < 1e-9);
  assert_true(fabs(r.moved_pct - 50) < 1e-9);
  /* One zone only: nothing can move. */
  assert_int_equal(eco_sim_shift_run_zones(zones, 1, n, &c, &r, &err), 0);
  assert_true(r.moved_pct == 0);
  zones[1] = NULL;
  assert_int_equal(eco_sim_shift_run_zones(zones, 2, n, &c, &r, &err), ECO_EINVAL);
  free(a);
  free(b);
}

/* The command on a real trace: perfect knowledge saves at least as much as
 * seasonal-naive, nothing is late, and files are written. */
static void test_cli_gb(void **state) {
  (void)state;
  char *trace;
  ECO_TEST_NEED_SHARED("data/carbon/GB_2023_hourly.csv", &trace);
  char *dir = eco_test_tmpdir();
  char *svg = eco_test_path(dir, "s.svg"), *csv = eco_test_path(dir, "s.csv");
  char cmd[4096];
  snprintf(cmd, sizeof cmd,
           "'%s' sim shift --jobs 60 --deadline 12h,24h --forecast perfect,seasonal-naive "
           "--svg '%s' --csv '%s' --json '%s'",
           eco_test_binary(), svg, csv, trace);
  char *out = NULL;
  int code = -1;
  assert_int_equal(eco_test_run(cmd, &out, &code), 0);
  assert_int_equal(code, 0);
  json_t *o = json_loads(out, 0, NULL);
  assert_non_null(o);
  json_t *res = json_object_get(o, "results");
  assert_int_equal(json_array_size(res), 4);
  for (size_t i = 0; i < 4; i += 2) {
    json_t *p = json_array_get(res, i), *s = json_array_get(res, i + 1);
    assert_string_equal(json_string_value(json_object_get(p, "forecast")), "oracle");
    assert_string_equal(json_string_value(json_object_get(s, "forecast")), "seasonal-naive");
    double sp = json_real_value(json_object_get(p, "saving_pct"));
    double ss = json_real_value(json_object_get(s, "saving_pct"));
    assert_true(sp > 0 && sp >= ss - 1e-9);
    assert_int_equal(json_integer_value(json_object_get(p, "late")), 0);
    assert_string_equal(json_string_value(json_object_get(p, "zone")), "GB");
  }
  json_decref(o);
  free(out);
  FILE *f = fopen(svg, "r");
  assert_non_null(f);
  fclose(f);
  f = fopen(csv, "r");
  assert_non_null(f);
  char line[512];
  assert_non_null(fgets(line, sizeof line, f));
  assert_true(strncmp(line, "trace,zone,deadline_h", 21) == 0);
  fclose(f);
  /* usage errors */
  snprintf(cmd, sizeof cmd, "'%s' sim shift --deadline 5x '%s' 2>/dev/null", eco_test_binary(),
           trace);
  assert_int_equal(eco_test_run(cmd, &out, &code), 0);
  assert_int_equal(code, 2);
  free(out);
  snprintf(cmd, sizeof cmd, "'%s' sim shift 2>/dev/null", eco_test_binary());
  assert_int_equal(eco_test_run(cmd, &out, &code), 0);
  assert_int_equal(code, 2);
  free(out);
  free(svg);
  free(csv);
  eco_test_rmtree(dir);
  free(dir);
  free(trace);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_square_wave),
      cmocka_unit_test(test_two_zones),
      cmocka_unit_test(test_cli_gb),
  };
  return cmocka_run_group_tests_name("shift_sim", tests, NULL, NULL);
}
