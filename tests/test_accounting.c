/* Tests for src/accounting: embodied carbon with the Sprout constants, the
 * receipt builder, the carbon: and devices: configuration, and meters
 * opened from configuration on fake trees. */
#include "testutil.h"

#include "accounting/setup.h"
#include "accounting/wire.h"
#include "httpd.h"
#include "util/status.h"
#include "util/timeutil.h"

#include <math.h>
#include <string.h>

#define NEAR(a, b, eps) (fabs((a) - (b)) < (eps))

static void test_embodied_and_receipt(void **state) {
  (void)state;
  eco_embodied e;
  /* Sprout: 26356.568 g = 26.356568 kg over 5 years */
  assert_int_equal(eco_embodied_make(26.356568, 5, 1.0, &e), 0);
  assert_true(NEAR(e.total_g, 26356.568, 1e-9));
  assert_true(NEAR(e.lifetime_s, 157680000.0, 1e-6));
  /* one hour of the whole device: 26356.568 * 3600 / 157680000 */
  assert_true(NEAR(eco_sci_embodied_g(&e, 3600), 0.6017481278538812, 1e-12));
  /* a quarter of the device for 10 s */
  assert_int_equal(eco_embodied_make(26.356568, 5, 0.25, &e), 0);
  assert_true(NEAR(eco_sci_embodied_g(&e, 10), 0.00167152258 / 4, 1e-12));
  assert_int_equal(eco_embodied_make(1, 5, 1.5, &e), ECO_EINVAL);
  assert_int_equal(eco_embodied_make(-1, 5, 1, &e), ECO_EINVAL);

  assert_int_equal(eco_embodied_make(26.356568, 5, 1.0, &e), 0);
  eco_receipt_in in = {.energy_j = 720,
                       .energy_source = "model",
                       .energy_estimated = true,
                       .intensity_gco2_kwh = 250,
                       .intensity_source = "trace:GB_2023_hourly.csv",
                       .embodied_g_per_s = eco_sci_embodied_rate(&e),
                       .reserved_s = 3600,
                       .share = e.share,
                       .pue = 1.2,
                       .method = "sci-v1.0 average"};
  eco_receipt r;
  /* E = 720 J, PUE 1.2, I = 250: op 0.06 g; M for 1 h 0.60174813 g */
  assert_int_equal(eco_receipt_build(&in, &r), 0);
  assert_true(NEAR(r.operational_g, 0.06, 1e-12));
  assert_true(NEAR(r.embodied_g, 0.6017481278538812, 1e-12));
  assert_true(NEAR(r.total_g, 0.6617481278538813, 1e-12));
  assert_string_equal(r.energy_source, "model");
  assert_true(r.energy_estimated);
  assert_string_equal(r.intensity_source, "trace:GB_2023_hourly.csv");
  assert_false(r.intensity_estimated);
  assert_string_equal(r.method, "sci-v1.0 average");
  assert_true(r.pue == 1.2);
  json_t *j = eco_receipt_to_json(&r);
  assert_non_null(j);
  assert_true(NEAR(json_real_value(json_object_get(j, "total_g")), 0.6617481278538813, 1e-12));
  assert_string_equal(json_string_value(json_object_get(j, "energy_source")), "model");
  assert_true(json_is_true(json_object_get(j, "energy_estimated")));
  assert_true(json_is_false(json_object_get(j, "intensity_estimated")));
  json_decref(j);
  in.pue = 0.5;
  assert_int_equal(eco_receipt_build(&in, &r), ECO_EINVAL);
  assert_string_equal(r.energy_source, "model"); /* unchanged */
  in.pue = 1;
  in.energy_j = NAN;
  assert_int_equal(eco_receipt_build(&in, &r), ECO_EINVAL);
  /* NULL sources: "unknown" energy, no intensity source, default method */
  eco_receipt_in bare = {.energy_j = 1, .intensity_gco2_kwh = 1, .pue = 1};
  assert_int_equal(eco_receipt_build(&bare, &r), 0);
  assert_string_equal(r.energy_source, "unknown");
  assert_string_equal(r.intensity_source, "");
  assert_string_equal(r.method, "sci-v1.0");
  assert_true(r.embodied_g == 0);
}

static eco_cfg *load(const char *yaml) {
  eco_cfg *c = NULL;
  eco_error err = {0};
  if (eco_cfg_load_string(yaml, "test.yaml", &c, &err)) fail_msg("yaml: %s", err.msg);
  eco_cfg_use_env(c, false);
  return c;
}

