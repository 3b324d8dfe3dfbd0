/* ecoinfer router: the quality loop on the event loop's side (see
 * gw_eval_internal.h): which finished requests are sampled, the jobs handed to the
 * worker, the refitted model swapped in, /admin/directive's "eval", the
 * metrics and the dashboard's line. Decisions are directive/evalsched.h's
 * pure functions; the draws come from a seeded generator (util/rand.h). */
#include "router/gw_eval_internal.h"

#include "directive/dtrain.h"
#include "util/rand.h"

#include <event2/buffer.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EVAL_TEXT_MAX 8192       /* bytes of a prompt's text parts kept for the judge */
#define EVAL_BODY_MAX (1u << 20) /* larger request bodies are not sampled (memory bound) */

void gw_eval_job_free(ejob *j) {
  if (!j) return;
  for (size_t l = 0; l < ECO_DIRECTIVE_MAX_LEVELS; l++)
    free(j->answer[l]);
  free(j->prompt);
  free(j->body);
  free(j);
}

void gw_eval_status_line(const gw_eval *e, char *buf, size_t cap) {
  if (!eco_evalsched_active(&e->cfg)) {
    snprintf(buf, cap,
             "quality judge: none configured, the model file's preference rates "
             "(priors) are kept");
    return;
  }
  char when[32] = "never";
  if (e->last_refit_s > 0) {
    time_t t = (time_t)e->last_refit_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%H:%M:%S UTC", &tm);
  }
  snprintf(buf, cap,
           "quality judge %s: %llu sampled, %llu pending, %llu judged (%llu decided), %llu failed, "
           "%llu dropped; last refit %s",
           e->cfg.judge_model, (unsigned long long)e->n.sampled, (unsigned long long)e->n.pending,
           (unsigned long long)e->n.judged, (unsigned long long)e->n.decided,
           (unsigned long long)e->n.failed, (unsigned long long)e->n.dropped, when);
}

void gw_eval_dash_update(gw_eval *e) {
  char line[320];
  pthread_mutex_lock(&e->mu);
  gw_eval_status_line(e, line, sizeof line);
  pthread_mutex_unlock(&e->mu);
  (void)eco_dash_set_eval(e->dash, line);
}

/* The worker handed a refitted model over: swap it in (the same swap as
 * POST /admin/directive/reload). */
static void on_swap(evutil_socket_t fd, short ev, void *arg) {
  (void)fd;
  (void)ev;
  gw *g = arg;
  gw_eval *e = g->eval;
  pthread_mutex_lock(&e->mu);
  eco_dmodel *m = e->ready;
  e->ready = NULL;
  pthread_mutex_unlock(&e->mu);
  if (!m) return;
  eco_error err = {0};
  if (gw_directive_swap(g, m, &err)) {
    ECO_WARN(&g->log, MOD, "quality loop: refitted model not used: %s", eco_error_text(&err));
    eco_dmodel_free(m);
    free(m);
    pthread_mutex_lock(&e->mu);
    e->n.refit_errors++;
    snprintf(e->last_error, sizeof e->last_error, "swap: %s", eco_error_text(&err));
    pthread_mutex_unlock(&e->mu);
    return;
  }
  pthread_mutex_lock(&e->mu);
  e->n.swaps++;
  pthread_mutex_unlock(&e->mu);
  gw_eval_dash_update(e);
}

void gw_eval_publish_ci(gw *g) {
  gw_eval *e = g->eval;
  if (!e || !e->judge_zone[0]) return;
  const zone_state *z = gw_zone_get(g, e->judge_zone);
  pthread_mutex_lock(&e->mu);
  e->judge_ci.gco2_kwh = z ? z->gco2_kwh : -1;
  snprintf(e->judge_ci.source, sizeof e->judge_ci.source, "%s", z ? z->source : "");
  e->judge_ci.estimated = z && z->estimated;
  pthread_mutex_unlock(&e->mu);
}

/* The judge's zone: judge.zone, else the directive plan's (directive.zone,
 * else the first node's); registered with the zones the router refreshes,
 * and its value handed over before the worker starts. */
static void judge_zone_init(gw *g, gw_eval *e) {
  const char *zn = e->cfg.judge_zone;
  e->zone_assumed = !zn[0];
  if (!zn[0]) zn = g->cfg.directive.zone;
  if (!zn[0] && g->n_nodes) zn = g->nodes[0]->cfg.zone;
  snprintf(e->judge_zone, sizeof e->judge_zone, "%s", zn);
  zone_state *z = zn[0] ? gw_zone_get(g, zn) : NULL;
  if (z) gw_zone_refresh_one(g, z);
  gw_eval_publish_ci(g);
}

