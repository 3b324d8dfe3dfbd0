/* Tests for src/router/batchq: validation, the batch life cycle, leases,
 * exactly-once completion, cancel, expiry, and durability under kill -9 of
 * a worker process (forked here) mid-batch. */
#include "testutil.h"

#include "router/batchq.h"
#include "util/status.h"

#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#define EP "/v1/chat/completions"

static char *line_for(const char *cid) {
#define LINE_FMT                                                                                   \
  "{\"custom_id\":\"%s\",\"method\":\"POST\",\"url\":\"" EP                                        \
  "\",\"body\":{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi %s\"}]}}\n"
  size_t n = strlen(LINE_FMT) + 2 * strlen(cid) + 1;
  char *s = malloc(n);
  assert_non_null(s);
  snprintf(s, n, LINE_FMT, cid, cid);
  return s;
}

static char *jsonl(int n) {
  size_t cap = (size_t)n * 256 + 1, len = 0;
  char *buf = malloc(cap);
  assert_non_null(buf);
  buf[0] = '\0';
  for (int i = 0; i < n; i++) {
    char cid[32];
    snprintf(cid, sizeof cid, "req-%d", i);
    char *l = line_for(cid);
    size_t ll = strlen(l);
    assert_true(len + ll < cap);
    memcpy(buf + len, l, ll + 1);
    len += ll;
    free(l);
  }
  return buf;
}

static eco_batchq *open_q(const char *dir) {
  char *p = eco_test_path(dir, "q.db");
  eco_batchq *q = NULL;
  eco_error err = {0};
  assert_int_equal(eco_batchq_open(p, &q, &err), 0);
  free(p);
  return q;
}

