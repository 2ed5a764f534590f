// Collapsing PTE-mapped memory into PMD THPs (mm/khugepaged.c):
// hpage_collapse_scan_pmd(), collapse_huge_page(), madvise_collapse(), and
// scan passes of khugepaged over the registered mms, run on request.

import * as T from "./mm_types";
import {
  pte_pfn, pte_present, pte_special, pte_young, pte_mkdirty, pte_mkwrite, pmd_trans_huge, _PAGE_PSE, pfn_pte,
} from "../arch/x86/pgtable_types";
import { table_host, table_of, mk_table_entry } from "../arch/x86/pgtable";
import { flush_tlb_range } from "../arch/x86/tlb";
import { ZERO_PFN, data_mode, pfn_to_host } from "./page_alloc";
import { page_folio, folio_alloc_large, copy_page_contents, page_copy_nonzero, clear_page_contents } from "./folio";
import { folio_put_refs } from "./swap";
import { folio_add_new_anon_rmap, folio_remove_rmap_ptes, folio_maybe_mapped_shared, folio_mapcount } from "./rmap";
import { small_folio_refcount } from "./swap";
import { walk_to_pmd, add_mm_counter, is_anon_page, folio_pte_batch } from "./memory";
import {
  count_vm_event, THP_COLLAPSE_ALLOC, THP_COLLAPSE_ALLOC_FAILED, THP_SCAN_EXCEED_NONE_PTE,
  THP_SCAN_EXCEED_SHARE_PTE, MM_ANONPAGES,
} from "./vmstat";
import {
  knob, K_KHUGEPAGED_MAX_PTES_NONE, K_KHUGEPAGED_MAX_PTES_SHARED, K_KHUGEPAGED_PAGES_TO_SCAN,
} from "../kernel/sysfs";
import {
  thp_vma_allowable_orders, TVA_FORCED_COLLAPSE, TVA_KHUGEPAGED, PMD_ORDER, deferred_split_folio,
} from "./huge_memory";
import { pgtable_trans_huge_deposit } from "./pgtable_generic";
import { nr_pids, task_slot, mm_nr_vmas, mm_vma, EINVAL, ENOMEM, EBUSY, EAGAIN } from "./mmap";

// enum scan_result (the ones this model produces)
export const SCAN_FAIL: i32 = 0;
export const SCAN_SUCCEED: i32 = 1;
export const SCAN_PMD_NULL: i32 = 2;
export const SCAN_PMD_NONE: i32 = 3;
export const SCAN_PMD_MAPPED: i32 = 4;
export const SCAN_EXCEED_NONE_PTE: i32 = 5;
export const SCAN_EXCEED_SHARED_PTE: i32 = 7;
export const SCAN_PAGE_NULL: i32 = 12;
export const SCAN_LACK_REFERENCED_PAGE: i32 = 11;
export const SCAN_PAGE_COUNT: i32 = 15;
export const SCAN_PAGE_ANON: i32 = 17;
export const SCAN_ALLOC_HUGE_PAGE_FAIL: i32 = 20;
export const SCAN_VMA_CHECK: i32 = 24;

const HPAGE_PMD_SIZE: u64 = 1 << 21;

// folio refcount against its mappings (is_refcount_suitable / folio_expected_ref_count)
function refcount_suitable(f: u32, pfn: u32): bool {
  if (f != 0) return load<i32>(f, T.F_REFCOUNT) == folio_mapcount(f, pfn);
  return small_folio_refcount(pfn) == <u32>folio_mapcount(0, pfn);
}

