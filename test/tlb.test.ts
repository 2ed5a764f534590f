import { describe, it, expect } from 'vitest';
import { Machine, MiB, GiB, TLB_PRESETS, tlbReach, modelledEntries, ConfigError, InvariantError, SignalError, type TlbGeometry } from '../src/index.js';

const KiB = 1024;

/** Counter deltas of `fn` summed over CPUs. */
function delta(m: Machine, fn: () => void): Record<string, number> {
  const a = m.tlbStats().total;
  fn();
  const b = m.tlbStats().total;
  return Object.fromEntries(Object.keys(b).map((k) => [k, b[k] - (a[k] ?? 0)]));
}

/** Steady state of a cyclic read over n pages of `page` bytes: the counters of the third pass. */
function cyclic(m: Machine, p: ReturnType<Machine['spawn']>, a: number, n: number, page: number): Record<string, number> {
  p.touch(a, n * page, { stride: page });
  p.touch(a, n * page, { stride: page });
  return delta(m, () => p.touch(a, n * page, { stride: page }));
}

describe('TLB presets: reach arithmetic (TLB-PRESETS.md §3.3)', () => {
  it('skylake: L1 DTLB 256 KiB / 64 MiB / 4 GiB, STLB 6 MiB / 3 GiB / 16 GiB', () => {
    const g = TLB_PRESETS.skylake;
    expect(tlbReach(g, 'l1d', '4K')).toBe(256 * KiB);
    expect(tlbReach(g, 'l1d', '2M')).toBe(64 * MiB);
    expect(tlbReach(g, 'l1d', '1G')).toBe(4 * GiB);
    expect(tlbReach(g, 'l2', '4K')).toBe(6 * MiB);
    expect(tlbReach(g, 'l2', '2M')).toBe(3 * GiB);
    expect(tlbReach(g, 'l2', '1G')).toBe(16 * GiB);
  });

  it('golden-cove: STLB 4 GiB of 2M pages, 2 TiB of 1G pages', () => {
    const g = TLB_PRESETS['golden-cove'];
    expect(tlbReach(g, 'l2', '2M')).toBe(4 * GiB);
    expect(tlbReach(g, 'l2', '1G')).toBe(2048 * GiB);
    expect(tlbReach(g, 'l1d', '4K')).toBe(96 * 4 * KiB);
    expect(tlbReach(g, 'l1d', '1G')).toBe(8 * GiB);
  });

  it('zen2 and neoverse-n1: what their sources give', () => {
    const z = TLB_PRESETS.zen2, n = TLB_PRESETS['neoverse-n1'];
    // zen2: 64 fully associative L1 entries of every size; 1G pages are not held by the L2
    expect(tlbReach(z, 'l1d', '4K')).toBe(64 * 4 * KiB);
    expect(tlbReach(z, 'l1d', '1G')).toBe(64 * GiB);
    expect(tlbReach(z, 'l2', '2M')).toBe(2048 * 2 * MiB);
    expect(tlbReach(z, 'l2', '1G')).toBe(0);
    expect(modelledEntries(z.l2[0])).toBe(2040); // skewed 12-way: 170 whole sets
    // N1 (Cortex-A76): 48-entry L1, 1280-entry 5-way L2 holding contpte 64K blocks
    expect(tlbReach(n, 'l1d', '64K')).toBe(48 * 64 * KiB);
    expect(tlbReach(n, 'l2', '4K')).toBe(1280 * 4 * KiB);
    expect(tlbReach(n, 'l2', '64K')).toBe(1280 * 64 * KiB);
  });
});

