/* Tests for src/engine/sched: admission against the KV budget, the bounded
 * queue, chunked prefill, decode-first planning, retirement, cancellation. */
#include "testutil.h"

#include "engine/sched.h"

/* 100 bytes per position keeps the arithmetic readable. */
static eco_sched_cfg cfg_default(void) {
  return (eco_sched_cfg){.kv_budget_bytes = 10000,
                         .kv_bytes_per_token = 100,
                         .max_batch = 4,
                         .max_queue = 3,
                         .prefill_chunk = 8,
                         .step_tokens = 16,
                         .n_ctx = 64};
}

static void test_submit_validation(void **state) {
  (void)state;
  eco_sched_cfg c = cfg_default();
  eco_sched *s;
  assert_int_equal(eco_sched_new(&c, &s), 0);
  assert_int_equal(eco_sched_submit(s, 1, 60, 10, 0), ECO_ECONTEXT); /* 70 > n_ctx 64 */
  assert_int_equal(eco_sched_submit(s, 1, 0, 10, 0), ECO_EINVAL);
  c.kv_budget_bytes = 1000; /* 10 positions */
  eco_sched *small;
  assert_int_equal(eco_sched_new(&c, &small), 0);
  assert_int_equal(eco_sched_submit(small, 1, 8, 4, 0), ECO_ENOMEM); /* 12 positions never fit */
  assert_int_equal(eco_sched_submit(small, 1, 6, 4, 0), 0);
  assert_int_equal(eco_sched_submit(small, 1, 6, 4, 0), ECO_EINVAL); /* duplicate id */
  eco_sched_free(small);
  /* Bounded queue: the 4th waiting sequence is refused with EBUSY. */
  for (uint64_t id = 1; id <= 3; id++)
    assert_int_equal(eco_sched_submit(s, id, 4, 4, 0), 0);
  assert_int_equal(eco_sched_submit(s, 4, 4, 4, 0), ECO_EBUSY);
  eco_sched_usage u;
  eco_sched_usage_get(s, &u);
  assert_int_equal(u.queued, 3);
  assert_int_equal(u.active, 0);
  eco_sched_free(s);
  c = cfg_default();
  c.max_batch = 0;
  assert_int_equal(eco_sched_new(&c, &s), ECO_EINVAL);
}

/* A reused prefix: prefill starts after it; only before prefill started. */
static void test_skip_prefill(void **state) {
  (void)state;
  eco_sched_cfg c = cfg_default();
  eco_sched *s;
  assert_int_equal(eco_sched_new(&c, &s), 0);
  assert_int_equal(eco_sched_submit(s, 1, 20, 3, 0), 0);
  assert_int_equal(eco_sched_skip_prefill(s, 1, 8), ECO_ESTATE); /* still queued */
  assert_int_equal(eco_sched_skip_prefill(s, 2, 8), ECO_ENOENT);
  eco_sched_step st;
  assert_int_equal(eco_sched_plan(s, 1, &st), 0);
  assert_int_equal(eco_sched_skip_prefill(s, 1, 20), ECO_EINVAL); /* the last must run */
  assert_int_equal(eco_sched_skip_prefill(s, 1, 0), ECO_EINVAL);
  assert_int_equal(eco_sched_skip_prefill(s, 1, 16), 0);
  assert_int_equal(eco_sched_skip_prefill(s, 1, 8), ECO_ESTATE); /* once */
  /* the step planned before the skip is rewritten by the caller (engine) */
  eco_sched_item it = {
      .id = 1, .slot = st.items[0].slot, .pos = 16, .n_tokens = 4, .wants_logits = true};
  eco_sched_step done = {.items = &it, .n_items = 1};
  assert_int_equal(eco_sched_complete(s, &done, NULL, 2), 0);
  assert_int_equal(eco_sched_get(s, 1)->state, ECO_SEQ_DECODE);
  assert_int_equal(eco_sched_get(s, 1)->n_prefilled, 20);
  eco_sched_free(s);
}

