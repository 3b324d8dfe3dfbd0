/* ecoinfer: the node server. An OpenAI-compatible HTTP API (libevent evhttp)
 * in front of an eco_backend, with carbon receipts, Prometheus metrics,
 * graceful drain and admin endpoints on their own listener.
 *
 * Threads: the server runs one libevent loop (eco_server_run, or a thread
 * of its own with eco_server_start). The backend delivers tokens on its own
 * thread; the callback copies the piece under a per-request mutex and wakes
 * the loop with event_active(), so the engine thread never blocks on I/O.
 *
 * Public listener:  POST /v1/chat/completions, POST /v1/completions,
 *                   GET /v1/models[/ID], GET /v1/node, GET /health, GET /ready
 * Admin listener:   GET /metrics, POST /admin/drain, GET /health, GET /ready
 * (admin_port < 0 serves the admin paths on the public listener instead).
 */
#ifndef ECO_SERVER_SERVER_H
#define ECO_SERVER_SERVER_H

#include "accounting/pricing.h"
#include "server/backend.h"
#include "server/openai.h"
#include "server/srv_directive.h"
#include "util/log.h"
#include "util/status.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct eco_server_cfg {
  const char *host;            /* public listener address, default 127.0.0.1 */
  int port;                    /* 0 = ephemeral (see eco_server_port) */
  const char *admin_host;      /* default 127.0.0.1 */
  int admin_port;              /* 0 = ephemeral, < 0 = admin paths on the public listener */
  size_t max_body_bytes;       /* request body limit, B (default 1 MiB) */
  size_t max_header_bytes;     /* request header limit, B (default 16 KiB) */
  int http_timeout_s;          /* idle read/write timeout per connection, s (default 120) */
  eco_oai_limits limits;       /* max_tokens, messages, stop strings, prompt bytes */
  const char *const *api_keys; /* Bearer keys accepted on /v1/ (NULL/0 = open) */
  size_t n_api_keys;
  const char *model_alias; /* extra model id accepted besides the backend's, or NULL */
  double drain_timeout_s;  /* SIGTERM: wait this long for in-flight requests, s (30) */
  int retry_after_s;       /* Retry-After on 429/503, s (default 1) */
  bool busy_status_503;    /* full queue answers 503 instead of 429 */
  bool handle_signals;     /* SIGTERM/SIGINT start a drain (eco_server_run) */
  /* generation directives (docs/directives.md); NULL = none applied. Must
   * outlive the server. */
  const eco_srv_directive_cfg *directive;
} eco_server_cfg;

typedef struct eco_server eco_server;

void eco_server_cfg_default(eco_server_cfg *cfg);

/* Binds the listeners. The backend and accounting must outlive the server;
 * accounting NULL = no receipts (energy 0, intensity 0). Ignores SIGPIPE
 * process-wide (writes to closed sockets must not kill the server). */
int eco_server_new(const eco_server_cfg *cfg, eco_backend *backend, const eco_accounting *acct,
                   const eco_logger *log, eco_server **out, eco_error *err);
int eco_server_port(const eco_server *s);
int eco_server_admin_port(const eco_server *s); /* -1 when combined */

/* Runs the event loop until a drain completes. 0 on a clean drain,
 * ECO_ETIMEOUT when requests had to be cancelled at the drain timeout. */
int eco_server_run(eco_server *s);
/* Runs the loop on a new thread (tests, embedding). */
int eco_server_start(eco_server *s);
/* Thread-safe: begins a graceful drain (as SIGTERM does). */
void eco_server_shutdown(eco_server *s);
/* Waits for the thread started by eco_server_start; returns eco_server_run's code. */
int eco_server_join(eco_server *s);
/* Frees the server (after run returned or join). */
void eco_server_free(eco_server *s);

#endif
