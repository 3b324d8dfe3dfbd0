/* Tests for src/energy meters on fake sysfs/procfs trees: RAPL counters
 * and wraparound, hwmon energy and integrated power, INA3221 rails (both
 * layouts), NVML through a fake function table, the fallback model, the
 * background sampler, and missing, unreadable and garbage files. */
#include "testutil.h"

#include "energy/meter.h"
#include "util/status.h"

#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NEAR(a, b) (fabs((a) - (b)) < 1e-9)

static void w(const char *dir, const char *rel, const char *content) {
  assert_int_equal(eco_test_write_file(dir, rel, content), 0);
}

static void rapl_tree(const char *d) {
  w(d, "sys/class/powercap/intel-rapl:0/name", "package-0\n");
  w(d, "sys/class/powercap/intel-rapl:0/energy_uj", "1000000\n");
  w(d, "sys/class/powercap/intel-rapl:0/max_energy_range_uj", "262143328850\n");
  w(d, "sys/class/powercap/intel-rapl:0:0/name", "core\n");
  w(d, "sys/class/powercap/intel-rapl:0:0/energy_uj", "500000\n");
  w(d, "sys/class/powercap/intel-rapl:0:1/name", "dram\n");
  w(d, "sys/class/powercap/intel-rapl:0:1/energy_uj", "200000\n");
  w(d, "sys/class/powercap/intel-rapl:0:1/max_energy_range_uj", "65712999613\n");
  w(d, "sys/class/powercap/intel-rapl:1/name", "psys\n");
  w(d, "sys/class/powercap/intel-rapl:1/energy_uj", "7000000\n");
  w(d, "sys/class/powercap/intel-rapl:1/max_energy_range_uj", "262143328850\n");
}

static void test_rapl(void **state) {
  (void)state;
  char *d = eco_test_tmpdir();
  rapl_tree(d);
  eco_meter *m = NULL;
  eco_error err = {0};
  assert_int_equal(eco_meter_rapl_open(d, NULL, &m, &err), 0);
  assert_string_equal(m->src.name, "rapl");
  assert_string_equal(m->src.detail, "package-0+dram");
  assert_false(m->src.estimated);
  /* +2 J package, +0.5 J dram, core ignored (inside package) */
  w(d, "sys/class/powercap/intel-rapl:0/energy_uj", "3000000\n");
  w(d, "sys/class/powercap/intel-rapl:0:1/energy_uj", "700000\n");
  w(d, "sys/class/powercap/intel-rapl:0:0/energy_uj", "9900000\n");
  assert_int_equal(eco_meter_poll_at(m, 1, &err), 0);
  assert_true(NEAR(eco_meter_total(m), 2.5));
  /* wraparound: package goes from 262143000000 to 1000 -> 328850 + 1000 µJ */
  w(d, "sys/class/powercap/intel-rapl:0/energy_uj", "262143000000\n");
  assert_int_equal(eco_meter_poll_at(m, 2, &err), 0);
  double before = eco_meter_total(m);
  w(d, "sys/class/powercap/intel-rapl:0/energy_uj", "1000\n");
  assert_int_equal(eco_meter_poll_at(m, 3, &err), 0);
  assert_true(NEAR(eco_meter_total(m) - before, 0.32985));
  /* garbage: the poll fails, nothing changes; the next good poll covers the gap */
  before = eco_meter_total(m);
  w(d, "sys/class/powercap/intel-rapl:0/energy_uj", "garbage\n");
  assert_int_equal(eco_meter_poll_at(m, 4, &err), ECO_EFORMAT);
  assert_non_null(strstr(err.msg, "unexpected content"));
  assert_true(eco_meter_total(m) == before);
  w(d, "sys/class/powercap/intel-rapl:0/energy_uj", "2001000\n");
  assert_int_equal(eco_meter_poll_at(m, 5, &err), 0);
  assert_true(NEAR(eco_meter_total(m) - before, 2.0));
  assert_int_equal((int)m->n_errors, 1);
  /* a missing file */
  char *f = eco_test_path(d, "sys/class/powercap/intel-rapl:0:1/energy_uj");
  unlink(f);
  assert_int_equal(eco_meter_poll_at(m, 6, &err), ECO_ENOENT);
  /* eco_meter_read returns the total and the source */
  double j;
  eco_energy_source src;
  assert_int_equal(eco_meter_read(m, &j, &src), ECO_ENOENT);
  assert_true(j == eco_meter_total(m));
  assert_string_equal(src.name, "rapl");
  eco_meter_free(m);
  free(f);

  /* psys only */
  assert_int_equal(eco_meter_rapl_open(d, "psys", &m, &err), 0);
  assert_string_equal(m->src.detail, "psys");
  w(d, "sys/class/powercap/intel-rapl:1/energy_uj", "7100000\n");
  assert_int_equal(eco_meter_poll_at(m, 1, &err), 0);
  assert_true(NEAR(eco_meter_total(m), 0.1));
  eco_meter_free(m);
  assert_int_equal(eco_meter_rapl_open(d, "uncore", &m, &err), ECO_ENOENT);
  assert_null(m);
  eco_test_rmtree(d);
  free(d);

  /* no powercap at all */
  d = eco_test_tmpdir();
  assert_int_equal(eco_meter_rapl_open(d, NULL, &m, &err), ECO_ENOENT);
  /* garbage at open */
  w(d, "sys/class/powercap/intel-rapl:0/name", "package-0\n");
  w(d, "sys/class/powercap/intel-rapl:0/energy_uj", "-5\n");
  assert_int_equal(eco_meter_rapl_open(d, NULL, &m, &err), ECO_EFORMAT);
  /* unknown range: a decrease drops the interval */
  w(d, "sys/class/powercap/intel-rapl:0/energy_uj", "5000000\n");
  assert_int_equal(eco_meter_rapl_open(d, NULL, &m, &err), 0);
  w(d, "sys/class/powercap/intel-rapl:0/energy_uj", "10\n");
  assert_int_equal(eco_meter_poll_at(m, 1, &err), 0);
  assert_true(eco_meter_total(m) == 0);
  eco_meter_free(m);
  eco_test_rmtree(d);
  free(d);
}

