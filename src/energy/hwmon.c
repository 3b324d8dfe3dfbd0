/* ecoinfer: hwmon energy/power meter and the Jetson INA3221 rails meter. */
#include "energy/meter.h"
#include "energy/sysread.h"
#include "util/fs.h"

#include <glob.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HWMON_MAX_CH 16

/* ---- hwmon ---------------------------------------------------------------- */

typedef struct hwmon_meter {
  eco_meter base;
  bool energy;                   /* energy*_input counters, else power (µW) */
  char files[HWMON_MAX_CH][512]; /* the channels summed */
  size_t n;
  uint64_t last_uj[HWMON_MAX_CH]; /* energy mode: previous counters, µJ */
  double prev_w;                  /* power mode: previous total power, W */
  double prev_t;                  /* its time, s */
  bool have_prev;
} hwmon_meter;

static int hwmon_poll(eco_meter *m, double now_s, double *delta_j, eco_error *err) {
  hwmon_meter *h = (hwmon_meter *)m;
  uint64_t cur[HWMON_MAX_CH];
  for (size_t i = 0; i < h->n; i++) {
    int rc = eco_energy_read_u64(h->files[i], &cur[i], err);
    if (rc) return rc;
  }
  *delta_j = 0;
  if (h->energy) {
    uint64_t sum = 0;
    for (size_t i = 0; i < h->n; i++) {
      /* 64-bit µJ counters do not wrap in practice; a decrease is a driver
       * reset and that interval is dropped. */
      if (cur[i] >= h->last_uj[i]) sum += cur[i] - h->last_uj[i];
      h->last_uj[i] = cur[i];
    }
    *delta_j = (double)sum * 1e-6;
    return ECO_OK;
  }
  double w = 0;
  for (size_t i = 0; i < h->n; i++)
    w += (double)cur[i] * 1e-6;
  if (h->have_prev && now_s > h->prev_t) *delta_j = 0.5 * (w + h->prev_w) * (now_s - h->prev_t);
  h->prev_w = w;
  h->prev_t = now_s;
  h->have_prev = true;
  return ECO_OK;
}

static void hwmon_destroy(eco_meter *m) { free(m); }

static const eco_meter_vtbl hwmon_vt = {
    .kind = "hwmon", .poll = hwmon_poll, .destroy = hwmon_destroy};

/* Collects files matching pattern in dir into h (up to HWMON_MAX_CH). */
static size_t collect(const char *dir, const char *pattern, hwmon_meter *h) {
  char pat[1100];
  snprintf(pat, sizeof pat, "%s/%s", dir, pattern);
  glob_t g;
  h->n = 0;
  if (glob(pat, 0, NULL, &g) != 0) return 0;
  for (size_t i = 0; i < g.gl_pathc && h->n < HWMON_MAX_CH; i++)
    snprintf(h->files[h->n++], sizeof h->files[0], "%s", g.gl_pathv[i]);
  globfree(&g);
  return h->n;
}

int eco_meter_hwmon_open(const char *root, const char *chip, eco_meter **out, eco_error *err) {
  if (!out) return eco_error_set(err, ECO_EINVAL, "hwmon: out is NULL");
  *out = NULL;
  char pat[1024];
  snprintf(pat, sizeof pat, "%s/sys/class/hwmon/hwmon*", eco_energy_root(root));
  glob_t g;
  if (glob(pat, 0, NULL, &g) != 0)
    return eco_error_set(err, ECO_ENOENT, "hwmon: no chips under %s", pat);
  hwmon_meter *h = calloc(1, sizeof *h);
  if (!h) {
    globfree(&g);
    return eco_error_set(err, ECO_ENOMEM, "hwmon: out of memory");
  }
  int rc = eco_error_set(err, ECO_ENOENT, "hwmon: no %s%senergy or power sensor under %s",
                         chip ? chip : "", chip ? " " : "", pat);
  char name[64] = "";
  for (size_t i = 0; i < g.gl_pathc; i++) {
    char f[1100];
    name[0] = '\0';
    snprintf(f, sizeof f, "%s/name", g.gl_pathv[i]);
    eco_fs_read_line(f, name, sizeof name);
    if (strncasecmp(name, "ina3221", 7) == 0) continue; /* the rails meter */
    if (chip && strcmp(name, chip) != 0) continue;
    const char *kinds[] = {"energy*_input", "power*_input", "power*_average"};
    for (size_t k = 0; k < 3; k++) {
      if (!collect(g.gl_pathv[i], kinds[k], h)) continue;
      h->energy = k == 0;
      rc = ECO_OK;
      for (size_t c = 0; c < h->n && !rc; c++)
        rc = eco_energy_read_u64(h->files[c], &h->last_uj[c], err);
      if (rc) goto fail; /* found but unreadable or garbage: say so */
      char detail[96];
      snprintf(detail, sizeof detail, "%s %s x%zu", name, h->energy ? "energy" : "power", h->n);
      globfree(&g);
      rc = eco_meter_init_base(&h->base, &hwmon_vt, "hwmon", detail, false);
      if (rc) {
        free(h);
        return eco_error_set(err, rc, "hwmon: init failed");
      }
      *out = &h->base;
      return ECO_OK;
    }
  }
fail:
  globfree(&g);
  free(h);
  return rc;
}

