/* ecoinfer: Linux powercap RAPL meter (Intel and AMD). */
#include "energy/meter.h"
#include "energy/sysread.h"
#include "util/fs.h"

#include <glob.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RAPL_MAX_DOMAINS 16

typedef struct rapl_domain {
  char name[32];
  char energy[512]; /* .../energy_uj */
  uint64_t max_uj;  /* max_energy_range_uj; 0 = unknown */
  uint64_t last_uj; /* previous reading, µJ */
} rapl_domain;

typedef struct rapl_meter {
  eco_meter base;
  rapl_domain d[RAPL_MAX_DOMAINS];
  size_t n;
  uint64_t wraps; /* wraparounds seen (tests, diagnostics) */
} rapl_meter;

/* Energy between two readings of a counter that wraps after max_uj.
 * A decrease with an unknown range drops the interval (returns 0). */
static uint64_t rapl_delta(uint64_t last, uint64_t cur, uint64_t max_uj, bool *wrapped) {
  *wrapped = false;
  if (cur >= last) return cur - last;
  if (max_uj == 0 || last > max_uj) return 0;
  *wrapped = true;
  return (max_uj - last) + cur;
}

static int rapl_poll(eco_meter *m, double now_s, double *delta_j, eco_error *err) {
  (void)now_s;
  rapl_meter *r = (rapl_meter *)m;
  uint64_t cur[RAPL_MAX_DOMAINS];
  for (size_t i = 0; i < r->n; i++) {
    int rc = eco_energy_read_u64(r->d[i].energy, &cur[i], err);
    if (rc) return rc; /* nothing updated: the next good poll covers the gap */
  }
  uint64_t sum = 0;
  for (size_t i = 0; i < r->n; i++) {
    bool w;
    sum += rapl_delta(r->d[i].last_uj, cur[i], r->d[i].max_uj, &w);
    if (w) r->wraps++;
    r->d[i].last_uj = cur[i];
  }
  *delta_j = (double)sum * 1e-6;
  return ECO_OK;
}

static void rapl_destroy(eco_meter *m) { free(m); }

static const eco_meter_vtbl rapl_vt = {.kind = "rapl", .poll = rapl_poll, .destroy = rapl_destroy};

static bool wanted(const char *name, const char *domains) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", domains);
  char *save = NULL;
  for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    while (*t == ' ')
      t++;
    if (*t && strncmp(name, t, strlen(t)) == 0) return true;
  }
  return false;
}

int eco_meter_rapl_open(const char *root, const char *domains, eco_meter **out, eco_error *err) {
  if (!out) return eco_error_set(err, ECO_EINVAL, "rapl: out is NULL");
  *out = NULL;
  if (!domains || !*domains) domains = "package,dram";
  char pat[1024];
  snprintf(pat, sizeof pat, "%s/sys/class/powercap/*-rapl:*", eco_energy_root(root));
  glob_t g;
  if (glob(pat, 0, NULL, &g) != 0)
    return eco_error_set(err, ECO_ENOENT, "rapl: no powercap domains under %s", pat);
  rapl_meter *r = calloc(1, sizeof *r);
  if (!r) {
    globfree(&g);
    return eco_error_set(err, ECO_ENOMEM, "rapl: out of memory");
  }
  int rc = ECO_OK;
  char detail[96] = "";
  for (size_t i = 0; i < g.gl_pathc && r->n < RAPL_MAX_DOMAINS; i++) {
    char f[1100], name[32] = "";
    snprintf(f, sizeof f, "%s/name", g.gl_pathv[i]);
    if (eco_fs_read_line(f, name, sizeof name) || !wanted(name, domains)) continue;
    rapl_domain *d = &r->d[r->n];
    snprintf(d->name, sizeof d->name, "%s", name);
    snprintf(d->energy, sizeof d->energy, "%s/energy_uj", g.gl_pathv[i]);
    snprintf(f, sizeof f, "%s/max_energy_range_uj", g.gl_pathv[i]);
    eco_error ignore = {0};
    if (eco_energy_read_u64(f, &d->max_uj, &ignore)) d->max_uj = 0;
    rc = eco_energy_read_u64(d->energy, &d->last_uj, err);
    if (rc) goto fail;
    size_t dl = strlen(detail);
    snprintf(detail + dl, sizeof detail - dl, "%s%s", dl ? "+" : "", name);
    r->n++;
  }
  if (r->n == 0) {
    rc = eco_error_set(err, ECO_ENOENT, "rapl: no domain matching '%s' under %s", domains, pat);
    goto fail;
  }
  globfree(&g);
  rc = eco_meter_init_base(&r->base, &rapl_vt, "rapl", detail, false);
  if (rc) {
    free(r);
    return eco_error_set(err, rc, "rapl: init failed");
  }
  *out = &r->base;
  return ECO_OK;
fail:
  globfree(&g);
  free(r);
  return rc;
}
