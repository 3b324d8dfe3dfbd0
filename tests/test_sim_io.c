/* Tests of the simulator's inputs and outputs: the shipped device profiles,
 * length and arrival CSVs, the Sprout loader, zone traces, the scenario YAML,
 * reports, the SVG writer and the `sim cluster` command end to end. */
#include "testutil.h"

#include "artifact/artifact.h"
#include "sim/device.h"
#include "sim/report.h"
#include "sim/scenario.h"
#include "util/svg.h"
#include "sim/workload.h"

#include <jansson.h>
#include <math.h>

static void test_shipped_profiles(void **state) {
  (void)state;
  static const char *const names[] = {"jetson-orin-nx-8gb", "rtx-2000-ada-16gb", "a100-80gb-sxm",
                                      "cpu-server-xeon"};
  eco_sim_device d[4];
  for (size_t i = 0; i < 4; i++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/data/devices/%s.yaml", ECO_TEST_SOURCE_DIR, names[i]);
    eco_error err = {0};
    assert_int_equal(eco_sim_device_load(path, &d[i], &err), 0);
    assert_string_equal(d[i].name, names[i]);
    assert_true(d[i].embodied.total_g > 0 && d[i].idle_w > 0);
    /* more batch => more aggregate decode throughput */
    for (size_t k = 1; k < d[i].n_points; k++)
      assert_true(d[i].decode_tok_s[k] > d[i].decode_tok_s[k - 1]);
  }
  /* the edge pair: the Jetson uses less energy per token, the RTX is faster */
  double pf, dj, pj, dr, pr;
  eco_sim_device_at(&d[0], 1, &pf, &dj, &pj);
  eco_sim_device_at(&d[1], 1, &pf, &dr, &pr);
  assert_true(pj / dj < pr / dr);
  assert_true(dr > 2 * dj);
  /* the Jetson's memory holds a batch of 4 requests of 1,000 tokens, not 8 */
  assert_true(eco_sim_device_mem_need(&d[0], 4 * 1000.0) <= d[0].usable_mem_bytes);
  assert_true(eco_sim_device_mem_need(&d[0], 8 * 1000.0) > d[0].usable_mem_bytes);
}

static void test_csv_inputs(void **state) {
  (void)state;
  char *dir = eco_test_tmpdir();
  assert_int_equal(eco_test_write_file(dir, "lens.csv",
                                       "prompt_tokens,output_tokens,out_l1\n10,100,40\n20,200\n"),
                   0);
  assert_int_equal(eco_test_write_file(dir, "arr.csv", "time_s,prompt,out\n0,5,6\n1.5,7,8\n"), 0);
  assert_int_equal(eco_test_write_file(dir, "bad.csv", "time_s\n2\n1\n"), 0);
  char *p = eco_test_path(dir, "lens.csv");
  eco_sim_len *lens = NULL;
  size_t n = 0;
  eco_error err = {0};
  assert_int_equal(eco_sim_lens_load_csv(p, &lens, &n, &err), 0);
  assert_int_equal(n, 2);
  assert_int_equal(lens[0].prompt_tok, 10);
  assert_int_equal(lens[0].out_tok[0], 100);
  assert_int_equal(lens[0].out_tok[1], 40);
  assert_int_equal(lens[1].out_tok[1], 0); /* absent: the level multiplier applies */
  free(lens);
  free(p);
  p = eco_test_path(dir, "arr.csv");
  double *t = NULL;
  eco_sim_len *tl = NULL;
  assert_int_equal(eco_sim_trace_load_csv(p, &t, &tl, &n, &err), 0);
  assert_int_equal(n, 2);
  assert_true(t[1] == 1.5);
  assert_non_null(tl);
  assert_int_equal(tl[1].out_tok[0], 8);
  free(t);
  free(tl);
  free(p);
  p = eco_test_path(dir, "bad.csv");
  assert_int_equal(eco_sim_trace_load_csv(p, &t, &tl, &n, &err), ECO_EFORMAT);
  assert_non_null(strstr(err.msg, "must not decrease"));
  free(p);
  eco_test_rmtree(dir);
  free(dir);
}

