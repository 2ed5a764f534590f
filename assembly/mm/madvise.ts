// madvise(2) (mm/madvise.c): flag advice updates VMAs (split/merge), zapping
// advice works on the page tables.

import * as T from "./mm_types";
import {
  find_vma, vma_index_after, mm_vma, vma_modify_flags, vma_try_merge_around, EINVAL, ENOMEM, EACCES, PAGE_MASK,
} from "./mmap";
import { zap_page_range_single, walk_to_pmd, folio_pte_batch, is_anon_page, zap_pud_split_failed, zap_pud_split_failed_reset } from "./memory";
import {
  pte_pfn, pte_present, pte_special, pte_young, pte_dirty, pte_mkold, pte_mkclean, pmd_trans_huge, pmd_mkinvalid,
} from "../arch/x86/pgtable_types";
import { table_host, table_of } from "../arch/x86/pgtable";
import { flush_pmd_tlb_range } from "../arch/x86/tlb";
import { tlb_gather_mmu, tlb_finish_mmu, tlb_remove_pmd_tlb_entry, tlb_remove_tlb_entries } from "./mmu_gather";
import { page_folio, folio_nr_pages, frame_ptr, S_LAZYFREE, S_DIRTY, S_REFERENCED } from "./folio";
import { folio_maybe_mapped_shared } from "./rmap";
import { reclaim_anon_folio } from "./vmscan";
import { madvise_populate } from "./gup";
import { madvise_collapse } from "./khugepaged";
import {
  hugetlb_dontneed, hugetlb_madvise_split, madv_split_valid, hugetlb_collapse, hugetlbfs_punch_hole, MADV_SPLIT,
} from "./hugetlb";
import { shmem_punch_hole } from "./shmem";
import * as H from "./huge_memory";
import { shmem_pageout_ptes } from "./shmem";

export const MADV_NORMAL: u32 = 0;
export const MADV_RANDOM: u32 = 1;
export const MADV_SEQUENTIAL: u32 = 2;
export const MADV_WILLNEED: u32 = 3;
export const MADV_DONTNEED: u32 = 4;
export const MADV_FREE: u32 = 8;
export const MADV_REMOVE: u32 = 9;
export const MADV_DONTFORK: u32 = 10;
export const MADV_DOFORK: u32 = 11;
export const MADV_MERGEABLE: u32 = 12;
export const MADV_UNMERGEABLE: u32 = 13;
export const MADV_HUGEPAGE: u32 = 14;
export const MADV_NOHUGEPAGE: u32 = 15;
export const MADV_DONTDUMP: u32 = 16;
export const MADV_DODUMP: u32 = 17;
export const MADV_WIPEONFORK: u32 = 18;
export const MADV_KEEPONFORK: u32 = 19;
export const MADV_COLD: u32 = 20;
export const MADV_PAGEOUT: u32 = 21;
export const MADV_POPULATE_READ: u32 = 22;
export const MADV_POPULATE_WRITE: u32 = 23;
export const MADV_DONTNEED_LOCKED: u32 = 24;
export const MADV_COLLAPSE: u32 = 25;

export const MADVISE_NAMES: string =
  "0 normal\n1 random\n2 sequential\n3 willneed\n4 dontneed\n8 free\n9 remove\n10 dontfork\n11 dofork\n" +
  "14 hugepage\n15 nohugepage\n16 dontdump\n17 dodump\n18 wipeonfork\n19 keeponfork\n20 cold\n21 pageout\n" +
  "22 populate_read\n23 populate_write\n24 dontneed_locked\n25 collapse\n26 split";

function madvise_behavior_valid(b: u32): bool {
  return b <= 4 || (b >= 8 && b <= 25 && b != 12 && b != 13) || (b == MADV_SPLIT && madv_split_valid());
}

