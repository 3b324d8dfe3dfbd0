/* ecoinfer: attribution of a device's energy to the requests that ran on it.
 * This is the one place the rule lives (pure: no clock, no I/O).
 *
 * Over one interval the device meter says E_meter joules. Then:
 *   E      = E_meter * calibration            (per-device correction factor)
 *   idle   = min(E, idle_w * interval_s)      (baseline the device draws anyway)
 *   shared = E - idle  if exclude_idle, else E
 * If requests were active in the interval, shared is split among them in
 * proportion to their weights:
 *   rule TOKENS: weight = prompt_token_weight * prompt_tokens + output_tokens
 *                processed by that request in the interval
 *   rule BUSY:   weight = engine busy time of that request's sequence, s
 * (all weights zero: equal split). What is not given to requests is idle
 * energy, reported separately: the whole E when nothing ran, and the idle
 * part when exclude_idle is set. Every value is IT energy before PUE;
 * facility energy is E * pue (the receipt applies PUE, see sci.h). */
#ifndef ECO_ENERGY_ATTRIBUTE_H
#define ECO_ENERGY_ATTRIBUTE_H

#include "util/status.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum eco_attr_rule {
  ECO_ATTR_TOKENS = 0, /* by tokens processed (default) */
  ECO_ATTR_BUSY = 1,   /* by engine busy time per sequence */
} eco_attr_rule;

typedef struct eco_attr_cfg {
  eco_attr_rule rule;
  double calibration;         /* multiplier on the meter (measured/metered), > 0; 1 = none */
  double idle_w;              /* device idle power, W (0 = unknown) */
  bool exclude_idle;          /* true: requests share only E - idle */
  double prompt_token_weight; /* weight of a prompt (prefill) token vs an output token */
  double pue;                 /* facility multiplier >= 1 (carried into receipts) */
} eco_attr_cfg;

/* One request's activity on the device during the interval. */
typedef struct eco_attr_share {
  double prompt_tokens; /* prompt tokens processed in the interval */
  double output_tokens; /* output tokens generated in the interval */
  double busy_s;        /* engine busy time of its sequence in the interval, s */
} eco_attr_share;

/* The result of one interval. */
typedef struct eco_attr_result {
  double device_j;   /* E: calibrated device energy, J */
  double idle_j;     /* energy not attributed to any request, J */
  double assigned_j; /* sum of the per-request energies, J (device_j - idle_j) */
} eco_attr_result;

/* calibration 1, idle 0, exclude_idle false, weight 1, pue 1, rule tokens. */
void eco_attr_cfg_default(eco_attr_cfg *c);
int eco_attr_rule_parse(const char *s, eco_attr_rule *out); /* "tokens" | "busy" */

/* Splits meter_j (J over interval_s) among n requests; out_j[i] receives
 * request i's J. ECO_EINVAL for negative/non-finite inputs or a bad cfg. */
int eco_attribute(const eco_attr_cfg *cfg, double meter_j, double interval_s,
                  const eco_attr_share *reqs, size_t n, double *out_j, eco_attr_result *res);

#endif
