/* bench_accounting: the cost of carbon accounting per request, each figure
 * next to a peer measured in the same run.
 *   1. ledger append (eco_ledger_append, WAL, synchronous=NORMAL) vs a raw
 *      sqlite3 prepared INSERT of the same 21 columns, same pragmas, one
 *      autocommit transaction per row;
 *   2. trace lookup (eco_intensity_get on a year of hourly rows) vs reading
 *      the value straight out of an array by index (the lower bound);
 *   3. in-memory accounting per request (tracker begin/progress/end + the
 *      receipt) vs one ledger append.
 * Usage: bench_accounting [N rows=2000] */
#include "accounting/setup.h"
#include "carbon/intensity.h"
#include "carbon/ledger.h"
#include "energy/tracker.h"
#include "util/timeutil.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static double now(void) { return (double)eco_time_mono_ns() * 1e-9; }

static eco_ledger_entry entry(int k) {
  eco_ledger_entry e;
  memset(&e, 0, sizeof e);
  snprintf(e.request_id, sizeof e.request_id, "req-%d", k);
  e.time_s = 1.7e9 + k;
  snprintf(e.node, sizeof e.node, "node-a");
  snprintf(e.zone, sizeof e.zone, "GB");
  snprintf(e.model, sizeof e.model, "tiny");
  snprintf(e.policy, sizeof e.policy, "greedy");
  e.prompt_tokens = 20;
  e.output_tokens = 100;
  e.latency_s = 0.5;
  e.directive_level = 1;
  snprintf(e.receipt.energy_source, sizeof e.receipt.energy_source, "model");
  snprintf(e.receipt.intensity_source, sizeof e.receipt.intensity_source, "static");
  eco_sci_compute(50.0, 120.0, 0.001, 1.2, &e.receipt);
  return e;
}

static double bench_ledger(const char *path, int n) {
  eco_ledger *l;
  eco_error err = {0};
  if (eco_ledger_open(path, NULL, &l, &err)) {
    fprintf(stderr, "%s\n", err.msg);
    exit(1);
  }
  double t0 = now();
  for (int k = 0; k < n; k++) {
    eco_ledger_entry e = entry(k);
    if (eco_ledger_append(l, &e, &err)) exit(1);
  }
  double dt = now() - t0;
  eco_ledger_close(l);
  return dt;
}

