/* ecoinfer: model download with resume and sha256 check (see pull.h). */
#include "server/pull.h"

#include "util/fs.h"
#include "util/timeutil.h"

#include <ctype.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- SHA-256 through OpenSSL's libcrypto (EVP digest API) ------------- */

int eco_sha256_file(const char *path, char hex[65], eco_error *err) {
  int rc = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return eco_error_set(err, eco_status_from_errno(errno), "%s: %s", path, strerror(errno));
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  unsigned char *buf = malloc(1 << 20);
  if (!ctx || !buf || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
    rc = eco_error_set(err, ECO_ENOMEM, "cannot start SHA-256");
    goto out;
  }
  size_t n;
  while ((n = fread(buf, 1, 1 << 20, f)) > 0)
    if (EVP_DigestUpdate(ctx, buf, n) != 1) {
      rc = eco_error_set(err, ECO_EINTERNAL, "SHA-256 update failed");
      goto out;
    }
  if (ferror(f)) {
    rc = eco_error_set(err, ECO_EIO, "%s: read error", path);
    goto out;
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32) {
    rc = eco_error_set(err, ECO_EINTERNAL, "SHA-256 final failed");
    goto out;
  }
  for (int i = 0; i < 32; i++)
    snprintf(hex + 2 * i, 3, "%02x", md[i]);
out:
  EVP_MD_CTX_free(ctx);
  free(buf);
  fclose(f);
  return rc;
}

/* ---- download ------------------------------------------------------------ */

typedef struct dl {
  FILE *f;
  long status;               /* of the final response */
  char etag[80];             /* 64-hex digest from X-Linked-ETag / ETag, else "" */
  bool linked;               /* etag came from X-Linked-ETag (preferred) */
  unsigned long long offset; /* bytes already on disk when the transfer started */
  int progress_fd;
  uint64_t last_ns, start_ns;
  bool write_err;
} dl;

static bool is_hex64(const char *s, size_t n) {
  if (n != 64) return false;
  for (size_t i = 0; i < n; i++)
    if (!isxdigit((unsigned char)s[i])) return false;
  return true;
}

static size_t on_header(char *p, size_t sz, size_t n, void *u) {
  dl *d = u;
  size_t len = sz * n;
  if (len > 5 && strncmp(p, "HTTP/", 5) == 0) { /* a new response (redirects) */
    const char *sp = memchr(p, ' ', len);
    if (sp) d->status = strtol(sp + 1, NULL, 10);
    return len;
  }
  bool linked = len > 15 && strncasecmp(p, "x-linked-etag:", 14) == 0;
  bool plain = len > 6 && strncasecmp(p, "etag:", 5) == 0;
  if (!linked && !plain) return len;
  if (plain && d->linked) return len;
  const char *v = (const char *)memchr(p, ':', len) + 1;
  const char *end = p + len;
  while (v < end && (*v == ' ' || *v == '"' || *v == 'W' || *v == '/'))
    v++;
  const char *q = v;
  while (q < end && isxdigit((unsigned char)*q))
    q++;
  if (is_hex64(v, (size_t)(q - v))) {
    snprintf(d->etag, sizeof d->etag, "%.64s", v);
    for (char *c = d->etag; *c; c++)
      *c = (char)tolower((unsigned char)*c);
    d->linked = linked;
  }
  return len;
}

static size_t on_body(char *p, size_t sz, size_t n, void *u) {
  dl *d = u;
  if (d->status >= 300) return sz * n; /* error page: not part of the file */
  if (d->status == 200 && d->offset) { /* Range ignored: start over */
    if (ftruncate(fileno(d->f), 0) != 0 || fseek(d->f, 0, SEEK_SET) != 0) {
      d->write_err = true;
      return 0;
    }
    d->offset = 0;
  }
  if (fwrite(p, sz, n, d->f) != n) {
    d->write_err = true;
    return 0;
  }
  return sz * n;
}

static int on_progress(void *u, curl_off_t total, curl_off_t now, curl_off_t ut, curl_off_t un) {
  dl *d = u;
  if (d->progress_fd < 0 || d->status >= 300) return 0;
  uint64_t t = eco_time_mono_ns();
  if (t - d->last_ns < 100000000ull && (total == 0 || now < total)) return 0;
  d->last_ns = t;
  double have = (double)d->offset + (double)now, all = (double)d->offset + (double)total;
  double secs = (double)(t - d->start_ns) / 1e9;
  double rate = secs > 0 ? (double)now / secs : 0;
  char bar[41];
  int fill = total > 0 ? (int)(40 * have / all) : 0;
  for (int i = 0; i < 40; i++)
    bar[i] = i < fill ? '#' : '.';
  bar[40] = 0;
  char line[160];
  int len =
      total > 0
          ? snprintf(line, sizeof line, "\r[%s] %5.1f%% %8.1f/%.1f MiB %6.1f MiB/s", bar,
                     100 * have / all, have / 1048576, all / 1048576, rate / 1048576)
          : snprintf(line, sizeof line, "\r%8.1f MiB %6.1f MiB/s", have / 1048576, rate / 1048576);
  if (len > 0 && write(d->progress_fd, line, (size_t)len) < 0) d->progress_fd = -1;
  return 0;
}

