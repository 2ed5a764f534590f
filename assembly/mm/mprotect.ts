// mprotect(2) (mm/mprotect.c): VMA split/merge, then change_protection over
// the page tables, with the write-upgrade of exclusive anonymous pages.

import * as T from "./mm_types";
import {
  find_vma, vma_index_after, mm_vma, vma_modify_flags, vma_set_page_prot, vma_try_merge_around, calc_vm_prot_bits,
  vma_pages, ENOMEM, EINVAL, EACCES, PROT_READ, PROT_WRITE, PROT_EXEC, PAGE_MASK, vm_enough_memory, vm_acct_charge,
} from "./mmap";
import {
  pte_modify, pte_write, pte_mkwrite, pte_present, pte_protnone, pte_pfn, pte_special, pmd_trans_huge,
  _PAGE_PRESENT, _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_RW, _PAGE_USER, _PAGE_PWT, _PAGE_PCD, _PAGE_PSE,
  _PAGE_GLOBAL, _PAGE_PAT_LARGE, _PAGE_NX, PTE_PFN_MASK,
} from "../arch/x86/pgtable_types";
import { table_of, table_host, entry_ptr } from "../arch/x86/pgtable";
import { tlb_gather_mmu, tlb_finish_mmu, tlb_flush_pte_range } from "./mmu_gather";
import { PageAnonExclusive, page_folio } from "./folio";
import { is_anon_page, walk_to_pud } from "./memory";
import * as H from "./huge_memory";
import { hugetlb_change_protection } from "./hugetlb";

export const MM_CP_TRY_CHANGE_WRITABLE: u32 = 1 << 0;
export const MM_CP_PROT_NUMA: u32 = 1 << 1;

// x86 pte_flags_need_flush(..., ignore_access) / pte_needs_flush()
export function pte_needs_flush(oldpte: u64, newpte: u64, ignore_access: bool): bool {
  if ((oldpte & _PAGE_PRESENT) == 0) return false;
  if (pte_pfn(oldpte) != pte_pfn(newpte)) return true;
  const flush_on_clear: u64 = _PAGE_DIRTY | _PAGE_PRESENT | _PAGE_ACCESSED;
  const flush_on_change: u64 = _PAGE_RW | _PAGE_USER | _PAGE_PWT | _PAGE_PCD | _PAGE_PSE | _PAGE_GLOBAL |
    _PAGE_PAT_LARGE | (<u64>0xf << 59) | _PAGE_NX;
  let diff = (oldpte ^ newpte) & ~PTE_PFN_MASK;
  diff &= flush_on_clear | flush_on_change; // software bits are ignored
  if (ignore_access) diff &= ~_PAGE_ACCESSED;
  if (diff & oldpte & flush_on_clear) return true;
  return (diff & flush_on_change) != 0;
}

// can_change_pte_writable()
function can_change_pte_writable(vma: u32, pte: u64): bool {
  const flags = load<u64>(vma + T.V_FLAGS);
  if ((flags & T.VM_WRITE) == 0) return false;
  if (pte_protnone(pte)) return false;
  if ((flags & T.VM_SHARED) == 0) {
    if (pte_special(pte)) return false;
    const pfn = pte_pfn(pte);
    return is_anon_page(page_folio(pfn), pfn) && PageAnonExclusive(pfn);
  }
  return (pte & _PAGE_DIRTY) != 0;
}

function change_pte_range(vma: u32, pmdp: u32, addr: u64, end: u64, newprot: u64, cp_flags: u32): u64 {
  const ptes = table_host(table_of(load<u64>(pmdp)));
  let pages: u64 = 0;
  while (addr < end) {
    const ptep = ptes + ((<u32>(addr >> 12) & 511) << 3);
    const old = load<u64>(ptep);
    if (old != 0 && pte_present(old)) {
      let ptent = pte_modify(old, newprot);
      if ((cp_flags & MM_CP_TRY_CHANGE_WRITABLE) && !pte_write(ptent) && can_change_pte_writable(vma, ptent))
        ptent = pte_mkwrite(ptent);
      store<u64>(ptep, ptent);
      if (pte_needs_flush(old, ptent, true)) tlb_flush_pte_range(addr, 4096);
      pages++;
    }
    addr += 4096;
  }
  return pages;
}

function change_pmd_range(vma: u32, pudp: u32, addr: u64, end: u64, newprot: u64, cp_flags: u32): u64 {
  const pmds = table_host(table_of(load<u64>(pudp)));
  let pages: u64 = 0;
  let nr_huge_updates: u64 = 0;
  while (addr < end) {
    let next = (addr + (1 << 21)) & ~(<u64>(1 << 21) - 1);
    if (next > end || next == 0) next = end;
    const pmdp = pmds + ((<u32>(addr >> 21) & 511) << 3);
    const e = load<u64>(pmdp);
    if (e == 0) { addr = next; continue; }
    if (pmd_trans_huge(e)) {
      if (next - addr != (1 << 21)) {
        H.__split_huge_pmd(vma, pmdp, addr, false);
      } else {
        const r = H.change_huge_pmd(vma, pmdp, addr, newprot, cp_flags);
        if (r != 0) {
          if (r == 512) { pages += 512; nr_huge_updates++; }
          addr = next;
          continue;
        }
      }
      if (load<u64>(pmdp) == 0) { addr = next; continue; }
    }
    pages += change_pte_range(vma, pmdp, addr, next, newprot, cp_flags);
    addr = next;
  }
  if (nr_huge_updates) H.count_numa_huge_pte_updates(nr_huge_updates);
  return pages;
}

