// The buddy allocator under mixed-order churn: mTHP folios of every size, order-0
// pages and page tables allocated and freed in a seeded random order, so that
// sub-pageblock free lists keep filling and emptying. The invariant checker
// recounts the free pages and checks the per-migratetype "non-empty order"
// mask of __rmqueue_smallest against the free lists after every step.
import { describe, it, expect } from 'vitest';
import { Machine, KiB, MiB } from '../src/index.js';

const SIZES = ['16kB', '32kB', '64kB', '128kB', '256kB', '512kB', '1024kB'];

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

async function churn(seed: number) {
  const sysfs: Record<string, string> = {};
  for (const s of SIZES) sysfs[`transparent_hugepage/hugepages-${s}/enabled`] = 'always';
  const m = await Machine.create({ ram: '256M', sysfs });
  const free0 = m.freePages();
  const p = m.spawn();
  const r = rng(seed);
  const live: { a: number; len: number }[] = [];
  for (let step = 0; step < 60; step++) {
    if (live.length < 6 || r() < 0.55) {
      const len = (1 + Math.floor(r() * 64)) * 64 * KiB;
      const a = p.mmap(len);
      // strides from 4K (order-0 after the first large folio) to 1M (one fault per folio)
      const stride = 4 * KiB << Math.floor(r() * 9);
      p.touch(a, len, { write: true, stride });
      live.push({ a, len });
    } else {
      const i = Math.floor(r() * live.length);
      const { a, len } = live[i];
      // unmap a random 4 KiB-aligned piece: splits and frees of every order
      const off = Math.floor(r() * (len / 4096)) * 4096;
      const n = Math.min(len - off, (1 + Math.floor(r() * 32)) * 4096);
      p.munmap(a + off, n);
      live.splice(i, 1);
      if (off > 0) live.push({ a, len: off });
      if (off + n < len) live.push({ a: a + off + n, len: len - off - n });
    }
    m.checkInvariants();
  }
  const counts = m.mthp();
  p.exit();
  m.checkInvariants();
  return { m, free0, counts, freeAfter: m.freePages() };
}

describe('buddy allocator: mixed orders', () => {
  it('keeps its free lists, counts and order mask consistent through random churn', async () => {
    for (const seed of [1, 2, 3]) {
      const { free0, counts, freeAfter } = await churn(seed);
      // several mTHP sizes were allocated, and everything came back at exit
      const sizes = Object.entries(counts).filter(([, st]) => (st.anon_fault_alloc ?? 0) > 0);
      expect(sizes.length).toBeGreaterThan(2);
      expect(freeAfter).toBe(free0);
    }
  });

  it('is deterministic: the same churn gives the same counters', async () => {
    const a = await churn(7);
    const b = await churn(7);
    expect(b.counts).toEqual(a.counts);
    expect(b.m.vmstat()).toEqual(a.m.vmstat());
  });

  it('finds the free blocks of a fragmented pageblock for every mTHP size', async () => {
    const sysfs: Record<string, string> = { 'transparent_hugepage/enabled': 'never' };
    for (const s of SIZES) sysfs[`transparent_hugepage/hugepages-${s}/enabled`] = 'always';
    const m = await Machine.create({ ram: '64M', sysfs });
    const p = m.spawn();
    // 16 MiB of 1M folios, then free every other 16K of them: orders 2 free in many pageblocks
    const a = p.mmap(16 * MiB, { align: 2 * MiB });
    p.touch(a, 16 * MiB, { write: true, stride: MiB });
    for (let off = 0; off < 16 * MiB; off += 32 * KiB) p.munmap(a + off, 16 * KiB);
    m.checkInvariants();
    // a 16K-only VMA now takes its folios: faults succeed at 16K, nothing falls back
    m.setSysfs('transparent_hugepage/hugepages-16kB/enabled', 'always');
    for (const s of SIZES.slice(1)) m.setSysfs(`transparent_hugepage/hugepages-${s}/enabled`, 'never');
    const before = m.mthp()['16kB'].anon_fault_alloc;
    const b = p.mmap(4 * MiB);
    p.touch(b, 4 * MiB, { write: true, stride: 16 * KiB });
    expect(m.mthp()['16kB'].anon_fault_alloc - before).toBe(256);
    expect(m.mthp()['16kB'].anon_fault_fallback ?? 0).toBe(0);
    m.checkInvariants();
  });
});
