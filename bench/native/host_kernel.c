/* Host-kernel baselines, measured on the machine running the benchmark:
 *
 *   host_kernel fault4k MIB REPS   4 KiB anonymous write faults/s (mmap +
 *                                  MADV_NOHUGEPAGE + one store per page)
 *   host_kernel thp2m MIB REPS     2 MiB THP write faults/s (mmap, 2 MiB
 *                                  aligned, MADV_HUGEPAGE, one store per 2 MiB)
 *   host_kernel fork MIB REPS thp|4k
 *                                  fork() time with a populated private region
 *                                  (THP-backed or 4 KiB pages), and of an empty
 *                                  process, so that per-GiB costs can be derived
 *
 * Faults are counted with getrusage(RUSAGE_SELF).ru_minflt; THP backing is
 * checked in /proc/self/smaps_rollup (AnonHugePages). Nothing in sysfs is
 * changed: if THP is disabled the program says so.
 * Prints one JSON object.
 */
#include "common.h"
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MADV_HUGEPAGE
#define MADV_HUGEPAGE 14
#endif
#ifndef MADV_NOHUGEPAGE
#define MADV_NOHUGEPAGE 15
#endif

static long minflt(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_minflt;
}

static long anon_huge_kb(void) {
  FILE *f = fopen("/proc/self/smaps_rollup", "r");
  if (!f) return -1;
  char line[256];
  long kb = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "AnonHugePages: %ld kB", &kb) == 1) break;
  fclose(f);
  return kb;
}

static void read_sysfs(const char *path, char *out, size_t n) {
  out[0] = 0;
  FILE *f = fopen(path, "r");
  if (!f) { snprintf(out, n, "unavailable"); return; }
  if (!fgets(out, (int)n, f)) out[0] = 0;
  fclose(f);
  size_t l = strlen(out);
  while (l && (out[l - 1] == '\n' || out[l - 1] == ' ')) out[--l] = 0;
}

static unsigned char *map_region(size_t size, int huge) {
  const size_t align = 2u << 20;
  unsigned char *raw = mmap(NULL, size + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) { perror("mmap"); exit(1); }
  unsigned char *p = (unsigned char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
  if (p > raw) munmap(raw, (size_t)(p - raw));
  const size_t tail = (size_t)(raw + size + align - (p + size));
  if (tail) munmap(p + size, tail);
  if (madvise(p, size, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) != 0) perror("madvise");
  return p;
}

static int fault4k(long mib, int reps) {
  const size_t size = (size_t)mib << 20, pages = size >> 12;
  double *rate = calloc((size_t)reps, sizeof(double));
  long faults = 0;
  for (int r = -1; r < reps; r++) {
    unsigned char *p = map_region(size, 0);
    const long f0 = minflt();
    const double t0 = now_ns();
    for (size_t i = 0; i < size; i += 4096) p[i] = 1;
    const double t1 = now_ns();
    faults = minflt() - f0;
    munmap(p, size);
    if (r >= 0) rate[r] = (double)faults / ((t1 - t0) / 1e9);
  }
  const double med = median(rate, reps), best = rate[reps - 1];
  printf("{\"program\":\"host_kernel\",\"mode\":\"fault4k\",\"mib\":%ld,\"reps\":%d,\"pages\":%zu,\"faults\":%ld,\"faults_per_s\":%.1f,\"ns_per_fault\":%.2f,\"median_faults_per_s\":%.1f}\n",
         mib, reps, pages, faults, best, 1e9 / best, med);
  return 0;
}

static int thp2m(long mib, int reps) {
  char enabled[128], defrag[128];
  read_sysfs("/sys/kernel/mm/transparent_hugepage/enabled", enabled, sizeof enabled);
  read_sysfs("/sys/kernel/mm/transparent_hugepage/defrag", defrag, sizeof defrag);
  const size_t size = (size_t)mib << 20, huge = size >> 21;
  double *rate = calloc((size_t)reps, sizeof(double));
  long faults = 0, thp_kb = 0;
  for (int r = -1; r < reps; r++) {
    unsigned char *p = map_region(size, 1);
    const long f0 = minflt();
    const double t0 = now_ns();
    for (size_t i = 0; i < size; i += 2u << 20) p[i] = 1;
    const double t1 = now_ns();
    faults = minflt() - f0;
    thp_kb = anon_huge_kb();
    munmap(p, size);
    if (r >= 0) rate[r] = (double)faults / ((t1 - t0) / 1e9);
  }
  const double med = median(rate, reps), best = rate[reps - 1];
  const double thp_fraction = (double)thp_kb / (double)(size >> 10);
  printf("{\"program\":\"host_kernel\",\"mode\":\"thp2m\",\"mib\":%ld,\"reps\":%d,\"huge_pages\":%zu,\"faults\":%ld,"
         "\"faults_per_s\":%.1f,\"us_per_fault\":%.3f,\"median_faults_per_s\":%.1f,\"thp_fraction\":%.4f,\"thp_enabled\":\"%s\",\"thp_defrag\":\"%s\"}\n",
         mib, reps, huge, faults, best, 1e6 / best, med, thp_fraction, enabled, defrag);
  return 0;
}

static double time_fork(void) {
  const double t0 = now_ns();
  const pid_t pid = fork();
  if (pid == 0) _exit(0);
  const double t1 = now_ns();
  if (pid < 0) { perror("fork"); exit(1); }
  int st;
  waitpid(pid, &st, 0);
  return (t1 - t0) / 1e6;
}

static int fork_region(long mib, int reps, int huge) {
  const size_t size = (size_t)mib << 20;
  double *empty = calloc((size_t)reps, sizeof(double)), *full = calloc((size_t)reps, sizeof(double));
  for (int r = -1; r < reps; r++) { const double ms = time_fork(); if (r >= 0) empty[r] = ms; }
  unsigned char *p = map_region(size, huge);
  for (size_t i = 0; i < size; i += 4096) p[i] = 1;
  const long thp_kb = anon_huge_kb();
  for (int r = -1; r < reps; r++) { const double ms = time_fork(); if (r >= 0) full[r] = ms; }
  munmap(p, size);
  const double em = median(empty, reps), fm = median(full, reps);
  const double e = empty[0], f = full[0];
  printf("{\"program\":\"host_kernel\",\"mode\":\"fork\",\"backing\":\"%s\",\"mib\":%ld,\"reps\":%d,\"empty_ms\":%.4f,"
         "\"region_ms\":%.4f,\"ms_per_gib\":%.4f,\"median_empty_ms\":%.4f,\"median_region_ms\":%.4f,\"thp_fraction\":%.4f}\n",
         huge ? "thp" : "4k", mib, reps, e, f, (f - e) * 1024.0 / (double)mib, em, fm, (double)thp_kb / (double)(size >> 10));
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: host_kernel fault4k|thp2m|fork MIB REPS [thp|4k]\n"); return 2; }
  const long mib = arg_long(argc, argv, 2, 1024);
  const int reps = (int)arg_long(argc, argv, 3, 5);
  if (!strcmp(argv[1], "fault4k")) return fault4k(mib, reps);
  if (!strcmp(argv[1], "thp2m")) return thp2m(mib, reps);
  if (!strcmp(argv[1], "fork")) return fork_region(mib, reps, argc > 4 && !strcmp(argv[4], "thp"));
  fprintf(stderr, "host_kernel: unknown mode %s\n", argv[1]);
  return 2;
}
