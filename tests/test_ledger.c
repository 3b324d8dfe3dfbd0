/* Tests for src/carbon/ledger: append, aggregates by every grouping with
 * hand-computed sums, bad input, read-only opening, and a writer killed
 * with SIGKILL again and again: the file must pass integrity_check and
 * hold a gap-free prefix of complete rows. */
#include "testutil.h"

#include "carbon/ledger.h"
#include "util/status.h"

#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NEAR(a, b) (fabs((a) - (b)) < 1e-9)

static eco_ledger_entry entry(const char *id, double t, const char *node, const char *zone,
                              const char *model, const char *policy, int64_t out_tokens,
                              double energy_j, double intensity) {
  eco_ledger_entry e;
  memset(&e, 0, sizeof e);
  snprintf(e.request_id, sizeof e.request_id, "%s", id);
  e.time_s = t;
  snprintf(e.node, sizeof e.node, "%s", node);
  snprintf(e.zone, sizeof e.zone, "%s", zone);
  snprintf(e.model, sizeof e.model, "%s", model);
  snprintf(e.policy, sizeof e.policy, "%s", policy);
  e.prompt_tokens = 10;
  e.output_tokens = out_tokens;
  e.latency_s = 1.5;
  e.directive_level = 2;
  snprintf(e.receipt.energy_source, sizeof e.receipt.energy_source, "rapl");
  snprintf(e.receipt.intensity_source, sizeof e.receipt.intensity_source, "static");
  e.receipt.intensity_estimated = true;
  assert_int_equal(eco_sci_compute(energy_j, intensity, 0.001, 1.0, &e.receipt), 0);
  return e;
}

