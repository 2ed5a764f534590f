// Transparent huge pages (mm/huge_memory.c, include/linux/huge_mm.h):
// policy (thp_vma_allowable_orders), the deferred split queue, and the
// huge zero folio. Fault/split/zap paths for PMD and PUD leaves build on these.

import * as T from "./mm_types";
import { free_huge_folio } from "./hugetlb";
import { shmem_allowable_huge_orders, split_file_pmd, zap_file_pmd_accounting } from "./shmem";
import {
  knob, K_THP_ENABLED, K_ANON_SIZE_BASE, K_THP_SHRINK_UNDERUSED, THP_ALWAYS, THP_NEVER, SIZE_ALWAYS,
  SIZE_INHERIT, SIZE_MADVISE, K_V_PUD_ANON,
} from "../kernel/sysfs";
import {
  count_vm_event, count_mthp_stat, mod_mthp_stat, THP_DEFERRED_SPLIT_PAGE, MTHP_STAT_SPLIT_DEFERRED,
  MTHP_STAT_NR_ANON_PARTIALLY_MAPPED,
} from "./vmstat";
import {
  folio_order, folio_alloc_large, __folio_alloc_large, folio_nr_pages, page_folio, large_page_anon_exclusive, large_page_set_anon_exclusive,
  folio_ref_count, clear_page_contents, page_maybe_nonzero, frame_ptr_alloc, frame_get, folio_test,
  FT_SMALL, S_AE, S_DIRTY, S_NONZERO, TL_AE, TL_NONZERO, FT_TAIL, FT_HEAD, S_EXTRA_SHIFT, free_large_folio,
  free_small_folio,
} from "./folio";
import {
  _PAGE_PSE, _PAGE_RW, _PAGE_SPECIAL, _PAGE_ACCESSED, pte_pfn, pfn_pte, pte_write, pte_dirty, pte_young,
  pte_mkdirty, pte_mkwrite, pte_mkold, pte_mkyoung, pte_special, pte_soft_dirty, pte_uffd_wp, pte_mkspecial,
  pmd_modify, pmd_mkinvalid, pmd_trans_huge, _PAGE_SOFT_DIRTY, _PAGE_UFFD_WP, pte_present, PTE_PFN_MASK,
} from "../arch/x86/pgtable_types";
import {
  pgtable_alloc, pgtable_alloc_deposit, pgtable_free, table_host, table_of, mk_table_entry, fill_pte_table, fill_table_same, entry_ptr,
  mm_inc_nr_ptes, mm_dec_nr_ptes, mm_inc_nr_pmds, mm_dec_nr_pmds, PT_LEVEL_PTE, PT_LEVEL_PMD,
} from "../arch/x86/pgtable";
import { flush_pmd_tlb_range, flush_pud_tlb_range, flush_tlb_mm } from "../arch/x86/tlb";
import { data_mode, pfn_to_host, ZERO_PFN, MIGRATE_UNMOVABLE, pb_rec, PB_FOLIO, pb_mark_broken } from "./page_alloc";
import { slab_alloc, SLAB_FOLIO } from "../lib/hostmem";
import {
  count_vm_events, THP_FAULT_ALLOC, THP_FAULT_FALLBACK, THP_SPLIT_PMD, THP_SPLIT_PUD, THP_ZERO_PAGE_ALLOC,
  THP_ZERO_PAGE_ALLOC_FAILED, THP_SPLIT_PAGE, THP_SPLIT_PAGE_FAILED, THP_UNDERUSED_SPLIT_PAGE,
  NUMA_HUGE_PTE_UPDATES, MTHP_STAT_ANON_FAULT_ALLOC, MTHP_STAT_ANON_FAULT_FALLBACK, MTHP_STAT_SPLIT,
  MTHP_STAT_SPLIT_FAILED, MTHP_STAT_NR_ANON, MM_ANONPAGES,
} from "./vmstat";
import {
  vmf_vma, vmf_address, vmf_flags, vmf_pmd, vmf_pud, add_mm_counter, vmf_anon_prepare, FAULT_FLAG_WRITE,
  FAULT_FLAG_UNSHARE, VM_FAULT_FALLBACK, VM_FAULT_OOM, VM_FAULT_SIGBUS, walk_to_pmd, walk_to_pud,
} from "./memory";
import {
  folio_add_new_anon_rmap, folio_add_anon_rmap_ptes, folio_add_anon_rmap_pmd, folio_remove_rmap_entire, folio_remove_rmap_ptes,
  folio_mapcount, RMAP_LEVEL_PMD, RMAP_LEVEL_PUD,
} from "./rmap";
import { pgtable_trans_huge_deposit, pgtable_trans_huge_withdraw, pgtable_trans_huge_withdraw_to_free } from "./pgtable_generic";
import { tlb_remove_pmd_tlb_entry, tlb_remove_pud_tlb_entry, tlb_remove_folio_refs, tlb_flush_pmd_range } from "./mmu_gather";
import { folio_put, folio_get } from "./swap";
import { knob as kn, K_THP_USE_ZERO_PAGE, K_KHUGEPAGED_MAX_PTES_NONE, K_V_PGTABLE_DEPOSIT } from "../kernel/sysfs";
import { alloc_chunk, free_chunk } from "../lib/hostmem";
import { AV_ROOT, AV_HEAD } from "./mmap";

export const PMD_ORDER: u32 = 9;
export const PUD_ORDER: u32 = 18;

export const TVA_SMAPS: u32 = 0;
export const TVA_PAGEFAULT: u32 = 1;
export const TVA_KHUGEPAGED: u32 = 2;
export const TVA_FORCED_COLLAPSE: u32 = 3;

// THP_ORDERS_ALL_ANON: orders 2..PMD_ORDER, plus PUD_ORDER with the seed-000 extension
export function thp_orders_all_anon(): u32 {
  let m: u32 = ((1 << (PMD_ORDER + 1)) - 1) & ~3;
  if (knob(K_V_PUD_ANON) != 0) m |= 1 << PUD_ORDER;
  return m;
}

// huge_anon_orders_{always,madvise,inherit}: recomputed when a size knob is written
let anon_mask_always: u32 = 0;
let anon_mask_madvise: u32 = 0;
let anon_mask_inherit: u32 = 1 << PMD_ORDER;

function anon_orders_scan(policy: u32): u32 {
  let m: u32 = 0;
  for (let o: u32 = 2; o <= PMD_ORDER; o++) if (knob(K_ANON_SIZE_BASE + o) == policy) m |= 1 << o;
  if (knob(K_ANON_SIZE_BASE + PUD_ORDER) == policy) m |= 1 << PUD_ORDER;
  return m;
}

export function thp_recompute_orders(): void {
  anon_mask_always = anon_orders_scan(SIZE_ALWAYS);
  anon_mask_madvise = anon_orders_scan(SIZE_MADVISE);
  anon_mask_inherit = anon_orders_scan(SIZE_INHERIT);
}

// any anonymous order below PMD_ORDER enabled in any way (alloc_anon_folio's early exit)
@inline export function anon_mthp_orders_possible(): bool {
  return ((anon_mask_always | anon_mask_madvise | anon_mask_inherit) & ((1 << PMD_ORDER) - 1)) != 0;
}

@inline function anon_orders(policy: u32): u32 {
  return policy == SIZE_ALWAYS ? anon_mask_always : policy == SIZE_MADVISE ? anon_mask_madvise : anon_mask_inherit;
}

@inline export function hugepage_global_enabled(): bool { return knob(K_THP_ENABLED) != THP_NEVER; }
@inline export function hugepage_global_always(): bool { return knob(K_THP_ENABLED) == THP_ALWAYS; }

// vma_thp_disabled()
export function vma_thp_disabled(vma: u32, vm_flags: u64, forced_collapse: bool): bool {
  if (vm_flags & T.VM_NOHUGEPAGE) return true;
  const mm = load<u32>(vma + T.V_MM);
  const mmf = load<u32>(mm + T.MM_FLAGS);
  if (mmf & T.MMF_DISABLE_THP_COMPLETELY) return true;
  if (vm_flags & T.VM_HUGEPAGE) return false;
  if (forced_collapse) return false;
  return (mmf & T.MMF_DISABLE_THP_EXCEPT_ADVISED) != 0;
}

// thp_vma_suitable_order(): the aligned range around addr fits in the VMA
// (file VMAs also need vm_pgoff aligned to the order).
export function thp_vma_suitable_order(vma: u32, addr: u64, order: u32): bool {
  const size: u64 = <u64>4096 << order;
  const start = load<u64>(vma + T.V_START);
  if (load<u8>(vma + T.V_KIND) != T.VK_ANON) {
    const off = (start >> 12) - load<u64>(vma + T.V_PGOFF);
    if (off & ((<u64>1 << order) - 1)) return false;
  }
  const haddr = addr & ~(size - 1);
  return haddr >= start && haddr + size <= load<u64>(vma + T.V_END);
}

// thp_vma_suitable_orders(): drop orders from the highest down until one fits
export function thp_vma_suitable_orders(vma: u32, addr: u64, orders: u32): u32 {
  while (orders != 0) {
    const order = 31 - clz(orders);
    if (thp_vma_suitable_order(vma, addr, order)) break;
    orders &= ~(1 << order);
  }
  return orders;
}

