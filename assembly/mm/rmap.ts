// Reverse-map accounting (mm/rmap.c, include/linux/rmap.h): mapcounts,
// PageAnonExclusive, the per-mm mapcount slots of large folios, and the
// NR_ANON_MAPPED / NR_ANON_THPS statistics, with the kernel's "first mapped /
// last unmapped" logic and partially-mapped detection.

import * as T from "./mm_types";
import {
  frame_ptr, S_MAPCOUNT_MASK, S_EXTRA_SHIFT, S_AE, large_page_set_anon_exclusive,
  large_page_anon_exclusive, large_pages_mapcount_add, large_pages_set_anon_exclusive, folio_nr_pages, folio_order,
  folio_kind, new_small_folio_map_pages,
} from "./folio";
import {
  mod_node_page_state, NR_ANON_MAPPED, NR_ANON_THPS, NR_FILE_MAPPED, NR_SHMEM_PMDMAPPED, mod_mthp_stat,
  MTHP_STAT_NR_ANON,
} from "./vmstat";
import { deferred_split_folio } from "./huge_memory";

export const ENTIRELY_MAPPED: i32 = 0x800000;
export const FOLIO_PAGES_MAPPED: i32 = ENTIRELY_MAPPED - 1;

export const RMAP_LEVEL_PTE: u32 = 0;
export const RMAP_LEVEL_PMD: u32 = 1;
export const RMAP_LEVEL_PUD: u32 = 2;

// V25: does a PUD mapping of an anon folio count in AnonHugePages (NR_ANON_THPS)?
export let pud_counts_in_anon_thps: bool = true;
export function set_pud_counts_in_anon_thps(v: bool): void { pud_counts_in_anon_thps = v; }

@inline function mm_id_of(vma: u32): u32 { return load<u32>(load<u32>(vma + T.V_MM) + T.MM_ID); }

// folio_add_return_large_mapcount(): also tracks up to two mm ids (CONFIG_MM_ID)
@inline function folio_add_large_mapcount(f: u32, diff: i32, vma: u32): void {
  const mm_id = mm_id_of(vma);
  const nv = load<i32>(f, T.F_LARGE_MAPCOUNT) + diff; // count (not -1 based)
  store<i32>(f, nv, T.F_LARGE_MAPCOUNT);
  const new_val = nv - 1; // kernel's -1 based _large_mapcount
  if (load<u32>(f, T.F_MM_ID0) == mm_id) {
    store<i32>(f, load<i32>(f, T.F_MM_CNT0) + diff, T.F_MM_CNT0);
  } else if (load<u32>(f, T.F_MM_ID1) == mm_id) {
    store<i32>(f, load<i32>(f, T.F_MM_CNT1) + diff, T.F_MM_CNT1);
  } else if (load<u32>(f, T.F_MM_ID0) == 0) {
    store<u32>(f, mm_id, T.F_MM_ID0);
    store<i32>(f, diff - 1, T.F_MM_CNT0);
    if (new_val != diff - 1) store<u16>(f, load<u16>(f, T.F_FLAGS) | T.FF_MAYBE_SHARED, T.F_FLAGS);
  } else if (load<u32>(f, T.F_MM_ID1) == 0) {
    store<u32>(f, mm_id, T.F_MM_ID1);
    store<i32>(f, diff - 1, T.F_MM_CNT1);
    store<u16>(f, load<u16>(f, T.F_FLAGS) | T.FF_MAYBE_SHARED, T.F_FLAGS);
  }
}

// folio_sub_return_large_mapcount()
function folio_sub_large_mapcount(f: u32, diff: i32, vma: u32): void {
  const mm_id = mm_id_of(vma);
  const nv = load<i32>(f, T.F_LARGE_MAPCOUNT) - diff;
  store<i32>(f, nv, T.F_LARGE_MAPCOUNT);
  const new_val = nv - 1;
  let check = true;
  if (load<u32>(f, T.F_MM_ID0) == mm_id) {
    const c = load<i32>(f, T.F_MM_CNT0) - diff;
    if (c >= 0) { store<i32>(f, c, T.F_MM_CNT0); check = false; }
    else { store<i32>(f, -1, T.F_MM_CNT0); store<u32>(f, 0, T.F_MM_ID0); }
  } else if (load<u32>(f, T.F_MM_ID1) == mm_id) {
    const c = load<i32>(f, T.F_MM_CNT1) - diff;
    if (c >= 0) { store<i32>(f, c, T.F_MM_CNT1); check = false; }
    else { store<i32>(f, -1, T.F_MM_CNT1); store<u32>(f, 0, T.F_MM_ID1); }
  }
  if (check) {
    if (load<i32>(f, T.F_MM_CNT0) == new_val || load<i32>(f, T.F_MM_CNT1) == new_val)
      store<u16>(f, load<u16>(f, T.F_FLAGS) & ~T.FF_MAYBE_SHARED, T.F_FLAGS);
  }
}

