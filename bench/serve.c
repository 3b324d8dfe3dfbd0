/* bench_serve: bounded wrk load on the node server over loopback.
 *
 * Starts the server in-process with the fake backend (unthrottled, so the
 * numbers measure the HTTP + JSON + threading path, not a model), then runs
 * wrk against POST /v1/chat/completions at concurrency 1, 4 and 16 and, as
 * the peer measured in the same run, against GET /health (the same HTTP
 * stack with no generation). Prints requests/s, p50/p99 latency and the
 * ratio chat/health.
 *
 * With a MODEL argument the server runs the real batching engine on that
 * GGUF instead (e.g. ../shared/models/stories260K-f32.gguf), so the numbers
 * include generation.
 *
 * Usage: bench_serve [SECONDS_PER_POINT=3] [MAX_TOKENS=16] [ATTRIBUTION=meter|cpu-time] [MODEL]
 * (meter: the default serve path, polling the node meter at each request
 * start and finish; cpu-time: no meter polls).
 * Needs wrk on PATH. */
#include "server/backend_engine.h"
#include "server/backend_fake.h"
#include "server/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct point {
  double rps, p50_ms, p99_ms;
  long non2xx, errors;
} point;

static double to_ms(const char *v) {
  double x = atof(v);
  if (strstr(v, "us")) return x / 1000;
  if (strstr(v, "ms")) return x;
  if (strstr(v, "s")) return x * 1000;
  return x;
}

static int run_wrk(const char *url, const char *lua, int conc, int secs, point *p) {
  char cmd[1024];
  int threads = conc < 2 ? 1 : 2;
  snprintf(cmd, sizeof cmd, "wrk -t%d -c%d -d%ds --latency %s%s %s 2>&1", threads, conc, secs,
           lua ? "-s " : "", lua ? lua : "", url);
  FILE *f = popen(cmd, "r");
  if (!f) return -1;
  memset(p, 0, sizeof *p);
  char line[512];
  while (fgets(line, sizeof line, f)) {
    char v[64];
    if (sscanf(line, " 50%% %63s", v) == 1) p->p50_ms = to_ms(v);
    if (sscanf(line, " 99%% %63s", v) == 1) p->p99_ms = to_ms(v);
    if (strncmp(line, "Requests/sec:", 13) == 0) p->rps = atof(line + 13);
    if (strstr(line, "Non-2xx or 3xx responses:")) p->non2xx = atol(strchr(line, ':') + 1);
    if (strstr(line, "Socket errors:")) p->errors = 1;
  }
  return pclose(f) == 0 ? 0 : -1;
}

/* The backend: the batching engine on model, or the fake one unthrottled.
 * Returns 0 or 1 (a message on stderr for the engine). */
static int make_backend(const char *model, eco_backend *be) {
  if (model) {
    eco_backend_engine_cfg bc = {.model_path = model, .max_batch = 16, .max_queue = 256};
    eco_error berr = {0};
    if (eco_backend_engine_new(&bc, be, &berr)) {
      fprintf(stderr, "bench_serve: %s\n", eco_error_text(&berr));
      return 1;
    }
    return 0;
  }
  eco_fake_cfg fc;
  eco_fake_cfg_default(&fc);
  fc.tokens_per_s = 0; /* unthrottled */
  fc.max_batch = 16;
  fc.queue_cap = 256;
  fc.stop_at_script_end = false;
  return eco_backend_fake_new(&fc, be) ? 1 : 0;
}

/* Writes wrk's Lua script for one chat request of max_tokens to a new
 * temporary file whose name goes to lua (a mkstemp template). Returns 0 or 1. */
static int write_lua(const eco_backend *be, int max_tokens, char *lua) {
  int fd = mkstemp(lua);
  if (fd < 0) return 1;
  eco_backend_info bi;
  if (be->vt->info(be->self, &bi)) return 1;
  char script[768];
  int n = snprintf(script, sizeof script,
                   "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"
                   "wrk.body = '{\"model\":\"%s\",\"max_tokens\":%d,\"messages\":"
                   "[{\"role\":\"user\",\"content\":\"hello there\"}]}'\n",
                   bi.model_name, max_tokens);
  if (write(fd, script, (size_t)n) != n) return 1;
  close(fd);
  return 0;
}

