/* ecoinfer router: the Batch API's dispatcher threads (claim, POST to a node,
 * complete) and its maintenance thread (expiry, replans) (see batch_internal.h). */
#include "router/batch_internal.h"

#include "accounting/wire.h"
#include "carbon/ledger.h"
#include "util/timeutil.h"

#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

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
double bapi_zone_energy(eco_batch_api *b, size_t z) {
  pthread_mutex_lock(&b->mu);
  const zinfo *zi = &b->zones[z];
  const double j = zi->n_learned >= LEARN_MIN ? zi->learned_j : zi->energy_j;
  pthread_mutex_unlock(&b->mu);
  return j;
}

/* The router's ledger row of one batch request that succeeded: the node's
 * receipt, and the shifting lever: the batch's run-now and planned
 * predictions per request (an evaluation batch is overhead, no saving). */
static void ledger_row(eco_batch_api *b, eco_batchq *q, const eco_batchq_work *w, const bnode *n,
                       const char *rid, const json_t *body, const eco_receipt *rc) {
  eco_batchq_batch bt;
  eco_error e = {0};
  if (eco_batchq_batch_get(q, w->batch_id, &bt, &e)) return;
  eco_ledger_entry x;
  memset(&x, 0, sizeof x);
  if (rid)
    snprintf(x.request_id, sizeof x.request_id, "%s", rid);
  else
    snprintf(x.request_id, sizeof x.request_id, "%.32s/%.30s", w->batch_id, w->custom_id);
  x.time_s = eco_time_wall_s();
  snprintf(x.node, sizeof x.node, "%s", n->url);
  snprintf(x.zone, sizeof x.zone, "%s", n->zone);
  const char *model = json_string_value(json_object_get(body, "model"));
  snprintf(x.model, sizeof x.model, "%s", model ? model : "");
  const json_t *u = json_object_get(body, "usage");
  x.prompt_tokens = json_integer_value(json_object_get(u, "prompt_tokens"));
  x.output_tokens = json_integer_value(json_object_get(u, "completion_tokens"));
  x.latency_s = x.time_s - (double)bt.created_at;
  const json_t *dl =
      json_object_get(json_object_get(u, ECO_USAGE_CARBON), ECO_CARBON_DIRECTIVE_LEVEL);
  x.directive_level = json_is_integer(dl) ? (int)json_integer_value(dl) : -1;
  snprintf(x.policy, sizeof x.policy, "batch-shift");
  x.receipt = *rc;
  x.recorder = ECO_LEDGER_BY_ROUTER;
  json_t *meta = bt.metadata_json ? json_loads(bt.metadata_json, 0, NULL) : NULL;
  const char *kind = json_string_value(json_object_get(meta, ECO_BATCH_META_KIND));
  x.kind = kind && strcmp(kind, ECO_BATCH_KIND_EVAL) == 0 ? ECO_LEDGER_EVAL : ECO_LEDGER_BATCH;
  json_decref(meta);
  if (x.kind == ECO_LEDGER_BATCH && bt.total > 0 && bt.carbon_run_now_g > 0 &&
      bt.carbon_planned_g > 0) {
    x.facts.predicted_g = bt.carbon_planned_g / (double)bt.total;
    x.facts.counterfactual_g = bt.carbon_run_now_g / (double)bt.total;
    x.facts.saved_shifting_g = x.facts.counterfactual_g - x.facts.predicted_g;
  }
  eco_batchq_batch_clear(&bt);
  if (b->ledger && eco_ledger_append(b->ledger, &x, &e))
    ECO_WARN(&b->log, MOD, "ledger: %s", eco_error_text(&e));
  pthread_mutex_lock(&b->mu);
  eco_batch_row_fn fn = b->observer;
  void *user = b->observer_user;
  pthread_mutex_unlock(&b->mu);
  if (fn) fn(user, &x);
}

/* A body with ECO_BATCH_BODY_LEVEL (batch_api.h): *out gets the body to
 * send (malloc'd; NULL = body as is) and hdr the level's header line for
 * an ecoinfer node ("" = none). */
