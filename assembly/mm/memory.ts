// Page faults, zapping and page-table teardown (mm/memory.c).

import * as T from "./mm_types";
import {
  _PAGE_RW, _PAGE_PRESENT, pte_pfn, pfn_pte, pte_present, pte_write, pte_special, pte_mkspecial, pte_mkdirty,
  pte_mkyoung, pte_mkwrite, pte_dirty, pte_young, pte_protnone, pmd_trans_huge, PTE_PFN_MASK,
} from "../arch/x86/pgtable_types";
import {
  pgtable_alloc, entry_ptr, table_of, mk_table_entry, set_ptes, mm_inc_nr_ptes, mm_inc_nr_pmds, mm_inc_nr_puds,
  mm_dec_nr_ptes, mm_dec_nr_pmds, mm_dec_nr_puds, PT_LEVEL_PTE, PT_LEVEL_PMD, PT_LEVEL_PUD, PT_LEVEL_P4D,
  pgtable_free, table_host,
} from "../arch/x86/pgtable";
import { flush_tlb_page } from "../arch/x86/tlb";
import { ZERO_PFN, data_mode, pfn_to_host } from "./page_alloc";
import {
  page_folio, frame_ptr, folio_alloc_small, folio_alloc_large, folio_nr_pages, folio_order, S_AE, S_MAPCOUNT_MASK,
  large_page_anon_exclusive, large_page_set_anon_exclusive, folio_ref_count, folio_large_mapcount, clear_page_contents,
  copy_page_contents, page_copy_nonzero, folio_test, FT_SMALL, ft_type, folio_mark_dirty,
} from "./folio";
import { folio_get, folio_put, folio_put_refs, small_folio_refcount } from "./swap";
import { folio_add_new_anon_rmap, folio_remove_rmap_ptes, folio_maybe_mapped_shared } from "./rmap";
import {
  count_vm_event, count_mthp_stat, PGFAULT, PGREUSE, MM_ANONPAGES, MM_SHMEMPAGES, MTHP_STAT_ANON_FAULT_ALLOC,
  MTHP_STAT_ANON_FAULT_FALLBACK,
} from "./vmstat";
import {
  tlb_remove_tlb_entries, tlb_remove_folio_refs, tlb_free_table, tlb_gather_mmu, tlb_finish_mmu,
} from "./mmu_gather";
import { anon_vma_prepare, mm_nr_vmas, mm_vma, mm_free, vm_area_free, vm_acct_charge } from "./mmap";
import {
  thp_vma_allowable_orders, thp_vma_suitable_orders, TVA_PAGEFAULT, PMD_ORDER, PUD_ORDER,
} from "./huge_memory";
import * as H from "./huge_memory";
import { shmem_do_fault, shmem_wp_page_shared } from "./shmem";
import { hugetlb_fault, unmap_hugepage_range, hugetlb_free_pgd_range, hugetlb_vma_close } from "./hugetlb";
import { knob, K_V_COW_REUSE_LARGE, K_V_MTHP_ORDER_SELECTION, K_V_MAX_ANON_FOLIO_ORDER } from "../kernel/sysfs";
import { race_active, race_lock_point, LP_ANON_PTL } from "../arch/race";
import { K_V_MTHP_ON_RACE } from "../kernel/sysfs";

// vm_fault_t
export const VM_FAULT_OOM: u32 = 0x000001;
export const VM_FAULT_SIGBUS: u32 = 0x000002;
export const VM_FAULT_MAJOR: u32 = 0x000004;
export const VM_FAULT_HWPOISON: u32 = 0x000010;
export const VM_FAULT_SIGSEGV: u32 = 0x000040;
export const VM_FAULT_NOPAGE: u32 = 0x000100;
export const VM_FAULT_RETRY: u32 = 0x000400;
export const VM_FAULT_FALLBACK: u32 = 0x000800;
export const VM_FAULT_ERROR: u32 = VM_FAULT_OOM | VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV | VM_FAULT_HWPOISON | VM_FAULT_FALLBACK;

export const FAULT_FLAG_WRITE: u32 = 1 << 0;
export const FAULT_FLAG_UNSHARE: u32 = 1 << 10;
export const FAULT_FLAG_REMOTE: u32 = 1 << 7;
export const FAULT_FLAG_USER: u32 = 1 << 6;

// struct vm_fault, one at a time (the core is single-threaded)
export let vmf_vma: u32 = 0;
export let vmf_address: u64 = 0;
export let vmf_flags: u32 = 0;
export let vmf_pud: u32 = 0; // host address of the PUD entry
export let vmf_pmd: u32 = 0; // host address of the PMD entry
export let vmf_pte: u32 = 0; // host address of the PTE (0 = no table)
export let vmf_orig_pte: u64 = 0;

@inline export function add_mm_counter(mm: u32, member: u32, value: i64): void {
  const p = mm + T.MM_RSS + (member << 3);
  store<i64>(p, load<i64>(p) + value);
}
@inline export function get_mm_counter(mm: u32, member: u32): i64 {
  return load<i64>(mm + T.MM_RSS + (member << 3));
}

// --- page-table allocation ---------------------------------------------------------------

