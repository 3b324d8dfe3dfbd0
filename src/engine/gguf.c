/* ecoinfer: GGUF reader (see gguf.h). Every read is bounds-checked against
 * the buffer; every size product is overflow-checked. */
#include "engine/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGUF_MAX_NAME 256 /* bytes in a tensor name */

typedef struct cursor {
  const uint8_t *buf;
  size_t len;
  size_t pos;
  eco_error *err;
} cursor;

static size_t left(const cursor *c) { return c->len - c->pos; }

static int need(cursor *c, uint64_t n, const char *what) {
  if (n > left(c))
    return eco_error_set(c->err, ECO_EFORMAT,
                         "gguf: truncated at byte %zu: %s needs %llu bytes, %zu left", c->pos, what,
                         (unsigned long long)n, left(c));
  return 0;
}

static int rd_u32(cursor *c, uint32_t *v, const char *what) {
  int rc = need(c, 4, what);
  if (rc) return rc;
  memcpy(v, c->buf + c->pos, 4);
  c->pos += 4;
  return 0;
}

static int rd_u64(cursor *c, uint64_t *v, const char *what) {
  int rc = need(c, 8, what);
  if (rc) return rc;
  memcpy(v, c->buf + c->pos, 8);
  c->pos += 8;
  return 0;
}

static int rd_str(cursor *c, eco_gguf_str *s, const char *what) {
  uint64_t n;
  int rc = rd_u64(c, &n, what);
  if (rc) return rc;
  if (n > left(c))
    return eco_error_set(c->err, ECO_EFORMAT,
                         "gguf: %s at byte %zu has length %llu but only %zu bytes are left", what,
                         c->pos - 8, (unsigned long long)n, left(c));
  s->ptr = (const char *)(c->buf + c->pos);
  s->len = n;
  c->pos += (size_t)n;
  return 0;
}

/* Byte size of a scalar metadata type; 0 for STRING/ARRAY/unknown. */
static size_t vtype_size(uint32_t t) {
  switch (t) {
  case ECO_GGUF_UINT8:
  case ECO_GGUF_INT8:
  case ECO_GGUF_BOOL: return 1;
  case ECO_GGUF_UINT16:
  case ECO_GGUF_INT16: return 2;
  case ECO_GGUF_UINT32:
  case ECO_GGUF_INT32:
  case ECO_GGUF_FLOAT32: return 4;
  case ECO_GGUF_UINT64:
  case ECO_GGUF_INT64:
  case ECO_GGUF_FLOAT64: return 8;
  default: return 0;
  }
}

static void decode_scalar(eco_gguf_kv *kv, const uint8_t *p) {
  switch (kv->type) {
  case ECO_GGUF_UINT8: kv->v.u64 = p[0]; break;
  case ECO_GGUF_BOOL: kv->v.u64 = p[0] != 0; break;
  case ECO_GGUF_INT8: kv->v.i64 = p[0] < 128 ? (int64_t)p[0] : (int64_t)p[0] - 256; break;
  case ECO_GGUF_UINT16: {
    uint16_t x;
    memcpy(&x, p, 2);
    kv->v.u64 = x;
    break;
  }
  case ECO_GGUF_INT16: {
    int16_t x;
    memcpy(&x, p, 2);
    kv->v.i64 = x;
    break;
  }
  case ECO_GGUF_UINT32: {
    uint32_t x;
    memcpy(&x, p, 4);
    kv->v.u64 = x;
    break;
  }
  case ECO_GGUF_INT32: {
    int32_t x;
    memcpy(&x, p, 4);
    kv->v.i64 = x;
    break;
  }
  case ECO_GGUF_FLOAT32: {
    float x;
    memcpy(&x, p, 4);
    kv->v.f64 = x;
    break;
  }
  case ECO_GGUF_UINT64: memcpy(&kv->v.u64, p, 8); break;
  case ECO_GGUF_INT64: memcpy(&kv->v.i64, p, 8); break;
  case ECO_GGUF_FLOAT64: memcpy(&kv->v.f64, p, 8); break;
  default: break;
  }
}

/* --- a small open-addressing hash set of names, to refuse duplicates ----- */
typedef struct nameset {
  const eco_gguf_str **slots;
  size_t cap; /* power of two */
} nameset;

