/* The OpenAI Batch API on the router (see batch_api.h). */
#include "router/batch_api.h"

#include "accounting/wire.h"
#include "carbon/forecast.h"
#include "carbon/intensity.h"
#include "router/batchq.h"
#include "policy/shift.h"
#include "util/timeutil.h"

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define MOD          "batch"
#define ZMAX         32
#define MAX_ATTEMPTS 3
#define DOWN_S       5.0 /* s a node is skipped after a connection failure */

typedef struct bnode {
  char url[256];
  char zone[32];
  uint32_t limit;      /* batch requests at once */
  uint32_t max_batch;  /* the node's concurrent sequences */
  uint32_t active;     /* batch requests in flight (under mu) */
  int64_t interactive; /* interactive requests in flight, from the gateway (under mu) */
  double down_until_s; /* monotonic s: skipped after a connection failure (under mu) */
} bnode;

typedef struct zinfo {
  char name[32];
  double energy_j;    /* J per request, configured (router.batch_api.energy_j) */
  double learned_j;   /* J per request, EWMA of the receipts of this zone's batch results (mu) */
  uint64_t n_learned; /* receipts behind learned_j (under mu) */
  double embodied_g;  /* gCO2e per request */
  int64_t capacity;   /* requests per slot */
} zinfo;

typedef struct worker {
  eco_batch_api *b;
  int idx;
  pthread_t th;
  bool started;
} worker;

struct eco_batch_api {
  eco_router_batch_cfg cfg;
  double pue;
  eco_logger log;
  eco_batchq *q; /* event-loop thread's handle */
  bnode *nodes;
  size_t n_nodes;
  zinfo zones[ZMAX];
  size_t n_zones;
  eco_intensity_provider *prov;     /* history forecast wrapper (under prov_mu) */
  eco_intensity_provider *inner;    /* the wrapped provider (owned by prov, or the caller's) */
  bool prefer_inner;                /* inner has a forecast endpoint: use it first */
  eco_intensity_provider *fallback; /* static table, for zones the source lacks */
  double t0_wall, t0_trace, speed;  /* trace time = t0_trace + (wall - t0_wall) * speed, s */
  pthread_mutex_t prov_mu;
  pthread_mutex_t mu; /* nodes[].active, stop */
  pthread_cond_t cv;
  bool stop;
  worker *workers;
  int n_workers;
  worker maint;
};

/* ---- planning ------------------------------------------------------------ */

static double trace_t(const eco_batch_api *b, double wall_s) {
  return b->t0_trace + (wall_s - b->t0_wall) * b->speed;
}

/* Forecast of zone over n slots from slot0 (wall clock) into out, gCO2e/kWh
 * (gaps repeat the last value; no forecast at all: the current value). */
static void zone_forecast(eco_batch_api *b, const char *zone, double slot0, size_t n, double *out) {
  eco_error e = {0};
  eco_intensity now_v;
  double cur = 400;
  double from = trace_t(b, slot0), to = trace_t(b, slot0 + (double)n * b->cfg.slot_s);
  /* values of at least 5 minutes */
  size_t cap = (size_t)((to - from) / 300.0) + n + 4, got = cap;
  eco_intensity *v = calloc(cap, sizeof *v);
  pthread_mutex_lock(&b->prov_mu);
  if (eco_intensity_get(b->prov, zone, trace_t(b, eco_time_wall_s()), &now_v, &e) == 0 ||
      eco_intensity_get(b->fallback, zone, eco_time_wall_s(), &now_v, &e) == 0)
    cur = now_v.gco2_kwh;
  /* A configured live provider's forecast endpoint comes first; the
   * history-built forecast is the fallback (and the default for traces). */
  bool have = false;
  if (v && b->prefer_inner && eco_intensity_forecast(b->inner, zone, from, to, v, &got, &e) == 0 &&
      got > 0)
    have = true;
  if (!have) got = cap;
  if (!have && (!v || eco_intensity_forecast(b->prov, zone, from, to, v, &got, &e) != 0)) {
    /* no history yet (a trace replay's first days): the inner provider's
     * own forecast where it has one (for a trace: its future, i.e. perfect) */
    ECO_DEBUG(&b->log, MOD, "history forecast %s: %s", zone, eco_error_text(&e));
    got = cap;
    if (!v || eco_intensity_forecast(b->inner, zone, from, to, v, &got, &e) != 0) got = 0;
  }
  pthread_mutex_unlock(&b->prov_mu);
  if (got > cap) got = cap;
  ECO_DEBUG(&b->log, MOD, "forecast %s: now %.1f g/kWh, %zu values, %s", zone, cur, got,
            got ? v[0].source : "-");
  size_t k = 0; /* values are in time order: one pass */
  double x = cur;
  for (size_t s = 0; s < n; s++) {
    double t = trace_t(b, slot0 + ((double)s + 0.5) * b->cfg.slot_s);
    while (k < got && t >= v[k].time_s + (v[k].period_s > 0 ? v[k].period_s : 3600))
      k++;
    if (k < got && v[k].time_s <= t && v[k].gco2_kwh >= 0) x = v[k].gco2_kwh;
    out[s] = x;
  }
  out[0] = cur;
  free(v);
}

/* Plans n requests due by deadline_s into *assign (malloc'd, n entries),
 * around what the other batches in q (all but self) already hold. */
static double zone_energy(eco_batch_api *b, size_t z);

