// hugetlb (mm/hugetlb.c, fs/hugetlbfs/inode.c): hstate pools, reservations,
// faults, COW, fork, zap, mprotect and smaps of MAP_HUGETLB mappings, PMD
// sharing, and the high-granularity mapping (HGM) of seed 003.
//
// Model: every MAP_HUGETLB mmap creates an unlinked hugetlbfs file (the
// kernel's hugetlb_file_setup); a file record holds the page cache and the
// inode reserve map, one u32 per huge page (folio pointer | region bit).
// A private mapping owns a resv_map record of the same layout (region bit =
// reservation consumed, as in the kernel). VMA->V_RESV is the kernel's
// vm_private_data for private mappings: resv_map pointer | HPAGE_RESV_* flags.

import * as T from "./mm_types";
import { LAYOUT_IO } from "../layout";
import { slab_alloc, slab_free, SLAB_FILE, SLAB_FRAMES, alloc_block, free_block } from "../lib/hostmem";
import { data_mode, pb_rec, PB_FRAMES, PB_FOLIO, PB_STATE, PBS_ALLOC, nr_pageblocks, pfn_to_host } from "./page_alloc";
import {
  folio_alloc_large, free_large_folio, page_folio, large_page_mapcount_add, large_page_mapcount, frame_ptr,
  page_mark_nonzero, FT_TAIL, TL_NONZERO, folio_nr_pages, folio_set_flag, folio_clear_flag, folio_test,
} from "./folio";
import {
  knob, knob_set_raw, K_HUGETLB_2M, K_HUGETLB_1G, K_HUGETLB_OVERCOMMIT_2M, K_V_HGM_ENABLE, K_V_HGM_MAPCOUNT,
  K_V_HGM_GUP_SKIP_MATH,
} from "../kernel/sysfs";
import { mod_node_page_state, node_page_state, NR_HUGETLB, count_vm_event, HTLB_BUDDY_PGALLOC, HTLB_BUDDY_PGALLOC_FAIL } from "./vmstat";
import {
  VM_FAULT_SIGBUS, VM_FAULT_OOM, VM_FAULT_ERROR, FAULT_FLAG_WRITE, FAULT_FLAG_UNSHARE, FAULT_FLAG_REMOTE,
  p4d_alloc, pud_alloc, pmd_alloc, walk_to_pud, vmf_anon_prepare, free_pgd_range, handle_mm_fault,
} from "./memory";
import {
  pgtable_alloc, table_of, table_host, entry_ptr, mk_table_entry, mm_inc_nr_ptes, mm_inc_nr_pmds, mm_dec_nr_pmds,
  PT_LEVEL_PTE, PT_LEVEL_PMD,
} from "../arch/x86/pgtable";
import {
  pfn_pte, pte_pfn, pte_present, pte_write, pte_dirty, pte_mkdirty, pte_mkyoung, pte_mkwrite, pte_wrprotect,
  pte_modify, _PAGE_PSE, _PAGE_UFFD_WP,
} from "../arch/x86/pgtable_types";
import { flush_tlb_page, flush_tlb_range } from "../arch/x86/tlb";
import {
  tlb_gather_mmu, tlb_finish_mmu, tlb_flush_mmu, tlb_remove_pmd_tlb_entry, tlb_remove_pud_tlb_entry,
  tlb_remove_tlb_entries, tlb_remove_folio_refs, tlb_flush_pmd_range, tlb_free_table,
} from "./mmu_gather";
import { folio_put, folio_get, folio_put_refs } from "./swap";
import { folio_zero_user } from "./huge_memory";
import { mm_nr_vmas, mm_vma, nr_pids, task_slot, find_vma, ENOMEM, EINVAL, EFAULT, EBUSY, EEXIST } from "./mmap";
import { folio_maybe_dma_pinned, gup_record_pages, FOLL_WRITE, FOLL_GET, FOLL_PIN } from "./gup";

const ENOSPC: i32 = 28;
const PAGE_SIZE: u64 = 4096;
const PMD_SIZE: u64 = 1 << 21;
const PUD_SIZE: u64 = 1 << 30;
const P4D_SIZE: u64 = <u64>1 << 39;

// MADV_SPLIT (HGM v1/v2): enable high-granularity mapping on a VMA
export const MADV_SPLIT: u32 = 26;
// VM_HUGETLB_HGM: a high vm_flags bit (not printed in smaps VmFlags)
export const VM_HUGETLB_HGM: u64 = <u64>1 << 40;

// =====================================================================================
// hstates (struct hstate): 0 = 2 MiB (order 9), 1 = 1 GiB (order 18, gigantic)
// =====================================================================================

const HS_NR: u32 = 0; // nr_huge_pages (surplus included)
const HS_FREE: u32 = 8; // free_huge_pages
const HS_RESV: u32 = 16; // resv_huge_pages: unsigned long, it wraps like the kernel's
const HS_SURPLUS: u32 = 24; // surplus_huge_pages
const HS_MAX: u32 = 32; // max_huge_pages
const HS_FREELIST: u32 = 40; // u32 hugepage_freelists head
const HS_SIZE: u32 = 48;
const hstates: u32 = <u32>memory.data(2 * HS_SIZE);

@inline function hs(h: u32): u32 { return hstates + h * HS_SIZE; }
@inline function hget(h: u32, f: u32): u64 { return load<u64>(hs(h) + f); }
@inline function hset(h: u32, f: u32, v: u64): void { store<u64>(hs(h) + f, v); }
@inline function hadd(h: u32, f: u32, d: i64): void { store<u64>(hs(h) + f, load<u64>(hs(h) + f) + <u64>d); }
@inline function h_order(h: u32): u32 { return h == 0 ? 9 : 18; }
@inline function h_shift(h: u32): u32 { return h == 0 ? 21 : 30; }
@inline function h_size(h: u32): u64 { return <u64>1 << h_shift(h); }
@inline function h_pages(h: u32): u32 { return <u32>1 << h_order(h); }
@inline function hstate_is_gigantic(h: u32): bool { return h == 1; }
@inline function persistent_huge_pages(h: u32): u64 { return hget(h, HS_NR) - hget(h, HS_SURPLUS); }
@inline export function hstate_vma(vma: u32): u32 { return load<u8>(vma + T.V_KIND + 1) == 30 ? 1 : 0; }
@inline function folio_hstate(f: u32): u32 { return load<u8>(f, T.F_ORDER) == 18 ? 1 : 0; }

// hugetlb_mask_last_page(): skip to the end of the table that holds no entry
@inline function hugetlb_mask_last_page(h: u32): u64 { return h == 0 ? PUD_SIZE - PMD_SIZE : P4D_SIZE - PUD_SIZE; }

// sysfs nr_hugepages reads nr_huge_pages
function sync_nr_knob(h: u32): void {
  knob_set_raw(h == 0 ? K_HUGETLB_2M : K_HUGETLB_1G, <u32>hget(h, HS_NR));
}

// hugetlb folio private state (kept in F_PRIV)
const HPG_ANON: u32 = 1; // folio_test_anon()
const HPG_TEMPORARY: u32 = 2; // folio_test_hugetlb_temporary()
const HPG_IN_CACHE: u32 = 4; // in a hugetlbfs page cache (F_MAPPING = the file)
const HPG_COUNTED: u32 = 8; // handed out by alloc_hugetlb_folio (counted in NR_HUGETLB)

@inline function hpriv(f: u32): u32 { return load<u32>(f, T.F_PRIV); }
@inline function hpriv_set(f: u32, b: u32): void { store<u32>(f, load<u32>(f, T.F_PRIV) | b, T.F_PRIV); }
@inline function hpriv_clear(f: u32, b: u32): void { store<u32>(f, load<u32>(f, T.F_PRIV) & ~b, T.F_PRIV); }
@inline export function folio_test_hugetlb_anon(f: u32): bool {
  return f != 0 && load<u8>(f, T.F_KIND) == T.FK_HUGETLB && (load<u32>(f, T.F_PRIV) & HPG_ANON) != 0;
}
@inline function folio_pfn(f: u32): u32 { return load<u32>(f, T.F_PFN); }

// --- the free lists (enqueue_hugetlb_folio / dequeue; LIFO like list_move + first entry) ---

function enqueue_hugetlb_folio(h: u32, f: u32): void {
  const head = load<u32>(hs(h) + HS_FREELIST);
  store<u32>(f, head, T.F_LIST_NEXT);
  store<u32>(f, 0, T.F_LIST_PREV);
  if (head != 0) store<u32>(head, f, T.F_LIST_PREV);
  store<u32>(hs(h) + HS_FREELIST, f);
  folio_set_flag(f, T.FF_HUGETLB_FREE);
  hadd(h, HS_FREE, 1);
}

function freelist_del(h: u32, f: u32): void {
  const next = load<u32>(f, T.F_LIST_NEXT), prev = load<u32>(f, T.F_LIST_PREV);
  if (prev != 0) store<u32>(prev, next, T.F_LIST_NEXT); else store<u32>(hs(h) + HS_FREELIST, next);
  if (next != 0) store<u32>(next, prev, T.F_LIST_PREV);
  store<u32>(f, 0, T.F_LIST_NEXT);
  store<u32>(f, 0, T.F_LIST_PREV);
  folio_clear_flag(f, T.FF_HUGETLB_FREE);
  hadd(h, HS_FREE, -1);
}

// dequeue_hugetlb_folio_node_exact(): the refcount unfreezes to 1
function dequeue_hugetlb_folio(h: u32): u32 {
  const f = load<u32>(hs(h) + HS_FREELIST);
  if (f == 0) return 0;
  freelist_del(h, f);
  store<i32>(f, 1, T.F_REFCOUNT);
  return f;
}

// alloc_fresh_hugetlb_folio(): buddy (order 9, counted as htlb_buddy_alloc_*) or
// alloc_contig for 1 GiB; the new folio is frozen (refcount 0)
function alloc_fresh_hugetlb_folio(h: u32): u32 {
  const f = folio_alloc_large(h_order(h), T.FK_HUGETLB);
  if (!hstate_is_gigantic(h)) count_vm_event(f != 0 ? HTLB_BUDDY_PGALLOC : HTLB_BUDDY_PGALLOC_FAIL);
  if (f != 0) store<i32>(f, 0, T.F_REFCOUNT);
  return f;
}

// update_and_free_hugetlb_folio(): the pages go back to the buddy allocator
function update_and_free_hugetlb_folio(f: u32): void {
  free_large_folio(f);
}

// remove_hugetlb_folio()
function remove_hugetlb_folio(h: u32, f: u32, adjust_surplus: bool): void {
  if (folio_test(f, T.FF_HUGETLB_FREE)) freelist_del(h, f);
  if (adjust_surplus) hadd(h, HS_SURPLUS, -1);
  hadd(h, HS_NR, -1);
}

// remove_pool_hugetlb_folio(): a free folio leaves the pool (0 if none qualifies)
function remove_pool_hugetlb_folio(h: u32, acct_surplus: bool): u32 {
  const f = load<u32>(hs(h) + HS_FREELIST);
  if (f == 0) return 0;
  if (acct_surplus && hget(h, HS_SURPLUS) == 0) return 0;
  remove_hugetlb_folio(h, f, acct_surplus);
  return f;
}

// adjust_pool_surplus(): move one page into (delta > 0) or out of surplus state
function adjust_pool_surplus(h: u32, delta: i32): bool {
  if (delta < 0) {
    if (hget(h, HS_SURPLUS) == 0) return false;
  } else {
    if (hget(h, HS_SURPLUS) >= hget(h, HS_NR)) return false;
  }
  hadd(h, HS_SURPLUS, delta);
  return true;
}

// set_max_huge_pages(): grow from the buddy allocator, shrink by freeing free
// pages (keeping the reserved ones) and turning in-use pages into surplus
function set_max_huge_pages(h: u32, count: u64): void {
  while (hget(h, HS_SURPLUS) != 0 && count > persistent_huge_pages(h)) {
    if (!adjust_pool_surplus(h, -1)) break;
  }
  while (count > persistent_huge_pages(h)) {
    const f = alloc_fresh_hugetlb_folio(h);
    if (f == 0) break;
    hadd(h, HS_NR, 1);
    enqueue_hugetlb_folio(h, f);
  }
  let persistent_free = hget(h, HS_FREE);
  if (hget(h, HS_FREE) > persistent_huge_pages(h)) {
    if (hget(h, HS_FREE) > hget(h, HS_SURPLUS)) persistent_free -= hget(h, HS_SURPLUS);
    else persistent_free = 0;
  }
  let min_count = hget(h, HS_RESV) + persistent_huge_pages(h) - persistent_free;
  if (count > min_count) min_count = count;
  while (min_count < persistent_huge_pages(h)) {
    const f = remove_pool_hugetlb_folio(h, false);
    if (f == 0) break;
    update_and_free_hugetlb_folio(f);
  }
  while (count < persistent_huge_pages(h)) {
    if (!adjust_pool_surplus(h, 1)) break;
  }
  hset(h, HS_MAX, persistent_huge_pages(h));
  sync_nr_knob(h);
}

// sysfs nr_hugepages of the hstate of `order` (9 or 18): 0 or -errno
export function hugetlb_set_nr_hugepages(order: u32, n: u64): i32 {
  if (order != 9 && order != 18) return -EINVAL;
  set_max_huge_pages(order == 9 ? 0 : 1, n);
  return 0;
}

// nr_overcommit_hugepages (sysfs_write refuses it for the gigantic hstate)
@inline function nr_overcommit_huge_pages(h: u32): u64 { return h == 0 ? <u64>knob(K_HUGETLB_OVERCOMMIT_2M) : 0; }

// pool state for the host (IO buffer: nr, free, resv, surplus as f64)
export function hstate_info(order: u32): void {
  const h: u32 = order == 18 ? 1 : 0;
  store<f64>(LAYOUT_IO, <f64>hget(h, HS_NR));
  store<f64>(LAYOUT_IO + 8, <f64>hget(h, HS_FREE));
  // resv_huge_pages as signed: the host prints it as the kernel's unsigned long
  store<f64>(LAYOUT_IO + 16, <f64><i64>hget(h, HS_RESV));
  store<f64>(LAYOUT_IO + 24, <f64>hget(h, HS_SURPLUS));
}

