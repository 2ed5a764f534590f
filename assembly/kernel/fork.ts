// fork(): dup_mmap() and copy_page_range() (kernel/fork.c, mm/memory.c,
// mm/huge_memory.c: copy_huge_pmd, and copy_huge_pud for seed-000 PUD THPs).

import * as T from "../mm/mm_types";
import {
  mm_alloc, mm_free, task_create, mm_nr_vmas, mm_vma, vm_area_free, anon_vma_fork, vma_pages, ENOMEM,
  vm_enough_memory, vm_acct_charge,
} from "../mm/mmap";
import { slab_alloc, slab_free, SLAB_VMA } from "../lib/hostmem";
import {
  p4d_alloc, pud_alloc, pmd_alloc, pte_alloc, add_mm_counter, exit_mmap, folio_pte_batch, vm_normal_pfn,
  walk_to_pud, is_anon_page,
} from "../mm/memory";
import {
  pte_present, pte_write, pte_wrprotect, pte_mkold, pte_mkclean, pte_pfn, pmd_trans_huge, _PAGE_UFFD_WP, _PAGE_RW,
  _PAGE_SPECIAL,
} from "../arch/x86/pgtable_types";
import {
  table_host, table_of, entry_ptr, pgtable_alloc, pgtable_alloc_deposit, pgtable_free, mm_inc_nr_ptes, mm_inc_nr_pmds,
  mm_add_pgtables_bytes, PT_LEVEL_PTE,
} from "../arch/x86/pgtable";
import { flush_tlb_mm } from "../arch/x86/tlb";
import { page_folio, folio_nr_pages, frame_ptr, S_AE, S_FILE, FT_SMALL } from "../mm/folio";
import { pb_rec, PB_FRAMES } from "../mm/page_alloc";
import { folio_get, folio_put } from "../mm/swap";
import { folio_try_dup_anon_rmap_ptes, folio_try_dup_anon_rmap_pmd, folio_add_new_anon_rmap, folio_dup_file_rmap_ptes } from "../mm/rmap";
import { shmem_vma_link, dup_team_pmd } from "../mm/shmem";
import { folio_alloc_small, copy_page_contents, page_copy_nonzero } from "../mm/folio";
import { pte_mkdirty, pte_mkwrite, pfn_pte } from "../arch/x86/pgtable_types";
import { MM_ANONPAGES, MM_SHMEMPAGES } from "../mm/vmstat";
import { pgtable_trans_huge_deposit, alloc_pud_predeposit_ptables, pgtable_trans_huge_pud_deposit } from "../mm/pgtable_generic";
import { is_huge_zero_pmd, mm_get_huge_zero_folio, __split_huge_pmd, __split_huge_pud } from "../mm/huge_memory";
import { folio_maybe_dma_pinned } from "../mm/gup";
import { knob, K_V_PGTABLE_DEPOSIT, K_V_FORK_FILE_PMD } from "./sysfs";
import { copy_hugetlb_page_range, hugetlb_vma_dup } from "../mm/hugetlb";

let rss_anon: i64 = 0;
let rss_shmem: i64 = 0;
let src_mm_has_pinned: bool = false;

@inline function is_cow_mapping(flags: u64): bool {
  return (flags & (T.VM_SHARED | T.VM_MAYWRITE)) == T.VM_MAYWRITE;
}

// folio_needs_cow_for_dma(): a maybe-pinned anon page must be copied at fork
@inline function needs_cow_for_dma(src_vma: u32, f: u32, pfn: u32): bool {
  if (!is_cow_mapping(load<u64>(src_vma + T.V_FLAGS))) return false;
  if (!src_mm_has_pinned) return false;
  return folio_maybe_dma_pinned(f, pfn);
}

