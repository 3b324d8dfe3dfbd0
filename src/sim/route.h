/* ecoinfer simulator: the router's policies (src/policy/policy.h) driving
 * the simulated cluster. This file holds no policy logic: it keeps one
 * eco_node_view per simulated node up to date and calls eco_policy_choose,
 * the function the live router calls.
 *
 * Node view from a simulated node (see docs/simulator.md):
 *   profile     eco_profile_from_rates(prefill(1), decode(1), J/token, 0,
 *               slowdown) with the slowdown and J/token fitted so that the
 *               profile is exact at the configured batch size B:
 *               step(B) = B * decode(1) / decode(B),
 *               J/token = power(B) * B / (decode(B) * step(B));
 *   max_batch   min(B, device max_batch);
 *   queue_depth requests waiting, active_batch the running batch;
 *   backlog_s   what a real node reports: the rest of the running batch plus
 *               its queue served in waves of B (prompt tokens / prefill(B)
 *               + expected output * B / decode(B) per wave);
 *   intensity   the zone's hourly value; embodied_g_per_s = TE / EL.
 *
 * Speed-up for large clusters (exact, tested): idle nodes with an empty
 * queue of the same class (device and zone) have identical views, so the
 * policy gets, in index order, every node that is not idle plus only the
 * lowest-index idle node of each class. Every policy scores a node from its
 * view alone and breaks ties by the lower index, so the choice is the one it
 * makes over all nodes. Round-robin (whose cursor walks indices) and busy
 * clusters (candidates > n/4) get the full array. */
#ifndef ECO_SIM_ROUTE_H
#define ECO_SIM_ROUTE_H

#include "policy/policy.h"
#include "sim/cluster.h"

typedef struct eco_sim_router {
  eco_policy policy;
  eco_node_view *views;  /* one per node */
  double *queued_work_s; /* per node: estimated time to serve its queue, s */
  double *busy_until;    /* per node, s */
  size_t n;
  int batch;           /* B */
  double policy_slo_s; /* SLO passed to the policy, s (0 = the request's) */
  char name[32];
  uint64_t slo_fallbacks; /* slo-carbon decisions where no node met the SLO */
  bool dedup;             /* use the exact idle-class reduction above (default true) */
  uint64_t reduced_calls; /* decisions made over the reduced candidate set */
  /* classes and idle tracking for the reduction */
  size_t n_classes;
  size_t *cls;       /* class of each node */
  size_t *cls_start; /* CSR: members of class c are cls_nodes[cls_start[c] .. cls_start[c+1]) */
  size_t *cls_nodes; /* node indices, ascending within a class */
  size_t *busy;      /* nodes not idle (unordered) */
  size_t n_busy;
  long *busy_pos; /* position in busy[], or -1 when idle */
  size_t *cand;   /* candidate node indices */
  eco_node_view *cand_views;
} eco_sim_router;

/* Sets up views for cfg's nodes and fills ops to call the router policy
 * kind (default SLO: cfg->workload.slo_s). */
int eco_sim_router_init(eco_sim_router *r, eco_policy_kind kind, const eco_sim_cfg *cfg,
                        eco_sim_policy_ops *ops, eco_error *err);
void eco_sim_router_free(eco_sim_router *r);

#endif
