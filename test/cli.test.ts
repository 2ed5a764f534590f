import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { Writable } from 'node:stream';
import { mkdtempSync, mkdirSync, writeFileSync, copyFileSync, readFileSync, symlinkSync, cpSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { main } from '../src/cli.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const suite = join(root, 'test/conformance');

class Sink extends Writable {
  text = '';
  isTTY = false;
  override _write(chunk: Buffer, _enc: string, cb: () => void) {
    this.text += chunk.toString();
    cb();
  }
}

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = new Sink(), err = new Sink();
  const code = await main(argv, { out, err });
  return { code, out: out.text, err: err.text };
}

/** stderr is one line, without a stack trace or a raw trap */
function oneLine(err: string): string {
  expect(err.endsWith('\n')).toBe(true);
  expect(err.trim().split('\n')).toHaveLength(1);
  expect(err).not.toMatch(/\n\s+at |RuntimeError|unreachable/);
  return err.trim();
}

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'hugemmu-cli-'));
  // a small suite: one scenario that passes, one whose expected output was altered
  mkdirSync(join(tmp, 'suite/expected'), { recursive: true });
  for (const n of ['thp_never_fault', 'mthp_64k_fault']) {
    copyFileSync(join(suite, `${n}.mms`), join(tmp, `suite/${n}.mms`));
    copyFileSync(join(suite, `expected/${n}.json`), join(tmp, `suite/expected/${n}.json`));
  }
  const exp = JSON.parse(readFileSync(join(suite, 'expected/mthp_64k_fault.json'), 'utf8'));
  exp.snapshots.touched.vmstat.pgfault = 31;
  writeFileSync(join(tmp, 'suite/expected/mthp_64k_fault.json'), JSON.stringify(exp));
  writeFileSync(join(tmp, 'bad.mms'), '# malformed\nmap a 2M anon\ntouch a 0 4K poke\n');
  mkdirSync(join(tmp, 'empty'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('hugemmu CLI (in process)', () => {
  it('prints help for the program and every command', async () => {
    const top = await cli('--help');
    expect(top.code).toBe(0);
    expect(top.out).toContain('$ hugemmu [command] [options]');
    for (const c of ['run <file>', 'conformance [dir]', 'knobs', 'demo']) expect(top.out).toContain(c);
    for (const c of ['run', 'conformance', 'knobs', 'demo']) {
      const r = await cli(c, '--help');
      expect(r.code, c).toBe(0);
      expect(r.out, c).toContain(`$ hugemmu ${c}`);
    }
    expect((await cli('--version')).out).toMatch(/^hugemmu\/\d+\.\d+\.\d+/);
  });

  it('run --json prints the oracle schema; run prints a report', async () => {
    const j = await cli('run', join(suite, 'mthp_64k_fault.mms'), '--json');
    expect(j.code).toBe(0);
    expect(j.err).toBe('');
    const r = JSON.parse(j.out);
    expect(Object.keys(r)).toEqual(['oracle', 'script', 'kernel', 'runs', 'settings', 'snapshots', 'errors', 'mismatches', 'unstable_fields']);
    expect(r.script).toBe('mthp_64k_fault.mms');
    expect(r.snapshots.touched.mthp['64kB'].anon_fault_alloc).toBe(32);
    const h = await cli('run', join(suite, 'mthp_64k_fault.mms'));
    expect(h.code).toBe(0);
    expect(h.out).toContain("snapshot 'touched' (line 5)");
    expect(h.out).toContain('errors: none');
  });

  it('shows a progress bar on stderr only when asked (or on a terminal)', async () => {
    const plain = await cli('run', join(suite, 'thp_never_fault.mms'), '--json');
    expect(plain.err).toBe('');
    const forced = await cli('run', join(suite, 'thp_never_fault.mms'), '--json', '--progress');
    expect(forced.err).toMatch(/run \[.*\] 5\/5 thp_never_fault\.mms/);
    JSON.parse(forced.out);
  });

  it('reports every error in one line with exit status 2', async () => {
    const cases: [string[], string][] = [
      [['run', join(tmp, 'bad.mms')], `${join(tmp, 'bad.mms')}:3:14: touch needs read|write (usage: touch NAME OFF LEN read|write [stride=S] [gen=G])`],
      [['run', join(tmp, 'missing.mms')], `${join(tmp, 'missing.mms')}: cannot read the script: ENOENT (check the path)`],
      [['run'], "hugemmu: missing required args for command `run <file>` (see 'hugemmu run --help')"],
      [['run', 'x.mms', '--bogus'], "hugemmu: unknown option `--bogus` (see 'hugemmu run --help')"],
      [['frobnicate'], "hugemmu: unknown command 'frobnicate' (commands: run, conformance, knobs, demo) (see 'hugemmu --help')"],
      [['conformance', join(tmp, 'empty')], `${join(tmp, 'empty')}: no .mms scenarios in this directory (give a directory of .mms scripts)`],
      [['conformance', join(tmp, 'nope')], `${join(tmp, 'nope')}: cannot read the directory: ENOENT (give a directory of .mms scripts with expected/NAME.json beside them)`],
      [['conformance', join(tmp, 'suite'), '--only', 'nothing'], `hugemmu: --only: no scenario 'nothing' in ${join(tmp, 'suite')} (give a file name without .mms) (see 'hugemmu conformance --help')`],
    ];
    for (const [argv, line] of cases) {
      const r = await cli(...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(oneLine(r.err), argv.join(' ')).toBe(line);
    }
  });

  it('conformance prints a row per scenario and the summary; exit 1 when one differs', async () => {
    const r = await cli('conformance', join(tmp, 'suite'));
    expect(r.code).toBe(1);
    const lines = r.out.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^FAIL  mthp_64k_fault +\d+ ms  snapshots\.touched\.vmstat\.pgfault: expected 31, got 32$/);
    expect(lines[1]).toMatch(/^PASS  thp_never_fault +\d+ ms$/);
    expect(lines[2]).toBe('conformance: 1 passed, 1 failed');
    const only = await cli('conformance', join(tmp, 'suite'), '--only', 'thp_never_fault');
    expect(only.code).toBe(0);
    expect(only.out.trim().split('\n').pop()).toBe('conformance: 1 passed, 0 failed');
    const ignored = await cli('conformance', join(tmp, 'suite'), '--ignore', 'pgfault');
    expect(ignored.code).toBe(0);
  });

  it('conformance --json is valid JSON with the counts and every difference', async () => {
    const r = await cli('conformance', join(tmp, 'suite'), '--json');
    expect(r.code).toBe(1);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ dir: join(tmp, 'suite'), passed: 1, failed: 1 });
    expect(j.scenarios.map((s: { name: string; status: string }) => [s.name, s.status])).toEqual([['mthp_64k_fault', 'fail'], ['thp_never_fault', 'pass']]);
    expect(j.scenarios[0].differences).toEqual(['snapshots.touched.vmstat.pgfault: expected 31, got 32']);
  });

  it('conformance lists a malformed scenario as an error row and exits 2', async () => {
    const dir = join(tmp, 'suite-bad');
    cpSync(join(tmp, 'suite'), dir, { recursive: true });
    copyFileSync(join(tmp, 'bad.mms'), join(dir, 'bad.mms'));
    writeFileSync(join(dir, 'expected/bad.json'), '{}');
    const r = await cli('conformance', dir, '--only', 'bad');
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/^ERROR bad +\d+ ms  .*bad\.mms:3:14: touch needs read\|write/);
    expect(r.out).toContain('conformance: 0 passed, 1 failed');
    expect(oneLine(r.err)).toMatch(/bad\.mms:3:14: touch needs read\|write/);
  });

  it('conformance without DIR runs the bundled suite', async () => {
    const r = await cli('conformance', '--only', 'thp_never_fault', '--only', 'mthp_each_size');
    expect(r.code).toBe(0);
    expect(r.out).toContain('conformance: 2 passed, 0 failed');
  });

  it('lists the knobs with baselines and marks the extensions', async () => {
    const r = await cli('knobs');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^khugepaged\.scan_sleep_millisecs +3600000 +0\.\.4294967295$/m);
    expect(r.out).toMatch(/^thp\.size\.1G +never +always\|inherit\|madvise\|never +\(hugemmu extension\)$/m);
    expect(r.out).toMatch(/^hugemmu\.mthp\.orderSelection /m);
  });

  it('runs the demo without arguments', async () => {
    const r = await cli();
    expect(r.code).toBe(0);
    for (const s of ['1. 4 KiB page faults at scale', '1,048,576 page faults', '2. The shared zero page', 'RSS grows by 0 kB',
      '3. VMA splits and merges', '4. Multi-size THP', '5. The kernel\'s counters', 'all hold', '6. Feature status']) expect(r.out).toContain(s);
  });
});

