/* ecoinfer: chat templates rendered with the Jinja interpreter, with the
 * family heuristic (chat.c) as the fallback (see chat.h). */
#include "engine/chat.h"
#include "jinja/jinja.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct eco_chat_tmpl {
  char *text;            /* the template, or NULL */
  eco_jinja_tmpl *jinja; /* NULL: falls back to family */
  eco_chat_family family;
  bool no_system; /* the template rejects or drops system messages (checked) */
  char warning[400];
};

int eco_chat_tmpl_new(const char *chat_template, eco_chat_tmpl **out, eco_error *err) {
  *out = NULL;
  eco_chat_tmpl *t = calloc(1, sizeof *t);
  if (!t) return eco_error_set(err, ECO_ENOMEM, "chat: out of memory");
  t->family = ECO_CHAT_CHATML;
  if (chat_template && chat_template[0]) {
    if (!(t->text = strdup(chat_template))) goto oom;
    eco_error perr = {0};
    int rc = eco_jinja_parse(t->text, strlen(t->text), NULL, &t->jinja, &perr);
    if (rc == ECO_ENOMEM) goto oom;
    if (rc == ECO_OK) {
      t->family = ECO_CHAT_JINJA;
      const char *notes = eco_jinja_notes(t->jinja);
      if (notes[0]) snprintf(t->warning, sizeof t->warning, "chat template: %s", notes);
    } else {
      if (eco_chat_detect(t->text, &t->family, NULL) == ECO_ENOMEM) goto oom;
      snprintf(t->warning, sizeof t->warning,
               "chat template cannot be rendered (%s); using the %s format instead", perr.msg,
               eco_chat_family_name(t->family));
    }
  }
  *out = t;
  return ECO_OK;
oom:
  eco_chat_tmpl_free(t);
  return eco_error_set(err, ECO_ENOMEM, "chat: out of memory");
}

void eco_chat_tmpl_free(eco_chat_tmpl *t) {
  if (!t) return;
  eco_jinja_free(t->jinja);
  free(t->text);
  free(t);
}

eco_chat_family eco_chat_tmpl_family(const eco_chat_tmpl *t) { return t->family; }
bool eco_chat_tmpl_no_system(const eco_chat_tmpl *t) { return t->no_system; }
const char *eco_chat_tmpl_warning(const eco_chat_tmpl *t) { return t->warning; }

/* The variables a template sees, as transformers and llama.cpp pass them. */
static json_t *make_vars(const eco_chat_msg *msgs, size_t n, bool agp, const eco_chat_opts *o) {
  json_t *list = json_array();
  for (size_t i = 0; list && i < n; i++) {
    json_t *m = json_object();
    if (!m || json_object_set_new(m, "role", json_string(msgs[i].role)) ||
        json_object_set_new(m, "content", json_string(msgs[i].content)) ||
        json_array_append_new(list, m)) {
      json_decref(m);
      json_decref(list);
      return NULL; /* out of memory, or a text that is not UTF-8 */
    }
  }
  const char *bos = o && o->bos_text ? o->bos_text : "";
  const char *eos = o && o->eos_text ? o->eos_text : "";
  return list ? json_pack("{s:o,s:b,s:s,s:s}", "messages", list, "add_generation_prompt", agp,
                          "bos_token", bos, "eos_token", eos)
              : NULL;
}

/* Renders with Jinja; ECO_EUNSUPPORTED when the template reached a
 * construct outside the interpreter. */
static int render_jinja(const eco_chat_tmpl *t, const eco_chat_msg *msgs, size_t n, bool agp,
                        const eco_chat_opts *o, eco_strbuf *out, eco_error *err) {
  json_t *vars = make_vars(msgs, n, agp, o);
  if (!vars) {
    for (size_t i = 0; i < n; i++)
      if (!json_string(msgs[i].content) || !json_string(msgs[i].role))
        return eco_error_set(err, ECO_EINVAL, "chat: message %zu is not valid UTF-8", i);
    return eco_error_set(err, ECO_ENOMEM, "chat: out of memory");
  }
  eco_jinja_render_opts ro = {.now = o && o->now ? o->now : time(NULL)};
  size_t start = out->len;
  eco_error jerr = {0};
  int rc = eco_jinja_render(t->jinja, vars, &ro, out, &jerr);
  json_decref(vars);
  if (rc != ECO_OK) {
    eco_error_set(err, rc, "chat template: %s", jerr.msg);
    return rc;
  }
  const char *bos = o && o->strip_bos ? o->bos_text : NULL;
  size_t bl = bos ? strlen(bos) : 0;
  if (bl && out->len - start >= bl && !memcmp(out->data + start, bos, bl)) {
    memmove(out->data + start, out->data + start + bl, out->len - start - bl);
    out->len -= bl;
    out->data[out->len] = '\0';
  }
  return ECO_OK;
}

