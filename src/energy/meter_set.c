/* ecoinfer: every meter of a host, opened together (see meter_set.h). */
#include "energy/meter_set.h"

#include "energy/sysread.h"
#include "util/fs.h"

#include <ctype.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SET_MAX 64

/* ---- coverage --------------------------------------------------------------- */

static bool word_is(const char *w, size_t n, const char *s) {
  return strlen(s) == n && strncasecmp(w, s, n) == 0;
}

unsigned eco_rail_covers(const char *rail) {
  if (!rail) return 0;
  unsigned c = 0;
  bool sys = false;
  const char *p = rail;
  while (*p) {
    size_t n = strcspn(p, "_ ");
    if (word_is(p, n, "GPU"))
      c |= ECO_COVER_GPU;
    else if (word_is(p, n, "CPU"))
      c |= ECO_COVER_CPU;
    else if (word_is(p, n, "SOC"))
      c |= ECO_COVER_SOC;
    else if (word_is(p, n, "CV"))
      c |= ECO_COVER_CV;
    else if (word_is(p, n, "DDR") || word_is(p, n, "VDDQ") || word_is(p, n, "VDDRQ") ||
             word_is(p, n, "VDD2"))
      c |= ECO_COVER_DDR;
    else if (word_is(p, n, "IN"))
      c |= ECO_COVER_BOARD;
    else if (word_is(p, n, "SYS") || word_is(p, n, "SYS5V"))
      sys = true;
    p += n;
    while (*p == '_' || *p == ' ')
      p++;
  }
  if (!c && sys) c = ECO_COVER_SYS;
  return c;
}

void eco_covers_str(unsigned covers, char *buf, size_t cap) {
  static const char *const names[] = ECO_COVER_NAMES;
  if (!buf || !cap) return;
  buf[0] = '\0';
  size_t off = 0;
  for (int i = 0; i < ECO_COVER_COUNT; i++) {
    if (!(covers & (1u << i))) continue;
    int w = snprintf(buf + off, cap - off, "%s%s", off ? "+" : "", names[i]);
    if (w < 0 || (size_t)w >= cap - off) break;
    off += (size_t)w;
  }
}

unsigned eco_cover_parse(const char *name) {
  static const char *const names[] = ECO_COVER_NAMES;
  for (int i = 0; name && i < ECO_COVER_COUNT; i++)
    if (strcasecmp(name, names[i]) == 0) return 1u << i;
  return 0;
}

/* ---- the set ------------------------------------------------------------------ */

static eco_meter_entry *add(eco_meter_set *s, const char *id, const char *device, eco_meter *m,
                            unsigned covers) {
  if (s->n >= SET_MAX) {
    eco_meter_free(m);
    return NULL;
  }
  eco_meter_entry *e = &s->e[s->n++];
  memset(e, 0, sizeof *e);
  snprintf(e->id, sizeof e->id, "%s", id);
  snprintf(e->device, sizeof e->device, "%s", device);
  e->meter = m;
  e->covers = covers;
  return e;
}

static void note(eco_meter_set *s, const eco_error *e) {
  size_t l = strlen(s->notes);
  if (l + 4 < sizeof s->notes)
    snprintf(s->notes + l, sizeof s->notes - l, "%s%s", l ? "; " : "", eco_error_text(e));
}

static unsigned hwmon_covers(const char *chip) {
  static const char *const gpus[] = {"amdgpu", "radeon", "nouveau", "i915", "xe"};
  for (size_t i = 0; i < sizeof gpus / sizeof gpus[0]; i++)
    if (strcmp(chip, gpus[i]) == 0) return ECO_COVER_GPU;
  return ECO_COVER_CPU;
}

static void open_ina(const eco_meter_set_opts *o, eco_meter_set *s) {
  eco_meter *m = NULL;
  eco_error e = {0};
  if (eco_meter_ina3221_open(o->root, NULL, &m, &e) != 0) return;
  eco_rail_energy r[16];
  size_t n = 0;
  unsigned covers = 0;
  (void)eco_meter_ina3221_rails(m, r, 16, &n);
  bool total = strncmp(m->src.detail, "sum of", 6) != 0;
  if (total) {
    covers = eco_rail_covers(m->src.detail) | ECO_COVER_BOARD;
  } else {
    for (size_t i = 0; i < n && i < 16; i++)
      covers |= eco_rail_covers(r[i].name);
  }
  add(s, "ina3221", "board", m, covers);
}

