/* Browser test of the dashboard page: a real evhttp server on loopback
 * serves the dashboard fed with decisions; headless chromium (playwright-core)
 * loads it and checks for console errors, charts with data, a request in the
 * decision table with its receipt, light/dark and phone width; screenshots
 * are kept in build/tests/artifacts/. Skips when chromium or npm are
 * unavailable. The same script checks the router's page in the cluster
 * integration test. */
#include "testutil.h"

#include "dashboard/dashboard.h"
#include "util/timeutil.h"

#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static struct event_base *base;

static void *loop(void *arg) {
  (void)arg;
  event_base_dispatch(base);
  return NULL;
}

static void *feed(void *arg) {
  eco_dash *d = arg;
  /* Keep feeding while the browser watches, so SSE delivers live updates. */
  for (int i = 0; i < 60; i++) {
    eco_dash_decision x;
    memset(&x, 0, sizeof x);
    x.t = eco_time_wall_s();
    snprintf(x.request_id, sizeof x.request_id, "live-%d", i);
    snprintf(x.policy, sizeof x.policy, "%s", i % 2 ? "carbon" : "slo-carbon");
    snprintf(x.node, sizeof x.node, "node-%d", i % 3);
    x.latency_ms = 80 + i;
    x.tokens = 50;
    x.output_tokens = 30;
    x.receipt.energy_j = 5 + i * 0.1;
    snprintf(x.receipt.energy_source, sizeof x.receipt.energy_source, "model");
    x.receipt.intensity_gco2_kwh = 150;
    x.receipt.total_g = 0.0004;
    x.predicted_g = 0.0004;
    x.counterfactual_g = 0.0007;
    x.directive_level = -1;
    eco_dash_record(d, &x);
    eco_time_sleep_s(0.1);
  }
  return NULL;
}

static void test_page_in_browser(void **state) {
  (void)state;
  if (!eco_dash_bundled()) {
    print_message("SKIP: dashboard bundle not built (npm unavailable at build time)\n");
    skip();
  }
  evthread_use_pthreads();
  signal(SIGPIPE, SIG_IGN);
  base = event_base_new();
  struct evhttp *http = evhttp_new(base);
  struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
  assert_non_null(bs);
  struct sockaddr_in sa;
  socklen_t sl = sizeof sa;
  getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sa, &sl);
  eco_dash *d;
  assert_int_equal(eco_dash_new("router", &d), 0);
  assert_int_equal(eco_dash_attach(d, base, http, "/dashboard", 0.5), 0);
  double now = eco_time_wall_s();
  eco_dash_zone z = {.zone = "FR",
                     .gco2_kwh = 40,
                     .source = "trace:FR_2023_hourly.csv",
                     .n_forecast = 3,
                     .forecast_t = {now, now + 3600, now + 7200},
                     .forecast_v = {40, 38, 45}};
  eco_dash_set_zone(d, &z);
  eco_dash_node n = {.id = "node-0",
                     .device = "cpu-server",
                     .zone = "FR",
                     .health = "up",
                     .queue = 1,
                     .batch = 4,
                     .tokens_per_s = 120,
                     .power_w = 65,
                     .power_source = "estimated",
                     .j_per_token = 0.54,
                     .energy_source = "model"};
  eco_dash_set_node(d, &n);
  double mix[3] = {0.2, 0.5, 0.3};
  const char *lv[3] = {"L0", "L1", "L2"};
  eco_dash_set_directives(d, mix, lv, 3, 0.95);
  /* History over the last minute so the charts have several buckets. */
  for (int i = 0; i < 30; i++) {
    eco_dash_decision x;
    memset(&x, 0, sizeof x);
    x.t = now - 60 + 2 * i;
    snprintf(x.request_id, sizeof x.request_id, "%s", i == 29 ? "req-browser-1" : "hist");
    snprintf(x.policy, sizeof x.policy, "carbon");
    snprintf(x.node, sizeof x.node, "node-0");
    x.latency_ms = 100 + i;
    x.tokens = 40;
    x.output_tokens = 20;
    x.receipt.energy_j = 3.5;
    snprintf(x.receipt.energy_source, sizeof x.receipt.energy_source, "model");
    x.receipt.intensity_gco2_kwh = 40;
    x.receipt.total_g = 0.00004;
    x.predicted_g = 0.00004;
    x.counterfactual_g = 0.0001;
    x.directive_level = 1;
    eco_dash_record(d, &x);
  }
  pthread_t lt, ft;
  pthread_create(&lt, NULL, loop, NULL);
  pthread_create(&ft, NULL, feed, d);
  mkdir("artifacts", 0755);
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "bash %s/tests/browser/run.sh dashboard.mjs http://127.0.0.1:%d/dashboard "
           "req-browser-1 %s/artifacts/dashboard.png 2>&1",
           ECO_TEST_SOURCE_DIR, ntohs(sa.sin_port), getcwd((char[512]){0}, 512));
  char *out = NULL;
  int code = -1;
  assert_int_equal(eco_test_run(cmd, &out, &code), 0);
  pthread_join(ft, NULL);
  event_base_loopbreak(base);
  pthread_join(lt, NULL);
  evhttp_free(http);
  eco_dash_free(d);
  event_base_free(base);
  print_message("%s", out);
  free(out);
  if (code == 77) skip();
  assert_int_equal(code, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_page_in_browser)};
  return cmocka_run_group_tests_name("dashboard_browser", tests, NULL, NULL);
}
