/* ecoinfer: the energy attribution rule (see attribute.h). */
#include "energy/attribute.h"

#include <math.h>
#include <string.h>
#include <strings.h>

void eco_attr_cfg_default(eco_attr_cfg *c) {
  memset(c, 0, sizeof *c);
  c->rule = ECO_ATTR_TOKENS;
  c->calibration = 1.0;
  c->prompt_token_weight = 1.0;
  c->pue = 1.0;
}

int eco_attr_rule_parse(const char *s, eco_attr_rule *out) {
  if (!s || !out) return ECO_EINVAL;
  if (strcasecmp(s, "tokens") == 0) {
    *out = ECO_ATTR_TOKENS;
    return ECO_OK;
  }
  if (strcasecmp(s, "busy") == 0 || strcasecmp(s, "busy_time") == 0) {
    *out = ECO_ATTR_BUSY;
    return ECO_OK;
  }
  return ECO_EINVAL;
}

static bool nonneg(double x) { return isfinite(x) && x >= 0; }

int eco_attribute(const eco_attr_cfg *cfg, double meter_j, double interval_s,
                  const eco_attr_share *reqs, size_t n, double *out_j, eco_attr_result *res) {
  if (!cfg || !res || (n > 0 && (!reqs || !out_j)) || !nonneg(meter_j) || !nonneg(interval_s) ||
      !(cfg->calibration > 0) || !isfinite(cfg->calibration) || !nonneg(cfg->idle_w) ||
      !nonneg(cfg->prompt_token_weight) || !(cfg->pue >= 1) || !isfinite(cfg->pue))
    return ECO_EINVAL;
  double wsum = 0;
  for (size_t i = 0; i < n; i++) {
    const eco_attr_share *r = &reqs[i];
    if (!nonneg(r->prompt_tokens) || !nonneg(r->output_tokens) || !nonneg(r->busy_s))
      return ECO_EINVAL;
    wsum += cfg->rule == ECO_ATTR_BUSY
                ? r->busy_s
                : cfg->prompt_token_weight * r->prompt_tokens + r->output_tokens;
  }
  double e = meter_j * cfg->calibration;
  double idle = fmin(e, cfg->idle_w * interval_s);
  double shared = cfg->exclude_idle ? e - idle : e;
  res->device_j = e;
  if (n == 0) {
    res->idle_j = e;
    res->assigned_j = 0;
    return ECO_OK;
  }
  double assigned = 0;
  for (size_t i = 0; i < n; i++) {
    const eco_attr_share *r = &reqs[i];
    double wi = cfg->rule == ECO_ATTR_BUSY
                    ? r->busy_s
                    : cfg->prompt_token_weight * r->prompt_tokens + r->output_tokens;
    out_j[i] = wsum > 0 ? shared * (wi / wsum) : shared / (double)n;
    assigned += out_j[i];
  }
  res->assigned_j = assigned;
  res->idle_j = e - assigned;
  if (res->idle_j < 0) res->idle_j = 0; /* rounding */
  return ECO_OK;
}
