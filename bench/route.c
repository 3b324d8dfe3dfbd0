/* bench_route: the router's two costs.
 *
 * 1. Decision time: eco_policy_choose over N node views (default 1000) for
 *    every policy, against a peer measured in the same run: one pass that
 *    only reads one double per view and keeps the minimum (the memory-bound
 *    floor of any O(n) policy). Goal: < 20 us per decision at 1000 nodes.
 *
 * 2. Proxy overhead and throughput: a minimal OpenAI-style backend (libevent,
 *    fixed chat.completion JSON with usage) in this process, the router in
 *    front of it, and a bounded wrk load (POST /v1/chat/completions) first
 *    straight at the backend, then through the router. Reports requests/s
 *    and p50/p99 of both and the differences. Needs wrk on PATH (else part
 *    2 is skipped with a message).
 *
 * Usage: bench_route [--nodes N] [--iters K] [--duration S] [--conns C]
 *                    [--threads T] [--no-wrk]
 * The numbers depend on the machine and its load: say so when you quote
 * them. */
#include "policy/policy.h"
#include "router/router.h"
#include "util/timeutil.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double urand(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (double)(rng_state >> 11) / 9007199254740992.0;
}

static void make_nodes(eco_node_view *v, size_t n) {
  memset(v, 0, n * sizeof *v);
  for (size_t i = 0; i < n; i++) {
    snprintf(v[i].id, sizeof v[i].id, "n%zu", i);
    v[i].intensity_gco2_kwh = 20 + 780 * urand();
    v[i].pue = 1.0 + 0.5 * urand();
    v[i].embodied_g_per_s = 1e-4 * urand();
    v[i].profile.prefill_s_per_tok = 1e-4 + 2e-3 * urand();
    v[i].profile.decode_s_per_tok = 5e-3 + 5e-2 * urand();
    v[i].profile.batch_slowdown = 0.1 * urand();
    v[i].profile.prefill_j_per_tok = 0.01 + 0.2 * urand();
    v[i].profile.decode_j_per_tok = 0.1 + 2 * urand();
    v[i].profile.service_s = 1 + 4 * urand();
    v[i].max_batch = 1 + (uint32_t)(8 * urand());
    v[i].active_batch = (uint32_t)(v[i].max_batch * urand());
    v[i].queue_depth = urand() < 0.3 ? (uint32_t)(4 * urand()) : 0;
    v[i].health = urand() < 0.05 ? ECO_NODE_DOWN : ECO_NODE_UP;
  }
}

static int bench_decisions(size_t n, long iters) {
  eco_node_view *v = calloc(n, sizeof *v);
  if (!v) return 1;
  make_nodes(v, n);
  printf("== decision time, %zu nodes, %ld decisions per policy ==\n", n, iters);
  /* peer: the floor, a min-scan reading one double per view */
  volatile double sink = 0;
  uint64_t t0 = eco_time_mono_ns();
  for (long k = 0; k < iters; k++) {
    double m = 1e300;
    size_t best = 0;
    for (size_t i = 0; i < n; i++) {
      double x = v[i].intensity_gco2_kwh + (double)k;
      if (x < m) {
        m = x;
        best = i;
      }
    }
    sink += (double)best;
  }
  double floor_ns = (double)(eco_time_mono_ns() - t0) / (double)iters;
  printf("%-12s %10.0f ns/decision   (peer: one-double min-scan over the views; wall clock, "
         "cpu-ns = this thread's CPU time)\n",
         "floor", floor_ns);
  int bad = 0;
  for (int p = 0; p < ECO_POLICY_COUNT; p++) {
    eco_policy pol = {.kind = (eco_policy_kind)p, .default_slo_s = 3.0};
    eco_route_prediction out;
    t0 = eco_time_mono_ns();
    double c0 = eco_time_thread_cpu_s();
    for (long k = 0; k < iters; k++) {
      eco_route_request rq = {.prompt_tokens = 50 + (uint32_t)(k % 500),
                              .max_tokens = 256,
                              .expected_out_tokens = 64 + (double)(k % 128)};
      if (eco_policy_choose(&pol, &rq, v, n, &out) != 0) bad++;
      pol.rr_cursor = out.rr_next;
      sink += (double)out.node;
    }
    double ns = (double)(eco_time_mono_ns() - t0) / (double)iters;
    double cpu_ns = (eco_time_thread_cpu_s() - c0) * 1e9 / (double)iters;
    printf("%-12s %10.0f ns/decision   %10.0f cpu-ns   %6.2fx floor   %s goal 20000 ns\n",
           eco_policy_name((eco_policy_kind)p), ns, cpu_ns, ns / floor_ns,
           ns < 20000 ? "under" : "OVER");
  }
  (void)sink;
  free(v);
  return bad ? 1 : 0;
}

