import { describe, it, expect } from 'vitest';
import { Machine, MiB, GiB, KiB, ErrnoError, SignalError } from '../src/index.js';

const ARENA = 0x600000000000;
const M2 = 2 * MiB;

async function machine(pool2M = 0, opts: { pool1G?: number; data?: boolean; ram?: string; sysfs?: Record<string, string | number> } = {}) {
  const m = await Machine.create({ data: opts.data ?? true, ram: opts.ram ?? '16G', sysfs: opts.sysfs });
  if (pool2M) m.setSysfs('hugepages/hugepages-2048kB/nr_hugepages', pool2M);
  if (opts.pool1G) m.setSysfs('hugepages/hugepages-1048576kB/nr_hugepages', opts.pool1G);
  return m;
}
const pool = (m: Machine, size = '2048kB') => m.hugetlbPools()[size];
const hmap = (p: ReturnType<Machine['spawn']>, len: number, flags: string, opts: { addr?: number; size?: '2M' | '1G'; prot?: string } = {}) =>
  p.mmap(len, { addr: opts.addr ?? ARENA, prot: opts.prot, flags: `${flags}|anonymous|hugetlb|fixed_noreplace`, hugePageSize: opts.size });
const errno = (f: () => unknown) => {
  try { f(); } catch (e) { if (e instanceof ErrnoError) return e.errno; throw e; }
  return 'ok';
};
const signal = (f: () => unknown) => {
  try { f(); } catch (e) { if (e instanceof SignalError) return e.signal; throw e; }
  return 'none';
};

