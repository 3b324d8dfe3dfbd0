/* bench_sim: the cluster simulator at scale.
 *
 * 1,000 nodes (the four device profiles of data/devices, spread over three
 * zones with synthetic daily intensity cycles), 1,000,000 Poisson requests
 * with a daily cycle over one simulated week, under the router's carbon
 * policy (O(nodes) per decision, the real eco_policy_choose).
 *
 * Peers measured in the same run:
 *   - the same simulation under round-robin, whose decision is O(1): the
 *     difference is the cost of the 1,000-node policy scans;
 *   - 1,000,000 bare eco_policy_choose calls on 1,000 static views: the
 *     floor any simulator that calls the real policy per request must pay.
 * Memory: peak RSS, and the request pool's peak size (requests in flight),
 * at 250 and 1,000 nodes, to show it grows with nodes + in-flight requests
 * and not with the number of requests simulated.
 *
 * Usage: bench_sim [nodes=1000] [requests=1000000] [days=7]
 * Devices are built in (the same numbers as data/devices) so that the bench
 * runs from any directory. */
#include "policy/policy.h"
#include "sim/cluster.h"
#include "sim/route.h"
#include "util/timeutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static void dev(eco_sim_device *d, const char *name, const int *b, const double *pf,
                const double *dc, const double *pw, size_t n, double idle, double mem_gb, int maxb,
                double emb_kg) {
  memset(d, 0, sizeof *d);
  snprintf(d->name, sizeof d->name, "%s", name);
  for (size_t i = 0; i < n; i++) {
    d->batch[i] = b[i];
    d->prefill_tok_s[i] = pf[i];
    d->decode_tok_s[i] = dc[i];
    d->power_w[i] = pw[i];
  }
  d->n_points = n;
  d->idle_w = idle;
  d->usable_mem_bytes = mem_gb * 1e9;
  d->weights_bytes = 4.92e9;
  d->kv_bytes_per_token = 131072;
  d->max_batch = maxb;
  d->embodied =
      (eco_embodied){.total_g = emb_kg * 1000, .lifetime_s = 5 * 365 * 86400.0, .share = 1};
}

static double peak_rss_mb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_maxrss / 1024.0;
}

typedef struct world {
  eco_sim_device devs[4];
  eco_sim_zone zones[3];
  double ci[3][24 * 14];
  eco_sim_node_cfg *nodes;
  eco_sim_cfg cfg;
} world;

