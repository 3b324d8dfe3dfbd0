/* Tests for src/carbon/intensity + trace: the static table, CSV trace
 * replay (Electricity Maps export and simple CSV), replay mapping, looping,
 * forecasts, malformed input, and a day of GB 2023 at hour boundaries. */
#include "testutil.h"

#include "carbon/intensity.h"
#include "util/status.h"

#include <math.h>
#include <string.h>

#define T_2023_06_15 1686787200.0 /* 2023-06-15T00:00:00Z */
#define T_2023_01_01 1672531200.0

static const char *EM_HEADER =
    "Datetime (UTC),Country,Zone Name,Zone Id,Carbon Intensity gCO\xe2\x82\x82"
    "eq/kWh "
    "(direct),Carbon Intensity gCO\xe2\x82\x82"
    "eq/kWh (LCA),Low Carbon Percentage,Renewable "
    "Percentage,Data Source,Data Estimated,Data Estimation Method\n";

static void test_static(void **state) {
  (void)state;
  eco_intensity_provider *p = NULL;
  eco_error err = {0};
  eco_static_entry e[] = {{"GB", 150}, {"FR", 40}};
  assert_int_equal(eco_intensity_static_new(e, 2, 500, &p, &err), 0);
  eco_intensity v;
  assert_int_equal(eco_intensity_get(p, "gb", 1000, &v, &err), 0);
  assert_true(v.gco2_kwh == 150);
  assert_true(v.estimated);
  assert_string_equal(v.source, "static");
  assert_int_equal(v.signal, ECO_SIGNAL_AVERAGE);
  assert_int_equal(eco_intensity_get(p, "XX", 1000, &v, &err), 0);
  assert_true(v.gco2_kwh == 500);
  assert_string_equal(v.source, "static:world");
  eco_intensity fc[4];
  size_t n = 4;
  assert_int_equal(eco_intensity_forecast(p, "FR", 0, 7200, fc, &n, &err), 0);
  assert_int_equal(n, 1);
  assert_true(fc[0].gco2_kwh == 40 && fc[0].period_s == 7200);
  /* bad arguments */
  assert_int_equal(eco_intensity_get(p, "", 0, &v, &err), ECO_EINVAL);
  assert_int_equal(eco_intensity_get(p, "GB", NAN, &v, &err), ECO_EINVAL);
  eco_intensity_free(p);

  /* built-in table and world default */
  assert_int_equal(eco_intensity_static_new(NULL, 0, -1, &p, &err), 0);
  assert_int_equal(eco_intensity_get(p, "DE", 0, &v, &err), 0);
  assert_true(fabs(v.gco2_kwh - 307.7) < 1e-9);
  assert_int_equal(eco_intensity_get(p, "Atlantis", 0, &v, &err), 0);
  assert_true(fabs(v.gco2_kwh - 481.0) < 1e-9);
  eco_intensity_free(p);

  eco_static_entry bad[] = {{"GB", -1}};
  assert_int_equal(eco_intensity_static_new(bad, 1, 1, &p, &err), ECO_EINVAL);
  assert_null(p);
}

