/* ecoinfer: live carbon-intensity providers over HTTP (libcurl + jansson):
 * Electricity Maps v3, WattTime v3, UK Carbon Intensity API, GSF Carbon
 * Aware SDK web API, and picking the period that covers a time. HTTP, auth,
 * retries and the backoff gate are in live_http.c. */
#include "carbon/live_internal.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void eco_live_opts_default(eco_live_opts *o) {
  memset(o, 0, sizeof *o);
  o->timeout_s = 10;
  o->connect_timeout_s = 3;
  o->retries = 0;
  o->backoff_s = 30;
  o->backoff_max_s = 1800;
  o->now_window_s = 900;
  o->signal = ECO_SIGNAL_AVERAGE;
}

/* ---- parsing helpers ---------------------------------------------------------- */

typedef struct vals {
  eco_intensity *v;
  size_t n, cap;
} vals;

static int vals_push(vals *a, const eco_intensity *x) {
  if (a->n == a->cap) {
    size_t nc = a->cap ? a->cap * 2 : 64;
    eco_intensity *nv = realloc(a->v, nc * sizeof *nv);
    if (!nv) return ECO_ENOMEM;
    a->v = nv;
    a->cap = nc;
  }
  a->v[a->n++] = *x;
  return ECO_OK;
}

static bool jtime(json_t *o, const char *key, double *t) {
  const char *s = json_string_value(json_object_get(o, key));
  return s && eco_time_parse_iso8601(s, t) == 0;
}

static bool jnum(json_t *o, const char *key, double *v) {
  json_t *x = json_object_get(o, key);
  if (!json_is_number(x)) return false;
  *v = json_number_value(x);
  return isfinite(*v) && *v >= 0;
}

static void base_val(const live *L, const char *zone, eco_intensity *v, eco_signal sig) {
  memset(v, 0, sizeof *v);
  v->signal = sig;
  snprintf(v->zone, sizeof v->zone, "%s", zone);
  snprintf(v->source, sizeof v->source, "%s", L->base.name);
}

/* Fills gaps in period_s from the next value's time. */
static void fill_periods(vals *a, double def) {
  for (size_t i = 0; i < a->n; i++)
    if (a->v[i].period_s <= 0)
      a->v[i].period_s = i + 1 < a->n && a->v[i + 1].time_s > a->v[i].time_s
                             ? a->v[i + 1].time_s - a->v[i].time_s
                             : def;
}

/* The value whose period covers t, else ECO_ERANGE. */
static int pick(const live *L, const vals *a, const char *zone, double t, eco_intensity *out,
                eco_error *err) {
  for (size_t i = 0; i < a->n; i++)
    if (a->v[i].time_s <= t && t < a->v[i].time_s + a->v[i].period_s) {
      *out = a->v[i];
      return ECO_OK;
    }
  char ts[32];
  eco_time_iso8601(t, ts, sizeof ts);
  return eco_error_set(err, a->n ? ECO_ERANGE : ECO_EFORMAT, "%s: zone %s: no value for %s",
                       L->base.name, zone, ts);
}

static int copy_window(const live *L, const vals *a, const char *zone, double from, double to,
                       eco_intensity *out, size_t *n, eco_error *err) {
  size_t cap = *n, k = 0;
  for (size_t i = 0; i < a->n && k < cap; i++)
    if (a->v[i].time_s < to && a->v[i].time_s + a->v[i].period_s > from) out[k++] = a->v[i];
  *n = k;
  if (k == 0)
    return eco_error_set(err, ECO_ERANGE, "%s: zone %s: no forecast values in the window",
                         L->base.name, zone);
  return ECO_OK;
}

static void iso_min(double t, char *buf, size_t cap) {
  /* "2026-11-21T10:00Z" (minute precision, as the UK API documents) */
  char full[32];
  eco_time_iso8601(t, full, sizeof full);
  snprintf(buf, cap, "%.16sZ", full);
}