// alloc_surplus_hugetlb_folio(): beyond the pool, within nr_overcommit_hugepages
function alloc_surplus_hugetlb_folio(h: u32): u32 {
  if (hstate_is_gigantic(h)) return 0;
  if (hget(h, HS_SURPLUS) >= nr_overcommit_huge_pages(h)) return 0;
  const f = alloc_fresh_hugetlb_folio(h);
  if (f == 0) return 0;
  hadd(h, HS_NR, 1);
  hadd(h, HS_SURPLUS, 1);
  return f;
}

// gather_surplus_pages(): reserve delta pages, growing the pool with surplus pages if needed
function gather_surplus_pages(h: u32, delta: i64): i32 {
  let needed = <i64>(hget(h, HS_RESV) + <u64>delta - hget(h, HS_FREE));
  if (needed <= 0) {
    hadd(h, HS_RESV, delta);
    return 0;
  }
  let list: u32 = 0;
  let allocated: i64 = 0;
  for (let i: i64 = 0; i < needed; i++) {
    const f = alloc_surplus_hugetlb_folio(h);
    if (f == 0) break;
    store<u32>(f, list, T.F_LIST_NEXT);
    list = f;
    allocated++;
  }
  needed = <i64>(hget(h, HS_RESV) + <u64>delta - (hget(h, HS_FREE) + <u64>allocated));
  let ret: i32 = -ENOMEM;
  if (needed <= 0) {
    needed += allocated;
    hadd(h, HS_RESV, delta);
    ret = 0;
    while (list != 0 && needed-- > 0) {
      const f = list;
      list = load<u32>(f, T.F_LIST_NEXT);
      enqueue_hugetlb_folio(h, f);
    }
  }
  // free the unneeded surplus pages
  while (list != 0) {
    const f = list;
    list = load<u32>(f, T.F_LIST_NEXT);
    store<u32>(f, 0, T.F_LIST_NEXT);
    free_huge_folio(f);
  }
  return ret;
}

// return_unused_surplus_pages(): uncommit reservations, shrink surplus pages
function return_unused_surplus_pages(h: u32, unused: u64): void {
  hadd(h, HS_RESV, -<i64>unused);
  let nr = unused < hget(h, HS_SURPLUS) ? unused : hget(h, HS_SURPLUS);
  while (nr-- > 0) {
    const f = remove_pool_hugetlb_folio(h, true);
    if (f == 0) break;
    update_and_free_hugetlb_folio(f);
  }
}

// hugetlb_acct_memory()
function hugetlb_acct_memory(h: u32, delta: i64): i32 {
  if (delta == 0) return 0;
  if (delta > 0) {
    if (gather_surplus_pages(h, delta) < 0) return -ENOMEM;
    if (<u64>delta > hget(h, HS_FREE)) { // allowed_mems_nr()
      return_unused_surplus_pages(h, <u64>delta);
      return -ENOMEM;
    }
    return 0;
  }
  return_unused_surplus_pages(h, <u64>(-delta));
  return 0;
}

// The folio goes back to the free list clean: no mappings, no flags, content
// state reset (metadata mode; data mode zeroes at the next fault).
function hugetlb_folio_reset(f: u32): void {
  store<u16>(f, 0, T.F_FLAGS);
  store<u32>(f, 0, T.F_PRIV);
  store<u32>(f, 0, T.F_MAPPING);
  store<u64>(f, 0, T.F_INDEX);
  store<i32>(f, 0, T.F_ENTIRE_MAPCOUNT);
  store<i32>(f, 0, T.F_LARGE_MAPCOUNT);
  store<i32>(f, 0, T.F_PINCOUNT);
  store<i32>(f, 0, T.F_HEAD_MAPCOUNT);
  const first = folio_pfn(f) >> 9;
  const npb: u32 = folio_nr_pages(f) >> 9;
  for (let i: u32 = 0; i < npb; i++) {
    const r = pb_rec(first + i);
    const fr = load<u32>(r + PB_FRAMES);
    if (fr != 0) { slab_free(SLAB_FRAMES, fr); store<u32>(r + PB_FRAMES, 0); }
  }
}

// free_huge_folio(): the last reference is gone; back to the pool, or to the
// buddy allocator for surplus pages. Returns false (__folio_put must not free it).
export function free_huge_folio(f: u32): bool {
  const h = folio_hstate(f);
  const restore_reserve = folio_test(f, T.FF_RESTORE_RESERVE);
  const priv = hpriv(f);
  if (priv & HPG_COUNTED) mod_node_page_state(NR_HUGETLB, -<i64>h_pages(h));
  if (restore_reserve) hadd(h, HS_RESV, 1);
  if (priv & HPG_TEMPORARY) {
    remove_hugetlb_folio(h, f, false);
    update_and_free_hugetlb_folio(f);
  } else if (hget(h, HS_SURPLUS) != 0) {
    remove_hugetlb_folio(h, f, true);
    update_and_free_hugetlb_folio(f);
  } else {
    hugetlb_folio_reset(f);
    enqueue_hugetlb_folio(h, f);
  }
  return false;
}

// =====================================================================================
// hugetlbfs files and reserve maps
// =====================================================================================

const HF_TYPE: u32 = 0; // u8: 1 inode (page cache + reserve map), 2 private resv_map
const HF_SHIFT: u32 = 1; // u8
const HF_REFS: u32 = 4; // u32: file references (VMAs) / resv_map kref
const HF_NR: u32 = 8; // u32: size in huge pages
const HF_ROOT: u32 = 12; // u32: block of leaf pointers (1024 entries per 4 KiB leaf)
const HF_ROOT_BYTES: u32 = 16;
const HF_IMMAP: u32 = 20; // u32: first VMA of i_mmap (all VMAs of the file)
const HF_NR_CACHED: u32 = 24; // folios in the page cache
const HFT_INODE: u8 = 1;
const HFT_RESV: u8 = 2;
const REGION: u32 = 1; // entry bit: the index is in the reserve map's regions

// vm_private_data flags of private mappings
const HPAGE_RESV_OWNER: u32 = 1;
const HPAGE_RESV_UNMAPPED: u32 = 2;
const HPAGE_RESV_MASK: u32 = 3;

function hf_alloc(type: u8, shift: u32, nr: u32): u32 {
  const rec = slab_alloc(SLAB_FILE);
  if (rec == 0) return 0;
  let bytes = ((nr + 1023) >> 10) << 2;
  if (bytes < 4096) bytes = 4096;
  const root = alloc_block(bytes);
  if (root == 0) { slab_free(SLAB_FILE, rec); return 0; }
  store<u8>(rec + HF_TYPE, type);
  store<u8>(rec + HF_SHIFT, <u8>shift);
  store<u32>(rec + HF_REFS, 1);
  store<u32>(rec + HF_NR, nr);
  store<u32>(rec + HF_ROOT, root);
  store<u32>(rec + HF_ROOT_BYTES, bytes);
  return rec;
}

function hf_free(rec: u32): void {
  const root = load<u32>(rec + HF_ROOT);
  const n = (load<u32>(rec + HF_NR) + 1023) >> 10;
  for (let i: u32 = 0; i < n; i++) {
    const leaf = load<u32>(root + (i << 2));
    if (leaf != 0) free_block(leaf, 4096);
  }
  free_block(root, load<u32>(rec + HF_ROOT_BYTES));
  slab_free(SLAB_FILE, rec);
}

// Entry address of index idx (0 if its leaf does not exist and alloc is false).
function hf_ent(rec: u32, idx: u64, alloc: bool): u32 {
  if (idx >= <u64>load<u32>(rec + HF_NR)) return 0;
  const i = <u32>idx;
  const rp = load<u32>(rec + HF_ROOT) + ((i >> 10) << 2);
  let leaf = load<u32>(rp);
  if (leaf == 0) {
    if (!alloc) return 0;
    leaf = alloc_block(4096);
    if (leaf == 0) return 0;
    store<u32>(rp, leaf);
  }
  return leaf + ((i & 1023) << 2);
}

@inline function hf_get(rec: u32, idx: u64): u32 {
  const p = hf_ent(rec, idx, false);
  return p == 0 ? 0 : load<u32>(p);
}

// region_chg(): pages of [f, t) not in the regions
function region_chg(rec: u32, f: u64, t: u64): i64 {
  let n: i64 = 0;
  for (let i = f; i < t; i++) if ((hf_get(rec, i) & REGION) == 0) n++;
  return n;
}

// region_add(): add [f, t) to the regions; pages added, or -ENOMEM
function region_add(rec: u32, f: u64, t: u64): i64 {
  let n: i64 = 0;
  for (let i = f; i < t; i++) {
    const p = hf_ent(rec, i, true);
    if (p == 0) return -ENOMEM;
    const e = load<u32>(p);
    if ((e & REGION) == 0) { store<u32>(p, e | REGION); n++; }
  }
  return n;
}

// region_del(): remove [f, t) from the regions; pages removed
function region_del(rec: u32, f: u64, t: u64): i64 {
  let n: i64 = 0;
  const nr = <u64>load<u32>(rec + HF_NR);
  if (t > nr) t = nr;
  for (let i = f; i < t; i++) {
    const p = hf_ent(rec, i, false);
    if (p == 0) { i |= 1023; continue; }
    const e = load<u32>(p);
    if (e & REGION) { store<u32>(p, e & ~REGION); n++; }
  }
  return n;
}

// region_count(): pages of [f, t) in the regions
function region_count(rec: u32, f: u64, t: u64): i64 {
  let n: i64 = 0;
  for (let i = f; i < t; i++) if (hf_get(rec, i) & REGION) n++;
  return n;
}

// filemap_lock_hugetlb_folio() without the lock: the cached folio or 0
@inline function filemap_get_hugetlb_folio(file: u32, idx: u64): u32 { return hf_get(file, idx) & ~0xf; }

// hugetlb_add_to_page_cache(): 0 or -ENOMEM
function hugetlb_add_to_page_cache(f: u32, file: u32, idx: u64): i32 {
  const p = hf_ent(file, idx, true);
  if (p == 0) return -ENOMEM;
  store<u32>(p, (load<u32>(p) & REGION) | f);
  store<u32>(f, file, T.F_MAPPING);
  store<u64>(f, idx, T.F_INDEX);
  hpriv_set(f, HPG_IN_CACHE);
  // __filemap_add_folio(): the page cache holds one reference per page
  store<i32>(f, load<i32>(f, T.F_REFCOUNT) + <i32>folio_nr_pages(f), T.F_REFCOUNT);
  folio_clear_flag(f, T.FF_RESTORE_RESERVE);
  folio_set_flag(f, T.FF_DIRTY);
  store<u32>(file + HF_NR_CACHED, load<u32>(file + HF_NR_CACHED) + 1);
  return 0;
}

// remove_inode_hugepages() over [start, end): folios leave the page cache; returns freed
function remove_inode_hugepages(file: u32, start: u64, end: u64): i64 {
  let freed: i64 = 0;
  const nr = <u64>load<u32>(file + HF_NR);
  if (end > nr) end = nr;
  for (let i = start; i < end; i++) {
    const p = hf_ent(file, i, false);
    if (p == 0) { i |= 1023; continue; }
    const e = load<u32>(p);
    const f = e & ~0xf;
    if (f == 0) continue;
    store<u32>(p, e & REGION);
    hpriv_clear(f, HPG_IN_CACHE);
    store<u32>(f, 0, T.F_MAPPING);
    store<u32>(file + HF_NR_CACHED, load<u32>(file + HF_NR_CACHED) - 1);
    freed++;
    folio_put_refs(f, 0, folio_nr_pages(f));
  }
  return freed;
}

// hugetlb_unreserve_pages()
function hugetlb_unreserve_pages(file: u32, start: u64, end: u64, freed: i64): void {
  const chg = region_del(file, start, end);
  const h: u32 = load<u8>(file + HF_SHIFT) == 30 ? 1 : 0;
  hugetlb_acct_memory(h, -(chg - freed));
}

// --- i_mmap: every VMA of the file (V_FILE_NEXT/V_FILE_PREV) ---------------------------

function i_mmap_insert(file: u32, vma: u32): void {
  const first = load<u32>(file + HF_IMMAP);
  store<u32>(vma + T.V_FILE_NEXT, first);
  store<u32>(vma + T.V_FILE_PREV, 0);
  if (first != 0) store<u32>(first + T.V_FILE_PREV, vma);
  store<u32>(file + HF_IMMAP, vma);
}

function i_mmap_remove(file: u32, vma: u32): void {
  const next = load<u32>(vma + T.V_FILE_NEXT), prev = load<u32>(vma + T.V_FILE_PREV);
  if (prev != 0) store<u32>(prev + T.V_FILE_NEXT, next); else store<u32>(file + HF_IMMAP, next);
  if (next != 0) store<u32>(next + T.V_FILE_PREV, prev);
  store<u32>(vma + T.V_FILE_NEXT, 0);
  store<u32>(vma + T.V_FILE_PREV, 0);
}

// the file's last reference: hugetlbfs_evict_inode()
function hugetlbfs_file_put(file: u32): void {
  const refs = load<u32>(file + HF_REFS) - 1;
  store<u32>(file + HF_REFS, refs);
  if (refs != 0) return;
  const freed = remove_inode_hugepages(file, 0, 0xffffffff);
  hugetlb_unreserve_pages(file, 0, 0xffffffff, freed);
  hf_free(file);
}

function resv_map_put(rm: u32): void {
  const refs = load<u32>(rm + HF_REFS) - 1;
  store<u32>(rm + HF_REFS, refs);
  if (refs == 0) hf_free(rm);
}

// --- VMA reservation helpers -----------------------------------------------------------

@inline function vm_flags(vma: u32): u64 { return load<u64>(vma + T.V_FLAGS); }
@inline function vma_mm(vma: u32): u32 { return load<u32>(vma + T.V_MM); }
@inline function is_vma_resv_set(vma: u32, flag: u32): bool { return (load<u32>(vma + T.V_RESV) & flag) != 0; }
@inline function set_vma_resv_flags(vma: u32, flag: u32): void { store<u32>(vma + T.V_RESV, load<u32>(vma + T.V_RESV) | flag); }

