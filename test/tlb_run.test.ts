import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Machine, MiB, type Process } from '../src/index.js';

/**
 * A read or write run (touch with a stride of 4 KiB or more) goes through the core's
 * batched walk path (tlb_run); single accesses go through the per-access translation.
 * Both must model exactly the same hardware: two machines play the same steps, one
 * with touch runs, the other with one access per address, and every TLB counter of
 * every CPU (hits, misses, walks, walk-cache hits, faults, ...), smaps (accessed and
 * dirty bits) and the bytes written must agree, with the stale-entry check on.
 */
const PAGES = 4096; // 16 MiB
const REGION = PAGES * 4096;

type Step =
  | { kind: 'read'; task: number; page: number; n: number; stride: number }
  | { kind: 'write'; task: number; page: number; n: number }
  | { kind: 'wrun'; task: number; page: number; n: number; stride: number; gen: number }
  | { kind: 'mprotect'; page: number; n: number; prot: 'r' | 'rw' }
  | { kind: 'dontneed'; page: number; n: number }
  | { kind: 'cold'; page: number; n: number }
  | { kind: 'free'; page: number; n: number }
  | { kind: 'migrate'; task: number; cpu: number }
  | { kind: 'khugepaged' };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('read' as const), task: fc.nat(1), page: fc.nat(PAGES - 1), n: fc.integer({ min: 1, max: 1200 }), stride: fc.constantFrom(1, 1, 1, 2, 3, 17, 512) }) },
  // small windows read again and again, some with a stride of one L1 set (16 pages):
  // L1 hits, LRU order and evictions inside runs
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('read' as const), task: fc.constant(0), page: fc.nat(255), n: fc.integer({ min: 1, max: 96 }), stride: fc.constantFrom(1, 16, 16, 32) }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('wrun' as const), task: fc.nat(1), page: fc.nat(PAGES - 1), n: fc.integer({ min: 1, max: 1200 }), stride: fc.constantFrom(1, 1, 2, 16, 17), gen: fc.integer({ min: 1, max: 15 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('write' as const), task: fc.nat(1), page: fc.nat(PAGES - 1), n: fc.integer({ min: 1, max: 600 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('mprotect' as const), page: fc.nat(PAGES - 1), n: fc.integer({ min: 1, max: 700 }), prot: fc.constantFrom('r' as const, 'rw' as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('dontneed' as const), page: fc.nat(PAGES - 1), n: fc.integer({ min: 1, max: 700 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('free' as const), page: fc.nat(PAGES - 1), n: fc.integer({ min: 1, max: 1500 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('cold' as const), page: fc.nat(PAGES - 1), n: fc.integer({ min: 1, max: 1500 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('migrate' as const), task: fc.nat(1), cpu: fc.nat(1) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('khugepaged' as const) }) },
);

interface Side { m: Machine; tasks: Process[]; a: number }

async function side(tlb: string, thp: string): Promise<Side> {
  const m = await Machine.create({
    ram: '1G', data: true, cpus: 2, tlb, tlbCheck: true,
    sysfs: { 'transparent_hugepage/enabled': thp, 'transparent_hugepage/hugepages-64kB/enabled': 'always' },
  });
  const p = m.spawn();
  const tasks = [p, p.thread({ cpu: 1 })];
  const a = p.mmap(REGION, { align: 2 * MiB });
  p.touch(a, REGION / 2, { write: true, stride: 2048 }); // half populated (per-access path: not a run)
  return { m, tasks, a };
}

function apply(s: Side, step: Step, batched: boolean): void {
  const clamp = (page: number, n: number) => Math.min(n, PAGES - page);
  const p = s.tasks[0];
  switch (step.kind) {
    case 'read': {
      const t = s.tasks[step.task];
      const stride = step.stride * 4096;
      const len = clamp(step.page, step.n) * 4096;
      const start = s.a + step.page * 4096;
      if (batched) t.touch(start, len, { stride });
      else for (let off = 0; off < len; off += stride) t.load(start + off);
      break;
    }
    case 'write': {
      const t = s.tasks[step.task];
      const start = s.a + step.page * 4096;
      const n = clamp(step.page, step.n);
      // writes may hit read-only pages: both sides take the same signal
      for (let i = 0; i < n; i += 7) {
        try { t.store(start + i * 4096, 1 + (i & 127)); } catch { /* SIGSEGV on a read-only page */ }
      }
      break;
    }
    case 'wrun': {
      // a write touch: stops at the first page it may not write (SIGSEGV), on both sides
      const t = s.tasks[step.task];
      const stride = step.stride * 4096;
      const len = clamp(step.page, step.n) * 4096;
      const start = s.a + step.page * 4096;
      const opts = { write: true, gen: step.gen, base: s.a };
      try {
        if (batched) t.touch(start, len, { ...opts, stride });
        else for (let off = 0; off < len; off += stride) t.touch(start + off, 1, { ...opts, stride: 1 });
      } catch { /* SIGSEGV */ }
      break;
    }
    case 'mprotect':
      p.mprotect(s.a + step.page * 4096, clamp(step.page, step.n) * 4096, step.prot);
      break;
    case 'dontneed':
      p.madvise(s.a + step.page * 4096, clamp(step.page, step.n) * 4096, 'dontneed');
      break;
    case 'cold': // clears the accessed bits a later walk sets again (smaps Referenced)
      p.madvise(s.a + step.page * 4096, clamp(step.page, step.n) * 4096, 'cold');
      break;
    case 'free': // MADV_FREE: clean PTEs; a later write walk sets D again (smaps LazyFree)
      p.madvise(s.a + step.page * 4096, clamp(step.page, step.n) * 4096, 'free');
      break;
    case 'migrate':
      s.tasks[step.task].setCpu(step.cpu);
      break;
    case 'khugepaged':
      s.m.khugepaged(1);
      break;
  }
}

const runStat = (m: Machine, which: number) => (m.core.e.debug_tlb_runs as (w: number) => number)(which);

describe('batched runs (tlb_read_run, tlb_write_run)', () => {
  for (const tlb of ['skylake', 'golden-cove', 'zen2', 'neoverse-n1']) {
    it(`${tlb}: touch runs count exactly what per-access loads count`, async () => {
      let runs = 0, l1hits = 0, l2hits = 0;
      await fc.assert(
        fc.asyncProperty(fc.constantFrom('never', 'never', 'always', 'madvise'), fc.array(stepArb, { minLength: 1, maxLength: 14 }), async (thp, steps) => {
          const A = await side(tlb, thp);
          const B = await side(tlb, thp);
          for (const step of steps) {
            apply(A, step, true);
            apply(B, step, false);
            expect(A.m.tlbStats()).toEqual(B.m.tlbStats());
            expect(A.tasks[0].smaps()).toEqual(B.tasks[0].smaps());
          }
          A.m.checkInvariants();
          B.m.checkInvariants();
          expect(runStat(B.m, 0)).toBe(0); // single accesses never take the batched path
          const bytes = (x: Side) => Array.from({ length: PAGES / 8 }, (_, i) => x.tasks[0].load(x.a + (i * 8 + (i % 8)) * 4096));
          expect(bytes(A)).toEqual(bytes(B));
          runs += runStat(A.m, 0);
          l1hits += runStat(A.m, 1);
          l2hits += runStat(A.m, 2);
        }),
        { numRuns: Number(process.env.HUGEMMU_PROPERTY_RUNS ?? 25), seed: process.env.HUGEMMU_PROPERTY_SEED ? Number(process.env.HUGEMMU_PROPERTY_SEED) : 20261126 },
      );
      // the x86 presets' geometry is what runs serve (arm64 contpte coalesces: never batched)
      if (tlb === 'skylake' || tlb === 'golden-cove') {
        expect(runs).toBeGreaterThan(1000);
        expect(l1hits).toBeGreaterThan(0);
        expect(l2hits).toBeGreaterThan(100);
      }
    });
  }

  // One L1 set (16 sets on both presets), then one L2 set, filled with ways + 1 pages in
  // an order where the least recently used way depends on a hit inside a run having
  // moved its entry first; then the accessed bits, cleared and set again by runs.
  for (const [tlb, ways, l2sets, l2ways] of [['skylake', 4, 256, 6], ['golden-cove', 6, 128, 16]] as const) {
    it(`${tlb}: LRU order inside runs (L1 and L2 hits, evictions)`, async () => {
      const A = await side(tlb, 'never');
      const B = await side(tlb, 'never');
      const set = (k: number) => ({ kind: 'read' as const, task: 0, page: 16 * k, n: 1, stride: 1 });
      const steps: Step[] = [
        { kind: 'read', task: 0, page: 0, n: 16 * (ways - 1) + 1, stride: 16 }, // ways pages of one set
        set(0), // hit: page 0 becomes the most recent
        set(ways), // evicts the least recent (page 16, not page 0)
        set(0), set(1), set(0),
        { kind: 'read', task: 0, page: 0, n: 16 * ways + 1, stride: 16 }, // hits and misses in one run
        { kind: 'read', task: 0, page: 0, n: 1024, stride: 1 }, // beyond L1: L2 hits
        { kind: 'read', task: 0, page: 0, n: 1024, stride: 1 },
        // one L2 set: l2ways pages, an L2 hit on the first, one more page, then the second
        { kind: 'read', task: 0, page: 0, n: l2sets * (l2ways - 1) + 1, stride: l2sets },
        { kind: 'read', task: 0, page: 0, n: 1, stride: 1 },
        { kind: 'read', task: 0, page: l2sets * l2ways, n: 1, stride: 1 },
        { kind: 'read', task: 0, page: l2sets, n: 1, stride: 1 },
        { kind: 'read', task: 0, page: 0, n: 1, stride: 1 },
        { kind: 'cold', page: 0, n: 2048 },
        { kind: 'read', task: 0, page: 0, n: 3000, stride: 3 },
      ];
      for (const step of steps) {
        apply(A, step, true);
        apply(B, step, false);
        expect(A.m.tlbStats()).toEqual(B.m.tlbStats());
        expect(A.tasks[0].smaps()).toEqual(B.tasks[0].smaps());
      }
      expect(runStat(A.m, 1)).toBeGreaterThan(0);
      expect(runStat(A.m, 2)).toBeGreaterThan(0);
    });
  }

  // Writes through cached read-only entries (a fault from the TLB) and clean ones (the
  // walker sets D), and write walks over clean PTEs (MADV_FREE undone by the store).
  for (const tlb of ['skylake', 'golden-cove']) {
    it(`${tlb}: write runs through read-only and clean entries`, async () => {
      const A = await side(tlb, 'never');
      const B = await side(tlb, 'never');
      const steps: Step[] = [
        { kind: 'free', page: 0, n: 512 },
        { kind: 'wrun', task: 0, page: 0, n: 200, stride: 1, gen: 3 }, // walks over clean PTEs
        { kind: 'free', page: 0, n: 512 },
        { kind: 'read', task: 0, page: 0, n: 40, stride: 1 }, // clean entries cached
        { kind: 'wrun', task: 0, page: 0, n: 40, stride: 1, gen: 4 }, // L1 hits on clean entries
        { kind: 'read', task: 0, page: 0, n: 400, stride: 1 },
        { kind: 'wrun', task: 0, page: 0, n: 400, stride: 1, gen: 5 }, // L2 hits on clean entries
        { kind: 'mprotect', page: 0, n: 64, prot: 'r' },
        { kind: 'read', task: 0, page: 0, n: 64, stride: 1 }, // read-only entries cached
        { kind: 'wrun', task: 0, page: 0, n: 64, stride: 1, gen: 6 }, // a fault from the TLB: SIGSEGV
        { kind: 'mprotect', page: 0, n: 64, prot: 'rw' },
        { kind: 'read', task: 0, page: 1024, n: 64, stride: 1 }, // zero-page entries (read-only)
        { kind: 'wrun', task: 0, page: 1024, n: 64, stride: 1, gen: 7 }, // COW faults
      ];
      for (const step of steps) {
        apply(A, step, true);
        apply(B, step, false);
        expect(A.m.tlbStats()).toEqual(B.m.tlbStats());
        expect(A.tasks[0].smaps()).toEqual(B.tasks[0].smaps());
      }
      expect(A.m.tlbStats().total.dirty_assists).toBeGreaterThan(0);
      expect(A.m.tlbStats().total.page_faults).toBeGreaterThan(0);
      expect(runStat(A.m, 0)).toBeGreaterThan(500);
    });
  }

  it('a 4 KiB read run walks once per page and hits the PDE walk cache', async () => {
    const m = await Machine.create({ ram: '1G', tlb: 'skylake', tlbCheck: true, sysfs: { 'transparent_hugepage/enabled': 'never' } });
    const p = m.spawn();
    const a = p.mmap(64 * MiB, { align: 2 * MiB });
    p.touch(a, 64 * MiB, { write: true });
    const before = m.tlbStats().total;
    const r = p.touch(a, 64 * MiB);
    const d = m.tlbStats().total;
    const pages = (64 * MiB) / 4096;
    expect(r.faults).toBe(0);
    expect(d.walks - before.walks).toBe(pages);
    expect(d.walk_refs - before.walk_refs).toBe(pages); // a PDE walk-cache hit leaves one PTE to read
    expect(d.pwc_hit_pde - before.pwc_hit_pde).toBe(pages);
    expect(d.l1d_miss_4k - before.l1d_miss_4k).toBe(pages);
    expect(d.l2_miss_4k - before.l2_miss_4k).toBe(pages);
    expect(d.loads - before.loads).toBe(pages);
  });
});
