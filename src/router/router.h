/* ecoinfer router: the gateway in front of a cluster of OpenAI-compatible
 * nodes (ecoinfer serve, llama.cpp server, vLLM, Ollama, ...).
 *
 * One libevent loop serves the public API (POST /v1/chat/completions,
 * POST /v1/completions, GET /v1/models, /health, /metrics) and, on a
 * separate listener, the admin API (GET/PUT /admin/policy, GET
 * /admin/nodes, PUT /admin/intensity). Upstream requests are evhttp client
 * requests on the same loop, pooled per node with keep-alive. For each
 * request a policy (src/policy/policy.h) picks a node from a snapshot of
 * every node; on connection errors, 429/5xx or a node dying before any
 * output went to the client the request is retried on the next-best node;
 * once output went out, the stream ends with an SSE error event. Streams
 * are forwarded event by event as they arrive. See docs/router.md. */
#ifndef ECO_ROUTER_ROUTER_H
#define ECO_ROUTER_ROUTER_H

#include "router/directive_hook.h"
#include "router/engines.h"
#include "policy/policy.h"
#include "util/config.h"
#include "util/log.h"
#include "util/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ECO_ROUTER_LABELS_MAX 256

/* One configured node (or the template of a DNS entry). */
typedef struct eco_router_node_cfg {
  char id[64];                        /* name; DNS nodes: "ip:port" */
  char url[256];                      /* "http://host:port" (no path) */
  char device[32];                    /* device type */
  char zone[32];                      /* grid zone */
  char labels[ECO_ROUTER_LABELS_MAX]; /* "k=v,k=v" */
  double embodied_g_per_s;            /* gCO2e/s; or derived from embodied_g / lifetime */
  uint32_t max_batch;                 /* max concurrent sequences, >= 1 */
  bool ecoinfer;                      /* an ecoinfer node: poll /v1/node */
  eco_engine_kind engine;             /* what serves there (kind:), its load signals */
  char health_path[64];               /* liveness path, default "/health" */
  bool has_profile;                   /* profile below seeded from config */
  eco_profile profile;                /* static profile */
  char agent_url[256];                /* `ecoinfer agent` on the node's host, "" = none */
  char meter[96];                     /* the agent's meters that cover it (agent_pick.h), "host" */
  bool gpu;                           /* it runs on a GPU: receipts whose meters miss it are
                                         labelled estimated */
  uint64_t max_body_bytes;            /* the node's request body limit, bytes (0 = unknown;
                                         ecoinfer nodes report theirs in /v1/node) */
  char api_key[256]; /* sent to the node as Authorization: Bearer (proxying, health checks,
                        /v1/node and load polls, batch dispatch); "" = none. Never logged */
} eco_router_node_cfg;

/* A DNS source: every A record of name becomes a node on port. */
typedef struct eco_router_dns_cfg {
  char name[256];          /* host name to resolve, e.g. a headless Service */
  int port;                /* node port */
  double interval_s;       /* re-resolution period, s */
  eco_router_node_cfg tpl; /* attributes given to each address */
} eco_router_dns_cfg;

typedef struct eco_router_zone_cfg {
  char zone[32];
  double gco2_kwh; /* static intensity, gCO2e/kWh */
} eco_router_zone_cfg;

/* router.batch_api: the OpenAI Batch API (src/router/batch_api.h). */
typedef struct eco_router_batch_cfg {
  char db_path[512];          /* SQLite queue file, "" = Batch API off */
  double interactive_reserve; /* share of each node's slots kept for interactive traffic, 0..1 */
  double replan_s;            /* replan period, s */
  double forecast_check_s;    /* how often forecasts are re-read to detect changes, s */
  double replan_threshold;    /* relative forecast move that triggers a replan, e.g. 0.1 */
  int concurrency;            /* batch requests in flight at once (dispatcher threads) */
  double lease_s;             /* claim lease: a crashed router's work is re-run after it, s */
  double slot_s;              /* planning slot length, s */
  double request_s;           /* assumed service time of one request (capacity), s */
  double energy_j;            /* assumed IT energy of one request without a profile, J */
  double poll_s;              /* dispatcher idle poll period, s */
  char forecast[32];          /* history forecast method, e.g. "seasonal-naive" */
} eco_router_batch_cfg;

/* router.api_keys: one key clients send as Authorization: Bearer. */
typedef struct eco_router_key_cfg {
  char key[256];     /* the secret (config, key_env or key_file) */
  char name[64];     /* label for logs, default "keyN" */
  double rate_per_s; /* requests/s allowed (rpm / 60), 0 = no limit */
  double burst;      /* bucket size, requests (0 = max(1, rate)) */
} eco_router_key_cfg;

