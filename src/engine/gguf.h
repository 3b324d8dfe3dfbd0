/* ecoinfer: GGUF reader (versions 2 and 3), mmap-based.
 *
 * Layout (little-endian):
 *   magic "GGUF" | u32 version | u64 n_tensors | u64 n_kv      (v1 used u32 counts: refused)
 *   n_kv x { gguf_string key | u32 type | value }
 *   n_tensors x { gguf_string name | u32 n_dims | u64 dims[n_dims] | u32 ggml_type | u64 offset }
 *   padding to general.alignment (default 32) | tensor data
 * gguf_string = u64 len | bytes (not NUL-terminated).
 *
 * eco_gguf_open validates everything before returning: every length and
 * count against the bytes left in the file, every array element type,
 * tensor names unique and non-empty, 1 <= n_dims <= 4, dims > 0, element
 * counts and byte sizes computed with overflow checks, types known, row
 * sizes a multiple of the type's block, offsets aligned and data inside the
 * file. A malformed file gets ECO_EFORMAT (or ECO_EUNSUPPORTED) with a
 * message that says what is wrong and where; it never crashes.
 */
#ifndef ECO_ENGINE_GGUF_H
#define ECO_ENGINE_GGUF_H

#include "util/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ggml tensor types (values as in ggml.h). The reader knows the block size
 * of every one of them, so that a file with a type the engine does not
 * compute with still parses and the loader can name the type and tensor. */
typedef enum eco_ggml_type {
  ECO_GGML_F32 = 0,
  ECO_GGML_F16 = 1,
  ECO_GGML_Q4_0 = 2,
  ECO_GGML_Q4_1 = 3,
  ECO_GGML_Q5_0 = 6,
  ECO_GGML_Q5_1 = 7,
  ECO_GGML_Q8_0 = 8,
  ECO_GGML_Q8_1 = 9,
  ECO_GGML_Q2_K = 10,
  ECO_GGML_Q3_K = 11,
  ECO_GGML_Q4_K = 12,
  ECO_GGML_Q5_K = 13,
  ECO_GGML_Q6_K = 14,
  ECO_GGML_Q8_K = 15,
  ECO_GGML_IQ2_XXS = 16,
  ECO_GGML_IQ2_XS = 17,
  ECO_GGML_IQ3_XXS = 18,
  ECO_GGML_IQ1_S = 19,
  ECO_GGML_IQ4_NL = 20,
  ECO_GGML_IQ3_S = 21,
  ECO_GGML_IQ2_S = 22,
  ECO_GGML_IQ4_XS = 23,
  ECO_GGML_I8 = 24,
  ECO_GGML_I16 = 25,
  ECO_GGML_I32 = 26,
  ECO_GGML_I64 = 27,
  ECO_GGML_F64 = 28,
  ECO_GGML_IQ1_M = 29,
  ECO_GGML_BF16 = 30,
  ECO_GGML_TQ1_0 = 34,
  ECO_GGML_TQ2_0 = 35,
  ECO_GGML_MXFP4 = 39,
  ECO_GGML_NVFP4 = 40,
  ECO_GGML_Q1_0 = 41,
  ECO_GGML_Q2_0 = 42,
} eco_ggml_type;

/* GGUF metadata value types. */
typedef enum eco_gguf_vtype {
  ECO_GGUF_UINT8 = 0,
  ECO_GGUF_INT8 = 1,
  ECO_GGUF_UINT16 = 2,
  ECO_GGUF_INT16 = 3,
  ECO_GGUF_UINT32 = 4,
  ECO_GGUF_INT32 = 5,
  ECO_GGUF_FLOAT32 = 6,
  ECO_GGUF_BOOL = 7,
  ECO_GGUF_STRING = 8,
  ECO_GGUF_ARRAY = 9,
  ECO_GGUF_UINT64 = 10,
  ECO_GGUF_INT64 = 11,
  ECO_GGUF_FLOAT64 = 12,
} eco_gguf_vtype;

