// 1 GiB anonymous THP design choices (seed 000, KERNEL-SPEC §2.5/§3.4/§4.2/§12; issue 7
// item 5): V6 thp.pud.cow, V7 thp.pud.splitTarget, V8 pgtable.deposit. For each: the
// page-table memory, the cost of a fault, a split and a COW, and what fails under
// memory pressure. Reference rows map the same memory with 2 MiB THPs and 4 KiB pages.
import { collect } from '../lib/harness.mjs';
import {
  MiB, GiB, KiB, ARENA, FIXED, events, perSize, memory, attempt, invariants, round, timeInterleaved, sizes, kb, ns, ratio, counters,
} from './common.mjs';
import { table } from './render.mjs';

const PUD_ON = { 'transparent_hugepage/enabled': 'always', 'transparent_hugepage/hugepages-1048576kB/enabled': 'always' };
const PMD_ON = { 'transparent_hugepage/enabled': 'always' };
const ALL_4K = { 'transparent_hugepage/enabled': 'never' };
const SEED = { 'thp.pud.cow': 'split-to-pte-always', 'thp.pud.splitTarget': 'pte', 'pgtable.deposit': 'predeposit' };

const gib = (ctx) => (ctx.quick ? 4 : 8);

async function machine(ctx, { sysfs = PUD_ON, variants = {}, ram = '64G', data = false } = {}) {
  return ctx.hm.Machine.create({ ram, data, sysfs, variants: { ...SEED, ...variants } });
}

/** an n-GiB region at a 1 GiB-aligned address (hugemmu's align extension) */
const mapGiB = (p, n) => p.mmap(n * GiB, { align: GiB });
const writeEach = (p, a, n, stride) => ({ op: 'touch', pid: p.pid, addr: a, len: n * GiB, stride, write: true });
function execOk(m, cmds, what) {
  const res = m.exec(cmds);
  const bad = res.find((r) => r.signal !== 0);
  if (bad) throw new Error(`${what}: signal ${bad.signal} at 0x${bad.address.toString(16)}`);
  return res.reduce((s, r) => s + r.faults, 0);
}

// --- fault: page-table memory and fault cost ------------------------------------------------

const FAULT_CONFIGS = [
  { key: 'pud-predeposit', label: '1G THP, predeposit (seed 000)', sysfs: PUD_ON, variants: {}, stride: GiB },
  { key: 'pud-lazy', label: '1G THP, lazy-at-split', sysfs: PUD_ON, variants: { 'pgtable.deposit': 'lazy-at-split' }, stride: GiB },
  { key: 'pmd-predeposit', label: '2M THPs, predeposit (6.18)', sysfs: PMD_ON, variants: {}, stride: 2 * MiB },
  { key: 'pmd-lazy', label: '2M THPs, lazy-at-split', sysfs: PMD_ON, variants: { 'pgtable.deposit': 'lazy-at-split' }, stride: 2 * MiB },
  { key: '4k', label: '4K pages', sysfs: ALL_4K, variants: {}, stride: 4096 },
];

async function faultRows(ctx) {
  const n = gib(ctx);
  const rows = [];
  for (const c of FAULT_CONFIGS) {
    ctx.log(`pud fault / ${c.key} ...`);
    // counts
    const m = await machine(ctx, c);
    const p = m.spawn();
    const mt0 = m.mthp();
    const a = mapGiB(p, n);
    const ev0 = m.vmstat();
    execOk(m, [writeEach(p, a, n, c.stride)], c.key);
    const mem = memory(m, p);
    const row = {
      table: 'fault', config: c.key, label: c.label, settings: { sysfs: c.sysfs, variants: { ...SEED, ...c.variants } }, gib: n,
      faults: events(m, ev0).pgfault ?? 0, folios: perSize(m, 'anon_fault_alloc', mt0), ...mem,
      vmPteKbPerGiB: round((mem.vmPteKb - 4) / n, 1), // less the PUD table every config needs
      invariants: invariants(m),
    };
    rows.push(row);
    collect();
  }
  // time: populate one fresh GiB per sample (short samples are less often preempted
  // on this shared machine than long ones)
  const timers = [];
  for (const c of FAULT_CONFIGS) {
    const m = await machine(ctx, c);
    const p = m.spawn();
    let r = 0;
    timers.push({
      name: `fault/${c.key}`,
      before: () => { r = mapGiB(p, 1); },
      fn: () => execOk(m, [writeEach(p, r, 1, c.stride)], c.key),
      after: () => p.munmap(r, GiB),
    });
  }
  ctx.log('pud fault: timing ...');
  const times = await timeInterleaved(ctx, timers);
  rows.forEach((row, i) => {
    row.nsPerFault = round((times[i].msPerRun * 1e6) / (row.faults / n), 0);
    row.usPerGiB = round(times[i].msPerRun * 1e3, 1);
    row.samples = times[i].samples;
  });
  collect();
  const seed = rows[0];
  for (const r of rows) r.timeVsSeed = round(r.usPerGiB / seed.usPerGiB, 3);
  return rows;
}

