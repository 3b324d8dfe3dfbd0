#include "policy/policy.h"

#include "carbon/sci.h"
#include "util/status.h"

#include <math.h>
#include <string.h>
#include <strings.h>

static const char *const policy_names[ECO_POLICY_COUNT] = {
    "round-robin", "greedy", "carbon", "latency", "slo-carbon",
};

const char *eco_policy_name(eco_policy_kind k) {
  if ((int)k < 0 || (int)k >= ECO_POLICY_COUNT) return "unknown";
  return policy_names[k];
}

int eco_policy_parse(const char *name, eco_policy_kind *out) {
  static const struct {
    const char *name;
    eco_policy_kind kind;
  } aliases[] = {
      {"round-robin", ECO_POLICY_ROUND_ROBIN}, {"rr", ECO_POLICY_ROUND_ROBIN},
      {"roundrobin", ECO_POLICY_ROUND_ROBIN},  {"greedy", ECO_POLICY_GREEDY},
      {"carbon", ECO_POLICY_CARBON},           {"carbon-aware", ECO_POLICY_CARBON},
      {"latency", ECO_POLICY_LATENCY},         {"latency-aware", ECO_POLICY_LATENCY},
      {"slo-carbon", ECO_POLICY_SLO_CARBON},   {"slo", ECO_POLICY_SLO_CARBON},
  };
  if (!name || !out) return ECO_EINVAL;
  for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
    if (strcasecmp(name, aliases[i].name) == 0) {
      *out = aliases[i].kind;
      return ECO_OK;
    }
  }
  return ECO_EINVAL;
}

void eco_route_merge_load(uint32_t inflight, uint32_t max_batch, uint32_t rep_active,
                          uint32_t rep_queue, uint32_t done_since_report, uint32_t *active,
                          uint32_t *queue) {
  const uint32_t mb = max_batch ? max_batch : 1;
  const uint32_t own_act = inflight < mb ? inflight : mb, own_q = inflight - own_act;
  /* the report minus what finished since: first from the queue's share of
   * the total, since the batch refills from the queue */
  uint64_t total = (uint64_t)rep_active + rep_queue;
  total = total > done_since_report ? total - done_since_report : 0;
  const uint32_t rep_act = total < rep_active ? (uint32_t)total : rep_active;
  const uint32_t rep_q = (uint32_t)(total - rep_act);
  *active = own_act > rep_act ? own_act : rep_act;
  *queue = own_q > rep_q ? own_q : rep_q;
}

bool eco_policy_eligible(const eco_node_view *node, const eco_route_request *req, size_t i) {
  if (node->health == ECO_NODE_DOWN || node->circuit_open) return false;
  if (req->excluded && req->excluded[i]) return false;
  return eco_profile_valid(&node->profile);
}

static double expected_out(const eco_route_request *req) {
  if (req->expected_out_tokens > 0) return req->expected_out_tokens;
  return eco_outlen_predict(NULL, req->prompt_tokens, req->max_tokens);
}

void eco_route_predict(const eco_node_view *node, const eco_route_request *req, double slo_s,
                       eco_route_prediction *out) {
  const eco_profile *p = &node->profile;
  double out_tok = expected_out(req);
  double maxb = node->max_batch > 0 ? (double)node->max_batch : 1.0;
  double active = node->active_batch;
  double queue = node->queue_depth;
  double free_slots = maxb - active;
  if (free_slots < 0) free_slots = 0;
  double b, queue_s = 0;
  double prefill_s = eco_profile_prefill_s(p, req->prompt_tokens);
  if (queue < free_slots) {
    b = active + queue + 1;
  } else {
    b = maxb;
    double ahead = queue + 1 - free_slots;
    double waves = ceil(ahead / maxb);
    double svc = p->service_s > 0 ? p->service_s : prefill_s + eco_profile_decode_s(p, out_tok, b);
    queue_s = waves * svc;
  }
  if (node->backlog_s > queue_s) queue_s = node->backlog_s;
  double decode_s = eco_profile_decode_s(p, out_tok, b);
  double energy = eco_profile_energy_j(p, req->prompt_tokens, out_tok, b);
  double pue = node->pue >= 1 ? node->pue : 1.0;
  out->out_tokens = out_tok;
  out->batch = b;
  out->queue_s = queue_s;
  out->prefill_s = prefill_s;
  out->decode_s = decode_s;
  out->latency_s = queue_s + prefill_s + decode_s;
  out->energy_j = energy;
  out->operational_g = eco_sci_operational_g(energy, node->intensity_gco2_kwh, pue);
  /* the device is held for the service time, shared by the b sequences of its batch */
  out->embodied_g = eco_sci_embodied_share_g(node->embodied_g_per_s, prefill_s + decode_s, 1.0 / b);
  out->total_g = out->operational_g + out->embodied_g;
  out->slo_s = slo_s;
  out->meets_slo = slo_s <= 0 || out->latency_s <= slo_s;
  out->slo_fallback = false;
}