// thp_vma_allowable_orders(vma, vm_flags, type, orders), the inline part (huge_mm.h):
// the early check of the enabled anon orders, then __thp_vma_allowable_orders().
@inline export function thp_vma_allowable_orders(vma: u32, vm_flags: u64, type: u32, orders: u32): u32 {
  if (load<u8>(vma + T.V_KIND) == T.VK_ANON && type != TVA_FORCED_COLLAPSE) {
    let mask = anon_orders(SIZE_ALWAYS);
    if (vm_flags & T.VM_HUGEPAGE) mask |= anon_orders(SIZE_MADVISE);
    if (hugepage_global_always() || ((vm_flags & T.VM_HUGEPAGE) && hugepage_global_enabled()))
      mask |= anon_orders(SIZE_INHERIT);
    orders &= mask;
    if (orders == 0) return 0;
  }
  return __thp_vma_allowable_orders(vma, vm_flags, type, orders);
}

// __thp_vma_allowable_orders() for anonymous VMAs (shmem and hugetlb VMAs are
// answered by their own modules).
export function __thp_vma_allowable_orders(vma: u32, vm_flags: u64, type: u32, orders: u32): u32 {
  const kind = load<u8>(vma + T.V_KIND);
  if (kind == T.VK_HUGETLB) return 0;
  if (kind == T.VK_ANON) {
    orders &= thp_orders_all_anon();
  } else {
    return shmem_thp_orders(vma, vm_flags, type, orders);
  }
  if (vma_thp_disabled(vma, vm_flags, type == TVA_FORCED_COLLAPSE)) return 0;
  if (type != TVA_PAGEFAULT) {
    // outside the fault path (smaps, khugepaged, collapse): drop orders whose size does not fit the VMA
    let o = orders;
    while (o != 0) {
      const order = 31 - clz(o);
      o &= ~(1 << order);
      const size: u64 = <u64>4096 << order;
      if (!thp_vma_suitable_order(vma, load<u64>(vma + T.V_END) - size, order)) orders &= ~(1 << order);
    }
  }
  // __thp_vma_allowable_orders(): an anon VMA without anon_vma only for smaps/page faults
  if (load<u32>(vma + T.V_ANON_VMA) == 0 && type != TVA_SMAPS && type != TVA_PAGEFAULT) return 0;
  return orders;
}

// __thp_vma_allowable_orders() for shmem VMAs: the fault path never asks for them
// (no ->huge_fault: shmem_fault decides), smaps and collapse get the shmem policy.
function shmem_thp_orders(vma: u32, vm_flags: u64, type: u32, orders: u32): u32 {
  orders &= ((1 << (PMD_ORDER + 1)) - 1) & ~1; // THP_ORDERS_ALL_FILE_DEFAULT
  if (orders == 0 || type == TVA_PAGEFAULT) return 0;
  if (vma_thp_disabled(vma, vm_flags, type == TVA_FORCED_COLLAPSE)) return 0;
  let o = orders;
  while (o != 0) {
    const order = 31 - clz(o);
    if (thp_vma_suitable_order(vma, load<u64>(vma + T.V_END) - (<u64>4096 << order), order)) break;
    o &= ~(1 << order);
  }
  if (o == 0) return 0;
  return o & shmem_allowable_huge_orders(vma, vm_flags, load<u64>(vma + T.V_PGOFF), type == TVA_FORCED_COLLAPSE);
}

// --- deferred split queue (deferred_split_folio / __folio_unqueue_deferred_split) -------

let split_queue_head: u32 = 0;
export let split_queue_len: u32 = 0;

export function deferred_split_folio(f: u32, partially_mapped: bool): void {
  const order = folio_order(f);
  if (order <= 1) return;
  if (!partially_mapped && knob(K_THP_SHRINK_UNDERUSED) == 0) return;
  if (partially_mapped && (load<u16>(f, T.F_FLAGS) & T.FF_PARTIALLY_MAPPED) == 0) {
    store<u16>(f, load<u16>(f, T.F_FLAGS) | T.FF_PARTIALLY_MAPPED, T.F_FLAGS);
    if (order >= PMD_ORDER) count_vm_event(THP_DEFERRED_SPLIT_PAGE);
    count_mthp_stat(order, MTHP_STAT_SPLIT_DEFERRED);
    mod_mthp_stat(order, MTHP_STAT_NR_ANON_PARTIALLY_MAPPED, 1);
  }
  deferred_list_add(f);
}

// list_add_tail() on the split queue if not queued yet
export function deferred_list_add(f: u32): void {
  if ((load<u16>(f, T.F_FLAGS) & T.FF_DEFERRED) != 0) return;
  store<u16>(f, load<u16>(f, T.F_FLAGS) | T.FF_DEFERRED, T.F_FLAGS);
  store<u32>(f, 0, T.F_DEFERRED_NEXT);
  if (split_queue_head == 0) {
    split_queue_head = f;
    store<u32>(f, f, T.F_DEFERRED_PREV);
  } else {
    const tail = load<u32>(split_queue_head, T.F_DEFERRED_PREV);
    store<u32>(tail, f, T.F_DEFERRED_NEXT);
    store<u32>(f, tail, T.F_DEFERRED_PREV);
    store<u32>(split_queue_head, f, T.F_DEFERRED_PREV);
  }
  split_queue_len++;
}

// list_del_init() from the split queue (the partially-mapped state is untouched)
export function deferred_list_del(f: u32): void {
  if ((load<u16>(f, T.F_FLAGS) & T.FF_DEFERRED) == 0) return;
  const next = load<u32>(f, T.F_DEFERRED_NEXT);
  const prev = load<u32>(f, T.F_DEFERRED_PREV);
  if (f == split_queue_head) {
    split_queue_head = next;
    if (next != 0) store<u32>(next, prev, T.F_DEFERRED_PREV);
  } else {
    store<u32>(prev, next, T.F_DEFERRED_NEXT);
    if (next != 0) store<u32>(next, prev, T.F_DEFERRED_PREV);
    else store<u32>(split_queue_head, prev, T.F_DEFERRED_PREV);
  }
  store<u16>(f, load<u16>(f, T.F_FLAGS) & ~T.FF_DEFERRED, T.F_FLAGS);
  split_queue_len--;
}

// __folio_unqueue_deferred_split() (on free)
export function folio_unqueue_deferred_split(f: u32): void {
  const flags = load<u16>(f, T.F_FLAGS);
  if ((flags & T.FF_DEFERRED) == 0) return;
  if (flags & T.FF_PARTIALLY_MAPPED) {
    store<u16>(f, flags & ~T.FF_PARTIALLY_MAPPED, T.F_FLAGS);
    mod_mthp_stat(folio_order(f), MTHP_STAT_NR_ANON_PARTIALLY_MAPPED, -1);
  }
  deferred_list_del(f);
}

export function deferred_split_first(): u32 { return split_queue_head; }

// Called by __folio_put() before a large folio's pages are freed. Returns
// false when the folio is not to be given back to the buddy allocator.
export function folio_free_hook(f: u32): bool {
  if (load<u8>(f, T.F_KIND) == T.FK_HUGETLB) return free_huge_folio(f);
  folio_unqueue_deferred_split(f);
  return true;
}


// =====================================================================================
// Huge zero folio (get_huge_zero_folio / mm_get_huge_zero_folio / shrinker)
// =====================================================================================

export let huge_zero_folio: u32 = 0;
let huge_zero_refcount: u32 = 0;

function get_huge_zero_folio(): bool {
  if (huge_zero_folio != 0) { huge_zero_refcount++; return true; }
  // (GFP_TRANSHUGE | __GFP_ZERO) & ~__GFP_MOVABLE
  const f = __folio_alloc_large(PMD_ORDER, T.FK_HUGE_ZERO, MIGRATE_UNMOVABLE);
  if (f == 0) { count_vm_event(THP_ZERO_PAGE_ALLOC_FAILED); return false; }
  const pfn = load<u32>(f, T.F_PFN);
  if (data_mode) memory.fill(pfn_to_host(pfn), 0, 1 << 21);
  count_vm_event(THP_ZERO_PAGE_ALLOC);
  huge_zero_folio = f;
  huge_zero_refcount = 2; // one for the caller, one kept until the shrinker runs
  return true;
}

export function mm_get_huge_zero_folio(mm: u32): u32 {
  if (load<u32>(mm + T.MM_FLAGS) & T.MMF_HUGE_ZERO_FOLIO) return huge_zero_folio;
  if (!get_huge_zero_folio()) return 0;
  store<u32>(mm + T.MM_FLAGS, load<u32>(mm + T.MM_FLAGS) | T.MMF_HUGE_ZERO_FOLIO);
  return huge_zero_folio;
}

export function mm_put_huge_zero_folio(mm: u32): void {
  if (load<u32>(mm + T.MM_FLAGS) & T.MMF_HUGE_ZERO_FOLIO) {
    huge_zero_refcount--;
    store<u32>(mm + T.MM_FLAGS, load<u32>(mm + T.MM_FLAGS) & ~T.MMF_HUGE_ZERO_FOLIO);
  }
}

// shrink_huge_zero_folio_scan(): free it when only the extra reference is left
export function shrink_huge_zero_folio(): u32 {
  if (huge_zero_folio != 0 && huge_zero_refcount == 1) {
    huge_zero_refcount = 0;
    const f = huge_zero_folio;
    huge_zero_folio = 0;
    free_large_folio(f);
    return 512;
  }
  return 0;
}

