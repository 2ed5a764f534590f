// arm64 contiguous PTEs (arch/arm64/mm/contpte.c, KERNEL-SPEC §1.4) for the contpte
// presets. The page tables stay x86's; PTE_CONT lives in bit 52, which x86 leaves to
// software. 16 aligned PTEs mapping 16 aligned frames with identical attributes carry
// it, and the TLB model fills one 64 KiB entry for them.
//
//  - contpte_set_ptes(): set_ptes() of whole aligned blocks (VA and PA) sets PTE_CONT.
//  - unfold (contpte_try_unfold -> contpte_convert): a block whose PTEs were changed one
//    by one (some lost PTE_CONT, some differ, some were cleared) is repainted without
//    PTE_CONT with the OR of the block's access/dirty bits, and its 16 pages flushed.
//    Whole-block batch changes (wrprotect_ptes, the batched mprotect, zapping all 16)
//    keep the block folded or clear it without an unfold, as the batched helpers do.
//  - fold (contpte_try_fold): a single-PTE set of the last entry of a block that makes
//    the block uniform, inside one folio, folds it (repaint with PTE_CONT + flush).
// The mm code writes PTEs directly, so the rules are applied where changes become
// visible: after each fault (fold allowed: a single set_pte), at every flush of a range
// (unfold only), and at the end of mprotect (fold allowed) and other range syscalls.

import * as T from "../mm/mm_types";
import {
  _PAGE_CONT, _PAGE_PRESENT, _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_SAVED_DIRTY, _PAGE_SOFT_DIRTY, _PAGE_SPECIAL,
  _PAGE_RW, _PAGE_PSE, PTE_PFN_MASK,
} from "./x86/pgtable_types";
import { pfn_to_host } from "../mm/page_alloc";
import { page_folio } from "../mm/folio";
import { cnt_inc, cur_cpu, C_CONT_SET, C_CONT_FOLD, C_CONT_UNFOLD } from "./tlb_model";
import { arm64_flush_tlb_range } from "./cpu";

export let contpte_on: bool = false;
export function contpte_enable(on: bool): void { contpte_on = on; }

const CONT_PTES: u32 = 16;
const CONT_SIZE: u64 = 1 << 16;
// bits that may differ inside a folded block: PFN, access and dirty state, PTE_CONT
const IGNORE: u64 = PTE_PFN_MASK | _PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_SAVED_DIRTY | _PAGE_SOFT_DIRTY | _PAGE_CONT;

// contpte_set_ptes(): called by set_ptes()/fill_pte_table() after writing nr entries
export function contpte_set_ptes(ptep: u32, nr: u32): void {
  let idx = (ptep & 4095) >> 3;
  const table = ptep & ~4095;
  const end = idx + nr;
  while (idx < end) {
    const next = (idx + CONT_PTES) & ~(CONT_PTES - 1);
    if ((idx & (CONT_PTES - 1)) == 0 && next <= end) {
      const p = table + (idx << 3);
      const e = load<u64>(p);
      if ((e & _PAGE_PRESENT) != 0 && (<u32>((e & PTE_PFN_MASK) >> 12) & (CONT_PTES - 1)) == 0) {
        for (let i: u32 = 0; i < CONT_PTES; i++) store<u64>(p + (i << 3), load<u64>(p + (i << 3)) | _PAGE_CONT);
        cnt_inc(cur_cpu, C_CONT_SET);
      }
    }
    idx = next;
  }
}

// 16 present entries, identical but for IGNORE, mapping aligned consecutive frames
function block_uniform(p: u32): bool {
  const e0 = load<u64>(p);
  if ((e0 & _PAGE_PRESENT) == 0) return false;
  const pfn0 = <u32>((e0 & PTE_PFN_MASK) >> 12);
  if ((pfn0 & (CONT_PTES - 1)) != 0) return false;
  for (let i: u32 = 1; i < CONT_PTES; i++) {
    const e = load<u64>(p + (i << 3));
    if ((e & _PAGE_PRESENT) == 0 || (e & ~IGNORE) != (e0 & ~IGNORE)) return false;
    if (<u32>((e & PTE_PFN_MASK) >> 12) != pfn0 + i) return false;
  }
  return true;
}

