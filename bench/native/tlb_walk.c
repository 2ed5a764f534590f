/* access_walk_model baseline: the TLB model's work for an access that misses
 * every TLB level and walks, in plain C, with the geometry of the 'skylake'
 * preset (src/tlb.ts; the figure pins that preset). Per read of va:
 *
 *   - the fast path: va inside the page of the last translation -> an L1 hit,
 *     nothing else (never taken here: each page is read once per pass);
 *   - L1 DTLB: arrays 4K (64 entries, 4-way), 2M (32, 4-way), 1G (4, fully
 *     associative); only the arrays that may hold entries are probed (here the
 *     4K one); tag = vpn | page-size class | PCID | valid;
 *   - L2 STLB: 1536 entries 6-way holding 4K and 2M (each size it may hold is
 *     probed: here 4K only), 16-entry 4-way 1G array (empty: not probed);
 *   - the walk through the page-walk caches (ChampSim geometry: PDE 32 entries
 *     8-way keyed va>>21, PDPTE 8 4-way va>>30, PML4E 4 4-way va>>39): deepest
 *     hit first, the remaining entries read from the page table (here: a PDE
 *     hit, then one PTE read), present/RW checked like the walker, A set when
 *     clear, the table entries read inserted in their walk caches;
 *   - fill L2 then L1 (LRU: invalid way first, else the least recently used)
 *     and point the fast path at the new L1 entry;
 *   - counters: L1 / L2 misses per page-size class, walks, walk memory
 *     references, walk-cache hits per level, L1 hits (fast path included).
 *
 * Entries are 16 bytes {tag u64, pfn u32, flags u32}; LRU is move-to-front
 * (way 0 the most recent, valid ways first), like the wasm core. The geometry
 * is compile-time constant here (the core reads it from its configuration):
 * what a native simulator written for one CPU would do.
 *
 * The page tables are pgtable.h's (walk.c's too): one flat "linear memory", a
 * pageblock table of 32-byte records whose first u32 is the host offset of the
 * pageblock's 2 MiB backing, real x86-64 entries in 512-entry tables, one read
 * per 4 KiB page over the range (the OP_TOUCH loop).
 *
 * usage: tlb_walk [pages=262144] [reps=15]
 * prints {"accesses_per_s", "ns_per_access", "median_ns_per_access", per-pass
 * counters, "counters_ok", ...}; exits 1 when a counter is off.
 */
#include "pgtable.h"

/* --- entries, sets --------------------------------------------------------------------- */

typedef struct {
  uint64_t tag; /* (va >> shift) << 14 | (shift - 12) << 9 | asid << 1 | valid */
  uint32_t pfn; /* frame of the translation's base (walk caches: the next table) */
  uint32_t fl;  /* EF_* | (shift - 12) << 8 */
} ent_t;

#define EF_W 1u
#define EF_D 2u
#define EF_NX 4u

static inline uint64_t mktag(uint64_t va, uint32_t s, uint32_t asid) {
  return ((va >> s) << 14) | ((uint64_t)(s - 12) << 9) | ((uint64_t)asid << 1) | 1;
}
static inline uint64_t pwc_tag(uint64_t va, uint32_t s, uint32_t asid) {
  return ((va >> s) << 14) | ((uint64_t)asid << 1) | 1;
}
static inline uint32_t tag_shift(uint64_t t) { return ((uint32_t)(t >> 9) & 31) + 12; }

/* Ways [0, w) move to [1, w + 1), straight-line (a loop here becomes a memmove
 * call at -O2). */
#define FT __attribute__((fallthrough))
static inline __attribute__((always_inline)) void shift_ways(ent_t *set, int w) {
  switch (w) {
    case 7: set[7] = set[6]; FT;
    case 6: set[6] = set[5]; FT;
    case 5: set[5] = set[4]; FT;
    case 4: set[4] = set[3]; FT;
    case 3: set[3] = set[2]; FT;
    case 2: set[2] = set[1]; FT;
    case 1: set[1] = set[0]; FT;
    default: break;
  }
}

/* The way of set holding tag, moved to the front (LRU), or NULL. ways is a
 * constant at every call site: the compare chain unrolls. */