// folio_maybe_mapped_shared()
export function folio_maybe_mapped_shared(f: u32, pfn: u32): bool {
  if (f == 0) return (load<u32>(frame_ptr(pfn)) & S_MAPCOUNT_MASK) > 1;
  const em = load<i32>(f, T.F_ENTIRE_MAPCOUNT);
  if (folio_order(f) < 9 || em == 0) {
    // folio_test_large_maybe_mapped_shared
    return (load<u16>(f, T.F_FLAGS) & T.FF_MAYBE_SHARED) != 0;
  }
  if (em > 1) return true;
  return (load<u16>(f, T.F_FLAGS) & T.FF_MAYBE_SHARED) != 0;
}

// folio_mapcount()
export function folio_mapcount(f: u32, pfn: u32): i32 {
  if (f == 0) return <i32>(load<u32>(frame_ptr(pfn)) & S_MAPCOUNT_MASK);
  return load<i32>(f, T.F_LARGE_MAPCOUNT);
}

@inline function mod_anon_stats(f: u32, nr: i32, nr_pmdmapped: i32): void {
  const file = f != 0 && folio_kind(f) == T.FK_SHMEM;
  if (nr != 0) mod_node_page_state(file ? NR_FILE_MAPPED : NR_ANON_MAPPED, nr);
  if (nr_pmdmapped != 0) mod_node_page_state(file ? NR_SHMEM_PMDMAPPED : NR_ANON_THPS, nr_pmdmapped);
}

// __folio_set_anon(): folio->mapping = anon_vma, folio->index = linear_page_index
function __folio_set_anon(f: u32, vma: u32, address: u64): void {
  store<u32>(f, load<u32>(vma + T.V_ANON_VMA), T.F_MAPPING);
  const idx = ((address - load<u64>(vma + T.V_START)) >> 12) + load<u64>(vma + T.V_PGOFF);
  store<u64>(f, idx, T.F_INDEX);
}

// folio_add_new_anon_rmap(folio, vma, address, flags)
export function folio_add_new_anon_rmap(f: u32, pfn: u32, vma: u32, address: u64, exclusive: bool): void {
  if (f == 0) {
    // the allocation reference becomes the mapping's reference
    const p = frame_ptr(pfn);
    const e = load<u32>(p);
    store<u32>(p, (e - (1 << S_EXTRA_SHIFT) + 1) | (exclusive ? S_AE : 0));
    mod_node_page_state(NR_ANON_MAPPED, 1);
    return;
  }
  __folio_set_anon(f, vma, address);
  const order = folio_order(f);
  const nr = <i32>folio_nr_pages(f);
  let nr_pmdmapped: i32 = 0;
  if (order < 9) {
    // a new folio: every page goes from unmapped to mapped once, AE set in the same pass
    new_small_folio_map_pages(f, pfn, <u32>nr, exclusive);
    store<i32>(f, 0, T.F_LARGE_MAPCOUNT);
    folio_add_large_mapcount(f, nr, vma);
    store<i32>(f, nr, T.F_NR_PAGES_MAPPED);
  } else {
    store<i32>(f, 0, T.F_LARGE_MAPCOUNT);
    folio_add_large_mapcount(f, 1, vma);
    store<i32>(f, 1, T.F_ENTIRE_MAPCOUNT);
    store<i32>(f, ENTIRELY_MAPPED, T.F_NR_PAGES_MAPPED);
    if (exclusive) large_page_set_anon_exclusive(f, pfn, true);
    nr_pmdmapped = (order == 9 || pud_counts_in_anon_thps) ? nr : 0;
  }
  mod_anon_stats(f, nr, nr_pmdmapped);
  mod_mthp_stat(order, MTHP_STAT_NR_ANON, 1);
}

