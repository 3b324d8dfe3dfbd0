/* ecoinfer: discovery of the energy sensors a host exposes (for `doctor`
 * and for choosing a meter). Every scan takes a root path ("/" normally)
 * so tests can point it at a fake sysfs tree. */
#ifndef ECO_ENERGY_PROBE_H
#define ECO_ENERGY_PROBE_H

#include <stdbool.h>
#include <stddef.h>

typedef enum eco_sensor_kind {
  ECO_SENSOR_RAPL = 0,    /* /sys/class/powercap/intel-rapl:* energy_uj */
  ECO_SENSOR_HWMON = 1,   /* /sys/class/hwmon/hwmon* power*_input / energy*_input */
  ECO_SENSOR_NVML = 2,    /* libnvidia-ml.so.1, dlopen'ed */
  ECO_SENSOR_INA3221 = 3, /* Jetson rails: hwmon with in*_label / curr*_input */
} eco_sensor_kind;

typedef struct eco_sensor {
  eco_sensor_kind kind;
  char name[64];  /* "package-0", "dram", "amdgpu power1", "VDD_IN", "GPU 0" */
  char path[512]; /* file or library that is read */
  bool readable;  /* could be opened and parsed now */
  char hint[160]; /* why not readable, and what to do ("" if readable) */
} eco_sensor;

typedef struct eco_sensor_list {
  eco_sensor *items;
  size_t n;
} eco_sensor_list;

/* Scans root (e.g. "/") for sensors; *out must be freed with
 * eco_sensor_list_free. probe_nvml: also try to dlopen NVML. */
int eco_energy_probe(const char *root, bool probe_nvml, eco_sensor_list *out);
void eco_sensor_list_free(eco_sensor_list *l);
const char *eco_sensor_kind_name(eco_sensor_kind k);

#endif