static char *esc(const char *s) {
  char *e = curl_escape(s, 0);
  return e;
}

/* ---- Electricity Maps v3 ------------------------------------------------------- */

static int em_parse_one(const live *L, const char *zone, json_t *o, eco_intensity *v) {
  base_val(L, zone, v, ECO_SIGNAL_AVERAGE);
  if (!json_is_object(o) || !jnum(o, "carbonIntensity", &v->gco2_kwh) ||
      !jtime(o, "datetime", &v->time_s))
    return ECO_EFORMAT;
  v->estimated = json_is_true(json_object_get(o, "isEstimated"));
  v->period_s = 0;
  return ECO_OK;
}

static int em_list(live *L, const char *zone, const char *what, const char *field, vals *a,
                   eco_error *err) {
  char q[512], ef[64] = "";
  char *z = esc(zone);
  if (L->emission_factor) snprintf(ef, sizeof ef, "&emissionFactorType=%s", L->emission_factor);
  snprintf(q, sizeof q, "/v3/carbon-intensity/%s?zone=%s%s", what, z ? z : "", ef);
  curl_free(z);
  json_t *j;
  int rc = eco_live_fetch_json(L, q, &j, err);
  if (rc) return rc;
  json_t *arr = json_object_get(j, field);
  if (!json_is_array(arr)) {
    json_decref(j);
    return eco_error_set(err, ECO_EFORMAT, "electricitymaps: %s: no '%s' array", what, field);
  }
  size_t i;
  json_t *it;
  json_array_foreach(arr, i, it) {
    eco_intensity v;
    if (em_parse_one(L, zone, it, &v)) {
      json_decref(j);
      return eco_error_set(err, ECO_EFORMAT, "electricitymaps: %s: entry %zu malformed", what, i);
    }
    if (strcmp(what, "forecast") == 0) v.estimated = true;
    if (vals_push(a, &v)) {
      json_decref(j);
      return eco_error_set(err, ECO_ENOMEM, "out of memory");
    }
  }
  json_decref(j);
  fill_periods(a, 3600);
  return ECO_OK;
}

static int em_get(eco_intensity_provider *p, const char *zone, double t, eco_intensity *out,
                  eco_error *err) {
  live *L = (live *)p;
  double now = eco_live_now(L);
  char q[512], ef[64] = "", ts[40];
  if (L->emission_factor) snprintf(ef, sizeof ef, "&emissionFactorType=%s", L->emission_factor);
  vals a = {0};
  int rc;
  if (fabs(t - now) <= L->o.now_window_s) {
    char *z = esc(zone);
    snprintf(q, sizeof q, "/v3/carbon-intensity/latest?zone=%s%s", z ? z : "", ef);
    curl_free(z);
    json_t *j;
    if ((rc = eco_live_fetch_json(L, q, &j, err))) return rc;
    rc = em_parse_one(L, zone, j, out);
    json_decref(j);
    if (rc) return eco_error_set(err, rc, "electricitymaps: latest: malformed answer");
    out->period_s = 3600;
    return ECO_OK;
  }
  if (t > now) {
    rc = em_list(L, zone, "forecast", "forecast", &a, err);
  } else {
    rc = em_list(L, zone, "history", "history", &a, err);
    if (rc == ECO_OK && pick(L, &a, zone, t, out, err) == ECO_OK) {
      free(a.v);
      return ECO_OK;
    }
    if (rc == ECO_OK) {
      /* older than the 24 h history: the past endpoint */
      free(a.v);
      a = (vals){0};
      eco_time_iso8601(t, ts, sizeof ts);
      char *z = esc(zone);
      snprintf(q, sizeof q, "/v3/carbon-intensity/past?zone=%s&datetime=%s%s", z ? z : "", ts, ef);
      curl_free(z);
      json_t *j;
      if ((rc = eco_live_fetch_json(L, q, &j, err))) return rc;
      rc = em_parse_one(L, zone, j, out);
      json_decref(j);
      if (rc) return eco_error_set(err, rc, "electricitymaps: past: malformed answer");
      out->period_s = 3600;
      return ECO_OK;
    }
  }
  if (rc == ECO_OK) rc = pick(L, &a, zone, t, out, err);
  free(a.v);
  return rc;
}

