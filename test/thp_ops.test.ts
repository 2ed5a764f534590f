import { describe, it, expect } from 'vitest';
import { Machine, MiB, GiB } from '../src/index.js';

const ARENA = 0x600000000000;
const fixed = { flags: 'private|anonymous|fixed_noreplace' };
const nz = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).filter(([k, v]) => v !== 0 && (k.startsWith('thp_') || k === 'pgfault')));

async function thp(m: Machine, len = 2 * MiB, at = ARENA) {
  const p = m.processes()[0] ?? m.spawn();
  const a = p.mmap(len, { addr: at, ...fixed });
  p.madvise(a, len, 'hugepage');
  p.touch(a, len, { write: true });
  return { p, a };
}

describe('madvise on THPs', () => {
  it('PAGEOUT without swap splits the THP and maps zero subpages to the zero page (thp_pageout_no_swap)', async () => {
    const m = await Machine.create({ data: true });
    const { p, a } = await thp(m);
    const b = p.mmap(2 * MiB, { addr: ARENA + GiB, ...fixed });
    p.madvise(b, 2 * MiB, 'hugepage');
    p.touch(b, 2 * MiB, { write: true });
    p.madvise(a, 2 * MiB, 'pageout');
    p.madvise(b, 2 * MiB, 'cold');
    expect(nz(m.vmstat())).toEqual({ pgfault: 2, thp_fault_alloc: 2, thp_split_page: 1, thp_split_pmd: 1, thp_swpout_fallback: 1 });
    expect(m.mthp()['2048kB']).toMatchObject({ anon_fault_alloc: 2, nr_anon: 1, split: 1, swpout_fallback: 1 });
    expect(m.meminfo()).toMatchObject({ AnonPages: 4088, AnonHugePages: 2048, PageTables: 24 });
    expect(p.smaps()[0].fields).toMatchObject({ Rss: 2040, Pss: 2040, Private_Dirty: 2040, AnonHugePages: 0 });
    expect(p.verify(a, 2 * MiB, 1).mismatches).toBe(0);
    m.checkInvariants();
  });

  it('MADV_FREE marks a whole THP lazyfree; a write dirties it again', async () => {
    const m = await Machine.create({ data: true });
    const { p, a } = await thp(m);
    p.madvise(a, 2 * MiB, 'free');
    expect(p.smaps()[0].fields).toMatchObject({ LazyFree: 2048, Private_Clean: 2048 });
    p.touch(a, 4096, { write: true });
    expect(p.smaps()[0].fields.LazyFree).toBe(0);
    m.checkInvariants();
  });

  it('MADV_FREE + PAGEOUT discards clean lazyfree pages', async () => {
    const m = await Machine.create({ data: true });
    const p = m.spawn();
    const a = p.mmap(64 * 4096, { addr: ARENA, ...fixed });
    p.touch(a, 64 * 4096, { write: true });
    p.madvise(a, 32 * 4096, 'free');
    p.madvise(a, 64 * 4096, 'pageout');
    expect(p.status().RssAnon).toBe(32 * 4);
    expect(p.verify(a, 32 * 4096, 0).mismatches).toBe(0);
    m.checkInvariants();
  });

  it('POPULATE_READ maps the huge zero page, POPULATE_WRITE allocates (thp_populate_read_write)', async () => {
    const m = await Machine.create({ data: true });
    const p = m.spawn();
    const r = p.mmap(2 * MiB, { addr: ARENA, ...fixed });
    const w = p.mmap(2 * MiB, { addr: ARENA + GiB, ...fixed });
    p.madvise(r, 2 * MiB, 'hugepage');
    p.madvise(w, 2 * MiB, 'hugepage');
    p.madvise(r, 2 * MiB, 'populate_read');
    expect(nz(m.vmstat())).toEqual({ pgfault: 1, thp_zero_page_alloc: 1 });
    expect(p.status()).toMatchObject({ RssAnon: 0, VmPTE: 12, minflt: 1 });
    p.madvise(w, 2 * MiB, 'populate_write');
    expect(nz(m.vmstat())).toEqual({ pgfault: 2, thp_fault_alloc: 1, thp_zero_page_alloc: 1 });
    expect(m.meminfo().PageTables).toBe(24); // + the PGD
    m.checkInvariants();
  });

  it('MADV_COLLAPSE turns 512 PTEs into a THP, also with enabled=never, not with NOHUGEPAGE', async () => {
    const m = await Machine.create({ data: true, sysfs: { 'transparent_hugepage/enabled': 'never' } });
    const p = m.spawn();
    const a = p.mmap(2 * MiB, { addr: ARENA, ...fixed });
    const b = p.mmap(2 * MiB, { addr: ARENA + GiB, ...fixed });
    p.madvise(b, 2 * MiB, 'nohugepage');
    p.touch(a, 2 * MiB, { write: true });
    p.touch(b, 2 * MiB, { write: true });
    p.madvise(a, 2 * MiB, 'collapse');
    expect(() => p.madvise(b, 2 * MiB, 'collapse')).toThrow(/EINVAL/);
    expect(nz(m.vmstat())).toEqual({ pgfault: 1024, thp_collapse_alloc: 1 });
    expect(m.meminfo()).toMatchObject({ AnonPages: 4096, AnonHugePages: 2048 });
    expect(p.status().VmPTE).toBe(20);
    expect(p.verify(a, 2 * MiB, 1).mismatches).toBe(0);
    m.checkInvariants();
  });

  it('MADV_COLLAPSE after fork: the parent gets a copy, the child keeps its pages', async () => {
    const m = await Machine.create({ data: true });
    const p = m.spawn();
    const a = p.mmap(2 * MiB, { addr: ARENA, ...fixed });
    p.touch(a, 2 * MiB, { write: true });
    const c = p.fork();
    p.madvise(a, 2 * MiB, 'collapse');
    expect(m.meminfo()).toMatchObject({ AnonPages: 4096, AnonHugePages: 2048 });
    expect(c.smaps()[0].fields).toMatchObject({ Pss: 2048, Private_Dirty: 2048 });
    p.touch(a, 4096, { write: true, gen: 9 });
    expect(c.verify(a, 4096, 1).mismatches).toBe(0);
    expect(p.verify(a, 4096, 9).mismatches).toBe(0);
    m.checkInvariants();
  });

  it('khugepaged obeys max_ptes_none', async () => {
    const m = await Machine.create({ data: true, sysfs: { 'transparent_hugepage/khugepaged/max_ptes_none': 255 } });
    const p = m.spawn();
    const a = p.mmap(2 * MiB, { addr: ARENA, ...fixed });
    p.madvise(a, 2 * MiB, 'hugepage');
    p.madvise(a, 2 * MiB, 'nohugepage'); // fault 4K pages, then advise again
    p.touch(a, 256 * 4096, { write: true });
    p.madvise(a, 2 * MiB, 'hugepage');
    expect(m.khugepaged(1)).toBe(0);
    expect(m.vmstat().thp_scan_exceed_none_pte).toBe(1);
    p.touch(a, 257 * 4096, { write: true });
    expect(m.khugepaged(1)).toBe(1);
    expect(m.vmstat().thp_collapse_alloc).toBe(1);
    expect(p.status().RssAnon).toBe(2048);
    m.checkInvariants();
  });
});