/* ---- INA3221 rails ---------------------------------------------------------- */

#define INA_MAX_RAILS 12

typedef struct ina_rail {
  char name[32];
  char volt[512];  /* mV file (hwmon layout), "" for iio */
  char curr[512];  /* mA file (hwmon layout) */
  char power[512]; /* mW file (iio layout), "" for hwmon */
  double joules;   /* J since open */
  double prev_w;   /* W */
  double prev_t;   /* s */
  bool have_prev;
} ina_rail;

typedef struct ina_meter {
  eco_meter base;
  ina_rail r[INA_MAX_RAILS];
  size_t n;
  long total; /* index of the total rail, -1 = sum of all */
} ina_meter;

static int rail_watts(const ina_rail *r, double *w, eco_error *err) {
  uint64_t a, b;
  int rc;
  if (r->power[0]) {
    if ((rc = eco_energy_read_u64(r->power, &a, err))) return rc;
    *w = (double)a * 1e-3;
    return ECO_OK;
  }
  if ((rc = eco_energy_read_u64(r->volt, &a, err))) return rc;
  if ((rc = eco_energy_read_u64(r->curr, &b, err))) return rc;
  *w = (double)a * (double)b * 1e-6; /* mV * mA = µW */
  return ECO_OK;
}

static int ina_poll(eco_meter *m, double now_s, double *delta_j, eco_error *err) {
  ina_meter *im = (ina_meter *)m;
  double w[INA_MAX_RAILS];
  for (size_t i = 0; i < im->n; i++) {
    int rc = rail_watts(&im->r[i], &w[i], err);
    if (rc) return rc;
  }
  double total = 0;
  for (size_t i = 0; i < im->n; i++) {
    ina_rail *r = &im->r[i];
    double d = 0;
    if (r->have_prev && now_s > r->prev_t) d = 0.5 * (w[i] + r->prev_w) * (now_s - r->prev_t);
    r->joules += d;
    r->prev_w = w[i];
    r->prev_t = now_s;
    r->have_prev = true;
    if (im->total < 0 || (size_t)im->total == i) total += d;
  }
  *delta_j = total;
  return ECO_OK;
}

static void ina_destroy(eco_meter *m) { free(m); }

static const eco_meter_vtbl ina_vt = {.kind = "ina3221", .poll = ina_poll, .destroy = ina_destroy};

static void add_hwmon_rails(const char *root, ina_meter *im) {
  char pat[1024];
  snprintf(pat, sizeof pat, "%s/sys/class/hwmon/hwmon*", root);
  glob_t g;
  if (glob(pat, 0, NULL, &g) != 0) return;
  for (size_t i = 0; i < g.gl_pathc; i++) {
    char f[1100], name[64] = "";
    snprintf(f, sizeof f, "%s/name", g.gl_pathv[i]);
    if (eco_fs_read_line(f, name, sizeof name) || strncasecmp(name, "ina3221", 7) != 0) continue;
    snprintf(f, sizeof f, "%s/in*_label", g.gl_pathv[i]);
    glob_t gl;
    if (glob(f, 0, NULL, &gl) != 0) continue;
    for (size_t j = 0; j < gl.gl_pathc && im->n < INA_MAX_RAILS; j++) {
      char label[32] = "";
      int ch;
      const char *base = strrchr(gl.gl_pathv[j], '/') + 1;
      if (sscanf(base, "in%d_label", &ch) != 1) continue;
      if (eco_fs_read_line(gl.gl_pathv[j], label, sizeof label) || !label[0] ||
          strcasecmp(label, "NC") == 0)
        continue;
      ina_rail *r = &im->r[im->n];
      memset(r, 0, sizeof *r);
      snprintf(r->name, sizeof r->name, "%s", label);
      snprintf(r->volt, sizeof r->volt, "%s/in%d_input", g.gl_pathv[i], ch);
      snprintf(r->curr, sizeof r->curr, "%s/curr%d_input", g.gl_pathv[i], ch);
      im->n++;
    }
    globfree(&gl);
  }
  globfree(&g);
}

