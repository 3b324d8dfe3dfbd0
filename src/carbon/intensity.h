/* ecoinfer: grid carbon-intensity providers behind one interface.
 *
 * A provider answers two questions for a zone (an Electricity Maps zone key
 * such as "GB", "DE", "US-CAL-CISO"):
 *   get(zone, t)              the intensity in effect at time t
 *   forecast(zone, from, to)  the values for the periods overlapping [from, to)
 *
 * Providers are objects with a vtable. Wrappers (the cache and the fallback
 * chain) are providers themselves that hold other providers, so a caller
 * only ever sees one eco_intensity_provider *.
 *
 * Times are Unix epoch seconds (UTC) as doubles. Where a provider replays a
 * trace faster than real time, t is the caller's clock and the provider maps
 * it into trace time (see eco_trace_opts); the returned value's time_s is
 * always the trace/grid time of the period the value belongs to.
 *
 * Thread safety: a provider may be called from several threads; the
 * providers in this module lock internally where they hold mutable state. */
#ifndef ECO_CARBON_INTENSITY_H
#define ECO_CARBON_INTENSITY_H

#include "util/status.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum eco_signal {
  ECO_SIGNAL_AVERAGE = 0,  /* attributional (consumption-based average), e.g. Electricity Maps */
  ECO_SIGNAL_MARGINAL = 1, /* marginal operating emissions rate, e.g. WattTime MOER */
} eco_signal;

#define ECO_ZONE_MAX   32
#define ECO_SOURCE_MAX 64

/* One grid carbon-intensity value. */
typedef struct eco_intensity {
  double gco2_kwh;             /* intensity, gCO2e/kWh */
  double time_s;               /* start of the period the value covers, Unix epoch s (UTC) */
  double period_s;             /* length of that period, s (3600 hourly; 0 = unknown) */
  eco_signal signal;           /* average or marginal */
  char zone[ECO_ZONE_MAX];     /* zone key the value is for */
  char source[ECO_SOURCE_MAX]; /* "static", "trace:GB_2023_hourly.csv", "electricitymaps", ... */
  bool estimated;              /* model estimate, forecast, fallback or static table */
} eco_intensity;

typedef struct eco_intensity_provider eco_intensity_provider;

typedef struct eco_intensity_vtbl {
  const char *kind; /* "static", "trace", "cache", "fallback", "electricitymaps", ... */
  /* Value in effect at t_s. ECO_ENOENT: unknown zone; ECO_ERANGE: t outside
   * the data; network providers: ECO_ENET/ECO_EHTTP/ECO_ETIMEOUT/ECO_EFORMAT. */
  int (*get)(eco_intensity_provider *p, const char *zone, double t_s, eco_intensity *out,
             eco_error *err);
  /* Fills up to *n (in: capacity) values for the periods that overlap
   * [from_s, to_s), in time order; sets *n to the number written. May be
   * NULL (ECO_EUNSUPPORTED). */
  int (*forecast)(eco_intensity_provider *p, const char *zone, double from_s, double to_s,
                  eco_intensity *out, size_t *n, eco_error *err);
  void (*destroy)(eco_intensity_provider *p);
} eco_intensity_vtbl;

/* Base of every provider; implementations embed it as their first member. */
struct eco_intensity_provider {
  const eco_intensity_vtbl *vt;
  char name[ECO_SOURCE_MAX]; /* what receipts name as the source prefix */
};

/* Dispatchers (argument checks, then the vtable). */
int eco_intensity_get(eco_intensity_provider *p, const char *zone, double t_s, eco_intensity *out,
                      eco_error *err);
int eco_intensity_forecast(eco_intensity_provider *p, const char *zone, double from_s, double to_s,
                           eco_intensity *out, size_t *n, eco_error *err);
/* Destroys p (and, for wrappers, the providers it owns). NULL is a no-op. */
void eco_intensity_free(eco_intensity_provider *p);

const char *eco_signal_name(eco_signal s); /* "average" | "marginal" */
int eco_signal_parse(const char *s, eco_signal *out);

/* ---- static table ---------------------------------------------------------
 * Fixed value per zone, a world default for any other zone. Values are
 * labelled estimated, signal average, source "static". */
typedef struct eco_static_entry {
  const char *zone;
  double gco2_kwh; /* gCO2e/kWh */
} eco_static_entry;