static void level_body(const eco_batch_api *b, const bnode *n, const char *body, char **out,
                       char *hdr, size_t cap) {
  *out = NULL;
  hdr[0] = '\0';
  if (!strstr(body, ECO_BATCH_BODY_LEVEL)) return;
  json_t *j = json_loads(body, 0, NULL);
  json_t *lv = json_object_get(j, ECO_BATCH_BODY_LEVEL);
  if (!json_is_integer(lv)) {
    json_decref(j);
    return;
  }
  int level = (int)json_integer_value(lv);
  json_object_del(j, ECO_BATCH_BODY_LEVEL);
  size_t len = 0;
  eco_error e = {0};
  if (n->ecoinfer) {
    snprintf(hdr, cap, "%s: %d", ECO_HDR_DIRECTIVE_LEVEL, level);
  } else if (level > 0 && eco_rdir_rewrite_body(&b->dir, level, j, out, &len, &e)) {
    ECO_WARN(&b->log, MOD, "directive level %d: %s (sent at level 0)", level, eco_error_text(&e));
  }
  if (!*out) *out = json_dumps(j, JSON_COMPACT);
  json_decref(j);
}

/* The request's headers: JSON, the node's key, a directive level's; *sent
 * gets the body to send when it differs from body (level_body). */
static struct curl_slist *req_headers(const eco_batch_api *b, const bnode *n, const char *body,
                                      char **sent) {
  char lvh[64];
  level_body(b, n, body, sent, lvh, sizeof lvh);
  struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
  if (n->auth[0]) h = curl_slist_append(h, n->auth);
  if (lvh[0]) h = curl_slist_append(h, lvh);
  return h;
}

/* The transfer of one request: POST body to url, the answer into rb, aborted
 * by a stopping API (on_progress), timed out within the lease. */
static void req_setup(eco_batch_api *b, CURL *cu, const char *url, const char *body,
                      struct curl_slist *h, rbuf *rb) {
  curl_easy_reset(cu);
  curl_easy_setopt(cu, CURLOPT_URL, url);
  curl_easy_setopt(cu, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(cu, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(cu, CURLOPT_WRITEDATA, rb);
  curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(cu, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(cu, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(cu, CURLOPT_XFERINFODATA, b);
  curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS, (long)(b->cfg.lease_s * 1000 * 0.9));
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
  char *sent = NULL;
  struct curl_slist *h = req_headers(b, &b->nodes[ni], w->body_json, &sent);
  req_setup(b, cu, url, sent ? sent : w->body_json, h, &rb);
  CURLcode cc = curl_easy_perform(cu);
  long code = 0;
  double elapsed = 0;
  curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_getinfo(cu, CURLINFO_TOTAL_TIME, &elapsed);
  curl_slist_free_all(h);
  free(sent);
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
  eco_receipt rc;
  bool have_rc = false;
  if (json_is_object(body)) {
    /* the node's usage.carbon is stored as it came; its numbers feed the totals and the planner */
    json_t *c = json_object_get(json_object_get(body, "usage"), ECO_USAGE_CARBON);
    if (eco_receipt_from_json(c, &rc, NULL) == 0) {
      have_rc = true;
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
                         .carbon_g = g,
                         .elapsed_s = cc == CURLE_OK ? elapsed : 0};
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
  else if (!dup && have_rc && !r.error_code)
    ledger_row(b, q, w, &b->nodes[ni], rid, body, &rc);
  json_decref(body);
  free(receipt);
  free(rb.p);
}

void *bapi_worker_main(void *arg) {
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
    bapi_zone_forecast(b, b->zones[z].name, slot0, FC_SLOTS, cur.v[z]);
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

void *bapi_maint_main(void *arg) {
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
      bapi_replan_all(b, q);
      next_replan = now + b->cfg.replan_s;
    }
  }
  eco_batchq_close(q);
  return NULL;
}
