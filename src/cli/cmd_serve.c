/* ecoinfer serve: the OpenAI-compatible node server (issue 6).
 *
 * `-m MODEL.gguf` serves the model through the batching engine
 * (src/server/backend_engine.h: continuous batching, KV-budget admission);
 * `--fake-backend` serves the deterministic fake backend
 * (src/server/backend_fake.h) for demos and tests; `--replay DIR` and
 * `--replay-judge DIR` serve the Sprout artifact's recordings
 * (src/server/backend_replay.h) for `ecoinfer replay`. */
#include "cli/cli.h"
#include "engine/model.h"
#include "server/backend_engine.h"
#include "server/backend_fake.h"
#include "server/backend_replay.h"
#include "server/server.h"
#include "util/auth.h"
#include "util/fs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const eco_opt opts[] = {
    {"model", 'm', "FILE", "server.model", "GGUF model to serve"},
    {"host", 0, "HOST", "server.host", "public listen address (default 127.0.0.1)"},
    {"port", 'p', "PORT", "server.port", "public port (default 8080; 0 = any free port)"},
    {"admin-host", 0, "HOST", "server.admin_host", "admin listen address (default 127.0.0.1)"},
    {"admin-port", 0, "PORT", "server.admin_port",
     "admin port for /metrics and /admin/drain (default port+1; -1 = on the public port)"},
    {"api-key", 0, "KEY", "server.api_key", "require 'Authorization: Bearer KEY' on /v1/"},
    {"model-name", 0, "NAME", "server.model_name", "model id clients use (alias)"},
    {"kv-type", 0, "TYPE", "server.kv_type",
     "KV cache element type: f16 (default; half the memory per sequence) or f32"},
    {"prefix-block", 0, "N", "server.prefix_block",
     "tokens per prefix-cache block (default 16; 0 = no KV reuse across requests)"},
    {"drain-timeout", 0, "DUR", "server.drain_timeout", "SIGTERM drain timeout (default 30s)"},
    {"fake-backend", 0, NULL, "server.fake_backend", "serve the scripted fake backend (demo)"},
    {"fake-rate", 0, "TOK/S", "server.fake.tokens_per_s",
     "fake backend tokens/s per sequence (default 50; 0 = unthrottled)"},
    {"replay", 0, "DIR", "server.replay.data",
     "serve the recorded answers, energy and time of the Sprout artifact in DIR (replay backend)"},
    {"replay-judge", 0, NULL, "server.replay.judge",
     "with --replay: be the replay judge (answers pairwise judge prompts from the labels)"},
    {"replay-time-scale", 0, "X", "server.replay.time_scale",
     "replay: wall seconds per recorded second of service (default 0 = answer at once)"},
    {"ledger", 0, "FILE", "ledger.path",
     "SQLite receipt ledger (default $XDG_DATA_HOME/ecoinfer/receipts.db)"},
    {"no-ledger", 0, NULL, NULL, "do not write receipts to a ledger"},
    {"port-file", 0, "FILE", NULL, "write the bound public and admin ports to FILE"},
};

static const eco_cmd_spec spec = {
    .name = "serve",
    .usage = "[options]",
    .summary = "Run the OpenAI-compatible node server with carbon receipts and metrics.",
    .details =
        "Endpoints: POST /v1/chat/completions, POST /v1/completions (stream: true for SSE),\n"
        "GET /v1/models, /v1/node, /health, /ready; admin listener: GET /metrics,\n"
        "POST /admin/drain. SIGTERM drains in-flight requests, then exits.\n"
        "Config keys: server.max_body_bytes, server.max_header_bytes, server.max_tokens,\n"
        "server.max_messages, server.queue_full_status (429|503), server.retry_after,\n"
        "engine: server.threads, server.context_length, server.max_batch (4),\n"
        "server.max_queue (64), server.kv_budget_bytes (0 = half of available memory),\n"
        "server.kv_type (f16|f32), server.prefill_chunk (128), server.prefix_block\n"
        "(16; 0 = off); server.fake.* for --fake-backend; server.replay.* for --replay\n"
        "(docs/replay.md); energy.cpu_watts,\n"
        "carbon.* (provider chain, zone, pue), device:/devices: (embodied carbon),\n"
        "ledger.path (every receipt is appended), directive.* (levels, route caps, level,\n"
        "completion_level, enabled; see docs/directives.md). See docs/server.md,\n"
        "docs/accounting.md.",
    .opts = opts,
    .n_opts = sizeof opts / sizeof opts[0],
    .min_args = 0,
    .max_args = 0,
};

