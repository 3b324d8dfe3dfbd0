/* A fake libnvidia-ml.so.1 for tests: NVML's documented C API (nvml.h), with
 * the real symbol names, signatures, struct layouts and return codes, built
 * by the test build as a shared library and loaded by ecoinfer with dlopen
 * exactly as the real one is (eco_nvml_load, LD_LIBRARY_PATH).
 *
 * Its GPUs are described by a text file named by ECO_FAKE_NVML, re-read at
 * every call so that a test can change them between polls:
 *   count=2                        GPUs (default 0)
 *   init_rc=0                      what nvmlInit_v2 returns
 *   0.name=NVIDIA RTX 2000 Ada Generation
 *   0.energy_mj=1000               total-energy counter (absent: NOT_SUPPORTED)
 *   0.power_mw=70000               power (absent: NOT_SUPPORTED)
 *   0.procs=1234:1073741824,77:-   compute processes pid:usedGpuMemory ('-' = N/A)
 *   0.util=1234:80:1000001,...     utilization samples pid:smUtil:timeStamp(us)
 *                                  (absent: NOT_SUPPORTED)
 *   0.accounting=1                 accounting mode
 *   0.acct=1234:75:3000,...        accounting stats pid:gpuUtilization:time(ms)
 * Calls before nvmlInit_v2 answer NVML_ERROR_UNINITIALIZED, as NVML does. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum nvmlReturn_enum {
  NVML_SUCCESS = 0,
  NVML_ERROR_UNINITIALIZED = 1,
  NVML_ERROR_INVALID_ARGUMENT = 2,
  NVML_ERROR_NOT_SUPPORTED = 3,
  NVML_ERROR_NOT_FOUND = 6,
  NVML_ERROR_INSUFFICIENT_SIZE = 7,
  NVML_ERROR_UNKNOWN = 999,
} nvmlReturn_t;

typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct nvmlProcessInfo_st {
  unsigned int pid;
  unsigned long long usedGpuMemory;
  unsigned int gpuInstanceId;
  unsigned int computeInstanceId;
} nvmlProcessInfo_t;
typedef struct nvmlProcessUtilizationSample_st {
  unsigned int pid;
  unsigned long long timeStamp;
  unsigned int smUtil;
  unsigned int memUtil;
  unsigned int encUtil;
  unsigned int decUtil;
} nvmlProcessUtilizationSample_t;
typedef struct nvmlAccountingStats_st {
  unsigned int gpuUtilization;
  unsigned int memoryUtilization;
  unsigned long long maxMemoryUsage;
  unsigned long long time;
  unsigned long long startTime;
  unsigned int isRunning;
  unsigned int reserved[5];
} nvmlAccountingStats_t;
typedef enum nvmlEnableState_enum {
  NVML_FEATURE_DISABLED = 0,
  NVML_FEATURE_ENABLED = 1
} nvmlEnableState_t;

#define MAX_GPUS 8
/* Device handles point into this table; NVML's handles are opaque too. */
static struct nvmlDevice_st {
  unsigned index;
} devices[MAX_GPUS] = {{0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}};
static int init_count; /* NVML reference-counts nvmlInit/nvmlShutdown */

/* The value of key in the state file into buf; 0 if found. */
static int get(const char *key, char *buf, size_t cap) {
  const char *path = getenv("ECO_FAKE_NVML");
  FILE *f = path ? fopen(path, "r") : NULL;
  if (!f) return -1;
  char line[4096];
  size_t kl = strlen(key);
  int rc = -1;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, key, kl) != 0 || line[kl] != '=') continue;
    char *v = line + kl + 1;
    v[strcspn(v, "\r\n")] = '\0';
    snprintf(buf, cap, "%s", v);
    rc = 0;
    break;
  }
  fclose(f);
  return rc;
}

static int dev_get(nvmlDevice_t d, const char *key, char *buf, size_t cap) {
  char k[64];
  snprintf(k, sizeof k, "%u.%s", d->index, key);
  return get(k, buf, cap);
}