static int em_forecast(eco_intensity_provider *p, const char *zone, double from, double to,
                       eco_intensity *out, size_t *n, eco_error *err) {
  live *L = (live *)p;
  vals a = {0};
  int rc = em_list(L, zone, "forecast", "forecast", &a, err);
  if (rc == ECO_OK)
    rc = copy_window(L, &a, zone, from, to, out, n, err);
  else
    *n = 0;
  free(a.v);
  return rc;
}

/* ---- WattTime v3 ------------------------------------------------------------------ */

static int wt_list(live *L, const char *zone, const char *path_query, bool forecast, vals *a,
                   eco_error *err) {
  json_t *j;
  int rc = eco_live_fetch_json(L, path_query, &j, err);
  if (rc) return rc;
  json_t *data = json_object_get(j, "data");
  json_t *meta = json_object_get(j, "meta");
  double period = 300;
  json_t *dp = json_object_get(meta, "data_point_period_seconds");
  if (json_is_number(dp) && json_number_value(dp) > 0) period = json_number_value(dp);
  const char *units = json_string_value(json_object_get(meta, "units"));
  double k = ECO_G_PER_KWH_PER_LB_PER_MWH;
  if (units && strcasecmp(units, "lbs_co2_per_mwh") != 0) {
    eco_error_set(err, ECO_EFORMAT, "watttime: unexpected units '%s'", units);
    json_decref(j);
    return ECO_EFORMAT;
  }
  if (!json_is_array(data)) {
    json_decref(j);
    return eco_error_set(err, ECO_EFORMAT, "watttime: no 'data' array");
  }
  size_t i;
  json_t *it;
  json_array_foreach(data, i, it) {
    eco_intensity v;
    base_val(L, zone, &v, ECO_SIGNAL_MARGINAL);
    double lbs;
    if (!jnum(it, "value", &lbs) || !jtime(it, "point_time", &v.time_s)) {
      json_decref(j);
      return eco_error_set(err, ECO_EFORMAT, "watttime: data[%zu] malformed", i);
    }
    v.gco2_kwh = lbs * k; /* lbs/MWh -> g/kWh */
    v.period_s = period;
    v.estimated = forecast && i > 0;
    if (vals_push(a, &v)) {
      json_decref(j);
      return eco_error_set(err, ECO_ENOMEM, "out of memory");
    }
  }
  json_decref(j);
  return ECO_OK;
}

static int wt_get(eco_intensity_provider *p, const char *zone, double t, eco_intensity *out,
                  eco_error *err) {
  live *L = (live *)p;
  double now = eco_live_now(L);
  char q[768];
  char *z = esc(zone);
  if (fabs(t - now) <= L->o.now_window_s) {
    snprintf(q, sizeof q, "/v3/forecast?region=%s&signal_type=co2_moer&horizon_hours=0",
             z ? z : "");
  } else if (t < now) {
    char a1[40], a2[40];
    eco_time_iso8601(t - 900, a1, sizeof a1);
    eco_time_iso8601(t + 900, a2, sizeof a2);
    snprintf(q, sizeof q, "/v3/historical?region=%s&start=%s&end=%s&signal_type=co2_moer",
             z ? z : "", a1, a2);
  } else {
    int h = (int)ceil((t - now) / 3600.0) + 1;
    snprintf(q, sizeof q, "/v3/forecast?region=%s&signal_type=co2_moer&horizon_hours=%d",
             z ? z : "", h > 72 ? 72 : h);
  }
  curl_free(z);
  vals a = {0};
  bool near = fabs(t - now) <= L->o.now_window_s;
  int rc = wt_list(L, zone, q, t > now && !near, &a, err);
  if (rc == ECO_OK) {
    if (near && a.n > 0)
      *out = a.v[0]; /* the current MOER */
    else
      rc = pick(L, &a, zone, t, out, err);
  }
  if (rc == ECO_OK && near && a.n == 0)
    rc = eco_error_set(err, ECO_EFORMAT, "watttime: empty 'data'");
  free(a.v);
  return rc;
}

