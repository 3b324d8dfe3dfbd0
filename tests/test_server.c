/* Node server end to end, its answers: the real server on a loopback port
 * with the fake backend (tests/helpers/node_fixture.h), driven with libcurl:
 * chat and completions with their carbon receipts, the node's dashboard, a
 * meter's attribution, streaming, split UTF-8, busy/ready, the models and
 * node endpoints, and /metrics on the admin listener. Request errors and API
 * keys: test_server_errors.c; disconnects, drain, SIGTERM and concurrency:
 * test_server_lifecycle.c. */
#include "testutil.h"

#include "node_fixture.h"

#include "carbon/ledger.h"
#include "util/strbuf.h"

#include <curl/curl.h>
#include <jansson.h>

static void test_chat_and_receipt(void **state) {
  eco_test_node *f = eco_test_node_start(NULL, NULL);
  eco_error err = {0};
  eco_test_node_resp r;
  eco_test_node_post(f, "/v1/chat/completions", eco_test_node_chat_body, &r);
  assert_int_equal(r.status, 200);
  json_t *j = eco_test_node_json(&r);
  assert_string_equal(json_string_value(json_object_get(j, "object")), "chat.completion");
  json_t *ch = json_array_get(json_object_get(j, "choices"), 0);
  assert_string_equal(json_string_value(json_object_get(json_object_get(ch, "message"), "content")),
                      "Hello! This is the ecoinfer fake backend.");
  assert_string_equal(json_string_value(json_object_get(ch, "finish_reason")), "stop");
  json_t *u = json_object_get(j, "usage");
  assert_int_equal(json_integer_value(json_object_get(u, "completion_tokens")), 9);
  assert_true(json_integer_value(json_object_get(u, "prompt_tokens")) > 0);
  json_t *c = json_object_get(u, "carbon");
  const char *keys[] = {"energy_j",         "energy_source", "intensity_gco2_kwh",
                        "intensity_source", "operational_g", "embodied_g",
                        "total_g",          "pue",           "method"};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    if (!json_object_get(c, keys[i])) fail_msg("usage.carbon.%s missing", keys[i]);
  /* 9 tokens x 2 ms CPU x 10 W = 0.18 J; 0.18/3.6e6*1.5*200 g */
  assert_float_equal(json_number_value(json_object_get(c, "energy_j")), 0.18, 1e-9);
  assert_string_equal(json_string_value(json_object_get(c, "energy_source")), "cpu-time-model");
  assert_float_equal(json_number_value(json_object_get(c, "intensity_gco2_kwh")), 200, 1e-9);
  assert_float_equal(json_number_value(json_object_get(c, "operational_g")),
                     0.18 / 3.6e6 * 1.5 * 200, 1e-12);
  assert_true(json_number_value(json_object_get(c, "embodied_g")) > 0);
  assert_float_equal(json_number_value(json_object_get(c, "pue")), 1.5, 1e-12);
  assert_non_null(strstr(eco_sb_str(&r.headers), "x-ecoinfer-co2-g: "));
  assert_non_null(strstr(eco_sb_str(&r.headers), "x-ecoinfer-energy-source: cpu-time-model"));
  assert_non_null(strstr(eco_sb_str(&r.headers), "x-ecoinfer-zone: GB"));
  json_decref(j);
  eco_test_node_resp_free(&r);
  assert_int_equal(f->n_receipts, 1);
  int64_t rows = 0;
  assert_non_null(f->st.ledger);
  assert_int_equal(eco_ledger_count(f->st.ledger, 0, 0, &rows, &err), 0);
  assert_int_equal(rows, 1); /* every receipt is in the ledger */
  assert_int_equal(eco_test_node_stop(f), 0);
}

/* The node's own dashboard: GET /dashboard/api/state on the public
 * listener shows its zone, itself as the only node, and each request as a
 * decision (policy "node") with its receipt. */
