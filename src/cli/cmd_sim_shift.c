/* ecoinfer sim shift: how much carbon-aware time shifting saves against
 * run-now over a year of hourly intensity traces, per zone, deadline and
 * forecast; table, CSV and SVG. The planner is the router's (policy/shift.h). */
#include "carbon/forecast.h"
#include "carbon/intensity.h"
#include "cli/subcmd.h"
#include "sim/shift_replay.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/svg.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const eco_opt opts[] = {
    {"trace", 't', "FILE", NULL, "hourly intensity CSV (repeatable; also as arguments)"},
    {"jobs", 'n', "N", NULL, "jobs per trace, at seeded-random times (default 365)"},
    {"deadline", 'd', "LIST", NULL, "completion windows, e.g. 4h,12h,24h (default)"},
    {"forecast", 'f', "LIST", NULL,
     "perfect, seasonal-naive, seasonal-blend[:K] (default perfect,seasonal-naive)"},
    {"job-hours", 0, "H", NULL, "job size in hours of the node's batch capacity (default 1)"},
    {"no-replan", 0, NULL, NULL, "plan once at arrival (default: replan every hour)"},
    {"keep-margin", 0, "F", NULL,
     "replan hysteresis: move work only for a gain over F (0..1, default 0)"},
    {"seed", 0, "N", NULL, "arrival-time seed (default 1)"},
    {"csv", 0, "FILE", NULL, "write the results table as CSV"},
    {"svg", 0, "FILE", NULL, "write the savings as an SVG bar chart"},
    {"forecast-error", 0, NULL, NULL, "also measure forecast MAE/MAPE by lead time"},
    {"spatial", 0, NULL, NULL,
     "also plan over all traces as zones at once (same year): when and where"},
};

static const eco_cmd_spec spec = {
    .name = "sim shift",
    .usage = "[options] [--trace FILE]... [FILE...]",
    .summary = "Savings of carbon-aware time shifting against run-now over hourly traces.",
    .details = "Each trace (an Electricity Maps hourly CSV, or timestamp,zone,value) is one\n"
               "zone-year. N jobs arrive at seeded-random times; each is planned by the\n"
               "router's planner against a forecast and must finish within the deadline.\n"
               "The carbon spent is evaluated on the true trace and compared with running\n"
               "every job at arrival. Example:\n"
               "  ecoinfer sim shift --jobs 365 --deadline 4h,12h,24h \\\n"
               "    --forecast perfect,seasonal-naive --svg shift.svg "
               "shared/data/carbon/GB_2023_hourly.csv",
    .opts = opts,
    .n_opts = sizeof opts / sizeof opts[0],
    .min_args = 0,
    .max_args = -1,
};

typedef struct series {
  char label[96]; /* "DE-LU_2023" */
  char zone[32];  /* "DE-LU" */
  double *ci;     /* hourly gCO2e/kWh; NULL for the spatial pseudo-trace */
  size_t n;
  double t0; /* time of the first hour, Unix s */
} series;

static void labels_of(const char *path, char *label, size_t lcap, char *zone, size_t zcap) {
  const char *b = strrchr(path, '/');
  b = b ? b + 1 : path;
  snprintf(label, lcap, "%s", b);
  char *dot = strstr(label, ".csv");
  if (dot) *dot = '\0';
  char *h = strstr(label, "_hourly");
  if (h) *h = '\0';
  snprintf(zone, zcap, "%s", label);
  for (char *p = zone; *p; p++)
    if (*p == '_' && p[1] >= '0' && p[1] <= '9') {
      *p = '\0';
      break;
    }
}

