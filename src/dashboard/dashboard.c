#include "dashboard/dashboard.h"

#include "accounting/wire.h"
#include "util/timeutil.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Embedded page, generated at build time (cmake/embed.cmake). */
extern const unsigned char eco_dashboard_html[];
extern const unsigned long eco_dashboard_html_len;

#define DASH_MAX_DECISIONS 200
#define DASH_BUCKET_S      5.0 /* width of one time-series bucket, s */
#define DASH_BUCKETS       240 /* 20 minutes of history */
#define DASH_LAT_SAMPLES   64  /* latencies kept per bucket for percentiles */
#define DASH_MAX_POLICIES  8
#define DASH_MAX_ZONES     64
#define DASH_MAX_NODES     1024

typedef struct bucket {
  double t0;  /* bucket start, epoch s; 0 = empty */
  uint32_t n; /* requests completed */
  double lat_ms[DASH_LAT_SAMPLES];
  uint32_t n_lat;
  double saved_g; /* predicted saving in this bucket, gCO2e */
  char policy[DASH_MAX_POLICIES][24];
  double pol_g[DASH_MAX_POLICIES];   /* carbon by policy, gCO2e */
  uint32_t pol_n[DASH_MAX_POLICIES]; /* requests by policy */
} bucket;

typedef struct sse_client {
  struct evhttp_request *req;
  struct sse_client *next;
  eco_dash *d;
} sse_client;

struct eco_dash {
  pthread_mutex_t mu;
  eco_dash_auth_fn auth; /* NULL = open */
  void *auth_arg;
  char role[16];
  eco_dash_zone *zones;
  size_t n_zones;
  eco_dash_node *nodes;
  size_t n_nodes;
  double mix[8];
  char levels[8][48];
  size_t n_levels;
  double quality_floor;
  char eval[320];                            /* the quality loop's status line, "" = none */
  eco_dash_decision dec[DASH_MAX_DECISIONS]; /* ring */
  uint64_t n_dec_total;                      /* decisions ever recorded (seq) */
  bucket buckets[DASH_BUCKETS];              /* ring by floor(t / width) */
  double total_g, total_saved_g, total_tokens, total_out_tokens;
  double lever_g[4]; /* saved by routing, directives, shifting; evaluation overhead, gCO2e */
  bool any_levers;   /* some decision carried savings by lever */
  /* SSE, loop thread only */
  struct event_base *base;
  struct event *timer;
  sse_client *clients;
  uint64_t pushed_seq; /* decisions up to this seq were pushed */
  char prefix[64];
};

int eco_dash_new(const char *role, eco_dash **out) {
  eco_dash *d = calloc(1, sizeof *d);
  if (!d) return ECO_ENOMEM;
  pthread_mutex_init(&d->mu, NULL);
  snprintf(d->role, sizeof d->role, "%s", role ? role : "router");
  *out = d;
  return ECO_OK;
}

static void client_closed(struct evhttp_connection *c, void *arg);

void eco_dash_free(eco_dash *d) {
  if (!d) return;
  if (d->timer) event_free(d->timer);
  sse_client *c = d->clients;
  while (c) {
    sse_client *n = c->next;
    struct evhttp_connection *conn = evhttp_request_get_connection(c->req);
    if (conn) evhttp_connection_set_closecb(conn, NULL, NULL);
    free(c);
    c = n;
  }
  free(d->zones);
  free(d->nodes);
  pthread_mutex_destroy(&d->mu);
  free(d);
}

int eco_dash_set_zone(eco_dash *d, const eco_dash_zone *z) {
  int rc = ECO_OK;
  pthread_mutex_lock(&d->mu);
  size_t i = 0;
  while (i < d->n_zones && strcmp(d->zones[i].zone, z->zone) != 0)
    i++;
  if (i == d->n_zones) {
    eco_dash_zone *nz;
    if (d->n_zones >= DASH_MAX_ZONES || !(nz = realloc(d->zones, (d->n_zones + 1) * sizeof *nz))) {
      rc = ECO_ENOMEM;
      goto out;
    }
    d->zones = nz;
    d->n_zones++;
  }
  d->zones[i] = *z;
  if (d->zones[i].n_forecast > ECO_DASH_FORECAST_MAX)
    d->zones[i].n_forecast = ECO_DASH_FORECAST_MAX;
out:
  pthread_mutex_unlock(&d->mu);
  return rc;
}

