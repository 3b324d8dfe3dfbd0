/* ecoinfer simulator: reports (see report.h). */
#include "sim/report.h"

#include "carbon/sci.h"
#include "util/svg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void eco_sim_summarize(const eco_sim_result *r, eco_sim_summary *s) {
  memset(s, 0, sizeof *s);
  snprintf(s->policy, sizeof s->policy, "%s", r->policy);
  s->arrived = r->arrived;
  s->completed = r->completed;
  s->refused = r->refused;
  double nreq = r->completed ? (double)r->completed : NAN;
  double ktok = (r->prompt_tok + r->out_tok) / 1000.0;
  if (!(ktok > 0)) ktok = NAN;
  s->op_g_per_req = r->op_g / nreq;
  s->op_active_g_per_req = (r->op_g - r->op_idle_g) / nreq;
  s->emb_g_per_req = r->emb_g / nreq;
  s->total_g_per_req = s->op_g_per_req + s->emb_g_per_req;
  s->op_g_per_ktok = r->op_g / ktok;
  s->emb_g_per_ktok = r->emb_g / ktok;
  s->total_g_per_ktok = s->op_g_per_ktok + s->emb_g_per_ktok;
  s->total_g = r->op_g + r->emb_g;
  s->energy_active_kwh = r->energy_active_j / ECO_J_PER_KWH;
  s->energy_kwh = (r->energy_active_j + r->energy_idle_j) / ECO_J_PER_KWH;
  s->j_per_req = (r->energy_active_j + r->energy_idle_j) / nreq;
  s->p50_s = eco_sim_result_quantile(r, 0.50);
  s->p95_s = eco_sim_result_quantile(r, 0.95);
  s->p99_s = eco_sim_result_quantile(r, 0.99);
  s->mean_s = r->lat_sum_s / nreq;
  s->max_s = r->lat_max_s;
  s->span_s = r->makespan_s;
  s->throughput_rps = r->makespan_s > 0 ? (double)r->completed / r->makespan_s : 0;
  s->tok_per_s = r->makespan_s > 0 ? r->out_tok / r->makespan_s : 0;
  s->slo_attainment = r->arrived ? (double)r->slo_met / (double)r->arrived : NAN;
  s->util_mean = r->util_mean;
  s->util_min = r->util_min;
  s->util_max = r->util_max;
  s->mean_batch = r->batches ? r->batch_seqs / (double)r->batches : 0;
}

void eco_sim_report_table(eco_strbuf *sb, const eco_sim_summary *s, size_t n) {
  eco_sb_printf(sb, "%-12s %8s %7s %9s %9s %9s %9s %9s %8s %8s %8s %8s %6s %5s %5s\n", "policy",
                "done", "refused", "gCO2/req", "act_g/req", "op_g/req", "emb_g/req", "gCO2/ktok",
                "kWh", "p50_s", "p95_s", "p99_s", "SLO%", "util", "batch");
  for (size_t i = 0; i < n; i++) {
    const eco_sim_summary *x = &s[i];
    eco_sb_printf(sb,
                  "%-12s %8llu %7llu %9.4f %9.4f %9.4f %9.4f %9.4f %8.3f %8.2f %8.2f %8.2f %6.1f "
                  "%5.2f %5.2f\n",
                  x->policy, (unsigned long long)x->completed, (unsigned long long)x->refused,
                  x->total_g_per_req, x->op_active_g_per_req, x->op_g_per_req, x->emb_g_per_req,
                  x->total_g_per_ktok, x->energy_kwh, x->p50_s, x->p95_s, x->p99_s,
                  100 * x->slo_attainment, x->util_mean, x->mean_batch);
  }
}

