// The invariant checker (in the spirit of mm/debug_vm.c and the RSS checks
// of check_mm()): recomputes from the page tables and the allocator what the
// kernel keeps incrementally — RSS, page-table counts, mapcounts, refcounts,
// node statistics, free memory — and reports the first disagreement.

import * as T from "./mm_types";
import { LAYOUT_IO } from "../layout";
import { alloc_chunk, free_chunk } from "../lib/hostmem";
import {
  nr_pageblocks, pb_rec, PB_STATE, PB_FRAMES, PB_FOLIO, PBS_ALLOC, PBS_BROKEN, count_free_pages_slow, ZERO_PFN,
  PB_MAPCOUNT_BIAS, PB_AFLAGS,
} from "./page_alloc";
import {
  frame_get, page_folio, ft_type, FT_SMALL, FT_HEAD, FT_TAIL, FT_PGTABLE, S_MAPCOUNT_MASK, S_EXTRA_MASK,
  S_EXTRA_SHIFT, S_FILE, S_PINNED, large_page_mapcount, folio_nr_pages,
} from "./folio";
import { pte_present, pte_special, pte_pfn, pmd_trans_huge, PTE_PFN_MASK } from "../arch/x86/pgtable_types";
import { table_host, table_of } from "../arch/x86/pgtable";
import { _PAGE_TEAM_DEPOSIT } from "./shmem";
import { nr_pids, task_slot, mm_nr_vmas, mm_vma } from "./mmap";
import {
  node_page_state, NR_PAGETABLE, NR_ANON_MAPPED, NR_ANON_THPS, NR_FREE_PAGES, mthp_stat, MTHP_STAT_NR_ANON,
  NR_FILE_MAPPED, NR_SHMEM, NR_FILE_PAGES, NR_SHMEM_THPS, NR_SHMEM_PMDMAPPED,
  MM_ANONPAGES, MM_SHMEMPAGES,
} from "./vmstat";
import { get_mm_counter } from "./memory";
import { split_queue_len } from "./huge_memory";
import { ENTIRELY_MAPPED, pud_counts_in_anon_thps } from "./rmap";
import { knob, K_V_PGTABLE_DEPOSIT } from "../kernel/sysfs";
import { hugetlb_check_invariants, INV_HUGETLB_NAMES } from "./hugetlb";

// failure codes (names for the host in INVARIANT_NAMES)
export const INV_OK: u32 = 0;
export const INV_VMA_ORDER: u32 = 1;
export const INV_PTE_OUTSIDE_VMA: u32 = 2;
export const INV_PGTABLES_BYTES: u32 = 3;
export const INV_RSS_ANON: u32 = 4;
export const INV_RSS_SHMEM: u32 = 5;
export const INV_NR_PAGETABLE: u32 = 6;
export const INV_FREE_PAGES: u32 = 7;
export const INV_MAPCOUNT: u32 = 8;
export const INV_REFCOUNT: u32 = 9;
export const INV_NR_PAGES_MAPPED: u32 = 10;
export const INV_LARGE_MAPCOUNT: u32 = 11;
export const INV_NR_ANON_MAPPED: u32 = 12;
export const INV_NR_ANON_THPS: u32 = 13;
export const INV_MTHP_NR_ANON: u32 = 14;
export const INV_DEPOSIT: u32 = 15;
export const INV_ENTIRE_MAPCOUNT: u32 = 16;
export const INV_SPLIT_QUEUE: u32 = 17;
export const INV_NR_FILE_MAPPED: u32 = 18;
export const INV_NR_SHMEM: u32 = 19;
export const INV_NR_SHMEM_THPS: u32 = 20;
export const INV_NR_SHMEM_PMDMAPPED: u32 = 21;
export const INVARIANT_NAMES: string =
  "1 VMAs of an mm are not sorted, page aligned and disjoint\n" +
  "2 a present page-table entry lies outside every VMA\n" +
  "3 mm pgtables_bytes (VmPTE) differs from the page tables found\n" +
  "4 mm MM_ANONPAGES differs from the anonymous pages mapped\n" +
  "5 mm MM_SHMEMPAGES differs from the shmem pages mapped\n" +
  "6 NR_PAGETABLE differs from the page-table frames allocated\n" +
  "7 NR_FREE_PAGES differs from the free blocks of the buddy allocator\n" +
  "8 a page's mapcount differs from the page-table entries mapping it\n" +
  "9 a folio's refcount differs from its mappings\n" +
  "10 a folio's nr_pages_mapped differs from its mapped pages\n" +
  "11 a folio's large mapcount differs from its mappings\n" +
  "12 NR_ANON_MAPPED (AnonPages) differs from the mapped anonymous pages\n" +
  "13 NR_ANON_THPS (AnonHugePages) differs from the PMD-mapped anonymous folios\n" +
  "14 an mTHP nr_anon stat differs from the anonymous folios of that order\n" +
  "15 an mm's deposited page tables differ from its huge mappings\n" +
  "16 a folio's entire mapcount differs from its PMD/PUD mappings\n" +
  "17 the deferred split queue length differs from the queued folios\n" +
  "18 NR_FILE_MAPPED (Mapped) differs from the mapped page-cache pages\n" +
  "19 NR_SHMEM (Shmem) differs from the pages in shmem page caches\n" +
  "20 NR_SHMEM_THPS (ShmemHugePages) differs from the PMD-size shmem folios cached\n" +
  "21 NR_SHMEM_PMDMAPPED (ShmemPmdMapped) differs from the PMD-mapped shmem folios\n" + INV_HUGETLB_NAMES;

