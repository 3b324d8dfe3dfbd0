/* Tests for the GGUF reader: real files from ../shared/models and
 * hand-built malformed buffers (every error path must be a clean error). */
#include "engine/gguf.h"
#include "testutil.h"

#include <dirent.h>

/* --- a tiny GGUF builder ------------------------------------------------- */
typedef struct gb {
  uint8_t *p;
  size_t n, cap;
} gb;

static void gb_put(gb *b, const void *d, size_t n) {
  if (b->n + n > b->cap) {
    b->cap = (b->n + n) * 2 + 64;
    b->p = realloc(b->p, b->cap);
    assert_non_null(b->p);
  }
  memcpy(b->p + b->n, d, n);
  b->n += n;
}
static void gb_u32(gb *b, uint32_t v) { gb_put(b, &v, 4); }
static void gb_u64(gb *b, uint64_t v) { gb_put(b, &v, 8); }
static void gb_str(gb *b, const char *s) {
  gb_u64(b, strlen(s));
  gb_put(b, s, strlen(s));
}
static void gb_header(gb *b, uint32_t version, uint64_t nt, uint64_t nkv) {
  gb_put(b, "GGUF", 4);
  gb_u32(b, version);
  gb_u64(b, nt);
  gb_u64(b, nkv);
}
static void gb_kv_u32(gb *b, const char *k, uint32_t v) {
  gb_str(b, k);
  gb_u32(b, ECO_GGUF_UINT32);
  gb_u32(b, v);
}
static void gb_kv_str(gb *b, const char *k, const char *v) {
  gb_str(b, k);
  gb_u32(b, ECO_GGUF_STRING);
  gb_str(b, v);
}
static void gb_tensor(gb *b, const char *name, uint32_t nd, const uint64_t *ne, uint32_t type,
                      uint64_t off) {
  gb_str(b, name);
  gb_u32(b, nd);
  for (uint32_t i = 0; i < nd; i++)
    gb_u64(b, ne[i]);
  gb_u32(b, type);
  gb_u64(b, off);
}
static void gb_pad(gb *b, size_t align) {
  uint8_t z = 0;
  while (b->n % align)
    gb_put(b, &z, 1);
}
static void gb_zeros(gb *b, size_t n) {
  uint8_t z = 0;
  for (size_t i = 0; i < n; i++)
    gb_put(b, &z, 1);
}

/* A valid file with every metadata type and two tensors. */
static void build_good(gb *b) {
  gb_header(b, 3, 2, 14);
  gb_str(b, "u8");
  gb_u32(b, ECO_GGUF_UINT8);
  uint8_t u8 = 200;
  gb_put(b, &u8, 1);
  gb_str(b, "i8");
  gb_u32(b, ECO_GGUF_INT8);
  int8_t i8 = -5;
  gb_put(b, &i8, 1);
  gb_str(b, "u16");
  gb_u32(b, ECO_GGUF_UINT16);
  uint16_t u16 = 60000;
  gb_put(b, &u16, 2);
  gb_str(b, "i16");
  gb_u32(b, ECO_GGUF_INT16);
  int16_t i16 = -30000;
  gb_put(b, &i16, 2);
  gb_kv_u32(b, "u32", 4000000000u);
  gb_str(b, "i32");
  gb_u32(b, ECO_GGUF_INT32);
  int32_t i32 = -2000000000;
  gb_put(b, &i32, 4);
  gb_str(b, "f32");
  gb_u32(b, ECO_GGUF_FLOAT32);
  float f = 1.5f;
  gb_put(b, &f, 4);
  gb_str(b, "bool");
  gb_u32(b, ECO_GGUF_BOOL);
  uint8_t t = 1;
  gb_put(b, &t, 1);
  gb_kv_str(b, "general.architecture", "llama");
  gb_str(b, "u64");
  gb_u32(b, ECO_GGUF_UINT64);
  gb_u64(b, 1ULL << 40);
  gb_str(b, "i64");
  gb_u32(b, ECO_GGUF_INT64);
  gb_u64(b, (uint64_t)-7);
  gb_str(b, "f64");
  gb_u32(b, ECO_GGUF_FLOAT64);
  double d = -2.25;
  gb_put(b, &d, 8);
  gb_str(b, "arr.i32");
  gb_u32(b, ECO_GGUF_ARRAY);
  gb_u32(b, ECO_GGUF_INT32);
  gb_u64(b, 3);
  for (int32_t i = 1; i <= 3; i++)
    gb_put(b, &i, 4);
  gb_str(b, "arr.str");
  gb_u32(b, ECO_GGUF_ARRAY);
  gb_u32(b, ECO_GGUF_STRING);
  gb_u64(b, 2);
  gb_str(b, "hello");
  gb_str(b, "");
  uint64_t ne_a[2] = {32, 2}, ne_b[1] = {8};
  gb_tensor(b, "a", 2, ne_a, ECO_GGML_Q8_0, 0);        /* 2 rows x 34 bytes = 68 */
  gb_tensor(b, "b.weight", 1, ne_b, ECO_GGML_F32, 96); /* 32 bytes */
  gb_pad(b, 32);
  gb_zeros(b, 128);
}

