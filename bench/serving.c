/* bench_serving: `ecoinfer serve` against llama.cpp's `llama-server` on the
 * same GGUF file and the same number of threads, both driven by the same
 * closed-loop streaming client.
 *
 * For each workload and concurrency C, C clients each keep one streaming
 * chat request in flight (a new one as soon as the previous ends) until the
 * point's N requests are done; every request asks for exactly max_tokens
 * tokens (ignore_eos, which both servers accept). Workloads:
 *   distinct  every request a different user message (no shared prefix);
 *   shared    one long system prompt, then a different short user turn
 *             (what prefix reuse is for).
 * One warm-up request precedes each point (so a server that keeps prompt
 * caches starts warm on the shared workload, as it would in service).
 *
 * Per point: aggregate tok/s (generated tokens / wall time from the first
 * request to the last answer), TTFT p50/p95 (request sent -> first content
 * delta), latency p50/p95 (request sent -> end of stream), and the server
 * process's CPU time per generated token (/proc/PID/stat, all its threads).
 * CPU time is the energy proxy here: with a RAPL package counter readable
 * (/sys/class/powercap/intel-rapl:0/energy_uj) J/token is printed as well
 * (system-wide: it counts whatever else runs). Servers run one at a time,
 * never together; points alternate between them (ecoinfer first on even
 * repeats, llama-server first on odd ones) and each number is the median
 * over the repeats. The ratio columns are ecoinfer / llama-server.
 *
 * Usage: bench_serving -m MODEL.gguf [options]
 *   --ecoinfer BIN       ecoinfer binary (default ./build/ecoinfer)
 *   --llama-server BIN   default ~/.cache/ecoinfer/llama.cpp/src/build/bin/llama-server
 *                        when present (scripts/build-llama-bench.sh); "none" = skip
 *   -t N                 threads of both servers (default 2)
 *   --conc LIST          concurrencies (default 1,4,8,16)
 *   --requests N         requests per point, at least 2 x C (default 16)
 *   --max-tokens N       tokens per request (default 64)
 *   --repeats N          (default 3)
 *   --workloads LIST     distinct,shared (default both)
 *   --kv-type T          KV cache type of both servers, f16 (default) or f32
 *   --llama-arg ARG      one more llama-server argument (repeatable), e.g.
 *                        --llama-arg=--poll --llama-arg=0
 *   --md FILE            also write the tables as Markdown */
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_CONC 64
#define MAX_REP  9

typedef struct opts {
  const char *model, *ecoinfer, *llama, *kv_type, *md;
  const char *llama_args[8];
  int n_llama_args;
  int threads, requests, max_tokens, repeats;
  int conc[8], n_conc;
  bool wl[2]; /* distinct, shared */
} opts;

typedef struct server {
  const char *name;
  pid_t pid;
  int port;
  char log[256];
} server;

/* ---- servers ----------------------------------------------------------------- */

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t n = sizeof a;
  int port = -1;
  if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &n) == 0)
    port = ntohs(a.sin_port);
  if (fd >= 0) close(fd);
  return port;
}

static size_t sink_cb(char *p, size_t sz, size_t n, void *u) {
  (void)p;
  (void)u;
  return sz * n;
}

static long get_status(int port, const char *path) {
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
  CURL *c = curl_easy_init();
  long st = -1;
  if (!c) return st;
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_cb);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
  curl_easy_cleanup(c);
  return st;
}

/* Starts argv with extra environment entries; waits until GET /health is
 * 200. Returns 0, or -1 (the log file says why). */
static int start_server(server *s, char *const argv[], char *const env[]) {
  snprintf(s->log, sizeof s->log, "/tmp/bench_serving_%s_%d.log", s->name, (int)getpid());
  s->pid = fork();
  if (s->pid < 0) return -1;
  if (s->pid == 0) {
    int fd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    for (int i = 0; env && env[i]; i++)
      putenv(env[i]);
    execv(argv[0], argv);
    _exit(127);
  }
  const double until = eco_time_wall_s() + 600; /* a big model loads slowly on a busy host */
  while (eco_time_wall_s() < until) {
    int st;
    if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
      s->pid = 0;
      return -1;
    }
    if (get_status(s->port, "/health") == 200) return 0;
    usleep(200000);
  }
  return -1;
}

