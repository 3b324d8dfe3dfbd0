/* ecoinfer: configuration.
 *
 * One YAML file format for every component (node, router, devices, carbon
 * providers, directives), parsed with libyaml into a tree of nodes that
 * remember their line and column. Values are looked up by dotted path:
 * "carbon.provider", "nodes.0.url" (a number indexes a sequence).
 *
 * Precedence, highest first:
 *   1. eco_cfg_set()  (command-line flags)
 *   2. environment    ECOINFER_<PATH>, path upper-cased with '.' and '-' -> '_'
 *                     e.g. carbon.pue -> ECOINFER_CARBON_PUE
 *   3. the file
 *   4. the default the caller passes
 *
 * Every error names where the bad value came from: "FILE:LINE:COL: key
 * 'carbon.pue': expected a number, got 'abc'", or the environment variable,
 * or the flag. The message is kept in the eco_error the call receives.
 */
#ifndef ECO_UTIL_CONFIG_H
#define ECO_UTIL_CONFIG_H

#include "util/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum eco_cfg_kind {
  ECO_CFG_NULL = 0,
  ECO_CFG_SCALAR = 1,
  ECO_CFG_MAP = 2,
  ECO_CFG_SEQ = 3,
} eco_cfg_kind;

typedef struct eco_cfg_node eco_cfg_node;
struct eco_cfg_node {
  eco_cfg_kind kind;
  char *key;             /* key in the parent map; NULL for sequence items/root */
  char *path;            /* full dotted path, "" for the root */
  char *value;           /* scalar text (kind SCALAR), else NULL */
  int line, col;         /* 1-based position of the value in the file, 0 if synthetic */
  int key_line, key_col; /* 1-based position of the key (map entries), else = line/col */
  eco_cfg_node **items;  /* children: map entries or sequence items */
  size_t n_items;
};

typedef struct eco_cfg eco_cfg;

/* Loads a YAML file. On a syntax error returns ECO_ECONFIG with
 * "FILE:LINE:COL: problem" in err. */
int eco_cfg_load_file(const char *path, eco_cfg **out, eco_error *err);
/* Parses YAML text; name is used in messages in place of a file name. */
int eco_cfg_load_string(const char *text, const char *name, eco_cfg **out, eco_error *err);
/* An empty configuration (all defaults; env and overrides still apply). */
int eco_cfg_new_empty(eco_cfg **out);
void eco_cfg_free(eco_cfg *cfg);

/* The file name given at load time ("" for an empty config). */
const char *eco_cfg_source(const eco_cfg *cfg);

/* Disables environment overrides (tests). Enabled by default. */
void eco_cfg_use_env(eco_cfg *cfg, bool on);

/* Sets an override for a scalar path (command-line flags). origin names it in
 * error messages, e.g. "--port". */
int eco_cfg_set(eco_cfg *cfg, const char *path, const char *value, const char *origin);

/* The node at path below base (base NULL = root), or NULL if absent. */
const eco_cfg_node *eco_cfg_find(const eco_cfg *cfg, const eco_cfg_node *base, const char *path);

/* Scalar getters. base may be NULL (root). A missing key yields def and 0.
 * A present value of the wrong shape returns ECO_ECONFIG with the location.
 * Strings returned stay valid until eco_cfg_free(). */
int eco_cfg_str(const eco_cfg *cfg, const eco_cfg_node *base, const char *path, const char *def,
                const char **out, eco_error *err);
int eco_cfg_double(const eco_cfg *cfg, const eco_cfg_node *base, const char *path, double def,
                   double *out, eco_error *err);
int eco_cfg_int(const eco_cfg *cfg, const eco_cfg_node *base, const char *path, int64_t def,
                int64_t *out, eco_error *err);
int eco_cfg_bool(const eco_cfg *cfg, const eco_cfg_node *base, const char *path, bool def,
                 bool *out, eco_error *err);
/* Durations: "250ms", "30s", "5m", "24h", "7d" or a bare number of seconds. */
int eco_cfg_duration(const eco_cfg *cfg, const eco_cfg_node *base, const char *path, double def_s,
                     double *out_s, eco_error *err);

