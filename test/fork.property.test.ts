// Issue 6: random fork/exit/store/COW/munmap/madvise sequences over several processes in
// data mode, against a plain reference model of every process's memory: a store in one
// process is never visible in another unless the memory is shared (MAP_SHARED memfd).
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Machine, SignalError, type Process } from '../src/index.js';

const PAGE = 4096;
const BASE = 0x7f0000000000; // 2 MiB aligned, so PMD THPs fit
const WINDOW = 2048; // pages (8 MiB)

type Page = { kind: 'anon'; value: number; dontfork: boolean; wipe: boolean } | { kind: 'shm'; obj: number; idx: number; dontfork: boolean };
interface Proc { p: Process; pages: Map<number, Page> }

const op = fc.oneof(
  { weight: 3, arbitrary: fc.record({ k: fc.constant('mmap' as const), at: fc.nat(WINDOW - 1), pages: fc.integer({ min: 1, max: 1024 }), shared: fc.boolean(), who: fc.nat() }) },
  { weight: 5, arbitrary: fc.record({ k: fc.constant('write' as const), at: fc.nat(WINDOW - 1), pages: fc.integer({ min: 1, max: 600 }), gen: fc.integer({ min: 1, max: 15 }), who: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('munmap' as const), at: fc.nat(WINDOW - 1), pages: fc.integer({ min: 1, max: 600 }), who: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('madvise' as const), at: fc.nat(WINDOW - 1), pages: fc.integer({ min: 1, max: 600 }), adv: fc.constantFrom('dontneed', 'dontfork', 'dofork', 'wipeonfork', 'keeponfork', 'pageout', 'cold'), who: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('fork' as const), who: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('exit' as const), who: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('check' as const), who: fc.nat() }) },
);

function expectedByte(pg: Page, shm: Map<number, Map<number, number>>): number {
  if (pg.kind === 'anon') return pg.value;
  return shm.get(pg.obj)?.get(pg.idx) ?? 0;
}

function checkContents(proc: Proc, shm: Map<number, Map<number, number>>): void {
  for (const [i, pg] of proc.pages) {
    expect(proc.p.load(BASE + i * PAGE), `pid ${proc.p.pid} page ${i}`).toBe(expectedByte(pg, shm));
  }
}