/* Loads one trace through the intensity provider into an hourly array. */
static int load_series(const char *path, series *s, eco_error *err) {
  memset(s, 0, sizeof *s);
  labels_of(path, s->label, sizeof s->label, s->zone, sizeof s->zone);
  eco_trace_opts o;
  eco_trace_opts_default(&o);
  eco_intensity_provider *p = NULL;
  eco_intensity *vals = NULL;
  int rc = eco_intensity_trace_new(&o, &p, err);
  if (rc) return rc;
  rc = eco_intensity_trace_add_file(p, path, s->zone, NULL, err);
  if (rc) goto done;
  double first, end;
  rc = eco_intensity_trace_span(p, s->zone, &first, &end);
  if (rc) {
    eco_error_set(err, rc, "%s: no data for zone %s", path, s->zone);
    goto done;
  }
  size_t cap = (size_t)((end - first) / 3600.0) + 2;
  vals = malloc(cap * sizeof *vals);
  s->ci = malloc(cap * sizeof *s->ci);
  if (!vals || !s->ci) {
    rc = eco_error_set(err, ECO_ENOMEM, "out of memory");
    goto done;
  }
  size_t n = cap;
  rc = eco_intensity_forecast(p, s->zone, first, end, vals, &n, err);
  if (rc) goto done;
  for (size_t i = 0; i < n; i++) {
    if (fabs(vals[i].time_s - (first + 3600.0 * (double)i)) > 1) {
      rc = eco_error_set(err, ECO_EFORMAT, "%s: row %zu is not hourly (gap or duplicate)", path,
                         i + 1);
      goto done;
    }
    s->ci[i] = vals[i].gco2_kwh;
  }
  s->n = n;
  s->t0 = first;
done:
  free(vals);
  eco_intensity_free(p);
  if (rc) {
    free(s->ci);
    s->ci = NULL;
  }
  return rc;
}

/* Splits a comma list into up to max malloc'd-free pointers into buf. */
static size_t split(char *buf, char **items, size_t max) {
  size_t n = 0;
  for (char *save = NULL, *t = strtok_r(buf, ",", &save); t && n < max;
       t = strtok_r(NULL, ",", &save))
    items[n++] = t;
  return n;
}

typedef struct row {
  size_t trace, deadline, forecast;
  eco_sim_shift_result r;
} row;

static const size_t LEADS[] = {1, 2, 3, 6, 12, 24, 36, 47};

/* The parsed command line. */
typedef struct shift_args {
  const char *paths[64];
  size_t n_paths;
  int64_t jobs, seed;
  double job_hours, keep_margin; /* h, fraction */
  bool replan, spatial;
  char dbuf[256], fbuf[256]; /* backing store of dl_txt, fc_txt */
  char *dl_txt[16], *fc_txt[8];
  size_t n_dl, n_fc;
  double dl_s[16]; /* s */
  eco_forecast_cfg fcs[8];
} shift_args;

/* Everything a run builds, freed by shift_state_free. */
typedef struct shift_state {
  series *ss; /* n_sim: the traces, then the spatial pseudo-trace */
  size_t n_sim, n_common;
  row *rows;
  size_t n_rows;
  const double **zone_ci; /* n_paths */
  json_t *jres, *jerr;
  eco_strbuf tab, csv, ferr, svg;
} shift_state;

/* Parses "4h", "90m", "2d" (the batch API's completion_window grammar) into seconds. */
static bool parse_duration(const char *txt, double *out_s) {
  char *end = NULL;
  double v = strtod(txt, &end);
  double mult = end && *end == 'h'   ? 3600
                : end && *end == 'd' ? 86400
                : end && *end == 'm' ? 60
                                     : 0;
  if (!end || end == txt || mult == 0 || end[1] != '\0' || !(v > 0)) return false;
  *out_s = v * mult;
  return true;
}

