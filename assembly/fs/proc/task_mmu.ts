// /proc/PID/smaps accounting (fs/proc/task_mmu.c: smaps_pte_range,
// smaps_account, smaps_page_accumulate, smaps_hugetlb_range) written as
// one fixed-size record of f64 fields per VMA into the IO buffer.

import * as T from "../../mm/mm_types";
import { LAYOUT_IO, LAYOUT_IO_SIZE } from "../../layout";
import { pte_present, pte_special, pte_pfn, pte_dirty, pte_young, pmd_trans_huge } from "../../arch/x86/pgtable_types";
import { table_host, table_of } from "../../arch/x86/pgtable";
import {
  page_folio, frame_get, S_MAPCOUNT_MASK, S_EXTRA_MASK, S_EXTRA_SHIFT, S_FILE, S_DIRTY, S_LAZYFREE, S_REFERENCED,
  large_page_mapcount, folio_nr_pages,
} from "../../mm/folio";
import { mm_nr_vmas, mm_vma, hugetlb_vma_page_size } from "../../mm/mmap";
import { small_folio_refcount } from "../../mm/swap";
import { walk_to_pud } from "../../mm/memory";
import { thp_vma_allowable_orders, TVA_SMAPS } from "../../mm/huge_memory";
import * as H from "../../mm/huge_memory";
import * as HT from "../../mm/hugetlb";
import { smaps_hugetlb_shared } from "../../mm/hugetlb";
import { knob, K_V_SMAPS_PUD_LEAF } from "../../kernel/sysfs";

// record fields (f64 each), names exported for the host
export const SM_START: u32 = 0;
export const SM_END: u32 = 1;
export const SM_FLAGS_LO: u32 = 2;
export const SM_FLAGS_HI: u32 = 3;
export const SM_PGOFF: u32 = 4;
export const SM_RSS: u32 = 5;
export const SM_PSS: u32 = 6; // bytes (kernel's pss >> PSS_SHIFT)
export const SM_PSS_DIRTY: u32 = 7;
export const SM_PSS_ANON: u32 = 8;
export const SM_PSS_FILE: u32 = 9;
export const SM_PSS_SHMEM: u32 = 10;
export const SM_SHARED_CLEAN: u32 = 11;
export const SM_SHARED_DIRTY: u32 = 12;
export const SM_PRIVATE_CLEAN: u32 = 13;
export const SM_PRIVATE_DIRTY: u32 = 14;
export const SM_REFERENCED: u32 = 15;
export const SM_ANONYMOUS: u32 = 16;
export const SM_KSM: u32 = 17;
export const SM_LAZYFREE: u32 = 18;
export const SM_ANON_HUGE: u32 = 19;
export const SM_SHMEM_PMD: u32 = 20;
export const SM_FILE_PMD: u32 = 21;
export const SM_SHARED_HUGETLB: u32 = 22;
export const SM_PRIVATE_HUGETLB: u32 = 23;
export const SM_SWAP: u32 = 24;
export const SM_SWAP_PSS: u32 = 25;
export const SM_LOCKED: u32 = 26;
export const SM_THP_ELIGIBLE: u32 = 27;
export const SM_KERNEL_PAGE_SIZE: u32 = 28;
export const SM_MMU_PAGE_SIZE: u32 = 29;
export const SM_KIND: u32 = 30;
export const SM_NR_FIELDS: u32 = 32;
export const SMAPS_RECORD_SIZE: u32 = SM_NR_FIELDS * 8;
export const SMAPS_FIELD_NAMES: string =
  "start\nend\nflags_lo\nflags_hi\npgoff\nRss\nPss\nPss_Dirty\nPss_Anon\nPss_File\nPss_Shmem\nShared_Clean\n" +
  "Shared_Dirty\nPrivate_Clean\nPrivate_Dirty\nReferenced\nAnonymous\nKSM\nLazyFree\nAnonHugePages\n" +
  "ShmemPmdMapped\nFilePmdMapped\nShared_Hugetlb\nPrivate_Hugetlb\nSwap\nSwapPss\nLocked\nTHPeligible\n" +
  "KernelPageSize\nMMUPageSize\nkind";

// accumulators (pss in bytes << 12, like the kernel's PSS_SHIFT fixed point)
let a_rss: u64 = 0, a_pss: u64 = 0, a_pss_dirty: u64 = 0, a_pss_anon: u64 = 0, a_pss_file: u64 = 0, a_pss_shmem: u64 = 0;
let a_sc: u64 = 0, a_sd: u64 = 0, a_pc: u64 = 0, a_pd: u64 = 0, a_ref: u64 = 0, a_anon: u64 = 0, a_lazy: u64 = 0;
let a_ahp: u64 = 0, a_spm: u64 = 0, a_fpm: u64 = 0, a_sh: u64 = 0, a_ph: u64 = 0, a_locked: u64 = 0;
let cur_locked: bool = false;