function fail(code: u32, a: f64, b: f64, c: f64): u32 {
  store<u32>(LAYOUT_IO, code);
  store<f64>(LAYOUT_IO + 8, a);
  store<f64>(LAYOUT_IO + 16, b);
  store<f64>(LAYOUT_IO + 24, c);
  return code;
}

// --- a pfn -> count hash table spread over 2 MiB chunks ----------------------------------
const MAX_CHUNKS: u32 = 256;
const chunks = memory.data(4 * MAX_CHUNKS);
let h_nchunks: u32 = 0;
let h_mask: u32 = 0;
const PER_CHUNK_SHIFT: u32 = 18; // 2 MiB / 8 bytes

function h_init(entries: u32): bool {
  let size: u32 = 1 << PER_CHUNK_SHIFT;
  while (size < entries * 2 && size < (MAX_CHUNKS << PER_CHUNK_SHIFT)) size <<= 1;
  h_nchunks = size >> PER_CHUNK_SHIFT;
  h_mask = size - 1;
  for (let i: u32 = 0; i < h_nchunks; i++) {
    const c = alloc_chunk();
    if (c == 0) { for (let j: u32 = 0; j < i; j++) free_chunk(load<u32>(chunks + 4 * j)); h_nchunks = 0; return false; }
    memory.fill(c, 0, 1 << 21);
    store<u32>(chunks + 4 * i, c);
  }
  return true;
}
function h_free(): void {
  for (let i: u32 = 0; i < h_nchunks; i++) free_chunk(load<u32>(chunks + 4 * i));
  h_nchunks = 0;
}
@inline function h_slot(i: u32): u32 {
  return load<u32>(chunks + 4 * (i >> PER_CHUNK_SHIFT)) + ((i & ((1 << PER_CHUNK_SHIFT) - 1)) << 3);
}
function h_add(pfn: u32, n: i32): void {
  let i = (pfn * 0x9e3779b1) & h_mask;
  while (true) {
    const s = h_slot(i);
    const k = load<u32>(s);
    if (k == pfn + 1) { store<i32>(s, load<i32>(s, 4) + n, 4); return; }
    if (k == 0) { store<u32>(s, pfn + 1); store<i32>(s, n, 4); return; }
    i = (i + 1) & h_mask;
  }
}
function h_get(pfn: u32): i32 {
  let i = (pfn * 0x9e3779b1) & h_mask;
  while (true) {
    const s = h_slot(i);
    const k = load<u32>(s);
    if (k == pfn + 1) return load<i32>(s, 4);
    if (k == 0) return 0;
    i = (i + 1) & h_mask;
  }
}

// per-check counters
let c_tables: i64 = 0;
let c_anon: i64 = 0;
let c_shmem: i64 = 0;
let c_huge_pmds: u32 = 0; // PMD leaves needing a deposit (anon THP + huge zero)
let c_huge_puds: u32 = 0;
let c_vma_i: u32 = 0;
let c_mm: u32 = 0;

function vma_covering(mm: u32, addr: u64): u32 {
  // VMAs are visited in order; advance the cursor
  const nr = mm_nr_vmas(mm);
  while (c_vma_i < nr && load<u64>(mm_vma(mm, c_vma_i) + T.V_END) <= addr) c_vma_i++;
  if (c_vma_i < nr && load<u64>(mm_vma(mm, c_vma_i) + T.V_START) <= addr) return mm_vma(mm, c_vma_i);
  return 0;
}

