// V1 mthp.orderSelection (seed 002, KERNEL-SPEC §2.4/§12; issue 5 item 3): the three
// order-selection designs on the same workloads. Every workload runs once on a fresh
// machine for the counts (faults, folios per size, fallbacks, memory), then again on
// another fresh machine under tinybench for the time.
import { collect } from '../lib/harness.mjs';
import { KiB, MiB, GiB, ARENA, FIXED, events, perSize, foliosAllocated, memory, invariants, round, timeInterleaved, sizes, kb, ns, ratio } from './common.mjs';
import { table } from './render.mjs';

export const VARIANTS = [
  { key: 'iterate-enabled-orders', label: 'iterate-enabled-orders (6.18)', variants: { 'mthp.orderSelection': 'iterate-enabled-orders' } },
  { key: 'preferred-plus-order0', label: 'preferred-plus-order0', variants: { 'mthp.orderSelection': 'preferred-plus-order0' } },
  { key: 'calc-order-arch-max', label: 'calc-order-arch-max (max 64K)', variants: { 'mthp.orderSelection': 'calc-order-arch-max', 'mthp.maxAnonFolioOrder': 4 } },
];

const ALL = ['16kB', '32kB', '64kB', '128kB', '256kB', '512kB', '1024kB'];
const enable = (m, list, value = 'always') => list.forEach((s) => m.setSysfs(`transparent_hugepage/hugepages-${s}/enabled`, value));

/**
 * Fill free memory with folios of `size` (4kB or an mTHP size), then free every other
 * one: what is left free is isolated blocks of exactly that size (their buddies stay
 * in use), i.e. memory fragmented at that granularity. min_free_kbytes is set low so
 * the watermark reserve does not keep large blocks free.
 */
function fragment(m, size) {
  const f = m.spawn();
  const len = m.config.ram * 2;
  const b = f.mmap(len, { addr: ARENA + 64 * GiB, flags: `${FIXED}|noreserve` });
  // the filler's folio sizes come from sysfs: calc-order-arch-max (v1) ignores it
  const policy = m.getSysfs('hugemmu/mthp.orderSelection');
  m.setSysfs('hugemmu/mthp.orderSelection', 'iterate-enabled-orders');
  if (size !== '4kB') enable(m, [size]);
  const [r] = m.exec([{ op: 'touch', pid: f.pid, addr: b, len, stride: 4096, write: true }]);
  if (r.signal !== 9) throw new Error(`fragment: filling RAM ended with signal ${r.signal}, not OOM`);
  const filled = r.address - b;
  const step = size === '4kB' ? 4096 : parseInt(size) * KiB;
  for (let off = 0; off + step <= filled; off += 2 * step) f.madvise(b + off, step, 'dontneed');
  if (size !== '4kB') enable(m, [size], 'never');
  m.setSysfs('hugemmu/mthp.orderSelection', policy);
  return { filler: f, freeKb: m.meminfo().MemFree };
}