// p4d_alloc(): with 4 levels the P4D is folded into the PGD entry. Returns the
// host address of the entry holding the PUD table (0 on OOM).
@inline export function p4d_alloc(mm: u32, addr: u64): u32 {
  const pgdp = entry_ptr(load<u32>(mm + T.MM_PGD), addr, load<u32>(mm + T.MM_LEVELS) == 5 ? 48 : 39);
  if (load<u32>(mm + T.MM_LEVELS) != 5) return pgdp;
  let e = load<u64>(pgdp);
  if (e == 0) {
    const t = pgtable_alloc(PT_LEVEL_P4D);
    if (t == 0) return 0;
    e = mk_table_entry(t);
    store<u64>(pgdp, e);
  }
  return entry_ptr(table_of(e), addr, 39);
}

// pud_alloc(): entry pointer in the PUD table for addr
@inline export function pud_alloc(mm: u32, p4dp: u32, addr: u64): u32 {
  let e = load<u64>(p4dp);
  if (e == 0) {
    const t = pgtable_alloc(PT_LEVEL_PUD);
    if (t == 0) return 0;
    mm_inc_nr_puds(mm);
    e = mk_table_entry(t);
    store<u64>(p4dp, e);
  }
  return entry_ptr(table_of(e), addr, 30);
}

// pmd_alloc(): entry pointer in the PMD table (the PUD entry must not be a leaf)
@inline export function pmd_alloc(mm: u32, pudp: u32, addr: u64): u32 {
  let e = load<u64>(pudp);
  if (e == 0) {
    const t = pgtable_alloc(PT_LEVEL_PMD);
    if (t == 0) return 0;
    mm_inc_nr_pmds(mm);
    e = mk_table_entry(t);
    store<u64>(pudp, e);
  }
  return entry_ptr(table_of(e), addr, 21);
}

// pte_alloc(): the pmd_none() check inline (the macro), the allocation out of line.
@inline export function pte_alloc(mm: u32, pmdp: u32): bool {
  return load<u64>(pmdp) != 0 || __pte_alloc(mm, pmdp);
}
// __pte_alloc(): populate an empty PMD entry with a new PTE table (false on OOM)
export function __pte_alloc(mm: u32, pmdp: u32): bool {
  const t = pgtable_alloc(PT_LEVEL_PTE);
  if (t == 0) return false;
  mm_inc_nr_ptes(mm);
  store<u64>(pmdp, mk_table_entry(t));
  return true;
}

// Lookup without allocation: host address of the PTE for addr, or 0.
export function walk_to_pte(mm: u32, addr: u64): u32 {
  let e: u64;
  let pgdp = entry_ptr(load<u32>(mm + T.MM_PGD), addr, load<u32>(mm + T.MM_LEVELS) == 5 ? 48 : 39);
  if (load<u32>(mm + T.MM_LEVELS) == 5) {
    e = load<u64>(pgdp);
    if (e == 0) return 0;
    pgdp = entry_ptr(table_of(e), addr, 39);
  }
  e = load<u64>(pgdp);
  if (e == 0) return 0;
  const pudp = entry_ptr(table_of(e), addr, 30);
  e = load<u64>(pudp);
  if (e == 0 || pmd_trans_huge(e)) return 0;
  const pmdp = entry_ptr(table_of(e), addr, 21);
  e = load<u64>(pmdp);
  if (e == 0 || pmd_trans_huge(e)) return 0;
  return entry_ptr(table_of(e), addr, 12);
}

// Host address of the PUD entry for addr (0 if the upper tables do not exist).
export function walk_to_pud(mm: u32, addr: u64): u32 {
  let e: u64;
  let pgdp = entry_ptr(load<u32>(mm + T.MM_PGD), addr, load<u32>(mm + T.MM_LEVELS) == 5 ? 48 : 39);
  if (load<u32>(mm + T.MM_LEVELS) == 5) {
    e = load<u64>(pgdp);
    if (e == 0) return 0;
    pgdp = entry_ptr(table_of(e), addr, 39);
  }
  e = load<u64>(pgdp);
  if (e == 0) return 0;
  return entry_ptr(table_of(e), addr, 30);
}

// Host address of the PMD entry for addr (0 if absent or the PUD is a leaf).
export function walk_to_pmd(mm: u32, addr: u64): u32 {
  const pudp = walk_to_pud(mm, addr);
  if (pudp == 0) return 0;
  const e = load<u64>(pudp);
  if (e == 0 || pmd_trans_huge(e)) return 0;
  return entry_ptr(table_of(e), addr, 21);
}

// --- vm_normal_page ------------------------------------------------------------------------

// vm_normal_page(): 0 for special entries (zero page), else the pfn
@inline export function vm_normal_pfn(pte: u64): u32 {
  if (pte_special(pte)) return 0;
  return pte_pfn(pte);
}

// --- do_anonymous_page / alloc_anon_folio ------------------------------------------------

// vmf_anon_prepare(): the VMA needs an anon_vma before the first anon folio
@inline export function vmf_anon_prepare(vma: u32): u32 {
  if (load<u32>(vma + T.V_ANON_VMA) != 0) return 0;
  return anon_vma_prepare(vma) ? 0 : VM_FAULT_OOM;
}