static int plan(eco_batch_api *b, eco_batchq *q, const char *self, int64_t n, double now,
                double deadline_s, eco_batchq_assign **assign, double *planned_g, double *run_now_g,
                eco_error *err) {
  *assign = NULL;
  double slot0 = floor(now / b->cfg.slot_s) * b->cfg.slot_s;
  size_t dslots = 0;
  double first = 1;
  int rc = eco_shift_window(slot0, b->cfg.slot_s, now, deadline_s, &dslots, &first, err);
  if (rc) return rc;
  if (dslots == 0)
    return eco_error_set(err, ECO_ERANGE,
                         "completion_window too short: no %.0f s planning slot ends before the "
                         "deadline",
                         b->cfg.slot_s);
  size_t nz = b->n_zones;
  eco_shift_zone *zs = calloc(nz, sizeof *zs);
  double *in = calloc(nz * dslots, sizeof *in);
  int64_t *used = calloc(nz * dslots, sizeof *used);
  const char *names[ZMAX];
  eco_shift_plan p = {0}, rn = {0};
  if (!zs || !in || !used) {
    rc = eco_error_set(err, ECO_ENOMEM, "batch: out of memory");
    goto done;
  }
  for (size_t z = 0; z < nz; z++) {
    snprintf(zs[z].name, sizeof zs[z].name, "%s", b->zones[z].name);
    zs[z].energy_j = zone_energy(b, z);
    zs[z].pue = b->pue >= 1 ? b->pue : 1;
    zs[z].embodied_g = b->zones[z].embodied_g;
    zs[z].capacity = b->zones[z].capacity;
    zs[z].interactive_share = b->cfg.interactive_reserve;
    names[z] = b->zones[z].name;
    zone_forecast(b, b->zones[z].name, slot0, dslots, in + z * dslots);
  }
  /* what the other accepted batches already hold */
  if ((rc = eco_batchq_load(q, self, slot0, b->cfg.slot_s, dslots, names, nz, used, err)))
    goto done;
  eco_shift_problem pr = {.n_zones = nz,
                          .n_slots = dslots,
                          .zones = zs,
                          .intensity = in,
                          .used = used,
                          .deadline_slots = dslots,
                          .first_frac = first,
                          .n_requests = n};
  if ((rc = eco_shift_plan_make(&pr, &p, err))) goto done;
  *planned_g = p.predicted_g;
  *run_now_g = eco_shift_plan_run_now(&pr, &rn, NULL) == 0 ? rn.predicted_g : p.run_now_g;
  rc = eco_batchq_assign_from_plan(&p, slot0, b->cfg.slot_s, now, names, nz, assign, err);
done:
  eco_shift_plan_free(&p);
  eco_shift_plan_free(&rn);
  free(zs);
  free(in);
  free(used);
  return rc;
}

static void replan_all(eco_batch_api *b, eco_batchq *q) {
  char(*ids)[ECO_BATCHQ_ID_MAX] = NULL;
  size_t n = 0;
  eco_error e = {0};
  if (eco_batchq_batch_list(q, NULL, 1000, true, &ids, &n, &e)) return;
  for (size_t i = 0; i < n; i++) {
    eco_batchq_batch bt;
    int64_t pend = 0;
    if (eco_batchq_batch_get(q, ids[i], &bt, &e)) continue;
    double deadline = (double)bt.expires_at;
    eco_batchq_batch_clear(&bt);
    if (eco_batchq_count_pending(q, ids[i], &pend, &e) || pend == 0) continue;
    eco_batchq_assign *as = NULL;
    double pg = 0, rg = 0;
    if (plan(b, q, ids[i], pend, eco_time_wall_s(), deadline, &as, &pg, &rg, &e) == 0 &&
        eco_batchq_reassign(q, ids[i], as, (size_t)pend, &e) == 0)
      ECO_DEBUG(&b->log, MOD, "replanned %s: %lld pending, %.4g g predicted", ids[i],
                (long long)pend, pg);
    else /* the old plan stays (it was feasible when accepted) */
      ECO_DEBUG(&b->log, MOD, "replan %s kept: %s", ids[i], eco_error_text(&e));
    free(as);
  }
  free(ids);
}

/* ---- dispatcher ---------------------------------------------------------- */

static bool wait_stop(eco_batch_api *b, double s) {
  pthread_mutex_lock(&b->mu);
  if (!b->stop) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double t = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + s;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - floor(t)) * 1e9);
    pthread_cond_timedwait(&b->cv, &b->mu, &ts);
  }
  bool st = b->stop;
  pthread_mutex_unlock(&b->mu);
  return st;
}

/* A node of zone (any zone when none of zone is up) with a free batch slot,
 * the least loaded first; -1 = none free now. */
static int node_take(eco_batch_api *b, const char *zone) {
  int pick = -1;
  double now = (double)eco_time_mono_ns() / 1e9;
  pthread_mutex_lock(&b->mu);
  bool zone_up = false;
  for (size_t i = 0; i < b->n_nodes; i++)
    if (b->nodes[i].down_until_s <= now && strcasecmp(b->nodes[i].zone, zone) == 0) zone_up = true;
  for (size_t i = 0; i < b->n_nodes; i++) {
    bnode *n = &b->nodes[i];
    if (n->down_until_s > now || (zone_up && strcasecmp(n->zone, zone) != 0)) continue;
    if (n->active >= n->limit) continue;
    if (n->active > 0 && (int64_t)n->active + n->interactive >= (int64_t)n->max_batch) continue;
    if (pick < 0 || n->active < b->nodes[pick].active) pick = (int)i;
  }
  if (pick >= 0) b->nodes[pick].active++;
  pthread_mutex_unlock(&b->mu);
  return pick;
}

