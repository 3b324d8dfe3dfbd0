/* ecoinfer: chat prompt rendering from a model's tokenizer.chat_template.
 *
 * No Jinja engine: the template text is only used to recognise the family
 * (by its marker strings, in the order llama.cpp's llm_chat_detect_template
 * checks them), and each family is rendered by hand, byte-identical to
 * llama_chat_apply_template. One addition: ChatML templates that insert a
 * default system prompt when the conversation has none (SmolLM2-Instruct:
 * "You are a helpful AI assistant named SmolLM, trained by Hugging Face";
 * Qwen2.5) get that prompt, as the template itself renders it (llama.cpp
 * leaves it out). Unrecognised templates fall back to ChatML with a
 * warning. See docs/tokenizer.md.
 *
 * The rendered text contains the special tokens as text: tokenize it with
 * eco_tokenizer_encode(..., add_special=true, parse_special=true).
 */
#ifndef ECO_ENGINE_CHAT_H
#define ECO_ENGINE_CHAT_H

#include "util/log.h"
#include "util/status.h"
#include "util/strbuf.h"

#include <stdbool.h>
#include <stddef.h>

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
} eco_chat_family;

/* Optional settings for eco_chat_apply_ex. */
typedef struct eco_chat_opts {
  const char *eos_text; /* the vocabulary's EOS text, for templates that print eos_token
                           (Zephyr); NULL = "</s>" if the template names it, else
                           "<|endoftext|>" (llama.cpp's choice) */
  const eco_logger *lg; /* for the fallback warning; NULL = default logger */
} eco_chat_opts;

/* Short name ("chatml", "llama2", "llama2-sys", "llama2-sys-bos",
 * "llama2-sys-strip", "llama3", "zephyr", "phi3"). */
const char *eco_chat_family_name(eco_chat_family f);

/* Recognises the family of a template text. Returns 0 and sets *family when
 * recognised; ECO_ENOENT (with *family = ECO_CHAT_CHATML) otherwise or when
 * tmpl is NULL/empty. If default_system is non-NULL it receives a malloc'd
 * default system prompt that the template inserts when the conversation
 * does not start with a system message (NULL if it has none); the caller
 * frees it. ECO_ENOMEM if that copy fails. */
int eco_chat_detect(const char *tmpl, eco_chat_family *family, char **default_system);

/* Renders msgs with the template's family, appending to out.
 * chat_template may be NULL (ChatML, no warning). An unrecognised template
 * renders as ChatML and logs one warning to lg (NULL = default logger).
 * add_generation_prompt appends the assistant turn header (Llama-2 has
 * none, as in llama.cpp). family_out (may be NULL) receives the family
 * used. ECO_EINVAL for a message with a NULL role or content;
 * ECO_ENOMEM if out could not grow. */
int eco_chat_apply(const char *chat_template, const eco_chat_msg *msgs, size_t n,
                   bool add_generation_prompt, eco_strbuf *out, eco_chat_family *family_out,
                   const eco_logger *lg, eco_error *err);

/* As eco_chat_apply, with options (opts may be NULL). */
int eco_chat_apply_ex(const char *chat_template, const eco_chat_msg *msgs, size_t n,
                      bool add_generation_prompt, const eco_chat_opts *opts, eco_strbuf *out,
                      eco_chat_family *family_out, eco_error *err);

#endif