// --- split: V7 target x V8 deposit -------------------------------------------------------------

const SPLIT_CONFIGS = [];
for (const target of ['pte', 'pmd-thps', 'zap']) {
  for (const deposit of ['predeposit', 'lazy-at-split']) {
    SPLIT_CONFIGS.push({ key: `${target}/${deposit}`, target, deposit, variants: { 'thp.pud.splitTarget': target, 'pgtable.deposit': deposit } });
  }
}

/** Data mode, 1 GiB: are the contents still there after the split? (mismatching 2 MiB stride points) */
async function contentsAfterSplit(ctx, variants) {
  const m = await machine(ctx, { ram: '4G', data: true, variants });
  const p = m.spawn();
  const a = mapGiB(p, 1);
  const stride = 2 * MiB + 4 * KiB;
  p.touch(a, GiB - 4 * KiB, { write: true, stride });
  p.mprotect(a + GiB - 4 * KiB, 4 * KiB, 'r');
  const v = p.verify(a, GiB - 4 * KiB, 1, { stride });
  const points = Math.ceil((GiB - 4 * KiB) / stride);
  return { mismatches: v.mismatches, points };
}

async function splitRows(ctx) {
  const n = gib(ctx);
  const rows = [];
  const kept = {};
  for (const c of SPLIT_CONFIGS) {
    ctx.log(`pud split / ${c.key} ...`);
    const m = await machine(ctx, c);
    const p = m.spawn();
    const a = mapGiB(p, n);
    execOk(m, [writeEach(p, a, n, GiB)], c.key);
    const mem0 = memory(m, p);
    const mt0 = m.mthp();
    const ev0 = m.vmstat();
    for (let i = 0; i < n; i++) p.mprotect(a + (i + 1) * GiB - 4 * KiB, 4 * KiB, 'r');
    const ev = events(m, ev0);
    const mem = memory(m, p);
    const nrAnon = {};
    for (const [size, st] of Object.entries(m.mthp())) if (st.nr_anon) nrAnon[size] = st.nr_anon;
    // what the rest of each GiB costs afterwards: write all of it but the read-only page
    const ev1 = m.vmstat();
    const t0 = performance.now();
    execOk(m, Array.from({ length: n }, (_, i) => ({ op: 'touch', pid: p.pid, addr: a + i * GiB, len: GiB - 4 * KiB, stride: 4096, write: true })), c.key);
    const retouchMs = performance.now() - t0;
    const refault = events(m, ev1);
    kept[c.target] ??= await contentsAfterSplit(ctx, c.variants);
    collect();
    const row = {
      table: 'split', config: c.key, label: `${c.target}, ${c.deposit}`, settings: { variants: { ...SEED, ...c.variants } }, gib: n,
      splitEvents: ev, vmPteKbPerGiBBefore: round((mem0.vmPteKb - 4) / n, 1), vmPteKbPerGiB: round((mem.vmPteKb - 4) / n, 1),
      pageTablesKbAllocatedAtSplit: mem.pageTablesKb - mem0.pageTablesKb, ...mem, rssKbBefore: mem0.rssKb, mappedAfter: nrAnon,
      retouch: { faults: refault.pgfault ?? 0, events: refault, ms: round(retouchMs, 2) },
      contents: kept[c.target],
      invariants: invariants(m),
    };
    rows.push(row);
    collect();
  }
  // time: one split per sample, on a freshly faulted GiB
  const timers = [];
  for (const c of SPLIT_CONFIGS) {
    const m = await machine(ctx, c);
    const p = m.spawn();
    let r = 0;
    timers.push({
      name: `split/${c.key}`,
      before: () => { r = mapGiB(p, 1); execOk(m, [writeEach(p, r, 1, GiB)], c.key); },
      fn: () => p.mprotect(r + GiB - 4 * KiB, 4 * KiB, 'r'),
      after: () => p.munmap(r, GiB),
    });
  }
  ctx.log('pud split: timing ...');
  const times = await timeInterleaved(ctx, timers, { rounds: ctx.quick ? 4 : 24 });
  rows.forEach((row, i) => {
    row.usPerSplit = round(times[i].msPerRun * 1e3, 1);
    row.samples = times[i].samples;
  });
  collect();
  const seed = rows[0];
  for (const r of rows) r.timeVsSeed = round(r.usPerSplit / seed.usPerSplit, 3);
  return rows;
}

