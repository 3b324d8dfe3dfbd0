/* The node server over the real batching engine (a model from ../shared):
 * prefix reuse reported in usage, in the carbon receipt and in /metrics;
 * ignore_eos; and a client that reads its stream slowly: the engine
 * finishes generating for it while it has read nothing, the other streams
 * and /health carry on, and the slow client still gets its whole stream. */
#include "testutil.h"

#include "server/backend_engine.h"
#include "server/server.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MODEL "models/test-smollm2-2layer-q8_0.gguf"

typedef struct fixture {
  eco_backend be;
  eco_server *srv;
  eco_acct_state st;
  eco_accounting acct;
  eco_logger lg;
  int port, admin_port;
} fixture;

static fixture *start(const char *model) {
  fixture *f = calloc(1, sizeof *f);
  assert_non_null(f);
  eco_error err = {0};
  eco_log_init(&f->lg);
  f->lg.level = ECO_LOG_ERROR;
  eco_backend_engine_cfg bc = {.model_path = model,
                               .model_name = "m",
                               .threads = 2,
                               .n_ctx = 2048,
                               .max_batch = 4,
                               .kv_budget_bytes = 256u << 20,
                               .log = &f->lg};
  if (eco_backend_engine_new(&bc, &f->be, &err)) fail_msg("%s", eco_error_text(&err));
  eco_cfg *cfg;
  assert_int_equal(eco_cfg_load_string("carbon:\n  zone: GB\n  static: {zones: {GB: 200}}\n"
                                       "energy: {cpu_watts: 10, attribution: cpu-time}\n",
                                       "t", &cfg, &err),
                   0);
  eco_cfg_use_env(cfg, false);
  assert_int_equal(eco_acct_open(cfg, "test-node", &f->st, &f->acct, &err), 0);
  eco_cfg_free(cfg);
  eco_server_cfg sc;
  eco_server_cfg_default(&sc);
  sc.port = 0;
  sc.admin_port = 0;
  if (eco_server_new(&sc, &f->be, &f->acct, &f->lg, &f->srv, &err))
    fail_msg("server: %s", eco_error_text(&err));
  f->port = eco_server_port(f->srv);
  f->admin_port = eco_server_admin_port(f->srv);
  assert_int_equal(eco_server_start(f->srv), 0);
  return f;
}

static void stop(fixture *f) {
  eco_server_shutdown(f->srv);
  assert_int_equal(eco_server_join(f->srv), 0);
  eco_server_free(f->srv);
  f->be.vt->destroy(f->be.self);
  eco_acct_close(&f->st);
  free(f);
}

static size_t on_data(char *p, size_t sz, size_t n, void *u) {
  eco_sb_append(u, p, sz * n);
  return sz * n;
}

/* GET or POST (body != NULL) on 127.0.0.1:port; returns the status. */
static long http(int port, const char *path, const char *body, eco_strbuf *out) {
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
  eco_sb_init(out);
  CURL *c = curl_easy_init();
  assert_non_null(c);
  struct curl_slist *hl = curl_slist_append(NULL, "Content-Type: application/json");
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
  if (body) curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
  long status = -1;
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(hl);
  curl_easy_cleanup(c);
  return status;
}

/* The value of a metric line "NAME VALUE" in the admin /metrics text. */
static double metric(fixture *f, const char *name) {
  eco_strbuf b;
  assert_int_equal(http(f->admin_port, "/metrics", NULL, &b), 200);
  char key[96];
  snprintf(key, sizeof key, "\n%s ", name);
  const char *p = strstr(eco_sb_str(&b), key);
  double v = p ? atof(p + strlen(key)) : -1;
  eco_sb_free(&b);
  return v;
}

#define CHAT(user, max, extra)                                                                     \
  "{\"model\":\"m\",\"max_tokens\":" #max ",\"temperature\":0," extra                              \
  "\"messages\":[{\"role\":\"system\",\"content\":\"You are a terse assistant. Answer in one "     \
  "word whenever you can, and never explain yourself unless the user asks you to explain, "        \
  "in which case explain in at most one sentence.\"},{\"role\":\"user\",\"content\":\"" user       \
  "\"}]}"

