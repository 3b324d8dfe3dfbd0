/* ecoinfer run: generate text with a local model, streaming it to stdout,
 * then one summary line (or a JSON object with --json). */
#include "cli/cli.h"
#include "engine/chat.h"
#include "engine/model.h"
#include "engine/sampler.h"
#include "engine/tokenizer.h"
#include "util/cpu.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const eco_opt opts[] = {
    {"model", 'm', "FILE", NULL, "GGUF model or llama2.c .bin checkpoint"},
    {"prompt", 'p', "TEXT", NULL, "prompt text (with --chat: the user message); default: stdin"},
    {"chat", 0, NULL, NULL, "format the prompt with the model's chat template"},
    {"system", 0, "TEXT", NULL, "system message for --chat"},
    {"n-predict", 'n', "N", NULL, "tokens to generate (default 128)"},
    {"threads", 't', "N", NULL, "threads (default: physical cores)"},
    {"ctx", 'c', "N", NULL, "context length (default: the model's, at most 4096)"},
    {"kv-type", 0, "TYPE", NULL,
     "KV cache element type: f16 (default, half the memory) or f32 (as llama.cpp's references)"},
    {"seed", 's', "S", NULL, "sampling seed (default 0)"},
    {"temp", 0, "T", NULL, "temperature; 0 = greedy (default 0.8)"},
    {"top-k", 0, "K", NULL, "top-k, 0 = off (default 40)"},
    {"top-p", 0, "P", NULL, "top-p, 1 = off (default 0.95)"},
    {"min-p", 0, "P", NULL, "min-p, 0 = off (default 0.05)"},
    {"repeat-penalty", 0, "F", NULL, "repetition penalty, 1 = off (default 1)"},
    {"repeat-last-n", 0, "N", NULL, "tokens the penalty looks back (default 64)"},
    {"stop", 0, "TEXT", NULL, "stop when this text is generated (repeatable)"},
    {"ignore-eos", 0, NULL, NULL, "do not stop at end-of-generation tokens"},
    {"tokenizer", 0, "FILE", NULL, "llama2.c tokenizer.bin for .bin models"},
};

static const eco_cmd_spec spec = {
    .name = "run",
    .usage = "-m MODEL [-p TEXT | --chat] [options]",
    .summary = "Generate text with a local GGUF (or llama2.c) model.",
    .details = "Streams the generated text, then prints one line: prompt tokens/s, generated\n"
               "tokens/s, wall time and peak memory (a JSON object with --json).",
    .opts = opts,
    .n_opts = sizeof opts / sizeof opts[0],
    .min_args = 0,
    .max_args = 0,
};

static int read_stdin(eco_strbuf *sb) {
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, stdin)) > 0)
    if (eco_sb_append(sb, buf, n)) return ECO_ENOMEM;
  return 0;
}

static int load_tokenizer(const eco_cli *cli, const char *model_path, const eco_model *m,
                          eco_tokenizer **tok, eco_error *err) {
  if (m->gguf) return eco_tokenizer_from_gguf(m->gguf, tok, err);
  const char *tp = eco_cli_get(cli, "tokenizer");
  char path[4096];
  if (!tp) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", model_path);
    if (eco_fs_join(path, sizeof path, dirname(tmp), "tokenizer.bin"))
      return eco_error_set(err, ECO_EINVAL, "path too long");
    if (!eco_fs_exists(path))
      return eco_error_set(err, ECO_EINVAL,
                           "a llama2.c model needs its tokenizer: pass --tokenizer FILE");
    tp = path;
  }
  return eco_tokenizer_from_llama2c(tp, (uint32_t)m->hp.n_vocab, tok, err);
}

typedef struct run_stats {
  int n_prompt, n_gen;
  double prompt_s, gen_s, wall_s;
  const char *stop_reason;
} run_stats;

static void emit(const char *s, size_t n) {
  if (n) {
    fwrite(s, 1, n, stdout);
    fflush(stdout);
  }
}

/* The parsed command line. */
typedef struct run_args {
  const char *model_path;
  int64_t n_predict, threads, ctx_len, last_n;
  eco_sampler_params sp;
  eco_ggml_type kv_type;
  const char *stops[16];
  size_t n_stops;
  bool ignore_eos;
} run_args;

