import { describe, it, expect } from 'vitest';
import { Machine, MiB } from '../src/index.js';

/**
 * Seed 002's race (KERNEL-SPEC §12 V2): thread A write-faults at the start of a 64K
 * range with mTHP; thread B, on another CPU, read-faults the range's last page (the
 * zero page) while A's 64K folio is allocated but its PTE lock not yet taken.
 */
async function race(variant: string, opts: { seed?: number; at?: 'any' | 'fault' | 'pte-lock' } = { at: 'pte-lock' }) {
  const m = await Machine.create({
    ram: '1G', tlb: 'skylake', cpus: 2, tlbCheck: true, variants: { 'mthp.onRace': variant },
    sysfs: { 'transparent_hugepage/hugepages-64kB/enabled': 'always', 'transparent_hugepage/hugepages-32kB/enabled': 'always' },
  });
  const p = m.spawn();
  const b = p.thread({ cpu: 1 });
  const a = p.mmap(2 * MiB, { align: 2 * MiB });
  const [ra, rb] = m.race([
    { op: 'store', pid: p.pid, addr: a, arg: 0x5a },
    { op: 'load', pid: b.pid, addr: a + 60 * 1024 },
  ], opts);
  const mthp = m.mthp();
  const out = {
    faultsA: ra.faults, faultsB: rb.faults, pgfault: m.vmstat().pgfault, rssKb: p.status().RssAnon,
    alloc64k: mthp['64kB'].anon_fault_alloc, alloc32k: mthp['32kB'].anon_fault_alloc,
    switches: m.tlbStats().total.race_switches,
  };
  m.checkInvariants();
  return out;
}

describe('threads racing at the kernel lock points (seed 002, V2 mthp.onRace)', () => {
  it('release-and-refault (6.18): A drops its 64K folio, returns, faults again and gets 32K', async () => {
    expect(await race('release-and-refault')).toEqual({ faultsA: 2, faultsB: 1, pgfault: 3, rssKb: 32, alloc64k: 0, alloc32k: 1, switches: 1 });
  });

  it('retry-lower-order (seed 002 v1): A retries a lower order in the same fault', async () => {
    expect(await race('retry-lower-order')).toEqual({ faultsA: 1, faultsB: 1, pgfault: 2, rssKb: 32, alloc64k: 0, alloc32k: 1, switches: 1 });
  });

  it('fallback-order0-now: A maps one 4K page in the same fault', async () => {
    expect(await race('fallback-order0-now')).toEqual({ faultsA: 1, faultsB: 1, pgfault: 2, rssKb: 4, alloc64k: 0, alloc32k: 0, switches: 1 });
  });

  it('without the race (B runs before A faults, or after), no variant matters', async () => {
    for (const v of ['release-and-refault', 'retry-lower-order', 'fallback-order0-now']) {
      // B first, at A's fault entry: A sees the zero page and takes 32K at once
      expect(await race(v, { at: 'fault' })).toMatchObject({ faultsA: 1, pgfault: 2, rssKb: 32, alloc64k: 0 });
    }
  });

  it('a seeded interleaving is reproducible, and different seeds reach every ordering', async () => {
    const seen = new Map<string, number[]>();
    for (let seed = 1; seed <= 16; seed++) {
      const r = await race('release-and-refault', { seed });
      expect(await race('release-and-refault', { seed })).toEqual(r);
      const key = `${r.faultsA}/${r.faultsB}/${r.rssKb}`;
      seen.set(key, [...(seen.get(key) ?? []), seed]);
    }
    // A alone (B hits A's 64K mapping: no fault), B at fault entry, B at the PTE lock
    expect([...seen.keys()].sort()).toEqual(['1/0/64', '1/1/32', '2/1/32']);
  });

  it('rejects a race of fewer than two accesses', async () => {
    const m = await Machine.create({ ram: '1G', cpus: 2 });
    const p = m.spawn();
    expect(() => m.race([{ op: 'load', pid: p.pid, addr: 0 }])).toThrow(/at least two/);
  });
});
