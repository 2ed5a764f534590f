// The buddy allocator (mm/page_alloc.c) over sparse physical memory.
//
// Physical memory is organised in 2 MiB pageblocks, each with a 32-byte
// record in the pageblock table (the only per-RAM array; 16 MiB for 1 TiB).
// Free blocks of order 9 and 10 are pageblocks on per-migratetype lists.
// Below order 9 a pageblock is "broken": a buddy record holds one bitmap per
// order (bit set = free block of that order) and links the pageblock into a
// per-(migratetype, order) list. Per-frame metadata (4 bytes per 4 KiB frame)
// exists only for broken pageblocks and for pageblocks of large folios that
// need per-page state. Never-touched memory is "virgin": free order-10 pairs
// handed out by a cursor, so creating a 1 TiB machine touches nothing.

import { PAGEBLOCK_ORDER, MAX_PAGE_ORDER, HPAGE_PUD_ORDER } from "../layout";
import {
  hostmem_reserve, alloc_chunk, alloc_chunk_run, chunk_fresh, free_chunk, slab_alloc, slab_free, SLAB_BUDDY, SLAB_FRAMES, hostmem_exhausted,
} from "../lib/hostmem";
import { mod_node_page_state, node_page_state, NR_FREE_PAGES, NR_MANAGED_PAGES, count_vm_events, PGALLOC, PGFREE } from "./vmstat";

export const MIGRATE_UNMOVABLE: u32 = 0;
export const MIGRATE_MOVABLE: u32 = 1;
export const MIGRATE_RECLAIMABLE: u32 = 2;
export const MIGRATE_TYPES: u32 = 3;

// pageblock record
export const PB_SIZE: u32 = 32;
export const PB_DATA: u32 = 0; // u32 host address of the 2 MiB backing (0 = none)
export const PB_FRAMES: u32 = 4; // u32 host address of 512 x u32 frame entries (0 = none)
export const PB_FOLIO: u32 = 8; // u32 folio record of a folio covering the whole pageblock
export const PB_BUDDY: u32 = 12; // u32 buddy record (BROKEN)
export const PB_NEXT: u32 = 16; // u32 pb+1, free list of order-9/10 blocks
export const PB_PREV: u32 = 20;
export const PB_STATE: u32 = 24; // u8
export const PB_MT: u32 = 25; // u8 migratetype
export const PB_ORDER: u32 = 26; // u8 order of a free block headed here
export const PB_NFREE: u32 = 28; // u32 free frames (BROKEN)
// While a pageblock lies wholly inside an allocated folio of order >= 9 and has
// no frame array, PB_NEXT and byte 27 (unused then) hold a per-page overlay
// kept by folio.ts: every page's PTE mapcount is PB_MAPCOUNT_BIAS more, and
// PBF_ALL_AE makes every page PageAnonExclusive. Zero otherwise.
export const PB_MAPCOUNT_BIAS: u32 = PB_NEXT; // i32
export const PB_AFLAGS: u32 = 27; // u8
export const PBF_ALL_AE: u8 = 1;

export const PBS_VIRGIN: u8 = 0;
export const PBS_FREE: u8 = 1; // head of a free order-9/10 block
export const PBS_FREE_TAIL: u8 = 2; // upper half of a free order-10 block
export const PBS_BROKEN: u8 = 3;
export const PBS_ALLOC: u8 = 4; // part of an allocated block of order >= 9
export const PBS_RESERVED: u8 = 5;

// buddy record
const BR_NFREE: u32 = 128; // 9 x u16
const BR_NEXT: u32 = 148; // 9 x u32 (pb+1)
const BR_PREV: u32 = 184; // 9 x u32
const BR_PB: u32 = 220;

export let pbtab: u32 = 0;
export let nr_pageblocks: u32 = 0;
export let max_pfn: u32 = 0;
export let data_mode: bool = false;
export let min_free_pages: u64 = 0;
let virgin_cursor: u32 = 0; // next order-10 pair index to try
// fault injection (fail_page_alloc): after `skip` eligible allocations (order in
// [min, max]), fail the next `inject` ones
export let alloc_fail_inject: u32 = 0;
export let alloc_fail_min_order: u32 = 0;
let alloc_fail_max_order: u32 = 31;
let alloc_fail_skip: u32 = 0;

const free_heads = memory.data(4 * MIGRATE_TYPES * 2); // order 9 and 10
const br_heads = memory.data(4 * MIGRATE_TYPES * 9); // orders 0..8
// per migratetype, bit k set = br list of order k non-empty: __rmqueue_smallest()
// finds its first non-empty free_area with one ctz instead of probing each order
const br_mask = memory.data(4 * MIGRATE_TYPES);

export const ZERO_PFN: u32 = 1;

