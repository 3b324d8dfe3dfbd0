/* ecoinfer: NVIDIA GPU meter through NVML, loaded with dlopen at run time
 * (no build dependency). The function table can be a fake (tests), and the
 * tests also load a fake libnvidia-ml.so.1 with NVML's ABI through
 * eco_nvml_load, as production does.
 *
 * Per process, where the GPU allows it: the compute processes and their
 * memory (nvmlDeviceGetComputeRunningProcesses), their SM utilisation
 * samples (nvmlDeviceGetProcessUtilization), by which each poll's device
 * energy is split among them (an estimate: NVML has no per-process energy),
 * and the accounting statistics when accounting mode is on. */
#include "energy/meter.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NVML_SUCCESS                 0
#define NVML_ERROR_NOT_FOUND         6
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_MAX_PROCS               64
#define NVML_MAX_SAMPLES             256

typedef struct nvml_proc {
  unsigned pid;
  double mem_b;    /* B, < 0 unknown */
  double sm_pct;   /* last interval's mean SM utilisation, %, < 0 unknown */
  double joules;   /* J attributed since first seen, < 0 = never sampled */
  double acct_pct; /* accounting mean GPU utilisation, %, < 0 = off */
  double acct_s;   /* accounting active time, s */
  bool listed;     /* in the running-process list at the last poll */
} nvml_proc;

typedef struct nvml_meter {
  eco_meter base;
  eco_nvml_api api;
  void *dev;
  bool counter;               /* total-energy counter available */
  unsigned long long last_mj; /* counter mode: previous reading, mJ */
  double prev_w, prev_t;      /* power mode: previous power (W) and time (s) */
  bool have_prev;
  /* per process (guarded by base.mu, like every poll) */
  nvml_proc procs[NVML_MAX_PROCS];
  size_t n_procs;
  unsigned long long last_sample_us; /* newest utilisation sample seen, µs */
  bool util_ok, procs_ok, acct_ok;   /* what this GPU answered */
  char support[48];
} nvml_meter;

static const char *nvml_err(const eco_nvml_api *api, int rc) {
  if (api->error_string) {
    const char *s = api->error_string(rc);
    if (s) return s;
  }
  return "NVML error";
}

static nvml_proc *proc_get(nvml_meter *n, unsigned pid) {
  for (size_t i = 0; i < n->n_procs; i++)
    if (n->procs[i].pid == pid) return &n->procs[i];
  if (n->n_procs >= NVML_MAX_PROCS) return NULL;
  nvml_proc *p = &n->procs[n->n_procs++];
  *p = (nvml_proc){.pid = pid, .mem_b = -1, .sm_pct = -1, .joules = -1, .acct_pct = -1};
  return p;
}

/* The running compute processes and their memory. */
static void procs_list(nvml_meter *n) {
  n->procs_ok = false;
  if (!n->api.device_get_compute_procs) return;
  eco_nvml_process_info v2[NVML_MAX_PROCS];
  eco_nvml_process_info_v1 v1[NVML_MAX_PROCS];
  unsigned cnt = NVML_MAX_PROCS;
  int rc = n->api.device_get_compute_procs(n->dev, &cnt, n->api.procs_v1 ? (void *)v1 : (void *)v2);
  if (rc != NVML_SUCCESS || cnt > NVML_MAX_PROCS) return;
  n->procs_ok = true;
  for (unsigned i = 0; i < cnt; i++) {
    unsigned pid = n->api.procs_v1 ? v1[i].pid : v2[i].pid;
    unsigned long long mem = n->api.procs_v1 ? v1[i].used_gpu_memory : v2[i].used_gpu_memory;
    nvml_proc *p = proc_get(n, pid);
    if (!p) break;
    p->listed = true;
    p->mem_b = mem == ULLONG_MAX ? -1 : (double)mem;
  }
}

/* Splits delta_j among the processes by their SM utilisation samples
 * since the previous poll. Energy of intervals without samples (an idle
 * GPU) goes to no process. */
