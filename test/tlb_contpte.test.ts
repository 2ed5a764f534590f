import { describe, it, expect } from 'vitest';
import { Machine, MiB } from '../src/index.js';

const BLK = 64 * 1024;

async function setup(opts: { cpus?: number } = {}) {
  const m = await Machine.create({
    ram: '1G', tlb: 'neoverse-n1', cpus: opts.cpus ?? 1, tlbCheck: true,
    sysfs: { 'transparent_hugepage/hugepages-64kB/enabled': 'always' },
  });
  const p = m.spawn();
  const a = p.mmap(MiB, { align: 2 * MiB });
  p.touch(a, MiB, { write: true });
  return { m, p, a };
}

function cont(m: Machine) {
  const t = m.tlbStats().total;
  return { set: t.contpte_set, fold: t.contpte_fold, unfold: t.contpte_unfold, tlbi: t.tlbi_broadcast };
}

function delta(m: Machine, fn: () => void) {
  const a = cont(m);
  fn();
  const b = cont(m);
  return { set: b.set - a.set, fold: b.fold - a.fold, unfold: b.unfold - a.unfold, tlbi: b.tlbi - a.tlbi };
}

describe('arm64 contpte on neoverse-n1 (arch/arm64/mm/contpte.c, KERNEL-SPEC §1.4)', () => {
  it('set_ptes() of a 64K mTHP writes a contiguous block that fills one 64K TLB entry', async () => {
    const { m, p, a } = await setup();
    expect(m.mthp()['64kB'].anon_fault_alloc).toBe(16);
    expect(cont(m)).toEqual({ set: 16, fold: 0, unfold: 0, tlbi: 0 });
    const before = m.tlbStats().total;
    p.touch(a, MiB, { stride: 1024 });
    const after = m.tlbStats().total;
    expect(after.l1d_hit_coal - before.l1d_hit_coal).toBe(1024);
    expect(after.walks - before.walks).toBe(0);
    expect(after.coalesced_fills).toBe(16);
    m.checkInvariants();
  });

  it('changing one PTE of a block unfolds it (16-page flush); only a set of its last entry folds it back', async () => {
    const { m, p, a } = await setup();
    // mprotect of page 5 of block 0: unfold (16 TLBIs) + the mprotect's own flush (1)
    expect(delta(m, () => p.mprotect(a + 5 * 4096, 4096, 'r'))).toEqual({ set: 0, fold: 0, unfold: 1, tlbi: 17 });
    // the block is uniform again, but page 5 is not its last entry: it stays unfolded
    expect(delta(m, () => p.mprotect(a + 5 * 4096, 4096, 'rw'))).toEqual({ set: 0, fold: 0, unfold: 0, tlbi: 1 });
    // page 15 of block 1: unfold, then restoring it is the set_pte() of the last entry: fold
    const last = a + BLK + 15 * 4096;
    expect(delta(m, () => p.mprotect(last, 4096, 'r'))).toEqual({ set: 0, fold: 0, unfold: 1, tlbi: 17 });
    expect(delta(m, () => p.mprotect(last, 4096, 'rw'))).toEqual({ set: 0, fold: 1, unfold: 0, tlbi: 17 });
    // a batch over whole blocks keeps them folded (the batched mprotect of 6.17+)
    expect(delta(m, () => p.mprotect(a + 2 * BLK, 2 * BLK, 'r'))).toEqual({ set: 0, fold: 0, unfold: 0, tlbi: 32 });
    // a batch over block 0, which is unfolded: contpte_set_ptes() paints it contiguous again
    expect(delta(m, () => p.mprotect(a, BLK, 'r'))).toEqual({ set: 1, fold: 0, unfold: 0, tlbi: 16 });
    m.checkInvariants();
  });

  it('zapping part of a block unfolds it; zapping whole blocks does not', async () => {
    const { m, p, a } = await setup();
    expect(delta(m, () => p.munmap(a + 3 * BLK + 4096, 4096))).toEqual({ set: 0, fold: 0, unfold: 1, tlbi: 17 });
    expect(delta(m, () => p.madvise(a + 8 * BLK, 4 * BLK, 'dontneed'))).toEqual({ set: 0, fold: 0, unfold: 0, tlbi: 64 });
    expect(delta(m, () => p.madvise(a + 12 * BLK + 8 * 4096, 8 * 4096, 'dontneed'))).toEqual({ set: 0, fold: 0, unfold: 1, tlbi: 24 });
    m.checkInvariants();
  });

  it('fork write-protects whole blocks without unfolding; a COW fault inside one unfolds it', async () => {
    const { m, p, a } = await setup({ cpus: 2 });
    const t = p.thread({ cpu: 1 });
    t.touch(a, MiB);
    let c: ReturnType<typeof p.fork> | undefined;
    expect(delta(m, () => { c = p.fork(); })).toEqual({ set: 0, fold: 0, unfold: 0, tlbi: 1 });
    // the child's copies are contiguous blocks too: its reads fill 64K entries
    const s0 = m.tlbStats().total;
    c!.touch(a, MiB);
    expect(m.tlbStats().total.l1d_miss_coal - s0.l1d_miss_coal).toBe(16);
    expect(delta(m, () => p.touch(a + 4 * BLK + 4096, 4096, { write: true }))).toEqual({ set: 0, fold: 0, unfold: 1, tlbi: 17 });
    c!.exit();
    m.checkInvariants();
  });

  it('x86 presets never mark PTEs contiguous', async () => {
    const m = await Machine.create({ ram: '1G', tlb: 'skylake', sysfs: { 'transparent_hugepage/hugepages-64kB/enabled': 'always' } });
    const p = m.spawn();
    const a = p.mmap(MiB, { align: 2 * MiB });
    p.touch(a, MiB, { write: true });
    p.mprotect(a + 4096, 4096, 'r');
    expect(cont(m)).toEqual({ set: 0, fold: 0, unfold: 0, tlbi: 0 });
    expect(m.tlbStats().total.l1d_hit_coal).toBe(0);
  });
});