static int build_url(const char *spec, const eco_pull_opts *o, char *url, size_t cap,
                     const char **name, eco_error *err) {
  if (strncmp(spec, "http://", 7) == 0 || strncmp(spec, "https://", 8) == 0) {
    snprintf(url, cap, "%s", spec);
    const char *q = strchr(spec, '?');
    const char *slash = spec + strlen(spec);
    if (q) slash = q;
    while (slash > spec && slash[-1] != '/')
      slash--;
    *name = slash;
  } else {
    const char *s1 = strchr(spec, '/');
    const char *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
    if (!s1 || !s2 || s1 == spec || s2 == s1 + 1 || !s2[1])
      return eco_error_set(err, ECO_EINVAL, "'%s': expected OWNER/REPO/FILE or a URL", spec);
    const char *base = o->base_url && o->base_url[0] ? o->base_url : "https://huggingface.co";
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/')
      bl--;
    if ((size_t)snprintf(url, cap, "%.*s/%.*s/resolve/%s/%s", (int)bl, base, (int)(s2 - spec), spec,
                         o->revision && o->revision[0] ? o->revision : "main", s2 + 1) >= cap)
      return eco_error_set(err, ECO_EOVERFLOW, "URL too long");
    *name = strrchr(spec, '/') + 1;
  }
  /* the local name: last path segment, no traversal, no hidden files */
  if (!**name || (*name)[0] == '.' || strchr(*name, '?') || strchr(*name, '\\'))
    return eco_error_set(err, ECO_EINVAL, "'%s': cannot derive a file name", spec);
  return 0;
}

/* Transfers url into the open d->f, from byte d->offset on (a Range request when resuming).
 * The curl status; d->status, d->etag and d->write_err say the rest. */
static CURLcode transfer(const char *url, const eco_pull_opts *o, dl *d) {
  CURL *c = curl_easy_init();
  if (!c) return CURLE_FAILED_INIT;
  struct curl_slist *hl = NULL;
  if (o->token && o->token[0]) {
    char h[1024];
    snprintf(h, sizeof h, "Authorization: Bearer %s", o->token);
    hl = curl_slist_append(hl, h);
  }
  char range[64];
  snprintf(range, sizeof range, "%llu-", d->offset);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
  if (d->offset) curl_easy_setopt(c, CURLOPT_RANGE, range);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, d);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, d);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, d);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, o->timeout_s > 0 ? o->timeout_s : 60L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "ecoinfer/" ECO_VERSION);
  d->start_ns = eco_time_mono_ns();
  CURLcode cc = curl_easy_perform(c);
  if (o->progress_fd >= 0 && write(o->progress_fd, "\n", 1) < 0) {
    /* progress output is best effort */
  }
  curl_slist_free_all(hl);
  curl_easy_cleanup(c);
  return cc;
}

/* Checks the downloaded part against --sha256 or the server's ETag (a mismatch deletes it),
 * then moves it to res->path. */
static int verify_and_place(const char *part, const char *fname, const eco_pull_opts *o,
                            const dl *d, eco_pull_result *res, eco_error *err) {
  int rc = eco_sha256_file(part, res->sha256, err);
  if (rc) return rc;
  const char *want = o->sha256 ? o->sha256 : d->etag[0] ? d->etag : NULL;
  if (want) {
    if (strcasecmp(want, res->sha256) != 0) {
      unlink(part);
      return eco_error_set(err, ECO_EFORMAT,
                           "sha256 mismatch for %s: expected %s, got %s (deleted the download)",
                           fname, want, res->sha256);
    }
    res->verified = true;
  }
  struct stat st;
  if (stat(part, &st) == 0) res->bytes = (unsigned long long)st.st_size;
  if (rename(part, res->path) != 0)
    return eco_error_set(err, eco_status_from_errno(errno), "rename %s: %s", part, strerror(errno));
  return 0;
}

int eco_pull(const char *spec, const eco_pull_opts *o, eco_pull_result *res, eco_error *err) {
  memset(res, 0, sizeof *res);
  char url[8192];
  const char *name = NULL;
  int rc = build_url(spec, o, url, sizeof url, &name, err);
  if (rc || !name) return rc ? rc : ECO_EINVAL;
  size_t nl = strcspn(name, "?#");
  char fname[512];
  snprintf(fname, sizeof fname, "%.*s", (int)nl, name);
  if (o->sha256 && !is_hex64(o->sha256, strlen(o->sha256)))
    return eco_error_set(err, ECO_EINVAL, "--sha256 must be 64 hex digits");
  if (eco_fs_mkdirs(o->dest_dir) != 0)
    return eco_error_set(err, ECO_EIO, "cannot create %s: %s", o->dest_dir, strerror(errno));
  char part[4200];
  if (eco_fs_join(res->path, sizeof res->path, o->dest_dir, fname) ||
      snprintf(part, sizeof part, "%s.part", res->path) >= (int)sizeof part)
    return eco_error_set(err, ECO_EOVERFLOW, "path too long");
  dl d = {.progress_fd = o->progress_fd};
  struct stat st;
  if (stat(part, &st) == 0 && st.st_size > 0) {
    d.offset = (unsigned long long)st.st_size;
    res->resumed = true;
  }
  d.f = fopen(part, d.offset ? "r+b" : "wb");
  if (!d.f)
    return eco_error_set(err, eco_status_from_errno(errno), "%s: %s", part, strerror(errno));
  if (d.offset) fseek(d.f, 0, SEEK_END);
  CURLcode cc = transfer(url, o, &d);
  bool close_err = fclose(d.f) != 0;
  if (cc == CURLE_FAILED_INIT) return eco_error_set(err, ECO_ENOMEM, "curl init failed");
  if (d.write_err || close_err) return eco_error_set(err, ECO_EIO, "%s: write failed", part);
  if (cc != CURLE_OK && !(d.status == 416))
    return eco_error_set(err, ECO_ENET, "%s: %s (partial data kept in %s; run again to resume)",
                         url, curl_easy_strerror(cc), part);
  /* 416: the .part already holds the whole file: verify it below */
  if (d.status != 416 && d.status != 200 && d.status != 206)
    return eco_error_set(err, ECO_EHTTP, "%s: HTTP %ld", url, d.status);
  return verify_and_place(part, fname, o, &d, res, err);
}
