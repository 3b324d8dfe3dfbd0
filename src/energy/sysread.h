/* ecoinfer: reading numbers from sysfs/procfs files (energy backends only). */
#ifndef ECO_ENERGY_SYSREAD_H
#define ECO_ENERGY_SYSREAD_H

#include "util/status.h"

#include <stdint.h>

/* Reads a non-negative decimal integer from the first line of path.
 * ECO_EACCES comes with the CVE-2020-8694 hint in err; ECO_EFORMAT for
 * garbage (the content is quoted). */
int eco_energy_read_u64(const char *path, uint64_t *out, eco_error *err);

/* root "" or "/" gives "", else root: for building root-relative paths. */
const char *eco_energy_root(const char *root);

#endif
