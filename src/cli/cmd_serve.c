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
     "KV cache element type: f32 (default) or f16 (half the memory per sequence)"},
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
        "server.kv_type (f32|f16), server.prefill_chunk (128), server.prefix_block\n"
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

int eco_cmd_serve(eco_cli *cli, int argc, char **argv) {
  bool done;
  int rc = eco_cli_parse(cli, &spec, argc, argv, &done);
  if (done) return rc;
  eco_error err = {0};
  const eco_cfg *c = cli->cfg;
  eco_server_cfg sc;
  eco_server_cfg_default(&sc);
  const char *model, *alias, *key, *status503;
  int64_t port, admin_port, body, hdr, maxtok, maxmsg, retry, batch, qcap, ctx;
  double drain, rate;
  bool fake;
  if (eco_cfg_str(c, NULL, "server.model", "", &model, &err) ||
      eco_cfg_str(c, NULL, "server.host", "127.0.0.1", &sc.host, &err) ||
      eco_cfg_int(c, NULL, "server.port", 8080, &port, &err) ||
      eco_cfg_str(c, NULL, "server.admin_host", "127.0.0.1", &sc.admin_host, &err) ||
      eco_cfg_int(c, NULL, "server.admin_port", port == 0 ? 0 : port + 1, &admin_port, &err) ||
      eco_cfg_str(c, NULL, "server.api_key", "", &key, &err) ||
      eco_cfg_str(c, NULL, "server.model_name", "", &alias, &err) ||
      eco_cfg_duration(c, NULL, "server.drain_timeout", 30, &drain, &err) ||
      eco_cfg_bool(c, NULL, "server.fake_backend", false, &fake, &err) ||
      eco_cfg_double(c, NULL, "server.fake.tokens_per_s", 50, &rate, &err) ||
      eco_cfg_int(c, NULL, "server.fake.max_batch", 4, &batch, &err) ||
      eco_cfg_int(c, NULL, "server.fake.queue_cap", 16, &qcap, &err) ||
      eco_cfg_int(c, NULL, "server.fake.context_length", 2048, &ctx, &err) ||
      eco_cfg_int(c, NULL, "server.max_body_bytes", 1 << 20, &body, &err) ||
      eco_cfg_int(c, NULL, "server.max_header_bytes", 16 << 10, &hdr, &err) ||
      eco_cfg_int(c, NULL, "server.max_tokens", 4096, &maxtok, &err) ||
      eco_cfg_int(c, NULL, "server.max_messages", 256, &maxmsg, &err) ||
      eco_cfg_int(c, NULL, "server.retry_after", 1, &retry, &err) ||
      eco_cfg_str(c, NULL, "server.queue_full_status", "429", &status503, &err)) {
    eco_cli_error(cli, "serve", "%s", eco_error_text(&err));
    return ECO_EXIT_USAGE;
  }
  if (port < 0 || port > 65535 || admin_port > 65535 || body < 1024 || hdr < 1024 || maxtok < 1 ||
      maxmsg < 1 || retry < 0 || batch < 1 || qcap < 0 || ctx < 2 ||
      (strcmp(status503, "429") != 0 && strcmp(status503, "503") != 0)) {
    eco_cli_error(cli, "serve", "a server setting is out of range (see --help)");
    return ECO_EXIT_USAGE;
  }
  int64_t threads, n_ctx, e_batch, e_queue, kv_budget, chunk, pblock;
  const char *kv_type = "f32";
  if (eco_cfg_str(c, NULL, "server.kv_type", "f32", &kv_type, &err)) {
    eco_cli_error(cli, "serve", "%s", eco_error_text(&err));
    return ECO_EXIT_USAGE;
  }
  eco_ggml_type kv_t;
  if (eco_kv_type_parse(kv_type, &kv_t)) {
    eco_cli_error(cli, "serve", "server.kv_type must be f32 or f16, not '%s'", kv_type);
    return ECO_EXIT_USAGE;
  }
  if (eco_cfg_int(c, NULL, "server.threads", 0, &threads, &err) ||
      eco_cfg_int(c, NULL, "server.context_length", 0, &n_ctx, &err) ||
      eco_cfg_int(c, NULL, "server.max_batch", 4, &e_batch, &err) ||
      eco_cfg_int(c, NULL, "server.max_queue", 64, &e_queue, &err) ||
      eco_cfg_int(c, NULL, "server.kv_budget_bytes", 0, &kv_budget, &err) ||
      eco_cfg_int(c, NULL, "server.prefill_chunk", 128, &chunk, &err) ||
      eco_cfg_int(c, NULL, "server.prefix_block", 16, &pblock, &err)) {
    eco_cli_error(cli, "serve", "%s", eco_error_text(&err));
    return ECO_EXIT_USAGE;
  }
  if (threads < 0 || n_ctx < 0 || e_batch < 1 || e_batch > 256 || e_queue < 1 || kv_budget < 0 ||
      chunk < 1 || pblock < 0 || pblock > 4096) {
    eco_cli_error(cli, "serve", "an engine setting is out of range (see --help)");
    return ECO_EXIT_USAGE;
  }
  const char *replay_dir = "";
  if (eco_cfg_str(c, NULL, "server.replay.data", "", &replay_dir, &err)) {
    eco_cli_error(cli, "serve", "%s", eco_error_text(&err));
    return ECO_EXIT_USAGE;
  }
  if (!fake && !model[0] && !replay_dir[0]) {
    eco_cli_error(cli, "serve", "give a model with -m MODEL.gguf (or --fake-backend for a demo)");
    return ECO_EXIT_USAGE;
  }
  sc.port = (int)port;
  sc.admin_port = (int)admin_port;
  sc.max_body_bytes = (size_t)body;
  sc.max_header_bytes = (size_t)hdr;
  sc.limits.max_tokens_limit = (int)maxtok;
  sc.limits.max_messages = (size_t)maxmsg;
  if (sc.limits.default_max_tokens > maxtok) sc.limits.default_max_tokens = (int)maxtok;
  sc.retry_after_s = (int)retry;
  sc.busy_status_503 = strcmp(status503, "503") == 0;
  sc.drain_timeout_s = drain;
  sc.handle_signals = true;
  /* the key from the file server.api_key_file instead of the YAML */
  char keybuf[256];
  const char *kfile = "";
  if (eco_cfg_str(c, NULL, "server.api_key_file", "", &kfile, &err) ||
      eco_secret_read(key, NULL, kfile, "server.api_key_file", keybuf, sizeof keybuf, &err)) {
    fprintf(stderr, "ecoinfer serve: %s\n", eco_error_text(&err));
    return 2;
  }
  key = keybuf;
  const char *keys[1] = {key};
  if (key[0]) {
    sc.api_keys = keys;
    sc.n_api_keys = 1;
  }
  if (alias[0]) sc.model_alias = alias;
  eco_srv_directive_cfg dir;
  if (eco_srv_directive_cfg_load(c, &dir, &err)) {
    eco_cli_error(cli, "serve", "%s", eco_error_text(&err));
    return ECO_EXIT_USAGE;
  }
  if (dir.enabled) sc.directive = &dir;

  /* every receipt goes to the ledger: default to one beside the models */
  const char *lp = NULL;
  if (eco_cfg_str(c, NULL, "ledger.path", NULL, &lp, &err)) {
    eco_cli_error(cli, "serve", "%s", eco_error_text(&err));
    return ECO_EXIT_USAGE;
  }
  eco_cli_ledger_default(cli, eco_cli_flag(cli, "no-ledger"));
  eco_acct_state st;
  eco_accounting acct;
  char node[64];
  snprintf(node, sizeof node, "%s:%d", sc.host, sc.port);
  if (eco_acct_open(c, node, &st, &acct, &err)) {
    eco_cli_error(cli, "serve", "%s", eco_error_text(&err));
    return ECO_EXIT_USAGE;
  }
  if (st.ledger && eco_cfg_str(c, NULL, "ledger.path", "", &lp, &err) == 0)
    ECO_INFO(&cli->log, "serve", "ledger: %s", lp);
  if (st.meter_note[0]) ECO_WARN(&cli->log, "serve", "%s", st.meter_note);
  if (st.meter)
    ECO_INFO(&cli->log, "serve", "energy: %s meter (%s)%s", st.meter->src.name,
             st.meter->src.detail, st.meter->src.estimated ? ", estimated" : "");
  eco_backend be;
  bool replay = false;
  if ((rc = open_replay(cli, alias, &replay, &be))) {
    eco_acct_close(&st);
    return rc;
  }
  if (replay) {
    /* the replay backend is open */
  } else if (fake) {
    eco_fake_cfg fc;
    eco_fake_cfg_default(&fc);
    fc.tokens_per_s = rate;
    fc.max_batch = (int)batch;
    fc.queue_cap = (int)qcap;
    fc.context_length = (int)ctx;
    if (alias[0]) fc.model_name = alias;
    if (eco_backend_fake_new(&fc, &be)) {
      eco_cli_error(cli, "serve", "cannot start the fake backend");
      eco_acct_close(&st);
      return ECO_EXIT_RUNTIME;
    }
  } else {
    /* The real engine: the model served by the batching engine. */
    eco_backend_engine_cfg bc = {.model_path = model,
                                 .model_name = alias[0] ? alias : NULL,
                                 .threads = (int)threads,
                                 .n_ctx = (uint32_t)n_ctx,
                                 .max_batch = (uint32_t)e_batch,
                                 .max_queue = (uint32_t)e_queue,
                                 .kv_budget_bytes = (uint64_t)kv_budget,
                                 .prefill_chunk = (uint32_t)chunk,
                                 .kv_type = kv_type,
                                 .prefix_block = (uint32_t)pblock,
                                 .no_prefix_cache = pblock == 0,
                                 .log = &cli->log};
    if (eco_backend_engine_new(&bc, &be, &err)) {
      eco_cli_error(cli, "serve", "%s", eco_error_text(&err));
      eco_acct_close(&st);
      return ECO_EXIT_RUNTIME;
    }
  }
  eco_server *srv;
  if (eco_server_new(&sc, &be, &acct, &cli->log, &srv, &err)) {
    eco_cli_error(cli, "serve", "%s", eco_error_text(&err));
    be.vt->destroy(be.self);
    eco_acct_close(&st);
    return ECO_EXIT_RUNTIME;
  }
  const char *pf = eco_cli_get(cli, "port-file");
  if (pf) { /* atomic, so a watcher never reads half a line */
    char line[64];
    int n =
        snprintf(line, sizeof line, "%d %d\n", eco_server_port(srv), eco_server_admin_port(srv));
    if (eco_fs_write_atomic(pf, line, (size_t)n, &err))
      ECO_WARN(&cli->log, "serve", "--port-file: %s", eco_error_text(&err));
  }
  rc = eco_server_run(srv);
  eco_server_free(srv);
  be.vt->destroy(be.self);
  eco_acct_close(&st);
  return rc == 0 ? ECO_EXIT_OK : ECO_EXIT_RUNTIME;
}
