/* ecoinfer-llama-ref: writes llama.cpp's reference outputs for one GGUF
 * model as JSON, in the schema of ../shared/reference/README.md, so that
 * ecoinfer's tests can compare their forward pass, greedy tokens and
 * dequantization with llama.cpp's. Built against libllama by
 * scripts/build-llama-bench.sh; not part of ecoinfer's build.
 *
 * Usage:
 *   ecoinfer-llama-ref [options] MODEL.gguf > MODEL.gguf.json
 *     --n-gen N        greedy steps per prompt (default 32)
 *     --threads N      llama.cpp threads (default 1)
 *     --dequant        add "tensors": for every tensor, llama.cpp's own
 *                      dequantization (ggml type traits' to_float) as an
 *                      FNV-1a 64 hash of all float32 bits, plus the first
 *                      --dequant-values N values (default 64)
 *     --no-prompts     only the tensors (with --dequant)
 *     --model-sha256 H the file's sha256, copied into "model_sha256"
 *
 * Settings, as the shared references: CPU only, n_ctx 512, n_batch =
 * n_ubatch = 512, F32 K and V caches, flash attention off, a fresh context
 * per prompt, the whole prompt decoded as one batch (logits for the last
 * position only), then one token per llama_decode; greedy = argmax (ties:
 * lowest id), no EOS stop.
 *
 * Prompts: bos_only, short_text, long_text_100 (truncated to 100 ids),
 * synthetic_ids (LCG ids in [n_vocab/4, n_vocab)), mixed_text, chatml_text
 * (parse_special). Texts are this program's own. */
#include "ggml.h"
#include "gguf.h"
#include "llama.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_CTX 512

#ifndef LLAMA_REF_COMMIT
#define LLAMA_REF_COMMIT "unknown" /* the build script passes the source's git commit */
#endif

typedef struct prompt_def {
  const char *name;
  const char *text; /* NULL: ids made by the program */
  bool parse_special;
  int max_ids; /* truncate (0 = no) */
} prompt_def;

static const prompt_def prompts[] = {
    {"bos_only", NULL, false, 0},
    {"short_text", "The little robot found a red kite in the garden, and", false, 0},
    {"long_text_100",
     "Mia had a small boat made of wood. Every morning she carried it down to the pond behind "
     "her house and let it sail across the water. One day the wind was strong, and the boat "
     "went far away from the shore. Mia was worried, so she asked her brother Sam for help. "
     "Sam found a long stick and together they waited by the reeds. When the wind calmed, the "
     "boat drifted back, and Mia laughed and hugged her brother. After that day they always "
     "sailed the boat together, and they made a flag for it from an old blue scarf.",
     false, 100},
    {"synthetic_ids", NULL, false, 0},
    {"mixed_text", "In 2025, y = 3*x + 7.5; while (y < 100) { y *= 2; } // it's 42% done!", false,
     0},
    {"chatml_text",
     "<|im_start|>system\nYou answer in one short sentence.<|im_end|>\n<|im_start|>user\nWhat "
     "colour is the sky on a clear day?<|im_end|>\n<|im_start|>assistant\n",
     true, 0},
};

/* --- JSON output ------------------------------------------------------------ */
/* Length of a valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  const unsigned c = s[0];
  size_t len;
  uint32_t cp;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF)
    len = 2, cp = c & 0x1F;
  else if (c >= 0xE0 && c <= 0xEF)
    len = 3, cp = c & 0x0F;
  else if (c >= 0xF0 && c <= 0xF4)
    len = 4, cp = c & 0x07;
  else
    return 0;
  if (len > n) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
}

/* A JSON string; invalid UTF-8 becomes U+FFFD. */
static void put_str(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  putchar('"');
  for (size_t i = 0; i < n;) {
    const unsigned c = p[i];
    if (c == '"' || c == '\\') {
      printf("\\%c", c);
      i++;
    } else if (c == '\n') {
      fputs("\\n", stdout);
      i++;
    } else if (c == '\t') {
      fputs("\\t", stdout);
      i++;
    } else if (c == '\r') {
      fputs("\\r", stdout);
      i++;
    } else if (c < 0x20 || c == 0x7F) {
      printf("\\u%04x", c);
      i++;
    } else {
      const size_t l = utf8_len(p + i, n - i);
      if (l == 0) {
        fputs("\xEF\xBF\xBD", stdout);
        i++;
      } else {
        fwrite(p + i, 1, l, stdout);
        i += l;
      }
    }
  }
  putchar('"');
}

static void put_cstr(const char *s) {
  if (s)
    put_str(s, strlen(s));
  else
    fputs("null", stdout);
}

