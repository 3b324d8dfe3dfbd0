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
  c->protect_metrics = true;
  c->policy = ECO_POLICY_SLO_CARBON;
  c->default_slo_s = 0;
  c->timeout_s = 120;
  c->client_timeout_s = 120;
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

/* ---- schema: the keys of router:, nodes:, dns: and zones: ------------------ */

static const eco_cfg_schema one_value[] = {ECO_CFG_VALUE(NULL)};
static const eco_cfg_schema profile_keys[] = {
    ECO_CFG_VALUE("prefill_tps"),    ECO_CFG_VALUE("decode_tps"),
    ECO_CFG_VALUE("j_per_token"),    ECO_CFG_VALUE("overhead"),
    ECO_CFG_VALUE("batch_slowdown"), ECO_CFG_VALUE("prefill_j_per_token")};
#define NODE_KEYS                                                                                  \
  ECO_CFG_VALUE("id"), ECO_CFG_VALUE("url"), ECO_CFG_VALUE("device"), ECO_CFG_VALUE("zone"),       \
      ECO_CFG_SHAPED("labels", ECO_CFG_S_DICT, one_value), ECO_CFG_VALUE("embodied_g"),            \
      ECO_CFG_VALUE("lifetime_y"), ECO_CFG_VALUE("embodied_g_per_s"), ECO_CFG_VALUE("max_batch"),  \
      ECO_CFG_VALUE("kind"), ECO_CFG_VALUE("health_path"),                                         \
      ECO_CFG_SHAPED("profile", ECO_CFG_S_MAP, profile_keys), ECO_CFG_VALUE("agent"),              \
      ECO_CFG_VALUE("meter"), ECO_CFG_VALUE("gpu"), ECO_CFG_VALUE("max_body_bytes"),               \
      ECO_CFG_VALUE("api_key"), ECO_CFG_VALUE("api_key_env"), ECO_CFG_VALUE("api_key_file")
static const eco_cfg_schema node_keys[] = {NODE_KEYS};
static const eco_cfg_schema dns_keys[] = {NODE_KEYS, ECO_CFG_VALUE("name"), ECO_CFG_VALUE("port"),
                                          ECO_CFG_VALUE("interval")};
#undef NODE_KEYS
static const eco_cfg_schema node_item[] = {ECO_CFG_SHAPED(NULL, ECO_CFG_S_MAP, node_keys)};
static const eco_cfg_schema dns_item[] = {ECO_CFG_SHAPED(NULL, ECO_CFG_S_MAP, dns_keys)};
static const eco_cfg_schema batch_keys[] = {ECO_CFG_VALUE("max"), ECO_CFG_VALUE("window")};
static const eco_cfg_schema health_keys[] = {
    ECO_CFG_VALUE("interval"), ECO_CFG_VALUE("max_backoff"), ECO_CFG_VALUE("fail_threshold")};
static const eco_cfg_schema circuit_keys[] = {ECO_CFG_VALUE("failures"), ECO_CFG_VALUE("cooldown")};
static const eco_cfg_schema batch_api_keys[] = {ECO_CFG_VALUE("db"),
                                                ECO_CFG_VALUE("interactive_reserve"),
                                                ECO_CFG_VALUE("replan"),
                                                ECO_CFG_VALUE("forecast_check"),
                                                ECO_CFG_VALUE("replan_threshold"),
                                                ECO_CFG_VALUE("concurrency"),
                                                ECO_CFG_VALUE("lease"),
                                                ECO_CFG_VALUE("slot"),
                                                ECO_CFG_VALUE("request_time"),
                                                ECO_CFG_VALUE("energy_j"),
                                                ECO_CFG_VALUE("poll"),
                                                ECO_CFG_VALUE("forecast")};
static const eco_cfg_schema api_key_keys[] = {ECO_CFG_VALUE("key"),      ECO_CFG_VALUE("key_env"),
                                              ECO_CFG_VALUE("key_file"), ECO_CFG_VALUE("name"),
                                              ECO_CFG_VALUE("rpm"),      ECO_CFG_VALUE("burst")};
