import { describe, it, expect } from 'vitest';
import { Machine, MiB } from '../src/index.js';

const ARENA = 0x600000000000;
const fixed = { flags: 'private|anonymous|fixed_noreplace' };

describe('fork and COW', () => {
  it('4K pages are shared write-protected and copied on write', async () => {
    const m = await Machine.create({ data: true });
    const p = m.spawn();
    const a = p.mmap(16 * 4096, { addr: ARENA, ...fixed });
    p.touch(a, 16 * 4096, { write: true });
    const c = p.fork();
    expect(c.status()).toMatchObject({ RssAnon: 64, VmPTE: 12 });
    expect(p.smaps()[0].fields).toMatchObject({ Pss: 32, Shared_Dirty: 64 });
    c.touch(a, 4096, { write: true, gen: 2 });
    expect(c.load(a)).toBe(0x20);
    expect(p.load(a)).toBe(0x10);
    expect(m.vmstat().pgreuse).toBe(0);
    c.exit();
    p.touch(a + 4096, 4096, { write: true, gen: 3 }); // exclusive again: reuse
    expect(m.vmstat().pgreuse).toBe(1);
    m.checkInvariants();
  });

  it('a child write splits its PMD and copies one page (thp_fork_child_write)', async () => {
    const m = await Machine.create({ data: true });
    const p = m.spawn();
    const a = p.mmap(2 * MiB, { addr: ARENA, ...fixed });
    p.madvise(a, 2 * MiB, 'hugepage');
    p.touch(a, 2 * MiB, { write: true });
    const c = p.fork();
    expect(c.status()).toMatchObject({ RssAnon: 2048, VmPTE: 12 });
    expect(p.smaps()[0].fields).toMatchObject({ Pss: 1024, Shared_Dirty: 2048, AnonHugePages: 2048 });
    c.touch(a, 4096, { write: true, gen: 2 });
    expect(m.vmstat()).toMatchObject({ pgfault: 2, thp_fault_alloc: 1, thp_split_pmd: 1 });
    expect(m.meminfo()).toMatchObject({ AnonPages: 2052, AnonHugePages: 2048 });
    expect(p.smaps()[0].fields).toMatchObject({ Pss: 1026, Shared_Dirty: 2044, Private_Dirty: 4, AnonHugePages: 2048 });
    expect(c.smaps()[0].fields).toMatchObject({ Pss: 1026, Shared_Dirty: 2044, Private_Dirty: 4, AnonHugePages: 0 });
    expect(c.load(a)).toBe(0x20);
    expect(c.load(a + 4096)).toBe(0x11);
    expect(p.verify(a, 2 * MiB, 1).mismatches).toBe(0);
    m.checkInvariants();
    c.exit();
    p.exit();
    m.checkInvariants();
    expect(m.meminfo().MemFree).toBe(m.meminfo().MemTotal);
  });

  it('mTHP after fork: the child copies one page; after its exit every PTE is reused in place', async () => {
    const m = await Machine.create({ data: true, sysfs: { 'transparent_hugepage/hugepages-64kB/enabled': 'always' } });
    const p = m.spawn();
    const a = p.mmap(256 * 1024, { addr: ARENA, ...fixed });
    p.touch(a, 256 * 1024, { write: true });
    const c = p.fork();
    c.touch(a, 4096, { write: true, gen: 2 });
    expect(p.smaps()[0].fields.Pss).toBe(130);
    c.exit();
    p.touch(a, 64 * 1024, { write: true, gen: 3 });
    expect(p.status().minflt).toBe(20);
    expect(p.smaps()[0].fields).toMatchObject({ Pss: 256, Private_Dirty: 256 });
    expect(p.verify(a, 64 * 1024, 3).mismatches).toBe(0);
    m.checkInvariants();
  });

  it('DONTFORK and WIPEONFORK', async () => {
    const m = await Machine.create({ data: true });
    const p = m.spawn();
    const k = p.mmap(2 * MiB, { addr: ARENA, ...fixed });
    const s = p.mmap(2 * MiB, { addr: ARENA + 2 ** 30, ...fixed });
    const w = p.mmap(2 * MiB, { addr: ARENA + 2 * 2 ** 30, ...fixed });
    for (const x of [k, s, w]) { p.madvise(x, 2 * MiB, 'hugepage'); p.touch(x, 2 * MiB, { write: true }); }
    p.madvise(s, 2 * MiB, 'dontfork');
    p.madvise(w, 2 * MiB, 'wipeonfork');
    const c = p.fork();
    expect(c.smaps().map((e) => e.start)).toEqual([k, w]);
    expect(c.verify(w, 2 * MiB, 0).mismatches).toBe(0);
    expect(c.verify(k, 2 * MiB, 1).mismatches).toBe(0);
    expect(() => c.touch(s, 4096)).toThrow(/SIGSEGV/);
    m.checkInvariants();
  });

  it('the child inherits the reuse after the parent exits (thp_fork_child_exit_reuse mirror)', async () => {
    const m = await Machine.create({ data: true });
    const p = m.spawn();
    const a = p.mmap(2 * MiB, { addr: ARENA, ...fixed });
    p.madvise(a, 2 * MiB, 'hugepage');
    p.touch(a, 2 * MiB, { write: true });
    const c = p.fork();
    c.exit();
    p.touch(a, 4096, { write: true, gen: 3 });
    expect(m.vmstat()).toMatchObject({ thp_split_pmd: 0, pgfault: 2 });
    expect(p.smaps()[0].fields.AnonHugePages).toBe(2048);
    m.checkInvariants();
  });
});
