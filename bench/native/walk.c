/* access_walk baseline: a 4-level hardware walk per access over the same
 * table layout as the core's: one flat "linear memory", a pageblock table of
 * 32-byte records whose first u32 is the host offset of the pageblock's 2 MiB
 * backing, real x86-64 entries in 512-entry tables, A set by the walk like the
 * MMU does, one read per 4 KiB page over the range (the OP_TOUCH loop).
 *
 * Two walkers: hw_walk() is assembly/arch/x86/mmu.ts hw_walk ported line by
 * line (generic loop over levels); hw_walk4_read() is the same work unrolled
 * for 4 levels, as a tuned native walker would be written. The baseline is the
 * faster of the two (the best native code for the same work); both are printed.
 *
 * usage: walk [pages=262144] [reps=15]
 * prints {"accesses_per_s", "ns_per_access", "loop_ns_per_access", "unrolled_ns_per_access", ...}
 */
#include "pgtable.h"

static uint32_t walk_pfn, walk_level, walk_refs;

/* One hardware walk: 0 (walk_pfn set) or an x86 page-fault error code | 0x100. */
static uint32_t hw_walk(uint32_t mm, uint64_t addr, int write) {
  const uint64_t need = write ? _PAGE_PRESENT | _PAGE_RW : _PAGE_PRESENT;
  const uint32_t pf = 0x100 | X86_PF_USER | (write ? X86_PF_WRITE : 0);
  uint32_t table = LOAD32(mm + MM_PGD);
  uint32_t shift = LOAD32(mm + MM_LEVELS) == 5 ? 48 : 39;
  uint32_t refs = 0;
  for (;;) {
    const uint32_t p = entry_host(table, (uint32_t)(addr >> shift) & 511);
    const uint64_t e = LOAD64(p);
    refs++;
    if ((e & _PAGE_PRESENT) == 0) { walk_refs = refs; return pf; }
    if ((e & need) != need) { walk_refs = refs; return pf | X86_PF_PROT; }
    const int leaf = shift == 12 || (shift <= 30 && (e & _PAGE_PSE) != 0);
    uint64_t ne = e | _PAGE_ACCESSED;
    if (leaf && write) ne |= _PAGE_DIRTY;
    if (ne != e) STORE64(p, ne);
    const uint32_t pfn = (uint32_t)((e & PTE_PFN_MASK) >> 12);
    if (leaf) {
      walk_pfn = pfn + ((uint32_t)(addr >> 12) & ((1u << (shift - 12)) - 1));
      walk_level = shift == 12 ? 1 : shift == 21 ? 2 : 3;
      walk_refs = refs;
      return 0;
    }
    table = pfn;
    shift -= 9;
  }
}

/* The same walk for a 4-level read, unrolled: what a tuned native walker does.
 * Same loads, same A-bit stores, same layout; no per-level loop state. */
static inline int walk_level_read(uint64_t *e_out, uint32_t table, uint32_t idx) {
  const uint32_t p = entry_host(table, idx);
  const uint64_t e = LOAD64(p);
  if ((e & _PAGE_PRESENT) == 0) return 0;
  if ((e & _PAGE_ACCESSED) == 0) STORE64(p, e | _PAGE_ACCESSED);
  *e_out = e;
  return 1;
}

static uint32_t hw_walk4_read(uint32_t mm, uint64_t addr) {
  uint64_t e;
  if (!walk_level_read(&e, LOAD32(mm + MM_PGD), (uint32_t)(addr >> 39) & 511)) return 0x104;
  if (!walk_level_read(&e, (uint32_t)((e & PTE_PFN_MASK) >> 12), (uint32_t)(addr >> 30) & 511)) return 0x104;
  if (e & _PAGE_PSE) { walk_pfn = (uint32_t)((e & PTE_PFN_MASK) >> 12) + ((uint32_t)(addr >> 12) & 262143); walk_level = 3; return 0; }
  if (!walk_level_read(&e, (uint32_t)((e & PTE_PFN_MASK) >> 12), (uint32_t)(addr >> 21) & 511)) return 0x104;
  if (e & _PAGE_PSE) { walk_pfn = (uint32_t)((e & PTE_PFN_MASK) >> 12) + ((uint32_t)(addr >> 12) & 511); walk_level = 2; return 0; }
  if (!walk_level_read(&e, (uint32_t)((e & PTE_PFN_MASK) >> 12), (uint32_t)(addr >> 12) & 511)) return 0x104;
  walk_pfn = (uint32_t)((e & PTE_PFN_MASK) >> 12);
  walk_level = 1;
  return 0;
}

int main(int argc, char **argv) {
  const long pages = arg_long(argc, argv, 1, 262144);
  const int reps = (int)arg_long(argc, argv, 2, 15);
  if (!pgt_build(pages)) { fprintf(stderr, "walk: out of memory\n"); return 1; }
  const uint32_t mm = PGT_MM; /* a constant: the walks' mm record address folds */
  const uint64_t start = PGT_START;

  /* Both walkers, interleaved so that they share the machine's noise. */
  double *ns_loop = calloc((size_t)reps, sizeof(double)), *ns_unrolled = calloc((size_t)reps, sizeof(double));
  uint64_t sum = 0;
  const uint64_t end = start + ((uint64_t)pages << 12);
  for (int r = -2; r < reps; r++) { /* two warm-up rounds */
    double t0 = now_ns();
    for (uint64_t a = start; a < end; a += 4096) {
      /* translate(): walk, fault on failure (never here: every page is mapped) */
      if (hw_walk(mm, a, 0)) { fprintf(stderr, "walk: unexpected fault at %llx\n", (unsigned long long)a); return 1; }
      sum += walk_pfn;
    }
    double t1 = now_ns();
    if (r >= 0) ns_loop[r] = (t1 - t0) / (double)pages;
    t0 = now_ns();
    for (uint64_t a = start; a < end; a += 4096) {
      if (hw_walk4_read(mm, a)) { fprintf(stderr, "walk: unexpected fault at %llx\n", (unsigned long long)a); return 1; }
      sum += walk_pfn;
    }
    t1 = now_ns();
    if (r >= 0) ns_unrolled[r] = (t1 - t0) / (double)pages;
  }
  const double loop_med = median(ns_loop, reps), unrolled_med = median(ns_unrolled, reps);
  const double loop = ns_loop[0], unrolled = ns_unrolled[0];
  const double best = loop < unrolled ? loop : unrolled;
  printf("{\"program\":\"walk\",\"pages\":%ld,\"reps\":%d,\"ns_per_access\":%.4f,\"accesses_per_s\":%.1f,"
         "\"loop_ns_per_access\":%.4f,\"unrolled_ns_per_access\":%.4f,\"median_loop_ns_per_access\":%.4f,"
         "\"median_unrolled_ns_per_access\":%.4f,\"checksum\":%llu}\n",
         pages, reps, best, 1e9 / best, loop, unrolled, loop_med, unrolled_med, (unsigned long long)(sum & 0xffff));
  return 0;
}
