/* Driver for scripts/pretok_diff.py: reads hex-encoded lines, prints the
 * pre-tokenizer pieces (hex, separated by |) for the pre-tokenizer number
 * given as argv[1] (tok_pre). Not part of the build. */
#include "engine/tok_internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
  tok_pre pre = (tok_pre)atoi(argv[1]);
  static char line[1 << 16], text[1 << 15];
  static uint32_t cps[1 << 15];
  tok_sizes w = {0};
  while (fgets(line, sizeof line, stdin)) {
    size_t n = strlen(line) / 2;
    for (size_t i = 0; i < n; i++) {
      unsigned v;
      sscanf(line + 2 * i, "%2x", &v);
      text[i] = (char)v;
    }
    size_t nc = tok_utf8_decode(text, n, cps);
    tok_pretokenize(pre, cps, nc, &w);
    size_t at = 0;
    for (size_t k = 0; k < w.n; k++) {
      if (k) putchar('|');
      for (size_t i = at; i < at + w.v[k]; i++) {
        char u[4];
        size_t l = tok_utf8_encode(cps[i], u);
        for (size_t j = 0; j < l; j++)
          printf("%02x", (unsigned char)u[j]);
      }
      at += w.v[k];
    }
    putchar('\n');
  }
  return 0;
}