static uint64_t hash_str(const char *p, uint64_t n) {
  uint64_t h = 1469598103934665603ULL;
  for (uint64_t i = 0; i < n; i++)
    h = (h ^ (uint8_t)p[i]) * 1099511628211ULL;
  return h;
}

static int nameset_init(nameset *s, uint64_t n) {
  size_t cap = 16;
  while (cap < n * 2)
    cap <<= 1;
  s->slots = calloc(cap, sizeof *s->slots);
  s->cap = cap;
  return s->slots ? 0 : ECO_ENOMEM;
}

/* Returns true if already present; otherwise inserts. */
static bool nameset_add(nameset *s, const eco_gguf_str *name) {
  size_t i = (size_t)hash_str(name->ptr, name->len) & (s->cap - 1);
  while (s->slots[i]) {
    const eco_gguf_str *o = s->slots[i];
    if (o->len == name->len &&
        (name->len == 0 || memcmp(o->ptr, name->ptr, (size_t)name->len) == 0))
      return true;
    i = (i + 1) & (s->cap - 1);
  }
  s->slots[i] = name;
  return false;
}

static void nameset_free(nameset *s) { free(s->slots); }

/* Block size (elements), block bytes and name of every ggml type (ggml.c's
 * type traits); types removed from ggml have no entry. */
typedef struct type_info {
  eco_ggml_type type;
  uint32_t elems, bytes;
  const char *name;
} type_info;

static const type_info type_table[] = {
    {ECO_GGML_F32, 1, 4, "F32"},
    {ECO_GGML_F16, 1, 2, "F16"},
    {ECO_GGML_Q4_0, 32, 18, "Q4_0"},
    {ECO_GGML_Q4_1, 32, 20, "Q4_1"},
    {ECO_GGML_Q5_0, 32, 22, "Q5_0"},
    {ECO_GGML_Q5_1, 32, 24, "Q5_1"},
    {ECO_GGML_Q8_0, 32, 34, "Q8_0"},
    {ECO_GGML_Q8_1, 32, 36, "Q8_1"},
    {ECO_GGML_Q2_K, 256, 84, "Q2_K"},
    {ECO_GGML_Q3_K, 256, 110, "Q3_K"},
    {ECO_GGML_Q4_K, 256, 144, "Q4_K"},
    {ECO_GGML_Q5_K, 256, 176, "Q5_K"},
    {ECO_GGML_Q6_K, 256, 210, "Q6_K"},
    {ECO_GGML_Q8_K, 256, 292, "Q8_K"},
    {ECO_GGML_IQ2_XXS, 256, 66, "IQ2_XXS"},
    {ECO_GGML_IQ2_XS, 256, 74, "IQ2_XS"},
    {ECO_GGML_IQ3_XXS, 256, 98, "IQ3_XXS"},
    {ECO_GGML_IQ1_S, 256, 50, "IQ1_S"},
    {ECO_GGML_IQ4_NL, 32, 18, "IQ4_NL"},
    {ECO_GGML_IQ3_S, 256, 110, "IQ3_S"},
    {ECO_GGML_IQ2_S, 256, 82, "IQ2_S"},
    {ECO_GGML_IQ4_XS, 256, 136, "IQ4_XS"},
    {ECO_GGML_I8, 1, 1, "I8"},
    {ECO_GGML_I16, 1, 2, "I16"},
    {ECO_GGML_I32, 1, 4, "I32"},
    {ECO_GGML_I64, 1, 8, "I64"},
    {ECO_GGML_F64, 1, 8, "F64"},
    {ECO_GGML_IQ1_M, 256, 56, "IQ1_M"},
    {ECO_GGML_BF16, 1, 2, "BF16"},
    {ECO_GGML_TQ1_0, 256, 54, "TQ1_0"},
    {ECO_GGML_TQ2_0, 256, 66, "TQ2_0"},
    {ECO_GGML_MXFP4, 32, 17, "MXFP4"},
    {ECO_GGML_NVFP4, 64, 36, "NVFP4"},
    {ECO_GGML_Q1_0, 128, 18, "Q1_0"},
    {ECO_GGML_Q2_0, 64, 18, "Q2_0"},
};