static double bench_raw(const char *path, int n) {
  sqlite3 *db;
  if (sqlite3_open(path, &db) != SQLITE_OK) exit(1);
  sqlite3_exec(db,
               "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
               "CREATE TABLE r(id INTEGER PRIMARY KEY, a TEXT, b REAL, c TEXT, d TEXT, e TEXT,"
               " f INTEGER, g INTEGER, h REAL, i INTEGER, j TEXT, k REAL, l TEXT, m INTEGER,"
               " n REAL, o TEXT, p INTEGER, q REAL, r REAL, s REAL, t REAL, u TEXT);"
               "CREATE INDEX rt ON r(b);",
               NULL, NULL, NULL);
  sqlite3_stmt *st;
  sqlite3_prepare_v2(db,
                     "INSERT INTO r(a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s,t,u) VALUES "
                     "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                     -1, &st, NULL);
  double t0 = now();
  for (int k = 0; k < n; k++) {
    eco_ledger_entry e = entry(k);
    int i = 1;
    sqlite3_bind_text(st, i++, e.request_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(st, i++, e.time_s);
    sqlite3_bind_text(st, i++, e.node, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, i++, e.zone, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, i++, e.model, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, i++, e.prompt_tokens);
    sqlite3_bind_int64(st, i++, e.output_tokens);
    sqlite3_bind_double(st, i++, e.latency_s);
    sqlite3_bind_int(st, i++, e.directive_level);
    sqlite3_bind_text(st, i++, e.policy, -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(st, i++, e.receipt.energy_j);
    sqlite3_bind_text(st, i++, e.receipt.energy_source, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, i++, 1);
    sqlite3_bind_double(st, i++, e.receipt.intensity_gco2_kwh);
    sqlite3_bind_text(st, i++, e.receipt.intensity_source, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, i++, 1);
    sqlite3_bind_double(st, i++, e.receipt.operational_g);
    sqlite3_bind_double(st, i++, e.receipt.embodied_g);
    sqlite3_bind_double(st, i++, e.receipt.total_g);
    sqlite3_bind_double(st, i++, e.receipt.pue);
    sqlite3_bind_text(st, i++, e.receipt.method, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE) exit(1);
    sqlite3_reset(st);
  }
  double dt = now() - t0;
  sqlite3_finalize(st);
  sqlite3_close(db);
  return dt;
}

/* 2. trace lookup vs array index: writes one year of hourly rows to csv,
 * then looks up random hours both ways and prints the line. Returns 0 or 1. */
static int bench_trace(const char *csv) {
  FILE *f = fopen(csv, "w");
  if (!f) return 1;
  fprintf(f, "timestamp,zone,value\n");
  const int rows = 8760;
  double *vals = malloc(rows * sizeof *vals);
  if (!vals) {
    fclose(f);
    return 1;
  }
  for (int i = 0; i < rows; i++) {
    vals[i] = 100 + (i * 37) % 200;
    fprintf(f, "%.0f,GB,%.0f\n", 1672531200.0 + i * 3600.0, vals[i]);
  }
  fclose(f);
  eco_intensity_provider *p;
  eco_error err = {0};
  if (eco_intensity_trace_open(csv, NULL, &p, &err)) {
    free(vals);
    return 1;
  }
  const int lookups = 200000;
  unsigned x = 12345;
  double sum1 = 0, sum2 = 0;
  double t0 = now();
  for (int i = 0; i < lookups; i++) {
    x = x * 1103515245u + 12345u;
    int h = (int)(x % (unsigned)rows);
    eco_intensity v;
    eco_intensity_get(p, "GB", 1672531200.0 + h * 3600.0 + 17, &v, NULL);
    sum1 += v.gco2_kwh;
  }
  double tg = now() - t0;
  x = 12345;
  t0 = now();
  for (int i = 0; i < lookups; i++) {
    x = x * 1103515245u + 12345u;
    int h = (int)(x % (unsigned)rows);
    double t = 1672531200.0 + h * 3600.0 + 17;
    sum2 += vals[(int)((t - 1672531200.0) / 3600.0)];
  }
  double ta = now() - t0;
  printf("trace get          %8.1f ns/op    array index        %8.1f ns/op    ratio %.1f  %s\n",
         tg / lookups * 1e9, ta / lookups * 1e9, tg / ta,
         sum1 == sum2 ? "(same values)" : "MISMATCH");
  eco_intensity_free(p);
  free(vals);
  return 0;
}

/* 3. per-request accounting in memory (tracker begin/progress/end and the
 * receipt) vs one ledger append, whose time per row (s) is given. Returns 0
 * or 1. */
static int bench_tracker(double ledger_row_s) {
  eco_tracker *t;
  eco_error err = {0};
  if (eco_tracker_new(NULL, NULL, &t, &err)) return 1;
  eco_tracker_settle_at(t, 0, 0);
  eco_embodied emb;
  eco_embodied_make(26.356568, 5, 1, &emb);
  eco_receipt_in in = {.energy_source = "model",
                       .energy_estimated = true,
                       .intensity_gco2_kwh = 120,
                       .intensity_source = "static",
                       .embodied_g_per_s = eco_sci_embodied_rate(&emb),
                       .reserved_s = 0.5,
                       .share = emb.share,
                       .pue = 1.2,
                       .method = "sci-v1.0 average"};
  const int reqs = 100000;
  double meter = 0, acc = 0;
  double t0 = now();
  for (int i = 0; i < reqs; i++) {
    eco_tracker_begin(t, (uint64_t)i);
    for (int s = 0; s < 4; s++)
      eco_tracker_progress(t, (uint64_t)i, s == 0 ? 20 : 0, 25, 0);
    meter += 10;
    double j;
    eco_tracker_end_at(t, (uint64_t)i, meter, i + 1.0, &j);
    eco_receipt r;
    in.energy_j = j;
    eco_receipt_build(&in, &r);
    acc += r.total_g;
  }
  double tt = now() - t0;
  printf("tracker+receipt    %8.1f ns/req   ledger append     %8.2f us/row   ratio %.4f  (%g)\n",
         tt / reqs * 1e9, ledger_row_s * 1e6, (tt / reqs) / ledger_row_s, acc > 0 ? 1.0 : 0.0);
  eco_tracker_free(t);
  return 0;
}

/* Removes a database and its WAL and shared-memory files. */
static void unlink_db(const char *path) {
  char w[300];
  unlink(path);
  snprintf(w, sizeof w, "%s-wal", path);
  unlink(w);
  snprintf(w, sizeof w, "%s-shm", path);
  unlink(w);
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 2000;
  if (n < 10) n = 10;
  char dir[] = "/tmp/bench_accounting.XXXXXX";
  if (!mkdtemp(dir)) return 1;
  char p1[256], p2[256], p3[256];
  snprintf(p1, sizeof p1, "%s/ledger.db", dir);
  snprintf(p2, sizeof p2, "%s/raw.db", dir);
  snprintf(p3, sizeof p3, "%s/t.csv", dir);

  /* 1. ledger vs raw sqlite */
  double tl = bench_ledger(p1, n), tr = bench_raw(p2, n);
  printf("ledger append      %8.2f us/row   raw sqlite insert %8.2f us/row   ratio %.2f\n",
         tl / n * 1e6, tr / n * 1e6, tl / tr);
  int rc = bench_trace(p3);
  if (!rc) rc = bench_tracker(tl / n);
  unlink_db(p1);
  unlink_db(p2);
  unlink(p3);
  rmdir(dir);
  return rc;
}
