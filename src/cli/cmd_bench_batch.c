/* ecoinfer bench batch: throughput, latency and cost per token across
 * batch sizes, on a real model, through the batching engine. */
#include "cli/subcmd.h"
#include "cli/batchbench.h"
#include "engine/engine_model.h"
#include "util/cpu.h"
#include "util/fs.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const eco_opt opts[] = {
    {"model", 'm', "FILE", NULL, "GGUF model (or llama2.c .bin) to measure"},
    {"batch", 'b', "LIST", NULL, "batch sizes, comma-separated (default 1,2,4,8,16)"},
    {"prompt", 0, "N", NULL, "prompt tokens per request (default 64)"},
    {"gen", 'n', "N", NULL, "generated tokens per request (default 64)"},
    {"threads", 't', "N", NULL, "forward-pass threads (default: all cores)"},
    {"repeats", 0, "N", NULL, "rounds per batch size, averaged (default 1)"},
    {"csv", 0, "FILE", NULL, "write the results as CSV"},
    {"svg", 0, "FILE", NULL, "write a plot of throughput and cost per token"},
    {"kv-type", 0, "TYPE", NULL, "KV cache element type: f16 (default) or f32"},
};

static const eco_cmd_spec spec = {
    .name = "bench batch",
    .usage = "-m MODEL [--batch 1,2,4,8,16] [options]",
    .summary = "Measure batching: aggregate and per-sequence tokens/s, latency, CPU time and\n"
               "energy per token, peak memory, and the knee of the cost curve.",
    .details = "Each batch size submits that many requests at once to a fresh batching engine\n"
               "(one forward pass per step for all of them). Cost per token is energy when a\n"
               "hardware meter is available, else CPU time of the whole process.",
    .opts = opts,
    .n_opts = sizeof opts / sizeof opts[0],
    .min_args = 0,
    .max_args = 0,
};

static int parse_sizes(const char *s, uint32_t *out, size_t cap, size_t *n) {
  *n = 0;
  const char *p = s;
  while (*p) {
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p || v <= 0 || v > 256 || *n >= cap) return ECO_EINVAL;
    out[(*n)++] = (uint32_t)v;
    p = end;
    if (*p == ',')
      p++;
    else if (*p)
      return ECO_EINVAL;
  }
  return *n ? ECO_OK : ECO_EINVAL;
}

/* The command line. */
typedef struct batch_args {
  const char *path;
  uint32_t sizes[32]; /* batch sizes to measure */
  size_t n_sizes;
  int64_t prompt, gen, threads, repeats; /* tokens, tokens, threads, runs per size */
  eco_ggml_type kv_type;
} batch_args;

static int parse_args(eco_cli *cli, batch_args *a) {
  memset(a, 0, sizeof *a);
  a->path = eco_cli_get(cli, "model");
  if (!a->path) {
    eco_cli_error(cli, "bench batch", "missing -m MODEL");
    return ECO_EXIT_USAGE;
  }
  const char *bl = eco_cli_get(cli, "batch");
  if (parse_sizes(bl ? bl : "1,2,4,8,16", a->sizes, 32, &a->n_sizes)) {
    eco_cli_error(cli, "bench batch", "bad --batch '%s' (e.g. 1,2,4,8,16)", bl);
    return ECO_EXIT_USAGE;
  }
  if (eco_cli_get_int(cli, "prompt", 64, &a->prompt) || eco_cli_get_int(cli, "gen", 64, &a->gen) ||
      eco_cli_get_int(cli, "threads", 0, &a->threads) ||
      eco_cli_get_int(cli, "repeats", 1, &a->repeats) || a->prompt < 1 || a->gen < 1 ||
      a->repeats < 1 || a->threads < 0)
    return ECO_EXIT_USAGE;
  if (a->threads == 0)
    a->threads = sysconf(_SC_NPROCESSORS_ONLN) > 0 ? sysconf(_SC_NPROCESSORS_ONLN) : 1;
  a->kv_type = ECO_KV_TYPE_DEFAULT;
  const char *kvt = eco_cli_get(cli, "kv-type");
  if (kvt && eco_kv_type_parse(kvt, &a->kv_type)) {
    eco_cli_error(cli, "bench batch", "--kv-type must be f32 or f16, not '%s'", kvt);
    return ECO_EXIT_USAGE;
  }
  return ECO_EXIT_OK;
}

/* --csv and --svg. */
static int write_files(eco_cli *cli, const batch_args *a, const eco_bench_batch_point *pts,
                       int knee, eco_strbuf *sb) {
  eco_error err = {0};
  const char *csv = eco_cli_get(cli, "csv"), *svg = eco_cli_get(cli, "svg");
  if (csv) {
    eco_sb_reset(sb);
    eco_bench_batch_csv(pts, a->n_sizes, sb);
    if (eco_fs_write_atomic(csv, sb->data, sb->len, &err)) goto fail;
  }
  if (svg) {
    char title[256];
    snprintf(title, sizeof title, "bench batch: %s, %lld+%lld tokens, %lld threads",
             strrchr(a->path, '/') ? strrchr(a->path, '/') + 1 : a->path, (long long)a->prompt,
             (long long)a->gen, (long long)a->threads);
    eco_sb_reset(sb);
    eco_bench_batch_svg(pts, a->n_sizes, knee, title, sb);
    if (eco_fs_write_atomic(svg, sb->data, sb->len, &err)) goto fail;
  }
  return 0;
fail:
  eco_cli_error(cli, "bench batch", "%s", eco_error_text(&err));
  return -1;
}

