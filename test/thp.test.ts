import { describe, it, expect } from 'vitest';
import { Machine, MiB, GiB } from '../src/index.js';

const ARENA = 0x600000000000;

async function machine(sysfs: Record<string, string | number> = {}) {
  return Machine.create({ data: true, sysfs });
}
function thpStats(m: Machine) {
  const v = m.vmstat();
  return Object.fromEntries(Object.entries(v).filter(([k, n]) => (k.startsWith('thp_') || k === 'pgfault') && n !== 0));
}

describe('PMD THP faults', () => {
  it('a write fault in an advised 2M range maps a PMD THP with a deposited PTE table', async () => {
    const m = await machine();
    const p = m.spawn();
    const a = p.mmap(4 * MiB, { addr: ARENA, flags: 'private|anonymous|fixed_noreplace' });
    p.madvise(a, 4 * MiB, 'hugepage');
    p.touch(a, 4 * MiB, { write: true });
    expect(thpStats(m)).toEqual({ pgfault: 2, thp_fault_alloc: 2 });
    expect(m.mthp()['2048kB']).toMatchObject({ anon_fault_alloc: 2, nr_anon: 2 });
    expect(p.status()).toMatchObject({ RssAnon: 4096, VmPTE: 16, minflt: 2 });
    expect(m.meminfo()).toMatchObject({ AnonPages: 4096, AnonHugePages: 4096, PageTables: 20 });
    const s = p.smaps()[0].fields;
    expect(s).toMatchObject({ Rss: 4096, Pss: 4096, Private_Dirty: 4096, AnonHugePages: 4096, THPeligible: 1 });
    expect(p.verify(a, 4 * MiB, 1).mismatches).toBe(0);
    m.checkInvariants();
  });

  it('a read fault maps the huge zero page; a write replaces it in place', async () => {
    const m = await machine();
    const p = m.spawn();
    const a = p.mmap(2 * MiB, { addr: ARENA, flags: 'private|anonymous|fixed_noreplace' });
    p.madvise(a, 2 * MiB, 'hugepage');
    p.touch(a, 2 * MiB);
    expect(thpStats(m)).toEqual({ pgfault: 1, thp_zero_page_alloc: 1 });
    expect(p.status()).toMatchObject({ RssAnon: 0, VmPTE: 12 });
    expect(p.verify(a, 2 * MiB, 0).mismatches).toBe(0);
    p.touch(a + 4096, 4096, { write: true });
    expect(thpStats(m)).toEqual({ pgfault: 2, thp_fault_alloc: 1, thp_zero_page_alloc: 1 });
    expect(p.status()).toMatchObject({ RssAnon: 2048, VmPTE: 12 });
    m.checkInvariants();
  });

  it('munmap of half a THP splits the PMD and defers the folio split', async () => {
    const m = await machine();
    const p = m.spawn();
    const a = p.mmap(4 * MiB, { addr: ARENA, flags: 'private|anonymous|fixed_noreplace' });
    p.madvise(a, 4 * MiB, 'hugepage');
    p.touch(a, 4 * MiB, { write: true });
    p.munmap(a + 2 * MiB, 2 * MiB);
    expect(m.meminfo()).toMatchObject({ AnonPages: 2048, AnonHugePages: 2048, PageTables: 16 });
    p.munmap(a + MiB, MiB);
    expect(thpStats(m)).toEqual({ pgfault: 2, thp_fault_alloc: 2, thp_deferred_split_page: 1, thp_split_pmd: 1 });
    expect(m.mthp()['2048kB']).toMatchObject({ nr_anon: 1, nr_anon_partially_mapped: 1, split_deferred: 1 });
    expect(m.meminfo()).toMatchObject({ AnonPages: 1024, AnonHugePages: 0, PageTables: 16 });
    expect(p.verify(a, MiB, 1).mismatches).toBe(0);
    m.checkInvariants();
  });

  it('mTHP 64K folios fill a 2M range with 32 faults', async () => {
    const m = await machine({ 'transparent_hugepage/hugepages-64kB/enabled': 'always' });
    const p = m.spawn();
    const a = p.mmap(2 * MiB, { addr: ARENA, flags: 'private|anonymous|fixed_noreplace' });
    p.touch(a, 2 * MiB, { write: true });
    expect(m.mthp()['64kB']).toMatchObject({ anon_fault_alloc: 32, nr_anon: 32 });
    expect(p.status()).toMatchObject({ RssAnon: 2048, minflt: 32 });
    expect(m.meminfo().AnonHugePages).toBe(0);
    expect(p.verify(a, 2 * MiB, 1).mismatches).toBe(0);
    p.munmap(a + 64 * 1024 + 16 * 1024, 4096);
    expect(m.mthp()['64kB']).toMatchObject({ nr_anon: 32, nr_anon_partially_mapped: 1, split_deferred: 1 });
    m.checkInvariants();
  });

  it('mprotect of a whole THP changes the PMD in place; a partial one splits it', async () => {
    const m = await machine();
    const p = m.spawn();
    const a = p.mmap(2 * MiB, { addr: ARENA, flags: 'private|anonymous|fixed_noreplace' });
    p.madvise(a, 2 * MiB, 'hugepage');
    p.touch(a, 2 * MiB, { write: true });
    p.mprotect(a, 2 * MiB, 'r');
    expect(m.vmstat().thp_split_pmd).toBe(0);
    expect(p.smaps()[0].vmFlags).toBe('rd mr mw me ac hg');
    p.mprotect(a, 2 * MiB, 'rw');
    p.touch(a, 4096, { write: true, gen: 2 });
    expect(m.vmstat().pgfault).toBe(1); // exclusive: made writable by mprotect, no fault
    p.mprotect(a + 4096, 4096, 'r');
    expect(m.vmstat().thp_split_pmd).toBe(1);
    expect(p.smaps().length).toBe(3);
    m.checkInvariants();
  });

  it('MADV_DONTNEED of a whole THP zaps it without a split', async () => {
    const m = await machine();
    const p = m.spawn();
    const a = p.mmap(2 * MiB, { addr: ARENA, flags: 'private|anonymous|fixed_noreplace' });
    p.madvise(a, 2 * MiB, 'hugepage');
    p.touch(a, 2 * MiB, { write: true });
    p.madvise(a, 2 * MiB, 'dontneed');
    expect(p.status()).toMatchObject({ RssAnon: 0, VmPTE: 8 });
    expect(m.mthp()['2048kB'].nr_anon).toBe(0);
    p.touch(a, 4096, { write: true });
    expect(m.vmstat().thp_fault_alloc).toBe(2);
    m.checkInvariants();
  });
});

describe('PUD THP (seed 000)', () => {
  it('a fault maps 1 GiB with 513 deposited tables', async () => {
    const m = await Machine.create({ sysfs: { 'transparent_hugepage/hugepages-1048576kB/enabled': 'always' } });
    const p = m.spawn();
    const a = p.mmap(2 * GiB, { align: GiB });
    p.touch(a, 4096, { write: true });
    expect(m.vmstat().thp_fault_alloc).toBe(1);
    expect(p.status()).toMatchObject({ RssAnon: 1024 * 1024, VmPTE: 4 + 2052 });
    expect(m.meminfo().AnonHugePages).toBe(1024 * 1024);
    m.checkInvariants();
    p.munmap(a, GiB);
    expect(p.status()).toMatchObject({ RssAnon: 0, VmPTE: 4 }); // the PUD table still serves the other 1 GiB
    m.checkInvariants();
  });
});