@inline export function is_huge_zero_pmd(e: u64): bool {
  return huge_zero_folio != 0 && (e & _PAGE_SPECIAL) != 0 && pte_pfn(e) == load<u32>(huge_zero_folio, T.F_PFN);
}

export function mm_exit_hook(mm: u32): void {
  mm_put_huge_zero_folio(mm);
}

// =====================================================================================
// PMD-level anonymous faults (do_huge_pmd_anonymous_page and friends)
// =====================================================================================

@inline function folio_mk_pmd(pfn: u32, prot: u64): u64 { return pfn_pte(pfn, prot) | _PAGE_PSE; }

@inline function maybe_pmd_mkwrite(e: u64, vma: u32): u64 {
  return (load<u64>(vma + T.V_FLAGS) & T.VM_WRITE) ? pte_mkwrite(e) : e;
}

import { folio_take_fresh_zero } from "./folio";

// folio_zero_user(): the subpage of the fault is cleared last, so that its cache lines
// are hot (real memory.fill in data mode; metadata mode has nothing to clear). Up to a
// pageblock this is process_huge_page(). A larger folio is cleared by one memory.fill
// over its contiguous backing (the host clears such a size with streaming stores, ~3x
// faster than the cached stores of fills below the LLC size, which would leave nothing
// hot anyway), then the target's pageblock again by process_huge_page(): its pages
// left-right towards the target, the target last.
export function folio_zero_user(f: u32, addr_hint: u64): void {
  if (!data_mode) return;
  // just allocated on fresh host memory: zero already, and untouched on the host
  if (folio_take_fresh_zero(f)) return;
  const nr = folio_nr_pages(f);
  const base_pfn = load<u32>(f, T.F_PFN);
  const addr = addr_hint & ~((<u64>nr << 12) - 1);
  const n = <u32>((addr_hint - addr) >> 12);
  if (nr <= 512) {
    process_huge_page(base_pfn, nr, n);
    return;
  }
  clear_run(base_pfn, 0, nr);
  const tb = n & ~511; // first page of the target's pageblock
  process_huge_page(base_pfn + tb, 512, n - tb);
}

// process_huge_page() with clear_subpage() over nr pages, target subpage n: the far
// end first as one run, then the remaining subpages left-right towards the target
function process_huge_page(base_pfn: u32, nr: u32, n: u32): void {
  let base: u32, l: u32;
  if (n * 2 <= nr) {
    base = 0;
    l = n;
    clear_run(base_pfn, 2 * n, nr);
  } else {
    base = nr - (nr - n) * 2;
    l = nr - n;
    clear_run(base_pfn, 0, base);
  }
  for (let i: u32 = 0; i < l; i++) {
    clear_page_contents(base_pfn + base + i);
    clear_page_contents(base_pfn + base + l * 2 - 1 - i);
  }
}

// Clear pages [from, to) of a folio: one memory.fill per stretch of pageblocks whose
// backing chunks are adjacent in host memory (the whole run for a contiguous folio).
function clear_run(base_pfn: u32, from: u32, to: u32): void {
  let end = to;
  while (end > from) {
    // extend [start, end) downwards while the host bytes stay contiguous
    let start = (end - 1) & ~511;
    if (start < from) start = from;
    let host = pfn_to_host(base_pfn + start);
    while (start > from) {
      const prev = (start - 1) & ~511;
      const p = prev < from ? from : prev;
      const h = pfn_to_host(base_pfn + p);
      if (h + ((start - p) << 12) != host) break;
      host = h;
      start = p;
    }
    memory.fill(host, 0, (end - start) << 12);
    end = start;
  }
}

// vma_alloc_anon_folio_pmd()
function vma_alloc_anon_folio_pmd(vma: u32, addr: u64): u32 {
  const f = folio_alloc_large(PMD_ORDER, T.FK_ANON);
  if (f == 0) {
    count_vm_event(THP_FAULT_FALLBACK);
    count_mthp_stat(PMD_ORDER, MTHP_STAT_ANON_FAULT_FALLBACK);
    return 0;
  }
  folio_zero_user(f, addr);
  return f;
}

// map_anon_folio_pmd_pf()
function map_anon_folio_pmd_pf(f: u32, pmdp: u32, vma: u32, haddr: u64): void {
  let entry = folio_mk_pmd(load<u32>(f, T.F_PFN), load<u64>(vma + T.V_PROT));
  entry = maybe_pmd_mkwrite(pte_mkdirty(entry), vma);
  folio_add_new_anon_rmap(f, load<u32>(f, T.F_PFN), vma, haddr, true);
  store<u64>(pmdp, entry);
  add_mm_counter(load<u32>(vma + T.V_MM), MM_ANONPAGES, 512);
  count_vm_event(THP_FAULT_ALLOC);
  count_mthp_stat(PMD_ORDER, MTHP_STAT_ANON_FAULT_ALLOC);
}

@inline function deposit_mode_lazy(): bool { return kn(K_V_PGTABLE_DEPOSIT) == 1; }

function do_huge_pmd_anonymous_page(vma: u32): u32 {
  const mm = load<u32>(vma + T.V_MM);
  const haddr = vmf_address & ~(<u64>(1 << 21) - 1);
  if (!thp_vma_suitable_order(vma, haddr, PMD_ORDER)) return VM_FAULT_FALLBACK;
  const r = vmf_anon_prepare(vma);
  if (r) return r;
  khugepaged_enter_vma(vma);
  if ((vmf_flags & FAULT_FLAG_WRITE) == 0 && kn(K_THP_USE_ZERO_PAGE) != 0) {
    const pgtable = pgtable_alloc_deposit(PT_LEVEL_PTE);
    if (pgtable == 0) return VM_FAULT_OOM;
    const zero = mm_get_huge_zero_folio(mm);
    if (zero == 0) {
      pgtable_free(pgtable);
      count_vm_event(THP_FAULT_FALLBACK);
      return VM_FAULT_FALLBACK;
    }
    if (load<u64>(vmf_pmd) != 0) { pgtable_free(pgtable); return 0; }
    // set_huge_zero_folio()
    const entry = pte_mkspecial(folio_mk_pmd(load<u32>(zero, T.F_PFN), load<u64>(vma + T.V_PROT)));
    pgtable_trans_huge_deposit(mm, pgtable);
    store<u64>(vmf_pmd, entry);
    mm_inc_nr_ptes(mm);
    return 0;
  }
  // __do_huge_pmd_anonymous_page()
  const f = vma_alloc_anon_folio_pmd(vma, vmf_address);
  if (f == 0) return VM_FAULT_FALLBACK;
  let pgtable: u32 = 0;
  if (!deposit_mode_lazy()) {
    pgtable = pgtable_alloc_deposit(PT_LEVEL_PTE);
    if (pgtable == 0) { folio_put(f, 0); return VM_FAULT_OOM; }
  }
  if (load<u64>(vmf_pmd) != 0) {
    folio_put(f, 0);
    if (pgtable != 0) pgtable_free(pgtable);
    return 0;
  }
  if (pgtable != 0) pgtable_trans_huge_deposit(mm, pgtable);
  map_anon_folio_pmd_pf(f, vmf_pmd, vma, haddr);
  if (pgtable != 0) mm_inc_nr_ptes(mm);
  deferred_split_folio(f, false);
  return 0;
}

export function create_huge_pmd(vma: u32): u32 {
  if (load<u8>(vma + T.V_KIND) == T.VK_ANON) return do_huge_pmd_anonymous_page(vma);
  return VM_FAULT_FALLBACK;
}

// do_huge_zero_wp_pmd(): a write to the huge zero PMD allocates a THP in place
function do_huge_zero_wp_pmd(vma: u32, orig: u64): u32 {
  const mm = load<u32>(vma + T.V_MM);
  const haddr = vmf_address & ~(<u64>(1 << 21) - 1);
  const f = vma_alloc_anon_folio_pmd(vma, vmf_address);
  if (f == 0) return VM_FAULT_FALLBACK;
  if (load<u64>(vmf_pmd) != orig) { folio_put(f, 0); return 0; }
  // pmdp_huge_clear_flush()
  store<u64>(vmf_pmd, 0);
  flush_pmd_tlb_range(mm, haddr, haddr + (1 << 21));
  map_anon_folio_pmd_pf(f, vmf_pmd, vma, haddr);
  return 0;
}

function do_huge_pmd_wp_page(vma: u32, orig: u64): u32 {
  const unshare = (vmf_flags & FAULT_FLAG_UNSHARE) != 0;
  if (is_huge_zero_pmd(orig)) {
    const r = do_huge_zero_wp_pmd(vma, orig);
    if (!(r & VM_FAULT_FALLBACK)) return r;
    __split_huge_pmd(vma, vmf_pmd, vmf_address, false);
    return VM_FAULT_FALLBACK;
  }
  if (load<u64>(vmf_pmd) != orig) return 0;
  const pfn = pte_pfn(orig);
  const f = page_folio(pfn);
  let reuse = large_page_anon_exclusive(f, pfn);
  if (!reuse) {
    if (folio_ref_count(f) > 1) {
      __split_huge_pmd(vma, vmf_pmd, vmf_address, false);
      return VM_FAULT_FALLBACK;
    }
    // folio_move_anon_rmap() + SetPageAnonExclusive()
    store<u32>(f, load<u32>(vma + T.V_ANON_VMA), T.F_MAPPING);
    large_page_set_anon_exclusive(f, pfn, true);
  }
  if (unshare) return 0;
  let entry = pte_mkyoung(orig);
  entry = maybe_pmd_mkwrite(pte_mkdirty(entry), vma);
  // x86 pmdp_set_access_flags(): write when changed, no flush (permission upgrade)
  if (entry != load<u64>(vmf_pmd)) store<u64>(vmf_pmd, entry);
  return 0;
}

