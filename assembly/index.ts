// The exported ABI of the hugemmu core, and nothing else. All arguments and
// results are i32/u32/f64 (no BigInt at the boundary); bulk data goes through
// the command, result and IO buffers whose offsets are exported below.

export * from "./layout";
import {
  LAYOUT_CTRL, CTRL_RAM_PAGES, CTRL_DATA_MODE, CTRL_PGTABLE_LEVELS, CTRL_STATUS, CTRL_RESULT0, CTRL_RESULT1,
  ERR_OK, ERR_HOST_MEMORY, ERR_BAD_HANDLE, ERR_BAD_ARGUMENT, LAYOUT_COUNTERS, LAYOUT_COUNTERS_SIZE, LAYOUT_IO,
} from "./layout";
import { hostmem_init, hostmem_exhausted } from "./lib/hostmem";
import { thp_recompute_orders } from "./mm/huge_memory";
import * as HM from "./lib/hostmem";
import { page_alloc_init, set_alloc_fail_inject, nr_free_pages } from "./mm/page_alloc";
import {
  VM_EVENT_NAMES, NODE_STAT_NAMES, MTHP_STAT_NAMES, mthp_stat_present, NR_VM_EVENT_ITEMS, NR_NODE_STAT_ITEMS,
  NR_MTHP_STATS, MM_ANONPAGES, MM_FILEPAGES, MM_SHMEMPAGES,
} from "./mm/vmstat";
import { KNOB_TABLE, sysfs_init_defaults, knob, knob_set_raw, NR_KNOBS } from "./kernel/sysfs";
import * as T from "./mm/mm_types";
import {
  mmap_init, mm_alloc, task_create, task_by_pid, do_mmap, do_munmap, ERRNO_NAMES, EINVAL, ENOMEM, mm_free,
  mm_nr_vmas,
} from "./mm/mmap";
import { do_mprotect } from "./mm/mprotect";
import { do_madvise, MADVISE_NAMES } from "./mm/madvise";
import { exit_mmap, get_mm_counter } from "./mm/memory";
import { run_commands } from "./arch/x86/mmu";
import { check_invariants, INVARIANT_NAMES } from "./mm/debug_vm";
import { smaps_fill, SMAPS_FIELD_NAMES, SMAPS_RECORD_SIZE } from "./fs/proc/task_mmu";
import { sysfs_write } from "./kernel/sysfs_write";

export { SMAPS_RECORD_SIZE, NR_VM_EVENT_ITEMS, NR_NODE_STAT_ITEMS, NR_MTHP_STATS, NR_KNOBS };

// --- name tables (the host builds its views from these) -------------------------
export function names_vm_events(): string { return VM_EVENT_NAMES; }
export function names_node_stats(): string { return NODE_STAT_NAMES; }
export function names_mthp_stats(): string { return MTHP_STAT_NAMES; }
export function names_knobs(): string { return KNOB_TABLE; }
export function names_errno(): string { return ERRNO_NAMES; }
export function names_vm_flags(): string { return T.VM_FLAG_MNEMONICS; }
export function names_smaps_fields(): string { return SMAPS_FIELD_NAMES; }
export function names_invariants(): string { return INVARIANT_NAMES; }
export function names_madvise(): string { return MADVISE_NAMES; }
export function mthp_stat_exists(order: u32, stat: u32): bool { return mthp_stat_present(order, stat); }

@inline function status(code: i32): i32 {
  store<i32>(LAYOUT_CTRL + CTRL_STATUS, code);
  return code;
}

// Reset the host-memory flag before each call; report it after.
@inline function begin(): void { HM.hostmem_exhausted = false; store<i32>(LAYOUT_CTRL + CTRL_STATUS, ERR_OK); }
@inline function end_status(): i32 { tlb_call_end(); return status(hostmem_exhausted ? ERR_HOST_MEMORY : ERR_OK); }

// --- machine -------------------------------------------------------------------------
export function machine_init(): i32 {
  memory.fill(LAYOUT_COUNTERS, 0, LAYOUT_COUNTERS_SIZE);
  hostmem_init();
  sysfs_init_defaults();
  thp_recompute_orders();
  const ram_pages = <u64>load<f64>(LAYOUT_CTRL + CTRL_RAM_PAGES);
  const data = load<u32>(LAYOUT_CTRL + CTRL_DATA_MODE) != 0;
  const levels = load<u32>(LAYOUT_CTRL + CTRL_PGTABLE_LEVELS) == 5 ? <u32>5 : <u32>4;
  if (ram_pages < 1024 || ram_pages > (<u64>1 << 30)) return status(ERR_BAD_ARGUMENT);
  if (!page_alloc_init(ram_pages, data, <u64>load<f64>(LAYOUT_CTRL + CTRL_RESULT0))) return status(ERR_HOST_MEMORY);
  mmap_init(levels);
  tlb_setup_default();
  return status(ERR_OK);
}