@inline export function pb_rec(pb: u32): u32 { return pbtab + pb * PB_SIZE; }
@inline export function pfn_pb(pfn: u32): u32 { return pfn >> PAGEBLOCK_ORDER; }

// Host address of the bytes of frame pfn (page-table pages always, user pages in data mode).
@inline export function pfn_to_host(pfn: u32): u32 {
  return load<u32>(pbtab + (pfn >> PAGEBLOCK_ORDER) * PB_SIZE + PB_DATA) + ((pfn & 511) << 12);
}

export function set_alloc_fail_inject(n: u32, min_order: u32, max_order: u32, skip: u32): void {
  alloc_fail_inject = n;
  alloc_fail_min_order = min_order;
  alloc_fail_max_order = max_order;
  alloc_fail_skip = skip;
}

// should_fail_alloc_page()
function should_fail_alloc(order: u32): bool {
  if (order < alloc_fail_min_order || order > alloc_fail_max_order) return false;
  if (alloc_fail_skip != 0) { alloc_fail_skip--; return false; }
  alloc_fail_inject--;
  return true;
}

// --- init ------------------------------------------------------------------------

export function page_alloc_init(ram_pages: u64, data: bool, min_free_kb: u64): bool {
  data_mode = data;
  nr_pageblocks = <u32>(ram_pages >> PAGEBLOCK_ORDER);
  // whole order-10 pairs only, so that virgin memory is always handed out in pairs
  nr_pageblocks &= ~1;
  max_pfn = nr_pageblocks << PAGEBLOCK_ORDER;
  pbtab = hostmem_reserve(<u64>nr_pageblocks * PB_SIZE);
  if (pbtab == 0) return false;
  memory.fill(free_heads, 0, 4 * MIGRATE_TYPES * 2);
  memory.fill(br_heads, 0, 4 * MIGRATE_TYPES * 9);
  memory.fill(br_mask, 0, 4 * MIGRATE_TYPES);
  for (let i: u32 = 0; i < nr_pageblocks; i++) store<u8>(pb_rec(i) + PB_MT, <u8>MIGRATE_MOVABLE);
  // pageblock 0 is reserved (low memory, the zero page at pfn 1); its buddy
  // pageblock 1 starts as a free order-9 block
  store<u8>(pb_rec(0) + PB_STATE, PBS_RESERVED);
  store<u8>(pb_rec(0) + PB_MT, <u8>MIGRATE_UNMOVABLE);
  const ch = alloc_chunk();
  if (ch == 0) return false;
  memory.fill(ch, 0, 1 << 21);
  store<u32>(pb_rec(0) + PB_DATA, ch);
  pb_list_add(MIGRATE_MOVABLE, 9, 1);
  store<u8>(pb_rec(1) + PB_STATE, PBS_FREE);
  store<u8>(pb_rec(1) + PB_ORDER, 9);
  virgin_cursor = 1;
  const managed = <i64>(max_pfn - 512);
  mod_node_page_state(NR_MANAGED_PAGES, managed);
  mod_node_page_state(NR_FREE_PAGES, managed);
  // min_free_kbytes = int_sqrt(lowmem_kbytes * 16), clamped to [128, 262144] (init_per_zone_wmark_min)
  let mfk = min_free_kb;
  if (mfk == 0) {
    mfk = <u64>Math.floor(Math.sqrt(<f64>(<u64>managed * 4 * 16)));
    if (mfk < 128) mfk = 128;
    if (mfk > 262144) mfk = 262144;
  }
  min_free_pages = mfk >> 2;
  return true;
}

// --- order-9/10 pageblock lists --------------------------------------------------

function pb_list_add(mt: u32, order: u32, pb: u32): void {
  const h = free_heads + 4 * (mt * 2 + order - 9);
  const first = load<u32>(h);
  store<u32>(pb_rec(pb) + PB_NEXT, first);
  store<u32>(pb_rec(pb) + PB_PREV, 0);
  if (first != 0) store<u32>(pb_rec(first - 1) + PB_PREV, pb + 1);
  store<u32>(h, pb + 1);
}

function pb_list_del(mt: u32, order: u32, pb: u32): void {
  const r = pb_rec(pb);
  const next = load<u32>(r + PB_NEXT);
  const prev = load<u32>(r + PB_PREV);
  if (prev != 0) store<u32>(pb_rec(prev - 1) + PB_NEXT, next);
  else store<u32>(free_heads + 4 * (mt * 2 + order - 9), next);
  if (next != 0) store<u32>(pb_rec(next - 1) + PB_PREV, prev);
  store<u32>(r + PB_NEXT, 0);
  store<u32>(r + PB_PREV, 0);
}

// --- buddy records (orders 0..8 inside a pageblock) ------------------------------

@inline function bit_base(k: u32): u32 { return 1024 - (1024 >> k); }