describe('TLB presets: reach in the model (a working set of the reach hits, one more page thrashes a set)', () => {
  const cases: [string, number, number, number][] = [
    // preset, L1D 4K entries, L1D 4K ways, L2 4K entries (modelled), L2 ways
    ['skylake', 64, 4, 1536],
    ['golden-cove', 96, 6, 2048],
    ['zen2', 64, 64, 2040],
    ['neoverse-n1', 48, 48, 1280],
  ].map(([n, e, w, l2]) => [n as string, e as number, w as number, l2 as number]);
  for (const [preset, l1, ways, l2] of cases) {
    it(`${preset}: L1 DTLB ${l1} x 4K, L2 ${l2} x 4K`, async () => {
      const g = TLB_PRESETS[preset];
      const l2ways = g.l2[0].ways;
      const m = await Machine.create({ ram: '1G', tlb: preset, sysfs: { 'transparent_hugepage/enabled': 'never' } });
      const p = m.spawn();
      const a = p.mmap((l2 + 1) * 4096, { align: 2 * MiB });
      p.touch(a, (l2 + 1) * 4096, { write: true });
      let d = cyclic(m, p, a, l1, 4096);
      expect(d.l1d_hit_4k).toBe(l1);
      expect(d.l1d_miss_4k).toBe(0);
      d = cyclic(m, p, a, l1 + 1, 4096);
      // one set (the whole array when fully associative) gets one page more than it has ways:
      // under LRU a cyclic walk over it misses every time
      const thrash = ways === l1 ? l1 + 1 : ways + 1;
      expect(d.l1d_miss_4k).toBe(thrash);
      expect(d.l1d_hit_4k).toBe(l1 + 1 - thrash);
      expect(d.walks).toBe(0);
      d = cyclic(m, p, a, l2, 4096);
      expect(d.l1d_hit_4k).toBe(0);
      expect(d.l2_hit_4k).toBe(l2);
      expect(d.walks).toBe(0);
      d = cyclic(m, p, a, l2 + 1, 4096);
      expect(d.walks).toBe(l2ways + 1);
      expect(d.walk_refs).toBe(l2ways + 1); // the PDE cache leaves one PTE read per walk
      expect(d.pwc_hit_pde).toBe(l2ways + 1);
      m.checkInvariants();
    });
  }

  it('skylake 2M and 1G pages: L1 32 x 2M and 4 x 1G, STLB 1536 x 2M and 16 x 1G', async () => {
    const m = await Machine.create({
      ram: '24G', tlb: 'skylake',
      sysfs: { 'transparent_hugepage/enabled': 'always', 'transparent_hugepage/hugepages-1048576kB/enabled': 'never' },
    });
    const p = m.spawn();
    const a = p.mmap(1537 * 2 * MiB, { align: GiB });
    p.touch(a, 1537 * 2 * MiB, { write: true, stride: 2 * MiB });
    expect(m.vmstat().thp_fault_alloc).toBe(1537);
    let d = cyclic(m, p, a, 32, 2 * MiB);
    expect([d.l1d_hit_2m, d.l1d_miss_2m]).toEqual([32, 0]);
    d = cyclic(m, p, a, 33, 2 * MiB);
    expect([d.l1d_hit_2m, d.l1d_miss_2m, d.walks]).toEqual([28, 5, 0]);
    d = cyclic(m, p, a, 1536, 2 * MiB);
    expect([d.l2_hit_2m, d.walks]).toEqual([1536, 0]);
    d = cyclic(m, p, a, 1537, 2 * MiB);
    expect(d.walks).toBe(7);
    p.munmap(a, 1537 * 2 * MiB);
    m.setSysfs('transparent_hugepage/hugepages-1048576kB/enabled', 'always');
    const b = p.mmap(17 * GiB, { align: GiB });
    p.touch(b, 17 * GiB, { write: true, stride: GiB });
    expect(m.vmstat().thp_split_pud).toBe(0);
    d = cyclic(m, p, b, 4, GiB);
    expect([d.l1d_hit_1g, d.l1d_miss_1g]).toEqual([4, 0]);
    d = cyclic(m, p, b, 5, GiB);
    expect([d.l1d_miss_1g, d.l2_hit_1g, d.walks]).toEqual([5, 5, 0]);
    d = cyclic(m, p, b, 16, GiB);
    expect([d.l2_hit_1g, d.walks]).toEqual([16, 0]);
    d = cyclic(m, p, b, 17, GiB);
    expect(d.walks).toBe(5); // 4 sets of 4 ways: the fifth 1G page of one set thrashes it
    m.checkInvariants();
  });

  it('zen2 smashes 1G pages into 2M L2 entries and reinstalls them as 1G in the L1', async () => {
    const m = await Machine.create({
      ram: '4G', tlb: 'zen2',
      sysfs: { 'transparent_hugepage/enabled': 'always', 'transparent_hugepage/hugepages-1048576kB/enabled': 'always' },
    });
    const p = m.spawn();
    const a = p.mmap(GiB, { align: GiB });
    const d = delta(m, () => p.touch(a, GiB, { write: true, stride: GiB }));
    expect(d.fractured_fills).toBe(1);
    // 65 distinct 2M slices of the 1G page: one L1 1G entry, L2 pieces for the slices looked up
    const e = delta(m, () => p.touch(a, GiB, { stride: 16 * MiB }));
    expect(e.l1d_hit_1g).toBe(64);
    expect(e.walks).toBe(0);
    m.checkInvariants();
  });
});

