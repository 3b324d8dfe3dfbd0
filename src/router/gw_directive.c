/* ecoinfer router: generation directives on the request path (see
 * gw_internal.h and directive_hook.h): the level of each request from
 * the live plan (directive/dserve.h: classifier, period plan, learned
 * costs) or Sprout's LP, what receipts teach the live plan, its SQLite
 * store, /admin/directive and the metrics. The decisions themselves are
 * the pure functions of src/directive; this file only wires them. */
#include "router/gw_internal.h"
#include "util/rand.h"

#include "directive/dtrain.h"
#include "router/dstats_db.h"

#include <event2/buffer.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIR_TEXT_MAX 8192 /* bytes of a prompt's text parts joined for the classifier */

static bool live_on(const gw *g) {
  return g->cfg.directive.enabled && g->cfg.directive.plan_kind == ECO_RDIR_PLAN_LIVE && g->dserve;
}

static void on_flush(evutil_socket_t fd, short ev, void *arg) {
  (void)fd;
  (void)ev;
  gw *g = arg;
  eco_error err = {0};
  if (g->ddb && eco_dstats_db_save(g->ddb, &g->dserve->learn, eco_time_wall_s(), &err)) {
    g->ddb_errors++;
    ECO_WARN(&g->log, MOD, "directive: %s (kept in memory, retried)", eco_error_text(&err));
  }
}

int gw_directive_init(gw *g, eco_error *err) {
  const eco_rdir_cfg *c = &g->cfg.directive;
  g->dfc_hour = -1;
  if (!c->enabled || c->plan_kind != ECO_RDIR_PLAN_LIVE) return 0;
  int rc;
  g->dmodel = calloc(1, sizeof *g->dmodel);
  g->dserve = calloc(1, sizeof *g->dserve);
  if (!g->dmodel || !g->dserve) return eco_error_set(err, ECO_ENOMEM, "router: out of memory");
  if (eco_dmodel_load(c->model_path, g->dmodel, err)) {
    char msg[256];
    snprintf(msg, sizeof msg, "%s", eco_error_text(err));
    return eco_error_set(err, ECO_ECONFIG, "directive.model: %s", msg);
  }
  if (g->dmodel->groups.n_levels != c->dcfg.n_levels)
    return eco_error_set(err, ECO_ECONFIG,
                         "directive.model: %s has %zu levels, directive.levels %zu", c->model_path,
                         g->dmodel->groups.n_levels, c->dcfg.n_levels);
  if ((rc = eco_dserve_init(g->dserve, &c->live, g->dmodel, err))) {
    free(g->dserve);
    g->dserve = NULL;
    return rc;
  }
  if (c->learn_db[0]) {
    size_t rows = 0;
    if ((rc = eco_dstats_db_open(c->learn_db, &g->ddb, err)) ||
        (rc = eco_dstats_db_load(g->ddb, &g->dserve->learn, &rows, err)))
      return rc;
    ECO_INFO(&g->log, MOD, "directive: %zu learned cost figures of %zu models from %s", rows,
             g->dserve->learn.n, c->learn_db);
    g->dflush_ev = event_new(g->base, -1, EV_PERSIST, on_flush, g);
    if (!g->dflush_ev) return eco_error_set(err, ECO_ENOMEM, "router: out of memory");
    double f = c->learn_flush_s;
    struct timeval tv = {(time_t)f, (suseconds_t)((f - floor(f)) * 1e6)};
    evtimer_add(g->dflush_ev, &tv);
  }
  ECO_INFO(&g->log, MOD, "directive: live plan, model %s (%zu classes, accuracy %.3f), priors: %s",
           c->model_path, g->dmodel->cls.n_classes, g->dmodel->accuracy, c->live.learn.pri.source);
  return 0;
}

