/* Node server end to end: the real server on a loopback port with the fake
 * backend, driven with libcurl (and raw sockets for disconnects). */
#include "testutil.h"

#include "carbon/ledger.h"
#include "server/backend_fake.h"
#include "server/server.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct fixture {
  eco_backend be;
  eco_server *srv;
  eco_acct_state st;
  eco_accounting acct;
  char base[64], admin[64];
  int n_receipts;
  pthread_mutex_t mu;
  eco_logger lg;
  char *dir; /* holds the ledger */
} fixture;

typedef struct resp {
  long status;
  eco_strbuf body, headers;
} resp;

static void sink(void *user, const eco_acct_receipt_ctx *ctx) {
  fixture *f = user;
  assert_non_null(ctx->receipt);
  assert_string_equal(ctx->zone, "GB");
  eco_acct_ledger_sink(&f->st, ctx);
  pthread_mutex_lock(&f->mu);
  f->n_receipts++;
  pthread_mutex_unlock(&f->mu);
}

static fixture *start_meter(const eco_fake_cfg *fc, const eco_server_cfg *scfg, eco_meter *m) {
  fixture *f = calloc(1, sizeof *f);
  assert_non_null(f);
  pthread_mutex_init(&f->mu, NULL);
  eco_fake_cfg d;
  if (!fc) {
    eco_fake_cfg_default(&d);
    fc = &d;
  }
  assert_int_equal(eco_backend_fake_new(fc, &f->be), 0);
  eco_server_cfg sc;
  if (scfg)
    sc = *scfg;
  else
    eco_server_cfg_default(&sc);
  sc.port = 0;
  if (sc.admin_port >= 0) sc.admin_port = 0;
  eco_cfg *cfg;
  eco_error err = {0};
  f->dir = eco_test_tmpdir();
  char yaml[1024];
  snprintf(yaml, sizeof yaml,
           "carbon:\n  zone: GB\n  pue: 1.5\n  static: {zones: {GB: 200}}\n"
           "device: {embodied_kg: 100, lifetime_years: 4}\n"
           "energy: {cpu_watts: 10, attribution: cpu-time}\nledger: {path: %s/receipts.db}\n",
           f->dir);
  assert_int_equal(eco_cfg_load_string(yaml, "t", &cfg, &err), 0);
  eco_cfg_use_env(cfg, false);
  assert_int_equal(eco_acct_open(cfg, "test-node", &f->st, &f->acct, &err), 0);
  eco_cfg_free(cfg);
  f->acct.sink = sink;
  f->acct.sink_user = f;
  if (m) {
    f->st.meter = m; /* owned and freed with the accounting state */
    f->acct.meter = m;
    f->acct.attr_interval_s = 60; /* ticks only at request start and finish */
  }
  eco_log_init(&f->lg);
  f->lg.level = ECO_LOG_ERROR;
  if (eco_server_new(&sc, &f->be, &f->acct, &f->lg, &f->srv, &err))
    fail_msg("server: %s", eco_error_text(&err));
  snprintf(f->base, sizeof f->base, "http://127.0.0.1:%d", eco_server_port(f->srv));
  snprintf(f->admin, sizeof f->admin, "http://127.0.0.1:%d", eco_server_admin_port(f->srv));
  assert_int_equal(eco_server_start(f->srv), 0);
  return f;
}

static fixture *start(const eco_fake_cfg *fc, const eco_server_cfg *scfg) {
  return start_meter(fc, scfg, NULL);
}

static int stop(fixture *f) {
  eco_server_shutdown(f->srv);
  int rc = eco_server_join(f->srv);
  eco_server_free(f->srv);
  f->be.vt->destroy(f->be.self);
  eco_acct_close(&f->st);
  if (f->dir) eco_test_rmtree(f->dir);
  free(f->dir);
  pthread_mutex_destroy(&f->mu);
  free(f);
  return rc;
}

static size_t on_data(char *p, size_t sz, size_t n, void *u) {
  eco_sb_append(u, p, sz * n);
  return sz * n;
}