int eco_dash_set_node(eco_dash *d, const eco_dash_node *n) {
  int rc = ECO_OK;
  pthread_mutex_lock(&d->mu);
  size_t i = 0;
  while (i < d->n_nodes && strcmp(d->nodes[i].id, n->id) != 0)
    i++;
  if (i == d->n_nodes) {
    eco_dash_node *nn;
    if (d->n_nodes >= DASH_MAX_NODES || !(nn = realloc(d->nodes, (d->n_nodes + 1) * sizeof *nn))) {
      rc = ECO_ENOMEM;
      goto out;
    }
    d->nodes = nn;
    d->n_nodes++;
  }
  d->nodes[i] = *n;
out:
  pthread_mutex_unlock(&d->mu);
  return rc;
}

int eco_dash_remove_node(eco_dash *d, const char *id) {
  int rc = ECO_ENOENT;
  pthread_mutex_lock(&d->mu);
  for (size_t i = 0; i < d->n_nodes; i++) {
    if (strcmp(d->nodes[i].id, id) == 0) {
      memmove(&d->nodes[i], &d->nodes[i + 1], (d->n_nodes - i - 1) * sizeof *d->nodes);
      d->n_nodes--;
      rc = ECO_OK;
      break;
    }
  }
  pthread_mutex_unlock(&d->mu);
  return rc;
}

int eco_dash_set_directives(eco_dash *d, const double *mix, const char *const *levels, size_t n,
                            double quality_floor) {
  if (n > 8) return ECO_EINVAL;
  pthread_mutex_lock(&d->mu);
  d->n_levels = n;
  for (size_t i = 0; i < n; i++) {
    d->mix[i] = mix[i];
    snprintf(d->levels[i], sizeof d->levels[i], "%s", levels && levels[i] ? levels[i] : "");
  }
  d->quality_floor = quality_floor;
  pthread_mutex_unlock(&d->mu);
  return ECO_OK;
}

int eco_dash_set_eval(eco_dash *d, const char *status) {
  if (!d) return ECO_EINVAL;
  pthread_mutex_lock(&d->mu);
  snprintf(d->eval, sizeof d->eval, "%s", status ? status : "");
  pthread_mutex_unlock(&d->mu);
  return ECO_OK;
}

static bucket *bucket_for(eco_dash *d, double t) {
  double t0 = floor(t / DASH_BUCKET_S) * DASH_BUCKET_S;
  long idx = (long)fmod(t0 / DASH_BUCKET_S, DASH_BUCKETS);
  if (idx < 0) idx += DASH_BUCKETS;
  bucket *b = &d->buckets[idx];
  if (b->t0 != t0) {
    memset(b, 0, sizeof *b);
    b->t0 = t0;
  }
  return b;
}