// __copy_present_ptes()
function __copy_present_ptes(dst_vma: u32, src_vma: u32, dst_pte: u32, src_pte: u32, pte: u64, nr: u32): void {
  const sflags = load<u64>(src_vma + T.V_FLAGS);
  if (is_cow_mapping(sflags) && pte_write(pte)) {
    for (let i: u32 = 0; i < nr; i++) {
      const p = src_pte + (i << 3);
      store<u64>(p, pte_wrprotect(load<u64>(p)));
    }
    pte = pte_wrprotect(pte);
  }
  if (sflags & T.VM_SHARED) pte = pte_mkclean(pte);
  pte = pte_mkold(pte);
  if ((load<u64>(dst_vma + T.V_FLAGS) & T.VM_UFFD_WP) == 0) pte &= ~_PAGE_UFFD_WP;
  for (let i: u32 = 0; i < nr; i++) store<u64>(dst_pte + (i << 3), pte + (<u64>i << 12));
}

// copy_present_page(): the child gets its own copy of a possibly pinned page;
// the parent keeps its exclusive (and writable) mapping
function copy_present_page(dst_vma: u32, src_vma: u32, dst_pte: u32, src_pte: u32, addr: u64, pfn: u32): i32 {
  const npfn = folio_alloc_small(false);
  if (npfn == 0) return -ENOMEM;
  copy_page_contents(npfn, pfn);
  page_copy_nonzero(npfn, pfn);
  folio_add_new_anon_rmap(0, npfn, dst_vma, addr, true);
  rss_anon++;
  let pte = pte_mkdirty(pfn_pte(npfn, load<u64>(dst_vma + T.V_PROT)));
  if (load<u64>(dst_vma + T.V_FLAGS) & T.VM_WRITE) pte = pte_mkwrite(pte);
  store<u64>(dst_pte, pte);
  return 0;
}

// copy_present_ptes(): returns the number of PTEs handled, or -ENOMEM
function copy_present_ptes(dst_vma: u32, src_vma: u32, dst_pte: u32, src_pte: u32, pte: u64, addr: u64, max_nr: u32): i32 {
  const pfn = vm_normal_pfn(pte);
  if (pfn == 0) {
    __copy_present_ptes(dst_vma, src_vma, dst_pte, src_pte, pte, 1);
    return 1;
  }
  const f = page_folio(pfn);
  const anon = is_anon_page(f, pfn);
  if (f != 0 && max_nr != 1) {
    const nr = folio_pte_batch_merge_write(f, pfn, src_pte, pte, max_nr);
    // FPB_MERGE_WRITE: the batch is writable if any PTE of it is
    let bpte = pte;
    for (let i: u32 = 1; i < nr; i++) if (load<u64>(src_pte + (i << 3)) & _PAGE_RW) bpte |= _PAGE_RW;
    store<i32>(f, load<i32>(f, T.F_REFCOUNT) + <i32>nr, T.F_REFCOUNT);
    if (anon) {
      if (folio_try_dup_anon_rmap_ptes(f, pfn, nr, dst_vma, needs_cow_for_dma(src_vma, f, pfn)) != 0) {
        store<i32>(f, load<i32>(f, T.F_REFCOUNT) - <i32>nr, T.F_REFCOUNT);
        return -11; // -EAGAIN: copy this PTE singly
      }
      rss_anon += nr;
    } else {
      folio_dup_file_rmap_ptes(f, pfn, nr, dst_vma);
      rss_shmem += nr;
    }
    __copy_present_ptes(dst_vma, src_vma, dst_pte, src_pte, bpte, nr);
    return <i32>nr;
  }
  folio_get(f, pfn);
  if (anon) {
    if (folio_try_dup_anon_rmap_ptes(f, pfn, 1, dst_vma, needs_cow_for_dma(src_vma, f, pfn)) != 0) {
      folio_put(f, pfn);
      const e = copy_present_page(dst_vma, src_vma, dst_pte, src_pte, addr, pfn);
      return e != 0 ? e : 1;
    }
    rss_anon++;
  } else {
    folio_dup_file_rmap_ptes(f, pfn, 1, dst_vma);
    rss_shmem++;
  }
  __copy_present_ptes(dst_vma, src_vma, dst_pte, src_pte, pte, 1);
  return 1;
}

