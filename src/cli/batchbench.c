#include "cli/batchbench.h"

#include "util/cpu.h"
#include "util/svg.h"
#include "util/timeutil.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct waiter {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint32_t done;
  double lat_sum, lat_max, ttft_sum, seq_rate_sum, t_last, t_first_min;
  uint64_t generated;
  int errors;
} waiter;

static void on_token(void *user, uint64_t id, int32_t token, const char *text, size_t len,
                     bool done, const eco_gen_stats *st) {
  (void)id;
  (void)token;
  (void)text;
  (void)len;
  if (!done) return;
  waiter *w = user;
  pthread_mutex_lock(&w->mu);
  w->done++;
  w->generated += st->generated_tokens;
  w->lat_sum += st->total_s;
  if (st->total_s > w->lat_max) w->lat_max = st->total_s;
  w->ttft_sum += st->ttft_s;
  double dec = st->t_done - st->t_first;
  if (st->generated_tokens > 1 && dec > 0) w->seq_rate_sum += (st->generated_tokens - 1) / dec;
  if (st->t_done > w->t_last) w->t_last = st->t_done;
  if (st->generated_tokens > 0 && (w->t_first_min == 0 || st->t_first < w->t_first_min))
    w->t_first_min = st->t_first;
  if (st->finish == ECO_FINISH_ERROR) w->errors++;
  pthread_cond_broadcast(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

static int run_once(const eco_engine_model_ops *ops, void *model, const eco_bench_batch_cfg *cfg,
                    uint32_t B, eco_bench_batch_point *pt, eco_error *err) {
  eco_engine_cfg bc;
  memset(&bc, 0, sizeof bc);
  uint32_t positions = cfg->prompt_tokens + cfg->gen_tokens;
  bc.sched.kv_budget_bytes = (uint64_t)B * positions * ops->kv_bytes_per_token;
  bc.sched.max_batch = B;
  bc.sched.max_queue = B;
  bc.sched.prefill_chunk = cfg->prompt_tokens;
  bc.sched.step_tokens = B * cfg->prompt_tokens + B;
  eco_engine *b;
  int rc = eco_engine_new(ops, model, NULL, &bc, NULL, &b, err);
  if (rc) return rc;
  int32_t *prompt = malloc(cfg->prompt_tokens * sizeof *prompt);
  if (!prompt) {
    eco_engine_free(b);
    return eco_error_set(err, ECO_ENOMEM, "out of memory");
  }
  waiter w;
  memset(&w, 0, sizeof w);
  pthread_mutex_init(&w.mu, NULL);
  pthread_cond_init(&w.cv, NULL);
  eco_gen_params p;
  eco_gen_params_default(&p);
  p.max_tokens = cfg->gen_tokens;
  p.ignore_eos = true;
  double e0 = -1, e1 = -1;
  if (cfg->energy && cfg->energy(cfg->energy_ctx, &e0)) e0 = -1;
  double cpu0 = eco_time_process_cpu_s();
  double t0 = (double)eco_time_mono_ns() * 1e-9;
  uint32_t submitted = 0;
  eco_engine_hold(b, true); /* the B requests arrive together */
  for (uint32_t s = 0; s < B; s++) {
    for (uint32_t k = 0; k < cfg->prompt_tokens; k++)
      prompt[k] = (int32_t)((s * 7919u + k * 104729u + 3u) % ops->n_vocab);
    p.seed = s + 1;
    rc = eco_engine_submit(b, prompt, cfg->prompt_tokens, &p, on_token, &w, NULL);
    if (rc) {
      eco_error_set(err, rc, "batch %u: submit %u failed: %s", B, s, eco_strerror(rc));
      break;
    }
    submitted++;
  }
  eco_engine_hold(b, false);
  pthread_mutex_lock(&w.mu);
  while (w.done < submitted)
    pthread_cond_wait(&w.cv, &w.mu);
  pthread_mutex_unlock(&w.mu);
  double cpu1 = eco_time_process_cpu_s();
  if (cfg->energy && e0 >= 0 && cfg->energy(cfg->energy_ctx, &e1)) e1 = -1;
  eco_engine_free(b);
  free(prompt);
  if (rc) return rc;
  if (w.errors)
    return eco_error_set(err, ECO_EINTERNAL, "batch %u: %d requests failed", B, w.errors);
  pt->batch = B;
  pt->generated = w.generated;
  pt->wall_s = w.t_last - t0;
  pt->agg_tok_s = pt->wall_s > 0 ? (double)w.generated / pt->wall_s : 0;
  pt->seq_tok_s = w.seq_rate_sum / B;
  const double dec_s = w.t_last - w.t_first_min;
  pt->dec_tok_s = dec_s > 0 && w.generated > B ? (double)(w.generated - B) / dec_s : 0;
  pt->latency_mean_s = w.lat_sum / B;
  pt->latency_max_s = w.lat_max;
  pt->ttft_mean_s = w.ttft_sum / B;
  pt->cpu_s = cpu1 - cpu0;
  pt->cpu_per_tok_s = w.generated ? pt->cpu_s / (double)w.generated : 0;
  pt->energy_j = (e0 >= 0 && e1 >= e0) ? e1 - e0 : -1;
  pt->j_per_tok = pt->energy_j >= 0 && w.generated ? pt->energy_j / (double)w.generated : -1;
  snprintf(pt->energy_source, sizeof pt->energy_source, "%s",
           pt->energy_j >= 0 && cfg->energy_source ? cfg->energy_source : "");
  pt->peak_rss = eco_mem_peak_rss();
  pthread_mutex_destroy(&w.mu);
  pthread_cond_destroy(&w.cv);
  return ECO_OK;
}

int eco_bench_batch_run(const eco_engine_model_ops *ops, void *model,
                        const eco_bench_batch_cfg *cfg, eco_bench_batch_point *out,
                        eco_error *err) {
  if (!ops || !cfg || !out || !cfg->n_sizes || !cfg->prompt_tokens || !cfg->gen_tokens)
    return eco_error_set(err, ECO_EINVAL, "bench batch: empty configuration");
  uint32_t reps = cfg->repeats ? cfg->repeats : 1;
  for (size_t i = 0; i < cfg->n_sizes; i++) {
    if (cfg->sizes[i] == 0) return eco_error_set(err, ECO_EINVAL, "bench batch: batch size 0");
    if ((uint64_t)cfg->prompt_tokens + cfg->gen_tokens > ops->n_ctx)
      return eco_error_set(err, ECO_ECONTEXT, "bench batch: prompt + generated > context %u",
                           ops->n_ctx);
  }
  memset(out, 0, cfg->n_sizes * sizeof *out);
  /* rounds outside, sizes inside: a machine that slows down for a while
   * slows every size, not just the one being measured */
  for (uint32_t r = 0; r < reps; r++)
    for (size_t i = 0; i < cfg->n_sizes; i++) {
      eco_bench_batch_point pt, *acc = &out[i];
      memset(&pt, 0, sizeof pt);
      int rc = run_once(ops, model, cfg, cfg->sizes[i], &pt, err);
      if (rc) return rc;
      if (r == 0) {
        *acc = pt;
        continue;
      }
      acc->generated += pt.generated;
      acc->wall_s += pt.wall_s;
      acc->seq_tok_s += pt.seq_tok_s;
      acc->dec_tok_s += pt.dec_tok_s;
      acc->latency_mean_s += pt.latency_mean_s;
      if (pt.latency_max_s > acc->latency_max_s) acc->latency_max_s = pt.latency_max_s;
      acc->ttft_mean_s += pt.ttft_mean_s;
      acc->cpu_s += pt.cpu_s;
      acc->energy_j = (acc->energy_j >= 0 && pt.energy_j >= 0) ? acc->energy_j + pt.energy_j : -1;
      /* peak_rss stays the first round's: the process peak after that size ran
       * (later rounds would only repeat the largest size's peak) */
    }
  for (size_t i = 0; i < cfg->n_sizes; i++) {
    eco_bench_batch_point *acc = &out[i];
    acc->seq_tok_s /= reps;
    acc->dec_tok_s /= reps;
    acc->latency_mean_s /= reps;
    acc->ttft_mean_s /= reps;
    acc->agg_tok_s = acc->wall_s > 0 ? (double)acc->generated / acc->wall_s : 0;
    acc->cpu_per_tok_s = acc->generated ? acc->cpu_s / (double)acc->generated : 0;
    acc->j_per_tok =
        acc->energy_j >= 0 && acc->generated ? acc->energy_j / (double)acc->generated : -1;
  }
  return ECO_OK;
}

static double cost(const eco_bench_batch_point *p) {
  return p->j_per_tok >= 0 ? p->j_per_tok : p->cpu_per_tok_s;
}

int eco_bench_knee(const eco_bench_batch_point *pts, size_t n) {
  if (!pts || n < 3) return -1;
  double xmin = log2(pts[0].batch), xmax = xmin, ymin = cost(&pts[0]), ymax = ymin;
  for (size_t i = 1; i < n; i++) {
    double x = log2(pts[i].batch), y = cost(&pts[i]);
    if (x < xmin) xmin = x;
    if (x > xmax) xmax = x;
    if (y < ymin) ymin = y;
    if (y > ymax) ymax = y;
  }
  if (xmax <= xmin || ymax <= ymin) return -1;
  double x0 = (log2(pts[0].batch) - xmin) / (xmax - xmin);
  double y0 = (cost(&pts[0]) - ymin) / (ymax - ymin);
  double x1 = (log2(pts[n - 1].batch) - xmin) / (xmax - xmin);
  double y1 = (cost(&pts[n - 1]) - ymin) / (ymax - ymin);
  int best = -1;
  double best_d = -INFINITY;
  for (size_t i = 1; i + 1 < n; i++) {
    double x = (log2(pts[i].batch) - xmin) / (xmax - xmin);
    double y = (cost(&pts[i]) - ymin) / (ymax - ymin);
    double chord = x1 > x0 ? y0 + (y1 - y0) * (x - x0) / (x1 - x0) : y0;
    double d = chord - y; /* distance below the chord */
    if (d > best_d) {
      best_d = d;
      best = (int)i;
    }
  }
  return best_d > 0 ? best : -1;
}

void eco_bench_batch_table(const eco_bench_batch_point *pts, size_t n, int knee, eco_strbuf *out) {
  bool energy = n > 0 && pts[0].j_per_tok >= 0;
  eco_sb_printf(out, "%5s %10s %7s %10s %7s %10s %10s %8s %11s %9s %9s %8s\n", "batch", "agg tok/s",
                "x b1", "dec tok/s", "x b1", "seq tok/s", "lat mean s", "ttft s", "CPU ms/tok",
                "CPU x b1", energy ? "J/tok" : "", "RSS MiB");
  double base_tok = n ? pts[0].agg_tok_s : 0, base_dec = n ? pts[0].dec_tok_s : 0,
         base_cost = n ? cost(&pts[0]) : 0;
  for (size_t i = 0; i < n; i++) {
    const eco_bench_batch_point *p = &pts[i];
    eco_sb_printf(out, "%5u %10.1f %7.2f %10.1f %7.2f %10.1f %10.3f %8.3f %11.3f %9.2f ", p->batch,
                  p->agg_tok_s, base_tok > 0 ? p->agg_tok_s / base_tok : 0, p->dec_tok_s,
                  base_dec > 0 ? p->dec_tok_s / base_dec : 0, p->seq_tok_s, p->latency_mean_s,
                  p->ttft_mean_s, 1000.0 * p->cpu_per_tok_s,
                  base_cost > 0 ? cost(p) / base_cost : 0);
    if (energy)
      eco_sb_printf(out, "%9.4f ", p->j_per_tok);
    else
      eco_sb_printf(out, "%9s ", "");
    eco_sb_printf(out, "%9.1f%s\n", (double)p->peak_rss / (1 << 20),
                  (int)i == knee ? "  <- knee" : "");
  }
  if (knee >= 0)
    eco_sb_printf(out, "knee: batch %u (%s per token stops falling steeply beyond it)\n",
                  pts[knee].batch, energy ? "energy" : "CPU time");
}

void eco_bench_batch_csv(const eco_bench_batch_point *pts, size_t n, eco_strbuf *out) {
  eco_sb_puts(out, "batch,generated,wall_s,agg_tok_s,dec_tok_s,seq_tok_s,latency_mean_s,"
                   "latency_max_s,"
                   "ttft_mean_s,cpu_s,cpu_per_tok_s,energy_j,j_per_tok,energy_source,peak_rss_"
                   "bytes\n");
  for (size_t i = 0; i < n; i++) {
    const eco_bench_batch_point *p = &pts[i];
    eco_sb_printf(out, "%u,%llu,%.6f,%.3f,%.3f,%.3f,%.6f,%.6f,%.6f,%.6f,%.9f,", p->batch,
                  (unsigned long long)p->generated, p->wall_s, p->agg_tok_s, p->dec_tok_s,
                  p->seq_tok_s, p->latency_mean_s, p->latency_max_s, p->ttft_mean_s, p->cpu_s,
                  p->cpu_per_tok_s);
    if (p->energy_j >= 0)
      eco_sb_printf(out, "%.6f,%.9f,", p->energy_j, p->j_per_tok);
    else
      eco_sb_puts(out, ",,");
    eco_sb_printf(out, "%s,%llu\n", p->energy_source, (unsigned long long)p->peak_rss);
  }
}

void eco_bench_batch_svg(const eco_bench_batch_point *pts, size_t n, int knee, const char *title,
                         eco_strbuf *out) {
  /* x: batch size on a log axis; left: aggregate tokens/s; right: cost per
   * token (J, or CPU ms without an energy meter); dashed marker at the knee */
  bool energy = n > 0 && pts[0].j_per_tok >= 0;
  double cscale = energy ? 1.0 : 1000.0;
  double *x = calloc(n ? n : 1, sizeof *x), *thr = calloc(n ? n : 1, sizeof *thr);
  double *cpt = calloc(n ? n : 1, sizeof *cpt);
  if (!x || !thr || !cpt) {
    out->oom = true;
    goto done;
  }
  double xmin = INFINITY, xmax = -INFINITY;
  for (size_t i = 0; i < n; i++) {
    x[i] = pts[i].batch > 0 ? (double)pts[i].batch : NAN;
    thr[i] = pts[i].agg_tok_s;
    cpt[i] = cost(&pts[i]) * cscale;
    if (isfinite(x[i])) {
      xmin = fmin(xmin, x[i]);
      xmax = fmax(xmax, x[i]);
    }
  }
  if (!isfinite(xmin)) xmin = xmax = 1;
  if (!(xmax > xmin)) xmax = xmin * 2;
  char klabel[48];
  eco_svg_marker mk = {0};
  if (knee >= 0 && (size_t)knee < n) {
    snprintf(klabel, sizeof klabel, "knee: batch %u", pts[knee].batch);
    mk = (eco_svg_marker){.x = x[knee], .label = klabel};
  }
  eco_svg_series s[2] = {
      {.name = "aggregate tokens/s", .x = x, .y = thr, .n = n, .color = "#0b6bcb"},
      {.name = energy ? "energy per token (J)" : "CPU time per token (ms)",
       .x = x,
       .y = cpt,
       .n = n,
       .right_axis = true,
       .color = "#cf222e"},
  };
  eco_svg_chart c = {.title = title ? title : "ecoinfer bench batch",
                     .xlabel = "batch size (log scale)",
                     .ylabel = "aggregate tokens/s",
                     .y2label = s[1].name,
                     .width = 720,
                     .height = 400,
                     .xlog = true,
                     .xmin = xmin,
                     .xmax = xmax,
                     .xticks = x,
                     .n_xticks = n,
                     .markers = &mk,
                     .n_markers = mk.label ? 1 : 0,
                     .note = n ? NULL : "no measurements"};
  (void)eco_svg_chart_write(out, &c, s, 2); /* only ENOMEM, which sets out->oom */
done:
  free(x);
  free(thr);
  free(cpt);
}
