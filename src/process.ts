/** Process: a task with its own mm, driven through system calls and batched accesses. */
import type { Machine, CommandResult } from './machine.js';
import { ConfigError, ErrnoError, UnsupportedFeatureError } from './errors.js';
import { toBytes } from './units.js';

export type Prot = string | number;

export interface MmapOptions {
  /** address hint, or the address with fixed / fixedNoReplace */
  addr?: number;
  /** 'rw' (default), 'r', 'rwx', 'none', or PROT_* bits */
  prot?: Prot;
  /** 'private|anonymous' (default); add 'fixed', 'fixed_noreplace', 'noreserve', 'populate' */
  flags?: string | number;
  /** hugemmu extension: place the mapping at a multiple of align */
  align?: number | string;
  /** 'anon' (default) or 'memfd' (a shmem file of the mapping's size: memfd_create + ftruncate) */
  backing?: 'anon' | 'memfd';
  /** with the 'hugetlb' flag: the huge page size, '2M' (default) or '1G' */
  hugePageSize?: '2M' | '1G';
}

export interface TouchOptions {
  write?: boolean;
  stride?: number | string;
  /** pattern generation of writes: byte at offset o is (16*gen + o/4096) & 0xff */
  gen?: number;
  /** pattern origin (default: the start address) */
  base?: number;
  /** instruction fetches instead of loads (through the instruction TLBs; NX is checked) */
  fetch?: boolean;
}

export interface ProcStatus {
  VmSize: number;
  VmRSS: number;
  RssAnon: number;
  RssFile: number;
  RssShmem: number;
  VmPTE: number;
  HugetlbPages: number;
  minflt: number;
  majflt: number;
  nr_vmas: number;
}

export interface SmapsEntry {
  start: number;
  end: number;
  pgoff: number;
  /** 'anon' (private anonymous), 'shmem' or 'hugetlb' */
  kind: 'anon' | 'shmem' | 'hugetlb';
  vmFlags: string;
  /** every field in kB as the kernel prints it (THPeligible as 0/1) */
  fields: Record<string, number>;
}

export const PROT_READ = 1, PROT_WRITE = 2, PROT_EXEC = 4;
const MAP_FLAGS: Record<string, number> = {
  shared: 0x01, private: 0x02, shared_validate: 0x03, fixed: 0x10, anonymous: 0x20, anon: 0x20,
  noreserve: 0x4000, populate: 0x8000, hugetlb: 0x40000, fixed_noreplace: 0x100000,
};

export function parseProt(p: Prot): number {
  if (typeof p === 'number') return p;
  if (p === 'none') return 0;
  let v = 0;
  for (const ch of p) {
    if (ch === 'r') v |= PROT_READ;
    else if (ch === 'w') v |= PROT_WRITE;
    else if (ch === 'x') v |= PROT_EXEC;
    else throw new ConfigError(`bad protection '${p}' (use r, w, x combinations or 'none')`);
  }
  return v;
}

function parseFlags(f: string | number): number {
  if (typeof f === 'number') return f;
  let v = 0;
  for (const part of f.split('|').map((s) => s.trim().toLowerCase())) {
    const bit = MAP_FLAGS[part];
    if (bit === undefined) throw new ConfigError(`bad mmap flag '${part}' (known: ${Object.keys(MAP_FLAGS).join(', ')})`);
    v |= bit;
  }
  return v;
}

export class Process {
  private exited = false;
  constructor(readonly machine: Machine, readonly pid: number) {}

  private get core() {
    return this.machine.core;
  }

  private alive(what: string): void {
    if (this.exited) throw new ConfigError(`${what}: process ${this.pid} has exited`);
  }

  private errno(r: number, syscall: string): void {
    this.machine.checkHostStatus(syscall);
    if (r < 0) throw new ErrnoError(this.machine.errnoName(-r), syscall, r);
  }