// folio_pte_batch_flags(FPB_MERGE_WRITE | FPB_RESPECT_DIRTY for private mappings)
function folio_pte_batch_merge_write(f: u32, pfn: u32, ptep: u32, pte: u64, max_nr: u32): u32 {
  const head = load<u32>(f, T.F_PFN);
  const fend = head + folio_nr_pages(f);
  // ignore A, the write bit (merged) and soft-dirty; respect D
  const mask: u64 = ~((<u64>0x000ffffffffff000) | (1 << 5) | _PAGE_RW | (1 << 11));
  const want = pte & mask;
  let nr: u32 = 1;
  while (nr < max_nr && pfn + nr < fend) {
    const e = load<u64>(ptep + (nr << 3));
    if (!pte_present(e) || (e & mask) != want || pte_pfn(e) != pfn + nr) break;
    nr++;
  }
  return nr;
}

function copy_pte_range(dst_vma: u32, src_vma: u32, dst_pmdp: u32, src_pmdp: u32, addr: u64, end: u64): i32 {
  const dst_mm = load<u32>(dst_vma + T.V_MM);
  if (!pte_alloc(dst_mm, dst_pmdp)) return -ENOMEM;
  const sptes = table_host(table_of(load<u64>(src_pmdp)));
  const dptes = table_host(table_of(load<u64>(dst_pmdp)));
  // order-0 anonymous pages of a mm without pins take the inlined path of
  // copy_present_ptes(): folio_get() + folio_try_dup_anon_rmap_pte() are one
  // frame-entry update, and a COW mapping write-protects both PTEs
  const sflags = load<u64>(src_vma + T.V_FLAGS);
  const fast = !src_mm_has_pinned && (sflags & T.VM_SHARED) == 0;
  const wrprotect = is_cow_mapping(sflags);
  const keep_uffd = (load<u64>(dst_vma + T.V_FLAGS) & T.VM_UFFD_WP) != 0;
  while (addr < end) {
    const off = (<u32>(addr >> 12) & 511) << 3;
    let pte = load<u64>(sptes + off);
    if (pte == 0) { addr += 4096; continue; }
    if (!pte_present(pte)) { store<u64>(dptes + off, pte); addr += 4096; continue; }
    if (fast && (pte & _PAGE_SPECIAL) == 0) {
      const pfn = pte_pfn(pte);
      const fr = load<u32>(pb_rec(pfn >> 9) + PB_FRAMES);
      if (fr != 0) {
        const fp = fr + ((pfn & 511) << 2);
        const e = load<u32>(fp);
        if ((e >>> 28) == FT_SMALL && (e & S_FILE) == 0) {
          store<u32>(fp, (e + 1) & ~S_AE); // mapcount + 1, no longer exclusive
          if (wrprotect && (pte & _PAGE_RW) != 0) {
            pte &= ~_PAGE_RW;
            store<u64>(sptes + off, pte);
          }
          pte = pte_mkold(pte);
          if (!keep_uffd) pte &= ~_PAGE_UFFD_WP;
          store<u64>(dptes + off, pte);
          rss_anon++;
          addr += 4096;
          continue;
        }
      }
    }
    const max_nr = <u32>((end - addr) >> 12);
    let r = copy_present_ptes(dst_vma, src_vma, dptes + off, sptes + off, pte, addr, max_nr);
    if (r == -11) r = copy_present_ptes(dst_vma, src_vma, dptes + off, sptes + off, pte, addr, 1);
    if (r < 0) return r;
    addr += <u64>r << 12;
  }
  return 0;
}

