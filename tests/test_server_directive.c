/* Generation directives in the node server: the real server on a loopback
 * port with the fake backend (which records the prompt it was given). */
#include "testutil.h"

#include "carbon/ledger.h"
#include "server/backend_fake.h"
#include "server/server.h"
#include "server/srv_directive.h"
#include "util/strbuf.h"

#include <curl/curl.h>
#include <jansson.h>
#include <string.h>

typedef struct fixture {
  eco_backend be;
  eco_server *srv;
  eco_acct_state st;
  eco_accounting acct;
  eco_srv_directive_cfg dir;
  char base[64];
  eco_logger lg;
  char *dir_path; /* holds the ledger */
} fixture;

typedef struct resp {
  long status;
  eco_strbuf body, headers;
} resp;

static fixture *start(const char *directive_yaml) {
  fixture *f = calloc(1, sizeof *f);
  assert_non_null(f);
  eco_fake_cfg fc;
  eco_fake_cfg_default(&fc);
  fc.max_batch = 2;
  assert_int_equal(eco_backend_fake_new(&fc, &f->be), 0);
  eco_server_cfg sc;
  eco_server_cfg_default(&sc);
  sc.port = 0;
  sc.admin_port = -1;
  eco_cfg *cfg;
  eco_error err = {0};
  f->dir_path = eco_test_tmpdir();
  char yaml[2048];
  snprintf(yaml, sizeof yaml,
           "carbon:\n  zone: GB\n  pue: 1.0\n  static: {zones: {GB: 200}}\n"
           "energy: {cpu_watts: 10, attribution: cpu-time}\nledger: {path: %s/receipts.db}\n%s",
           f->dir_path, directive_yaml);
  if (eco_cfg_load_string(yaml, "t", &cfg, &err)) fail_msg("cfg: %s", eco_error_text(&err));
  eco_cfg_use_env(cfg, false);
  assert_int_equal(eco_acct_open(cfg, "test-node", &f->st, &f->acct, &err), 0);
  if (eco_srv_directive_cfg_load(cfg, &f->dir, &err))
    fail_msg("directive: %s", eco_error_text(&err));
  eco_cfg_free(cfg);
  sc.directive = &f->dir;
  eco_log_init(&f->lg);
  f->lg.level = ECO_LOG_ERROR;
  if (eco_server_new(&sc, &f->be, &f->acct, &f->lg, &f->srv, &err))
    fail_msg("server: %s", eco_error_text(&err));
  snprintf(f->base, sizeof f->base, "http://127.0.0.1:%d", eco_server_port(f->srv));
  assert_int_equal(eco_server_start(f->srv), 0);
  return f;
}

static void stop(fixture *f) {
  eco_server_shutdown(f->srv);
  eco_server_join(f->srv);
  eco_server_free(f->srv);
  f->be.vt->destroy(f->be.self);
  eco_acct_close(&f->st);
  eco_test_rmtree(f->dir_path);
  free(f->dir_path);
  free(f);
}

static size_t on_data(char *p, size_t sz, size_t n, void *u) {
  eco_sb_append(u, p, sz * n);
  return sz * n;
}

/* POST body to path with optional extra header lines ("\n"-separated). */
static void post(fixture *f, const char *path, const char *hdrs, const char *body, resp *r) {
  memset(r, 0, sizeof *r);
  eco_sb_init(&r->body);
  eco_sb_init(&r->headers);
  char url[256], line[512];
  snprintf(url, sizeof url, "%s%s", f->base, path);
  CURL *c = curl_easy_init();
  assert_non_null(c);
  struct curl_slist *hl = curl_slist_append(NULL, "Content-Type: application/json");
  for (const char *p = hdrs; p && *p;) {
    const char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p) : strlen(p);
    snprintf(line, sizeof line, "%.*s", (int)n, p);
    hl = curl_slist_append(hl, line);
    p += n + (nl ? 1 : 0);
  }
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
  assert_int_equal(curl_easy_perform(c), CURLE_OK);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
  curl_slist_free_all(hl);
  curl_easy_cleanup(c);
}

static void resp_free(resp *r) {
  eco_sb_free(&r->body);
  eco_sb_free(&r->headers);
}

