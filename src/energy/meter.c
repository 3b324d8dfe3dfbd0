/* ecoinfer: the eco_meter base (locking, totals, background sampling).
 * The backends build on it; the automatic choice among them is in
 * meter_auto.c, so this file depends on none of them. */
#include "energy/meter.h"

#include "energy/sysread.h"
#include "util/fs.h"
#include "util/timeutil.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *eco_energy_root(const char *root) {
  if (!root || strcmp(root, "/") == 0) return "";
  return root;
}

int eco_energy_read_u64(const char *path, uint64_t *out, eco_error *err) {
  char buf[64];
  int rc = eco_fs_read_line(path, buf, sizeof buf);
  if (rc == ECO_EACCES)
    return eco_error_set(err, rc,
                         "%s: permission denied: energy counters are root-only since the fix for "
                         "CVE-2020-8694 (Platypus); run as root, or grant read access "
                         "(e.g. a udev rule or 'chmod a+r %s')",
                         path, path);
  if (rc) return eco_error_set(err, rc, "%s: cannot read: %s", path, eco_strerror(rc));
  const char *p = buf;
  while (*p == ' ' || *p == '\t')
    p++;
  if (*p < '0' || *p > '9')
    return eco_error_set(err, ECO_EFORMAT, "%s: unexpected content '%.40s'", path, buf);
  char *end;
  errno = 0;
  unsigned long long v = strtoull(p, &end, 10);
  while (*end == ' ' || *end == '\t' || *end == '\r')
    end++;
  if (errno || *end)
    return eco_error_set(err, ECO_EFORMAT, "%s: unexpected content '%.40s'", path, buf);
  *out = (uint64_t)v;
  return ECO_OK;
}

int eco_meter_init_base(eco_meter *m, const eco_meter_vtbl *vt, const char *source,
                        const char *detail, bool estimated) {
  m->vt = vt;
  snprintf(m->src.name, sizeof m->src.name, "%s", source ? source : vt->kind);
  snprintf(m->src.detail, sizeof m->src.detail, "%s", detail ? detail : "");
  m->src.estimated = estimated;
  m->total_j = 0;
  if (pthread_mutex_init(&m->mu, NULL)) return ECO_EINTERNAL;
  if (pthread_cond_init(&m->cv, NULL)) {
    pthread_mutex_destroy(&m->mu);
    return ECO_EINTERNAL;
  }
  return ECO_OK;
}

static double mono_s(void) { return (double)eco_time_mono_ns() * 1e-9; }

/* Caller holds m->mu. */
static int poll_locked(eco_meter *m, double now_s, eco_error *err) {
  double d = 0;
  eco_error e2 = {0};
  int rc = m->vt->poll(m, now_s, &d, &e2);
  if (rc) {
    m->n_errors++;
    m->last_error = rc;
    snprintf(m->last_msg, sizeof m->last_msg, "%s", eco_error_text(&e2));
    if (err) *err = e2;
    return rc;
  }
  if (isfinite(d) && d > 0) m->total_j += d;
  m->n_polls++;
  return ECO_OK;
}

int eco_meter_poll_at(eco_meter *m, double now_s, eco_error *err) {
  if (!m) return eco_error_set(err, ECO_EINVAL, "meter: NULL");
  pthread_mutex_lock(&m->mu);
  int rc = poll_locked(m, now_s, err);
  pthread_mutex_unlock(&m->mu);
  return rc;
}

int eco_meter_poll(eco_meter *m, eco_error *err) { return eco_meter_poll_at(m, mono_s(), err); }

int eco_meter_read(eco_meter *m, double *joules, eco_energy_source *src) {
  if (!m || !joules) return ECO_EINVAL;
  pthread_mutex_lock(&m->mu);
  int rc = poll_locked(m, mono_s(), NULL);
  *joules = m->total_j;
  if (src) *src = m->src;
  pthread_mutex_unlock(&m->mu);
  return rc;
}

double eco_meter_total(eco_meter *m) {
  if (!m) return 0;
  pthread_mutex_lock(&m->mu);
  double t = m->total_j;
  pthread_mutex_unlock(&m->mu);
  return t;
}

static void *sampler(void *arg) {
  eco_meter *m = arg;
  pthread_mutex_lock(&m->mu);
  while (!m->stop) {
    poll_locked(m, mono_s(), NULL);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double s = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 + m->interval_s;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) ts.tv_nsec = 999999999L;
    while (!m->stop) {
      if (pthread_cond_timedwait(&m->cv, &m->mu, &ts) == ETIMEDOUT) break;
    }
  }
  pthread_mutex_unlock(&m->mu);
  return NULL;
}

int eco_meter_start(eco_meter *m, double interval_s) {
  if (!m || !(interval_s > 0) || !isfinite(interval_s)) return ECO_EINVAL;
  pthread_mutex_lock(&m->mu);
  if (m->running) {
    m->interval_s = interval_s;
    pthread_mutex_unlock(&m->mu);
    return ECO_OK;
  }
  m->interval_s = interval_s;
  m->stop = false;
  int rc = pthread_create(&m->thread, NULL, sampler, m);
  if (rc == 0) m->running = true;
  pthread_mutex_unlock(&m->mu);
  return rc == 0 ? ECO_OK : ECO_EINTERNAL;
}

void eco_meter_stop(eco_meter *m) {
  if (!m) return;
  pthread_mutex_lock(&m->mu);
  if (!m->running) {
    pthread_mutex_unlock(&m->mu);
    return;
  }
  m->stop = true;
  pthread_cond_broadcast(&m->cv);
  pthread_mutex_unlock(&m->mu);
  pthread_join(m->thread, NULL);
  pthread_mutex_lock(&m->mu);
  m->running = false;
  pthread_mutex_unlock(&m->mu);
}

void eco_meter_free(eco_meter *m) {
  if (!m) return;
  eco_meter_stop(m);
  pthread_mutex_destroy(&m->mu);
  pthread_cond_destroy(&m->cv);
  m->vt->destroy(m);
}
