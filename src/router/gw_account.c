/* ecoinfer router: a finished request's receipts (usage.carbon and its router
 * object), profile updates and the dashboard feed (see gw_internal.h). */
#include "router/gw_internal.h"
#include "util/rand.h"

#include "accounting/receipt.h"
#include "accounting/wire.h"

#include <stdio.h>
#include <string.h>

/* Feeds the dashboard with one completed request and its node's recent
 * rates (EWMA with the profile's alpha). */
static void dash_record(preq *r, const eco_receipt *rcpt, double total_s, uint32_t ptok,
                        uint32_t otok, double up_s, const gw_levers *lv) {
  gw *g = r->g;
  node *n = r->target;
  if (!g->dash || !n) return;
  eco_dash_decision x;
  memset(&x, 0, sizeof x);
  x.t = eco_time_wall_s();
  if (r->rid[0])
    snprintf(x.request_id, sizeof x.request_id, "%s", r->rid);
  else if (eco_rand_id("router-", 16, x.request_id,
                       sizeof x.request_id)) /* unique across restarts */
    snprintf(x.request_id, sizeof x.request_id, "router-%llu", (unsigned long long)++g->req_seq);
  snprintf(x.policy, sizeof x.policy, "%s", eco_policy_name(r->pol.kind));
  snprintf(x.node, sizeof x.node, "%s", n->cfg.id);
  x.latency_ms = total_s * 1e3;
  x.tokens = ptok + otok;
  x.output_tokens = otok;
  bool have = rcpt != NULL;
  if (have) x.receipt = *rcpt;
  x.predicted_g = r->pred.total_g;
  x.counterfactual_g = r->cf_g;
  x.directive_level = r->dlevel;
  x.levers = lv->have;
  x.saved_g[0] = lv->scaled_g[0];
  x.saved_g[1] = lv->scaled_g[1];
  (void)eco_dash_record(g->dash, &x);
  double a = g->cfg.alpha > 0 && g->cfg.alpha <= 1 ? g->cfg.alpha : 0.2;
  if (otok > 0 && up_s > 0) {
    double tps = otok / up_s;
    n->d_tps = n->d_tps > 0 ? (1 - a) * n->d_tps + a * tps : tps;
  }
  if (have && otok > 0 && x.receipt.energy_j > 0) {
    double jpt = x.receipt.energy_j / otok;
    n->d_jpt = n->d_jpt > 0 ? (1 - a) * n->d_jpt + a * jpt : jpt;
    n->d_jmeas = !x.receipt.energy_estimated;
    snprintf(n->d_jsrc, sizeof n->d_jsrc, "%s", x.receipt.energy_source);
  }
  gw_dash_node(n);
}

/* Ollama: the extra latency of a request that found no model in memory,
 * learned (EWMA) as its latency beyond the prediction for a warm node. */
static void learn_cold(preq *r, double up_s) {
  node *n = r->target;
  double warm = r->pred.latency_s - r->pred.queue_s;
  double x = up_s - warm;
  if (!r->cold || !(x >= 0)) return;
  double a = r->g->cfg.alpha;
  n->cold_s = n->cold_s > 0 ? (1 - a) * n->cold_s + a * x : x;
}

/* Builds usage.carbon.router (and a receipt when the backend sent none:
 * from the agent's meters that cover the node, else the profile's
 * estimate), updates profiles, output-length history and stats. usage may
 * be NULL (no usage from the backend): then tokens come from the stream
 * count. resp: the answer (or the stream chunk with usage), for the
 * engine's own report (accounting/wire.h), may be NULL. */
/* What one answered request measured, as the accounting steps below share it. */
typedef struct acct_facts {
  double total_s, up_s, ttft_s; /* s: arrival to end; dispatch to end; to first byte (-1) */
  uint32_t ptok, otok;          /* prompt and output tokens */
  int64_t cached;               /* prompt tokens the engine took from its cache */
  bool foreign;                 /* a llama.cpp, vLLM or Ollama backend */
  bool have_eu;                 /* eu holds the engine's own usage */
  eco_engine_usage eu;
  double meas_g, meas_j; /* measured gCO2e and J; -1 unknown */
} acct_facts;

/* Foreign backend: a receipt estimated from the profile at the measured tokens (the stream's
 * count when it sent no usage), or measured by the host's agent. */