static void test_window(void **state) {
  (void)state;
  double s;
  eco_error err = {0};
  assert_int_equal(eco_batchq_parse_window("24h", &s, &err), 0);
  assert_true(s == 86400);
  assert_int_equal(eco_batchq_parse_window("90m", &s, &err), 0);
  assert_true(s == 5400);
  assert_int_equal(eco_batchq_parse_window("2d", &s, &err), 0);
  assert_true(s == 172800);
  assert_int_equal(eco_batchq_parse_window("1h30m", &s, &err), 0);
  assert_true(s == 5400);
  assert_int_equal(eco_batchq_parse_window("45s", &s, &err), 0);
  assert_true(s == 45);
  const char *bad[] = {"", "24", "h", "-1h", "0h", "24x", "1h 2m", "400d"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_not_equal(eco_batchq_parse_window(bad[i], &s, &err), 0);
}

static int validate_text(eco_batchq *q, const char *text, eco_error *err) {
  eco_batchq_file f;
  assert_int_equal(
      eco_batchq_file_create(q, "batch", "in.jsonl", text, strlen(text), 1000, &f, err), 0);
  int64_t n = 0;
  return eco_batchq_validate(q, f.id, EP, &n, err);
}

static void test_validate(void **state) {
  (void)state;
  char *dir = eco_test_tmpdir();
  eco_batchq *q = open_q(dir);
  eco_error err = {0};
  eco_batchq_file f;
  assert_int_equal(eco_batchq_file_create(q, "fine-tune", "x", "{}", 2, 0, &f, &err), ECO_EINVAL);
  char *good = jsonl(3);
  assert_int_equal(
      eco_batchq_file_create(q, "batch", "in.jsonl", good, strlen(good), 1000, &f, &err), 0);
  assert_string_equal(f.purpose, "batch");
  assert_int_equal(f.bytes, (int64_t)strlen(good));
  int64_t n = 0;
  assert_int_equal(eco_batchq_validate(q, f.id, EP, &n, &err), 0);
  assert_int_equal(n, 3);
  assert_int_equal(eco_batchq_validate(q, f.id, "/v1/embeddings", &n, &err), ECO_EFORMAT);
  assert_non_null(strstr(err.msg, "line 1"));
  assert_int_equal(eco_batchq_validate(q, f.id, "/v2/x", &n, &err), ECO_EINVAL);
  assert_int_equal(eco_batchq_validate(q, "file-nope", EP, &n, &err), ECO_ENOENT);
  char *content;
  size_t len;
  assert_int_equal(eco_batchq_file_content(q, f.id, &content, &len, &err), 0);
  assert_string_equal(content, good);
  free(content);
  free(good);

  char *l1 = line_for("a"), *l2 = line_for("a");
  char buf[2048];
  snprintf(buf, sizeof buf, "%s\n%s", l1, l2); /* duplicate custom_id, a blank line between */
  assert_int_equal(validate_text(q, buf, &err), ECO_EFORMAT);
  assert_non_null(strstr(err.msg, "custom_id 'a' appears more than once"));
  free(l1);
  free(l2);
  assert_int_equal(
      validate_text(q, "{\"custom_id\":\"x\",\"method\":\"GET\",\"url\":\"" EP "\",\"body\":{}}\n",
                    &err),
      ECO_EFORMAT);
  assert_non_null(strstr(err.msg, "line 1: method"));
  assert_int_equal(
      validate_text(q, "\n{\"method\":\"POST\",\"url\":\"" EP "\",\"body\":{}}\n", &err),
      ECO_EFORMAT);
  assert_non_null(strstr(err.msg, "line 2: custom_id"));
  assert_int_equal(
      validate_text(
          q, "{\"custom_id\":\"x\",\"method\":\"POST\",\"url\":\"" EP "\",\"body\":[1]}\n", &err),
      ECO_EFORMAT);
  assert_non_null(strstr(err.msg, "body must be a JSON object"));
  assert_int_equal(validate_text(q, "not json\n", &err), ECO_EFORMAT);
  assert_int_equal(validate_text(q, "\n\n", &err), ECO_EFORMAT);
  assert_non_null(strstr(err.msg, "no requests"));
  eco_batchq_close(q);
  eco_test_rmtree(dir);
  free(dir);
}

static void ok_result(eco_batchq_result *r, const char *body, double g) {
  memset(r, 0, sizeof *r);
  r->status_code = 200;
  r->body_json = body;
  r->receipt_json = "{\"total_g\":0.5,\"intensity_source\":\"trace:GB\"}";
  r->carbon_g = g;
}

/* Three requests: two due now (t=1000), one planned at t=5000. */
static void test_flow(void **state) {
  (void)state;
  char *dir = eco_test_tmpdir();
  eco_batchq *q = open_q(dir);
  eco_error err = {0};
  char *in = jsonl(3);
  eco_batchq_file f;
  assert_int_equal(eco_batchq_file_create(q, "batch", "in.jsonl", in, strlen(in), 1000, &f, &err),
                   0);
  free(in);
  eco_batchq_assign as[3] = {{.not_before_s = 1000, .zone = "GB", .predicted_g = 1},
                             {.not_before_s = 5000, .zone = "DE-LU", .predicted_g = 2},
                             {.not_before_s = 1000, .zone = "GB", .predicted_g = 1}};
  eco_batchq_create c = {.input_file_id = f.id,
                         .endpoint = EP,
                         .completion_window = "2h",
                         .metadata_json = "{\"job\":\"nightly\"}",
                         .now_s = 1000,
                         .assign = as,
                         .n_assign = 3,
                         .planned_g = 4,
                         .run_now_g = 6};
  /* A plan beyond the deadline (1000 + 2h) is refused. */
  as[1].not_before_s = 1000 + 7201;
  eco_batchq_batch b;
  assert_int_equal(eco_batchq_batch_create(q, &c, &b, &err), ECO_ERANGE);
  as[1].not_before_s = 5000;
  c.n_assign = 2;
  assert_int_equal(eco_batchq_batch_create(q, &c, &b, &err), ECO_EINVAL);
  c.n_assign = 3;
  assert_int_equal(eco_batchq_batch_create(q, &c, &b, &err), 0);
  assert_string_equal(b.status, "in_progress");
  assert_int_equal(b.total, 3);
  assert_int_equal(b.expires_at, 1000 + 7200);
  json_t *o = eco_batchq_batch_json(&b);
  assert_non_null(o);
  assert_string_equal(json_string_value(json_object_get(o, "object")), "batch");
  assert_true(json_real_value(json_object_get(o, "carbon_run_now_g")) == 6.0);
  assert_true(json_is_null(json_object_get(o, "output_file_id")));
  assert_string_equal(json_string_value(json_object_get(json_object_get(o, "metadata"), "job")),
                      "nightly");
  json_decref(o);

  eco_batchq_work *w;
  size_t n;
  assert_int_equal(eco_batchq_claim(q, "w1", 1000, 60, 10, &w, &n, &err), 0);
  assert_int_equal(n, 2);
  assert_string_equal(w[0].custom_id, "req-0");
  assert_string_equal(w[1].custom_id, "req-2");
  assert_string_equal(w[0].zone, "GB");
  assert_string_equal(w[0].url, EP);
  assert_int_equal(w[0].attempt, 1);
  assert_non_null(strstr(w[0].body_json, "hi req-0"));
  eco_batchq_result r;
  bool dup;
  ok_result(&r, "{\"choices\":[{\"message\":{\"content\":\"a\"}}]}", 0.5);
  assert_int_equal(eco_batchq_complete(q, b.id, "req-0", &r, 1010, &dup, &err), 0);
  assert_false(dup);
  /* Same result again: a duplicate, nothing changes. */
  assert_int_equal(eco_batchq_complete(q, b.id, "req-0", &r, 1011, &dup, &err), 0);
  assert_true(dup);
  assert_int_equal(eco_batchq_complete(q, b.id, "nope", &r, 1011, &dup, &err), ECO_ENOENT);
  eco_batchq_result bad = r;
  bad.body_json = "{not json";
  assert_int_equal(eco_batchq_complete(q, b.id, "req-2", &bad, 1011, &dup, &err), ECO_EFORMAT);
  /* req-2 fails at the node. */
  eco_batchq_result fail = {.status_code = 500,
                            .body_json = "{\"error\":\"boom\"}",
                            .error_code = "node_error",
                            .error_message = "boom",
                            .carbon_g = 0.25};
  assert_int_equal(eco_batchq_complete(q, b.id, "req-2", &fail, 1012, &dup, &err), 0);
  eco_batchq_work_free(w, n);
  /* Nothing else is due before 5000. */
  assert_int_equal(eco_batchq_claim(q, "w1", 4999, 60, 10, &w, &n, &err), 0);
  assert_int_equal(n, 0);
  eco_batchq_work_free(w, n);
  eco_batchq_batch_clear(&b);
  char id[ECO_BATCHQ_ID_MAX];
  snprintf(id, sizeof id, "%s", c.input_file_id);
  assert_int_equal(eco_batchq_claim(q, "w2", 5000, 60, 10, &w, &n, &err), 0);
  assert_int_equal(n, 1);
  assert_string_equal(w[0].custom_id, "req-1");
  assert_string_equal(w[0].zone, "DE-LU");
  char bid[ECO_BATCHQ_ID_MAX];
  snprintf(bid, sizeof bid, "%s", w[0].batch_id);
  ok_result(&r, "{\"choices\":[]}", 0.5);
  assert_int_equal(eco_batchq_complete(q, bid, "req-1", &r, 5001, &dup, &err), 0);
  eco_batchq_work_free(w, n);

  assert_int_equal(eco_batchq_batch_get(q, bid, &b, &err), 0);
  assert_string_equal(b.status, "completed");
  assert_int_equal(b.completed, 2);
  assert_int_equal(b.failed, 1);
  assert_int_equal(b.completed_at, 5001);
  assert_true(fabs(b.carbon_spent_g - 1.25) < 1e-12);
  assert_true(b.output_file_id[0] && b.error_file_id[0]);
  char *out;
  size_t len;
  assert_int_equal(eco_batchq_file_content(q, b.output_file_id, &out, &len, &err), 0);
  /* Two lines, input order, each with its response and carbon receipt. */
  char *nl = strchr(out, '\n');
  assert_non_null(nl);
  *nl = '\0';
  json_t *l0 = json_loads(out, 0, NULL);
  json_t *l1 = json_loads(nl + 1, 0, NULL);
  assert_non_null(l0);
  assert_non_null(l1);
  assert_string_equal(json_string_value(json_object_get(l0, "custom_id")), "req-0");
  assert_string_equal(json_string_value(json_object_get(l1, "custom_id")), "req-1");
  assert_int_equal(
      json_integer_value(json_object_get(json_object_get(l0, "response"), "status_code")), 200);
  assert_true(json_is_null(json_object_get(l0, "error")));
  assert_true(json_real_value(json_object_get(json_object_get(l0, "carbon"), "total_g")) == 0.5);
  json_decref(l0);
  json_decref(l1);
  free(out);
  assert_int_equal(eco_batchq_file_content(q, b.error_file_id, &out, &len, &err), 0);
  assert_non_null(strstr(out, "\"custom_id\":\"req-2\""));
  assert_non_null(strstr(out, "\"code\":\"node_error\""));
  assert_null(strchr(out, '\n') + 1 == out + len ? NULL : "more than one line");
  free(out);
  eco_batchq_file of;
  assert_int_equal(eco_batchq_file_get(q, b.output_file_id, &of, &err), 0);
  assert_string_equal(of.purpose, "batch_output");
  /* An ended batch cannot be cancelled. */
  assert_int_equal(eco_batchq_cancel(q, bid, 6000, NULL, &err), ECO_ESTATE);
  assert_non_null(strstr(err.msg, "completed"));
  eco_batchq_batch_clear(&b);
  eco_batchq_close(q);
  eco_test_rmtree(dir);
  free(dir);
}

static void make_batch(eco_batchq *q, int n, double now, const char *window, char *bid,
                       size_t cap) {
  eco_error err = {0};
  char *in = jsonl(n);
  eco_batchq_file f;
  assert_int_equal(eco_batchq_file_create(q, "batch", "in", in, strlen(in), now, &f, &err), 0);
  free(in);
  eco_batchq_create c = {
      .input_file_id = f.id, .endpoint = EP, .completion_window = window, .now_s = now};
  eco_batchq_batch b;
  assert_int_equal(eco_batchq_batch_create(q, &c, &b, &err), 0);
  snprintf(bid, cap, "%s", b.id);
  eco_batchq_batch_clear(&b);
}

/* A lapsed lease hands the request out again; the first result wins. */
static void test_lease(void **state) {
  (void)state;
  char *dir = eco_test_tmpdir();
  eco_batchq *q = open_q(dir);
  eco_error err = {0};
  char bid[ECO_BATCHQ_ID_MAX];
  make_batch(q, 1, 0, "24h", bid, sizeof bid);
  eco_batchq_work *w;
  size_t n;
  assert_int_equal(eco_batchq_claim(q, "a", 0, 10, 5, &w, &n, &err), 0);
  assert_int_equal(n, 1);
  eco_batchq_work_free(w, n);
  assert_int_equal(eco_batchq_claim(q, "b", 9, 10, 5, &w, &n, &err), 0);
  assert_int_equal(n, 0);
  eco_batchq_work_free(w, n);
  assert_int_equal(eco_batchq_claim(q, "b", 10, 10, 5, &w, &n, &err), 0);
  assert_int_equal(n, 1);
  assert_int_equal(w[0].attempt, 2);
  eco_batchq_work_free(w, n);
  eco_batchq_result r;
  ok_result(&r, "{\"by\":\"b\"}", 1);
  bool dup;
  assert_int_equal(eco_batchq_complete(q, bid, "req-0", &r, 11, &dup, &err), 0);
  assert_false(dup);
  ok_result(&r, "{\"by\":\"a\"}", 1);
  assert_int_equal(eco_batchq_complete(q, bid, "req-0", &r, 12, &dup, &err), 0);
  assert_true(dup);
  eco_batchq_batch b;
  assert_int_equal(eco_batchq_batch_get(q, bid, &b, &err), 0);
  assert_string_equal(b.status, "completed");
  assert_int_equal(b.completed, 1);
  assert_true(b.carbon_spent_g == 1.0);
  char *out;
  size_t len;
  assert_int_equal(eco_batchq_file_content(q, b.output_file_id, &out, &len, &err), 0);
  assert_non_null(strstr(out, "\"by\":\"b\""));
  assert_null(strstr(out, "\"by\":\"a\""));
  free(out);
  eco_batchq_batch_clear(&b);
  eco_batchq_close(q);
  eco_test_rmtree(dir);
  free(dir);
}

static void test_cancel_expire(void **state) {
  (void)state;
  char *dir = eco_test_tmpdir();
  eco_batchq *q = open_q(dir);
  eco_error err = {0};
  char bid[ECO_BATCHQ_ID_MAX];
  make_batch(q, 3, 0, "1h", bid, sizeof bid);
  eco_batchq_work *w;
  size_t n;
  assert_int_equal(eco_batchq_claim(q, "a", 0, 60, 1, &w, &n, &err), 0);
  assert_int_equal(n, 1);
  eco_batchq_batch b;
  assert_int_equal(eco_batchq_cancel(q, bid, 5, &b, &err), 0);
  assert_string_equal(b.status, "cancelling");
  assert_int_equal(b.cancelling_at, 5);
  eco_batchq_batch_clear(&b);
  /* No new claims from a cancelling batch; the running one may finish. */
  eco_batchq_work *w2;
  size_t n2;
  assert_int_equal(eco_batchq_claim(q, "b", 100, 60, 5, &w2, &n2, &err), 0);
  assert_int_equal(n2, 0);
  eco_batchq_work_free(w2, n2);
  eco_batchq_result r;
  ok_result(&r, "{}", 0.1);
  bool dup;
  assert_int_equal(eco_batchq_complete(q, bid, w[0].custom_id, &r, 20, &dup, &err), 0);
  eco_batchq_work_free(w, n);
  assert_int_equal(eco_batchq_batch_get(q, bid, &b, &err), 0);
  assert_string_equal(b.status, "cancelled");
  assert_int_equal(b.cancelled_at, 20);
  assert_int_equal(b.completed, 1);
  assert_true(b.output_file_id[0]);
  eco_batchq_batch_clear(&b);
  assert_int_equal(eco_batchq_cancel(q, bid, 30, NULL, &err), ECO_ESTATE);

  /* Expiry: a 1 h batch planned late (no plan: all due at 0) never run. */
  make_batch(q, 2, 0, "1h", bid, sizeof bid);
  int ne = -1;
  assert_int_equal(eco_batchq_expire(q, 3599, &ne, &err), 0);
  assert_int_equal(ne, 0);
  assert_int_equal(eco_batchq_expire(q, 3600, &ne, &err), 0);
  assert_int_equal(ne, 1);
  assert_int_equal(eco_batchq_batch_get(q, bid, &b, &err), 0);
  assert_string_equal(b.status, "expired");
  assert_int_equal(b.failed, 2);
  assert_int_equal(b.expired_at, 3600);
  char *out;
  size_t len;
  assert_int_equal(eco_batchq_file_content(q, b.error_file_id, &out, &len, &err), 0);
  assert_non_null(strstr(out, "batch_expired"));
  free(out);
  eco_batchq_batch_clear(&b);
  eco_batchq_close(q);
  eco_test_rmtree(dir);
  free(dir);
}

/* A plan (shift.h) expands into per-request start times and zones, and a
 * replan moves the pending ones. */
static void test_assign(void **state) {
  (void)state;
  eco_shift_cell cells[2] = {{.slot = 0, .zone = 1, .count = 1, .cost_g = 3},
                             {.slot = 2, .zone = 0, .count = 2, .cost_g = 1}};
  eco_shift_plan plan = {.cells = cells, .n_cells = 2, .n_requests = 3};
  const char *names[2] = {"GB", "FR"};
  eco_batchq_assign *a = NULL;
  eco_error err = {0};
  assert_int_equal(eco_batchq_assign_from_plan(&plan, 3600, 3600, 4000, names, 2, &a, &err), 0);
  assert_true(a[0].not_before_s == 4000); /* slot 0 already started: now */
  assert_string_equal(a[0].zone, "FR");
  assert_true(a[1].not_before_s == 3600 + 2 * 3600);
  assert_string_equal(a[2].zone, "GB");
  assert_true(a[2].predicted_g == 1);

  char *dir = eco_test_tmpdir();
  eco_batchq *q = open_q(dir);
  char bid[ECO_BATCHQ_ID_MAX];
  make_batch(q, 3, 4000, "24h", bid, sizeof bid);
  int64_t pend = 0;
  assert_int_equal(eco_batchq_count_pending(q, bid, &pend, &err), 0);
  assert_int_equal(pend, 3);
  assert_int_equal(eco_batchq_reassign(q, bid, a, 2, &err), ECO_EINVAL);
  assert_int_equal(eco_batchq_reassign(q, bid, a, 3, &err), 0);
  eco_batchq_work *w;
  size_t n;
  assert_int_equal(eco_batchq_claim(q, "x", 4000, 60, 10, &w, &n, &err), 0);
  assert_int_equal(n, 1);
  assert_string_equal(w[0].zone, "FR");
  eco_batchq_work_free(w, n);
  free(a);
  eco_batchq_close(q);
  eco_test_rmtree(dir);
  free(dir);
}

/* The capacity ledger and the batch list. */
static void test_load_list(void **state) {
  (void)state;
  eco_shift_cell cells[2] = {{.slot = 0, .zone = 1, .count = 1, .cost_g = 3},
                             {.slot = 2, .zone = 0, .count = 2, .cost_g = 1}};
  eco_shift_plan plan = {.cells = cells, .n_cells = 2, .n_requests = 3};
  const char *names[2] = {"GB", "FR"};
  eco_batchq_assign *a = NULL;
  eco_error err = {0};
  assert_int_equal(eco_batchq_assign_from_plan(&plan, 3600, 3600, 4000, names, 2, &a, &err), 0);
  char *dir = eco_test_tmpdir();
  eco_batchq *q = open_q(dir);
  char b1[ECO_BATCHQ_ID_MAX], b2[ECO_BATCHQ_ID_MAX];
  make_batch(q, 3, 4000, "24h", b1, sizeof b1);
  assert_int_equal(eco_batchq_reassign(q, b1, a, 3, &err), 0);
  make_batch(q, 2, 4001, "24h", b2, sizeof b2); /* run now, zone "" */

  int64_t used[2 * 4] = {0}; /* [zone][slot] */
  assert_int_equal(eco_batchq_load(q, NULL, 3600, 3600, 4, names, 2, used, &err), 0);
  assert_int_equal(used[1 * 4 + 0], 1); /* FR, slot 0 */
  assert_int_equal(used[0 * 4 + 2], 2); /* GB, slot 2 */
  assert_int_equal(used[0] + used[1] + used[3] + used[4 + 1] + used[4 + 2] + used[4 + 3], 0);
  /* the batch being replanned: its pending requests are left out ... */
  memset(used, 0, sizeof used);
  assert_int_equal(eco_batchq_load(q, b1, 3600, 3600, 4, names, 2, used, &err), 0);
  for (int i = 0; i < 8; i++)
    assert_int_equal(used[i], 0);
  /* ... but what already runs holds its cell, and done work its slot */
  eco_batchq_work *w;
  size_t n;
  assert_int_equal(eco_batchq_claim(q, "x", 4002, 60, 10, &w, &n, &err), 0);
  assert_int_equal(n, 3); /* FR now + the two of b2 */
  bool dup = false;
  eco_batchq_result r;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(w[i].batch_id, b1) != 0) continue;
    ok_result(&r, "{}", 0.5);
    assert_int_equal(eco_batchq_complete(q, b1, w[i].custom_id, &r, 4003, &dup, &err), 0);
  }
  eco_batchq_work_free(w, n);
  memset(used, 0, sizeof used);
  assert_int_equal(eco_batchq_load(q, b1, 3600, 3600, 4, names, 2, used, &err), 0);
  assert_int_equal(used[1 * 4 + 0], 1); /* the FR request ran in slot 0 */
  assert_int_equal(used[0 * 4 + 2], 0);
  memset(used, 0, sizeof used); /* a later grid: the done request is history */
  assert_int_equal(eco_batchq_load(q, b1, 7200, 3600, 4, names, 2, used, &err), 0);
  assert_int_equal(used[1 * 4 + 0], 0);

  char(*ids)[ECO_BATCHQ_ID_MAX] = NULL;
  assert_int_equal(eco_batchq_batch_list(q, NULL, 10, false, &ids, &n, &err), 0);
  assert_int_equal(n, 2);
  assert_string_equal(ids[0], b2); /* newest first */
  assert_string_equal(ids[1], b1);
  free(ids);
  assert_int_equal(eco_batchq_batch_list(q, b2, 10, false, &ids, &n, &err), 0);
  assert_int_equal(n, 1);
  assert_string_equal(ids[0], b1);
  free(ids);
  assert_int_equal(eco_batchq_batch_list(q, NULL, 1, true, &ids, &n, &err), 0);
  assert_int_equal(n, 1);
  free(ids);
  free(a);
  eco_batchq_close(q);
  eco_test_rmtree(dir);
  free(dir);
}