// vma_resv_map(): the inode's map for shared mappings, the private one otherwise
function vma_resv_map(vma: u32): u32 {
  if (vm_flags(vma) & T.VM_MAYSHARE) return load<u32>(vma + T.V_FILE);
  return load<u32>(vma + T.V_RESV) & ~HPAGE_RESV_MASK;
}

// __vma_private_lock(): a private mapping that owns its reserve map
function __vma_private_lock(vma: u32): bool {
  return (vm_flags(vma) & T.VM_MAYSHARE) == 0 && (load<u32>(vma + T.V_RESV) & ~HPAGE_RESV_MASK) != 0 &&
    is_vma_resv_set(vma, HPAGE_RESV_OWNER);
}

// vma_hugecache_offset(): page-cache index (in huge pages) of address
@inline function vma_hugecache_offset(h: u32, vma: u32, address: u64): u64 {
  return ((address - load<u64>(vma + T.V_START)) >> h_shift(h)) + (load<u64>(vma + T.V_PGOFF) >> (h_shift(h) - 12));
}

const VMA_NEEDS_RESV: u32 = 0;
const VMA_COMMIT_RESV: u32 = 1;
const VMA_END_RESV: u32 = 2;
const VMA_ADD_RESV: u32 = 3;
const VMA_DEL_RESV: u32 = 4;

// __vma_reservation_common(): the private map has the opposite meaning (a region = consumed)
function __vma_reservation_common(h: u32, vma: u32, addr: u64, mode: u32): i64 {
  const resv = vma_resv_map(vma);
  if (resv == 0) return 1;
  const idx = vma_hugecache_offset(h, vma, addr);
  const shared = (vm_flags(vma) & T.VM_MAYSHARE) != 0;
  let ret: i64 = 0;
  if (mode == VMA_NEEDS_RESV) ret = region_chg(resv, idx, idx + 1);
  else if (mode == VMA_COMMIT_RESV) ret = region_add(resv, idx, idx + 1);
  else if (mode == VMA_END_RESV) ret = 0;
  else if (mode == VMA_ADD_RESV) ret = shared ? region_add(resv, idx, idx + 1) : region_del(resv, idx, idx + 1);
  else ret = shared ? region_del(resv, idx, idx + 1) : region_add(resv, idx, idx + 1);
  if (shared || mode == VMA_DEL_RESV) return ret;
  if (ret > 0) return 0;
  if (ret == 0) return 1;
  return ret;
}
@inline function vma_needs_reservation(h: u32, vma: u32, a: u64): i64 { return __vma_reservation_common(h, vma, a, VMA_NEEDS_RESV); }
@inline function vma_commit_reservation(h: u32, vma: u32, a: u64): i64 { return __vma_reservation_common(h, vma, a, VMA_COMMIT_RESV); }
@inline function vma_add_reservation(h: u32, vma: u32, a: u64): i64 { return __vma_reservation_common(h, vma, a, VMA_ADD_RESV); }

// =====================================================================================
// alloc_hugetlb_folio()
// =====================================================================================

const MAP_CHG_REUSE: u32 = 0;
const MAP_CHG_NEEDED: u32 = 1;
const MAP_CHG_ENFORCED: u32 = 2;
let alloc_errno: i32 = 0;

// available_huge_pages(): unsigned arithmetic like the kernel's
@inline function available_huge_pages(h: u32): bool { return hget(h, HS_FREE) - hget(h, HS_RESV) != 0; }

// The folio for a fault or a COW (refcount 1), or 0 with alloc_errno (-ENOSPC, -ENOMEM).
function alloc_hugetlb_folio(vma: u32, addr: u64, cow_from_owner: bool): u32 {
  const h = hstate_vma(vma);
  let map_chg: u32;
  if (cow_from_owner) {
    // a CoW on top of a reserved page: the private resv map does not count
    map_chg = MAP_CHG_ENFORCED;
  } else {
    const r = vma_needs_reservation(h, vma, addr);
    if (r < 0) { alloc_errno = -ENOMEM; return 0; }
    map_chg = r != 0 ? MAP_CHG_NEEDED : MAP_CHG_REUSE;
  }
  // no subpool (hugetlbfs without size=): a separate global reservation is one page
  const gbl_chg: i64 = map_chg != MAP_CHG_REUSE ? 1 : 0;
  let f: u32 = 0;
  // dequeue_hugetlb_folio_vma(): gbl_chg needs a page nobody reserved
  if (!(gbl_chg != 0 && !available_huge_pages(h))) f = dequeue_hugetlb_folio(h);
  if (f == 0) {
    f = alloc_surplus_hugetlb_folio(h);
    if (f == 0) { alloc_errno = -ENOSPC; return 0; }
    store<i32>(f, 1, T.F_REFCOUNT);
  }
  if (gbl_chg == 0) {
    folio_set_flag(f, T.FF_RESTORE_RESERVE);
    hadd(h, HS_RESV, -1);
  }
  if (map_chg != MAP_CHG_ENFORCED) vma_commit_reservation(h, vma, addr);
  mod_node_page_state(NR_HUGETLB, <i64>h_pages(h));
  hpriv_set(f, HPG_COUNTED);
  return f;
}

// =====================================================================================
// rmap of hugetlb folios (include/linux/rmap.h: hugetlb_*_rmap)
// =====================================================================================

@inline function folio_mapcount(f: u32): i32 { return load<i32>(f, T.F_LARGE_MAPCOUNT); }
@inline function page_anon_exclusive(f: u32): bool { return folio_test(f, T.FF_HEAD_ANON_EXCLUSIVE); }

function hugetlb_add_new_anon_rmap(f: u32, vma: u32, address: u64): void {
  store<i32>(f, 1, T.F_ENTIRE_MAPCOUNT);
  store<i32>(f, 1, T.F_LARGE_MAPCOUNT);
  folio_clear_flag(f, T.FF_RESTORE_RESERVE);
  // __folio_set_anon(): mapping = anon_vma, index = linear_page_index()
  store<u32>(f, load<u32>(vma + T.V_ANON_VMA), T.F_MAPPING);
  store<u64>(f, ((address - load<u64>(vma + T.V_START)) >> 12) + load<u64>(vma + T.V_PGOFF), T.F_INDEX);
  hpriv_set(f, HPG_ANON);
  folio_set_flag(f, T.FF_HEAD_ANON_EXCLUSIVE);
}

@inline function hugetlb_add_file_rmap(f: u32): void {
  store<i32>(f, load<i32>(f, T.F_ENTIRE_MAPCOUNT) + 1, T.F_ENTIRE_MAPCOUNT);
  store<i32>(f, load<i32>(f, T.F_LARGE_MAPCOUNT) + 1, T.F_LARGE_MAPCOUNT);
}

@inline function hugetlb_remove_rmap(f: u32): void {
  store<i32>(f, load<i32>(f, T.F_ENTIRE_MAPCOUNT) - 1, T.F_ENTIRE_MAPCOUNT);
  store<i32>(f, load<i32>(f, T.F_LARGE_MAPCOUNT) - 1, T.F_LARGE_MAPCOUNT);
}

// folio_needs_cow_for_dma()
function folio_needs_cow_for_dma(vma: u32, f: u32): bool {
  if ((vm_flags(vma) & (T.VM_SHARED | T.VM_MAYWRITE)) != T.VM_MAYWRITE) return false;
  if ((load<u32>(vma_mm(vma) + T.MM_FLAGS) & T.MMF_HAS_PINNED) == 0) return false;
  return folio_maybe_dma_pinned(f, 0);
}

// hugetlb_try_dup_anon_rmap(): -EBUSY for a maybe-pinned exclusive page
function hugetlb_try_dup_anon_rmap(f: u32, vma: u32): i32 {
  if (page_anon_exclusive(f)) {
    if (folio_needs_cow_for_dma(vma, f)) return -EBUSY;
    folio_clear_flag(f, T.FF_HEAD_ANON_EXCLUSIVE);
  }
  hugetlb_add_file_rmap(f);
  return 0;
}

@inline function hugetlb_count_add(pages: i64, mm: u32): void {
  store<i64>(mm + T.MM_HUGETLB_USAGE, load<i64>(mm + T.MM_HUGETLB_USAGE) + pages);
}

// =====================================================================================
// page tables: huge_pte_offset, huge_pte_alloc, PMD sharing
// =====================================================================================

// pt_share_count lives in bits 8..27 of a page-table frame entry; for the table
// right below a split hstate-level entry (HGM) the same bits count its leaves.
@inline function pt_count(tbl: u32): u32 { return (load<u32>(frame_ptr(tbl)) >> 8) & 0xfffff; }
function pt_count_add(tbl: u32, d: i32): void {
  const p = frame_ptr(tbl);
  const e = load<u32>(p);
  const c = <u32>(<i32>((e >> 8) & 0xfffff) + d);
  store<u32>(p, (e & ~(<u32>0xfffff << 8)) | ((c & 0xfffff) << 8));
}

let hw_tbl: u32 = 0; // pfn of the table holding the last entry found (PMD tables only)

// huge_pte_offset() / hugetlb_walk(): the hstate-level entry or 0
function huge_pte_offset(mm: u32, addr: u64, h: u32): u32 {
  hw_tbl = 0;
  const pudp = walk_to_pud(mm, addr);
  if (pudp == 0) return 0;
  if (h == 1) return pudp;
  const pud = load<u64>(pudp);
  if (pud == 0) return 0;
  if ((pud & _PAGE_PSE) != 0) return pudp;
  hw_tbl = table_of(pud);
  return entry_ptr(hw_tbl, addr, 21);
}

// want_pmd_share(): shared VMAs covering the whole PUD range (HGM VMAs never share)
function want_pmd_share(vma: u32, addr: u64): bool {
  const f = vm_flags(vma);
  if ((f & T.VM_MAYSHARE) == 0 || (f & VM_HUGETLB_HGM) != 0) return false;
  const start = addr & ~(PUD_SIZE - 1);
  return start >= load<u64>(vma + T.V_START) && start + PUD_SIZE <= load<u64>(vma + T.V_END);
}

// page_table_shareable(): saddr in svma, or 0
function page_table_shareable(svma: u32, vma: u32, addr: u64, idx: u64): u64 {
  const spgoff = load<u64>(svma + T.V_PGOFF);
  const sstart = load<u64>(svma + T.V_START), send = load<u64>(svma + T.V_END);
  if (idx < spgoff || ((idx - spgoff) << 12) >= send - sstart) return 0; // vma_interval_tree_foreach(idx)
  const saddr = ((idx - spgoff) << 12) + sstart;
  const sbase = saddr & ~(PUD_SIZE - 1);
  const mask = ~(T.VM_LOCKED | T.VM_LOCKONFAULT);
  if (((addr >> 21) & 511) != ((saddr >> 21) & 511)) return 0;
  if ((vm_flags(vma) & mask) != (vm_flags(svma) & mask)) return 0;
  if (sbase < sstart || sbase + PUD_SIZE > send) return 0;
  if ((vm_flags(svma) & T.VM_MAYSHARE) == 0) return 0; // vma lock
  return saddr;
}

// huge_pmd_share(): point the empty PUD entry at another mm's PMD table
function huge_pmd_share(mm: u32, vma: u32, addr: u64, pudp: u32): u32 {
  const file = load<u32>(vma + T.V_FILE);
  const idx = ((addr - load<u64>(vma + T.V_START)) >> 12) + load<u64>(vma + T.V_PGOFF);
  let stbl: u32 = 0;
  for (let svma = load<u32>(file + HF_IMMAP); svma != 0; svma = load<u32>(svma + T.V_FILE_NEXT)) {
    if (svma == vma) continue;
    const saddr = page_table_shareable(svma, vma, addr, idx);
    if (saddr == 0) continue;
    if (huge_pte_offset(vma_mm(svma), saddr, 0) != 0 && hw_tbl != 0) {
      stbl = hw_tbl;
      pt_count_add(stbl, 1);
      break;
    }
  }
  if (stbl != 0) {
    if (load<u64>(pudp) == 0) {
      store<u64>(pudp, mk_table_entry(stbl));
      mm_inc_nr_pmds(mm);
    } else {
      pt_count_add(stbl, -1);
    }
  }
  const pmdp = pmd_alloc(mm, pudp, addr);
  hw_tbl = pmdp == 0 ? 0 : table_of(load<u64>(pudp));
  return pmdp;
}

// huge_pte_alloc(): the hstate-level entry, allocating (or sharing) tables; 0 on OOM
function huge_pte_alloc(mm: u32, vma: u32, addr: u64, h: u32): u32 {
  hw_tbl = 0;
  const p4dp = p4d_alloc(mm, addr);
  if (p4dp == 0) return 0;
  const pudp = pud_alloc(mm, p4dp, addr);
  if (pudp == 0) return 0;
  if (h == 1) return pudp;
  if (want_pmd_share(vma, addr) && load<u64>(pudp) == 0) return huge_pmd_share(mm, vma, addr, pudp);
  const pmdp = pmd_alloc(mm, pudp, addr);
  if (pmdp == 0) return 0;
  hw_tbl = table_of(load<u64>(pudp));
  return pmdp;
}

// huge_pmd_unshare(): drop this mm's use of a shared PMD table (1) or nothing (0)
function huge_pmd_unshare(mm: u32, h: u32, addr: u64, tbl: u32): bool {
  if (h != 0 || tbl == 0) return false;
  if (pt_count(tbl) == 0) return false;
  store<u64>(walk_to_pud(mm, addr), 0);
  pt_count_add(tbl, -1);
  mm_dec_nr_pmds(mm);
  return true;
}

// hugetlb_pmd_shared()
@inline function hugetlb_pmd_shared(tbl: u32): bool { return tbl != 0 && pt_count(tbl) != 0; }