static const eco_cfg_schema api_key_item[] = {
    ECO_CFG_SHAPED(NULL, ECO_CFG_S_VALUE_OR_MAP, api_key_keys)};
static const eco_cfg_schema router_keys[] = {
    ECO_CFG_VALUE("host"),
    ECO_CFG_VALUE("port"),
    ECO_CFG_VALUE("admin_host"),
    ECO_CFG_VALUE("admin_port"),
    ECO_CFG_VALUE("admin_token"),
    ECO_CFG_VALUE("admin_token_env"),
    ECO_CFG_VALUE("admin_token_file"),
    ECO_CFG_SHAPED("api_keys", ECO_CFG_S_LIST, api_key_item),
    ECO_CFG_VALUE("protect_metrics"),
    ECO_CFG_VALUE("policy"),
    ECO_CFG_VALUE("slo"),
    ECO_CFG_VALUE("timeout"),
    ECO_CFG_VALUE("client_timeout"),
    ECO_CFG_VALUE("attempts"),
    ECO_CFG_SHAPED("batch", ECO_CFG_S_MAP, batch_keys),
    ECO_CFG_SHAPED("health", ECO_CFG_S_MAP, health_keys),
    ECO_CFG_SHAPED("circuit", ECO_CFG_S_MAP, circuit_keys),
    ECO_CFG_VALUE("alpha"),
    ECO_CFG_VALUE("pue"),
    ECO_CFG_VALUE("max_nodes"),
    ECO_CFG_SHAPED("batch_api", ECO_CFG_S_MAP, batch_api_keys),
    ECO_CFG_SHAPED("dns_servers", ECO_CFG_S_LIST, one_value),
};
static const eco_cfg_schema sections[] = {
    ECO_CFG_SHAPED("router", ECO_CFG_S_MAP, router_keys),
    ECO_CFG_SHAPED("nodes", ECO_CFG_S_LIST, node_item),
    ECO_CFG_SHAPED("dns", ECO_CFG_S_LIST, dns_item),
    ECO_CFG_SHAPED("zones", ECO_CFG_S_DICT, one_value),
};

const eco_cfg_schema *eco_router_cfg_sections(size_t *n) {
  *n = sizeof sections / sizeof sections[0];
  return sections;
}

/* ---- helpers ------------------------------------------------------------------- */

/* "ORIGIN OF path: why", for a value that parsed but is not allowed. */
static int bad(const eco_cfg *cfg, const eco_cfg_node *base, const char *path, const char *why,
               eco_error *err) {
  char w[400];
  eco_cfg_origin(cfg, base, path, w, sizeof w);
  return eco_error_set(err, ECO_ECONFIG, "%s: %s", w, why);
}

static int get_u32(const eco_cfg *cfg, const eco_cfg_node *base, const char *path, uint32_t *v,
                   int64_t lo, int64_t hi, eco_error *err) {
  int64_t x;
  int rc = eco_cfg_int_range(cfg, base, path, *v, lo, hi, &x, err);
  if (!rc) *v = (uint32_t)x;
  return rc;
}

/* A duration that must be > 0. */
static int get_period(const eco_cfg *cfg, const eco_cfg_node *base, const char *path, double *v,
                      eco_error *err) {
  int rc = eco_cfg_duration(cfg, base, path, *v, v, err);
  if (!rc && !(*v > 0)) rc = bad(cfg, base, path, "must be longer than 0", err);
  return rc;
}

/* ---- router.batch_api --------------------------------------------------------- */

