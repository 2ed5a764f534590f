// Per-page rmap state of a PTE-mapped 1 GiB folio after a PUD split (mapcounts and
// PageAnonExclusive kept per pageblock until a page needs its own state), and the
// contiguous host backing of 1 GiB folios in data mode (cleared by one fill, reused
// after free). The debug core's invariant checker recounts every page's mapcount
// from the page tables.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Machine, MiB, GiB, KiB } from '../src/index.js';

const PUD_ON = { 'transparent_hugepage/hugepages-1048576kB/enabled': 'always' };
const PUD_KB = 1024 * 1024;

async function machine(opts: { data?: boolean; ram?: string; hostMemoryLimit?: string } = {}) {
  return Machine.create({ data: opts.data ?? false, ram: opts.ram ?? '4G', sysfs: PUD_ON, hostMemoryLimit: opts.hostMemoryLimit });
}
/** a 1 GiB-aligned GiB faulted as one PUD THP by a write at `at` */
function faultPud(m: Machine, at = 0) {
  const p = m.spawn();
  const a = p.mmap(GiB, { align: GiB });
  const kb = p.status().RssAnon;
  p.touch(a + at, 1, { write: true });
  expect(p.status().RssAnon - kb).toBe(PUD_KB);
  return { p, a };
}
const pud = (m: Machine) => m.mthp()['1048576kB'];
const pss = (p: ReturnType<Machine['spawn']>) => p.smaps().reduce((s, e) => s + e.fields.Pss, 0);

describe('PTE-mapped 1 GiB folio after a PUD split', () => {
  it('every page is mapped once and stays exclusive: writes after mprotect reuse the page', async () => {
    const m = await machine();
    const { p, a } = faultPud(m);
    p.mprotect(a + 4 * KiB, 4 * KiB, 'r');
    expect(m.vmstat().thp_split_pud).toBe(1);
    m.checkInvariants();
    expect(pss(p)).toBe(PUD_KB);
    // pages of the head's pageblock and of a far one: exclusive, so the write fault
    // reuses them (a copy would leave the folio partially mapped)
    for (const off of [4 * KiB, 700 * MiB + 12 * KiB]) {
      p.mprotect(a + off, 4 * KiB, 'r');
      p.mprotect(a + off, 4 * KiB, 'rw');
      p.touch(a + off, 1, { write: true });
    }
    expect(pud(m)).toMatchObject({ nr_anon: 1, nr_anon_partially_mapped: 0 });
    expect(m.meminfo().AnonPages).toBe(PUD_KB);
    m.checkInvariants();
    p.munmap(a, GiB);
    expect(pud(m)).toMatchObject({ nr_anon: 0 });
    expect(m.meminfo().AnonPages).toBe(0);
    m.checkInvariants();
  });

  it('unmapping whole pageblocks, single pages and unaligned ranges keeps every mapcount exact', async () => {
    const m = await machine();
    const { p, a } = faultPud(m);
    p.munmap(a + 4 * KiB, 4 * KiB);
    m.checkInvariants();
    p.munmap(a + 2 * MiB, 4 * MiB);
    m.checkInvariants();
    p.munmap(a + 7 * MiB - 12 * KiB, 2 * MiB + 16 * KiB);
    m.checkInvariants();
    p.madvise(a + 100 * MiB + 4 * KiB, 4 * KiB, 'dontneed');
    p.madvise(a + 200 * MiB, 64 * MiB, 'dontneed');
    m.checkInvariants();
    const gone = 4 + 4096 + 2048 + 16 + 4 + 65536;
    expect(p.status().RssAnon).toBe(PUD_KB - gone);
    expect(m.meminfo().AnonPages).toBe(PUD_KB - gone);
    expect(pud(m)).toMatchObject({ nr_anon: 1, nr_anon_partially_mapped: 1 });
    expect(pss(p)).toBe(PUD_KB - gone);
    // split the folio itself: every page becomes an order-0 folio (metadata mode maps
    // the never-written ones to the zero page)
    expect(p.splitHugePages(a, a + GiB)).toBe(1);
    expect(pud(m)).toMatchObject({ nr_anon: 0, nr_anon_partially_mapped: 0 });
    m.checkInvariants();
    p.munmap(a, GiB);
    expect(m.meminfo().AnonPages).toBe(0);
    m.checkInvariants();
  });

  it('fork shares every page: a write then copies 4 KiB, in the parent and in the child', async () => {
    const m = await machine();
    const { p, a } = faultPud(m);
    p.mprotect(a + 4 * KiB, 4 * KiB, 'r');
    const c = p.fork();
    m.checkInvariants();
    expect(pss(p)).toBe(PUD_KB / 2);
    p.touch(a + 512 * MiB, 1, { write: true });
    c.touch(a + 513 * MiB + 4 * KiB, 1, { write: true });
    expect(m.meminfo().AnonPages).toBe(PUD_KB + 8);
    m.checkInvariants();
    c.munmap(a + 2 * MiB, 100 * MiB);
    m.checkInvariants();
    c.exit();
    m.checkInvariants();
    p.touch(a + 300 * MiB, 1, { write: true });
    m.checkInvariants();
    p.exit();
    expect(m.meminfo().AnonPages).toBe(0);
    m.checkInvariants();
  });

  it('pages written before the split keep their own state next to the per-pageblock one', async () => {
    const m = await machine();
    // metadata mode records written (non-zero) pages per page
    const { p, a } = faultPud(m, 12345 * 4096);
    p.touch(a + 3 * MiB + 8 * KiB, 1, { write: true });
    p.touch(a + 700 * MiB, 64 * KiB, { write: true }); // 16 pages, bytes 16..31
    p.mprotect(a + 4 * KiB, 4 * KiB, 'r');
    m.checkInvariants();
    p.munmap(a + 2 * MiB, 2 * MiB);
    p.munmap(a + 700 * MiB, 8 * KiB);
    m.checkInvariants();
    const c = p.fork();
    c.touch(a + 700 * MiB + 12 * KiB, 1, { write: true });
    m.checkInvariants();
    c.exit();
    expect(p.splitHugePages(a, a + GiB)).toBe(1);
    m.checkInvariants();
    // the written pages are still mapped as their own pages (the rest became the zero page)
    expect(p.status().RssAnon).toBe(4 * (1 + 14));
    p.exit();
    m.checkInvariants();
  });
});