static nvmlReturn_t check(nvmlDevice_t d) {
  if (init_count <= 0) return NVML_ERROR_UNINITIALIZED;
  if (!d || d < devices || d >= devices + MAX_GPUS) return NVML_ERROR_INVALID_ARGUMENT;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlInit_v2(void) {
  char v[32];
  int rc = get("init_rc", v, sizeof v) == 0 ? atoi(v) : 0;
  if (rc == 0) init_count++;
  return (nvmlReturn_t)rc;
}

nvmlReturn_t nvmlShutdown(void) {
  if (init_count <= 0) return NVML_ERROR_UNINITIALIZED;
  init_count--;
  return NVML_SUCCESS;
}

const char *nvmlErrorString(nvmlReturn_t result) {
  switch (result) {
  case NVML_SUCCESS: return "Success";
  case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
  case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
  case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
  case NVML_ERROR_NOT_FOUND: return "Not Found";
  case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
  default: return "Unknown Error";
  }
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount) {
  if (init_count <= 0) return NVML_ERROR_UNINITIALIZED;
  if (!deviceCount) return NVML_ERROR_INVALID_ARGUMENT;
  char v[32];
  unsigned n = get("count", v, sizeof v) == 0 ? (unsigned)atoi(v) : 0;
  *deviceCount = n > MAX_GPUS ? MAX_GPUS : n;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
  if (init_count <= 0) return NVML_ERROR_UNINITIALIZED;
  unsigned n = 0;
  nvmlDeviceGetCount_v2(&n);
  if (!device || index >= n) return NVML_ERROR_INVALID_ARGUMENT;
  *device = &devices[index];
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length) {
  nvmlReturn_t rc = check(device);
  if (rc) return rc;
  char v[256];
  if (dev_get(device, "name", v, sizeof v)) snprintf(v, sizeof v, "Fake GPU");
  if (!name || strlen(v) + 1 > length) return NVML_ERROR_INSUFFICIENT_SIZE;
  snprintf(name, length, "%s", v);
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length) {
  nvmlReturn_t rc = check(device);
  if (rc) return rc;
  if (!uuid || length < 41) return NVML_ERROR_INSUFFICIENT_SIZE;
  snprintf(uuid, length, "GPU-00000000-0000-0000-0000-00000000000%u", device->index);
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device, unsigned long long *energy) {
  nvmlReturn_t rc = check(device);
  if (rc) return rc;
  char v[64];
  if (dev_get(device, "energy_mj", v, sizeof v)) return NVML_ERROR_NOT_SUPPORTED;
  if (!energy) return NVML_ERROR_INVALID_ARGUMENT;
  *energy = strtoull(v, NULL, 10);
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power) {
  nvmlReturn_t rc = check(device);
  if (rc) return rc;
  char v[64];
  if (dev_get(device, "power_mw", v, sizeof v)) return NVML_ERROR_NOT_SUPPORTED;
  if (!power) return NVML_ERROR_INVALID_ARGUMENT;
  *power = (unsigned)strtoul(v, NULL, 10);
  return NVML_SUCCESS;
}

/* Splits "a:b:c,d:e:f" into up to max records of up to 3 fields. */
static unsigned records(const char *v, char f[][3][32], unsigned max) {
  unsigned n = 0;
  const char *p = v;
  while (*p && n < max) {
    size_t rl = strcspn(p, ",");
    unsigned k = 0;
    const char *q = p;
    memset(f[n], 0, sizeof f[n]);
    while (q < p + rl && k < 3) {
      size_t fl = strcspn(q, ":,");
      if (q + fl > p + rl) fl = (size_t)(p + rl - q);
      snprintf(f[n][k++], 32, "%.*s", (int)fl, q);
      q += fl;
      if (*q == ':') q++;
    }
    n++;
    p += rl;
    if (*p == ',') p++;
  }
  return n;
}

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int *infoCount,
                                                     nvmlProcessInfo_t *infos) {
  nvmlReturn_t rc = check(device);
  if (rc) return rc;
  if (!infoCount) return NVML_ERROR_INVALID_ARGUMENT;
  char v[2048] = "";
  dev_get(device, "procs", v, sizeof v);
  char f[64][3][32];
  unsigned n = records(v, f, 64);
  if (*infoCount < n || (!infos && n)) {
    *infoCount = n;
    return NVML_ERROR_INSUFFICIENT_SIZE;
  }
  for (unsigned i = 0; i < n; i++) {
    memset(&infos[i], 0, sizeof infos[i]);
    infos[i].pid = (unsigned)strtoul(f[i][0], NULL, 10);
    infos[i].usedGpuMemory = f[i][1][0] == '-' ? ULLONG_MAX : strtoull(f[i][1], NULL, 10);
  }
  *infoCount = n;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetProcessUtilization(nvmlDevice_t device,
                                             nvmlProcessUtilizationSample_t *utilization,
                                             unsigned int *processSamplesCount,
                                             unsigned long long lastSeenTimeStamp) {
  nvmlReturn_t rc = check(device);
  if (rc) return rc;
  if (!processSamplesCount) return NVML_ERROR_INVALID_ARGUMENT;
  char v[2048];
  if (dev_get(device, "util", v, sizeof v)) return NVML_ERROR_NOT_SUPPORTED;
  char f[64][3][32];
  unsigned all = records(v, f, 64), n = 0;
  nvmlProcessUtilizationSample_t s[64];
  for (unsigned i = 0; i < all; i++) {
    unsigned long long ts = strtoull(f[i][2], NULL, 10);
    if (ts <= lastSeenTimeStamp) continue;
    memset(&s[n], 0, sizeof s[n]);
    s[n].pid = (unsigned)strtoul(f[i][0], NULL, 10);
    s[n].smUtil = (unsigned)strtoul(f[i][1], NULL, 10);
    s[n].timeStamp = ts;
    n++;
  }
  if (!utilization) {
    *processSamplesCount = n;
    return NVML_ERROR_INSUFFICIENT_SIZE;
  }
  if (n == 0) return NVML_ERROR_NOT_FOUND; /* nothing newer than lastSeenTimeStamp */
  if (*processSamplesCount < n) {
    *processSamplesCount = n;
    return NVML_ERROR_INSUFFICIENT_SIZE;
  }
  memcpy(utilization, s, n * sizeof s[0]);
  *processSamplesCount = n;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetAccountingMode(nvmlDevice_t device, nvmlEnableState_t *mode) {
  nvmlReturn_t rc = check(device);
  if (rc) return rc;
  char v[16];
  if (!mode) return NVML_ERROR_INVALID_ARGUMENT;
  *mode = dev_get(device, "accounting", v, sizeof v) == 0 && atoi(v) ? NVML_FEATURE_ENABLED
                                                                     : NVML_FEATURE_DISABLED;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetAccountingPids(nvmlDevice_t device, unsigned int *count,
                                         unsigned int *pids) {
  nvmlReturn_t rc = check(device);
  if (rc) return rc;
  char v[2048] = "";
  dev_get(device, "acct", v, sizeof v);
  char f[64][3][32];
  unsigned n = records(v, f, 64);
  if (!count) return NVML_ERROR_INVALID_ARGUMENT;
  if (*count < n || !pids) {
    *count = n;
    return NVML_ERROR_INSUFFICIENT_SIZE;
  }
  for (unsigned i = 0; i < n; i++)
    pids[i] = (unsigned)strtoul(f[i][0], NULL, 10);
  *count = n;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetAccountingStats(nvmlDevice_t device, unsigned int pid,
                                          nvmlAccountingStats_t *stats) {
  nvmlReturn_t rc = check(device);
  if (rc) return rc;
  char v[2048] = "";
  dev_get(device, "acct", v, sizeof v);
  char f[64][3][32];
  unsigned n = records(v, f, 64);
  if (!stats) return NVML_ERROR_INVALID_ARGUMENT;
  for (unsigned i = 0; i < n; i++) {
    if ((unsigned)strtoul(f[i][0], NULL, 10) != pid) continue;
    memset(stats, 0, sizeof *stats);
    stats->gpuUtilization = (unsigned)strtoul(f[i][1], NULL, 10);
    stats->time = strtoull(f[i][2], NULL, 10);
    stats->isRunning = 1;
    return NVML_SUCCESS;
  }
  return NVML_ERROR_NOT_FOUND;
}
