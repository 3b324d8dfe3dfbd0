/* End-to-end tests of `ecoinfer report`, `ecoinfer carbon` and the meters
 * part of `ecoinfer doctor`: a ledger written with known receipts is
 * reported as CSV, JSON, a table and an SVG chart, checked against
 * hand-computed sums. */
#include "testutil.h"

#include "carbon/ledger.h"
#include "httpd.h"
#include "util/status.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

#define NEAR(a, b) (fabs((a) - (b)) < 1e-6)

static char *run(const char *args, int *code) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "%s %s 2>&1", eco_test_binary(), args);
  char *out = NULL;
  assert_int_equal(eco_test_run(cmd, &out, code), 0);
  return out;
}

static void add(eco_ledger *l, const char *id, double t, const char *node, const char *zone,
                const char *model, int64_t out_tok, double energy_j, double intensity,
                double embodied_g) {
  eco_ledger_entry e;
  memset(&e, 0, sizeof e);
  snprintf(e.request_id, sizeof e.request_id, "%s", id);
  e.time_s = t;
  snprintf(e.node, sizeof e.node, "%s", node);
  snprintf(e.zone, sizeof e.zone, "%s", zone);
  snprintf(e.model, sizeof e.model, "%s", model);
  snprintf(e.policy, sizeof e.policy, "carbon-greedy");
  e.prompt_tokens = 5;
  e.output_tokens = out_tok;
  e.latency_s = 2.0;
  e.directive_level = 1;
  snprintf(e.receipt.energy_source, sizeof e.receipt.energy_source, "model");
  e.receipt.energy_estimated = true;
  snprintf(e.receipt.intensity_source, sizeof e.receipt.intensity_source, "trace:x.csv");
  assert_int_equal(eco_sci_compute(energy_j, intensity, embodied_g, 1.5, &e.receipt), 0);
  eco_error err = {0};
  assert_int_equal(eco_ledger_append(l, &e, &err), 0);
}

static char *make_ledger(char **dir) {
  *dir = eco_test_tmpdir();
  char *path = eco_test_path(*dir, "r.db");
  eco_ledger *l;
  eco_error err = {0};
  assert_int_equal(eco_ledger_open(path, NULL, &l, &err), 0);
  double t0 = 1686787200.0; /* 2023-06-15T00:00:00Z */
  /* 2.4e6 J * 1.5 PUE = 1 kWh at 100 g -> 100 g op */
  add(l, "a", t0 + 10, "n1", "GB", "tiny", 100, 2.4e6, 100, 1);
  /* 1 kWh at 300 g -> 300 g op */
  add(l, "b", t0 + 3700, "n2", "DE", "tiny", 300, 2.4e6, 300, 1);
  /* 0.5 kWh at 200 g -> 100 g op */
  add(l, "c", t0 + 3800, "n1", "GB", "big", 600, 1.2e6, 200, 2);
  eco_ledger_close(l);
  return path;
}