function account_leaf(addr: u64, e: u64, level: u32): u32 {
  const mm = c_mm;
  const vma = vma_covering(mm, addr);
  if (vma == 0) return fail(INV_PTE_OUTSIDE_VMA, <f64>load<u32>(mm + T.MM_ID), <f64>addr, <f64>level);
  if (pte_special(e)) {
    if (level == 2) c_huge_pmds++; // huge zero PMD keeps a deposit
    return 0;
  }
  const pfn = pte_pfn(e);
  const f = page_folio(pfn);
  const n: i64 = level == 1 ? 1 : level == 2 ? 512 : 262144;
  let shmem = false;
  if (f != 0) shmem = load<u8>(f, T.F_KIND) == T.FK_SHMEM;
  else shmem = (frame_get(pfn) & S_FILE) != 0;
  if (load<u8>(vma + T.V_KIND) == T.VK_HUGETLB) return 0;
  if (shmem) c_shmem += n; else c_anon += n;
  if (level == 1) h_add(pfn, 1);
  else {
    h_add(load<u32>(f, T.F_PFN) | 0x80000000, 1); // entire mappings keyed by head | bit 31
    if (!shmem) { if (level == 2) c_huge_pmds++; else c_huge_puds++; }
    else if (level == 2 && (e & _PAGE_TEAM_DEPOSIT) != 0) c_huge_pmds++; // seed 001 team deposit
  }
  return 0;
}

function walk_table(pfn: u32, level: u32, base: u64): u32 {
  const t = table_host(pfn);
  const shift: u32 = 12 + 9 * (level - 1);
  for (let i: u32 = 0; i < 512; i++) {
    const e = load<u64>(t + (i << 3));
    if (e == 0) continue;
    const addr = base + (<u64>i << shift);
    if (level == 1) {
      if (pte_present(e)) { const r = account_leaf(addr, e, 1); if (r) return r; }
      continue;
    }
    if (level <= 3 && pmd_trans_huge(e)) { const r = account_leaf(addr, e, level); if (r) return r; continue; }
    if (level <= 4) c_tables++;
    const r = walk_table(table_of(e), level - 1, addr);
    if (r) return r;
  }
  return 0;
}

function check_mm(mm: u32): u32 {
  // VMAs sorted and disjoint
  const nr = mm_nr_vmas(mm);
  let prev_end: u64 = 0;
  for (let i: u32 = 0; i < nr; i++) {
    const v = mm_vma(mm, i);
    const s = load<u64>(v + T.V_START), e = load<u64>(v + T.V_END);
    if (s < prev_end || s >= e || (s & 4095) || (e & 4095)) return fail(INV_VMA_ORDER, <f64>load<u32>(mm + T.MM_ID), <f64>s, <f64>e);
    prev_end = e;
  }
  c_tables = 0; c_anon = 0; c_shmem = 0; c_huge_pmds = 0; c_huge_puds = 0; c_vma_i = 0; c_mm = mm;
  const levels = load<u32>(mm + T.MM_LEVELS);
  const r = walk_table(load<u32>(mm + T.MM_PGD), levels, 0);
  if (r) return r;
  // P4D tables (5-level) are not in pgtables_bytes: walk_table does not count them
  const counted = c_tables;
  const deposited = <i64>load<u32>(mm + T.MM_NR_DEPOSITED) + 513 * <i64>load<u32>(mm + T.MM_NR_PUD_DEPOSITED);
  const want = (counted + deposited) * 4096;
  if (load<i64>(mm + T.MM_PGTABLES_BYTES) != want)
    return fail(INV_PGTABLES_BYTES, <f64>load<u32>(mm + T.MM_ID), <f64>want, <f64>load<i64>(mm + T.MM_PGTABLES_BYTES));
  if (get_mm_counter(mm, MM_ANONPAGES) != c_anon)
    return fail(INV_RSS_ANON, <f64>load<u32>(mm + T.MM_ID), <f64>c_anon, <f64>get_mm_counter(mm, MM_ANONPAGES));
  if (get_mm_counter(mm, MM_SHMEMPAGES) != c_shmem)
    return fail(INV_RSS_SHMEM, <f64>load<u32>(mm + T.MM_ID), <f64>c_shmem, <f64>get_mm_counter(mm, MM_SHMEMPAGES));
  if (load<u32>(mm + T.MM_NR_DEPOSITED) != deposit_chain_len(load<u32>(mm + T.MM_PMD_HUGE_PTE)) ||
      load<u32>(mm + T.MM_NR_DEPOSITED) > c_huge_pmds ||
      (deposit_required() && load<u32>(mm + T.MM_NR_DEPOSITED) != c_huge_pmds) ||
      load<u32>(mm + T.MM_NR_PUD_DEPOSITED) > c_huge_puds ||
      (deposit_required() && load<u32>(mm + T.MM_NR_PUD_DEPOSITED) != c_huge_puds))
    return fail(INV_DEPOSIT, <f64>load<u32>(mm + T.MM_ID), <f64>c_huge_pmds, <f64>load<u32>(mm + T.MM_NR_DEPOSITED));
  return 0;
}