static const type_info *type_find(eco_ggml_type t) {
  for (size_t i = 0; i < sizeof type_table / sizeof type_table[0]; i++)
    if (type_table[i].type == t) return &type_table[i];
  return NULL;
}

uint32_t eco_ggml_block_elems(eco_ggml_type t) {
  const type_info *ti = type_find(t);
  return ti ? ti->elems : 0;
}

uint32_t eco_ggml_block_bytes(eco_ggml_type t) {
  const type_info *ti = type_find(t);
  return ti ? ti->bytes : 0;
}

const char *eco_ggml_type_name(eco_ggml_type t) {
  const type_info *ti = type_find(t);
  return ti ? ti->name : "unknown";
}

const char *eco_gguf_ftype_name(uint32_t ftype) {
  static const char *const names[] = {
      [0] = "F32",      [1] = "F16",      [2] = "Q4_0",    [3] = "Q4_1",    [7] = "Q8_0",
      [8] = "Q5_0",     [9] = "Q5_1",     [10] = "Q2_K",   [11] = "Q3_K_S", [12] = "Q3_K_M",
      [13] = "Q3_K_L",  [14] = "Q4_K_S",  [15] = "Q4_K_M", [16] = "Q5_K_S", [17] = "Q5_K_M",
      [18] = "Q6_K",    [19] = "IQ2_XXS", [20] = "IQ2_XS", [21] = "Q2_K_S", [22] = "IQ3_XS",
      [23] = "IQ3_XXS", [24] = "IQ1_S",   [25] = "IQ4_NL", [26] = "IQ3_S",  [27] = "IQ3_M",
      [28] = "IQ2_S",   [29] = "IQ2_M",   [30] = "IQ4_XS", [31] = "IQ1_M",  [32] = "BF16",
      [36] = "TQ1_0",   [37] = "TQ2_0",   [38] = "MXFP4",  [39] = "NVFP4",  [40] = "Q1_0",
      [41] = "Q2_0",
  };
  return ftype < sizeof names / sizeof names[0] ? names[ftype] : NULL;
}

/* Prints at most 64 bytes of a name, with non-printables as '?'. */
static const char *printable(const eco_gguf_str *s, char *buf, size_t cap) {
  size_t n = s->len < cap - 1 ? (size_t)s->len : cap - 1;
  for (size_t i = 0; i < n; i++) {
    char ch = s->ptr[i];
    buf[i] = (ch >= 32 && ch < 127) ? ch : '?';
  }
  buf[n] = '\0';
  return buf;
}

static int parse_kv(cursor *c, eco_gguf_kv *kv, uint64_t idx) {
  int rc = rd_str(c, &kv->key, "metadata key");
  if (rc) return rc;
  char nb[65];
  if (kv->key.len == 0)
    return eco_error_set(c->err, ECO_EFORMAT, "gguf: metadata entry %llu has an empty key",
                         (unsigned long long)idx);
  uint32_t t;
  if ((rc = rd_u32(c, &t, "metadata value type"))) return rc;
  kv->type = (eco_gguf_vtype)t;
  size_t sz = vtype_size(t);
  if (sz) {
    if ((rc = need(c, sz, "metadata value"))) return rc;
    decode_scalar(kv, c->buf + c->pos);
    c->pos += sz;
    return 0;
  }
  if (t == ECO_GGUF_STRING) return rd_str(c, &kv->v.str, "metadata string value");
  if (t != ECO_GGUF_ARRAY)
    return eco_error_set(c->err, ECO_EFORMAT, "gguf: key '%s' has unknown value type %u",
                         printable(&kv->key, nb, sizeof nb), t);
  uint32_t et;
  uint64_t n;
  if ((rc = rd_u32(c, &et, "array element type")) || (rc = rd_u64(c, &n, "array length")))
    return rc;
  if (et == ECO_GGUF_ARRAY)
    return eco_error_set(c->err, ECO_EFORMAT, "gguf: key '%s': nested arrays are not supported",
                         printable(&kv->key, nb, sizeof nb));
  kv->v.arr.type = (eco_gguf_vtype)et;
  kv->v.arr.n = n;
  kv->v.arr.data = c->buf + c->pos;
  size_t esz = vtype_size(et);
  if (esz) {
    if (n > left(c) / esz)
      return eco_error_set(c->err, ECO_EFORMAT,
                           "gguf: key '%s': array of %llu elements of %zu bytes exceeds the %zu "
                           "bytes left in the file",
                           printable(&kv->key, nb, sizeof nb), (unsigned long long)n, esz, left(c));
    c->pos += (size_t)(n * esz);
    return 0;
  }
  if (et != ECO_GGUF_STRING)
    return eco_error_set(c->err, ECO_EFORMAT, "gguf: key '%s': array has unknown element type %u",
                         printable(&kv->key, nb, sizeof nb), et);
  if (n > left(c) / 8)
    return eco_error_set(c->err, ECO_EFORMAT,
                         "gguf: key '%s': string array of %llu elements exceeds the %zu bytes "
                         "left in the file",
                         printable(&kv->key, nb, sizeof nb), (unsigned long long)n, left(c));
  for (uint64_t i = 0; i < n; i++) {
    eco_gguf_str s;
    if ((rc = rd_str(c, &s, "array string"))) {
      eco_error_prefix(c->err, "key '%s' element %llu", printable(&kv->key, nb, sizeof nb),
                       (unsigned long long)i);
      return rc;
    }
  }
  return 0;
}

