/* ecoinfer router: a node's meters among an agent's (see agent_pick.h). */
#include "router/agent_pick.h"

#include "util/status.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define PICK_MAX 64

static bool term_ok(const char *t, size_t n) {
  if (!n) return false;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)t[i]) && !strchr("_:+.-", t[i])) return false;
  return true;
}

/* The next comma-separated term of *p, trimmed (its length in *len), or
 * NULL at the end; advances *p past it. */
static const char *next_term(const char **p, size_t *len) {
  if (!**p) return NULL;
  while (**p == ' ')
    (*p)++;
  const char *t = *p;
  size_t n = strcspn(t, ",");
  *len = n;
  while (*len && t[*len - 1] == ' ')
    (*len)--;
  *p = t + n + (t[n] == ',');
  return t;
}

int eco_agent_spec_check(const char *spec, char *why, size_t cap) {
  if (!spec || !*spec) {
    snprintf(why, cap, "empty meter spec");
    return ECO_EINVAL;
  }
  const char *p = spec, *t;
  size_t m;
  while ((t = next_term(&p, &m)))
    if (!term_ok(t, m)) {
      snprintf(why, cap, "bad meter term '%.*s' (host, nvml:0, jetson:gpu+cpu, rapl, ...)",
               (int)(m > 40 ? 40 : m), t);
      return ECO_EINVAL;
    }
  return 0;
}

static const char *str(const json_t *o, const char *k) {
  const char *s = json_string_value(json_object_get(o, k));
  return s ? s : "";
}

static bool covers(const json_t *m, const char *what) {
  size_t i;
  const json_t *c;
  json_array_foreach(json_object_get(m, "covers"), i, c) {
    if (json_is_string(c) && strcasecmp(json_string_value(c), what) == 0) return true;
  }
  return false;
}

/* Marks every meter that term (of length n) selects; returns how many. */
static size_t select_term(const json_t *ms, const char *t, size_t n, bool *sel) {
  char term[96];
  snprintf(term, sizeof term, "%.*s", (int)n, t);
  size_t hit = 0, i;
  const json_t *m;
  bool any_host = false;
  json_array_foreach(ms, i, m) any_host |= json_is_true(json_object_get(m, "host"));
  json_array_foreach(ms, i, m) {
    if (i >= PICK_MAX) break;
    const char *id = str(m, "id");
    bool s = false;
    if (strcmp(term, "host") == 0) {
      s = any_host ? json_is_true(json_object_get(m, "host")) : i == 0;
    } else if (strcmp(term, "jetson") == 0) {
      s = strcmp(id, "ina3221") == 0;
    } else if (strncmp(term, "nvml:", 5) == 0 && strncmp(id, "nvml:", 5) == 0) {
      for (const char *p = term + 5; *p && !s;) {
        size_t k = strcspn(p, "+");
        s = (k == 3 && strncmp(p, "all", 3) == 0) ||
            (strlen(id + 5) == k && strncmp(p, id + 5, k) == 0);
        p += k;
        if (*p == '+') p++;
      }
    } else if (strncmp(term, "jetson:", 7) == 0 && json_is_string(json_object_get(m, "rail"))) {
      for (const char *p = term + 7; *p && !s;) {
        size_t k = strcspn(p, "+");
        char w[40];
        snprintf(w, sizeof w, "%.*s", (int)(k > 39 ? 39 : k), p);
        s = covers(m, w) || strcasecmp(w, str(m, "rail")) == 0;
        p += k;
        if (*p == '+') p++;
      }
    } else {
      s = strcmp(term, id) == 0;
    }
    if (s) {
      hit++;
      sel[i] = true;
    }
  }
  return hit;
}

static void append(char *dst, size_t cap, const char *sep, const char *s) {
  size_t l = strlen(dst);
  if (l + 1 < cap) snprintf(dst + l, cap - l, "%s%s", l ? sep : "", s);
}

/* What one selected meter covers, as the receipt names it. */
static void rails_of(const json_t *m, char *b, size_t cap) {
  const char *id = str(m, "id"), *src = str(m, "source"), *det = str(m, "detail");
  if (json_is_string(json_object_get(m, "rail")))
    snprintf(b, cap, "%s", str(m, "rail"));
  else if (strcmp(src, "rapl") == 0 || strcmp(src, "ina3221") == 0 || strcmp(src, "model") == 0)
    snprintf(b, cap, "%s:%s", src, det);
  else
    snprintf(b, cap, "%s", id[0] ? id : src);
}

int eco_agent_pick_meters(const json_t *doc, const char *spec, eco_agent_pick *out, char *why,
                          size_t cap) {
  const json_t *ms = json_object_get(doc, "meters");
  memset(out, 0, sizeof *out);
  if (!json_is_array(ms) || json_array_size(ms) == 0) {
    snprintf(why, cap, "agent document has no meters");
    return ECO_EINVAL;
  }
  if (!spec || !*spec) spec = "host";
  bool sel[PICK_MAX] = {false};
  const char *p = spec, *t;
  size_t tl;
  while ((t = next_term(&p, &tl)))
    if (tl && select_term(ms, t, tl, sel) == 0) {
      snprintf(why, cap, "meter '%.*s' is not served by the agent", (int)(tl > 40 ? 40 : tl), t);
      return ECO_ENOENT;
    }
  size_t i;
  const json_t *m;
  json_array_foreach(ms, i, m) {
    if (i >= PICK_MAX || !sel[i]) continue;
    /* the board meter and one of its own rails would count that rail twice */
    const char *parent = str(m, "part_of");
    for (size_t k = 0; parent[0] && k < json_array_size(ms) && k < PICK_MAX; k++)
      if (sel[k] && strcmp(str(json_array_get(ms, k), "id"), parent) == 0) {
        snprintf(why, cap, "meters overlap: %s is part of %s", str(m, "id"), parent);
        return ECO_EINVAL;
      }
    const json_t *j = json_object_get(m, "joules");
    if (!json_is_number(j) || json_number_value(j) < 0) {
      snprintf(why, cap, "meter %s has no joules", str(m, "id"));
      return ECO_EINVAL;
    }
    out->joules += json_number_value(j);
    if (!strstr(out->source, str(m, "source")))
      append(out->source, sizeof out->source, "+", str(m, "source"));
    char r[96];
    rails_of(m, r, sizeof r);
    append(out->rails, sizeof out->rails, "+", r);
    append(out->ids, sizeof out->ids, ",", str(m, "id"));
    out->estimated |= json_is_true(json_object_get(m, "estimated"));
    out->covers_gpu |= covers(m, "gpu") || covers(m, "board");
  }
  if (!out->source[0]) snprintf(out->source, sizeof out->source, "agent");
  return 0;
}
