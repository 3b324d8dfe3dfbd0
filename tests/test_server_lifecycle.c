/* Node server end to end, its life: clients that disconnect cancel their
 * generation (raw sockets), in-flight requests drain at shutdown (and a stuck
 * one is cancelled at the drain timeout), the binary finishes a stream on
 * SIGTERM and exits 0, and concurrent clients (tests/helpers/node_fixture.h). */
#include "testutil.h"

#include "node_fixture.h"

#include "carbon/ledger.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int raw_connect(eco_test_node *f) {
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

static void wait_cancelled(eco_test_node *f, int want) {
  for (int i = 0; i < 5000 && eco_backend_fake_cancelled(&f->be) < want; i++)
    eco_time_sleep_s(0.001);
  assert_int_equal(eco_backend_fake_cancelled(&f->be), want);
}

static void test_disconnect_cancels(void **state) {
  eco_fake_cfg fc;
  eco_fake_cfg_default(&fc);
  fc.tokens_per_s = 20;
  fc.stop_at_script_end = false; /* 256 tokens at 20/s: still running when the client leaves */
  eco_test_node *f = eco_test_node_start(&fc, NULL);
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
  eco_test_node_resp r;
  eco_test_node_post(f, "/v1/completions",
                     "{\"model\":\"fake-model\",\"prompt\":\"x\",\"max_tokens\":2}",
                     &r); /* still serving */
  assert_int_equal(r.status, 200);
  eco_test_node_resp_free(&r);
  assert_int_equal(eco_test_node_stop(f), 0);
}

typedef struct bg {
  eco_test_node *f;
  eco_test_node_resp r;
  pthread_t t;
} bg;

static void *bg_post(void *arg) {
  bg *b = arg;
  eco_test_node_post(b->f, "/v1/chat/completions", eco_test_node_chat_body, &b->r);
  return NULL;
}

static void test_drain(void **state) {
  /* in-flight requests finish before the server exits */
  eco_fake_cfg fc;
  eco_fake_cfg_default(&fc);
  fc.tokens_per_s = 100;
  eco_test_node *f = eco_test_node_start(&fc, NULL);
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
  eco_test_node_resp_free(&b.r);
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
  f = eco_test_node_start(NULL, &sc);
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
  eco_test_node_resp_free(&b.r);
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
  eco_test_node fx = {0};
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
  eco_test_node_resp_free(&b.r);
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
  eco_test_node *f = arg;
  for (int i = 0; i < 5; i++) {
    eco_test_node_resp r;
    eco_test_node_post(f, "/v1/chat/completions", eco_test_node_chat_body, &r);
    if (r.status != 200 && r.status != 429) fail_msg("status %ld", r.status);
    eco_test_node_resp_free(&r);
  }
  return NULL;
}

static void test_concurrent(void **state) {
  eco_fake_cfg fc;
  eco_fake_cfg_default(&fc);
  fc.tokens_per_s = 1000;
  eco_test_node *f = eco_test_node_start(&fc, NULL);
  pthread_t t[8];
  for (int i = 0; i < 8; i++)
    pthread_create(&t[i], NULL, bg_many, f);
  for (int i = 0; i < 8; i++)
    pthread_join(t[i], NULL);
  assert_int_equal(eco_test_node_stop(f), 0);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_disconnect_cancels),
      cmocka_unit_test(test_drain),
      cmocka_unit_test(test_binary_sigterm),
      cmocka_unit_test(test_concurrent),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
