// Seed 003: hugetlb high-granularity mapping (HGM), KERNEL-SPEC §8.4, variants V16-V18.
import { describe, it, expect } from 'vitest';
import { Machine, MiB, GiB, KiB, ErrnoError, SignalError } from '../src/index.js';

const ARENA = 0x600000000000;
const M2 = 2 * MiB;

async function machine(variants: Record<string, string> = { 'hgm.enable': 'madv-split' }, opts: { pool2M?: number; pool1G?: number; data?: boolean } = {}) {
  const m = await Machine.create({ data: opts.data ?? true, variants });
  m.setSysfs('hugepages/hugepages-2048kB/nr_hugepages', opts.pool2M ?? 4);
  if (opts.pool1G) m.setSysfs('hugepages/hugepages-1048576kB/nr_hugepages', opts.pool1G);
  return m;
}
const hmap = (p: ReturnType<Machine['spawn']>, len: number, flags: string, size?: '2M' | '1G') =>
  p.mmap(len, { addr: ARENA, flags: `${flags}|anonymous|hugetlb|fixed_noreplace`, hugePageSize: size });
const errno = (f: () => unknown) => {
  try { f(); } catch (e) { if (e instanceof ErrnoError) return e.errno; throw e; }
  return 'ok';
};
const hugetlb = (p: ReturnType<Machine['spawn']>) => {
  const f = p.smaps()[0].fields;
  return { shared: f.Shared_Hugetlb, private: f.Private_Hugetlb };
};

describe('MADV_SPLIT (V16 hgm.enable)', () => {
  it('is unknown to 6.18 (absent): EINVAL', async () => {
    const m = await machine({});
    const p = m.spawn();
    const a = hmap(p, M2, 'shared');
    expect(errno(() => p.madvise(a, M2, 'split'))).toBe('EINVAL');
  });

  it('madv-split: only shared hugetlb VMAs; it remaps nothing by itself', async () => {
    const m = await machine();
    const p = m.spawn();
    const a = hmap(p, M2, 'shared');
    p.touch(a, 4 * KiB, { write: true });
    p.madvise(a, M2, 'split');
    expect(p.status()).toMatchObject({ HugetlbPages: 2048, VmPTE: 8 });
    const q = m.spawn();
    const b = hmap(q, M2, 'private');
    expect(errno(() => q.madvise(b, M2, 'split'))).toBe('EINVAL');
    const c = q.mmap(M2, { flags: 'private|anonymous' });
    expect(errno(() => q.madvise(c, M2, 'split'))).toBe('EINVAL');
    m.checkInvariants();
  });
});