int gw_eval_init(gw *g, eco_error *err) {
  const eco_rdir_cfg *dc = &g->cfg.directive;
  gw_eval *e = calloc(1, sizeof *e);
  if (!e) return eco_error_set(err, ECO_ENOMEM, "router: out of memory");
  g->eval = e;
  e->cfg = dc->eval;
  e->dcfg = dc->dcfg;
  snprintf(e->model_path, sizeof e->model_path, "%s", dc->model_path);
  e->batch = g->batch;
  e->dash = g->dash;
  e->ledger = g->ledger;
  e->log = g->log;
  e->rng = e->cfg.seed ? e->cfg.seed : 1;
  pthread_mutex_init(&e->mu, NULL);
  pthread_cond_init(&e->cv, NULL);
  e->judge_ci.gco2_kwh = -1;
  e->rates = json_object();
  if (!e->rates) return eco_error_set(err, ECO_ENOMEM, "router: out of memory");
  if (!dc->enabled) return 0;
  if (!eco_evalsched_active(&e->cfg) || !g->dserve || !g->batch) {
    ECO_INFO(&g->log, MOD, "quality loop: no judge configured: the priors are kept");
    gw_eval_dash_update(e);
    return 0;
  }
  e->swap_ev = event_new(g->base, -1, 0, on_swap, g);
  if (!e->swap_ev) return eco_error_set(err, ECO_ENOMEM, "router: out of memory");
  /* the worker opens the verdict store itself; check it here, so a bad path
   * stops the router at start-up with the reason */
  eco_verdicts *vs = NULL;
  int rc = eco_verdicts_open(e->cfg.db, &vs, err);
  eco_verdicts_close(vs);
  if (rc) return rc;
  judge_zone_init(g, e);
  if (pthread_create(&e->th, NULL, gw_eval_main, e) != 0)
    return eco_error_set(err, ECO_ENOMEM, "router: cannot start the quality loop's thread");
  e->started = true;
  ECO_INFO(&g->log, MOD,
           "quality loop: sampling %.4g of decided chat requests, judge %s at %s, verdicts in %s",
           e->cfg.sample, e->cfg.judge_model, e->cfg.judge_url, e->cfg.db);
  gw_eval_dash_update(e);
  return 0;
}

void gw_eval_free(gw *g) {
  gw_eval *e = g->eval;
  if (!e) return;
  if (e->started) {
    pthread_mutex_lock(&e->mu);
    e->stop = true;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
    pthread_join(e->th, NULL);
  }
  while (e->inbox) {
    ejob *j = e->inbox;
    e->inbox = j->next;
    gw_eval_job_free(j);
  }
  if (e->ready) eco_dmodel_free(e->ready);
  free(e->ready);
  if (e->swap_ev) event_free(e->swap_ev);
  json_decref(e->rates);
  pthread_mutex_destroy(&e->mu);
  pthread_cond_destroy(&e->cv);
  memset(e->cfg.judge_key, 0, sizeof e->cfg.judge_key);
  free(e);
  g->eval = NULL;
}

/* The client's body without its stream options: the regenerations are
 * answered as JSON to the batch dispatcher. */
static char *job_body(const json_t *body) {
  json_t *c = json_deep_copy(body);
  if (!c) return NULL;
  json_object_del(c, "stream");
  json_object_del(c, "stream_options");
  char *s = json_dumps(c, JSON_COMPACT);
  json_decref(c);
  return s;
}

static ejob *job_new(preq *r, const json_t *resp, const eco_receipt *rc, double up_s) {
  ejob *j = calloc(1, sizeof *j);
  char buf[EVAL_TEXT_MAX];
  size_t len = 0;
  const char *text = eco_dtrain_request_text(r->body, buf, sizeof buf, &len);
  if (!j || !text || len == 0) goto fail;
  j->prompt = strndup(text, len);
  j->body = job_body(r->body);
  if (!j->prompt || !j->body) goto fail;
  snprintf(j->model, sizeof j->model, "%s", r->dmodel_name);
  snprintf(j->group, sizeof j->group, "%s", r->ddec.group);
  j->served = r->dlevel;
  for (size_t l = 0; l < ECO_DIRECTIVE_MAX_LEVELS; l++)
    j->energy_j[l] = j->time_s[l] = -1;
  j->gco2_kwh = rc ? rc->intensity_gco2_kwh : -1;
  snprintf(j->ci_source, sizeof j->ci_source, "%s", rc ? rc->intensity_source : "");
  /* the live answer, when the client got it whole (a stream's last chunk has none) */
  const char *ans = json_string_value(json_object_get(
      json_object_get(json_array_get(json_object_get(resp, "choices"), 0), "message"), "content"));
  if (ans && r->dlevel >= 0 && (size_t)r->dlevel < ECO_DIRECTIVE_MAX_LEVELS) {
    if (!(j->answer[r->dlevel] = strdup(ans))) goto fail;
    j->energy_j[r->dlevel] = rc ? rc->energy_j : -1;
    j->time_s[r->dlevel] = up_s;
  }
  return j;
fail:
  gw_eval_job_free(j);
  return NULL;
}

