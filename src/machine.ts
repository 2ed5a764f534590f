/** Machine: one emulated computer (RAM, sysfs knobs, processes) backed by one core instance. */
import { Core, defaultFlavor, type KnobInfo } from './core.js';
import { resolveConfig, type MachineConfig, type ResolvedConfig } from './config.js';
import { ConfigError, ErrnoError, HostMemoryError, InvariantError, SignalError, UnsupportedFeatureError } from './errors.js';
import { Process, Thread } from './process.js';
import { encodeTlbConfig, deriveTlbCounters, type TlbStats, type TlbCounters } from './tlb.js';
import * as procfs from './procfs.js';

export interface Command {
  /** random: `count` accesses at uniformly random multiples of `granule` (default 64) in [addr, addr+len) */
  op: 'load' | 'store' | 'touch' | 'verify' | 'fill' | 'random';
  pid: number;
  addr: number;
  len?: number;
  stride?: number;
  /** pattern origin for touch/verify (the pattern byte of offset o is (16*gen + o/4096) & 0xff) */
  base?: number;
  write?: boolean;
  /** store/fill: the byte; touch/verify: the generation */
  arg?: number;
  /** touch/random: instruction fetches (instruction TLBs; NX is checked) */
  fetch?: boolean;
  /** random: number of accesses, PRNG seed, address granule */
  count?: number;
  seed?: number;
  granule?: number;
}

export interface CommandResult {
  /** 0, or the signal: 11 SIGSEGV, 7 SIGBUS, 9 OOM */
  signal: number;
  value: number;
  faults: number;
  /** fault address, or the first mismatching address of a verify */
  address: number;
  mismatches: number;
}

const OPS = { load: 1, store: 2, touch: 3, verify: 4, fill: 5, random: 6 } as const;

export class Machine {
  readonly core: Core;
  readonly config: ResolvedConfig;
  private knobByPath = new Map<string, KnobInfo>();
  private procs = new Map<number, Process>();

  private constructor(core: Core, config: ResolvedConfig) {
    this.core = core;
    this.config = config;
    for (const k of core.info.knobs) this.knobByPath.set(k.path, k);
  }

  static async create(config: MachineConfig = {}): Promise<Machine> {
    const cfg = resolveConfig(config);
    const core = await Core.create(cfg.core);
    const m = new Machine(core, cfg);
    const c = core.c;
    const dv = core.view();
    dv.setFloat64(c.LAYOUT_CTRL + c.CTRL_RAM_PAGES, Math.floor(cfg.ram / 4096), true);
    dv.setUint32(c.LAYOUT_CTRL + c.CTRL_DATA_MODE, cfg.data ? 1 : 0, true);
    dv.setUint32(c.LAYOUT_CTRL + c.CTRL_PGTABLE_LEVELS, cfg.pagingLevels, true);
    dv.setUint32(c.LAYOUT_CTRL + c.CTRL_HOST_LIMIT_PAGES, Math.floor(cfg.hostMemoryLimit / 65536), true);
    dv.setFloat64(c.LAYOUT_CTRL + c.CTRL_RESULT0, cfg.minFreeKbytes, true);
    const st = core.call('machine_init', () => core.e.machine_init());
    if (st === c.ERR_HOST_MEMORY) throw new HostMemoryError('Machine.create');
    if (st !== 0) throw new ConfigError(`the core refused the machine configuration (status ${st})`);
    m.setupTlb();
    for (const [path, v] of Object.entries(cfg.sysfs)) {
      if (!m.knobByPath.has(path)) throw new ConfigError(`config.sysfs: unknown knob '${path}'`);
      m.setSysfs(path, v);
    }
    for (const [name, v] of Object.entries(cfg.variants)) {
      if (!m.knobByPath.has('hugemmu/' + name)) throw new ConfigError(`config.variants: unknown variant '${name}' (known: ${m.variantNames().join(', ')})`);
      m.setSysfs('hugemmu/' + name, v);
    }
    return m;
  }

  variantNames(): string[] {
    return [...this.knobByPath.keys()].filter((p) => p.startsWith('hugemmu/')).map((p) => p.slice(8));
  }

  knobs(): KnobInfo[] {
    return this.core.info.knobs;
  }

