/* ecoinfer doctor -m FILE: will this model file run, and with what? The
 * architecture and shape, every tensor type and whether the kernels have it,
 * the tokenizer, the chat template (rendered with the Jinja interpreter, or
 * the fallback and why), and the memory the weights and the KV cache need.
 * The verdict is the engine's own: the model is loaded (without repacking)
 * and its error, if any, is shown. */
#include "cli/doctor_model.h"
#include "engine/chat.h"
#include "engine/gguf.h"
#include "engine/model.h"
#include "engine/quant.h"
#include "engine/tokenizer.h"
#include "util/strbuf.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_TYPES 40

typedef struct type_count {
  eco_ggml_type type;
  unsigned n;
  uint64_t bytes;
  const char *example; /* one tensor name (points into the mapping) */
  int example_len;
} type_count;

typedef struct report {
  char arch[64];
  type_count types[MAX_TYPES];
  size_t n_types;
  bool types_ok;
  uint64_t weight_bytes;
  char tok[256]; /* "gpt2, pre smollm, 49152 tokens" or the error */
  bool tok_ok;
  char tmpl_renderer[16]; /* "jinja", a family, or "none" */
  char tmpl_warning[400];
  char tmpl_sample[200]; /* the one-message chat as rendered (escaped) */
  bool tmpl_no_system;
  bool loaded;
  char load_error[512];
  eco_hparams hp;
  uint64_t kv_f32_per_token, kv_f16_per_token; /* bytes */
  int serve_ctx;                               /* the context serve uses by default */
} report;

static void count_types(const eco_gguf *g, report *r) {
  r->types_ok = true;
  for (uint64_t i = 0; i < g->n_tensors; i++) {
    const eco_gguf_tensor *t = &g->tensors[i];
    r->weight_bytes += t->n_bytes;
    size_t k = 0;
    while (k < r->n_types && r->types[k].type != t->type)
      k++;
    if (k == r->n_types) {
      if (r->n_types == MAX_TYPES) continue;
      r->types[r->n_types++] =
          (type_count){.type = t->type,
                       .example = t->name.ptr,
                       .example_len = (int)(t->name.len > 80 ? 80 : t->name.len)};
    }
    r->types[k].n++;
    r->types[k].bytes += t->n_bytes;
    if (!eco_quant_supported(t->type)) r->types_ok = false;
  }
}

/* Escapes control characters of a rendered prompt for one line. */
static void one_line(const char *s, char *out, size_t cap) {
  size_t k = 0;
  for (; *s && k + 5 < cap; s++) {
    if (*s == '\n') {
      out[k++] = '\\';
      out[k++] = 'n';
    } else if ((unsigned char)*s < 0x20) {
      k += (size_t)snprintf(out + k, cap - k, "\\x%02x", (unsigned char)*s);
    } else {
      out[k++] = *s;
    }
  }
  if (*s && k + 4 < cap) k += (size_t)snprintf(out + k, cap - k, "...");
  out[k] = '\0';
}

static void check_template(const eco_gguf *g, const eco_tokenizer *tok, report *r) {
  const eco_gguf_kv *kv = eco_gguf_find(g, "tokenizer.chat_template");
  char *text = kv && kv->type == ECO_GGUF_STRING ? strndup(kv->v.str.ptr, kv->v.str.len) : NULL;
  eco_chat_tmpl *t = NULL;
  eco_error err = {0};
  snprintf(r->tmpl_renderer, sizeof r->tmpl_renderer, "none");
  if (eco_chat_tmpl_new(text, &t, &err) == ECO_OK) {
    eco_logger quiet;
    eco_log_init(&quiet);
    quiet.level = ECO_LOG_OFF;
    char bos[64], eos[64];
    eco_chat_opts o;
    eco_chat_opts_vocab(tok, bos, eos, &quiet, &o);
    eco_chat_tmpl_check(t, &o);
    snprintf(r->tmpl_renderer, sizeof r->tmpl_renderer, "%s",
             text ? eco_chat_family_name(eco_chat_tmpl_family(t)) : "none");
    snprintf(r->tmpl_warning, sizeof r->tmpl_warning, "%s", eco_chat_tmpl_warning(t));
    r->tmpl_no_system = eco_chat_tmpl_no_system(t);
    eco_chat_msg hello = {"user", "Hello"};
    eco_strbuf sb;
    eco_sb_init(&sb);
    if (eco_chat_tmpl_apply(t, &hello, 1, true, &o, &sb, NULL, &err) == ECO_OK)
      one_line(eco_sb_str(&sb), r->tmpl_sample, sizeof r->tmpl_sample);
    eco_sb_free(&sb);
  }
  eco_chat_tmpl_free(t);
  free(text);
}

