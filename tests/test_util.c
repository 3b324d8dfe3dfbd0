/* Tests for src/util: result codes, errors, string buffer, files, clocks,
 * CPU detection, logging. */
#include "testutil.h"

#include "util/cpu.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/status.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_strerror_covers_all_codes(void **state) {
  (void)state;
  for (int c = 0; c >= ECO_ECONTEXT; c--) {
    const char *s = eco_strerror(c);
    assert_non_null(s);
    assert_string_not_equal(s, "unknown error");
  }
  assert_string_equal(eco_strerror(-999), "unknown error");
  assert_int_equal(eco_status_from_errno(ENOENT), ECO_ENOENT);
  assert_int_equal(eco_status_from_errno(EACCES), ECO_EACCES);
  assert_int_equal(eco_status_from_errno(0), ECO_OK);
}

static void test_error_set_and_prefix(void **state) {
  (void)state;
  eco_error e = {0};
  assert_int_equal(eco_error_set(&e, ECO_EFORMAT, "byte %d", 7), ECO_EFORMAT);
  assert_string_equal(eco_error_text(&e), "byte 7");
  eco_error_prefix(&e, "file %s", "x.gguf");
  assert_string_equal(e.msg, "file x.gguf: byte 7");
  assert_int_equal(eco_error_set(NULL, ECO_EIO, "ignored"), ECO_EIO);
  eco_error z = {.code = ECO_EIO};
  assert_string_equal(eco_error_text(&z), "input/output error");
}

static void test_strbuf(void **state) {
  (void)state;
  eco_strbuf sb;
  eco_sb_init(&sb);
  assert_string_equal(eco_sb_str(&sb), "");
  for (int i = 0; i < 1000; i++)
    assert_int_equal(eco_sb_printf(&sb, "%d,", i), 0);
  assert_true(sb.len > 3000);
  assert_memory_equal(sb.data, "0,1,2,", 6);
  eco_sb_reset(&sb);
  eco_sb_puts(&sb, "abc");
  assert_string_equal(eco_sb_str(&sb), "abc");
  eco_sb_free(&sb);
}

static void test_fs_roundtrip(void **state) {
  (void)state;
  char *dir = eco_test_tmpdir();
  char *sub = eco_test_path(dir, "a/b/c");
  assert_int_equal(eco_fs_mkdirs(sub), 0);
  assert_true(eco_fs_is_dir(sub));
  char *f = eco_test_path(sub, "file.txt");
  eco_error err = {0};
  assert_int_equal(eco_fs_write_atomic(f, "hello\nworld\n", 12, &err), 0);
  char *data;
  size_t len;
  assert_int_equal(eco_fs_read_all(f, 1 << 20, &data, &len, &err), 0);
  assert_int_equal(len, 12);
  assert_string_equal(data, "hello\nworld\n");
  free(data);
  char line[32];
  assert_int_equal(eco_fs_read_line(f, line, sizeof line), 0);
  assert_string_equal(line, "hello");
  /* Size limit is enforced with a clear error. */
  assert_int_equal(eco_fs_read_all(f, 4, &data, &len, &err), ECO_EOVERFLOW);
  assert_non_null(strstr(err.msg, "larger than"));
  /* Missing file. */
  char *missing = eco_test_path(dir, "nope");
  assert_int_equal(eco_fs_read_all(missing, 100, &data, &len, &err), ECO_ENOENT);
  char buf[8];
  assert_int_equal(eco_fs_join(buf, sizeof buf, "abc", "def"), 0);
  assert_string_equal(buf, "abc/def");
  assert_int_equal(eco_fs_join(buf, sizeof buf, "abcd", "efgh"), ECO_EOVERFLOW);
  free(missing);
  free(f);
  free(sub);
  eco_test_rmtree(dir);
  assert_false(eco_fs_exists(dir));
  free(dir);
}

