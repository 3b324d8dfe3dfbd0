/* ecoinfer router: the quality loop's worker thread (see gw_eval_internal.h): each
 * sampled request's missing levels as one evaluation batch (Batch API,
 * metadata ecoinfer_kind: eval), its answers read back when the batch ends,
 * Sprout's pairwise judging against the configured judge, the verdict and
 * its training line stored, and the directive model refitted from every
 * verdict when due. Nothing here touches the gateway's state: the refitted
 * model goes to the loop through e->ready and e->swap_ev. */
#include "router/gw_eval_internal.h"

#include "accounting/receipt.h"
#include "carbon/ledger.h"
#include "directive/evaluator.h"
#include "util/rand.h"
#include "util/timeutil.h"

#include <event2/event.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Logs a problem and keeps it as last_error; failed: a sample is given up. */
__attribute__((format(printf, 3, 4))) static void note_error(gw_eval *e, bool failed,
                                                             const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  pthread_mutex_lock(&e->mu);
  if (failed) e->n.failed++;
  snprintf(e->last_error, sizeof e->last_error, "%s", msg);
  pthread_mutex_unlock(&e->mu);
  ECO_WARN(&e->log, MOD, "%s", msg);
}

/* The batch input: one line per missing level, custom_id "level-N". */
static char *batch_lines(const gw_eval *e, const ejob *j, size_t *len) {
  json_t *body = json_loads(j->body, 0, NULL);
  if (!json_is_object(body)) {
    json_decref(body);
    return NULL;
  }
  size_t cap = 0, n = 0;
  char *out = NULL;
  for (size_t l = 0; l < e->dcfg.n_levels; l++) {
    if (j->answer[l]) continue;
    char cid[32];
    snprintf(cid, sizeof cid, "level-%zu", l);
    json_object_set_new(body, ECO_BATCH_BODY_LEVEL, json_integer((json_int_t)l));
    json_t *line = json_pack("{s:s,s:s,s:s,s:O}", "custom_id", cid, "method", "POST", "url",
                             "/v1/chat/completions", "body", body);
    char *s = line ? json_dumps(line, JSON_COMPACT) : NULL;
    json_decref(line);
    size_t sl = s ? strlen(s) : 0;
    char *grown = s ? realloc(out, cap + sl + 2) : NULL;
    if (!grown) {
      free(s);
      free(out);
      json_decref(body);
      return NULL;
    }
    out = grown;
    memcpy(out + cap, s, sl);
    out[cap + sl] = '\n';
    cap += sl + 1;
    out[cap] = '\0';
    free(s);
    n++;
  }
  json_decref(body);
  *len = cap;
  return n ? out : calloc(1, 1); /* every answer known: an empty input */
}

/* Submits j's missing levels; false when the job failed. */
static bool job_submit(gw_eval *e, eco_batchq *q, ejob *j) {
  size_t len = 0;
  char *lines = batch_lines(e, j, &len);
  if (!lines) {
    note_error(e, true, "quality loop: %s", "cannot build the evaluation batch");
    return false;
  }
  if (len == 0) { /* every answer known already */
    free(lines);
    j->answered = j->dirty = true;
    return true;
  }
  char lv[16];
  snprintf(lv, sizeof lv, "%d", j->served);
  json_t *mj = json_pack("{s:s,s:s,s:s}", ECO_BATCH_META_KIND, ECO_BATCH_KIND_EVAL, "group",
                         j->group, "served_level", lv);
  char *meta = mj ? json_dumps(mj, JSON_COMPACT) : NULL;
  json_decref(mj);
  if (!meta) {
    free(lines);
    note_error(e, true, "quality loop: %s", "out of memory");
    return false;
  }
  eco_batch_submit s = {.jsonl = lines,
                        .len = len,
                        .filename = "eval.jsonl",
                        .endpoint = "/v1/chat/completions",
                        .window = e->cfg.window,
                        .metadata_json = meta};
  eco_batchq_batch bt;
  eco_error err = {0};
  int rc = eco_batch_api_submit(e->batch, q, &s, &bt, &err);
  free(lines);
  free(meta);
  if (rc) {
    note_error(e, true, "quality loop: evaluation batch refused: %s", eco_error_text(&err));
    return false;
  }
  snprintf(j->batch_id, sizeof j->batch_id, "%s", bt.id);
  j->dirty = true;
  eco_batchq_batch_clear(&bt);
  pthread_mutex_lock(&e->mu);
  e->n.submitted++;
  pthread_mutex_unlock(&e->mu);
  return true;
}