/* One request; extra_hdr: "\n"-separated header lines or NULL. */
static void http(const char *method, const char *url, const char *extra_hdr, const char *body,
                 size_t body_len, resp *r) {
  memset(r, 0, sizeof *r);
  eco_sb_init(&r->body);
  eco_sb_init(&r->headers);
  CURL *c = curl_easy_init();
  assert_non_null(c);
  struct curl_slist *hl = NULL;
  char line[4096];
  if (extra_hdr) {
    const char *p = extra_hdr;
    while (*p) {
      const char *nl = strchr(p, '\n');
      size_t n = nl ? (size_t)(nl - p) : strlen(p);
      snprintf(line, sizeof line, "%.*s", (int)n, p);
      hl = curl_slist_append(hl, line);
      p += n + (nl ? 1 : 0);
    }
  }
  hl = curl_slist_append(hl, "Content-Type: application/json");
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
  if (body) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body_len);
  }
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
  CURLcode cc = curl_easy_perform(c);
  if (cc == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
  else
    r->status = -1; /* connection closed or refused */
  curl_slist_free_all(hl);
  curl_easy_cleanup(c);
}

static void post(fixture *f, const char *path, const char *body, resp *r) {
  char url[256];
  snprintf(url, sizeof url, "%s%s", f->base, path);
  http("POST", url, NULL, body, strlen(body), r);
}

static void resp_free(resp *r) {
  eco_sb_free(&r->body);
  eco_sb_free(&r->headers);
}

static json_t *body_json(resp *r) {
  json_error_t je;
  json_t *j = json_loads(eco_sb_str(&r->body), 0, &je);
  if (!j) fail_msg("not JSON (%s): %s", je.text, eco_sb_str(&r->body));
  return j;
}

/* Asserts an OpenAI-shaped error with this status and param ("" = null). */
static void expect_error(resp *r, long status, const char *param) {
  if (r->status != status)
    fail_msg("expected %ld, got %ld: %s", status, r->status, eco_sb_str(&r->body));
  json_t *j = body_json(r);
  json_t *e = json_object_get(j, "error");
  assert_true(json_is_string(json_object_get(e, "message")));
  assert_true(json_is_string(json_object_get(e, "type")));
  json_t *p = json_object_get(e, "param");
  if (param[0])
    assert_string_equal(json_string_value(p), param);
  else
    assert_true(json_is_null(p));
  json_decref(j);
}

static const char *chat_body =
    "{\"model\":\"fake-model\",\"messages\":[{\"role\":\"user\",\"content\":\"say hi\"}]}";

static void test_chat_and_receipt(void **state) {
  fixture *f = start(NULL, NULL);
  eco_error err = {0};
  resp r;
  post(f, "/v1/chat/completions", chat_body, &r);
  assert_int_equal(r.status, 200);
  json_t *j = body_json(&r);
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
  resp_free(&r);
  assert_int_equal(f->n_receipts, 1);
  int64_t rows = 0;
  assert_non_null(f->st.ledger);
  assert_int_equal(eco_ledger_count(f->st.ledger, 0, 0, &rows, &err), 0);
  assert_int_equal(rows, 1); /* every receipt is in the ledger */
  assert_int_equal(stop(f), 0);
}

/* The node's own dashboard: GET /dashboard/api/state on the public
 * listener shows its zone, itself as the only node, and each request as a
 * decision (policy "node") with its receipt. */
