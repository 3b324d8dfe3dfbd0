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
  bool idle = st.queued == 0 && st.running == 0;
  if (idle && r->busy_pos[i] >= 0) {
    size_t p = (size_t)r->busy_pos[i];
    size_t last = r->busy[--r->n_busy];
    r->busy[p] = last;
    r->busy_pos[last] = (long)p;
    r->busy_pos[i] = -1;
  } else if (!idle && r->busy_pos[i] < 0) {
    r->busy_pos[i] = (long)r->n_busy;
    r->busy[r->n_busy++] = i;
  }
  return 0;
}

static int cmp_size(const void *a, const void *b) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  return (x > y) - (x < y);
}

/* Candidates: every busy node + the lowest-index idle node of each class, in
 * index order. Returns the count, or 0 to use the full array. */
static size_t candidates(eco_sim_router *r) {
  if (!r->dedup || r->policy.kind == ECO_POLICY_ROUND_ROBIN) return 0;
  if (r->n_busy + r->n_classes > r->n / 4) return 0;
  size_t m = 0;
  for (size_t k = 0; k < r->n_busy; k++)
    r->cand[m++] = r->busy[k];
  for (size_t c = 0; c < r->n_classes; c++)
    for (size_t k = r->cls_start[c]; k < r->cls_start[c + 1]; k++) {
      size_t i = r->cls_nodes[k];
      if (r->busy_pos[i] < 0) {
        r->cand[m++] = i;
        break;
      }
    }
  qsort(r->cand, m, sizeof *r->cand, cmp_size);
  return m;
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
      .slo_s = r->policy_slo_s > 0 ? r->policy_slo_s : req->slo_s,
      .excluded = NULL,
  };
  eco_route_prediction p;
  size_t m = candidates(r);
  int rc;
  if (m > 0) {
    for (size_t k = 0; k < m; k++)
      r->cand_views[k] = r->views[r->cand[k]];
    rc = eco_policy_choose(&r->policy, &rq, r->cand_views, m, &p);
    if (rc) return rc;
    p.node = r->cand[p.node];
    r->reduced_calls++;
  } else {
    rc = eco_policy_choose(&r->policy, &rq, r->views, r->n, &p);
    if (rc) return rc;
    r->policy.rr_cursor = p.rr_next;
  }
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
  r->policy_slo_s = cfg->policy_slo_s;
  snprintf(r->name, sizeof r->name, "%s", eco_policy_name(kind));
  r->views = calloc(r->n ? r->n : 1, sizeof *r->views);
  r->queued_work_s = calloc(r->n ? r->n : 1, sizeof *r->queued_work_s);
  r->busy_until = calloc(r->n ? r->n : 1, sizeof *r->busy_until);
  size_t nn = r->n ? r->n : 1;
  r->dedup = true;
  r->cls = calloc(nn, sizeof *r->cls);
  r->cls_start = calloc(cfg->n_devices * cfg->n_zones + 1, sizeof *r->cls_start);
  r->cls_nodes = calloc(nn, sizeof *r->cls_nodes);
  r->busy = calloc(nn, sizeof *r->busy);
  r->busy_pos = calloc(nn, sizeof *r->busy_pos);
  r->cand = calloc(nn, sizeof *r->cand);
  r->cand_views = calloc(nn, sizeof *r->cand_views);
  if (!r->views || !r->queued_work_s || !r->busy_until || !r->cls || !r->cls_start ||
      !r->cls_nodes || !r->busy || !r->busy_pos || !r->cand || !r->cand_views) {
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
    v->embodied_g_per_s = eco_sci_embodied_rate(&d->embodied);
    int B = r->batch < d->max_batch ? r->batch : d->max_batch;
    profile_of(d, B, &v->profile);
    v->max_batch = (uint32_t)B;
    v->health = ECO_NODE_UP;
    v->intensity_gco2_kwh = eco_sim_zone_ci(z, 0);
  }
  /* classes: (device, zone); members in ascending node order */
  r->n_classes = cfg->n_devices * cfg->n_zones;
  for (size_t i = 0; i < r->n; i++) {
    r->cls[i] = cfg->nodes[i].device * cfg->n_zones + cfg->nodes[i].zone;
    r->cls_start[r->cls[i] + 1]++;
    r->busy_pos[i] = -1;
  }
  for (size_t c = 0; c < r->n_classes; c++)
    r->cls_start[c + 1] += r->cls_start[c];
  size_t *fill = calloc(r->n_classes ? r->n_classes : 1, sizeof *fill);
  if (!fill) {
    eco_sim_router_free(r);
    return eco_error_set(err, ECO_ENOMEM, "sim: out of memory");
  }
  for (size_t i = 0; i < r->n; i++)
    r->cls_nodes[r->cls_start[r->cls[i]] + fill[r->cls[i]]++] = i;
  free(fill);
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
  free(r->cls);
  free(r->cls_start);
  free(r->cls_nodes);
  free(r->busy);
  free(r->busy_pos);
  free(r->cand);
  free(r->cand_views);
  r->cls = r->cls_start = r->cls_nodes = r->busy = r->cand = NULL;
  r->busy_pos = NULL;
  r->cand_views = NULL;
  r->views = NULL;
  r->queued_work_s = NULL;
  r->busy_until = NULL;
}