// hugetlb_unshare_pmds(): unshare the PUD ranges of [start, end) (PUD aligned)
function hugetlb_unshare_pmds(vma: u32, start: u64, end: u64): void {
  if ((vm_flags(vma) & T.VM_MAYSHARE) == 0 || start >= end) return;
  const mm = vma_mm(vma);
  const h = hstate_vma(vma);
  let done = false;
  for (let address = start; address < end; address += PUD_SIZE) {
    if (huge_pte_offset(mm, address, h) == 0) continue;
    if (huge_pmd_unshare(mm, h, address, hw_tbl)) done = true;
  }
  if (done) flush_tlb_range(mm, start, end, h_shift(h));
}

// hugetlb_split(): a split that breaks PUD alignment unshares the PMDs around addr
export function hugetlb_split(vma: u32, addr: u64): void {
  if ((addr & (PUD_SIZE - 1)) == 0) return;
  const floor = addr & ~(PUD_SIZE - 1), ceil = floor + PUD_SIZE;
  if (floor >= load<u64>(vma + T.V_START) && ceil <= load<u64>(vma + T.V_END)) hugetlb_unshare_pmds(vma, floor, ceil);
}

// flush_hugetlb_tlb_range() stride: the huge page shift, PAGE_SHIFT once the VMA
// may hold high-granularity pieces (an INVLPG per 2M would miss their 4K entries)
@inline function hugetlb_flush_shift(vma: u32): u32 {
  return (vm_flags(vma) & VM_HUGETLB_HGM) != 0 ? 12 : h_shift(hstate_vma(vma));
}

// make_huge_pte(): writable+dirty only when asked and VM_WRITE; young; PSE above 4K
function make_huge_pte(vma: u32, pfn: u32, try_mkwrite: bool, shift: u32): u64 {
  let e = pfn_pte(pfn, load<u64>(vma + T.V_PROT));
  if (try_mkwrite && (vm_flags(vma) & T.VM_WRITE)) e = pte_mkwrite(pte_mkdirty(e));
  else e = pte_wrprotect(e);
  e = pte_mkyoung(e);
  if (shift > 12) e |= _PAGE_PSE;
  return e;
}

// set_huge_ptep_writable() (huge_ptep_set_access_flags: x86 writes a changed entry)
function set_huge_ptep_writable(ptep: u32): void {
  const old = load<u64>(ptep);
  const e = pte_mkwrite(pte_mkdirty(old));
  if (e != old) store<u64>(ptep, e);
}

// Is a present hstate-level (or piece) entry a leaf? PTE-level entries always are.
@inline function entry_is_leaf(e: u64, shift: u32): bool { return shift == 12 || (e & _PAGE_PSE) != 0; }

// =====================================================================================
// folio contents (data mode bytes; metadata mode non-zero marks)
// =====================================================================================

// copy_user_large_folio()
function copy_user_large_folio(dst: u32, src: u32): void {
  const nr = folio_nr_pages(src);
  const sp = folio_pfn(src), dp = folio_pfn(dst);
  if (data_mode) {
    for (let i: u32 = 0; i < nr; i += 512) memory.copy(pfn_to_host(dp + i), pfn_to_host(sp + i), 1 << 21);
    return;
  }
  if (folio_test(src, T.FF_HEAD_NONZERO)) folio_set_flag(dst, T.FF_HEAD_NONZERO);
  for (let i: u32 = 0; i < nr; i += 512) {
    const fr = load<u32>(pb_rec((sp + i) >> 9) + PB_FRAMES);
    if (fr == 0) continue;
    for (let j: u32 = 0; j < 512; j++) {
      const e = load<u32>(fr + (j << 2));
      if ((e >>> 28) == FT_TAIL && (e & TL_NONZERO) != 0) page_mark_nonzero(dp + i + j);
    }
  }
}

// =====================================================================================
// faults (hugetlb_fault, hugetlb_no_page, hugetlb_wp)
// =====================================================================================

// hugetlb_fault(): vm_fault_t
export function hugetlb_fault(task: u32, vma: u32, address: u64, flags: u32): u32 {
  const h = hstate_vma(vma);
  const mm = vma_mm(vma);
  const haddr = address & ~(h_size(h) - 1);
  const ptep = huge_pte_alloc(mm, vma, haddr, h);
  if (ptep == 0) return VM_FAULT_OOM;
  const orig = load<u64>(ptep);
  if ((vm_flags(vma) & VM_HUGETLB_HGM) != 0 || (orig != 0 && !entry_is_leaf(orig, h_shift(h))))
    return hugetlb_hgm_fault(vma, address, haddr, ptep, flags);
  if (orig == 0) return hugetlb_no_page(vma, address, haddr, ptep, flags);
  if (!pte_present(orig)) return 0; // migration / hwpoison entries are not modelled
  if (flags & (FAULT_FLAG_WRITE | FAULT_FLAG_UNSHARE)) {
    if (!pte_write(orig)) return hugetlb_wp(vma, address, haddr, ptep, flags);
  }
  let e = orig;
  if (flags & FAULT_FLAG_WRITE) e = pte_mkdirty(e);
  e = pte_mkyoung(e);
  // huge_ptep_set_access_flags(): x86 writes only a changed entry of a write fault
  if (e != orig && (flags & FAULT_FLAG_WRITE)) store<u64>(ptep, e);
  return 0;
}

@inline function alloc_fault_error(): u32 { return alloc_errno == -ENOMEM ? VM_FAULT_OOM : VM_FAULT_SIGBUS; }

// The page-cache folio of idx for a shared mapping, allocated and added if absent
// (the allocation half of hugetlb_no_page()). Returns the folio with a reference for
// the caller, or 0 with *fault_ret.
let fault_ret: u32 = 0;
function hugetlb_get_shared_folio(vma: u32, h: u32, haddr: u64, address: u64): u32 {
  const file = load<u32>(vma + T.V_FILE);
  const idx = vma_hugecache_offset(h, vma, haddr);
  let f = filemap_get_hugetlb_folio(file, idx);
  if (f != 0) { folio_get(f, 0); return f; }
  if (idx >= <u64>load<u32>(file + HF_NR)) { fault_ret = VM_FAULT_SIGBUS; return 0; }
  f = alloc_hugetlb_folio(vma, haddr, false);
  if (f == 0) { fault_ret = alloc_fault_error(); return 0; }
  folio_zero_user(f, address);
  if (hugetlb_add_to_page_cache(f, file, idx) < 0) {
    folio_put(f, 0);
    fault_ret = VM_FAULT_OOM;
    return 0;
  }
  return f;
}

// hugetlb_no_page()
function hugetlb_no_page(vma: u32, address: u64, haddr: u64, ptep: u32, flags: u32): u32 {
  const h = hstate_vma(vma);
  const mm = vma_mm(vma);
  const vf = vm_flags(vma);
  // the original mapper unmapped this child's page after a failed COW
  if (is_vma_resv_set(vma, HPAGE_RESV_UNMAPPED)) return VM_FAULT_SIGBUS;
  const file = load<u32>(vma + T.V_FILE);
  const idx = vma_hugecache_offset(h, vma, haddr);
  let f = filemap_get_hugetlb_folio(file, idx);
  let new_anon = false;
  if (f == 0) {
    if (idx >= <u64>load<u32>(file + HF_NR)) return VM_FAULT_SIGBUS;
    if ((vf & T.VM_MAYSHARE) == 0) {
      const r = vmf_anon_prepare(vma);
      if (r) return r;
    }
    f = alloc_hugetlb_folio(vma, haddr, false);
    if (f == 0) return alloc_fault_error();
    folio_zero_user(f, address);
    if (vf & T.VM_MAYSHARE) {
      if (hugetlb_add_to_page_cache(f, file, idx) < 0) { folio_put(f, 0); return VM_FAULT_SIGBUS; }
    } else {
      new_anon = true;
    }
  } else {
    folio_get(f, 0);
  }
  // the reference taken above becomes the mapping's
  if (new_anon) hugetlb_add_new_anon_rmap(f, vma, haddr);
  else hugetlb_add_file_rmap(f);
  let e = make_huge_pte(vma, folio_pfn(f), (vf & T.VM_SHARED) != 0, h_shift(h));
  store<u64>(ptep, e);
  hugetlb_count_add(<i64>h_pages(h), mm);
  // private write: COW without a second fault
  if ((flags & FAULT_FLAG_WRITE) && (vf & T.VM_SHARED) == 0) return hugetlb_wp(vma, address, haddr, ptep, flags);
  return 0;
}

// hugetlb_wp(): shared mappings become writable; an exclusive anon folio is reused;
// else a copy (an owner short of pages unmaps the page from its children instead)
function hugetlb_wp(vma: u32, address: u64, haddr: u64, ptep: u32, flags: u32): u32 {
  const unshare = (flags & FAULT_FLAG_UNSHARE) != 0;
  const h = hstate_vma(vma);
  const mm = vma_mm(vma);
  const pte = load<u64>(ptep);
  if (!unshare && (pte & _PAGE_UFFD_WP) != 0) return 0;
  if (vm_flags(vma) & T.VM_MAYSHARE) {
    set_huge_ptep_writable(ptep);
    return 0;
  }
  const old = page_folio(pte_pfn(pte));
  while (true) {
    // retry_avoidcopy
    if (folio_mapcount(old) == 1 && folio_test_hugetlb_anon(old)) {
      if (!page_anon_exclusive(old)) {
        store<u32>(old, load<u32>(vma + T.V_ANON_VMA), T.F_MAPPING); // folio_move_anon_rmap()
        folio_set_flag(old, T.FF_HEAD_ANON_EXCLUSIVE);
      }
      if (!unshare && (vm_flags(vma) & T.VM_WRITE)) set_huge_ptep_writable(ptep);
      return 0;
    }
    const cow_from_owner = is_vma_resv_set(vma, HPAGE_RESV_OWNER) && folio_test_hugetlb_anon(old);
    folio_get(old, 0);
    const nf = alloc_hugetlb_folio(vma, haddr, cow_from_owner);
    if (nf == 0) {
      if (cow_from_owner) {
        folio_put(old, 0);
        const before = folio_mapcount(old);
        unmap_ref_private(vma, old, haddr);
        // retry_avoidcopy, unless nothing could be taken away (no endless retry)
        if (load<u64>(ptep) == pte && folio_mapcount(old) < before) continue;
        if (load<u64>(ptep) == pte) return alloc_fault_error();
        return 0;
      }
      folio_put(old, 0);
      return alloc_fault_error();
    }
    const r = vmf_anon_prepare(vma);
    if (r) { folio_put(nf, 0); folio_put(old, 0); return r; }
    copy_user_large_folio(nf, old);
    const newpte = make_huge_pte(vma, folio_pfn(nf), !unshare, h_shift(h));
    // huge_ptep_clear_flush(): x86 flushes one INVLPG
    store<u64>(ptep, 0);
    flush_tlb_page(mm, haddr);
    hugetlb_remove_rmap(old);
    hugetlb_add_new_anon_rmap(nf, vma, haddr);
    store<u64>(ptep, newpte | (pte & _PAGE_UFFD_WP));
    folio_put(old, 0); // the old mapping's reference
    folio_put(old, 0); // ours
    return 0;
  }
}

// unmap_ref_private(): the owner failed to COW; the page leaves every child
// VMA without reserves, which gets HPAGE_RESV_UNMAPPED (SIGBUS on its next fault)
function unmap_ref_private(vma: u32, old: u32, address: u64): void {
  const h = hstate_vma(vma);
  const file = load<u32>(vma + T.V_FILE);
  const pgoff = ((address - load<u64>(vma + T.V_START)) >> 12) + load<u64>(vma + T.V_PGOFF);
  for (let it = load<u32>(file + HF_IMMAP); it != 0; it = load<u32>(it + T.V_FILE_NEXT)) {
    if (it == vma) continue;
    if (vm_flags(it) & T.VM_MAYSHARE) continue;
    const ip = load<u64>(it + T.V_PGOFF);
    if (pgoff < ip || pgoff >= ip + ((load<u64>(it + T.V_END) - load<u64>(it + T.V_START)) >> 12)) continue;
    // the same file page in that VMA (a forked child: the same address)
    const a = load<u64>(it + T.V_START) + ((pgoff - ip) << 12);
    if (!is_vma_resv_set(it, HPAGE_RESV_OWNER)) {
      tlb_gather_mmu(vma_mm(it), false);
      __unmap_hugepage_range(it, a, a + h_size(h), old);
      tlb_finish_mmu();
    }
  }
}

// =====================================================================================
// zap (__unmap_hugepage_range), free_pgtables, MADV_DONTNEED
// =====================================================================================

// tlb_remove_huge_tlb_entry()
function tlb_remove_huge_tlb_entry(shift: u32, address: u64): void {
  if (shift == 30) tlb_remove_pud_tlb_entry(address);
  else if (shift == 21) tlb_remove_pmd_tlb_entry(address);
  else tlb_remove_tlb_entries(address, 1);
}

// __unmap_hugepage_range() inside the current mmu_gather; ref != 0 unmaps only that folio
function __unmap_hugepage_range(vma: u32, start: u64, end: u64, ref: u32): void {
  const h = hstate_vma(vma);
  const sz = h_size(h);
  const mm = vma_mm(vma);
  let force_flush = false;
  let address = start;
  while (address < end) {
    const ptep = huge_pte_offset(mm, address, h);
    if (ptep == 0) { address = (address | hugetlb_mask_last_page(h)) + sz; continue; }
    const tbl = hw_tbl;
    if (huge_pmd_unshare(mm, h, address, tbl)) {
      tlb_flush_pmd_range(address & ~(PUD_SIZE - 1), PUD_SIZE);
      force_flush = true;
      address = (address | hugetlb_mask_last_page(h)) + sz;
      continue;
    }
    const pte = load<u64>(ptep);
    if (pte == 0) { address += sz; continue; }
    if (!pte_present(pte)) { store<u64>(ptep, 0); address += sz; continue; }
    if (!entry_is_leaf(pte, h_shift(h))) {
      // HGM: the hugepage is mapped in pieces
      hgm_zap_pieces(vma, ptep, h_shift(h), address, start, end, ref);
      address += sz;
      continue;
    }
    const f = page_folio(pte_pfn(pte));
    if (ref != 0) {
      if (f != ref) { address += sz; continue; }
      set_vma_resv_flags(vma, HPAGE_RESV_UNMAPPED);
    }
    store<u64>(ptep, 0);
    tlb_remove_huge_tlb_entry(h_shift(h), address);
    if (pte_dirty(pte)) folio_set_flag(f, T.FF_DIRTY);
    hugetlb_count_add(-<i64>h_pages(h), mm);
    hugetlb_remove_rmap(f);
    // restore the reservation of an anon page, else the backing page could be stolen
    if (hget(h, HS_SURPLUS) == 0 && __vma_private_lock(vma) && folio_test_hugetlb_anon(f)) {
      folio_set_flag(f, T.FF_RESTORE_RESERVE);
      const rc = vma_needs_reservation(h, vma, address);
      if (rc < 0) folio_clear_flag(f, T.FF_RESTORE_RESERVE);
      else if (rc != 0) vma_add_reservation(h, vma, address);
    }
    tlb_remove_folio_refs(f, 0, 1);
    if (ref != 0) break;
    address += sz;
  }
  if (force_flush) tlb_flush_mmu();
}

