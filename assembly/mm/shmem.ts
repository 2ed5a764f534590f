// shmem / tmpfs (mm/shmem.c) and the file fault path it uses (mm/memory.c:
// do_read_fault, do_shared_fault, do_cow_fault, finish_fault, set_pte_range,
// do_set_pmd; mm/filemap.c: filemap_map_pages fault-around).
//
// A shmem inode (memfd, or the file behind MAP_SHARED|MAP_ANONYMOUS) has a
// page cache: index -> pfn, one u32 per page in 512-entry leaves (the
// xarray). Folios are compound (order 0..9, per-size knobs) or, with seed
// 001's variants, PMD-mapped/PTE-remapped "teams".

import * as T from "./mm_types";
import { slab_alloc, slab_free, SLAB_FILE, alloc_block, free_block } from "../lib/hostmem";
import {
  pfn_pte, pte_mkdirty, pte_mkwrite, pte_mkold, pte_write, pte_dirty, pte_pfn, pte_present, pte_special,
  pmd_trans_huge, pte_young, _PAGE_PSE, _PAGE_RW,
} from "../arch/x86/pgtable_types";
import {
  table_host, table_of, mk_table_entry, entry_ptr, pgtable_alloc, pgtable_alloc_deposit, pgtable_free, set_ptes, mm_inc_nr_ptes,
  mm_dec_nr_ptes, fill_pte_table, PT_LEVEL_PTE,
} from "../arch/x86/pgtable";
import { pgtable_trans_huge_deposit, pgtable_trans_huge_withdraw, pgtable_trans_huge_withdraw_to_free } from "./pgtable_generic";
import { flush_pmd_tlb_range, flush_tlb_range } from "../arch/x86/tlb";
import {
  folio_alloc_small, folio_alloc_large, page_folio, frame_ptr, folio_nr_pages, clear_page_contents,
  copy_page_contents, page_copy_nonzero, S_FILE, S_DIRTY, S_EXTRA_SHIFT, S_MAPCOUNT_MASK, folio_ref_add, folio_mark_dirty,
} from "./folio";
import { folio_get, folio_put, folio_put_refs } from "./swap";
import {
  folio_add_new_anon_rmap, folio_remove_rmap_ptes, folio_remove_rmap_entire, folio_add_file_rmap_ptes,
  folio_add_file_rmap_pmd, RMAP_LEVEL_PMD,
} from "./rmap";
import {
  count_vm_event, count_mthp_stat, mod_node_page_state, THP_FILE_ALLOC, THP_FILE_FALLBACK, THP_FILE_MAPPED,
  MTHP_STAT_SHMEM_ALLOC, MTHP_STAT_SHMEM_FALLBACK, NR_FILE_PAGES, NR_SHMEM, NR_SHMEM_THPS, MM_ANONPAGES,
  MM_SHMEMPAGES,
} from "./vmstat";
import {
  vmf_address, vmf_flags, vmf_pmd, vmf_pte, vmf_orig_pte, add_mm_counter, pte_alloc, vmf_anon_prepare,
  FAULT_FLAG_WRITE, VM_FAULT_OOM, VM_FAULT_SIGBUS, VM_FAULT_FALLBACK, VM_FAULT_NOPAGE,
} from "./memory";
import {
  knob, K_SHMEM_ENABLED, K_SHMEM_SIZE_BASE, K_V_SHMEM_PMD_SPLIT, SHMEM_ALWAYS, SHMEM_WITHIN_SIZE, SHMEM_ADVISE, SHMEM_NEVER, SHMEM_DENY,
  SHMEM_FORCE, SSIZE_ALWAYS, SSIZE_INHERIT, SSIZE_WITHIN_SIZE, SSIZE_ADVISE,
} from "../kernel/sysfs";
import { thp_vma_suitable_order, thp_vma_suitable_orders, vma_thp_disabled, TVA_PAGEFAULT, TVA_FORCED_COLLAPSE, PMD_ORDER } from "./huge_memory";

// --- inode ------------------------------------------------------------------------------
export const I_SIZE: u32 = 0; // u64 i_size in pages
export const I_NRPAGES: u32 = 8; // u64 pages in the page cache
export const I_REFS: u32 = 16; // u32 VMAs + open files
export const I_TOP: u32 = 20; // u32 array of leaf pointers (512 entries each)
export const I_TOP_CAP: u32 = 24; // u32 entries in the top array
export const I_MMAP: u32 = 28; // u32 first VMA of the i_mmap list
export const I_FLAGS: u32 = 32; // u32
export const IF_ANON_SHMEM: u32 = 1; // shmem_zero_setup(): MAP_SHARED|MAP_ANONYMOUS

const FAULT_AROUND_PAGES: u32 = 16; // fault_around_bytes 64K