static void test_report_formats(void **state) {
  (void)state;
  char *dir;
  char *path = make_ledger(&dir);
  char args[2048];
  int code;
  /* JSON: totals = 500 g op + 4 g embodied over 1000 output tokens, 3 requests */
  snprintf(args, sizeof args, "report --ledger %s --json --by hour,zone,model,node,policy,day",
           path);
  char *out = run(args, &code);
  assert_int_equal(code, 0);
  json_error_t je;
  json_t *j = json_loads(out, 0, &je);
  if (!j) fail_msg("not JSON: %s\n%s", je.text, out);
  json_t *tot = json_object_get(j, "total");
  assert_int_equal(json_integer_value(json_object_get(tot, "requests")), 3);
  assert_true(NEAR(json_real_value(json_object_get(tot, "operational_g")), 500));
  assert_true(NEAR(json_real_value(json_object_get(tot, "total_g")), 504));
  assert_true(NEAR(json_real_value(json_object_get(tot, "sci_g_per_request")), 168));
  assert_true(NEAR(json_real_value(json_object_get(tot, "sci_g_per_1k_tokens")), 504));
  /* 500 g over 2.5 kWh facility energy */
  assert_true(NEAR(json_real_value(json_object_get(tot, "intensity_gco2_kwh")), 200));
  json_t *hours = json_object_get(json_object_get(j, "groups"), "hour");
  assert_int_equal(json_array_size(hours), 2);
  assert_string_equal(json_string_value(json_object_get(json_array_get(hours, 1), "key")),
                      "2023-06-15T01:00Z");
  assert_true(NEAR(json_real_value(json_object_get(json_array_get(hours, 1), "total_g")), 403));
  json_t *zones = json_object_get(json_object_get(j, "groups"), "zone");
  assert_string_equal(json_string_value(json_object_get(json_array_get(zones, 0), "key")), "DE");
  assert_int_equal(json_array_size(json_object_get(json_object_get(j, "groups"), "day")), 1);
  json_decref(j);
  free(out);

  /* CSV: header + total + 2 zone rows */
  snprintf(args, sizeof args, "report --ledger %s --format csv --by zone", path);
  out = run(args, &code);
  assert_int_equal(code, 0);
  assert_true(strncmp(out, "group,key,requests,", 19) == 0);
  assert_non_null(strstr(out, "\ntotal,\"total\",3,15,1000,"));
  assert_non_null(strstr(out, "\nzone,\"GB\",2,10,700,"));
  size_t lines = 0;
  for (const char *c = out; *c; c++)
    lines += *c == '\n';
  assert_int_equal(lines, 4);
  free(out);

  /* table with a window and the SVG chart */
  snprintf(args, sizeof args,
           "report --ledger %s --by model --from 2023-06-15T01:00:00Z --svg %s/c.svg", path, dir);
  out = run(args, &code);
  assert_int_equal(code, 0);
  assert_non_null(strstr(out, "requests 2,"));
  assert_non_null(strstr(out, "by model"));
  assert_non_null(strstr(out, "chart written"));
  free(out);
  char *svgp = eco_test_path(dir, "c.svg");
  FILE *f = fopen(svgp, "r");
  assert_non_null(f);
  char buf[8192];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  assert_non_null(strstr(buf, "<svg"));
  assert_non_null(strstr(buf, "<polyline"));
  assert_non_null(strstr(buf, "2023-06-15T01:00Z"));
  assert_non_null(strstr(buf, "</svg>"));
  free(svgp);

  /* usage errors */
  snprintf(args, sizeof args, "report --ledger %s --by galaxy", path);
  out = run(args, &code);
  assert_int_equal(code, 2);
  free(out);
  out = run("report", &code);
  assert_int_equal(code, 2);
  assert_non_null(strstr(out, "--ledger"));
  free(out);
  snprintf(args, sizeof args, "report --ledger %s/none.db", dir);
  out = run(args, &code);
  assert_int_equal(code, 1);
  free(out);
  free(path);
  eco_test_rmtree(dir);
  free(dir);
}

/* Savings by lever (issue 18): router rows with facts, a node row of the
 * same request (counted once), a batch request and evaluation overhead. */