function reset(): void {
  a_rss = 0; a_pss = 0; a_pss_dirty = 0; a_pss_anon = 0; a_pss_file = 0; a_pss_shmem = 0;
  a_sc = 0; a_sd = 0; a_pc = 0; a_pd = 0; a_ref = 0; a_anon = 0; a_lazy = 0;
  a_ahp = 0; a_spm = 0; a_fpm = 0; a_sh = 0; a_ph = 0; a_locked = 0;
}

// smaps_page_accumulate()
@inline function accumulate(anon: bool, shmem: bool, size: u64, pss: u64, dirty: bool, priv: bool): void {
  a_pss += pss;
  if (anon) a_pss_anon += pss; else if (shmem) a_pss_shmem += pss; else a_pss_file += pss;
  if (cur_locked) a_locked += pss;
  if (dirty) {
    a_pss_dirty += pss;
    if (priv) a_pd += size; else a_sd += size;
  } else {
    if (priv) a_pc += size; else a_sc += size;
  }
}

// smaps_account() for one present entry mapping pfn (compound = the whole folio by PMD/PUD)
function smaps_account(pfn: u32, compound: bool, young: bool, dirty_entry: bool): void {
  const f = page_folio(pfn);
  if (f == 0) {
    const e = frame_get(pfn);
    const anon = (e & S_FILE) == 0;
    const dirty = dirty_entry || (e & S_DIRTY) != 0;
    const size: u64 = 4096;
    if (anon) {
      a_anon += size;
      if ((e & S_LAZYFREE) != 0 && !dirty) a_lazy += size;
    }
    a_rss += size;
    if (young || (e & S_REFERENCED) != 0) a_ref += size;
    const refcount = small_folio_refcount(pfn);
    const mc = e & S_MAPCOUNT_MASK;
    if (refcount == 1) { accumulate(anon, !anon, size, size << 12, dirty, true); return; }
    let pss: u64 = <u64>4096 << 12;
    if (mc >= 2) pss /= mc;
    accumulate(anon, !anon, size, pss, dirty, mc < 2);
    return;
  }
  const kind = load<u8>(f, T.F_KIND);
  const anon = kind == T.FK_ANON;
  const shmem = kind == T.FK_SHMEM;
  const flags = load<u16>(f, T.F_FLAGS);
  const dirty = dirty_entry || (flags & T.FF_DIRTY) != 0;
  const nr: u32 = compound ? folio_nr_pages(f) : 1;
  const size: u64 = <u64>nr << 12;
  if (anon) {
    a_anon += size;
    if ((flags & T.FF_LAZYFREE) != 0 && !dirty) a_lazy += size;
  }
  a_rss += size;
  if (young || (flags & T.FF_REFERENCED) != 0) a_ref += size;
  if (load<i32>(f, T.F_REFCOUNT) == 1) { accumulate(anon, shmem, size, size << 12, dirty, true); return; }
  const start = compound ? load<u32>(f, T.F_PFN) : pfn;
  const entire = load<i32>(f, T.F_ENTIRE_MAPCOUNT);
  for (let i: u32 = 0; i < nr; i++) {
    // folio_precise_page_mapcount()
    const mc = large_page_mapcount(f, start + i) + entire;
    let pss: u64 = <u64>4096 << 12;
    if (mc >= 2) pss /= <u64>mc;
    accumulate(anon, shmem, 4096, pss, dirty, mc < 2);
  }
}

function smaps_pte_table(tpfn: u32, addr: u64, end: u64): void {
  const t = table_host(tpfn);
  while (addr < end) {
    const e = load<u64>(t + ((<u32>(addr >> 12) & 511) << 3));
    if (e != 0 && pte_present(e) && !pte_special(e)) smaps_account(pte_pfn(e), false, pte_young(e), pte_dirty(e));
    addr += 4096;
  }
}

