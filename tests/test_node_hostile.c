/* The ecoinfer binary against bad model files and restarts (issue 19):
 *  - `run` refuses a NaN or negative norm epsilon naming the key, and ends
 *    with a clear error (not a crash) on a model with a NaN weight;
 *  - `serve` on a model with one NaN weight: the concurrent requests that
 *    reach it fail with a 500 that says why, the others complete, the
 *    process stays up and /metrics counts the failures;
 *  - request ids stay unique when two node processes write one ledger in
 *    sequence;
 *  - raw HTTP that breaks RFC 9112 framing (duplicate Content-Length, odd
 *    transfer codings, bad chunk sizes, unknown methods, oversized heads)
 *    gets the right status with an OpenAI-style JSON error, never libevent's
 *    HTML, on the public and the admin port; valid chunked, pipelined and
 *    byte-by-byte requests still work. */
#include "testutil.h"

#include "carbon/ledger.h"
#include "engine/gguf.h"
#include "engine/tokenizer.h"
#include "gguf_edit.h"
#include "rawhttp.h"
#include "router_fixture.h"
#include "util/timeutil.h"

#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define MODEL  "models/stories260K-f32.gguf"
#define N_EMBD 64 /* stories260K: token_embd is [512][64] */

/* ---- helpers ------------------------------------------------------------ */

typedef struct node {
  pid_t pid;
  int port, aport;
} node;

/* Servers this test started and has not stopped: a failing assertion
 * leaves the test early, and the teardown ends them. */
static pid_t live[8];

static void track(pid_t pid, bool on) {
  for (int i = 0; i < 8; i++)
    if (on ? live[i] == 0 : live[i] == pid) {
      live[i] = on ? pid : 0;
      return;
    }
}

static int kill_leftovers(void **state) {
  (void)state;
  for (int i = 0; i < 8; i++)
    if (live[i] > 0) {
      kill(live[i], SIGKILL);
      waitpid(live[i], NULL, 0);
      live[i] = 0;
    }
  return 0;
}

/* Starts `ecoinfer serve ARGS... --port 0 --port-file F`; waits for the ports. */
static node serve(const char *dir, const char *const *args) {
  char *pf = eco_test_path(dir, "ports");
  unlink(pf);
  const char *argv[32] = {"ecoinfer", "serve"};
  int n = 2;
  for (int i = 0; args[i] && n < 26; i++)
    argv[n++] = args[i];
  const char *tail[] = {"--port",      "0", "--admin-port", "0",
                        "--port-file", pf,  "--log-level",  "error"};
  for (size_t i = 0; i < sizeof tail / sizeof tail[0]; i++)
    argv[n++] = tail[i];
  argv[n] = NULL;
  node nd = {0};
  nd.pid = fork();
  assert_true(nd.pid >= 0);
  if (nd.pid == 0) {
    execv(eco_test_binary(), (char *const *)argv);
    _exit(127);
  }
  track(nd.pid, true);
  for (int i = 0; i < 3000 && nd.port <= 0; i++) {
    FILE *fp = fopen(pf, "r");
    if (fp) {
      if (fscanf(fp, "%d %d", &nd.port, &nd.aport) != 2) nd.port = 0;
      fclose(fp);
    }
    if (nd.port <= 0) {
      int st;
      if (waitpid(nd.pid, &st, WNOHANG) == nd.pid) {
        track(nd.pid, false);
        fail_msg("serve exited before listening");
      }
      eco_time_sleep_s(0.01);
    }
  }
  assert_true(nd.port > 0);
  free(pf);
  return nd;
}

/* SIGTERM, then the exit status must be a clean 0 (drained, no crash). */
static void stop(node *nd) {
  kill(nd->pid, SIGTERM);
  int st = 0;
  assert_int_equal(waitpid(nd->pid, &st, 0), nd->pid);
  track(nd->pid, false);
  if (WIFSIGNALED(st)) fail_msg("serve died of signal %d", WTERMSIG(st));
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
}

/* GET (body NULL) or POST JSON; the status, with the answer in *out
 * (eco_test_http, tests/helpers/router_fixture.h). */
