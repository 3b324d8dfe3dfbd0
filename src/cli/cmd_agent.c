/* ecoinfer agent: this host's energy meters over HTTP, for a router that
 * fronts a foreign backend here (see src/energy/agent.h, docs/router.md). */
#include "cli/cli.h"
#include "energy/agent.h"
#include "energy/meter_set.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>

static const eco_opt opts[] = {
    {"host", 0, "ADDR", NULL, "listen address (default 127.0.0.1)"},
    {"port", 'p', "PORT", NULL, "port (default 9100; 0 = any free port)"},
    {"sysfs-root", 0, "DIR", NULL, "read sensors below DIR instead of / (testing)"},
    {"interval", 0, "SECONDS", NULL, "meter sampling period (default 0.5)"},
    {"nvml-lib", 0, "PATH", NULL, "NVML library to dlopen (default libnvidia-ml.so.1)"},
    {"no-nvml", 0, NULL, NULL, "do not look for NVIDIA GPUs"},
};

static const eco_cmd_spec spec = {
    .name = "agent",
    .usage = "[options]",
    .summary = "Expose this host's energy meters over HTTP for the router (GET /v1/meters).",
    .details = "Opens every meter the host has: Jetson INA3221 rails (both sysfs layouts),\n"
               "RAPL, each hwmon chip with a power or energy sensor, and each NVIDIA GPU\n"
               "through NVML (with its processes where NVML allows), and serves their\n"
               "cumulative joules at GET /v1/meters. The host meter (INA3221 > RAPL >\n"
               "hwmon > the CPU model) is flagged. Point a router node's `agent:` key at\n"
               "it, and its `meter:` key at the meters that cover the node's engine\n"
               "(host, nvml:0, jetson:gpu+cpu; see docs/router.md).",
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
  eco_meter_set_opts mo = {.root = eco_cli_get(cli, "sysfs-root"),
                           .nvml_lib = eco_cli_get(cli, "nvml-lib"),
                           .no_nvml = eco_cli_flag(cli, "no-nvml")};
  eco_error err = {0};
  eco_meter_set set;
  if (eco_meter_set_open(&mo, &set, &err) != 0) {
    eco_cli_error(cli, "agent", "no meter: %s", eco_error_text(&err));
    return ECO_EXIT_RUNTIME;
  }
  if (set.notes[0] && !cli->json) fprintf(stderr, "ecoinfer agent: note: %s\n", set.notes);
  if (eco_meter_set_start(&set, interval) != 0) {
    eco_cli_error(cli, "agent", "cannot start the meters' sampling threads");
    eco_meter_set_free(&set);
    return ECO_EXIT_RUNTIME;
  }
  sigctx s;
  sigemptyset(&s.set);
  sigaddset(&s.set, SIGINT);
  sigaddset(&s.set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &s.set, NULL);
  eco_agent *a = NULL;
  if (eco_agent_new(host, (int)port, set.e, set.n, &a, &err) != 0) {
    eco_cli_error(cli, "agent", "%s", eco_error_text(&err));
    eco_meter_set_free(&set);
    return ECO_EXIT_RUNTIME;
  }
  s.a = a;
  pthread_t th;
  bool have_th = pthread_create(&th, NULL, sig_thread, &s) == 0;
  char ids[512] = "";
  const eco_meter *hm = set.e[0].meter;
  for (size_t i = 0, off = 0; i < set.n; i++) {
    if (set.e[i].host) hm = set.e[i].meter;
    int w = snprintf(ids + off, sizeof ids - off, "%s%s", off ? "," : "", set.e[i].id);
    if (w < 0 || (size_t)w >= sizeof ids - off) break;
    off += (size_t)w;
  }
  char line[1024];
  snprintf(line, sizeof line,
           cli->json ? "{\"listening\":\"http://%s:%d\",\"meter\":\"%s\",\"estimated\":%s,"
                       "\"meters\":\"%s\"}\n"
                     : "ecoinfer agent: http://%s:%d/v1/meters, host meter %s%s, meters %s\n",
           host ? host : "127.0.0.1", eco_agent_port(a), hm->src.name,
           cli->json ? (hm->src.estimated ? "true" : "false")
                     : (hm->src.estimated ? " (estimated)" : ""),
           ids);
  eco_cli_out(line);
  rc = eco_agent_run(a);
  if (have_th) {
    pthread_cancel(th);
    pthread_join(th, NULL);
  }
  eco_agent_free(a);
  eco_meter_set_free(&set);
  return rc == 0 ? ECO_EXIT_OK : ECO_EXIT_RUNTIME;
}
