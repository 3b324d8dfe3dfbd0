/* ecoinfer: the one UTF-8 hold-back for text that arrives in pieces.
 *
 * Generated text comes token by token, and a token may end inside a
 * character (SPM byte tokens, the BPE bytes of an emoji). eco_utf8_feed
 * appends whole characters only and holds back the bytes of a character
 * that a later piece completes; eco_utf8_flush ends the text.
 *
 * What happens to bytes that can never form a character depends on the
 * caller:
 *   ECO_UTF8_PASS     they pass through as they are (the tokenizer's
 *                     stream decoder: pieces as llama.cpp gives them);
 *                     continuation bytes are checked structurally only;
 *   ECO_UTF8_REPLACE  each becomes U+FFFD, and overlong forms, surrogates
 *                     and code points above U+10FFFF are invalid too (the
 *                     node server: JSON strings must be valid UTF-8); a
 *                     character still incomplete at the flush is one U+FFFD.
 * Use one mode for the life of a hold. No allocation besides growing out. */
#ifndef ECO_UTIL_UTF8_H
#define ECO_UTIL_UTF8_H

#include "util/strbuf.h"

#include <stddef.h>

typedef enum eco_utf8_mode {
  ECO_UTF8_PASS = 0,
  ECO_UTF8_REPLACE = 1,
} eco_utf8_mode;

typedef struct eco_utf8_hold {
  unsigned char pend[4]; /* the bytes of an incomplete character */
  size_t n;              /* bytes held back, 0..3 */
} eco_utf8_hold;

/* Appends the whole characters that data[0..n) completes to out. Returns 0
 * or ECO_ENOMEM. */
int eco_utf8_feed(eco_utf8_hold *h, eco_utf8_mode mode, const void *data, size_t n,
                  eco_strbuf *out);
/* Appends what is still held back (PASS: the bytes; REPLACE: one U+FFFD)
 * and empties the hold. */
int eco_utf8_flush(eco_utf8_hold *h, eco_utf8_mode mode, eco_strbuf *out);

#endif
