// Scale figures: creating a 1 TiB machine, and host memory per 4 KiB-mapped page.
import { collect, median, timeOnce } from '../lib/harness.mjs';

const MiB = 2 ** 20, GiB = 2 ** 30;

/** machine_1t_create_ms and machine_1t_host_mib come from the same creations. */
export function machine1t(ctx) {
  return ctx.memo('machine1t', async () => {
    const { Machine } = ctx.hm;
    // The first creation in the process also compiles the module (cold).
    const cold = await timeOnce(() => Machine.create({ ram: '1T' }));
    const mem = cold.value.hostMemory();
    const times = [];
    for (let i = 0; i < (ctx.quick ? 3 : 7); i++) {
      collect();
      times.push((await timeOnce(() => Machine.create({ ram: '1T' }))).ms);
    }
    collect();
    return { coldMs: cold.ms, ms: Math.min(...times), medianMs: median(times), runs: times.length, wasmBytes: mem.wasmBytes, heapBytes: mem.heapBytes };
  });
}

export async function createMs(ctx) {
  const r = await machine1t(ctx);
  return { value: r.ms, detail: { best_of: r.runs, median_ms: round(r.medianMs), first_creation_ms_with_compile: round(r.coldMs) } };
}

export async function hostMib(ctx) {
  const r = await machine1t(ctx);
  return { value: r.wasmBytes / MiB, detail: { wasm_bytes: r.wasmBytes, heap_bytes: r.heapBytes } };
}

/** Heap bytes per page after touching 64 GiB (quick: 16 GiB) with 4 KiB pages in metadata mode. */
export async function bytesPer4kPage(ctx) {
  const gib = ctx.quick ? 16 : 64;
  const m = await ctx.hm.Machine.create({ ram: `${gib + 32}G`, sysfs: { 'transparent_hugepage/enabled': 'never' } });
  const p = m.spawn();
  const a = p.mmap(gib * GiB);
  const before = m.hostMemory();
  const t0 = performance.now();
  let faults = 0;
  for (let i = 0; i < gib; i++) faults += p.touch(a + i * GiB, GiB, { write: true }).faults;
  const ms = performance.now() - t0;
  const after = m.hostMemory();
  const pages = (gib * GiB) / 4096;
  if (faults !== pages) throw new Error(`host_bytes_per_4k_page: ${faults} faults for ${pages} pages`);
  const st = p.status();
  return {
    value: (after.heapBytes - before.heapBytes) / pages,
    detail: {
      touched_gib: gib,
      pages,
      heap_bytes_total_per_page: round(after.heapBytes / pages, 3),
      wasm_bytes_per_page: round(after.wasmBytes / pages, 3),
      wasm_mib: round(after.wasmBytes / MiB, 1),
      page_table_bytes_per_page: round((st.VmPTE * 1024) / pages, 3),
      faults_per_s_at_scale: Math.round(faults / (ms / 1000)),
    },
  };
}

function round(x, d = 2) {
  return Math.round(x * 10 ** d) / 10 ** d;
}