static void add_iio_rails(const char *root, ina_meter *im) {
  char pat[1024];
  snprintf(pat, sizeof pat, "%s/sys/bus/i2c/drivers/ina3221x/*/iio:device*/rail_name_*", root);
  glob_t g;
  if (glob(pat, 0, NULL, &g) != 0) return;
  for (size_t i = 0; i < g.gl_pathc && im->n < INA_MAX_RAILS; i++) {
    char label[32] = "";
    int ch;
    const char *base = strrchr(g.gl_pathv[i], '/') + 1;
    if (sscanf(base, "rail_name_%d", &ch) != 1) continue;
    if (eco_fs_read_line(g.gl_pathv[i], label, sizeof label) || !label[0]) continue;
    ina_rail *r = &im->r[im->n];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", label);
    size_t dl = (size_t)(base - g.gl_pathv[i]);
    snprintf(r->power, sizeof r->power, "%.*sin_power%d_input", (int)dl, g.gl_pathv[i], ch);
    im->n++;
  }
  globfree(&g);
}

int eco_meter_ina3221_open(const char *root, const char *total_rail, eco_meter **out,
                           eco_error *err) {
  if (!out) return eco_error_set(err, ECO_EINVAL, "ina3221: out is NULL");
  *out = NULL;
  ina_meter *im = calloc(1, sizeof *im);
  if (!im) return eco_error_set(err, ECO_ENOMEM, "ina3221: out of memory");
  const char *r0 = eco_energy_root(root);
  add_hwmon_rails(r0, im);
  add_iio_rails(r0, im);
  if (im->n == 0) {
    free(im);
    return eco_error_set(err, ECO_ENOENT, "ina3221: no labelled rails under %s/sys", r0);
  }
  im->total = -1;
  /* the module input: VDD_IN (Orin NX/Nano, Xavier NX, TX2), POM_5V_IN (Nano, TX1) */
  static const char *const totals[] = {"VDD_IN", "POM_5V_IN"};
  for (size_t i = 0; i < im->n; i++) {
    double w;
    int rc = rail_watts(&im->r[i], &w, err);
    if (rc) {
      free(im);
      return rc;
    }
  }
  for (size_t k = 0; k < 2 && im->total < 0; k++)
    for (size_t i = 0; i < im->n; i++)
      if (strcasecmp(im->r[i].name, total_rail && *total_rail ? total_rail : totals[k]) == 0)
        im->total = (long)i;
  char detail[96];
  if (im->total >= 0)
    snprintf(detail, sizeof detail, "%s", im->r[im->total].name);
  else
    snprintf(detail, sizeof detail, "sum of %zu rails", im->n);
  int rc = eco_meter_init_base(&im->base, &ina_vt, "ina3221", detail, false);
  if (rc) {
    free(im);
    return eco_error_set(err, rc, "ina3221: init failed");
  }
  *out = &im->base;
  return ECO_OK;
}

int eco_meter_ina3221_rails(eco_meter *m, eco_rail_energy *out, size_t cap, size_t *n) {
  if (!m || !n || strcmp(m->vt->kind, "ina3221") != 0) return ECO_EINVAL;
  ina_meter *im = (ina_meter *)m;
  pthread_mutex_lock(&m->mu);
  *n = im->n;
  for (size_t i = 0; i < im->n && i < cap; i++) {
    snprintf(out[i].name, sizeof out[i].name, "%s", im->r[i].name);
    out[i].joules = im->r[i].joules;
    out[i].watts = im->r[i].prev_w;
  }
  pthread_mutex_unlock(&m->mu);
  return ECO_OK;
}