/* Opening must fail with ECO_EACCES and the CVE hint. Returns 0 if so. */
static int check_eacces(const char *d) {
  eco_meter *m = NULL;
  eco_error err = {0};
  int rc = eco_meter_rapl_open(d, NULL, &m, &err);
  if (rc != ECO_EACCES || m || !strstr(err.msg, "CVE-2020-8694")) return 1;
  /* auto falls back to the model (there is a proc tree) */
  if (eco_meter_open_auto(d, NULL, &m, &err) != 0 || strcmp(m->src.name, "model") != 0) return 2;
  eco_meter_free(m);
  return 0;
}

static void test_rapl_unreadable(void **state) {
  (void)state;
  char *d = eco_test_tmpdir();
  rapl_tree(d);
  w(d, "proc/stat", "cpu  1 0 1 10 0 0 0 0\n");
  char *f = eco_test_path(d, "sys/class/powercap/intel-rapl:0/energy_uj");
  chmod(f, 0400); /* root-only, as after the CVE-2020-8694 fix */
  if (geteuid() != 0) {
    chmod(f, 0);
    assert_int_equal(check_eacces(d), 0);
  } else {
    /* root reads anything: check as an unprivileged user in a child */
    chmod(d, 0755);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      if (setgid(65534) != 0 || setuid(65534) != 0) _exit(3);
      _exit(check_eacces(d));
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
  }
  free(f);
  eco_test_rmtree(d);
  free(d);
}

static void test_hwmon(void **state) {
  (void)state;
  char *d = eco_test_tmpdir();
  eco_meter *m = NULL;
  eco_error err = {0};
  /* power only (µW): integrated with the trapezoid rule */
  w(d, "sys/class/hwmon/hwmon0/name", "k10temp\n");
  w(d, "sys/class/hwmon/hwmon0/temp1_input", "40000\n");
  w(d, "sys/class/hwmon/hwmon1/name", "amdgpu\n");
  w(d, "sys/class/hwmon/hwmon1/power1_average", "10000000\n");
  assert_int_equal(eco_meter_hwmon_open(d, NULL, &m, &err), 0);
  assert_string_equal(m->src.detail, "amdgpu power x1");
  assert_int_equal(eco_meter_poll_at(m, 100, &err), 0);
  assert_true(eco_meter_total(m) == 0);
  assert_int_equal(eco_meter_poll_at(m, 102, &err), 0); /* 10 W x 2 s */
  assert_true(NEAR(eco_meter_total(m), 20));
  w(d, "sys/class/hwmon/hwmon1/power1_average", "20000000\n");
  assert_int_equal(eco_meter_poll_at(m, 103, &err), 0); /* (10+20)/2 W x 1 s */
  assert_true(NEAR(eco_meter_total(m), 35));
  w(d, "sys/class/hwmon/hwmon1/power1_average", "\n");
  assert_int_equal(eco_meter_poll_at(m, 104, &err), ECO_EFORMAT);
  eco_meter_free(m);
  /* chip selection; energy counters preferred (µJ) */
  w(d, "sys/class/hwmon/hwmon2/name", "zenpower\n");
  w(d, "sys/class/hwmon/hwmon2/energy1_input", "1000000\n");
  w(d, "sys/class/hwmon/hwmon2/energy2_input", "3000000\n");
  w(d, "sys/class/hwmon/hwmon2/power1_input", "99\n");
  assert_int_equal(eco_meter_hwmon_open(d, "zenpower", &m, &err), 0);
  assert_string_equal(m->src.detail, "zenpower energy x2");
  w(d, "sys/class/hwmon/hwmon2/energy1_input", "1500000\n");
  w(d, "sys/class/hwmon/hwmon2/energy2_input", "4000000\n");
  assert_int_equal(eco_meter_poll_at(m, 1, &err), 0);
  assert_true(NEAR(eco_meter_total(m), 1.5));
  /* a counter reset drops that channel's interval */
  w(d, "sys/class/hwmon/hwmon2/energy1_input", "10\n");
  w(d, "sys/class/hwmon/hwmon2/energy2_input", "4100000\n");
  assert_int_equal(eco_meter_poll_at(m, 2, &err), 0);
  assert_true(NEAR(eco_meter_total(m), 1.6));
  eco_meter_free(m);
  assert_int_equal(eco_meter_hwmon_open(d, "nosuchchip", &m, &err), ECO_ENOENT);
  eco_test_rmtree(d);
  free(d);
}

