// Native C baselines: bench/native/*.c built with the system compiler into
// bench/native/bin/ (git-ignored), run as child processes that print one JSON
// object each. Without a compiler every native baseline is skipped with a
// clear message and the figures are reported without a ratio.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const NATIVE_DIR = fileURLToPath(new URL('../native/', import.meta.url));
export const BIN_DIR = join(NATIVE_DIR, 'bin');
/** Flags of every baseline: -O2 for the default x86-64 target (SSE2: 128-bit vectors, like wasm SIMD). */
export const CFLAGS = ['-O2', '-Wall', '-Wextra'];

export class NativeUnavailable extends Error {
  constructor(message) {
    super(message);
    this.name = 'NativeUnavailable';
  }
}

/** Find the compiler ($CC or cc). Returns { cc, version } or null. */
export function findCompiler() {
  const cc = process.env.CC || 'cc';
  const r = spawnSync(cc, ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return null;
  return { cc, version: r.stdout.split('\n')[0].trim() };
}

/**
 * Build every bench/native/*.c whose binary is missing or older than its
 * sources. Returns { ok: true, compiler } or { ok: false, reason }.
 */
export function buildNative(log) {
  const compiler = findCompiler();
  if (!compiler) {
    return { ok: false, reason: `no C compiler found (tried '${process.env.CC || 'cc'}'): native baselines are skipped; install gcc or clang, or set CC` };
  }
  mkdirSync(BIN_DIR, { recursive: true });
  const header = Math.max(...readdirSync(NATIVE_DIR).filter((f) => f.endsWith('.h')).map((f) => statSync(join(NATIVE_DIR, f)).mtimeMs));
  const built = [];
  for (const file of readdirSync(NATIVE_DIR).filter((f) => f.endsWith('.c')).sort()) {
    const name = file.slice(0, -2);
    const src = join(NATIVE_DIR, file);
    const bin = join(BIN_DIR, name);
    if (existsSync(bin) && statSync(bin).mtimeMs >= Math.max(statSync(src).mtimeMs, header)) continue;
    const r = spawnSync(compiler.cc, [...CFLAGS, '-o', bin, src], { encoding: 'utf8' });
    if (r.error || r.status !== 0) {
      return { ok: false, reason: `${compiler.cc} failed on bench/native/${file}: ${(r.stderr || String(r.error)).trim().split('\n').slice(0, 4).join(' | ')}` };
    }
    built.push(name);
  }
  if (built.length) log(`built native baselines: ${built.join(', ')} (${compiler.version}, ${CFLAGS.join(' ')})`);
  return { ok: true, compiler };
}

/** Run bench/native/bin/<prog> with args; returns its JSON output. */
export function runNative(ctx, prog, args = [], { timeoutMs = 300_000 } = {}) {
  if (!ctx.native.ok) throw new NativeUnavailable(ctx.native.reason);
  const bin = join(BIN_DIR, prog);
  const r = spawnSync(bin, args.map(String), { encoding: 'utf8', timeout: timeoutMs });
  if (r.error) throw new Error(`bench/native/${prog}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`bench/native/${prog} ${args.join(' ')} exited with ${r.status}: ${r.stderr.trim()}`);
  const line = r.stdout.trim().split('\n').pop();
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`bench/native/${prog}: unexpected output ${JSON.stringify(r.stdout.slice(0, 200))}`);
  }
}
