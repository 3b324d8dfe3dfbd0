/* ecoinfer: the helpers the Jinja evaluator's two files share. Private to
 * jj_eval.c (errors, limits, names, access, operators, calls, expressions)
 * and jj_exec.c (statements, macro bodies, the render entry point). */
#ifndef ECO_JINJA_JJ_EVAL_INTERNAL_H
#define ECO_JINJA_JJ_EVAL_INTERNAL_H

#include "jinja/jj_internal.h"

#include <stdbool.h>
#include <stddef.h>

/* ---- jj_eval.c ----------------------------------------------------------- */

/* Fails rt with ECO_EOVERFLOW: the template's memory limit; returns the code. */
int jj_oom(jj_rt *rt);
/* Counts one evaluation step; false (rt failed) past the step limit. */
bool jj_step(jj_rt *rt);
/* The value of name: the scopes innermost first, the context, the globals;
 * an undefined value naming it when none has it. */
jv jj_lookup(jj_rt *rt, const jj_str *name);

/* ---- jj_exec.c ----------------------------------------------------------- */

/* Calls macro node m with npos positional args then nkw keyword args (names
 * kw); the value is the macro body's output as a string. */
jv jj_call_macro(jj_rt *rt, const jj_node *m, jv *args, size_t npos, const jj_str **kw, size_t nkw);

#endif
