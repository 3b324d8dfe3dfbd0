/* Router configuration from YAML (see docs/router.md for the format). */
#include "router/router.h"

#include "carbon/sci.h"
#include "router/agent_pick.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void eco_router_cfg_default(eco_router_cfg *c) {
  memset(c, 0, sizeof *c);
  snprintf(c->host, sizeof c->host, "127.0.0.1");
  c->port = 8080;
  snprintf(c->admin_host, sizeof c->admin_host, "127.0.0.1");
  c->admin_port = 8081;
  c->policy = ECO_POLICY_SLO_CARBON;
  c->default_slo_s = 0;
  c->timeout_s = 120;
  c->max_attempts = 3;
  c->batch_max = 4;
  c->batch_window_s = 0;
  c->health_interval_s = 2;
  c->health_max_backoff_s = 30;
  c->health_fail_threshold = 2;
  c->circuit_failures = 3;
  c->circuit_cooldown_s = 10;
  c->alpha = 0.2;
  c->pue = 1.0;
  c->intensity_refresh_s = 60;
  c->trace_speed = 1;
  c->max_nodes = 256;
  c->batch_api.interactive_reserve = 0.5;
  c->batch_api.replan_s = 3600;
  c->batch_api.forecast_check_s = 300;
  c->batch_api.replan_threshold = 0.1;
  c->batch_api.concurrency = 4;
  c->batch_api.lease_s = 300;
  c->batch_api.slot_s = 3600;
  c->batch_api.request_s = 10;
  c->batch_api.energy_j = 100;
  c->batch_api.poll_s = 0.2;
  snprintf(c->batch_api.forecast, sizeof c->batch_api.forecast, "seasonal-naive");
}

static int load_batch_api(const eco_cfg *cfg, eco_router_batch_cfg *b, eco_error *err) {
  const eco_cfg_node *bn = eco_cfg_find(cfg, NULL, "router.batch_api");
  static const char *const keys[] = {"db",
                                     "interactive_reserve",
                                     "replan",
                                     "forecast_check",
                                     "replan_threshold",
                                     "concurrency",
                                     "lease",
                                     "slot",
                                     "request_time",
                                     "energy_j",
                                     "poll",
                                     "forecast"};
  int rc = eco_cfg_check_keys(cfg, bn, keys, sizeof keys / sizeof keys[0], err);
  if (rc) return rc;
  const char *s = NULL;
  int64_t conc = b->concurrency;
  if ((rc = eco_cfg_str(cfg, NULL, "router.batch_api.db", "", &s, err))) return rc;
  snprintf(b->db_path, sizeof b->db_path, "%s", s ? s : "");
  if ((rc = eco_cfg_str(cfg, NULL, "router.batch_api.forecast", b->forecast, &s, err))) return rc;
  if (s != b->forecast) snprintf(b->forecast, sizeof b->forecast, "%s", s ? s : "");
  if ((rc = eco_cfg_double(cfg, NULL, "router.batch_api.interactive_reserve",
                           b->interactive_reserve, &b->interactive_reserve, err)) ||
      (rc = eco_cfg_duration(cfg, NULL, "router.batch_api.replan", b->replan_s, &b->replan_s,
                             err)) ||
      (rc = eco_cfg_duration(cfg, NULL, "router.batch_api.forecast_check", b->forecast_check_s,
                             &b->forecast_check_s, err)) ||
      (rc = eco_cfg_double(cfg, NULL, "router.batch_api.replan_threshold", b->replan_threshold,
                           &b->replan_threshold, err)) ||
      (rc = eco_cfg_int(cfg, NULL, "router.batch_api.concurrency", conc, &conc, err)) ||
      (rc = eco_cfg_duration(cfg, NULL, "router.batch_api.lease", b->lease_s, &b->lease_s, err)) ||
      (rc = eco_cfg_duration(cfg, NULL, "router.batch_api.slot", b->slot_s, &b->slot_s, err)) ||
      (rc = eco_cfg_duration(cfg, NULL, "router.batch_api.request_time", b->request_s,
                             &b->request_s, err)) ||
      (rc = eco_cfg_double(cfg, NULL, "router.batch_api.energy_j", b->energy_j, &b->energy_j,
                           err)) ||
      (rc = eco_cfg_duration(cfg, NULL, "router.batch_api.poll", b->poll_s, &b->poll_s, err)))
    return rc;
  if (b->interactive_reserve < 0 || b->interactive_reserve >= 1 || conc < 1 || conc > 256 ||
      b->replan_s <= 0 || b->forecast_check_s <= 0 || b->replan_threshold < 0 || b->lease_s <= 0 ||
      b->slot_s <= 0 || b->request_s <= 0 || b->energy_j < 0 || b->poll_s <= 0)
    return eco_error_set(err, ECO_ECONFIG,
                         "router.batch_api: interactive_reserve in [0,1), concurrency 1..256, "
                         "positive replan/lease/slot/request_time/poll, energy_j >= 0");
  b->concurrency = (int)conc;
  return 0;
}