static void test_dashboard(void **state) {
  (void)state;
  fixture *f = start(NULL, NULL);
  resp r;
  post(f, "/v1/chat/completions", chat_body, &r);
  assert_int_equal(r.status, 200);
  json_t *j = body_json(&r);
  char rid[64];
  snprintf(rid, sizeof rid, "%s", json_string_value(json_object_get(j, "id")));
  json_decref(j);
  resp_free(&r);
  char url[256];
  snprintf(url, sizeof url, "%s/dashboard/api/state", f->base);
  http("GET", url, NULL, NULL, 0, &r);
  assert_int_equal(r.status, 200);
  json_t *st = body_json(&r);
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
  resp_free(&r);
  snprintf(url, sizeof url, "%s/dashboard", f->base);
  http("GET", url, NULL, NULL, 0, &r);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(eco_sb_str(&r.body), "<html"));
  resp_free(&r);
  assert_int_equal(stop(f), 0);
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
  fixture *f = start_meter(NULL, NULL, m);
  for (int i = 0; i < 2; i++) {
    /* start tick: baseline (then idle), finish tick: 1 J to the only request */
    resp r;
    post(f, "/v1/chat/completions", chat_body, &r);
    assert_int_equal(r.status, 200);
    json_t *j = body_json(&r);
    json_t *c = json_object_get(json_object_get(j, "usage"), "carbon");
    assert_float_equal(json_number_value(json_object_get(c, "energy_j")), 1.0, 1e-12);
    assert_string_equal(json_string_value(json_object_get(c, "energy_source")), "test-meter");
    assert_false(json_is_true(json_object_get(c, "energy_estimated")));
    json_decref(j);
    resp_free(&r);
  }
  assert_int_equal(stop(f), 0);
}

static void test_completions_and_stop(void **state) {
  fixture *f = start(NULL, NULL);
  resp r;
  post(f, "/v1/completions", "{\"model\":\"fake-model\",\"prompt\":\"a b c\",\"max_tokens\":3}",
       &r);
  assert_int_equal(r.status, 200);
  json_t *j = body_json(&r);
  assert_string_equal(json_string_value(json_object_get(j, "object")), "text_completion");
  json_t *ch = json_array_get(json_object_get(j, "choices"), 0);
  assert_string_equal(json_string_value(json_object_get(ch, "text")), "Hello! This");
  assert_string_equal(json_string_value(json_object_get(ch, "finish_reason")), "length");
  assert_int_equal(
      json_integer_value(json_object_get(json_object_get(j, "usage"), "prompt_tokens")), 3);
  json_decref(j);
  resp_free(&r);
  post(f, "/v1/completions",
       "{\"model\":\"fake-model\",\"prompt\":\"Q: \",\"echo\":true,\"max_tokens\":1}", &r);
  assert_int_equal(r.status, 200);
  j = body_json(&r);
  ch = json_array_get(json_object_get(j, "choices"), 0);
  assert_string_equal(json_string_value(json_object_get(ch, "text")), "Q: Hello");
  json_decref(j);
  resp_free(&r);
  post(f, "/v1/completions",
       "{\"model\":\"fake-model\",\"prompt\":[\"x\"],\"stop\":[\" fake\",\"zz\"]}", &r);
  assert_int_equal(r.status, 200);
  j = body_json(&r);
  ch = json_array_get(json_object_get(j, "choices"), 0);
  assert_string_equal(json_string_value(json_object_get(ch, "text")),
                      "Hello! This is the ecoinfer");
  assert_string_equal(json_string_value(json_object_get(ch, "finish_reason")), "stop");
  json_decref(j);
  resp_free(&r);
  assert_int_equal(stop(f), 0);
}

/* Parses an SSE body into its data payloads. */
static size_t sse_events(const char *body, char ev[][4096], size_t cap) {
  size_t n = 0;
  const char *p = body;
  while ((p = strstr(p, "data: ")) && n < cap) {
    p += 6;
    const char *end = strstr(p, "\n\n");
    if (!end) fail_msg("unterminated SSE event: %s", p);
    snprintf(ev[n++], 4096, "%.*s", (int)(end - p), p);
    p = end + 2;
  }
  return n;
}

static void check_stream(fixture *f, bool chat, bool include_usage) {
  char body[512];
  if (chat)
    snprintf(body, sizeof body,
             "{\"model\":\"fake-model\",\"stream\":true,%s\"messages\":[{\"role\":\"user\","
             "\"content\":\"hi\"}]}",
             include_usage ? "\"stream_options\":{\"include_usage\":true}," : "");
  else
    snprintf(body, sizeof body, "{\"model\":\"fake-model\",\"stream\":true,%s\"prompt\":\"hi\"}",
             include_usage ? "\"stream_options\":{\"include_usage\":true}," : "");
  resp r;
  post(f, chat ? "/v1/chat/completions" : "/v1/completions", body, &r);
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
  resp_free(&r);
}