static void test_report_levers(void **state) {
  (void)state;
  char *dir = eco_test_tmpdir();
  char *path = eco_test_path(dir, "lv.db");
  eco_ledger *l;
  eco_error err = {0};
  assert_int_equal(eco_ledger_open(path, NULL, &l, &err), 0);
  eco_ledger_entry e;
  memset(&e, 0, sizeof e);
  e.directive_level = 2;
  e.time_s = 100;
  e.output_tokens = 10;
  e.receipt.total_g = 0.002; /* 2 mg measured */
  e.receipt.pue = 1;
  snprintf(e.request_id, sizeof e.request_id, "r1");
  assert_int_equal(eco_ledger_append(l, &e, &err), 0); /* the node's row */
  e.recorder = ECO_LEDGER_BY_ROUTER;
  snprintf(e.facts.group, sizeof e.facts.group, "chat");
  e.facts.counterfactual_g = 0.010; /* modelled 0.004: scale 0.5 */
  e.facts.saved_routing_g = 0.002;
  e.facts.saved_directive_g = 0.004;
  assert_int_equal(eco_ledger_append(l, &e, &err), 0);
  memset(&e.facts, 0, sizeof e.facts);
  snprintf(e.request_id, sizeof e.request_id, "b1");
  e.kind = ECO_LEDGER_BATCH;
  e.directive_level = -1;
  e.receipt.total_g = 0.001;
  e.facts.counterfactual_g = 0.003;
  e.facts.saved_shifting_g = 0.002; /* modelled 0.001: scale 1 */
  assert_int_equal(eco_ledger_append(l, &e, &err), 0);
  memset(&e.facts, 0, sizeof e.facts);
  snprintf(e.request_id, sizeof e.request_id, "e1");
  e.kind = ECO_LEDGER_EVAL;
  e.receipt.total_g = 0.0005;
  assert_int_equal(eco_ledger_append(l, &e, &err), 0);
  eco_ledger_close(l);
  char args[2048];
  int code;
  snprintf(args, sizeof args, "report --ledger %s --json --by kind,directive,group,recorder", path);
  char *out = run(args, &code);
  assert_int_equal(code, 0);
  json_t *j = json_loads(out, 0, NULL);
  if (!j) fail_msg("not JSON:\n%s", out);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "total"), "requests")), 3);
  json_t *v = json_object_get(j, "levers");
  assert_int_equal(json_integer_value(json_object_get(v, "requests")), 2);
  assert_int_equal(json_integer_value(json_object_get(v, "with_facts")), 2);
  json_t *sv = json_object_get(v, "saved_g");
  assert_true(NEAR(json_real_value(json_object_get(sv, "routing")), 0.001));
  assert_true(NEAR(json_real_value(json_object_get(sv, "directives")), 0.002));
  assert_true(NEAR(json_real_value(json_object_get(sv, "shifting")), 0.002));
  assert_true(NEAR(json_real_value(json_object_get(v, "baseline_g")), 0.008));
  assert_true(NEAR(json_real_value(json_object_get(v, "eval_g")), 0.0005));
  assert_true(NEAR(json_real_value(json_object_get(v, "net_saved_g")), 0.0045));
  json_t *g = json_object_get(j, "groups");
  assert_int_equal(json_array_size(json_object_get(g, "kind")), 3);
  assert_string_equal(
      json_string_value(json_object_get(json_array_get(json_object_get(g, "directive"), 0), "key")),
      "L2");
  assert_int_equal(json_array_size(json_object_get(g, "recorder")), 1);
  json_decref(j);
  free(out);
  /* the table scales units: 8 mg baseline, 4 mg per request */
  snprintf(args, sizeof args, "report --ledger %s --by kind", path);
  out = run(args, &code);
  assert_int_equal(code, 0);
  assert_non_null(strstr(out, "savings by lever"));
  assert_non_null(strstr(out, "8 mg"));
  assert_non_null(strstr(out, "saved by directives"));
  assert_non_null(strstr(out, "500 µg"));
  free(out);
  free(path);
  eco_test_rmtree(dir);
  free(dir);
}

static void test_carbon_cli(void **state) {
  (void)state;
  int code;
  char *out = run("carbon --zone FR --provider static --json", &code);
  assert_int_equal(code, 0);
  json_t *j = json_loads(out, 0, NULL);
  assert_non_null(j);
  assert_true(NEAR(json_real_value(json_object_get(j, "gco2_kwh")), 30.4));
  assert_string_equal(json_string_value(json_object_get(j, "source")), "static");
  json_decref(j);
  free(out);
  out = run("carbon --zone GB --at yesterday", &code);
  assert_int_equal(code, 2);
  free(out);
  char *gb;
  ECO_TEST_NEED_SHARED("data/carbon/GB_2023_hourly.csv", &gb);
  char args[1024];
  snprintf(args, sizeof args,
           "carbon --zone GB --provider trace --trace %s --at 2023-06-15T12:59:59Z --forecast 2",
           gb);
  out = run(args, &code);
  assert_int_equal(code, 0);
  assert_non_null(strstr(out, "104.4 gCO2e/kWh"));
  assert_non_null(strstr(out, "trace:GB_2023_hourly.csv"));
  assert_non_null(strstr(out, "forecast (3 values)"));
  free(out);
  free(gb);
}

/* `ecoinfer carbon` with a live provider from the config, against the
 * loopback server; then with the provider down: the static fallback. */
