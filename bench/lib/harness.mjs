// Timing on tinybench, with the rules of /work/shared/spec/ASSEMBLYSCRIPT-NOTES.md:
//  - every task loops inside (one call into the core runs thousands to millions of
//    operations), so tinybench's ~50 ns timer granularity does not matter;
//  - the wasm is tiered up before measuring: V8 starts wasm in Liftoff and one long
//    call never switches tier mid-call, so warmUp() makes several short calls first,
//    then tinybench runs its own warm-up iterations;
//  - the figure is the fastest sample: on a shared, noisy 2-core machine other
//    processes only ever add time, so the best sample is the least disturbed one
//    (the native baselines report their best repetition too); the median is kept
//    for the record.
import { Bench } from 'tinybench';

/** Call fn `calls` times (short calls) so that V8 tiers the hot wasm functions up. */
export function warmUp(fn, calls = 30) {
  for (let i = 0; i < calls; i++) fn(i);
}

/**
 * Time fn with tinybench. fn does `ops` operations per call.
 * Returns { perSecond, msPerCall (fastest sample), medianPerSecond, medianMs, samples, rme (%) }.
 * beforeEach/afterEach run outside the timed window (e.g. unmap what a fault
 * benchmark populated).
 */
export async function measure(ctx, { name, fn, ops = 1, beforeEach, afterEach, time, iterations, warmupIterations, warmupTime }) {
  const bench = new Bench({
    name,
    time: time ?? (ctx.quick ? 250 : 1500),
    iterations: iterations ?? (ctx.quick ? 5 : 15),
    warmupTime: warmupTime ?? (ctx.quick ? 50 : 200),
    warmupIterations: warmupIterations ?? (ctx.quick ? 3 : 8),
    throws: true,
  });
  bench.add(name, fn, { beforeEach, afterEach });
  await bench.run();
  const task = bench.tasks[0];
  const r = task.result;
  if (!r || (r.state !== 'completed' && r.state !== 'aborted-with-statistics')) {
    throw r?.error ?? new Error(`${name}: tinybench did not complete (${r?.state})`);
  }
  const ms = r.latency.min;
  return {
    perSecond: ops / (ms / 1000),
    msPerCall: ms,
    medianPerSecond: ops / (r.latency.p50 / 1000),
    medianMs: r.latency.p50,
    samples: r.latency.samplesCount ?? task.runs,
    rme: r.latency.rme,
    maxMs: r.latency.max,
  };
}

/** Wall-clock time of fn in ms (for one-shot operations such as creating a machine). */
export async function timeOnce(fn) {
  const t0 = performance.now();
  const v = await fn();
  return { ms: performance.now() - t0, value: v };
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/** Release the wasm memories of machines that are no longer referenced (needs --expose-gc). */
export function collect() {
  if (typeof globalThis.gc === 'function') globalThis.gc();
}