// --- COW after fork: V6 ------------------------------------------------------------------------

const COW_CONFIGS = [];
for (const cow of ['split-to-pte-always', 'reuse-if-exclusive-else-split', 'copy-1G']) {
  for (const child of ['alive', 'exited']) COW_CONFIGS.push({ key: `${cow}/${child}`, cow, child, variants: { 'thp.pud.cow': cow } });
}

async function cowRows(ctx) {
  const n = gib(ctx);
  const rows = [];
  const configs = [...COW_CONFIGS];
  if (!ctx.quick) {
    // the 1 GiB copy done for real: data mode, one GiB
    configs.push({ key: 'split-to-pte-always/alive/data', cow: 'split-to-pte-always', child: 'alive', data: true, n: 1, variants: { 'thp.pud.cow': 'split-to-pte-always' } });
    configs.push({ key: 'copy-1G/alive/data', cow: 'copy-1G', child: 'alive', data: true, n: 1, variants: { 'thp.pud.cow': 'copy-1G' } });
  }
  for (const c of configs) {
    ctx.log(`pud cow / ${c.key} ...`);
    const nn = c.n ?? n;
    const opts = { variants: c.variants, data: c.data ?? false, ram: c.data ? '4G' : '64G' };
    const m = await machine(ctx, opts);
    const p = m.spawn();
    const a = mapGiB(p, nn);
    execOk(m, [writeEach(p, a, nn, GiB)], c.key);
    const child = p.fork();
    if (c.child === 'exited') child.exit();
    const mem0 = memory(m, p);
    const ai0 = m.meminfo();
    const ev0 = m.vmstat();
    const mt0 = m.mthp();
    execOk(m, [writeEach(p, a, nn, GiB)], c.key);
    const ev = events(m, ev0);
    const mem = memory(m, p);
    const ai = m.meminfo();
    const row = {
      table: 'cow', config: c.key, label: `${c.cow}, child ${c.child}${c.data ? ', data mode' : ''}`, settings: { variants: { ...SEED, ...c.variants }, data: Boolean(c.data) }, gib: nn,
      events: ev, foliosAllocated: perSize(m, 'anon_fault_alloc', mt0),
      anonPagesKbAdded: ai.AnonPages - ai0.AnonPages, anonHugePagesKbAfter: ai.AnonHugePages, anonHugePagesKbBefore: ai0.AnonHugePages,
      ...mem, vmPteKbBefore: mem0.vmPteKb, childRssKb: c.child === 'alive' ? child.status().RssAnon : null,
      invariants: invariants(m),
    };
    if (c.child === 'alive') child.exit();
    rows.push(row);
    collect();
  }
  // time: one COW fault per sample; fork (and the child's exit) outside the timed window
  const timers = [];
  for (const c of configs) {
    const nn = 1;
    const m = await machine(ctx, { variants: c.variants, data: c.data ?? false, ram: c.data ? '4G' : '64G' });
    const p = m.spawn();
    let r = 0;
    let kid = null;
    timers.push({
      name: `cow/${c.key}`,
      before() {
        r = mapGiB(p, nn);
        execOk(m, [writeEach(p, r, nn, GiB)], c.key);
        kid = p.fork();
        if (c.child === 'exited') kid.exit();
      },
      fn: () => execOk(m, [writeEach(p, r, nn, GiB)], c.key),
      after() {
        if (!kid.hasExited) kid.exit();
        p.munmap(r, nn * GiB);
      },
    });
  }
  ctx.log('pud cow: timing ...');
  const times = await timeInterleaved(ctx, timers, { rounds: ctx.quick ? 4 : 24, perRound: 1 });
  rows.forEach((row, i) => {
    row.usPerCow = round(times[i].msPerRun * 1e3, 1);
    row.samples = times[i].samples;
  });
  collect();
  const seed = rows[0];
  for (const r of rows) if (!r.settings.data) r.timeVsSeed = round(r.usPerCow / seed.usPerCow, 3);
  const dataSeed = rows.find((r) => r.config === 'split-to-pte-always/alive/data');
  for (const r of rows) if (r.settings.data && dataSeed) r.timeVsSeed = round(r.usPerCow / dataSeed.usPerCow, 3);
  return rows;
}

