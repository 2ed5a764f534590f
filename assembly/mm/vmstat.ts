// Event counters and node statistics (include/linux/vm_event_item.h,
// include/linux/mmzone.h, mm/vmstat.c) and the per-order mTHP stats
// (mm/huge_memory.c: struct mthp_stat). All live at fixed offsets in the
// COUNTERS region so that the host reads them in one go; the names below
// are the only copy of the kernel's names the product has.

import {
  LAYOUT_COUNTERS, CNT_VM_EVENTS, CNT_NODE_STATS, CNT_MTHP, MTHP_ORDERS, MTHP_STATS_PER_ORDER,
} from "../layout";

// --- vm events (order of /proc/vmstat for the ones the kernel prints) ----------
export const PGALLOC: u32 = 0;
export const PGFREE: u32 = 1;
export const PGFAULT: u32 = 2;
export const PGMAJFAULT: u32 = 3;
export const PGREUSE: u32 = 4;
export const NUMA_HUGE_PTE_UPDATES: u32 = 5;
export const THP_MIGRATION_SUCCESS: u32 = 6;
export const THP_MIGRATION_FAIL: u32 = 7;
export const THP_MIGRATION_SPLIT: u32 = 8;
export const HTLB_BUDDY_PGALLOC: u32 = 9;
export const HTLB_BUDDY_PGALLOC_FAIL: u32 = 10;
export const THP_FAULT_ALLOC: u32 = 11;
export const THP_FAULT_FALLBACK: u32 = 12;
export const THP_FAULT_FALLBACK_CHARGE: u32 = 13;
export const THP_COLLAPSE_ALLOC: u32 = 14;
export const THP_COLLAPSE_ALLOC_FAILED: u32 = 15;
export const THP_FILE_ALLOC: u32 = 16;
export const THP_FILE_FALLBACK: u32 = 17;
export const THP_FILE_FALLBACK_CHARGE: u32 = 18;
export const THP_FILE_MAPPED: u32 = 19;
export const THP_SPLIT_PAGE: u32 = 20;
export const THP_SPLIT_PAGE_FAILED: u32 = 21;
export const THP_DEFERRED_SPLIT_PAGE: u32 = 22;
export const THP_UNDERUSED_SPLIT_PAGE: u32 = 23;
export const THP_SPLIT_PMD: u32 = 24;
export const THP_SCAN_EXCEED_NONE_PTE: u32 = 25;
export const THP_SCAN_EXCEED_SWAP_PTE: u32 = 26;
export const THP_SCAN_EXCEED_SHARE_PTE: u32 = 27;
export const THP_SPLIT_PUD: u32 = 28;
export const THP_ZERO_PAGE_ALLOC: u32 = 29;
export const THP_ZERO_PAGE_ALLOC_FAILED: u32 = 30;
export const THP_SWPOUT: u32 = 31;
export const THP_SWPOUT_FALLBACK: u32 = 32;
export const COW_KSM: u32 = 33;
export const NR_TLB_REMOTE_FLUSH: u32 = 34;
export const NR_TLB_REMOTE_FLUSH_RECEIVED: u32 = 35;
export const NR_TLB_LOCAL_FLUSH_ALL: u32 = 36;
export const NR_TLB_LOCAL_FLUSH_ONE: u32 = 37;
export const NR_VM_EVENT_ITEMS: u32 = 38;

export const VM_EVENT_NAMES: string =
  "pgalloc_normal\npgfree\npgfault\npgmajfault\npgreuse\nnuma_huge_pte_updates\n" +
  "thp_migration_success\nthp_migration_fail\nthp_migration_split\n" +
  "htlb_buddy_alloc_success\nhtlb_buddy_alloc_fail\n" +
  "thp_fault_alloc\nthp_fault_fallback\nthp_fault_fallback_charge\nthp_collapse_alloc\n" +
  "thp_collapse_alloc_failed\nthp_file_alloc\nthp_file_fallback\nthp_file_fallback_charge\n" +
  "thp_file_mapped\nthp_split_page\nthp_split_page_failed\nthp_deferred_split_page\n" +
  "thp_underused_split_page\nthp_split_pmd\nthp_scan_exceed_none_pte\nthp_scan_exceed_swap_pte\n" +
  "thp_scan_exceed_share_pte\nthp_split_pud\nthp_zero_page_alloc\nthp_zero_page_alloc_failed\n" +
  "thp_swpout\nthp_swpout_fallback\ncow_ksm\nnr_tlb_remote_flush\nnr_tlb_remote_flush_received\n" +
  "nr_tlb_local_flush_all\nnr_tlb_local_flush_one";

// --- node / zone stats (pages) --------------------------------------------------
export const NR_FREE_PAGES: u32 = 0;
export const NR_ANON_MAPPED: u32 = 1; // AnonPages
export const NR_FILE_MAPPED: u32 = 2; // Mapped
export const NR_FILE_PAGES: u32 = 3;
export const NR_SHMEM: u32 = 4; // Shmem
export const NR_SHMEM_THPS: u32 = 5; // ShmemHugePages
export const NR_SHMEM_PMDMAPPED: u32 = 6; // ShmemPmdMapped
export const NR_FILE_THPS: u32 = 7;
export const NR_FILE_PMDMAPPED: u32 = 8;
export const NR_ANON_THPS: u32 = 9; // AnonHugePages
export const NR_PAGETABLE: u32 = 10; // PageTables
export const NR_HUGETLB: u32 = 11;
export const NR_LAZYFREE: u32 = 12; // anon pages without PG_swapbacked (not a kernel node stat; for checks)
export const NR_MANAGED_PAGES: u32 = 13; // MemTotal
export const NR_NODE_STAT_ITEMS: u32 = 14;

