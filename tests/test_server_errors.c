/* Node server end to end, bad requests: every kind of invalid body, size
 * and header limits, wrong methods and paths each get a clear OpenAI-shaped
 * error and the server keeps serving; API keys (tests/helpers/node_fixture.h). */
#include "testutil.h"

#include "node_fixture.h"

#include "util/strbuf.h"

#include <curl/curl.h>

/* Bodies of /v1/chat/completions, each with the status and param of its error. */
static const struct bad_body {
  const char *body;
  long status;
  const char *param;
} cases[] = {
    {"{", 400, ""},     /* invalid JSON */
    {"[1,2]", 400, ""}, /* not an object */
    {"{\"model\":\"fake-model\",\"messages\":[{\"role\":\"user\",\"content\":\"\xC3\x28\"}]}", 400,
     ""},                                                                     /* invalid UTF-8 */
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
    {"{\"model\":\"fake-model\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"n\":2}", 400,
     "n"},
};

/* The table, deeply nested JSON and an unknown model: each a clear error. */
static void check_bad_bodies(eco_test_node *f) {
  eco_test_node_resp r;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    eco_test_node_post(f, "/v1/chat/completions", cases[i].body, &r);
    eco_test_node_expect_error(&r, cases[i].status, cases[i].param);
    eco_test_node_resp_free(&r);
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
  eco_test_node_post(f, "/v1/chat/completions", deep, &r);
  eco_test_node_expect_error(&r, 400, "");
  eco_test_node_resp_free(&r);
  free(deep);
  /* unknown model */
  eco_test_node_post(f, "/v1/completions", "{\"model\":\"gpt-9\",\"prompt\":\"a\"}", &r);
  eco_test_node_expect_error(&r, 404, "model");
  eco_test_node_resp_free(&r);
}

/* A prompt over the context, a body and a header over their limits, a wrong
 * method and an unknown path. */
static void check_limits(eco_test_node *f) {
  eco_test_node_resp r;
  /* prompt longer than the context */
  eco_strbuf big;
  eco_sb_init(&big);
  eco_sb_puts(&big, "{\"model\":\"fake-model\",\"max_tokens\":10,\"prompt\":\"");
  for (int i = 0; i < 600; i++)
    eco_sb_puts(&big, "w ");
  eco_sb_puts(&big, "\"}");
  eco_test_node_post(f, "/v1/completions", eco_sb_str(&big), &r);
  eco_test_node_expect_error(&r, 400, "messages");
  eco_test_node_resp_free(&r);
  /* body over the limit: 413 (libevent answers it while reading) */
  eco_sb_reset(&big);
  eco_sb_puts(&big, "{\"model\":\"fake-model\",\"prompt\":\"");
  for (int i = 0; i < 70000; i++)
    eco_sb_puts(&big, "a");
  eco_sb_puts(&big, "\"}");
  eco_test_node_post(f, "/v1/completions", eco_sb_str(&big), &r);
  assert_true(r.status == 413 || r.status == -1);
  eco_test_node_resp_free(&r);
  /* header over the limit: rejected (400/431) or the connection is closed */
  eco_sb_reset(&big);
  eco_sb_puts(&big, "X-Big: ");
  for (int i = 0; i < 8000; i++)
    eco_sb_puts(&big, "h");
  char url[128];
  snprintf(url, sizeof url, "%s/v1/completions", f->base);
  eco_test_node_http("POST", url, eco_sb_str(&big), "{}", 2, &r);
  assert_true(r.status == -1 || r.status == 400 || r.status == 431 || r.status == 413);
  eco_test_node_resp_free(&r);
  eco_sb_free(&big);
  /* wrong method, unknown path */
  eco_test_node_http("GET", url, NULL, NULL, 0, &r);
  eco_test_node_expect_error(&r, 405, "");
  eco_test_node_resp_free(&r);
  snprintf(url, sizeof url, "%s/v2/nothing", f->base);
  eco_test_node_http("GET", url, NULL, NULL, 0, &r);
  eco_test_node_expect_error(&r, 404, "");
  eco_test_node_resp_free(&r);
}

static void test_request_errors(void **state) {
  eco_server_cfg sc;
  eco_server_cfg_default(&sc);
  sc.max_body_bytes = 64 * 1024;
  sc.max_header_bytes = 4096;
  eco_fake_cfg fc;
  eco_fake_cfg_default(&fc);
  fc.context_length = 512;
  eco_test_node *f = eco_test_node_start(&fc, &sc);
  check_bad_bodies(f);
  check_limits(f);
  eco_test_node_resp r;
  /* the server survived all of it */
  eco_test_node_post(f, "/v1/chat/completions", eco_test_node_chat_body, &r);
  assert_int_equal(r.status, 200);
  eco_test_node_resp_free(&r);
  assert_int_equal(eco_test_node_stop(f), 0);
}

static void test_api_keys(void **state) {
  eco_server_cfg sc;
  eco_server_cfg_default(&sc);
  const char *keys[] = {"sk-first", "sk-second-key"};
  sc.api_keys = keys;
  sc.n_api_keys = 2;
  eco_test_node *f = eco_test_node_start(NULL, &sc);
  char url[128];
  snprintf(url, sizeof url, "%s/v1/chat/completions", f->base);
  eco_test_node_resp r;
  eco_test_node_http("POST", url, NULL, eco_test_node_chat_body, strlen(eco_test_node_chat_body),
                     &r);
  eco_test_node_expect_error(&r, 401, "");
  eco_test_node_resp_free(&r);
  const char *bad[] = {"Authorization: Bearer sk-firs", "Authorization: Bearer sk-first2",
                       "Authorization: Basic sk-first", "Authorization: Bearer "};
  for (size_t i = 0; i < 4; i++) {
    eco_test_node_http("POST", url, bad[i], eco_test_node_chat_body,
                       strlen(eco_test_node_chat_body), &r);
    eco_test_node_expect_error(&r, 401, "");
    eco_test_node_resp_free(&r);
  }
  eco_test_node_http("POST", url, "Authorization: Bearer sk-second-key", eco_test_node_chat_body,
                     strlen(eco_test_node_chat_body), &r);
  assert_int_equal(r.status, 200);
  eco_test_node_resp_free(&r);
  snprintf(url, sizeof url, "%s/health", f->base); /* liveness stays open */
  eco_test_node_http("GET", url, NULL, NULL, 0, &r);
  assert_int_equal(r.status, 200);
  eco_test_node_resp_free(&r);
  assert_int_equal(eco_test_node_stop(f), 0);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_request_errors),
      cmocka_unit_test(test_api_keys),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