static void procs_util(nvml_meter *n, double delta_j) {
  n->util_ok = false;
  if (!n->api.device_get_process_utilization) return;
  eco_nvml_util_sample s[NVML_MAX_SAMPLES];
  unsigned cnt = NVML_MAX_SAMPLES;
  int rc = n->api.device_get_process_utilization(n->dev, s, &cnt, n->last_sample_us);
  if (rc == NVML_ERROR_NOT_FOUND)
    cnt = 0; /* no sample newer than last_seen */
  else if (rc != NVML_SUCCESS || cnt > NVML_MAX_SAMPLES)
    return;
  n->util_ok = true;
  double sum[NVML_MAX_PROCS] = {0}, total = 0;
  unsigned ns[NVML_MAX_PROCS] = {0};
  for (unsigned i = 0; i < cnt; i++) {
    if (s[i].time_stamp <= n->last_sample_us && n->last_sample_us) continue;
    nvml_proc *p = proc_get(n, s[i].pid);
    if (!p) continue;
    size_t k = (size_t)(p - n->procs);
    double u = s[i].sm_util > 100 ? 100 : (double)s[i].sm_util;
    sum[k] += u;
    ns[k]++;
    total += u;
  }
  for (unsigned i = 0; i < cnt; i++)
    if (s[i].time_stamp > n->last_sample_us) n->last_sample_us = s[i].time_stamp;
  for (size_t k = 0; k < n->n_procs; k++) {
    nvml_proc *p = &n->procs[k];
    p->sm_pct = ns[k] ? sum[k] / ns[k] : 0;
    if (p->joules < 0) p->joules = 0;
    if (total > 0 && delta_j > 0) p->joules += delta_j * sum[k] / total;
  }
}

static void procs_accounting(nvml_meter *n) {
  n->acct_ok = false;
  int mode = 0;
  if (!n->api.device_get_accounting_mode || !n->api.device_get_accounting_stats ||
      n->api.device_get_accounting_mode(n->dev, &mode) != NVML_SUCCESS || mode != 1)
    return;
  n->acct_ok = true;
  for (size_t k = 0; k < n->n_procs; k++) {
    eco_nvml_accounting_stats st;
    memset(&st, 0, sizeof st);
    if (n->api.device_get_accounting_stats(n->dev, n->procs[k].pid, &st) != NVML_SUCCESS) continue;
    n->procs[k].acct_pct = st.gpu_utilization > 100 ? 100 : (double)st.gpu_utilization;
    n->procs[k].acct_s = (double)st.time * 1e-3;
  }
}

static void procs_update(nvml_meter *n, double delta_j) {
  for (size_t k = 0; k < n->n_procs; k++)
    n->procs[k].listed = false;
  procs_list(n);
  procs_util(n, delta_j);
  /* processes that left: gone from the list (when there is one) */
  if (n->procs_ok) {
    size_t w = 0;
    for (size_t k = 0; k < n->n_procs; k++)
      if (n->procs[k].listed) n->procs[w++] = n->procs[k];
    n->n_procs = w;
  }
  procs_accounting(n);
  snprintf(n->support, sizeof n->support, "%s%s%s%s%s", n->util_ok ? "utilization" : "",
           n->util_ok && n->acct_ok ? "+" : "", n->acct_ok ? "accounting" : "",
           (n->util_ok || n->acct_ok) && n->procs_ok ? "+" : "", n->procs_ok ? "memory" : "");
  if (!n->support[0]) snprintf(n->support, sizeof n->support, "none");
}

static int nvml_poll(eco_meter *m, double now_s, double *delta_j, eco_error *err) {
  nvml_meter *n = (nvml_meter *)m;
  *delta_j = 0;
  if (n->counter) {
    unsigned long long mj = 0;
    int rc = n->api.device_get_total_energy(n->dev, &mj);
    if (rc != NVML_SUCCESS)
      return eco_error_set(err, ECO_EIO, "nvml: total energy: %s (%d)", nvml_err(&n->api, rc), rc);
    /* The counter restarts when the driver reloads: drop that interval. */
    if (mj >= n->last_mj) *delta_j = (double)(mj - n->last_mj) * 1e-3;
    n->last_mj = mj;
  } else {
    unsigned mw = 0;
    int rc = n->api.device_get_power_usage(n->dev, &mw);
    if (rc != NVML_SUCCESS)
      return eco_error_set(err, ECO_EIO, "nvml: power usage: %s (%d)", nvml_err(&n->api, rc), rc);
    double w = (double)mw * 1e-3;
    if (n->have_prev && now_s > n->prev_t) *delta_j = 0.5 * (w + n->prev_w) * (now_s - n->prev_t);
    n->prev_w = w;
    n->prev_t = now_s;
    n->have_prev = true;
  }
  procs_update(n, *delta_j);
  return ECO_OK;
}

