/* ecoinfer router: API keys on the public listener (router.api_keys, with
 * per-key rate limits) and the nodes' upstream keys (see gw_internal.h and
 * docs/router.md "Security"). */
#include "router/gw_internal.h"

#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The dashboard's check: a browser cannot set headers on EventSource, so
 * the page passes ?key= on to its API calls. */
static bool dash_auth(struct evhttp_request *req, void *arg) {
  gw *g = arg;
  return gw_authorized(g, req);
}

int gw_auth_init(gw *g, const eco_router_cfg *cfg, eco_error *err) {
  for (size_t i = 0; i < cfg->n_api_keys; i++) {
    const eco_router_key_cfg *k = &cfg->api_keys[i];
    if (eco_auth_add(&g->auth, k->key, k->name, k->rate_per_s, k->burst) != 0)
      return eco_error_set(err, ECO_ECONFIG, "router.api_keys: key '%s' is not usable", k->name);
  }
  g->cfg.api_keys = NULL; /* the caller's; the digests are kept */
  g->cfg.n_api_keys = 0;
  if (eco_auth_on(&g->auth) && cfg->protect_metrics) eco_dash_set_auth(g->dash, dash_auth, g);
  if (eco_auth_on(&g->auth))
    ECO_INFO(&g->log, MOD, "%zu API key(s): /v1/*%s need Authorization: Bearer", g->auth.n,
             cfg->protect_metrics ? ", /metrics and /dashboard" : "");
  return 0;
}

/* The ?key= query parameter (the dashboard only). */
static const char *query_key(struct evhttp_request *req, char *buf, size_t cap) {
  const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
  const char *q = u ? evhttp_uri_get_query(u) : NULL;
  if (!q) return NULL;
  struct evkeyvalq kv = {0};
  if (evhttp_parse_query_str(q, &kv) != 0) return NULL;
  const char *k = evhttp_find_header(&kv, "key");
  const char *out = NULL;
  if (k && strlen(k) < cap) {
    snprintf(buf, cap, "%s", k);
    out = buf;
  }
  evhttp_clear_headers(&kv);
  return out;
}

bool gw_authorized(gw *g, struct evhttp_request *req) {
  if (!eco_auth_on(&g->auth)) return true;
  const char *a = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
  char qb[300];
  const char *uri = evhttp_request_get_uri(req);
  const char *qk = strncmp(uri, "/dashboard", 10) == 0 ? query_key(req, qb, sizeof qb) : NULL;
  size_t idx = 0;
  double retry = 0;
  eco_auth_result res = eco_auth_check(&g->auth, a, qk, mono_s(), &idx, &retry);
  if (res == ECO_AUTH_OK) return true;
  if (res == ECO_AUTH_LIMITED) {
    g->auth_limited++;
    char ra[32], msg[160];
    snprintf(ra, sizeof ra, "%d", (int)retry + 1);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", ra);
    snprintf(msg, sizeof msg, "rate limit of API key '%s' reached: retry in %.1f s",
             g->auth.keys[idx].name, retry);
    gw_send_error_code(g, req, 429, "rate_limit_error", NULL, "rate_limit_exceeded", msg);
    return false;
  }
  g->auth_refused++;
  evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate", "Bearer");
  gw_send_error_code(g, req, 401, "invalid_request_error", NULL, "invalid_api_key",
                     res == ECO_AUTH_MISSING ? "missing API key: send Authorization: Bearer KEY"
                                             : "incorrect API key provided");
  return false;
}

void gw_upstream_auth(const node *n, struct evkeyvalq *h) {
  if (!n->cfg.api_key[0]) return;
  char v[300];
  snprintf(v, sizeof v, "Bearer %s", n->cfg.api_key);
  evhttp_remove_header(h, "Authorization");
  evhttp_add_header(h, "Authorization", v);
}
