// What the figures were measured on: enough to tell two result files apart.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

function read(path) {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

function git(args) {
  try {
    return execFileSync('git', args, { cwd: fileURLToPath(new URL('../..', import.meta.url)), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

export function machineInfo(ctx) {
  const cpus = os.cpus();
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  const status = git(['status', '--porcelain', '--untracked-files=no']);
  return {
    date: new Date().toISOString(),
    mode: ctx.quick ? 'quick' : 'full',
    hugemmu: pkg.version,
    commit: git(['rev-parse', '--short', 'HEAD']),
    dirty: status === null ? null : status.length > 0,
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: os.release(),
    platform: `${os.platform()} ${os.arch()}`,
    node: process.version,
    v8: process.versions.v8,
    execArgv: process.execArgv,
    tinybench: JSON.parse(readFileSync(new URL('../../node_modules/tinybench/package.json', import.meta.url), 'utf8')).version,
    compiler: ctx.native.ok ? `${ctx.native.compiler.version}` : null,
    cflags: ctx.native.ok ? ctx.cflags.join(' ') : null,
    thp: {
      enabled: read('/sys/kernel/mm/transparent_hugepage/enabled'),
      defrag: read('/sys/kernel/mm/transparent_hugepage/defrag'),
    },
    loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}