// --- processes ------------------------------------------------------------------------
export function spawn(): i32 {
  begin();
  const mm = mm_alloc();
  if (mm == 0) return -ENOMEM;
  const pid = task_create(mm);
  if (pid == 0) { mm_free(mm); return -ENOMEM; }
  end_status();
  return <i32>pid;
}

export function process_exit(pid: u32): i32 {
  begin();
  const t = task_by_pid(pid);
  if (t == 0) return status(ERR_BAD_HANDLE);
  const mm = load<u32>(t + T.T_MM);
  sched_task(t);
  task_exit_cpu(t);
  store<u32>(t + T.T_ALIVE, 0);
  const users = load<u32>(mm + T.MM_USERS) - 1;
  store<u32>(mm + T.MM_USERS, users);
  if (users == 0) {
    exit_mmap(mm);
    mm_free(mm);
    mm_freed(mm);
  }
  return end_status();
}

function task_mm(pid: u32): u32 {
  const t = task_by_pid(pid);
  return t == 0 ? 0 : load<u32>(t + T.T_MM);
}

// --- system calls (results: >= 0 or -errno) -----------------------------------------------
export function sys_mmap(pid: u32, addr: f64, len: f64, prot: u32, flags: u32, align: f64): f64 {
  begin();
  const mm = task_mm(pid);
  if (mm == 0) { status(ERR_BAD_HANDLE); return -EINVAL; }
  enter_task(pid);
  const r = do_mmap(mm, <u64>addr, <u64>len, prot, flags, <u64>align, T.VK_ANON, 0, 0, 0);
  end_status();
  return <f64>r;
}

export function sys_munmap(pid: u32, addr: f64, len: f64): i32 {
  begin();
  const mm = task_mm(pid);
  if (mm == 0) { status(ERR_BAD_HANDLE); return -EINVAL; }
  enter_task(pid);
  const r = do_munmap(mm, <u64>addr, <u64>len);
  tlb_range_done(mm, addr, len, false);
  end_status();
  return r;
}

export function sys_mprotect(pid: u32, addr: f64, len: f64, prot: u32): i32 {
  begin();
  const mm = task_mm(pid);
  if (mm == 0) { status(ERR_BAD_HANDLE); return -EINVAL; }
  enter_task(pid);
  const r = do_mprotect(mm, <u64>addr, <u64>len, prot);
  tlb_range_done(mm, addr, len, true);
  end_status();
  return r;
}

export function sys_madvise(pid: u32, addr: f64, len: f64, advice: u32): i32 {
  begin();
  const t = task_by_pid(pid);
  if (t == 0) { status(ERR_BAD_HANDLE); return -EINVAL; }
  sched_task(t);
  const r = do_madvise(t, load<u32>(t + T.T_MM), <u64>addr, <u64>len, advice);
  tlb_range_done(load<u32>(t + T.T_MM), addr, len, false);
  end_status();
  return r;
}

// --- batched accesses ----------------------------------------------------------------------
export function run(first: u32, n: u32): i32 {
  begin();
  run_commands(first, n);
  return end_status();
}

// --- CPUs, threads and the TLB model (arch/tlb_model.ts, arch/cpu.ts) --------------------
import {
  tlb_setup_from_io, tlb_check, tlb_check_all, tlb_valid_entries, TLB_COUNTER_NAMES, coal_kind, COAL_CONTPTE,
  tlb_mode, TLB_MODEL, tlb_ncpus, cpu_rec, CPU_CURR, CPU_MM, CPU_ASID, CPU_LAZY, cnt_addr, C_STALE,
  rr_accesses, rr_l1_hits, rr_l2_hits,
} from "./arch/tlb_model";
import { cpus_init, sched_task, sched_kthread, task_exit_cpu, task_set_cpu, mm_freed } from "./arch/cpu";
import { contpte_enable, contpte_reconcile } from "./arch/contpte";
export { TLB_MAX_CPUS, TLB_NR_COUNTERS, CNT_TLB_INFO } from "./arch/tlb_model";
export function names_tlb_counters(): string { return TLB_COUNTER_NAMES; }