// --- memory pressure ---------------------------------------------------------------------------

/** Fill a 3 GiB machine with 4 KiB pages and free all but one page in every 256 MiB: no free aligned GiB. */
function fragmentGiB(m) {
  const f = m.spawn();
  const len = 2560 * MiB;
  const b = f.mmap(len, { addr: ARENA + 32 * GiB, flags: FIXED });
  const saved = m.getSysfs('transparent_hugepage/enabled');
  const saved1g = m.getSysfs('transparent_hugepage/hugepages-1048576kB/enabled');
  m.setSysfs('transparent_hugepage/enabled', 'never');
  m.setSysfs('transparent_hugepage/hugepages-1048576kB/enabled', 'never');
  f.touch(b, len, { write: true });
  for (let off = 0; off < len; off += 256 * MiB) f.madvise(b + off + 4 * KiB, 256 * MiB - 4 * KiB, 'dontneed');
  m.setSysfs('transparent_hugepage/enabled', saved);
  m.setSysfs('transparent_hugepage/hugepages-1048576kB/enabled', saved1g);
}

/**
 * Only 16 more order-0 allocations succeed: enough for a fork's own tables or a 4 KiB
 * COW copy, not for the 513 tables of a PUD deposit. (Gigantic allocations are not
 * affected: copy-1G still finds a free GiB on these machines; see the 2 GiB case.)
 */
const HEADROOM = 16;
const onePageLeft = (m) => m.injectAllocFailures(2 ** 31, 0, { maxOrder: 0, skip: HEADROOM });

