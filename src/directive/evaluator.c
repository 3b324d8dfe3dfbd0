#include "directive/evaluator.h"

#include "directive/eval_internal.h"

#include "carbon/sci.h"
#include "util/strbuf.h"

#include <ctype.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void eco_eval_cfg_default(eco_eval_cfg *c) {
  memset(c, 0, sizeof *c);
  c->timeout_s = 60;
  c->max_tokens = 512;
  c->j_per_token = 2.0;
}

int eco_eval_parse_verdict(const char *reply, size_t n_answers) {
  if (!reply || n_answers == 0) return -1;
  json_error_t je;
  json_t *j = json_loads(reply, JSON_DECODE_ANY, &je);
  if (j) {
    json_t *b = json_is_object(j) ? json_object_get(j, "best") : j;
    long v = json_is_integer(b) ? (long)json_integer_value(b) : -1;
    if (json_is_string(b)) {
      char *end = NULL;
      v = strtol(json_string_value(b), &end, 10);
      if (!end || *end) v = -1;
    }
    json_decref(j);
    return v >= 1 && (size_t)v <= n_answers ? (int)v - 1 : -1;
  }
  /* text: collect the distinct standalone numbers */
  long found = -1;
  for (const char *p = reply; *p;) {
    if (!isdigit((unsigned char)*p)) {
      p++;
      continue;
    }
    const char *s = p;
    long v = 0;
    while (isdigit((unsigned char)*p) && v < 1000000)
      v = v * 10 + (*p++ - '0');
    while (isdigit((unsigned char)*p))
      p++;
    bool alone = (s == reply || !isalnum((unsigned char)s[-1])) && !isalpha((unsigned char)*p) &&
                 !(*p == '.' && isdigit((unsigned char)p[1]));
    if (!alone) continue;
    if (v < 1 || (size_t)v > n_answers) return -1; /* a number that names no answer */
    if (found >= 0 && found != v) return -1;       /* two different answers named */
    found = v;
  }
  return found >= 1 ? (int)found - 1 : -1;
}

void eco_eval_order(size_t i, size_t n_levels, int *order) {
  for (size_t j = 0; j < n_levels; j++)
    order[j] = (int)((i + j) % n_levels);
}

bool eco_eval_update_prefs(const eco_eval_outcome *o, size_t n_levels, size_t min_decided,
                           eco_level_stats *lv) {
  if (!o || !lv || n_levels == 0 || n_levels > ECO_DIRECTIVE_MAX_LEVELS || o->n_decided == 0 ||
      o->n_decided < min_decided)
    return false;
  double pref[ECO_DIRECTIVE_MAX_LEVELS];
  eco_eval_rates(o, n_levels, pref);
  for (size_t l = 0; l < n_levels; l++)
    lv[l].pref = pref[l];
  return true;
}

static int cmp_size(const void *a, const void *b) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  return (x > y) - (x < y);
}

size_t eco_eval_pick(size_t n, size_t k, uint64_t seed, size_t *idx) {
  if (!idx) return 0;
  if (k > n) k = n;
  size_t m = 0;
  uint64_t s = seed ? seed : 0x9e3779b97f4a7c15ULL;
  for (size_t j = n - k; j < n; j++) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17; /* xorshift64 */
    size_t t = (size_t)(s % (uint64_t)(j + 1)), pick = t;
    for (size_t i = 0; i < m; i++)
      if (idx[i] == t) {
        pick = j;
        break;
      }
    idx[m++] = pick;
  }
  qsort(idx, m, sizeof *idx, cmp_size);
  return m;
}

void eco_eval_rates(const eco_eval_outcome *o, size_t n_levels, double *pref) {
  for (size_t l = 0; l < n_levels; l++)
    pref[l] = o->n_decided ? (double)o->wins[l] / (double)o->n_decided : 0.0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *user) {
  eco_strbuf *sb = user;
  return eco_sb_append(sb, data, size * nmemb) ? 0 : size * nmemb;
}

static int on_progress(void *user, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
  (void)dt;
  (void)dn;
  (void)ut;
  (void)un;
  const eco_eval_cfg *cfg = user;
  return cfg->cancel(cfg->cancel_user) ? 1 : 0;
}

/* POSTs a chat request (eval_internal.h). */
char *eco_eval_chat(const eco_eval_cfg *cfg, const char *url, const char *model, json_t *messages,
                    eco_eval_outcome *out) {
  return eco_eval_chat_level(cfg, url, model, messages, -1, out);
}

