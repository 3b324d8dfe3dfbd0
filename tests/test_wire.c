/* Tests for src/accounting/wire: the schema of what ecoinfer adds to the
 * OpenAI wire is pinned here as text. A change to usage.carbon, the
 * router's receipt object, the error body or a header name fails this
 * test: clients parse these, so such a change is an API change (update
 * docs/server.md and docs/router.md with it). */
#include "testutil.h"

#include "accounting/wire.h"
#include "server/openai.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static char *dump(json_t *o) {
  assert_non_null(o);
  char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(12));
  json_decref(o);
  assert_non_null(s);
  return s;
}

static eco_receipt sample(void) {
  eco_receipt r;
  memset(&r, 0, sizeof r);
  r.energy_j = 12.5;
  snprintf(r.energy_source, sizeof r.energy_source, "rapl");
  r.energy_estimated = false;
  snprintf(r.energy_rails, sizeof r.energy_rails, "package-0+dram");
  r.intensity_gco2_kwh = 250;
  snprintf(r.intensity_source, sizeof r.intensity_source, "trace:GB_2023_hourly.csv");
  r.intensity_estimated = true;
  r.operational_g = 0.001;
  r.embodied_g = 0.25;
  r.total_g = 0.251;
  r.pue = 1.2;
  snprintf(r.method, sizeof r.method, "sci-v1.0 average");
  r.prompt_cached_tokens = 48;
  return r;
}

#define RECEIPT_TEXT                                                                               \
  "{\"energy_j\":12.5,\"energy_source\":\"rapl\",\"energy_estimated\":false,"                      \
  "\"energy_rails\":\"package-0+dram\","                                                           \
  "\"intensity_gco2_kwh\":250.0,\"intensity_source\":\"trace:GB_2023_hourly.csv\","                \
  "\"intensity_estimated\":true,\"operational_g\":0.001,\"embodied_g\":0.25,\"total_g\":0.251,"    \
  "\"pue\":1.2,\"method\":\"sci-v1.0 average\",\"prompt_cached_tokens\":48}"

static void test_receipt_text(void **state) {
  (void)state;
  eco_receipt r = sample();
  char *s = dump(eco_receipt_to_json(&r));
  assert_string_equal(s, RECEIPT_TEXT);
  free(s);
  /* a number JSON cannot hold is null, not a failed receipt */
  r.energy_j = NAN;
  s = dump(eco_receipt_to_json(&r));
  assert_non_null(strstr(s, "{\"energy_j\":null,\"energy_source\":\"rapl\""));
  free(s);
  assert_null(eco_receipt_to_json(NULL));
}

static void test_receipt_round_trip(void **state) {
  (void)state;
  eco_receipt r = sample(), back;
  json_t *j = eco_receipt_to_json(&r);
  unsigned present = 0;
  assert_int_equal(eco_receipt_from_json(j, &back, &present), 0);
  json_decref(j);
  assert_memory_equal(&r, &back, sizeof r);
  unsigned all = 0;
#define ALL(name, kind) all |= ECO_RF(name);
  ECO_RECEIPT_FIELDS(ALL)
#undef ALL
  assert_int_equal(present, all);
  assert_int_equal(all, (1u << 13) - 1); /* thirteen fields */
  /* what the router and the dashboard read from a node's text */
  json_t *t = json_loads(RECEIPT_TEXT, 0, NULL);
  assert_int_equal(eco_receipt_from_json(t, &back, NULL), 0);
  json_decref(t);
  assert_memory_equal(&r, &back, sizeof r);
}

static void test_receipt_partial(void **state) {
  (void)state;
  eco_receipt r;
  unsigned present = ~0u;
  json_t *j = json_loads("{\"total_g\":2,\"energy_source\":\"nvml\",\"energy_estimated\":false,"
                         "\"pue\":\"high\",\"router\":{}}",
                         0, NULL);
  assert_int_equal(eco_receipt_from_json(j, &r, &present), 0);
  json_decref(j);
  assert_int_equal(present, ECO_RF(total_g) | ECO_RF(energy_source) | ECO_RF(energy_estimated));
  assert_true(r.total_g == 2 && r.energy_j == 0 && r.pue == 0);
  assert_string_equal(r.energy_source, "nvml");
  assert_false(r.energy_estimated);
  assert_true(r.intensity_estimated); /* estimated unless the receipt says otherwise */
  assert_string_equal(r.method, "");
  /* not a receipt */
  json_t *a = json_array();
  assert_int_equal(eco_receipt_from_json(a, &r, &present), ECO_EINVAL);
  assert_int_equal(present, 0);
  json_decref(a);
  assert_int_equal(eco_receipt_from_json(NULL, &r, NULL), ECO_EINVAL);
}

