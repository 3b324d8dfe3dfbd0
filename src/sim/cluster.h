/* ecoinfer simulator: a discrete-event simulation of an inference cluster.
 *
 * Requests arrive (Poisson with a daily cycle, or a timestamped trace), each
 * with prompt/output token counts (empirical table, e.g. from the Sprout
 * data, or a log-normal) and a directive level that scales its output. A
 * routing policy (the router's own code, through eco_sim_policy_ops) picks a
 * node; the node queues it and serves batches (device.h gives the timing,
 * power and memory model). Zones carry hourly carbon-intensity arrays.
 *
 * Memory use is linear in nodes + requests in flight: requests live in a
 * recycled slot pool, latencies go to a fixed log-spaced histogram, and
 * time series are hourly. Same inputs and seed => identical results. */
#ifndef ECO_SIM_CLUSTER_H
#define ECO_SIM_CLUSTER_H

#include "sim/des.h"
#include "sim/device.h"
#include "util/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ECO_SIM_MAX_LEVELS 4

/* One zone's hourly carbon intensity; hour h of the simulation uses
 * ci[(start_hour + h) % n_hours]. */
typedef struct eco_sim_zone {
  char name[64];
  const double *ci; /* gCO2/kWh per hour, n_hours values (borrowed) */
  size_t n_hours;
  size_t start_hour; /* index of simulated hour 0 in ci */
  double pue;        /* >= 1 */
} eco_sim_zone;

typedef struct eco_sim_node_cfg {
  size_t device; /* index into devices[] */
  size_t zone;   /* index into zones[] */
} eco_sim_node_cfg;

/* One request's lengths: output tokens per directive level. */
typedef struct eco_sim_len {
  uint32_t prompt_tok;
  uint32_t out_tok[ECO_SIM_MAX_LEVELS];
} eco_sim_len;

typedef enum eco_sim_arrival_kind {
  ECO_SIM_ARRIVAL_POISSON = 0, /* rate * (1 + amp * cos(2 pi (t/86400 - peak_hour/24))) */
  ECO_SIM_ARRIVAL_TRACE = 1,   /* explicit timestamps (s, nondecreasing) */
} eco_sim_arrival_kind;

typedef struct eco_sim_workload {
  eco_sim_arrival_kind arrival;
  double rate_per_s;            /* mean arrivals/s (Poisson) */
  double daily_amp;             /* 0..1: relative amplitude of the daily cycle */
  double peak_hour;             /* hour of day (0..24) of the peak */
  const double *times;          /* trace timestamps, s (borrowed) */
  const eco_sim_len *trace_len; /* optional per-timestamp lengths (borrowed), or NULL */
  size_t n_times;
  const eco_sim_len *lens; /* empirical length table sampled uniformly (borrowed) */
  size_t n_lens;
  /* used when n_lens == 0: log-normal lengths (median, sigma of ln) */
  double prompt_median, prompt_sigma, out_median, out_sigma;
  uint32_t max_prompt_tok, max_out_tok;  /* caps (0 = none) */
  size_t n_levels;                       /* directive levels, >= 1 */
  double level_mix[ECO_SIM_MAX_LEVELS];  /* share of requests at each level, sums to 1 */
  double level_mult[ECO_SIM_MAX_LEVELS]; /* output multiplier when lens lack per-level counts */
  double slo_s;                          /* latency SLO of every request, s (0 = none) */
  uint64_t max_requests;                 /* stop arrivals after this many (0 = none) */
  bool oracle_lengths; /* the policy sees each request's true output length (an upper bound
                          for output-length prediction); default: the level's mean */
} eco_sim_workload;

/* A request as the policy sees it. */
typedef struct eco_sim_req {
  double arrival;        /* s */
  uint32_t prompt_tok;   /* tokens */
  uint32_t out_tok;      /* tokens actually generated (the policy sees expected_out) */
  uint32_t expected_out; /* predicted output tokens (mean of the level), tokens */
  uint8_t level;
  double slo_s; /* s, 0 = none */
  uint64_t id;  /* arrival order, from 0 */
  /* filled by the simulator */
  int32_t node;
  double start_s, done_s; /* s */
  double energy_j;        /* attributed active energy, J (before PUE) */
  double op_g, emb_g;     /* attributed operational / embodied carbon, gCO2e */
} eco_sim_req;

