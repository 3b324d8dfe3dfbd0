/* ecoinfer: chat prompt rendering from a model's tokenizer.chat_template.
 *
 * The template is rendered with the Jinja interpreter (src/jinja), as
 * transformers renders it, with the variables llama.cpp and transformers
 * pass: messages (role, content), add_generation_prompt, bos_token,
 * eos_token, and the strftime_now() function. A template that cannot be
 * rendered (a syntax error, a construct outside the interpreter's subset,
 * failing on a one-message chat) falls back, with a warning, to a family
 * heuristic: the family is recognised by its marker strings (in the order
 * llama.cpp's llama_chat_detect_template checks them) and rendered by hand,
 * byte-identical to llama_chat_apply_template, plus the default system
 * prompt of ChatML templates that insert one (SmolLM2, Qwen2.5);
 * unrecognised templates get ChatML. See docs/chat-templates.md and
 * docs/tokenizer.md.
 *
 * The rendered text contains the special tokens as text: tokenize it with
 * eco_tokenizer_encode(..., add_special=true, parse_special=true).
 */
#ifndef ECO_ENGINE_CHAT_H
#define ECO_ENGINE_CHAT_H

#include "engine/gguf.h"
#include "engine/tokenizer.h"
#include "util/log.h"
#include "util/status.h"
#include "util/strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef struct eco_chat_msg {
  const char *role;    /* "system", "user", "assistant" (any text for ChatML) */
  const char *content; /* UTF-8 text */
} eco_chat_msg;

typedef enum eco_chat_family {
  ECO_CHAT_CHATML = 0,           /* <|im_start|>role\n...<|im_end|>\n (also the fallback) */
  ECO_CHAT_LLAMA2 = 1,           /* [INST] ... [/INST], system message inlined */
  ECO_CHAT_LLAMA2_SYS = 2,       /* [INST] <<SYS>>\n...\n<</SYS>>\n\n ... [/INST] */
  ECO_CHAT_LLAMA2_SYS_BOS = 3,   /* as LLAMA2_SYS, later turns start with <s> */
  ECO_CHAT_LLAMA2_SYS_STRIP = 4, /* as LLAMA2_SYS, message content trimmed */
  ECO_CHAT_LLAMA3 = 5,           /* <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|> */
  ECO_CHAT_ZEPHYR = 6,           /* <|role|>\n...EOS\n (Zephyr, TinyLlama-Chat) */
  ECO_CHAT_PHI3 = 7,             /* <|role|>\n...<|end|>\n */
  ECO_CHAT_JINJA = 8,            /* the template itself, rendered with the Jinja interpreter */
} eco_chat_family;

/* Optional settings for eco_chat_apply_ex. */
typedef struct eco_chat_opts {
  const char *eos_text; /* the vocabulary's EOS text, for templates that print eos_token;
                           NULL: Jinja gets "", the Zephyr family "</s>" if the template
                           names it, else "<|endoftext|>" (llama.cpp's choice) */
  const eco_logger *lg; /* for the fallback warning; NULL = default logger */
  const char *bos_text; /* the vocabulary's BOS text (bos_token); NULL = "" */
  bool strip_bos;       /* the tokenizer adds BOS itself: a rendered text that starts
                           with bos_text loses it (as llama.cpp does), so that the
                           prompt does not start with two BOS */
  time_t now;           /* the time strftime_now() formats (local time); 0 = now */
  bool family_only;     /* skip Jinja: the family heuristic alone */
} eco_chat_opts;

/* Short name ("chatml", "llama2", "llama2-sys", "llama2-sys-bos",
 * "llama2-sys-strip", "llama3", "zephyr", "phi3", "jinja"). */
const char *eco_chat_family_name(eco_chat_family f);

/* Recognises the family of a template text. Returns 0 and sets *family when
 * recognised; ECO_ENOENT (with *family = ECO_CHAT_CHATML) otherwise or when
 * tmpl is NULL/empty. If default_system is non-NULL it receives a malloc'd
 * default system prompt that the template inserts when the conversation
 * does not start with a system message (NULL if it has none); the caller
 * frees it. ECO_ENOMEM if that copy fails. */
int eco_chat_detect(const char *tmpl, eco_chat_family *family, char **default_system);

/* Renders msgs with the template, appending to out: with Jinja, or with the
 * family heuristic (and one warning to lg) when the template cannot be
 * rendered. chat_template may be NULL (ChatML, no warning).
 * add_generation_prompt appends the assistant turn header. family_out (may
 * be NULL) receives ECO_CHAT_JINJA or the family used. ECO_EINVAL for a
 * message with a NULL role or content, or a conversation the template
 * rejects (raise_exception: err says why); ECO_EOVERFLOW for a render over
 * the interpreter's bounds; ECO_ENOMEM if out could not grow. It parses the
 * template on every call: to render many chats, compile it once with
 * eco_chat_tmpl_new. */
int eco_chat_apply(const char *chat_template, const eco_chat_msg *msgs, size_t n,
                   bool add_generation_prompt, eco_strbuf *out, eco_chat_family *family_out,
                   const eco_logger *lg, eco_error *err);

/* As eco_chat_apply, with options (opts may be NULL). */
int eco_chat_apply_ex(const char *chat_template, const eco_chat_msg *msgs, size_t n,
                      bool add_generation_prompt, const eco_chat_opts *opts, eco_strbuf *out,
                      eco_chat_family *family_out, eco_error *err);