static void stop_server(server *s) {
  if (s->pid <= 0) return;
  kill(s->pid, SIGTERM);
  for (int i = 0; i < 100; i++) {
    if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
      s->pid = 0;
      return;
    }
    usleep(100000);
  }
  kill(s->pid, SIGKILL);
  waitpid(s->pid, NULL, 0);
  s->pid = 0;
}

/* CPU seconds of a process (all threads): utime + stime of /proc/PID/stat. */
static double proc_cpu_s(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
  unsigned long ut = 0, st = 0;
  if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
    return 0;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* RAPL package energy, J (system-wide), or -1 where it cannot be read. */
static double rapl_j(void) {
  FILE *f = fopen("/sys/class/powercap/intel-rapl:0/energy_uj", "r");
  if (!f) return -1;
  unsigned long long uj = 0;
  int ok = fscanf(f, "%llu", &uj) == 1;
  fclose(f);
  return ok ? (double)uj * 1e-6 : -1;
}

/* ---- workloads ------------------------------------------------------------------ */

static const char *const WORDS[] = {
    "river",   "garden", "silver",  "window", "planet", "orange", "market",  "winter", "signal",
    "forest",  "copper", "bridge",  "candle", "harbor", "pencil", "meadow",  "rocket", "violet",
    "thunder", "saddle", "lantern", "marble", "pepper", "voyage", "crystal", "falcon", "glacier",
    "hollow",  "island", "jungle",  "kettle", "ladder", "mirror", "needle",  "oyster", "puzzle"};
#define NWORDS (sizeof WORDS / sizeof WORDS[0])

static void words(eco_strbuf *sb, uint64_t seed, int n) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 12345;
  for (int i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    eco_sb_printf(sb, "%s%s", i ? " " : "", WORDS[x % NWORDS]);
  }
}

/* The request body of request i of a workload (0 distinct, 1 shared). */
static char *request_body(int wl, int i, int max_tokens) {
  eco_strbuf sys, user;
  eco_sb_init(&sys);
  eco_sb_init(&user);
  if (wl == 1) {
    eco_sb_puts(&sys, "You are the assistant of a small seaside town. Keep to these notes: ");
    words(&sys, 7, 220); /* the same for every request */
    words(&user, 1000 + (uint64_t)i, 12);
  } else {
    words(&user, 5000 + (uint64_t)i, 50);
  }
  json_t *msgs = json_array();
  if (sys.len)
    json_array_append_new(msgs,
                          json_pack("{s:s,s:s}", "role", "system", "content", eco_sb_str(&sys)));
  json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "user", "content", eco_sb_str(&user)));
  json_t *o = json_pack("{s:s,s:o,s:i,s:f,s:b,s:b,s:{s:b}}", "model", "bench", "messages", msgs,
                        "max_tokens", max_tokens, "temperature", 0.0, "ignore_eos", 1, "stream", 1,
                        "stream_options", "include_usage", 1);
  char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  eco_sb_free(&sys);
  eco_sb_free(&user);
  return s;
}

/* ---- the client ------------------------------------------------------------------ */

typedef struct req {
  CURL *h;
  struct curl_slist *hdr;
  char *body;
  eco_strbuf line;
  double t0, t_first, t_end; /* s, monotonic */
  long tokens, chunks, prompt_tokens, cached;
  bool done_marker;
} req;

static double now_s(void) { return (double)eco_time_mono_ns() * 1e-9; }

static void on_event(req *r, const char *data) {
  if (strcmp(data, "[DONE]") == 0) {
    r->done_marker = true;
    return;
  }
  json_t *o = json_loads(data, 0, NULL);
  if (!o) return;
  json_t *ch = json_array_get(json_object_get(o, "choices"), 0);
  const char *c = json_string_value(json_object_get(json_object_get(ch, "delta"), "content"));
  if (c && c[0]) {
    if (r->t_first == 0) r->t_first = now_s();
    r->chunks++;
  }
  json_t *u = json_object_get(o, "usage");
  if (json_is_object(u)) {
    r->tokens = (long)json_integer_value(json_object_get(u, "completion_tokens"));
    r->prompt_tokens = (long)json_integer_value(json_object_get(u, "prompt_tokens"));
    r->cached = (long)json_integer_value(
        json_object_get(json_object_get(u, "prompt_tokens_details"), "cached_tokens"));
  }
  json_decref(o);
}