static int mul_ovf(uint64_t a, uint64_t b, uint64_t *r) {
  if (a != 0 && b > UINT64_MAX / a) return 1;
  *r = a * b;
  return 0;
}

static int parse_tensor(cursor *c, eco_gguf_tensor *t, uint64_t idx) {
  int rc = rd_str(c, &t->name, "tensor name");
  if (rc) return rc;
  char nb[65];
  if (t->name.len == 0 || t->name.len > GGUF_MAX_NAME)
    return eco_error_set(c->err, ECO_EFORMAT, "gguf: tensor %llu: name length %llu not in 1..%d",
                         (unsigned long long)idx, (unsigned long long)t->name.len, GGUF_MAX_NAME);
  printable(&t->name, nb, sizeof nb);
  if ((rc = rd_u32(c, &t->n_dims, "tensor n_dims"))) return rc;
  if (t->n_dims < 1 || t->n_dims > 4)
    return eco_error_set(c->err, ECO_EFORMAT, "gguf: tensor '%s': n_dims %u not in 1..4", nb,
                         t->n_dims);
  uint64_t ne_total = 1;
  for (uint32_t d = 0; d < 4; d++) {
    t->ne[d] = 1;
    if (d >= t->n_dims) continue;
    if ((rc = rd_u64(c, &t->ne[d], "tensor dimension"))) return rc;
    if (t->ne[d] == 0 || t->ne[d] > (uint64_t)INT64_MAX)
      return eco_error_set(c->err, ECO_EFORMAT, "gguf: tensor '%s': dimension %u is %llu", nb, d,
                           (unsigned long long)t->ne[d]);
    if (mul_ovf(ne_total, t->ne[d], &ne_total) || ne_total > (uint64_t)INT64_MAX)
      return eco_error_set(c->err, ECO_EOVERFLOW,
                           "gguf: tensor '%s': element count overflows 63 bits", nb);
  }
  t->n_elements = ne_total;
  uint32_t ty;
  if ((rc = rd_u32(c, &ty, "tensor type"))) return rc;
  t->type = (eco_ggml_type)ty;
  uint32_t be = eco_ggml_block_elems(t->type), bb = eco_ggml_block_bytes(t->type);
  if (!be)
    return eco_error_set(c->err, ECO_EUNSUPPORTED, "gguf: tensor '%s': unknown ggml type %u", nb,
                         ty);
  if (t->ne[0] % be)
    return eco_error_set(c->err, ECO_EFORMAT,
                         "gguf: tensor '%s': row length %llu is not a multiple of the %s block "
                         "size %u",
                         nb, (unsigned long long)t->ne[0], eco_ggml_type_name(t->type), be);
  uint64_t bytes;
  if (mul_ovf(t->n_elements / be, bb, &bytes))
    return eco_error_set(c->err, ECO_EOVERFLOW, "gguf: tensor '%s': byte size overflows", nb);
  t->n_bytes = bytes;
  if ((rc = rd_u64(c, &t->offset, "tensor offset"))) return rc;
  return 0;
}

