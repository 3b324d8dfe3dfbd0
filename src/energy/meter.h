/* ecoinfer: energy meters behind one interface.
 *
 * An eco_meter is one device's monotonically increasing energy counter, in
 * joules since the meter was opened. Backends:
 *   rapl     Linux powercap (Intel and AMD): package, dram or psys domains;
 *            wraparound handled with max_energy_range_uj
 *   hwmon    energy*_input (µJ counters) or power*_input (µW, integrated)
 *   ina3221  Jetson rails: VDD_IN is the total, other rails the breakdown
 *   nvml     NVIDIA GPUs via dlopen("libnvidia-ml.so.1"): total energy
 *            counter where supported, else integrated power
 *   model    no sensor: TDP x CPU utilisation (/proc/stat) + memory power,
 *            labelled estimated
 * Every backend takes a root path ("/" normally) so tests run on fake
 * sysfs/procfs trees.
 *
 * Sampling: eco_meter_poll() reads the hardware once and adds the energy
 * since the previous poll (handling wraparound, or integrating power with
 * the trapezoid rule). eco_meter_start() runs polls on a background thread
 * (needed so counters that wrap within minutes, and power sensors, are
 * sampled often enough); eco_meter_read() polls once more and returns the
 * total. All calls are thread-safe. */
#ifndef ECO_ENERGY_METER_H
#define ECO_ENERGY_METER_H

#include "util/status.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/* Where a reading came from. name matches eco_receipt.energy_source. */
typedef struct eco_energy_source {
  char name[32];   /* "rapl", "hwmon", "ina3221", "nvml", "model" */
  char detail[96]; /* domains or sensor: "package-0+dram", "GPU 0 total-energy", "VDD_IN" */
  bool estimated;  /* false only for hardware energy/power sensors */
} eco_energy_source;

typedef struct eco_meter eco_meter;

typedef struct eco_meter_vtbl {
  const char *kind;
  /* Reads the hardware at time now_s (monotonic s) and returns in *delta_j
   * the energy since the previous call (0 on the first call). */
  int (*poll)(eco_meter *m, double now_s, double *delta_j, eco_error *err);
  void (*destroy)(eco_meter *m);
} eco_meter_vtbl;

/* Base of every meter; backends embed it as their first member. */
struct eco_meter {
  const eco_meter_vtbl *vt;
  eco_energy_source src;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  double total_j;     /* J since open, guarded by mu */
  size_t n_polls;     /* successful polls, guarded by mu */
  size_t n_errors;    /* failed polls, guarded by mu */
  int last_error;     /* eco_status of the latest failed poll, 0 if none */
  char last_msg[256]; /* its message */
  pthread_t thread;
  bool running; /* background thread started */
  bool stop;    /* asks the thread to exit */
  double interval_s;
};

/* Initialises the base part (backends call this). */
int eco_meter_init_base(eco_meter *m, const eco_meter_vtbl *vt, const char *source,
                        const char *detail, bool estimated);

/* One poll at the monotonic clock's now. */
int eco_meter_poll(eco_meter *m, eco_error *err);
/* One poll as if the time were now_s (tests drive power integration). */
int eco_meter_poll_at(eco_meter *m, double now_s, eco_error *err);
/* Polls once, then returns the total in J since open and its source. */
int eco_meter_read(eco_meter *m, double *joules, eco_energy_source *src);
/* The total without polling (what the background thread has seen). */
double eco_meter_total(eco_meter *m);

/* Background sampling every interval_s (> 0). Idempotent. */
int eco_meter_start(eco_meter *m, double interval_s);
void eco_meter_stop(eco_meter *m);
/* Stops the thread and frees. NULL is a no-op. */
void eco_meter_free(eco_meter *m);

/* ---- RAPL ----------------------------------------------------------------
 * domains: comma-separated domain names to sum, e.g. "package,dram" (a
 * name matches every domain whose name starts with it: "package" matches
 * package-0 and package-1), or "psys". NULL = "package,dram". Subdomains
 * core/uncore are never summed with their package (double counting). */