static size_t on_data(char *p, size_t sz, size_t n, void *u) {
  req *r = u;
  for (size_t i = 0; i < sz * n; i++) {
    if (p[i] != '\n') {
      eco_sb_append(&r->line, p + i, 1);
      continue;
    }
    const char *l = eco_sb_str(&r->line);
    if (strncmp(l, "data: ", 6) == 0) on_event(r, l + 6);
    eco_sb_reset(&r->line);
  }
  return sz * n;
}

static void req_start(req *r, CURLM *m, int port, char *body) {
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/chat/completions", port);
  free(r->body);
  r->body = body;
  r->t0 = now_s();
  r->t_first = r->t_end = 0;
  r->tokens = r->chunks = r->prompt_tokens = r->cached = 0;
  r->done_marker = false;
  eco_sb_reset(&r->line);
  curl_easy_reset(r->h);
  curl_easy_setopt(r->h, CURLOPT_URL, url);
  curl_easy_setopt(r->h, CURLOPT_HTTPHEADER, r->hdr);
  curl_easy_setopt(r->h, CURLOPT_POSTFIELDS, r->body);
  curl_easy_setopt(r->h, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(r->h, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(r->h, CURLOPT_PRIVATE, r);
  curl_easy_setopt(r->h, CURLOPT_TIMEOUT, 1800L);
  curl_multi_add_handle(m, r->h);
}

typedef struct point {
  double tok_s, ttft_p50, ttft_p95, lat_p50, lat_p95, cpu_ms_tok, j_tok;
  double prompt_tokens, cached_frac; /* mean prompt tokens; cached / prompt tokens */
  int errors;
} point;

static int cmp_d(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* nearest-rank percentile of sorted v[n] */
static double pct(const double *v, int n, double p) {
  if (n <= 0) return 0;
  int k = (int)(p / 100.0 * n + 0.999999) - 1;
  return v[k < 0 ? 0 : k >= n ? n - 1 : k];
}

/* Runs n requests of workload wl with `conc` clients against s. */
static void run_point(const server *s, int wl, int conc, int n, int max_tokens, int seed0,
                      point *out) {
  CURLM *m = curl_multi_init();
  struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
  req rs[MAX_CONC];
  memset(rs, 0, sizeof rs);
  double *ttft = calloc((size_t)n, sizeof *ttft), *lat = calloc((size_t)n, sizeof *lat);
  for (int i = 0; i < conc; i++) {
    rs[i].h = curl_easy_init();
    rs[i].hdr = hdr;
    eco_sb_init(&rs[i].line);
  }
  const double cpu0 = proc_cpu_s(s->pid), j0 = rapl_j(), t_begin = now_s();
  int issued = 0, finished = 0, errors = 0, n_ok = 0;
  long tokens = 0, prompt = 0, cached = 0;
  for (int i = 0; i < conc && issued < n; i++, issued++)
    req_start(&rs[i], m, s->port, request_body(wl, seed0 + issued, max_tokens));
  double t_last = t_begin;
  while (finished < n) {
    int running = 0;
    curl_multi_perform(m, &running);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m, &left))) {
      if (msg->msg != CURLMSG_DONE) continue;
      req *r;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
      long status = 0;
      curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &status);
      r->t_end = t_last = now_s();
      const CURLcode cc = msg->data.result;
      curl_multi_remove_handle(m, r->h);
      finished++;
      const long got = r->tokens > 0 ? r->tokens : r->chunks;
      if (cc != CURLE_OK || status != 200 || !r->done_marker || got != max_tokens ||
          r->t_first == 0) {
        errors++;
      } else {
        ttft[n_ok] = r->t_first - r->t0;
        lat[n_ok] = r->t_end - r->t0;
        n_ok++;
        tokens += got;
        prompt += r->prompt_tokens;
        cached += r->cached;
      }
      if (issued < n) req_start(r, m, s->port, request_body(wl, seed0 + issued++, max_tokens));
    }
    if (finished < n) curl_multi_poll(m, NULL, 0, 100, NULL);
  }
  const double wall = t_last - t_begin, cpu = proc_cpu_s(s->pid) - cpu0, j1 = rapl_j();
  qsort(ttft, (size_t)n_ok, sizeof *ttft, cmp_d);
  qsort(lat, (size_t)n_ok, sizeof *lat, cmp_d);
  memset(out, 0, sizeof *out);
  out->tok_s = wall > 0 ? (double)tokens / wall : 0;
  out->ttft_p50 = pct(ttft, n_ok, 50);
  out->ttft_p95 = pct(ttft, n_ok, 95);
  out->lat_p50 = pct(lat, n_ok, 50);
  out->lat_p95 = pct(lat, n_ok, 95);
  out->cpu_ms_tok = tokens ? 1e3 * cpu / (double)tokens : 0;
  out->j_tok = tokens && j0 >= 0 && j1 >= j0 ? (j1 - j0) / (double)tokens : -1;
  out->prompt_tokens = n_ok ? (double)prompt / n_ok : 0;
  out->cached_frac = prompt ? (double)cached / (double)prompt : 0;
  out->errors = errors;
  for (int i = 0; i < conc; i++) {
    curl_easy_cleanup(rs[i].h);
    free(rs[i].body);
    eco_sb_free(&rs[i].line);
  }
  curl_slist_free_all(hdr);
  curl_multi_cleanup(m);
  free(ttft);
  free(lat);
}