static int parse_copy(const uint8_t *p, size_t n, eco_gguf **g, eco_error *err) {
  /* exact-size heap copy so that ASan catches any overread */
  uint8_t *c = malloc(n ? n : 1);
  assert_non_null(c);
  if (n) memcpy(c, p, n);
  int rc = eco_gguf_parse(c, n, g, err);
  if (rc == 0) {
    /* touch everything the parser exposes */
    for (uint64_t i = 0; i < (*g)->n_kv; i++) {
      const eco_gguf_kv *kv = &(*g)->kv[i];
      if (kv->type == ECO_GGUF_ARRAY && kv->v.arr.type == ECO_GGUF_STRING) {
        const uint8_t *pos = kv->v.arr.data;
        for (uint64_t j = 0; j < kv->v.arr.n; j++)
          (void)eco_gguf_arr_next_str(&pos);
      }
    }
    eco_gguf_close(*g);
    *g = NULL;
  }
  free(c);
  return rc;
}

static void test_good_file(void **state) {
  (void)state;
  gb b = {0};
  build_good(&b);
  eco_gguf *g = NULL;
  eco_error err = {0};
  assert_int_equal(eco_gguf_parse(b.p, b.n, &g, &err), 0);
  assert_int_equal(g->version, 3);
  assert_int_equal(g->n_kv, 14);
  assert_int_equal(g->n_tensors, 2);
  uint64_t u;
  int64_t i;
  double f;
  bool bo;
  char s[32];
  assert_int_equal(eco_gguf_get_u64(g, "u8", &u), 0);
  assert_int_equal(u, 200);
  assert_int_equal(eco_gguf_get_i64(g, "i8", &i), 0);
  assert_int_equal(i, -5);
  assert_int_equal(eco_gguf_get_u64(g, "i8", &u), ECO_ERANGE);
  assert_int_equal(eco_gguf_get_u64(g, "u16", &u), 0);
  assert_int_equal(u, 60000);
  assert_int_equal(eco_gguf_get_i64(g, "i16", &i), 0);
  assert_int_equal(i, -30000);
  assert_int_equal(eco_gguf_get_u64(g, "u32", &u), 0);
  assert_int_equal(u, 4000000000u);
  assert_int_equal(eco_gguf_get_i64(g, "i32", &i), 0);
  assert_int_equal(i, -2000000000);
  assert_int_equal(eco_gguf_get_f64(g, "f32", &f), 0);
  assert_true(f == 1.5);
  assert_int_equal(eco_gguf_get_bool(g, "bool", &bo), 0);
  assert_true(bo);
  assert_int_equal(eco_gguf_get_u64(g, "u64", &u), 0);
  assert_true(u == 1ULL << 40);
  assert_int_equal(eco_gguf_get_i64(g, "i64", &i), 0);
  assert_int_equal(i, -7);
  assert_int_equal(eco_gguf_get_f64(g, "f64", &f), 0);
  assert_true(f == -2.25);
  assert_int_equal(eco_gguf_get_str(g, "general.architecture", s, sizeof s), 0);
  assert_string_equal(s, "llama");
  assert_int_equal(eco_gguf_get_str(g, "general.architecture", s, 5), ECO_EOVERFLOW);
  assert_int_equal(eco_gguf_get_str(g, "u8", s, sizeof s), ECO_EFORMAT);
  assert_int_equal(eco_gguf_get_u64(g, "missing", &u), ECO_ENOENT);
  assert_int_equal(eco_gguf_get_bool(g, "u8", &bo), ECO_EFORMAT);
  eco_gguf_vtype et;
  uint64_t n;
  const uint8_t *data;
  assert_int_equal(eco_gguf_get_arr(g, "arr.i32", &et, &n, &data), 0);
  assert_int_equal(et, ECO_GGUF_INT32);
  assert_int_equal(n, 3);
  int32_t third;
  memcpy(&third, data + 8, 4);
  assert_int_equal(third, 3);
  assert_int_equal(eco_gguf_get_arr(g, "arr.str", &et, &n, &data), 0);
  assert_int_equal(et, ECO_GGUF_STRING);
  eco_gguf_str s0 = eco_gguf_arr_next_str(&data), s1 = eco_gguf_arr_next_str(&data);
  assert_int_equal(s0.len, 5);
  assert_memory_equal(s0.ptr, "hello", 5);
  assert_int_equal(s1.len, 0);
  const eco_gguf_tensor *t = eco_gguf_find_tensor(g, "a");
  assert_non_null(t);
  assert_int_equal(t->n_bytes, 68);
  assert_int_equal(t->ne[1], 2);
  assert_int_equal(t->ne[2], 1);
  t = eco_gguf_find_tensor(g, "b.weight");
  assert_non_null(t);
  assert_int_equal(t->n_bytes, 32);
  assert_ptr_equal(t->data, b.p + g->data_offset + 96);
  assert_null(eco_gguf_find_tensor(g, "c"));
  eco_gguf_close(g);
  free(b.p);
}