static void test_chunked_prefill_then_decode(void **state) {
  (void)state;
  eco_sched_cfg c = cfg_default();
  eco_sched *s;
  assert_int_equal(eco_sched_new(&c, &s), 0);
  /* A: 20-token prompt, 3 new tokens. Chunk 8: prefill 8, 8, 4. */
  assert_int_equal(eco_sched_submit(s, 10, 20, 3, 0.0), 0);
  eco_sched_step st;
  uint32_t expect_pos[] = {0, 8, 16}, expect_n[] = {8, 8, 4};
  for (int k = 0; k < 3; k++) {
    assert_int_equal(eco_sched_plan(s, 1.0 + k, &st), 0);
    assert_int_equal(st.n_items, 1);
    assert_int_equal(st.items[0].pos, expect_pos[k]);
    assert_int_equal(st.items[0].n_tokens, expect_n[k]);
    assert_int_equal(st.items[0].wants_logits, k == 2);
    assert_int_equal(eco_sched_complete(s, &st, NULL, 1.5 + k), 0);
  }
  const eco_sched_seq *a = eco_sched_get(s, 10);
  assert_int_equal(a->state, ECO_SEQ_DECODE);
  assert_int_equal(a->n_generated, 1);
  assert_true(a->t_first_token == 3.5);
  /* Decode: feeds generated token 1 at position 20, then 21; max_new 3 ends it. */
  assert_int_equal(eco_sched_plan(s, 4, &st), 0);
  assert_int_equal(st.n_items, 1);
  assert_int_equal(st.items[0].pos, 20);
  assert_int_equal(st.n_decode, 1);
  assert_int_equal(eco_sched_complete(s, &st, NULL, 4.5), 0);
  assert_int_equal(eco_sched_plan(s, 5, &st), 0);
  assert_int_equal(st.items[0].pos, 21);
  assert_int_equal(eco_sched_complete(s, &st, NULL, 5.5), 0);
  a = eco_sched_get(s, 10);
  assert_int_equal(a->state, ECO_SEQ_DONE);
  assert_int_equal(a->n_generated, 3);
  eco_sched_usage u;
  eco_sched_usage_get(s, &u);
  assert_int_equal(u.kv_reserved, 0);
  assert_int_equal(u.active, 0);
  assert_int_equal(eco_sched_plan(s, 6, &st), 0);
  assert_int_equal(st.n_items, 0);
  assert_int_equal(eco_sched_reap(s, 10), 0);
  assert_null(eco_sched_get(s, 10));
  eco_sched_free(s);
}

static void test_decodes_are_not_stalled_by_long_prompt(void **state) {
  (void)state;
  eco_sched_cfg c = cfg_default();
  c.step_tokens = 10;
  eco_sched *s;
  assert_int_equal(eco_sched_new(&c, &s), 0);
  assert_int_equal(eco_sched_submit(s, 1, 2, 20, 0), 0);
  eco_sched_step st;
  eco_sched_plan(s, 0, &st); /* prefill 2 tokens: first token */
  eco_sched_complete(s, &st, NULL, 0);
  /* A long prompt arrives: every following step still decodes seq 1 first
   * and spends only the remaining 9 tokens on the new prompt. */
  assert_int_equal(eco_sched_submit(s, 2, 40, 5, 1), 0);
  for (int k = 0; k < 5; k++) {
    assert_int_equal(eco_sched_plan(s, 1 + k, &st), 0);
    assert_int_equal(st.items[0].id, 1);
    assert_int_equal(st.items[0].n_tokens, 1);
    assert_true(st.n_tokens <= 10);
    assert_int_equal(st.n_items, 2);
    assert_int_equal(st.items[1].id, 2);
    assert_int_equal(st.items[1].n_tokens, 8); /* prefill_chunk < remaining budget 9 */
    eco_sched_complete(s, &st, NULL, 1 + k);
  }
  assert_int_equal(eco_sched_get(s, 2)->state, ECO_SEQ_DECODE); /* 5 chunks of 8 = 40 */
  assert_int_equal(eco_sched_get(s, 1)->n_generated, 6);
  eco_sched_free(s);
}