void eco_batch_api_interactive(eco_batch_api *b, const char *node_url, int delta) {
  if (!b || !node_url) return;
  pthread_mutex_lock(&b->mu);
  for (size_t i = 0; i < b->n_nodes; i++)
    if (strcmp(b->nodes[i].url, node_url) == 0) {
      b->nodes[i].interactive += delta;
      if (b->nodes[i].interactive < 0) b->nodes[i].interactive = 0;
      break;
    }
  pthread_mutex_unlock(&b->mu);
}

static void node_give(eco_batch_api *b, int i, bool failed) {
  pthread_mutex_lock(&b->mu);
  b->nodes[i].active--;
  if (failed) b->nodes[i].down_until_s = (double)eco_time_mono_ns() / 1e9 + DOWN_S;
  pthread_mutex_unlock(&b->mu);
}

typedef struct rbuf {
  char *p;
  size_t n;
} rbuf;

static size_t on_data(char *d, size_t sz, size_t nm, void *arg) {
  rbuf *r = arg;
  size_t k = sz * nm;
  if (r->n + k > (64u << 20)) return 0;
  char *np = realloc(r->p, r->n + k + 1);
  if (!np) return 0;
  memcpy(np + r->n, d, k);
  r->n += k;
  np[r->n] = '\0';
  r->p = np;
  return k;
}

/* Aborts a transfer when the router stops (the lease then lapses). */
static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
  (void)dt;
  (void)dn;
  (void)ut;
  (void)un;
  eco_batch_api *b = arg;
  pthread_mutex_lock(&b->mu);
  bool st = b->stop;
  pthread_mutex_unlock(&b->mu);
  return st ? 1 : 0;
}

/* Receipts teach the planner what a batch request really costs in a zone:
 * an EWMA of the energy the nodes measured (usage.carbon.energy_j). The
 * configured value stands until LEARN_MIN receipts have come in. */
#define LEARN_ALPHA 0.2
#define LEARN_MIN   3

static void learn_energy(eco_batch_api *b, const char *zone, double j) {
  if (!(j > 0) || !isfinite(j)) return;
  pthread_mutex_lock(&b->mu);
  for (size_t z = 0; z < b->n_zones; z++) {
    zinfo *zi = &b->zones[z];
    if (strcasecmp(zi->name, zone) != 0) continue;
    zi->learned_j = zi->n_learned ? (1 - LEARN_ALPHA) * zi->learned_j + LEARN_ALPHA * j : j;
    zi->n_learned++;
  }
  pthread_mutex_unlock(&b->mu);
}

/* J per request the planner assumes for zone z. */
static double zone_energy(eco_batch_api *b, size_t z) {
  pthread_mutex_lock(&b->mu);
  const zinfo *zi = &b->zones[z];
  const double j = zi->n_learned >= LEARN_MIN ? zi->learned_j : zi->energy_j;
  pthread_mutex_unlock(&b->mu);
  return j;
}

