/* Tests of the cluster simulator: event heap, RNG, device profiles and small
 * hand-checked scenarios (one node, known arrivals, exact completion times
 * and energy), determinism, and the router policies driving it. */
#include "testutil.h"

#include "sim/cluster.h"
#include "sim/des.h"
#include "sim/device.h"
#include "sim/route.h"

#include <math.h>

#define EPS 1e-9

/* ---- heap and rng -------------------------------------------------------- */

static void test_heap_order(void **state) {
  (void)state;
  eco_sim_heap h;
  eco_sim_heap_init(&h);
  double ts[] = {5, 1, 3, 1, 9, 0.5, 3};
  for (size_t i = 0; i < 7; i++)
    assert_int_equal(eco_sim_heap_push(&h, ts[i], 0, (uint32_t)i, 0), 0);
  double exp_t[] = {0.5, 1, 1, 3, 3, 5, 9};
  uint32_t exp_a[] = {5, 1, 3, 2, 6, 0, 4}; /* ties pop in insertion order */
  eco_sim_event e;
  for (size_t i = 0; i < 7; i++) {
    assert_int_equal(eco_sim_heap_pop(&h, &e), 0);
    assert_true(e.t == exp_t[i]);
    assert_int_equal(e.a, exp_a[i]);
  }
  assert_int_equal(eco_sim_heap_pop(&h, &e), ECO_ENOENT);
  eco_sim_heap_free(&h);
}

static void test_rng(void **state) {
  (void)state;
  eco_sim_rng a, b;
  eco_sim_rng_seed(&a, 42);
  eco_sim_rng_seed(&b, 42);
  for (int i = 0; i < 100; i++)
    assert_true(eco_sim_rng_next(&a) == eco_sim_rng_next(&b));
  eco_sim_rng_seed(&b, 43);
  assert_true(eco_sim_rng_next(&a) != eco_sim_rng_next(&b));
  double sum = 0;
  for (int i = 0; i < 100000; i++) {
    double u = eco_sim_rng_uniform(&a);
    assert_true(u >= 0 && u < 1);
    sum += eco_sim_rng_exp(&a, 2.0);
  }
  assert_true(fabs(sum / 100000 - 0.5) < 0.01); /* mean of Exp(2) */
  for (int i = 0; i < 1000; i++)
    assert_true(eco_sim_rng_below(&a, 7) < 7);
}

/* ---- devices ------------------------------------------------------------- */

static const char *dev_yaml =
    "device:\n"
    "  name: toy\n"
    "  memory_gb: 1\n"
    "  idle_w: 10\n"
    "  embodied_kg: 1\n"
    "  lifetime_years: 1\n"
    "  max_batch: 4\n"
    "  model: {weights_gb: 0.5, kv_bytes_per_token: 1000}\n"
    "  points:\n"
    "    - {batch: 1, prefill_tok_s: 100, decode_tok_s: 10, power_w: 50}\n"
    "    - {batch: 3, prefill_tok_s: 200, decode_tok_s: 20, power_w: 70}\n";

static void test_device_yaml(void **state) {
  (void)state;
  eco_sim_device d;
  eco_error err = {0};
  assert_int_equal(eco_sim_device_load_string(dev_yaml, "toy.yaml", &d, &err), 0);
  assert_string_equal(d.name, "toy");
  assert_int_equal(d.n_points, 2);
  assert_true(d.usable_mem_bytes == 1e9 && d.weights_bytes == 0.5e9);
  double pf, dc, pw;
  eco_sim_device_at(&d, 2, &pf, &dc, &pw); /* halfway */
  assert_true(fabs(pf - 150) < EPS && fabs(dc - 15) < EPS && fabs(pw - 60) < EPS);
  eco_sim_device_at(&d, 8, &pf, &dc, &pw); /* clamped */
  assert_true(pf == 200 && dc == 20 && pw == 70);
  assert_true(fabs(eco_sim_device_mem_need(&d, 10) - (0.5e9 + 10000)) < EPS);
  /* a typo is reported */
  const char *bad = "device:\n  name: x\n  idle_watts: 3\n  points: []\n";
  assert_int_equal(eco_sim_device_load_string(bad, "bad.yaml", &d, &err), ECO_ECONFIG);
  assert_non_null(strstr(err.msg, "idle_watts"));
  /* decreasing batch sizes are refused */
  const char *dec = "device:\n  name: x\n  memory_gb: 1\n  points:\n"
                    "    - {batch: 2, prefill_tok_s: 1, decode_tok_s: 1, power_w: 1}\n"
                    "    - {batch: 1, prefill_tok_s: 1, decode_tok_s: 1, power_w: 1}\n";
  assert_int_equal(eco_sim_device_load_string(dec, "dec.yaml", &d, &err), ECO_EINVAL);
}

