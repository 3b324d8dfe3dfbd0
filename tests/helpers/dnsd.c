#include "dnsd.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

enum { MAX_NAMES = 16, MAX_ADDRS = 16 };

typedef struct rec {
  char name[256];
  struct in_addr addr[MAX_ADDRS];
  size_t n;
  size_t queries;
} rec;

struct eco_test_dnsd {
  int fd, port;
  pthread_t thread;
  pthread_mutex_t mu;
  bool stop;
  rec recs[MAX_NAMES];
};

/* Reads the question's name (uncompressed labels) at msg[12..]; returns the
 * offset after it, or 0 if malformed. */
static size_t read_qname(const uint8_t *msg, size_t len, char *out, size_t cap) {
  size_t off = 12, o = 0;
  while (off < len) {
    uint8_t l = msg[off++];
    if (l == 0) {
      out[o ? o - 1 : 0] = '\0'; /* drop the trailing dot */
      return off;
    }
    if (l > 63 || off + l > len || o + l + 1 >= cap) return 0;
    for (uint8_t i = 0; i < l; i++)
      out[o++] = (char)tolower(msg[off + i]);
    out[o++] = '.';
    off += l;
  }
  return 0;
}

static void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

/* Builds the answer to one query in out; returns its length (0: ignore). */
static size_t answer(eco_test_dnsd *d, const uint8_t *q, size_t len, uint8_t *out, size_t cap) {
  if (len < 17 || (q[2] & 0x80)) return 0; /* too short, or a response */
  char name[256];
  size_t qend = read_qname(q, len, name, sizeof name);
  if (!qend || qend + 4 > len || qend + 4 > cap) return 0;
  const uint16_t qtype = (uint16_t)(q[qend] << 8 | q[qend + 1]);
  qend += 4;
  memcpy(out, q, qend);                     /* id, flags, counts, question */
  out[2] = (uint8_t)(0x84 | (q[2] & 0x01)); /* QR, AA, RD copied */
  out[3] = 0x80;                            /* RA, NOERROR */
  put16(out + 4, 1);
  put16(out + 6, 0);
  put16(out + 8, 0);
  put16(out + 10, 0);
  pthread_mutex_lock(&d->mu);
  rec *r = NULL;
  for (size_t i = 0; i < MAX_NAMES; i++)
    if (d->recs[i].name[0] && strcasecmp(d->recs[i].name, name) == 0) r = &d->recs[i];
  size_t o = qend, n = 0;
  if (!r) {
    out[3] = 0x83; /* NXDOMAIN */
  } else if (qtype == 1) {
    r->queries++;
    for (; n < r->n && o + 16 <= cap; n++) {
      put16(out + o, 0xC00C); /* the name in the question */
      put16(out + o + 2, 1);  /* A */
      put16(out + o + 4, 1);  /* IN */
      memset(out + o + 6, 0, 4);
      out[o + 9] = 1; /* TTL 1 s */
      put16(out + o + 10, 4);
      memcpy(out + o + 12, &r->addr[n], 4);
      o += 16;
    }
  }
  pthread_mutex_unlock(&d->mu);
  put16(out + 6, (uint16_t)n);
  return o;
}

static void *loop(void *arg) {
  eco_test_dnsd *d = arg;
  uint8_t in[1500], out[1500];
  for (;;) {
    pthread_mutex_lock(&d->mu);
    bool stop = d->stop;
    pthread_mutex_unlock(&d->mu);
    if (stop) break;
    struct pollfd p = {.fd = d->fd, .events = POLLIN};
    if (poll(&p, 1, 50) <= 0) continue;
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    ssize_t got = recvfrom(d->fd, in, sizeof in, 0, (struct sockaddr *)&from, &fl);
    if (got <= 0) continue;
    size_t n = answer(d, in, (size_t)got, out, sizeof out);
    if (n) (void)sendto(d->fd, out, n, 0, (struct sockaddr *)&from, fl);
  }
  return NULL;
}

int eco_test_dnsd_start(eco_test_dnsd **out) {
  eco_test_dnsd *d = calloc(1, sizeof *d);
  if (!d) return -1;
  pthread_mutex_init(&d->mu, NULL);
  d->fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  if (d->fd < 0 || bind(d->fd, (struct sockaddr *)&a, sizeof a) != 0 ||
      getsockname(d->fd, (struct sockaddr *)&a, &al) != 0)
    goto fail;
  d->port = ntohs(a.sin_port);
  if (pthread_create(&d->thread, NULL, loop, d) != 0) goto fail;
  *out = d;
  return 0;
fail:
  if (d->fd >= 0) close(d->fd);
  pthread_mutex_destroy(&d->mu);
  free(d);
  return -1;
}

void eco_test_dnsd_stop(eco_test_dnsd *d) {
  if (!d) return;
  pthread_mutex_lock(&d->mu);
  d->stop = true;
  pthread_mutex_unlock(&d->mu);
  pthread_join(d->thread, NULL);
  close(d->fd);
  pthread_mutex_destroy(&d->mu);
  free(d);
}

int eco_test_dnsd_port(const eco_test_dnsd *d) { return d->port; }

int eco_test_dnsd_set(eco_test_dnsd *d, const char *name, const char *const *ipv4, size_t n) {
  if (n > MAX_ADDRS || strlen(name) >= sizeof d->recs[0].name) return -1;
  struct in_addr addr[MAX_ADDRS];
  for (size_t i = 0; i < n; i++)
    if (inet_pton(AF_INET, ipv4[i], &addr[i]) != 1) return -1;
  int rc = -1;
  pthread_mutex_lock(&d->mu);
  rec *r = NULL, *free_slot = NULL;
  for (size_t i = 0; i < MAX_NAMES; i++) {
    if (d->recs[i].name[0] && strcasecmp(d->recs[i].name, name) == 0) r = &d->recs[i];
    if (!d->recs[i].name[0] && !free_slot) free_slot = &d->recs[i];
  }
  if (!r && n) r = free_slot;
  if (r) {
    snprintf(r->name, sizeof r->name, "%s", n ? name : "");
    memcpy(r->addr, addr, n * sizeof *addr);
    r->n = n;
    rc = 0;
  } else if (!n) {
    rc = 0;
  }
  pthread_mutex_unlock(&d->mu);
  return rc;
}

size_t eco_test_dnsd_queries(eco_test_dnsd *d, const char *name) {
  size_t q = 0;
  pthread_mutex_lock(&d->mu);
  for (size_t i = 0; i < MAX_NAMES; i++)
    if (d->recs[i].name[0] && strcasecmp(d->recs[i].name, name) == 0) q = d->recs[i].queries;
  pthread_mutex_unlock(&d->mu);
  return q;
}