/* ---- driver ------------------------------------------------------------------------ */

static int parse_list(const char *s, int *out, int cap) {
  int n = 0;
  for (const char *p = s; *p && n < cap;) {
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p || v < 1 || v > MAX_CONC) return -1;
    out[n++] = (int)v;
    p = *end == ',' ? end + 1 : end;
    if (*end && *end != ',') return -1;
  }
  return n;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_d);
  return n ? (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2) : 0;
}

/* The median point of reps[0..n) field by field. */
static point median_point(const point *reps, int n) {
  point m = {0};
  double v[MAX_REP] = {0};
#define MED(f)                                                                                     \
  for (int i = 0; i < n; i++)                                                                      \
    v[i] = reps[i].f;                                                                              \
  m.f = median(v, n);
  MED(tok_s)
  MED(ttft_p50)
  MED(ttft_p95)
  MED(lat_p50)
  MED(lat_p95)
  MED(cpu_ms_tok)
  MED(j_tok)
  MED(prompt_tokens)
  MED(cached_frac)
#undef MED
  for (int i = 0; i < n; i++)
    m.errors += reps[i].errors;
  return m;
}

static void usage(void) {
  fprintf(stderr,
          "usage: bench_serving -m MODEL.gguf [--ecoinfer BIN] [--llama-server BIN|none]\n"
          "  [-t THREADS] [--conc 1,4,8,16] [--requests N] [--max-tokens N]\n"
          "  [--repeats N] [--workloads distinct,shared] [--kv-type f16|f32] [--md FILE]\n");
}

static int parse_opts(int argc, char **argv, opts *o) {
  static char llama_default[512];
  const char *home = getenv("HOME");
  snprintf(llama_default, sizeof llama_default,
           "%s/.cache/ecoinfer/llama.cpp/src/build/bin/llama-server", home ? home : "/root");
  *o = (opts){.ecoinfer = "./build/ecoinfer",
              .llama = access(llama_default, X_OK) == 0 ? llama_default : NULL,
              .kv_type = "f16",
              .threads = 2,
              .requests = 16,
              .max_tokens = 64,
              .repeats = 3,
              .conc = {1, 4, 8, 16},
              .n_conc = 4,
              .wl = {true, true}};
  static const struct option lo[] = {{"model", 1, 0, 'm'},
                                     {"ecoinfer", 1, 0, 'e'},
                                     {"llama-server", 1, 0, 'l'},
                                     {"conc", 1, 0, 'c'},
                                     {"requests", 1, 0, 'n'},
                                     {"max-tokens", 1, 0, 'k'},
                                     {"repeats", 1, 0, 'r'},
                                     {"workloads", 1, 0, 'w'},
                                     {"kv-type", 1, 0, 'v'},
                                     {"md", 1, 0, 'o'},
                                     {"llama-arg", 1, 0, 'a'},
                                     {"threads", 1, 0, 't'},
                                     {0, 0, 0, 0}};
  int ch;
  while ((ch = getopt_long(argc, argv, "m:t:", lo, NULL)) != -1) {
    switch (ch) {
    case 'm': o->model = optarg; break;
    case 'e': o->ecoinfer = optarg; break;
    case 'l': o->llama = strcmp(optarg, "none") == 0 ? NULL : optarg; break;
    case 'c': o->n_conc = parse_list(optarg, o->conc, 8); break;
    case 'n': o->requests = atoi(optarg); break;
    case 'k': o->max_tokens = atoi(optarg); break;
    case 'r': o->repeats = atoi(optarg); break;
    case 'w':
      o->wl[0] = strstr(optarg, "distinct") != NULL;
      o->wl[1] = strstr(optarg, "shared") != NULL;
      break;
    case 'v': o->kv_type = optarg; break;
    case 'o': o->md = optarg; break;
    case 'a':
      if (o->n_llama_args == 8) return -1;
      o->llama_args[o->n_llama_args++] = optarg;
      break;
    case 't': o->threads = atoi(optarg); break;
    default: return -1;
    }
  }
  if (!o->model || o->n_conc < 1 || o->requests < 1 || o->max_tokens < 1 || o->repeats < 1 ||
      o->repeats > MAX_REP || o->threads < 1 || (!o->wl[0] && !o->wl[1]) ||
      (strcmp(o->kv_type, "f16") != 0 && strcmp(o->kv_type, "f32") != 0))
    return -1;
  return 0;
}