void gw_directive_free(gw *g) {
  if (g->dflush_ev) {
    event_free(g->dflush_ev);
    g->dflush_ev = NULL;
  }
  if (g->ddb && g->dserve) on_flush(-1, 0, g); /* what changed since the last write */
  eco_dstats_db_close(g->ddb);
  g->ddb = NULL;
  eco_dserve_free(g->dserve);
  free(g->dserve);
  g->dserve = NULL;
  eco_dmodel_free(g->dmodel);
  free(g->dmodel);
  g->dmodel = NULL;
}

int gw_directive_swap(gw *g, eco_dmodel *m, eco_error *err) {
  if (!live_on(g))
    return eco_error_set(err, ECO_EINVAL, "directive: the live plan is not configured");
  if (m->groups.n_levels != g->cfg.directive.dcfg.n_levels)
    return eco_error_set(err, ECO_EINVAL,
                         "directive: the model has %zu levels, directive.levels %zu",
                         m->groups.n_levels, g->cfg.directive.dcfg.n_levels);
  int rc = eco_dserve_set_model(g->dserve, m, err);
  if (rc) return rc;
  eco_dmodel_free(g->dmodel);
  free(g->dmodel);
  g->dmodel = m;
  return 0;
}

int gw_directive_reload(gw *g, eco_error *err) {
  if (!live_on(g))
    return eco_error_set(err, ECO_EINVAL, "directive: the live plan is not configured");
  eco_dmodel *m = calloc(1, sizeof *m);
  if (!m) return eco_error_set(err, ECO_ENOMEM, "router: out of memory");
  int rc = eco_dmodel_load(g->cfg.directive.model_path, m, err);
  if (!rc) rc = gw_directive_swap(g, m, err);
  if (rc) {
    eco_dmodel_free(m);
    free(m);
    return rc;
  }
  ECO_INFO(&g->log, MOD, "directive: model %s reloaded (%zu classes, %zu training prompts)",
           g->cfg.directive.model_path, m->cls.n_classes, m->n_train);
  return 0;
}

double gw_directive_energy_ratio(const preq *r) {
  if (!r->dlive || r->dlevel <= 0 || !live_on(r->g)) return -1;
  return eco_dserve_energy_ratio(r->g->dserve, &r->ddec, r->dlevel);
}

static zone_state *directive_zone(gw *g) {
  const char *zn = g->cfg.directive.zone;
  if (!zn[0] && g->n_nodes) zn = g->nodes[0]->cfg.zone;
  return zn[0] ? gw_zone_get(g, zn) : NULL;
}

/* The forecast of the rest of the period, hour by hour: this hour is the
 * zone's current value; later hours from the intensity provider's forecast
 * (a trace: its own future; a live API: its forecast endpoint), a missing
 * hour repeating the one before (persistence). An admin override holds for
 * the whole period. */
static size_t forecast_cb(void *user, long hour, double *out, size_t cap) {
  gw *g = user;
  zone_state *z = directive_zone(g);
  if (!z || !(z->gco2_kwh >= 0) || !isfinite(z->gco2_kwh) || cap == 0) return 0;
  size_t P = g->cfg.directive.live.live.period_h;
  size_t left = P - (size_t)(hour % (long)P);
  if (left > cap) left = cap;
  for (size_t j = 0; j < left; j++)
    out[j] = -1;
  out[0] = z->gco2_kwh;
  if (!z->override && left > 1 && g->prov) {
    eco_intensity v[2 * ECO_DSERVE_FC_MAX];
    size_t n = 0;
    eco_error e = {0};
    /* hours of the grid's clock: a replayed trace plays them faster */
    double from = eco_intensity_trace_caller_time(g->prov, (double)(hour + 1) * 3600),
           to = eco_intensity_trace_caller_time(g->prov, (double)(hour + (long)left) * 3600);
    if (eco_intensity_forecast(g->prov, z->zone, from, to, v, &n, &e) == 0) {
      for (size_t i = 0; i < n && i < 2 * ECO_DSERVE_FC_MAX; i++) {
        long h = (long)floor(v[i].time_s / 3600) - hour;
        if (h >= 1 && (size_t)h < left && out[h] < 0 && v[i].gco2_kwh >= 0) out[h] = v[i].gco2_kwh;
      }
    } else {
      ECO_DEBUG(&g->log, MOD, "directive forecast %s: %s (persistence)", z->zone,
                eco_error_text(&e));
    }
  }
  for (size_t j = 1; j < left; j++)
    if (out[j] < 0) out[j] = out[j - 1];
  g->dfc_hour = hour;
  return left;
}

