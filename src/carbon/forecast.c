/* ecoinfer: seasonal-naive, seasonal-blend and oracle intensity forecasts. */
#include "carbon/forecast.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int eco_forecast_parse(const char *s, eco_forecast_cfg *cfg, eco_error *err) {
  if (!s || !cfg) return eco_error_set(err, ECO_EINVAL, "forecast: no method given");
  memset(cfg, 0, sizeof *cfg);
  cfg->period = 24;
  cfg->k_days = 1;
  if (strcmp(s, "perfect") == 0 || strcmp(s, "oracle") == 0) {
    cfg->kind = ECO_FORECAST_ORACLE;
    return 0;
  }
  if (strcmp(s, "seasonal-naive") == 0) {
    cfg->kind = ECO_FORECAST_SEASONAL_NAIVE;
    return 0;
  }
  size_t len = 0;
  if (strncmp(s, "seasonal-blend", 14) == 0) {
    cfg->kind = ECO_FORECAST_SEASONAL_BLEND;
    cfg->k_days = 7;
    len = 14;
  } else if (strncmp(s, "seasonal-ar", 11) == 0) {
    cfg->kind = ECO_FORECAST_SEASONAL_AR;
    cfg->k_days = 1;
    len = 11;
  }
  if (len) {
    if (s[len] == '\0') return 0;
    if (s[len] == ':' || s[len] == '-') {
      char *end = NULL;
      long k = strtol(s + len + 1, &end, 10);
      if (end && end != s + len + 1 && *end == '\0' && k >= 1 && k <= 365) {
        cfg->k_days = (size_t)k;
        return 0;
      }
    }
  }
  return eco_error_set(err, ECO_EINVAL,
                       "forecast: unknown method '%s' (perfect, seasonal-naive, "
                       "seasonal-blend[:K], seasonal-ar[:K])",
                       s);
}

void eco_forecast_name(const eco_forecast_cfg *cfg, char *buf, size_t cap) {
  switch (cfg->kind) {
  case ECO_FORECAST_ORACLE: snprintf(buf, cap, "oracle"); break;
  case ECO_FORECAST_SEASONAL_NAIVE: snprintf(buf, cap, "seasonal-naive"); break;
  case ECO_FORECAST_SEASONAL_BLEND: snprintf(buf, cap, "seasonal-blend-%zu", cfg->k_days); break;
  default: snprintf(buf, cap, "seasonal-ar-%zu", cfg->k_days); break;
  }
}

/* Mean of values[now + lead - period*d] over d = d0 .. d0+k-1 where the
 * index is >= 0; persistence (values[now]) when none exists. */
static double seasonal(const double *values, size_t now, size_t lead, size_t period, size_t k) {
  if (lead == 0) return values[now];
  size_t d0 = (lead + period - 1) / period; /* smallest d with lead - P*d <= 0 */
  double sum = 0;
  size_t cnt = 0;
  for (size_t d = d0; d < d0 + k; d++) {
    size_t back = period * d - lead; /* slots before now */
    if (back > now) break;
    sum += values[now - back];
    cnt++;
  }
  return cnt ? sum / (double)cnt : values[now];
}

/* Seasonal estimate of slot i from the days before it (mean of i - P*d,
 * d = 1..k); NAN when none exists. */
static double profile(const double *values, size_t i, size_t period, size_t k) {
  double sum = 0;
  size_t cnt = 0;
  for (size_t d = 1; d <= k && period * d <= i; d++, cnt++)
    sum += values[i - period * d];
  return cnt ? sum / (double)cnt : NAN;
}

/* Least-squares AR(1) coefficient of the seasonal residual over the last
 * 7 periods up to now, clipped to [0, 0.99]. */
static double fit_phi(const double *values, size_t now, size_t period, size_t k) {
  size_t span = 7 * period;
  size_t from = now > span ? now - span : 0;
  double num = 0, den = 0, prev = NAN;
  size_t used = 0;
  for (size_t i = from; i <= now; i++) {
    double p = profile(values, i, period, k);
    double r = isnan(p) ? NAN : values[i] - p;
    if (!isnan(r) && !isnan(prev)) {
      num += r * prev;
      den += prev * prev;
      used++;
    }
    prev = r;
  }
  if (used < 2 * period || !(den > 0)) return 0;
  double phi = num / den;
  return phi < 0 ? 0 : phi > 0.99 ? 0.99 : phi;
}