static int build(world *w, size_t n_nodes, uint64_t n_req, double days) {
  static const int b5[] = {1, 2, 4, 8, 16};
  static const double j_pf[] = {312, 344, 375, 406, 438}, j_dc[] = {11.2, 21.3, 38.7, 65.1, 98.9},
                      j_pw[] = {13, 13.4, 14, 14.9, 16.2};
  static const double r_pf[] = {1188, 1306, 1425, 1544, 1662},
                      r_dc[] = {28.8, 55.3, 102.6, 179.4, 286.8},
                      r_pw[] = {45, 46, 47.7, 50.5, 54.4};
  static const double a_pf[] = {7812, 8594, 9375, 10156, 10938},
                      a_dc[] = {177.2, 342.4, 641.6, 1139.5, 1861.6},
                      a_pw[] = {170, 177.7, 191.8, 215.1, 249};
  static const double c_pf[] = {125, 138, 150, 162, 175}, c_dc[] = {15.3, 24.4, 34.8, 44.2, 51.1},
                      c_pw[] = {220, 236.1, 254.4, 271, 283.3};
  dev(&w->devs[0], "jetson-orin-nx-8gb", b5, j_pf, j_dc, j_pw, 5, 4, 5.5, 16, 30);
  dev(&w->devs[1], "rtx-2000-ada-16gb", b5, r_pf, r_dc, r_pw, 5, 8, 15.2, 16, 60);
  dev(&w->devs[2], "a100-80gb-sxm", b5, a_pf, a_dc, a_pw, 5, 55, 78, 16, 318);
  dev(&w->devs[3], "cpu-server-xeon", b5, c_pf, c_dc, c_pw, 5, 120, 240, 16, 1300);
  static const char *zn[3] = {"FR", "DE-LU", "US-CAL-CISO"};
  static const double mean[3] = {30, 300, 190}, amp[3] = {10, 120, 110};
  for (int z = 0; z < 3; z++) {
    for (int h = 0; h < 24 * 14; h++)
      w->ci[z][h] = mean[z] + amp[z] * cos(2 * M_PI * ((h % 24) - 13 - 4 * z) / 24.0);
    snprintf(w->zones[z].name, sizeof w->zones[z].name, "%s", zn[z]);
    w->zones[z].ci = w->ci[z];
    w->zones[z].n_hours = 24 * 14;
    w->zones[z].pue = 1.1;
  }
  w->nodes = calloc(n_nodes, sizeof *w->nodes);
  if (!w->nodes) return 1;
  for (size_t i = 0; i < n_nodes; i++)
    w->nodes[i] = (eco_sim_node_cfg){.device = i % 4, .zone = (i / 4) % 3};
  memset(&w->cfg, 0, sizeof w->cfg);
  eco_sim_cfg *c = &w->cfg;
  c->devices = w->devs;
  c->n_devices = 4;
  c->zones = w->zones;
  c->n_zones = 3;
  c->nodes = w->nodes;
  c->n_nodes = n_nodes;
  c->duration_s = days * 86400;
  c->workload.arrival = ECO_SIM_ARRIVAL_POISSON;
  c->workload.rate_per_s = 1.05 * (double)n_req / c->duration_s; /* capped by max_requests */
  c->workload.daily_amp = 0.5;
  c->workload.peak_hour = 14;
  c->workload.prompt_median = 80;
  c->workload.prompt_sigma = 0.8;
  c->workload.out_median = 200;
  c->workload.out_sigma = 0.7;
  c->workload.max_prompt_tok = 2048;
  c->workload.max_out_tok = 1024;
  c->workload.n_levels = 3;
  c->workload.level_mix[0] = 0.6;
  c->workload.level_mix[1] = 0.25;
  c->workload.level_mix[2] = 0.15;
  c->workload.level_mult[0] = 1;
  c->workload.level_mult[1] = 0.6;
  c->workload.level_mult[2] = 0.4;
  c->workload.slo_s = 30;
  c->workload.max_requests = n_req;
  c->batch_size = 4;
  c->batch_wait_s = 0.5;
  c->seed = 2026;
  return 0;
}

static int run(world *w, eco_policy_kind k, eco_sim_result *r, double *wall, double *cpu) {
  eco_sim_router rt;
  eco_sim_policy_ops ops;
  eco_error err = {0};
  if (eco_sim_router_init(&rt, k, &w->cfg, &ops, &err)) return 1;
  double t0 = eco_time_wall_s(), c0 = eco_time_process_cpu_s();
  int rc = eco_sim_run(&w->cfg, &ops, r, &err);
  *wall = eco_time_wall_s() - t0;
  *cpu = eco_time_process_cpu_s() - c0;
  eco_sim_router_free(&rt);
  if (rc) fprintf(stderr, "bench_sim: %s\n", eco_error_text(&err));
  return rc;
}

/* The small run first (a quarter of the nodes, a tenth of the requests and
 * days): peak RSS after it is the baseline for the memory check. Returns 0
 * or 1. */
static int warm_up(world *ws, size_t small, uint64_t n_req, double days, eco_sim_result *rs,
                   double *rss_small) {
  double wall_s, cpu_s;
  if (build(ws, small, n_req / 10, days / 10) ||
      run(ws, ECO_POLICY_SLO_CARBON, rs, &wall_s, &cpu_s))
    return 1;
  *rss_small = peak_rss_mb();
  printf("  warm-up %zu nodes, %llu requests: %.2f s, peak in flight %llu, peak RSS %.1f MB\n",
         small, (unsigned long long)rs->arrived, wall_s, (unsigned long long)rs->peak_in_flight,
         *rss_small);
  return 0;
}

/* The peer: n_bare bare eco_policy_choose calls over all of w's views;
 * prints the line and leaves the CPU seconds per decision. Returns 0 or 1. */