describe('hugemmu binary (bin/hugemmu.js over a fresh tsc build)', () => {
  let pkg: string;
  beforeAll(() => {
    // build src/ into a scratch package so the test never depends on (or disturbs) dist/
    pkg = join(tmp, 'pkg');
    mkdirSync(join(pkg, 'bin'), { recursive: true });
    copyFileSync(join(root, 'package.json'), join(pkg, 'package.json'));
    copyFileSync(join(root, 'bin/hugemmu.js'), join(pkg, 'bin/hugemmu.js'));
    symlinkSync(join(root, 'build'), join(pkg, 'build'));
    symlinkSync(join(root, 'node_modules'), join(pkg, 'node_modules'));
    symlinkSync(suite, join(pkg, 'conformance'));
    execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json'), '--outDir', join(pkg, 'dist')]);
  }, 120_000);

  const bin = (...argv: string[]) => spawnSync(process.execPath, [join(pkg, 'bin/hugemmu.js'), ...argv], { encoding: 'utf8', env: { ...process.env, HUGEMMU_CORE: 'release' } });

  it('runs a scenario, exits 0 and prints valid JSON', () => {
    const r = bin('run', join(pkg, 'conformance/thp_never_fault.mms'), '--json');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).script).toBe('thp_never_fault.mms');
  });

  it('exits 1 when a scenario differs and 2 on errors, with one-line messages', () => {
    const c = bin('conformance', join(tmp, 'suite'));
    expect(c.status).toBe(1);
    expect(c.stdout.trim().split('\n').pop()).toBe('conformance: 1 passed, 1 failed');
    const e = bin('run', join(tmp, 'bad.mms'));
    expect(e.status).toBe(2);
    expect(e.stdout).toBe('');
    expect(oneLine(e.stderr)).toBe(`${join(tmp, 'bad.mms')}:3:14: touch needs read|write (usage: touch NAME OFF LEN read|write [stride=S] [gen=G])`);
  });

  it('shows the demo quickly', () => {
    const t0 = performance.now();
    const r = bin();
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('6. Feature status');
    expect(performance.now() - t0).toBeLessThan(5000); // < 2 s on a quiet machine; generous for CI
  });

  it('says how to build when dist/ is missing', () => {
    const bare = join(tmp, 'bare');
    mkdirSync(join(bare, 'bin'), { recursive: true });
    copyFileSync(join(root, 'package.json'), join(bare, 'package.json'));
    copyFileSync(join(root, 'bin/hugemmu.js'), join(bare, 'bin/hugemmu.js'));
    const r = spawnSync(process.execPath, [join(bare, 'bin/hugemmu.js')], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(oneLine(r.stderr)).toBe("hugemmu: dist/cli.js is missing (run 'npm run build' first)");
  });
});