/* server.replay.*: the replay backend when server.replay.data is set.
 * 0 = not configured (*on false), or 0 with *be made, or an exit code. */
static int open_replay(eco_cli *cli, const char *alias, bool *on, eco_backend *be) {
  const eco_cfg *c = cli->cfg;
  eco_error err = {0};
  const char *dir;
  bool judge;
  eco_replay_cfg rc;
  eco_replay_cfg_default(&rc);
  *on = false;
  if (eco_cfg_str(c, NULL, "server.replay.data", "", &dir, &err) ||
      eco_cfg_bool(c, NULL, "server.replay.judge", false, &judge, &err) ||
      eco_cfg_double_range(c, NULL, "server.replay.time_scale", 0, 0, 1000, &rc.time_scale, &err)) {
    eco_cli_error(cli, "serve", "%s", eco_error_text(&err));
    return ECO_EXIT_USAGE;
  }
  if (!dir[0]) {
    if (!judge) return 0;
    eco_cli_error(cli, "serve", "--replay-judge needs the artifact: --replay DIR");
    return ECO_EXIT_USAGE;
  }
  rc.data_dir = dir;
  rc.judge = judge;
  if (alias[0]) rc.model_name = alias;
  if (eco_backend_replay_new(&rc, be, &err)) {
    eco_cli_error(cli, "serve", "%s", eco_error_text(&err));
    return ECO_EXIT_RUNTIME;
  }
  ECO_INFO(&cli->log, "serve", "replay backend%s: recordings of %s", judge ? " (judge)" : "", dir);
  *on = true;
  return 0;
}

/* The configuration of one serve run. sc points into keys and dir: never copied. */
typedef struct serve_args {
  eco_server_cfg sc;
  const char *model, *alias, *replay_dir, *kv_type;
  bool fake;
  double fake_rate;                         /* tokens/s per sequence */
  int64_t fake_batch, fake_queue, fake_ctx; /* sequences, requests, positions */
  int64_t threads, n_ctx, max_batch, max_queue, kv_budget, chunk, pblock;
  char keybuf[256];
  const char *keys[1];
  eco_srv_directive_cfg dir;
} serve_args;