/* The measured points: /health then chat at concurrency 1, 4 and 16, one
 * table row each. Returns 0 or 1 when wrk fails. */
static int run_points(int port, const char *lua, int secs) {
  char chat_url[128], health_url[128];
  snprintf(chat_url, sizeof chat_url, "http://127.0.0.1:%d/v1/chat/completions", port);
  snprintf(health_url, sizeof health_url, "http://127.0.0.1:%d/health", port);
  printf("%-6s %-12s %12s %10s %10s %8s %14s\n", "conc", "endpoint", "req/s", "p50 ms", "p99 ms",
         "non2xx", "chat/health");
  static const int concs[] = {1, 4, 16};
  for (size_t i = 0; i < 3; i++) {
    point h, c;
    if (run_wrk(health_url, NULL, concs[i], secs, &h) ||
        run_wrk(chat_url, lua, concs[i], secs, &c)) {
      fprintf(stderr, "bench_serve: wrk failed\n");
      return 1;
    }
    printf("%-6d %-12s %12.0f %10.3f %10.3f %8ld %14s\n", concs[i], "/health", h.rps, h.p50_ms,
           h.p99_ms, h.non2xx, "");
    printf("%-6d %-12s %12.0f %10.3f %10.3f %8ld %13.2fx\n", concs[i], "chat", c.rps, c.p50_ms,
           c.p99_ms, c.non2xx, h.rps > 0 ? c.rps / h.rps : 0);
    fflush(stdout);
  }
  return 0;
}

int main(int argc, char **argv) {
  int secs = argc > 1 ? atoi(argv[1]) : 3;
  int max_tokens = argc > 2 ? atoi(argv[2]) : 16;
  const char *attribution = argc > 3 ? argv[3] : "meter";
  const char *model = argc > 4 ? argv[4] : NULL;
  if (secs < 1 || max_tokens < 1) {
    fprintf(stderr, "usage: bench_serve [SECONDS_PER_POINT] [MAX_TOKENS]\n");
    return 2;
  }
  if (system("command -v wrk >/dev/null 2>&1") != 0) {
    fprintf(stderr, "bench_serve: wrk not found (scripts/install-deps.sh installs it)\n");
    return 1;
  }
  eco_backend be;
  if (make_backend(model, &be)) return 1;
  eco_server_cfg sc;
  eco_server_cfg_default(&sc);
  sc.port = 0;
  sc.admin_port = -1;
  eco_logger lg;
  eco_log_init(&lg);
  lg.level = ECO_LOG_WARN;
  eco_cfg *cfg;
  eco_acct_state st;
  eco_accounting acct;
  eco_error err = {0};
  eco_server *srv;
  if (eco_cfg_new_empty(&cfg) || eco_cfg_set(cfg, "energy.attribution", attribution, "argv[3]") ||
      eco_acct_open(cfg, "bench", &st, &acct, &err) ||
      eco_server_new(&sc, &be, &acct, &lg, &srv, &err) || eco_server_start(srv)) {
    fprintf(stderr, "bench_serve: %s\n", eco_error_text(&err));
    return 1;
  }
  char lua[] = "/tmp/eco_bench_serve_XXXXXX";
  if (write_lua(&be, max_tokens, lua)) return 1;
  printf("bench_serve: %s (%d tokens/request), %d s per point, loopback, "
         "energy attribution %s (%s)\n",
         model ? model : "fake backend, unthrottled", max_tokens, secs, attribution,
         st.meter ? st.meter->src.name : "no meter");
  int rc = run_points(eco_server_port(srv), lua, secs);
  unlink(lua);
  eco_server_shutdown(srv);
  eco_server_join(srv);
  eco_server_free(srv);
  be.vt->destroy(be.self);
  eco_acct_close(&st);
  eco_cfg_free(cfg);
  return rc;
}