/* Everything a run owns, freed by run_state_free. */
typedef struct run_state {
  eco_model *m;
  eco_tokenizer *tok;
  eco_chat_tmpl *tmpl;
  eco_prompt prompt; /* ids: [n_ids] */
  eco_ctx *ctx;
  eco_kv *kv;
  eco_sampler *smp;
  float *logits; /* [n_vocab] */
  eco_stop stop;
  eco_strbuf text;
  int n_ctx; /* positions */
} run_state;

static int parse_args(eco_cli *cli, run_args *a) {
  memset(a, 0, sizeof *a);
  a->model_path = eco_cli_get(cli, "model");
  if (!a->model_path) {
    eco_cli_error(cli, "run", "-m MODEL is required");
    return ECO_EXIT_USAGE;
  }
  eco_cpu_info ci;
  eco_cpu_detect(&ci);
  int64_t seed, top_k;
  double temp, top_p, min_p, rep;
  if (eco_cli_get_int(cli, "n-predict", 128, &a->n_predict) ||
      eco_cli_get_int(cli, "threads", ci.physical_cores > 0 ? ci.physical_cores : 1, &a->threads) ||
      eco_cli_get_int(cli, "ctx", 0, &a->ctx_len) || eco_cli_get_int(cli, "seed", 0, &seed) ||
      eco_cli_get_int(cli, "top-k", 40, &top_k) ||
      eco_cli_get_int(cli, "repeat-last-n", 64, &a->last_n) ||
      eco_cli_get_double(cli, "temp", 0.8, &temp) ||
      eco_cli_get_double(cli, "top-p", 0.95, &top_p) ||
      eco_cli_get_double(cli, "min-p", 0.05, &min_p) ||
      eco_cli_get_double(cli, "repeat-penalty", 1.0, &rep))
    return ECO_EXIT_USAGE;
  if (a->n_predict < 0 || a->threads < 1 || a->threads > 1024 || a->ctx_len < 0 || a->last_n < 0 ||
      rep <= 0) {
    eco_cli_error(cli, "run", "invalid numeric option");
    return ECO_EXIT_USAGE;
  }
  a->sp = (eco_sampler_params){.temperature = (float)temp,
                               .top_k = (int)top_k,
                               .top_p = (float)top_p,
                               .min_p = (float)min_p,
                               .repeat_penalty = (float)rep,
                               .repeat_last_n = (int)a->last_n,
                               .seed = (uint64_t)seed};
  a->kv_type = ECO_KV_TYPE_DEFAULT;
  const char *kvt = eco_cli_get(cli, "kv-type");
  if (kvt && eco_kv_type_parse(kvt, &a->kv_type)) {
    eco_cli_error(cli, "run", "--kv-type must be f32 or f16, not '%s'", kvt);
    return ECO_EXIT_USAGE;
  }
  for (size_t i = 0; i < cli->n_values && a->n_stops < 16; i++)
    if (strcmp(cli->opt_name[i], "stop") == 0) a->stops[a->n_stops++] = cli->opt_value[i];
  a->ignore_eos = eco_cli_flag(cli, "ignore-eos");
  return ECO_EXIT_OK;
}

static void run_state_free(run_state *rs) {
  eco_stop_free(&rs->stop);
  free(rs->logits);
  eco_chat_prompt_free(&rs->prompt);
  eco_chat_tmpl_free(rs->tmpl);
  eco_sb_free(&rs->text);
  eco_sampler_free(rs->smp);
  eco_kv_free(rs->kv);
  eco_ctx_free(rs->ctx);
  eco_tokenizer_free(rs->tok);
  eco_model_free(rs->m);
}

/* Tokenizes --prompt (or stdin), through the chat template with --chat: the one prompt
 * builder (engine/chat.h), as the node server uses it. */