/* ---- kill -9 durability ---------------------------------------------------- */

#define KILL_N 150

/* One worker generation: its clock is gen * 1000 s, so every lease of an
 * earlier (killed) generation (100 s) has lapsed. Exits when nothing is due. */
static void worker(const char *db, int gen) {
  eco_batchq *q = NULL;
  eco_error err = {0};
  if (eco_batchq_open(db, &q, &err)) _exit(3);
  char owner[32];
  snprintf(owner, sizeof owner, "gen-%d", gen);
  double now = gen * 1000.0;
  for (;;) {
    eco_batchq_work *w = NULL;
    size_t n = 0;
    if (eco_batchq_claim(q, owner, now, 100, 3, &w, &n, &err)) _exit(4);
    if (n == 0) break;
    for (size_t i = 0; i < n; i++) {
      usleep(300); /* "inference" */
      char body[128];
      snprintf(body, sizeof body, "{\"echo\":\"%s\",\"gen\":%d}", w[i].custom_id, gen);
      eco_batchq_result r = {.status_code = 200, .body_json = body, .carbon_g = 0.5};
      bool dup;
      if (eco_batchq_complete(q, w[i].batch_id, w[i].custom_id, &r, now, &dup, &err)) _exit(5);
    }
    eco_batchq_work_free(w, n);
  }
  eco_batchq_close(q);
  _exit(0);
}

