/* ecoinfer simulator: scenario YAML (see scenario.h). */
#include "sim/scenario.h"

#include "sim/workload.h"
#include "util/fs.h"
#include "util/timeutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NKEYS(a) (sizeof(a) / sizeof((a)[0]))

static const char *const top_keys[] = {"seed",     "duration",     "start",       "batch",
                                       "devices",  "device_bench", "zones",       "nodes",
                                       "workload", "policies",     "description", "policy_slo"};
static const char *const batch_keys[] = {"size", "wait"};
static const char *const zone_keys[] = {"name", "trace", "intensity", "pue"};
static const char *const node_keys[] = {"device", "zone", "count"};
static const char *const wl_keys[] = {"arrival",
                                      "rate",
                                      "daily_amplitude",
                                      "peak_hour",
                                      "trace",
                                      "lengths",
                                      "lengths_file",
                                      "sprout",
                                      "prompt_median",
                                      "prompt_sigma",
                                      "output_median",
                                      "output_sigma",
                                      "max_prompt_tokens",
                                      "max_output_tokens",
                                      "levels",
                                      "slo",
                                      "max_requests",
                                      "length_prediction"};
static const char *const sprout_keys[] = {"dir", "datasets", "decode_tok_s"};
static const char *const level_keys[] = {"mix", "mult"};

static void resolve(char *buf, size_t cap, const char *base, const char *shared, const char *p) {
  if (p[0] == '/') {
    snprintf(buf, cap, "%s", p);
  } else if (strncmp(p, "shared/", 7) == 0 && shared) {
    snprintf(buf, cap, "%s/%s", shared, p + 7);
  } else {
    snprintf(buf, cap, "%s/%s", base && base[0] ? base : ".", p);
  }
}

void eco_sim_scenario_free(eco_sim_scenario *sc) {
  free(sc->devices);
  free(sc->zones);
  if (sc->zone_ci)
    for (size_t i = 0; i < sc->n_zones; i++)
      free(sc->zone_ci[i]);
  free(sc->zone_ci);
  free(sc->nodes);
  free(sc->lens);
  free(sc->trace_times);
  free(sc->trace_lens);
  memset(sc, 0, sizeof *sc);
}

static int load_devices(const eco_cfg *cfg, const char *base, const char *shared,
                        eco_sim_scenario *sc, eco_error *err) {
  const eco_cfg_node *d = eco_cfg_find(cfg, NULL, "devices");
  if (!d || d->kind != ECO_CFG_SEQ || d->n_items == 0)
    return eco_error_set(err, ECO_ECONFIG, "%s: 'devices' must list profile files",
                         eco_cfg_source(cfg));
  sc->devices = calloc(d->n_items, sizeof *sc->devices);
  if (!sc->devices) return ECO_ENOMEM;
  for (size_t i = 0; i < d->n_items; i++) {
    const eco_cfg_node *it = d->items[i];
    if (it->kind != ECO_CFG_SCALAR)
      return eco_error_set(err, ECO_ECONFIG, "%s: devices.%zu must be a path", eco_cfg_source(cfg),
                           i);
    char path[4096];
    resolve(path, sizeof path, base, shared, it->value);
    int rc = eco_sim_device_load(path, &sc->devices[i], err);
    if (rc) return rc;
    sc->n_devices++;
  }
  const eco_cfg_node *b = eco_cfg_find(cfg, NULL, "device_bench");
  for (size_t i = 0; b && b->kind == ECO_CFG_MAP && i < b->n_items; i++) {
    const eco_cfg_node *it = b->items[i];
    size_t k = 0;
    while (k < sc->n_devices && strcmp(sc->devices[k].name, it->key) != 0)
      k++;
    if (k == sc->n_devices || it->kind != ECO_CFG_SCALAR)
      return eco_error_set(err, ECO_ECONFIG, "%s: device_bench.%s: no such device",
                           eco_cfg_source(cfg), it->key);
    char path[4096];
    resolve(path, sizeof path, base, shared, it->value);
    char keep[64];
    memcpy(keep, sc->devices[k].name, sizeof keep);
    int rc = eco_sim_device_import_bench(path, &sc->devices[k], err);
    if (rc) return rc;
    memcpy(sc->devices[k].name, keep, sizeof keep); /* nodes refer to the config's name */
  }
  return 0;
}

