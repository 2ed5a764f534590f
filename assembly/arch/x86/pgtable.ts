// Page-table pages (arch/x86/mm/pgtable.c, include/linux/pgtable.h,
// include/asm-generic/pgalloc.h): real 4 KiB tables of 512 64-bit entries,
// allocated from the buddy allocator like the kernel's (GFP_PGTABLE_USER,
// unmovable) and backed by real host bytes.

import { PAGE_SIZE, PMD_SHIFT, PUD_SHIFT, P4D_SHIFT } from "../../layout";
import { alloc_pages, free_pages, pfn_to_host, pfn_pb, pb_data_get, MIGRATE_UNMOVABLE } from "../../mm/page_alloc";
import { frame_ptr_alloc, frame_ptr, FT_PGTABLE } from "../../mm/folio";
import { mod_node_page_state, NR_PAGETABLE } from "../../mm/vmstat";
import { MM_PGTABLES_BYTES } from "../../mm/mm_types";
import { _PAGE_TABLE, PTE_PFN_MASK } from "./pgtable_types";
import { contpte_on, contpte_set_ptes } from "../contpte";

export const PT_LEVEL_PTE: u32 = 1;
export const PT_LEVEL_PMD: u32 = 2;
export const PT_LEVEL_PUD: u32 = 3;
export const PT_LEVEL_P4D: u32 = 4;
export const PT_LEVEL_PGD: u32 = 5;

// __pagetable_ctor(): a zeroed table frame, NR_PAGETABLE +1. Returns pfn or 0.
export function pgtable_alloc(level: u32): u32 {
  const pfn = pgtable_alloc_deposit(level);
  if (pfn != 0) memory.fill(pfn_to_host(pfn), 0, PAGE_SIZE);
  return pfn;
}

// A table for a deposit (pte_alloc_one() for pgtable_trans_huge_deposit()): its
// contents are not read while deposited, so it is zeroed when withdrawn for use
// (pgtable_trans_huge_withdraw) rather than here; most deposits are only ever freed.
export function pgtable_alloc_deposit(level: u32): u32 {
  const pfn = alloc_pages(0, MIGRATE_UNMOVABLE);
  if (pfn == 0) return 0;
  const fp = frame_ptr_alloc(pfn);
  if (fp == 0 || pb_data_get(pfn_pb(pfn)) == 0) { free_pages(pfn, 0); return 0; }
  store<u32>(fp, (FT_PGTABLE << 28) | level);
  mod_node_page_state(NR_PAGETABLE, 1);
  return pfn;
}

// pagetable_dtor() + free: the table must be empty (or a deposit being discarded).
export function pgtable_free(pfn: u32): void {
  store<u32>(frame_ptr(pfn), 0);
  free_pages(pfn, 0);
  mod_node_page_state(NR_PAGETABLE, -1);
}

@inline export function table_host(pfn: u32): u32 { return pfn_to_host(pfn); }

// Entry pointers (pgd_offset/p4d_offset/pud_offset/pmd_offset/pte_offset): host addresses.
@inline export function entry_ptr(table_pfn: u32, addr: u64, shift: u32): u32 {
  return pfn_to_host(table_pfn) + ((<u32>(addr >> shift) & 511) << 3);
}
@inline export function table_of(entry: u64): u32 { return <u32>((entry & PTE_PFN_MASK) >> 12); }
@inline export function mk_table_entry(pfn: u32): u64 { return (<u64>pfn << 12) | _PAGE_TABLE; }

@inline export function pte_index(addr: u64): u32 { return <u32>(addr >> 12) & 511; }
@inline export function pmd_index(addr: u64): u32 { return <u32>(addr >> PMD_SHIFT) & 511; }
@inline export function pud_index(addr: u64): u32 { return <u32>(addr >> PUD_SHIFT) & 511; }
@inline export function p4d_index(addr: u64): u32 { return <u32>(addr >> P4D_SHIFT) & 511; }

