/* ecoinfer report: carbon accounting from the receipt ledger: totals and
 * aggregates per hour, day, node, zone, model, policy, kind, directive
 * level and group and recorder, as a table, CSV or JSON, with SCI per
 * request and per 1k output tokens; the savings by lever (routing,
 * directives, shifting) against greedy routing with no directive, from the
 * router's rows; and an SVG chart of carbon over time with the grid
 * intensity overlaid. */
#include "carbon/ledger.h"
#include "cli/cli.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/svg.h"
#include "util/timeutil.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const eco_opt opts[] = {
    {"ledger", 'l', "FILE", "ledger.path", "the receipt ledger (SQLite)"},
    {"by", 'b', "LIST", NULL,
     "groupings, comma-separated: hour,day,node,zone,model,policy,kind,directive,group,recorder "
     "(default day,node,zone,model,policy)"},
    {"from", 0, "TIME", NULL, "only receipts at or after TIME (ISO-8601 UTC or epoch s)"},
    {"to", 0, "TIME", NULL, "only receipts before TIME"},
    {"format", 'f', "FMT", NULL, "table (default), csv or json (--json also selects json)"},
    {"svg", 0, "FILE", NULL, "write an SVG chart of carbon per hour with the intensity"},
};

static const eco_cmd_spec spec = {
    .name = "report",
    .usage = "[options]",
    .summary = "Carbon report from the receipt ledger: totals and per hour/day/node/zone/model/"
               "policy.",
    .details = "SCI is (E*I + M) per functional unit: per request and per 1000 output tokens.\n"
               "Savings by lever: the router's rows carry its counterfactual (greedy routing, no\n"
               "directive, run at once) and the predicted saving of each lever; each row's\n"
               "savings are scaled to its measured receipt, so baseline = measured + levers.\n"
               "A request with a node row and a router row (one shared ledger) counts once.\n"
               "The ledger path comes from --ledger or ledger.path in the config.\n"
               "Example: ecoinfer report --ledger receipts.db --by hour,zone --svg carbon.svg",
    .opts = opts,
    .n_opts = sizeof opts / sizeof opts[0],
    .min_args = 0,
    .max_args = 0,
};

typedef struct section {
  eco_ledger_group g;
  eco_ledger_agg *rows;
  size_t n;
} section;

static const char *HEADER = "group,key,requests,prompt_tokens,output_tokens,energy_wh,"
                            "facility_wh,intensity_gco2_kwh,operational_g,embodied_g,total_g,"
                            "sci_g_per_request,sci_g_per_1k_tokens,mean_latency_s,estimated";

static double mean_lat(const eco_ledger_agg *a) {
  return a->requests ? a->latency_s_sum / (double)a->requests : 0;
}

static void csv_row(eco_strbuf *sb, const char *group, const eco_ledger_agg *a) {
  /* keys are node names, models...: quote them */
  eco_sb_printf(sb, "%s,\"", group);
  for (const char *c = a->key; *c; c++)
    eco_sb_printf(sb, *c == '"' ? "\"\"" : "%c", *c);
  eco_sb_printf(sb, "\",%lld,%lld,%lld,%.6f,%.6f,%.3f,%.9g,%.9g,%.9g,%.9g,%.9g,%.4f,%lld\n",
                (long long)a->requests, (long long)a->prompt_tokens, (long long)a->output_tokens,
                a->energy_j / 3600.0, a->facility_j / 3600.0, a->intensity_gco2_kwh,
                a->operational_g, a->embodied_g, a->total_g, eco_ledger_agg_sci_per_request(a),
                eco_ledger_agg_sci_per_1k_tokens(a), mean_lat(a), (long long)a->estimated);
}

