/* ecoinfer accounting: the objects the carbon:, device:/devices: and
 * ledger: sections make (see setup.h). */
#include "accounting/setup.h"

#include "util/timeutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int eco_carbon_zone_pue(const eco_cfg *cfg, const char **zone, double *pue, eco_error *err) {
  int rc;
  if ((rc = eco_cfg_str(cfg, NULL, "carbon.zone", "world", zone, err))) return rc;
  if ((rc = eco_cfg_double(cfg, NULL, "carbon.pue", 1.0, pue, err))) return rc;
  if (!(*pue >= 1.0) || !isfinite(*pue))
    return eco_error_set(err, ECO_ECONFIG, "carbon.pue: must be >= 1 (got %g)", *pue);
  return ECO_OK;
}

/* ---- providers from config --------------------------------------------------- */

static int static_from_cfg(const eco_cfg *cfg, eco_intensity_provider **out, eco_error *err) {
  double world;
  int rc = eco_cfg_double(cfg, NULL, "carbon.static.world", -1, &world, err);
  if (rc) return rc;
  const eco_cfg_node *zones = eco_cfg_find(cfg, NULL, "carbon.static.zones");
  if (!zones || zones->kind != ECO_CFG_MAP || zones->n_items == 0)
    return eco_intensity_static_new(NULL, 0, world, out, err);
  /* configured zones extend the built-in table (configured values win) */
  size_t nb;
  double wb;
  const eco_static_entry *b = eco_static_builtin(&nb, &wb);
  eco_static_entry *e = calloc(nb + zones->n_items, sizeof *e);
  if (!e) return eco_error_set(err, ECO_ENOMEM, "out of memory");
  size_t n = 0;
  for (size_t i = 0; i < zones->n_items; i++) {
    const eco_cfg_node *z = zones->items[i];
    double v;
    if ((rc = eco_cfg_double(cfg, zones, z->key, 0, &v, err))) {
      free(e);
      return rc;
    }
    e[n].zone = z->key;
    e[n++].gco2_kwh = v;
  }
  for (size_t i = 0; i < nb; i++) {
    bool dup = false;
    for (size_t k = 0; k < zones->n_items; k++)
      if (strcasecmp(zones->items[k]->key, b[i].zone) == 0) dup = true;
    if (!dup) e[n++] = b[i];
  }
  rc = eco_intensity_static_new(e, n, world < 0 ? wb : world, out, err);
  free(e);
  return rc;
}

static int trace_from_cfg(const eco_cfg *cfg, double now_s, eco_intensity_provider **out,
                          eco_error *err) {
  const char *path, *column, *signal, *start, *origin;
  double speed;
  bool loop, replay;
  int rc;
  if ((rc = eco_cfg_str(cfg, NULL, "carbon.trace.path", NULL, &path, err)) ||
      (rc = eco_cfg_str(cfg, NULL, "carbon.trace.column", "direct", &column, err)) ||
      (rc = eco_cfg_str(cfg, NULL, "carbon.trace.signal", "average", &signal, err)) ||
      (rc = eco_cfg_str(cfg, NULL, "carbon.trace.start", NULL, &start, err)) ||
      (rc = eco_cfg_str(cfg, NULL, "carbon.trace.origin", NULL, &origin, err)) ||
      (rc = eco_cfg_double(cfg, NULL, "carbon.trace.speed", 0, &speed, err)) ||
      (rc = eco_cfg_bool(cfg, NULL, "carbon.trace.loop", true, &loop, err)) ||
      (rc = eco_cfg_bool(cfg, NULL, "carbon.trace.replay", false, &replay, err)))
    return rc;
  if (!path)
    return eco_error_set(err, ECO_ECONFIG,
                         "carbon.trace.path: required for provider 'trace' (a CSV file or a "
                         "directory of CSVs)");
  eco_trace_opts o;
  eco_trace_opts_default(&o);
  if (strcasecmp(column, "lifecycle") == 0 || strcasecmp(column, "lca") == 0)
    o.column = ECO_TRACE_LIFECYCLE;
  else if (strcasecmp(column, "direct") != 0)
    return eco_error_set(err, ECO_ECONFIG, "carbon.trace.column: 'direct' or 'lifecycle', not '%s'",
                         column);
  if (eco_signal_parse(signal, &o.signal))
    return eco_error_set(err, ECO_ECONFIG, "carbon.trace.signal: 'average' or 'marginal'");
  o.loop = loop;
  if (start && eco_time_parse_iso8601(start, &o.start_s))
    return eco_error_set(err, ECO_ECONFIG, "carbon.trace.start: not an ISO-8601 time: '%s'", start);
  if (speed < 0 || !isfinite(speed))
    return eco_error_set(err, ECO_ECONFIG, "carbon.trace.speed: must be > 0");
  double origin_s = now_s;
  if (origin && eco_time_parse_iso8601(origin, &origin_s)) {
    char *end = NULL;
    origin_s = strtod(origin, &end);
    if (!end || end == origin || *end || !(origin_s > 0) || !isfinite(origin_s)) {
      char where[160];
      eco_cfg_origin(cfg, NULL, "carbon.trace.origin", where, sizeof where);
      return eco_error_set(err, ECO_ECONFIG, "%s: not an ISO-8601 time or epoch seconds: '%.64s'",
                           where, origin);
    }
  }
  if (replay || start || speed > 0 || origin) {
    o.replay_origin_s = origin_s;
    o.speed = speed > 0 ? speed : 1.0;
  }
  return eco_intensity_trace_open(path, &o, out, err);
}