void eco_sim_report_csv(eco_strbuf *sb, const eco_sim_summary *s, size_t n) {
  eco_sb_puts(sb, "policy,arrived,completed,refused,total_g_per_req,op_g_per_req,"
                  "op_active_g_per_req,emb_g_per_req,total_g_per_ktok,op_g_per_ktok,"
                  "emb_g_per_ktok,total_g,energy_kwh,energy_active_kwh,j_per_req,p50_s,p95_s,"
                  "p99_s,mean_s,max_s,throughput_rps,tok_per_s,slo_attainment,util_mean,util_min,"
                  "util_max,mean_batch\n");
  for (size_t i = 0; i < n; i++) {
    const eco_sim_summary *x = &s[i];
    eco_sb_printf(sb,
                  "%s,%llu,%llu,%llu,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,"
                  "%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g\n",
                  x->policy, (unsigned long long)x->arrived, (unsigned long long)x->completed,
                  (unsigned long long)x->refused, x->total_g_per_req, x->op_g_per_req,
                  x->op_active_g_per_req, x->emb_g_per_req, x->total_g_per_ktok, x->op_g_per_ktok,
                  x->emb_g_per_ktok, x->total_g, x->energy_kwh, x->energy_active_kwh, x->j_per_req,
                  x->p50_s, x->p95_s, x->p99_s, x->mean_s, x->max_s, x->throughput_rps,
                  x->tok_per_s, x->slo_attainment, x->util_mean, x->util_min, x->util_max,
                  x->mean_batch);
  }
}

static json_t *jnum(double v) { return isfinite(v) ? json_real(v) : json_null(); }

json_t *eco_sim_summary_json(const eco_sim_summary *x) {
  json_t *o = json_object();
  if (!o) return NULL;
  json_object_set_new(o, "policy", json_string(x->policy));
  json_object_set_new(o, "arrived", json_integer((json_int_t)x->arrived));
  json_object_set_new(o, "completed", json_integer((json_int_t)x->completed));
  json_object_set_new(o, "refused", json_integer((json_int_t)x->refused));
  struct {
    const char *k;
    double v;
  } f[] = {
      {"total_g_per_req", x->total_g_per_req},
      {"op_g_per_req", x->op_g_per_req},
      {"op_active_g_per_req", x->op_active_g_per_req},
      {"emb_g_per_req", x->emb_g_per_req},
      {"total_g_per_ktok", x->total_g_per_ktok},
      {"op_g_per_ktok", x->op_g_per_ktok},
      {"emb_g_per_ktok", x->emb_g_per_ktok},
      {"total_g", x->total_g},
      {"energy_kwh", x->energy_kwh},
      {"energy_active_kwh", x->energy_active_kwh},
      {"j_per_req", x->j_per_req},
      {"p50_s", x->p50_s},
      {"p95_s", x->p95_s},
      {"p99_s", x->p99_s},
      {"mean_s", x->mean_s},
      {"max_s", x->max_s},
      {"throughput_rps", x->throughput_rps},
      {"tok_per_s", x->tok_per_s},
      {"slo_attainment", x->slo_attainment},
      {"util_mean", x->util_mean},
      {"util_min", x->util_min},
      {"util_max", x->util_max},
      {"mean_batch", x->mean_batch},
      {"span_s", x->span_s},
  };
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
    json_object_set_new(o, f[i].k, jnum(f[i].v));
  return o;
}

int eco_sim_svg_carbon(eco_strbuf *sb, const eco_sim_result *r, size_t n) {
  if (n == 0) return ECO_EINVAL;
  eco_svg_series *s = calloc(n + 1, sizeof *s);
  double **xs = calloc(n + 1, sizeof *xs), **ys = calloc(n + 1, sizeof *ys);
  int rc = ECO_ENOMEM;
  if (!s || !xs || !ys) goto fail;
  for (size_t k = 0; k <= n; k++) {
    const eco_sim_result *x = &r[k < n ? k : 0];
    xs[k] = malloc((x->n_hours ? x->n_hours : 1) * sizeof(double));
    ys[k] = malloc((x->n_hours ? x->n_hours : 1) * sizeof(double));
    if (!xs[k] || !ys[k]) goto fail;
    for (size_t h = 0; h < x->n_hours; h++) {
      xs[k][h] = (double)h;
      ys[k][h] = k < n ? (x->hours[h].op_g + x->hours[h].emb_g) / 1000.0 : x->hours[h].ci_mean;
    }
    s[k] = (eco_svg_series){.name = k < n ? r[k].policy : "intensity (right axis)",
                            .x = xs[k],
                            .y = ys[k],
                            .n = x->n_hours,
                            .right_axis = k == n,
                            .dashed = k == n};
  }
  eco_svg_chart c = {.title = "Carbon per hour, by policy, with grid intensity",
                     .xlabel = "simulated hour",
                     .ylabel = "kgCO2e per hour (operational + embodied)",
                     .y2label = "mean node-zone intensity, gCO2/kWh"};
  rc = eco_svg_chart_write(sb, &c, s, n + 1);
fail:
  for (size_t k = 0; xs && ys && k <= n; k++) {
    free(xs[k]);
    free(ys[k]);
  }
  free(xs);
  free(ys);
  free(s);
  return rc;
}