/* The header: magic, version and the two counts, bounded by the file's size. */
static int parse_header(cursor *c, eco_gguf *g) {
  eco_error *err = c->err;
  if (c->len < 4 || memcmp(c->buf, "GGUF", 4) != 0)
    return eco_error_set(err, ECO_EFORMAT, "gguf: bad magic (not a GGUF file)");
  c->pos = 4;
  int rc;
  if ((rc = rd_u32(c, &g->version, "version"))) return rc;
  if (g->version != 2 && g->version != 3)
    return eco_error_set(err, ECO_EUNSUPPORTED, "gguf: version %u not supported (only 2 and 3)",
                         g->version);
  if ((rc = rd_u64(c, &g->n_tensors, "tensor count")) || (rc = rd_u64(c, &g->n_kv, "kv count")))
    return rc;
  /* Minimum on-disk sizes: kv = key len 8 + type 4 + 1 value byte; tensor =
   * name len 8 + 1 byte + n_dims 4 + one dim 8 + type 4 + offset 8. */
  if (g->n_kv > left(c) / 13)
    return eco_error_set(err, ECO_EFORMAT, "gguf: kv count %llu cannot fit in a %zu-byte file",
                         (unsigned long long)g->n_kv, c->len);
  if (g->n_tensors > left(c) / 33)
    return eco_error_set(err, ECO_EFORMAT, "gguf: tensor count %llu cannot fit in a %zu-byte file",
                         (unsigned long long)g->n_tensors, c->len);
  g->kv = calloc(g->n_kv ? (size_t)g->n_kv : 1, sizeof *g->kv);
  g->tensors = calloc(g->n_tensors ? (size_t)g->n_tensors : 1, sizeof *g->tensors);
  if (!g->kv || !g->tensors)
    return eco_error_set(err, ECO_ENOMEM, "gguf: out of memory for the tables");
  return 0;
}

/* The metadata: unique keys; general.alignment a power of two. */
static int parse_kvs(cursor *c, eco_gguf *g) {
  nameset names = {0};
  char nb[65];
  if (!g->kv) return ECO_EINVAL; /* parse_header allocates the table */
  int rc = nameset_init(&names, g->n_kv);
  g->alignment = 32;
  for (uint64_t i = 0; !rc && i < g->n_kv; i++) {
    eco_gguf_kv *kv = &g->kv[i];
    if ((rc = parse_kv(c, kv, i))) break;
    if (nameset_add(&names, &kv->key)) {
      rc = eco_error_set(c->err, ECO_EFORMAT, "gguf: duplicate metadata key '%s'",
                         printable(&kv->key, nb, sizeof nb));
      break;
    }
    if (kv->key.len == 17 && memcmp(kv->key.ptr, "general.alignment", 17) == 0) {
      if (kv->type != ECO_GGUF_UINT32 || kv->v.u64 == 0 || (kv->v.u64 & (kv->v.u64 - 1)) != 0) {
        rc = eco_error_set(c->err, ECO_EFORMAT,
                           "gguf: general.alignment must be a u32 power of two");
        break;
      }
      g->alignment = kv->v.u64;
    }
  }
  nameset_free(&names);
  return rc;
}

/* The tensor infos: unique names, aligned offsets. */
static int parse_tensors(cursor *c, eco_gguf *g) {
  nameset names = {0};
  char nb[65];
  if (!g->tensors) return ECO_EINVAL; /* parse_header allocates the table */
  int rc = nameset_init(&names, g->n_tensors);
  for (uint64_t i = 0; !rc && i < g->n_tensors; i++) {
    eco_gguf_tensor *t = &g->tensors[i];
    if ((rc = parse_tensor(c, t, i))) break;
    if (nameset_add(&names, &t->name)) {
      rc = eco_error_set(c->err, ECO_EFORMAT, "gguf: duplicate tensor name '%s'",
                         printable(&t->name, nb, sizeof nb));
      break;
    }
    if (t->offset % g->alignment) {
      rc = eco_error_set(c->err, ECO_EFORMAT, "gguf: tensor '%s': offset %llu not aligned to %llu",
                         printable(&t->name, nb, sizeof nb), (unsigned long long)t->offset,
                         (unsigned long long)g->alignment);
      break;
    }
  }
  nameset_free(&names);
  return rc;
}