@inline function br_test(br: u32, k: u32, i: u32): bool {
  const b = bit_base(k) + i;
  return ((load<u64>(br + ((b >> 6) << 3)) >> (b & 63)) & 1) != 0;
}
@inline function br_set(br: u32, k: u32, i: u32): void {
  const b = bit_base(k) + i;
  const p = br + ((b >> 6) << 3);
  store<u64>(p, load<u64>(p) | (<u64>1 << (b & 63)));
}
@inline function br_clear(br: u32, k: u32, i: u32): void {
  const b = bit_base(k) + i;
  const p = br + ((b >> 6) << 3);
  store<u64>(p, load<u64>(p) & ~(<u64>1 << (b & 63)));
}

function br_find(br: u32, k: u32): u32 {
  const base = bit_base(k);
  if (k >= 3) {
    // orders 3..8: the whole bitmap lies in one 64-bit word
    const n: u32 = 512 >> k;
    let word = load<u64>(br + ((base >> 6) << 3)) >> (base & 63);
    if (n < 64) word &= (<u64>1 << n) - 1;
    return word == 0 ? 0xffffffff : <u32>ctz(word);
  }
  const n: u32 = 512 >> k;
  const end = base + n;
  let b = base;
  while (b < end) {
    const w = b >> 6;
    let word = load<u64>(br + (w << 3)) >> (b & 63);
    const span = min<u32>(64 - (b & 63), end - b);
    if (span < 64) word &= (<u64>1 << span) - 1;
    if (word != 0) return b + <u32>ctz(word) - base;
    b += span;
  }
  return 0xffffffff;
}

@inline function br_list_add(mt: u32, k: u32, pb: u32, br: u32): void {
  const h = br_heads + 4 * (mt * 9 + k);
  const first = load<u32>(h);
  store<u32>(br + BR_NEXT + 4 * k, first);
  store<u32>(br + BR_PREV + 4 * k, 0);
  if (first != 0) store<u32>(load<u32>(pb_rec(first - 1) + PB_BUDDY) + BR_PREV + 4 * k, pb + 1);
  else store<u32>(br_mask + 4 * mt, load<u32>(br_mask + 4 * mt) | (1 << k));
  store<u32>(h, pb + 1);
}

@inline function br_list_del(mt: u32, k: u32, br: u32): void {
  const next = load<u32>(br + BR_NEXT + 4 * k);
  const prev = load<u32>(br + BR_PREV + 4 * k);
  if (prev != 0) store<u32>(load<u32>(pb_rec(prev - 1) + PB_BUDDY) + BR_NEXT + 4 * k, next);
  else {
    store<u32>(br_heads + 4 * (mt * 9 + k), next);
    if (next == 0) store<u32>(br_mask + 4 * mt, load<u32>(br_mask + 4 * mt) & ~(1 << k));
  }
  if (next != 0) store<u32>(load<u32>(pb_rec(next - 1) + PB_BUDDY) + BR_PREV + 4 * k, prev);
}

// Put a free block of order k < 9 into its broken pageblock's bitmap.
// Block i of order k of broken pageblock pb (buddy record br, lists of mt) becomes
// free / taken: its bit, the order's count, and the pageblock on or off that list.
@inline function br_give(br: u32, mt: u32, pb: u32, k: u32, i: u32): void {
  br_set(br, k, i);
  const c = load<u16>(br + BR_NFREE + 2 * k);
  store<u16>(br + BR_NFREE + 2 * k, c + 1);
  if (c == 0) br_list_add(mt, k, pb, br);
}
@inline function br_take(br: u32, mt: u32, k: u32, i: u32): void {
  br_clear(br, k, i);
  const c = load<u16>(br + BR_NFREE + 2 * k);
  store<u16>(br + BR_NFREE + 2 * k, c - 1);
  if (c == 1) br_list_del(mt, k, br);
}

function br_add_free(pb: u32, k: u32, i: u32): void {
  const r = pb_rec(pb);
  br_give(load<u32>(r + PB_BUDDY), load<u8>(r + PB_MT), pb, k, i);
}

function br_del_free(pb: u32, k: u32, i: u32): void {
  const r = pb_rec(pb);
  br_take(load<u32>(r + PB_BUDDY), load<u8>(r + PB_MT), k, i);
}

// A pageblock allocated as a whole (part of an order >= 9 folio) that is now
// split into smaller folios: give it a buddy record (nothing free yet), so that
// freeing its pages later works like freeing pages of any broken pageblock.
export function pb_mark_broken(pb: u32): bool {
  const r = pb_rec(pb);
  if (load<u8>(r + PB_STATE) != PBS_ALLOC) return true;
  const br = slab_alloc(SLAB_BUDDY);
  if (br == 0) return false;
  if (pb_frames_get(pb) == 0) { slab_free(SLAB_BUDDY, br); return false; }
  store<u32>(br + BR_PB, pb);
  store<u32>(r + PB_BUDDY, br);
  store<u8>(r + PB_STATE, PBS_BROKEN);
  store<u32>(r + PB_NFREE, 0);
  store<u32>(r + PB_FOLIO, 0);
  return true;
}

