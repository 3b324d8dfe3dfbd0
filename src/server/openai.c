/* ecoinfer: OpenAI-compatible request parsing and response building. */
#include "server/openai.h"

#include "accounting/wire.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void eco_oai_limits_default(eco_oai_limits *l) {
  l->max_tokens_limit = 4096;
  l->default_max_tokens = 256;
  l->max_messages = 256;
  l->max_stop = 4;
  l->max_text_bytes = 512 * 1024;
}

int eco_oai_error_set(eco_oai_error *e, int status, const char *type, const char *param,
                      const char *code, const char *fmt, ...) {
  e->status = status;
  snprintf(e->type, sizeof e->type, "%s", type ? type : "invalid_request_error");
  snprintf(e->param, sizeof e->param, "%s", param ? param : "");
  snprintf(e->code, sizeof e->code, "%s", code ? code : "");
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->message, sizeof e->message, fmt, ap);
  va_end(ap);
  return status;
}

char *eco_oai_error_json(const eco_oai_error *e) {
  return eco_wire_error_body(e->message, e->type, e->param, e->code);
}

__attribute__((format(printf, 3, 4))) static int bad(eco_oai_error *e, const char *param,
                                                     const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return eco_oai_error_set(e, 400, "invalid_request_error", param, NULL, "%s", msg);
}

/* Optional number field in [lo, hi]; absent leaves *out unchanged. */
static int get_number(json_t *root, const char *key, double lo, double hi, double *out,
                      eco_oai_error *e) {
  json_t *v = json_object_get(root, key);
  if (!v || json_is_null(v)) return 0;
  if (!json_is_number(v)) return bad(e, key, "'%s' must be a number", key);
  double d = json_number_value(v);
  if (!isfinite(d) || d < lo || d > hi)
    return eco_oai_error_set(e, 400, "invalid_request_error", key, NULL,
                             "'%s' must be between %g and %g", key, lo, hi);
  *out = d;
  return 0;
}

static int get_bool(json_t *root, const char *key, bool *out, eco_oai_error *e) {
  json_t *v = json_object_get(root, key);
  if (!v || json_is_null(v)) return 0;
  if (!json_is_boolean(v)) return bad(e, key, "'%s' must be a boolean", key);
  *out = json_is_true(v);
  return 0;
}

/* Appends the text of a content value (string or array of text parts). */
static int content_text(json_t *c, char **out, size_t *budget, eco_oai_error *e) {
  const char *param = "messages.content";
  if (json_is_string(c)) {
    size_t n = json_string_length(c);
    if (n > *budget)
      return eco_oai_error_set(e, 400, "invalid_request_error", param, "context_length_exceeded",
                               "prompt text exceeds the limit");
    *budget -= n;
    *out = strdup(json_string_value(c));
    return *out ? 0 : eco_oai_error_set(e, 500, "server_error", NULL, NULL, "out of memory");
  }
  if (!json_is_array(c))
    return bad(e, param, "'%s' must be a string or an array of text parts", param);
  size_t total = 0, i;
  json_t *part;
  json_array_foreach(c, i, part) {
    json_t *t = json_object_get(part, "type");
    json_t *x = json_object_get(part, "text");
    if (!json_is_object(part) || !json_is_string(t) || strcmp(json_string_value(t), "text") != 0 ||
        !json_is_string(x))
      return bad(e, param, "'%s' parts must be {\"type\":\"text\",\"text\":...}", param);
    total += json_string_length(x);
  }
  if (total > *budget)
    return eco_oai_error_set(e, 400, "invalid_request_error", param, "context_length_exceeded",
                             "prompt text exceeds the limit");
  *budget -= total;
  char *s = malloc(total + 1);
  if (!s) return eco_oai_error_set(e, 500, "server_error", NULL, NULL, "out of memory");
  size_t off = 0;
  json_array_foreach(c, i, part) {
    json_t *x = json_object_get(part, "text");
    memcpy(s + off, json_string_value(x), json_string_length(x));
    off += json_string_length(x);
  }
  s[off] = 0;
  *out = s;
  return 0;
}

