// Helpers shared by the variant comparisons: what a run left behind (counters,
// folios per size, memory), failure capture, and table formatting.
import { measure, median, warmUp } from '../lib/harness.mjs';

export const KiB = 1024, MiB = 2 ** 20, GiB = 2 ** 30;
export const ARENA = 0x600000000000; // 1 GiB aligned
export const FIXED = 'private|anonymous|fixed_noreplace';

/** Non-zero thp_* events and pgfault since `before` (a vmstat() snapshot, or none). */
export function events(m, before = {}) {
  const out = {};
  for (const [k, v] of Object.entries(m.vmstat())) {
    if (!(k.startsWith('thp_') || k === 'pgfault')) continue;
    const d = v - (before[k] ?? 0);
    if (d) out[k] = d;
  }
  return out;
}

/** mthp() stat `stat` per size, non-zero only, minus a `before` snapshot of mthp(). */
export function perSize(m, stat, before = {}) {
  const out = {};
  for (const [size, st] of Object.entries(m.mthp())) {
    const d = (st[stat] ?? 0) - (before[size]?.[stat] ?? 0);
    if (d) out[size] = d;
  }
  return out;
}

/**
 * Folios a workload allocated, per size: large ones from the per-size anon_fault_alloc
 * stat since `mthpBefore`, order 0 ('4kB') as the rest of the process's RssAnon (so the
 * process must start empty and free nothing; other processes do not count).
 */
export function foliosAllocated(m, p, mthpBefore) {
  const out = perSize(m, 'anon_fault_alloc', mthpBefore);
  let largeKb = 0;
  for (const [size, n] of Object.entries(out)) largeKb += n * parseInt(size);
  const small = (p.status().RssAnon - largeKb) / 4;
  if (small) out['4kB'] = small;
  return out;
}

/** Memory as the kernel reports it (kB). */
export function memory(m, p) {
  const st = p.status();
  const mi = m.meminfo();
  return { rssKb: st.RssAnon, anonHugePagesKb: mi.AnonHugePages, vmPteKb: st.VmPTE, pageTablesKb: mi.PageTables };
}

/** Run fn; 'ok', or how it failed: an errno name, a signal ('OOM', 'SIGSEGV'), or the error. */
export function attempt(fn) {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (err?.name === 'ErrnoError') return err.errno;
    if (err?.name === 'SignalError') return err.signal;
    throw err;
  }
}

/** The core's invariants after a run: 'ok' or the violation (a broken variant must not look fine). */
export function invariants(m) {
  try {
    m.checkInvariants();
    return 'ok';
  } catch (err) {
    return err.message;
  }
}

// --- formatting ------------------------------------------------------------------------------

const SIZE_ORDER = ['1048576kB', '2048kB', '1024kB', '512kB', '256kB', '128kB', '64kB', '32kB', '16kB', '4kB'];
const SHORT = { '1048576kB': '1G', '2048kB': '2M', '1024kB': '1M', '512kB': '512K', '256kB': '256K', '128kB': '128K', '64kB': '64K', '32kB': '32K', '16kB': '16K', '4kB': '4K' };

/** {'1024kB': 3, '64kB': 1} -> '1M×3 64K×1' (largest first); '—' when empty */
export function sizes(obj) {
  const keys = Object.keys(obj ?? {}).filter((k) => obj[k]).sort((a, b) => SIZE_ORDER.indexOf(a) - SIZE_ORDER.indexOf(b));
  return keys.length ? keys.map((k) => `${SHORT[k] ?? k}×${obj[k]}`).join(' ') : '—';
}

/** exact: 1048576 -> '1 GiB', 2048 -> '2 MiB', 1048572 -> '1048572 kB' */
export function kb(x) {
  if (x == null) return '—';
  if (x !== 0 && x % 1048576 === 0) return `${x / 1048576} GiB`;
  if (x !== 0 && x % 1024 === 0 && Math.abs(x) >= 10240) return `${x / 1024} MiB`;
  return `${x} kB`;
}

