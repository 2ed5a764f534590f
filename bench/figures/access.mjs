// Access figures: the access loop of the core (assembly/arch/x86/mmu.ts) on
// populated memory, no faults.
import { measure, warmUp } from '../lib/harness.mjs';
import { feature } from '../lib/features.mjs';

const MiB = 2 ** 20, GiB = 2 ** 30;

/**
 * access_walk: one read per 4 KiB page over 1 GiB of 4 KiB-mapped memory, so
 * every access walks the four levels (the 1 GiB span is far beyond any TLB's
 * 4 KiB reach). Same pattern and table layout as bench/native/walk.c.
 */
export async function accessWalk(ctx) {
  const m = await ctx.hm.Machine.create({ ram: '4G', tlb: 'off', sysfs: { 'transparent_hugepage/enabled': 'never' } });
  const p = m.spawn();
  const a = p.mmap(GiB, { align: GiB });
  p.touch(a, GiB, { write: true });
  const pages = GiB / 4096;
  warmUp((i) => p.touch(a + (i % 64) * 16 * MiB, 16 * MiB), 40);
  const r = await measure(ctx, {
    name: 'access_walk',
    ops: pages,
    fn() {
      const res = p.touch(a, GiB);
      if (res.faults !== 0) throw new Error(`access_walk: ${res.faults} unexpected faults`);
    },
  });
  return {
    value: r.perSecond,
    detail: { accesses_per_call: pages, ns_per_access: round((r.msPerCall * 1e6) / pages, 3), median_accesses_per_s: Math.round(r.medianPerSecond), samples: r.samples, rme_percent: round(r.rme) },
  };
}

/**
 * access_walk_model: the access_walk workload (one read per 4 KiB page over
 * 1 GiB of 4 KiB-mapped memory, THP off) with the TLB model on. The preset is
 * pinned to 'skylake' (not the tlbModel probe's pick) so that the native
 * baseline, bench/native/tlb_walk.c, models the same geometry: every access
 * misses the L1 DTLB (64 entries) and the STLB (1536), hits the PDE walk cache
 * (except once per 2 MiB, when the PDPTE one hits), reads one PTE and fills
 * both TLB levels. detail.tlb_stats_per_call shows walks == accesses.
 */
export async function accessWalkModel(ctx) {
  const f = await feature(ctx, 'tlbModel');
  if (!f.ok) throw Object.assign(new Error(f.reason), { name: 'UnsupportedFeatureError' });
  const tlb = 'skylake';
  const m = await ctx.hm.Machine.create({ ram: '4G', tlb, sysfs: { 'transparent_hugepage/enabled': 'never' } });
  const p = m.spawn();
  const a = p.mmap(GiB, { align: GiB });
  p.touch(a, GiB, { write: true });
  const pages = GiB / 4096;
  warmUp((i) => p.touch(a + (i % 64) * 16 * MiB, 16 * MiB), 40);
  const stats = typeof m.tlbStats === 'function' ? () => m.tlbStats().total : null;
  const r = await measure(ctx, {
    name: 'access_walk_model',
    ops: pages,
    fn() {
      const res = p.touch(a, GiB);
      if (res.faults !== 0) throw new Error(`access_walk_model: ${res.faults} unexpected faults`);
    },
  });
  const detail = { tlb, accesses_per_call: pages, ns_per_access: round((r.msPerCall * 1e6) / pages, 3), median_accesses_per_s: Math.round(r.medianPerSecond), samples: r.samples, rme_percent: round(r.rme) };
  if (stats) {
    // one more call, counted on its own: the counters of one pass over the GiB
    const before = stats();
    p.touch(a, GiB);
    const after = stats();
    const keys = ['loads', 'l1d_hits', 'l1d_misses', 'l2_hits', 'l2_misses', 'walks', 'walk_refs', 'pwc_hit_pde', 'pwc_hit_pdpte', 'pwc_hit_pml4e', 'walk_faults'];
    detail.tlb_stats_per_call = Object.fromEntries(keys.filter((k) => k in after).map((k) => [k, after[k] - (before[k] ?? 0)]));
    detail.tlb_stats = after;
    // the figure is the walk path only if every access walked
    if (detail.tlb_stats_per_call.walks !== pages) {
      throw new Error(`access_walk_model: ${detail.tlb_stats_per_call.walks} walks for ${pages} accesses (not the walk path)`);
    }
  }
  return { value: r.perSecond, detail };
}

/**
 * A working set that a 64-entry L1 DTLB covers (64 pages), read with a 64-byte
 * stride: 4096 accesses per command, 64 commands per call (262144 accesses).
 */
async function smallWorkingSet(ctx, name, tlb) {
  const m = await ctx.hm.Machine.create({ ram: '1G', tlb, sysfs: { 'transparent_hugepage/enabled': 'never' } });
  const p = m.spawn();
  const a = p.mmap(64 * 4096);
  p.touch(a, 64 * 4096, { write: true });
  const cmds = Array.from({ length: 64 }, () => ({ op: 'touch', pid: p.pid, addr: a, len: 64 * 4096, stride: 64 }));
  const ops = 64 * 4096;
  warmUp(() => m.exec(cmds.slice(0, 4)), 40);
  const r = await measure(ctx, {
    name,
    ops,
    fn() {
      const res = m.exec(cmds);
      if (res[63].signal !== 0 || res[63].faults !== 0) throw new Error(`${name}: unexpected signal or fault`);
    },
  });
  const detail = { tlb, accesses_per_call: ops, ns_per_access: round((r.msPerCall * 1e6) / ops, 3), median_accesses_per_s: Math.round(r.medianPerSecond), samples: r.samples, rme_percent: round(r.rme) };
  if (typeof m.tlbStats === 'function') detail.tlb_stats = m.tlbStats();
  return { value: r.perSecond, detail };
}

export async function accessTlbHit(ctx) {
  const f = await feature(ctx, 'tlbModel');
  if (!f.ok) throw Object.assign(new Error(f.reason), { name: 'UnsupportedFeatureError' }); // even with --force
  return smallWorkingSet(ctx, 'access_tlb_hit', f.preset);
}

export async function accessTlbOff(ctx) {
  return smallWorkingSet(ctx, 'access_tlb_off', 'off');
}

function round(x, d = 2) {
  return Math.round(x * 10 ** d) / 10 ** d;
}