static int load_batch_api(const eco_cfg *cfg, eco_router_batch_cfg *b, eco_error *err) {
  int64_t conc;
  int rc;
#define P(k) "router.batch_api." k
  if ((rc = eco_cfg_strcpy(cfg, NULL, P("db"), "", b->db_path, sizeof b->db_path, err)) ||
      (rc = eco_cfg_strcpy(cfg, NULL, P("forecast"), b->forecast, b->forecast, sizeof b->forecast,
                           err)) ||
      (rc = eco_cfg_double_range(cfg, NULL, P("interactive_reserve"), b->interactive_reserve, 0,
                                 0.99, &b->interactive_reserve, err)) ||
      (rc = get_period(cfg, NULL, P("replan"), &b->replan_s, err)) ||
      (rc = get_period(cfg, NULL, P("forecast_check"), &b->forecast_check_s, err)) ||
      (rc = eco_cfg_double_range(cfg, NULL, P("replan_threshold"), b->replan_threshold, 0, 1e9,
                                 &b->replan_threshold, err)) ||
      (rc = eco_cfg_int_range(cfg, NULL, P("concurrency"), b->concurrency, 1, 256, &conc, err)) ||
      (rc = get_period(cfg, NULL, P("lease"), &b->lease_s, err)) ||
      (rc = get_period(cfg, NULL, P("slot"), &b->slot_s, err)) ||
      (rc = get_period(cfg, NULL, P("request_time"), &b->request_s, err)) ||
      (rc = eco_cfg_double_range(cfg, NULL, P("energy_j"), b->energy_j, 0, 1e12, &b->energy_j,
                                 err)) ||
      (rc = get_period(cfg, NULL, P("poll"), &b->poll_s, err)))
    return rc;
#undef P
  b->concurrency = (int)conc;
  return 0;
}

/* ---- nodes ---------------------------------------------------------------------- */

static int load_profile(const eco_cfg *cfg, const eco_cfg_node *pn, eco_profile *p,
                        eco_error *err) {
  int rc;
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
                         "%s: key '%s': profile needs decode_tps > 0, prefill_tps > 0, "
                         "j_per_token >= 0",
                         where, pn->path);
  if (pjpt >= 0) p->prefill_j_per_tok = pjpt;
  return 0;
}

/* Embodied carbon: embodied_g_per_s, or embodied_g over lifetime_y years. */
static int load_embodied(const eco_cfg *cfg, const eco_cfg_node *nn, eco_router_node_cfg *n,
                         eco_error *err) {
  double eg = 0, life_y = 5, gps = -1;
  int rc;
  if ((rc = eco_cfg_double_range(cfg, nn, "embodied_g", 0, 0, 1e12, &eg, err)) ||
      (rc = eco_cfg_double_range(cfg, nn, "lifetime_y", 5, 0, 1000, &life_y, err)))
    return rc;
  if (!(life_y > 0)) return bad(cfg, nn, "lifetime_y", "must be more than 0 years", err);
  if (eco_cfg_find(cfg, nn, "embodied_g_per_s") &&
      (rc = eco_cfg_double_range(cfg, nn, "embodied_g_per_s", 0, 0, 1e9, &gps, err)))
    return rc;
  if (gps >= 0) {
    n->embodied_g_per_s = gps;
  } else if (eg > 0) {
    eco_embodied e = {.total_g = eg, .lifetime_s = life_y * ECO_SECONDS_PER_YEAR, .share = 1};
    n->embodied_g_per_s = eco_sci_embodied_rate(&e);
  }
  return 0;
}

static void load_labels(const eco_cfg *cfg, const eco_cfg_node *nn, eco_router_node_cfg *n) {
  const eco_cfg_node *labels = eco_cfg_find(cfg, nn, "labels");
  if (!labels || labels->kind != ECO_CFG_MAP) return;
  size_t off = 0;
  for (size_t i = 0; i < labels->n_items; i++) {
    const eco_cfg_node *l = labels->items[i];
    int w = snprintf(n->labels + off, sizeof n->labels - off, "%s%s=%s", off ? "," : "",
                     l->key ? l->key : "", l->value ? l->value : "");
    if (w < 0 || (size_t)w >= sizeof n->labels - off) break;
    off += (size_t)w;
  }
}

/* meter: which of the agent's meters cover the node (agent_pick.h), and
 * gpu: whether it runs on a GPU (default: a vLLM node, or NVML or Jetson
 * meters). */
