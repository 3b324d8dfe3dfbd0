#include "util/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int eco_fs_read_all(const char *path, size_t max_bytes, char **out, size_t *len, eco_error *err) {
  int rc;
  char *buf = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) {
    int e = errno;
    return eco_error_set(err, eco_status_from_errno(e), "%s: %s", path, strerror(e));
  }
  size_t cap = 4096, n = 0;
  buf = malloc(cap);
  if (!buf) {
    rc = eco_error_set(err, ECO_ENOMEM, "%s: out of memory", path);
    goto fail;
  }
  for (;;) {
    if (n + 1 >= cap) {
      if (cap > max_bytes) {
        rc = eco_error_set(err, ECO_EOVERFLOW, "%s: larger than %zu bytes", path, max_bytes);
        goto fail;
      }
      char *nb = realloc(buf, cap * 2);
      if (!nb) {
        rc = eco_error_set(err, ECO_ENOMEM, "%s: out of memory", path);
        goto fail;
      }
      buf = nb;
      cap *= 2;
    }
    size_t r = fread(buf + n, 1, cap - n - 1, f);
    n += r;
    if (r == 0) break;
  }
  if (ferror(f)) {
    rc = eco_error_set(err, ECO_EIO, "%s: read error", path);
    goto fail;
  }
  if (n > max_bytes) {
    rc = eco_error_set(err, ECO_EOVERFLOW, "%s: larger than %zu bytes", path, max_bytes);
    goto fail;
  }
  buf[n] = '\0';
  fclose(f);
  *out = buf;
  if (len) *len = n;
  return ECO_OK;
fail:
  free(buf);
  fclose(f);
  return rc;
}

int eco_fs_read_line(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return eco_status_from_errno(errno);
  ssize_t n = read(fd, buf, cap - 1);
  int e = errno;
  close(fd);
  if (n < 0) return eco_status_from_errno(e);
  buf[n] = '\0';
  char *nl = strchr(buf, '\n');
  if (nl) *nl = '\0';
  return ECO_OK;
}

int eco_fs_write_atomic(const char *path, const void *data, size_t len, eco_error *err) {
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
    return eco_error_set(err, ECO_EOVERFLOW, "%s: path too long", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    int e = errno;
    return eco_error_set(err, eco_status_from_errno(e), "%s: %s", tmp, strerror(e));
  }
  const char *p = data;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      close(fd);
      unlink(tmp);
      return eco_error_set(err, eco_status_from_errno(e), "%s: %s", tmp, strerror(e));
    }
    p += w;
    len -= (size_t)w;
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    int e = errno;
    unlink(tmp);
    return eco_error_set(err, eco_status_from_errno(e), "%s: %s", tmp, strerror(e));
  }
  if (rename(tmp, path) != 0) {
    int e = errno;
    unlink(tmp);
    return eco_error_set(err, eco_status_from_errno(e), "%s: %s", path, strerror(e));
  }
  return ECO_OK;
}

int eco_fs_mkdirs(const char *path) {
  char buf[4096];
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof buf) return ECO_EINVAL;
  memcpy(buf, path, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (buf[i] == '/' || buf[i] == '\0') {
      char c = buf[i];
      buf[i] = '\0';
      if (mkdir(buf, 0755) != 0 && errno != EEXIST) return eco_status_from_errno(errno);
      buf[i] = c;
    }
  }
  return eco_fs_is_dir(path) ? ECO_OK : ECO_EIO;
}

bool eco_fs_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

bool eco_fs_is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int eco_fs_join(char *buf, size_t cap, const char *a, const char *b) {
  size_t la = strlen(a);
  bool slash = la > 0 && a[la - 1] == '/';
  int n = snprintf(buf, cap, "%s%s%s", a, (slash || la == 0) ? "" : "/", b);
  return (n < 0 || (size_t)n >= cap) ? ECO_EOVERFLOW : ECO_OK;
}

int eco_fs_default_model_dir(char *buf, size_t cap) {
  const char *d = getenv("ECOINFER_MODEL_DIR");
  if (d && *d) return snprintf(buf, cap, "%s", d) >= (int)cap ? ECO_EOVERFLOW : ECO_OK;
  const char *x = getenv("XDG_DATA_HOME");
  if (x && *x)
    return snprintf(buf, cap, "%s/ecoinfer/models", x) >= (int)cap ? ECO_EOVERFLOW : ECO_OK;
  const char *h = getenv("HOME");
  if (!h || !*h) h = "/tmp";
  return snprintf(buf, cap, "%s/.local/share/ecoinfer/models", h) >= (int)cap ? ECO_EOVERFLOW
                                                                              : ECO_OK;
}
