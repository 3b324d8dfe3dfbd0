/* Sampler (greedy, temperature, top-k, top-p, min-p, repetition penalty,
 * seed) and stop-string matching. */
#include "engine/sampler.h"
#include "testutil.h"

#include <math.h>

static eco_sampler *mk(eco_sampler_params p, int n) {
  eco_sampler *s;
  eco_error err = {0};
  assert_int_equal(eco_sampler_new(&p, n, &s, &err), 0);
  return s;
}

static void test_greedy(void **state) {
  (void)state;
  eco_sampler_params p = eco_sampler_default_params();
  p.temperature = 0;
  eco_sampler *s = mk(p, 5);
  float l[5] = {0.1f, 2.0f, 2.0f, -1.f, 1.9f};
  assert_int_equal(eco_sampler_sample(s, l), 1); /* tie: lowest id */
  eco_sampler_free(s);
  assert_int_equal(eco_argmax(l, 5), 1);
}

static void test_repetition_penalty(void **state) {
  (void)state;
  eco_sampler_params p = eco_sampler_default_params();
  p.temperature = 0;
  p.repeat_penalty = 2.0f;
  p.repeat_last_n = 4;
  eco_sampler *s = mk(p, 4);
  float l[4] = {1.0f, 1.5f, 0.9f, -3.f};
  eco_sampler_accept(s, 1);                      /* 1.5 -> 0.75 */
  assert_int_equal(eco_sampler_sample(s, l), 0); /* sampled 0 joins history */
  assert_int_equal(eco_sampler_sample(s, l), 2); /* 1.0 -> 0.5, 0.9 wins */
  /* history window: after 4 more tokens of id 3, ids 0..2 are forgotten */
  for (int i = 0; i < 4; i++)
    eco_sampler_accept(s, 3);
  assert_int_equal(eco_sampler_sample(s, l), 1);
  eco_sampler_free(s);
}

static void test_seed_and_filters(void **state) {
  (void)state;
  enum { N = 50 };
  float l[N];
  for (int i = 0; i < N; i++)
    l[i] = (float)(N - i) * 0.1f; /* id 0 most likely */
  eco_sampler_params p = eco_sampler_default_params();
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0;
  p.seed = 42;
  /* same seed, same sequence; different seed, (almost surely) different */
  int32_t a[64], b[64], c[64];
  eco_sampler *s1 = mk(p, N), *s2 = mk(p, N);
  p.seed = 43;
  eco_sampler *s3 = mk(p, N);
  for (int i = 0; i < 64; i++) {
    a[i] = eco_sampler_sample(s1, l);
    b[i] = eco_sampler_sample(s2, l);
    c[i] = eco_sampler_sample(s3, l);
  }
  assert_memory_equal(a, b, sizeof a);
  assert_memory_not_equal(a, c, sizeof a);
  eco_sampler_free(s1);
  eco_sampler_free(s2);
  eco_sampler_free(s3);
  /* top-k 3: only ids 0..2 ever */
  p.top_k = 3;
  eco_sampler *s = mk(p, N);
  int seen[N] = {0};
  for (int i = 0; i < 2000; i++)
    seen[eco_sampler_sample(s, l)]++;
  for (int i = 3; i < N; i++)
    assert_int_equal(seen[i], 0);
  assert_true(seen[0] > seen[2] && seen[2] > 0);
  eco_sampler_free(s);
  /* top-p tiny: only the best token */
  p.top_k = 0;
  p.top_p = 0.01f;
  s = mk(p, N);
  for (int i = 0; i < 200; i++)
    assert_int_equal(eco_sampler_sample(s, l), 0);
  eco_sampler_free(s);
  /* min-p 0.85: p(1)/p(0) = exp(-0.1) = 0.905 kept, p(2)/p(0) = 0.819 dropped */
  p.top_p = 1.0f;
  p.min_p = 0.85f;
  s = mk(p, N);
  memset(seen, 0, sizeof seen);
  for (int i = 0; i < 2000; i++)
    seen[eco_sampler_sample(s, l)]++;
  assert_true(seen[0] > 0 && seen[1] > 0);
  for (int i = 2; i < N; i++)
    assert_int_equal(seen[i], 0);
  eco_sampler_free(s);
  /* low temperature concentrates on the best */
  p.min_p = 0;
  p.temperature = 0.01f;
  s = mk(p, N);
  for (int i = 0; i < 100; i++)
    assert_int_equal(eco_sampler_sample(s, l), 0);
  eco_sampler_free(s);
  eco_error err = {0};
  p.repeat_penalty = 0;
  assert_int_equal(eco_sampler_new(&p, N, &s, &err), ECO_EINVAL);
}