/* Reads and checks the options; ECO_EXIT_OK or ECO_EXIT_USAGE (reported). */
static int parse_args(eco_cli *cli, const char *cmd, shift_args *a) {
  memset(a, 0, sizeof *a);
  for (size_t i = 0; i < cli->n_values && a->n_paths < 64; i++)
    if (strcmp(cli->opt_name[i], "trace") == 0) a->paths[a->n_paths++] = cli->opt_value[i];
  for (int i = 0; i < cli->n_args && a->n_paths < 64; i++)
    a->paths[a->n_paths++] = cli->args[i];
  if (a->n_paths == 0) {
    eco_cli_error(cli, cmd, "no trace given (--trace FILE or FILE arguments)");
    return ECO_EXIT_USAGE;
  }
  if (eco_cli_get_int(cli, "jobs", 365, &a->jobs) || eco_cli_get_int(cli, "seed", 1, &a->seed) ||
      eco_cli_get_double(cli, "job-hours", 1.0, &a->job_hours) ||
      eco_cli_get_double(cli, "keep-margin", 0.0, &a->keep_margin))
    return ECO_EXIT_USAGE;
  if (!(a->keep_margin >= 0) || a->keep_margin >= 1) {
    eco_cli_error(cli, cmd, "--keep-margin must lie in [0, 1)");
    return ECO_EXIT_USAGE;
  }
  if (a->jobs < 1 || a->jobs > 1000000 || !(a->job_hours > 0) || a->job_hours > 1000) {
    eco_cli_error(cli, cmd, "--jobs must be 1..1000000 and --job-hours > 0");
    return ECO_EXIT_USAGE;
  }
  a->replan = !eco_cli_flag(cli, "no-replan");
  a->spatial = eco_cli_flag(cli, "spatial");
  snprintf(a->dbuf, sizeof a->dbuf, "%s",
           eco_cli_get(cli, "deadline") ? eco_cli_get(cli, "deadline") : "4h,12h,24h");
  snprintf(a->fbuf, sizeof a->fbuf, "%s",
           eco_cli_get(cli, "forecast") ? eco_cli_get(cli, "forecast") : "perfect,seasonal-naive");
  a->n_dl = split(a->dbuf, a->dl_txt, 16);
  a->n_fc = split(a->fbuf, a->fc_txt, 8);
  for (size_t i = 0; i < a->n_dl; i++)
    if (!parse_duration(a->dl_txt[i], &a->dl_s[i])) {
      eco_cli_error(cli, cmd, "--deadline '%s': expected a duration like 4h, 90m or 2d",
                    a->dl_txt[i]);
      return ECO_EXIT_USAGE;
    }
  eco_error err = {0};
  for (size_t i = 0; i < a->n_fc; i++)
    if (eco_forecast_parse(a->fc_txt[i], &a->fcs[i], &err)) {
      eco_cli_error(cli, cmd, "--forecast: %s", eco_error_text(&err));
      return ECO_EXIT_USAGE;
    }
  if (a->n_dl == 0 || a->n_fc == 0) {
    eco_cli_error(cli, cmd, "--deadline and --forecast need at least one value");
    return ECO_EXIT_USAGE;
  }
  return ECO_EXIT_OK;
}

static void shift_state_free(shift_state *st) {
  json_decref(st->jres);
  json_decref(st->jerr);
  for (size_t t = 0; st->ss && t < st->n_sim; t++)
    free(st->ss[t].ci);
  free(st->zone_ci);
  free(st->ss);
  free(st->rows);
  eco_sb_free(&st->svg);
  eco_sb_free(&st->tab);
  eco_sb_free(&st->csv);
  eco_sb_free(&st->ferr);
}

/* Loads every trace and, with --spatial, joins them as zones of one pseudo-trace. */
static int load_traces(eco_cli *cli, const char *cmd, const shift_args *a, shift_state *st) {
  eco_error err = {0};
  for (size_t t = 0; t < a->n_paths; t++)
    if (load_series(a->paths[t], &st->ss[t], &err)) {
      eco_cli_error(cli, cmd, "%s: %s", a->paths[t], eco_error_text(&err));
      return ECO_EXIT_RUNTIME;
    }
  st->n_common = st->ss[0].n;
  if (!a->spatial) return ECO_EXIT_OK;
  series *sp = &st->ss[a->n_paths];
  snprintf(sp->label, sizeof sp->label, "spatial");
  int off = 0;
  for (size_t t = 0; t < a->n_paths; t++) {
    const series *s = &st->ss[t];
    if (s->t0 != st->ss[0].t0) {
      eco_cli_error(cli, cmd, "--spatial: %s starts at another time than %s", s->label,
                    st->ss[0].label);
      return ECO_EXIT_RUNTIME;
    }
    if (s->n < st->n_common) st->n_common = s->n;
    st->zone_ci[t] = s->ci;
    if (off >= 0 && (size_t)off < sizeof sp->zone)
      off += snprintf(sp->zone + off, sizeof sp->zone - (size_t)off, "%s%s", t ? "+" : "", s->zone);
  }
  return ECO_EXIT_OK;
}