static void test_static_and_trace_config(void **state) {
  (void)state;
  eco_cfg *c = load("carbon:\n  provider: static\n  zone: GB\n  pue: 1.3\n"
                    "  static:\n    world: 400\n    zones:\n      GB: 111\n      XY: 7\n");
  eco_intensity_provider *p;
  eco_error err = {0};
  const char *zone;
  double pue;
  assert_int_equal(eco_carbon_zone_pue(c, &zone, &pue, &err), 0);
  assert_string_equal(zone, "GB");
  assert_true(pue == 1.3);
  assert_int_equal(eco_carbon_provider_from_config(c, NULL, 0, &p, &err), 0);
  eco_intensity v;
  assert_int_equal(eco_intensity_get(p, "GB", 0, &v, &err), 0);
  assert_true(v.gco2_kwh == 111);
  assert_int_equal(eco_intensity_get(p, "FR", 0, &v, &err), 0);
  assert_true(NEAR(v.gco2_kwh, 30.4, 1e-9)); /* built-in row kept */
  assert_int_equal(eco_intensity_get(p, "QQ", 0, &v, &err), 0);
  assert_true(v.gco2_kwh == 400);
  eco_intensity_free(p);
  eco_cfg_free(c);

  c = load("carbon:\n  pue: 0.8\n");
  assert_int_equal(eco_carbon_zone_pue(c, &zone, &pue, &err), ECO_ECONFIG);
  eco_cfg_free(c);
  c = load("carbon:\n  provider: magic\n");
  assert_int_equal(eco_carbon_provider_from_config(c, NULL, 0, &p, &err), ECO_ECONFIG);
  assert_non_null(strstr(err.msg, "magic"));
  eco_cfg_free(c);

  /* trace: replay from a start time at 1 h per second */
  char *d = eco_test_tmpdir();
  assert_int_equal(eco_test_write_file(d, "t.csv",
                                       "timestamp,zone,value\n2023-01-01T00:00:00Z,GB,10\n"
                                       "2023-01-01T01:00:00Z,GB,20\n2023-01-01T02:00:00Z,GB,30\n"),
                   0);
  char yaml[1024];
  snprintf(yaml, sizeof yaml,
           "carbon:\n  provider: trace\n  trace:\n    path: %s/t.csv\n"
           "    start: 2023-01-01T00:00:00Z\n    speed: 3600\n",
           d);
  c = load(yaml);
  assert_int_equal(eco_carbon_provider_from_config(c, NULL, 5000, &p, &err), 0);
  assert_int_equal(eco_intensity_get(p, "GB", 5002.5, &v, &err), 0);
  assert_true(v.gco2_kwh == 30);
  /* loops by default */
  assert_int_equal(eco_intensity_get(p, "GB", 5003.5, &v, &err), 0);
  assert_true(v.gco2_kwh == 10);
  eco_intensity_free(p);
  eco_cfg_free(c);
  c = load("carbon:\n  provider: trace\n");
  assert_int_equal(eco_carbon_provider_from_config(c, NULL, 0, &p, &err), ECO_ECONFIG);
  eco_cfg_free(c);
  snprintf(yaml, sizeof yaml, "carbon:\n  trace:\n    path: %s/t.csv\n    column: dirt\n", d);
  c = load(yaml);
  assert_int_equal(eco_carbon_provider_from_config(c, "trace", 0, &p, &err), ECO_ECONFIG);
  eco_cfg_free(c);
  eco_test_rmtree(d);
  free(d);
}

static void test_live_config_chain(void **state) {
  (void)state;
  eco_test_httpd *h;
  assert_int_equal(eco_test_httpd_start(&h), 0);
  char yaml[1024];
  snprintf(yaml, sizeof yaml,
           "carbon:\n  provider: electricitymaps\n  zone: DE\n"
           "  static:\n    zones:\n      DE: 777\n"
           "  electricitymaps:\n    base_url: %s\n    token: abc\n    timeout: 2s\n"
           "    backoff: 1h\n",
           eco_test_httpd_url(h));
  eco_cfg *c = load(yaml);
  eco_intensity_provider *p;
  eco_error err = {0};
  assert_int_equal(eco_carbon_provider_from_config(c, NULL, 0, &p, &err), 0);
  eco_test_response r = {.status = 500, .body = "down"};
  assert_int_equal(eco_test_httpd_on(h, "GET", "/v3/carbon-intensity/latest", &r), 0);
  assert_int_equal(eco_test_httpd_on(h, "GET", "/v3/carbon-intensity/forecast", &r), 0);
  eco_intensity v;
  /* live fails: nothing known, no forecast: the static table */
  assert_int_equal(eco_intensity_get(p, "DE", eco_time_wall_s(), &v, &err), 0);
  assert_true(v.gco2_kwh == 777 && v.estimated);
  assert_string_equal(v.source, "static");
  eco_intensity_free(p);
  eco_cfg_free(c);
  /* a typo in a provider section is caught */
  c = load("carbon:\n  provider: ukci\n  ukci:\n    base_ulr: http://x\n");
  assert_int_equal(eco_carbon_provider_from_config(c, NULL, 0, &p, &err), ECO_ECONFIG);
  assert_non_null(strstr(err.msg, "base_ulr"));
  eco_cfg_free(c);
  c = load("carbon:\n  provider: watttime\n");
  assert_int_equal(eco_carbon_provider_from_config(c, NULL, 0, &p, &err), ECO_ECONFIG);
  eco_cfg_free(c);
  eco_test_httpd_stop(h);
}