char *eco_eval_chat_level(const eco_eval_cfg *cfg, const char *url, const char *model,
                          json_t *messages, int level, eco_eval_outcome *out) {
  char *result = NULL, *body = NULL, full[1024];
  eco_strbuf resp;
  eco_sb_init(&resp);
  struct curl_slist *hdr = NULL;
  json_t *req = json_pack("{s:s, s:O, s:i, s:f}", "model", model ? model : "default", "messages",
                          messages, "max_tokens", cfg->max_tokens, "temperature", 0.0);
  CURL *c = curl_easy_init();
  if (!req || !c) goto done;
  body = json_dumps(req, JSON_COMPACT);
  if (!body) goto done;
  snprintf(full, sizeof full, "%s/v1/chat/completions", url);
  hdr = curl_slist_append(hdr, "Content-Type: application/json");
  if (level >= 0) { /* the header of accounting/wire.h (ECO_HDR_DIRECTIVE_LEVEL) */
    char lv[64];
    snprintf(lv, sizeof lv, "x-ecoinfer-directive-level: %d", level);
    hdr = curl_slist_append(hdr, lv);
  }
  if (cfg->api_key) {
    char auth[512];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", cfg->api_key);
    hdr = curl_slist_append(hdr, auth);
  }
  curl_easy_setopt(c, CURLOPT_URL, full);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(cfg->timeout_s * 1000.0));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  if (cfg->cancel) {
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)cfg);
  }
  out->n_requests++;
  long status = 0;
  if (curl_easy_perform(c) != CURLE_OK) goto done;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) goto done;
  json_t *j = json_loads(eco_sb_str(&resp), 0, NULL);
  if (!j) goto done;
  json_t *usage = json_object_get(j, "usage");
  json_t *ct = json_object_get(usage, "completion_tokens");
  size_t tokens =
      json_is_integer(ct) && json_integer_value(ct) > 0 ? (size_t)json_integer_value(ct) : 0;
  out->completion_tokens += tokens;
  json_t *ej = json_object_get(json_object_get(usage, "carbon"), "energy_j");
  if (json_is_number(ej) && json_number_value(ej) >= 0) {
    out->energy_j += json_number_value(ej);
  } else {
    out->energy_j += (double)tokens * cfg->j_per_token;
    out->energy_estimated = true;
  }
  const char *content = json_string_value(json_object_get(
      json_object_get(json_array_get(json_object_get(j, "choices"), 0), "message"), "content"));
  if (content) result = strdup(content);
  json_decref(j);
done:
  free(body);
  json_decref(req);
  curl_slist_free_all(hdr);
  if (c) curl_easy_cleanup(c);
  eco_sb_free(&resp);
  return result;
}

int eco_eval_run(const eco_eval_cfg *cfg, const eco_directive_cfg *dcfg, const char *const *prompts,
                 size_t n, eco_eval_outcome *out, eco_eval_prompt_result *per_prompt,
                 eco_error *err) {
  if (!cfg || !dcfg || !out || (n && !prompts) || !cfg->gen_url || !cfg->judge_url ||
      dcfg->n_levels < 2 || dcfg->n_levels > ECO_DIRECTIVE_MAX_LEVELS || cfg->timeout_s <= 0)
    return eco_error_set(err, ECO_EINVAL, "evaluator: bad configuration");
  memset(out, 0, sizeof *out);
  size_t L = dcfg->n_levels;
  for (size_t i = 0; i < n; i++) {
    char *ans[ECO_DIRECTIVE_MAX_LEVELS] = {0};
    if (per_prompt) memset(&per_prompt[i], 0, sizeof per_prompt[i]);
    bool ok = prompts[i] != NULL;
    for (size_t l = 0; ok && l < L; l++) {
      json_t *msgs = json_pack("[{s:s, s:s}]", "role", "user", "content", prompts[i]);
      ok = msgs && eco_directive_apply(dcfg, (int)l, msgs, NULL) == 0;
      size_t tok0 = out->completion_tokens;
      double e0 = out->energy_j;
      if (ok) ans[l] = eco_eval_chat(cfg, cfg->gen_url, cfg->gen_model, msgs, out);
      if (per_prompt) {
        per_prompt[i].tokens[l] = out->completion_tokens - tok0;
        per_prompt[i].energy_j[l] = out->energy_j - e0;
      }
      ok = ok && ans[l];
      json_decref(msgs);
    }
    int verdict = -1;
    if (ok) {
      int order[ECO_DIRECTIVE_MAX_LEVELS];
      eco_eval_order(i, L, order);
      eco_strbuf sb;
      eco_sb_init(&sb);
      eco_sb_printf(&sb,
                    "Which answer to the question is best? Reply with only the number of the "
                    "best answer (1 to %zu).\n\nQuestion:\n%s\n",
                    L, prompts[i]);
      for (size_t j = 0; j < L; j++)
        eco_sb_printf(&sb, "\nAnswer %zu:\n%s\n", j + 1, ans[order[j]]);
      json_t *msgs = json_pack("[{s:s, s:s}]", "role", "user", "content", eco_sb_str(&sb));
      eco_sb_free(&sb);
      char *reply = msgs ? eco_eval_chat(cfg, cfg->judge_url, cfg->judge_model, msgs, out) : NULL;
      json_decref(msgs);
      int shown = eco_eval_parse_verdict(reply, L);
      if (shown >= 0) verdict = order[shown];
      free(reply);
    }
    for (size_t l = 0; l < L; l++)
      free(ans[l]);
    out->n_prompts++;
    if (per_prompt) per_prompt[i].preferred = verdict;
    if (verdict >= 0) {
      out->n_decided++;
      out->wins[verdict]++;
    } else {
      out->n_undecided++;
    }
  }
  out->carbon_g = eco_sci_operational_g(out->energy_j, cfg->intensity_gco2_kwh, 1.0);
  return 0;
}