// unmap_hugepage_range() inside an mmu_gather
export function unmap_hugepage_range(vma: u32, start: u64, end: u64): void {
  __unmap_hugepage_range(vma, start, end, 0);
}

// hugetlb_free_pgd_range(): x86 uses the generic free_pgd_range()
export function hugetlb_free_pgd_range(mm: u32, addr: u64, end: u64, floor: u64, ceiling: u64): void {
  free_pgd_range(mm, addr, end, floor, ceiling);
}

// MADV_DONTNEED on a hugetlb VMA (madvise_dontneed_free_valid_vma + zap): 0 or -errno
export function hugetlb_dontneed(vma: u32, start: u64, end: u64): i32 {
  const h = hstate_vma(vma);
  if (start & (h_size(h) - 1)) return -EINVAL;
  end &= ~(h_size(h) - 1);
  if (end <= start) return 0;
  tlb_gather_mmu(vma_mm(vma), false);
  __unmap_hugepage_range(vma, start, end, 0);
  tlb_finish_mmu();
  return 0;
}

// =====================================================================================
// mmap / VMA lifetime (hugetlb_file_setup, hugetlbfs_file_mmap, hugetlb_vm_op_*)
// =====================================================================================

// hugetlb_reserve_pages(): 0 or -ENOMEM
function hugetlb_reserve_pages(file: u32, from: u64, to: u64, vma: u32): i32 {
  const h: u32 = load<u8>(file + HF_SHIFT) == 30 ? 1 : 0;
  if (vm_flags(vma) & T.VM_NORESERVE) return 0;
  let chg: i64;
  let rm: u32 = 0;
  const shared = (vm_flags(vma) & T.VM_MAYSHARE) != 0;
  if (shared) {
    chg = region_chg(file, from, to);
  } else {
    rm = hf_alloc(HFT_RESV, h_shift(h), load<u32>(file + HF_NR));
    if (rm == 0) return -ENOMEM;
    chg = <i64>(to - from);
    store<u32>(vma + T.V_RESV, rm | HPAGE_RESV_OWNER);
  }
  if (hugetlb_acct_memory(h, chg) < 0) {
    if (rm != 0) { store<u32>(vma + T.V_RESV, 0); resv_map_put(rm); }
    return -ENOMEM;
  }
  if (shared) {
    const add = region_add(file, from, to);
    if (add < 0) { hugetlb_acct_memory(h, -chg); return -ENOMEM; }
    // regions that appeared meanwhile (none here): give back chg - add
    if (chg > add) hugetlb_acct_memory(h, -(chg - add));
  }
  return 0;
}

// do_mmap() of a MAP_HUGETLB mapping: the anonymous hugetlbfs file and the
// reservation (hugetlb_reserve_pages). 0 or -errno; the VMA is not in the mm yet.
export function hugetlb_vma_open(vma: u32): i32 {
  const h = hstate_vma(vma);
  const len = load<u64>(vma + T.V_END) - load<u64>(vma + T.V_START);
  const pgoff = load<u64>(vma + T.V_PGOFF);
  if (pgoff & ((<u64>h_pages(h)) - 1)) return -EINVAL;
  const nr = (len >> h_shift(h)) + (pgoff >> h_order(h));
  if (nr > 0x7fffffff) return -ENOMEM;
  const file = hf_alloc(HFT_INODE, h_shift(h), <u32>nr);
  if (file == 0) return -ENOMEM;
  store<u32>(vma + T.V_FILE, file);
  store<u32>(vma + T.V_RESV, 0);
  const from = pgoff >> h_order(h);
  const err = hugetlb_reserve_pages(file, from, from + (len >> h_shift(h)), vma);
  if (err < 0) {
    hugetlbfs_file_put(file);
    store<u32>(vma + T.V_FILE, 0);
    return err;
  }
  i_mmap_insert(file, vma);
  return 0;
}

// the VMA leaves its mm (unmap or exit): release its reservation (hugetlb_vm_op_close) and the file
export function hugetlb_vma_close(vma: u32): void {
  const file = load<u32>(vma + T.V_FILE);
  const h = hstate_vma(vma);
  const rm = vma_resv_map(vma);
  if ((vm_flags(vma) & T.VM_MAYSHARE) == 0 && rm != 0 && is_vma_resv_set(vma, HPAGE_RESV_OWNER)) {
    const start = vma_hugecache_offset(h, vma, load<u64>(vma + T.V_START));
    const end = vma_hugecache_offset(h, vma, load<u64>(vma + T.V_END));
    const reserve = <i64>(end - start) - region_count(rm, start, end);
    if (reserve != 0) hugetlb_acct_memory(h, -reserve);
    resv_map_put(rm);
  }
  store<u32>(vma + T.V_RESV, 0);
  if (file != 0) {
    i_mmap_remove(file, vma);
    store<u32>(vma + T.V_FILE, 0);
    hugetlbfs_file_put(file);
  }
}

// vm_area_dup() of a hugetlb VMA (split, mremap: same mm; fork: another mm)
export function hugetlb_vma_dup(nv: u32, old: u32): void {
  const file = load<u32>(old + T.V_FILE);
  if (vma_mm(nv) != vma_mm(old)) {
    // hugetlb_dup_vma_private(): a child's private mapping has no reserve map
    if ((vm_flags(old) & T.VM_MAYSHARE) == 0) store<u32>(nv + T.V_RESV, 0);
  } else {
    // hugetlb_vm_op_open(): the sibling shares the owner's reserve map
    const rm = load<u32>(nv + T.V_RESV) & ~HPAGE_RESV_MASK;
    if (rm != 0 && is_vma_resv_set(nv, HPAGE_RESV_OWNER)) store<u32>(rm + HF_REFS, load<u32>(rm + HF_REFS) + 1);
  }
  if (file != 0) {
    store<u32>(file + HF_REFS, load<u32>(file + HF_REFS) + 1);
    i_mmap_insert(file, nv);
  }
}

// clear_vma_resv_huge_pages(): mremap moved the mapping; the old VMA keeps no reservation
export function clear_vma_resv_huge_pages(vma: u32): void {
  const rm = load<u32>(vma + T.V_RESV) & ~HPAGE_RESV_MASK;
  if ((vm_flags(vma) & T.VM_MAYSHARE) == 0 && rm != 0 && is_vma_resv_set(vma, HPAGE_RESV_OWNER)) resv_map_put(rm);
  if ((vm_flags(vma) & T.VM_MAYSHARE) == 0) store<u32>(vma + T.V_RESV, 0);
}

// move_hugetlb_page_tables(): mremap of whole huge pages; bytes moved
export function move_hugetlb_page_tables(vma: u32, new_vma: u32, old_addr: u64, new_addr: u64, len: u64): u64 {
  const h = hstate_vma(vma);
  const sz = h_size(h);
  const mm = vma_mm(vma);
  const old_end = old_addr + len;
  const mask = hugetlb_mask_last_page(h);
  let shared_pmd = false;
  for (; old_addr < old_end; old_addr += sz, new_addr += sz) {
    const src = huge_pte_offset(mm, old_addr, h);
    if (src == 0) { old_addr |= mask; new_addr |= mask; continue; }
    const tbl = hw_tbl;
    if (load<u64>(src) == 0) continue;
    if (huge_pmd_unshare(mm, h, old_addr, tbl)) { shared_pmd = true; old_addr |= mask; new_addr |= mask; continue; }
    const dst = huge_pte_alloc(mm, new_vma, new_addr, h);
    if (dst == 0) break;
    // move_huge_pte()
    store<u64>(dst, load<u64>(src));
    store<u64>(src, 0);
  }
  const s0 = old_end - len;
  if (shared_pmd) flush_tlb_range(mm, s0 & ~(PUD_SIZE - 1), (old_end + PUD_SIZE - 1) & ~(PUD_SIZE - 1), hugetlb_flush_shift(vma));
  else flush_tlb_range(mm, s0, old_end, hugetlb_flush_shift(vma));
  return old_addr >= old_end ? len : len + old_addr - old_end;
}

// mremap() of a hugetlb VMA (do_mremap's hugetlb checks): the lengths rounded up to
// the huge page size, or -EINVAL (unaligned addresses, growing)
export function hugetlb_mremap_check(vma: u32, addr: u64, old_len: u64, new_len: u64, new_addr: u64, fixed: bool): i64 {
  const hsz = h_size(hstate_vma(vma));
  old_len = (old_len + hsz - 1) & ~(hsz - 1);
  new_len = (new_len + hsz - 1) & ~(hsz - 1);
  if (addr & (hsz - 1)) return -EINVAL;
  if (fixed && (new_addr & (hsz - 1))) return -EINVAL;
  if (new_len > old_len) return -EINVAL;
  mremap_old_len = old_len;
  return <i64>new_len;
}
export let mremap_old_len: u64 = 0;

// =====================================================================================
// MADV_REMOVE: hugetlbfs_punch_hole()
// =====================================================================================

// hugetlbfs_zero_partial_page(): bytes [start, end) of the file (within one hugepage)
function hugetlbfs_zero_partial_page(file: u32, shift: u32, start: u64, end: u64): void {
  const f = filemap_get_hugetlb_folio(file, start >> shift);
  if (f == 0 || !data_mode) return;
  const base = start & ~((<u64>1 << shift) - 1);
  for (let off = start - base; off < end - base;) {
    const pfn = folio_pfn(f) + <u32>(off >> 12);
    const n = min<u64>(4096 - (off & 4095), end - base - off);
    memory.fill(pfn_to_host(pfn) + <u32>(off & 4095), 0, <u32>n);
    off += n;
  }
}

// hugetlb_vmdelete_list(): unmap [pstart, pend) (file pages) from every VMA of the file
function hugetlb_vmdelete_list(file: u32, pstart: u64, pend: u64): void {
  for (let v = load<u32>(file + HF_IMMAP); v != 0; v = load<u32>(v + T.V_FILE_NEXT)) {
    const pgoff = load<u64>(v + T.V_PGOFF);
    const vs = load<u64>(v + T.V_START), ve = load<u64>(v + T.V_END);
    const pages = (ve - vs) >> 12;
    if (pgoff >= pend || pgoff + pages <= pstart) continue;
    const v_start = pgoff < pstart ? vs + ((pstart - pgoff) << 12) : vs;
    let v_end = vs + ((pend - pgoff) << 12);
    if (v_end > ve) v_end = ve;
    tlb_gather_mmu(vma_mm(v), false);
    __unmap_hugepage_range(v, v_start, v_end, 0);
    tlb_finish_mmu();
  }
}

// MADV_REMOVE on [start, end) of a shared hugetlb VMA: 0 or -errno
export function hugetlbfs_punch_hole(vma: u32, start: u64, end: u64): i32 {
  const file = load<u32>(vma + T.V_FILE);
  const shift = <u32>load<u8>(file + HF_SHIFT);
  const hsz: u64 = <u64>1 << shift;
  const offset = (start - load<u64>(vma + T.V_START)) + (load<u64>(vma + T.V_PGOFF) << 12);
  const len = end - start;
  const hole_start = (offset + hsz - 1) & ~(hsz - 1);
  const hole_end = (offset + len) & ~(hsz - 1);
  if (offset < hole_start) hugetlbfs_zero_partial_page(file, shift, offset, min<u64>(offset + len, hole_start));
  if (hole_end > hole_start) hugetlb_vmdelete_list(file, hole_start >> 12, hole_end >> 12);
  if (offset + len > hole_end && offset + len > hole_start) hugetlbfs_zero_partial_page(file, shift, hole_end, offset + len);
  // remove_inode_hugepages() of the hole: each folio gives back its region
  for (let i = hole_start >> shift; i < hole_end >> shift; i++) {
    if (filemap_get_hugetlb_folio(file, i) == 0) continue;
    const freed = remove_inode_hugepages(file, i, i + 1);
    hugetlb_unreserve_pages(file, i, i + 1, freed);
  }
  return 0;
}

// =====================================================================================
// fork: copy_hugetlb_page_range()
// =====================================================================================