static void test_usage_carbon(void **state) {
  (void)state;
  eco_receipt r = sample();
  eco_oai_usage u = {.prompt_tokens = 7, .completion_tokens = 3, .cached_tokens = 4, .carbon = &r};
  char *s = dump(eco_oai_usage_json(&u));
  assert_string_equal(s, "{\"prompt_tokens\":7,\"completion_tokens\":3,\"total_tokens\":10,"
                         "\"prompt_tokens_details\":{\"cached_tokens\":4},"
                         "\"carbon\":" RECEIPT_TEXT "}");
  free(s);
  /* directive level without a receipt */
  u.carbon = NULL;
  u.has_directive = true;
  u.directive_level = 2;
  s = dump(eco_oai_usage_json(&u));
  assert_string_equal(s, "{\"prompt_tokens\":7,\"completion_tokens\":3,\"total_tokens\":10,"
                         "\"prompt_tokens_details\":{\"cached_tokens\":4},"
                         "\"carbon\":{\"directive_level\":2}}");
  free(s);
}

/* the receipt text with ",\"directive_level\":2}" in place of its closing brace */
static const char *with_level(void) {
  static char buf[512];
  snprintf(buf, sizeof buf, "%.*s,\"directive_level\":2}", (int)strlen(RECEIPT_TEXT) - 1,
           RECEIPT_TEXT);
  return buf;
}

static void test_usage_carbon_level(void **state) {
  (void)state;
  eco_receipt r = sample();
  eco_oai_usage u = {.carbon = &r, .has_directive = true, .directive_level = 2};
  json_t *usage = eco_oai_usage_json(&u);
  char *s = dump(json_incref(json_object_get(usage, ECO_USAGE_CARBON)));
  json_decref(usage);
  assert_string_equal(s, with_level());
  free(s);
}

static void test_route_receipt(void **state) {
  (void)state;
  eco_route_receipt x = {.policy = "slo-carbon",
                         .node = "orin",
                         .zone = "SE",
                         .device = "jetson",
                         .attempts = 2,
                         .failed_nodes = "ada,cpu",
                         .predicted = {1.5, 0.25, 24, 2, 10, 0.5, 0.125, 0.625},
                         .measured = {2, 1.75, 0.5, 12, 24, 0.75, 11},
                         .slo_s = 3,
                         .slo_met = true,
                         .slo_predicted_met = true,
                         .slo_fallback = false,
                         .directive_level = 1};
  char *s = dump(eco_route_receipt_to_json(&x));
  assert_string_equal(
      s, "{\"policy\":\"slo-carbon\",\"node\":\"orin\",\"zone\":\"SE\",\"device\":\"jetson\","
         "\"attempts\":2,\"failed_nodes\":[\"ada\",\"cpu\"],"
         "\"predicted\":{\"latency_s\":1.5,\"queue_s\":0.25,\"out_tokens\":24.0,\"batch\":2.0,"
         "\"energy_j\":10.0,\"operational_g\":0.5,\"embodied_g\":0.125,\"total_g\":0.625},"
         "\"measured\":{\"latency_s\":2.0,\"upstream_s\":1.75,\"ttft_s\":0.5,\"prompt_tokens\":12,"
         "\"completion_tokens\":24,\"total_g\":0.75,\"energy_j\":11.0},"
         "\"slo_s\":3.0,\"slo_met\":true,\"slo_predicted_met\":true,\"slo_fallback\":false,"
         "\"directive_level\":1}");
  free(s);
  /* the live directive decision */
  eco_route_directive d = {.plan = "live",
                           .group = "triviaqa/1",
                           .group_p = 0.75,
                           .planned_level = 2,
                           .level_p = 0.5,
                           .degraded = false,
                           .opted_out = false};
  x.directive = &d;
  s = dump(eco_route_receipt_to_json(&x));
  assert_non_null(strstr(s, "\"directive_level\":1,\"directive\":{\"plan\":\"live\","
                            "\"group\":\"triviaqa/1\",\"group_p\":0.75,\"planned_level\":2,"
                            "\"level_p\":0.5,\"degraded\":false,\"opted_out\":false}}"));
  free(s);
  d.plan = "lp";
  d.group = NULL;
  d.opted_out = true;
  s = dump(eco_route_receipt_to_json(&x));
  assert_non_null(strstr(s, "\"directive\":{\"plan\":\"lp\",\"planned_level\":2,"
                            "\"level_p\":0.5,\"degraded\":false,\"opted_out\":true}}"));
  free(s);
  x.directive = NULL;
  /* nothing measured, no failures, no directive */
  x.failed_nodes = "";
  x.measured.total_g = -1;
  x.measured.energy_j = -1;
  x.directive_level = -1;
  json_t *o = eco_route_receipt_to_json(&x);
  assert_int_equal(json_array_size(json_object_get(o, "failed_nodes")), 0);
  assert_null(json_object_get(json_object_get(o, "measured"), "total_g"));
  assert_null(json_object_get(json_object_get(o, "measured"), "energy_j"));
  assert_null(json_object_get(o, ECO_CARBON_DIRECTIVE_LEVEL));
  json_decref(o);
}