export function wp_huge_pmd(vma: u32, orig: u64): u32 {
  if (load<u8>(vma + T.V_KIND) == T.VK_ANON) return do_huge_pmd_wp_page(vma, orig);
  // COW or write-notify of a file/shmem PMD is handled at PTE level
  __split_huge_pmd(vma, vmf_pmd, vmf_address, false);
  return VM_FAULT_FALLBACK;
}

// huge_pmd_set_accessed() -> touch_pmd()
export function huge_pmd_set_accessed(vma: u32, orig: u64): void {
  const write = (vmf_flags & FAULT_FLAG_WRITE) != 0;
  let e = pte_mkyoung(orig);
  if (write) e = pte_mkdirty(e);
  if (e != orig && write) store<u64>(vmf_pmd, e);
}

// =====================================================================================
// PMD split (__split_huge_pmd_locked) and zap (zap_huge_pmd)
// =====================================================================================

// Records of PTEs "unmapped" by a freezing split (try_to_migrate's migration entries):
// (vma, ptep, entry, AE) per PTE, kept in 2 MiB chunks.
const MIG_MAX_CHUNKS: u32 = 1024;
const mig_chunks = memory.data(4 * MIG_MAX_CHUNKS);
let mig_n: u32 = 0;
const MIG_REC: u32 = 16;
const MIG_PER_CHUNK: u32 = (1 << 21) / MIG_REC;

function mig_push(vma: u32, ptep: u32, entry: u64): bool {
  const c = mig_n / MIG_PER_CHUNK;
  if (c >= MIG_MAX_CHUNKS) return false;
  if (mig_n % MIG_PER_CHUNK == 0 && load<u32>(mig_chunks + 4 * c) == 0) {
    const ch = alloc_chunk();
    if (ch == 0) return false;
    store<u32>(mig_chunks + 4 * c, ch);
  }
  const r = load<u32>(mig_chunks + 4 * c) + (mig_n % MIG_PER_CHUNK) * MIG_REC;
  store<u32>(r, vma);
  store<u32>(r, ptep, 4);
  store<u64>(r, entry, 8);
  mig_n++;
  return true;
}
@inline function mig_rec(i: u32): u32 {
  return load<u32>(mig_chunks + 4 * (i / MIG_PER_CHUNK)) + (i % MIG_PER_CHUNK) * MIG_REC;
}
function mig_reset(): void {
  for (let c: u32 = 0; c < MIG_MAX_CHUNKS; c++) {
    const ch = load<u32>(mig_chunks + 4 * c);
    if (ch == 0) break;
    free_chunk(ch);
    store<u32>(mig_chunks + 4 * c, 0);
  }
  mig_n = 0;
}
// the AE bit of a recorded mapping travels in a software bit of the saved entry
const MIG_AE: u64 = <u64>1 << 52;

function __split_huge_zero_page_pmd(vma: u32, pmdp: u32, haddr: u64): void {
  const mm = load<u32>(vma + T.V_MM);
  const old = load<u64>(pmdp);
  store<u64>(pmdp, 0);
  flush_pmd_tlb_range(mm, haddr, haddr + (1 << 21));
  const pgtable = pgtable_trans_huge_withdraw(mm);
  let entry = pte_mkspecial(pfn_pte(ZERO_PFN, load<u64>(vma + T.V_PROT)));
  if (pte_uffd_wp(old)) entry |= _PAGE_UFFD_WP;
  fill_table_same(table_host(pgtable), entry);
  store<u64>(pmdp, mk_table_entry(pgtable));
}

// __split_huge_pmd_locked(): replace a PMD leaf by a table of 512 PTEs.
// freeze: leave the PTEs none and record them for remapping (folio split).
function __split_huge_pmd_locked(vma: u32, pmdp: u32, haddr: u64, freeze: bool): void {
  const mm = load<u32>(vma + T.V_MM);
  count_vm_event(THP_SPLIT_PMD);
  if (load<u8>(vma + T.V_KIND) != T.VK_ANON) {
    split_file_pmd(vma, pmdp, haddr);
    return;
  }
  if (is_huge_zero_pmd(load<u64>(pmdp))) {
    __split_huge_zero_page_pmd(vma, pmdp, haddr);
    return;
  }
  // pmdp_invalidate(): the PMD never goes through "none" (no small/huge aliasing)
  const old = load<u64>(pmdp);
  store<u64>(pmdp, pmd_mkinvalid(old));
  flush_pmd_tlb_range(mm, haddr, haddr + (1 << 21));
  const pfn = pte_pfn(old);
  const f = page_folio(pfn);
  const dirty = pte_dirty(old);
  if (dirty) store<u16>(f, load<u16>(f, T.F_FLAGS) | T.FF_DIRTY, T.F_FLAGS);
  const anon_exclusive = large_page_anon_exclusive(f, pfn);
  let pgtable: u32;
  if (load<u32>(mm + T.MM_NR_DEPOSITED) == 0) {
    // LAZY-PT (V8 lazy-at-split): nothing was deposited, the PTE table is allocated now;
    // on failure the PMD stays mapped and the caller's fault/zap retries later
    pgtable = pgtable_alloc(PT_LEVEL_PTE);
    if (pgtable == 0) { store<u64>(pmdp, old); return; }
    mm_inc_nr_ptes(mm);
  } else {
    pgtable = pgtable_trans_huge_withdraw(mm);
  }
  let entry = pfn_pte(pfn, load<u64>(vma + T.V_PROT));
  if (pte_write(old)) entry = pte_mkwrite(entry);
  if (!pte_young(old)) entry = pte_mkold(entry);
  if (dirty) entry = pte_mkdirty(entry);
  if (pte_soft_dirty(old)) entry |= _PAGE_SOFT_DIRTY;
  if (pte_uffd_wp(old)) entry |= _PAGE_UFFD_WP;
  const ptes = table_host(pgtable);
  if (freeze) {
    // try_to_migrate(): the PTEs become migration entries, recorded for the remap
    large_page_set_anon_exclusive(f, pfn, false);
    for (let i: u32 = 0; i < 512; i++) mig_push(vma, ptes + (i << 3), (entry + (<u64>i << 12)) | (anon_exclusive ? MIG_AE : 0));
    folio_remove_rmap_entire(f, vma, RMAP_LEVEL_PMD);
    folio_put(f, 0); // the PMD mapping's reference
  } else {
    folio_ref_add_large(f, 511);
    folio_add_anon_rmap_ptes(f, pfn, 512, vma, anon_exclusive);
    fill_pte_table(ptes, entry);
    folio_remove_rmap_entire(f, vma, RMAP_LEVEL_PMD);
  }
  store<u64>(pmdp, mk_table_entry(pgtable));
}

@inline function folio_ref_add_large(f: u32, n: i32): void {
  store<i32>(f, load<i32>(f, T.F_REFCOUNT) + n, T.F_REFCOUNT);
}

export function __split_huge_pmd(vma: u32, pmdp: u32, address: u64, freeze: bool): void {
  const e = load<u64>(pmdp);
  if (e != 0 && pmd_trans_huge(e)) __split_huge_pmd_locked(vma, pmdp, address & ~(<u64>(1 << 21) - 1), freeze);
}

// split_huge_pmd_address()
export function split_huge_pmd_address(vma: u32, address: u64): void {
  const pmdp = walk_to_pmd(load<u32>(vma + T.V_MM), address);
  if (pmdp != 0) __split_huge_pmd(vma, pmdp, address, false);
}

// split_huge_pmd_if_needed(): an unaligned boundary inside a possible THP range
function split_huge_pmd_if_needed(vma: u32, address: u64): void {
  const PMD_SIZE: u64 = 1 << 21;
  if ((address & (PMD_SIZE - 1)) == 0) return;
  const lo = address & ~(PMD_SIZE - 1), hi = lo + PMD_SIZE;
  if (lo >= load<u64>(vma + T.V_START) && hi <= load<u64>(vma + T.V_END)) split_huge_pmd_address(vma, address);
}

// vma_adjust_trans_huge()
// false: a PUD could not be split (V8 lazy-at-split without memory); nothing changed
export function vma_adjust_trans_huge(vma: u32, start: u64, end: u64, next: u32): bool {
  if (!vma_adjust_trans_huge_pud(vma, start, end)) return false;
  split_huge_pmd_if_needed(vma, start);
  split_huge_pmd_if_needed(vma, end);
  if (next != 0) split_huge_pmd_if_needed(next, end);
  return true;
}

