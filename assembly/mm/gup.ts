// get_user_pages / pin_user_pages and the populate paths (mm/gup.c):
// follow_page_mask() over PTE, PMD and PUD leaves, faulting where needed
// (faults count in the caller's min_flt, like the kernel's GUP faults), and
// FOLL_PIN accounting (large folios: _pincount; small folios: refcount bias
// of GUP_PIN_COUNTING_BIAS, kept in a side table since the 4-byte frame
// entry has no room for it).

import * as T from "./mm_types";
import { alloc_chunk, free_chunk, alloc_block, free_block } from "../lib/hostmem";
import {
  pte_present, pte_write, pte_pfn, pte_special, pte_mkyoung, pte_mkdirty, pmd_trans_huge, _PAGE_ACCESSED, _PAGE_DIRTY,
} from "../arch/x86/pgtable_types";
import { table_host, table_of, entry_ptr } from "../arch/x86/pgtable";
import { find_vma, task_by_pid, EFAULT, ENOMEM, EINVAL, EINTR, EBUSY } from "./mmap";
import {
  handle_mm_fault, walk_to_pud, FAULT_FLAG_WRITE, FAULT_FLAG_UNSHARE, FAULT_FLAG_REMOTE, VM_FAULT_ERROR, VM_FAULT_OOM,
  is_anon_page,
} from "./memory";
import {
  page_folio, frame_ptr, S_PINNED, S_MAPCOUNT_MASK, S_EXTRA_MASK, large_page_anon_exclusive, PageAnonExclusive,
  free_small_folio, folio_nr_pages,
} from "./folio";
import { folio_put_refs } from "./swap";
import { ZERO_PFN } from "./page_alloc";
import { huge_zero_folio } from "./huge_memory";
import { folio_test_hugetlb_anon, hugetlb_gup_hgm, follow_hugetlb_page, fhp_vaddr, fhp_remainder } from "./hugetlb";

export const FOLL_WRITE: u32 = 0x01;
export const FOLL_GET: u32 = 0x02;
export const FOLL_PIN: u32 = 0x04;
export const FOLL_LONGTERM: u32 = 0x08;
export const FOLL_TOUCH: u32 = 0x10;
export const FOLL_POPULATE: u32 = 0x20; // FOLL_MADV_POPULATE / populate_vma_page_range
export const GUP_PIN_COUNTING_BIAS: u32 = 1024;

// --- small-folio external references (pins x 1024 + gets) -------------------------
// open addressing with linear probing and backward-shift deletion, one 2 MiB chunk
let ext_table: u32 = 0;
const EXT_SLOTS: u32 = 1 << 18;
let ext_used: u32 = 0;

function ext_slot(pfn: u32): u32 {
  let i = (pfn * 0x9e3779b1) & (EXT_SLOTS - 1);
  while (true) {
    const s = ext_table + (i << 3);
    const k = load<u32>(s);
    if (k == 0 || k == pfn + 1) return s;
    i = (i + 1) & (EXT_SLOTS - 1);
  }
}

export function small_ext_refs(pfn: u32): u32 {
  if (ext_table == 0) return 0;
  const s = ext_slot(pfn);
  return load<u32>(s) == pfn + 1 ? load<u32>(s, 4) : 0;
}

function ext_add(pfn: u32, n: u32): bool {
  if (ext_table == 0) {
    ext_table = alloc_chunk();
    if (ext_table == 0) return false;
    memory.fill(ext_table, 0, 1 << 21);
  }
  const s = ext_slot(pfn);
  if (load<u32>(s) == 0) {
    if (ext_used >= EXT_SLOTS / 2) return false;
    store<u32>(s, pfn + 1);
    store<u32>(s, 0, 4);
    ext_used++;
  }
  store<u32>(s, load<u32>(s, 4) + n, 4);
  const fp = frame_ptr(pfn);
  store<u32>(fp, load<u32>(fp) | S_PINNED);
  return true;
}

function ext_sub(pfn: u32, n: u32): void {
  let s = ext_slot(pfn);
  const v = load<u32>(s, 4) - n;
  if (v != 0) { store<u32>(s, v, 4); return; }
  // delete with backward shift
  let i = (s - ext_table) >> 3;
  store<u32>(s, 0);
  ext_used--;
  let j = i;
  while (true) {
    j = (j + 1) & (EXT_SLOTS - 1);
    const sj = ext_table + (j << 3);
    const k = load<u32>(sj);
    if (k == 0) break;
    const home = ((k - 1) * 0x9e3779b1) & (EXT_SLOTS - 1);
    // move sj to i if its home is not in (i, j]
    const between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (!between) {
      store<u64>(ext_table + (i << 3), load<u64>(sj));
      store<u32>(sj, 0);
      i = j;
    }
  }
  const fp = frame_ptr(pfn);
  store<u32>(fp, load<u32>(fp) & ~S_PINNED);
}