function tlb_setup_default(): void {
  memory.fill(LAYOUT_IO, 0, 128);
  store<f64>(LAYOUT_IO + 16, 1); // one CPU, tlb 'off'
  store<f64>(LAYOUT_IO + 64, 4096);
  tlb_setup_from_io();
  cpus_init();
  contpte_enable(false);
}

// Configure CPUs and the TLB from the geometry the host wrote into the IO buffer
// (src/tlb.ts encodeTlbConfig). Right after machine_init().
export function tlb_setup(): i32 {
  begin();
  if (!tlb_setup_from_io()) { tlb_setup_default(); return status(hostmem_exhausted ? ERR_HOST_MEMORY : ERR_BAD_ARGUMENT); }
  cpus_init();
  contpte_enable(tlb_mode == TLB_MODEL && coal_kind == COAL_CONTPTE);
  return end_status();
}

// the calling task runs on its CPU (a context switch if needed)
function enter_task(pid: u32): void {
  const t = task_by_pid(pid);
  if (t != 0) sched_task(t);
}

// end of every call: the stale-entry check (on in tests)
function tlb_call_end(): void {
  if (tlb_check) tlb_check_all();
}

// the contpte fold/unfold rules over the range a syscall changed
function tlb_range_done(mm: u32, addr: f64, len: f64, fold: bool): void {
  const a = <u64>addr & ~(<u64>4095);
  contpte_reconcile(mm, a, a + ((<u64>len + 4095) & ~(<u64>4095)), fold);
}

// a forked child starts on its parent's CPU
function fork_done(parent: u32, child_pid: i32): void {
  if (child_pid <= 0) return;
  const c = task_by_pid(<u32>child_pid);
  if (c == 0) return;
  store<u32>(c + T.T_CPU, load<u32>(parent + T.T_CPU));
  contpte_reconcile(load<u32>(parent + T.T_MM), 0, 0xffffffffffffffff, false);
  contpte_reconcile(load<u32>(c + T.T_MM), 0, 0xffffffffffffffff, false);
}

// sched_setaffinity(): move a task (process or thread) to another CPU
export function task_cpu_set(pid: u32, cpu: u32): i32 {
  const t = task_by_pid(pid);
  if (t == 0) return status(ERR_BAD_HANDLE);
  if (cpu >= tlb_ncpus) return status(ERR_BAD_ARGUMENT);
  task_set_cpu(t, cpu);
  return status(ERR_OK);
}

export function task_cpu_get(pid: u32): i32 {
  const t = task_by_pid(pid);
  return t == 0 ? -1 : <i32>load<u32>(t + T.T_CPU);
}

// clone(CLONE_VM | CLONE_THREAD): a new thread of pid's thread group on `cpu`
export function sys_clone_thread(pid: u32, cpu: u32): i32 {
  begin();
  const t = task_by_pid(pid);
  if (t == 0) { status(ERR_BAD_HANDLE); return -EINVAL; }
  if (cpu >= tlb_ncpus) { status(ERR_BAD_ARGUMENT); return -EINVAL; }
  const mm = load<u32>(t + T.T_MM);
  const tid = task_create(mm);
  if (tid == 0) { end_status(); return -ENOMEM; }
  const nt = task_by_pid(tid);
  store<u32>(nt + T.T_TGID, load<u32>(t + T.T_TGID));
  store<u32>(nt + T.T_CPU, cpu);
  end_status();
  return <i32>tid;
}

// mm_cpumask of pid's mm (as a number: bit c = CPU c)
export function mm_cpumask(pid: u32): f64 {
  const mm = task_mm(pid);
  return mm == 0 ? -1 : <f64>load<u64>(mm + T.MM_CPUMASK);
}