static inline __attribute__((always_inline)) ent_t *find_lru(ent_t *set, const int ways, uint64_t tag) {
  if (set[0].tag == tag) return set; /* most recent first */
#pragma GCC unroll 8
  for (int w = 1; w < ways; w++) {
    if (set[w].tag == tag) {
      const ent_t x = set[w];
      shift_ways(set, w);
      set[0] = x;
      return set;
    }
  }
  return NULL;
}

/* Insert at the front; the last way (invalid, or the least recent) drops out. */
static inline __attribute__((always_inline)) ent_t *fill_lru(ent_t *set, const int ways, uint64_t tag, uint32_t pfn, uint32_t fl) {
  shift_ways(set, ways - 1);
  set[0].tag = tag;
  set[0].pfn = pfn;
  set[0].fl = fl;
  return set;
}

/* --- one CPU's TLBs: skylake --------------------------------------------------------------- */

enum { CL_4K, CL_COAL, CL_2M, CL_1G };
enum { LV_L1D, LV_L1I, LV_L2, LV_L2I };
enum {
  C_HIT = 0, C_MISS = 16, C_WALKS = 32, C_WALK_REFS = 33, C_PWC_HIT = 34, C_WALK_FAULTS = 38, C_LOADS = 40,
  C_NR = 80,
};

#define B(s) (1u << (s))
typedef struct {
  ent_t l1_4k[16][4], l1_2m[8][4], l1_1g[1][4];
  ent_t l2[256][6], l2_1g[4][4];
  ent_t pde[4][8], pdpte[2][4], pml4e[1][4];
  uint32_t pm_l1_4k, pm_l1_2m, pm_l1_1g, pm_l2, pm_l2_1g; /* page shifts each array may hold (bit s) */
  uint32_t asid;
  uint64_t cnt[C_NR];
} cpu_t;

static cpu_t cpu0 __attribute__((aligned(64)));

/* the fast path: the last translation (an L1 entry) */
static uint64_t fp_base = ~0ull, fp_shift = 0, fp_count = 0;
static uint32_t fp_pfn, fp_pmask, fp_kinds;
static uint64_t *fp_ctr;

static inline void fp_flush(void) {
  if (fp_count) { *fp_ctr += fp_count; fp_count = 0; }
}
static inline void fp_set(cpu_t *c, const ent_t *e, uint64_t va, uint32_t cls) {
  fp_flush();
  const uint32_t s = tag_shift(e->tag);
  fp_base = va & ~((1ull << s) - 1);
  fp_shift = s;
  fp_pmask = (1u << (s - 12)) - 1;
  fp_pfn = e->pfn;
  fp_kinds = 1 | ((e->fl & (EF_W | EF_D)) == (EF_W | EF_D) ? 2 : 0);
  fp_ctr = &c->cnt[C_HIT + LV_L1D * 4 + cls];
}

static inline uint32_t shift_class(uint32_t s) { return s == 12 ? CL_4K : s < 21 ? CL_COAL : s < 30 ? CL_2M : CL_1G; }

/* L1 DTLB lookup: each array that may hold entries, at its page size. */
static inline ent_t *l1_lookup(cpu_t *c, uint64_t va, uint32_t asid) {
  ent_t *e;
  if (c->pm_l1_4k && (e = find_lru(c->l1_4k[(va >> 12) & 15], 4, mktag(va, 12, asid)))) return e;
  if (c->pm_l1_2m && (e = find_lru(c->l1_2m[(va >> 21) & 7], 4, mktag(va, 21, asid)))) return e;
  if (c->pm_l1_1g && (e = find_lru(c->l1_1g[0], 4, mktag(va, 30, asid)))) return e;
  return NULL;
}

/* L2 (STLB) lookup: the 4K/2M array at each size it may hold, then the 1G array. */
static inline ent_t *l2_lookup(cpu_t *c, uint64_t va, uint32_t asid) {
  ent_t *e;
  if ((c->pm_l2 & B(12)) && (e = find_lru(c->l2[(va >> 12) & 255], 6, mktag(va, 12, asid)))) return e;
  if ((c->pm_l2 & B(21)) && (e = find_lru(c->l2[(va >> 21) & 255], 6, mktag(va, 21, asid)))) return e;
  if (c->pm_l2_1g && (e = find_lru(c->l2_1g[(va >> 30) & 3], 4, mktag(va, 30, asid)))) return e;
  return NULL;
}

