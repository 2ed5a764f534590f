import { describe, it, expect } from 'vitest';
import { Machine, MiB, KiB } from '../src/index.js';

const ARENA = 0x600000000000;

async function machine(sysfs: Record<string, string | number> = {}) {
  return Machine.create({ data: true, sysfs });
}
function stats(m: Machine, prefix: RegExp) {
  return Object.fromEntries(Object.entries(m.vmstat()).filter(([k, n]) => prefix.test(k) && n !== 0));
}
const memfd = (p: ReturnType<Machine['spawn']>, len: number, flags = 'shared|fixed_noreplace') =>
  p.mmap(len, { addr: ARENA, flags, backing: 'memfd' });

describe('huge tmpfs (memfd, MAP_SHARED|MAP_ANONYMOUS)', () => {
  it('shmem_enabled=always: write faults allocate PMD-size folios and map them with a PMD', async () => {
    const m = await machine({ 'transparent_hugepage/shmem_enabled': 'always' });
    const free0 = m.freePages();
    const p = m.spawn();
    const a = memfd(p, 4 * MiB);
    p.touch(a, 4 * MiB, { write: true });
    expect(stats(m, /^(thp_file|pgfault)/)).toEqual({ pgfault: 2, thp_file_alloc: 2, thp_file_mapped: 2 });
    expect(m.mthp()['2048kB']).toMatchObject({ shmem_alloc: 2 });
    expect(m.meminfo()).toMatchObject({ Shmem: 4096, ShmemHugePages: 4096, ShmemPmdMapped: 4096, Mapped: 4096, AnonPages: 0 });
    // shmem PMDs deposit no page table (x86 arch_needs_pgtable_deposit() is false)
    expect(p.status()).toMatchObject({ RssShmem: 4096, RssAnon: 0, VmPTE: 8 });
    expect(p.smaps()[0].fields).toMatchObject({ Rss: 4096, ShmemPmdMapped: 4096, Shared_Dirty: 0, Private_Dirty: 4096, THPeligible: 1 });
    expect(p.verify(a, 4 * MiB, 1).mismatches).toBe(0);
    m.checkInvariants();
    // the memfd's only reference is the VMA: munmap frees the file and its folios
    p.munmap(a, 4 * MiB);
    expect(m.meminfo()).toMatchObject({ Shmem: 0, ShmemHugePages: 0, Mapped: 0 });
    m.checkInvariants();
    p.exit();
    expect(m.freePages()).toBe(free0);
  });

  it('shmem_enabled=never: 4K pages, read faults map what the cache has around them (fault-around)', async () => {
    const m = await machine({ 'transparent_hugepage/shmem_enabled': 'never' });
    const p = m.spawn();
    const a = memfd(p, 2 * MiB);
    p.touch(a, 64 * KiB, { write: true });
    expect(stats(m, /^(thp_file|pgfault)/)).toEqual({ pgfault: 16 });
    expect(p.status()).toMatchObject({ RssShmem: 64 });
    // a second mapping of the same pages: one read fault maps all 16 cached pages
    const q = p.fork();
    p.munmap(a, 2 * MiB);
    expect(m.meminfo()).toMatchObject({ Shmem: 64, Mapped: 0 });
    q.touch(a, 4 * KiB);
    expect(q.status()).toMatchObject({ RssShmem: 64, minflt: 1 });
    expect(q.verify(a, 64 * KiB, 1).mismatches).toBe(0);
    expect(m.meminfo()).toMatchObject({ Shmem: 64, Mapped: 64, ShmemHugePages: 0 });
    m.checkInvariants();
  });

  it('per-size shmem_enabled: a 64K mTHP shmem folio is mapped by 16 PTEs at once', async () => {
    const m = await machine({
      'transparent_hugepage/shmem_enabled': 'never',
      'transparent_hugepage/hugepages-64kB/shmem_enabled': 'always',
    });
    const p = m.spawn();
    const a = memfd(p, MiB);
    p.touch(a, MiB, { write: true });
    expect(m.mthp()['64kB']).toMatchObject({ shmem_alloc: 16 });
    expect(stats(m, /^pgfault$/)).toEqual({ pgfault: 16 });
    expect(m.meminfo()).toMatchObject({ Shmem: 1024, ShmemHugePages: 0 });
    m.checkInvariants();
  });

  it('MAP_SHARED|MAP_ANONYMOUS is shmem too, and a fork shares it: writes of the child are seen by the parent', async () => {
    const m = await machine({ 'transparent_hugepage/shmem_enabled': 'always' });
    const p = m.spawn();
    const a = p.mmap(2 * MiB, { addr: ARENA, flags: 'shared|anonymous|fixed_noreplace' });
    p.touch(a, 2 * MiB, { write: true });
    const c = p.fork();
    c.touch(a, 2 * MiB);
    expect(c.smaps()[0].fields).toMatchObject({ Rss: 2048, Pss: 1024, Shared_Dirty: 2048, ShmemPmdMapped: 2048 });
    c.touch(a, 4 * KiB, { write: true, gen: 2 });
    expect(p.verify(a, 4 * KiB, 2).mismatches).toBe(0);
    expect(p.verify(a + 4 * KiB, 2 * MiB - 4 * KiB, 1, { base: a }).mismatches).toBe(0);
    expect(m.meminfo()).toMatchObject({ Shmem: 2048, ShmemPmdMapped: 2048, AnonPages: 0 });
    m.checkInvariants();
    p.exit();
    expect(m.meminfo()).toMatchObject({ Shmem: 2048 });
    c.exit();
    expect(m.meminfo()).toMatchObject({ Shmem: 0, Mapped: 0 });
    m.checkInvariants();
  });

  it('a private mapping of a memfd reads the cache and copies on write (do_cow_fault)', async () => {
    const m = await machine({ 'transparent_hugepage/shmem_enabled': 'never' });
    const p = m.spawn();
    const a = memfd(p, 64 * KiB, 'private|fixed_noreplace');
    p.touch(a, 64 * KiB);
    expect(p.status()).toMatchObject({ RssShmem: 64, RssAnon: 0 });
    p.touch(a, 8 * KiB, { write: true, gen: 3 });
    expect(p.status()).toMatchObject({ RssShmem: 56, RssAnon: 8 });
    expect(p.verify(a, 8 * KiB, 3).mismatches).toBe(0);
    expect(p.verify(a + 8 * KiB, 56 * KiB, 0).mismatches).toBe(0);
    expect(m.meminfo()).toMatchObject({ AnonPages: 8, Shmem: 64, Mapped: 56 });
    m.checkInvariants();
  });

  it('munmap of half a PMD-mapped shmem folio zaps the PMD; the rest refaults with PTEs', async () => {
    const m = await machine({ 'transparent_hugepage/shmem_enabled': 'always' });
    const p = m.spawn();
    const a = memfd(p, 2 * MiB);
    p.touch(a, 2 * MiB, { write: true });
    p.munmap(a + MiB, MiB);
    expect(p.status()).toMatchObject({ RssShmem: 0 });
    // the folio stays whole in the page cache
    expect(m.meminfo()).toMatchObject({ Shmem: 2048, ShmemHugePages: 2048, ShmemPmdMapped: 0 });
    p.touch(a, MiB);
    expect(p.verify(a, MiB, 1).mismatches).toBe(0);
    expect(p.status().RssShmem).toBeGreaterThan(0);
    expect(stats(m, /^thp_split_pmd$/)).toEqual({ thp_split_pmd: 1 });
    m.checkInvariants();
  });

  it('MADV_REMOVE punches a hole: pages in it read back as zero and leave the cache', async () => {
    const m = await machine({ 'transparent_hugepage/shmem_enabled': 'never' });
    const p = m.spawn();
    const a = memfd(p, MiB);
    p.touch(a, MiB, { write: true });
    p.madvise(a + 256 * KiB, 256 * KiB, 'remove');
    expect(m.meminfo()).toMatchObject({ Shmem: 768 });
    expect(p.status()).toMatchObject({ RssShmem: 768 });
    expect(p.verify(a + 256 * KiB, 256 * KiB, 0).mismatches).toBe(0);
    expect(p.verify(a, 256 * KiB, 1).mismatches).toBe(0);
    m.checkInvariants();
  });

  it('faults past the end of the file raise SIGBUS', async () => {
    const m = await machine();
    const p = m.spawn();
    const a = memfd(p, 64 * KiB);
    p.mremap(a, 64 * KiB, 128 * KiB);
    expect(() => p.touch(a + 64 * KiB, 4 * KiB)).toThrow(/SIGBUS/);
  });
});

