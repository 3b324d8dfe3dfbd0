/* ecoinfer directives: the pairwise judge prompt (Sprout's protocol).
 *
 * Sprout's offline evaluator asks a judge model which of two answers to
 * one instruction is preferred, AlpacaFarm-style: the instruction, then
 * "Output (a)" and "Output (b)", and the judge answers with exactly one of
 * the two names. Every pair is asked twice with the answers swapped, to
 * cancel the judge's position bias: a level wins a pair only when both
 * orders agree; otherwise the pair is a tie.
 *
 * The prompt below is ecoinfer's own wording of that protocol. Its layout
 * is fixed, so an endpoint that answers from recorded labels (the replay
 * judge, src/server/backend_replay.h) can read the instruction and the two
 * answers back with eco_judge_pair_parse. Pure: no I/O, no clock. */
#ifndef ECO_DIRECTIVE_JUDGE_H
#define ECO_DIRECTIVE_JUDGE_H

#include "util/status.h"

#include <stddef.h>

/* The judge's system message. */
const char *eco_judge_system_prompt(void);

/* The user message asking for a preference between answer a and answer b
 * to instruction; malloc'd, NULL on allocation failure. */
char *eco_judge_pair_prompt(const char *instruction, const char *a, const char *b);

/* Reads a prompt made by eco_judge_pair_prompt back: the instruction and
 * the two answers as pointers into text with their lengths. 0, or
 * ECO_EFORMAT when text is not such a prompt. */
int eco_judge_pair_parse(const char *text, const char **instr, size_t *instr_len, const char **a,
                         size_t *a_len, const char **b, size_t *b_len);

/* The judge's reply: 0 = Output (a), 1 = Output (b), -1 = neither or both
 * named (no decision). Case-insensitive; "(a)"/"(b)" or a lone "a"/"b" on
 * its own also count. */
int eco_judge_parse_reply(const char *reply);

/* Combines the two orders of one pair: v_ab is the reply with level x shown
 * as (a), v_ba with x shown as (b). Returns 0 = x preferred, 1 = y
 * preferred, -1 = tie or no decision. */
int eco_judge_combine(int v_ab, int v_ba);

#endif
