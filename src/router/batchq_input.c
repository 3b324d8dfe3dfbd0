/* ecoinfer: the batch queue's input files: the completion window, the
 * JSON Lines parser (pure, the fuzzer's entry point) and validation of a
 * stored input. See batchq.h. */
#include "router/batchq_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINES 50000

/* ---- validation ----------------------------------------------------------- */

int eco_batchq_parse_window(const char *s, double *seconds, eco_error *err) {
  if (!s || !*s || !seconds) return eco_error_set(err, ECO_EINVAL, "completion_window is empty");
  double total = 0;
  const char *p = s;
  while (*p) {
    if (!isdigit((unsigned char)*p))
      return eco_error_set(err, ECO_EINVAL,
                           "completion_window '%s': expected a duration like 24h, 90m, 2d", s);
    char *end = NULL;
    double v = strtod(p, &end);
    if (end == p) return eco_error_set(err, ECO_EINVAL, "completion_window '%s': bad number", s);
    double mult;
    switch (*end) {
    case 's': mult = 1; break;
    case 'm': mult = 60; break;
    case 'h': mult = 3600; break;
    case 'd': mult = 86400; break;
    case 'w': mult = 7 * 86400; break;
    default:
      return eco_error_set(err, ECO_EINVAL, "completion_window '%s': unit must be s, m, h, d or w",
                           s);
    }
    total += v * mult;
    p = end + 1;
  }
  if (!(total > 0) || total > 365.0 * 86400)
    return eco_error_set(err, ECO_ERANGE, "completion_window '%s' must lie in (0, 365d]", s);
  *seconds = total;
  return 0;
}

