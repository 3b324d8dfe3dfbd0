/* ecoinfer test helpers: temp dirs, fixture files, the shared data folder,
 * running the ecoinfer binary. Use with cmocka. */
#ifndef ECO_TESTUTIL_H
#define ECO_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
// clang-format off
#include <cmocka.h>
// clang-format on

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* For clang's static analyzer (clang-tidy) only: a failed cmocka assertion,
 * fail_msg() or skip() ends the test (cmocka longjmps out), which cmocka
 * 1.1's declarations do not say; without this model the analyzer follows
 * every path past a failed check and reports what the check excluded.
 * Compiled tests never see these definitions. */
#ifdef __clang_analyzer__
#undef assert_true
#define assert_true(c) ((c) ? (void)0 : abort())
#undef assert_false
#define assert_false(c) ((c) ? abort() : (void)0)
#undef assert_non_null
#define assert_non_null(c) ((c) ? (void)0 : abort())
#undef assert_null
#define assert_null(c) ((c) ? abort() : (void)0)
#undef assert_int_equal
#define assert_int_equal(a, b)                                                                     \
  (cast_to_largest_integral_type(a) == cast_to_largest_integral_type(b) ? (void)0 : abort())
#undef assert_int_not_equal
#define assert_int_not_equal(a, b)                                                                 \
  (cast_to_largest_integral_type(a) != cast_to_largest_integral_type(b) ? (void)0 : abort())
#undef fail_msg
#define fail_msg(...) (print_error(__VA_ARGS__), abort())
#undef skip
#define skip() abort()
#endif

/* A fresh directory under $TMPDIR (or /tmp); free with eco_test_rmtree +
 * free(). Aborts the test on failure. */
char *eco_test_tmpdir(void);
/* rm -rf path (refuses "/" and ""). */
void eco_test_rmtree(const char *path);
/* Writes content to dir/rel, creating parent directories; 0 on success. */
int eco_test_write_file(const char *dir, const char *rel, const char *content);
/* Path of dir/rel in a static-free malloc'd string. */
char *eco_test_path(const char *dir, const char *rel);

/* The read-only shared data folder (../shared beside the checkout, or
 * $ECO_SHARED_DIR), or NULL when absent. */
const char *eco_test_shared_dir(void);
/* malloc'd path of shared/rel if that file exists, else NULL. */
char *eco_test_shared_path(const char *rel);

/* Skips the current cmocka test with a visible message when the shared file
 * rel is absent; otherwise stores its malloc'd path in *out. */
#define ECO_TEST_NEED_SHARED(rel, out)                                                             \
  do {                                                                                             \
    *(out) = eco_test_shared_path(rel);                                                            \
    if (!*(out)) {                                                                                 \
      print_message("SKIP: shared data '%s' absent (set ECO_SHARED_DIR or place "                  \
                    "../shared beside the checkout)\n",                                            \
                    (rel));                                                                        \
      skip();                                                                                      \
    }                                                                                              \
  } while (0)

/* Path of the ecoinfer binary under test. */
const char *eco_test_binary(void);
/* Runs a shell command, captures stdout (malloc'd, NUL-terminated) and the
 * exit code. Returns 0 if it could be run. */
int eco_test_run(const char *cmd, char **out, int *exit_code);

#endif
