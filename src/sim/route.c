/* ecoinfer simulator: adapter from simulated nodes to the router's policy
 * functions (see route.h). */
#include "sim/route.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void profile_of(const eco_sim_device *d, int B, eco_profile *p) {
  double pf1, d1, w1, pfB, dB, wB;
  eco_sim_device_at(d, 1, &pf1, &d1, &w1);
  eco_sim_device_at(d, B, &pfB, &dB, &wB);
  double stepB = (double)B * d1 / dB;
  double slow = B > 1 ? (stepB - 1) / (double)(B - 1) : 0;
  if (slow < 0) slow = 0;
  double jtok = wB * (double)B / (dB * stepB);
  eco_profile_from_rates(p, pf1, d1, jtok, 0, slow);
}

static int node_changed(void *ctx, const eco_sim *sim, size_t i) {
  eco_sim_router *r = ctx;
  eco_sim_node_state st;
  eco_sim_node_state_get(sim, i, &st);
  eco_node_view *v = &r->views[i];
  v->queue_depth = (uint32_t)(st.queued > UINT32_MAX ? UINT32_MAX : st.queued);
  v->active_batch = (uint32_t)st.running;
  v->intensity_gco2_kwh = st.intensity;
  int B = r->batch < st.dev->max_batch ? r->batch : st.dev->max_batch;
  double pf, dc, pw;
  eco_sim_device_at(st.dev, B, &pf, &dc, &pw);
  double work = 0;
  if (st.queued > 0) {
    double waves = ceil((double)st.queued / B);
    double mean_out = st.queued_out_tok / (double)st.queued;
    work = st.queued_prompt_tok / pf + waves * mean_out * (double)B / dc;
  }
  r->queued_work_s[i] = work;
  r->busy_until[i] = st.busy_until;
  return 0;
}

static int choose(void *ctx, const eco_sim *sim, const eco_sim_req *req, size_t *node) {
  eco_sim_router *r = ctx;
  double now = eco_sim_now(sim);
  for (size_t i = 0; i < r->n; i++) {
    double rest = r->busy_until[i] - now;
    r->views[i].backlog_s = (rest > 0 ? rest : 0) + r->queued_work_s[i];
  }
  eco_route_request rq = {
      .prompt_tokens = req->prompt_tok,
      .max_tokens = 0,
      .expected_out_tokens = req->expected_out,
      .slo_s = req->slo_s,
      .excluded = NULL,
  };
  eco_route_prediction p;
  int rc = eco_policy_choose(&r->policy, &rq, r->views, r->n, &p);
  if (rc) return rc;
  r->policy.rr_cursor = p.rr_next;
  if (p.slo_fallback) r->slo_fallbacks++;
  *node = p.node;
  return 0;
}

int eco_sim_router_init(eco_sim_router *r, eco_policy_kind kind, const eco_sim_cfg *cfg,
                        eco_sim_policy_ops *ops, eco_error *err) {
  memset(r, 0, sizeof *r);
  r->n = cfg->n_nodes;
  r->batch = cfg->batch_size > 0 ? cfg->batch_size : 1;
  r->policy.kind = kind;
  r->policy.default_slo_s = cfg->workload.slo_s;
  snprintf(r->name, sizeof r->name, "%s", eco_policy_name(kind));
  r->views = calloc(r->n ? r->n : 1, sizeof *r->views);
  r->queued_work_s = calloc(r->n ? r->n : 1, sizeof *r->queued_work_s);
  r->busy_until = calloc(r->n ? r->n : 1, sizeof *r->busy_until);
  if (!r->views || !r->queued_work_s || !r->busy_until) {
    eco_sim_router_free(r);
    return eco_error_set(err, ECO_ENOMEM, "sim: out of memory for %zu node views", r->n);
  }
  for (size_t i = 0; i < r->n; i++) {
    const eco_sim_device *d = &cfg->devices[cfg->nodes[i].device];
    const eco_sim_zone *z = &cfg->zones[cfg->nodes[i].zone];
    eco_node_view *v = &r->views[i];
    snprintf(v->id, sizeof v->id, "node-%zu", i);
    snprintf(v->device, sizeof v->device, "%s", d->name);
    snprintf(v->zone, sizeof v->zone, "%s", z->name);
    v->pue = z->pue;
    v->embodied_g_per_s = d->lifetime_s > 0 ? d->embodied_g / d->lifetime_s : 0;
    int B = r->batch < d->max_batch ? r->batch : d->max_batch;
    profile_of(d, B, &v->profile);
    v->max_batch = (uint32_t)B;
    v->health = ECO_NODE_UP;
    v->intensity_gco2_kwh = eco_sim_zone_ci(z, 0);
  }
  ops->ctx = r;
  ops->node_changed = node_changed;
  ops->choose = choose;
  ops->name = r->name;
  return 0;
}

void eco_sim_router_free(eco_sim_router *r) {
  free(r->views);
  free(r->queued_work_s);
  free(r->busy_until);
  r->views = NULL;
  r->queued_work_s = NULL;
  r->busy_until = NULL;
}