/* server.*: listeners, limits and the fake backend's settings. */
static int read_http_cfg(eco_cli *cli, serve_args *a, eco_error *err) {
  const eco_cfg *c = cli->cfg;
  eco_server_cfg *sc = &a->sc;
  const char *status503;
  int64_t port, admin_port, body, hdr, maxtok, maxmsg, retry;
  double drain;
  if (eco_cfg_str(c, NULL, "server.model", "", &a->model, err) ||
      eco_cfg_str(c, NULL, "server.host", "127.0.0.1", &sc->host, err) ||
      eco_cfg_int(c, NULL, "server.port", 8080, &port, err) ||
      eco_cfg_str(c, NULL, "server.admin_host", "127.0.0.1", &sc->admin_host, err) ||
      eco_cfg_int(c, NULL, "server.admin_port", port == 0 ? 0 : port + 1, &admin_port, err) ||
      eco_cfg_str(c, NULL, "server.model_name", "", &a->alias, err) ||
      eco_cfg_duration(c, NULL, "server.drain_timeout", 30, &drain, err) ||
      eco_cfg_bool(c, NULL, "server.fake_backend", false, &a->fake, err) ||
      eco_cfg_double(c, NULL, "server.fake.tokens_per_s", 50, &a->fake_rate, err) ||
      eco_cfg_int(c, NULL, "server.fake.max_batch", 4, &a->fake_batch, err) ||
      eco_cfg_int(c, NULL, "server.fake.queue_cap", 16, &a->fake_queue, err) ||
      eco_cfg_int(c, NULL, "server.fake.context_length", 2048, &a->fake_ctx, err) ||
      eco_cfg_int(c, NULL, "server.max_body_bytes", 1 << 20, &body, err) ||
      eco_cfg_int(c, NULL, "server.max_header_bytes", 16 << 10, &hdr, err) ||
      eco_cfg_int(c, NULL, "server.max_tokens", 4096, &maxtok, err) ||
      eco_cfg_int(c, NULL, "server.max_messages", 256, &maxmsg, err) ||
      eco_cfg_int(c, NULL, "server.retry_after", 1, &retry, err) ||
      eco_cfg_str(c, NULL, "server.queue_full_status", "429", &status503, err)) {
    eco_cli_error(cli, "serve", "%s", eco_error_text(err));
    return ECO_EXIT_USAGE;
  }
  if (port < 0 || port > 65535 || admin_port > 65535 || body < 1024 || hdr < 1024 || maxtok < 1 ||
      maxmsg < 1 || retry < 0 || a->fake_batch < 1 || a->fake_queue < 0 || a->fake_ctx < 2 ||
      (strcmp(status503, "429") != 0 && strcmp(status503, "503") != 0)) {
    eco_cli_error(cli, "serve", "a server setting is out of range (see --help)");
    return ECO_EXIT_USAGE;
  }
  sc->port = (int)port;
  sc->admin_port = (int)admin_port;
  sc->max_body_bytes = (size_t)body;
  sc->max_header_bytes = (size_t)hdr;
  sc->limits.max_tokens_limit = (int)maxtok;
  sc->limits.max_messages = (size_t)maxmsg;
  if (sc->limits.default_max_tokens > maxtok) sc->limits.default_max_tokens = (int)maxtok;
  sc->retry_after_s = (int)retry;
  sc->busy_status_503 = strcmp(status503, "503") == 0;
  sc->drain_timeout_s = drain;
  sc->handle_signals = true;
  if (a->alias[0]) sc->model_alias = a->alias;
  return ECO_EXIT_OK;
}

/* server.*: the batching engine's settings, and which backend is asked for. */
static int read_engine_cfg(eco_cli *cli, serve_args *a, eco_error *err) {
  const eco_cfg *c = cli->cfg;
  if (eco_cfg_str(c, NULL, "server.kv_type", eco_kv_type_name(ECO_KV_TYPE_DEFAULT), &a->kv_type,
                  err)) {
    eco_cli_error(cli, "serve", "%s", eco_error_text(err));
    return ECO_EXIT_USAGE;
  }
  eco_ggml_type kv_t;
  if (eco_kv_type_parse(a->kv_type, &kv_t)) {
    eco_cli_error(cli, "serve", "server.kv_type must be f32 or f16, not '%s'", a->kv_type);
    return ECO_EXIT_USAGE;
  }
  if (eco_cfg_int(c, NULL, "server.threads", 0, &a->threads, err) ||
      eco_cfg_int(c, NULL, "server.context_length", 0, &a->n_ctx, err) ||
      eco_cfg_int(c, NULL, "server.max_batch", 4, &a->max_batch, err) ||
      eco_cfg_int(c, NULL, "server.max_queue", 64, &a->max_queue, err) ||
      eco_cfg_int(c, NULL, "server.kv_budget_bytes", 0, &a->kv_budget, err) ||
      eco_cfg_int(c, NULL, "server.prefill_chunk", 128, &a->chunk, err) ||
      eco_cfg_int(c, NULL, "server.prefix_block", 16, &a->pblock, err)) {
    eco_cli_error(cli, "serve", "%s", eco_error_text(err));
    return ECO_EXIT_USAGE;
  }
  if (a->threads < 0 || a->n_ctx < 0 || a->max_batch < 1 || a->max_batch > 256 ||
      a->max_queue < 1 || a->kv_budget < 0 || a->chunk < 1 || a->pblock < 0 || a->pblock > 4096) {
    eco_cli_error(cli, "serve", "an engine setting is out of range (see --help)");
    return ECO_EXIT_USAGE;
  }
  if (eco_cfg_str(c, NULL, "server.replay.data", "", &a->replay_dir, err)) {
    eco_cli_error(cli, "serve", "%s", eco_error_text(err));
    return ECO_EXIT_USAGE;
  }
  if (!a->fake && !a->model[0] && !a->replay_dir[0]) {
    eco_cli_error(cli, "serve", "give a model with -m MODEL.gguf (or --fake-backend for a demo)");
    return ECO_EXIT_USAGE;
  }
  return ECO_EXIT_OK;
}