static int load_meter(const eco_cfg *cfg, const eco_cfg_node *nn, eco_router_node_cfg *n,
                      eco_error *err) {
  int rc = eco_cfg_strcpy(cfg, nn, "meter", "host", n->meter, sizeof n->meter, err);
  if (rc) return rc;
  char why[160];
  if (eco_agent_spec_check(n->meter, why, sizeof why) != 0) return bad(cfg, nn, "meter", why, err);
  if (eco_cfg_find(cfg, nn, "meter") && !n->agent_url[0])
    return bad(cfg, nn, "meter", "needs agent: http://HOST:PORT", err);
  bool gpu = n->engine == ECO_ENGINE_VLLM || strstr(n->meter, "nvml") || strstr(n->meter, "jetson");
  if ((rc = eco_cfg_bool(cfg, nn, "gpu", gpu, &gpu, err))) return rc;
  n->gpu = gpu;
  return 0;
}

/* Reads one node (or DNS template) map. need_url: config nodes. */
static int load_node(const eco_cfg *cfg, const eco_cfg_node *nn, eco_router_node_cfg *n,
                     bool need_url, size_t idx, eco_error *err) {
  memset(n, 0, sizeof *n);
  char defid[32], kind[32];
  snprintf(defid, sizeof defid, "node%zu", idx);
  int rc;
  if ((rc = eco_cfg_strcpy(cfg, nn, "id", defid, n->id, sizeof n->id, err)) ||
      (rc = eco_cfg_strcpy(cfg, nn, "url", "", n->url, sizeof n->url, err)) ||
      (rc = eco_cfg_strcpy(cfg, nn, "device", "unknown", n->device, sizeof n->device, err)) ||
      (rc = eco_cfg_strcpy(cfg, nn, "zone", "unknown", n->zone, sizeof n->zone, err)) ||
      (rc = eco_cfg_strcpy(cfg, nn, "health_path", "/health", n->health_path, sizeof n->health_path,
                           err)) ||
      (rc = eco_cfg_strcpy(cfg, nn, "agent", "", n->agent_url, sizeof n->agent_url, err)) ||
      (rc = eco_cfg_strcpy(cfg, nn, "kind", "openai", kind, sizeof kind, err)))
    return rc;
  n->max_batch = 4;
  int64_t mbb;
  if ((rc = get_u32(cfg, nn, "max_batch", &n->max_batch, 1, 4096, err)) ||
      (rc = eco_cfg_int_range(cfg, nn, "max_body_bytes", 0, 0, (int64_t)1 << 40, &mbb, err)))
    return rc;
  n->max_body_bytes = (uint64_t)mbb;
  if (need_url && strncmp(n->url, "http://", 7) != 0)
    return bad(cfg, nn, "url", "a node needs url: http://HOST:PORT", err);
  if (need_url && strstr(n->agent_url, "{host}"))
    return bad(cfg, nn, "agent", "{host} is for dns entries (each address's agent)", err);
  if (n->agent_url[0] && strncmp(n->agent_url, "http://", 7) != 0)
    return bad(cfg, nn, "agent", "must be http://HOST:PORT", err);
  if (eco_engine_parse(kind, &n->engine) != 0)
    return bad(cfg, nn, "kind", "must be ecoinfer, openai, llama-cpp, vllm or ollama", err);
  n->ecoinfer = n->engine == ECO_ENGINE_ECOINFER;
  if (!eco_cfg_find(cfg, nn, "health_path") && eco_engine_health_path(n->engine))
    snprintf(n->health_path, sizeof n->health_path, "%s", eco_engine_health_path(n->engine));
  if ((rc = load_meter(cfg, nn, n, err)) || (rc = load_embodied(cfg, nn, n, err)) ||
      (rc = eco_router_node_key_load(cfg, nn, n, err)))
    return rc;
  load_labels(cfg, nn, n);
  const eco_cfg_node *pn = eco_cfg_find(cfg, nn, "profile");
  if (pn && pn->kind == ECO_CFG_MAP) {
    if ((rc = load_profile(cfg, pn, &n->profile, err))) return rc;
    n->has_profile = true;
  }
  return 0;
}

