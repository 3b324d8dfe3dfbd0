/* ecoinfer test helpers: llama.cpp reference files (the JSON schema of
 * ../shared/reference/README.md, also written by scripts/llama_ref.c). */
#ifndef ECO_TEST_REFJSON_H
#define ECO_TEST_REFJSON_H

#include <jansson.h>
#include <stdint.h>

/* The JSON file at path (NUL characters allowed in strings); fails the
 * current test when it cannot be read. */
json_t *eco_test_ref_load(const char *path);
/* A JSON array of token ids as a malloc'd array of *n ids. */
int32_t *eco_test_ref_ids(json_t *arr, int *n);
/* max |a[i] - b[i]| / max |b[i]| over n logits (b: a JSON array). */
double eco_test_ref_rel_err(const float *a, json_t *b, int n);

#endif
