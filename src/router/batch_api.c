/* The OpenAI Batch API on the router (see batch_api.h): life cycle. The
 * handlers are in batch_http.c, the threads in batch_dispatch.c, planning in
 * batch_plan.c. */
#include "router/batch_internal.h"

#include "carbon/forecast.h"
#include "util/timeutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int prov_init(eco_batch_api *b, const eco_router_cfg *cfg, eco_error *err) {
  eco_static_entry *ents = NULL;
  eco_intensity_provider *inner = NULL;
  int rc;
  if (cfg->n_zones) {
    ents = calloc(cfg->n_zones, sizeof *ents);
    if (!ents) return eco_error_set(err, ECO_ENOMEM, "batch: out of memory");
    for (size_t i = 0; i < cfg->n_zones; i++) {
      ents[i].zone = cfg->zones[i].zone;
      ents[i].gco2_kwh = cfg->zones[i].gco2_kwh;
    }
  }
  b->t0_wall = b->t0_trace = eco_time_wall_s();
  b->speed = 1;
  if (cfg->batch_intensity) {
    /* The shared accounting schema (carbon.provider): the caller built this
     * instance for us. It maps caller time itself (trace replay included),
     * so the planner's clock is the wall clock. */
    if ((rc = eco_intensity_static_new(ents, cfg->n_zones, -1, &b->fallback, err))) {
      free(ents);
      return rc;
    }
    free(ents);
    eco_forecast_cfg fc;
    if ((rc = eco_forecast_parse(b->cfg.forecast, &fc, err))) return rc;
    b->inner = cfg->batch_intensity;
    b->prefer_inner = cfg->batch_intensity_has_forecast;
    return eco_intensity_history_forecast_new(b->inner, false, &fc, &b->prov, err);
  }
  if (cfg->trace_path[0]) {
    /* The gateway replays the trace from its first row at start-up. The
     * planner works in trace time (so the history forecast reads the
     * trace's own past): the same mapping, applied here. */
    eco_trace_opts o;
    eco_trace_opts_default(&o);
    o.replay_origin_s = b->t0_wall;
    o.speed = cfg->trace_speed > 0 ? cfg->trace_speed : 1;
    o.loop = true;
    eco_intensity_provider *rp = NULL;
    if (eco_intensity_trace_open(cfg->trace_path, &o, &rp, err) == 0) {
      b->t0_trace = eco_intensity_trace_time(rp, b->t0_wall);
      b->speed = o.speed;
      eco_intensity_free(rp);
      o.replay_origin_s = 0;
      if (eco_intensity_trace_open(cfg->trace_path, &o, &inner, err) != 0) inner = NULL;
    }
    if (!inner) {
      b->t0_trace = b->t0_wall;
      b->speed = 1;
    }
  }
  /* the static table: the fallback for zones the trace lacks */
  if ((rc = eco_intensity_static_new(ents, cfg->n_zones, -1, &b->fallback, err)) ||
      (!inner && (rc = eco_intensity_static_new(ents, cfg->n_zones, -1, &inner, err)))) {
    free(ents);
    return rc;
  }
  free(ents);
  eco_forecast_cfg fc;
  if ((rc = eco_forecast_parse(b->cfg.forecast, &fc, err))) {
    eco_intensity_free(inner);
    return rc;
  }
  b->inner = inner;
  return eco_intensity_history_forecast_new(inner, true, &fc, &b->prov, err);
}