/* Runs one claimed request; completes it unless it should be retried. */
static void run_one(eco_batch_api *b, eco_batchq *q, CURL *cu, eco_batchq_work *w) {
  int ni;
  double give_up = eco_time_wall_s() + b->cfg.lease_s * 0.5;
  while ((ni = node_take(b, w->zone)) < 0)
    /* all nodes busy: the lease lapses and the request is claimed again */
    if (wait_stop(b, b->cfg.poll_s) || eco_time_wall_s() > give_up) return;
  char url[512];
  snprintf(url, sizeof url, "%s%s", b->nodes[ni].url, w->url);
  rbuf rb = {0};
  struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
  curl_easy_reset(cu);
  curl_easy_setopt(cu, CURLOPT_URL, url);
  curl_easy_setopt(cu, CURLOPT_POSTFIELDS, w->body_json);
  curl_easy_setopt(cu, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(cu, CURLOPT_WRITEDATA, &rb);
  curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(cu, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(cu, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(cu, CURLOPT_XFERINFODATA, b);
  curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS, (long)(b->cfg.lease_s * 1000 * 0.9));
  CURLcode cc = curl_easy_perform(cu);
  long code = 0;
  curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &code);
  curl_slist_free_all(h);
  node_give(b, ni, cc == CURLE_COULDNT_CONNECT || cc == CURLE_OPERATION_TIMEDOUT);
  if (cc == CURLE_ABORTED_BY_CALLBACK) {
    free(rb.p);
    return; /* stopping: not a result */
  }
  bool retry = cc != CURLE_OK || code == 429 || code >= 500;
  if (retry && w->attempt < MAX_ATTEMPTS) {
    ECO_WARN(&b->log, MOD, "%s/%s on %s: %s (attempt %d), retried after the lease", w->batch_id,
             w->custom_id, url, cc != CURLE_OK ? curl_easy_strerror(cc) : "HTTP error", w->attempt);
    free(rb.p);
    return;
  }
  json_t *body = rb.p ? json_loads(rb.p, 0, NULL) : NULL;
  char *receipt = NULL;
  double g = 0;
  const char *rid = NULL;
  if (json_is_object(body)) {
    /* the node's usage.carbon is stored as it came; its numbers feed the totals and the planner */
    json_t *c = json_object_get(json_object_get(body, "usage"), ECO_USAGE_CARBON);
    eco_receipt rc;
    if (eco_receipt_from_json(c, &rc, NULL) == 0) {
      receipt = json_dumps(c, JSON_COMPACT);
      g = rc.total_g;
      if (cc == CURLE_OK && code >= 200 && code < 300)
        learn_energy(b, b->nodes[ni].zone, rc.energy_j);
    }
    rid = json_string_value(json_object_get(body, "id"));
  }
  char msg[256];
  eco_batchq_result r = {.status_code = (int)code,
                         .request_id = rid,
                         .body_json = body ? rb.p : NULL,
                         .receipt_json = receipt,
                         .carbon_g = g};
  if (cc != CURLE_OK || code < 200 || code >= 300) {
    snprintf(msg, sizeof msg, "%s",
             cc != CURLE_OK ? curl_easy_strerror(cc) : "the node answered with an error");
    r.error_code = cc != CURLE_OK ? "node_unreachable" : "request_failed";
    r.error_message = msg;
  }
  bool dup = false;
  eco_error e = {0};
  if (eco_batchq_complete(q, w->batch_id, w->custom_id, &r, eco_time_wall_s(), &dup, &e))
    ECO_WARN(&b->log, MOD, "complete %s/%s: %s", w->batch_id, w->custom_id, eco_error_text(&e));
  json_decref(body);
  free(receipt);
  free(rb.p);
}

static void *worker_main(void *arg) {
  worker *wk = arg;
  eco_batch_api *b = wk->b;
  eco_batchq *q = NULL;
  eco_error e = {0};
  CURL *cu = curl_easy_init();
  if (!cu || eco_batchq_open(b->cfg.db_path, &q, &e)) {
    ECO_ERROR(&b->log, MOD, "worker %d: %s", wk->idx, e.code ? eco_error_text(&e) : "curl");
    goto out;
  }
  char owner[96];
  snprintf(owner, sizeof owner, "router-%ld-%d", (long)getpid(), wk->idx);
  while (!wait_stop(b, 0)) {
    eco_batchq_work *w = NULL;
    size_t n = 0;
    if (eco_batchq_claim(q, owner, eco_time_wall_s(), b->cfg.lease_s, 1, &w, &n, &e) || n == 0) {
      eco_batchq_work_free(w, n);
      if (wait_stop(b, b->cfg.poll_s)) break;
      continue;
    }
    run_one(b, q, cu, &w[0]);
    eco_batchq_work_free(w, n);
  }
out:
  if (cu) curl_easy_cleanup(cu);
  eco_batchq_close(q);
  return NULL;
}

/* The forecasts the last check saw: per zone, FC_SLOTS slots from slot0. */
#define FC_SLOTS 24
typedef struct fc_snapshot {
  bool have;
  double slot0;             /* start of the first slot, wall s */
  double v[ZMAX][FC_SLOTS]; /* gCO2e/kWh */
} fc_snapshot;

/* Re-reads every zone's forecast and compares it, slot by slot (aligned by
 * time), with the last snapshot. True when some slot moved by more than
 * replan_threshold (relative); the snapshot is then replaced. The first
 * call only records. */
static bool forecast_moved(eco_batch_api *b, fc_snapshot *snap, double now) {
  double slot0 = floor(now / b->cfg.slot_s) * b->cfg.slot_s;
  fc_snapshot cur = {.have = true, .slot0 = slot0};
  size_t nz = b->n_zones < ZMAX ? b->n_zones : ZMAX;
  for (size_t z = 0; z < nz; z++)
    zone_forecast(b, b->zones[z].name, slot0, FC_SLOTS, cur.v[z]);
  bool moved = false;
  if (snap->have) {
    long shift = lround((slot0 - snap->slot0) / b->cfg.slot_s);
    for (size_t z = 0; z < nz && !moved; z++) {
      for (long i = 0; i + shift < FC_SLOTS && !moved; i++) {
        if (i + shift < 0) continue;
        double old = snap->v[z][i + shift], nw = cur.v[z][i];
        double base = old > 1 ? old : 1;
        if (fabs(nw - old) / base > b->cfg.replan_threshold) moved = true;
      }
    }
  }
  if (moved || !snap->have || slot0 != snap->slot0) *snap = cur;
  return moved;
}

static void *maint_main(void *arg) {
  worker *wk = arg;
  eco_batch_api *b = wk->b;
  eco_batchq *q = NULL;
  eco_error e = {0};
  if (eco_batchq_open(b->cfg.db_path, &q, &e)) {
    ECO_ERROR(&b->log, MOD, "maintenance: %s", eco_error_text(&e));
    return NULL;
  }
  double next_replan = eco_time_wall_s() + b->cfg.replan_s;
  double next_check = eco_time_wall_s();
  fc_snapshot snap = {0};
  while (!wait_stop(b, b->cfg.poll_s * 5)) {
    int ne = 0;
    double now = eco_time_wall_s();
    eco_batchq_expire(q, now, &ne, &e);
    bool moved = false;
    if (now >= next_check) { /* replan at once when a forecast moved */
      moved = forecast_moved(b, &snap, now);
      next_check = now + b->cfg.forecast_check_s;
    }
    if (moved || now >= next_replan) {
      if (moved) ECO_INFO(&b->log, MOD, "forecast changed: replanning pending batch work");
      replan_all(b, q);
      next_replan = now + b->cfg.replan_s;
    }
  }
  eco_batchq_close(q);
  return NULL;
}

/* ---- HTTP ---------------------------------------------------------------- */

/* One request being answered; code receives the HTTP status sent. */
typedef struct hreq {
  struct evhttp_request *r;
  int code;
} hreq;

static void reply(hreq *req, int code, const char *ctype, const char *body, size_t len) {
  struct evbuffer *o = evbuffer_new();
  if (!o) {
    req->code = 500;
    evhttp_send_error(req->r, 500, NULL);
    return;
  }
  req->code = code;
  evhttp_add_header(evhttp_request_get_output_headers(req->r), "Content-Type", ctype);
  evbuffer_add(o, body, len);
  evhttp_send_reply(req->r, code, code < 300 ? "OK" : "Error", o);
  evbuffer_free(o);
}

static void reply_json(hreq *req, int code, json_t *j) {
  char *s = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(12)) : NULL;
  if (!s) {
    req->code = 500;
    evhttp_send_error(req->r, 500, NULL);
  } else {
    reply(req, code, "application/json", s, strlen(s));
    free(s);
  }
  json_decref(j);
}

