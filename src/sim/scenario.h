/* ecoinfer simulator: a cluster scenario from a YAML file.
 *
 *   seed: 1
 *   duration: 7d                    # arrivals stop then; queues drain
 *   start: 2023-06-01T00:00:00Z     # trace time of simulated t = 0
 *   batch: {size: 4, wait: 500ms}
 *   devices: [data/devices/jetson-orin-nx-8gb.yaml, ...]   # or bench JSON via
 *   device_bench: {jetson-orin-nx-8gb: bench.json}          #  an import
 *   zones:
 *     - {name: FR, trace: shared/data/carbon/FR_2023_hourly.csv, pue: 1.1}
 *     - {name: LAB, intensity: 300}                          # constant
 *   nodes:
 *     - {device: jetson-orin-nx-8gb, zone: FR, count: 2}
 *   workload:
 *     arrival: poisson              # or trace (trace: FILE.csv)
 *     rate: 0.2                     # requests/s (mean)
 *     daily_amplitude: 0.5
 *     peak_hour: 14
 *     lengths: sprout               # or file (lengths_file) or lognormal
 *     sprout: {dir: shared/data/sprout, datasets: [alpaca_5000], decode_tok_s: 40}
 *     prompt_median: 60, prompt_sigma: 0.8, output_median: 150, output_sigma: 0.8
 *     max_prompt_tokens: 2048, max_output_tokens: 1024
 *     levels: {mix: [1, 0, 0], mult: [1, 0.6, 0.4]}
 *     slo: 20s
 *     max_requests: 0
 *   policies: [greedy, carbon, latency, slo-carbon]
 *   policy_slo: 30s                 # SLO given to the policy (default workload.slo)
 *
 * Relative paths are resolved against the config file's folder, except
 * those starting with "shared/", which are resolved against the shared data
 * folder (eco_sim_scenario_load's shared_dir). */
#ifndef ECO_SIM_SCENARIO_H
#define ECO_SIM_SCENARIO_H

#include "policy/policy.h"
#include "sim/cluster.h"
#include "util/config.h"

typedef struct eco_sim_scenario {
  eco_sim_cfg cfg; /* points into the arrays below */
  eco_sim_device *devices;
  size_t n_devices;
  eco_sim_zone *zones;
  size_t n_zones;
  double **zone_ci; /* owned hourly arrays, one per zone */
  eco_sim_node_cfg *nodes;
  size_t n_nodes;
  eco_sim_len *lens;
  size_t n_lens;
  double *trace_times;
  eco_sim_len *trace_lens;
  eco_policy_kind policies[ECO_POLICY_COUNT];
  size_t n_policies;
  double start_s; /* epoch s of simulated t = 0 */
  char lengths_source[256];
} eco_sim_scenario;

/* Loads from an already parsed config (the CLI's, with flag and environment
 * overrides applied). base_dir: folder of the config file. */
int eco_sim_scenario_load(const eco_cfg *cfg, const char *base_dir, const char *shared_dir,
                          eco_sim_scenario *sc, eco_error *err);
void eco_sim_scenario_free(eco_sim_scenario *sc);

#endif
