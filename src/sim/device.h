/* ecoinfer simulator: device profiles.
 *
 * A profile says how fast and how power-hungry one node is when it serves a
 * batch of b sequences of one model: aggregate prefill and decode token
 * rates and board power at a few measured batch sizes (linear
 * interpolation between them, clamped at the ends), plus idle power, memory
 * and embodied carbon. Profiles are YAML data files (data/devices/NAME.yaml)
 * that carry their provenance, or come from `ecoinfer bench` JSON results.
 *
 * Service-time model of one batch (static batching, as in the edge-cluster
 * study: the batch keeps b slots until its longest member finishes):
 *   prefill_s = sum(prompt tokens) / prefill_tok_s(b)
 *   step_s    = b / decode_tok_s(b)          (one token for every sequence)
 *   request i done at start + prefill_s + out_i * step_s
 *   batch done at   start + prefill_s + max(out) * step_s
 *   energy    = power_w(b) * (batch duration)
 * Memory: a static batch pads every sequence to the longest prompt and the
 * longest output, so weights + kv_bytes_per_token * b * (max prompt + max
 * output) must fit in usable memory, or the batch is cut short (FIFO); a
 * request that does not fit alone is refused. */
#ifndef ECO_SIM_DEVICE_H
#define ECO_SIM_DEVICE_H

#include "carbon/sci.h"
#include "util/status.h"

#include <stddef.h>

#define ECO_SIM_DEV_MAX_POINTS 32

typedef struct eco_sim_device {
  char name[64];
  size_t n_points;
  int batch[ECO_SIM_DEV_MAX_POINTS];            /* batch sizes, increasing */
  double prefill_tok_s[ECO_SIM_DEV_MAX_POINTS]; /* aggregate prompt tokens/s */
  double decode_tok_s[ECO_SIM_DEV_MAX_POINTS];  /* aggregate generated tokens/s, all seqs */
  double power_w[ECO_SIM_DEV_MAX_POINTS];       /* board power while serving, W */
  double idle_w;                                /* W while idle */
  double usable_mem_bytes;                      /* memory for weights + KV cache, bytes */
  double weights_bytes;                         /* model weights, bytes */
  double kv_bytes_per_token;                    /* KV cache per token, bytes */
  int max_batch;                                /* sequences per batch, hard limit */
  eco_embodied embodied;                        /* total gCO2e, lifetime s; share 1 */
} eco_sim_device;

/* Loads a profile YAML file (format: docs/simulator.md). */
int eco_sim_device_load(const char *path, eco_sim_device *dev, eco_error *err);
/* Parses YAML text (name used in messages). */
int eco_sim_device_load_string(const char *text, const char *name, eco_sim_device *dev,
                               eco_error *err);
/* Replaces the rate/power points with those of an `ecoinfer bench` JSON file:
 * {"results": [{"batch": B, "prefill_tok_s": X, "decode_tok_s": Y,
 *               "power_w": W}, ...]} (also accepts a top-level array, and
 * "batch_size", "prompt_tok_s", "gen_tok_s", "tokens_per_s", "avg_power_w"). */
int eco_sim_device_import_bench(const char *path, eco_sim_device *dev, eco_error *err);
/* Checks a profile (points increasing, positive rates); message in err. */
int eco_sim_device_validate(const eco_sim_device *dev, eco_error *err);

/* Interpolated rates at batch b (>= 1). */
void eco_sim_device_at(const eco_sim_device *dev, int b, double *prefill_tok_s,
                       double *decode_tok_s, double *power_w);
/* Bytes needed to hold a batch whose sequences total `tokens` tokens. */
double eco_sim_device_mem_need(const eco_sim_device *dev, double tokens);

#endif