static void reply_err(hreq *req, int code, const char *type, const char *ecode, const char *msg) {
  reply_json(req, code, eco_wire_error_json(msg, type, NULL, ecode));
}

static int http_code(int rc) {
  switch (rc) {
  case ECO_ENOENT: return 404;
  case ECO_ESTATE: return 409;
  case ECO_ENOMEM:
  case ECO_EIO:
  case ECO_EINTERNAL: return 500;
  default: return 400;
  }
}

static void reply_rc(hreq *req, int rc, const eco_error *e) {
  int c = http_code(rc);
  reply_err(req, c,
            c == 404   ? "not_found_error"
            : c >= 500 ? "server_error"
                       : "invalid_request_error",
            NULL, eco_error_text(e));
}

/* The request body as a malloc'd NUL-terminated buffer. */
static char *req_body(hreq *req, size_t *len) {
  struct evbuffer *in = evhttp_request_get_input_buffer(req->r);
  *len = evbuffer_get_length(in);
  char *s = malloc(*len + 1);
  if (!s) return NULL;
  evbuffer_copyout(in, s, *len);
  s[*len] = '\0';
  return s;
}

static const void *memfind(const void *h, size_t hn, const void *n, size_t nn) {
  if (nn == 0 || hn < nn) return NULL;
  const char *p = h;
  for (size_t i = 0; i + nn <= hn; i++)
    if (p[i] == *(const char *)n && memcmp(p + i, n, nn) == 0) return p + i;
  return NULL;
}

/* A quoted or bare parameter value (e.g. name="file") from a header line. */
static void hdr_param(const char *h, size_t hl, const char *key, char *out, size_t cap) {
  out[0] = '\0';
  size_t kl = strlen(key);
  for (size_t i = 0; i + kl < hl; i++) {
    if (strncasecmp(h + i, key, kl) != 0 || (i && h[i - 1] != ' ' && h[i - 1] != ';')) continue;
    const char *v = h + i + kl, *end = h + hl;
    bool q = v < end && *v == '"';
    if (q) v++;
    size_t k = 0;
    while (v < end && k + 1 < cap && (q ? *v != '"' : (*v != ';' && *v != ' ' && *v != '\r')))
      out[k++] = *v++;
    out[k] = '\0';
    return;
  }
}

typedef struct part {
  char name[64], filename[256];
  const char *data;
  size_t len;
} part;

/* Splits a multipart/form-data body into up to max parts (RFC 7578). */
static size_t multipart(const char *body, size_t len, const char *boundary, part *parts,
                        size_t max) {
  char delim[128];
  int dl = snprintf(delim, sizeof delim, "--%s", boundary);
  if (dl <= 2 || (size_t)dl >= sizeof delim) return 0;
  size_t n = 0;
  const char *p = memfind(body, len, delim, (size_t)dl), *end = body + len;
  while (p && n < max) {
    p += dl;
    if (end - p >= 2 && p[0] == '-' && p[1] == '-') break;
    if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') p += 2;
    const char *he = memfind(p, (size_t)(end - p), "\r\n\r\n", 4);
    if (!he) break;
    part *pt = &parts[n];
    memset(pt, 0, sizeof *pt);
    for (const char *l = p; l < he;) {
      const char *le = memfind(l, (size_t)(he - l), "\r\n", 2);
      if (!le) le = he;
      if ((size_t)(le - l) > 20 && strncasecmp(l, "Content-Disposition:", 20) == 0) {
        hdr_param(l, (size_t)(le - l), "name=", pt->name, sizeof pt->name);
        hdr_param(l, (size_t)(le - l), "filename=", pt->filename, sizeof pt->filename);
      }
      l = le + 2;
    }
    const char *d = he + 4;
    const char *nx = memfind(d, (size_t)(end - d), delim, (size_t)dl);
    if (!nx) break;
    size_t dlen = (size_t)(nx - d);
    if (dlen >= 2 && d[dlen - 2] == '\r' && d[dlen - 1] == '\n') dlen -= 2;
    pt->data = d;
    pt->len = dlen;
    n++;
    p = nx;
  }
  return n;
}

static const char *query_get(hreq *req, struct evkeyvalq *kv, const char *key) {
  const char *uri = evhttp_request_get_uri(req->r);
  const char *qm = strchr(uri, '?');
  if (!qm) return NULL;
  if (!kv->tqh_first && evhttp_parse_query_str(qm + 1, kv) != 0) return NULL;
  return evhttp_find_header(kv, key);
}

