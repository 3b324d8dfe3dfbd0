/* ecoinfer: provider wrappers: the cache and the fallback chain
 * (live -> last known -> forecast -> static). Both are providers. */
#include "carbon/intensity.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Per-zone memory shared by both wrappers. */
typedef struct zone_mem {
  char zone[ECO_ZONE_MAX];
  bool have;          /* last value valid */
  eco_intensity last; /* latest good value */
  double fetched_t;   /* caller time t when it was fetched, epoch s */
  eco_intensity *fc;  /* latest forecast */
  size_t n_fc;
  double fc_until;       /* cache: forecast valid until (end of its first period) */
  double fc_from, fc_to; /* cache: window it was asked for */
} zone_mem;

typedef struct zones {
  zone_mem *z;
  size_t n;
} zones;

static zone_mem *zone_find(zones *zs, const char *zone, bool create) {
  for (size_t i = 0; i < zs->n; i++)
    if (strcasecmp(zs->z[i].zone, zone) == 0) return &zs->z[i];
  if (!create) return NULL;
  zone_mem *nz = realloc(zs->z, (zs->n + 1) * sizeof *nz);
  if (!nz) return NULL;
  zs->z = nz;
  zone_mem *m = &nz[zs->n++];
  memset(m, 0, sizeof *m);
  snprintf(m->zone, sizeof m->zone, "%s", zone);
  return m;
}

static void zones_free(zones *zs) {
  for (size_t i = 0; i < zs->n; i++)
    free(zs->z[i].fc);
  free(zs->z);
}

static int store_forecast(zone_mem *m, const eco_intensity *v, size_t n) {
  eco_intensity *c = malloc((n ? n : 1) * sizeof *c);
  if (!c) return ECO_ENOMEM;
  memcpy(c, v, n * sizeof *c);
  free(m->fc);
  m->fc = c;
  m->n_fc = n;
  return ECO_OK;
}

/* ---- cache ----------------------------------------------------------------- */

typedef struct cache {
  eco_intensity_provider base;
  eco_intensity_provider *inner;
  double ttl_s;
  pthread_mutex_t mu;
  zones zs;
  size_t hits, misses;
} cache;

static bool covers(const eco_intensity *v, double fetched_t, double ttl, double t) {
  if (v->period_s > 0) return v->time_s <= t && t < v->time_s + v->period_s;
  return t >= fetched_t && t < fetched_t + ttl;
}

static int cache_get(eco_intensity_provider *p, const char *zone, double t, eco_intensity *out,
                     eco_error *err) {
  cache *c = (cache *)p;
  pthread_mutex_lock(&c->mu);
  zone_mem *m = zone_find(&c->zs, zone, false);
  if (m && m->have && covers(&m->last, m->fetched_t, c->ttl_s, t)) {
    *out = m->last;
    c->hits++;
    pthread_mutex_unlock(&c->mu);
    return ECO_OK;
  }
  c->misses++;
  pthread_mutex_unlock(&c->mu);
  eco_intensity v;
  int rc = eco_intensity_get(c->inner, zone, t, &v, err);
  if (rc) return rc;
  pthread_mutex_lock(&c->mu);
  m = zone_find(&c->zs, zone, true);
  if (m) {
    m->last = v;
    m->have = true;
    m->fetched_t = t;
  }
  pthread_mutex_unlock(&c->mu);
  *out = v;
  return ECO_OK;
}