int eco_sim_svg_cdf(eco_strbuf *sb, const eco_sim_result *r, size_t n) {
  if (n == 0) return ECO_EINVAL;
  eco_svg_series *s = calloc(n, sizeof *s);
  double *xs = calloc(n * ECO_SIM_HIST_BINS, sizeof *xs);
  double *ys = calloc(n * ECO_SIM_HIST_BINS, sizeof *ys);
  int rc = ECO_ENOMEM;
  if (!s || !xs || !ys) goto fail;
  for (size_t k = 0; k < n; k++) {
    uint64_t tot = 0, c = 0;
    for (size_t i = 0; i < ECO_SIM_HIST_BINS; i++)
      tot += r[k].hist[i];
    size_t m = 0;
    double *x = xs + k * ECO_SIM_HIST_BINS, *y = ys + k * ECO_SIM_HIST_BINS;
    for (size_t i = 0; i < ECO_SIM_HIST_BINS && tot; i++) {
      if (!r[k].hist[i]) continue;
      c += r[k].hist[i];
      x[m] = eco_sim_hist_edge(i);
      y[m] = (double)c / (double)tot;
      m++;
    }
    s[k] = (eco_svg_series){.name = r[k].policy, .x = x, .y = y, .n = m};
  }
  eco_svg_chart c = {.title = "Latency CDF by policy",
                     .xlabel = "end-to-end latency, s (log scale)",
                     .ylabel = "share of requests",
                     .xlog = true};
  rc = eco_svg_chart_write(sb, &c, s, n);
fail:
  free(xs);
  free(ys);
  free(s);
  return rc;
}

size_t eco_sim_pareto(const eco_sim_summary *s, size_t n, size_t *front) {
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    bool dominated = false;
    for (size_t j = 0; j < n && !dominated; j++) {
      if (j == i) continue;
      bool le = s[j].total_g_per_req <= s[i].total_g_per_req && s[j].p95_s <= s[i].p95_s;
      bool lt = s[j].total_g_per_req < s[i].total_g_per_req || s[j].p95_s < s[i].p95_s;
      dominated = le && lt;
    }
    if (!dominated) front[m++] = i;
  }
  return m;
}

static int cmp_x(const void *a, const void *b) {
  const double *x = a, *y = b;
  return (x[0] > y[0]) - (x[0] < y[0]);
}

int eco_sim_svg_pareto(eco_strbuf *sb, const eco_sim_summary *s, size_t n) {
  if (n == 0) return ECO_EINVAL;
  eco_svg_series *ser = calloc(n + 1, sizeof *ser);
  double *x = calloc(2 * n + 2, sizeof *x), *y = calloc(2 * n + 2, sizeof *y);
  size_t *front = calloc(n, sizeof *front);
  double *pairs = calloc(2 * n, sizeof *pairs);
  int rc = ECO_ENOMEM;
  if (!ser || !x || !y || !front || !pairs) goto fail;
  for (size_t i = 0; i < n; i++) {
    x[i] = s[i].p95_s;
    y[i] = s[i].total_g_per_req;
    ser[i] = (eco_svg_series){.name = s[i].policy, .x = &x[i], .y = &y[i], .n = 1, .points = true};
  }
  size_t m = eco_sim_pareto(s, n, front);
  for (size_t k = 0; k < m; k++) {
    pairs[2 * k] = s[front[k]].p95_s;
    pairs[2 * k + 1] = s[front[k]].total_g_per_req;
  }
  qsort(pairs, m, 2 * sizeof(double), cmp_x);
  for (size_t k = 0; k < m; k++) {
    x[n + k] = pairs[2 * k];
    y[n + k] = pairs[2 * k + 1];
  }
  ser[n] = (eco_svg_series){.name = "Pareto front", .x = &x[n], .y = &y[n], .n = m, .dashed = true};
  eco_svg_chart c = {.title = "Carbon per request vs p95 latency",
                     .xlabel = "p95 latency, s",
                     .ylabel = "gCO2e per request (operational + embodied)"};
  rc = eco_svg_chart_write(sb, &c, ser, n + 1);
fail:
  free(ser);
  free(x);
  free(y);
  free(front);
  free(pairs);
  return rc;
}