static int load_nodes(const eco_cfg *cfg, eco_router_cfg *c, eco_error *err) {
  const eco_cfg_node *nl = eco_cfg_find(cfg, NULL, "nodes");
  if (!nl || nl->kind != ECO_CFG_SEQ || !nl->n_items) return 0;
  if (!(c->nodes = calloc(nl->n_items, sizeof *c->nodes))) return ECO_ENOMEM;
  for (size_t i = 0; i < nl->n_items; i++) {
    int rc = load_node(cfg, nl->items[i], &c->nodes[i], true, i, err);
    if (rc) return rc;
    for (size_t k = 0; k < i; k++)
      if (strcmp(c->nodes[k].id, c->nodes[i].id) == 0) {
        char why[160];
        snprintf(why, sizeof why, "node id '%s' is already used by nodes.%zu", c->nodes[i].id, k);
        return bad(cfg, nl->items[i], "id", why, err);
      }
    c->n_nodes++;
  }
  return 0;
}

static int load_dns(const eco_cfg *cfg, eco_router_cfg *c, eco_error *err) {
  const eco_cfg_node *dl = eco_cfg_find(cfg, NULL, "dns");
  if (!dl || dl->kind != ECO_CFG_SEQ || !dl->n_items) return 0;
  if (!(c->dns = calloc(dl->n_items, sizeof *c->dns))) return ECO_ENOMEM;
  for (size_t i = 0; i < dl->n_items; i++) {
    eco_router_dns_cfg *d = &c->dns[i];
    const eco_cfg_node *dn = dl->items[i];
    int64_t dport = 0;
    d->interval_s = 30;
    int rc;
    if ((rc = load_node(cfg, dn, &d->tpl, false, i, err)) ||
        (rc = eco_cfg_strcpy(cfg, dn, "name", "", d->name, sizeof d->name, err)) ||
        (rc = eco_cfg_int_range(cfg, dn, "port", 0, 0, 65535, &dport, err)) ||
        (rc = get_period(cfg, dn, "interval", &d->interval_s, err)))
      return rc;
    if (!d->name[0]) return bad(cfg, dn, "name", "a dns entry needs a host name to resolve", err);
    if (dport == 0)
      return bad(cfg, dn, "port", "a dns entry needs the nodes' port (1..65535)", err);
    d->port = (int)dport;
    c->n_dns++;
  }
  return 0;
}

/* router.dns_servers: at most 4 "IP" or "IP:PORT" (IPv4 or [IPv6]:PORT). */
static int load_dns_servers(const eco_cfg *cfg, eco_router_cfg *c, eco_error *err) {
  const eco_cfg_node *sl = eco_cfg_find(cfg, NULL, "router.dns_servers");
  if (!sl || sl->kind != ECO_CFG_SEQ) return 0;
  if (sl->n_items > sizeof c->dns_servers / sizeof c->dns_servers[0])
    return bad(cfg, NULL, "router.dns_servers", "at most 4 resolvers", err);
  for (size_t i = 0; i < sl->n_items; i++) {
    char *s = c->dns_servers[i];
    int rc = eco_cfg_strcpy(cfg, sl, sl->items[i]->path + strlen(sl->path) + 1, "", s,
                            sizeof c->dns_servers[i], err);
    if (rc) return rc;
    if (!s[0] || strspn(s, "0123456789abcdefABCDEF.:[]") != strlen(s))
      return bad(cfg, sl, sl->items[i]->path + strlen(sl->path) + 1,
                 "expected a resolver address, IP or IP:PORT", err);
    c->n_dns_servers++;
  }
  return 0;
}

