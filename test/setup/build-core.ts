import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Build both core flavours before any test runs, so tests never see a stale core. */
export default function setup(): void {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const asc = fileURLToPath(new URL('../../node_modules/assemblyscript/bin/asc.js', import.meta.url));
  for (const target of ['debug', 'release']) {
    execFileSync(process.execPath, [asc, 'assembly/index.ts', '--target', target], { cwd: root, stdio: 'inherit' });
  }
}
