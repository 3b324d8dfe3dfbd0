/* ecoinfer: live carbon-intensity providers over HTTP (libcurl + jansson):
 * Electricity Maps v3, WattTime v3, UK Carbon Intensity API, GSF Carbon
 * Aware SDK web API. Shared here: timeouts, in-call retries, the backoff
 * gate, token handling, and picking the period that covers a time. */
#include "carbon/intensity.h"
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

#define LIVE_MAX_BODY (16u * 1024u * 1024u)

typedef enum { K_EMAPS, K_WATTTIME, K_UKCI, K_CASDK } live_kind;

typedef struct live {
  eco_intensity_provider base;
  live_kind kind;
  eco_live_opts o; /* strings below are owned copies */
  char *base_url, *token, *username, *password, *emission_factor;
  pthread_mutex_t mu;
  int fails;         /* consecutive failed calls */
  double retry_at;   /* no network before this clock time, epoch s */
  char bearer[2048]; /* WattTime token from /login */
} live;

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

static double live_now(const live *L) {
  return L->o.clock ? L->o.clock(L->o.clock_user) : eco_time_wall_s();
}

/* ---- HTTP ------------------------------------------------------------------ */

typedef struct resp {
  eco_strbuf body;
  double retry_after_s;
} resp;

static size_t on_body(char *p, size_t sz, size_t n, void *u) {
  resp *r = u;
  size_t len = sz * n;
  if (r->body.len + len > LIVE_MAX_BODY) return 0;
  return eco_sb_append(&r->body, p, len) == 0 ? len : 0;
}

static size_t on_header(char *p, size_t sz, size_t n, void *u) {
  resp *r = u;
  size_t len = sz * n;
  if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
    double v = strtod(p + 12, NULL);
    if (v > 0 && isfinite(v)) r->retry_after_s = v;
  }
  return len;
}

/* One HTTP GET. Returns 0 with *status set, or ECO_ETIMEOUT / ECO_ENET. */
static int http_get(live *L, const char *url, struct curl_slist *hdrs, const char *userpwd,
                    long *status, resp *r, eco_error *err) {
  CURL *c = curl_easy_init();
  if (!c) return eco_error_set(err, ECO_ENOMEM, "%s: curl init failed", L->base.name);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(L->o.timeout_s * 1000));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(L->o.connect_timeout_s * 1000));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "ecoinfer/" ECO_VERSION);
  if (hdrs) curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  if (userpwd) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERPWD, userpwd);
  }
  CURLcode cc = curl_easy_perform(c);
  int rc = ECO_OK;
  if (cc == CURLE_OPERATION_TIMEDOUT)
    rc = eco_error_set(err, ECO_ETIMEOUT, "%s: %s: timed out after %.1f s", L->base.name, url,
                       L->o.timeout_s);
  else if (cc != CURLE_OK)
    rc = eco_error_set(err, ECO_ENET, "%s: %s: %s", L->base.name, url, curl_easy_strerror(cc));
  else
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
  curl_easy_cleanup(c);
  return rc;
}

/* WattTime: GET /login with basic auth -> {"token": "..."}. Caller holds no lock. */
static int wt_login(live *L, eco_error *err) {
  if (!L->username || !L->password)
    return eco_error_set(err, ECO_EACCES, "watttime: no token and no username/password");
  char url[2048], up[512];
  snprintf(url, sizeof url, "%s/login", L->base_url);
  snprintf(up, sizeof up, "%s:%s", L->username, L->password);
  resp r = {0};
  eco_sb_init(&r.body);
  long status = 0;
  int rc = http_get(L, url, NULL, up, &status, &r, err);
  if (rc == ECO_OK) {
    if (status == 401 || status == 403)
      rc = eco_error_set(err, ECO_EACCES, "watttime: login refused (HTTP %ld)", status);
    else if (status != 200)
      rc = eco_error_set(err, ECO_EHTTP, "watttime: login: HTTP %ld", status);
    else {
      json_t *j = json_loads(eco_sb_str(&r.body), 0, NULL);
      const char *tok = json_string_value(json_object_get(j, "token"));
      if (!tok || !*tok || strlen(tok) >= sizeof L->bearer)
        rc = eco_error_set(err, ECO_EFORMAT, "watttime: login: no token in the answer");
      else {
        pthread_mutex_lock(&L->mu);
        snprintf(L->bearer, sizeof L->bearer, "%s", tok);
        pthread_mutex_unlock(&L->mu);
      }
      json_decref(j);
    }
  }
  eco_sb_free(&r.body);
  return rc;
}

static bool retryable(int rc) {
  return rc == ECO_EBUSY || rc == ECO_EHTTP || rc == ECO_ETIMEOUT || rc == ECO_ENET;
}

/* GET base_url + path_query, parse JSON. Applies the backoff gate, the
 * provider's auth, retries and status mapping. */
