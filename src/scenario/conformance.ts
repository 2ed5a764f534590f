/**
 * Conformance: run every .mms of a directory and compare each result with
 * DIR/expected/NAME.json (the kernel oracle's output) by compare.py's rules.
 * Node-only (reads files), so not exported by the package index.
 */
import { readFile, readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { compareResults } from './compare.js';
import { parseScenario, ScenarioError, type ParseOptions } from './parse.js';
import { runScenario, type RunOptions } from './run.js';
import type { ScenarioResult } from './result.js';

export interface ConformanceRow {
  /** scenario name (file name without .mms) */
  name: string;
  /** pass: equal to the kernel; fail: differences; error: the script could not be run or compared */
  status: 'pass' | 'fail' | 'error';
  ms: number;
  /** compare.py's difference lines (all of them) */
  differences: string[];
  /** features the run reported as not supported yet (from its errors) */
  unsupported: string[];
  /** for status 'error': one line FILE[:LINE:COL]: message (hint) */
  error?: string;
  result?: ScenarioResult;
}

export interface ConformanceOptions extends RunOptions {
  /** keys to skip anywhere (compare.py -i) */
  ignore?: string[];
}

/** The .mms files of a directory, sorted by name. Throws ScenarioError when there are none. */
export async function listScenarios(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    throw new ScenarioError(dir, 0, 0, `cannot read the directory: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      'give a directory of .mms scripts with expected/NAME.json beside them');
  }
  const mms = names.filter((n) => n.endsWith('.mms')).sort();
  if (!mms.length) throw new ScenarioError(dir, 0, 0, 'no .mms scenarios in this directory', 'give a directory of .mms scripts');
  return mms.map((n) => join(dir, n));
}

const NOT_SUPPORTED = 'not supported yet: ';

/** Read and parse a script file; errors are ScenarioErrors naming the file. */
export async function loadScenario(path: string, vocab: ParseOptions) {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ScenarioError(path, 0, 0, `cannot read the script: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      'check the path');
  }
  return parseScenario(text, path, vocab);
}

async function readExpected(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ScenarioError(path, 0, 0, `no expected output: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      'make it with ../shared/conformance/run -u on the kernel');
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ScenarioError(path, 0, 0, `not JSON: ${(e as Error).message}`, 'regenerate it with the oracle');
  }
}

/** Run one scenario file and compare it with DIR/expected/NAME.json. */
export async function conformOne(path: string, vocab: ParseOptions, opts: ConformanceOptions = {}): Promise<ConformanceRow> {
  const name = basename(path, '.mms');
  const t0 = performance.now();
  const row: ConformanceRow = { name, status: 'pass', ms: 0, differences: [], unsupported: [] };
  try {
    const expected = await readExpected(join(dirname(path), 'expected', `${name}.json`));
    const result = await runScenario(await loadScenario(path, vocab), opts);
    row.result = result;
    row.unsupported = [...new Set(result.errors.filter((e) => e.error.startsWith(NOT_SUPPORTED)).map((e) => e.error.slice(NOT_SUPPORTED.length)))];
    row.differences = compareResults(expected, result, opts.ignore);
    if (row.differences.length) row.status = 'fail';
  } catch (e) {
    if (!(e instanceof ScenarioError)) throw e;
    row.status = 'error';
    row.error = e.message;
  }
  row.ms = Math.round(performance.now() - t0);
  return row;
}