/* One output line: the level's answer, energy and time (the node's answer's
 * s, as the dispatcher measured it). */
static void take_line(const gw_eval *e, ejob *j, json_t *line) {
  const char *cid = json_string_value(json_object_get(line, "custom_id"));
  json_t *resp = json_object_get(line, "response");
  unsigned lv = 0;
  if (!cid || sscanf(cid, "level-%u", &lv) != 1 || lv >= e->dcfg.n_levels || j->answer[lv] ||
      json_integer_value(json_object_get(resp, "status_code")) != 200)
    return;
  const char *ans = json_string_value(json_object_get(
      json_object_get(json_array_get(json_object_get(json_object_get(resp, "body"), "choices"), 0),
                      "message"),
      "content"));
  if (!ans) return;
  j->answer[lv] = strdup(ans);
  json_t *ej = json_object_get(json_object_get(line, "carbon"), "energy_j");
  if (json_is_number(ej)) j->energy_j[lv] = json_number_value(ej);
  json_t *el = json_object_get(line, "ecoinfer_elapsed_s");
  if (json_is_number(el) && json_number_value(el) > 0) j->time_s[lv] = json_number_value(el);
}

/* Looks at j's batch: 1 = answered, 0 = still running, -1 = failed. */
static int job_collect(gw_eval *e, eco_batchq *q, ejob *j) {
  eco_batchq_batch bt;
  eco_error err = {0};
  if (eco_batchq_batch_get(q, j->batch_id, &bt, &err)) return 0; /* retried next poll */
  int st = 0;
  if (strcmp(bt.status, "completed") == 0 && bt.output_file_id[0]) {
    char *data = NULL;
    size_t len = 0;
    if (eco_batchq_file_content(q, bt.output_file_id, &data, &len, &err) == 0) {
      for (char *p = data, *nl; p && *p; p = nl ? nl + 1 : NULL) {
        nl = strchr(p, '\n');
        json_t *line = json_loadb(p, nl ? (size_t)(nl - p) : strlen(p), 0, NULL);
        if (line) take_line(e, j, line);
        json_decref(line);
      }
    }
    free(data);
    st = 1;
    for (size_t l = 0; l < e->dcfg.n_levels; l++)
      if (!j->answer[l]) st = -1;
    if (st < 0) note_error(e, true, "quality loop: batch %s: a level's answer failed", bt.id);
  } else if (strcmp(bt.status, "completed") == 0 || strcmp(bt.status, "failed") == 0 ||
             strcmp(bt.status, "expired") == 0 || strcmp(bt.status, "cancelled") == 0) {
    note_error(e, true, "quality loop: evaluation batch ended %s", bt.status);
    st = -1;
  }
  eco_batchq_batch_clear(&bt);
  if (st > 0) j->answered = j->dirty = true;
  return st;
}

/* The rates of group from the store into the snapshot (under mu). */
static void rates_update(gw_eval *e, eco_verdicts *vs, const char *group) {
  double pref[ECO_DIRECTIVE_MAX_LEVELS];
  int64_t n = 0;
  eco_error err = {0};
  size_t L = e->dcfg.n_levels;
  if (eco_verdicts_rates(vs, group, L, pref, &n, &err)) return;
  json_t *a = json_array();
  for (size_t l = 0; a && l < L; l++)
    json_array_append_new(a, json_real(pref[l]));
  json_t *o = a ? json_pack("{s:I,s:o}", "verdicts", (json_int_t)n, "pref", a) : NULL;
  pthread_mutex_lock(&e->mu);
  if (o) json_object_set_new(e->rates, group[0] ? group : "unknown", o);
  pthread_mutex_unlock(&e->mu);
}

static void train_line(gw_eval *e, const eco_verdict *v, int64_t id) {
  if (!e->cfg.train_out[0] || v->preferred < 0) return;
  char *s = eco_verdict_dtrain_line(v, id);
  FILE *f = s ? fopen(e->cfg.train_out, "a") : NULL;
  bool ok = f && fprintf(f, "%s\n", s) > 0;
  if (f && fclose(f) != 0) ok = false;
  free(s);
  if (!ok) note_error(e, false, "quality loop: cannot append to %s", e->cfg.train_out);
}

/* The judge's requests for one sample as an evaluation row on the router's
 * ledger: their energy (the judge's usage.carbon, else j_per_token per
 * completion token, estimated) at the intensity of the judge's zone now,
 * when its call ended (the loop's copy of the router's current value), or,
 * when there is none, the live answer's at sampling (labelled so). */