int eco_dash_record(eco_dash *d, const eco_dash_decision *dec) {
  if (!d || !dec || !isfinite(dec->t)) return ECO_EINVAL;
  pthread_mutex_lock(&d->mu);
  d->dec[d->n_dec_total % DASH_MAX_DECISIONS] = *dec;
  d->n_dec_total++;
  bucket *b = bucket_for(d, dec->t);
  b->n++;
  /* latency percentiles are the interactive requests' (a batch request's
   * latency is its deferral) */
  bool interactive = !dec->kind[0] || strcmp(dec->kind, "request") == 0;
  if (interactive && isfinite(dec->latency_ms)) {
    if (b->n_lat < DASH_LAT_SAMPLES)
      b->lat_ms[b->n_lat++] = dec->latency_ms;
    else
      b->lat_ms[b->n % DASH_LAT_SAMPLES] = dec->latency_ms; /* keep a recent sample */
  }
  double saved = dec->counterfactual_g >= 0 ? dec->counterfactual_g - dec->predicted_g : 0;
  if (strcmp(dec->kind, "eval") == 0) {
    saved = -dec->receipt.total_g; /* the quality loop's overhead counts against the savings */
    d->lever_g[3] += dec->receipt.total_g;
  } else if (dec->levers) {
    saved = 0;
    for (int k = 0; k < 3; k++) {
      double x = isfinite(dec->saved_g[k]) ? dec->saved_g[k] : 0;
      d->lever_g[k] += x;
      saved += x;
    }
    d->any_levers = true;
  }
  b->saved_g += saved;
  int p = 0;
  while (p < DASH_MAX_POLICIES && b->policy[p][0] && strcmp(b->policy[p], dec->policy) != 0)
    p++;
  if (p < DASH_MAX_POLICIES) {
    snprintf(b->policy[p], sizeof b->policy[p], "%s", dec->policy);
    b->pol_g[p] += dec->receipt.total_g;
    b->pol_n[p]++;
  }
  d->total_g += dec->receipt.total_g;
  d->total_saved_g += saved;
  d->total_tokens += dec->tokens;
  d->total_out_tokens += dec->output_tokens;
  pthread_mutex_unlock(&d->mu);
  return ECO_OK;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double percentile(const double *v, uint32_t n, double q) {
  if (n == 0) return NAN;
  double tmp[DASH_LAT_SAMPLES];
  memcpy(tmp, v, n * sizeof *v);
  qsort(tmp, n, sizeof *tmp, cmp_double);
  size_t k = (size_t)ceil(q * n) - 1;
  if (k >= n) k = n - 1;
  return tmp[k];
}

static json_t *num(double x) { return isfinite(x) ? json_real(x) : json_null(); }

static json_t *decision_json(const eco_dash_decision *x, uint64_t seq) {
  json_t *o = json_pack("{s:I,s:o,s:s,s:s,s:s,s:o,s:I,s:I,s:o,s:o,s:o,s:i,s:s}", "seq",
                        (json_int_t)seq, "t", num(x->t), "request_id", x->request_id, "policy",
                        x->policy, "node", x->node, "latency_ms", num(x->latency_ms), "tokens",
                        (json_int_t)x->tokens, "output_tokens", (json_int_t)x->output_tokens,
                        "predicted_g", num(x->predicted_g), "counterfactual_g",
                        x->counterfactual_g >= 0 ? num(x->counterfactual_g) : json_null(),
                        "receipt", eco_receipt_to_json(&x->receipt), "directive_level",
                        x->directive_level, "kind", x->kind[0] ? x->kind : "request");
  if (o && x->levers)
    json_object_set_new(o, "saved_g",
                        json_pack("{s:o,s:o,s:o}", "routing", num(x->saved_g[0]), "directives",
                                  num(x->saved_g[1]), "shifting", num(x->saved_g[2])));
  return o;
}

/* The zones with their forecasts, and the nodes. Caller holds d->mu. */
static void zones_nodes_locked(const eco_dash *d, json_t *root) {
  json_t *zones = json_array();
  for (size_t i = 0; i < d->n_zones; i++) {
    const eco_dash_zone *z = &d->zones[i];
    json_t *fc = json_array();
    for (size_t k = 0; k < z->n_forecast; k++)
      json_array_append_new(fc, json_pack("[o,o]", num(z->forecast_t[k]), num(z->forecast_v[k])));
    json_array_append_new(zones, json_pack("{s:s,s:o,s:s,s:b,s:o}", "zone", z->zone, "gco2_kwh",
                                           num(z->gco2_kwh), "source", z->source, "estimated",
                                           z->estimated, "forecast", fc));
  }
  json_object_set_new(root, "zones", zones);
  json_t *nodes = json_array();
  for (size_t i = 0; i < d->n_nodes; i++) {
    const eco_dash_node *n = &d->nodes[i];
    json_array_append_new(
        nodes,
        json_pack("{s:s,s:s,s:s,s:s,s:b,s:I,s:I,s:o,s:o,s:s,s:o,s:s}", "id", n->id, "device",
                  n->device, "zone", n->zone, "health", n->health, "circuit_open", n->circuit_open,
                  "queue", (json_int_t)n->queue, "batch", (json_int_t)n->batch, "tokens_per_s",
                  num(n->tokens_per_s), "power_w", num(n->power_w), "power_source", n->power_source,
                  "j_per_token", num(n->j_per_token), "energy_source", n->energy_source));
  }
  json_object_set_new(root, "nodes", nodes);
}

/* The policies seen in the window's buckets (from start on), at most DASH_MAX_POLICIES. */
static size_t window_policies(const eco_dash *d, double start, const char **pols) {
  size_t n_pols = 0;
  for (int k = 0; k < DASH_BUCKETS; k++) {
    const bucket *b = &d->buckets[k];
    if (b->t0 < start) continue;
    for (int p = 0; p < DASH_MAX_POLICIES && b->policy[p][0]; p++) {
      size_t q = 0;
      while (q < n_pols && strcmp(pols[q], b->policy[p]) != 0)
        q++;
      if (q == n_pols && n_pols < DASH_MAX_POLICIES) pols[n_pols++] = b->policy[p];
    }
  }
  return n_pols;
}

/* Series: buckets within the window, oldest first. Caller holds d->mu. */
static json_t *series_locked(const eco_dash *d, double now) {
  json_t *t = json_array(), *rps = json_array(), *p50 = json_array(), *p95 = json_array(),
         *saved = json_array(), *gpr = json_object();
  double start = floor(now / DASH_BUCKET_S) * DASH_BUCKET_S - (DASH_BUCKETS - 1) * DASH_BUCKET_S;
  /* cumulative saved: total minus what is newer than each bucket end */
  double in_window = 0;
  for (int k = 0; k < DASH_BUCKETS; k++)
    in_window += d->buckets[k].t0 >= start ? d->buckets[k].saved_g : 0;
  double cum = d->total_saved_g - in_window;
  const char *pols[DASH_MAX_POLICIES];
  size_t n_pols = window_policies(d, start, pols);
  json_t *pol_arr[DASH_MAX_POLICIES];
  for (size_t q = 0; q < n_pols; q++)
    pol_arr[q] = json_array();
  for (int k = 0; k < DASH_BUCKETS; k++) {
    double t0 = start + k * DASH_BUCKET_S;
    if (t0 > now) break;
    long idx = (long)fmod(t0 / DASH_BUCKET_S, DASH_BUCKETS);
    if (idx < 0) idx += DASH_BUCKETS;
    const bucket *b = &d->buckets[idx];
    if (b->t0 != t0 || b->n == 0) continue;
    cum += b->saved_g;
    json_array_append_new(t, json_real(t0));
    json_array_append_new(rps, json_real(b->n / DASH_BUCKET_S));
    json_array_append_new(p50, num(percentile(b->lat_ms, b->n_lat, 0.50)));
    json_array_append_new(p95, num(percentile(b->lat_ms, b->n_lat, 0.95)));
    json_array_append_new(saved, json_real(cum));
    for (size_t q = 0; q < n_pols; q++) {
      int p = 0;
      while (p < DASH_MAX_POLICIES && b->policy[p][0] && strcmp(b->policy[p], pols[q]) != 0)
        p++;
      bool has = p < DASH_MAX_POLICIES && b->policy[p][0] && b->pol_n[p] > 0;
      json_array_append_new(pol_arr[q], has ? json_real(b->pol_g[p] / b->pol_n[p]) : json_null());
    }
  }
  for (size_t q = 0; q < n_pols; q++)
    json_object_set_new(gpr, pols[q], pol_arr[q]);
  return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:f}", "t", t, "rps", rps, "p50_ms", p50, "p95_ms",
                   p95, "saved_g", saved, "g_per_req", gpr, "bucket_s", DASH_BUCKET_S);
}