// folio_maybe_dma_pinned()
export function folio_maybe_dma_pinned(f: u32, pfn: u32): bool {
  if (f != 0) return load<i32>(f, T.F_PINCOUNT) > 0;
  return small_ext_refs(pfn) >= GUP_PIN_COUNTING_BIAS;
}

// try_grab_folio(): refs references of a GET or a PIN
function try_grab_folio(f: u32, pfn: u32, refs: u32, flags: u32): bool {
  if (f == 0 && pfn == ZERO_PFN) return true; // the zero page is never refcounted
  if (f != 0 && f == huge_zero_folio) return true;
  if (f != 0) {
    store<i32>(f, load<i32>(f, T.F_REFCOUNT) + <i32>refs, T.F_REFCOUNT);
    if (flags & FOLL_PIN) store<i32>(f, load<i32>(f, T.F_PINCOUNT) + <i32>refs, T.F_PINCOUNT);
    return true;
  }
  return ext_add(pfn, (flags & FOLL_PIN) ? refs * GUP_PIN_COUNTING_BIAS : refs);
}

// unpin_user_page() / put_page() of a grabbed page
function ungrab_folio(f: u32, pfn: u32, refs: u32, flags: u32): void {
  if (f == 0 && pfn == ZERO_PFN) return;
  if (f != 0 && f == huge_zero_folio) return;
  if (f != 0) {
    if (flags & FOLL_PIN) store<i32>(f, load<i32>(f, T.F_PINCOUNT) - <i32>refs, T.F_PINCOUNT);
    folio_put_refs(f, pfn, refs);
    return;
  }
  ext_sub(pfn, (flags & FOLL_PIN) ? refs * GUP_PIN_COUNTING_BIAS : refs);
  const e = load<u32>(frame_ptr(pfn));
  if ((e & (S_MAPCOUNT_MASK | S_EXTRA_MASK)) == 0 && (e & S_PINNED) == 0) free_small_folio(pfn);
}

// --- pin records: what a pin/get call grabbed, for the matching release -----------------
const MAX_PINS: u32 = 65536;
let pin_table: u32 = 0; // per id: u32 block, u32 count, u32 flags, u32 capacity
let next_pin: u32 = 1;
let cur_block: u32 = 0;
let cur_n: u32 = 0;
let cur_cap: u32 = 0;

function rec_push(f: u32, pfn: u32, refs: u32): bool {
  if (cur_n == cur_cap) {
    const ncap = cur_cap == 0 ? 256 : cur_cap * 2;
    if (ncap * 12 > (1 << 21)) return false;
    const nb = alloc_block(ncap * 12);
    if (nb == 0) return false;
    if (cur_block != 0) { memory.copy(nb, cur_block, cur_n * 12); free_block(cur_block, cur_cap * 12); }
    cur_block = nb;
    cur_cap = ncap;
  }
  const r = cur_block + cur_n * 12;
  store<u32>(r, f);
  store<u32>(r, pfn, 4);
  store<u32>(r, refs, 8);
  cur_n++;
  return true;
}

// follow_hugetlb_page() (seed 003) grabs and records its pages through this
export function gup_record_pages(f: u32, pfn: u32, refs: u32, flags: u32): bool {
  return try_grab_folio(f, pfn, refs, flags) && rec_push(f, pfn, refs);
}

// --- follow_page_mask -------------------------------------------------------------------
// Result: 0 = the caller must fault (with unshare when follow_unshare is set),
// else 1 with follow_pfn / follow_mask describing the page and the leaf size.
let follow_pfn: u32 = 0;
let follow_mask: u32 = 0;
let follow_unshare: bool = false;

// gup_must_unshare(): a read-only pin of a shared anonymous page breaks COW first
@inline function gup_must_unshare(flags: u32, f: u32, pfn: u32): bool {
  if ((flags & (FOLL_WRITE | FOLL_PIN)) != FOLL_PIN) return false;
  if (folio_test_hugetlb_anon(f)) return !large_page_anon_exclusive(f, load<u32>(f, T.F_PFN));
  if (!is_anon_page(f, pfn)) return false;
  return !PageAnonExclusive(pfn);
}