// hpage_collapse_scan_pmd()
function hpage_collapse_scan_pmd(mm: u32, vma: u32, address: u64, is_khugepaged: bool): i32 {
  const pmdp = walk_to_pmd(mm, address);
  if (pmdp == 0) return SCAN_PMD_NULL;
  const pmd = load<u64>(pmdp);
  if (pmd == 0) return SCAN_PMD_NONE;
  if (pmd_trans_huge(pmd)) return SCAN_PMD_MAPPED;
  const ptes = table_host(table_of(pmd));
  const max_none = knob(K_KHUGEPAGED_MAX_PTES_NONE);
  const max_shared = knob(K_KHUGEPAGED_MAX_PTES_SHARED);
  let none_or_zero: u32 = 0, shared: u32 = 0, referenced: u32 = 0;
  for (let i: u32 = 0; i < 512; i++) {
    const pte = load<u64>(ptes + (i << 3));
    if (pte == 0 || (pte_present(pte) && pte_special(pte) && pte_pfn(pte) == ZERO_PFN)) {
      none_or_zero++;
      if (!is_khugepaged || none_or_zero <= max_none) continue;
      count_vm_event(THP_SCAN_EXCEED_NONE_PTE);
      return SCAN_EXCEED_NONE_PTE;
    }
    if (!pte_present(pte) || pte_special(pte)) return SCAN_PAGE_NULL;
    const pfn = pte_pfn(pte);
    const f = page_folio(pfn);
    if (!is_anon_page(f, pfn)) return SCAN_PAGE_ANON;
    if (folio_maybe_mapped_shared(f, pfn)) {
      shared++;
      if (is_khugepaged && shared > max_shared) {
        count_vm_event(THP_SCAN_EXCEED_SHARE_PTE);
        return SCAN_EXCEED_SHARED_PTE;
      }
    }
    if (!refcount_suitable(f, pfn)) return SCAN_PAGE_COUNT;
    if (is_khugepaged && pte_young(pte)) referenced++;
  }
  if (is_khugepaged && referenced == 0) return SCAN_LACK_REFERENCED_PAGE;
  return collapse_huge_page(mm, vma, address, pmdp);
}

// collapse_huge_page(): allocate, isolate (PMD cleared and flushed), copy, map the THP.
// The emptied PTE table becomes the new THP's deposit (nr_ptes unchanged).
function collapse_huge_page(mm: u32, vma: u32, address: u64, pmdp: u32): i32 {
  const f = folio_alloc_large(PMD_ORDER, T.FK_ANON);
  if (f == 0) {
    count_vm_event(THP_COLLAPSE_ALLOC_FAILED);
    return SCAN_ALLOC_HUGE_PAGE_FAIL;
  }
  count_vm_event(THP_COLLAPSE_ALLOC);
  const table = table_of(load<u64>(pmdp));
  // pmdp_collapse_flush(): no huge and small TLB entries for the same address
  store<u64>(pmdp, 0);
  flush_tlb_range(mm, address, address + HPAGE_PMD_SIZE, 12);
  const ptes = table_host(table);
  const npfn = load<u32>(f, T.F_PFN);
  // __collapse_huge_page_copy() + _succeeded()
  for (let i: u32 = 0; i < 512; ) {
    const p = ptes + (i << 3);
    const pte = load<u64>(p);
    if (pte == 0 || pte_special(pte)) {
      clear_page_contents(npfn + i);
      add_mm_counter(mm, MM_ANONPAGES, 1);
      store<u64>(p, 0);
      i++;
      continue;
    }
    const pfn = pte_pfn(pte);
    const src = page_folio(pfn);
    // the PTEs of one large folio go in one batch (6.18 folio_pte_batch here), so a
    // wholly PTE-mapped THP is never seen partially mapped (no deferred split)
    const nr: u32 = src != 0 ? folio_pte_batch(src, pfn, p, pte, 512 - i) : 1;
    for (let k: u32 = 0; k < nr; k++) {
      copy_page_contents(npfn + i + k, pfn + k);
      page_copy_nonzero(npfn + i + k, pfn + k);
      store<u64>(p + (k << 3), 0);
    }
    folio_remove_rmap_ptes(src, pfn, nr, vma);
    folio_put_refs(src, pfn, nr);
    i += nr;
  }
  let entry = pfn_pte(npfn, load<u64>(vma + T.V_PROT)) | _PAGE_PSE;
  entry = pte_mkdirty(entry);
  if (load<u64>(vma + T.V_FLAGS) & T.VM_WRITE) entry = pte_mkwrite(entry);
  folio_add_new_anon_rmap(f, npfn, vma, address, true);
  pgtable_trans_huge_deposit(mm, table);
  store<u64>(pmdp, entry);
  deferred_split_folio(f, false);
  return SCAN_SUCCEED;
}

