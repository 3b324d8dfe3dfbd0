/* ecoinfer: the fallback power model for hosts without sensors.
 *
 *   P = tdp_w * (idle_fraction + (1 - idle_fraction) * u) + mem_w_per_gib * GiB
 *
 * u: CPU utilisation between two polls from /proc/stat (busy jiffies /
 * all jiffies of the aggregate "cpu" line). Energy over an interval is the
 * average power times its length. Labelled estimated. */
#include "energy/meter.h"
#include "energy/sysread.h"
#include "util/fs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Package TDP and hardware threads per package of some common server and
 * desktop CPUs (vendor specifications). A host that sees only some of a
 * package's threads (a VM) is charged TDP * logical / threads. */
static const struct {
  const char *match;
  double tdp_w;
  int threads;
} tdp_table[] = {
    {"EPYC 9654", 360, 192},    {"EPYC 9554", 360, 128},      {"EPYC 7763", 280, 128},
    {"EPYC 7742", 225, 128},    {"EPYC 7B13", 240, 128},      {"Platinum 8480", 350, 112},
    {"Platinum 8380", 270, 80}, {"Platinum 8272CL", 195, 52}, {"Platinum 8259CL", 210, 48},
    {"i9-13900K", 125, 32},     {"i7-12700", 65, 20},         {"Ryzen 9 7950X", 170, 32},
    {"Ryzen 7 5800X", 105, 16},
};

#define DEFAULT_W_PER_CPU     4.0   /* W per logical CPU at full load when the model is unknown */
#define DEFAULT_MEM_W_PER_GIB 0.392 /* W per GiB (Cloud Carbon Footprint's memory coefficient) */

void eco_model_params_default(eco_model_params *p) {
  memset(p, 0, sizeof *p);
  p->tdp_w = 0;
  p->idle_fraction = 0.0;
  p->mem_w_per_gib = DEFAULT_MEM_W_PER_GIB;
}

double eco_model_default_tdp(const char *cpu_model, int logical_cpus) {
  if (logical_cpus < 1) logical_cpus = 1;
  for (size_t i = 0; cpu_model && i < sizeof tdp_table / sizeof tdp_table[0]; i++)
    if (strstr(cpu_model, tdp_table[i].match))
      return tdp_table[i].tdp_w * (double)logical_cpus / (double)tdp_table[i].threads;
  return DEFAULT_W_PER_CPU * logical_cpus;
}

typedef struct model_meter {
  eco_meter base;
  char stat_path[512];
  double tdp_w, idle_fraction, mem_w;       /* W, 0..1, W */
  unsigned long long prev_busy, prev_total; /* jiffies */
  double prev_t;                            /* s */
  bool have_prev;
  double last_util; /* 0..1 */
} model_meter;

static int read_stat(const char *path, unsigned long long *busy, unsigned long long *total,
                     eco_error *err) {
  char line[512];
  int rc = eco_fs_read_line(path, line, sizeof line);
  if (rc) return eco_error_set(err, rc, "%s: cannot read: %s", path, eco_strerror(rc));
  unsigned long long v[8] = {0};
  int n = sscanf(line, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                 &v[4], &v[5], &v[6], &v[7]);
  if (n < 4) return eco_error_set(err, ECO_EFORMAT, "%s: unexpected '%.40s'", path, line);
  /* user nice system idle iowait irq softirq steal */
  *busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
  *total = *busy + v[3] + v[4];
  return ECO_OK;
}