/* A string inside the mapped file (not NUL-terminated). */
typedef struct eco_gguf_str {
  const char *ptr;
  uint64_t len;
} eco_gguf_str;

/* One metadata entry. Scalars are decoded; arrays point into the file. */
typedef struct eco_gguf_kv {
  eco_gguf_str key;
  eco_gguf_vtype type;
  union {
    uint64_t u64; /* all unsigned ints and bool */
    int64_t i64;  /* all signed ints */
    double f64;   /* float32 and float64 */
    eco_gguf_str str;
    struct {
      eco_gguf_vtype type; /* element type (never ARRAY: nested arrays refused) */
      uint64_t n;          /* element count */
      const uint8_t *data; /* first element; STRING arrays are serialized strings */
    } arr;
  } v;
} eco_gguf_kv;

typedef struct eco_gguf_tensor {
  eco_gguf_str name;
  uint32_t n_dims; /* 1..4 */
  uint64_t ne[4];  /* ne[0] = row length (innermost); unused dims = 1 */
  eco_ggml_type type;
  uint64_t offset;     /* relative to the data section */
  uint64_t n_elements; /* product of ne */
  uint64_t n_bytes;    /* storage size */
  const void *data;    /* pointer into the mapping */
} eco_gguf_tensor;

typedef struct eco_gguf {
  uint32_t version;   /* 2 or 3 */
  uint64_t alignment; /* general.alignment or 32 */
  eco_gguf_kv *kv;
  uint64_t n_kv;
  eco_gguf_tensor *tensors;
  uint64_t n_tensors;
  const uint8_t *base;  /* mapping */
  size_t size;          /* file size, bytes */
  uint64_t data_offset; /* start of the tensor data section */
  bool owns_mapping;    /* true when opened from a file */
} eco_gguf;

/* Opens and validates a file (mmap, read-only). */
int eco_gguf_open(const char *path, eco_gguf **out, eco_error *err);
/* Parses and validates an in-memory buffer (not copied; must outlive the
 * result). Used by the fuzzer and by tests. */
int eco_gguf_parse(const void *buf, size_t len, eco_gguf **out, eco_error *err);
void eco_gguf_close(eco_gguf *g);

/* Lookup by key; NULL if absent. */
const eco_gguf_kv *eco_gguf_find(const eco_gguf *g, const char *key);
/* Typed getters: ECO_ENOENT if absent, ECO_EFORMAT if of another type.
 * Integer getters accept any integer type whose value fits. */
int eco_gguf_get_u64(const eco_gguf *g, const char *key, uint64_t *out);
int eco_gguf_get_i64(const eco_gguf *g, const char *key, int64_t *out);
int eco_gguf_get_f64(const eco_gguf *g, const char *key, double *out);
int eco_gguf_get_bool(const eco_gguf *g, const char *key, bool *out);
/* Copies a string value into buf (NUL-terminated); ECO_EOVERFLOW if too long. */
int eco_gguf_get_str(const eco_gguf *g, const char *key, char *buf, size_t cap);
/* Array access: element count and element type. */
int eco_gguf_get_arr(const eco_gguf *g, const char *key, eco_gguf_vtype *elem_type, uint64_t *n,
                     const uint8_t **data);
/* Iterates a STRING array: *pos starts at the array's data; each call yields
 * the next string. The array was validated at open, so this cannot overrun. */
eco_gguf_str eco_gguf_arr_next_str(const uint8_t **pos);

const eco_gguf_tensor *eco_gguf_find_tensor(const eco_gguf *g, const char *name);

/* Type traits: block size in elements and bytes per block; 0 if unknown. */
uint32_t eco_ggml_block_elems(eco_ggml_type t);
uint32_t eco_ggml_block_bytes(eco_ggml_type t);
const char *eco_ggml_type_name(eco_ggml_type t);
/* llama.cpp's name of a general.file_type value ("Q4_K_M"); NULL if unknown. */
const char *eco_gguf_ftype_name(uint32_t ftype);

#endif
