/* ecoinfer router: which of an `ecoinfer agent`'s meters belong to a node
 * (the node's `meter:` key), and their energy. Pure: reads the agent's
 * GET /v1/meters document (src/energy/agent.h).
 *
 * A spec is a comma-separated list of terms, each selecting meters:
 *   host            the agent's host meter (its "host": true entry)
 *   nvml:0+1        GPUs 0 and 1; nvml:all every GPU
 *   jetson          the board meter (VDD_IN, or the sum of the rails)
 *   jetson:gpu+cpu  the Jetson rails that cover the GPU or the CPU, by their
 *                   "covers" (gpu, cpu, soc, cv, ddr, sys, board) or by name
 *                   (jetson:VDD_GPU_SOC+VDD_CPU_CV); a rail that covers both
 *                   counts once
 *   anything else   a meter id as the agent serves it (rapl, hwmon:amdgpu)
 * e.g. "nvml:0,host" is a GPU workstation's GPU plus its CPU package. */
#ifndef ECO_ROUTER_AGENT_PICK_H
#define ECO_ROUTER_AGENT_PICK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct eco_agent_pick {
  double joules;   /* sum of the selected meters since the agent started, J */
  char source[32]; /* their sources joined with '+': "nvml", "ina3221", "nvml+rapl" */
  char rails[96];  /* exactly what they cover: "VDD_GPU_SOC+VDD_CPU_CV", "nvml:0+rapl:package-0" */
  char ids[96];    /* the selected meter ids, comma-separated (the selection's identity) */
  bool estimated;  /* a selected meter is an estimate (the CPU model) */
  bool covers_gpu; /* a selected meter covers the GPU (or the whole board) */
} eco_agent_pick;

/* Syntax check of a spec (config time): 0, or ECO_EINVAL with why. */
int eco_agent_spec_check(const char *spec, char *why, size_t cap);
/* Selects spec's meters in doc into *out. 0, or ECO_ENOENT (a term selects
 * nothing), ECO_EINVAL (overlapping selection: the board meter and one of
 * its rails; bad document), with why. An agent document without ids (an
 * older agent) serves its first meter as the host. */
int eco_agent_pick_meters(const json_t *doc, const char *spec, eco_agent_pick *out, char *why,
                          size_t cap);

#endif