static int render_family(const eco_chat_tmpl *t, const eco_chat_msg *msgs, size_t n, bool agp,
                         const eco_chat_opts *o, eco_strbuf *out, eco_chat_family *family_out,
                         eco_error *err) {
  eco_logger quiet;
  eco_log_init(&quiet);
  quiet.level = ECO_LOG_OFF; /* the fallback was reported once already */
  eco_chat_opts fo = o ? *o : (eco_chat_opts){0};
  fo.lg = &quiet;
  return eco_chat_apply_family(t->text, msgs, n, agp, &fo, out, family_out, err);
}

/* Whether the template renders a system message (Gemma's refuse one). */
static bool renders_system(const eco_chat_tmpl *t, const eco_chat_opts *opts) {
  static const char probe[] = "ecoinfer system probe 7f3a";
  const eco_chat_msg msgs[2] = {{"system", probe}, {"user", "Hello"}};
  eco_strbuf sb;
  eco_sb_init(&sb);
  eco_error err = {0};
  bool ok = render_jinja(t, msgs, 2, true, opts, &sb, &err) == ECO_OK &&
            strstr(eco_sb_str(&sb), probe) != NULL;
  eco_sb_free(&sb);
  return ok;
}

int eco_chat_tmpl_check(eco_chat_tmpl *t, const eco_chat_opts *opts) {
  if (!t->jinja) return ECO_OK;
  static const eco_chat_msg hello = {"user", "Hello"};
  eco_strbuf sb;
  eco_sb_init(&sb);
  eco_error err = {0};
  int rc = render_jinja(t, &hello, 1, true, opts, &sb, &err);
  eco_sb_free(&sb);
  if (rc == ECO_OK) {
    t->no_system = !renders_system(t, opts);
    return ECO_OK;
  }
  if (rc == ECO_ENOMEM) return rc;
  eco_jinja_free(t->jinja);
  t->jinja = NULL;
  if (eco_chat_detect(t->text, &t->family, NULL) == ECO_ENOMEM) return ECO_ENOMEM;
  snprintf(t->warning, sizeof t->warning,
           "chat template fails on a one-message chat (%s); using the %s format instead", err.msg,
           eco_chat_family_name(t->family));
  return rc;
}

/* For a template without a system role: the system messages' text goes at
 * the start of the first user message (as llama.cpp does), so directives
 * and clients' system prompts still reach the model. *out and *merged
 * (the one new content) are malloc'd; the caller frees both. */
static int merge_system(const eco_chat_msg *msgs, size_t n, eco_chat_msg **out, size_t *n_out,
                        char **merged) {
  *out = calloc(n ? n : 1, sizeof **out);
  *merged = NULL;
  if (!*out) return ECO_ENOMEM;
  eco_strbuf sys;
  eco_sb_init(&sys);
  for (size_t i = 0; i < n; i++) {
    if (strcmp(msgs[i].role, "system") != 0) continue;
    if (sys.len) eco_sb_puts(&sys, "\n\n");
    eco_sb_puts(&sys, msgs[i].content);
  }
  size_t k = 0;
  bool done = false;
  for (size_t i = 0; i < n; i++) {
    if (!strcmp(msgs[i].role, "system")) continue;
    (*out)[k] = msgs[i];
    if (!done && !strcmp(msgs[i].role, "user")) {
      eco_sb_puts(&sys, "\n\n");
      eco_sb_puts(&sys, msgs[i].content);
      done = true;
      *merged = sys.oom ? NULL : strdup(eco_sb_str(&sys));
      if (!*merged) break;
      (*out)[k].content = *merged;
    }
    k++;
  }
  if (!done && sys.len && !sys.oom) { /* no user message: the system text becomes one */
    *merged = strdup(eco_sb_str(&sys));
    if (*merged) (*out)[k++] = (eco_chat_msg){"user", *merged};
  }
  bool failed = sys.oom || ((done || sys.len) && !*merged);
  eco_sb_free(&sys);
  if (failed) {
    free(*out);
    *out = NULL;
    return ECO_ENOMEM;
  }
  *n_out = k;
  return ECO_OK;
}