static void test_ina3221(void **state) {
  (void)state;
  char *d = eco_test_tmpdir();
  eco_meter *m = NULL;
  eco_error err = {0};
  /* mainline hwmon layout; the hwmon number is arbitrary */
  w(d, "sys/class/hwmon/hwmon7/name", "ina3221\n");
  w(d, "sys/class/hwmon/hwmon7/in1_label", "VDD_IN\n");
  w(d, "sys/class/hwmon/hwmon7/in1_input", "5000\n");
  w(d, "sys/class/hwmon/hwmon7/curr1_input", "2000\n");
  w(d, "sys/class/hwmon/hwmon7/in2_label", "VDD_CPU_GPU_CV\n");
  w(d, "sys/class/hwmon/hwmon7/in2_input", "5000\n");
  w(d, "sys/class/hwmon/hwmon7/curr2_input", "1000\n");
  w(d, "sys/class/hwmon/hwmon7/in3_label", "NC\n");
  /* a plain hwmon chip must not be taken for a rail */
  w(d, "sys/class/hwmon/hwmon0/name", "cpu_thermal\n");
  assert_int_equal(eco_meter_ina3221_open(d, NULL, &m, &err), 0);
  assert_string_equal(m->src.name, "ina3221");
  assert_string_equal(m->src.detail, "VDD_IN");
  assert_int_equal(eco_meter_poll_at(m, 10, &err), 0);
  assert_int_equal(eco_meter_poll_at(m, 12, &err), 0);
  assert_true(NEAR(eco_meter_total(m), 20)); /* VDD_IN 10 W x 2 s */
  eco_rail_energy rails[4];
  size_t n = 0;
  assert_int_equal(eco_meter_ina3221_rails(m, rails, 4, &n), 0);
  assert_int_equal(n, 2);
  assert_string_equal(rails[1].name, "VDD_CPU_GPU_CV");
  assert_true(NEAR(rails[1].joules, 10));
  assert_true(NEAR(rails[0].watts, 10));
  eco_meter_free(m);
  /* hwmon and powercap meters refuse the ina3221 chip */
  assert_int_equal(eco_meter_hwmon_open(d, NULL, &m, &err), ECO_ENOENT);
  eco_test_rmtree(d);
  free(d);

  /* older L4T iio layout, no VDD_IN: the sum of rails */
  d = eco_test_tmpdir();
  const char *base = "sys/bus/i2c/drivers/ina3221x/1-0040/iio:device0/";
  char p[256];
  snprintf(p, sizeof p, "%srail_name_0", base);
  w(d, p, "GPU\n");
  snprintf(p, sizeof p, "%sin_power0_input", base);
  w(d, p, "3000\n");
  snprintf(p, sizeof p, "%srail_name_1", base);
  w(d, p, "CPU\n");
  snprintf(p, sizeof p, "%sin_power1_input", base);
  w(d, p, "1000\n");
  assert_int_equal(eco_meter_ina3221_open(d, NULL, &m, &err), 0);
  assert_string_equal(m->src.detail, "sum of 2 rails");
  assert_int_equal(eco_meter_poll_at(m, 0, &err), 0);
  assert_int_equal(eco_meter_poll_at(m, 0.5, &err), 0);
  assert_true(NEAR(eco_meter_total(m), 2)); /* 4 W x 0.5 s */
  snprintf(p, sizeof p, "%sin_power1_input", base);
  w(d, p, "x\n");
  assert_int_equal(eco_meter_poll_at(m, 1, &err), ECO_EFORMAT);
  eco_meter_free(m);
  eco_test_rmtree(d);
  free(d);

  d = eco_test_tmpdir();
  assert_int_equal(eco_meter_ina3221_open(d, NULL, &m, &err), ECO_ENOENT);
  eco_test_rmtree(d);
  free(d);
}

