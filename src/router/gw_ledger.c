/* ecoinfer router: the router's own ledger rows and the savings by lever
 * they carry (see gw_internal.h, carbon/ledger.h and docs/router.md, "The
 * ledger").
 *
 * For a routed request, in the router's prediction units:
 *   routing    at the decision, with the level-blind output length O (no
 *              directive): greedy's prediction C and the chosen node's X;
 *              rho = X / C
 *   directive  at the end, on the chosen node: A = the prediction at the
 *              measured output length, N = what the request would have cost
 *              without its level. With the live plan N = A * E(0) / E(L),
 *              the energy of the request's group at level 0 over that at
 *              its level in the plan's cost figures (the model file's per
 *              group, scaled to the served model's receipts:
 *              eco_dserve_energy_ratio), since energy is not proportional to
 *              the answer's length. Otherwise (the LP plan) the prediction at
 *              the length the answer would have had: the measured length
 *              times ratio(0) / ratio(L), where ratio(l) is what level l's
 *              answers measured against O (learned here from every answer;
 *              no directive saving is claimed until both levels have
 *              LVL_MIN_OBS answers)
 *   counterfactual = N / rho,  saved_routing = N / rho - N,  saved_directive = N - A
 * so that counterfactual - savings = A. The dashboard and the report scale
 * the savings by receipt / A. */
#include "router/gw_internal.h"

#include "router/engines.h"
#include "util/rand.h"

#include <event2/buffer.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define LVL_MIN_OBS 3
#define LVL_ALPHA   0.05 /* EWMA weight once the running mean has 1/LVL_ALPHA answers */

static void level_observe(gw *g, int level, double base, uint32_t otok) {
  if (level < 0) level = 0; /* directives off: no directive */
  if (level >= ECO_DIRECTIVE_MAX_LEVELS || !(base > 0)) return;
  double x = otok / base;
  uint32_t n = g->lvl_n[level];
  double a = 1.0 / (n + 1.0) > LVL_ALPHA ? 1.0 / (n + 1.0) : LVL_ALPHA;
  g->lvl_ratio[level] = n ? (1 - a) * g->lvl_ratio[level] + a * x : x;
  if (n < UINT32_MAX) g->lvl_n[level] = n + 1;
}

/* Output tokens r would have had without its directive level (otok when
 * unknown or no directive). */
static double nodirective_tokens(const gw *g, int level, uint32_t otok) {
  if (level <= 0 || level >= ECO_DIRECTIVE_MAX_LEVELS) return otok;
  if (g->lvl_n[0] < LVL_MIN_OBS || g->lvl_n[level] < LVL_MIN_OBS) return otok;
  if (!(g->lvl_ratio[level] > 0) || !(g->lvl_ratio[0] > 0)) return otok;
  return otok * g->lvl_ratio[0] / g->lvl_ratio[level];
}

static double predict_g(const gw *g, const node *n, uint32_t ptok, double otok) {
  eco_route_request rr = {.prompt_tokens = ptok, .expected_out_tokens = otok > 0 ? otok : 0.5};
  eco_route_prediction p;
  memset(&p, 0, sizeof p);
  eco_route_predict(&g->views[n->idx], &rr, 0, &p);
  return p.total_g;
}

void gw_counterfactual(preq *r) {
  gw *g = r->g;
  r->cf_g = r->x_base = -1;
  if (r->pred.node >= g->n_nodes) return;
  eco_route_request rr = r->rr;
  rr.expected_out_tokens = r->out_base;
  eco_policy greedy = {.kind = ECO_POLICY_GREEDY};
  eco_route_prediction p, x;
  memset(&p, 0, sizeof p);
  memset(&x, 0, sizeof x);
  if (eco_policy_choose(&greedy, &rr, g->views, g->n_nodes, &p) != 0) return;
  eco_route_predict(&g->views[r->pred.node], &rr, r->pred.slo_s, &x);
  r->cf_g = p.total_g;
  r->x_base = x.total_g;
}

static bool pos(double x) { return isfinite(x) && x > 0; }

void gw_levers_of(preq *r, const eco_receipt *rcpt, uint32_t ptok, uint32_t otok, gw_levers *out) {
  gw *g = r->g;
  memset(out, 0, sizeof *out);
  node *n = r->target;
  out->facts.predicted_g = pos(r->pred.total_g) ? r->pred.total_g : 0;
  snprintf(out->facts.engine, sizeof out->facts.engine, "%s",
           n ? eco_engine_name(n->cfg.engine) : "");
  eco_route_directive dd;
  memset(&dd, 0, sizeof dd);
  if (gw_directive_receipt(r, &dd) && dd.group)
    snprintf(out->facts.group, sizeof out->facts.group, "%s", dd.group);
  if (n && pos(r->cf_g) && pos(r->x_base)) {
    double nd = nodirective_tokens(g, r->dlevel, otok);
    double a = predict_g(g, n, ptok, otok);
    double er = r->dlevel > 0 ? gw_directive_energy_ratio(r) : -1;
    double nn = er > 0 ? a * er : nd != otok ? predict_g(g, n, ptok, nd) : a;
    if (pos(a) && pos(nn)) {
      double c = nn * r->cf_g / r->x_base;
      out->have = true;
      out->facts.counterfactual_g = c;
      out->facts.saved_routing_g = c - nn;
      out->facts.saved_directive_g = nn - a;
      double k = rcpt && rcpt->total_g >= 0 && isfinite(rcpt->total_g) ? rcpt->total_g / a : 1;
      out->scaled_g[0] = out->facts.saved_routing_g * k;
      out->scaled_g[1] = out->facts.saved_directive_g * k;
    }
  }
  if (!r->models) level_observe(g, r->dlevel, r->out_base, otok);
}