// pte_range_none(): eight entries per step (nr is 1 or a power of two)
function pte_range_none(ptep: u32, nr: u32): bool {
  if (nr < 8) {
    for (let i: u32 = 0; i < nr; i++) if (load<u64>(ptep + (i << 3)) != 0) return false;
    return true;
  }
  for (let o: u32 = 0; o < nr << 3; o += 64) {
    const v = v128.or(v128.or(v128.load(ptep + o), v128.load(ptep + o, 16)), v128.or(v128.load(ptep + o, 32), v128.load(ptep + o, 48)));
    if (v128.any_true(v)) return false;
  }
  return true;
}

// alloc_anon_folio(): returns the folio record (large), the pfn | 0x80000000
// of an order-0 folio, or 0 on OOM. 0xffffffff = -EAGAIN (retry the fault).
export function alloc_anon_folio(vma: u32, addr: u64, ptes: u32): u32 {
  const variant = knob(K_V_MTHP_ORDER_SELECTION);
  let orders: u32;
  if (variant == 2) {
    // calc_anon_folio_order_alloc() (seed 002 v1): no per-size knobs; every order from
    // min(max_anon_folio_order(), PMD order) down to 2 that is aligned inside the VMA
    // (try_vma_alloc_movable_folio() then falls back through the lower ones)
    // (an order-9 folio is only ever mapped by a PMD here, so the cap stops at 8)
    const maxo = min<u32>(knob(K_V_MAX_ANON_FOLIO_ORDER), PMD_ORDER - 1);
    orders = thp_vma_suitable_orders(vma, addr, ((1 << (maxo + 1)) - 1) & ~3);
  } else if (!H.anon_mthp_orders_possible()) {
    orders = 0; // no mTHP size is enabled: straight to order 0
  } else {
    orders = thp_vma_allowable_orders(vma, load<u64>(vma + T.V_FLAGS), TVA_PAGEFAULT, (1 << PMD_ORDER) - 1);
    orders = thp_vma_suitable_orders(vma, addr, orders);
  }
  if (orders != 0) {
    // the highest order whose aligned range is entirely pte_none
    let o = orders;
    while (o != 0) {
      const order = 31 - clz(o);
      const nr: u32 = 1 << order;
      const a = addr & ~((<u64>nr << 12) - 1);
      const p = ptes + ((<u32>(a >> 12) & 511) << 3);
      if (pte_range_none(p, nr)) break;
      o &= ~(1 << order);
    }
    orders = o;
    if (variant == 1 && orders != 0) {
      // preferred-plus-order0: only the preferred (highest) order, then order 0
      orders = 1 << (31 - clz(orders));
    }
    while (orders != 0) {
      const order = 31 - clz(orders);
      const f = folio_alloc_large(order, T.FK_ANON);
      if (f != 0) {
        // folio_zero_user(): one fill, the folio's pages lie in one backing chunk
        if (data_mode) memory.fill(pfn_to_host(load<u32>(f, T.F_PFN)), 0, folio_nr_pages(f) << 12);
        return f;
      }
      count_mthp_stat(order, MTHP_STAT_ANON_FAULT_FALLBACK);
      orders &= ~(1 << order);
    }
  }
  // folio_prealloc(need_zero = true)
  const pfn = folio_alloc_small(false);
  if (pfn == 0) return 0;
  clear_page_contents(pfn);
  return pfn | 0x80000000;
}

export function do_anonymous_page(vma: u32): u32 {
  const mm = load<u32>(vma + T.V_MM);
  if (load<u64>(vma + T.V_FLAGS) & T.VM_SHARED) return VM_FAULT_SIGBUS;
  if (!pte_alloc(mm, vmf_pmd)) return VM_FAULT_OOM;
  const ptes = table_host(table_of(load<u64>(vmf_pmd)));
  const prot = load<u64>(vma + T.V_PROT);
  if ((vmf_flags & FAULT_FLAG_WRITE) == 0) {
    // use the shared zero page for reads
    const ptep = ptes + ((<u32>(vmf_address >> 12) & 511) << 3);
    if (load<u64>(ptep) != 0) return 0; // vmf_pte_changed
    store<u64>(ptep, pte_mkspecial(pfn_pte(ZERO_PFN, prot)));
    return 0;
  }
  const r = vmf_anon_prepare(vma);
  if (r) return r;
  let folio = alloc_anon_folio(vma, vmf_address, ptes);
  if (folio == 0xffffffff) return 0;
  if (folio == 0) return VM_FAULT_OOM;
  let large: bool, pfn: u32, nr: u32, addr: u64, ptep: u32;
  while (true) {
    large = (folio & 0x80000000) == 0;
    pfn = large ? load<u32>(folio, T.F_PFN) : folio & 0x7fffffff;
    nr = large ? folio_nr_pages(folio) : 1;
    addr = vmf_address & ~((<u64>nr << 12) - 1);
    ptep = ptes + ((<u32>(addr >> 12) & 511) << 3);
    if (race_active) {
      // pte_offset_map_lock(): another thread of this mm may get the PTL first (arch/race.ts)
      const sv = vmf_vma, sa = vmf_address, sf = vmf_flags, su = vmf_pud, sp = vmf_pmd, st = vmf_pte, so = vmf_orig_pte;
      race_lock_point(LP_ANON_PTL);
      vmf_vma = sv; vmf_address = sa; vmf_flags = sf; vmf_pud = su; vmf_pmd = sp; vmf_pte = st; vmf_orig_pte = so;
    }
    if (pte_range_none(ptep, nr)) break;
    // raced: release the folio; V2 mthp.onRace decides what the fault does next
    if (large) folio_put(folio, 0); else folio_put(0, pfn);
    const v = knob(K_V_MTHP_ON_RACE);
    if (v == 0 || !large || load<u64>(ptes + ((<u32>(vmf_address >> 12) & 511) << 3)) != 0) return 0;
    if (v == 1) {
      // retry-lower-order (seed 002 v1: order--; goto retry): the highest order still all-none
      folio = alloc_anon_folio(vma, vmf_address, ptes);
      if (folio == 0xffffffff) return 0;
    } else {
      // fallback-order0-now
      const p0 = folio_alloc_small(false);
      if (p0 != 0) clear_page_contents(p0);
      folio = p0 == 0 ? 0 : p0 | 0x80000000;
    }
    if (folio == 0) return VM_FAULT_OOM;
  }
  let entry = pfn_pte(pfn, prot);
  if (load<u64>(vma + T.V_FLAGS) & T.VM_WRITE) entry = pte_mkwrite(pte_mkdirty(entry));
  if (large) {
    store<i32>(folio, load<i32>(folio, T.F_REFCOUNT) + <i32>nr - 1, T.F_REFCOUNT);
    count_mthp_stat(folio_order(folio), MTHP_STAT_ANON_FAULT_ALLOC);
  }
  add_mm_counter(mm, MM_ANONPAGES, nr);
  folio_add_new_anon_rmap(large ? folio : 0, pfn, vma, addr, true);
  if (nr == 1) store<u64>(ptep, entry); // set_pte_at()
  else set_ptes(ptep, entry, nr);
  return 0;
}