static void test_time_parse(void **state) {
  (void)state;
  double t;
  assert_int_equal(eco_time_parse_iso8601("1970-01-01T00:00:00Z", &t), 0);
  assert_true(t == 0.0);
  assert_int_equal(eco_time_parse_iso8601("2023-01-01 00:00:00", &t), 0);
  assert_true(t == 1672531200.0);
  assert_int_equal(eco_time_parse_iso8601("2023-01-01T01:00:00.000Z", &t), 0);
  assert_true(t == 1672534800.0);
  assert_int_equal(eco_time_parse_iso8601("2023-01-01T02:00+01:00", &t), 0);
  assert_true(t == 1672534800.0);
  assert_int_equal(eco_time_parse_iso8601("2024-02-29", &t), 0);
  assert_true(t == 1709164800.0);
  assert_int_equal(eco_time_parse_iso8601("garbage", &t), ECO_EINVAL);
  assert_int_equal(eco_time_parse_iso8601("2023-13-01", &t), ECO_EINVAL);
  assert_int_equal(eco_time_parse_iso8601("2023-01-01T00:00:00Zjunk", &t), ECO_EINVAL);
  assert_int_equal(eco_time_parse("1672531200", &t), 0);
  assert_true(t == 1672531200.0);
  assert_int_equal(eco_time_parse("1672531200.5", &t), 0);
  assert_true(t == 1672531200.5);
  assert_int_equal(eco_time_parse("2023-01-01T01:00:00Z", &t), 0);
  assert_true(t == 1672534800.0);
  assert_int_equal(eco_time_parse("", &t), ECO_EINVAL);
  assert_int_equal(eco_time_parse("1.2.3", &t), ECO_EINVAL);
  assert_int_equal(eco_time_parse("soon", &t), ECO_EINVAL);
  char buf[32];
  eco_time_iso8601(1672534800.0, buf, sizeof buf);
  assert_string_equal(buf, "2023-01-01T01:00:00Z");
  uint64_t a = eco_time_mono_ns(), b = eco_time_mono_ns();
  assert_true(b >= a);
}

static void test_cpu_detect(void **state) {
  (void)state;
  eco_cpu_info c;
  eco_cpu_detect(&c);
  assert_true(c.logical_cpus >= 1);
  assert_true(c.physical_cores >= 1 && c.physical_cores <= c.logical_cpus);
  assert_true(c.model[0] != '\0');
  assert_true(c.mem_total_bytes > 0);
  assert_true(eco_mem_peak_rss() > 0);
#if defined(__x86_64__)
  if (c.level >= ECO_SIMD_AVX2) assert_true(c.has_avx2 && c.has_fma);
  const eco_simd_level best = c.level;
  if (c.has_avx512vnni && best >= ECO_SIMD_AVX512) assert_int_equal(best, ECO_SIMD_AVX512VNNI);
  setenv("ECOINFER_CPU_MAX", "scalar", 1);
  eco_cpu_detect(&c);
  assert_int_equal(c.level, ECO_SIMD_SCALAR);
  /* each cap gives min(cap, best); names round-trip through eco_simd_name */
  const eco_simd_level caps[] = {ECO_SIMD_AVX2, ECO_SIMD_AVX512, ECO_SIMD_AVX512VNNI};
  for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
    setenv("ECOINFER_CPU_MAX", eco_simd_name(caps[i]), 1);
    eco_cpu_detect(&c);
    assert_int_equal(c.level, caps[i] < best ? caps[i] : best);
  }
  unsetenv("ECOINFER_CPU_MAX");
#endif
}

static void test_log_formats(void **state) {
  (void)state;
  char *dir = eco_test_tmpdir();
  char *p = eco_test_path(dir, "log");
  int fd = open(p, O_CREAT | O_RDWR | O_TRUNC, 0644);
  assert_true(fd >= 0);
  eco_logger lg;
  eco_log_init(&lg);
  lg.fd = fd;
  lg.format = ECO_LOG_JSON;
  ECO_DEBUG(&lg, "test", "hidden %d", 1);
  ECO_WARN(&lg, "test", "quote \" and\nnewline");
  lg.format = ECO_LOG_TEXT;
  ECO_ERROR(&lg, "mod", "plain");
  close(fd);
  char *data;
  size_t len;
  assert_int_equal(eco_fs_read_all(p, 1 << 16, &data, &len, NULL), 0);
  assert_null(strstr(data, "hidden"));
  assert_non_null(strstr(data, "\"level\":\"warn\""));
  assert_non_null(strstr(data, "quote \\\" and\\nnewline"));
  assert_non_null(strstr(data, "error mod: plain"));
  eco_log_level l;
  assert_int_equal(eco_log_parse_level("WARN", &l), 0);
  assert_int_equal(l, ECO_LOG_WARN);
  assert_int_equal(eco_log_parse_level("loud", &l), ECO_EINVAL);
  free(data);
  free(p);
  eco_test_rmtree(dir);
  free(dir);
}

