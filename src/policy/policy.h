/* ecoinfer policy: routing policies as pure functions.
 *
 * A policy maps (request, node snapshots) to one node index plus the
 * predictions that led there. It does no I/O, reads no clock and keeps no
 * hidden state: round-robin's cursor lives in eco_policy and the chosen
 * successor comes back in eco_route_prediction.rr_next, which the caller
 * stores. The router (src/router/gw_proxy.c) and the simulator call the
 * same functions.
 *
 * Prediction of one request on one node (eco_route_predict):
 *   batch b: joins the running batch if a slot is free
 *            (b = active + queue + 1 <= max_batch), else b = max_batch;
 *   queue_s: 0 if a slot is free, else
 *            ceil((queue + 1 - free_slots) / max_batch) * service_s
 *            where service_s is the profile's mean service time (or, when
 *            unknown, this request's own predicted service time at b);
 *            at least the node-reported backlog_s;
 *   latency_s = queue_s + prefill_s(P) + decode_s(O, b);
 *   energy_j  = profile energy(P, O, b)            (IT energy, J)
 *   operational_g = eco_sci_operational_g(energy_j, intensity, pue)
 *   embodied_g    = embodied_g_per_s * (prefill_s + decode_s) / b
 *                   (eco_sci_embodied_share_g: the device is held for the
 *                    service time and shared by the b sequences in its batch)
 *   total_g = operational_g + embodied_g.
 *
 * Policies (eligible nodes only: health not DOWN, circuit not open, not
 * excluded by the request):
 *   round-robin: the first eligible node at or after the cursor;
 *   greedy:      fastest hardware first (least service time at batch 1,
 *                queues ignored); the next fastest when that node is full
 *                (active + queue >= max_batch); if all are full, least
 *                predicted latency;
 *   carbon:      least predicted total_g;
 *   latency:     least predicted latency_s (queues included);
 *   slo-carbon:  least total_g among nodes with latency_s <= SLO; if none
 *                meets it, the least latency_s (out->slo_fallback = true).
 *                Without an SLO (request and policy default both 0) it is
 *                the carbon policy.
 * Ties go to the lower index. Cost: O(n), a few dozen flops per node. */
#ifndef ECO_POLICY_POLICY_H
#define ECO_POLICY_POLICY_H

#include "policy/profile.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum eco_policy_kind {
  ECO_POLICY_ROUND_ROBIN = 0,
  ECO_POLICY_GREEDY = 1,
  ECO_POLICY_CARBON = 2,
  ECO_POLICY_LATENCY = 3,
  ECO_POLICY_SLO_CARBON = 4,
} eco_policy_kind;

#define ECO_POLICY_COUNT 5

typedef enum eco_node_health {
  ECO_NODE_UP = 0,       /* passing health checks */
  ECO_NODE_DEGRADED = 1, /* recent failures, still eligible (half-open circuit) */
  ECO_NODE_DOWN = 2,     /* failing health checks: not eligible */
} eco_node_health;

/* A snapshot of one node, as the router (or simulator) sees it now. */
typedef struct eco_node_view {
  char id[64];               /* node name from config or DNS, e.g. "orin-1" or "10.0.0.7:8080" */
  char device[32];           /* device type, e.g. "jetson-orin-nx-8gb", "rtx-2000-ada", "cpu" */
  char zone[32];             /* grid zone, e.g. "SE", "PL" */
  double intensity_gco2_kwh; /* current grid intensity of zone, gCO2e/kWh */
  double pue;                /* facility PUE, >= 1 (0 = 1) */
  double embodied_g_per_s;   /* embodied carbon while the device is held, gCO2e/s */
  eco_profile profile;       /* latency/energy model */
  uint32_t queue_depth;      /* requests waiting at (or routed to and not started on) the node */
  uint32_t active_batch;     /* sequences running now */
  uint32_t max_batch;        /* max concurrent sequences (0 = 1) */
  double backlog_s;          /* node-reported expected queue wait, s (0 = unknown) */
  eco_node_health health;    /* from health checks */
  bool circuit_open;         /* circuit breaker open: not eligible */
} eco_node_view;

typedef struct eco_route_request {
  uint32_t prompt_tokens;     /* P, tokens (estimated if not tokenized) */
  uint32_t max_tokens;        /* request's max_tokens, 0 = none */
  double expected_out_tokens; /* O, tokens; <= 0 = min(max_tokens, 128) */
  double slo_s;               /* end-to-end latency objective, s; 0 = the policy's default */
  const bool *excluded;       /* n flags, true = do not choose (failover); NULL = none */
} eco_route_request;

typedef struct eco_policy {
  eco_policy_kind kind;
  size_t rr_cursor;     /* round-robin: next index to try (caller stores out->rr_next) */
  double default_slo_s; /* SLO when the request has none, s; 0 = none */
} eco_policy;

typedef struct eco_route_prediction {
  size_t node;          /* chosen index into nodes[] */
  double out_tokens;    /* expected output tokens used, tokens */
  double batch;         /* batch the request is expected to run in */
  double queue_s;       /* predicted queue wait, s */
  double prefill_s;     /* predicted prefill incl. overhead, s */
  double decode_s;      /* predicted decode, s */
  double latency_s;     /* queue_s + prefill_s + decode_s, s */
  double energy_j;      /* predicted IT energy, J */
  double operational_g; /* energy * PUE * intensity, gCO2e */
  double embodied_g;    /* embodied share, gCO2e */
  double total_g;       /* operational_g + embodied_g, gCO2e */
  double slo_s;         /* SLO applied, s (0 = none) */
  bool meets_slo;       /* latency_s <= slo_s, or no SLO */
  bool slo_fallback;    /* slo-carbon: no node met the SLO, fastest chosen */
  size_t rr_next;       /* round-robin: cursor for the next call */
} eco_route_prediction;

/* "round-robin", "greedy", "carbon", "latency", "slo-carbon". */
const char *eco_policy_name(eco_policy_kind k);
/* Parses a policy name (also "rr", "carbon-aware", "latency-aware").
 * Returns 0 or ECO_EINVAL. */
int eco_policy_parse(const char *name, eco_policy_kind *out);

/* A node's load as the router should see it, from its own count and the
 * node's last report (ecoinfer /v1/node). The report also counts requests
 * of other clients, so the larger of the two estimates is taken; but the
 * requests this router saw finish since the report (done_since_report) have
 * left the node, so they are taken off the report first (finished requests
 * leave the queue's head: the active batch refills from the queue before
 * it shrinks). Without the discount, a report taken while a request ran
 * predicts batch sharing with it after it has ended.
 *   inflight:  requests this router has routed there and not seen finish
 *   max_batch: the node's batch size (>= 1)
 * Writes the expected active batch and queue depth. */
void eco_route_merge_load(uint32_t inflight, uint32_t max_batch, uint32_t rep_active,
                          uint32_t rep_queue, uint32_t done_since_report, uint32_t *active,
                          uint32_t *queue);

/* True if node i may be chosen for req. */
bool eco_policy_eligible(const eco_node_view *node, const eco_route_request *req, size_t i);

/* Predicts req on node (see above) into *out (out->node is left as is). */
void eco_route_predict(const eco_node_view *node, const eco_route_request *req, double slo_s,
                       eco_route_prediction *out);

/* Chooses a node. Returns 0 with *out filled, ECO_EINVAL for bad arguments
 * (NULL, n == 0), or ECO_ENOENT if no node is eligible. */
int eco_policy_choose(const eco_policy *pol, const eco_route_request *req,
                      const eco_node_view *nodes, size_t n, eco_route_prediction *out);

#endif