static void test_dashboard(void **state) {
  (void)state;
  eco_test_node *f = eco_test_node_start(NULL, NULL);
  eco_test_node_resp r;
  eco_test_node_post(f, "/v1/chat/completions", eco_test_node_chat_body, &r);
  assert_int_equal(r.status, 200);
  json_t *j = eco_test_node_json(&r);
  char rid[64];
  snprintf(rid, sizeof rid, "%s", json_string_value(json_object_get(j, "id")));
  json_decref(j);
  eco_test_node_resp_free(&r);
  char url[256];
  snprintf(url, sizeof url, "%s/dashboard/api/state", f->base);
  eco_test_node_http("GET", url, NULL, NULL, 0, &r);
  assert_int_equal(r.status, 200);
  json_t *st = eco_test_node_json(&r);
  assert_string_equal(json_string_value(json_object_get(st, "role")), "node");
  json_t *z = json_array_get(json_object_get(st, "zones"), 0);
  assert_string_equal(json_string_value(json_object_get(z, "zone")), "GB");
  assert_float_equal(json_number_value(json_object_get(z, "gco2_kwh")), 200, 1e-9);
  json_t *nodes = json_object_get(st, "nodes");
  assert_int_equal(json_array_size(nodes), 1);
  json_t *n = json_array_get(nodes, 0);
  assert_string_equal(json_string_value(json_object_get(n, "zone")), "GB");
  assert_string_equal(json_string_value(json_object_get(n, "health")), "up");
  /* 0.18 J / 9 tokens from the cpu-time model: estimated */
  assert_float_equal(json_number_value(json_object_get(n, "j_per_token")), 0.02, 1e-9);
  assert_string_equal(json_string_value(json_object_get(n, "energy_source")),
                      "cpu-time-model (estimated)");
  json_t *d = json_array_get(json_object_get(st, "decisions"), 0);
  assert_non_null(d);
  assert_string_equal(json_string_value(json_object_get(d, "request_id")), rid);
  assert_string_equal(json_string_value(json_object_get(d, "policy")), "node");
  assert_int_equal(json_integer_value(json_object_get(d, "output_tokens")), 9);
  json_t *rc = json_object_get(d, "receipt");
  assert_float_equal(json_number_value(json_object_get(rc, "energy_j")), 0.18, 1e-9);
  assert_true(json_number_value(json_object_get(rc, "total_g")) > 0);
  assert_true(json_is_null(json_object_get(d, "counterfactual_g"))); /* no routing claim */
  json_decref(st);
  eco_test_node_resp_free(&r);
  snprintf(url, sizeof url, "%s/dashboard", f->base);
  eco_test_node_http("GET", url, NULL, NULL, 0, &r);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(eco_sb_str(&r.body), "<html"));
  eco_test_node_resp_free(&r);
  assert_int_equal(eco_test_node_stop(f), 0);
}

/* A meter that reports 1 J per poll. */
static int one_joule(eco_meter *m, double now_s, double *delta_j, eco_error *err) {
  *delta_j = 1.0;
  return 0;
}
static void free_meter(eco_meter *m) { free(m); }
static const eco_meter_vtbl one_joule_vt = {"test", one_joule, free_meter};

static void test_meter_attribution(void **state) {
  eco_meter *m = calloc(1, sizeof *m);
  assert_non_null(m);
  assert_int_equal(eco_meter_init_base(m, &one_joule_vt, "test-meter", "1 J/poll", false), 0);
  eco_test_node *f = eco_test_node_start_meter(NULL, NULL, m);
  for (int i = 0; i < 2; i++) {
    /* start tick: baseline (then idle), finish tick: 1 J to the only request */
    eco_test_node_resp r;
    eco_test_node_post(f, "/v1/chat/completions", eco_test_node_chat_body, &r);
    assert_int_equal(r.status, 200);
    json_t *j = eco_test_node_json(&r);
    json_t *c = json_object_get(json_object_get(j, "usage"), "carbon");
    assert_float_equal(json_number_value(json_object_get(c, "energy_j")), 1.0, 1e-12);
    assert_string_equal(json_string_value(json_object_get(c, "energy_source")), "test-meter");
    assert_false(json_is_true(json_object_get(c, "energy_estimated")));
    json_decref(j);
    eco_test_node_resp_free(&r);
  }
  assert_int_equal(eco_test_node_stop(f), 0);
}

