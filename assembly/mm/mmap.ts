// mm_struct lifetime, VMAs and mmap/munmap (mm/mmap.c, mm/vma.c, kernel/fork.c).
// Each mm keeps its VMAs in a sorted array (the kernel's maple tree); the
// last lookup is cached for the access loop.

import * as T from "./mm_types";
import {
  slab_alloc, slab_free, SLAB_MM, SLAB_VMA, SLAB_TASK, SLAB_ANON_VMA, alloc_block, free_block,
} from "../lib/hostmem";
import { pgtable_alloc, pgtable_free, PT_LEVEL_PGD } from "../arch/x86/pgtable";
import { vm_get_page_prot } from "../arch/x86/pgtable_types";
import { knob, K_MAX_MAP_COUNT, K_OVERCOMMIT_MEMORY } from "../kernel/sysfs";
import { node_page_state, NR_MANAGED_PAGES } from "./vmstat";
import { hugetlb_vma_open, hugetlb_vma_close, hugetlb_vma_dup, hugetlb_split } from "./hugetlb";
import { shmem_vma_link, shmem_vma_unlink } from "./shmem";
import { unmap_vmas_range, free_pgtables } from "./memory";
import { tlb_gather_mmu, tlb_finish_mmu } from "./mmu_gather";
import { vma_adjust_trans_huge } from "./huge_memory";

export const EPERM: i32 = 1;
export const ENOENT: i32 = 2;
export const EINTR: i32 = 4;
export const EAGAIN: i32 = 11;
export const ENOMEM: i32 = 12;
export const EACCES: i32 = 13;
export const EFAULT: i32 = 14;
export const EBUSY: i32 = 16;
export const EEXIST: i32 = 17;
export const EINVAL: i32 = 22;
export const ENOSPC: i32 = 28;
export const EOVERFLOW: i32 = 75;
export const ERRNO_NAMES: string =
  "1 EPERM\n2 ENOENT\n4 EINTR\n11 EAGAIN\n12 ENOMEM\n13 EACCES\n14 EFAULT\n16 EBUSY\n17 EEXIST\n22 EINVAL\n28 ENOSPC\n75 EOVERFLOW";

export const PROT_READ: u32 = 1;
export const PROT_WRITE: u32 = 2;
export const PROT_EXEC: u32 = 4;
export const MAP_SHARED: u32 = 0x01;
export const MAP_PRIVATE: u32 = 0x02;
export const MAP_SHARED_VALIDATE: u32 = 0x03;
export const MAP_FIXED: u32 = 0x10;
export const MAP_ANONYMOUS: u32 = 0x20;
export const MAP_NORESERVE: u32 = 0x4000;
export const MAP_POPULATE: u32 = 0x8000;
export const MAP_HUGETLB: u32 = 0x40000;
export const MAP_FIXED_NOREPLACE: u32 = 0x100000;
export const MAP_HUGE_SHIFT: u32 = 26;

export const PAGE_MASK: u64 = ~(<u64>4095);
export const MMAP_MIN_ADDR: u64 = 65536;
export const TASK_SIZE_4L: u64 = (<u64>1 << 47) - 4096;
export const TASK_SIZE_5L: u64 = (<u64>1 << 56) - 4096;
export const DEFAULT_MAP_WINDOW: u64 = (<u64>1 << 47) - 4096;
// mmap_base: DEFAULT_MAP_WINDOW minus the stack gap (128 MiB minimum); no randomisation
export const MMAP_BASE: u64 = DEFAULT_MAP_WINDOW + 4096 - (<u64>128 << 20);

// --- tasks ---------------------------------------------------------------------------

let task_table: u32 = 0; // u32 per pid
let task_table_cap: u32 = 0;
let next_pid: u32 = 1;
let next_mm_id: u32 = 1;
let next_asid: u32 = 1;
export let pgtable_levels: u32 = 4;

export function mmap_init(levels: u32): void {
  pgtable_levels = levels;
  task_table_cap = 1024;
  task_table = alloc_block(4 * task_table_cap);
  next_pid = 1;
}

export function task_by_pid(pid: u32): u32 {
  if (pid == 0 || pid >= next_pid) return 0;
  const t = load<u32>(task_table + 4 * pid);
  if (t == 0 || load<u32>(t + T.T_ALIVE) == 0) return 0;
  return t;
}