static void test_carbon_cli_live(void **state) {
  (void)state;
  eco_test_httpd *h;
  assert_int_equal(eco_test_httpd_start(&h), 0);
  eco_test_response ok = {.status = 200,
                          .body = "{\"data\":[{\"from\":\"2026-11-21T10:00Z\","
                                  "\"to\":\"2026-11-21T10:30Z\",\"intensity\":"
                                  "{\"forecast\":150,\"actual\":148,\"index\":\"low\"}}]}"};
  assert_int_equal(eco_test_httpd_on(h, "GET", "/intensity", &ok), 0);
  char *dir = eco_test_tmpdir();
  char yaml[512];
  snprintf(yaml, sizeof yaml,
           "carbon:\n  provider: ukci\n  zone: GB\n  ukci:\n    base_url: %s\n"
           "    timeout: 2s\n",
           eco_test_httpd_url(h));
  assert_int_equal(eco_test_write_file(dir, "c.yaml", yaml), 0);
  char args[1024];
  snprintf(args, sizeof args, "carbon --config %s/c.yaml --json", dir);
  int code;
  char *out = run(args, &code);
  assert_int_equal(code, 0);
  json_t *j = json_loads(out, 0, NULL);
  if (!j) fail_msg("not JSON: %s", out);
  assert_true(NEAR(json_real_value(json_object_get(j, "gco2_kwh")), 148));
  assert_string_equal(json_string_value(json_object_get(j, "source")), "ukci");
  json_decref(j);
  free(out);
  eco_test_response down = {.status = 500, .body = "down"};
  assert_int_equal(eco_test_httpd_on(h, "GET", "/intensity", &down), 0);
  out = run(args, &code);
  assert_int_equal(code, 0);
  j = json_loads(out, 0, NULL);
  assert_non_null(j);
  assert_string_equal(json_string_value(json_object_get(j, "source")), "static");
  assert_true(json_is_true(json_object_get(j, "estimated")));
  json_decref(j);
  free(out);
  eco_test_httpd_stop(h);
  eco_test_rmtree(dir);
  free(dir);
}

static void test_doctor_meters(void **state) {
  (void)state;
  char *dir = eco_test_tmpdir();
  eco_test_write_file(dir, "sys/class/powercap/intel-rapl:0/name", "package-0\n");
  eco_test_write_file(dir, "sys/class/powercap/intel-rapl:0/energy_uj", "123\n");
  eco_test_write_file(dir, "sys/class/powercap/intel-rapl:0/max_energy_range_uj", "1000000\n");
  char args[1024];
  snprintf(args, sizeof args, "doctor --json --no-nvml --sysfs-root %s", dir);
  int code;
  char *out = run(args, &code);
  assert_int_equal(code, 0);
  json_t *j = json_loads(out, 0, NULL);
  if (!j) fail_msg("not JSON: %s", out);
  json_t *d0 = json_array_get(json_object_get(j, "devices"), 0);
  assert_string_equal(json_string_value(json_object_get(d0, "source")), "rapl");
  assert_string_equal(json_string_value(json_object_get(d0, "detail")), "package-0");
  assert_false(json_boolean_value(json_object_get(d0, "estimated")));
  assert_true(json_boolean_value(json_object_get(json_object_get(j, "meter"), "measured")));
  json_decref(j);
  free(out);
  /* a device configured for a meter that is absent says why */
  eco_test_write_file(dir, "c.yaml",
                      "devices:\n  - name: cpu\n  - name: jetson\n"
                      "    meter: ina3221\n");
  snprintf(args, sizeof args, "doctor --no-nvml --sysfs-root %s --config %s/c.yaml", dir, dir);
  out = run(args, &code);
  assert_int_equal(code, 0);
  assert_non_null(strstr(out, "rapl: package-0 (measured)"));
  assert_non_null(strstr(out, "jetson"));
  assert_non_null(strstr(out, "UNAVAILABLE"));
  free(out);
  eco_test_rmtree(dir);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_report_formats), cmocka_unit_test(test_report_levers),
      cmocka_unit_test(test_carbon_cli),     cmocka_unit_test(test_carbon_cli_live),
      cmocka_unit_test(test_doctor_meters),
  };
  return cmocka_run_group_tests_name("report", tests, NULL, NULL);
}