static void test_streaming(void **state) {
  eco_fake_cfg fc;
  eco_fake_cfg_default(&fc);
  fc.tokens_per_s = 500;
  fixture *f = start(&fc, NULL);
  check_stream(f, true, true);
  check_stream(f, true, false);
  check_stream(f, false, true);
  check_stream(f, false, false);
  assert_int_equal(stop(f), 0);
}

static void test_utf8_split_pieces(void **state) {
  eco_fake_cfg fc;
  eco_fake_cfg_default(&fc);
  const char *script[] = {"caf", "\xC3", "\xA9", " \xF0\x9F", "\x8C\x8D", "\xFF", "!"};
  fc.script = script;
  fc.n_script = 7;
  fixture *f = start(&fc, NULL);
  resp r;
  post(f, "/v1/completions", "{\"model\":\"fake-model\",\"prompt\":\"x\"}", &r);
  assert_int_equal(r.status, 200);
  json_t *j = body_json(&r);
  assert_string_equal(
      json_string_value(json_object_get(json_array_get(json_object_get(j, "choices"), 0), "text")),
      "caf\xC3\xA9 \xF0\x9F\x8C\x8D\xEF\xBF\xBD!");
  json_decref(j);
  resp_free(&r);
  assert_int_equal(stop(f), 0);
}

