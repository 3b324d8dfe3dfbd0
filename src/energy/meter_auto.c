/* ecoinfer: the automatic choice of the host CPU meter (eco_meter_open_auto).
 * Kept apart from the base (meter.c) so that the base does not depend on
 * the backends built on it. */
#include "energy/meter.h"

int eco_meter_open_auto(const char *root, const eco_model_params *params, eco_meter **out,
                        eco_error *err) {
  eco_error tmp = {0};
  if (eco_meter_ina3221_open(root, NULL, out, &tmp) == 0) return ECO_OK;
  if (eco_meter_rapl_open(root, NULL, out, &tmp) == 0) return ECO_OK;
  if (eco_meter_hwmon_open(root, NULL, out, &tmp) == 0) return ECO_OK;
  return eco_meter_model_open(root, params, out, err);
}
