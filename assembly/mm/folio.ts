// struct page / struct folio (include/linux/mm.h, page-flags.h, mm/swap.c).
//
// Every allocated frame of a broken pageblock has a 4-byte entry:
//   bits 28-31 type
//   FT_SMALL  (order-0 folio): mapcount:14 | extra refs:6 | AE | dirty | lazyfree |
//             referenced | pinned | file | nonzero
//   FT_HEAD   (large folio head): folio record pointer >> 4
//   FT_TAIL   (page of a large folio): order:5 | AE | nonzero | mapcount:21
//   FT_PGTABLE: level
// A pageblock that belongs entirely to a folio of order >= 9 needs no frame
// entries until a page of it is mapped by a PTE (PB_FOLIO holds the record).
// Large folios have a 96-byte record (refcount, mapcounts, mm ids, deferred
// split links), like the fields the kernel keeps in the first tail pages.

import { PAGEBLOCK_ORDER, PAGE_SIZE } from "../layout";
import { slab_alloc, slab_free, SLAB_FOLIO } from "../lib/hostmem";
import {
  alloc_pages, free_pages, alloc_gigantic, free_gigantic, pb_rec, pfn_pb, pb_frames_get, pb_data_get,
  pfn_to_host, PB_FRAMES, PB_FOLIO, PB_DATA, MIGRATE_MOVABLE, data_mode,
} from "./page_alloc";
import * as T from "./mm_types";
import { mod_mthp_stat, MTHP_STAT_NR_ANON } from "./vmstat";

export const FT_FREE: u32 = 0;
export const FT_SMALL: u32 = 1;
export const FT_HEAD: u32 = 2;
export const FT_TAIL: u32 = 3;
export const FT_PGTABLE: u32 = 4;
export const FT_RESERVED: u32 = 5;

// FT_SMALL fields
export const S_MAPCOUNT_MASK: u32 = 0x3fff;
export const S_EXTRA_SHIFT: u32 = 14;
export const S_EXTRA_MASK: u32 = 0x3f << 14;
export const S_AE: u32 = 1 << 20;
export const S_DIRTY: u32 = 1 << 21;
export const S_LAZYFREE: u32 = 1 << 22;
export const S_REFERENCED: u32 = 1 << 23;
export const S_PINNED: u32 = 1 << 24;
export const S_FILE: u32 = 1 << 25;
export const S_NONZERO: u32 = 1 << 26;
// FT_TAIL fields
export const TL_ORDER_MASK: u32 = 0x1f;
export const TL_AE: u32 = 1 << 5;
export const TL_NONZERO: u32 = 1 << 6;
export const TL_MAPCOUNT_SHIFT: u32 = 7;

@inline export function ft_type(e: u32): u32 { return e >>> 28; }

// Address of the frame entry of pfn (the pageblock's frame array must exist).
@inline export function frame_ptr(pfn: u32): u32 {
  return load<u32>(pb_rec(pfn >> PAGEBLOCK_ORDER) + PB_FRAMES) + ((pfn & 511) << 2);
}

// Frame entry, or 0 (free) for pageblocks without a frame array.
@inline export function frame_get(pfn: u32): u32 {
  const fr = load<u32>(pb_rec(pfn >> PAGEBLOCK_ORDER) + PB_FRAMES);
  return fr == 0 ? 0 : load<u32>(fr + ((pfn & 511) << 2));
}

// Frame entry address, creating the pageblock's frame array if needed
// (pageblocks of large folios get one when a page is first PTE-mapped).
export function frame_ptr_alloc(pfn: u32): u32 {
  const pb = pfn >> PAGEBLOCK_ORDER;
  let fr = load<u32>(pb_rec(pb) + PB_FRAMES);
  if (fr == 0) {
    fr = pb_frames_get(pb);
    if (fr == 0) return 0;
    // a pageblock inside a large folio: describe every frame as a tail page
    const f = load<u32>(pb_rec(pb) + PB_FOLIO);
    if (f != 0) init_tail_frames(f, pb << PAGEBLOCK_ORDER, fr);
  }
  return fr + ((pfn & 511) << 2);
}