// --- per-pageblock storage ----------------------------------------------------------

// The frame array of a pageblock, allocated on first need (zeroed: all frames free).
export function pb_frames_get(pb: u32): u32 {
  const r = pb_rec(pb);
  let fr = load<u32>(r + PB_FRAMES);
  if (fr == 0) {
    fr = slab_alloc(SLAB_FRAMES);
    store<u32>(r + PB_FRAMES, fr);
  }
  return fr;
}

// 2 MiB of host bytes backing the pageblock (page tables; user pages in data mode).
export function pb_data_get(pb: u32): u32 {
  const r = pb_rec(pb);
  let d = load<u32>(r + PB_DATA);
  if (d == 0) {
    d = alloc_chunk();
    store<u32>(r + PB_DATA, d);
  }
  return d;
}

// Whether the last pb_data_get_run() gave every pageblock fresh (all zero) host bytes.
export let pb_data_fresh: bool = false;

// Host bytes for n pageblocks of one folio as one contiguous run when none has any
// yet (then zeroing or copying the folio is one memory.fill/copy, which the host does
// with streaming stores for large sizes); else, or when no run can be had, the
// pageblocks get separate chunks. Returns false on host OOM.
export function pb_data_get_run(first: u32, n: u32): bool {
  pb_data_fresh = false;
  let fresh = true;
  for (let i: u32 = 0; i < n; i++) if (load<u32>(pb_rec(first + i) + PB_DATA) != 0) { fresh = false; break; }
  if (fresh && n > 1) {
    const d = alloc_chunk_run(n);
    if (d != 0) {
      for (let i: u32 = 0; i < n; i++) store<u32>(pb_rec(first + i) + PB_DATA, d + (i << 21));
      pb_data_fresh = chunk_fresh;
      return true;
    }
  }
  for (let i: u32 = 0; i < n; i++) {
    if (load<u32>(pb_rec(first + i) + PB_DATA) != 0) continue;
    if (pb_data_get(first + i) == 0) return false;
    fresh = fresh && chunk_fresh;
  }
  pb_data_fresh = fresh;
  return true;
}

// A pageblock that became entirely free gives back its host storage.
function pb_release_storage(pb: u32): void {
  const r = pb_rec(pb);
  const d = load<u32>(r + PB_DATA);
  if (d != 0) { free_chunk(d); store<u32>(r + PB_DATA, 0); }
  const fr = load<u32>(r + PB_FRAMES);
  if (fr != 0) { slab_free(SLAB_FRAMES, fr); store<u32>(r + PB_FRAMES, 0); }
  store<u32>(r + PB_FOLIO, 0);
  store<i32>(r + PB_MAPCOUNT_BIAS, 0);
  store<u8>(r + PB_AFLAGS, 0);
}


// --- allocation ---------------------------------------------------------------------

// Remove a block of order `k` headed at pfn from the free structures and
// split it down to `order` (expand()): upper halves go back as free blocks.
function take_and_expand(pfn: u32, k: u32, order: u32, mt: u32): bool {
  // pre-break: a block >= 9 split below 9 needs a buddy record first
  if (k >= 9) {
    const pb = pfn_pb(pfn);
    if (order < 9 && !pb_break_prepare(pb)) return false;
    const r = pb_rec(pb);
    pb_list_del(load<u8>(r + PB_MT), k, pb);
    store<u8>(r + PB_STATE, PBS_ALLOC);
    if (k == 10) store<u8>(pb_rec(pb + 1) + PB_STATE, PBS_ALLOC);
  } else {
    br_del_free(pfn_pb(pfn), k, (pfn & 511) >> k);
  }
  let high = k;
  while (high > order) {
    high--;
    const upper = pfn + (1 << high);
    if (high >= 9) {
      const upb = pfn_pb(upper);
      store<u8>(pb_rec(upb) + PB_STATE, PBS_FREE);
      store<u8>(pb_rec(upb) + PB_ORDER, 9);
      store<u8>(pb_rec(upb) + PB_MT, <u8>mt);
      pb_list_add(mt, 9, upb);
    } else {
      const pb = pfn_pb(pfn);
      if (high == 8 && load<u8>(pb_rec(pb) + PB_STATE) != PBS_BROKEN) pb_break_commit(pb);
      br_add_free(pb, high, (upper & 511) >> high);
      store<u32>(pb_rec(pb) + PB_NFREE, load<u32>(pb_rec(pb) + PB_NFREE) + (1 << high));
    }
  }
  if (order >= 9) {
    for (let i: u32 = 0; i < (1 << (order - 9)); i++) {
      const r = pb_rec(pfn_pb(pfn) + i);
      store<u8>(r + PB_STATE, PBS_ALLOC);
      store<u8>(r + PB_MT, <u8>mt);
    }
  } else if (k < 9) {
    const pb = pfn_pb(pfn);
    store<u32>(pb_rec(pb) + PB_NFREE, load<u32>(pb_rec(pb) + PB_NFREE) - (1 << k));
  }
  return true;
}

