#include "util/rand.h"

#include "util/status.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

int eco_rand_bytes(void *buf, size_t n) {
  unsigned char *p = buf;
  while (n) {
    ssize_t got = getrandom(p, n, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      return ECO_EIO;
    }
    p += got;
    n -= (size_t)got;
  }
  return ECO_OK;
}

int eco_rand_id(const char *prefix, size_t n_bytes, char *buf, size_t cap) {
  static const char hex[] = "0123456789abcdef";
  size_t pl = strlen(prefix);
  unsigned char r[64];
  if (n_bytes > sizeof r || pl + 2 * n_bytes + 1 > cap) return ECO_EOVERFLOW;
  int rc = eco_rand_bytes(r, n_bytes);
  if (rc) return rc;
  memcpy(buf, prefix, pl);
  for (size_t i = 0; i < n_bytes; i++) {
    buf[pl + 2 * i] = hex[r[i] >> 4];
    buf[pl + 2 * i + 1] = hex[r[i] & 15];
  }
  buf[pl + 2 * n_bytes] = '\0';
  return ECO_OK;
}

uint64_t eco_rand_next(uint64_t *state) {
  uint64_t x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * 0x2545F4914F6CDD1DULL;
}

double eco_rand_uniform(uint64_t *state) {
  return (double)(eco_rand_next(state) >> 11) * 0x1.0p-53;
}
