/* Tests for src/dashboard/dashboard: state JSON, the HTTP endpoints, the SSE
 * stream and the embedded page, on a real evhttp server on loopback. */
#include "testutil.h"

#include "dashboard/dashboard.h"
#include "util/timeutil.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

typedef struct srv {
  struct event_base *base;
  struct evhttp *http;
  eco_dash *dash;
  pthread_t th;
  int port;
} srv;

static void *loop(void *arg) {
  event_base_dispatch(((srv *)arg)->base);
  return NULL;
}

static void srv_start(srv *s, eco_dash *d) {
  evthread_use_pthreads();
  signal(SIGPIPE, SIG_IGN);
  s->base = event_base_new();
  s->http = evhttp_new(s->base);
  s->dash = d;
  struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(s->http, "127.0.0.1", 0);
  assert_non_null(bs);
  struct sockaddr_in sa = {0};
  socklen_t sl = sizeof sa;
  assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sa, &sl), 0);
  s->port = ntohs(sa.sin_port);
  assert_int_equal(eco_dash_attach(d, s->base, s->http, "/dashboard", 0.2), 0);
  pthread_create(&s->th, NULL, loop, s);
}

static void srv_stop(srv *s) {
  event_base_loopbreak(s->base);
  pthread_join(s->th, NULL);
  evhttp_free(s->http);
  eco_dash_free(s->dash);
  event_base_free(s->base);
}

typedef struct buf {
  char *data;
  size_t n;
} buf;

static size_t on_data(char *p, size_t sz, size_t nm, void *u) {
  buf *b = u;
  char *nd = realloc(b->data, b->n + sz * nm + 1);
  if (!nd) return 0;
  b->data = nd;
  memcpy(b->data + b->n, p, sz * nm);
  b->n += sz * nm;
  b->data[b->n] = '\0';
  return sz * nm;
}

static long get(int port, const char *path, long timeout_ms, buf *out) {
  char url[256];
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
  CURL *c = curl_easy_init();
  out->data = NULL;
  out->n = 0;
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(c);
  if (rc != CURLE_OK && rc != CURLE_OPERATION_TIMEDOUT) return -1;
  return status;
}

static eco_dash_decision decision(double t, const char *id, const char *policy, double g,
                                  double pred, double cf) {
  eco_dash_decision d;
  memset(&d, 0, sizeof d);
  d.t = t;
  snprintf(d.request_id, sizeof d.request_id, "%s", id);
  snprintf(d.policy, sizeof d.policy, "%s", policy);
  snprintf(d.node, sizeof d.node, "orin-1");
  d.latency_ms = 120;
  d.tokens = 60;
  d.output_tokens = 40;
  d.receipt.energy_j = 12;
  snprintf(d.receipt.energy_source, sizeof d.receipt.energy_source, "model");
  d.receipt.total_g = g;
  d.receipt.intensity_gco2_kwh = 200;
  d.receipt.pue = 1.0;
  d.predicted_g = pred;
  d.counterfactual_g = cf;
  d.directive_level = -1;
  return d;
}

/* Every lever counts (issue 18): decisions that carry savings by lever add
 * them (routing, directives, shifting); evaluation overhead subtracts. */
static void test_saved_levers(void **state) {
  (void)state;
  eco_dash *d;
  assert_int_equal(eco_dash_new("router", &d), 0);
  double now = 1.7e9;
  eco_dash_decision a = decision(now - 3, "r1", "carbon", 0.010, 0.011, 0.020);
  a.levers = true;
  a.saved_g[0] = 0.002;
  a.saved_g[1] = 0.005;
  eco_dash_decision b = decision(now - 2, "b1", "batch-shift", 0.001, 0.001, -1);
  b.levers = true;
  b.saved_g[2] = 0.0004;
  snprintf(b.kind, sizeof b.kind, "batch");
  eco_dash_decision e = decision(now - 1, "e1", "batch-shift", 0.0001, 0, -1);
  snprintf(e.kind, sizeof e.kind, "eval");
  assert_int_equal(eco_dash_record(d, &a), 0);
  assert_int_equal(eco_dash_record(d, &b), 0);
  assert_int_equal(eco_dash_record(d, &e), 0);
  char *s = eco_dash_state_json(d, now);
  json_t *j = json_loads(s, 0, NULL);
  assert_non_null(j);
  json_t *tot = json_object_get(j, "totals");
  /* 0.002 + 0.005 + 0.0004 - 0.0001 */
  assert_true(fabs(json_real_value(json_object_get(tot, "saved_g")) - 0.0073) < 1e-12);
  json_t *lv = json_object_get(tot, "saved_by_lever");
  assert_true(fabs(json_real_value(json_object_get(lv, "directives")) - 0.005) < 1e-12);
  assert_true(fabs(json_real_value(json_object_get(lv, "shifting")) - 0.0004) < 1e-12);
  assert_true(fabs(json_real_value(json_object_get(lv, "evaluation")) + 0.0001) < 1e-12);
  assert_non_null(strstr(json_string_value(json_object_get(tot, "saved_label")), "directives"));
  json_t *d0 = json_array_get(json_object_get(j, "decisions"), 0);
  assert_string_equal(json_string_value(json_object_get(d0, "kind")), "eval");
  json_t *d2 = json_array_get(json_object_get(j, "decisions"), 2);
  assert_true(fabs(json_real_value(json_object_get(json_object_get(d2, "saved_g"), "routing")) -
                   0.002) < 1e-12);
  json_decref(j);
  free(s);
  eco_dash_free(d);
}