// copy_huge_pmd(): 0 = done, -EAGAIN = copy at PTE level, -ENOMEM
function copy_huge_pmd(dst_vma: u32, src_vma: u32, dst_pmdp: u32, src_pmdp: u32, addr: u64): i32 {
  const dst_mm = load<u32>(dst_vma + T.V_MM);
  const pmd = load<u64>(src_pmdp);
  if (load<u8>(dst_vma + T.V_KIND) != T.VK_ANON) {
    // 6.18: file PMDs refault in the child; V11 dup-team-pmd (seed 001) copies them
    if (load<u8>(dst_vma + T.V_KIND) == T.VK_SHMEM && knob(K_V_FORK_FILE_PMD) == 1 && !is_huge_zero_pmd(pmd))
      return dup_team_pmd(dst_vma, dst_pmdp, pmd) ? 0 : -ENOMEM;
    return 0;
  }
  const lazy = knob(K_V_PGTABLE_DEPOSIT) == 1;
  let pgtable: u32 = 0;
  if (!lazy) {
    pgtable = pgtable_alloc_deposit(PT_LEVEL_PTE);
    if (pgtable == 0) return -ENOMEM;
  }
  if (is_huge_zero_pmd(pmd)) {
    mm_get_huge_zero_folio(dst_mm);
  } else {
    const pfn = pte_pfn(pmd);
    const f = page_folio(pfn);
    store<i32>(f, load<i32>(f, T.F_REFCOUNT) + 1, T.F_REFCOUNT);
    if (folio_try_dup_anon_rmap_pmd(f, dst_vma, needs_cow_for_dma(src_vma, f, pfn)) != 0) {
      store<i32>(f, load<i32>(f, T.F_REFCOUNT) - 1, T.F_REFCOUNT);
      if (pgtable != 0) pgtable_free(pgtable);
      __split_huge_pmd(src_vma, src_pmdp, addr, false);
      return -11;
    }
    add_mm_counter(dst_mm, MM_ANONPAGES, 512);
  }
  if (pgtable != 0) {
    mm_inc_nr_ptes(dst_mm);
    pgtable_trans_huge_deposit(dst_mm, pgtable);
  }
  // pmdp_set_wrprotect(src); the child gets an old, write-protected copy
  store<u64>(src_pmdp, pte_wrprotect(pmd));
  let d = pte_mkold(pte_wrprotect(pmd));
  if ((load<u64>(dst_vma + T.V_FLAGS) & T.VM_UFFD_WP) == 0) d &= ~_PAGE_UFFD_WP;
  store<u64>(dst_pmdp, d);
  return 0;
}

// copy_huge_pud() for anonymous PUD THPs (seed 000). The seed's reasoning for the
// pre-deposit ("we guarantee the split will always succeed") applies to the child's
// mapping as much as to the parent's: the child gets its own 1 PMD + 512 PTE tables,
// so a later COW split in the child cannot fail. Parent and child then share the
// folio write-protected, like copy_huge_pmd(). A maybe-pinned folio makes the parent
// split to PTEs (-EAGAIN) so the PTE copy gives the child copies of pinned pages.
function copy_huge_pud(dst_vma: u32, src_vma: u32, dst_pudp: u32, src_pudp: u32, addr: u64): i32 {
  const dst_mm = load<u32>(dst_vma + T.V_MM);
  const pud = load<u64>(src_pudp);
  if (load<u8>(dst_vma + T.V_KIND) != T.VK_ANON) return 0;
  const pfn = pte_pfn(pud);
  const f = page_folio(pfn);
  if (needs_cow_for_dma(src_vma, f, pfn) && folio_maybe_dma_pinned(f, pfn)) {
    if (!__split_huge_pud(src_vma, src_pudp, addr)) return -ENOMEM;
    return -11;
  }
  const lazy = knob(K_V_PGTABLE_DEPOSIT) == 1;
  let pmd_table: u32 = 0;
  if (!lazy) {
    pmd_table = alloc_pud_predeposit_ptables();
    if (pmd_table == 0) return -ENOMEM;
  }
  store<i32>(f, load<i32>(f, T.F_REFCOUNT) + 1, T.F_REFCOUNT);
  folio_try_dup_anon_rmap_pmd(f, dst_vma, false);
  add_mm_counter(dst_mm, MM_ANONPAGES, 262144);
  if (pmd_table != 0) {
    pgtable_trans_huge_pud_deposit(dst_mm, pmd_table);
    mm_inc_nr_pmds(dst_mm);
    mm_add_pgtables_bytes(dst_mm, 512 * 4096);
  }
  store<u64>(src_pudp, pte_wrprotect(pud));
  store<u64>(dst_pudp, pte_mkold(pte_wrprotect(pud)));
  return 0;
}