static inline ent_t *l1_fill(cpu_t *c, uint64_t va, uint32_t s, uint32_t asid, uint32_t pfn, uint32_t fl) {
  if (s == 12) { c->pm_l1_4k |= B(12); return fill_lru(c->l1_4k[(va >> 12) & 15], 4, mktag(va, 12, asid), pfn, fl); }
  if (s == 21) { c->pm_l1_2m |= B(21); return fill_lru(c->l1_2m[(va >> 21) & 7], 4, mktag(va, 21, asid), pfn, fl); }
  c->pm_l1_1g |= B(30);
  return fill_lru(c->l1_1g[0], 4, mktag(va, 30, asid), pfn, fl);
}

static inline void l2_fill(cpu_t *c, uint64_t va, uint32_t s, uint32_t asid, uint32_t pfn, uint32_t fl) {
  if (s == 30) { c->pm_l2_1g |= B(30); fill_lru(c->l2_1g[(va >> 30) & 3], 4, mktag(va, 30, asid), pfn, fl); return; }
  c->pm_l2 |= B(s);
  fill_lru(c->l2[(va >> s) & 255], 6, mktag(va, s, asid), pfn, fl);
}

/* --- the walker ---------------------------------------------------------------------------- */

/* A walk's result, returned in a register: the frame of the translation's base,
 * and info = EF_* | (shift - 12) << 8 | memory references << 16, or WALK_FAULT
 * (base: the page-fault error code | 0x100). */
typedef struct { uint32_t base, info; } wres_t;
#define WALK_FAULT 0x80000000u

static inline wres_t walk_fault(uint32_t refs) { return (wres_t){0x100 | X86_PF_USER, WALK_FAULT | refs << 16}; }

static inline wres_t walk_leaf(uint32_t p, uint64_t x, uint32_t shift, uint64_t rws, uint64_t nxs, uint32_t refs) {
  if ((x & _PAGE_ACCESSED) == 0) STORE64(p, x | _PAGE_ACCESSED);
  const uint32_t fl = (rws ? EF_W : 0) | ((nxs & _PAGE_NX) ? EF_NX : 0) | ((x & _PAGE_DIRTY) ? EF_D : 0);
  return (wres_t){(uint32_t)((x & PTE_PFN_MASK) >> 12), fl | (shift - 12) << 8 | refs << 16};
}

static inline uint32_t pwc_fl(uint64_t rws, uint64_t nxs) { return (rws ? EF_W : 0) | ((nxs & _PAGE_NX) ? EF_NX : 0); }

/* The walk from the top or from a PDPTE / PML4E walk-cache hit (the PDE one missed). */
static __attribute__((noinline)) wres_t walk_upper(cpu_t *c, uint32_t mm, uint64_t va, uint32_t asid) {
  uint32_t table = LOAD32(mm + MM_PGD);
  uint32_t shift = 39;
  uint64_t rws = _PAGE_RW, nxs = 0;
  ent_t *e;
  if ((e = find_lru(c->pdpte[(va >> 30) & 1], 4, pwc_tag(va, 30, asid)))) {
    c->cnt[C_PWC_HIT + 1]++;
    table = e->pfn, shift = 21;
    rws = (e->fl & EF_W) ? _PAGE_RW : 0, nxs = (e->fl & EF_NX) ? _PAGE_NX : 0;
  } else if ((e = find_lru(c->pml4e[0], 4, pwc_tag(va, 39, asid)))) {
    c->cnt[C_PWC_HIT + 2]++;
    table = e->pfn, shift = 30;
    rws = (e->fl & EF_W) ? _PAGE_RW : 0, nxs = (e->fl & EF_NX) ? _PAGE_NX : 0;
  }
  for (uint32_t refs = 1;; refs++) {
    const uint32_t p = entry_host(table, (uint32_t)(va >> shift) & 511);
    const uint64_t x = LOAD64(p);
    if ((x & _PAGE_PRESENT) == 0) return walk_fault(refs);
    rws &= x;
    nxs |= x;
    if (shift == 12 || (shift <= 30 && (x & _PAGE_PSE))) return walk_leaf(p, x, shift, rws, nxs, refs);
    if ((x & _PAGE_ACCESSED) == 0) STORE64(p, x | _PAGE_ACCESSED);
    const uint32_t pfn = (uint32_t)((x & PTE_PFN_MASK) >> 12);
    /* a present table entry goes into the walk cache of its level */
    const uint32_t fl = pwc_fl(rws, nxs);
    if (shift == 21) fill_lru(c->pde[(va >> 21) & 3], 8, pwc_tag(va, 21, asid), pfn, fl);
    else if (shift == 30) fill_lru(c->pdpte[(va >> 30) & 1], 4, pwc_tag(va, 30, asid), pfn, fl);
    else fill_lru(c->pml4e[0], 4, pwc_tag(va, 39, asid), pfn, fl);
    table = pfn;
    shift -= 9;
  }
}

