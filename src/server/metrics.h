/* ecoinfer: the node server's Prometheus metrics (text exposition 0.0.4).
 * Thread-safe: every update takes one mutex. Names follow Prometheus
 * conventions: base units in the name (_seconds, _joules, _grams), _total
 * for counters. Gauges of the backend (queue, batch, KV) are passed in at
 * render time. */
#ifndef ECO_SERVER_METRICS_H
#define ECO_SERVER_METRICS_H

#include "server/backend.h"
#include "util/strbuf.h"

#include <pthread.h>

#define ECO_HIST_MAX_BUCKETS   16
#define ECO_METRICS_MAX_SERIES 64

typedef struct eco_histogram {
  const double *le; /* upper bounds, s, ascending (+Inf implicit) */
  size_t n_le;
  unsigned long long counts[ECO_HIST_MAX_BUCKETS]; /* non-cumulative per bucket */
  unsigned long long count;
  double sum; /* s */
} eco_histogram;

typedef struct eco_status_series {
  char endpoint[32];
  int code;
  unsigned long long n;
} eco_status_series;

typedef struct eco_source_series {
  char source[32];
  double joules; /* J */
  double grams;  /* gCO2e (operational + embodied) */
} eco_source_series;

typedef struct eco_srv_metrics {
  pthread_mutex_t mu;
  eco_status_series status[ECO_METRICS_MAX_SERIES];
  size_t n_status;
  eco_source_series source[ECO_METRICS_MAX_SERIES / 4];
  size_t n_source;
  eco_histogram latency, ttft, itl;
  unsigned long long prompt_tokens, generated_tokens;
  unsigned long long cancelled;
  int in_flight;
  double started_s; /* process start, epoch s */
} eco_srv_metrics;

void eco_srv_metrics_init(eco_srv_metrics *m, double now_s);
void eco_srv_metrics_destroy(eco_srv_metrics *m);
void eco_srv_metrics_request(eco_srv_metrics *m, const char *endpoint, int status);
void eco_srv_metrics_inflight(eco_srv_metrics *m, int delta);
/* A finished generation: latency, TTFT (s, <0 = none), per-token gaps. */
void eco_srv_metrics_generation(eco_srv_metrics *m, double latency_s, double ttft_s,
                                double per_token_s, int prompt_tokens, int gen_tokens,
                                bool cancelled);
void eco_srv_metrics_carbon(eco_srv_metrics *m, const char *energy_source, double joules,
                            double grams);
/* Appends the whole exposition to sb. */
int eco_srv_metrics_render(eco_srv_metrics *m, const eco_backend_info *info, eco_strbuf *sb);

#endif