/* ---- fake NVML (test-only state) ---- */
static struct {
  int init_rc;
  int energy_rc;
  unsigned long long energy_mj;
  unsigned power_mw;
  int inits, shutdowns;
} fake;

static int f_init(void) {
  fake.inits++;
  return fake.init_rc;
}
static int f_shutdown(void) {
  fake.shutdowns++;
  return 0;
}
static int f_handle(unsigned idx, void **dev) {
  if (idx > 0) return 2; /* NVML_ERROR_INVALID_ARGUMENT */
  *dev = &fake;
  return 0;
}
static int f_name(void *dev, char *name, unsigned len) {
  (void)dev;
  snprintf(name, len, "Fake H100");
  return 0;
}
static int f_energy(void *dev, unsigned long long *mj) {
  (void)dev;
  if (fake.energy_rc) return fake.energy_rc;
  *mj = fake.energy_mj;
  return 0;
}
static int f_power(void *dev, unsigned *mw) {
  (void)dev;
  *mw = fake.power_mw;
  return 0;
}
static const char *f_err(int rc) { return rc == 3 ? "Not Supported" : "Unknown Error"; }

static void test_nvml_fake(void **state) {
  (void)state;
  eco_nvml_api api = {.init = f_init,
                      .shutdown = f_shutdown,
                      .device_get_handle_by_index = f_handle,
                      .device_get_name = f_name,
                      .device_get_total_energy = f_energy,
                      .device_get_power_usage = f_power,
                      .error_string = f_err};
  memset(&fake, 0, sizeof fake);
  fake.energy_mj = 1000;
  eco_meter *m = NULL;
  eco_error err = {0};
  assert_int_equal(eco_meter_nvml_open(&api, 0, &m, &err), 0);
  assert_string_equal(m->src.detail, "GPU 0 Fake H100 total-energy");
  fake.energy_mj = 3500;
  assert_int_equal(eco_meter_poll_at(m, 1, &err), 0);
  assert_true(NEAR(eco_meter_total(m), 2.5));
  fake.energy_mj = 100; /* driver reload: interval dropped */
  assert_int_equal(eco_meter_poll_at(m, 2, &err), 0);
  assert_true(NEAR(eco_meter_total(m), 2.5));
  fake.energy_rc = 999;
  assert_int_equal(eco_meter_poll_at(m, 3, &err), ECO_EIO);
  assert_non_null(strstr(err.msg, "Unknown Error"));
  eco_meter_free(m);
  assert_int_equal(fake.shutdowns, 1);

  /* no energy counter (pre-Volta): integrate power */
  memset(&fake, 0, sizeof fake);
  fake.energy_rc = 3;
  fake.power_mw = 100000;
  assert_int_equal(eco_meter_nvml_open(&api, 0, &m, &err), 0);
  assert_non_null(strstr(m->src.detail, "power"));
  assert_int_equal(eco_meter_poll_at(m, 5, &err), 0);
  assert_int_equal(eco_meter_poll_at(m, 7, &err), 0);
  assert_true(NEAR(eco_meter_total(m), 200));
  eco_meter_free(m);

  /* bad index, failed init, incomplete table */
  assert_int_equal(eco_meter_nvml_open(&api, 3, &m, &err), ECO_ENOENT);
  assert_null(m);
  fake.init_rc = 9;
  assert_int_equal(eco_meter_nvml_open(&api, 0, &m, &err), ECO_EIO);
  eco_nvml_api empty = {0};
  assert_int_equal(eco_meter_nvml_open(&empty, 0, &m, &err), ECO_EINVAL);
  /* the real library is absent here (or present on a GPU host): either way
   * loading never crashes */
  eco_nvml_api real;
  int rc = eco_nvml_load("libnvidia-ml-does-not-exist.so", &real, &err);
  assert_int_equal(rc, ECO_ENOENT);
}