// What runs on `cpu`: IO[0] pid of the current task (0: idle / kernel thread), IO[1] 1 if
// the loaded mm is pid IO[0]'s, IO[2] loaded ASID, IO[3] lazy, IO[4] valid TLB entries
export function cpu_state(cpu: u32): i32 {
  if (cpu >= tlb_ncpus) return status(ERR_BAD_ARGUMENT);
  const c = cpu_rec(cpu);
  const t = load<u32>(c + CPU_CURR);
  store<f64>(LAYOUT_IO, t == 0 ? 0 : <f64>load<u32>(t + T.T_PID));
  store<f64>(LAYOUT_IO + 8, t != 0 && load<u32>(t + T.T_MM) == load<u32>(c + CPU_MM) ? 1 : 0);
  store<f64>(LAYOUT_IO + 16, <f64>load<u32>(c + CPU_ASID));
  store<f64>(LAYOUT_IO + 24, <f64>load<u32>(c + CPU_LAZY));
  store<f64>(LAYOUT_IO + 32, <f64>tlb_valid_entries(cpu, 4));
  return status(ERR_OK);
}

// Run the stale-entry check now; returns the number of stale entries found so far.
export function tlb_check_now(): f64 {
  tlb_check_all();
  let n: u64 = 0;
  for (let c: u32 = 0; c < tlb_ncpus; c++) n += load<u64>(cnt_addr(c, C_STALE));
  return <f64>n;
}

// Test hook: accesses made by batched runs (which 0), L1 (1) and L2 (2) hits among them.
export function debug_tlb_runs(which: u32): f64 {
  return <f64>(which == 0 ? rr_accesses : which == 1 ? rr_l1_hits : rr_l2_hits);
}

// Test hook for the stale-entry check: write-protect the PTE of addr in pid's mm
// without the flush the kernel would issue (a deliberate kernel bug).
export function debug_wrprotect_noflush(pid: u32, addr: f64): i32 {
  const mm = task_mm(pid);
  if (mm == 0) return status(ERR_BAD_HANDLE);
  const ptep = walk_to_pte(mm, <u64>addr);
  if (ptep == 0 || !pte_present(load<u64>(ptep))) return status(ERR_BAD_ARGUMENT);
  store<u64>(ptep, load<u64>(ptep) & ~(<u64>2));
  return status(ERR_OK);
}

// --- views -------------------------------------------------------------------------------------
// proc_status(pid): writes f64 fields into the IO buffer:
// [RssAnon, RssFile, RssShmem, VmPTE bytes, VmSize pages, HugetlbPages pages, min_flt, maj_flt, nr_vmas]
export function proc_status(pid: u32): i32 {
  const t = task_by_pid(pid);
  if (t == 0) return status(ERR_BAD_HANDLE);
  const mm = load<u32>(t + T.T_MM);
  store<f64>(LAYOUT_IO, <f64>get_mm_counter(mm, MM_ANONPAGES));
  store<f64>(LAYOUT_IO + 8, <f64>get_mm_counter(mm, MM_FILEPAGES));
  store<f64>(LAYOUT_IO + 16, <f64>get_mm_counter(mm, MM_SHMEMPAGES));
  store<f64>(LAYOUT_IO + 24, <f64>load<i64>(mm + T.MM_PGTABLES_BYTES));
  store<f64>(LAYOUT_IO + 32, <f64>load<u64>(mm + T.MM_TOTAL_VM));
  store<f64>(LAYOUT_IO + 40, <f64>load<i64>(mm + T.MM_HUGETLB_USAGE));
  store<f64>(LAYOUT_IO + 48, <f64>load<u64>(t + T.T_MIN_FLT));
  store<f64>(LAYOUT_IO + 56, <f64>load<u64>(t + T.T_MAJ_FLT));
  store<f64>(LAYOUT_IO + 64, <f64>mm_nr_vmas(mm));
  return status(ERR_OK);
}

// smaps records for VMAs [first, first + max); returns the count (or -1 for a bad pid)
export function proc_smaps(pid: u32, first: u32, max: u32): i32 {
  const mm = task_mm(pid);
  if (mm == 0) { status(ERR_BAD_HANDLE); return -1; }
  status(ERR_OK);
  return <i32>smaps_fill(mm, first, max);
}

export function nr_vmas(pid: u32): i32 {
  const mm = task_mm(pid);
  return mm == 0 ? -1 : <i32>mm_nr_vmas(mm);
}

// --- sysfs -------------------------------------------------------------------------------------
export function sysfs_set(id: u32, value: f64): i32 {
  begin();
  const r = sysfs_write(id, <u64>value);
  end_status();
  return r;
}
export function sysfs_get(id: u32): f64 { return id < NR_KNOBS ? <f64>knob(id) : -1; }

