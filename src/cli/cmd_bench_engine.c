/* ecoinfer bench engine: prompt processing (pp64) and decode (tg64) speed
 * at 1 and 2 threads, this machine's read bandwidth measured in the same
 * run (a STREAM-like sum over a buffer much larger than the caches), decode
 * as a fraction of the bandwidth ceiling (bandwidth / weight bytes read per
 * token), and llama-bench ratios when ECO_PEER_LLAMA_BENCH names one.
 * Both sides report the same statistic: the median of --reps runs, ours and
 * llama-bench's (one repetition per call) interleaved, so that a change in
 * the machine's load during the run hits both alike. */
#include "cli/subcmd.h"
#include "engine/model.h"
#include "engine/pool.h"
#include "util/cpu.h"
#include "util/timeutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static const eco_opt opts[] = {
    {"model", 'm', "FILE", NULL, "GGUF model (e.g. from `ecoinfer bench synth`)"},
    {"threads", 't', "LIST", NULL, "thread counts, comma-separated (default 1,2)"},
    {"reps", 'r', "N", NULL, "repetitions, median reported (default 5)"},
    {"n-prompt", 0, "N", NULL, "prompt tokens (default 64)"},
    {"n-gen", 0, "N", NULL, "generated tokens (default 64)"},
    {"bw-mb", 0, "MB", NULL, "bandwidth buffer size in MB (default 512)"},
    {"no-repack", 0, NULL, NULL, "keep the file's weight layout (no 8-row packing), to compare"},
};

static const eco_cmd_spec spec = {
    .name = "bench engine",
    .usage = "-m FILE [options]",
    .summary = "Measure pp64/tg64 speed against the memory-bandwidth ceiling (and llama-bench).",
    .details = "Set ECO_PEER_LLAMA_BENCH=/path/to/llama-bench to also run llama.cpp on the same\n"
               "file and thread counts and print our/peer ratios. Each side reports the median\n"
               "of --reps runs; ours and llama-bench's (-r 1 per call) alternate.",
    .opts = opts,
    .n_opts = sizeof opts / sizeof opts[0],
    .min_args = 0,
    .max_args = 0,
};

typedef struct bw_job {
  const uint64_t *buf;
  size_t n;            /* words */
  uint64_t sums[1024]; /* per thread, keeps the reads alive */
} bw_job;

static void bw_worker(void *arg, int ith, int nth) {
  bw_job *j = arg;
  size_t a = j->n * (size_t)ith / (size_t)nth, b = j->n * (size_t)(ith + 1) / (size_t)nth;
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (size_t i = a; i + 4 <= b; i += 4) {
    s0 += j->buf[i];
    s1 += j->buf[i + 1];
    s2 += j->buf[i + 2];
    s3 += j->buf[i + 3];
  }
  j->sums[ith] = s0 + s1 + s2 + s3;
}

/* Read bandwidth in bytes/s with nth threads: best of reps passes. The
 * buffer is mapped like the engine's repacked weights (2 MiB aligned, huge
 * pages requested), so the ceiling is measured under the same conditions
 * the decode loop runs in (4 KiB pages read about 10 % slower here). */