// Advice that only changes vm_flags (madvise_update_vma)
function madvise_new_flags(vma: u32, behavior: u32, flags: u64): i64 {
  switch (behavior) {
    case MADV_NORMAL: return <i64>(flags & ~(T.VM_RAND_READ | T.VM_SEQ_READ));
    case MADV_SEQUENTIAL: return <i64>((flags & ~T.VM_RAND_READ) | T.VM_SEQ_READ);
    case MADV_RANDOM: return <i64>((flags & ~T.VM_SEQ_READ) | T.VM_RAND_READ);
    case MADV_DONTFORK: return <i64>(flags | T.VM_DONTCOPY);
    case MADV_DOFORK:
      if (flags & T.VM_IO) return -EINVAL;
      return <i64>(flags & ~T.VM_DONTCOPY);
    case MADV_WIPEONFORK:
      // only for private anonymous memory (no vm_file, not shared)
      if (load<u8>(vma + T.V_KIND) != T.VK_ANON || (flags & T.VM_SHARED)) return -EINVAL;
      return <i64>(flags | T.VM_WIPEONFORK);
    case MADV_KEEPONFORK: return <i64>(flags & ~T.VM_WIPEONFORK);
    case MADV_DONTDUMP: return <i64>(flags | T.VM_DONTDUMP);
    case MADV_DODUMP:
      if (load<u8>(vma + T.V_KIND) == T.VK_HUGETLB) return <i64>(flags & ~T.VM_DONTDUMP);
      return <i64>(flags & ~T.VM_DONTDUMP);
    case MADV_HUGEPAGE: return <i64>((flags & ~T.VM_NOHUGEPAGE) | T.VM_HUGEPAGE);
    case MADV_NOHUGEPAGE: return <i64>((flags & ~T.VM_HUGEPAGE) | T.VM_NOHUGEPAGE);
  }
  return <i64>flags;
}

function is_flag_advice(b: u32): bool {
  return b == MADV_NORMAL || b == MADV_SEQUENTIAL || b == MADV_RANDOM || b == MADV_DONTFORK || b == MADV_DOFORK ||
    b == MADV_WIPEONFORK || b == MADV_KEEPONFORK || b == MADV_DONTDUMP || b == MADV_DODUMP ||
    b == MADV_HUGEPAGE || b == MADV_NOHUGEPAGE;
}

export let madvise_last_end: u64 = 0; // end of the VMA the last visit left behind