describe('hstate pools (nr_hugepages)', () => {
  it('grows from the buddy allocator, shows in meminfo and sysfs, and shrinks back', async () => {
    const m = await machine();
    const free0 = m.freePages();
    m.setSysfs('hugepages/hugepages-2048kB/nr_hugepages', 4);
    m.setSysfs('hugepages/hugepages-1048576kB/nr_hugepages', 1);
    expect(pool(m)).toEqual({ nr_hugepages: 4, free_hugepages: 4, resv_hugepages: 0, surplus_hugepages: 0 });
    expect(pool(m, '1048576kB')).toEqual({ nr_hugepages: 1, free_hugepages: 1, resv_hugepages: 0, surplus_hugepages: 0 });
    expect(m.freePages()).toBe(free0 - 4 * 512 - 262144);
    // HugePages_* are the default (2M) hstate's; Hugetlb sums every hstate in kB
    expect(m.meminfo()).toMatchObject({ HugePages_Total: 4, HugePages_Free: 4, HugePages_Rsvd: 0, HugePages_Surp: 0, Hugepagesize: 2048, Hugetlb: 4 * 2048 + 1048576 });
    expect(m.text('/proc/meminfo')).toMatch(/HugePages_Total:\s+4\n/);
    expect(m.text('/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages')).toBe('4\n');
    expect(m.text('/sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages')).toBe('1\n');
    // pool pages are buddy allocations (htlb_buddy_alloc_success counts the 2M ones)
    expect(m.vmstat().htlb_buddy_alloc_success).toBe(4);
    // hugetlb pages are not in use yet: no NR_HUGETLB, no AnonPages
    expect(m.nodeStats().nr_hugetlb).toBe(0);
    m.setSysfs('hugepages/hugepages-2048kB/nr_hugepages', 1);
    m.setSysfs('hugepages/hugepages-1048576kB/nr_hugepages', 0);
    expect(pool(m).nr_hugepages).toBe(1);
    expect(m.freePages()).toBe(free0 - 512);
    m.checkInvariants();
  });

  it('a request larger than memory allocates what it can; the knob reads back the real size', async () => {
    const m = await machine(0, { ram: '64M' });
    m.setSysfs('hugepages/hugepages-2048kB/nr_hugepages', 1000);
    const n = pool(m).nr_hugepages;
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThan(32);
    expect(m.getSysfs('hugepages/hugepages-2048kB/nr_hugepages')).toBe(String(n));
    // a 1G page cannot be found in 64M
    m.setSysfs('hugepages/hugepages-1048576kB/nr_hugepages', 1);
    expect(pool(m, '1048576kB').nr_hugepages).toBe(0);
    m.checkInvariants();
  });

  it('nr_overcommit_hugepages lets mmap reserve surplus pages; gigantic hstates refuse it', async () => {
    const m = await machine(0);
    expect(() => m.setSysfs('hugepages/hugepages-1048576kB/nr_overcommit_hugepages', 1)).toThrow(/EINVAL/);
    m.setSysfs('hugepages/hugepages-2048kB/nr_overcommit_hugepages', 2);
    const p = m.spawn();
    const a = hmap(p, 2 * M2, 'shared');
    // gather_surplus_pages(): the reservation grows the pool with surplus pages
    expect(pool(m)).toEqual({ nr_hugepages: 2, free_hugepages: 2, resv_hugepages: 2, surplus_hugepages: 2 });
    p.touch(a, 4 * KiB, { write: true });
    expect(pool(m)).toEqual({ nr_hugepages: 2, free_hugepages: 1, resv_hugepages: 1, surplus_hugepages: 2 });
    // beyond overcommit: a MAP_NORESERVE fault finds no page (surplus already at the limit)
    const b = hmap(p, M2, 'private|noreserve', { addr: ARENA + GiB });
    expect(signal(() => p.touch(b, 4 * KiB, { write: true }))).toBe('SIGBUS');
    m.checkInvariants();
    // unmapping frees the surplus pages back to the buddy allocator
    p.munmap(a, 2 * M2);
    expect(pool(m)).toEqual({ nr_hugepages: 0, free_hugepages: 0, resv_hugepages: 0, surplus_hugepages: 0 });
    m.checkInvariants();
  });

  it('shrinking below the pages in use makes them surplus; they leave the pool when freed', async () => {
    const m = await machine(3);
    const p = m.spawn();
    const a = hmap(p, 2 * M2, 'shared');
    p.touch(a, 4 * KiB, { write: true });
    m.setSysfs('hugepages/hugepages-2048kB/nr_hugepages', 0);
    // the free page that is reserved stays; every page becomes surplus (set_max_huge_pages)
    expect(pool(m)).toEqual({ nr_hugepages: 2, free_hugepages: 1, resv_hugepages: 1, surplus_hugepages: 2 });
    expect(m.getSysfs('hugepages/hugepages-2048kB/nr_hugepages')).toBe('2');
    m.checkInvariants();
    p.munmap(a, 2 * M2);
    expect(pool(m)).toEqual({ nr_hugepages: 0, free_hugepages: 0, resv_hugepages: 0, surplus_hugepages: 0 });
    m.checkInvariants();
  });
});