  mmap(len: number | string, opts: MmapOptions = {}): number {
    this.alive('mmap');
    const flags = parseFlags(opts.flags ?? (opts.backing === 'memfd' ? 'shared' : 'private|anonymous'));
    const memfd = opts.backing === 'memfd';
    if (memfd && (flags & 0x20)) throw new ConfigError("mmap: backing 'memfd' is a file; drop MAP_ANONYMOUS from the flags");
    if (!memfd && (flags & 0x20) === 0) throw new UnsupportedFeatureError('file-backed mmap other than memfd (use backing: \'memfd\')');
    const bytes = toBytes(len, 'mmap length');
    const align = opts.align === undefined ? 0 : toBytes(opts.align, 'mmap align');
    if (align && (align & (align - 1))) throw new ConfigError(`mmap align ${align} is not a power of two`);
    const prot = parseProt(opts.prot ?? 'rw');
    let r: number;
    if (flags & 0x40000) {
      // MAP_HUGETLB with MAP_HUGE_2MB / MAP_HUGE_1GB
      const shift = (opts.hugePageSize ?? '2M') === '1G' ? 30 : 21;
      const fn = this.core.e.sys_mmap_hugetlb as (p: number, a: number, l: number, pr: number, f: number, s: number) => number;
      r = this.core.call('mmap', () => fn(this.pid, opts.addr ?? 0, bytes, prot, flags & ~(0x8000 | 0x40000), shift));
      if (r === this.core.c.NOT_MODELLED) throw new UnsupportedFeatureError('MAP_HUGETLB (hugetlb)');
    } else if (memfd || (flags & 0x0f) === 0x01 || (flags & 0x0f) === 0x03) {
      // shmem: memfd_create()+ftruncate()+mmap(), or MAP_SHARED|MAP_ANONYMOUS (shmem_zero_setup)
      const fn = this.core.e.sys_mmap_shmem as (p: number, a: number, l: number, pr: number, f: number, anon: number) => number;
      r = this.core.call('mmap', () => fn(this.pid, opts.addr ?? 0, bytes, prot, flags & ~0x8000, memfd ? 0 : 1));
    } else {
      r = this.core.call('mmap', () => this.core.e.sys_mmap(this.pid, opts.addr ?? 0, bytes, prot, flags & ~0x8000, align));
    }
    this.errno(r, 'mmap');
    // MAP_POPULATE: mm_populate() faults the range in after the mapping exists
    if (flags & 0x8000) this.core.call('mm_populate', () => (this.core.e.mm_populate as (p: number, a: number, l: number) => number)(this.pid, r, bytes));
    return r;
  }

  munmap(addr: number, len: number | string): void {
    this.alive('munmap');
    const r = this.core.call('munmap', () => this.core.e.sys_munmap(this.pid, addr, toBytes(len, 'munmap length')));
    this.errno(r, 'munmap');
  }

  mprotect(addr: number, len: number | string, prot: Prot): void {
    this.alive('mprotect');
    const r = this.core.call('mprotect', () => this.core.e.sys_mprotect(this.pid, addr, toBytes(len, 'mprotect length'), parseProt(prot)));
    this.errno(r, 'mprotect');
  }

  /** madvise(addr, len, 'dontneed' | 'hugepage' | ... or MADV_* number) */
  madvise(addr: number, len: number | string, advice: string | number): void {
    this.alive('madvise');
    let a: number;
    if (typeof advice === 'number') a = advice;
    else {
      const n = this.machine.core.info.madvise.get(advice.toLowerCase());
      if (n === undefined) throw new ConfigError(`unknown madvise advice '${advice}' (known: ${[...this.machine.core.info.madvise.keys()].join(', ')})`);
      a = n;
    }
    const r = this.core.call('madvise', () => this.core.e.sys_madvise(this.pid, addr, toBytes(len, 'madvise length'), a));
    if (r === this.core.c.NOT_MODELLED) throw new UnsupportedFeatureError(`madvise ${advice}`);
    this.errno(r, 'madvise');
  }