static void test_truncation_every_byte(void **state) {
  (void)state;
  gb b = {0};
  build_good(&b);
  eco_gguf *g = NULL;
  for (size_t n = 0; n < b.n; n++) {
    eco_error err = {0};
    int rc = parse_copy(b.p, n, &g, &err);
    assert_int_not_equal(rc, 0);
    assert_true(err.msg[0] != '\0');
  }
  eco_error err = {0};
  assert_int_equal(parse_copy(b.p, b.n, &g, &err), 0);
  free(b.p);
}

/* Runs a builder and expects a failure with code and a message mentioning needle. */
static void expect_fail(gb *b, int code, const char *needle) {
  eco_gguf *g = NULL;
  eco_error err = {0};
  int rc = parse_copy(b->p, b->n, &g, &err);
  if (rc != code || !strstr(err.msg, needle))
    fail_msg("expected %d containing '%s', got %d: %s", code, needle, rc, err.msg);
  free(b->p);
  memset(b, 0, sizeof *b);
}

static void test_malformed_headers(void **state) {
  (void)state;
  gb b = {0};
  gb_put(&b, "GGUG", 4);
  gb_u32(&b, 3);
  gb_u64(&b, 0);
  gb_u64(&b, 0);
  expect_fail(&b, ECO_EFORMAT, "magic");
  gb_header(&b, 1, 0, 0);
  expect_fail(&b, ECO_EUNSUPPORTED, "version 1");
  gb_header(&b, 4, 0, 0);
  expect_fail(&b, ECO_EUNSUPPORTED, "version 4");
  gb_header(&b, 3, 0, UINT64_MAX);
  expect_fail(&b, ECO_EFORMAT, "kv count");
  gb_header(&b, 3, 1ULL << 62, 0);
  expect_fail(&b, ECO_EFORMAT, "tensor count");
  /* a v2 file with no tensors and no kv is valid */
  gb_header(&b, 2, 0, 0);
  eco_gguf *g = NULL;
  eco_error err = {0};
  assert_int_equal(parse_copy(b.p, b.n, &g, &err), 0);
  free(b.p);
}

