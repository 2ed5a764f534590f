/**
 * Runs a parsed scenario on a fresh Machine and observes it the way
 * conformance/oracle.c observes the kernel: baseline knobs, the reference
 * point after the leading `set`s, per-process region ownership, deltas, and
 * the oracle's exclusion of its own fork bookkeeping. Each operation is one
 * API call; the core does the per-page work.
 */
import { Machine, type Command } from '../machine.js';
import type { Process } from '../process.js';
import type { CoreFlavor } from '../core.js';
import { ErrnoError, HostMemoryError, InvariantError, SignalError, UnsupportedFeatureError } from '../errors.js';
import { ScenarioError, ORACLE_ADVICES, type Op, type Scenario, type Region, type ParseOptions } from './parse.js';
import { scenarioKnobs } from './knobs.js';
import {
  SMAPS_FIELDS, MEMINFO_FIELDS, STATUS_FIELDS, HUGETLB_FIELDS,
  type ScenarioResult, type SnapshotReport, type RegionReport, type ProcReport, type ErrorEntry, type MismatchEntry,
} from './result.js';
import { VERSION } from './version.js';

export const KERNEL_MODEL = 'hugemmu model of Linux 6.18';

export interface RunOptions {
  /** called after every operation */
  onProgress?: (done: number, total: number) => void;
  /** run Machine.checkInvariants() after every operation; a violation becomes an `errors` entry */
  check?: boolean;
  /** core build (default: HUGEMMU_CORE or 'release') */
  core?: CoreFlavor;
}

interface Proc {
  name: string;
  p?: Process;
  alive: boolean;
  /** pattern generation of its writes: 1 for main, k+1 for the k-th fork */
  gen: number;
  /** regions this process holds (from its map, fork inheritance or mremap) */
  has: boolean[];
  /** minflt/majflt at the reference point (main) or at the fork (children) */
  fltRef: [number, number];
  /** meminfo AnonPages/PageTables kB that its fork added outside regions (oracle bookkeeping) */
  ovhAnon: number;
  ovhPt: number;
}

type Meminfo = ScenarioResult['snapshots'][string]['meminfo'];

/** Throws for what only a hugemmu bug (or a broken machine) can cause. */
function fatal(sc: Scenario, op: Op, err: unknown): never {
  const msg = err instanceof Error ? err.message : String(err);
  throw new ScenarioError(sc.file, op.line, op.col, `'${op.text}' failed in the emulator: ${msg}`,
    'a hugemmu bug: please report it with this script');
}

