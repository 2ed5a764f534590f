// Baselines, measured in the same run as the figures they serve: native C
// (bench/native/) and the host kernel. Each returns its value in the unit of
// its figures, so that ratio = hugemmu speed / baseline speed.
import { runNative } from '../lib/native.mjs';

export class BaselineUnavailable extends Error {
  constructor(message) {
    super(message);
    this.name = 'BaselineUnavailable';
  }
}

const q = (ctx, quick, full) => (ctx.quick ? quick : full);

export const BASELINES = {
  host_fault_4k: {
    name: 'host kernel 4 KiB faults (mmap + touch)',
    unit: 'faults/s',
    run(ctx) {
      const r = runNative(ctx, 'host_kernel', ['fault4k', q(ctx, 256, 1024), q(ctx, 3, 5)]);
      if (r.faults !== r.pages) throw new BaselineUnavailable(`host fault count ${r.faults} != pages ${r.pages}`);
      return { value: r.faults_per_s, detail: r };
    },
  },

  host_thp_fault_2m: {
    name: 'host kernel 2 MiB THP faults (MADV_HUGEPAGE + touch)',
    unit: 'faults/s',
    run(ctx) {
      const r = runNative(ctx, 'host_kernel', ['thp2m', q(ctx, 512, 2048), q(ctx, 3, 5)]);
      if (/\[never\]/.test(r.thp_enabled)) throw new BaselineUnavailable(`THP is disabled on this host (enabled: ${r.thp_enabled})`);
      if (r.thp_fraction < 0.9) {
        throw new BaselineUnavailable(`the host backed only ${(100 * r.thp_fraction).toFixed(0)}% of the region with THPs (enabled: ${r.thp_enabled}; defrag: ${r.thp_defrag})`);
      }
      return { value: r.faults_per_s, detail: r };
    },
  },

  host_fork_4k_1g: {
    name: 'host kernel fork() with 1 GiB of 4 KiB pages',
    unit: 'PTEs/s',
    run(ctx) {
      const r = runNative(ctx, 'host_kernel', ['fork', 1024, q(ctx, 3, 7), '4k']);
      return { value: (1024 * 256) / (r.region_ms / 1000), detail: r };
    },
  },

  host_fork_thp_64g: {
    name: 'host kernel fork() with 64 GiB of THPs (extrapolated)',
    unit: 'ms',
    run(ctx) {
      const mib = q(ctx, 1024, 4096);
      const r = runNative(ctx, 'host_kernel', ['fork', mib, q(ctx, 3, 7), 'thp']);
      if (r.thp_fraction < 0.9) throw new BaselineUnavailable(`the host backed only ${(100 * r.thp_fraction).toFixed(0)}% of the region with THPs`);
      const ms = r.empty_ms + 64 * r.ms_per_gib;
      return { value: ms, name: `host kernel fork() with 64 GiB of THPs (extrapolated from ${mib / 1024} GiB)`, detail: r };
    },
  },

  native_walk: {
    name: 'native C 4-level walk (same table layout)',
    unit: 'accesses/s',
    run(ctx) {
      const r = runNative(ctx, 'walk', [262144, q(ctx, 7, 21)]);
      return { value: r.accesses_per_s, detail: r };
    },
  },

  native_tlb_walk: {
    name: 'native C TLB model walk path (skylake: L1 + STLB miss, PDE walk-cache hit, fills)',
    unit: 'accesses/s',
    run(ctx) {
      const r = runNative(ctx, 'tlb_walk', [262144, q(ctx, 7, 21)]);
      if (!r.counters_ok) throw new BaselineUnavailable(`tlb_walk counters off: ${JSON.stringify(r.per_pass)}`);
      return { value: r.accesses_per_s, detail: r };
    },
  },

  native_pte_fill: {
    name: 'native C 512-entry table fill',
    unit: 'tables/s',
    run(ctx) {
      const r = runNative(ctx, 'pte_fill', [q(ctx, 50000, 200000), q(ctx, 7, 21)]);
      return { value: r.tables_per_s, detail: r };
    },
  },

  native_memset_1g: {
    name: 'native memset() of 1 GiB (touched memory)',
    unit: 'ms',
    run(ctx) {
      const r = runNative(ctx, 'memset_1g', [1024, q(ctx, 3, 9)]);
      return { value: r.ms_per_gib, detail: r };
    },
  },

  native_tlb_lookup: {
    name: 'native C set-associative TLB lookup (64 entries, 4-way)',
    unit: 'accesses/s',
    run(ctx) {
      const r = runNative(ctx, 'tlb_lookup', [64, 4, q(ctx, 5e6, 2e7), q(ctx, 5, 11)]);
      return { value: r.lookups_per_s, detail: r };
    },
  },

  native_split_pud: {
    name: 'native C PUD-split write pattern (512 tables + PMD + PUD)',
    unit: 'µs',
    run(ctx) {
      const r = runNative(ctx, 'split_pud', [q(ctx, 15, 61)]);
      return { value: r.us_per_split, detail: r };
    },
  },
};

/** Measure a baseline once per run; returns { key, name, value, unit, detail } or { key, error }. */
export async function baseline(ctx, key) {
  const b = BASELINES[key];
  if (!b) throw new Error(`bench: unknown baseline '${key}'`);
  return ctx.memo(`baseline:${key}`, async () => {
    ctx.log(`  baseline ${key} ...`);
    try {
      const r = await b.run(ctx);
      return { key, name: r.name ?? b.name, value: r.value, unit: b.unit, detail: r.detail };
    } catch (err) {
      return { key, name: b.name, unit: b.unit, error: err.message };
    }
  });
}