static void feed_all(eco_stop *st, const char *const *pieces, size_t n, char *out, bool *hit) {
  out[0] = '\0';
  *hit = false;
  for (size_t i = 0; i < n && !*hit; i++) {
    const char *e;
    size_t el;
    *hit = eco_stop_feed(st, pieces[i], strlen(pieces[i]), &e, &el);
    strncat(out, e, el);
  }
  if (!*hit) {
    const char *e;
    size_t el;
    eco_stop_flush(st, &e, &el);
    strncat(out, e, el);
  }
}

static void test_stop_strings(void **state) {
  (void)state;
  const char *stops[] = {"</end>", "\n\n"};
  eco_stop st;
  char out[256];
  bool hit;
  assert_int_equal(eco_stop_init(&st, stops, 2), 0);
  const char *p1[] = {"Hello", " wor", "ld</e", "nd> ignored"};
  feed_all(&st, p1, 4, out, &hit);
  assert_true(hit);
  assert_string_equal(out, "Hello world");
  eco_stop_free(&st);
  /* a partial match that does not complete is released */
  assert_int_equal(eco_stop_init(&st, stops, 2), 0);
  const char *p2[] = {"a</e", "x", " b\n", "c"};
  feed_all(&st, p2, 4, out, &hit);
  assert_false(hit);
  assert_string_equal(out, "a</ex b\nc");
  eco_stop_free(&st);
  /* held-back text at the end is flushed */
  assert_int_equal(eco_stop_init(&st, stops, 2), 0);
  const char *p3[] = {"tail</"};
  feed_all(&st, p3, 1, out, &hit);
  assert_false(hit);
  assert_string_equal(out, "tail</");
  eco_stop_free(&st);
  /* stop string split across many pieces */
  assert_int_equal(eco_stop_init(&st, stops, 2), 0);
  const char *p4[] = {"x", "\n", "\n", "y"};
  feed_all(&st, p4, 4, out, &hit);
  assert_true(hit);
  assert_string_equal(out, "x");
  eco_stop_free(&st);
  /* no stop strings: everything passes */
  assert_int_equal(eco_stop_init(&st, NULL, 0), 0);
  feed_all(&st, p1, 4, out, &hit);
  assert_false(hit);
  assert_string_equal(out, "Hello world</end> ignored");
  eco_stop_free(&st);
}

/* Regression (issue 19): NaN logits made top_k_sort's quickselect walk off
 * the array (its comparisons are not an order with NaN), and +inf made the
 * softmax NaN. Every mode must return a valid id: NaN ranks below
 * everything, +inf above every finite value, ties go to the lowest id. */