static void test_device_bench_import(void **state) {
  (void)state;
  char *dir = eco_test_tmpdir();
  assert_int_equal(eco_test_write_file(dir, "b.json",
                                       "{\"device\":\"measured\",\"results\":["
                                       "{\"batch\":1,\"prefill_tok_s\":300,\"decode_tok_s\":30,"
                                       "\"power_w\":12},"
                                       "{\"batch_size\":4,\"prompt_tok_s\":600,\"tokens_per_s\":90,"
                                       "\"avg_power_w\":18}]}"),
                   0);
  eco_sim_device d;
  eco_error err = {0};
  assert_int_equal(eco_sim_device_load_string(dev_yaml, "toy.yaml", &d, &err), 0);
  char *p = eco_test_path(dir, "b.json");
  assert_int_equal(eco_sim_device_import_bench(p, &d, &err), 0);
  assert_string_equal(d.name, "measured");
  assert_int_equal(d.n_points, 2);
  assert_true(d.batch[1] == 4 && d.decode_tok_s[1] == 90 && d.power_w[1] == 18);
  assert_true(d.idle_w == 10); /* the rest of the profile is kept */
  assert_int_equal(eco_test_write_file(dir, "bad.json", "{\"results\":[{\"batch\":1}]}"), 0);
  free(p);
  p = eco_test_path(dir, "bad.json");
  assert_int_equal(eco_sim_device_import_bench(p, &d, &err), ECO_EFORMAT);
  free(p);
  eco_test_rmtree(dir);
  free(dir);
}

/* ---- hand-checked scenarios ---------------------------------------------- */

#define MAXREC 16
typedef struct rec {
  size_t n, n_refused;
  eco_sim_req r[MAXREC];
  bool refused[MAXREC];
} rec;

static void on_done(void *user, const eco_sim_req *req, bool refused) {
  rec *x = user;
  if (refused) x->n_refused++;
  if (req->id < MAXREC) {
    x->r[req->id] = *req;
    x->refused[req->id] = refused;
  }
  x->n++;
}

static int first_node(void *ctx, const eco_sim *sim, const eco_sim_req *req, size_t *node) {
  (void)ctx;
  (void)sim;
  (void)req;
  *node = 0;
  return 0;
}

static double ci100[1] = {100};

typedef struct scen {
  eco_sim_device dev;
  eco_sim_zone zone;
  eco_sim_node_cfg node;
  eco_sim_cfg cfg;
  eco_sim_len lens[8];
  double times[8];
  rec rc;
  eco_sim_policy_ops ops;
} scen;

/* One node: b=1 prefill 100 tok/s, decode 10 tok/s, 50 W; b=2 prefill 150,
 * decode 16 tok/s, 80 W; idle 10 W; embodied 1 g/s; intensity 100 g/kWh. */