// madvise_collapse_errno()
function madvise_collapse_errno(r: i32): i32 {
  if (r == SCAN_ALLOC_HUGE_PAGE_FAIL) return -ENOMEM;
  if (r == SCAN_EXCEED_NONE_PTE) return -EBUSY;
  if (r == SCAN_PAGE_COUNT) return -EAGAIN;
  return -EINVAL;
}

// madvise_collapse(): synchronous, ignores sysfs enabled and the max_ptes_* limits
export function madvise_collapse(task: u32, vma: u32, start: u64, end: u64): i32 {
  if (thp_vma_allowable_orders(vma, load<u64>(vma + T.V_FLAGS), TVA_FORCED_COLLAPSE, 1 << PMD_ORDER) == 0) return -EINVAL;
  if (load<u8>(vma + T.V_KIND) != T.VK_ANON) return -EINVAL;
  const mm = load<u32>(vma + T.V_MM);
  const hstart = (start + HPAGE_PMD_SIZE - 1) & ~(HPAGE_PMD_SIZE - 1);
  const hend = end & ~(HPAGE_PMD_SIZE - 1);
  let thps: u64 = 0;
  let last_fail: i32 = SCAN_FAIL;
  for (let addr = hstart; addr < hend; addr += HPAGE_PMD_SIZE) {
    const r = hpage_collapse_scan_pmd(mm, vma, addr, false);
    if (r == SCAN_SUCCEED || r == SCAN_PMD_MAPPED) { thps++; continue; }
    last_fail = r;
    // whitelisted results continue with the next range; others stop
    if (r != SCAN_PMD_NULL && r != SCAN_PAGE_NULL && r != SCAN_PAGE_COUNT && r != SCAN_LACK_REFERENCED_PAGE) break;
  }
  return thps == ((hend - hstart) >> 21) ? 0 : madvise_collapse_errno(last_fail);
}

// One khugepaged wakeup (khugepaged_do_scan): scan up to pages_to_scan pages of the
// registered mms, PMD range by PMD range. Returns the number of THPs collapsed.
let scan_pid: u32 = 1;
let scan_addr: u64 = 0;

export function khugepaged_scan(wakeups: u32): u32 {
  let collapsed: u32 = 0;
  const budget = knob(K_KHUGEPAGED_PAGES_TO_SCAN);
  for (let w: u32 = 0; w < wakeups; w++) {
    let progress: u32 = 0;
    // khugepaged_do_scan(): pass the head of the mm list at most once per wakeup
    let pass_through_head: u32 = scan_pid == 1 && scan_addr == 0 ? 1 : 0;
    while (progress < budget) {
      if (scan_pid >= nr_pids()) {
        scan_pid = 1;
        scan_addr = 0;
        if (++pass_through_head >= 2) break;
      }
      const t = task_slot(scan_pid);
      const mm = t != 0 && load<u32>(t + T.T_ALIVE) != 0 ? load<u32>(t + T.T_MM) : 0;
      if (mm == 0 || (load<u32>(mm + T.MM_FLAGS) & T.MMF_VM_HUGEPAGE) == 0) {
        scan_pid++; scan_addr = 0;
        continue;
      }
      let done_mm = true;
      const nr = mm_nr_vmas(mm);
      for (let i: u32 = 0; i < nr && progress < budget; i++) {
        const vma = mm_vma(mm, i);
        if (load<u64>(vma + T.V_END) <= scan_addr) continue;
        if (thp_vma_allowable_orders(vma, load<u64>(vma + T.V_FLAGS), TVA_KHUGEPAGED, 1 << PMD_ORDER) == 0) {
          progress++;
          continue;
        }
        let hs = (load<u64>(vma + T.V_START) + HPAGE_PMD_SIZE - 1) & ~(HPAGE_PMD_SIZE - 1);
        const he = load<u64>(vma + T.V_END) & ~(HPAGE_PMD_SIZE - 1);
        if (hs < scan_addr) hs = scan_addr;
        for (let a = hs; a < he; a += HPAGE_PMD_SIZE) {
          if (progress >= budget) { scan_addr = a; done_mm = false; break; }
          if (hpage_collapse_scan_pmd(mm, vma, a, true) == SCAN_SUCCEED) collapsed++;
          progress += 512;
        }
        if (!done_mm) break;
      }
      if (done_mm) { scan_pid++; scan_addr = 0; }
    }
  }
  return collapsed;
}
