// Hardware TLB model (DESIGN rule 6): per-CPU set-associative TLBs (L1 data,
// L1 instruction, L2 data or unified, optional separate L2 instruction), one
// array per page size or mixed arrays, page-walk caches keyed per level,
// PCID/ASID tags, coalesced entries (arm64 contpte, AMD-style), fractured
// ("smashed") entries, the x86 walker with its caching rules, and the
// functional translation cache of tlb: 'off' (QEMU softmmu style: a
// direct-mapped (asid, vpn) -> frame cache invalidated by the same flushes).
//
// Entries are 16 bytes: tag u64, pfn u32 (frame of the entry's base), flags u32.
//   tag = (va >> shift) << 14 | (shift - 12) << 9 | asid << 1 | valid
// The CPU side (context switches, PCID slots, shootdowns) is in arch/cpu.ts.

import { LAYOUT_COUNTERS, CNT_TLB, LAYOUT_IO } from "../layout";
import { hostmem_reserve } from "../lib/hostmem";
import * as T from "../mm/mm_types";
import { pbtab, PB_SIZE, PB_DATA } from "../mm/page_alloc";
import {
  _PAGE_PRESENT, _PAGE_RW, _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PSE, _PAGE_NX, PTE_PFN_MASK, _PAGE_CONT,
} from "./x86/pgtable_types";
import { asid_owner_mm } from "./cpu";

// --- limits, levels, page-size classes, counters -------------------------------------

export const TLB_MAX_CPUS: u32 = 64;
export const TLB_NR_COUNTERS: u32 = 80; // u64 per CPU
const CNT_CPU_BYTES: u32 = TLB_NR_COUNTERS * 8;
// after the per-CPU blocks: details of the first stale entry found (f64 x 8)
export const CNT_TLB_INFO: u32 = CNT_TLB + TLB_MAX_CPUS * CNT_CPU_BYTES;

export const LV_L1D: u32 = 0;
export const LV_L1I: u32 = 1;
export const LV_L2: u32 = 2; // data-side or unified L2 (STLB)
export const LV_L2I: u32 = 3; // separate L2 instruction TLB (zen2)

export const CL_4K: u32 = 0;
export const CL_COAL: u32 = 1; // coalesced / contiguous groups of 4 KiB pages (contpte 64K, AMD 16K/32K)
export const CL_2M: u32 = 2;
export const CL_1G: u32 = 3;

// per-CPU counter indices
export const C_HIT: u32 = 0; // + level * 4 + class
export const C_MISS: u32 = 16; // + level * 4 + class (class of the translation that was found)
export const C_WALKS: u32 = 32;
export const C_WALK_REFS: u32 = 33; // page-table entries read by walks (after walk-cache hits)
export const C_PWC_HIT: u32 = 34; // + 0 PDE (va>>21), 1 PDPTE (>>30), 2 PML4E (>>39), 3 PML5E (>>48)
export const C_WALK_FAULTS: u32 = 38;
export const C_DIRTY_ASSISTS: u32 = 39; // write through a clean cached entry: the walker sets D
export const C_LOADS: u32 = 40;
export const C_STORES: u32 = 41;
export const C_FETCHES: u32 = 42;
export const C_FAULTS: u32 = 43; // page faults raised by accesses on this CPU
export const C_SPURIOUS: u32 = 44; // faults from a cached translation that the page table already allows
export const C_INVLPG: u32 = 45; // single-address invalidations (INVLPG / TLBI VA)
export const C_FLUSH_SINGLE: u32 = 46; // partial flushes of one address
export const C_FLUSH_RANGE: u32 = 47; // partial flushes of several addresses
export const C_FLUSH_FULL: u32 = 48; // full flushes of an address space (CR3 reload / TLBI ASID)
export const C_FLUSH_SWITCH: u32 = 49; // full flushes of a PCID on a context switch
export const C_CTX_SWITCHES: u32 = 50;
export const C_MM_SWITCHES: u32 = 51;
export const C_IPI_SENT: u32 = 52;
export const C_IPI_RECEIVED: u32 = 53;
export const C_TLBI_BCAST: u32 = 54; // arm64 broadcast TLBI instructions issued
export const C_SHOOTDOWNS: u32 = 55; // flush_tlb_multi() calls made by this CPU
export const C_CONT_SET: u32 = 56; // contpte blocks written with PTE_CONT by set_ptes
export const C_CONT_FOLD: u32 = 57;
export const C_CONT_UNFOLD: u32 = 58;
export const C_STALE: u32 = 59; // cached translations found granting more than the page table
export const C_FRACT_FILLS: u32 = 60; // fills of a page split into smaller entries (1G smashed to 2M)
export const C_COAL_FILLS: u32 = 61;
export const C_ASID_ROLLOVER: u32 = 62;
export const C_RACE_SWITCHES: u32 = 63; // accesses of other threads run at a lock point

// One name per counter index, in index order.
export const TLB_COUNTER_NAMES: string =
  "l1d_hit_4k\nl1d_hit_coal\nl1d_hit_2m\nl1d_hit_1g\nl1i_hit_4k\nl1i_hit_coal\nl1i_hit_2m\n" +
  "l1i_hit_1g\nl2_hit_4k\nl2_hit_coal\nl2_hit_2m\nl2_hit_1g\nl2i_hit_4k\nl2i_hit_coal\nl2i_hit_2m\n" +
  "l2i_hit_1g\nl1d_miss_4k\nl1d_miss_coal\nl1d_miss_2m\nl1d_miss_1g\nl1i_miss_4k\nl1i_miss_coal\n" +
  "l1i_miss_2m\nl1i_miss_1g\nl2_miss_4k\nl2_miss_coal\nl2_miss_2m\nl2_miss_1g\nl2i_miss_4k\n" +
  "l2i_miss_coal\nl2i_miss_2m\nl2i_miss_1g\nwalks\nwalk_refs\npwc_hit_pde\npwc_hit_pdpte\n" +
  "pwc_hit_pml4e\npwc_hit_pml5e\nwalk_faults\ndirty_assists\nloads\nstores\nfetches\npage_faults\n" +
  "spurious_faults\ninvlpg\nflush_single\nflush_range\nflush_full\nflush_on_switch\n" +
  "context_switches\nmm_switches\nipi_sent\nipi_received\ntlbi_broadcast\nshootdowns\ncontpte_set\n" +
  "contpte_fold\ncontpte_unfold\nstale_entries\nfractured_fills\ncoalesced_fills\nasid_rollovers\n" +
  "race_switches";

@inline export function cnt_addr(cpu: u32, idx: u32): u32 {
  return LAYOUT_COUNTERS + CNT_TLB + cpu * CNT_CPU_BYTES + (idx << 3);
}
@inline export function cnt_inc(cpu: u32, idx: u32): void {
  const p = cnt_addr(cpu, idx);
  store<u64>(p, load<u64>(p) + 1);
}
@inline export function cnt_add(cpu: u32, idx: u32, n: u64): void {
  const p = cnt_addr(cpu, idx);
  store<u64>(p, load<u64>(p) + n);
}

// --- configuration ----------------------------------------------------------------------

export const TLB_OFF: u32 = 0;
export const TLB_MODEL: u32 = 1;
export const ARCH_X86: u32 = 0;
export const ARCH_ARM64: u32 = 1;
export const COAL_NONE: u32 = 0;
export const COAL_CONTPTE: u32 = 1;
export const COAL_AMD: u32 = 2;
const REPL_LRU: u32 = 0;
const REPL_FIFO: u32 = 1;
const REPL_RANDOM: u32 = 2;

export let tlb_mode: u32 = TLB_OFF;
export let tlb_arch: u32 = ARCH_X86;
export let tlb_ncpus: u32 = 1;
export let tlb_check: bool = false;
export let coal_kind: u32 = COAL_NONE;
let coal_shift: u32 = 12;
let invlpg_full_on_fractured: bool = false;
let l2i_separate: bool = false;

// array descriptors
const MAX_ARRAYS: u32 = 16;
const A_REC: u32 = 32;
const A_OFF: u32 = 0; // byte offset in the per-CPU area
const A_SETS: u32 = 4;
const A_WAYS: u32 = 8;
const A_SIZES: u32 = 12; // bit s set: holds pages of shift s
const A_REPL: u32 = 16;
const A_SETMASK: u32 = 20; // sets - 1, or 0xffffffff when sets is not a power of two
const A_LEVEL: u32 = 24;
const arrays: u32 = <u32>memory.data(MAX_ARRAYS * A_REC);
let nr_arrays: u32 = 0;
const lev_arr: u32 = <u32>memory.data(16); // 4 levels x 4 array indices (u8)
const lev_n: u32 = <u32>memory.data(4);
// page-walk caches: 0 PDE (key va>>21), 1 PDPTE (>>30), 2 PML4E (>>39), 3 PML5E (>>48)
const pwc: u32 = <u32>memory.data(4 * A_REC);
let pwc_any: bool = false;
// tlb: 'off': direct-mapped cache of 4 KiB translations
let off_entries: u32 = 4096;
let off_off: u32 = 0;
let cpu_area_bytes: u32 = 0;

// --- CPU records ------------------------------------------------------------------------

export const CPU_REC: u32 = 256;
export const CPU_CURR: u32 = 0; // u32 task running (0 = idle / kernel thread)
export const CPU_MM: u32 = 4; // u32 cpu_tlbstate.loaded_mm (0 = init_mm)
export const CPU_ASID: u32 = 8; // u32 loaded_mm_asid (x86 slot, arm64 hardware ASID)
export const CPU_LAZY: u32 = 12; // u32 cpu_tlbstate_shared.is_lazy
export const CPU_NEXT_ASID: u32 = 16; // u32 cpu_tlbstate.next_asid
export const CPU_TLB: u32 = 20; // u32 base of this CPU's TLB storage
export const CPU_FLAGS: u32 = 24; // u32 bit 0: holds fractured entries
const CPU_PLAN_N: u32 = 28; // 4 x u8: probes in each level's plan (PLAN_STALE: rebuild)
export const CPU_HUGE_LO: u32 = 32; // u64 off mode: VA range cached from huge pages
export const CPU_HUGE_HI: u32 = 40;
export const CPU_CTXS: u32 = 64; // 8 x {ctx_id u32, mm u32, tlb_gen u64} (cpu_tlbstate.ctxs)
const CPU_PMASK: u32 = 192; // 16 x u32: page shifts array i may hold valid entries of (probes skip the others)
export const TLB_NR_DYN_ASIDS: u32 = 6;
const cpus: u32 = <u32>memory.data(TLB_MAX_CPUS * CPU_REC);
@inline export function cpu_rec(cpu: u32): u32 { return cpus + cpu * CPU_REC; }
@inline export function ctx_rec(cpu: u32, asid: u32): u32 { return cpus + cpu * CPU_REC + CPU_CTXS + (asid << 4); }
@inline function pmask(cpu: u32, i: u32): u32 { return cpus + cpu * CPU_REC + CPU_PMASK + (i << 2); }

