/* ecoinfer directives: levels, and applying a level to a chat request.
 *
 * A directive level L asks the model to answer more briefly: level 0 adds
 * nothing, level L > 0 adds the configured instruction as a system message,
 * merged with the request's own system message (the directive first, then a
 * blank line, then the client's text) so that there is still exactly one
 * system message, first in the list.
 *
 * Config (YAML, see docs/directives.md):
 *   directive:
 *     levels: ["", "Always answer briefly", "Always answer very briefly"]
 *     routes: { "/v1/chat/completions": 2, "/v1/legal": 0 }   # per-route caps
 *
 * A client opts out of any directive for one request with the header
 *   x-ecoinfer-directive: off
 * All functions are pure: no I/O, no clock, no globals. */
#ifndef ECO_DIRECTIVE_DIRECTIVE_H
#define ECO_DIRECTIVE_DIRECTIVE_H

#include "directive/plan.h"
#include "util/config.h"
#include "util/status.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define ECO_DIRECTIVE_TEXT_MAX   256
#define ECO_DIRECTIVE_MAX_ROUTES 32

typedef struct eco_directive_route_cap {
  char route[128]; /* exact request path, e.g. "/v1/chat/completions" */
  int max_level;   /* highest level allowed on this route, >= 0 */
} eco_directive_route_cap;

typedef struct eco_directive_cfg {
  size_t n_levels;                                             /* >= 1; level 0 = none */
  char text[ECO_DIRECTIVE_MAX_LEVELS][ECO_DIRECTIVE_TEXT_MAX]; /* instruction per level */
  size_t n_routes;
  eco_directive_route_cap routes[ECO_DIRECTIVE_MAX_ROUTES];
  int default_cap; /* cap for routes not listed, default n_levels - 1 */
} eco_directive_cfg;

/* Defaults: L0 none, L1 "Always answer briefly", L2 "Always answer very
 * briefly"; no route caps. */
void eco_directive_cfg_default(eco_directive_cfg *cfg);

/* Reads directive.levels (sequence of strings; the first must be "") and
 * directive.routes (map route -> max level) and directive.default_cap from
 * cfg; absent keys keep the defaults. ECO_ECONFIG with the location on bad
 * values. */
int eco_directive_cfg_load(const eco_cfg *cfg, eco_directive_cfg *out, eco_error *err);
/* The schema of directive: (every key the node, the router and the
 * simulator read), for a whole-file check of a configuration (src/cli). */
const eco_cfg_schema *eco_directive_cfg_sections(size_t *n);

/* Reads the optimizer's settings: directive.xi (0..1), directive.ci_min and
 * directive.ci_max (gCO2/kWh; both absent = keep the caller's values, e.g.
 * the trace's extremes), directive.embodied_g and directive.life_years,
 * directive.period (duration, default 1h) and directive.threshold
 * (relative intensity change that forces a re-plan, default 0.1).
 * ECO_ECONFIG on bad values. Either output may be NULL. */
int eco_directive_plan_cfg_load(const eco_cfg *cfg, eco_plan_cfg *plan, eco_replan_cfg *replan,
                                eco_error *err);

/* The cap for a route (exact match, else default_cap). */
int eco_directive_route_cap_for(const eco_directive_cfg *cfg, const char *route);

/* True when the header value opts out ("off", "none", "0", "false";
 * case-insensitive, surrounding blanks ignored). NULL = not present. */
bool eco_directive_opted_out(const char *header_value);

/* The level to apply: the planned level, lowered to the route's cap, or 0
 * when the client opted out. */
int eco_directive_effective_level(const eco_directive_cfg *cfg, int planned, const char *route,
                                  const char *header_value);

/* Applies level to an OpenAI-style message array in place (messages is a
 * JSON array of {"role","content"} objects). Level 0 leaves it unchanged.
 * Merges into an existing first system message whose content is a string;
 * otherwise inserts a new system message at the front. Returns 0, or
 * ECO_EINVAL when level is out of range or messages is not an array of
 * objects, ECO_ENOMEM. */
int eco_directive_apply(const eco_directive_cfg *cfg, int level, json_t *messages, eco_error *err);

#endif