export function nr_pids(): u32 { return next_pid; }
// The task of pid for loops that visit every mm once: 0 for a thread (sys_clone_thread)
// whose mm an earlier live task of its thread group already has.
export function task_slot(pid: u32): u32 {
  const t = load<u32>(task_table + 4 * pid);
  if (t == 0) return 0;
  const g = load<u32>(t + T.T_TGID);
  if (g == pid) return t;
  const mm = load<u32>(t + T.T_MM);
  for (let q = g; q < pid; q++) {
    const o = load<u32>(task_table + 4 * q);
    if (o != 0 && load<u32>(o + T.T_ALIVE) != 0 && load<u32>(o + T.T_MM) == mm) return 0;
  }
  return t;
}

export function task_create(mm: u32): u32 {
  if (next_pid >= task_table_cap) {
    const nt = alloc_block(8 * task_table_cap);
    if (nt == 0) return 0;
    memory.copy(nt, task_table, 4 * task_table_cap);
    free_block(task_table, 4 * task_table_cap);
    task_table = nt;
    task_table_cap *= 2;
  }
  const t = slab_alloc(SLAB_TASK);
  if (t == 0) return 0;
  const pid = next_pid++;
  store<u32>(t + T.T_PID, pid);
  store<u32>(t + T.T_MM, mm);
  store<u32>(t + T.T_ALIVE, 1);
  store<u32>(t + T.T_TGID, pid);
  store<u32>(task_table + 4 * pid, t);
  store<u32>(mm + T.MM_USERS, load<u32>(mm + T.MM_USERS) + 1);
  return pid;
}

// mm_alloc() + pgd_alloc(): an empty address space
export function mm_alloc(): u32 {
  const mm = slab_alloc(SLAB_MM);
  if (mm == 0) return 0;
  const pgd = pgtable_alloc(PT_LEVEL_PGD);
  if (pgd == 0) { slab_free(SLAB_MM, mm); return 0; }
  const vmas = alloc_block(4096);
  if (vmas == 0) { pgtable_free(pgd); slab_free(SLAB_MM, mm); return 0; }
  store<u32>(mm + T.MM_PGD, pgd);
  store<u32>(mm + T.MM_ID, next_mm_id++);
  store<u32>(mm + T.MM_VMAS, vmas);
  store<u32>(mm + T.MM_VMAS_CAP, 1024);
  store<u32>(mm + T.MM_LEVELS, pgtable_levels);
  store<u64>(mm + T.MM_MMAP_BASE, MMAP_BASE);
  store<u32>(mm + T.MM_ASID, next_asid++);
  return mm;
}

// mm freed after exit_mmap() emptied it
export function mm_free(mm: u32): void {
  pgtable_free(load<u32>(mm + T.MM_PGD));
  free_block(load<u32>(mm + T.MM_VMAS), 4 * load<u32>(mm + T.MM_VMAS_CAP));
  slab_free(SLAB_MM, mm);
}

@inline export function task_size(mm: u32): u64 {
  return load<u32>(mm + T.MM_LEVELS) == 5 ? TASK_SIZE_5L : TASK_SIZE_4L;
}

// --- the VMA array -------------------------------------------------------------------

@inline export function mm_nr_vmas(mm: u32): u32 { return load<u32>(mm + T.MM_NR_VMAS); }
@inline export function mm_vma(mm: u32, i: u32): u32 { return load<u32>(load<u32>(mm + T.MM_VMAS) + (i << 2)); }

// index of the first VMA with vm_end > addr (nr if none)
export function vma_index_after(mm: u32, addr: u64): u32 {
  const arr = load<u32>(mm + T.MM_VMAS);
  let lo: u32 = 0, hi = load<u32>(mm + T.MM_NR_VMAS);
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (load<u64>(load<u32>(arr + (mid << 2)) + T.V_END) > addr) hi = mid; else lo = mid + 1;
  }
  return lo;
}

// find_vma(): the first VMA with vm_end > addr, or 0
export function find_vma(mm: u32, addr: u64): u32 {
  const c = load<u32>(mm + T.MM_VMA_CACHE);
  if (c != 0 && load<u64>(c + T.V_START) <= addr && load<u64>(c + T.V_END) > addr) return c;
  const i = vma_index_after(mm, addr);
  if (i >= load<u32>(mm + T.MM_NR_VMAS)) return 0;
  const v = mm_vma(mm, i);
  store<u32>(mm + T.MM_VMA_CACHE, v);
  return v;
}

// vma_lookup(): the VMA containing addr, or 0
export function vma_lookup(mm: u32, addr: u64): u32 {
  const v = find_vma(mm, addr);
  if (v != 0 && load<u64>(v + T.V_START) <= addr) return v;
  return 0;
}

export function vma_index_of(mm: u32, vma: u32): u32 {
  const i = vma_index_after(mm, load<u64>(vma + T.V_START));
  assert(mm_vma(mm, i) == vma, "vma_index_of: VMA not in its mm");
  return i;
}