static int cache_forecast(eco_intensity_provider *p, const char *zone, double from, double to,
                          eco_intensity *out, size_t *n, eco_error *err) {
  cache *c = (cache *)p;
  size_t cap = *n;
  pthread_mutex_lock(&c->mu);
  zone_mem *m = zone_find(&c->zs, zone, false);
  if (m && m->fc && from >= m->fc_from && to <= m->fc_to && from < m->fc_until) {
    size_t k = 0;
    for (size_t i = 0; i < m->n_fc && k < cap; i++)
      if (m->fc[i].time_s < to && m->fc[i].time_s + m->fc[i].period_s > from) out[k++] = m->fc[i];
    if (k > 0) {
      *n = k;
      c->hits++;
      pthread_mutex_unlock(&c->mu);
      return ECO_OK;
    }
  }
  c->misses++;
  pthread_mutex_unlock(&c->mu);
  int rc = eco_intensity_forecast(c->inner, zone, from, to, out, n, err);
  if (rc || *n == 0) return rc;
  pthread_mutex_lock(&c->mu);
  m = zone_find(&c->zs, zone, true);
  if (m && store_forecast(m, out, *n) == ECO_OK) {
    m->fc_from = from;
    m->fc_to = to;
    m->fc_until = out[0].period_s > 0 ? out[0].time_s + out[0].period_s : from + c->ttl_s;
  }
  pthread_mutex_unlock(&c->mu);
  return ECO_OK;
}

static void cache_destroy(eco_intensity_provider *p) {
  cache *c = (cache *)p;
  eco_intensity_free(c->inner);
  zones_free(&c->zs);
  pthread_mutex_destroy(&c->mu);
  free(c);
}

static const eco_intensity_vtbl cache_vt = {
    .kind = "cache", .get = cache_get, .forecast = cache_forecast, .destroy = cache_destroy};

int eco_intensity_cache_new(eco_intensity_provider *inner, double ttl_s,
                            eco_intensity_provider **out, eco_error *err) {
  if (!inner || !out) return eco_error_set(err, ECO_EINVAL, "cache: invalid argument");
  *out = NULL;
  cache *c = calloc(1, sizeof *c);
  if (!c || pthread_mutex_init(&c->mu, NULL)) {
    free(c);
    return eco_error_set(err, ECO_ENOMEM, "cache: out of memory");
  }
  c->inner = inner;
  c->ttl_s = ttl_s > 0 && isfinite(ttl_s) ? ttl_s : 300;
  c->base.vt = &cache_vt;
  snprintf(c->base.name, sizeof c->base.name, "%s", inner->name);
  *out = &c->base;
  return ECO_OK;
}

/* ---- fallback chain ---------------------------------------------------------- */

typedef struct fallback {
  eco_intensity_provider base;
  eco_intensity_provider *primary, *fallback;
  double max_age_s;
  pthread_mutex_t mu;
  zones zs;
} fallback;

static void prefix_source(eco_intensity *v, const char *prefix) {
  char s[ECO_SOURCE_MAX];
  snprintf(s, sizeof s, "%s%s", prefix, v->source);
  memcpy(v->source, s, sizeof s);
  v->estimated = true;
}

static int fb_get(eco_intensity_provider *p, const char *zone, double t, eco_intensity *out,
                  eco_error *err) {
  fallback *f = (fallback *)p;
  eco_error e1 = {0};
  int rc = eco_intensity_get(f->primary, zone, t, out, &e1);
  pthread_mutex_lock(&f->mu);
  zone_mem *m = zone_find(&f->zs, zone, rc == ECO_OK);
  if (rc == ECO_OK) {
    if (m) {
      m->last = *out;
      m->have = true;
      m->fetched_t = t;
    }
    pthread_mutex_unlock(&f->mu);
    return ECO_OK;
  }
  /* 1. last known, if young enough */
  if (m && m->have && t - m->fetched_t <= f->max_age_s && t >= m->fetched_t - f->max_age_s) {
    *out = m->last;
    pthread_mutex_unlock(&f->mu);
    prefix_source(out, "last-known:");
    return ECO_OK;
  }
  /* 2. a remembered forecast covering t */
  if (m && m->fc)
    for (size_t i = 0; i < m->n_fc; i++)
      if (m->fc[i].time_s <= t && t < m->fc[i].time_s + m->fc[i].period_s) {
        *out = m->fc[i];
        pthread_mutex_unlock(&f->mu);
        prefix_source(out, "forecast:");
        return ECO_OK;
      }
  pthread_mutex_unlock(&f->mu);
  /* 3. ask the primary for a forecast covering t (cheap when it backs off) */
  eco_intensity fc[4];
  size_t n = 4;
  if (eco_intensity_forecast(f->primary, zone, t, t + 1, fc, &n, NULL) == ECO_OK)
    for (size_t i = 0; i < n; i++)
      if (fc[i].time_s <= t && t < fc[i].time_s + fc[i].period_s) {
        *out = fc[i];
        prefix_source(out, "forecast:");
        return ECO_OK;
      }
  /* 4. the fallback provider (static table) */
  rc = f->fallback ? eco_intensity_get(f->fallback, zone, t, out, err) : ECO_ENOENT;
  if (rc == ECO_OK) {
    out->estimated = true;
    return ECO_OK;
  }
  if (err) {
    *err = e1;
    eco_error_prefix(err, "no intensity for zone %s (all fallbacks failed)", zone);
  }
  return e1.code ? e1.code : rc;
}