/* ---- the schema of carbon:, device:, devices:, energy: and ledger: ---------------- */

static const eco_cfg_schema LIVE_KEYS[] = {
    ECO_CFG_VALUE("base_url"),        ECO_CFG_VALUE("token"),   ECO_CFG_VALUE("username"),
    ECO_CFG_VALUE("password"),        ECO_CFG_VALUE("timeout"), ECO_CFG_VALUE("connect_timeout"),
    ECO_CFG_VALUE("retries"),         ECO_CFG_VALUE("backoff"), ECO_CFG_VALUE("backoff_max"),
    ECO_CFG_VALUE("emission_factor"), ECO_CFG_VALUE("signal"),  ECO_CFG_VALUE("now_window")};
static const eco_cfg_schema DEVICE_KEYS[] = {ECO_CFG_VALUE("name"),
                                             ECO_CFG_VALUE("meter"),
                                             ECO_CFG_VALUE("rapl_domains"),
                                             ECO_CFG_VALUE("hwmon_chip"),
                                             ECO_CFG_VALUE("total_rail"),
                                             ECO_CFG_VALUE("gpu_index"),
                                             ECO_CFG_VALUE("embodied_kg"),
                                             ECO_CFG_VALUE("lifetime_years"),
                                             ECO_CFG_VALUE("share"),
                                             ECO_CFG_VALUE("tdp_w"),
                                             ECO_CFG_VALUE("idle_fraction"),
                                             ECO_CFG_VALUE("mem_w_per_gib"),
                                             ECO_CFG_VALUE("idle_w"),
                                             ECO_CFG_VALUE("calibration"),
                                             ECO_CFG_VALUE("attribution"),
                                             ECO_CFG_VALUE("exclude_idle"),
                                             ECO_CFG_VALUE("prompt_token_weight")};
static const eco_cfg_schema ONE_VALUE[] = {ECO_CFG_VALUE(NULL)};
static const eco_cfg_schema STATIC_KEYS[] = {ECO_CFG_VALUE("world"),
                                             ECO_CFG_SHAPED("zones", ECO_CFG_S_DICT, ONE_VALUE)};
static const eco_cfg_schema TRACE_KEYS[] = {ECO_CFG_VALUE("path"),   ECO_CFG_VALUE("column"),
                                            ECO_CFG_VALUE("signal"), ECO_CFG_VALUE("start"),
                                            ECO_CFG_VALUE("speed"),  ECO_CFG_VALUE("loop"),
                                            ECO_CFG_VALUE("replay"), ECO_CFG_VALUE("origin")};
/* refresh and speed are the router's (router_cfg.c); trace may also be the
 * router's shorthand, a bare path */