/* The data section: aligned start; every tensor's bytes inside it. A file with no tensors
 * may end at the header. */
static int place_tensors(const cursor *c, eco_gguf *g) {
  char nb[65];
  size_t len = c->len;
  uint64_t pad = (g->alignment - (c->pos % g->alignment)) % g->alignment;
  g->data_offset = (uint64_t)c->pos + pad;
  if (g->n_tensors && g->data_offset > len)
    return eco_error_set(c->err, ECO_EFORMAT,
                         "gguf: data section starts at %llu, past the end (%zu)",
                         (unsigned long long)g->data_offset, len);
  uint64_t data_len = g->data_offset <= len ? len - g->data_offset : 0;
  for (uint64_t i = 0; i < g->n_tensors; i++) {
    eco_gguf_tensor *t = &g->tensors[i];
    if (t->offset > data_len || t->n_bytes > data_len - t->offset)
      return eco_error_set(c->err, ECO_EFORMAT,
                           "gguf: tensor '%s': data [%llu, +%llu) lies outside the %llu-byte "
                           "data section",
                           printable(&t->name, nb, sizeof nb), (unsigned long long)t->offset,
                           (unsigned long long)t->n_bytes, (unsigned long long)data_len);
    t->data = c->buf + g->data_offset + t->offset;
  }
  return 0;
}

int eco_gguf_parse(const void *buf, size_t len, eco_gguf **out, eco_error *err) {
  *out = NULL;
  eco_gguf *g = calloc(1, sizeof *g);
  if (!g) return eco_error_set(err, ECO_ENOMEM, "gguf: out of memory");
  cursor c = {.buf = buf, .len = len, .pos = 0, .err = err};
  g->base = buf;
  g->size = len;
  int rc;
  if ((rc = parse_header(&c, g)) || (rc = parse_kvs(&c, g)) || (rc = parse_tensors(&c, g)) ||
      (rc = place_tensors(&c, g))) {
    eco_gguf_close(g);
    return rc;
  }
  *out = g;
  return 0;
}

int eco_gguf_open(const char *path, eco_gguf **out, eco_error *err) {
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return eco_error_set(err, eco_status_from_errno(e), "gguf: cannot open '%s': %s", path,
                         strerror(e));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return eco_error_set(err, ECO_EIO, "gguf: '%s' is not a regular file", path);
  }
  if (st.st_size < 24) {
    close(fd);
    return eco_error_set(err, ECO_EFORMAT, "gguf: '%s' is too short (%lld bytes) for a GGUF header",
                         path, (long long)st.st_size);
  }
  size_t size = (size_t)st.st_size;
  void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (map == MAP_FAILED) {
    int e = errno;
    return eco_error_set(err, eco_status_from_errno(e), "gguf: cannot map '%s': %s", path,
                         strerror(e));
  }
  eco_gguf *g = NULL;
  int rc = eco_gguf_parse(map, size, &g, err);
  if (rc || !g) {
    munmap(map, size);
    eco_error_prefix(err, "%s", path);
    return rc ? rc : ECO_EINTERNAL;
  }
  g->owns_mapping = true;
  *out = g;
  return 0;
}

void eco_gguf_close(eco_gguf *g) {
  if (!g) return;
  if (g->owns_mapping && g->base) munmap((void *)(uintptr_t)g->base, g->size);
  free(g->kv);
  free(g->tensors);
  free(g);
}

const eco_gguf_kv *eco_gguf_find(const eco_gguf *g, const char *key) {
  size_t n = strlen(key);
  for (uint64_t i = 0; i < g->n_kv; i++)
    if (g->kv[i].key.len == n && memcmp(g->kv[i].key.ptr, key, n) == 0) return &g->kv[i];
  return NULL;
}

