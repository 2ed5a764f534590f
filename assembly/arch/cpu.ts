// Emulated CPUs: which task runs where, the mm each CPU has loaded, PCID slots and
// context switches (arch/x86/mm/tlb.c: switch_mm_irqs_off, choose_new_asid), lazy TLB
// mode for kernel threads, mm_cpumask, and TLB flushes exactly as the kernel issues
// them: flush_tlb_mm_range() with its ceiling, flush_tlb_multi() shootdown IPIs and
// flush_tlb_func() on each CPU. The arm64 presets flush with broadcast TLBIs instead
// (arch/arm64/include/asm/tlbflush.h: __flush_tlb_range, flush_tlb_mm) and tag
// entries with the mm's ASID (arch/arm64/mm/context.c).

import * as T from "../mm/mm_types";
import {
  count_vm_event, count_vm_events, NR_TLB_LOCAL_FLUSH_ONE, NR_TLB_LOCAL_FLUSH_ALL, NR_TLB_REMOTE_FLUSH,
  NR_TLB_REMOTE_FLUSH_RECEIVED,
} from "../mm/vmstat";
import {
  cpu_rec, ctx_rec, CPU_CURR, CPU_MM, CPU_ASID, CPU_LAZY, CPU_NEXT_ASID, TLB_NR_DYN_ASIDS, cur_cpu, set_cur_cpu,
  tlb_ncpus, tlb_arch, ARCH_X86, tlb_invalidate_va, tlb_flush_cpu, cnt_inc, cnt_add, C_INVLPG, C_FLUSH_SINGLE,
  C_FLUSH_RANGE, C_FLUSH_FULL, C_FLUSH_SWITCH, C_CTX_SWITCHES, C_MM_SWITCHES, C_IPI_SENT, C_IPI_RECEIVED,
  C_TLBI_BCAST, C_SHOOTDOWNS, C_ASID_ROLLOVER, fp_invalidate,
} from "./tlb_model";

export const TLB_FLUSH_ALL: u64 = 0xffffffffffffffff;
// arch/x86/mm/tlb.c; /sys/kernel/debug/x86/tlb_single_page_flush_ceiling
export let tlb_single_page_flush_ceiling: u64 = 33;
// arch/arm64/include/asm/tlbflush.h: MAX_DVM_OPS = PTRS_PER_PTE (no FEAT_TLBIRANGE)
const MAX_DVM_OPS: u64 = 512;
const INIT_MM_CTX: u32 = 0xffffffff;

@inline function mm_ctx(mm: u32): u32 { return mm == 0 ? INIT_MM_CTX : load<u32>(mm + T.MM_ASID); }
@inline function mm_gen(mm: u32): u64 { return mm == 0 ? 0 : load<u64>(mm + T.MM_TLB_GEN); }
@inline function cpumask_set(mm: u32, cpu: u32): void {
  store<u64>(mm + T.MM_CPUMASK, load<u64>(mm + T.MM_CPUMASK) | (<u64>1 << cpu));
}
@inline function cpumask_clear(mm: u32, cpu: u32): void {
  store<u64>(mm + T.MM_CPUMASK, load<u64>(mm + T.MM_CPUMASK) & ~(<u64>1 << cpu));
}

// --- arm64 ASIDs (8-bit ASID space with generation rollover) ---------------------------

let asid_gen: u32 = 1;
let asid_next: u32 = 1;
const asid_owner: u32 = <u32>memory.data(256 * 8); // {mm, ctx_id}

export function cpus_init(): void {
  asid_gen = 1;
  asid_next = 1;
  memory.fill(asid_owner, 0, 256 * 8);
  set_cur_cpu(0);
}

function arm64_new_context(mm: u32): void {
  if (asid_next > 255) {
    // rollover (flush_context): new generation, every TLB flushed, running mms re-reserved
    asid_gen++;
    asid_next = 1;
    memory.fill(asid_owner, 0, 256 * 8);
    cnt_inc(cur_cpu, C_ASID_ROLLOVER);
    for (let c: u32 = 0; c < tlb_ncpus; c++) {
      tlb_flush_cpu(c, 0xffffffff);
      cnt_inc(c, C_FLUSH_FULL);
    }
    for (let c: u32 = 0; c < tlb_ncpus; c++) {
      const m = load<u32>(cpu_rec(c) + CPU_MM);
      if (m != 0 && m != mm && (load<u32>(m + T.MM_HW_ASID) >> 8) != asid_gen) arm64_assign(m);
      if (m != 0) store<u32>(cpu_rec(c) + CPU_ASID, load<u32>(m + T.MM_HW_ASID) & 255);
    }
  }
  arm64_assign(mm);
}