// zap_deposited_table()
function zap_deposited_table(mm: u32): void {
  if (load<u32>(mm + T.MM_NR_DEPOSITED) == 0) return; // lazy-at-split: nothing deposited
  pgtable_free(pgtable_trans_huge_withdraw_to_free(mm));
  mm_dec_nr_ptes(mm);
}

// zap_huge_pmd(): returns true when the PMD was zapped as a whole
export function zap_huge_pmd(vma: u32, pmdp: u32, addr: u64): bool {
  const mm = load<u32>(vma + T.V_MM);
  const orig = load<u64>(pmdp);
  if (orig == 0 || !pmd_trans_huge(orig)) return false;
  store<u64>(pmdp, 0);
  tlb_remove_pmd_tlb_entry(addr);
  if (is_huge_zero_pmd(orig)) {
    zap_deposited_table(mm);
    return true;
  }
  const pfn = pte_pfn(orig);
  const f = page_folio(pfn);
  folio_remove_rmap_entire(f, vma, RMAP_LEVEL_PMD);
  if (load<u8>(f, T.F_KIND) == T.FK_ANON) {
    zap_deposited_table(mm);
    add_mm_counter(mm, MM_ANONPAGES, -512);
  } else {
    zap_file_pmd_accounting(vma, f, orig);
  }
  tlb_remove_folio_refs(f, pfn, 1);
  return true;
}

// change_huge_pmd(): returns 0 (changed under us), 1 (skipped) or HPAGE_PMD_NR
export function change_huge_pmd(vma: u32, pmdp: u32, addr: u64, newprot: u64, cp_flags: u32): u32 {
  const old = load<u64>(pmdp);
  if (!pmd_trans_huge(old)) return 0;
  // pmdp_invalidate_ad(): x86 needs no flush here
  let entry = pmd_modify(old, newprot);
  if ((cp_flags & 1) && !pte_write(entry) && can_change_pmd_writable(vma, entry)) entry = pte_mkwrite(entry);
  store<u64>(pmdp, entry);
  if (huge_pmd_needs_flush(old, entry)) tlb_flush_pmd_range(addr, 1 << 21);
  return 512;
}

function can_change_pmd_writable(vma: u32, e: u64): bool {
  const flags = load<u64>(vma + T.V_FLAGS);
  if ((flags & T.VM_WRITE) == 0) return false;
  if ((e & 0x101) == 0x100) return false; // protnone
  if ((flags & T.VM_SHARED) == 0) {
    if (pte_special(e)) return false;
    const pfn = pte_pfn(e);
    const f = page_folio(pfn);
    return f != 0 && load<u8>(f, T.F_KIND) == T.FK_ANON && large_page_anon_exclusive(f, pfn);
  }
  return pte_dirty(e);
}

// x86 huge_pmd_needs_flush(): like pte_needs_flush() but A counts
function huge_pmd_needs_flush(old: u64, nw: u64): bool {
  if ((old & 1) == 0) return false;
  if (pte_pfn(old) != pte_pfn(nw)) return true;
  const flush_on_clear: u64 = 0x61; // D | P | A
  const flush_on_change: u64 = 0x2 | 0x4 | 0x8 | 0x10 | 0x80 | 0x100 | 0x1000 | (<u64>0xf << 59) | (<u64>1 << 63);
  const diff = (old ^ nw) & ~PTE_PFN_MASK;
  if (diff & old & flush_on_clear) return true;
  return (diff & flush_on_change) != 0;
}

export function count_numa_huge_pte_updates(n: u64): void {
  count_vm_events(NUMA_HUGE_PTE_UPDATES, n);
}

// =====================================================================================
// Folio split (__folio_split, uniform): unmap every mapping (PMD mappings are split
// with freeze), split the folio, remap (all-zero subpages to the shared zero page
// when splitting to order 0), free what no one maps.
// =====================================================================================

const EBUSY: i32 = 16;
const EINVAL: i32 = 22;
const EAGAIN: i32 = 11;

// Walk every VMA of the folio's anon_vma family that may map it, and turn each
// mapping of the folio into recorded PTEs (try_to_migrate with TTU_SPLIT_HUGE_PMD).
function unmap_folio(f: u32): void {
  const av = load<u32>(f, T.F_MAPPING);
  const root = load<u32>(av + AV_ROOT);
  const head = load<u32>(f, T.F_PFN);
  const nr = folio_nr_pages(f);
  const index = load<u64>(f, T.F_INDEX);
  for (let vma = load<u32>(root + AV_HEAD); vma != 0; vma = load<u32>(vma + T.V_AV_NEXT)) {
    const mm = load<u32>(vma + T.V_MM);
    const vs = load<u64>(vma + T.V_START), ve = load<u64>(vma + T.V_END);
    const pgoff = load<u64>(vma + T.V_PGOFF);
    if (index + nr <= pgoff || index >= pgoff + ((ve - vs) >> 12)) continue;
    const fstart = vs + ((index - pgoff) << 12); // may lie below vs (wraps): compare per page
    let touched = false;
    for (let i: u32 = 0; i < nr; ) {
      const a = fstart + (<u64>i << 12);
      if (a < vs || a >= ve) { i++; continue; }
      const pudp = walk_to_pud(mm, a);
      if (pudp == 0) { i = next_boundary(i, a, 30); continue; }
      const pude = load<u64>(pudp);
      if (pude == 0) { i = next_boundary(i, a, 30); continue; }
      if (pmd_trans_huge(pude)) {
        if (pte_pfn(pude) == head && __split_huge_pud_locked(vma, pudp, a, true)) { touched = true; continue; }
        i = next_boundary(i, a, 30);
        continue;
      }
      const pmdp = entry_ptr(table_of(pude), a, 21);
      const pmde = load<u64>(pmdp);
      if (pmde == 0) { i = next_boundary(i, a, 21); continue; }
      if (pmd_trans_huge(pmde)) {
        if (!pte_special(pmde) && page_folio(pte_pfn(pmde)) == f) {
          __split_huge_pmd_locked(vma, pmdp, a & ~(<u64>(1 << 21) - 1), true);
          touched = true;
        }
        i = next_boundary(i, a, 21);
        continue;
      }
      const ptep = entry_ptr(table_of(pmde), a, 12);
      const pte = load<u64>(ptep);
      if (pte != 0 && pte_present(pte) && !pte_special(pte) && pte_pfn(pte) == head + i) {
        // try_to_migrate_one(): record, clear, drop the mapping
        const ae = large_page_anon_exclusive(f, head + i);
        large_page_set_anon_exclusive(f, head + i, false);
        mig_push(vma, ptep, pte | (ae ? MIG_AE : 0));
        store<u64>(ptep, 0);
        folio_remove_rmap_ptes(f, head + i, 1, vma);
        folio_put(f, 0);
        touched = true;
      }
      i++;
    }
    if (touched) flush_tlb_mm(mm); // try_to_unmap_flush()
  }
}

@inline function next_boundary(i: u32, a: u64, shift: u32): u32 {
  const size: u64 = <u64>1 << shift;
  const next = (a + size) & ~(size - 1);
  return i + <u32>((next - a) >> 12);
}

// The new folio containing page pfn after the split (record, or 0 for order 0).
// Frames of the original folio are rewritten in place.
function split_frames(f: u32, new_order: u32): void {
  const head = load<u32>(f, T.F_PFN);
  const order = folio_order(f);
  const nr = folio_nr_pages(f);
  const flags = load<u16>(f, T.F_FLAGS);
  const dirty = (flags & T.FF_DIRTY) != 0;
  const new_nr: u32 = 1 << new_order;
  // make sure every page has a frame entry (pageblocks of order >= 9 folios may have none)
  for (let p = head; p < head + nr; p += 512) frame_ptr_alloc(p);
  const head_nonzero = (flags & T.FF_HEAD_NONZERO) != 0;
  for (let i: u32 = 0; i < nr; i += new_nr) {
    const pfn = head + i;
    if (new_order == 0) {
      const fp = frame_ptr_alloc(pfn);
      const e = load<u32>(fp);
      const nonzero = i == 0 ? head_nonzero : (e & TL_NONZERO) != 0;
      store<u32>(fp, (FT_SMALL << 28) | (dirty ? S_DIRTY : 0) | (nonzero ? S_NONZERO : 0));
      continue;
    }
    const nf = i == 0 ? f : folio_record_clone(f);
    store<u32>(nf, pfn, T.F_PFN);
    store<u8>(nf, <u8>new_order, T.F_ORDER);
    store<i32>(nf, 0, T.F_REFCOUNT);
    store<i32>(nf, 0, T.F_ENTIRE_MAPCOUNT);
    store<i32>(nf, 0, T.F_LARGE_MAPCOUNT);
    store<i32>(nf, 0, T.F_NR_PAGES_MAPPED);
    store<i32>(nf, 0, T.F_HEAD_MAPCOUNT);
    store<u32>(nf, 0, T.F_MM_ID0);
    store<u32>(nf, 0, T.F_MM_ID1);
    store<i32>(nf, -1, T.F_MM_CNT0);
    store<i32>(nf, -1, T.F_MM_CNT1);
    store<u64>(nf, load<u64>(f, T.F_INDEX) + i, T.F_INDEX);
    const fp = frame_ptr_alloc(pfn);
    const nonzero = i == 0 ? head_nonzero : (load<u32>(fp) & TL_NONZERO) != 0;
    let fl = load<u16>(nf, T.F_FLAGS) & ~(T.FF_HEAD_ANON_EXCLUSIVE | T.FF_PARTIALLY_MAPPED | T.FF_DEFERRED | T.FF_HEAD_NONZERO);
    if (nonzero) fl |= T.FF_HEAD_NONZERO;
    store<u16>(nf, fl, T.F_FLAGS);
    store<u32>(fp, (FT_HEAD << 28) | (nf >> 4));
    for (let j: u32 = 1; j < new_nr; j++) {
      const tp = frame_ptr_alloc(pfn + j);
      store<u32>(tp, (FT_TAIL << 28) | new_order | (load<u32>(tp) & TL_NONZERO));
    }
    if (new_order >= 9) {
      for (let q: u32 = 0; q < (new_nr >> 9); q++) store<u32>(pbtab_folio_ptr(pfn + (q << 9)), nf);
    }
  }
  if (order >= 9 && new_order < 9) {
    for (let q: u32 = 0; q < (nr >> 9); q++) {
      store<u32>(pbtab_folio_ptr(head + (q << 9)), 0);
      const ok = pb_mark_broken((head >> 9) + q);
      assert(ok, "folio split: no host memory for buddy records");
    }
  }
}