export function copy_hugetlb_page_range(dst_vma: u32, src_vma: u32): i32 {
  const h = hstate_vma(src_vma);
  const sz = h_size(h);
  const src = vma_mm(src_vma), dst = vma_mm(dst_vma);
  const cow = (vm_flags(src_vma) & (T.VM_SHARED | T.VM_MAYWRITE)) == T.VM_MAYWRITE;
  const end = load<u64>(src_vma + T.V_END);
  for (let addr = load<u64>(src_vma + T.V_START); addr < end; addr += sz) {
    const src_pte = huge_pte_offset(src, addr, h);
    if (src_pte == 0) { addr |= hugetlb_mask_last_page(h); continue; }
    const dst_pte = huge_pte_alloc(dst, dst_vma, addr, h);
    if (dst_pte == 0) return -ENOMEM;
    // shared page tables: nothing to do
    if (hugetlb_pmd_shared(hw_tbl)) { addr |= hugetlb_mask_last_page(h); continue; }
    let entry = load<u64>(src_pte);
    if (entry == 0 || !pte_present(entry) || !entry_is_leaf(entry, h_shift(h))) continue;
    const f = page_folio(pte_pfn(entry));
    folio_get(f, 0);
    if (!folio_test_hugetlb_anon(f)) {
      hugetlb_add_file_rmap(f);
    } else if (hugetlb_try_dup_anon_rmap(f, src_vma) != 0) {
      // a maybe-pinned page is copied for the child now
      const nf = alloc_hugetlb_folio(dst_vma, addr, false);
      if (nf == 0) { folio_put(f, 0); return alloc_errno; }
      copy_user_large_folio(nf, f);
      folio_put(f, 0);
      // hugetlb_install_folio()
      hugetlb_add_new_anon_rmap(nf, dst_vma, addr);
      store<u64>(dst_pte, make_huge_pte(dst_vma, folio_pfn(nf), true, h_shift(h)));
      hugetlb_count_add(<i64>h_pages(h), dst);
      continue;
    }
    if (cow) {
      store<u64>(src_pte, pte_wrprotect(load<u64>(src_pte)));
      entry = pte_wrprotect(entry);
    }
    if ((vm_flags(dst_vma) & T.VM_UFFD_WP) == 0) entry &= ~_PAGE_UFFD_WP;
    store<u64>(dst_pte, entry);
    hugetlb_count_add(<i64>h_pages(h), dst);
  }
  return 0;
}

// =====================================================================================
// mprotect: hugetlb_change_protection()
// =====================================================================================

export function hugetlb_change_protection(vma: u32, start: u64, end: u64): u64 {
  const h = hstate_vma(vma);
  const psz = h_size(h);
  const mm = vma_mm(vma);
  const newprot = load<u64>(vma + T.V_PROT);
  let pages: u64 = 0;
  let shared_pmd = false;
  for (let address = start; address < end; address += psz) {
    const ptep = huge_pte_offset(mm, address, h);
    if (ptep == 0) { address |= hugetlb_mask_last_page(h); continue; }
    if (huge_pmd_unshare(mm, h, address, hw_tbl)) {
      pages++;
      shared_pmd = true;
      address |= hugetlb_mask_last_page(h);
      continue;
    }
    const pte = load<u64>(ptep);
    if (pte == 0 || !pte_present(pte)) continue;
    if (!entry_is_leaf(pte, h_shift(h))) {
      pages += hgm_change_protection(vma, ptep, h_shift(h), address, newprot);
      continue;
    }
    // huge_pte_modify() + arch_make_huge_pte()
    store<u64>(ptep, pte_modify(pte, newprot) | _PAGE_PSE);
    pages++;
  }
  // flush_hugetlb_tlb_range(): the whole PUD ranges if PMDs were unshared
  if (shared_pmd) flush_tlb_range(mm, start & ~(PUD_SIZE - 1), (end + PUD_SIZE - 1) & ~(PUD_SIZE - 1), hugetlb_flush_shift(vma));
  else flush_tlb_range(mm, start, end, hugetlb_flush_shift(vma));
  return pages << h_order(h);
}

// =====================================================================================
// smaps: smaps_hugetlb_range()
// =====================================================================================

export let smaps_hugetlb_private: u64 = 0;
let sm_shared: u64 = 0;

// a present entry of `size` bytes mapping pfn; non-present entries count as shared
function smaps_hugetlb_account(pfn: u32, size: u64, tbl_shared: bool): void {
  const f = page_folio(pfn);
  if (f == 0) return;
  if (folio_mapcount(f) > 1 || tbl_shared) sm_shared += size;
  else smaps_hugetlb_private += size;
}

// smaps_hugetlb_range() over the VMA: Shared_Hugetlb bytes (Private_Hugetlb in smaps_hugetlb_private)
export function smaps_hugetlb_shared(vma: u32): u64 {
  smaps_hugetlb_private = 0;
  sm_shared = 0;
  const h = hstate_vma(vma);
  const sz = h_size(h);
  const mm = vma_mm(vma);
  const end = load<u64>(vma + T.V_END);
  for (let addr = load<u64>(vma + T.V_START); addr < end; addr += sz) {
    const ptep = huge_pte_offset(mm, addr, h);
    if (ptep == 0) { addr |= hugetlb_mask_last_page(h); continue; }
    const tbl = hw_tbl;
    const pte = load<u64>(ptep);
    if (pte == 0 || !pte_present(pte)) continue;
    if (!entry_is_leaf(pte, h_shift(h))) { hgm_smaps(table_of(pte), h_shift(h) - 9); continue; }
    smaps_hugetlb_account(pte_pfn(pte), sz, hugetlb_pmd_shared(tbl));
  }
  return sm_shared;
}

// =====================================================================================
// HGM: high-granularity mapping of hugetlb pages (seed 003; KERNEL-SPEC §8.4)
// =====================================================================================
// V16 hgm.enable: absent (6.18) | madv-split (MADV_SPLIT sets VM_HUGETLB_HGM on a
// shared hugetlb VMA); RFC v2's uffd-feature enabling would need userfaultfd, which
// is not modelled. Faults of an HGM VMA map the PAGE_SIZE piece of the fault
// (what userfaultfd minor faults resolved by UFFDIO_CONTINUE(PAGE_SIZE) do in the
// post-copy use case; userfaultfd itself is not modelled), hugetlb_hgm_map() maps
// larger pieces (UFFDIO_CONTINUE of a range), MADV_COLLAPSE maps the hugepage back
// with one hstate-level entry.
// V17 hgm.mapcount: thp-like (PATCH v2: a hstate-level entry counts in the entire
// mapcount, a piece in the mapcount of each 4K subpage it maps) | per-hpte (RFC v2:
// every entry, whatever its size, counts once in the entire mapcount) |
// per-hierarchy (RFC v1: the entire mapcount counts each page-table hierarchy once,
// at its first mapped piece).
// V18 hgm.gupSkipMath: fixed (vaddr += pages_per_hpte * PAGE_SIZE) | buggy-rfc-v2
// (vaddr += pages_per_hpte).

@inline function hgm_variant(): u32 { return knob(K_V_HGM_ENABLE); }
@inline function hgm_mapcount_variant(): u32 { return knob(K_V_HGM_MAPCOUNT); }
const HGM_THP_LIKE: u32 = 0;
const HGM_PER_HPTE: u32 = 1;
const HGM_PER_HIERARCHY: u32 = 2;

// hugetlb_hgm_eligible(): shared hugetlb mappings (x86-64)
function hugetlb_hgm_eligible(vma: u32): bool {
  return load<u8>(vma + T.V_KIND) == T.VK_HUGETLB && (vm_flags(vma) & T.VM_MAYSHARE) != 0;
}

// MADV_SPLIT: the new vm_flags (VM_HUGETLB_HGM), or -EINVAL; unshares the VMA's PMDs first
export function hugetlb_madvise_split(vma: u32, flags: u64): i64 {
  if (hgm_variant() == 0 || !hugetlb_hgm_eligible(vma)) return -EINVAL;
  const s = (load<u64>(vma + T.V_START) + PUD_SIZE - 1) & ~(PUD_SIZE - 1);
  const e = load<u64>(vma + T.V_END) & ~(PUD_SIZE - 1);
  hugetlb_unshare_pmds(vma, s, e);
  return <i64>(flags | VM_HUGETLB_HGM);
}
export function madv_split_valid(): bool { return hgm_variant() != 0; }

// --- struct hugetlb_pte: the entry found by the last walk ------------------------------
let hpte_ptep: u32 = 0; // host address of the entry
let hpte_shift: u32 = 0; // size of what it maps (12, 21 or 30)
let hpte_root: u32 = 0; // pfn of the table right below the hstate-level entry (0: at hstate level)

// hugetlb_walk_step(): populate the next level below a none/table entry (allocating
// the table when alloc). Returns false when it is none and not allocated (or on OOM).
function hugetlb_walk_step(mm: u32, addr: u64, alloc: bool, hstate_shift: u32): bool {
  let e = load<u64>(hpte_ptep);
  if (e == 0) {
    if (!alloc) return false;
    const t = pgtable_alloc(hpte_shift == 30 ? PT_LEVEL_PMD : PT_LEVEL_PTE);
    if (t == 0) return false;
    if (hpte_shift == 30) mm_inc_nr_pmds(mm); else mm_inc_nr_ptes(mm);
    e = mk_table_entry(t);
    store<u64>(hpte_ptep, e);
  }
  const t = table_of(e);
  if (hpte_shift == hstate_shift) hpte_root = t;
  hpte_shift -= 9;
  hpte_ptep = entry_ptr(t, addr, hpte_shift);
  return true;
}

// hugetlb_hgm_walk(): from the hstate-level entry (hpte_*) down towards size sz:
// stops at a present leaf, at a none entry (stop_at_none), or at sz (allocating
// tables on the way otherwise). 0, -EINVAL, -EEXIST or -ENOMEM.
function hugetlb_hgm_walk(vma: u32, addr: u64, sz_shift: u32, stop_at_none: bool): i32 {
  if (sz_shift < 12) return -EINVAL;
  const hshift = h_shift(hstate_vma(vma));
  if ((vm_flags(vma) & VM_HUGETLB_HGM) == 0) {
    if (stop_at_none) return 0;
    return sz_shift == hshift ? 0 : -EINVAL;
  }
  const mm = vma_mm(vma);
  while (hpte_shift > sz_shift) {
    const e = load<u64>(hpte_ptep);
    if (!pte_present(e)) {
      if (stop_at_none) return 0;
      if (e != 0) return -EEXIST;
    } else if (entry_is_leaf(e, hpte_shift)) {
      return 0;
    }
    if (!hugetlb_walk_step(mm, addr, !stop_at_none, hshift)) return stop_at_none ? 0 : -ENOMEM;
  }
  return 0;
}

// Start a walk at the hstate-level entry of addr (0 if absent).
function hpte_begin(mm: u32, vma: u32, addr: u64): u32 {
  const h = hstate_vma(vma);
  hpte_ptep = huge_pte_offset(mm, addr & ~(h_size(h) - 1), h);
  hpte_shift = h_shift(h);
  hpte_root = 0;
  return hpte_ptep;
}

// rmap of one HGM piece (V17). The leaf counter of the hierarchy (in the table right
// below the hstate-level entry) tells per-hierarchy whether it is the first/last piece.
function hgm_add_rmap(f: u32, pfn: u32, npages: u32, root: u32): void {
  const v = hgm_mapcount_variant();
  const first = pt_count(root) == 0;
  pt_count_add(root, 1);
  if (v == HGM_THP_LIKE) {
    for (let i: u32 = 0; i < npages; i++) large_page_mapcount_add(f, pfn + i, 1);
    store<i32>(f, load<i32>(f, T.F_LARGE_MAPCOUNT) + <i32>npages, T.F_LARGE_MAPCOUNT);
  } else if (v == HGM_PER_HPTE || first) {
    hugetlb_add_file_rmap(f);
  }
}

function hgm_remove_rmap(f: u32, pfn: u32, npages: u32, root: u32): void {
  const v = hgm_mapcount_variant();
  pt_count_add(root, -1);
  const last = pt_count(root) == 0;
  if (v == HGM_THP_LIKE) {
    for (let i: u32 = 0; i < npages; i++) large_page_mapcount_add(f, pfn + i, -1);
    store<i32>(f, load<i32>(f, T.F_LARGE_MAPCOUNT) - <i32>npages, T.F_LARGE_MAPCOUNT);
  } else if (v == HGM_PER_HPTE || last) {
    hugetlb_remove_rmap(f);
  }
}

// Map the piece of `shift` at addr (hpte_* is its none entry) to the folio's pages.
function hgm_install_piece(vma: u32, f: u32, addr: u64, shift: u32): void {
  const h = hstate_vma(vma);
  const pfn = folio_pfn(f) + <u32>((addr & (h_size(h) - 1)) >> 12);
  const npages: u32 = <u32>1 << (shift - 12);
  store<u64>(hpte_ptep, make_huge_pte(vma, pfn, (vm_flags(vma) & T.VM_SHARED) != 0, shift));
  folio_get(f, 0);
  // a "piece" of hstate size is an ordinary hstate-level mapping
  if (shift == h_shift(h)) hugetlb_add_file_rmap(f);
  else hgm_add_rmap(f, pfn, npages, hpte_root);
  hugetlb_count_add(<i64>npages, vma_mm(vma));
}

// hugetlb_fault() on an HGM VMA (or a split hugepage): map or fix up the PAGE_SIZE piece
function hugetlb_hgm_fault(vma: u32, address: u64, haddr: u64, ptep: u32, flags: u32): u32 {
  const h = hstate_vma(vma);
  hpte_ptep = ptep;
  hpte_shift = h_shift(h);
  hpte_root = 0;
  let e = load<u64>(ptep);
  if (e != 0 && pte_present(e) && entry_is_leaf(e, hpte_shift)) return hgm_fault_present(vma, flags);
  // walk down, allocating tables, to the 4K entry or the leaf that covers address
  const err = hugetlb_hgm_walk(vma, address, 12, false);
  if (err == -ENOMEM) return VM_FAULT_OOM;
  if (err < 0) return VM_FAULT_SIGBUS;
  e = load<u64>(hpte_ptep);
  if (e != 0 && pte_present(e)) return hgm_fault_present(vma, flags);
  const f = hugetlb_get_shared_folio(vma, h, haddr, address);
  if (f == 0) return fault_ret;
  hgm_install_piece(vma, f, address, hpte_shift);
  folio_put(f, 0); // the lookup reference (hgm_install_piece took the mapping's)
  return 0;
}

// A present piece: write faults make a shared mapping writable; else young/dirty.
function hgm_fault_present(vma: u32, flags: u32): u32 {
  const orig = load<u64>(hpte_ptep);
  if ((flags & (FAULT_FLAG_WRITE | FAULT_FLAG_UNSHARE)) && !pte_write(orig)) {
    if (vm_flags(vma) & T.VM_MAYSHARE) { set_huge_ptep_writable(hpte_ptep); return 0; }
    return VM_FAULT_SIGBUS;
  }
  let e = orig;
  if (flags & FAULT_FLAG_WRITE) e = pte_mkdirty(e);
  e = pte_mkyoung(e);
  if (e != orig && (flags & FAULT_FLAG_WRITE)) store<u64>(hpte_ptep, e);
  return 0;
}

