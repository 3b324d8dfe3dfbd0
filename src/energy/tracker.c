/* ecoinfer: per-request energy bookkeeping (see tracker.h). */
#include "energy/tracker.h"

#include "util/timeutil.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct active_req {
  uint64_t id;
  eco_attr_share pending; /* progress since the last settle */
  double joules;          /* J attributed so far */
} active_req;

struct eco_tracker {
  eco_meter *meter;
  eco_attr_cfg cfg;
  pthread_mutex_t mu;
  active_req *reqs;
  size_t n, cap;
  bool have_last;
  double last_meter_j; /* meter total at the previous settle, J */
  double last_t;       /* its time, s */
  double idle_j;       /* J given to no request */
  /* scratch for eco_attribute */
  eco_attr_share *shares;
  double *out;
};

int eco_tracker_new(eco_meter *meter, const eco_attr_cfg *cfg, eco_tracker **out, eco_error *err) {
  if (!out) return eco_error_set(err, ECO_EINVAL, "tracker: out is NULL");
  *out = NULL;
  eco_tracker *t = calloc(1, sizeof *t);
  if (!t || pthread_mutex_init(&t->mu, NULL)) {
    free(t);
    return eco_error_set(err, ECO_ENOMEM, "tracker: out of memory");
  }
  t->meter = meter;
  if (cfg)
    t->cfg = *cfg;
  else
    eco_attr_cfg_default(&t->cfg);
  *out = t;
  return ECO_OK;
}

void eco_tracker_free(eco_tracker *t) {
  if (!t) return;
  pthread_mutex_destroy(&t->mu);
  free(t->reqs);
  free(t->shares);
  free(t->out);
  free(t);
}

static long find(const eco_tracker *t, uint64_t id) {
  for (size_t i = 0; i < t->n; i++)
    if (t->reqs[i].id == id) return (long)i;
  return -1;
}

int eco_tracker_begin(eco_tracker *t, uint64_t id) {
  if (!t) return ECO_EINVAL;
  pthread_mutex_lock(&t->mu);
  int rc = ECO_OK;
  if (find(t, id) >= 0) {
    rc = ECO_EBUSY;
  } else {
    if (t->n == t->cap) {
      size_t nc = t->cap ? t->cap * 2 : 16;
      active_req *r = realloc(t->reqs, nc * sizeof *r);
      eco_attr_share *s = r ? realloc(t->shares, nc * sizeof *s) : NULL;
      if (s) t->shares = s;
      double *o = s ? realloc(t->out, nc * sizeof *o) : NULL;
      if (o) t->out = o;
      if (r) t->reqs = r;
      if (!r || !s || !o) {
        pthread_mutex_unlock(&t->mu);
        return ECO_ENOMEM;
      }
      t->cap = nc;
    }
    memset(&t->reqs[t->n], 0, sizeof t->reqs[t->n]);
    t->reqs[t->n++].id = id;
  }
  pthread_mutex_unlock(&t->mu);
  return rc;
}

int eco_tracker_progress(eco_tracker *t, uint64_t id, double prompt_tokens, double output_tokens,
                         double busy_s) {
  if (!t || !(prompt_tokens >= 0) || !(output_tokens >= 0) || !(busy_s >= 0) ||
      !isfinite(prompt_tokens + output_tokens + busy_s))
    return ECO_EINVAL;
  pthread_mutex_lock(&t->mu);
  long i = find(t, id);
  if (i >= 0) {
    t->reqs[i].pending.prompt_tokens += prompt_tokens;
    t->reqs[i].pending.output_tokens += output_tokens;
    t->reqs[i].pending.busy_s += busy_s;
  }
  pthread_mutex_unlock(&t->mu);
  return i >= 0 ? ECO_OK : ECO_ENOENT;
}

/* Caller holds mu. Requests without progress in the interval get nothing
 * (they were waiting, not using the device), unless none made progress:
 * then all active ones share it equally by the rule's zero-weight case. */