/* A read's walk: a PDE walk-cache hit (the common case) leaves one PTE to read. */
static inline wres_t walk_read(cpu_t *c, uint32_t mm, uint64_t va, uint32_t asid) {
  const ent_t *e = find_lru(c->pde[(va >> 21) & 3], 8, pwc_tag(va, 21, asid));
  if (e) {
    c->cnt[C_PWC_HIT]++;
    const uint32_t fl = e->fl;
    const uint32_t p = entry_host(e->pfn, (uint32_t)(va >> 12) & 511);
    const uint64_t x = LOAD64(p);
    if ((x & _PAGE_PRESENT) == 0) return walk_fault(1);
    return walk_leaf(p, x, 12, (fl & EF_W) ? x & _PAGE_RW : 0, (fl & EF_NX) ? _PAGE_NX : x, 1);
  }
  return walk_upper(c, mm, va, asid);
}

/* Translate a read of va: 0 (pfn in *out) or a page-fault error code | 0x100. */
static inline uint32_t translate_read(cpu_t *c, uint32_t mm, uint64_t va, uint32_t *out) {
  const uint32_t asid = c->asid;
  ent_t *e = l1_lookup(c, va, asid);
  if (e) {
    const uint32_t s = tag_shift(e->tag), cls = shift_class(s);
    c->cnt[C_HIT + LV_L1D * 4 + cls]++;
    *out = e->pfn + ((uint32_t)(va >> 12) & ((1u << (s - 12)) - 1));
    fp_set(c, e, va, cls);
    return 0;
  }
  e = l2_lookup(c, va, asid);
  if (e) {
    const uint32_t s = tag_shift(e->tag), cls = shift_class(s);
    c->cnt[C_HIT + LV_L2 * 4 + cls]++;
    c->cnt[C_MISS + LV_L1D * 4 + cls]++;
    *out = e->pfn + ((uint32_t)(va >> 12) & ((1u << (s - 12)) - 1));
    fp_set(c, l1_fill(c, va, s, asid, e->pfn, e->fl), va, cls);
    return 0;
  }
  const wres_t w = walk_read(c, mm, va, asid);
  c->cnt[C_WALKS]++;
  c->cnt[C_WALK_REFS] += (w.info >> 16) & 0xff;
  if (w.info & WALK_FAULT) { c->cnt[C_WALK_FAULTS]++; return w.base; }
  const uint32_t shift = ((w.info >> 8) & 31) + 12, fl = w.info & 0x1fff, cls = shift_class(shift);
  c->cnt[C_MISS + LV_L1D * 4 + cls]++;
  c->cnt[C_MISS + LV_L2 * 4 + cls]++;
  l2_fill(c, va, shift, asid, w.base, fl);
  fp_set(c, l1_fill(c, va, shift, asid, w.base, fl), va, cls);
  *out = w.base + ((uint32_t)(va >> 12) & ((1u << (shift - 12)) - 1));
  return 0;
}