function vma_array_insert(mm: u32, idx: u32, vma: u32): bool {
  let nr = load<u32>(mm + T.MM_NR_VMAS);
  let cap = load<u32>(mm + T.MM_VMAS_CAP);
  let arr = load<u32>(mm + T.MM_VMAS);
  if (nr == cap) {
    const na = alloc_block(8 * cap);
    if (na == 0) return false;
    memory.copy(na, arr, 4 * cap);
    free_block(arr, 4 * cap);
    arr = na;
    cap *= 2;
    store<u32>(mm + T.MM_VMAS, arr);
    store<u32>(mm + T.MM_VMAS_CAP, cap);
  }
  memory.copy(arr + ((idx + 1) << 2), arr + (idx << 2), (nr - idx) << 2);
  store<u32>(arr + (idx << 2), vma);
  store<u32>(mm + T.MM_NR_VMAS, nr + 1);
  return true;
}

function vma_array_remove(mm: u32, idx: u32): void {
  const nr = load<u32>(mm + T.MM_NR_VMAS);
  const arr = load<u32>(mm + T.MM_VMAS);
  memory.copy(arr + (idx << 2), arr + ((idx + 1) << 2), (nr - idx - 1) << 2);
  store<u32>(mm + T.MM_NR_VMAS, nr - 1);
  store<u32>(mm + T.MM_VMA_CACHE, 0);
}

// The array must have room for `extra` more VMAs (so a split cannot fail half way).
export function vma_array_reserve(mm: u32, extra: u32): bool {
  const nr = load<u32>(mm + T.MM_NR_VMAS);
  let cap = load<u32>(mm + T.MM_VMAS_CAP);
  if (nr + extra <= cap) return true;
  let ncap = cap;
  while (ncap < nr + extra) ncap *= 2;
  const na = alloc_block(4 * ncap);
  if (na == 0) return false;
  const arr = load<u32>(mm + T.MM_VMAS);
  memory.copy(na, arr, 4 * nr);
  free_block(arr, 4 * cap);
  store<u32>(mm + T.MM_VMAS, na);
  store<u32>(mm + T.MM_VMAS_CAP, ncap);
  return true;
}

// --- anon_vma ------------------------------------------------------------------------
// AV_ROOT: family root (rmap walks visit every VMA of the family);
// AV_REFS: VMAs using this anon_vma; on the root: AV_HEAD/AV_FAMILY list all family VMAs.
export const AV_ROOT: u32 = 0;
export const AV_REFS: u32 = 4;
export const AV_HEAD: u32 = 8;
export const AV_FAMILY: u32 = 12;

function anon_vma_link(vma: u32, av: u32): void {
  store<u32>(vma + T.V_ANON_VMA, av);
  store<u32>(av + AV_REFS, load<u32>(av + AV_REFS) + 1);
  const root = load<u32>(av + AV_ROOT);
  const first = load<u32>(root + AV_HEAD);
  store<u32>(vma + T.V_AV_NEXT, first);
  store<u32>(vma + T.V_AV_PREV, 0);
  if (first != 0) store<u32>(first + T.V_AV_PREV, vma);
  store<u32>(root + AV_HEAD, vma);
  store<u32>(root + AV_FAMILY, load<u32>(root + AV_FAMILY) + 1);
}

// unlink_anon_vmas()
export function anon_vma_unlink(vma: u32): void {
  const av = load<u32>(vma + T.V_ANON_VMA);
  if (av == 0) return;
  const root = load<u32>(av + AV_ROOT);
  const next = load<u32>(vma + T.V_AV_NEXT);
  const prev = load<u32>(vma + T.V_AV_PREV);
  if (prev != 0) store<u32>(prev + T.V_AV_NEXT, next); else store<u32>(root + AV_HEAD, next);
  if (next != 0) store<u32>(next + T.V_AV_PREV, prev);
  store<u32>(root + AV_FAMILY, load<u32>(root + AV_FAMILY) - 1);
  store<u32>(av + AV_REFS, load<u32>(av + AV_REFS) - 1);
  store<u32>(vma + T.V_ANON_VMA, 0);
  if (av != root && load<u32>(av + AV_REFS) == 0) slab_free(SLAB_ANON_VMA, av);
  if (load<u32>(root + AV_REFS) == 0 && load<u32>(root + AV_FAMILY) == 0) slab_free(SLAB_ANON_VMA, root);
}

