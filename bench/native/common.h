/* Shared helpers of the native baselines: a monotonic clock, a compiler
 * barrier, a median, and one JSON object on stdout per program run. */
#ifndef HUGEMMU_BENCH_COMMON_H
#define HUGEMMU_BENCH_COMMON_H
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Keep the compiler from dropping or merging stores the benchmark must do. */
#define barrier() __asm__ __volatile__("" ::: "memory")

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Sorts v in place: afterwards v[0] is the minimum and v[n - 1] the maximum.
 * Baselines report the best repetition (least disturbed by other processes on
 * a shared machine: noise only adds time), and the median for the record. */
static inline double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof(double), cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static inline long arg_long(int argc, char **argv, int i, long def) {
  return argc > i ? strtol(argv[i], NULL, 0) : def;
}

#endif