// the CPU the core is executing on (set by arch/cpu.ts for every task and kernel thread)
export let cur_cpu: u32 = 0;
export function set_cur_cpu(cpu: u32): void { cur_cpu = cpu; fp_invalidate(); }

// --- fast path: the last translation used ----------------------------------------------
// While no flush or context switch intervenes, an access inside the page of the
// last translation hits the same L1 entry, which is already the most recently
// used way of its set: only its hit counter changes (counted in fp_count).
export let fp_base: u64 = ~(<u64>0);
export let fp_shift: u64 = 0;
export let fp_pfn: u32 = 0;
export let fp_pmask: u32 = 0; // 4 KiB pages in the entry - 1
export let fp_kinds: u32 = 0; // bit kind: 0 read, 1 write, 2 fetch
export let fp_count: u64 = 0;
let fp_ctr: u32 = 0;
const fp_scratch: u32 = <u32>memory.data(8);

export const K_READ: u32 = 0;
export const K_WRITE: u32 = 1;
export const K_FETCH: u32 = 2;

@inline export function fp_hit(): void { fp_count++; }

@inline export function fp_flush(): void {
  if (fp_count != 0) {
    store<u64>(fp_ctr, load<u64>(fp_ctr) + fp_count);
    fp_count = 0;
  }
}
export function fp_invalidate(): void {
  pde_key = 0;
  fp_drop();
}
// the fast path alone (off mode's PDE cache stays)
@inline function fp_drop(): void {
  fp_flush();
  fp_base = ~(<u64>0);
  fp_shift = 0;
  fp_kinds = 0;
}
@inline function fp_set(base_va: u64, shift: u32, pfn: u32, kinds: u32, ctr: u32): void {
  fp_flush();
  if (tlb_check) { fp_base = ~(<u64>0); fp_shift = 0; fp_kinds = 0; return; }
  fp_base = base_va;
  fp_shift = shift;
  fp_pmask = (<u32>1 << (shift - 12)) - 1;
  fp_pfn = pfn;
  fp_kinds = kinds;
  fp_ctr = ctr;
}

// --- entries -----------------------------------------------------------------------------

const EF_W: u32 = 1; // writable through every level
const EF_D: u32 = 2; // the leaf was dirty when cached
const EF_NX: u32 = 4;
const EF_FRACT: u32 = 8; // a piece of a larger page (smashed 1G)
const EF_COAL: u32 = 16;
// bits 8..12: shift - 12 of the translation (the page size class)

@inline function mktag(va: u64, s: u32, asid: u32): u64 {
  return ((va >> s) << 14) | (<u64>(s - 12) << 9) | (<u64>asid << 1) | 1;
}
@inline function tag_shift(t: u64): u32 { return (<u32>(t >> 9) & 31) + 12; }
@inline function tag_asid(t: u64): u32 { return <u32>(t >> 1) & 255; }
@inline function tag_base(t: u64): u64 { return (t >> 14) << tag_shift(t); }
@inline function pwc_tag(va: u64, s: u32, asid: u32): u64 { return ((va >> s) << 14) | (<u64>asid << 1) | 1; }
@inline function fl_orig(fl: u32): u32 { return ((fl >> 8) & 31) + 12; }
@inline function shift_class(s: u32): u32 { return s == 12 ? CL_4K : s < 21 ? CL_COAL : s < 30 ? CL_2M : CL_1G; }

// --- set-associative arrays --------------------------------------------------------------
// LRU and FIFO sets keep their ways in recency (insertion) order with the valid entries
// first: a hit moves its entry to way 0, a fill shifts every way down by one (dropping
// the last: invalid or least recent) and invalidations compact the set. Up to 8 ways are
// handled by straight-line code: a loop costs V8 an interrupt check and spills per way.

let rng_state: u64 = 0x9e3779b97f4a7c15;
@inline function rng_next(): u64 {
  let x = rng_state;
  x ^= x << 13; x ^= x >> 7; x ^= x << 17;
  rng_state = x;
  return x;
}

@inline function set_index(a: u32, vpn: u64): u32 {
  const m = load<u32>(a, A_SETMASK);
  return m != 0xffffffff ? <u32>vpn & m : <u32>(vpn % <u64>load<u32>(a, A_SETS));
}

// The way of `set` holding `tag`, or 0.
@inline function find_way(set: u32, ways: u32, tag: u64): u32 {
  if (load<u64>(set) == tag) return set; // most recent first
  if (ways <= 8) {
    switch (ways) {
      case 8: if (load<u64>(set + 112) == tag) return set + 112;
      case 7: if (load<u64>(set + 96) == tag) return set + 96;
      case 6: if (load<u64>(set + 80) == tag) return set + 80;
      case 5: if (load<u64>(set + 64) == tag) return set + 64;
      case 4: if (load<u64>(set + 48) == tag) return set + 48;
      case 3: if (load<u64>(set + 32) == tag) return set + 32;
      case 2: if (load<u64>(set + 16) == tag) return set + 16;
    }
    return 0;
  }
  for (let w: u32 = 1; w < ways; w++) {
    const e = set + (w << 4);
    if (load<u64>(e) == tag) return e;
  }
  return 0;
}

// Ways [0, w) move to [1, w + 1) (entry by entry: memory.copy is a runtime call in V8).
@inline function shift_ways(set: u32, w: u32): void {
  if (w < 8) {
    switch (w) {
      case 7: v128.store(set + 112, v128.load(set + 96));
      case 6: v128.store(set + 96, v128.load(set + 80));
      case 5: v128.store(set + 80, v128.load(set + 64));
      case 4: v128.store(set + 64, v128.load(set + 48));
      case 3: v128.store(set + 48, v128.load(set + 32));
      case 2: v128.store(set + 32, v128.load(set + 16));
      case 1: v128.store(set + 16, v128.load(set + 0));
    }
    return;
  }
  for (let k = w; k > 0; k--) {
    const src = set + ((k - 1) << 4);
    v128.store(src + 16, v128.load(src));
  }
}

@inline function put_entry(e: u32, tag: u64, pfn: u32, fl: u32): void {
  store<u64>(e, tag);
  store<u32>(e, pfn, 8);
  store<u32>(e, fl, 12);
}

// A fill of an LRU or FIFO set: the new entry in way 0, the last way dropped.
@inline function fill_front(set: u32, ways: u32, tag: u64, pfn: u32, fl: u32): void {
  shift_ways(set, ways - 1);
  put_entry(set, tag, pfn, fl);
}

@inline function move_front(set: u32, e: u32): u32 {
  const x = v128.load(e);
  shift_ways(set, (e - set) >> 4);
  v128.store(set, x);
  return set;
}

// After invalidations: valid entries back to the front, in order (not for random sets,
// whose way numbers are what the random choice picks from).
function compact_set(set: u32, ways: u32): void {
  let j: u32 = 0;
  for (let k: u32 = 0; k < ways; k++) {
    const e = set + (k << 4);
    if ((load<u64>(e) & 1) == 0) continue;
    if (j != k) v128.store(set + (j << 4), v128.load(e));
    j++;
  }
  for (; j < ways; j++) store<u64>(set + (j << 4), 0);
}
function compact_array(a: u32, base: u32): void {
  if (load<u32>(a, A_REPL) == REPL_RANDOM) return;
  const ways = load<u32>(a, A_WAYS);
  const sets = load<u32>(a, A_SETS);
  for (let k: u32 = 0; k < sets; k++) compact_set(base + ((k * ways) << 4), ways);
}

// A fully associative array holding several page sizes: each entry at its own size.
function lookup_fa_sizes(base: u32, ways: u32, va: u64, asid: u32): u32 {
  for (let w: u32 = 0; w < ways; w++) {
    const e = base + (w << 4);
    const t = load<u64>(e);
    if ((t & 1) != 0 && t == mktag(va, tag_shift(t), asid)) return e;
  }
  return 0;
}

// Invalidate the entries of `asid` (0xffffffff: any) containing va.
function invalidate_va_array(cpub: u32, a: u32, va: u64, asid: u32): void {
  const ways = load<u32>(a, A_WAYS);
  const base = cpub + load<u32>(a, A_OFF);
  const compact = load<u32>(a, A_REPL) != REPL_RANDOM;
  let sizes = load<u32>(a, A_SIZES);
  if (load<u32>(a, A_SETS) == 1) {
    let hit = false;
    for (let w: u32 = 0; w < ways; w++) {
      const e = base + (w << 4);
      const t = load<u64>(e);
      if ((t & 1) == 0) continue;
      if (asid != 0xffffffff && tag_asid(t) != asid) continue;
      const s = tag_shift(t);
      if ((t >> 14) == (va >> s)) { store<u64>(e, 0); hit = true; }
    }
    if (hit && compact) compact_set(base, ways);
    return;
  }
  while (sizes != 0) {
    const s = ctz(sizes);
    sizes &= sizes - 1;
    const set = base + ((set_index(a, va >> s) * ways) << 4);
    let hit = false;
    for (let w: u32 = 0; w < ways; w++) {
      const e = set + (w << 4);
      const t = load<u64>(e);
      if ((t & 1) == 0 || tag_shift(t) != s || (t >> 14) != (va >> s)) continue;
      if (asid == 0xffffffff || tag_asid(t) == asid) { store<u64>(e, 0); hit = true; }
    }
    if (hit && compact) compact_set(set, ways);
  }
}