void eco_router_cfg_free(eco_router_cfg *c) {
  if (!c) return;
  free(c->zones);
  free(c->nodes);
  free(c->dns);
  c->zones = NULL;
  c->nodes = NULL;
  c->dns = NULL;
  c->n_zones = c->n_nodes = c->n_dns = 0;
}

static int get_str(const eco_cfg *cfg, const eco_cfg_node *base, const char *path, char *dst,
                   size_t cap, eco_error *err) {
  const char *s;
  int rc = eco_cfg_str(cfg, base, path, dst, &s, err);
  if (rc) return rc;
  if (s != dst) snprintf(dst, cap, "%s", s ? s : "");
  return 0;
}

static int get_u32(const eco_cfg *cfg, const eco_cfg_node *base, const char *path, uint32_t *v,
                   int64_t lo, int64_t hi, eco_error *err) {
  int64_t x;
  int rc = eco_cfg_int(cfg, base, path, *v, &x, err);
  if (rc) return rc;
  if (x < lo || x > hi)
    return eco_error_set(err, ECO_ECONFIG, "key '%s': %lld out of range [%lld, %lld]", path,
                         (long long)x, (long long)lo, (long long)hi);
  *v = (uint32_t)x;
  return 0;
}

static int load_profile(const eco_cfg *cfg, const eco_cfg_node *pn, eco_profile *p,
                        eco_error *err) {
  static const char *const keys[] = {"prefill_tps", "decode_tps",     "j_per_token",
                                     "overhead",    "batch_slowdown", "prefill_j_per_token"};
  int rc = eco_cfg_check_keys(cfg, pn, keys, sizeof keys / sizeof keys[0], err);
  if (rc) return rc;
  double pre = 0, dec = 0, jpt = 0, ovh = 0, slow = 0, pjpt = -1;
  if ((rc = eco_cfg_double(cfg, pn, "prefill_tps", 1000, &pre, err)) ||
      (rc = eco_cfg_double(cfg, pn, "decode_tps", 0, &dec, err)) ||
      (rc = eco_cfg_double(cfg, pn, "j_per_token", 0, &jpt, err)) ||
      (rc = eco_cfg_duration(cfg, pn, "overhead", 0, &ovh, err)) ||
      (rc = eco_cfg_double(cfg, pn, "batch_slowdown", 0, &slow, err)) ||
      (rc = eco_cfg_double(cfg, pn, "prefill_j_per_token", -1, &pjpt, err)))
    return rc;
  char where[256];
  eco_cfg_where(cfg, pn, where, sizeof where);
  if (eco_profile_from_rates(p, pre, dec, jpt, ovh, slow) != 0)
    return eco_error_set(err, ECO_ECONFIG,
                         "%s: profile needs decode_tps > 0, prefill_tps > 0, j_per_token >= 0",
                         where);
  if (pjpt >= 0) p->prefill_j_per_tok = pjpt;
  return 0;
}

/* meter: which of the agent's meters cover the node (agent_pick.h), and
 * gpu: whether it runs on a GPU (default: a vLLM node, or NVML or Jetson
 * meters). */
static int load_meter(const eco_cfg *cfg, const eco_cfg_node *nn, eco_router_node_cfg *n,
                      const char *where, eco_error *err) {
  snprintf(n->meter, sizeof n->meter, "host");
  int rc = get_str(cfg, nn, "meter", n->meter, sizeof n->meter, err);
  if (rc) return rc;
  char why[160];
  if (eco_agent_spec_check(n->meter, why, sizeof why) != 0)
    return eco_error_set(err, ECO_ECONFIG, "%s: node '%s': meter: %s", where, n->id, why);
  if (eco_cfg_find(cfg, nn, "meter") && !n->agent_url[0])
    return eco_error_set(err, ECO_ECONFIG, "%s: node '%s': meter needs agent: http://HOST:PORT",
                         where, n->id);
  bool gpu = n->engine == ECO_ENGINE_VLLM || strstr(n->meter, "nvml") || strstr(n->meter, "jetson");
  if ((rc = eco_cfg_bool(cfg, nn, "gpu", gpu, &gpu, err))) return rc;
  n->gpu = gpu;
  return 0;
}

