/* ecoinfer: Software Carbon Intensity (Green Software Foundation).
 *
 *   SCI = (E * I + M) per R
 *
 * E  energy of the functional unit, kWh (we carry joules: kWh = J / 3.6e6),
 *    multiplied by the data-centre PUE (facility energy / IT energy).
 * I  grid carbon intensity, gCO2e/kWh, at the time and place of use.
 * M  embodied carbon share: TE * (TiR / EL) * (RR / ToR)
 *      TE  total embodied emissions of the device, gCO2e
 *      TiR time reserved (the request's duration), s
 *      EL  expected lifetime of the device, s
 *      RR/ToR share of the device's resources reserved, 0..1
 * R  the functional unit: here one request (or 1k tokens in reports).
 *
 * Everything here is a pure function: no clock, no I/O. */
#ifndef ECO_CARBON_SCI_H
#define ECO_CARBON_SCI_H

#include <stdbool.h>
#include <stdint.h>

#define ECO_J_PER_KWH        3.6e6
#define ECO_SECONDS_PER_YEAR (365.0 * 86400.0)

/* One device's embodied carbon, as configured. */
typedef struct eco_embodied {
  double total_g;    /* TE: total embodied emissions, gCO2e */
  double lifetime_s; /* EL: expected lifetime, s */
  double share;      /* RR/ToR: share of the device reserved, 0..1 */
} eco_embodied;

/* The device's embodied emissions per second of its life, TE / EL, gCO2e/s.
 * 0 if e is NULL, lifetime_s <= 0 or total_g <= 0. */
double eco_sci_embodied_rate(const eco_embodied *e);

/* M, the one embodied formula: holding share (0..1, clamped) of a device
 * whose embodied rate is g_per_s (TE / EL) for reserved_s seconds:
 * g_per_s * reserved_s * share, gCO2e. 0 if g_per_s or reserved_s <= 0. */
double eco_sci_embodied_share_g(double g_per_s, double reserved_s, double share);

/* Embodied grams for holding the device for reserved_s seconds at its
 * configured share: eco_sci_embodied_share_g(TE / EL, reserved_s, share). */
double eco_sci_embodied_g(const eco_embodied *e, double reserved_s);

/* Operational grams: energy_j / 3.6e6 * pue * intensity. */
double eco_sci_operational_g(double energy_j, double intensity_gco2_kwh, double pue);

/* The per-request carbon receipt. */
typedef struct eco_receipt {
  double energy_j;              /* IT energy attributed to the request, J (before PUE) */
  char energy_source[32];       /* "rapl", "nvml", "ina3221", "hwmon", "model", ... */
  bool energy_estimated;        /* true unless read from a hardware counter */
  char energy_rails[96];        /* what the energy covers: "package-0+dram", "VDD_IN",
                                   "nvml:0", "VDD_GPU_SOC+VDD_CPU_CV", "cpu-time"; "" unknown */
  double intensity_gco2_kwh;    /* grid intensity used, gCO2e/kWh */
  char intensity_source[64];    /* "electricitymaps", "trace:GB_2023_hourly.csv", "static" */
  bool intensity_estimated;     /* forecast, fallback or static table */
  double operational_g;         /* E * PUE * I, gCO2e */
  double embodied_g;            /* M, gCO2e */
  double total_g;               /* operational_g + embodied_g, gCO2e */
  double pue;                   /* multiplier applied to E, >= 1 */
  char method[48];              /* e.g. "sci-v1.0" */
  int64_t prompt_cached_tokens; /* prompt tokens whose KV was reused (prefix cache), not
                                   computed: 0 on a miss or where nothing is cached */
} eco_receipt;

/* The receipt's one form: its fields in order, with their kind (NUM a
 * double, STR a char array, BOOL a bool, INT an int64_t). X(name, kind) is expanded by the
 * JSON codec (usage.carbon keys, src/accounting/wire.h) and by the ledger
 * (column names, src/carbon/ledger.c), so both carry the same names. */
#define ECO_RECEIPT_FIELDS(X)                                                                      \
  X(energy_j, NUM)                                                                                 \
  X(energy_source, STR)                                                                            \
  X(energy_estimated, BOOL)                                                                        \
  X(energy_rails, STR)                                                                             \
  X(intensity_gco2_kwh, NUM)                                                                       \
  X(intensity_source, STR)                                                                         \
  X(intensity_estimated, BOOL)                                                                     \
  X(operational_g, NUM)                                                                            \
  X(embodied_g, NUM)                                                                               \
  X(total_g, NUM)                                                                                  \
  X(pue, NUM)                                                                                      \
  X(method, STR)                                                                                   \
  X(prompt_cached_tokens, INT)

/* Fills the arithmetic fields of *r from (E, I, M, PUE); keeps the source
 * strings already in *r. Returns 0, or ECO_EINVAL for negative or
 * non-finite inputs or pue < 1 (the receipt is then left unchanged). */
int eco_sci_compute(double energy_j, double intensity_gco2_kwh, double embodied_g, double pue,
                    eco_receipt *r);

#endif