static void files_create(eco_batch_api *b, hreq *req) {
  size_t len = 0;
  char *body = req_body(req, &len);
  struct evkeyvalq kv = {0};
  TAILQ_INIT(&kv);
  if (!body) {
    reply_err(req, 500, "server_error", NULL, "out of memory");
    return;
  }
  const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req->r), "Content-Type");
  char purpose[32] = "", filename[256] = "input.jsonl";
  const char *data = body;
  size_t dlen = len;
  if (ct && strncasecmp(ct, "multipart/form-data", 19) == 0) {
    char boundary[100];
    hdr_param(ct, strlen(ct), "boundary=", boundary, sizeof boundary);
    part parts[8];
    size_t np = boundary[0] ? multipart(body, len, boundary, parts, 8) : 0;
    data = NULL;
    for (size_t i = 0; i < np; i++) {
      if (strcmp(parts[i].name, "purpose") == 0) {
        snprintf(purpose, sizeof purpose, "%.*s", (int)(parts[i].len < 31 ? parts[i].len : 31),
                 parts[i].data);
      } else if (strcmp(parts[i].name, "file") == 0) {
        data = parts[i].data;
        dlen = parts[i].len;
        if (parts[i].filename[0]) snprintf(filename, sizeof filename, "%s", parts[i].filename);
      }
    }
    if (!data) {
      reply_err(req, 400, "invalid_request_error", "missing_file",
                "multipart body needs a 'file' part (and purpose=batch)");
      goto out;
    }
  } else {
    const char *p = query_get(req, &kv, "purpose");
    const char *fn = query_get(req, &kv, "filename");
    if (p) snprintf(purpose, sizeof purpose, "%s", p);
    if (fn) snprintf(filename, sizeof filename, "%s", fn);
  }
  if (strcmp(purpose, "batch") != 0) {
    reply_err(req, 400, "invalid_request_error", "invalid_purpose",
              "purpose must be 'batch' (multipart field, or ?purpose=batch with a raw body)");
    goto out;
  }
  eco_batchq_file f;
  eco_error e = {0};
  int rc = eco_batchq_file_create(b->q, "batch", filename, data, dlen, eco_time_wall_s(), &f, &e);
  if (rc)
    reply_rc(req, rc, &e);
  else
    reply_json(req, 200, eco_batchq_file_json(&f));
out:
  evhttp_clear_headers(&kv);
  free(body);
}

static void batches_create(eco_batch_api *b, hreq *req) {
  size_t len = 0;
  char *raw = req_body(req, &len);
  json_error_t je;
  json_t *j = raw ? json_loadb(raw, len, 0, &je) : NULL;
  free(raw);
  eco_error e = {0};
  eco_batchq_assign *as = NULL;
  char *meta = NULL;
  if (!json_is_object(j)) {
    reply_err(req, 400, "invalid_request_error", NULL, "body must be a JSON object");
    goto out;
  }
  const char *fid = json_string_value(json_object_get(j, "input_file_id"));
  const char *ep = json_string_value(json_object_get(j, "endpoint"));
  const char *win = json_string_value(json_object_get(j, "completion_window"));
  if (!fid || !ep || !win) {
    reply_err(req, 400, "invalid_request_error", NULL,
              "input_file_id, endpoint and completion_window are required strings");
    goto out;
  }
  if (strcmp(ep, "/v1/chat/completions") != 0 && strcmp(ep, "/v1/completions") != 0) {
    reply_err(req, 400, "invalid_request_error", "invalid_endpoint",
              "endpoint must be /v1/chat/completions or /v1/completions");
    goto out;
  }
  json_t *m = json_object_get(j, "metadata");
  if (json_is_object(m)) meta = json_dumps(m, JSON_COMPACT);
  double window = 0, now = eco_time_wall_s(), pg = 0, rg = 0;
  int64_t n = 0;
  int rc = eco_batchq_parse_window(win, &window, &e);
  if (!rc) rc = eco_batchq_validate(b->q, fid, ep, &n, &e);
  if (rc) {
    reply_err(req, rc == ECO_ENOENT ? 404 : 400,
              rc == ECO_ENOENT ? "not_found_error" : "invalid_request_error", NULL,
              eco_error_text(&e));
    goto out;
  }
  if (n == 0) {
    reply_err(req, 400, "invalid_request_error", "empty_file", "the input file has no requests");
    goto out;
  }
  if (b->n_zones == 0) {
    reply_err(req, 400, "invalid_request_error", "no_capacity", "the router has no nodes");
    goto out;
  }
  if ((rc = plan(b, b->q, NULL, n, now, now + window, &as, &pg, &rg, &e))) {
    char msg[600];
    snprintf(msg, sizeof msg, "cannot meet completion_window %s: %s", win, eco_error_text(&e));
    reply_err(req, rc == ECO_ERANGE ? 400 : http_code(rc), "invalid_request_error",
              rc == ECO_ERANGE ? "deadline_infeasible" : NULL, msg);
    goto out;
  }
  eco_batchq_create c = {.input_file_id = fid,
                         .endpoint = ep,
                         .completion_window = win,
                         .metadata_json = meta,
                         .now_s = now,
                         .assign = as,
                         .n_assign = (size_t)n,
                         .planned_g = pg,
                         .run_now_g = rg};
  eco_batchq_batch bt;
  if ((rc = eco_batchq_batch_create(b->q, &c, &bt, &e))) {
    reply_rc(req, rc, &e);
    goto out;
  }
  reply_json(req, 200, eco_batchq_batch_json(&bt));
  eco_batchq_batch_clear(&bt);
out:
  free(as);
  free(meta);
  json_decref(j);
}

static void batches_list(eco_batch_api *b, hreq *req) {
  struct evkeyvalq kv;
  TAILQ_INIT(&kv);
  const char *after = query_get(req, &kv, "after");
  const char *lim = query_get(req, &kv, "limit");
  long limit = lim ? strtol(lim, NULL, 10) : 20;
  if (limit < 1 || limit > 100) limit = 20;
  char(*ids)[ECO_BATCHQ_ID_MAX] = NULL;
  size_t n = 0;
  eco_error e = {0};
  int rc = eco_batchq_batch_list(b->q, after, (size_t)limit + 1, false, &ids, &n, &e);
  if (rc) {
    reply_rc(req, rc, &e);
    evhttp_clear_headers(&kv);
    return;
  }
  bool more = n > (size_t)limit;
  if (more) n = (size_t)limit;
  json_t *data = json_array();
  for (size_t i = 0; i < n; i++) {
    eco_batchq_batch bt;
    if (eco_batchq_batch_get(b->q, ids[i], &bt, &e) == 0) {
      json_array_append_new(data, eco_batchq_batch_json(&bt));
      eco_batchq_batch_clear(&bt);
    }
  }
  reply_json(req, 200,
             json_pack("{s:s,s:o,s:s?,s:s?,s:b}", "object", "list", "data", data, "first_id",
                       n ? ids[0] : NULL, "last_id", n ? ids[n - 1] : NULL, "has_more", more));
  free(ids);
  evhttp_clear_headers(&kv);
}