/* server.api_key (or the file server.api_key_file instead of the YAML) and directive.*. */
static int read_keys_and_directives(eco_cli *cli, serve_args *a, eco_error *err) {
  const eco_cfg *c = cli->cfg;
  const char *key, *kfile = "";
  if (eco_cfg_str(c, NULL, "server.api_key", "", &key, err)) {
    eco_cli_error(cli, "serve", "%s", eco_error_text(err));
    return ECO_EXIT_USAGE;
  }
  if (eco_cfg_str(c, NULL, "server.api_key_file", "", &kfile, err) ||
      eco_secret_read(key, NULL, kfile, "server.api_key_file", a->keybuf, sizeof a->keybuf, err)) {
    fprintf(stderr, "ecoinfer serve: %s\n", eco_error_text(err));
    return 2;
  }
  a->keys[0] = a->keybuf;
  if (a->keybuf[0]) {
    a->sc.api_keys = a->keys;
    a->sc.n_api_keys = 1;
  }
  if (eco_srv_directive_cfg_load(c, &a->dir, err)) {
    eco_cli_error(cli, "serve", "%s", eco_error_text(err));
    return ECO_EXIT_USAGE;
  }
  if (a->dir.enabled) a->sc.directive = &a->dir;
  return ECO_EXIT_OK;
}

/* The backend: replay, fake or the real engine. 0 with *be made, or an exit code. */
static int open_backend(eco_cli *cli, const serve_args *a, eco_backend *be) {
  eco_error err = {0};
  bool replay = false;
  int rc = open_replay(cli, a->alias, &replay, be);
  if (rc || replay) return rc;
  if (a->fake) {
    eco_fake_cfg fc;
    eco_fake_cfg_default(&fc);
    fc.tokens_per_s = a->fake_rate;
    fc.max_batch = (int)a->fake_batch;
    fc.queue_cap = (int)a->fake_queue;
    fc.context_length = (int)a->fake_ctx;
    if (a->alias[0]) fc.model_name = a->alias;
    if (eco_backend_fake_new(&fc, be)) {
      eco_cli_error(cli, "serve", "cannot start the fake backend");
      return ECO_EXIT_RUNTIME;
    }
    return 0;
  }
  /* The real engine: the model served by the batching engine. */
  eco_backend_engine_cfg bc = {.model_path = a->model,
                               .model_name = a->alias[0] ? a->alias : NULL,
                               .threads = (int)a->threads,
                               .n_ctx = (uint32_t)a->n_ctx,
                               .max_batch = (uint32_t)a->max_batch,
                               .max_queue = (uint32_t)a->max_queue,
                               .kv_budget_bytes = (uint64_t)a->kv_budget,
                               .prefill_chunk = (uint32_t)a->chunk,
                               .kv_type = a->kv_type,
                               .prefix_block = (uint32_t)a->pblock,
                               .no_prefix_cache = a->pblock == 0,
                               .log = &cli->log};
  if (eco_backend_engine_new(&bc, be, &err)) {
    eco_cli_error(cli, "serve", "%s", eco_error_text(&err));
    return ECO_EXIT_RUNTIME;
  }
  return 0;
}

