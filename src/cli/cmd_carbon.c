/* ecoinfer carbon: the grid carbon intensity for a zone now (or at a given
 * time), where it came from, and optionally the forecast. */
#include "accounting/setup.h"
#include "carbon/intensity.h"
#include "cli/cli.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const eco_opt opts[] = {
    {"zone", 'z', "ZONE", "carbon.zone", "grid zone, e.g. GB, DE, US-CAL-CISO, GB-13, eastus"},
    {"provider", 'p', "NAME", NULL,
     "static | trace | electricitymaps | watttime | ukci | carbon-aware-sdk"},
    {"at", 0, "TIME", NULL, "ISO-8601 UTC time or epoch seconds (default: now)"},
    {"forecast", 0, "HOURS", NULL, "also print the forecast for the next HOURS hours"},
    {"trace", 0, "PATH", "carbon.trace.path", "trace CSV file or directory (provider trace)"},
    {"column", 0, "COL", "carbon.trace.column", "trace column: direct | lifecycle"},
};

static const eco_cmd_spec spec = {
    .name = "carbon",
    .usage = "[options]",
    .summary = "Print the grid carbon intensity for a zone and its source.",
    .details = "The provider comes from carbon.provider in the config (default: the static\n"
               "table) unless --provider is given. Live providers fall back to the last known\n"
               "value, then a forecast, then the static table; the source says which was used.\n"
               "Examples:\n"
               "  ecoinfer carbon --zone GB\n"
               "  ecoinfer carbon --zone GB --provider trace --trace ../shared/data/carbon \\\n"
               "      --at 2023-06-15T12:00:00Z --forecast 6",
    .opts = opts,
    .n_opts = sizeof opts / sizeof opts[0],
    .min_args = 0,
    .max_args = 0,
};

static json_t *val_json(const eco_intensity *v) {
  char ts[40];
  eco_time_iso8601(v->time_s, ts, sizeof ts);
  return json_pack("{s:s,s:f,s:s,s:f,s:s,s:s,s:b}", "zone", v->zone, "gco2_kwh", v->gco2_kwh,
                   "time", ts, "period_s", v->period_s, "signal", eco_signal_name(v->signal),
                   "source", v->source, "estimated", v->estimated);
}

/* What the command found: the intensity at the asked time and the forecast after it. */
typedef struct carbon_view {
  const char *provider;
  eco_intensity v;
  double hours;      /* forecast horizon; 0: none asked */
  eco_intensity *fc; /* [n] */
  size_t n;
  int frc; /* the forecast's status; ferr says why it failed */
  eco_error ferr;
} carbon_view;

static void print_json(const carbon_view *cv) {
  json_t *o = val_json(&cv->v);
  json_object_set_new(o, "provider", json_string(cv->provider));
  if (cv->hours > 0) {
    json_t *a = json_array();
    for (size_t i = 0; i < cv->n; i++)
      json_array_append_new(a, val_json(&cv->fc[i]));
    json_object_set_new(o, "forecast", a);
    if (cv->frc) json_object_set_new(o, "forecast_error", json_string(eco_error_text(&cv->ferr)));
  }
  eco_cli_out_json(o, JSON_INDENT(2) | JSON_REAL_PRECISION(12));
}

static void print_text(const carbon_view *cv) {
  const eco_intensity *v = &cv->v;
  eco_strbuf sb;
  eco_sb_init(&sb);
  char ts[40];
  eco_time_iso8601(v->time_s, ts, sizeof ts);
  eco_sb_printf(&sb, "%-12s %s\n", "zone", v->zone);
  eco_sb_printf(&sb, "%-12s %.1f gCO2e/kWh\n", "intensity", v->gco2_kwh);
  eco_sb_printf(&sb, "%-12s %s (%s)\n", "signal", eco_signal_name(v->signal),
                v->estimated ? "estimated" : "measured");
  eco_sb_printf(&sb, "%-12s %s, period %.0f s\n", "time", ts, v->period_s);
  eco_sb_printf(&sb, "%-12s %s\n", "source", v->source);
  if (cv->hours > 0) {
    if (cv->frc)
      eco_sb_printf(&sb, "\nforecast unavailable: %s\n", eco_error_text(&cv->ferr));
    else
      eco_sb_printf(&sb, "\nforecast (%zu values)\n", cv->n);
    for (size_t i = 0; i < cv->n; i++) {
      eco_time_iso8601(cv->fc[i].time_s, ts, sizeof ts);
      eco_sb_printf(&sb, "  %s  %8.1f  %s\n", ts, cv->fc[i].gco2_kwh, cv->fc[i].source);
    }
  }
  eco_cli_out(eco_sb_str(&sb));
  eco_sb_free(&sb);
}

/* Asks provider p for zone's intensity at t and, with hours > 0, the forecast after it. An
 * exit code (reported) on failure. */
static int query(eco_cli *cli, eco_intensity_provider *p, const char *zone, double t,
                 carbon_view *cv) {
  eco_error err = {0};
  cv->provider = p->name;
  if (eco_intensity_get(p, zone, t, &cv->v, &err)) {
    eco_cli_error(cli, "carbon", "%s", eco_error_text(&err));
    return ECO_EXIT_RUNTIME;
  }
  if (cv->hours <= 0) return ECO_EXIT_OK;
  cv->n = (size_t)(cv->hours * 12) + 2; /* up to 5-minute periods */
  cv->fc = calloc(cv->n, sizeof *cv->fc);
  if (!cv->fc) return ECO_EXIT_RUNTIME;
  cv->frc = eco_intensity_forecast(p, zone, t, t + cv->hours * 3600, cv->fc, &cv->n, &cv->ferr);
  if (cv->frc) cv->n = 0;
  return ECO_EXIT_OK;
}

int eco_cmd_carbon(eco_cli *cli, int argc, char **argv) {
  bool done;
  int rc = eco_cli_parse(cli, &spec, argc, argv, &done);
  if (done) return rc;
  eco_error err = {0};
  const char *zone;
  double pue;
  if (eco_carbon_zone_pue(cli->cfg, &zone, &pue, &err)) {
    eco_cli_error(cli, "carbon", "%s", eco_error_text(&err));
    return ECO_EXIT_USAGE;
  }
  double now = eco_time_wall_s(), t = now;
  const char *at = eco_cli_get(cli, "at");
  if (at && eco_time_parse(at, &t)) {
    eco_cli_error(cli, "carbon", "--at: not a time: '%s' (use 2023-06-15T12:00:00Z)", at);
    return ECO_EXIT_USAGE;
  }
  carbon_view cv = {0};
  if (eco_cli_get_double(cli, "forecast", 0, &cv.hours)) return ECO_EXIT_USAGE;
  if (cv.hours < 0 || cv.hours > 240) {
    eco_cli_error(cli, "carbon", "--forecast: 0..240 hours");
    return ECO_EXIT_USAGE;
  }
  eco_intensity_provider *p = NULL;
  rc = eco_carbon_provider_from_config(cli->cfg, eco_cli_get(cli, "provider"), now, &p, &err);
  if (rc) {
    eco_cli_error(cli, "carbon", "%s", eco_error_text(&err));
    return rc == ECO_ECONFIG || rc == ECO_EINVAL ? ECO_EXIT_USAGE : ECO_EXIT_RUNTIME;
  }
  int exit = query(cli, p, zone, t, &cv);
  if (exit == ECO_EXIT_OK) {
    if (cli->json)
      print_json(&cv);
    else
      print_text(&cv);
  }
  free(cv.fc);
  eco_intensity_free(p);
  return exit;
}