function arm64_assign(mm: u32): void {
  const a = asid_next++;
  store<u32>(mm + T.MM_HW_ASID, (asid_gen << 8) | a);
  store<u32>(asid_owner + a * 8, mm);
  store<u32>(asid_owner + a * 8 + 4, mm_ctx(mm));
}

// The mm whose entries carry `asid` on `cpu`, when they may still be used (else 0).
export function asid_owner_mm(cpu: u32, asid: u32): u32 {
  if (tlb_arch == ARCH_X86) {
    if (asid >= TLB_NR_DYN_ASIDS) return 0;
    const x = ctx_rec(cpu, asid);
    const mm = load<u32>(x, 4);
    if (mm == 0 || load<u32>(mm + T.MM_ASID) != load<u32>(x)) return 0;
    return load<u64>(x, 8) == load<u64>(mm + T.MM_TLB_GEN) ? mm : 0;
  }
  const mm = load<u32>(asid_owner + asid * 8);
  if (mm == 0 || load<u32>(mm + T.MM_ASID) != load<u32>(asid_owner + asid * 8 + 4)) return 0;
  return mm;
}

// --- context switches --------------------------------------------------------------------

// switch_mm_irqs_off(NULL, next, tsk) on `cpu` (next = 0: init_mm)
export function switch_mm_irqs_off(cpu: u32, next: u32): void {
  const c = cpu_rec(cpu);
  const prev = load<u32>(c + CPU_MM);
  const prev_asid = load<u32>(c + CPU_ASID);
  const was_lazy = load<u32>(c + CPU_LAZY) != 0;
  store<u32>(c + CPU_LAZY, 0);
  if (tlb_arch != ARCH_X86) {
    // check_and_switch_context(): ASIDs are global; no flush unless the generation rolled over
    if (next != 0) {
      if ((load<u32>(next + T.MM_HW_ASID) >> 8) != asid_gen) arm64_new_context(next);
      cpumask_set(next, cpu);
      store<u32>(c + CPU_ASID, load<u32>(next + T.MM_HW_ASID) & 255);
    }
    if (prev != next) { cnt_inc(cpu, C_MM_SWITCHES); fp_invalidate(); }
    store<u32>(c + CPU_MM, next);
    return;
  }
  let asid: u32;
  let need_flush: bool;
  let next_gen: u64;
  if (prev == next) {
    if (next == 0 || !was_lazy) return;
    // TLB contents may have gone out of date while this CPU was lazy
    next_gen = mm_gen(next);
    if (load<u64>(ctx_rec(cpu, prev_asid), 8) == next_gen) return;
    asid = prev_asid;
    need_flush = true;
  } else {
    if (next != 0) cpumask_set(next, cpu);
    next_gen = mm_gen(next);
    // choose_new_asid()
    const ctx = mm_ctx(next);
    asid = TLB_NR_DYN_ASIDS;
    need_flush = true;
    for (let a: u32 = 0; a < TLB_NR_DYN_ASIDS; a++) {
      const x = ctx_rec(cpu, a);
      if (load<u32>(x) != ctx || load<u32>(x, 4) != next) continue;
      asid = a;
      need_flush = load<u64>(x, 8) < next_gen;
      break;
    }
    if (asid == TLB_NR_DYN_ASIDS) {
      asid = load<u32>(c + CPU_NEXT_ASID);
      store<u32>(c + CPU_NEXT_ASID, asid + 1);
      if (asid >= TLB_NR_DYN_ASIDS) {
        asid = 0;
        store<u32>(c + CPU_NEXT_ASID, 1);
      }
    }
    cnt_inc(cpu, C_MM_SWITCHES);
  }
  if (need_flush) {
    const x = ctx_rec(cpu, asid);
    store<u32>(x, mm_ctx(next));
    store<u32>(x, next, 4);
    store<u64>(x, next_gen, 8);
    // load_new_mm_cr3(..., need_flush): CR3 without NOFLUSH drops the PCID's entries
    tlb_flush_cpu(cpu, asid);
    cnt_inc(cpu, C_FLUSH_SWITCH);
  }
  fp_invalidate();
  store<u32>(c + CPU_MM, next);
  store<u32>(c + CPU_ASID, asid);
}

// Run task t on its CPU (a context switch if another task or a kernel thread ran there).
export function sched_task(t: u32): void {
  let cpu = load<u32>(t + T.T_CPU);
  if (cpu >= tlb_ncpus) { cpu = 0; store<u32>(t + T.T_CPU, 0); }
  if (cpu != cur_cpu) set_cur_cpu(cpu);
  const c = cpu_rec(cpu);
  const mm = load<u32>(t + T.T_MM);
  if (load<u32>(c + CPU_CURR) != t) {
    store<u32>(c + CPU_CURR, t);
    cnt_inc(cpu, C_CTX_SWITCHES);
    switch_mm_irqs_off(cpu, mm);
  } else if (load<u32>(c + CPU_LAZY) != 0 || load<u32>(c + CPU_MM) != mm) {
    switch_mm_irqs_off(cpu, mm);
  }
}

