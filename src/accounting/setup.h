/* ecoinfer accounting: setup from the configuration.
 *
 * Turns the `carbon:`, `device:`/`devices:` and `ledger:` configuration
 * sections into the objects the server, the router and the CLI use: the
 * carbon-intensity provider chain, the per-device meters (the meter
 * factory), attribution settings and embodied carbon, and the ledger. See
 * docs/accounting.md for the keys and an example. */
#ifndef ECO_ACCOUNTING_SETUP_H
#define ECO_ACCOUNTING_SETUP_H

#include "accounting/receipt.h"

#include "carbon/intensity.h"
#include "carbon/ledger.h"
#include "carbon/sci.h"
#include "energy/attribute.h"
#include "energy/meter.h"
#include "util/config.h"
#include "util/status.h"

#include <stddef.h>

/* Builds the provider named by carbon.provider (or provider_override when
 * non-NULL): static | trace | electricitymaps | watttime | ukci |
 * carbon-aware-sdk. Live providers are wrapped in the cache and, unless
 * carbon.fallback is false, the fallback chain ending in the static table.
 * now_s is the replay origin for trace.speed/trace.start (wall clock). */
int eco_carbon_provider_from_config(const eco_cfg *cfg, const char *provider_override, double now_s,
                                    eco_intensity_provider **out, eco_error *err);

/* carbon.zone (default "world") and carbon.pue (default 1.0, must be >= 1). */
int eco_carbon_zone_pue(const eco_cfg *cfg, const char **zone, double *pue, eco_error *err);

/* One device as configured. */
typedef struct eco_device_cfg {
  char name[64];          /* "cpu", "gpu0" */
  char meter[16];         /* auto | rapl | hwmon | nvml | ina3221 | model */
  char rapl_domains[64];  /* rapl: e.g. "package,dram" ("" = default) */
  char hwmon_chip[64];    /* hwmon: chip name ("" = first with a sensor) */
  char total_rail[32];    /* ina3221: total rail ("" = VDD_IN) */
  int gpu_index;          /* nvml: device index */
  eco_embodied embodied;  /* embodied_kg x 1000 g, lifetime_years, share */
  eco_model_params model; /* tdp_w, idle_fraction, mem_w_per_gib (model meter) */
  eco_attr_cfg attr;      /* calibration, idle_w, attribution rule, carbon.pue */
} eco_device_cfg;

/* Reads `devices:` (a list) or else `device:` (one map) or else one
 * default device "cpu" with meter auto. *out is malloc'd (free()). */
int eco_device_cfgs_load(const eco_cfg *cfg, eco_device_cfg **out, size_t *n, eco_error *err);

/* The schema of the sections read here (carbon:, device:, devices:, energy:,
 * ledger:), for a whole-file check of a configuration (src/cli). */
const eco_cfg_schema *eco_acct_cfg_sections(size_t *n);

/* Opens the meter a device asks for (auto: INA3221 > RAPL > hwmon >
 * model; nvml loads libnvidia-ml with dlopen). root is "/" normally. */
int eco_device_meter_open(const eco_device_cfg *d, const char *root, eco_meter **out,
                          eco_error *err);

/* Opens the ledger at ledger.path (ECO_ECONFIG if unset) with
 * ledger.synchronous (normal | full) and ledger.busy_timeout. */
int eco_ledger_open_from_config(const eco_cfg *cfg, bool read_only, eco_ledger **out,
                                eco_error *err);

#endif