/* The directive mix, the newest decisions and the totals with the saving by lever. Caller
 * holds d->mu. */
static void directives_totals_locked(const eco_dash *d, json_t *root) {
  json_t *mix = json_array(), *lv = json_array();
  for (size_t i = 0; i < d->n_levels; i++) {
    json_array_append_new(mix, num(d->mix[i]));
    json_array_append_new(lv, json_string(d->levels[i]));
  }
  json_object_set_new(root, "directives",
                      json_pack("{s:o,s:o,s:o,s:s}", "mix", mix, "levels", lv, "quality_floor",
                                num(d->quality_floor), "eval", d->eval));
  json_t *decs = json_array();
  uint64_t n = d->n_dec_total < DASH_MAX_DECISIONS ? d->n_dec_total : DASH_MAX_DECISIONS;
  for (uint64_t k = 0; k < n; k++) {
    uint64_t seq = d->n_dec_total - 1 - k; /* newest first */
    json_array_append_new(decs, decision_json(&d->dec[seq % DASH_MAX_DECISIONS], seq));
  }
  json_object_set_new(root, "decisions", decs);
  double req = (double)d->n_dec_total;
  json_t *tot = json_pack(
      "{s:I,s:o,s:o,s:o,s:o,s:s}", "requests", (json_int_t)d->n_dec_total, "carbon_g",
      num(d->total_g), "g_per_request", req > 0 ? num(d->total_g / req) : json_null(),
      "g_per_1k_tokens",
      d->total_out_tokens > 0 ? num(1000.0 * d->total_g / d->total_out_tokens) : json_null(),
      "saved_g", num(d->total_saved_g), "saved_label",
      d->any_levers ? "routing + directives + shifting - evaluation, against greedy without "
                      "directives, scaled to the measured receipts"
                    : "predicted, against the greedy policy without directives");
  if (tot)
    json_object_set_new(tot, "saved_by_lever",
                        json_pack("{s:o,s:o,s:o,s:o}", "routing", num(d->lever_g[0]), "directives",
                                  num(d->lever_g[1]), "shifting", num(d->lever_g[2]), "evaluation",
                                  num(-d->lever_g[3])));
  json_object_set_new(root, "totals", tot);
}