// A kernel thread (khugepaged, the shrinkers, a debugfs writer) runs on CPU 0 in lazy
// TLB mode: the previous mm stays loaded (enter_lazy_tlb).
export function sched_kthread(): void {
  if (cur_cpu != 0) set_cur_cpu(0);
  const c = cpu_rec(0);
  if (load<u32>(c + CPU_CURR) != 0) {
    store<u32>(c + CPU_CURR, 0);
    cnt_inc(0, C_CTX_SWITCHES);
  }
  if (load<u32>(c + CPU_MM) != 0) store<u32>(c + CPU_LAZY, 1);
  fp_invalidate();
}

// exit_mm(): the exiting task leaves its CPU in lazy TLB mode with the mm still loaded.
export function task_exit_cpu(t: u32): void {
  const cpu = load<u32>(t + T.T_CPU);
  if (cpu >= tlb_ncpus) return;
  const c = cpu_rec(cpu);
  if (load<u32>(c + CPU_CURR) == t) {
    store<u32>(c + CPU_CURR, 0);
    if (load<u32>(c + CPU_MM) != 0) store<u32>(c + CPU_LAZY, 1);
  }
  fp_invalidate();
}

// Move a task to another CPU (sched_setaffinity + migration): its old CPU idles lazily.
export function task_set_cpu(t: u32, cpu: u32): void {
  const old = load<u32>(t + T.T_CPU);
  if (old == cpu) return;
  if (old < tlb_ncpus) {
    const c = cpu_rec(old);
    if (load<u32>(c + CPU_CURR) == t) {
      store<u32>(c + CPU_CURR, 0);
      if (load<u32>(c + CPU_MM) != 0) store<u32>(c + CPU_LAZY, 1);
    }
  }
  store<u32>(t + T.T_CPU, cpu);
  fp_invalidate();
}

// The last reference to mm is gone: no CPU may keep it loaded, even lazily.
export function mm_freed(mm: u32): void {
  for (let cpu: u32 = 0; cpu < tlb_ncpus; cpu++) {
    const c = cpu_rec(cpu);
    if (load<u32>(c + CPU_MM) == mm) {
      store<u32>(c + CPU_MM, 0);
      store<u32>(c + CPU_LAZY, 0);
      store<u32>(c + CPU_ASID, 0);
    }
    for (let a: u32 = 0; a < TLB_NR_DYN_ASIDS; a++) {
      const x = ctx_rec(cpu, a);
      if (load<u32>(x, 4) == mm) { store<u32>(x, 0); store<u32>(x, 0, 4); }
    }
  }
  for (let a: u32 = 0; a < 256; a++) if (load<u32>(asid_owner + a * 8) == mm) store<u32>(asid_owner + a * 8, 0);
  fp_invalidate();
}

// --- x86 flushes ----------------------------------------------------------------------------

// flush_tlb_info
let f_mm: u32 = 0;
let f_start: u64 = 0;
let f_end: u64 = 0;
let f_stride: u32 = 12;
let f_freed: bool = false;
let f_gen: u64 = 0;
let f_cpu: u32 = 0;

// flush_tlb_func() on `cpu`
function flush_tlb_func(cpu: u32): void {
  const c = cpu_rec(cpu);
  const local = cpu == f_cpu;
  const loaded = load<u32>(c + CPU_MM);
  if (!local) count_vm_event(NR_TLB_REMOTE_FLUSH_RECEIVED);
  if (f_mm != loaded) {
    // the CPU was left in the mm_cpumask of the target mm: clear it
    cpumask_clear(f_mm, cpu);
    return;
  }
  if (loaded == 0) return;
  if (load<u32>(c + CPU_LAZY) != 0) {
    switch_mm_irqs_off(cpu, 0);
    return;
  }
  const asid = load<u32>(c + CPU_ASID);
  const x = ctx_rec(cpu, asid);
  const local_gen = load<u64>(x, 8);
  if (f_gen <= local_gen) return;
  const gen = mm_gen(loaded);
  if (local_gen == gen) return;
  if (f_end != TLB_FLUSH_ALL && f_gen == local_gen + 1 && f_gen == gen) {
    // partial flush: INVLPG per stride
    const nr = (f_end - f_start) >> f_stride;
    for (let a = f_start; a < f_end; a += <u64>1 << f_stride) tlb_invalidate_va(cpu, a, asid, true);
    cnt_add(cpu, C_INVLPG, nr);
    cnt_inc(cpu, nr == 1 ? C_FLUSH_SINGLE : C_FLUSH_RANGE);
    if (local) count_vm_events(NR_TLB_LOCAL_FLUSH_ONE, nr);
  } else {
    tlb_flush_cpu(cpu, asid);
    cnt_inc(cpu, C_FLUSH_FULL);
    if (local) count_vm_event(NR_TLB_LOCAL_FLUSH_ALL);
  }
  store<u64>(x, gen, 8);
}