describe('seed 001 team variants (V9 shmem.pmdSplit, V11 fork.filePmd)', () => {
  const sysfs = { 'transparent_hugepage/shmem_enabled': 'always' };

  it('remap-team-by-ptes: a shmem PMD carries a deposit and its split remaps 512 PTEs in place', async () => {
    const m = await Machine.create({ data: true, sysfs, variants: { 'shmem.pmdSplit': 'remap-team-by-ptes' } });
    const p = m.spawn();
    const a = memfd(p, 2 * MiB);
    p.touch(a, 2 * MiB, { write: true });
    // map_team_by_pmd() deposits a PTE table: VmPTE = PUD + PMD tables + deposit
    expect(p.status()).toMatchObject({ RssShmem: 2048, VmPTE: 12 });
    m.checkInvariants();
    p.munmap(a + MiB, MiB);
    // RSS never drops for the part still mapped: the PMD became PTEs of the same folio
    expect(stats(m, /^(thp_split_pmd|pgfault)$/)).toEqual({ pgfault: 1, thp_split_pmd: 1 });
    expect(p.status()).toMatchObject({ RssShmem: 1024, VmPTE: 12 });
    expect(m.meminfo()).toMatchObject({ Shmem: 2048, ShmemHugePages: 2048, ShmemPmdMapped: 0, Mapped: 1024 });
    expect(p.verify(a, MiB, 1).mismatches).toBe(0);
    expect(stats(m, /^pgfault$/)).toEqual({ pgfault: 1 }); // no refault
    m.checkInvariants();
    p.munmap(a, MiB);
    expect(p.status()).toMatchObject({ RssShmem: 0 });
    expect(m.meminfo()).toMatchObject({ Shmem: 0, Mapped: 0 });
    m.checkInvariants();
  });

  it('zap-and-refault (6.18): the same munmap drops the whole PMD and the rest refaults', async () => {
    const m = await Machine.create({ sysfs });
    const p = m.spawn();
    const a = memfd(p, 2 * MiB);
    p.touch(a, 2 * MiB, { write: true });
    expect(p.status()).toMatchObject({ VmPTE: 8 });
    p.munmap(a + MiB, MiB);
    expect(p.status()).toMatchObject({ RssShmem: 0 });
    p.touch(a, MiB);
    expect(p.status().minflt).toBeGreaterThan(1);
    m.checkInvariants();
  });

  it('a write-protect fault on a read-only shmem PMD of a private mapping remaps, then copies one page', async () => {
    const m = await Machine.create({ data: true, sysfs, variants: { 'shmem.pmdSplit': 'remap-team-by-ptes' } });
    const p = m.spawn();
    const a = memfd(p, 2 * MiB, 'private|fixed_noreplace');
    p.touch(a, 2 * MiB);
    expect(p.status()).toMatchObject({ RssShmem: 2048, RssAnon: 0 });
    p.touch(a + 4 * KiB, 4 * KiB, { write: true, gen: 5 });
    expect(p.status()).toMatchObject({ RssShmem: 2044, RssAnon: 4 });
    expect(p.verify(a + 4 * KiB, 4 * KiB, 5).mismatches).toBe(0);
    m.checkInvariants();
  });

  it('dup-team-pmd: fork copies a shmem PMD of a private mapping (no write protection); 6.18 lets the child refault', async () => {
    for (const [variant, childRss] of [['dup-team-pmd', 2048], ['skip-refault-in-child', 0]] as const) {
      const m = await Machine.create({ data: true, sysfs, variants: { 'fork.filePmd': variant, 'shmem.pmdSplit': 'remap-team-by-ptes' } });
      const p = m.spawn();
      const a = memfd(p, 4 * MiB, 'private|fixed_noreplace');
      p.touch(a, 2 * MiB); // PMD-mapped page cache
      p.touch(a + 2 * MiB, 4 * KiB, { write: true }); // a COW page: the VMA gets an anon_vma, fork copies it
      const c = p.fork();
      expect(c.smaps()[0].fields.Rss - 4).toBe(childRss);
      expect(c.status().VmPTE).toBe(variant === 'dup-team-pmd' ? 16 : 12);
      m.checkInvariants();
      c.touch(a, 2 * MiB);
      expect(c.verify(a, 2 * MiB, 0).mismatches).toBe(0);
      c.exit();
      m.checkInvariants();
    }
  });
});