static void test_nonfinite_logits(void **state) {
  (void)state;
  enum { N = 2000 };
  static float l[N];
  const float nan = NAN, inf = INFINITY;
  for (int pattern = 0; pattern < 5; pattern++) {
    for (int i = 0; i < N; i++) {
      switch (pattern) {
      case 0: l[i] = nan; break;                                    /* all NaN */
      case 1: l[i] = (i % 3) ? nan : (float)(i % 17) * 0.1f; break; /* mixed */
      case 2: l[i] = (i % 5 == 0) ? -inf : (i % 7 == 0 ? nan : 0.5f); break;
      case 3: l[i] = (i == 1234 || i == 1500) ? inf : (i % 2 ? nan : 1.0f); break;
      default: l[i] = -inf; break; /* all -inf */
      }
    }
    const int top_ks[] = {0, 1, 40, N - 1};
    const float temps[] = {0.f, 0.7f, 1.5f};
    for (size_t k = 0; k < sizeof top_ks / sizeof top_ks[0]; k++) {
      for (size_t t = 0; t < sizeof temps / sizeof temps[0]; t++) {
        eco_sampler_params p = eco_sampler_default_params();
        p.top_k = top_ks[k];
        p.temperature = temps[t];
        p.repeat_penalty = 1.1f;
        p.seed = 7;
        eco_sampler *s = mk(p, N);
        for (int rep = 0; rep < 8; rep++) {
          int32_t tok = eco_sampler_sample(s, l);
          assert_true(tok >= 0 && tok < N);
          if (pattern == 1) assert_false(isnan(l[tok]));
          if (pattern == 3) assert_true(tok == 1234 || tok == 1500);
        }
        eco_sampler_free(s);
      }
    }
  }
  /* argmax: NaN never wins over a number; +inf wins; ties lowest id */
  float a[5] = {NAN, 1.f, NAN, 3.f, 3.f};
  assert_int_equal(eco_argmax(a, 5), 3);
  float b[4] = {NAN, INFINITY, 2.f, INFINITY};
  assert_int_equal(eco_argmax(b, 4), 1);
  /* non-finite parameters are refused */
  eco_sampler_params p = eco_sampler_default_params();
  eco_sampler *s = NULL;
  eco_error err = {0};
  p.temperature = INFINITY;
  assert_int_equal(eco_sampler_new(&p, 4, &s, &err), ECO_EINVAL);
  p = eco_sampler_default_params();
  p.repeat_penalty = NAN;
  assert_int_equal(eco_sampler_new(&p, 4, &s, &err), ECO_EINVAL);
}

/* The one-pass definition of argmax and finiteness that the engine's
 * faster versions must match: the first index of the largest non-NaN
 * value (0 when all are NaN); finite when no entry is NaN or +-inf. */
static int32_t argmax_ref(const float *l, int n) {
  int32_t best = 0;
  for (int i = 1; i < n; i++)
    if (!isnan(l[i]) && (isnan(l[best]) || l[i] > l[best])) best = i;
  return best;
}

static void test_argmax_rows(void **state) {
  (void)state;
  enum { N = 300 };
  float l[N];
  uint64_t rng = 12345;
  for (int trial = 0; trial < 4000; trial++) {
    const int n = 1 + trial % N;
    for (int i = 0; i < n; i++) {
      rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
      const int r = (int)(rng >> 33);
      l[i] = (float)(r % 64) - 32.f; /* small range: many ties */
      if (trial % 7 == 0 && r % 5 == 0) l[i] = NAN;
      if (trial % 11 == 0 && r % 9 == 0) l[i] = -INFINITY;
      if (trial % 13 == 0 && r % 17 == 0) l[i] = INFINITY;
      if (trial % 17 == 0) l[i] = NAN; /* all NaN */
      if (trial % 19 == 0 && r % 3 == 0) l[i] = -0.0f;
      if (trial % 19 == 0 && r % 3 == 1) l[i] = 0.0f;
    }
    if (trial % 23 == 0) l[n - 1] = 1000.f; /* maximum in the tail */
    assert_int_equal(eco_argmax(l, n), argmax_ref(l, n));
    bool fin = true;
    for (int i = 0; i < n; i++)
      fin = fin && isfinite(l[i]);
    assert_int_equal(eco_logits_finite(l, (size_t)n), fin);
  }
  float big[1000];
  for (int i = 0; i < 1000; i++)
    big[i] = -1e30f;
  big[999] = 3.4e38f; /* finite extremes */
  assert_true(eco_logits_finite(big, 1000));
  assert_int_equal(eco_argmax(big, 1000), 999);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_greedy),           cmocka_unit_test(test_repetition_penalty),
      cmocka_unit_test(test_seed_and_filters), cmocka_unit_test(test_stop_strings),
      cmocka_unit_test(test_nonfinite_logits), cmocka_unit_test(test_argmax_rows),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