export const NODE_STAT_NAMES: string =
  "nr_free_pages\nnr_anon_pages\nnr_mapped\nnr_file_pages\nnr_shmem\nnr_shmem_hugepages\n" +
  "nr_shmem_pmdmapped\nnr_file_hugepages\nnr_file_pmdmapped\nnr_anon_transparent_hugepages\n" +
  "nr_page_table_pages\nnr_hugetlb\nnr_lazyfree\nnr_managed";

// --- per-order mTHP stats (/sys/kernel/mm/transparent_hugepage/hugepages-<N>kB/stats) ---
// In the sorted order the files are listed.
export const MTHP_STAT_ANON_FAULT_ALLOC: u32 = 0;
export const MTHP_STAT_ANON_FAULT_FALLBACK: u32 = 1;
export const MTHP_STAT_ANON_FAULT_FALLBACK_CHARGE: u32 = 2;
export const MTHP_STAT_NR_ANON: u32 = 3;
export const MTHP_STAT_NR_ANON_PARTIALLY_MAPPED: u32 = 4;
export const MTHP_STAT_SHMEM_ALLOC: u32 = 5;
export const MTHP_STAT_SHMEM_FALLBACK: u32 = 6;
export const MTHP_STAT_SHMEM_FALLBACK_CHARGE: u32 = 7;
export const MTHP_STAT_SPLIT: u32 = 8;
export const MTHP_STAT_SPLIT_DEFERRED: u32 = 9;
export const MTHP_STAT_SPLIT_FAILED: u32 = 10;
export const MTHP_STAT_SWPIN: u32 = 11;
export const MTHP_STAT_SWPIN_FALLBACK: u32 = 12;
export const MTHP_STAT_SWPIN_FALLBACK_CHARGE: u32 = 13;
export const MTHP_STAT_SWPOUT: u32 = 14;
export const MTHP_STAT_SWPOUT_FALLBACK: u32 = 15;
export const MTHP_STAT_ZSWPOUT: u32 = 16;
export const NR_MTHP_STATS: u32 = 17;

export const MTHP_STAT_NAMES: string =
  "anon_fault_alloc\nanon_fault_fallback\nanon_fault_fallback_charge\nnr_anon\n" +
  "nr_anon_partially_mapped\nshmem_alloc\nshmem_fallback\nshmem_fallback_charge\nsplit\n" +
  "split_deferred\nsplit_failed\nswpin\nswpin_fallback\nswpin_fallback_charge\nswpout\n" +
  "swpout_fallback\nzswpout";

// Which stats files exist for an order: anon orders 2..9 (and 18 with the PUD THP
// extension) get the anon_* files; orders 1..9 get the shmem files; every
// directory gets split/split_failed and the swap files.
export function mthp_stat_present(order: u32, stat: u32): bool {
  const anon = (order >= 2 && order <= 9) || order == 18;
  const file = order >= 1 && order <= 9;
  if (!anon && !file) return false;
  if (stat <= MTHP_STAT_NR_ANON_PARTIALLY_MAPPED || stat == MTHP_STAT_SPLIT_DEFERRED) return anon;
  if (stat >= MTHP_STAT_SHMEM_ALLOC && stat <= MTHP_STAT_SHMEM_FALLBACK_CHARGE) return file;
  return true;
}

// --- mm counters (include/linux/mm_types_task.h) -------------------------------
export const MM_FILEPAGES: u32 = 0;
export const MM_ANONPAGES: u32 = 1;
export const MM_SWAPENTS: u32 = 2;
export const MM_SHMEMPAGES: u32 = 3;

// --- accessors -----------------------------------------------------------------

@inline export function count_vm_event(item: u32): void {
  const p = LAYOUT_COUNTERS + CNT_VM_EVENTS + (item << 3);
  store<u64>(p, load<u64>(p) + 1);
}

@inline export function count_vm_events(item: u32, n: u64): void {
  const p = LAYOUT_COUNTERS + CNT_VM_EVENTS + (item << 3);
  store<u64>(p, load<u64>(p) + n);
}

@inline export function vm_event(item: u32): u64 {
  return load<u64>(LAYOUT_COUNTERS + CNT_VM_EVENTS + (item << 3));
}

@inline export function mod_node_page_state(item: u32, delta: i64): void {
  const p = LAYOUT_COUNTERS + CNT_NODE_STATS + (item << 3);
  store<i64>(p, load<i64>(p) + delta);
}

@inline export function node_page_state(item: u32): i64 {
  return load<i64>(LAYOUT_COUNTERS + CNT_NODE_STATS + (item << 3));
}

// count_mthp_stat()/mod_mthp_stat(): 6.18 ignores order 0 and orders above
// PMD_ORDER; hugemmu keeps order 18 for the PUD THP extension (seed 000).
@inline export function mod_mthp_stat(order: u32, stat: u32, delta: i64): void {
  if (order == 0 || order >= MTHP_ORDERS) return;
  if (order > 9 && order != 18) return;
  const p = LAYOUT_COUNTERS + CNT_MTHP + ((order * MTHP_STATS_PER_ORDER + stat) << 3);
  store<i64>(p, load<i64>(p) + delta);
}

@inline export function count_mthp_stat(order: u32, stat: u32): void {
  mod_mthp_stat(order, stat, 1);
}

@inline export function mthp_stat(order: u32, stat: u32): i64 {
  return load<i64>(LAYOUT_COUNTERS + CNT_MTHP + ((order * MTHP_STATS_PER_ORDER + stat) << 3));
}