static void test_simple_csv(void **state) {
  (void)state;
  char *dir = eco_test_tmpdir();
  assert_int_equal(eco_test_write_file(dir, "t.csv",
                                       "timestamp,zone,value\n"
                                       "2023-01-01T00:00:00Z,AA,100\n"
                                       "2023-01-01T01:00:00Z,AA,200\n"
                                       "1672538400,AA,300,true\n" /* 02:00 as epoch */
                                       "2023-01-01T00:00:00Z,BB,50\n"
                                       "\n"
                                       "2023-01-01T00:30:00Z,BB,60\r\n"),
                   0);
  char *path = eco_test_path(dir, "t.csv");
  eco_intensity_provider *p = NULL;
  eco_error err = {0};
  assert_int_equal(eco_intensity_trace_open(path, NULL, &p, &err), 0);
  eco_intensity v;
  assert_int_equal(eco_intensity_get(p, "AA", T_2023_01_01, &v, &err), 0);
  assert_true(v.gco2_kwh == 100);
  assert_true(v.period_s == 3600);
  assert_false(v.estimated);
  assert_string_equal(v.source, "trace:t.csv");
  assert_int_equal(eco_intensity_get(p, "AA", T_2023_01_01 + 3599.5, &v, &err), 0);
  assert_true(v.gco2_kwh == 100);
  assert_int_equal(eco_intensity_get(p, "AA", T_2023_01_01 + 3600, &v, &err), 0);
  assert_true(v.gco2_kwh == 200);
  assert_int_equal(eco_intensity_get(p, "AA", T_2023_01_01 + 7300, &v, &err), 0);
  assert_true(v.gco2_kwh == 300);
  assert_true(v.estimated);
  /* last row holds for the median spacing (1 h), then out of range */
  assert_int_equal(eco_intensity_get(p, "AA", T_2023_01_01 + 3 * 3600, &v, &err), ECO_ERANGE);
  assert_int_equal(eco_intensity_get(p, "AA", T_2023_01_01 - 1, &v, &err), ECO_ERANGE);
  assert_non_null(strstr(err.msg, "outside the trace"));
  /* half-hourly zone */
  assert_int_equal(eco_intensity_get(p, "BB", T_2023_01_01 + 1799, &v, &err), 0);
  assert_true(v.gco2_kwh == 50);
  assert_int_equal(eco_intensity_get(p, "BB", T_2023_01_01 + 1800, &v, &err), 0);
  assert_true(v.gco2_kwh == 60);
  assert_int_equal(eco_intensity_get(p, "CC", T_2023_01_01, &v, &err), ECO_ENOENT);
  /* forecast over overlapping periods */
  eco_intensity fc[8];
  size_t n = 8;
  assert_int_equal(
      eco_intensity_forecast(p, "AA", T_2023_01_01 + 1800, T_2023_01_01 + 7200.5, fc, &n, &err), 0);
  assert_int_equal(n, 3);
  assert_true(fc[0].gco2_kwh == 100 && fc[1].gco2_kwh == 200 && fc[2].gco2_kwh == 300);
  n = 2; /* capacity respected */
  assert_int_equal(
      eco_intensity_forecast(p, "AA", T_2023_01_01 - 7200, T_2023_01_01 + 1e6, fc, &n, &err), 0);
  assert_int_equal(n, 2);
  assert_true(fc[0].time_s == T_2023_01_01);
  eco_intensity_free(p);

  /* loop: the 3-hour span wraps */
  eco_trace_opts o;
  eco_trace_opts_default(&o);
  o.loop = true;
  assert_int_equal(eco_intensity_trace_open(path, &o, &p, &err), 0);
  assert_int_equal(eco_intensity_get(p, "AA", T_2023_01_01 + 3 * 3600 + 10, &v, &err), 0);
  assert_true(v.gco2_kwh == 100);
  assert_true(v.time_s == T_2023_01_01 + 3 * 3600);
  assert_int_equal(eco_intensity_get(p, "AA", T_2023_01_01 - 10, &v, &err), 0);
  assert_true(v.gco2_kwh == 300);
  n = 8;
  assert_int_equal(
      eco_intensity_forecast(p, "AA", T_2023_01_01 + 7200, T_2023_01_01 + 5 * 3600, fc, &n, &err),
      0);
  assert_int_equal(n, 3);
  assert_true(fc[0].gco2_kwh == 300 && fc[1].gco2_kwh == 100 && fc[2].gco2_kwh == 200);
  assert_true(fc[2].time_s == T_2023_01_01 + 4 * 3600);
  eco_intensity_free(p);
  free(path);
  eco_test_rmtree(dir);
  free(dir);
}

static void expect_bad(const char *dir, const char *name, const char *content, int code) {
  assert_int_equal(eco_test_write_file(dir, name, content), 0);
  char *path = eco_test_path(dir, name);
  eco_intensity_provider *p = NULL;
  eco_error err = {0};
  int rc = eco_intensity_trace_open(path, NULL, &p, &err);
  if (rc != code) fail_msg("%s: rc %d (%s), want %d", name, rc, err.msg, code);
  assert_null(p);
  assert_true(err.msg[0] != '\0');
  free(path);
}