static int endpoint_ok(const char *e) {
  return strcmp(e, "/v1/chat/completions") == 0 || strcmp(e, "/v1/completions") == 0 ||
         strcmp(e, "/v1/embeddings") == 0 || strcmp(e, "/v1/responses") == 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One line: a JSON object with custom_id, method POST, url = endpoint and
 * an object body; *obj receives it. */
static int parse_line(const char *p, size_t ll, int64_t lineno, const char *endpoint, json_t **obj,
                      eco_error *err) {
  json_error_t je;
  *obj = json_loadb(p, ll, 0, &je);
  if (!*obj || !json_is_object(*obj))
    return eco_error_set(err, ECO_EFORMAT, "input line %lld: not a JSON object (%s)",
                         (long long)lineno, *obj ? "other JSON value" : je.text);
  const char *cid = json_string_value(json_object_get(*obj, "custom_id"));
  const char *method = json_string_value(json_object_get(*obj, "method"));
  const char *url = json_string_value(json_object_get(*obj, "url"));
  if (!cid || !*cid)
    return eco_error_set(err, ECO_EFORMAT, "input line %lld: custom_id must be a non-empty string",
                         (long long)lineno);
  if (!method || strcmp(method, "POST") != 0)
    return eco_error_set(err, ECO_EFORMAT, "input line %lld: method must be \"POST\"",
                         (long long)lineno);
  if (!url || strcmp(url, endpoint) != 0)
    return eco_error_set(err, ECO_EFORMAT,
                         "input line %lld: url '%.200s' differs from the batch endpoint '%s'",
                         (long long)lineno, url ? url : "", endpoint);
  if (!json_is_object(json_object_get(*obj, "body")))
    return eco_error_set(err, ECO_EFORMAT, "input line %lld: body must be a JSON object",
                         (long long)lineno);
  return 0;
}

/* custom_ids must be unique: sorted, neighbours compared. */
static int check_unique(char **ids, size_t n, eco_error *err) {
  qsort(ids, n, sizeof *ids, cmp_str);
  for (size_t i = 1; i < n; i++)
    if (strcmp(ids[i - 1], ids[i]) == 0)
      return eco_error_set(err, ECO_EFORMAT, "custom_id '%.200s' appears more than once", ids[i]);
  return 0;
}

static int check_endpoint(const char *endpoint, eco_error *err) {
  if (endpoint && endpoint_ok(endpoint)) return 0;
  return eco_error_set(err, ECO_EINVAL,
                       "endpoint '%.200s' not supported (/v1/chat/completions, /v1/completions, "
                       "/v1/embeddings, /v1/responses)",
                       endpoint ? endpoint : "");
}

int eco_batchq_parse_input(const char *data, size_t len, const char *endpoint,
                           eco_batchq_line_fn fn, void *user, int64_t *n_out, eco_error *err) {
  if (check_endpoint(endpoint, err)) return ECO_EINVAL;
  size_t cap_ids = 64, n_ids = 0;
  char **ids = malloc(cap_ids * sizeof *ids);
  json_t *obj = NULL;
  int64_t n = 0, lineno = 0;
  int rc = 0;
  if (!ids) return eco_error_set(err, ECO_ENOMEM, "batchq: out of memory");
  for (const char *p = data, *end = data + len; p < end && !rc;) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl : end;
    lineno++;
    size_t ll = (size_t)(le - p);
    while (ll && (p[ll - 1] == '\r' || p[ll - 1] == ' ' || p[ll - 1] == '\t'))
      ll--;
    if (ll == 0) {
      p = le + 1;
      continue;
    }
    if ((rc = parse_line(p, ll, lineno, endpoint, &obj, err))) break;
    if (++n > MAX_LINES) {
      rc = eco_error_set(err, ECO_EOVERFLOW, "input has more than %d requests", MAX_LINES);
      break;
    }
    const char *cid = json_string_value(json_object_get(obj, "custom_id"));
    if (n_ids == cap_ids) {
      char **g = realloc(ids, 2 * cap_ids * sizeof *ids);
      if (!g) {
        rc = eco_error_set(err, ECO_ENOMEM, "batchq: out of memory");
        break;
      }
      ids = g;
      cap_ids *= 2;
    }
    if (!(ids[n_ids] = strdup(cid))) {
      rc = eco_error_set(err, ECO_ENOMEM, "batchq: out of memory");
      break;
    }
    n_ids++;
    if (fn) {
      char *b = json_dumps(json_object_get(obj, "body"), JSON_COMPACT | JSON_PRESERVE_ORDER);
      rc = b ? fn(user, n - 1, cid, b, err) : eco_error_set(err, ECO_ENOMEM, "out of memory");
      free(b);
    }
    json_decref(obj);
    obj = NULL;
    p = le + 1;
  }
  if (!rc && n == 0) rc = eco_error_set(err, ECO_EFORMAT, "the input holds no requests");
  if (!rc) rc = check_unique(ids, n_ids, err);
  if (!rc) *n_out = n;
  json_decref(obj);
  for (size_t i = 0; i < n_ids; i++)
    free(ids[i]);
  free(ids);
  return rc;
}

/* Checks a stored input file and calls fn for each request when given. */
int bq_scan_input(eco_batchq *q, const char *file_id, const char *endpoint, eco_batchq_line_fn fn,
                  void *user, int64_t *n_out, eco_error *err) {
  if (check_endpoint(endpoint, err)) return ECO_EINVAL;
  eco_batchq_file f;
  int rc = eco_batchq_file_get(q, file_id, &f, err);
  if (rc) return rc;
  if (strcmp(f.purpose, "batch") != 0)
    return eco_error_set(err, ECO_EINVAL, "file %s has purpose '%s', not 'batch'", file_id,
                         f.purpose);
  char *data = NULL;
  size_t len = 0;
  if ((rc = eco_batchq_file_content(q, file_id, &data, &len, err))) return rc;
  rc = eco_batchq_parse_input(data, len, endpoint, fn, user, n_out, err);
  if (rc == ECO_EFORMAT && strstr(err ? err->msg : "", "holds no requests"))
    eco_error_set(err, ECO_EFORMAT, "input file %s holds no requests", file_id);
  free(data);
  return rc;
}

int eco_batchq_validate(eco_batchq *q, const char *input_file_id, const char *endpoint,
                        int64_t *n_requests, eco_error *err) {
  if (!q || !input_file_id || !n_requests)
    return eco_error_set(err, ECO_EINVAL, "batchq: NULL argument");
  return bq_scan_input(q, input_file_id, endpoint, NULL, NULL, n_requests, err);
}
