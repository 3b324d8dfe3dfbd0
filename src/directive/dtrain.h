/* ecoinfer directives: training data of the directive model, as JSON lines.
 *
 * One JSON object per line (blank lines and lines starting with '#' are
 * skipped):
 *
 *   {"prompt": "Which British city has ...?",      text the classifier reads, or
 *    "messages": [{"role": "user", "content": "..."}],   an OpenAI chat array
 *    "label": "triviaqa",         class (group family); absent or null = none
 *    "preferred": 1,              judge's preferred level; absent/null/-1 = none
 *    "energy_j": [1208.8, 280.0, 186.8],   J per request at each level (optional)
 *    "time_s": [4.86, 1.13, 0.75]}         s per request at each level (with energy_j)
 *
 * Other keys are ignored, so producers may add their own (the live judge
 * loop adds e.g. "model", "verdict_id"). A record needs a prompt and at
 * least a label or a verdict. From "messages" the text is what the router
 * classifies (eco_dtrain_request_text): the last user message.
 *
 * The Sprout prompts with their dataset as the label are one such file
 * (`ecoinfer directive export --sprout DIR`); the live judge's verdicts are
 * another (no label: they update the preference rates of the group the
 * classifier predicts, see eco_dmodel_refit_groups). */
#ifndef ECO_DIRECTIVE_DTRAIN_H
#define ECO_DIRECTIVE_DTRAIN_H

#include "directive/dmodel.h"

#include <jansson.h>
#include <stddef.h>

#define ECO_DTRAIN_MAX_LINE   ((size_t)4 << 20) /* bytes of one JSON line */
#define ECO_DTRAIN_MAX_PROMPT ((size_t)1 << 20) /* bytes of one prompt */
#define ECO_DTRAIN_MAX_RECS   ((size_t)10000000)

typedef struct eco_dtrain_set {
  eco_dtrain_rec *rec; /* [n]; rec[i].text owned by the set */
  size_t n, cap;
  size_t n_levels;                                          /* levels every cost array must have */
  char label[ECO_DCLASS_MAX_CLASSES][ECO_DCLASS_LABEL_MAX]; /* in order of first use */
  size_t n_labels;
} eco_dtrain_set;

void eco_dtrain_init(eco_dtrain_set *s, size_t n_levels);
void eco_dtrain_free(eco_dtrain_set *s);

/* The class index of label in the set, added when new. ECO_EINVAL when the
 * label is empty, too long or holds a control character, a quote or a
 * backslash; ECO_EOVERFLOW past ECO_DCLASS_MAX_CLASSES labels. */
int eco_dtrain_label(eco_dtrain_set *s, const char *label, eco_error *err);

/* Appends one record (text copied; label NULL = none; preferred -1 = none;
 * energy_j/time_s NULL or n_levels values). */
int eco_dtrain_add(eco_dtrain_set *s, const char *text, size_t len, const char *label,
                   int preferred, const double *energy_j, const double *time_s, eco_error *err);

/* Parses one JSON line and appends its record; 0 for a skipped line too.
 * ECO_EFORMAT with the reason in err. */
int eco_dtrain_parse_line(eco_dtrain_set *s, const char *line, size_t len, eco_error *err);

/* Reads a JSONL file ("-" = stdin); errors name the line. */
int eco_dtrain_load(eco_dtrain_set *s, const char *path, eco_error *err);

/* One record as a JSON line (no newline), malloc'd; for producers such as
 * the judge loop. label may be NULL, preferred -1, energy_j/time_s NULL. */
char *eco_dtrain_format(const char *text, const char *label, int preferred, const double *energy_j,
                        const double *time_s, size_t n_levels);

/* The text the classifier reads from an OpenAI request body: the last
 * "user" message of "messages" (string content, or its text parts joined
 * by newlines into buf when content is an array), else a string "prompt"
 * (or the first string of a prompt array). Returns a pointer into body or
 * buf and its length; NULL when there is none. */
const char *eco_dtrain_request_text(const json_t *body, char *buf, size_t cap, size_t *len);

#endif