static void test_sprout_lengths(void **state) {
  (void)state;
  char *probe;
  ECO_TEST_NEED_SHARED("data/sprout/request_carbon/triviaqa_5000_13b-chat.json", &probe);
  free(probe);
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/data/sprout", eco_test_shared_dir());
  eco_sim_len *lens = NULL;
  size_t n = 0;
  eco_error err = {0};
  assert_int_equal(eco_sim_lens_load_sprout(dir, "triviaqa_5000", 40, &lens, &n, &err), 0);
  assert_int_equal(n, 5000);
  double o0 = 0, o2 = 0;
  for (size_t i = 0; i < n; i++) {
    assert_true(lens[i].prompt_tok >= 1);
    o0 += lens[i].out_tok[0];
    o2 += lens[i].out_tok[2];
  }
  /* "answer very briefly" (L2) produces far fewer tokens than L0 */
  assert_true(o2 < 0.5 * o0);
  free(lens);
  assert_int_equal(eco_sim_lens_load_sprout(dir, "no_such_set", 40, &lens, &n, &err), ECO_EFORMAT);
}

/* One dataset of a synthetic artifact by any file name, through the shared
 * reader: every message's bytes, the costs per level, and bad files. */
static void test_sprout_any_dataset(void **state) {
  (void)state;
  char *dir = eco_test_tmpdir();
  static const char *const variant[3] = {"13b-chat", "brief_13b-chat", "brief+_13b-chat"};
  static const char *const times[3] = {"[10, 2.5, 0]", "[5, 1, 0]", "[1, 0.5, 0]"};
  assert_int_equal(eco_test_write_file(dir, "prompts/prompt_tiny.json",
                                       "[[{\"role\":\"system\",\"content\":\"abcd\"},"
                                       "{\"role\":\"user\",\"content\":\"hello world!\"}],"
                                       "[{\"role\":\"user\",\"content\":\"x\"}], \"odd\"]"),
                   0);
  for (int v = 0; v < 3; v++) {
    char rel[128], body[128];
    snprintf(rel, sizeof rel, "request_carbon/tiny_%s.json", variant[v]);
    snprintf(body, sizeof body, "{\"energy\": [1e-4, 2e-4, %d], \"time\": %s}", v, times[v]);
    assert_int_equal(eco_test_write_file(dir, rel, body), 0);
  }
  eco_artifact a;
  eco_error err = {0};
  assert_int_equal(eco_artifact_load_dataset(dir, "tiny", &a, &err), 0);
  const eco_artifact_ds *ds = &a.ds[0];
  assert_string_equal(ds->name, "tiny");
  assert_int_equal(ds->n, 3);
  assert_string_equal(ds->prompt[0], "abcd"); /* the first message */
  assert_null(ds->prompt[2]);
  assert_int_equal(ds->prompt_bytes[0], 16); /* every message */
  assert_int_equal(ds->prompt_bytes[1], 1);
  assert_int_equal(ds->prompt_bytes[2], 0);
  assert_true(ds->time_s[1][0] == 5 && ds->energy_kwh[2][2] == 2);
  assert_int_equal(ds->n_lab, 0);
  for (int k = 1; k < ECO_ARTIFACT_NDS; k++)
    assert_int_equal(a.ds[k].n, 0);
  assert_int_equal(eco_artifact_find(&a, 0, "x", 1), 1);
  eco_artifact_free(&a);

  eco_sim_len *lens = NULL;
  size_t n = 0;
  assert_int_equal(eco_sim_lens_load_sprout(dir, "tiny", 40, &lens, &n, &err), 0);
  assert_int_equal(eco_sim_lens_load_sprout(dir, "tiny", 40, &lens, &n, &err), 0);
  assert_int_equal(n, 6); /* appended */
  static const uint32_t want[3][4] = {{4, 400, 200, 40}, {1, 100, 40, 20}, {1, 1, 1, 1}};
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(lens[i].prompt_tok, want[i % 3][0]);
    for (int v = 0; v < 3; v++)
      assert_int_equal(lens[i].out_tok[v], want[i % 3][1 + v]);
  }
  /* bad files: an error naming the file, lens and n unchanged */
  assert_int_equal(eco_test_write_file(dir, "request_carbon/tiny_brief_13b-chat.json",
                                       "{\"energy\": [1, 2, 3], \"time\": [1, 2]}"),
                   0);
  assert_int_equal(eco_sim_lens_load_sprout(dir, "tiny", 40, &lens, &n, &err), ECO_EFORMAT);
  assert_non_null(strstr(err.msg, "tiny_brief_13b-chat.json"));
  assert_int_equal(
      eco_test_write_file(dir, "request_carbon/tiny_brief_13b-chat.json", "{\"time\": [1, 2, 3]}"),
      0);
  assert_int_equal(eco_sim_lens_load_sprout(dir, "tiny", 40, &lens, &n, &err), ECO_EFORMAT);
  assert_int_equal(eco_test_write_file(dir, "prompts/prompt_empty.json", "[]"), 0);
  assert_int_equal(eco_sim_lens_load_sprout(dir, "empty", 40, &lens, &n, &err), ECO_EFORMAT);
  assert_int_equal(eco_sim_lens_load_sprout(dir, "absent", 40, &lens, &n, &err), ECO_EFORMAT);
  assert_non_null(strstr(err.msg, "prompt_absent.json"));
  char long_name[400];
  memset(long_name, 'a', sizeof long_name - 1);
  long_name[sizeof long_name - 1] = '\0';
  assert_int_equal(eco_sim_lens_load_sprout(dir, long_name, 40, &lens, &n, &err), ECO_EINVAL);
  assert_int_equal(eco_sim_lens_load_sprout(dir, "tiny", 0, &lens, &n, &err), ECO_EINVAL);
  assert_int_equal(n, 6);
  free(lens);
  eco_test_rmtree(dir);
  free(dir);
}