static int load_zones(const eco_cfg *cfg, const char *base, const char *shared,
                      eco_sim_scenario *sc, size_t n_hours, eco_error *err) {
  const eco_cfg_node *z = eco_cfg_find(cfg, NULL, "zones");
  if (!z || z->kind != ECO_CFG_SEQ || z->n_items == 0)
    return eco_error_set(err, ECO_ECONFIG, "%s: 'zones' must be a list", eco_cfg_source(cfg));
  sc->zones = calloc(z->n_items, sizeof *sc->zones);
  sc->zone_ci = calloc(z->n_items, sizeof *sc->zone_ci);
  if (!sc->zones || !sc->zone_ci) return ECO_ENOMEM;
  for (size_t i = 0; i < z->n_items; i++) {
    const eco_cfg_node *it = z->items[i];
    int rc = eco_cfg_check_keys(cfg, it, zone_keys, NKEYS(zone_keys), err);
    if (rc) return rc;
    const char *name, *trace;
    double ci, pue;
    if ((rc = eco_cfg_str(cfg, it, "name", NULL, &name, err))) return rc;
    if ((rc = eco_cfg_str(cfg, it, "trace", NULL, &trace, err))) return rc;
    if ((rc = eco_cfg_double(cfg, it, "intensity", -1, &ci, err))) return rc;
    if ((rc = eco_cfg_double(cfg, it, "pue", 1.0, &pue, err))) return rc;
    if (!name)
      return eco_error_set(err, ECO_ECONFIG, "%s: zones.%zu.name missing", eco_cfg_source(cfg), i);
    eco_sim_zone *zz = &sc->zones[i];
    snprintf(zz->name, sizeof zz->name, "%s", name);
    zz->pue = pue;
    sc->n_zones = i + 1;
    if (trace) {
      char path[4096];
      resolve(path, sizeof path, base, shared, trace);
      if ((rc = eco_sim_zone_hourly(path, name, sc->start_s, n_hours, &sc->zone_ci[i], err)))
        return rc;
      zz->n_hours = n_hours;
    } else {
      if (!(ci >= 0))
        return eco_error_set(err, ECO_ECONFIG, "%s: zone '%s' needs a trace or an intensity",
                             eco_cfg_source(cfg), name);
      sc->zone_ci[i] = malloc(sizeof(double));
      if (!sc->zone_ci[i]) return ECO_ENOMEM;
      sc->zone_ci[i][0] = ci;
      zz->n_hours = 1;
    }
    zz->ci = sc->zone_ci[i];
  }
  return 0;
}

static int load_nodes(const eco_cfg *cfg, eco_sim_scenario *sc, eco_error *err) {
  const eco_cfg_node *n = eco_cfg_find(cfg, NULL, "nodes");
  if (!n || n->kind != ECO_CFG_SEQ || n->n_items == 0)
    return eco_error_set(err, ECO_ECONFIG, "%s: 'nodes' must be a list", eco_cfg_source(cfg));
  size_t cap = 0;
  for (size_t i = 0; i < n->n_items; i++) {
    const eco_cfg_node *it = n->items[i];
    int rc = eco_cfg_check_keys(cfg, it, node_keys, NKEYS(node_keys), err);
    if (rc) return rc;
    const char *dev, *zone;
    int64_t count;
    if ((rc = eco_cfg_str(cfg, it, "device", NULL, &dev, err))) return rc;
    if ((rc = eco_cfg_str(cfg, it, "zone", NULL, &zone, err))) return rc;
    if ((rc = eco_cfg_int(cfg, it, "count", 1, &count, err))) return rc;
    size_t di = 0, zi = 0;
    while (dev && di < sc->n_devices && strcmp(sc->devices[di].name, dev) != 0)
      di++;
    while (zone && zi < sc->n_zones && strcmp(sc->zones[zi].name, zone) != 0)
      zi++;
    if (!dev || di == sc->n_devices)
      return eco_error_set(err, ECO_ECONFIG, "%s: nodes.%zu: unknown device '%s'",
                           eco_cfg_source(cfg), i, dev ? dev : "");
    if (!zone || zi == sc->n_zones)
      return eco_error_set(err, ECO_ECONFIG, "%s: nodes.%zu: unknown zone '%s'",
                           eco_cfg_source(cfg), i, zone ? zone : "");
    if (count < 1 || count > 1000000)
      return eco_error_set(err, ECO_ECONFIG, "%s: nodes.%zu.count must be 1..1e6",
                           eco_cfg_source(cfg), i);
    if (sc->n_nodes + (size_t)count > cap) {
      cap = (sc->n_nodes + (size_t)count) * 2;
      eco_sim_node_cfg *nn = realloc(sc->nodes, cap * sizeof *nn);
      if (!nn) return ECO_ENOMEM;
      sc->nodes = nn;
    }
    for (int64_t k = 0; k < count; k++)
      sc->nodes[sc->n_nodes++] = (eco_sim_node_cfg){.device = di, .zone = zi};
  }
  return 0;
}