let prepared_br: u32 = 0;
let prepared_fr: u32 = 0;

function pb_break_prepare(pb: u32): bool {
  if (prepared_br == 0) prepared_br = slab_alloc(SLAB_BUDDY);
  if (prepared_br == 0) return false;
  if (load<u32>(pb_rec(pb) + PB_FRAMES) == 0) {
    if (prepared_fr == 0) prepared_fr = slab_alloc(SLAB_FRAMES);
    if (prepared_fr == 0) return false;
  }
  return true;
}

function pb_break_commit(pb: u32): void {
  const r = pb_rec(pb);
  const br = prepared_br;
  prepared_br = 0;
  store<u32>(br + BR_PB, pb);
  store<u32>(r + PB_BUDDY, br);
  if (load<u32>(r + PB_FRAMES) == 0) {
    store<u32>(r + PB_FRAMES, prepared_fr);
    prepared_fr = 0;
  }
  store<u8>(r + PB_STATE, PBS_BROKEN);
  store<u32>(r + PB_NFREE, 0);
}

// Take the next virgin order-10 pair (a MOVABLE block) and make it a free list block.
function virgin_refill(): bool {
  while (virgin_cursor < (nr_pageblocks >> 1)) {
    const pb = virgin_cursor << 1;
    virgin_cursor++;
    if (load<u8>(pb_rec(pb) + PB_STATE) == PBS_VIRGIN) {
      store<u8>(pb_rec(pb) + PB_STATE, PBS_FREE);
      store<u8>(pb_rec(pb) + PB_ORDER, 10);
      store<u8>(pb_rec(pb + 1) + PB_STATE, PBS_FREE_TAIL);
      pb_list_add(load<u8>(pb_rec(pb) + PB_MT), 10, pb);
      return true;
    }
  }
  return false;
}

function first_free(mt: u32, k: u32): u32 {
  if (k >= 9) {
    let h = load<u32>(free_heads + 4 * (mt * 2 + k - 9));
    if (h == 0 && k == 10 && mt == MIGRATE_MOVABLE && virgin_refill())
      h = load<u32>(free_heads + 4 * (mt * 2 + 1));
    return h == 0 ? 0 : ((h - 1) << PAGEBLOCK_ORDER) | 0x80000000;
  }
  const h = load<u32>(br_heads + 4 * (mt * 9 + k));
  if (h == 0) return 0;
  const pb = h - 1;
  const i = br_find(load<u32>(pb_rec(pb) + PB_BUDDY), k);
  return ((pb << PAGEBLOCK_ORDER) + (i << k)) | 0x80000000;
}

// __rmqueue_smallest
function rmqueue_smallest(order: u32, mt: u32): u32 {
  let k0 = order;
  if (order < 9) {
    const m = load<u32>(br_mask + 4 * mt) >> order;
    if (m != 0) {
      // take_and_expand() inside one broken pageblock (on mt's lists, so its PB_MT is mt)
      const k = order + <u32>ctz(m);
      const pb = load<u32>(br_heads + 4 * (mt * 9 + k)) - 1;
      const r = pb_rec(pb);
      const br = load<u32>(r + PB_BUDDY);
      const i = br_find(br, k);
      const pfn = (pb << PAGEBLOCK_ORDER) + (i << k);
      br_take(br, mt, k, i);
      // expand(): the upper halves become free blocks of orders k-1 .. order
      for (let high = k; high > order;) {
        high--;
        br_give(br, mt, pb, high, ((pfn & 511) >> high) | 1);
      }
      store<u32>(r + PB_NFREE, load<u32>(r + PB_NFREE) - (1 << order));
      return pfn | 0x80000000;
    }
    k0 = 9;
  }
  for (let k = k0; k <= MAX_PAGE_ORDER; k++) {
    const f = first_free(mt, k);
    if (f != 0) {
      const pfn = f & 0x7fffffff;
      if (!take_and_expand(pfn, k, order, mt)) return 0;
      return pfn | 0x80000000;
    }
  }
  return 0;
}