static void scen_init(scen *s, size_t n, const double *t, const uint32_t *prompt,
                      const uint32_t *out) {
  memset(s, 0, sizeof *s);
  eco_sim_device *d = &s->dev;
  snprintf(d->name, sizeof d->name, "toy");
  d->n_points = 2;
  d->batch[0] = 1;
  d->prefill_tok_s[0] = 100;
  d->decode_tok_s[0] = 10;
  d->power_w[0] = 50;
  d->batch[1] = 2;
  d->prefill_tok_s[1] = 150;
  d->decode_tok_s[1] = 16;
  d->power_w[1] = 80;
  d->idle_w = 10;
  d->usable_mem_bytes = 1e12;
  d->max_batch = 2;
  d->embodied = (eco_embodied){.total_g = 1000, .lifetime_s = 1000, .share = 1}; /* 1 g/s */
  snprintf(s->zone.name, sizeof s->zone.name, "Z");
  s->zone.ci = ci100;
  s->zone.n_hours = 1;
  s->zone.pue = 1;
  for (size_t i = 0; i < n; i++) {
    s->times[i] = t[i];
    s->lens[i].prompt_tok = prompt[i];
    s->lens[i].out_tok[0] = out[i];
  }
  eco_sim_cfg *c = &s->cfg;
  c->devices = &s->dev;
  c->n_devices = 1;
  c->zones = &s->zone;
  c->n_zones = 1;
  c->nodes = &s->node;
  c->n_nodes = 1;
  c->workload.arrival = ECO_SIM_ARRIVAL_TRACE;
  c->workload.times = s->times;
  c->workload.trace_len = s->lens;
  c->workload.n_times = n;
  c->workload.n_levels = 1;
  c->workload.level_mix[0] = 1;
  c->workload.level_mult[0] = 1;
  c->batch_size = 1;
  c->duration_s = 200;
  c->seed = 1;
  c->on_done = on_done;
  c->user = &s->rc;
  s->ops.choose = first_node;
  s->ops.name = "first";
}

static void test_one_node_fifo(void **state) {
  (void)state;
  scen s;
  double t[] = {0, 1, 100};
  uint32_t p[] = {100, 100, 100}, o[] = {20, 20, 20};
  scen_init(&s, 3, t, p, o);
  eco_sim_result r;
  eco_error err = {0};
  assert_int_equal(eco_sim_run(&s.cfg, &s.ops, &r, &err), 0);
  /* each request: prefill 100/100 = 1 s, decode 20 * 0.1 = 2 s */
  assert_int_equal(s.rc.n, 3);
  assert_true(fabs(s.rc.r[0].start_s - 0) < EPS && fabs(s.rc.r[0].done_s - 3) < EPS);
  assert_true(fabs(s.rc.r[1].start_s - 3) < EPS && fabs(s.rc.r[1].done_s - 6) < EPS);
  assert_true(fabs(s.rc.r[2].start_s - 100) < EPS && fabs(s.rc.r[2].done_s - 103) < EPS);
  assert_true(fabs(s.rc.r[1].energy_j - 150) < EPS); /* 50 W * 3 s */
  assert_int_equal(r.completed, 3);
  assert_true(fabs(r.energy_active_j - 450) < 1e-6);
  assert_true(fabs(r.energy_idle_j - 10 * (200 - 9)) < 1e-6); /* idle 191 s * 10 W */
  assert_true(fabs(r.op_g - (450 + 1910) / 3.6e6 * 100) < 1e-9);
  assert_true(fabs(r.emb_g - 9) < 1e-9);        /* busy 9 s * 1 g/s */
  assert_true(fabs(r.emb_idle_g - 191) < 1e-9); /* idle 191 s * 1 g/s */
  assert_true(fabs(r.lat_sum_s - (3 + 5 + 3)) < EPS);
  assert_true(fabs(r.lat_max_s - 5) < EPS);
  assert_true(fabs(r.util_mean - 9.0 / 200) < 1e-12);
  double p100 = eco_sim_result_quantile(&r, 1.0);
  assert_true(fabs(p100 - 5) < EPS);
  double p50 = eco_sim_result_quantile(&r, 0.5); /* bin edge just above 3 s */
  assert_true(p50 >= 3 && p50 < 3 * 1.012);
  eco_sim_result_free(&r);
}