static int settle_locked(eco_tracker *t, double meter_j, double now_s) {
  if (!isfinite(meter_j) || !isfinite(now_s)) return ECO_EINVAL;
  if (!t->have_last) {
    t->have_last = true;
    t->last_meter_j = meter_j;
    t->last_t = now_s;
    return ECO_OK;
  }
  double e = meter_j - t->last_meter_j;
  double dt = now_s - t->last_t;
  if (e < 0) e = 0; /* the meter never goes down; defensive */
  if (dt < 0) dt = 0;
  size_t k = 0;
  for (size_t i = 0; i < t->n; i++) {
    const eco_attr_share *p = &t->reqs[i].pending;
    if (p->prompt_tokens > 0 || p->output_tokens > 0 || p->busy_s > 0) t->shares[k++] = *p;
  }
  bool any = k > 0;
  if (!any) {
    k = t->n;
    for (size_t i = 0; i < t->n; i++)
      t->shares[i] = t->reqs[i].pending;
  }
  eco_attr_result res;
  int rc = eco_attribute(&t->cfg, e, dt, t->shares, k, t->out, &res);
  if (rc) return rc;
  size_t j = 0;
  for (size_t i = 0; i < t->n; i++) {
    eco_attr_share *p = &t->reqs[i].pending;
    bool took = !any || p->prompt_tokens > 0 || p->output_tokens > 0 || p->busy_s > 0;
    if (took) t->reqs[i].joules += t->out[j++];
    memset(p, 0, sizeof *p);
  }
  t->idle_j += res.idle_j;
  t->last_meter_j = meter_j;
  t->last_t = now_s;
  return ECO_OK;
}

int eco_tracker_settle_at(eco_tracker *t, double meter_j, double now_s) {
  if (!t) return ECO_EINVAL;
  pthread_mutex_lock(&t->mu);
  int rc = settle_locked(t, meter_j, now_s);
  pthread_mutex_unlock(&t->mu);
  return rc;
}

int eco_tracker_settle(eco_tracker *t) {
  if (!t || !t->meter) return ECO_EINVAL;
  double j;
  /* a failed poll still returns the last total: settle with it (the next
   * good poll carries the energy into a later interval) */
  (void)eco_meter_read(t->meter, &j, NULL);
  return eco_tracker_settle_at(t, j, (double)eco_time_mono_ns() * 1e-9);
}

int eco_tracker_end_at(eco_tracker *t, uint64_t id, double meter_j, double now_s, double *joules) {
  if (!t || !joules) return ECO_EINVAL;
  pthread_mutex_lock(&t->mu);
  long i = find(t, id);
  int rc = i < 0 ? ECO_ENOENT : settle_locked(t, meter_j, now_s);
  if (rc == ECO_OK) {
    i = find(t, id);
    *joules = t->reqs[i].joules;
    t->reqs[i] = t->reqs[--t->n];
  }
  pthread_mutex_unlock(&t->mu);
  return rc;
}

int eco_tracker_end(eco_tracker *t, uint64_t id, double *joules, eco_energy_source *src) {
  if (!t || !t->meter) return ECO_EINVAL;
  double j;
  eco_energy_source s;
  (void)eco_meter_read(t->meter, &j, &s); /* see eco_tracker_settle */
  if (src) *src = s;
  return eco_tracker_end_at(t, id, j, (double)eco_time_mono_ns() * 1e-9, joules);
}

double eco_tracker_idle_j(eco_tracker *t) {
  if (!t) return 0;
  pthread_mutex_lock(&t->mu);
  double v = t->idle_j;
  pthread_mutex_unlock(&t->mu);
  return v;
}

size_t eco_tracker_active(eco_tracker *t) {
  if (!t) return 0;
  pthread_mutex_lock(&t->mu);
  size_t n = t->n;
  pthread_mutex_unlock(&t->mu);
  return n;
}