// Invalidate every entry of `asid` (0xffffffff: all) in array i; the sizes still held
// become the array's probe mask.
function flush_array(cpu: u32, cpub: u32, i: u32, asid: u32): void {
  const a = arr(i);
  const n = load<u32>(a, A_SETS) * load<u32>(a, A_WAYS);
  const base = cpub + load<u32>(a, A_OFF);
  plan_stale(cpu, i);
  if (asid == 0xffffffff) { memory.fill(base, 0, n << 4); store<u32>(pmask(cpu, i), 0); return; }
  let m: u32 = 0;
  let hit = false;
  for (let k: u32 = 0; k < n; k++) {
    const e = base + (k << 4);
    const t = load<u64>(e);
    if ((t & 1) == 0) continue;
    if (tag_asid(t) == asid) { store<u64>(e, 0); hit = true; }
    else m |= 1 << tag_shift(t);
  }
  if (hit) compact_array(a, base);
  store<u32>(pmask(cpu, i), m);
}

// Fractured entries of the page of shift `orig` containing va (INVLPG of any address
// of a smashed 1G page must drop every 2M piece of it).
function invalidate_fractured(cpub: u32, a: u32, va: u64, asid: u32): void {
  const n = load<u32>(a, A_SETS) * load<u32>(a, A_WAYS);
  const base = cpub + load<u32>(a, A_OFF);
  let hit = false;
  for (let i: u32 = 0; i < n; i++) {
    const e = base + (i << 4);
    const t = load<u64>(e);
    if ((t & 1) == 0) continue;
    const fl = load<u32>(e, 12);
    if ((fl & EF_FRACT) == 0 || (asid != 0xffffffff && tag_asid(t) != asid)) continue;
    const o = fl_orig(fl);
    if ((tag_base(t) >> o) == (va >> o)) { store<u64>(e, 0); hit = true; }
  }
  if (hit) compact_array(a, base);
}

// --- levels ------------------------------------------------------------------------------

@inline function arr(i: u32): u32 { return arrays + i * A_REC; }
@inline function level_n(l: u32): u32 { return load<u8>(lev_n + l); }
@inline function level_arr(l: u32, k: u32): u32 { return arr(load<u8>(lev_arr + l * 4 + k)); }

// Per CPU and level, the probes a lookup makes: one per (array, page size) the CPU may
// hold, in array order then size order (the order of a hardware lookup's priority),
// rebuilt when an array gains a size or is flushed. 16 bytes each: set base u32, set
// mask u32 (0xffffffff: sets not a power of two, index modulo sets), ways u8, shift u8,
// array u8, kind u8, sets u32.
const PLAN_MAX: u32 = 8;
const PLAN_STALE: u32 = 0xff;
const P_LRU: u32 = 0; // one page size; a hit moves to the front
const P_KEEP: u32 = 1; // one page size; FIFO or random: a hit keeps its way
const P_FA_SIZES: u32 = 2; // fully associative with several sizes: entries at their own size
const plans: u32 = <u32>memory.data(TLB_MAX_CPUS * 4 * PLAN_MAX * 16);
@inline function plan_rec(cpu: u32, l: u32): u32 { return plans + ((cpu * 4 + l) * PLAN_MAX << 4); }
@inline function plan_stale(cpu: u32, i: u32): void {
  store<u8>(cpu_rec(cpu) + CPU_PLAN_N + load<u32>(arr(i), A_LEVEL), <u8>PLAN_STALE);
}

function plan_build(cpu: u32, cpub: u32, l: u32): u32 {
  let n: u32 = 0;
  const p0 = plan_rec(cpu, l);
  for (let k: u32 = 0; k < level_n(l); k++) {
    const i = <u32>load<u8>(lev_arr + l * 4 + k);
    const a = arr(i);
    let sizes = load<u32>(pmask(cpu, i));
    if (sizes == 0) continue;
    const multi = (sizes & (sizes - 1)) != 0 && load<u32>(a, A_SETS) == 1;
    const kind = multi ? P_FA_SIZES : load<u32>(a, A_REPL) == REPL_LRU ? P_LRU : P_KEEP;
    while (sizes != 0 && n < PLAN_MAX) {
      const sh = ctz(sizes);
      sizes &= sizes - 1;
      const p = p0 + (n << 4);
      store<u32>(p, cpub + load<u32>(a, A_OFF));
      store<u32>(p, load<u32>(a, A_SETMASK), 4);
      store<u8>(p, <u8>load<u32>(a, A_WAYS), 8);
      store<u8>(p, <u8>sh, 9);
      store<u8>(p, <u8>i, 10);
      store<u8>(p, <u8>kind, 11);
      store<u32>(p, load<u32>(a, A_SETS), 12);
      n++;
      if (multi) break;
    }
  }
  assert(n < PLAN_MAX, "tlb: too many probes for one level");
  store<u8>(cpu_rec(cpu) + CPU_PLAN_N + l, <u8>n);
  return n;
}

@inline function probe(p: u32, va: u64, asid: u32): u32 {
  const base = load<u32>(p);
  const m = load<u32>(p, 4);
  const ways = <u32>load<u8>(p, 8);
  const s = <u32>load<u8>(p, 9);
  const kind = <u32>load<u8>(p, 11);
  if (kind == P_FA_SIZES) {
    const e = lookup_fa_sizes(base, ways, va, asid);
    return e > base && load<u32>(arr(load<u8>(p, 10)), A_REPL) == REPL_LRU ? move_front(base, e) : e;
  }
  const vpn = va >> s;
  const idx = m != 0xffffffff ? <u32>vpn & m : <u32>(vpn % <u64>load<u32>(p, 12));
  const set = base + ((idx * ways) << 4);
  const e = find_way(set, ways, mktag(va, s, asid));
  return kind == P_LRU && e > set ? move_front(set, e) : e;
}

@inline function lookup_level(cpu: u32, cpub: u32, l: u32, va: u64, asid: u32): u32 {
  let n = <u32>load<u8>(cpu_rec(cpu) + CPU_PLAN_N + l);
  if (n == 0) return 0;
  if (n == PLAN_STALE) n = plan_build(cpu, cpub, l);
  const p = plan_rec(cpu, l);
  if (n == 0) return 0;
  const e = probe(p, va, asid);
  if (e != 0 || n == 1) return e;
  return lookup_rest(p, n, va, asid);
}

function lookup_rest(p: u32, n: u32, va: u64, asid: u32): u32 {
  for (let k: u32 = 1; k < n; k++) {
    const e = probe(p + (k << 4), va, asid);
    if (e != 0) return e;
  }
  return 0;
}

// Where level l keeps a translation of shift s: the array, and the entry's shift (the
// largest smaller size it has when it has none for s: fractured). 16 bytes per (l, s):
// array offset u32, set mask u32, ways u8 (0: nowhere), entry shift u8, array u8,
// replacement u8, sets u32.
const fill_recs: u32 = <u32>memory.data(4 * 32 * 16);
@inline function fill_rec(l: u32, s: u32): u32 { return fill_recs + ((l * 32 + s) << 4); }
function compute_fill_targets(): void {
  memory.fill(fill_recs, 0, 4 * 32 * 16);
  for (let l: u32 = 0; l < 4; l++) {
    for (let s: u32 = 12; s < 32; s++) {
      let best: u32 = 0, best_i: u32 = 0;
      for (let k: u32 = 0; k < level_n(l); k++) {
        const i = <u32>load<u8>(lev_arr + l * 4 + k);
        const sizes = load<u32>(arr(i), A_SIZES);
        if (sizes & (1 << s)) { best = s; best_i = i; break; }
        const below = sizes & ((1 << s) - 1);
        if (below != 0) {
          const hs = <u32>(31 - clz(below));
          if (hs > best) { best = hs; best_i = i; }
        }
      }
      if (best == 0) continue;
      const f = fill_rec(l, s);
      const a = arr(best_i);
      store<u32>(f, load<u32>(a, A_OFF));
      store<u32>(f, load<u32>(a, A_SETMASK), 4);
      store<u8>(f, <u8>load<u32>(a, A_WAYS), 8);
      store<u8>(f, <u8>best, 9);
      store<u8>(f, <u8>best_i, 10);
      store<u8>(f, <u8>load<u32>(a, A_REPL), 11);
      store<u32>(f, load<u32>(a, A_SETS), 12);
    }
  }
}

// Fill level l with a translation of shift s (pfn of its base). Returns the entry or 0.
@inline function fill_level(cpu: u32, cpub: u32, l: u32, va: u64, s: u32, asid: u32, pfn: u32, fl: u32): u32 {
  const f = fill_rec(l, s);
  const ways = <u32>load<u8>(f, 8);
  if (ways == 0) return 0;
  const es = <u32>load<u8>(f, 9);
  let epfn = pfn;
  let efl = fl;
  if (es != s) {
    const within = <u32>((va & ((<u64>1 << s) - 1)) >> 12);
    epfn = pfn + (within & ~((<u32>1 << (es - 12)) - 1));
    efl |= EF_FRACT;
    if (s >= 21) {
      store<u32>(cpu_rec(cpu) + CPU_FLAGS, load<u32>(cpu_rec(cpu) + CPU_FLAGS) | 1);
      if (tlb_mode == TLB_MODEL) cnt_inc(cpu, C_FRACT_FILLS);
    }
  }
  const m = load<u32>(f, 4);
  const vpn = va >> es;
  const idx = m != 0xffffffff ? <u32>vpn & m : <u32>(vpn % <u64>load<u32>(f, 12));
  const set = cpub + load<u32>(f) + ((idx * ways) << 4);
  let e = set;
  if (<u32>load<u8>(f, 11) == REPL_RANDOM) {
    let w: u32 = 0;
    while (w < ways && (load<u64>(set + (w << 4)) & 1) != 0) w++;
    if (w == ways) w = <u32>(rng_next() % <u64>ways);
    e = set + (w << 4);
    put_entry(e, mktag(va, es, asid), epfn, efl);
  } else {
    fill_front(set, ways, mktag(va, es, asid), epfn, efl);
  }
  const i = <u32>load<u8>(f, 10);
  const pm = pmask(cpu, i);
  const pmv = load<u32>(pm);
  if ((pmv & (1 << es)) == 0) { store<u32>(pm, pmv | (1 << es)); plan_stale(cpu, i); }
  return e;
}

