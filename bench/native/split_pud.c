/* split_pud baseline: the write pattern of splitting a 1 GiB PUD leaf to PTEs
 * (KERNEL-SPEC §4.2 [RFC-PUD], variant thp.pud.splitTarget=pte): with the 513
 * deposited tables already allocated, fill 512 PTE tables with 512 consecutive
 * pfns each, point the 512 PMD entries at them, then the PUD entry at the PMD
 * table.
 *
 * usage: split_pud [reps=41]
 * prints {"us_per_split", "splits_per_s", ...}
 */
#include "common.h"

#define _PAGE_TABLE 0x67ull

static void __attribute__((noinline)) fill_pte_table(uint64_t *table, uint64_t entry) {
  for (int i = 0; i < 512; i++) table[i] = entry + ((uint64_t)i << 12);
}

int main(int argc, char **argv) {
  const int reps = (int)arg_long(argc, argv, 1, 41);
  /* 512 PTE tables + the PMD table (the deposit), and the PUD table */
  uint64_t *tables = aligned_alloc(4096, 513 * 4096);
  uint64_t *pud = aligned_alloc(4096, 4096);
  memset(tables, 0, 513 * 4096);
  memset(pud, 0, 4096);
  const uint64_t tables_pfn = 0x40000; /* pretend physical frame numbers of the deposit */
  const uint64_t folio_pfn = 0x100000; /* 1 GiB aligned folio */
  const uint64_t prot = 0x8000000000000867ull; /* NX | D | A | U | RW | P + soft-dirty */
  uint64_t *pmd = tables + 512 * 512;
  double *us = calloc((size_t)reps, sizeof(double));
  uint64_t sum = 0;
  for (int r = -3; r < reps; r++) {
    pud[5] = (folio_pfn << 12) | prot | 0x80; /* the PUD leaf being split */
    barrier();
    const double t0 = now_ns();
    const uint64_t leaf = pud[5];
    pud[5] = 0; /* pudp_huge_clear_flush */
    barrier();
    const uint64_t entry = leaf & ~0x80ull;
    for (uint64_t j = 0; j < 512; j++) {
      fill_pte_table(tables + j * 512, entry + ((j * 512) << 12));
      pmd[j] = ((tables_pfn + j) << 12) | _PAGE_TABLE; /* pmd_populate */
    }
    barrier();
    pud[5] = ((tables_pfn + 512) << 12) | _PAGE_TABLE; /* pud_populate */
    barrier();
    const double t1 = now_ns();
    sum += tables[12345] + pmd[77];
    if (r >= 0) us[r] = (t1 - t0) / 1e3;
  }
  const double med = median(us, reps), best = us[0];
  printf("{\"program\":\"split_pud\",\"reps\":%d,\"us_per_split\":%.3f,\"splits_per_s\":%.1f,\"median_us_per_split\":%.3f,\"checksum\":%llu}\n",
         reps, best, 1e6 / best, med, (unsigned long long)(sum & 0xffff));
  return 0;
}
