/* ecoinfer: what the host CPU can do, detected once at run time.
 *
 * Hot kernels are compiled several times (file suffixes _avx2, _avx512,
 * _neon; see CMakeLists.txt) and the caller picks the variant with
 * eco_cpu_detect(), so one x86-64 binary uses AVX2/AVX-512 where present
 * and still runs where absent. ECOINFER_CPU_MAX=scalar|avx2|avx512|avx512vnni
 * caps the level (to test each path on one machine; "avx512" keeps the
 * AVX-512 kernels that do without VNNI). */
#ifndef ECO_UTIL_CPU_H
#define ECO_UTIL_CPU_H

#include <stdbool.h>
#include <stdint.h>

typedef enum eco_simd_level {
  ECO_SIMD_SCALAR = 0,
  ECO_SIMD_NEON = 1,       /* aarch64 Advanced SIMD */
  ECO_SIMD_AVX2 = 2,       /* AVX2 + FMA + F16C */
  ECO_SIMD_AVX512 = 3,     /* AVX-512 F/BW/VL/DQ */
  ECO_SIMD_AVX512VNNI = 4, /* the same + VNNI (vpdpbusd) */
} eco_simd_level;

typedef struct eco_cpu_info {
  char model[128];    /* "AMD EPYC 7B13" etc. */
  char arch[16];      /* "x86_64", "aarch64" */
  int logical_cpus;   /* online logical CPUs */
  int physical_cores; /* best effort; = logical_cpus if unknown */
  bool has_sse42, has_avx, has_avx2, has_fma, has_f16c;
  bool has_avx512f, has_avx512bw, has_avx512vl, has_avx512dq, has_avx512vnni;
  bool has_neon, has_dotprod;
  eco_simd_level level;         /* best usable level after ECOINFER_CPU_MAX cap */
  uint64_t mem_total_bytes;     /* MemTotal */
  uint64_t mem_available_bytes; /* MemAvailable */
} eco_cpu_info;

/* Fills *info (never fails; unknown fields stay zero/empty). */
void eco_cpu_detect(eco_cpu_info *info);
const char *eco_simd_name(eco_simd_level l);
/* Peak resident set size of this process in bytes (VmHWM). */
uint64_t eco_mem_peak_rss(void);
/* Current resident set size in bytes (VmRSS). */
uint64_t eco_mem_rss(void);

#endif