static void test_malformed_kv(void **state) {
  (void)state;
  gb b = {0};
  /* huge string length */
  gb_header(&b, 3, 0, 1);
  gb_u64(&b, UINT64_MAX - 3);
  gb_zeros(&b, 16);
  expect_fail(&b, ECO_EFORMAT, "length");
  /* huge string value */
  gb_header(&b, 3, 0, 1);
  gb_str(&b, "k");
  gb_u32(&b, ECO_GGUF_STRING);
  gb_u64(&b, 1ULL << 60);
  expect_fail(&b, ECO_EFORMAT, "length");
  /* huge array count */
  gb_header(&b, 3, 0, 1);
  gb_str(&b, "k");
  gb_u32(&b, ECO_GGUF_ARRAY);
  gb_u32(&b, ECO_GGUF_UINT64);
  gb_u64(&b, UINT64_MAX / 4);
  gb_zeros(&b, 16);
  expect_fail(&b, ECO_EFORMAT, "exceeds");
  gb_header(&b, 3, 0, 1);
  gb_str(&b, "k");
  gb_u32(&b, ECO_GGUF_ARRAY);
  gb_u32(&b, ECO_GGUF_STRING);
  gb_u64(&b, UINT64_MAX);
  gb_zeros(&b, 16);
  expect_fail(&b, ECO_EFORMAT, "exceeds");
  /* nested array */
  gb_header(&b, 3, 0, 1);
  gb_str(&b, "nest");
  gb_u32(&b, ECO_GGUF_ARRAY);
  gb_u32(&b, ECO_GGUF_ARRAY);
  gb_u64(&b, 1);
  gb_u32(&b, ECO_GGUF_UINT8);
  gb_u64(&b, 0);
  expect_fail(&b, ECO_EFORMAT, "nested");
  /* unknown value type and unknown array element type */
  gb_header(&b, 3, 0, 1);
  gb_str(&b, "k");
  gb_u32(&b, 13);
  gb_zeros(&b, 8);
  expect_fail(&b, ECO_EFORMAT, "unknown value type");
  gb_header(&b, 3, 0, 1);
  gb_str(&b, "k");
  gb_u32(&b, ECO_GGUF_ARRAY);
  gb_u32(&b, 99);
  gb_u64(&b, 1);
  gb_zeros(&b, 8);
  expect_fail(&b, ECO_EFORMAT, "unknown element type");
  /* duplicate key */
  gb_header(&b, 3, 0, 2);
  gb_kv_u32(&b, "dup", 1);
  gb_kv_u32(&b, "dup", 2);
  expect_fail(&b, ECO_EFORMAT, "duplicate metadata key 'dup'");
  /* empty key */
  gb_header(&b, 3, 0, 1);
  gb_kv_u32(&b, "", 1);
  expect_fail(&b, ECO_EFORMAT, "empty key");
  /* alignment: not a power of two, wrong type */
  gb_header(&b, 3, 0, 1);
  gb_kv_u32(&b, "general.alignment", 24);
  expect_fail(&b, ECO_EFORMAT, "alignment");
  gb_header(&b, 3, 0, 1);
  gb_kv_str(&b, "general.alignment", "32");
  expect_fail(&b, ECO_EFORMAT, "alignment");
}

static void one_tensor(gb *b, const char *name, uint32_t nd, const uint64_t *ne, uint32_t type,
                       uint64_t off, size_t data_bytes) {
  gb_header(b, 3, 1, 0);
  gb_tensor(b, name, nd, ne, type, off);
  gb_pad(b, 32);
  gb_zeros(b, data_bytes);
}