const PRESSURE = [
  {
    name: 'fault, a page table of the pre-deposit cannot be allocated (the 100th order-0 allocation fails)',
    configs: [['predeposit', {}], ['lazy-at-split', { 'pgtable.deposit': 'lazy-at-split' }]],
    run(m, p, a) {
      m.injectAllocFailures(1, 0, { maxOrder: 0, skip: 100 });
      return attempt(() => p.touch(a, 4 * KiB, { write: true }));
    },
  },
  {
    name: 'fault, no free 1 GiB-aligned range (3 GiB RAM fragmented by 4 KiB pages)',
    ram: '3G',
    prepare: fragmentGiB,
    configs: [['predeposit', {}], ['lazy-at-split', { 'pgtable.deposit': 'lazy-at-split' }]],
    run: (m, p, a) => attempt(() => p.touch(a, 4 * KiB, { write: true })),
  },
  {
    name: `fork when only ${HEADROOM} order-0 allocations succeed`,
    faulted: true,
    configs: [['predeposit', {}], ['lazy-at-split', { 'pgtable.deposit': 'lazy-at-split' }]],
    run(m, p) {
      onePageLeft(m);
      return attempt(() => p.fork());
    },
  },
  {
    name: `munmap of 4 KiB inside the GiB when only ${HEADROOM} order-0 allocations succeed`,
    faulted: true,
    configs: ['pte', 'pmd-thps', 'zap'].flatMap((t) => [
      [`${t}, predeposit`, { 'thp.pud.splitTarget': t }],
      [`${t}, lazy-at-split`, { 'thp.pud.splitTarget': t, 'pgtable.deposit': 'lazy-at-split' }],
    ]),
    run(m, p, a) {
      onePageLeft(m);
      return attempt(() => p.munmap(a + 4 * KiB, 4 * KiB));
    },
  },
  ...[['mprotect(PROT_READ)', (p, a) => p.mprotect(a + 4 * KiB, 4 * KiB, 'r')], ['MADV_DONTNEED', (p, a) => p.madvise(a + 4 * KiB, 4 * KiB, 'dontneed')]].map(([what, op]) => ({
    name: `${what} of 4 KiB when only ${HEADROOM} order-0 allocations succeed (pte split target)`,
    faulted: true,
    configs: [['predeposit', {}], ['lazy-at-split', { 'pgtable.deposit': 'lazy-at-split' }]],
    run(m, p, a) {
      onePageLeft(m);
      return attempt(() => op(p, a));
    },
  })),
  {
    name: `COW write after fork (child alive) when only ${HEADROOM} order-0 allocations succeed`,
    faulted: true,
    fork: true,
    configs: ['split-to-pte-always', 'reuse-if-exclusive-else-split', 'copy-1G'].flatMap((cow) => [
      [`${cow}, predeposit`, { 'thp.pud.cow': cow }],
      [`${cow}, lazy-at-split`, { 'thp.pud.cow': cow, 'pgtable.deposit': 'lazy-at-split' }],
    ]),
    run(m, p, a) {
      onePageLeft(m);
      return attempt(() => p.touch(a, 4 * KiB, { write: true }));
    },
  },
  {
    name: `COW write after the child exited (the PUD is exclusive again) when only ${HEADROOM} order-0 allocations succeed`,
    faulted: true,
    fork: 'exit',
    configs: ['split-to-pte-always', 'reuse-if-exclusive-else-split', 'copy-1G'].flatMap((cow) => [
      [`${cow}, predeposit`, { 'thp.pud.cow': cow }],
      [`${cow}, lazy-at-split`, { 'thp.pud.cow': cow, 'pgtable.deposit': 'lazy-at-split' }],
    ]),
    run(m, p, a) {
      onePageLeft(m);
      return attempt(() => p.touch(a, 4 * KiB, { write: true }));
    },
  },
  {
    name: 'COW write after fork on a 2 GiB machine (no second free GiB; child alive)',
    ram: '2G',
    faulted: true,
    fork: true,
    configs: ['split-to-pte-always', 'copy-1G'].map((cow) => [cow, { 'thp.pud.cow': cow }]),
    run: (m, p, a) => attempt(() => p.touch(a, 4 * KiB, { write: true })),
  },
];

async function pressureRows(ctx) {
  const rows = [];
  for (const s of PRESSURE) {
    for (const [label, variants] of s.configs) {
      ctx.log(`pud pressure / ${s.name.slice(0, 40)} / ${label} ...`);
      const m = await machine(ctx, { ram: s.ram ?? '8G', variants });
      s.prepare?.(m);
      const p = m.spawn();
      const a = mapGiB(p, 1);
      if (s.faulted) execOk(m, [writeEach(p, a, 1, GiB)], label);
      if (s.fork) {
        const c = p.fork();
        if (s.fork === 'exit') c.exit();
      }
      const mem0 = memory(m, p);
      const ev0 = m.vmstat();
      const mt0 = m.mthp();
      const result = s.run(m, p, a);
      m.injectAllocFailures(0);
      const mem = memory(m, p);
      rows.push({
        table: 'pressure', scenario: s.name, config: label, settings: { variants: { ...SEED, ...variants }, ram: s.ram ?? '8G' },
        result, events: events(m, ev0), foliosAllocated: perSize(m, 'anon_fault_alloc', mt0), fallbacks: perSize(m, 'anon_fault_fallback', mt0),
        rssKbBefore: mem0.rssKb, vmPteKbBefore: mem0.vmPteKb, ...mem, invariants: invariants(m),
      });
      collect();
    }
  }
  return rows;
}