function fallback_mt(start: u32, i: u32): u32 {
  // fallbacks[]: UNMOVABLE -> RECLAIMABLE, MOVABLE; MOVABLE -> RECLAIMABLE, UNMOVABLE
  if (start == MIGRATE_UNMOVABLE) return i == 0 ? MIGRATE_RECLAIMABLE : MIGRATE_MOVABLE;
  if (start == MIGRATE_MOVABLE) return i == 0 ? MIGRATE_RECLAIMABLE : MIGRATE_UNMOVABLE;
  return i == 0 ? MIGRATE_UNMOVABLE : MIGRATE_MOVABLE;
}

// Move a broken pageblock with all its free blocks to another migratetype.
function pb_set_migratetype(pb: u32, mt: u32): void {
  const r = pb_rec(pb);
  const old = <u32>load<u8>(r + PB_MT);
  if (old == mt) return;
  const st = load<u8>(r + PB_STATE);
  if (st == PBS_BROKEN) {
    const br = load<u32>(r + PB_BUDDY);
    for (let k: u32 = 0; k < 9; k++) {
      if (load<u16>(br + BR_NFREE + 2 * k) != 0) {
        br_list_del(old, k, br);
        br_list_add(mt, k, pb, br);
      }
    }
  } else if (st == PBS_FREE) {
    const o = <u32>load<u8>(r + PB_ORDER);
    pb_list_del(old, o, pb);
    pb_list_add(mt, o, pb);
    if (o == 10) store<u8>(pb_rec(pb + 1) + PB_MT, <u8>mt);
  }
  store<u8>(r + PB_MT, <u8>mt);
}

// __rmqueue_claim + __rmqueue_steal, simplified: claim whole or mostly free
// pageblocks of another type (largest first), else steal the smallest block.
function rmqueue_fallback(order: u32, start: u32): u32 {
  for (let k: i32 = <i32>MAX_PAGE_ORDER; k >= <i32>order; k--) {
    const can_claim = <u32>k >= PAGEBLOCK_ORDER / 2 || start != MIGRATE_MOVABLE;
    if (!can_claim) break;
    for (let i: u32 = 0; i < 2; i++) {
      const mt = fallback_mt(start, i);
      const f = first_free(mt, <u32>k);
      if (f == 0) continue;
      const pb = pfn_pb(f & 0x7fffffff);
      if (<u32>k >= 9 || load<u32>(pb_rec(pb) + PB_NFREE) >= 256) {
        pb_set_migratetype(pb, start);
        return rmqueue_smallest(order, start);
      }
    }
  }
  for (let k = order; k <= MAX_PAGE_ORDER; k++) {
    for (let i: u32 = 0; i < 2; i++) {
      const mt = fallback_mt(start, i);
      const f = first_free(mt, k);
      if (f == 0) continue;
      const pfn = f & 0x7fffffff;
      if (!take_and_expand(pfn, k, order, mt)) return 0;
      return pfn | 0x80000000;
    }
  }
  return 0;
}

// --- per-CPU page lists (struct per_cpu_pages): order-0 pages are handed out
// from and freed to a LIFO list per migratetype, refilled and trimmed in
// batches (rmqueue_bulk / free_pcppages_bulk). Pages on these lists count as
// free (NR_FREE_PAGES) but are not in the buddy structures.
const PCP_BATCH: u32 = 63;
const PCP_HIGH: u32 = 6 * PCP_BATCH + 1;
const pcp_lists = memory.data(4 * (PCP_HIGH + PCP_BATCH + 2) * MIGRATE_TYPES);
const pcp_count = memory.data(4 * MIGRATE_TYPES);
const PCP_STRIDE: u32 = 4 * (PCP_HIGH + PCP_BATCH + 2);

export function pcp_total(): u64 {
  let n: u64 = 0;
  for (let mt: u32 = 0; mt < MIGRATE_TYPES; mt++) n += load<u32>(pcp_count + 4 * mt);
  return n;
}

// rmqueue_bulk(): refill with one order-6 block when possible, else page by page
function pcp_refill(mt: u32): bool {
  const list = pcp_lists + mt * PCP_STRIDE;
  let n = load<u32>(pcp_count + 4 * mt);
  const r = rmqueue_smallest(6, mt);
  if (r != 0) {
    const pfn = r & 0x7fffffff;
    // push in reverse so the lowest pfn is handed out first
    for (let i: i32 = 63; i >= 0; i--) { store<u32>(list + 4 * n, pfn + <u32>i); n++; }
    store<u32>(pcp_count + 4 * mt, n);
    return true;
  }
  for (let i: u32 = 0; i < PCP_BATCH; i++) {
    let q = rmqueue_smallest(0, mt);
    if (q == 0 && !hostmem_exhausted) q = rmqueue_fallback(0, mt);
    if (q == 0) break;
    store<u32>(list + 4 * n, q & 0x7fffffff);
    n++;
  }
  store<u32>(pcp_count + 4 * mt, n);
  return n != 0;
}

