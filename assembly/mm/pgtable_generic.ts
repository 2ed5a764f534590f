// Page-table deposits (mm/pgtable-generic.c: pgtable_trans_huge_deposit /
// withdraw) and the PUD deposit of seed 000 (pgtable_trans_huge_pud_deposit,
// pud_deposit_pte / pud_withdraw_pte).
//
// Deposited tables are interchangeable, so one list per mm serves every huge
// mapping (as with !USE_SPLIT_PMD_PTLOCKS). The link lives in the first word
// of the deposited table's own storage, which is unused while it is deposited;
// withdraw clears it again, so a withdrawn table is all-none.

import * as T from "./mm_types";
import { table_host, pgtable_alloc_deposit, pgtable_free, PT_LEVEL_PTE, PT_LEVEL_PMD } from "../arch/x86/pgtable";

export function pgtable_trans_huge_deposit(mm: u32, pgtable: u32): void {
  store<u64>(table_host(pgtable), <u64>load<u32>(mm + T.MM_PMD_HUGE_PTE));
  store<u32>(mm + T.MM_PMD_HUGE_PTE, pgtable);
  store<u32>(mm + T.MM_NR_DEPOSITED, load<u32>(mm + T.MM_NR_DEPOSITED) + 1);
}

// A withdrawn table comes back all-none (deposits are allocated unzeroed).
export function pgtable_trans_huge_withdraw(mm: u32): u32 {
  const t = pgtable_trans_huge_withdraw_to_free(mm);
  memory.fill(table_host(t), 0, 4096);
  return t;
}

// zap_deposited_table(): the table is freed, its contents do not matter
export function pgtable_trans_huge_withdraw_to_free(mm: u32): u32 {
  const t = load<u32>(mm + T.MM_PMD_HUGE_PTE);
  assert(t != 0, "pgtable_trans_huge_withdraw: nothing deposited");
  const h = table_host(t);
  store<u32>(mm + T.MM_PMD_HUGE_PTE, <u32>load<u64>(h));
  store<u32>(mm + T.MM_NR_DEPOSITED, load<u32>(mm + T.MM_NR_DEPOSITED) - 1);
  return t;
}

// A PMD table holding 512 deposited PTE tables (seed 000). Links: word 0 of the
// PMD table chains PUD deposits, word 1 heads the PTE-table stack; PTE tables
// chain through their word 0.
export function pud_deposit_pte(pmd_table: u32, pte_table: u32): void {
  const h = table_host(pmd_table);
  store<u64>(table_host(pte_table), load<u64>(h, 8));
  store<u64>(h, <u64>pte_table, 8);
}

export function pud_withdraw_pte(pmd_table: u32): u32 {
  const h = table_host(pmd_table);
  const t = <u32>load<u64>(h, 8);
  if (t == 0) return 0;
  const th = table_host(t);
  store<u64>(h, load<u64>(th), 8);
  store<u64>(th, 0);
  return t;
}

// The whole PTE-table stack at once (its tables stay chained through word 0):
// __split_huge_pud_locked() fills the PMD table's slots while it walks them.
export function pud_withdraw_all_ptes(pmd_table: u32): u32 {
  const h = table_host(pmd_table);
  const t = <u32>load<u64>(h, 8);
  store<u64>(h, 0, 8);
  return t;
}

export function pgtable_trans_huge_pud_deposit(mm: u32, pmd_table: u32): void {
  store<u64>(table_host(pmd_table), <u64>load<u32>(mm + T.MM_PUD_HUGE_PMD));
  store<u32>(mm + T.MM_PUD_HUGE_PMD, pmd_table);
  store<u32>(mm + T.MM_NR_PUD_DEPOSITED, load<u32>(mm + T.MM_NR_PUD_DEPOSITED) + 1);
}

export function pgtable_trans_huge_pud_withdraw(mm: u32): u32 {
  const t = load<u32>(mm + T.MM_PUD_HUGE_PMD);
  assert(t != 0, "pgtable_trans_huge_pud_withdraw: nothing deposited");
  const h = table_host(t);
  store<u32>(mm + T.MM_PUD_HUGE_PMD, <u32>load<u64>(h));
  store<u64>(h, 0);
  store<u32>(mm + T.MM_NR_PUD_DEPOSITED, load<u32>(mm + T.MM_NR_PUD_DEPOSITED) - 1);
  return t;
}

// alloc_pud_predeposit_ptables() (seed 000): 1 PMD table + 512 PTE tables,
// all or nothing. Returns the PMD table (its word 1 heads the PTE tables) or 0.
export function alloc_pud_predeposit_ptables(): u32 {
  const pmd_table = pgtable_alloc_deposit(PT_LEVEL_PMD);
  if (pmd_table != 0) store<u64>(table_host(pmd_table), 0, 8); // word 1 heads the PTE tables
  if (pmd_table == 0) return 0;
  for (let i: u32 = 0; i < 512; i++) {
    const pte = pgtable_alloc_deposit(PT_LEVEL_PTE);
    if (pte == 0) {
      free_pud_predeposit_ptables(pmd_table);
      return 0;
    }
    pud_deposit_pte(pmd_table, pte);
  }
  return pmd_table;
}

export function free_pud_predeposit_ptables(pmd_table: u32): void {
  let t = pud_withdraw_pte(pmd_table);
  while (t != 0) {
    pgtable_free(t);
    t = pud_withdraw_pte(pmd_table);
  }
  pgtable_free(pmd_table);
}
