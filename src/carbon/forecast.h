/* ecoinfer: carbon-intensity forecasts built from history.
 *
 * A series is one zone's hourly (or any fixed-period) intensity values,
 * gCO2e/kWh, index 0 = oldest. "now" is the index of the current slot,
 * whose value is known (real-time signal); a forecast fills out[0..h)
 * for slots now .. now+h-1, so out[0] is always values[now].
 *
 * Methods:
 *   oracle          perfect knowledge: out[j] = values[now+j]. For
 *                   measuring what a perfect forecast would gain.
 *   seasonal-naive  the same slot on the most recent day already known:
 *                   out[j] = values[now + j - P*ceil(j/P)] (P = period,
 *                   24 for hourly data), out[0] = values[now].
 *   seasonal-blend  the mean of that slot over the k most recent known
 *                   days (k = 1 is seasonal-naive).
 *   seasonal-ar     seasonal-blend plus the current deviation from it,
 *                   decaying by phi per slot (an AR(1) on the seasonal
 *                   residual): out[j] = S[j] + (values[now] - S_now)*phi^j.
 *                   phi is fitted by least squares on the residuals of the
 *                   last 7 periods before now (clipped to [0, 0.99]; 0 when
 *                   under 2 periods of residuals exist).
 * Where the history is too short for a day, the days that exist are
 * averaged; with none at all the current value is repeated (persistence).
 *
 * Pure functions: no clock, no I/O. */
#ifndef ECO_CARBON_FORECAST_H
#define ECO_CARBON_FORECAST_H

#include "util/status.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum eco_forecast_kind {
  ECO_FORECAST_ORACLE = 0,
  ECO_FORECAST_SEASONAL_NAIVE = 1,
  ECO_FORECAST_SEASONAL_BLEND = 2,
  ECO_FORECAST_SEASONAL_AR = 3,
} eco_forecast_kind;

typedef struct eco_forecast_cfg {
  eco_forecast_kind kind;
  size_t period; /* slots per season: 24 for hourly data */
  size_t k_days; /* seasonal-blend/-ar: days averaged (>= 1); ignored otherwise */
} eco_forecast_cfg;

/* Parses "perfect"/"oracle", "seasonal-naive", "seasonal-blend[:K]" (K
 * days, default 7), "seasonal-ar[:K]" (K days, default 1) into *cfg with
 * period 24; 0 or ECO_EINVAL. */
int eco_forecast_parse(const char *s, eco_forecast_cfg *cfg, eco_error *err);
/* "oracle", "seasonal-naive", "seasonal-blend-K" or "seasonal-ar-K" into buf. */
void eco_forecast_name(const eco_forecast_cfg *cfg, char *buf, size_t cap);

/* Forecast of slots now .. now+horizon-1 into out[0..horizon). Needs
 * now < n; the oracle also needs now + horizon <= n (ECO_ERANGE if not).
 * Returns 0 or ECO_EINVAL / ECO_ERANGE with a message in err. */
int eco_forecast_series(const eco_forecast_cfg *cfg, const double *values, size_t n, size_t now,
                        size_t horizon, double *out, eco_error *err);

/* Error of a method by lead time over every forecast origin in a series.
 * mae[j] (gCO2e/kWh) and mape[j] (percent) for lead j = 0..max_lead-1;
 * origins run from first_origin to n - max_lead in steps of `stride`.
 * Actual values <= 0 are left out of the MAPE. *n_origins receives the
 * number of origins used. */
typedef struct eco_forecast_error {
  double *mae;      /* [max_lead] mean absolute error, gCO2e/kWh */
  double *mape;     /* [max_lead] mean absolute percentage error, % */
  double *bias;     /* [max_lead] mean (forecast - actual), gCO2e/kWh */
  size_t max_lead;  /* leads 0 .. max_lead-1, in slots */
  size_t n_origins; /* forecast origins evaluated */
} eco_forecast_error;

/* ---- a provider whose forecast is built from another's history ----------
 * For zones whose provider has no forecast endpoint: forecast(zone, from,
 * to) reads the inner provider's values for the last (k + 8) seasons up to
 * the period holding from_s (inner->forecast over a past range: a trace,
 * or a cache that records what it served), applies the method and returns
 * one value per period from the one holding from_s until to_s. Values
 * after the first are labelled estimated; source is "<method>:<inner>".
 * The oracle reads the inner provider's own values for [from, to) (for
 * simulation over traces). get() passes through to the inner provider.
 * With own_inner the wrapper frees inner when it is freed. */
#include "carbon/intensity.h"

int eco_intensity_history_forecast_new(eco_intensity_provider *inner, bool own_inner,
                                       const eco_forecast_cfg *cfg, eco_intensity_provider **out,
                                       eco_error *err);

int eco_forecast_evaluate(const eco_forecast_cfg *cfg, const double *values, size_t n,
                          size_t first_origin, size_t stride, size_t max_lead,
                          eco_forecast_error *out, eco_error *err);
void eco_forecast_error_free(eco_forecast_error *e);

#endif