static void test_request_errors(void **state) {
  eco_server_cfg sc;
  eco_server_cfg_default(&sc);
  sc.max_body_bytes = 64 * 1024;
  sc.max_header_bytes = 4096;
  eco_fake_cfg fc;
  eco_fake_cfg_default(&fc);
  fc.context_length = 512;
  fixture *f = start(&fc, &sc);
  resp r;
  struct {
    const char *body;
    long status;
    const char *param;
  } cases[] = {
      {"{", 400, ""},     /* invalid JSON */
      {"[1,2]", 400, ""}, /* not an object */
      {"{\"model\":\"fake-model\",\"messages\":[{\"role\":\"user\",\"content\":\"\xC3\x28\"}]}",
       400, ""},                                                                /* invalid UTF-8 */
      {"{\"model\":\"fake-model\",\"model\":\"x\",\"prompt\":\"a\"}", 400, ""}, /* duplicate */
      {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]}", 400, "model"},
      {"{\"model\":5,\"messages\":[]}", 400, "model"},
      {"{\"model\":\"fake-model\",\"messages\":[]}", 400, "messages"},
      {"{\"model\":\"fake-model\",\"messages\":\"hi\"}", 400, "messages"},
      {"{\"model\":\"fake-model\",\"messages\":[{\"role\":\"wizard\",\"content\":\"a\"}]}", 400,
       "messages.role"},
      {"{\"model\":\"fake-model\",\"messages\":[{\"role\":\"user\",\"content\":7}]}", 400,
       "messages.content"},
      {"{\"model\":\"fake-model\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],"
       "\"max_tokens\":\"5\"}",
       400, "max_tokens"},
      {"{\"model\":\"fake-model\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],"
       "\"max_tokens\":100000}",
       400, "max_tokens"},
      {"{\"model\":\"fake-model\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],"
       "\"max_tokens\":1000}",
       400, "max_tokens"}, /* over the 512-token context */
      {"{\"model\":\"fake-model\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],"
       "\"max_tokens\":99999999999999999999999999}",
       400, ""}, /* huge integer */
      {"{\"model\":\"fake-model\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],"
       "\"temperature\":1e999}",
       400, ""},
      {"{\"model\":\"fake-model\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],"
       "\"temperature\":3}",
       400, "temperature"},
      {"{\"model\":\"fake-model\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],"
       "\"stream\":\"yes\"}",
       400, "stream"},
      {"{\"model\":\"fake-model\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],"
       "\"stop\":[1]}",
       400, "stop"},
      {"{\"model\":\"fake-model\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],"
       "\"stream_options\":{\"include_usage\":true}}",
       400, "stream_options"},
      {"{\"model\":\"fake-model\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"n\":2}",
       400, "n"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    post(f, "/v1/chat/completions", cases[i].body, &r);
    expect_error(&r, cases[i].status, cases[i].param);
    resp_free(&r);
  }
  /* deeply nested JSON */
  size_t depth = 20000;
  char *deep = malloc(2 * depth + 64);
  assert_non_null(deep);
  size_t o = (size_t)sprintf(deep, "{\"model\":\"fake-model\",\"x\":");
  for (size_t i = 0; i < depth; i++)
    deep[o++] = '[';
  for (size_t i = 0; i < depth; i++)
    deep[o++] = ']';
  deep[o++] = '}';
  deep[o] = 0;
  post(f, "/v1/chat/completions", deep, &r);
  expect_error(&r, 400, "");
  resp_free(&r);
  free(deep);
  /* unknown model */
  post(f, "/v1/completions", "{\"model\":\"gpt-9\",\"prompt\":\"a\"}", &r);
  expect_error(&r, 404, "model");
  resp_free(&r);
  /* prompt longer than the context */
  eco_strbuf big;
  eco_sb_init(&big);
  eco_sb_puts(&big, "{\"model\":\"fake-model\",\"max_tokens\":10,\"prompt\":\"");
  for (int i = 0; i < 600; i++)
    eco_sb_puts(&big, "w ");
  eco_sb_puts(&big, "\"}");
  post(f, "/v1/completions", eco_sb_str(&big), &r);
  expect_error(&r, 400, "messages");
  resp_free(&r);
  /* body over the limit: 413 (libevent answers it while reading) */
  eco_sb_reset(&big);
  eco_sb_puts(&big, "{\"model\":\"fake-model\",\"prompt\":\"");
  for (int i = 0; i < 70000; i++)
    eco_sb_puts(&big, "a");
  eco_sb_puts(&big, "\"}");
  post(f, "/v1/completions", eco_sb_str(&big), &r);
  assert_true(r.status == 413 || r.status == -1);
  resp_free(&r);
  /* header over the limit: rejected (400/431) or the connection is closed */
  eco_sb_reset(&big);
  eco_sb_puts(&big, "X-Big: ");
  for (int i = 0; i < 8000; i++)
    eco_sb_puts(&big, "h");
  char url[128];
  snprintf(url, sizeof url, "%s/v1/completions", f->base);
  http("POST", url, eco_sb_str(&big), "{}", 2, &r);
  assert_true(r.status == -1 || r.status == 400 || r.status == 431 || r.status == 413);
  resp_free(&r);
  eco_sb_free(&big);
  /* wrong method, unknown path */
  http("GET", url, NULL, NULL, 0, &r);
  expect_error(&r, 405, "");
  resp_free(&r);
  snprintf(url, sizeof url, "%s/v2/nothing", f->base);
  http("GET", url, NULL, NULL, 0, &r);
  expect_error(&r, 404, "");
  resp_free(&r);
  /* the server survived all of it */
  post(f, "/v1/chat/completions", chat_body, &r);
  assert_int_equal(r.status, 200);
  resp_free(&r);
  assert_int_equal(stop(f), 0);
}