/* Feeds the pieces one by one and returns what came out after each, joined
 * by '|' (so the test sees where the hold-back held), then the flush. */
static void utf8_run(eco_utf8_mode mode, const char *const *pieces, size_t n, char *res,
                     size_t cap) {
  eco_utf8_hold h = {{0}, 0};
  eco_strbuf out;
  eco_sb_init(&out);
  size_t off = 0;
  res[0] = 0;
  for (size_t i = 0; i <= n; i++) {
    if (i < n)
      assert_int_equal(eco_utf8_feed(&h, mode, pieces[i], strlen(pieces[i]), &out), 0);
    else
      assert_int_equal(eco_utf8_flush(&h, mode, &out), 0);
    off += (size_t)snprintf(res + off, cap - off, "%s%.*s", i ? "|" : "", (int)out.len,
                            out.data ? out.data : "");
    out.len = 0;
  }
  assert_int_equal(h.n, 0);
  eco_sb_free(&out);
}

static void test_utf8_hold(void **state) {
  (void)state;
  char r[256];
  /* the euro sign E2 82 AC in three pieces, then ASCII */
  const char *euro[] = {"a\xE2", "\x82", "\xAC!", "b"};
  utf8_run(ECO_UTF8_PASS, euro, 4, r, sizeof r);
  assert_string_equal(r, "a||\xE2\x82\xAC!|b|");
  utf8_run(ECO_UTF8_REPLACE, euro, 4, r, sizeof r);
  assert_string_equal(r, "a||\xE2\x82\xAC!|b|");
  /* a held character broken by ASCII: PASS keeps the bytes, REPLACE one U+FFFD each */
  const char *broken[] = {"\xE2\x82", "A"};
  utf8_run(ECO_UTF8_PASS, broken, 2, r, sizeof r);
  assert_string_equal(r, "|\xE2\x82"
                         "A|");
  utf8_run(ECO_UTF8_REPLACE, broken, 2, r, sizeof r);
  assert_string_equal(r, "|\xEF\xBF\xBD\xEF\xBF\xBD"
                         "A|");
  /* stray continuation and invalid leads inside one piece */
  const char *stray[] = {"x\x80y\xC0\xFFz"};
  utf8_run(ECO_UTF8_PASS, stray, 1, r, sizeof r);
  assert_string_equal(r, "x\x80y\xC0\xFFz|");
  utf8_run(ECO_UTF8_REPLACE, stray, 1, r, sizeof r);
  assert_string_equal(r, "x\xEF\xBF\xBDy\xEF\xBF\xBD\xEF\xBF\xBDz|");
  /* a surrogate (ED A0 80) and an overlong form (E0 80 80): structurally
   * whole, so PASS keeps them; REPLACE rejects the lead, then each stray byte */
  const char *sur[] = {"\xED\xA0\x80|\xE0\x80\x80"};
  utf8_run(ECO_UTF8_PASS, sur, 1, r, sizeof r);
  assert_string_equal(r, "\xED\xA0\x80|\xE0\x80\x80|");
  utf8_run(ECO_UTF8_REPLACE, sur, 1, r, sizeof r);
  assert_string_equal(r, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD|"
                         "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD|");
  /* incomplete at the end: PASS flushes the bytes, REPLACE one U+FFFD */
  const char *tail[] = {"ok\xF0\x9F\x98"};
  utf8_run(ECO_UTF8_PASS, tail, 1, r, sizeof r);
  assert_string_equal(r, "ok|\xF0\x9F\x98");
  utf8_run(ECO_UTF8_REPLACE, tail, 1, r, sizeof r);
  assert_string_equal(r, "ok|\xEF\xBF\xBD");
  /* a four-byte emoji one byte per piece */
  const char *emoji[] = {"\xF0", "\x9F", "\x98", "\x80"};
  utf8_run(ECO_UTF8_REPLACE, emoji, 4, r, sizeof r);
  assert_string_equal(r, "|||\xF0\x9F\x98\x80|");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_strerror_covers_all_codes),
      cmocka_unit_test(test_error_set_and_prefix),
      cmocka_unit_test(test_strbuf),
      cmocka_unit_test(test_utf8_hold),
      cmocka_unit_test(test_fs_roundtrip),
      cmocka_unit_test(test_time_parse),
      cmocka_unit_test(test_cpu_detect),
      cmocka_unit_test(test_log_formats),
  };
  return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