export function shmem_file_setup(size: u64, anon_shmem: bool): u32 {
  const inode = slab_alloc(SLAB_FILE);
  if (inode == 0) return 0;
  const pages = (size + 4095) >> 12;
  let cap = <u32>((pages + 511) >> 9);
  if (cap == 0) cap = 1;
  const top = alloc_block(cap * 4);
  if (top == 0) { slab_free(SLAB_FILE, inode); return 0; }
  store<u64>(inode + I_SIZE, pages);
  store<u32>(inode + I_TOP, top);
  store<u32>(inode + I_TOP_CAP, cap);
  store<u32>(inode + I_FLAGS, anon_shmem ? IF_ANON_SHMEM : 0);
  return inode;
}

// --- the page cache (i_pages) --------------------------------------------------------------

@inline function pc_leaf(inode: u32, index: u64, alloc: bool): u32 {
  const li = <u32>(index >> 9);
  if (li >= load<u32>(inode + I_TOP_CAP)) return 0;
  const slot = load<u32>(inode + I_TOP) + 4 * li;
  let leaf = load<u32>(slot);
  if (leaf == 0 && alloc) {
    leaf = alloc_block(2048);
    store<u32>(slot, leaf);
  }
  return leaf;
}

// filemap lookup: the pfn of page `index`, or 0
export function pc_lookup(inode: u32, index: u64): u32 {
  const leaf = pc_leaf(inode, index, false);
  if (leaf == 0) return 0;
  const v = load<u32>(leaf + 4 * (<u32>index & 511));
  return v == 0 ? 0 : v - 1;
}

// xa_find() over [first, last]: is any index present?
function pc_any(inode: u32, first: u64, last: u64): bool {
  for (let i = first; i <= last; i++) if (pc_lookup(inode, i) != 0) return true;
  return false;
}

function pc_set(inode: u32, index: u64, pfn_plus1: u32): bool {
  const leaf = pc_leaf(inode, index, true);
  if (leaf == 0) return false;
  store<u32>(leaf + 4 * (<u32>index & 511), pfn_plus1);
  return true;
}

// shmem_add_to_page_cache() + shmem_update_stats(): the cache holds nr references
function shmem_add_to_page_cache(inode: u32, f: u32, pfn: u32, index: u64, nr: u32): bool {
  for (let i: u32 = 0; i < nr; i++) if (!pc_set(inode, index + i, pfn + i + 1)) return false;
  if (f != 0) store<i32>(f, load<i32>(f, T.F_REFCOUNT) + <i32>nr, T.F_REFCOUNT);
  else folio_get(0, pfn);
  store<u64>(inode + I_NRPAGES, load<u64>(inode + I_NRPAGES) + nr);
  mod_node_page_state(NR_FILE_PAGES, nr);
  mod_node_page_state(NR_SHMEM, nr);
  if (nr >= 512) mod_node_page_state(NR_SHMEM_THPS, nr);
  return true;
}

// --- huge policy (shmem_allowable_huge_orders, shmem_huge_global_enabled) --------------------

function shmem_orders(policy: u32): u32 {
  let m: u32 = 0;
  for (let o: u32 = 1; o <= PMD_ORDER; o++) if (knob(K_SHMEM_SIZE_BASE + o) == policy) m |= 1 << o;
  return m;
}

// shmem_huge_global_enabled() for the internal mount, whose huge= follows shmem_enabled
function shmem_huge_global_enabled(inode: u32, index: u64, vm_flags: u64): u32 {
  const huge = knob(K_SHMEM_ENABLED);
  if (huge == SHMEM_DENY) return 0;
  if (huge == SHMEM_FORCE) return 1 << PMD_ORDER;
  if (huge == SHMEM_ALWAYS) return 1 << PMD_ORDER;
  if (huge == SHMEM_WITHIN_SIZE) {
    const end = (index + 512) & ~(<u64>511);
    if (end <= load<u64>(inode + I_SIZE)) return 1 << PMD_ORDER;
  }
  if (huge == SHMEM_WITHIN_SIZE || huge == SHMEM_ADVISE) {
    if (vm_flags & T.VM_HUGEPAGE) return 1 << PMD_ORDER;
  }
  return 0;
}

// shmem_get_orders_within_size()
function orders_within_size(inode: u32, orders: u32, index: u64): u32 {
  let m: u32 = 0;
  while (orders != 0) {
    const o = 31 - clz(orders);
    orders &= ~(1 << o);
    const aligned_end = (index + (<u64>1 << o)) & ~((<u64>1 << o) - 1);
    if (aligned_end <= load<u64>(inode + I_SIZE)) m |= 1 << o;
  }
  return m;
}

