/* Driver for scripts/jinja_oracle.py: renders one template with each of the
 * contexts in a JSON array and prints a JSON array of results
 * ({"ok": true, "out": ...} or {"ok": false, "err": ...}). argv: TEMPLATE
 * CONTEXTS.json NOW (seconds since the epoch, formatted as UTC). Also
 * reports a parse error as {"parse_error": ...}. Not part of the build. */
#include "jinja/jinja.h"

#include <stdio.h>
#include <stdlib.h>

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = NULL;
  size_t cap = 0, n = 0, r;
  do {
    if (n + 65536 > cap) {
      cap = (n + 65536) * 2;
      char *nb = realloc(buf, cap);
      if (!nb) break;
      buf = nb;
    }
    r = fread(buf + n, 1, cap - n, f);
    n += r;
  } while (r > 0);
  fclose(f);
  *len = n;
  return buf;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: jinja_render TEMPLATE CONTEXTS.json NOW\n");
    return 2;
  }
  size_t len = 0;
  char *src = slurp(argv[1], &len);
  json_error_t jerr;
  json_t *ctxs = json_load_file(argv[2], 0, &jerr);
  if (!src || !json_is_array(ctxs)) {
    fprintf(stderr, "jinja_render: cannot read inputs\n");
    return 2;
  }
  eco_error err = {0};
  eco_jinja_tmpl *t = NULL;
  json_t *res;
  if (eco_jinja_parse(src, len, NULL, &t, &err) != ECO_OK) {
    res = json_pack("{s:s}", "parse_error", err.msg);
  } else {
    res = json_array();
    eco_jinja_render_opts opts = {.now = (time_t)strtoll(argv[3], NULL, 10), .utc = 1};
    size_t i;
    json_t *ctx;
    json_array_foreach(ctxs, i, ctx) {
      eco_strbuf out;
      eco_sb_init(&out);
      err = (eco_error){0};
      if (eco_jinja_render(t, ctx, &opts, &out, &err) == ECO_OK)
        json_array_append_new(res, json_pack("{s:b,s:s%}", "ok", 1, "out", eco_sb_str(&out), out.len));
      else
        json_array_append_new(res, json_pack("{s:b,s:s}", "ok", 0, "err", err.msg));
      eco_sb_free(&out);
    }
  }
  char *s = json_dumps(res, JSON_ENSURE_ASCII);
  puts(s);
  free(s);
  json_decref(res);
  json_decref(ctxs);
  eco_jinja_free(t);
  free(src);
  return 0;
}
