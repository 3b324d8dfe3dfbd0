/* ecoinfer agent: exposes every energy meter of a host (src/energy/meter_set.h)
 * over HTTP, so that a router in front of a foreign backend (llama.cpp
 * server, vLLM, Ollama) on that host can attribute measured energy to the
 * requests it sends there, from the meters that cover that backend.
 *
 *   GET /v1/meters  {"time_s": <monotonic s>, "total_j": <the host meter's J>,
 *                    "meters": [{"id": "rapl", "device": "cpu", "host": true,
 *                      "joules": J since start, "source": "rapl",
 *                      "detail": "package-0+dram", "estimated": false,
 *                      "covers": ["cpu", "ddr"], "polls": N, "errors": N}, ...]}
 *     Jetson: after the "ina3221" meter, one entry per rail:
 *       {"id": "jetson:VDD_GPU_SOC", "rail": "VDD_GPU_SOC", "part_of": "ina3221",
 *        "joules", "power_w", "covers": ["gpu", "soc"], ...}
 *     NVML: each GPU ("nvml:0") also carries "process_support" and
 *       "processes": [{"pid", "used_memory_bytes", "sm_util_pct",
 *        "joules" (device energy split by SM share: estimated),
 *        "accounting_gpu_util_pct", "accounting_active_s"}]
 *   GET /health     {"status": "ok"}
 *
 * The meters are sampled on their own background threads; a request reads
 * the totals without blocking on hardware. */
#ifndef ECO_ENERGY_AGENT_H
#define ECO_ENERGY_AGENT_H

#include "energy/meter_set.h"
#include "util/status.h"

#include <jansson.h>

#include <stddef.h>

typedef struct eco_agent eco_agent;

/* One meter to expose (the agent does not own it). An empty id is the
 * device name; without a host flag the first meter is the host's. */
typedef eco_meter_entry eco_agent_meter;

/* The /v1/meters document for meters[0..n) at time_s (new reference). */
json_t *eco_agent_meters_json(const eco_agent_meter *meters, size_t n, double time_s);

/* Binds host:port (0 = ephemeral) and serves meters[0..n) (copied array,
 * meters not owned). Run with eco_agent_run; stop from any thread. */
int eco_agent_new(const char *host, int port, const eco_agent_meter *meters, size_t n,
                  eco_agent **out, eco_error *err);
int eco_agent_port(const eco_agent *a);
int eco_agent_run(eco_agent *a);
void eco_agent_stop(eco_agent *a);
void eco_agent_free(eco_agent *a);

#endif
