import { describe, it, expect } from 'vitest';
import { Machine, ErrnoError, SignalError, ConfigError, GiB, MiB } from '../src/index.js';

describe('machine', () => {
  it('creates a default 16 GiB machine', async () => {
    const m = await Machine.create();
    const mi = m.meminfo();
    expect(mi.MemTotal).toBe(16 * 1024 * 1024 - 2048); // pageblock 0 is reserved
    expect(mi.MemFree).toBe(mi.MemTotal);
    expect(mi.AnonPages).toBe(0);
  });

  it('names unknown or malformed config keys', async () => {
    await expect(Machine.create({ rma: '1G' } as never)).rejects.toThrow(/config\.rma: unknown key/);
    await expect(Machine.create({ ram: 'lots' })).rejects.toThrow(/config\.ram: "lots" is not a size/);
    await expect(Machine.create({ sysfs: { 'transparent_hugepage/enable': 'always' } })).rejects.toThrow(/unknown knob 'transparent_hugepage\/enable'/);
    await expect(Machine.create({ sysfs: { 'transparent_hugepage/enabled': 'sometimes' } })).rejects.toThrow(/EINVAL/);
    await expect(Machine.create({ pagingLevels: 3 as never })).rejects.toBeInstanceOf(ConfigError);
  });

  it('creates a 1 TiB machine without touching its memory', async () => {
    const m = await Machine.create({ ram: '1T' });
    expect(m.meminfo().MemTotal).toBe(1024 * 1024 * 1024 - 2048);
    expect(m.hostMemory().wasmBytes).toBeLessThan(64 * MiB);
  });

  it('reads sysfs knobs in the kernel format', async () => {
    const m = await Machine.create({ sysfs: { 'transparent_hugepage/enabled': 'always' } });
    expect(m.text('/sys/kernel/mm/transparent_hugepage/enabled')).toBe('[always] madvise never\n');
    expect(m.readSysfs('transparent_hugepage/khugepaged/max_ptes_none')).toBe('511');
  });
});

describe('4 KiB anonymous faults', () => {
  it('write faults allocate pages and page tables', async () => {
    const m = await Machine.create();
    const p = m.spawn();
    const a = p.mmap(64 * 4096);
    const r = p.touch(a, 64 * 4096, { write: true });
    expect(r.faults).toBe(64);
    const s = p.status();
    expect(s.RssAnon).toBe(256);
    expect(s.VmPTE).toBe(12); // PUD + PMD + PTE table
    expect(s.minflt).toBe(64);
    expect(m.vmstat().pgfault).toBe(64);
    expect(m.meminfo().AnonPages).toBe(256);
    expect(m.meminfo().PageTables).toBe(16); // + the PGD
    m.checkInvariants();
  });

  it('read faults map the shared zero page; a later write copies it', async () => {
    const m = await Machine.create({ data: true });
    const p = m.spawn();
    const a = p.mmap(4 * 4096);
    p.touch(a, 4 * 4096);
    expect(p.status().RssAnon).toBe(0);
    expect(p.load(a + 100)).toBe(0);
    p.store(a + 100, 0x5a);
    expect(p.status().RssAnon).toBe(4);
    expect(p.load(a + 100)).toBe(0x5a);
    expect(p.load(a + 4096)).toBe(0);
    expect(m.vmstat().pgfault).toBe(5);
    expect(m.vmstat().pgreuse).toBe(0);
    m.checkInvariants();
  });

  it('anonymous mappings of a multiple of 2 MiB are 2 MiB aligned', async () => {
    const m = await Machine.create();
    const p = m.spawn();
    expect(p.mmap(4 * MiB) % (2 * MiB)).toBe(0);
    expect(p.mmap(6 * MiB) % (2 * MiB)).toBe(0);
    expect(p.mmap(1 * GiB, { align: GiB }) % GiB).toBe(0);
  });

  it('access errors raise the kernel signal', async () => {
    const m = await Machine.create();
    const p = m.spawn();
    const a = p.mmap(8192, { prot: 'r' });
    expect(() => p.store(a, 1)).toThrow(SignalError);
    try {
      p.touch(a, 8192, { write: true });
    } catch (e) {
      expect((e as SignalError).signal).toBe('SIGSEGV');
      expect((e as SignalError).address).toBe(a);
    }
    expect(() => p.touch(a - 4096 * 1000, 4096)).toThrow(/SIGSEGV/);
    const n = p.mmap(4096, { prot: 'none' });
    expect(() => p.touch(n, 1)).toThrow(/SIGSEGV/);
    // failed accesses at bad_area do not reach handle_mm_fault: no pgfault
    expect(m.vmstat().pgfault).toBe(0);
  });
});

