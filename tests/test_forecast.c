/* Tests for src/carbon/forecast: seasonal-naive, blend and oracle on
 * series whose forecasts are worked out by hand, and the error metrics. */
#include "testutil.h"

#include "carbon/forecast.h"
#include "util/status.h"

#include <math.h>
#include <string.h>

static void test_parse(void **state) {
  (void)state;
  eco_forecast_cfg c;
  eco_error err = {0};
  char name[32];
  assert_int_equal(eco_forecast_parse("perfect", &c, &err), 0);
  assert_int_equal(c.kind, ECO_FORECAST_ORACLE);
  assert_int_equal(eco_forecast_parse("seasonal-naive", &c, &err), 0);
  assert_int_equal(c.kind, ECO_FORECAST_SEASONAL_NAIVE);
  assert_int_equal(c.period, 24);
  assert_int_equal(eco_forecast_parse("seasonal-blend:3", &c, &err), 0);
  assert_int_equal(c.kind, ECO_FORECAST_SEASONAL_BLEND);
  assert_int_equal(c.k_days, 3);
  eco_forecast_name(&c, name, sizeof name);
  assert_string_equal(name, "seasonal-blend-3");
  assert_int_equal(eco_forecast_parse("seasonal-blend", &c, &err), 0);
  assert_int_equal(c.k_days, 7);
  assert_int_equal(eco_forecast_parse("seasonal-blend:0", &c, &err), ECO_EINVAL);
  assert_int_equal(eco_forecast_parse("arima", &c, &err), ECO_EINVAL);
  assert_non_null(strstr(err.msg, "arima"));
}

/* values[i] = i, so each forecast names the index it copied. */
static void test_seasonal(void **state) {
  (void)state;
  double v[72], out[30];
  for (int i = 0; i < 72; i++)
    v[i] = i;
  eco_forecast_cfg c = {.kind = ECO_FORECAST_SEASONAL_NAIVE, .period = 24, .k_days = 1};
  eco_error err = {0};
  /* now = 50: lead 0 = 50 (known); leads 1..24 copy yesterday: 50+j-24;
   * leads 25..29 copy two days back: 50+j-48. */
  assert_int_equal(eco_forecast_series(&c, v, 72, 50, 30, out, &err), 0);
  assert_true(out[0] == 50);
  assert_true(out[1] == 27);
  assert_true(out[24] == 50);
  assert_true(out[25] == 27);
  assert_true(out[29] == 31);
  /* Blend of 2 days, lead 1: mean(v[27], v[3]) = 15; lead 25: same days. */
  c.kind = ECO_FORECAST_SEASONAL_BLEND;
  c.k_days = 2;
  assert_int_equal(eco_forecast_series(&c, v, 72, 50, 30, out, &err), 0);
  assert_true(out[0] == 50);
  assert_true(out[1] == 15);
  assert_true(out[25] == 15);
  /* lead 3: v[29], v[5] -> 17. */
  assert_true(out[3] == 17);
  /* Short history: now = 30, k = 3, lead 1: only v[7] exists -> 7. */
  c.k_days = 3;
  assert_int_equal(eco_forecast_series(&c, v, 72, 30, 2, out, &err), 0);
  assert_true(out[1] == 7);
  /* No day at all: now = 10, lead 1 -> persistence 10. */
  c.kind = ECO_FORECAST_SEASONAL_NAIVE;
  assert_int_equal(eco_forecast_series(&c, v, 72, 10, 2, out, &err), 0);
  assert_true(out[1] == 10);
  /* now past the end. */
  assert_int_equal(eco_forecast_series(&c, v, 72, 72, 2, out, &err), ECO_ERANGE);
}

static void test_oracle(void **state) {
  (void)state;
  double v[48], out[10];
  for (int i = 0; i < 48; i++)
    v[i] = 100 + i;
  eco_forecast_cfg c = {.kind = ECO_FORECAST_ORACLE, .period = 24};
  eco_error err = {0};
  assert_int_equal(eco_forecast_series(&c, v, 48, 40, 8, out, &err), 0);
  assert_true(out[0] == 140 && out[7] == 147);
  assert_int_equal(eco_forecast_series(&c, v, 48, 40, 9, out, &err), ECO_ERANGE);
}