int eco_meter_rapl_open(const char *root, const char *domains, eco_meter **out, eco_error *err);

/* ---- hwmon ----------------------------------------------------------------
 * chip: the hwmon 'name' (e.g. "amdgpu", "zenpower"); NULL = the first
 * chip that has an energy or power sensor. Prefers energy*_input (µJ
 * counter) over power*_input / power*_average (µW, integrated). */
int eco_meter_hwmon_open(const char *root, const char *chip, eco_meter **out, eco_error *err);

/* ---- Jetson INA3221 -------------------------------------------------------
 * Finds rails by globbing in*_label under every hwmon chip named
 * "ina3221*" (mainline driver: in<N>_input mV, curr<N>_input mA) and the
 * older L4T layout (iio:device*: rail_name_<N>, in_power<N>_input mW). The
 * total is rail total_rail (default "VDD_IN", else "POM_5V_IN"); if absent,
 * the sum of all rails (AGX Orin has no input rail). */
int eco_meter_ina3221_open(const char *root, const char *total_rail, eco_meter **out,
                           eco_error *err);
/* Per-rail energy since open (the breakdown). Writes up to cap entries;
 * *n receives the number of rails. */
typedef struct eco_rail_energy {
  char name[32]; /* "VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC" */
  double joules; /* J since open */
  double watts;  /* last power reading, W */
} eco_rail_energy;
int eco_meter_ina3221_rails(eco_meter *m, eco_rail_energy *out, size_t cap, size_t *n);

/* ---- NVML -----------------------------------------------------------------
 * The functions the backend uses, resolved with dlsym from NVML's documented
 * API (nvml.h); tests pass a fake table or load a fake library with the same
 * ABI. Return values are nvmlReturn_t (0 = success). The structs below have
 * the layout of NVML's own. */
typedef struct eco_nvml_process_info { /* nvmlProcessInfo_t (v2) */
  unsigned pid;
  unsigned long long used_gpu_memory; /* B; ULLONG_MAX = not available */
  unsigned gpu_instance_id;
  unsigned compute_instance_id;
} eco_nvml_process_info;
typedef struct eco_nvml_process_info_v1 { /* nvmlProcessInfo_v1_t */
  unsigned pid;
  unsigned long long used_gpu_memory; /* B */
} eco_nvml_process_info_v1;
typedef struct eco_nvml_util_sample { /* nvmlProcessUtilizationSample_t */
  unsigned pid;
  unsigned long long time_stamp; /* CPU time stamp, µs */
  unsigned sm_util;              /* % */
  unsigned mem_util;             /* % */
  unsigned enc_util;             /* % */
  unsigned dec_util;             /* % */
} eco_nvml_util_sample;
typedef struct eco_nvml_accounting_stats { /* nvmlAccountingStats_t */
  unsigned gpu_utilization;                /* % over the process's life */
  unsigned memory_utilization;             /* % */
  unsigned long long max_memory_usage;     /* B */
  unsigned long long time;                 /* ms the context was active */
  unsigned long long start_time;           /* CPU time stamp, µs */
  unsigned is_running;
  unsigned reserved[5];
} eco_nvml_accounting_stats;

typedef struct eco_nvml_api {
  void *lib;                                /* dlopen handle, NULL for a fake */
  int (*init)(void);                        /* nvmlInit_v2 */
  int (*shutdown)(void);                    /* nvmlShutdown */
  int (*device_get_count)(unsigned *count); /* nvmlDeviceGetCount_v2 */
  int (*device_get_handle_by_index)(unsigned index, void **device); /* ..._v2 */
  int (*device_get_name)(void *device, char *name, unsigned len);
  int (*device_get_uuid)(void *device, char *uuid, unsigned len);
  /* mJ since the driver was loaded (Volta and newer) */
  int (*device_get_total_energy)(void *device, unsigned long long *mj);
  /* mW */
  int (*device_get_power_usage)(void *device, unsigned *mw);
  const char *(*error_string)(int rc);
  /* optional, per process: nvmlDeviceGetComputeRunningProcesses_v3 (or
   * _v2; both fill eco_nvml_process_info), else the unversioned one
   * (eco_nvml_process_info_v1 entries): procs_v1 says which */
  int (*device_get_compute_procs)(void *device, unsigned *count, void *infos);
  bool procs_v1;
  /* nvmlDeviceGetProcessUtilization: samples newer than last_seen (µs) */
  int (*device_get_process_utilization)(void *device, eco_nvml_util_sample *samples,
                                        unsigned *count, unsigned long long last_seen);
  /* accounting (nvidia-smi -am 1): mode is nvmlEnableState_t (1 = enabled) */
  int (*device_get_accounting_mode)(void *device, int *mode);
  int (*device_get_accounting_pids)(void *device, unsigned *count, unsigned *pids);
  int (*device_get_accounting_stats)(void *device, unsigned pid, eco_nvml_accounting_stats *st);
} eco_nvml_api;

