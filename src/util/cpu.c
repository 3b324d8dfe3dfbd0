#include "util/cpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
static uint64_t xgetbv0(void) {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((uint64_t)hi << 32) | lo;
}
static void detect_x86(eco_cpu_info *c) {
  unsigned a, b, cx, d;
  if (!__get_cpuid(1, &a, &b, &cx, &d)) return;
  c->has_sse42 = (cx >> 20) & 1;
  bool osxsave = (cx >> 27) & 1;
  bool avx = (cx >> 28) & 1;
  c->has_fma = (cx >> 12) & 1;
  c->has_f16c = (cx >> 29) & 1;
  uint64_t xcr0 = osxsave ? xgetbv0() : 0;
  bool ymm_os = (xcr0 & 0x6) == 0x6;
  bool zmm_os = (xcr0 & 0xe6) == 0xe6;
  c->has_avx = avx && ymm_os;
  if (__get_cpuid_max(0, NULL) >= 7) {
    __cpuid_count(7, 0, a, b, cx, d);
    c->has_avx2 = c->has_avx && ((b >> 5) & 1);
    c->has_avx512f = zmm_os && ((b >> 16) & 1);
    c->has_avx512dq = c->has_avx512f && ((b >> 17) & 1);
    c->has_avx512bw = c->has_avx512f && ((b >> 30) & 1);
    c->has_avx512vl = c->has_avx512f && ((b >> 31) & 1);
    c->has_avx512vnni = c->has_avx512f && ((cx >> 11) & 1);
  }
  if (!c->has_avx) c->has_fma = c->has_f16c = false;
}
#endif

static void read_cpuinfo(eco_cpu_info *c) {
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return;
  char line[1024];
  int max_core = -1, phys_ids = 0;
  char seen_pair[256] = {0};
  (void)seen_pair;
  while (fgets(line, sizeof line, f)) {
    char *colon = strchr(line, ':');
    if (!colon) continue;
    char *val = colon + 1;
    while (*val == ' ' || *val == '\t')
      val++;
    val[strcspn(val, "\n")] = '\0';
    if (!c->model[0] && (strncmp(line, "model name", 10) == 0 || strncmp(line, "Model", 5) == 0))
      snprintf(c->model, sizeof c->model, "%s", val);
    if (strncmp(line, "cpu cores", 9) == 0) {
      int n = atoi(val);
      if (n > max_core) max_core = n;
    }
    if (strncmp(line, "physical id", 11) == 0) {
      int id = atoi(val);
      if (id + 1 > phys_ids) phys_ids = id + 1;
    }
    if (strncmp(line, "Features", 8) == 0) {
      if (strstr(val, "asimd")) c->has_neon = true;
      if (strstr(val, "asimddp")) c->has_dotprod = true;
    }
  }
  fclose(f);
  if (max_core > 0) c->physical_cores = max_core * (phys_ids > 0 ? phys_ids : 1);
}

static void read_meminfo(eco_cpu_info *c) {
  FILE *f = fopen("/proc/meminfo", "r");
  if (!f) return;
  char line[256];
  unsigned long long kb;
  while (fgets(line, sizeof line, f)) {
    if (sscanf(line, "MemTotal: %llu kB", &kb) == 1) c->mem_total_bytes = kb * 1024ull;
    if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) c->mem_available_bytes = kb * 1024ull;
  }
  fclose(f);
}

void eco_cpu_detect(eco_cpu_info *c) {
  memset(c, 0, sizeof *c);
  struct utsname u;
  if (uname(&u) == 0) snprintf(c->arch, sizeof c->arch, "%s", u.machine);
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  c->logical_cpus = n > 0 ? (int)n : 1;
  read_cpuinfo(c);
  if (c->physical_cores <= 0 || c->physical_cores > c->logical_cpus)
    c->physical_cores = c->logical_cpus;
  read_meminfo(c);
#if defined(__x86_64__) || defined(__i386__)
  detect_x86(c);
  if (c->has_avx512f && c->has_avx512bw && c->has_avx512vl && c->has_avx512dq && c->has_fma &&
      c->has_f16c)
    c->level = c->has_avx512vnni ? ECO_SIMD_AVX512VNNI : ECO_SIMD_AVX512;
  else if (c->has_avx2 && c->has_fma && c->has_f16c)
    c->level = ECO_SIMD_AVX2;
  else
    c->level = ECO_SIMD_SCALAR;
#elif defined(__aarch64__)
  c->has_neon = true; /* mandatory on aarch64 */
  c->level = ECO_SIMD_NEON;
#endif
  const char *cap = getenv("ECOINFER_CPU_MAX");
  if (cap && *cap) {
    eco_simd_level m = c->level;
    if (strcasecmp(cap, "scalar") == 0)
      m = ECO_SIMD_SCALAR;
    else if (strcasecmp(cap, "avx2") == 0)
      m = ECO_SIMD_AVX2;
    else if (strcasecmp(cap, "avx512") == 0)
      m = ECO_SIMD_AVX512;
    else if (strcasecmp(cap, "avx512vnni") == 0)
      m = ECO_SIMD_AVX512VNNI;
    else if (strcasecmp(cap, "neon") == 0)
      m = ECO_SIMD_NEON;
    if (m < c->level) c->level = m;
  }
  if (!c->model[0]) snprintf(c->model, sizeof c->model, "unknown %s CPU", c->arch);
}

const char *eco_simd_name(eco_simd_level l) {
  switch (l) {
  case ECO_SIMD_NEON: return "neon";
  case ECO_SIMD_AVX2: return "avx2";
  case ECO_SIMD_AVX512: return "avx512";
  case ECO_SIMD_AVX512VNNI: return "avx512vnni";
  default: return "scalar";
  }
}

static uint64_t status_kb(const char *key) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  unsigned long long kb = 0;
  size_t kl = strlen(key);
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
      sscanf(line + kl + 1, " %llu", &kb);
      break;
    }
  }
  fclose(f);
  return kb * 1024ull;
}

uint64_t eco_mem_peak_rss(void) { return status_kb("VmHWM"); }
uint64_t eco_mem_rss(void) { return status_kb("VmRSS"); }
