// mremap(2) (mm/mremap.c): shrink, grow in place, or move; moving goes through
// move_page_tables() which moves huge PUD/PMD leaves and whole page tables when
// the extent allows (move_huge_pud/move_huge_pmd/move_normal_pmd), else splits
// and moves PTEs.

import * as T from "./mm_types";
import {
  find_vma, vma_lookup, do_munmap, split_vma, vma_index_of, mm_vma, vm_area_dup, vma_try_merge_around,
  get_unmapped_area, vma_array_reserve, vma_index_after, task_size, vma_pages, vmas_mergeable,
  EINVAL, ENOMEM, EFAULT, PAGE_MASK, MAP_FIXED, MAP_PRIVATE, vm_acct_charge,
} from "./mmap";
import { knob, K_MAX_MAP_COUNT } from "../kernel/sysfs";
import { p4d_alloc, pud_alloc, pmd_alloc, pte_alloc, walk_to_pud, walk_to_pmd } from "./memory";
import { pmd_trans_huge, pte_present, _PAGE_SOFT_DIRTY } from "../arch/x86/pgtable_types";
import { table_host, table_of, entry_ptr } from "../arch/x86/pgtable";
import { flush_tlb_range, flush_pmd_tlb_range, flush_pud_tlb_range } from "../arch/x86/tlb";
import { __split_huge_pmd } from "./huge_memory";
import { move_hugetlb_page_tables, clear_vma_resv_huge_pages, hugetlb_mremap_check, mremap_old_len } from "./hugetlb";

export const MREMAP_MAYMOVE: u32 = 1;
export const MREMAP_FIXED: u32 = 2;
export const MREMAP_DONTUNMAP: u32 = 4;

const PMD_SIZE: u64 = 1 << 21;
const PUD_SIZE: u64 = 1 << 30;

@inline function get_extent(size: u64, old_addr: u64, old_end: u64, new_addr: u64): u64 {
  let next = (old_addr + size) & ~(size - 1);
  let extent = next - old_addr;
  if (extent > old_end - old_addr) extent = old_end - old_addr;
  next = (new_addr + size) & ~(size - 1);
  if (extent > next - new_addr) extent = next - new_addr;
  return extent;
}

// move_ptes(): returns false only on allocation failure
function move_ptes(mm: u32, old_pmdp: u32, new_pmdp: u32, old_addr: u64, new_addr: u64, extent: u64): void {
  const optes = table_host(table_of(load<u64>(old_pmdp)));
  const nptes = table_host(table_of(load<u64>(new_pmdp)));
  let flush = false;
  for (let off: u64 = 0; off < extent; off += 4096) {
    const op = optes + ((<u32>((old_addr + off) >> 12) & 511) << 3);
    const e = load<u64>(op);
    if (e == 0) continue;
    store<u64>(op, 0);
    if (pte_present(e)) flush = true;
    // move_soft_dirty_pte(): a moved entry is soft-dirty
    store<u64>(nptes + ((<u32>((new_addr + off) >> 12) & 511) << 3), e | _PAGE_SOFT_DIRTY);
  }
  if (flush) flush_tlb_range(mm, old_addr, old_addr + extent, 12);
}