function follow_page_mask(vma: u32, addr: u64, flags: u32): u32 {
  const mm = load<u32>(vma + T.V_MM);
  follow_unshare = false;
  const pudp = walk_to_pud(mm, addr);
  if (pudp == 0) return 0;
  const pud = load<u64>(pudp);
  if (pud == 0) return 0;
  if (pmd_trans_huge(pud)) {
    if ((pud & 1) == 0) return 0;
    if ((flags & FOLL_WRITE) && !pte_write(pud)) return 0;
    const pfn = pte_pfn(pud) + (<u32>(addr >> 12) & 262143);
    const f = page_folio(pfn);
    if (!pte_write(pud) && gup_must_unshare(flags, f, pfn)) { follow_unshare = true; return 0; }
    follow_pfn = pfn;
    follow_mask = 262143;
    if (flags & FOLL_TOUCH) touch_entry(pudp, flags);
    return 1;
  }
  const pmdp = entry_ptr(table_of(pud), addr, 21);
  const pmd = load<u64>(pmdp);
  if (pmd == 0) return 0;
  if (pmd_trans_huge(pmd)) {
    if ((pmd & 1) == 0) return 0;
    if ((flags & FOLL_WRITE) && !pte_write(pmd)) return 0;
    const pfn = pte_pfn(pmd) + (<u32>(addr >> 12) & 511);
    const f = page_folio(pfn);
    if (!pte_write(pmd) && !pte_special(pmd) && gup_must_unshare(flags, f, pfn)) { follow_unshare = true; return 0; }
    follow_pfn = pfn;
    follow_mask = 511;
    if (flags & FOLL_TOUCH) touch_entry(pmdp, flags);
    return 1;
  }
  const ptep = entry_ptr(table_of(pmd), addr, 12);
  const pte = load<u64>(ptep);
  if (pte == 0 || !pte_present(pte) || (pte & 1) == 0) return 0;
  if ((flags & FOLL_WRITE) && !pte_write(pte)) return 0;
  const pfn = pte_pfn(pte);
  if (!pte_special(pte)) {
    const f = page_folio(pfn);
    if (!pte_write(pte) && gup_must_unshare(flags, f, pfn)) { follow_unshare = true; return 0; }
  }
  follow_pfn = pfn;
  follow_mask = 0;
  return 1;
}

// touch_pmd()/touch_pud(): FOLL_TOUCH marks the leaf young (and dirty for writes)
function touch_entry(p: u32, flags: u32): void {
  let e = load<u64>(p);
  let ne = pte_mkyoung(e);
  if (flags & FOLL_WRITE) ne = pte_mkdirty(ne);
  if (ne != e && (flags & FOLL_WRITE)) store<u64>(p, ne);
}

// check_vma_flags()
function check_vma_flags(vma: u32, flags: u32): bool {
  const vf = load<u64>(vma + T.V_FLAGS);
  if (vf & (T.VM_IO | T.VM_PFNMAP)) return false;
  if (flags & FOLL_WRITE) return (vf & T.VM_WRITE) != 0;
  return (vf & T.VM_READ) != 0;
}

// faultin_page(): 0 or -errno (vm_fault_to_errno)
function faultin_page(task: u32, vma: u32, addr: u64, flags: u32, unshare: bool): i32 {
  let ff: u32 = FAULT_FLAG_REMOTE;
  if (flags & FOLL_WRITE) ff |= FAULT_FLAG_WRITE;
  if (unshare) ff |= FAULT_FLAG_UNSHARE;
  const ret = handle_mm_fault(task, vma, addr, ff);
  if (ret & VM_FAULT_ERROR) return (ret & VM_FAULT_OOM) ? -ENOMEM : -EFAULT;
  return 0;
}

// __get_user_pages(): returns pages done (>= 0) or -errno if nothing was done.
// With FOLL_GET/FOLL_PIN every grabbed page is recorded for the release.
export function __get_user_pages(task: u32, start: u64, nr_pages: u64, flags: u32): i64 {
  const mm = load<u32>(task + T.T_MM);
  let done: u64 = 0;
  let vma: u32 = 0;
  while (nr_pages > 0) {
    if (vma == 0 || start >= load<u64>(vma + T.V_END)) {
      vma = find_vma(mm, start);
      if (vma == 0 || load<u64>(vma + T.V_START) > start) return done != 0 ? <i64>done : (flags & FOLL_POPULATE) ? -ENOMEM : -EFAULT;
      if (!check_vma_flags(vma, flags)) return done != 0 ? <i64>done : (flags & FOLL_POPULATE) ? -EINVAL : -EFAULT;
    }
    if (hugetlb_gup_hgm(vma)) {
      // the pre-6.5 hugetlb path that seed 003 teaches HGM
      const r = follow_hugetlb_page(task, vma, start, nr_pages, flags);
      if (r < 0) return done != 0 ? <i64>done : r;
      if (r == 0 && fhp_remainder == nr_pages) return done != 0 ? <i64>done : -EFAULT;
      done += <u64>r;
      nr_pages = fhp_remainder;
      start = fhp_vaddr;
      continue;
    }
    let tries = 0;
    while (follow_page_mask(vma, start, flags) == 0) {
      const e = faultin_page(task, vma, start, flags, follow_unshare);
      if (e < 0) return done != 0 ? <i64>done : e;
      if (++tries > 8) return done != 0 ? <i64>done : -EFAULT;
    }
    let increm: u64 = 1 + <u64>(~(<u32>(start >> 12)) & follow_mask);
    if (increm > nr_pages) increm = nr_pages;
    if (flags & (FOLL_GET | FOLL_PIN)) {
      const f = page_folio(follow_pfn);
      if (!try_grab_folio(f, follow_pfn, <u32>increm, flags) || !rec_push(f, follow_pfn, <u32>increm)) {
        return done != 0 ? <i64>done : -ENOMEM;
      }
    }
    done += increm;
    nr_pages -= increm;
    start += increm << 12;
  }
  return <i64>done;
}