describe('property: PUD-mapped and split 1 GiB folios under random operations', () => {
  // offsets that are often pageblock-aligned (the per-pageblock paths) and often not
  const off = fc.tuple(fc.nat(511), fc.constantFrom(0, 0, 1, 7, 511), fc.nat(511))
    .map(([pb, mode, page]) => pb * 2 * MiB + (mode === 0 ? 0 : mode === 1 ? page : mode) * 4 * KiB);
  const len = fc.oneof(fc.integer({ min: 1, max: 1024 }).map((n) => n * 4 * KiB), fc.integer({ min: 1, max: 40 }).map((n) => n * 2 * MiB));
  const op = fc.oneof(
    fc.record({ k: fc.constant('touch' as const), at: off, write: fc.boolean() }),
    fc.record({ k: fc.constant('mprotect' as const), at: off, len, prot: fc.constantFrom('r', 'rw') }),
    fc.record({ k: fc.constant('munmap' as const), at: off, len }),
    fc.record({ k: fc.constant('dontneed' as const), at: off, len }),
    fc.record({ k: fc.constant('fork' as const), at: off, write: fc.boolean(), keep: fc.boolean() }),
    fc.record({ k: fc.constant('split' as const) }),
  );
  it('keeps every mapcount, refcount and counter exact', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 10 }), async (ops) => {
        const m = await machine();
        const p = m.spawn();
        const a = p.mmap(GiB, { align: GiB });
        p.touch(a, 1, { write: true });
        const kids: ReturnType<Machine['spawn']>[] = [];
        for (const o of ops) {
          const at = 'at' in o ? a + o.at : a;
          const n = 'len' in o ? Math.min(o.len, a + GiB - at) : 0;
          try {
            if (o.k === 'touch') p.touch(at, 1, { write: o.write });
            else if (o.k === 'mprotect') p.mprotect(at, n, o.prot);
            else if (o.k === 'munmap') p.munmap(at, n);
            else if (o.k === 'dontneed') p.madvise(at, n, 'dontneed');
            else if (o.k === 'split') p.splitHugePages(a, a + GiB);
            else {
              const c = p.fork();
              kids.push(c);
              c.touch(at, 1, { write: o.write });
              if (!o.keep) kids.pop()!.exit();
            }
          } catch (e) {
            // a signal for an access to an unmapped or read-only page; ENOMEM for
            // mprotect/madvise over a hole (the kernel's answers): nothing else
            if (!/SIG/.test(String(e)) && (e as { errno?: string }).errno !== 'ENOMEM') throw e;
          }
          m.checkInvariants();
        }
        for (const c of kids) c.exit();
        p.exit();
        m.checkInvariants();
        expect(m.meminfo().AnonPages).toBe(0);
        expect(pud(m)).toMatchObject({ nr_anon: 0 });
      }),
      { numRuns: 12 },
    );
  }, 240_000);
});