/* Appends one result row to the table, the CSV and the JSON results. */
static void emit_row(shift_state *st, const shift_args *a, const row *rw, const char *fname) {
  const series *s = &st->ss[rw->trace];
  const eco_sim_shift_result *r = &rw->r;
  double dl_h = a->dl_s[rw->deadline] / 3600;
  eco_sb_printf(&st->tab, "%-20s %8s %-15s %5zu %7zu %12.2f %12.2f %8.1f %8.2f %8.1f %8.1f %7.1f\n",
                s->label, a->dl_txt[rw->deadline], fname, r->jobs, r->refused, r->run_now_g,
                r->shifted_g, r->saving_pct, r->mean_delay_h, r->mean_now_ci, r->mean_shift_ci,
                r->moved_pct);
  eco_sb_printf(&st->csv,
                "%s,%s,%g,%s,%d,%zu,%zu,%lld,%.6f,%.6f,%.6f,%.3f,%.4f,%.3f,%.3f,%zu,%.3f\n",
                s->label, s->zone, dl_h, fname, a->replan, r->jobs, r->refused,
                (long long)r->requests, r->run_now_g, r->shifted_g, r->predicted_g, r->saving_pct,
                r->mean_delay_h, r->mean_now_ci, r->mean_shift_ci, r->late, r->moved_pct);
  json_array_append_new(
      st->jres,
      json_pack("{s:s, s:s, s:f, s:s, s:b, s:I, s:I, s:I, s:f, s:f, s:f, s:f, s:f, "
                "s:f, s:f, s:I, s:f}",
                "trace", s->label, "zone", s->zone, "deadline_h", dl_h, "forecast", fname, "replan",
                a->replan, "jobs", (json_int_t)r->jobs, "refused", (json_int_t)r->refused,
                "requests", (json_int_t)r->requests, "run_now_g", r->run_now_g, "shifted_g",
                r->shifted_g, "predicted_g", r->predicted_g, "saving_pct", r->saving_pct,
                "mean_delay_h", r->mean_delay_h, "ci_run_now", r->mean_now_ci, "ci_shifted",
                r->mean_shift_ci, "late", (json_int_t)r->late, "moved_pct", r->moved_pct));
}

/* Runs every (trace, deadline, forecast) and records the results. */
static int run_grid(eco_cli *cli, const char *cmd, const shift_args *a, shift_state *st) {
  eco_error err = {0};
  eco_sb_printf(&st->tab, "%-20s %8s %-15s %5s %7s %12s %12s %8s %8s %8s %8s %7s\n", "trace",
                "deadline", "forecast", "jobs", "refused", "run_now_g", "shifted_g", "saving%",
                "delay_h", "ci_now", "ci_shift", "moved%");
  eco_sb_puts(
      &st->csv,
      "trace,zone,deadline_h,forecast,replan,jobs,refused,requests,run_now_g,"
      "shifted_g,predicted_g,saving_pct,mean_delay_h,ci_run_now,ci_shifted,late,moved_pct\n");
  for (size_t t = 0; t < st->n_sim; t++)
    for (size_t d = 0; d < a->n_dl; d++)
      for (size_t f = 0; f < a->n_fc; f++) {
        eco_sim_shift_cfg c;
        eco_sim_shift_defaults(&c);
        c.n_jobs = (size_t)a->jobs;
        c.deadline_s = a->dl_s[d];
        c.fc = a->fcs[f];
        c.replan = a->replan;
        c.keep_margin = a->keep_margin;
        c.job_hours = a->job_hours;
        c.seed = (uint64_t)a->seed;
        row *rw = &st->rows[st->n_rows];
        *rw = (row){.trace = t, .deadline = d, .forecast = f};
        const series *s = &st->ss[t];
        int src = t < a->n_paths ? eco_sim_shift_run(s->ci, s->n, &c, &rw->r, &err)
                                 : eco_sim_shift_run_zones(st->zone_ci, a->n_paths, st->n_common,
                                                           &c, &rw->r, &err);
        if (src) {
          eco_cli_error(cli, cmd, "%s: %s", s->label, eco_error_text(&err));
          return ECO_EXIT_RUNTIME;
        }
        st->n_rows++;
        char fname[32];
        eco_forecast_name(&a->fcs[f], fname, sizeof fname);
        emit_row(st, a, rw, fname);
        if (rw->r.late) {
          eco_cli_error(cli, cmd, "%s: %zu requests ran after their deadline (a bug)", s->label,
                        rw->r.late);
          return ECO_EXIT_RUNTIME;
        }
      }
  return ECO_EXIT_OK;
}

