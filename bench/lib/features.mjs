// Feature probes: a figure whose feature the product does not have yet is listed
// as pending (with the reason) instead of measured. Each probe drives the public
// API on a small machine and checks the kernel-visible result (RSS, vmstat) and
// the core's invariants, so a figure starts running by itself the day its
// feature lands, and a feature that silently falls back (e.g. THP faults that map
// 4 KiB pages) or corrupts state is not benchmarked as if it worked.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MiB = 2 ** 20, GiB = 2 ** 30;

/** Known TLB preset names to try, first match wins (HUGEMMU_BENCH_TLB overrides). */
export const TLB_PRESETS = ['golden-cove', 'skylake', 'zen2', 'zen3', 'cortex-a76'];

const ok = (extra = {}) => ({ ok: true, ...extra });
const no = (reason) => ({ ok: false, reason });

/** Turn a probe's exception into a reason ("not supported yet: fork"). */
function because(err) {
  if (err?.name === 'UnsupportedFeatureError') return err.message;
  if (err?.name === 'ConfigError') return err.message;
  return `${err?.name ?? 'Error'}: ${err?.message ?? String(err)}`;
}

/** The core's invariant check; a feature that breaks them is not benchmarked. */
function invariantsBroken(m, after) {
  try {
    m.checkInvariants();
    return null;
  } catch (err) {
    return `${after} breaks the core's invariants (${err.message})`;
  }
}

/** One-byte write at addr; returns the RSS it added in kB. */
function rssAfterWrite(p, addr) {
  const before = p.status().RssAnon;
  p.touch(addr, 1, { write: true });
  return p.status().RssAnon - before;
}