static void test_busy_ready_and_models(void **state) {
  eco_server_cfg sc;
  eco_server_cfg_default(&sc);
  sc.retry_after_s = 7;
  fixture *f = start(NULL, &sc);
  char url[128];
  resp r;
  snprintf(url, sizeof url, "%s/ready", f->base);
  http("GET", url, NULL, NULL, 0, &r);
  assert_int_equal(r.status, 200);
  resp_free(&r);
  eco_backend_fake_set_busy(&f->be, true);
  post(f, "/v1/chat/completions", chat_body, &r);
  expect_error(&r, 429, "");
  assert_non_null(strstr(eco_sb_str(&r.headers), "Retry-After: 7"));
  resp_free(&r);
  http("GET", url, NULL, NULL, 0, &r);
  assert_int_equal(r.status, 503);
  resp_free(&r);
  snprintf(url, sizeof url, "%s/health", f->base);
  http("GET", url, NULL, NULL, 0, &r);
  assert_int_equal(r.status, 200);
  resp_free(&r);
  eco_backend_fake_set_busy(&f->be, false);
  snprintf(url, sizeof url, "%s/v1/models", f->base);
  http("GET", url, NULL, NULL, 0, &r);
  assert_int_equal(r.status, 200);
  json_t *j = body_json(&r);
  assert_string_equal(json_string_value(json_object_get(j, "object")), "list");
  assert_string_equal(
      json_string_value(json_object_get(json_array_get(json_object_get(j, "data"), 0), "id")),
      "fake-model");
  json_decref(j);
  resp_free(&r);
  snprintf(url, sizeof url, "%s/v1/models/other", f->base);
  http("GET", url, NULL, NULL, 0, &r);
  expect_error(&r, 404, "model");
  resp_free(&r);
  post(f, "/v1/completions", "{\"model\":\"fake-model\",\"prompt\":\"a b\"}", &r);
  resp_free(&r);
  snprintf(url, sizeof url, "%s/v1/node", f->base);
  http("GET", url, NULL, NULL, 0, &r);
  assert_int_equal(r.status, 200);
  j = body_json(&r);
  assert_string_equal(json_string_value(json_object_get(j, "zone")), "GB");
  assert_float_equal(
      json_number_value(json_object_get(json_object_get(j, "intensity"), "gco2_kwh")), 200, 1e-9);
  assert_float_equal(json_number_value(json_object_get(j, "energy_j_per_token")), 0.02, 1e-9);
  assert_true(json_number_value(json_object_get(j, "tokens_per_s")) > 0);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "queue"), "capacity")),
                   16);
  assert_true(json_is_object(json_object_get(j, "kv")));
  json_decref(j);
  resp_free(&r);
  assert_int_equal(stop(f), 0);
}

static void test_api_keys(void **state) {
  eco_server_cfg sc;
  eco_server_cfg_default(&sc);
  const char *keys[] = {"sk-first", "sk-second-key"};
  sc.api_keys = keys;
  sc.n_api_keys = 2;
  fixture *f = start(NULL, &sc);
  char url[128];
  snprintf(url, sizeof url, "%s/v1/chat/completions", f->base);
  resp r;
  http("POST", url, NULL, chat_body, strlen(chat_body), &r);
  expect_error(&r, 401, "");
  resp_free(&r);
  const char *bad[] = {"Authorization: Bearer sk-firs", "Authorization: Bearer sk-first2",
                       "Authorization: Basic sk-first", "Authorization: Bearer "};
  for (size_t i = 0; i < 4; i++) {
    http("POST", url, bad[i], chat_body, strlen(chat_body), &r);
    expect_error(&r, 401, "");
    resp_free(&r);
  }
  http("POST", url, "Authorization: Bearer sk-second-key", chat_body, strlen(chat_body), &r);
  assert_int_equal(r.status, 200);
  resp_free(&r);
  snprintf(url, sizeof url, "%s/health", f->base); /* liveness stays open */
  http("GET", url, NULL, NULL, 0, &r);
  assert_int_equal(r.status, 200);
  resp_free(&r);
  assert_int_equal(stop(f), 0);
}

static void test_metrics_admin_listener(void **state) {
  fixture *f = start(NULL, NULL);
  resp r;
  post(f, "/v1/chat/completions", chat_body, &r);
  resp_free(&r);
  post(f, "/v1/completions", "{\"model\":\"nope\",\"prompt\":\"a\"}", &r);
  resp_free(&r);
  char url[128];
  snprintf(url, sizeof url, "%s/metrics", f->base);
  http("GET", url, NULL, NULL, 0, &r);
  assert_int_equal(r.status, 404); /* not on the public listener */
  resp_free(&r);
  snprintf(url, sizeof url, "%s/metrics", f->admin);
  http("GET", url, NULL, NULL, 0, &r);
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
  resp_free(&r);
  assert_int_equal(stop(f), 0);
}