static void test_malformed_tensors(void **state) {
  (void)state;
  gb b = {0};
  uint64_t ne[5] = {32, 4, 1, 1, 1};
  one_tensor(&b, "t", 2, ne, ECO_GGML_F32, 0, 512);
  eco_gguf *g = NULL;
  eco_error err = {0};
  assert_int_equal(parse_copy(b.p, b.n, &g, &err), 0);
  free(b.p);
  memset(&b, 0, sizeof b);
  one_tensor(&b, "t", 5, ne, ECO_GGML_F32, 0, 512);
  expect_fail(&b, ECO_EFORMAT, "n_dims 5");
  one_tensor(&b, "t", 0, ne, ECO_GGML_F32, 0, 512);
  expect_fail(&b, ECO_EFORMAT, "n_dims 0");
  uint64_t zero[2] = {32, 0};
  one_tensor(&b, "t", 2, zero, ECO_GGML_F32, 0, 512);
  expect_fail(&b, ECO_EFORMAT, "dimension 1 is 0");
  uint64_t big[4] = {1ULL << 40, 1ULL << 40, 1, 1};
  one_tensor(&b, "t", 2, big, ECO_GGML_F32, 0, 512);
  expect_fail(&b, ECO_EOVERFLOW, "overflows");
  uint64_t neg[1] = {UINT64_MAX};
  one_tensor(&b, "t", 1, neg, ECO_GGML_F32, 0, 512);
  expect_fail(&b, ECO_EFORMAT, "dimension 0");
  /* element count fits in 63 bits but the byte size does not */
  uint64_t bytes_ovf[2] = {1ULL << 32, 1ULL << 30};
  one_tensor(&b, "t", 2, bytes_ovf, ECO_GGML_F32, 0, 512);
  expect_fail(&b, ECO_EOVERFLOW, "byte size");
  one_tensor(&b, "t", 2, ne, 4 /* removed Q4_2 */, 0, 512);
  expect_fail(&b, ECO_EUNSUPPORTED, "unknown ggml type 4");
  one_tensor(&b, "t", 2, ne, 1000, 0, 512);
  expect_fail(&b, ECO_EUNSUPPORTED, "unknown ggml type");
  uint64_t odd[2] = {48, 2};
  one_tensor(&b, "t", 2, odd, ECO_GGML_Q4_0, 0, 512);
  expect_fail(&b, ECO_EFORMAT, "multiple");
  one_tensor(&b, "t", 2, ne, ECO_GGML_F32, 16, 512);
  expect_fail(&b, ECO_EFORMAT, "not aligned");
  one_tensor(&b, "t", 2, ne, ECO_GGML_F32, 512, 512);
  expect_fail(&b, ECO_EFORMAT, "outside");
  one_tensor(&b, "t", 2, ne, ECO_GGML_F32, UINT64_MAX - 31, 512);
  expect_fail(&b, ECO_EFORMAT, "outside");
  one_tensor(&b, "t", 2, ne, ECO_GGML_F32, 0, 511);
  expect_fail(&b, ECO_EFORMAT, "outside");
  one_tensor(&b, "", 2, ne, ECO_GGML_F32, 0, 512);
  expect_fail(&b, ECO_EFORMAT, "name length");
  /* duplicate tensor names */
  gb_header(&b, 3, 2, 0);
  gb_tensor(&b, "w", 2, ne, ECO_GGML_F32, 0);
  gb_tensor(&b, "w", 2, ne, ECO_GGML_F32, 512);
  gb_pad(&b, 32);
  gb_zeros(&b, 1024);
  expect_fail(&b, ECO_EFORMAT, "duplicate tensor name 'w'");
  /* data section start past the end of the file */
  gb_header(&b, 3, 1, 1);
  gb_kv_u32(&b, "general.alignment", 1u << 20);
  gb_tensor(&b, "t", 1, ne, ECO_GGML_F32, 0);
  expect_fail(&b, ECO_EFORMAT, "past the end");
}

static void test_regression_fixtures(void **state) {
  (void)state;
  /* inputs kept from fuzzing: each must be refused or accepted, never crash */
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/tests/fixtures/gguf", ECO_TEST_SOURCE_DIR);
  DIR *d = opendir(dir);
  if (!d) skip();
  struct dirent *e;
  int n = 0;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    FILE *f = fopen(path, "rb");
    if (!f) continue;
    uint8_t buf[1 << 16];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    eco_gguf *g = NULL;
    eco_error err = {0};
    (void)parse_copy(buf, len, &g, &err);
    n++;
  }
  closedir(d);
  print_message("checked %d fixture(s)\n", n);
}