function invalidate_va_level(cpu: u32, cpub: u32, l: u32, va: u64, asid: u32): void {
  const n = level_n(l);
  for (let k: u32 = 0; k < n; k++) {
    const i = <u32>load<u8>(lev_arr + l * 4 + k);
    if (load<u32>(pmask(cpu, i)) != 0) invalidate_va_array(cpub, arr(i), va, asid);
  }
}

// --- page-walk caches -------------------------------------------------------------------

@inline function pwc_rec(i: u32): u32 { return pwc + i * A_REC; }
@inline function pwc_shift(i: u32): u32 { return 21 + i * 9; }

@inline function pwc_lookup(cpub: u32, i: u32, va: u64, asid: u32): u32 {
  const a = pwc_rec(i);
  const ways = load<u32>(a, A_WAYS);
  if (ways == 0) return 0;
  const s = pwc_shift(i);
  const set = cpub + load<u32>(a, A_OFF) + ((set_index(a, va >> s) * ways) << 4);
  const e = find_way(set, ways, pwc_tag(va, s, asid));
  return e > set ? move_front(set, e) : e;
}

function pwc_insert(cpub: u32, i: u32, va: u64, asid: u32, table: u32, fl: u32): void {
  const a = pwc_rec(i);
  const ways = load<u32>(a, A_WAYS);
  if (ways == 0) return;
  const s = pwc_shift(i);
  const set = cpub + load<u32>(a, A_OFF) + ((set_index(a, va >> s) * ways) << 4);
  fill_front(set, ways, pwc_tag(va, s, asid), table, fl);
}

// Drop walk-cache entries of asid (0xffffffff: all); va_only: only those covering va
// (one set per level).
function pwc_flush(cpub: u32, asid: u32, va_only: bool, va: u64): void {
  if (!pwc_any) return;
  for (let i: u32 = 0; i < 4; i++) {
    const a = pwc_rec(i);
    const ways = load<u32>(a, A_WAYS);
    if (ways == 0) continue;
    const s = pwc_shift(i);
    let base = cpub + load<u32>(a, A_OFF);
    let n = load<u32>(a, A_SETS) * ways;
    if (va_only) { base += (set_index(a, va >> s) * ways) << 4; n = ways; }
    let hit = false;
    for (let k: u32 = 0; k < n; k++) {
      const e = base + (k << 4);
      const t = load<u64>(e);
      if ((t & 1) == 0) continue;
      if (asid != 0xffffffff && tag_asid(t) != asid) continue;
      if (va_only && (t >> 14) != (va >> s)) continue;
      store<u64>(e, 0);
      hit = true;
    }
    if (hit) {
      if (va_only) compact_set(base, ways);
      else compact_array(a, base);
    }
  }
}

// --- setup -------------------------------------------------------------------------------

// Read the geometry the host wrote into the IO buffer (f64 words, see src/tlb.ts
// encodeGeometry) and reserve every CPU's TLB storage.
@inline function w(i: u32): u32 { return <u32>load<f64>(LAYOUT_IO + (i << 3)); }

export function tlb_setup_from_io(): bool {
  tlb_mode = w(1);
  tlb_ncpus = w(2);
  tlb_arch = w(3);
  tlb_check = w(4) != 0;
  coal_kind = w(5);
  coal_shift = w(6);
  invlpg_full_on_fractured = (w(7) & 1) != 0;
  off_entries = w(8);
  if (tlb_ncpus < 1 || tlb_ncpus > TLB_MAX_CPUS || tlb_mode > 1 || tlb_arch > 1) return false;
  if (off_entries == 0 || (off_entries & (off_entries - 1)) != 0) return false;
  memory.fill(arrays, 0, MAX_ARRAYS * A_REC);
  memory.fill(lev_arr, 0, 16);
  memory.fill(lev_n, 0, 4);
  memory.fill(pwc, 0, 4 * A_REC);
  memory.fill(cpus, 0, TLB_MAX_CPUS * CPU_REC);
  let off: u32 = 0;
  nr_arrays = 0;
  let p: u32 = 10;
  const na = w(9);
  if (na > MAX_ARRAYS) return false;
  for (let i: u32 = 0; i < na; i++, p += 6) {
    const level = w(p), entries = w(p + 1), ways = w(p + 2), sizes = w(p + 3), repl = w(p + 4);
    if (level > 3 || ways == 0 || entries == 0 || entries % ways != 0 || sizes == 0 || repl > 2) return false;
    if ((sizes & 0xfff) != 0 || level_n(level) == 4) return false;
    const a = arr(nr_arrays);
    const sets = entries / ways;
    store<u32>(a, off, A_OFF);
    store<u32>(a, sets, A_SETS);
    store<u32>(a, ways, A_WAYS);
    store<u32>(a, sizes, A_SIZES);
    store<u32>(a, repl, A_REPL);
    store<u32>(a, (sets & (sets - 1)) == 0 ? sets - 1 : 0xffffffff, A_SETMASK);
    store<u32>(a, level, A_LEVEL);
    store<u8>(lev_arr + level * 4 + level_n(level), <u8>nr_arrays);
    store<u8>(lev_n + level, level_n(level) + 1);
    off += entries << 4;
    nr_arrays++;
  }
  l2i_separate = level_n(LV_L2I) != 0;
  const np = w(p);
  p++;
  pwc_any = false;
  for (let i: u32 = 0; i < np; i++, p += 3) {
    const key = w(p), entries = w(p + 1), ways = w(p + 2);
    let k: u32 = 4;
    for (let j: u32 = 0; j < 4; j++) if (pwc_shift(j) == key) k = j;
    if (k == 4 || ways == 0 || entries % ways != 0) return false;
    const a = pwc_rec(k);
    const sets = entries / ways;
    store<u32>(a, off, A_OFF);
    store<u32>(a, sets, A_SETS);
    store<u32>(a, ways, A_WAYS);
    store<u32>(a, (sets & (sets - 1)) == 0 ? sets - 1 : 0xffffffff, A_SETMASK);
    off += entries << 4;
    pwc_any = true;
  }
  if (tlb_mode == TLB_OFF) {
    nr_arrays = 0;
    memory.fill(lev_n, 0, 4);
    memory.fill(pwc, 0, 4 * A_REC);
    pwc_any = false;
    off = 0;
    off_off = 0;
    off += off_entries << 4;
  }
  cpu_area_bytes = (off + 63) & ~63;
  const area = hostmem_reserve(<u64>cpu_area_bytes * tlb_ncpus);
  if (area == 0) return false;
  for (let c: u32 = 0; c < tlb_ncpus; c++) {
    store<u32>(cpu_rec(c) + CPU_TLB, area + c * cpu_area_bytes);
    store<u32>(cpu_rec(c) + CPU_NEXT_ASID, 1);
    memory.fill(area + c * cpu_area_bytes, 0, cpu_area_bytes);
  }
  memory.fill(LAYOUT_COUNTERS + CNT_TLB, 0, TLB_MAX_CPUS * CNT_CPU_BYTES + 64);
  compute_fill_targets();
  cur_cpu = 0;
  fp_count = 0;
  fp_ctr = fp_scratch;
  fp_invalidate();
  rng_state = 0x9e3779b97f4a7c15;
  return true;
}

// --- invalidation primitives (called by arch/cpu.ts at the kernel's flush points) --------

// INVLPG (x86) / TLBI VA (arm64) of va for `asid` on `cpu`. x86 INVLPG also drops every
// walk-cache entry of the current PCID (SDM 4.10.4.1); an arm64 last-level TLBI keeps them.
export function tlb_invalidate_va(cpu: u32, va: u64, asid: u32, walk_caches: bool): void {
  fp_invalidate();
  const cpub = load<u32>(cpu_rec(cpu) + CPU_TLB);
  if (tlb_mode == TLB_OFF) {
    const c = cpu_rec(cpu);
    if (va >= load<u64>(c + CPU_HUGE_LO) && va < load<u64>(c + CPU_HUGE_HI)) { off_flush(cpu); return; }
    const e = cpub + off_off + ((<u32>(va >> 12) & (off_entries - 1)) << 4);
    if ((load<u64>(e) >> 14) == (va >> 12)) store<u64>(e, 0);
    return;
  }
  for (let l: u32 = 0; l < 4; l++) invalidate_va_level(cpu, cpub, l, va, asid);
  const c = cpu_rec(cpu);
  if ((load<u32>(c + CPU_FLAGS) & 1) != 0) {
    if (invlpg_full_on_fractured) {
      // AMD family 16h: INVLPG flushes the whole TLB once smashed entries exist
      tlb_flush_cpu(cpu, 0xffffffff);
      return;
    }
    for (let i: u32 = 0; i < nr_arrays; i++) invalidate_fractured(cpub, arr(i), va, asid);
  }
  if (walk_caches) {
    if (tlb_arch == ARCH_X86) pwc_flush(cpub, asid, false, 0);
    else pwc_flush(cpub, asid, true, va);
  }
}

// Full flush of `asid` (0xffffffff: everything) on `cpu`, walk caches included.
export function tlb_flush_cpu(cpu: u32, asid: u32): void {
  fp_invalidate();
  if (tlb_mode == TLB_OFF) { off_flush(cpu); return; }
  const cpub = load<u32>(cpu_rec(cpu) + CPU_TLB);
  for (let i: u32 = 0; i < nr_arrays; i++) flush_array(cpu, cpub, i, asid);
  pwc_flush(cpub, asid, false, 0);
  if (asid == 0xffffffff) store<u32>(cpu_rec(cpu) + CPU_FLAGS, 0);
}

function off_flush(cpu: u32): void {
  const c = cpu_rec(cpu);
  memory.fill(load<u32>(c + CPU_TLB) + off_off, 0, off_entries << 4);
  store<u64>(c + CPU_HUGE_LO, ~(<u64>0));
  store<u64>(c + CPU_HUGE_HI, 0);
}

