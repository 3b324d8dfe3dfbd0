/* Driver for tests/tokenizer_vectors.sh: checks ecoinfer's tokenizer against
 * llama.cpp's own test vectors (test-tokenizer-0: FILE.gguf.inp holds texts
 * separated by "\n__ggml_vocab_test__\n", FILE.gguf.out one line of ids per
 * text; add_special=false, parse_special=false). argv: vocab GGUF files.
 * Prints one line per vocabulary ("ok", "FAIL", or "UNSUPPORTED" with the
 * loader's reason) and exits 1 on any mismatch. Not part of the build. */
#include "engine/gguf.h"
#include "engine/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  if (buf) buf[n] = '\0';
  *len = (size_t)n;
  return buf;
}

static int check(const char *gguf_path, int verbose) {
  const char *name = strrchr(gguf_path, '/') ? strrchr(gguf_path, '/') + 1 : gguf_path;
  char ip[4096], op[4096];
  snprintf(ip, sizeof ip, "%s.inp", gguf_path);
  snprintf(op, sizeof op, "%s.out", gguf_path);
  size_t il, ol;
  char *inp = slurp(ip, &il), *out = slurp(op, &ol);
  if (!inp || !out) {
    printf("SKIP %s: no .inp/.out vectors\n", name);
    free(inp);
    free(out);
    return 0;
  }
  eco_gguf *g = NULL;
  eco_tokenizer *t = NULL;
  eco_error err = {0};
  if (eco_gguf_open(gguf_path, &g, &err) || eco_tokenizer_from_gguf(g, &t, &err)) {
    printf("UNSUPPORTED %s: %s\n", name, eco_error_text(&err));
    eco_gguf_close(g);
    free(inp);
    free(out);
    return 2;
  }
  const char *sep = "\n__ggml_vocab_test__\n";
  char *p = inp, *line = out;
  int n_tests = 0, bad = 0;
  size_t cap = 1 << 16;
  int32_t *ids = malloc(cap * sizeof *ids);
  for (char *q; (q = strstr(p, sep)) != NULL; p = q + strlen(sep), n_tests++) {
    size_t tl = (size_t)(q - p), n = 0;
    char *eol = strchr(line, '\n');
    if (!eol) break;
    *eol = '\0';
    int rc = eco_tokenizer_encode(t, p, tl, false, false, ids, cap, &n);
    bool ok = rc == 0;
    size_t k = 0;
    for (char *s = line; ok && *s;) {
      char *end;
      long v = strtol(s, &end, 10);
      if (end == s) break;
      ok = k < n && ids[k] == v;
      k++;
      s = end;
    }
    ok = ok && k == n;
    if (!ok) {
      bad++;
      if (verbose || bad <= 3) {
        printf("  mismatch in %s, text %d '%.*s'\n    want %s\n    got ", name, n_tests,
               (int)(tl > 50 ? 50 : tl), p, line);
        for (size_t i = 0; i < n && i < 40; i++) printf(" %d", ids[i]);
        printf("\n");
      }
    }
    line = eol + 1;
  }
  printf("%s %s (pre %s): %d texts, %d mismatches\n", bad ? "FAIL" : "ok", name,
         eco_tokenizer_pre(t)[0] ? eco_tokenizer_pre(t) : "-", n_tests, bad);
  free(ids);
  eco_tokenizer_free(t);
  eco_gguf_close(g);
  free(inp);
  free(out);
  return bad ? 1 : 0;
}

int main(int argc, char **argv) {
  int verbose = getenv("VERBOSE") != NULL, worst = 0;
  for (int i = 1; i < argc; i++) {
    int r = check(argv[i], verbose);
    if (r == 1 || (r == 2 && worst == 0)) worst = r;
  }
  return worst == 1 ? 1 : 0;
}