static void test_append_aggregate(void **state) {
  (void)state;
  char *d = eco_test_tmpdir();
  char *path = eco_test_path(d, "ledger.db");
  eco_ledger *l = NULL;
  eco_error err = {0};
  assert_int_equal(eco_ledger_open(path, NULL, &l, &err), 0);
  /* 2026-11-21T10:xx and 11:xx UTC */
  double t0 = 1795255200.0; /* 2026-11-21T10:00:00Z */
  eco_ledger_entry e1 = entry("a", t0 + 60, "n1", "GB", "tiny", "greedy", 100, 3.6e6, 100);
  eco_ledger_entry e2 = entry("b", t0 + 120, "n2", "FR", "tiny", "greedy", 300, 3.6e6, 50);
  eco_ledger_entry e3 = entry("c", t0 + 3700, "n1", "GB", "big", "carbon", 600, 7.2e6, 200);
  assert_int_equal(eco_ledger_append(l, &e1, &err), 0);
  assert_int_equal(eco_ledger_append(l, &e2, &err), 0);
  assert_int_equal(eco_ledger_append(l, &e3, &err), 0);
  int64_t n = 0;
  assert_int_equal(eco_ledger_count(l, 0, 0, &n, &err), 0);
  assert_int_equal(n, 3);
  assert_int_equal(eco_ledger_count(l, t0, t0 + 3600, &n, &err), 0);
  assert_int_equal(n, 2);

  eco_ledger_agg *a = NULL;
  size_t na = 0;
  /* total: op = 100 + 50 + 400 = 550 g; embodied 3 x 0.001 */
  assert_int_equal(eco_ledger_aggregate(l, ECO_GROUP_TOTAL, 0, 0, &a, &na, &err), 0);
  assert_int_equal(na, 1);
  assert_int_equal(a[0].requests, 3);
  assert_int_equal(a[0].output_tokens, 1000);
  assert_true(NEAR(a[0].operational_g, 550));
  assert_true(NEAR(a[0].total_g, 550.003));
  assert_true(NEAR(a[0].energy_j, 14.4e6));
  /* energy-weighted intensity: 550 g / 4 kWh */
  assert_true(NEAR(a[0].intensity_gco2_kwh, 137.5));
  assert_true(NEAR(eco_ledger_agg_sci_per_request(&a[0]), 550.003 / 3));
  assert_true(NEAR(eco_ledger_agg_sci_per_1k_tokens(&a[0]), 550.003));
  assert_int_equal(a[0].estimated, 3);
  free(a);
  assert_int_equal(eco_ledger_aggregate(l, ECO_GROUP_HOUR, 0, 0, &a, &na, &err), 0);
  assert_int_equal(na, 2);
  assert_string_equal(a[0].key, "2026-11-21T10:00Z");
  assert_int_equal(a[0].requests, 2);
  assert_string_equal(a[1].key, "2026-11-21T11:00Z");
  free(a);
  assert_int_equal(eco_ledger_aggregate(l, ECO_GROUP_DAY, 0, 0, &a, &na, &err), 0);
  assert_int_equal(na, 1);
  assert_string_equal(a[0].key, "2026-11-21");
  free(a);
  assert_int_equal(eco_ledger_aggregate(l, ECO_GROUP_ZONE, 0, 0, &a, &na, &err), 0);
  assert_int_equal(na, 2);
  assert_string_equal(a[0].key, "FR");
  assert_true(NEAR(a[0].operational_g, 50));
  assert_string_equal(a[1].key, "GB");
  assert_true(NEAR(a[1].intensity_gco2_kwh, 500.0 / 3.0));
  free(a);
  assert_int_equal(eco_ledger_aggregate(l, ECO_GROUP_POLICY, 0, 0, &a, &na, &err), 0);
  assert_int_equal(na, 2);
  assert_string_equal(a[0].key, "carbon");
  free(a);
  assert_int_equal(eco_ledger_aggregate(l, ECO_GROUP_MODEL, t0, t0 + 3600, &a, &na, &err), 0);
  assert_int_equal(na, 1);
  assert_string_equal(a[0].key, "tiny");
  free(a);
  assert_int_equal(eco_ledger_aggregate(l, ECO_GROUP_NODE, 0, 0, &a, &na, &err), 0);
  assert_int_equal(na, 2);
  free(a);

  /* bad entries */
  eco_ledger_entry bad = e1;
  bad.request_id[0] = '\0';
  assert_int_equal(eco_ledger_append(l, &bad, &err), ECO_EINVAL);
  bad = e1;
  bad.receipt.total_g = NAN;
  assert_int_equal(eco_ledger_append(l, &bad, &err), ECO_EINVAL);
  assert_int_equal(eco_ledger_check(l, &err), 0);
  eco_ledger_close(l);

  /* read-only reopen sees the rows and refuses appends */
  eco_ledger_opts ro = {.read_only = true};
  assert_int_equal(eco_ledger_open(path, &ro, &l, &err), 0);
  assert_int_equal(eco_ledger_count(l, 0, 0, &n, &err), 0);
  assert_int_equal(n, 3);
  assert_int_equal(eco_ledger_append(l, &e1, &err), ECO_ESTATE);
  eco_ledger_close(l);
  /* a file that is not a database */
  char *junk = eco_test_path(d, "junk.db");
  assert_int_equal(eco_test_write_file(d, "junk.db", "this is not sqlite at all, no no no\n"), 0);
  assert_true(eco_ledger_open(junk, NULL, &l, &err) < 0);
  assert_null(l);
  char *missing = eco_test_path(d, "nodir/x.db");
  assert_true(eco_ledger_open(missing, &ro, &l, &err) < 0);
  free(missing);
  free(junk);
  free(path);
  eco_test_rmtree(d);
  free(d);
}

/* Writer child: appends rows k = start, start+1, ... whose fields are all
 * derived from k, forever (until killed). */
static void writer(const char *path, int64_t start) {
  eco_ledger *l = NULL;
  eco_error err = {0};
  if (eco_ledger_open(path, NULL, &l, &err)) _exit(3);
  for (int64_t k = start;; k++) {
    char id[32];
    snprintf(id, sizeof id, "req-%08lld", (long long)k);
    eco_ledger_entry e = entry(id, 1e9 + (double)k, "node", "GB", "m", "p", k, (double)k * 10, 100);
    if (eco_ledger_append(l, &e, &err)) _exit(4);
  }
}

static int check_row(const eco_ledger_entry *e, void *user) {
  int64_t *k = user;
  char id[32];
  snprintf(id, sizeof id, "req-%08lld", (long long)*k);
  if (strcmp(e->request_id, id) != 0) return 1; /* gap or reorder */
  if (e->output_tokens != *k || e->time_s != 1e9 + (double)*k) return 2;
  if (e->receipt.energy_j != (double)*k * 10 || strcmp(e->model, "m") != 0 ||
      strcmp(e->receipt.method, "sci-v1.0") != 0)
    return 3; /* partial row */
  if (fabs(e->receipt.total_g - (e->receipt.operational_g + e->receipt.embodied_g)) > 1e-12)
    return 4;
  (*k)++;
  return 0;
}