/* The table (or JSON), with what the ratios depend on besides the code: the kernel level
 * and how busy the machine was (1-minute load average at the end; -1 unknown). */
static void print_results(eco_cli *cli, const batch_args *a, const eco_bench_batch_point *pts,
                          int knee, eco_strbuf *sb) {
  eco_cpu_info ci;
  eco_cpu_detect(&ci);
  double load = -1;
  if (getloadavg(&load, 1) != 1) load = -1;
  const char *kv = eco_kv_type_name(a->kv_type);
  if (!cli->json) {
    eco_sb_reset(sb);
    eco_sb_printf(sb,
                  "model %s, %lld prompt + %lld generated tokens, %lld threads, %s kernels, KV %s",
                  a->path, (long long)a->prompt, (long long)a->gen, (long long)a->threads,
                  eco_simd_name(ci.level), kv);
    if (load >= 0) eco_sb_printf(sb, ", load average %.2f", load);
    eco_sb_printf(sb, "\n");
    eco_bench_batch_table(pts, a->n_sizes, knee, sb);
    eco_cli_out(eco_sb_str(sb));
    return;
  }
  json_t *arr = json_array();
  for (size_t i = 0; i < a->n_sizes; i++) {
    const eco_bench_batch_point *p = &pts[i];
    json_array_append_new(
        arr, json_pack("{s:i,s:I,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:o,s:I}", "batch", (int)p->batch,
                       "generated", (json_int_t)p->generated, "wall_s", p->wall_s, "agg_tok_s",
                       p->agg_tok_s, "dec_tok_s", p->dec_tok_s, "seq_tok_s", p->seq_tok_s,
                       "latency_mean_s", p->latency_mean_s, "ttft_mean_s", p->ttft_mean_s, "cpu_s",
                       p->cpu_s, "cpu_per_tok_s", p->cpu_per_tok_s, "j_per_tok",
                       p->j_per_tok >= 0 ? json_real(p->j_per_tok) : json_null(), "peak_rss_bytes",
                       (json_int_t)p->peak_rss));
  }
  json_t *o = json_pack("{s:s,s:I,s:I,s:I,s:s,s:s,s:o,s:o,s:o}", "model", a->path, "prompt_tokens",
                        (json_int_t)a->prompt, "gen_tokens", (json_int_t)a->gen, "threads",
                        (json_int_t)a->threads, "kernels", eco_simd_name(ci.level), "kv_type", kv,
                        "load_avg_1m", load >= 0 ? json_real(load) : json_null(), "points", arr,
                        "knee_batch", knee >= 0 ? json_integer(pts[knee].batch) : json_null());
  eco_cli_out_json(o, JSON_INDENT(2));
}

int eco_cmd_bench_batch(eco_cli *cli, int argc, char **argv) {
  bool done;
  int rc = eco_cli_parse(cli, &spec, argc, argv, &done);
  if (done) return rc;
  batch_args a;
  int exit_code = parse_args(cli, &a);
  if (exit_code != ECO_EXIT_OK) return exit_code;
  exit_code = ECO_EXIT_RUNTIME;
  eco_error err = {0};
  eco_model *m = NULL;
  eco_engine_model *em = NULL;
  eco_bench_batch_point *pts = NULL;
  eco_strbuf sb;
  eco_sb_init(&sb);
  uint32_t max_b = 1;
  for (size_t i = 0; i < a.n_sizes; i++)
    if (a.sizes[i] > max_b) max_b = a.sizes[i];
  uint32_t step = max_b * (uint32_t)a.prompt + max_b;
  if (eco_model_load(a.path, &m, &err) ||
      eco_engine_model_new(m, (int)a.threads, max_b, step, &em, &err)) {
    eco_cli_error(cli, "bench batch", "%s", eco_error_text(&err));
    goto out;
  }
  eco_engine_model_set_kv_type(em, a.kv_type); /* parsed above: cannot fail */
  eco_engine_model_ops ops;
  eco_engine_model_ops_fill(em, (uint32_t)(a.prompt + a.gen), &ops);
  pts = calloc(a.n_sizes > 0 ? a.n_sizes : 1, sizeof *pts);
  if (!pts) goto out;
  eco_bench_batch_cfg bc = {.sizes = a.sizes,
                            .n_sizes = a.n_sizes,
                            .prompt_tokens = (uint32_t)a.prompt,
                            .gen_tokens = (uint32_t)a.gen,
                            .repeats = (uint32_t)a.repeats};
  if (eco_bench_batch_run(&ops, em, &bc, pts, &err)) {
    eco_cli_error(cli, "bench batch", "%s", eco_error_text(&err));
    goto out;
  }
  int knee = eco_bench_knee(pts, a.n_sizes);
  if (write_files(cli, &a, pts, knee, &sb)) goto out;
  print_results(cli, &a, pts, knee, &sb);
  exit_code = ECO_EXIT_OK;
out:
  eco_sb_free(&sb);
  free(pts);
  eco_engine_model_free(em);
  eco_model_free(m);
  return exit_code;
}
