// Seed 002's mTHP order-selection designs (KERNEL-SPEC §2.4, §12 V1) on the same
// workloads: how many faults, which folio sizes, how much memory, and what an
// allocation failure does.
//
//   iterate-enabled-orders  6.18 alloc_anon_folio(): the highest enabled order that
//                           fits the VMA and covers only pte_none entries, then every
//                           lower enabled order on allocation failure
//   preferred-plus-order0   Yu Zhao's proposal Ryan adopted in the seed's thread
//                           ("only try the preferred order and order-0")
//   calc-order-arch-max     the seed's v1 calc_anon_folio_order_alloc(), capped by
//                           max_anon_folio_order() (mthp.maxAnonFolioOrder, default
//                           4 = arm64's 64K for 4K pages)
//
// Without allocation failures the first two pick the same folio on every fault;
// they differ only in what a failure costs (sections 4 and 5).
import { describe, it, expect } from 'vitest';
import { Machine, KiB, MiB } from '../src/index.js';

const ARENA = 0x600000000000; // 1 GiB aligned, so every mTHP size is aligned at its start
const fixed = { flags: 'private|anonymous|fixed_noreplace' };
const ITER = 'iterate-enabled-orders', PREF = 'preferred-plus-order0', CALC = 'calc-order-arch-max';
const ALL = ['16kB', '32kB', '64kB', '128kB', '256kB', '512kB', '1024kB'];

async function machine(variant: string, sizes: string[], maxOrder?: number) {
  const sysfs: Record<string, string> = {};
  for (const s of sizes) sysfs[`transparent_hugepage/hugepages-${s}/enabled`] = 'always';
  const variants: Record<string, string | number> = { 'mthp.orderSelection': variant };
  if (maxOrder !== undefined) variants['mthp.maxAnonFolioOrder'] = maxOrder;
  // enabled=madvise (the default) and no MADV_HUGEPAGE: the PMD order stays out
  return Machine.create({ ram: '1G', sysfs, variants });
}

/** faults, folios allocated per size ('4kB' = order 0), fallbacks per size, memory */
function outcome(m: Machine, p: ReturnType<Machine['spawn']>) {
  const folios: Record<string, number> = {};
  const fallback: Record<string, number> = {};
  let largeKb = 0;
  for (const [size, st] of Object.entries(m.mthp())) {
    if (st.anon_fault_alloc) folios[size] = st.anon_fault_alloc;
    if (st.anon_fault_fallback) fallback[size] = st.anon_fault_fallback;
    largeKb += (st.nr_anon ?? 0) * parseInt(size); // 8kB (shmem only) has no nr_anon
  }
  const st = p.status();
  const order0 = (st.RssAnon - largeKb) / 4;
  if (order0) folios['4kB'] = order0;
  m.checkInvariants();
  return { faults: m.vmstat().pgfault, folios, fallback, rssKb: st.RssAnon, anonHugeKb: m.meminfo().AnonHugePages };
}

describe('V1 on an odd-sized VMA (1216 KiB, sequential 4 KiB writes, 16K..1M enabled)', () => {
  // 1216K = 1M + 128K + 64K. The fault at 0 takes the largest aligned size inside the
  // VMA; the fault at 1M finds 1M, 512K and 256K past vm_end (thp_vma_suitable_orders)
  // and takes 128K; the fault at 1152K takes the last 64K.
  const work = async (variant: string, maxOrder?: number) => {
    const m = await machine(variant, ALL, maxOrder);
    const p = m.spawn();
    const a = p.mmap(1216 * KiB, { addr: ARENA, ...fixed });
    p.touch(a, 1216 * KiB, { write: true });
    return outcome(m, p);
  };

  it('iterate-enabled-orders: 3 faults (1M + 128K + 64K)', async () => {
    expect(await work(ITER)).toEqual({
      faults: 3, folios: { '1024kB': 1, '128kB': 1, '64kB': 1 }, fallback: {}, rssKb: 1216, anonHugeKb: 0,
    });
  });

  it('preferred-plus-order0: the same folios, since no allocation fails', async () => {
    expect(await work(PREF)).toEqual(await work(ITER));
  });

  it('calc-order-arch-max: capped at order 4, so 1216K / 64K = 19 faults for the same memory', async () => {
    expect(await work(CALC)).toEqual({ faults: 19, folios: { '64kB': 19 }, fallback: {}, rssKb: 1216, anonHugeKb: 0 });
  });

  it('calc-order-arch-max with maxAnonFolioOrder 6: 4 x 256K, then 128K + 64K at the tail', async () => {
    expect(await work(CALC, 6)).toEqual({
      faults: 6, folios: { '256kB': 4, '128kB': 1, '64kB': 1 }, fallback: {}, rssKb: 1216, anonHugeKb: 0,
    });
  });
});