function init_tail_frames(f: u32, first: u32, fr: u32): void {
  const head = load<u32>(f, T.F_PFN);
  const order = <u32>load<u8>(f, T.F_ORDER);
  const e = (FT_TAIL << 28) | order;
  for (let i: u32 = 0; i < 512; i++) store<u32>(fr + (i << 2), e);
  if (head >= first && head < first + 512) store<u32>(fr + ((head - first) << 2), (FT_HEAD << 28) | (f >> 4));
}

// --- folio lookup -------------------------------------------------------------------

// The large folio record containing pfn, or 0 if pfn is an order-0 folio
// (or not a folio page at all).
export function page_folio(pfn: u32): u32 {
  const r = pb_rec(pfn >> PAGEBLOCK_ORDER);
  const fr = load<u32>(r + PB_FRAMES);
  if (fr == 0) return load<u32>(r + PB_FOLIO);
  const e = load<u32>(fr + ((pfn & 511) << 2));
  const t = e >>> 28;
  if (t == FT_HEAD) return (e & 0x0fffffff) << 4;
  if (t == FT_TAIL) {
    const order = e & TL_ORDER_MASK;
    const head = pfn & ~((<u32>1 << order) - 1);
    const hr = pb_rec(head >> PAGEBLOCK_ORDER);
    const hfr = load<u32>(hr + PB_FRAMES);
    if (hfr == 0) return load<u32>(hr + PB_FOLIO);
    return (load<u32>(hfr + ((head & 511) << 2)) & 0x0fffffff) << 4;
  }
  return 0;
}

@inline export function folio_pfn(f: u32): u32 { return load<u32>(f, T.F_PFN); }
@inline export function folio_order(f: u32): u32 { return <u32>load<u8>(f, T.F_ORDER); }
@inline export function folio_nr_pages(f: u32): u32 { return <u32>1 << load<u8>(f, T.F_ORDER); }
@inline export function folio_kind(f: u32): u8 { return load<u8>(f, T.F_KIND); }
@inline export function folio_flags(f: u32): u16 { return load<u16>(f, T.F_FLAGS); }
@inline export function folio_set_flag(f: u32, fl: u16): void { store<u16>(f, load<u16>(f, T.F_FLAGS) | fl, T.F_FLAGS); }
@inline export function folio_clear_flag(f: u32, fl: u16): void { store<u16>(f, load<u16>(f, T.F_FLAGS) & ~fl, T.F_FLAGS); }
@inline export function folio_test(f: u32, fl: u16): bool { return (load<u16>(f, T.F_FLAGS) & fl) != 0; }
@inline export function folio_ref_count(f: u32): i32 { return load<i32>(f, T.F_REFCOUNT); }
@inline export function folio_ref_add(f: u32, n: i32): void { store<i32>(f, load<i32>(f, T.F_REFCOUNT) + n, T.F_REFCOUNT); }
@inline export function folio_entire_mapcount(f: u32): i32 { return load<i32>(f, T.F_ENTIRE_MAPCOUNT); }
@inline export function folio_large_mapcount(f: u32): i32 { return load<i32>(f, T.F_LARGE_MAPCOUNT); }

// --- per-page state of a page of a large folio --------------------------------------

export function large_page_mapcount(f: u32, pfn: u32): i32 {
  if (pfn == load<u32>(f, T.F_PFN)) return load<i32>(f, T.F_HEAD_MAPCOUNT);
  const e = frame_get(pfn);
  if (e >>> 28 != FT_TAIL) return 0;
  return <i32>((e & 0x0fffffff) >>> TL_MAPCOUNT_SHIFT);
}

// Add delta to the PTE mapcount of one page; returns the new count.
export function large_page_mapcount_add(f: u32, pfn: u32, delta: i32): i32 {
  if (pfn == load<u32>(f, T.F_PFN)) {
    const c = load<i32>(f, T.F_HEAD_MAPCOUNT) + delta;
    store<i32>(f, c, T.F_HEAD_MAPCOUNT);
    return c;
  }
  const p = frame_ptr_alloc(pfn);
  const e = load<u32>(p);
  const c = <i32>((e & 0x0fffffff) >>> TL_MAPCOUNT_SHIFT) + delta;
  store<u32>(p, (e & ((0xf << 28) | ((1 << TL_MAPCOUNT_SHIFT) - 1))) | (<u32>c << TL_MAPCOUNT_SHIFT));
  return c;
}