static long http(const char *url, const char *body, eco_test_resp *out) {
  if (eco_test_http(NULL, url, body, NULL, out) != 0) return 0;
  return out->code;
}

/* Runs `ecoinfer ARGS 2>&1`; returns the exit code, output in *out. */
static int run_bin(const char *args, char **out) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "%s %s 2>&1", eco_test_binary(), args);
  int code = -1;
  assert_int_equal(eco_test_run(cmd, out, &code), 0);
  return code;
}

/* ---- run ---------------------------------------------------------------- */

static void test_run_bad_models(void **state) {
  (void)state;
  char *model;
  ECO_TEST_NEED_SHARED(MODEL, &model);
  char *dir = eco_test_tmpdir();
  char *p = eco_test_path(dir, "bad.gguf");
  const double eps[] = {NAN, -1};
  for (int i = 0; i < 2; i++) {
    eco_test_gguf_edit e = {ECO_TEST_EDIT_F32, "llama.attention.layer_norm_rms_epsilon", eps[i], 0};
    assert_int_equal(eco_test_gguf_edit_copy(model, p, &e, 1), 0);
    char *out = NULL, args[1024];
    snprintf(args, sizeof args, "run -m %s -p 'Once upon' -n 8 -t 1", p);
    int code = run_bin(args, &out);
    if (code != 1 || !strstr(out, "llama.attention.layer_norm_rms_epsilon"))
      fail_msg("eps %g: exit %d, output: %s", eps[i], code, out);
    free(out);
  }
  /* one NaN weight (a row of the output projection): a clear error, exit 1 */
  eco_test_gguf_edit w = {ECO_TEST_EDIT_ELEM, "output.weight", NAN, 300 * N_EMBD + 3};
  assert_int_equal(eco_test_gguf_edit_copy(model, p, &w, 1), 0);
  const char *const temps[] = {"0", "0.8"};
  for (int i = 0; i < 2; i++) {
    char *out = NULL, args[1024];
    snprintf(args, sizeof args, "run -m %s -p 'Once upon' -n 8 -t 1 --top-k 40 --temp %s", p,
             temps[i]);
    int code = run_bin(args, &out);
    if (code != 1 || !strstr(out, "non-finite logits"))
      fail_msg("NaN weight, temp %s: exit %d, output: %s", temps[i], code, out);
    free(out);
  }
  free(p);
  eco_test_rmtree(dir);
  free(dir);
  free(model);
}

/* ---- serve -------------------------------------------------------------- */

/* The token of the rarest character of `bad` ("\xe2\x82\xac", a piece of its own in
 * stories260K's vocabulary, else a byte-fallback token <0xE2>): greedy
 * decoding of English stories never produces it, so only the prompts that
 * hold it reach the poisoned embedding row. */
static int32_t rare_token_of(const char *model, const char *bad) {
  eco_gguf *g;
  eco_tokenizer *t;
  eco_error err = {0};
  assert_int_equal(eco_gguf_open(model, &g, &err), 0);
  assert_int_equal(eco_tokenizer_from_gguf(g, &t, &err), 0);
  int32_t ib[64];
  size_t nb = 0;
  assert_int_equal(eco_tokenizer_encode(t, bad, strlen(bad), true, false, ib, 64, &nb), 0);
  int32_t pick = -1;
  for (size_t i = 1; i < nb && pick < 0; i++) {
    size_t len = 0;
    const char *txt = eco_tokenizer_token_text(t, ib[i], &len);
    if ((len == 3 && memcmp(txt, "\xe2\x82\xac", 3) == 0) ||
        (len == 6 && memcmp(txt, "<0xE2>", 6) == 0))
      pick = ib[i];
  }
  eco_tokenizer_free(t);
  eco_gguf_close(g);
  assert_true(pick > 0);
  return pick;
}

typedef struct client {
  pthread_t t;
  char url[96];
  const char *prompt;
  bool stream;
  long status[3];
  bool said_nonfinite[3], has_text[3];
  char body[3][256]; /* the start of each answer, for failure messages */
} client;