static void test_real_files(void **state) {
  (void)state;
  char *p;
  ECO_TEST_NEED_SHARED("models/stories260K-f32.gguf", &p);
  eco_gguf *g = NULL;
  eco_error err = {0};
  int rc = eco_gguf_open(p, &g, &err);
  if (rc) fail_msg("%s", err.msg);
  char arch[32];
  assert_int_equal(eco_gguf_get_str(g, "general.architecture", arch, sizeof arch), 0);
  assert_string_equal(arch, "llama");
  uint64_t ctx;
  assert_int_equal(eco_gguf_get_u64(g, "llama.context_length", &ctx), 0);
  assert_int_equal(ctx, 128);
  const eco_gguf_tensor *t = eco_gguf_find_tensor(g, "token_embd.weight");
  assert_non_null(t);
  assert_int_equal(t->ne[0], 64);
  assert_int_equal(t->ne[1], 512);
  assert_int_equal(t->type, ECO_GGML_F32);
  eco_gguf_vtype et;
  uint64_t n;
  assert_int_equal(eco_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, NULL), 0);
  assert_int_equal(et, ECO_GGUF_STRING);
  assert_int_equal(n, 512);
  /* truncate the header region of the real file at many points */
  size_t hdr = (size_t)g->data_offset;
  for (size_t cut = 0; cut < hdr; cut += 13) {
    eco_gguf *h = NULL;
    eco_error e2 = {0};
    assert_int_not_equal(parse_copy(g->base, cut, &h, &e2), 0);
  }
  eco_gguf_close(g);
  free(p);

  /* every shipped GGUF opens, with sane tensor tables */
  const char *dir = eco_test_shared_dir();
  char mdir[1024];
  snprintf(mdir, sizeof mdir, "%s/models", dir);
  DIR *d = opendir(mdir);
  assert_non_null(d);
  struct dirent *e;
  int files = 0;
  while ((e = readdir(d))) {
    size_t len = strlen(e->d_name);
    if (len < 5 || strcmp(e->d_name + len - 5, ".gguf") != 0) continue;
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", mdir, e->d_name);
    rc = eco_gguf_open(path, &g, &err);
    if (rc) fail_msg("%s: %s", e->d_name, err.msg);
    for (uint64_t i = 0; i < g->n_tensors; i++)
      assert_true((const uint8_t *)g->tensors[i].data + g->tensors[i].n_bytes <= g->base + g->size);
    eco_gguf_close(g);
    files++;
  }
  closedir(d);
  assert_true(files >= 9);
}

static void test_open_errors(void **state) {
  (void)state;
  eco_gguf *g = NULL;
  eco_error err = {0};
  assert_int_equal(eco_gguf_open("/nonexistent/x.gguf", &g, &err), ECO_ENOENT);
  assert_non_null(strstr(err.msg, "/nonexistent/x.gguf"));
  char *dir = eco_test_tmpdir();
  assert_int_equal(eco_test_write_file(dir, "short.gguf", "GGUF"), 0);
  char *p = eco_test_path(dir, "short.gguf");
  assert_int_equal(eco_gguf_open(p, &g, &err), ECO_EFORMAT);
  assert_non_null(strstr(err.msg, "too short"));
  free(p);
  p = eco_test_path(dir, "bad.gguf");
  FILE *f = fopen(p, "wb");
  assert_non_null(f);
  static const uint8_t bad[32] = {'G', 'G', 'U', 'F', 9};
  assert_int_equal(fwrite(bad, 1, sizeof bad, f), sizeof bad);
  fclose(f);
  assert_int_equal(eco_gguf_open(p, &g, &err), ECO_EUNSUPPORTED);
  free(p);
  eco_test_rmtree(dir);
  free(dir);
  assert_int_equal(eco_ggml_block_elems(ECO_GGML_Q6_K), 256);
  assert_int_equal(eco_ggml_block_bytes(ECO_GGML_Q6_K), 210);
  assert_string_equal(eco_ggml_type_name(ECO_GGML_Q4_K), "Q4_K");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_good_file),         cmocka_unit_test(test_truncation_every_byte),
      cmocka_unit_test(test_malformed_headers), cmocka_unit_test(test_malformed_kv),
      cmocka_unit_test(test_malformed_tensors), cmocka_unit_test(test_regression_fixtures),
      cmocka_unit_test(test_real_files),        cmocka_unit_test(test_open_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