// shmem_allowable_huge_orders(): the internal mount (memfd, MAP_SHARED|MAP_ANONYMOUS)
// follows the per-size shmem_enabled knobs like anonymous shmem does
export function shmem_allowable_huge_orders(vma: u32, vm_flags: u64, index: u64, forced: bool): u32 {
  const inode = load<u32>(vma + T.V_FILE);
  if (vma_thp_disabled(vma, vm_flags, forced)) return 0;
  const global = knob(K_SHMEM_ENABLED);
  if (global == SHMEM_DENY) return 0;
  if (global == SHMEM_FORCE) return shmem_orders(SSIZE_INHERIT);
  let mask = shmem_orders(SSIZE_ALWAYS);
  mask |= orders_within_size(inode, shmem_orders(SSIZE_WITHIN_SIZE), index);
  if (forced || (vm_flags & T.VM_HUGEPAGE)) mask |= shmem_orders(SSIZE_ADVISE);
  if (shmem_huge_global_enabled(inode, index, vm_flags) != 0) mask |= shmem_orders(SSIZE_INHERIT);
  return mask & (((1 << (PMD_ORDER + 1)) - 1) & ~1);
}

// --- shmem_get_folio ------------------------------------------------------------------------

// shmem_suitable_orders(): orders that fit the VMA and whose aligned range is not in the cache
function shmem_suitable_orders(inode: u32, vma: u32, address: u64, index: u64, orders: u32): u32 {
  orders = thp_vma_suitable_orders(vma, address, orders);
  while (orders != 0) {
    const o = 31 - clz(orders);
    const pages: u64 = <u64>1 << o;
    const aligned = index & ~(pages - 1);
    if (!pc_any(inode, aligned, aligned + pages - 1)) break;
    orders &= ~(1 << o);
  }
  return orders;
}

// shmem_get_folio_gfp(SGP_CACHE) for a fault: the pfn of page `index`, allocating a
// folio (largest allowed order first, then smaller) if the cache has none. 0 = -ENOMEM.
function shmem_get_page(inode: u32, vma: u32, address: u64, index: u64): u32 {
  const have = pc_lookup(inode, index);
  if (have != 0) return have;
  let orders = shmem_allowable_huge_orders(vma, load<u64>(vma + T.V_FLAGS), index, false);
  if (orders != 0) orders = shmem_suitable_orders(inode, vma, address, index, orders);
  while (orders != 0) {
    const o = 31 - clz(orders);
    const pages: u32 = 1 << o;
    const f = folio_alloc_large(o, T.FK_SHMEM);
    if (f != 0) {
      const pfn = load<u32>(f, T.F_PFN);
      const start = index & ~(<u64>pages - 1);
      for (let i: u32 = 0; i < pages; i++) clear_page_contents(pfn + i);
      store<u32>(f, inode, T.F_MAPPING);
      store<u64>(f, start, T.F_INDEX);
      if (!shmem_add_to_page_cache(inode, f, pfn, start, pages)) { folio_put(f, 0); return 0; }
      folio_put(f, 0); // the allocation reference: the cache holds its own
      if (pages >= 512) count_vm_event(THP_FILE_ALLOC);
      count_mthp_stat(o, MTHP_STAT_SHMEM_ALLOC);
      return pfn + <u32>(index - start);
    }
    if (pages == 512) count_vm_event(THP_FILE_FALLBACK);
    count_mthp_stat(o, MTHP_STAT_SHMEM_FALLBACK);
    orders &= ~(1 << o);
  }
  const pfn = folio_alloc_small(true);
  if (pfn == 0) return 0;
  clear_page_contents(pfn);
  if (!shmem_add_to_page_cache(inode, 0, pfn, index, 1)) { folio_put(0, pfn); return 0; }
  folio_put(0, pfn);
  return pfn;
}

// --- mapping a cache page ------------------------------------------------------------------------

// Seed 001 (V9 remap-team-by-ptes): a shmem PMD carries a deposited PTE table
// (map_team_by_pmd) so its split can remap in place. The PMD records it in
// SOFTW4 (bit 57, the devmap bit of older kernels; never set on shmem otherwise).
export const _PAGE_TEAM_DEPOSIT: u64 = <u64>1 << 57;
@inline function team_remap(): bool { return knob(K_V_SHMEM_PMD_SPLIT) == 1; }

// map_team_by_pmd()'s pte_alloc_one() + deposit (nr_ptes counts it)
function team_deposit(mm: u32): bool {
  const pgtable = pgtable_alloc_deposit(PT_LEVEL_PTE);
  if (pgtable == 0) return false;
  pgtable_trans_huge_deposit(mm, pgtable);
  mm_inc_nr_ptes(mm);
  return true;
}