/* A ledger written before receipts had prompt_cached_tokens: opened for
 * writing it gains the column (old rows 0), opened read-only it reads 0. */
static int sum_cached(const eco_ledger_entry *e, void *user) {
  *(int64_t *)user += e->receipt.prompt_cached_tokens + 1000;
  return 0;
}

static void test_old_ledger_gains_cached_tokens(void **state) {
  (void)state;
  char *dir = eco_test_tmpdir();
  char *path = eco_test_path(dir, "old.db");
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(
      sqlite3_exec(db,
                   "CREATE TABLE receipts (id INTEGER PRIMARY KEY, request_id TEXT NOT NULL,"
                   " time_s REAL NOT NULL, node TEXT NOT NULL DEFAULT '', zone TEXT NOT NULL"
                   " DEFAULT '', model TEXT NOT NULL DEFAULT '', prompt_tokens INTEGER NOT NULL"
                   " DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0, latency_s REAL NOT"
                   " NULL DEFAULT 0, directive_level INTEGER NOT NULL DEFAULT -1, policy TEXT"
                   " NOT NULL DEFAULT '', energy_j REAL NOT NULL, energy_source TEXT NOT NULL"
                   " DEFAULT '', energy_estimated INTEGER NOT NULL DEFAULT 1, intensity_gco2_kwh"
                   " REAL NOT NULL, intensity_source TEXT NOT NULL DEFAULT '',"
                   " intensity_estimated INTEGER NOT NULL DEFAULT 1, operational_g REAL NOT"
                   " NULL, embodied_g REAL NOT NULL, total_g REAL NOT NULL, pue REAL NOT NULL"
                   " DEFAULT 1, method TEXT NOT NULL DEFAULT '');"
                   "INSERT INTO receipts(request_id, time_s, energy_j, intensity_gco2_kwh,"
                   " operational_g, embodied_g, total_g) VALUES ('old', 1, 2, 3, 4, 5, 6);",
                   NULL, NULL, NULL),
      SQLITE_OK);
  sqlite3_close(db);
  eco_error err = {0};
  eco_ledger *l;
  eco_ledger_opts ro = {.read_only = true};
  assert_int_equal(eco_ledger_open(path, &ro, &l, &err), 0);
  int64_t sum = 0;
  assert_int_equal(eco_ledger_foreach(l, 0, 0, sum_cached, &sum, &err), 0);
  assert_int_equal(sum, 1000); /* one row, 0 cached tokens */
  eco_ledger_close(l);
  assert_int_equal(eco_ledger_open(path, NULL, &l, &err), 0);
  eco_ledger_entry e = entry("new", 2, "n", "GB", "m", "", 5, 1.0, 100);
  e.receipt.prompt_cached_tokens = 48;
  assert_int_equal(eco_ledger_append(l, &e, &err), 0);
  sum = 0;
  assert_int_equal(eco_ledger_foreach(l, 0, 0, sum_cached, &sum, &err), 0);
  assert_int_equal(sum, 2048);
  eco_ledger_close(l);
  /* and again: the column is there now, nothing to add */
  assert_int_equal(eco_ledger_open(path, NULL, &l, &err), 0);
  eco_ledger_close(l);
  eco_test_rmtree(dir);
  free(path);
  free(dir);
}

static void test_kill9(void **state) {
  (void)state;
  char *d = eco_test_tmpdir();
  char *path = eco_test_path(d, "ledger.db");
  eco_ledger *r = NULL;
  eco_error err = {0};
  /* create it first so the reader can open */
  assert_int_equal(eco_ledger_open(path, NULL, &r, &err), 0);
  int64_t have = 0;
  for (int round = 0; round < 6; round++) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) writer(path, have);
    /* wait until the child has committed some rows (bounded), then kill */
    int64_t n = have;
    for (int i = 0; i < 20000 && n < have + 20 + round * 7; i++) {
      usleep(500);
      if (eco_ledger_count(r, 0, 0, &n, &err)) n = have;
    }
    kill(pid, SIGKILL);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    assert_int_equal(eco_ledger_count(r, 0, 0, &n, &err), 0);
    assert_true(n >= have); /* acknowledged rows never vanish */
    have = n;
  }
  assert_true(have > 0);
  eco_ledger_close(r);
  /* reopen as a fresh process would, then verify */
  assert_int_equal(eco_ledger_open(path, NULL, &r, &err), 0);
  assert_int_equal(eco_ledger_check(r, &err), 0);
  int64_t k = 0;
  assert_int_equal(eco_ledger_foreach(r, 0, 0, check_row, &k, &err), 0);
  int64_t n = 0;
  assert_int_equal(eco_ledger_count(r, 0, 0, &n, &err), 0);
  assert_int_equal(k, n);
  print_message("kill9: %lld rows over 6 SIGKILLed writers\n", (long long)n);
  eco_ledger_close(r);
  free(path);
  eco_test_rmtree(d);
  free(d);
}

