/* ecoinfer test helper: copies a GGUF file with edits, to make the broken
 * models a hostile-input test needs from a good one: a metadata value
 * changed (or added), one tensor element set to NaN. Not a GGUF writer: the
 * header, metadata and tensor infos are copied byte for byte, new keys are
 * appended after the existing ones and the data section is re-aligned. */
#ifndef ECO_TEST_GGUF_EDIT_H
#define ECO_TEST_GGUF_EDIT_H

#include <stddef.h>
#include <stdint.h>

typedef enum eco_test_gguf_edit_kind {
  ECO_TEST_EDIT_F32 = 1, /* metadata key := float32 value (added if absent) */
  ECO_TEST_EDIT_U32 = 2, /* metadata key := uint32 value (added if absent) */
  ECO_TEST_EDIT_I32 = 3, /* metadata key := int32 value (added if absent) */
  ECO_TEST_EDIT_ELEM = 4 /* element `index` of F32/F16 tensor `name` := value */
} eco_test_gguf_edit_kind;

typedef struct eco_test_gguf_edit {
  eco_test_gguf_edit_kind kind;
  const char *name; /* metadata key or tensor name */
  double value;     /* NAN, INFINITY, -1, ... */
  uint64_t index;   /* ECO_TEST_EDIT_ELEM: element of the tensor (row-major) */
} eco_test_gguf_edit;

/* Writes src with the edits applied to dst. Returns 0, or -1 with a message
 * on stderr (src unreadable or not GGUF, an existing key of another type, a
 * tensor of another type, an index out of range). */
int eco_test_gguf_edit_copy(const char *src, const char *dst, const eco_test_gguf_edit *edits,
                            size_t n_edits);

#endif
