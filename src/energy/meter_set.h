/* ecoinfer: every energy meter a host has, opened together (what `ecoinfer
 * agent` serves), and what hardware each one covers.
 *
 *   ina3221   Jetson INA3221 rails: the board total (VDD_IN) or their sum;
 *             the agent also serves each rail (jetson:<RAIL>)
 *   rapl      RAPL package + dram
 *   hwmon:C   each hwmon chip C with an energy or power sensor (amdgpu, ...)
 *   nvml:I    each NVIDIA GPU I (libnvidia-ml.so.1, dlopen'ed)
 *   model     the CPU power model, only when no sensor exists (estimated)
 * The host meter is the one eco_meter_open_auto would choose (INA3221 >
 * RAPL > hwmon > model); it is flagged, not opened twice. */
#ifndef ECO_ENERGY_METER_SET_H
#define ECO_ENERGY_METER_SET_H

#include "energy/meter.h"

#include <stdbool.h>
#include <stddef.h>

/* What a meter's energy includes (bit set). BOARD: the whole module's input
 * (Jetson VDD_IN), which includes the GPU. */
enum {
  ECO_COVER_CPU = 1u << 0,
  ECO_COVER_GPU = 1u << 1,
  ECO_COVER_SOC = 1u << 2,
  ECO_COVER_CV = 1u << 3,
  ECO_COVER_DDR = 1u << 4,
  ECO_COVER_SYS = 1u << 5,
  ECO_COVER_BOARD = 1u << 6,
};
#define ECO_COVER_NAMES                                                                            \
  { "cpu", "gpu", "soc", "cv", "ddr", "sys", "board" }
#define ECO_COVER_COUNT 7

/* The coverage of a Jetson rail from its name, by its '_'-separated words:
 * GPU, CPU, SOC, CV; DDR, VDDQ, VDDRQ or VDD2 (memory); IN (VDD_IN,
 * POM_5V_IN: the module input, BOARD); else SYS or SYS5V (the 5 V system
 * rail). VDD_GPU_SOC = gpu+soc, VDD_CPU_GPU_CV = cpu+gpu+cv, VIN_SYS_5V0 =
 * sys. 0 for rails of none of these (VDD_4V0_WIFI). */
unsigned eco_rail_covers(const char *rail);
/* "gpu+soc" (names in ECO_COVER_NAMES order), "" for 0. */
void eco_covers_str(unsigned covers, char *buf, size_t cap);
/* One cover name ("gpu") to its bit; 0 if unknown. */
unsigned eco_cover_parse(const char *name);

typedef struct eco_meter_entry {
  char id[48];      /* "ina3221", "rapl", "hwmon:amdgpu", "nvml:0", "model"; "" = device */
  char device[32];  /* "board", "cpu", "gpu0", ... */
  eco_meter *meter; /* owned by the set (not by an agent that serves it) */
  unsigned covers;  /* ECO_COVER_* */
  bool host;        /* the host meter (eco_meter_open_auto's choice) */
} eco_meter_entry;

typedef struct eco_meter_set {
  eco_meter_entry *e;
  size_t n;
  char notes[512]; /* why meters were not opened ("nvml: cannot load ...") */
} eco_meter_set;

typedef struct eco_meter_set_opts {
  const char *root;              /* sysfs/procfs root, NULL = "/" */
  const char *nvml_lib;          /* NULL = "libnvidia-ml.so.1" (dlopen's search) */
  bool no_nvml;                  /* do not try NVML */
  const eco_model_params *model; /* for the model fallback, may be NULL */
} eco_meter_set_opts;

/* Opens every meter found (at least the host meter; the model when there
 * is no sensor). */
int eco_meter_set_open(const eco_meter_set_opts *o, eco_meter_set *out, eco_error *err);
/* Background sampling of every meter every interval_s. */
int eco_meter_set_start(eco_meter_set *s, double interval_s);
void eco_meter_set_free(eco_meter_set *s);

#endif
