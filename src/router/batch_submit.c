/* ecoinfer router: batches the router submits itself (the quality loop's
 * regenerations), through the same file store, checks, plan and queue as
 * the HTTP handlers (see batch_api.h). */
#include "router/batch_internal.h"

#include "util/timeutil.h"

#include <stdlib.h>
#include <string.h>

const char *eco_batch_api_db(const eco_batch_api *b) { return b ? b->cfg.db_path : NULL; }

int eco_batch_api_submit(eco_batch_api *b, eco_batchq *q, const eco_batch_submit *s,
                         eco_batchq_batch *out, eco_error *err) {
  if (!b || !q || !s || !s->jsonl || !s->endpoint || !s->window || !out)
    return eco_error_set(err, ECO_EINVAL, "batch: bad submission");
  double window = 0, now = eco_time_wall_s(), pg = 0, rg = 0;
  int64_t n = 0;
  eco_batchq_assign *as = NULL;
  eco_batchq_file f;
  int rc;
  if ((rc = eco_batchq_parse_window(s->window, &window, err)) ||
      (rc = eco_batchq_file_create(q, "batch", s->filename ? s->filename : "router.jsonl", s->jsonl,
                                   s->len, now, &f, err)) ||
      (rc = eco_batchq_validate(q, f.id, s->endpoint, &n, err)))
    return rc;
  if (n == 0) return eco_error_set(err, ECO_EINVAL, "batch: the input has no requests");
  if (b->n_zones == 0) return eco_error_set(err, ECO_EINVAL, "batch: the router has no nodes");
  if ((rc = bapi_plan(b, q, NULL, n, now, now + window, &as, &pg, &rg, err))) return rc;
  eco_batchq_create c = {.input_file_id = f.id,
                         .endpoint = s->endpoint,
                         .completion_window = s->window,
                         .metadata_json = s->metadata_json,
                         .now_s = now,
                         .assign = as,
                         .n_assign = (size_t)n,
                         .planned_g = pg,
                         .run_now_g = rg};
  rc = eco_batchq_batch_create(q, &c, out, err);
  free(as);
  return rc;
}