/* Range-checked getters: as eco_cfg_int / eco_cfg_double, then a value
 * outside [lo, hi] is ECO_ECONFIG naming where it came from and the key:
 * "c.yaml:3:9: key 'router.port': 70000 is out of range [0, 65535]". */
int eco_cfg_int_range(const eco_cfg *cfg, const eco_cfg_node *base, const char *path, int64_t def,
                      int64_t lo, int64_t hi, int64_t *out, eco_error *err);
int eco_cfg_double_range(const eco_cfg *cfg, const eco_cfg_node *base, const char *path, double def,
                         double lo, double hi, double *out, eco_error *err);
/* Copies a string value (or def; NULL = "") into buf[cap]. A value that does
 * not fit is an error, never cut: "key 'router.admin_token': longer than
 * 127 characters". */
int eco_cfg_strcpy(const eco_cfg *cfg, const eco_cfg_node *base, const char *path, const char *def,
                   char *buf, size_t cap, eco_error *err);
/* Where the value of path comes from, for messages about a value that is
 * well-formed but wrong: "c.yaml:3:9: key 'router.policy'", "environment
 * ECOINFER_ROUTER_POLICY", "option --policy"; absent (the default): the
 * position of base, "c.yaml:4:5: key 'dns.0.port'", or the file alone. */
void eco_cfg_origin(const eco_cfg *cfg, const eco_cfg_node *base, const char *path, char *buf,
                    size_t cap);

/* Fails with the position of the first key of map node that is not in
 * allowed[] (catches typos). A NULL or null node passes; a list or a
 * scalar is an error ("expected a mapping"). */
int eco_cfg_check_keys(const eco_cfg *cfg, const eco_cfg_node *node, const char *const *allowed,
                       size_t n_allowed, eco_error *err);

/* ---- schemas ------------------------------------------------------------
 * A schema says which keys a section may hold and the shape of each value.
 * Checking a file against it catches typos at every level ("routerr:",
 * "router: {prot: 1}") and shape errors ("router:" given as a list), with
 * FILE:LINE:COL and the key. Scalar types are checked by the getters. */
typedef enum eco_cfg_shape {
  ECO_CFG_S_VALUE = 0,        /* a scalar (or null) */
  ECO_CFG_S_MAP = 1,          /* a mapping with the keys in items[] */
  ECO_CFG_S_LIST = 2,         /* a list whose elements follow items[0] */
  ECO_CFG_S_DICT = 3,         /* a mapping of free keys whose values follow items[0] */
  ECO_CFG_S_VALUE_OR_MAP = 4, /* a scalar, or a mapping with the keys in items[] */
} eco_cfg_shape;

typedef struct eco_cfg_schema {
  const char *key; /* key in the parent mapping; NULL for list elements and dict values */
  eco_cfg_shape shape;
  const struct eco_cfg_schema *items;
  size_t n_items;
} eco_cfg_schema;

#define ECO_CFG_VALUE(k)                                                                           \
  { (k), ECO_CFG_S_VALUE, NULL, 0 }
#define ECO_CFG_SHAPED(k, s, arr)                                                                  \
  { (k), (s), (arr), sizeof(arr) / sizeof((arr)[0]) }

/* Checks the subtree at node (the root: eco_cfg_find(cfg, NULL, "")) against
 * schema: unknown keys
 * ("FILE:L:C: unknown key 'router.prot' (did you mean 'port'?)") and wrong
 * shapes ("FILE:L:C: key 'router': expected a mapping, got a list"). A
 * missing or null node passes. */
int eco_cfg_check_schema(const eco_cfg *cfg, const eco_cfg_node *node, const eco_cfg_schema *schema,
                         eco_error *err);
/* True if the dotted path (list indexes as numbers) is a place the schema
 * allows. */
bool eco_cfg_schema_knows(const eco_cfg_schema *schema, const char *path);

/* Formats "FILE:LINE:COL" for a node into buf. */
void eco_cfg_where(const eco_cfg *cfg, const eco_cfg_node *node, char *buf, size_t cap);

/* Parses a duration string as above. */
int eco_parse_duration(const char *s, double *out_s);

#endif