// do_set_pmd(): map an order-9 folio with a PMD (no deposit on x86; V9: map_team_by_pmd deposits)
function do_set_pmd(vma: u32, f: u32, write: bool): u32 {
  const mm = load<u32>(vma + T.V_MM);
  const haddr = vmf_address & ~(<u64>(1 << 21) - 1);
  if (vma_thp_disabled(vma, load<u64>(vma + T.V_FLAGS), true)) return VM_FAULT_FALLBACK;
  if (!thp_vma_suitable_order(vma, haddr, PMD_ORDER)) return VM_FAULT_FALLBACK;
  if (load<u8>(f, T.F_ORDER) != PMD_ORDER) return VM_FAULT_FALLBACK;
  if (load<u64>(vmf_pmd) != 0) return VM_FAULT_FALLBACK;
  let entry = pfn_pte(load<u32>(f, T.F_PFN), load<u64>(vma + T.V_PROT)) | _PAGE_PSE;
  if (team_remap()) {
    if (!team_deposit(mm)) return VM_FAULT_OOM;
    entry |= _PAGE_TEAM_DEPOSIT;
  }
  if (write) {
    entry = pte_mkdirty(entry);
    if (load<u64>(vma + T.V_FLAGS) & T.VM_WRITE) entry = pte_mkwrite(entry);
  }
  add_mm_counter(mm, MM_SHMEMPAGES, 512);
  folio_get(f, 0); // the mapping's reference
  folio_add_file_rmap_pmd(f, vma);
  store<u64>(vmf_pmd, entry);
  count_vm_event(THP_FILE_MAPPED);
  return 0;
}

// set_pte_range(): nr PTEs of the folio of `pfn`, starting at addr
function set_pte_range(vma: u32, ptep: u32, pfn: u32, nr: u32, addr: u64, write: bool, cow: bool): void {
  let entry = pfn_pte(pfn, load<u64>(vma + T.V_PROT));
  const f = page_folio(pfn);
  const folio_dirty = f != 0 ? (load<u16>(f, T.F_FLAGS) & T.FF_DIRTY) != 0 : (load<u32>(frame_ptr(pfn)) & S_DIRTY) != 0;
  if (write) {
    entry = pte_mkdirty(entry);
    if (load<u64>(vma + T.V_FLAGS) & T.VM_WRITE) entry = pte_mkwrite(entry);
  } else if (pte_write(entry) && folio_dirty) {
    entry = pte_mkdirty(entry);
  }
  if (cow) {
    folio_add_new_anon_rmap(0, pfn, vma, addr, true);
  } else {
    folio_add_file_rmap_ptes(f, pfn, nr, vma);
  }
  set_ptes(ptep, entry, nr);
}

@inline function ptep_of(addr: u64): u32 {
  return table_host(table_of(load<u64>(vmf_pmd))) + ((<u32>(addr >> 12) & 511) << 3);
}

// finish_fault() for a shmem page (shared mapping, or a read of a private one)
function finish_fault(vma: u32, pfn: u32, write: bool): u32 {
  const mm = load<u32>(vma + T.V_MM);
  const f = page_folio(pfn);
  if (load<u64>(vmf_pmd) == 0) {
    if (f != 0 && load<u8>(f, T.F_ORDER) == PMD_ORDER) {
      const r = do_set_pmd(vma, f, write);
      if (r != VM_FAULT_FALLBACK) return r;
    }
    if (!pte_alloc(mm, vmf_pmd)) return VM_FAULT_OOM;
  }
  if (pmd_trans_huge(load<u64>(vmf_pmd))) return VM_FAULT_NOPAGE;
  let nr: u32 = 1;
  let addr = vmf_address & ~(<u64>4095);
  let first = pfn;
  if (f != 0) {
    // the whole folio at once when it fits the VMA and this PTE table
    const n = folio_nr_pages(f);
    const idx = pfn - load<u32>(f, T.F_PFN);
    const vma_off = ((addr - load<u64>(vma + T.V_START)) >> 12);
    const pte_off = <u32>(addr >> 12) & 511;
    const vpages = (load<u64>(vma + T.V_END) - load<u64>(vma + T.V_START)) >> 12;
    if (!(vma_off < idx || vma_off + (n - idx) > vpages || pte_off < idx || pte_off + (n - idx) > 512)) {
      nr = n;
      addr -= <u64>idx << 12;
      first = load<u32>(f, T.F_PFN);
    }
  }
  const ptep = ptep_of(addr);
  for (let i: u32 = 0; i < nr; i++) {
    if (load<u64>(ptep + (i << 3)) != 0) {
      if (nr == 1) return VM_FAULT_NOPAGE;
      // pte_range_none() failed: map just the faulting page
      return finish_fault_single(vma, pfn, write);
    }
  }
  folio_get_n(f, first, nr);
  set_pte_range(vma, ptep, first, nr, addr, write, false);
  add_mm_counter(mm, MM_SHMEMPAGES, nr);
  return 0;
}