// move_page_tables(): returns the number of bytes moved
function move_page_tables(vma: u32, old_addr: u64, new_addr: u64, len: u64): u64 {
  const mm = load<u32>(vma + T.V_MM);
  const old_end = old_addr + len;
  const start = old_addr;
  let extent: u64 = 0;
  for (; old_addr < old_end; old_addr += extent, new_addr += extent) {
    extent = get_extent(PUD_SIZE, old_addr, old_end, new_addr);
    const old_pudp = walk_to_pud(mm, old_addr);
    if (old_pudp == 0 || load<u64>(old_pudp) == 0) continue;
    const np4d = p4d_alloc(mm, new_addr);
    if (np4d == 0) break;
    const new_pudp = pud_alloc(mm, np4d, new_addr);
    if (new_pudp == 0) break;
    const opud = load<u64>(old_pudp);
    if (pmd_trans_huge(opud)) {
      if (extent == PUD_SIZE && load<u64>(new_pudp) == 0) {
        // move_huge_pud()
        store<u64>(old_pudp, 0);
        store<u64>(new_pudp, opud | _PAGE_SOFT_DIRTY);
        flush_pud_tlb_range(mm, old_addr, old_addr + PUD_SIZE);
        continue;
      }
    } else if (extent == PUD_SIZE && load<u64>(new_pudp) == 0) {
      // move_normal_pud(): the whole PMD table moves
      store<u64>(old_pudp, 0);
      store<u64>(new_pudp, opud);
      flush_tlb_range(mm, old_addr, old_addr + PUD_SIZE, 12);
      continue;
    }
    extent = get_extent(PMD_SIZE, old_addr, old_end, new_addr);
    const old_pmdp = walk_to_pmd(mm, old_addr);
    if (old_pmdp == 0) continue;
    const new_pmdp = pmd_alloc(mm, new_pudp, new_addr);
    if (new_pmdp == 0) break;
    const opmd = load<u64>(old_pmdp);
    if (opmd != 0 && pmd_trans_huge(opmd)) {
      if (extent == PMD_SIZE && load<u64>(new_pmdp) == 0) {
        // move_huge_pmd(): deposits follow (one list per mm here)
        store<u64>(old_pmdp, 0);
        store<u64>(new_pmdp, opmd | _PAGE_SOFT_DIRTY);
        if (opmd & 1) flush_pmd_tlb_range(mm, old_addr, old_addr + PMD_SIZE);
        continue;
      }
      __split_huge_pmd(vma, old_pmdp, old_addr, false);
    } else if (opmd != 0 && extent == PMD_SIZE && load<u64>(new_pmdp) == 0) {
      // move_normal_pmd(): the whole PTE table moves
      store<u64>(old_pmdp, 0);
      store<u64>(new_pmdp, opmd);
      flush_tlb_range(mm, old_addr, old_addr + PMD_SIZE, 12);
      continue;
    }
    if (load<u64>(old_pmdp) == 0) continue;
    if (!pte_alloc(mm, new_pmdp)) break;
    move_ptes(mm, old_pmdp, new_pmdp, old_addr, new_addr, extent);
  }
  return old_addr - start;
}

// move_vma(): returns the new address or -errno
function move_vma(mm: u32, vma: u32, old_addr: u64, old_len: u64, new_len: u64, new_addr: u64): i64 {
  if (load<u32>(mm + T.MM_NR_VMAS) >= knob(K_MAX_MAP_COUNT) - 3) return -ENOMEM;
  // isolate [old_addr, old_addr + old_len) in its own VMA
  if (old_addr > load<u64>(vma + T.V_START)) {
    const e = split_vma(mm, vma, old_addr, true);
    if (e < 0) return e;
  }
  if (old_addr + old_len < load<u64>(vma + T.V_END)) {
    const e = split_vma(mm, vma, old_addr + old_len, false);
    if (e < 0) return e;
  }
  // copy_vma(): the new VMA shares the anon_vma; pgoff keeps folio indexes valid
  if (!vma_array_reserve(mm, 1)) return -ENOMEM;
  const nv = vm_area_dup(vma);
  if (nv == 0) return -ENOMEM;
  store<u64>(nv + T.V_START, new_addr);
  store<u64>(nv + T.V_END, new_addr + new_len);
  const idx = vma_index_after(mm, new_addr);
  const arr = load<u32>(mm + T.MM_VMAS);
  const n = load<u32>(mm + T.MM_NR_VMAS);
  memory.copy(arr + ((idx + 1) << 2), arr + (idx << 2), (n - idx) << 2);
  store<u32>(arr + (idx << 2), nv);
  store<u32>(mm + T.MM_NR_VMAS, n + 1);
  store<u32>(mm + T.MM_VMA_CACHE, 0);
  const hugetlb = load<u8>(vma + T.V_KIND) == T.VK_HUGETLB;
  const moved = hugetlb ? move_hugetlb_page_tables(vma, nv, old_addr, new_addr, old_len) : move_page_tables(vma, old_addr, new_addr, old_len);
  if (moved < old_len) {
    // move back what was moved, drop the new VMA
    if (hugetlb) move_hugetlb_page_tables(nv, vma, new_addr, old_addr, moved);
    else move_page_tables(nv, new_addr, old_addr, moved);
    do_munmap(mm, new_addr, new_len);
    return -ENOMEM;
  }
  // the old range is empty now: unmapping it frees its page tables and VMA
  // the charge moves with the pages (the old VMA must not give it back)
  store<u64>(vma + T.V_FLAGS, load<u64>(vma + T.V_FLAGS) & ~T.VM_ACCOUNT);
  // the private reservation now lives on in the new VMA
  if (hugetlb) clear_vma_resv_huge_pages(vma);
  do_munmap(mm, old_addr, old_len);
  store<u64>(mm + T.MM_TOTAL_VM, load<u64>(mm + T.MM_TOTAL_VM) + (new_len >> 12));
  if (load<u64>(nv + T.V_FLAGS) & T.VM_ACCOUNT)
    vm_acct_charge(mm, <i64>((new_len - old_len) >> 12));
  vma_try_merge_around(mm, nv);
  return <i64>new_addr;
}