@inline function pbtab_folio_ptr(pfn: u32): u32 { return pb_rec(pfn >> 9) + PB_FOLIO; }

function folio_record_clone(f: u32): u32 {
  const nf = slab_alloc(SLAB_FOLIO);
  assert(nf != 0, "folio split: no host memory for folio records");
  memory.copy(nf, f, 96);
  return nf;
}

// remove_migration_ptes(): map the recorded PTEs again, now on the new folios
function remap_page(use_zero_page: bool): void {
  for (let i: u32 = 0; i < mig_n; i++) {
    const r = mig_rec(i);
    const vma = load<u32>(r);
    const ptep = load<u32>(r, 4);
    let entry = load<u64>(r, 8);
    const ae = (entry & MIG_AE) != 0;
    entry &= ~MIG_AE;
    const pfn = pte_pfn(entry);
    const nf = page_folio(pfn);
    // try_to_map_unused_to_zeropage(): an all-zero order-0 page becomes the zero page
    if (use_zero_page && nf == 0 && (load<u64>(vma + T.V_FLAGS) & T.VM_LOCKED) == 0 && !page_maybe_nonzero(pfn)) {
      store<u64>(ptep, pte_mkspecial(pfn_pte(ZERO_PFN, load<u64>(vma + T.V_PROT))));
      add_mm_counter(load<u32>(vma + T.V_MM), MM_ANONPAGES, -1);
      continue;
    }
    folio_get(nf, pfn);
    folio_add_anon_rmap_ptes(nf, pfn, 1, vma, ae);
    store<u64>(ptep, entry);
  }
}

// split_huge_page_to_list_to_order() for anonymous folios: 0 or -errno
export function split_folio_to_order(f: u32, new_order: u32): i32 {
  const order = folio_order(f);
  const kind = load<u8>(f, T.F_KIND);
  if (new_order >= order) return -EINVAL;
  if (kind == T.FK_HUGE_ZERO) return -EBUSY;
  if (kind == T.FK_ANON && new_order == 1) return -EINVAL;
  if (kind != T.FK_ANON) return -EBUSY; // page-cache folios are not split by this model
  if (load<u32>(f, T.F_MAPPING) == 0) return -EBUSY;
  // can_split_folio(): every reference must be a mapping
  if (folio_mapcount(f, 0) != folio_ref_count(f)) {
    split_counters(order, false);
    return -EAGAIN;
  }
  const nr = folio_nr_pages(f);
  const head = load<u32>(f, T.F_PFN);
  // hold a reference across the split (the caller's pin)
  folio_ref_add_large(f, 1);
  mig_reset();
  unmap_folio(f);
  if (folio_mapcount(f, 0) != 0) {
    // a PUD mapping could not be split (V8 lazy-at-split): put everything back
    remap_page(false);
    mig_reset();
    folio_ref_add_large(f, -1);
    split_counters(order, false);
    return -EAGAIN;
  }
  // freeze: only our reference is left
  deferred_list_del(f);
  const fl = load<u16>(f, T.F_FLAGS);
  if (fl & T.FF_PARTIALLY_MAPPED) {
    store<u16>(f, fl & ~T.FF_PARTIALLY_MAPPED, T.F_FLAGS);
    mod_mthp_stat(order, MTHP_STAT_NR_ANON_PARTIALLY_MAPPED, -1);
  }
  // __split_unmapped_folio(): nr_anon moves from the old order to the new ones
  mod_mthp_stat(order, MTHP_STAT_NR_ANON, -1);
  split_frames(f, new_order);
  const new_nr: u32 = 1 << new_order;
  if (new_order >= 2) for (let i: u32 = 0; i < nr; i += new_nr) mod_mthp_stat(new_order, MTHP_STAT_NR_ANON, 1);
  // every new folio starts with the split's reference
  for (let i: u32 = 0; i < nr; i += new_nr) {
    if (new_order == 0) store<u32>(frame_ptr_alloc(head + i), load<u32>(frame_ptr_alloc(head + i)) + (1 << S_EXTRA_SHIFT));
    else store<i32>(page_folio(head + i), 1, T.F_REFCOUNT);
  }
  remap_page(new_order == 0);
  mig_reset();
  // drop the split's reference: unmapped pieces are freed
  for (let i: u32 = 0; i < nr; i += new_nr) {
    const nf = new_order == 0 ? 0 : page_folio(head + i);
    folio_put(nf, head + i);
  }
  split_counters(order, true);
  return 0;
}

function split_counters(order: u32, ok: bool): void {
  if (order == PMD_ORDER) count_vm_event(ok ? THP_SPLIT_PAGE : THP_SPLIT_PAGE_FAILED);
  count_mthp_stat(order, ok ? MTHP_STAT_SPLIT : MTHP_STAT_SPLIT_FAILED);
}

// thp_underused(): more than max_ptes_none zero-filled subpages
function thp_underused(f: u32): bool {
  const max_ptes_none = kn(K_KHUGEPAGED_MAX_PTES_NONE);
  if (max_ptes_none == 511) return false;
  const head = load<u32>(f, T.F_PFN);
  const nr = folio_nr_pages(f);
  let zero: u32 = 0, filled: u32 = 0;
  for (let i: u32 = 0; i < nr; i++) {
    if (!page_maybe_nonzero(head + i)) {
      zero++;
      if (zero > max_ptes_none) return true;
    } else {
      filled++;
      if (filled >= 512 - max_ptes_none) return false;
    }
  }
  return false;
}

// deferred_split_scan(): the shrinker. Returns the number of folios split.
export function deferred_split_scan(nr_to_scan: u32): u32 {
  let split: u32 = 0;
  // take the queue: folios are removed first, partially mapped ones re-added if not split
  const batch = memory.data(4 * 512);
  let n: u32 = 0;
  let f = split_queue_head;
  while (f != 0 && n < 512 && n < nr_to_scan) {
    const next = load<u32>(f, T.F_DEFERRED_NEXT);
    folio_ref_add_large(f, 1); // folio_try_get()
    store<u32>(batch + 4 * n, f);
    n++;
    deferred_list_del(f); // list_del_init: the partially-mapped state stays
    f = next;
  }
  for (let i: u32 = 0; i < n; i++) {
    f = load<u32>(batch + 4 * i);
    let did_split = false;
    let underused = false;
    const partially = (load<u16>(f, T.F_FLAGS) & T.FF_PARTIALLY_MAPPED) != 0;
    if (!partially) {
      underused = thp_underused(f);
      if (!underused) { folio_put(f, 0); continue; }
    }
    folio_ref_add_large(f, -1); // split_folio() is called with our reference held: drop it for the refcount check
    const r = split_folio_to_order(f, 0);
    if (r == 0) {
      did_split = true;
      if (underused) count_vm_event(THP_UNDERUSED_SPLIT_PAGE);
      split++;
      continue;
    }
    folio_ref_add_large(f, 1);
    // only a partially mapped folio goes back on the queue
    if ((load<u16>(f, T.F_FLAGS) & T.FF_PARTIALLY_MAPPED) != 0) deferred_list_add(f);
    folio_put(f, 0);
  }
  return split;
}


// =====================================================================================
// PUD THP for anonymous memory (seed 000, RFC-PUD) and PUD leaves in mprotect (seed 004)
// =====================================================================================

import {
  alloc_pud_predeposit_ptables, free_pud_predeposit_ptables, pgtable_trans_huge_pud_deposit,
  pgtable_trans_huge_pud_withdraw, pud_withdraw_all_ptes,
} from "./pgtable_generic";
import {
  knob as kn2, K_V_PUD_COW, K_V_PUD_SPLIT_TARGET, K_V_MPROTECT_PUD_WRITE_UPGRADE, K_V_MPROTECT_PUD_PARTIAL,
} from "../kernel/sysfs";
import { mm_add_pgtables_bytes } from "../arch/x86/pgtable";
import { tlb_flush_pud_range } from "./mmu_gather";
import { copy_page_contents, page_copy_nonzero } from "./folio";

const PUD_SIZE: u64 = 1 << 30;
const PMD_SIZE_: u64 = 1 << 21;
export const HPAGE_PUD_NR: i32 = 262144;