  /** Start a new process with an empty address space (on CPU `cpu`, default 0). */
  spawn(opts: { cpu?: number } = {}): Process {
    if (opts.cpu !== undefined) this.checkCpu(opts.cpu);
    const pid = this.core.call('spawn', () => this.core.e.spawn());
    if (pid < 0) {
      if (this.core.status() === this.core.c.ERR_HOST_MEMORY) throw new HostMemoryError('spawn');
      throw new ErrnoError(this.errnoName(-pid), 'fork', pid);
    }
    const p = this.adopt(pid);
    if (opts.cpu !== undefined) p.setCpu(opts.cpu);
    return p;
  }

  /** @internal */
  adopt(pid: number): Process {
    const p = new Process(this, pid);
    this.procs.set(pid, p);
    return p;
  }

  /** @internal */
  forget(pid: number): void {
    this.procs.delete(pid);
  }

  processes(): Process[] {
    return [...this.procs.values()];
  }

  errnoName(code: number): string {
    return this.core.info.errno.get(code) ?? `E${code}`;
  }

  /** @internal throw for status codes that mean "host memory" */
  checkHostStatus(what: string): void {
    if (this.core.status() === this.core.c.ERR_HOST_MEMORY) throw new HostMemoryError(what);
  }

  // --- sysfs ------------------------------------------------------------------------------

