// Anonymous 1 GiB THP (seed 000) and PUD leaves in mprotect (seed 004): spec §2.5,
// §3.4, §4.2, §5, §6.2-6.3, §12 V6-V8/V12/V14/V25, §13 scenarios 35-38.
import { describe, it, expect } from 'vitest';
import { Machine, MiB, GiB, KiB } from '../src/index.js';

const ARENA = 0x600000000000; // 1 GiB aligned
const fixed = { flags: 'private|anonymous|fixed_noreplace' };
const PUD_ON = { 'transparent_hugepage/hugepages-1048576kB/enabled': 'always' };

async function machine(opts: { data?: boolean; variants?: Record<string, string>; ram?: string; sysfs?: Record<string, string> } = {}) {
  return Machine.create({ data: opts.data ?? false, ram: opts.ram, sysfs: { ...PUD_ON, ...(opts.sysfs ?? {}) }, variants: opts.variants ?? {} });
}
function events(m: Machine) {
  return Object.fromEntries(Object.entries(m.vmstat()).filter(([k, n]) => (k.startsWith('thp_') || k === 'pgfault') && n !== 0));
}
/** a 2 GiB VMA aligned to 1 GiB with its first GiB faulted by one write */
function faultPud(m: Machine, write = true) {
  const p = m.spawn();
  const a = p.mmap(2 * GiB, { addr: ARENA, ...fixed });
  p.touch(a, 4 * KiB, { write });
  return { p, a };
}

describe('PUD THP fault (do_huge_pud_anonymous_page, §13 35)', () => {
  it('a write maps 1 GiB with one PUD and pre-deposits 1 PMD + 512 PTE tables', async () => {
    const m = await machine();
    const { p, a } = faultPud(m);
    expect(events(m)).toEqual({ pgfault: 1, thp_fault_alloc: 1 });
    expect(m.mthp()['1048576kB']).toMatchObject({ anon_fault_alloc: 1, nr_anon: 1 });
    // VmPTE: the PUD table (4 kB) + 513 deposited tables (2052 kB)
    expect(p.status()).toMatchObject({ RssAnon: 1048576, VmPTE: 4 + 2052 });
    // PageTables also counts the PGD
    expect(m.meminfo()).toMatchObject({ AnonPages: 1048576, AnonHugePages: 1048576, PageTables: 8 + 2052 });
    expect(p.smaps()[0].fields).toMatchObject({ Rss: 1048576, AnonHugePages: 1048576, THPeligible: 1 });
    m.checkInvariants();
    // touching the rest of the first GiB takes no fault; the second GiB faults its own PUD
    p.touch(a, GiB, { write: true, stride: 2 * MiB });
    expect(events(m)).toEqual({ pgfault: 1, thp_fault_alloc: 1 });
    p.touch(a + GiB, 4 * KiB);
    expect(events(m)).toEqual({ pgfault: 2, thp_fault_alloc: 2 });
    m.checkInvariants();
  });

  it('a read fault allocates 1 GiB too (there is no huge zero PUD)', async () => {
    const m = await machine();
    const { p } = faultPud(m, false);
    expect(events(m)).toEqual({ pgfault: 1, thp_fault_alloc: 1 });
    expect(p.status()).toMatchObject({ RssAnon: 1048576 });
    m.checkInvariants();
  });

  it('munmap of the whole GiB zaps the PUD and frees all 513 tables (zap_huge_pud)', async () => {
    const m = await machine();
    const free0 = m.freePages();
    const { p, a } = faultPud(m);
    p.munmap(a, GiB);
    expect(p.status()).toMatchObject({ RssAnon: 0, VmPTE: 4 });
    expect(m.meminfo()).toMatchObject({ AnonPages: 0, AnonHugePages: 0, PageTables: 8 });
    expect(m.mthp()['1048576kB']).toMatchObject({ nr_anon: 0 });
    m.checkInvariants();
    p.exit();
    expect(m.freePages()).toBe(free0);
  });

  it('MADV_DONTNEED of the whole GiB zaps it; a later fault maps a new PUD', async () => {
    const m = await machine();
    const { p, a } = faultPud(m);
    p.madvise(a, GiB, 'dontneed');
    expect(p.status()).toMatchObject({ RssAnon: 0, VmPTE: 4 });
    p.touch(a, 4 * KiB, { write: true });
    expect(events(m)).toEqual({ pgfault: 2, thp_fault_alloc: 2 });
    m.checkInvariants();
  });

  it('the PUD is not used when the VMA cannot hold an aligned GiB', async () => {
    const m = await machine({ sysfs: { 'transparent_hugepage/enabled': 'always' } });
    const p = m.spawn();
    const a = p.mmap(GiB, { addr: ARENA + 2 * MiB, ...fixed });
    p.touch(a, 4 * KiB, { write: true });
    expect(events(m)).toEqual({ pgfault: 1, thp_fault_alloc: 1 });
    expect(m.mthp()['2048kB']).toMatchObject({ anon_fault_alloc: 1 });
    expect(p.smaps()[0].fields.THPeligible).toBe(1);
    m.checkInvariants();
  });
});

