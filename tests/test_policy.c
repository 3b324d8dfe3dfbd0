/* Tests for src/policy/policy and src/policy/profile: predictions and every
 * policy's choice on hand-computed numbers.
 *
 * Three idle nodes, max batch 4, request P = 100 prompt tokens, O = 100
 * expected output tokens:
 *   A fast, dirty: prefill 1 ms/tok, decode 10 ms/tok, 0.2 / 2 J/tok, 800 g/kWh
 *      latency 0.1 + 1.0 = 1.1 s; energy 20 + 200 = 220 J; op 220/3.6e6*800 = 0.0488889 g
 *   B slow, clean: prefill 5 ms/tok, decode 50 ms/tok, 0.1 / 1 J/tok, 50 g/kWh
 *      latency 0.5 + 5.0 = 5.5 s; energy 10 + 100 = 110 J; op 110/3.6e6*50 = 0.00152778 g
 *   C middle: prefill 2 ms/tok, decode 20 ms/tok, 0.15 / 1.5 J/tok, 300 g/kWh
 *      latency 0.2 + 2.0 = 2.2 s; energy 15 + 150 = 165 J; op 165/3.6e6*300 = 0.01375 g */
#include "testutil.h"

#include "policy/policy.h"
#include "policy/profile.h"
#include "util/status.h"

#include <math.h>
#include <string.h>

