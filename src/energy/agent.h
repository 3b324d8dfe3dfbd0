/* ecoinfer agent: exposes a host's energy meters (src/energy/meter.h) over
 * HTTP, so that a router in front of a foreign backend (llama.cpp server,
 * vLLM, Ollama) on that host can attribute measured energy to the requests
 * it sends there.
 *
 *   GET /v1/meters  {"time_s": <monotonic s>, "meters": [{"device": "cpu",
 *                    "joules": J since start, "source": "rapl",
 *                    "detail": "package-0+dram", "estimated": false,
 *                    "polls": N}, ...], "total_j": sum}
 *   GET /health     {"status": "ok"}
 *
 * The meters are sampled on their own background threads; a request reads
 * the totals without blocking on hardware. */
#ifndef ECO_ENERGY_AGENT_H
#define ECO_ENERGY_AGENT_H

#include "energy/meter.h"
#include "util/status.h"

#include <stddef.h>

typedef struct eco_agent eco_agent;

/* One meter to expose; the agent does not own it. */
typedef struct eco_agent_meter {
  char device[32]; /* "cpu", "gpu0", ... */
  eco_meter *meter;
} eco_agent_meter;

/* Binds host:port (0 = ephemeral) and serves meters[0..n) (copied array,
 * meters not owned). Run with eco_agent_run; stop from any thread. */
int eco_agent_new(const char *host, int port, const eco_agent_meter *meters, size_t n,
                  eco_agent **out, eco_error *err);
int eco_agent_port(const eco_agent *a);
int eco_agent_run(eco_agent *a);
void eco_agent_stop(eco_agent *a);
void eco_agent_free(eco_agent *a);

#endif
