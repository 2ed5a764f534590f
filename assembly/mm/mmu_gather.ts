// mmu_gather (mm/mmu_gather.c, include/asm-generic/tlb.h): zap paths collect
// the range to flush and the pages to free; pages are released only after
// the TLB flush, in batches, exactly like the kernel.

import { flush_tlb_mm_range, TLB_FLUSH_ALL } from "../arch/x86/tlb";
import { pgtable_free } from "../arch/x86/pgtable";
import { folio_put_refs } from "./swap";

const MAX_GATHER: u32 = 1024;
const batch = memory.data(12 * MAX_GATHER); // (pfn, folio, nr)
const tables = memory.data(4 * MAX_GATHER); // page-table pages to free after the flush
let nr_batch: u32 = 0;
let nr_tables: u32 = 0;

export let tlb_mm: u32 = 0;
export let tlb_start: u64 = 0;
export let tlb_end: u64 = 0;
export let tlb_fullmm: bool = false;
export let tlb_freed_tables: bool = false;
export let tlb_cleared_ptes: bool = false;
export let tlb_cleared_pmds: bool = false;
export let tlb_cleared_puds: bool = false;
export let tlb_need_flush_all: bool = false;

function __tlb_reset_range(): void {
  if (tlb_fullmm) { tlb_start = 0; tlb_end = TLB_FLUSH_ALL; }
  else { tlb_start = TLB_FLUSH_ALL; tlb_end = 0; }
  tlb_freed_tables = false;
  tlb_cleared_ptes = false;
  tlb_cleared_pmds = false;
  tlb_cleared_puds = false;
}

export function tlb_gather_mmu(mm: u32, fullmm: bool): void {
  tlb_mm = mm;
  tlb_fullmm = fullmm;
  tlb_need_flush_all = false;
  nr_batch = 0;
  nr_tables = 0;
  __tlb_reset_range();
}

@inline function __tlb_adjust_range(address: u64, size: u64): void {
  if (address < tlb_start) tlb_start = address;
  if (address + size > tlb_end) tlb_end = address + size;
}

@inline export function tlb_flush_pte_range(address: u64, size: u64): void {
  __tlb_adjust_range(address, size);
  tlb_cleared_ptes = true;
}
@inline export function tlb_flush_pmd_range(address: u64, size: u64): void {
  __tlb_adjust_range(address, size);
  tlb_cleared_pmds = true;
}
@inline export function tlb_flush_pud_range(address: u64, size: u64): void {
  __tlb_adjust_range(address, size);
  tlb_cleared_puds = true;
}
@inline export function tlb_remove_tlb_entries(address: u64, nr: u32): void {
  tlb_flush_pte_range(address, <u64>nr << 12);
}
@inline export function tlb_remove_pmd_tlb_entry(address: u64): void {
  tlb_flush_pmd_range(address, 1 << 21);
}
@inline export function tlb_remove_pud_tlb_entry(address: u64): void {
  tlb_flush_pud_range(address, 1 << 30);
}

// tlb_get_unmap_shift(): the smallest page size that was cleared
function tlb_get_unmap_shift(): u32 {
  if (tlb_cleared_ptes) return 12;
  if (tlb_cleared_pmds) return 21;
  if (tlb_cleared_puds) return 30;
  return 12;
}

// x86 tlb_flush()
function tlb_flush(): void {
  if (tlb_fullmm || tlb_need_flush_all) {
    flush_tlb_mm_range(tlb_mm, 0, TLB_FLUSH_ALL, tlb_get_unmap_shift(), tlb_freed_tables);
  } else if (tlb_end != 0) {
    flush_tlb_mm_range(tlb_mm, tlb_start, tlb_end, tlb_get_unmap_shift(), tlb_freed_tables);
  }
}

function tlb_flush_mmu_tlbonly(): void {
  if (!(tlb_freed_tables || tlb_cleared_ptes || tlb_cleared_pmds || tlb_cleared_puds)) return;
  if (tlb_end == 0 && !tlb_fullmm) return;
  tlb_flush();
  __tlb_reset_range();
}

function tlb_flush_mmu_free(): void {
  for (let i: u32 = 0; i < nr_tables; i++) pgtable_free(load<u32>(tables + 4 * i));
  nr_tables = 0;
  for (let i: u32 = 0; i < nr_batch; i++) {
    const p = batch + 12 * i;
    folio_put_refs(load<u32>(p, 4), load<u32>(p), load<u32>(p, 8));
  }
  nr_batch = 0;
}

export function tlb_flush_mmu(): void {
  tlb_flush_mmu_tlbonly();
  tlb_flush_mmu_free();
}

// __tlb_remove_folio_pages(): drop nr references after the flush
export function tlb_remove_folio_refs(folio: u32, pfn: u32, nr: u32): void {
  const p = batch + 12 * nr_batch;
  store<u32>(p, pfn);
  store<u32>(p, folio, 4);
  store<u32>(p, nr, 8);
  nr_batch++;
  if (nr_batch == MAX_GATHER) tlb_flush_mmu();
}

// pte_free_tlb()/pmd_free_tlb()/pud_free_tlb(): a page-table page freed after the flush
export function tlb_free_table(pfn: u32, address: u64): void {
  tlb_freed_tables = true;
  __tlb_adjust_range(address, 4096);
  store<u32>(tables + 4 * nr_tables, pfn);
  nr_tables++;
  if (nr_tables == MAX_GATHER) tlb_flush_mmu();
}

export function tlb_finish_mmu(): void {
  tlb_flush_mmu();
  tlb_mm = 0;
}