describe('host backing of 1 GiB folios in data mode', () => {
  it('data survives the split and the free; the contiguous backing is reused and cleared', async () => {
    const m = await machine({ data: true, ram: '3G' });
    const p = m.spawn();
    let host = 0;
    for (let gen = 1; gen <= 4; gen++) {
      const a = p.mmap(GiB, { align: GiB });
      p.touch(a + 12345 * 4096, 1); // read fault: a zeroed 1 GiB folio
      expect(p.status().RssAnon).toBe(PUD_KB);
      expect(p.verify(a, GiB, 0, { stride: 4 * KiB + 1 }).mismatches).toBe(0);
      p.touch(a, GiB, { write: true, gen, stride: 4 * KiB + 1 });
      if (gen % 2) p.mprotect(a + 4 * KiB, 4 * KiB, 'r'); // PUD split
      expect(p.verify(a, GiB, gen, { stride: 4 * KiB + 1 }).mismatches).toBe(0);
      p.munmap(a, GiB);
      m.checkInvariants();
      // the first GiB of backing is kept and reused: no growth after the first round
      if (gen === 1) host = m.hostMemory().wasmBytes;
      else expect(m.hostMemory().wasmBytes).toBe(host);
    }
  });

  it('the fault target is cleared last and every other page is zero too', async () => {
    const m = await machine({ data: true, ram: '3G' });
    const p = m.spawn();
    for (const target of [0, 511, 12345, 131072, 262143]) {
      const a = p.mmap(GiB, { align: GiB });
      p.touch(a, GiB, { write: true, gen: 7, stride: 2 * MiB - 4 * KiB + 3 });
      p.munmap(a, GiB);
      const b = p.mmap(GiB, { align: GiB });
      expect(b).toBe(a);
      p.touch(b + target * 4096 + 5, 1, { write: true, gen: 3 });
      expect(p.status().RssAnon).toBe(PUD_KB);
      expect(p.verify(b, GiB, 0, { stride: 2 * MiB - 4 * KiB + 3 }).mismatches).toBe(0);
      expect(p.verify(b + target * 4096 + 5, 1, 3).mismatches).toBe(0);
      p.munmap(b, GiB);
    }
    m.checkInvariants();
  });

  it('THPs on never-used host memory read zero without a clear; reused memory is cleared', async () => {
    // read faults allocate (no huge zero page), so nothing has written the new folios
    const m = await Machine.create({ data: true, ram: '3G', sysfs: { ...PUD_ON, 'transparent_hugepage/enabled': 'always', 'transparent_hugepage/use_zero_page': 0 } });
    const p = m.spawn();
    for (let round = 1; round <= 3; round++) {
      // 2 MiB THPs (fresh chunks in round 1, reused ones later), then a 1 GiB THP
      const s = p.mmap(64 * MiB, { align: 2 * MiB });
      p.touch(s + 4 * KiB, 64 * MiB - 4 * KiB, { stride: 2 * MiB });
      expect(p.status().RssAnon).toBe(65536);
      expect(p.verify(s, 64 * MiB, 0, { stride: 4 * KiB - 1 }).mismatches).toBe(0);
      p.touch(s, 64 * MiB, { write: true, gen: round, stride: 4 * KiB - 1 });
      const a = p.mmap(GiB, { align: GiB });
      p.touch(a + 777 * 4096, 1);
      expect(p.verify(a, GiB, 0, { stride: 64 * KiB - 1 }).mismatches).toBe(0);
      p.touch(a, GiB, { write: true, gen: round, stride: 64 * KiB - 1 });
      expect(p.verify(s, 64 * MiB, round, { stride: 4 * KiB - 1 }).mismatches).toBe(0);
      p.munmap(s, 64 * MiB);
      p.munmap(a, GiB);
    }
    m.checkInvariants();
  });

  it('without room for a contiguous run the folio uses separate chunks, with the same contents', async () => {
    // the host limit leaves room for one GiB of backing only
    const m = await machine({ data: true, ram: '3G', hostMemoryLimit: '1300M' });
    const p = m.spawn();
    const a = p.mmap(GiB, { align: GiB });
    p.touch(a, GiB, { write: true, gen: 1, stride: 64 * KiB });
    p.munmap(a, GiB);
    // 4 KiB pages of 32 pageblocks take chunks from the free GiB of backing (single
    // chunks never grow the heap while any is free): no 512-chunk run is left
    const s = p.mmap(64 * MiB);
    p.madvise(s, 64 * MiB, 'nohugepage');
    p.touch(s, 64 * MiB, { write: true, gen: 2 });
    const b = p.mmap(GiB, { align: GiB });
    p.touch(b + 4 * KiB, 1, { write: true, gen: 3 });
    expect(p.status().RssAnon).toBe(PUD_KB + 65536);
    expect(p.verify(b + 8 * KiB, GiB - 8 * KiB, 0, { stride: 64 * KiB - 4 }).mismatches).toBe(0);
    expect(p.verify(s, 64 * MiB, 2, { stride: 2 * MiB }).mismatches).toBe(0);
    p.touch(b, GiB, { write: true, gen: 4, stride: 64 * KiB });
    p.mprotect(b + 4 * KiB, 4 * KiB, 'r');
    expect(p.verify(b, GiB, 4, { stride: 64 * KiB }).mismatches).toBe(0);
    expect(m.hostMemory().wasmBytes).toBeLessThanOrEqual(1300 * MiB);
    m.checkInvariants();
  });
});
