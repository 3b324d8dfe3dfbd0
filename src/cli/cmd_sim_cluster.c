/* ecoinfer sim cluster: trace-driven discrete-event simulation of a cluster
 * under the router's policies (src/sim/, docs/simulator.md). */
#include "cli/subcmd.h"
#include "policy/policy.h"
#include "sim/report.h"
#include "sim/route.h"
#include "sim/scenario.h"
#include "util/fs.h"
#include "util/strbuf.h"

#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const eco_opt opts[] = {
    {"policy", 'p', "LIST", NULL, "policies to compare, comma-separated (default: from config)"},
    {"seed", 0, "N", "seed", "random seed"},
    {"duration", 0, "D", "duration", "simulated time of arrivals, e.g. 7d"},
    {"start", 0, "TIME", "start", "trace time of t=0, ISO-8601 UTC"},
    {"batch", 'b', "N", "batch.size", "prompts per batch"},
    {"batch-wait", 0, "D", "batch.wait", "longest wait for a batch to fill, e.g. 500ms"},
    {"rate", 0, "R", "workload.rate", "mean arrival rate, requests/s"},
    {"slo", 0, "D", "workload.slo", "latency SLO of every request, e.g. 20s"},
    {"policy-slo", 0, "D", "policy_slo", "SLO the policy is given (default: --slo)"},
    {"length-prediction", 0, "M", "workload.length_prediction",
     "output length the policy sees: mean (of the level) or oracle (true)"},
    {"shared-dir", 0, "DIR", NULL, "where 'shared/...' paths point (default ../shared)"},
    {"out", 'o', "DIR", NULL, "write results.csv, summary.json and SVG plots into DIR"},
    {"csv", 0, NULL, NULL, "print CSV instead of a table"},
};

static const eco_cmd_spec spec = {
    .name = "sim cluster",
    .own_config = true,
    .usage = "--config cluster.yaml [options]",
    .summary = "Simulate a cluster under routing policies: carbon, energy, latency, SLO.",
    .details = "The scenario (devices, zones with carbon traces, nodes, workload, policies)\n"
               "comes from the --config YAML file; see docs/simulator.md. The policies are\n"
               "the router's own functions. Same config and seed => same results.",
    .opts = opts,
    .n_opts = sizeof opts / sizeof opts[0],
    .min_args = 0,
    .max_args = 0,
};

static int write_file(eco_cli *cli, const char *dir, const char *name, const eco_strbuf *sb) {
  char path[4096];
  eco_error err = {0};
  if (eco_fs_join(path, sizeof path, dir, name)) return ECO_EINVAL;
  int rc = eco_fs_write_atomic(path, eco_sb_str(sb), sb->len, &err);
  if (rc) eco_cli_error(cli, "sim cluster", "%s", eco_error_text(&err));
  return rc;
}

static int write_outputs(eco_cli *cli, const char *dir, const eco_sim_result *res,
                         const eco_sim_summary *sum, size_t n, const char *summary_json) {
  eco_strbuf sb;
  eco_sb_init(&sb);
  int rc = eco_fs_mkdirs(dir);
  if (rc) {
    eco_cli_error(cli, "sim cluster", "cannot create %s", dir);
    return rc;
  }
  eco_sim_report_csv(&sb, sum, n);
  if (!(rc = write_file(cli, dir, "results.csv", &sb))) {
    eco_sb_reset(&sb);
    eco_sb_puts(&sb, summary_json);
    rc = write_file(cli, dir, "summary.json", &sb);
  }
  if (!rc) {
    eco_sb_reset(&sb);
    eco_sb_puts(&sb, "policy,hour,op_g,emb_g,energy_j,ci_mean,done\n");
    for (size_t k = 0; k < n; k++)
      for (size_t h = 0; h < res[k].n_hours; h++)
        eco_sb_printf(&sb, "%s,%zu,%.6g,%.6g,%.6g,%.6g,%llu\n", res[k].policy, h,
                      res[k].hours[h].op_g, res[k].hours[h].emb_g, res[k].hours[h].energy_j,
                      res[k].hours[h].ci_mean, (unsigned long long)res[k].hours[h].done);
    rc = write_file(cli, dir, "hourly.csv", &sb);
  }
  if (!rc) {
    eco_sb_reset(&sb);
    if (!(rc = eco_sim_svg_carbon(&sb, res, n))) rc = write_file(cli, dir, "carbon.svg", &sb);
  }
  if (!rc) {
    eco_sb_reset(&sb);
    if (!(rc = eco_sim_svg_cdf(&sb, res, n))) rc = write_file(cli, dir, "latency_cdf.svg", &sb);
  }
  if (!rc) {
    eco_sb_reset(&sb);
    if (!(rc = eco_sim_svg_pareto(&sb, sum, n))) rc = write_file(cli, dir, "pareto.svg", &sb);
  }
  eco_sb_free(&sb);
  return rc;
}

