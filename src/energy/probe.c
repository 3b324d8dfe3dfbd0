#include "energy/probe.h"

#include "util/fs.h"
#include "util/status.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int add(eco_sensor_list *l, eco_sensor_kind k, const char *name, const char *path,
               bool readable, const char *hint) {
  eco_sensor *it = realloc(l->items, (l->n + 1) * sizeof *it);
  if (!it) return ECO_ENOMEM;
  l->items = it;
  eco_sensor *s = &it[l->n++];
  memset(s, 0, sizeof *s);
  s->kind = k;
  snprintf(s->name, sizeof s->name, "%s", name);
  snprintf(s->path, sizeof s->path, "%s", path);
  s->readable = readable;
  snprintf(s->hint, sizeof s->hint, "%s", hint ? hint : "");
  return ECO_OK;
}

/* Tries to read a counter file; returns 0 and an empty hint, or a hint. */
static bool try_read(const char *path, char *hint, size_t cap) {
  char buf[64];
  int rc = eco_fs_read_line(path, buf, sizeof buf);
  if (rc == ECO_EACCES) {
    snprintf(hint, cap,
             "permission denied (root-only since CVE-2020-8694): run as root or "
             "chmod a+r the file");
    return false;
  }
  if (rc) {
    snprintf(hint, cap, "cannot read: %s", eco_strerror(rc));
    return false;
  }
  char *end;
  strtoull(buf, &end, 10);
  if (end == buf) {
    snprintf(hint, cap, "unexpected content '%.40s'", buf);
    return false;
  }
  hint[0] = '\0';
  return true;
}

static int scan_rapl(const char *root, eco_sensor_list *l) {
  char pat[1024];
  snprintf(pat, sizeof pat, "%s/sys/class/powercap/*-rapl:*", root);
  glob_t g;
  if (glob(pat, 0, NULL, &g) != 0) return ECO_OK;
  int rc = ECO_OK;
  for (size_t i = 0; i < g.gl_pathc && !rc; i++) {
    char namef[1100], energyf[1100], name[64] = "?", hint[160];
    snprintf(namef, sizeof namef, "%s/name", g.gl_pathv[i]);
    snprintf(energyf, sizeof energyf, "%s/energy_uj", g.gl_pathv[i]);
    if (eco_fs_read_line(namef, name, sizeof name)) continue;
    if (!eco_fs_exists(energyf)) continue;
    bool ok = try_read(energyf, hint, sizeof hint);
    rc = add(l, ECO_SENSOR_RAPL, name, energyf, ok, hint);
  }
  globfree(&g);
  return rc;
}

static int scan_hwmon(const char *root, eco_sensor_list *l) {
  char pat[1024];
  snprintf(pat, sizeof pat, "%s/sys/class/hwmon/hwmon*", root);
  glob_t g;
  if (glob(pat, 0, NULL, &g) != 0) return ECO_OK;
  int rc = ECO_OK;
  for (size_t i = 0; i < g.gl_pathc && !rc; i++) {
    char namef[1100], chip[64] = "hwmon";
    snprintf(namef, sizeof namef, "%s/name", g.gl_pathv[i]);
    eco_fs_read_line(namef, chip, sizeof chip);
    bool ina = strstr(chip, "ina3221") != NULL;
    const char *pats[] = {"power*_input", "energy*_input", "power*_average", "in*_label"};
    for (size_t p = 0; p < 4 && !rc; p++) {
      if (p == 3 && !ina) continue;
      char sp[1200];
      snprintf(sp, sizeof sp, "%s/%s", g.gl_pathv[i], pats[p]);
      glob_t g2;
      if (glob(sp, 0, NULL, &g2) != 0) continue;
      for (size_t j = 0; j < g2.gl_pathc && !rc; j++) {
        const char *base = strrchr(g2.gl_pathv[j], '/') + 1;
        char name[64], hint[160] = "";
        bool ok;
        if (p == 3) {
          char label[48] = "";
          eco_fs_read_line(g2.gl_pathv[j], label, sizeof label);
          snprintf(name, sizeof name, "%s", label[0] ? label : base);
          ok = label[0] != '\0';
          rc = add(l, ECO_SENSOR_INA3221, name, g2.gl_pathv[j], ok, ok ? "" : "empty label");
        } else {
          snprintf(name, sizeof name, "%.24s %.36s", chip, base);
          ok = try_read(g2.gl_pathv[j], hint, sizeof hint);
          rc = add(l, ina ? ECO_SENSOR_INA3221 : ECO_SENSOR_HWMON, name, g2.gl_pathv[j], ok, hint);
        }
      }
      globfree(&g2);
    }
  }
  globfree(&g);
  return rc;
}

static int scan_nvml(eco_sensor_list *l) {
  void *h = dlopen("libnvidia-ml.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (!h) return ECO_OK;
  dlclose(h);
  return add(l, ECO_SENSOR_NVML, "NVML", "libnvidia-ml.so.1", true, "");
}

int eco_energy_probe(const char *root, bool probe_nvml, eco_sensor_list *out) {
  memset(out, 0, sizeof *out);
  if (!root || strcmp(root, "/") == 0) root = "";
  int rc = scan_rapl(root, out);
  if (!rc) rc = scan_hwmon(root, out);
  if (!rc && probe_nvml) rc = scan_nvml(out);
  if (rc) eco_sensor_list_free(out);
  return rc;
}

void eco_sensor_list_free(eco_sensor_list *l) {
  free(l->items);
  l->items = NULL;
  l->n = 0;
}

const char *eco_sensor_kind_name(eco_sensor_kind k) {
  switch (k) {
  case ECO_SENSOR_RAPL: return "rapl";
  case ECO_SENSOR_HWMON: return "hwmon";
  case ECO_SENSOR_NVML: return "nvml";
  case ECO_SENSOR_INA3221: return "ina3221";
  }
  return "?";
}
