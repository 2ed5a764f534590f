// fork() figures: copying page tables (copy_page_range) in the core.
import { measure } from '../lib/harness.mjs';

const MiB = 2 ** 20, GiB = 2 ** 30;

async function forkTime(ctx, name, { ram, sysfs, len, stride, iterations }) {
  const m = await ctx.hm.Machine.create({ ram, sysfs });
  const p = m.spawn();
  const a = p.mmap(len, { align: 2 * MiB });
  p.touch(a, len, { write: true, stride });
  let child;
  const r = await measure(ctx, {
    name,
    ops: 1,
    time: ctx.quick ? 200 : 1500,
    iterations,
    warmupIterations: ctx.quick ? 2 : 5,
    fn() {
      child = p.fork();
    },
    afterEach() {
      child.exit();
    },
  });
  return { r, m, p, a };
}

/** fork_pte_copy: PTEs copied per second by fork() of 1 GiB of 4 KiB pages. */
export async function forkPteCopy(ctx) {
  const ptes = GiB / 4096;
  const { r } = await forkTime(ctx, 'fork_pte_copy', {
    ram: '4G',
    sysfs: { 'transparent_hugepage/enabled': 'never' },
    len: GiB,
    stride: 4096,
    iterations: ctx.quick ? 5 : 15,
  });
  return { value: ptes / (r.msPerCall / 1000), detail: { ptes, ms_per_fork: round(r.msPerCall, 3), median_ms_per_fork: round(r.medianMs, 3), samples: r.samples, rme_percent: round(r.rme) } };
}

/** fork_pmd_64g: ms for fork() of a process with 64 GiB of PMD-mapped THPs. */
export async function forkPmd64g(ctx) {
  const { r } = await forkTime(ctx, 'fork_pmd_64g', {
    ram: '72G',
    sysfs: { 'transparent_hugepage/enabled': 'always' },
    len: 64 * GiB,
    stride: 2 * MiB,
    iterations: ctx.quick ? 3 : 11,
  });
  return { value: r.msPerCall, detail: { pmds: (64 * GiB) / (2 * MiB), median_ms: round(r.medianMs, 3), samples: r.samples, rme_percent: round(r.rme) } };
}

function round(x, d = 2) {
  return Math.round(x * 10 ** d) / 10 ** d;
}