// --- checks and test hooks ----------------------------------------------------------------------
export function invariants(): i32 { return <i32>check_invariants(); }
export function inject_alloc_failures(n: u32, min_order: u32, max_order: u32, skip: u32): void { set_alloc_fail_inject(n, min_order, max_order, skip); }
export function free_pages_count(): f64 { return <f64>nr_free_pages(); }
import { vm_committed_as } from "./mm/mmap";
export function committed_as_pages(): f64 { return <f64>vm_committed_as; }

// --- fork and GUP ----------------------------------------------------------------------------
import { do_fork } from "./kernel/fork";
import { gup_grab, gup_release } from "./mm/gup";

export function sys_fork(pid: u32): i32 {
  begin();
  const t = task_by_pid(pid);
  if (t == 0) { status(ERR_BAD_HANDLE); return -EINVAL; }
  sched_task(t);
  const r = do_fork(t);
  fork_done(t, r);
  end_status();
  return r;
}

// pin_user_pages() (pin = 1) or get_user_pages() (pin = 0): a handle or -errno
export function gup(pid: u32, addr: f64, len: f64, write: u32, pin: u32, longterm: u32): i32 {
  begin();
  enter_task(pid);
  const r = gup_grab(pid, <u64>addr, <u64>len, write != 0, pin != 0, longterm != 0);
  end_status();
  return r;
}

export function gup_put(handle: u32): i32 {
  begin();
  const r = gup_release(handle);
  end_status();
  return r;
}
export * from "./bench";

// --- mremap, populate, khugepaged, shrinkers, debugfs split ------------------------------
import { do_mremap } from "./mm/mremap";
import { populate_vma_range } from "./mm/gup";
import { khugepaged_scan } from "./mm/khugepaged";
import { shrink_slab } from "./mm/vmscan";
import { split_folio_to_order } from "./mm/huge_memory";
import { page_folio } from "./mm/folio";
import { vma_lookup, find_vma } from "./mm/mmap";
import { walk_to_pte, walk_to_pmd, walk_to_pud } from "./mm/memory";
import { pmd_trans_huge, pte_present, pte_special, pte_pfn } from "./arch/x86/pgtable_types";

export function sys_mremap(pid: u32, addr: f64, old_len: f64, new_len: f64, flags: u32, new_addr: f64): f64 {
  begin();
  const mm = task_mm(pid);
  if (mm == 0) { status(ERR_BAD_HANDLE); return -EINVAL; }
  enter_task(pid);
  const r = do_mremap(mm, <u64>addr, <u64>old_len, <u64>new_len, flags, <u64>new_addr);
  tlb_range_done(mm, addr, old_len, false);
  if (r >= 0) tlb_range_done(mm, <f64>r, new_len, false);
  end_status();
  return <f64>r;
}

// MAP_POPULATE after a successful mmap (mm_populate)
export function mm_populate(pid: u32, addr: f64, len: f64): i32 {
  begin();
  const t = task_by_pid(pid);
  if (t == 0) return status(ERR_BAD_HANDLE);
  sched_task(t);
  const mm = load<u32>(t + T.T_MM);
  let a = <u64>addr;
  const end = a + <u64>len;
  while (a < end) {
    const vma = find_vma(mm, a);
    if (vma == 0 || load<u64>(vma + T.V_START) >= end) break;
    const s = max<u64>(a, load<u64>(vma + T.V_START));
    const e = min<u64>(end, load<u64>(vma + T.V_END));
    populate_vma_range(t, vma, s, e);
    a = e;
  }
  return end_status();
}

// khugepaged: run `wakeups` scan passes (each scans pages_to_scan pages); returns THPs collapsed
export function khugepaged_run(wakeups: u32): i32 {
  begin();
  sched_kthread();
  const r = khugepaged_scan(wakeups);
  end_status();
  return <i32>r;
}

// echo 2 > /proc/sys/vm/drop_caches: the slab shrinkers (deferred split, huge zero folio)
export function drop_caches(): i32 {
  begin();
  sched_kthread();
  const r = shrink_slab();
  end_status();
  return <i32>r;
}