static void test_completions_and_stop(void **state) {
  eco_test_node *f = eco_test_node_start(NULL, NULL);
  eco_test_node_resp r;
  eco_test_node_post(f, "/v1/completions",
                     "{\"model\":\"fake-model\",\"prompt\":\"a b c\",\"max_tokens\":3}", &r);
  assert_int_equal(r.status, 200);
  json_t *j = eco_test_node_json(&r);
  assert_string_equal(json_string_value(json_object_get(j, "object")), "text_completion");
  json_t *ch = json_array_get(json_object_get(j, "choices"), 0);
  assert_string_equal(json_string_value(json_object_get(ch, "text")), "Hello! This");
  assert_string_equal(json_string_value(json_object_get(ch, "finish_reason")), "length");
  assert_int_equal(
      json_integer_value(json_object_get(json_object_get(j, "usage"), "prompt_tokens")), 3);
  json_decref(j);
  eco_test_node_resp_free(&r);
  eco_test_node_post(f, "/v1/completions",
                     "{\"model\":\"fake-model\",\"prompt\":\"Q: \",\"echo\":true,\"max_tokens\":1}",
                     &r);
  assert_int_equal(r.status, 200);
  j = eco_test_node_json(&r);
  ch = json_array_get(json_object_get(j, "choices"), 0);
  assert_string_equal(json_string_value(json_object_get(ch, "text")), "Q: Hello");
  json_decref(j);
  eco_test_node_resp_free(&r);
  eco_test_node_post(f, "/v1/completions",
                     "{\"model\":\"fake-model\",\"prompt\":[\"x\"],\"stop\":[\" fake\",\"zz\"]}",
                     &r);
  assert_int_equal(r.status, 200);
  j = eco_test_node_json(&r);
  ch = json_array_get(json_object_get(j, "choices"), 0);
  assert_string_equal(json_string_value(json_object_get(ch, "text")),
                      "Hello! This is the ecoinfer");
  assert_string_equal(json_string_value(json_object_get(ch, "finish_reason")), "stop");
  json_decref(j);
  eco_test_node_resp_free(&r);
  assert_int_equal(eco_test_node_stop(f), 0);
}

/* Parses an SSE body into its data payloads. */
static size_t sse_events(const char *body, char ev[][4096], size_t cap) {
  size_t n = 0;
  const char *p = body;
  while ((p = strstr(p, "data: ")) && n < cap) {
    p += 6;
    const char *end = strstr(p, "\n\n");
    if (!end) {
      fail_msg("unterminated SSE event: %s", p);
      return n; /* not reached: fail_msg does not return */
    }
    snprintf(ev[n++], 4096, "%.*s", (int)(end - p), p);
    p = end + 2;
  }
  return n;
}

static void check_stream(eco_test_node *f, bool chat, bool include_usage) {
  char body[512];
  if (chat)
    snprintf(body, sizeof body,
             "{\"model\":\"fake-model\",\"stream\":true,%s\"messages\":[{\"role\":\"user\","
             "\"content\":\"hi\"}]}",
             include_usage ? "\"stream_options\":{\"include_usage\":true}," : "");
  else
    snprintf(body, sizeof body, "{\"model\":\"fake-model\",\"stream\":true,%s\"prompt\":\"hi\"}",
             include_usage ? "\"stream_options\":{\"include_usage\":true}," : "");
  eco_test_node_resp r;
  eco_test_node_post(f, chat ? "/v1/chat/completions" : "/v1/completions", body, &r);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(eco_sb_str(&r.headers), "text/event-stream"));
  static char ev[64][4096];
  size_t n = sse_events(eco_sb_str(&r.body), ev, 64);
  assert_true(n >= 3);
  assert_string_equal(ev[n - 1], "[DONE]");
  eco_strbuf text;
  eco_sb_init(&text);
  bool saw_finish = false, saw_usage = false;
  for (size_t i = 0; i + 1 < n; i++) {
    json_t *j = json_loads(ev[i], 0, NULL);
    if (!j) fail_msg("bad chunk %s", ev[i]);
    assert_string_equal(json_string_value(json_object_get(j, "object")),
                        chat ? "chat.completion.chunk" : "text_completion");
    json_t *ch = json_array_get(json_object_get(j, "choices"), 0);
    json_t *u = json_object_get(j, "usage");
    if (json_is_object(u)) {
      assert_int_equal(json_array_size(json_object_get(j, "choices")), 0);
      assert_true(json_is_object(json_object_get(u, "carbon")));
      assert_int_equal(json_integer_value(json_object_get(u, "completion_tokens")), 9);
      assert_int_equal(i, n - 2); /* the usage chunk is the last before [DONE] */
      saw_usage = true;
    } else {
      json_t *t = chat ? json_object_get(json_object_get(ch, "delta"), "content")
                       : json_object_get(ch, "text");
      if (json_is_string(t)) eco_sb_puts(&text, json_string_value(t));
      if (json_is_string(json_object_get(ch, "finish_reason"))) saw_finish = true;
    }
    json_decref(j);
  }
  assert_true(saw_finish);
  assert_int_equal(saw_usage, include_usage);
  assert_string_equal(eco_sb_str(&text), "Hello! This is the ecoinfer fake backend.");
  eco_sb_free(&text);
  eco_test_node_resp_free(&r);
}