// mm->pgtables_bytes accounting (mm_inc_nr_ptes/pmds/puds): VmPTE
@inline export function mm_add_pgtables_bytes(mm: u32, delta: i64): void {
  store<i64>(mm + MM_PGTABLES_BYTES, load<i64>(mm + MM_PGTABLES_BYTES) + delta);
}
@inline export function mm_inc_nr_ptes(mm: u32): void { mm_add_pgtables_bytes(mm, PAGE_SIZE); }
@inline export function mm_dec_nr_ptes(mm: u32): void { mm_add_pgtables_bytes(mm, -<i64>PAGE_SIZE); }
@inline export function mm_inc_nr_pmds(mm: u32): void { mm_add_pgtables_bytes(mm, PAGE_SIZE); }
@inline export function mm_dec_nr_pmds(mm: u32): void { mm_add_pgtables_bytes(mm, -<i64>PAGE_SIZE); }
@inline export function mm_inc_nr_puds(mm: u32): void { mm_add_pgtables_bytes(mm, PAGE_SIZE); }
@inline export function mm_dec_nr_puds(mm: u32): void { mm_add_pgtables_bytes(mm, -<i64>PAGE_SIZE); }

// set_ptes(): nr consecutive entries mapping consecutive pfns (arch/x86: a loop of set_pte).
export function set_ptes(ptep: u32, entry: u64, nr: u32): void {
  if (nr >= 8) {
    // two entries per v128: the second maps the next pfn
    let v = i64x2.replace_lane(i64x2.splat(<i64>entry), 1, <i64>(entry + 4096));
    const step = i64x2.splat(8192);
    let i: u32 = 0;
    for (; i + 2 <= nr; i += 2) {
      v128.store(ptep + (i << 3), v);
      v = i64x2.add(v, step);
    }
    if (i < nr) store<u64>(ptep + (i << 3), entry + (<u64>i << 12));
  } else {
    for (let i: u32 = 0; i < nr; i++) store<u64>(ptep + (i << 3), entry + (<u64>i << 12));
  }
  // arm64 set_ptes(nr > 1) -> contpte_set_ptes()
  if (contpte_on && nr > 1) contpte_set_ptes(ptep, nr);
}

// Build a whole 512-entry table mapping 512 consecutive pfns (PMD split, PUD split):
// four v128 stores per iteration.
export function fill_pte_table(table: u32, entry: u64): void {
  let v0 = i64x2.replace_lane(i64x2.splat(<i64>entry), 1, <i64>(entry + 4096));
  let v1 = i64x2.add(v0, i64x2.splat(8192));
  let v2 = i64x2.add(v0, i64x2.splat(16384));
  let v3 = i64x2.add(v0, i64x2.splat(24576));
  const step = i64x2.splat(32768);
  for (let i: u32 = 0; i < 4096; i += 64) {
    v128.store(table + i, v0);
    v128.store(table + i + 16, v1);
    v128.store(table + i + 32, v2);
    v128.store(table + i + 48, v3);
    v0 = i64x2.add(v0, step);
    v1 = i64x2.add(v1, step);
    v2 = i64x2.add(v2, step);
    v3 = i64x2.add(v3, step);
  }
  if (contpte_on) contpte_set_ptes(table, 512);
}

// Fill a table with one repeated entry (e.g. 512 zero-page PTEs).
export function fill_table_same(table: u32, entry: u64): void {
  const v = i64x2.splat(<i64>entry);
  for (let i: u32 = 0; i < 4096; i += 64) {
    v128.store(table + i, v);
    v128.store(table + i + 16, v);
    v128.store(table + i + 32, v);
    v128.store(table + i + 48, v);
  }
}

// Is a table entirely none? (free_pte_range only frees empty tables.)
export function table_is_empty(table: u32): bool {
  for (let i: u32 = 0; i < 4096; i += 64) {
    const v = v128.or(v128.or(v128.load(table + i), v128.load(table + i + 16)), v128.or(v128.load(table + i + 32), v128.load(table + i + 48)));
    if (v128.any_true(v)) return false;
  }
  return true;
}
