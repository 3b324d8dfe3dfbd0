/* ecoinfer test helper: a tiny authoritative DNS server on 127.0.0.1 (UDP,
 * ephemeral port, its own thread) whose A records a test sets and changes
 * while a router resolves through it (router.dns_servers), so DNS discovery
 * is tested with several addresses and with addresses that disappear,
 * without the system resolver. Names it does not know get NXDOMAIN; other
 * query types for a known name get an empty answer. */
#ifndef ECO_TEST_DNSD_H
#define ECO_TEST_DNSD_H

#include <stddef.h>

typedef struct eco_test_dnsd eco_test_dnsd;

int eco_test_dnsd_start(eco_test_dnsd **out);
void eco_test_dnsd_stop(eco_test_dnsd *d);
/* The UDP port it answers on (127.0.0.1). */
int eco_test_dnsd_port(const eco_test_dnsd *d);
/* Sets the A records of name (dotted IPv4 strings), replacing earlier ones;
 * n == 0 forgets the name (NXDOMAIN). 0, or -1 on a bad address or too many
 * (16 names of 16 addresses at most). */
int eco_test_dnsd_set(eco_test_dnsd *d, const char *name, const char *const *ipv4, size_t n);
/* A queries answered for name so far. */
size_t eco_test_dnsd_queries(eco_test_dnsd *d, const char *name);

#endif
