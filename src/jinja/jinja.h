/* ecoinfer: a Jinja interpreter for chat templates.
 *
 * Renders the subset of Jinja2 that model chat templates use, with the
 * semantics Hugging Face transformers gives them (an immutable sandbox with
 * trim_blocks, lstrip_blocks and loop controls; tojson without key sorting
 * or ASCII escaping; raise_exception and strftime_now globals), so the output
 * is byte-identical to what transformers renders. Supported:
 *   statements  if/elif/else, for (else, `if` filter, tuple targets, loop.*),
 *               set (names, tuples, namespace attributes, block set), macro
 *               (positional/keyword arguments, defaults), filter blocks,
 *               break/continue, generation (rendered as its body);
 *   expressions literals, lists, tuples, dicts, attribute/item access,
 *               slices, calls, filters, tests, arithmetic, comparisons,
 *               `in`, `~`, and/or/not, conditional expressions;
 *   filters, tests, string/dict/list methods and the globals namespace,
 *               range, dict, raise_exception and strftime_now (see
 *               docs/chat-templates.md for the list);
 *   whitespace  {%- -%} {{- -}} {#- -#}, {%+ +%}, trim_blocks, lstrip_blocks.
 * What it cannot render is a clear error with the line and column: a tag
 * outside the subset when parsing; an unknown filter or test when rendering
 * reaches it (as Jinja2 does), noted at parse time (eco_jinja_notes).
 *
 * Templates in model files are untrusted: the template size, the work
 * (evaluation steps, loop iterations), the nesting and call depth, the
 * memory and the output size are all bounded (eco_jinja_limits). Nothing
 * here depends on the engine; values come in as a jansson object.
 */
#ifndef ECO_JINJA_JINJA_H
#define ECO_JINJA_JINJA_H

#include "util/status.h"
#include "util/strbuf.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef struct eco_jinja_tmpl eco_jinja_tmpl;

/* Bounds on the work one template may do. Zero fields take the defaults. */
typedef struct eco_jinja_limits {
  size_t max_template; /* bytes of template text (default 1 MiB) */
  size_t max_output;   /* bytes of rendered text, captures included (default 32 MiB) */
  size_t max_memory;   /* bytes of values made while rendering (default 256 MiB) */
  uint64_t max_steps;  /* evaluation steps, loop iterations included (default 20 M) */
  unsigned max_depth;  /* nesting of expressions and blocks, and of macro calls
                          (default 200 to parse, 64 macro calls) */
} eco_jinja_limits;

/* Render-time settings. */
typedef struct eco_jinja_render_opts {
  eco_jinja_limits limits; /* zero = defaults */
  time_t now;              /* the time strftime_now() formats (seconds since the epoch) */
  int utc;                 /* nonzero: strftime_now formats UTC, else local time */
} eco_jinja_render_opts;

/* Parses a template (len bytes of UTF-8; need not be NUL-terminated).
 * limits may be NULL (defaults). Errors: ECO_EFORMAT for a syntax error,
 * ECO_EUNSUPPORTED for a construct outside the subset (extends, include,
 * import, raw blocks, recursive loops, *args in calls), ECO_EOVERFLOW for a template
 * over max_template or nested deeper than max_depth; err->msg then reads
 * "line L, column C: ...". */
int eco_jinja_parse(const char *src, size_t len, const eco_jinja_limits *limits,
                    eco_jinja_tmpl **out, eco_error *err);

void eco_jinja_free(eco_jinja_tmpl *t);

/* What in a parsed template will fail if rendering reaches it (Jinja2 too
 * reports an unknown filter or test only when it is reached): "" if
 * nothing, else e.g. "line 90, column 33: unknown filter 'from_json'
 * (rendering fails where it is reached)". */
const char *eco_jinja_notes(const eco_jinja_tmpl *t);

/* Renders t with the variables of the JSON object vars (NULL = none),
 * appending to out. On error out keeps what it had before the call.
 * Errors: ECO_EINVAL for a run-time error (a type error, an undefined value
 * used, raise_exception: err->msg is then "line L, column C: template
 * raised: <message>"), ECO_EOVERFLOW when a limit is hit, ECO_ENOMEM. */
int eco_jinja_render(const eco_jinja_tmpl *t, const json_t *vars, const eco_jinja_render_opts *opts,
                     eco_strbuf *out, eco_error *err);

#endif