// __anon_vma_prepare(): a new family root for a VMA faulting its first anon page
export function anon_vma_prepare(vma: u32): bool {
  if (load<u32>(vma + T.V_ANON_VMA) != 0) return true;
  const av = slab_alloc(SLAB_ANON_VMA);
  if (av == 0) return false;
  store<u32>(av + AV_ROOT, av);
  anon_vma_link(vma, av);
  return true;
}

// anon_vma_fork(): the child VMA gets its own anon_vma in the parent's family
export function anon_vma_fork(vma: u32, pvma: u32): bool {
  const pav = load<u32>(pvma + T.V_ANON_VMA);
  if (pav == 0) return true;
  const av = slab_alloc(SLAB_ANON_VMA);
  if (av == 0) return false;
  store<u32>(av + AV_ROOT, load<u32>(pav + AV_ROOT));
  anon_vma_link(vma, av);
  return true;
}

// vma_had_uncowed_parents(): a forked VMA's anon_vma chain is not singular
@inline function vma_had_uncowed_parents(vma: u32): bool {
  const av = load<u32>(vma + T.V_ANON_VMA);
  return av != 0 && load<u32>(av + AV_ROOT) != av;
}

// --- VMA records ------------------------------------------------------------------------

export function vm_area_alloc(mm: u32): u32 {
  const v = slab_alloc(SLAB_VMA);
  if (v != 0) store<u32>(v + T.V_MM, mm);
  return v;
}

// vm_area_dup(): same fields, same anon_vma (a split VMA stays in its family)
export function vm_area_dup(vma: u32): u32 {
  const v = slab_alloc(SLAB_VMA);
  if (v == 0) return 0;
  memory.copy(v, vma, 128);
  store<u32>(v + T.V_ANON_VMA, 0);
  store<u32>(v + T.V_AV_NEXT, 0);
  store<u32>(v + T.V_AV_PREV, 0);
  const av = load<u32>(vma + T.V_ANON_VMA);
  if (av != 0) anon_vma_link(v, av);
  if (load<u8>(vma + T.V_KIND) == T.VK_HUGETLB) hugetlb_vma_dup(v, vma);
  if (load<u8>(vma + T.V_KIND) == T.VK_SHMEM) shmem_vma_link(v);
  return v;
}

export function vm_area_free(vma: u32): void {
  anon_vma_unlink(vma);
  if (load<u8>(vma + T.V_KIND) == T.VK_SHMEM) shmem_vma_unlink(vma);
  slab_free(SLAB_VMA, vma);
}


// vm_flags accounting (vm_stat_account): total_vm
@inline function vm_stat_account(mm: u32, npages: i64): void {
  store<u64>(mm + T.MM_TOTAL_VM, <u64>(<i64>load<u64>(mm + T.MM_TOTAL_VM) + npages));
}

// VM_ACCOUNT charges (vm_acct_memory / vm_unacct_memory): Committed_AS
export let vm_committed_as: i64 = 0;
@inline function vm_acct(mm: u32, npages: i64): void {
  store<i64>(mm + T.MM_COMMITTED, load<i64>(mm + T.MM_COMMITTED) + npages);
  vm_committed_as += npages;
}

export function vm_acct_charge(mm: u32, npages: i64): void { vm_acct(mm, npages); }

// __vm_enough_memory() (the caller is root: no admin reserve): 0 or -ENOMEM.
// OVERCOMMIT_GUESS refuses a single request larger than RAM (no swap here);
// OVERCOMMIT_NEVER keeps Committed_AS under RAM * overcommit_ratio (50%).
export function vm_enough_memory(mm: u32, pages: i64): i32 {
  const mode = knob(K_OVERCOMMIT_MEMORY);
  if (mode == 1) return 0;
  const totalram = node_page_state(NR_MANAGED_PAGES);
  if (mode == 0) return pages > totalram ? -ENOMEM : 0;
  let allowed = totalram * 50 / 100;
  const reserve: i64 = (131072 >> 2); // user_reserve_kbytes 128 MiB
  const tv = <i64>load<u64>(mm + T.MM_TOTAL_VM) / 32;
  allowed -= tv < reserve ? tv : reserve;
  return vm_committed_as + pages <= allowed ? 0 : -ENOMEM;
}

@inline export function vma_pages(vma: u32): u64 {
  return (load<u64>(vma + T.V_END) - load<u64>(vma + T.V_START)) >> 12;
}

@inline export function vma_set_page_prot(vma: u32): void {
  store<u64>(vma + T.V_PROT, vm_get_page_prot(load<u64>(vma + T.V_FLAGS)));
}