// Each workload: machine config, optional prepare(m) (fragmentation), map(p) -> region,
// cmds(p, region) -> touch commands, arm(m) (fault injection), and sizes to enable.
export const WORKLOADS = [
  {
    name: 'odd-vmas',
    what: (q) => `${q ? 64 : 256} VMAs of 1216 KiB (= 1M + 128K + 64K) at 2 MiB strides, sequential 4 KiB writes`,
    ram: '64G',
    map(p, q) {
      const n = q ? 64 : 256;
      return Array.from({ length: n }, (_, i) => p.mmap(1216 * KiB, { addr: ARENA + i * 2 * MiB, flags: FIXED }));
    },
    cmds: (p, r) => r.map((a) => ({ op: 'touch', pid: p.pid, addr: a, len: 1216 * KiB, stride: 4096, write: true })),
    unmap: (p, r) => r.forEach((a) => p.munmap(a, 1216 * KiB)),
  },
  {
    name: 'sparse',
    what: (q) => `one byte written every 256 KiB of a ${q ? 256 : 1024} MiB VMA`,
    ram: '64G',
    len: (q) => (q ? 256 : 1024) * MiB,
    cmds: (p, a, q) => [{ op: 'touch', pid: p.pid, addr: a, len: (q ? 256 : 1024) * MiB, stride: 256 * KiB, write: true }],
  },
  {
    name: 'partial',
    what: (q) => `${q ? 16 : 64} MiB VMA: a read at +40K of every 128 KiB (zero-page PTEs), then sequential 4 KiB writes`,
    ram: '64G',
    len: (q) => (q ? 16 : 64) * MiB,
    cmds: (p, a, q) => [
      { op: 'touch', pid: p.pid, addr: a + 40 * KiB, len: (q ? 16 : 64) * MiB - 40 * KiB, stride: 128 * KiB, write: false },
      { op: 'touch', pid: p.pid, addr: a, len: (q ? 16 : 64) * MiB, stride: 4096, write: true },
    ],
  },
  {
    name: 'inject-all',
    what: (q) => `${q ? 16 : 64} MiB sequential 4 KiB writes while every order 2..8 allocation fails (injectAllocFailures)`,
    ram: '64G',
    len: (q) => (q ? 16 : 64) * MiB,
    arm: (m) => m.injectAllocFailures(2 ** 31, 2, { maxOrder: 8 }),
    cmds: (p, a, q) => [{ op: 'touch', pid: p.pid, addr: a, len: (q ? 16 : 64) * MiB, stride: 4096, write: true }],
  },
  {
    name: 'frag-4k',
    what: () => '256 MiB RAM fragmented into isolated 4 KiB pages; 8 MiB sequential 4 KiB writes',
    ram: '256M',
    minFreeKbytes: 128,
    prepare: (m) => fragment(m, '4kB'),
    len: () => 8 * MiB,
    cmds: (p, a) => [{ op: 'touch', pid: p.pid, addr: a, len: 8 * MiB, stride: 4096, write: true }],
  },
  {
    name: 'frag-64k',
    what: () => '256 MiB RAM fragmented into isolated 64 KiB blocks; 8 MiB sequential 4 KiB writes',
    ram: '256M',
    minFreeKbytes: 128,
    prepare: (m) => fragment(m, '64kB'),
    len: () => 8 * MiB,
    cmds: (p, a) => [{ op: 'touch', pid: p.pid, addr: a, len: 8 * MiB, stride: 4096, write: true }],
  },
  {
    name: 'sparse-oom',
    what: () => '128 MiB RAM: one byte every 256 KiB of a 512 MiB MAP_NORESERVE VMA until the OOM',
    ram: '128M',
    timed: false,
    len: () => 512 * MiB,
    flags: `${FIXED}|noreserve`,
    cmds: (p, a) => [{ op: 'touch', pid: p.pid, addr: a, len: 512 * MiB, stride: 256 * KiB, write: true }],
  },
];

async function create(ctx, w, v) {
  const m = await ctx.hm.Machine.create({ ram: w.ram, minFreeKbytes: w.minFreeKbytes, variants: v.variants });
  const prep = w.prepare ? w.prepare(m) : null;
  enable(m, ALL);
  const p = m.spawn();
  const map = () => (w.map ? w.map(p, ctx.quick) : p.mmap(w.len(ctx.quick), { addr: ARENA, flags: w.flags ?? FIXED }));
  const unmap = (r) => (w.unmap ? w.unmap(p, r) : p.munmap(r, w.len(ctx.quick)));
  return { m, p, prep, map, unmap };
}

/** One run for the counts. */
async function countRun(ctx, w, v) {
  const { m, p, prep, map } = await create(ctx, w, v);
  const r = map();
  const ev0 = m.vmstat();
  const mt0 = m.mthp();
  w.arm?.(m);
  const res = m.exec(w.cmds(p, r, ctx.quick));
  m.injectAllocFailures(0);
  const sig = res.find((x) => x.signal !== 0);
  const last = res[res.length - 1];
  const cmd = w.cmds(p, r, ctx.quick).at(-1);
  const ev = events(m, ev0);
  const out = {
    faults: ev.pgfault ?? 0,
    folios: foliosAllocated(m, p, mt0),
    fallbacks: perSize(m, 'anon_fault_fallback', mt0),
    ...memory(m, p),
    signal: sig ? (sig.signal === 9 ? 'OOM' : `signal ${sig.signal}`) : null,
    invariants: invariants(m),
  };
  if (prep) out.freeKbBefore = prep.freeKb;
  if (sig) {
    out.writesDone = Math.round((last.address - cmd.addr) / cmd.stride);
    out.writesAsked = Math.round(cmd.len / cmd.stride);
  }
  return out;
}