static void *client_main(void *arg) {
  client *c = arg;
  for (int i = 0; i < 3; i++) {
    /* greedy: the good prompts' continuations are fixed, and hold no byte token */
    json_t *req = json_pack("{s:s, s:s, s:i, s:f, s:b}", "model", "stories", "prompt", c->prompt,
                            "max_tokens", 24, "temperature", 0.0, "stream", c->stream);
    char *body = json_dumps(req, JSON_COMPACT);
    eco_test_resp out;
    c->status[i] = http(c->url, body, &out);
    const char *s = out.body;
    snprintf(c->body[i], sizeof c->body[i], "%s", s);
    c->said_nonfinite[i] = strstr(s, "non-finite") != NULL;
    c->has_text[i] = c->stream ? strstr(s, "\"text\":\"") != NULL : strstr(s, "\"text\"") != NULL;
    eco_test_resp_free(&out);
    free(body);
    json_decref(req);
  }
  return NULL;
}

static void test_serve_nan_weight_concurrent(void **state) {
  (void)state;
  char *model;
  ECO_TEST_NEED_SHARED(MODEL, &model);
  char *dir = eco_test_tmpdir();
  const char *good = "Once upon a time there was a little girl";
  const char *bad = "The box was full of \xe2\x82\xac coins";
  int32_t tok = rare_token_of(model, bad);
  char *p = eco_test_path(dir, "nan-embd.gguf");
  eco_test_gguf_edit w = {ECO_TEST_EDIT_ELEM, "token_embd.weight", NAN, (uint64_t)tok * N_EMBD};
  assert_int_equal(eco_test_gguf_edit_copy(model, p, &w, 1), 0);

  const char *args[] = {"-m", p, "--model-name", "stories", "--no-ledger", NULL};
  node nd = serve(dir, args);
  enum { N = 8 };
  client cl[N];
  memset(cl, 0, sizeof cl);
  for (int i = 0; i < N; i++) {
    snprintf(cl[i].url, sizeof cl[i].url, "http://127.0.0.1:%d/v1/completions", nd.port);
    cl[i].prompt = i % 2 ? bad : good;
    cl[i].stream = (i % 4) >= 2;
    pthread_create(&cl[i].t, NULL, client_main, &cl[i]);
  }
  for (int i = 0; i < N; i++)
    pthread_join(cl[i].t, NULL);
  for (int i = 0; i < N; i++) {
    for (int k = 0; k < 3; k++) {
      if (i % 2 == 0) { /* good prompt: a normal answer */
        if (cl[i].status[k] != 200 || !cl[i].has_text[k] || cl[i].said_nonfinite[k])
          fail_msg("good client %d req %d: status %ld: %s", i, k, cl[i].status[k], cl[i].body[k]);
      } else { /* bad prompt: a 500 (or an SSE error event) that says why */
        long want = cl[i].stream ? 200 : 500;
        if (cl[i].status[k] != want || !cl[i].said_nonfinite[k])
          fail_msg("bad client %d req %d: status %ld: %s", i, k, cl[i].status[k], cl[i].body[k]);
      }
    }
  }
  /* still up; the failures are counted */
  char url[96];
  eco_test_resp out;
  snprintf(url, sizeof url, "http://127.0.0.1:%d/health", nd.port);
  assert_int_equal(http(url, NULL, &out), 200);
  eco_test_resp_free(&out);
  snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", nd.aport);
  assert_int_equal(http(url, NULL, &out), 200);
  if (!strstr(out.body, "\necoinfer_engine_nonfinite_logits_total 12\n"))
    fail_msg("metrics: %s", out.body);
  eco_test_resp_free(&out);
  stop(&nd);

  /* a NaN epsilon: serve refuses to start, naming the key */
  eco_test_gguf_edit e = {ECO_TEST_EDIT_F32, "llama.attention.layer_norm_rms_epsilon", NAN, 0};
  assert_int_equal(eco_test_gguf_edit_copy(model, p, &e, 1), 0);
  char *o = NULL, sargs[1024];
  snprintf(sargs, sizeof sargs, "serve -m %s --port 0 --admin-port -1 --no-ledger", p);
  int code = run_bin(sargs, &o);
  if (code != 1 || !strstr(o, "llama.attention.layer_norm_rms_epsilon"))
    fail_msg("serve with a NaN epsilon: exit %d: %s", code, o);
  free(o);
  free(p);
  eco_test_rmtree(dir);
  free(dir);
  free(model);
}

