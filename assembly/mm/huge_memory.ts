// Transparent huge pages (mm/huge_memory.c, include/linux/huge_mm.h):
// policy (thp_vma_allowable_orders), the deferred split queue, and the
// huge zero folio. Fault/split/zap paths for PMD and PUD leaves build on these.

import * as T from "./mm_types";
import {
  knob, K_THP_ENABLED, K_ANON_SIZE_BASE, K_THP_SHRINK_UNDERUSED, THP_ALWAYS, THP_NEVER, SIZE_ALWAYS,
  SIZE_INHERIT, SIZE_MADVISE, K_V_PUD_ANON,
} from "../kernel/sysfs";
import {
  count_vm_event, count_mthp_stat, mod_mthp_stat, THP_DEFERRED_SPLIT_PAGE, MTHP_STAT_SPLIT_DEFERRED,
  MTHP_STAT_NR_ANON_PARTIALLY_MAPPED,
} from "./vmstat";
import { folio_order } from "./folio";

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

// huge_anon_orders_{always,madvise,inherit}
function anon_orders(policy: u32): u32 {
  let m: u32 = 0;
  for (let o: u32 = 2; o <= PMD_ORDER; o++) if (knob(K_ANON_SIZE_BASE + o) == policy) m |= 1 << o;
  if (knob(K_ANON_SIZE_BASE + PUD_ORDER) == policy) m |= 1 << PUD_ORDER;
  return m;
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

// thp_vma_allowable_orders(vma, vm_flags, type, orders) for anonymous VMAs
// (shmem and hugetlb VMAs are answered by their own modules).
export function thp_vma_allowable_orders(vma: u32, vm_flags: u64, type: u32, orders: u32): u32 {
  const kind = load<u8>(vma + T.V_KIND);
  if (kind == T.VK_HUGETLB) return 0;
  if (kind == T.VK_ANON) {
    if (type != TVA_FORCED_COLLAPSE) {
      let mask = anon_orders(SIZE_ALWAYS);
      if (vm_flags & T.VM_HUGEPAGE) mask |= anon_orders(SIZE_MADVISE);
      if (hugepage_global_always() || ((vm_flags & T.VM_HUGEPAGE) && hugepage_global_enabled()))
        mask |= anon_orders(SIZE_INHERIT);
      orders &= mask;
      if (orders == 0) return 0;
    }
    orders &= thp_orders_all_anon();
  } else {
    return shmem_allowable_orders_hook(vma, vm_flags, type, orders);
  }
  if (vma_thp_disabled(vma, vm_flags, type == TVA_FORCED_COLLAPSE)) return 0;
  if (type != TVA_PAGEFAULT && type != TVA_SMAPS) {
    // khugepaged/collapse: drop orders whose size does not fit the VMA
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

// Shmem VMAs (shmem_allowable_huge_orders) are not modelled by the foundation.
function shmem_allowable_orders_hook(vma: u32, vm_flags: u64, type: u32, orders: u32): u32 {
  return 0;
}

// --- deferred split queue (deferred_split_folio / __folio_unqueue_deferred_split) -------

let split_queue_head: u32 = 0;
export let split_queue_len: u32 = 0;

export function deferred_split_folio(f: u32, partially_mapped: bool): void {
  const order = folio_order(f);
  if (order <= 1) return;
  if (!partially_mapped && knob(K_THP_SHRINK_UNDERUSED) == 0) return;
  const flags = load<u16>(f, T.F_FLAGS);
  if (partially_mapped) {
    if ((flags & T.FF_PARTIALLY_MAPPED) == 0) {
      store<u16>(f, load<u16>(f, T.F_FLAGS) | T.FF_PARTIALLY_MAPPED, T.F_FLAGS);
      if (order >= PMD_ORDER) count_vm_event(THP_DEFERRED_SPLIT_PAGE);
      count_mthp_stat(order, MTHP_STAT_SPLIT_DEFERRED);
      mod_mthp_stat(order, MTHP_STAT_NR_ANON_PARTIALLY_MAPPED, 1);
    }
  }
  if ((load<u16>(f, T.F_FLAGS) & T.FF_DEFERRED) == 0) {
    store<u16>(f, load<u16>(f, T.F_FLAGS) | T.FF_DEFERRED, T.F_FLAGS);
    // list_add_tail
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
}

// __folio_unqueue_deferred_split()
export function folio_unqueue_deferred_split(f: u32): void {
  const flags = load<u16>(f, T.F_FLAGS);
  if ((flags & T.FF_DEFERRED) == 0) return;
  if (flags & T.FF_PARTIALLY_MAPPED) {
    store<u16>(f, load<u16>(f, T.F_FLAGS) & ~T.FF_PARTIALLY_MAPPED, T.F_FLAGS);
    mod_mthp_stat(folio_order(f), MTHP_STAT_NR_ANON_PARTIALLY_MAPPED, -1);
  }
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

export function deferred_split_first(): u32 { return split_queue_head; }

// Called by __folio_put() before a large folio's pages are freed. Returns
// false when the folio is not to be given back to the buddy allocator.
export function folio_free_hook(f: u32): bool {
  folio_unqueue_deferred_split(f);
  return true;
}

// ---- fault, split and zap entry points (filled in by the THP work) ----------------
import { VM_FAULT_FALLBACK, VM_FAULT_SIGBUS } from "./memory";

export function create_huge_pud(vma: u32): u32 { return VM_FAULT_FALLBACK; }
export function wp_huge_pud(vma: u32, pud: u64): u32 { return VM_FAULT_FALLBACK; }
export function huge_pud_set_accessed(vma: u32, pud: u64): void {}
export function create_huge_pmd(vma: u32): u32 { return VM_FAULT_FALLBACK; }
export function wp_huge_pmd(vma: u32, pmd: u64): u32 { return VM_FAULT_FALLBACK; }
export function huge_pmd_set_accessed(vma: u32, pmd: u64): void {}
export function __split_huge_pmd(vma: u32, pmdp: u32, addr: u64, freeze: bool): void {}
export function zap_huge_pmd(vma: u32, pmdp: u32, addr: u64): bool { return false; }
export function split_huge_pud(vma: u32, pudp: u32, addr: u64): void {}
export function zap_huge_pud(vma: u32, pudp: u32, addr: u64): bool { return false; }
export function vma_adjust_trans_huge(vma: u32, start: u64, end: u64, next: u32): void {}
export function wp_page_shared_hook(vma: u32, ptep: u32, pfn: u32): u32 { return VM_FAULT_SIGBUS; }
export function do_fault_hook(vma: u32): u32 { return VM_FAULT_SIGBUS; }
export function folio_mark_dirty_hook(f: u32, pfn: u32): void {}
export function unmap_hugepage_range_hook(vma: u32, s: u64, e: u64): void {}
export function hugetlb_free_pgd_range_hook(mm: u32, a: u64, e: u64, floor: u64, ceiling: u64): void {}
export function mm_exit_hook(mm: u32): void {}
export function change_huge_pmd(vma: u32, pmdp: u32, addr: u64, newprot: u64, cp_flags: u32): u32 { return 0; }
export function count_numa_huge_pte_updates(n: u64): void {}
export function change_pud_partial(vma: u32, pudp: u32, addr: u64): i32 { return 0; }
export function change_huge_pud(vma: u32, pudp: u32, addr: u64, newprot: u64, cp_flags: u32): u32 { return 1; }
export function hugetlb_change_protection_hook(vma: u32, s: u64, e: u64): u64 { return 0; }
export function khugepaged_enter_vma(vma: u32): void {}
export function hugetlb_dontneed_range(vma: u32, s: u64, e: u64): i32 { return 0; }
export function madvise_huge_behavior(task: u32, mm: u32, vma: u32, s: u64, e: u64, b: u32): i32 { return -4095; }
export let smaps_hugetlb_private: u64 = 0;
export function smaps_hugetlb_shared(vma: u32): u64 { smaps_hugetlb_private = 0; return 0; }
export function hugetlb_set_nr_hugepages(order: u32, n: u64): i32 { return n == 0 ? 0 : -4095; }