/* --policy LIST replaces the scenario's policies. An exit code (reported) on error. */
static int parse_policies(eco_cli *cli, eco_sim_scenario *sc) {
  const char *plist = eco_cli_get(cli, "policy");
  if (!plist) return ECO_EXIT_OK;
  char buf[256];
  snprintf(buf, sizeof buf, "%s", plist);
  sc->n_policies = 0;
  char *save = NULL;
  for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    if (sc->n_policies == ECO_POLICY_COUNT || eco_policy_parse(t, &sc->policies[sc->n_policies])) {
      eco_cli_error(cli, "sim cluster",
                    "unknown policy '%s' (round-robin, greedy, carbon, "
                    "latency, slo-carbon)",
                    t);
      return ECO_EXIT_USAGE;
    }
    sc->n_policies++;
  }
  return ECO_EXIT_OK;
}

/* One policy's summary with the shares of busy time per zone and per device. */
static json_t *policy_json(const eco_sim_scenario *sc, const eco_sim_result *res,
                           const eco_sim_summary *sum) {
  json_t *o = eco_sim_summary_json(sum);
  json_t *zb = json_object(), *db = json_object();
  double tot = 0;
  for (size_t i = 0; i < sc->cfg.n_nodes; i++)
    tot += res->node_busy_s[i];
  for (size_t z = 0; z < sc->n_zones; z++) {
    double b = 0;
    for (size_t i = 0; i < sc->cfg.n_nodes; i++)
      if (sc->nodes[i].zone == z) b += res->node_busy_s[i];
    json_object_set_new(zb, sc->zones[z].name, json_real(tot > 0 ? b / tot : 0));
  }
  for (size_t d = 0; d < sc->n_devices; d++) {
    double b = 0;
    for (size_t i = 0; i < sc->cfg.n_nodes; i++)
      if (sc->nodes[i].device == d) b += res->node_busy_s[i];
    json_object_set_new(db, sc->devices[d].name, json_real(tot > 0 ? b / tot : 0));
  }
  json_object_set_new(o, "zone_busy_share", zb);
  json_object_set_new(o, "device_busy_share", db);
  return o;
}

/* The whole run as indented JSON (malloc'd), or NULL when out of memory. */
static char *run_json(const eco_sim_scenario *sc, const eco_sim_result *res,
                      const eco_sim_summary *sum, size_t n_done) {
  json_t *root = json_pack("{s:I,s:i,s:f,s:f,s:I,s:s}", "seed", (json_int_t)sc->cfg.seed, "batch",
                           sc->cfg.batch_size, "batch_wait_s", sc->cfg.batch_wait_s, "duration_s",
                           sc->cfg.duration_s, "nodes", (json_int_t)sc->cfg.n_nodes, "lengths",
                           sc->lengths_source);
  json_t *arr = json_array();
  for (size_t k = 0; k < n_done; k++)
    json_array_append_new(arr, policy_json(sc, &res[k], &sum[k]));
  json_object_set_new(root, "policies", arr);
  char *js = json_dumps(root, JSON_INDENT(2));
  json_decref(root);
  return js;
}

