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
// entries (PB_FOLIO holds the record): while it has none, a per-pageblock
// overlay in its record (PB_MAPCOUNT_BIAS, PBF_ALL_AE) gives every page of it
// the same PTE mapcount and PageAnonExclusive, so mapping or unmapping whole
// pageblocks (PUD split, zap, fork) costs O(1) each instead of 512 entries.
// The frame array is made when a single page needs its own state; the overlay
// is folded into it then (the overlay is non-zero only without a frame array).
// Large folios have a 96-byte record (refcount, mapcounts, mm ids, deferred
// split links), like the fields the kernel keeps in the first tail pages.

import { PAGEBLOCK_ORDER, PAGE_SIZE } from "../layout";
import { slab_alloc, slab_free, SLAB_FOLIO, zero_small } from "../lib/hostmem";
import {
  alloc_pages, free_pages, alloc_gigantic, free_gigantic, pb_rec, pfn_pb, pb_frames_get, pb_data_get_run, pb_data_fresh,
  pfn_to_host, PB_FRAMES, PB_FOLIO, PB_DATA, PB_MAPCOUNT_BIAS, PB_AFLAGS, PBF_ALL_AE, MIGRATE_MOVABLE, data_mode,
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
// (pageblocks of large folios get one when a page first needs its own state).
// Inline when the array exists (the fault path's case), a call to create it.
@inline export function frame_ptr_alloc(pfn: u32): u32 {
  const fr = load<u32>(pb_rec(pfn >> PAGEBLOCK_ORDER) + PB_FRAMES);
  return fr != 0 ? fr + ((pfn & 511) << 2) : frame_ptr_create(pfn);
}
function frame_ptr_create(pfn: u32): u32 {
  const pb = pfn >> PAGEBLOCK_ORDER;
  const fr = pb_frames_get(pb);
  if (fr == 0) return 0;
  // a pageblock inside a large folio: describe every frame as a tail page
  const f = load<u32>(pb_rec(pb) + PB_FOLIO);
  if (f != 0) init_tail_frames(f, pb, fr);
  return fr + ((pfn & 511) << 2);
}

// Tail entries for a new frame array of a folio's pageblock, with the
// pageblock's overlay folded in (the head page keeps its state in the record).
function init_tail_frames(f: u32, pb: u32, fr: u32): void {
  const r = pb_rec(pb);
  const bias = load<i32>(r + PB_MAPCOUNT_BIAS);
  const all_ae = (load<u8>(r + PB_AFLAGS) & PBF_ALL_AE) != 0;
  store<i32>(r + PB_MAPCOUNT_BIAS, 0);
  store<u8>(r + PB_AFLAGS, 0);
  const head = load<u32>(f, T.F_PFN);
  const order = <u32>load<u8>(f, T.F_ORDER);
  const e = (FT_TAIL << 28) | order | (all_ae ? TL_AE : 0) | (<u32>bias << TL_MAPCOUNT_SHIFT);
  const v = i32x4.splat(e);
  for (let i: u32 = 0; i < 2048; i += 64) {
    v128.store(fr + i, v);
    v128.store(fr + i, v, 16);
    v128.store(fr + i, v, 32);
    v128.store(fr + i, v, 48);
  }
  if ((head >> PAGEBLOCK_ORDER) == pb) {
    store<u32>(fr + ((head & 511) << 2), (FT_HEAD << 28) | (f >> 4));
    store<i32>(f, load<i32>(f, T.F_HEAD_MAPCOUNT) + bias, T.F_HEAD_MAPCOUNT);
    if (all_ae) folio_set_flag(f, T.FF_HEAD_ANON_EXCLUSIVE);
  }
}

// The overlay of the pageblock of pfn, for a folio of order >= 9 (0 otherwise:
// smaller folios share broken pageblocks, whose records hold no overlay).
@inline function pb_bias(f: u32, pfn: u32): i32 {
  return load<u8>(f, T.F_ORDER) >= PAGEBLOCK_ORDER ? load<i32>(pb_rec(pfn >> PAGEBLOCK_ORDER) + PB_MAPCOUNT_BIAS) : 0;
}
@inline function pb_all_ae(f: u32, pfn: u32): bool {
  return load<u8>(f, T.F_ORDER) >= PAGEBLOCK_ORDER && (load<u8>(pb_rec(pfn >> PAGEBLOCK_ORDER) + PB_AFLAGS) & PBF_ALL_AE) != 0;
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
  const bias = pb_bias(f, pfn);
  if (pfn == load<u32>(f, T.F_PFN)) return load<i32>(f, T.F_HEAD_MAPCOUNT) + bias;
  const e = frame_get(pfn);
  if (e >>> 28 != FT_TAIL) return bias;
  return <i32>((e & 0x0fffffff) >>> TL_MAPCOUNT_SHIFT) + bias;
}

// Add delta to the PTE mapcount of one page; returns the new count.
export function large_page_mapcount_add(f: u32, pfn: u32, delta: i32): i32 {
  if (pfn == load<u32>(f, T.F_PFN)) {
    const c = load<i32>(f, T.F_HEAD_MAPCOUNT) + delta;
    store<i32>(f, c, T.F_HEAD_MAPCOUNT);
    return c + pb_bias(f, pfn);
  }
  const p = frame_ptr_alloc(pfn);
  const e = load<u32>(p);
  const c = <i32>((e & 0x0fffffff) >>> TL_MAPCOUNT_SHIFT) + delta;
  store<u32>(p, (e & ((0xf << 28) | ((1 << TL_MAPCOUNT_SHIFT) - 1))) | (<u32>c << TL_MAPCOUNT_SHIFT));
  return c;
}

export function large_page_anon_exclusive(f: u32, pfn: u32): bool {
  if (pb_all_ae(f, pfn)) return true;
  if (pfn == load<u32>(f, T.F_PFN)) return folio_test(f, T.FF_HEAD_ANON_EXCLUSIVE);
  return (frame_get(pfn) & TL_AE) != 0;
}

export function large_page_set_anon_exclusive(f: u32, pfn: u32, on: bool): void {
  if (on && pb_all_ae(f, pfn)) return;
  if (pfn == load<u32>(f, T.F_PFN)) {
    if (on) { folio_set_flag(f, T.FF_HEAD_ANON_EXCLUSIVE); return; }
    if (pb_all_ae(f, pfn)) frame_ptr_alloc(pfn); // fold the overlay: the other pages stay exclusive
    folio_clear_flag(f, T.FF_HEAD_ANON_EXCLUSIVE);
    return;
  }
  const p = frame_ptr_alloc(pfn);
  const e = load<u32>(p);
  store<u32>(p, on ? e | TL_AE : e & ~TL_AE);
}

// --- batched per-page state (the loops of __folio_add_rmap(), __folio_remove_rmap(),
// __folio_add_anon_rmap() and folio_try_dup_anon_rmap_ptes() over nr pages) -----------

const TL_MAPCOUNT_MASK: u32 = 0x0fffffff & ~((1 << TL_MAPCOUNT_SHIFT) - 1);

// Add delta to the PTE mapcount of pages [pfn, pfn + nr) of large folio f. Returns
// how many pages went from 0 (delta > 0) or to 0 (delta < 0): the "first"/"last"
// counts of the kernel's per-page loops. A whole pageblock of a folio of order
// >= 9 costs O(1) without a frame array (the overlay) and one SIMD pass with one.
export function large_pages_mapcount_add(f: u32, pfn: u32, nr: u32, delta: i32): i32 {
  const head = load<u32>(f, T.F_PFN);
  const big = load<u8>(f, T.F_ORDER) >= PAGEBLOCK_ORDER;
  if (!big) return small_folio_pages_mapcount_add(f, head, pfn, nr, delta);
  let n: i32 = 0;
  let i: u32 = 0;
  while (i < nr) {
    const p = pfn + i;
    if ((p & 511) != 0 || nr - i < 512) {
      const c = large_page_mapcount_add(f, p, delta);
      if (delta > 0 ? c == delta : c == 0) n++;
      i++;
      continue;
    }
    const r = pb_rec(p >> PAGEBLOCK_ORDER);
    const fr = load<u32>(r + PB_FRAMES);
    const has_head = (head >> PAGEBLOCK_ORDER) == (p >> PAGEBLOCK_ORDER);
    if (fr == 0) {
      const b = load<i32>(r + PB_MAPCOUNT_BIAS);
      const nb = b + delta;
      store<i32>(r + PB_MAPCOUNT_BIAS, nb);
      if (delta > 0 ? b == 0 : nb == 0) n += has_head ? 511 : 512;
      if (has_head) {
        const hm = load<i32>(f, T.F_HEAD_MAPCOUNT);
        if (delta > 0 ? hm + b == 0 : hm + nb == 0) n++;
      }
    } else {
      n += frames_mapcount_add(fr, delta, has_head ? head & 511 : 512);
      if (has_head) {
        const c = load<i32>(f, T.F_HEAD_MAPCOUNT) + delta;
        store<i32>(f, c, T.F_HEAD_MAPCOUNT);
        if (delta > 0 ? c == delta : c == 0) n++;
      }
    }
    i += 512;
  }
  return n;
}

// A folio below pageblock order lies in one pageblock that has frame entries (a
// BROKEN one, no overlay): walk its tail entries directly.
function small_folio_pages_mapcount_add(f: u32, head: u32, pfn: u32, nr: u32, delta: i32): i32 {
  const fp = frame_ptr(pfn);
  const keep: u32 = (0xf << 28) | ((1 << TL_MAPCOUNT_SHIFT) - 1);
  let n: i32 = 0;
  for (let i: u32 = 0; i < nr; i++) {
    if (pfn + i == head) {
      const c = load<i32>(f, T.F_HEAD_MAPCOUNT) + delta;
      store<i32>(f, c, T.F_HEAD_MAPCOUNT);
      if (delta > 0 ? c == delta : c == 0) n++;
      continue;
    }
    const p = fp + (i << 2);
    const e = load<u32>(p);
    const c = <i32>((e & 0x0fffffff) >>> TL_MAPCOUNT_SHIFT) + delta;
    store<u32>(p, (e & keep) | (<u32>c << TL_MAPCOUNT_SHIFT));
    if (delta > 0 ? c == delta : c == 0) n++;
  }
  return n;
}

// folio_mark_dirty(): a large folio's flag, or an order-0 page's frame entry
export function folio_mark_dirty(f: u32, pfn: u32): void {
  if (f != 0) { folio_set_flag(f, T.FF_DIRTY); return; }
  const p = frame_ptr(pfn);
  store<u32>(p, load<u32>(p) | S_DIRTY);
}

// folio_add_new_anon_rmap() for a folio below pageblock order: each page's mapcount
// becomes 1 (and AnonExclusive when exclusive) in one pass over its tail entries.
export function new_small_folio_map_pages(f: u32, pfn: u32, nr: u32, exclusive: bool): void {
  const head = load<u32>(f, T.F_PFN);
  store<i32>(f, load<i32>(f, T.F_HEAD_MAPCOUNT) + 1, T.F_HEAD_MAPCOUNT);
  if (exclusive) folio_set_flag(f, T.FF_HEAD_ANON_EXCLUSIVE);
  const fp = frame_ptr(pfn);
  const ae: u32 = exclusive ? TL_AE : 0;
  if ((nr & 3) == 0) {
    // four entries per v128; the head's entry is saved and put back
    const hp = fp + ((head - pfn) << 2);
    const saved = head - pfn < nr ? load<u32>(hp) : 0;
    const inc = i32x4.splat(1 << TL_MAPCOUNT_SHIFT);
    const vae = i32x4.splat(ae);
    for (let i: u32 = 0; i < nr; i += 4) {
      const p = fp + (i << 2);
      v128.store(p, v128.or(i32x4.add(v128.load(p), inc), vae));
    }
    if (head - pfn < nr) store<u32>(hp, saved);
    return;
  }
  for (let i: u32 = 0; i < nr; i++) {
    if (pfn + i == head) continue;
    const p = fp + (i << 2);
    store<u32>(p, (load<u32>(p) + (1 << TL_MAPCOUNT_SHIFT)) | ae);
  }
}

// One SIMD pass over a pageblock's 512 tail entries (entry `skip` is the head's, left
// alone); returns how many crossed zero as in large_pages_mapcount_add().
function frames_mapcount_add(fr: u32, delta: i32, skip: u32): i32 {
  const saved = skip < 512 ? load<u32>(fr + (skip << 2)) : 0;
  const d = i32x4.splat(delta << TL_MAPCOUNT_SHIFT);
  const mask = i32x4.splat(TL_MAPCOUNT_MASK);
  const zero = i32x4.splat(0);
  let acc = i32x4.splat(0);
  if (delta > 0) {
    for (let o: u32 = 0; o < 2048; o += 16) {
      const v = v128.load(fr + o);
      acc = i32x4.sub(acc, i32x4.eq(v128.and(v, mask), zero));
      v128.store(fr + o, i32x4.add(v, d));
    }
  } else {
    for (let o: u32 = 0; o < 2048; o += 16) {
      const v = i32x4.add(v128.load(fr + o), d);
      acc = i32x4.sub(acc, i32x4.eq(v128.and(v, mask), zero));
      v128.store(fr + o, v);
    }
  }
  let n = i32x4.extract_lane(acc, 0) + i32x4.extract_lane(acc, 1) + i32x4.extract_lane(acc, 2) + i32x4.extract_lane(acc, 3);
  if (skip < 512) {
    store<u32>(fr + (skip << 2), saved);
    if (((delta > 0 ? saved : saved + (<u32>delta << TL_MAPCOUNT_SHIFT)) & TL_MAPCOUNT_MASK) == 0) n--;
  }
  return n;
}

// Set or clear PageAnonExclusive of pages [pfn, pfn + nr) of large folio f.
export function large_pages_set_anon_exclusive(f: u32, pfn: u32, nr: u32, on: bool): void {
  const head = load<u32>(f, T.F_PFN);
  const big = load<u8>(f, T.F_ORDER) >= PAGEBLOCK_ORDER;
  if (!big) {
    const fp = frame_ptr(pfn);
    for (let i: u32 = 0; i < nr; i++) {
      if (pfn + i == head) {
        if (on) folio_set_flag(f, T.FF_HEAD_ANON_EXCLUSIVE); else folio_clear_flag(f, T.FF_HEAD_ANON_EXCLUSIVE);
        continue;
      }
      const p = fp + (i << 2);
      store<u32>(p, on ? load<u32>(p) | TL_AE : load<u32>(p) & ~TL_AE);
    }
    return;
  }
  let i: u32 = 0;
  while (i < nr) {
    const p = pfn + i;
    if ((p & 511) != 0 || nr - i < 512) {
      large_page_set_anon_exclusive(f, p, on);
      i++;
      continue;
    }
    const r = pb_rec(p >> PAGEBLOCK_ORDER);
    const fr = load<u32>(r + PB_FRAMES);
    const has_head = (head >> PAGEBLOCK_ORDER) == (p >> PAGEBLOCK_ORDER);
    if (fr == 0) {
      store<u8>(r + PB_AFLAGS, on ? load<u8>(r + PB_AFLAGS) | PBF_ALL_AE : load<u8>(r + PB_AFLAGS) & ~PBF_ALL_AE);
    } else {
      const skip = has_head ? head & 511 : 512;
      const saved = skip < 512 ? load<u32>(fr + (skip << 2)) : 0;
      const ae = i32x4.splat(TL_AE);
      for (let o: u32 = 0; o < 2048; o += 16) {
        const v = v128.load(fr + o);
        v128.store(fr + o, on ? v128.or(v, ae) : v128.andnot(v, ae));
      }
      if (skip < 512) store<u32>(fr + (skip << 2), saved);
    }
    if (has_head) {
      if (on) folio_set_flag(f, T.FF_HEAD_ANON_EXCLUSIVE); else folio_clear_flag(f, T.FF_HEAD_ANON_EXCLUSIVE);
    }
    i += 512;
  }
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
// A folio of several pageblocks gets contiguous host bytes when possible.
@inline function ensure_data(pfn: u32, order: u32): bool {
  if (!data_mode) return true;
  const first = pfn >> PAGEBLOCK_ORDER;
  const last = (pfn + (<u32>1 << order) - 1) >> PAGEBLOCK_ORDER;
  return pb_data_get_run(first, last - first + 1);
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

// The anonymous large folio just allocated on fresh host memory, whose bytes are zero
// already (data mode): folio_zero_user() need not clear it.
let fresh_zero_folio: u32 = 0;
export function folio_take_fresh_zero(f: u32): bool {
  if (f != fresh_zero_folio) return false;
  fresh_zero_folio = 0;
  return true;
}

// Allocate a movable large folio (no default argument: that would be a varargs trampoline).
@inline export function folio_alloc_large(order: u32, kind: u8): u32 {
  return __folio_alloc_large(order, kind, MIGRATE_MOVABLE);
}

// Allocate a large folio (order >= 2) with its record, refcount 1; returns the record or 0.
export function __folio_alloc_large(order: u32, kind: u8, mt: u32): u32 {
  fresh_zero_folio = 0;
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
  if (data_mode && pb_data_fresh && kind == T.FK_ANON) fresh_zero_folio = f;
  return f;
}

// Describe the frames of a new large folio: pageblocks it covers entirely get
// PB_FOLIO; pages in a broken pageblock get head/tail entries.
function folio_attach(f: u32, pfn: u32, order: u32): bool {
  if (order >= PAGEBLOCK_ORDER) {
    const npb: u32 = <u32>1 << (order - PAGEBLOCK_ORDER);
    for (let i: u32 = 0; i < npb; i++) {
      const r = pb_rec(pfn_pb(pfn) + i);
      store<u32>(r + PB_FOLIO, f);
      store<i32>(r + PB_MAPCOUNT_BIAS, 0);
      store<u8>(r + PB_AFLAGS, 0);
    }
    store<u32>(f, pfn, T.F_PFN);
    store<u8>(f, <u8>order, T.F_ORDER);
    return true;
  }
  const p = frame_ptr_alloc(pfn);
  if (p == 0) return false;
  const e = (FT_TAIL << 28) | order;
  const n: u32 = <u32>1 << order;
  if (n >= 4) {
    const v = i32x4.splat(e);
    for (let i: u32 = 0; i < n; i += 4) v128.store(p + (i << 2), v);
  } else {
    for (let i: u32 = 1; i < n; i++) store<u32>(p + (i << 2), e);
  }
  store<u32>(p, (FT_HEAD << 28) | (f >> 4));
  return true;
}

// Release the frames of a folio and give the pages back to the buddy allocator.
export function free_large_folio(f: u32): void {
  if (f == fresh_zero_folio) fresh_zero_folio = 0;
  const pfn = load<u32>(f, T.F_PFN);
  const order = <u32>load<u8>(f, T.F_ORDER);
  // free_pages_prepare(): only a folio that became anon (folio->mapping set) was counted
  if (load<u8>(f, T.F_KIND) == T.FK_ANON && load<u32>(f, T.F_MAPPING) != 0) mod_mthp_stat(order, MTHP_STAT_NR_ANON, -1);
  if (order >= PAGEBLOCK_ORDER) {
    const npb: u32 = <u32>1 << (order - PAGEBLOCK_ORDER);
    for (let i: u32 = 0; i < npb; i++) {
      const r = pb_rec(pfn_pb(pfn) + i);
      store<u32>(r + PB_FOLIO, 0);
      store<i32>(r + PB_MAPCOUNT_BIAS, 0);
      store<u8>(r + PB_AFLAGS, 0);
      const fr = load<u32>(r + PB_FRAMES);
      if (fr != 0) memory.fill(fr, 0, 2048);
    }
  } else {
    const fp = frame_ptr(pfn);
    if (order >= 2) zero_small(fp, (<u32>4) << order);
    else memory.fill(fp, 0, (<u32>4) << order);
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
  const fr = load<u32>(pb_rec(pfn >> PAGEBLOCK_ORDER) + PB_FRAMES);
  if (fr != 0) {
    const p = fr + ((pfn & 511) << 2);
    const e = load<u32>(p);
    const t = e >>> 28;
    if (t == FT_SMALL) { if ((e & S_NONZERO) == 0) store<u32>(p, e | S_NONZERO); return; }
    // a head entry points at its folio; a tail entry keeps the bit itself
    if (t == FT_HEAD) { folio_set_flag((e & 0x0fffffff) << 4, T.FF_HEAD_NONZERO); return; }
    if (t == FT_TAIL) { if ((e & TL_NONZERO) == 0) store<u32>(p, e | TL_NONZERO); return; }
  }
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