// do_mremap(): returns the new address or -errno
export function do_mremap(mm: u32, addr: u64, old_len: u64, new_len: u64, flags: u32, new_addr: u64): i64 {
  if (flags & ~(MREMAP_FIXED | MREMAP_MAYMOVE | MREMAP_DONTUNMAP)) return -EINVAL;
  if ((flags & MREMAP_FIXED) && !(flags & MREMAP_MAYMOVE)) return -EINVAL;
  if (flags & MREMAP_DONTUNMAP) return -EINVAL; // not modelled: refused like an unsupported combination
  if (addr & 4095) return -EINVAL;
  old_len = (old_len + 4095) & PAGE_MASK;
  new_len = (new_len + 4095) & PAGE_MASK;
  if (new_len == 0) return -EINVAL;
  const vma = vma_lookup(mm, addr);
  if (vma == 0) return -EFAULT;
  if (load<u8>(vma + T.V_KIND) == T.VK_HUGETLB) {
    // hugetlb: huge page aligned, never growing (the reservation cannot be split)
    const r = hugetlb_mremap_check(vma, addr, old_len, new_len, new_addr, (flags & MREMAP_FIXED) != 0);
    if (r < 0) return r;
    new_len = <u64>r;
    old_len = mremap_old_len;
  }
  if (old_len == 0 || addr + old_len > load<u64>(vma + T.V_END)) return -EFAULT;
  if (load<u64>(vma + T.V_FLAGS) & T.VM_DONTEXPAND) {
    if (new_len > old_len) return -EFAULT;
  }
  if (flags & MREMAP_FIXED) {
    if (new_addr & 4095) return -EINVAL;
    if (new_len > task_size(mm) || new_addr > task_size(mm) - new_len) return -EINVAL;
    // the ranges must not overlap
    if (addr + old_len > new_addr && new_addr + new_len > addr) return -EINVAL;
    const e = do_munmap(mm, new_addr, new_len);
    if (e < 0) return e;
    if (old_len > new_len) {
      const e2 = do_munmap(mm, addr + new_len, old_len - new_len);
      if (e2 < 0) return e2;
      old_len = new_len;
    }
    const v = vma_lookup(mm, addr);
    if (v == 0) return -EFAULT;
    return move_vma(mm, v, addr, old_len, new_len, new_addr);
  }
  if (old_len >= new_len) {
    if (old_len > new_len) {
      const e = do_munmap(mm, addr + new_len, old_len - new_len);
      if (e < 0) return e;
    }
    return <i64>addr;
  }
  // grow in place if the VMA ends at old end and the space after it is free
  if (addr + old_len == load<u64>(vma + T.V_END)) {
    const next = find_vma(mm, addr + old_len);
    const end = addr + new_len;
    if ((next == 0 || load<u64>(next + T.V_START) >= end) && end <= task_size(mm)) {
      store<u64>(vma + T.V_END, end);
      store<u64>(mm + T.MM_TOTAL_VM, load<u64>(mm + T.MM_TOTAL_VM) + ((new_len - old_len) >> 12));
      return <i64>addr;
    }
  }
  if (!(flags & MREMAP_MAYMOVE)) return -ENOMEM;
  const r = get_unmapped_area(mm, 0, new_len, MAP_PRIVATE, 0, false);
  if (r < 0) return r;
  return move_vma(mm, vma, addr, old_len, new_len, <u64>r);
}