static void build(const char *path, const eco_gguf *g, report *r) {
  const eco_gguf_kv *a = eco_gguf_find(g, "general.architecture");
  snprintf(r->arch, sizeof r->arch, "%.*s", a && a->type == ECO_GGUF_STRING ? (int)a->v.str.len : 1,
           a && a->type == ECO_GGUF_STRING ? a->v.str.ptr : "?");
  count_types(g, r);
  eco_tokenizer *tok = NULL;
  eco_error err = {0};
  if (eco_tokenizer_from_gguf(g, &tok, &err) == ECO_OK) {
    r->tok_ok = true;
    const char *pre = eco_tokenizer_pre(tok);
    snprintf(r->tok, sizeof r->tok, "%s%s%s, %d tokens",
             eco_tokenizer_kind(tok) == ECO_TOK_SPM ? "llama (SentencePiece)"
                                                    : "gpt2 (byte-level BPE)",
             pre[0] ? ", pre " : "", pre, eco_tokenizer_n_vocab(tok));
    check_template(g, tok, r);
  } else {
    snprintf(r->tok, sizeof r->tok, "%s", eco_error_text(&err));
  }
  eco_tokenizer_free(tok);
  eco_model *m = NULL;
  eco_model_opts mo = {.no_repack = true};
  err = (eco_error){0};
  if (eco_model_load_opts(path, &mo, &m, &err) == ECO_OK) {
    r->loaded = true;
    r->hp = m->hp;
    r->kv_f32_per_token = eco_kv_bytes_type(m, 1, ECO_GGML_F32);
    r->kv_f16_per_token = eco_kv_bytes_type(m, 1, ECO_GGML_F16);
    r->serve_ctx = m->hp.n_ctx_train > 0 && m->hp.n_ctx_train < 8192 ? m->hp.n_ctx_train : 8192;
  } else {
    snprintf(r->load_error, sizeof r->load_error, "%s", eco_error_text(&err));
  }
  eco_model_free(m);
}

static double mib(uint64_t b) { return (double)b / (1 << 20); }

static void print_text(const char *path, const eco_gguf *g, const report *r) {
  eco_strbuf sb;
  eco_sb_init(&sb);
  struct stat st;
  double size = stat(path, &st) == 0 ? mib((uint64_t)st.st_size) : 0;
  eco_sb_printf(&sb, "%-16s %s (%.1f MiB, GGUF v%u)\n", "model", path, size, g->version);
  eco_sb_printf(&sb, "%-16s %s%s\n", "architecture", r->arch,
                r->loaded ? ": supported" : " (the model does not load: see the verdict)");
  if (r->loaded)
    eco_sb_printf(&sb,
                  "%-16s %d layers, width %d, %d heads / %d KV heads (head dim %d), FFN %d, "
                  "vocab %d, trained context %d\n",
                  "shape", r->hp.n_layer, r->hp.n_embd, r->hp.n_head, r->hp.n_head_kv,
                  r->hp.head_dim, r->hp.n_ff, r->hp.n_vocab, r->hp.n_ctx_train);
  for (size_t i = 0; i < r->n_types; i++) {
    const type_count *t = &r->types[i];
    bool ok = eco_quant_supported(t->type);
    eco_sb_printf(&sb, "%-16s %-8s x %4u  %9.1f MiB  %s", i ? "" : "tensor types",
                  eco_ggml_type_name(t->type), t->n, mib(t->bytes),
                  ok ? "supported" : "NOT SUPPORTED");
    if (!ok) eco_sb_printf(&sb, " (e.g. %.*s)", t->example_len, t->example);
    eco_sb_puts(&sb, "\n");
  }
  eco_sb_printf(&sb, "%-16s %s%s\n", "tokenizer", r->tok_ok ? "" : "CANNOT LOAD: ", r->tok);
  if (r->tok_ok) {
    bool jinja = !strcmp(r->tmpl_renderer, "jinja");
    if (!strcmp(r->tmpl_renderer, "none"))
      eco_sb_printf(&sb, "%-16s none in the file: chats use ChatML\n", "chat template");
    else if (jinja)
      eco_sb_printf(&sb, "%-16s renders with the Jinja interpreter%s\n", "chat template",
                    r->tmpl_no_system ? "; no system role (system text joins the first user "
                                        "message)"
                                      : "");
    else
      eco_sb_printf(&sb, "%-16s DOES NOT RENDER: falls back to the %s format\n", "chat template",
                    r->tmpl_renderer);
    if (r->tmpl_warning[0]) eco_sb_printf(&sb, "%-16s %s\n", "", r->tmpl_warning);
    if (r->tmpl_sample[0]) eco_sb_printf(&sb, "%-16s %s\n", "  one message", r->tmpl_sample);
  }
  if (r->loaded) {
    eco_sb_printf(&sb,
                  "%-16s weights %.1f MiB (mapped from the file) + KV cache %.1f KiB per token "
                  "(F16, the default; %.1f KiB with --kv-type f32)\n",
                  "memory", mib(r->weight_bytes), (double)r->kv_f16_per_token / 1024,
                  (double)r->kv_f32_per_token / 1024);
    eco_sb_printf(&sb,
                  "%-16s %.1f MiB for one %d-token sequence (serve's default context), "
                  "%.1f MiB with F32\n",
                  "", mib(r->weight_bytes + r->kv_f16_per_token * (uint64_t)r->serve_ctx),
                  r->serve_ctx,
                  mib(r->weight_bytes + r->kv_f32_per_token * (uint64_t)r->serve_ctx));
  }
  if (r->loaded && r->tok_ok)
    eco_sb_printf(&sb, "%-16s runs with ecoinfer (run, serve)\n", "verdict");
  else
    eco_sb_printf(&sb, "%-16s WILL NOT RUN: %s\n", "verdict", r->loaded ? r->tok : r->load_error);
  eco_cli_out(eco_sb_str(&sb));
  eco_sb_free(&sb);
}

