/* bench_tokenizer: encode/decode throughput of each tokenizer in the shared
 * folder, on English-like text of 100 kB and 400 kB.
 *
 *   bench_tokenizer [SHARED_DIR]      (default $ECO_SHARED_DIR or ../shared)
 *
 * Prints MB/s, the time ratio 400 kB / (4 x 100 kB) (1.0 = linear; the
 * merge queue makes it O(n log n)), and encode time relative to one UTF-8
 * decoding pass over the same bytes measured in the same run (a floor every
 * tokenizer pays). Best of 3 runs each. */
#include "engine/gguf.h"
#include "engine/tok_internal.h"
#include "engine/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char k_para[] =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
    "park. One day, she saw a big, red ball! \"Can I play?\" she asked. Her mom said, \"Yes, "
    "but be careful.\" In 2024, x = a*b + 3.14; it's 100% fine. Caf\xc3\xa9 na\xc3\xafve "
    "\xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80\n";

static char *make_text(size_t len) {
  char *s = malloc(len + 1);
  if (!s) return NULL;
  size_t pl = sizeof k_para - 1;
  for (size_t i = 0; i < len; i += pl)
    memcpy(s + i, k_para, len - i < pl ? len - i : pl);
  /* do not cut a UTF-8 character at the end */
  while (len && ((unsigned char)s[len - 1] & 0xC0) == 0x80)
    len--;
  if (len && (unsigned char)s[len - 1] >= 0xC0) len--;
  s[len] = '\0';
  return s;
}

static double time_encode(const eco_tokenizer *t, const char *s, size_t n, int32_t *ids, size_t cap,
                          size_t *n_ids) {
  double best = 1e9;
  for (int r = 0; r < 3; r++) {
    double t0 = now_s();
    if (eco_tokenizer_encode(t, s, n, false, false, ids, cap, n_ids) != 0) return -1;
    double dt = now_s() - t0;
    if (dt < best) best = dt;
  }
  return best;
}

static double time_utf8(const char *s, size_t n, uint32_t *cps) {
  double best = 1e9;
  volatile size_t sink = 0;
  for (int r = 0; r < 3; r++) {
    double t0 = now_s();
    sink += tok_utf8_decode(s, n, cps);
    double dt = now_s() - t0;
    if (dt < best) best = dt;
  }
  (void)sink;
  return best;
}

static void run(const char *name, eco_tokenizer *t) {
  size_t big = 400000, small = 100000;
  char *text = make_text(big);
  int32_t *ids = malloc(big * sizeof *ids);
  uint32_t *cps = malloc(big * sizeof *cps);
  char *out = malloc(4 * big);
  if (!text || !ids || !cps || !out) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
  size_t nb = strlen(text), ns = small, n_ids = 0, n_small = 0, dn = 0;
  while (ns && ((unsigned char)text[ns] & 0xC0) == 0x80)
    ns--; /* character boundary */
  double ts = time_encode(t, text, ns, ids, big, &n_small);
  double tb = time_encode(t, text, nb, ids, big, &n_ids);
  double tu = time_utf8(text, nb, cps);
  double td = 1e9;
  for (int r = 0; r < 3; r++) {
    double t0 = now_s();
    if (eco_tokenizer_decode(t, ids, n_ids, false, false, out, 4 * big, &dn) != 0) break;
    double dt = now_s() - t0;
    if (dt < td) td = dt;
  }
  printf("%-10s %8zu B %7zu ids  encode %7.2f MB/s  decode %7.1f MB/s  "
         "scaling 400k/(4x100k) %.2f  encode/utf8-pass %.0fx\n",
         name, nb, n_ids, (double)nb / tb / 1e6, (double)dn / td / 1e6,
         tb / (ts * (double)nb / (double)ns), tb / tu);
  free(text);
  free(ids);
  free(cps);
  free(out);
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : getenv("ECO_SHARED_DIR");
  if (!dir) dir = "../shared";
  static const struct {
    const char *name, *rel;
  } k_vocabs[] = {
      {"tok512", "models/stories260K-f32.gguf"},
      {"llama-spm", "models/ggml-vocab-llama-spm.gguf"},
      {"gpt2", "models/ggml-vocab-gpt-2.gguf"},
      {"smollm2", "models/test-smollm2-2layer-q8_0.gguf"},
  };
  int ran = 0;
  for (size_t i = 0; i < sizeof k_vocabs / sizeof k_vocabs[0]; i++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, k_vocabs[i].rel);
    eco_gguf *g = NULL;
    eco_tokenizer *t = NULL;
    eco_error err = {0};
    if (eco_gguf_open(path, &g, &err) != 0) {
      printf("%-10s skipped: %s\n", k_vocabs[i].name, eco_error_text(&err));
      continue;
    }
    int rc = eco_tokenizer_from_gguf(g, &t, &err);
    eco_gguf_close(g);
    if (rc != 0) {
      printf("%-10s failed: %s\n", k_vocabs[i].name, eco_error_text(&err));
      return 1;
    }
    run(k_vocabs[i].name, t);
    eco_tokenizer_free(t);
    ran++;
  }
  return ran ? 0 : 1;
}