/* Options for a vocabulary: bos_text and eos_text point into bos[64] and
 * eos[64] (the texts of its BOS and EOS tokens, "" when it has none or they
 * are long), strip_bos as the tokenizer adds BOS; lg as given. */
void eco_chat_opts_vocab(const eco_tokenizer *tok, char bos[64], char eos[64], const eco_logger *lg,
                         eco_chat_opts *o);

/* The family heuristic alone (what eco_chat_apply_ex falls back to). */
int eco_chat_apply_family(const char *chat_template, const eco_chat_msg *msgs, size_t n,
                          bool add_generation_prompt, const eco_chat_opts *opts, eco_strbuf *out,
                          eco_chat_family *family_out, eco_error *err);

/* ---- a template compiled once --------------------------------------------- */

typedef struct eco_chat_tmpl eco_chat_tmpl;

/* Parses chat_template (NULL or "" = none: ChatML) once. A template that
 * does not parse is not an error: it falls back to its family, and
 * eco_chat_tmpl_warning says why. ECO_ENOMEM only. */
int eco_chat_tmpl_new(const char *chat_template, eco_chat_tmpl **out, eco_error *err);
void eco_chat_tmpl_free(eco_chat_tmpl *t);

/* Renders a one-message chat ("user": "Hello", with the generation prompt)
 * to check that the template works with these settings; a template that
 * fails falls back to its family from then on, with a warning. Also checks
 * whether it renders a system message (eco_chat_tmpl_no_system). Call it
 * once at load time, with the options later renders use. Returns ECO_OK, or
 * the render's error code when it fell back. */
int eco_chat_tmpl_check(eco_chat_tmpl *t, const eco_chat_opts *opts);

/* Whether eco_chat_tmpl_check found that the template refuses or drops
 * system messages (Gemma): eco_chat_tmpl_apply then puts the system text at
 * the start of the first user message, separated by a blank line, as
 * llama.cpp does. */
bool eco_chat_tmpl_no_system(const eco_chat_tmpl *t);

/* ECO_CHAT_JINJA, or the family it falls back to. */
eco_chat_family eco_chat_tmpl_family(const eco_chat_tmpl *t);
/* Why it falls back, or what in it may fail (an unknown filter); "" when
 * nothing. The text starts "chat template". */
const char *eco_chat_tmpl_warning(const eco_chat_tmpl *t);

/* As eco_chat_apply_ex with the compiled template (thread-safe: t is not
 * changed). A render that fails for a construct outside the interpreter
 * (an unknown filter reached) falls back to the family for this call and
 * logs a warning to opts->lg. */
int eco_chat_tmpl_apply(const eco_chat_tmpl *t, const eco_chat_msg *msgs, size_t n,
                        bool add_generation_prompt, const eco_chat_opts *opts, eco_strbuf *out,
                        eco_chat_family *family_out, eco_error *err);

/* ---- the prompt a model is given (src/engine/chat_prompt.c) ------------------
 * The one prompt builder, used by `ecoinfer run` and the node server's
 * engine backend alike:
 *   the template  is the model's tokenizer.chat_template, read whole,
 *                 compiled and checked once with the vocabulary's options
 *                 (eco_chat_tmpl_load; a fallback is warned once);
 *   a chat        is rendered with it (eco_chat_tmpl_apply, the vocabulary's
 *                 BOS and EOS texts, eco_chat_opts_vocab), then tokenized
 *                 with special tokens parsed and BOS as the tokenizer's
 *                 add_bos says (no EOS after a generation prompt);
 *   a plain       prompt is tokenized as it is (no special-token parsing),
 *                 with BOS/EOS as the tokenizer says. */

/* The chat template of a model (g NULL, or no template: ChatML), compiled
 * and checked with tok's options; why it falls back, if it does, is
 * logged to lg once. ECO_ENOMEM only. */
int eco_chat_tmpl_load(const eco_gguf *g, const eco_tokenizer *tok, const eco_logger *lg,
                       eco_chat_tmpl **out, eco_error *err);

typedef struct eco_prompt_in {
  const eco_chat_msg *msgs;  /* a chat, or NULL for a plain prompt */
  size_t n_msgs;             /* messages */
  const char *text;          /* the plain prompt (msgs NULL) */
  const eco_chat_tmpl *tmpl; /* a chat's template, from eco_chat_tmpl_load */
  size_t max_ids;            /* more ids than this: ECO_ECONTEXT (0 = no limit) */
  const eco_logger *lg;      /* a warning while rendering this chat (NULL = default) */
} eco_prompt_in;

typedef struct eco_prompt {
  eco_strbuf text; /* the text as rendered */
  int32_t *ids;    /* its token ids, malloc'd */
  size_t n_ids;
} eco_prompt;

/* Builds *out from in with tok. ECO_EINVAL for a bad message, a chat the
 * template rejects or a prompt of no tokens, ECO_ECONTEXT past max_ids,
 * ECO_EOVERFLOW for a render over the interpreter's bounds, ECO_ENOMEM;
 * err says which. */
int eco_chat_prompt(const eco_tokenizer *tok, const eco_prompt_in *in, eco_prompt *out,
                    eco_error *err);
void eco_chat_prompt_free(eco_prompt *p);

#endif
