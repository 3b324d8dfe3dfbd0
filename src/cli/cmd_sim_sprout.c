/* ecoinfer sim sprout: replays the Sprout artifact's evaluation protocol on
 * its public data, for one policy, and prints carbon per request, the
 * reduction against the baseline and the mean quality preference. */
#include "cli/subcmd.h"
#include "sim/sprout.h"
#include "util/strbuf.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const eco_opt opts[] = {
    {"region", 0, "ZONE", NULL, "GB, US-CAL or US-TEX (names the trace when --trace is absent)"},
    {"trace", 0, "FILE", NULL, "Electricity Maps hourly CSV of the year"},
    {"data", 0, "DIR", NULL, "the Sprout artifact data (../shared/data/sprout)"},
    {"start-hour", 0, "N", NULL, "first hour of the window (default 800)"},
    {"hours", 0, "N", NULL, "window length in hours (default 720)"},
    {"policy", 0, "P", NULL,
     "baseline|static|lp|ours|ours-live|oracle|prompt-oracle|co2opt (default lp)"},
    {"seed", 0, "N", NULL,
     "seed of the request mix, as np.random.seed in the artifact (default 0)"},
    {"sample-seed", 0, "N", NULL, "seed of the hourly prompt samples (default 0)"},
    {"xi", 0, "X", NULL, "quality tolerance at the year's highest intensity (default 0.1)"},
    {"folds", 0, "K", NULL, "ours: k of the k-fold cross-validation (default 5)"},
    {"margin", 0, "Q", NULL, "ours: extra preference floor (default 0.005)"},
    {"period", 0, "H", NULL, "ours: hours over which the quality floor holds (default 24)"},
    {"forecast", 0, "F", NULL,
     "ours: intensity forecast, persistence|perfect (default persistence)"},
    {"inner-folds", 0, "K", NULL,
     "ours-live: cross-fitting folds of the group statistics (default 5; 0 = none)"},
    {"mix-half-life", 0, "H", NULL,
     "ours-live: half-life in hours of past hours' predicted mix (default 1; 0 = last hour)"},
    {"csv", 0, "FILE", NULL, "write per-hour figures to FILE"},
    {"summary", 0, "FILE", NULL, "write the summary (JSON) to FILE"},
};

static const eco_cmd_spec spec = {
    .name = "sim sprout",
    .usage = "--region ZONE [--trace FILE] --data DIR [options]",
    .summary = "Replay the Sprout directive study on its public data.",
    .details =
        "Policies: baseline (no directive), static (one mix for the month), lp (Sprout's\n"
        "hourly LP), ours (per-request groups from the dataset name, k-fold out of sample),\n"
        "ours-live (groups from the prompt classifier trained on the other folds, the plan\n"
        "from the predicted mix of past hours: what the router runs), oracle (the\n"
        "artifact's: reads the judge labels of the prompts it assigns, restricted to the\n"
        "LP's levels), prompt-oracle (any level per prompt, reading its label, under the\n"
        "same floor: the upper bound), co2opt (always the cheapest level).\n"
        "A period whose quality floor is unreachable is planned for the highest\n"
        "preference and counted (degraded_hours, degraded_periods); the run goes on.\n"
        "See docs/benchmarks/sprout.md.",
    .opts = opts,
    .n_opts = sizeof opts / sizeof opts[0],
    .min_args = 0,
    .max_args = 0,
};

static const char *zone_file(const char *region) {
  if (!region) return NULL;
  if (strcmp(region, "GB") == 0) return "GB";
  if (strcmp(region, "US-CAL") == 0 || strcmp(region, "US-CAL-CISO") == 0) return "US-CAL-CISO";
  if (strcmp(region, "US-TEX") == 0 || strcmp(region, "US-TEX-ERCO") == 0) return "US-TEX-ERCO";
  return region;
}

