/* ecoinfer test helpers: llama.cpp reference files (refjson.h). */
#include "refjson.h"
#include "testutil.h"

#include <math.h>

json_t *eco_test_ref_load(const char *path) {
  json_error_t je;
  json_t *r = json_load_file(path, JSON_ALLOW_NUL, &je);
  if (!r) fail_msg("%s: %s (line %d)", path, je.text, je.line);
  return r;
}

int32_t *eco_test_ref_ids(json_t *arr, int *n) {
  *n = (int)json_array_size(arr);
  int32_t *v = malloc((size_t)(*n ? *n : 1) * sizeof *v);
  assert_non_null(v);
  for (int i = 0; i < *n; i++)
    v[i] = (int32_t)json_integer_value(json_array_get(arr, (size_t)i));
  return v;
}

double eco_test_ref_rel_err(const float *a, json_t *b, int n) {
  double md = 0, mb = 0;
  for (int i = 0; i < n; i++) {
    const double bv = json_number_value(json_array_get(b, (size_t)i));
    md = fmax(md, fabs(a[i] - bv));
    mb = fmax(mb, fabs(bv));
  }
  return md / mb;
}