export async function run(ctx) {
  const rows = [...(await faultRows(ctx)), ...(await splitRows(ctx)), ...(await cowRows(ctx)), ...(await pressureRows(ctx))];
  return {
    key: 'pud',
    name: 'thp.pud',
    title: 'V6 thp.pud.cow, V7 thp.pud.splitTarget, V8 pgtable.deposit (seed 000): anonymous 1 GiB THP, metadata mode, 64 GiB machine',
    rows,
  };
}

export function render(section) {
  const out = [];
  const rows = (t) => section.rows.filter((r) => r.table === t);
  const f = rows('fault');
  if (f.length) {
    out.push('');
    out.push(`  fault: populate ${f[0].gib} GiB, one write per page of the mapping's size (times: one fresh GiB per sample)`);
    out.push(table([
      ['mapping', '>faults', 'folios', '>RSS', '>AnonHugePages', '>VmPTE', '>per GiB', '>ns/fault', '>µs/GiB', '>time ×seed'],
      ...f.map((r) => [r.label, r.faults, sizes(r.folios), kb(r.rssKb), kb(r.anonHugePagesKb), kb(r.vmPteKb), kb(r.vmPteKbPerGiB), ns(r.nsPerFault), r.usPerGiB, ratio(r.timeVsSeed)]),
    ]));
  }
  const s = rows('split');
  if (s.length) {
    out.push('');
    out.push(`  split: mprotect(PROT_READ) of the last 4 KiB of each of ${s[0].gib} GiB (the PUD must split), then write the rest again (times: one split per sample)`);
    out.push(table([
      ['target, deposit', '>µs/split', '>×seed', 'events', 'mapped after', '>VmPTE/GiB before → after', '>PageTables Δ at split', '>RSS after', '>AnonHugePages', '>refaults', 'contents'],
      ...s.map((r) => [r.label, r.usPerSplit, ratio(r.timeVsSeed), counters(r.splitEvents), sizes(r.mappedAfter), `${kb(r.vmPteKbPerGiBBefore)} → ${kb(r.vmPteKbPerGiB)}`,
        kb(r.pageTablesKbAllocatedAtSplit), kb(r.rssKb), kb(r.anonHugePagesKb), r.retouch.faults,
        r.contents.mismatches ? `LOST (${r.contents.mismatches}/${r.contents.points} points zero)` : 'kept']),
    ]));
  }
  const c = rows('cow');
  if (c.length) {
    out.push('');
    out.push(`  COW: fork, then the parent writes 4 KiB in each GiB (${c[0].gib} GiB; data-mode rows: 1 GiB with real copies; times: one COW fault per sample)`);
    out.push(table([
      ['policy, child', '>µs/COW fault', '>×seed', 'events', 'folios allocated', '>AnonPages added', '>parent AnonHugePages', '>parent VmPTE'],
      ...c.map((r) => [r.label, r.usPerCow, ratio(r.timeVsSeed), counters(r.events), sizes(r.foliosAllocated), kb(r.anonPagesKbAdded), kb(r.anonHugePagesKbAfter), kb(r.vmPteKb)]),
    ]));
  }
  const pr = rows('pressure');
  if (pr.length) {
    out.push('');
    out.push('  memory pressure (8 GiB machine unless noted; one 1 GiB THP):');
    for (const scen of [...new Set(pr.map((r) => r.scenario))]) {
      out.push(`  - ${scen}`);
      out.push(table([
        ['variant', 'result', 'events', 'folios allocated', '>RSS before → after', '>VmPTE before → after'],
        ...pr.filter((r) => r.scenario === scen).map((r) => [r.config, r.result, counters(r.events), sizes(r.foliosAllocated),
          `${kb(r.rssKbBefore)} → ${kb(r.rssKb)}`, `${kb(r.vmPteKbBefore)} → ${kb(r.vmPteKb)}`]),
      ], '      '));
    }
  }
  for (const r of section.rows.filter((x) => x.invariants !== 'ok')) out.push(`  INVARIANTS BROKEN in ${r.table}/${r.config}: ${r.invariants}`);
  return out.join('\n');
}