static void judge_row(gw_eval *e, const ejob *j, const eco_eval_outcome *spent) {
  if (!e->ledger || !(spent->energy_j > 0)) return;
  eco_evalsched_ci now, ci, sampled = {.gco2_kwh = j->gco2_kwh, .estimated = true};
  snprintf(sampled.source, sizeof sampled.source, "%s", j->ci_source);
  pthread_mutex_lock(&e->mu);
  now = e->judge_ci;
  pthread_mutex_unlock(&e->mu);
  if (!eco_evalsched_judge_ci(&now, e->zone_assumed, &sampled, &ci)) return;
  eco_receipt_in ri = {.energy_j = spent->energy_j,
                       .energy_source = spent->energy_estimated ? "judge-estimate" : "judge",
                       .energy_estimated = spent->energy_estimated,
                       .intensity_gco2_kwh = ci.gco2_kwh,
                       .intensity_source = ci.source,
                       .intensity_estimated = ci.estimated,
                       .share = 1,
                       .pue = 1,
                       .method = "sci-v1.0/router-judge"};
  eco_ledger_entry x;
  memset(&x, 0, sizeof x);
  if (eco_receipt_build(&ri, &x.receipt)) return;
  if (eco_rand_id("eval-judge-", 16, x.request_id, sizeof x.request_id))
    snprintf(x.request_id, sizeof x.request_id, "eval-judge");
  x.time_s = eco_time_wall_s();
  snprintf(x.node, sizeof x.node, "%s", e->cfg.judge_url);
  if (now.gco2_kwh >= 0) snprintf(x.zone, sizeof x.zone, "%s", e->judge_zone);
  snprintf(x.model, sizeof x.model, "%s", e->cfg.judge_model);
  x.output_tokens = (int64_t)spent->completion_tokens;
  x.directive_level = -1;
  snprintf(x.policy, sizeof x.policy, "eval-judge");
  snprintf(x.facts.group, sizeof x.facts.group, "%s", j->group);
  x.kind = ECO_LEDGER_EVAL;
  x.recorder = ECO_LEDGER_BY_ROUTER;
  eco_error err = {0};
  if (eco_ledger_append(e->ledger, &x, &err))
    note_error(e, false, "quality loop: judge row not on the ledger: %s", eco_error_text(&err));
}

/* Judges j once: 1 = verdict stored, 0 = retry later, -1 = given up. */
static int job_judge(gw_eval *e, eco_verdicts *vs, ejob *j, uint64_t *new_decided) {
  eco_eval_cfg jc;
  eco_eval_cfg_default(&jc);
  jc.judge_url = e->cfg.judge_url;
  jc.judge_model = e->cfg.judge_model;
  jc.api_key = e->cfg.judge_key[0] ? e->cfg.judge_key : NULL;
  jc.timeout_s = e->cfg.judge_timeout_s;
  jc.max_tokens = e->cfg.judge_max_tokens;
  jc.cancel = gw_eval_stopping;
  jc.cancel_user = e;
  size_t L = e->dcfg.n_levels;
  eco_eval_pair_result pr;
  eco_error err = {0};
  int rc = eco_eval_judge_pairwise(&jc, j->prompt, (const char *const *)j->answer, L, &pr, &err);
  j->attempts++;
  pthread_mutex_lock(&e->mu);
  e->n.judge_energy_j += rc ? 0 : pr.spent.energy_j;
  pthread_mutex_unlock(&e->mu);
  if (!rc) judge_row(e, j, &pr.spent);
  if (rc || pr.replies_undecided == 2 * pr.pairs) { /* down, timeouts or garbage only */
    pthread_mutex_lock(&e->mu);
    e->n.judge_errors++;
    pthread_mutex_unlock(&e->mu);
    double at = eco_evalsched_retry_at(&e->cfg, j->attempts, eco_time_wall_s());
    note_error(e, at < 0, "quality loop: the judge gave no usable reply (%s)",
               at < 0 ? "given up" : "retried later");
    j->next_s = at;
    j->dirty = true;
    return at < 0 ? -1 : 0;
  }
  eco_verdict v = {.time_s = eco_time_wall_s(),
                   .model = j->model,
                   .group = j->group,
                   .prompt = j->prompt,
                   .served_level = j->served,
                   .preferred = pr.preferred,
                   .n_levels = L,
                   .judge_energy_j = pr.spent.energy_j};
  for (size_t l = 0; l < L; l++) {
    v.energy_j[l] = j->energy_j[l];
    v.time_s_lv[l] = j->time_s[l];
  }
  int64_t id = 0;
  if (eco_verdicts_add(vs, &v, &id, &err)) {
    note_error(e, true, "quality loop: verdict not stored: %s", eco_error_text(&err));
    return -1;
  }
  train_line(e, &v, id);
  rates_update(e, vs, j->group);
  pthread_mutex_lock(&e->mu);
  e->n.judged++;
  e->n.decided += pr.preferred >= 0;
  pthread_mutex_unlock(&e->mu);
  *new_decided += pr.preferred >= 0;
  return 1;
}

