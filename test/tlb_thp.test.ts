import { describe, it, expect } from 'vitest';
import { Machine, MiB, GiB, TLB_PRESETS } from '../src/index.js';

/**
 * The 1 GiB THP cover letter's experiment (RFC-PUD; TLB-PRESETS.md §3.4): a uniformly
 * random pointer chase over 4 GiB on a Skylake-class TLB. The analytic walk fraction
 * of a uniformly random stream over P pages into LRU sets: a set of `ways` ways that
 * P / sets pages map to keeps the last `ways` of them, so a lookup hits with
 * probability ways / (P / sets); a walk needs a miss in the L1 and in the L2.
 */
function missRate(entries: number, ways: number, pages: number): number {
  const sets = entries / ways;
  return Math.max(0, 1 - ways / (pages / sets));
}

async function chase(page: '4K' | '2M' | '1G') {
  const sysfs: Record<string, string> = {
    'transparent_hugepage/enabled': page === '4K' ? 'never' : 'always',
    'transparent_hugepage/hugepages-1048576kB/enabled': page === '1G' ? 'always' : 'never',
  };
  const m = await Machine.create({ ram: '8G', tlb: 'skylake', sysfs });
  const p = m.spawn();
  const a = p.mmap(4 * GiB, { align: GiB });
  const size = page === '1G' ? GiB : page === '2M' ? 2 * MiB : 4096;
  p.touch(a, 4 * GiB, { write: true, stride: size }); // data=false: 4 GiB costs a few MiB of host memory
  p.random(a, 4 * GiB, 200_000, { seed: 1 }); // warm up
  const s0 = m.tlbStats().total;
  const n = 400_000;
  p.random(a, 4 * GiB, n, { seed: 2 });
  const s1 = m.tlbStats().total;
  m.checkInvariants();
  return { m, walkFraction: (s1.walks - s0.walks) / n, l1Hits: (s1.l1d_hits - s0.l1d_hits) / n };
}

describe('4 GiB random pointer chase on skylake (1 GiB THP cover letter)', () => {
  const g = TLB_PRESETS.skylake;
  it('2 MiB pages: about a quarter of the accesses walk (2048 pages, 1536 STLB entries)', async () => {
    const { m, walkFraction } = await chase('2M');
    expect(m.vmstat().thp_fault_alloc).toBe(2048);
    const l1 = g.l1d.find((x) => x.pageSizes.includes('2M'))!, l2 = g.l2.find((x) => x.pageSizes.includes('2M'))!;
    const analytic = missRate(l1.entries, l1.ways, 2048) * missRate(l2.entries, l2.ways, 2048);
    expect(analytic).toBeCloseTo(0.246, 3);
    expect(Math.abs(walkFraction - analytic)).toBeLessThan(0.02);
    expect(Math.abs(walkFraction - 0.25)).toBeLessThan(0.02);
  });

  it('1 GiB pages: the four pages fit the 4-entry L1 1G DTLB, almost nothing walks', async () => {
    const { m, walkFraction, l1Hits } = await chase('1G');
    expect(m.mthp()['1048576kB'].anon_fault_alloc).toBe(4);
    expect(missRate(4, 4, 4)).toBe(0);
    expect(walkFraction).toBeLessThan(0.02);
    expect(l1Hits).toBeGreaterThan(0.98);
  });

  it('4 KiB pages: almost every access walks', async () => {
    const { walkFraction } = await chase('4K');
    const pages = 4 * GiB / 4096;
    const analytic = missRate(64, 4, pages) * missRate(1536, 6, pages);
    expect(analytic).toBeGreaterThan(0.998);
    expect(Math.abs(walkFraction - analytic)).toBeLessThan(0.02);
  });
});
