/* Prometheus exposition of the node server's metrics and the carbon
 * pricing of a request (accounting defaults). */
#include "testutil.h"

#include "accounting/pricing.h"
#include "server/metrics.h"

static void test_histogram_and_counters(void **state) {
  eco_srv_metrics m;
  eco_srv_metrics_init(&m, 1000);
  eco_srv_metrics_request(&m, "/v1/completions", 200);
  eco_srv_metrics_request(&m, "/v1/completions", 200);
  eco_srv_metrics_request(&m, "/v1/completions", 429);
  eco_srv_metrics_generation(&m, 0.3, 0.02, 0.004, 5, 11, false);
  eco_srv_metrics_generation(&m, 7, -1, 0, 2, 0, true);
  eco_srv_metrics_carbon(&m, "rapl", 2.5, 0.001);
  eco_srv_metrics_carbon(&m, "rapl", 0.5, 0.002);
  eco_srv_metrics_carbon(&m, "we\"ird", 1, 1);
  eco_backend_info info = {.queue_len = 2,
                           .queue_cap = 8,
                           .active = 3,
                           .max_batch = 4,
                           .kv_used_bytes = 100,
                           .kv_budget_bytes = 400};
  eco_strbuf sb;
  eco_sb_init(&sb);
  assert_int_equal(eco_srv_metrics_render(&m, &info, &sb), 0);
  const char *t = eco_sb_str(&sb);
  const char *want[] = {
      "ecoinfer_http_requests_total{endpoint=\"/v1/completions\",code=\"200\"} 2\n",
      "ecoinfer_http_requests_total{endpoint=\"/v1/completions\",code=\"429\"} 1\n",
      "ecoinfer_request_duration_seconds_bucket{le=\"0.25\"} 0\n",
      "ecoinfer_request_duration_seconds_bucket{le=\"0.5\"} 1\n",
      "ecoinfer_request_duration_seconds_bucket{le=\"10\"} 2\n",
      "ecoinfer_request_duration_seconds_sum 7.3\n",
      "ecoinfer_time_to_first_token_seconds_count 1\n",
      "ecoinfer_inter_token_latency_seconds_bucket{le=\"0.005\"} 10\n",
      "ecoinfer_inter_token_latency_seconds_count 10\n",
      "ecoinfer_prompt_tokens_total 7\n",
      "ecoinfer_generated_tokens_total 11\n",
      "ecoinfer_requests_cancelled_total 1\n",
      "ecoinfer_energy_joules_total{source=\"rapl\"} 3\n",
      "ecoinfer_carbon_grams_total{source=\"rapl\"} 0.003\n",
      "ecoinfer_energy_joules_total{source=\"we\\\"ird\"} 1\n",
      "ecoinfer_queue_depth 2\n",
      "ecoinfer_batch_size 3\n",
      "ecoinfer_kv_cache_usage_ratio 0.250000\n",
      "# TYPE ecoinfer_request_duration_seconds histogram\n",
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    if (!strstr(t, want[i])) fail_msg("missing '%s' in\n%s", want[i], t);
  if (system("command -v promtool >/dev/null 2>&1") == 0) {
    char *dir = eco_test_tmpdir();
    assert_int_equal(eco_test_write_file(dir, "m.txt", t), 0);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s/m.txt 2>&1", dir);
    char *out = NULL;
    int code = -1;
    assert_int_equal(eco_test_run(cmd, &out, &code), 0);
    if (code != 0) fail_msg("promtool: %s", out);
    free(out);
    eco_test_rmtree(dir);
    free(dir);
  }
  eco_sb_free(&sb);
  eco_srv_metrics_destroy(&m);
}

static void test_pricing_defaults(void **state) {
  eco_cfg *cfg;
  eco_error err = {0};
  assert_int_equal(
      eco_cfg_load_string("carbon: {zone: FR, pue: 1.2, static: {zones: {FR: 55}}}\n"
                          "device: {embodied_kg: 1200, lifetime_years: 4, share: 0.5}\n"
                          "energy: {cpu_watts: 20, attribution: cpu-time}\n",
                          "t", &cfg, &err),
      0);
  eco_cfg_use_env(cfg, false);
  eco_acct_state st;
  eco_accounting a;
  assert_int_equal(eco_acct_open(cfg, "n", &st, &a, &err), 0);
  assert_null(a.sink);  /* no ledger.path */
  assert_null(a.meter); /* attribution: cpu-time */
  eco_acct_usage s = {.cpu_s = 3.0, .batch_size = 2};
  eco_receipt r;
  eco_acct_intensity in;
  assert_int_equal(eco_acct_price(&a, &s, 4.0, 0, &r, &in), 0);
  assert_float_equal(r.energy_j, 60, 1e-12); /* 3 CPU-s x 20 W */
  assert_string_equal(r.energy_source, "cpu-time-model");
  assert_true(r.energy_estimated);
  assert_float_equal(r.intensity_gco2_kwh, 55, 1e-12);
  assert_string_equal(in.zone, "FR");
  assert_float_equal(r.operational_g, 60 / 3.6e6 * 1.2 * 55, 1e-15);
  /* 1.2e6 g over 4 years, 2 s (4 s / batch 2), share 0.5 */
  assert_float_equal(r.embodied_g, 1.2e6 * 2 / (4 * 365.0 * 86400) * 0.5, 1e-12);
  assert_float_equal(r.total_g, r.operational_g + r.embodied_g, 1e-15);
  assert_string_equal(r.method, "sci-v1.0 average");
  /* measured energy from the backend wins over the CPU-time model */
  s.energy_known = true;
  s.energy_j = 7;
  snprintf(s.energy_source, sizeof s.energy_source, "rapl");
  assert_int_equal(eco_acct_price(&a, &s, 4.0, 0, &r, NULL), 0);
  assert_float_equal(r.energy_j, 7, 0);
  assert_string_equal(r.energy_source, "rapl");
  assert_false(r.energy_estimated);
  eco_acct_close(&st);
  eco_cfg_free(cfg);
  /* bad settings are refused */
  assert_int_equal(eco_cfg_load_string("carbon: {pue: 0.5}\n", "t", &cfg, &err), 0);
  eco_cfg_use_env(cfg, false);
  assert_int_equal(eco_acct_open(cfg, "n", &st, &a, &err), ECO_ECONFIG);
  eco_cfg_free(cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_histogram_and_counters),
      cmocka_unit_test(test_pricing_defaults),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
