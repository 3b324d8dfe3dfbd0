/* ecoinfer: Prometheus text format values (see promtext.h). */
#include "util/promtext.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Past a label set starting at p ('{'), honouring quoted values with
 * backslash escapes; NULL if it does not close before end. */
static const char *skip_labels(const char *p, const char *end) {
  bool quoted = false;
  for (p++; p < end; p++) {
    if (quoted) {
      if (*p == '\\')
        p++;
      else if (*p == '"')
        quoted = false;
    } else if (*p == '"') {
      quoted = true;
    } else if (*p == '}') {
      return p + 1;
    } else if (*p == '\n') {
      return NULL;
    }
  }
  return NULL;
}

size_t eco_prom_sum(const char *text, size_t len, const char *name, double *sum) {
  size_t n = 0;
  size_t nl = name ? strlen(name) : 0;
  *sum = 0;
  if (!text || !nl) return 0;
  const char *p = text, *end = text + len;
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol) eol = end;
    const char *q = p;
    while (q < eol && (*q == ' ' || *q == '\t'))
      q++;
    if (q < eol && *q != '#' && (size_t)(eol - q) > nl && memcmp(q, name, nl) == 0 &&
        (q[nl] == '{' || q[nl] == ' ' || q[nl] == '\t')) {
      q += nl;
      if (*q == '{') q = skip_labels(q, eol);
      if (q) {
        while (q < eol && (*q == ' ' || *q == '\t'))
          q++;
        char num[64];
        size_t k = 0;
        while (q < eol && *q != ' ' && *q != '\t' && *q != '\r' && k + 1 < sizeof num)
          num[k++] = *q++;
        num[k] = '\0';
        char *e = NULL;
        double v = k ? strtod(num, &e) : NAN;
        if (e && *e == '\0' && isfinite(v)) {
          *sum += v;
          n++;
        }
      }
    }
    p = eol + 1;
  }
  return n;
}