static void table(eco_strbuf *sb, const char *title, const eco_ledger_agg *rows, size_t n) {
  eco_sb_printf(sb, "\n%s\n", title);
  eco_sb_printf(sb, "  %-24s %8s %10s %11s %9s %11s %11s %11s %11s %7s\n", "key", "requests",
                "out_tokens", "energy_Wh", "gCO2/kWh", "oper_g", "embod_g", "total_g", "g/1k_tok",
                "lat_s");
  for (size_t i = 0; i < n; i++) {
    const eco_ledger_agg *a = &rows[i];
    eco_sb_printf(sb, "  %-24.24s %8lld %10lld %11.4f %9.1f %11.5g %11.5g %11.5g %11.5g %7.3f\n",
                  a->key[0] ? a->key : "(none)", (long long)a->requests,
                  (long long)a->output_tokens, a->facility_j / 3600.0, a->intensity_gco2_kwh,
                  a->operational_g, a->embodied_g, a->total_g, eco_ledger_agg_sci_per_1k_tokens(a),
                  mean_lat(a));
  }
}

/* Grams with a unit that keeps edge-sized values readable: g, mg, µg. */
static const char *grams(double g, char *buf, size_t cap) {
  double a = fabs(g);
  if (a >= 1 || a == 0)
    snprintf(buf, cap, "%.4g g", g);
  else if (a >= 1e-3)
    snprintf(buf, cap, "%.4g mg", g * 1e3);
  else
    snprintf(buf, cap, "%.4g µg", g * 1e6);
  return buf;
}

static void lever_line(eco_strbuf *sb, const char *name, double g, int64_t n, double base) {
  char a[32], b[32];
  eco_sb_printf(sb, "  %-34s %14s %14s", name, grams(g, a, sizeof a),
                grams(n ? g / (double)n : 0, b, sizeof b));
  if (base > 0)
    eco_sb_printf(sb, " %8.1f%%\n", 100.0 * g / base);
  else
    eco_sb_printf(sb, " %9s\n", "-");
}

static void levers_table(eco_strbuf *sb, const eco_ledger_levers *v) {
  eco_sb_printf(sb,
                "\nsavings by lever, against greedy routing with no directive, run at once\n"
                "(%lld of %lld requests carry the router's facts; savings scaled to their "
                "measured receipts)\n",
                (long long)v->with_facts, (long long)v->requests);
  eco_sb_printf(sb, "  %-34s %14s %14s %9s\n", "", "gCO2e", "per request", "of base");
  int64_t n = v->with_facts;
  double base = v->baseline_g;
  lever_line(sb, "baseline (greedy, no directive)", base, n, base);
  lever_line(sb, "saved by routing", v->routing_g, n, base);
  lever_line(sb, "saved by directives", v->directive_g, n, base);
  lever_line(sb, "saved by shifting (Batch API)", v->shifting_g, n, base);
  lever_line(sb, "measured", v->actual_g, n, base);
  char title[64];
  snprintf(title, sizeof title, "evaluation overhead (%lld rows)", (long long)v->eval_rows);
  lever_line(sb, title, v->eval_g, n, base);
  lever_line(sb, "net saved (levers - overhead)", v->net_saved_g, n, base);
}

static json_t *levers_json(const eco_ledger_levers *v) {
  return json_pack(
      "{s:I,s:I,s:f,s:f,s:{s:f,s:f,s:f},s:f,s:f,s:I,s:f,s:f,s:{s:I,s:I,s:I}}", "requests",
      (json_int_t)v->requests, "with_facts", (json_int_t)v->with_facts, "baseline_g", v->baseline_g,
      "actual_g", v->actual_g, "saved_g", "routing", v->routing_g, "directives", v->directive_g,
      "shifting", v->shifting_g, "predicted_baseline_g", v->predicted_baseline_g,
      "predicted_saved_g", v->predicted_saved_g, "eval_rows", (json_int_t)v->eval_rows, "eval_g",
      v->eval_g, "net_saved_g", v->net_saved_g, "rows_by_kind", "request",
      (json_int_t)v->by_kind[ECO_LEDGER_REQUEST], "batch", (json_int_t)v->by_kind[ECO_LEDGER_BATCH],
      "eval", (json_int_t)v->by_kind[ECO_LEDGER_EVAL]);
}