/* usage.carbon.directive_level of a non-streaming reply. */
static int usage_level(resp *r) {
  json_error_t je;
  json_t *j = json_loads(eco_sb_str(&r->body), 0, &je);
  if (!j) fail_msg("not JSON: %s", eco_sb_str(&r->body));
  json_t *c = json_object_get(json_object_get(j, "usage"), "carbon");
  assert_non_null(json_object_get(c, "total_g")); /* the receipt is still there */
  json_t *l = json_object_get(c, "directive_level");
  assert_true(json_is_integer(l));
  int v = (int)json_integer_value(l);
  json_decref(j);
  return v;
}

static int header_level(resp *r) {
  const char *h = strcasestr(eco_sb_str(&r->headers), "x-ecoinfer-directive-level:");
  assert_non_null(h);
  return atoi(h + strlen("x-ecoinfer-directive-level:"));
}

static void last_prompt(fixture *f, char *buf, size_t n) {
  assert_int_equal(eco_backend_fake_last_prompt(&f->be, buf, n), 0);
}

typedef struct levels {
  int n;
  int lv[16];
} levels;

static int collect(const eco_ledger_entry *e, void *user) {
  levels *l = user;
  if (l->n < 16) l->lv[l->n++] = e->directive_level;
  return 0;
}

static const char *CHAT_SYS = "{\"model\":\"fake-model\",\"max_tokens\":3,\"messages\":["
                              "{\"role\":\"system\",\"content\":\"You are terse.\"},"
                              "{\"role\":\"user\",\"content\":\"hi there\"}]}";
static const char *CHAT = "{\"model\":\"fake-model\",\"max_tokens\":3,\"messages\":["
                          "{\"role\":\"user\",\"content\":\"hi there\"}]}";

/* A fixed configured level is merged into the system message, reported in
 * usage.carbon, the header and the ledger. */
static void test_fixed_level_merged(void **state) {
  fixture *f = start("directive:\n  level: 1\n");
  resp r;
  char p[1024];
  post(f, "/v1/chat/completions", NULL, CHAT_SYS, &r);
  assert_int_equal(r.status, 200);
  assert_int_equal(usage_level(&r), 1);
  assert_int_equal(header_level(&r), 1);
  last_prompt(f, p, sizeof p);
  assert_string_equal(p, "system: Always answer briefly\n\nYou are terse.\nuser: hi there\n");
  resp_free(&r);
  /* no system message: one is inserted first */
  post(f, "/v1/chat/completions", NULL, CHAT, &r);
  assert_int_equal(r.status, 200);
  last_prompt(f, p, sizeof p);
  assert_string_equal(p, "system: Always answer briefly\nuser: hi there\n");
  resp_free(&r);
  /* completions: level 0 unless directive.completion_level is set */
  post(f, "/v1/completions", NULL,
       "{\"model\":\"fake-model\",\"max_tokens\":2,\"prompt\":\"Q: x\"}", &r);
  assert_int_equal(r.status, 200);
  assert_int_equal(usage_level(&r), 0);
  last_prompt(f, p, sizeof p);
  assert_string_equal(p, "Q: x");
  resp_free(&r);
  levels l = {0};
  eco_error err = {0};
  assert_int_equal(eco_ledger_foreach(f->st.ledger, 0, 0, collect, &l, &err), 0);
  assert_int_equal(l.n, 3);
  int ones = 0, zeros = 0;
  for (int i = 0; i < l.n; i++)
    ones += l.lv[i] == 1, zeros += l.lv[i] == 0;
  assert_int_equal(ones, 2);
  assert_int_equal(zeros, 1);
  stop(f);
}

/* A router's level header wins over the configured level; the opt-out
 * header gives 0 and leaves the messages untouched. */