describe('reservations at mmap', () => {
  it('shared mappings reserve their pages; a fault turns a reservation into an allocation', async () => {
    const m = await machine(4);
    const p = m.spawn();
    const a = hmap(p, 3 * M2, 'shared');
    expect(pool(m)).toMatchObject({ free_hugepages: 4, resv_hugepages: 3 });
    expect(p.smaps()[0].vmFlags).toBe('rd wr sh mr mw me ms de ht');
    // free - resv = 1: another 2-page mapping cannot be reserved
    expect(errno(() => hmap(p, 2 * M2, 'shared', { addr: ARENA + GiB }))).toBe('ENOMEM');
    // MAP_NORESERVE maps anyway (VM_NORESERVE: 'nr')
    const b = hmap(p, 2 * M2, 'shared|noreserve', { addr: ARENA + GiB });
    expect(p.smaps()[1].vmFlags).toBe('rd wr sh mr mw me ms de nr ht');
    p.touch(a, 4 * KiB, { write: true });
    expect(pool(m)).toMatchObject({ free_hugepages: 3, resv_hugepages: 2 });
    // the noreserve fault takes the one unreserved page; the next one gets SIGBUS
    p.touch(b, 4 * KiB, { write: true });
    expect(signal(() => p.touch(b + M2, 4 * KiB, { write: true }))).toBe('SIGBUS');
    expect(pool(m)).toMatchObject({ free_hugepages: 2, resv_hugepages: 2 });
    m.checkInvariants();
    p.exit();
    expect(pool(m)).toEqual({ nr_hugepages: 4, free_hugepages: 4, resv_hugepages: 0, surplus_hugepages: 0 });
    m.checkInvariants();
  });

  it('private mappings reserve every page, even read-only ones', async () => {
    const m = await machine(2);
    const p = m.spawn();
    hmap(p, 2 * M2, 'private', { prot: 'r' });
    expect(pool(m)).toMatchObject({ free_hugepages: 2, resv_hugepages: 2 });
    expect(p.smaps()[0].vmFlags).toBe('rd mr mw me de ht');
    expect(errno(() => hmap(p, M2, 'private', { addr: ARENA + GiB }))).toBe('ENOMEM');
    m.checkInvariants();
  });

  it('huge page alignment: lengths round up, unaligned fixed addresses are refused', async () => {
    const m = await machine(2);
    const p = m.spawn();
    const a = hmap(p, 4 * KiB, 'shared');
    expect(p.smaps()[0].fields.Size).toBe(2048);
    expect(pool(m).resv_hugepages).toBe(1);
    expect(errno(() => hmap(p, M2, 'shared', { addr: ARENA + GiB + 4 * KiB }))).toBe('EINVAL');
    // without a hint the address is huge page aligned
    const b = p.mmap(M2, { flags: 'shared|anonymous|hugetlb' });
    expect(b % M2).toBe(0);
    expect(a).toBe(ARENA);
    m.checkInvariants();
  });
});

describe('faults', () => {
  it('map PMD leaves that are not in Rss but in HugetlbPages and smaps *_Hugetlb', async () => {
    const m = await machine(4);
    const p = m.spawn();
    const a = hmap(p, 2 * M2, 'shared');
    p.touch(a, 2 * M2, { write: true, stride: 64 * KiB });
    expect(p.status()).toMatchObject({ VmRSS: 0, RssAnon: 0, HugetlbPages: 4096, VmPTE: 8, minflt: 2 });
    const s = p.smaps()[0];
    expect(s.kind).toBe('hugetlb');
    expect(s.fields).toMatchObject({ Rss: 0, Anonymous: 0, AnonHugePages: 0, Private_Hugetlb: 4096, Shared_Hugetlb: 0, KernelPageSize: 2048, MMUPageSize: 2048, THPeligible: 0 });
    // the pages handed out count in nr_hugetlb; no THP counters move
    expect(m.nodeStats().nr_hugetlb).toBe(1024);
    expect(m.vmstat()).toMatchObject({ thp_fault_alloc: 0, pgfault: 2 });
    expect(p.verify(a, 2 * M2, 1, { stride: 64 * KiB }).mismatches).toBe(0);
    m.checkInvariants();
  });

  it('zero the pages they hand out, also pages reused from the pool', async () => {
    const m = await machine(1);
    const p = m.spawn();
    const a = hmap(p, M2, 'shared');
    p.touch(a, M2, { write: true });
    p.munmap(a, M2);
    const b = hmap(p, M2, 'private');
    expect(p.verify(b, M2, 0).mismatches).toBe(0);
    m.checkInvariants();
  });

  it('private mappings: a read fault maps the new page read-only, the write reuses it (mapcount 1)', async () => {
    const m = await machine(2);
    const p = m.spawn();
    const a = hmap(p, M2, 'private');
    p.touch(a, 4 * KiB);
    expect(pool(m)).toMatchObject({ free_hugepages: 1, resv_hugepages: 0 });
    p.touch(a, 4 * KiB, { write: true });
    // hugetlb_wp() reused the exclusive page: no copy
    expect(pool(m)).toMatchObject({ free_hugepages: 1, resv_hugepages: 0 });
    expect(p.status().minflt).toBe(2);
    m.checkInvariants();
  });

  it('1G pages are PUD leaves: one PUD table, and the data reaches the last byte', async () => {
    const m = await machine(0, { pool1G: 1 });
    const p = m.spawn();
    const a = hmap(p, GiB, 'private', { size: '1G' });
    expect(pool(m, '1048576kB')).toMatchObject({ free_hugepages: 1, resv_hugepages: 1 });
    p.touch(a, 4 * KiB, { write: true });
    p.touch(a + GiB - 4 * KiB, 4 * KiB, { write: true, base: a });
    expect(p.status()).toMatchObject({ HugetlbPages: 1048576, VmPTE: 4, minflt: 1 });
    expect(p.smaps()[0].fields).toMatchObject({ KernelPageSize: 1048576, Private_Hugetlb: 1048576 });
    expect(p.load(a)).toBe(0x10);
    expect(p.load(a + GiB - 4 * KiB)).toBe((16 + 262143) & 0xff);
    expect(m.meminfo()).toMatchObject({ HugePages_Total: 0, Hugetlb: 1048576, PageTables: 8 });
    m.checkInvariants();
    p.exit();
    expect(pool(m, '1048576kB')).toMatchObject({ free_hugepages: 1, resv_hugepages: 0 });
    m.checkInvariants();
  });
});

