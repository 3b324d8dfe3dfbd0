/* Tests of the shared test helpers themselves, in particular the scriptable
 * loopback HTTP server that later client tests rely on. */
#include "testutil.h"

#include "httpd.h"
#include "util/fs.h"

#include <curl/curl.h>
#include <string.h>

typedef struct buf {
  char data[8192];
  size_t n;
} buf;

static size_t on_data(char *p, size_t sz, size_t nm, void *u) {
  buf *b = u;
  size_t n = sz * nm;
  if (b->n + n >= sizeof b->data) n = sizeof b->data - b->n - 1;
  memcpy(b->data + b->n, p, n);
  b->n += n;
  b->data[b->n] = '\0';
  return sz * nm;
}

/* GET or POST url; returns HTTP status, or -curl code on transport error. */
static long fetch(const char *url, const char *post, long timeout_ms, buf *out) {
  CURL *c = curl_easy_init();
  memset(out, 0, sizeof *out);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  if (post) curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
  CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(c);
  return rc == CURLE_OK ? status : -(long)rc;
}

static void test_scripted_routes(void **state) {
  (void)state;
  eco_test_httpd *h;
  assert_int_equal(eco_test_httpd_start(&h), 0);
  char url[256];
  eco_test_response ok = {.status = 200, .body = "{\"v\":1}", .headers = "X-Test: yes\n"};
  eco_test_httpd_on(h, "GET", "/a", &ok);
  eco_test_response err = {
      .status = 429, .body = "{\"error\":\"slow down\"}", .headers = "Retry-After: 3\n"};
  eco_test_httpd_on(h, "POST", "/a", &err);
  buf b;
  snprintf(url, sizeof url, "%s/a?x=1", eco_test_httpd_url(h));
  assert_int_equal(fetch(url, NULL, 2000, &b), 200);
  assert_string_equal(b.data, "{\"v\":1}");
  assert_int_equal(fetch(url, "{\"q\":2}", 2000, &b), 429);
  snprintf(url, sizeof url, "%s/missing", eco_test_httpd_url(h));
  assert_int_equal(fetch(url, NULL, 2000, &b), 404);
  assert_int_equal(eco_test_httpd_count(h, "/a"), 2);
  eco_test_request r;
  assert_int_equal(eco_test_httpd_last(h, "/a", &r), 0);
  assert_string_equal(r.method, "POST");
  assert_string_equal(r.body, "{\"q\":2}");
  assert_string_equal(r.query, "x=1");
  eco_test_request_free(&r);
  eco_test_httpd_stop(h);
}

static void test_timeout_drop_and_stream(void **state) {
  (void)state;
  eco_test_httpd *h;
  assert_int_equal(eco_test_httpd_start(&h), 0);
  char url[256];
  buf b;
  eco_test_response slow = {.status = 200, .body = "late", .delay_ms = 1500};
  eco_test_httpd_on(h, NULL, "/slow", &slow);
  snprintf(url, sizeof url, "%s/slow", eco_test_httpd_url(h));
  assert_int_equal(fetch(url, NULL, 300, &b), -(long)CURLE_OPERATION_TIMEDOUT);

  eco_test_response drop = {.status = 0};
  eco_test_httpd_on(h, NULL, "/drop", &drop);
  snprintf(url, sizeof url, "%s/drop", eco_test_httpd_url(h));
  assert_true(fetch(url, NULL, 2000, &b) < 0);

  static const char *const chunks[] = {"data: 1\n\n", "data: 2\n\n", "data: [DONE]\n\n"};
  eco_test_response sse = {.status = 200,
                           .content_type = "text/event-stream",
                           .chunks = chunks,
                           .n_chunks = 3,
                           .chunk_delay_ms = 20};
  eco_test_httpd_on(h, NULL, "/stream", &sse);
  snprintf(url, sizeof url, "%s/stream", eco_test_httpd_url(h));
  assert_int_equal(fetch(url, NULL, 2000, &b), 200);
  assert_string_equal(b.data, "data: 1\n\ndata: 2\n\ndata: [DONE]\n\n");
  eco_test_httpd_stop(h);
}

static void echo_handler(const eco_test_request *req, eco_test_response *resp, void *user) {
  buf *scratch = user;
  snprintf(scratch->data, sizeof scratch->data, "{\"echo\":\"%s\"}", req->query);
  resp->status = 201;
  resp->body = scratch->data;
}

static void test_dynamic_handler(void **state) {
  (void)state;
  eco_test_httpd *h;
  assert_int_equal(eco_test_httpd_start(&h), 0);
  buf scratch, b;
  eco_test_httpd_handler(h, "GET", "/echo", echo_handler, &scratch);
  char url[256];
  snprintf(url, sizeof url, "%s/echo?zone=GB", eco_test_httpd_url(h));
  assert_int_equal(fetch(url, NULL, 2000, &b), 201);
  assert_string_equal(b.data, "{\"echo\":\"zone=GB\"}");
  eco_test_httpd_stop(h);
}

static void test_tmpdir_and_shared(void **state) {
  (void)state;
  char *d = eco_test_tmpdir();
  assert_int_equal(eco_test_write_file(d, "x/y/z.txt", "hi"), 0);
  char *p = eco_test_path(d, "x/y/z.txt");
  assert_true(eco_fs_exists(p));
  free(p);
  eco_test_rmtree(d);
  assert_false(eco_fs_exists(d));
  free(d);
  char *sources;
  ECO_TEST_NEED_SHARED("models/SOURCES.md", &sources);
  assert_true(eco_fs_exists(sources));
  free(sources);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_scripted_routes),
      cmocka_unit_test(test_timeout_drop_and_stream),
      cmocka_unit_test(test_dynamic_handler),
      cmocka_unit_test(test_tmpdir_and_shared),
  };
  int rc = cmocka_run_group_tests_name("testhelpers", tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