static double read_bandwidth(int nth, size_t bytes, int reps) {
  eco_pool *p;
  if (eco_pool_new(nth, &p, NULL)) return 0;
  bw_job *j = calloc(1, sizeof *j);
  const size_t huge = (size_t)2 << 20;
  bytes = (bytes + huge - 1) & ~(huge - 1);
  uint8_t *map =
      mmap(NULL, bytes + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  uint64_t *buf = NULL;
  if (map != MAP_FAILED) {
    buf = (uint64_t *)(void *)(((uintptr_t)map + huge - 1) & ~(uintptr_t)(huge - 1));
#ifdef MADV_HUGEPAGE
    (void)madvise(buf, bytes, MADV_HUGEPAGE);
#endif
  }
  double best = 0;
  if (j && buf) {
    for (size_t i = 0; i < bytes / 8; i++)
      buf[i] = i; /* commit the pages */
    j->buf = buf;
    j->n = bytes / 8;
    for (int r = 0; r < reps + 1; r++) {
      uint64_t t0 = eco_time_mono_ns();
      eco_pool_run(p, bw_worker, j, nth);
      double s = (double)(eco_time_mono_ns() - t0) / 1e9;
      if (r > 0 && bytes / s > best) best = (double)bytes / s; /* first pass warms up */
    }
  }
  if (map != MAP_FAILED) munmap(map, bytes + huge);
  free(j);
  eco_pool_free(p);
  return best;
}

typedef struct speed {
  double pp, tg; /* tokens/s */
} speed;

/* One timed run: pp = n_prompt tokens in one batch, tg = n_gen single-token
 * steps from an empty context (as llama-bench's pp/tg tests). */
static int measure_once(eco_ctx *c, eco_kv *kv, int V, const int32_t *toks, int n_prompt, int n_gen,
                        float *logits, speed *out, eco_error *err) {
  int rc;
  kv->n_past = 0;
  uint64_t t0 = eco_time_mono_ns();
  if ((rc = eco_forward_seq(c, kv, toks, n_prompt, logits, err))) return rc;
  out->pp = n_prompt / ((double)(eco_time_mono_ns() - t0) / 1e9);
  kv->n_past = 0;
  int32_t t = toks[0];
  t0 = eco_time_mono_ns();
  for (int i = 0; i < n_gen; i++) {
    if ((rc = eco_forward_seq(c, kv, &t, 1, logits, err))) return rc;
    int32_t best = 0;
    for (int v = 1; v < V; v++)
      if (logits[v] > logits[best]) best = v;
    t = best;
  }
  out->tg = n_gen / ((double)(eco_time_mono_ns() - t0) / 1e9);
  return 0;
}

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Median of n values (sorted in place); 0 for none. */
static double median(double *v, int n) {
  if (n <= 0) return 0;
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Runs llama-bench -o json on the same file; fills pp/tg (0 if absent). */
static int run_peer(const char *bin, const char *model, int nth, int n_prompt, int n_gen,
                    speed *out) {
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "'%s' -m '%s' -p %d -n %d -t %d -r 1 -o json 2>/dev/null", bin, model,
           n_prompt, n_gen, nth);
  FILE *f = popen(cmd, "r");
  if (!f) return ECO_EIO;
  json_error_t je;
  json_t *root = json_loadf(f, 0, &je);
  int st = pclose(f);
  out->pp = out->tg = 0;
  if (!root || st != 0) {
    json_decref(root);
    return ECO_EIO;
  }
  for (size_t i = 0; i < json_array_size(root); i++) {
    json_t *e = json_array_get(root, i);
    double ts = json_number_value(json_object_get(e, "avg_ts"));
    if (json_integer_value(json_object_get(e, "n_prompt")) > 0)
      out->pp = ts;
    else if (json_integer_value(json_object_get(e, "n_gen")) > 0)
      out->tg = ts;
  }
  json_decref(root);
  return 0;
}

#define MAX_REPS 64

/* Medians of `reps` runs at nth threads: ours (after one untimed warm-up
 * run) in *ours; when peer is set, llama-bench's, one repetition per call,
 * right after each of ours, in *theirs (left 0 where it failed). */
static int measure(const eco_model *m, const char *path, const char *peer, int nth, int n_prompt,
                   int n_gen, int reps, speed *ours, speed *theirs, eco_error *err) {
  eco_ctx *c = NULL;
  eco_kv *kv = NULL;
  const int V = m->hp.n_vocab;
  float *logits = malloc((size_t)V * sizeof *logits);
  int32_t *toks = malloc((size_t)n_prompt * sizeof *toks);
  double pp[MAX_REPS], tg[MAX_REPS], ppp[MAX_REPS], ptg[MAX_REPS];
  int n_peer = 0, rc = 0;
  if (!logits || !toks) {
    rc = eco_error_set(err, ECO_ENOMEM, "out of memory");
    goto out;
  }
  if ((rc = eco_ctx_new(m, nth, 64, &c, err)) ||
      /* the product's cache type, F16, as llama-bench's default (type_k = type_v = f16) */
      (rc = eco_kv_new_type(m, n_prompt + n_gen + 1, ECO_KV_TYPE_DEFAULT, &kv, err)))
    goto out;
  uint64_t x = 12345;
  for (int i = 0; i < n_prompt; i++) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    toks[i] = (int32_t)((x >> 33) % (uint64_t)V);
  }
  speed sp;
  if ((rc = measure_once(c, kv, V, toks, n_prompt, n_gen < 8 ? n_gen : 8, logits, &sp, err)))
    goto out;
  for (int r = 0; r < reps; r++) {
    if ((rc = measure_once(c, kv, V, toks, n_prompt, n_gen, logits, &sp, err))) goto out;
    pp[r] = sp.pp;
    tg[r] = sp.tg;
    if (peer && run_peer(peer, path, nth, n_prompt, n_gen, &sp) == 0 && sp.tg > 0) {
      ppp[n_peer] = sp.pp;
      ptg[n_peer++] = sp.tg;
    }
  }
  ours->pp = median(pp, reps);
  ours->tg = median(tg, reps);
  theirs->pp = median(ppp, n_peer);
  theirs->tg = median(ptg, n_peer);
out:
  eco_kv_free(kv);
  eco_ctx_free(c);
  free(logits);
  free(toks);
  return rc;
}

