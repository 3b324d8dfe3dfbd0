#include "router/sse.h"

#include <jansson.h>
#include <string.h>

size_t eco_sse_event_len(const char *buf, size_t len) {
  for (size_t i = 0; i + 1 < len; i++) {
    if (buf[i] != '\n') continue;
    if (buf[i + 1] == '\n') return i + 2;
    if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n') return i + 3;
  }
  return 0;
}

eco_sse_kind eco_sse_classify(const char *ev, size_t len, const char **data, size_t *data_len) {
  size_t i = 0;
  while (i < len) {
    size_t e = i;
    while (e < len && ev[e] != '\n')
      e++;
    size_t l = e - i;
    if (l > 0 && ev[i + l - 1] == '\r') l--;
    if (l >= 5 && memcmp(ev + i, "data:", 5) == 0) {
      const char *d = ev + i + 5;
      size_t dl = l - 5;
      if (dl > 0 && *d == ' ') {
        d++;
        dl--;
      }
      if (data) *data = d;
      if (data_len) *data_len = dl;
      if (dl == 6 && memcmp(d, "[DONE]", 6) == 0) return ECO_SSE_DONE;
      return ECO_SSE_DATA;
    }
    i = e + 1;
  }
  return ECO_SSE_OTHER;
}

static const char *find(const char *h, size_t hl, const char *n) {
  size_t nl = strlen(n);
  if (nl > hl) return NULL;
  for (size_t i = 0; i + nl <= hl; i++)
    if (h[i] == n[0] && memcmp(h + i, n, nl) == 0) return h + i;
  return NULL;
}

/* After a key match at p (pointing at the opening quote of the key), skip
 * ":" and spaces; true if a non-empty string value follows. */
static bool nonempty_string_after(const char *p, const char *end) {
  while (p < end && *p != ':')
    p++;
  if (p >= end) return false;
  p++;
  while (p < end && (*p == ' ' || *p == '\t'))
    p++;
  return p + 1 < end && *p == '"' && p[1] != '"';
}

bool eco_sse_has_text(const char *data, size_t len) {
  const char *end = data + len;
  static const char *const keys[] = {"\"content\"", "\"text\""};
  for (size_t k = 0; k < 2; k++) {
    const char *p = data;
    while (p < end) {
      const char *m = find(p, (size_t)(end - p), keys[k]);
      if (!m) break;
      if (nonempty_string_after(m + strlen(keys[k]), end)) return true;
      p = m + 1;
    }
  }
  return false;
}

bool eco_sse_has_usage(const char *data, size_t len) {
  const char *end = data + len;
  const char *m = find(data, len, "\"usage\"");
  if (!m) return false;
  const char *p = m + 7;
  while (p < end && (*p == ' ' || *p == ':' || *p == '\t'))
    p++;
  return p < end && *p == '{';
}

static size_t text_of(const json_t *content) {
  if (json_is_string(content)) return json_string_length(content);
  size_t n = 0;
  if (json_is_array(content)) {
    size_t i;
    const json_t *part;
    json_array_foreach(content, i, part) {
      const json_t *t = json_object_get(part, "text");
      if (json_is_string(t))
        n += json_string_length(t);
      else if (json_is_string(part))
        n += json_string_length(part);
    }
  }
  return n;
}

uint32_t eco_router_estimate_prompt_tokens(const void *json_body) {
  const json_t *body = json_body;
  if (!json_is_object(body)) return 1;
  size_t bytes = 0, msgs = 0;
  const json_t *m = json_object_get(body, "messages");
  if (json_is_array(m)) {
    size_t i;
    const json_t *msg;
    json_array_foreach(m, i, msg) {
      bytes += text_of(json_object_get(msg, "content"));
      msgs++;
    }
  }
  const json_t *p = json_object_get(body, "prompt");
  if (p) bytes += text_of(p);
  uint64_t t = (bytes + 3) / 4 + 4 * msgs;
  if (t < 1) t = 1;
  if (t > UINT32_MAX) t = UINT32_MAX;
  return (uint32_t)t;
}