describe('PUD THP pre-deposit and allocation failures (§13 38)', () => {
  it('a failed page-table allocation during the pre-deposit falls back to a PMD THP without a counter', async () => {
    const m = await machine({ sysfs: { 'transparent_hugepage/enabled': 'always' } });
    const p = m.spawn();
    const a = p.mmap(2 * GiB, { addr: ARENA, ...fixed });
    p.touch(a + GiB, 4 * KiB); // the PUD table exists now; 1 fault, 1 PUD THP
    // fail the 100th order-0 allocation from here on: a PTE table of the pre-deposit
    m.injectAllocFailures(1, 0, { maxOrder: 0, skip: 100 });
    const before = m.meminfo();
    p.touch(a, 4 * KiB, { write: true });
    expect(events(m)).toEqual({ pgfault: 2, thp_fault_alloc: 2 });
    expect(m.mthp()['1048576kB']).toMatchObject({ anon_fault_alloc: 1, anon_fault_fallback: 0 });
    expect(m.mthp()['2048kB']).toMatchObject({ anon_fault_alloc: 1 });
    // the tables taken before the failure were freed; the PMD THP adds its PMD table and deposit
    expect(m.meminfo().PageTables - before.PageTables).toBe(8);
    m.checkInvariants();
  });

  it('when no free aligned GiB exists the fault counts thp_fault_fallback and maps a PMD THP', async () => {
    const m = await machine({ ram: '3G', sysfs: { 'transparent_hugepage/enabled': 'never', 'transparent_hugepage/hugepages-1048576kB/enabled': 'never' } });
    // fragment: fill most of RAM with 4 KiB pages, then free all but one page in every 256 MiB
    const f = m.spawn();
    const b = f.mmap(2560 * MiB, { addr: ARENA + 8 * GiB, ...fixed });
    f.touch(b, 2560 * MiB, { write: true });
    for (let off = 0; off < 2560 * MiB; off += 256 * MiB) f.madvise(b + off + 4 * KiB, 256 * MiB - 4 * KiB, 'dontneed');
    m.setSysfs('transparent_hugepage/hugepages-1048576kB/enabled', 'always');
    m.setSysfs('transparent_hugepage/enabled', 'always');
    const p = m.spawn();
    const a = p.mmap(GiB, { addr: ARENA, ...fixed });
    p.touch(a, 4 * KiB, { write: true });
    expect(m.mthp()['1048576kB']).toMatchObject({ anon_fault_alloc: 0, anon_fault_fallback: 1 });
    expect(m.mthp()['2048kB']).toMatchObject({ anon_fault_alloc: 1 });
    expect(events(m)).toMatchObject({ thp_fault_alloc: 1, thp_fault_fallback: 1 });
    expect(p.smaps()[0].fields).toMatchObject({ AnonHugePages: 2048 });
    m.checkInvariants();
  });
});