describe('V1 on sparse writes (one byte every 256 KiB of a 2 MiB VMA)', () => {
  // The fault picks the folio size before it knows how much of it will be used: a 1M
  // folio serves 4 of the 8 writes, a 64K folio one.
  const work = async (variant: string) => {
    const m = await machine(variant, ALL);
    const p = m.spawn();
    const a = p.mmap(2 * MiB, { addr: ARENA, ...fixed });
    p.touch(a, 2 * MiB, { write: true, stride: 256 * KiB });
    return outcome(m, p);
  };

  it('iterate-enabled-orders and preferred-plus-order0: 2 faults, 2 MiB resident for 8 bytes', async () => {
    const want = { faults: 2, folios: { '1024kB': 2 }, fallback: {}, rssKb: 2048, anonHugeKb: 0 };
    expect(await work(ITER)).toEqual(want);
    expect(await work(PREF)).toEqual(want);
  });

  it('calc-order-arch-max: 8 faults, 512 KiB resident (a quarter of the memory)', async () => {
    expect(await work(CALC)).toEqual({ faults: 8, folios: { '64kB': 8 }, fallback: {}, rssKb: 512, anonHugeKb: 0 });
  });
});

describe('V1 on a partially populated range (a read of page 10 first, then 32 sequential writes)', () => {
  // The read maps the shared zero page at page 10, a non-none PTE that every range
  // covering it must avoid (pte_range_none; v1: check_ptes_none and first_set):
  //   page 0:  128K and 64K cover page 10, 32K [0,8) is free     -> 32K folio
  //   page 8:  32K [8,16) and 16K [8,12) cover page 10            -> order 0
  //   page 9:  likewise                                            -> order 0
  //   page 10: a write to the zero page: do_wp_page copies it      -> order 0
  //   page 11: 16K [8,12) is not none                              -> order 0
  //   page 12: 16K [12,16) is free, 32K [8,16) is not              -> 16K folio
  //   page 16: 64K [16,32) is free, 128K [0,32) is not             -> 64K folio
  // 1 read + 7 write faults; every page ends up private (128 KiB).
  const work = async (variant: string, maxOrder?: number) => {
    const m = await machine(variant, ['16kB', '32kB', '64kB', '128kB'], maxOrder);
    const p = m.spawn();
    const a = p.mmap(128 * KiB, { addr: ARENA, ...fixed });
    p.touch(a + 10 * 4 * KiB, 4 * KiB);
    p.touch(a, 128 * KiB, { write: true });
    return outcome(m, p);
  };
  const want = { faults: 8, folios: { '32kB': 1, '16kB': 1, '64kB': 1, '4kB': 4 }, fallback: {}, rssKb: 128, anonHugeKb: 0 };

  it('iterate-enabled-orders: 8 faults, folios of 32K, 16K, 64K and four 4K pages', async () => {
    expect(await work(ITER)).toEqual(want);
  });

  it('preferred-plus-order0: identical (the preferred order is always allocatable here)', async () => {
    expect(await work(PREF)).toEqual(want);
  });

  it('calc-order-arch-max: identical at the default cap (64K); with cap 3 the last 64K takes two 32K faults', async () => {
    expect(await work(CALC)).toEqual(want);
    expect(await work(CALC, 3)).toEqual({ faults: 9, folios: { '32kB': 3, '16kB': 1, '4kB': 4 }, fallback: {}, rssKb: 128, anonHugeKb: 0 });
  });
});