static void handle(eco_batch_api *b, hreq *req, const char *path);

int eco_batch_api_handle(eco_batch_api *b, struct evhttp_request *r, const char *path) {
  if (strncmp(path, "/v1/files", 9) != 0 && strncmp(path, "/v1/batches", 11) != 0) return 0;
  hreq req = {r, 0};
  handle(b, &req, path);
  return req.code ? req.code : 500;
}

static void handle(eco_batch_api *b, hreq *req, const char *path) {
  if (!b) {
    reply_err(req, 404, "not_found_error", NULL,
              "the Batch API is off on this router (set router.batch_api.db)");
    return;
  }
  enum evhttp_cmd_type cmd = evhttp_request_get_command(req->r);
  bool get = cmd == EVHTTP_REQ_GET, post = cmd == EVHTTP_REQ_POST;
  eco_error e = {0};
  char id[ECO_BATCHQ_ID_MAX] = "", tail[32] = "";
  if (strcmp(path, "/v1/files") == 0) {
    if (post)
      files_create(b, req);
    else
      reply_err(req, 405, "invalid_request_error", NULL, "use POST");
    return;
  }
  if (strcmp(path, "/v1/batches") == 0) {
    if (post)
      batches_create(b, req);
    else if (get)
      batches_list(b, req);
    else
      reply_err(req, 405, "invalid_request_error", NULL, "use GET or POST");
    return;
  }
  bool files = path[4] == 'f';
  const char *rest = path + (files ? 10 : 12);
  size_t il = strcspn(rest, "/");
  if (il == 0 || il >= sizeof id || strlen(rest + il) >= sizeof tail) {
    reply_err(req, 404, "not_found_error", NULL, "no such endpoint");
    return;
  }
  memcpy(id, rest, il);
  snprintf(tail, sizeof tail, "%s", rest + il);
  int rc;
  if (files && get && tail[0] == '\0') {
    eco_batchq_file f;
    if ((rc = eco_batchq_file_get(b->q, id, &f, &e)))
      reply_rc(req, rc, &e);
    else
      reply_json(req, 200, eco_batchq_file_json(&f));
  } else if (files && get && strcmp(tail, "/content") == 0) {
    char *data = NULL;
    size_t len = 0;
    if ((rc = eco_batchq_file_content(b->q, id, &data, &len, &e)))
      reply_rc(req, rc, &e);
    else
      reply(req, 200, "application/jsonl", data, len);
    free(data);
  } else if (!files && get && tail[0] == '\0') {
    eco_batchq_batch bt;
    if ((rc = eco_batchq_batch_get(b->q, id, &bt, &e))) {
      reply_rc(req, rc, &e);
    } else {
      reply_json(req, 200, eco_batchq_batch_json(&bt));
      eco_batchq_batch_clear(&bt);
    }
  } else if (!files && post && strcmp(tail, "/cancel") == 0) {
    eco_batchq_batch bt;
    if ((rc = eco_batchq_cancel(b->q, id, eco_time_wall_s(), &bt, &e))) {
      reply_rc(req, rc, &e);
    } else {
      reply_json(req, 200, eco_batchq_batch_json(&bt));
      eco_batchq_batch_clear(&bt);
    }
  } else {
    reply_err(req, 404, "not_found_error", NULL, "no such endpoint");
  }
}

/* ---- life cycle ---------------------------------------------------------- */

static int prov_init(eco_batch_api *b, const eco_router_cfg *cfg, eco_error *err) {
  eco_static_entry *ents = NULL;
  eco_intensity_provider *inner = NULL;
  int rc;
  if (cfg->n_zones) {
    ents = calloc(cfg->n_zones, sizeof *ents);
    if (!ents) return eco_error_set(err, ECO_ENOMEM, "batch: out of memory");
    for (size_t i = 0; i < cfg->n_zones; i++) {
      ents[i].zone = cfg->zones[i].zone;
      ents[i].gco2_kwh = cfg->zones[i].gco2_kwh;
    }
  }
  b->t0_wall = b->t0_trace = eco_time_wall_s();
  b->speed = 1;
  if (cfg->batch_intensity) {
    /* The shared accounting schema (carbon.provider): the caller built this
     * instance for us. It maps caller time itself (trace replay included),
     * so the planner's clock is the wall clock. */
    if ((rc = eco_intensity_static_new(ents, cfg->n_zones, -1, &b->fallback, err))) {
      free(ents);
      return rc;
    }
    free(ents);
    eco_forecast_cfg fc;
    if ((rc = eco_forecast_parse(b->cfg.forecast, &fc, err))) return rc;
    b->inner = cfg->batch_intensity;
    b->prefer_inner = cfg->batch_intensity_has_forecast;
    return eco_intensity_history_forecast_new(b->inner, false, &fc, &b->prov, err);
  }
  if (cfg->trace_path[0]) {
    /* The gateway replays the trace from its first row at start-up. The
     * planner works in trace time (so the history forecast reads the
     * trace's own past): the same mapping, applied here. */
    eco_trace_opts o;
    eco_trace_opts_default(&o);
    o.replay_origin_s = b->t0_wall;
    o.speed = cfg->trace_speed > 0 ? cfg->trace_speed : 1;
    o.loop = true;
    eco_intensity_provider *rp = NULL;
    if (eco_intensity_trace_open(cfg->trace_path, &o, &rp, err) == 0) {
      b->t0_trace = eco_intensity_trace_time(rp, b->t0_wall);
      b->speed = o.speed;
      eco_intensity_free(rp);
      o.replay_origin_s = 0;
      if (eco_intensity_trace_open(cfg->trace_path, &o, &inner, err) != 0) inner = NULL;
    }
    if (!inner) {
      b->t0_trace = b->t0_wall;
      b->speed = 1;
    }
  }
  /* the static table: the fallback for zones the trace lacks */
  if ((rc = eco_intensity_static_new(ents, cfg->n_zones, -1, &b->fallback, err)) ||
      (!inner && (rc = eco_intensity_static_new(ents, cfg->n_zones, -1, &inner, err)))) {
    free(ents);
    return rc;
  }
  free(ents);
  eco_forecast_cfg fc;
  if ((rc = eco_forecast_parse(b->cfg.forecast, &fc, err))) {
    eco_intensity_free(inner);
    return rc;
  }
  b->inner = inner;
  return eco_intensity_history_forecast_new(inner, true, &fc, &b->prov, err);
}