describe('fork', () => {
  it('shared mappings are not copied: the child faults and maps the same page', async () => {
    const m = await machine(2);
    const p = m.spawn();
    const a = hmap(p, M2, 'shared');
    p.touch(a, M2, { write: true });
    const c = p.fork();
    expect(c.status()).toMatchObject({ HugetlbPages: 0, VmPTE: 0 });
    c.touch(a, 4 * KiB, { write: true, gen: 2 });
    expect(c.status()).toMatchObject({ HugetlbPages: 2048, VmPTE: 8, minflt: 1 });
    expect(p.load(a)).toBe(0x20);
    expect(p.smaps()[0].fields.Shared_Hugetlb).toBe(2048);
    expect(pool(m).free_hugepages).toBe(1);
    m.checkInvariants();
  });

  it('private mappings are write-protected in both; the parent write copies, the child keeps the data', async () => {
    const m = await machine(3);
    const p = m.spawn();
    const a = hmap(p, M2, 'private');
    p.touch(a, M2, { write: true });
    const c = p.fork();
    expect(c.status()).toMatchObject({ HugetlbPages: 2048, VmPTE: 8 });
    expect(c.smaps()[0].fields.Shared_Hugetlb).toBe(2048);
    p.store(a, 0x77);
    expect(pool(m).free_hugepages).toBe(1);
    expect(p.load(a)).toBe(0x77);
    expect(c.load(a)).toBe(0x10);
    expect(p.verify(a + 4 * KiB, M2 - 4 * KiB, 1, { base: a }).mismatches).toBe(0);
    expect(p.smaps()[0].fields.Private_Hugetlb).toBe(2048);
    // the child is alone on the original now: its write reuses it
    c.store(a, 0x55);
    expect(pool(m).free_hugepages).toBe(1);
    m.checkInvariants();
    c.exit();
    p.exit();
    expect(pool(m)).toEqual({ nr_hugepages: 3, free_hugepages: 3, resv_hugepages: 0, surplus_hugepages: 0 });
    m.checkInvariants();
  });

  it('without a free page the owner unmaps the page from the child (SIGBUS there); the child itself gets SIGBUS', async () => {
    const m = await machine(1);
    const p = m.spawn();
    const a = hmap(p, M2, 'private');
    p.touch(a, 4 * KiB, { write: true });
    const c = p.fork();
    // the child has no reservation and no page is free
    expect(signal(() => c.touch(a, 4 * KiB, { write: true }))).toBe('SIGBUS');
    // the owner's copy fails too: unmap_ref_private() takes the page from the child
    p.store(a, 0x99);
    expect(c.status().HugetlbPages).toBe(0);
    expect(signal(() => c.touch(a, 4 * KiB))).toBe('SIGBUS');
    expect(p.load(a)).toBe(0x99);
    m.checkInvariants();
  });

  it('a pinned private page is copied for the child at fork', async () => {
    const m = await machine(2);
    const p = m.spawn();
    const a = hmap(p, M2, 'private');
    p.touch(a, M2, { write: true });
    const pin = p.pin(a, 4 * KiB, { write: true });
    const c = p.fork();
    // hugetlb_try_dup_anon_rmap() refused: the child got its own copy, the parent stays writable
    expect(pool(m).free_hugepages).toBe(0);
    expect(c.load(a)).toBe(0x10);
    const before = p.status().minflt;
    p.store(a, 1);
    expect(p.status().minflt).toBe(before);
    pin.release();
    m.checkInvariants();
  });

  it('a read-only pin of a COW-shared private page unshares it first', async () => {
    const m = await machine(2);
    const p = m.spawn();
    const a = hmap(p, M2, 'private');
    p.touch(a, M2, { write: true });
    const c = p.fork();
    const pin = c.pin(a, 4 * KiB);
    // FAULT_FLAG_UNSHARE: the child got an exclusive (still read-only) copy
    expect(pool(m).free_hugepages).toBe(0);
    expect(c.smaps()[0].fields.Private_Hugetlb).toBe(2048);
    pin.release();
    m.checkInvariants();
  });
});