int main(int argc, char **argv) {
  long pages = arg_long(argc, argv, 1, 262144);
  const int reps = (int)arg_long(argc, argv, 2, 15);
  pages = (pages + 511) & ~511L; /* whole PTE tables */
  if (pages > 8L * 262144) { fprintf(stderr, "tlb_walk: at most 8 GiB (the PDPTE cache's reach)\n"); return 2; }
  if (!pgt_build(pages)) { fprintf(stderr, "tlb_walk: out of memory\n"); return 1; }
  const uint32_t mm = PGT_MM; /* a constant: the walks' mm record address folds */
  const uint64_t start = PGT_START;

  cpu_t *c = &cpu0;
  c->asid = 1; /* the task's PCID slot */
  fp_ctr = &c->cnt[C_HIT];
  double *ns = calloc((size_t)reps, sizeof(double));
  uint64_t sum = 0, before[C_NR], d[C_NR];
  const uint64_t end = start + ((uint64_t)pages << 12);
  const uint64_t ppass = (uint64_t)pages;
  /* PDE walk-cache misses per pass once warm: a set of the 4 (8 ways, LRU) that
   * more than 8 of the pass's 2 MiB regions map to misses on each of them */
  uint64_t pde_miss = 0;
  for (uint64_t set = 0; set < 4; set++) {
    const uint64_t n = (ppass / 512 + 3 - set) / 4;
    if (n > 8) pde_miss += n;
  }
  int ok = 1;
  for (int r = -2; r < reps; r++) { /* two warm-up rounds */
    fp_flush();
    memcpy(before, c->cnt, sizeof before);
    const double t0 = now_ns();
    for (uint64_t a = start; a < end; a += 4096) {
      uint32_t pfn = 0;
      if (((a ^ fp_base) >> fp_shift) == 0 && (fp_kinds & 1)) {
        pfn = fp_pfn + ((uint32_t)(a >> 12) & fp_pmask);
        fp_count++;
      } else if (translate_read(c, mm, a, &pfn)) {
        fprintf(stderr, "tlb_walk: unexpected fault at %llx\n", (unsigned long long)a);
        return 1;
      }
      sum += pfn;
    }
    c->cnt[C_LOADS] += ppass;
    const double t1 = now_ns();
    if (r >= 0) ns[r] = (t1 - t0) / (double)pages;
    fp_flush();
    for (int i = 0; i < C_NR; i++) d[i] = c->cnt[i] - before[i];
    /* every pass after the first: each read misses L1 and L2 and walks; the PDE
     * walk cache (32 entries) misses once per 2 MiB (512 PDEs per GiB cycle through
     * it), the PDPTE one then hits and the walk reads the PDE and the PTE. */
    if (r > -2) {
      ok &= d[C_WALKS] == ppass && d[C_MISS + LV_L1D * 4 + CL_4K] == ppass && d[C_MISS + LV_L2 * 4 + CL_4K] == ppass;
      ok &= d[C_HIT + LV_L1D * 4 + CL_4K] == 0 && d[C_HIT + LV_L2 * 4 + CL_4K] == 0 && d[C_WALK_FAULTS] == 0;
      ok &= d[C_PWC_HIT] == ppass - pde_miss && d[C_PWC_HIT + 1] == pde_miss && d[C_PWC_HIT + 2] == 0;
      ok &= d[C_WALK_REFS] == ppass + pde_miss && d[C_LOADS] == ppass;
    }
  }
  const double med = median(ns, reps), best = ns[0];
  printf("{\"program\":\"tlb_walk\",\"preset\":\"skylake\",\"pages\":%ld,\"reps\":%d,\"ns_per_access\":%.4f,\"accesses_per_s\":%.1f,"
         "\"median_ns_per_access\":%.4f,\"median_accesses_per_s\":%.1f,"
         "\"per_pass\":{\"walks\":%llu,\"walk_refs\":%llu,\"pwc_hit_pde\":%llu,\"pwc_hit_pdpte\":%llu,\"pwc_hit_pml4e\":%llu,"
         "\"l1d_miss_4k\":%llu,\"l2_miss_4k\":%llu,\"l1d_hit_4k\":%llu,\"l2_hit_4k\":%llu,\"loads\":%llu},"
         "\"walks\":%llu,\"counters_ok\":%s,\"checksum\":%llu}\n",
         pages, reps, best, 1e9 / best, med, 1e9 / med,
         (unsigned long long)d[C_WALKS], (unsigned long long)d[C_WALK_REFS], (unsigned long long)d[C_PWC_HIT],
         (unsigned long long)d[C_PWC_HIT + 1], (unsigned long long)d[C_PWC_HIT + 2],
         (unsigned long long)d[C_MISS + LV_L1D * 4 + CL_4K], (unsigned long long)d[C_MISS + LV_L2 * 4 + CL_4K],
         (unsigned long long)d[C_HIT + LV_L1D * 4 + CL_4K], (unsigned long long)d[C_HIT + LV_L2 * 4 + CL_4K],
         (unsigned long long)d[C_LOADS], (unsigned long long)c->cnt[C_WALKS], ok ? "true" : "false",
         (unsigned long long)(sum & 0xffff));
  if (!ok) { fprintf(stderr, "tlb_walk: counters off (see per_pass)\n"); return 1; }
  return 0;
}
