import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Machine, ErrnoError, SignalError, MiB, KiB } from '../src/index.js';

const M2 = 2 * MiB;
const BASE = 0x7f0000000000;
const SLOTS = 4; // mappings live in 4 slots of 16 MiB (8 huge pages each)
const SLOT = 16 * MiB;

const slot = fc.nat(SLOTS - 1);
const op = fc.oneof(
  fc.record({ k: fc.constant('hugetlb' as const), s: slot, pages: fc.integer({ min: 1, max: 4 }), shared: fc.boolean(), noreserve: fc.boolean(), prot: fc.constantFrom('rw', 'r') }),
  fc.record({ k: fc.constant('anon' as const), s: slot, pages: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ k: fc.constant('munmap' as const), s: slot, off: fc.nat(3), pages: fc.integer({ min: 1, max: 4 }), half: fc.boolean() }),
  fc.record({ k: fc.constant('mprotect' as const), s: slot, off: fc.nat(3), pages: fc.integer({ min: 1, max: 4 }), prot: fc.constantFrom('rw', 'r', 'none'), half: fc.boolean() }),
  fc.record({ k: fc.constant('madvise' as const), s: slot, off: fc.nat(3), pages: fc.integer({ min: 1, max: 4 }), adv: fc.constantFrom('dontneed', 'remove', 'split', 'collapse', 'populate_read', 'populate_write', 'dontfork') }),
  fc.record({ k: fc.constant('hgmmap' as const), s: slot, off: fc.nat(3), kb: fc.integer({ min: 4, max: 4096 }) }),
  fc.record({ k: fc.constant('touch' as const), s: slot, off: fc.nat(3), kb: fc.integer({ min: 4, max: 4096 }), write: fc.boolean() }),
  fc.record({ k: fc.constant('pin' as const), s: slot, off: fc.nat(3), kb: fc.integer({ min: 4, max: 4096 }), write: fc.boolean() }),
  fc.record({ k: fc.constant('mremap' as const), s: slot, to: slot, pages: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ k: fc.constant('fork' as const) }),
  fc.record({ k: fc.constant('exit' as const), i: fc.nat(3) }),
  fc.record({ k: fc.constant('switch' as const), i: fc.nat(3) }),
  fc.record({ k: fc.constant('pool' as const), n: fc.integer({ min: 0, max: 24 }) }),
);

describe('property: hugetlb mixed with normal mappings keeps the invariants', () => {
  it('random hugetlb/anon mmap, munmap, mprotect, madvise (HGM included), touch, pin, fork, exit and pool resizes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 30 }), fc.boolean(), fc.constantFrom('thp-like', 'per-hpte', 'per-hierarchy'),
        fc.constantFrom('fixed', 'buggy-rfc-v2'), fc.integer({ min: 0, max: 4 }),
        async (ops, hgm, mapcount, skip, overcommit) => {
          const m = await Machine.create({
            ram: '256M', data: true,
            variants: { 'hgm.enable': hgm ? 'madv-split' : 'absent', 'hgm.mapcount': mapcount, 'hgm.gupSkipMath': skip },
            sysfs: { 'transparent_hugepage/enabled': 'always' },
          });
          m.setSysfs('hugepages/hugepages-2048kB/nr_hugepages', 12);
          m.setSysfs('hugepages/hugepages-2048kB/nr_overcommit_hugepages', overcommit);
          const procs = [m.spawn()];
          let cur = procs[0];
          // start from a shared and a private hugetlb mapping and an anonymous one
          cur.mmap(4 * M2, { addr: BASE, flags: 'shared|anonymous|hugetlb|fixed' });
          cur.mmap(4 * M2, { addr: BASE + SLOT, flags: 'private|anonymous|hugetlb|fixed' });
          cur.mmap(4 * M2, { addr: BASE + 2 * SLOT, flags: 'private|anonymous|fixed' });
          const pins: { release(): void }[] = [];
          for (const o of ops) {
            try {
              switch (o.k) {
                case 'hugetlb':
                  cur.mmap(o.pages * M2, {
                    addr: BASE + o.s * SLOT, prot: o.prot,
                    flags: `${o.shared ? 'shared' : 'private'}|anonymous|hugetlb|fixed${o.noreserve ? '|noreserve' : ''}`,
                  });
                  break;
                case 'anon':
                  cur.mmap(o.pages * M2, { addr: BASE + o.s * SLOT, flags: 'private|anonymous|fixed' });
                  break;
                case 'munmap':
                  cur.munmap(BASE + o.s * SLOT + o.off * M2 + (o.half ? MiB : 0), o.pages * M2);
                  break;
                case 'mprotect':
                  cur.mprotect(BASE + o.s * SLOT + o.off * M2 + (o.half ? MiB : 0), o.pages * M2, o.prot);
                  break;
                case 'madvise':
                  cur.madvise(BASE + o.s * SLOT + o.off * M2, o.pages * M2, o.adv);
                  break;
                case 'mremap':
                  cur.mremap(BASE + o.s * SLOT, o.pages * M2, o.pages * M2, { fixed: BASE + o.to * SLOT + 8 * M2 });
                  break;
                case 'hgmmap':
                  cur.hgmMap(BASE + o.s * SLOT + o.off * M2, o.kb * KiB);
                  break;
                case 'touch':
                  cur.touch(BASE + o.s * SLOT + o.off * M2, o.kb * KiB, { write: o.write, stride: 64 * KiB });
                  break;
                case 'pin':
                  pins.push(cur.pin(BASE + o.s * SLOT + o.off * M2, o.kb * KiB, { write: o.write }));
                  break;
                case 'fork':
                  if (procs.length < 4) procs.push(cur.fork());
                  break;
                case 'exit':
                  if (o.i > 0 && o.i < procs.length) {
                    const [gone] = procs.splice(o.i, 1);
                    gone.exit();
                    if (cur === gone) cur = procs[0];
                  }
                  break;
                case 'switch':
                  cur = procs[o.i % procs.length];
                  break;
                case 'pool':
                  m.setSysfs('hugepages/hugepages-2048kB/nr_hugepages', o.n);
                  break;
              }
            } catch (e) {
              // the kernel's refusals and signals are fine; anything else is a bug
              if (!(e instanceof ErrnoError) && !(e instanceof SignalError)) throw e;
            }
            m.checkInvariants();
          }
          for (const pin of pins) pin.release();
          m.checkInvariants();
          for (const p of procs) p.exit();
          m.checkInvariants();
          // everything went back: no page in use, no reservation, no surplus page left
          const pool = m.hugetlbPools()['2048kB'];
          expect(pool.free_hugepages).toBe(pool.nr_hugepages);
          expect(pool.resv_hugepages).toBe(0);
          expect(pool.surplus_hugepages).toBe(0);
          expect(m.nodeStats().nr_hugetlb).toBe(0);
        }),
      { numRuns: Number(process.env.HUGETLB_PROPERTY_RUNS ?? 60) },
    );
  }, Number(process.env.HUGEMMU_PROPERTY_TIMEOUT_MS ?? 900_000));
});
