/* Tests for every meter of a host together (src/energy/meter_set.h), the
 * NVML meter against a fake libnvidia-ml.so.1 with NVML's ABI
 * (tests/fakes/fake_nvml.c, loaded with dlopen by its production name
 * through LD_LIBRARY_PATH, which ctest sets), Jetson rails in both sysfs
 * layouts (AGX Orin's mainline hwmon rails, Orin NX's, and the older L4T
 * iio layout), rail coverage, and the agent's /v1/meters document. */
#include "testutil.h"

#include "energy/agent.h"
#include "energy/meter_set.h"
#include "util/status.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NEAR(a, b) (fabs((a) - (b)) < 1e-6)

static void w(const char *dir, const char *rel, const char *content) {
  assert_int_equal(eco_test_write_file(dir, rel, content), 0);
}

/* The fake NVML's state file, in dir. */
static void gpus(const char *dir, const char *content) {
  w(dir, "nvml.state", content);
  char *p = eco_test_path(dir, "nvml.state");
  setenv("ECO_FAKE_NVML", p, 1);
  free(p);
}

static const eco_meter_entry *find(const eco_meter_set *s, const char *id) {
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->e[i].id, id) == 0) return &s->e[i];
  return NULL;
}

static void test_rail_covers(void **state) {
  (void)state;
  char b[64];
  struct {
    const char *rail, *want;
  } cases[] = {{"VDD_GPU_SOC", "gpu+soc"}, {"VDD_CPU_CV", "cpu+cv"},
               {"VIN_SYS_5V0", "sys"},     {"VDD_CPU_GPU_CV", "cpu+gpu+cv"},
               {"VDD_IN", "board"},        {"VDD_SOC", "soc"},
               {"VDDQ_VDD2_1V8AO", "ddr"}, {"POM_5V_IN", "board"},
               {"POM_5V_GPU", "gpu"},      {"VDD_SYS_GPU", "gpu"},
               {"VDD_4V0_WIFI", ""},       {"GPU", "gpu"},
               {"SYS5V", "sys"},           {"vdd_gpu_soc", "gpu+soc"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    eco_covers_str(eco_rail_covers(cases[i].rail), b, sizeof b);
    if (strcmp(b, cases[i].want) != 0) fail_msg("%s: %s, want %s", cases[i].rail, b, cases[i].want);
  }
  assert_int_equal(eco_cover_parse("gpu"), ECO_COVER_GPU);
  assert_int_equal(eco_cover_parse("GPU"), ECO_COVER_GPU);
  assert_int_equal(eco_cover_parse("nope"), 0);
  assert_int_equal(eco_rail_covers(NULL), 0);
}

/* Jetson AGX Orin (JetPack 5/6): two mainline ina3221 chips, no VDD_IN. */
static void agx_orin(const char *d) {
  w(d, "sys/class/hwmon/hwmon1/name", "ina3221\n");
  w(d, "sys/class/hwmon/hwmon1/in1_label", "VDD_GPU_SOC\n");
  w(d, "sys/class/hwmon/hwmon1/in1_input", "5000\n");   /* mV */
  w(d, "sys/class/hwmon/hwmon1/curr1_input", "1600\n"); /* mA: 8 W */
  w(d, "sys/class/hwmon/hwmon1/in2_label", "VDD_CPU_CV\n");
  w(d, "sys/class/hwmon/hwmon1/in2_input", "5000\n");
  w(d, "sys/class/hwmon/hwmon1/curr2_input", "400\n"); /* 2 W */
  w(d, "sys/class/hwmon/hwmon1/in3_label", "VIN_SYS_5V0\n");
  w(d, "sys/class/hwmon/hwmon1/in3_input", "5000\n");
  w(d, "sys/class/hwmon/hwmon1/curr3_input", "600\n"); /* 3 W */
  w(d, "sys/class/hwmon/hwmon2/name", "ina3221\n");
  w(d, "sys/class/hwmon/hwmon2/in1_label", "NC\n");
  w(d, "sys/class/hwmon/hwmon2/in2_label", "VDDQ_VDD2_1V8AO\n");
  w(d, "sys/class/hwmon/hwmon2/in2_input", "5000\n");
  w(d, "sys/class/hwmon/hwmon2/curr2_input", "200\n"); /* 1 W */
  w(d, "sys/class/hwmon/hwmon0/name", "cpu_thermal\n");
}

static void test_jetson_agx_orin(void **state) {
  (void)state;
  char *d = eco_test_tmpdir();
  agx_orin(d);
  eco_meter_set_opts o = {.root = d, .no_nvml = true};
  eco_meter_set s;
  eco_error err = {0};
  assert_int_equal(eco_meter_set_open(&o, &s, &err), 0);
  assert_int_equal(s.n, 1); /* the rails meter; the thermal chip has no sensor */
  const eco_meter_entry *e = find(&s, "ina3221");
  assert_non_null(e);
  assert_true(e->host);
  char b[64];
  eco_covers_str(e->covers, b, sizeof b);
  assert_string_equal(b, "cpu+gpu+soc+cv+ddr+sys"); /* the sum of every rail */
  assert_int_equal(eco_meter_poll_at(e->meter, 0, &err), 0);
  assert_int_equal(eco_meter_poll_at(e->meter, 2, &err), 0);
  assert_true(NEAR(eco_meter_total(e->meter), 28)); /* 14 W x 2 s */
  /* the agent serves each rail */
  json_t *j = eco_agent_meters_json(s.e, s.n, 42);
  assert_non_null(j);
  assert_true(NEAR(json_number_value(json_object_get(j, "total_j")), 28));
  json_t *m = json_object_get(j, "meters");
  assert_int_equal(json_array_size(m), 5);
  json_t *gpu = json_array_get(m, 1);
  assert_string_equal(json_string_value(json_object_get(gpu, "id")), "jetson:VDD_GPU_SOC");
  assert_string_equal(json_string_value(json_object_get(gpu, "part_of")), "ina3221");
  assert_true(NEAR(json_number_value(json_object_get(gpu, "joules")), 16));
  assert_true(NEAR(json_number_value(json_object_get(gpu, "power_w")), 8));
  assert_string_equal(json_string_value(json_array_get(json_object_get(gpu, "covers"), 0)), "gpu");
  assert_true(json_is_false(json_object_get(gpu, "estimated")));
  json_t *cpu = json_array_get(m, 2);
  assert_string_equal(json_string_value(json_object_get(cpu, "rail")), "VDD_CPU_CV");
  assert_true(NEAR(json_number_value(json_object_get(cpu, "joules")), 4));
  json_decref(j);
  eco_meter_set_free(&s);
  eco_test_rmtree(d);
  free(d);
}

/* Orin NX / Xavier NX: VDD_IN is the board total, VDD_CPU_GPU_CV one rail. */
static void test_jetson_orin_nx(void **state) {
  (void)state;
  char *d = eco_test_tmpdir();
  w(d, "sys/class/hwmon/hwmon3/name", "ina3221\n");
  w(d, "sys/class/hwmon/hwmon3/in1_label", "VDD_IN\n");
  w(d, "sys/class/hwmon/hwmon3/in1_input", "5000\n");
  w(d, "sys/class/hwmon/hwmon3/curr1_input", "2000\n");
  w(d, "sys/class/hwmon/hwmon3/in2_label", "VDD_CPU_GPU_CV\n");
  w(d, "sys/class/hwmon/hwmon3/in2_input", "5000\n");
  w(d, "sys/class/hwmon/hwmon3/curr2_input", "1000\n");
  w(d, "sys/class/hwmon/hwmon3/in3_label", "VDD_SOC\n");
  w(d, "sys/class/hwmon/hwmon3/in3_input", "5000\n");
  w(d, "sys/class/hwmon/hwmon3/curr3_input", "300\n");
  eco_meter_set_opts o = {.root = d, .no_nvml = true};
  eco_meter_set s;
  eco_error err = {0};
  assert_int_equal(eco_meter_set_open(&o, &s, &err), 0);
  const eco_meter_entry *e = find(&s, "ina3221");
  assert_non_null(e);
  assert_string_equal(e->meter->src.detail, "VDD_IN");
  assert_int_equal(e->covers, ECO_COVER_BOARD);
  json_t *j = eco_agent_meters_json(s.e, s.n, 1);
  json_t *m = json_object_get(j, "meters");
  assert_int_equal(json_array_size(m), 4);
  json_t *r = json_array_get(m, 2);
  assert_string_equal(json_string_value(json_object_get(r, "id")), "jetson:VDD_CPU_GPU_CV");
  assert_int_equal(json_array_size(json_object_get(r, "covers")), 3);
  json_decref(j);
  eco_meter_set_free(&s);
  eco_test_rmtree(d);
  free(d);
}

/* JetPack 4 (L4T r32) iio layout: in_power<N>_input in mW. */
static void test_jetson_iio(void **state) {
  (void)state;
  char *d = eco_test_tmpdir();
  const char *b = "sys/bus/i2c/drivers/ina3221x/6-0040/iio:device0/";
  const char *rails[][2] = {{"POM_5V_IN", "5000"}, {"POM_5V_GPU", "2000"}, {"POM_5V_CPU", "1000"}};
  for (int i = 0; i < 3; i++) {
    char p[256];
    snprintf(p, sizeof p, "%srail_name_%d", b, i);
    char v[32];
    snprintf(v, sizeof v, "%s\n", rails[i][0]);
    w(d, p, v);
    snprintf(p, sizeof p, "%sin_power%d_input", b, i);
    snprintf(v, sizeof v, "%s\n", rails[i][1]);
    w(d, p, v);
  }
  eco_meter_set_opts o = {.root = d, .no_nvml = true};
  eco_meter_set s;
  eco_error err = {0};
  assert_int_equal(eco_meter_set_open(&o, &s, &err), 0);
  const eco_meter_entry *e = find(&s, "ina3221");
  assert_non_null(e);
  assert_string_equal(e->meter->src.detail, "POM_5V_IN");
  assert_int_equal(eco_meter_poll_at(e->meter, 0, &err), 0);
  assert_int_equal(eco_meter_poll_at(e->meter, 1, &err), 0);
  assert_true(NEAR(eco_meter_total(e->meter), 5));
  json_t *j = eco_agent_meters_json(s.e, s.n, 1);
  json_t *g = json_array_get(json_object_get(j, "meters"), 2);
  assert_string_equal(json_string_value(json_object_get(g, "id")), "jetson:POM_5V_GPU");
  assert_true(NEAR(json_number_value(json_object_get(g, "joules")), 2));
  json_decref(j);
  eco_meter_set_free(&s);
  eco_test_rmtree(d);
  free(d);

  /* the same layout with Orin's rail names: no input rail, so the sum */
  d = eco_test_tmpdir();
  const char *orin[][2] = {
      {"VDD_GPU_SOC", "8000"}, {"VDD_CPU_CV", "2000"}, {"VIN_SYS_5V0", "3000"}};
  for (int i = 0; i < 3; i++) {
    char p[256], v[32];
    snprintf(p, sizeof p, "%srail_name_%d", b, i);
    snprintf(v, sizeof v, "%s\n", orin[i][0]);
    w(d, p, v);
    snprintf(p, sizeof p, "%sin_power%d_input", b, i);
    snprintf(v, sizeof v, "%s\n", orin[i][1]);
    w(d, p, v);
  }
  o.root = d;
  assert_int_equal(eco_meter_set_open(&o, &s, &err), 0);
  e = find(&s, "ina3221");
  assert_non_null(e);
  assert_string_equal(e->meter->src.detail, "sum of 3 rails");
  assert_int_equal(eco_meter_poll_at(e->meter, 0, &err), 0);
  assert_int_equal(eco_meter_poll_at(e->meter, 2, &err), 0);
  assert_true(NEAR(eco_meter_total(e->meter), 26));
  j = eco_agent_meters_json(s.e, s.n, 1);
  g = json_array_get(json_object_get(j, "meters"), 1);
  assert_string_equal(json_string_value(json_object_get(g, "id")), "jetson:VDD_GPU_SOC");
  assert_true(NEAR(json_number_value(json_object_get(g, "joules")), 16));
  json_decref(j);
  eco_meter_set_free(&s);
  eco_test_rmtree(d);
  free(d);
}

/* An x86 workstation: RAPL, an amdgpu hwmon chip, two NVIDIA GPUs through
 * the fake libnvidia-ml.so.1. */
static void workstation(const char *d) {
  w(d, "sys/class/powercap/intel-rapl:0/name", "package-0\n");
  w(d, "sys/class/powercap/intel-rapl:0/energy_uj", "1000000\n");
  w(d, "sys/class/powercap/intel-rapl:0:1/name", "dram\n");
  w(d, "sys/class/powercap/intel-rapl:0:1/energy_uj", "200000\n");
  w(d, "sys/class/hwmon/hwmon4/name", "amdgpu\n");
  w(d, "sys/class/hwmon/hwmon4/power1_average", "15000000\n");
}

static void test_nvml_dlopen(void **state) {
  (void)state;
  char *d = eco_test_tmpdir();
  workstation(d);
  gpus(d, "count=2\n0.name=NVIDIA RTX 2000 Ada Generation\n0.energy_mj=1000\n0.power_mw=40000\n"
          "0.procs=1234:1073741824,77:-\n0.util=1234:90:100,77:10:100\n"
          "1.name=Tesla P4\n1.power_mw=50000\n");
  /* loaded by its production name, found through LD_LIBRARY_PATH */
  eco_nvml_api api;
  eco_error err = {0};
  if (eco_nvml_load(NULL, &api, &err) != 0)
    fail_msg("libnvidia-ml.so.1 not found: run through ctest (LD_LIBRARY_PATH=the fake's "
             "directory): %s",
             eco_error_text(&err));
  unsigned n = 0;
  assert_int_equal(eco_nvml_device_count(&api, &n, &err), 0);
  assert_int_equal(n, 2);
  assert_non_null(api.device_get_compute_procs);
  assert_false(api.procs_v1); /* the _v3 symbol */
  assert_non_null(api.device_get_process_utilization);
  assert_non_null(api.device_get_accounting_stats);
  eco_nvml_unload(&api);

  eco_meter_set_opts o = {.root = d};
  eco_meter_set s;
  assert_int_equal(eco_meter_set_open(&o, &s, &err), 0);
  assert_int_equal(s.n, 4);
  const eco_meter_entry *rapl = find(&s, "rapl"), *amd = find(&s, "hwmon:amdgpu");
  const eco_meter_entry *g0 = find(&s, "nvml:0"), *g1 = find(&s, "nvml:1");
  assert_true(rapl && amd && g0 && g1);
  assert_true(rapl->host && !amd->host && !g0->host);
  assert_int_equal(rapl->covers, ECO_COVER_CPU | ECO_COVER_DDR);
  assert_int_equal(amd->covers, ECO_COVER_GPU);
  assert_int_equal(g0->covers, ECO_COVER_GPU);
  assert_string_equal(g0->meter->src.detail, "GPU 0 NVIDIA RTX 2000 Ada Generation total-energy");
  assert_string_equal(g1->meter->src.detail, "GPU 1 Tesla P4 power");
  assert_string_equal(g0->device, "gpu0");

  /* GPU 0: 2.5 J split 90:10 by the SM samples newer than the last poll */
  gpus(d, "count=2\n0.name=NVIDIA RTX 2000 Ada Generation\n0.energy_mj=3500\n0.power_mw=40000\n"
          "0.procs=1234:1073741824,77:-\n0.util=1234:90:100,77:10:100\n"
          "1.name=Tesla P4\n1.power_mw=50000\n");
  assert_int_equal(eco_meter_poll_at(g0->meter, 1, &err), 0);
  assert_true(NEAR(eco_meter_total(g0->meter), 2.5));
  eco_gpu_process p[8];
  size_t np = 0;
  assert_int_equal(eco_meter_nvml_processes(g0->meter, p, 8, &np), 0);
  assert_int_equal(np, 2);
  assert_int_equal(p[0].pid, 1234);
  assert_true(NEAR(p[0].used_memory_bytes, 1073741824.0));
  assert_true(p[1].used_memory_bytes < 0); /* NVML_VALUE_NOT_AVAILABLE */
  assert_true(NEAR(p[0].joules, 2.25) && NEAR(p[1].joules, 0.25));
  assert_true(NEAR(p[0].sm_util_pct, 90));
  assert_true(p[0].acct_gpu_util_pct < 0); /* accounting off */
  char sup[48];
  eco_meter_nvml_process_support(g0->meter, sup, sizeof sup);
  assert_string_equal(sup, "utilization+memory");

  /* the same samples again are not counted twice; new ones are; pid 77
   * left; accounting turned on */
  gpus(d, "count=2\n0.energy_mj=5500\n0.power_mw=40000\n0.procs=1234:2147483648\n"
          "0.util=1234:90:100,77:10:100,1234:50:200\n0.accounting=1\n0.acct=1234:60:4500\n"
          "1.power_mw=50000\n");
  assert_int_equal(eco_meter_poll_at(g0->meter, 2, &err), 0);
  assert_int_equal(eco_meter_nvml_processes(g0->meter, p, 8, &np), 0);
  assert_int_equal(np, 1);
  assert_true(NEAR(p[0].joules, 4.25)); /* + the whole 2 J */
  assert_true(NEAR(p[0].sm_util_pct, 50));
  assert_true(NEAR(p[0].acct_gpu_util_pct, 60) && NEAR(p[0].acct_active_s, 4.5));
  eco_meter_nvml_process_support(g0->meter, sup, sizeof sup);
  assert_string_equal(sup, "utilization+accounting+memory");

  /* an idle GPU: no samples, energy goes to no process */
  gpus(d, "count=2\n0.energy_mj=6500\n0.power_mw=40000\n0.procs=1234:2147483648\n"
          "0.util=1234:50:200\n1.power_mw=50000\n");
  assert_int_equal(eco_meter_poll_at(g0->meter, 3, &err), 0);
  assert_int_equal(eco_meter_nvml_processes(g0->meter, p, 8, &np), 0);
  assert_true(NEAR(p[0].joules, 4.25) && NEAR(p[0].sm_util_pct, 0));
  assert_true(NEAR(eco_meter_total(g0->meter), 5.5));

  /* GPU 1 integrates power; it gives no per-process data */
  assert_int_equal(eco_meter_poll_at(g1->meter, 10, &err), 0);
  assert_int_equal(eco_meter_poll_at(g1->meter, 12, &err), 0);
  assert_true(NEAR(eco_meter_total(g1->meter), 100));
  eco_meter_nvml_process_support(g1->meter, sup, sizeof sup);
  assert_string_equal(sup, "memory"); /* an empty process list */

  /* the agent's document: nvml entries carry their processes */
  json_t *j = eco_agent_meters_json(s.e, s.n, 7);
  json_t *m = json_object_get(j, "meters");
  json_t *jg = NULL;
  for (size_t i = 0; i < json_array_size(m); i++)
    if (strcmp(json_string_value(json_object_get(json_array_get(m, i), "id")), "nvml:0") == 0)
      jg = json_array_get(m, i);
  assert_non_null(jg);
  json_t *pr = json_array_get(json_object_get(jg, "processes"), 0);
  assert_int_equal(json_integer_value(json_object_get(pr, "pid")), 1234);
  assert_true(NEAR(json_number_value(json_object_get(pr, "joules")), 4.25));
  assert_true(json_is_true(json_object_get(pr, "joules_estimated")));
  assert_true(json_is_null(json_object_get(pr, "accounting_gpu_util_pct")));
  json_decref(j);
  eco_meter_set_free(&s);

  /* NVML present but its init fails: the host meters still open, with a note */
  gpus(d, "count=2\ninit_rc=9\n");
  assert_int_equal(eco_meter_set_open(&o, &s, &err), 0);
  assert_null(find(&s, "nvml:0"));
  assert_non_null(strstr(s.notes, "nvml: init"));
  eco_meter_set_free(&s);
  /* a GPU whose energy and power both fail is skipped, with a note */
  gpus(d, "count=1\n0.name=broken\n");
  assert_int_equal(eco_meter_set_open(&o, &s, &err), 0);
  assert_null(find(&s, "nvml:0"));
  assert_non_null(strstr(s.notes, "no energy counter"));
  /* a failing poll reaches the document as errors and last_error */
  eco_meter_set_free(&s);
  gpus(d, "count=1\n0.energy_mj=10\n");
  assert_int_equal(eco_meter_set_open(&o, &s, &err), 0);
  g0 = find(&s, "nvml:0");
  assert_non_null(g0);
  gpus(d, "count=1\n");
  assert_int_equal(eco_meter_poll_at(g0->meter, 1, &err), ECO_EIO);
  j = eco_agent_meters_json(s.e, s.n, 1);
  m = json_object_get(j, "meters");
  for (size_t i = 0; i < json_array_size(m); i++)
    if (strcmp(json_string_value(json_object_get(json_array_get(m, i), "id")), "nvml:0") == 0)
      jg = json_array_get(m, i);
  assert_int_equal(json_integer_value(json_object_get(jg, "errors")), 1);
  assert_non_null(strstr(json_string_value(json_object_get(jg, "last_error")), "Not Supported"));
  json_decref(j);
  eco_meter_set_free(&s);
  /* no GPU library at that name */
  eco_meter_set_opts o2 = {.root = d, .nvml_lib = "libnvidia-ml-absent.so.1"};
  assert_int_equal(eco_meter_set_open(&o2, &s, &err), 0);
  assert_non_null(strstr(s.notes, "cannot load"));
  assert_int_equal(s.n, 2);
  eco_meter_set_free(&s);
  eco_test_rmtree(d);
  free(d);
}

/* No sensor at all: the model, flagged as the host meter and estimated. */
static void test_set_model_only(void **state) {
  (void)state;
  char *d = eco_test_tmpdir();
  w(d, "proc/stat", "cpu  100 0 100 800 0 0 0 0 0 0\n");
  w(d, "proc/cpuinfo", "processor\t: 0\nmodel name\t: Unknown CPU\n\n");
  w(d, "proc/meminfo", "MemTotal:        1048576 kB\n");
  eco_meter_set_opts o = {.root = d, .no_nvml = true};
  eco_meter_set s;
  eco_error err = {0};
  assert_int_equal(eco_meter_set_open(&o, &s, &err), 0);
  assert_int_equal(s.n, 1);
  assert_string_equal(s.e[0].id, "model");
  assert_true(s.e[0].host && s.e[0].meter->src.estimated);
  eco_meter_set_free(&s);
  eco_test_rmtree(d);
  free(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rail_covers),    cmocka_unit_test(test_jetson_agx_orin),
      cmocka_unit_test(test_jetson_orin_nx), cmocka_unit_test(test_jetson_iio),
      cmocka_unit_test(test_nvml_dlopen),    cmocka_unit_test(test_set_model_only),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
