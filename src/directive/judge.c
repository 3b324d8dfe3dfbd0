/* The pairwise judge prompt (see judge.h). */
#include "directive/judge.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEAD                                                                                       \
  "Choose the preferred output for the instruction below. Judge accuracy first, then "             \
  "helpfulness and clarity; a shorter output is not worse for being short. Answer with exactly "   \
  "\"Output (a)\" or \"Output (b)\" and nothing else.\n\n"
#define M_INSTR "## Instruction:\n"
#define M_A     "\n\n## Output (a):\n"
#define M_B     "\n\n## Output (b):\n"
#define M_END   "\n\n## Preferred output:\n"

const char *eco_judge_system_prompt(void) {
  return "You are a careful evaluator who selects the better of two AI outputs for an instruction.";
}

char *eco_judge_pair_prompt(const char *instruction, const char *a, const char *b) {
  if (!instruction || !a || !b) return NULL;
  size_t n = strlen(HEAD M_INSTR M_A M_B M_END) + strlen(instruction) + strlen(a) + strlen(b) + 1;
  char *p = malloc(n);
  if (p) snprintf(p, n, HEAD M_INSTR "%s" M_A "%s" M_B "%s" M_END, instruction, a, b);
  return p;
}

int eco_judge_pair_parse(const char *text, const char **instr, size_t *instr_len, const char **a,
                         size_t *a_len, const char **b, size_t *b_len) {
  if (!text || strncmp(text, HEAD, strlen(HEAD)) != 0) return ECO_EFORMAT;
  const char *i0 = text + strlen(HEAD);
  if (strncmp(i0, M_INSTR, strlen(M_INSTR)) != 0) return ECO_EFORMAT;
  i0 += strlen(M_INSTR);
  /* the answers may contain the markers themselves: take the first (a)
   * marker after the instruction, the last (b) marker and the last end */
  const char *ma = strstr(i0, M_A);
  const char *end = NULL, *mb = NULL;
  for (const char *p = ma; p && (p = strstr(p + 1, M_B));)
    mb = p;
  for (const char *p = mb; p && (p = strstr(p + 1, M_END));)
    end = p;
  if (!ma || !mb || !end || strlen(end) != strlen(M_END)) return ECO_EFORMAT;
  *instr = i0, *instr_len = (size_t)(ma - i0);
  *a = ma + strlen(M_A), *a_len = (size_t)(mb - *a);
  *b = mb + strlen(M_B), *b_len = (size_t)(end - *b);
  return 0;
}

/* true when needle occurs case-insensitively in s */
static bool has_ci(const char *s, const char *needle) {
  size_t n = strlen(needle);
  for (; *s; s++)
    if (strncasecmp(s, needle, n) == 0) return true;
  return false;
}

int eco_judge_parse_reply(const char *reply) {
  if (!reply) return -1;
  bool a = has_ci(reply, "(a)"), b = has_ci(reply, "(b)");
  if (a != b) return a ? 0 : 1;
  if (a && b) return -1;
  /* a lone letter: "a", "B." */
  const char *p = reply;
  while (isspace((unsigned char)*p) || *p == '"' || *p == '\'')
    p++;
  int v = tolower((unsigned char)*p) == 'a' ? 0 : tolower((unsigned char)*p) == 'b' ? 1 : -1;
  if (v < 0) return -1;
  p++;
  while (*p == '.' || *p == '"' || *p == '\'' || isspace((unsigned char)*p))
    p++;
  return *p ? -1 : v;
}

int eco_judge_combine(int v_ab, int v_ba) {
  if (v_ab < 0 || v_ba < 0) return -1;
  /* in the swapped order, x is (b): the judge prefers x when it says 1 */
  int x_first = v_ab == 0, x_second = v_ba == 1;
  if (x_first && x_second) return 0;
  if (!x_first && !x_second) return 1;
  return -1;
}