export async function runScenario(sc: Scenario, opts: RunOptions = {}): Promise<ScenarioResult> {
  let m: Machine;
  try {
    m = await Machine.create({ ...sc.machine, core: opts.core });
  } catch (e) {
    throw new ScenarioError(sc.file, 0, 0, `cannot create the machine: ${(e as Error).message}`, "check the 'machine' line");
  }
  const knobs = scenarioKnobs(m.knobs());
  // the oracle's baseline, written only where it differs (as oracle.c run_once())
  for (const k of knobs) if (k.baseline !== undefined && m.getSysfs(k.path) !== k.baseline) m.setSysfs(k.path, k.baseline);

  const regions = sc.regions;
  const procs: Proc[] = sc.procs.map((name, i) => ({
    name, alive: false, gen: i + 1, has: regions.map(() => false), fltRef: [0, 0], ovhAnon: 0, ovhPt: 0,
  }));
  // a thread shares its process's regions and writes its pattern generation
  const leaders = sc.leaders ?? sc.procs.map((_, i) => i);
  const isThread = (i: number) => leaders[i] !== i;
  const main = procs[0];
  main.p = m.spawn();
  main.alive = true;

  const errors: ErrorEntry[] = [];
  const mismatches: MismatchEntry[] = [];
  const snapshots: Record<string, SnapshotReport> = {};
  const err = (op: Op, error: string): void => {
    errors.push({ line: op.line, proc: procs[op.proc].name, op: op.text, error });
  };
  let ovhFaults: [number, number] = [0, 0];
  let ovhAnon = 0, ovhPt = 0;

  const vmstat = () => Object.entries(m.vmstat()).filter(([k]) => k === 'pgfault' || k === 'pgmajfault' || k.startsWith('thp_'));
  const pgfaults = (): [number, number] => {
    const v = m.vmstat();
    return [v.pgfault ?? 0, v.pgmajfault ?? 0];
  };
  const meminfo = (): Meminfo => {
    const mi = m.meminfo();
    // HugePages_* of /proc/meminfo are those of the default hstate (2M on x86)
    const pool = m.hugetlbPools()['2048kB'];
    const out = {} as Meminfo;
    for (const f of MEMINFO_FIELDS) out[f] = mi[f] ?? 0;
    if (pool) {
      out.HugePages_Free = pool.free_hugepages;
      out.HugePages_Rsvd = pool.resv_hugepages;
    }
    return out;
  };

  const doSet = (op: Extract<Op, { op: 'set' }>) => {
    try {
      m.setSysfs(op.knob.path, op.value);
    } catch (e) {
      if (e instanceof ErrnoError) return err(op, e.errno);
      throw e;
    }
    const got = m.getSysfs(op.knob.path);
    if (got !== op.value) err(op, `${op.knob.name} reads back as '${got}'`);
  };

  const total = sc.ops.length;
  let pc = 0;
  const step = (op: Op) => {
    try {
      exec(op);
      if (opts.check) m.checkInvariants();
    } catch (e) {
      if (e instanceof UnsupportedFeatureError || e instanceof HostMemoryError || e instanceof InvariantError) err(op, e.message);
      else if (e instanceof ErrnoError) err(op, e.errno);
      else if (e instanceof SignalError && 'region' in op) {
        err(op, `${e.signal} at offset 0x${(e.address - regions[op.region].addr).toString(16)}`);
      } else fatal(sc, op, e);
    }
    opts.onProgress?.(++pc, total);
  };

  // --- the leading sets, then the reference point --------------------------------------------
  for (const op of sc.ops.slice(0, sc.leadingSets)) step(op);
  const settings: Record<string, string> = {};
  for (const k of knobs) settings[k.name] = m.getSysfs(k.path);
  const vmRef = new Map(vmstat());
  const tlbOn = m.config.tlb !== 'off';
  const tlbRef = m.tlbStats();
  const mthpRef = m.mthp();
  const miRef = meminfo();
  const st0 = main.p.status();
  const stRef = Object.fromEntries(STATUS_FIELDS.map((f) => [f, st0[f]])) as Record<(typeof STATUS_FIELDS)[number], number>;
  main.fltRef = [st0.minflt, st0.majflt];

  function exec(op: Op): void {
    const P = procs[op.proc];
    if (!P.alive || !P.p) return err(op, 'child not running');
    const p = P.p;
    const R: Region | undefined = 'region' in op ? regions[op.region] : undefined;
    switch (op.op) {
      case 'set':
        return doSet(op);
      case 'map': {
        const r = R!;
        const flags = [r.shared ? 'shared' : 'private', 'fixed_noreplace'];
        if (r.kind !== 'shmem') flags.push('anonymous');
        if (r.kind === 'hugetlb2M' || r.kind === 'hugetlb1G') flags.push('hugetlb');
        if (r.noreserve) flags.push('noreserve');
        if (r.populate) flags.push('populate');
        const a = p.mmap(r.size, {
          addr: r.addr, prot: r.prot, flags: flags.join('|'), backing: r.kind === 'shmem' ? 'memfd' : 'anon',
          hugePageSize: r.kind === 'hugetlb1G' ? '1G' : r.kind === 'hugetlb2M' ? '2M' : undefined,
        });
        if (a !== r.addr) {
          err(op, 'mapped at wrong address');
          p.munmap(a, r.size);
        } else P.has[op.region] = true;
        return;
      }
      case 'madvise':
        // an oracle advice the core has no number for yet is a missing feature, not a bad script
        if (!m.core.info.madvise.has(op.advice)) throw new UnsupportedFeatureError(`madvise ${op.advice}`);
        return p.madvise(R!.addr + op.off, op.len, op.advice);
      case 'munmap':
        return p.munmap(R!.addr + op.off, op.len);
      case 'mprotect':
        return p.mprotect(R!.addr + op.off, op.len, op.prot);
      case 'mremap':
        p.mremap(R!.addr, R!.size, R!.size, { fixed: regions[op.to].addr });
        P.has[op.region] = false;
        P.has[op.to] = true;
        return;
      case 'touch':
        // gen=0 means the writer's own generation, as in the oracle
        p.touch(R!.addr + op.off, op.len, { write: op.write, fetch: op.fetch, stride: op.stride, gen: op.gen || P.gen, base: R!.addr });
        return;
      case 'random':
        p.random(R!.addr + op.off, op.len, op.count, { write: op.write, fetch: op.fetch, seed: op.seed, granule: op.granule });
        return;
      case 'thread': {
        const C = procs[op.child];
        const L = procs[op.of];
        if (!L.alive || !L.p) return err(op, 'child not running');
        C.p = L.p.thread(op.cpu >= 0 ? { cpu: op.cpu } : {});
        C.alive = true;
        C.has = L.has;
        C.gen = L.gen;
        C.fltRef = [0, 0];
        return;
      }
      case 'cpu': {
        const T = procs[op.target];
        if (!T.alive || !T.p) return err(op, 'child not running');
        return T.p.setCpu(op.cpu);
      }
      case 'race':
        return doRace(op);
      case 'store':
        return p.store(R!.addr + op.off, op.value);
      case 'expect': {
        const got = p.load(R!.addr + op.off);
        if (got !== op.value) mismatches.push({ line: op.line, proc: P.name, region: R!.name, off: op.off, expected: op.value, got, count: 1 });
        return;
      }
      case 'verify': {
        const v = p.verify(R!.addr + op.off, op.len, op.gen, { stride: op.stride, base: R!.addr });
        if (v.mismatches) {
          mismatches.push({
            line: op.line, proc: P.name, region: R!.name, off: v.firstBad! - R!.addr, expected: v.expected!, got: v.got!, count: v.mismatches,
          });
        }
        return;
      }
      case 'fork':
        return doFork(procs[op.child]);
      case 'exit':
        return doExit(procs[op.child]);
      case 'snapshot':
        snapshots[op.label] = snapshot(op.line);
        return;
      case 'check':
        return m.checkInvariants();
    }
  }

  // Everything a fork changes outside the child's regions is the oracle's own bookkeeping
  // (oracle.c do_fork()); here that is the child's PGD page.
  function doFork(C: Proc): void {
    const before = pgfaults();
    const mine = main.p!.status();
    const m0 = meminfo();
    C.p = main.p!.fork();
    C.alive = true;
    C.has = [...main.has];
    const after = pgfaults();
    ovhFaults = [ovhFaults[0] + after[0] - before[0], ovhFaults[1] + after[1] - before[1]];
    const m1 = meminfo();
    const cst = C.p.status();
    C.ovhAnon = m1.AnonPages - m0.AnonPages;
    C.ovhPt = m1.PageTables - m0.PageTables - (cst.VmPTE - stRef.VmPTE);
    ovhAnon += C.ovhAnon;
    ovhPt += C.ovhPt;
    C.fltRef = [cst.minflt, cst.majflt];
    const now = main.p!.status();
    main.fltRef = [main.fltRef[0] + now.minflt - mine.minflt, main.fltRef[1] + now.majflt - mine.majflt];
  }

  // the racing accesses run together in the core, interleaved at the kernel's lock points
  function doRace(op: Extract<Op, { op: 'race' }>): void {
    const cmds: Command[] = [];
    for (const o of op.members) {
      const T = procs[o.proc];
      if (!T.alive || !T.p) return err(o, 'child not running');
      const R = regions[(o as { region: number }).region];
      if (o.op === 'touch') {
        cmds.push({ op: 'touch', pid: T.p.pid, addr: R.addr + o.off, len: o.len, stride: o.stride, write: o.write, fetch: o.fetch, arg: o.gen || T.gen, base: R.addr });
      } else if (o.op === 'store') {
        cmds.push({ op: 'store', pid: T.p.pid, addr: R.addr + o.off, arg: o.value });
      } else if (o.op === 'random') {
        cmds.push({ op: 'random', pid: T.p.pid, addr: R.addr + o.off, len: o.len, count: o.count, write: o.write, fetch: o.fetch, seed: o.seed, granule: o.granule });
      }
    }
    const res = m.race(cmds, { seed: op.seed, at: op.at });
    res.forEach((r, i) => {
      const o = op.members[i];
      if (r.signal === 0) return;
      const name = r.signal === 11 ? 'SIGSEGV' : r.signal === 7 ? 'SIGBUS' : 'OOM';
      err(o, `${name} at offset 0x${(r.address - regions[(o as { region: number }).region].addr).toString(16)}`);
    });
  }

  function doExit(C: Proc): void {
    if (!C.alive) return;
    C.p!.exit();
    C.alive = false;
    ovhAnon -= C.ovhAnon;
    ovhPt -= C.ovhPt;
  }

  function regionReports(P: Proc): Record<string, RegionReport> {
    const acc = regions.map((r) => ({
      addr: '0x' + r.addr.toString(16), nr_vmas: 0, vmas_kB: [] as [number, number][],
      ...(Object.fromEntries(SMAPS_FIELDS.map((f) => [f, 0])) as Record<(typeof SMAPS_FIELDS)[number], number>),
      THPeligible: 0, KernelPageSize: 0, VmFlags: '',
    }));
    for (const v of P.p!.smaps()) {
      // the last held region that contains the whole VMA (oracle.c read_smaps())
      let cur = -1;
      regions.forEach((r, i) => {
        if (P.has[i] && v.start >= r.addr && v.end <= r.addr + r.size) cur = i;
      });
      if (cur < 0) continue;
      const a = acc[cur];
      if (a.vmas_kB.length < 32) a.vmas_kB.push([(v.start - regions[cur].addr) / 1024, (v.end - v.start) / 1024]);
      if (++a.nr_vmas === 1) {
        a.THPeligible = v.fields.THPeligible;
        a.KernelPageSize = v.fields.KernelPageSize;
        a.VmFlags = v.vmFlags;
      }
      for (const f of SMAPS_FIELDS) a[f] += v.fields[f] ?? 0;
    }
    const out: Record<string, RegionReport> = {};
    regions.forEach((r, i) => {
      if (P.has[i]) out[r.name] = acc[i];
    });
    return out;
  }

  function snapshot(line: number): SnapshotReport {
    const vm: Record<string, number> = {};
    for (const [k, v] of vmstat()) {
      vm[k] = v - (vmRef.get(k) ?? 0) - (k === 'pgfault' ? ovhFaults[0] : k === 'pgmajfault' ? ovhFaults[1] : 0);
    }
    const mthp: Record<string, Record<string, number>> = {};
    for (const [size, files] of Object.entries(m.mthp())) {
      mthp[size] = {};
      for (const f of Object.keys(files).sort()) mthp[size][f] = files[f] - (mthpRef[size]?.[f] ?? 0);
    }
    const mi = meminfo();
    mi.AnonPages -= ovhAnon;
    mi.PageTables -= ovhPt;
    for (const f of MEMINFO_FIELDS) mi[f] -= miRef[f];
    const hugetlb: SnapshotReport['hugetlb'] = {};
    for (const [size, pool] of Object.entries(m.hugetlbPools())) {
      hugetlb[size] = Object.fromEntries(HUGETLB_FIELDS.map((f) => [f, pool[f]])) as SnapshotReport['hugetlb'][string];
    }
    const out: Record<string, ProcReport> = {};
    for (const [i, P] of procs.entries()) {
      if (!P.alive || isThread(i)) continue;
      const st = P.p!.status();
      out[P.name] = {
        status: Object.fromEntries(STATUS_FIELDS.map((f) => [f, st[f] - stRef[f]])) as ProcReport['status'],
        faults: { minflt: st.minflt - P.fltRef[0], majflt: st.majflt - P.fltRef[1] },
        regions: regionReports(P),
      };
    }
    const snap: SnapshotReport = { line, vmstat: vm, mthp, meminfo: mi, hugetlb, procs: out };
    if (tlbOn) {
      // the TLB model's counters since the reference point, in total and per CPU
      const now = m.tlbStats();
      const d = (a: Record<string, number>, b: Record<string, number>) => Object.fromEntries(Object.keys(a).map((k) => [k, a[k] - (b[k] ?? 0)]));
      snap.tlb = { model: now.model, total: d(now.total, tlbRef.total), cpus: now.cpus.map((c, i) => d(c, tlbRef.cpus[i])) };
    }
    return snap;
  }

  for (const op of sc.ops.slice(sc.leadingSets)) step(op);
  for (const P of procs.slice(1)) {
    try {
      doExit(P);
    } catch {
      // the run is over; a child that cannot exit changes no reported number
    }
  }

  return {
    oracle: `hugemmu/${VERSION}`, script: sc.script, kernel: KERNEL_MODEL, runs: 1,
    settings, snapshots, errors, mismatches, unstable_fields: [],
  };
}

/** What `set` and `madvise` may name: the core's knobs and advices (the oracle's advices always parse). */
export async function scenarioVocabulary(core?: CoreFlavor): Promise<ParseOptions> {
  // the names come from the core's exports; a minimal machine is the public way to load them
  const m = await Machine.create({ ram: '64M', core });
  return {
    knobs: scenarioKnobs(m.knobs()),
    advices: new Set([...ORACLE_ADVICES, ...m.core.info.madvise.keys()]),
  };
}
