import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { conformOne, type ConformanceRow } from '../src/scenario/conformance.js';
import { scenarioVocabulary, type ParseOptions } from '../src/index.js';

// The recorded Linux 6.18 scenarios (copied from ../shared/conformance/tests) and the list of
// those hugemmu must already reproduce; the list can only grow.
const dir = fileURLToPath(new URL('./conformance/', import.meta.url));
const scenarios = readdirSync(dir).filter((f) => f.endsWith('.mms')).map((f) => f.slice(0, -4)).sort();
const passing = new Set(readFileSync(`${dir}passing.txt`, 'utf8').split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean));

let vocab: ParseOptions;
const rows: ConformanceRow[] = [];
beforeAll(async () => {
  vocab = await scenarioVocabulary();
});
afterAll(() => {
  // a nudge for whoever made them pass: add them to passing.txt
  const more = rows.filter((r) => r.status === 'pass' && !passing.has(r.name)).map((r) => r.name);
  if (more.length) console.log(`conformance: now passing but not in test/conformance/passing.txt: ${more.join(' ')}`);
});

describe('conformance with the kernel oracle', () => {
  it('has the 40 shared recorded scenarios (and ours, recorded the same way) and lists only existing ones as passing', () => {
    expect(scenarios.length).toBeGreaterThanOrEqual(40);
    for (const name of passing) expect(scenarios, `passing.txt names '${name}'`).toContain(name);
  });

  it.each(scenarios)('%s', async (name) => {
    const row = await conformOne(`${dir}${name}.mms`, vocab);
    rows.push(row);
    // every scenario runs to the end; its missing features are errors entries, never a crash
    expect(row.error).toBeUndefined();
    expect(row.status).not.toBe('error');
    if (passing.has(name)) expect(row.differences, `${name} must match the kernel`).toEqual([]);
  });
});
