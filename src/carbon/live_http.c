/* ecoinfer: HTTP for the live carbon-intensity providers (libcurl + jansson): timeouts,
 * in-call retries, the backoff gate, the providers' auth and token handling. */
#include "carbon/live_internal.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

double eco_live_now(const live *L) {
  return L->o.clock ? L->o.clock(L->o.clock_user) : eco_time_wall_s();
}

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

/* The backoff gate: ECO_EAGAIN while the provider waits after failures. */
static int backoff_gate(live *L, eco_error *err) {
  double now = eco_live_now(L);
  pthread_mutex_lock(&L->mu);
  if (now < L->retry_at) {
    double wait = L->retry_at - now;
    int fails = L->fails;
    pthread_mutex_unlock(&L->mu);
    return eco_error_set(err, ECO_EAGAIN, "%s: backing off for %.0f s after %d failure(s)",
                         L->base.name, wait, fails);
  }
  pthread_mutex_unlock(&L->mu);
  return 0;
}

/* The request's headers: the provider's auth, and Accept. */
static struct curl_slist *auth_headers(live *L) {
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
  return curl_slist_append(h, "Accept: application/json");
}

/* Maps an answer (other than a WattTime token expiry) to the JSON or an ECO_E* code; sets
 * *stop when retrying cannot help. */
static int answer(live *L, const char *path_query, long status, const resp *r, json_t **out,
                  double *retry_after, bool *stop, eco_error *err) {
  if (status == 200) {
    json_error_t je;
    *out = json_loads(eco_sb_str(&r->body), 0, &je);
    if (!*out)
      return eco_error_set(err, ECO_EFORMAT, "%s: %s: malformed JSON: %s (line %d)", L->base.name,
                           path_query, je.text, je.line);
    return ECO_OK;
  }
  if (status == 401 || status == 403)
    return eco_error_set(err, ECO_EACCES, "%s: %s: HTTP %ld: check the token", L->base.name,
                         path_query, status);
  if (status == 429) {
    *retry_after = r->retry_after_s;
    return eco_error_set(err, ECO_EBUSY, "%s: %s: HTTP 429 rate limited", L->base.name, path_query);
  }
  *stop = status < 500; /* 4xx other than 429: retrying will not help */
  return eco_error_set(err, ECO_EHTTP, "%s: %s: HTTP %ld", L->base.name, path_query, status);
}

/* Counts the call's outcome: failures open the backoff gate, exponentially, at least for
 * the server's Retry-After. */
static void record_outcome(live *L, int rc, double retry_after) {
  pthread_mutex_lock(&L->mu);
  if (rc == ECO_OK) {
    L->fails = 0;
    L->retry_at = 0;
  } else {
    L->fails++;
    double d = fmin(L->o.backoff_max_s, L->o.backoff_s * pow(2.0, L->fails - 1));
    if (retry_after > d) d = retry_after;
    L->retry_at = eco_live_now(L) + d;
  }
  pthread_mutex_unlock(&L->mu);
}

int eco_live_fetch_json(live *L, const char *path_query, json_t **out, eco_error *err) {
  *out = NULL;
  int rc = backoff_gate(L, err);
  if (rc) return rc;
  char url[4096];
  snprintf(url, sizeof url, "%s%s", L->base_url, path_query);
  double retry_after = 0;
  bool relogged = false;
  for (int attempt = 0;; attempt++) {
    if (L->kind == K_WATTTIME && !L->token) {
      pthread_mutex_lock(&L->mu);
      bool need = !L->bearer[0];
      pthread_mutex_unlock(&L->mu);
      if (need && (rc = wt_login(L, err))) break;
    }
    struct curl_slist *h = auth_headers(L);
    resp r = {0};
    eco_sb_init(&r.body);
    long status = 0;
    rc = http_get(L, url, h, NULL, &status, &r, err);
    curl_slist_free_all(h);
    bool stop = false;
    if (rc == ECO_OK && (status == 401 || status == 403) && L->kind == K_WATTTIME && L->username &&
        !relogged) {
      /* the token expired (WattTime tokens last 30 min): log in again */
      relogged = true;
      pthread_mutex_lock(&L->mu);
      L->bearer[0] = '\0';
      pthread_mutex_unlock(&L->mu);
      eco_sb_free(&r.body);
      attempt--;
      continue;
    }
    if (rc == ECO_OK) rc = answer(L, path_query, status, &r, out, &retry_after, &stop, err);
    eco_sb_free(&r.body);
    if (stop || rc == ECO_OK || !retryable(rc) || attempt >= L->o.retries) break;
    eco_time_sleep_s(fmin(L->o.backoff_max_s, L->o.backoff_s * pow(2.0, attempt)));
  }
  record_outcome(L, rc, retry_after);
  return rc;
}
