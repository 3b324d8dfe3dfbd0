/* ecoinfer replay: sending the requests on the compressed clock (see replay.h). */
#include "cli/replay.h"

#include "util/timeutil.h"

#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct drive_ctx {
  const eco_rp_setup *s;
  eco_rp_arm *a;
  pthread_mutex_t *mu; /* the arm's figures */
  const eco_rp_req *req;
  const size_t *n_req;
  size_t per_hour, H;
  const double *ci;
  size_t client, clients; /* this thread sends requests j with j % clients == client */
} drive_ctx;

static size_t on_body(char *d, size_t sz, size_t n, void *u) {
  FILE *f = u;
  return fwrite(d, sz, n, f);
}

static void note_error(eco_rp_arm *a, const char *what, const char *detail) {
  a->failed++;
  if (!a->first_error[0])
    snprintf(a->first_error, sizeof a->first_error, "%s: %.200s", what, detail);
}

/* Checks one answer and adds it to the arm's figures. */
static void account(eco_rp_arm *a, const eco_rp_req *r, double ci, const char *body, size_t len) {
  json_t *j = json_loadb(body, len, 0, NULL);
  json_t *c = json_object_get(json_object_get(j, "usage"), "carbon");
  json_t *g = json_object_get(c, "total_g"), *ic = json_object_get(c, "intensity_gco2_kwh");
  json_t *lv = json_object_get(c, "directive_level");
  if (!json_is_number(g) || !json_is_number(ic)) {
    note_error(a, "an answer without usage.carbon", body);
    json_decref(j);
    return;
  }
  int l = json_is_integer(lv) ? (int)json_integer_value(lv) : 0;
  if (l < 0 || l >= ECO_RP_LEVELS) l = 0;
  a->ok++;
  a->resp_g += json_number_value(g);
  a->level_n[l]++;
  a->quality_hits += l == r->label;
  if (fabs(json_number_value(ic) - ci) > 1e-6 * fmax(1, ci)) a->ci_mismatch++;
  json_decref(j);
}

static void send_one(CURL *c, const char *url, drive_ctx *x, const eco_rp_req *r, double ci) {
  eco_rp_arm *a = x->a;
  json_t *rq = json_pack("{s:s,s:[{s:s,s:s}],s:i}", "model", "replay-llama-2-13b-chat", "messages",
                         "role", "user", "content", r->text, "max_tokens", 16384);
  char *body = rq ? json_dumps(rq, JSON_COMPACT) : NULL;
  json_decref(rq);
  char *out = NULL;
  size_t out_len = 0;
  FILE *mf = open_memstream(&out, &out_len);
  struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
  long code = 0;
  if (body && mf && h) {
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, mf);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK)
      code = -(long)cc;
    else
      curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  }
  if (mf) fclose(mf);
  pthread_mutex_lock(x->mu);
  a->sent++;
  if (code == 200)
    account(a, r, ci, out, out_len);
  else if (code < 0)
    note_error(a, "HTTP client", curl_easy_strerror((CURLcode)-code));
  else
    note_error(a, "HTTP error answer", out ? out : "");
  pthread_mutex_unlock(x->mu);
  curl_slist_free_all(h);
  free(out);
  free(body);
}

static void *drive_arm(void *arg) {
  drive_ctx *x = arg;
  const eco_rp_setup *s = x->s;
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/chat/completions", x->a->router_port);
  CURL *c = curl_easy_init();
  if (!c) {
    pthread_mutex_lock(x->mu);
    note_error(x->a, "HTTP client", "cannot start");
    pthread_mutex_unlock(x->mu);
    return NULL;
  }
  for (size_t h = 0; h < x->H; h++) {
    /* the hour's requests start just after it begins on every process's clock */
    double t0 = s->origin_s + ((double)h + 0.05) * s->hour_s;
    double wait = t0 - eco_time_wall_s();
    if (wait > 0) eco_time_sleep_s(wait);
    for (size_t j = x->client; j < x->n_req[h]; j += x->clients)
      send_one(c, url, x, &x->req[h * x->per_hour + j], x->ci[h]);
    if (eco_time_wall_s() > s->origin_s + ((double)h + 0.95) * s->hour_s) {
      pthread_mutex_lock(x->mu);
      x->a->late++;
      pthread_mutex_unlock(x->mu);
    }
  }
  curl_easy_cleanup(c);
  return NULL;
}

int eco_rp_drive(const eco_rp_setup *s, eco_rp_arm *arms, size_t n_arms, const eco_rp_req *req,
                 const size_t *n_req, size_t per_hour, size_t H, const double *ci, eco_error *err) {
  size_t C = s->clients > 0 ? (size_t)s->clients : 1;
  if (n_arms > 4 || C > 32) return eco_error_set(err, ECO_EINVAL, "replay: too many threads");
  drive_ctx x[4 * 32];
  pthread_t th[4 * 32];
  bool started[4 * 32] = {false};
  pthread_mutex_t mu[4];
  for (size_t i = 0; i < n_arms; i++)
    pthread_mutex_init(&mu[i], NULL);
  for (size_t i = 0; i < n_arms; i++)
    for (size_t t = 0; t < C; t++) {
      size_t k = i * C + t;
      x[k] = (drive_ctx){s, &arms[i], &mu[i], req, n_req, per_hour, H, ci, t, C};
      started[k] = pthread_create(&th[k], NULL, drive_arm, &x[k]) == 0;
    }
  int rc = 0;
  for (size_t k = 0; k < n_arms * C; k++) {
    if (started[k])
      pthread_join(th[k], NULL);
    else
      rc = eco_error_set(err, ECO_ENOMEM, "replay: cannot start a client thread");
  }
  for (size_t i = 0; i < n_arms; i++)
    pthread_mutex_destroy(&mu[i]);
  return rc;
}
