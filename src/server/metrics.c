/* ecoinfer: Prometheus metrics of the node server. */
#include "server/metrics.h"

#include <stdio.h>
#include <string.h>

static const double lat_le[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
static const double ttft_le[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
static const double itl_le[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1};

static void hist_init(eco_histogram *h, const double *le, size_t n) {
  memset(h, 0, sizeof *h);
  h->le = le;
  h->n_le = n;
}

static void hist_observe(eco_histogram *h, double v, unsigned long long times) {
  size_t i = 0;
  while (i < h->n_le && v > h->le[i])
    i++;
  h->counts[i] += times;
  h->count += times;
  h->sum += v * (double)times;
}

void eco_srv_metrics_init(eco_srv_metrics *m, double now_s) {
  memset(m, 0, sizeof *m);
  pthread_mutex_init(&m->mu, NULL);
  hist_init(&m->latency, lat_le, sizeof lat_le / sizeof lat_le[0]);
  hist_init(&m->ttft, ttft_le, sizeof ttft_le / sizeof ttft_le[0]);
  hist_init(&m->itl, itl_le, sizeof itl_le / sizeof itl_le[0]);
  m->started_s = now_s;
}

void eco_srv_metrics_destroy(eco_srv_metrics *m) { pthread_mutex_destroy(&m->mu); }

void eco_srv_metrics_request(eco_srv_metrics *m, const char *endpoint, int status) {
  pthread_mutex_lock(&m->mu);
  size_t i = 0;
  for (; i < m->n_status; i++)
    if (m->status[i].code == status && strcmp(m->status[i].endpoint, endpoint) == 0) break;
  if (i == m->n_status && m->n_status < ECO_METRICS_MAX_SERIES) {
    snprintf(m->status[i].endpoint, sizeof m->status[i].endpoint, "%s", endpoint);
    m->status[i].code = status;
    m->n_status++;
  }
  if (i < m->n_status) m->status[i].n++;
  pthread_mutex_unlock(&m->mu);
}

void eco_srv_metrics_inflight(eco_srv_metrics *m, int delta) {
  pthread_mutex_lock(&m->mu);
  m->in_flight += delta;
  pthread_mutex_unlock(&m->mu);
}

void eco_srv_metrics_generation(eco_srv_metrics *m, double latency_s, double ttft_s,
                                double per_token_s, int prompt_tokens, int gen_tokens,
                                bool cancelled) {
  pthread_mutex_lock(&m->mu);
  hist_observe(&m->latency, latency_s, 1);
  if (ttft_s > 0) hist_observe(&m->ttft, ttft_s, 1);
  if (gen_tokens > 1 && per_token_s > 0)
    hist_observe(&m->itl, per_token_s, (unsigned long long)(gen_tokens - 1));
  m->prompt_tokens += (unsigned long long)(prompt_tokens > 0 ? prompt_tokens : 0);
  m->generated_tokens += (unsigned long long)(gen_tokens > 0 ? gen_tokens : 0);
  if (cancelled) m->cancelled++;
  pthread_mutex_unlock(&m->mu);
}

void eco_srv_metrics_carbon(eco_srv_metrics *m, const char *energy_source, double joules,
                            double grams) {
  pthread_mutex_lock(&m->mu);
  size_t i = 0;
  for (; i < m->n_source; i++)
    if (strcmp(m->source[i].source, energy_source) == 0) break;
  if (i == m->n_source && m->n_source < sizeof m->source / sizeof m->source[0]) {
    snprintf(m->source[i].source, sizeof m->source[i].source, "%s", energy_source);
    m->n_source++;
  }
  if (i < m->n_source) {
    m->source[i].joules += joules;
    m->source[i].grams += grams;
  }
  pthread_mutex_unlock(&m->mu);
}

/* Label values are from fixed sets or backend/meter names; escape anyway. */
static void label(eco_strbuf *sb, const char *v) {
  for (; *v; v++) {
    if (*v == '\\' || *v == '"')
      eco_sb_printf(sb, "\\%c", *v);
    else if (*v == '\n')
      eco_sb_puts(sb, "\\n");
    else
      eco_sb_append(sb, v, 1);
  }
}

static void hist_render(eco_strbuf *sb, const char *name, const char *help,
                        const eco_histogram *h) {
  eco_sb_printf(sb, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
  unsigned long long cum = 0;
  for (size_t i = 0; i < h->n_le; i++) {
    cum += h->counts[i];
    eco_sb_printf(sb, "%s_bucket{le=\"%g\"} %llu\n", name, h->le[i], cum);
  }
  eco_sb_printf(sb, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9g\n%s_count %llu\n", name, h->count,
                name, h->sum, name, h->count);
}

/* The request counters, histograms and energy and carbon by source. Caller holds m->mu. */
static void render_counters_locked(const eco_srv_metrics *m, eco_strbuf *sb) {
  eco_sb_puts(sb, "# HELP ecoinfer_http_requests_total HTTP requests answered, by endpoint and "
                  "status code.\n# TYPE ecoinfer_http_requests_total counter\n");
  for (size_t i = 0; i < m->n_status; i++) {
    eco_sb_puts(sb, "ecoinfer_http_requests_total{endpoint=\"");
    label(sb, m->status[i].endpoint);
    eco_sb_printf(sb, "\",code=\"%d\"} %llu\n", m->status[i].code, m->status[i].n);
  }
  hist_render(sb, "ecoinfer_request_duration_seconds",
              "Generation request latency from arrival to last token.", &m->latency);
  hist_render(sb, "ecoinfer_time_to_first_token_seconds",
              "Time from submission to the first generated token.", &m->ttft);
  hist_render(sb, "ecoinfer_inter_token_latency_seconds",
              "Time between consecutive generated tokens.", &m->itl);
  eco_sb_printf(sb,
                "# HELP ecoinfer_prompt_tokens_total Prompt tokens processed.\n"
                "# TYPE ecoinfer_prompt_tokens_total counter\n"
                "ecoinfer_prompt_tokens_total %llu\n"
                "# HELP ecoinfer_generated_tokens_total Tokens generated.\n"
                "# TYPE ecoinfer_generated_tokens_total counter\n"
                "ecoinfer_generated_tokens_total %llu\n"
                "# HELP ecoinfer_requests_cancelled_total Generations cancelled (client gone, "
                "shutdown).\n"
                "# TYPE ecoinfer_requests_cancelled_total counter\n"
                "ecoinfer_requests_cancelled_total %llu\n",
                m->prompt_tokens, m->generated_tokens, m->cancelled);
  eco_sb_puts(sb, "# HELP ecoinfer_energy_joules_total IT energy attributed to requests, by "
                  "meter source.\n# TYPE ecoinfer_energy_joules_total counter\n");
  for (size_t i = 0; i < m->n_source; i++) {
    eco_sb_puts(sb, "ecoinfer_energy_joules_total{source=\"");
    label(sb, m->source[i].source);
    eco_sb_printf(sb, "\"} %.9g\n", m->source[i].joules);
  }
  eco_sb_puts(sb, "# HELP ecoinfer_carbon_grams_total Emissions of requests (operational + "
                  "embodied), gCO2e, by energy source.\n"
                  "# TYPE ecoinfer_carbon_grams_total counter\n");
  for (size_t i = 0; i < m->n_source; i++) {
    eco_sb_puts(sb, "ecoinfer_carbon_grams_total{source=\"");
    label(sb, m->source[i].source);
    eco_sb_printf(sb, "\"} %.9g\n", m->source[i].grams);
  }
  eco_sb_printf(sb,
                "# HELP ecoinfer_requests_in_flight Generation requests being served.\n"
                "# TYPE ecoinfer_requests_in_flight gauge\n"
                "ecoinfer_requests_in_flight %d\n",
                m->in_flight);
}

/* The backend's queue, batch, KV-cache and prefix-cache gauges. */
static void render_backend(const eco_backend_info *info, eco_strbuf *sb) {
  eco_sb_printf(sb,
                "# HELP ecoinfer_queue_depth Requests waiting for admission to the batch.\n"
                "# TYPE ecoinfer_queue_depth gauge\necoinfer_queue_depth %d\n"
                "# HELP ecoinfer_queue_capacity Bound of the waiting queue.\n"
                "# TYPE ecoinfer_queue_capacity gauge\necoinfer_queue_capacity %d\n"
                "# HELP ecoinfer_batch_size Sequences in the running batch.\n"
                "# TYPE ecoinfer_batch_size gauge\necoinfer_batch_size %d\n"
                "# HELP ecoinfer_batch_size_max Per-node maximum batch.\n"
                "# TYPE ecoinfer_batch_size_max gauge\necoinfer_batch_size_max %d\n"
                "# HELP ecoinfer_kv_cache_used_bytes KV-cache bytes reserved.\n"
                "# TYPE ecoinfer_kv_cache_used_bytes gauge\necoinfer_kv_cache_used_bytes %.0f\n"
                "# HELP ecoinfer_kv_cache_budget_bytes KV-cache budget in bytes.\n"
                "# TYPE ecoinfer_kv_cache_budget_bytes gauge\necoinfer_kv_cache_budget_bytes %.0f\n"
                "# HELP ecoinfer_kv_cache_usage_ratio KV-cache bytes reserved over the budget.\n"
                "# TYPE ecoinfer_kv_cache_usage_ratio gauge\necoinfer_kv_cache_usage_ratio %.6f\n",
                info->queue_len, info->queue_cap, info->active, info->max_batch,
                info->kv_used_bytes, info->kv_budget_bytes,
                info->kv_budget_bytes > 0 ? info->kv_used_bytes / info->kv_budget_bytes : 0.0);
  eco_sb_printf(sb,
                "# HELP ecoinfer_engine_nonfinite_logits_total Requests failed because the "
                "model produced NaN or infinite logits.\n"
                "# TYPE ecoinfer_engine_nonfinite_logits_total counter\n"
                "ecoinfer_engine_nonfinite_logits_total %llu\n",
                (unsigned long long)info->failed_nonfinite);
  if (info->prefix_cache)
    eco_sb_printf(
        sb,
        "# HELP ecoinfer_prefix_cache_hits_total Requests that reused cached prompt KV.\n"
        "# TYPE ecoinfer_prefix_cache_hits_total counter\n"
        "ecoinfer_prefix_cache_hits_total %.0f\n"
        "# HELP ecoinfer_prefix_cache_misses_total Requests that found no cached prefix.\n"
        "# TYPE ecoinfer_prefix_cache_misses_total counter\n"
        "ecoinfer_prefix_cache_misses_total %.0f\n"
        "# HELP ecoinfer_prefix_cache_saved_tokens_total Prompt tokens taken from the prefix "
        "cache instead of computed.\n"
        "# TYPE ecoinfer_prefix_cache_saved_tokens_total counter\n"
        "ecoinfer_prefix_cache_saved_tokens_total %.0f\n"
        "# HELP ecoinfer_prefix_cache_bytes KV bytes held by the prefix cache (within the "
        "KV budget).\n"
        "# TYPE ecoinfer_prefix_cache_bytes gauge\necoinfer_prefix_cache_bytes %.0f\n"
        "# HELP ecoinfer_prefix_cache_evictions_total Prefix-cache blocks evicted.\n"
        "# TYPE ecoinfer_prefix_cache_evictions_total counter\n"
        "ecoinfer_prefix_cache_evictions_total %.0f\n",
        info->prefix_hits, info->prefix_misses, info->prefix_saved_tokens, info->prefix_bytes,
        info->prefix_evictions);
}

int eco_srv_metrics_render(eco_srv_metrics *m, const eco_backend_info *info, eco_strbuf *sb) {
  pthread_mutex_lock(&m->mu);
  render_counters_locked(m, sb);
  double started = m->started_s;
  pthread_mutex_unlock(&m->mu);
  eco_sb_printf(sb,
                "# HELP ecoinfer_start_time_seconds Start time of the server, epoch seconds.\n"
                "# TYPE ecoinfer_start_time_seconds gauge\n"
                "ecoinfer_start_time_seconds %.3f\n",
                started);
  if (info) render_backend(info, sb);
  return sb->oom ? -2 : 0;
}