static int build_prompt(eco_cli *cli, run_state *rs, eco_error *err) {
  const char *ptext = eco_cli_get(cli, "prompt");
  eco_strbuf in;
  eco_sb_init(&in);
  int rc = 0;
  if (!ptext) {
    if (read_stdin(&in)) {
      rc = eco_error_set(err, ECO_EIO, "cannot read the prompt from stdin");
      goto fail;
    }
    ptext = eco_sb_str(&in);
  }
  eco_chat_msg msgs[2];
  size_t nm = 0;
  eco_prompt_in pin = {.text = ptext, .lg = &cli->log};
  if (eco_cli_flag(cli, "chat")) {
    if ((rc = eco_chat_tmpl_load(rs->m->gguf, rs->tok, &cli->log, &rs->tmpl, err))) goto fail;
    const char *sys = eco_cli_get(cli, "system");
    if (sys) msgs[nm++] = (eco_chat_msg){.role = "system", .content = sys};
    msgs[nm++] = (eco_chat_msg){.role = "user", .content = ptext};
    pin.msgs = msgs;
    pin.n_msgs = nm;
    pin.tmpl = rs->tmpl;
  }
  rc = eco_chat_prompt(rs->tok, &pin, &rs->prompt, err);
fail:
  eco_sb_free(&in);
  return rc;
}

/* Loads the model and tokenizer, builds the prompt and allocates the context, KV cache,
 * sampler and stop matcher. */
static int run_setup(eco_cli *cli, const run_args *a, run_state *rs, eco_error *err) {
  int rc;
  if ((rc = eco_model_load(a->model_path, &rs->m, err)) ||
      (rc = load_tokenizer(cli, a->model_path, rs->m, &rs->tok, err)) ||
      (rc = build_prompt(cli, rs, err)))
    return rc;
  const eco_model *m = rs->m;
  const size_t n_ids = rs->prompt.n_ids;
  rs->n_ctx =
      (int)(a->ctx_len ? a->ctx_len : (m->hp.n_ctx_train < 4096 ? m->hp.n_ctx_train : 4096));
  if (rs->n_ctx <= 0) rs->n_ctx = 2048;
  if ((int64_t)n_ids + 1 > rs->n_ctx)
    return eco_error_set(err, ECO_ECONTEXT,
                         "context length exceeded: the prompt has %zu tokens, the context holds "
                         "%d",
                         n_ids, rs->n_ctx);
  if ((rc = eco_ctx_new(m, (int)a->threads, 64, &rs->ctx, err)) ||
      (rc = eco_kv_new_type(m, rs->n_ctx, a->kv_type, &rs->kv, err)) ||
      (rc = eco_sampler_new(&a->sp, m->hp.n_vocab, &rs->smp, err)))
    return rc;
  for (size_t i = 0; i < n_ids; i++)
    eco_sampler_accept(rs->smp, rs->prompt.ids[i]);
  if (eco_stop_init(&rs->stop, a->stops, a->n_stops))
    return eco_error_set(err, ECO_ENOMEM, "out of memory");
  rs->logits = malloc((size_t)m->hp.n_vocab * sizeof *rs->logits);
  if (!rs->logits) return eco_error_set(err, ECO_ENOMEM, "out of memory");
  return 0;
}