function finish_fault_single(vma: u32, pfn: u32, write: bool): u32 {
  const addr = vmf_address & ~(<u64>4095);
  const ptep = ptep_of(addr);
  if (load<u64>(ptep) != 0) return VM_FAULT_NOPAGE;
  const f = page_folio(pfn);
  folio_get_n(f, pfn, 1);
  set_pte_range(vma, ptep, pfn, 1, addr, write, false);
  add_mm_counter(load<u32>(vma + T.V_MM), MM_SHMEMPAGES, 1);
  return 0;
}

@inline function folio_get_n(f: u32, pfn: u32, n: u32): void {
  if (f != 0) store<i32>(f, load<i32>(f, T.F_REFCOUNT) + <i32>n, T.F_REFCOUNT);
  else folio_get(0, pfn);
}

// filemap_map_pages() over the fault-around window: map what the cache has.
// Returns true when the faulting address got mapped (VM_FAULT_NOPAGE).
function filemap_map_pages(vma: u32, from_pte: u32, to_pte: u32): bool {
  const mm = load<u32>(vma + T.V_MM);
  const inode = load<u32>(vma + T.V_FILE);
  const vstart = load<u64>(vma + T.V_START);
  const pgoff = load<u64>(vma + T.V_PGOFF);
  const base = vmf_address & ~(<u64>(1 << 21) - 1);
  let mapped_fault = false;
  // filemap_map_pmd(): the first cache folio of the window may be PMD-mapped
  if (load<u64>(vmf_pmd) != 0 && pmd_trans_huge(load<u64>(vmf_pmd))) return true;
  let first_seen = false;
  let rss: i64 = 0;
  for (let p = from_pte; p <= to_pte; p++) {
    const addr = base + (<u64>p << 12);
    const index = ((addr - vstart) >> 12) + pgoff;
    const pfn = pc_lookup(inode, index);
    if (pfn == 0) continue;
    const f = page_folio(pfn);
    if (!first_seen) {
      first_seen = true;
      if (load<u64>(vmf_pmd) == 0 && f != 0 && load<u8>(f, T.F_ORDER) == PMD_ORDER) {
        if (do_set_pmd(vma, f, false) == 0) return true;
      }
      if (!pte_alloc(mm, vmf_pmd)) return false;
      if (pmd_trans_huge(load<u64>(vmf_pmd))) return true;
    }
    if (f != 0) {
      // 6.18 maps a large folio entirely when it lies inside the VMA and one page
      // table (filemap_map_pages "map entire large folio"), whatever the window
      const nr = folio_nr_pages(f);
      const addr0 = addr - ((index - load<u64>(f, T.F_INDEX)) << 12);
      const end0 = addr0 + (<u64>nr << 12);
      if (addr0 >= vstart && end0 <= load<u64>(vma + T.V_END) && (addr0 >> 21) == ((end0 - 1) >> 21)) {
        const head = load<u32>(f, T.F_PFN);
        for (let k: u32 = 0; k < nr; k++) {
          const a = addr0 + (<u64>k << 12);
          const ptep = ptep_of(a);
          if (load<u64>(ptep) != 0) continue;
          folio_get_n(f, head + k, 1);
          set_pte_range(vma, ptep, head + k, 1, a, false, false);
          rss++;
          if (a == (vmf_address & ~(<u64>4095))) mapped_fault = true;
        }
        p = <u32>((end0 - base) >> 12) - 1;
        continue;
      }
    }
    const ptep = ptep_of(addr);
    if (load<u64>(ptep) != 0) continue;
    folio_get_n(f, pfn, 1);
    set_pte_range(vma, ptep, pfn, 1, addr, false, false);
    rss++;
    if (addr == (vmf_address & ~(<u64>4095))) mapped_fault = true;
  }
  add_mm_counter(mm, MM_SHMEMPAGES, rss);
  return mapped_fault;
}

// do_fault_around()
function do_fault_around(vma: u32): bool {
  const pte_off = <u32>(vmf_address >> 12) & 511;
  const vma_off = (vmf_address - load<u64>(vma + T.V_START)) >> 12;
  const vpages = (load<u64>(vma + T.V_END) - load<u64>(vma + T.V_START)) >> 12;
  let from_pte = pte_off & ~(FAULT_AROUND_PAGES - 1);
  const lim = <u64>pte_off - min<u64>(<u64>pte_off, vma_off);
  if (<u64>from_pte < lim) from_pte = <u32>lim;
  let to = min<u64>(<u64>from_pte + FAULT_AROUND_PAGES, 512);
  to = min<u64>(to, <u64>pte_off + vpages - vma_off);
  return filemap_map_pages(vma, from_pte, <u32>(to - 1));
}