// --- write-protect faults -------------------------------------------------------------------

// wp_can_reuse_anon_folio(): small folios reuse when we hold the only reference;
// large PTE-mapped folios when all references are this mm's mappings (V21).
function wp_can_reuse_anon_folio(f: u32, pfn: u32, vma: u32): bool {
  if (f != 0) {
    if (knob(K_V_COW_REUSE_LARGE) == 1) return false; // never-reuse (pre-6.16 kernels)
    if (folio_large_mapcount(f) <= 1) return false; // free up a large folio mapped by one page
    if (folio_test(f, T.FF_MAYBE_SHARED)) return false;
    if (folio_large_mapcount(f) != folio_ref_count(f)) return false;
    return true;
  }
  if (small_folio_refcount(pfn) != 1) return false;
  return true;
}

// wp_page_reuse()
function wp_page_reuse(vma: u32, ptep: u32): void {
  let entry = pte_mkyoung(vmf_orig_pte);
  entry = pte_mkdirty(entry);
  if (load<u64>(vma + T.V_FLAGS) & T.VM_WRITE) entry = pte_mkwrite(entry);
  // x86 ptep_set_access_flags(): write only if changed and dirty; no flush
  if (entry != load<u64>(ptep)) store<u64>(ptep, entry);
  count_vm_event(PGREUSE);
}

// wp_page_copy(): new exclusive order-0 copy (zeroed if the old entry is the zero page)
function wp_page_copy(vma: u32, ptep: u32, old_folio: u32, old_pfn: u32): u32 {
  const mm = load<u32>(vma + T.V_MM);
  // the copy is anonymous: the VMA needs its anon_vma (a zero-page VMA has none yet,
  // and fork copies only VMAs that have one)
  const ar = vmf_anon_prepare(vma);
  if (ar) {
    if (old_pfn != 0) folio_put(old_folio, old_pfn);
    return ar;
  }
  const new_pfn = folio_alloc_small(false);
  if (new_pfn == 0) {
    if (old_pfn != 0) folio_put(old_folio, old_pfn);
    return VM_FAULT_OOM;
  }
  if (old_pfn == 0) clear_page_contents(new_pfn);
  else { copy_page_contents(new_pfn, old_pfn); page_copy_nonzero(new_pfn, old_pfn); }
  if (load<u64>(ptep) == vmf_orig_pte) {
    if (old_pfn == 0) add_mm_counter(mm, MM_ANONPAGES, 1);
    else if (!is_anon_page(old_folio, old_pfn)) {
      // a private copy of a page-cache page: file -> anon
      add_mm_counter(mm, MM_SHMEMPAGES, -1);
      add_mm_counter(mm, MM_ANONPAGES, 1);
    }
    let entry = pfn_pte(new_pfn, load<u64>(vma + T.V_PROT));
    if (vmf_flags & FAULT_FLAG_UNSHARE) {
      // unshare: an exclusive copy that stays read-only (soft-dirty/uffd-wp kept)
      entry |= vmf_orig_pte & ((1 << 11) | (1 << 10));
    } else {
      entry = pte_mkdirty(entry);
      if (load<u64>(vma + T.V_FLAGS) & T.VM_WRITE) entry = pte_mkwrite(entry);
    }
    // ptep_clear_flush()
    store<u64>(ptep, 0);
    flush_tlb_page(mm, vmf_address & ~(<u64>4095));
    folio_add_new_anon_rmap(0, new_pfn, vma, vmf_address, true);
    store<u64>(ptep, entry);
    if (old_pfn != 0) {
      folio_remove_rmap_ptes(old_folio, old_pfn, 1, vma);
      folio_put(old_folio, old_pfn); // the mapping's reference
    }
  } else {
    folio_put(0, new_pfn);
  }
  if (old_pfn != 0) folio_put(old_folio, old_pfn); // do_wp_page's reference
  return 0;
}