/* Caller holds d->mu. */
static json_t *state_locked(eco_dash *d, double now) {
  json_t *root = json_object();
  json_object_set_new(root, "role", json_string(d->role));
  json_object_set_new(root, "now", json_real(now));
  zones_nodes_locked(d, root);
  json_object_set_new(root, "series", series_locked(d, now));
  directives_totals_locked(d, root);
  return root;
}

char *eco_dash_state_json(eco_dash *d, double now) {
  pthread_mutex_lock(&d->mu);
  json_t *s = state_locked(d, now);
  pthread_mutex_unlock(&d->mu);
  char *out = json_dumps(s, JSON_COMPACT);
  json_decref(s);
  return out;
}

bool eco_dash_bundled(void) {
  return strstr((const char *)eco_dashboard_html, "data-eco-dashboard=\"unbuilt\"") == NULL;
}

/* ---- HTTP ------------------------------------------------------------- */

static void send_text(struct evhttp_request *req, int code, const char *ctype, const char *body,
                      size_t len) {
  struct evkeyvalq *h = evhttp_request_get_output_headers(req);
  evhttp_add_header(h, "Content-Type", ctype);
  evhttp_add_header(h, "Cache-Control", "no-store");
  struct evbuffer *b = evbuffer_new();
  if (b) evbuffer_add(b, body, len);
  evhttp_send_reply(req, code, code == 200 ? "OK" : "Error", b);
  if (b) evbuffer_free(b);
}

void eco_dash_set_auth(eco_dash *d, eco_dash_auth_fn fn, void *arg) {
  d->auth = fn;
  d->auth_arg = arg;
}

static void on_page(struct evhttp_request *req, void *arg) {
  eco_dash *d = arg;
  if (d->auth && !d->auth(req, d->auth_arg)) return;
  if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
    send_text(req, 405, "text/plain", "GET only\n", 9);
    return;
  }
  send_text(req, 200, "text/html; charset=utf-8", (const char *)eco_dashboard_html,
            (size_t)eco_dashboard_html_len);
}

static void on_state(struct evhttp_request *req, void *arg) {
  eco_dash *d = arg;
  if (d->auth && !d->auth(req, d->auth_arg)) return;
  char *s = eco_dash_state_json(d, eco_time_wall_s());
  if (!s) {
    send_text(req, 500, "application/json", "{\"error\":\"out of memory\"}", 25);
    return;
  }
  send_text(req, 200, "application/json", s, strlen(s));
  free(s);
}

static void client_closed(struct evhttp_connection *c, void *arg) {
  (void)c;
  sse_client *me = arg;
  eco_dash *d = me->d;
  for (sse_client **pp = &d->clients; *pp; pp = &(*pp)->next) {
    if (*pp == me) {
      *pp = me->next;
      break;
    }
  }
  /* When the peer went away mid-stream, libevent detaches the unfinished
   * request from its connection instead of freeing it; ending the reply then
   * frees it. A request still attached (server shutdown) is freed with its
   * connection. */
  if (evhttp_request_get_connection(me->req) == NULL) evhttp_send_reply_end(me->req);
  free(me);
}