export function large_page_anon_exclusive(f: u32, pfn: u32): bool {
  if (pfn == load<u32>(f, T.F_PFN)) return folio_test(f, T.FF_HEAD_ANON_EXCLUSIVE);
  return (frame_get(pfn) & TL_AE) != 0;
}

export function large_page_set_anon_exclusive(f: u32, pfn: u32, on: bool): void {
  if (pfn == load<u32>(f, T.F_PFN)) {
    if (on) folio_set_flag(f, T.FF_HEAD_ANON_EXCLUSIVE); else folio_clear_flag(f, T.FF_HEAD_ANON_EXCLUSIVE);
    return;
  }
  const p = frame_ptr_alloc(pfn);
  const e = load<u32>(p);
  store<u32>(p, on ? e | TL_AE : e & ~TL_AE);
}

// --- order-0 folio fields (frame entry) -----------------------------------------------

@inline export function small_mapcount(e: u32): u32 { return e & S_MAPCOUNT_MASK; }
@inline export function small_refcount(e: u32): u32 { return (e & S_MAPCOUNT_MASK) + ((e & S_EXTRA_MASK) >>> S_EXTRA_SHIFT); }

// --- PageAnonExclusive for any page ----------------------------------------------------

export function PageAnonExclusive(pfn: u32): bool {
  const f = page_folio(pfn);
  if (f != 0) return large_page_anon_exclusive(f, pfn);
  return (frame_get(pfn) & S_AE) != 0;
}

// --- allocation ---------------------------------------------------------------------------

// Ensure host bytes exist for [pfn, pfn + 2^order) in data mode. Returns false on host OOM.
function ensure_data(pfn: u32, order: u32): bool {
  if (!data_mode) return true;
  const first = pfn >> PAGEBLOCK_ORDER;
  const last = (pfn + (<u32>1 << order) - 1) >> PAGEBLOCK_ORDER;
  for (let pb = first; pb <= last; pb++) if (pb_data_get(pb) == 0) return false;
  return true;
}

// Allocate an order-0 folio (frame entry FT_SMALL, refcount 1) or 0.
export function folio_alloc_small(kind_file: bool): u32 {
  const pfn = alloc_pages(0, MIGRATE_MOVABLE);
  if (pfn == 0) return 0;
  if (!ensure_data(pfn, 0)) { free_pages(pfn, 0); return 0; }
  const p = frame_ptr_alloc(pfn);
  store<u32>(p, (FT_SMALL << 28) | (1 << S_EXTRA_SHIFT) | (kind_file ? S_FILE : 0));
  return pfn;
}

// Allocate a large folio (order >= 2) with its record, refcount 1; returns the record or 0.
export function folio_alloc_large(order: u32, kind: u8, mt: u32 = MIGRATE_MOVABLE): u32 {
  const f = slab_alloc(SLAB_FOLIO);
  if (f == 0) return 0;
  const pfn = order > 10 ? alloc_gigantic(order) : alloc_pages(order, mt);
  if (pfn == 0) { slab_free(SLAB_FOLIO, f); return 0; }
  if (!ensure_data(pfn, order) || !folio_attach(f, pfn, order)) {
    if (order > 10) free_gigantic(pfn, order); else free_pages(pfn, order);
    slab_free(SLAB_FOLIO, f);
    return 0;
  }
  store<u32>(f, pfn, T.F_PFN);
  store<u8>(f, <u8>order, T.F_ORDER);
  store<u8>(f, kind, T.F_KIND);
  store<i32>(f, 1, T.F_REFCOUNT);
  store<i32>(f, -1, T.F_MM_CNT0);
  store<i32>(f, -1, T.F_MM_CNT1);
  return f;
}

