/* ecoinfer simulator: workload and zone inputs from files.
 *
 * Lengths from the Sprout artifact (the shared sprout folder): the artifact has
 * no token counts, only each request's measured serving time on an A100
 * (Llama-2-13B-chat, vLLM) at directive levels L0/L1/L2. We derive
 *   prompt tokens = ceil(characters of the prompt / 4)       (~4 chars/token)
 *   output tokens = round(time_s * decode_tok_s)             (per level)
 * with decode_tok_s the single-stream decode rate assumed for that setup
 * (a parameter; docs/simulator.md discusses the value). Directive levels
 * thereby keep each prompt's own measured L1/L2 shortening.
 *
 * Length CSV: header, then "prompt_tokens,output_tokens, optionally out_L1, out_L2, ...".
 * Arrival trace CSV: header, then "time_s[,prompt_tokens,output_tokens]".
 * Zones: the accounting module's CSV trace provider, read once into an
 * hourly array (eco_sim_zone_hourly). */
#ifndef ECO_SIM_WORKLOAD_H
#define ECO_SIM_WORKLOAD_H

#include "sim/cluster.h"

/* Appends the lengths of one Sprout dataset (e.g. "alpaca_5000") to
 * lens and n (realloc'd). */
int eco_sim_lens_load_sprout(const char *sprout_dir, const char *dataset, double decode_tok_s,
                             eco_sim_len **lens, size_t *n, eco_error *err);
/* Appends the rows of a length CSV. */
int eco_sim_lens_load_csv(const char *path, eco_sim_len **lens, size_t *n, eco_error *err);
/* Loads an arrival trace; *lens is NULL when the file has no length columns. */
int eco_sim_trace_load_csv(const char *path, double **times, eco_sim_len **lens, size_t *n,
                           eco_error *err);
/* Reads n_hours hourly values of zone from a trace file or directory (the
 * accounting module's provider; Electricity Maps or simple CSV) from
 * start_s (epoch s) on, wrapping around the covered span. *ci is malloc'd. */
int eco_sim_zone_hourly(const char *trace_path, const char *zone, double start_s, size_t n_hours,
                        double **ci, eco_error *err);

#endif
