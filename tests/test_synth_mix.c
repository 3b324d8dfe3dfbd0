/* `bench synth` mixes against llama.cpp's own per-tensor choices:
 * tests/fixtures/llama/mixes.json has, for the real shapes and 11 mixes,
 * the type llama-quantize --dry-run gave every tensor of a `bench synth
 * --type f16` file (scripts/make-llama-fixtures.sh). */
#include "engine/synth.h"
#include "testutil.h"

#include <jansson.h>

static void test_mixes_match_llama_quantize(void **state) {
  (void)state;
  char path[512];
  snprintf(path, sizeof path, "%s/tests/fixtures/llama/mixes.json", ECO_TEST_SOURCE_DIR);
  json_error_t je;
  json_t *root = json_load_file(path, 0, &je);
  if (!root) fail_msg("%s: %s", path, je.text);
  json_t *shapes = json_object_get(root, "mixes");
  assert_true(json_object_size(shapes) >= 4);
  const char *shape_name;
  json_t *mixes;
  int checked = 0;
  json_object_foreach(shapes, shape_name, mixes) {
    const eco_synth_shape *sh = eco_synth_find_shape(shape_name);
    if (!sh) fail_msg("unknown shape %s", shape_name);
    const char *mix_name;
    json_t *types;
    json_object_foreach(mixes, mix_name, types) {
      static eco_synth_tensor_type tt[4096];
      eco_error err = {0};
      const int n = eco_synth_types(sh, mix_name, tt, 4096, &err);
      if (n < 0) fail_msg("%s %s: %s", shape_name, mix_name, err.msg);
      assert_int_equal((size_t)n, json_object_size(types));
      for (int i = 0; i < n; i++) {
        const char *want = json_string_value(json_object_get(types, tt[i].name));
        if (!want) fail_msg("%s %s: llama.cpp has no tensor %s", shape_name, mix_name, tt[i].name);
        if (strcmp(want, eco_ggml_type_name(tt[i].type)) != 0)
          fail_msg("%s %s: %s is %s, llama-quantize makes it %s", shape_name, mix_name, tt[i].name,
                   eco_ggml_type_name(tt[i].type), want);
        checked++;
      }
    }
  }
  print_message("%d tensor types equal llama-quantize's\n", checked);
  json_decref(root);
}

static void test_unknown_mix_refused(void **state) {
  (void)state;
  eco_synth_tensor_type tt[8];
  eco_error err = {0};
  assert_int_equal(eco_synth_types(eco_synth_find_shape("test-256"), "q4_k_s", tt, 8, &err),
                   ECO_EINVAL);
  assert_non_null(strstr(err.msg, "q4_k_m"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mixes_match_llama_quantize),
      cmocka_unit_test(test_unknown_mix_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