// __split_vma(): split at addr; new_below: the new VMA is the lower part.
// Returns the new VMA, or 0 (host memory) — the caller checked map_count.
export function __split_vma(mm: u32, vma: u32, addr: u64, new_below: bool): u32 {
  if (!vma_array_reserve(mm, 1)) return 0;
  const nv = vm_area_dup(vma);
  if (nv == 0) return 0;
  const start = load<u64>(vma + T.V_START);
  if (new_below) {
    store<u64>(nv + T.V_END, addr);
  } else {
    store<u64>(nv + T.V_START, addr);
    store<u64>(nv + T.V_PGOFF, load<u64>(nv + T.V_PGOFF) + ((addr - start) >> 12));
  }
  // PMD/PUD THPs straddling addr are split before the VMA boundary moves
  if (!vma_adjust_trans_huge(vma, start, addr, 0)) { vm_area_free(nv); return 0; }
  if (load<u8>(vma + T.V_KIND) == T.VK_HUGETLB) hugetlb_split(vma, addr);
  const idx = vma_index_of(mm, vma);
  if (new_below) {
    store<u64>(vma + T.V_START, addr);
    store<u64>(vma + T.V_PGOFF, load<u64>(vma + T.V_PGOFF) + ((addr - start) >> 12));
    vma_array_insert(mm, idx, nv);
  } else {
    store<u64>(vma + T.V_END, addr);
    vma_array_insert(mm, idx + 1, nv);
  }
  return nv;
}

// split_vma(): refuses at max_map_count
export function split_vma(mm: u32, vma: u32, addr: u64, new_below: bool): i32 {
  if (load<u32>(mm + T.MM_NR_VMAS) >= knob(K_MAX_MAP_COUNT)) return -ENOMEM;
  if (!vma_may_split(vma, addr)) return -EINVAL;
  return __split_vma(mm, vma, addr, new_below) != 0 ? 0 : -ENOMEM;
}

// vm_ops->may_split: hugetlb VMAs only split at huge page boundaries
export function vma_may_split(vma: u32, addr: u64): bool {
  if (load<u8>(vma + T.V_KIND) == T.VK_HUGETLB) {
    const mask = hugetlb_vma_page_size(vma) - 1;
    return (addr & mask) == 0;
  }
  return true;
}

export function hugetlb_vma_page_size(vma: u32): u64 {
  // the hugetlb file records its page shift in V_RESV's high byte; 2 MiB default
  const shift = (load<u64>(vma + T.V_FLAGS) & T.VM_HUGETLB) != 0 ? <u32>load<u8>(vma + T.V_KIND + 1) : 0;
  return shift != 0 ? <u64>1 << shift : <u64>1 << 21;
}

// Can two adjacent VMAs (prev ends where next starts) be one? (is_mergeable_vma +
// is_mergeable_anon_vma + pgoff continuity)
export function vmas_mergeable(prev: u32, next: u32): bool {
  if (load<u64>(prev + T.V_END) != load<u64>(next + T.V_START)) return false;
  // VM_SPECIAL mappings (hugetlb has VM_DONTEXPAND) never merge
  if (load<u64>(prev + T.V_FLAGS) & (T.VM_IO | T.VM_DONTEXPAND | T.VM_PFNMAP | T.VM_MIXEDMAP)) return false;
  if ((load<u64>(prev + T.V_FLAGS) ^ load<u64>(next + T.V_FLAGS)) & ~T.VM_SOFTDIRTY) return false;
  if (load<u32>(prev + T.V_FILE) != load<u32>(next + T.V_FILE)) return false;
  if (load<u8>(prev + T.V_KIND) != load<u8>(next + T.V_KIND)) return false;
  if (load<u8>(prev + T.V_KIND + 1) != load<u8>(next + T.V_KIND + 1)) return false;
  if (load<u64>(prev + T.V_PGOFF) + vma_pages(prev) != load<u64>(next + T.V_PGOFF)) return false;
  const a = load<u32>(prev + T.V_ANON_VMA), b = load<u32>(next + T.V_ANON_VMA);
  if (a != 0 && b != 0) return a == b;
  if (a == 0 && b != 0) return !vma_had_uncowed_parents(next);
  if (a != 0 && b == 0) return !vma_had_uncowed_parents(prev);
  return true;
}

// Merge next into prev (both in mm, adjacent indices).
export function vma_merge_pair(mm: u32, prev: u32, next: u32): void {
  const end = load<u64>(next + T.V_END);
  vma_adjust_trans_huge(prev, load<u64>(prev + T.V_START), end, 0);
  // the merged VMA adopts an anon_vma if only one side had one (dup_anon_vma)
  if (load<u32>(prev + T.V_ANON_VMA) == 0 && load<u32>(next + T.V_ANON_VMA) != 0)
    anon_vma_link(prev, load<u32>(next + T.V_ANON_VMA));
  const ni = vma_index_of(mm, next);
  store<u64>(prev + T.V_END, end);
  vma_array_remove(mm, ni);
  vm_area_free(next);
}