static void decide_live(preq *r, const char *opt) {
  gw *g = r->g;
  const json_t *m = json_object_get(r->body, "model");
  snprintf(r->dmodel_name, sizeof r->dmodel_name, "%s",
           json_is_string(m) ? json_string_value(m) : "");
  char buf[DIR_TEXT_MAX];
  size_t len = 0;
  const char *text = eco_dtrain_request_text(r->body, buf, sizeof buf, &len);
  /* the hour of the grid signal: the wall clock's, or a replayed trace's
   * (carbon.trace.speed), so a compressed replay plans trace hours */
  long hour = (long)floor(eco_intensity_trace_time(g->prov, eco_time_wall_s()) / 3600);
  eco_error err = {0};
  if (eco_dserve_decide(g->dserve, r->dmodel_name, hour, forecast_cb, g, text, text ? len : 0,
                        eco_rand_uniform(&g->dir.rng), &r->ddec, &err))
    ECO_WARN(&g->log, MOD, "directive plan: %s (level 0 until the next hour)",
             eco_error_text(&err));
  r->dlive = true;
  r->dplanned = r->ddec.level;
  r->dlevel_p = r->ddec.level_p;
  r->dlevel = eco_directive_effective_level(&g->cfg.directive.dcfg, r->ddec.level, r->path, opt);
  eco_dserve_applied(g->dserve, &r->ddec, r->dlevel);
}

/* Sprout's LP (directive_hook.h) at the intensity of the directive zone. */
static void decide_lp(preq *r, const char *opt) {
  gw *g = r->g;
  zone_state *z = directive_zone(g);
  eco_error err = {0};
  if (eco_rdir_update(&g->dir, mono_s(), z ? z->gco2_kwh : -1, &err))
    ECO_WARN(&g->log, MOD, "directive plan: %s (level 0 until the next solve)",
             eco_error_text(&err));
  gw_dash_directives(g);
  r->dplanned = eco_rdir_draw_plan(&g->dir);
  r->dlevel_p = g->dir.x[r->dplanned];
  r->dlevel = eco_directive_effective_level(&g->cfg.directive.dcfg, r->dplanned, r->path, opt);
}

void gw_directive_decide(preq *r, const struct evkeyvalq *ih) {
  gw *g = r->g;
  r->dlevel = -1;
  if (!g->cfg.directive.enabled || r->models) return;
  const char *opt = evhttp_find_header(ih, ECO_HDR_DIRECTIVE);
  r->dopt_out = eco_directive_opted_out(opt);
  if (live_on(g))
    decide_live(r, opt);
  else
    decide_lp(r, opt);
}

void gw_directive_learn(preq *r, double energy_j, uint32_t out_tokens, double up_s) {
  if (!r->dlive || r->dlevel < 0 || !live_on(r->g)) return;
  eco_dserve_learn(r->g->dserve, r->dmodel_name, r->dlevel, energy_j, (double)out_tokens, up_s);
}

double gw_directive_out_tokens(const preq *r) {
  if (!r->dlive || r->dlevel <= 0 || !live_on(r->g)) return 0;
  const eco_dlearn *d = &r->g->dserve->learn;
  return eco_dlearn_estimate(d, r->ddec.slot, r->dlevel, ECO_DLEARN_TOKENS);
}

bool gw_directive_receipt(const preq *r, eco_route_directive *d) {
  if (r->dlevel < 0) return false;
  *d = (eco_route_directive){.plan = r->dlive ? "live" : "lp",
                             .group = r->dlive ? r->ddec.group : NULL,
                             .group_p = r->dlive ? r->ddec.cls_p : -1,
                             .planned_level = r->dplanned,
                             .level_p = r->dlevel_p,
                             .degraded = r->dlive && r->ddec.degraded,
                             .opted_out = r->dopt_out};
  return true;
}

