// The CPU side of an access: address translation through the TLB model
// (arch/tlb_model.ts), the user page-fault entry (arch/x86/mm/fault.c:
// do_user_addr_fault) and the batched access loop that executes the host's
// command buffer, each command on the CPU of its task (arch/cpu.ts).

import * as T from "../../mm/mm_types";
import {
  LAYOUT_CMD, CMD_RECORD_SIZE, LAYOUT_RES, RES_RECORD_SIZE, OP_LOAD, OP_STORE, OP_TOUCH, OP_VERIFY, OP_FILL,
  OP_RANDOM, CMDF_WRITE, CMDF_FETCH, CMDF_RACE, CMDF_RACE_START, SIG_NONE, SIG_SEGV, SIG_BUS, SIG_OOM, SIG_HOSTMEM,
} from "../../layout";
import { pfn_to_host, data_mode } from "../../mm/page_alloc";
import { page_mark_nonzero, page_maybe_nonzero } from "../../mm/folio";
import { find_vma, task_by_pid } from "../../mm/mmap";
import {
  handle_mm_fault, FAULT_FLAG_WRITE, FAULT_FLAG_USER, VM_FAULT_OOM, VM_FAULT_SIGBUS, VM_FAULT_SIGSEGV,
  VM_FAULT_ERROR, VM_FAULT_HWPOISON,
} from "../../mm/memory";
import { hostmem_exhausted } from "../../lib/hostmem";
import {
  tlb_translate, tlb_read_run, tlb_write_run, run_pfns, RUN_MAX, TLB_MODEL, off_translate, tlb_mode, TLB_OFF, t_pfn, t_from_tlb, tlb_fault_invalidate, pt_allows, fp_base, fp_shift, fp_pfn, fp_pmask, fp_kinds,
  fp_hit, fp_flush, fp_invalidate, cnt_inc, cnt_add, cur_cpu, K_READ, K_WRITE, K_FETCH, C_LOADS, C_STORES,
  C_FETCHES, C_FAULTS, C_SPURIOUS, X86_PF_PROT, X86_PF_WRITE, X86_PF_USER, X86_PF_INSTR,
} from "../tlb_model";
import { sched_task } from "../cpu";
import { contpte_on, contpte_reconcile } from "../contpte";
import { race_begin, race_add, race_end, race_lock_point, LP_FAULT, race_active } from "../race";

export { X86_PF_PROT, X86_PF_WRITE, X86_PF_USER, X86_PF_INSTR };

// x86 access_error()
function access_error(error_code: u32, vma: u32): bool {
  const f = load<u64>(vma + T.V_FLAGS);
  if (error_code & X86_PF_WRITE) return (f & T.VM_WRITE) == 0;
  if (error_code & X86_PF_PROT) return true;
  return (f & (T.VM_READ | T.VM_WRITE | T.VM_EXEC)) == 0;
}

// do_user_addr_fault(): returns a SIG_* code (SIG_NONE when the fault was handled)
export function do_user_addr_fault(task: u32, addr: u64, error_code: u32): i32 {
  if (race_active) race_lock_point(LP_FAULT);
  const mm = load<u32>(task + T.T_MM);
  // find_vma(), its per-mm cache first
  let vma = load<u32>(mm + T.MM_VMA_CACHE);
  if (vma == 0 || load<u64>(vma + T.V_START) > addr || load<u64>(vma + T.V_END) <= addr) vma = find_vma(mm, addr);
  if (vma == 0 || load<u64>(vma + T.V_START) > addr) return SIG_SEGV; // bad_area (no stack expansion)
  if (access_error(error_code, vma)) return SIG_SEGV; // bad_area_access_error
  let flags = FAULT_FLAG_USER;
  if (error_code & X86_PF_WRITE) flags |= FAULT_FLAG_WRITE;
  const fault = handle_mm_fault(task, vma, addr, flags);
  if (fault & VM_FAULT_ERROR) {
    if (fault & VM_FAULT_OOM) return hostmem_exhausted ? SIG_HOSTMEM : SIG_OOM;
    if (fault & (VM_FAULT_SIGBUS | VM_FAULT_HWPOISON)) return SIG_BUS;
    if (fault & VM_FAULT_SIGSEGV) return SIG_SEGV;
  }
  return SIG_NONE;
}

export let access_faults: u32 = 0; // faults taken by the current command
export let access_sig_addr: u64 = 0;
let walk_pfn: u32 = 0; // frame of the last translated byte