static void test_one_node_batch(void **state) {
  (void)state;
  scen s;
  double t[] = {0, 1};
  uint32_t p[] = {100, 100}, o[] = {20, 10};
  scen_init(&s, 2, t, p, o);
  s.cfg.batch_size = 2;
  s.cfg.batch_wait_s = 10;
  eco_sim_result r;
  eco_error err = {0};
  assert_int_equal(eco_sim_run(&s.cfg, &s.ops, &r, &err), 0);
  /* batch of 2 starts at t=1: prefill 200/150 s, step 2/16 = 0.125 s */
  double pre = 200.0 / 150.0;
  assert_true(fabs(s.rc.r[0].start_s - 1) < EPS);
  assert_true(fabs(s.rc.r[0].done_s - (1 + pre + 20 * 0.125)) < EPS);
  assert_true(fabs(s.rc.r[1].done_s - (1 + pre + 10 * 0.125)) < EPS);
  /* energy 80 W over the batch; prefill split by prompt, decode by output */
  double e_pre = 80 * pre, e_dec = 80 * 2.5;
  assert_true(fabs(s.rc.r[0].energy_j - (e_pre / 2 + e_dec * 2 / 3)) < 1e-9);
  assert_true(fabs(s.rc.r[1].energy_j - (e_pre / 2 + e_dec / 3)) < 1e-9);
  assert_true(fabs(r.energy_active_j - (e_pre + e_dec)) < 1e-9);
  assert_int_equal(r.batches, 1);
  eco_sim_result_free(&r);
}

static void test_batch_timer_and_slo(void **state) {
  (void)state;
  scen s;
  double t[] = {0};
  uint32_t p[] = {100}, o[] = {20};
  scen_init(&s, 1, t, p, o);
  s.cfg.batch_size = 2;
  s.cfg.batch_wait_s = 5;
  eco_sim_result r;
  eco_error err = {0};
  assert_int_equal(eco_sim_run(&s.cfg, &s.ops, &r, &err), 0);
  /* alone: waits the full 5 s, then runs at batch 1 for 3 s */
  assert_true(fabs(s.rc.r[0].start_s - 5) < EPS && fabs(s.rc.r[0].done_s - 8) < EPS);
  eco_sim_result_free(&r);
  /* with a 4 s SLO the wait is cut: a batch of 2 would take 200/150 + 20*0.125 s */
  scen_init(&s, 1, t, p, o);
  s.cfg.batch_size = 2;
  s.cfg.batch_wait_s = 5;
  s.cfg.workload.slo_s = 4;
  assert_int_equal(eco_sim_run(&s.cfg, &s.ops, &r, &err), 0);
  double latest = 4 - (200.0 / 150.0 + 2.5);
  assert_true(fabs(s.rc.r[0].start_s - latest) < EPS);
  assert_true(fabs(s.rc.r[0].done_s - (latest + 3)) < EPS);
  assert_int_equal(r.slo_met, 1);
  eco_sim_result_free(&r);
}

/* Hourly intensity: a batch uses its start hour's value; idle power is
 * integrated hour by hour. */
static void test_hourly_intensity(void **state) {
  (void)state;
  scen s;
  double t[] = {0, 3600};
  uint32_t p[] = {100, 100}, o[] = {20, 20};
  scen_init(&s, 2, t, p, o);
  static double ci2[2] = {100, 300};
  s.zone.ci = ci2;
  s.zone.n_hours = 2;
  s.cfg.duration_s = 7200;
  eco_sim_result r;
  eco_error err = {0};
  assert_int_equal(eco_sim_run(&s.cfg, &s.ops, &r, &err), 0);
  /* batches: 150 J each (50 W * 3 s) at 100 then 300 g/kWh */
  assert_true(fabs(s.rc.r[0].op_g - 150 / 3.6e6 * 100) < 1e-12);
  assert_true(fabs(s.rc.r[1].op_g - 150 / 3.6e6 * 300) < 1e-12);
  /* idle: [3, 3600) at 100, [3603, 7200) at 300, 10 W */
  double idle_g = 10 * 3597 / 3.6e6 * 100 + 10 * 3597 / 3.6e6 * 300;
  assert_true(fabs(r.op_idle_g - idle_g) < 1e-9);
  assert_true(fabs(r.op_g - (idle_g + 150 / 3.6e6 * 400)) < 1e-9);
  assert_true(r.n_hours >= 2);
  assert_true(r.hours[0].ci_mean == 100 && r.hours[1].ci_mean == 300);
  eco_sim_result_free(&r);
}