// do_fault() for shmem VMAs
export function shmem_do_fault(vma: u32): u32 {
  const inode = load<u32>(vma + T.V_FILE);
  const index = ((vmf_address - load<u64>(vma + T.V_START)) >> 12) + load<u64>(vma + T.V_PGOFF);
  if (index >= load<u64>(inode + I_SIZE)) return VM_FAULT_SIGBUS;
  const write = (vmf_flags & FAULT_FLAG_WRITE) != 0;
  const shared = (load<u64>(vma + T.V_FLAGS) & T.VM_SHARED) != 0;
  if (!write) {
    // do_read_fault(): fault-around first
    if (do_fault_around(vma)) return 0;
    const pfn = shmem_get_page(inode, vma, vmf_address, index);
    if (pfn == 0) return VM_FAULT_OOM;
    const r = finish_fault(vma, pfn, false);
    return r == VM_FAULT_NOPAGE ? 0 : r;
  }
  if (shared) {
    // do_shared_fault(): fault_dirty_shared_page() dirties the folio however it was mapped
    const pfn = shmem_get_page(inode, vma, vmf_address, index);
    if (pfn == 0) return VM_FAULT_OOM;
    const r = finish_fault(vma, pfn, true);
    if (r == 0 || r == VM_FAULT_NOPAGE) folio_mark_dirty(page_folio(pfn), pfn);
    return r == VM_FAULT_NOPAGE ? 0 : r;
  }
  // do_cow_fault(): a private copy of the cache page
  const r = vmf_anon_prepare(vma);
  if (r) return r;
  const src = shmem_get_page(inode, vma, vmf_address, index);
  if (src == 0) return VM_FAULT_OOM;
  const npfn = folio_alloc_small(false);
  if (npfn == 0) return VM_FAULT_OOM;
  copy_page_contents(npfn, src);
  page_copy_nonzero(npfn, src);
  const mm = load<u32>(vma + T.V_MM);
  if (!pte_alloc(mm, vmf_pmd)) { folio_put(0, npfn); return VM_FAULT_OOM; }
  const addr = vmf_address & ~(<u64>4095);
  const ptep = ptep_of(addr);
  if (load<u64>(ptep) != 0) { folio_put(0, npfn); return 0; }
  set_pte_range(vma, ptep, npfn, 1, addr, true, true);
  add_mm_counter(mm, MM_ANONPAGES, 1);
  return 0;
}

// wp_page_shared(): a write to a read-only PTE of a shared shmem mapping
// (no write-notify for shmem: make it writable and dirty in place)
export function shmem_wp_page_shared(vma: u32, ptep: u32, pfn: u32): u32 {
  let e = pte_mkdirty(load<u64>(ptep));
  if (load<u64>(vma + T.V_FLAGS) & T.VM_WRITE) e = pte_mkwrite(e);
  store<u64>(ptep, e);
  if (pfn != 0) folio_mark_dirty(page_folio(pfn), pfn);
  return 0;
}

// --- VMA lifetime and truncation ------------------------------------------------------------------

export function shmem_vma_link(vma: u32): void {
  const inode = load<u32>(vma + T.V_FILE);
  store<u32>(inode + I_REFS, load<u32>(inode + I_REFS) + 1);
  const first = load<u32>(inode + I_MMAP);
  store<u32>(vma + T.V_FILE_NEXT, first);
  store<u32>(vma + T.V_FILE_PREV, 0);
  if (first != 0) store<u32>(first + T.V_FILE_PREV, vma);
  store<u32>(inode + I_MMAP, vma);
}

export function shmem_vma_unlink(vma: u32): void {
  const inode = load<u32>(vma + T.V_FILE);
  if (inode == 0) return;
  const next = load<u32>(vma + T.V_FILE_NEXT), prev = load<u32>(vma + T.V_FILE_PREV);
  if (prev != 0) store<u32>(prev + T.V_FILE_NEXT, next); else store<u32>(inode + I_MMAP, next);
  if (next != 0) store<u32>(next + T.V_FILE_PREV, prev);
  store<u32>(vma + T.V_FILE_NEXT, 0);
  store<u32>(vma + T.V_FILE_PREV, 0);
  const refs = load<u32>(inode + I_REFS) - 1;
  store<u32>(inode + I_REFS, refs);
  if (refs == 0) shmem_evict_inode(inode);
}

// shmem_evict_inode(): the last reference is gone, the page cache goes with it
function shmem_evict_inode(inode: u32): void {
  shmem_truncate_range(inode, 0, load<u64>(inode + I_SIZE));
  const top = load<u32>(inode + I_TOP);
  const cap = load<u32>(inode + I_TOP_CAP);
  for (let i: u32 = 0; i < cap; i++) {
    const leaf = load<u32>(top + 4 * i);
    if (leaf != 0) free_block(leaf, 2048);
  }
  free_block(top, cap * 4);
  slab_free(SLAB_FILE, inode);
}