export function do_wp_page(vma: u32, ptep: u32): u32 {
  const unshare = (vmf_flags & FAULT_FLAG_UNSHARE) != 0;
  const pfn = vm_normal_pfn(vmf_orig_pte);
  let f: u32 = 0;
  if (pfn != 0) f = page_folio(pfn);
  if (load<u64>(vma + T.V_FLAGS) & (T.VM_SHARED | T.VM_MAYSHARE)) {
    // wp_page_shared(): shared mappings never COW
    return shmem_wp_page_shared(vma, ptep, pfn);
  }
  if (pfn != 0 && is_anon_page(f, pfn)) {
    let excl = f != 0 ? large_page_anon_exclusive(f, pfn) : (load<u32>(frame_ptr(pfn)) & S_AE) != 0;
    if (excl || wp_can_reuse_anon_folio(f, pfn, vma)) {
      if (!excl) {
        if (f != 0) large_page_set_anon_exclusive(f, pfn, true);
        else store<u32>(frame_ptr(pfn), load<u32>(frame_ptr(pfn)) | S_AE);
      }
      if (unshare) return 0;
      wp_page_reuse(vma, ptep);
      return 0;
    }
  }
  if (pfn != 0) folio_get(f, pfn);
  return wp_page_copy(vma, ptep, f, pfn);
}

export function is_anon_page(f: u32, pfn: u32): bool {
  if (f != 0) return load<u8>(f, T.F_KIND) == T.FK_ANON;
  const e = load<u32>(frame_ptr(pfn));
  return ft_type(e) == FT_SMALL && (e & (1 << 25)) == 0;
}

// --- handle_pte_fault / __handle_mm_fault ------------------------------------------------------

function handle_pte_fault(vma: u32): u32 {
  const pmde = load<u64>(vmf_pmd);
  if (pmde == 0) {
    vmf_pte = 0;
    return do_pte_missing(vma);
  }
  const ptep = table_host(table_of(pmde)) + ((<u32>(vmf_address >> 12) & 511) << 3);
  vmf_pte = ptep;
  const entry = load<u64>(ptep);
  vmf_orig_pte = entry;
  if (entry == 0) return do_pte_missing(vma);
  if (!pte_present(entry)) return VM_FAULT_SIGBUS; // swap entries are not modelled
  if (pte_protnone(entry)) return VM_FAULT_SIGSEGV; // NUMA hinting is not modelled
  if (vmf_flags & (FAULT_FLAG_WRITE | FAULT_FLAG_UNSHARE)) {
    if (!pte_write(entry)) return do_wp_page(vma, ptep);
  }
  let ne = entry;
  if (vmf_flags & FAULT_FLAG_WRITE) ne = pte_mkdirty(ne);
  ne = pte_mkyoung(ne);
  // x86 ptep_set_access_flags(): only a write fault writes the entry; spurious otherwise
  if (ne != entry && (vmf_flags & FAULT_FLAG_WRITE)) store<u64>(ptep, ne);
  return 0;
}

function do_pte_missing(vma: u32): u32 {
  const kind = load<u8>(vma + T.V_KIND);
  if (kind == T.VK_ANON) return do_anonymous_page(vma);
  return shmem_do_fault(vma);
}

export function __handle_mm_fault(vma: u32, address: u64, flags: u32): u32 {
  const mm = load<u32>(vma + T.V_MM);
  vmf_vma = vma;
  vmf_address = address;
  vmf_flags = flags;
  vmf_pte = 0;
  const p4dp = p4d_alloc(mm, address);
  if (p4dp == 0) return VM_FAULT_OOM;
  const pudp = pud_alloc(mm, p4dp, address);
  if (pudp == 0) return VM_FAULT_OOM;
  vmf_pud = pudp;
  const vm_flags = load<u64>(vma + T.V_FLAGS);
  // PUD level
  let pude = load<u64>(pudp);
  if (pude == 0 && thp_vma_allowable_orders(vma, vm_flags, TVA_PAGEFAULT, 1 << PUD_ORDER) != 0) {
    const r = H.create_huge_pud(vma);
    if (!(r & VM_FAULT_FALLBACK)) return r;
  } else if (pude != 0 && pmd_trans_huge(pude)) {
    if ((flags & (FAULT_FLAG_WRITE | FAULT_FLAG_UNSHARE)) && !pte_write(pude)) {
      const r = H.wp_huge_pud(vma, pude);
      if (!(r & VM_FAULT_FALLBACK)) return r;
    } else {
      H.huge_pud_set_accessed(vma, pude);
      return 0;
    }
  }
  const pmdp = pmd_alloc(mm, pudp, address);
  if (pmdp == 0) return VM_FAULT_OOM;
  vmf_pmd = pmdp;
  // PMD level
  const pmde = load<u64>(pmdp);
  if (pmde == 0 && thp_vma_allowable_orders(vma, vm_flags, TVA_PAGEFAULT, 1 << PMD_ORDER) != 0) {
    const r = H.create_huge_pmd(vma);
    if (!(r & VM_FAULT_FALLBACK)) return r;
  } else if (pmde != 0 && pmd_trans_huge(pmde)) {
    if ((flags & (FAULT_FLAG_WRITE | FAULT_FLAG_UNSHARE)) && !pte_write(pmde)) {
      const r = H.wp_huge_pmd(vma, pmde);
      if (!(r & VM_FAULT_FALLBACK)) return r;
    } else {
      H.huge_pmd_set_accessed(vma, pmde);
      return 0;
    }
  }
  return handle_pte_fault(vma);
}