static void nvml_destroy(eco_meter *m) {
  nvml_meter *n = (nvml_meter *)m;
  if (n->api.shutdown) n->api.shutdown();
  eco_nvml_unload(&n->api);
  free(n);
}

static const eco_meter_vtbl nvml_vt = {.kind = "nvml", .poll = nvml_poll, .destroy = nvml_destroy};

static void *sym(void *lib, const char *name, bool *ok) {
  void *p = dlsym(lib, name);
  if (!p) *ok = false;
  return p;
}

int eco_nvml_load(const char *lib, eco_nvml_api *api, eco_error *err) {
  if (!api) return eco_error_set(err, ECO_EINVAL, "nvml: api is NULL");
  memset(api, 0, sizeof *api);
  const char *name = lib && *lib ? lib : "libnvidia-ml.so.1";
  void *h = dlopen(name, RTLD_LAZY | RTLD_LOCAL);
  if (!h) return eco_error_set(err, ECO_ENOENT, "nvml: cannot load %s: %s", name, dlerror());
  bool ok = true;
  void *p;
  /* POSIX guarantees that dlsym's void * converts to a function pointer;
   * memcpy avoids the ISO C object-to-function-pointer cast. */
#define LOAD(field, symbol)                                                                        \
  p = sym(h, symbol, &ok);                                                                         \
  memcpy(&api->field, &p, sizeof p)
  LOAD(init, "nvmlInit_v2");
  LOAD(shutdown, "nvmlShutdown");
  LOAD(device_get_count, "nvmlDeviceGetCount_v2");
  LOAD(device_get_handle_by_index, "nvmlDeviceGetHandleByIndex_v2");
  LOAD(device_get_power_usage, "nvmlDeviceGetPowerUsage");
  if (!ok) {
    dlclose(h);
    memset(api, 0, sizeof *api);
    return eco_error_set(err, ECO_EUNSUPPORTED, "nvml: %s lacks required symbols", name);
  }
  /* optional: absent ones stay NULL */
  LOAD(device_get_name, "nvmlDeviceGetName");
  LOAD(device_get_uuid, "nvmlDeviceGetUUID");
  LOAD(device_get_total_energy, "nvmlDeviceGetTotalEnergyConsumption");
  LOAD(error_string, "nvmlErrorString");
  LOAD(device_get_compute_procs, "nvmlDeviceGetComputeRunningProcesses_v3");
  if (!api->device_get_compute_procs) {
    LOAD(device_get_compute_procs, "nvmlDeviceGetComputeRunningProcesses_v2");
  }
  if (!api->device_get_compute_procs) {
    LOAD(device_get_compute_procs, "nvmlDeviceGetComputeRunningProcesses");
    api->procs_v1 = api->device_get_compute_procs != NULL;
  }
  LOAD(device_get_process_utilization, "nvmlDeviceGetProcessUtilization");
  LOAD(device_get_accounting_mode, "nvmlDeviceGetAccountingMode");
  LOAD(device_get_accounting_pids, "nvmlDeviceGetAccountingPids");
  LOAD(device_get_accounting_stats, "nvmlDeviceGetAccountingStats");
#undef LOAD
  api->lib = h;
  return ECO_OK;
}

void eco_nvml_unload(eco_nvml_api *api) {
  if (api && api->lib) dlclose(api->lib);
  if (api) api->lib = NULL;
}

int eco_nvml_device_count(const eco_nvml_api *api, unsigned *count, eco_error *err) {
  if (!api || !count || !api->init || !api->device_get_count)
    return eco_error_set(err, ECO_EINVAL, "nvml: incomplete function table");
  *count = 0;
  int rc = api->init();
  if (rc != NVML_SUCCESS)
    return eco_error_set(err, ECO_EIO, "nvml: init: %s (%d)", nvml_err(api, rc), rc);
  rc = api->device_get_count(count);
  if (api->shutdown) api->shutdown();
  if (rc != NVML_SUCCESS)
    return eco_error_set(err, ECO_EIO, "nvml: device count: %s (%d)", nvml_err(api, rc), rc);
  return ECO_OK;
}

