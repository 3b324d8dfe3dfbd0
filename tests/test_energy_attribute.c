/* Tests for src/energy/attribute: the split rule with hand-computed cases. */
#include "testutil.h"

#include "energy/attribute.h"
#include "util/status.h"

#include <math.h>

#define NEAR(a, b) (fabs((a) - (b)) < 1e-9)

static void test_tokens(void **state) {
  (void)state;
  eco_attr_cfg c;
  eco_attr_cfg_default(&c);
  /* 300 J over 2 s; requests processed 10+20, 0+30 and 40+0 tokens:
   * weights 30, 30, 40 of 100 -> 90, 90, 120 J */
  eco_attr_share r[3] = {{10, 20, 0}, {0, 30, 0}, {40, 0, 0}};
  double out[3];
  eco_attr_result res;
  assert_int_equal(eco_attribute(&c, 300, 2, r, 3, out, &res), 0);
  assert_true(NEAR(out[0], 90) && NEAR(out[1], 90) && NEAR(out[2], 120));
  assert_true(NEAR(res.idle_j, 0) && NEAR(res.assigned_j, 300) && NEAR(res.device_j, 300));
  /* prompt tokens at a quarter weight: 2.5+20=22.5, 30, 10 -> of 62.5 */
  c.prompt_token_weight = 0.25;
  assert_int_equal(eco_attribute(&c, 300, 2, r, 3, out, &res), 0);
  assert_true(NEAR(out[0], 108) && NEAR(out[1], 144) && NEAR(out[2], 48));
  /* calibration 1.1 scales everything: 330 J */
  c.calibration = 1.1;
  assert_int_equal(eco_attribute(&c, 300, 2, r, 3, out, &res), 0);
  assert_true(NEAR(res.device_j, 330) && NEAR(out[2], 52.8));
}

static void test_busy_and_idle(void **state) {
  (void)state;
  eco_attr_cfg c;
  eco_attr_cfg_default(&c);
  c.rule = ECO_ATTR_BUSY;
  c.idle_w = 50;
  eco_attr_share r[2] = {{0, 0, 0.5}, {0, 0, 1.5}};
  double out[2];
  eco_attr_result res;
  /* 400 J over 2 s, idle included: 100 and 300 J */
  assert_int_equal(eco_attribute(&c, 400, 2, r, 2, out, &res), 0);
  assert_true(NEAR(out[0], 100) && NEAR(out[1], 300) && NEAR(res.idle_j, 0));
  /* idle excluded: 50 W x 2 s = 100 J idle, 300 J shared -> 75, 225 */
  c.exclude_idle = true;
  assert_int_equal(eco_attribute(&c, 400, 2, r, 2, out, &res), 0);
  assert_true(NEAR(out[0], 75) && NEAR(out[1], 225) && NEAR(res.idle_j, 100));
  /* idle larger than the meter: everything idle */
  assert_int_equal(eco_attribute(&c, 60, 2, r, 2, out, &res), 0);
  assert_true(NEAR(out[0], 0) && NEAR(res.idle_j, 60));
  /* no requests: all idle */
  c.exclude_idle = false;
  assert_int_equal(eco_attribute(&c, 123, 2, NULL, 0, NULL, &res), 0);
  assert_true(NEAR(res.idle_j, 123) && NEAR(res.assigned_j, 0));
  /* zero weights: equal split */
  eco_attr_share z[2] = {{0, 0, 0}, {0, 0, 0}};
  assert_int_equal(eco_attribute(&c, 10, 1, z, 2, out, &res), 0);
  assert_true(NEAR(out[0], 5) && NEAR(out[1], 5));
}

static void test_invalid(void **state) {
  (void)state;
  eco_attr_cfg c;
  eco_attr_cfg_default(&c);
  eco_attr_share r[1] = {{1, 1, 1}};
  double out[1];
  eco_attr_result res;
  assert_int_equal(eco_attribute(&c, -1, 1, r, 1, out, &res), ECO_EINVAL);
  assert_int_equal(eco_attribute(&c, NAN, 1, r, 1, out, &res), ECO_EINVAL);
  c.calibration = 0;
  assert_int_equal(eco_attribute(&c, 1, 1, r, 1, out, &res), ECO_EINVAL);
  eco_attr_cfg_default(&c);
  c.pue = 0.9;
  assert_int_equal(eco_attribute(&c, 1, 1, r, 1, out, &res), ECO_EINVAL);
  eco_attr_cfg_default(&c);
  r[0].output_tokens = -3;
  assert_int_equal(eco_attribute(&c, 1, 1, r, 1, out, &res), ECO_EINVAL);
  assert_int_equal(eco_attribute(&c, 1, 1, NULL, 1, out, &res), ECO_EINVAL);
  eco_attr_rule rule;
  assert_int_equal(eco_attr_rule_parse("busy", &rule), 0);
  assert_int_equal(rule, ECO_ATTR_BUSY);
  assert_int_equal(eco_attr_rule_parse("vibes", &rule), ECO_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tokens),
      cmocka_unit_test(test_busy_and_idle),
      cmocka_unit_test(test_invalid),
  };
  return cmocka_run_group_tests_name("energy_attribute", tests, NULL, NULL);
}