function copy_pmd_range(dst_vma: u32, src_vma: u32, dst_pudp: u32, src_pudp: u32, addr: u64, end: u64): i32 {
  const dst_mm = load<u32>(dst_vma + T.V_MM);
  if (pmd_alloc(dst_mm, dst_pudp, addr) == 0) return -ENOMEM;
  const spmds = table_host(table_of(load<u64>(src_pudp)));
  const dpmds = table_host(table_of(load<u64>(dst_pudp)));
  while (addr < end) {
    let next = (addr + (1 << 21)) & ~(<u64>(1 << 21) - 1);
    if (next > end || next == 0) next = end;
    const off = (<u32>(addr >> 21) & 511) << 3;
    const e = load<u64>(spmds + off);
    if (e != 0 && pmd_trans_huge(e)) {
      const err = copy_huge_pmd(dst_vma, src_vma, dpmds + off, spmds + off, addr);
      if (err == -ENOMEM) return -ENOMEM;
      if (err == 0) { addr = next; continue; }
    }
    if (load<u64>(spmds + off) != 0) {
      const err = copy_pte_range(dst_vma, src_vma, dpmds + off, spmds + off, addr, next);
      if (err) return err;
    }
    addr = next;
  }
  return 0;
}

function copy_pud_range(dst_vma: u32, src_vma: u32, dst_p4dp: u32, src_p4dp: u32, addr: u64, end: u64): i32 {
  const dst_mm = load<u32>(dst_vma + T.V_MM);
  if (pud_alloc(dst_mm, dst_p4dp, addr) == 0) return -ENOMEM;
  const spuds = table_host(table_of(load<u64>(src_p4dp)));
  const dpuds = table_host(table_of(load<u64>(dst_p4dp)));
  while (addr < end) {
    let next = (addr + (1 << 30)) & ~(<u64>(1 << 30) - 1);
    if (next > end || next == 0) next = end;
    const off = (<u32>(addr >> 30) & 511) << 3;
    const e = load<u64>(spuds + off);
    if (e != 0 && pmd_trans_huge(e)) {
      const err = copy_huge_pud(dst_vma, src_vma, dpuds + off, spuds + off, addr);
      if (err == -ENOMEM) return -ENOMEM;
      if (err == 0) { addr = next; continue; }
    }
    if (load<u64>(spuds + off) != 0) {
      const err = copy_pmd_range(dst_vma, src_vma, dpuds + off, spuds + off, addr, next);
      if (err) return err;
    }
    addr = next;
  }
  return 0;
}

// copy_page_range()
function copy_page_range(dst_vma: u32, src_vma: u32): i32 {
  // vma_needs_copy(): only VMAs with an anon_vma (or uffd-wp / PFNMAP) copy page tables
  if ((load<u64>(dst_vma + T.V_FLAGS) & T.VM_UFFD_WP) == 0 && (load<u64>(src_vma + T.V_FLAGS) & (T.VM_PFNMAP | T.VM_MIXEDMAP)) == 0 &&
      load<u32>(src_vma + T.V_ANON_VMA) == 0)
    return 0;
  if (load<u8>(src_vma + T.V_KIND) == T.VK_HUGETLB) return copy_hugetlb_page_range(dst_vma, src_vma);
  const src_mm = load<u32>(src_vma + T.V_MM);
  const dst_mm = load<u32>(dst_vma + T.V_MM);
  const start = load<u64>(src_vma + T.V_START), end = load<u64>(src_vma + T.V_END);
  rss_anon = 0;
  rss_shmem = 0;
  src_mm_has_pinned = (load<u32>(src_mm + T.MM_FLAGS) & T.MMF_HAS_PINNED) != 0;
  let addr = start;
  let err: i32 = 0;
  const five = load<u32>(src_mm + T.MM_LEVELS) == 5;
  while (addr < end && err == 0) {
    let next = (addr + (<u64>1 << 39)) & ~((<u64>1 << 39) - 1);
    if (next > end || next == 0) next = end;
    let sp4d: u32;
    if (five) {
      const sg = entry_ptr(load<u32>(src_mm + T.MM_PGD), addr, 48);
      if (load<u64>(sg) == 0) { addr = next; continue; }
      sp4d = entry_ptr(table_of(load<u64>(sg)), addr, 39);
    } else {
      sp4d = entry_ptr(load<u32>(src_mm + T.MM_PGD), addr, 39);
    }
    if (load<u64>(sp4d) != 0) {
      const dp4d = p4d_alloc(dst_mm, addr);
      if (dp4d == 0) { err = -ENOMEM; break; }
      err = copy_pud_range(dst_vma, src_vma, dp4d, sp4d, addr, next);
    }
    addr = next;
  }
  add_mm_counter(dst_mm, MM_ANONPAGES, rss_anon);
  add_mm_counter(dst_mm, MM_SHMEMPAGES, rss_shmem);
  return err;
}

