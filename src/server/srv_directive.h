/* ecoinfer: generation directives in the node server (and the router).
 *
 * The level of one request is decided from, in order:
 *   1. the opt-out header `x-ecoinfer-directive: off` -> level 0;
 *   2. `x-ecoinfer-directive-level: N`, set by an upstream router (an
 *      integer; anything else is ignored);
 *   3. otherwise the node's configured level (directive.level for chat,
 *      directive.completion_level for raw prompts; both default 0);
 * then lowered to the route's cap (eco_directive_effective_level).
 *
 * Chat requests get the level's instruction merged into their system
 * message by eco_directive_apply; raw prompts (/v1/completions) get it
 * prepended as "<instruction>\n\n<prompt>". Pure apart from allocation. */
#ifndef ECO_SERVER_SRV_DIRECTIVE_H
#define ECO_SERVER_SRV_DIRECTIVE_H

#include "directive/directive.h"
#include "engine/chat.h"
#include "util/config.h"
#include "util/status.h"

#include <stdbool.h>
#include <stddef.h>

/* (The headers' names, ECO_HDR_DIRECTIVE and ECO_HDR_DIRECTIVE_LEVEL, are in
 * src/accounting/wire.h.) */

/* The node's directive settings (config `directive:`). */
typedef struct eco_srv_directive_cfg {
  bool enabled;           /* directive.enabled (default true) */
  eco_directive_cfg dcfg; /* levels and route caps */
  int level;              /* chat level without a router header, directive.level (0) */
  int completion_level;   /* raw-prompt level, directive.completion_level (0) */
} eco_srv_directive_cfg;

/* Defaults: enabled, default levels, level 0 for chat and completions. */
void eco_srv_directive_cfg_default(eco_srv_directive_cfg *c);
/* Reads directive.enabled, directive.level, directive.completion_level and
 * the levels/caps (eco_directive_cfg_load). ECO_ECONFIG on bad values. */
int eco_srv_directive_cfg_load(const eco_cfg *cfg, eco_srv_directive_cfg *out, eco_error *err);

/* Parses a level header value: 0 and *level, or ECO_EINVAL when it is not a
 * non-negative integer (blanks around it allowed). NULL = ECO_EINVAL. */
int eco_srv_directive_parse_level(const char *value, int *level);

/* The level of one request (rules above). route: the request path;
 * level_hdr / optout_hdr: header values or NULL. */
int eco_srv_directive_decide(const eco_srv_directive_cfg *c, bool chat, const char *route,
                             const char *level_hdr, const char *optout_hdr);

/* Applies level to a parsed message list in place: *msgs (malloc'd array
 * whose contents are malloc'd, roles static strings as eco_oai_parse makes
 * them) is replaced by a new array with the directive merged. Level 0
 * leaves it unchanged. 0, ECO_EINVAL, ECO_ENOMEM. */
int eco_srv_directive_apply_msgs(const eco_directive_cfg *c, int level, eco_chat_msg **msgs,
                                 size_t *n, eco_error *err);

/* Prepends the level's instruction and a blank line to *prompt (malloc'd;
 * replaced). Level 0 leaves it unchanged. 0, ECO_EINVAL, ECO_ENOMEM. */
int eco_srv_directive_apply_prompt(const eco_directive_cfg *c, int level, char **prompt,
                                   eco_error *err);

#endif