typedef struct eco_router_cfg {
  char host[64];                /* public listener address */
  int port;                     /* public port (0 = ephemeral) */
  char admin_host[64];          /* admin listener address, default 127.0.0.1 */
  int admin_port;               /* admin port (0 = ephemeral, -1 = off) */
  char admin_token[128];        /* Bearer token for the admin API, "" = none */
  eco_router_key_cfg *api_keys; /* keys for every /v1/ path (files, batches); none = open */
  size_t n_api_keys;
  bool protect_metrics;        /* with api_keys: /metrics and /dashboard need a key too (default) */
  eco_policy_kind policy;      /* default policy */
  double default_slo_s;        /* SLO when the request has none, s (0 = none) */
  double timeout_s;            /* upstream inactivity timeout, s */
  double client_timeout_s;     /* idle or half-sent client connections close after, s (120) */
  int max_attempts;            /* upstream attempts per request (1 = no failover) */
  uint32_t batch_max;          /* router-side batch: prompts per node (default 4) */
  double batch_window_s;       /* router-side batch window, s (0 = off) */
  double health_interval_s;    /* health-check period while healthy, s */
  double health_max_backoff_s; /* longest period after failures, s */
  int health_fail_threshold;   /* consecutive failures to mark a node down */
  int circuit_failures;        /* consecutive request failures to open the circuit */
  double circuit_cooldown_s;   /* open time before a half-open trial, s */
  double alpha;                /* EWMA weight for profiles and output lengths */
  double pue;                  /* PUE applied to every node, >= 1 */
  double intensity_refresh_s;  /* how often zone intensities are re-read, s */
  char trace_path[512];        /* carbon trace file or directory ("" = none) */
  /* Optional provider built by the caller from the shared accounting schema
   * (carbon.provider, see docs/accounting.md); when set it is used for every
   * zone instead of trace_path/zones, and the caller keeps ownership. */
  struct eco_intensity_provider *intensity;
  /* A second instance of the same provider for the batch planner, which
   * runs on its own threads (providers are not shared across threads); the
   * caller keeps ownership. has_forecast: it has a forecast endpoint (live
   * APIs), which the planner then uses before the history forecast. */
  struct eco_intensity_provider *batch_intensity;
  bool batch_intensity_has_forecast;
  double trace_speed;         /* trace seconds per wall second (replay) */
  eco_router_zone_cfg *zones; /* static intensities */
  size_t n_zones;
  eco_router_node_cfg *nodes;
  size_t n_nodes;
  eco_router_dns_cfg *dns;
  size_t n_dns;
  char dns_servers[4][64]; /* router.dns_servers: "IP" or "IP:PORT" resolvers for dns:
                              entries, instead of the system's (resolv.conf, hosts) */
  size_t n_dns_servers;
  size_t max_nodes;               /* capacity (config + DNS), default 256 */
  eco_rdir_cfg directive;         /* generation directives (directive_hook.h), off by default */
  eco_router_batch_cfg batch_api; /* OpenAI Batch API (batch_api.h), off without a db */
  /* The ledger the router appends its own rows to (carbon/ledger.h: one per
   * routed request, Batch API request and evaluation job, with the routing
   * facts), NULL = none. The caller opens it (ledger.path) and keeps
   * ownership; the handle is thread-safe (the Batch API's threads use it). */
  struct eco_ledger *ledger;
} eco_router_cfg;

/* Defaults (no nodes). */
void eco_router_cfg_default(eco_router_cfg *c);
/* Reads router.*, zones.*, carbon.*, nodes[] and dns[] from cfg (see
 * docs/router.md). Returns 0 or ECO_ECONFIG with the location in err. */
int eco_router_cfg_load(const eco_cfg *cfg, eco_router_cfg *c, eco_error *err);
void eco_router_cfg_free(eco_router_cfg *c);
/* router.api_keys, protect_metrics, admin_token_env/_file, and the admin
 * check below (router_keys.c; called by eco_router_cfg_load). */
int eco_router_cfg_load_keys(const eco_cfg *cfg, eco_router_cfg *c, eco_error *err);
/* A node's api_key, api_key_env or api_key_file. */
int eco_router_node_key_load(const eco_cfg *cfg, const eco_cfg_node *nn, eco_router_node_cfg *n,
                             eco_error *err);
/* ECO_ECONFIG when the admin API would listen on a non-loopback address
 * without a token (eco_router_new refuses to start then). */
int eco_router_admin_check(const eco_router_cfg *c, eco_error *err);
/* The schema of the router's sections (router:, nodes:, dns:, zones:), for
 * a whole-file check of a configuration (src/cli). */
const eco_cfg_schema *eco_router_cfg_sections(size_t *n);

typedef struct eco_router eco_router;

/* Builds the router and binds its listeners (so ports are known before
 * run). The cfg is copied. log may be NULL. */
int eco_router_new(const eco_router_cfg *cfg, const eco_logger *log, eco_router **out,
                   eco_error *err);
/* Runs the event loop until eco_router_stop(). */
int eco_router_run(eco_router *r);
/* Stops the loop; safe from any thread or a signal-handling event. */
void eco_router_stop(eco_router *r);
void eco_router_free(eco_router *r);

int eco_router_port(const eco_router *r);
int eco_router_admin_port(const eco_router *r);

#endif