describe('PUD THP write-protect faults and fork (§13 36, V6)', () => {
  it('fork shares the PUD read-only; the child gets its own 513 deposited tables', async () => {
    const m = await machine();
    const { p } = faultPud(m);
    const c = p.fork();
    expect(c.status()).toMatchObject({ RssAnon: 1048576, VmPTE: 4 + 2052 });
    expect(m.meminfo()).toMatchObject({ AnonPages: 1048576 });
    expect(c.smaps()[0].fields).toMatchObject({ Rss: 1048576, Pss: 524288, Shared_Dirty: 1048576, AnonHugePages: 1048576 });
    m.checkInvariants();
    c.exit();
    expect(p.status()).toMatchObject({ VmPTE: 4 + 2052 });
    m.checkInvariants();
  });

  it('split-to-pte-always: a write after fork splits the parent PUD to PTEs and copies 4 KiB; data stays exact', async () => {
    const m = await machine({ data: true });
    const { p, a } = faultPud(m);
    p.touch(a, GiB, { write: true, stride: 2 * MiB + 4 * KiB, gen: 1 });
    const c = p.fork();
    p.touch(a, 4 * KiB, { write: true, gen: 2 });
    expect(events(m)).toMatchObject({ thp_split_pud: 1 });
    // the split used the deposited tables: VmPTE unchanged; one 4 KiB page copied
    expect(p.status()).toMatchObject({ RssAnon: 1048576, VmPTE: 4 + 2052 });
    expect(m.meminfo().AnonPages).toBe(1048576 + 4);
    expect(c.smaps()[0].fields).toMatchObject({ AnonHugePages: 1048576 });
    expect(p.verify(a, 4 * KiB, 2).mismatches).toBe(0);
    expect(c.verify(a, GiB, 1, { stride: 2 * MiB + 4 * KiB }).mismatches).toBe(0);
    expect(p.verify(a + 2 * MiB + 4 * KiB, GiB - 2 * MiB - 4 * KiB, 1, { stride: 2 * MiB + 4 * KiB, base: a }).mismatches).toBe(0);
    m.checkInvariants();
    c.touch(a + 8 * KiB, 4 * KiB, { write: true, gen: 3 });
    expect(events(m)).toMatchObject({ thp_split_pud: 2 });
    expect(p.verify(a + 2 * MiB + 4 * KiB, 4 * KiB, 1, { base: a }).mismatches).toBe(0);
    m.checkInvariants();
    p.exit();
    c.exit();
    m.checkInvariants();
  });

  it('reuse-if-exclusive-else-split: the last owner reuses the PUD in place', async () => {
    const m = await machine({ variants: { 'thp.pud.cow': 'reuse-if-exclusive-else-split' } });
    const { p, a } = faultPud(m);
    const c = p.fork();
    c.exit();
    p.touch(a, 4 * KiB, { write: true });
    expect(events(m)).toEqual({ pgfault: 2, thp_fault_alloc: 1 });
    expect(p.status()).toMatchObject({ RssAnon: 1048576 });
    m.checkInvariants();
    // still shared: split like the seed
    const c2 = p.fork();
    c2.touch(a, 4 * KiB, { write: true });
    expect(events(m)).toMatchObject({ thp_split_pud: 1 });
    m.checkInvariants();
  });

  it('split-to-pte-always splits even the last owner (the seed has no PUD reuse)', async () => {
    const m = await machine();
    const { p, a } = faultPud(m);
    p.fork().exit();
    p.touch(a, 4 * KiB, { write: true });
    expect(events(m)).toEqual({ pgfault: 2, thp_fault_alloc: 1, thp_split_pud: 1 });
    m.checkInvariants();
  });

  it('copy-1G: the writer gets a new 1 GiB folio with the same contents', async () => {
    const m = await machine({ data: true, variants: { 'thp.pud.cow': 'copy-1G' } });
    const { p, a } = faultPud(m);
    p.touch(a, GiB, { write: true, stride: 64 * MiB + 4 * KiB, gen: 4 });
    const c = p.fork();
    c.touch(a, 4 * KiB, { write: true, gen: 5 });
    expect(events(m)).toEqual({ pgfault: 2, thp_fault_alloc: 2 });
    expect(m.meminfo()).toMatchObject({ AnonPages: 2 * 1048576, AnonHugePages: 2 * 1048576 });
    expect(c.verify(a, 4 * KiB, 5).mismatches).toBe(0);
    expect(c.verify(a + 64 * MiB + 4 * KiB, GiB - 64 * MiB - 4 * KiB, 4, { stride: 64 * MiB + 4 * KiB, base: a }).mismatches).toBe(0);
    expect(p.verify(a, GiB, 4, { stride: 64 * MiB + 4 * KiB }).mismatches).toBe(0);
    m.checkInvariants();
  });
});