/* Reads one node (or DNS template) map. need_url: config nodes. */
static int load_node(const eco_cfg *cfg, const eco_cfg_node *nn, eco_router_node_cfg *n,
                     bool need_url, size_t idx, eco_error *err) {
  static const char *const keys[] = {"id",        "url",        "device",      "zone",
                                     "labels",    "embodied_g", "lifetime_y",  "embodied_g_per_s",
                                     "max_batch", "kind",       "health_path", "profile",
                                     "name",      "port",       "interval",    "agent",
                                     "meter",     "gpu"};
  int rc = eco_cfg_check_keys(cfg, nn, keys, sizeof keys / sizeof keys[0], err);
  if (rc) return rc;
  memset(n, 0, sizeof *n);
  snprintf(n->id, sizeof n->id, "node%zu", idx);
  snprintf(n->device, sizeof n->device, "unknown");
  snprintf(n->zone, sizeof n->zone, "unknown");
  snprintf(n->health_path, sizeof n->health_path, "/health");
  n->max_batch = 4;
  if ((rc = get_str(cfg, nn, "id", n->id, sizeof n->id, err)) ||
      (rc = get_str(cfg, nn, "url", n->url, sizeof n->url, err)) ||
      (rc = get_str(cfg, nn, "device", n->device, sizeof n->device, err)) ||
      (rc = get_str(cfg, nn, "zone", n->zone, sizeof n->zone, err)) ||
      (rc = get_str(cfg, nn, "health_path", n->health_path, sizeof n->health_path, err)) ||
      (rc = get_str(cfg, nn, "agent", n->agent_url, sizeof n->agent_url, err)) ||
      (rc = get_u32(cfg, nn, "max_batch", &n->max_batch, 1, 4096, err)))
    return rc;
  char where[256];
  eco_cfg_where(cfg, nn, where, sizeof where);
  if (need_url && strncmp(n->url, "http://", 7) != 0)
    return eco_error_set(err, ECO_ECONFIG, "%s: node '%s' needs url: http://HOST:PORT", where,
                         n->id);
  if (need_url && strstr(n->agent_url, "{host}"))
    return eco_error_set(err, ECO_ECONFIG,
                         "%s: node '%s': agent: {host} is for dns entries (each address's agent)",
                         where, n->id);
  if (n->agent_url[0] && strncmp(n->agent_url, "http://", 7) != 0)
    return eco_error_set(err, ECO_ECONFIG, "%s: node '%s': agent must be http://HOST:PORT", where,
                         n->id);
  char kind[32] = "openai";
  if ((rc = get_str(cfg, nn, "kind", kind, sizeof kind, err))) return rc;
  if (eco_engine_parse(kind, &n->engine) != 0)
    return eco_error_set(err, ECO_ECONFIG,
                         "%s: kind must be ecoinfer, openai, llama-cpp, vllm or ollama, got '%s'",
                         where, kind);
  n->ecoinfer = n->engine == ECO_ENGINE_ECOINFER;
  if (!eco_cfg_find(cfg, nn, "health_path") && eco_engine_health_path(n->engine))
    snprintf(n->health_path, sizeof n->health_path, "%s", eco_engine_health_path(n->engine));
  if ((rc = load_meter(cfg, nn, n, where, err))) return rc;
  double eg = 0, life_y = 5, gps = -1;
  if ((rc = eco_cfg_double(cfg, nn, "embodied_g", 0, &eg, err)) ||
      (rc = eco_cfg_double(cfg, nn, "lifetime_y", 5, &life_y, err)) ||
      (rc = eco_cfg_double(cfg, nn, "embodied_g_per_s", -1, &gps, err)))
    return rc;
  if (gps >= 0) {
    n->embodied_g_per_s = gps;
  } else if (eg > 0 && life_y > 0) {
    eco_embodied e = {.total_g = eg, .lifetime_s = life_y * ECO_SECONDS_PER_YEAR, .share = 1};
    n->embodied_g_per_s = eco_sci_embodied_rate(&e);
  }
  const eco_cfg_node *labels = eco_cfg_find(cfg, nn, "labels");
  if (labels && labels->kind == ECO_CFG_MAP) {
    size_t off = 0;
    for (size_t i = 0; i < labels->n_items; i++) {
      const eco_cfg_node *l = labels->items[i];
      int w = snprintf(n->labels + off, sizeof n->labels - off, "%s%s=%s", off ? "," : "",
                       l->key ? l->key : "", l->value ? l->value : "");
      if (w < 0 || (size_t)w >= sizeof n->labels - off) break;
      off += (size_t)w;
    }
  }
  const eco_cfg_node *pn = eco_cfg_find(cfg, nn, "profile");
  if (pn) {
    if ((rc = load_profile(cfg, pn, &n->profile, err))) return rc;
    n->has_profile = true;
  }
  return 0;
}

