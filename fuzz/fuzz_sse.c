/* libFuzzer harness for the parser the router applies to upstream answers
 * (src/router/sse.c, with the receipt codec of src/accounting/wire.c): the
 * input is cut into network chunks as the first bytes say, fed to an
 * event buffer, and every complete event is classified and inspected the
 * way the gateway's stream pump does (gw_upstream.c): data payload, text
 * and usage detection, usage.carbon decoding. The same bytes are then read
 * as a buffered JSON answer and as a request body for the prompt-token
 * estimate. Nothing may crash, leak or read outside an event.
 *
 * fuzz-sources: src/router/sse.c src/accounting/wire.c
 */
#include "accounting/wire.h"
#include "router/sse.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One event, as the gateway handles it: classify, then look inside data. */
static void inspect(const char *ev, size_t el) {
  const char *d = NULL;
  size_t dl = 0;
  eco_sse_kind k = eco_sse_classify(ev, el, &d, &dl);
  if (k == ECO_SSE_OTHER) return;
  if (d < ev || d + dl > ev + el) abort(); /* the payload lies inside the event */
  if (k == ECO_SSE_DONE && (dl != 6 || memcmp(d, "[DONE]", 6) != 0)) abort();
  if (k != ECO_SSE_DATA) return;
  /* exact-size copies, so that ASan sees a read past the payload */
  char *p = malloc(dl ? dl : 1);
  if (!p) return;
  memcpy(p, d, dl);
  (void)eco_sse_has_text(p, dl);
  if (eco_sse_has_usage(p, dl)) {
    json_t *j = json_loadb(p, dl, 0, NULL);
    json_t *u = j ? json_object_get(j, "usage") : NULL;
    if (json_is_object(u)) {
      eco_receipt r;
      unsigned have = 0;
      if (eco_receipt_from_json(json_object_get(u, ECO_USAGE_CARBON), &r, &have) == 0) {
        json_t *back = eco_receipt_to_json(&r);
        json_decref(back);
      }
    }
    json_decref(j);
  }
  free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  /* byte 0: chunk length pattern; the rest: the upstream bytes */
  const size_t step = (size_t)(data[0] % 64) + 1;
  const uint8_t *in = data + 1;
  const size_t n = size - 1;
  char *buf = malloc(n ? n : 1);
  if (!buf) return 0;
  size_t have = 0, fed = 0;
  while (fed < n || have) {
    size_t c = n - fed < step ? n - fed : step;
    memcpy(buf + have, in + fed, c);
    have += c;
    fed += c;
    bool final = fed == n;
    for (;;) { /* every complete event, then the tail at the end */
      size_t el = have ? eco_sse_event_len(buf, have) : 0;
      if (el > have) abort();
      if (!el) {
        if (!final || !have) break;
        el = have;
      }
      char *ev = malloc(el);
      if (!ev) break;
      memcpy(ev, buf, el);
      inspect(ev, el);
      free(ev);
      memmove(buf, buf + el, have - el);
      have -= el;
    }
    if (final) break;
  }
  /* the same bytes as a buffered answer and as a request body */
  json_t *j = json_loadb((const char *)in, n, 0, NULL);
  if (j) {
    uint32_t t = eco_router_estimate_prompt_tokens(j);
    if (t < 1) abort();
    eco_receipt r;
    unsigned hv = 0;
    json_t *u = json_object_get(j, "usage");
    (void)eco_receipt_from_json(json_object_get(u, ECO_USAGE_CARBON), &r, &hv);
    json_decref(j);
  }
  free(buf);
  return 0;
}