function deposit_chain_len(head: u32): u32 {
  let n: u32 = 0;
  while (head != 0) { n++; head = load<u32>(table_host(head)); }
  return n;
}
// with V8 predeposit every anon huge mapping owns a deposit; lazy-at-split has none
function deposit_required(): bool { return knob(K_V_PGTABLE_DEPOSIT) == 0; }

// Check everything; returns 0 or an INV_* code (details in the IO buffer).
export function check_invariants(): u32 {
  // total mapped entries bound the hash table size
  let entries: i64 = 0;
  for (let pid: u32 = 1; pid < nr_pids(); pid++) {
    const t = task_slot(pid);
    if (t == 0 || load<u32>(t + T.T_ALIVE) == 0) continue;
    const mm = load<u32>(t + T.T_MM);
    entries += load<i64>(mm + T.MM_RSS + 8) + load<i64>(mm + T.MM_RSS + 24) + 64;
  }
  if (entries > (<i64>MAX_CHUNKS << PER_CHUNK_SHIFT) / 2) entries = (<i64>MAX_CHUNKS << PER_CHUNK_SHIFT) / 2;
  if (!h_init(<u32>entries)) return 0; // not enough host memory to check: nothing to report
  let r: u32 = 0;
  for (let pid: u32 = 1; pid < nr_pids() && r == 0; pid++) {
    const t = task_slot(pid);
    if (t == 0 || load<u32>(t + T.T_ALIVE) == 0) continue;
    r = check_mm(load<u32>(t + T.T_MM));
  }
  if (r == 0) r = check_frames();
  h_free();
  if (r) return r;
  const free_slow = count_free_pages_slow();
  if (free_slow != <u64>node_page_state(NR_FREE_PAGES))
    return fail(INV_FREE_PAGES, <f64>free_slow, <f64>node_page_state(NR_FREE_PAGES), 0);
  return hugetlb_check_invariants();
}