describe('VMA operations at huge page granularity', () => {
  it('munmap/mprotect/MADV_DONTNEED need huge page alignment; the shared file keeps unmapped pages', async () => {
    const m = await machine(2);
    const p = m.spawn();
    const a = hmap(p, 2 * M2, 'shared');
    p.touch(a, 2 * M2, { write: true });
    expect(errno(() => p.munmap(a + MiB, MiB))).toBe('EINVAL');
    expect(errno(() => p.mprotect(a, MiB, 'r'))).toBe('EINVAL');
    expect(errno(() => p.madvise(a + MiB, M2, 'dontneed'))).toBe('EINVAL');
    // an end inside a huge page rounds down: nothing happens
    p.madvise(a, MiB, 'dontneed');
    expect(p.status().HugetlbPages).toBe(4096);
    p.munmap(a + M2, M2);
    expect(p.status()).toMatchObject({ HugetlbPages: 2048, nr_vmas: 1, VmPTE: 8 });
    expect(pool(m).free_hugepages).toBe(0);
    m.checkInvariants();
  });

  it('mprotect of whole pages splits the VMA, never merges it back (VM_SPECIAL), and changes the PMDs', async () => {
    const m = await machine(2);
    const p = m.spawn();
    const a = hmap(p, 2 * M2, 'shared');
    p.touch(a, 2 * M2, { write: true });
    p.mprotect(a, M2, 'r');
    expect(p.smaps().map((s) => s.vmFlags)).toEqual(['rd sh mr mw me ms de ht', 'rd wr sh mr mw me ms de ht']);
    expect(signal(() => p.touch(a, 4 * KiB, { write: true }))).toBe('SIGSEGV');
    p.mprotect(a, M2, 'rw');
    expect(p.smaps().length).toBe(2);
    const before = p.status().minflt;
    p.touch(a, 4 * KiB, { write: true });
    expect(p.status().minflt).toBe(before);
    m.checkInvariants();
  });

  it('MADV_DONTNEED of a shared mapping zaps only: the page cache keeps the data', async () => {
    const m = await machine(2);
    const p = m.spawn();
    const a = hmap(p, 2 * M2, 'shared');
    p.touch(a, 2 * M2, { write: true });
    p.madvise(a, M2, 'dontneed');
    expect(p.status().HugetlbPages).toBe(2048);
    expect(pool(m).free_hugepages).toBe(0);
    expect(p.verify(a, 2 * M2, 1).mismatches).toBe(0);
    m.checkInvariants();
  });

  it('MADV_DONTNEED of a private page frees it and restores its reservation', async () => {
    const m = await machine(2);
    const p = m.spawn();
    const a = hmap(p, 2 * M2, 'private');
    p.touch(a, 2 * M2, { write: true });
    p.madvise(a, M2, 'dontneed');
    expect(pool(m)).toMatchObject({ free_hugepages: 1, resv_hugepages: 1 });
    expect(p.verify(a, 4 * KiB, 0).mismatches).toBe(0);
    expect(pool(m)).toMatchObject({ free_hugepages: 0, resv_hugepages: 0 });
    m.checkInvariants();
  });

  it("reproduces the kernel's transient resv_huge_pages underflow (parent zaps a page its child still maps)", async () => {
    const m = await machine(2);
    const p = m.spawn();
    const a = hmap(p, 2 * M2, 'private');
    p.touch(a, 2 * M2, { write: true });
    const c = p.fork();
    p.munmap(a, 2 * M2);
    // both pages were flagged restore_reserve but are still the child's: resv is -2 as unsigned long
    expect(pool(m).resv_hugepages).toBe(-2);
    expect(m.text('/sys/kernel/mm/hugepages/hugepages-2048kB/resv_hugepages')).toBe('18446744073709551614\n');
    m.checkInvariants();
    c.exit();
    expect(pool(m)).toEqual({ nr_hugepages: 2, free_hugepages: 2, resv_hugepages: 0, surplus_hugepages: 0 });
    m.checkInvariants();
  });
});

