/* libFuzzer harness for the directive model's untrusted inputs: the model
 * file a router loads (eco_dmodel_decode) and the training records a judge
 * loop feeds (eco_dtrain_parse_line). The first byte picks the target:
 *   0 mod 3: the bytes as a model file;
 *   1 mod 3: the same with the SHA-256 trailer recomputed, so the fuzzer
 *            gets past the checksum to the bounds and range checks;
 *   2 mod 3: the bytes as one training line.
 * A model that loads must classify, plan (the live planner's LP on its
 * statistics) and encode back to the very same bytes. Build: -DECO_FUZZ=ON
 * with clang, or tests/fuzz_dmodel.sh for a short bounded run. */
#include "directive/dmodel.h"
#include "directive/dtrain.h"
#include "directive/live.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_model(const eco_dmodel *m, const unsigned char *buf, size_t len) {
  eco_dmodel_pred p;
  eco_dmodel_predict(m, "Which river is the longest?", 27, &p);
  if (p.cls < 0 || (size_t)p.cls >= m->cls.n_classes || !(p.p >= 0 && p.p <= 1)) abort();
  if (p.bucket < 0 || p.bucket >= ECO_ASSIGN_BUCKETS) abort();
  eco_dlive_cfg lc;
  eco_dlive_cfg_default(&lc);
  lc.period_h = 3;
  eco_dlive s;
  if (eco_dlive_init(&s, &lc, m->cls.n_classes)) abort();
  eco_plan_cfg pc;
  eco_plan_cfg_default(&pc);
  pc.ci_min = 50, pc.ci_max = 500;
  double fc[3] = {400, 100, 250};
  if (eco_dlive_begin_hour(&s, &m->groups, &pc, 7, fc, 3, NULL) == 0) {
    int l = eco_dlive_level(&s, &m->groups, &p.f, 0.5, NULL);
    if (l < 0 || (size_t)l >= m->groups.n_levels) abort();
  }
  unsigned char *out = NULL;
  size_t n = 0;
  if (eco_dmodel_encode(m, &out, &n, NULL)) abort();
  if (n != len || memcmp(out, buf, n) != 0) abort(); /* decoding lost or invented something */
  free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  unsigned mode = data[0] % 3;
  data++, size--;
  if (mode == 2) {
    eco_dtrain_set s;
    eco_dtrain_init(&s, 3);
    if (eco_dtrain_parse_line(&s, (const char *)data, size, NULL) == 0 && s.n > 1) abort();
    for (size_t i = 0; i < s.n; i++)
      if (s.rec[i].label >= (int)s.n_labels || s.rec[i].preferred >= 3) abort();
    eco_dtrain_free(&s);
    return 0;
  }
  unsigned char *buf = malloc(size ? size : 1);
  if (!buf) return 0;
  memcpy(buf, data, size);
  if (mode == 1 && size >= 32) {
    unsigned int n = 0;
    EVP_Digest(buf, size - 32, buf + size - 32, &n, EVP_sha256(), NULL);
  }
  eco_dmodel m;
  if (eco_dmodel_decode(buf, size, &m, NULL) == 0) {
    check_model(&m, buf, size);
    eco_dmodel_free(&m);
  } else if (m.cls.w) {
    abort(); /* a failed load leaves nothing behind */
  }
  free(buf);
  return 0;
}
