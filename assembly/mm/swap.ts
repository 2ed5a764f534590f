// Folio reference counting (mm/swap.c: folio_put, __folio_put; include/linux/mm.h).
// An order-0 folio keeps refcount = mapcount + extra in its frame entry: each
// mapping holds one reference, like the kernel's; add/remove of a mapping
// moves that reference between the two fields (see rmap.ts).

import { frame_ptr, S_EXTRA_SHIFT, S_EXTRA_MASK, S_MAPCOUNT_MASK, S_PINNED, free_small_folio, free_large_folio } from "./folio";
import { small_ext_refs } from "./gup";
import * as T from "./mm_types";
import { folio_free_hook } from "./huge_memory";

// folio == 0: the order-0 folio at pfn
export function folio_get(folio: u32, pfn: u32): void {
  if (folio != 0) {
    store<i32>(folio, load<i32>(folio, T.F_REFCOUNT) + 1, T.F_REFCOUNT);
    return;
  }
  const p = frame_ptr(pfn);
  const e = load<u32>(p);
  assert(((e & S_EXTRA_MASK) >>> S_EXTRA_SHIFT) < 63, "folio_get: small folio ref overflow");
  store<u32>(p, e + (1 << S_EXTRA_SHIFT));
}

// folio_ref_count() of an order-0 folio: mappings + extra + GUP references
export function small_folio_refcount(pfn: u32): u32 {
  const e = load<u32>(frame_ptr(pfn));
  const r = (e & S_MAPCOUNT_MASK) + ((e & S_EXTRA_MASK) >>> S_EXTRA_SHIFT);
  return (e & S_PINNED) != 0 ? r + small_ext_refs(pfn) : r;
}

// folio_put_refs(): drop nr references, freeing the folio at zero.
export function folio_put_refs(folio: u32, pfn: u32, nr: u32): void {
  if (folio != 0) {
    const r = load<i32>(folio, T.F_REFCOUNT) - <i32>nr;
    assert(r >= 0, "folio_put_refs: refcount underflow");
    store<i32>(folio, r, T.F_REFCOUNT);
    if (r == 0) __folio_put(folio);
    return;
  }
  const p = frame_ptr(pfn);
  const e = load<u32>(p);
  const extra = (e & S_EXTRA_MASK) >>> S_EXTRA_SHIFT;
  assert(extra >= nr, "folio_put_refs: small folio refcount underflow");
  const ne = e - (nr << S_EXTRA_SHIFT);
  store<u32>(p, ne);
  if ((ne & (S_MAPCOUNT_MASK | S_EXTRA_MASK | S_PINNED)) == 0) free_small_folio(pfn);
}

@inline export function folio_put(folio: u32, pfn: u32): void {
  folio_put_refs(folio, pfn, 1);
}

// __folio_put(): the last reference is gone.
export function __folio_put(folio: u32): void {
  if (!folio_free_hook(folio)) return; // hugetlb/huge zero folios go back to their owners
  free_large_folio(folio);
}