describe('property: fork, exit, COW and shared memory across processes in data mode', () => {
  it('every process sees exactly its own stores and the shared ones', async () => {
    const thp = fc.record({
      anon: fc.constantFrom('always', 'never', 'madvise'),
      m64k: fc.constantFrom('always', 'never'),
      shmem: fc.constantFrom('always', 'never'),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 30 }), thp, async (ops, knobs) => {
        const m = await Machine.create({
          ram: '512M', data: true,
          sysfs: {
            'transparent_hugepage/enabled': knobs.anon,
            'transparent_hugepage/hugepages-64kB/enabled': knobs.m64k,
            'transparent_hugepage/shmem_enabled': knobs.shmem,
          },
        });
        const procs: Proc[] = [{ p: m.spawn(), pages: new Map() }];
        const shm = new Map<number, Map<number, number>>();
        let nextObj = 1;
        for (const o of ops) {
          const pr = procs[('who' in o ? o.who : 0) % procs.length];
          switch (o.k) {
            case 'mmap': {
              const pages = Math.min(o.pages, WINDOW - o.at);
              const obj = nextObj++;
              pr.p.mmap(pages * PAGE, o.shared
                ? { addr: BASE + o.at * PAGE, flags: 'shared|fixed', backing: 'memfd' }
                : { addr: BASE + o.at * PAGE, flags: 'private|anonymous|fixed' });
              if (o.shared) shm.set(obj, new Map());
              for (let i = 0; i < pages; i++) {
                pr.pages.set(o.at + i, o.shared ? { kind: 'shm', obj, idx: i, dontfork: false } : { kind: 'anon', value: 0, dontfork: false, wipe: false });
              }
              break;
            }
            case 'write': {
              const pages = Math.min(o.pages, WINDOW - o.at);
              let stop = pages;
              for (let i = 0; i < pages; i++) if (!pr.pages.has(o.at + i)) { stop = i; break; }
              try {
                pr.p.touch(BASE + o.at * PAGE, pages * PAGE, { write: true, gen: o.gen, base: BASE });
                expect(stop).toBe(pages);
              } catch (e) {
                expect(e).toBeInstanceOf(SignalError);
                expect((e as SignalError).address).toBe(BASE + (o.at + stop) * PAGE);
              }
              for (let i = 0; i < stop; i++) {
                const v = (16 * o.gen + o.at + i) & 0xff;
                const pg = pr.pages.get(o.at + i)!;
                if (pg.kind === 'anon') pg.value = v;
                else shm.get(pg.obj)!.set(pg.idx, v);
              }
              break;
            }
            case 'munmap': {
              const pages = Math.min(o.pages, WINDOW - o.at);
              pr.p.munmap(BASE + o.at * PAGE, pages * PAGE);
              for (let i = 0; i < pages; i++) pr.pages.delete(o.at + i);
              break;
            }
            case 'madvise': {
              const pages = Math.min(o.pages, WINDOW - o.at);
              let mapped = true, anyShared = false;
              for (let i = 0; i < pages; i++) {
                const pg = pr.pages.get(o.at + i);
                if (!pg) mapped = false; else if (pg.kind === 'shm') anyShared = true;
              }
              try {
                pr.p.madvise(BASE + o.at * PAGE, pages * PAGE, o.adv);
                expect(mapped).toBe(true);
              } catch (e) {
                const errno = (e as { errno?: string }).errno;
                // ENOMEM for a hole; WIPEONFORK on shared memory is EINVAL
                if (errno === 'EINVAL') { expect(o.adv === 'wipeonfork' && anyShared).toBe(true); break; }
                expect(errno).toBe('ENOMEM');
                expect(mapped).toBe(false);
              }
              // madvise_walk_vmas(): every VMA of the range, holes only make it return ENOMEM at
              // the end; a VMA that refuses the advice (WIPEONFORK on shared memory) stops it
              for (let i = 0; i < pages; i++) {
                const pg = pr.pages.get(o.at + i);
                if (!pg) continue;
                if (pg.kind === 'shm' && o.adv === 'wipeonfork') break;
                if (o.adv === 'dontfork') pg.dontfork = true;
                else if (o.adv === 'dofork') pg.dontfork = false;
                if (pg.kind !== 'anon') continue;
                if (o.adv === 'dontneed') pg.value = 0;
                else if (o.adv === 'wipeonfork') pg.wipe = true;
                else if (o.adv === 'keeponfork') pg.wipe = false;
              }
              break;
            }
            case 'fork': {
              if (procs.length >= 4) break;
              const c = pr.p.fork();
              const pages = new Map<number, Page>();
              for (const [i, pg] of pr.pages) {
                if (pg.dontfork) continue;
                if (pg.kind === 'shm') pages.set(i, { ...pg });
                else pages.set(i, { kind: 'anon', value: pg.wipe ? 0 : pg.value, dontfork: false, wipe: pg.wipe });
              }
              procs.push({ p: c, pages });
              break;
            }
            case 'exit': {
              if (procs.length === 1) break;
              pr.p.exit();
              procs.splice(procs.indexOf(pr), 1);
              break;
            }
            case 'check':
              checkContents(pr, shm);
              break;
          }
          m.checkInvariants();
        }
        for (const pr of procs) checkContents(pr, shm);
        for (const pr of procs) pr.p.exit();
        m.checkInvariants();
        expect(m.meminfo()).toMatchObject({ AnonPages: 0, Shmem: 0, Mapped: 0 });
        // an unused huge zero folio is freed by its shrinker, not at exit
        m.dropCaches();
        expect(m.meminfo().MemFree).toBe(m.meminfo().MemTotal);
      }),
      { numRuns: Number(process.env.HUGEMMU_PROPERTY_RUNS ?? 120) },
    );
  }, Number(process.env.HUGEMMU_PROPERTY_TIMEOUT_MS ?? 300_000));
});
