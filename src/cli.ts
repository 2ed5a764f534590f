/**
 * The `hugemmu` command line: run a scenario, run the conformance suite,
 * list knobs, or (without arguments) show the demo. Every failure is one
 * line `FILE:LINE:COL: message (hint)` (or `hugemmu: message (hint)` for
 * usage errors) with exit status 2; no stack traces.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { basename } from 'node:path';
import { cac } from 'cac';
import cliProgress from 'cli-progress';
import { ScenarioError } from './scenario/parse.js';
import { runScenario, scenarioVocabulary } from './scenario/run.js';
import { formatResult } from './scenario/result.js';
import { formatReport } from './scenario/report.js';
import { ORACLE_BASELINE } from './scenario/knobs.js';
import { VERSION } from './scenario/version.js';
import { conformOne, listScenarios, loadScenario, type ConformanceRow } from './scenario/conformance.js';
import { runDemo } from './demo.js';

/** Where the CLI writes; tests pass their own. */
export interface CliIO {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream & { isTTY?: boolean };
}

const COMMANDS = ['run', 'conformance', 'knobs', 'demo'];

/** The conformance suite kept with hugemmu (test/conformance of the checkout). */
export function bundledSuite(): string | undefined {
  const dir = fileURLToPath(new URL('../test/conformance', import.meta.url));
  return existsSync(dir) ? dir : undefined;
}

class UsageError extends Error {}

/** A progress bar on stderr: only on a terminal, unless forced. */
function progress(io: CliIO, forced: boolean, what: string) {
  if (!forced && !io.err.isTTY) return undefined;
  const bar = new cliProgress.SingleBar({
    stream: io.err, format: `${what} [{bar}] {value}/{total} {name}`, clearOnComplete: true, hideCursor: null,
    noTTYOutput: forced, notTTYSchedule: 500,
  }, cliProgress.Presets.shades_classic);
  return bar;
}

function clip(s: string, max: number): string {
  return s.length <= max ? s : s.slice(0, max - 1) + '…';
}

function conformanceRow(r: ConformanceRow, width: number, verbose: boolean): string {
  const head = `${r.status.toUpperCase().padEnd(5)} ${r.name.padEnd(width)} ${String(r.ms).padStart(5)} ms`;
  if (r.status === 'error') return `${head}  ${r.error}`;
  if (r.status === 'pass') return head;
  const needs = r.unsupported.length ? `  [not supported yet: ${r.unsupported.join('; ')}]` : '';
  if (verbose) return [head + needs, ...r.differences.map((d) => `      ${d}`)].join('\n');
  const first = r.differences.slice(0, 2).map((d) => clip(d, 110)).join('; ');
  const more = r.differences.length > 2 ? ` (+${r.differences.length - 2} more)` : '';
  return `${head}${needs}  ${first}${more}`;
}

async function cmdRun(io: CliIO, file: string, o: { json?: boolean; check?: boolean; progress?: boolean }): Promise<number> {
  const sc = await loadScenario(file, await scenarioVocabulary());
  const bar = progress(io, !!o.progress, 'run');
  bar?.start(sc.ops.length, 0, { name: sc.script });
  try {
    const result = await runScenario(sc, { check: o.check, onProgress: (done) => bar?.update(done, { name: sc.script }) });
    bar?.stop();
    io.out.write(o.json ? formatResult(result) : formatReport(result));
  } finally {
    bar?.stop();
  }
  return 0;
}

async function cmdConformance(io: CliIO, dir: string | undefined,
  o: { json?: boolean; progress?: boolean; verbose?: boolean; ignore?: string[]; only?: string[] }): Promise<number> {
  const suite = dir ?? bundledSuite();
  if (!suite) throw new UsageError("no DIR given and no bundled suite found (give a directory of .mms scripts with expected/NAME.json)");
  let files = await listScenarios(suite);
  if (o.only?.length) {
    const all = new Set(files.map((f) => basename(f, '.mms')));
    const unknown = o.only.find((n) => !all.has(n));
    if (unknown) throw new UsageError(`--only: no scenario '${unknown}' in ${suite} (give a file name without .mms)`);
    files = files.filter((f) => o.only!.includes(basename(f, '.mms')));
  }
  const vocab = await scenarioVocabulary();
  const names = files.map((f) => basename(f, '.mms'));
  const width = Math.max(...names.map((n) => n.length));
  const bar = progress(io, !!o.progress, 'conformance');
  const rows: ConformanceRow[] = [];
  bar?.start(files.length, 0, { name: '' });
  try {
    for (const [i, f] of files.entries()) {
      bar?.update(i, { name: names[i] });
      const row = await conformOne(f, vocab, { ignore: o.ignore });
      rows.push(row);
      // rows stream when no bar shares the terminal
      if (!bar && !o.json) io.out.write(conformanceRow(row, width, !!o.verbose) + '\n');
    }
    bar?.update(files.length, { name: '' });
  } finally {
    bar?.stop();
  }
  const passed = rows.filter((r) => r.status === 'pass').length;
  const failed = rows.length - passed;
  const errors = rows.filter((r) => r.status === 'error').length;
  if (o.json) {
    const scenarios = rows.map(({ result: _r, ...r }) => r);
    io.out.write(JSON.stringify({ dir: suite, passed, failed, scenarios }, null, 2) + '\n');
  } else {
    if (bar) for (const r of rows) io.out.write(conformanceRow(r, width, !!o.verbose) + '\n');
    io.out.write(`conformance: ${passed} passed, ${failed} failed\n`);
  }
  // a scenario that could not run at all is an error of the input, not a difference
  if (errors) for (const r of rows) if (r.status === 'error') io.err.write(`${r.error}\n`);
  return errors ? 2 : failed ? 1 : 0;
}