static void test_zone_hourly(void **state) {
  (void)state;
  char *path;
  ECO_TEST_NEED_SHARED("data/carbon/FR_2023_hourly.csv", &path);
  double *ci = NULL;
  eco_error err = {0};
  /* 2023-01-01T00:00Z = 1672531200 */
  assert_int_equal(eco_sim_zone_hourly(path, "FR", 1672531200.0, 48, &ci, &err), 0);
  for (size_t h = 0; h < 48; h++)
    assert_true(ci[h] >= 4 && ci[h] <= 127); /* SOURCES.md range */
  free(ci);
  /* a single file: the zone name given is an alias for the file's zone
   * (DE-LU files say "DE"); a folder: the zone must exist */
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/data/carbon", eco_test_shared_dir());
  assert_int_equal(eco_sim_zone_hourly(dir, "DE-LU", 0, 4, &ci, &err), 0);
  free(ci);
  assert_int_not_equal(eco_sim_zone_hourly(dir, "XX", 0, 4, &ci, &err), 0);
  free(path);
}

static void test_svg_and_pareto(void **state) {
  (void)state;
  eco_sim_summary s[3];
  memset(s, 0, sizeof s);
  snprintf(s[0].policy, sizeof s[0].policy, "a");
  s[0].total_g_per_req = 1;
  s[0].p95_s = 10;
  snprintf(s[1].policy, sizeof s[1].policy, "b");
  s[1].total_g_per_req = 2;
  s[1].p95_s = 5;
  snprintf(s[2].policy, sizeof s[2].policy, "c<&>");
  s[2].total_g_per_req = 2.5;
  s[2].p95_s = 12; /* dominated by a and b */
  size_t front[3];
  assert_int_equal(eco_sim_pareto(s, 3, front), 2);
  assert_int_equal(front[0], 0);
  assert_int_equal(front[1], 1);
  eco_strbuf sb;
  eco_sb_init(&sb);
  assert_int_equal(eco_sim_svg_pareto(&sb, s, 3), 0);
  const char *t = eco_sb_str(&sb);
  assert_non_null(strstr(t, "<svg"));
  assert_non_null(strstr(t, "</svg>"));
  assert_non_null(strstr(t, "c&lt;&amp;&gt;")); /* names are escaped */
  assert_null(strstr(t, "c<&>"));
  assert_non_null(strstr(t, "Pareto front"));
  eco_sb_free(&sb);
}

static const char *scenario = "seed: 3\n"
                              "duration: 2h\n"
                              "batch: {size: 2, wait: 1s}\n"
                              "devices: [toy.yaml]\n"
                              "zones:\n"
                              "  - {name: A, intensity: 100}\n"
                              "  - {name: B, intensity: 400, pue: 1.2}\n"
                              "nodes:\n"
                              "  - {device: toy, zone: A}\n"
                              "  - {device: toy, zone: B, count: 2}\n"
                              "workload:\n"
                              "  rate: 0.05\n"
                              "  lengths: file\n"
                              "  lengths_file: lens.csv\n"
                              "  levels: {mix: [0.5, 0.5], mult: [1, 0.5]}\n"
                              "  slo: 60s\n"
                              "policies: [round-robin, carbon]\n";

static const char *toy = "device:\n"
                         "  name: toy\n"
                         "  memory_gb: 1\n"
                         "  idle_w: 10\n"
                         "  embodied_kg: 1\n"
                         "  max_batch: 4\n"
                         "  points:\n"
                         "    - {batch: 1, prefill_tok_s: 100, decode_tok_s: 20, power_w: 50}\n"
                         "    - {batch: 4, prefill_tok_s: 200, decode_tok_s: 60, power_w: 70}\n";