static int wt_forecast(eco_intensity_provider *p, const char *zone, double from, double to,
                       eco_intensity *out, size_t *n, eco_error *err) {
  live *L = (live *)p;
  double now = eco_live_now(L);
  int h = (int)ceil((to - now) / 3600.0);
  if (h < 1) h = 1;
  if (h > 72) h = 72;
  char q[512];
  char *z = esc(zone);
  snprintf(q, sizeof q, "/v3/forecast?region=%s&signal_type=co2_moer&horizon_hours=%d", z ? z : "",
           h);
  curl_free(z);
  vals a = {0};
  int rc = wt_list(L, zone, q, true, &a, err);
  if (rc == ECO_OK)
    rc = copy_window(L, &a, zone, from, to, out, n, err);
  else
    *n = 0;
  free(a.v);
  return rc;
}

/* ---- UK Carbon Intensity API -------------------------------------------------------- */

/* "GB" -> 0 (national), "GB-13" -> 13; -1 if not a UK zone. */
static int uk_region(const char *zone) {
  if (strcasecmp(zone, "GB") == 0 || strcasecmp(zone, "UK") == 0) return 0;
  if (strncasecmp(zone, "GB-", 3) != 0) return -1;
  char *end;
  long r = strtol(zone + 3, &end, 10);
  return *end || r < 1 || r > 17 ? -1 : (int)r;
}

static int uk_periods(live *L, const char *zone, json_t *arr, vals *a, eco_error *err) {
  size_t i;
  json_t *it;
  json_array_foreach(arr, i, it) {
    eco_intensity v;
    base_val(L, zone, &v, ECO_SIGNAL_AVERAGE);
    double to;
    json_t *in = json_object_get(it, "intensity");
    if (!jtime(it, "from", &v.time_s) || !jtime(it, "to", &to) || to <= v.time_s ||
        !json_is_object(in))
      return eco_error_set(err, ECO_EFORMAT, "ukci: period %zu malformed", i);
    v.period_s = to - v.time_s;
    if (jnum(in, "actual", &v.gco2_kwh)) {
      v.estimated = false;
    } else if (jnum(in, "forecast", &v.gco2_kwh)) {
      v.estimated = true;
    } else {
      return eco_error_set(err, ECO_EFORMAT, "ukci: period %zu has no intensity", i);
    }
    if (vals_push(a, &v)) return eco_error_set(err, ECO_ENOMEM, "out of memory");
  }
  return ECO_OK;
}

/* National answers: {"data": [periods]}. Regional: {"data": [{"regionid":..,
 * "data": [periods]}]} or {"data": {"regionid":.., "data": [periods]}}. */
static int uk_fetch(live *L, const char *zone, int region, const char *q, vals *a, eco_error *err) {
  json_t *j;
  int rc = eco_live_fetch_json(L, q, &j, err);
  if (rc) return rc;
  json_t *d = json_object_get(j, "data");
  if (region > 0) {
    if (json_is_array(d)) d = json_array_get(d, 0);
    d = json_object_get(d, "data");
  }
  if (!json_is_array(d))
    rc = eco_error_set(err, ECO_EFORMAT, "ukci: %s: no periods in the answer", q);
  else
    rc = uk_periods(L, zone, d, a, err);
  json_decref(j);
  return rc;
}

