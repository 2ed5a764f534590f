// Fault figures: large batched range touches (one call into the core faults a
// whole chunk), metadata mode, on a 1 TiB machine.
import { measure, warmUp } from '../lib/harness.mjs';

const MiB = 2 ** 20, GiB = 2 ** 30;

/**
 * Time write faults over fresh chunks of a big mapping.
 * pageSize: bytes mapped per fault; chunk: bytes touched per timed call.
 * recycle: unmap each chunk after it was measured (outside the timed window)
 * when the machine would otherwise run out of emulated RAM.
 */
async function faultRate(ctx, name, { sysfs, pageSize, chunk, region, recycle, align }) {
  const m = await ctx.hm.Machine.create({ ram: '1T', sysfs });
  const p = m.spawn();
  let base = p.mmap(region, { align });
  let off = 0;
  const next = (len) => {
    if (off + len > region) {
      p.munmap(base, region);
      base = p.mmap(region, { align });
      off = 0;
    }
    const a = base + off;
    off += len;
    return a;
  };
  const expect = chunk / pageSize;
  // Tier-up: many short calls (a long call never switches tier mid-call).
  const small = Math.max(pageSize * 16, 4 * MiB);
  warmUp(() => {
    const a = next(small);
    p.touch(a, small, { write: true, stride: pageSize });
    if (recycle) p.munmap(a, small);
  }, 40);
  let cur = 0;
  const r = await measure(ctx, {
    name,
    ops: expect,
    beforeEach() {
      cur = next(chunk);
    },
    fn() {
      const res = p.touch(cur, chunk, { write: true, stride: pageSize });
      if (res.faults !== expect) throw new Error(`${name}: ${res.faults} faults for ${expect} pages (feature fell back?)`);
    },
    afterEach: recycle
      ? () => {
          p.munmap(cur, chunk);
        }
      : undefined,
  });
  return {
    value: r.perSecond,
    detail: {
      faults_per_call: expect,
      ns_per_fault: round((r.msPerCall * 1e6) / expect),
      median_faults_per_s: Math.round(r.medianPerSecond),
      samples: r.samples,
      rme_percent: round(r.rme),
      recycled_memory: Boolean(recycle),
    },
  };
}

export function fault4k(ctx) {
  return faultRate(ctx, 'fault_4k', {
    sysfs: { 'transparent_hugepage/enabled': 'never' },
    pageSize: 4096,
    chunk: 256 * MiB,
    region: 256 * GiB,
  });
}

export function faultMthp64k(ctx) {
  return faultRate(ctx, 'fault_mthp_64k', {
    sysfs: { 'transparent_hugepage/enabled': 'never', 'transparent_hugepage/hugepages-64kB/enabled': 'always' },
    pageSize: 64 * 1024,
    chunk: 1 * GiB,
    region: 256 * GiB,
    recycle: true,
  });
}

export function faultPmd(ctx) {
  return faultRate(ctx, 'fault_pmd', {
    sysfs: { 'transparent_hugepage/enabled': 'always' },
    pageSize: 2 * MiB,
    chunk: 8 * GiB,
    region: 256 * GiB,
    recycle: true,
    align: 2 * MiB,
  });
}

export function faultPud(ctx) {
  return faultRate(ctx, 'fault_pud', {
    sysfs: { 'transparent_hugepage/enabled': 'always', 'transparent_hugepage/hugepages-1048576kB/enabled': 'always' },
    pageSize: GiB,
    chunk: 64 * GiB,
    region: 512 * GiB,
    recycle: true,
    align: GiB,
  });
}

function round(x, d = 2) {
  return Math.round(x * 10 ** d) / 10 ** d;
}