static void open_rapl(const eco_meter_set_opts *o, eco_meter_set *s) {
  eco_meter *m = NULL;
  eco_error e = {0};
  if (eco_meter_rapl_open(o->root, NULL, &m, &e) != 0) return;
  unsigned c = ECO_COVER_CPU | (strstr(m->src.detail, "dram") ? ECO_COVER_DDR : 0);
  add(s, "rapl", "cpu", m, c);
}

/* Every hwmon chip with an energy or power sensor, once per name. */
static void open_hwmon(const eco_meter_set_opts *o, eco_meter_set *s) {
  char pat[1024];
  snprintf(pat, sizeof pat, "%s/sys/class/hwmon/hwmon*/name", eco_energy_root(o->root));
  glob_t g;
  if (glob(pat, 0, NULL, &g) != 0) return;
  char seen[SET_MAX][40];
  size_t ns = 0;
  for (size_t i = 0; i < g.gl_pathc && ns < SET_MAX; i++) {
    char chip[40] = "";
    if (eco_fs_read_line(g.gl_pathv[i], chip, sizeof chip) || !chip[0]) continue;
    bool dup = strncasecmp(chip, "ina3221", 7) == 0;
    for (size_t k = 0; k < ns && !dup; k++)
      dup = strcmp(seen[k], chip) == 0;
    if (dup) continue;
    snprintf(seen[ns++], sizeof seen[0], "%s", chip);
    eco_meter *m = NULL;
    eco_error e = {0};
    if (eco_meter_hwmon_open(o->root, chip, &m, &e) != 0) continue;
    char id[48];
    snprintf(id, sizeof id, "hwmon:%.40s", chip);
    add(s, id, chip, m, hwmon_covers(chip));
  }
  globfree(&g);
}

static void open_nvml(const eco_meter_set_opts *o, eco_meter_set *s) {
  eco_nvml_api api;
  eco_error e = {0};
  unsigned count = 0;
  if (eco_nvml_load(o->nvml_lib, &api, &e) != 0) {
    note(s, &e);
    return;
  }
  int rc = eco_nvml_device_count(&api, &count, &e);
  eco_nvml_unload(&api);
  if (rc) {
    note(s, &e);
    return;
  }
  for (unsigned i = 0; i < count && s->n < SET_MAX; i++) {
    eco_meter *m = NULL;
    /* one load per meter: each meter owns its handle (dlopen counts) */
    if (eco_nvml_load(o->nvml_lib, &api, &e) != 0 || eco_meter_nvml_open(&api, i, &m, &e) != 0) {
      if (api.lib) eco_nvml_unload(&api);
      note(s, &e);
      continue;
    }
    char id[48], dev[32];
    snprintf(id, sizeof id, "nvml:%u", i);
    snprintf(dev, sizeof dev, "gpu%u", i);
    add(s, id, dev, m, ECO_COVER_GPU);
  }
}

int eco_meter_set_open(const eco_meter_set_opts *o, eco_meter_set *out, eco_error *err) {
  eco_meter_set_opts def = {0};
  if (!o) o = &def;
  if (!out) return eco_error_set(err, ECO_EINVAL, "meters: out is NULL");
  memset(out, 0, sizeof *out);
  out->e = calloc(SET_MAX, sizeof *out->e);
  if (!out->e) return eco_error_set(err, ECO_ENOMEM, "meters: out of memory");
  open_ina(o, out);
  open_rapl(o, out);
  open_hwmon(o, out);
  if (!o->no_nvml) open_nvml(o, out);
  /* the host meter, in eco_meter_open_auto's order */
  static const char *const order[] = {"ina3221", "rapl", "hwmon:"};
  for (size_t k = 0; k < 3; k++) {
    for (size_t i = 0; i < out->n; i++) {
      if (strncmp(out->e[i].id, order[k], strlen(order[k])) == 0) {
        out->e[i].host = true;
        return ECO_OK;
      }
    }
  }
  eco_meter *m = NULL;
  int rc = eco_meter_model_open(o->root, o->model, &m, err);
  if (rc) {
    eco_meter_set_free(out);
    return rc;
  }
  eco_meter_entry *e = add(out, "model", "cpu", m, ECO_COVER_CPU);
  if (e) e->host = true;
  return ECO_OK;
}

int eco_meter_set_start(eco_meter_set *s, double interval_s) {
  for (size_t i = 0; s && i < s->n; i++) {
    int rc = eco_meter_start(s->e[i].meter, interval_s);
    if (rc) return rc;
  }
  return ECO_OK;
}

void eco_meter_set_free(eco_meter_set *s) {
  if (!s) return;
  for (size_t i = 0; s->e && i < s->n; i++)
    eco_meter_free(s->e[i].meter);
  free(s->e);
  s->e = NULL;
  s->n = 0;
}