static json_t *num_array(const double *v, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; a && i < n; i++)
    json_array_append_new(a, json_real(v[i]));
  return a;
}

/* The learned figures of every model: the estimate the plan uses per level
 * (prior blended with receipts) and the receipts behind it. */
static json_t *learned_json(const eco_dserve *s) {
  const eco_dlearn *d = &s->learn;
  json_t *arr = json_array();
  static const char *const fig[ECO_DLEARN_NFIG] = {"energy_j", "out_tokens", "time_s"};
  for (size_t i = 0; arr && i < d->n; i++) {
    json_t *lv = json_array();
    for (size_t l = 0; lv && l < d->cfg.n_levels; l++) {
      json_t *o = json_pack("{s:i}", "level", (int)l);
      for (int f = 0; o && f < ECO_DLEARN_NFIG; f++) {
        char k[32];
        json_object_set_new(o, fig[f], json_real(eco_dlearn_estimate(d, (int)i, (int)l, f)));
        snprintf(k, sizeof k, "%s_receipts", fig[f]);
        json_object_set_new(o, k, json_integer((json_int_t)d->m[i].lv[l][f].n));
      }
      if (o) json_array_append_new(lv, o);
    }
    const eco_dserve_slot *sl = &s->slot[i];
    json_t *plan = json_object();
    if (plan && sl->used && sl->live.started) {
      json_object_set_new(plan, "hour", json_integer(sl->live.hour));
      json_object_set_new(plan, "mix", num_array(sl->live.mix, sl->live.n_tasks));
      json_object_set_new(plan, "floor", json_real(sl->live.plan.floor));
      json_object_set_new(plan, "expect_pref", json_real(sl->live.plan.expect_pref));
      json_object_set_new(plan, "expect_g", json_real(sl->live.plan.expect_g));
      json_object_set_new(plan, "ref_g", json_real(sl->live.plan.ref_g));
      json_object_set_new(plan, "degraded", json_boolean(sl->live.plan.degraded));
      json_object_set_new(plan, "credit", json_real(sl->live.credit));
    }
    json_t *o = json_pack("{s:s,s:o,s:o}", "model", d->m[i].name, "levels", lv ? lv : json_array(),
                          "plan", plan ? plan : json_object());
    if (o) json_array_append_new(arr, o);
  }
  return arr;
}