/* entries may be NULL/0: then the built-in table (eco_static_builtin) is
 * used. world_gco2_kwh < 0 selects the built-in world default. Entries are
 * copied. */
int eco_intensity_static_new(const eco_static_entry *entries, size_t n, double world_gco2_kwh,
                             eco_intensity_provider **out, eco_error *err);
/* The built-in table: annual means of the Electricity Maps 2023 direct
 * column for the zones in shared/data/carbon, and a world default (see
 * docs/accounting.md for the sources). */
const eco_static_entry *eco_static_builtin(size_t *n, double *world_gco2_kwh);

/* ---- CSV trace replay -----------------------------------------------------
 * Formats recognised from the header line:
 *   Electricity Maps hourly export (11 columns, "Datetime (UTC)" first; the
 *     zone from "Zone Id"; value from column 5 (direct) or 6 (lifecycle);
 *     "Data Estimated" gives the estimated flag). Columns are matched by
 *     index, so the UTF-8 "₂" in the header does not matter.
 *   Simple CSV: "timestamp,zone,value" (header required; timestamp ISO-8601
 *     UTC or epoch seconds; value gCO2e/kWh; optional 4th column
 *     "estimated" true/false).
 * Each row's value holds from its timestamp until the next row's of the
 * same zone (the last row: for the median row spacing). Several files (and
 * zones, and years of one zone) can be loaded into one provider. */
typedef enum eco_trace_column {
  ECO_TRACE_DIRECT = 0,    /* combustion only ("direct") */
  ECO_TRACE_LIFECYCLE = 1, /* life-cycle ("LCA"), Electricity Maps API default */
} eco_trace_column;

typedef struct eco_trace_opts {
  eco_trace_column column; /* which Electricity Maps column; ignored for simple CSV */
  eco_signal signal;       /* label for the values (traces are average unless said) */
  /* Replay mapping: when replay_origin_s > 0, a caller time t maps to trace
   * time start_s + (t - replay_origin_s) * speed. speed <= 0 means 1. When
   * replay_origin_s == 0, t is trace time itself (the simulator's use). */
  double replay_origin_s; /* caller-clock time at which the replay begins, epoch s */
  double start_s;         /* trace time shown at replay_origin_s, epoch s; 0 = first row */
  double speed;           /* trace seconds per caller second, e.g. 3600 = 1 h/s */
  bool loop;              /* wrap trace time around the zone's covered span */
} eco_trace_opts;

/* Default options: direct column, average, no replay mapping, no loop. */
void eco_trace_opts_default(eco_trace_opts *o);

/* A trace provider with no data yet; add files with eco_intensity_trace_add_file. */
int eco_intensity_trace_new(const eco_trace_opts *opts, eco_intensity_provider **out,
                            eco_error *err);
/* Loads one CSV (either format). Zones come from the file; alias (may be
 * NULL) is an extra name for every zone in the file, e.g. "DE-LU" for a
 * file whose Zone Id column says "DE". Returns the number of rows loaded
 * in *rows (may be NULL). */
int eco_intensity_trace_add_file(eco_intensity_provider *p, const char *path, const char *alias,
                                 size_t *rows, eco_error *err);
/* Loads every *.csv in dir; each file's name up to "_<digit>" (e.g. "DE-LU"
 * from "DE-LU_2023_hourly.csv") is used as its alias. */
int eco_intensity_trace_add_dir(eco_intensity_provider *p, const char *dir, eco_error *err);
/* Convenience: new + add_file (path is a file) or add_dir (a directory). */
int eco_intensity_trace_open(const char *path, const eco_trace_opts *opts,
                             eco_intensity_provider **out, eco_error *err);
/* The trace time a caller time maps to (identity without replay). */
double eco_intensity_trace_time(const eco_intensity_provider *p, double t_s);
/* Its inverse: the caller time at which trace time trace_s plays (identity
 * without replay, or for a provider that is not a trace). A caller that
 * plans in hours of the grid (the router's live directive plan) reads the
 * hour from eco_intensity_trace_time and asks forecasts at these times. */
double eco_intensity_trace_caller_time(const eco_intensity_provider *p, double trace_s);
/* Covered span of a zone: first row time and end of last period. */
int eco_intensity_trace_span(eco_intensity_provider *p, const char *zone, double *first_s,
                             double *end_s);