// The fault side of translate(): handle faults until the access translates. Returns SIG_*.
function translate_faulting(task: u32, mm: u32, addr: u64, kind: u32, r: u32): i32 {
  for (let tries = 0; tries < 64; tries++) {
    // the fault drops every translation of addr on this CPU (SDM 4.10.4.1)
    tlb_fault_invalidate(addr);
    const cpu = cur_cpu;
    cnt_inc(cpu, C_FAULTS);
    if (t_from_tlb && pt_allows(mm, addr, kind)) cnt_inc(cpu, C_SPURIOUS);
    const sig = do_user_addr_fault(task, addr, r & 0xff);
    // another thread may have run at a lock point: back to this task's CPU
    if (race_active) sched_task(task);
    if (contpte_on) contpte_reconcile(mm, addr & ~(<u64>4095), (addr & ~(<u64>4095)) + 4096, true);
    if (sig != SIG_NONE) { access_sig_addr = addr; return sig; }
    access_faults++;
    r = tlb_mode == TLB_OFF ? off_translate(mm, addr, kind) : tlb_translate(mm, addr, kind);
    if (r == 0) { walk_pfn = t_pfn; return SIG_NONE; }
  }
  assert(false, "translate: fault did not resolve the access");
  return SIG_SEGV;
}

@inline function pattern(off: u64, gen: u32): u32 {
  return (gen * 16 + <u32>(off >> 12)) & 0xff;
}

// One access of `kind`; the fast path is the last translation (see tlb_model.ts).
@inline function access(task: u32, mm: u32, a: u64, kind: u32): i32 {
  if (((a ^ fp_base) >> fp_shift) == 0 && ((fp_kinds >> kind) & 1) != 0) {
    walk_pfn = fp_pfn + (<u32>(a >> 12) & fp_pmask);
    fp_hit();
    return SIG_NONE;
  }
  const r = tlb_mode == TLB_OFF ? off_translate(mm, a, kind) : tlb_translate(mm, a, kind);
  if (r == 0) { walk_pfn = t_pfn; return SIG_NONE; }
  return translate_faulting(task, mm, a, kind, r);
}

// The byte a fill or write touch stores at a (frame pfn): the data, or in metadata
// mode the page's "may be nonzero" mark.
@inline function touch_store(op: u32, a: u64, base: u64, arg: u32, pfn: u32): void {
  const v = op == OP_FILL ? arg : pattern(a - base, arg);
  if (data_mode) store<u8>(pfn_to_host(pfn) + (<u32>a & 4095), <u8>v);
  else if (v != 0) page_mark_nonzero(pfn);
}

// splitmix64: the random stream of OP_RANDOM
@inline function splitmix(x: u64): u64 {
  let z = x;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
  z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
  return z ^ (z >> 31);
}

