/* ecoinfer replay: the arms' configurations and processes (see replay.h). */
#include "cli/replay.h"

#include "carbon/ledger.h"
#include "util/fs.h"
#include "util/timeutil.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* YAML single-quoted scalar: ' doubled */
static void yq(FILE *f, const char *s) {
  fputc('\'', f);
  for (; *s; s++) {
    if (*s == '\'') fputc('\'', f);
    fputc(*s, f);
  }
  fputc('\'', f);
}

static void iso(double t, char *buf, size_t cap) {
  time_t tt = (time_t)t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* carbon: the trace on the replay's clock, shared by every process */
static void write_carbon(FILE *f, const eco_rp_setup *s, bool router) {
  char start[32];
  iso(s->trace_start_s, start, sizeof start);
  fprintf(f, "carbon:\n  provider: trace\n  zone: ");
  yq(f, s->zone);
  fprintf(f, "\n  pue: 1\n  fallback: false\n");
  if (router) fprintf(f, "  refresh: %.3fs\n", s->hour_s / 8);
  fprintf(f, "  trace:\n    path: ");
  yq(f, s->trace);
  fprintf(f, "\n    column: direct\n    start: '%s'\n    speed: %.6f\n    origin: '%.6f'\n", start,
          3600.0 / s->hour_s, s->origin_s);
}

static int write_node_cfg(const eco_rp_setup *s, const eco_rp_arm *a, int i, const char *path,
                          eco_error *err) {
  FILE *f = fopen(path, "w");
  if (!f) return eco_error_set(err, ECO_EIO, "%s: %s", path, strerror(errno));
  fprintf(f, "server:\n  host: 127.0.0.1\n  port: 0\n  admin_port: 0\n  max_tokens: 16384\n"
             "  replay:\n    data: ");
  yq(f, s->data_dir);
  fprintf(f, "\n    time_scale: %g\n", s->time_scale);
  write_carbon(f, s, false);
  /* the artifact's device: an A100, its embodied carbon over its life */
  fprintf(f,
          "device:\n  name: replay-a100\n  meter: model\n  embodied_kg: %.6f\n"
          "  lifetime_years: %g\n  share: 1\n",
          s->embodied_g / 1000.0, s->life_years);
  fprintf(f, "energy:\n  attribution: cpu-time\nledger:\n  path: ");
  yq(f, a->ledger[i]);
  fputc('\n', f);
  return fclose(f) ? eco_error_set(err, ECO_EIO, "%s: write failed", path) : 0;
}

static int write_router_cfg(const eco_rp_setup *s, const eco_rp_arm *a, const char *path,
                            eco_error *err) {
  FILE *f = fopen(path, "w");
  if (!f) return eco_error_set(err, ECO_EIO, "%s: %s", path, strerror(errno));
  fprintf(f,
          "router:\n  host: 127.0.0.1\n  port: 0\n  admin_port: 0\n  policy: %s\n"
          "  timeout: 30s\n  health:\n    interval: 100ms\n",
          a->directives ? s->route_policy : "greedy");
  fprintf(f, "nodes:\n");
  for (int i = 0; i < a->n_nodes; i++) {
    fprintf(f, "  - id: %s-%d\n    url: 'http://127.0.0.1:%d'\n    zone: ", a->name, i,
            a->node_port[i]);
    yq(f, s->zone);
    fprintf(
        f,
        "\n    kind: ecoinfer\n    device: replay-a100\n    max_batch: 64\n    embodied_g: %.3f\n"
        "    lifetime_y: %g\n",
        s->embodied_g, s->life_years);
  }
  write_carbon(f, s, true);
  fprintf(f, "ledger:\n  path: ");
  yq(f, a->router_ledger);
  fputc('\n', f);
  if (a->directives) {
    bool live = strcmp(s->policy, "ours-live") == 0;
    fprintf(f, "directive:\n  enabled: true\n  plan: %s\n  zone: ", live ? "live" : "lp");
    yq(f, s->zone);
    fprintf(f,
            "\n  xi: %g\n  ci_min: %.4f\n  ci_max: %.4f\n  embodied_g: %.3f\n  life_years: %g\n"
            "  seed: 1\n",
            s->xi, s->ci_min, s->ci_max, s->embodied_g, s->life_years);
    if (live) {
      /* sim sprout's ours-live settings; hours are the trace's */
      fprintf(f, "  live: {floor_period: 24h, margin: 0.005, mix_half_life: 1h}\n  model: ");
      yq(f, s->dmodel);
      fputc('\n', f);
      return fclose(f) ? eco_error_set(err, ECO_EIO, "%s: write failed", path) : 0;
    }
    fprintf(f, "  period: %.3fs\n  threshold: 0.1\n  stats:\n", s->hour_s);
    for (int l = 0; l < ECO_RP_LEVELS; l++)
      fprintf(f, "    - {energy_kwh: %.9g, time_s: %.6g, pref: %.6f}\n", s->stats[l].energy_kwh,
              s->stats[l].time_s, s->stats[l].pref);
  }
  return fclose(f) ? eco_error_set(err, ECO_EIO, "%s: write failed", path) : 0;
}

static int spawn(const char *exe, char *const argv[], const char *log, pid_t *pid, eco_error *err) {
  pid_t p = fork();
  if (p < 0) return eco_error_set(err, ECO_EIO, "fork: %s", strerror(errno));
  if (p == 0) {
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    execv(exe, argv);
    _exit(127);
  }
  *pid = p;
  return 0;
}

/* the last line of a log, for error messages */
static void log_tail(const char *path, char *buf, size_t cap) {
  buf[0] = 0;
  FILE *f = fopen(path, "r");
  if (!f) return;
  char line[512];
  while (fgets(line, sizeof line, f))
    if (line[0] && line[0] != '\n') snprintf(buf, cap, "%s", line);
  fclose(f);
  size_t n = strlen(buf);
  if (n && buf[n - 1] == '\n') buf[n - 1] = 0;
}

static int exited(pid_t pid, const char *what, const char *log, eco_error *err) {
  int st;
  if (waitpid(pid, &st, WNOHANG) != pid) return 0;
  char tail[300];
  log_tail(log, tail, sizeof tail);
  return eco_error_set(err, ECO_EIO, "%s exited at start-up (%s): %s", what, log, tail);
}

static int wait_node(eco_rp_arm *a, int i, const char *pf, const char *log, double deadline,
                     eco_error *err) {
  char name[64];
  snprintf(name, sizeof name, "node %s-%d", a->name, i);
  for (;;) {
    FILE *f = fopen(pf, "r");
    int port = 0, admin = 0;
    if (f) {
      int got = fscanf(f, "%d %d", &port, &admin);
      fclose(f);
      if (got == 2 && port > 0) {
        a->node_port[i] = port;
        return 0;
      }
    }
    int rc = exited(a->node_pid[i], name, log, err);
    if (rc) {
      a->node_pid[i] = 0;
      return rc;
    }
    if (eco_time_wall_s() > deadline)
      return eco_error_set(err, ECO_ETIMEOUT, "%s did not listen in time (%s)", name, log);
    eco_time_sleep_s(0.02);
  }
}

static int wait_router(eco_rp_arm *a, const char *log, double deadline, eco_error *err) {
  for (;;) {
    FILE *f = fopen(log, "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
      const char *p = strstr(line, "listening on http://127.0.0.1:");
      int port, admin;
      if (p && sscanf(p, "listening on http://127.0.0.1:%d (admin port %d)", &port, &admin) == 2) {
        fclose(f);
        a->router_port = port;
        a->admin_port = admin;
        return 0;
      }
    }
    if (f) fclose(f);
    int rc = exited(a->router_pid, "router", log, err);
    if (rc) {
      a->router_pid = 0;
      return rc;
    }
    if (eco_time_wall_s() > deadline)
      return eco_error_set(err, ECO_ETIMEOUT, "the %s router did not listen in time (%s)", a->name,
                           log);
    eco_time_sleep_s(0.02);
  }
}

int eco_rp_arm_spawn_nodes(const eco_rp_setup *s, eco_rp_arm *a, eco_error *err) {
  char path[700], pf[700], log[700];
  snprintf(a->dir, sizeof a->dir, "%s/%s", s->work, a->name);
  if (eco_fs_mkdirs(a->dir)) return eco_error_set(err, ECO_EIO, "%s: cannot create", a->dir);
  a->n_nodes = s->nodes;
  int rc;
  for (int i = 0; i < a->n_nodes; i++) {
    snprintf(a->ledger[i], sizeof a->ledger[i], "%s/node%d.db", a->dir, i);
    unlink(a->ledger[i]);
    snprintf(path, sizeof path, "%s/node%d.yaml", a->dir, i);
    snprintf(pf, sizeof pf, "%s/node%d.port", a->dir, i);
    snprintf(log, sizeof log, "%s/node%d.log", a->dir, i);
    unlink(pf);
    if ((rc = write_node_cfg(s, a, i, path, err))) return rc;
    char *argv[] = {(char *)s->exe, "serve", "--config", path, "--port-file", pf, NULL};
    if ((rc = spawn(s->exe, argv, log, &a->node_pid[i], err))) return rc;
  }
  return 0;
}

int eco_rp_arm_start_router(const eco_rp_setup *s, eco_rp_arm *a, double deadline_s,
                            eco_error *err) {
  char path[700], pf[700], log[700];
  int rc;
  for (int i = 0; i < a->n_nodes; i++) {
    snprintf(pf, sizeof pf, "%s/node%d.port", a->dir, i);
    snprintf(log, sizeof log, "%s/node%d.log", a->dir, i);
    if ((rc = wait_node(a, i, pf, log, deadline_s, err))) return rc;
  }
  snprintf(path, sizeof path, "%s/router.yaml", a->dir);
  snprintf(log, sizeof log, "%s/router.log", a->dir);
  snprintf(a->router_ledger, sizeof a->router_ledger, "%s/router.db", a->dir);
  unlink(a->router_ledger);
  if ((rc = write_router_cfg(s, a, path, err))) return rc;
  char *argv[] = {(char *)s->exe, "route", "--config", path, NULL};
  if ((rc = spawn(s->exe, argv, log, &a->router_pid, err))) return rc;
  return wait_router(a, log, deadline_s, err);
}

static size_t on_body(char *d, size_t sz, size_t n, void *u) {
  FILE *f = u;
  return fwrite(d, sz, n, f);
}

int eco_rp_arm_wait_ready(eco_rp_arm *a, double deadline_s, eco_error *err) {
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/admin/nodes", a->admin_port);
  for (;;) {
    char *buf = NULL;
    size_t len = 0;
    FILE *mf = open_memstream(&buf, &len);
    CURL *c = curl_easy_init();
    long code = 0;
    if (c && mf) {
      curl_easy_setopt(c, CURLOPT_URL, url);
      curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
      curl_easy_setopt(c, CURLOPT_WRITEDATA, mf);
      curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
      if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    }
    if (c) curl_easy_cleanup(c);
    if (mf) fclose(mf);
    json_t *j = code == 200 && buf ? json_loadb(buf, len, 0, NULL) : NULL;
    free(buf);
    size_t up = 0;
    json_t *nodes = json_object_get(j, "nodes");
    for (size_t i = 0; i < json_array_size(nodes); i++) {
      const char *h = json_string_value(json_object_get(json_array_get(nodes, i), "health"));
      up += h && strcmp(h, "up") == 0;
    }
    json_decref(j);
    if (up == (size_t)a->n_nodes) return 0;
    if (eco_time_wall_s() > deadline_s)
      return eco_error_set(err, ECO_ETIMEOUT, "the %s router sees %zu of %d nodes up in time",
                           a->name, up, a->n_nodes);
    eco_time_sleep_s(0.05);
  }
}

static void stop_pid(pid_t *pid) {
  if (*pid <= 0) return;
  kill(*pid, SIGTERM);
  for (int i = 0; i < 200; i++) { /* 10 s */
    if (waitpid(*pid, NULL, WNOHANG) == *pid) {
      *pid = 0;
      return;
    }
    eco_time_sleep_s(0.05);
  }
  kill(*pid, SIGKILL);
  waitpid(*pid, NULL, 0);
  *pid = 0;
}

void eco_rp_arm_stop(eco_rp_arm *a) {
  stop_pid(&a->router_pid);
  for (int i = 0; i < a->n_nodes; i++)
    stop_pid(&a->node_pid[i]);
}

int eco_rp_arm_read_ledgers(eco_rp_arm *a, eco_error *err) {
  a->ledger_g = a->ledger_energy_j = 0;
  a->ledger_rows = 0;
  for (int i = 0; i < a->n_nodes; i++) {
    eco_ledger_opts o = {.read_only = true};
    eco_ledger *l = NULL;
    eco_ledger_agg *agg = NULL;
    size_t n = 0;
    int rc = eco_ledger_open(a->ledger[i], &o, &l, err);
    if (!rc) rc = eco_ledger_aggregate(l, ECO_GROUP_TOTAL, 0, 0, &agg, &n, err);
    for (size_t k = 0; !rc && k < n; k++) {
      a->ledger_g += agg[k].total_g;
      a->ledger_energy_j += agg[k].energy_j;
      a->ledger_rows += agg[k].requests;
    }
    free(agg);
    eco_ledger_close(l);
    if (rc) return rc;
  }
  eco_ledger_opts o = {.read_only = true};
  eco_ledger *l = NULL;
  eco_ledger_levers lv = {0};
  int rc = eco_ledger_open(a->router_ledger, &o, &l, err);
  if (!rc) rc = eco_ledger_levers_sum(l, 0, 0, &lv, err);
  if (!rc) {
    a->router_rows = lv.requests;
    a->router_actual_g = lv.actual_g;
    a->router_baseline_g = lv.baseline_g;
    a->router_directive_g = lv.directive_g;
  }
  eco_ledger_close(l);
  return rc;
}