describe('TLB configuration', () => {
  it('rejects unknown presets and malformed geometries, naming the key', async () => {
    await expect(Machine.create({ tlb: 'ice-lake' as never })).rejects.toThrow(/unknown preset 'ice-lake'.*skylake/);
    const bad = { ...TLB_PRESETS.skylake, l1d: [{ pageSizes: ['3K'], entries: 64, ways: 4 }] } as unknown as TlbGeometry;
    await expect(Machine.create({ tlb: bad })).rejects.toThrow(/config\.tlb\.l1d\[0\]\.pageSizes: '3K'/);
    const ways = { ...TLB_PRESETS.skylake, l2: [{ pageSizes: ['4K'], entries: 16, ways: 32 }] } as TlbGeometry;
    await expect(Machine.create({ tlb: ways })).rejects.toThrow(/config\.tlb\.l2\[0\]\.ways/);
    await expect(Machine.create({ tlb: { ...TLB_PRESETS.skylake, coalesce: { kind: 'contpte' } } })).rejects.toThrow(/arm64/);
    await expect(Machine.create({ tlbCheck: 1 as never })).rejects.toThrow(ConfigError);
    const m = await Machine.create({ ram: '1G', cpus: 2 });
    expect(() => m.spawn({ cpu: 2 })).toThrow(/CPU 2 does not exist/);
    expect(() => m.spawn().thread({ cpu: -1 })).toThrow(ConfigError);
  });

  it('a custom geometry with AMD-style coalescing fills one entry per 8 aligned contiguous PTEs', async () => {
    const g: TlbGeometry = {
      arch: 'x86',
      l1d: [{ pageSizes: ['4K', '2M'], entries: 64, ways: 64 }],
      l1i: [{ pageSizes: ['4K'], entries: 64, ways: 64 }],
      l2: [{ pageSizes: ['4K', '32K', '2M'], entries: 512, ways: 8 }],
      coalesce: { kind: 'amd', factor: 8 },
    };
    const m = await Machine.create({ ram: '1G', tlb: g, sysfs: { 'transparent_hugepage/hugepages-32kB/enabled': 'always' } });
    expect(m.config.tlb).toBe('custom');
    const p = m.spawn();
    const a = p.mmap(MiB, { align: 2 * MiB });
    p.touch(a, MiB, { write: true });
    expect(m.mthp()['32kB'].anon_fault_alloc).toBe(32);
    const d = delta(m, () => p.touch(a, MiB));
    // the L1 has no 32K size: it holds 4K pieces; the L2 holds one coalesced entry per folio
    expect(d.l1d_miss_coal).toBe(256);
    expect(d.l2_hit_coal).toBe(256);
    expect(d.walks).toBe(0);
    m.checkInvariants();
  });
});

describe('context switches with PCID (arch/x86/mm/tlb.c: choose_new_asid)', () => {
  for (const n of [6, 7]) {
    it(`${n} processes taking turns on one CPU`, async () => {
      const m = await Machine.create({ ram: '1G', tlb: 'skylake' });
      const ps = Array.from({ length: n }, () => m.spawn());
      const as = ps.map((p, i) => p.mmap(4096, { addr: 0x7f0000000000 + i * 4096 }));
      ps.forEach((p, i) => p.touch(as[i], 4096, { write: true }));
      const d = delta(m, () => ps.forEach((p, i) => p.touch(as[i], 4096)));
      expect(d.context_switches).toBe(n);
      if (n === 6) {
        // six PCID slots: every mm keeps its translations across the switches
        expect(d.flush_on_switch).toBe(0);
        expect(d.l1d_hit_4k).toBe(6);
      } else {
        // a seventh mm recycles slots round-robin: each switch flushes the slot it takes
        expect(d.flush_on_switch).toBe(7);
        expect(d.walks).toBe(7);
      }
      m.checkInvariants();
    });
  }
});