export const FEATURES = {
  benchExports: {
    what: 'benchmark exports of the core (assembly/bench.ts)',
    async probe(ctx) {
      const m = await ctx.hm.Machine.create({ ram: '1G' });
      return typeof m.core.e.bench_fill_pte_table === 'function'
        ? ok()
        : no('the core has no bench_fill_pte_table export (assembly/bench.ts not built into build/hugemmu.wasm)');
    },
  },

  tlbModel: {
    what: 'the TLB model (config.tlb presets)',
    async probe(ctx) {
      const names = process.env.HUGEMMU_BENCH_TLB ? [process.env.HUGEMMU_BENCH_TLB] : TLB_PRESETS;
      let first;
      for (const tlb of names) {
        try {
          const m = await ctx.hm.Machine.create({ ram: '1G', tlb });
          const p = m.spawn();
          const a = p.mmap(64 * 4096);
          p.touch(a, 64 * 4096, { write: true });
          return ok({ preset: tlb });
        } catch (err) {
          first ??= err;
        }
      }
      return no(`TLB model not available (tried ${names.join(', ')}: ${because(first)})`);
    },
  },

  fork: {
    what: 'fork() with copy-on-write',
    async probe(ctx) {
      try {
        const m = await ctx.hm.Machine.create({ ram: '1G' });
        const p = m.spawn();
        const a = p.mmap(16 * 4096);
        p.touch(a, 16 * 4096, { write: true });
        const c = p.fork();
        const s = c.status();
        c.exit();
        if (s.RssAnon !== 64) return no(`fork(): the child maps ${s.RssAnon} kB instead of 64 kB`);
        const broken = invariantsBroken(m, 'fork() and exit');
        return broken ? no(broken) : ok();
      } catch (err) {
        return no(because(err));
      }
    },
  },

  mthp64k: {
    what: '64 KiB mTHP anonymous faults',
    async probe(ctx) {
      try {
        const m = await ctx.hm.Machine.create({ ram: '1G', sysfs: { 'transparent_hugepage/hugepages-64kB/enabled': 'always' } });
        const p = m.spawn();
        const a = p.mmap(2 * MiB);
        const kb = rssAfterWrite(p, a);
        if (kb !== 64) return no(`mTHP faults not modelled yet: a write with hugepages-64kB/enabled=always mapped ${kb} kB, not 64 kB`);
        p.munmap(a, 2 * MiB);
        const broken = invariantsBroken(m, 'a 64 KiB mTHP fault and munmap');
        return broken ? no(broken) : ok();
      } catch (err) {
        return no(because(err));
      }
    },
  },

  thpPmd: {
    what: 'PMD-mapped (2 MiB) THP faults',
    async probe(ctx) {
      try {
        const m = await ctx.hm.Machine.create({ ram: '1G', sysfs: { 'transparent_hugepage/enabled': 'always' } });
        const p = m.spawn();
        const a = p.mmap(4 * MiB, { align: 2 * MiB });
        const kb = rssAfterWrite(p, a);
        if (kb !== 2048 || m.vmstat().thp_fault_alloc !== 1) return no(`PMD THP faults not modelled yet: a write with enabled=always mapped ${kb} kB, not 2048 kB`);
        p.munmap(a, 4 * MiB);
        const broken = invariantsBroken(m, 'a PMD THP fault and munmap');
        return broken ? no(broken) : ok();
      } catch (err) {
        return no(because(err));
      }
    },
  },

  thpPud: {
    what: 'PUD-mapped (1 GiB) anonymous THP faults',
    async probe(ctx) {
      return probePud(ctx, false);
    },
  },

  thpPudData: {
    what: '1 GiB THP faults in data mode (real zeroing)',
    async probe(ctx) {
      return probePud(ctx, true);
    },
  },

  pudSplit: {
    what: 'splitting a 1 GiB PUD mapping',
    async probe(ctx) {
      try {
        const { m, p, a, kb } = await pudMachine(ctx, false);
        if (kb !== 1024 * 1024) return no(`1 GiB THP faults not modelled yet (a write mapped ${kb} kB)`);
        p.mprotect(a + 4096, 4096, 'r');
        const split = m.vmstat().thp_split_pud;
        if (split !== 1) return no(`mprotect of 4 KiB inside a PUD THP did not split it (thp_split_pud=${split})`);
        p.munmap(a, GiB);
        const broken = invariantsBroken(m, 'a PUD split (mprotect of 4 KiB in a 1 GiB THP) and munmap');
        return broken ? no(broken) : ok();
      } catch (err) {
        return no(because(err));
      }
    },
  },

  conformance: {
    what: 'the conformance runner (node bin/hugemmu.js conformance test/conformance)',
    async probe() {
      const missing = ['bin/hugemmu.js', 'test/conformance'].filter((f) => !existsSync(`${ROOT}/${f}`));
      return missing.length ? no(`${missing.join(' and ')} not found`) : ok();
    },
  },
};

async function pudMachine(ctx, data) {
  const m = await ctx.hm.Machine.create({
    ram: '4G',
    data,
    sysfs: { 'transparent_hugepage/enabled': 'always', 'transparent_hugepage/hugepages-1048576kB/enabled': 'always' },
  });
  const p = m.spawn();
  const a = p.mmap(GiB, { align: GiB });
  const kb = rssAfterWrite(p, a);
  return { m, p, a, kb };
}

async function probePud(ctx, data) {
  try {
    const { m, p, a, kb } = await pudMachine(ctx, data);
    if (kb !== 1024 * 1024) return no(`1 GiB THP faults not modelled yet: a write with hugepages-1048576kB/enabled=always mapped ${kb} kB`);
    p.munmap(a, GiB);
    const broken = invariantsBroken(m, 'a 1 GiB THP fault and munmap');
    return broken ? no(broken) : ok();
  } catch (err) {
    return no(because(err));
  }
}

/** Probe a feature once per run. */
export async function feature(ctx, key) {
  const f = FEATURES[key];
  if (!f) throw new Error(`bench: unknown feature '${key}'`);
  return ctx.memo(`feature:${key}`, async () => {
    try {
      return await f.probe(ctx);
    } catch (err) {
      return no(because(err));
    }
  });
}