static int raw_connect(fixture *f) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(eco_server_port(f->srv))};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  return fd;
}

static void raw_send(int fd, bool stream) {
  char req[1024];
  const char *b = stream ? "{\"model\":\"fake-model\",\"stream\":true,\"prompt\":\"x\"}"
                         : "{\"model\":\"fake-model\",\"prompt\":\"x\"}";
  int n = snprintf(req, sizeof req,
                   "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: "
                   "application/json\r\nContent-Length: %zu\r\n\r\n%s",
                   strlen(b), b);
  assert_int_equal(write(fd, req, (size_t)n), n);
}

static void wait_cancelled(fixture *f, int want) {
  for (int i = 0; i < 5000 && eco_backend_fake_cancelled(&f->be) < want; i++)
    eco_time_sleep_s(0.001);
  assert_int_equal(eco_backend_fake_cancelled(&f->be), want);
}

static void test_disconnect_cancels(void **state) {
  eco_fake_cfg fc;
  eco_fake_cfg_default(&fc);
  fc.tokens_per_s = 20;
  fc.stop_at_script_end = false; /* 256 tokens at 20/s: still running when the client leaves */
  fixture *f = start(&fc, NULL);
  eco_backend_fake_set_paused(&f->be, true);
  int fd = raw_connect(f);
  raw_send(fd, false);
  eco_time_sleep_s(0.05);
  close(fd);
  wait_cancelled(f, 1);
  fd = raw_connect(f);
  raw_send(fd, true);
  char buf[512];
  assert_true(read(fd, buf, sizeof buf) > 0); /* the stream's headers arrived */
  close(fd);
  wait_cancelled(f, 2);
  eco_backend_fake_set_paused(&f->be, false);
  /* mid-stream, while tokens are being written */
  fd = raw_connect(f);
  raw_send(fd, true);
  assert_true(read(fd, buf, sizeof buf) > 0);
  close(fd);
  wait_cancelled(f, 3);
  resp r;
  post(f, "/v1/completions", "{\"model\":\"fake-model\",\"prompt\":\"x\",\"max_tokens\":2}",
       &r); /* still serving */
  assert_int_equal(r.status, 200);
  resp_free(&r);
  assert_int_equal(stop(f), 0);
}

typedef struct bg {
  fixture *f;
  resp r;
  pthread_t t;
} bg;

static void *bg_post(void *arg) {
  bg *b = arg;
  post(b->f, "/v1/chat/completions", chat_body, &b->r);
  return NULL;
}

static void test_drain(void **state) {
  /* in-flight requests finish before the server exits */
  eco_fake_cfg fc;
  eco_fake_cfg_default(&fc);
  fc.tokens_per_s = 100;
  fixture *f = start(&fc, NULL);
  bg b = {.f = f};
  pthread_create(&b.t, NULL, bg_post, &b);
  while (eco_server_port(f->srv) && f->be.vt->info) {
    eco_backend_info in;
    f->be.vt->info(f->be.self, &in);
    if (in.active + in.queue_len > 0) break;
    eco_time_sleep_s(0.001);
  }
  eco_server_shutdown(f->srv);
  assert_int_equal(eco_server_join(f->srv), 0);
  pthread_join(b.t, NULL);
  assert_int_equal(b.r.status, 200);
  resp_free(&b.r);
  eco_server_free(f->srv);
  f->srv = NULL;
  f->be.vt->destroy(f->be.self);
  eco_acct_close(&f->st);
  if (f->dir) eco_test_rmtree(f->dir);
  free(f->dir);
  free(f);

  /* a stuck request is cancelled at the drain timeout */
  eco_server_cfg sc;
  eco_server_cfg_default(&sc);
  sc.drain_timeout_s = 0.2;
  f = start(NULL, &sc);
  eco_backend_fake_set_paused(&f->be, true);
  b.f = f;
  pthread_create(&b.t, NULL, bg_post, &b);
  for (;;) {
    eco_backend_info in;
    f->be.vt->info(f->be.self, &in);
    if (in.active + in.queue_len > 0) break;
    eco_time_sleep_s(0.001);
  }
  eco_server_shutdown(f->srv);
  assert_int_equal(eco_server_join(f->srv), ECO_ETIMEOUT);
  pthread_join(b.t, NULL);
  assert_true(b.r.status == 200 || b.r.status == -1);
  resp_free(&b.r);
  assert_int_equal(eco_backend_fake_cancelled(&f->be), 1);
  eco_server_free(f->srv);
  f->be.vt->destroy(f->be.self);
  eco_acct_close(&f->st);
  if (f->dir) eco_test_rmtree(f->dir);
  free(f->dir);
  free(f);
}