// Drop cache pages of [start, end) (indexes) that no one maps any more is not how
// the kernel truncates: shmem_undo_range() removes every folio fully inside the range
// from the cache (mapped pages lose their cache reference and are freed when unmapped).
export function shmem_truncate_range(inode: u32, start: u64, end: u64): void {
  let i = start;
  while (i < end) {
    const pfn = pc_lookup(inode, i);
    if (pfn == 0) { i++; continue; }
    const f = page_folio(pfn);
    const nr: u64 = f != 0 ? <u64>folio_nr_pages(f) : 1;
    const fstart = f != 0 ? load<u64>(f, T.F_INDEX) : i;
    if (fstart < start || fstart + nr > end) { i = fstart + nr; continue; } // partial folio: kept
    for (let k: u64 = 0; k < nr; k++) pc_set(inode, fstart + k, 0);
    store<u64>(inode + I_NRPAGES, load<u64>(inode + I_NRPAGES) - nr);
    mod_node_page_state(NR_FILE_PAGES, -<i64>nr);
    mod_node_page_state(NR_SHMEM, -<i64>nr);
    if (nr >= 512) mod_node_page_state(NR_SHMEM_THPS, -<i64>nr);
    if (f != 0) { store<u32>(f, 0, T.F_MAPPING); folio_put_refs(f, pfn, <u32>nr); } // __filemap_remove_folio
    else folio_put(0, pfn);
    i = fstart + nr;
  }
}

// split_file_pmd(): __split_huge_pmd_locked() for a shmem PMD: the PMD is zapped
// (the range refaults); seed 001's team variant remaps it with 512 PTEs instead.
export function split_file_pmd(vma: u32, pmdp: u32, haddr: u64): void {
  const mm = load<u32>(vma + T.V_MM);
  const old = load<u64>(pmdp);
  if (team_remap() && remap_team_by_ptes(vma, pmdp, haddr)) return;
  store<u64>(pmdp, 0);
  flush_pmd_tlb_range(mm, haddr, haddr + (1 << 21));
  withdraw_team_deposit(mm, old);
  const pfn = pte_pfn(old);
  const f = page_folio(pfn);
  if (pte_dirty(old)) folio_mark_dirty(f, pfn);
  folio_remove_rmap_entire(f, vma, RMAP_LEVEL_PMD);
  add_mm_counter(mm, MM_SHMEMPAGES, -512);
  folio_put(f, 0);
}

// shrink_folio_list() for shmem pages MADV_PAGEOUT isolated, without swap:
// try_to_unmap() removes the nr PTE mappings at ptep (the folio is mapped by
// this VMA only), then shmem_writeout() finds no swap and redirties the folio:
// it stays in the page cache, the range refaults from there.
export function shmem_pageout_ptes(vma: u32, ptep: u32, addr: u64, pfn: u32, nr: u32): void {
  const mm = load<u32>(vma + T.V_MM);
  const f = page_folio(pfn);
  let dirty = false;
  for (let i: u32 = 0; i < nr; i++) {
    const p = ptep + (i << 3);
    if (pte_dirty(load<u64>(p))) dirty = true;
    store<u64>(p, 0);
  }
  flush_tlb_range(mm, addr, addr + (<u64>nr << 12), 12);
  if (dirty) folio_mark_dirty(f, pfn);
  folio_remove_rmap_ptes(f, pfn, nr, vma);
  add_mm_counter(mm, MM_SHMEMPAGES, -<i64>nr);
  if (f != 0) folio_put_refs(f, pfn, nr); else folio_put(0, pfn);
}

// zap_deposited_table() for a team PMD
function withdraw_team_deposit(mm: u32, pmd: u64): void {
  if ((pmd & _PAGE_TEAM_DEPOSIT) == 0) return;
  pgtable_free(pgtable_trans_huge_withdraw_to_free(mm));
  mm_dec_nr_ptes(mm);
}