static void test_error_body(void **state) {
  (void)state;
  char *s = eco_wire_error_body("no such endpoint", "not_found", NULL, NULL);
  assert_string_equal(s, "{\"error\":{\"message\":\"no such endpoint\",\"type\":\"not_found\","
                         "\"param\":null,\"code\":null}}");
  free(s);
  s = eco_wire_error_body("too long", "invalid_request_error", "messages.content",
                          "context_length_exceeded");
  assert_string_equal(s, "{\"error\":{\"message\":\"too long\",\"type\":\"invalid_request_error\","
                         "\"param\":\"messages.content\",\"code\":\"context_length_exceeded\"}}");
  free(s);
  s = eco_wire_error_body("x", "server_error", "", "");
  assert_string_equal(
      s, "{\"error\":{\"message\":\"x\",\"type\":\"server_error\",\"param\":null,\"code\":null}}");
  free(s);
  /* bytes that are not UTF-8 (a client's, quoted in a message) become U+FFFD */
  s = eco_wire_error_body("near '\x9a\x87'", "invalid_request_error", "a\xff", NULL);
  assert_non_null(s);
  assert_string_equal(s, "{\"error\":{\"message\":\"near '\xef\xbf\xbd\xef\xbf\xbd'\","
                         "\"type\":\"invalid_request_error\",\"param\":\"a\xef\xbf\xbd\","
                         "\"code\":null}}");
  free(s);
  /* the node's error is the same body */
  eco_oai_error e;
  eco_oai_error_set(&e, 404, "invalid_request_error", "model", "model_not_found", "no model %s",
                    "m");
  s = eco_oai_error_json(&e);
  assert_string_equal(s,
                      "{\"error\":{\"message\":\"no model m\",\"type\":\"invalid_request_error\","
                      "\"param\":\"model\",\"code\":\"model_not_found\"}}");
  free(s);
  json_t *oom = json_loads(ECO_WIRE_ERROR_OOM, 0, NULL);
  assert_non_null(oom);
  assert_string_equal(json_string_value(json_object_get(json_object_get(oom, "error"), "type")),
                      "server_error");
  json_decref(oom);
}

static void test_header_names(void **state) {
  (void)state;
  static const struct {
    const char *name, *want;
  } h[] = {
      {ECO_HDR_POLICY, "x-ecoinfer-policy"},
      {ECO_HDR_SLO_MS, "x-ecoinfer-slo-ms"},
      {ECO_HDR_DIRECTIVE, "x-ecoinfer-directive"},
      {ECO_HDR_DIRECTIVE_LEVEL, "x-ecoinfer-directive-level"},
      {ECO_HDR_REQUEST_ID, "x-ecoinfer-request-id"},
      {ECO_HDR_ENERGY_J, "x-ecoinfer-energy-j"},
      {ECO_HDR_ENERGY_SOURCE, "x-ecoinfer-energy-source"},
      {ECO_HDR_INTENSITY, "x-ecoinfer-intensity-gco2-kwh"},
      {ECO_HDR_INTENSITY_SOURCE, "x-ecoinfer-intensity-source"},
      {ECO_HDR_CO2_G, "x-ecoinfer-co2-g"},
      {ECO_HDR_ZONE, "x-ecoinfer-zone"},
      {ECO_HDR_NODE, "x-ecoinfer-node"},
      {ECO_HDR_PREDICTED_LATENCY_MS, "x-ecoinfer-predicted-latency-ms"},
      {ECO_HDR_PREDICTED_GCO2, "x-ecoinfer-predicted-gco2"},
      {ECO_HDR_ATTEMPTS, "x-ecoinfer-attempts"},
  };
  for (size_t i = 0; i < sizeof h / sizeof h[0]; i++) {
    assert_string_equal(h[i].name, h[i].want);
    assert_int_equal(strncmp(h[i].name, ECO_HDR_PREFIX, strlen(ECO_HDR_PREFIX)), 0);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_receipt_text),       cmocka_unit_test(test_receipt_round_trip),
      cmocka_unit_test(test_receipt_partial),    cmocka_unit_test(test_usage_carbon),
      cmocka_unit_test(test_usage_carbon_level), cmocka_unit_test(test_route_receipt),
      cmocka_unit_test(test_error_body),         cmocka_unit_test(test_header_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
