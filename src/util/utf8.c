/* ecoinfer: the UTF-8 hold-back (see utf8.h). */
#include "util/utf8.h"

#include "util/status.h"

#include <stdbool.h>
#include <string.h>

static const char REPLACEMENT[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* Length of the character a byte starts: 1 (ASCII), 2..4, or 0 if it cannot
 * start one. */
static size_t need_of(unsigned char b) {
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) return 2;
  if (b >= 0xE0 && b <= 0xEF) return 3;
  if (b >= 0xF0 && b <= 0xF4) return 4;
  return 0;
}

/* Whether d may be byte k (>= 1) of a character that lead starts. REPLACE
 * also bounds the second byte: no overlong forms, surrogates or code
 * points above U+10FFFF. */
static bool cont_ok(unsigned char lead, size_t k, unsigned char d, eco_utf8_mode mode) {
  if ((d & 0xC0) != 0x80) return false;
  if (mode != ECO_UTF8_REPLACE || k != 1) return true;
  if (lead == 0xE0) return d >= 0xA0;
  if (lead == 0xED) return d <= 0x9F;
  if (lead == 0xF0) return d >= 0x90;
  if (lead == 0xF4) return d <= 0x8F;
  return true;
}

/* n bytes that are no character: as they are, or U+FFFD each. */
static int invalid(eco_utf8_mode mode, const void *bytes, size_t n, eco_strbuf *out) {
  if (mode == ECO_UTF8_PASS) return eco_sb_append(out, bytes, n);
  for (size_t i = 0; i < n; i++)
    if (eco_sb_append(out, REPLACEMENT, 3)) return ECO_ENOMEM;
  return ECO_OK;
}

int eco_utf8_feed(eco_utf8_hold *h, eco_utf8_mode mode, const void *data, size_t n,
                  eco_strbuf *out) {
  const unsigned char *d = data;
  size_t i = 0;
  int rc = ECO_OK;
  /* first complete the held-back character */
  while (h->n && i < n && rc == ECO_OK) {
    if (!cont_ok(h->pend[0], h->n, d[i], mode)) { /* the held bytes are no character */
      rc = invalid(mode, h->pend, h->n, out);
      h->n = 0;
      break;
    }
    h->pend[h->n++] = d[i++];
    if (h->n == need_of(h->pend[0])) {
      rc = eco_sb_append(out, h->pend, h->n);
      h->n = 0;
    }
  }
  size_t run = i; /* first byte not yet appended */
  while (i < n && rc == ECO_OK) {
    size_t need = need_of(d[i]);
    size_t have = 1;
    if (need > 1)
      while (have < need && i + have < n && cont_ok(d[i], have, d[i + have], mode))
        have++;
    if (need == 1 || (need > 1 && have == need)) { /* a whole character */
      i += need;
      continue;
    }
    if (need > 1 && i + have == n) { /* incomplete at the end: hold back */
      rc = eco_sb_append(out, d + run, i - run);
      memcpy(h->pend, d + i, have);
      h->n = have;
      return rc;
    }
    /* a stray byte, or a lead whose character breaks off */
    if (mode == ECO_UTF8_PASS) { /* its bytes pass through with the run */
      i += have;
      continue;
    }
    if ((rc = eco_sb_append(out, d + run, i - run)) == ECO_OK) rc = invalid(mode, d + i, 1, out);
    run = ++i; /* the bytes after the lead are looked at again */
  }
  if (rc == ECO_OK && n > run) rc = eco_sb_append(out, d + run, n - run);
  return rc;
}

int eco_utf8_flush(eco_utf8_hold *h, eco_utf8_mode mode, eco_strbuf *out) {
  int rc = ECO_OK;
  if (h->n) /* PASS: the bytes as they are; REPLACE: one U+FFFD for the character */
    rc = mode == ECO_UTF8_PASS ? eco_sb_append(out, h->pend, h->n) : invalid(mode, h->pend, 1, out);
  h->n = 0;
  return rc;
}