describe('mremap and MADV_REMOVE', () => {
  it('mremap moves whole huge pages with the reservation; unaligned or growing requests fail', async () => {
    const m = await machine(4);
    const p = m.spawn();
    const a = hmap(p, 2 * M2, 'private');
    p.touch(a, M2, { write: true });
    expect(pool(m)).toMatchObject({ free_hugepages: 3, resv_hugepages: 1 });
    expect(errno(() => p.mremap(a, 2 * M2, 3 * M2, { maymove: true }))).toBe('EINVAL');
    expect(errno(() => p.mremap(a, 2 * M2, 2 * M2, { fixed: ARENA + GiB + MiB }))).toBe('EINVAL');
    const b = p.mremap(a, 2 * M2, 2 * M2, { fixed: ARENA + GiB });
    // the reservation moved with the mapping: nothing was given back or taken twice
    expect(pool(m)).toMatchObject({ free_hugepages: 3, resv_hugepages: 1 });
    expect(p.status()).toMatchObject({ HugetlbPages: 2048, nr_vmas: 1 });
    expect(p.verify(b, M2, 1).mismatches).toBe(0);
    expect(p.verify(b + M2, M2, 0).mismatches).toBe(0);
    expect(pool(m)).toMatchObject({ free_hugepages: 2, resv_hugepages: 0 });
    m.checkInvariants();
    // shrinking in place unmaps the tail page
    p.mremap(b, 2 * M2, M2);
    expect(pool(m)).toMatchObject({ free_hugepages: 3, resv_hugepages: 0 });
    m.checkInvariants();
  });

  it('MADV_REMOVE punches a hole in the file: the page leaves every mapping and the pool gets it back', async () => {
    const m = await machine(4);
    const p = m.spawn();
    const a = hmap(p, 2 * M2, 'shared');
    p.touch(a, 2 * M2, { write: true });
    const c = p.fork();
    c.touch(a, 4 * KiB);
    p.madvise(a, M2, 'remove');
    expect(pool(m)).toMatchObject({ free_hugepages: 3, resv_hugepages: 0 });
    expect(c.status().HugetlbPages).toBe(0);
    expect(c.verify(a, M2, 0).mismatches).toBe(0);
    // a partial page is only zeroed (hugetlbfs_zero_partial_page)
    p.madvise(a + M2, 4 * KiB, 'remove');
    expect(p.load(a + M2)).toBe(0);
    expect(p.verify(a + M2 + 4 * KiB, M2 - 4 * KiB, 1, { base: a }).mismatches).toBe(0);
    // private mappings cannot punch holes
    const q = m.spawn();
    const b = hmap(q, M2, 'private');
    expect(errno(() => q.madvise(b, M2, 'remove'))).toBe('EACCES');
    m.checkInvariants();
  });
});