/* ---- request ids across restarts ----------------------------------------- */

typedef struct ids {
  char v[16][64];
  int n;
} ids;

static int collect(const eco_ledger_entry *e, void *user) {
  ids *s = user;
  if (s->n < 16) snprintf(s->v[s->n++], sizeof s->v[0], "%s", e->request_id);
  return 0;
}

static void test_request_ids_unique_across_restarts(void **state) {
  (void)state;
  char *dir = eco_test_tmpdir();
  char *db = eco_test_path(dir, "receipts.db");
  const char *args[] = {"--fake-backend", "--fake-rate", "1000", "--ledger", db, NULL};
  ids seen = {0};
  for (int run = 0; run < 2; run++) { /* two processes in sequence, one ledger */
    node nd = serve(dir, args);
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/chat/completions", nd.port);
    for (int i = 0; i < 3; i++) {
      eco_test_resp out;
      long st = http(url,
                     "{\"model\":\"fake-model\",\"max_tokens\":4,"
                     "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                     &out);
      assert_int_equal(st, 200);
      json_t *j = json_loads(out.body, 0, NULL);
      const char *id = json_string_value(json_object_get(j, "id"));
      assert_non_null(id);
      assert_true(strlen(id) >= 32); /* 128 random bits in hex */
      snprintf(seen.v[seen.n++], sizeof seen.v[0], "%s", id);
      json_decref(j);
      eco_test_resp_free(&out);
    }
    stop(&nd);
  }
  for (int i = 0; i < seen.n; i++)
    for (int k = 0; k < i; k++)
      if (strcmp(seen.v[i], seen.v[k]) == 0) fail_msg("request id %s repeated", seen.v[i]);
  eco_ledger *l;
  eco_error err = {0};
  eco_ledger_opts lo = {.read_only = true};
  assert_int_equal(eco_ledger_open(db, &lo, &l, &err), 0);
  ids led = {0};
  assert_int_equal(eco_ledger_foreach(l, 0, 0, collect, &led, &err), 0);
  eco_ledger_close(l);
  assert_int_equal(led.n, 6);
  for (int i = 0; i < led.n; i++)
    for (int k = 0; k < i; k++)
      if (strcmp(led.v[i], led.v[k]) == 0) fail_msg("ledger request_id %s repeated", led.v[i]);
  free(db);
  eco_test_rmtree(dir);
  free(dir);
}

/* ---- a body between the node's limit and the router's ---------------------- */

/* The router's view of node id in /admin/nodes: a field as a number (-1 if
 * absent or null). */
static double admin_node_field(const char *admin, const char *id, const char *field) {
  char url[128];
  snprintf(url, sizeof url, "%s/admin/nodes", admin);
  eco_test_resp out;
  assert_int_equal(eco_test_http(NULL, url, NULL, NULL, &out), 0);
  json_t *j = json_loads(out.body, 0, NULL);
  double v = -1;
  size_t i;
  json_t *it;
  json_array_foreach(json_object_get(j, "nodes"), i, it) {
    if (strcmp(json_string_value(json_object_get(it, "id")), id) != 0) continue;
    json_t *x = json_object_get(it, field);
    if (json_is_number(x)) v = json_number_value(x);
    if (json_is_boolean(x)) v = json_is_true(x);
    if (json_is_string(x)) v = strcmp(json_string_value(x), "up") == 0;
  }
  json_decref(j);
  eco_test_resp_free(&out);
  return v;
}

/* kind openai: the router does not know the nodes' limit, sends the body,
 * and passes the node's 413 on; kind ecoinfer: the nodes report 1 MiB in
 * /v1/node and the router answers 413 without trying one. Either way a
 * client error: no retry, no failure, no open circuit. */
static void test_router_body_over_node_limit(void **state) {
  (void)state;
  char *dir = eco_test_tmpdir();
  const char *args[] = {"--fake-backend", "--fake-rate", "1000", "--no-ledger", NULL};
  node a = serve(dir, args), b = serve(dir, args);
  size_t big = (2u << 20);
  char *body = malloc(big + 256);
  int hl = snprintf(body, 256,
                    "{\"model\":\"fake-model\",\"messages\":[{\"role\":\"user\","
                    "\"content\":\"");
  memset(body + hl, 'x', big);
  snprintf(body + hl + big, 64, "\"}]}");
  const char *const kinds[] = {"openai", "ecoinfer"};
  for (int k = 0; k < 2; k++) {
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "router:\n  port: 0\n  admin_port: 0\n  policy: round-robin\n"
             "  health: {interval: 100ms, max_backoff: 400ms, fail_threshold: 3}\n"
             "  circuit: {failures: 1, cooldown: 30s}\n"
             "nodes:\n  - {id: a, url: 'http://127.0.0.1:%d', kind: %s, zone: SE}\n"
             "  - {id: b, url: 'http://127.0.0.1:%d', kind: %s, zone: SE}\n",
             a.port, kinds[k], b.port, kinds[k]);
    eco_test_router rt = {0};
    eco_test_router_start(&rt, yaml);
    for (int i = 0; i < 200 && (admin_node_field(rt.admin, "a", "health") != 1 ||
                                admin_node_field(rt.admin, "b", "health") != 1);
         i++)
      eco_time_sleep_s(0.05);
    if (k == 1) /* the limits reported in /v1/node */
      for (int i = 0; i < 200 && admin_node_field(rt.admin, "b", "max_body_bytes") != (1 << 20);
           i++)
        eco_time_sleep_s(0.05);
    char url[128];
    snprintf(url, sizeof url, "%s/v1/chat/completions", rt.url);
    for (int rep = 0; rep < 3; rep++) {
      eco_test_resp out;
      assert_int_equal(eco_test_http(NULL, url, body, NULL, &out), 0);
      json_t *j = json_loads(out.body, 0, NULL);
      const char *code = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
      if (out.code != 413 || !code || strcmp(code, "request_too_large") != 0)
        fail_msg("kind %s: status %ld: %.300s", kinds[k], out.code, out.body);
      json_decref(j);
      eco_test_resp_free(&out);
    }
    const char *node_ids[] = {"a", "b"};
    for (int i = 0; i < 2; i++) {
      double failures = admin_node_field(rt.admin, node_ids[i], "failures"),
             open = admin_node_field(rt.admin, node_ids[i], "circuit_open"),
             health = admin_node_field(rt.admin, node_ids[i], "health");
      if (failures != 0 || open != 0 || health != 1)
        fail_msg("kind %s: node %s marked as failing (failures %g, circuit_open %g, health %g)",
                 kinds[k], node_ids[i], failures, open, health);
      if (k == 1 && admin_node_field(rt.admin, node_ids[i], "routed") != 0)
        fail_msg("kind ecoinfer: node %s was sent a body over its limit", node_ids[i]);
    }
    eco_test_resp out;
    snprintf(url, sizeof url, "%s/metrics", rt.url);
    assert_int_equal(eco_test_http(NULL, url, NULL, NULL, &out), 0);
    if (!strstr(out.body, "\necoinfer_router_retries_total 0\n"))
      fail_msg("kind %s: retries: %s", kinds[k], out.body);
    eco_test_resp_free(&out);
    /* a body under the limit still goes through */
    snprintf(url, sizeof url, "%s/v1/chat/completions", rt.url);
    assert_int_equal(eco_test_http(NULL, url,
                                   "{\"model\":\"fake-model\",\"max_tokens\":2,\"messages\":"
                                   "[{\"role\":\"user\",\"content\":\"hi\"}]}",
                                   NULL, &out),
                     0);
    if (out.code != 200) fail_msg("kind %s: small body: %ld %s", kinds[k], out.code, out.body);
    eco_test_resp_free(&out);
    eco_test_router_stop(&rt);
  }
  free(body);
  stop(&a);
  stop(&b);
  eco_test_rmtree(dir);
  free(dir);
}