describe('V1 when the preferred order cannot be allocated once (64 KiB VMA, 16K/32K/64K enabled)', () => {
  // One injected failure of an order-4 allocation, i.e. of the first fault's 64K folio.
  const work = async (variant: string) => {
    const m = await machine(variant, ['16kB', '32kB', '64kB']);
    const p = m.spawn();
    const a = p.mmap(64 * KiB, { addr: ARENA, ...fixed });
    m.injectAllocFailures(1, 4, { maxOrder: 4 });
    p.touch(a, 64 * KiB, { write: true });
    return outcome(m, p);
  };

  it('iterate-enabled-orders: falls to 32K in the same fault; the second fault takes the other 32K', async () => {
    expect(await work(ITER)).toEqual({ faults: 2, folios: { '32kB': 2 }, fallback: { '64kB': 1 }, rssKb: 64, anonHugeKb: 0 });
  });

  it('preferred-plus-order0: falls to order 0; the 4K page then blocks every size around it', async () => {
    // page 0 -> 4K; pages 1-3: every range covering them holds page 0 -> 4K each;
    // page 4: 16K [4,8) -> 16K; page 8: 32K [8,16) -> 32K. Six faults instead of two.
    expect(await work(PREF)).toEqual({
      faults: 6, folios: { '4kB': 4, '16kB': 1, '32kB': 1 }, fallback: { '64kB': 1 }, rssKb: 64, anonHugeKb: 0,
    });
  });

  it('calc-order-arch-max: like 6.18 (v1 also walked down the orders on failure)', async () => {
    expect(await work(CALC)).toEqual(await work(ITER));
  });
});

describe('V1 when no large folio can be allocated (every order 2..8 fails, 64 KiB VMA)', () => {
  // Sixteen order-0 faults for all designs; what differs is how many allocations each
  // fault tries first (each a compaction/reclaim attempt in the kernel). After page 0
  // the highest all-none order at page i is the number of trailing zero bits of i:
  // pages 4 and 12 can try 16K, page 8 32K and 16K.
  const work = async (variant: string, maxOrder?: number) => {
    const m = await machine(variant, ['16kB', '32kB', '64kB'], maxOrder);
    const p = m.spawn();
    const a = p.mmap(64 * KiB, { addr: ARENA, ...fixed });
    m.injectAllocFailures(1_000_000, 2, { maxOrder: 8 });
    p.touch(a, 64 * KiB, { write: true });
    return outcome(m, p);
  };

  it('iterate-enabled-orders: 7 failed attempts (64K, 32K x2, 16K x4)', async () => {
    expect(await work(ITER)).toEqual({
      faults: 16, folios: { '4kB': 16 }, fallback: { '64kB': 1, '32kB': 2, '16kB': 4 }, rssKb: 64, anonHugeKb: 0,
    });
  });

  it('preferred-plus-order0: one attempt per fault that has a preferred order, 4 in all', async () => {
    expect(await work(PREF)).toEqual({
      faults: 16, folios: { '4kB': 16 }, fallback: { '64kB': 1, '32kB': 1, '16kB': 2 }, rssKb: 64, anonHugeKb: 0,
    });
  });

  it('calc-order-arch-max: as 6.18 up to its cap; cap 3 never tries 64K', async () => {
    expect(await work(CALC)).toEqual(await work(ITER));
    expect((await work(CALC, 3)).fallback).toEqual({ '32kB': 2, '16kB': 4 });
  });
});

describe('V1 calc-order-arch-max against the seed (v1 had no per-size sysfs knobs)', () => {
  // Seed 002 v1: calc_anon_folio_order_alloc() walks every order from
  // min(max_anon_folio_order(), PMD_ORDER) down to 2, and try_vma_alloc_movable_folio()
  // retries every order down to 2 on failure; CONFIG_LARGE_ANON_FOLIO alone enables it,
  // so the per-size sysfs knobs play no part.
  it('with only 16K and 64K enabled, a blocked 64K range takes 32K as v1 would', async () => {
    const m = await machine(CALC, ['16kB', '64kB']);
    const p = m.spawn();
    const a = p.mmap(64 * KiB, { addr: ARENA, ...fixed });
    p.touch(a + 10 * 4 * KiB, 4 * KiB); // zero page at page 10 blocks 64K [0,16)
    p.touch(a, 4 * KiB, { write: true });
    expect(m.mthp()['32kB'].anon_fault_alloc).toBe(1);
  });

  it('with no mTHP size enabled, v1 still allocates 64K folios', async () => {
    const m = await machine(CALC, []);
    const p = m.spawn();
    const a = p.mmap(128 * KiB, { addr: ARENA, ...fixed });
    p.touch(a, 128 * KiB, { write: true });
    expect(m.vmstat().pgfault).toBe(2); // 6.18 with no size enabled: 32 order-0 faults
  });
});