static bool estimate_receipt(preq *r, acct_facts *f, eco_receipt *rc) {
  gw *g = r->g;
  node *n = r->target;
  eco_node_view *v = &g->views[n->idx];
  zone_state *z = gw_zone_get(g, n->cfg.zone);
  eco_receipt_in ri = {.intensity_gco2_kwh = v->intensity_gco2_kwh,
                       .intensity_source = z ? z->source : "static",
                       .intensity_estimated = true,
                       .embodied_g_per_s = v->embodied_g_per_s,
                       .reserved_s = f->up_s,
                       .share = 1.0 / r->pred.batch,
                       .pue = v->pue >= 1 ? v->pue : 1};
  char esrc[40];
  double e = gw_agent_energy_j(n, f->up_s);
  if (e >= 0) {
    /* measured by the host's agent */
    snprintf(esrc, sizeof esrc, "agent:%s", n->asrc);
    ri.energy_source = esrc;
    /* a GPU node's energy is measured only if its meters cover the GPU */
    ri.energy_estimated = n->aestimated || (n->cfg.gpu && !n->agpu);
    ri.energy_rails = n->arails;
    ri.method = "sci-v1.0/router-agent";
    f->meas_j = e;
  } else {
    ri.energy_source = "model";
    ri.energy_estimated = true;
    ri.energy_rails = "profile";
    ri.method = "sci-v1.0/router-estimate";
    /* prompt tokens served from the engine's cache cost no prefill */
    e = eco_profile_energy_j(&v->profile, (uint32_t)(f->ptok - f->cached), f->otok, r->pred.batch);
  }
  ri.energy_j = e;
  if (eco_receipt_build(&ri, rc) != 0) return false;
  f->meas_g = rc->total_g;
  return true;
}

/* The router's facts (prediction, measurement, directive, engine) into the receipt. */
static void attach_route(preq *r, const acct_facts *f, json_t *carbon) {
  node *n = r->target;
  const eco_node_view *v = &r->g->views[n->idx];
  eco_route_directive rdir;
  bool have_dir = gw_directive_receipt(r, &rdir);
  eco_route_receipt x = {
      .policy = eco_policy_name(r->pol.kind),
      .node = n->cfg.id,
      .zone = n->cfg.zone,
      .device = v->device,
      .attempts = r->attempts,
      .failed_nodes = r->failed,
      .predicted = {r->pred.latency_s, r->pred.queue_s, r->pred.out_tokens, r->pred.batch,
                    r->pred.energy_j, r->pred.operational_g, r->pred.embodied_g, r->pred.total_g},
      .measured = {f->total_s, f->up_s, f->ttft_s, f->ptok, f->otok, f->meas_g, f->meas_j},
      .slo_s = r->pred.slo_s,
      .slo_met = r->pred.slo_s <= 0 || f->total_s <= r->pred.slo_s,
      .slo_predicted_met = r->pred.meets_slo,
      .slo_fallback = r->pred.slo_fallback,
      .directive_level = r->dlevel,
      .directive = have_dir ? &rdir : NULL,
      .engine_kind = f->foreign ? eco_engine_name(n->cfg.engine) : NULL,
      .engine = f->have_eu ? &f->eu : NULL};
  json_t *ro = eco_route_receipt_to_json(&x);
  if (ro) json_object_set_new(carbon, ECO_CARBON_ROUTER, ro);
}

/* Online profile update (EWMA, see profile.h). The upstream time includes any queue wait at
 * the node, so ttft is only trusted when the request was predicted to start at once. */
static void observe_profile(preq *r, const acct_facts *f) {
  gw *g = r->g;
  eco_node_view *v = &g->views[r->target->idx];
  eco_profile_obs o = {.prompt_tokens = f->ptok,
                       .out_tokens = f->otok,
                       .batch = (uint32_t)(r->pred.batch >= 1 ? r->pred.batch : 1),
                       .ttft_s = -1,
                       .decode_s = -1,
                       .energy_j = f->meas_j};
  if (f->have_eu && f->eu.prefill_s >= 0 && f->eu.decode_s >= 0) {
    /* the engine's own times exclude queueing and the network */
    o.prompt_tokens = (uint32_t)(f->ptok - f->cached);
    o.ttft_s = v->profile.overhead_s + f->eu.prefill_s;
    o.decode_s = f->eu.decode_s;
  } else if (r->pred.queue_s <= 0) {
    if (r->stream && f->ttft_s >= 0) {
      o.ttft_s = f->ttft_s;
      o.decode_s = f->up_s - f->ttft_s;
    } else {
      double pre = eco_profile_prefill_s(&v->profile, f->ptok);
      o.decode_s = f->up_s > pre ? f->up_s - pre : 0;
    }
  }
  if (f->otok > 0 || f->ptok > 0) (void)eco_profile_observe(&v->profile, &o, g->cfg.alpha);
}

