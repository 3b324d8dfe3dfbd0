/* ecoinfer: carbon-intensity provider dispatch and the static table. */
#include "carbon/intensity.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int eco_intensity_get(eco_intensity_provider *p, const char *zone, double t_s, eco_intensity *out,
                      eco_error *err) {
  if (!p || !p->vt || !p->vt->get || !zone || !*zone || !out || !isfinite(t_s))
    return eco_error_set(err, ECO_EINVAL, "intensity get: invalid argument");
  return p->vt->get(p, zone, t_s, out, err);
}

int eco_intensity_forecast(eco_intensity_provider *p, const char *zone, double from_s, double to_s,
                           eco_intensity *out, size_t *n, eco_error *err) {
  if (!p || !p->vt || !zone || !*zone || !out || !n || !isfinite(from_s) || !isfinite(to_s) ||
      to_s < from_s)
    return eco_error_set(err, ECO_EINVAL, "intensity forecast: invalid argument");
  if (!p->vt->forecast) {
    *n = 0;
    return eco_error_set(err, ECO_EUNSUPPORTED, "%s: no forecast", p->vt->kind);
  }
  return p->vt->forecast(p, zone, from_s, to_s, out, n, err);
}

void eco_intensity_free(eco_intensity_provider *p) {
  if (p && p->vt && p->vt->destroy) p->vt->destroy(p);
}

const char *eco_signal_name(eco_signal s) {
  return s == ECO_SIGNAL_MARGINAL ? "marginal" : "average";
}

int eco_signal_parse(const char *s, eco_signal *out) {
  if (!s || !out) return ECO_EINVAL;
  if (strcasecmp(s, "average") == 0 || strcasecmp(s, "avg") == 0) {
    *out = ECO_SIGNAL_AVERAGE;
    return ECO_OK;
  }
  if (strcasecmp(s, "marginal") == 0 || strcasecmp(s, "moer") == 0) {
    *out = ECO_SIGNAL_MARGINAL;
    return ECO_OK;
  }
  return ECO_EINVAL;
}

/* ---- static table -------------------------------------------------------- */

/* Annual means of the "direct" column of the Electricity Maps 2023 hourly
 * exports in shared/data/carbon (computed with awk over all 8760 rows), and
 * the 2023 world average of Ember's Global Electricity Review 2024. */
static const eco_static_entry builtin_table[] = {
    {"CA-ON", 46.9},        {"DE", 307.7},    {"DE-LU", 307.7},       {"FR", 30.4},
    {"GB", 128.6},          {"IN-WE", 691.1}, {"US-CAL-CISO", 194.0}, {"US-MIDA-PJM", 321.8},
    {"US-TEX-ERCO", 316.7}, {"ZA", 644.5},
};
#define BUILTIN_WORLD_GCO2_KWH 481.0

const eco_static_entry *eco_static_builtin(size_t *n, double *world_gco2_kwh) {
  if (n) *n = sizeof builtin_table / sizeof builtin_table[0];
  if (world_gco2_kwh) *world_gco2_kwh = BUILTIN_WORLD_GCO2_KWH;
  return builtin_table;
}

typedef struct static_row {
  char zone[ECO_ZONE_MAX];
  double gco2_kwh;
} static_row;

typedef struct static_provider {
  eco_intensity_provider base;
  static_row *rows;
  size_t n;
  double world; /* gCO2e/kWh */
} static_provider;

static int static_lookup(const static_provider *s, const char *zone, double *v) {
  for (size_t i = 0; i < s->n; i++)
    if (strcasecmp(s->rows[i].zone, zone) == 0) {
      *v = s->rows[i].gco2_kwh;
      return 1;
    }
  *v = s->world;
  return 0;
}

static void static_fill(const static_provider *s, const char *zone, double t, double period,
                        eco_intensity *out) {
  memset(out, 0, sizeof *out);
  double v;
  int found = static_lookup(s, zone, &v);
  out->gco2_kwh = v;
  out->time_s = t;
  out->period_s = period;
  out->signal = ECO_SIGNAL_AVERAGE;
  out->estimated = true;
  snprintf(out->zone, sizeof out->zone, "%s", zone);
  snprintf(out->source, sizeof out->source, "%s", found ? "static" : "static:world");
}

static int static_get(eco_intensity_provider *p, const char *zone, double t_s, eco_intensity *out,
                      eco_error *err) {
  (void)err;
  static_fill((static_provider *)p, zone, t_s, 0, out);
  return ECO_OK;
}

static int static_forecast(eco_intensity_provider *p, const char *zone, double from_s, double to_s,
                           eco_intensity *out, size_t *n, eco_error *err) {
  (void)err;
  if (*n == 0) return ECO_OK;
  static_fill((static_provider *)p, zone, from_s, to_s - from_s, out);
  *n = 1;
  return ECO_OK;
}

static void static_destroy(eco_intensity_provider *p) {
  static_provider *s = (static_provider *)p;
  free(s->rows);
  free(s);
}

static const eco_intensity_vtbl static_vt = {
    .kind = "static", .get = static_get, .forecast = static_forecast, .destroy = static_destroy};

int eco_intensity_static_new(const eco_static_entry *entries, size_t n, double world_gco2_kwh,
                             eco_intensity_provider **out, eco_error *err) {
  if (!out) return eco_error_set(err, ECO_EINVAL, "static provider: out is NULL");
  *out = NULL;
  if (!entries || n == 0) {
    double w;
    entries = eco_static_builtin(&n, &w);
    if (world_gco2_kwh < 0) world_gco2_kwh = w;
  }
  if (world_gco2_kwh < 0 || !isfinite(world_gco2_kwh)) world_gco2_kwh = BUILTIN_WORLD_GCO2_KWH;
  static_provider *s = calloc(1, sizeof *s);
  if (!s) return eco_error_set(err, ECO_ENOMEM, "static provider: out of memory");
  s->rows = calloc(n, sizeof *s->rows);
  if (!s->rows) {
    free(s);
    return eco_error_set(err, ECO_ENOMEM, "static provider: out of memory");
  }
  for (size_t i = 0; i < n; i++) {
    if (!entries[i].zone || !*entries[i].zone || !isfinite(entries[i].gco2_kwh) ||
        entries[i].gco2_kwh < 0) {
      free(s->rows);
      free(s);
      return eco_error_set(err, ECO_EINVAL, "static provider: entry %zu: bad zone or value", i);
    }
    snprintf(s->rows[i].zone, sizeof s->rows[i].zone, "%s", entries[i].zone);
    s->rows[i].gco2_kwh = entries[i].gco2_kwh;
  }
  s->n = n;
  s->world = world_gco2_kwh;
  s->base.vt = &static_vt;
  snprintf(s->base.name, sizeof s->base.name, "static");
  *out = &s->base;
  return ECO_OK;
}