static void test_malformed(void **state) {
  (void)state;
  char *dir = eco_test_tmpdir();
  expect_bad(dir, "empty.csv", "", ECO_EFORMAT);
  expect_bad(dir, "hdr.csv", "a,b,c\n1,2,3\n", ECO_EFORMAT);
  expect_bad(dir, "norows.csv", "timestamp,zone,value\n", ECO_EFORMAT);
  expect_bad(dir, "val.csv", "timestamp,zone,value\n2023-01-01T00:00:00Z,AA,abc\n", ECO_EFORMAT);
  expect_bad(dir, "neg.csv", "timestamp,zone,value\n2023-01-01T00:00:00Z,AA,-5\n", ECO_EFORMAT);
  expect_bad(dir, "time.csv", "timestamp,zone,value\nyesterday,AA,5\n", ECO_EFORMAT);
  expect_bad(dir, "short.csv", "timestamp,zone,value\n2023-01-01T00:00:00Z,AA\n", ECO_EFORMAT);
  expect_bad(dir, "nozone.csv", "timestamp,zone,value\n2023-01-01T00:00:00Z,,5\n", ECO_EFORMAT);
  char em[2048];
  snprintf(em, sizeof em, "%s2023-01-01 00:00:00,X,Y,ZZ,1.0\n", EM_HEADER);
  expect_bad(dir, "emshort.csv", em, ECO_EFORMAT);
  expect_bad(dir, "nan.csv", "timestamp,zone,value\n2023-01-01T00:00:00Z,AA,nan\n", ECO_EFORMAT);
  eco_intensity_provider *p = NULL;
  eco_error err = {0};
  char *missing = eco_test_path(dir, "missing.csv");
  assert_true(eco_intensity_trace_open(missing, NULL, &p, &err) < 0);
  free(missing);
  eco_test_rmtree(dir);
  free(dir);
}

static void test_emaps_columns_and_dir(void **state) {
  (void)state;
  char *dir = eco_test_tmpdir();
  char buf[4096];
  snprintf(buf, sizeof buf,
           "%s2023-01-01 00:00:00,Germany,Germany,DE,140.51,185.8,83.79,78.42,entsoe.eu,false,\n"
           "2023-01-01 01:00:00,Germany,Germany,DE,140.44,185.7,83.85,78.93,entsoe.eu,true,X\n",
           EM_HEADER);
  assert_int_equal(eco_test_write_file(dir, "DE-LU_2023_hourly.csv", buf), 0);
  snprintf(buf, sizeof buf,
           "%s2024-01-01 00:00:00,Germany,Germany,DE,133.1,177.74,83.26,81.53,entsoe.eu,false,\n",
           EM_HEADER);
  assert_int_equal(eco_test_write_file(dir, "DE-LU_2024_hourly.csv", buf), 0);
  eco_intensity_provider *p = NULL;
  eco_error err = {0};
  assert_int_equal(eco_intensity_trace_open(dir, NULL, &p, &err), 0);
  eco_intensity v;
  /* by Zone Id and by the file-name alias */
  assert_int_equal(eco_intensity_get(p, "DE", T_2023_01_01, &v, &err), 0);
  assert_true(v.gco2_kwh == 140.51);
  assert_false(v.estimated);
  assert_string_equal(v.source, "trace:DE-LU_2023_hourly.csv");
  assert_int_equal(eco_intensity_get(p, "DE-LU", T_2023_01_01 + 3600, &v, &err), 0);
  assert_true(v.gco2_kwh == 140.44);
  assert_true(v.estimated);
  /* 2023 and 2024 rows merged into one series: a gap of a year means
   * the last 2023 row holds until the 2024 row. */
  double first, end;
  assert_int_equal(eco_intensity_trace_span(p, "DE", &first, &end), 0);
  assert_true(first == T_2023_01_01);
  assert_true(end == 1704067200.0 + 3600);
  assert_int_equal(eco_intensity_get(p, "DE", 1704067200.0 + 5, &v, &err), 0);
  assert_true(v.gco2_kwh == 133.1);
  assert_string_equal(v.source, "trace:DE-LU_2024_hourly.csv");
  eco_intensity_free(p);

  eco_trace_opts o;
  eco_trace_opts_default(&o);
  o.column = ECO_TRACE_LIFECYCLE;
  o.signal = ECO_SIGNAL_MARGINAL;
  assert_int_equal(eco_intensity_trace_open(dir, &o, &p, &err), 0);
  assert_int_equal(eco_intensity_get(p, "DE", T_2023_01_01, &v, &err), 0);
  assert_true(v.gco2_kwh == 185.8);
  assert_int_equal(v.signal, ECO_SIGNAL_MARGINAL);
  eco_intensity_free(p);
  eco_test_rmtree(dir);
  free(dir);
}