/* The command line. */
typedef struct engine_args {
  const char *path;
  int64_t reps, n_prompt, n_gen, bw_mb; /* runs, tokens, tokens, MiB streamed */
  int threads[8];                       /* thread counts to measure */
  int n_thr;
} engine_args;

static int parse_args(eco_cli *cli, engine_args *a) {
  memset(a, 0, sizeof *a);
  a->path = eco_cli_get(cli, "model");
  if (!a->path) {
    eco_cli_error(cli, "bench engine", "-m FILE is required");
    return ECO_EXIT_USAGE;
  }
  if (eco_cli_get_int(cli, "reps", 5, &a->reps) ||
      eco_cli_get_int(cli, "n-prompt", 64, &a->n_prompt) ||
      eco_cli_get_int(cli, "n-gen", 64, &a->n_gen) || eco_cli_get_int(cli, "bw-mb", 512, &a->bw_mb))
    return ECO_EXIT_USAGE;
  if (a->reps < 1 || a->reps > MAX_REPS || a->n_prompt < 1 || a->n_gen < 1 || a->bw_mb < 16 ||
      a->n_prompt > 4096 || a->n_gen > 4096) {
    eco_cli_error(cli, "bench engine", "invalid numeric option");
    return ECO_EXIT_USAGE;
  }
  const char *tl = eco_cli_get(cli, "threads");
  if (!tl) tl = "1,2";
  for (const char *p = tl; *p && a->n_thr < 8;) {
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p || v < 1 || v > 256) {
      eco_cli_error(cli, "bench engine", "bad thread list '%s'", tl);
      return ECO_EXIT_USAGE;
    }
    a->threads[a->n_thr++] = (int)v;
    p = *end == ',' ? end + 1 : end;
  }
  return ECO_EXIT_OK;
}

static void print_header(const engine_args *a, const eco_model *m, const eco_cpu_info *ci) {
  printf("model %s: %s %s, %d layers, %.1f MB weights (%.1f MB repacked), %.1f MB read per "
         "token; %s\n",
         a->path, m->hp.arch_name, m->file_type, m->hp.n_layer, (double)m->weight_bytes / 1e6,
         (double)m->packed_bytes / 1e6, (double)m->weight_bytes_per_token / 1e6, ci->model);
  printf("pp%lld/tg%lld tok/s: median of %lld runs on each side (ours and llama-bench's "
         "alternating)\n",
         (long long)a->n_prompt, (long long)a->n_gen, (long long)a->reps);
  printf("%-3s %10s %10s %10s %12s %9s %10s %10s\n", "thr", "pp tok/s", "tg tok/s", "bw GB/s",
         "ceil tok/s", "tg/ceil", "pp/peer", "tg/peer");
}

/* One thread count: our speed, the peer's when set, and the bandwidth ceiling, as a JSON
 * row (and a table line unless --json). */