static int uk_get(eco_intensity_provider *p, const char *zone, double t, eco_intensity *out,
                  eco_error *err) {
  live *L = (live *)p;
  int region = uk_region(zone);
  if (region < 0)
    return eco_error_set(err, ECO_ENOENT, "ukci: zone '%s' is not GB or GB-<1..17>", zone);
  double now = eco_live_now(L);
  char q[256], a1[32], a2[32];
  bool near = fabs(t - now) <= L->o.now_window_s;
  iso_min(t - 1800, a1, sizeof a1);
  iso_min(t + 1800, a2, sizeof a2);
  if (region == 0)
    snprintf(q, sizeof q, near ? "/intensity" : "/intensity/%s/%s", a1, a2);
  else if (near)
    snprintf(q, sizeof q, "/regional/regionid/%d", region);
  else
    snprintf(q, sizeof q, "/regional/intensity/%s/%s/regionid/%d", a1, a2, region);
  vals a = {0};
  int rc = uk_fetch(L, zone, region, q, &a, err);
  if (rc == ECO_OK) {
    if (near && a.n > 0) {
      /* the current half hour; if the clock is slightly off, the first */
      if (pick(L, &a, zone, t, out, err) != ECO_OK) *out = a.v[0];
    } else {
      rc = pick(L, &a, zone, t, out, err);
    }
  }
  if (rc == ECO_OK && a.n == 0) rc = eco_error_set(err, ECO_EFORMAT, "ukci: empty answer");
  free(a.v);
  return rc;
}

static int uk_forecast(eco_intensity_provider *p, const char *zone, double from, double to,
                       eco_intensity *out, size_t *n, eco_error *err) {
  live *L = (live *)p;
  int region = uk_region(zone);
  if (region < 0) {
    *n = 0;
    return eco_error_set(err, ECO_ENOENT, "ukci: zone '%s' is not GB or GB-<1..17>", zone);
  }
  char q[256], a1[32];
  iso_min(from, a1, sizeof a1);
  if (region == 0)
    snprintf(q, sizeof q, "/intensity/%s/fw48h", a1);
  else
    snprintf(q, sizeof q, "/regional/intensity/%s/fw48h/regionid/%d", a1, region);
  vals a = {0};
  int rc = uk_fetch(L, zone, region, q, &a, err);
  if (rc == ECO_OK)
    rc = copy_window(L, &a, zone, from, to, out, n, err);
  else
    *n = 0;
  free(a.v);
  return rc;
}

/* ---- Carbon Aware SDK web API --------------------------------------------------------- */

/* "00:05:00" or "1.02:00:00" -> seconds; 0 if unparsable. */
static double parse_timespan(const char *s) {
  if (!s) return 0;
  int d = 0, h = 0, m = 0;
  double sec = 0;
  if (sscanf(s, "%d.%d:%d:%lf", &d, &h, &m, &sec) == 4)
    return d * 86400.0 + h * 3600.0 + m * 60 + sec;
  if (sscanf(s, "%d:%d:%lf", &h, &m, &sec) == 3) return h * 3600.0 + m * 60.0 + sec;
  return 0;
}