  /** One 1-byte access at addr, addr+stride, ... < addr+len (faulting as needed). */
  touch(addr: number, len: number | string, opts: TouchOptions = {}): CommandResult {
    this.alive('touch');
    return this.machine.exec1({
      op: 'touch', pid: this.pid, addr, len: toBytes(len, 'touch length'),
      stride: opts.stride === undefined ? 4096 : toBytes(opts.stride, 'stride'),
      write: opts.write ?? false, arg: opts.gen ?? 1, base: opts.base ?? addr, fetch: opts.fetch,
    });
  }

  load(addr: number): number {
    this.alive('load');
    this.requireData('load');
    return this.machine.exec1({ op: 'load', pid: this.pid, addr }).value;
  }

  store(addr: number, byte: number): void {
    this.alive('store');
    if (!Number.isInteger(byte) || byte < 0 || byte > 255) throw new ConfigError(`store: ${byte} is not a byte`);
    this.machine.exec1({ op: 'store', pid: this.pid, addr, arg: byte });
  }

  /** Compare the pattern of generation gen (0 = zero bytes) at every stride point. */
  verify(addr: number, len: number | string, gen: number, opts: { stride?: number | string; base?: number } = {}): { mismatches: number; firstBad?: number; got?: number; expected?: number } {
    this.alive('verify');
    this.requireData('verify');
    const r = this.machine.exec1({
      op: 'verify', pid: this.pid, addr, len: toBytes(len, 'verify length'),
      stride: opts.stride === undefined ? 4096 : toBytes(opts.stride, 'stride'), arg: gen, base: opts.base ?? addr,
    });
    if (!r.mismatches) return { mismatches: 0 };
    return { mismatches: r.mismatches, firstBad: r.address, got: r.value & 0xff, expected: (r.value >> 8) & 0xff };
  }

  private requireData(what: string): void {
    if (!this.machine.config.data) throw new ConfigError(`${what} reads page contents: create the machine with {data: true}`);
  }

  /** /proc/PID/status fields (kB; faults as counts) */
  status(): ProcStatus {
    this.alive('status');
    const st = this.core.call('proc_status', () => this.core.e.proc_status(this.pid));
    if (st !== 0) throw new ConfigError(`process ${this.pid} does not exist`);
    const dv = this.core.view();
    const io = this.core.c.LAYOUT_IO;
    const f = (i: number) => dv.getFloat64(io + 8 * i, true);
    const anon = f(0) * 4, file = f(1) * 4, shmem = f(2) * 4;
    return {
      VmSize: f(4) * 4,
      VmRSS: anon + file + shmem,
      RssAnon: anon,
      RssFile: file,
      RssShmem: shmem,
      VmPTE: f(3) / 1024,
      HugetlbPages: f(5) * 4,
      minflt: f(6),
      majflt: f(7),
      nr_vmas: f(8),
    };
  }