// --- entry points ------------------------------------------------------------------------------

// pin_user_pages()/get_user_pages(): returns a handle (> 0) or -errno.
export function gup_grab(pid: u32, start: u64, len: u64, write: bool, pin: bool, longterm: bool): i32 {
  const task = task_by_pid(pid);
  if (task == 0) return -EINVAL;
  if (start & 4095) return -EINVAL;
  const nr = (len + 4095) >> 12;
  if (nr == 0) return -EINVAL;
  if (pin_table == 0) { pin_table = alloc_chunk(); if (pin_table == 0) return -ENOMEM; memory.fill(pin_table, 0, 1 << 21); }
  if (next_pin >= MAX_PINS) return -ENOMEM;
  let flags: u32 = FOLL_TOUCH | (write ? FOLL_WRITE : 0) | (pin ? FOLL_PIN : FOLL_GET) | (longterm ? FOLL_LONGTERM : 0);
  cur_block = 0; cur_n = 0; cur_cap = 0;
  if (pin) {
    const mm = load<u32>(task + T.T_MM);
    store<u32>(mm + T.MM_FLAGS, load<u32>(mm + T.MM_FLAGS) | T.MMF_HAS_PINNED);
  }
  const r = __get_user_pages(task, start, nr, flags);
  if (r < 0 || <u64>r < nr) {
    // all or nothing: release what was taken
    release_records(cur_block, cur_n, flags);
    if (cur_block != 0) free_block(cur_block, cur_cap * 12);
    return r < 0 ? <i32>r : -EFAULT;
  }
  const id = next_pin++;
  const p = pin_table + 16 * (id % 65536);
  store<u32>(p, cur_block);
  store<u32>(p, cur_n, 4);
  store<u32>(p, flags, 8);
  store<u32>(p, cur_cap, 12);
  return <i32>id;
}

function release_records(block: u32, n: u32, flags: u32): void {
  for (let i: u32 = 0; i < n; i++) {
    const r = block + i * 12;
    ungrab_folio(load<u32>(r), load<u32>(r, 4), load<u32>(r, 8), flags);
  }
}

// unpin_user_pages()/put_page() for a handle
export function gup_release(id: u32): i32 {
  if (pin_table == 0 || id == 0 || id >= next_pin) return -EINVAL;
  const p = pin_table + 16 * (id % 65536);
  const block = load<u32>(p);
  if (block == 0) return -EINVAL;
  release_records(block, load<u32>(p, 4), load<u32>(p, 8));
  free_block(block, load<u32>(p, 12) * 12);
  store<u32>(p, 0);
  return 0;
}

// faultin_page_range() for MADV_POPULATE_READ/WRITE over [start, end)
export function madvise_populate(task: u32, start: u64, end: u64, write: bool): i32 {
  const flags = FOLL_TOUCH | FOLL_POPULATE | (write ? FOLL_WRITE : 0);
  while (start < end) {
    const r = __get_user_pages(task, start, (end - start) >> 12, flags);
    if (r < 0) return <i32>r;
    if (r == 0) return -EFAULT;
    start += <u64>r << 12;
  }
  return 0;
}

// populate_vma_page_range() for MAP_POPULATE (write faults for private writable mappings)
export function populate_vma_range(task: u32, vma: u32, start: u64, end: u64): void {
  const vf = load<u64>(vma + T.V_FLAGS);
  let flags: u32 = FOLL_TOUCH | FOLL_POPULATE;
  if ((vf & (T.VM_WRITE | T.VM_SHARED)) == T.VM_WRITE) flags |= FOLL_WRITE;
  if ((vf & (T.VM_READ | T.VM_WRITE | T.VM_EXEC)) == 0) return;
  __get_user_pages(task, start, (end - start) >> 12, flags & ~FOLL_POPULATE);
}