static int seq_doubles(const eco_cfg *cfg, const eco_cfg_node *seq, double *out, size_t max,
                       size_t *n, eco_error *err) {
  if (!seq) return 0;
  if (seq->kind != ECO_CFG_SEQ || seq->n_items > max)
    return eco_error_set(err, ECO_ECONFIG, "%s: '%s' must be a list of at most %zu numbers",
                         eco_cfg_source(cfg), seq->path, max);
  for (size_t i = 0; i < seq->n_items; i++) {
    char *end;
    const char *v = seq->items[i]->value;
    out[i] = v ? strtod(v, &end) : NAN;
    if (!v || *end || !isfinite(out[i]))
      return eco_error_set(err, ECO_ECONFIG, "%s: '%s' item %zu is not a number",
                           eco_cfg_source(cfg), seq->path, i);
  }
  *n = seq->n_items;
  return 0;
}

static int load_workload(const eco_cfg *cfg, const char *base, const char *shared,
                         eco_sim_scenario *sc, eco_error *err) {
  const eco_cfg_node *w = eco_cfg_find(cfg, NULL, "workload");
  eco_sim_workload *wl = &sc->cfg.workload;
  int rc = eco_cfg_check_keys(cfg, w, wl_keys, NKEYS(wl_keys), err);
  if (rc) return rc;
  const char *arrival, *lengths, *trace, *lfile;
  int64_t maxp, maxo, maxr;
  if ((rc = eco_cfg_str(cfg, NULL, "workload.arrival", "poisson", &arrival, err))) return rc;
  if ((rc = eco_cfg_double(cfg, NULL, "workload.rate", 0.1, &wl->rate_per_s, err))) return rc;
  if ((rc = eco_cfg_double(cfg, NULL, "workload.daily_amplitude", 0, &wl->daily_amp, err)))
    return rc;
  if ((rc = eco_cfg_double(cfg, NULL, "workload.peak_hour", 14, &wl->peak_hour, err))) return rc;
  if ((rc = eco_cfg_str(cfg, NULL, "workload.trace", NULL, &trace, err))) return rc;
  if ((rc = eco_cfg_str(cfg, NULL, "workload.lengths", "lognormal", &lengths, err))) return rc;
  if ((rc = eco_cfg_str(cfg, NULL, "workload.lengths_file", NULL, &lfile, err))) return rc;
  if ((rc = eco_cfg_double(cfg, NULL, "workload.prompt_median", 60, &wl->prompt_median, err)))
    return rc;
  if ((rc = eco_cfg_double(cfg, NULL, "workload.prompt_sigma", 0.8, &wl->prompt_sigma, err)))
    return rc;
  if ((rc = eco_cfg_double(cfg, NULL, "workload.output_median", 150, &wl->out_median, err)))
    return rc;
  if ((rc = eco_cfg_double(cfg, NULL, "workload.output_sigma", 0.8, &wl->out_sigma, err)))
    return rc;
  if ((rc = eco_cfg_int(cfg, NULL, "workload.max_prompt_tokens", 4096, &maxp, err))) return rc;
  if ((rc = eco_cfg_int(cfg, NULL, "workload.max_output_tokens", 2048, &maxo, err))) return rc;
  if ((rc = eco_cfg_int(cfg, NULL, "workload.max_requests", 0, &maxr, err))) return rc;
  if ((rc = eco_cfg_duration(cfg, NULL, "workload.slo", 0, &wl->slo_s, err))) return rc;
  const char *lp;
  if ((rc = eco_cfg_str(cfg, NULL, "workload.length_prediction", "mean", &lp, err))) return rc;
  if (strcmp(lp, "mean") != 0 && strcmp(lp, "oracle") != 0)
    return eco_error_set(err, ECO_ECONFIG, "%s: workload.length_prediction must be mean or oracle",
                         eco_cfg_source(cfg));
  wl->oracle_lengths = strcmp(lp, "oracle") == 0;
  wl->max_prompt_tok = maxp < 0 ? 0 : (uint32_t)(maxp > 1000000000 ? 1000000000 : maxp);
  wl->max_out_tok = maxo < 0 ? 0 : (uint32_t)(maxo > 1000000000 ? 1000000000 : maxo);
  wl->max_requests = maxr < 0 ? 0 : (uint64_t)maxr;
  /* levels */
  const eco_cfg_node *lv = eco_cfg_find(cfg, NULL, "workload.levels");
  if ((rc = eco_cfg_check_keys(cfg, lv, level_keys, NKEYS(level_keys), err))) return rc;
  size_t nmix = 0, nmult = 0;
  if ((rc = seq_doubles(cfg, eco_cfg_find(cfg, NULL, "workload.levels.mix"), wl->level_mix,
                        ECO_SIM_MAX_LEVELS, &nmix, err)))
    return rc;
  if ((rc = seq_doubles(cfg, eco_cfg_find(cfg, NULL, "workload.levels.mult"), wl->level_mult,
                        ECO_SIM_MAX_LEVELS, &nmult, err)))
    return rc;
  if (nmix == 0) {
    wl->level_mix[0] = 1;
    nmix = 1;
  }
  for (size_t l = nmult; l < nmix; l++)
    wl->level_mult[l] = 1;
  wl->n_levels = nmix;
  /* arrivals */
  char path[4096];
  if (strcmp(arrival, "poisson") == 0) {
    wl->arrival = ECO_SIM_ARRIVAL_POISSON;
  } else if (strcmp(arrival, "trace") == 0) {
    if (!trace)
      return eco_error_set(err, ECO_ECONFIG, "%s: workload.arrival 'trace' needs workload.trace",
                           eco_cfg_source(cfg));
    resolve(path, sizeof path, base, shared, trace);
    size_t n = 0;
    if ((rc = eco_sim_trace_load_csv(path, &sc->trace_times, &sc->trace_lens, &n, err))) return rc;
    wl->arrival = ECO_SIM_ARRIVAL_TRACE;
    wl->times = sc->trace_times;
    wl->trace_len = sc->trace_lens;
    wl->n_times = n;
  } else {
    return eco_error_set(err, ECO_ECONFIG, "%s: workload.arrival must be poisson or trace",
                         eco_cfg_source(cfg));
  }
  /* lengths */
  if (strcmp(lengths, "sprout") == 0) {
    const eco_cfg_node *sp = eco_cfg_find(cfg, NULL, "workload.sprout");
    if ((rc = eco_cfg_check_keys(cfg, sp, sprout_keys, NKEYS(sprout_keys), err))) return rc;
    const char *dir;
    double dtps;
    if ((rc = eco_cfg_str(cfg, NULL, "workload.sprout.dir", "shared/data/sprout", &dir, err)))
      return rc;
    if ((rc = eco_cfg_double(cfg, NULL, "workload.sprout.decode_tok_s", 40, &dtps, err))) return rc;
    resolve(path, sizeof path, base, shared, dir);
    const eco_cfg_node *ds = eco_cfg_find(cfg, NULL, "workload.sprout.datasets");
    size_t nds = ds && ds->kind == ECO_CFG_SEQ ? ds->n_items : 0;
    snprintf(sc->lengths_source, sizeof sc->lengths_source, "sprout (%.0f tok/s):", dtps);
    for (size_t i = 0; i < (nds ? nds : 1); i++) {
      const char *name = nds ? ds->items[i]->value : "alpaca_5000";
      if (!name) return eco_error_set(err, ECO_ECONFIG, "workload.sprout.datasets: bad item");
      if ((rc = eco_sim_lens_load_sprout(path, name, dtps, &sc->lens, &sc->n_lens, err))) return rc;
      size_t l = strlen(sc->lengths_source);
      snprintf(sc->lengths_source + l, sizeof sc->lengths_source - l, " %s", name);
    }
  } else if (strcmp(lengths, "file") == 0) {
    if (!lfile)
      return eco_error_set(err, ECO_ECONFIG, "%s: workload.lengths 'file' needs lengths_file",
                           eco_cfg_source(cfg));
    resolve(path, sizeof path, base, shared, lfile);
    if ((rc = eco_sim_lens_load_csv(path, &sc->lens, &sc->n_lens, err))) return rc;
    snprintf(sc->lengths_source, sizeof sc->lengths_source, "file: %s", lfile);
  } else if (strcmp(lengths, "lognormal") == 0) {
    snprintf(sc->lengths_source, sizeof sc->lengths_source,
             "lognormal (prompt median %.0f, output median %.0f)", wl->prompt_median,
             wl->out_median);
  } else {
    return eco_error_set(err, ECO_ECONFIG, "%s: workload.lengths must be sprout, file or lognormal",
                         eco_cfg_source(cfg));
  }
  wl->lens = sc->lens;
  wl->n_lens = sc->n_lens;
  return 0;
}