  /** /proc/PID/smaps, one entry per VMA */
  smaps(): SmapsEntry[] {
    this.alive('smaps');
    const { c, smapsFields, vmFlags } = this.core.info;
    const out: SmapsEntry[] = [];
    const nr = this.core.e.nr_vmas(this.pid);
    for (let first = 0; first < nr; ) {
      const n = this.core.call('proc_smaps', () => this.core.e.proc_smaps(this.pid, first, nr - first));
      const dv = this.core.view();
      for (let i = 0; i < n; i++) {
        const rec = c.LAYOUT_IO + i * c.SMAPS_RECORD_SIZE;
        const v: Record<string, number> = {};
        smapsFields.forEach((name, j) => (v[name] = dv.getFloat64(rec + 8 * j, true)));
        const flags = v.flags_lo + v.flags_hi * 2 ** 32;
        const names: string[] = [];
        for (let b = 0; b < vmFlags.length; b++) {
          if (vmFlags[b] && Math.floor(flags / 2 ** b) % 2 === 1) names.push(vmFlags[b]);
        }
        const kb = (bytes: number) => Math.floor(bytes / 1024);
        const fields: Record<string, number> = {
          Size: kb(v.end - v.start),
          KernelPageSize: kb(v.KernelPageSize),
          MMUPageSize: kb(v.MMUPageSize),
        };
        for (const name of ['Rss', 'Pss', 'Pss_Dirty', 'Pss_Anon', 'Pss_File', 'Pss_Shmem', 'Shared_Clean', 'Shared_Dirty',
          'Private_Clean', 'Private_Dirty', 'Referenced', 'Anonymous', 'KSM', 'LazyFree', 'AnonHugePages', 'ShmemPmdMapped',
          'FilePmdMapped', 'Shared_Hugetlb', 'Private_Hugetlb', 'Swap', 'SwapPss', 'Locked']) fields[name] = kb(v[name]);
        fields.THPeligible = v.THPeligible;
        const kind = v.kind === 1 ? 'shmem' : v.kind === 2 ? 'hugetlb' : 'anon';
        out.push({ start: v.start, end: v.end, pgoff: v.pgoff, kind, vmFlags: names.join(' '), fields });
      }
      first += n;
      if (n === 0) break;
    }
    return out;
  }

  /** The text of /proc/PID/{status,smaps,maps} */
  text(file: 'status' | 'smaps' | 'maps'): string {
    return this.machine.text(`/proc/${this.pid}/${file}`);
  }

  /** fork(): a child process with a copy-on-write copy of this address space */
  fork(): Process {
    this.alive('fork');
    const fn = this.core.e.sys_fork as ((pid: number) => number) | undefined;
    if (!fn) throw new UnsupportedFeatureError('fork');
    const r = this.core.call('fork', () => fn(this.pid));
    this.errno(r, 'fork');
    return this.machine.adopt(r);
  }

  /** mremap(old, oldLen, newLen, {maymove, fixed}): move or resize a mapping; returns the new address */
  mremap(oldAddr: number, oldLen: number | string, newLen: number | string, opts: { maymove?: boolean; fixed?: number } = {}): number {
    this.alive('mremap');
    const fn = this.core.e.sys_mremap as ((pid: number, a: number, ol: number, nl: number, flags: number, na: number) => number) | undefined;
    if (!fn) throw new UnsupportedFeatureError('mremap');
    const flags = (opts.maymove || opts.fixed !== undefined ? 1 : 0) | (opts.fixed !== undefined ? 2 : 0);
    const r = this.core.call('mremap', () => fn(this.pid, oldAddr, toBytes(oldLen, 'mremap old length'), toBytes(newLen, 'mremap new length'), flags, opts.fixed ?? 0));
    this.errno(r, 'mremap');
    return r;
  }