  private knob(path: string): KnobInfo {
    const p = path.replace(/^\/sys\/kernel\/mm\//, '').replace(/^\/proc\/sys\//, '');
    const k = this.knobByPath.get(p);
    if (!k) throw new ConfigError(`unknown knob '${path}'`);
    return k;
  }

  /** Write a knob as its sysfs file would be written ('always', '511', ...). */
  setSysfs(path: string, value: string | number): void {
    const k = this.knob(path);
    let v: number;
    if (k.values) {
      v = k.values.indexOf(String(value).trim());
      if (v < 0) throw new ErrnoError('EINVAL', `write ${k.path}`, -22);
    } else {
      v = typeof value === 'number' ? value : Number(String(value).trim());
      if (!Number.isInteger(v) || v < k.min || v > k.max) throw new ErrnoError('EINVAL', `write ${k.path}`, -22);
    }
    const r = this.core.call('sysfs_set', () => this.core.e.sysfs_set(k.id, v));
    this.checkHostStatus(`write ${k.path}`);
    if (r === this.core.c.NOT_MODELLED) throw new UnsupportedFeatureError(`write ${k.path}`);
    if (r < 0) throw new ErrnoError(this.errnoName(-r), `write ${k.path}`, r);
  }

  /** The selected value of a knob ('madvise', '511'). */
  getSysfs(path: string): string {
    const k = this.knob(path);
    const v = this.core.e.sysfs_get(k.id);
    return k.values ? k.values[v] : String(v);
  }

  /** The knob as its file reads ('always [madvise] never'). */
  readSysfs(path: string): string {
    const k = this.knob(path);
    const v = this.core.e.sysfs_get(k.id);
    if (!k.values) return String(v);
    return k.values.map((s, i) => (i === v ? `[${s}]` : s)).join(' ');
  }

  // --- counters ------------------------------------------------------------------------------

  /** /proc/vmstat events */
  vmstat(): Record<string, number> {
    const { c, vmEvents } = this.core.info;
    const dv = this.core.view();
    const out: Record<string, number> = {};
    vmEvents.forEach((n, i) => {
      out[n] = Number(dv.getBigUint64(c.LAYOUT_COUNTERS + c.CNT_VM_EVENTS + 8 * i, true));
    });
    return out;
  }

  /** node statistics in pages (NR_ANON_MAPPED as 'nr_anon_pages', ...) */
  nodeStats(): Record<string, number> {
    const { c, nodeStats } = this.core.info;
    const dv = this.core.view();
    const out: Record<string, number> = {};
    nodeStats.forEach((n, i) => {
      out[n] = Number(dv.getBigInt64(c.LAYOUT_COUNTERS + c.CNT_NODE_STATS + 8 * i, true));
    });
    return out;
  }

  /** per-size mTHP stats: {'64kB': {anon_fault_alloc: 4, ...}, ...} with the files each size has */
  mthp(): Record<string, Record<string, number>> {
    const { c, mthpStats, mthpPresent } = this.core.info;
    const dv = this.core.view();
    const out: Record<string, Record<string, number>> = {};
    for (let o = 1; o < c.MTHP_ORDERS; o++) {
      if (!mthpPresent[o].some(Boolean)) continue;
      if (o === 18 && !this.knobByPath.has('transparent_hugepage/hugepages-1048576kB/enabled')) continue;
      const rec: Record<string, number> = {};
      mthpStats.forEach((s, i) => {
        if (mthpPresent[o][i])
          rec[s] = Number(dv.getBigInt64(c.LAYOUT_COUNTERS + c.CNT_MTHP + 8 * (o * c.MTHP_STATS_PER_ORDER + i), true));
      });
      out[`${4 << o}kB`] = rec;
    }
    return out;
  }

  /** hugetlb pools per size (/sys/kernel/mm/hugepages/hugepages-*kB/), in pages */
  hugetlbPools(): Record<string, { nr_hugepages: number; free_hugepages: number; resv_hugepages: number; surplus_hugepages: number }> {
    const fn = this.core.e.hstate_info as ((order: number) => number) | undefined;
    const out: ReturnType<Machine['hugetlbPools']> = {};
    for (const [key, order] of [['2048kB', 9], ['1048576kB', 18]] as const) {
      if (!fn) { out[key] = { nr_hugepages: 0, free_hugepages: 0, resv_hugepages: 0, surplus_hugepages: 0 }; continue; }
      this.core.call('hstate_info', () => fn(order));
      const dv = this.core.view();
      const io = this.core.c.LAYOUT_IO;
      out[key] = {
        nr_hugepages: dv.getFloat64(io, true), free_hugepages: dv.getFloat64(io + 8, true),
        resv_hugepages: dv.getFloat64(io + 16, true), surplus_hugepages: dv.getFloat64(io + 24, true),
      };
    }
    return out;
  }

  /** /proc/meminfo fields in kB (and HugePages_* in pages) */
  meminfo(): Record<string, number> {
    return procfs.meminfo(this);
  }

  /** The text of a /proc or /sys file, in the kernel's format. */
  text(path: string): string {
    return procfs.text(this, path);
  }

  /** Verify the core's invariants (mapcounts, refcounts, RSS, page-table counts, free memory) and the TLBs. */
  checkInvariants(): void {
    const code = this.core.call('invariants', () => this.core.e.invariants());
    if (code === 0) { this.checkTlb(); return; }
    const dv = this.core.view();
    const io = this.core.c.LAYOUT_IO;
    const a = dv.getFloat64(io + 8, true), b = dv.getFloat64(io + 16, true), d = dv.getFloat64(io + 24, true);
    const what = this.core.info.invariants.get(code) ?? `invariant ${code}`;
    throw new InvariantError(`invariant violated: ${what} (details: ${a}, expected ${b}, found ${d})`, code);
  }

  /** Run khugepaged: `wakeups` scan passes of pages_to_scan pages each; returns THPs collapsed. */
  khugepaged(wakeups = 1): number {
    const r = this.core.call('khugepaged', () => (this.core.e.khugepaged_run as (n: number) => number)(wakeups));
    this.checkHostStatus('khugepaged');
    return r;
  }

  /** echo 2 > /proc/sys/vm/drop_caches: run the shrinkers (deferred split queue, huge zero folio); returns folios split. */
  dropCaches(): number {
    const r = this.core.call('drop_caches', () => (this.core.e.drop_caches as () => number)());
    this.checkHostStatus('drop_caches');
    return r;
  }

  /**
   * Fault injection (like fail_page_alloc): among allocations of order minOrder..maxOrder,
   * let `skip` succeed, then fail the next n.
   */
  injectAllocFailures(n: number, minOrder = 0, opts: { maxOrder?: number; skip?: number } = {}): void {
    this.core.e.inject_alloc_failures(n, minOrder, opts.maxOrder ?? 31, opts.skip ?? 0);
  }

  /** Host memory used by the core: wasm memory size and bytes handed out by its allocator. */
  hostMemory(): { wasmBytes: number; heapBytes: number } {
    return { wasmBytes: this.core.hostBytes(), heapBytes: this.core.heapUsed() };
  }

  // --- batched accesses ----------------------------------------------------------------------

  /** Run commands in the core in batches; one result per command. */
  exec(cmds: Command[], race?: { seed: number; at?: 'any' | 'fault' | 'pte-lock' }): CommandResult[] {
    const c = this.core.c;
    const out: CommandResult[] = [];
    if (race && cmds.length > c.CMD_MAX) throw new ConfigError(`race: at most ${c.CMD_MAX} accesses`);
    for (let first = 0; first < cmds.length; first += c.CMD_MAX) {
      const n = Math.min(c.CMD_MAX, cmds.length - first);
      let dv = this.core.view();
      for (let i = 0; i < n; i++) {
        const cmd = cmds[first + i];
        const p = c.LAYOUT_CMD + i * c.CMD_RECORD_SIZE;
        let flags = (cmd.write ? c.CMDF_WRITE : 0) | (cmd.fetch ? c.CMDF_FETCH : 0);
        if (race) {
          flags |= i === 0 ? c.CMDF_RACE | c.CMDF_RACE_START : c.CMDF_RACE;
          if (i === 0 && race.at === 'fault') flags |= c.CMDF_RACE_AT_FAULT;
          if (i === 0 && race.at === 'pte-lock') flags |= c.CMDF_RACE_AT_PTL;
        }
        dv.setUint32(p, OPS[cmd.op] | (flags << 8) | ((cmd.arg ?? 0) << 16), true);
        dv.setUint32(p + 4, cmd.pid, true);
        dv.setFloat64(p + 8, cmd.addr, true);
        dv.setFloat64(p + 16, cmd.len ?? 1, true);
        if (cmd.op === 'random') {
          dv.setFloat64(p + 24, cmd.count ?? 0, true);
          dv.setFloat64(p + 32, cmd.seed ?? 1, true);
          dv.setFloat64(p + 40, cmd.granule ?? 64, true);
        } else {
          dv.setFloat64(p + 24, cmd.stride ?? 4096, true);
          dv.setFloat64(p + 32, cmd.base ?? cmd.addr, true);
          dv.setFloat64(p + 40, i === 0 && race ? race.seed : 0, true);
        }
      }
      this.core.call('run', () => this.core.e.run(0, n));
      dv = this.core.view();
      for (let i = 0; i < n; i++) {
        const r = c.LAYOUT_RES + i * c.RES_RECORD_SIZE;
        const signal = dv.getInt32(r, true);
        if (signal === c.SIG_HOSTMEM) throw new HostMemoryError(`${cmds[first + i].op} at 0x${dv.getFloat64(r + 16, true).toString(16)}`);
        out.push({
          signal,
          value: dv.getUint32(r + 4, true),
          faults: dv.getFloat64(r + 8, true),
          address: dv.getFloat64(r + 16, true),
          mismatches: dv.getFloat64(r + 24, true),
        });
      }
    }
    return out;
  }

  /** @internal run one command, throwing SignalError on a signal */
  exec1(cmd: Command): CommandResult {
    const r = this.exec([cmd])[0];
    if (r.signal === -1) throw new ConfigError(`process ${cmd.pid} does not exist`);
    if (r.signal !== 0) {
      const name = r.signal === 11 ? 'SIGSEGV' : r.signal === 7 ? 'SIGBUS' : 'OOM';
      throw new SignalError(name, r.address, r.faults);
    }
    return r;
  }

  /** Pages free in the buddy allocator. */
  freePages(): number {
    return this.core.e.free_pages_count();
  }

  // --- CPUs, threads and the TLB model (src/tlb.ts, assembly/arch/) ------------------------

  private setupTlb(): void {
    const cfg = this.config;
    const check = cfg.tlbCheck ?? (cfg.core ?? defaultFlavor()) === 'debug';
    const words = encodeTlbConfig({ cpus: cfg.cpus, geometry: cfg.tlbGeometry, check });
    const dv = this.core.view();
    words.forEach((w, i) => dv.setFloat64(this.core.c.LAYOUT_IO + 8 * i, w, true));
    const st = this.core.call('tlb_setup', () => (this.core.e.tlb_setup as () => number)());
    if (st === this.core.c.ERR_HOST_MEMORY) throw new HostMemoryError('Machine.create (TLB arrays)');
    if (st !== 0) throw new ConfigError(`config.tlb: the core refused the TLB geometry (status ${st})`);
  }

  /** @internal */
  checkCpu(cpu: number): void {
    if (!Number.isInteger(cpu) || cpu < 0 || cpu >= this.config.cpus)
      throw new ConfigError(`CPU ${cpu} does not exist (the machine has cpus: ${this.config.cpus}, numbered from 0)`);
  }

  /**
   * Run accesses of several tasks (threads of one process on different CPUs) at the
   * same time, interleaved at the kernel's lock points (`at`: 'fault' = fault entry,
   * before the mmap/VMA lock; 'pte-lock' = do_anonymous_page's PTE lock; 'any', the
   * default, both): seed 0 lets the next access run at every such lock point the
   * running one reaches; any other seed decides each by a seeded coin flip.
   */
  race(cmds: Command[], opts: { seed?: number; at?: 'any' | 'fault' | 'pte-lock' } = {}): CommandResult[] {
    const seed = opts.seed ?? 0;
    if (!Number.isInteger(seed) || seed < 0 || seed > Number.MAX_SAFE_INTEGER) throw new ConfigError('race: seed must be a non-negative integer');
    const at = opts.at ?? 'any';
    if (!['any', 'fault', 'pte-lock'].includes(at)) throw new ConfigError(`race: at '${at}' is not 'any', 'fault' or 'pte-lock'`);
    if (cmds.length < 2) throw new ConfigError('race: give at least two accesses');
    return this.exec(cmds, { seed, at });
  }

  /** The TLB model's counters per CPU and in total (all zero but the CPU events when tlb is 'off'). */
  tlbStats(): TlbStats {
    const { c } = this.core.info;
    const names = this.tlbCounterNames();
    const dv = this.core.view();
    const cpus: TlbCounters[] = [];
    const total: TlbCounters = {};
    for (let cpu = 0; cpu < this.config.cpus; cpu++) {
      const raw: TlbCounters = {};
      names.forEach((n, i) => {
        const v = Number(dv.getBigUint64(c.LAYOUT_COUNTERS + c.CNT_TLB + (cpu * c.TLB_NR_COUNTERS + i) * 8, true));
        raw[n] = v;
        total[n] = (total[n] ?? 0) + v;
      });
      cpus.push(deriveTlbCounters(raw));
    }
    return { model: this.config.tlb, cpus, total: deriveTlbCounters(total) };
  }

  private tlbNames?: string[];
  private tlbCounterNames(): string[] {
    if (!this.tlbNames) {
      const u = this.core.util;
      this.tlbNames = u.__getString((this.core.e.names_tlb_counters as () => number)()).split('\n').filter((x) => x.length > 0);
    }
    return this.tlbNames;
  }

  /** What runs on a CPU: the task (pid, 0 = none), whether its mm is loaded, the PCID/ASID, lazy TLB mode, valid TLB entries. */
  cpuState(cpu: number): { pid: number; mmLoaded: boolean; asid: number; lazy: boolean; tlbEntries: number } {
    this.checkCpu(cpu);
    this.core.call('cpu_state', () => (this.core.e.cpu_state as (c: number) => number)(cpu));
    const dv = this.core.view();
    const io = this.core.c.LAYOUT_IO;
    const f = (i: number) => dv.getFloat64(io + 8 * i, true);
    return { pid: f(0), mmLoaded: f(1) === 1, asid: f(2), lazy: f(3) === 1, tlbEntries: f(4) };
  }

  /**
   * The stale-entry check: no cached translation (TLB or walk cache, any CPU) grants a
   * permission or a frame the page table does not. Throws InvariantError naming the first one.
   */
  checkTlb(): void {
    const n = this.core.call('tlb_check_now', () => (this.core.e.tlb_check_now as () => number)());
    if (n === 0) return;
    const dv = this.core.view();
    const info = this.core.c.LAYOUT_COUNTERS + this.core.c.CNT_TLB_INFO;
    const f = (i: number) => dv.getFloat64(info + 8 * i, true);
    const what = f(3) === 2 ? 'walk-cache entry' : 'TLB entry';
    const perms = (fl: number) => `${fl & 1 ? 'writable' : 'read-only'}${fl & 4 ? ', no-exec' : ''}`;
    const pt = f(6) < 0 ? 'not present' : `frame ${f(6)} ${perms(((f(7) & 2) ? 1 : 0) | ((f(7) & 4096) ? 4 : 0))}`;
    throw new InvariantError(
      `stale ${what} on CPU ${f(1)} at 0x${f(2).toString(16)}: cached frame ${f(4)} ${perms(f(5))}, page table: ${pt} (${n} found)`, 0);
  }
}

export { SignalError };
