/* ecoinfer: a growable byte buffer for building text (tables, CSV, SVG). */
#ifndef ECO_UTIL_STRBUF_H
#define ECO_UTIL_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct eco_strbuf {
  char *data; /* NUL-terminated, or NULL when empty and never grown */
  size_t len; /* bytes used, excluding the NUL */
  size_t cap; /* bytes allocated */
  bool oom;   /* sticky: an append failed; the content is truncated */
} eco_strbuf;

void eco_sb_init(eco_strbuf *sb);
void eco_sb_free(eco_strbuf *sb);
void eco_sb_reset(eco_strbuf *sb);
/* Appends; on allocation failure sets sb->oom and returns ECO_ENOMEM. */
int eco_sb_append(eco_strbuf *sb, const void *data, size_t n);
int eco_sb_puts(eco_strbuf *sb, const char *s);
int eco_sb_printf(eco_strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The text, "" when empty (never NULL). */
const char *eco_sb_str(const eco_strbuf *sb);

#endif