/* ---- minimal backend ------------------------------------------------------ */

static const char *const answer =
    "{\"id\":\"b\",\"object\":\"chat.completion\",\"created\":0,\"model\":\"m\",\"choices\":[{"
    "\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"ok\"},\"finish_reason\":"
    "\"stop\"}],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":1,\"total_tokens\":10}}";

typedef struct backend {
  struct event_base *base;
  struct evhttp *http;
  struct event *wake;
  pthread_t th;
  int port;
} backend;

static void on_backend(struct evhttp_request *req, void *arg) {
  (void)arg;
  struct evbuffer *b = evbuffer_new();
  evbuffer_add_reference(b, answer, strlen(answer), NULL, NULL);
  evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
  evhttp_send_reply(req, 200, "OK", b);
  evbuffer_free(b);
}

static void on_wake(evutil_socket_t fd, short ev, void *arg) {
  (void)fd;
  (void)ev;
  event_base_loopbreak(arg);
}

static void *backend_loop(void *arg) {
  backend *b = arg;
  event_base_dispatch(b->base);
  return NULL;
}

static int backend_start(backend *b) {
  struct event_config *ec = event_config_new();
  if (ec) event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
  b->base = ec ? event_base_new_with_config(ec) : event_base_new();
  if (ec) event_config_free(ec);
  b->http = b->base ? evhttp_new(b->base) : NULL;
  if (!b->http) return -1;
  evhttp_set_gencb(b->http, on_backend, b);
  struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(b->http, "127.0.0.1", 0);
  if (!bs) return -1;
  struct sockaddr_in sa = {0};
  socklen_t sl = sizeof sa;
  if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sa, &sl) != 0) return -1;
  b->port = ntohs(sa.sin_port);
  b->wake = event_new(b->base, -1, 0, on_wake, b->base);
  return pthread_create(&b->th, NULL, backend_loop, b);
}

static void backend_stop(backend *b) {
  event_active(b->wake, EV_READ, 0);
  pthread_join(b->th, NULL);
  event_free(b->wake);
  evhttp_free(b->http);
  event_base_free(b->base);
}

static void *router_loop(void *arg) {
  eco_router_run(arg);
  return NULL;
}

typedef struct wrk_res {
  double rps, p50_ms, p99_ms;
} wrk_res;

static double to_ms(double v, const char *unit) {
  if (strncmp(unit, "us", 2) == 0) return v / 1e3;
  if (strncmp(unit, "ms", 2) == 0) return v;
  if (unit[0] == 's') return v * 1e3;
  return v;
}