/** A timer for the workload (a fresh region each sample, unmapped outside the timed window). */
async function timer(ctx, w, v) {
  const { m, p, map, unmap } = await create(ctx, w, v);
  let r = null;
  let cmds = null;
  return {
    name: `${w.name}/${v.key}`,
    before() {
      r = map();
      cmds = w.cmds(p, r, ctx.quick);
      w.arm?.(m);
    },
    fn() {
      const res = m.exec(cmds);
      m.injectAllocFailures(0);
      if (res.some((x) => x.signal !== 0)) throw new Error(`${w.name}/${v.key}: a signal during the timed run`);
    },
    after: () => unmap(r),
  };
}

export async function run(ctx) {
  const rows = [];
  for (const w of WORKLOADS) {
    const mine = [];
    for (const v of VARIANTS) {
      ctx.log(`mthp ${w.name} / ${v.key} ...`);
      const c = await countRun(ctx, w, v);
      collect();
      mine.push({ workload: w.name, what: w.what(ctx.quick), variant: v.key, label: v.label, settings: v.variants, ...c });
    }
    if (w.timed !== false) {
      ctx.log(`mthp ${w.name}: timing ...`);
      const timers = [];
      for (const v of VARIANTS) timers.push(await timer(ctx, w, v));
      const times = await timeInterleaved(ctx, timers);
      mine.forEach((row, i) => {
        const t = times[i];
        row.msPerRun = round(t.msPerRun, 3);
        row.medianMs = round(t.medianMs, 3);
        row.samples = t.samples;
        row.nsPerFault = row.faults ? round((t.msPerRun * 1e6) / row.faults, 0) : null;
        row.usPerMiB = row.rssKb ? round((t.msPerRun * 1e3) / (row.rssKb / 1024), 2) : null;
      });
      collect();
    }
    rows.push(...mine);
    // relative to 6.18 on the same workload, from this run
    const base = rows.find((r) => r.workload === w.name && r.variant === VARIANTS[0].key);
    for (const r of rows.filter((x) => x.workload === w.name)) {
      r.faultsVsDefault = base.faults ? round(r.faults / base.faults, 3) : null;
      r.rssVsDefault = base.rssKb ? round(r.rssKb / base.rssKb, 3) : null;
      r.timeVsDefault = base.msPerRun && r.msPerRun ? round(r.msPerRun / base.msPerRun, 3) : null;
    }
  }
  return {
    key: 'mthp',
    name: 'mthp.orderSelection',
    title: 'V1 mthp.orderSelection (seed 002): mTHP sizes 16K..1M enabled (always), PMD THP off',
    rows,
  };
}

export function render(section) {
  const out = [];
  for (const w of [...new Set(section.rows.map((r) => r.workload))]) {
    const rows = section.rows.filter((r) => r.workload === w);
    out.push('');
    out.push(`  ${w}: ${rows[0].what}${rows[0].freeKbBefore ? ` (${kb(rows[0].freeKbBefore)} free before)` : ''}`);
    if (rows[0].signal === 'OOM' || rows.some((r) => r.writesDone != null)) {
      out.push(table([
        ['variant', '>writes before OOM', '>faults', 'folios allocated', 'failed allocations', '>RSS at OOM'],
        ...rows.map((r) => [r.label, r.writesDone != null ? `${r.writesDone} / ${r.writesAsked}` : 'no OOM', r.faults, sizes(r.folios), sizes(r.fallbacks), kb(r.rssKb)]),
      ]));
      continue;
    }
    out.push(table([
      ['variant', '>faults', '>×6.18', 'folios allocated', 'failed allocations', '>RSS', '>×6.18', '>VmPTE', '>ns/fault', '>µs/MiB', '>time ×6.18'],
      ...rows.map((r) => [r.label, r.faults, ratio(r.faultsVsDefault), sizes(r.folios), sizes(r.fallbacks), kb(r.rssKb), ratio(r.rssVsDefault), kb(r.vmPteKb),
        ns(r.nsPerFault), r.usPerMiB ?? '—', ratio(r.timeVsDefault)]),
    ]));
  }
  const bad = section.rows.filter((r) => r.invariants !== 'ok');
  for (const r of bad) out.push(`  INVARIANTS BROKEN in ${r.workload}/${r.variant}: ${r.invariants}`);
  out.push('');
  out.push('  failed allocations = anon_fault_fallback per size; AnonHugePages is 0 in every row (mTHP folios are PTE-mapped).');
  return out.join('\n');
}