static void test_state_json(void **state) {
  (void)state;
  eco_dash *d;
  assert_int_equal(eco_dash_new("router", &d), 0);
  double now = 1.7e9;
  eco_dash_zone z = {.zone = "GB",
                     .gco2_kwh = 180,
                     .source = "trace:GB",
                     .n_forecast = 2,
                     .forecast_t = {now, now + 3600},
                     .forecast_v = {180, 150}};
  assert_int_equal(eco_dash_set_zone(d, &z), 0);
  eco_dash_node n = {.id = "orin-1",
                     .device = "jetson-orin-nx-8gb",
                     .zone = "GB",
                     .health = "up",
                     .queue = 2,
                     .batch = 4,
                     .tokens_per_s = 30,
                     .power_w = 15,
                     .power_source = "estimated",
                     .j_per_token = 0.5};
  assert_int_equal(eco_dash_set_node(d, &n), 0);
  n.circuit_open = true;
  assert_int_equal(eco_dash_set_node(d, &n), 0); /* update, not a second node */
  double mix[3] = {0.5, 0.3, 0.2};
  const char *lv[3] = {"L0", "L1", "L2"};
  eco_dash_set_directives(d, mix, lv, 3, 0.9);
  eco_dash_decision a = decision(now - 7, "r1", "carbon", 0.010, 0.011, 0.020);
  eco_dash_decision b = decision(now - 1, "r2", "greedy", 0.030, 0.030, 0.030);
  assert_int_equal(eco_dash_record(d, &a), 0);
  assert_int_equal(eco_dash_record(d, &b), 0);
  char *s = eco_dash_state_json(d, now);
  json_error_t je;
  json_t *j = json_loads(s, 0, &je);
  assert_non_null(j);
  assert_int_equal(json_array_size(json_object_get(j, "nodes")), 1);
  assert_true(json_is_true(
      json_object_get(json_array_get(json_object_get(j, "nodes"), 0), "circuit_open")));
  json_t *decs = json_object_get(j, "decisions");
  assert_int_equal(json_array_size(decs), 2);
  assert_string_equal(json_string_value(json_object_get(json_array_get(decs, 0), "request_id")),
                      "r2"); /* newest first */
  json_t *tot = json_object_get(j, "totals");
  assert_int_equal(json_integer_value(json_object_get(tot, "requests")), 2);
  assert_true(fabs(json_real_value(json_object_get(tot, "carbon_g")) - 0.040) < 1e-12);
  /* saved = (0.020 - 0.011) + (0.030 - 0.030) = 0.009 g, predicted */
  assert_true(fabs(json_real_value(json_object_get(tot, "saved_g")) - 0.009) < 1e-12);
  /* 1000 * 0.040 g / 80 output tokens = 0.5 g per 1k tokens */
  assert_true(fabs(json_real_value(json_object_get(tot, "g_per_1k_tokens")) - 0.5) < 1e-12);
  json_t *ser = json_object_get(j, "series");
  assert_int_equal(json_array_size(json_object_get(ser, "t")), 2); /* two 5 s buckets */
  json_t *gpr = json_object_get(ser, "g_per_req");
  assert_non_null(json_object_get(gpr, "carbon"));
  assert_non_null(json_object_get(gpr, "greedy"));
  json_t *saved = json_object_get(ser, "saved_g");
  assert_true(fabs(json_real_value(json_array_get(saved, 1)) - 0.009) < 1e-12);
  json_decref(j);
  free(s);
  assert_int_equal(eco_dash_remove_node(d, "orin-1"), 0);
  assert_int_equal(eco_dash_remove_node(d, "orin-1"), ECO_ENOENT);
  eco_dash_free(d);
}

static void *record_later(void *arg) {
  eco_time_sleep_s(0.4);
  eco_dash_decision y = decision(eco_time_wall_s(), "req-sse", "carbon", 0.01, 0.01, 0.02);
  eco_dash_record(arg, &y);
  return NULL;
}

static void test_http_endpoints_and_sse(void **state) {
  (void)state;
  eco_dash *d;
  assert_int_equal(eco_dash_new("router", &d), 0);
  srv s;
  srv_start(&s, d);
  buf b;
  assert_int_equal(get(s.port, "/dashboard", 2000, &b), 200);
  assert_non_null(strstr(b.data, "<title>ecoinfer"));
  if (eco_dash_bundled()) {
    assert_non_null(strstr(b.data, "uplot")); /* uPlot's CSS class is in the bundle */
    assert_null(strstr(b.data, "https://"));  /* no CDN */
  } else {
    print_message("SKIP: dashboard bundle not built (npm unavailable at build time)\n");
  }
  free(b.data);
  eco_dash_decision x = decision(eco_time_wall_s(), "req-42", "slo-carbon", 0.01, 0.01, 0.02);
  eco_dash_record(d, &x);
  assert_int_equal(get(s.port, "/dashboard/api/state", 2000, &b), 200);
  assert_non_null(strstr(b.data, "\"req-42\""));
  free(b.data);
  /* SSE: the stream opens with a state event; a decision recorded while it
   * is open arrives as a decision event within a push interval (0.2 s). */
  pthread_t th;
  pthread_create(&th, NULL, record_later, d);
  long st = get(s.port, "/dashboard/api/events", 1200, &b);
  pthread_join(th, NULL);
  assert_int_equal(st, 200);
  assert_non_null(strstr(b.data, "event: state\ndata: {"));
  const char *ev = strstr(b.data, "event: decision\ndata: {");
  assert_non_null(ev);
  assert_non_null(strstr(ev, "\"request_id\":\"req-sse\""));
  free(b.data);
  assert_int_equal(get(s.port, "/dashboard/api/none", 2000, &b), 404);
  free(b.data);
  srv_stop(&s);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_state_json),
      cmocka_unit_test(test_saved_levers),
      cmocka_unit_test(test_http_endpoints_and_sse),
  };
  int rc = cmocka_run_group_tests_name("dashboard", tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
