/* ecoinfer: NVIDIA GPU meter through NVML, loaded with dlopen at run time
 * (no build dependency). The function table can be a fake (tests). */
#include "energy/meter.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NVML_SUCCESS 0

typedef struct nvml_meter {
  eco_meter base;
  eco_nvml_api api;
  void *dev;
  bool counter;               /* total-energy counter available */
  unsigned long long last_mj; /* counter mode: previous reading, mJ */
  double prev_w, prev_t;      /* power mode: previous power (W) and time (s) */
  bool have_prev;
} nvml_meter;

static const char *nvml_err(const eco_nvml_api *api, int rc) {
  if (api->error_string) {
    const char *s = api->error_string(rc);
    if (s) return s;
  }
  return "NVML error";
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
    return ECO_OK;
  }
  unsigned mw = 0;
  int rc = n->api.device_get_power_usage(n->dev, &mw);
  if (rc != NVML_SUCCESS)
    return eco_error_set(err, ECO_EIO, "nvml: power usage: %s (%d)", nvml_err(&n->api, rc), rc);
  double w = (double)mw * 1e-3;
  if (n->have_prev && now_s > n->prev_t) *delta_j = 0.5 * (w + n->prev_w) * (now_s - n->prev_t);
  n->prev_w = w;
  n->prev_t = now_s;
  n->have_prev = true;
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
  LOAD(device_get_total_energy, "nvmlDeviceGetTotalEnergyConsumption");
  LOAD(error_string, "nvmlErrorString");
#undef LOAD
  api->lib = h;
  return ECO_OK;
}

void eco_nvml_unload(eco_nvml_api *api) {
  if (api && api->lib) dlclose(api->lib);
  if (api) api->lib = NULL;
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
  snprintf(detail, sizeof detail, "GPU %u%s%s %s", index, gpu[0] ? " " : "", gpu,
           n->counter ? "total-energy" : "power");
  if (eco_meter_init_base(&n->base, &nvml_vt, "nvml", detail, false)) {
    eco_error_set(err, ECO_EINTERNAL, "nvml: init failed");
    goto fail;
  }
  *out = &n->base;
  return ECO_OK;
fail:
  if (n->api.shutdown) n->api.shutdown();
  free(n);
  return err ? err->code : ECO_EIO;
}