static void test_devices(void **state) {
  (void)state;
  eco_cfg *c = load("carbon:\n  pue: 1.1\n"
                    "devices:\n"
                    "  - name: cpu\n    meter: model\n    tdp_w: 65\n    embodied_kg: 26.356568\n"
                    "    lifetime_years: 5\n    share: 0.5\n    calibration: 1.05\n"
                    "  - name: gpu0\n    meter: NVML\n    gpu_index: 1\n    attribution: busy\n"
                    "    idle_w: 30\n    exclude_idle: true\n");
  eco_device_cfg *d;
  size_t n;
  eco_error err = {0};
  assert_int_equal(eco_device_cfgs_load(c, &d, &n, &err), 0);
  assert_int_equal(n, 2);
  assert_string_equal(d[0].name, "cpu");
  assert_string_equal(d[0].meter, "model");
  assert_true(d[0].model.tdp_w == 65);
  assert_true(NEAR(d[0].embodied.total_g, 26356.568, 1e-9) && d[0].embodied.share == 0.5);
  assert_true(d[0].attr.calibration == 1.05 && d[0].attr.pue == 1.1);
  assert_string_equal(d[1].meter, "nvml");
  assert_int_equal(d[1].gpu_index, 1);
  assert_int_equal(d[1].attr.rule, ECO_ATTR_BUSY);
  assert_true(d[1].attr.idle_w == 30 && d[1].attr.exclude_idle);
  /* the model meter opens on a fake proc tree */
  char *t = eco_test_tmpdir();
  assert_int_equal(eco_test_write_file(t, "proc/stat", "cpu  1 0 1 10 0 0 0 0\n"), 0);
  eco_meter *m;
  assert_int_equal(eco_device_meter_open(&d[0], t, &m, &err), 0);
  assert_string_equal(m->src.name, "model");
  assert_non_null(strstr(m->src.detail, "TDP 65.0 W"));
  eco_meter_free(m);
  eco_device_cfg rapl = d[0];
  snprintf(rapl.meter, sizeof rapl.meter, "rapl");
  assert_int_equal(eco_device_meter_open(&rapl, t, &m, &err), ECO_ENOENT);
  free(d);
  eco_test_rmtree(t);
  free(t);
  eco_cfg_free(c);

  /* defaults: one cpu device, auto meter */
  c = load("carbon:\n  zone: FR\n");
  assert_int_equal(eco_device_cfgs_load(c, &d, &n, &err), 0);
  assert_int_equal(n, 1);
  assert_string_equal(d[0].name, "cpu");
  assert_string_equal(d[0].meter, "auto");
  assert_true(d[0].embodied.total_g == 0);
  free(d);
  eco_cfg_free(c);
  /* single device: map */
  c = load("device:\n  embodied_kg: 100\n  lifetime_years: 4\n");
  assert_int_equal(eco_device_cfgs_load(c, &d, &n, &err), 0);
  assert_true(d[0].embodied.total_g == 100000);
  free(d);
  eco_cfg_free(c);
  const char *bad[] = {"device:\n  share: 2\n",      "device:\n  meter: laser\n",
                       "device:\n  calibraton: 1\n", "devices: 3\n",
                       "device:\n  tdp_w: -5\n",     "device:\n  attribution: vibes\n"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    c = load(bad[i]);
    err.msg[0] = '\0';
    assert_int_equal(eco_device_cfgs_load(c, &d, &n, &err), ECO_ECONFIG);
    assert_non_null(strstr(err.msg, "test.yaml"));
    eco_cfg_free(c);
  }
}

static void test_ledger_config(void **state) {
  (void)state;
  char *d = eco_test_tmpdir();
  char yaml[1024];
  snprintf(yaml, sizeof yaml, "ledger:\n  path: %s/l.db\n  synchronous: full\n", d);
  eco_cfg *c = load(yaml);
  eco_ledger *l = NULL;
  eco_error err = {0};
  assert_int_equal(eco_ledger_open_from_config(c, false, &l, &err), 0);
  assert_int_equal(eco_ledger_check(l, &err), 0);
  eco_ledger_close(l);
  eco_cfg_free(c);
  snprintf(yaml, sizeof yaml, "ledger:\n  path: %s/l.db\n  synchronous: sometimes\n", d);
  c = load(yaml);
  assert_int_equal(eco_ledger_open_from_config(c, false, &l, &err), ECO_ECONFIG);
  eco_cfg_free(c);
  c = load("carbon:\n  zone: GB\n");
  assert_int_equal(eco_ledger_open_from_config(c, true, &l, &err), ECO_ECONFIG);
  eco_cfg_free(c);
  eco_test_rmtree(d);
  free(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_embodied_and_receipt), cmocka_unit_test(test_static_and_trace_config),
      cmocka_unit_test(test_live_config_chain),    cmocka_unit_test(test_devices),
      cmocka_unit_test(test_ledger_config),
  };
  return cmocka_run_group_tests_name("carbon_accounting", tests, NULL, NULL);
}