// Every allocated frame: mapcounts and refcounts against the hash of mappings.
function check_frames(): u32 {
  let pagetables: i64 = 0;
  let anon_mapped: i64 = 0;
  let anon_thps: i64 = 0;
  let queued: u32 = 0;
  file_mapped = 0; shmem_cached = 0; shmem_thps = 0; shmem_pmdmapped = 0;
  const nr_anon = memory.data(8 * 19);
  memory.fill(nr_anon, 0, 8 * 19);
  for (let pb: u32 = 0; pb < nr_pageblocks; pb++) {
    const r = pb_rec(pb);
    const st = load<u8>(r + PB_STATE);
    const fr = load<u32>(r + PB_FRAMES);
    if (st == PBS_ALLOC || st == PBS_BROKEN) {
      // the per-pageblock mapcount/AnonExclusive overlay (folio.ts) exists only on a
      // pageblock of a folio of order >= 9 without a frame array, and is never negative
      const bias = load<i32>(r + PB_MAPCOUNT_BIAS);
      if (bias != 0 || load<u8>(r + PB_AFLAGS) != 0) {
        const f = load<u32>(r + PB_FOLIO);
        if (st != PBS_ALLOC || fr != 0 || f == 0 || load<u8>(f, T.F_ORDER) < 9 || bias < 0)
          return fail(INV_MAPCOUNT, <f64>(pb << 9), 0, <f64>bias);
      }
    }
    if (fr == 0) {
      // whole pageblock of a large folio: check it once at its head
      const f = load<u32>(r + PB_FOLIO);
      if (f != 0 && st == PBS_ALLOC && (load<u32>(f, T.F_PFN) >> 9) == pb) {
        const c = check_folio(f);
        if (c) return c;
        if (load<u8>(f, T.F_KIND) == T.FK_ANON) {
          const o = <u32>load<u8>(f, T.F_ORDER);
          store<i64>(nr_anon + 8 * o, load<i64>(nr_anon + 8 * o) + 1);
          anon_mapped += folio_anon_mapped(f);
          anon_thps += folio_anon_thps(f);
          if (load<u16>(f, T.F_FLAGS) & T.FF_DEFERRED) queued++;
        } else if (load<u8>(f, T.F_KIND) == T.FK_SHMEM) shmem_folio_counts(f);
      }
      continue;
    }
    for (let i: u32 = 0; i < 512; i++) {
      const pfn = (pb << 9) + i;
      const e = load<u32>(fr + (i << 2));
      const t = ft_type(e);
      if (t == FT_PGTABLE) { pagetables++; continue; }
      if (t == FT_SMALL) {
        const mc = <i32>(e & S_MAPCOUNT_MASK);
        const want = h_get(pfn);
        if (mc != want) return fail(INV_MAPCOUNT, <f64>pfn, <f64>want, <f64>mc);
        const extra = (e & S_EXTRA_MASK) >>> S_EXTRA_SHIFT;
        // an anonymous page is referenced by its mappings only (a leak otherwise)
        if ((e & S_FILE) == 0 && (extra != 0 || (mc == 0 && (e & S_PINNED) == 0)))
          return fail(INV_REFCOUNT, <f64>pfn, <f64>mc, <f64>(mc + <i32>extra));
        // a shmem page: its mappings plus the page cache's one reference, or mapped only
        if ((e & S_FILE) != 0 && (extra > 1 || (mc == 0 && extra == 0 && (e & S_PINNED) == 0)))
          return fail(INV_REFCOUNT, <f64>pfn, <f64>mc, <f64>(mc + <i32>extra));
        if (mc > 0 && (e & S_FILE) == 0) anon_mapped++;
        if ((e & S_FILE) != 0) { if (mc > 0) file_mapped++; if (extra == 1) shmem_cached++; }
        continue;
      }
      if (t == FT_HEAD) {
        const f = (e & 0x0fffffff) << 4;
        const c = check_folio(f);
        if (c) return c;
        if (load<u8>(f, T.F_KIND) == T.FK_ANON) {
          const o = <u32>load<u8>(f, T.F_ORDER);
          store<i64>(nr_anon + 8 * o, load<i64>(nr_anon + 8 * o) + 1);
          anon_mapped += folio_anon_mapped(f);
          anon_thps += folio_anon_thps(f);
          if (load<u16>(f, T.F_FLAGS) & T.FF_DEFERRED) queued++;
        } else if (load<u8>(f, T.F_KIND) == T.FK_SHMEM) shmem_folio_counts(f);
      }
    }
  }
  if (pagetables != node_page_state(NR_PAGETABLE)) return fail(INV_NR_PAGETABLE, <f64>pagetables, <f64>node_page_state(NR_PAGETABLE), 0);
  if (anon_mapped != node_page_state(NR_ANON_MAPPED)) return fail(INV_NR_ANON_MAPPED, <f64>anon_mapped, <f64>node_page_state(NR_ANON_MAPPED), 0);
  if (anon_thps != node_page_state(NR_ANON_THPS)) return fail(INV_NR_ANON_THPS, <f64>anon_thps, <f64>node_page_state(NR_ANON_THPS), 0);
  for (let o: u32 = 2; o < 19; o++) {
    if (o > 9 && o != 18) continue;
    if (load<i64>(nr_anon + 8 * o) != mthp_stat(o, MTHP_STAT_NR_ANON))
      return fail(INV_MTHP_NR_ANON, <f64>o, <f64>load<i64>(nr_anon + 8 * o), <f64>mthp_stat(o, MTHP_STAT_NR_ANON));
  }
  if (queued != split_queue_len) return fail(INV_SPLIT_QUEUE, <f64>queued, <f64>split_queue_len, 0);
  if (file_mapped != node_page_state(NR_FILE_MAPPED)) return fail(INV_NR_FILE_MAPPED, <f64>file_mapped, <f64>node_page_state(NR_FILE_MAPPED), 0);
  if (shmem_cached != node_page_state(NR_SHMEM) || shmem_cached != node_page_state(NR_FILE_PAGES))
    return fail(INV_NR_SHMEM, <f64>shmem_cached, <f64>node_page_state(NR_SHMEM), <f64>node_page_state(NR_FILE_PAGES));
  if (shmem_thps != node_page_state(NR_SHMEM_THPS)) return fail(INV_NR_SHMEM_THPS, <f64>shmem_thps, <f64>node_page_state(NR_SHMEM_THPS), 0);
  if (shmem_pmdmapped != node_page_state(NR_SHMEM_PMDMAPPED))
    return fail(INV_NR_SHMEM_PMDMAPPED, <f64>shmem_pmdmapped, <f64>node_page_state(NR_SHMEM_PMDMAPPED), 0);
  return 0;
}

