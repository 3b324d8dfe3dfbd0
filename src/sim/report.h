/* ecoinfer simulator: figures per policy, as a table, CSV, JSON and SVG.
 *
 * Per-request carbon: operational = all energy of the cluster (batches and
 * idle power) * PUE * zone intensity, divided by completed requests;
 * embodied = device embodied carbon for the time it was busy serving
 * (SCI's time-reserved share), divided by completed requests. The idle
 * share of operational carbon is reported separately, and so is the
 * embodied carbon of idle time (a fleet figure that no policy changes
 * unless it lets nodes be switched off). */
#ifndef ECO_SIM_REPORT_H
#define ECO_SIM_REPORT_H

#include "sim/cluster.h"
#include "util/strbuf.h"

#include <jansson.h>

typedef struct eco_sim_summary {
  char policy[32];
  uint64_t arrived, completed, refused;
  double op_g_per_req;                                    /* gCO2e, incl. idle */
  double op_active_g_per_req;                             /* gCO2e, batches only */
  double emb_g_per_req;                                   /* gCO2e, busy time */
  double total_g_per_req;                                 /* op + emb, gCO2e */
  double op_g_per_ktok, emb_g_per_ktok, total_g_per_ktok; /* per 1000 prompt+output tokens */
  double total_g;                                         /* op + emb over the run, gCO2e */
  double energy_kwh;                                      /* active + idle, kWh (before PUE) */
  double energy_active_kwh;                               /* kWh */
  double j_per_req;                                       /* active + idle energy per request, J */
  double p50_s, p95_s, p99_s, mean_s, max_s;              /* latency, s */
  double throughput_rps;                /* completed / simulated time, requests/s */
  double tok_per_s;                     /* output tokens / simulated time */
  double slo_attainment;                /* share of arrivals completed within the SLO */
  double util_mean, util_min, util_max; /* node busy share */
  double mean_batch;                    /* sequences per batch */
  double span_s;                        /* simulated time, s */
} eco_sim_summary;

void eco_sim_summarize(const eco_sim_result *r, eco_sim_summary *s);

/* Text table, one row per policy. */
void eco_sim_report_table(eco_strbuf *sb, const eco_sim_summary *s, size_t n);
/* CSV with a header row. */
void eco_sim_report_csv(eco_strbuf *sb, const eco_sim_summary *s, size_t n);
/* JSON object of one summary. */
json_t *eco_sim_summary_json(const eco_sim_summary *s);

/* SVG charts: hourly carbon of each policy with the mean intensity (right
 * axis); latency CDFs; carbon per request vs p95 latency with the Pareto
 * front. */
int eco_sim_svg_carbon(eco_strbuf *sb, const eco_sim_result *r, size_t n);
int eco_sim_svg_cdf(eco_strbuf *sb, const eco_sim_result *r, size_t n);
int eco_sim_svg_pareto(eco_strbuf *sb, const eco_sim_summary *s, size_t n);

/* Indices of the Pareto-optimal summaries (lower carbon/request and lower
 * p95 both better) in *front, count returned. */
size_t eco_sim_pareto(const eco_sim_summary *s, size_t n, size_t *front);

#endif