int eco_chat_tmpl_apply(const eco_chat_tmpl *t, const eco_chat_msg *msgs, size_t n,
                        bool add_generation_prompt, const eco_chat_opts *opts, eco_strbuf *out,
                        eco_chat_family *family_out, eco_error *err) {
  if (family_out) *family_out = t->family;
  if (!out || (n && !msgs)) return eco_error_set(err, ECO_EINVAL, "chat: no messages or output");
  for (size_t i = 0; i < n; i++)
    if (!msgs[i].role || !msgs[i].content)
      return eco_error_set(err, ECO_EINVAL, "chat: message %zu has no %s", i,
                           msgs[i].role ? "content" : "role");
  if (!t->jinja || (opts && opts->family_only))
    return render_family(t, msgs, n, add_generation_prompt, opts, out, family_out, err);
  bool has_system = false;
  for (size_t i = 0; i < n && !has_system; i++)
    has_system = !strcmp(msgs[i].role, "system");
  int rc;
  if (t->no_system && has_system) {
    eco_chat_msg *m2 = NULL;
    char *merged = NULL;
    size_t n2 = 0;
    if (merge_system(msgs, n, &m2, &n2, &merged))
      return eco_error_set(err, ECO_ENOMEM, "chat: out of memory");
    rc = render_jinja(t, m2, n2, add_generation_prompt, opts, out, err);
    free(m2);
    free(merged);
  } else {
    rc = render_jinja(t, msgs, n, add_generation_prompt, opts, out, err);
  }
  if (rc != ECO_EUNSUPPORTED) return rc;
  eco_chat_family fam = ECO_CHAT_CHATML;
  if (eco_chat_detect(t->text, &fam, NULL) == ECO_ENOMEM)
    return eco_error_set(err, ECO_ENOMEM, "chat: out of memory");
  ECO_WARN(opts ? opts->lg : NULL, "chat", "%s; using the %s format for this chat",
           err ? err->msg : "chat template cannot render this chat", eco_chat_family_name(fam));
  return render_family(t, msgs, n, add_generation_prompt, opts, out, family_out, err);
}

int eco_chat_apply_ex(const char *chat_template, const eco_chat_msg *msgs, size_t n,
                      bool add_generation_prompt, const eco_chat_opts *opts, eco_strbuf *out,
                      eco_chat_family *family_out, eco_error *err) {
  if (opts && opts->family_only)
    return eco_chat_apply_family(chat_template, msgs, n, add_generation_prompt, opts, out,
                                 family_out, err);
  eco_chat_tmpl *t = NULL;
  int rc = eco_chat_tmpl_new(chat_template, &t, err);
  if (rc || !t) return rc ? rc : ECO_ENOMEM;
  if (t->warning[0]) ECO_WARN(opts ? opts->lg : NULL, "chat", "%s", t->warning);
  rc = eco_chat_tmpl_apply(t, msgs, n, add_generation_prompt, opts, out, family_out, err);
  eco_chat_tmpl_free(t);
  return rc;
}

int eco_chat_apply(const char *chat_template, const eco_chat_msg *msgs, size_t n,
                   bool add_generation_prompt, eco_strbuf *out, eco_chat_family *family_out,
                   const eco_logger *lg, eco_error *err) {
  eco_chat_opts o = {.eos_text = NULL, .lg = lg};
  return eco_chat_apply_ex(chat_template, msgs, n, add_generation_prompt, &o, out, family_out, err);
}

void eco_chat_opts_vocab(const eco_tokenizer *tok, char bos[64], char eos[64], const eco_logger *lg,
                         eco_chat_opts *o) {
  int32_t id[2] = {eco_tokenizer_bos(tok), eco_tokenizer_eos(tok)};
  char *dst[2] = {bos, eos};
  for (int k = 0; k < 2; k++) {
    size_t len = 0;
    const char *text = id[k] >= 0 ? eco_tokenizer_token_text(tok, id[k], &len) : NULL;
    dst[k][0] = '\0';
    if (text && len < 64) {
      memcpy(dst[k], text, len);
      dst[k][len] = '\0';
    }
  }
  *o = (eco_chat_opts){
      .bos_text = bos, .eos_text = eos, .strip_bos = eco_tokenizer_add_bos(tok), .lg = lg};
}