int eco_forecast_series(const eco_forecast_cfg *cfg, const double *values, size_t n, size_t now,
                        size_t horizon, double *out, eco_error *err) {
  if (!cfg || !values || (!out && horizon))
    return eco_error_set(err, ECO_EINVAL, "forecast: NULL argument");
  if (now >= n)
    return eco_error_set(err, ECO_ERANGE, "forecast: now %zu past series end %zu", now, n);
  if (cfg->period == 0) return eco_error_set(err, ECO_EINVAL, "forecast: period 0");
  switch (cfg->kind) {
  case ECO_FORECAST_ORACLE:
    if (horizon > n - now)
      return eco_error_set(err, ECO_ERANGE,
                           "forecast: oracle horizon %zu runs past the series end (%zu left)",
                           horizon, n - now);
    memcpy(out, values + now, horizon * sizeof *out);
    return 0;
  case ECO_FORECAST_SEASONAL_NAIVE:
  case ECO_FORECAST_SEASONAL_BLEND: {
    size_t k = cfg->kind == ECO_FORECAST_SEASONAL_NAIVE ? 1 : cfg->k_days;
    if (k == 0) return eco_error_set(err, ECO_EINVAL, "forecast: k_days 0");
    for (size_t j = 0; j < horizon; j++)
      out[j] = seasonal(values, now, j, cfg->period, k);
    return 0;
  }
  case ECO_FORECAST_SEASONAL_AR: {
    size_t k = cfg->k_days;
    if (k == 0) return eco_error_set(err, ECO_EINVAL, "forecast: k_days 0");
    double p0 = profile(values, now, cfg->period, k);
    double dev = isnan(p0) ? 0 : values[now] - p0;
    double phi = fit_phi(values, now, cfg->period, k), w = 1;
    for (size_t j = 0; j < horizon; j++) {
      double v = seasonal(values, now, j, cfg->period, k) + (j ? dev * w : 0);
      out[j] = v > 0 ? v : 0;
      w *= phi;
    }
    return 0;
  }
  }
  return eco_error_set(err, ECO_EINVAL, "forecast: unknown kind %d", (int)cfg->kind);
}

void eco_forecast_error_free(eco_forecast_error *e) {
  if (!e) return;
  free(e->mae);
  free(e->mape);
  free(e->bias);
  memset(e, 0, sizeof *e);
}

int eco_forecast_evaluate(const eco_forecast_cfg *cfg, const double *values, size_t n,
                          size_t first_origin, size_t stride, size_t max_lead,
                          eco_forecast_error *out, eco_error *err) {
  if (!cfg || !values || !out || max_lead == 0 || stride == 0)
    return eco_error_set(err, ECO_EINVAL, "forecast evaluate: bad argument");
  memset(out, 0, sizeof *out);
  if (n < max_lead || first_origin > n - max_lead)
    return eco_error_set(err, ECO_ERANGE, "forecast evaluate: series of %zu too short", n);
  int rc = ECO_ENOMEM;
  double *fc = calloc(max_lead, sizeof *fc);
  size_t *n_pct = calloc(max_lead, sizeof *n_pct);
  out->mae = calloc(max_lead, sizeof *out->mae);
  out->mape = calloc(max_lead, sizeof *out->mape);
  out->bias = calloc(max_lead, sizeof *out->bias);
  out->max_lead = max_lead;
  if (!fc || !n_pct || !out->mae || !out->mape || !out->bias) goto fail;
  for (size_t t = first_origin; t + max_lead <= n; t += stride) {
    rc = eco_forecast_series(cfg, values, n, t, max_lead, fc, err);
    if (rc) goto fail;
    for (size_t j = 0; j < max_lead; j++) {
      double a = values[t + j], e = fc[j] - a;
      out->mae[j] += fabs(e);
      out->bias[j] += e;
      if (a > 0) {
        out->mape[j] += fabs(e) / a * 100.0;
        n_pct[j]++;
      }
    }
    out->n_origins++;
  }
  for (size_t j = 0; j < max_lead; j++) {
    if (out->n_origins) {
      out->mae[j] /= (double)out->n_origins;
      out->bias[j] /= (double)out->n_origins;
    }
    if (n_pct[j]) out->mape[j] /= (double)n_pct[j];
  }
  free(fc);
  free(n_pct);
  return 0;
fail:
  free(fc);
  free(n_pct);
  eco_forecast_error_free(out);
  if (rc == ECO_ENOMEM) eco_error_set(err, ECO_ENOMEM, "forecast evaluate: out of memory");
  return rc;
}

/* ---- history-forecast provider -------------------------------------------- */

typedef struct hist_provider {
  eco_intensity_provider base;
  eco_intensity_provider *inner;
  bool own;
  eco_forecast_cfg cfg;
} hist_provider;

static int hist_get(eco_intensity_provider *p, const char *zone, double t_s, eco_intensity *out,
                    eco_error *err) {
  return eco_intensity_get(((hist_provider *)p)->inner, zone, t_s, out, err);
}

