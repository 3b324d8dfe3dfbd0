/* ecoinfer: generation directives in the node server (see srv_directive.h). */
#include "server/srv_directive.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

void eco_srv_directive_cfg_default(eco_srv_directive_cfg *c) {
  memset(c, 0, sizeof *c);
  c->enabled = true;
  eco_directive_cfg_default(&c->dcfg);
}

int eco_srv_directive_cfg_load(const eco_cfg *cfg, eco_srv_directive_cfg *out, eco_error *err) {
  eco_srv_directive_cfg_default(out);
  int64_t lvl, clvl;
  int rc;
  if ((rc = eco_directive_cfg_load(cfg, &out->dcfg, err))) return rc;
  if ((rc = eco_cfg_bool(cfg, NULL, "directive.enabled", true, &out->enabled, err)) ||
      (rc = eco_cfg_int(cfg, NULL, "directive.level", 0, &lvl, err)) ||
      (rc = eco_cfg_int(cfg, NULL, "directive.completion_level", 0, &clvl, err)))
    return rc;
  if (lvl < 0 || lvl >= (int64_t)out->dcfg.n_levels || clvl < 0 ||
      clvl >= (int64_t)out->dcfg.n_levels)
    return eco_error_set(err, ECO_ECONFIG,
                         "directive.level and directive.completion_level must be in 0..%zu",
                         out->dcfg.n_levels - 1);
  out->level = (int)lvl;
  out->completion_level = (int)clvl;
  return 0;
}

int eco_srv_directive_parse_level(const char *v, int *level) {
  if (!v) return ECO_EINVAL;
  while (isspace((unsigned char)*v))
    v++;
  if (!isdigit((unsigned char)*v)) return ECO_EINVAL;
  errno = 0;
  char *end;
  long x = strtol(v, &end, 10);
  while (isspace((unsigned char)*end))
    end++;
  if (errno || *end || x < 0 || x > INT_MAX) return ECO_EINVAL;
  *level = (int)x;
  return 0;
}

int eco_srv_directive_decide(const eco_srv_directive_cfg *c, bool chat, const char *route,
                             const char *level_hdr, const char *optout_hdr) {
  if (!c || !c->enabled) return 0;
  int planned = chat ? c->level : c->completion_level;
  int h;
  if (eco_srv_directive_parse_level(level_hdr, &h) == 0) planned = h;
  return eco_directive_effective_level(&c->dcfg, planned, route, optout_hdr);
}

static const char *static_role(const char *r) {
  static const char *const roles[] = {"system", "user", "assistant", "tool", "developer"};
  for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
    if (strcmp(r, roles[i]) == 0) return roles[i];
  return NULL;
}

int eco_srv_directive_apply_msgs(const eco_directive_cfg *c, int level, eco_chat_msg **msgs,
                                 size_t *n, eco_error *err) {
  if (!c || !msgs || !n) return eco_error_set(err, ECO_EINVAL, "directive: no messages");
  if (level < 0 || (size_t)level >= c->n_levels)
    return eco_error_set(err, ECO_EINVAL, "directive: level %d not in 0..%zu", level,
                         c->n_levels - 1);
  if (level == 0) return 0;
  int rc = 0;
  eco_chat_msg *out = NULL;
  size_t n_out = 0;
  json_t *arr = json_array();
  if (!arr) goto oom;
  for (size_t i = 0; i < *n; i++) {
    json_t *m = json_pack("{s:s,s:s}", "role", (*msgs)[i].role, "content",
                          (*msgs)[i].content ? (*msgs)[i].content : "");
    if (!m || json_array_append_new(arr, m)) goto oom;
  }
  if ((rc = eco_directive_apply(c, level, arr, err))) goto fail;
  size_t k = json_array_size(arr);
  out = calloc(k ? k : 1, sizeof *out);
  if (!out) goto oom;
  for (; n_out < k; n_out++) {
    json_t *m = json_array_get(arr, n_out);
    const char *role = static_role(json_string_value(json_object_get(m, "role")));
    const char *text = json_string_value(json_object_get(m, "content"));
    if (!role || !text) {
      rc = eco_error_set(err, ECO_EINTERNAL, "directive: unexpected message %zu", n_out);
      goto fail;
    }
    out[n_out].role = role;
    if (!(out[n_out].content = strdup(text))) goto oom;
  }
  for (size_t i = 0; i < *n; i++)
    free((char *)(*msgs)[i].content);
  free(*msgs);
  *msgs = out;
  *n = n_out;
  json_decref(arr);
  return 0;
oom:
  rc = eco_error_set(err, ECO_ENOMEM, "out of memory");
fail:
  if (out)
    for (size_t i = 0; i < n_out; i++)
      free((char *)out[i].content);
  free(out);
  json_decref(arr);
  return rc;
}

int eco_srv_directive_apply_prompt(const eco_directive_cfg *c, int level, char **prompt,
                                   eco_error *err) {
  if (!c || !prompt || !*prompt) return eco_error_set(err, ECO_EINVAL, "directive: no prompt");
  if (level < 0 || (size_t)level >= c->n_levels)
    return eco_error_set(err, ECO_EINVAL, "directive: level %d not in 0..%zu", level,
                         c->n_levels - 1);
  if (level == 0 || !c->text[level][0]) return 0;
  size_t a = strlen(c->text[level]), b = strlen(*prompt);
  char *p = malloc(a + 2 + b + 1);
  if (!p) return eco_error_set(err, ECO_ENOMEM, "out of memory");
  memcpy(p, c->text[level], a);
  memcpy(p + a, "\n\n", 2);
  memcpy(p + a + 2, *prompt, b + 1);
  free(*prompt);
  *prompt = p;
  return 0;
}