json_t *gw_directive_admin_json(gw *g) {
  const eco_rdir_cfg *c = &g->cfg.directive;
  json_t *o =
      json_pack("{s:b,s:s}", "enabled", c->enabled, "plan", eco_rdir_plan_name(c->plan_kind));
  if (!o || !c->enabled) return o;
  json_object_set_new(o, "eval", gw_eval_admin_json(g));
  size_t nl = c->dcfg.n_levels;
  if (!live_on(g)) {
    double e[ECO_DIRECTIVE_MAX_LEVELS], t[ECO_DIRECTIVE_MAX_LEVELS], q[ECO_DIRECTIVE_MAX_LEVELS];
    for (size_t l = 0; l < nl; l++)
      e[l] = c->stats[l].energy_kwh, t[l] = c->stats[l].time_s, q[l] = c->stats[l].pref;
    json_object_set_new(o, "stats",
                        json_pack("{s:o,s:o,s:o}", "energy_kwh", num_array(e, nl), "time_s",
                                  num_array(t, nl), "pref", num_array(q, nl)));
    json_object_set_new(o, "x", num_array(g->dir.x, nl));
    json_object_set_new(o, "last_gco2_kwh", json_real(g->dir.last_ci));
    json_object_set_new(o, "solves", json_integer((json_int_t)g->dir.solves));
    json_object_set_new(o, "solve_errors", json_integer((json_int_t)g->dir.solve_errors));
    return o;
  }
  const eco_dmodel *m = g->dmodel;
  json_t *labels = json_array();
  for (size_t k = 0; labels && k < m->cls.n_classes; k++)
    json_array_append_new(labels, json_string(m->cls.label[k]));
  json_object_set_new(o, "model",
                      json_pack("{s:s,s:o,s:f,s:I,s:s}", "path", c->model_path, "classes",
                                labels ? labels : json_array(), "accuracy", m->accuracy,
                                "training_prompts", (json_int_t)m->n_train, "cost_source",
                                m->has_costs ? m->cost_source : ""));
  const eco_dlearn_prior *p = &c->live.learn.pri;
  json_object_set_new(o, "priors",
                      json_pack("{s:s,s:o,s:o,s:o}", "source", p->source, "energy_j",
                                num_array(p->v[ECO_DLEARN_ENERGY], nl), "out_tokens",
                                num_array(p->v[ECO_DLEARN_TOKENS], nl), "time_s",
                                num_array(p->v[ECO_DLEARN_TIME], nl)));
  eco_dlive_stats st;
  eco_dserve_totals(g->dserve, &st);
  const eco_dlearn_cfg *lc = &c->live.learn;
  json_object_set_new(o, "learn",
                      json_pack("{s:s,s:f,s:f,s:f,s:I,s:I}", "db", c->learn_db, "alpha", lc->alpha,
                                "prior_weight", lc->prior_weight, "scale_alpha", lc->scale_alpha,
                                "evicted", (json_int_t)g->dserve->learn.evicted, "write_errors",
                                (json_int_t)g->ddb_errors));
  json_object_set_new(o, "models", learned_json(g->dserve));
  json_object_set_new(
      o, "totals",
      json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "decisions", (json_int_t)g->dserve->decisions,
                "hours", (json_int_t)st.hours, "hours_degraded", (json_int_t)st.hours_degraded,
                "periods", (json_int_t)st.periods, "periods_degraded",
                (json_int_t)st.periods_degraded, "plan_errors", (json_int_t)g->dserve->plan_errors,
                "no_forecast", (json_int_t)g->dserve->no_forecast));
  return o;
}

void gw_directive_metrics(gw *g, struct evbuffer *b) {
  if (!g->cfg.directive.enabled) return;
  eco_dlive_stats st = {0};
  uint64_t errors = g->dir.solve_errors, decisions = 0;
  if (live_on(g)) {
    eco_dserve_totals(g->dserve, &st);
    errors = g->dserve->plan_errors;
    decisions = g->dserve->decisions;
  }
  evbuffer_add_printf(
      b,
      "# HELP ecoinfer_router_directive_decisions_total Requests whose directive level the live "
      "plan chose.\n# TYPE ecoinfer_router_directive_decisions_total counter\n"
      "ecoinfer_router_directive_decisions_total %llu\n"
      "# HELP ecoinfer_router_directive_planned_hours_total Hours planned by the live directive "
      "plan (per served model).\n# TYPE ecoinfer_router_directive_planned_hours_total counter\n"
      "ecoinfer_router_directive_planned_hours_total %llu\n"
      "# HELP ecoinfer_router_directive_degraded_hours_total Planned hours whose quality floor "
      "was unreachable (the highest-preference plan ran instead).\n"
      "# TYPE ecoinfer_router_directive_degraded_hours_total counter\n"
      "ecoinfer_router_directive_degraded_hours_total %llu\n"
      "# HELP ecoinfer_router_directive_degraded_periods_total Floor periods with at least one "
      "degraded hour.\n# TYPE ecoinfer_router_directive_degraded_periods_total counter\n"
      "ecoinfer_router_directive_degraded_periods_total %llu\n"
      "# HELP ecoinfer_router_directive_plan_errors_total Directive plans that failed (level 0 "
      "until the next).\n# TYPE ecoinfer_router_directive_plan_errors_total counter\n"
      "ecoinfer_router_directive_plan_errors_total %llu\n",
      (unsigned long long)decisions, (unsigned long long)st.hours,
      (unsigned long long)st.hours_degraded, (unsigned long long)st.periods_degraded,
      (unsigned long long)errors);
}