// --- the walker ---------------------------------------------------------------------------

// result of the last walk
export let w_pfn: u32 = 0; // frame of the accessed 4 KiB page
let w_base: u32 = 0; // frame of the translation's base
let w_shift: u32 = 12; // translation size (coalesced blocks included)
let w_fl: u32 = 0; // EF_W | EF_D | EF_NX (| EF_COAL)
let w_refs: u32 = 0;

export const X86_PF_PROT: u32 = 1;
export const X86_PF_WRITE: u32 = 2;
export const X86_PF_USER: u32 = 4;
export const X86_PF_INSTR: u32 = 16;

@inline function entry_host_pb(pbt: u32, table_pfn: u32, idx: u32): u32 {
  return load<u32>(pbt + (table_pfn >> 9) * PB_SIZE + PB_DATA) + ((table_pfn & 511) << 12) + (idx << 3);
}
@inline function entry_host(table_pfn: u32, idx: u32): u32 {
  return entry_host_pb(pbtab, table_pfn, idx);
}

// The hardware walk of va for an access of `kind`, through the walk caches of `cpub`
// (none in off mode), setting A on every entry it reads and D on the leaf of a write.
// Returns 0 or an x86 page-fault error code | 0x100. Not-present entries and faulting
// walks leave nothing cached (x86 caching rules).
@inline function walk(cpu: u32, cpub: u32, mm: u32, va: u64, kind: u32, asid: u32): u32 {
  const write = kind == K_WRITE;
  const need: u64 = write ? _PAGE_PRESENT | _PAGE_RW : _PAGE_PRESENT;
  if (pwc_any) {
    // a PDE walk-cache hit (the common case) leaves one entry to read: straight-line
    const e = pwc_lookup(cpub, 0, va, asid);
    if (e != 0) {
      if (tlb_check) check_pwc_entry(cpu, mm, e, 0);
      cnt_inc(cpu, C_PWC_HIT);
      const fl = load<u32>(e, 12);
      const p = entry_host(load<u32>(e, 8), <u32>(va >> 12) & 511);
      const x = load<u64>(p);
      w_refs = 1;
      if ((x & need) != need || (write && (fl & EF_W) == 0)) return walk_fault(va, write, kind == K_FETCH, (x & _PAGE_PRESENT) != 0);
      return walk_leaf(p, x, 12, (fl & EF_W) != 0 ? x & _PAGE_RW : 0, (fl & EF_NX) != 0 ? _PAGE_NX : x, va, kind);
    }
  }
  return walk_upper(cpu, cpub, mm, va, kind, asid);
}

// The walk from the top or from a PDPTE / PML4E / PML5E walk-cache hit.
function walk_upper(cpu: u32, cpub: u32, mm: u32, va: u64, kind: u32, asid: u32): u32 {
  const write = kind == K_WRITE;
  const need: u64 = write ? _PAGE_PRESENT | _PAGE_RW : _PAGE_PRESENT;
  let table = load<u32>(mm + T.MM_PGD);
  let shift: u32 = load<u32>(mm + T.MM_LEVELS) == 5 ? 48 : 39;
  let rws: u64 = _PAGE_RW; // RW of every level (AND)
  let nxs: u64 = 0; // NX of any level (OR)
  if (pwc_any) {
    // the deepest walk-cache hit skips the levels above it (PDE already missed)
    for (let i: i32 = 1; i < 4; i++) {
      if (pwc_shift(<u32>i) > shift) break;
      const e = pwc_lookup(cpub, <u32>i, va, asid);
      if (e != 0) {
        if (tlb_check) check_pwc_entry(cpu, mm, e, <u32>i);
        const fl = load<u32>(e, 12);
        table = load<u32>(e, 8);
        shift = pwc_shift(<u32>i) - 9;
        rws = (fl & EF_W) != 0 ? _PAGE_RW : 0;
        nxs = (fl & EF_NX) != 0 ? _PAGE_NX : 0;
        cnt_inc(cpu, C_PWC_HIT + <u32>i);
        break;
      }
    }
  }
  let refs: u32 = 0;
  while (true) {
    const p = entry_host(table, <u32>(va >> shift) & 511);
    const x = load<u64>(p);
    refs++;
    w_refs = refs;
    if ((x & need) != need || (write && rws == 0)) return walk_fault(va, write, kind == K_FETCH, (x & _PAGE_PRESENT) != 0);
    rws &= x;
    nxs |= x;
    if (shift == 12 || (shift <= 30 && (x & _PAGE_PSE) != 0)) return walk_leaf(p, x, shift, rws, nxs, va, kind);
    if ((x & _PAGE_ACCESSED) == 0) store<u64>(p, x | _PAGE_ACCESSED);
    const pfn = <u32>((x & PTE_PFN_MASK) >> 12);
    // a present table entry: cached in the walk cache of its level (a faulting walk's
    // entries are dropped again by tlb_fault_invalidate(), SDM 4.10.4.1)
    if (pwc_any && shift >= 21) pwc_insert(cpub, (shift - 21) / 9, va, asid, pfn, (rws != 0 ? EF_W : 0) | ((nxs & _PAGE_NX) != 0 ? EF_NX : 0));
    table = pfn;
    shift -= 9;
  }
}

// The leaf x (at p) of a walk: rws / nxs are RW (AND) and NX (OR) over every level.
@inline function walk_leaf(p: u32, x: u64, shift: u32, rws: u64, nxs: u64, va: u64, kind: u32): u32 {
  const fl = (rws != 0 ? EF_W : 0) | ((nxs & _PAGE_NX) != 0 ? EF_NX : 0);
  if (kind == K_FETCH && (fl & EF_NX) != 0) return walk_fault(va, false, true, true);
  let ne = x | _PAGE_ACCESSED;
  if (kind == K_WRITE) ne |= _PAGE_DIRTY;
  if (ne != x) store<u64>(p, ne);
  const pfn = <u32>((x & PTE_PFN_MASK) >> 12);
  w_shift = shift;
  w_base = pfn;
  w_pfn = pfn + (<u32>(va >> 12) & ((<u32>1 << (shift - 12)) - 1));
  w_fl = fl | ((ne & _PAGE_DIRTY) != 0 ? EF_D : 0);
  if (shift == 12 && coal_kind != COAL_NONE) coalesce(p, ne, va);
  return 0;
}

@inline function walk_fault(va: u64, write: bool, fetch: bool, prot: bool): u32 {
  return 0x100 | X86_PF_USER | (write ? X86_PF_WRITE : 0) | (fetch ? X86_PF_INSTR : 0) | (prot ? X86_PF_PROT : 0);
}

// A 4 KiB leaf that belongs to a coalescible group: arm64 PTE_CONT blocks (16 PTEs,
// one 64 KiB entry) or an AMD-style aligned group of PTEs mapping aligned contiguous
// frames with identical attributes, all accessed (read from the same cache line).
const COAL_ATTR: u64 = 0x17f | _PAGE_NX; // P RW US PWT PCD A D G NX
function coalesce(p: u32, e: u64, va: u64): void {
  if (coal_kind == COAL_CONTPTE) {
    if ((e & _PAGE_CONT) == 0) return;
    w_shift = 16;
    w_base &= ~15;
    w_fl |= EF_COAL;
    return;
  }
  const n: u32 = 1 << (coal_shift - 12);
  const idx = <u32>(va >> 12) & (n - 1);
  const first = p - (idx << 3);
  const pfn0 = w_base - idx;
  if ((pfn0 & (n - 1)) != 0) return;
  const want = e & COAL_ATTR;
  for (let i: u32 = 0; i < n; i++) {
    const x = load<u64>(first + (i << 3));
    if ((x & COAL_ATTR) != want || <u32>((x & PTE_PFN_MASK) >> 12) != pfn0 + i) return;
  }
  w_shift = coal_shift;
  w_base = pfn0;
  w_fl |= EF_COAL;
}

// --- translation for one access -----------------------------------------------------------

export let t_pfn: u32 = 0; // frame of the translated byte
export let t_from_tlb: bool = false; // the fault was raised by a cached translation

@inline function kinds_of(fl: u32, fetch_side: bool): u32 {
  if (fetch_side) return (fl & EF_NX) != 0 ? 0 : 1 << K_FETCH;
  return 1 | ((fl & (EF_W | EF_D)) == (EF_W | EF_D) ? 1 << K_WRITE : 0);
}

// The fast path now follows L1 entry e (counted as hits of level l1, class cls).
@inline function fp_from_entry(cpu: u32, e: u32, va: u64, fetch: bool, l1: u32, cls: u32): void {
  const s = tag_shift(load<u64>(e));
  fp_set(va & ~((<u64>1 << s) - 1), s, load<u32>(e, 8), kinds_of(load<u32>(e, 12), fetch), cnt_addr(cpu, C_HIT + l1 * 4 + cls));
}

// Translate va for an access of `kind` on the current CPU. Returns 0 (t_pfn set) or a
// page-fault error code | 0x100.
export function tlb_translate(mm: u32, va: u64, kind: u32): u32 {
  t_from_tlb = false;
  if (tlb_mode == TLB_OFF) return off_translate(mm, va, kind);
  const cpu = cur_cpu;
  const c = cpu_rec(cpu);
  const cpub = load<u32>(c + CPU_TLB);
  const asid = load<u32>(c + CPU_ASID);
  const fetch = kind == K_FETCH;
  const l1 = fetch ? LV_L1I : LV_L1D;
  const l2 = fetch && l2i_separate ? LV_L2I : LV_L2;
  let e = lookup_level(cpu, cpub, l1, va, asid);
  if (e != 0) return tlb_hit(cpu, cpub, mm, va, kind, asid, e, l1, l1, l2);
  e = lookup_level(cpu, cpub, l2, va, asid);
  if (e != 0) return tlb_hit(cpu, cpub, mm, va, kind, asid, e, l2, l1, l2);
  // miss everywhere: walk
  const r = walk(cpu, cpub, mm, va, kind, asid);
  cnt_inc(cpu, C_WALKS);
  cnt_add(cpu, C_WALK_REFS, w_refs);
  if (r != 0) { cnt_inc(cpu, C_WALK_FAULTS); return r; }
  const cls = shift_class(w_shift);
  cnt_inc(cpu, C_MISS + l1 * 4 + cls);
  if (level_n(l2) != 0) cnt_inc(cpu, C_MISS + l2 * 4 + cls);
  const ne = fill_from_walk(cpu, cpub, l1, l2, va, asid);
  t_pfn = w_pfn;
  if (ne != 0) fp_from_entry(cpu, ne, va, fetch, l1, cls);
  return 0;
}