static void test_scenario_and_cli(void **state) {
  (void)state;
  char *dir = eco_test_tmpdir();
  assert_int_equal(eco_test_write_file(dir, "toy.yaml", toy), 0);
  assert_int_equal(eco_test_write_file(dir, "lens.csv", "p,o\n20,30\n40,60\n10,10\n"), 0);
  assert_int_equal(eco_test_write_file(dir, "c.yaml", scenario), 0);
  char *cfgp = eco_test_path(dir, "c.yaml");
  eco_cfg *cfg = NULL;
  eco_error err = {0};
  assert_int_equal(eco_cfg_load_file(cfgp, &cfg, &err), 0);
  eco_cfg_use_env(cfg, false);
  eco_sim_scenario sc;
  assert_int_equal(eco_sim_scenario_load(cfg, dir, NULL, &sc, &err), 0);
  assert_int_equal(sc.cfg.n_nodes, 3);
  assert_int_equal(sc.n_lens, 3);
  assert_int_equal(sc.cfg.workload.n_levels, 2);
  assert_true(sc.cfg.workload.slo_s == 60 && sc.cfg.duration_s == 7200);
  assert_int_equal(sc.n_policies, 2);
  assert_true(sc.zones[1].pue == 1.2 && sc.zones[1].ci[0] == 400);
  eco_sim_scenario_free(&sc);
  eco_cfg_free(cfg);
  /* an unknown device is a config error naming it */
  assert_int_equal(eco_test_write_file(dir, "bad.yaml",
                                       "devices: [toy.yaml]\nzones: [{name: A, intensity: 1}]\n"
                                       "nodes: [{device: nope, zone: A}]\n"),
                   0);
  char *badp = eco_test_path(dir, "bad.yaml");
  assert_int_equal(eco_cfg_load_file(badp, &cfg, &err), 0);
  assert_int_equal(eco_sim_scenario_load(cfg, dir, NULL, &sc, &err), ECO_ECONFIG);
  assert_non_null(strstr(err.msg, "nope"));
  eco_cfg_free(cfg);
  /* the command end to end, twice: same seed => same output */
  char cmd[4096], *out1 = NULL, *out2 = NULL;
  int code = -1;
  char *outdir = eco_test_path(dir, "out");
  snprintf(cmd, sizeof cmd, "%s sim cluster --config %s --json --out %s", eco_test_binary(), cfgp,
           outdir);
  assert_int_equal(eco_test_run(cmd, &out1, &code), 0);
  assert_int_equal(code, 0);
  assert_int_equal(eco_test_run(cmd, &out2, &code), 0);
  assert_string_equal(out1, out2);
  json_error_t je;
  json_t *root = json_loads(out1, 0, &je);
  assert_non_null(root);
  json_t *pols = json_object_get(root, "policies");
  assert_int_equal(json_array_size(pols), 2);
  json_t *rr = json_array_get(pols, 0), *cb = json_array_get(pols, 1);
  assert_string_equal(json_string_value(json_object_get(rr, "policy")), "round-robin");
  assert_true(json_integer_value(json_object_get(rr, "completed")) > 200);
  /* carbon-aware puts the work in zone A (100 g/kWh, PUE 1) */
  double share_a = json_real_value(json_object_get(json_object_get(cb, "zone_busy_share"), "A"));
  assert_true(share_a > 0.9);
  assert_true(json_real_value(json_object_get(cb, "op_active_g_per_req")) <
              json_real_value(json_object_get(rr, "op_active_g_per_req")));
  json_decref(root);
  static const char *const files[] = {"results.csv", "summary.json",    "hourly.csv",
                                      "carbon.svg",  "latency_cdf.svg", "pareto.svg"};
  for (size_t i = 0; i < 6; i++) {
    char *f = eco_test_path(outdir, files[i]);
    FILE *fp = fopen(f, "r");
    assert_non_null(fp);
    fclose(fp);
    free(f);
  }
  /* bad policy name: usage error */
  free(out1);
  snprintf(cmd, sizeof cmd, "%s sim cluster --config %s --policy bogus 2>&1", eco_test_binary(),
           cfgp);
  assert_int_equal(eco_test_run(cmd, &out1, &code), 0);
  assert_int_equal(code, 2);
  assert_non_null(strstr(out1, "bogus"));
  free(out1);
  free(out2);
  free(outdir);
  free(badp);
  free(cfgp);
  eco_test_rmtree(dir);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_shipped_profiles), cmocka_unit_test(test_csv_inputs),
      cmocka_unit_test(test_sprout_lengths),   cmocka_unit_test(test_sprout_any_dataset),
      cmocka_unit_test(test_zone_hourly),      cmocka_unit_test(test_svg_and_pareto),
      cmocka_unit_test(test_scenario_and_cli),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