int eco_meter_nvml_open(const eco_nvml_api *api, unsigned index, eco_meter **out, eco_error *err) {
  if (!api || !out || !api->init || !api->device_get_handle_by_index ||
      !api->device_get_power_usage)
    return eco_error_set(err, ECO_EINVAL, "nvml: incomplete function table");
  *out = NULL;
  nvml_meter *n = calloc(1, sizeof *n);
  if (!n) return eco_error_set(err, ECO_ENOMEM, "nvml: out of memory");
  n->api = *api;
  int rc = n->api.init();
  if (rc != NVML_SUCCESS) {
    eco_error_set(err, ECO_EIO, "nvml: init: %s (%d)", nvml_err(api, rc), rc);
    free(n);
    return ECO_EIO;
  }
  rc = n->api.device_get_handle_by_index(index, &n->dev);
  if (rc != NVML_SUCCESS) {
    eco_error_set(err, ECO_ENOENT, "nvml: GPU %u: %s (%d)", index, nvml_err(api, rc), rc);
    goto fail;
  }
  char gpu[64] = "";
  if (n->api.device_get_name && n->api.device_get_name(n->dev, gpu, sizeof gpu) != NVML_SUCCESS)
    gpu[0] = '\0';
  gpu[sizeof gpu - 1] = '\0';
  n->counter = n->api.device_get_total_energy &&
               n->api.device_get_total_energy(n->dev, &n->last_mj) == NVML_SUCCESS;
  if (!n->counter) {
    unsigned mw;
    rc = n->api.device_get_power_usage(n->dev, &mw);
    if (rc != NVML_SUCCESS) {
      eco_error_set(err, ECO_EUNSUPPORTED,
                    "nvml: GPU %u: no energy counter and no power reading: "
                    "%s (%d)",
                    index, nvml_err(api, rc), rc);
      goto fail;
    }
  }
  char detail[96];
  snprintf(detail, sizeof detail, "GPU %u%s%.60s %s", index, gpu[0] ? " " : "", gpu,
           n->counter ? "total-energy" : "power");
  if (eco_meter_init_base(&n->base, &nvml_vt, "nvml", detail, false)) {
    eco_error_set(err, ECO_EINTERNAL, "nvml: init failed");
    goto fail;
  }
  snprintf(n->support, sizeof n->support, "none");
  *out = &n->base;
  return ECO_OK;
fail:
  if (n->api.shutdown) n->api.shutdown();
  free(n);
  return err ? err->code : ECO_EIO;
}

int eco_meter_nvml_processes(eco_meter *m, eco_gpu_process *out, size_t cap, size_t *n) {
  if (!m || !n || (cap && !out) || strcmp(m->vt->kind, "nvml") != 0) return ECO_EINVAL;
  nvml_meter *g = (nvml_meter *)m;
  pthread_mutex_lock(&m->mu);
  *n = g->n_procs;
  for (size_t i = 0; i < g->n_procs && i < cap; i++) {
    const nvml_proc *p = &g->procs[i];
    out[i] = (eco_gpu_process){.pid = p->pid,
                               .used_memory_bytes = p->mem_b,
                               .sm_util_pct = g->util_ok ? p->sm_pct : -1,
                               .joules = p->joules,
                               .acct_gpu_util_pct = g->acct_ok ? p->acct_pct : -1,
                               .acct_active_s = g->acct_ok ? p->acct_s : 0};
  }
  pthread_mutex_unlock(&m->mu);
  return ECO_OK;
}

void eco_meter_nvml_process_support(eco_meter *m, char *buf, size_t cap) {
  if (!buf || !cap) return;
  if (!m || strcmp(m->vt->kind, "nvml") != 0) {
    snprintf(buf, cap, "none");
    return;
  }
  pthread_mutex_lock(&m->mu);
  snprintf(buf, cap, "%s", ((nvml_meter *)m)->support);
  pthread_mutex_unlock(&m->mu);
}