/* A ledger written before energy_rails existed: a writer adds the column,
 * a reader sees "" through a temporary view; old rows keep their values. */
static int rails_row(const eco_ledger_entry *e, void *user) {
  char(*seen)[96] = user;
  snprintf(seen[e->time_s > 1.5 ? 1 : 0], 96, "%s|%s", e->receipt.energy_source,
           e->receipt.energy_rails);
  return 0;
}

static void test_old_ledger(void **state) {
  (void)state;
  char *d = eco_test_tmpdir();
  char *path = eco_test_path(d, "old.db");
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(
      sqlite3_exec(db,
                   "CREATE TABLE receipts (id INTEGER PRIMARY KEY, request_id TEXT NOT NULL,"
                   " time_s REAL NOT NULL, node TEXT NOT NULL DEFAULT '', zone TEXT NOT NULL"
                   " DEFAULT '', model TEXT NOT NULL DEFAULT '', prompt_tokens INTEGER NOT NULL"
                   " DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0, latency_s REAL NOT NULL"
                   " DEFAULT 0, directive_level INTEGER NOT NULL DEFAULT -1, policy TEXT NOT NULL"
                   " DEFAULT '', energy_j REAL NOT NULL, energy_source TEXT NOT NULL DEFAULT '',"
                   " energy_estimated INTEGER NOT NULL DEFAULT 1, intensity_gco2_kwh REAL NOT NULL,"
                   " intensity_source TEXT NOT NULL DEFAULT '', intensity_estimated INTEGER NOT"
                   " NULL DEFAULT 1, operational_g REAL NOT NULL, embodied_g REAL NOT NULL,"
                   " total_g REAL NOT NULL, pue REAL NOT NULL DEFAULT 1, method TEXT NOT NULL"
                   " DEFAULT '');"
                   "INSERT INTO receipts(request_id,time_s,energy_j,energy_source,"
                   "intensity_gco2_kwh,operational_g,embodied_g,total_g)"
                   " VALUES('old',1,2,'rapl',100,0.1,0,0.1);",
                   NULL, NULL, NULL),
      SQLITE_OK);
  sqlite3_close(db);
  eco_error err = {0};
  eco_ledger *l = NULL;
  /* read-only first: the file is not changed */
  eco_ledger_opts ro = {.read_only = true};
  char seen[2][96] = {"", ""};
  assert_int_equal(eco_ledger_open(path, &ro, &l, &err), 0);
  assert_int_equal(eco_ledger_foreach(l, 0, 0, rails_row, seen, &err), 0);
  assert_string_equal(seen[0], "rapl|");
  /* the routing facts of issue 18 read as a node's request without facts */
  eco_ledger_levers v;
  assert_int_equal(eco_ledger_levers_sum(l, 0, 0, &v, &err), 0);
  assert_int_equal(v.requests, 1);
  assert_int_equal(v.with_facts, 0);
  eco_ledger_agg *a = NULL;
  size_t na = 0;
  assert_int_equal(eco_ledger_aggregate(l, ECO_GROUP_RECORDER, 0, 0, &a, &na, &err), 0);
  assert_int_equal(na, 1);
  assert_string_equal(a[0].key, "node");
  free(a);
  assert_int_equal(eco_ledger_aggregate(l, ECO_GROUP_KIND, 0, 0, &a, &na, &err), 0);
  assert_string_equal(a[0].key, "request");
  free(a);
  eco_ledger_close(l);
  assert_int_equal(eco_ledger_open(path, NULL, &l, &err), 0);
  eco_ledger_entry e = entry("new", 2, "n", "SE", "m", "carbon", 5, 3, 50);
  snprintf(e.receipt.energy_rails, sizeof e.receipt.energy_rails, "VDD_GPU_SOC+VDD_CPU_CV");
  assert_int_equal(eco_ledger_append(l, &e, &err), 0);
  assert_int_equal(eco_ledger_foreach(l, 0, 0, rails_row, seen, &err), 0);
  assert_string_equal(seen[0], "rapl|");
  assert_string_equal(seen[1], "rapl|VDD_GPU_SOC+VDD_CPU_CV");
  /* the migrated file takes router rows */
  e = entry("new2", 3, "n", "SE", "m", "carbon", 5, 3, 50);
  e.recorder = ECO_LEDGER_BY_ROUTER;
  e.facts.counterfactual_g = 1;
  assert_int_equal(eco_ledger_append(l, &e, &err), 0);
  assert_int_equal(eco_ledger_levers_sum(l, 0, 0, &v, &err), 0);
  assert_int_equal(v.requests, 3);
  assert_int_equal(v.with_facts, 1);
  assert_int_equal(eco_ledger_check(l, &err), 0);
  eco_ledger_close(l);
  free(path);
  eco_test_rmtree(d);
  free(d);
}