/* The binary: SIGTERM during a stream lets it finish, then exit 0. */
static void test_binary_sigterm(void **state) {
  char *dir = eco_test_tmpdir();
  char *pf = eco_test_path(dir, "ports");
  char *db = eco_test_path(dir, "receipts.db");
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    execl(eco_test_binary(), "ecoinfer", "serve", "--fake-backend", "--port", "0", "--port-file",
          pf, "--fake-rate", "40", "--log-level", "error", "--ledger", db, (char *)NULL);
    _exit(127);
  }
  int port = 0, aport = 0;
  for (int i = 0; i < 5000 && port <= 0; i++) {
    FILE *fp = fopen(pf, "r");
    if (fp) {
      if (fscanf(fp, "%d %d", &port, &aport) != 2) port = 0;
      fclose(fp);
    }
    if (port <= 0) eco_time_sleep_s(0.002);
  }
  assert_true(port > 0);
  fixture fx = {0};
  snprintf(fx.base, sizeof fx.base, "http://127.0.0.1:%d", port);
  bg b = {.f = &fx};
  pthread_create(&b.t, NULL, bg_post, &b);
  eco_time_sleep_s(0.1); /* the request is in flight (9 tokens at 40/s = 225 ms) */
  kill(pid, SIGTERM);
  pthread_join(b.t, NULL);
  int st = 0;
  waitpid(pid, &st, 0);
  assert_int_equal(b.r.status, 200);
  assert_non_null(strstr(eco_sb_str(&b.r.body), "fake backend."));
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
  resp_free(&b.r);
  /* the receipt is in the ledger the binary wrote */
  eco_ledger *l;
  eco_error err = {0};
  eco_ledger_opts lo = {.read_only = true};
  assert_int_equal(eco_ledger_open(db, &lo, &l, &err), 0);
  int64_t rows = 0;
  assert_int_equal(eco_ledger_count(l, 0, 0, &rows, &err), 0);
  assert_int_equal(rows, 1);
  eco_ledger_close(l);
  free(db);
  eco_test_rmtree(dir);
  free(pf);
  free(dir);
}

static void *bg_many(void *arg) {
  fixture *f = arg;
  for (int i = 0; i < 5; i++) {
    resp r;
    post(f, "/v1/chat/completions", chat_body, &r);
    if (r.status != 200 && r.status != 429) fail_msg("status %ld", r.status);
    resp_free(&r);
  }
  return NULL;
}

static void test_concurrent(void **state) {
  eco_fake_cfg fc;
  eco_fake_cfg_default(&fc);
  fc.tokens_per_s = 1000;
  fixture *f = start(&fc, NULL);
  pthread_t t[8];
  for (int i = 0; i < 8; i++)
    pthread_create(&t[i], NULL, bg_many, f);
  for (int i = 0; i < 8; i++)
    pthread_join(t[i], NULL);
  assert_int_equal(stop(f), 0);
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
      cmocka_unit_test(test_request_errors),
      cmocka_unit_test(test_busy_ready_and_models),
      cmocka_unit_test(test_api_keys),
      cmocka_unit_test(test_metrics_admin_listener),
      cmocka_unit_test(test_disconnect_cancels),
      cmocka_unit_test(test_drain),
      cmocka_unit_test(test_binary_sigterm),
      cmocka_unit_test(test_concurrent),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
