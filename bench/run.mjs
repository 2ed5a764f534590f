#!/usr/bin/env node
// hugemmu benchmark suite (issue 4).
//
//   npm run bench                  full run (< 10 min on 2 cores)
//   npm run bench -- --quick       short run (< 1 min)
//   node bench/run.mjs --only fault_4k,access_walk
//   node bench/run.mjs --list      the figure table and what each needs
//   node bench/run.mjs --force ... run figures even when their feature probe fails
//   npm run bench:variants         the design-variant comparisons instead (bench/variants.mjs)
//
// Progress goes to stderr, the table to stdout, the JSON to
// bench/results/latest.json (or --json PATH). Speed targets are checked here,
// never in tests. The exit code is 1 only when a figure failed to run.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { FIGURES } from './figures/index.mjs';
import { BASELINES, baseline } from './figures/baselines.mjs';
import { feature, FEATURES } from './lib/features.mjs';
import { collect } from './lib/harness.mjs';
import { machineInfo } from './lib/machine-info.mjs';
import { buildNative, CFLAGS } from './lib/native.mjs';
import { checkTarget, ratioOf, renderText, targetText } from './lib/report.mjs';

const USAGE = `usage: node bench/run.mjs [--quick] [--only NAME,...] [--json PATH] [--no-native] [--force] [--list]`;

function parseArgs(argv) {
  const o = { quick: false, only: null, json: fileURLToPath(new URL('./results/latest.json', import.meta.url)), native: true, list: false, force: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const eq = a.indexOf('=');
      if (eq >= 0) return a.slice(eq + 1);
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value\n${USAGE}`);
      return argv[++i];
    };
    if (a === '--quick') o.quick = true;
    else if (a === '--full') o.quick = false;
    else if (a === '--only' || a.startsWith('--only=')) o.only = val().split(',').map((s) => s.trim()).filter(Boolean);
    else if (a === '--json' || a.startsWith('--json=')) o.json = val();
    else if (a === '--no-native') o.native = false;
    else if (a === '--list') o.list = true;
    else if (a === '--force') o.force = true;
    else if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown option ${a}\n${USAGE}`);
  }
  if (o.only) {
    const known = new Set(FIGURES.map((f) => f.name));
    const bad = o.only.filter((n) => !known.has(n));
    if (bad.length) throw new Error(`unknown figure(s) ${bad.join(', ')} (known: ${[...known].join(', ')})`);
  }
  return o;
}

async function loadHugemmu() {
  const url = new URL('../dist/index.js', import.meta.url);
  try {
    return await import(url.href);
  } catch (err) {
    throw new Error(`cannot load ${fileURLToPath(url)}: run 'npm run build' first (${err.message})`);
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.list) {
    for (const f of FIGURES) {
      console.log(`${f.name.padEnd(24)} ${f.unit.padEnd(11)} needs: ${(f.needs.join(', ') || '-').padEnd(18)} baseline: ${(f.baseline ?? '-').padEnd(18)} ${f.what}`);
    }
    return 0;
  }
  const started = performance.now();
  const log = (s) => process.stderr.write(`${s}\n`);
  const memo = new Map();
  const ctx = {
    quick: opts.quick,
    log,
    cflags: CFLAGS,
    hm: await loadHugemmu(),
    memo(key, fn) {
      if (!memo.has(key)) memo.set(key, Promise.resolve().then(fn));
      return memo.get(key);
    },
  };
  const notes = [];
  ctx.native = opts.native ? buildNative(log) : { ok: false, reason: 'native baselines disabled (--no-native)' };
  if (!ctx.native.ok) {
    log(`note: ${ctx.native.reason}`);
    notes.push(ctx.native.reason);
  }
  if (typeof globalThis.gc !== 'function') notes.push('run without --expose-gc: old machines are freed only when V8 decides');

  const figures = [];
  const pending = [];
  const errors = [];
  const selected = FIGURES.filter((f) => !opts.only || opts.only.includes(f.name));
  for (const fig of selected) {
    const missing = [];
    for (const key of fig.needs) {
      const r = await feature(ctx, key);
      if (!r.ok) missing.push(r.reason);
    }
    if (missing.length && !opts.force) {
      pending.push({ name: fig.name, reason: missing.join('; ') });
      log(`${fig.name}: pending (${missing.join('; ')})`);
      continue;
    }
    log(`${fig.name} ...`);
    const t0 = performance.now();
    let res;
    try {
      res = await fig.run(ctx);
    } catch (err) {
      collect();
      if (err?.name === 'UnsupportedFeatureError') {
        pending.push({ name: fig.name, reason: err.message });
        log(`${fig.name}: pending (${err.message})`);
      } else {
        errors.push({ name: fig.name, error: err?.stack?.split('\n').slice(0, 3).join(' | ') ?? String(err) });
        log(`${fig.name}: ERROR ${err?.message ?? err}`);
      }
      continue;
    }
    collect();
    const base = fig.baseline ? await baseline(ctx, fig.baseline) : null;
    const baseOk = base && base.error === undefined ? base : null;
    const ratio = ratioOf(fig, res.value, baseOk);
    const met = checkTarget(fig, res.value, ratio);
    const entry = {
      name: fig.name,
      value: res.value,
      unit: fig.unit,
      baseline: baseOk ? { name: baseOk.name, value: baseOk.value, unit: baseOk.unit } : null,
      ratio,
      better: fig.better,
      target: targetText(fig) || null,
      met,
      what: fig.what,
      seconds: Math.round((performance.now() - t0) / 100) / 10,
      detail: res.detail ?? null,
    };
    if (base?.error) entry.baselineError = base.error;
    if (missing.length) {
      entry.forced = missing.join('; ');
      notes.push(`${fig.name} measured with --force although its probe failed: ${entry.forced}`);
    }
    figures.push(entry);
  }

  // A full run also measures the baselines reserved for pending figures, so that
  // their C programs keep working and their numbers are on record.
  const baselines = {};
  if (!opts.quick && !opts.only) {
    for (const key of Object.keys(BASELINES)) await baseline(ctx, key);
  }
  for (const key of Object.keys(BASELINES)) {
    if (!memo.has(`baseline:${key}`)) continue;
    const b = await memo.get(`baseline:${key}`);
    baselines[key] = b.error !== undefined ? { name: b.name, unit: b.unit, error: b.error } : { name: b.name, value: b.value, unit: b.unit, detail: b.detail };
  }
  const features = {};
  for (const key of Object.keys(FEATURES)) {
    if (memo.has(`feature:${key}`)) features[key] = await memo.get(`feature:${key}`);
  }

  const result = {
    machine: machineInfo(ctx),
    figures,
    pending,
    errors,
    baselines,
    features,
    notes,
    seconds: Math.round((performance.now() - started) / 100) / 10,
  };
  console.log(renderText(result));
  console.log(`(${result.seconds} s; JSON: ${opts.json})`);
  mkdirSync(dirname(opts.json), { recursive: true });
  writeFileSync(opts.json, JSON.stringify(result, null, 2) + '\n');
  return errors.length ? 1 : 0;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      console.error(err?.message ?? err);
      process.exit(2);
    },
  );
}
