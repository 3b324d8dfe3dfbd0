/* ecoinfer: chat templates by family, the fallback when Jinja cannot render
 * a template (see chat.h; the Jinja path is chat_jinja.c). */
#include "engine/chat.h"

#include <stdlib.h>
#include <string.h>

const char *eco_chat_family_name(eco_chat_family f) {
  switch (f) {
  case ECO_CHAT_CHATML: return "chatml";
  case ECO_CHAT_LLAMA2: return "llama2";
  case ECO_CHAT_LLAMA2_SYS: return "llama2-sys";
  case ECO_CHAT_LLAMA2_SYS_BOS: return "llama2-sys-bos";
  case ECO_CHAT_LLAMA2_SYS_STRIP: return "llama2-sys-strip";
  case ECO_CHAT_LLAMA3: return "llama3";
  case ECO_CHAT_ZEPHYR: return "zephyr";
  case ECO_CHAT_PHI3: return "phi3";
  case ECO_CHAT_JINJA: return "jinja";
  }
  return "unknown";
}

static bool has(const char *s, const char *needle) { return strstr(s, needle) != NULL; }

/* Finds a literal "<|im_start|>system\n<text><|im_end|>" in the template,
 * where <text> is plain literal text (no quotes, braces or expressions):
 * the default system prompt. Handles both a real newline and the two
 * characters "\n" of a Jinja string literal, and unescapes \n \t \' \" \\. */
static int find_default_system(const char *tmpl, char **out) {
  static const char k_open[] = "<|im_start|>system";
  *out = NULL;
  const char *p = tmpl;
  while ((p = strstr(p, k_open)) != NULL) {
    const char *q = p + sizeof k_open - 1;
    p = q;
    if (q[0] == '\n')
      q += 1;
    else if (q[0] == '\\' && q[1] == 'n')
      q += 2;
    else
      continue;
    const char *end = strstr(q, "<|im_end|>");
    if (!end || end <= q) continue;
    size_t len = (size_t)(end - q);
    bool plain = true;
    for (const char *c = q; c < end && plain; c++) {
      if (*c == '\\' && c + 1 < end) {
        c++;
        continue;
      }
      if (*c == '\'' || *c == '"' || *c == '{' || *c == '}') plain = false;
    }
    if (!plain) continue;
    char *s = malloc(len + 1);
    if (!s) return ECO_ENOMEM;
    size_t k = 0;
    for (const char *c = q; c < end; c++) {
      if (*c == '\\' && c + 1 < end) {
        c++;
        switch (*c) {
        case 'n': s[k++] = '\n'; break;
        case 't': s[k++] = '\t'; break;
        default: s[k++] = *c; break;
        }
      } else {
        s[k++] = *c;
      }
    }
    s[k] = '\0';
    *out = s;
    return ECO_OK;
  }
  return ECO_OK;
}

int eco_chat_detect(const char *tmpl, eco_chat_family *family, char **default_system) {
  *family = ECO_CHAT_CHATML;
  if (default_system) *default_system = NULL;
  if (!tmpl || !tmpl[0]) return ECO_ENOENT;
  if (has(tmpl, "<|im_start|>")) {
    if (has(tmpl, "<|im_sep|>")) return ECO_ENOENT; /* Phi-4: not covered */
    if (default_system) return find_default_system(tmpl, default_system);
    return ECO_OK;
  }
  if (strncmp(tmpl, "mistral", 7) == 0 || has(tmpl, "[INST]")) {
    if (has(tmpl, "[SYSTEM_PROMPT]") || has(tmpl, "' [INST] ' + system_message") ||
        has(tmpl, "[AVAILABLE_TOOLS]"))
      return ECO_ENOENT; /* Mistral v1/v3/v7: not covered */
    if (has(tmpl, "content.strip()"))
      *family = ECO_CHAT_LLAMA2_SYS_STRIP;
    else if (has(tmpl, "bos_token + '[INST]"))
      *family = ECO_CHAT_LLAMA2_SYS_BOS;
    else if (has(tmpl, "<<SYS>>"))
      *family = ECO_CHAT_LLAMA2_SYS;
    else
      *family = ECO_CHAT_LLAMA2;
    return ECO_OK;
  }
  if (has(tmpl, "<|assistant|>") && has(tmpl, "<|end|>")) {
    *family = ECO_CHAT_PHI3;
    return ECO_OK;
  }
  if (has(tmpl, "<|user|>") && (has(tmpl, "<|assistant|>") || has(tmpl, "<|endoftext|>"))) {
    *family = ECO_CHAT_ZEPHYR;
    return ECO_OK;
  }
  if (has(tmpl, "<|start_header_id|>") && has(tmpl, "<|end_header_id|>")) {
    *family = ECO_CHAT_LLAMA3;
    return ECO_OK;
  }
  return ECO_ENOENT;
}

/* Appends s without leading/trailing C-locale whitespace (llama.cpp trim). */
static int put_trimmed(eco_strbuf *out, const char *s) {
  size_t b = 0, e = strlen(s);
  static const char ws[] = " \t\n\v\f\r";
  while (b < e && strchr(ws, s[b]) && s[b])
    b++;
  while (e > b && strchr(ws, s[e - 1]) && s[e - 1])
    e--;
  return eco_sb_append(out, s + b, e - b);
}