// handle_mm_fault() + mm_account_fault(): pgfault counts every completed fault,
// errors included; the task's min_flt only successful ones.
export function handle_mm_fault(task: u32, vma: u32, address: u64, flags: u32): u32 {
  const ret = load<u8>(vma + T.V_KIND) == T.VK_HUGETLB ? hugetlb_fault(task, vma, address, flags) : __handle_mm_fault(vma, address, flags);
  if (ret & VM_FAULT_RETRY) return ret;
  count_vm_event(PGFAULT);
  if (ret & VM_FAULT_ERROR) return ret;
  if (task != 0) store<u64>(task + T.T_MIN_FLT, load<u64>(task + T.T_MIN_FLT) + 1);
  return ret;
}

// --- zapping (unmap_page_range) -------------------------------------------------------------

export let zap_reclaim_pt: bool = false; // zap_details.reclaim_pt (MADV_DONTNEED)
export let zap_rss_anon: i64 = 0; // rss[] of the current zap_pte_range
export let zap_rss_shmem: i64 = 0;

// folio_pte_batch(): consecutive present PTEs mapping consecutive pages of one
// large folio with the same bits (A/D ignored), within [ptep, ptep + max_nr)
export function folio_pte_batch(f: u32, pfn: u32, ptep: u32, pte: u64, max_nr: u32): u32 {
  const head = load<u32>(f, T.F_PFN);
  const fend = head + folio_nr_pages(f);
  let nr: u32 = 1;
  const mask: u64 = ~(PTE_PFN_MASK | (1 << 5) | (1 << 6) | (<u64>1 << 58) | (1 << 11));
  const want = pte & mask;
  while (nr < max_nr && pfn + nr < fend) {
    const e = load<u64>(ptep + (nr << 3));
    if (!pte_present(e) || (e & mask) != want || pte_pfn(e) != pfn + nr) break;
    nr++;
  }
  return nr;
}

function zap_pte_range(vma: u32, pmdp: u32, addr: u64, end: u64): void {
  const mm = load<u32>(vma + T.V_MM);
  const table = table_of(load<u64>(pmdp));
  const ptes = table_host(table);
  const start = addr;
  const can_reclaim_pt = zap_reclaim_pt && end - start >= (1 << 21);
  let rss_anon: i64 = 0, rss_shmem: i64 = 0;
  while (addr < end) {
    const ptep = ptes + ((<u32>(addr >> 12) & 511) << 3);
    const e = load<u64>(ptep);
    if (e == 0) { addr += 4096; continue; }
    if (!pte_present(e)) { store<u64>(ptep, 0); addr += 4096; continue; }
    const pfn = vm_normal_pfn(e);
    if (pfn == 0) {
      store<u64>(ptep, 0);
      tlb_remove_tlb_entries(addr, 1);
      addr += 4096;
      continue;
    }
    const f = page_folio(pfn);
    let nr: u32 = 1;
    if (f != 0) {
      const max_nr = <u32>((end - addr) >> 12);
      nr = folio_pte_batch(f, pfn, ptep, e, max_nr);
    }
    const anon = is_anon_page(f, pfn);
    for (let i: u32 = 0; i < nr; i++) store<u64>(ptep + (i << 3), 0);
    if (anon) rss_anon -= nr; else rss_shmem -= nr;
    if (!anon && pte_dirty(e)) folio_mark_dirty(f, pfn);
    tlb_remove_tlb_entries(addr, nr);
    folio_remove_rmap_ptes(f, pfn, nr, vma);
    tlb_remove_folio_refs(f, pfn, nr);
    addr += <u64>nr << 12;
  }
  add_mm_counter(mm, MM_ANONPAGES, rss_anon);
  add_mm_counter(mm, MM_SHMEMPAGES, rss_shmem);
  if (can_reclaim_pt) {
    // free_pte(): the whole table was zapped (MADV_DONTNEED, CONFIG_PT_RECLAIM)
    store<u64>(pmdp, 0);
    tlb_free_table(table, start);
    mm_dec_nr_ptes(mm);
  }
}

function zap_pmd_range(vma: u32, pudp: u32, addr: u64, end: u64): void {
  const pmds = table_host(table_of(load<u64>(pudp)));
  while (addr < end) {
    let next = (addr + (1 << 21)) & ~(<u64>(1 << 21) - 1);
    if (next > end || next == 0) next = end;
    const pmdp = pmds + ((<u32>(addr >> 21) & 511) << 3);
    const e = load<u64>(pmdp);
    if (e != 0 && pmd_trans_huge(e)) {
      if (next - addr != (1 << 21)) H.__split_huge_pmd(vma, pmdp, addr, false);
      else if (H.zap_huge_pmd(vma, pmdp, addr)) { addr = next; continue; }
    }
    if (load<u64>(pmdp) != 0) zap_pte_range(vma, pmdp, addr, next);
    addr = next;
  }
}