/* What a policy can read about a node (eco_sim_node_state()). */
typedef struct eco_sim_node_state {
  const eco_sim_device *dev;
  const eco_sim_zone *zone;
  size_t queued;            /* requests waiting at the node */
  double queued_prompt_tok; /* tokens waiting (prompt) */
  double queued_out_tok;    /* tokens waiting (expected output) */
  int running;              /* sequences in the running batch */
  double busy_until;        /* end of the running batch, s (<= now if idle) */
  double intensity;         /* zone intensity now, gCO2/kWh */
  bool healthy;
} eco_sim_node_state;

typedef struct eco_sim eco_sim;

/* The policy hook: the simulator calls node_changed whenever a node's state
 * (queue, batch, intensity) changes, so an adapter can keep its own node
 * views up to date incrementally, and choose for every arrival. */
typedef struct eco_sim_policy_ops {
  void *ctx;
  int (*node_changed)(void *ctx, const eco_sim *sim, size_t node);
  int (*choose)(void *ctx, const eco_sim *sim, const eco_sim_req *req, size_t *node);
  const char *name;
} eco_sim_policy_ops;

typedef struct eco_sim_cfg {
  const eco_sim_device *devices;
  size_t n_devices;
  const eco_sim_zone *zones;
  size_t n_zones;
  const eco_sim_node_cfg *nodes;
  size_t n_nodes;
  eco_sim_workload workload;
  int batch_size;      /* sequences collected per batch before starting, >= 1 */
  double batch_wait_s; /* longest wait for a batch to fill, s (never past a request's SLO) */
  double duration_s;   /* arrivals stop after this; the run drains the queues */
  double policy_slo_s; /* SLO the routing policy is given, s (0 = the workload's slo_s);
                          a tighter value leaves the policy a safety margin */
  uint64_t seed;
  /* optional: called for every completed or refused request (tests, traces) */
  void (*on_done)(void *user, const eco_sim_req *req, bool refused);
  void *user;
} eco_sim_cfg;

#define ECO_SIM_HIST_BINS 1600 /* latency histogram: 1 ms .. 1e5 s, 200 bins a decade */

typedef struct eco_sim_hour {
  double op_g;     /* operational gCO2e (active + idle) in this hour */
  double emb_g;    /* embodied gCO2e attributed to busy time in this hour */
  double energy_j; /* J (before PUE) */
  double ci_mean;  /* mean zone intensity over nodes, gCO2/kWh */
  uint64_t done;   /* requests completed */
} eco_sim_hour;

typedef struct eco_sim_result {
  char policy[32];
  uint64_t arrived, completed, refused;
  uint64_t slo_met;           /* completed within the SLO */
  double prompt_tok, out_tok; /* tokens of completed requests */
  double energy_active_j;     /* J, batches */
  double energy_idle_j;       /* J, idle power of every node */
  double op_g;                /* operational gCO2e incl. PUE, active + idle */
  double op_idle_g;           /* part of op_g from idle power */
  double emb_g;               /* embodied gCO2e for busy time */
  double emb_idle_g;          /* embodied gCO2e for idle time (whole fleet) */
  double makespan_s;          /* time of the last completion, s */
  double lat_sum_s;           /* sum of latencies, s */
  double lat_max_s;
  uint64_t hist[ECO_SIM_HIST_BINS];     /* latency histogram */
  double util_mean, util_min, util_max; /* busy share of nodes over the makespan */
  uint64_t batches;
  double batch_seqs;   /* sum of batch sizes */
  eco_sim_hour *hours; /* hourly series, n_hours entries */
  size_t n_hours;
  uint64_t peak_in_flight; /* most requests alive at once (queued or running) */
  uint64_t events;         /* events processed */
  double *node_busy_s;     /* per-node busy time, n_nodes entries */
  size_t n_nodes;
} eco_sim_result;

void eco_sim_result_free(eco_sim_result *r);
/* Latency quantile q in [0,1] from the histogram (bin upper edge), s. */
double eco_sim_result_quantile(const eco_sim_result *r, double q);
/* Upper edge of histogram bin i, s. */
double eco_sim_hist_edge(size_t i);

/* Runs one simulation. ops is the routing policy. */
int eco_sim_run(const eco_sim_cfg *cfg, const eco_sim_policy_ops *ops, eco_sim_result *out,
                eco_error *err);

/* For policy adapters. */
size_t eco_sim_n_nodes(const eco_sim *sim);
double eco_sim_now(const eco_sim *sim);
void eco_sim_node_state_get(const eco_sim *sim, size_t node, eco_sim_node_state *st);
const eco_sim_cfg *eco_sim_config(const eco_sim *sim);

/* Intensity of a zone at time t (s), gCO2/kWh. */
double eco_sim_zone_ci(const eco_sim_zone *z, double t);

#endif
