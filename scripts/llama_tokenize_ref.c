/* Generator of tests/fixtures/tokenizer-vectors/*.out: llama.cpp's own
 * llama_tokenize (add_special=false, parse_special=false) of each text of a
 * test-tokenizer-0 style .inp file, one line of ids per text. Links
 * llama.cpp's libllama (the tree scripts/build-llama-bench.sh builds); not
 * part of ecoinfer's build. Usage: llama_tokenize_ref VOCAB.gguf TEXTS.inp
 *   cc scripts/llama_tokenize_ref.c -I$L/include -I$L/ggml/include \
 *      -L$L/build/bin -lllama -Wl,-rpath,$L/build/bin -o llama_tokenize_ref */
#include "llama.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
  struct llama_model_params mp = llama_model_default_params();
  mp.vocab_only = true;
  struct llama_model *m = llama_model_load_from_file(argv[1], mp);
  if (!m) return 1;
  const struct llama_vocab *v = llama_model_get_vocab(m);
  FILE *f = fopen(argv[2], "rb"); static char buf[1 << 20]; size_t n = fread(buf, 1, sizeof buf - 1, f); buf[n] = 0;
  const char *sep = "\n__ggml_vocab_test__\n"; char *p = buf, *q;
  static llama_token ids[65536];
  while ((q = strstr(p, sep))) {
    int k = llama_tokenize(v, p, (int)(q - p), ids, 65536, false, false);
    for (int i = 0; i < k; i++) printf(" %d", ids[i]);
    printf("\n"); p = q + strlen(sep);
  }
  return 0;
}