export let zap_pud_split_failed = false;
export function zap_pud_split_failed_reset(): void { zap_pud_split_failed = false; }
function zap_pud_range(vma: u32, p4dp: u32, addr: u64, end: u64): void {
  const puds = table_host(table_of(load<u64>(p4dp)));
  while (addr < end) {
    let next = (addr + (1 << 30)) & ~(<u64>(1 << 30) - 1);
    if (next > end || next == 0) next = end;
    const pudp = puds + ((<u32>(addr >> 30) & 511) << 3);
    const e = load<u64>(pudp);
    if (e != 0 && pmd_trans_huge(e)) {
      if (next - addr != (1 << 30)) {
        // V8 lazy-at-split without memory: the range stays mapped, the caller fails
        if (!H.split_huge_pud(vma, pudp, addr)) { zap_pud_split_failed = true; addr = next; continue; }
      } else if (H.zap_huge_pud(vma, pudp, addr)) { addr = next; continue; }
    }
    if (load<u64>(pudp) != 0) zap_pmd_range(vma, pudp, addr, next);
    addr = next;
  }
}

// unmap_page_range() over [addr, end) of one VMA (inside an mmu_gather)
export function unmap_page_range(vma: u32, addr: u64, end: u64): void {
  const mm = load<u32>(vma + T.V_MM);
  const five = load<u32>(mm + T.MM_LEVELS) == 5;
  const pgd = load<u32>(mm + T.MM_PGD);
  while (addr < end) {
    const shift: u32 = 39;
    let next = (addr + (<u64>1 << shift)) & ~((<u64>1 << shift) - 1);
    if (next > end || next == 0) next = end;
    let p4dp: u32;
    if (five) {
      const pgdp = entry_ptr(pgd, addr, 48);
      const ge = load<u64>(pgdp);
      if (ge == 0) { addr = next; continue; }
      p4dp = entry_ptr(table_of(ge), addr, 39);
    } else {
      p4dp = entry_ptr(pgd, addr, 39);
    }
    if (load<u64>(p4dp) != 0) zap_pud_range(vma, p4dp, addr, next);
    addr = next;
  }
}

// unmap_vmas() for one VMA, restricted to [start, end)
export function unmap_vmas_range(vma: u32, start: u64, end: u64, reclaim_pt: bool): void {
  const s = max<u64>(start, load<u64>(vma + T.V_START));
  const e = min<u64>(end, load<u64>(vma + T.V_END));
  if (s >= e) return;
  if (load<u8>(vma + T.V_KIND) == T.VK_HUGETLB) { unmap_hugepage_range(vma, s, e); return; }
  zap_reclaim_pt = reclaim_pt;
  unmap_page_range(vma, s, e);
  zap_reclaim_pt = false;
}

// zap_page_range_single(): its own mmu_gather (MADV_DONTNEED and friends)
export function zap_page_range_single(vma: u32, start: u64, end: u64, reclaim_pt: bool): void {
  tlb_gather_mmu(load<u32>(vma + T.V_MM), false);
  unmap_vmas_range(vma, start, end, reclaim_pt);
  tlb_finish_mmu();
}

// --- free_pgtables -------------------------------------------------------------------------

const PMD_SIZE: u64 = 1 << 21;
const PUD_SIZE: u64 = 1 << 30;
const P4D_SIZE: u64 = <u64>1 << 39;
const PGDIR_SIZE_5L: u64 = <u64>1 << 48;

function free_pte_range(mm: u32, pmdp: u32, addr: u64): void {
  const t = table_of(load<u64>(pmdp));
  store<u64>(pmdp, 0);
  tlb_free_table(t, addr);
  mm_dec_nr_ptes(mm);
}

function free_pmd_range(mm: u32, pudp: u32, addr: u64, end: u64, floor: u64, ceiling: u64): void {
  let start = addr;
  const pmds = table_host(table_of(load<u64>(pudp)));
  do {
    let next = (addr + PMD_SIZE) & ~(PMD_SIZE - 1);
    if (next - 1 > end - 1) next = end;
    const pmdp = pmds + ((<u32>(addr >> 21) & 511) << 3);
    const e = load<u64>(pmdp);
    if (e != 0 && !pmd_trans_huge(e)) free_pte_range(mm, pmdp, addr);
    addr = next;
  } while (addr != end);
  start &= ~(PUD_SIZE - 1);
  if (start < floor) return;
  if (ceiling != 0) {
    ceiling &= ~(PUD_SIZE - 1);
    if (ceiling == 0) return;
  }
  if (end - 1 > ceiling - 1) return;
  const t = table_of(load<u64>(pudp));
  store<u64>(pudp, 0);
  tlb_free_table(t, start);
  mm_dec_nr_pmds(mm);
}

function free_pud_range(mm: u32, p4dp: u32, addr: u64, end: u64, floor: u64, ceiling: u64): void {
  let start = addr;
  const puds = table_host(table_of(load<u64>(p4dp)));
  do {
    let next = (addr + PUD_SIZE) & ~(PUD_SIZE - 1);
    if (next - 1 > end - 1) next = end;
    const pudp = puds + ((<u32>(addr >> 30) & 511) << 3);
    const e = load<u64>(pudp);
    if (e != 0 && !pmd_trans_huge(e)) free_pmd_range(mm, pudp, addr, next, floor, ceiling);
    addr = next;
  } while (addr != end);
  start &= ~(P4D_SIZE - 1);
  if (start < floor) return;
  if (ceiling != 0) {
    ceiling &= ~(P4D_SIZE - 1);
    if (ceiling == 0) return;
  }
  if (end - 1 > ceiling - 1) return;
  const t = table_of(load<u64>(p4dp));
  store<u64>(p4dp, 0);
  tlb_free_table(t, start);
  mm_dec_nr_puds(mm);
}