/* The table (or CSV) on stdout. */
static void print_table(const eco_cli *cli, const eco_sim_scenario *sc, const eco_sim_summary *sum,
                        size_t n_done) {
  eco_strbuf sb;
  eco_sb_init(&sb);
  if (eco_cli_flag(cli, "csv")) {
    eco_sim_report_csv(&sb, sum, n_done);
  } else {
    eco_sb_printf(&sb, "%zu nodes, %.1f h simulated, batch %d, seed %llu, lengths: %s\n",
                  sc->cfg.n_nodes, sc->cfg.duration_s / 3600, sc->cfg.batch_size,
                  (unsigned long long)sc->cfg.seed, sc->lengths_source);
    eco_sim_report_table(&sb, sum, n_done);
  }
  eco_cli_out(eco_sb_str(&sb));
  eco_sb_free(&sb);
}

int eco_cmd_sim_cluster(eco_cli *cli, int argc, char **argv) {
  bool done;
  int rc = eco_cli_parse(cli, &spec, argc, argv, &done);
  if (done) return rc;
  if (!cli->config_path) {
    eco_cli_error(cli, "sim cluster", "--config FILE is required (see docs/simulator.md)");
    return ECO_EXIT_USAGE;
  }
  eco_error err = {0};
  eco_sim_scenario sc;
  eco_sim_result res[ECO_POLICY_COUNT];
  eco_sim_summary sum[ECO_POLICY_COUNT];
  size_t n_done = 0;
  int exit_code = ECO_EXIT_RUNTIME;
  char *cfgdup = strdup(cli->config_path);
  if (!cfgdup) return ECO_EXIT_RUNTIME;
  const char *shared = eco_cli_get(cli, "shared-dir");
  if (!shared) shared = getenv("ECO_SHARED_DIR");
  if (!shared) shared = "../shared";
  rc = eco_sim_scenario_load(cli->cfg, dirname(cfgdup), shared, &sc, &err);
  free(cfgdup);
  if (rc) {
    eco_cli_error(cli, "sim cluster", "%s", eco_error_text(&err));
    return rc == ECO_ECONFIG ? ECO_EXIT_USAGE : ECO_EXIT_RUNTIME;
  }
  if ((exit_code = parse_policies(cli, &sc)) != ECO_EXIT_OK) goto done;
  exit_code = ECO_EXIT_RUNTIME;
  for (size_t k = 0; k < sc.n_policies; k++) {
    eco_sim_router rt;
    eco_sim_policy_ops ops;
    if (eco_sim_router_init(&rt, sc.policies[k], &sc.cfg, &ops, &err)) goto fail;
    int run_rc = eco_sim_run(&sc.cfg, &ops, &res[k], &err);
    eco_sim_router_free(&rt);
    if (run_rc) goto fail;
    eco_sim_summarize(&res[k], &sum[k]);
    n_done++;
  }
  char *js = run_json(&sc, res, sum, n_done);
  if (!js) {
    eco_error_set(&err, ECO_ENOMEM, "out of memory");
    goto fail;
  }
  const char *out = eco_cli_get(cli, "out");
  if (out && write_outputs(cli, out, res, sum, n_done, js)) {
    free(js);
    goto done;
  }
  if (cli->json) {
    eco_cli_out(js);
    eco_cli_out("\n");
  } else {
    print_table(cli, &sc, sum, n_done);
  }
  free(js);
  exit_code = ECO_EXIT_OK;
  goto done;
fail:
  eco_cli_error(cli, "sim cluster", "%s", eco_error_text(&err));
done:
  for (size_t k = 0; k < n_done; k++)
    eco_sim_result_free(&res[k]);
  eco_sim_scenario_free(&sc);
  return exit_code;
}
