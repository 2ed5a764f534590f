/* zero_1g baseline: memset() of 1 GiB of already-touched memory (the cost of
 * clearing a 1 GiB folio once the host pages exist). Also reported, for the
 * diagnosis: the same 1 GiB cleared as 512 memset() calls of 2 MiB (the
 * core's backing chunks), which glibc does with cached stores instead of the
 * non-temporal stores it uses for very large sizes.
 *
 * usage: memset_1g [mib=1024] [reps=7]
 * prints {"ms_per_gib", "gib_per_s", "chunked_2m_ms_per_gib", ...}
 */
#include "common.h"
#include <sys/mman.h>

int main(int argc, char **argv) {
  const long mib = arg_long(argc, argv, 1, 1024);
  const int reps = (int)arg_long(argc, argv, 2, 7);
  const size_t size = (size_t)mib << 20;
  unsigned char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) { perror("mmap"); return 1; }
  memset(p, 1, size); /* first touch: host page faults, not measured */
  double *ms = calloc((size_t)reps, sizeof(double)), *chunked = calloc((size_t)reps, sizeof(double));
  unsigned sum = 0;
  for (int r = -1; r < reps; r++) {
    double t0 = now_ns();
    memset(p, 0, size);
    barrier();
    double t1 = now_ns();
    sum += p[size / 2];
    if (r >= 0) ms[r] = (t1 - t0) / 1e6 * 1024.0 / (double)mib;
    t0 = now_ns();
    for (size_t off = 0; off < size; off += 2u << 20) {
      memset(p + off, 0, 2u << 20);
      barrier();
    }
    t1 = now_ns();
    sum += p[size / 3];
    if (r >= 0) chunked[r] = (t1 - t0) / 1e6 * 1024.0 / (double)mib;
  }
  const double med = median(ms, reps), cmed = median(chunked, reps);
  const double best = ms[0], cbest = chunked[0];
  printf("{\"program\":\"memset_1g\",\"mib\":%ld,\"reps\":%d,\"ms_per_gib\":%.3f,\"gib_per_s\":%.3f,\"chunked_2m_ms_per_gib\":%.3f,"
         "\"median_ms_per_gib\":%.3f,\"median_chunked_2m_ms_per_gib\":%.3f,\"checksum\":%u}\n",
         mib, reps, best, 1000.0 / best, cbest, med, cmed, sum);
  return 0;
}