describe('stale-entry check', () => {
  for (const tlb of ['off', 'skylake', 'neoverse-n1'] as const) {
    it(`finds a translation a missing flush left behind (tlb: ${tlb})`, async () => {
      const m = await Machine.create({ ram: '1G', tlb, tlbCheck: true });
      const p = m.spawn();
      const a = p.mmap(16 * 4096);
      p.touch(a, 16 * 4096, { write: true });
      m.checkInvariants();
      // a kernel bug: write-protect a PTE without flushing
      (m.core.e.debug_wrprotect_noflush as (pid: number, addr: number) => number)(p.pid, a + 4096);
      expect(() => m.checkInvariants()).toThrow(InvariantError);
      expect(() => m.checkInvariants()).toThrow(/stale TLB entry on CPU 0 at 0x[0-9a-f]+: cached frame \d+ writable, no-exec, page table: frame \d+ read-only, no-exec/);
    });
  }
});

describe("tlb: 'off' (functional translation cache)", () => {
  it('keeps copy-on-write exact without TLB statistics', async () => {
    const m = await Machine.create({ ram: '1G', data: true, cpus: 2 });
    const p = m.spawn();
    const t = p.thread({ cpu: 1 });
    const a = p.mmap(64 * 4096);
    p.touch(a, 64 * 4096, { write: true, gen: 1 });
    t.touch(a, 64 * 4096); // cached on CPU 1 too
    const c = p.fork();
    t.touch(a, 64 * 4096, { write: true, gen: 2 });
    expect(c.verify(a, 64 * 4096, 1).mismatches).toBe(0);
    expect(p.verify(a, 64 * 4096, 2).mismatches).toBe(0);
    const s = m.tlbStats();
    expect(s.model).toBe('off');
    expect(s.total.l1d_lookups).toBe(0);
    expect(s.total.walks).toBe(0);
    expect(s.total.loads).toBe(192);
    expect(s.total.stores).toBe(128);
    expect(s.cpus[1].ipi_received).toBeGreaterThan(0);
    m.checkInvariants();
  });
});

describe('instruction fetches and arm64 ASIDs', () => {
  it('fetches go through the instruction TLBs and fault on no-exec pages', async () => {
    const m = await Machine.create({ ram: '1G', tlb: 'skylake' });
    const p = m.spawn();
    const x = p.mmap(16 * 4096, { prot: 'rwx' });
    const d = p.mmap(16 * 4096);
    p.touch(x, 16 * 4096, { write: true });
    let s = delta(m, () => p.touch(x, 16 * 4096, { fetch: true }));
    expect([s.fetches, s.l1i_miss_4k, s.l2_hit_4k, s.walks]).toEqual([16, 16, 16, 0]);
    s = delta(m, () => p.touch(x, 16 * 4096, { fetch: true }));
    expect([s.l1i_hit_4k, s.l1d_lookups]).toEqual([16, 0]);
    p.touch(d, 4096, { write: true });
    expect(() => p.touch(d, 4096, { fetch: true })).toThrow(SignalError);
    m.checkInvariants();
  });

  it('neoverse-n1: 8-bit ASIDs roll over after 255 mms, flushing every TLB', async () => {
    const m = await Machine.create({ ram: '1G', tlb: 'neoverse-n1', cpus: 2 });
    const keep = m.spawn({ cpu: 1 });
    const ka = keep.mmap(4096);
    keep.touch(ka, 4096, { write: true });
    for (let i = 0; i < 260; i++) {
      const p = m.spawn();
      const a = p.mmap(4096);
      p.touch(a, 4096, { write: true });
      p.exit();
    }
    const t = m.tlbStats();
    expect(t.total.asid_rollovers).toBe(1);
    // a broadcast ASID flush for each exit (tlb_flush() of a fullmm gather that freed tables), one for the rollover
    expect(t.cpus[1].flush_full).toBe(260 + 1);
    // the process still running on CPU 1 kept a (new) ASID: its accesses go on
    const s = delta(m, () => keep.touch(ka, 4096));
    expect(s.walks).toBe(1);
    m.checkInvariants();
  });
});