describe('high-granularity faults and MADV_COLLAPSE', () => {
  it('faults map 4K pieces of the hugepage (a PTE table below the PMD); collapse maps it back whole', async () => {
    const m = await machine({ 'hgm.enable': 'madv-split', 'hgm.mapcount': 'per-hierarchy' });
    const p = m.spawn();
    const a = hmap(p, M2, 'shared');
    p.madvise(a, M2, 'split');
    p.touch(a, 12 * KiB, { write: true });
    // one hugetlb page allocated, three 4K pieces mapped
    expect(m.hugetlbPools()['2048kB']).toMatchObject({ free_hugepages: 3, resv_hugepages: 0 });
    expect(p.status()).toMatchObject({ HugetlbPages: 12, VmPTE: 12, minflt: 3 });
    expect(hugetlb(p)).toEqual({ shared: 0, private: 12 });
    expect(p.verify(a, 12 * KiB, 1).mismatches).toBe(0);
    m.checkInvariants();
    // MADV_COLLAPSE: one PMD again, the PTE table is freed, the holes are filled
    p.madvise(a, M2, 'collapse');
    expect(p.status()).toMatchObject({ HugetlbPages: 2048, VmPTE: 8 });
    expect(hugetlb(p)).toEqual({ shared: 0, private: 2048 });
    expect(p.verify(a, 12 * KiB, 1).mismatches).toBe(0);
    const before = p.status().minflt;
    expect(p.verify(a + 12 * KiB, M2 - 12 * KiB, 0, { base: a }).mismatches).toBe(0);
    expect(p.status().minflt).toBe(before);
    m.checkInvariants();
  });

  it('V17 hgm.mapcount: the same pieces look shared with per-subpage counts, private per hierarchy', async () => {
    const seen: Record<string, { shared: number; private: number }> = {};
    for (const v of ['thp-like', 'per-hpte', 'per-hierarchy']) {
      const m = await machine({ 'hgm.enable': 'madv-split', 'hgm.mapcount': v });
      const p = m.spawn();
      const a = hmap(p, M2, 'shared');
      p.madvise(a, M2, 'split');
      p.touch(a, 16 * KiB, { write: true });
      seen[v] = hugetlb(p);
      m.checkInvariants();
      p.munmap(a, M2);
      m.checkInvariants();
    }
    // folio_mapcount() > 1 makes smaps call a page shared
    expect(seen).toEqual({
      'thp-like': { shared: 16, private: 0 },
      'per-hpte': { shared: 16, private: 0 },
      'per-hierarchy': { shared: 0, private: 16 },
    });
  });

  it('a 1G page can be mapped by 2M pieces (PMD leaves below its PUD) and 4K pieces', async () => {
    const m = await machine({ 'hgm.enable': 'madv-split' }, { pool2M: 0, pool1G: 1 });
    const p = m.spawn();
    const a = hmap(p, GiB, 'shared', '1G');
    p.madvise(a, GiB, 'split');
    p.hgmMap(a, 2 * M2 + 8 * KiB);
    // two 2M PMD pieces and two 4K PTE pieces: PUD + PMD + PTE tables
    expect(p.status()).toMatchObject({ HugetlbPages: 4096 + 8, VmPTE: 12 });
    p.touch(a, 2 * M2 + 8 * KiB, { write: true });
    expect(p.status().minflt).toBe(0);
    m.checkInvariants();
    p.madvise(a, GiB, 'collapse');
    expect(p.status()).toMatchObject({ HugetlbPages: 1048576, VmPTE: 4 });
    expect(p.verify(a, 2 * M2 + 8 * KiB, 1).mismatches).toBe(0);
    m.checkInvariants();
    p.exit();
    expect(m.hugetlbPools()['1048576kB']).toMatchObject({ nr_hugepages: 1, free_hugepages: 1, resv_hugepages: 0 });
    m.checkInvariants();
  });

  it('MADV_SPLIT unshares shared PMD tables; pieces survive fork (shared: not copied) and exit', async () => {
    const m = await machine({ 'hgm.enable': 'madv-split' }, { pool2M: 512 });
    const p = m.spawn();
    const a = hmap(p, GiB, 'shared');
    p.touch(a, 4 * KiB, { write: true });
    const c = p.fork();
    c.touch(a, 4 * KiB);
    expect(c.smaps()[0].fields.Shared_Hugetlb).toBe(2048);
    // the child found the parent's entry in the shared table: its HugetlbPages never counted it
    expect(c.status()).toMatchObject({ VmPTE: 8, HugetlbPages: 0 });
    c.madvise(a, GiB, 'split');
    expect(c.status()).toMatchObject({ VmPTE: 4, HugetlbPages: 0 });
    c.touch(a + M2, 4 * KiB, { write: true, gen: 2 });
    expect(c.status()).toMatchObject({ VmPTE: 12, HugetlbPages: 4 });
    expect(p.load(a + M2)).toBe(0x20);
    m.checkInvariants();
    c.exit();
    p.exit();
    expect(m.hugetlbPools()['2048kB']).toMatchObject({ free_hugepages: 512, resv_hugepages: 0 });
    m.checkInvariants();
  });

  it('mprotect changes every piece; MADV_DONTNEED zaps pieces but keeps the page cache', async () => {
    const m = await machine();
    const p = m.spawn();
    const a = hmap(p, M2, 'shared');
    p.madvise(a, M2, 'split');
    p.touch(a, 8 * KiB, { write: true });
    p.mprotect(a, M2, 'r');
    expect(() => p.touch(a, 4 * KiB, { write: true })).toThrow(SignalError);
    p.mprotect(a, M2, 'rw');
    p.madvise(a, M2, 'dontneed');
    expect(p.status()).toMatchObject({ HugetlbPages: 0, VmPTE: 12 });
    expect(p.verify(a, 8 * KiB, 1).mismatches).toBe(0);
    expect(p.status().HugetlbPages).toBe(8);
    m.checkInvariants();
  });
});

describe('GUP over high-granularity mappings (follow_hugetlb_page, V18)', () => {
  it('fixed skip math: MADV_POPULATE_READ faults in every 4K piece', async () => {
    const m = await machine({ 'hgm.enable': 'madv-split', 'hgm.gupSkipMath': 'fixed' });
    const p = m.spawn();
    const a = hmap(p, 2 * M2, 'shared');
    p.madvise(a, 2 * M2, 'split');
    p.madvise(a, M2, 'populate_read');
    expect(p.status()).toMatchObject({ HugetlbPages: 2048, minflt: 512 });
    m.checkInvariants();
  });

  it('buggy RFC v2 skip math (vaddr += pages_per_hpte) reports success but maps only the first piece', async () => {
    const m = await machine({ 'hgm.enable': 'madv-split', 'hgm.gupSkipMath': 'buggy-rfc-v2' });
    const p = m.spawn();
    const a = hmap(p, 2 * M2, 'shared');
    p.madvise(a, 2 * M2, 'split');
    p.madvise(a, M2, 'populate_read');
    expect(p.status()).toMatchObject({ HugetlbPages: 4, minflt: 1 });
    m.checkInvariants();
  });

  it('pins take references on the subpages within the mapped piece (pfn_offset)', async () => {
    const m = await machine(undefined, { pool2M: 0, pool1G: 1 });
    const p = m.spawn();
    const a = hmap(p, GiB, 'shared', '1G');
    p.madvise(a, GiB, 'split');
    p.hgmMap(a, M2);
    // a pin across a 2M piece and the 4K pieces the fault path maps after it
    const pin = p.pin(a + M2 - 8 * KiB, 16 * KiB, { write: true });
    expect(p.status()).toMatchObject({ HugetlbPages: 2048 + 8 });
    m.checkInvariants();
    pin.release();
    m.checkInvariants();
  });
});