static bool has_nul(json_t *s) { return strlen(json_string_value(s)) != json_string_length(s); }

int eco_oai_parse(bool chat, const char *body, size_t len, const eco_oai_limits *lim,
                  eco_oai_request *out, eco_oai_error *e) {
  memset(out, 0, sizeof *out);
  out->chat = chat;
  out->sampling.temperature = 1.0;
  out->sampling.top_p = 1.0;
  out->max_tokens = lim->default_max_tokens;
  int rc = 0;
  json_error_t jerr;
  json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!root)
    return eco_oai_error_set(e, 400, "invalid_request_error", NULL, "invalid_json",
                             "invalid JSON body: %s (at byte %d)", jerr.text, jerr.position);
  if (!json_is_object(root)) {
    rc = bad(e, NULL, "%s", "the request body must be a JSON object");
    goto fail;
  }
  json_t *v = json_object_get(root, "model");
  if (!json_is_string(v) || json_string_length(v) == 0 || has_nul(v) ||
      json_string_length(v) > 256) {
    rc = bad(e, "model", "%s", "'model' must be a non-empty string");
    goto fail;
  }
  if (!(out->model = strdup(json_string_value(v)))) goto oom;

  size_t budget = lim->max_text_bytes;
  if (chat) {
    json_t *msgs = json_object_get(root, "messages");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0) {
      rc = bad(e, "messages", "%s", "'messages' must be a non-empty array");
      goto fail;
    }
    if (json_array_size(msgs) > lim->max_messages) {
      rc = eco_oai_error_set(e, 400, "invalid_request_error", "messages", NULL,
                             "too many messages (limit %zu)", lim->max_messages);
      goto fail;
    }
    out->messages = calloc(json_array_size(msgs), sizeof *out->messages);
    if (!out->messages) goto oom;
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
      json_t *role = json_object_get(m, "role");
      static const char *const roles[] = {"system", "user", "assistant", "tool", "developer"};
      bool ok = json_is_object(m) && json_is_string(role);
      size_t r = 0;
      for (; ok && r < sizeof roles / sizeof roles[0]; r++)
        if (strcmp(json_string_value(role), roles[r]) == 0) break;
      if (!ok || r == sizeof roles / sizeof roles[0]) {
        rc = bad(e, "messages.role", "%s",
                 "each message needs a 'role' of system, user, assistant, tool or developer");
        goto fail;
      }
      json_t *c = json_object_get(m, "content");
      char *text = NULL;
      if (json_is_null(c) || !c) {
        text = strdup("");
        if (!text) goto oom;
      } else if ((rc = content_text(c, &text, &budget, e))) {
        goto fail;
      }
      out->messages[i].role = roles[r];
      out->messages[i].content = text;
      out->n_messages++;
    }
  } else {
    json_t *p = json_object_get(root, "prompt");
    if (json_is_array(p) && json_array_size(p) == 1 && json_is_string(json_array_get(p, 0)))
      p = json_array_get(p, 0);
    if (!json_is_string(p)) {
      rc = bad(e, "prompt", "%s", "'prompt' must be a string (or an array of one string)");
      goto fail;
    }
    if (json_string_length(p) > budget) {
      rc = eco_oai_error_set(e, 400, "invalid_request_error", "prompt", "context_length_exceeded",
                             "prompt text exceeds the limit");
      goto fail;
    }
    if (!(out->prompt = strdup(json_string_value(p)))) goto oom;
    if ((rc = get_bool(root, "echo", &out->echo, e))) goto fail;
  }

  if ((rc = get_bool(root, "ignore_eos", &out->ignore_eos, e))) goto fail;

  /* max_tokens (max_completion_tokens is the newer chat name) */
  const char *mt_keys[] = {"max_completion_tokens", "max_tokens"};
  for (size_t k = 0; k < 2; k++) {
    v = json_object_get(root, mt_keys[k]);
    if (!v || json_is_null(v)) continue;
    if (!json_is_integer(v)) {
      rc = bad(e, mt_keys[k], "'%s' must be an integer", mt_keys[k]);
      goto fail;
    }
    json_int_t n = json_integer_value(v);
    if (n < 1 || n > lim->max_tokens_limit) {
      rc = eco_oai_error_set(e, 400, "invalid_request_error", mt_keys[k], NULL,
                             "'%s' must be between 1 and %d", mt_keys[k], lim->max_tokens_limit);
      goto fail;
    }
    out->max_tokens = (int)n;
    break;
  }
  if ((rc = get_number(root, "temperature", 0, 2, &out->sampling.temperature, e)) ||
      (rc = get_number(root, "top_p", 0, 1, &out->sampling.top_p, e)) ||
      (rc = get_number(root, "presence_penalty", -2, 2, &out->sampling.presence_pen, e)) ||
      (rc = get_number(root, "frequency_penalty", -2, 2, &out->sampling.frequency_pen, e)) ||
      (rc = get_bool(root, "stream", &out->stream, e)))
    goto fail;
  v = json_object_get(root, "top_k");
  if (v && !json_is_null(v)) {
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 100000) {
      rc = bad(e, "top_k", "%s", "'top_k' must be a non-negative integer");
      goto fail;
    }
    out->sampling.top_k = (int)json_integer_value(v);
  }
  v = json_object_get(root, "seed");
  if (v && !json_is_null(v)) {
    if (!json_is_integer(v)) {
      rc = bad(e, "seed", "%s", "'seed' must be an integer");
      goto fail;
    }
    out->sampling.seed = (uint64_t)json_integer_value(v);
    out->sampling.has_seed = true;
  }
  v = json_object_get(root, "n");
  if (v && !json_is_null(v) && (!json_is_integer(v) || json_integer_value(v) != 1)) {
    rc = bad(e, "n", "%s", "only 'n': 1 is supported");
    goto fail;
  }
  v = json_object_get(root, "stream_options");
  if (v && !json_is_null(v)) {
    if (!json_is_object(v)) {
      rc = bad(e, "stream_options", "%s", "'stream_options' must be an object");
      goto fail;
    }
    if (!out->stream) {
      rc = bad(e, "stream_options", "%s", "'stream_options' is only allowed with 'stream': true");
      goto fail;
    }
    json_t *iu = json_object_get(v, "include_usage");
    if (iu && !json_is_null(iu) && !json_is_boolean(iu)) {
      rc = bad(e, "stream_options.include_usage", "%s", "'include_usage' must be a boolean");
      goto fail;
    }
    out->include_usage = json_is_true(iu);
  }
  v = json_object_get(root, "stop");
  if (v && !json_is_null(v)) {
    size_t n = json_is_string(v) ? 1 : json_is_array(v) ? json_array_size(v) : 0;
    if (!json_is_string(v) && !json_is_array(v)) {
      rc = bad(e, "stop", "%s", "'stop' must be a string or an array of strings");
      goto fail;
    }
    if (n > lim->max_stop) {
      rc = eco_oai_error_set(e, 400, "invalid_request_error", "stop", NULL,
                             "at most %zu stop strings", lim->max_stop);
      goto fail;
    }
    out->stop = calloc(n ? n : 1, sizeof *out->stop);
    if (!out->stop) goto oom;
    for (size_t i = 0; i < n; i++) {
      json_t *s = json_is_string(v) ? v : json_array_get(v, i);
      if (!json_is_string(s) || json_string_length(s) == 0 || json_string_length(s) > 256 ||
          has_nul(s)) {
        rc = bad(e, "stop", "%s", "each stop string must be a non-empty string of <= 256 bytes");
        goto fail;
      }
      if (!(out->stop[i] = strdup(json_string_value(s)))) goto oom;
      out->n_stop++;
    }
  }
  json_decref(root);
  return 0;