int eco_router_cfg_load(const eco_cfg *cfg, eco_router_cfg *c, eco_error *err) {
  eco_router_cfg_default(c);
  int rc;
  if ((rc = eco_rdir_cfg_load(cfg, &c->directive, err))) goto fail;
  const eco_cfg_node *rn = eco_cfg_find(cfg, NULL, "router");
  static const char *const rkeys[] = {"host",        "port",   "admin_host", "admin_port",
                                      "admin_token", "policy", "slo",        "timeout",
                                      "attempts",    "batch",  "health",     "circuit",
                                      "alpha",       "pue",    "max_nodes",  "batch_api"};
  if ((rc = eco_cfg_check_keys(cfg, rn, rkeys, sizeof rkeys / sizeof rkeys[0], err))) goto fail;
  if ((rc = load_batch_api(cfg, &c->batch_api, err))) goto fail;
  int64_t port = c->port, aport = c->admin_port, attempts = c->max_attempts, hft, cf,
          maxn = (int64_t)c->max_nodes;
  char pol[32] = "slo-carbon";
  if ((rc = get_str(cfg, NULL, "router.host", c->host, sizeof c->host, err)) ||
      (rc = eco_cfg_int(cfg, NULL, "router.port", port, &port, err)) ||
      (rc = get_str(cfg, NULL, "router.admin_host", c->admin_host, sizeof c->admin_host, err)) ||
      (rc = eco_cfg_int(cfg, NULL, "router.admin_port", aport, &aport, err)) ||
      (rc = get_str(cfg, NULL, "router.admin_token", c->admin_token, sizeof c->admin_token, err)) ||
      (rc = get_str(cfg, NULL, "router.policy", pol, sizeof pol, err)) ||
      (rc = eco_cfg_duration(cfg, NULL, "router.slo", 0, &c->default_slo_s, err)) ||
      (rc = eco_cfg_duration(cfg, NULL, "router.timeout", c->timeout_s, &c->timeout_s, err)) ||
      (rc = eco_cfg_int(cfg, NULL, "router.attempts", attempts, &attempts, err)) ||
      (rc = get_u32(cfg, NULL, "router.batch.max", &c->batch_max, 1, 4096, err)) ||
      (rc = eco_cfg_duration(cfg, NULL, "router.batch.window", 0, &c->batch_window_s, err)) ||
      (rc = eco_cfg_duration(cfg, NULL, "router.health.interval", c->health_interval_s,
                             &c->health_interval_s, err)) ||
      (rc = eco_cfg_duration(cfg, NULL, "router.health.max_backoff", c->health_max_backoff_s,
                             &c->health_max_backoff_s, err)) ||
      (rc = eco_cfg_int(cfg, NULL, "router.health.fail_threshold", c->health_fail_threshold, &hft,
                        err)) ||
      (rc = eco_cfg_int(cfg, NULL, "router.circuit.failures", c->circuit_failures, &cf, err)) ||
      (rc = eco_cfg_duration(cfg, NULL, "router.circuit.cooldown", c->circuit_cooldown_s,
                             &c->circuit_cooldown_s, err)) ||
      (rc = eco_cfg_double(cfg, NULL, "router.alpha", c->alpha, &c->alpha, err)) ||
      (rc = eco_cfg_double(cfg, NULL, "router.pue", c->pue, &c->pue, err)) ||
      (rc = eco_cfg_int(cfg, NULL, "router.max_nodes", maxn, &maxn, err)) ||
      (rc = eco_cfg_duration(cfg, NULL, "carbon.refresh", c->intensity_refresh_s,
                             &c->intensity_refresh_s, err)) ||
      (rc = eco_cfg_double(cfg, NULL, "carbon.speed", c->trace_speed, &c->trace_speed, err)))
    goto fail;
  /* carbon.trace: the router's shorthand is a path; a mapping is the shared
   * accounting schema (carbon.provider: trace), which cmd_route builds. */
  const eco_cfg_node *tn = eco_cfg_find(cfg, NULL, "carbon.trace");
  if ((!tn || tn->kind == ECO_CFG_SCALAR) &&
      (rc = get_str(cfg, NULL, "carbon.trace", c->trace_path, sizeof c->trace_path, err)))
    goto fail;
  if (port < 0 || port > 65535 || aport < -1 || aport > 65535) {
    rc = eco_error_set(err, ECO_ECONFIG, "router.port/admin_port out of range");
    goto fail;
  }
  c->port = (int)port;
  c->admin_port = (int)aport;
  if (eco_policy_parse(pol, &c->policy) != 0) {
    rc = eco_error_set(err, ECO_ECONFIG,
                       "router.policy: unknown policy '%s' (round-robin, greedy, carbon, latency, "
                       "slo-carbon)",
                       pol);
    goto fail;
  }
  if (attempts < 1 || attempts > 16 || hft < 1 || cf < 1 || maxn < 1 || maxn > 100000 ||
      !(c->alpha > 0 && c->alpha <= 1) || c->pue < 1 || c->timeout_s <= 0) {
    rc = eco_error_set(err, ECO_ECONFIG,
                       "router: attempts 1..16, fail_threshold/failures >= 1, alpha in (0,1], "
                       "pue >= 1, timeout > 0");
    goto fail;
  }
  c->max_attempts = (int)attempts;
  c->health_fail_threshold = (int)hft;
  c->circuit_failures = (int)cf;
  c->max_nodes = (size_t)maxn;

  const eco_cfg_node *zn = eco_cfg_find(cfg, NULL, "zones");
  if (zn && zn->kind == ECO_CFG_MAP && zn->n_items) {
    c->zones = calloc(zn->n_items, sizeof *c->zones);
    if (!c->zones) {
      rc = ECO_ENOMEM;
      goto fail;
    }
    for (size_t i = 0; i < zn->n_items; i++) {
      const eco_cfg_node *z = zn->items[i];
      snprintf(c->zones[i].zone, sizeof c->zones[i].zone, "%s", z->key);
      if ((rc = eco_cfg_double(cfg, zn, z->key, 0, &c->zones[i].gco2_kwh, err))) goto fail;
      c->n_zones++;
    }
  }
  const eco_cfg_node *nl = eco_cfg_find(cfg, NULL, "nodes");
  if (nl && nl->kind == ECO_CFG_SEQ && nl->n_items) {
    c->nodes = calloc(nl->n_items, sizeof *c->nodes);
    if (!c->nodes) {
      rc = ECO_ENOMEM;
      goto fail;
    }
    for (size_t i = 0; i < nl->n_items; i++) {
      if ((rc = load_node(cfg, nl->items[i], &c->nodes[i], true, i, err))) goto fail;
      c->n_nodes++;
    }
  }
  const eco_cfg_node *dl = eco_cfg_find(cfg, NULL, "dns");
  if (dl && dl->kind == ECO_CFG_SEQ && dl->n_items) {
    c->dns = calloc(dl->n_items, sizeof *c->dns);
    if (!c->dns) {
      rc = ECO_ENOMEM;
      goto fail;
    }
    for (size_t i = 0; i < dl->n_items; i++) {
      eco_router_dns_cfg *d = &c->dns[i];
      const eco_cfg_node *dn = dl->items[i];
      if ((rc = load_node(cfg, dn, &d->tpl, false, i, err))) goto fail;
      int64_t dport = 0;
      if ((rc = get_str(cfg, dn, "name", d->name, sizeof d->name, err)) ||
          (rc = eco_cfg_int(cfg, dn, "port", 0, &dport, err)) ||
          (rc = eco_cfg_duration(cfg, dn, "interval", 30, &d->interval_s, err)))
        goto fail;
      if (!d->name[0] || dport <= 0 || dport > 65535 || d->interval_s <= 0) {
        char where[256];
        eco_cfg_where(cfg, dn, where, sizeof where);
        rc = eco_error_set(err, ECO_ECONFIG, "%s: dns entry needs name, port and interval > 0",
                           where);
        goto fail;
      }
      d->port = (int)dport;
      c->n_dns++;
    }
  }
  if (c->n_nodes > c->max_nodes) c->max_nodes = c->n_nodes;
  return 0;
fail:
  eco_router_cfg_free(c);
  return rc ? rc : ECO_ECONFIG;
}
