// Hot kernels against their native C twins: table construction, 1 GiB zeroing,
// the PUD split.
import { measure, warmUp } from '../lib/harness.mjs';

const GiB = 2 ** 30;
// A present, writable, user, accessed, dirty, NX PTE (the same bits as bench/native/pte_fill.c).
const ENTRY_LO = 0x00000867, ENTRY_HI = 0x80000000;

/** pte_table_fill: fill_pte_table() n times into one hot table, in one call (assembly/bench.ts). */
export async function pteTableFill(ctx) {
  const m = await ctx.hm.Machine.create({ ram: '1G' });
  const fill = m.core.e.bench_fill_pte_table;
  const n = ctx.quick ? 5000 : 20000;
  warmUp(() => fill(100, ENTRY_LO, ENTRY_HI), 50);
  const r = await measure(ctx, { name: 'pte_table_fill', ops: n, fn: () => fill(n, ENTRY_LO, ENTRY_HI) });
  return { value: r.perSecond, detail: { tables_per_call: n, ns_per_table: round((r.msPerCall * 1e6) / n), median_tables_per_s: Math.round(r.medianPerSecond), samples: r.samples, rme_percent: round(r.rme) } };
}

async function pudMachine(ctx, data, ram) {
  return ctx.hm.Machine.create({
    ram,
    data,
    sysfs: { 'transparent_hugepage/enabled': 'always', 'transparent_hugepage/hugepages-1048576kB/enabled': 'always' },
  });
}

const PUD_KB = 1024 * 1024;

/**
 * zero_1g: a write fault on a 1 GiB THP in data mode, which zeroes the whole
 * folio (the core's memory.fill, in process_huge_page order). The mapping is
 * removed after each sample (outside the timed window), so later samples clear
 * recycled, already-touched host memory, like the native memset baseline.
 */
export async function zero1g(ctx) {
  const m = await pudMachine(ctx, true, '3G');
  const p = m.spawn();
  let a = 0;
  const r = await measure(ctx, {
    name: 'zero_1g',
    ops: 1,
    time: 0,
    iterations: ctx.quick ? 3 : 9,
    warmupIterations: 2,
    beforeEach() {
      a = p.mmap(GiB, { align: GiB });
    },
    fn() {
      const res = p.touch(a + 12345 * 4096, 1, { write: true });
      if (res.faults !== 1) throw new Error(`zero_1g: ${res.faults} faults`);
    },
    afterEach() {
      const kb = p.status().RssAnon;
      if (kb !== PUD_KB) throw new Error(`zero_1g: the fault mapped ${kb} kB, not a 1 GiB THP`);
      p.munmap(a, GiB);
    },
  });
  return { value: r.msPerCall, detail: { median_ms: round(r.medianMs), samples: r.samples, rme_percent: round(r.rme), gib_per_s: round(1000 / r.msPerCall) } };
}

/**
 * split_pud: mprotect() of one 4 KiB page inside a 1 GiB THP, which splits the
 * PUD mapping (thp.pud.splitTarget = pte: 512 PTE tables filled from the
 * deposit) before changing the page's protection.
 */
export async function splitPud(ctx) {
  // A big machine: each sample needs a free, 1 GiB-aligned gigantic range.
  const m = await pudMachine(ctx, false, '512G');
  const p = m.spawn();
  let a = 0;
  const before = m.vmstat().thp_split_pud;
  let runs = 0;
  const r = await measure(ctx, {
    name: 'split_pud',
    ops: 1,
    time: 0,
    iterations: ctx.quick ? 10 : 40,
    warmupIterations: ctx.quick ? 3 : 8,
    beforeEach() {
      a = p.mmap(GiB, { align: GiB });
      const kb = p.status().RssAnon;
      p.touch(a, 1, { write: true });
      if (p.status().RssAnon - kb !== PUD_KB) throw new Error(`split_pud: the write fault mapped ${p.status().RssAnon - kb} kB, not a 1 GiB THP`);
    },
    fn() {
      p.mprotect(a + 4096, 4096, 'r');
      runs++;
    },
    afterEach() {
      p.munmap(a, GiB);
    },
  });
  const splits = m.vmstat().thp_split_pud - before;
  if (splits !== runs) throw new Error(`split_pud: ${splits} PUD splits for ${runs} mprotect calls`);
  return { value: r.msPerCall * 1000, detail: { median_us: round(r.medianMs * 1000), samples: r.samples, rme_percent: round(r.rme) } };
}

function round(x, d = 2) {
  return Math.round(x * 10 ** d) / 10 ** d;
}