/* Reads hour values of the GB file with sscanf, independently of the
 * provider's parser, for rows whose date starts with day. */
static size_t read_day(const char *path, const char *day, double *direct, double *lca) {
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  char line[1024];
  size_t n = 0;
  while (fgets(line, sizeof line, f) && n < 25) {
    if (strncmp(line, day, 10) != 0) continue;
    /* date time,country,zone name,zone id,direct,lca,... */
    const char *c = line;
    for (int k = 0; k < 4; k++) {
      const char *comma = strchr(c, ',');
      if (!comma) fail_msg("%s: too few fields in a %s row: %s", path, day, line);
      c = comma + 1;
    }
    assert_int_equal(sscanf(c, "%lf,%lf", &direct[n], &lca[n]), 2);
    n++;
  }
  fclose(f);
  return n;
}

/* RFC 4180 quoting, as in the US-TEX-ERCO export: a quoted zone name with a
 * comma (and an escaped quote) must not shift the columns. */
static void test_quoted_fields(void **state) {
  (void)state;
  char *dir = eco_test_tmpdir();
  char buf[4096];
  snprintf(buf, sizeof buf,
           "%s2023-01-01 00:00:00,USA,\"Electric Reliability Council of Texas, Inc.\",US-TEX-ERCO,"
           "269.82,318.55,54.74,42.5,eia.gov,false,\n"
           "2023-01-01 01:00:00,USA,\"A \"\"quoted\"\" name, with commas, too\",US-TEX-ERCO,"
           "224.47,266.39,62.69,50.27,eia.gov,true,\n",
           EM_HEADER);
  assert_int_equal(eco_test_write_file(dir, "US-TEX-ERCO_2023_hourly.csv", buf), 0);
  char *path = eco_test_path(dir, "US-TEX-ERCO_2023_hourly.csv");
  eco_intensity_provider *p = NULL;
  eco_error err = {0};
  eco_trace_opts o;
  eco_trace_opts_default(&o);
  o.column = ECO_TRACE_LIFECYCLE;
  if (eco_intensity_trace_open(path, &o, &p, &err)) fail_msg("%s", err.msg);
  eco_intensity v;
  assert_int_equal(eco_intensity_get(p, "US-TEX-ERCO", T_2023_01_01, &v, &err), 0);
  assert_true(v.gco2_kwh == 318.55);
  assert_false(v.estimated);
  assert_int_equal(eco_intensity_get(p, "US-TEX-ERCO", T_2023_01_01 + 3600, &v, &err), 0);
  assert_true(v.gco2_kwh == 266.39);
  assert_true(v.estimated);
  eco_intensity_free(p);
  free(path);
  eco_test_rmtree(dir);
  free(dir);
}

