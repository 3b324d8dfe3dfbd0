#include "carbon/sci.h"

#include "util/status.h"

#include <math.h>
#include <stdio.h>

double eco_sci_embodied_g(const eco_embodied *e, double reserved_s) {
  if (!e || e->lifetime_s <= 0 || reserved_s <= 0 || e->total_g <= 0) return 0.0;
  double share = e->share;
  if (share < 0) share = 0;
  if (share > 1) share = 1;
  return e->total_g * (reserved_s / e->lifetime_s) * share;
}

double eco_sci_operational_g(double energy_j, double intensity_gco2_kwh, double pue) {
  return energy_j / ECO_J_PER_KWH * pue * intensity_gco2_kwh;
}

int eco_sci_compute(double energy_j, double intensity_gco2_kwh, double embodied_g, double pue,
                    eco_receipt *r) {
  if (!r || !isfinite(energy_j) || !isfinite(intensity_gco2_kwh) || !isfinite(embodied_g) ||
      !isfinite(pue) || energy_j < 0 || intensity_gco2_kwh < 0 || embodied_g < 0 || pue < 1.0)
    return ECO_EINVAL;
  r->energy_j = energy_j;
  r->intensity_gco2_kwh = intensity_gco2_kwh;
  r->pue = pue;
  r->operational_g = eco_sci_operational_g(energy_j, intensity_gco2_kwh, pue);
  r->embodied_g = embodied_g;
  r->total_g = r->operational_g + r->embodied_g;
  if (!r->method[0]) snprintf(r->method, sizeof r->method, "sci-v1.0");
  return ECO_OK;
}