static int model_poll(eco_meter *m, double now_s, double *delta_j, eco_error *err) {
  model_meter *mm = (model_meter *)m;
  unsigned long long busy = 0, total = 0;
  int rc = read_stat(mm->stat_path, &busy, &total, err);
  if (rc) return rc;
  *delta_j = 0;
  if (mm->have_prev && now_s > mm->prev_t) {
    double u = mm->last_util;
    if (total > mm->prev_total && busy >= mm->prev_busy)
      u = (double)(busy - mm->prev_busy) / (double)(total - mm->prev_total);
    if (u < 0) u = 0;
    if (u > 1) u = 1;
    mm->last_util = u;
    double p = mm->tdp_w * (mm->idle_fraction + (1 - mm->idle_fraction) * u) + mm->mem_w;
    *delta_j = p * (now_s - mm->prev_t);
  }
  mm->prev_busy = busy;
  mm->prev_total = total;
  mm->prev_t = now_s;
  mm->have_prev = true;
  return ECO_OK;
}

static void model_destroy(eco_meter *m) { free(m); }

static const eco_meter_vtbl model_vt = {
    .kind = "model", .poll = model_poll, .destroy = model_destroy};

/* CPU model name and logical CPU count from cpuinfo; 0 if unreadable. */
static int read_cpuinfo(const char *path, char *model, size_t cap) {
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  char line[512];
  int n = 0;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "processor", 9) == 0) n++;
    if (!model[0] && strncmp(line, "model name", 10) == 0) {
      const char *c = strchr(line, ':');
      if (c) {
        c++;
        while (*c == ' ' || *c == '\t')
          c++;
        snprintf(model, cap, "%s", c);
        model[strcspn(model, "\n")] = '\0';
      }
    }
  }
  fclose(f);
  return n;
}

static double read_mem_gib(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  char line[256];
  double gib = 0;
  while (fgets(line, sizeof line, f)) {
    unsigned long long kb;
    if (sscanf(line, "MemTotal: %llu kB", &kb) == 1) {
      gib = (double)kb / (1024.0 * 1024.0);
      break;
    }
  }
  fclose(f);
  return gib;
}

int eco_meter_model_open(const char *root, const eco_model_params *params, eco_meter **out,
                         eco_error *err) {
  if (!out) return eco_error_set(err, ECO_EINVAL, "model: out is NULL");
  *out = NULL;
  eco_model_params p;
  if (params)
    p = *params;
  else
    eco_model_params_default(&p);
  if (!isfinite(p.tdp_w) || !isfinite(p.idle_fraction) || !isfinite(p.mem_w_per_gib) ||
      p.idle_fraction < 0 || p.idle_fraction > 1 || p.mem_w_per_gib < 0 || p.tdp_w < 0)
    return eco_error_set(err, ECO_EINVAL,
                         "model: tdp_w, idle_fraction (0..1) or mem_w_per_gib "
                         "out of range");
  const char *r0 = eco_energy_root(root);
  model_meter *mm = calloc(1, sizeof *mm);
  if (!mm) return eco_error_set(err, ECO_ENOMEM, "model: out of memory");
  snprintf(mm->stat_path, sizeof mm->stat_path, "%s/proc/stat", r0);
  unsigned long long b = 0, t = 0;
  int rc = read_stat(mm->stat_path, &b, &t, err);
  if (rc) {
    free(mm);
    return rc;
  }
  char path[600], model[160] = "";
  snprintf(path, sizeof path, "%s/proc/cpuinfo", r0);
  int ncpu = read_cpuinfo(path, model, sizeof model);
  if (p.cpu_model) snprintf(model, sizeof model, "%s", p.cpu_model);
  mm->tdp_w = p.tdp_w > 0 ? p.tdp_w : eco_model_default_tdp(model, ncpu);
  mm->idle_fraction = p.idle_fraction;
  snprintf(path, sizeof path, "%s/proc/meminfo", r0);
  mm->mem_w = p.mem_w_per_gib * read_mem_gib(path);
  char detail[96];
  snprintf(detail, sizeof detail, "TDP %.1f W x util + mem %.1f W", mm->tdp_w, mm->mem_w);
  rc = eco_meter_init_base(&mm->base, &model_vt, "model", detail, true);
  if (rc) {
    free(mm);
    return eco_error_set(err, rc, "model: init failed");
  }
  *out = &mm->base;
  return ECO_OK;
}
