#include "util/log.h"

#include "util/status.h"

#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

void eco_log_init(eco_logger *lg) {
  lg->level = ECO_LOG_INFO;
  lg->format = ECO_LOG_TEXT;
  lg->fd = 2;
}

int eco_log_parse_level(const char *s, eco_log_level *out) {
  static const char *names[] = {"debug", "info", "warn", "error", "off"};
  for (int i = 0; i < 5; i++)
    if (s && strcasecmp(s, names[i]) == 0) {
      *out = (eco_log_level)i;
      return ECO_OK;
    }
  if (s && strcasecmp(s, "warning") == 0) {
    *out = ECO_LOG_WARN;
    return ECO_OK;
  }
  return ECO_EINVAL;
}

int eco_log_parse_format(const char *s, eco_log_format *out) {
  if (s && strcasecmp(s, "text") == 0)
    *out = ECO_LOG_TEXT;
  else if (s && strcasecmp(s, "json") == 0)
    *out = ECO_LOG_JSON;
  else
    return ECO_EINVAL;
  return ECO_OK;
}

/* Appends s to buf as JSON string content (without quotes). */
static size_t json_escape(char *buf, size_t cap, size_t len, const char *s) {
  for (; *s && len + 7 < cap; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      buf[len++] = '\\';
      buf[len++] = (char)c;
    } else if (c == '\n') {
      buf[len++] = '\\';
      buf[len++] = 'n';
    } else if (c < 0x20) {
      len += (size_t)snprintf(buf + len, cap - len, "\\u%04x", c);
    } else {
      buf[len++] = (char)c;
    }
  }
  buf[len] = '\0';
  return len;
}

void eco_log(const eco_logger *lg, eco_log_level lvl, const char *module, const char *fmt, ...) {
  eco_logger def;
  if (!lg) {
    eco_log_init(&def);
    lg = &def;
  }
  if (lvl < lg->level || lvl >= ECO_LOG_OFF) return;
  static const char *names[] = {"debug", "info", "warn", "error"};
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);

  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char when[40];
  snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);

  char line[4608];
  size_t n;
  if (lg->format == ECO_LOG_JSON) {
    n = (size_t)snprintf(line, sizeof line, "{\"ts\":\"%s\",\"level\":\"%s\",\"module\":\"", when,
                         names[lvl]);
    n = json_escape(line, sizeof line, n, module ? module : "");
    n += (size_t)snprintf(line + n, sizeof line - n, "\",\"msg\":\"");
    n = json_escape(line, sizeof line, n, msg);
    n += (size_t)snprintf(line + n, sizeof line - n, "\"}\n");
  } else {
    n = (size_t)snprintf(line, sizeof line, "%s %-5s %s: %s\n", when, names[lvl],
                         module ? module : "-", msg);
  }
  if (n >= sizeof line) {
    n = sizeof line - 1;
    line[n - 1] = '\n';
  }
  ssize_t w = write(lg->fd, line, n);
  (void)w;
}