/* Every receipt goes to the ledger (default: one beside the models) through the meter. */
static int open_accounting(eco_cli *cli, const serve_args *a, eco_acct_state *st,
                           eco_accounting *acct) {
  const eco_cfg *c = cli->cfg;
  eco_error err = {0};
  const char *lp = NULL;
  if (eco_cfg_str(c, NULL, "ledger.path", NULL, &lp, &err)) {
    eco_cli_error(cli, "serve", "%s", eco_error_text(&err));
    return ECO_EXIT_USAGE;
  }
  eco_cli_ledger_default(cli, eco_cli_flag(cli, "no-ledger"));
  char node[64];
  snprintf(node, sizeof node, "%s:%d", a->sc.host, a->sc.port);
  if (eco_acct_open(c, node, st, acct, &err)) {
    eco_cli_error(cli, "serve", "%s", eco_error_text(&err));
    return ECO_EXIT_USAGE;
  }
  if (st->ledger && eco_cfg_str(c, NULL, "ledger.path", "", &lp, &err) == 0)
    ECO_INFO(&cli->log, "serve", "ledger: %s", lp);
  if (st->meter_note[0]) ECO_WARN(&cli->log, "serve", "%s", st->meter_note);
  if (st->meter)
    ECO_INFO(&cli->log, "serve", "energy: %s meter (%s)%s", st->meter->src.name,
             st->meter->src.detail, st->meter->src.estimated ? ", estimated" : "");
  return 0;
}

int eco_cmd_serve(eco_cli *cli, int argc, char **argv) {
  bool done;
  int rc = eco_cli_parse(cli, &spec, argc, argv, &done);
  if (done) return rc;
  eco_error err = {0};
  serve_args *a = calloc(1, sizeof *a);
  if (!a) {
    eco_cli_error(cli, "serve", "out of memory");
    return ECO_EXIT_RUNTIME;
  }
  eco_server_cfg_default(&a->sc);
  eco_acct_state st;
  eco_accounting acct;
  eco_backend be;
  eco_server *srv = NULL;
  bool acct_open = false, be_open = false;
  if ((rc = read_http_cfg(cli, a, &err)) || (rc = read_engine_cfg(cli, a, &err)) ||
      (rc = read_keys_and_directives(cli, a, &err)) || (rc = open_accounting(cli, a, &st, &acct)))
    goto out;
  acct_open = true;
  if ((rc = open_backend(cli, a, &be))) goto out;
  be_open = true;
  if (eco_server_new(&a->sc, &be, &acct, &cli->log, &srv, &err)) {
    eco_cli_error(cli, "serve", "%s", eco_error_text(&err));
    rc = ECO_EXIT_RUNTIME;
    goto out;
  }
  const char *pf = eco_cli_get(cli, "port-file");
  if (pf) { /* atomic, so a watcher never reads half a line */
    char line[64];
    int n =
        snprintf(line, sizeof line, "%d %d\n", eco_server_port(srv), eco_server_admin_port(srv));
    if (eco_fs_write_atomic(pf, line, (size_t)n, &err))
      ECO_WARN(&cli->log, "serve", "--port-file: %s", eco_error_text(&err));
  }
  rc = eco_server_run(srv) == 0 ? ECO_EXIT_OK : ECO_EXIT_RUNTIME;
out:
  eco_server_free(srv);
  if (be_open) be.vt->destroy(be.self);
  if (acct_open) eco_acct_close(&st);
  free(a);
  return rc;
}