/* Service time at batch 1, queues ignored: the hardware's speed for req. */
static double hw_time(const eco_node_view *node, double prompt, double out_tok) {
  const eco_profile *p = &node->profile;
  return p->overhead_s + p->prefill_s_per_tok * prompt + p->decode_s_per_tok * out_tok;
}

static bool node_full(const eco_node_view *node) {
  uint32_t maxb = node->max_batch > 0 ? node->max_batch : 1;
  return (uint64_t)node->active_batch + node->queue_depth >= maxb;
}

/* The scan's fast path: latency and total carbon only, the same formulas
 * as eco_route_predict (test_policy checks that both agree), written out
 * inline so that a decision over 1000 nodes stays within a few us. The
 * chosen node's full prediction then comes from eco_route_predict (which
 * uses sci.h). */
typedef struct score {
  double lat_s; /* predicted latency, s */
  double g;     /* predicted total gCO2e */
} score;

static inline score node_score(const eco_node_view *nd, double prompt, double out_tok,
                               bool want_lat, bool want_g) {
  const eco_profile *p = &nd->profile;
  double maxb = nd->max_batch > 0 ? (double)nd->max_batch : 1.0;
  double active = nd->active_batch, queue = nd->queue_depth;
  double free_slots = maxb - active;
  if (free_slots < 0) free_slots = 0;
  double k = p->batch_slowdown > 0 ? p->batch_slowdown : 0;
  double prefill = p->overhead_s + p->prefill_s_per_tok * prompt;
  double b, qs = 0;
  bool queued = !(queue < free_slots);
  b = queued ? maxb : active + queue + 1;
  double step = 1 + k * (b - 1);
  double dec = p->decode_s_per_tok * out_tok * step;
  score s = {0, 0};
  if (want_lat) {
    if (queued) {
      double svc = p->service_s > 0 ? p->service_s : prefill + dec;
      qs = ceil((queue + 1 - free_slots) / maxb) * svc;
    }
    if (nd->backlog_s > qs) qs = nd->backlog_s;
    s.lat_s = qs + prefill + dec;
  }
  if (want_g) {
    double inv_b = b > 1 ? 1.0 / b : 1.0;
    double e = p->prefill_j_per_tok * prompt + p->decode_j_per_tok * out_tok * step * inv_b;
    double pue = nd->pue >= 1 ? nd->pue : 1.0;
    double svc_s = prefill + dec;
    double emb = nd->embodied_g_per_s > 0 && svc_s > 0 ? nd->embodied_g_per_s * svc_s * inv_b : 0;
    s.g = e * (1.0 / ECO_J_PER_KWH) * pue * nd->intensity_gco2_kwh + emb;
  }
  return s;
}

/* Index of the least carbon (by_carbon) or least latency among eligible
 * nodes, restricted to latency <= slo_s when use_slo; n if none. *fast:
 * the least-latency eligible node (only computed when use_slo). Called
 * with constant flags so that each policy gets its own specialised loop. */