static int load_zones(const eco_cfg *cfg, eco_router_cfg *c, eco_error *err) {
  const eco_cfg_node *zn = eco_cfg_find(cfg, NULL, "zones");
  if (!zn || zn->kind != ECO_CFG_MAP || !zn->n_items) return 0;
  if (!(c->zones = calloc(zn->n_items, sizeof *c->zones))) return ECO_ENOMEM;
  for (size_t i = 0; i < zn->n_items; i++) {
    const eco_cfg_node *z = zn->items[i];
    if (strlen(z->key) >= sizeof c->zones[i].zone)
      return bad(cfg, zn, z->key, "zone name longer than 31 characters", err);
    snprintf(c->zones[i].zone, sizeof c->zones[i].zone, "%s", z->key);
    int rc = eco_cfg_double_range(cfg, zn, z->key, 0, 0, 1e5, &c->zones[i].gco2_kwh, err);
    if (rc) return rc;
    c->n_zones++;
  }
  return 0;
}

/* ---- router: ------------------------------------------------------------------- */

static int load_router(const eco_cfg *cfg, eco_router_cfg *c, eco_error *err) {
  int64_t port, aport, attempts, hft, cf, maxn;
  char pol[32];
  int rc;
  if ((rc = eco_cfg_strcpy(cfg, NULL, "router.host", c->host, c->host, sizeof c->host, err)) ||
      (rc = eco_cfg_int_range(cfg, NULL, "router.port", c->port, 0, 65535, &port, err)) ||
      (rc = eco_cfg_strcpy(cfg, NULL, "router.admin_host", c->admin_host, c->admin_host,
                           sizeof c->admin_host, err)) ||
      (rc = eco_cfg_int_range(cfg, NULL, "router.admin_port", c->admin_port, -1, 65535, &aport,
                              err)) ||
      (rc = eco_cfg_strcpy(cfg, NULL, "router.admin_token", "", c->admin_token,
                           sizeof c->admin_token, err)) ||
      (rc = eco_cfg_strcpy(cfg, NULL, "router.policy", "slo-carbon", pol, sizeof pol, err)) ||
      (rc = eco_cfg_duration(cfg, NULL, "router.slo", 0, &c->default_slo_s, err)) ||
      (rc = get_period(cfg, NULL, "router.timeout", &c->timeout_s, err)) ||
      (rc = get_period(cfg, NULL, "router.client_timeout", &c->client_timeout_s, err)) ||
      (rc = eco_cfg_int_range(cfg, NULL, "router.attempts", c->max_attempts, 1, 16, &attempts,
                              err)) ||
      (rc = get_u32(cfg, NULL, "router.batch.max", &c->batch_max, 1, 4096, err)) ||
      (rc = eco_cfg_duration(cfg, NULL, "router.batch.window", 0, &c->batch_window_s, err)) ||
      (rc = get_period(cfg, NULL, "router.health.interval", &c->health_interval_s, err)) ||
      (rc = get_period(cfg, NULL, "router.health.max_backoff", &c->health_max_backoff_s, err)) ||
      (rc = eco_cfg_int_range(cfg, NULL, "router.health.fail_threshold", c->health_fail_threshold,
                              1, 1000, &hft, err)) ||
      (rc = eco_cfg_int_range(cfg, NULL, "router.circuit.failures", c->circuit_failures, 1, 1000,
                              &cf, err)) ||
      (rc = eco_cfg_duration(cfg, NULL, "router.circuit.cooldown", c->circuit_cooldown_s,
                             &c->circuit_cooldown_s, err)) ||
      (rc = eco_cfg_double_range(cfg, NULL, "router.alpha", c->alpha, 0, 1, &c->alpha, err)) ||
      (rc = eco_cfg_double_range(cfg, NULL, "router.pue", c->pue, 1, 10, &c->pue, err)) ||
      (rc = eco_cfg_int_range(cfg, NULL, "router.max_nodes", (int64_t)c->max_nodes, 1, 100000,
                              &maxn, err)))
    return rc;
  if (!(c->alpha > 0)) return bad(cfg, NULL, "router.alpha", "must lie in (0, 1]", err);
  if (eco_policy_parse(pol, &c->policy) != 0) {
    char why[128];
    snprintf(why, sizeof why,
             "unknown policy '%s' (round-robin, greedy, carbon, latency, slo-carbon)", pol);
    return bad(cfg, NULL, "router.policy", why, err);
  }
  c->port = (int)port;
  c->admin_port = (int)aport;
  c->max_attempts = (int)attempts;
  c->health_fail_threshold = (int)hft;
  c->circuit_failures = (int)cf;
  c->max_nodes = (size_t)maxn;
  return 0;
}