describe('munmap / mprotect / madvise', () => {
  it('split VMAs like Linux', async () => {
    const m = await Machine.create();
    const p = m.spawn();
    const a = p.mmap(16 * 4096);
    p.touch(a, 16 * 4096, { write: true });
    p.munmap(a + 4 * 4096, 2 * 4096);
    let v = p.smaps();
    expect(v.map((e) => [e.start - a, e.end - a])).toEqual([[0, 4 * 4096], [6 * 4096, 16 * 4096]]);
    expect(p.status().RssAnon).toBe(14 * 4);
    p.mprotect(a + 8 * 4096, 4096, 'r');
    v = p.smaps();
    expect(v.map((e) => [e.start - a, e.end - a, e.vmFlags])).toEqual([
      [0, 4 * 4096, 'rd wr mr mw me ac'],
      [6 * 4096, 8 * 4096, 'rd wr mr mw me ac'],
      [8 * 4096, 9 * 4096, 'rd mr mw me ac'],
      [9 * 4096, 16 * 4096, 'rd wr mr mw me ac'],
    ]);
    expect(() => p.store(a + 8 * 4096, 1)).toThrow(/SIGSEGV/);
    p.mprotect(a + 8 * 4096, 4096, 'rw'); // merges back
    v = p.smaps();
    expect(v.map((e) => [e.start - a, e.end - a])).toEqual([[0, 4 * 4096], [6 * 4096, 16 * 4096]]);
    p.store(a + 8 * 4096, 1); // writable again without a new fault (exclusive anon page upgraded)
    m.checkInvariants();
  });

  it('returns the kernel errno', async () => {
    const m = await Machine.create();
    const p = m.spawn();
    const a = p.mmap(8 * 4096);
    const err = (f: () => void) => {
      try { f(); } catch (e) { return (e as ErrnoError).errno; }
      return 'ok';
    };
    expect(err(() => p.munmap(a + 1, 4096))).toBe('EINVAL');
    expect(err(() => p.munmap(a, 0))).toBe('EINVAL');
    expect(err(() => p.mprotect(a + 1, 4096, 'r'))).toBe('EINVAL');
    expect(err(() => p.mprotect(a, 4096, 0x10))).toBe('EINVAL');
    expect(err(() => p.mprotect(a + 16 * 4096, 4096, 'r'))).toBe('ENOMEM');
    expect(err(() => p.mprotect(a, 0, 'r'))).toBe('ok');
    expect(err(() => p.madvise(a, 4096, 99))).toBe('EINVAL');
    expect(err(() => p.madvise(a + 1, 4096, 'dontneed'))).toBe('EINVAL');
    expect(err(() => p.madvise(a, 16 * 4096, 'dontneed'))).toBe('ENOMEM');
    expect(err(() => p.mmap(0))).toBe('EINVAL');
    expect(err(() => p.mmap(4096, { addr: a + 1, flags: 'private|anonymous|fixed' }))).toBe('EINVAL');
    expect(err(() => p.mmap(4096, { addr: a, flags: 'private|anonymous|fixed_noreplace' }))).toBe('EEXIST');
  });

  it('MADV_DONTNEED zaps pages and frees a fully zapped PTE table', async () => {
    const m = await Machine.create({ data: true });
    const p = m.spawn();
    const a = p.mmap(4 * MiB);
    p.touch(a, 4 * MiB, { write: true });
    expect(p.status().VmPTE).toBe(4 * 4); // PUD, PMD, 2 PTE tables
    p.madvise(a, 2 * MiB, 'dontneed');
    expect(p.status().RssAnon).toBe(2048);
    expect(p.status().VmPTE).toBe(12); // CONFIG_PT_RECLAIM freed the empty table
    expect(p.verify(a, 2 * MiB, 0).mismatches).toBe(0);
    expect(p.verify(a + 2 * MiB, 2 * MiB, 1, { base: a }).mismatches).toBe(0);
    m.checkInvariants();
  });

  it('MADV_NORMAL/RANDOM/SEQUENTIAL and fork flags change VmFlags', async () => {
    const m = await Machine.create();
    const p = m.spawn();
    const a = p.mmap(4 * 4096);
    p.madvise(a, 4096, 'random');
    p.madvise(a + 4096, 4096, 'sequential');
    p.madvise(a + 2 * 4096, 2 * 4096, 'dontfork');
    expect(p.smaps().map((e) => e.vmFlags)).toEqual([
      'rd wr mr mw me rr ac', 'rd wr mr mw me sr ac', 'rd wr mr mw me dc ac',
    ]);
    p.madvise(a, 4 * 4096, 'normal');
    p.madvise(a, 4 * 4096, 'dofork');
    expect(p.smaps().map((e) => e.vmFlags)).toEqual(['rd wr mr mw me ac']);
  });

  it('munmap frees page tables between VMAs (free_pgtables floor/ceiling)', async () => {
    const m = await Machine.create();
    const p = m.spawn();
    const a = p.mmap(8 * MiB);
    p.touch(a, 8 * MiB, { write: true, stride: 2 * MiB });
    expect(p.status().VmPTE).toBe(4 * 6);
    p.munmap(a + 2 * MiB, 4 * MiB);
    expect(p.status().VmPTE).toBe(4 * 4);
    p.munmap(a, 8 * MiB);
    expect(p.status().VmPTE).toBe(0);
    expect(m.meminfo().PageTables).toBe(4); // only the PGD
    p.exit();
    expect(m.meminfo().PageTables).toBe(0);
    expect(m.meminfo().MemFree).toBe(m.meminfo().MemTotal);
    m.checkInvariants();
  });
});

describe('data mode', () => {
  it('keeps values across faults and VMA operations', async () => {
    const m = await Machine.create({ data: true });
    const p = m.spawn();
    const a = p.mmap(64 * 4096);
    p.touch(a, 64 * 4096, { write: true, gen: 3 });
    p.mprotect(a + 16 * 4096, 16 * 4096, 'r');
    p.munmap(a + 40 * 4096, 4096);
    expect(p.verify(a, 40 * 4096, 3).mismatches).toBe(0);
    expect(p.verify(a + 41 * 4096, 23 * 4096, 3, { base: a }).mismatches).toBe(0);
    expect(() => p.load(a + 40 * 4096)).toThrow(/SIGSEGV/);
    const v = p.verify(a, 4096, 4);
    expect(v.mismatches).toBe(1);
    expect(v.got).toBe(0x30);
    expect(v.expected).toBe(0x40);
  });
});