static int bare_policy(world *w, uint64_t n_bare, double *per_cpu) {
  eco_sim_router rt;
  eco_sim_policy_ops ops;
  eco_error err = {0};
  if (eco_sim_router_init(&rt, ECO_POLICY_SLO_CARBON, &w->cfg, &ops, &err)) return 1;
  eco_route_request rq = {.prompt_tokens = 80, .expected_out_tokens = 200, .slo_s = 30};
  eco_route_prediction p;
  double t0 = eco_time_wall_s(), c0 = eco_time_process_cpu_s();
  size_t acc = 0;
  for (uint64_t i = 0; i < n_bare; i++) {
    rq.prompt_tokens = (uint32_t)(40 + i % 200);
    if (eco_policy_choose(&rt.policy, &rq, rt.views, rt.n, &p) == 0) acc += p.node;
  }
  double wall_p = eco_time_wall_s() - t0, cpu_p = eco_time_process_cpu_s() - c0;
  eco_sim_router_free(&rt);
  double per = wall_p / (double)n_bare;
  printf("  peer: bare eco_policy_choose over all %zu views: %.2f us wall, %.2f us CPU per "
         "decision (%llu calls, checksum %zu)\n",
         w->cfg.n_nodes, per * 1e6, cpu_p / (double)n_bare * 1e6, (unsigned long long)n_bare, acc);
  *per_cpu = cpu_p / (double)n_bare;
  return 0;
}

int main(int argc, char **argv) {
  size_t n_nodes = argc > 1 ? (size_t)atol(argv[1]) : 1000;
  uint64_t n_req = argc > 2 ? (uint64_t)atoll(argv[2]) : 1000000;
  double days = argc > 3 ? atof(argv[3]) : 7;
  if (n_nodes < 1 || n_req < 1 || !(days > 0)) {
    fprintf(stderr, "usage: bench_sim [nodes] [requests] [days]\n");
    return 2;
  }
  int status = 1;
  world *w = calloc(1, sizeof *w), *ws = calloc(1, sizeof *ws);
  eco_sim_result rs, rc_, rr_;
  memset(&rs, 0, sizeof rs);
  memset(&rc_, 0, sizeof rc_);
  memset(&rr_, 0, sizeof rr_);
  if (!w || !ws) goto done;
  printf("bench_sim: %zu nodes, %llu requests, %.1f simulated days (shared, busy machine)\n",
         n_nodes, (unsigned long long)n_req, days);
  size_t small = n_nodes / 4 ? n_nodes / 4 : 1;
  double rss_small;
  if (warm_up(ws, small, n_req, days, &rs, &rss_small)) goto done;

  double wall_c, wall_rr, cpu_c, cpu_rr;
  if (build(w, n_nodes, n_req, days) || run(w, ECO_POLICY_SLO_CARBON, &rc_, &wall_c, &cpu_c))
    goto done;
  double rss_big = peak_rss_mb();
  if (run(w, ECO_POLICY_ROUND_ROBIN, &rr_, &wall_rr, &cpu_rr)) goto done;
  printf("  slo-carbon    : %.2f s wall (%.2f s CPU), %llu requests (%llu done), %llu events, "
         "%.2f M events/s\n",
         wall_c, cpu_c, (unsigned long long)rc_.arrived, (unsigned long long)rc_.completed,
         (unsigned long long)rc_.events, (double)rc_.events / wall_c / 1e6);
  printf("  round-robin   : %.2f s wall (%.2f s CPU; simulator core with an O(1) policy)\n",
         wall_rr, cpu_rr);
  printf("  ratio slo-carbon/round-robin CPU: %.2fx (cost of the %zu-node policy decisions)\n",
         cpu_c / cpu_rr, n_nodes);
  double per_cpu;
  if (bare_policy(w, n_req / 10 ? n_req / 10 : 1, &per_cpu)) goto done;
  printf("  whole simulation vs %llu full-array decisions alone (%.1f s CPU): %.3fx (CPU)\n",
         (unsigned long long)rc_.arrived, per_cpu * (double)rc_.arrived,
         cpu_c / (per_cpu * (double)rc_.arrived));
  printf("  memory: peak in flight %llu requests; peak RSS %.1f MB after %zu nodes, %.1f MB "
         "after %zu nodes (%llu requests simulated)\n",
         (unsigned long long)rc_.peak_in_flight, rss_small, small, rss_big, n_nodes,
         (unsigned long long)rc_.arrived);
  printf("  results (slo-carbon): p95 latency %.2f s, util %.4f, %.1f kgCO2e\n",
         eco_sim_result_quantile(&rc_, 0.95), rc_.util_mean, (rc_.op_g + rc_.emb_g) / 1000);
  printf("  goal: under 60 s for the slo-carbon run: %s\n", wall_c < 60 ? "met" : "NOT met");
  status = 0;
done:
  eco_sim_result_free(&rs);
  eco_sim_result_free(&rc_);
  eco_sim_result_free(&rr_);
  if (ws) free(ws->nodes);
  if (w) free(w->nodes);
  free(ws);
  free(w);
  return status;
}