static int start_both(const opts *o, server *eco, server *lla) {
  char port[16], thr[16], ctx[16], np[16], kvt[64], env_thr[64], env_kv[64];
  eco->port = free_port();
  snprintf(port, sizeof port, "%d", eco->port);
  snprintf(env_thr, sizeof env_thr, "ECOINFER_SERVER_THREADS=%d", o->threads);
  snprintf(env_kv, sizeof env_kv, "ECOINFER_SERVER_KV_TYPE=%s", o->kv_type);
  char *eargv[] = {
      (char *)o->ecoinfer, "serve", "-m",           (char *)o->model, "--port",      port,
      "--admin-port",      "-1",    "--model-name", "bench",          "--no-ledger", NULL};
  char *eenv[] = {env_thr,
                  env_kv,
                  "ECOINFER_SERVER_MAX_BATCH=16",
                  "ECOINFER_SERVER_CONTEXT_LENGTH=2048",
                  "ECOINFER_SERVER_MAX_QUEUE=256",
                  NULL};
  if (start_server(eco, eargv, eenv)) {
    fprintf(stderr, "bench_serving: ecoinfer serve did not start (see %s)\n", eco->log);
    return -1;
  }
  if (!o->llama) return 0;
  lla->port = free_port();
  snprintf(port, sizeof port, "%d", lla->port);
  snprintf(thr, sizeof thr, "%d", o->threads);
  snprintf(np, sizeof np, "%d", 16);
  snprintf(ctx, sizeof ctx, "%d", 16 * 2048); /* 2048 per slot, as ecoinfer's context */
  snprintf(kvt, sizeof kvt, "%s", o->kv_type);
  char *largv[32] = {(char *)o->llama,
                     "-m",
                     (char *)o->model,
                     "--port",
                     port,
                     "-t",
                     thr,
                     "-tb",
                     thr,
                     "-np",
                     np,
                     "-c",
                     ctx,
                     "-ctk",
                     kvt,
                     "-ctv",
                     kvt};
  int na = 17;
  for (int i = 0; i < o->n_llama_args; i++)
    largv[na++] = (char *)o->llama_args[i];
  largv[na] = NULL;
  if (start_server(lla, largv, NULL)) {
    fprintf(stderr, "bench_serving: llama-server did not start (see %s)\n", lla->log);
    return -1;
  }
  return 0;
}

