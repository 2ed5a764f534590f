// conformance_runtime_s: wall time of the whole conformance suite through the CLI.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export async function conformanceRuntime(ctx) {
  const timeoutS = ctx.quick ? 40 : 300;
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['bin/hugemmu.js', 'conformance', 'test/conformance'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: timeoutS * 1000,
    maxBuffer: 64 * 2 ** 20,
  });
  const s = (performance.now() - t0) / 1000;
  if (r.error?.code === 'ETIMEDOUT' || r.signal === 'SIGTERM') throw new Error(`conformance run exceeded ${timeoutS} s`);
  if (r.error) throw r.error;
  const tail = (r.stdout || r.stderr || '').trim().split('\n').slice(-1)[0]?.slice(0, 160);
  return { value: s, detail: { exit_code: r.status, last_line: tail } };
}