// __folio_add_rmap() at PTE level for nr pages starting at pfn; returns pages newly mapped.
function __folio_add_rmap_ptes(f: u32, pfn: u32, nr: u32, vma: u32): i32 {
  const first = large_pages_mapcount_add(f, pfn, nr, 1);
  let n: i32 = 0;
  if (first != 0) {
    const m = load<i32>(f, T.F_NR_PAGES_MAPPED) + first;
    store<i32>(f, m, T.F_NR_PAGES_MAPPED);
    if (m < ENTIRELY_MAPPED) n = first;
  }
  folio_add_large_mapcount(f, <i32>nr, vma);
  return n;
}

// __folio_add_rmap() at PMD/PUD level; returns [nr, nr_pmdmapped] packed.
function __folio_add_rmap_entire(f: u32, vma: u32, level: u32): i64 {
  let n: i32 = 0, nr_pmdmapped: i32 = 0;
  const em = load<i32>(f, T.F_ENTIRE_MAPCOUNT) + 1;
  store<i32>(f, em, T.F_ENTIRE_MAPCOUNT);
  if (em == 1) {
    const m = load<i32>(f, T.F_NR_PAGES_MAPPED) + ENTIRELY_MAPPED;
    store<i32>(f, m, T.F_NR_PAGES_MAPPED);
    if (m < ENTIRELY_MAPPED + ENTIRELY_MAPPED) {
      const nr_pages = <i32>folio_nr_pages(f);
      if (level == RMAP_LEVEL_PMD || pud_counts_in_anon_thps) nr_pmdmapped = nr_pages;
      n = nr_pages - (m & FOLIO_PAGES_MAPPED);
      if (n < 0) n = 0;
    }
  }
  folio_add_large_mapcount(f, 1, vma);
  return (<i64>n << 32) | <i64><u32>nr_pmdmapped;
}

// folio_add_anon_rmap_ptes(): map nr pages of an existing anon folio (PMD split, remap)
export function folio_add_anon_rmap_ptes(f: u32, pfn: u32, nr: u32, vma: u32, exclusive: bool): void {
  if (f == 0) {
    const p = frame_ptr(pfn);
    const e = load<u32>(p);
    const was = e & S_MAPCOUNT_MASK;
    store<u32>(p, (e - (1 << S_EXTRA_SHIFT) + 1) | (exclusive ? S_AE : 0));
    if (was == 0) mod_node_page_state(NR_ANON_MAPPED, 1);
    return;
  }
  const n = __folio_add_rmap_ptes(f, pfn, nr, vma);
  if (exclusive) large_pages_set_anon_exclusive(f, pfn, nr, true);
  mod_anon_stats(f, n, 0);
}

export function folio_add_anon_rmap_pmd(f: u32, vma: u32, exclusive: bool, level: u32): void {
  const r = __folio_add_rmap_entire(f, vma, level);
  if (exclusive) large_page_set_anon_exclusive(f, load<u32>(f, T.F_PFN), true);
  mod_anon_stats(f, <i32>(r >> 32), <i32>(r & 0xffffffff));
}

// folio_try_dup_anon_rmap_ptes() (fork): -EBUSY (-16) if an exclusive page may be pinned.
export function folio_try_dup_anon_rmap_ptes(f: u32, pfn: u32, nr: u32, dst_vma: u32, maybe_pinned: bool): i32 {
  if (f == 0) {
    const p = frame_ptr(pfn);
    const e = load<u32>(p);
    if ((e & S_AE) != 0 && maybe_pinned) return -16;
    // the caller's folio_get() reference becomes the new mapping's reference
    store<u32>(p, (e - (1 << S_EXTRA_SHIFT) + 1) & ~S_AE);
    return 0;
  }
  if (maybe_pinned) {
    for (let i: u32 = 0; i < nr; i++) if (large_page_anon_exclusive(f, pfn + i)) return -16;
  }
  large_pages_set_anon_exclusive(f, pfn, nr, false);
  large_pages_mapcount_add(f, pfn, nr, 1);
  folio_add_large_mapcount(f, <i32>nr, dst_vma);
  return 0;
}

export function folio_try_dup_anon_rmap_pmd(f: u32, dst_vma: u32, maybe_pinned: bool): i32 {
  const head = load<u32>(f, T.F_PFN);
  if (large_page_anon_exclusive(f, head) && maybe_pinned) return -16;
  large_page_set_anon_exclusive(f, head, false);
  store<i32>(f, load<i32>(f, T.F_ENTIRE_MAPCOUNT) + 1, T.F_ENTIRE_MAPCOUNT);
  folio_add_large_mapcount(f, 1, dst_vma);
  return 0;
}