/* ---- keys: the node's dashboard, and a router that sends the node's key ---- */

#define NODE_KEY "node-secret-key-0123456789"

static long get_key(const char *url, const char *key) {
  char h[128];
  snprintf(h, sizeof h, "Authorization: Bearer %s", key ? key : "");
  const char *hdrs[] = {h, NULL};
  eco_test_resp out;
  if (eco_test_http("GET", url, NULL, key ? hdrs : NULL, &out) != 0) return 0;
  long code = out.code;
  eco_test_resp_free(&out);
  return code;
}

static void test_node_keys_and_router_upstream_key(void **state) {
  (void)state;
  char *dir = eco_test_tmpdir();
  /* the key from a file (server.api_key_file), not the YAML */
  char *kf = eco_test_path(dir, "key"), *cf = eco_test_path(dir, "node.yaml");
  FILE *f = fopen(kf, "w");
  fputs(NODE_KEY "\n", f);
  fclose(f);
  f = fopen(cf, "w");
  fprintf(f, "server:\n  api_key_file: %s\n", kf);
  fclose(f);
  const char *args[] = {"-c", cf, "--fake-backend", "--fake-rate", "1000", "--no-ledger", NULL};
  node nd = serve(dir, args);
  const char *const paths[] = {"/dashboard", "/dashboard/api/state", "/v1/models", "/v1/node"};
  char url[160];
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", nd.port, paths[i]);
    if (get_key(url, NULL) != 401) fail_msg("%s without a key: not 401", paths[i]);
    if (get_key(url, "wrong-key-0123456789") != 401) fail_msg("%s, wrong key: not 401", paths[i]);
    if (get_key(url, NODE_KEY) != 200) fail_msg("%s with the key: not 200", paths[i]);
  }
  snprintf(url, sizeof url, "http://127.0.0.1:%d/dashboard/api/state?key=" NODE_KEY, nd.port);
  if (get_key(url, NULL) != 200) fail_msg("dashboard state with ?key=: not 200");
  snprintf(url, sizeof url, "http://127.0.0.1:%d/health", nd.port);
  if (get_key(url, NULL) != 200) fail_msg("/health must stay open");
  /* a router in front: with the node's key it is up and serves; without, down */
  for (int with = 1; with >= 0; with--) {
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "router:\n  port: 0\n  admin_port: 0\n"
             "  health: {interval: 100ms, max_backoff: 400ms, fail_threshold: 1}\n"
             "nodes:\n  - id: a\n    url: 'http://127.0.0.1:%d'\n    kind: ecoinfer\n%s",
             nd.port, with ? "    api_key_file: " : "");
    if (with) snprintf(yaml + strlen(yaml), sizeof yaml - strlen(yaml), "%s\n", kf);
    eco_test_router rt = {0};
    eco_test_router_start(&rt, yaml);
    double want = with ? 1 : 0, h = -1;
    for (int i = 0; i < 100 && (h = admin_node_field(rt.admin, "a", "health")) != want; i++)
      eco_time_sleep_s(0.05);
    if (h != want) fail_msg("router %s the node's key: health %g", with ? "with" : "without", h);
    if (with) {
      eco_test_resp out;
      snprintf(url, sizeof url, "%s/v1/chat/completions", rt.url);
      long st = http(url,
                     "{\"model\":\"fake-model\",\"max_tokens\":2,\"messages\":"
                     "[{\"role\":\"user\",\"content\":\"hi\"}]}",
                     &out);
      if (st != 200) fail_msg("through the router: %ld %s", st, out.body);
      eco_test_resp_free(&out);
    }
    eco_test_router_stop(&rt);
  }
  stop(&nd);
  free(kf);
  free(cf);
  eco_test_rmtree(dir);
  free(dir);
}