static void test_router_header_and_optout(void **state) {
  fixture *f = start("directive:\n  level: 1\n  completion_level: 2\n");
  resp r;
  char p[1024];
  post(f, "/v1/chat/completions", "x-ecoinfer-directive-level: 2", CHAT_SYS, &r);
  assert_int_equal(r.status, 200);
  assert_int_equal(usage_level(&r), 2);
  assert_int_equal(header_level(&r), 2);
  last_prompt(f, p, sizeof p);
  assert_string_equal(p, "system: Always answer very briefly\n\nYou are terse.\nuser: hi there\n");
  resp_free(&r);
  post(f, "/v1/chat/completions", "x-ecoinfer-directive-level: 2\nx-ecoinfer-directive: off",
       CHAT_SYS, &r);
  assert_int_equal(r.status, 200);
  assert_int_equal(usage_level(&r), 0);
  assert_int_equal(header_level(&r), 0);
  last_prompt(f, p, sizeof p);
  assert_string_equal(p, "system: You are terse.\nuser: hi there\n");
  resp_free(&r);
  /* a garbage level header is ignored: the configured level applies */
  post(f, "/v1/chat/completions", "x-ecoinfer-directive-level: lots", CHAT, &r);
  assert_int_equal(usage_level(&r), 1);
  resp_free(&r);
  /* completion_level applies to raw prompts */
  post(f, "/v1/completions", NULL,
       "{\"model\":\"fake-model\",\"max_tokens\":2,\"prompt\":\"Q: x\"}", &r);
  assert_int_equal(usage_level(&r), 2);
  last_prompt(f, p, sizeof p);
  assert_string_equal(p, "Always answer very briefly\n\nQ: x");
  resp_free(&r);
  /* echo gives back the prompt as sent, without the directive */
  post(f, "/v1/completions", NULL,
       "{\"model\":\"fake-model\",\"max_tokens\":1,\"echo\":true,\"prompt\":\"ECHOME\"}", &r);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(eco_sb_str(&r.body), "\"text\":\"ECHOME"));
  assert_null(strstr(eco_sb_str(&r.body), "Always answer"));
  last_prompt(f, p, sizeof p);
  assert_string_equal(p, "Always answer very briefly\n\nECHOME");
  resp_free(&r);
  stop(f);
}

/* Route caps lower the level; the stream's usage chunk carries it too. */
static void test_route_cap_and_stream(void **state) {
  fixture *f = start("directive:\n  level: 2\n  routes: {/v1/chat/completions: 1}\n"
                     "  default_cap: 0\n");
  resp r;
  char p[1024];
  post(f, "/v1/chat/completions", "x-ecoinfer-directive-level: 2", CHAT, &r);
  assert_int_equal(usage_level(&r), 1);
  assert_int_equal(header_level(&r), 1);
  last_prompt(f, p, sizeof p);
  assert_string_equal(p, "system: Always answer briefly\nuser: hi there\n");
  resp_free(&r);
  post(f, "/v1/completions", "x-ecoinfer-directive-level: 2",
       "{\"model\":\"fake-model\",\"max_tokens\":2,\"prompt\":\"Q\"}", &r);
  assert_int_equal(usage_level(&r), 0); /* default_cap 0 */
  resp_free(&r);
  post(f, "/v1/chat/completions", NULL,
       "{\"model\":\"fake-model\",\"max_tokens\":3,\"stream\":true,"
       "\"stream_options\":{\"include_usage\":true},"
       "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
       &r);
  assert_int_equal(r.status, 200);
  assert_int_equal(header_level(&r), 1);
  assert_non_null(strstr(eco_sb_str(&r.body), "\"directive_level\":1"));
  resp_free(&r);
  stop(f);
}

/* Pure helpers. */
static void test_decide_and_parse(void **state) {
  eco_srv_directive_cfg c;
  eco_srv_directive_cfg_default(&c);
  int v;
  assert_int_equal(eco_srv_directive_parse_level(" 2 ", &v), 0);
  assert_int_equal(v, 2);
  assert_int_equal(eco_srv_directive_parse_level("-1", &v), ECO_EINVAL);
  assert_int_equal(eco_srv_directive_parse_level("1x", &v), ECO_EINVAL);
  assert_int_equal(eco_srv_directive_parse_level(NULL, &v), ECO_EINVAL);
  assert_int_equal(eco_srv_directive_decide(&c, true, "/v1/chat/completions", NULL, NULL), 0);
  assert_int_equal(eco_srv_directive_decide(&c, true, "/v1/chat/completions", "9", NULL), 2);
  assert_int_equal(eco_srv_directive_decide(&c, true, "/v1/chat/completions", "1", "OFF"), 0);
  c.enabled = false;
  assert_int_equal(eco_srv_directive_decide(&c, true, "/v1/chat/completions", "1", NULL), 0);
  eco_error err = {0};
  char *pr = strdup("x");
  assert_int_equal(eco_srv_directive_apply_prompt(&c.dcfg, 3, &pr, &err), ECO_EINVAL);
  assert_string_equal(pr, "x");
  free(pr);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_decide_and_parse),
      cmocka_unit_test(test_fixed_level_merged),
      cmocka_unit_test(test_router_header_and_optout),
      cmocka_unit_test(test_route_cap_and_stream),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
