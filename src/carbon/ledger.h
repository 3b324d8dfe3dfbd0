/* ecoinfer: the durable ledger of per-request carbon receipts (SQLite, WAL).
 *
 * Every request's eco_receipt is appended with its context (request id,
 * time, node, zone, model, tokens, latency, directive level, policy). One
 * append is one transaction: after eco_ledger_append returns 0 the row is
 * committed (acknowledged). A crash or kill -9 may lose appends that had
 * not returned, never corrupts the file and never leaves a partial row.
 * With synchronous=normal (default) a power loss may also drop the last
 * few acknowledged rows; synchronous=full makes each append durable
 * against power loss too, at an fsync per append.
 *
 * Several processes may share one file (a router and a node): writers
 * wait up to busy_timeout_s for each other. A handle is thread-safe. */
#ifndef ECO_CARBON_LEDGER_H
#define ECO_CARBON_LEDGER_H

#include "carbon/sci.h"
#include "util/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct eco_ledger eco_ledger;

typedef struct eco_ledger_opts {
  bool sync_full;        /* PRAGMA synchronous=FULL (else NORMAL) */
  double busy_timeout_s; /* wait for other writers, s (0: 5 s) */
  bool read_only;        /* open for reports only */
} eco_ledger_opts;

/* One row: the receipt plus its context. */
typedef struct eco_ledger_entry {
  char request_id[64];
  double time_s;   /* completion time, Unix epoch s */
  char node[64];   /* node name or URL */
  char zone[32];   /* grid zone of the node */
  char model[128]; /* model name */
  int64_t prompt_tokens;
  int64_t output_tokens;
  double latency_s;    /* end-to-end latency, s */
  int directive_level; /* generation directive level, -1 = none */
  char policy[48];     /* routing policy name, "" = none */
  eco_receipt receipt; /* energy, intensity, grams, PUE, method */
} eco_ledger_entry;

int eco_ledger_open(const char *path, const eco_ledger_opts *opts, eco_ledger **out,
                    eco_error *err);
void eco_ledger_close(eco_ledger *l);

/* Appends one row in its own transaction. ECO_EINVAL for a missing request
 * id or non-finite numbers. */
int eco_ledger_append(eco_ledger *l, const eco_ledger_entry *e, eco_error *err);

/* Number of rows with time in [from_s, to_s) (to_s <= from_s: all rows). */
int eco_ledger_count(eco_ledger *l, double from_s, double to_s, int64_t *n, eco_error *err);

typedef enum eco_ledger_group {
  ECO_GROUP_TOTAL = 0,
  ECO_GROUP_HOUR = 1, /* key "2026-11-21T10:00Z" (UTC) */
  ECO_GROUP_DAY = 2,  /* key "2026-11-21" */
  ECO_GROUP_NODE = 3,
  ECO_GROUP_ZONE = 4,
  ECO_GROUP_MODEL = 5,
  ECO_GROUP_POLICY = 6,
} eco_ledger_group;

const char *eco_ledger_group_name(eco_ledger_group g);
int eco_ledger_group_parse(const char *s, eco_ledger_group *out);

/* One aggregate row. */
typedef struct eco_ledger_agg {
  char key[128];
  int64_t requests;
  int64_t prompt_tokens, output_tokens;
  double energy_j;           /* IT energy, J */
  double facility_j;         /* energy x PUE, J */
  double operational_g;      /* gCO2e */
  double embodied_g;         /* gCO2e */
  double total_g;            /* gCO2e */
  double intensity_gco2_kwh; /* energy-weighted mean intensity, gCO2e/kWh */
  double latency_s_sum;      /* s */
  int64_t estimated;         /* rows whose energy or intensity was estimated */
  double first_s, last_s;    /* time range of the rows, epoch s */
} eco_ledger_agg;

/* SCI per request and per 1000 output tokens (0 if none), gCO2e. */
double eco_ledger_agg_sci_per_request(const eco_ledger_agg *a);
double eco_ledger_agg_sci_per_1k_tokens(const eco_ledger_agg *a);

/* Aggregates rows with time in [from_s, to_s) (to_s <= from_s: all) by
 * group, ordered by key; *out is malloc'd (free()). */
int eco_ledger_aggregate(eco_ledger *l, eco_ledger_group g, double from_s, double to_s,
                         eco_ledger_agg **out, size_t *n, eco_error *err);

/* Calls fn for each row in time order; a non-zero return stops and is
 * returned. fn runs under the handle's lock: it must not use l. */
typedef int (*eco_ledger_row_fn)(const eco_ledger_entry *e, void *user);
int eco_ledger_foreach(eco_ledger *l, double from_s, double to_s, eco_ledger_row_fn fn, void *user,
                       eco_error *err);

/* PRAGMA integrity_check == "ok" (0), else ECO_EFORMAT with the message. */
int eco_ledger_check(eco_ledger *l, eco_error *err);

#endif