/** nanoseconds with a readable unit */
export function ns(x) {
  if (x == null) return '—';
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)} ms`;
  if (x >= 1e4) return `${(x / 1e3).toFixed(1)} µs`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(2)} µs`;
  return `${x.toFixed(0)} ns`;
}

export function ratio(x) {
  if (x == null || !Number.isFinite(x)) return '—';
  return x >= 100 ? `${x.toFixed(0)}×` : x >= 10 ? `${x.toFixed(1)}×` : `${x.toFixed(2)}×`;
}

export function round(x, d = 1) {
  return x == null ? null : Math.round(x * 10 ** d) / 10 ** d;
}

/** Counters as 'name=n name=n' with the thp_ prefix dropped. */
export function counters(obj) {
  const parts = Object.entries(obj ?? {}).filter(([, v]) => v).map(([k, v]) => `${k.replace(/^thp_/, '')}=${v}`);
  return parts.length ? parts.join(' ') : '—';
}

/**
 * Time several setups of the same workload against each other: rounds of a few samples
 * of each in turn, so that a burst of load on this shared machine hits all of them
 * alike; the value is each one's fastest sample. A timer is {name, fn, before, after}:
 * before() prepares a sample and after() cleans up, both outside the timed window.
 * (Fixed sample counts: tinybench's time budgets count only fn, so a cheap fn with a
 * costly before() would run for ever.)
 */
export async function timeInterleaved(ctx, timers, { rounds = ctx.quick ? 3 : 16, perRound = 2 } = {}) {
  for (const t of timers) warmUp(() => { t.before(); t.fn(); t.after(); }, 2);
  const best = timers.map(() => Infinity);
  const medians = timers.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < timers.length; i++) {
      const t = timers[i];
      const res = await measure(ctx, { name: t.name, fn: t.fn, beforeEach: t.before, afterEach: t.after, time: 0, iterations: perRound, warmupTime: 0, warmupIterations: 0 });
      best[i] = Math.min(best[i], res.msPerCall);
      medians[i].push(res.medianMs);
    }
  }
  return timers.map((t, i) => ({ msPerRun: best[i], medianMs: median(medians[i]), samples: rounds * perRound }));
}

/**
 * Tier the core up before the first timed sample: V8 starts wasm in Liftoff and only
 * later calls run TurboFan code, so without this the first comparison is slower for
 * reasons that have nothing to do with its variant. Runs every fault, split and COW
 * path the comparisons time, for `ms` milliseconds.
 */
export async function warmCore(ctx, ms) {
  const mthp = {};
  for (const s of ['16kB', '32kB', '64kB', '128kB', '256kB', '512kB', '1024kB']) mthp[`transparent_hugepage/hugepages-${s}/enabled`] = 'always';
  const m = await ctx.hm.Machine.create({
    ram: '16G',
    sysfs: { ...mthp, 'transparent_hugepage/enabled': 'always', 'transparent_hugepage/hugepages-1048576kB/enabled': 'always' },
  });
  const p = m.spawn();
  const end = performance.now() + ms;
  for (let i = 0; performance.now() < end; i++) {
    const a = p.mmap(2 * GiB, { addr: ARENA, flags: FIXED });
    p.touch(a, 4096, { write: true }); // PUD fault
    p.touch(a + GiB, 4 * MiB, { write: true, stride: 2 * MiB }); // PMD faults
    const b = p.mmap(1216 * KiB, { addr: ARENA + 4 * GiB, flags: FIXED });
    p.touch(b, 1216 * KiB, { write: true }); // mTHP faults of every size (no PMD fits)
    p.munmap(b, 1216 * KiB);
    const c = p.fork();
    p.touch(a, 4096, { write: true }); // PUD COW: split to PTEs
    c.exit();
    p.mprotect(a + GiB + 4096, 4096, 'r'); // PMD split
    p.munmap(a, 2 * GiB);
    m.setSysfs('transparent_hugepage/hugepages-1048576kB/enabled', i % 2 ? 'always' : 'never');
  }
}
