/* Stand-alone kernel check (no test framework, no libraries but libm), for
 * targets where the cmocka tests cannot run: tests/kernels_aarch64.sh
 * cross-compiles it with the engine's kernel sources and runs it under
 * qemu, so the NEON kernels are compared with the scalar ones. Exit 0 when
 * every compiled level agrees, 1 on the first disagreement. */
#include "kernel_checks.h"

#include <stdio.h>

int main(void) {
  eco_cpu_info ci;
  eco_cpu_detect(&ci);
  int checked = 0;
  for (int l = ECO_SIMD_SCALAR; l <= (int)ci.level; l++) {
    char msg[512] = "";
    const int rc = eco_kcheck_level((eco_simd_level)l, msg, sizeof msg);
    if (rc > 0) {
      fprintf(stderr, "kernel_selfcheck: %s\n", msg);
      return 1;
    }
    if (rc == 0) {
      printf("kernel_selfcheck: %s kernels agree with the scalar reference\n",
             eco_simd_name((eco_simd_level)l));
      checked++;
    }
  }
  return checked > 0 ? 0 : 1;
}