// Zap the pieces under a split hstate-level entry that lie in [start, end).
function hgm_zap_pieces(vma: u32, ptep: u32, hshift: u32, base: u64, start: u64, end: u64, ref: u32): void {
  const root = table_of(load<u64>(ptep));
  hgm_zap_table(vma, root, root, hshift - 9, base, start, end, ref);
}

function hgm_zap_table(vma: u32, tbl: u32, root: u32, shift: u32, base: u64, start: u64, end: u64, ref: u32): void {
  const t = table_host(tbl);
  const mm = vma_mm(vma);
  const step: u64 = <u64>1 << shift;
  for (let i: u32 = 0; i < 512; i++) {
    const a = base + <u64>i * step;
    if (a + step <= start || a >= end) continue;
    const p = t + (i << 3);
    const e = load<u64>(p);
    if (e == 0) continue;
    if (!entry_is_leaf(e, shift)) { hgm_zap_table(vma, table_of(e), root, shift - 9, a, start, end, ref); continue; }
    const pfn = pte_pfn(e);
    const f = page_folio(pfn);
    if (ref != 0 && f != ref) continue;
    store<u64>(p, 0);
    tlb_remove_huge_tlb_entry(shift, a);
    if (pte_dirty(e)) folio_set_flag(f, T.FF_DIRTY);
    const npages: u32 = <u32>1 << (shift - 12);
    hugetlb_count_add(-<i64>npages, mm);
    hgm_remove_rmap(f, pfn, npages, root);
    tlb_remove_folio_refs(f, 0, 1);
  }
}

// mprotect of the pieces under a split hstate-level entry
function hgm_change_protection(vma: u32, ptep: u32, hshift: u32, base: u64, newprot: u64): u64 {
  return hgm_change_table(table_of(load<u64>(ptep)), hshift - 9, newprot);
}
function hgm_change_table(tbl: u32, shift: u32, newprot: u64): u64 {
  const t = table_host(tbl);
  let n: u64 = 0;
  for (let i: u32 = 0; i < 512; i++) {
    const p = t + (i << 3);
    const e = load<u64>(p);
    if (e == 0 || !pte_present(e)) continue;
    if (!entry_is_leaf(e, shift)) { n += hgm_change_table(table_of(e), shift - 9, newprot); continue; }
    store<u64>(p, pte_modify(e, newprot) | (shift > 12 ? _PAGE_PSE : 0));
    n++;
  }
  return n;
}

// smaps of the pieces: each counts its own size
function hgm_smaps(tbl: u32, shift: u32): void {
  const t = table_host(tbl);
  for (let i: u32 = 0; i < 512; i++) {
    const e = load<u64>(t + (i << 3));
    if (e == 0 || !pte_present(e)) continue;
    if (!entry_is_leaf(e, shift)) { hgm_smaps(table_of(e), shift - 9); continue; }
    smaps_hugetlb_account(pte_pfn(e), <u64>1 << shift, false);
  }
}

// Free the tables below a (zapped) split entry and clear it.
function hgm_free_tables(mm: u32, ptep: u32, shift: u32, addr: u64): void {
  const e = load<u64>(ptep);
  const tbl = table_of(e);
  if (shift == 30) {
    const t = table_host(tbl);
    for (let i: u32 = 0; i < 512; i++) {
      const p = t + (i << 3);
      if (load<u64>(p) != 0 && !entry_is_leaf(load<u64>(p), 21)) hgm_free_tables(mm, p, 21, addr + (<u64>i << 21));
    }
  }
  store<u64>(ptep, 0);
  tlb_free_table(tbl, addr);
  if (shift == 30) mm_dec_nr_pmds(mm); else mm_add_nr_ptes(mm, -1);
}
@inline function mm_add_nr_ptes(mm: u32, d: i64): void {
  store<i64>(mm + T.MM_PGTABLES_BYTES, load<i64>(mm + T.MM_PGTABLES_BYTES) + d * 4096);
}

// The largest piece at addr that is aligned and ends by end (hugetlb_alloc_largest_pte)
function largest_piece_shift(h: u32, addr: u64, end: u64): u32 {
  for (let s = h_shift(h); s > 12; s -= 9) {
    const sz: u64 = <u64>1 << s;
    if ((addr & (sz - 1)) == 0 && addr + sz <= end) return s;
  }
  return 12;
}

// Walk to the entry of size `shift` at addr: hpte_* is that entry, or a leaf (or a
// none entry when !alloc) above it. False on OOM.
function hgm_walk_to(mm: u32, vma: u32, addr: u64, shift: u32, alloc: bool): bool {
  const h = hstate_vma(vma);
  if (alloc) {
    hpte_ptep = huge_pte_alloc(mm, vma, addr & ~(h_size(h) - 1), h);
    if (hpte_ptep == 0) return false;
    hpte_shift = h_shift(h);
    hpte_root = 0;
  } else if (hpte_begin(mm, vma, addr) == 0) {
    return true;
  }
  while (hpte_shift > shift) {
    const e = load<u64>(hpte_ptep);
    if (e != 0 && (!pte_present(e) || entry_is_leaf(e, hpte_shift))) return true;
    if (e == 0 && !alloc) return true;
    if (!hugetlb_walk_step(mm, addr, alloc, h_shift(h))) return !alloc;
  }
  return true;
}

// UFFDIO_CONTINUE of [start, end) on an HGM VMA (hugemmu extension): map every
// unmapped piece with the largest aligned entries, allocating page-cache folios.
// 0 or -errno.
export function hugetlb_hgm_map(mm: u32, start: u64, end: u64): i32 {
  if ((start & 4095) != 0 || end <= start) return -EINVAL;
  let addr = start;
  while (addr < end) {
    const vma = find_vma(mm, addr);
    if (vma == 0 || load<u64>(vma + T.V_START) > addr) return -ENOMEM;
    if ((vm_flags(vma) & VM_HUGETLB_HGM) == 0) return -EINVAL;
    const h = hstate_vma(vma);
    const vend = min<u64>(end, load<u64>(vma + T.V_END));
    while (addr < vend) {
      let shift = largest_piece_shift(h, addr, vend);
      if (!hgm_walk_to(mm, vma, addr, shift, true)) return -ENOMEM;
      let e = load<u64>(hpte_ptep);
      if (e != 0 && pte_present(e) && entry_is_leaf(e, hpte_shift)) {
        // already mapped by a piece covering addr
        addr = (addr | ((<u64>1 << hpte_shift) - 1)) + 1;
        continue;
      }
      if (e != 0) {
        // a table at the chosen level: map below it, one level smaller
        shift -= 9;
        addr = hgm_map_below(mm, vma, addr, vend, shift);
        if (addr == 0) return -ENOMEM;
        continue;
      }
      const haddr = addr & ~(h_size(h) - 1);
      const f = hugetlb_get_shared_folio(vma, h, haddr, addr);
      if (f == 0) return fault_ret == VM_FAULT_OOM ? -ENOMEM : -EFAULT;
      hgm_install_piece(vma, f, addr, hpte_shift);
      folio_put(f, 0);
      addr += <u64>1 << hpte_shift;
    }
  }
  return 0;
}

// Map the unmapped entries of `shift` in the table range starting at addr; returns the
// address after the covering larger piece (0 on OOM).
function hgm_map_below(mm: u32, vma: u32, addr: u64, end: u64, shift: u32): u64 {
  const big: u64 = <u64>1 << (shift + 9);
  const stop = min<u64>(end, (addr & ~(big - 1)) + big);
  const h = hstate_vma(vma);
  while (addr < stop) {
    const s = shift > 12 && (addr & ((<u64>1 << shift) - 1)) == 0 && addr + (<u64>1 << shift) <= stop ? shift : 12;
    if (!hgm_walk_to(mm, vma, addr, s, true)) return 0;
    const e = load<u64>(hpte_ptep);
    if (e != 0 && pte_present(e) && entry_is_leaf(e, hpte_shift)) { addr = (addr | ((<u64>1 << hpte_shift) - 1)) + 1; continue; }
    if (e != 0) { const r = hgm_map_below(mm, vma, addr, stop, s - 9); if (r == 0) return 0; addr = r; continue; }
    const f = hugetlb_get_shared_folio(vma, h, addr & ~(h_size(h) - 1), addr);
    if (f == 0) return 0;
    hgm_install_piece(vma, f, addr, hpte_shift);
    folio_put(f, 0);
    addr += <u64>1 << hpte_shift;
  }
  return addr;
}

// hugetlb_collapse() (MADV_COLLAPSE, HGM v2 35/46): map split pieces back with one
// entry of the largest size; holes are filled. 0 or -errno.
export function hugetlb_collapse(vma: u32, start: u64, end: u64): i32 {
  if (hgm_variant() == 0) return -EINVAL;
  if ((vm_flags(vma) & T.VM_MAYSHARE) == 0) return -EINVAL;
  if ((vm_flags(vma) & VM_HUGETLB_HGM) == 0) return 0;
  const h = hstate_vma(vma);
  const mm = vma_mm(vma);
  const file = load<u32>(vma + T.V_FILE);
  tlb_gather_mmu(mm, false);
  let curr = start;
  while (curr < end) {
    const shift = largest_piece_shift(h, curr, end);
    const sz: u64 = <u64>1 << shift;
    if (!hgm_walk_to(mm, vma, curr, shift, false) || hpte_ptep == 0) { curr += sz; continue; }
    const e = load<u64>(hpte_ptep);
    // non-present, or already a present leaf: nothing to collapse
    if (e == 0 || hpte_shift != shift || !pte_present(e) || entry_is_leaf(e, shift)) { curr += sz; continue; }
    const ptep = hpte_ptep;
    const root = hpte_root != 0 ? hpte_root : table_of(e);
    hgm_zap_table(vma, table_of(e), root, shift - 9, curr, curr, curr + sz, 0);
    hgm_free_tables(mm, ptep, shift, curr);
    const haddr = curr & ~(h_size(h) - 1);
    const f = filemap_get_hugetlb_folio(file, vma_hugecache_offset(h, vma, haddr));
    if (f != 0) {
      const pfn = folio_pfn(f) + <u32>((curr - haddr) >> 12);
      store<u64>(ptep, make_huge_pte(vma, pfn, (vm_flags(vma) & T.VM_WRITE) != 0, shift));
      folio_get(f, 0);
      if (shift == h_shift(h)) hugetlb_add_file_rmap(f);
      else hgm_add_rmap(f, pfn, <u32>(sz >> 12), hpte_root != 0 ? hpte_root : root);
      hugetlb_count_add(<i64>(sz >> 12), mm);
    }
    curr += sz;
  }
  tlb_finish_mmu();
  return 0;
}

// --- GUP: follow_hugetlb_page() with HGM (seed 003) -------------------------------------
// Used for hugetlb VMAs when V16 is not `absent` (the pre-6.5 GUP path the seed
// modifies); 6.18 itself goes through follow_page_mask(). record: FOLL_GET/FOLL_PIN
// (the kernel's `pages` array); else the fast skip applies (populate).
export let fhp_vaddr: u64 = 0;
export let fhp_remainder: u64 = 0;
export function hugetlb_gup_hgm(vma: u32): bool {
  return hgm_variant() != 0 && load<u8>(vma + T.V_KIND) == T.VK_HUGETLB;
}

export function follow_hugetlb_page(task: u32, vma: u32, vaddr: u64, remainder: u64, flags: u32): i64 {
  const mm = vma_mm(vma);
  const vm_end = load<u64>(vma + T.V_END);
  const record = (flags & (FOLL_GET | FOLL_PIN)) != 0;
  const buggy = knob(K_V_HGM_GUP_SKIP_MATH) == 1;
  let i: i64 = 0;
  let err: i32 = -EFAULT;
  let tries: u32 = 0;
  while (vaddr < vm_end && remainder != 0) {
    let pte: u64 = 0;
    let ptep = hpte_begin(mm, vma, vaddr);
    if (ptep != 0) {
      hugetlb_hgm_walk(vma, vaddr, 12, true);
      ptep = hpte_ptep;
      pte = load<u64>(ptep);
    }
    const absent = ptep == 0 || pte == 0;
    let unshare = false;
    let must_fault = absent || !pte_present(pte);
    if (!must_fault && !pte_write(pte)) {
      if (flags & FOLL_WRITE) must_fault = true;
      else if ((flags & (FOLL_WRITE | FOLL_PIN)) == FOLL_PIN) {
        // gup_must_unshare() of an anon hugetlb page that is not exclusive
        const f = page_folio(pte_pfn(pte));
        if (folio_test_hugetlb_anon(f) && !page_anon_exclusive(f)) { unshare = true; must_fault = true; }
      }
    }
    if (must_fault) {
      let ff: u32 = FAULT_FLAG_REMOTE;
      if (flags & FOLL_WRITE) ff |= FAULT_FLAG_WRITE;
      if (unshare) ff |= FAULT_FLAG_UNSHARE;
      const ret = handle_mm_fault(task, vma, vaddr, ff);
      if (ret & VM_FAULT_ERROR) {
        err = (ret & VM_FAULT_OOM) ? -ENOMEM : -EFAULT;
        remainder = 0;
        fhp_vaddr = vaddr;
        fhp_remainder = 0;
        return i != 0 ? i : <i64>err;
      }
      if (++tries > 8) break;
      continue;
    }
    tries = 0;
    const shift = hpte_shift;
    const mask: u64 = ~((<u64>1 << shift) - 1);
    const pfn_offset = (vaddr & ~mask) >> 12;
    const subpage = pte_pfn(pte);
    const pages_per_hpte: u64 = <u64>1 << (shift - 12);
    if (!record && pfn_offset == 0 && remainder >= pages_per_hpte &&
        (buggy ? vaddr + pages_per_hpte < vm_end : vaddr + (pages_per_hpte << 12) < vm_end)) {
      // the fast skip: RFC v2 added a page count to an address
      vaddr += buggy ? pages_per_hpte : pages_per_hpte << 12;
      remainder -= pages_per_hpte;
      i += <i64>pages_per_hpte;
      continue;
    }
    let refs = pages_per_hpte - pfn_offset;
    if (remainder < refs) refs = remainder;
    const left = (vm_end - (vaddr & ~(<u64>4095))) >> 12;
    if (left < refs) refs = left;
    if (record) {
      const f = page_folio(subpage);
      if (!gup_record_pages(f, subpage + <u32>pfn_offset, <u32>refs, flags)) {
        fhp_vaddr = vaddr;
        fhp_remainder = 0;
        return i != 0 ? i : -ENOMEM;
      }
    }
    vaddr += refs << 12;
    remainder -= refs;
    i += <i64>refs;
  }
  fhp_vaddr = vaddr;
  fhp_remainder = remainder;
  return i != 0 ? i : (remainder == 0 ? 0 : <i64>err);
}