static void put_hex(const char *s, size_t n) {
  putchar('"');
  for (size_t i = 0; i < n; i++)
    printf("%02x", (unsigned char)s[i]);
  putchar('"');
}

static void put_ids(const llama_token *ids, int n) {
  putchar('[');
  for (int i = 0; i < n; i++)
    printf("%s%d", i ? "," : "", ids[i]);
  putchar(']');
}

/* --- llama.cpp helpers ---------------------------------------------------------- */
static void quiet_log(enum ggml_log_level level, const char *text, void *user) {
  (void)user;
  if (level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

/* Detokenized text of ids (malloc'd, *len bytes). */
static char *detok(const struct llama_vocab *v, const llama_token *ids, int n, int *len) {
  int cap = 64 + 16 * n;
  char *buf = malloc((size_t)cap);
  int r = llama_detokenize(v, ids, n, buf, cap, false, true);
  if (r < 0) {
    cap = -r + 1;
    buf = realloc(buf, (size_t)cap);
    r = llama_detokenize(v, ids, n, buf, cap, false, true);
  }
  *len = r < 0 ? 0 : r;
  return buf;
}

/* Prompt ids of p (malloc'd). */
static llama_token *prompt_ids(const struct llama_vocab *v, const prompt_def *p, int *n) {
  const int nv = llama_vocab_n_tokens(v);
  llama_token *ids = malloc(sizeof *ids * 4096);
  *n = 0;
  if (strcmp(p->name, "bos_only") == 0) {
    ids[(*n)++] = llama_vocab_bos(v);
  } else if (strcmp(p->name, "synthetic_ids") == 0) {
    if (llama_vocab_get_add_bos(v)) ids[(*n)++] = llama_vocab_bos(v);
    uint32_t x = 12345;
    for (int i = 0; i < 16; i++) {
      x = x * 1103515245u + 12345u;
      ids[(*n)++] = nv / 4 + (llama_token)((x >> 8) % (uint32_t)(nv - nv / 4));
    }
  } else {
    *n = llama_tokenize(v, p->text, (int32_t)strlen(p->text), ids, 4096, true, p->parse_special);
    if (*n < 0) *n = 0;
    if (p->max_ids && *n > p->max_ids) *n = p->max_ids;
  }
  return ids;
}

typedef struct top_entry {
  llama_token id;
  float logit;
} top_entry;

/* The 10 largest logits, descending, ties: lower id first. */
static void top10(const float *lg, int nv, top_entry *t) {
  int k = 0;
  for (int i = 0; i < nv; i++) {
    if (k == 10 && lg[i] <= t[9].logit) continue;
    int j = k < 10 ? k++ : 9;
    while (j > 0 && t[j - 1].logit < lg[i]) {
      t[j] = t[j - 1];
      j--;
    }
    t[j].id = i;
    t[j].logit = lg[i];
  }
}

static int run_prompt(struct llama_model *model, int threads, const prompt_def *p, int n_gen,
                      bool first) {
  const struct llama_vocab *v = llama_model_get_vocab(model);
  const int nv = llama_vocab_n_tokens(v);
  struct llama_context_params cp = llama_context_default_params();
  cp.n_ctx = N_CTX;
  cp.n_batch = cp.n_ubatch = N_CTX;
  cp.n_seq_max = 1;
  cp.n_threads = cp.n_threads_batch = threads;
  cp.type_k = cp.type_v = GGML_TYPE_F32;
  cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
  cp.no_perf = true;
  struct llama_context *ctx = llama_init_from_model(model, cp);
  if (!ctx) {
    fprintf(stderr, "llama-ref: cannot create a context\n");
    return 1;
  }
  int np;
  llama_token *ids = prompt_ids(v, p, &np);
  if (np == 0 || np + n_gen > N_CTX) {
    fprintf(stderr, "llama-ref: prompt %s: %d ids\n", p->name, np);
    free(ids);
    llama_free(ctx);
    return 1;
  }
  printf("%s    {\"name\": ", first ? "" : ",\n");
  put_cstr(p->name);
  fputs(", \"source_text\": ", stdout);
  put_cstr(p->text);
  if (p->text)
    printf(", \"tokenize_add_special\": true, \"tokenize_parse_special\": %s",
           p->parse_special ? "true" : "false");
  printf(", \"n_prompt\": %d,\n     \"prompt_ids\": ", np);
  put_ids(ids, np);
  int dl;
  char *d = detok(v, ids, np, &dl);
  fputs(",\n     \"prompt_detok\": ", stdout);
  put_str(d, (size_t)dl);
  fputs(", \"prompt_detok_hex\": ", stdout);
  put_hex(d, (size_t)dl);
  free(d);
  llama_token *gen = malloc(sizeof *gen * (size_t)n_gen);
  int rc = llama_decode(ctx, llama_batch_get_one(ids, np));
  for (int s = 0; s < n_gen && rc == 0; s++) {
    const float *lg = llama_get_logits_ith(ctx, -1);
    if (s == 0) {
      fputs(",\n     \"last_logits\": [", stdout);
      for (int i = 0; i < nv; i++)
        printf("%s%.9g", i ? "," : "", (double)lg[i]);
      fputs("],\n     \"steps\": [", stdout);
    }
    top_entry t[10] = {{0, 0}};
    top10(lg, nv, t);
    gen[s] = t[0].id;
    printf("%s\n       {\"pos\": %d, \"token\": %d, \"top10\": [", s ? "," : "", np + s, t[0].id);
    for (int k = 0; k < 10 && k < nv; k++)
      printf("%s[%d,%.9g]", k ? "," : "", t[k].id, (double)t[k].logit);
    fputs("]}", stdout);
    if (s + 1 < n_gen) rc = llama_decode(ctx, llama_batch_get_one(&gen[s], 1));
  }
  if (rc != 0) {
    fprintf(stderr, "llama-ref: llama_decode failed (%d) on prompt %s\n", rc, p->name);
  } else {
    fputs("],\n     \"generated_ids\": ", stdout);
    put_ids(gen, n_gen);
    d = detok(v, gen, n_gen, &dl);
    fputs(",\n     \"generated_detok\": ", stdout);
    put_str(d, (size_t)dl);
    fputs(", \"generated_detok_hex\": ", stdout);
    put_hex(d, (size_t)dl);
    free(d);
    fputs("}", stdout);
  }
  free(gen);
  free(ids);
  llama_free(ctx);
  return rc != 0;
}

/* --- dequantization through ggml's type traits --------------------------------------- */
static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

static int dump_tensors(const char *path, int n_values) {
  struct ggml_context *gctx = NULL;
  struct gguf_init_params gp = {.no_alloc = false, .ctx = &gctx};
  struct gguf_context *g = gguf_init_from_file(path, gp);
  if (!g) {
    fprintf(stderr, "llama-ref: cannot read %s\n", path);
    return 1;
  }
  fputs("  \"tensors\": [", stdout);
  int i = 0;
  for (struct ggml_tensor *t = ggml_get_first_tensor(gctx); t; t = ggml_get_next_tensor(gctx, t)) {
    /* gguf adds one I8 tensor holding the whole data section: not a model tensor */
    if (gguf_find_tensor(g, t->name) < 0) continue;
    const int64_t n = ggml_nelements(t);
    const struct ggml_type_traits *tr = ggml_get_type_traits(t->type);
    if (t->type != GGML_TYPE_F32 && !tr->to_float) {
      fprintf(stderr, "llama-ref: %s: no to_float for %s\n", t->name, ggml_type_name(t->type));
      continue;
    }
    float *f = malloc(sizeof *f * (size_t)n);
    if (t->type == GGML_TYPE_F32)
      memcpy(f, t->data, sizeof *f * (size_t)n);
    else
      tr->to_float(t->data, f, n);
    const uint64_t h = fnv1a(0xcbf29ce484222325ULL, f, sizeof *f * (size_t)n);
    printf("%s\n    {\"name\": ", i++ ? "," : "");
    put_cstr(t->name);
    printf(", \"type\": \"%s\", \"ggml_type\": %d, \"ne\": [%" PRId64 ", %" PRId64 ", %" PRId64
           ", %" PRId64 "], \"f32_fnv1a64\": \"%016" PRIx64 "\", \"first_values\": [",
           ggml_type_name(t->type), (int)t->type, t->ne[0], t->ne[1], t->ne[2], t->ne[3], h);
    for (int64_t k = 0; k < n && k < n_values; k++)
      printf("%s%.9g", k ? "," : "", (double)f[k]);
    fputs("]}", stdout);
    free(f);
  }
  fputs("\n  ]", stdout);
  gguf_free(g);
  ggml_free(gctx);
  return 0;
}

/* --- main ------------------------------------------------------------------------------ */
static const char *base_name(const char *p) {
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}

static void usage(void) {
  fputs("usage: ecoinfer-llama-ref [--n-gen N] [--threads N] [--dequant] [--dequant-values N]\n"
        "                          [--no-prompts] [--model-sha256 HEX] MODEL.gguf > "
        "MODEL.gguf.json\n",
        stderr);
}

int main(int argc, char **argv) {
  int n_gen = 32, threads = 1, n_values = 64;
  bool dequant = false, run_prompts = true;
  const char *path = NULL, *sha256 = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--n-gen") == 0 && i + 1 < argc)
      n_gen = atoi(argv[++i]);
    else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
      threads = atoi(argv[++i]);
    else if (strcmp(argv[i], "--dequant-values") == 0 && i + 1 < argc)
      n_values = atoi(argv[++i]);
    else if (strcmp(argv[i], "--model-sha256") == 0 && i + 1 < argc)
      sha256 = argv[++i];
    else if (strcmp(argv[i], "--dequant") == 0)
      dequant = true;
    else if (strcmp(argv[i], "--no-prompts") == 0)
      run_prompts = false;
    else if (argv[i][0] != '-' && !path)
      path = argv[i];
    else {
      usage();
      return 2;
    }
  }
  if (!path || n_gen < 1 || n_gen > 256 || threads < 1 || n_values < 0) {
    usage();
    return 2;
  }
  llama_log_set(quiet_log, NULL);
  llama_backend_init();
  struct llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = 0;
  struct llama_model *model = llama_model_load_from_file(path, mp);
  if (!model) {
    fprintf(stderr, "llama-ref: llama.cpp cannot load %s\n", path);
    return 1;
  }
  const struct llama_vocab *v = llama_model_get_vocab(model);
  char desc[256];
  llama_model_desc(model, desc, sizeof desc);
  printf("{\n  \"model_file\": ");
  put_cstr(base_name(path));
  if (sha256) {
    fputs(",\n  \"model_sha256\": ", stdout);
    put_cstr(sha256);
  }
  fputs(",\n  \"model_desc\": ", stdout);
  put_cstr(desc);
  fputs(",\n  \"generator\": {\"engine\": \"llama.cpp\", \"commit\": ", stdout);
  put_cstr(LLAMA_REF_COMMIT);
  fputs(", \"api\": \"libllama (ecoinfer scripts/llama_ref.c)\", \"system_info\": ", stdout);
  put_cstr(llama_print_system_info());
  printf("},\n  \"settings\": {\"backend\": \"CPU\", \"n_gpu_layers\": 0, \"n_ctx\": %d, "
         "\"n_batch\": %d, \"n_ubatch\": %d, \"n_threads\": %d, \"n_threads_batch\": %d, "
         "\"kv_cache_type_k\": \"f32\", \"kv_cache_type_v\": \"f32\", \"flash_attn\": false, "
         "\"sampling\": \"greedy argmax, ties to the lowest id, no EOS stop\", "
         "\"fresh_context_per_prompt\": true, \"prompt_evaluated_as_one_batch\": true},\n",
         N_CTX, N_CTX, N_CTX, threads, threads);
  printf("  \"vocab\": {\"n_vocab\": %d, \"vocab_type\": %d, \"bos_id\": %d, \"eos_id\": %d, "
         "\"add_bos\": %s, \"add_eos\": %s},\n",
         llama_vocab_n_tokens(v), (int)llama_vocab_type(v), llama_vocab_bos(v), llama_vocab_eos(v),
         llama_vocab_get_add_bos(v) ? "true" : "false",
         llama_vocab_get_add_eos(v) ? "true" : "false");
  printf("  \"n_gen\": %d,\n  \"prompts\": [\n", n_gen);
  int rc = 0;
  if (run_prompts)
    for (size_t i = 0; i < sizeof prompts / sizeof prompts[0] && rc == 0; i++)
      rc = run_prompt(model, threads, &prompts[i], n_gen, i == 0);
  fputs("\n  ],\n  \"chat_template\": ", stdout);
  const char *tmpl = llama_model_chat_template(model, NULL);
  put_cstr(tmpl);
  if (tmpl) {
    const llama_chat_message msgs[] = {{"system", "You answer in one short sentence."},
                                       {"user", "What colour is the sky on a clear day?"}};
    char buf[4096];
    int n = llama_chat_apply_template(tmpl, msgs, 2, true, buf, sizeof buf);
    fputs(",\n  \"chat_apply_template_llamacpp\": ", stdout);
    if (n >= 0 && n < (int)sizeof buf)
      put_str(buf, (size_t)n);
    else
      fputs("null", stdout);
    const char *chatml = prompts[5].text;
    printf(",\n  \"chat_apply_template_equals_chatml_text\": %s",
           n >= 0 && (size_t)n == strlen(chatml) && memcmp(buf, chatml, (size_t)n) == 0 ? "true"
                                                                                        : "false");
  }
  if (dequant && rc == 0) {
    fputs(",\n", stdout);
    rc = dump_tensors(path, n_values);
  }
  fputs("\n}\n", stdout);
  llama_model_free(model);
  llama_backend_free();
  return rc;
}