oom:
  rc = eco_oai_error_set(e, 500, "server_error", NULL, NULL, "out of memory");
fail:
  json_decref(root);
  eco_oai_request_free(out);
  return rc;
}

void eco_oai_request_free(eco_oai_request *r) {
  if (!r) return;
  free(r->model);
  for (size_t i = 0; i < r->n_messages; i++)
    free((char *)r->messages[i].content);
  free(r->messages);
  free(r->prompt);
  for (size_t i = 0; i < r->n_stop; i++)
    free(r->stop[i]);
  free(r->stop);
  memset(r, 0, sizeof *r);
}

void *eco_oai_usage_json(const eco_oai_usage *u) {
  json_t *o =
      json_pack("{s:i,s:i,s:i,s:{s:i}}", "prompt_tokens", u->prompt_tokens, "completion_tokens",
                u->completion_tokens, "total_tokens", u->prompt_tokens + u->completion_tokens,
                "prompt_tokens_details", "cached_tokens", u->cached_tokens);
  if (o && u->carbon) json_object_set_new(o, ECO_USAGE_CARBON, eco_receipt_to_json(u->carbon));
  if (o && u->has_directive) {
    json_t *c = json_object_get(o, ECO_USAGE_CARBON);
    if (!c) {
      c = json_object();
      if (c) json_object_set_new(o, ECO_USAGE_CARBON, c);
    }
    if (c) json_object_set_new(c, ECO_CARBON_DIRECTIVE_LEVEL, json_integer(u->directive_level));
  }
  return o;
}