// contpte_convert(): repaint the block with the OR of its access/dirty bits, with or
// without PTE_CONT, and flush its 16 pages
function convert(mm: u32, p: u32, va: u64, cont: bool): void {
  let young = false, dirty = false;
  for (let i: u32 = 0; i < CONT_PTES; i++) {
    const e = load<u64>(p + (i << 3));
    if ((e & _PAGE_PRESENT) == 0) continue;
    if (e & _PAGE_ACCESSED) young = true;
    if (e & (_PAGE_DIRTY | _PAGE_SAVED_DIRTY)) dirty = true;
  }
  for (let i: u32 = 0; i < CONT_PTES; i++) {
    const q = p + (i << 3);
    let e = load<u64>(q);
    if ((e & _PAGE_PRESENT) == 0) continue;
    // only the entries still painted as the block get its gathered state
    if (cont || (e & _PAGE_CONT) != 0) {
      if (young) e |= _PAGE_ACCESSED;
      if (dirty) e |= (e & _PAGE_RW) != 0 ? _PAGE_DIRTY : _PAGE_SAVED_DIRTY;
    }
    e = cont ? e | _PAGE_CONT : e & ~_PAGE_CONT;
    store<u64>(q, e);
  }
  arm64_flush_tlb_range(mm, va, va + CONT_SIZE, 12, true);
}

let reconciling: bool = false;
let r_lo: u64 = 0; // the range the operation changed
let r_hi: u64 = 0;
let r_fold: bool = false;

function block(mm: u32, p: u32, va: u64): void {
  let ncont: u32 = 0, npresent: u32 = 0;
  for (let i: u32 = 0; i < CONT_PTES; i++) {
    const e = load<u64>(p + (i << 3));
    if (e & _PAGE_CONT) ncont++;
    if (e & _PAGE_PRESENT) npresent++;
  }
  if (ncont != 0) {
    if (ncont == CONT_PTES && block_uniform(p)) return;
    if (npresent == 0) {
      for (let i: u32 = 0; i < CONT_PTES; i++) store<u64>(p + (i << 3), load<u64>(p + (i << 3)) & ~_PAGE_CONT);
      return;
    }
    cnt_inc(cur_cpu, C_CONT_UNFOLD);
    convert(mm, p, va, false);
  }
  if (!r_fold || npresent != CONT_PTES || !block_uniform(p)) return;
  if ((load<u64>(p) & _PAGE_SPECIAL) != 0) return;
  const pfn0 = <u32>((load<u64>(p) & PTE_PFN_MASK) >> 12);
  const f = page_folio(pfn0);
  if (f == 0 || page_folio(pfn0 + CONT_PTES - 1) != f) return;
  const last = va + CONT_SIZE - 4096;
  if (va >= r_lo && va + CONT_SIZE <= r_hi) {
    // the whole block was rewritten by a batch: contpte_set_ptes()
    for (let i: u32 = 0; i < CONT_PTES; i++) store<u64>(p + (i << 3), load<u64>(p + (i << 3)) | _PAGE_CONT);
    cnt_inc(cur_cpu, C_CONT_SET);
  } else if (r_lo == last && r_hi == last + 4096) {
    // a single set_pte() of the block's last entry: contpte_try_fold()
    cnt_inc(cur_cpu, C_CONT_FOLD);
    convert(mm, p, va, true);
  }
}

// Apply the fold/unfold rules to the blocks of mm overlapping [start, end)
// (end = 0xffff...: the whole address space).
export function contpte_reconcile(mm: u32, start: u64, end: u64, fold: bool): void {
  if (!contpte_on || reconciling || mm == 0) return;
  reconciling = true;
  r_lo = start;
  r_hi = end;
  r_fold = fold;
  const five = load<u32>(mm + T.MM_LEVELS) == 5;
  const top: u64 = five ? (<u64>1 << 57) : (<u64>1 << 48);
  let lo = start & ~(CONT_SIZE - 1);
  let hi = end > top ? top : (end + CONT_SIZE - 1) & ~(CONT_SIZE - 1);
  if (lo < hi) walk_level(mm, load<u32>(mm + T.MM_PGD), five ? 48 : 39, lo, hi);
  reconciling = false;
}

function walk_level(mm: u32, table: u32, shift: u32, lo: u64, hi: u64): void {
  const host = pfn_to_host(table);
  const size = <u64>1 << shift;
  let a = lo;
  while (a < hi) {
    const next = (a & ~(size - 1)) + size;
    const e = load<u64>(host + ((<u32>(a >> shift) & 511) << 3));
    if ((e & _PAGE_PRESENT) != 0 && !(shift <= 30 && (e & _PAGE_PSE) != 0)) {
      const t = <u32>((e & PTE_PFN_MASK) >> 12);
      const sub_hi = next < hi ? next : hi;
      if (shift == 21) {
        const ptes = pfn_to_host(t);
        for (let b = a; b < sub_hi; b += CONT_SIZE) block(mm, ptes + ((<u32>(b >> 12) & 511) << 3), b);
      } else {
        walk_level(mm, t, shift - 9, a, sub_hi);
      }
    }
    if (next == 0) break;
    a = next;
  }
}