// Describe the frames of a new large folio: pageblocks it covers entirely get
// PB_FOLIO; pages in a broken pageblock get head/tail entries.
function folio_attach(f: u32, pfn: u32, order: u32): bool {
  if (order >= PAGEBLOCK_ORDER) {
    const npb: u32 = <u32>1 << (order - PAGEBLOCK_ORDER);
    for (let i: u32 = 0; i < npb; i++) store<u32>(pb_rec(pfn_pb(pfn) + i) + PB_FOLIO, f);
    store<u32>(f, pfn, T.F_PFN);
    store<u8>(f, <u8>order, T.F_ORDER);
    return true;
  }
  const p = frame_ptr_alloc(pfn);
  if (p == 0) return false;
  store<u32>(p, (FT_HEAD << 28) | (f >> 4));
  const e = (FT_TAIL << 28) | order;
  const n: u32 = <u32>1 << order;
  for (let i: u32 = 1; i < n; i++) store<u32>(p + (i << 2), e);
  return true;
}

// Release the frames of a folio and give the pages back to the buddy allocator.
export function free_large_folio(f: u32): void {
  const pfn = load<u32>(f, T.F_PFN);
  const order = <u32>load<u8>(f, T.F_ORDER);
  // free_pages_prepare(): only a folio that became anon (folio->mapping set) was counted
  if (load<u8>(f, T.F_KIND) == T.FK_ANON && load<u32>(f, T.F_MAPPING) != 0) mod_mthp_stat(order, MTHP_STAT_NR_ANON, -1);
  if (order >= PAGEBLOCK_ORDER) {
    const npb: u32 = <u32>1 << (order - PAGEBLOCK_ORDER);
    for (let i: u32 = 0; i < npb; i++) {
      const r = pb_rec(pfn_pb(pfn) + i);
      store<u32>(r + PB_FOLIO, 0);
      const fr = load<u32>(r + PB_FRAMES);
      if (fr != 0) memory.fill(fr, 0, 2048);
    }
  } else {
    memory.fill(frame_ptr(pfn), 0, (<u32>4) << order);
  }
  if (order > 10) free_gigantic(pfn, order); else free_pages(pfn, order);
  slab_free(SLAB_FOLIO, f);
}

export function free_small_folio(pfn: u32): void {
  store<u32>(frame_ptr(pfn), 0);
  free_pages(pfn, 0);
}

// --- contents (data mode: real bytes; metadata mode: a "may be non-zero" bit) -----------------

@inline export function page_host(pfn: u32): u32 { return pfn_to_host(pfn); }

// clear_page() of one subpage
export function clear_page_contents(pfn: u32): void {
  if (data_mode) memory.fill(pfn_to_host(pfn), 0, PAGE_SIZE);
}

export function copy_page_contents(dst: u32, src: u32): void {
  if (data_mode) memory.copy(pfn_to_host(dst), pfn_to_host(src), PAGE_SIZE);
}

// Has this page possibly non-zero content? Data mode checks the bytes.
export function page_maybe_nonzero(pfn: u32): bool {
  if (data_mode) {
    const p = pfn_to_host(pfn);
    for (let i: u32 = 0; i < PAGE_SIZE; i += 64) {
      const v = v128.or(v128.or(v128.load(p + i), v128.load(p + i + 16)), v128.or(v128.load(p + i + 32), v128.load(p + i + 48)));
      if (v128.any_true(v)) return true;
    }
    return false;
  }
  const f = page_folio(pfn);
  if (f == 0) return (frame_get(pfn) & S_NONZERO) != 0;
  if (pfn == load<u32>(f, T.F_PFN)) return folio_test(f, T.FF_HEAD_NONZERO);
  return (frame_get(pfn) & TL_NONZERO) != 0;
}

// Metadata mode: record that a non-zero byte was stored into pfn.
export function page_mark_nonzero(pfn: u32): void {
  const f = page_folio(pfn);
  if (f == 0) {
    const p = frame_ptr(pfn);
    store<u32>(p, load<u32>(p) | S_NONZERO);
    return;
  }
  if (pfn == load<u32>(f, T.F_PFN)) { folio_set_flag(f, T.FF_HEAD_NONZERO); return; }
  const p = frame_ptr_alloc(pfn);
  if (p != 0) store<u32>(p, load<u32>(p) | TL_NONZERO);
}

// Metadata mode: copying/zeroing moves the bit like data would move.
export function page_copy_nonzero(dst: u32, src: u32): void {
  if (data_mode) return;
  if (page_maybe_nonzero(src)) page_mark_nonzero(dst);
}

export { PB_DATA };
