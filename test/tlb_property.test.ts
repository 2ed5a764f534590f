import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Machine, SignalError, ErrnoError, MiB, type Process } from '../src/index.js';

/**
 * Random system calls and accesses by threads of one process (and a forked child)
 * on several CPUs with real bytes. The oracles: after every step no cached
 * translation of any CPU grants more than the page table (the stale-entry check
 * inside checkInvariants), and every page reads back what was last written to it
 * through this mm (copy-on-write never leaks between parent and child).
 */
const PAGES = 64;
const REGION = PAGES * 4096;

type Step =
  | { kind: 'write'; task: number; page: number; n: number; gen: number }
  | { kind: 'read'; task: number; page: number; n: number }
  | { kind: 'mprotect'; task: number; page: number; n: number; prot: 'r' | 'rw' }
  | { kind: 'dontneed'; task: number; page: number; n: number }
  | { kind: 'fork' }
  | { kind: 'childWrite'; page: number; gen: number }
  | { kind: 'migrate'; task: number; cpu: number }
  | { kind: 'khugepaged' };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('write' as const), task: fc.nat(2), page: fc.nat(PAGES - 1), n: fc.integer({ min: 1, max: 40 }), gen: fc.integer({ min: 1, max: 15 }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('read' as const), task: fc.nat(2), page: fc.nat(PAGES - 1), n: fc.integer({ min: 1, max: 64 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('mprotect' as const), task: fc.nat(2), page: fc.nat(PAGES - 1), n: fc.integer({ min: 1, max: 40 }), prot: fc.constantFrom('r' as const, 'rw' as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('dontneed' as const), task: fc.nat(2), page: fc.nat(PAGES - 1), n: fc.integer({ min: 1, max: 40 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('fork' as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('childWrite' as const), page: fc.nat(PAGES - 1), gen: fc.integer({ min: 1, max: 15 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('migrate' as const), task: fc.nat(2), cpu: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('khugepaged' as const) }) },
);

async function play(tlb: string, steps: Step[]): Promise<void> {
  const m = await Machine.create({
    ram: '1G', data: true, cpus: 4, tlb, tlbCheck: true,
    sysfs: { 'transparent_hugepage/enabled': 'always', 'transparent_hugepage/hugepages-64kB/enabled': 'always' },
  });
  const p = m.spawn();
  const tasks: Process[] = [p, p.thread({ cpu: 1 }), p.thread({ cpu: 2 })];
  const a = p.mmap(REGION, { align: 2 * MiB });
  // expected byte at the start of each page for the parent and the child (0 = never written / dropped)
  const mine = new Array<number>(PAGES).fill(0);
  let child: Process | undefined;
  let theirs: number[] = [];
  const writable = new Array<boolean>(PAGES).fill(true);
  const clamp = (page: number, n: number) => Math.min(n, PAGES - page);
  for (const s of steps) {
    if (s.kind === 'write') {
      const n = clamp(s.page, s.n);
      for (let i = 0; i < n; i++) {
        const pg = s.page + i;
        try {
          tasks[s.task].store(a + pg * 4096, s.gen);
          expect(writable[pg]).toBe(true);
          mine[pg] = s.gen;
        } catch (e) {
          expect(e).toBeInstanceOf(SignalError);
          expect(writable[pg]).toBe(false);
        }
      }
    } else if (s.kind === 'read') {
      const n = clamp(s.page, s.n);
      for (let i = 0; i < n; i++) expect(tasks[s.task].load(a + (s.page + i) * 4096)).toBe(mine[s.page + i]);
    } else if (s.kind === 'mprotect') {
      const n = clamp(s.page, s.n);
      tasks[s.task].mprotect(a + s.page * 4096, n * 4096, s.prot);
      for (let i = 0; i < n; i++) writable[s.page + i] = s.prot === 'rw';
    } else if (s.kind === 'dontneed') {
      const n = clamp(s.page, s.n);
      tasks[s.task].madvise(a + s.page * 4096, n * 4096, 'dontneed');
      for (let i = 0; i < n; i++) mine[s.page + i] = 0;
    } else if (s.kind === 'fork') {
      if (child) child.exit();
      child = p.fork();
      theirs = [...mine];
    } else if (s.kind === 'childWrite') {
      if (!child) continue;
      try {
        child.store(a + s.page * 4096, s.gen);
        theirs[s.page] = s.gen;
      } catch (e) {
        if (!(e instanceof SignalError)) throw e;
      }
    } else if (s.kind === 'migrate') {
      tasks[s.task].setCpu(s.cpu);
    } else {
      m.khugepaged(1);
    }
    m.checkInvariants();
  }
  for (let pg = 0; pg < PAGES; pg++) {
    expect(p.load(a + pg * 4096)).toBe(mine[pg]);
    if (child) expect(child.load(a + pg * 4096)).toBe(theirs[pg]);
  }
  m.checkInvariants();
  const t = m.tlbStats().total;
  expect(t.stale_entries).toBe(0);
}

describe('random multi-CPU workloads keep every cached translation within the page table', () => {
  for (const tlb of ['skylake', 'zen2', 'neoverse-n1', 'off']) {
    it(tlb, async () => {
      await fc.assert(fc.asyncProperty(fc.array(stepArb, { minLength: 10, maxLength: 60 }), async (steps) => {
        try {
          await play(tlb, steps);
        } catch (e) {
          if (e instanceof ErrnoError) return; // e.g. ENOMEM is an answer, not a model bug
          throw e;
        }
      }), { numRuns: 12, seed: 42 });
    });
  }
});
