/* The page-table layout of the access baselines (walk.c, tlb_walk.c), the
 * core's: one flat "linear memory", a pageblock table of 32-byte records whose
 * first u32 is the host offset of the pageblock's 2 MiB backing, real x86-64
 * entries in 512-entry tables; an mm record with the PGD and the level count. */
#ifndef HUGEMMU_BENCH_PGTABLE_H
#define HUGEMMU_BENCH_PGTABLE_H
#include "common.h"

#define PB_SIZE 32u
#define PB_DATA 0u
#define _PAGE_PRESENT 0x1ull
#define _PAGE_RW 0x2ull
#define _PAGE_USER 0x4ull
#define _PAGE_ACCESSED 0x20ull
#define _PAGE_DIRTY 0x40ull
#define _PAGE_PSE 0x80ull
#define _PAGE_NX (1ull << 63)
#define PTE_PFN_MASK 0x000ffffffffff000ull
#define _PAGE_TABLE (_PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY)
#define X86_PF_PROT 1u
#define X86_PF_WRITE 2u
#define X86_PF_USER 4u
#define MM_PGD 0u
#define MM_LEVELS 92u

static uint8_t *mem; /* the "linear memory" */
static uint32_t pbtab; /* offset of the pageblock table in mem */

#define LOAD32(off) (*(uint32_t *)(mem + (off)))
#define LOAD64(off) (*(uint64_t *)(mem + (off)))
#define STORE32(off, v) (*(uint32_t *)(mem + (off)) = (v))
#define STORE64(off, v) (*(uint64_t *)(mem + (off)) = (v))

static inline uint32_t entry_host(uint32_t table_pfn, uint32_t idx) {
  return LOAD32(pbtab + (table_pfn >> 9) * PB_SIZE + PB_DATA) + ((table_pfn & 511) << 12) + (idx << 3);
}

/* Page-table frames come from their own pageblocks (the core allocates them
 * MIGRATE_UNMOVABLE); user frames from others. */
static uint32_t next_table_pfn;
static uint32_t table_alloc(void) { return next_table_pfn++; }

#define PGT_MM 0x1000u /* the mm record */
#define PGT_START 0x7f0000000000ull /* 1 GiB aligned, as the core's mmap places it */

/* A 4-level mm mapping `pages` 4 KiB pages from PGT_START, each present,
 * writable, accessed and dirty (populated memory). Returns the mm record's
 * offset (PGT_MM), or 0 without memory. Not inlined: set-up code inlined into
 * main() changed the timed loops' code layout (a few percent on tlb_walk). */
__attribute__((noinline)) static uint32_t pgt_build(long pages) {
  const size_t tables_needed = (size_t)pages / 512 + 8;
  const uint32_t table_pbs = (uint32_t)((tables_needed + 511) / 512);
  /* layout: [0, 4 MiB) control (mm record at 0x1000), pbtab at 4 MiB, backing chunks after */
  const size_t pbtab_off = 4u << 20;
  const size_t chunks_off = pbtab_off + (2u << 20);
  const size_t size = chunks_off + (size_t)table_pbs * (2u << 20);
  mem = aligned_alloc(2u << 20, size);
  if (!mem) return 0;
  memset(mem, 0, size);
  pbtab = (uint32_t)pbtab_off;
  /* table pageblocks start at pageblock 2 (0 is reserved, like the core's) */
  for (uint32_t i = 0; i < table_pbs; i++)
    STORE32(pbtab + (2 + i) * PB_SIZE + PB_DATA, (uint32_t)(chunks_off + (size_t)i * (2u << 20)));
  next_table_pfn = 2 * 512;
  const uint32_t user_pfn0 = (2 + table_pbs + 2) * 512; /* user pages: no backing needed (metadata mode) */

  const uint32_t pgd = table_alloc();
  STORE32(PGT_MM + MM_PGD, pgd);
  STORE32(PGT_MM + MM_LEVELS, 4);
  const uint64_t prot = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED | _PAGE_NX | _PAGE_RW | _PAGE_DIRTY | (1ull << 11);
  for (long i = 0; i < pages; i++) {
    const uint64_t a = PGT_START + ((uint64_t)i << 12);
    uint32_t t = pgd;
    for (uint32_t shift = 39; shift > 12; shift -= 9) {
      const uint32_t p = entry_host(t, (uint32_t)(a >> shift) & 511);
      uint64_t e = LOAD64(p);
      if (e == 0) { e = ((uint64_t)table_alloc() << 12) | _PAGE_TABLE; STORE64(p, e); }
      t = (uint32_t)((e & PTE_PFN_MASK) >> 12);
    }
    STORE64(entry_host(t, (uint32_t)(a >> 12) & 511), ((uint64_t)(user_pfn0 + (uint32_t)i) << 12) | prot);
  }
  return PGT_MM;
}

#endif