static int measure_threads(eco_cli *cli, const engine_args *a, eco_model *m, const char *peer,
                           int nth, json_t *rows, eco_error *err) {
  double bw = read_bandwidth(nth, (size_t)a->bw_mb << 20, 3);
  speed s = {0, 0}, ps = {0, 0};
  int rc =
      measure(m, a->path, peer, nth, (int)a->n_prompt, (int)a->n_gen, (int)a->reps, &s, &ps, err);
  if (rc) return rc;
  /* the bandwidth after the run too: the machine may be shared and busy */
  double bw2 = read_bandwidth(nth, (size_t)a->bw_mb << 20, 3);
  if (bw2 > bw) bw = bw2;
  const double ceil = bw / (double)m->weight_bytes_per_token;
  const bool have_peer = ps.tg > 0;
  json_t *row = json_pack("{s:i, s:f, s:f, s:f, s:f, s:f}", "threads", nth, "pp_tok_s", s.pp,
                          "tg_tok_s", s.tg, "read_bw_gb_s", bw / 1e9, "ceiling_tok_s", ceil,
                          "tg_fraction_of_ceiling", s.tg / ceil);
  if (have_peer) {
    json_object_set_new(row, "peer_pp_tok_s", json_real(ps.pp));
    json_object_set_new(row, "peer_tg_tok_s", json_real(ps.tg));
    json_object_set_new(row, "pp_ratio", json_real(ps.pp > 0 ? s.pp / ps.pp : 0));
    json_object_set_new(row, "tg_ratio", json_real(s.tg / ps.tg));
  } else {
    json_object_set_new(row, "peer", json_string("unmeasured"));
  }
  json_array_append_new(rows, row);
  if (!cli->json) {
    char pr[16] = "unmeasured", tr[16] = "unmeasured";
    if (have_peer) {
      snprintf(pr, sizeof pr, "%.2fx", ps.pp > 0 ? s.pp / ps.pp : 0);
      snprintf(tr, sizeof tr, "%.2fx", s.tg / ps.tg);
    }
    printf("%-3d %10.1f %10.1f %10.2f %12.1f %8.0f%% %10s %10s\n", nth, s.pp, s.tg, bw / 1e9, ceil,
           100 * s.tg / ceil, pr, tr);
    fflush(stdout);
  }
  return 0;
}

int eco_cmd_bench_engine(eco_cli *cli, int argc, char **argv) {
  bool done;
  int rc = eco_cli_parse(cli, &spec, argc, argv, &done);
  if (done) return rc;
  engine_args a;
  if ((rc = parse_args(cli, &a)) != ECO_EXIT_OK) return rc;
  eco_error err = {0};
  eco_model *m = NULL;
  const eco_model_opts mo = {.no_repack = eco_cli_flag(cli, "no-repack")};
  if ((rc = eco_model_load_opts(a.path, &mo, &m, &err))) {
    eco_cli_error(cli, "bench engine", "%s", eco_error_text(&err));
    return ECO_EXIT_RUNTIME;
  }
  const char *peer = getenv("ECO_PEER_LLAMA_BENCH");
  if (peer && !*peer) peer = NULL;
  eco_cpu_info ci;
  eco_cpu_detect(&ci);
  json_t *rows = json_array();
  if (!cli->json) print_header(&a, m, &ci);
  for (int i = 0; i < a.n_thr; i++)
    if ((rc = measure_threads(cli, &a, m, peer, a.threads[i], rows, &err))) {
      eco_cli_error(cli, "bench engine", "%s", eco_error_text(&err));
      break;
    }
  if (!cli->json && !peer)
    printf("peer: unmeasured (set ECO_PEER_LLAMA_BENCH to a llama-bench binary)\n");
  const double peak_mb = (double)eco_mem_peak_rss() / 1048576.0;
  if (cli->json) {
    json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:o, s:f, s:s, s:I, s:s}", "model",
                          a.path, "arch", m->hp.arch_name, "type", m->file_type, "weight_bytes",
                          (json_int_t)m->weight_bytes, "packed_bytes", (json_int_t)m->packed_bytes,
                          "bytes_per_token", (json_int_t)m->weight_bytes_per_token, "results", rows,
                          "peak_rss_mb", peak_mb, "cpu", ci.model, "reps", (json_int_t)a.reps,
                          "statistic", "median");
    char *s = json_dumps(o, JSON_COMPACT);
    printf("%s\n", s ? s : "{}");
    free(s);
    json_decref(o);
  } else {
    json_decref(rows);
  }
  eco_model_free(m);
  return rc ? ECO_EXIT_RUNTIME : 0;
}