/* The verdicts of every group of m, into the snapshot and gs[]; returns how many. */
static size_t group_counts(gw_eval *e, eco_verdicts *vs, const eco_dmodel *m,
                           eco_evalsched_group *gs) {
  size_t ng = 0, L = m->groups.n_levels;
  for (size_t t = 0; t < m->cls.n_classes; t++)
    for (int b = 0; b < ECO_ASSIGN_BUCKETS; b++) {
      eco_evalsched_group *g = &gs[ng];
      memset(g, 0, sizeof *g);
      eco_dmodel_group_name(m, (int)t, b, g->name, sizeof g->name);
      double pref[ECO_DIRECTIVE_MAX_LEVELS];
      eco_error err = {0};
      if (eco_verdicts_rates(vs, g->name, L, pref, &g->n, &err) || g->n <= 0) continue;
      for (size_t l = 0; l < L; l++)
        g->wins[l] = round(pref[l] * (double)g->n);
      rates_update(e, vs, g->name);
      ng++;
    }
  return ng;
}

/* A fresh copy of the model file (the prior) moved toward every verdict,
 * written to model_out when set and handed to the loop. */
static void refit(gw_eval *e, eco_verdicts *vs) {
  eco_dmodel *m = calloc(1, sizeof *m);
  eco_evalsched_group *gs = NULL;
  eco_error err = {0};
  size_t changed = 0;
  if (!m) {
    eco_error_set(&err, ECO_ENOMEM, "out of memory");
    goto fail;
  }
  if (eco_dmodel_load(e->model_path, m, &err)) goto fail;
  gs = calloc(m->cls.n_classes * ECO_ASSIGN_BUCKETS + 1, sizeof *gs);
  if (!gs) {
    eco_error_set(&err, ECO_ENOMEM, "out of memory");
    goto fail;
  }
  size_t ng = group_counts(e, vs, m, gs);
  if (eco_evalsched_refit(m, gs, ng, e->cfg.prior_weight, &changed, &err)) goto fail;
  if (e->cfg.model_out[0] && eco_dmodel_save(m, e->cfg.model_out, &err))
    note_error(e, false, "quality loop: refitted model kept in memory only: %s",
               eco_error_text(&err));
  pthread_mutex_lock(&e->mu);
  if (e->ready) {
    eco_dmodel_free(e->ready);
    free(e->ready);
  }
  e->ready = m;
  e->n.refits++;
  e->last_refit_s = eco_time_wall_s();
  pthread_mutex_unlock(&e->mu);
  event_active(e->swap_ev, EV_READ, 0);
  ECO_INFO(&e->log, MOD, "quality loop: model refitted from the verdicts (%zu groups moved)",
           changed);
  free(gs);
  return;
fail:
  pthread_mutex_lock(&e->mu);
  e->n.refit_errors++;
  pthread_mutex_unlock(&e->mu);
  note_error(e, false, "quality loop: refit failed: %s", eco_error_text(&err));
  if (m) eco_dmodel_free(m);
  free(m);
  free(gs);
}

/* Advances one job; true when it is finished (stored or given up). */
static bool job_step(gw_eval *e, eco_batchq *q, eco_verdicts *vs, ejob *j, uint64_t *new_decided) {
  if (!j->answered && !j->batch_id[0] && !job_submit(e, q, j)) return true;
  if (!j->answered && j->batch_id[0] && job_collect(e, q, j) < 0) return true;
  if (!j->answered || eco_time_wall_s() < j->next_s) return false;
  return job_judge(e, vs, j, new_decided) != 0;
}

/* Waits up to s for a new job or the stop; true when stopping. */
static bool wait_work(gw_eval *e, double s) {
  pthread_mutex_lock(&e->mu);
  if (!e->stop && !e->inbox) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double t = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + s;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - floor(t)) * 1e9);
    pthread_cond_timedwait(&e->cv, &e->mu, &ts);
  }
  bool st = e->stop;
  pthread_mutex_unlock(&e->mu);
  return st;
}