static int run_wrk(const char *url, const char *script, int threads, int conns, int dur,
                   wrk_res *r) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "wrk -t%d -c%d -d%ds --latency -s %s %s/v1/chat/completions 2>&1",
           threads, conns, dur, script, url);
  FILE *f = popen(cmd, "r");
  if (!f) return -1;
  char line[512];
  memset(r, 0, sizeof *r);
  long non2xx = 0;
  while (fgets(line, sizeof line, f)) {
    double v;
    char unit[16];
    if (sscanf(line, " 50%% %lf%15s", &v, unit) == 2) r->p50_ms = to_ms(v, unit);
    if (sscanf(line, " 99%% %lf%15s", &v, unit) == 2) r->p99_ms = to_ms(v, unit);
    if (sscanf(line, "Requests/sec: %lf", &v) == 1) r->rps = v;
    if (sscanf(line, " Non-2xx or 3xx responses: %ld", &non2xx) == 1) {
    }
  }
  int rc = pclose(f);
  if (non2xx) fprintf(stderr, "bench_route: %ld non-2xx answers\n", non2xx);
  return rc == 0 && r->rps > 0 && non2xx == 0 ? 0 : -1;
}

/* Writes wrk's Lua script (one chat request) to a new temporary file whose
 * name goes to path (a mkstemp template). Returns 0 or 1. */
static int write_script(char *path) {
  int fd = mkstemp(path);
  if (fd < 0) return 1;
  const char *lua = "wrk.method = \"POST\"\n"
                    "wrk.body = '{\"model\":\"m\",\"max_tokens\":16,\"messages\":[{\"role\":"
                    "\"user\",\"content\":\"hello there\"}]}'\n"
                    "wrk.headers[\"Content-Type\"] = \"application/json\"\n";
  if (write(fd, lua, strlen(lua)) != (ssize_t)strlen(lua)) return 1;
  close(fd);
  return 0;
}

/* A router (carbon policy) in front of the one backend at backend_port,
 * running on *rt; NULL (a message on stderr) when it cannot be made. The
 * router copies the node's configuration. */
static eco_router *router_start(int backend_port, pthread_t *rt) {
  eco_router_cfg cfg;
  eco_router_cfg_default(&cfg);
  cfg.port = 0;
  cfg.admin_port = -1;
  cfg.policy = ECO_POLICY_CARBON;
  cfg.health_interval_s = 1;
  eco_router_node_cfg node;
  memset(&node, 0, sizeof node);
  snprintf(node.id, sizeof node.id, "backend");
  snprintf(node.url, sizeof node.url, "http://127.0.0.1:%d", backend_port);
  snprintf(node.zone, sizeof node.zone, "SE");
  snprintf(node.device, sizeof node.device, "cpu");
  snprintf(node.health_path, sizeof node.health_path, "/health");
  node.max_batch = 64;
  node.has_profile = true;
  eco_profile_from_rates(&node.profile, 1000, 50, 0.5, 0.001, 0.05);
  cfg.nodes = &node;
  cfg.n_nodes = 1;
  eco_logger lg;
  eco_log_init(&lg);
  lg.level = ECO_LOG_ERROR;
  eco_router *r = NULL;
  eco_error err = {0};
  if (eco_router_new(&cfg, &lg, &r, &err) != 0) {
    fprintf(stderr, "bench_route: %s\n", eco_error_text(&err));
    return NULL;
  }
  pthread_create(rt, NULL, router_loop, r);
  return r;
}

/* Prints both runs, the overhead and the CPU per request: direct_cpu_s and
 * routed_cpu_s are this process's CPU seconds during each run (the backend
 * in both, the router only in the second). */
static void proxy_report(const wrk_res *direct, const wrk_res *routed, double direct_cpu_s,
                         double routed_cpu_s, int dur) {
  printf("%-8s %10s %10s %10s\n", "", "req/s", "p50 ms", "p99 ms");
  printf("%-8s %10.0f %10.3f %10.3f\n", "direct", direct->rps, direct->p50_ms, direct->p99_ms);
  printf("%-8s %10.0f %10.3f %10.3f\n", "router", routed->rps, routed->p50_ms, routed->p99_ms);
  printf("overhead: p50 %+.3f ms, p99 %+.3f ms (goal p99 < 1 ms); router/direct throughput "
         "%.2f (goal >= 10k req/s through the router: %s)\n",
         routed->p50_ms - direct->p50_ms, routed->p99_ms - direct->p99_ms,
         routed->rps / direct->rps, routed->rps >= 10000 ? "met" : "not met");
  /* CPU cost, independent of how busy the machine is */
  double be_us = direct_cpu_s * 1e6 / (direct->rps * dur);
  double all_us = routed_cpu_s * 1e6 / (routed->rps * dur);
  double router_us = all_us - be_us;
  printf("cpu per request: backend %.1f us, backend+router %.1f us -> router %.1f us "
         "(= %.0f req/s per fully available core)\n",
         be_us, all_us, router_us, router_us > 0 ? 1e6 / router_us : 0);
}