async function cmdKnobs(io: CliIO): Promise<number> {
  const vocab = await scenarioVocabulary();
  const w = Math.max(...vocab.knobs.map((k) => k.name.length));
  io.out.write('set name, baseline value, accepted values\n');
  for (const k of vocab.knobs) {
    const ki = k.info!;
    const values = ki.values ? ki.values.join('|') : `${ki.min}..${ki.max}`;
    const base = ORACLE_BASELINE[k.name] ?? ki.default;
    const ext = k.name in ORACLE_BASELINE ? '' : '  (hugemmu extension)';
    io.out.write(`${k.name.padEnd(w)}  ${base.padEnd(22)} ${values}${ext}\n`);
  }
  return 0;
}

function oneLine(e: unknown, command?: string): string {
  if (e instanceof ScenarioError) return e.message;
  const msg = e instanceof Error ? e.message : String(e);
  if (e instanceof UsageError || (e instanceof Error && e.name === 'CACError')) {
    const text = msg.replace(/\.$/, '').replace(/^[A-Z](?=[a-z])/, (c) => c.toLowerCase());
    return `hugemmu: ${text} (see 'hugemmu${command ? ` ${command}` : ''} --help')`;
  }
  return `hugemmu: internal error: ${msg.split('\n')[0]} (a hugemmu bug: please report it with the command line)`;
}

/** Run the CLI; resolves to the exit status. */
export async function main(argv: string[], io: CliIO = { out: process.stdout, err: process.stderr }): Promise<number> {
  const cli = cac('hugemmu');
  let status = 0;
  const list = { type: [String] };
  cli.command('', 'show what the emulator can do (the built-in demo)').action(async () => {
    status = await runDemoCmd(io);
  });
  cli.command('demo', 'show what the emulator can do (the built-in demo)').action(async () => {
    status = await runDemoCmd(io);
  });
  cli.command('run <file>', 'run a scenario script (.mms) and report what the kernel would report')
    .option('--json', "print exactly the kernel oracle's JSON schema")
    .option('--check', 'check the kernel invariants after every operation (violations go to errors)')
    .option('--progress', 'show a progress bar on stderr even when it is not a terminal')
    .example('  $ hugemmu run test/conformance/mthp_64k_fault.mms --json')
    .action(async (file: string, o) => {
      status = await cmdRun(io, file, o);
    });
  cli.command('conformance [dir]', 'run every DIR/*.mms and compare with DIR/expected/NAME.json like compare.py')
    .option('--json', 'print the rows as JSON')
    .option('--verbose', 'list every difference, not the first two')
    .option('--ignore <key>', 'skip this key anywhere (repeatable; compare.py -i)', list)
    .option('--only <name>', 'run only this scenario (repeatable)', list)
    .option('--progress', 'show a progress bar on stderr even when it is not a terminal')
    .example('  $ hugemmu conformance test/conformance')
    .action(async (dir: string | undefined, o) => {
      status = await cmdConformance(io, dir, o);
    });
  cli.command('knobs', 'list the knob names `set` accepts, with baselines and values').action(async () => {
    status = await cmdKnobs(io);
  });
  cli.help((sections) => {
    for (const s of sections) {
      // the default command (the demo) has no name: keep its empty row out of the lists
      if (s.title === 'Commands') s.body = s.body.split('\n').filter((l) => !l.startsWith('   ')).join('\n');
      if (s.title?.startsWith('For more info')) s.body = s.body.split('\n').filter((l) => l.trim() !== '$ hugemmu --help').join('\n');
      if (s.title === 'Usage' && s.body.trim() === '$ hugemmu') s.body = '  $ hugemmu [command] [options]    (no command: the built-in demo)';
    }
    return sections;
  });
  cli.version(VERSION);

  // cac prints help and version with console.info; route it to our stream
  const info = console.info;
  console.info = (...a: unknown[]) => void io.out.write(a.join(' ') + '\n');
  try {
    const first = argv[0];
    if (first !== undefined && !first.startsWith('-') && !COMMANDS.includes(first))
      throw new UsageError(`unknown command '${first}' (commands: ${COMMANDS.join(', ')})`);
    cli.parse(['node', 'hugemmu', ...argv], { run: false });
    if (cli.matchedCommand) await cli.runMatchedCommand();
    return status;
  } catch (e) {
    io.err.write(oneLine(e, cli.matchedCommandName) + '\n');
    if (process.env.HUGEMMU_DEBUG && e instanceof Error) io.err.write(`${e.stack}\n`);
    return 2;
  } finally {
    console.info = info;
  }
}

async function runDemoCmd(io: CliIO): Promise<number> {
  await runDemo((line) => io.out.write(line + '\n'));
  return 0;
}