// drain_all_pages(): give every per-CPU page back to the buddy allocator
export function drain_all_pages(): void {
  for (let mt: u32 = 0; mt < MIGRATE_TYPES; mt++) {
    const list = pcp_lists + mt * PCP_STRIDE;
    const n = load<u32>(pcp_count + 4 * mt);
    store<u32>(pcp_count + 4 * mt, 0);
    for (let i: u32 = 0; i < n; i++) __free_one_page(load<u32>(list + 4 * i), 0);
  }
}

// __alloc_pages(): returns pfn, or 0 when no memory (watermark or fragmentation)
// or when host memory for metadata is exhausted (hostmem_exhausted is set then).
export function alloc_pages(order: u32, mt: u32): u32 {
  if (alloc_fail_inject != 0 && should_fail_alloc(order)) return 0;
  const nr: u64 = <u64>1 << order;
  if (<u64>node_page_state(NR_FREE_PAGES) < nr + min_free_pages) return 0;
  let pfn: u32 = 0;
  if (order == 0) {
    let n = load<u32>(pcp_count + 4 * mt);
    if (n == 0) {
      if (!pcp_refill(mt)) {
        drain_all_pages();
        if (!pcp_refill(mt)) return 0;
      }
      n = load<u32>(pcp_count + 4 * mt);
    }
    n--;
    store<u32>(pcp_count + 4 * mt, n);
    pfn = load<u32>(pcp_lists + mt * PCP_STRIDE + 4 * n);
  } else {
    let r = rmqueue_smallest(order, mt);
    if (r == 0 && !hostmem_exhausted) r = rmqueue_fallback(order, mt);
    if (r == 0 && !hostmem_exhausted && pcp_total() != 0) {
      // __alloc_pages_direct_reclaim(): drain the per-CPU lists and retry once
      drain_all_pages();
      r = rmqueue_smallest(order, mt);
      if (r == 0) r = rmqueue_fallback(order, mt);
    }
    if (r == 0) return 0;
    pfn = r & 0x7fffffff;
  }
  mod_node_page_state(NR_FREE_PAGES, -<i64>nr);
  count_vm_events(PGALLOC, nr);
  return pfn;
}

export function free_pages(pfn: u32, order: u32): void {
  const nr: u32 = 1 << order;
  mod_node_page_state(NR_FREE_PAGES, <i64>nr);
  count_vm_events(PGFREE, nr);
  if (order == 0) {
    // free_frozen_pages() -> free_unref_page_commit(): onto the per-CPU list
    const mt = <u32>load<u8>(pb_rec(pfn_pb(pfn)) + PB_MT);
    const list = pcp_lists + mt * PCP_STRIDE;
    let n = load<u32>(pcp_count + 4 * mt);
    store<u32>(list + 4 * n, pfn);
    n++;
    if (n > PCP_HIGH) {
      // free_pcppages_bulk(): the oldest batch goes back to the buddy allocator
      for (let i: u32 = 0; i < PCP_BATCH; i++) __free_one_page(load<u32>(list + 4 * i), 0);
      memory.copy(list, list + 4 * PCP_BATCH, 4 * (n - PCP_BATCH));
      n -= PCP_BATCH;
    }
    store<u32>(pcp_count + 4 * mt, n);
    return;
  }
  __free_one_page(pfn, order);
}

// __free_one_page(): merge with free buddies up to MAX_PAGE_ORDER.
function __free_one_page(pfn: u32, order: u32): void {
  const nr: u32 = 1 << order;
  let mt = <u32>load<u8>(pb_rec(pfn_pb(pfn)) + PB_MT);
  let k = order;
  if (k < 9) {
    const pb = pfn_pb(pfn);
    const r = pb_rec(pb);
    const nf = load<u32>(r + PB_NFREE) + nr;
    store<u32>(r + PB_NFREE, nf);
    let i = (pfn & 511) >> k;
    const br = load<u32>(r + PB_BUDDY);
    assert(br != 0 && load<u8>(r + PB_STATE) == PBS_BROKEN, "free_pages: sub-pageblock free in a pageblock without a buddy record");
    while (k < 9) {
      const b = i ^ 1;
      if (!br_test(br, k, b)) break;
      br_del_free(pb, k, b);
      i >>= 1;
      k++;
    }
    if (k < 9) {
      br_add_free(pb, k, i);
      return;
    }
    // the whole pageblock is free again: unbreak it
    slab_free(SLAB_BUDDY, br);
    store<u32>(r + PB_BUDDY, 0);
    pfn = pfn & ~511;
  }
  // whole pageblock(s) free
  const nblocks: u32 = 1 << (k - 9);
  for (let i: u32 = 0; i < nblocks; i++) pb_release_storage(pfn_pb(pfn) + i);
  while (k < MAX_PAGE_ORDER) {
    const pb = pfn_pb(pfn);
    const bpb = pb ^ 1;
    const br = pb_rec(bpb);
    if (load<u8>(br + PB_STATE) != PBS_FREE || load<u8>(br + PB_ORDER) != 9) break;
    pb_list_del(load<u8>(br + PB_MT), 9, bpb);
    pfn = (pb & ~1) << PAGEBLOCK_ORDER;
    k++;
  }
  const pb = pfn_pb(pfn);
  store<u8>(pb_rec(pb) + PB_STATE, PBS_FREE);
  store<u8>(pb_rec(pb) + PB_ORDER, <u8>k);
  store<u8>(pb_rec(pb) + PB_MT, <u8>mt);
  if (k == 10) {
    store<u8>(pb_rec(pb + 1) + PB_STATE, PBS_FREE_TAIL);
    store<u8>(pb_rec(pb + 1) + PB_MT, <u8>mt);
  }
  pb_list_add(mt, k, pb);
}

