// TLB flush primitives (arch/x86/mm/tlb.c, arch/x86/include/asm/tlbflush.h).
//
// The mm code calls these exactly where the kernel flushes (KERNEL-SPEC §11). On the
// x86 presets they run the kernel's flush_tlb_mm_range() (arch/cpu.ts): a full flush
// above tlb_single_page_flush_ceiling (33) strides, shootdown IPIs to the other CPUs
// of mm_cpumask. On the arm64 presets the same call sites run arm64's flushes
// (broadcast TLBIs; flush_pmd_tlb_range/flush_pud_tlb_range use the huge stride
// there). With contpte, the blocks of the range get their fold/unfold first.

import { tlb_arch, ARCH_X86 } from "../tlb_model";
import { x86_flush_tlb_mm_range, arm64_flush_tlb_range, arm64_flush_tlb_mm, TLB_FLUSH_ALL as ALL } from "../cpu";
import { contpte_on, contpte_reconcile } from "../contpte";

export const TLB_FLUSH_ALL: u64 = ALL;
export { tlb_single_page_flush_ceiling } from "../cpu";

// flush_tlb_mm_range(mm, start, end, stride_shift, freed_tables)
export function flush_tlb_mm_range(mm: u32, start: u64, end: u64, stride_shift: u32, freed_tables: bool): void {
  if (contpte_on) contpte_reconcile(mm, end == TLB_FLUSH_ALL ? 0 : start, end, false);
  if (tlb_arch == ARCH_X86) x86_flush_tlb_mm_range(mm, start, end, stride_shift, freed_tables);
  else arm64_flush_tlb_range(mm, start, end, stride_shift, !freed_tables);
}

// flush_tlb_range(vma, start, end): stride PAGE_SHIFT (huge page shift for hugetlb VMAs)
@inline export function flush_tlb_range(mm: u32, start: u64, end: u64, stride_shift: u32): void {
  flush_tlb_mm_range(mm, start, end, stride_shift, true);
}

// flush_tlb_page(): one 4K entry, freed_tables = false
@inline export function flush_tlb_page(mm: u32, addr: u64): void {
  flush_tlb_mm_range(mm, addr, addr + 4096, 12, false);
}

// x86 has no flush_pmd_tlb_range/flush_pud_tlb_range override: both are flush_tlb_range
// (4K stride); arm64 flushes one PMD/PUD-stride entry (__flush_tlb_range, last level).
export function flush_pmd_tlb_range(mm: u32, start: u64, end: u64): void {
  if (tlb_arch != ARCH_X86) {
    if (contpte_on) contpte_reconcile(mm, start, end, false);
    arm64_flush_tlb_range(mm, start, end, 21, true);
    return;
  }
  flush_tlb_mm_range(mm, start, end, 12, true);
}
export function flush_pud_tlb_range(mm: u32, start: u64, end: u64): void {
  if (tlb_arch != ARCH_X86) {
    if (contpte_on) contpte_reconcile(mm, start, end, false);
    arm64_flush_tlb_range(mm, start, end, 30, true);
    return;
  }
  flush_tlb_mm_range(mm, start, end, 12, true);
}

export function flush_tlb_mm(mm: u32): void {
  if (tlb_arch != ARCH_X86) {
    if (contpte_on) contpte_reconcile(mm, 0, TLB_FLUSH_ALL, false);
    arm64_flush_tlb_mm(mm);
    return;
  }
  flush_tlb_mm_range(mm, 0, TLB_FLUSH_ALL, 12, true);
}