// Try to merge the VMA at index i with its neighbours (vma_merge_existing_range's effect).
export function vma_try_merge_around(mm: u32, vma: u32): u32 {
  let i = vma_index_of(mm, vma);
  const nr = load<u32>(mm + T.MM_NR_VMAS);
  if (i + 1 < nr) {
    const next = mm_vma(mm, i + 1);
    if (vmas_mergeable(vma, next)) vma_merge_pair(mm, vma, next);
  }
  if (i > 0) {
    const prev = mm_vma(mm, i - 1);
    if (vmas_mergeable(prev, vma)) { vma_merge_pair(mm, prev, vma); return prev; }
  }
  return vma;
}

// --- get_unmapped_area ------------------------------------------------------------------

// vm_unmapped_area() top-down: highest gap below high that fits len with the alignment.
function unmapped_area_topdown(mm: u32, len: u64, low: u64, high: u64, align_mask: u64): u64 {
  const nr = load<u32>(mm + T.MM_NR_VMAS);
  // walk gaps from the top: gap i lies between VMA i-1 and VMA i
  let i = vma_index_after(mm, high);
  let gap_end: u64 = high;
  if (i < nr) {
    const s = load<u64>(mm_vma(mm, i) + T.V_START);
    if (s < gap_end) gap_end = s;
  }
  while (true) {
    const gap_start: u64 = i > 0 ? load<u64>(mm_vma(mm, i - 1) + T.V_END) : low;
    const gs = gap_start > low ? gap_start : low;
    if (gap_end >= len && gap_end - len >= gs) {
      const cand = (gap_end - len) & ~align_mask;
      if (cand >= gs) return cand;
    }
    if (i == 0) break;
    i--;
    gap_end = load<u64>(mm_vma(mm, i) + T.V_START);
    if (gap_end < low) break;
  }
  return 0;
}

function range_is_free(mm: u32, addr: u64, len: u64): bool {
  const v = find_vma(mm, addr);
  return v == 0 || load<u64>(v + T.V_START) >= addr + len;
}

// __get_unmapped_area(): returns an address or -errno (as i64)
export function get_unmapped_area(mm: u32, addr: u64, len: u64, flags: u32, align: u64, thp_align: bool): i64 {
  const tsize = task_size(mm);
  if (len > tsize) return -ENOMEM;
  if (flags & MAP_FIXED) {
    if (addr > tsize - len) return -ENOMEM;
    return <i64>addr;
  }
  // the default window is 47 bits unless the hint asks for more (LA57)
  let high: u64 = load<u64>(mm + T.MM_MMAP_BASE);
  if (addr > DEFAULT_MAP_WINDOW && load<u32>(mm + T.MM_LEVELS) == 5) high = tsize;
  if (addr != 0 && align <= 4096) {
    addr = (addr + 4095) & PAGE_MASK;
    if (addr < MMAP_MIN_ADDR) addr = MMAP_MIN_ADDR;
    if (tsize - len >= addr && range_is_free(mm, addr, len)) return <i64>addr;
  }
  if (align > 4096) {
    const r = unmapped_area_topdown(mm, len, MMAP_MIN_ADDR, high, align - 1);
    return r == 0 ? -ENOMEM : <i64>r;
  }
  if (thp_align) {
    // __thp_get_unmapped_area(): pad by PMD_SIZE, then align (top-down keeps the top)
    const size: u64 = 1 << 21;
    const r = unmapped_area_topdown(mm, len + size, MMAP_MIN_ADDR, high, 0);
    if (r != 0) {
      const off_sub = (0 - r) & (size - 1);
      return <i64>(off_sub == 0 ? r + size : r + off_sub);
    }
  }
  const r = unmapped_area_topdown(mm, len, MMAP_MIN_ADDR, high, 0);
  return r == 0 ? -ENOMEM : <i64>r;
}

// --- mmap ----------------------------------------------------------------------------------

// calc_vm_prot_bits / calc_vm_flag_bits
export function calc_vm_prot_bits(prot: u32): u64 {
  let f: u64 = 0;
  if (prot & PROT_READ) f |= T.VM_READ;
  if (prot & PROT_WRITE) f |= T.VM_WRITE;
  if (prot & PROT_EXEC) f |= T.VM_EXEC;
  return f;
}