static char *dump(json_t *o) {
  if (!o) return NULL;
  char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(12));
  json_decref(o);
  return s;
}

char *eco_oai_response_json(bool chat, const char *id, long created, const char *model,
                            const char *text, size_t len, const char *finish_reason,
                            const eco_oai_usage *u) {
  json_t *choice;
  if (chat)
    choice = json_pack("{s:i,s:{s:s,s:s%},s:n,s:s}", "index", 0, "message", "role", "assistant",
                       "content", text, len, "logprobs", "finish_reason", finish_reason);
  else
    choice = json_pack("{s:i,s:s%,s:n,s:s}", "index", 0, "text", text, len, "logprobs",
                       "finish_reason", finish_reason);
  json_t *o =
      json_pack("{s:s,s:s,s:I,s:s,s:[o],s:o}", "id", id, "object",
                chat ? "chat.completion" : "text_completion", "created", (json_int_t)created,
                "model", model, "choices", choice, "usage", eco_oai_usage_json(u));
  return dump(o);
}

char *eco_oai_chunk_json(bool chat, const char *id, long created, const char *model,
                         const char *text, size_t len, bool role_first, const char *finish_reason,
                         const eco_oai_usage *u, bool usage_null) {
  json_t *choices = json_array();
  if (!u) {
    json_t *choice;
    if (chat) {
      json_t *delta = json_object();
      if (role_first) json_object_set_new(delta, "role", json_string("assistant"));
      if (text) json_object_set_new(delta, "content", json_stringn(text, len));
      choice = json_pack("{s:i,s:o,s:n,s:o}", "index", 0, "delta", delta, "logprobs",
                         "finish_reason", finish_reason ? json_string(finish_reason) : json_null());
    } else {
      choice = json_pack("{s:i,s:s%,s:n,s:o}", "index", 0, "text", text ? text : "", text ? len : 0,
                         "logprobs", "finish_reason",
                         finish_reason ? json_string(finish_reason) : json_null());
    }
    json_array_append_new(choices, choice);
  }
  json_t *o = json_pack("{s:s,s:s,s:I,s:s,s:o}", "id", id, "object",
                        chat ? "chat.completion.chunk" : "text_completion", "created",
                        (json_int_t)created, "model", model, "choices", choices);
  if (o && u)
    json_object_set_new(o, "usage", eco_oai_usage_json(u));
  else if (o && usage_null)
    json_object_set_new(o, "usage", json_null());
  return dump(o);
}