int eco_router_cfg_load(const eco_cfg *cfg, eco_router_cfg *c, eco_error *err) {
  eco_router_cfg_default(c);
  int rc;
  for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
    if ((rc = eco_cfg_check_schema(cfg, eco_cfg_find(cfg, NULL, sections[i].key), &sections[i],
                                   err)))
      goto fail;
  if ((rc = eco_rdir_cfg_load(cfg, &c->directive, err)) || (rc = load_router(cfg, c, err)) ||
      (rc = eco_router_cfg_load_keys(cfg, c, err)) ||
      (rc = load_batch_api(cfg, &c->batch_api, err)) ||
      (rc = eco_cfg_duration(cfg, NULL, "carbon.refresh", c->intensity_refresh_s,
                             &c->intensity_refresh_s, err)) ||
      (rc = eco_cfg_double(cfg, NULL, "carbon.speed", c->trace_speed, &c->trace_speed, err)))
    goto fail;
  /* carbon.trace: the router's shorthand is a path; a mapping is the shared
   * accounting schema (carbon.provider: trace), which cmd_route builds. */
  const eco_cfg_node *tn = eco_cfg_find(cfg, NULL, "carbon.trace");
  if ((!tn || tn->kind == ECO_CFG_SCALAR) &&
      (rc =
           eco_cfg_strcpy(cfg, NULL, "carbon.trace", "", c->trace_path, sizeof c->trace_path, err)))
    goto fail;
  if ((rc = load_zones(cfg, c, err)) || (rc = load_nodes(cfg, c, err)) ||
      (rc = load_dns(cfg, c, err)) || (rc = load_dns_servers(cfg, c, err)))
    goto fail;
  if (c->n_nodes == 0 && c->n_dns == 0) {
    rc = bad(cfg, NULL, "nodes",
             "no nodes: give a list of nodes (id, url, zone, ...) or dns: entries", err);
    goto fail;
  }
  if (c->n_nodes > c->max_nodes) c->max_nodes = c->n_nodes;
  if (c->directive.enabled && eco_evalsched_active(&c->directive.eval) &&
      !c->batch_api.db_path[0]) {
    rc = bad(cfg, NULL, "directive.eval.judge",
             "the quality loop regenerates answers as deferrable Batch API work: set "
             "router.batch_api.db",
             err);
    goto fail;
  }
  return 0;
fail:
  if (rc == ECO_ENOMEM) eco_error_set(err, ECO_ENOMEM, "router config: out of memory");
  eco_router_cfg_free(c);
  return rc ? rc : ECO_ECONFIG;
}

void eco_router_cfg_free(eco_router_cfg *c) {
  if (!c) return;
  free(c->zones);
  if (c->nodes) memset(c->nodes, 0, c->n_nodes * sizeof *c->nodes); /* upstream keys */
  free(c->nodes);
  if (c->dns) memset(c->dns, 0, c->n_dns * sizeof *c->dns);
  free(c->dns);
  memset(c->directive.eval.judge_key, 0, sizeof c->directive.eval.judge_key);
  if (c->api_keys) memset(c->api_keys, 0, c->n_api_keys * sizeof *c->api_keys);
  free(c->api_keys);
  c->api_keys = NULL;
  c->n_api_keys = 0;
  c->zones = NULL;
  c->nodes = NULL;
  c->dns = NULL;
  c->n_zones = c->n_nodes = c->n_dns = 0;
}
