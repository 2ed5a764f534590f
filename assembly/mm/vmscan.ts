// Reclaim as far as a machine without swap sees it (mm/vmscan.c:
// shrink_folio_list, the slab shrinkers): anonymous folios cannot be
// swapped out, so large ones are split (THP_SWPOUT_FALLBACK) and everything
// is kept; clean lazyfree folios (MADV_FREE) are discarded.

import * as T from "./mm_types";
import { folio_order, page_folio, frame_ptr, S_LAZYFREE, S_DIRTY, S_MAPCOUNT_MASK } from "./folio";
import { split_folio_to_order, deferred_split_scan, shrink_huge_zero_folio } from "./huge_memory";
import { folio_maybe_dma_pinned } from "./gup";
import {
  count_vm_event, count_mthp_stat, THP_SWPOUT_FALLBACK, MTHP_STAT_SWPOUT_FALLBACK, MM_ANONPAGES,
} from "./vmstat";
import { folio_remove_rmap_ptes, folio_remove_rmap_entire, folio_mapcount, RMAP_LEVEL_PMD } from "./rmap";
import { folio_put, folio_put_refs } from "./swap";
import { add_mm_counter } from "./memory";
import { pte_dirty, pte_pfn } from "../arch/x86/pgtable_types";
import { flush_tlb_range, flush_pmd_tlb_range } from "../arch/x86/tlb";
import { pgtable_free, mm_dec_nr_ptes } from "../arch/x86/pgtable";
import { pgtable_trans_huge_withdraw_to_free } from "./pgtable_generic";

// shrink_folio_list() for one isolated anonymous folio mapped by `entryp` in vma
// (the madvise caller knows the single mapping: shared folios are never isolated).
// level: 1 = PTE, 2 = PMD.
// nr: the PTEs mapping the folio from entryp on (level 1), 1 for a PMD (level 2).
export function reclaim_anon_folio(f: u32, pfn: u32, vma: u32, entryp: u32, addr: u64, nr: u32, level: u32): void {
  const lazyfree = f != 0 ? (load<u16>(f, T.F_FLAGS) & T.FF_LAZYFREE) != 0 : (load<u32>(frame_ptr(pfn)) & S_LAZYFREE) != 0;
  if (lazyfree) {
    discard_lazyfree(f, pfn, vma, entryp, addr, nr, level);
    return;
  }
  if (f == 0) return; // no swap: an order-0 folio is kept (activate_locked_split)
  if (folio_maybe_dma_pinned(f, pfn)) return;
  const order = folio_order(f);
  // can_split_folio()
  if (folio_mapcount(f, 0) != load<i32>(f, T.F_REFCOUNT)) return;
  // partially mapped folios are split at once (their unmapped pages go without IO)
  if ((load<u16>(f, T.F_FLAGS) & (T.FF_DEFERRED | T.FF_PARTIALLY_MAPPED)) == (T.FF_DEFERRED | T.FF_PARTIALLY_MAPPED)) {
    split_folio_to_order(f, 0);
    return;
  }
  // folio_alloc_swap() fails without swap: fall back to splitting, then fail again
  if (split_folio_to_order(f, 0) != 0) return;
  if (order >= 9) count_vm_event(THP_SWPOUT_FALLBACK);
  count_mthp_stat(order, MTHP_STAT_SWPOUT_FALLBACK);
}

// try_to_unmap_one() on a lazyfree folio: clean mappings are discarded, a dirty one
// makes the folio swap-backed again (and it is kept).
function discard_lazyfree(f: u32, pfn: u32, vma: u32, entryp: u32, addr: u64, nr: u32, level: u32): void {
  const mm = load<u32>(vma + T.V_MM);
  let dirty = f != 0 ? (load<u16>(f, T.F_FLAGS) & T.FF_DIRTY) != 0 : (load<u32>(frame_ptr(pfn)) & S_DIRTY) != 0;
  for (let i: u32 = 0; i < nr; i++) if (pte_dirty(load<u64>(entryp + (i << 3)))) dirty = true;
  if (dirty) {
    if (f != 0) store<u16>(f, load<u16>(f, T.F_FLAGS) & ~T.FF_LAZYFREE, T.F_FLAGS);
    else store<u32>(frame_ptr(pfn), load<u32>(frame_ptr(pfn)) & ~S_LAZYFREE);
    return;
  }
  if (level == 2) {
    store<u64>(entryp, 0);
    // unmap_huge_pmd_locked() -> __discard_anon_folio_pmd_locked()
    flush_pmd_tlb_range(mm, addr, addr + (1 << 21));
    folio_remove_rmap_entire(f, vma, RMAP_LEVEL_PMD);
    add_mm_counter(mm, MM_ANONPAGES, -512);
    if (load<u32>(mm + T.MM_NR_DEPOSITED) != 0) {
      pgtable_free(pgtable_trans_huge_withdraw_to_free(mm));
      mm_dec_nr_ptes(mm);
    }
    folio_put(f, 0);
    return;
  }
  for (let i: u32 = 0; i < nr; i++) store<u64>(entryp + (i << 3), 0);
  flush_tlb_range(mm, addr, addr + (<u64>nr << 12), 12);
  folio_remove_rmap_ptes(f, pfn, nr, vma);
  add_mm_counter(mm, MM_ANONPAGES, -<i64>nr);
  if (f != 0) folio_put_refs(f, pfn, nr); else folio_put(f, pfn);
}

// drop_caches / shrink_slab(): the deferred split shrinker and the huge zero folio
export function shrink_slab(): u32 {
  const n = deferred_split_scan(0xffffffff);
  shrink_huge_zero_folio();
  return n;
}
