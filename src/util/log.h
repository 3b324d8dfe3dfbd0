/* ecoinfer: leveled logging to a stream (stderr by default), as text or as
 * JSON lines. There is no global logger: components hold an eco_logger *
 * (usually the one the CLI built from --log-level/--log-format) and pass
 * NULL only where they accept the default (stderr, info, text).
 * One call writes one whole line with one write, so lines from several
 * threads never interleave. */
#ifndef ECO_UTIL_LOG_H
#define ECO_UTIL_LOG_H

#include <stdio.h>

typedef enum eco_log_level {
  ECO_LOG_DEBUG = 0,
  ECO_LOG_INFO = 1,
  ECO_LOG_WARN = 2,
  ECO_LOG_ERROR = 3,
  ECO_LOG_OFF = 4,
} eco_log_level;

typedef enum eco_log_format { ECO_LOG_TEXT = 0, ECO_LOG_JSON = 1 } eco_log_format;

typedef struct eco_logger {
  eco_log_level level;   /* messages below this level are dropped */
  eco_log_format format; /* text: "2026-11-21T10:00:00Z WARN  module: msg" */
  int fd;                /* destination file descriptor (2 = stderr) */
} eco_logger;

/* Default: stderr, info, text. */
void eco_log_init(eco_logger *lg);

/* Parses "debug|info|warn|error|off" / "text|json"; 0 or ECO_EINVAL. */
int eco_log_parse_level(const char *s, eco_log_level *out);
int eco_log_parse_format(const char *s, eco_log_format *out);

/* Logs one line; lg may be NULL (default logger). module is a short tag
 * such as "carbon" or "server". */
void eco_log(const eco_logger *lg, eco_log_level lvl, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define ECO_DEBUG(lg, mod, ...) eco_log((lg), ECO_LOG_DEBUG, (mod), __VA_ARGS__)
#define ECO_INFO(lg, mod, ...)  eco_log((lg), ECO_LOG_INFO, (mod), __VA_ARGS__)
#define ECO_WARN(lg, mod, ...)  eco_log((lg), ECO_LOG_WARN, (mod), __VA_ARGS__)
#define ECO_ERROR(lg, mod, ...) eco_log((lg), ECO_LOG_ERROR, (mod), __VA_ARGS__)

#endif