bool gw_eval_stopping(void *arg) {
  gw_eval *e = arg;
  pthread_mutex_lock(&e->mu);
  bool st = e->stop;
  pthread_mutex_unlock(&e->mu);
  return st;
}

/* Decided verdicts since the last refit and when it was (wall s). */
typedef struct refit_clock {
  uint64_t new_decided;
  double last_s;
} refit_clock;

static void maybe_refit(gw_eval *e, eco_verdicts *vs, refit_clock *rc) {
  double now = eco_time_wall_s();
  if (!eco_evalsched_refit_due(&e->cfg, rc->new_decided, rc->last_s, now)) return;
  refit(e, vs);
  rc->new_decided = 0;
  rc->last_s = now;
}

/* Runs every job in *active once; removes the finished ones; refits when
 * a verdict makes it due (every refit_every-th, or the interval). */
static void run_jobs(gw_eval *e, eco_batchq *q, eco_verdicts *vs, sqlite3 *jdb, ejob **active,
                     refit_clock *rc) {
  eco_error err = {0};
  for (ejob **pp = active; *pp && !gw_eval_stopping(e);) {
    ejob *j = *pp;
    if (!job_step(e, q, vs, j, &rc->new_decided)) {
      if (j->dirty && gw_eval_jobs_put(jdb, j, e->dcfg.n_levels, &err) == 0) j->dirty = false;
      pp = &j->next;
      continue;
    }
    *pp = j->next;
    if (gw_eval_jobs_del(jdb, j->id, &err))
      note_error(e, false, "quality loop: %s", eco_error_text(&err));
    gw_eval_job_free(j);
    pthread_mutex_lock(&e->mu);
    e->n.pending--;
    pthread_mutex_unlock(&e->mu);
    maybe_refit(e, vs, rc);
  }
  maybe_refit(e, vs, rc); /* the interval */
}

void *gw_eval_main(void *arg) {
  gw_eval *e = arg;
  eco_batchq *q = NULL;
  eco_verdicts *vs = NULL;
  sqlite3 *jdb = NULL;
  ejob *active = NULL;
  eco_error err = {0};
  size_t kept = 0;
  if (eco_batchq_open(eco_batch_api_db(e->batch), &q, &err) ||
      eco_verdicts_open(e->cfg.db, &vs, &err) || gw_eval_jobs_open(e->cfg.db, &jdb, &err) ||
      gw_eval_jobs_load(jdb, e->dcfg.n_levels, &active, &kept, &err)) {
    note_error(e, false, "quality loop stopped: %s", eco_error_text(&err));
    goto out;
  }
  if (kept) {
    pthread_mutex_lock(&e->mu);
    e->n.pending += kept;
    pthread_mutex_unlock(&e->mu);
    ECO_INFO(&e->log, MOD, "quality loop: %zu samples in flight picked up from %s", kept,
             e->cfg.db);
  }
  int64_t nv = 0, nd = 0;
  if (eco_verdicts_count(vs, &nv, &nd, &err) == 0 && nd > 0) {
    ECO_INFO(&e->log, MOD, "quality loop: %lld verdicts in %s (%lld decided)", (long long)nv,
             e->cfg.db, (long long)nd);
    refit(e, vs); /* a restart keeps what the verdicts taught */
  }
  refit_clock rc = {0, eco_time_wall_s()};
  do {
    pthread_mutex_lock(&e->mu);
    ejob **tail = &active;
    while (*tail)
      tail = &(*tail)->next;
    *tail = e->inbox;
    e->inbox = e->inbox_tail = NULL;
    pthread_mutex_unlock(&e->mu);
    for (ejob *j = *tail; j; j = j->next) /* the new ones: stored before any work */
      if (gw_eval_jobs_put(jdb, j, e->dcfg.n_levels, &err))
        note_error(e, false, "quality loop: %s (kept in memory)", eco_error_text(&err));
    run_jobs(e, q, vs, jdb, &active, &rc);
    gw_eval_dash_update(e);
  } while (!wait_work(e, e->cfg.poll_s));
out:
  while (active) { /* stored: picked up at the next start */
    ejob *j = active;
    active = j->next;
    if (j->dirty) (void)gw_eval_jobs_put(jdb, j, e->dcfg.n_levels, &err);
    gw_eval_job_free(j);
  }
  sqlite3_close(jdb);
  eco_verdicts_close(vs);
  eco_batchq_close(q);
  return NULL;
}
