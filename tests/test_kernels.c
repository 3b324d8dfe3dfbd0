/* Every fast kernel against the scalar reference on random data, with
 * awkward sizes and batch widths; conversions; the thread pool. */
#include "engine/kernels.h"
#include "engine/pool.h"
#include "kernel_checks.h"
#include "testutil.h"

#include <math.h>
#include <stdatomic.h>

static void test_kernels_all_levels(void **state) {
  (void)state;
  eco_cpu_info ci;
  eco_cpu_detect(&ci);
  for (int l = ECO_SIMD_SCALAR; l <= (int)ci.level; l++) {
    char msg[512] = "";
    const int rc = eco_kcheck_level((eco_simd_level)l, msg, sizeof msg);
    if (rc < 0)
      print_message("level %s not compiled here; skipped\n", eco_simd_name((eco_simd_level)l));
    if (rc > 0) fail_msg("%s", msg);
  }
}

/* quantize/dequantize round trips stay within the format's resolution */
static void test_roundtrip(void **state) {
  (void)state;
  const int n = 512;
  float x[512], y[512];
  for (int i = 0; i < n; i++)
    x[i] = eco_kcheck_frand();
  const eco_ggml_type all[] = {ECO_GGML_F32,  ECO_GGML_F16,  ECO_GGML_BF16, ECO_GGML_Q8_0,
                               ECO_GGML_Q8_K, ECO_GGML_Q8_1, ECO_GGML_Q4_0, ECO_GGML_Q4_K,
                               ECO_GGML_Q6_K, ECO_GGML_Q5_0, ECO_GGML_Q5_1, ECO_GGML_IQ4_NL,
                               ECO_GGML_Q2_K, ECO_GGML_Q3_K, ECO_GGML_Q5_K, ECO_GGML_IQ4_XS};
  const double tol[] = {0,    1e-3, 8e-3, 1e-2, 1e-2, 1e-2, 0.15, 0.15,
                        0.05, 0.07, 0.05, 0.15, 0.5,  0.3,  0.08, 0.2};
  uint8_t buf[4096];
  for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) {
    eco_quantize_row(all[k], x, buf, n);
    eco_dequantize_row(all[k], buf, y, n);
    double md = 0;
    for (int i = 0; i < n; i++)
      md = fmax(md, fabs(x[i] - y[i]));
    if (getenv("ECO_TEST_VERBOSE"))
      print_message("%s: round trip max error %.4g\n", eco_ggml_type_name(all[k]), md);
    if (md > tol[k]) fail_msg("%s: max error %.4g > %.4g", eco_ggml_type_name(all[k]), md, tol[k]);
  }
  /* the Q8_K dot of a vector with itself equals the float dot closely */
  assert_int_equal(eco_fp32_to_fp16(1.0f), 0x3c00);
  assert_int_equal(eco_fp32_to_fp16(65520.f), 0x7c00); /* rounds to inf */
  assert_true(eco_fp16_to_fp32(0x0001) > 0 && eco_fp16_to_fp32(0x0001) < 1e-7f);
  assert_int_equal(eco_fp32_to_bf16(1.0f), 0x3f80);
  assert_true(eco_bf16_to_fp32(0x3f80) == 1.0f);
}

typedef struct pool_ctx {
  atomic_int calls;
  int seen[8]; /* per chunk: sum of n_chunks seen */
} pool_ctx;

static void pool_fn(void *arg, int ith, int nth) {
  pool_ctx *c = arg;
  atomic_fetch_add(&c->calls, 1);
  c->seen[ith] += nth;
}

static void test_pool(void **state) {
  (void)state;
  for (int n = 1; n <= 4; n++) {
    eco_pool *p;
    eco_error err = {0};
    assert_int_equal(eco_pool_new(n, &p, &err), 0);
    pool_ctx c;
    memset(&c, 0, sizeof c);
    atomic_init(&c.calls, 0);
    for (int r = 0; r < 1000; r++)
      eco_pool_run(p, pool_fn, &c, 2 * n); /* each chunk exactly once per run */
    assert_int_equal(atomic_load(&c.calls), 2000 * n);
    for (int i = 0; i < 2 * n; i++)
      assert_int_equal(c.seen[i], 2000 * n);
    eco_pool_free(p);
  }
  eco_pool *p;
  eco_error err = {0};
  assert_int_equal(eco_pool_new(0, &p, &err), ECO_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_kernels_all_levels),
      cmocka_unit_test(test_roundtrip),
      cmocka_unit_test(test_pool),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
