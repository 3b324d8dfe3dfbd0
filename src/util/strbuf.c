#include "util/strbuf.h"

#include "util/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void eco_sb_init(eco_strbuf *sb) { memset(sb, 0, sizeof *sb); }

void eco_sb_free(eco_strbuf *sb) {
  free(sb->data);
  eco_sb_init(sb);
}

void eco_sb_reset(eco_strbuf *sb) {
  sb->len = 0;
  if (sb->data) sb->data[0] = '\0';
}

static int grow(eco_strbuf *sb, size_t need) {
  if (sb->oom) return ECO_ENOMEM;
  if (need + 1 <= sb->cap) return ECO_OK;
  size_t cap = sb->cap ? sb->cap : 256;
  while (cap < need + 1) {
    if (cap > (size_t)-1 / 2) {
      sb->oom = true;
      return ECO_ENOMEM;
    }
    cap *= 2;
  }
  char *d = realloc(sb->data, cap);
  if (!d) {
    sb->oom = true;
    return ECO_ENOMEM;
  }
  sb->data = d;
  sb->cap = cap;
  return ECO_OK;
}

int eco_sb_append(eco_strbuf *sb, const void *data, size_t n) {
  if (sb->len + n < sb->len || grow(sb, sb->len + n)) {
    sb->oom = true;
    return ECO_ENOMEM;
  }
  memcpy(sb->data + sb->len, data, n);
  sb->len += n;
  sb->data[sb->len] = '\0';
  return ECO_OK;
}

int eco_sb_puts(eco_strbuf *sb, const char *s) { return eco_sb_append(sb, s, strlen(s)); }

int eco_sb_printf(eco_strbuf *sb, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || grow(sb, sb->len + (size_t)n)) {
    va_end(ap2);
    sb->oom = true;
    return ECO_ENOMEM;
  }
  vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap2);
  va_end(ap2);
  sb->len += (size_t)n;
  return ECO_OK;
}

const char *eco_sb_str(const eco_strbuf *sb) { return sb->data ? sb->data : ""; }