static void test_streaming(void **state) {
  eco_fake_cfg fc;
  eco_fake_cfg_default(&fc);
  fc.tokens_per_s = 500;
  eco_test_node *f = eco_test_node_start(&fc, NULL);
  check_stream(f, true, true);
  check_stream(f, true, false);
  check_stream(f, false, true);
  check_stream(f, false, false);
  assert_int_equal(eco_test_node_stop(f), 0);
}

static void test_utf8_split_pieces(void **state) {
  eco_fake_cfg fc;
  eco_fake_cfg_default(&fc);
  const char *script[] = {"caf", "\xC3", "\xA9", " \xF0\x9F", "\x8C\x8D", "\xFF", "!"};
  fc.script = script;
  fc.n_script = 7;
  eco_test_node *f = eco_test_node_start(&fc, NULL);
  eco_test_node_resp r;
  eco_test_node_post(f, "/v1/completions", "{\"model\":\"fake-model\",\"prompt\":\"x\"}", &r);
  assert_int_equal(r.status, 200);
  json_t *j = eco_test_node_json(&r);
  assert_string_equal(
      json_string_value(json_object_get(json_array_get(json_object_get(j, "choices"), 0), "text")),
      "caf\xC3\xA9 \xF0\x9F\x8C\x8D\xEF\xBF\xBD!");
  json_decref(j);
  eco_test_node_resp_free(&r);
  assert_int_equal(eco_test_node_stop(f), 0);
}

static void test_busy_ready_and_models(void **state) {
  eco_server_cfg sc;
  eco_server_cfg_default(&sc);
  sc.retry_after_s = 7;
  eco_test_node *f = eco_test_node_start(NULL, &sc);
  char url[128];
  eco_test_node_resp r;
  snprintf(url, sizeof url, "%s/ready", f->base);
  eco_test_node_http("GET", url, NULL, NULL, 0, &r);
  assert_int_equal(r.status, 200);
  eco_test_node_resp_free(&r);
  eco_backend_fake_set_busy(&f->be, true);
  eco_test_node_post(f, "/v1/chat/completions", eco_test_node_chat_body, &r);
  eco_test_node_expect_error(&r, 429, "");
  assert_non_null(strstr(eco_sb_str(&r.headers), "Retry-After: 7"));
  eco_test_node_resp_free(&r);
  eco_test_node_http("GET", url, NULL, NULL, 0, &r);
  assert_int_equal(r.status, 503);
  eco_test_node_resp_free(&r);
  snprintf(url, sizeof url, "%s/health", f->base);
  eco_test_node_http("GET", url, NULL, NULL, 0, &r);
  assert_int_equal(r.status, 200);
  eco_test_node_resp_free(&r);
  eco_backend_fake_set_busy(&f->be, false);
  snprintf(url, sizeof url, "%s/v1/models", f->base);
  eco_test_node_http("GET", url, NULL, NULL, 0, &r);
  assert_int_equal(r.status, 200);
  json_t *j = eco_test_node_json(&r);
  assert_string_equal(json_string_value(json_object_get(j, "object")), "list");
  assert_string_equal(
      json_string_value(json_object_get(json_array_get(json_object_get(j, "data"), 0), "id")),
      "fake-model");
  json_decref(j);
  eco_test_node_resp_free(&r);
  snprintf(url, sizeof url, "%s/v1/models/other", f->base);
  eco_test_node_http("GET", url, NULL, NULL, 0, &r);
  eco_test_node_expect_error(&r, 404, "model");
  eco_test_node_resp_free(&r);
  eco_test_node_post(f, "/v1/completions", "{\"model\":\"fake-model\",\"prompt\":\"a b\"}", &r);
  eco_test_node_resp_free(&r);
  snprintf(url, sizeof url, "%s/v1/node", f->base);
  eco_test_node_http("GET", url, NULL, NULL, 0, &r);
  assert_int_equal(r.status, 200);
  j = eco_test_node_json(&r);
  assert_string_equal(json_string_value(json_object_get(j, "zone")), "GB");
  assert_float_equal(
      json_number_value(json_object_get(json_object_get(j, "intensity"), "gco2_kwh")), 200, 1e-9);
  assert_float_equal(json_number_value(json_object_get(j, "energy_j_per_token")), 0.02, 1e-9);
  assert_true(json_number_value(json_object_get(j, "tokens_per_s")) > 0);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "queue"), "capacity")),
                   16);
  assert_true(json_is_object(json_object_get(j, "kv")));
  json_decref(j);
  eco_test_node_resp_free(&r);
  assert_int_equal(eco_test_node_stop(f), 0);
}