/* ---- live providers (libcurl) ----------------------------------------------
 * Electricity Maps v3, WattTime v3, UK Carbon Intensity API and the Green
 * Software Foundation Carbon Aware SDK web API. Each:
 *   - uses connect and total timeouts,
 *   - after a failure refuses to call the network again (ECO_EAGAIN, no
 *     blocking) until a backoff delay has passed: backoff_s doubling per
 *     consecutive failure up to backoff_max_s, or the server's Retry-After
 *     on a 429 when longer,
 *   - may retry within one call (retries, default 0) for 429, 5xx and
 *     timeouts, sleeping backoff_s * 2^k between attempts.
 * Errors: ECO_EACCES (401/403), ECO_EBUSY (429), ECO_EHTTP (other status),
 * ECO_ETIMEOUT, ECO_ENET, ECO_EFORMAT (malformed JSON or fields).
 * Zones are passed through as the provider's own key: Electricity Maps
 * zone ("DE"), WattTime region ("CAISO_NORTH"), UK "GB" (national) or
 * "GB-<regionid>" (regional, 1..17), Carbon Aware SDK location ("eastus").
 * get(zone, t) asks for the latest value when t is within now_window_s of
 * the provider clock, else for history (past) or the forecast (future). */
typedef double (*eco_clock_fn)(void *user); /* Unix epoch s */

typedef struct eco_live_opts {
  const char *base_url;        /* e.g. "https://api.electricitymap.org"; NULL = the public one */
  const char *token;           /* Electricity Maps auth-token; WattTime: a ready bearer token */
  const char *username;        /* WattTime login */
  const char *password;        /* WattTime login */
  double timeout_s;            /* whole request, s (0: 10) */
  double connect_timeout_s;    /* connect, s (0: 3) */
  int retries;                 /* extra attempts within one call (0 default) */
  double backoff_s;            /* first backoff delay, s (0: 30) */
  double backoff_max_s;        /* cap, s (0: 1800) */
  double now_window_s;         /* |t - now| below this asks for "latest" (0: 900) */
  const char *emission_factor; /* Electricity Maps: "lifecycle" or "direct" (NULL: API default) */
  eco_signal signal;           /* Carbon Aware SDK: what its data source delivers */
  eco_clock_fn clock;          /* NULL = wall clock (tests inject one) */
  void *clock_user;
} eco_live_opts;

/* Fills defaults (base_url NULL, timeouts 10/3 s, backoff 30 s..30 min). */
void eco_live_opts_default(eco_live_opts *o);

int eco_intensity_electricitymaps_new(const eco_live_opts *o, eco_intensity_provider **out,
                                      eco_error *err);
int eco_intensity_watttime_new(const eco_live_opts *o, eco_intensity_provider **out,
                               eco_error *err);
int eco_intensity_ukci_new(const eco_live_opts *o, eco_intensity_provider **out, eco_error *err);
int eco_intensity_carbonaware_new(const eco_live_opts *o, eco_intensity_provider **out,
                                  eco_error *err);

/* 1 lb/MWh in g/kWh (453.59237 g / 1000 kWh). */
#define ECO_G_PER_KWH_PER_LB_PER_MWH 0.45359237

/* ---- wrappers ---------------------------------------------------------------
 * Cache: remembers each zone's latest value and answers get(zone, t) from
 * it while t lies inside the value's period [time_s, time_s + period_s);
 * values without a period are kept for ttl_s after t of the fetch.
 * Forecasts are cached until the end of their first period. Takes
 * ownership of inner. */
int eco_intensity_cache_new(eco_intensity_provider *inner, double ttl_s,
                            eco_intensity_provider **out, eco_error *err);

/* Fallback chain: live -> last known -> forecast -> static. get() tries
 * primary; on failure the zone's last good value (if younger than
 * max_age_s by t), then a forecast value covering t (remembered from
 * earlier forecast() calls, or asked of primary), then fallback (usually
 * the static table). The value returned says what was used: its source
 * is prefixed "last-known:" or "forecast:" (or is the fallback's own),
 * and estimated is set. Never fails when fallback is a static table.
 * Takes ownership of both. */
int eco_intensity_fallback_new(eco_intensity_provider *primary, eco_intensity_provider *fallback,
                               double max_age_s, eco_intensity_provider **out, eco_error *err);

#endif