function free_p4d_range(mm: u32, pgdp: u32, addr: u64, end: u64, floor: u64, ceiling: u64): void {
  let start = addr;
  const p4ds = table_host(table_of(load<u64>(pgdp)));
  do {
    let next = (addr + P4D_SIZE) & ~(P4D_SIZE - 1);
    if (next - 1 > end - 1) next = end;
    const p4dp = p4ds + ((<u32>(addr >> 39) & 511) << 3);
    if (load<u64>(p4dp) != 0) free_pud_range(mm, p4dp, addr, next, floor, ceiling);
    addr = next;
  } while (addr != end);
  start &= ~(PGDIR_SIZE_5L - 1);
  if (start < floor) return;
  if (ceiling != 0) {
    ceiling &= ~(PGDIR_SIZE_5L - 1);
    if (ceiling == 0) return;
  }
  if (end - 1 > ceiling - 1) return;
  const t = table_of(load<u64>(pgdp));
  store<u64>(pgdp, 0);
  tlb_free_table(t, start);
}

// free_pgd_range(): free the page tables of [addr, end) that no VMA in
// [floor, ceiling) can still use (0 = the top of the address space).
export function free_pgd_range(mm: u32, addr: u64, end: u64, floor: u64, ceiling: u64): void {
  addr &= ~(PMD_SIZE - 1);
  if (addr < floor) {
    addr += PMD_SIZE;
    if (addr == 0) return;
  }
  if (ceiling != 0) {
    ceiling &= ~(PMD_SIZE - 1);
    if (ceiling == 0) return;
  }
  if (end - 1 > ceiling - 1) end -= PMD_SIZE;
  if (addr > end - 1) return;
  const five = load<u32>(mm + T.MM_LEVELS) == 5;
  const pgd = load<u32>(mm + T.MM_PGD);
  const pgdir: u64 = five ? PGDIR_SIZE_5L : P4D_SIZE;
  do {
    let next = (addr + pgdir) & ~(pgdir - 1);
    if (next - 1 > end - 1) next = end;
    const pgdp = entry_ptr(pgd, addr, five ? 48 : 39);
    if (load<u64>(pgdp) != 0) {
      if (five) free_p4d_range(mm, pgdp, addr, next, floor, ceiling);
      else free_pud_range(mm, pgdp, addr, next, floor, ceiling);
    }
    addr = next;
  } while (addr != end);
}

// free_pgtables() for the VMAs [i, j) of mm (still in the array), gathering
// neighbours closer than PMD_SIZE into one call as the kernel does.
export function free_pgtables(mm: u32, i: u32, j: u32, floor: u64, ceiling: u64): void {
  let k = i;
  while (k < j) {
    let vma = mm_vma(mm, k);
    const addr = load<u64>(vma + T.V_START);
    if (load<u8>(vma + T.V_KIND) == T.VK_HUGETLB) {
      const nextstart: u64 = k + 1 < j ? load<u64>(mm_vma(mm, k + 1) + T.V_START) : ceiling;
      hugetlb_free_pgd_range(mm, addr, load<u64>(vma + T.V_END), floor, nextstart);
      k++;
      continue;
    }
    while (k + 1 < j) {
      const next = mm_vma(mm, k + 1);
      if (load<u64>(next + T.V_START) > load<u64>(vma + T.V_END) + PMD_SIZE) break;
      if (load<u8>(next + T.V_KIND) == T.VK_HUGETLB) break;
      vma = next;
      k++;
    }
    const nextstart: u64 = k + 1 < j ? load<u64>(mm_vma(mm, k + 1) + T.V_START) : ceiling;
    free_pgd_range(mm, addr, load<u64>(vma + T.V_END), floor, nextstart);
    k++;
  }
}

// exit_mmap(): tear down the whole address space
export function exit_mmap(mm: u32): void {
  const nr = mm_nr_vmas(mm);
  tlb_gather_mmu(mm, true);
  for (let k: u32 = 0; k < nr; k++) {
    const v = mm_vma(mm, k);
    unmap_vmas_range(v, load<u64>(v + T.V_START), load<u64>(v + T.V_END), false);
  }
  free_pgtables(mm, 0, nr, 0, 0);
  tlb_finish_mmu();
  while (mm_nr_vmas(mm) > 0) {
    const v = mm_vma(mm, mm_nr_vmas(mm) - 1);
    store<u32>(mm + T.MM_NR_VMAS, mm_nr_vmas(mm) - 1);
    // vm_unacct_memory(nr_accounted)
    if (load<u64>(v + T.V_FLAGS) & T.VM_ACCOUNT) vm_acct_charge(mm, -<i64>((load<u64>(v + T.V_END) - load<u64>(v + T.V_START)) >> 12));
    if (load<u8>(v + T.V_KIND) == T.VK_HUGETLB) hugetlb_vma_close(v);
    vm_area_free(v);
  }
  H.mm_exit_hook(mm);
}
