#include "util/timeutil.h"

#include "util/status.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t eco_time_mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

double eco_time_wall_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double eco_time_process_cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double eco_time_thread_cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void eco_time_iso8601(double epoch_s, char *buf, size_t cap) {
  time_t t = (time_t)epoch_s;
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), no libc timezone use. */
static long days_from_civil(long y, unsigned m, unsigned d) {
  y -= m <= 2;
  long era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (long)doe - 719468;
}

int eco_time_parse_iso8601(const char *s, double *epoch_s) {
  int y, mo, d, h = 0, mi = 0, n = 0;
  double sec = 0;
  if (!s || sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3) return ECO_EINVAL;
  const char *p = s + n;
  if (*p == 'T' || *p == ' ') {
    p++;
    int k = 0;
    if (sscanf(p, "%2d:%2d%n", &h, &mi, &k) != 2) return ECO_EINVAL;
    p += k;
    if (*p == ':') {
      p++;
      char *end;
      sec = strtod(p, &end);
      if (end == p) return ECO_EINVAL;
      p = end;
    }
  }
  double off = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int oh, om = 0, k = 0;
    int sign = *p == '-' ? -1 : 1;
    p++;
    if (sscanf(p, "%2d:%2d%n", &oh, &om, &k) == 2 || sscanf(p, "%2d%2d%n", &oh, &om, &k) == 2) {
      p += k;
    } else {
      return ECO_EINVAL;
    }
    off = sign * (oh * 3600.0 + om * 60.0);
  }
  if (*p != '\0') return ECO_EINVAL;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 24 || mi > 59 || sec >= 61) return ECO_EINVAL;
  long days = days_from_civil(y, (unsigned)mo, (unsigned)d);
  *epoch_s = (double)days * 86400.0 + h * 3600.0 + mi * 60.0 + sec - off;
  return ECO_OK;
}

int eco_time_parse(const char *s, double *epoch_s) {
  if (!s || !*s) return ECO_EINVAL;
  bool number = true;
  for (const char *c = s; *c; c++)
    if (!isdigit((unsigned char)*c) && *c != '.') number = false;
  if (number) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end != '\0' || errno == ERANGE || !isfinite(v)) return ECO_EINVAL;
    *epoch_s = v;
    return ECO_OK;
  }
  return eco_time_parse_iso8601(s, epoch_s);
}

void eco_time_sleep_s(double s) {
  if (s <= 0) return;
  struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}