describe('partial ranges split the PUD first', () => {
  it('munmap of 4 KiB: PUD -> PMD table -> PTEs from the deposit, one page freed', async () => {
    const m = await machine();
    const { p, a } = faultPud(m);
    p.munmap(a + 4 * KiB, 4 * KiB);
    expect(events(m)).toMatchObject({ thp_split_pud: 1 });
    expect(p.status()).toMatchObject({ RssAnon: 1048576 - 4, VmPTE: 4 + 2052 });
    // the folio is now partially mapped and queued for a deferred split
    expect(m.mthp()['1048576kB']).toMatchObject({ nr_anon: 1, nr_anon_partially_mapped: 1 });
    expect(m.meminfo()).toMatchObject({ AnonPages: 1048576 - 4, AnonHugePages: 0 });
    m.checkInvariants();
    // no VMA left: free_pgtables() frees the PUD table too, only the PGD remains
    p.munmap(a, 2 * GiB);
    expect(m.meminfo()).toMatchObject({ AnonPages: 0, PageTables: 4 });
    expect(m.mthp()['1048576kB']).toMatchObject({ nr_anon: 0, nr_anon_partially_mapped: 0 });
    m.checkInvariants();
  });

  it('mprotect of the whole GiB keeps the PUD (change_huge_pud); a partial one splits and retries', async () => {
    const m = await machine();
    const { p, a } = faultPud(m);
    p.mprotect(a, GiB, 'r');
    expect(events(m)).toEqual({ pgfault: 1, thp_fault_alloc: 1 });
    expect(() => p.touch(a, 4 * KiB, { write: true })).toThrow(/SIGSEGV/);
    p.mprotect(a, 2 * MiB, 'rw');
    expect(events(m)).toMatchObject({ thp_split_pud: 1 });
    p.touch(a, 2 * MiB, { write: true });
    expect(() => p.touch(a + 2 * MiB, 4 * KiB, { write: true })).toThrow(/SIGSEGV/);
    expect(p.smaps().map((s) => s.fields.Rss)).toEqual([2048, 1046528, 0]);
    m.checkInvariants();
  });

  it('bad-pud-error (pre-seed-004): a partial mprotect leaves the PUD and its protection unchanged', async () => {
    const m = await machine({ variants: { 'mprotect.pud.partial': 'bad-pud-error' } });
    const { p, a } = faultPud(m);
    p.mprotect(a, 2 * MiB, 'r');
    expect(events(m)).toEqual({ pgfault: 1, thp_fault_alloc: 1 });
    // the VMA was split (pre-004 kernels did not split PUDs there) but the PUD
    // still maps the range writable: the write takes no fault
    expect(p.smaps().map((s) => s.fields.Size)).toEqual([2048, 2095104]);
    p.touch(a, 4 * KiB, { write: true });
    expect(events(m)).toEqual({ pgfault: 1, thp_fault_alloc: 1 });
  });

  it('MADV_DONTNEED of 2 MiB splits the PUD and frees one PTE table worth of pages', async () => {
    const m = await machine();
    const { p, a } = faultPud(m);
    p.madvise(a + 2 * MiB, 2 * MiB, 'dontneed');
    expect(events(m)).toMatchObject({ thp_split_pud: 1 });
    expect(p.status()).toMatchObject({ RssAnon: 1048576 - 2048 });
    m.checkInvariants();
  });
});

describe('mprotect round trip on a PUD (§13 37, V12)', () => {
  it('none: RO then RW leaves the PUD read-only, so the next write splits it', async () => {
    const m = await machine();
    const { p, a } = faultPud(m);
    p.mprotect(a, GiB, 'r');
    p.mprotect(a, GiB, 'rw');
    p.touch(a, 4 * KiB, { write: true });
    expect(events(m)).toEqual({ pgfault: 2, thp_fault_alloc: 1, thp_split_pud: 1 });
    expect(p.status()).toMatchObject({ RssAnon: 1048576 });
    m.checkInvariants();
  });

  it('like-pmd: an exclusive PUD gets its write bit back and the write takes no fault', async () => {
    const m = await machine({ variants: { 'mprotect.pud.writeUpgrade': 'like-pmd' } });
    const { p, a } = faultPud(m);
    p.mprotect(a, GiB, 'r');
    p.mprotect(a, GiB, 'rw');
    p.touch(a, 4 * KiB, { write: true });
    expect(events(m)).toEqual({ pgfault: 1, thp_fault_alloc: 1 });
    m.checkInvariants();
  });
});

