/* ecoinfer test helpers for the node server's tests (see node_fixture.h). */
#include "node_fixture.h"

#include "testutil.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const eco_test_node_chat_body =
    "{\"model\":\"fake-model\",\"messages\":[{\"role\":\"user\",\"content\":\"say hi\"}]}";

static void sink(void *user, const eco_acct_receipt_ctx *ctx) {
  eco_test_node *f = user;
  assert_non_null(ctx->receipt);
  assert_string_equal(ctx->zone, "GB");
  eco_acct_ledger_sink(&f->st, ctx);
  pthread_mutex_lock(&f->mu);
  f->n_receipts++;
  pthread_mutex_unlock(&f->mu);
}

eco_test_node *eco_test_node_start_meter(const eco_fake_cfg *fc, const eco_server_cfg *scfg,
                                         eco_meter *m) {
  eco_test_node *f = calloc(1, sizeof *f);
  assert_non_null(f);
  pthread_mutex_init(&f->mu, NULL);
  eco_fake_cfg d;
  if (!fc) {
    eco_fake_cfg_default(&d);
    fc = &d;
  }
  assert_int_equal(eco_backend_fake_new(fc, &f->be), 0);
  eco_server_cfg sc;
  if (scfg)
    sc = *scfg;
  else
    eco_server_cfg_default(&sc);
  sc.port = 0;
  if (sc.admin_port >= 0) sc.admin_port = 0;
  eco_cfg *cfg;
  eco_error err = {0};
  f->dir = eco_test_tmpdir();
  char yaml[1024];
  snprintf(yaml, sizeof yaml,
           "carbon:\n  zone: GB\n  pue: 1.5\n  static: {zones: {GB: 200}}\n"
           "device: {embodied_kg: 100, lifetime_years: 4}\n"
           "energy: {cpu_watts: 10, attribution: cpu-time}\nledger: {path: %s/receipts.db}\n",
           f->dir);
  assert_int_equal(eco_cfg_load_string(yaml, "t", &cfg, &err), 0);
  eco_cfg_use_env(cfg, false);
  assert_int_equal(eco_acct_open(cfg, "test-node", &f->st, &f->acct, &err), 0);
  eco_cfg_free(cfg);
  f->acct.sink = sink;
  f->acct.sink_user = f;
  if (m) {
    f->st.meter = m; /* owned and freed with the accounting state */
    f->acct.meter = m;
    f->acct.attr_interval_s = 60; /* ticks only at request start and finish */
  }
  eco_log_init(&f->lg);
  f->lg.level = ECO_LOG_ERROR;
  if (eco_server_new(&sc, &f->be, &f->acct, &f->lg, &f->srv, &err))
    fail_msg("server: %s", eco_error_text(&err));
  snprintf(f->base, sizeof f->base, "http://127.0.0.1:%d", eco_server_port(f->srv));
  snprintf(f->admin, sizeof f->admin, "http://127.0.0.1:%d", eco_server_admin_port(f->srv));
  assert_int_equal(eco_server_start(f->srv), 0);
  return f;
}

eco_test_node *eco_test_node_start(const eco_fake_cfg *fc, const eco_server_cfg *scfg) {
  return eco_test_node_start_meter(fc, scfg, NULL);
}

int eco_test_node_stop(eco_test_node *f) {
  eco_server_shutdown(f->srv);
  int rc = eco_server_join(f->srv);
  eco_server_free(f->srv);
  f->be.vt->destroy(f->be.self);
  eco_acct_close(&f->st);
  if (f->dir) eco_test_rmtree(f->dir);
  free(f->dir);
  pthread_mutex_destroy(&f->mu);
  free(f);
  return rc;
}

static size_t on_data(char *p, size_t sz, size_t n, void *u) {
  eco_sb_append(u, p, sz * n);
  return sz * n;
}

void eco_test_node_http(const char *method, const char *url, const char *extra_hdr,
                        const char *body, size_t body_len, eco_test_node_resp *r) {
  memset(r, 0, sizeof *r);
  eco_sb_init(&r->body);
  eco_sb_init(&r->headers);
  CURL *c = curl_easy_init();
  assert_non_null(c);
  struct curl_slist *hl = NULL;
  char line[4096];
  if (extra_hdr) {
    const char *p = extra_hdr;
    while (*p) {
      const char *nl = strchr(p, '\n');
      size_t n = nl ? (size_t)(nl - p) : strlen(p);
      snprintf(line, sizeof line, "%.*s", (int)n, p);
      hl = curl_slist_append(hl, line);
      p += n + (nl ? 1 : 0);
    }
  }
  hl = curl_slist_append(hl, "Content-Type: application/json");
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
  if (body) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body_len);
  }
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
  CURLcode cc = curl_easy_perform(c);
  if (cc == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
  else
    r->status = -1; /* connection closed or refused */
  curl_slist_free_all(hl);
  curl_easy_cleanup(c);
}

void eco_test_node_post(eco_test_node *f, const char *path, const char *body,
                        eco_test_node_resp *r) {
  char url[256];
  snprintf(url, sizeof url, "%s%s", f->base, path);
  eco_test_node_http("POST", url, NULL, body, strlen(body), r);
}

void eco_test_node_resp_free(eco_test_node_resp *r) {
  eco_sb_free(&r->body);
  eco_sb_free(&r->headers);
}

json_t *eco_test_node_json(eco_test_node_resp *r) {
  json_error_t je;
  json_t *j = json_loads(eco_sb_str(&r->body), 0, &je);
  if (!j) fail_msg("not JSON (%s): %s", je.text, eco_sb_str(&r->body));
  return j;
}

void eco_test_node_expect_error(eco_test_node_resp *r, long status, const char *param) {
  if (r->status != status)
    fail_msg("expected %ld, got %ld: %s", status, r->status, eco_sb_str(&r->body));
  json_t *j = eco_test_node_json(r);
  json_t *e = json_object_get(j, "error");
  assert_true(json_is_string(json_object_get(e, "message")));
  assert_true(json_is_string(json_object_get(e, "type")));
  json_t *p = json_object_get(e, "param");
  if (param[0])
    assert_string_equal(json_string_value(p), param);
  else
    assert_true(json_is_null(p));
  json_decref(j);
}
