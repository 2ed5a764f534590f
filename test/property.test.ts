import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Machine, ErrnoError, SignalError } from '../src/index.js';

const PAGE = 4096;
const BASE = 0x7f0000000000;
const WINDOW = 1024; // pages

const op = fc.oneof(
  fc.record({ k: fc.constant('mmap' as const), at: fc.nat(WINDOW - 1), pages: fc.integer({ min: 1, max: 256 }), prot: fc.constantFrom('rw', 'r', 'none'), shmem: fc.boolean() }),
  fc.record({ k: fc.constant('munmap' as const), at: fc.nat(WINDOW - 1), pages: fc.integer({ min: 1, max: 128 }) }),
  fc.record({ k: fc.constant('mprotect' as const), at: fc.nat(WINDOW - 1), pages: fc.integer({ min: 1, max: 128 }), prot: fc.constantFrom('rw', 'r', 'none') }),
  fc.record({ k: fc.constant('madvise' as const), at: fc.nat(WINDOW - 1), pages: fc.integer({ min: 1, max: 128 }), adv: fc.constantFrom('dontneed', 'normal', 'random', 'sequential', 'dontfork', 'dofork', 'hugepage', 'remove') }),
  fc.record({ k: fc.constant('touch' as const), at: fc.nat(WINDOW - 1), pages: fc.integer({ min: 1, max: 256 }), write: fc.boolean(), gen: fc.integer({ min: 1, max: 15 }) }),
);

describe('property: random VMA and access sequences keep the invariants', () => {
  it('mmap/munmap/mprotect/madvise/touch of anonymous and shmem memory with a reference model of contents', async () => {
    const thp = fc.constantFrom('always', 'never', 'within_size', 'advise');
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), thp, thp, async (ops, anonThp, shmemThp) => {
        const m = await Machine.create({
          ram: '256M', data: true,
          sysfs: { 'transparent_hugepage/enabled': ({ always: 'always', never: 'never', within_size: 'always', advise: 'madvise' } as Record<string, string>)[anonThp], 'transparent_hugepage/shmem_enabled': shmemThp },
        });
        const p = m.spawn();
        // reference: byte at offset 0 of each page written (page index -> value); mapped pages and their prot
        const content = new Map<number, number>();
        const prot = new Map<number, string>();
        const shmem = new Set<number>(); // pages of MAP_SHARED memfd mappings (one memfd per mmap)
        for (const o of ops) {
          const addr = BASE + o.at * PAGE;
          const pages = Math.min(o.pages, WINDOW - o.at);
          const len = pages * PAGE;
          try {
            switch (o.k) {
              case 'mmap':
                if (o.shmem) p.mmap(len, { addr, prot: o.prot, flags: 'shared|fixed', backing: 'memfd' });
                else p.mmap(len, { addr, prot: o.prot, flags: 'private|anonymous|fixed' });
                for (let i = 0; i < pages; i++) {
                  content.delete(o.at + i); prot.set(o.at + i, o.prot);
                  if (o.shmem) shmem.add(o.at + i); else shmem.delete(o.at + i);
                }
                break;
              case 'munmap':
                p.munmap(addr, len);
                for (let i = 0; i < pages; i++) { content.delete(o.at + i); prot.delete(o.at + i); shmem.delete(o.at + i); }
                break;
              case 'mprotect': {
                let mapped = true;
                for (let i = 0; i < pages; i++) if (!prot.has(o.at + i)) mapped = false;
                try {
                  p.mprotect(addr, len, o.prot);
                  expect(mapped).toBe(true);
                  for (let i = 0; i < pages; i++) prot.set(o.at + i, o.prot);
                } catch (e) {
                  expect((e as ErrnoError).errno).toBe('ENOMEM');
                  expect(mapped).toBe(false);
                  // the kernel changes the VMAs up to the first hole
                  for (let i = 0; i < pages && prot.has(o.at + i); i++) prot.set(o.at + i, o.prot);
                }
                break;
              }
              case 'madvise': {
                let mapped = true;
                for (let i = 0; i < pages; i++) if (!prot.has(o.at + i)) mapped = false;
                if (o.adv === 'remove') {
                  // MADV_REMOVE punches a hole in the file: only over shared shmem (EINVAL on anonymous memory)
                  let all = true;
                  for (let i = 0; i < pages; i++) if (!shmem.has(o.at + i)) all = false;
                  if (!all) {
                    if (mapped) expect(() => p.madvise(addr, len, 'remove')).toThrow(/EINVAL/);
                    break;
                  }
                  p.madvise(addr, len, 'remove');
                  for (let i = 0; i < pages; i++) content.delete(o.at + i);
                  break;
                }
                try {
                  p.madvise(addr, len, o.adv);
                  expect(mapped).toBe(true);
                } catch (e) {
                  expect((e as ErrnoError).errno).toBe('ENOMEM');
                  expect(mapped).toBe(false);
                }
                // MADV_DONTNEED drops private pages; shmem pages stay in the page cache
                if (o.adv === 'dontneed') for (let i = 0; i < pages; i++) if (prot.has(o.at + i) && !shmem.has(o.at + i)) content.delete(o.at + i);
                break;
              }
              case 'touch': {
                let expectFault = -1;
                for (let i = 0; i < pages; i++) {
                  const pr = prot.get(o.at + i);
                  if (pr === undefined || pr === 'none' || (o.write && pr === 'r')) { expectFault = i; break; }
                }
                try {
                  p.touch(addr, len, { write: o.write, gen: o.gen, base: BASE });
                  expect(expectFault).toBe(-1);
                } catch (e) {
                  expect(e).toBeInstanceOf(SignalError);
                  expect((e as SignalError).address).toBe(BASE + (o.at + expectFault) * PAGE);
                }
                const last = expectFault < 0 ? pages : expectFault;
                if (o.write) for (let i = 0; i < last; i++) content.set(o.at + i, (16 * o.gen + o.at + i) & 0xff);
                break;
              }
            }
          } catch (e) {
            if (!(e instanceof ErrnoError)) throw e;
          }
          m.checkInvariants();
        }
        // every readable page holds what the model says
        for (const [pg, pr] of prot) {
          if (pr === 'none') continue;
          expect(p.load(BASE + pg * PAGE)).toBe(content.get(pg) ?? 0);
        }
        p.exit();
        m.checkInvariants();
        expect(m.meminfo().MemFree).toBe(m.meminfo().MemTotal);
      }),
      { numRuns: Number(process.env.HUGEMMU_PROPERTY_RUNS ?? 200) },
    );
  }, Number(process.env.HUGEMMU_PROPERTY_TIMEOUT_MS ?? 300_000));
});
