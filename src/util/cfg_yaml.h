/* ecoinfer: the YAML reader behind util/config.h (internal to util).
 *
 * Builds the configuration tree from libyaml's event stream, not from
 * libyaml's document loader, so that hostile files are stopped early:
 *   - nesting deeper than ECO_CFG_MAX_DEPTH (64) stops at the 65th opening,
 *     before the scanner's cost grows with the depth (100k-deep flow
 *     sequences took quadratic time);
 *   - aliases are expanded by copying the anchored subtree, and every node,
 *     copied or not, counts against ECO_CFG_MAX_NODES (100,000) and every
 *     byte of keys, paths and values against ECO_CFG_MAX_TEXT (16 MiB): a
 *     "billion laughs" file fails at once instead of growing without bound;
 *   - keys are scalars of at most ECO_CFG_MAX_KEY bytes, without '.', and
 *     unique in their mapping (checked by sorting, not pairwise);
 *   - one document per file.
 * Every error names FILE:LINE:COL. */
#ifndef ECO_UTIL_CFG_YAML_H
#define ECO_UTIL_CFG_YAML_H

#include "util/config.h"

#include <yaml.h>

#define ECO_CFG_MAX_DEPTH 64
#define ECO_CFG_MAX_NODES 100000
#define ECO_CFG_MAX_TEXT  (16u << 20)
#define ECO_CFG_MAX_KEY   256

/* Reads the first document of parser into *root (NULL for an empty
 * document). ECO_ECONFIG with "SOURCE:LINE:COL: problem" in err. */
int eco_cfg_yaml_build(yaml_parser_t *parser, const char *source, eco_cfg_node **root,
                       eco_error *err);
void eco_cfg_node_free(eco_cfg_node *n);

#endif