/* The routing facts (issue 18): a router row and a node row for one
 * request count once; lever savings are scaled to the measured receipt;
 * evaluation overhead is apart; bad facts are refused. */
static int facts_row(const eco_ledger_entry *e, void *user) {
  int *n = user;
  if (strcmp(e->request_id, "r1") == 0 && e->recorder == ECO_LEDGER_BY_ROUTER) {
    assert_int_equal(e->kind, ECO_LEDGER_REQUEST);
    assert_string_equal(e->facts.group, "qa-short");
    assert_string_equal(e->facts.engine, "llama-cpp");
    assert_true(NEAR(e->facts.predicted_g, 0.5));
    assert_true(NEAR(e->facts.counterfactual_g, 2.0));
    assert_true(NEAR(e->facts.saved_routing_g, 0.6));
    assert_true(NEAR(e->facts.saved_directive_g, 0.4));
    n[0]++;
  }
  if (e->kind == ECO_LEDGER_EVAL) n[1]++;
  return 0;
}

static void test_router_facts(void **state) {
  (void)state;
  char *d = eco_test_tmpdir();
  char *path = eco_test_path(d, "facts.db");
  eco_ledger *l = NULL;
  eco_error err = {0};
  assert_int_equal(eco_ledger_open(path, NULL, &l, &err), 0);
  /* the node's row of r1 (no facts), then the router's */
  eco_ledger_entry node = entry("r1", 10, "n1", "GB", "m", "", 10, 3.6e6, 100);
  assert_int_equal(eco_ledger_append(l, &node, &err), 0);
  eco_ledger_entry rt = node;
  rt.recorder = ECO_LEDGER_BY_ROUTER;
  snprintf(rt.policy, sizeof rt.policy, "carbon");
  snprintf(rt.facts.group, sizeof rt.facts.group, "qa-short");
  snprintf(rt.facts.engine, sizeof rt.facts.engine, "llama-cpp");
  rt.facts.predicted_g = 0.5;
  rt.facts.counterfactual_g = 2.0; /* modelled: 2.0 - 0.6 - 0.4 = 1.0 */
  rt.facts.saved_routing_g = 0.6;
  rt.facts.saved_directive_g = 0.4;
  assert_int_equal(eco_ledger_append(l, &rt, &err), 0);
  /* a batch request: run-now 3 g predicted, planned 2 g, measured 4 g */
  eco_ledger_entry b = entry("b1", 20, "n2", "FR", "m", "", 10, 3.6e6, 100);
  b.kind = ECO_LEDGER_BATCH;
  b.recorder = ECO_LEDGER_BY_ROUTER;
  b.facts.counterfactual_g = 3.0;
  b.facts.saved_shifting_g = 1.0;
  b.receipt.total_g = 4.0;
  assert_int_equal(eco_ledger_append(l, &b, &err), 0);
  /* evaluation overhead and a node-only request (no facts) */
  eco_ledger_entry ev = entry("e1", 30, "n2", "FR", "m", "", 10, 3.6e6, 100);
  ev.kind = ECO_LEDGER_EVAL;
  ev.recorder = ECO_LEDGER_BY_ROUTER;
  ev.receipt.total_g = 0.25;
  assert_int_equal(eco_ledger_append(l, &ev, &err), 0);
  eco_ledger_entry direct = entry("d1", 40, "n1", "GB", "m", "", 10, 3.6e6, 100);
  assert_int_equal(eco_ledger_append(l, &direct, &err), 0);
  /* bad facts change nothing */
  eco_ledger_entry bad = rt;
  bad.facts.saved_directive_g = NAN;
  assert_int_equal(eco_ledger_append(l, &bad, &err), ECO_EINVAL);
  bad = rt;
  bad.kind = (eco_ledger_kind)7;
  assert_int_equal(eco_ledger_append(l, &bad, &err), ECO_EINVAL);
  int64_t n = 0;
  assert_int_equal(eco_ledger_count(l, 0, 0, &n, &err), 0);
  assert_int_equal(n, 5); /* rows, both of r1 */
  int seen[2] = {0, 0};
  assert_int_equal(eco_ledger_foreach(l, 0, 0, facts_row, seen, &err), 0);
  assert_int_equal(seen[0], 1);
  assert_int_equal(seen[1], 1);
  /* aggregates count r1 once, from the router's row */
  eco_ledger_agg *a = NULL;
  size_t na = 0;
  assert_int_equal(eco_ledger_aggregate(l, ECO_GROUP_RECORDER, 0, 0, &a, &na, &err), 0);
  assert_int_equal(na, 2);
  assert_string_equal(a[0].key, "node");
  assert_int_equal(a[0].requests, 1); /* d1 only */
  assert_string_equal(a[1].key, "router");
  assert_int_equal(a[1].requests, 3);
  free(a);
  assert_int_equal(eco_ledger_aggregate(l, ECO_GROUP_KIND, 0, 0, &a, &na, &err), 0);
  assert_int_equal(na, 3);
  assert_string_equal(a[0].key, "batch");
  assert_string_equal(a[1].key, "eval");
  assert_string_equal(a[2].key, "request");
  assert_int_equal(a[2].requests, 2);
  free(a);
  assert_int_equal(eco_ledger_aggregate(l, ECO_GROUP_DIRECTIVE, 0, 0, &a, &na, &err), 0);
  assert_int_equal(na, 1);
  assert_string_equal(a[0].key, "L2");
  free(a);
  eco_ledger_levers v;
  assert_int_equal(eco_ledger_levers_sum(l, 0, 0, &v, &err), 0);
  assert_int_equal(v.requests, 3); /* r1, b1, d1 */
  assert_int_equal(v.with_facts, 2);
  assert_int_equal(v.eval_rows, 1);
  assert_int_equal(v.by_kind[ECO_LEDGER_BATCH], 1);
  double g1 = rt.receipt.total_g; /* scale g1 / 1.0 */
  assert_true(NEAR(v.actual_g, g1 + 4.0));
  assert_true(NEAR(v.routing_g, 0.6 * g1));
  assert_true(NEAR(v.directive_g, 0.4 * g1));
  assert_true(NEAR(v.shifting_g, 1.0 * 4.0 / 2.0));
  assert_true(NEAR(v.baseline_g, v.actual_g + v.routing_g + v.directive_g + v.shifting_g));
  assert_true(NEAR(v.predicted_baseline_g, 5.0));
  assert_true(NEAR(v.predicted_saved_g, 2.0));
  assert_true(NEAR(v.eval_g, 0.25));
  assert_true(NEAR(v.net_saved_g, v.routing_g + v.directive_g + v.shifting_g - 0.25));
  /* the window applies */
  assert_int_equal(eco_ledger_levers_sum(l, 15, 25, &v, &err), 0);
  assert_int_equal(v.requests, 1);
  assert_true(NEAR(v.shifting_g, 2.0));
  eco_ledger_close(l);
  free(path);
  eco_test_rmtree(d);
  free(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_append_aggregate),
      cmocka_unit_test(test_kill9),
      cmocka_unit_test(test_old_ledger_gains_cached_tokens),
      cmocka_unit_test(test_old_ledger),
      cmocka_unit_test(test_router_facts),
  };
  return cmocka_run_group_tests_name("ledger", tests, NULL, NULL);
}
