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