// do_mmap() for anonymous private/shared memory (kind VK_ANON / VK_SHMEM) and hugetlb.
// Returns the address, or -errno. `file` is the backing object for shmem/hugetlb.
export function do_mmap(mm: u32, addr: u64, len: u64, prot: u32, flags: u32, align: u64, kind: u8, file: u32, pgoff: u64, huge_shift: u32): i64 {
  if (len == 0) return -EINVAL;
  if (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) return -EINVAL;
  const type = flags & 0x0f;
  if (type != MAP_SHARED && type != MAP_PRIVATE && type != MAP_SHARED_VALIDATE) return -EINVAL;
  let plen = (len + 4095) & PAGE_MASK;
  if (plen == 0 || plen < len) return -ENOMEM;
  if (kind == T.VK_HUGETLB) {
    const hmask: u64 = (<u64>1 << huge_shift) - 1;
    plen = (plen + hmask) & ~hmask;
    if (align < (<u64>1 << huge_shift)) align = <u64>1 << huge_shift;
    if ((flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) && (addr & hmask)) return -EINVAL;
  }
  if ((flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) && (addr & 4095)) return -EINVAL;
  if (load<u32>(mm + T.MM_NR_VMAS) > knob(K_MAX_MAP_COUNT)) return -ENOMEM;
  if ((flags & MAP_FIXED_NOREPLACE) != 0) flags |= MAP_FIXED;
  if ((flags & MAP_FIXED) && addr < MMAP_MIN_ADDR) return -EPERM;
  const thp_align = kind == T.VK_ANON && addr == 0 && (plen & ((1 << 21) - 1)) == 0;
  const r = get_unmapped_area(mm, addr, plen, flags, align, thp_align);
  if (r < 0) return r;
  addr = <u64>r;
  if ((flags & MAP_FIXED_NOREPLACE) != 0 && (flags & 0x0f) != 0) {
    if (!range_is_free(mm, addr, plen)) return -EEXIST;
  }
  let vm_flags: u64 = calc_vm_prot_bits(prot) | T.VM_MAYREAD | T.VM_MAYWRITE | T.VM_MAYEXEC;
  const shared = type == MAP_SHARED || type == MAP_SHARED_VALIDATE;
  if (shared) vm_flags |= T.VM_SHARED | T.VM_MAYSHARE;
  // hugetlbfs files honour MAP_NORESERVE whatever the overcommit mode
  if ((flags & MAP_NORESERVE) && (knob(K_OVERCOMMIT_MEMORY) != 2 || kind == T.VK_HUGETLB)) vm_flags |= T.VM_NORESERVE;
  if (kind == T.VK_HUGETLB) vm_flags |= T.VM_HUGETLB | T.VM_DONTEXPAND;
  // accountable_mapping(): private writable memory is charged
  if (kind != T.VK_HUGETLB && (vm_flags & (T.VM_NORESERVE | T.VM_SHARED | T.VM_WRITE)) == T.VM_WRITE)
    vm_flags |= T.VM_ACCOUNT;
  if (kind == T.VK_ANON && !shared) pgoff = addr >> 12;
  if ((vm_flags & T.VM_ACCOUNT) && vm_enough_memory(mm, <i64>(plen >> 12)) < 0) return -ENOMEM;
  // MAP_FIXED replaces whatever was there (the old mapping is unmapped first)
  if (flags & MAP_FIXED) {
    const e = do_munmap(mm, addr, plen);
    if (e < 0) return e;
  }
  if (!vma_array_reserve(mm, 1)) return -ENOMEM;
  const vma = vm_area_alloc(mm);
  if (vma == 0) return -ENOMEM;
  store<u64>(vma + T.V_START, addr);
  store<u64>(vma + T.V_END, addr + plen);
  store<u64>(vma + T.V_PGOFF, pgoff);
  store<u64>(vma + T.V_FLAGS, vm_flags);
  store<u8>(vma + T.V_KIND, kind);
  store<u8>(vma + T.V_KIND + 1, <u8>huge_shift);
  store<u32>(vma + T.V_FILE, file);
  vma_set_page_prot(vma);
  if (kind == T.VK_HUGETLB) {
    const err = hugetlb_vma_open(vma);
    if (err < 0) { slab_free(SLAB_VMA, vma); return err; }
  }
  if (kind == T.VK_SHMEM) shmem_vma_link(vma);
  const idx = vma_index_after(mm, addr);
  vma_array_insert(mm, idx, vma);
  vm_stat_account(mm, <i64>(plen >> 12));
  if (vm_flags & T.VM_ACCOUNT) vm_acct(mm, <i64>(plen >> 12));
  // vma_merge_new_range(): a new anonymous VMA joins compatible neighbours
  vma_try_merge_around(mm, vma);
  return <i64>addr;
}


