/* ecoinfer directives: what evaluator.c and eval_pair.c share. Private to
 * src/directive. */
#ifndef ECO_DIRECTIVE_EVAL_INTERNAL_H
#define ECO_DIRECTIVE_EVAL_INTERNAL_H

#include "directive/evaluator.h"

#include <jansson.h>

/* POSTs a chat request (messages borrowed) to url/v1/chat/completions;
 * returns the first choice's content (malloc'd) or NULL, and adds the
 * request, its completion tokens and its energy (reported, else
 * j_per_token per token, marked estimated) to *acc. */
char *eco_eval_chat(const eco_eval_cfg *cfg, const char *url, const char *model, json_t *messages,
                    eco_eval_outcome *acc);
/* The same with the directive level in the x-ecoinfer-directive-level
 * header (level >= 0), for an ecoinfer node that applies it itself. */
char *eco_eval_chat_level(const eco_eval_cfg *cfg, const char *url, const char *model,
                          json_t *messages, int level, eco_eval_outcome *acc);

#endif