static void sse_send(struct evhttp_request *req, const char *event, const char *data) {
  struct evbuffer *b = evbuffer_new();
  if (!b) return;
  evbuffer_add_printf(b, "event: %s\ndata: %s\n\n", event, data);
  evhttp_send_reply_chunk(req, b);
  evbuffer_free(b);
}

static void on_events(struct evhttp_request *req, void *arg) {
  eco_dash *d = arg;
  if (d->auth && !d->auth(req, d->auth_arg)) return;
  sse_client *c = calloc(1, sizeof *c);
  if (!c) {
    send_text(req, 503, "text/plain", "busy\n", 5);
    return;
  }
  c->req = req;
  c->d = d;
  struct evkeyvalq *h = evhttp_request_get_output_headers(req);
  evhttp_add_header(h, "Content-Type", "text/event-stream");
  evhttp_add_header(h, "Cache-Control", "no-store");
  evhttp_send_reply_start(req, 200, "OK");
  evhttp_connection_set_closecb(evhttp_request_get_connection(req), client_closed, c);
  c->next = d->clients;
  d->clients = c;
  char *s = eco_dash_state_json(d, eco_time_wall_s());
  if (s) {
    sse_send(req, "state", s);
    free(s);
  }
}

static void on_tick(evutil_socket_t fd, short ev, void *arg) {
  (void)fd;
  (void)ev;
  eco_dash *d = arg;
  pthread_mutex_lock(&d->mu);
  if (!d->clients) {
    d->pushed_seq = d->n_dec_total;
    pthread_mutex_unlock(&d->mu);
    return;
  }
  /* New decisions first, then the whole state. */
  uint64_t from = d->pushed_seq;
  if (d->n_dec_total > DASH_MAX_DECISIONS && from < d->n_dec_total - DASH_MAX_DECISIONS)
    from = d->n_dec_total - DASH_MAX_DECISIONS;
  json_t *arr = json_array();
  for (uint64_t s = from; s < d->n_dec_total; s++)
    json_array_append_new(arr, decision_json(&d->dec[s % DASH_MAX_DECISIONS], s));
  d->pushed_seq = d->n_dec_total;
  json_t *st = state_locked(d, eco_time_wall_s());
  pthread_mutex_unlock(&d->mu);
  char *state = json_dumps(st, JSON_COMPACT);
  json_decref(st);
  for (sse_client *c = d->clients; c; c = c->next) {
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x) {
      char *s = json_dumps(x, JSON_COMPACT);
      if (s) {
        sse_send(c->req, "decision", s);
        free(s);
      }
    }
    if (state) sse_send(c->req, "state", state);
  }
  free(state);
  json_decref(arr);
}

int eco_dash_attach(eco_dash *d, struct event_base *base, struct evhttp *http, const char *prefix,
                    double interval_s) {
  if (!d || !base || !http || !prefix || strlen(prefix) + 16 > sizeof d->prefix) return ECO_EINVAL;
  snprintf(d->prefix, sizeof d->prefix, "%s", prefix);
  char path[96];
  snprintf(path, sizeof path, "%s", prefix);
  if (evhttp_set_cb(http, path, on_page, d) != 0) return ECO_EINVAL;
  snprintf(path, sizeof path, "%s/", prefix);
  evhttp_set_cb(http, path, on_page, d);
  snprintf(path, sizeof path, "%s/api/state", prefix);
  if (evhttp_set_cb(http, path, on_state, d) != 0) return ECO_EINVAL;
  snprintf(path, sizeof path, "%s/api/events", prefix);
  if (evhttp_set_cb(http, path, on_events, d) != 0) return ECO_EINVAL;
  d->base = base;
  d->timer = event_new(base, -1, EV_PERSIST, on_tick, d);
  if (!d->timer) return ECO_ENOMEM;
  if (interval_s <= 0) interval_s = 1.0;
  struct timeval tv = {(time_t)interval_s, (suseconds_t)((interval_s - (time_t)interval_s) * 1e6)};
  event_add(d->timer, &tv);
  return ECO_OK;
}