/* dlopen(lib or "libnvidia-ml.so.1") and resolve the table. ECO_ENOENT
 * when the library is absent. */
int eco_nvml_load(const char *lib, eco_nvml_api *api, eco_error *err);
void eco_nvml_unload(eco_nvml_api *api);
/* The number of GPUs NVML sees (initialises and shuts NVML down around
 * the call). */
int eco_nvml_device_count(const eco_nvml_api *api, unsigned *count, eco_error *err);
/* A meter on GPU index, using api (copied; the meter calls shutdown and
 * dlclose when freed if api->lib is set). */
int eco_meter_nvml_open(const eco_nvml_api *api, unsigned index, eco_meter **out, eco_error *err);

/* One process on a GPU, as NVML lets us see it (polled with the meter). */
typedef struct eco_gpu_process {
  unsigned pid;             /* host PID */
  double used_memory_bytes; /* B, < 0 = not available */
  double sm_util_pct;       /* SM utilisation over the last poll interval, %, < 0 = unknown */
  double joules;            /* device energy split by SM share since first seen, J
                               (an estimate), < 0 = no utilisation samples */
  double acct_gpu_util_pct; /* accounting: mean GPU utilisation over its life, %, < 0 = off */
  double acct_active_s;     /* accounting: time its context was active, s */
} eco_gpu_process;
/* The processes seen at the last poll (up to cap; *n receives the count).
 * ECO_EINVAL if m is not an NVML meter. */
int eco_meter_nvml_processes(eco_meter *m, eco_gpu_process *out, size_t cap, size_t *n);
/* What per-process data this GPU gave at the last poll: "utilization",
 * "accounting", "memory" joined with '+', or "none", into buf. */
void eco_meter_nvml_process_support(eco_meter *m, char *buf, size_t cap);

/* ---- fallback model -------------------------------------------------------
 * P = tdp_w * (idle_fraction + (1 - idle_fraction) * u) + mem_w_per_gib * GiB
 * u is CPU utilisation from root/proc/stat between polls, GiB the
 * MemTotal of root/proc/meminfo. */
typedef struct eco_model_params {
  double tdp_w;          /* CPU package power at full load, W; <= 0: from the table/default */
  double idle_fraction;  /* share of TDP drawn at zero utilisation, 0..1 */
  double mem_w_per_gib;  /* memory power, W per GiB installed */
  const char *cpu_model; /* for the TDP table; NULL: read from root/proc/cpuinfo */
} eco_model_params;

void eco_model_params_default(eco_model_params *p);
/* TDP in W for a CPU model string and CPU count: a built-in table of
 * known models (substring match), else 4.0 W per logical CPU. */
double eco_model_default_tdp(const char *cpu_model, int logical_cpus);
int eco_meter_model_open(const char *root, const eco_model_params *params, eco_meter **out,
                         eco_error *err);

/* ---- automatic choice ------------------------------------------------------
 * The host CPU meter: INA3221 (VDD_IN) > RAPL package+dram > hwmon > model.
 * params is used for the model (may be NULL). */
int eco_meter_open_auto(const char *root, const eco_model_params *params, eco_meter **out,
                        eco_error *err);

#endif