static void test_admission_respects_budget_and_fifo(void **state) {
  (void)state;
  eco_sched_cfg c = cfg_default();
  c.kv_budget_bytes = 5000; /* 50 positions */
  c.max_queue = 8;
  eco_sched *s;
  assert_int_equal(eco_sched_new(&c, &s), 0);
  /* 30 + 15 positions fit (45); the third (20) must wait, and the fourth (2)
   * must wait behind it (FIFO) even though it would fit. */
  assert_int_equal(eco_sched_submit(s, 1, 20, 10, 0), 0);
  assert_int_equal(eco_sched_submit(s, 2, 10, 5, 0), 0);
  assert_int_equal(eco_sched_submit(s, 3, 10, 10, 0), 0);
  assert_int_equal(eco_sched_submit(s, 4, 1, 1, 0), 0);
  eco_sched_step st;
  assert_int_equal(eco_sched_plan(s, 0, &st), 0);
  eco_sched_usage u;
  eco_sched_usage_get(s, &u);
  assert_int_equal(u.active, 2);
  assert_int_equal(u.queued, 2);
  assert_int_equal(u.kv_reserved, 4500);
  assert_true(u.kv_reserved <= u.kv_budget);
  assert_int_equal(eco_sched_get(s, 4)->state, ECO_SEQ_QUEUED);
  /* Cancelling seq 1 frees its 3000 bytes at once: 3 and 4 are admitted
   * at the next plan. */
  assert_int_equal(eco_sched_cancel(s, 1, 1), 0);
  eco_sched_usage_get(s, &u);
  assert_int_equal(u.kv_reserved, 1500);
  assert_int_equal(u.active, 1);
  assert_int_equal(eco_sched_cancel(s, 1, 1), ECO_ENOENT);
  assert_int_equal(eco_sched_plan(s, 2, &st), 0);
  eco_sched_usage_get(s, &u);
  assert_int_equal(u.active, 3);
  assert_int_equal(u.kv_reserved, 1500 + 2000 + 200);
  /* A step planned before a cancel can still be completed safely. */
  assert_int_equal(eco_sched_cancel(s, 3, 3), 0);
  assert_int_equal(eco_sched_complete(s, &st, NULL, 3), 0);
  eco_sched_free(s);
}

static void test_max_batch_slots_and_finish_flag(void **state) {
  (void)state;
  eco_sched_cfg c = cfg_default();
  c.max_batch = 2;
  c.max_queue = 4;
  eco_sched *s;
  assert_int_equal(eco_sched_new(&c, &s), 0);
  for (uint64_t id = 1; id <= 3; id++)
    assert_int_equal(eco_sched_submit(s, id, 2, 8, 0), 0);
  eco_sched_step st;
  eco_sched_plan(s, 0, &st);
  assert_int_equal(st.n_items, 2);
  assert_int_not_equal(st.items[0].slot, st.items[1].slot);
  /* Both produce their first token; seq 1 reports EOS (finished). */
  bool fin[2] = {true, false};
  eco_sched_complete(s, &st, fin, 1);
  assert_int_equal(eco_sched_get(s, 1)->state, ECO_SEQ_DONE);
  eco_sched_plan(s, 2, &st);
  /* Seq 3 takes the freed slot; seq 2 decodes. */
  assert_int_equal(st.n_items, 2);
  assert_int_equal(st.items[0].id, 2);
  assert_int_equal(st.items[1].id, 3);
  assert_int_equal(st.items[1].pos, 0);
  eco_sched_free(s);
}

static void test_kv_bytes_per_token(void **state) {
  (void)state;
  /* SmolLM2-135M: 30 layers, 3 kv heads, head_dim 64, F32 cache:
   * 30 * 2 * 3 * 64 * 4 = 46080 bytes per position. */
  assert_int_equal(eco_sched_kv_bytes_per_token(30, 3, 64, 4), 46080);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_submit_validation),
      cmocka_unit_test(test_chunked_prefill_then_decode),
      cmocka_unit_test(test_skip_prefill),
      cmocka_unit_test(test_decodes_are_not_stalled_by_long_prompt),
      cmocka_unit_test(test_admission_respects_budget_and_fifo),
      cmocka_unit_test(test_max_batch_slots_and_finish_flag),
      cmocka_unit_test(test_kv_bytes_per_token),
  };
  return cmocka_run_group_tests_name("sched", tests, NULL, NULL);
}