/* The measured times and tokens: the answer's usage wins over the router's estimates, and a
 * foreign engine's own usage (in the answer or its stream) is kept. */
static void read_facts(preq *r, const json_t *usage, const json_t *resp, uint64_t tend_ns,
                       acct_facts *f) {
  const node *n = r->target;
  *f = (acct_facts){.total_s = (double)(tend_ns - r->t0_ns) / 1e9,
                    .up_s = (double)(tend_ns - r->tdisp_ns) / 1e9,
                    .ttft_s = r->tfirst_ns ? (double)(r->tfirst_ns - r->tdisp_ns) / 1e9 : -1,
                    .ptok = r->rr.prompt_tokens,
                    .otok = r->stream_tokens,
                    .meas_g = -1,
                    .meas_j = -1};
  if (usage) {
    const json_t *pt = json_object_get(usage, "prompt_tokens");
    const json_t *ct = json_object_get(usage, "completion_tokens");
    if (json_is_integer(pt) && json_integer_value(pt) >= 0)
      f->ptok = (uint32_t)json_integer_value(pt);
    if (json_is_integer(ct) && json_integer_value(ct) >= 0)
      f->otok = (uint32_t)json_integer_value(ct);
  }
  f->foreign = n->cfg.engine >= ECO_ENGINE_LLAMA_CPP;
  f->have_eu = f->foreign && eco_engine_usage_from_json(resp, &f->eu) > 0;
  if (f->foreign && r->have_eusage && (!f->have_eu || f->eu.prefill_s < 0)) {
    f->eu = r->eusage;
    f->have_eu = true;
  }
  f->cached = f->have_eu && f->eu.cached_tokens > 0 && f->eu.cached_tokens <= f->ptok
                  ? f->eu.cached_tokens
                  : 0;
}

void gw_finish_accounting(preq *r, json_t *usage, const json_t *resp, uint64_t tend_ns) {
  gw *g = r->g;
  node *n = r->target;
  if (!n) return;
  acct_facts f;
  read_facts(r, usage, resp, tend_ns, &f);
  json_t *carbon = usage ? json_object_get(usage, ECO_USAGE_CARBON) : NULL;
  eco_receipt rc;
  unsigned have = 0;
  bool got = eco_receipt_from_json(carbon, &rc, &have) == 0;
  if (got) {
    if (have & ECO_RF(total_g)) f.meas_g = rc.total_g;
    if (have & ECO_RF(energy_j)) f.meas_j = rc.energy_j;
  } else if ((usage || f.foreign) && estimate_receipt(r, &f, &rc)) {
    got = true;
    carbon = usage ? eco_receipt_to_json(&rc) : NULL;
    if (carbon) json_object_set_new(usage, ECO_USAGE_CARBON, carbon);
  }
  if (json_is_object(carbon)) attach_route(r, &f, carbon);
  observe_profile(r, &f);
  learn_cold(r, f.up_s);
  if (f.otok > 0 || f.meas_j >= 0) gw_directive_learn(r, f.meas_j, f.otok, f.up_s);
  eco_outlen_observe(&g->outlen, r->rr.prompt_tokens, f.otok);
  n->pred_g += r->pred.total_g;
  g->pred_g_sum += r->pred.total_g;
  if (f.meas_g >= 0) {
    n->meas_g += f.meas_g;
    g->meas_g_sum += f.meas_g;
  }
  gw_levers lv;
  gw_levers_of(r, got ? &rc : NULL, f.ptok, f.otok, &lv);
  gw_ledger_request(r, got ? &rc : NULL, f.ptok, f.otok, f.total_s, &lv);
  dash_record(r, got ? &rc : NULL, f.total_s, f.ptok, f.otok, f.up_s, &lv);
  gw_eval_offer(r, resp, got ? &rc : NULL, f.up_s);
}

/* The directive plan on the dashboard: the probability of each level and
 * the quality floor factor at the plan's last intensity (plan.h). */
void gw_dash_directives(gw *g) {
  if (!g->dash || !g->dir.planned) return;
  size_t n = g->dir.cfg.dcfg.n_levels;
  if (n > 8) n = 8;
  char names[8][8];
  const char *lv[8];
  for (size_t i = 0; i < n; i++) {
    snprintf(names[i], sizeof names[i], "L%zu", i);
    lv[i] = names[i];
  }
  (void)eco_dash_set_directives(g->dash, g->dir.x, lv, n,
                                eco_plan_floor_factor(&g->dir.cfg.plan, g->dir.last_ci));
}
