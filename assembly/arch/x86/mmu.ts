// The CPU side: the hardware page walk (setting A/D like the MMU does), the
// user page-fault entry (arch/x86/mm/fault.c: do_user_addr_fault) and the
// batched access loop that executes the host's command buffer.

import * as T from "../../mm/mm_types";
import {
  LAYOUT_CMD, CMD_RECORD_SIZE, LAYOUT_RES, RES_RECORD_SIZE, OP_LOAD, OP_STORE, OP_TOUCH, OP_VERIFY, OP_FILL,
  CMDF_WRITE, SIG_NONE, SIG_SEGV, SIG_BUS, SIG_OOM, SIG_HOSTMEM,
} from "../../layout";
import { _PAGE_PRESENT, _PAGE_RW, _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PSE, PTE_PFN_MASK } from "./pgtable_types";
import { pfn_to_host, data_mode, pbtab, PB_SIZE, PB_DATA } from "../../mm/page_alloc";
import { page_mark_nonzero, page_maybe_nonzero } from "../../mm/folio";
import { find_vma, task_by_pid } from "../../mm/mmap";
import {
  handle_mm_fault, FAULT_FLAG_WRITE, FAULT_FLAG_USER, VM_FAULT_OOM, VM_FAULT_SIGBUS, VM_FAULT_SIGSEGV,
  VM_FAULT_ERROR, VM_FAULT_HWPOISON,
} from "../../mm/memory";
import { hostmem_exhausted } from "../../lib/hostmem";

export const X86_PF_PROT: u32 = 1;
export const X86_PF_WRITE: u32 = 2;
export const X86_PF_USER: u32 = 4;

// result of the last walk
export let walk_pfn: u32 = 0; // 4 KiB frame of the accessed byte
export let walk_level: u32 = 0; // 1 = PTE, 2 = PMD leaf, 3 = PUD leaf
export let walk_refs: u32 = 0; // memory references made by the last walk

@inline function entry_host(table_pfn: u32, idx: u32): u32 {
  return load<u32>(pbtab + (table_pfn >> 9) * PB_SIZE + PB_DATA) + ((table_pfn & 511) << 12) + (idx << 3);
}

// One hardware walk. Returns 0 (walk_pfn set) or an x86 page-fault error code | 0x100.
export function hw_walk(mm: u32, addr: u64, write: bool): u32 {
  const need: u64 = write ? _PAGE_PRESENT | _PAGE_RW : _PAGE_PRESENT;
  const pf: u32 = 0x100 | X86_PF_USER | (write ? X86_PF_WRITE : 0);
  let table = load<u32>(mm + T.MM_PGD);
  let shift: u32 = load<u32>(mm + T.MM_LEVELS) == 5 ? 48 : 39;
  let refs: u32 = 0;
  while (true) {
    const p = entry_host(table, <u32>(addr >> shift) & 511);
    let e = load<u64>(p);
    refs++;
    if ((e & _PAGE_PRESENT) == 0) { walk_refs = refs; return pf; }
    if ((e & need) != need) { walk_refs = refs; return pf | X86_PF_PROT; }
    const leaf = shift == 12 || (shift <= 30 && (e & _PAGE_PSE) != 0);
    // the MMU sets A on every level it uses and D on the leaf of a write
    let ne = e | _PAGE_ACCESSED;
    if (leaf && write) ne |= _PAGE_DIRTY;
    if (ne != e) store<u64>(p, ne);
    const pfn = <u32>((e & PTE_PFN_MASK) >> 12);
    if (leaf) {
      walk_pfn = pfn + (<u32>(addr >> 12) & ((<u32>1 << (shift - 12)) - 1));
      walk_level = shift == 12 ? 1 : shift == 21 ? 2 : 3;
      walk_refs = refs;
      return 0;
    }
    table = pfn;
    shift -= 9;
  }
}

// x86 access_error()
function access_error(error_code: u32, vma: u32): bool {
  const f = load<u64>(vma + T.V_FLAGS);
  if (error_code & X86_PF_WRITE) return (f & T.VM_WRITE) == 0;
  if (error_code & X86_PF_PROT) return true;
  return (f & (T.VM_READ | T.VM_WRITE | T.VM_EXEC)) == 0;
}

// do_user_addr_fault(): returns a SIG_* code (SIG_NONE when the fault was handled)
export function do_user_addr_fault(task: u32, addr: u64, error_code: u32): i32 {
  const mm = load<u32>(task + T.T_MM);
  const vma = find_vma(mm, addr);
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

// Translate addr for an access, faulting as needed. Returns SIG_*.
@inline function translate(task: u32, mm: u32, addr: u64, write: bool): i32 {
  for (let tries = 0; tries < 16; tries++) {
    const r = hw_walk(mm, addr, write);
    if (r == 0) return SIG_NONE;
    const sig = do_user_addr_fault(task, addr, r & 0xff);
    if (sig != SIG_NONE) { access_sig_addr = addr; return sig; }
    access_faults++;
  }
  assert(false, "translate: fault did not resolve the access");
  return SIG_SEGV;
}

@inline function pattern(off: u64, gen: u32): u32 {
  return (gen * 16 + <u32>(off >> 12)) & 0xff;
}

// Execute commands [first, first + n) of the command buffer.
export function run_commands(first: u32, n: u32): void {
  for (let i = first; i < first + n; i++) {
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
    if (task == 0) { store<i32>(r, -1); continue; }
    const mm = load<u32>(task + T.T_MM);
    const addr = <u64>load<f64>(c, 8);
    const len = <u64>load<f64>(c, 16);
    let stride = <u64>load<f64>(c, 24);
    const base = <u64>load<f64>(c, 32);
    access_faults = 0;
    let sig: i32 = SIG_NONE;
    if (op == OP_LOAD || op == OP_STORE) {
      const write = op == OP_STORE;
      sig = translate(task, mm, addr, write);
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
      if (stride == 0) stride = 4096;
      const end = addr + len;
      for (let a = addr; a < end; a += stride) {
        sig = translate(task, mm, a, write);
        if (sig != SIG_NONE) break;
        if (write) {
          const v = op == OP_FILL ? arg : pattern(a - base, arg);
          if (data_mode) store<u8>(pfn_to_host(walk_pfn) + (<u32>a & 4095), <u8>v);
          else if (v != 0) page_mark_nonzero(walk_pfn);
        }
      }
    } else if (op == OP_VERIFY) {
      if (stride == 0) stride = 4096;
      const end = addr + len;
      let count: f64 = 0;
      for (let a = addr; a < end; a += stride) {
        sig = translate(task, mm, a, false);
        if (sig != SIG_NONE) break;
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
    store<i32>(r, sig);
    store<f64>(r, <f64>access_faults, 8);
    if (sig != SIG_NONE) store<f64>(r, <f64>access_sig_addr, 16);
  }
}
