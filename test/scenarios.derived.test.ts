import { describe, it, expect, beforeAll } from 'vitest';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { conformOne } from '../src/scenario/conformance.js';
import { scenarioVocabulary, type ParseOptions } from '../src/index.js';

// Scenarios the kernel oracle cannot run (1 GiB anonymous THP, design variants):
// the expected output in test/scenarios/expected/ is derived from the seeds and
// KERNEL-SPEC, and each script's comments explain every number.
const dir = fileURLToPath(new URL('./scenarios/', import.meta.url));
const scenarios = readdirSync(dir).filter((f) => f.endsWith('.mms')).map((f) => f.slice(0, -4)).sort();

let vocab: ParseOptions;
beforeAll(async () => {
  vocab = await scenarioVocabulary();
});

describe('derived scenarios (test/scenarios)', () => {
  it.each(scenarios)('%s', async (name) => {
    const row = await conformOne(`${dir}${name}.mms`, vocab);
    expect(row.error).toBeUndefined();
    expect(row.differences).toEqual([]);
    expect(row.status).toBe('pass');
  });
});