// --- batched runs: the walk path of a run of pages ---------------------------------------
// tlb_read_run() and tlb_write_run() run the accesses of a read or write run (stride
// >= 4 KiB: a new page each time) exactly as tlb_translate() would, for the
// configuration of nearly every x86 preset: one L1 and one L2 probe for 4 KiB pages, LRU, PDE walk cache. What changes is
// only where work is done: the probe, fill and walk-cache records are read once per
// run, the counters are summed in locals, the PDE walk-cache entry of the current 2 MiB
// region is known to sit in way 0 (a hit there moves nothing), and the fast-path entry
// is set once (with a new page each access, no access can hit it meanwhile). Any other
// case (a smashed entry, a walk-cache miss, a fault, a write through a read-only or
// clean entry) stops the run at that access for tlb_translate() and the fault path.
// Returns the address where the run stopped. A write run stops after RUN_MAX accesses
// and leaves the frame of each access in run_pfns, for the caller's stores.
export const RUN_MAX: u32 = 256;
export const run_pfns: u32 = <u32>memory.data(RUN_MAX * 4);
// accesses made by runs, L1 and L2 hits among them (read by tests: runs must be exercised)
export let rr_accesses: u64 = 0;
export let rr_l1_hits: u64 = 0;
export let rr_l2_hits: u64 = 0;
let rr_pending: bool = false; // a fast-path entry to set: rr_va, rr_pfn, rr_fl, rr_cls
let rr_va: u64 = 0;
let rr_pfn: u32 = 0;
let rr_fl: u32 = 0;
let rr_cls: u32 = 0;

// A probe of plan record p usable by a run: one LRU probe for 4 KiB pages whose fill
// record for 4 KiB translations targets the same array at the same size.
@inline function rr_usable(cpu: u32, cpub: u32, l: u32): u32 {
  let n = <u32>load<u8>(cpu_rec(cpu) + CPU_PLAN_N + l);
  if (n == PLAN_STALE) n = plan_build(cpu, cpub, l);
  if (n != 1) return 0;
  const p = plan_rec(cpu, l);
  const f = fill_rec(l, 12);
  if (<u32>load<u8>(p, 11) != P_LRU || <u32>load<u8>(p, 9) != 12 || load<u32>(p, 4) == 0xffffffff) return 0;
  if (<u32>load<u8>(f, 9) != 12 || load<u8>(f, 10) != load<u8>(p, 10)) return 0;
  return p;
}

export function tlb_read_run(mm: u32, a: u64, end: u64, stride: u64): u64 {
  return tlb_run(mm, a, end, stride, false);
}
export function tlb_write_run(mm: u32, a: u64, end: u64, stride: u64): u64 {
  return tlb_run(mm, a, end, stride, true);
}

// (inlined into both: `write` is a constant in each copy)
@inline function tlb_run(mm: u32, a: u64, end: u64, stride: u64, write: bool): u64 {
  t_from_tlb = false;
  const cpu = cur_cpu;
  const c = cpu_rec(cpu);
  const cpub = load<u32>(c + CPU_TLB);
  const asid = load<u32>(c + CPU_ASID);
  if (coal_kind != COAL_NONE || !pwc_any || level_n(LV_L2) == 0) return a;
  const p1 = rr_usable(cpu, cpub, LV_L1D);
  const p2 = p1 != 0 ? rr_usable(cpu, cpub, LV_L2) : 0;
  const pw = pwc_rec(0);
  const wways = load<u32>(pw, A_WAYS);
  if (p2 == 0 || wways == 0 || load<u32>(pw, A_SETMASK) == 0xffffffff) return a;
  const base1 = load<u32>(p1), mask1 = load<u32>(p1, 4), ways1 = <u32>load<u8>(p1, 8);
  const base2 = load<u32>(p2), mask2 = load<u32>(p2, 4), ways2 = <u32>load<u8>(p2, 8);
  const wbase = cpub + load<u32>(pw, A_OFF), wmask = load<u32>(pw, A_SETMASK);
  const pbt = pbtab;
  const easid = <u64>asid << 1 | 1;
  // a write needs RW at every level (W in the entry) and D in the leaf (D in the entry)
  const need: u64 = write ? _PAGE_PRESENT | _PAGE_RW : _PAGE_PRESENT;
  const need_fl: u32 = write ? EF_W | EF_D : 0;
  const kbit: u32 = write ? 1 << K_WRITE : 1 << K_READ;
  const set_ad: u64 = write ? _PAGE_ACCESSED | _PAGE_DIRTY : _PAGE_ACCESSED;
  if (write) {
    const lim = a + <u64>RUN_MAX * stride;
    if (lim > a && lim < end) end = lim;
  }
  let region: u64 = ~(<u64>0);
  let wset: u32 = 0;
  let wtag: u64 = 0;
  let walks: u64 = 0;
  let l1hits: u32 = 0;
  let l2hits: u32 = 0;
  let fp_live = true;
  rr_pending = false;
  const a0 = a;
  let out = run_pfns;
  for (; a < end; a += stride) {
    if (fp_live && ((a ^ fp_base) >> fp_shift) == 0 && (fp_kinds & kbit) != 0) {
      fp_count++;
      if (write) { store<u32>(out, fp_pfn + (<u32>(a >> 12) & fp_pmask)); out += 4; }
      continue;
    }
    const vpn = a >> 12;
    const tag = (vpn << 14) | easid;
    const set1 = base1 + (((<u32>vpn & mask1) * ways1) << 4);
    let e = find_way(set1, ways1, tag);
    if (e != 0) {
      // L1 hit (tlb_hit): most recent way, hit counted at the original size
      const fl = load<u32>(e, 12);
      if ((fl & need_fl) != need_fl) break;
      if (tlb_check) check_leaf_entry(cpu, e);
      if (e != set1) e = move_front(set1, e);
      rr_cls = shift_class(fl_orig(fl));
      cnt_inc(cpu, C_HIT + LV_L1D * 4 + rr_cls);
      rr_pfn = load<u32>(e, 8);
      rr_fl = fl;
      rr_va = a;
      rr_pending = true;
      fp_live = false;
      l1hits++;
      if (write) { store<u32>(out, rr_pfn); out += 4; }
      continue;
    }
    const set2 = base2 + (((<u32>vpn & mask2) * ways2) << 4);
    e = find_way(set2, ways2, tag);
    if (e != 0) {
      // L2 hit (tlb_hit): L1 refilled with the entry (a smashed piece: tlb_translate)
      const fl = load<u32>(e, 12);
      if ((fl & EF_FRACT) != 0 || (fl & need_fl) != need_fl) break;
      if (tlb_check) check_leaf_entry(cpu, e);
      if (e != set2) e = move_front(set2, e);
      const pfn = load<u32>(e, 8);
      rr_cls = shift_class(fl_orig(fl));
      cnt_inc(cpu, C_HIT + LV_L2 * 4 + rr_cls);
      cnt_inc(cpu, C_MISS + LV_L1D * 4 + rr_cls);
      fill_front(set1, ways1, tag, pfn, fl);
      rr_pfn = pfn;
      rr_fl = fl;
      rr_va = a;
      rr_pending = true;
      fp_live = false;
      l2hits++;
      if (write) { store<u32>(out, pfn); out += 4; }
      continue;
    }
    // the walk: the PDE walk-cache entry of this 2 MiB region in way 0
    const r = a >> 21;
    if (r != region) {
      region = r;
      wset = wbase + (((<u32>r & wmask) * wways) << 4);
      wtag = (r << 14) | easid;
    }
    if (load<u64>(wset) != wtag) break;
    const wfl = load<u32>(wset, 12);
    if (write && (wfl & EF_W) == 0) break;
    if (tlb_check) check_pwc_entry(cpu, mm, wset, 0);
    const pte = entry_host_pb(pbt, load<u32>(wset, 8), <u32>vpn & 511);
    const x = load<u64>(pte);
    if ((x & need) != need) break;
    const ne = x | set_ad;
    if (ne != x) store<u64>(pte, ne);
    const pfn = <u32>((x & PTE_PFN_MASK) >> 12);
    const fl = ((wfl & EF_W) != 0 && (x & _PAGE_RW) != 0 ? EF_W : 0) |
      ((wfl & EF_NX) != 0 || (x & _PAGE_NX) != 0 ? EF_NX : 0) | ((ne & _PAGE_DIRTY) != 0 ? EF_D : 0);
    // fill L2 then L1 (fill_from_walk)
    fill_front(set2, ways2, tag, pfn, fl);
    fill_front(set1, ways1, tag, pfn, fl);
    walks++;
    rr_pfn = pfn;
    rr_fl = fl;
    rr_cls = CL_4K;
    rr_va = a;
    rr_pending = true;
    fp_live = false;
    if (write) { store<u32>(out, pfn); out += 4; }
  }
  rr_accesses += (a - a0) / stride;
  rr_l1_hits += l1hits;
  rr_l2_hits += l2hits;
  if (walks != 0) {
    cnt_add(cpu, C_PWC_HIT, walks);
    cnt_add(cpu, C_WALKS, walks);
    cnt_add(cpu, C_WALK_REFS, walks);
    cnt_add(cpu, C_MISS + LV_L1D * 4 + CL_4K, walks);
    cnt_add(cpu, C_MISS + LV_L2 * 4 + CL_4K, walks);
  }
  if (rr_pending) {
    t_pfn = rr_pfn;
    fp_set(rr_va & ~(<u64>4095), 12, rr_pfn, kinds_of(rr_fl, false), cnt_addr(cpu, C_HIT + LV_L1D * 4 + rr_cls));
  }
  return a;
}