function smaps_walk_range(vma: u32, start: u64, end: u64): void {
  const mm = load<u32>(vma + T.V_MM);
  let addr = start;
  while (addr < end) {
    let next = (addr + (1 << 30)) & ~(<u64>(1 << 30) - 1);
    if (next > end || next == 0) next = end;
    const pudp = walk_to_pud(mm, addr);
    const pude = pudp == 0 ? 0 : load<u64>(pudp);
    if (pude == 0) { addr = next; continue; }
    if (pmd_trans_huge(pude)) {
      // V24 account-as-pud: a PUD leaf counts as a whole, like a PMD leaf
      if (!pte_special(pude)) {
        const pfn = pte_pfn(pude);
        const f = page_folio(pfn);
        smaps_account(pfn, true, pte_young(pude), pte_dirty(pude));
        if (f != 0 && load<u8>(f, T.F_KIND) == T.FK_ANON) a_ahp += <u64>1 << 30;
      }
      addr = next;
      continue;
    }
    const pmds = table_host(table_of(pude));
    while (addr < next) {
      let n2 = (addr + (1 << 21)) & ~(<u64>(1 << 21) - 1);
      if (n2 > next) n2 = next;
      const pmde = load<u64>(pmds + ((<u32>(addr >> 21) & 511) << 3));
      if (pmde != 0) {
        if (pmd_trans_huge(pmde)) {
          if (!pte_special(pmde)) {
            const pfn = pte_pfn(pmde);
            const f = page_folio(pfn);
            smaps_account(pfn, true, pte_young(pmde), pte_dirty(pmde));
            const kind = f != 0 ? load<u8>(f, T.F_KIND) : 0;
            if (kind == T.FK_ANON) a_ahp += 1 << 21;
            else if (kind == T.FK_SHMEM) a_spm += 1 << 21;
            else a_fpm += 1 << 21;
          }
        } else {
          smaps_pte_table(table_of(pmde), addr, n2);
        }
      }
      addr = n2;
    }
  }
}

@inline function put(rec: u32, field: u32, v: f64): void { store<f64>(rec + (field << 3), v); }

// Write records for VMAs [first, first + max) of mm; returns how many were written.
export function smaps_fill(mm: u32, first: u32, max: u32): u32 {
  const nr = mm_nr_vmas(mm);
  const cap = LAYOUT_IO_SIZE / SMAPS_RECORD_SIZE;
  if (max > cap) max = cap;
  let n: u32 = 0;
  for (let i = first; i < nr && n < max; i++, n++) {
    const vma = mm_vma(mm, i);
    const rec = LAYOUT_IO + n * SMAPS_RECORD_SIZE;
    memory.fill(rec, 0, SMAPS_RECORD_SIZE);
    reset();
    const flags = load<u64>(vma + T.V_FLAGS);
    cur_locked = (flags & T.VM_LOCKED) != 0;
    const start = load<u64>(vma + T.V_START), end = load<u64>(vma + T.V_END);
    const kind = load<u8>(vma + T.V_KIND);
    let kps: f64 = 4096;
    if (kind == T.VK_HUGETLB) {
      a_sh = smaps_hugetlb_shared(vma);
      a_ph = HT.smaps_hugetlb_private;
      kps = <f64>hugetlb_vma_page_size(vma);
    } else {
      smaps_walk_range(vma, start, end);
    }
    put(rec, SM_START, <f64>start);
    put(rec, SM_END, <f64>end);
    put(rec, SM_FLAGS_LO, <f64>(flags & 0xffffffff));
    put(rec, SM_FLAGS_HI, <f64>(flags >> 32));
    put(rec, SM_PGOFF, <f64>load<u64>(vma + T.V_PGOFF));
    put(rec, SM_RSS, <f64>a_rss);
    put(rec, SM_PSS, <f64>(a_pss >> 12));
    put(rec, SM_PSS_DIRTY, <f64>(a_pss_dirty >> 12));
    put(rec, SM_PSS_ANON, <f64>(a_pss_anon >> 12));
    put(rec, SM_PSS_FILE, <f64>(a_pss_file >> 12));
    put(rec, SM_PSS_SHMEM, <f64>(a_pss_shmem >> 12));
    put(rec, SM_SHARED_CLEAN, <f64>a_sc);
    put(rec, SM_SHARED_DIRTY, <f64>a_sd);
    put(rec, SM_PRIVATE_CLEAN, <f64>a_pc);
    put(rec, SM_PRIVATE_DIRTY, <f64>a_pd);
    put(rec, SM_REFERENCED, <f64>a_ref);
    put(rec, SM_ANONYMOUS, <f64>a_anon);
    put(rec, SM_LAZYFREE, <f64>a_lazy);
    put(rec, SM_ANON_HUGE, <f64>a_ahp);
    put(rec, SM_SHMEM_PMD, <f64>a_spm);
    put(rec, SM_FILE_PMD, <f64>a_fpm);
    put(rec, SM_SHARED_HUGETLB, <f64>a_sh);
    put(rec, SM_PRIVATE_HUGETLB, <f64>a_ph);
    put(rec, SM_LOCKED, <f64>(a_locked >> 12));
    put(rec, SM_THP_ELIGIBLE, thp_vma_allowable_orders(vma, flags, TVA_SMAPS, 0xffffffff) != 0 ? 1 : 0);
    put(rec, SM_KERNEL_PAGE_SIZE, kps);
    put(rec, SM_MMU_PAGE_SIZE, kps);
    put(rec, SM_KIND, <f64>kind);
  }
  return n;
}