// folio_remove_rmap_ptes(folio, page, nr, vma)
export function folio_remove_rmap_ptes(f: u32, pfn: u32, nr: u32, vma: u32): void {
  if (f == 0) {
    // the mapping's reference becomes a reference the caller drops (after the TLB flush)
    const p = frame_ptr(pfn);
    const e = load<u32>(p);
    const mc = e & S_MAPCOUNT_MASK;
    assert(mc > 0, "folio_remove_rmap_ptes: mapcount underflow");
    let ne = e - 1 + (1 << S_EXTRA_SHIFT);
    store<u32>(p, ne);
    if (mc == 1) mod_node_page_state((e & (1 << 25)) != 0 ? NR_FILE_MAPPED : NR_ANON_MAPPED, -1);
    return;
  }
  folio_sub_large_mapcount(f, <i32>nr, vma);
  const last = large_pages_mapcount_add(f, pfn, nr, -1);
  let n: i32 = 0;
  if (last != 0) {
    const m = load<i32>(f, T.F_NR_PAGES_MAPPED) - last;
    store<i32>(f, m, T.F_NR_PAGES_MAPPED);
    if (m < ENTIRELY_MAPPED) n = last;
  }
  const partially_mapped = n != 0 && load<i32>(f, T.F_NR_PAGES_MAPPED) != 0;
  if (partially_mapped && folio_kind(f) == T.FK_ANON && (load<u16>(f, T.F_FLAGS) & T.FF_PARTIALLY_MAPPED) == 0)
    deferred_split_folio(f, true);
  mod_anon_stats(f, -n, 0);
}

// folio_remove_rmap_pmd()/folio_remove_rmap_pud()
export function folio_remove_rmap_entire(f: u32, vma: u32, level: u32): void {
  folio_sub_large_mapcount(f, 1, vma);
  const em = load<i32>(f, T.F_ENTIRE_MAPCOUNT) - 1;
  store<i32>(f, em, T.F_ENTIRE_MAPCOUNT);
  let n: i32 = 0, nr_pmdmapped: i32 = 0, nr_accounted: i32 = 0;
  if (em == 0) {
    const m = load<i32>(f, T.F_NR_PAGES_MAPPED) - ENTIRELY_MAPPED;
    store<i32>(f, m, T.F_NR_PAGES_MAPPED);
    if (m < ENTIRELY_MAPPED) {
      const nr_pages = <i32>folio_nr_pages(f);
      if (level == RMAP_LEVEL_PMD) nr_pmdmapped = nr_pages;
      if (level == RMAP_LEVEL_PMD || pud_counts_in_anon_thps) nr_accounted = nr_pages;
      n = nr_pages - m;
      if (n < 0) n = 0;
    }
  }
  const partially_mapped = n != 0 && n < nr_pmdmapped;
  if (partially_mapped && folio_kind(f) == T.FK_ANON && (load<u16>(f, T.F_FLAGS) & T.FF_PARTIALLY_MAPPED) == 0)
    deferred_split_folio(f, true);
  mod_anon_stats(f, -n, -nr_accounted);
}

// folio_add_file_rmap_ptes(): map nr pages of a page-cache folio
export function folio_add_file_rmap_ptes(f: u32, pfn: u32, nr: u32, vma: u32): void {
  if (f == 0) {
    const p = frame_ptr(pfn);
    const e = load<u32>(p);
    const was = e & S_MAPCOUNT_MASK;
    // the caller's reference becomes the mapping's reference
    store<u32>(p, e - (1 << S_EXTRA_SHIFT) + 1);
    if (was == 0) mod_node_page_state(NR_FILE_MAPPED, 1);
    return;
  }
  const n = __folio_add_rmap_ptes(f, pfn, nr, vma);
  mod_anon_stats(f, n, 0);
}

// folio_add_file_rmap_pmd()
export function folio_add_file_rmap_pmd(f: u32, vma: u32): void {
  const r = __folio_add_rmap_entire(f, vma, RMAP_LEVEL_PMD);
  mod_anon_stats(f, <i32>(r >> 32), <i32>(r & 0xffffffff));
}

// folio_dup_file_rmap_ptes() (fork of a private file mapping): mapcounts only
export function folio_dup_file_rmap_ptes(f: u32, pfn: u32, nr: u32, dst_vma: u32): void {
  if (f == 0) {
    const p = frame_ptr(pfn);
    store<u32>(p, load<u32>(p) - (1 << S_EXTRA_SHIFT) + 1);
    return;
  }
  large_pages_mapcount_add(f, pfn, nr, 1);
  folio_add_large_mapcount(f, <i32>nr, dst_vma);
}