// A lookup hit entry e in level hit_level.
function tlb_hit(cpu: u32, cpub: u32, mm: u32, va: u64, kind: u32, asid: u32, e: u32, hit_level: u32, l1: u32, l2: u32): u32 {
  const fetch = kind == K_FETCH;
  const fl = load<u32>(e, 12);
  const cls = shift_class(fl_orig(fl));
  if (tlb_check) check_leaf_entry(cpu, e);
  if ((kind == K_WRITE && (fl & EF_W) == 0) || (fetch && (fl & EF_NX) != 0)) {
    // x86: the cached translation forbids the access: #PF without a walk
    cnt_inc(cpu, C_HIT + hit_level * 4 + cls);
    if (hit_level != l1) cnt_inc(cpu, C_MISS + l1 * 4 + cls);
    t_from_tlb = true;
    return 0x100 | X86_PF_USER | X86_PF_PROT | (kind == K_WRITE ? X86_PF_WRITE : 0) | (fetch ? X86_PF_INSTR : 0);
  }
  if (kind == K_WRITE && (fl & EF_D) == 0) {
    // write through a clean entry: the walker sets D (a walk), then the entry is refilled
    cnt_inc(cpu, C_HIT + hit_level * 4 + cls);
    if (hit_level != l1) cnt_inc(cpu, C_MISS + l1 * 4 + cls);
    cnt_inc(cpu, C_DIRTY_ASSISTS);
    tlb_invalidate_va(cpu, va, asid, false);
    const r = walk(cpu, cpub, mm, va, kind, asid);
    cnt_inc(cpu, C_WALKS);
    cnt_add(cpu, C_WALK_REFS, w_refs);
    if (r != 0) { cnt_inc(cpu, C_WALK_FAULTS); return r; }
    const ne = fill_from_walk(cpu, cpub, l1, l2, va, asid);
    t_pfn = w_pfn;
    if (ne != 0) fp_from_entry(cpu, ne, va, fetch, l1, shift_class(w_shift));
    return 0;
  }
  const s = tag_shift(load<u64>(e));
  const epfn = load<u32>(e, 8);
  t_pfn = epfn + (<u32>(va >> 12) & ((<u32>1 << (s - 12)) - 1));
  cnt_inc(cpu, C_HIT + hit_level * 4 + cls);
  let l1e = e;
  if (hit_level != l1) {
    cnt_inc(cpu, C_MISS + l1 * 4 + cls);
    // refill L1 from L2; a smashed piece goes back in at its original size if L1 has it
    let fs = s, fpfn = epfn;
    if ((fl & EF_FRACT) != 0) {
      const o = fl_orig(fl);
      fs = o;
      fpfn = epfn - <u32>((tag_base(load<u64>(e)) & ((<u64>1 << o) - 1)) >> 12);
    }
    l1e = fill_level(cpu, cpub, l1, va, fs, asid, fpfn, fl & ~EF_FRACT);
    if (l1e == 0) return 0;
  }
  fp_from_entry(cpu, l1e, va, fetch, l1, cls);
  return 0;
}

// Fill L2 then L1 with the last walk's translation; returns the L1 entry (or 0).
@inline function fill_from_walk(cpu: u32, cpub: u32, l1: u32, l2: u32, va: u64, asid: u32): u32 {
  const fl = w_fl | ((w_shift - 12) << 8);
  if ((w_fl & EF_COAL) != 0) cnt_inc(cpu, C_COAL_FILLS);
  if (level_n(l2) != 0) fill_level(cpu, cpub, l2, va, w_shift, asid, w_base, fl);
  return fill_level(cpu, cpub, l1, va, w_shift, asid, w_base, fl);
}

// tlb: 'off': a direct-mapped cache of 4 KiB translations per CPU, tagged with the PCID,
// then a plain walk (no walk caches, no statistics).
export function off_translate(mm: u32, va: u64, kind: u32): u32 {
  // (t_from_tlb stays false in this mode: its faults always come from walks)
  const c = cpu_rec(cur_cpu);
  const asid = load<u32>(c + CPU_ASID);
  const e = load<u32>(c + CPU_TLB) + ((<u32>(va >> 12) & (off_entries - 1)) << 4);
  const tag = mktag(va, 12, asid);
  if (load<u64>(e) == tag) {
    const fl = load<u32>(e, 12);
    const kinds = off_kinds(fl);
    if ((kinds >> kind) & 1) {
      if (tlb_check) check_leaf_entry(cur_cpu, e);
      t_pfn = load<u32>(e, 8);
      fp_set(va & ~(<u64>4095), 12, t_pfn, kinds, fp_scratch);
      return 0;
    }
  }
  // the walk, unrolled: a generic per-level loop compiles to spills and cmov chains
  const write = kind == K_WRITE;
  const need: u64 = write ? _PAGE_PRESENT | _PAGE_RW : _PAGE_PRESENT;
  let table = load<u32>(mm + T.MM_PGD);
  const pbt = pbtab; // in a register for the four levels
  let p: u32, x: u64, nxs: u64 = 0; // nxs: NX of any level
  if (load<u32>(mm + T.MM_LEVELS) == 5) {
    p = entry_host_pb(pbt, table, <u32>(va >> 48) & 511);
    x = load<u64>(p);
    if ((x & need) != need) return walk_fault(va, write, kind == K_FETCH, (x & _PAGE_PRESENT) != 0);
    if ((x & _PAGE_ACCESSED) == 0) store<u64>(p, x | _PAGE_ACCESSED);
    nxs |= x;
    table = <u32>((x & PTE_PFN_MASK) >> 12);
  }
  // a one-entry paging-structure cache of the PDE (the PTE table of the last walk's
  // 2 MiB region on this CPU and PCID): dropped with the fast path by every flush,
  // INVLPG, fault and switch, as the SDM drops paging-structure-cache entries
  const key = ((va >> 21) << 20) | (<u64>asid << 8) | <u64>cur_cpu | 0x80000;
  let pt: u32;
  if (key == pde_key) {
    pt = pde_table;
    nxs = pde_nx;
    if (tlb_check) check_pde_cache(mm, va, pt);
  } else {
    p = entry_host_pb(pbt, table, <u32>(va >> 39) & 511);
    x = load<u64>(p);
    if ((x & need) != need) return walk_fault(va, write, kind == K_FETCH, (x & _PAGE_PRESENT) != 0);
    if ((x & _PAGE_ACCESSED) == 0) store<u64>(p, x | _PAGE_ACCESSED);
    nxs |= x;
    p = entry_host_pb(pbt, <u32>((x & PTE_PFN_MASK) >> 12), <u32>(va >> 30) & 511);
    x = load<u64>(p);
    if ((x & need) != need) return walk_fault(va, write, kind == K_FETCH, (x & _PAGE_PRESENT) != 0);
    if (x & _PAGE_PSE) return off_leaf(c, e, tag, p, x, nxs | x, 30, va, write, kind);
    if ((x & _PAGE_ACCESSED) == 0) store<u64>(p, x | _PAGE_ACCESSED);
    nxs |= x;
    p = entry_host_pb(pbt, <u32>((x & PTE_PFN_MASK) >> 12), <u32>(va >> 21) & 511);
    x = load<u64>(p);
    if ((x & need) != need) return walk_fault(va, write, kind == K_FETCH, (x & _PAGE_PRESENT) != 0);
    if (x & _PAGE_PSE) return off_leaf(c, e, tag, p, x, nxs | x, 21, va, write, kind);
    if ((x & _PAGE_ACCESSED) == 0) store<u64>(p, x | _PAGE_ACCESSED);
    nxs |= x;
    pt = <u32>((x & PTE_PFN_MASK) >> 12);
    // table entries are always _PAGE_TABLE (writable), so the cached path serves writes too
    pde_key = key;
    pde_table = pt;
    pde_nx = nxs & _PAGE_NX;
  }
  p = entry_host_pb(pbt, pt, <u32>(va >> 12) & 511);
  x = load<u64>(p);
  if ((x & need) != need) return walk_fault(va, write, kind == K_FETCH, (x & _PAGE_PRESENT) != 0);
  return off_leaf(c, e, tag, p, x, nxs | x, 12, va, write, kind);
}

// The leaf of an off-mode walk: A (and D for a write) set like the hardware, the
// translation cached (table entries are always writable here: the leaf's RW is the walk's).
@inline function off_leaf(c: u32, e: u32, tag: u64, p: u32, x: u64, nxs: u64, shift: u32, va: u64, write: bool, kind: u32): u32 {
  const nx = (nxs & _PAGE_NX) != 0;
  if (nx && kind == K_FETCH) return walk_fault(va, false, true, true);
  let ne = x | _PAGE_ACCESSED;
  if (write) ne |= _PAGE_DIRTY;
  if (ne != x) store<u64>(p, ne);
  const pfn = <u32>((x & PTE_PFN_MASK) >> 12);
  const fl = ((ne & _PAGE_RW) != 0 ? EF_W : 0) | ((ne & _PAGE_DIRTY) != 0 ? EF_D : 0) | (nx ? EF_NX : 0);
  const pmask4k = (<u32>1 << (shift - 12)) - 1;
  t_pfn = pfn + (<u32>(va >> 12) & pmask4k);
  store<u64>(e, tag);
  store<u32>(e, t_pfn, 8);
  store<u32>(e, fl, 12);
  const kinds = off_kinds(fl);
  if (shift > 12) {
    // INVLPG of any address of a huge page must find its 4 KiB pieces: remember the span
    const lo = va & ~((<u64>1 << shift) - 1);
    const hi = lo + (<u64>1 << shift);
    if (lo < load<u64>(c + CPU_HUGE_LO)) store<u64>(c + CPU_HUGE_LO, lo);
    if (hi > load<u64>(c + CPU_HUGE_HI)) store<u64>(c + CPU_HUGE_HI, hi);
    fp_set(lo, shift, pfn, kinds, fp_scratch);
  } else {
    fp_set(va & ~(<u64>4095), 12, t_pfn, kinds, fp_scratch);
  }
  return 0;
}