static void put_llama2(const eco_chat_msg *msgs, size_t n, eco_chat_family f, eco_strbuf *out) {
  bool sys_ok = f != ECO_CHAT_LLAMA2;
  bool bos_inside = f == ECO_CHAT_LLAMA2_SYS_BOS;
  bool strip = f == ECO_CHAT_LLAMA2_SYS_STRIP;
  bool inside_turn = true; /* no BOS at the start: the tokenizer adds it */
  eco_sb_puts(out, "[INST] ");
  for (size_t i = 0; i < n; i++) {
    if (!inside_turn) {
      inside_turn = true;
      eco_sb_puts(out, bos_inside ? "<s>[INST] " : "[INST] ");
    }
    const char *role = msgs[i].role;
    if (!strcmp(role, "system")) {
      if (sys_ok) eco_sb_puts(out, "<<SYS>>\n");
      if (strip)
        put_trimmed(out, msgs[i].content);
      else
        eco_sb_puts(out, msgs[i].content);
      eco_sb_puts(out, sys_ok ? "\n<</SYS>>\n\n" : "\n");
    } else if (!strcmp(role, "user")) {
      if (strip)
        put_trimmed(out, msgs[i].content);
      else
        eco_sb_puts(out, msgs[i].content);
      eco_sb_puts(out, " [/INST]");
    } else {
      if (strip)
        put_trimmed(out, msgs[i].content);
      else
        eco_sb_puts(out, msgs[i].content);
      eco_sb_puts(out, "</s>");
      inside_turn = false;
    }
  }
}

int eco_chat_apply_family(const char *chat_template, const eco_chat_msg *msgs, size_t n,
                          bool add_generation_prompt, const eco_chat_opts *opts, eco_strbuf *out,
                          eco_chat_family *family_out, eco_error *err) {
  eco_chat_family f = ECO_CHAT_CHATML;
  char *default_sys = NULL;
  const eco_logger *lg = opts ? opts->lg : NULL;
  if (family_out) *family_out = ECO_CHAT_CHATML;
  if (!out || (n && !msgs)) return eco_error_set(err, ECO_EINVAL, "chat: no messages or output");
  for (size_t i = 0; i < n; i++)
    if (!msgs[i].role || !msgs[i].content)
      return eco_error_set(err, ECO_EINVAL, "chat: message %zu has no %s", i,
                           msgs[i].role ? "content" : "role");
  int rc = eco_chat_detect(chat_template, &f, &default_sys);
  if (rc == ECO_ENOMEM) return eco_error_set(err, rc, "chat: out of memory");
  if (rc == ECO_ENOENT && chat_template && chat_template[0])
    ECO_WARN(lg, "chat",
             "chat template not recognised (not ChatML, Llama-2, Llama-3, Zephyr or Phi-3); "
             "falling back to ChatML");
  switch (f) {
  case ECO_CHAT_CHATML:
    if (default_sys && n > 0 && strcmp(msgs[0].role, "system") != 0) {
      eco_sb_puts(out, "<|im_start|>system\n");
      eco_sb_puts(out, default_sys);
      eco_sb_puts(out, "<|im_end|>\n");
    }
    for (size_t i = 0; i < n; i++) {
      eco_sb_puts(out, "<|im_start|>");
      eco_sb_puts(out, msgs[i].role);
      eco_sb_puts(out, "\n");
      eco_sb_puts(out, msgs[i].content);
      eco_sb_puts(out, "<|im_end|>\n");
    }
    if (add_generation_prompt) eco_sb_puts(out, "<|im_start|>assistant\n");
    break;
  case ECO_CHAT_LLAMA2:
  case ECO_CHAT_LLAMA2_SYS:
  case ECO_CHAT_LLAMA2_SYS_BOS:
  case ECO_CHAT_LLAMA2_SYS_STRIP: put_llama2(msgs, n, f, out); break;
  case ECO_CHAT_LLAMA3:
    for (size_t i = 0; i < n; i++) {
      eco_sb_puts(out, "<|start_header_id|>");
      eco_sb_puts(out, msgs[i].role);
      eco_sb_puts(out, "<|end_header_id|>\n\n");
      put_trimmed(out, msgs[i].content);
      eco_sb_puts(out, "<|eot_id|>");
    }
    if (add_generation_prompt)
      eco_sb_puts(out, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    break;
  case ECO_CHAT_ZEPHYR: {
    const char *eos = opts && opts->eos_text                ? opts->eos_text
                      : has(chat_template, "<|endoftext|>") ? "<|endoftext|>"
                                                            : "</s>";
    for (size_t i = 0; i < n; i++) {
      eco_sb_printf(out, "<|%s|>\n", msgs[i].role);
      eco_sb_puts(out, msgs[i].content);
      eco_sb_puts(out, eos);
      eco_sb_puts(out, "\n");
    }
    if (add_generation_prompt) eco_sb_puts(out, "<|assistant|>\n");
    break;
  }
  case ECO_CHAT_PHI3:
  case ECO_CHAT_JINJA:
    for (size_t i = 0; i < n; i++) {
      eco_sb_printf(out, "<|%s|>\n", msgs[i].role);
      eco_sb_puts(out, msgs[i].content);
      eco_sb_puts(out, "<|end|>\n");
    }
    if (add_generation_prompt) eco_sb_puts(out, "<|assistant|>\n");
    break;
  }
  free(default_sys);
  if (family_out) *family_out = f;
  if (out->oom) return eco_error_set(err, ECO_ENOMEM, "chat: out of memory");
  return ECO_OK;
}