describe('PMD sharing (huge_pmd_share)', () => {
  it('a shared mapping covering a PUD range shares its PMD table with a forked child', async () => {
    const m = await machine(512);
    const p = m.spawn();
    const a = hmap(p, GiB, 'shared');
    p.touch(a, 4 * KiB, { write: true });
    const pt0 = m.meminfo().PageTables;
    const c = p.fork();
    c.touch(a + M2, 4 * KiB, { write: true, gen: 2 });
    // the child allocated only a PUD table; its VmPTE also counts the shared PMD table
    expect(c.status().VmPTE).toBe(8);
    expect(m.meminfo().PageTables - pt0).toBe(4 + 4); // the child's PGD and PUD tables
    // both see each other's pages, all counted as shared
    expect(p.load(a + M2)).toBe(0x20);
    expect(p.smaps()[0].fields.Shared_Hugetlb).toBe(4096);
    expect(c.smaps()[0].fields.Shared_Hugetlb).toBe(4096);
    m.checkInvariants();
    c.munmap(a, GiB);
    expect(c.status().VmPTE).toBe(0);
    expect(p.smaps()[0].fields).toMatchObject({ Shared_Hugetlb: 0, Private_Hugetlb: 4096 });
    m.checkInvariants();
  });

  it('an mprotect that splits the VMA inside the PUD range unshares the table', async () => {
    const m = await machine(512);
    const p = m.spawn();
    const a = hmap(p, GiB, 'shared');
    p.touch(a, 4 * KiB, { write: true });
    const c = p.fork();
    c.touch(a, 4 * KiB);
    expect(c.smaps()[0].fields.Shared_Hugetlb).toBe(2048);
    c.mprotect(a, M2, 'r');
    // hugetlb_split(): the child lost the shared table, the parent owns it alone
    expect(c.status().VmPTE).toBe(4);
    expect(p.smaps()[0].fields.Private_Hugetlb).toBe(2048);
    c.touch(a, 4 * KiB);
    expect(c.status().VmPTE).toBe(8);
    m.checkInvariants();
  });
});

describe('metadata mode and exit', () => {
  it('1G private COW after fork copies a whole gigantic page (metadata mode)', async () => {
    const m = await machine(0, { pool1G: 2, data: false });
    const p = m.spawn();
    const a = hmap(p, GiB, 'private', { size: '1G' });
    p.touch(a, GiB, { write: true, stride: 256 * MiB });
    const c = p.fork();
    p.touch(a, 4 * KiB, { write: true });
    expect(pool(m, '1048576kB')).toMatchObject({ nr_hugepages: 2, free_hugepages: 0 });
    expect(p.smaps()[0].fields.Private_Hugetlb).toBe(1048576);
    expect(c.smaps()[0].fields.Private_Hugetlb).toBe(1048576);
    m.checkInvariants();
    c.exit();
    p.exit();
    expect(pool(m, '1048576kB')).toMatchObject({ free_hugepages: 2, resv_hugepages: 0 });
    expect(m.nodeStats().nr_hugetlb).toBe(0);
    m.checkInvariants();
  });
});