static int fb_forecast(eco_intensity_provider *p, const char *zone, double from, double to,
                       eco_intensity *out, size_t *n, eco_error *err) {
  fallback *f = (fallback *)p;
  size_t cap = *n;
  int rc = eco_intensity_forecast(f->primary, zone, from, to, out, n, err);
  if (rc == ECO_OK && *n > 0) {
    pthread_mutex_lock(&f->mu);
    zone_mem *m = zone_find(&f->zs, zone, true);
    if (m) store_forecast(m, out, *n);
    pthread_mutex_unlock(&f->mu);
    return ECO_OK;
  }
  /* the remembered forecast, then the fallback provider */
  pthread_mutex_lock(&f->mu);
  zone_mem *m = zone_find(&f->zs, zone, false);
  size_t k = 0;
  if (m && m->fc)
    for (size_t i = 0; i < m->n_fc && k < cap; i++)
      if (m->fc[i].time_s < to && m->fc[i].time_s + m->fc[i].period_s > from) {
        out[k] = m->fc[i];
        prefix_source(&out[k], "forecast:");
        k++;
      }
  pthread_mutex_unlock(&f->mu);
  if (k > 0) {
    *n = k;
    return ECO_OK;
  }
  *n = cap;
  if (!f->fallback) {
    *n = 0;
    return rc;
  }
  return eco_intensity_forecast(f->fallback, zone, from, to, out, n, err);
}

static void fb_destroy(eco_intensity_provider *p) {
  fallback *f = (fallback *)p;
  eco_intensity_free(f->primary);
  eco_intensity_free(f->fallback);
  zones_free(&f->zs);
  pthread_mutex_destroy(&f->mu);
  free(f);
}

static const eco_intensity_vtbl fb_vt = {
    .kind = "fallback", .get = fb_get, .forecast = fb_forecast, .destroy = fb_destroy};

int eco_intensity_fallback_new(eco_intensity_provider *primary, eco_intensity_provider *fb,
                               double max_age_s, eco_intensity_provider **out, eco_error *err) {
  if (!primary || !out) return eco_error_set(err, ECO_EINVAL, "fallback: invalid argument");
  *out = NULL;
  fallback *f = calloc(1, sizeof *f);
  if (!f || pthread_mutex_init(&f->mu, NULL)) {
    free(f);
    return eco_error_set(err, ECO_ENOMEM, "fallback: out of memory");
  }
  f->primary = primary;
  f->fallback = fb;
  f->max_age_s = max_age_s > 0 && isfinite(max_age_s) ? max_age_s : 6 * 3600.0;
  f->base.vt = &fb_vt;
  snprintf(f->base.name, sizeof f->base.name, "%s", primary->name);
  *out = &f->base;
  return ECO_OK;
}