static int fetch_json(live *L, const char *path_query, json_t **out, eco_error *err) {
  *out = NULL;
  double now = live_now(L);
  pthread_mutex_lock(&L->mu);
  if (now < L->retry_at) {
    double wait = L->retry_at - now;
    int fails = L->fails;
    pthread_mutex_unlock(&L->mu);
    return eco_error_set(err, ECO_EAGAIN, "%s: backing off for %.0f s after %d failure(s)",
                         L->base.name, wait, fails);
  }
  pthread_mutex_unlock(&L->mu);

  char url[4096];
  snprintf(url, sizeof url, "%s%s", L->base_url, path_query);
  int rc = ECO_OK;
  double retry_after = 0;
  bool relogged = false;
  for (int attempt = 0;; attempt++) {
    if (L->kind == K_WATTTIME && !L->token) {
      pthread_mutex_lock(&L->mu);
      bool need = !L->bearer[0];
      pthread_mutex_unlock(&L->mu);
      if (need && (rc = wt_login(L, err))) break;
    }
    struct curl_slist *h = NULL;
    char hdr[2200];
    if (L->kind == K_EMAPS && L->token) {
      snprintf(hdr, sizeof hdr, "auth-token: %s", L->token);
      h = curl_slist_append(h, hdr);
    } else if (L->kind == K_WATTTIME) {
      pthread_mutex_lock(&L->mu);
      snprintf(hdr, sizeof hdr, "Authorization: Bearer %s", L->bearer[0] ? L->bearer : L->token);
      pthread_mutex_unlock(&L->mu);
      h = curl_slist_append(h, hdr);
    }
    h = curl_slist_append(h, "Accept: application/json");
    resp r = {0};
    eco_sb_init(&r.body);
    long status = 0;
    rc = http_get(L, url, h, NULL, &status, &r, err);
    curl_slist_free_all(h);
    if (rc == ECO_OK) {
      if (status == 200) {
        json_error_t je;
        *out = json_loads(eco_sb_str(&r.body), 0, &je);
        if (!*out)
          rc = eco_error_set(err, ECO_EFORMAT, "%s: %s: malformed JSON: %s (line %d)", L->base.name,
                             path_query, je.text, je.line);
      } else if ((status == 401 || status == 403) && L->kind == K_WATTTIME && L->username &&
                 !relogged) {
        /* the token expired (WattTime tokens last 30 min): log in again */
        relogged = true;
        pthread_mutex_lock(&L->mu);
        L->bearer[0] = '\0';
        pthread_mutex_unlock(&L->mu);
        eco_sb_free(&r.body);
        attempt--;
        continue;
      } else if (status == 401 || status == 403) {
        rc = eco_error_set(err, ECO_EACCES, "%s: %s: HTTP %ld: check the token", L->base.name,
                           path_query, status);
      } else if (status == 429) {
        retry_after = r.retry_after_s;
        rc = eco_error_set(err, ECO_EBUSY, "%s: %s: HTTP 429 rate limited", L->base.name,
                           path_query);
      } else {
        rc = eco_error_set(err, ECO_EHTTP, "%s: %s: HTTP %ld", L->base.name, path_query, status);
        if (status < 500) {
          eco_sb_free(&r.body);
          break; /* 4xx other than 429: retrying will not help */
        }
      }
    }
    eco_sb_free(&r.body);
    if (rc == ECO_OK || !retryable(rc) || attempt >= L->o.retries) break;
    eco_time_sleep_s(fmin(L->o.backoff_max_s, L->o.backoff_s * pow(2.0, attempt)));
  }
  pthread_mutex_lock(&L->mu);
  if (rc == ECO_OK) {
    L->fails = 0;
    L->retry_at = 0;
  } else {
    L->fails++;
    double d = fmin(L->o.backoff_max_s, L->o.backoff_s * pow(2.0, L->fails - 1));
    if (retry_after > d) d = retry_after;
    L->retry_at = live_now(L) + d;
  }
  pthread_mutex_unlock(&L->mu);
  return rc;
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
  int rc = fetch_json(L, q, &j, err);
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
  double now = live_now(L);
  char q[512], ef[64] = "", ts[40];
  if (L->emission_factor) snprintf(ef, sizeof ef, "&emissionFactorType=%s", L->emission_factor);
  vals a = {0};
  int rc;
  if (fabs(t - now) <= L->o.now_window_s) {
    char *z = esc(zone);
    snprintf(q, sizeof q, "/v3/carbon-intensity/latest?zone=%s%s", z ? z : "", ef);
    curl_free(z);
    json_t *j;
    if ((rc = fetch_json(L, q, &j, err))) return rc;
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
      if ((rc = fetch_json(L, q, &j, err))) return rc;
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
  int rc = fetch_json(L, path_query, &j, err);
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
  double now = live_now(L);
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
  double now = live_now(L);
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
  int rc = fetch_json(L, q, &j, err);
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
  double now = live_now(L);
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
  double now = live_now(L);
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
  int rc = fetch_json(L, q, &j, err);
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
  int rc = fetch_json(L, q, &j, err);
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
