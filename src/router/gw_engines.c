/* ecoinfer router: foreign engines' own load signals (see engines.h and
 * gw_internal.h): polled beside each health check, merged into the node's
 * snapshot for the policies like an ecoinfer node's /v1/node report. */
#include "router/gw_internal.h"

#include <event2/buffer.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define LOAD_TIMEOUT_S 2

static void load_next(node *n);

/* A report is used for 3 health periods + 1 s. */
static bool fresh(const node *n, double now) {
  return n->eload_s > 0 && now - n->eload_s <= 3 * n->g->cfg.health_interval_s + 1;
}

static void take(node *n, const eco_engine_load *l) {
  gw *g = n->g;
  eco_node_view *v = &g->views[n->idx];
  n->eload = *l;
  n->eload_s = mono_s();
  if (l->slots > 0) v->max_batch = (uint32_t)l->slots;
  n->rep_active = l->active > 0 ? (uint32_t)l->active : 0;
  n->rep_queue = l->queue > 0 ? (uint32_t)l->queue : 0;
  /* memory: a KV cache at 95% or more counts as a full batch */
  if (l->kv_usage >= 0.95 && n->rep_active < v->max_batch) n->rep_active = v->max_batch;
  n->done_at_report = n->done_at_lpoll;
  /* the engine's measured throughput seeds the profile until receipts teach it */
  if (v->profile.n_obs == 0 && !n->cfg.has_profile && l->decode_tps > 0) {
    eco_profile p;
    double pre = l->prefill_tps > 0 ? l->prefill_tps : l->decode_tps * 20;
    double jpt = v->profile.decode_j_per_tok > 0 ? v->profile.decode_j_per_tok : 1.0;
    if (eco_profile_from_rates(&p, pre, l->decode_tps, jpt, v->profile.overhead_s, 0.05) == 0)
      v->profile = p;
  }
}

static void on_load_done(struct evhttp_request *req, void *arg) {
  node *n = arg;
  gw *g = n->g;
  n->lquery_inflight = false;
  const char *const *paths;
  size_t np = eco_engine_load_paths(n->cfg.engine, &paths);
  size_t k = n->lnext;
  int code = req ? evhttp_request_get_response_code(req) : 0;
  if (k < np && code == 200) {
    struct evbuffer *b = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(b);
    eco_engine_load l = n->eload;
    if (!fresh(n, mono_s())) eco_engine_load_init(&l);
    if (eco_engine_load_parse(n->cfg.engine, paths[k], (const char *)evbuffer_pullup(b, -1), len,
                              &l) == 0) {
      take(n, &l);
      if (strcmp(paths[k], "/metrics") == 0) n->lmetrics_ok = true;
    } else {
      ECO_WARN(&g->log, MOD, "node %s: %s answer is not %s's format", n->cfg.id, paths[k],
               eco_engine_name(n->cfg.engine));
    }
  } else if (k < np && (code == 404 || code == 501)) {
    n->ldisabled |= 1u << k;
    if (strcmp(paths[k], "/metrics") == 0) n->lmetrics_ok = false;
    ECO_INFO(&g->log, MOD, "node %s: %s answers %d: not polled%s", n->cfg.id, paths[k], code,
             n->cfg.engine == ECO_ENGINE_LLAMA_CPP ? " (start llama-server with --metrics/--slots)"
                                                   : "");
  } else if (n->lconn) {
    gw_conn_free_later(g, n->lconn);
    n->lconn = NULL;
    n->lnext = 0;
    return;
  }
  n->lnext = k + 1;
  load_next(n);
}