static const eco_cfg_schema CARBON_KEYS[] = {
    ECO_CFG_VALUE("provider"),
    ECO_CFG_VALUE("zone"),
    ECO_CFG_VALUE("pue"),
    ECO_CFG_VALUE("fallback"),
    ECO_CFG_VALUE("cache_ttl"),
    ECO_CFG_VALUE("last_known_max_age"),
    ECO_CFG_VALUE("refresh"),
    ECO_CFG_VALUE("speed"),
    ECO_CFG_SHAPED("static", ECO_CFG_S_MAP, STATIC_KEYS),
    ECO_CFG_SHAPED("trace", ECO_CFG_S_VALUE_OR_MAP, TRACE_KEYS),
    ECO_CFG_SHAPED("electricitymaps", ECO_CFG_S_MAP, LIVE_KEYS),
    ECO_CFG_SHAPED("watttime", ECO_CFG_S_MAP, LIVE_KEYS),
    ECO_CFG_SHAPED("ukci", ECO_CFG_S_MAP, LIVE_KEYS),
    ECO_CFG_SHAPED("carbon_aware_sdk", ECO_CFG_S_MAP, LIVE_KEYS)};
static const eco_cfg_schema DEVICE_ITEM[] = {ECO_CFG_SHAPED(NULL, ECO_CFG_S_MAP, DEVICE_KEYS)};
static const eco_cfg_schema ENERGY_KEYS[] = {
    ECO_CFG_VALUE("attribution"), ECO_CFG_VALUE("attribution_interval"), ECO_CFG_VALUE("cpu_watts"),
    ECO_CFG_VALUE("sysfs_root")};
static const eco_cfg_schema LEDGER_KEYS[] = {ECO_CFG_VALUE("path"), ECO_CFG_VALUE("synchronous"),
                                             ECO_CFG_VALUE("busy_timeout")};
static const eco_cfg_schema SECTIONS[] = {ECO_CFG_SHAPED("carbon", ECO_CFG_S_MAP, CARBON_KEYS),
                                          ECO_CFG_SHAPED("device", ECO_CFG_S_MAP, DEVICE_KEYS),
                                          ECO_CFG_SHAPED("devices", ECO_CFG_S_LIST, DEVICE_ITEM),
                                          ECO_CFG_SHAPED("energy", ECO_CFG_S_MAP, ENERGY_KEYS),
                                          ECO_CFG_SHAPED("ledger", ECO_CFG_S_MAP, LEDGER_KEYS)};

const eco_cfg_schema *eco_acct_cfg_sections(size_t *n) {
  *n = sizeof SECTIONS / sizeof SECTIONS[0];
  return SECTIONS;
}

static int live_from_cfg(const eco_cfg *cfg, const char *section, eco_live_opts *o,
                         eco_error *err) {
  eco_live_opts_default(o);
  const eco_cfg_node *s = eco_cfg_find(cfg, NULL, section);
  static const eco_cfg_schema sch = ECO_CFG_SHAPED(NULL, ECO_CFG_S_MAP, LIVE_KEYS);
  int rc = eco_cfg_check_schema(cfg, s, &sch, err);
  if (rc) return rc;
  char p[128];
  const char *signal = NULL;
  int64_t retries;
#define PATH(k) (snprintf(p, sizeof p, "%s." k, section), p)
  if ((rc = eco_cfg_str(cfg, NULL, PATH("base_url"), NULL, &o->base_url, err)) ||
      (rc = eco_cfg_str(cfg, NULL, PATH("token"), NULL, &o->token, err)) ||
      (rc = eco_cfg_str(cfg, NULL, PATH("username"), NULL, &o->username, err)) ||
      (rc = eco_cfg_str(cfg, NULL, PATH("password"), NULL, &o->password, err)) ||
      (rc = eco_cfg_duration(cfg, NULL, PATH("timeout"), o->timeout_s, &o->timeout_s, err)) ||
      (rc = eco_cfg_duration(cfg, NULL, PATH("connect_timeout"), o->connect_timeout_s,
                             &o->connect_timeout_s, err)) ||
      (rc = eco_cfg_int(cfg, NULL, PATH("retries"), 0, &retries, err)) ||
      (rc = eco_cfg_duration(cfg, NULL, PATH("backoff"), o->backoff_s, &o->backoff_s, err)) ||
      (rc = eco_cfg_duration(cfg, NULL, PATH("backoff_max"), o->backoff_max_s, &o->backoff_max_s,
                             err)) ||
      (rc = eco_cfg_duration(cfg, NULL, PATH("now_window"), o->now_window_s, &o->now_window_s,
                             err)) ||
      (rc = eco_cfg_str(cfg, NULL, PATH("emission_factor"), NULL, &o->emission_factor, err)) ||
      (rc = eco_cfg_str(cfg, NULL, PATH("signal"), NULL, &signal, err)))
    return rc;
#undef PATH
  if (retries < 0 || retries > 10)
    return eco_error_set(err, ECO_ECONFIG, "%s.retries: 0..10", section);
  o->retries = (int)retries;
  if (signal && eco_signal_parse(signal, &o->signal))
    return eco_error_set(err, ECO_ECONFIG, "%s.signal: 'average' or 'marginal'", section);
  return ECO_OK;
}