static int ca_get(eco_intensity_provider *p, const char *zone, double t, eco_intensity *out,
                  eco_error *err) {
  live *L = (live *)p;
  double now = eco_live_now(L);
  bool near = fabs(t - now) <= L->o.now_window_s;
  char q[512], a1[40], a2[40];
  char *z = esc(zone);
  if (near) {
    snprintf(q, sizeof q, "/emissions/bylocation?location=%s", z ? z : "");
  } else {
    eco_time_iso8601(t - 3600, a1, sizeof a1);
    eco_time_iso8601(t + 3600, a2, sizeof a2);
    snprintf(q, sizeof q, "/emissions/bylocation?location=%s&time=%s&toTime=%s", z ? z : "", a1,
             a2);
  }
  curl_free(z);
  json_t *j;
  int rc = eco_live_fetch_json(L, q, &j, err);
  if (rc) return rc;
  vals a = {0};
  if (!json_is_array(j)) {
    rc = eco_error_set(err, ECO_EFORMAT, "carbon-aware-sdk: expected a JSON array");
    goto done;
  }
  size_t i;
  json_t *it;
  json_array_foreach(j, i, it) {
    eco_intensity v;
    base_val(L, zone, &v, L->o.signal);
    if (!jnum(it, "rating", &v.gco2_kwh) || !jtime(it, "time", &v.time_s)) {
      rc = eco_error_set(err, ECO_EFORMAT, "carbon-aware-sdk: entry %zu malformed", i);
      goto done;
    }
    v.period_s = parse_timespan(json_string_value(json_object_get(it, "duration")));
    if (vals_push(&a, &v)) {
      rc = eco_error_set(err, ECO_ENOMEM, "out of memory");
      goto done;
    }
  }
  fill_periods(&a, 300);
  if (a.n == 0) {
    rc = eco_error_set(err, ECO_EFORMAT, "carbon-aware-sdk: empty answer");
  } else if (pick(L, &a, zone, t, out, err) != ECO_OK) {
    if (near) {
      /* the newest value */
      size_t best = 0;
      for (size_t k = 1; k < a.n; k++)
        if (a.v[k].time_s > a.v[best].time_s) best = k;
      *out = a.v[best];
    } else {
      rc = err ? err->code : ECO_ERANGE;
    }
  }
done:
  free(a.v);
  json_decref(j);
  return rc;
}

static int ca_forecast(eco_intensity_provider *p, const char *zone, double from, double to,
                       eco_intensity *out, size_t *n, eco_error *err) {
  live *L = (live *)p;
  size_t cap = *n;
  *n = 0;
  char q[512], a1[40], a2[40];
  eco_time_iso8601(from, a1, sizeof a1);
  eco_time_iso8601(to, a2, sizeof a2);
  char *z = esc(zone);
  snprintf(q, sizeof q, "/emissions/forecasts/current?location=%s&dataStartAt=%s&dataEndAt=%s",
           z ? z : "", a1, a2);
  curl_free(z);
  json_t *j;
  int rc = eco_live_fetch_json(L, q, &j, err);
  if (rc) return rc;
  vals a = {0};
  json_t *fd = json_object_get(json_array_get(j, 0), "forecastData");
  if (!json_is_array(fd)) {
    rc = eco_error_set(err, ECO_EFORMAT, "carbon-aware-sdk: no forecastData");
    goto done;
  }
  size_t i;
  json_t *it;
  json_array_foreach(fd, i, it) {
    eco_intensity v;
    base_val(L, zone, &v, L->o.signal);
    double minutes = 0;
    if (!jnum(it, "value", &v.gco2_kwh) || !jtime(it, "timestamp", &v.time_s)) {
      rc = eco_error_set(err, ECO_EFORMAT, "carbon-aware-sdk: forecastData[%zu] malformed", i);
      goto done;
    }
    if (jnum(it, "duration", &minutes)) v.period_s = minutes * 60.0;
    v.estimated = true;
    if (vals_push(&a, &v)) {
      rc = eco_error_set(err, ECO_ENOMEM, "out of memory");
      goto done;
    }
  }
  fill_periods(&a, 300);
  *n = cap;
  rc = copy_window(L, &a, zone, from, to, out, n, err);
done:
  free(a.v);
  json_decref(j);
  return rc;
}

/* ---- construction ----------------------------------------------------------------------- */

static void live_destroy(eco_intensity_provider *p) {
  live *L = (live *)p;
  free(L->base_url);
  free(L->token);
  free(L->username);
  free(L->password);
  free(L->emission_factor);
  pthread_mutex_destroy(&L->mu);
  free(L);
}

static const eco_intensity_vtbl em_vt = {
    .kind = "electricitymaps", .get = em_get, .forecast = em_forecast, .destroy = live_destroy};
static const eco_intensity_vtbl wt_vt = {
    .kind = "watttime", .get = wt_get, .forecast = wt_forecast, .destroy = live_destroy};
