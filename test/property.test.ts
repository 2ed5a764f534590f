import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Machine, ErrnoError, SignalError } from '../src/index.js';

const PAGE = 4096;
const BASE = 0x7f0000000000;
const WINDOW = 1024; // pages

const op = fc.oneof(
  fc.record({ k: fc.constant('mmap' as const), at: fc.nat(WINDOW - 1), pages: fc.integer({ min: 1, max: 256 }), prot: fc.constantFrom('rw', 'r', 'none') }),
  fc.record({ k: fc.constant('munmap' as const), at: fc.nat(WINDOW - 1), pages: fc.integer({ min: 1, max: 128 }) }),
  fc.record({ k: fc.constant('mprotect' as const), at: fc.nat(WINDOW - 1), pages: fc.integer({ min: 1, max: 128 }), prot: fc.constantFrom('rw', 'r', 'none') }),
  fc.record({ k: fc.constant('madvise' as const), at: fc.nat(WINDOW - 1), pages: fc.integer({ min: 1, max: 128 }), adv: fc.constantFrom('dontneed', 'normal', 'random', 'sequential', 'dontfork', 'dofork') }),
  fc.record({ k: fc.constant('touch' as const), at: fc.nat(WINDOW - 1), pages: fc.integer({ min: 1, max: 256 }), write: fc.boolean(), gen: fc.integer({ min: 1, max: 15 }) }),
);

describe('property: random VMA and access sequences keep the invariants', () => {
  it('mmap/munmap/mprotect/madvise/touch with a reference model of contents', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), async (ops) => {
        const m = await Machine.create({ ram: '256M', data: true });
        const p = m.spawn();
        // reference: byte at offset 0 of each page written (page index -> value); mapped pages and their prot
        const content = new Map<number, number>();
        const prot = new Map<number, string>();
        for (const o of ops) {
          const addr = BASE + o.at * PAGE;
          const pages = Math.min(o.pages, WINDOW - o.at);
          const len = pages * PAGE;
          try {
            switch (o.k) {
              case 'mmap':
                p.mmap(len, { addr, prot: o.prot, flags: 'private|anonymous|fixed' });
                for (let i = 0; i < pages; i++) { content.delete(o.at + i); prot.set(o.at + i, o.prot); }
                break;
              case 'munmap':
                p.munmap(addr, len);
                for (let i = 0; i < pages; i++) { content.delete(o.at + i); prot.delete(o.at + i); }
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
                try {
                  p.madvise(addr, len, o.adv);
                  expect(mapped).toBe(true);
                } catch (e) {
                  expect((e as ErrnoError).errno).toBe('ENOMEM');
                  expect(mapped).toBe(false);
                }
                if (o.adv === 'dontneed') for (let i = 0; i < pages; i++) if (prot.has(o.at + i)) content.delete(o.at + i);
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
  }, 300_000);
});