/* The policy sees the level's mean output, or with oracle_lengths the true
 * one. */
static void test_expected_output(void **state) {
  (void)state;
  scen s;
  double t[] = {0, 100};
  uint32_t p[] = {10, 10}, o[] = {10, 30};
  scen_init(&s, 2, t, p, o);
  eco_sim_result r;
  eco_error err = {0};
  assert_int_equal(eco_sim_run(&s.cfg, &s.ops, &r, &err), 0);
  assert_int_equal(s.rc.r[0].expected_out, 20); /* mean of the trace's lengths */
  assert_int_equal(s.rc.r[1].expected_out, 20);
  eco_sim_result_free(&r);
  scen_init(&s, 2, t, p, o);
  s.cfg.workload.oracle_lengths = true;
  assert_int_equal(eco_sim_run(&s.cfg, &s.ops, &r, &err), 0);
  assert_int_equal(s.rc.r[0].expected_out, 10);
  assert_int_equal(s.rc.r[1].expected_out, 30);
  eco_sim_result_free(&r);
}

static void test_memory_limits(void **state) {
  (void)state;
  scen s;
  double t[] = {0, 0, 0, 0};
  uint32_t p[] = {30, 100, 30, 30}, o[] = {20, 20, 20, 20};
  scen_init(&s, 4, t, p, o);
  s.dev.usable_mem_bytes = 1000;
  s.dev.kv_bytes_per_token = 10; /* room for 100 tokens */
  s.dev.max_batch = 4;
  s.cfg.batch_size = 4;
  s.cfg.batch_wait_s = 1;
  eco_sim_result r;
  eco_error err = {0};
  assert_int_equal(eco_sim_run(&s.cfg, &s.ops, &r, &err), 0);
  /* request 1 (120 tokens) cannot fit alone: refused. Requests 0 and 2 fit
   * together (100 tokens); request 3 waits for the next batch. */
  assert_int_equal(r.refused, 1);
  assert_true(s.rc.refused[1]);
  assert_int_equal(r.completed, 3);
  assert_true(s.rc.r[0].start_s == 0 && s.rc.r[2].start_s == 0);
  assert_true(s.rc.r[3].start_s > 0);
  assert_true(fabs(s.rc.r[3].start_s - s.rc.r[0].done_s) < EPS);
  assert_int_equal(r.batches, 2);
  eco_sim_result_free(&r);
}

/* ---- determinism and the router's policies -------------------------------- */

typedef struct poisson {
  eco_sim_device dev;
  eco_sim_zone zones[2];
  eco_sim_node_cfg nodes[4];
  eco_sim_cfg cfg;
  double ci_lo[24], ci_hi[24];
} poisson;