static void test_metrics_admin_listener(void **state) {
  eco_test_node *f = eco_test_node_start(NULL, NULL);
  eco_test_node_resp r;
  eco_test_node_post(f, "/v1/chat/completions", eco_test_node_chat_body, &r);
  eco_test_node_resp_free(&r);
  eco_test_node_post(f, "/v1/completions", "{\"model\":\"nope\",\"prompt\":\"a\"}", &r);
  eco_test_node_resp_free(&r);
  char url[128];
  snprintf(url, sizeof url, "%s/metrics", f->base);
  eco_test_node_http("GET", url, NULL, NULL, 0, &r);
  assert_int_equal(r.status, 404); /* not on the public listener */
  eco_test_node_resp_free(&r);
  snprintf(url, sizeof url, "%s/metrics", f->admin);
  eco_test_node_http("GET", url, NULL, NULL, 0, &r);
  assert_int_equal(r.status, 200);
  const char *m = eco_sb_str(&r.body);
  const char *want[] = {
      "ecoinfer_http_requests_total{endpoint=\"/v1/chat/completions\",code=\"200\"} 1",
      "ecoinfer_http_requests_total{endpoint=\"/v1/completions\",code=\"404\"} 1",
      "ecoinfer_request_duration_seconds_count 1",
      "ecoinfer_time_to_first_token_seconds_bucket{le=\"+Inf\"} 1",
      "ecoinfer_inter_token_latency_seconds_count 8",
      "ecoinfer_generated_tokens_total 9",
      "ecoinfer_energy_joules_total{source=\"cpu-time-model\"} 0.18",
      "ecoinfer_carbon_grams_total{source=\"cpu-time-model\"}",
      "ecoinfer_queue_depth 0",
      "ecoinfer_batch_size 0",
      "ecoinfer_kv_cache_usage_ratio 0"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    if (!strstr(m, want[i])) fail_msg("metrics lack '%s':\n%s", want[i], m);
  /* promtool (Debian package prometheus) must accept the exposition */
  if (system("command -v promtool >/dev/null 2>&1") == 0) {
    char *dir = eco_test_tmpdir();
    assert_int_equal(eco_test_write_file(dir, "m.txt", m), 0);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s/m.txt 2>&1", dir);
    char *out = NULL;
    int code = -1;
    assert_int_equal(eco_test_run(cmd, &out, &code), 0);
    if (code != 0) fail_msg("promtool rejects /metrics: %s", out);
    free(out);
    eco_test_rmtree(dir);
    free(dir);
  } else {
    print_message("SKIP promtool part: promtool not installed\n");
  }
  eco_test_node_resp_free(&r);
  assert_int_equal(eco_test_node_stop(f), 0);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_chat_and_receipt),
      cmocka_unit_test(test_dashboard),
      cmocka_unit_test(test_completions_and_stop),
      cmocka_unit_test(test_meter_attribution),
      cmocka_unit_test(test_streaming),
      cmocka_unit_test(test_utf8_split_pieces),
      cmocka_unit_test(test_busy_ready_and_models),
      cmocka_unit_test(test_metrics_admin_listener),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
