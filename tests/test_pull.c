/* ecoinfer pull against the loopback HTTP server: full download, resume
 * after an interrupted transfer (Range), a server ignoring Range, sha256
 * checks from the ETag header and --sha256, HTTP errors, the CLI. */
#include "testutil.h"

#include "server/pull.h"
#include "util/fs.h"
#include "httpd.h"

#include <curl/curl.h>
#include <jansson.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct hub {
  char content[4096];
  char sha[65];
  int mode; /* 0 honour Range, 1 cut the first transfer short, 2 ignore Range */
  int calls;
  char hdr[512];
  char body[4096];
} hub;

static void handler(const eco_test_request *req, eco_test_response *resp, void *user) {
  hub *h = user;
  h->calls++;
  size_t len = strlen(h->content), from = 0;
  const char *r = strstr(req->headers, "Range: bytes=");
  if (r && h->mode != 2) from = strtoul(r + 13, NULL, 10);
  if (from > len) from = len;
  if (h->mode == 1 && h->calls == 1) {
    /* promise the whole file, send half, close: an interrupted transfer */
    snprintf(h->body, sizeof h->body, "%.*s", (int)(len / 2), h->content);
    snprintf(h->hdr, sizeof h->hdr,
             "Content-Length: %zu\nConnection: close\nX-Linked-ETag: \"%s\"\n", len, h->sha);
    resp->status = 200;
  } else {
    snprintf(h->body, sizeof h->body, "%s", h->content + from);
    if (from)
      snprintf(h->hdr, sizeof h->hdr, "X-Linked-ETag: \"%s\"\nContent-Range: bytes %zu-%zu/%zu\n",
               h->sha, from, len - 1, len);
    else
      snprintf(h->hdr, sizeof h->hdr, "X-Linked-ETag: \"%s\"\nETag: \"abc\"\n", h->sha);
    resp->status = from ? 206 : 200;
  }
  resp->content_type = "application/octet-stream";
  resp->headers = h->hdr;
  resp->body = h->body;
}

static void setup_hub(hub *h, eco_test_httpd **srv, char **dir) {
  memset(h, 0, sizeof *h);
  memcpy(h->content, "GGUF", 4);
  for (int i = 4; i < 3000; i++)
    h->content[i] = (char)('a' + (i * 7) % 26);
  *dir = eco_test_tmpdir();
  assert_int_equal(eco_test_write_file(*dir, "ref.bin", h->content), 0);
  char *p = eco_test_path(*dir, "ref.bin");
  eco_error err = {0};
  assert_int_equal(eco_sha256_file(p, h->sha, &err), 0);
  free(p);
  assert_int_equal(eco_test_httpd_start(srv), 0);
  assert_int_equal(
      eco_test_httpd_handler(*srv, "GET", "/org/repo/resolve/main/model.gguf", handler, h), 0);
}

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *b = calloc(1, 8192);
  size_t n = fread(b, 1, 8191, f);
  b[n] = 0;
  fclose(f);
  return b;
}

static void test_sha256_vector(void **state) {
  char *dir = eco_test_tmpdir();
  assert_int_equal(eco_test_write_file(dir, "abc", "abc"), 0);
  char *p = eco_test_path(dir, "abc");
  char hex[65];
  eco_error err = {0};
  assert_int_equal(eco_sha256_file(p, hex, &err), 0);
  assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  free(p);
  eco_test_rmtree(dir);
  free(dir);
}

static void test_full_download_verified(void **state) {
  hub h;
  eco_test_httpd *srv;
  char *dir;
  setup_hub(&h, &srv, &dir);
  char *models = eco_test_path(dir, "models");
  eco_pull_opts o = {.base_url = eco_test_httpd_url(srv), .dest_dir = models, .progress_fd = -1};
  eco_pull_result res;
  eco_error err = {0};
  if (eco_pull("org/repo/model.gguf", &o, &res, &err)) fail_msg("%s", eco_error_text(&err));
  assert_true(res.verified);
  assert_false(res.resumed);
  assert_string_equal(res.sha256, h.sha);
  assert_int_equal(res.bytes, 3000);
  char *got = read_file(res.path);
  assert_string_equal(got, h.content);
  free(got);
  char part[4200];
  snprintf(part, sizeof part, "%s.part", res.path);
  assert_false(eco_fs_exists(part));
  eco_test_httpd_stop(srv);
  free(models);
  eco_test_rmtree(dir);
  free(dir);
}

static void test_resume_after_interruption(void **state) {
  hub h;
  eco_test_httpd *srv;
  char *dir;
  setup_hub(&h, &srv, &dir);
  h.mode = 1;
  eco_pull_opts o = {
      .base_url = eco_test_httpd_url(srv), .dest_dir = dir, .progress_fd = -1, .timeout_s = 5};
  eco_pull_result res;
  eco_error err = {0};
  int rc = eco_pull("org/repo/model.gguf", &o, &res, &err);
  assert_int_equal(rc, ECO_ENET); /* cut short */
  char *part = eco_test_path(dir, "model.gguf.part");
  struct stat st;
  assert_int_equal(stat(part, &st), 0);
  assert_int_equal(st.st_size, 1500);
  rc = eco_pull("org/repo/model.gguf", &o, &res, &err);
  if (rc) fail_msg("%s", eco_error_text(&err));
  assert_true(res.resumed);
  assert_true(res.verified);
  eco_test_request last;
  assert_int_equal(eco_test_httpd_last(srv, NULL, &last), 0);
  assert_non_null(strstr(last.headers, "Range: bytes=1500-"));
  eco_test_request_free(&last);
  char *got = read_file(res.path);
  assert_string_equal(got, h.content);
  free(got);
  assert_false(eco_fs_exists(part));
  free(part);
  eco_test_httpd_stop(srv);
  eco_test_rmtree(dir);
  free(dir);
}

