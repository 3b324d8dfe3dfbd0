/* ecoinfer: clocks. Decision logic never reads a clock itself: callers pass
 * times in, so tests can drive it. These are for the I/O edges. */
#ifndef ECO_UTIL_TIMEUTIL_H
#define ECO_UTIL_TIMEUTIL_H

#include <stdint.h>
#include <time.h>

/* Monotonic time in ns (CLOCK_MONOTONIC). */
uint64_t eco_time_mono_ns(void);
/* Wall-clock time in seconds since the Unix epoch (CLOCK_REALTIME). */
double eco_time_wall_s(void);
/* CPU time used by this process in seconds (user + system). */
double eco_time_process_cpu_s(void);
/* CPU time used by the calling thread in seconds. */
double eco_time_thread_cpu_s(void);
/* Formats an epoch time as ISO-8601 UTC "2026-11-21T10:00:00Z". */
void eco_time_iso8601(double epoch_s, char *buf, size_t cap);
/* Parses ISO-8601 UTC ("2023-01-01T00:00:00Z", "2023-01-01 00:00:00",
 * "2023-01-01T00:00:00.000Z", "2023-01-01T00:00+00:00"); 0 or ECO_EINVAL. */
int eco_time_parse_iso8601(const char *s, double *epoch_s);
/* Parses a time given as epoch seconds ("1672531200", "1672531200.5") or
 * as ISO-8601 (see above); 0 or ECO_EINVAL. */
int eco_time_parse(const char *s, double *epoch_s);
/* Sleeps for the given seconds (restarting on EINTR). */
void eco_time_sleep_s(double s);

#endif