static json_t *agg_json(const eco_ledger_agg *a) {
  char f[40], l[40];
  eco_time_iso8601(a->first_s, f, sizeof f);
  eco_time_iso8601(a->last_s, l, sizeof l);
  return json_pack(
      "{s:s,s:I,s:I,s:I,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:I,s:s,s:s}", "key", a->key,
      "requests", (json_int_t)a->requests, "prompt_tokens", (json_int_t)a->prompt_tokens,
      "output_tokens", (json_int_t)a->output_tokens, "energy_j", a->energy_j, "facility_j",
      a->facility_j, "intensity_gco2_kwh", a->intensity_gco2_kwh, "operational_g", a->operational_g,
      "embodied_g", a->embodied_g, "total_g", a->total_g, "sci_g_per_request",
      eco_ledger_agg_sci_per_request(a), "sci_g_per_1k_tokens", eco_ledger_agg_sci_per_1k_tokens(a),
      "mean_latency_s", mean_lat(a), "estimated", (json_int_t)a->estimated, "first", f, "last", l);
}

/* Bars: gCO2e per hour (left axis); line: energy-weighted intensity
 * (right axis); x: the hour keys. */
static int write_svg(const char *path, const eco_ledger_agg *h, size_t n, eco_error *err) {
  size_t m = n ? n : 1;
  double *x = calloc(m, sizeof *x), *g = calloc(m, sizeof *g), *ci = calloc(m, sizeof *ci);
  const char **keys = calloc(m, sizeof *keys);
  char **tips = calloc(m, sizeof *tips);
  eco_strbuf sb;
  eco_sb_init(&sb);
  int rc = ECO_ENOMEM;
  if (!x || !g || !ci || !keys || !tips) goto fail;
  for (size_t i = 0; i < n; i++) {
    char tip[160];
    snprintf(tip, sizeof tip, "%s: %.4g g, %lld requests", h[i].key, h[i].total_g,
             (long long)h[i].requests);
    if (!(tips[i] = strdup(tip))) goto fail;
    x[i] = (double)i;
    g[i] = h[i].total_g;
    ci[i] = h[i].intensity_gco2_kwh;
    keys[i] = h[i].key;
  }
  eco_svg_series s[2] = {{.name = "carbon, gCO2e",
                          .x = x,
                          .y = g,
                          .n = n,
                          .bars = true,
                          .color = "#2a6",
                          .tips = (const char *const *)tips},
                         {.name = "grid intensity, gCO2e/kWh (right axis)",
                          .x = x,
                          .y = ci,
                          .n = n,
                          .right_axis = true,
                          .color = "#c42"}};
  eco_svg_chart c = {.title = "Carbon per hour (bars, gCO2e) and grid intensity (line, gCO2e/kWh)",
                     .xlabel = "hour (UTC)",
                     .ylabel = "gCO2e per hour",
                     .y2label = "grid intensity, gCO2e/kWh",
                     .width = 900,
                     .height = 480,
                     .xmin = -0.5,
                     .xmax = n ? (double)n - 0.5 : 0.5,
                     .xticks = x,
                     .xtick_labels = keys,
                     .n_xticks = n,
                     .xtick_rotate = true,
                     .note = n ? NULL : "no receipts in the window"};
  if ((rc = eco_svg_chart_write(&sb, &c, s, 2))) goto fail;
  rc = eco_fs_write_atomic(path, eco_sb_str(&sb), sb.len, err);
  goto done;
fail:
  rc = eco_error_set(err, rc, rc == ECO_ENOMEM ? "svg: out of memory" : "svg: cannot draw chart");
done:
  for (size_t i = 0; tips && i < n; i++)
    free(tips[i]);
  free(tips);
  free(keys);
  free(x);
  free(g);
  free(ci);
  eco_sb_free(&sb);
  return rc;
}

/* The command line: time window, output format and the groupings. */
typedef struct report_args {
  const char *path, *fmt, *svg;
  double from, to; /* epoch s; 0, 0: all time */
  section secs[12];
  size_t nsec;
} report_args;