/* --forecast-error: MAE and MAPE by lead time of the history-built forecasts. */
static int forecast_errors(eco_cli *cli, const char *cmd, const shift_args *a, shift_state *st) {
  static const char *const methods[] = {"seasonal-naive", "seasonal-blend:7", "seasonal-ar:7"};
  size_t n_leads = sizeof LEADS / sizeof LEADS[0];
  eco_error err = {0};
  eco_sb_printf(&st->ferr, "\nforecast error by lead time (MAE gCO2e/kWh / MAPE %%)\n%-20s %-18s",
                "trace", "method");
  for (size_t j = 0; j < n_leads; j++)
    eco_sb_printf(&st->ferr, " %12zuh", LEADS[j]);
  eco_sb_puts(&st->ferr, "\n");
  for (size_t t = 0; t < a->n_paths; t++)
    for (size_t m = 0; m < 3; m++) {
      const series *s = &st->ss[t];
      eco_forecast_cfg fc;
      eco_forecast_parse(methods[m], &fc, NULL);
      eco_forecast_error fe;
      if (eco_forecast_evaluate(&fc, s->ci, s->n, 7 * 24, 1, 48, &fe, &err)) {
        eco_cli_error(cli, cmd, "%s: %s", s->label, eco_error_text(&err));
        return ECO_EXIT_RUNTIME;
      }
      char fname[32];
      eco_forecast_name(&fc, fname, sizeof fname);
      eco_sb_printf(&st->ferr, "%-20s %-18s", s->label, fname);
      json_t *jm = json_array(), *jp = json_array();
      for (size_t j = 0; j < n_leads; j++) {
        eco_sb_printf(&st->ferr, " %6.1f/%5.1f%%", fe.mae[LEADS[j]], fe.mape[LEADS[j]]);
        json_array_append_new(jm, json_real(fe.mae[LEADS[j]]));
        json_array_append_new(jp, json_real(fe.mape[LEADS[j]]));
      }
      double mae_all = 0, mape_all = 0;
      for (size_t j = 1; j < 48; j++) {
        mae_all += fe.mae[j] / 47.0;
        mape_all += fe.mape[j] / 47.0;
      }
      eco_sb_printf(&st->ferr, "  mean(1..47h) %.1f/%.1f%%\n", mae_all, mape_all);
      json_array_append_new(
          st->jerr, json_pack("{s:s, s:s, s:I, s:o, s:o, s:f, s:f}", "trace", s->label, "method",
                              fname, "origins", (json_int_t)fe.n_origins, "mae", jm, "mape", jp,
                              "mae_mean_1_47h", mae_all, "mape_mean_1_47h", mape_all));
      eco_forecast_error_free(&fe);
    }
  return ECO_EXIT_OK;
}

/* Renders the savings as bars (groups: trace x deadline; series: forecasts) into st->svg. */
static int render_svg(const shift_args *a, shift_state *st) {
  size_t ng = st->n_sim * a->n_dl, n_fc = a->n_fc;
  if (ng == 0 || n_fc == 0) return ECO_EINVAL;
  double *vals = calloc(ng * n_fc, sizeof *vals);
  char **gl = calloc(ng, sizeof *gl);
  char **sl = calloc(n_fc, sizeof *sl);
  int rc = vals && gl && sl ? 0 : ECO_ENOMEM;
  for (size_t i = 0; !rc && i < st->n_rows; i++) {
    size_t g = st->rows[i].trace * a->n_dl + st->rows[i].deadline;
    vals[g * n_fc + st->rows[i].forecast] = st->rows[i].r.saving_pct;
  }
  for (size_t g = 0; !rc && g < ng; g++) {
    char lab[160];
    snprintf(lab, sizeof lab, "%s %s", st->ss[g / a->n_dl].label, a->dl_txt[g % a->n_dl]);
    if (!(gl[g] = strdup(lab))) rc = ECO_ENOMEM;
  }
  for (size_t f = 0; !rc && f < n_fc; f++) {
    char fname[32];
    eco_forecast_name(&a->fcs[f], fname, sizeof fname);
    if (!(sl[f] = strdup(fname))) rc = ECO_ENOMEM;
  }
  char title[160];
  snprintf(title, sizeof title,
           "Carbon saved by time shifting vs run-now (%lld jobs/trace, %g h jobs%s)",
           (long long)a->jobs, a->job_hours, a->replan ? "" : ", no replan");
  eco_svg_bars b = {.title = title,
                    .y_label = "saving vs run-now, %",
                    .n_groups = ng,
                    .n_series = n_fc,
                    .group_labels = (const char *const *)gl,
                    .series_labels = (const char *const *)sl,
                    .values = vals};
  if (!rc) rc = eco_svg_bar_chart(&st->svg, &b);
  for (size_t g = 0; gl && g < ng; g++)
    free(gl[g]);
  for (size_t f = 0; sl && f < n_fc; f++)
    free(sl[f]);
  free(gl);
  free(sl);
  free(vals);
  return rc;
}

