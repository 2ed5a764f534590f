/* pte_table_fill baseline: build one 512-entry PTE table mapping 512
 * consecutive pfns (what fill_pte_table() does for a PMD/PUD split), n times
 * into the same hot 4 KiB table, as the kernel's set_ptes() loop does it.
 *
 * usage: pte_fill [tables_per_rep=200000] [reps=15]
 * prints {"ns_per_table", "tables_per_s", ...}
 */
#include "common.h"

static void __attribute__((noinline)) fill_pte_table(uint64_t *table, uint64_t entry) {
  for (int i = 0; i < 512; i++) table[i] = entry + ((uint64_t)i << 12);
}

int main(int argc, char **argv) {
  const long n = arg_long(argc, argv, 1, 200000);
  const int reps = (int)arg_long(argc, argv, 2, 15);
  uint64_t *table = aligned_alloc(4096, 4096);
  memset(table, 0, 4096);
  double *ns = calloc((size_t)reps, sizeof(double));
  uint64_t entry = 0x8000000000000867ull; /* NX | D | A | U | RW | P | SOFT_DIRTY-like bits */
  uint64_t sum = 0;
  for (int r = -2; r < reps; r++) {
    const double t0 = now_ns();
    for (long i = 0; i < n; i++) {
      fill_pte_table(table, entry + ((uint64_t)(i & 1023) << 21));
      barrier();
    }
    const double t1 = now_ns();
    sum += table[511];
    if (r >= 0) ns[r] = (t1 - t0) / (double)n;
  }
  const double med = median(ns, reps), best = ns[0];
  printf("{\"program\":\"pte_fill\",\"tables\":%ld,\"reps\":%d,\"ns_per_table\":%.4f,\"tables_per_s\":%.1f,\"median_ns_per_table\":%.4f,\"checksum\":%llu}\n",
         n, reps, best, 1e9 / best, med, (unsigned long long)(sum & 0xffff));
  return 0;
}