static json_t *summary_json(const char *region, const eco_sprout_cfg *c, const eco_sprout_data *d,
                            const eco_sprout_result *r) {
  json_t *o = json_pack(
      "{s:s,s:s,s:I,s:I,s:I,s:I,s:f,s:f,s:f,s:f,s:f,s:I}", "region", region ? region : "", "policy",
      eco_sprout_policy_name(c->policy), "start_hour", (json_int_t)c->start_hour, "hours",
      (json_int_t)c->hours, "seed", (json_int_t)c->seed, "sample_seed", (json_int_t)c->sample_seed,
      "carbon_per_req_g", r->carbon_g, "baseline_carbon_per_req_g", r->base_carbon_g,
      "reduction_pct", r->reduction_pct, "quality_preference", r->quality, "pref_max", r->pref_max,
      "offline_evaluations", (json_int_t)r->n_evals);
  if (r->n_folds) {
    json_t *fa = json_array();
    for (size_t f = 0; f < r->n_folds; f++)
      json_array_append_new(fa, json_pack("{s:f,s:f,s:f,s:f}", "reduction_pct",
                                          r->fold[f].reduction_pct, "quality_preference",
                                          r->fold[f].quality, "lp_reduction_pct",
                                          r->fold[f].lp_reduction_pct, "lp_quality_preference",
                                          r->fold[f].lp_quality));
    json_object_set_new(o, "folds", fa);
    json_object_set_new(o, "reduction_sd", json_real(r->red_sd));
    json_object_set_new(o, "quality_sd", json_real(r->q_sd));
    json_object_set_new(o, "lp_reduction_pct", json_real(r->lp_reduction_pct));
    json_object_set_new(o, "lp_quality_preference", json_real(r->lp_quality));
  }
  json_object_set_new(o, "degraded_hours", json_integer((json_int_t)r->n_degraded_hours));
  json_object_set_new(o, "degraded_periods", json_integer((json_int_t)r->n_degraded_periods));
  if (r->accuracy >= 0) {
    json_t *cls = json_pack("{s:f}", "accuracy", r->accuracy), *lab = json_array(),
           *conf = json_array();
    for (int a = 0; a < ECO_SPROUT_NDS; a++) {
      json_array_append_new(lab, json_string(d->ds[a].name));
      json_t *row = json_array();
      for (int b = 0; b < ECO_SPROUT_NDS; b++)
        json_array_append_new(row, json_integer((json_int_t)r->confusion[a][b]));
      json_array_append_new(conf, row);
    }
    json_object_set_new(cls, "labels", lab);
    json_object_set_new(cls, "confusion", conf);
    json_t *fa = json_object_get(o, "folds");
    for (size_t f = 0; f < r->n_folds; f++)
      json_object_set_new(json_array_get(fa, f), "accuracy", json_real(r->fold[f].accuracy));
    json_object_set_new(o, "classifier", cls);
  }
  return o;
}

static int write_csv(const char *path, const eco_sprout_result *r) {
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  fprintf(f, "hour,ci_gco2_kwh,x0,x1,x2,carbon_per_req_g,baseline_g,quality_preference,"
             "pref_max,evaluated,mix_alpaca,mix_math,mix_mmlu,mix_naturalqa,mix_triviaqa,"
             "mix_scienceqa\n");
  for (size_t h = 0; h < r->n_hours; h++) {
    const eco_sprout_hour *o = &r->hour[h];
    fprintf(f, "%zu,%.2f,%.6f,%.6f,%.6f,%.8f,%.8f,%.6f,%.6f,%d", h, o->ci, o->x[0], o->x[1],
            o->x[2], o->carbon_g, o->base_g, o->quality, o->pref_max, o->evaluated ? 1 : 0);
    for (int k = 0; k < ECO_SPROUT_NDS; k++)
      fprintf(f, ",%.6f", o->mix[k]);
    fputc('\n', f);
  }
  return fclose(f) ? -1 : 0;
}

/* Reads the options into c; *region, *trace and *data name the inputs (*trace defaults to
 * the artifact's trace of *region, written into tpath). */