/* Warms up the router's pool, then runs wrk straight at the backend and
 * through the router and reports. Returns 0 or 1 when wrk fails. */
static int proxy_measure(const char *burl, const char *rurl, const char *script, int threads,
                         int conns, int dur) {
  printf("== proxy: wrk -t%d -c%d -d%ds, POST /v1/chat/completions ==\n", threads, conns, dur);
  wrk_res direct, routed;
  /* warm-up of the router's pool */
  wrk_res warm;
  (void)run_wrk(rurl, script, 1, conns, 1, &warm);
  double c0 = eco_time_process_cpu_s();
  int e1 = run_wrk(burl, script, threads, conns, dur, &direct);
  double c1 = eco_time_process_cpu_s();
  int e2 = run_wrk(rurl, script, threads, conns, dur, &routed);
  double c2 = eco_time_process_cpu_s();
  if (e1 != 0 || e2 != 0) {
    fprintf(stderr, "bench_route: wrk failed\n");
    return 1;
  }
  proxy_report(&direct, &routed, c1 - c0, c2 - c1, dur);
  return 0;
}

static int bench_proxy(int threads, int conns, int dur) {
  if (system("wrk --version >/dev/null 2>&1") != 0 && system("command -v wrk >/dev/null") != 0) {
    printf("== proxy: wrk not found, skipped ==\n");
    return 0;
  }
  signal(SIGPIPE, SIG_IGN);
  evthread_use_pthreads();
  backend b;
  memset(&b, 0, sizeof b);
  if (backend_start(&b) != 0) {
    fprintf(stderr, "bench_route: backend failed\n");
    return 1;
  }
  char script[] = "/tmp/bench_route_XXXXXX";
  if (write_script(script)) return 1;
  pthread_t rt;
  eco_router *r = router_start(b.port, &rt);
  if (!r) return 1;
  char burl[64], rurl[64];
  snprintf(burl, sizeof burl, "http://127.0.0.1:%d", b.port);
  snprintf(rurl, sizeof rurl, "http://127.0.0.1:%d", eco_router_port(r));
  int rc = proxy_measure(burl, rurl, script, threads, conns, dur);
  eco_router_stop(r);
  pthread_join(rt, NULL);
  eco_router_free(r);
  backend_stop(&b);
  unlink(script);
  return rc;
}

int main(int argc, char **argv) {
  size_t nodes = 1000;
  long iters = 20000;
  int dur = 5, conns = 32, threads = 2;
  bool wrk = true;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--nodes") && i + 1 < argc)
      nodes = (size_t)atol(argv[++i]);
    else if (!strcmp(argv[i], "--iters") && i + 1 < argc)
      iters = atol(argv[++i]);
    else if (!strcmp(argv[i], "--duration") && i + 1 < argc)
      dur = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--conns") && i + 1 < argc)
      conns = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
      threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--no-wrk"))
      wrk = false;
    else {
      fprintf(stderr, "usage: bench_route [--nodes N] [--iters K] [--duration S] [--conns C] "
                      "[--threads T] [--no-wrk]\n");
      return 2;
    }
  }
  if (nodes < 1 || iters < 1 || dur < 1 || dur > 60 || conns < 1 || threads < 1) {
    fprintf(stderr, "bench_route: bad arguments\n");
    return 2;
  }
  int rc = bench_decisions(nodes, iters);
  if (wrk) rc |= bench_proxy(threads, conns, dur);
  return rc;
}