static void test_kill9(void **state) {
  (void)state;
  char *dir = eco_test_tmpdir();
  char *db = eco_test_path(dir, "q.db");
  eco_error err = {0};
  char bid[ECO_BATCHQ_ID_MAX];
  {
    eco_batchq *q = open_q(dir);
    make_batch(q, KILL_N, 0, "24h", bid, sizeof bid);
    eco_batchq_close(q);
  }
  unsigned seed = 12345;
  int gen = 1, mid_batch_kills = 0;
  int64_t before = 0;
  for (; gen <= 40; gen++) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) worker(db, gen);
    /* Wait until this worker has recorded a new result (so every
     * generation makes progress, on any disk), then kill it 0-3 ms later:
     * mid-claim, mid-transaction or between requests. */
    eco_batchq *q = open_q(dir);
    int st = 0;
    bool exited = false;
    for (int spin = 0; spin < 20000; spin++) {
      eco_batchq_batch b;
      if (eco_batchq_batch_get(q, bid, &b, &err) == 0) {
        int64_t c = b.completed;
        eco_batchq_batch_clear(&b);
        if (c > before) break;
      }
      if (waitpid(pid, &st, WNOHANG) == pid) {
        exited = true;
        break;
      }
      usleep(500);
    }
    seed = seed * 1103515245u + 12345u;
    usleep((seed >> 16) % 3000);
    if (!exited) {
      kill(pid, SIGKILL);
      assert_int_equal(waitpid(pid, &st, 0), pid);
    }
    eco_batchq_batch b;
    assert_int_equal(eco_batchq_batch_get(q, bid, &b, &err), 0);
    bool done = strcmp(b.status, "completed") == 0;
    if (WIFSIGNALED(st) && !done) mid_batch_kills++;
    before = b.completed;
    eco_batchq_batch_clear(&b);
    eco_batchq_close(q);
    if (done) break;
  }
  /* A last worker runs to the end undisturbed. */
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) worker(db, gen + 1);
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  print_message("kill9: %d generations, %d kills mid-batch\n", gen, mid_batch_kills);
  assert_true(mid_batch_kills >= 3);

  eco_batchq *q = open_q(dir);
  eco_batchq_batch b;
  assert_int_equal(eco_batchq_batch_get(q, bid, &b, &err), 0);
  assert_string_equal(b.status, "completed");
  assert_int_equal(b.completed, KILL_N);
  assert_int_equal(b.failed, 0);
  assert_true(fabs(b.carbon_spent_g - 0.5 * KILL_N) < 1e-9);
  char *out;
  size_t len;
  assert_int_equal(eco_batchq_file_content(q, b.output_file_id, &out, &len, &err), 0);
  int seen[KILL_N] = {0}, lines = 0;
  for (char *save = NULL, *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
    json_t *o = json_loads(l, 0, NULL);
    assert_non_null(o);
    const char *cid = json_string_value(json_object_get(o, "custom_id"));
    const char *echo = json_string_value(
        json_object_get(json_object_get(json_object_get(o, "response"), "body"), "echo"));
    assert_non_null(cid);
    assert_string_equal(cid, echo);
    int k = atoi(cid + 4);
    if (k < 0 || k >= KILL_N)
      fail_msg("custom_id %s out of range", cid);
    else
      seen[k]++;
    lines++;
    json_decref(o);
  }
  free(out);
  assert_int_equal(lines, KILL_N);
  for (int k = 0; k < KILL_N; k++)
    assert_int_equal(seen[k], 1); /* none lost, none twice */
  eco_batchq_batch_clear(&b);
  eco_batchq_close(q);

  sqlite3 *raw;
  assert_int_equal(sqlite3_open(db, &raw), SQLITE_OK);
  sqlite3_stmt *s;
  assert_int_equal(sqlite3_prepare_v2(raw, "PRAGMA integrity_check", -1, &s, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(s), SQLITE_ROW);
  assert_string_equal((const char *)sqlite3_column_text(s, 0), "ok");
  sqlite3_finalize(s);
  assert_int_equal(sqlite3_prepare_v2(raw,
                                      "SELECT max(attempt), count(*) FROM requests WHERE "
                                      "state='done'",
                                      -1, &s, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_step(s), SQLITE_ROW);
  print_message("kill9: max attempts of one request %d (re-runs after kills)\n",
                sqlite3_column_int(s, 0));
  assert_int_equal(sqlite3_column_int(s, 1), KILL_N);
  sqlite3_finalize(s);
  sqlite3_close(raw);
  free(db);
  eco_test_rmtree(dir);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_window),        cmocka_unit_test(test_validate),
      cmocka_unit_test(test_flow),          cmocka_unit_test(test_lease),
      cmocka_unit_test(test_cancel_expire), cmocka_unit_test(test_assign),
      cmocka_unit_test(test_load_list),     cmocka_unit_test(test_kill9),
  };
  return cmocka_run_group_tests_name("batchq", tests, NULL, NULL);
}