// --- gigantic (order 18) -----------------------------------------------------------

function pb_is_free(pb: u32): bool {
  const st = load<u8>(pb_rec(pb) + PB_STATE);
  return st == PBS_VIRGIN || st == PBS_FREE || st == PBS_FREE_TAIL;
}

// alloc_contig_pages() for one 1 GiB folio (folio_alloc_gigantic): the first
// 1 GiB-aligned range whose pageblocks are all free. Returns pfn or 0.
// (Ranges holding in-use movable pages would need migration first; such a
// range is skipped, so fragmentation by movable pages makes this fail.)
export function alloc_gigantic(order: u32): u32 {
  if (alloc_fail_inject != 0 && should_fail_alloc(order)) return 0;
  const nr: u32 = 1 << order;
  const npb: u32 = nr >> PAGEBLOCK_ORDER;
  if (<u64>node_page_state(NR_FREE_PAGES) < <u64>nr + min_free_pages) return 0;
  // alloc_contig_range() drains the per-CPU lists before isolating pageblocks
  drain_all_pages();
  for (let start: u32 = 0; start + npb <= nr_pageblocks; start += npb) {
    let ok = true;
    for (let i: u32 = 0; i < npb; i++) {
      if (!pb_is_free(start + i)) { ok = false; break; }
    }
    if (!ok) continue;
    for (let i: u32 = 0; i < npb; i++) {
      const pb = start + i;
      const r = pb_rec(pb);
      const st = load<u8>(r + PB_STATE);
      if (st == PBS_FREE) pb_list_del(load<u8>(r + PB_MT), load<u8>(r + PB_ORDER), pb);
      store<u8>(r + PB_STATE, PBS_ALLOC);
      store<u8>(r + PB_MT, <u8>MIGRATE_MOVABLE);
    }
    mod_node_page_state(NR_FREE_PAGES, -<i64>nr);
    count_vm_events(PGALLOC, nr);
    return start << PAGEBLOCK_ORDER;
  }
  return 0;
}

// free_contig_range(): give back as order-10 blocks (merging where possible).
export function free_gigantic(pfn: u32, order: u32): void {
  const nr: u32 = 1 << order;
  for (let p = pfn; p < pfn + nr; p += 1 << MAX_PAGE_ORDER) free_pages(p, MAX_PAGE_ORDER);
}

export function nr_free_pages(): u64 {
  return <u64>node_page_state(NR_FREE_PAGES);
}

// Debug/invariant helper: recount free pages from the free structures.
export function count_free_pages_slow(): u64 {
  // br_mask must say exactly which br lists are non-empty
  for (let mt: u32 = 0; mt < MIGRATE_TYPES; mt++) {
    for (let k: u32 = 0; k < 9; k++) {
      const nonempty = load<u32>(br_heads + 4 * (mt * 9 + k)) != 0;
      if (nonempty != ((load<u32>(br_mask + 4 * mt) & (1 << k)) != 0)) return 0xffffffffffffffff;
    }
  }
  let n: u64 = 0;
  for (let pb: u32 = 0; pb < nr_pageblocks; pb++) {
    const r = pb_rec(pb);
    const st = load<u8>(r + PB_STATE);
    if (st == PBS_VIRGIN || st == PBS_FREE || st == PBS_FREE_TAIL) n += 512;
    else if (st == PBS_BROKEN) {
      const br = load<u32>(r + PB_BUDDY);
      let c: u64 = 0;
      for (let k: u32 = 0; k < 9; k++) {
        for (let i: u32 = 0; i < (512 >> k); i++) if (br_test(br, k, i)) c += <u64>1 << k;
      }
      if (c != <u64>load<u32>(r + PB_NFREE)) return 0xffffffffffffffff;
      n += c;
    }
  }
  return n + pcp_total();
}

export { HPAGE_PUD_ORDER };