static int hist_forecast(eco_intensity_provider *p, const char *zone, double from_s, double to_s,
                         eco_intensity *out, size_t *n, eco_error *err) {
  hist_provider *h = (hist_provider *)p;
  size_t cap = *n;
  *n = 0;
  if (cap == 0) return 0;
  char method[32];
  eco_forecast_name(&h->cfg, method, sizeof method);
  if (h->cfg.kind == ECO_FORECAST_ORACLE) {
    size_t m = cap;
    int rc = eco_intensity_forecast(h->inner, zone, from_s, to_s, out, &m, err);
    if (rc) return rc;
    for (size_t j = 0; j < m; j++) {
      char src[ECO_SOURCE_MAX];
      snprintf(src, sizeof src, "oracle:%s", out[j].source);
      snprintf(out[j].source, sizeof out[j].source, "%s", src);
    }
    *n = m;
    return 0;
  }
  /* the period holding from_s, to learn the slot length */
  eco_intensity cur;
  int rc = eco_intensity_get(h->inner, zone, from_s, &cur, err);
  if (rc) return rc;
  double slot = cur.period_s > 0 ? cur.period_s : 3600.0;
  size_t k = h->cfg.k_days ? h->cfg.k_days : 1;
  size_t hist = h->cfg.period * (k + 8);
  eco_intensity *buf = calloc(hist + 2, sizeof *buf);
  double *vals = calloc(hist + 2, sizeof *vals);
  double *fc = NULL;
  if (!buf || !vals) {
    rc = eco_error_set(err, ECO_ENOMEM, "forecast: out of memory");
    goto done;
  }
  size_t m = hist + 2;
  double start = cur.time_s - (double)hist * slot;
  rc = eco_intensity_forecast(h->inner, zone, start, cur.time_s + slot * 0.5, buf, &m, err);
  if (rc == ECO_ERANGE) { /* history starts later: use what exists */
    double first = cur.time_s;
    while (first - slot >= start) {
      eco_intensity probe;
      if (eco_intensity_get(h->inner, zone, first - slot, &probe, NULL)) break;
      first -= slot;
    }
    m = hist + 2;
    rc = eco_intensity_forecast(h->inner, zone, first, cur.time_s + slot * 0.5, buf, &m, err);
  }
  if (rc) goto done;
  /* keep the contiguous run of periods that ends at the current one */
  size_t used = 0;
  for (size_t i = m; i-- > 0;) {
    if (fabs(buf[i].time_s - (cur.time_s - (double)used * slot)) > 1) break;
    used++;
  }
  if (used == 0) {
    rc = eco_error_set(err, ECO_EFORMAT, "forecast: no history for zone %s", zone);
    goto done;
  }
  for (size_t i = 0; i < used; i++)
    vals[i] = buf[m - used + i].gco2_kwh;
  size_t horizon = (size_t)ceil((to_s - cur.time_s) / slot - 1e-9);
  if (horizon == 0) horizon = 1;
  if (horizon > cap) horizon = cap;
  fc = calloc(horizon, sizeof *fc);
  if (!fc) {
    rc = eco_error_set(err, ECO_ENOMEM, "forecast: out of memory");
    goto done;
  }
  rc = eco_forecast_series(&h->cfg, vals, used, used - 1, horizon, fc, err);
  if (rc) goto done;
  for (size_t j = 0; j < horizon; j++) {
    eco_intensity *o = &out[j];
    *o = cur;
    o->gco2_kwh = fc[j];
    o->time_s = cur.time_s + (double)j * slot;
    o->period_s = slot;
    o->estimated = j > 0 || cur.estimated;
    snprintf(o->source, sizeof o->source, "%s:%s", method, cur.source);
  }
  *n = horizon;
done:
  free(buf);
  free(vals);
  free(fc);
  return rc;
}

static void hist_destroy(eco_intensity_provider *p) {
  hist_provider *h = (hist_provider *)p;
  if (h->own) eco_intensity_free(h->inner);
  free(h);
}

static const eco_intensity_vtbl HIST_VT = {.kind = "history-forecast",
                                           .get = hist_get,
                                           .forecast = hist_forecast,
                                           .destroy = hist_destroy};

int eco_intensity_history_forecast_new(eco_intensity_provider *inner, bool own_inner,
                                       const eco_forecast_cfg *cfg, eco_intensity_provider **out,
                                       eco_error *err) {
  if (!inner || !cfg || !out) return eco_error_set(err, ECO_EINVAL, "forecast: NULL argument");
  if (cfg->period == 0) return eco_error_set(err, ECO_EINVAL, "forecast: period 0");
  hist_provider *h = calloc(1, sizeof *h);
  if (!h) return eco_error_set(err, ECO_ENOMEM, "forecast: out of memory");
  h->base.vt = &HIST_VT;
  char method[32];
  eco_forecast_name(cfg, method, sizeof method);
  snprintf(h->base.name, sizeof h->base.name, "%s:%s", method, inner->name);
  h->inner = inner;
  h->own = own_inner;
  h->cfg = *cfg;
  *out = &h->base;
  return 0;
}