static void test_prefix_reuse_reported(void **state) {
  (void)state;
  char *mp;
  ECO_TEST_NEED_SHARED(MODEL, &mp);
  fixture *f = start(mp);
  free(mp);
  eco_strbuf b;
  const char *bodies[] = {CHAT("What is the capital of France?", 8, "\"ignore_eos\":true,"),
                          CHAT("Name a prime number.", 8, "\"ignore_eos\":true,")};
  json_int_t cached[2] = {-1, -1}, receipt_cached[2] = {-1, -1};
  for (int i = 0; i < 2; i++) {
    assert_int_equal(http(f->port, "/v1/chat/completions", bodies[i], &b), 200);
    json_t *o = json_loads(eco_sb_str(&b), 0, NULL);
    assert_non_null(o);
    json_t *u = json_object_get(o, "usage");
    assert_int_equal(json_integer_value(json_object_get(u, "completion_tokens")), 8);
    cached[i] = json_integer_value(
        json_object_get(json_object_get(u, "prompt_tokens_details"), "cached_tokens"));
    receipt_cached[i] =
        json_integer_value(json_object_get(json_object_get(u, "carbon"), "prompt_cached_tokens"));
    json_decref(o);
    eco_sb_free(&b);
  }
  /* the second request shares the templated system turn with the first */
  assert_int_equal(cached[0], 0);
  assert_true(cached[1] >= 32 && cached[1] % 16 == 0);
  assert_int_equal(receipt_cached[0], 0);
  assert_int_equal(receipt_cached[1], cached[1]);
  assert_true(metric(f, "ecoinfer_prefix_cache_hits_total") == 1);
  assert_true(metric(f, "ecoinfer_prefix_cache_misses_total") == 1);
  assert_true(metric(f, "ecoinfer_prefix_cache_saved_tokens_total") == (double)cached[1]);
  assert_true(metric(f, "ecoinfer_prefix_cache_bytes") > 0);
  /* ignore_eos must be a boolean */
  assert_int_equal(
      http(f->port, "/v1/chat/completions", CHAT("x", 4, "\"ignore_eos\":\"yes\","), &b), 400);
  eco_sb_free(&b);
  stop(f);
}

/* A raw loopback client with a tiny receive buffer. */
static int slow_client(int port, const char *body) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  int rcv = 2048;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  char hdr[256];
  int n = snprintf(hdr, sizeof hdr,
                   "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                   strlen(body));
  assert_int_equal(write(fd, hdr, (size_t)n), n);
  assert_int_equal(write(fd, body, strlen(body)), (ssize_t)strlen(body));
  return fd;
}

static void test_slow_reader_does_not_stall(void **state) {
  (void)state;
  char *mp;
  ECO_TEST_NEED_SHARED(MODEL, &mp);
  fixture *f = start(mp);
  free(mp);
  const double gen0 = metric(f, "ecoinfer_generated_tokens_total");
  /* A: 1200 streamed tokens (~200 KB of SSE), and A reads nothing yet */
  int fd = slow_client(f->port, CHAT("Count to a thousand.", 1200,
                                     "\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                                     "\"ignore_eos\":true,"));
  /* B streams normally meanwhile, to the end */
  eco_strbuf b;
  assert_int_equal(http(f->port, "/v1/chat/completions",
                        CHAT("Say hi.", 40, "\"stream\":true,\"ignore_eos\":true,"), &b),
                   200);
  assert_non_null(strstr(eco_sb_str(&b), "data: [DONE]"));
  eco_sb_free(&b);
  /* The engine finishes A's 1200 tokens although A has read nothing, and
   * the HTTP loop answers /health all along. */
  double worst_health = 0, t_end = eco_time_wall_s() + 240;
  while (metric(f, "ecoinfer_generated_tokens_total") < gen0 + 1240) {
    assert_true(eco_time_wall_s() < t_end);
    const double t0 = eco_time_wall_s();
    assert_int_equal(http(f->port, "/health", NULL, &b), 200);
    eco_sb_free(&b);
    const double dt = eco_time_wall_s() - t0;
    worst_health = dt > worst_health ? dt : worst_health;
    usleep(50000);
  }
  print_message("A generated server-side with nothing read; slowest /health %.3f s\n",
                worst_health);
  assert_true(worst_health < 2.0);
  /* Now A reads, a little at a time: the whole stream is there. */
  eco_strbuf got;
  eco_sb_init(&got);
  char buf[1024];
  for (;;) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 10000) <= 0) break;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    eco_sb_append(&got, buf, (size_t)n);
    if (strstr(eco_sb_str(&got), "data: [DONE]")) break;
  }
  close(fd);
  const char *s = eco_sb_str(&got);
  print_message("slow client read %zu bytes after the fact\n", got.len);
  assert_true(got.len > 100000); /* far more than the socket buffers held */
  assert_non_null(strstr(s, "HTTP/1.1 200"));
  assert_non_null(strstr(s, "\"completion_tokens\":1200"));
  assert_non_null(strstr(s, "data: [DONE]"));
  eco_sb_free(&got);
  stop(f);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_prefix_reuse_reported),
      cmocka_unit_test(test_slow_reader_does_not_stall),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
