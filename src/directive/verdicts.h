/* ecoinfer directives: the live judge's verdicts.
 *
 * Each verdict (one sampled live request, its answers regenerated at every
 * level, judged pairwise: evaluator.h) is one row of a SQLite table, so the
 * evaluator's work survives restarts. From the rows come:
 *   - the preference rate of each level per group (the directive model's
 *     groups, "label/bucket", dserve.h): wins / decided verdicts;
 *   - the classifier's training data: one JSON line per verdict in the
 *     format `ecoinfer directive train` reads (dtrain.h): the prompt, the
 *     judge's preferred level, the energy and time of each level, and
 *     "verdict_id", "model", "group" as extra keys.
 * A handle is used by one thread at a time. */
#ifndef ECO_DIRECTIVE_VERDICTS_H
#define ECO_DIRECTIVE_VERDICTS_H

#include "directive/directive.h"
#include "util/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct eco_verdicts eco_verdicts;

typedef struct eco_verdict {
  double time_s;      /* when it was judged, Unix s */
  const char *model;  /* the served model the answers came from */
  const char *group;  /* the request's group ("" = unknown) */
  const char *prompt; /* the user prompt (no directive) */
  int served_level;   /* the level the live request got, -1 = unknown */
  int preferred;      /* the judge's preferred level, -1 = no decision */
  size_t n_levels;
  double energy_j[ECO_DIRECTIVE_MAX_LEVELS];  /* J of each level's answer, < 0 = unknown */
  double time_s_lv[ECO_DIRECTIVE_MAX_LEVELS]; /* s of each level's answer, < 0 = unknown */
  double judge_energy_j;                      /* J the judge's requests spent */
} eco_verdict;

/* Opens (creates) the store. ECO_EIO with the path on failure. */
int eco_verdicts_open(const char *path, eco_verdicts **out, eco_error *err);
void eco_verdicts_close(eco_verdicts *v);

/* Appends one verdict in its own transaction; *id (may be NULL) gets its row id. */
int eco_verdicts_add(eco_verdicts *v, const eco_verdict *r, int64_t *id, eco_error *err);

/* The preference rates of group (NULL = every verdict) over n_levels:
 * pref[l] = verdicts preferring l / decided verdicts; *n_decided = decided
 * verdicts (pref all 0 when none). */
int eco_verdicts_rates(eco_verdicts *v, const char *group, size_t n_levels, double *pref,
                       int64_t *n_decided, eco_error *err);

/* Verdicts stored, decided ones. */
int eco_verdicts_count(eco_verdicts *v, int64_t *n, int64_t *n_decided, eco_error *err);

/* Writes every decided verdict with id > after_id to f as training-data
 * lines; *n (may be NULL) gets how many. */
int eco_verdicts_export(eco_verdicts *v, FILE *f, int64_t after_id, int64_t *n, eco_error *err);

/* One verdict's training-data line (no newline), malloc'd; NULL on
 * allocation failure. */
char *eco_verdict_dtrain_line(const eco_verdict *r, int64_t id);

#endif
