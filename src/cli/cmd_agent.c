/* ecoinfer agent: this host's energy meter over HTTP, for a router that
 * fronts a foreign backend here (see src/energy/agent.h, docs/router.md). */
#include "cli/cli.h"
#include "energy/meter.h"
#include "energy/agent.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>

static const eco_opt opts[] = {
    {"host", 0, "ADDR", NULL, "listen address (default 127.0.0.1)"},
    {"port", 'p', "PORT", NULL, "port (default 9100; 0 = any free port)"},
    {"sysfs-root", 0, "DIR", NULL, "read sensors below DIR instead of / (testing)"},
    {"interval", 0, "SECONDS", NULL, "meter sampling period (default 0.5)"},
};

static const eco_cmd_spec spec = {
    .name = "agent",
    .usage = "[options]",
    .summary = "Expose this host's energy meter over HTTP for the router (GET /v1/meters).",
    .details = "Opens the host meter the accounting module picks (INA3221 > RAPL > hwmon >\n"
               "model) and serves its cumulative joules at GET /v1/meters. Point a router\n"
               "node's `agent:` key at it to attribute measured energy to the requests the\n"
               "router sends to a foreign backend on this host.",
    .opts = opts,
    .n_opts = sizeof opts / sizeof opts[0],
    .min_args = 0,
    .max_args = 0,
};

typedef struct sigctx {
  eco_agent *a;
  sigset_t set;
} sigctx;

static void *sig_thread(void *arg) {
  sigctx *s = arg;
  int sig = 0;
  if (sigwait(&s->set, &sig) == 0) eco_agent_stop(s->a);
  return NULL;
}

int eco_cmd_agent(eco_cli *cli, int argc, char **argv) {
  bool done;
  int rc = eco_cli_parse(cli, &spec, argc, argv, &done);
  if (done) return rc;
  int64_t port = 9100;
  double interval = 0.5;
  if (eco_cli_get_int(cli, "port", 9100, &port) || port < 0 || port > 65535 ||
      eco_cli_get_double(cli, "interval", 0.5, &interval) || !(interval > 0)) {
    eco_cli_error(cli, "agent", "--port must be 0..65535 and --interval > 0");
    return ECO_EXIT_USAGE;
  }
  const char *host = eco_cli_get(cli, "host");
  const char *root = eco_cli_get(cli, "sysfs-root");
  eco_error err = {0};
  eco_meter *m = NULL;
  if (eco_meter_open_auto(root ? root : "/", NULL, &m, &err) != 0) {
    eco_cli_error(cli, "agent", "no meter: %s", eco_error_text(&err));
    return ECO_EXIT_RUNTIME;
  }
  if (eco_meter_start(m, interval) != 0) {
    eco_cli_error(cli, "agent", "cannot start the meter's sampling thread");
    eco_meter_free(m);
    return ECO_EXIT_RUNTIME;
  }
  sigctx s;
  sigemptyset(&s.set);
  sigaddset(&s.set, SIGINT);
  sigaddset(&s.set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &s.set, NULL);
  eco_agent_meter am = {.device = "cpu", .meter = m};
  eco_agent *a = NULL;
  if (eco_agent_new(host, (int)port, &am, 1, &a, &err) != 0) {
    eco_cli_error(cli, "agent", "%s", eco_error_text(&err));
    eco_meter_free(m);
    return ECO_EXIT_RUNTIME;
  }
  s.a = a;
  pthread_t th;
  bool have_th = pthread_create(&th, NULL, sig_thread, &s) == 0;
  char line[256];
  snprintf(line, sizeof line,
           cli->json ? "{\"listening\":\"http://%s:%d\",\"meter\":\"%s\",\"estimated\":%s}\n"
                     : "ecoinfer agent: http://%s:%d/v1/meters, meter %s%s\n",
           host ? host : "127.0.0.1", eco_agent_port(a), m->src.name,
           cli->json ? (m->src.estimated ? "true" : "false")
                     : (m->src.estimated ? " (estimated)" : ""));
  eco_cli_out(line);
  rc = eco_agent_run(a);
  if (have_th) {
    pthread_cancel(th);
    pthread_join(th, NULL);
  }
  eco_agent_free(a);
  eco_meter_free(m);
  return rc == 0 ? ECO_EXIT_OK : ECO_EXIT_RUNTIME;
}