// change_pud_range() (seed 004: split-and-retry on partial ranges)
function change_pud_range(vma: u32, addr: u64, end: u64, newprot: u64, cp_flags: u32): u64 {
  const mm = load<u32>(vma + T.V_MM);
  let pages: u64 = 0;
  while (addr < end) {
    let next = (addr + (1 << 30)) & ~(<u64>(1 << 30) - 1);
    if (next > end || next == 0) next = end;
    const pudp = walk_to_pud(mm, addr);
    if (pudp == 0) { addr = next; continue; }
    const e = load<u64>(pudp);
    if (e == 0) { addr = next; continue; }
    if (pmd_trans_huge(e)) {
      if (next - addr != (1 << 30)) {
        const r = H.change_pud_partial(vma, pudp, addr);
        if (r < 0) return pages; // bad-pud-error variant
        continue; // again
      }
      const r = H.change_huge_pud(vma, pudp, addr, newprot, cp_flags);
      if (r == 0) continue; // changed under us: re-read
      if (r == 262144) pages += 262144;
      addr = next;
      continue;
    }
    pages += change_pmd_range(vma, pudp, addr, next, newprot, cp_flags);
    addr = next;
  }
  return pages;
}

// change_protection()
export function change_protection(vma: u32, start: u64, end: u64, cp_flags: u32): u64 {
  if (load<u8>(vma + T.V_KIND) == T.VK_HUGETLB) return hugetlb_change_protection(vma, start, end);
  return change_pud_range(vma, start, end, load<u64>(vma + T.V_PROT), cp_flags);
}

// vma_wants_manual_pte_write_upgrade()
function vma_wants_manual_pte_write_upgrade(vma: u32): bool {
  const f = load<u64>(vma + T.V_FLAGS);
  if (f & T.VM_SHARED) return false; // shared: only with write-notify, not modelled for anon shmem
  return (f & T.VM_WRITE) != 0;
}

// mprotect_fixup(): returns 0 or -errno; *vma_out = the VMA now covering [start, end)
export let mprotect_last_vma: u32 = 0;
function mprotect_fixup(mm: u32, vma: u32, start: u64, end: u64, newflags: u64): i32 {
  const oldflags = load<u64>(vma + T.V_FLAGS);
  if (newflags == oldflags) { mprotect_last_vma = vma; return 0; }
  const nrpages = (end - start) >> 12;
  let charged: i64 = 0;
  if (newflags & T.VM_WRITE) {
    if (!(oldflags & (T.VM_ACCOUNT | T.VM_WRITE | T.VM_HUGETLB | T.VM_SHARED | T.VM_NORESERVE))) {
      if (vm_enough_memory(mm, <i64>nrpages) < 0) return -ENOMEM;
      newflags |= T.VM_ACCOUNT;
      charged = <i64>nrpages;
    }
  } else if ((oldflags & T.VM_ACCOUNT) && load<u8>(vma + T.V_KIND) == T.VK_ANON && load<u32>(vma + T.V_ANON_VMA) == 0) {
    newflags &= ~T.VM_ACCOUNT;
  }
  const r = vma_modify_flags(mm, vma, start, end, newflags);
  if (r < 0) return <i32>r;
  if (charged) vm_acct_charge(mm, charged);
  if ((oldflags & T.VM_ACCOUNT) && !(newflags & T.VM_ACCOUNT)) vm_acct_charge(mm, -<i64>nrpages);
  vma = <u32>r;
  vma_set_page_prot(vma);
  let cp: u32 = 0;
  if (vma_wants_manual_pte_write_upgrade(vma)) cp |= MM_CP_TRY_CHANGE_WRITABLE;
  change_protection(vma, start, end, cp);
  vma = vma_try_merge_around(mm, vma);
  mprotect_last_vma = vma;
  return 0;
}

// do_mprotect_pkey()
export function do_mprotect(mm: u32, start: u64, len: u64, prot: u32): i32 {
  if (start & 4095) return -EINVAL;
  if (len == 0) return 0;
  len = (len + 4095) & PAGE_MASK;
  const end = start + len;
  if (end <= start) return -ENOMEM;
  if (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | 0x8 /* PROT_SEM */)) return -EINVAL;
  let vma = find_vma(mm, start);
  if (vma == 0 || load<u64>(vma + T.V_START) >= end) return -ENOMEM;
  if (load<u64>(vma + T.V_START) > start) return -ENOMEM;
  tlb_gather_mmu(mm, false);
  let nstart = start;
  let tmp = load<u64>(vma + T.V_START);
  let error: i32 = 0;
  while (vma != 0 && load<u64>(vma + T.V_START) < end) {
    if (load<u64>(vma + T.V_START) != tmp) { error = -ENOMEM; break; }
    const access: u64 = T.VM_READ | T.VM_WRITE | T.VM_EXEC;
    let newflags = calc_vm_prot_bits(prot) | (load<u64>(vma + T.V_FLAGS) & ~access);
    if ((newflags & ~(newflags >> 4)) & access) { error = -EACCES; break; }
    tmp = load<u64>(vma + T.V_END);
    if (tmp > end) tmp = end;
    error = mprotect_fixup(mm, vma, nstart, tmp, newflags);
    if (error) break;
    tmp = load<u64>(mprotect_last_vma + T.V_END);
    if (tmp > end) tmp = end;
    nstart = tmp;
    if (nstart >= end) break;
    const i = vma_index_after(mm, nstart);
    vma = i < load<u32>(mm + T.MM_NR_VMAS) ? mm_vma(mm, i) : 0;
  }
  tlb_finish_mmu();
  if (error == 0 && tmp < end) error = -ENOMEM;
  return error;
}
