#include "gguf_edit.h"

#include "engine/gguf.h"
#include "engine/quant.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, const char *name) {
  fprintf(stderr, "gguf_edit: %s%s%s\n", what, name ? ": " : "", name ? name : "");
  return -1;
}

static unsigned char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  unsigned char *buf = NULL;
  long n = -1;
  if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
  if (n > 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n)) &&
      fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  *len = (size_t)n;
  return buf;
}

static bool put(FILE *f, const void *p, size_t n) { return fwrite(p, 1, n, f) == n; }

/* Overwrites an existing scalar key in place; 1 = done, 0 = absent, -1 = error. */
static int set_existing(const eco_gguf *g, unsigned char *buf, const eco_test_gguf_edit *e) {
  const eco_gguf_kv *kv = eco_gguf_find(g, e->name);
  if (!kv) return 0;
  unsigned char *v = buf + ((const unsigned char *)kv->key.ptr - buf) + kv->key.len + 4;
  if (kv->type == ECO_GGUF_FLOAT32) {
    float x = (float)e->value;
    memcpy(v, &x, 4);
  } else if (kv->type == ECO_GGUF_FLOAT64) {
    memcpy(v, &e->value, 8);
  } else if (kv->type == ECO_GGUF_UINT32 || kv->type == ECO_GGUF_INT32) {
    int32_t x = (int32_t)e->value;
    memcpy(v, &x, 4);
  } else if (kv->type == ECO_GGUF_UINT64 || kv->type == ECO_GGUF_INT64) {
    int64_t x = (int64_t)e->value;
    memcpy(v, &x, 8);
  } else {
    return fail("existing key is not a number", e->name);
  }
  return 1;
}

static int set_elem(const eco_gguf *g, unsigned char *buf, const eco_test_gguf_edit *e) {
  const eco_gguf_tensor *t = eco_gguf_find_tensor(g, e->name);
  if (!t) return fail("no such tensor", e->name);
  if (e->index >= t->n_elements) return fail("element index out of range", e->name);
  unsigned char *d = buf + ((const unsigned char *)t->data - buf);
  if (t->type == ECO_GGML_F32) {
    float x = (float)e->value;
    memcpy(d + 4 * e->index, &x, 4);
  } else if (t->type == ECO_GGML_F16) {
    uint16_t h = eco_fp32_to_fp16((float)e->value);
    memcpy(d + 2 * e->index, &h, 2);
  } else {
    return fail("tensor is not F32 or F16", e->name);
  }
  return 0;
}

/* A new key/value record: string key, u32 type, 4-byte value. */
static bool put_new_kv(FILE *f, const eco_test_gguf_edit *e) {
  uint64_t kl = strlen(e->name);
  uint32_t type = e->kind == ECO_TEST_EDIT_F32   ? ECO_GGUF_FLOAT32
                  : e->kind == ECO_TEST_EDIT_U32 ? ECO_GGUF_UINT32
                                                 : ECO_GGUF_INT32;
  unsigned char v[4];
  if (e->kind == ECO_TEST_EDIT_F32) {
    float x = (float)e->value;
    memcpy(v, &x, 4);
  } else {
    int32_t x = (int32_t)e->value;
    memcpy(v, &x, 4);
  }
  return put(f, &kl, 8) && put(f, e->name, kl) && put(f, &type, 4) && put(f, v, 4);
}

static int write_out(const char *dst, const eco_gguf *g, const unsigned char *buf, size_t len,
                     const eco_test_gguf_edit *edits, const bool *add, size_t n_edits) {
  size_t n_add = 0;
  for (size_t i = 0; i < n_edits; i++)
    n_add += add[i];
  /* layout: magic, version, n_tensors, n_kv | kvs | tensor infos | pad | data */
  const size_t kv_start = 24;
  size_t ti_start = (size_t)g->data_offset, ti_end = (size_t)g->data_offset;
  if (g->n_tensors) {
    ti_start = (size_t)((const unsigned char *)g->tensors[0].name.ptr - buf) - 8;
    const eco_gguf_tensor *last = &g->tensors[g->n_tensors - 1];
    ti_end = (size_t)((const unsigned char *)last->name.ptr - buf) + last->name.len + 4 +
             8 * last->n_dims + 4 + 8;
  }
  FILE *f = fopen(dst, "wb");
  if (!f) return fail("cannot write", dst);
  uint64_t n_kv = g->n_kv + n_add;
  bool ok = put(f, buf, 16) && put(f, &n_kv, 8) && put(f, buf + kv_start, ti_start - kv_start);
  for (size_t i = 0; ok && i < n_edits; i++)
    if (add[i]) ok = put_new_kv(f, &edits[i]);
  ok = ok && put(f, buf + ti_start, ti_end - ti_start);
  long pos = ok ? ftell(f) : -1;
  static const unsigned char zero[64];
  size_t pad = pos < 0 ? 0 : (size_t)((g->alignment - (uint64_t)pos % g->alignment) % g->alignment);
  ok = ok && pos >= 0 && put(f, zero, pad) &&
       put(f, buf + g->data_offset, len - (size_t)g->data_offset);
  if (fclose(f) != 0) ok = false;
  return ok ? 0 : fail("write failed", dst);
}

int eco_test_gguf_edit_copy(const char *src, const char *dst, const eco_test_gguf_edit *edits,
                            size_t n_edits) {
  size_t len = 0;
  unsigned char *buf = read_all(src, &len);
  if (!buf) return fail("cannot read", src);
  eco_gguf *g = NULL;
  eco_error err = {0};
  bool *add = calloc(n_edits ? n_edits : 1, sizeof *add);
  int rc = -1;
  if (!add || eco_gguf_parse(buf, len, &g, &err) != 0 || g->alignment > 64) {
    fail("not a GGUF file", src);
    goto out;
  }
  for (size_t i = 0; i < n_edits; i++) {
    const eco_test_gguf_edit *e = &edits[i];
    int r = e->kind == ECO_TEST_EDIT_ELEM ? set_elem(g, buf, e) : set_existing(g, buf, e);
    if (r < 0) goto out;
    add[i] = e->kind != ECO_TEST_EDIT_ELEM && r == 0;
  }
  rc = write_out(dst, g, buf, len, edits, add, n_edits);
out:
  eco_gguf_close(g);
  free(add);
  free(buf);
  return rc;
}