int eco_carbon_provider_from_config(const eco_cfg *cfg, const char *provider_override, double now_s,
                                    eco_intensity_provider **out, eco_error *err) {
  if (!cfg || !out) return eco_error_set(err, ECO_EINVAL, "carbon: invalid argument");
  *out = NULL;
  const char *name;
  int rc = eco_cfg_str(cfg, NULL, "carbon.provider", "static", &name, err);
  if (rc) return rc;
  if (provider_override && *provider_override) name = provider_override;
  if (strcasecmp(name, "static") == 0) return static_from_cfg(cfg, out, err);
  if (strcasecmp(name, "trace") == 0) return trace_from_cfg(cfg, now_s, out, err);
  eco_live_opts o;
  eco_intensity_provider *live = NULL;
  if (strcasecmp(name, "electricitymaps") == 0) {
    if (!(rc = live_from_cfg(cfg, "carbon.electricitymaps", &o, err)))
      rc = eco_intensity_electricitymaps_new(&o, &live, err);
  } else if (strcasecmp(name, "watttime") == 0) {
    if (!(rc = live_from_cfg(cfg, "carbon.watttime", &o, err)))
      rc = eco_intensity_watttime_new(&o, &live, err);
  } else if (strcasecmp(name, "ukci") == 0 || strcasecmp(name, "carbonintensity") == 0) {
    if (!(rc = live_from_cfg(cfg, "carbon.ukci", &o, err)))
      rc = eco_intensity_ukci_new(&o, &live, err);
  } else if (strcasecmp(name, "carbon-aware-sdk") == 0 || strcasecmp(name, "carbonaware") == 0) {
    if (!(rc = live_from_cfg(cfg, "carbon.carbon_aware_sdk", &o, err)))
      rc = eco_intensity_carbonaware_new(&o, &live, err);
  } else {
    return eco_error_set(err, ECO_ECONFIG,
                         "carbon.provider: unknown '%s' (static, trace, electricitymaps, "
                         "watttime, ukci, carbon-aware-sdk)",
                         name);
  }
  if (rc) return rc;
  double ttl, max_age;
  bool fallback;
  eco_intensity_provider *cached = NULL, *st = NULL;
  if ((rc = eco_cfg_duration(cfg, NULL, "carbon.cache_ttl", 300, &ttl, err)) ||
      (rc = eco_cfg_duration(cfg, NULL, "carbon.last_known_max_age", 6 * 3600.0, &max_age, err)) ||
      (rc = eco_cfg_bool(cfg, NULL, "carbon.fallback", true, &fallback, err))) {
    eco_intensity_free(live);
    return rc;
  }
  if ((rc = eco_intensity_cache_new(live, ttl, &cached, err))) {
    eco_intensity_free(live);
    return rc;
  }
  if (!fallback) {
    *out = cached;
    return ECO_OK;
  }
  if ((rc = static_from_cfg(cfg, &st, err))) {
    eco_intensity_free(cached);
    return rc;
  }
  rc = eco_intensity_fallback_new(cached, st, max_age, out, err);
  if (rc) {
    eco_intensity_free(cached);
    eco_intensity_free(st);
  }
  return rc;
}

/* ---- devices ----------------------------------------------------------------------- */