// madvise_vma_behavior() for one VMA piece [start, end)
function madvise_vma(task: u32, mm: u32, vma: u32, start: u64, end: u64, behavior: u32): i32 {
  madvise_last_end = end;
  if (is_flag_advice(behavior) || behavior == MADV_SPLIT) {
    // MADV_SPLIT (seed 003, hugemmu extension): VM_HUGETLB_HGM on a shared hugetlb VMA
    const nf = behavior == MADV_SPLIT ? hugetlb_madvise_split(vma, load<u64>(vma + T.V_FLAGS)) :
      madvise_new_flags(vma, behavior, load<u64>(vma + T.V_FLAGS));
    if (nf < 0) return <i32>nf;
    const r = vma_modify_flags(mm, vma, start, end, <u64>nf);
    if (r < 0) return <i32>r;
    const v = vma_try_merge_around(mm, <u32>r);
    madvise_last_end = min<u64>(load<u64>(v + T.V_END), end);
    if (behavior == MADV_HUGEPAGE) H.khugepaged_enter_vma(v);
    return 0;
  }
  switch (behavior) {
    case MADV_DONTNEED:
    case MADV_DONTNEED_LOCKED: {
      const flags = load<u64>(vma + T.V_FLAGS);
      if (flags & (T.VM_PFNMAP | (behavior == MADV_DONTNEED ? T.VM_LOCKED : 0))) return -EINVAL;
      if (load<u8>(vma + T.V_KIND) == T.VK_HUGETLB) {
        const r = hugetlb_dontneed(vma, start, end);
        if (r < 0) return r;
        return 0;
      }
      zap_pud_split_failed_reset();
      zap_page_range_single(vma, start, end, true);
      return zap_pud_split_failed ? -ENOMEM : 0;
    }
    case MADV_WILLNEED:
      return 0; // anonymous memory without swap: nothing to read ahead
    case MADV_COLD:
    case MADV_PAGEOUT: {
      // can_madv_lru_vma()
      if (load<u64>(vma + T.V_FLAGS) & (T.VM_LOCKED | T.VM_PFNMAP | T.VM_HUGETLB)) return -EINVAL;
      madvise_cold_or_pageout(vma, start, end, behavior == MADV_PAGEOUT);
      return 0;
    }
    case MADV_FREE: {
      if (load<u64>(vma + T.V_FLAGS) & (T.VM_LOCKED | T.VM_PFNMAP)) return -EINVAL;
      // MADV_FREE works for only anon vma at the moment
      if (load<u8>(vma + T.V_KIND) != T.VK_ANON) return -EINVAL;
      madvise_free(vma, start, end);
      return 0;
    }
    case MADV_POPULATE_READ:
    case MADV_POPULATE_WRITE: {
      const r = madvise_populate(task, start, end, behavior == MADV_POPULATE_WRITE);
      return r;
    }
    case MADV_REMOVE: {
      // madvise_remove(): a shared writable file mapping only
      if (load<u64>(vma + T.V_FLAGS) & T.VM_LOCKED) return -EINVAL;
      if (load<u8>(vma + T.V_KIND) == T.VK_ANON) return -EINVAL;
      if ((load<u64>(vma + T.V_FLAGS) & (T.VM_SHARED | T.VM_MAYWRITE)) != (T.VM_SHARED | T.VM_MAYWRITE)) return -EACCES;
      if (load<u8>(vma + T.V_KIND) == T.VK_HUGETLB) return hugetlbfs_punch_hole(vma, start, end);
      return shmem_punch_hole(vma, start, end);
    }
    case MADV_COLLAPSE:
      // hugetlb_collapse() exists only with HGM (seed 003)
      if (load<u8>(vma + T.V_KIND) == T.VK_HUGETLB && madv_split_valid()) return hugetlb_collapse(vma, start, end);
      return madvise_collapse(task, vma, start, end);
  }
  return H.madvise_huge_behavior(task, mm, vma, start, end, behavior);
}

// --- MADV_COLD / MADV_PAGEOUT (madvise_cold_or_pageout_pte_range) ------------------------