static int parse_args(eco_cli *cli, report_args *a) {
  eco_error err = {0};
  memset(a, 0, sizeof *a);
  if (eco_cfg_str(cli->cfg, NULL, "ledger.path", NULL, &a->path, &err)) {
    eco_cli_error(cli, "report", "%s", eco_error_text(&err));
    return ECO_EXIT_USAGE;
  }
  if (!a->path) {
    eco_cli_error(cli, "report", "no ledger: pass --ledger FILE or set ledger.path");
    return ECO_EXIT_USAGE;
  }
  const char *s;
  if ((s = eco_cli_get(cli, "from")) && eco_time_parse(s, &a->from)) {
    eco_cli_error(cli, "report", "--from: not a time: '%s'", s);
    return ECO_EXIT_USAGE;
  }
  if ((s = eco_cli_get(cli, "to")) && eco_time_parse(s, &a->to)) {
    eco_cli_error(cli, "report", "--to: not a time: '%s'", s);
    return ECO_EXIT_USAGE;
  }
  if (eco_cli_get(cli, "from") && !eco_cli_get(cli, "to")) a->to = 1e18;
  if (!eco_cli_get(cli, "from") && eco_cli_get(cli, "to")) a->from = -1e18;
  a->fmt = eco_cli_get(cli, "format");
  if (!a->fmt) a->fmt = cli->json ? "json" : "table";
  if (strcmp(a->fmt, "table") != 0 && strcmp(a->fmt, "csv") != 0 && strcmp(a->fmt, "json") != 0) {
    eco_cli_error(cli, "report", "--format: table, csv or json, not '%s'", a->fmt);
    return ECO_EXIT_USAGE;
  }
  char by[128];
  snprintf(by, sizeof by, "%s",
           eco_cli_get(cli, "by") ? eco_cli_get(cli, "by") : "day,node,zone,model,policy");
  char *save = NULL;
  for (char *t = strtok_r(by, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    eco_ledger_group g;
    if (eco_ledger_group_parse(t, &g) || g == ECO_GROUP_TOTAL) {
      eco_cli_error(cli, "report",
                    "--by: unknown grouping '%s' (hour, day, node, zone, model, "
                    "policy, kind, directive, group, recorder)",
                    t);
      return ECO_EXIT_USAGE;
    }
    if (a->nsec < sizeof a->secs / sizeof a->secs[0]) a->secs[a->nsec++] = (section){.g = g};
  }
  a->svg = eco_cli_get(cli, "svg");
  return ECO_EXIT_OK;
}

static void render_csv(eco_strbuf *sb, const report_args *a, const eco_ledger_agg *tot) {
  eco_sb_printf(sb, "%s\n", HEADER);
  csv_row(sb, "total", tot);
  for (size_t i = 0; i < a->nsec; i++)
    for (size_t k = 0; k < a->secs[i].n; k++)
      csv_row(sb, eco_ledger_group_name(a->secs[i].g), &a->secs[i].rows[k]);
}

static void render_json(eco_strbuf *sb, const report_args *a, const eco_ledger_agg *tot,
                        const eco_ledger_levers *lv) {
  json_t *o = json_object();
  json_object_set_new(o, "ledger", json_string(a->path));
  json_object_set_new(o, "total", agg_json(tot));
  json_t *gs = json_object();
  for (size_t i = 0; i < a->nsec; i++) {
    json_t *arr = json_array();
    for (size_t k = 0; k < a->secs[i].n; k++)
      json_array_append_new(arr, agg_json(&a->secs[i].rows[k]));
    json_object_set_new(gs, eco_ledger_group_name(a->secs[i].g), arr);
  }
  json_object_set_new(o, "groups", gs);
  json_object_set_new(o, "levers", levers_json(lv));
  if (a->svg) json_object_set_new(o, "svg", json_string(a->svg));
  char *js = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(12));
  json_decref(o);
  if (js) {
    eco_sb_printf(sb, "%s\n", js);
    free(js);
  }
}