// debugfs split_huge_pages "<pid>,0x<start>,0x<end>[,<order>]": returns folios split or -errno
export function split_huge_pages(pid: u32, start: f64, end: f64, new_order: u32): i32 {
  begin();
  const mm = task_mm(pid);
  if (mm == 0) { status(ERR_BAD_HANDLE); return -EINVAL; }
  sched_kthread();
  let split: i32 = 0;
  let addr = <u64>start & ~(<u64>4095);
  const e = <u64>end;
  while (addr < e) {
    const vma = vma_lookup(mm, addr);
    if (vma == 0) { addr += 4096; continue; }
    let pfn: u32 = 0;
    const pudp = walk_to_pud(mm, addr);
    if (pudp != 0 && pmd_trans_huge(load<u64>(pudp))) pfn = pte_pfn(load<u64>(pudp)) + (<u32>(addr >> 12) & 262143);
    else {
      const pmdp = walk_to_pmd(mm, addr);
      if (pmdp != 0 && pmd_trans_huge(load<u64>(pmdp)) && !pte_special(load<u64>(pmdp))) pfn = pte_pfn(load<u64>(pmdp)) + (<u32>(addr >> 12) & 511);
      else {
        const ptep = walk_to_pte(mm, addr);
        if (ptep != 0 && pte_present(load<u64>(ptep)) && !pte_special(load<u64>(ptep))) pfn = pte_pfn(load<u64>(ptep));
      }
    }
    const f = pfn != 0 ? page_folio(pfn) : 0;
    if (f == 0 || new_order >= <u32>load<u8>(f, T.F_ORDER)) { addr += 4096; continue; }
    const nr = <u64>1 << load<u8>(f, T.F_ORDER);
    const fend = addr - (<u64>(pfn - load<u32>(f, T.F_PFN)) << 12) + (nr << 12);
    if (split_folio_to_order(f, new_order) == 0) split++;
    addr = fend;
  }
  end_status();
  return split;
}

// --- hugetlb ------------------------------------------------------------------------------------
import { hstate_info as hugetlb_hstate_info, hugetlb_hgm_map } from "./mm/hugetlb";

// mmap(MAP_HUGETLB | huge_shift << MAP_HUGE_SHIFT): f64 address or -errno
export function sys_mmap_hugetlb(pid: u32, addr: f64, len: f64, prot: u32, flags: u32, huge_shift: u32): f64 {
  begin();
  const mm = task_mm(pid);
  if (mm == 0) { status(ERR_BAD_HANDLE); return -EINVAL; }
  if (huge_shift != 21 && huge_shift != 30) return -EINVAL;
  enter_task(pid);
  const r = do_mmap(mm, <u64>addr, <u64>len, prot, flags, 0, T.VK_HUGETLB, 0, 0, huge_shift);
  end_status();
  return <f64>r;
}

// pool state of the hstate of `order` (9 or 18) into the IO buffer: nr, free, resv, surplus
export function hstate_info(order: u32): i32 {
  memory.fill(LAYOUT_IO, 0, 32);
  hugetlb_hstate_info(order);
  return 0;
}

// HGM (seed 003): UFFDIO_CONTINUE-like mapping of [addr, addr + len) of an MADV_SPLIT VMA
// with the largest aligned pieces (hugemmu extension): 0 or -errno
export function hugetlb_hgm_map_range(pid: u32, addr: f64, len: f64): i32 {
  begin();
  const mm = task_mm(pid);
  if (mm == 0) { status(ERR_BAD_HANDLE); return -EINVAL; }
  const r = hugetlb_hgm_map(mm, <u64>addr, <u64>addr + <u64>len);
  end_status();
  return r;
}

// --- shmem -------------------------------------------------------------------------------------
import { shmem_file_setup } from "./mm/shmem";

// memfd_create() + ftruncate(len) + mmap() (anon_shared = 0), or mmap(MAP_SHARED|MAP_ANONYMOUS)
// (anon_shared = 1: shmem_zero_setup). flags: MAP_SHARED or MAP_PRIVATE (+ fixed bits).
export function sys_mmap_shmem(pid: u32, addr: f64, len: f64, prot: u32, flags: u32, anon_shared: u32): f64 {
  begin();
  const mm = task_mm(pid);
  if (mm == 0) { status(ERR_BAD_HANDLE); return -EINVAL; }
  const inode = shmem_file_setup(<u64>len, anon_shared != 0);
  if (inode == 0) { end_status(); return -ENOMEM; }
  const r = do_mmap(mm, <u64>addr, <u64>len, prot, flags, 0, T.VK_SHMEM, inode, 0, 0);
  if (r < 0) shmem_file_release_unmapped(inode);
  end_status();
  return <f64>r;
}
import { shmem_file_release_unmapped } from "./mm/shmem";
