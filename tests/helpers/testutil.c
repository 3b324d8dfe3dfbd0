#include "testutil.h"

#include "util/fs.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

char *eco_test_tmpdir(void) {
  const char *base = getenv("TMPDIR");
  if (!base || !*base) base = "/tmp";
  char *tmpl = malloc(strlen(base) + 32);
  assert_non_null(tmpl);
  sprintf(tmpl, "%s/ecotest.XXXXXX", base);
  if (!mkdtemp(tmpl)) fail_msg("mkdtemp(%s): %s", tmpl, strerror(errno));
  return tmpl;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  /* Restore permissions so that unreadable fixtures can be removed. */
  chmod(p, 0700);
  return remove(p);
}

void eco_test_rmtree(const char *path) {
  if (!path || !*path || strcmp(path, "/") == 0) return;
  nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

char *eco_test_path(const char *dir, const char *rel) {
  char *p = malloc(strlen(dir) + strlen(rel) + 2);
  assert_non_null(p);
  sprintf(p, "%s/%s", dir, rel);
  return p;
}

int eco_test_write_file(const char *dir, const char *rel, const char *content) {
  char *p = eco_test_path(dir, rel);
  char *slash = strrchr(p, '/');
  if (slash && slash != p) {
    *slash = '\0';
    eco_fs_mkdirs(p);
    *slash = '/';
  }
  FILE *f = fopen(p, "wb");
  free(p);
  if (!f) return -1;
  size_t n = strlen(content);
  int rc = fwrite(content, 1, n, f) == n ? 0 : -1;
  if (fclose(f) != 0) rc = -1;
  return rc;
}

const char *eco_test_shared_dir(void) {
  const char *env = getenv("ECO_SHARED_DIR");
  if (env && *env && eco_fs_is_dir(env)) return env;
  if (eco_fs_is_dir(ECO_TEST_SHARED_DIR)) return ECO_TEST_SHARED_DIR;
  return NULL;
}

char *eco_test_shared_path(const char *rel) {
  const char *d = eco_test_shared_dir();
  if (!d) return NULL;
  char *p = eco_test_path(d, rel);
  if (!eco_fs_exists(p)) {
    free(p);
    return NULL;
  }
  return p;
}

const char *eco_test_binary(void) {
  const char *env = getenv("ECO_BINARY");
  return env && *env ? env : ECO_TEST_BINARY;
}

int eco_test_run(const char *cmd, char **out, int *exit_code) {
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  if (!buf) {
    pclose(p);
    return -1;
  }
  size_t r;
  while ((r = fread(buf + n, 1, cap - n - 1, p)) > 0) {
    n += r;
    if (n + 1 >= cap) {
      char *nb = realloc(buf, cap * 2);
      if (!nb) break;
      buf = nb;
      cap *= 2;
    }
  }
  buf[n] = '\0';
  int st = pclose(p);
  if (exit_code) *exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  if (out)
    *out = buf;
  else
    free(buf);
  return 0;
}