static void poisson_init(poisson *x, uint64_t seed) {
  memset(x, 0, sizeof *x);
  eco_error err = {0};
  assert_int_equal(eco_sim_device_load_string(dev_yaml, "toy.yaml", &x->dev, &err), 0);
  x->dev.usable_mem_bytes = 1e12;
  for (int h = 0; h < 24; h++) {
    x->ci_lo[h] = 50 + h;
    x->ci_hi[h] = 500 - h;
  }
  snprintf(x->zones[0].name, sizeof x->zones[0].name, "LO");
  x->zones[0].ci = x->ci_lo;
  x->zones[0].n_hours = 24;
  x->zones[0].pue = 1;
  snprintf(x->zones[1].name, sizeof x->zones[1].name, "HI");
  x->zones[1].ci = x->ci_hi;
  x->zones[1].n_hours = 24;
  x->zones[1].pue = 1.2;
  for (size_t i = 0; i < 4; i++)
    x->nodes[i] = (eco_sim_node_cfg){.device = 0, .zone = i % 2};
  eco_sim_cfg *c = &x->cfg;
  c->devices = &x->dev;
  c->n_devices = 1;
  c->zones = x->zones;
  c->n_zones = 2;
  c->nodes = x->nodes;
  c->n_nodes = 4;
  c->workload.arrival = ECO_SIM_ARRIVAL_POISSON;
  c->workload.rate_per_s = 0.05;
  c->workload.daily_amp = 0.5;
  c->workload.peak_hour = 14;
  c->workload.prompt_median = 50;
  c->workload.prompt_sigma = 0.5;
  c->workload.out_median = 20;
  c->workload.out_sigma = 0.5;
  c->workload.n_levels = 2;
  c->workload.level_mix[0] = 0.7;
  c->workload.level_mix[1] = 0.3;
  c->workload.level_mult[0] = 1;
  c->workload.level_mult[1] = 0.5;
  c->batch_size = 2;
  c->batch_wait_s = 1;
  c->duration_s = 86400;
  c->seed = seed;
}

static void run_policy(poisson *x, eco_policy_kind k, eco_sim_result *r) {
  eco_sim_router rt;
  eco_sim_policy_ops ops;
  eco_error err = {0};
  assert_int_equal(eco_sim_router_init(&rt, k, &x->cfg, &ops, &err), 0);
  assert_int_equal(eco_sim_run(&x->cfg, &ops, r, &err), 0);
  eco_sim_router_free(&rt);
}

static void test_deterministic(void **state) {
  (void)state;
  poisson *x = malloc(sizeof *x);
  assert_non_null(x);
  eco_sim_result a, b, c;
  poisson_init(x, 7);
  run_policy(x, ECO_POLICY_ROUND_ROBIN, &a);
  run_policy(x, ECO_POLICY_ROUND_ROBIN, &b);
  assert_true(a.arrived > 3000 && a.arrived < 5500); /* 0.05/s over a day */
  assert_int_equal(a.arrived, b.arrived);
  assert_int_equal(a.completed, b.completed);
  assert_true(a.op_g == b.op_g && a.lat_sum_s == b.lat_sum_s &&
              a.energy_active_j == b.energy_active_j);
  assert_memory_equal(a.hist, b.hist, sizeof a.hist);
  x->cfg.seed = 8;
  run_policy(x, ECO_POLICY_ROUND_ROBIN, &c);
  assert_true(c.arrived != a.arrived || c.lat_sum_s != a.lat_sum_s);
  /* the daily cycle: more arrivals around the 14:00 peak than at 02:00 */
  assert_true(a.hours[14].done > a.hours[2].done);
  eco_sim_result_free(&a);
  eco_sim_result_free(&b);
  eco_sim_result_free(&c);
  free(x);
}

static void test_router_policies(void **state) {
  (void)state;
  poisson *x = malloc(sizeof *x);
  assert_non_null(x);
  poisson_init(x, 3);
  eco_sim_result rr, carbon;
  run_policy(x, ECO_POLICY_ROUND_ROBIN, &rr);
  run_policy(x, ECO_POLICY_CARBON, &carbon);
  assert_string_equal(carbon.policy, "carbon");
  /* same arrivals (same seed); carbon-aware sends work to the LO zone */
  assert_int_equal(rr.arrived, carbon.arrived);
  double lo_busy = carbon.node_busy_s[0] + carbon.node_busy_s[2];
  double hi_busy = carbon.node_busy_s[1] + carbon.node_busy_s[3];
  assert_true(lo_busy > 5 * hi_busy);
  assert_true(carbon.op_g - carbon.op_idle_g < 0.5 * (rr.op_g - rr.op_idle_g));
  eco_sim_result_free(&rr);
  eco_sim_result_free(&carbon);
  free(x);
}