int eco_batch_api_new(const eco_router_cfg *cfg, const eco_logger *log, eco_batch_api **out,
                      eco_error *err) {
  if (!cfg || !out || !cfg->batch_api.db_path[0])
    return eco_error_set(err, ECO_EINVAL, "batch: no router.batch_api.db");
  *out = NULL;
  eco_batch_api *b = calloc(1, sizeof *b);
  if (!b) return eco_error_set(err, ECO_ENOMEM, "batch: out of memory");
  b->cfg = cfg->batch_api;
  b->pue = cfg->pue;
  b->ledger = cfg->ledger;
  b->dir = cfg->directive;
  memset(b->dir.eval.judge_key, 0, sizeof b->dir.eval.judge_key); /* not needed here */
  if (log)
    b->log = *log;
  else
    eco_log_init(&b->log);
  pthread_mutex_init(&b->prov_mu, NULL);
  pthread_mutex_init(&b->mu, NULL);
  pthread_cond_init(&b->cv, NULL);
  int rc;
  if ((rc = eco_batchq_open(b->cfg.db_path, &b->q, err))) goto fail;
  if ((rc = prov_init(b, cfg, err))) goto fail;
  b->nodes = calloc(cfg->n_nodes ? cfg->n_nodes : 1, sizeof *b->nodes);
  if (!b->nodes) goto oom;
  for (size_t i = 0; i < cfg->n_nodes; i++) {
    const eco_router_node_cfg *nc = &cfg->nodes[i];
    bnode *n = &b->nodes[b->n_nodes++];
    snprintf(n->url, sizeof n->url, "%s", nc->url);
    if (nc->api_key[0]) snprintf(n->auth, sizeof n->auth, "Authorization: Bearer %s", nc->api_key);
    snprintf(n->zone, sizeof n->zone, "%s", nc->zone);
    double lim = floor((double)nc->max_batch * (1 - b->cfg.interactive_reserve));
    n->limit = lim >= 1 ? (uint32_t)lim : 1;
    n->max_batch = nc->max_batch;
    n->ecoinfer = nc->ecoinfer;
    zinfo *z = NULL;
    for (size_t k = 0; k < b->n_zones; k++)
      if (strcasecmp(b->zones[k].name, nc->zone) == 0) z = &b->zones[k];
    if (!z && b->n_zones < ZMAX) {
      z = &b->zones[b->n_zones++];
      snprintf(z->name, sizeof z->name, "%s", nc->zone);
      z->energy_j = b->cfg.energy_j;
      z->embodied_g = nc->embodied_g_per_s * b->cfg.request_s;
    }
    if (z) z->capacity += (int64_t)floor(nc->max_batch * b->cfg.slot_s / b->cfg.request_s);
  }
  b->n_workers = b->cfg.concurrency;
  b->workers = calloc((size_t)b->n_workers, sizeof *b->workers);
  if (!b->workers) goto oom;
  for (int i = 0; i < b->n_workers; i++) {
    b->workers[i].b = b;
    b->workers[i].idx = i;
    if (pthread_create(&b->workers[i].th, NULL, bapi_worker_main, &b->workers[i]) != 0) {
      rc = eco_error_set(err, ECO_ENOMEM, "batch: cannot start a dispatcher thread");
      goto fail;
    }
    b->workers[i].started = true;
  }
  b->maint.b = b;
  if (pthread_create(&b->maint.th, NULL, bapi_maint_main, &b->maint) != 0) {
    rc = eco_error_set(err, ECO_ENOMEM, "batch: cannot start the maintenance thread");
    goto fail;
  }
  b->maint.started = true;
  ECO_INFO(&b->log, MOD, "Batch API on (db %s, %d dispatchers, interactive reserve %.2f)",
           b->cfg.db_path, b->n_workers, b->cfg.interactive_reserve);
  *out = b;
  return 0;
oom:
  rc = eco_error_set(err, ECO_ENOMEM, "batch: out of memory");
fail:
  eco_batch_api_free(b);
  return rc;
}

void eco_batch_api_set_observer(eco_batch_api *b, eco_batch_row_fn fn, void *user) {
  if (!b) return;
  pthread_mutex_lock(&b->mu);
  b->observer = fn;
  b->observer_user = user;
  pthread_mutex_unlock(&b->mu);
}

void eco_batch_api_free(eco_batch_api *b) {
  if (!b) return;
  pthread_mutex_lock(&b->mu);
  b->stop = true;
  pthread_cond_broadcast(&b->cv);
  pthread_mutex_unlock(&b->mu);
  for (int i = 0; i < b->n_workers; i++)
    if (b->workers[i].started) pthread_join(b->workers[i].th, NULL);
  if (b->maint.started) pthread_join(b->maint.th, NULL);
  free(b->workers);
  free(b->nodes);
  eco_intensity_free(b->prov);
  eco_intensity_free(b->fallback);
  eco_batchq_close(b->q);
  pthread_mutex_destroy(&b->prov_mu);
  pthread_mutex_destroy(&b->mu);
  pthread_cond_destroy(&b->cv);
  free(b);
}