static int parse_args(eco_cli *cli, eco_sprout_cfg *c, const char **region, const char **trace,
                      const char **data, char *tpath, size_t tcap) {
  const char *cmd = "sim sprout";
  eco_sprout_cfg_default(c);
  *region = eco_cli_get(cli, "region");
  *trace = eco_cli_get(cli, "trace");
  *data = eco_cli_get(cli, "data");
  const char *pol = eco_cli_get(cli, "policy");
  int64_t sh = 0, hrs = 0, seed = 0, sseed = 0, folds = 0, period = 0, inner = 0;
  double xi = 0, margin = 0, half = 0;
  if (eco_cli_get_int(cli, "start-hour", 800, &sh) || eco_cli_get_int(cli, "hours", 720, &hrs) ||
      eco_cli_get_int(cli, "seed", 0, &seed) || eco_cli_get_int(cli, "sample-seed", 0, &sseed) ||
      eco_cli_get_int(cli, "folds", 5, &folds) || eco_cli_get_double(cli, "xi", 0.1, &xi) ||
      eco_cli_get_double(cli, "margin", 0.005, &margin) ||
      eco_cli_get_int(cli, "period", 24, &period) ||
      eco_cli_get_int(cli, "inner-folds", 5, &inner) ||
      eco_cli_get_double(cli, "mix-half-life", 1.0, &half))
    return ECO_EXIT_USAGE;
  if (!*data) {
    eco_cli_error(cli, cmd, "--data DIR is required (the Sprout artifact data)");
    return ECO_EXIT_USAGE;
  }
  if (pol && eco_sprout_policy_parse(pol, &c->policy)) {
    eco_cli_error(cli, cmd,
                  "unknown --policy '%s' "
                  "(baseline|static|lp|ours|ours-live|oracle|prompt-oracle|co2opt)",
                  pol);
    return ECO_EXIT_USAGE;
  }
  if (period < 1 || period > 168 || sh < 0 || hrs <= 0 || seed < 0 || seed > 0xffffffffLL ||
      sseed < 0 || folds < 2 || folds > 16 || xi < 0 || xi > 1 || inner < 0 || inner > 16 ||
      !(half >= 0 && half <= 1e4)) {
    eco_cli_error(cli, cmd,
                  "bad --start-hour, --hours, --seed, --folds (2..16), --xi (0..1), --period "
                  "(1..168), --inner-folds (0..16) or --mix-half-life (0..10000)");
    return ECO_EXIT_USAGE;
  }
  c->inner_folds = (size_t)inner;
  c->mix_half_life_h = half;
  c->start_hour = (size_t)sh, c->hours = (size_t)hrs, c->seed = (uint64_t)seed;
  c->sample_seed = (uint64_t)sseed;
  c->period_h = (size_t)period;
  const char *fcs = eco_cli_get(cli, "forecast");
  if (fcs && strcmp(fcs, "persistence") != 0 && strcmp(fcs, "perfect") != 0) {
    eco_cli_error(cli, cmd, "unknown --forecast '%s' (persistence|perfect)", fcs);
    return ECO_EXIT_USAGE;
  }
  c->forecast = fcs && strcmp(fcs, "perfect") == 0 ? 1 : 0;
  c->folds = (size_t)folds, c->xi = xi, c->margin = margin;
  if (!*trace) {
    if (!*region) {
      eco_cli_error(cli, cmd, "--region or --trace is required");
      return ECO_EXIT_USAGE;
    }
    snprintf(tpath, tcap, "%s/carbon_intensity/%s_2023_hourly.csv", *data, zone_file(*region));
    *trace = tpath;
  }
  return ECO_EXIT_OK;
}

/* The k-fold spread and the classifier's held-out accuracy and confusion matrix. */
static void print_folds(eco_strbuf *sb, const eco_sprout_cfg *c, const eco_sprout_data *d,
                        const eco_sprout_result *r) {
  if (r->n_folds) {
    eco_sb_printf(sb,
                  "%zu-fold out of sample: reduction sd %.2f (min %.2f, max %.2f), "
                  "quality sd %.4f (min %.4f, max %.4f)\n",
                  r->n_folds, r->red_sd, r->red_min, r->red_max, r->q_sd, r->q_min, r->q_max);
    for (size_t f = 0; f < r->n_folds; f++)
      eco_sb_printf(sb, "  fold %zu: %s %.2f %% q %.4f | lp on same prompts %.2f %% q %.4f\n", f,
                    eco_sprout_policy_name(c->policy), r->fold[f].reduction_pct, r->fold[f].quality,
                    r->fold[f].lp_reduction_pct, r->fold[f].lp_quality);
    eco_sb_printf(sb, "%-28s %.2f %% (quality %.4f)\n", "lp on the same prompts",
                  r->lp_reduction_pct, r->lp_quality);
  }
  eco_sb_printf(sb, "%-28s %zu hours in %zu periods\n", "floor unreachable (degraded)",
                r->n_degraded_hours, r->n_degraded_periods);
  if (r->accuracy < 0) return;
  eco_sb_printf(sb,
                "classifier accuracy (held out) %.4f; confusion (rows: true, columns: "
                "predicted):\n%-10s",
                r->accuracy, "");
  for (int b = 0; b < ECO_SPROUT_NDS; b++)
    eco_sb_printf(sb, " %9s", d->ds[b].name);
  for (int a = 0; a < ECO_SPROUT_NDS; a++) {
    eco_sb_printf(sb, "\n%-10s", d->ds[a].name);
    for (int b = 0; b < ECO_SPROUT_NDS; b++)
      eco_sb_printf(sb, " %9zu", r->confusion[a][b]);
  }
  eco_sb_printf(sb, "\n");
}