// Execute command i of the command buffer on the CPU of its task.
function exec_command(i: u32): void {
  const c = LAYOUT_CMD + i * CMD_RECORD_SIZE;
  const r = LAYOUT_RES + i * RES_RECORD_SIZE;
  const w0 = load<u32>(c);
  const op = w0 & 0xff;
  const flags = (w0 >> 8) & 0xff;
  const arg = w0 >> 16;
  const task = task_by_pid(load<u32>(c, 4));
  store<i32>(r, SIG_NONE);
  store<u32>(r, 0, 4);
  store<f64>(r, 0, 8);
  store<f64>(r, 0, 16);
  store<f64>(r, 0, 24);
  if (task == 0) { store<i32>(r, -1); return; }
  sched_task(task);
  const mm = load<u32>(task + T.T_MM);
  const addr = <u64>load<f64>(c, 8);
  const len = <u64>load<f64>(c, 16);
  let stride = <u64>load<f64>(c, 24);
  const base = <u64>load<f64>(c, 32);
  access_faults = 0;
  let sig: i32 = SIG_NONE;
  let n: u64 = 0; // accesses made
  let kind: u32 = K_READ;
  if (op == OP_LOAD || op == OP_STORE) {
    const write = op == OP_STORE;
    kind = write ? K_WRITE : K_READ;
    sig = access(task, mm, addr, kind);
    n = 1;
    if (sig == SIG_NONE) {
      if (data_mode) {
        const h = pfn_to_host(walk_pfn) + (<u32>addr & 4095);
        if (write) store<u8>(h, <u8>arg); else store<u32>(r, load<u8>(h), 4);
      } else if (write) {
        if (arg != 0) page_mark_nonzero(walk_pfn);
      } else {
        store<u32>(r, page_maybe_nonzero(walk_pfn) ? 0x100 : 0, 4); // 0x100: content unknown
      }
    }
  } else if (op == OP_TOUCH || op == OP_FILL) {
    const write = op == OP_FILL || (flags & CMDF_WRITE) != 0;
    kind = write ? K_WRITE : (flags & CMDF_FETCH) != 0 ? K_FETCH : K_READ;
    if (stride == 0) stride = 4096;
    const end = addr + len;
    if (!write && tlb_mode == TLB_MODEL && kind == K_READ && stride >= 4096) {
      // a read run with a new page per access: the batched walk path, and the
      // per-access path where a run stops (its own loop: the fast-path loop below
      // stays as tight as it was)
      for (let a = addr; a < end; a += stride) {
        const b = tlb_read_run(mm, a, end, stride);
        n += (b - a) / stride;
        a = b;
        if (a >= end) break;
        sig = access(task, mm, a, kind);
        if (sig != SIG_NONE) break;
        n++;
      }
    } else if (!write) {
      for (let a = addr; a < end; a += stride) {
        sig = access(task, mm, a, kind);
        if (sig != SIG_NONE) break;
        n++;
      }
    } else if (tlb_mode == TLB_MODEL && stride >= 4096) {
      // a write run: batches of translations, then their stores (a store changes no
      // translation; a fault, which could, ends a batch)
      for (let a = addr; a < end; ) {
        const b = tlb_write_run(mm, a, end, stride);
        const k = <u32>((b - a) / stride);
        for (let i: u32 = 0; i < k; i++) {
          const x = a + <u64>i * stride;
          touch_store(op, x, base, arg, load<u32>(run_pfns + (i << 2)));
        }
        n += k;
        a = b;
        if (a >= end) break;
        if (k == RUN_MAX) continue;
        sig = access(task, mm, a, K_WRITE);
        if (sig != SIG_NONE) break;
        n++;
        touch_store(op, a, base, arg, walk_pfn);
        a += stride;
      }
    } else {
      for (let a = addr; a < end; a += stride) {
        sig = access(task, mm, a, K_WRITE);
        if (sig != SIG_NONE) break;
        n++;
        touch_store(op, a, base, arg, walk_pfn);
      }
    }
  } else if (op == OP_RANDOM) {
    const write = (flags & CMDF_WRITE) != 0;
    kind = write ? K_WRITE : (flags & CMDF_FETCH) != 0 ? K_FETCH : K_READ;
    const count = stride;
    let granule = <u64>load<f64>(c, 40);
    if (granule == 0) granule = 64;
    const units = len / granule;
    let x = base;
    if (units != 0) {
      for (let k: u64 = 0; k < count; k++) {
        x += 0x9e3779b97f4a7c15;
        const a = addr + (splitmix(x) % units) * granule;
        sig = access(task, mm, a, kind);
        if (sig != SIG_NONE) break;
        n++;
        if (write) {
          if (data_mode) store<u8>(pfn_to_host(walk_pfn) + (<u32>a & 4095), <u8>arg);
          else if (arg != 0) page_mark_nonzero(walk_pfn);
        }
      }
    }
  } else if (op == OP_VERIFY) {
    if (stride == 0) stride = 4096;
    const end = addr + len;
    let count: f64 = 0;
    for (let a = addr; a < end; a += stride) {
      sig = access(task, mm, a, K_READ);
      if (sig != SIG_NONE) break;
      n++;
      const want = arg == 0 ? 0 : pattern(a - base, arg);
      const got = data_mode ? <u32>load<u8>(pfn_to_host(walk_pfn) + (<u32>a & 4095)) : 0;
      if (got != want) {
        if (count == 0) {
          store<f64>(r, <f64>a, 16);
          store<u32>(r, got | (want << 8), 4);
        }
        count += 1;
      }
    }
    store<f64>(r, count, 24);
  }
  fp_flush();
  cnt_add(cur_cpu, kind == K_WRITE ? C_STORES : kind == K_FETCH ? C_FETCHES : C_LOADS, n + (sig != SIG_NONE ? 1 : 0));
  store<i32>(r, sig);
  store<f64>(r, <f64>access_faults, 8);
  if (sig != SIG_NONE) store<f64>(r, <f64>access_sig_addr, 16);
}

// A pending access of a race group runs now, inside a lock point of another one.
export function exec_nested(i: u32): void {
  const faults = access_faults;
  const sig_addr = access_sig_addr;
  const pfn = walk_pfn;
  fp_invalidate();
  exec_command(i);
  access_faults = faults;
  access_sig_addr = sig_addr;
  walk_pfn = pfn;
  fp_invalidate();
}

// Execute commands [first, first + n) of the command buffer.
export function run_commands(first: u32, n: u32): void {
  let i = first;
  const end = first + n;
  while (i < end) {
    const fl = (load<u32>(LAYOUT_CMD + i * CMD_RECORD_SIZE) >> 8) & 0xff;
    if ((fl & CMDF_RACE_START) == 0) { exec_command(i); i++; continue; }
    // a race group: this command and the following CMDF_RACE ones run concurrently
    let j = i + 1;
    while (j < end) {
      const f2 = (load<u32>(LAYOUT_CMD + j * CMD_RECORD_SIZE) >> 8) & 0xff;
      if ((f2 & CMDF_RACE) == 0 || (f2 & CMDF_RACE_START) != 0) break;
      j++;
    }
    race_begin(<u64>load<f64>(LAYOUT_CMD + i * CMD_RECORD_SIZE, 40), (fl >> 4) & 3);
    for (let k = i + 1; k < j; k++) race_add(k);
    exec_command(i);
    race_end();
    i = j;
  }
  fp_invalidate();
}