int eco_batch_api_new(const eco_router_cfg *cfg, const eco_logger *log, eco_batch_api **out,
                      eco_error *err) {
  if (!cfg || !out || !cfg->batch_api.db_path[0])
    return eco_error_set(err, ECO_EINVAL, "batch: no router.batch_api.db");
  *out = NULL;
  eco_batch_api *b = calloc(1, sizeof *b);
  if (!b) return eco_error_set(err, ECO_ENOMEM, "batch: out of memory");
  b->cfg = cfg->batch_api;
  b->pue = cfg->pue;
  if (log)
    b->log = *log;
  else
    eco_log_init(&b->log);
  pthread_mutex_init(&b->prov_mu, NULL);
  pthread_mutex_init(&b->mu, NULL);
  pthread_cond_init(&b->cv, NULL);
  int rc;
  if ((rc = eco_batchq_open(b->cfg.db_path, &b->q, err))) goto fail;
  if ((rc = prov_init(b, cfg, err))) goto fail;
  b->nodes = calloc(cfg->n_nodes ? cfg->n_nodes : 1, sizeof *b->nodes);
  if (!b->nodes) goto oom;
  for (size_t i = 0; i < cfg->n_nodes; i++) {
    const eco_router_node_cfg *nc = &cfg->nodes[i];
    bnode *n = &b->nodes[b->n_nodes++];
    snprintf(n->url, sizeof n->url, "%s", nc->url);
    snprintf(n->zone, sizeof n->zone, "%s", nc->zone);
    double lim = floor((double)nc->max_batch * (1 - b->cfg.interactive_reserve));
    n->limit = lim >= 1 ? (uint32_t)lim : 1;
    n->max_batch = nc->max_batch;
    zinfo *z = NULL;
    for (size_t k = 0; k < b->n_zones; k++)
      if (strcasecmp(b->zones[k].name, nc->zone) == 0) z = &b->zones[k];
    if (!z && b->n_zones < ZMAX) {
      z = &b->zones[b->n_zones++];
      snprintf(z->name, sizeof z->name, "%s", nc->zone);
      z->energy_j = b->cfg.energy_j;
      z->embodied_g = nc->embodied_g_per_s * b->cfg.request_s;
    }
    if (z) z->capacity += (int64_t)floor(nc->max_batch * b->cfg.slot_s / b->cfg.request_s);
  }
  b->n_workers = b->cfg.concurrency;
  b->workers = calloc((size_t)b->n_workers, sizeof *b->workers);
  if (!b->workers) goto oom;
  for (int i = 0; i < b->n_workers; i++) {
    b->workers[i].b = b;
    b->workers[i].idx = i;
    if (pthread_create(&b->workers[i].th, NULL, worker_main, &b->workers[i]) != 0) {
      rc = eco_error_set(err, ECO_ENOMEM, "batch: cannot start a dispatcher thread");
      goto fail;
    }
    b->workers[i].started = true;
  }
  b->maint.b = b;
  if (pthread_create(&b->maint.th, NULL, maint_main, &b->maint) != 0) {
    rc = eco_error_set(err, ECO_ENOMEM, "batch: cannot start the maintenance thread");
    goto fail;
  }
  b->maint.started = true;
  ECO_INFO(&b->log, MOD, "Batch API on (db %s, %d dispatchers, interactive reserve %.2f)",
           b->cfg.db_path, b->n_workers, b->cfg.interactive_reserve);
  *out = b;
  return 0;
oom:
  rc = eco_error_set(err, ECO_ENOMEM, "batch: out of memory");
fail:
  eco_batch_api_free(b);
  return rc;
}

void eco_batch_api_free(eco_batch_api *b) {
  if (!b) return;
  pthread_mutex_lock(&b->mu);
  b->stop = true;
  pthread_cond_broadcast(&b->cv);
  pthread_mutex_unlock(&b->mu);
  for (int i = 0; i < b->n_workers; i++)
    if (b->workers[i].started) pthread_join(b->workers[i].th, NULL);
  if (b->maint.started) pthread_join(b->maint.th, NULL);
  free(b->workers);
  free(b->nodes);
  eco_intensity_free(b->prov);
  eco_intensity_free(b->fallback);
  eco_batchq_close(b->q);
  pthread_mutex_destroy(&b->prov_mu);
  pthread_mutex_destroy(&b->mu);
  pthread_cond_destroy(&b->cv);
  free(b);
}