static void proc_tree(const char *d, const char *stat) {
  w(d, "proc/stat", stat);
  w(d, "proc/cpuinfo",
    "processor\t: 0\nmodel name\t: AMD EPYC 7763 64-Core Processor\n\n"
    "processor\t: 1\nmodel name\t: AMD EPYC 7763 64-Core Processor\n");
  w(d, "proc/meminfo", "MemTotal:        8388608 kB\nMemFree:         1000 kB\n");
}

static void test_model(void **state) {
  (void)state;
  char *d = eco_test_tmpdir();
  proc_tree(d, "cpu  50 0 50 900 0 0 0 0 0 0\ncpu0 1 2 3 4\n");
  eco_model_params p;
  eco_model_params_default(&p);
  p.tdp_w = 100;
  p.idle_fraction = 0.2;
  p.mem_w_per_gib = 0.5;
  eco_meter *m = NULL;
  eco_error err = {0};
  assert_int_equal(eco_meter_model_open(d, &p, &m, &err), 0);
  assert_true(m->src.estimated);
  assert_string_equal(m->src.name, "model");
  assert_int_equal(eco_meter_poll_at(m, 0, &err), 0);
  /* +500 busy, +500 idle: u = 0.5; P = 100*(0.2+0.8*0.5) + 8 GiB*0.5 = 64 W */
  proc_tree(d, "cpu  300 0 300 1400 0 0 0 0 0 0\n");
  assert_int_equal(eco_meter_poll_at(m, 10, &err), 0);
  assert_true(NEAR(eco_meter_total(m), 640));
  /* no jiffies elapsed: the last utilisation is kept */
  assert_int_equal(eco_meter_poll_at(m, 11, &err), 0);
  assert_true(NEAR(eco_meter_total(m), 704));
  proc_tree(d, "intr 1 2 3\n");
  assert_int_equal(eco_meter_poll_at(m, 12, &err), ECO_EFORMAT);
  eco_meter_free(m);

  /* TDP from the table: EPYC 7763 is 280 W for 128 threads; 2 visible */
  proc_tree(d, "cpu  50 0 50 900 0 0 0 0 0 0\n");
  assert_true(NEAR(eco_model_default_tdp("AMD EPYC 7763 64-Core Processor", 2), 4.375));
  assert_true(NEAR(eco_model_default_tdp("Mystery CPU", 2), 8.0));
  assert_true(NEAR(eco_model_default_tdp(NULL, 0), 4.0));
  eco_model_params_default(&p);
  assert_int_equal(eco_meter_model_open(d, &p, &m, &err), 0);
  assert_non_null(strstr(m->src.detail, "TDP 4.4 W"));
  eco_meter_free(m);
  p.idle_fraction = 2;
  assert_int_equal(eco_meter_model_open(d, &p, &m, &err), ECO_EINVAL);
  eco_test_rmtree(d);
  free(d);
}

static void test_auto_and_thread(void **state) {
  (void)state;
  char *d = eco_test_tmpdir();
  proc_tree(d, "cpu  50 0 50 900 0 0 0 0 0 0\n");
  eco_meter *m = NULL;
  eco_error err = {0};
  assert_int_equal(eco_meter_open_auto(d, NULL, &m, &err), 0);
  assert_string_equal(m->src.name, "model");
  eco_meter_free(m);
  rapl_tree(d);
  assert_int_equal(eco_meter_open_auto(d, NULL, &m, &err), 0);
  assert_string_equal(m->src.name, "rapl");
  /* the background thread sees a counter change without explicit polls */
  assert_int_equal(eco_meter_start(m, 0.002), 0);
  assert_int_equal(eco_meter_start(m, 0.002), 0); /* idempotent */
  w(d, "sys/class/powercap/intel-rapl:0/energy_uj", "4000000\n");
  size_t polls = 0;
  for (int i = 0; i < 5000 && eco_meter_total(m) == 0; i++)
    usleep(2000);
  assert_true(NEAR(eco_meter_total(m), 3.0));
  pthread_mutex_lock(&m->mu);
  polls = m->n_polls;
  pthread_mutex_unlock(&m->mu);
  assert_true(polls >= 1);
  eco_meter_stop(m);
  eco_meter_stop(m);
  assert_int_equal(eco_meter_start(m, 0), ECO_EINVAL);
  eco_meter_free(m);
  eco_test_rmtree(d);
  free(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rapl),
      cmocka_unit_test(test_rapl_unreadable),
      cmocka_unit_test(test_hwmon),
      cmocka_unit_test(test_ina3221),
      cmocka_unit_test(test_nvml_fake),
      cmocka_unit_test(test_model),
      cmocka_unit_test(test_auto_and_thread),
  };
  return cmocka_run_group_tests_name("energy_meter", tests, NULL, NULL);
}
