#!/usr/bin/env node
// The hugemmu command: a thin shim over the compiled CLI (npm run build makes dist/).
let cli;
try {
  cli = await import('../dist/cli.js');
} catch (err) {
  if (err?.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli.js')) {
    process.stderr.write("hugemmu: dist/cli.js is missing (run 'npm run build' first)\n");
    process.exit(2);
  }
  throw err;
}
process.exitCode = await cli.main(process.argv.slice(2));