int eco_sim_scenario_load(const eco_cfg *cfg, const char *base, const char *shared,
                          eco_sim_scenario *sc, eco_error *err) {
  memset(sc, 0, sizeof *sc);
  int rc = eco_cfg_check_keys(cfg, eco_cfg_find(cfg, NULL, ""), top_keys, NKEYS(top_keys), err);
  if (rc) goto fail;
  rc =
      eco_cfg_check_keys(cfg, eco_cfg_find(cfg, NULL, "batch"), batch_keys, NKEYS(batch_keys), err);
  if (rc) goto fail;
  int64_t seed, bsize;
  const char *start;
  eco_sim_cfg *c = &sc->cfg;
  if ((rc = eco_cfg_int(cfg, NULL, "seed", 1, &seed, err))) goto fail;
  if ((rc = eco_cfg_duration(cfg, NULL, "duration", 86400, &c->duration_s, err))) goto fail;
  if ((rc = eco_cfg_str(cfg, NULL, "start", NULL, &start, err))) goto fail;
  if ((rc = eco_cfg_int(cfg, NULL, "batch.size", 1, &bsize, err))) goto fail;
  if ((rc = eco_cfg_duration(cfg, NULL, "batch.wait", 0, &c->batch_wait_s, err))) goto fail;
  if ((rc = eco_cfg_duration(cfg, NULL, "policy_slo", 0, &c->policy_slo_s, err))) goto fail;
  if (start && eco_time_parse_iso8601(start, &sc->start_s)) {
    rc = eco_error_set(err, ECO_ECONFIG, "%s: start '%s' is not an ISO-8601 UTC time",
                       eco_cfg_source(cfg), start);
    goto fail;
  }
  if (!(c->duration_s > 0) || c->duration_s > 20 * 365 * 86400.0) {
    rc = eco_error_set(err, ECO_ECONFIG, "%s: duration must be > 0 and at most 20 years",
                       eco_cfg_source(cfg));
    goto fail;
  }
  if (bsize < 1 || bsize > 4096) {
    rc = eco_error_set(err, ECO_ECONFIG, "%s: batch.size must be 1..4096", eco_cfg_source(cfg));
    goto fail;
  }
  c->seed = (uint64_t)seed;
  c->batch_size = (int)bsize;
  size_t n_hours = (size_t)ceil(c->duration_s / 3600.0) + 168;
  if ((rc = load_devices(cfg, base, shared, sc, err))) goto fail;
  if ((rc = load_zones(cfg, base, shared, sc, n_hours, err))) goto fail;
  if ((rc = load_nodes(cfg, sc, err))) goto fail;
  if ((rc = load_workload(cfg, base, shared, sc, err))) goto fail;
  const eco_cfg_node *pol = eco_cfg_find(cfg, NULL, "policies");
  if (pol && pol->kind == ECO_CFG_SEQ) {
    for (size_t i = 0; i < pol->n_items && i < ECO_POLICY_COUNT; i++) {
      const char *v = pol->items[i]->value;
      if (!v || eco_policy_parse(v, &sc->policies[sc->n_policies])) {
        rc = eco_error_set(err, ECO_ECONFIG, "%s: policies.%zu: unknown policy '%s'",
                           eco_cfg_source(cfg), i, v ? v : "");
        goto fail;
      }
      sc->n_policies++;
    }
  } else {
    sc->policies[0] = ECO_POLICY_GREEDY;
    sc->policies[1] = ECO_POLICY_CARBON;
    sc->policies[2] = ECO_POLICY_LATENCY;
    sc->policies[3] = ECO_POLICY_SLO_CARBON;
    sc->n_policies = 4;
  }
  c->devices = sc->devices;
  c->n_devices = sc->n_devices;
  c->zones = sc->zones;
  c->n_zones = sc->n_zones;
  c->nodes = sc->nodes;
  c->n_nodes = sc->n_nodes;
  return 0;
fail:
  eco_sim_scenario_free(sc);
  return rc;
}