/* Prefills the prompt, then samples, streams and decodes up to n_predict tokens. */
static int generate(const run_args *a, run_state *rs, run_stats *st, eco_error *err) {
  const int n_vocab = rs->m->hp.n_vocab;
  st->n_prompt = (int)rs->prompt.n_ids;
  uint64_t tp0 = eco_time_mono_ns();
  int rc = eco_forward_seq(rs->ctx, rs->kv, rs->prompt.ids, (int)rs->prompt.n_ids, rs->logits, err);
  if (rc) return rc;
  st->prompt_s = (double)(eco_time_mono_ns() - tp0) / 1e9;
  eco_tok_stream ts;
  eco_tok_stream_init(&ts, rs->tok, false);
  const uint64_t tg0 = eco_time_mono_ns();
  for (int64_t i = 0; i < a->n_predict; i++) {
    if (!eco_logits_finite(rs->logits, (size_t)n_vocab))
      return eco_error_set(err, ECO_ENUMERIC,
                           "the model produced non-finite logits (NaN or infinity) after %lld "
                           "generated tokens: the model file has bad weights or hyperparameters",
                           (long long)i);
    int32_t t = eco_sampler_sample(rs->smp, rs->logits);
    if (!a->ignore_eos && eco_tokenizer_is_eog(rs->tok, t)) {
      st->stop_reason = "eos";
      break;
    }
    st->n_gen++;
    eco_sb_reset(&rs->text);
    if ((rc = eco_tok_stream_push(&ts, t, &rs->text))) return rc;
    const char *e;
    size_t el;
    bool hit = eco_stop_feed(&rs->stop, rs->text.data ? rs->text.data : "", rs->text.len, &e, &el);
    emit(e, el);
    if (hit) {
      st->stop_reason = "stop";
      break;
    }
    if (i + 1 == a->n_predict) break;
    if (rs->kv->n_past + 1 > rs->kv->n_ctx) {
      st->stop_reason = "context";
      break;
    }
    if ((rc = eco_forward_seq(rs->ctx, rs->kv, &t, 1, rs->logits, err))) return rc;
  }
  st->gen_s = (double)(eco_time_mono_ns() - tg0) / 1e9;
  if (!rs->stop.hit) {
    eco_sb_reset(&rs->text);
    eco_tok_stream_flush(&ts, &rs->text);
    const char *e;
    size_t el;
    (void)eco_stop_feed(&rs->stop, rs->text.data ? rs->text.data : "", rs->text.len, &e, &el);
    emit(e, el);
    eco_stop_flush(&rs->stop, &e, &el);
    emit(e, el);
  }
  return 0;
}

/* The summary line (or JSON object) after the generated text. */
static void print_summary(const eco_cli *cli, const run_args *a, const run_state *rs,
                          const run_stats *st) {
  const double peak_mb = (double)eco_mem_peak_rss() / (1024.0 * 1024.0);
  const double pps = st->prompt_s > 0 ? st->n_prompt / st->prompt_s : 0;
  const double gps = st->gen_s > 0 && st->n_gen > 0 ? st->n_gen / st->gen_s : 0;
  const char *simd = eco_simd_name(eco_ctx_simd(rs->ctx));
  const char *kv = eco_kv_type_name(a->kv_type);
  if (cli->json) {
    json_t *o = json_pack("{s:s, s:i, s:f, s:i, s:f, s:f, s:f, s:s, s:i, s:s, s:i, s:s}", "model",
                          a->model_path, "prompt_tokens", st->n_prompt, "prompt_tok_per_s", pps,
                          "gen_tokens", st->n_gen, "gen_tok_per_s", gps, "wall_s", st->wall_s,
                          "peak_rss_mb", peak_mb, "stop_reason", st->stop_reason, "threads",
                          (int)a->threads, "simd", simd, "n_ctx", rs->n_ctx, "kv_type", kv);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    printf("\n%s\n", s ? s : "{}");
    free(s);
    json_decref(o);
  } else {
    printf("\n[prompt %d tok, %.1f tok/s | gen %d tok, %.1f tok/s | wall %.2f s | peak RSS "
           "%.1f MB | %s, %d threads, KV %s, stop: %s]\n",
           st->n_prompt, pps, st->n_gen, gps, st->wall_s, peak_mb, simd, (int)a->threads, kv,
           st->stop_reason);
  }
}

int eco_cmd_run(eco_cli *cli, int argc, char **argv) {
  bool done;
  int rc = eco_cli_parse(cli, &spec, argc, argv, &done);
  if (done) return rc;
  run_args a;
  int exit_code = parse_args(cli, &a);
  if (exit_code != ECO_EXIT_OK) return exit_code;
  const uint64_t t0 = eco_time_mono_ns();
  eco_error err = {0};
  run_state rs = {0};
  eco_sb_init(&rs.text);
  run_stats st = {.stop_reason = "length"};
  if ((rc = run_setup(cli, &a, &rs, &err)) || (rc = generate(&a, &rs, &st, &err))) {
    eco_cli_error(cli, "run", "%s", eco_error_text(&err));
    exit_code = rc == ECO_EINVAL ? ECO_EXIT_USAGE : ECO_EXIT_RUNTIME;
  } else {
    st.wall_s = (double)(eco_time_mono_ns() - t0) / 1e9;
    print_summary(cli, &a, &rs, &st);
    exit_code = ECO_EXIT_OK;
  }
  run_state_free(&rs);
  return exit_code;
}