static void print_table(FILE *f, const opts *o, int wl, const point *pe, const point *pl) {
  const bool peer = o->llama != NULL;
  fprintf(f, "\n%s workload (%s), %d tokens per request, %d threads, median of %d repeats\n\n",
          wl ? "shared" : "distinct",
          wl ? "one long system prompt, distinct user turns" : "every prompt different",
          o->max_tokens, o->threads, o->repeats);
  fprintf(f,
          "| conc | server | agg tok/s | TTFT p50 s | TTFT p95 s | latency p50 s | latency p95 s "
          "| CPU ms/token | J/token | prompt tok | cached | errors |\n"
          "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (int c = 0; c < o->n_conc; c++)
    for (int k = 0; k < (peer ? 3 : 1); k++) {
      const point *e = &pe[c], *l = &pl[c];
      if (k < 2) {
        const point *p = k ? l : e;
        char j[32] = "n/a";
        if (p->j_tok >= 0) snprintf(j, sizeof j, "%.3f", p->j_tok);
        fprintf(f,
                "| %d | %s | %.1f | %.3f | %.3f | %.3f | %.3f | %.2f | %s | %.0f | %.0f%% | %d |\n",
                o->conc[c], k ? "llama-server" : "ecoinfer", p->tok_s, p->ttft_p50, p->ttft_p95,
                p->lat_p50, p->lat_p95, p->cpu_ms_tok, j, p->prompt_tokens, 100 * p->cached_frac,
                p->errors);
      } else {
#define R(a, b) ((b) > 0 ? (a) / (b) : 0)
        fprintf(f,
                "| %d | **ratio** | **%.2fx** | %.2fx | %.2fx | %.2fx | %.2fx | %.2fx | | | | |\n",
                o->conc[c], R(e->tok_s, l->tok_s), R(e->ttft_p50, l->ttft_p50),
                R(e->ttft_p95, l->ttft_p95), R(e->lat_p50, l->lat_p50), R(e->lat_p95, l->lat_p95),
                R(e->cpu_ms_tok, l->cpu_ms_tok));
#undef R
      }
    }
}

int main(int argc, char **argv) {
  opts o;
  if (parse_opts(argc, argv, &o)) {
    usage();
    return 2;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  signal(SIGPIPE, SIG_IGN);
  server eco = {.name = "ecoinfer"}, lla = {.name = "llama-server"};
  if (start_both(&o, &eco, &lla)) {
    stop_server(&eco);
    stop_server(&lla);
    return 1;
  }
  printf("model %s; ecoinfer %s; llama-server %s; %d threads; KV %s", o.model, o.ecoinfer,
         o.llama ? o.llama : "(none)", o.threads, o.kv_type);
  for (int i = 0; i < o.n_llama_args; i++)
    printf("%s%s", i ? " " : "; llama-server args: ", o.llama_args[i]);
  printf("\n");
  static point reps[2][8][2][MAX_REP]; /* [workload][conc][server][repeat] */
  int seed = 0;
  for (int r = 0; r < o.repeats; r++)
    for (int wl = 0; wl < 2; wl++) {
      if (!o.wl[wl]) continue;
      for (int c = 0; c < o.n_conc; c++) {
        const int conc = o.conc[c], n = o.requests > 2 * conc ? o.requests : 2 * conc;
        for (int k = 0; k < (o.llama ? 2 : 1); k++) {
          const int who = (r % 2) ? 1 - k : k; /* alternate which server goes first */
          if (who == 1 && !o.llama) continue;
          const server *s = who ? &lla : &eco;
          point warm;
          run_point(s, wl, 1, 1, o.max_tokens, 900000 + seed, &warm); /* warm-up, not kept */
          run_point(s, wl, conc, n, o.max_tokens, seed, &reps[wl][c][who][r]);
          const point *p = &reps[wl][c][who][r];
          fprintf(stderr,
                  "repeat %d %s conc %d %s: %.1f tok/s, TTFT p50 %.3f s, latency p50 %.3f s, "
                  "%.2f CPU ms/tok, %d errors\n",
                  r, wl ? "shared" : "distinct", conc, s->name, p->tok_s, p->ttft_p50, p->lat_p50,
                  p->cpu_ms_tok, p->errors);
        }
        seed += n; /* the same prompts for both servers, new ones for the next point */
      }
    }
  stop_server(&eco);
  stop_server(&lla);
  FILE *md = o.md ? fopen(o.md, "w") : NULL;
  for (int wl = 0; wl < 2; wl++) {
    if (!o.wl[wl]) continue;
    point pe[8], pl[8];
    for (int c = 0; c < o.n_conc; c++) {
      pe[c] = median_point(reps[wl][c][0], o.repeats);
      pl[c] = o.llama ? median_point(reps[wl][c][1], o.repeats) : (point){0};
    }
    print_table(stdout, &o, wl, pe, pl);
    if (md) print_table(md, &o, wl, pe, pl);
  }
  if (md) fclose(md);
  curl_global_cleanup();
  return 0;
}