static void test_range_ignored_restarts(void **state) {
  hub h;
  eco_test_httpd *srv;
  char *dir;
  setup_hub(&h, &srv, &dir);
  h.mode = 2;
  assert_int_equal(eco_test_write_file(dir, "model.gguf.part", "GGUF-stale-bytes"), 0);
  eco_pull_opts o = {.base_url = eco_test_httpd_url(srv), .dest_dir = dir, .progress_fd = -1};
  eco_pull_result res;
  eco_error err = {0};
  if (eco_pull("org/repo/model.gguf", &o, &res, &err)) fail_msg("%s", eco_error_text(&err));
  char *got = read_file(res.path);
  assert_string_equal(got, h.content);
  free(got);
  eco_test_httpd_stop(srv);
  eco_test_rmtree(dir);
  free(dir);
}

static void test_hash_mismatch_and_errors(void **state) {
  hub h;
  eco_test_httpd *srv;
  char *dir;
  setup_hub(&h, &srv, &dir);
  eco_pull_opts o = {.base_url = eco_test_httpd_url(srv),
                     .dest_dir = dir,
                     .progress_fd = -1,
                     .sha256 = "0000000000000000000000000000000000000000000000000000000000000000"};
  eco_pull_result res;
  eco_error err = {0};
  assert_int_equal(eco_pull("org/repo/model.gguf", &o, &res, &err), ECO_EFORMAT);
  assert_non_null(strstr(err.msg, "sha256 mismatch"));
  char *final = eco_test_path(dir, "model.gguf");
  char *part = eco_test_path(dir, "model.gguf.part");
  assert_false(eco_fs_exists(final));
  assert_false(eco_fs_exists(part));
  /* the hub's own ETag disagrees with the bytes */
  o.sha256 = NULL;
  h.sha[0] = h.sha[0] == 'a' ? 'b' : 'a';
  assert_int_equal(eco_pull("org/repo/model.gguf", &o, &res, &err), ECO_EFORMAT);
  assert_false(eco_fs_exists(final));
  /* 404, bad specs, bad --sha256 */
  assert_int_equal(eco_pull("org/repo/missing.gguf", &o, &res, &err), ECO_EHTTP);
  assert_false(eco_fs_exists(final));
  assert_int_equal(eco_pull("just-a-name.gguf", &o, &res, &err), ECO_EINVAL);
  assert_int_equal(eco_pull("org/repo/", &o, &res, &err), ECO_EINVAL);
  assert_int_equal(eco_pull("org/repo/..", &o, &res, &err), ECO_EINVAL);
  o.sha256 = "xyz";
  assert_int_equal(eco_pull("org/repo/model.gguf", &o, &res, &err), ECO_EINVAL);
  free(final);
  free(part);
  eco_test_httpd_stop(srv);
  eco_test_rmtree(dir);
  free(dir);
}

static void test_cli_pull_url_and_repo(void **state) {
  hub h;
  eco_test_httpd *srv;
  char *dir;
  setup_hub(&h, &srv, &dir);
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "%s pull --json --base-url %s --model-dir %s/m org/repo/model.gguf 2>&1",
           eco_test_binary(), eco_test_httpd_url(srv), dir);
  char *out = NULL;
  int code = -1;
  assert_int_equal(eco_test_run(cmd, &out, &code), 0);
  if (code != 0) fail_msg("pull failed: %s", out);
  json_t *j = json_loads(out, 0, NULL);
  assert_non_null(j);
  assert_true(json_is_true(json_object_get(j, "verified")));
  assert_string_equal(json_string_value(json_object_get(j, "sha256")), h.sha);
  json_decref(j);
  free(out);
  snprintf(cmd, sizeof cmd,
           "%s pull --model-dir %s/u --sha256 %s %s/org/repo/resolve/main/model.gguf 2>&1",
           eco_test_binary(), dir, h.sha, eco_test_httpd_url(srv));
  assert_int_equal(eco_test_run(cmd, &out, &code), 0);
  if (code != 0) fail_msg("pull URL failed: %s", out);
  assert_non_null(strstr(out, "verified"));
  free(out);
  snprintf(cmd, sizeof cmd, "%s pull --model-dir %s/x %s/org/repo/resolve/main/nothing.gguf 2>&1",
           eco_test_binary(), dir, eco_test_httpd_url(srv));
  assert_int_equal(eco_test_run(cmd, &out, &code), 0);
  assert_int_equal(code, 1);
  assert_non_null(strstr(out, "HTTP 404"));
  free(out);
  eco_test_httpd_stop(srv);
  eco_test_rmtree(dir);
  free(dir);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sha256_vector),
      cmocka_unit_test(test_full_download_verified),
      cmocka_unit_test(test_resume_after_interruption),
      cmocka_unit_test(test_range_ignored_restarts),
      cmocka_unit_test(test_hash_mismatch_and_errors),
      cmocka_unit_test(test_cli_pull_url_and_repo),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
