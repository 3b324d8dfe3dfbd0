/* ecoinfer: reading values from the Prometheus text exposition format
 * (version 0.0.4), as llama.cpp's server and vLLM serve at /metrics.
 * Pure: no I/O, bounded by the input; the input is untrusted. */
#ifndef ECO_UTIL_PROMTEXT_H
#define ECO_UTIL_PROMTEXT_H

#include <stddef.h>

/* The sum of every sample of metric `name` (all label sets) in text[0..len)
 * into *sum. Comments (#) and other metrics are skipped, as are samples
 * whose value is not a finite number. Returns the number of samples
 * summed (0: none; *sum is then 0). */
size_t eco_prom_sum(const char *text, size_t len, const char *name, double *sum);

#endif
