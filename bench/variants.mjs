#!/usr/bin/env node
// Design-variant comparisons (KERNEL-SPEC §12), kept apart from the speed figures of
// bench/run.mjs: the same workload under each value of a variant, with the counts the
// kernel would report and the time the core takes.
//
//   npm run bench:variants                 build, then every comparison (a few minutes)
//   npm run bench:variants -- --quick      smaller workloads, fewer samples
//   node --expose-gc bench/variants.mjs --only pud --json /tmp/v.json
//
//   mthp  V1 mthp.orderSelection (seed 002; issue 5 item 3)
//   pud   V6 thp.pud.cow, V7 thp.pud.splitTarget, V8 pgtable.deposit (seed 000; issue 7 item 5)
//
// Tables go to stdout, progress to stderr, everything to bench/results/variants.json.
// Counts are exact and deterministic; times are the fastest sample of a noisy shared
// machine, so compare them within one run (the *VsDefault fields), not across runs.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { machineInfo } from './lib/machine-info.mjs';
import { renderVariants } from './variants/render.mjs';
import { warmCore } from './variants/common.mjs';
import * as mthp from './variants/mthp.mjs';
import * as pud from './variants/pud.mjs';

const SECTIONS = { mthp, pud };
const USAGE = `usage: node bench/variants.mjs [--quick] [--only ${Object.keys(SECTIONS).join(',')}] [--json PATH]`;

function parseArgs(argv) {
  const o = { quick: false, only: Object.keys(SECTIONS), json: fileURLToPath(new URL('./results/variants.json', import.meta.url)) };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const eq = a.indexOf('=');
      if (eq >= 0) return a.slice(eq + 1);
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value\n${USAGE}`);
      return argv[++i];
    };
    if (a === '--quick') o.quick = true;
    else if (a === '--only' || a.startsWith('--only=')) o.only = val().split(',').map((s) => s.trim()).filter(Boolean);
    else if (a === '--json' || a.startsWith('--json=')) o.json = val();
    else if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown option ${a}\n${USAGE}`);
  }
  const bad = o.only.filter((s) => !SECTIONS[s]);
  if (bad.length) throw new Error(`unknown section(s) ${bad.join(', ')}\n${USAGE}`);
  return o;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const started = performance.now();
  const url = new URL('../dist/index.js', import.meta.url);
  let hm;
  try {
    hm = await import(url.href);
  } catch (err) {
    throw new Error(`cannot load ${fileURLToPath(url)}: run 'npm run build' first (${err.message})`);
  }
  const ctx = { quick: opts.quick, hm, log: (s) => process.stderr.write(`${s}\n`), native: { ok: false } };
  await warmCore(ctx, opts.quick ? 1000 : 3000);
  const sections = [];
  for (const key of opts.only) sections.push(await SECTIONS[key].run(ctx));
  const machine = machineInfo(ctx);
  delete machine.compiler;
  delete machine.cflags;
  const result = { machine, sections, seconds: Math.round((performance.now() - started) / 100) / 10 };
  console.log(renderVariants(result, SECTIONS));
  console.log(`(${result.seconds} s; JSON: ${opts.json})`);
  mkdirSync(dirname(opts.json), { recursive: true });
  writeFileSync(opts.json, JSON.stringify(result, null, 2) + '\n');
  const broken = sections.flatMap((s) => s.rows).filter((r) => r.invariants && r.invariants !== 'ok');
  return broken.length ? 1 : 0;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      console.error(err?.stack ?? err);
      process.exit(2);
    },
  );
}