function madvise_cold_or_pageout(vma: u32, start: u64, end: u64, pageout: bool): void {
  const mm = load<u32>(vma + T.V_MM);
  tlb_gather_mmu(mm, false);
  let addr = start;
  while (addr < end) {
    let next = (addr + (1 << 21)) & ~(<u64>(1 << 21) - 1);
    if (next > end) next = end;
    const pmdp = walk_to_pmd(mm, addr);
    if (pmdp == 0) { addr = next; continue; }
    let pmd = load<u64>(pmdp);
    if (pmd != 0 && pmd_trans_huge(pmd)) {
      if (H.is_huge_zero_pmd(pmd) || (pmd & 1) == 0) { addr = next; continue; }
      const pfn = pte_pfn(pmd);
      const f = page_folio(pfn);
      if (folio_maybe_mapped_shared(f, pfn)) { addr = next; continue; }
      if (next - addr != (1 << 21)) {
        if (H.split_folio_to_order(f, 0) != 0) { addr = next; continue; }
        pmd = load<u64>(pmdp);
        // regular_folio: handle the range at PTE level below
      } else {
        if (!pageout && pte_young(pmd)) {
          // pmdp_invalidate() + pmd_mkold()
          store<u64>(pmdp, pmd_mkinvalid(pmd));
          flush_pmd_tlb_range(mm, addr, addr + (1 << 21));
          store<u64>(pmdp, pte_mkold(pmd));
          tlb_remove_pmd_tlb_entry(addr);
        }
        store<u16>(f, load<u16>(f, T.F_FLAGS) & ~T.FF_REFERENCED, T.F_FLAGS);
        if (pageout && load<u8>(f, T.F_KIND) == T.FK_SHMEM) {
          // try_to_unmap(TTU_SPLIT_HUGE_PMD): the PMD is split (zapped, or remapped by
          // the team variant and then unmapped); no swap: the folio stays cached
          H.__split_huge_pmd(vma, pmdp, addr, false);
          const t = load<u64>(pmdp);
          if (t != 0 && !pmd_trans_huge(t)) shmem_pageout_ptes(vma, table_host(table_of(t)), addr, pfn, 512);
        } else if (pageout) reclaim_anon_folio(f, pfn, vma, pmdp, addr, 1, 2);
        addr = next;
        continue;
      }
    }
    if (load<u64>(pmdp) == 0) { addr = next; continue; }
    const ptes = table_host(table_of(load<u64>(pmdp)));
    while (addr < next) {
      const ptep = ptes + ((<u32>(addr >> 12) & 511) << 3);
      const pte = load<u64>(ptep);
      let nr: u32 = 1;
      if (pte == 0 || !pte_present(pte) || pte_special(pte)) { addr += 4096; continue; }
      const pfn = pte_pfn(pte);
      const f = page_folio(pfn);
      if (f != 0) {
        nr = folio_pte_batch(f, pfn, ptep, pte, <u32>((next - addr) >> 12));
        if (nr < folio_nr_pages(f)) {
          if (!folio_maybe_mapped_shared(f, pfn) && H.split_folio_to_order(f, 0) == 0) continue; // redo these PTEs
          addr += <u64>nr << 12;
          continue;
        }
      }
      if (folio_maybe_mapped_shared(f, pfn)) { addr += <u64>nr << 12; continue; }
      const file = !is_anon_page(f, pfn);
      if (!pageout) {
        let young = false;
        for (let i: u32 = 0; i < nr; i++) {
          const p = ptep + (i << 3);
          const e = load<u64>(p);
          if (pte_young(e)) { young = true; store<u64>(p, pte_mkold(e)); }
        }
        if (young) tlb_remove_tlb_entries(addr, nr);
      }
      if (f != 0) store<u16>(f, load<u16>(f, T.F_FLAGS) & ~T.FF_REFERENCED, T.F_FLAGS);
      else store<u32>(frame_ptr(pfn), load<u32>(frame_ptr(pfn)) & ~S_REFERENCED);
      if (pageout) {
        if (file) shmem_pageout_ptes(vma, ptep, addr, pfn, nr);
        else reclaim_anon_folio(f, pfn, vma, ptep, addr, nr, 1);
      }
      addr += <u64>nr << 12;
    }
  }
  tlb_finish_mmu();
}

// --- MADV_FREE (madvise_free_pte_range, madvise_free_huge_pmd) ----------------------------------

function folio_mark_lazyfree(f: u32, pfn: u32): void {
  if (f != 0) store<u16>(f, load<u16>(f, T.F_FLAGS) | T.FF_LAZYFREE, T.F_FLAGS);
  else store<u32>(frame_ptr(pfn), load<u32>(frame_ptr(pfn)) | S_LAZYFREE);
}