/* ---- HTTP framing -------------------------------------------------------- */

static void test_serve_http_framing(void **state) {
  (void)state;
  char *dir = eco_test_tmpdir();
  const char *args[] = {"--fake-backend", "--fake-rate", "1000", "--no-ledger", NULL};
  node nd = serve(dir, args);
  eco_test_hostile_expect(nd.port, "/v1/chat/completions", 1u << 20, "public port");
  eco_test_hostile_expect(nd.aport, "/admin/drain", 1u << 20, "admin port");
  /* what stays valid: chunked, pipelined, one byte at a time */
  const char *body = "{\"model\":\"fake-model\",\"max_tokens\":2,"
                     "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  char req[1024];
  int len = snprintf(req, sizeof req,
                     "POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n%zx\r\n%s\r\n0\r\n\r\n",
                     strlen(body), body);
  eco_test_raw r;
  assert_int_equal(eco_test_raw_send(nd.port, req, (size_t)len, 0, 5000, &r), 0);
  if (r.status != 200 || !strstr(r.data, "chat.completion")) fail_msg("chunked: %s", r.data);
  eco_test_raw_free(&r);
  assert_int_equal(eco_test_raw_send(nd.port, req, (size_t)len, 1, 10000, &r), 0);
  if (r.status != 200 || !strstr(r.data, "chat.completion")) fail_msg("byte by byte: %s", r.data);
  eco_test_raw_free(&r);
  const char *two = "\r\nGET /health HTTP/1.1\r\nHost: t\r\n\r\n"
                    "GET /health HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n";
  assert_int_equal(eco_test_raw_send(nd.port, two, strlen(two), 0, 1500, &r), 0);
  const char *second = strstr(r.data + 1, "HTTP/1.1 200");
  if (r.status != 200 || !second || r.closed) fail_msg("pipelined: %s", r.data);
  eco_test_raw_free(&r);
  /* a valid request before a refused one on the same connection: both answered, in order */
  const char *mixed = "GET /health HTTP/1.1\r\nHost: t\r\n\r\n"
                      "BREW /health HTTP/1.1\r\nHost: t\r\n\r\n";
  assert_int_equal(eco_test_raw_send(nd.port, mixed, strlen(mixed), 0, 3000, &r), 0);
  second = strstr(r.data + 1, "HTTP/1.1 501");
  if (r.status != 200 || !second || !strstr(second, "method_not_supported") || !r.closed)
    fail_msg("valid then refused: %s", r.data);
  eco_test_raw_free(&r);
  /* an oversized body is read and dropped: the connection stays usable */
  size_t big = (1u << 20) + 100;
  char *huge = malloc(big + 512);
  int hl = snprintf(huge, 512,
                    "POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\n"
                    "Content-Length: %zu\r\n\r\n",
                    big);
  memset(huge + hl, 'x', big);
  int tl = snprintf(huge + hl + big, 256, "GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
  assert_int_equal(eco_test_raw_send(nd.port, huge, (size_t)hl + big + (size_t)tl, 0, 5000, &r), 0);
  second = strstr(r.data + 1, "HTTP/1.1 200");
  if (r.status != 413 || !strstr(r.data, "request_too_large") || !second)
    fail_msg("oversized body then /health: %.600s", r.data);
  eco_test_raw_free(&r);
  free(huge);
  /* still serving */
  char url[96];
  eco_test_resp out;
  snprintf(url, sizeof url, "http://127.0.0.1:%d/health", nd.port);
  assert_int_equal(http(url, NULL, &out), 200);
  eco_test_resp_free(&out);
  stop(&nd);
  eco_test_rmtree(dir);
  free(dir);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_run_bad_models),
      cmocka_unit_test_teardown(test_serve_nan_weight_concurrent, kill_leftovers),
      cmocka_unit_test_teardown(test_request_ids_unique_across_restarts, kill_leftovers),
      cmocka_unit_test_teardown(test_serve_http_framing, kill_leftovers),
      cmocka_unit_test_teardown(test_router_body_over_node_limit, kill_leftovers),
      cmocka_unit_test_teardown(test_node_keys_and_router_upstream_key, kill_leftovers),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