/* A pure daily pattern is forecast exactly by seasonal-naive (MAE 0); a
 * trend of +1 per hour is missed by exactly 24 at leads 1..24 and 48 at
 * 25..30 (forecast too low: bias negative). The oracle is always exact. */
static void test_evaluate(void **state) {
  (void)state;
  double v[24 * 10];
  for (int i = 0; i < 240; i++)
    v[i] = 100 + 50 * sin(2 * M_PI * (i % 24) / 24.0);
  eco_forecast_cfg c = {.kind = ECO_FORECAST_SEASONAL_NAIVE, .period = 24, .k_days = 1};
  eco_forecast_error e;
  eco_error err = {0};
  assert_int_equal(eco_forecast_evaluate(&c, v, 240, 48, 1, 30, &e, &err), 0);
  assert_int_equal(e.n_origins, 240 - 30 - 48 + 1);
  for (size_t j = 0; j < 30; j++)
    assert_true(e.mae[j] < 1e-9);
  eco_forecast_error_free(&e);
  for (int i = 0; i < 240; i++)
    v[i] = 100 + i;
  assert_int_equal(eco_forecast_evaluate(&c, v, 240, 48, 7, 30, &e, &err), 0);
  assert_true(e.mae[0] == 0);
  assert_true(fabs(e.mae[1] - 24) < 1e-9 && fabs(e.mae[24] - 24) < 1e-9);
  assert_true(fabs(e.mae[25] - 48) < 1e-9 && fabs(e.bias[25] + 48) < 1e-9);
  assert_true(e.mape[1] > 0);
  eco_forecast_error_free(&e);
  c.kind = ECO_FORECAST_ORACLE;
  assert_int_equal(eco_forecast_evaluate(&c, v, 240, 0, 5, 30, &e, &err), 0);
  for (size_t j = 0; j < 30; j++)
    assert_true(e.mae[j] == 0);
  eco_forecast_error_free(&e);
  assert_int_equal(eco_forecast_evaluate(&c, v, 20, 0, 1, 30, &e, &err), ECO_ERANGE);
}

/* seasonal-ar: a daily pattern p(h) = 100 + h, and from hour 200 on the
 * whole level is 50 higher. At now = 210 the seasonal residuals of the
 * last week are 0 except 50 at 200..210, so the fitted phi is
 * sum r(i) r(i-1) / sum r(i-1)^2 = 10*2500 / (10*2500) = 1 -> clipped 0.99;
 * the deviation now is v(210) - v(186) = 50. Lead 1: v(187) + 50*0.99 =
 * (100 + 187 % 24) + 49.5 = 119 + 49.5 = 168.5; lead 2: 120 + 50*0.99^2. */
static void test_seasonal_ar(void **state) {
  (void)state;
  double v[240], out[4];
  for (int i = 0; i < 240; i++)
    v[i] = 100 + i % 24 + (i >= 200 ? 50 : 0);
  eco_forecast_cfg c;
  eco_error err = {0};
  assert_int_equal(eco_forecast_parse("seasonal-ar", &c, &err), 0);
  assert_int_equal(c.kind, ECO_FORECAST_SEASONAL_AR);
  assert_int_equal(c.k_days, 1);
  assert_int_equal(eco_forecast_series(&c, v, 240, 210, 3, out, &err), 0);
  assert_true(out[0] == v[210]);
  assert_true(fabs(out[1] - 168.5) < 1e-9);
  assert_true(fabs(out[2] - (120 + 50 * 0.99 * 0.99)) < 1e-9);
  /* Without the level change, it is seasonal-naive exactly. */
  for (int i = 0; i < 240; i++)
    v[i] = 100 + i % 24;
  eco_forecast_cfg naive = {.kind = ECO_FORECAST_SEASONAL_NAIVE, .period = 24, .k_days = 1};
  double ref[4];
  assert_int_equal(eco_forecast_series(&c, v, 240, 210, 4, out, &err), 0);
  assert_int_equal(eco_forecast_series(&naive, v, 240, 210, 4, ref, &err), 0);
  assert_memory_equal(out, ref, sizeof out);
  char name[32];
  eco_forecast_name(&c, name, sizeof name);
  assert_string_equal(name, "seasonal-ar-1");
}