void gw_ledger_request(preq *r, const eco_receipt *rcpt, uint32_t ptok, uint32_t otok,
                       double latency_s, const gw_levers *lv) {
  gw *g = r->g;
  node *n = r->target;
  if (!g->ledger || !rcpt || !n || r->models) return;
  eco_ledger_entry e;
  memset(&e, 0, sizeof e);
  if (r->rid[0])
    snprintf(e.request_id, sizeof e.request_id, "%s", r->rid);
  else if (eco_rand_id("router-", 16, e.request_id, sizeof e.request_id))
    snprintf(e.request_id, sizeof e.request_id, "router-%llu", (unsigned long long)++g->req_seq);
  e.time_s = eco_time_wall_s();
  snprintf(e.node, sizeof e.node, "%s", n->cfg.id);
  snprintf(e.zone, sizeof e.zone, "%s", n->cfg.zone);
  const char *model = json_string_value(json_object_get(r->body, "model"));
  snprintf(e.model, sizeof e.model, "%s", model ? model : "");
  e.prompt_tokens = ptok;
  e.output_tokens = otok;
  e.latency_s = latency_s;
  e.directive_level = r->dlevel;
  snprintf(e.policy, sizeof e.policy, "%s", eco_policy_name(r->pol.kind));
  e.receipt = *rcpt;
  e.kind = ECO_LEDGER_REQUEST;
  e.recorder = ECO_LEDGER_BY_ROUTER;
  e.facts = lv->facts;
  eco_error err = {0};
  g->saved_g[0] += lv->scaled_g[0];
  g->saved_g[1] += lv->scaled_g[1];
  if (eco_ledger_append(g->ledger, &e, &err) == 0) {
    g->ledger_rows++;
  } else if (g->ledger_errors++ == 0) {
    ECO_WARN(&g->log, MOD, "ledger: %s (logged once)", eco_error_text(&err));
  }
}

void gw_batch_row(void *user, const struct eco_ledger_entry *row) {
  gw *g = user;
  if (!g->dash || !row) return;
  eco_dash_decision x;
  memset(&x, 0, sizeof x);
  x.t = row->time_s;
  snprintf(x.request_id, sizeof x.request_id, "%s", row->request_id);
  snprintf(x.policy, sizeof x.policy, "%s", row->policy);
  snprintf(x.node, sizeof x.node, "%s", row->node);
  x.latency_ms = row->latency_s * 1e3;
  x.tokens = (uint32_t)(row->prompt_tokens + row->output_tokens);
  x.output_tokens = (uint32_t)row->output_tokens;
  x.receipt = row->receipt;
  x.predicted_g = row->facts.predicted_g;
  x.counterfactual_g = -1;
  x.directive_level = row->directive_level;
  snprintf(x.kind, sizeof x.kind, "%s", eco_ledger_kind_name(row->kind));
  double modelled = row->facts.counterfactual_g - row->facts.saved_shifting_g;
  if (row->facts.counterfactual_g > 0 && modelled > 0) {
    x.levers = true;
    x.saved_g[2] = row->facts.saved_shifting_g * row->receipt.total_g / modelled;
  }
  (void)eco_dash_record(g->dash, &x);
}

void gw_ledger_metrics(gw *g, struct evbuffer *b) {
  evbuffer_add_printf(
      b,
      "# HELP ecoinfer_router_ledger_rows_total Rows the router appended to its ledger for "
      "interactive requests.\n# TYPE ecoinfer_router_ledger_rows_total counter\n"
      "ecoinfer_router_ledger_rows_total %llu\n"
      "# HELP ecoinfer_router_ledger_errors_total Ledger appends that failed.\n"
      "# TYPE ecoinfer_router_ledger_errors_total counter\n"
      "ecoinfer_router_ledger_errors_total %llu\n"
      "# HELP ecoinfer_router_saved_gco2_total gCO2e saved against greedy routing with no "
      "directive, by lever, scaled to the receipts (interactive requests on the ledger).\n"
      "# TYPE ecoinfer_router_saved_gco2_total counter\n"
      "ecoinfer_router_saved_gco2_total{lever=\"routing\"} %.9g\n"
      "ecoinfer_router_saved_gco2_total{lever=\"directives\"} %.9g\n",
      (unsigned long long)g->ledger_rows, (unsigned long long)g->ledger_errors, g->saved_g[0],
      g->saved_g[1]);
}