// page-cache totals recomputed from the folios (__lruvec_stat_mod_folio callers)
let file_mapped: i64 = 0, shmem_cached: i64 = 0, shmem_thps: i64 = 0, shmem_pmdmapped: i64 = 0;
function shmem_folio_counts(f: u32): void {
  const nr = <i64>folio_nr_pages(f);
  file_mapped += folio_anon_mapped(f);
  if (load<i32>(f, T.F_ENTIRE_MAPCOUNT) > 0) shmem_pmdmapped += nr;
  if (load<u32>(f, T.F_MAPPING) != 0) {
    shmem_cached += nr;
    if (nr >= 512) shmem_thps += nr;
  }
}

// pages of an anon folio that count in NR_ANON_MAPPED
function folio_anon_mapped(f: u32): i64 {
  if (load<i32>(f, T.F_ENTIRE_MAPCOUNT) > 0) return <i64>folio_nr_pages(f);
  return <i64>(load<i32>(f, T.F_NR_PAGES_MAPPED) & (ENTIRELY_MAPPED - 1));
}
function folio_anon_thps(f: u32): i64 {
  if (load<i32>(f, T.F_ENTIRE_MAPCOUNT) == 0) return 0;
  const o = <u32>load<u8>(f, T.F_ORDER);
  if (o == 9 || (o == 18 && pud_counts_in_anon_thps)) return <i64>folio_nr_pages(f);
  return 0;
}

function check_folio(f: u32): u32 {
  const head = load<u32>(f, T.F_PFN);
  const nr = folio_nr_pages(f);
  if (load<u8>(f, T.F_KIND) == T.FK_HUGETLB || load<u8>(f, T.F_KIND) == T.FK_HUGE_ZERO) return 0;
  let sum: i32 = 0;
  let mapped: i32 = 0;
  for (let i: u32 = 0; i < nr; i++) {
    const mc = large_page_mapcount(f, head + i);
    const want = h_get(head + i);
    if (mc != want) return fail(INV_MAPCOUNT, <f64>(head + i), <f64>want, <f64>mc);
    sum += mc;
    if (mc > 0) mapped++;
  }
  const entire = h_get(head | 0x80000000);
  if (entire != load<i32>(f, T.F_ENTIRE_MAPCOUNT)) return fail(INV_ENTIRE_MAPCOUNT, <f64>head, <f64>entire, <f64>load<i32>(f, T.F_ENTIRE_MAPCOUNT));
  const npm = mapped + (entire > 0 ? ENTIRELY_MAPPED : 0);
  if (npm != load<i32>(f, T.F_NR_PAGES_MAPPED)) return fail(INV_NR_PAGES_MAPPED, <f64>head, <f64>npm, <f64>load<i32>(f, T.F_NR_PAGES_MAPPED));
  if (sum + entire != load<i32>(f, T.F_LARGE_MAPCOUNT)) return fail(INV_LARGE_MAPCOUNT, <f64>head, <f64>(sum + entire), <f64>load<i32>(f, T.F_LARGE_MAPCOUNT));
  let refs = load<i32>(f, T.F_REFCOUNT) - load<i32>(f, T.F_PINCOUNT) * 1;
  // a shmem folio in the page cache holds one reference per page (folio_ref_add in filemap)
  if (load<u8>(f, T.F_KIND) == T.FK_SHMEM && load<u32>(f, T.F_MAPPING) != 0) refs -= <i32>nr;
  if (refs != sum + entire)
    return fail(INV_REFCOUNT, <f64>head, <f64>(sum + entire), <f64>load<i32>(f, T.F_REFCOUNT));
  return 0;
}