static int device_from_node(const eco_cfg *cfg, const eco_cfg_node *node, size_t idx, double pue,
                            eco_device_cfg *d, eco_error *err) {
  memset(d, 0, sizeof *d);
  static const eco_cfg_schema sch = ECO_CFG_SHAPED(NULL, ECO_CFG_S_MAP, DEVICE_KEYS);
  int rc = eco_cfg_check_schema(cfg, node, &sch, err);
  if (rc) return rc;
  const char *name, *meter, *rapl, *chip, *rail, *rule;
  int64_t gpu;
  double kg, years, share;
  eco_model_params_default(&d->model);
  eco_attr_cfg_default(&d->attr);
  char defname[16];
  snprintf(defname, sizeof defname, idx == 0 ? "cpu" : "dev%zu", idx);
  if ((rc = eco_cfg_str(cfg, node, "name", defname, &name, err)) ||
      (rc = eco_cfg_str(cfg, node, "meter", "auto", &meter, err)) ||
      (rc = eco_cfg_str(cfg, node, "rapl_domains", "", &rapl, err)) ||
      (rc = eco_cfg_str(cfg, node, "hwmon_chip", "", &chip, err)) ||
      (rc = eco_cfg_str(cfg, node, "total_rail", "", &rail, err)) ||
      (rc = eco_cfg_int(cfg, node, "gpu_index", 0, &gpu, err)) ||
      (rc = eco_cfg_double(cfg, node, "embodied_kg", 0, &kg, err)) ||
      (rc = eco_cfg_double(cfg, node, "lifetime_years", 4, &years, err)) ||
      (rc = eco_cfg_double(cfg, node, "share", 1, &share, err)) ||
      (rc = eco_cfg_double(cfg, node, "tdp_w", 0, &d->model.tdp_w, err)) ||
      (rc = eco_cfg_double(cfg, node, "idle_fraction", d->model.idle_fraction,
                           &d->model.idle_fraction, err)) ||
      (rc = eco_cfg_double(cfg, node, "mem_w_per_gib", d->model.mem_w_per_gib,
                           &d->model.mem_w_per_gib, err)) ||
      (rc = eco_cfg_double(cfg, node, "idle_w", 0, &d->attr.idle_w, err)) ||
      (rc = eco_cfg_double(cfg, node, "calibration", 1, &d->attr.calibration, err)) ||
      (rc = eco_cfg_str(cfg, node, "attribution", "tokens", &rule, err)) ||
      (rc = eco_cfg_bool(cfg, node, "exclude_idle", false, &d->attr.exclude_idle, err)) ||
      (rc = eco_cfg_double(cfg, node, "prompt_token_weight", 1, &d->attr.prompt_token_weight, err)))
    return rc;
  char where[128] = "device";
  if (node) eco_cfg_where(cfg, node, where, sizeof where);
  static const char *const meters[] = {"auto", "rapl", "hwmon", "nvml", "ina3221", "model"};
  bool ok = false;
  for (size_t i = 0; i < sizeof meters / sizeof meters[0]; i++)
    if (strcasecmp(meter, meters[i]) == 0) ok = true;
  if (!ok)
    return eco_error_set(err, ECO_ECONFIG,
                         "%s: meter '%s': expected auto, rapl, hwmon, nvml, ina3221 or model",
                         where, meter);
  if (eco_attr_rule_parse(rule, &d->attr.rule))
    return eco_error_set(err, ECO_ECONFIG, "%s: attribution '%s': expected tokens or busy", where,
                         rule);
  if (eco_embodied_make(kg, years, share, &d->embodied))
    return eco_error_set(err, ECO_ECONFIG,
                         "%s: embodied_kg and lifetime_years must be >= 0, share within 0..1",
                         where);
  if (!(d->attr.calibration > 0) || d->attr.idle_w < 0 || d->model.tdp_w < 0 ||
      d->model.idle_fraction < 0 || d->model.idle_fraction > 1 || d->model.mem_w_per_gib < 0 ||
      d->attr.prompt_token_weight < 0 || gpu < 0 || gpu > 1024)
    return eco_error_set(err, ECO_ECONFIG,
                         "%s: calibration must be > 0; idle_w, tdp_w, mem_w_per_gib, "
                         "prompt_token_weight >= 0; idle_fraction within 0..1",
                         where);
  d->attr.pue = pue;
  d->gpu_index = (int)gpu;
  snprintf(d->name, sizeof d->name, "%s", name);
  snprintf(d->meter, sizeof d->meter, "%s", meter);
  snprintf(d->rapl_domains, sizeof d->rapl_domains, "%s", rapl);
  snprintf(d->hwmon_chip, sizeof d->hwmon_chip, "%s", chip);
  snprintf(d->total_rail, sizeof d->total_rail, "%s", rail);
  for (char *c = d->meter; *c; c++)
    if (*c >= 'A' && *c <= 'Z') *c = (char)(*c - 'A' + 'a');
  return ECO_OK;
}