void gw_eval_offer(preq *r, const json_t *resp, const eco_receipt *rc, double up_s) {
  gw *g = r->g;
  gw_eval *e = g->eval;
  if (!e || !e->started || r->models) return;
  eco_evalsched_req q = {.chat = strcmp(r->path, "/v1/chat/completions") == 0,
                         .decided = r->dlive && r->dlevel >= 0 && r->ddec.cls >= 0,
                         .opted_out = r->dopt_out,
                         .ok = true};
  if (!q.chat || !q.decided || q.opted_out || r->raw_len > EVAL_BODY_MAX)
    return; /* not eligible: no draw */
  double u = eco_rand_uniform(&e->rng);
  pthread_mutex_lock(&e->mu);
  eco_evalsched_pick p = eco_evalsched_sample(&e->cfg, &q, (size_t)e->n.pending, u);
  if (p == ECO_EVALSCHED_FULL) e->n.dropped++;
  pthread_mutex_unlock(&e->mu);
  if (p != ECO_EVALSCHED_SAMPLE) return;
  ejob *j = job_new(r, resp, rc, up_s);
  pthread_mutex_lock(&e->mu);
  if (!j) {
    e->n.failed++;
    snprintf(e->last_error, sizeof e->last_error, "sample: no prompt text or out of memory");
  } else {
    if (e->inbox_tail)
      e->inbox_tail->next = j;
    else
      e->inbox = j;
    e->inbox_tail = j;
    e->n.sampled++;
    e->n.pending++;
    pthread_cond_signal(&e->cv);
  }
  pthread_mutex_unlock(&e->mu);
}

json_t *gw_eval_admin_json(gw *g) {
  gw_eval *e = g->eval;
  if (!e || !eco_evalsched_active(&e->cfg))
    return json_pack("{s:n,s:s}", "judge", "status", "no judge configured: priors kept");
  pthread_mutex_lock(&e->mu);
  const eval_counts *n = &e->n;
  json_t *o = json_pack(
      "{s:{s:s,s:s},s:s,s:f,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:o,s:s}",
      "judge", "url", e->cfg.judge_url, "model", e->cfg.judge_model, "status",
      e->started ? "running" : "stopped", "sample", e->cfg.sample, "db", e->cfg.db, "model_out",
      e->cfg.model_out, "sampled", (json_int_t)n->sampled, "pending", (json_int_t)n->pending,
      "dropped", (json_int_t)n->dropped, "submitted", (json_int_t)n->submitted, "judged",
      (json_int_t)n->judged, "decided", (json_int_t)n->decided, "failed", (json_int_t)n->failed,
      "judge_errors", (json_int_t)n->judge_errors, "refits", (json_int_t)n->refits, "refit_errors",
      (json_int_t)n->refit_errors, "swaps", (json_int_t)n->swaps, "judge_energy_j",
      n->judge_energy_j, "rates", json_deep_copy(e->rates), "last_error", e->last_error);
  if (o && e->last_refit_s > 0) json_object_set_new(o, "last_refit", json_real(e->last_refit_s));
  if (o && e->last_refit_s <= 0) json_object_set_new(o, "last_refit", json_null());
  pthread_mutex_unlock(&e->mu);
  return o;
}

void gw_eval_metrics(gw *g, struct evbuffer *b) {
  gw_eval *e = g->eval;
  if (!e || !eco_evalsched_active(&e->cfg)) return;
  pthread_mutex_lock(&e->mu);
  eval_counts n = e->n;
  double last = e->last_refit_s;
  pthread_mutex_unlock(&e->mu);
  static const char *const names[][2] = {
      {"sampled", "Live requests sampled for the quality judge."},
      {"dropped", "Sampled requests dropped because max_pending were waiting."},
      {"batches", "Evaluation batches submitted (regenerations at the other levels)."},
      {"judged", "Verdicts stored."},
      {"decided", "Verdicts with a preferred level."},
      {"failed", "Samples given up (generation, batch, judge or store failed)."},
      {"judge_errors", "Judge attempts with no usable reply (down, timeout, garbage)."},
      {"refits", "Directive models refitted from the verdicts."},
      {"refit_errors", "Refits or swaps that failed."},
      {"swaps", "Refitted directive models swapped in."}};
  const uint64_t v[] = {n.sampled, n.dropped,      n.submitted, n.judged,       n.decided,
                        n.failed,  n.judge_errors, n.refits,    n.refit_errors, n.swaps};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
    evbuffer_add_printf(b,
                        "# HELP ecoinfer_router_eval_%s_total %s\n# TYPE "
                        "ecoinfer_router_eval_%s_total counter\necoinfer_router_eval_%s_total "
                        "%llu\n",
                        names[i][0], names[i][1], names[i][0], names[i][0],
                        (unsigned long long)v[i]);
  evbuffer_add_printf(b,
                      "# HELP ecoinfer_router_eval_pending Sampled requests waiting for their "
                      "regenerations or the judge.\n# TYPE ecoinfer_router_eval_pending gauge\n"
                      "ecoinfer_router_eval_pending %llu\n"
                      "# HELP ecoinfer_router_eval_last_refit_seconds Unix time of the last refit "
                      "(0 = none).\n# TYPE ecoinfer_router_eval_last_refit_seconds gauge\n"
                      "ecoinfer_router_eval_last_refit_seconds %.3f\n",
                      (unsigned long long)n.pending, last);
}