// =====================================================================================
// invariants (debug_vm.ts): pools, reservations, mapcounts/refcounts, hugetlb_usage
// =====================================================================================

export const INV_HUGETLB_POOL: u32 = 22;
export const INV_HUGETLB_RESV: u32 = 23;
export const INV_HUGETLB_FOLIO: u32 = 24;
export const INV_HUGETLB_USAGE: u32 = 25;
export const INV_HUGETLB_NAMES: string =
  "22 a hugetlb pool's nr/free/surplus counts differ from its folios\n" +
  "23 resv_huge_pages differs from the reservations of files and private mappings\n" +
  "24 a hugetlb folio's mapcount or refcount differs from its mappings\n" +
  "25 the mms' hugetlb_usage (HugetlbPages) differs from the hugetlb pages mapped";

function hfail(code: u32, a: f64, b: f64, c: f64): u32 {
  store<u32>(LAYOUT_IO, code);
  store<f64>(LAYOUT_IO + 8, a);
  store<f64>(LAYOUT_IO + 16, b);
  store<f64>(LAYOUT_IO + 24, c);
  return code;
}

// scratch fields of hugetlb folios during the check (unused by hugetlb otherwise)
const S_ENTRIES: u32 = T.F_DEFERRED_NEXT; // entries mapping the folio
const S_HSTATE: u32 = T.F_DEFERRED_PREV; // hstate-level entries
const S_PIECE_PAGES: u32 = T.F_MM_ID0; // pages mapped by pieces
const S_HIER: u32 = T.F_MM_ID1; // hierarchies with pieces

let chk_err: u32 = 0;
let chk_usage: i64 = 0;
let chk_last_folio: u32 = 0;
const resv_expected: u32 = <u32>memory.data(16);
const in_use: u32 = <u32>memory.data(16);
const visited: u32 = <u32>memory.data(4 * 256); // shared PMD tables already counted
let nr_visited: u32 = 0;

function chk_leaf(pfn: u32, shift: u32, hshift: u32): void {
  const f = page_folio(pfn);
  if (f == 0 || load<u8>(f, T.F_KIND) != T.FK_HUGETLB) {
    if (chk_err == 0) chk_err = hfail(INV_HUGETLB_FOLIO, <f64>pfn, 0, 1);
    return;
  }
  chk_last_folio = f;
  store<u32>(f, load<u32>(f, S_ENTRIES) + 1, S_ENTRIES);
  if (shift == hshift) store<u32>(f, load<u32>(f, S_HSTATE) + 1, S_HSTATE);
  else store<u32>(f, load<u32>(f, S_PIECE_PAGES) + (<u32>1 << (shift - 12)), S_PIECE_PAGES);
  chk_usage += <i64>1 << (shift - 12);
}

function chk_pieces(tbl: u32, shift: u32, hshift: u32): u32 {
  const t = table_host(tbl);
  let n: u32 = 0;
  for (let i: u32 = 0; i < 512; i++) {
    const e = load<u64>(t + (i << 3));
    if (e == 0 || !pte_present(e)) continue;
    if (!entry_is_leaf(e, shift)) { n += chk_pieces(table_of(e), shift - 9, hshift); continue; }
    chk_leaf(pte_pfn(e), shift, hshift);
    n++;
  }
  return n;
}

function chk_vma(vma: u32): void {
  const h = hstate_vma(vma);
  const sz = h_size(h);
  const mm = vma_mm(vma);
  const end = load<u64>(vma + T.V_END);
  let last_tbl: u32 = 0;
  for (let addr = load<u64>(vma + T.V_START); addr < end && chk_err == 0; addr += sz) {
    const ptep = huge_pte_offset(mm, addr, h);
    if (ptep == 0) { addr |= hugetlb_mask_last_page(h); continue; }
    const tbl = hw_tbl;
    if (tbl != 0 && tbl != last_tbl && hugetlb_pmd_shared(tbl)) {
      // a shared PMD table: count its entries once, from the first mm that reaches it
      let seen = false;
      for (let k: u32 = 0; k < nr_visited; k++) if (load<u32>(visited + 4 * k) == tbl) seen = true;
      if (seen) { addr |= hugetlb_mask_last_page(h); continue; }
      if (nr_visited < 256) { store<u32>(visited + 4 * nr_visited, tbl); nr_visited++; }
    }
    last_tbl = tbl;
    const e = load<u64>(ptep);
    if (e == 0 || !pte_present(e)) continue;
    if (!entry_is_leaf(e, h_shift(h))) {
      const root = table_of(e);
      chk_last_folio = 0;
      const n = chk_pieces(root, h_shift(h) - 9, h_shift(h));
      if (n != pt_count(root) && chk_err == 0) chk_err = hfail(INV_HUGETLB_FOLIO, <f64>addr, <f64>n, <f64>pt_count(root));
      if (n != 0 && chk_last_folio != 0) store<u32>(chk_last_folio, load<u32>(chk_last_folio, S_HIER) + 1, S_HIER);
      continue;
    }
    chk_leaf(pte_pfn(e), h_shift(h), h_shift(h));
  }
}

// Unconsumed reservations of a private owner VMA (what hugetlb_vm_op_close releases)
function private_unconsumed(vma: u32): i64 {
  const rm = load<u32>(vma + T.V_RESV) & ~HPAGE_RESV_MASK;
  if ((vm_flags(vma) & T.VM_MAYSHARE) != 0 || rm == 0 || !is_vma_resv_set(vma, HPAGE_RESV_OWNER)) return 0;
  const h = hstate_vma(vma);
  const s = vma_hugecache_offset(h, vma, load<u64>(vma + T.V_START));
  const e = vma_hugecache_offset(h, vma, load<u64>(vma + T.V_END));
  return <i64>(e - s) - region_count(rm, s, e);
}

// reservations of a file: regions not backed by a cached folio
function file_unbacked_regions(file: u32): i64 {
  let n: i64 = 0;
  const nr = <u64>load<u32>(file + HF_NR);
  for (let i: u64 = 0; i < nr; i++) {
    const p = hf_ent(file, i, false);
    if (p == 0) { i |= 1023; continue; }
    const e = load<u32>(p);
    if ((e & REGION) != 0 && (e & ~0xf) == 0) n++;
  }
  return n;
}

// Every check; 0 or an INV_* code (details in the IO buffer).
export function hugetlb_check_invariants(): u32 {
  chk_err = 0;
  chk_usage = 0;
  nr_visited = 0;
  store<i64>(resv_expected, 0);
  store<i64>(resv_expected + 8, 0);
  // clear the scratch fields of every hugetlb folio
  for (let pb: u32 = 0; pb < nr_pageblocks; pb++) {
    const f = load<u32>(pb_rec(pb) + PB_FOLIO);
    if (f == 0 || load<u8>(f, T.F_KIND) != T.FK_HUGETLB || (folio_pfn(f) >> 9) != pb) continue;
    store<u32>(f, 0, S_ENTRIES);
    store<u32>(f, 0, S_HSTATE);
    store<u32>(f, 0, S_PIECE_PAGES);
    store<u32>(f, 0, S_HIER);
  }
  // walk the hugetlb VMAs of every live mm; files and reserve maps are seen through them
  let usage_sum: i64 = 0;
  for (let pid: u32 = 1; pid < nr_pids(); pid++) {
    const t = task_slot(pid);
    if (t == 0 || load<u32>(t + T.T_ALIVE) == 0) continue;
    const mm = load<u32>(t + T.T_MM);
    usage_sum += load<i64>(mm + T.MM_HUGETLB_USAGE);
    const nv = mm_nr_vmas(mm);
    for (let k: u32 = 0; k < nv; k++) {
      const v = mm_vma(mm, k);
      if (load<u8>(v + T.V_KIND) != T.VK_HUGETLB) continue;
      chk_vma(v);
      if (chk_err != 0) return chk_err;
      const h = hstate_vma(v);
      store<i64>(resv_expected + 8 * h, load<i64>(resv_expected + 8 * h) + private_unconsumed(v));
      const file = load<u32>(v + T.V_FILE);
      // each file once: at the first VMA of its i_mmap list
      if (file != 0 && load<u32>(file + HF_IMMAP) == v)
        store<i64>(resv_expected + 8 * h, load<i64>(resv_expected + 8 * h) + file_unbacked_regions(file));
    }
  }
  if (usage_sum != chk_usage) return hfail(INV_HUGETLB_USAGE, 0, <f64>chk_usage, <f64>usage_sum);
  // the folios
  store<i64>(in_use, 0);
  store<i64>(in_use + 8, 0);
  let hugetlb_pages: i64 = 0;
  for (let pb: u32 = 0; pb < nr_pageblocks; pb++) {
    const f = load<u32>(pb_rec(pb) + PB_FOLIO);
    if (f == 0 || load<u8>(f, T.F_KIND) != T.FK_HUGETLB || (folio_pfn(f) >> 9) != pb) continue;
    if (load<u8>(pb_rec(pb) + PB_STATE) != PBS_ALLOC) continue;
    const h = folio_hstate(f);
    const entries = <i32>load<u32>(f, S_ENTRIES);
    const hstate_entries = <i32>load<u32>(f, S_HSTATE);
    const piece_pages = <i32>load<u32>(f, S_PIECE_PAGES);
    const hier = <i32>load<u32>(f, S_HIER);
    const cached: i32 = (hpriv(f) & HPG_IN_CACHE) != 0 ? <i32>h_pages(h) : 0;
    if (folio_test(f, T.FF_HUGETLB_FREE)) {
      if (load<i32>(f, T.F_REFCOUNT) != 0 || entries != 0 || folio_mapcount(f) != 0 || cached != 0)
        return hfail(INV_HUGETLB_FOLIO, <f64>folio_pfn(f), 0, <f64>load<i32>(f, T.F_REFCOUNT));
      continue;
    }
    store<i64>(in_use + 8 * h, load<i64>(in_use + 8 * h) + 1);
    if (hpriv(f) & HPG_COUNTED) hugetlb_pages += <i64>h_pages(h);
    if (folio_test(f, T.FF_RESTORE_RESERVE)) store<i64>(resv_expected + 8 * h, load<i64>(resv_expected + 8 * h) - 1);
    const refs = load<i32>(f, T.F_REFCOUNT) - load<i32>(f, T.F_PINCOUNT);
    if (refs != entries + cached) return hfail(INV_HUGETLB_FOLIO, <f64>folio_pfn(f), <f64>(entries + cached), <f64>refs);
    let want_entire: i32, want_large: i32;
    const v = hgm_mapcount_variant();
    if (v == HGM_THP_LIKE) { want_entire = hstate_entries; want_large = hstate_entries + piece_pages; }
    else if (v == HGM_PER_HPTE) { want_entire = entries; want_large = entries; }
    else { want_entire = hstate_entries + hier; want_large = want_entire; }
    if (load<i32>(f, T.F_ENTIRE_MAPCOUNT) != want_entire || folio_mapcount(f) != want_large)
      return hfail(INV_HUGETLB_FOLIO, <f64>folio_pfn(f), <f64>want_large, <f64>folio_mapcount(f));
    if (v == HGM_THP_LIKE) {
      // the subpage mapcounts add up to the pages mapped by pieces
      const first = folio_pfn(f);
      let sum: i32 = large_page_mapcount(f, first); // the head's count lives in the folio
      const nr = h_pages(h);
      for (let i: u32 = 0; i < nr; i += 512) {
        if (load<u32>(pb_rec((first + i) >> 9) + PB_FRAMES) == 0) continue;
        for (let j: u32 = i == 0 ? 1 : 0; j < 512; j++) sum += large_page_mapcount(f, first + i + j);
      }
      if (sum != piece_pages) return hfail(INV_HUGETLB_FOLIO, <f64>folio_pfn(f), <f64>piece_pages, <f64>sum);
    }
    store<u32>(f, 0, S_ENTRIES);
    store<u32>(f, 0, S_HSTATE);
    store<u32>(f, 0, S_PIECE_PAGES);
    store<u32>(f, 0, S_HIER);
  }
  for (let h: u32 = 0; h < 2; h++) {
    // free + in use == nr; surplus within nr; the free list holds `free` folios
    let listed: u64 = 0;
    for (let f = load<u32>(hs(h) + HS_FREELIST); f != 0; f = load<u32>(f, T.F_LIST_NEXT)) listed++;
    if (listed != hget(h, HS_FREE) || hget(h, HS_FREE) + <u64>load<i64>(in_use + 8 * h) != hget(h, HS_NR) ||
        hget(h, HS_SURPLUS) > hget(h, HS_NR))
      return hfail(INV_HUGETLB_POOL, <f64>h, <f64>hget(h, HS_NR), <f64>(hget(h, HS_FREE) + <u64>load<i64>(in_use + 8 * h)));
    if (<i64>hget(h, HS_RESV) != load<i64>(resv_expected + 8 * h))
      return hfail(INV_HUGETLB_RESV, <f64>h, <f64>load<i64>(resv_expected + 8 * h), <f64><i64>hget(h, HS_RESV));
  }
  if (hugetlb_pages != node_page_state(NR_HUGETLB))
    return hfail(INV_HUGETLB_POOL, 2, <f64>hugetlb_pages, <f64>node_page_state(NR_HUGETLB));
  return 0;
}