static void render_table(eco_strbuf *sb, const report_args *a, const eco_ledger_agg *tot,
                         const eco_ledger_levers *lv) {
  eco_sb_printf(sb, "ecoinfer report: %s\n", a->path);
  eco_sb_printf(sb, "\nrequests %lld, output tokens %lld, energy %.4f Wh (IT %.4f Wh)\n",
                (long long)tot->requests, (long long)tot->output_tokens, tot->facility_j / 3600.0,
                tot->energy_j / 3600.0);
  eco_sb_printf(sb, "carbon %.6g gCO2e = operational %.6g + embodied %.6g\n", tot->total_g,
                tot->operational_g, tot->embodied_g);
  eco_sb_printf(sb, "SCI %.6g gCO2e per request, %.6g gCO2e per 1k output tokens\n",
                eco_ledger_agg_sci_per_request(tot), eco_ledger_agg_sci_per_1k_tokens(tot));
  eco_sb_printf(sb, "mean intensity %.1f gCO2e/kWh; %lld receipts used an estimate\n",
                tot->intensity_gco2_kwh, (long long)tot->estimated);
  for (size_t i = 0; i < a->nsec; i++) {
    char title[32];
    snprintf(title, sizeof title, "by %s", eco_ledger_group_name(a->secs[i].g));
    table(sb, title, a->secs[i].rows, a->secs[i].n);
  }
  if (lv->with_facts > 0 || lv->eval_rows > 0) levers_table(sb, lv);
  if (a->svg) eco_sb_printf(sb, "\nchart written to %s\n", a->svg);
}

/* Reads the totals, the groupings and the levers, writes --svg, then the report. */
static int report(eco_ledger *l, report_args *a, eco_error *err) {
  eco_ledger_agg *total = NULL, *hours = NULL;
  size_t ntotal = 0, nhours = 0;
  eco_ledger_levers lv;
  int rc = 0;
  if ((rc = eco_ledger_aggregate(l, ECO_GROUP_TOTAL, a->from, a->to, &total, &ntotal, err)) ||
      (rc = eco_ledger_levers_sum(l, a->from, a->to, &lv, err)))
    goto done;
  for (size_t i = 0; i < a->nsec; i++)
    if ((rc = eco_ledger_aggregate(l, a->secs[i].g, a->from, a->to, &a->secs[i].rows, &a->secs[i].n,
                                   err)))
      goto done;
  if (a->svg &&
      ((rc = eco_ledger_aggregate(l, ECO_GROUP_HOUR, a->from, a->to, &hours, &nhours, err)) ||
       (rc = write_svg(a->svg, hours, nhours, err))))
    goto done;
  eco_ledger_agg zero;
  memset(&zero, 0, sizeof zero);
  snprintf(zero.key, sizeof zero.key, "total");
  const eco_ledger_agg *tot = ntotal ? &total[0] : &zero;
  eco_strbuf sb;
  eco_sb_init(&sb);
  if (strcmp(a->fmt, "csv") == 0)
    render_csv(&sb, a, tot);
  else if (strcmp(a->fmt, "json") == 0)
    render_json(&sb, a, tot, &lv);
  else
    render_table(&sb, a, tot, &lv);
  eco_cli_out(eco_sb_str(&sb));
  eco_sb_free(&sb);
done:
  free(total);
  free(hours);
  return rc;
}

int eco_cmd_report(eco_cli *cli, int argc, char **argv) {
  bool done;
  int rc = eco_cli_parse(cli, &spec, argc, argv, &done);
  if (done) return rc;
  report_args a;
  int exit = parse_args(cli, &a);
  if (exit != ECO_EXIT_OK) return exit;
  if (!eco_fs_exists(a.path)) {
    eco_cli_error(cli, "report", "ledger '%s' does not exist", a.path);
    return ECO_EXIT_RUNTIME;
  }
  eco_error err = {0};
  eco_ledger_opts lo = {.read_only = true};
  eco_ledger *l = NULL;
  if (eco_ledger_open(a.path, &lo, &l, &err)) {
    eco_cli_error(cli, "report", "%s", eco_error_text(&err));
    return ECO_EXIT_RUNTIME;
  }
  if (report(l, &a, &err)) {
    eco_cli_error(cli, "report", "%s", eco_error_text(&err));
    exit = ECO_EXIT_RUNTIME;
  }
  for (size_t i = 0; i < a.nsec; i++)
    free(a.secs[i].rows);
  eco_ledger_close(l);
  return exit;
}