static void print_table(const char *label, const eco_sprout_cfg *c, const eco_sprout_data *d,
                        const eco_sprout_result *r) {
  eco_strbuf sb;
  eco_sb_init(&sb);
  eco_sb_printf(&sb, "sim sprout: %s, policy %s, hours %zu..%zu, seed %zu\n", label,
                eco_sprout_policy_name(c->policy), c->start_hour, c->start_hour + c->hours - 1,
                (size_t)c->seed);
  eco_sb_printf(&sb, "%-28s %.6f g\n", "carbon per request", r->carbon_g);
  eco_sb_printf(&sb, "%-28s %.6f g\n", "baseline per request", r->base_carbon_g);
  eco_sb_printf(&sb, "%-28s %.2f %%\n", "reduction vs baseline", r->reduction_pct);
  eco_sb_printf(&sb, "%-28s %.4f (baseline q0 %.4f)\n", "mean quality preference", r->quality,
                r->pref_max);
  if (c->policy == ECO_SPROUT_LP)
    eco_sb_printf(&sb, "%-28s %zu\n", "offline evaluations", r->n_evals);
  print_folds(&sb, c, d, r);
  eco_cli_out(eco_sb_str(&sb));
  eco_sb_free(&sb);
}

int eco_cmd_sim_sprout(eco_cli *cli, int argc, char **argv) {
  bool done;
  int rc = eco_cli_parse(cli, &spec, argc, argv, &done);
  if (done) return rc;
  const char *cmd = "sim sprout";
  eco_sprout_cfg c;
  const char *region, *trace, *data;
  char tpath[1024];
  if ((rc = parse_args(cli, &c, &region, &trace, &data, tpath, sizeof tpath)) != ECO_EXIT_OK)
    return rc;
  eco_error err = {0};
  eco_sprout_data d;
  double *ci = NULL;
  size_t n_ci = 0;
  eco_sprout_result r = {0};
  int exit_code = ECO_EXIT_RUNTIME;
  if (eco_sprout_trace_load(trace, &ci, &n_ci, &err)) {
    eco_cli_error(cli, cmd, "%s", eco_error_text(&err));
    return ECO_EXIT_RUNTIME;
  }
  if (eco_sprout_data_load(data, &d, &err)) {
    eco_cli_error(cli, cmd, "%s", eco_error_text(&err));
    free(ci);
    return ECO_EXIT_RUNTIME;
  }
  if (eco_sprout_run(&d, ci, n_ci, &c, &r, &err)) {
    eco_cli_error(cli, cmd, "%s", eco_error_text(&err));
    exit_code = err.code == ECO_EINVAL ? ECO_EXIT_USAGE : ECO_EXIT_RUNTIME;
    goto out;
  }
  const char *csv = eco_cli_get(cli, "csv"), *sum = eco_cli_get(cli, "summary");
  if (csv && write_csv(csv, &r)) {
    eco_cli_error(cli, cmd, "cannot write %s", csv);
    goto out;
  }
  json_t *js = summary_json(region, &c, &d, &r);
  if (sum && json_dump_file(js, sum, JSON_INDENT(2))) {
    json_decref(js);
    eco_cli_error(cli, cmd, "cannot write %s", sum);
    goto out;
  }
  if (cli->json) {
    char *s = json_dumps(js, JSON_INDENT(2));
    if (s) eco_cli_out(s), eco_cli_out("\n");
    free(s);
  } else {
    print_table(region ? region : trace, &c, &d, &r);
  }
  json_decref(js);
  exit_code = ECO_EXIT_OK;
out:
  eco_sprout_result_free(&r);
  eco_sprout_data_free(&d);
  free(ci);
  return exit_code;
}