function madvise_free(vma: u32, start: u64, end: u64): void {
  const mm = load<u32>(vma + T.V_MM);
  tlb_gather_mmu(mm, false);
  let addr = start;
  while (addr < end) {
    let next = (addr + (1 << 21)) & ~(<u64>(1 << 21) - 1);
    if (next > end) next = end;
    const pmdp = walk_to_pmd(mm, addr);
    if (pmdp == 0) { addr = next; continue; }
    let pmd = load<u64>(pmdp);
    if (pmd != 0 && pmd_trans_huge(pmd)) {
      if (H.is_huge_zero_pmd(pmd) || (pmd & 1) == 0) { addr = next; continue; }
      const pfn = pte_pfn(pmd);
      const f = page_folio(pfn);
      if (folio_maybe_mapped_shared(f, pfn)) { addr = next; continue; }
      if (next - addr != (1 << 21)) {
        // discard part of a THP: split it, then handle the pages
        H.split_folio_to_order(f, 0);
      } else {
        store<u16>(f, load<u16>(f, T.F_FLAGS) & ~T.FF_DIRTY, T.F_FLAGS);
        if (pte_young(pmd) || pte_dirty(pmd)) {
          store<u64>(pmdp, pmd_mkinvalid(pmd));
          flush_pmd_tlb_range(mm, addr, addr + (1 << 21));
          store<u64>(pmdp, pte_mkclean(pte_mkold(pmd)));
          tlb_remove_pmd_tlb_entry(addr);
        }
        folio_mark_lazyfree(f, pfn);
        addr = next;
        continue;
      }
    }
    if (load<u64>(pmdp) == 0 || pmd_trans_huge(load<u64>(pmdp))) { addr = next; continue; }
    const ptes = table_host(table_of(load<u64>(pmdp)));
    while (addr < next) {
      const ptep = ptes + ((<u32>(addr >> 12) & 511) << 3);
      const pte = load<u64>(ptep);
      let nr: u32 = 1;
      if (pte == 0 || !pte_present(pte) || pte_special(pte)) { addr += 4096; continue; }
      const pfn = pte_pfn(pte);
      const f = page_folio(pfn);
      if (f != 0) {
        nr = folio_pte_batch(f, pfn, ptep, pte, <u32>((next - addr) >> 12));
        if (nr < folio_nr_pages(f)) {
          if (!folio_maybe_mapped_shared(f, pfn) && H.split_folio_to_order(f, 0) == 0) continue;
          addr += <u64>nr << 12;
          continue;
        }
      }
      const fdirty = f != 0 ? (load<u16>(f, T.F_FLAGS) & T.FF_DIRTY) != 0 : (load<u32>(frame_ptr(pfn)) & S_DIRTY) != 0;
      if (fdirty) {
        if (folio_maybe_mapped_shared(f, pfn)) { addr += <u64>nr << 12; continue; }
        if (f != 0) store<u16>(f, load<u16>(f, T.F_FLAGS) & ~T.FF_DIRTY, T.F_FLAGS);
        else store<u32>(frame_ptr(pfn), load<u32>(frame_ptr(pfn)) & ~S_DIRTY);
      }
      let changed = false;
      for (let i: u32 = 0; i < nr; i++) {
        const p = ptep + (i << 3);
        const e = load<u64>(p);
        if (pte_young(e) || pte_dirty(e)) { store<u64>(p, pte_mkclean(pte_mkold(e))); changed = true; }
      }
      if (changed) tlb_remove_tlb_entries(addr, nr);
      if (is_anon_page(f, pfn)) folio_mark_lazyfree(f, pfn);
      addr += <u64>nr << 12;
    }
  }
  tlb_finish_mmu();
}

// do_madvise() + madvise_walk_vmas()
export function do_madvise(task: u32, mm: u32, start: u64, len_in: u64, behavior: u32): i32 {
  if (!madvise_behavior_valid(behavior)) return -EINVAL;
  if (start & 4095) return -EINVAL;
  const len = (len_in + 4095) & PAGE_MASK;
  if (len_in != 0 && len == 0) return -EINVAL;
  const end = start + len;
  if (end < start) return -EINVAL;
  if (end == start) return 0;
  let unmapped_error: i32 = 0;
  let vma = find_vma(mm, start);
  while (true) {
    if (vma == 0) return -ENOMEM;
    if (start < load<u64>(vma + T.V_START)) {
      unmapped_error = -ENOMEM;
      start = load<u64>(vma + T.V_START);
      if (start >= end) break;
    }
    let tmp = load<u64>(vma + T.V_END);
    if (end < tmp) tmp = end;
    const err = madvise_vma(task, mm, vma, start, tmp, behavior);
    if (err) return err;
    start = max<u64>(tmp, madvise_last_end);
    if (start >= end) break;
    vma = find_vma(mm, start);
  }
  return unmapped_error;
}