// remap_team_by_ptes() (seed 001): the PMD becomes a table of 512 PTEs mapping
// the same pages (dirty; old if the PMD was); RSS and the mapping are kept.
// The table is the deposit, or (PMD mapped before the variant was chosen) a new
// one; false when that allocation fails (the caller zaps instead).
function remap_team_by_ptes(vma: u32, pmdp: u32, haddr: u64): bool {
  const mm = load<u32>(vma + T.V_MM);
  const old = load<u64>(pmdp);
  let pgtable: u32;
  if (old & _PAGE_TEAM_DEPOSIT) {
    pgtable = pgtable_trans_huge_withdraw(mm);
  } else {
    pgtable = pgtable_alloc(PT_LEVEL_PTE);
    if (pgtable == 0) return false;
    mm_inc_nr_ptes(mm);
  }
  // pmdp_huge_clear_flush()
  store<u64>(pmdp, 0);
  flush_pmd_tlb_range(mm, haddr, haddr + (1 << 21));
  const pfn = pte_pfn(old);
  const f = page_folio(pfn);
  let entry = pte_mkdirty(pfn_pte(pfn, load<u64>(vma + T.V_PROT)));
  if (pte_write(old)) entry = pte_mkwrite(entry);
  if (!pte_young(old)) entry = pte_mkold(entry);
  fill_pte_table(table_host(pgtable), entry);
  // page_add_file_rmap + get_page for the pages (the PMD's reference becomes one
  // PTE's), then the PMD mapping goes (page_remove_team_rmap)
  folio_add_file_rmap_ptes(f, pfn, 512, vma);
  folio_ref_add(f, 511);
  folio_remove_rmap_entire(f, vma, RMAP_LEVEL_PMD);
  folio_mark_dirty(f, pfn);
  store<u64>(pmdp, mk_table_entry(pgtable));
  return true;
}

// zap_huge_pmd() for a shmem PMD: counters and a team deposit (the caller cleared
// the entry and queues the reference for the TLB flush)
export function zap_file_pmd_accounting(vma: u32, f: u32, orig: u64): void {
  const mm = load<u32>(vma + T.V_MM);
  add_mm_counter(mm, MM_SHMEMPAGES, -512);
  withdraw_team_deposit(mm, orig);
}

// copy_huge_pmd() for a shmem PMD with V11 dup-team-pmd (seed 001): the child maps
// the folio by a PMD too (with its own deposit when V9 deposits), no write
// protection; returns false when the deposit cannot be allocated (-ENOMEM).
export function dup_team_pmd(dst_vma: u32, dst_pmdp: u32, pmd: u64): bool {
  const dst_mm = load<u32>(dst_vma + T.V_MM);
  let entry = pte_mkold(pmd) & ~_PAGE_TEAM_DEPOSIT;
  if (team_remap()) {
    if (!team_deposit(dst_mm)) return false;
    entry |= _PAGE_TEAM_DEPOSIT;
  }
  const f = page_folio(pte_pfn(pmd));
  folio_get(f, 0);
  folio_add_file_rmap_pmd(f, dst_vma);
  add_mm_counter(dst_mm, MM_SHMEMPAGES, 512);
  store<u64>(dst_pmdp, entry);
  return true;
}

export function shmem_inode_size(inode: u32): u64 { return load<u64>(inode + I_SIZE); }

// MADV_REMOVE -> shmem_fallocate(FALLOC_FL_PUNCH_HOLE): unmap the range from every
// VMA of the file (unmap_mapping_range, anon COW copies stay), then drop the
// cache pages (shmem_truncate_range; a large folio only partly inside is kept,
// its pages in the hole zeroed like truncate_inode_partial_folio() does).
export function shmem_punch_hole(vma: u32, start: u64, end: u64): i32 {
  const inode = load<u32>(vma + T.V_FILE);
  const first = ((start - load<u64>(vma + T.V_START)) >> 12) + load<u64>(vma + T.V_PGOFF);
  const last = first + ((end - start) >> 12); // exclusive
  for (let v = load<u32>(inode + I_MMAP); v != 0; v = load<u32>(v + T.V_FILE_NEXT)) {
    const vs = load<u64>(v + T.V_START), ve = load<u64>(v + T.V_END);
    const pg = load<u64>(v + T.V_PGOFF);
    const vlast = pg + ((ve - vs) >> 12);
    const a = max<u64>(first, pg), b = min<u64>(last, vlast);
    if (a >= b) continue;
    zap_file_range(v, vs + ((a - pg) << 12), vs + ((b - pg) << 12));
  }
  // partial large folios: zero their pages inside the hole
  for (let i = first; i < last; i++) {
    const pfn = pc_lookup(inode, i);
    if (pfn == 0) continue;
    const f = page_folio(pfn);
    if (f == 0) continue;
    const fs = load<u64>(f, T.F_INDEX), nr = <u64>folio_nr_pages(f);
    if (fs < first || fs + nr > last) clear_page_contents(pfn);
  }
  shmem_truncate_range(inode, first, last);
  return 0;
}

// zap_page_range_single() with zap_details.even_cows = false: page-cache pages only
import { zap_page_range_single } from "./memory";
function zap_file_range(vma: u32, start: u64, end: u64): void {
  zap_page_range_single(vma, start, end, false);
}

// The fd of a memfd is closed right after mmap: a file no VMA took is freed.
export function shmem_file_release_unmapped(inode: u32): void {
  if (load<u32>(inode + I_REFS) == 0) shmem_evict_inode(inode);
}