/* The idle-class reduction in route.c must choose exactly what the policy
 * chooses over all nodes: same results, bit for bit, with it on and off. */
static void test_router_reduction_exact(void **state) {
  (void)state;
  poisson *x = malloc(sizeof *x);
  assert_non_null(x);
  poisson_init(x, 11);
  eco_sim_node_cfg *nodes = calloc(64, sizeof *nodes);
  eco_sim_device devs[2];
  devs[0] = x->dev;
  devs[1] = x->dev;
  snprintf(devs[1].name, sizeof devs[1].name, "fast");
  for (size_t k = 0; k < devs[1].n_points; k++) {
    devs[1].decode_tok_s[k] *= 3;
    devs[1].power_w[k] *= 2;
  }
  for (size_t i = 0; i < 64; i++)
    nodes[i] = (eco_sim_node_cfg){.device = (i / 3) % 2, .zone = i % 2};
  x->cfg.devices = devs;
  x->cfg.n_devices = 2;
  x->cfg.nodes = nodes;
  x->cfg.n_nodes = 64;
  x->cfg.workload.rate_per_s = 0.3;
  x->cfg.workload.slo_s = 20;
  x->cfg.duration_s = 6 * 3600;
  const eco_policy_kind kinds[] = {ECO_POLICY_GREEDY, ECO_POLICY_CARBON, ECO_POLICY_LATENCY,
                                   ECO_POLICY_SLO_CARBON};
  for (size_t k = 0; k < 4; k++) {
    eco_sim_result a, b;
    for (int dedup = 0; dedup < 2; dedup++) {
      eco_sim_router rt;
      eco_sim_policy_ops ops;
      eco_error err = {0};
      assert_int_equal(eco_sim_router_init(&rt, kinds[k], &x->cfg, &ops, &err), 0);
      rt.dedup = dedup;
      assert_int_equal(eco_sim_run(&x->cfg, &ops, dedup ? &b : &a, &err), 0);
      if (dedup) assert_true(rt.reduced_calls > 1000);
      eco_sim_router_free(&rt);
    }
    assert_true(a.arrived > 3000);
    assert_int_equal(a.completed, b.completed);
    assert_true(a.op_g == b.op_g && a.emb_g == b.emb_g && a.lat_sum_s == b.lat_sum_s);
    assert_memory_equal(a.node_busy_s, b.node_busy_s, 64 * sizeof(double));
    eco_sim_result_free(&a);
    eco_sim_result_free(&b);
  }
  free(nodes);
  free(x);
}

static void test_bad_config(void **state) {
  (void)state;
  scen s;
  double t[] = {1, 0};
  uint32_t p[] = {1, 1}, o[] = {1, 1};
  scen_init(&s, 2, t, p, o);
  eco_sim_result r;
  eco_error err = {0};
  assert_int_equal(eco_sim_run(&s.cfg, &s.ops, &r, &err), ECO_EINVAL);
  assert_non_null(strstr(err.msg, "must not decrease"));
  scen_init(&s, 1, t, p, o);
  s.cfg.workload.level_mix[0] = 0.5;
  assert_int_equal(eco_sim_run(&s.cfg, &s.ops, &r, &err), ECO_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_heap_order),
      cmocka_unit_test(test_rng),
      cmocka_unit_test(test_device_yaml),
      cmocka_unit_test(test_device_bench_import),
      cmocka_unit_test(test_one_node_fifo),
      cmocka_unit_test(test_one_node_batch),
      cmocka_unit_test(test_batch_timer_and_slo),
      cmocka_unit_test(test_hourly_intensity),
      cmocka_unit_test(test_expected_output),
      cmocka_unit_test(test_memory_limits),
      cmocka_unit_test(test_deterministic),
      cmocka_unit_test(test_router_policies),
      cmocka_unit_test(test_router_reduction_exact),
      cmocka_unit_test(test_bad_config),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
