// hugetlb (mm/hugetlb.c, fs/hugetlbfs): hstate pools, reservations, faults,
// fork, zap, mprotect and smaps of MAP_HUGETLB mappings, and the
// high-granularity mapping of seed 003.
//
// These are the entry points the rest of the core calls for hugetlb VMAs.
// Until the pools are modelled, setting nr_hugepages is reported as not
// modelled (so no hugetlb VMA can be created and the others are unreachable).

import * as T from "./mm_types";
import { NOT_MODELLED } from "../layout";
import { VM_FAULT_SIGBUS } from "./memory";

// sysfs nr_hugepages of the hstate of `order` (9 or 18): 0 or -errno
export function hugetlb_set_nr_hugepages(order: u32, n: u64): i32 { return n == 0 ? 0 : NOT_MODELLED; }

// pool state for the host (IO buffer: nr, free, resv, surplus as f64)
export function hstate_info(order: u32): void {}

// do_mmap() of a MAP_HUGETLB mapping: the hugetlbfs file and the reservation
// (hugetlb_reserve_pages). 0 or -errno; the VMA is not in the mm yet.
export function hugetlb_vma_open(vma: u32): i32 { return NOT_MODELLED; }

// the VMA leaves its mm (unmap or exit): release its reservation
export function hugetlb_vma_close(vma: u32): void {}

// vm_area_dup() of a hugetlb VMA (split or fork)
export function hugetlb_vma_dup(nv: u32, old: u32): void {}

// hugetlb_fault(): vm_fault_t
export function hugetlb_fault(task: u32, vma: u32, address: u64, flags: u32): u32 { return VM_FAULT_SIGBUS; }

// unmap_hugepage_range() inside an mmu_gather
export function unmap_hugepage_range(vma: u32, start: u64, end: u64): void {}

// hugetlb_free_pgd_range()
export function hugetlb_free_pgd_range(mm: u32, addr: u64, end: u64, floor: u64, ceiling: u64): void {}

// hugetlb_change_protection(): pages changed
export function hugetlb_change_protection(vma: u32, start: u64, end: u64): u64 { return 0; }

// MADV_DONTNEED on a hugetlb VMA: 0 or -errno
export function hugetlb_dontneed(vma: u32, start: u64, end: u64): i32 { return 0; }

// copy_hugetlb_page_range(): 0 or -errno
export function copy_hugetlb_page_range(dst_vma: u32, src_vma: u32): i32 { return 0; }

// smaps_hugetlb_range(): Shared_Hugetlb bytes; Private_Hugetlb in smaps_hugetlb_private
export let smaps_hugetlb_private: u64 = 0;
export function smaps_hugetlb_shared(vma: u32): u64 { smaps_hugetlb_private = 0; return 0; }

// __folio_put() of a hugetlb folio: it goes back to its pool (false: do not free to buddy)
export function free_huge_folio(f: u32): bool { return false; }