// should_flush_tlb(): lazy CPUs catch up at their next switch; CPUs running other mms
// are left alone (hugemmu never trims the cpumask by time: it has no jiffies)
function should_flush_tlb(cpu: u32): bool {
  const c = cpu_rec(cpu);
  if (load<u32>(c + CPU_LAZY) != 0) return false;
  return load<u32>(c + CPU_MM) == f_mm;
}

// flush_tlb_mm_range(mm, start, end, stride_shift, freed_tables)
export function x86_flush_tlb_mm_range(mm: u32, start: u64, end: u64, stride_shift: u32, freed_tables: bool): void {
  const cpu = cur_cpu;
  const gen = load<u64>(mm + T.MM_TLB_GEN) + 1; // inc_mm_tlb_gen()
  store<u64>(mm + T.MM_TLB_GEN, gen);
  if (end == TLB_FLUSH_ALL || (end - start) >> stride_shift > tlb_single_page_flush_ceiling) {
    start = 0;
    end = TLB_FLUSH_ALL;
  }
  f_mm = mm; f_start = start; f_end = end; f_stride = stride_shift; f_freed = freed_tables; f_gen = gen; f_cpu = cpu;
  const mask = load<u64>(mm + T.MM_CPUMASK) & (tlb_ncpus == 64 ? ~(<u64>0) : (<u64>1 << tlb_ncpus) - 1);
  if ((mask & ~(<u64>1 << cpu)) != 0) {
    // native_flush_tlb_multi(): page-table frees reach lazy CPUs too
    count_vm_event(NR_TLB_REMOTE_FLUSH);
    cnt_inc(cpu, C_SHOOTDOWNS);
    for (let c: u32 = 0; c < tlb_ncpus; c++) {
      if ((mask & (<u64>1 << c)) == 0) continue;
      if (!freed_tables && !should_flush_tlb(c)) continue;
      if (c != cpu) {
        cnt_inc(cpu, C_IPI_SENT);
        cnt_inc(c, C_IPI_RECEIVED);
      }
      flush_tlb_func(c);
    }
  } else if (mm == load<u32>(cpu_rec(cpu) + CPU_MM)) {
    flush_tlb_func(cpu);
  }
}

// --- arm64 flushes ------------------------------------------------------------------------

// __flush_tlb_range(): one broadcast TLBI per stride, or flush_tlb_mm() from MAX_DVM_OPS
// strides on; last_level TLBIs (VALE1IS) keep the walk caches.
export function arm64_flush_tlb_range(mm: u32, start: u64, end: u64, stride_shift: u32, last_level: bool): void {
  if (end == TLB_FLUSH_ALL) { arm64_flush_tlb_mm(mm); return; }
  const stride = <u64>1 << stride_shift;
  start &= ~(stride - 1);
  end = (end + stride - 1) & ~(stride - 1);
  if ((end - start) >> stride_shift >= MAX_DVM_OPS) { arm64_flush_tlb_mm(mm); return; }
  const hw = load<u32>(mm + T.MM_HW_ASID);
  const nr = (end - start) >> stride_shift;
  cnt_add(cur_cpu, C_TLBI_BCAST, nr);
  if ((hw >> 8) != asid_gen) return; // no current ASID: nothing of it is cached
  const asid = hw & 255;
  for (let c: u32 = 0; c < tlb_ncpus; c++) {
    for (let a = start; a < end; a += stride) tlb_invalidate_va(c, a, asid, !last_level);
    cnt_add(c, C_INVLPG, nr);
    cnt_inc(c, nr == 1 ? C_FLUSH_SINGLE : C_FLUSH_RANGE);
  }
}

// flush_tlb_mm(): TLBI ASIDE1IS
export function arm64_flush_tlb_mm(mm: u32): void {
  cnt_inc(cur_cpu, C_TLBI_BCAST);
  const hw = load<u32>(mm + T.MM_HW_ASID);
  if ((hw >> 8) != asid_gen) return;
  for (let c: u32 = 0; c < tlb_ncpus; c++) {
    tlb_flush_cpu(c, hw & 255);
    cnt_inc(c, C_FLUSH_FULL);
  }
}
