/* Kernel-versus-scalar checks (see kernel_checks.c). */
#ifndef ECO_TEST_KERNEL_CHECKS_H
#define ECO_TEST_KERNEL_CHECKS_H

#include "util/cpu.h"

#include <stddef.h>

/* Every kernel of `level` against the scalar reference. Returns 0 when all
 * agree, -1 when the level is not compiled for (or not available on) this
 * machine, 1 on the first disagreement, described in msg. */
int eco_kcheck_level(eco_simd_level level, char *msg, size_t cap);

/* Deterministic pseudo-random float in [-1, 1). */
float eco_kcheck_frand(void);

#endif