describe('split targets and deposit policy (V7, V8)', () => {
  it('pmd-thps: an exclusive PUD becomes 512 PMD-mapped THPs using the deposited tables', async () => {
    const m = await machine({ variants: { 'thp.pud.splitTarget': 'pmd-thps' } });
    const { p, a } = faultPud(m);
    p.munmap(a + 4 * KiB, 4 * KiB);
    expect(events(m)).toMatchObject({ thp_split_pud: 1, thp_split_pmd: 1 });
    expect(m.mthp()['1048576kB']).toMatchObject({ nr_anon: 0 });
    expect(m.mthp()['2048kB']).toMatchObject({ nr_anon: 512, nr_anon_partially_mapped: 1 });
    expect(m.meminfo()).toMatchObject({ AnonPages: 1048576 - 4, AnonHugePages: 1048576 - 2048 });
    expect(p.status()).toMatchObject({ VmPTE: 4 + 2052 });
    m.checkInvariants();
  });

  it('pmd-thps: a folio still shared with a child is split to PTEs', async () => {
    const m = await machine({ variants: { 'thp.pud.splitTarget': 'pmd-thps' } });
    const { p, a } = faultPud(m);
    p.fork();
    p.touch(a, 4 * KiB, { write: true });
    expect(events(m)).toMatchObject({ thp_split_pud: 1 });
    expect(m.mthp()['2048kB']).toMatchObject({ nr_anon: 0 });
    m.checkInvariants();
  });

  it('zap: a split drops the whole mapping; the range refaults at PMD size', async () => {
    const m = await machine({ variants: { 'thp.pud.splitTarget': 'zap' }, sysfs: { 'transparent_hugepage/enabled': 'always' } });
    const { p, a } = faultPud(m);
    p.mprotect(a, 2 * MiB, 'r');
    expect(p.status()).toMatchObject({ RssAnon: 0, VmPTE: 4 });
    m.setSysfs('transparent_hugepage/hugepages-1048576kB/enabled', 'never');
    p.touch(a + 2 * MiB, 4 * KiB, { write: true });
    expect(m.mthp()['2048kB']).toMatchObject({ anon_fault_alloc: 1 });
    m.checkInvariants();
  });

  it('lazy-at-split: the fault charges no tables; the split allocates all 513', async () => {
    const m = await machine({ variants: { 'pgtable.deposit': 'lazy-at-split' } });
    const { p, a } = faultPud(m);
    expect(p.status()).toMatchObject({ RssAnon: 1048576, VmPTE: 4 });
    p.munmap(a + 4 * KiB, 4 * KiB);
    expect(p.status()).toMatchObject({ VmPTE: 4 + 2052 });
    m.checkInvariants();
  });

  it('lazy-at-split: without memory for the tables, splits fail cleanly (ENOMEM, OOM) and leave the PUD', async () => {
    const m = await machine({ data: true, variants: { 'pgtable.deposit': 'lazy-at-split' } });
    const { p, a } = faultPud(m);
    p.touch(a, 4 * KiB, { write: true, gen: 6 });
    const c = p.fork();
    m.injectAllocFailures(1_000_000, 0, { maxOrder: 0, skip: 10 });
    expect(() => p.munmap(a + 4 * KiB, 4 * KiB)).toThrow(/ENOMEM/);
    expect(() => p.mprotect(a, 4 * KiB, 'r')).toThrow(/ENOMEM/);
    expect(() => p.madvise(a + 4 * KiB, 4 * KiB, 'dontneed')).toThrow(/ENOMEM/);
    expect(p.smaps()[0].fields).toMatchObject({ Size: 2097152, Rss: 1048576, AnonHugePages: 1048576 });
    expect(() => c.touch(a, 4 * KiB, { write: true })).toThrow(/OOM|ENOMEM/i);
    expect(events(m)).toEqual({ pgfault: 2, thp_fault_alloc: 1 });
    m.checkInvariants();
    m.injectAllocFailures(0);
    c.touch(a, 4 * KiB, { write: true, gen: 7 });
    expect(events(m)).toMatchObject({ thp_split_pud: 1 });
    expect(p.verify(a, 4 * KiB, 6).mismatches).toBe(0);
    expect(c.verify(a, 4 * KiB, 7).mismatches).toBe(0);
    m.checkInvariants();
  });
});

describe('copy-1G reuses what is not shared (V6)', () => {
  it('after the child exits, a write reuses the PUD instead of copying 1 GiB', async () => {
    const m = await machine({ variants: { 'thp.pud.cow': 'copy-1G' } });
    const { p, a } = faultPud(m);
    p.fork().exit();
    p.touch(a, 4 * KiB, { write: true });
    expect(events(m)).toEqual({ pgfault: 2, thp_fault_alloc: 1 });
    m.checkInvariants();
  });

  it('a copy that cannot get 1 GiB counts a fallback and splits', async () => {
    const m = await machine({ variants: { 'thp.pud.cow': 'copy-1G' } });
    const { p, a } = faultPud(m);
    const c = p.fork();
    m.injectAllocFailures(1, 18);
    c.touch(a, 4 * KiB, { write: true });
    expect(events(m)).toEqual({ pgfault: 2, thp_fault_alloc: 1, thp_fault_fallback: 1, thp_split_pud: 1 });
    expect(m.mthp()['1048576kB']).toMatchObject({ anon_fault_fallback: 1 });
    m.checkInvariants();
  });
});