static const eco_intensity_vtbl uk_vt = {
    .kind = "ukci", .get = uk_get, .forecast = uk_forecast, .destroy = live_destroy};
static const eco_intensity_vtbl ca_vt = {
    .kind = "carbon-aware-sdk", .get = ca_get, .forecast = ca_forecast, .destroy = live_destroy};

static char *dup_opt(const char *s) { return s && *s ? strdup(s) : NULL; }

static int live_new(live_kind kind, const eco_intensity_vtbl *vt, const char *def_url,
                    const eco_live_opts *o, eco_intensity_provider **out, eco_error *err) {
  if (!out) return eco_error_set(err, ECO_EINVAL, "%s: out is NULL", vt->kind);
  *out = NULL;
  live *L = calloc(1, sizeof *L);
  if (!L) return eco_error_set(err, ECO_ENOMEM, "%s: out of memory", vt->kind);
  if (o)
    L->o = *o;
  else
    eco_live_opts_default(&L->o);
  eco_live_opts d;
  eco_live_opts_default(&d);
  if (!(L->o.timeout_s > 0)) L->o.timeout_s = d.timeout_s;
  if (!(L->o.connect_timeout_s > 0)) L->o.connect_timeout_s = d.connect_timeout_s;
  if (!(L->o.backoff_s > 0)) L->o.backoff_s = d.backoff_s;
  if (!(L->o.backoff_max_s > 0)) L->o.backoff_max_s = d.backoff_max_s;
  if (!(L->o.now_window_s > 0)) L->o.now_window_s = d.now_window_s;
  if (L->o.retries < 0) L->o.retries = 0;
  L->kind = kind;
  L->base_url = strdup(o && o->base_url && *o->base_url ? o->base_url : def_url);
  L->token = dup_opt(o ? o->token : NULL);
  L->username = dup_opt(o ? o->username : NULL);
  L->password = dup_opt(o ? o->password : NULL);
  L->emission_factor = dup_opt(o ? o->emission_factor : NULL);
  if (!L->base_url || pthread_mutex_init(&L->mu, NULL)) {
    free(L->base_url);
    free(L->token);
    free(L->username);
    free(L->password);
    free(L->emission_factor);
    free(L);
    return eco_error_set(err, ECO_ENOMEM, "%s: out of memory", vt->kind);
  }
  size_t bl = strlen(L->base_url);
  while (bl > 0 && L->base_url[bl - 1] == '/')
    L->base_url[--bl] = '\0';
  L->o.base_url = L->o.token = L->o.username = L->o.password = L->o.emission_factor = NULL;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  L->base.vt = vt;
  snprintf(L->base.name, sizeof L->base.name, "%s", vt->kind);
  *out = &L->base;
  return ECO_OK;
}

int eco_intensity_electricitymaps_new(const eco_live_opts *o, eco_intensity_provider **out,
                                      eco_error *err) {
  return live_new(K_EMAPS, &em_vt, "https://api.electricitymap.org", o, out, err);
}

int eco_intensity_watttime_new(const eco_live_opts *o, eco_intensity_provider **out,
                               eco_error *err) {
  if (o && !(o->token && *o->token) && !(o->username && *o->username && o->password))
    return eco_error_set(err, ECO_ECONFIG, "watttime: needs a token or username and password");
  return live_new(K_WATTTIME, &wt_vt, "https://api.watttime.org", o, out, err);
}

int eco_intensity_ukci_new(const eco_live_opts *o, eco_intensity_provider **out, eco_error *err) {
  return live_new(K_UKCI, &uk_vt, "https://api.carbonintensity.org.uk", o, out, err);
}

int eco_intensity_carbonaware_new(const eco_live_opts *o, eco_intensity_provider **out,
                                  eco_error *err) {
  return live_new(K_CASDK, &ca_vt, "http://localhost:8090", o, out, err);
}
