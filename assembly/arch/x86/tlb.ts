// TLB flush primitives (arch/x86/mm/tlb.c, arch/x86/include/asm/tlbflush.h).
//
// The core calls these exactly where the kernel flushes. They drive the
// hardware TLB model (arch/tlb_model.ts) and count the kernel's vmstat
// events. flush_tlb_mm_range() turns into a full flush of the mm when the
// range covers more than tlb_single_page_flush_ceiling (33) strides.

import {
  count_vm_event, NR_TLB_LOCAL_FLUSH_ONE, NR_TLB_LOCAL_FLUSH_ALL,
} from "../../mm/vmstat";
import { tlbm_flush_range, tlbm_flush_mm } from "../tlb_model";

export const TLB_FLUSH_ALL: u64 = 0xffffffffffffffff;
export let tlb_single_page_flush_ceiling: u64 = 33;

// flush_tlb_mm_range(mm, start, end, stride_shift, freed_tables)
export function flush_tlb_mm_range(mm: u32, start: u64, end: u64, stride_shift: u32, freed_tables: bool): void {
  if (end != TLB_FLUSH_ALL && ((end - start) >> stride_shift) <= tlb_single_page_flush_ceiling) {
    count_vm_event(NR_TLB_LOCAL_FLUSH_ONE);
    tlbm_flush_range(mm, start, end, stride_shift, freed_tables);
  } else {
    count_vm_event(NR_TLB_LOCAL_FLUSH_ALL);
    tlbm_flush_mm(mm);
  }
}

// flush_tlb_range(vma, start, end): stride PAGE_SHIFT (huge page shift for hugetlb VMAs)
@inline export function flush_tlb_range(mm: u32, start: u64, end: u64, stride_shift: u32): void {
  flush_tlb_mm_range(mm, start, end, stride_shift, true);
}

@inline export function flush_tlb_page(mm: u32, addr: u64): void {
  flush_tlb_mm_range(mm, addr, addr + 4096, 12, false);
}

// x86 has no flush_pmd_tlb_range/flush_pud_tlb_range override: both are flush_tlb_range
@inline export function flush_pmd_tlb_range(mm: u32, start: u64, end: u64): void {
  flush_tlb_mm_range(mm, start, end, 12, true);
}
@inline export function flush_pud_tlb_range(mm: u32, start: u64, end: u64): void {
  flush_tlb_mm_range(mm, start, end, 12, true);
}

export function flush_tlb_mm(mm: u32): void {
  flush_tlb_mm_range(mm, 0, TLB_FLUSH_ALL, 12, true);
}
