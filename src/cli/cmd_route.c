/* ecoinfer route: the carbon-aware router in front of a cluster of
 * OpenAI-compatible nodes (see docs/router.md). */
#include "accounting/setup.h"
#include "carbon/ledger.h"
#include "cli/cli.h"
#include "util/timeutil.h"
#include "router/router.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static const eco_opt opts[] = {
    {"host", 0, "ADDR", "router.host", "public listen address (default 127.0.0.1)"},
    {"port", 'p', "PORT", "router.port", "public port (default 8080)"},
    {"admin-port", 0, "PORT", "router.admin_port", "admin port (default 8081, -1 = off)"},
    {"policy", 0, "NAME", "router.policy",
     "round-robin | greedy | carbon | latency | slo-carbon (default slo-carbon)"},
    {"slo", 0, "DURATION", "router.slo", "default latency SLO, e.g. 2s (default none)"},
    {"ledger", 0, "FILE", "ledger.path",
     "SQLite ledger of the router's rows (default $XDG_DATA_HOME/ecoinfer/receipts.db)"},
    {"no-ledger", 0, NULL, NULL, "do not write the router's rows to a ledger"},
};

static const eco_cmd_spec spec = {
    .name = "route",
    .usage = "--config cluster.yaml [options]",
    .summary = "Route OpenAI-compatible requests across nodes by carbon, latency or SLO.",
    .details = "Nodes come from the config's nodes: list (url, device, zone, embodied carbon,\n"
               "labels, max_batch, optional profile) and dns: entries re-resolved periodically.\n"
               "Public API: POST /v1/chat/completions, POST /v1/completions, GET /v1/models,\n"
               "/health, /metrics. Headers x-ecoinfer-policy and x-ecoinfer-slo-ms choose the\n"
               "policy and SLO per request. Admin API (separate port): GET/PUT /admin/policy,\n"
               "GET /admin/nodes, PUT /admin/intensity. See docs/router.md.\n"
               "The router appends one ledger row per routed request, Batch API request and\n"
               "evaluation job, with its routing facts (policy, directive level and group,\n"
               "prediction, counterfactual, savings by lever): ecoinfer report reads them.",
    .opts = opts,
    .n_opts = sizeof opts / sizeof opts[0],
    .min_args = 0,
    .max_args = 0,
};

typedef struct sigctx {
  eco_router *r;
  sigset_t set;
} sigctx;

static void *sig_thread(void *arg) {
  sigctx *s = arg;
  int sig = 0;
  if (sigwait(&s->set, &sig) == 0) eco_router_stop(s->r);
  return NULL;
}

/* Zone intensities through the shared accounting schema when configured (carbon.provider:
 * static | trace | electricitymaps | ...); otherwise the router's shorthand (carbon.trace
 * path, zones:) applies. The batch planner gets its own instance (it plans on other
 * threads). */
static int open_providers(eco_cli *cli, eco_router_cfg *cfg, eco_intensity_provider **prov,
                          eco_intensity_provider **bprov, eco_error *err) {
  if (!eco_cfg_find(cli->cfg, NULL, "carbon.provider") && !getenv("ECOINFER_CARBON_PROVIDER"))
    return 0;
  int rc = eco_carbon_provider_from_config(cli->cfg, NULL, eco_time_wall_s(), prov, err);
  if (rc) return rc;
  cfg->intensity = *prov;
  if (!cfg->batch_api.db_path[0]) return 0;
  const char *pname = "static";
  if ((rc = eco_cfg_str(cli->cfg, NULL, "carbon.provider", "static", &pname, err)) ||
      (rc = eco_carbon_provider_from_config(cli->cfg, NULL, eco_time_wall_s(), bprov, err)))
    return rc;
  cfg->batch_intensity = *bprov;
  cfg->batch_intensity_has_forecast = strcmp(pname, "static") != 0 && strcmp(pname, "trace") != 0;
  return 0;
}

/* Runs the router until SIGINT or SIGTERM (a thread waits for them). */
static int run_router(eco_cli *cli, const eco_router_cfg *cfg) {
  eco_error err = {0};
  sigctx s;
  sigemptyset(&s.set);
  sigaddset(&s.set, SIGINT);
  sigaddset(&s.set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &s.set, NULL);
  signal(SIGPIPE, SIG_IGN);
  eco_router *r = NULL;
  if (eco_router_new(cfg, &cli->log, &r, &err) != 0) {
    eco_cli_error(cli, "route", "%s", eco_error_text(&err));
    return ECO_EXIT_RUNTIME;
  }
  s.r = r;
  pthread_t th;
  bool have_th = pthread_create(&th, NULL, sig_thread, &s) == 0;
  char line[256];
  snprintf(line, sizeof line,
           cli->json ? "{\"listening\":\"http://%s:%d\",\"admin_port\":%d,\"nodes\":%zu}\n"
                     : "ecoinfer route: listening on http://%s:%d (admin port %d), %zu nodes\n",
           cfg->host, eco_router_port(r), eco_router_admin_port(r), cfg->n_nodes);
  eco_cli_out(line);
  int rc = eco_router_run(r);
  if (have_th) {
    pthread_cancel(th);
    pthread_join(th, NULL);
  }
  eco_router_free(r);
  return rc == 0 ? ECO_EXIT_OK : ECO_EXIT_RUNTIME;
}

int eco_cmd_route(eco_cli *cli, int argc, char **argv) {
  bool done;
  int rc = eco_cli_parse(cli, &spec, argc, argv, &done);
  if (done) return rc;
  eco_router_cfg cfg;
  eco_error err = {0};
  if (eco_router_cfg_load(cli->cfg, &cfg, &err) != 0) {
    eco_cli_error(cli, "route", "%s", eco_error_text(&err));
    return ECO_EXIT_USAGE;
  }
  eco_intensity_provider *prov = NULL, *bprov = NULL;
  eco_ledger *ledger = NULL;
  const char *lpath = "";
  rc = open_providers(cli, &cfg, &prov, &bprov, &err);
  if (rc == 0) {
    eco_cli_ledger_default(cli, eco_cli_flag(cli, "no-ledger"));
    if (eco_cfg_str(cli->cfg, NULL, "ledger.path", "", &lpath, &err) ||
        (lpath[0] && eco_ledger_open_from_config(cli->cfg, false, &ledger, &err)))
      rc = -1;
  }
  if (rc) {
    eco_cli_error(cli, "route", "%s", eco_error_text(&err));
    rc = ECO_EXIT_USAGE;
  } else {
    cfg.ledger = ledger;
    if (ledger) ECO_INFO(&cli->log, "route", "ledger: %s", lpath);
    rc = run_router(cli, &cfg);
  }
  eco_router_cfg_free(&cfg);
  eco_intensity_free(prov);
  eco_intensity_free(bprov);
  eco_ledger_close(ledger);
  return rc;
}