int eco_device_cfgs_load(const eco_cfg *cfg, eco_device_cfg **out, size_t *n, eco_error *err) {
  if (!cfg || !out || !n) return eco_error_set(err, ECO_EINVAL, "devices: invalid argument");
  *out = NULL;
  *n = 0;
  const char *zone;
  double pue;
  int rc = eco_carbon_zone_pue(cfg, &zone, &pue, err);
  if (rc) return rc;
  const eco_cfg_node *list = eco_cfg_find(cfg, NULL, "devices");
  const eco_cfg_node *one = eco_cfg_find(cfg, NULL, "device");
  size_t cnt = 1;
  if (list) {
    if (list->kind != ECO_CFG_SEQ || list->n_items == 0) {
      char w[128];
      eco_cfg_where(cfg, list, w, sizeof w);
      return eco_error_set(err, ECO_ECONFIG, "%s: devices: expected a non-empty list", w);
    }
    cnt = list->n_items;
  }
  eco_device_cfg *d = calloc(cnt, sizeof *d);
  if (!d) return eco_error_set(err, ECO_ENOMEM, "out of memory");
  for (size_t i = 0; i < cnt; i++) {
    const eco_cfg_node *node = list ? list->items[i] : one;
    if (node && node->kind != ECO_CFG_MAP) {
      char w[128];
      eco_cfg_where(cfg, node, w, sizeof w);
      free(d);
      return eco_error_set(err, ECO_ECONFIG, "%s: a device must be a map", w);
    }
    rc = device_from_node(cfg, node, i, pue, &d[i], err);
    if (rc) {
      free(d);
      return rc;
    }
  }
  *out = d;
  *n = cnt;
  return ECO_OK;
}

int eco_device_meter_open(const eco_device_cfg *d, const char *root, eco_meter **out,
                          eco_error *err) {
  if (!d || !out) return eco_error_set(err, ECO_EINVAL, "device meter: invalid argument");
  const char *m = d->meter[0] ? d->meter : "auto";
  if (strcmp(m, "rapl") == 0)
    return eco_meter_rapl_open(root, d->rapl_domains[0] ? d->rapl_domains : NULL, out, err);
  if (strcmp(m, "hwmon") == 0)
    return eco_meter_hwmon_open(root, d->hwmon_chip[0] ? d->hwmon_chip : NULL, out, err);
  if (strcmp(m, "ina3221") == 0)
    return eco_meter_ina3221_open(root, d->total_rail[0] ? d->total_rail : NULL, out, err);
  if (strcmp(m, "model") == 0) return eco_meter_model_open(root, &d->model, out, err);
  if (strcmp(m, "nvml") == 0) {
    eco_nvml_api api;
    int rc = eco_nvml_load(NULL, &api, err);
    if (rc) return rc;
    rc = eco_meter_nvml_open(&api, (unsigned)d->gpu_index, out, err);
    if (rc) eco_nvml_unload(&api);
    return rc;
  }
  return eco_meter_open_auto(root, &d->model, out, err);
}

int eco_ledger_open_from_config(const eco_cfg *cfg, bool read_only, eco_ledger **out,
                                eco_error *err) {
  const char *path, *sync;
  double busy;
  int rc;
  if ((rc = eco_cfg_str(cfg, NULL, "ledger.path", NULL, &path, err)) ||
      (rc = eco_cfg_str(cfg, NULL, "ledger.synchronous", "normal", &sync, err)) ||
      (rc = eco_cfg_duration(cfg, NULL, "ledger.busy_timeout", 5, &busy, err)))
    return rc;
  if (!path || !*path) return eco_error_set(err, ECO_ECONFIG, "ledger.path: not set");
  eco_ledger_opts o = {.busy_timeout_s = busy, .read_only = read_only};
  if (strcasecmp(sync, "full") == 0)
    o.sync_full = true;
  else if (strcasecmp(sync, "normal") != 0)
    return eco_error_set(err, ECO_ECONFIG, "ledger.synchronous: 'normal' or 'full', not '%s'",
                         sync);
  return eco_ledger_open(path, &o, out, err);
}