/* Sends the next endpoint of this period's round, if any. */
static void load_next(node *n) {
  gw *g = n->g;
  const char *const *paths;
  size_t np = eco_engine_load_paths(n->cfg.engine, &paths);
  while (n->lnext < np) {
    size_t k = n->lnext;
    bool skip = (n->ldisabled >> k) & 1u;
    /* llama-server's /slots carries every slot's prompt: with /metrics
     * answering, it is read only every 10th period, for the slot count */
    if (strcmp(paths[k], "/slots") == 0 && n->lmetrics_ok && n->eload.slots > 0 &&
        n->lround % 10 != 0)
      skip = true;
    if (!skip) break;
    n->lnext++;
  }
  if (n->lnext >= np) {
    n->lnext = 0;
    return;
  }
  if (!n->lconn) {
    n->lconn = evhttp_connection_base_new(g->base, g->dns, n->host, (unsigned short)n->port);
    if (!n->lconn) return;
    struct timeval tv = {LOAD_TIMEOUT_S, 0};
    evhttp_connection_set_timeout_tv(n->lconn, &tv);
  }
  struct evhttp_request *req = evhttp_request_new(on_load_done, n);
  if (!req) return;
  evhttp_add_header(evhttp_request_get_output_headers(req), "Host", n->host);
  gw_upstream_auth(n, evhttp_request_get_output_headers(req));
  n->lquery_inflight = true;
  if (evhttp_make_request(n->lconn, req, EVHTTP_REQ_GET, paths[n->lnext]) != 0) {
    n->lquery_inflight = false;
    n->lnext = 0;
  }
}

void gw_engine_poll(node *n) {
  const char *const *paths;
  if (n->lquery_inflight || eco_engine_load_paths(n->cfg.engine, &paths) == 0) return;
  n->lround++;
  n->lnext = 0;
  n->done_at_lpoll = n->done_total;
  load_next(n);
}

/* Before a decision: a stale report no longer counts, and an Ollama node
 * with no model in memory is predicted to wait for the load. */
void gw_engine_apply(node *n, double now) {
  const char *const *paths;
  if (eco_engine_load_paths(n->cfg.engine, &paths) == 0) return;
  eco_node_view *v = &n->g->views[n->idx];
  if (!fresh(n, now)) {
    n->rep_active = n->rep_queue = 0;
    v->backlog_s = 0;
    return;
  }
  v->backlog_s = n->cfg.engine == ECO_ENGINE_OLLAMA && n->eload.models_loaded == 0 ? n->cold_s : 0;
}

static void opt_num(json_t *o, const char *k, double v) {
  json_object_set_new(o, k, v >= 0 ? json_real(v) : json_null());
}

json_t *gw_engine_json(const node *n) {
  json_t *o = json_pack("{s:s}", "kind", eco_engine_name(n->cfg.engine));
  const char *const *paths;
  size_t np = eco_engine_load_paths(n->cfg.engine, &paths);
  if (!o || np == 0) return o;
  bool f = fresh(n, mono_s());
  json_object_set_new(o, "fresh", json_boolean(f));
  json_t *d = json_array();
  for (size_t k = 0; d && k < np; k++)
    if ((n->ldisabled >> k) & 1u) json_array_append_new(d, json_string(paths[k]));
  json_object_set_new(o, "not_served", d ? d : json_array());
  if (!f) return o;
  const eco_engine_load *l = &n->eload;
  opt_num(o, "active", l->active);
  opt_num(o, "queue", l->queue);
  opt_num(o, "slots", l->slots);
  opt_num(o, "kv_usage", l->kv_usage);
  opt_num(o, "decode_tps", l->decode_tps);
  opt_num(o, "prefill_tps", l->prefill_tps);
  opt_num(o, "models_loaded", l->models_loaded);
  opt_num(o, "vram_fraction", l->vram_fraction);
  if (n->cfg.engine == ECO_ENGINE_OLLAMA)
    json_object_set_new(o, "cold_start_s", json_real(n->cold_s));
  return o;
}

json_t *gw_meter_json(const node *n) {
  if (!n->aport) return json_null();
  json_t *o = json_pack("{s:s,s:s,s:s,s:b,s:b,s:b}", "spec", n->cfg.meter, "source", n->asrc,
                        "rails", n->arails, "estimated", n->aestimated, "covers_gpu", n->agpu,
                        "gpu_node", n->cfg.gpu);
  if (!o) return NULL;
  double p_w = gw_agent_power_w(n);
  json_object_set_new(o, "power_w", p_w >= 0 ? json_real(p_w) : json_null());
  if (n->awhy[0]) json_object_set_new(o, "error", json_string(n->awhy));
  return o;
}