@inline function pud_deposit_lazy(): bool { return kn2(K_V_PGTABLE_DEPOSIT) == 1; }

// vma_alloc_anon_folio_pud(): folio_alloc_gigantic() through alloc_contig_range
function vma_alloc_anon_folio_pud(vma: u32, addr: u64): u32 {
  const f = folio_alloc_large(PUD_ORDER, T.FK_ANON);
  if (f == 0) {
    count_vm_event(THP_FAULT_FALLBACK);
    count_mthp_stat(PUD_ORDER, MTHP_STAT_ANON_FAULT_FALLBACK);
    return 0;
  }
  folio_zero_user(f, addr);
  store<u16>(f, load<u16>(f, T.F_FLAGS) | T.FF_LARGE_RMAPPABLE, T.F_FLAGS);
  return f;
}

// do_huge_pud_anonymous_page() (seed 000)
function do_huge_pud_anonymous_page(vma: u32): u32 {
  const mm = load<u32>(vma + T.V_MM);
  const haddr = vmf_address & ~(PUD_SIZE - 1);
  if (!thp_vma_suitable_order(vma, haddr, PUD_ORDER)) return VM_FAULT_FALLBACK;
  const r = vmf_anon_prepare(vma);
  if (r) return r;
  const f = vma_alloc_anon_folio_pud(vma, vmf_address);
  if (f == 0) return VM_FAULT_FALLBACK;
  let pmd_table: u32 = 0;
  if (!pud_deposit_lazy()) {
    // alloc_pud_predeposit_ptables(): any failure falls back, no counter
    pmd_table = alloc_pud_predeposit_ptables();
    if (pmd_table == 0) { folio_put(f, 0); return VM_FAULT_FALLBACK; }
  }
  if (load<u64>(vmf_pud) != 0) {
    folio_put(f, 0);
    if (pmd_table != 0) free_pud_predeposit_ptables(pmd_table);
    return 0;
  }
  if (pmd_table != 0) pgtable_trans_huge_pud_deposit(mm, pmd_table);
  // map_anon_folio_pud_pf()
  const pfn = load<u32>(f, T.F_PFN);
  let entry = folio_mk_pmd(pfn, load<u64>(vma + T.V_PROT));
  entry = maybe_pmd_mkwrite(pte_mkdirty(entry), vma);
  folio_add_new_anon_rmap(f, pfn, vma, haddr, true);
  store<u64>(vmf_pud, entry);
  deferred_split_folio(f, false);
  add_mm_counter(mm, MM_ANONPAGES, HPAGE_PUD_NR);
  count_vm_event(THP_FAULT_ALLOC);
  count_mthp_stat(PUD_ORDER, MTHP_STAT_ANON_FAULT_ALLOC);
  if (pmd_table != 0) {
    mm_inc_nr_pmds(mm);
    mm_add_pgtables_bytes(mm, 512 * 4096); // 512 x mm_inc_nr_ptes()
  }
  return 0;
}

export function create_huge_pud(vma: u32): u32 {
  if (load<u8>(vma + T.V_KIND) == T.VK_ANON) return do_huge_pud_anonymous_page(vma);
  return VM_FAULT_FALLBACK;
}

// do_huge_pud_wp_page(): the seed splits unconditionally (V6 split-to-pte-always);
// reuse-if-exclusive-else-split (ZY2020) and copy-1G are the alternatives.
function do_huge_pud_wp_page(vma: u32, orig: u64): u32 {
  const policy = kn2(K_V_PUD_COW);
  const pfn = pte_pfn(orig);
  const f = page_folio(pfn);
  // reuse-if-exclusive-else-split and copy-1G both reuse a PUD nobody else maps
  if (policy != 0) {
    let excl = large_page_anon_exclusive(f, pfn);
    if (!excl && folio_ref_count(f) == 1) {
      store<u32>(f, load<u32>(vma + T.V_ANON_VMA), T.F_MAPPING);
      large_page_set_anon_exclusive(f, pfn, true);
      excl = true;
    }
    if (excl) {
      if (vmf_flags & FAULT_FLAG_UNSHARE) return 0;
      const e = maybe_pmd_mkwrite(pte_mkdirty(pte_mkyoung(orig)), vma);
      if (e != load<u64>(vmf_pud)) store<u64>(vmf_pud, e);
      return 0;
    }
  }
  if (policy == 2) {
    const r = copy_huge_pud_on_write(vma, orig);
    if (!(r & VM_FAULT_FALLBACK)) return r;
    // like the old do_huge_pmd_wp_page() copy path: no 1 GiB folio, split instead
    count_vm_event(THP_FAULT_FALLBACK);
    count_mthp_stat(PUD_ORDER, MTHP_STAT_ANON_FAULT_FALLBACK);
  }
  if (!__split_huge_pud(vma, vmf_pud, vmf_address)) return VM_FAULT_OOM;
  return VM_FAULT_FALLBACK;
}

// V6 copy-1G: the design the seed rejects ("would require copying 1GB of data")
function copy_huge_pud_on_write(vma: u32, orig: u64): u32 {
  const mm = load<u32>(vma + T.V_MM);
  const haddr = vmf_address & ~(PUD_SIZE - 1);
  const nf = folio_alloc_large(PUD_ORDER, T.FK_ANON);
  if (nf == 0) return VM_FAULT_FALLBACK;
  const old_pfn = pte_pfn(orig);
  const oldf = page_folio(old_pfn);
  const npfn = load<u32>(nf, T.F_PFN);
  if (data_mode) {
    for (let i: u32 = 0; i < 262144; i += 512) memory.copy(pfn_to_host(npfn + i), pfn_to_host(old_pfn + i), 1 << 21);
  } else {
    for (let i: u32 = 0; i < 262144; i++) page_copy_nonzero(npfn + i, old_pfn + i);
  }
  store<u64>(vmf_pud, 0);
  flush_pud_tlb_range(mm, haddr, haddr + PUD_SIZE);
  let entry = folio_mk_pmd(npfn, load<u64>(vma + T.V_PROT));
  entry = maybe_pmd_mkwrite(pte_mkdirty(entry), vma);
  folio_add_new_anon_rmap(nf, npfn, vma, haddr, true);
  store<u64>(vmf_pud, entry);
  folio_remove_rmap_entire(oldf, vma, RMAP_LEVEL_PUD);
  folio_put(oldf, 0);
  count_vm_event(THP_FAULT_ALLOC);
  count_mthp_stat(PUD_ORDER, MTHP_STAT_ANON_FAULT_ALLOC);
  return 0;
}

export function wp_huge_pud(vma: u32, orig: u64): u32 {
  if (load<u8>(vma + T.V_KIND) == T.VK_ANON) return do_huge_pud_wp_page(vma, orig);
  if (!__split_huge_pud(vma, vmf_pud, vmf_address)) return VM_FAULT_OOM;
  return VM_FAULT_FALLBACK;
}

export function huge_pud_set_accessed(vma: u32, orig: u64): void {
  const write = (vmf_flags & FAULT_FLAG_WRITE) != 0;
  let e = pte_mkyoung(orig);
  if (write) e = pte_mkdirty(e);
  if (e != orig && write) store<u64>(vmf_pud, e);
}