static inline size_t scan_min(const eco_node_view *nodes, size_t n, const eco_route_request *req,
                              double prompt, double out_tok, bool by_carbon, bool use_slo,
                              double slo_s, size_t *fast) {
  size_t best = n;
  double best_v = INFINITY, fast_lat = INFINITY;
  *fast = n;
  for (size_t i = 0; i < n; i++) {
    if (!eco_policy_eligible(&nodes[i], req, i)) continue;
    score sc = node_score(&nodes[i], prompt, out_tok, !by_carbon || use_slo, by_carbon);
    if (use_slo) {
      if (*fast == n || sc.lat_s < fast_lat) {
        fast_lat = sc.lat_s;
        *fast = i;
      }
      if (!(sc.lat_s <= slo_s)) continue;
    }
    double v = by_carbon ? sc.g : sc.lat_s;
    if (best == n || v < best_v) {
      best_v = v;
      best = i;
    }
  }
  return best;
}

int eco_policy_choose(const eco_policy *pol, const eco_route_request *req,
                      const eco_node_view *nodes, size_t n, eco_route_prediction *out) {
  if (!pol || !req || !nodes || !out || n == 0) return ECO_EINVAL;
  double slo_s = req->slo_s > 0 ? req->slo_s : (pol->default_slo_s > 0 ? pol->default_slo_s : 0);
  size_t best = n;
  eco_route_prediction bestp;
  memset(&bestp, 0, sizeof bestp);
  switch (pol->kind) {
  case ECO_POLICY_ROUND_ROBIN: {
    size_t start = pol->rr_cursor % n;
    for (size_t k = 0; k < n; k++) {
      size_t i = (start + k) % n;
      if (eco_policy_eligible(&nodes[i], req, i)) {
        best = i;
        break;
      }
    }
    if (best == n) return ECO_ENOENT;
    eco_route_predict(&nodes[best], req, slo_s, &bestp);
    break;
  }
  case ECO_POLICY_GREEDY: {
    double out_tok = expected_out(req), prompt = req->prompt_tokens;
    double best_hw = INFINITY, best_lat = INFINITY;
    size_t best_any = n;
    for (size_t i = 0; i < n; i++) {
      if (!eco_policy_eligible(&nodes[i], req, i)) continue;
      if (!node_full(&nodes[i])) {
        double t = hw_time(&nodes[i], prompt, out_tok);
        if (t < best_hw) {
          best_hw = t;
          best = i;
        }
      } else if (best == n) {
        score sc = node_score(&nodes[i], prompt, out_tok, true, false);
        if (sc.lat_s < best_lat) {
          best_lat = sc.lat_s;
          best_any = i;
        }
      }
    }
    if (best == n) best = best_any;
    if (best == n) return ECO_ENOENT;
    eco_route_predict(&nodes[best], req, slo_s, &bestp);
    break;
  }
  case ECO_POLICY_CARBON:
  case ECO_POLICY_LATENCY:
  case ECO_POLICY_SLO_CARBON: {
    double out_tok = expected_out(req), prompt = req->prompt_tokens;
    size_t fast = n;
    if (pol->kind == ECO_POLICY_LATENCY)
      best = scan_min(nodes, n, req, prompt, out_tok, false, false, 0, &fast);
    else if (pol->kind == ECO_POLICY_CARBON || slo_s <= 0)
      best = scan_min(nodes, n, req, prompt, out_tok, true, false, 0, &fast);
    else
      best = scan_min(nodes, n, req, prompt, out_tok, true, true, slo_s, &fast);
    bool fallback = false;
    if (best == n && fast < n) {
      best = fast;
      fallback = true;
    }
    if (best == n) return ECO_ENOENT;
    eco_route_predict(&nodes[best], req, slo_s, &bestp);
    bestp.slo_fallback = fallback;
    break;
  }
  default: return ECO_EINVAL;
  }
  bestp.node = best;
  bestp.rr_next = pol->kind == ECO_POLICY_ROUND_ROBIN ? (best + 1) % n : pol->rr_cursor;
  *out = bestp;
  return ECO_OK;
}