#define NEAR(a, b)                                                                                 \
  do {                                                                                             \
    double a_ = (double)(a), b_ = (double)(b);                                                     \
    if (!(fabs(a_ - b_) < 1e-9 * (1 + fabs(b_))))                                                  \
      fail_msg("%s = %.12g, expected %.12g", #a, a_, b_);                                          \
  } while (0)

static eco_node_view mk(const char *id, double pre_s, double dec_s, double pre_j, double dec_j,
                        double ci) {
  eco_node_view v;
  memset(&v, 0, sizeof v);
  snprintf(v.id, sizeof v.id, "%s", id);
  v.profile.prefill_s_per_tok = pre_s;
  v.profile.decode_s_per_tok = dec_s;
  v.profile.prefill_j_per_tok = pre_j;
  v.profile.decode_j_per_tok = dec_j;
  v.intensity_gco2_kwh = ci;
  v.max_batch = 4;
  v.pue = 1.0;
  return v;
}

static void three(eco_node_view n[3]) {
  n[0] = mk("A", 0.001, 0.010, 0.2, 2.0, 800);
  n[1] = mk("B", 0.005, 0.050, 0.1, 1.0, 50);
  n[2] = mk("C", 0.002, 0.020, 0.15, 1.5, 300);
}

static const eco_route_request req100 = {.prompt_tokens = 100, .expected_out_tokens = 100};

static size_t choose(eco_policy_kind k, const eco_route_request *r, const eco_node_view *n,
                     size_t cnt, eco_route_prediction *p) {
  eco_policy pol = {.kind = k};
  eco_route_prediction tmp;
  if (!p) p = &tmp;
  assert_int_equal(eco_policy_choose(&pol, r, n, cnt, p), 0);
  return p->node;
}

static void test_predict_idle(void **state) {
  (void)state;
  eco_node_view n[3];
  three(n);
  eco_route_prediction p;
  eco_route_predict(&n[0], &req100, 0, &p);
  NEAR(p.queue_s, 0);
  NEAR(p.batch, 1);
  NEAR(p.prefill_s, 0.1);
  NEAR(p.decode_s, 1.0);
  NEAR(p.latency_s, 1.1);
  NEAR(p.energy_j, 220);
  NEAR(p.operational_g, 220.0 / 3.6e6 * 800);
  NEAR(p.embodied_g, 0);
  assert_true(p.meets_slo);
  eco_route_predict(&n[1], &req100, 0, &p);
  NEAR(p.latency_s, 5.5);
  NEAR(p.total_g, 110.0 / 3.6e6 * 50);
  /* PUE 1.5 scales operational carbon. */
  n[2].pue = 1.5;
  eco_route_predict(&n[2], &req100, 2.0, &p);
  NEAR(p.total_g, 165.0 / 3.6e6 * 300 * 1.5);
  assert_false(p.meets_slo); /* 2.2 s > 2.0 s */
}

/* Own count against the node's report, discounted by completions seen
 * since the report (hand-computed cases). */
static void test_merge_load(void **state) {
  (void)state;
  uint32_t a, q;
  eco_route_merge_load(3, 4, 0, 0, 0, &a, &q); /* no report: own count */
  assert_int_equal(a, 3);
  assert_int_equal(q, 0);
  eco_route_merge_load(6, 4, 1, 0, 0, &a, &q); /* own overflow queues */
  assert_int_equal(a, 4);
  assert_int_equal(q, 2);
  eco_route_merge_load(0, 4, 2, 0, 0, &a, &q); /* other clients' load counts */
  assert_int_equal(a, 2);
  assert_int_equal(q, 0);
  eco_route_merge_load(0, 4, 2, 0, 1, &a, &q); /* one of them has finished since */
  assert_int_equal(a, 1);
  eco_route_merge_load(0, 4, 1, 0, 1, &a, &q); /* the stale-report case: idle now */
  assert_int_equal(a, 0);
  assert_int_equal(q, 0);
  eco_route_merge_load(0, 4, 2, 0, 5, &a, &q); /* more finished than reported */
  assert_int_equal(a, 0);
  eco_route_merge_load(0, 4, 4, 3, 2, &a, &q); /* the batch refills from the queue */
  assert_int_equal(a, 4);
  assert_int_equal(q, 1);
  eco_route_merge_load(0, 4, 4, 3, 6, &a, &q);
  assert_int_equal(a, 1);
  assert_int_equal(q, 0);
  eco_route_merge_load(2, 0, 0, 0, 0, &a, &q); /* max_batch 0 counts as 1 */
  assert_int_equal(a, 1);
  assert_int_equal(q, 1);
  eco_route_merge_load(1, 4, 4, 0, 0xFFFFFFFFu, &a, &q); /* no overflow */
  assert_int_equal(a, 1);
  assert_int_equal(q, 0);
}

static void test_predict_queue_and_batch(void **state) {
  (void)state;
  eco_node_view n = mk("A", 0.001, 0.010, 0.2, 2.0, 800);
  n.profile.batch_slowdown = 0.1;
  /* Two running, one queued, max 4: joins at batch 4, no wait.
   * step(4) = 1.3: decode 100 * 0.01 * 1.3 = 1.3 s;
   * energy = 20 + 100 * 2 * 1.3 / 4 = 85 J. */
  n.active_batch = 2;
  n.queue_depth = 1;
  eco_route_prediction p;
  eco_route_predict(&n, &req100, 0, &p);
  NEAR(p.batch, 4);
  NEAR(p.queue_s, 0);
  NEAR(p.decode_s, 1.3);
  NEAR(p.energy_j, 85);
  /* Full (4 running) with 4 queued and a 2 s mean service time:
   * ahead = 4 + 1 - 0 = 5, waves = ceil(5/4) = 2, wait = 4 s. */
  n.active_batch = 4;
  n.queue_depth = 4;
  n.profile.service_s = 2.0;
  eco_route_predict(&n, &req100, 0, &p);
  NEAR(p.queue_s, 4.0);
  NEAR(p.latency_s, 4.0 + 0.1 + 1.3);
  /* Without a service time the request's own service time at b = 4 is used. */
  n.profile.service_s = 0;
  eco_route_predict(&n, &req100, 0, &p);
  NEAR(p.queue_s, 2 * (0.1 + 1.3));
  /* A node-reported backlog larger than the estimate wins. */
  n.backlog_s = 10;
  eco_route_predict(&n, &req100, 0, &p);
  NEAR(p.queue_s, 10);
}

static void test_embodied(void **state) {
  (void)state;
  /* 0.01 g/s held for the 5.5 s service time, alone: 0.055 g.
   * In a batch of 2 (one running): half. */
  eco_node_view n = mk("B", 0.005, 0.050, 0.1, 1.0, 50);
  n.embodied_g_per_s = 0.01;
  eco_route_prediction p;
  eco_route_predict(&n, &req100, 0, &p);
  NEAR(p.embodied_g, 0.055);
  NEAR(p.total_g, 0.055 + 110.0 / 3.6e6 * 50);
  n.active_batch = 1;
  eco_route_predict(&n, &req100, 0, &p);
  NEAR(p.embodied_g, 0.01 * 5.5 / 2);
}

static void test_policies_idle(void **state) {
  (void)state;
  eco_node_view n[3];
  three(n);
  assert_int_equal(choose(ECO_POLICY_CARBON, &req100, n, 3, NULL), 1);
  assert_int_equal(choose(ECO_POLICY_LATENCY, &req100, n, 3, NULL), 0);
  assert_int_equal(choose(ECO_POLICY_GREEDY, &req100, n, 3, NULL), 0);
  /* slo-carbon: 3 s admits A (1.1) and C (2.2): C is cleaner. */
  eco_route_request r = req100;
  r.slo_s = 3.0;
  eco_route_prediction p;
  assert_int_equal(choose(ECO_POLICY_SLO_CARBON, &r, n, 3, &p), 2);
  assert_true(p.meets_slo);
  assert_false(p.slo_fallback);
  NEAR(p.slo_s, 3.0);
  /* 10 s admits all: B. */
  r.slo_s = 10;
  assert_int_equal(choose(ECO_POLICY_SLO_CARBON, &r, n, 3, NULL), 1);
  /* 1 s admits none: the fastest, flagged. */
  r.slo_s = 1.0;
  assert_int_equal(choose(ECO_POLICY_SLO_CARBON, &r, n, 3, &p), 0);
  assert_true(p.slo_fallback);
  assert_false(p.meets_slo);
  /* No SLO anywhere: carbon. */
  r.slo_s = 0;
  assert_int_equal(choose(ECO_POLICY_SLO_CARBON, &r, n, 3, NULL), 1);
  /* The policy's default SLO applies when the request has none. */
  eco_policy pol = {.kind = ECO_POLICY_SLO_CARBON, .default_slo_s = 3.0};
  assert_int_equal(eco_policy_choose(&pol, &r, n, 3, &p), 0);
  assert_int_equal(p.node, 2);
}

static void test_policies_loaded(void **state) {
  (void)state;
  eco_node_view n[3];
  three(n);
  /* A is full (4 running, max 4), mean service 2 s, slowdown 0.1:
   * queue 2 s + 0.1 + 1.3 = 3.4 s > C's 2.2 s. */
  n[0].active_batch = 4;
  n[0].profile.service_s = 2.0;
  n[0].profile.batch_slowdown = 0.1;
  assert_int_equal(choose(ECO_POLICY_LATENCY, &req100, n, 3, NULL), 2);
  /* greedy: the fastest is full, next fastest C. */
  assert_int_equal(choose(ECO_POLICY_GREEDY, &req100, n, 3, NULL), 2);
  /* Everything full: greedy takes the least predicted latency.
   * C: 4 queued behind 4 running, service 1 s: wait 2 s -> 4.2+ s;
   * B: full, service 0.5 s -> wait 0.5 s + 5.5 = 6 s; A: 3.4 s. */
  n[1].active_batch = 4;
  n[1].profile.service_s = 0.5;
  n[2].active_batch = 4;
  n[2].queue_depth = 4;
  n[2].profile.service_s = 1.0;
  assert_int_equal(choose(ECO_POLICY_GREEDY, &req100, n, 3, NULL), 0);
  /* Embodied carbon can flip the carbon choice: 0.01 g/s on B (0.055 g)
   * makes C (0.01375 g) the least total. */
  three(n);
  n[1].embodied_g_per_s = 0.01;
  assert_int_equal(choose(ECO_POLICY_CARBON, &req100, n, 3, NULL), 2);
}

static void test_eligibility_and_rr(void **state) {
  (void)state;
  eco_node_view n[3];
  three(n);
  eco_policy pol = {.kind = ECO_POLICY_ROUND_ROBIN};
  eco_route_prediction p;
  size_t seen[3] = {0};
  for (int i = 0; i < 6; i++) {
    assert_int_equal(eco_policy_choose(&pol, &req100, n, 3, &p), 0);
    seen[p.node]++;
    pol.rr_cursor = p.rr_next;
  }
  assert_int_equal(seen[0], 2);
  assert_int_equal(seen[1], 2);
  assert_int_equal(seen[2], 2);
  /* Down, open circuit and excluded nodes are skipped. */
  n[1].health = ECO_NODE_DOWN;
  assert_int_equal(choose(ECO_POLICY_CARBON, &req100, n, 3, NULL), 2);
  n[2].circuit_open = true;
  assert_int_equal(choose(ECO_POLICY_CARBON, &req100, n, 3, NULL), 0);
  pol.rr_cursor = 1;
  assert_int_equal(eco_policy_choose(&pol, &req100, n, 3, &p), 0);
  assert_int_equal(p.node, 0);
  assert_int_equal(p.rr_next, 1);
  bool excl[3] = {true, false, false};
  eco_route_request r = req100;
  r.excluded = excl;
  for (int k = 0; k < ECO_POLICY_COUNT; k++) {
    eco_policy q = {.kind = (eco_policy_kind)k};
    assert_int_equal(eco_policy_choose(&q, &r, n, 3, &p), ECO_ENOENT);
  }
  /* Degraded nodes stay eligible. */
  n[1].health = ECO_NODE_DEGRADED;
  assert_int_equal(choose(ECO_POLICY_LATENCY, &r, n, 3, NULL), 1);
  /* A node without a usable profile is never chosen. */
  three(n);
  n[1].profile.decode_s_per_tok = 0;
  assert_int_equal(choose(ECO_POLICY_CARBON, &req100, n, 3, NULL), 2);
  /* Bad arguments. */
  assert_int_equal(eco_policy_choose(&pol, &req100, n, 0, &p), ECO_EINVAL);
  assert_int_equal(eco_policy_choose(NULL, &req100, n, 3, &p), ECO_EINVAL);
  eco_policy bad = {.kind = (eco_policy_kind)99};
  assert_int_equal(eco_policy_choose(&bad, &req100, n, 3, &p), ECO_EINVAL);
}

static void test_names(void **state) {
  (void)state;
  eco_policy_kind k;
  for (int i = 0; i < ECO_POLICY_COUNT; i++) {
    assert_int_equal(eco_policy_parse(eco_policy_name((eco_policy_kind)i), &k), 0);
    assert_int_equal(k, i);
  }
  assert_int_equal(eco_policy_parse("Carbon-Aware", &k), 0);
  assert_int_equal(k, ECO_POLICY_CARBON);
  assert_int_equal(eco_policy_parse("fastest", &k), ECO_EINVAL);
  assert_int_equal(eco_policy_parse(NULL, &k), ECO_EINVAL);
  assert_string_equal(eco_policy_name((eco_policy_kind)42), "unknown");
}

static void test_default_out_tokens(void **state) {
  (void)state;
  /* No expected output: min(max_tokens, 128). */
  eco_node_view n = mk("A", 0.001, 0.010, 0.2, 2.0, 800);
  eco_route_request r = {.prompt_tokens = 10, .max_tokens = 50};
  eco_route_prediction p;
  eco_route_predict(&n, &r, 0, &p);
  NEAR(p.out_tokens, 50);
  r.max_tokens = 0;
  eco_route_predict(&n, &r, 0, &p);
  NEAR(p.out_tokens, 128);
}

static void test_profile_observe(void **state) {
  (void)state;
  eco_profile p;
  memset(&p, 0, sizeof p);
  assert_false(eco_profile_valid(&p));
  /* First observation of an empty profile is taken as is:
   * P = 100, ttft 0.2 s -> 2 ms/tok; O = 50 in 1 s -> 20 ms/tok; 100 J
   * split per token: 100 / 150 J/tok. */
  eco_profile_obs o = {.prompt_tokens = 100,
                       .out_tokens = 50,
                       .batch = 1,
                       .ttft_s = 0.2,
                       .decode_s = 1.0,
                       .energy_j = 100};
  assert_int_equal(eco_profile_observe(&p, &o, 0.5), 0);
  NEAR(p.prefill_s_per_tok, 0.002);
  NEAR(p.decode_s_per_tok, 0.02);
  NEAR(p.service_s, 1.2);
  NEAR(p.prefill_j_per_tok, 100.0 / 150);
  NEAR(p.decode_j_per_tok, 100.0 / 150);
  assert_int_equal(p.n_obs, 1);
  assert_true(eco_profile_valid(&p));
  /* Second, alpha 0.5: decode 2 s for 50 -> 40 ms/tok; EWMA 30 ms/tok.
   * Predicted energy with the old coefficients = 100 J; measured 200 J:
   * scale 2, factor 1 + 0.5 * (2 - 1) = 1.5. */
  o.decode_s = 2.0;
  o.energy_j = 200;
  assert_int_equal(eco_profile_observe(&p, &o, 0.5), 0);
  NEAR(p.decode_s_per_tok, 0.03);
  NEAR(p.prefill_s_per_tok, 0.002);
  NEAR(p.service_s, 1.7);
  NEAR(p.decode_j_per_tok, 1.5 * 100.0 / 150);
  /* Batched observation is normalised by step(b): slowdown 0.5, b = 3:
   * step 2; 50 tokens in 4 s = 80 ms/tok -> 40 ms/tok at b = 1;
   * EWMA(0.03, 0.04) = 0.035. */
  p.batch_slowdown = 0.5;
  o.batch = 3;
  o.decode_s = 4.0;
  o.energy_j = -1;
  o.ttft_s = -1;
  assert_int_equal(eco_profile_observe(&p, &o, 0.5), 0);
  NEAR(p.decode_s_per_tok, 0.035);
  NEAR(p.prefill_s_per_tok, 0.002); /* ttft unknown: unchanged */
  /* Bad input. */
  assert_int_equal(eco_profile_observe(&p, &o, 0), ECO_EINVAL);
  assert_int_equal(eco_profile_observe(&p, &o, 1.5), ECO_EINVAL);
  o.decode_s = NAN;
  assert_int_equal(eco_profile_observe(&p, &o, 0.5), ECO_EINVAL);
}

static void test_profile_from_rates(void **state) {
  (void)state;
  eco_profile p;
  /* 1000 prompt tok/s, 20 tok/s, 0.5 J/tok: prefill 1 ms, decode 50 ms,
   * prefill J/tok = 0.5 * 20 / 1000 = 0.01. */
  assert_int_equal(eco_profile_from_rates(&p, 1000, 20, 0.5, 0.01, 0.05), 0);
  NEAR(p.prefill_s_per_tok, 0.001);
  NEAR(p.decode_s_per_tok, 0.05);
  NEAR(p.prefill_j_per_tok, 0.01);
  NEAR(p.decode_j_per_tok, 0.5);
  NEAR(eco_profile_prefill_s(&p, 100), 0.11);
  NEAR(eco_profile_decode_s(&p, 10, 3), 10 * 0.05 * 1.1);
  NEAR(eco_profile_energy_j(&p, 100, 10, 2), 1.0 + 10 * 0.5 * 1.05 / 2);
  assert_int_equal(eco_profile_from_rates(&p, 0, 20, 0.5, 0, 0), ECO_EINVAL);
  assert_int_equal(eco_profile_from_rates(&p, 10, -1, 0.5, 0, 0), ECO_EINVAL);
}

static void test_outlen(void **state) {
  (void)state;
  eco_outlen_model m;
  memset(&m, 0, sizeof m);
  /* Prior: min(max_tokens, 128); no max_tokens: 128. */
  NEAR(eco_outlen_predict(&m, 10, 64), 64);
  NEAR(eco_outlen_predict(&m, 10, 0), 128);
  NEAR(eco_outlen_predict(NULL, 10, 500), 128);
  /* Short prompts (10 tokens: bucket 3) answer 20 tokens, four times:
   * bucket mean 20, weight 4/8: 0.5*20 + 0.5*128 = 74. */
  for (int i = 0; i < 4; i++)
    eco_outlen_observe(&m, 10, 20);
  NEAR(m.mean_out[3], 20);
  NEAR(eco_outlen_predict(&m, 10, 500), 74);
  /* A prompt in an empty bucket uses the overall mean with the same weight. */
  NEAR(eco_outlen_predict(&m, 1000, 500), 74);
  /* The prior follows max_tokens (0.5*20 + 0.5*30 = 25), and the result is
   * capped at max_tokens (0.5*20 + 0.5*15 = 17.5 -> 15). */
  NEAR(eco_outlen_predict(&m, 10, 30), 25);
  NEAR(eco_outlen_predict(&m, 10, 15), 15);
  /* Many more observations converge to the history. */
  for (int i = 0; i < 200; i++)
    eco_outlen_observe(&m, 10, 20);
  assert_true(fabs(eco_outlen_predict(&m, 10, 500) - 20) < 3);
  /* Never below 1. */
  eco_outlen_model z;
  memset(&z, 0, sizeof z);
  for (int i = 0; i < 500; i++)
    eco_outlen_observe(&z, 5, 0);
  assert_true(eco_outlen_predict(&z, 5, 100) >= 1);
}

static double rnd(uint64_t *x) {
  *x ^= *x << 13;
  *x ^= *x >> 7;
  *x ^= *x << 17;
  return (double)(*x >> 11) / 9007199254740992.0;
}

/* The scan's fast scores and eco_route_predict agree: on 200 random
 * nodes, the chosen node's full prediction is the brute-force optimum. */
static void test_scan_matches_predict(void **state) {
  (void)state;
  uint64_t x = 12345;
#define RND() rnd(&x)
  enum { N = 200 };
  static eco_node_view n[N];
  for (int trial = 0; trial < 100; trial++) {
    for (int i = 0; i < N; i++) {
      /* narrow ranges, so that every term can decide the winner */
      double a = 1e-3 + 2e-4 * RND(), b = 2e-2 + 4e-3 * RND(), c = 0.1 + 0.02 * RND();
      double d = 1 + 0.2 * RND(), e = 300 + 60 * RND();
      n[i] = mk("n", a, b, c, d, e);
      n[i].pue = 1 + 0.3 * RND();
      n[i].embodied_g_per_s = 1e-3 * RND();
      n[i].profile.batch_slowdown = 0.1 * RND();
      n[i].profile.service_s = RND() < 0.5 ? 0 : 3 * RND();
      n[i].max_batch = 1 + (uint32_t)(6 * RND());
      n[i].active_batch = (uint32_t)(n[i].max_batch * RND());
      n[i].queue_depth = RND() < 0.3 ? (uint32_t)(5 * RND()) : 0;
      n[i].backlog_s = RND() < 0.1 ? 2 * RND() : 0;
      n[i].health = RND() < 0.1 ? ECO_NODE_DOWN : ECO_NODE_UP;
    }
    eco_route_request r = {0};
    r.prompt_tokens = (uint32_t)(1000 * RND());
    r.expected_out_tokens = 1 + 300 * RND();
    r.slo_s = 1 + 8 * RND();
    for (int k = ECO_POLICY_CARBON; k <= ECO_POLICY_SLO_CARBON; k++) {
      eco_route_prediction p, q;
      choose((eco_policy_kind)k, &r, n, N, &p);
      double best = INFINITY;
      for (int i = 0; i < N; i++) {
        if (!eco_policy_eligible(&n[i], &r, (size_t)i)) continue;
        eco_route_predict(&n[i], &r, r.slo_s, &q);
        if (k == ECO_POLICY_SLO_CARBON && !q.meets_slo) continue;
        double v = k == ECO_POLICY_LATENCY ? q.latency_s : q.total_g;
        if (v < best) best = v;
      }
      double got = k == ECO_POLICY_LATENCY ? p.latency_s : p.total_g;
      if (isinf(best)) {
        assert_true(p.slo_fallback);
      } else if (!(fabs(got - best) <= 1e-9 * best)) {
        fail_msg("policy %d trial %d: chose %.12g, optimum %.12g", k, trial, got, best);
      }
    }
  }
#undef RND
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_merge_load),
      cmocka_unit_test(test_predict_idle),
      cmocka_unit_test(test_predict_queue_and_batch),
      cmocka_unit_test(test_embodied),
      cmocka_unit_test(test_policies_idle),
      cmocka_unit_test(test_policies_loaded),
      cmocka_unit_test(test_eligibility_and_rr),
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_default_out_tokens),
      cmocka_unit_test(test_profile_observe),
      cmocka_unit_test(test_profile_from_rates),
      cmocka_unit_test(test_outlen),
      cmocka_unit_test(test_scan_matches_predict),
  };
  return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