// dup_mmap(): returns the child's mm or -errno
function dup_mmap(oldmm: u32): i64 {
  const mm = mm_alloc();
  if (mm == 0) return -ENOMEM;
  store<u32>(mm + T.MM_FLAGS, load<u32>(oldmm + T.MM_FLAGS) & ~(T.MMF_HUGE_ZERO_FOLIO | T.MMF_HAS_PINNED));
  const nr = mm_nr_vmas(oldmm);
  let err: i32 = 0;
  for (let i: u32 = 0; i < nr; i++) {
    const mpnt = mm_vma(oldmm, i);
    const flags = load<u64>(mpnt + T.V_FLAGS);
    if (flags & T.VM_DONTCOPY) continue;
    // dup_mmap(): private writable memory is charged to the child too
    if (flags & T.VM_ACCOUNT) {
      if (vm_enough_memory(mm, <i64>vma_pages(mpnt)) < 0) { err = -ENOMEM; break; }
    }
    const tmp = slab_alloc(SLAB_VMA);
    if (tmp == 0) { err = -ENOMEM; break; }
    if (flags & T.VM_ACCOUNT) vm_acct_charge(mm, <i64>vma_pages(mpnt));
    memory.copy(tmp, mpnt, 128);
    store<u32>(tmp + T.V_MM, mm);
    if (load<u8>(mpnt + T.V_KIND) == T.VK_HUGETLB) hugetlb_vma_dup(tmp, mpnt);
    if (load<u8>(mpnt + T.V_KIND) == T.VK_SHMEM) shmem_vma_link(tmp);
    store<u32>(tmp + T.V_ANON_VMA, 0);
    store<u32>(tmp + T.V_AV_NEXT, 0);
    store<u32>(tmp + T.V_AV_PREV, 0);
    // VM_WIPEONFORK gets a clean slate: no anon_vma until it faults
    if ((flags & T.VM_WIPEONFORK) == 0 && !anon_vma_fork(tmp, mpnt)) { slab_free(SLAB_VMA, tmp); err = -ENOMEM; break; }
    store<u64>(tmp + T.V_FLAGS, flags & ~(T.VM_LOCKED | T.VM_LOCKONFAULT));
    const arr = load<u32>(mm + T.MM_VMAS);
    const n = load<u32>(mm + T.MM_NR_VMAS);
    if (n == load<u32>(mm + T.MM_VMAS_CAP) && !grow_vmas(mm)) { vm_area_free(tmp); err = -ENOMEM; break; }
    store<u32>(load<u32>(mm + T.MM_VMAS) + (n << 2), tmp);
    store<u32>(mm + T.MM_NR_VMAS, n + 1);
    store<u64>(mm + T.MM_TOTAL_VM, load<u64>(mm + T.MM_TOTAL_VM) + vma_pages(tmp));
    if ((flags & T.VM_WIPEONFORK) == 0) {
      err = copy_page_range(tmp, mpnt);
      if (err) break;
    }
  }
  // the parent's write-protected entries must not stay cached
  flush_tlb_mm(oldmm);
  if (err) {
    exit_mmap(mm);
    mm_free(mm);
    return err;
  }
  return <i64>mm;
}

import { vma_array_reserve } from "../mm/mmap";
function grow_vmas(mm: u32): bool { return vma_array_reserve(mm, 1); }

// copy_process() for a single-threaded process: returns the child's pid or -errno
export function do_fork(parent_task: u32): i32 {
  const oldmm = load<u32>(parent_task + T.T_MM);
  const r = dup_mmap(oldmm);
  if (r < 0) return <i32>r;
  const mm = <u32>r;
  const pid = task_create(mm);
  if (pid == 0) { exit_mmap(mm); mm_free(mm); return -ENOMEM; }
  return <i32>pid;
}