static void print_json(const char *path, const eco_gguf *g, const report *r) {
  json_t *types = json_array();
  for (size_t i = 0; i < r->n_types; i++)
    json_array_append_new(
        types, json_pack("{s:s,s:i,s:I,s:b}", "type", eco_ggml_type_name(r->types[i].type),
                         "tensors", (int)r->types[i].n, "bytes", (json_int_t)r->types[i].bytes,
                         "supported", eco_quant_supported(r->types[i].type)));
  json_t *o = json_pack("{s:s,s:i,s:s,s:o,s:{s:b,s:s},s:{s:s,s:s,s:b,s:s},s:I,s:b,s:s}", "path",
                        path, "gguf_version", (int)g->version, "architecture", r->arch,
                        "tensor_types", types, "tokenizer", "ok", r->tok_ok, "detail", r->tok,
                        "chat_template", "renderer", r->tmpl_renderer, "warning", r->tmpl_warning,
                        "no_system_role", r->tmpl_no_system, "one_message", r->tmpl_sample,
                        "weight_bytes", (json_int_t)r->weight_bytes, "runs", r->loaded && r->tok_ok,
                        "error", r->loaded ? (r->tok_ok ? "" : r->tok) : r->load_error);
  if (o && r->loaded) {
    json_object_set_new(o, "kv_bytes_per_token",
                        json_pack("{s:I,s:I}", "f32", (json_int_t)r->kv_f32_per_token, "f16",
                                  (json_int_t)r->kv_f16_per_token));
    json_object_set_new(o, "serve_context", json_integer(r->serve_ctx));
    json_object_set_new(o, "shape",
                        json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i}", "n_layer", r->hp.n_layer,
                                  "n_embd", r->hp.n_embd, "n_head", r->hp.n_head, "n_head_kv",
                                  r->hp.n_head_kv, "head_dim", r->hp.head_dim, "n_ff", r->hp.n_ff,
                                  "n_vocab", r->hp.n_vocab, "n_ctx_train", r->hp.n_ctx_train));
  }
  eco_cli_out_json(o, JSON_INDENT(2) | JSON_ENSURE_ASCII);
}

int eco_doctor_model(eco_cli *cli, const char *path) {
  eco_gguf *g = NULL;
  eco_error err = {0};
  if (eco_gguf_open(path, &g, &err)) {
    eco_cli_error(cli, "doctor", "%s: %s (doctor -m reads GGUF files)", path, eco_error_text(&err));
    return ECO_EXIT_RUNTIME;
  }
  report *r = calloc(1, sizeof *r);
  if (!r) {
    eco_gguf_close(g);
    eco_cli_error(cli, "doctor", "out of memory");
    return ECO_EXIT_RUNTIME;
  }
  build(path, g, r);
  if (cli->json)
    print_json(path, g, r);
  else
    print_text(path, g, r);
  int rc = r->loaded && r->tok_ok ? ECO_EXIT_OK : ECO_EXIT_RUNTIME;
  free(r);
  eco_gguf_close(g);
  return rc;
}