  /**
   * pin_user_pages() (FOLL_PIN; with write: FOLL_WRITE; longterm: FOLL_LONGTERM), or with
   * {pin: false} get_user_pages() (FOLL_GET). Faults as needed; all or nothing.
   * Returns a handle whose release() unpins/puts every page.
   */
  pin(addr: number, len: number | string, opts: { write?: boolean; longterm?: boolean; pin?: boolean } = {}): { release(): void } {
    this.alive('pin');
    const bytes = toBytes(len, 'pin length');
    const fn = this.core.e.gup as (pid: number, a: number, l: number, w: number, p: number, lt: number) => number;
    const h = this.core.call('gup', () => fn(this.pid, addr, bytes, opts.write ? 1 : 0, opts.pin === false ? 0 : 1, opts.longterm ? 1 : 0));
    this.errno(h, opts.pin === false ? 'get_user_pages' : 'pin_user_pages');
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        const r = this.core.call('gup_put', () => (this.core.e.gup_put as (h: number) => number)(h));
        this.errno(r, 'unpin_user_pages');
      },
    };
  }

  /** debugfs split_huge_pages "<pid>,<start>,<end>[,<order>]": split every large folio in the range; returns the count split */
  splitHugePages(start: number, end: number, order = 0): number {
    this.alive('split_huge_pages');
    const fn = this.core.e.split_huge_pages as (pid: number, s: number, e: number, o: number) => number;
    const r = this.core.call('split_huge_pages', () => fn(this.pid, start, end, order));
    this.errno(r, 'split_huge_pages');
    return r;
  }

  /**
   * HGM (seed 003, variant hgm.enable=madv-split): map [addr, addr + len) of a hugetlb VMA
   * enabled with madvise(..., 'split') by the largest aligned pieces, as UFFDIO_CONTINUE of
   * that range would (hugemmu extension; userfaultfd itself is not modelled).
   */
  hgmMap(addr: number, len: number | string): void {
    this.alive('hgm_map');
    const fn = this.core.e.hugetlb_hgm_map_range as (pid: number, a: number, l: number) => number;
    const r = this.core.call('hgm_map', () => fn(this.pid, addr, toBytes(len, 'hgm_map length')));
    this.errno(r, 'hgm_map');
  }

  /** exit(): the address space is torn down */
  exit(): void {
    if (this.exited) return;
    const st = this.core.call('exit', () => this.core.e.process_exit(this.pid));
    this.machine.checkHostStatus('exit');
    if (st !== 0) throw new ConfigError(`process ${this.pid} does not exist`);
    this.exited = true;
    this.machine.forget(this.pid);
  }

  get hasExited(): boolean {
    return this.exited;
  }

  // --- CPUs and threads --------------------------------------------------------------------

  /** The CPU this task runs on. */
  get cpu(): number {
    return (this.core.e.task_cpu_get as (p: number) => number)(this.pid);
  }

  /** Move the task to another CPU (sched_setaffinity): its next access or system call runs there. */
  setCpu(cpu: number): void {
    this.alive('setCpu');
    this.machine.checkCpu(cpu);
    this.core.call('task_cpu_set', () => (this.core.e.task_cpu_set as (p: number, c: number) => number)(this.pid, cpu));
  }

  /** clone(CLONE_VM|CLONE_THREAD): a new thread of this process, sharing its mm, on CPU `cpu` (default: this task's). */
  thread(opts: { cpu?: number } = {}): Thread {
    this.alive('thread');
    const cpu = opts.cpu ?? this.cpu;
    this.machine.checkCpu(cpu);
    const tid = this.core.call('clone', () => (this.core.e.sys_clone_thread as (p: number, c: number) => number)(this.pid, cpu));
    this.errno(tid, 'clone');
    return new Thread(this.machine, tid, this);
  }

  /** `count` accesses at uniformly random multiples of `granule` (default 64) in [addr, addr+len), in the core. */
  random(addr: number, len: number | string, count: number, opts: { write?: boolean; fetch?: boolean; seed?: number; granule?: number } = {}): CommandResult {
    this.alive('random');
    if (!Number.isInteger(count) || count < 0) throw new ConfigError(`random: count ${count} is not a non-negative integer`);
    return this.machine.exec1({
      op: 'random', pid: this.pid, addr, len: toBytes(len, 'random length'), count,
      write: opts.write ?? false, fetch: opts.fetch, seed: opts.seed ?? 1, granule: opts.granule ?? 64,
    });
  }
}

/**
 * A thread: a task sharing its process's mm (and its smaps/status), with its own CPU.
 * Accesses and system calls run on the thread's CPU; exit() ends only this thread.
 */
export class Thread extends Process {
  constructor(machine: Machine, tid: number, readonly process: Process) {
    super(machine, tid);
  }

  /** the thread id (the pid field of its commands) */
  get tid(): number {
    return this.pid;
  }
}