static bool is_unsigned(eco_gguf_vtype t) {
  return t == ECO_GGUF_UINT8 || t == ECO_GGUF_UINT16 || t == ECO_GGUF_UINT32 ||
         t == ECO_GGUF_UINT64;
}
static bool is_signed(eco_gguf_vtype t) {
  return t == ECO_GGUF_INT8 || t == ECO_GGUF_INT16 || t == ECO_GGUF_INT32 || t == ECO_GGUF_INT64;
}

int eco_gguf_get_u64(const eco_gguf *g, const char *key, uint64_t *out) {
  const eco_gguf_kv *kv = eco_gguf_find(g, key);
  if (!kv) return ECO_ENOENT;
  if (is_unsigned(kv->type)) {
    *out = kv->v.u64;
    return 0;
  }
  if (is_signed(kv->type)) {
    if (kv->v.i64 < 0) return ECO_ERANGE;
    *out = (uint64_t)kv->v.i64;
    return 0;
  }
  return ECO_EFORMAT;
}

int eco_gguf_get_i64(const eco_gguf *g, const char *key, int64_t *out) {
  const eco_gguf_kv *kv = eco_gguf_find(g, key);
  if (!kv) return ECO_ENOENT;
  if (is_signed(kv->type)) {
    *out = kv->v.i64;
    return 0;
  }
  if (is_unsigned(kv->type)) {
    if (kv->v.u64 > (uint64_t)INT64_MAX) return ECO_ERANGE;
    *out = (int64_t)kv->v.u64;
    return 0;
  }
  return ECO_EFORMAT;
}

int eco_gguf_get_f64(const eco_gguf *g, const char *key, double *out) {
  const eco_gguf_kv *kv = eco_gguf_find(g, key);
  if (!kv) return ECO_ENOENT;
  if (kv->type == ECO_GGUF_FLOAT32 || kv->type == ECO_GGUF_FLOAT64)
    *out = kv->v.f64;
  else if (is_unsigned(kv->type))
    *out = (double)kv->v.u64;
  else if (is_signed(kv->type))
    *out = (double)kv->v.i64;
  else
    return ECO_EFORMAT;
  return 0;
}

int eco_gguf_get_bool(const eco_gguf *g, const char *key, bool *out) {
  const eco_gguf_kv *kv = eco_gguf_find(g, key);
  if (!kv) return ECO_ENOENT;
  if (kv->type != ECO_GGUF_BOOL) return ECO_EFORMAT;
  *out = kv->v.u64 != 0;
  return 0;
}

int eco_gguf_get_str(const eco_gguf *g, const char *key, char *buf, size_t cap) {
  const eco_gguf_kv *kv = eco_gguf_find(g, key);
  if (!kv) return ECO_ENOENT;
  if (kv->type != ECO_GGUF_STRING) return ECO_EFORMAT;
  if (cap == 0 || kv->v.str.len >= cap) return ECO_EOVERFLOW;
  memcpy(buf, kv->v.str.ptr, (size_t)kv->v.str.len);
  buf[kv->v.str.len] = '\0';
  return 0;
}

int eco_gguf_get_arr(const eco_gguf *g, const char *key, eco_gguf_vtype *elem_type, uint64_t *n,
                     const uint8_t **data) {
  const eco_gguf_kv *kv = eco_gguf_find(g, key);
  if (!kv) return ECO_ENOENT;
  if (kv->type != ECO_GGUF_ARRAY) return ECO_EFORMAT;
  if (elem_type) *elem_type = kv->v.arr.type;
  if (n) *n = kv->v.arr.n;
  if (data) *data = kv->v.arr.data;
  return 0;
}

eco_gguf_str eco_gguf_arr_next_str(const uint8_t **pos) {
  eco_gguf_str s;
  memcpy(&s.len, *pos, 8);
  s.ptr = (const char *)(*pos + 8);
  *pos += 8 + s.len;
  return s;
}

const eco_gguf_tensor *eco_gguf_find_tensor(const eco_gguf *g, const char *name) {
  size_t n = strlen(name);
  for (uint64_t i = 0; i < g->n_tensors; i++)
    if (g->tensors[i].name.len == n && memcmp(g->tensors[i].name.ptr, name, n) == 0)
      return &g->tensors[i];
  return NULL;
}