/* Writes --csv and --svg, then the table or the JSON to stdout. */
static int write_outputs(eco_cli *cli, const char *cmd, const shift_args *a, shift_state *st) {
  eco_error err = {0};
  const char *csv_path = eco_cli_get(cli, "csv");
  if (csv_path && eco_fs_write_atomic(csv_path, eco_sb_str(&st->csv), st->csv.len, &err)) {
    eco_cli_error(cli, cmd, "%s", eco_error_text(&err));
    return ECO_EXIT_RUNTIME;
  }
  const char *svg_path = eco_cli_get(cli, "svg");
  if (svg_path) {
    int src = render_svg(a, st);
    if (src || eco_fs_write_atomic(svg_path, eco_sb_str(&st->svg), st->svg.len, &err)) {
      eco_cli_error(cli, cmd, "svg: %s",
                    src == ECO_ENOMEM   ? "out of memory"
                    : src == ECO_EINVAL ? "nothing to plot"
                                        : eco_error_text(&err));
      return ECO_EXIT_RUNTIME;
    }
  }
  if (!cli->json) {
    eco_cli_out(eco_sb_str(&st->tab));
    eco_cli_out(eco_sb_str(&st->ferr));
    return ECO_EXIT_OK;
  }
  json_t *o = json_pack("{s:o, s:o}", "results", st->jres, "forecast_error", st->jerr);
  st->jres = st->jerr = NULL;
  if (eco_cli_out_json(o, JSON_INDENT(2))) {
    eco_cli_error(cli, cmd, "out of memory");
    return ECO_EXIT_RUNTIME;
  }
  return ECO_EXIT_OK;
}

int eco_cmd_sim_shift(eco_cli *cli, int argc, char **argv) {
  bool done;
  int rc = eco_cli_parse(cli, &spec, argc, argv, &done);
  if (done) return rc;
  const char *cmd = "sim shift";
  shift_args *a = malloc(sizeof *a);
  if (!a) {
    eco_cli_error(cli, cmd, "out of memory");
    return ECO_EXIT_RUNTIME;
  }
  int exit_code = parse_args(cli, cmd, a);
  if (exit_code != ECO_EXIT_OK) {
    free(a);
    return exit_code;
  }
  shift_state st = {.n_sim = a->n_paths + (a->spatial ? 1 : 0)}; /* spatial: one more trace */
  eco_sb_init(&st.tab);
  eco_sb_init(&st.csv);
  eco_sb_init(&st.ferr);
  eco_sb_init(&st.svg);
  st.ss = calloc(st.n_sim, sizeof *st.ss);
  st.rows = calloc(st.n_sim * a->n_dl * a->n_fc, sizeof *st.rows);
  st.zone_ci = calloc(a->n_paths, sizeof *st.zone_ci);
  st.jres = json_array();
  st.jerr = json_array();
  exit_code = ECO_EXIT_RUNTIME;
  if (!st.ss || !st.rows || !st.jres || !st.jerr || !st.zone_ci) {
    eco_cli_error(cli, cmd, "out of memory");
    goto done;
  }
  exit_code = load_traces(cli, cmd, a, &st);
  if (exit_code == ECO_EXIT_OK) exit_code = run_grid(cli, cmd, a, &st);
  if (exit_code == ECO_EXIT_OK && eco_cli_flag(cli, "forecast-error"))
    exit_code = forecast_errors(cli, cmd, a, &st);
  if (exit_code == ECO_EXIT_OK) exit_code = write_outputs(cli, cmd, a, &st);
done:
  shift_state_free(&st);
  free(a);
  return exit_code;
}