/* The history-forecast provider over a trace provider gives the same
 * numbers as the array functions on the same history. */
static void test_provider(void **state) {
  (void)state;
  char *dir = eco_test_tmpdir();
  double v[240];
  char *csv = malloc(240 * 64 + 64);
  assert_non_null(csv);
  size_t len = (size_t)sprintf(csv, "timestamp,zone,value\n");
  const double t0 = 1700006400; /* a whole hour */
  for (int i = 0; i < 240; i++) {
    v[i] = 100 + i % 24 + (i >= 200 ? 50 : 0);
    len += (size_t)sprintf(csv + len, "%.0f,XX,%.1f\n", t0 + 3600.0 * i, v[i]);
  }
  assert_int_equal(eco_test_write_file(dir, "xx.csv", csv), 0);
  free(csv);
  char *path = eco_test_path(dir, "xx.csv");
  eco_trace_opts o;
  eco_trace_opts_default(&o);
  eco_intensity_provider *trace = NULL, *p = NULL;
  eco_error err = {0};
  assert_int_equal(eco_intensity_trace_open(path, &o, &trace, &err), 0);
  const char *methods[] = {"seasonal-naive", "seasonal-ar", "seasonal-blend:3", "perfect"};
  for (size_t m = 0; m < 4; m++) {
    eco_forecast_cfg c;
    assert_int_equal(eco_forecast_parse(methods[m], &c, &err), 0);
    assert_int_equal(eco_intensity_history_forecast_new(trace, false, &c, &p, &err), 0);
    /* now = 10 min into hour 210; until 3 h later: 4 periods (210..213) */
    double from = t0 + 210 * 3600.0 + 600, to = from + 3 * 3600.0;
    eco_intensity out[8];
    size_t n = 8;
    assert_int_equal(eco_intensity_forecast(p, "XX", from, to, out, &n, &err), 0);
    assert_int_equal(n, 4);
    double ref[4];
    assert_int_equal(eco_forecast_series(&c, v, 240, 210, 4, ref, &err), 0);
    for (size_t j = 0; j < 4; j++) {
      assert_true(fabs(out[j].gco2_kwh - ref[j]) < 1e-9);
      assert_true(out[j].time_s == t0 + (210.0 + (double)j) * 3600);
    }
    if (c.kind != ECO_FORECAST_ORACLE) {
      assert_false(out[0].estimated);
      assert_true(out[1].estimated);
      assert_non_null(
          strstr(out[1].source, methods[m][9] == 'n' ? "seasonal-naive:" : "seasonal-"));
    }
    eco_intensity now;
    assert_int_equal(eco_intensity_get(p, "XX", from, &now, &err), 0);
    assert_true(now.gco2_kwh == v[210]);
    /* early in the trace: less history than asked for, still answers */
    n = 8;
    assert_int_equal(
        eco_intensity_forecast(p, "XX", t0 + 30 * 3600.0, t0 + 32 * 3600.0, out, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(eco_forecast_series(&c, v, 240, 30, 2, ref, &err), 0);
    if (c.kind != ECO_FORECAST_SEASONAL_AR) /* AR fits phi on the history it gets */
      assert_true(fabs(out[1].gco2_kwh - ref[1]) < 1e-9);
    eco_intensity_free(p);
  }
  eco_intensity_free(trace);
  free(path);
  eco_test_rmtree(dir);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse),       cmocka_unit_test(test_seasonal),
      cmocka_unit_test(test_oracle),      cmocka_unit_test(test_evaluate),
      cmocka_unit_test(test_seasonal_ar), cmocka_unit_test(test_provider),
  };
  return cmocka_run_group_tests_name("forecast", tests, NULL, NULL);
}
