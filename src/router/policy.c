#include "router/policy.h"

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
  /* embodied_g_per_s is TE/EL already: express it as an eco_embodied with
   * a 1 s lifetime and a 1/b share of the device. */
  eco_embodied emb = {.total_g = node->embodied_g_per_s, .lifetime_s = 1.0, .share = 1.0 / b};
  out->out_tokens = out_tok;
  out->batch = b;
  out->queue_s = queue_s;
  out->prefill_s = prefill_s;
  out->decode_s = decode_s;
  out->latency_s = queue_s + prefill_s + decode_s;
  out->energy_j = energy;
  out->operational_g = eco_sci_operational_g(energy, node->intensity_gco2_kwh, pue);
  out->embodied_g = eco_sci_embodied_g(&emb, prefill_s + decode_s);
  out->total_g = out->operational_g + out->embodied_g;
  out->slo_s = slo_s;
  out->meets_slo = slo_s <= 0 || out->latency_s <= slo_s;
  out->slo_fallback = false;
}

/* Service time at batch 1, queues ignored: the hardware's speed for req. */
static double hw_time(const eco_node_view *node, const eco_route_request *req, double out_tok) {
  return eco_profile_prefill_s(&node->profile, req->prompt_tokens) +
         eco_profile_decode_s(&node->profile, out_tok, 1);
}

static bool node_full(const eco_node_view *node) {
  uint32_t maxb = node->max_batch > 0 ? node->max_batch : 1;
  return (uint64_t)node->active_batch + node->queue_depth >= maxb;
}

int eco_policy_choose(const eco_policy *pol, const eco_route_request *req,
                      const eco_node_view *nodes, size_t n, eco_route_prediction *out) {
  if (!pol || !req || !nodes || !out || n == 0) return ECO_EINVAL;
  double slo_s = req->slo_s > 0 ? req->slo_s : (pol->default_slo_s > 0 ? pol->default_slo_s : 0);
  size_t best = n;
  eco_route_prediction cur, bestp;
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
    double out_tok = expected_out(req);
    double best_hw = INFINITY, best_lat = INFINITY;
    size_t best_any = n;
    for (size_t i = 0; i < n; i++) {
      if (!eco_policy_eligible(&nodes[i], req, i)) continue;
      if (!node_full(&nodes[i])) {
        double t = hw_time(&nodes[i], req, out_tok);
        if (t < best_hw) {
          best_hw = t;
          best = i;
        }
      } else if (best == n) {
        eco_route_predict(&nodes[i], req, slo_s, &cur);
        if (cur.latency_s < best_lat) {
          best_lat = cur.latency_s;
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
    bool use_slo = pol->kind == ECO_POLICY_SLO_CARBON && slo_s > 0;
    bool by_carbon = pol->kind != ECO_POLICY_LATENCY;
    size_t fast = n;
    eco_route_prediction fastp;
    memset(&fastp, 0, sizeof fastp);
    for (size_t i = 0; i < n; i++) {
      if (!eco_policy_eligible(&nodes[i], req, i)) continue;
      eco_route_predict(&nodes[i], req, slo_s, &cur);
      if (use_slo && (fast == n || cur.latency_s < fastp.latency_s)) {
        fast = i;
        fastp = cur;
      }
      if (use_slo && !cur.meets_slo) continue;
      bool better =
          best == n || (by_carbon ? cur.total_g < bestp.total_g : cur.latency_s < bestp.latency_s);
      if (better) {
        best = i;
        bestp = cur;
      }
    }
    if (use_slo && best == n && fast < n) {
      best = fast;
      bestp = fastp;
      bestp.slo_fallback = true;
    }
    if (best == n) return ECO_ENOENT;
    break;
  }
  default: return ECO_EINVAL;
  }
  bestp.node = best;
  bestp.rr_next = pol->kind == ECO_POLICY_ROUND_ROBIN ? (best + 1) % n : pol->rr_cursor;
  *out = bestp;
  return ECO_OK;
}