static void test_gb_day_replay(void **state) {
  (void)state;
  char *path;
  ECO_TEST_NEED_SHARED("data/carbon/GB_2023_hourly.csv", &path);
  double direct[25], lca[25];
  assert_int_equal(read_day(path, "2023-06-15", direct, lca), 24);
  /* spot values copied by hand from the file */
  assert_true(direct[0] == 207.61 && direct[1] == 208.47 && direct[12] == 104.36 &&
              direct[23] == 232.73);

  eco_intensity_provider *p = NULL;
  eco_error err = {0};
  assert_int_equal(eco_intensity_trace_open(path, NULL, &p, &err), 0);
  eco_intensity v;
  for (int h = 0; h < 24; h++) {
    double t = T_2023_06_15 + h * 3600.0;
    /* exactly at the boundary: this hour's row */
    assert_int_equal(eco_intensity_get(p, "GB", t, &v, &err), 0);
    assert_true(v.gco2_kwh == direct[h]);
    assert_true(v.time_s == t);
    assert_true(v.period_s == 3600);
    assert_int_equal(v.signal, ECO_SIGNAL_AVERAGE);
    /* just before the next boundary: still this hour */
    assert_int_equal(eco_intensity_get(p, "GB", t + 3599.999, &v, &err), 0);
    assert_true(v.gco2_kwh == direct[h]);
    /* just before this boundary: the previous hour */
    if (h > 0) {
      assert_int_equal(eco_intensity_get(p, "GB", t - 0.001, &v, &err), 0);
      assert_true(v.gco2_kwh == direct[h - 1]);
    }
  }
  /* the next midnight */
  assert_int_equal(eco_intensity_get(p, "GB", T_2023_06_15 + 86400, &v, &err), 0);
  assert_true(v.gco2_kwh == 245.25);
  /* a day-ahead "forecast" from the trace gives the 24 rows in order */
  eco_intensity fc[48];
  size_t n = 48;
  assert_int_equal(
      eco_intensity_forecast(p, "GB", T_2023_06_15, T_2023_06_15 + 86400, fc, &n, &err), 0);
  assert_int_equal(n, 24);
  for (int h = 0; h < 24; h++)
    assert_true(fc[h].gco2_kwh == direct[h]);
  /* year bounds */
  assert_int_equal(eco_intensity_get(p, "GB", 1704067200.0 - 1, &v, &err), 0);
  assert_true(v.gco2_kwh == 63.05);
  assert_int_equal(eco_intensity_get(p, "GB", 1704067200.0, &v, &err), ECO_ERANGE);
  eco_intensity_free(p);

  /* replay: caller clock from 1000 s, one trace hour per second, starting
   * at 2023-06-15, lifecycle column */
  eco_trace_opts o;
  eco_trace_opts_default(&o);
  o.column = ECO_TRACE_LIFECYCLE;
  o.replay_origin_s = 1000;
  o.start_s = T_2023_06_15;
  o.speed = 3600;
  assert_int_equal(eco_intensity_trace_open(path, &o, &p, &err), 0);
  for (int h = 0; h < 24; h++) {
    assert_int_equal(eco_intensity_get(p, "GB", 1000.0 + h, &v, &err), 0);
    assert_true(v.gco2_kwh == lca[h]);
    assert_true(v.time_s == T_2023_06_15 + h * 3600.0);
    assert_int_equal(eco_intensity_get(p, "GB", 1000.0 + h + 0.5, &v, &err), 0);
    assert_true(v.gco2_kwh == lca[h]);
  }
  assert_true(eco_intensity_trace_time(p, 1002.0) == T_2023_06_15 + 7200);
  /* the inverse: when trace hour 2 plays on the caller's clock */
  assert_true(fabs(eco_intensity_trace_caller_time(p, T_2023_06_15 + 7200) - 1002.0) < 1e-6);
  assert_true(eco_intensity_trace_caller_time(NULL, 5.0) == 5.0);
  eco_intensity_free(p);
  free(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_static),        cmocka_unit_test(test_simple_csv),
      cmocka_unit_test(test_malformed),     cmocka_unit_test(test_emaps_columns_and_dir),
      cmocka_unit_test(test_gb_day_replay), cmocka_unit_test(test_quoted_fields),
  };
  return cmocka_run_group_tests_name("carbon_intensity", tests, NULL, NULL);
}
