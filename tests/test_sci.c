/* Tests for src/carbon/sci: SCI arithmetic against hand-computed cases,
 * including the Sprout artifact's embodied constant (26356.568 g over 5 y). */
#include "testutil.h"

#include "carbon/sci.h"
#include "util/status.h"

#include <math.h>
#include <string.h>

static void test_operational(void **state) {
  (void)state;
  /* 3.6e6 J = 1 kWh; at 200 g/kWh and PUE 1.5: 300 g. */
  assert_true(fabs(eco_sci_operational_g(3.6e6, 200, 1.5) - 300.0) < 1e-9);
  /* 100 J at 400 g/kWh, PUE 1: 100/3.6e6*400 = 0.011111 g. */
  assert_true(fabs(eco_sci_operational_g(100, 400, 1.0) - 0.0111111111) < 1e-9);
}

static void test_embodied_sprout_constants(void **state) {
  (void)state;
  /* Sprout: 26356.568 gCO2e embodied over a 5-year life. A 10 s request
   * holding the whole device: 26356.568 * 10 / (5 * 365 * 86400)
   * = 263565.68 / 157680000 = 0.00167152258 g. */
  eco_embodied e = {.total_g = 26356.568, .lifetime_s = 5 * ECO_SECONDS_PER_YEAR, .share = 1.0};
  assert_true(fabs(eco_sci_embodied_g(&e, 10.0) - 0.00167152258) < 1e-11);
  /* Half the device reserved: half the share. */
  e.share = 0.5;
  assert_true(fabs(eco_sci_embodied_g(&e, 10.0) - 0.00083576129) < 1e-11);
  /* Degenerate inputs give zero, not NaN. */
  e.lifetime_s = 0;
  assert_true(eco_sci_embodied_g(&e, 10.0) == 0.0);
  assert_true(eco_sci_embodied_g(NULL, 10.0) == 0.0);
}

static void test_receipt(void **state) {
  (void)state;
  eco_receipt r;
  memset(&r, 0, sizeof r);
  strcpy(r.energy_source, "rapl");
  /* E = 720 J, I = 250 g/kWh, PUE 1.2, M = 0.01 g:
   * op = 720/3.6e6*1.2*250 = 0.06 g; total 0.07 g. */
  assert_int_equal(eco_sci_compute(720, 250, 0.01, 1.2, &r), 0);
  assert_true(fabs(r.operational_g - 0.06) < 1e-12);
  assert_true(fabs(r.total_g - 0.07) < 1e-12);
  assert_string_equal(r.energy_source, "rapl");
  assert_string_equal(r.method, "sci-v1.0");
  eco_receipt before = r;
  assert_int_equal(eco_sci_compute(-1, 250, 0, 1.2, &r), ECO_EINVAL);
  assert_int_equal(eco_sci_compute(1, NAN, 0, 1.2, &r), ECO_EINVAL);
  assert_int_equal(eco_sci_compute(1, 250, 0, 0.9, &r), ECO_EINVAL);
  assert_memory_equal(&before, &r, sizeof r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_operational),
      cmocka_unit_test(test_embodied_sprout_constants),
      cmocka_unit_test(test_receipt),
  };
  return cmocka_run_group_tests_name("sci", tests, NULL, NULL);
}
