/* Tests for src/energy/probe against fake sysfs trees (no hardware). */
#include "testutil.h"

#include "energy/probe.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const eco_sensor *find(const eco_sensor_list *l, const char *name) {
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->items[i].name, name) == 0) return &l->items[i];
  return NULL;
}

static void test_fake_tree(void **state) {
  (void)state;
  char *root = eco_test_tmpdir();
  const char *rapl = "sys/class/powercap/intel-rapl:0";
  char p[512];
  snprintf(p, sizeof p, "%s/name", rapl);
  eco_test_write_file(root, p, "package-0\n");
  snprintf(p, sizeof p, "%s/energy_uj", rapl);
  eco_test_write_file(root, p, "123456789\n");
  eco_test_write_file(root, "sys/class/powercap/intel-rapl:0:0/name", "dram\n");
  eco_test_write_file(root, "sys/class/powercap/intel-rapl:0:0/energy_uj", "garbage\n");
  eco_test_write_file(root, "sys/class/hwmon/hwmon0/name", "amdgpu\n");
  eco_test_write_file(root, "sys/class/hwmon/hwmon0/power1_input", "15000000\n");
  eco_test_write_file(root, "sys/class/hwmon/hwmon3/name", "ina3221\n");
  eco_test_write_file(root, "sys/class/hwmon/hwmon3/in1_label", "VDD_IN\n");
  eco_test_write_file(root, "sys/class/hwmon/hwmon3/in2_label", "VDD_CPU_GPU_CV\n");

  eco_sensor_list l;
  assert_int_equal(eco_energy_probe(root, false, &l), 0);
  const eco_sensor *pkg = find(&l, "package-0");
  assert_non_null(pkg);
  assert_int_equal(pkg->kind, ECO_SENSOR_RAPL);
  assert_true(pkg->readable);
  const eco_sensor *dram = find(&l, "dram");
  assert_non_null(dram);
  assert_false(dram->readable);
  assert_non_null(strstr(dram->hint, "unexpected content"));
  const eco_sensor *gpu = find(&l, "amdgpu power1_input");
  assert_non_null(gpu);
  assert_int_equal(gpu->kind, ECO_SENSOR_HWMON);
  const eco_sensor *vin = find(&l, "VDD_IN");
  assert_non_null(vin);
  assert_int_equal(vin->kind, ECO_SENSOR_INA3221);
  assert_non_null(find(&l, "VDD_CPU_GPU_CV"));
  eco_sensor_list_free(&l);
  eco_test_rmtree(root);
  free(root);
}

static void test_unreadable_counter_has_hint(void **state) {
  (void)state;
  char *root = eco_test_tmpdir();
  eco_test_write_file(root, "sys/class/powercap/intel-rapl:0/name", "package-0\n");
  char *f = eco_test_path(root, "sys/class/powercap/intel-rapl:0/energy_uj");
  eco_test_write_file(root, "sys/class/powercap/intel-rapl:0/energy_uj", "1\n");
  chmod(f, 0000);
  eco_sensor_list l;
  assert_int_equal(eco_energy_probe(root, false, &l), 0);
  assert_int_equal(l.n, 1);
  if (geteuid() == 0) {
    /* root reads mode-000 files: only check that the probe does not fail. */
    assert_true(l.items[0].readable);
  } else {
    assert_false(l.items[0].readable);
    assert_non_null(strstr(l.items[0].hint, "CVE-2020-8694"));
  }
  eco_sensor_list_free(&l);
  free(f);
  eco_test_rmtree(root);
  free(root);
}

static void test_empty_root(void **state) {
  (void)state;
  char *root = eco_test_tmpdir();
  eco_sensor_list l;
  assert_int_equal(eco_energy_probe(root, false, &l), 0);
  assert_int_equal(l.n, 0);
  eco_sensor_list_free(&l);
  eco_test_rmtree(root);
  free(root);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fake_tree),
      cmocka_unit_test(test_unreadable_counter_has_hint),
      cmocka_unit_test(test_empty_root),
  };
  return cmocka_run_group_tests_name("energy_probe", tests, NULL, NULL);
}
