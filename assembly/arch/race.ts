// Threads of one mm on several CPUs, interleaved deterministically at the kernel's
// lock points. A race group is a run of commands (accesses of different tasks) that
// execute "at the same time": the first one starts; whenever a running access reaches
// a lock point (fault entry before the mmap/VMA lock, the PTE lock of
// do_anonymous_page) the scheduler may let the next pending access run to completion
// first, then the interrupted one continues. Each decision is a seeded coin flip, or
// always "yes" (preempt at every lock point) for a chosen interleaving.

import { cnt_inc, cur_cpu, cpu_rec, CPU_CURR, C_RACE_SWITCHES } from "./tlb_model";
import { sched_task } from "./cpu";
import { exec_nested } from "./x86/mmu";

export const LP_FAULT: u32 = 1; // do_user_addr_fault(), before lock_vma_under_rcu()/mmap_read_lock()
export const LP_ANON_PTL: u32 = 2; // do_anonymous_page(), before pte_offset_map_lock()

const MAX_PENDING: u32 = 256;
const pending: u32 = <u32>memory.data(4 * MAX_PENDING);
let npending: u32 = 0;
let next_pending: u32 = 0;
let always: bool = false;
let lp_mask: u32 = 0xffffffff; // lock points where the scheduler may switch
let rng: u64 = 0;
export let race_active: bool = false;

// seed 0: preempt at every lock point of `mask`; otherwise xorshift64 coin flips
export function race_begin(seed: u64, mask: u32): void {
  lp_mask = mask == 0 ? 0xffffffff : mask;
  npending = 0;
  next_pending = 0;
  always = seed == 0;
  rng = seed == 0 ? 1 : seed;
  race_active = true;
}

export function race_add(cmd: u32): void {
  if (npending < MAX_PENDING) store<u32>(pending + 4 * npending++, cmd);
}

// Run what is still pending, in order, then leave race mode.
export function race_end(): void {
  while (next_pending < npending) exec_nested(load<u32>(pending + 4 * next_pending++));
  race_active = false;
}

@inline function coin(): bool {
  let x = rng;
  x ^= x << 13; x ^= x >> 7; x ^= x << 17;
  rng = x;
  return (x & 1) != 0;
}

// A lock point of the running access: maybe let the next pending access run first.
export function race_lock_point(where: u32): void {
  if (!race_active || next_pending >= npending || (lp_mask & where) == 0) return;
  if (!always && !coin()) return;
  cnt_inc(cur_cpu, C_RACE_SWITCHES);
  const t = load<u32>(cpu_rec(cur_cpu) + CPU_CURR);
  exec_nested(load<u32>(pending + 4 * next_pending++));
  // the interrupted access goes on where it was
  if (t != 0) sched_task(t);
}