// --- munmap ---------------------------------------------------------------------------------

// do_vmi_munmap(): returns 0 or -errno
export function do_munmap(mm: u32, start: u64, len: u64): i32 {
  if ((start & 4095) != 0 || start > task_size(mm) || len > task_size(mm) - start) return -EINVAL;
  len = (len + 4095) & PAGE_MASK;
  if (len == 0) return -EINVAL;
  const end = start + len;
  let i = vma_index_after(mm, start);
  if (i >= load<u32>(mm + T.MM_NR_VMAS)) return 0;
  let vma = mm_vma(mm, i);
  if (load<u64>(vma + T.V_START) >= end) return 0;
  // hugetlb VMAs may only be split at huge page boundaries
  if (load<u64>(vma + T.V_START) < start && !vma_may_split(vma, start)) return -EINVAL;
  {
    const li = vma_index_after(mm, end - 1);
    if (li < load<u32>(mm + T.MM_NR_VMAS)) {
      const lv = mm_vma(mm, li);
      if (load<u64>(lv + T.V_START) < end && load<u64>(lv + T.V_END) > end && !vma_may_split(lv, end)) return -EINVAL;
    }
  }
  if (load<u64>(vma + T.V_START) < start) {
    if (end < load<u64>(vma + T.V_END) && load<u32>(mm + T.MM_NR_VMAS) >= knob(K_MAX_MAP_COUNT)) return -ENOMEM;
    const e = split_vma(mm, vma, start, false);
    if (e < 0) return e;
    i++;
    vma = mm_vma(mm, i);
  }
  // last VMA: split at end
  let j = vma_index_after(mm, end - 1);
  if (j < load<u32>(mm + T.MM_NR_VMAS)) {
    const lv = mm_vma(mm, j);
    if (load<u64>(lv + T.V_START) < end && load<u64>(lv + T.V_END) > end) {
      const e = split_vma(mm, lv, end, true);
      if (e < 0) return e;
    }
  }
  // VMAs [i, j) are now exactly inside [start, end)
  j = vma_index_after(mm, end - 1);
  if (j < load<u32>(mm + T.MM_NR_VMAS) && load<u64>(mm_vma(mm, j) + T.V_START) < end) j++;
  unmap_region(mm, i, j);
  return 0;
}

// unmap_region() + remove_vma(): zap, free page tables, drop the VMAs [i, j).
export function unmap_region(mm: u32, i: u32, j: u32): void {
  if (i >= j) return;
  const floor: u64 = i > 0 ? load<u64>(mm_vma(mm, i - 1) + T.V_END) : 0;
  const ceiling: u64 = j < load<u32>(mm + T.MM_NR_VMAS) ? load<u64>(mm_vma(mm, j) + T.V_START) : 0;
  tlb_gather_mmu(mm, false);
  for (let k = i; k < j; k++) {
    const v = mm_vma(mm, k);
    unmap_vmas_range(v, load<u64>(v + T.V_START), load<u64>(v + T.V_END), false);
  }
  free_pgtables(mm, i, j, floor, ceiling);
  tlb_finish_mmu();
  for (let k = i; k < j; k++) {
    const v = mm_vma(mm, i);
    const np = <i64>vma_pages(v);
    vm_stat_account(mm, -np);
    if (load<u64>(v + T.V_FLAGS) & T.VM_ACCOUNT) vm_acct(mm, -np);
    vma_array_remove(mm, i);
    if (load<u8>(v + T.V_KIND) == T.VK_HUGETLB) hugetlb_vma_close(v);
    vm_area_free(v);
  }
}

// vma_modify_flags(): give [start, end) of vma the flags newflags, splitting
// it off its VMA and merging it with compatible neighbours. Returns the VMA
// now covering [start, end), or -errno (as a negative i64 in the low bits).
export function vma_modify_flags(mm: u32, vma: u32, start: u64, end: u64, newflags: u64): i64 {
  if (load<u64>(vma + T.V_FLAGS) == newflags) return <i64>vma;
  if (start > load<u64>(vma + T.V_START)) {
    const e = split_vma(mm, vma, start, true);
    if (e < 0) return e;
  }
  if (end < load<u64>(vma + T.V_END)) {
    const e = split_vma(mm, vma, end, false);
    if (e < 0) return e;
  }
  store<u64>(vma + T.V_FLAGS, newflags);
  return <i64>vma;
}