describe('shmem and reclaim/fault-around as 6.18 does them (recorded on the kernel)', () => {
  it('MADV_PAGEOUT without swap unmaps shmem pages and PMDs; the folios stay cached and refault', async () => {
    const m = await machine({ 'transparent_hugepage/shmem_enabled': 'always' });
    const p = m.spawn();
    const a = memfd(p, 2 * MiB);
    p.touch(a, 2 * MiB, { write: true });
    p.madvise(a, 2 * MiB, 'pageout');
    expect(stats(m, /^thp_split_pmd$/)).toEqual({ thp_split_pmd: 1 });
    expect(p.status()).toMatchObject({ RssShmem: 0 });
    expect(m.meminfo()).toMatchObject({ Shmem: 2048, ShmemHugePages: 2048, ShmemPmdMapped: 0, Mapped: 0 });
    m.checkInvariants();
    p.touch(a, 4 * KiB);
    expect(p.status()).toMatchObject({ RssShmem: 2048 });
    expect(p.verify(a, 2 * MiB, 1).mismatches).toBe(0);
    m.checkInvariants();
  });

  it('a read fault maps a whole large folio that fits the VMA and page table, beyond the 64K window', async () => {
    const m = await machine({ 'transparent_hugepage/shmem_enabled': 'always' });
    const p = m.spawn();
    const a = memfd(p, 2 * MiB, 'private|fixed_noreplace');
    p.touch(a, 2 * MiB);
    p.touch(a + 4 * KiB, 4 * KiB, { write: true }); // the PMD is zapped, one page copied
    expect(p.status()).toMatchObject({ RssShmem: 0, RssAnon: 4 });
    p.touch(a + MiB, 4 * KiB);
    expect(p.status()).toMatchObject({ RssShmem: 2044, RssAnon: 4, minflt: 3 });
    m.checkInvariants();
  });
});