// the PDE cache of off mode (see off_translate)
let pde_key: u64 = 0;
let pde_table: u32 = 0;
let pde_nx: u64 = 0;

// With the stale-entry check on, a PDE-cache hit must agree with the page tables.
function check_pde_cache(mm: u32, va: u64, pt: u32): void {
  let table = load<u32>(mm + T.MM_PGD);
  let shift: u32 = load<u32>(mm + T.MM_LEVELS) == 5 ? 48 : 39;
  while (shift > 21) {
    const x = load<u64>(entry_host(table, <u32>(va >> shift) & 511));
    if ((x & _PAGE_PRESENT) == 0 || (shift <= 30 && (x & _PAGE_PSE) != 0)) {
      record_stale(cur_cpu, va, shift == 21 ? 2 : 3, pt, 0, x);
      return;
    }
    table = <u32>((x & PTE_PFN_MASK) >> 12);
    shift -= 9;
  }
  const pmd = load<u64>(entry_host(table, <u32>(va >> 21) & 511));
  if ((pmd & _PAGE_PRESENT) == 0 || (pmd & _PAGE_PSE) != 0 || <u32>((pmd & PTE_PFN_MASK) >> 12) != pt)
    record_stale(cur_cpu, va, 2, pt, 0, pmd);
}

@inline function off_kinds(fl: u32): u32 {
  return kinds_of(fl, false) | ((fl & EF_NX) != 0 ? 0 : 1 << K_FETCH);
}

// After a page fault the CPU holds no translation for the faulting address (SDM 4.10.4.1).
export function tlb_fault_invalidate(va: u64): void {
  const c = cpu_rec(cur_cpu);
  const asid = load<u32>(c + CPU_ASID);
  if (tlb_mode == TLB_OFF) {
    // the functional cache keeps the PDE: a fault changes no table entry above the
    // faulting PTE's PMD without flushing (the stale check verifies every hit)
    fp_drop();
    const e = load<u32>(c + CPU_TLB) + off_off + ((<u32>(va >> 12) & (off_entries - 1)) << 4);
    store<u64>(e, 0);
    return;
  }
  fp_invalidate();
  const cpub = load<u32>(c + CPU_TLB);
  for (let l: u32 = 0; l < 4; l++) invalidate_va_level(cur_cpu, cpub, l, va, asid);
  pwc_flush(cpub, asid, true, va);
}

// --- software page-table lookups (no A/D updates) -----------------------------------------

let sw_e: u64 = 0; // leaf entry
let sw_shift: u32 = 0;
let sw_rw: bool = false;
let sw_nx: bool = false;

// The leaf translating va as the hardware would see it: false if not present.
export function sw_lookup(mm: u32, va: u64): bool {
  let table = load<u32>(mm + T.MM_PGD);
  let shift: u32 = load<u32>(mm + T.MM_LEVELS) == 5 ? 48 : 39;
  let rw = true, nx = false;
  while (true) {
    const e = load<u64>(entry_host(table, <u32>(va >> shift) & 511));
    if ((e & _PAGE_PRESENT) == 0) return false;
    rw = rw && (e & _PAGE_RW) != 0;
    nx = nx || (e & _PAGE_NX) != 0;
    if (shift == 12 || (shift <= 30 && (e & _PAGE_PSE) != 0)) {
      sw_e = e; sw_shift = shift; sw_rw = rw; sw_nx = nx;
      return true;
    }
    table = <u32>((e & PTE_PFN_MASK) >> 12);
    shift -= 9;
  }
}

// Would the page table allow this access now? (a fault that finds yes is spurious)
export function pt_allows(mm: u32, va: u64, kind: u32): bool {
  if (!sw_lookup(mm, va)) return false;
  if (kind == K_WRITE) return sw_rw;
  if (kind == K_FETCH) return !sw_nx;
  return true;
}

// --- stale-entry check ------------------------------------------------------------------------


function record_stale(cpu: u32, va: u64, kind: u32, have_pfn: u32, have_fl: u32, pte: u64): void {
  cnt_inc(cpu, C_STALE);
  const info = LAYOUT_COUNTERS + CNT_TLB_INFO;
  if (load<f64>(info) != 0) return;
  store<f64>(info, 1);
  store<f64>(info + 8, <f64>cpu);
  store<f64>(info + 16, <f64>va);
  store<f64>(info + 24, <f64>kind); // 1 TLB entry, 2 walk-cache entry
  store<f64>(info + 32, <f64>have_pfn); // cached frame / table
  store<f64>(info + 40, <f64>(have_fl & (EF_W | EF_NX))); // cached permissions: 1 writable, 4 no-exec
  store<f64>(info + 48, (pte & _PAGE_PRESENT) != 0 ? <f64>((pte & PTE_PFN_MASK) >> 12) : -1); // page table's frame
  store<f64>(info + 56, <f64>(pte & 0xfff) + ((pte & _PAGE_NX) != 0 ? 4096 : 0)); // its flag bits (4096: NX)
}

// A cached leaf translation must map, page by page, what the page table maps now,
// and grant no permission the page table does not.
function check_leaf_entry(cpu: u32, e: u32): void {
  const t = load<u64>(e);
  const mm = asid_owner_mm(cpu, tag_asid(t));
  if (mm == 0) return;
  const s = tag_shift(t);
  const base = tag_base(t);
  const pfn = load<u32>(e, 8);
  const fl = load<u32>(e, 12);
  const end = base + (<u64>1 << s);
  let v = base;
  while (v < end) {
    if (!sw_lookup(mm, v)) { record_stale(cpu, v, 1, pfn, fl, 0); return; }
    const lpfn = <u32>((sw_e & PTE_PFN_MASK) >> 12) + (<u32>(v >> 12) & ((<u32>1 << (sw_shift - 12)) - 1));
    if (lpfn != pfn + <u32>((v - base) >> 12) || ((fl & EF_W) != 0 && !sw_rw) || ((fl & EF_NX) == 0 && sw_nx)) {
      record_stale(cpu, v, 1, pfn, fl, sw_e);
      return;
    }
    const step = <u64>1 << min<u32>(sw_shift, s);
    v = (v & ~(step - 1)) + step;
  }
}

function check_pwc_entry(cpu: u32, mm0: u32, e: u32, i: u32): void {
  const t = load<u64>(e);
  const mm = asid_owner_mm(cpu, tag_asid(t));
  if (mm == 0) return;
  const s = pwc_shift(i);
  const va = (t >> 14) << s;
  let table = load<u32>(mm + T.MM_PGD);
  let shift: u32 = load<u32>(mm + T.MM_LEVELS) == 5 ? 48 : 39;
  let rw = true, nx = false;
  while (true) {
    const x = load<u64>(entry_host(table, <u32>(va >> shift) & 511));
    if ((x & _PAGE_PRESENT) == 0 || (shift <= 30 && (x & _PAGE_PSE) != 0)) { record_stale(cpu, va, 2, load<u32>(e, 8), load<u32>(e, 12), x); return; }
    rw = rw && (x & _PAGE_RW) != 0;
    nx = nx || (x & _PAGE_NX) != 0;
    const next = <u32>((x & PTE_PFN_MASK) >> 12);
    if (shift == s) {
      const fl = load<u32>(e, 12);
      if (next != load<u32>(e, 8) || ((fl & EF_W) != 0 && !rw) || ((fl & EF_NX) == 0 && nx)) record_stale(cpu, va, 2, load<u32>(e, 8), fl, x);
      return;
    }
    table = next;
    shift -= 9;
  }
}

// Check every cached translation of every CPU (run at the end of each core call when
// the check is on).
export function tlb_check_all(): void {
  for (let cpu: u32 = 0; cpu < tlb_ncpus; cpu++) {
    const cpub = load<u32>(cpu_rec(cpu) + CPU_TLB);
    if (tlb_mode == TLB_OFF) {
      for (let i: u32 = 0; i < off_entries; i++) {
        const e = cpub + off_off + (i << 4);
        if ((load<u64>(e) & 1) != 0) check_leaf_entry(cpu, e);
      }
      continue;
    }
    for (let k: u32 = 0; k < nr_arrays; k++) {
      const a = arr(k);
      const n = load<u32>(a, A_SETS) * load<u32>(a, A_WAYS);
      const base = cpub + load<u32>(a, A_OFF);
      for (let i: u32 = 0; i < n; i++) {
        const e = base + (i << 4);
        if ((load<u64>(e) & 1) != 0) check_leaf_entry(cpu, e);
      }
    }
    for (let k: u32 = 0; k < 4; k++) {
      const a = pwc_rec(k);
      const n = load<u32>(a, A_SETS) * load<u32>(a, A_WAYS);
      const base = cpub + load<u32>(a, A_OFF);
      for (let i: u32 = 0; i < n; i++) {
        const e = base + (i << 4);
        if ((load<u64>(e) & 1) != 0) check_pwc_entry(cpu, 0, e, k);
      }
    }
  }
}

// Test hook: how many valid entries `cpu` holds in level l (all levels: l = 4).
export function tlb_valid_entries(cpu: u32, l: u32): u32 {
  if (cpu >= tlb_ncpus) return 0;
  const cpub = load<u32>(cpu_rec(cpu) + CPU_TLB);
  let count: u32 = 0;
  if (tlb_mode == TLB_OFF) {
    for (let i: u32 = 0; i < off_entries; i++) if ((load<u64>(cpub + off_off + (i << 4)) & 1) != 0) count++;
    return count;
  }
  for (let lv: u32 = 0; lv < 4; lv++) {
    if (l != 4 && lv != l) continue;
    if (lv == LV_L2I && !l2i_separate) continue;
    for (let k: u32 = 0; k < level_n(lv); k++) {
      const a = level_arr(lv, k);
      const n = load<u32>(a, A_SETS) * load<u32>(a, A_WAYS);
      const base = cpub + load<u32>(a, A_OFF);
      for (let i: u32 = 0; i < n; i++) if ((load<u64>(base + (i << 4)) & 1) != 0) count++;
    }
  }
  return count;
}