// __split_huge_pud_locked() for an anonymous PUD THP (V7): 'pte' (the seed: 1 PMD
// table + 512 PTE tables from the deposit), 'pmd-thps' (512 PMD-mapped THPs when
// the folio can be split, else 'pte'), 'zap' (6.18's DAX behaviour: dropped).
// Returns false only for V8 lazy-at-split when the 513 tables cannot be allocated
// (the PUD is left as it was; callers fail with -ENOMEM / VM_FAULT_OOM).
function __split_huge_pud_locked(vma: u32, pudp: u32, haddr: u64, freeze: bool): bool {
  const mm = load<u32>(vma + T.V_MM);
  const old = load<u64>(pudp);
  const pfn = pte_pfn(old);
  const f = page_folio(pfn);
  if (kn2(K_V_PUD_SPLIT_TARGET) == 2 && !freeze) {
    count_vm_event(THP_SPLIT_PUD);
    // pudp_huge_clear_flush(): the PUD becomes none
    store<u64>(pudp, 0);
    flush_pud_tlb_range(mm, haddr, haddr + PUD_SIZE);
    folio_remove_rmap_entire(f, vma, RMAP_LEVEL_PUD);
    add_mm_counter(mm, MM_ANONPAGES, -HPAGE_PUD_NR);
    zap_pud_deposit(mm);
    folio_put(f, 0);
    return true;
  }
  let pmd_table: u32;
  const lazy = load<u32>(mm + T.MM_NR_PUD_DEPOSITED) == 0;
  if (lazy) {
    // V8 lazy-at-split: allocate the 513 tables now; failure leaves the PUD mapped
    pmd_table = alloc_pud_predeposit_ptables();
    if (pmd_table == 0) return false;
    mm_inc_nr_pmds(mm);
    mm_add_pgtables_bytes(mm, 512 * 4096);
  } else {
    pmd_table = pgtable_trans_huge_pud_withdraw(mm);
  }
  count_vm_event(THP_SPLIT_PUD);
  store<u64>(pudp, pmd_mkinvalid(old));
  flush_pud_tlb_range(mm, haddr, haddr + PUD_SIZE);
  const dirty = pte_dirty(old);
  if (dirty) store<u16>(f, load<u16>(f, T.F_FLAGS) | T.FF_DIRTY, T.F_FLAGS);
  const anon_exclusive = large_page_anon_exclusive(f, pfn);
  let entry = pfn_pte(pfn, load<u64>(vma + T.V_PROT));
  if (pte_write(old)) entry = pte_mkwrite(entry);
  if (!pte_young(old)) entry = pte_mkold(entry);
  if (dirty) entry = pte_mkdirty(entry);
  if (pte_soft_dirty(old)) entry |= _PAGE_SOFT_DIRTY;
  const pmds = table_host(pmd_table);
  // V7 pmd-thps ([ZY2020]): a folio this PUD alone maps becomes 512 PMD-mapped THPs.
  // A shared or pinned one cannot be split, so it goes to PTEs like the seed.
  if (kn2(K_V_PUD_SPLIT_TARGET) == 1 && !freeze && folio_mapcount(f, 0) == 1 && folio_ref_count(f) == 1) {
    split_pud_to_pmd_thps(vma, f, pmd_table, entry | _PAGE_PSE, anon_exclusive);
    store<u64>(pudp, mk_table_entry(pmd_table));
    return true;
  }
  if (!freeze) {
    folio_ref_add_large(f, HPAGE_PUD_NR - 1);
    folio_add_anon_rmap_ptes(f, pfn, <u32>HPAGE_PUD_NR, vma, anon_exclusive);
  } else {
    large_page_set_anon_exclusive(f, pfn, false);
  }
  // take the whole PTE-table stack first: its head lives in PMD slot 1, which the
  // loop overwrites (the tables chain through their own word 0)
  let next_table = pud_withdraw_all_ptes(pmd_table);
  for (let i: u32 = 0; i < 512; i++) {
    const pte_table = next_table;
    const ptes = table_host(pte_table);
    next_table = <u32>load<u64>(ptes);
    store<u64>(ptes, 0);
    const e = entry + (<u64>(i << 9) << 12);
    if (freeze) {
      memory.fill(ptes, 0, 4096); // deposits are not zeroed: the recorded PTEs stay none
      for (let j: u32 = 0; j < 512; j++) mig_push(vma, ptes + (j << 3), (e + (<u64>j << 12)) | (anon_exclusive ? MIG_AE : 0));
    } else {
      fill_pte_table(ptes, e);
    }
    store<u64>(pmds + (i << 3), mk_table_entry(pte_table));
  }
  folio_remove_rmap_entire(f, vma, RMAP_LEVEL_PUD);
  if (freeze) folio_put(f, 0);
  store<u64>(pudp, mk_table_entry(pmd_table));
  return true;
}

// The folio (mapped by nothing now but the invalid PUD) is split into order-9
// folios, each mapped by a PMD of pmd_table with one of the deposited PTE tables
// moved to the mm's PMD deposit (page-table counts are unchanged: the 512
// tables were charged at fault time).
function split_pud_to_pmd_thps(vma: u32, f: u32, pmd_table: u32, entry: u64, anon_exclusive: bool): void {
  const mm = load<u32>(vma + T.V_MM);
  const head = load<u32>(f, T.F_PFN);
  folio_remove_rmap_entire(f, vma, RMAP_LEVEL_PUD);
  deferred_list_del(f);
  mod_mthp_stat(PUD_ORDER, MTHP_STAT_NR_ANON, -1);
  split_frames(f, PMD_ORDER);
  const pmds = table_host(pmd_table);
  let next_table = pud_withdraw_all_ptes(pmd_table);
  for (let i: u32 = 0; i < 512; i++) {
    const pte_table = next_table;
    next_table = <u32>load<u64>(table_host(pte_table));
    store<u64>(table_host(pte_table), 0);
    pgtable_trans_huge_deposit(mm, pte_table);
    const nf = page_folio(head + (i << 9));
    store<i32>(nf, 1, T.F_REFCOUNT);
    folio_add_anon_rmap_pmd(nf, vma, anon_exclusive, RMAP_LEVEL_PMD);
    mod_mthp_stat(PMD_ORDER, MTHP_STAT_NR_ANON, 1);
    store<u64>(pmds + (i << 3), entry + (<u64>(i << 9) << 12));
  }
}

export function __split_huge_pud(vma: u32, pudp: u32, address: u64): bool {
  const e = load<u64>(pudp);
  if (e != 0 && pmd_trans_huge(e)) return __split_huge_pud_locked(vma, pudp, address & ~(PUD_SIZE - 1), false);
  return true;
}

export function split_huge_pud(vma: u32, pudp: u32, addr: u64): bool {
  return __split_huge_pud(vma, pudp, addr);
}

// The PUD analogue of split_huge_pmd_if_needed() for VMA boundaries (seed 000 series)
function vma_adjust_trans_huge_pud(vma: u32, start: u64, end: u64): bool {
  // pre-seed-004 kernels (V14 bad-pud-error) did not split PUD leaves at VMA boundaries
  if (kn2(K_V_MPROTECT_PUD_PARTIAL) == 1) return true;
  const mm = load<u32>(vma + T.V_MM);
  for (let k = 0; k < 2; k++) {
    const a = k == 0 ? start : end;
    if ((a & (PUD_SIZE - 1)) == 0) continue;
    const lo = a & ~(PUD_SIZE - 1);
    if (lo < load<u64>(vma + T.V_START) || lo + PUD_SIZE > load<u64>(vma + T.V_END)) continue;
    const pudp = walk_to_pud(mm, a);
    if (pudp != 0 && !__split_huge_pud(vma, pudp, a)) return false;
  }
  return true;
}

// free the 513 deposited tables of one PUD THP
function zap_pud_deposit(mm: u32): void {
  if (load<u32>(mm + T.MM_NR_PUD_DEPOSITED) == 0) return;
  free_pud_predeposit_ptables(pgtable_trans_huge_pud_withdraw(mm));
  mm_dec_nr_pmds(mm);
  mm_add_pgtables_bytes(mm, -512 * 4096);
}

// zap_huge_pud() for anonymous PUD THPs: withdraws and frees all 513 tables
export function zap_huge_pud(vma: u32, pudp: u32, addr: u64): bool {
  const mm = load<u32>(vma + T.V_MM);
  const orig = load<u64>(pudp);
  if (orig == 0 || !pmd_trans_huge(orig)) return false;
  store<u64>(pudp, 0);
  tlb_remove_pud_tlb_entry(addr);
  const pfn = pte_pfn(orig);
  const f = page_folio(pfn);
  folio_remove_rmap_entire(f, vma, RMAP_LEVEL_PUD);
  add_mm_counter(mm, MM_ANONPAGES, -HPAGE_PUD_NR);
  zap_pud_deposit(mm);
  tlb_remove_folio_refs(f, pfn, 1);
  return true;
}

// change_huge_pud() (seed 004): 0 = changed under us, 1 = skipped, HPAGE_PUD_NR = done.
// pudp_invalidate() flushes at once and the batched tlb_flush_pud_range() flushes
// again (V13); no write upgrade unless V12 like-pmd.
export function change_huge_pud(vma: u32, pudp: u32, addr: u64, newprot: u64, cp_flags: u32): u32 {
  const mm = load<u32>(vma + T.V_MM);
  const old = load<u64>(pudp);
  if (!pmd_trans_huge(old)) return 0;
  store<u64>(pudp, pmd_mkinvalid(old));
  flush_pud_tlb_range(mm, addr, addr + PUD_SIZE);
  let entry = pmd_modify(old, newprot);
  if (kn2(K_V_MPROTECT_PUD_WRITE_UPGRADE) == 1 && (cp_flags & 1) && !pte_write(entry) && can_change_pmd_writable(vma, entry))
    entry = pte_mkwrite(entry);
  store<u64>(pudp, entry);
  tlb_flush_pud_range(addr, PUD_SIZE);
  return <u32>HPAGE_PUD_NR;
}

// change_pud_range() on a partial range: split and retry (S004), or the pre-S004
// "bad pud" path (V14 bad-pud-error: the range is left unchanged, -1)
export let bad_pud_events: u32 = 0;
export function change_pud_partial(vma: u32, pudp: u32, addr: u64): i32 {
  if (kn2(K_V_MPROTECT_PUD_PARTIAL) == 1) { bad_pud_events++; return -1; }
  return __split_huge_pud(vma, pudp, addr) ? 0 : -2;
}

// =====================================================================================
// khugepaged registration (khugepaged_enter_vma)
// =====================================================================================

export function khugepaged_enter_vma(vma: u32): void {
  const mm = load<u32>(vma + T.V_MM);
  if (thp_vma_allowable_orders(vma, load<u64>(vma + T.V_FLAGS), TVA_KHUGEPAGED, 1 << PMD_ORDER) != 0 ||
      (load<u64>(vma + T.V_FLAGS) & T.VM_HUGEPAGE) != 0)
    store<u32>(mm + T.MM_FLAGS, load<u32>(mm + T.MM_FLAGS) | T.MMF_VM_HUGEPAGE);
}

export function madvise_huge_behavior(task: u32, mm: u32, vma: u32, s: u64, e: u64, b: u32): i32 { return -4095; }