describe('splits and the deferred split shrinker', () => {
  it('drop_caches splits a partially mapped THP and frees its unmapped half', async () => {
    const m = await Machine.create({ data: true });
    const { p, a } = await thp(m);
    p.munmap(a + MiB, MiB);
    expect(m.meminfo().MemFree).toBe(m.meminfo().MemTotal - 2048 - 12 - 4);
    expect(m.dropCaches()).toBe(1);
    expect(m.vmstat()).toMatchObject({ thp_split_page: 1 });
    expect(m.mthp()['2048kB']).toMatchObject({ split: 1, nr_anon: 0, nr_anon_partially_mapped: 0 });
    // page 240 of generation 1 is all zero: after the split it maps the zero page
    expect(p.status().RssAnon).toBe(1020);
    expect(p.verify(a, MiB, 1).mismatches).toBe(0);
    m.checkInvariants();
  });

  it('split_huge_pages to order 2 keeps data and counts nr_anon per order', async () => {
    const m = await Machine.create({ data: true });
    const { p, a } = await thp(m, 8 * MiB);
    expect(p.splitHugePages(a, a + 8 * MiB, 2)).toBe(4);
    expect(m.mthp()['2048kB']).toMatchObject({ split: 4, nr_anon: 0 });
    expect(m.mthp()['16kB']).toMatchObject({ nr_anon: 4 * 128 });
    expect(m.meminfo().AnonHugePages).toBe(0);
    expect(p.status().RssAnon).toBe(8192);
    expect(p.verify(a, 8 * MiB, 1).mismatches).toBe(0);
    expect(() => p.splitHugePages(a, a + 2 * MiB, 1)).not.toThrow();
    m.checkInvariants();
  });

  it('a pinned THP cannot be split; fork gives the child copies of pinned pages', async () => {
    const m = await Machine.create({ data: true });
    const { p, a } = await thp(m);
    const pin = p.pin(a, 4096);
    expect(p.splitHugePages(a, a + 2 * MiB, 0)).toBe(0);
    expect(m.vmstat().thp_split_page_failed).toBe(1);
    const c = p.fork();
    expect(m.vmstat().thp_split_pmd).toBe(1);
    expect(c.status().RssAnon).toBe(2048);
    expect(c.verify(a, 2 * MiB, 1).mismatches).toBe(0);
    p.touch(a, 4096, { write: true, gen: 5 });
    expect(c.load(a)).toBe(0x10);
    m.checkInvariants();
    pin.release();
    m.checkInvariants();
  });
});

describe('mremap', () => {
  it('moves PMD THPs whole when aligned and splits them when not', async () => {
    const m = await Machine.create({ data: true });
    const { p, a } = await thp(m, 4 * MiB);
    const b = p.mremap(a, 4 * MiB, 4 * MiB, { fixed: ARENA + GiB });
    expect(m.vmstat().thp_split_pmd).toBe(0);
    expect(p.verify(b, 4 * MiB, 1, { base: b }).mismatches).toBe(0);
    expect(p.smaps()[0].fields.AnonHugePages).toBe(4096);
    const c = p.mremap(b, 4 * MiB, 4 * MiB, { fixed: ARENA + 2 * GiB + 4096 });
    expect(m.vmstat().thp_split_pmd).toBe(2);
    expect(p.verify(c, 4 * MiB, 1, { base: c }).mismatches).toBe(0);
    m.checkInvariants();
  });
});
