import { describe, it, expect, beforeAll } from 'vitest';
import { parseScenario, runScenario, scenarioVocabulary, formatResult, formatReport, ScenarioError, type ParseOptions } from '../src/index.js';

let vocab: ParseOptions;
beforeAll(async () => {
  vocab = await scenarioVocabulary();
});
const parse = (text: string) => parseScenario(text, 't.mms', vocab);
const parseError = (text: string): string => {
  try {
    parse(text);
  } catch (e) {
    expect(e).toBeInstanceOf(ScenarioError);
    return (e as Error).message;
  }
  throw new Error('parsed without error');
};

const SCRIPT = [
  'machine ram=1G cpus=4 tlb=skylake data=off',
  'set thp.size.64K always',
  'map a 1M anon',
  'thread t1 cpu=1',
  'thread t2 cpu=2',
  'touch a 0 1M write',
  'in t1 touch a 0 1M read',
  'in t2 random a 0 1M 1000 read seed=3',
  'snapshot fill',
  'mprotect a 0 64K r',
  'cpu t2 3',
  'in t2 touch a 0 4K read',
  'snapshot shootdown',
  'map r 2M anon',
  'race at=pte-lock',
  'touch r 0 4K write',
  'in t1 touch r 60K 4K read',
  'end',
  'snapshot race',
].join('\n');

describe('scenario extensions for CPUs, threads and the TLB model', () => {
  it('parses machine tlb=, thread, cpu, random, touch fetch and race blocks', () => {
    const sc = parse(SCRIPT + '\ntouch a 0 4K fetch');
    expect(sc.machine).toMatchObject({ cpus: 4, tlb: 'skylake', data: false });
    expect(sc.procs).toEqual(['main', 't1', 't2']);
    expect(sc.leaders).toEqual([0, 0, 0]);
    const race = sc.ops.find((o) => o.op === 'race');
    expect(race).toMatchObject({ op: 'race', seed: 0, at: 'pte-lock' });
    expect((race as { members: { op: string; proc: number }[] }).members.map((m) => [m.op, m.proc])).toEqual([['touch', 0], ['touch', 1]]);
    expect(sc.ops.at(-1)).toMatchObject({ op: 'touch', fetch: true, write: false });
    expect(sc.ops.find((o) => o.op === 'random')).toMatchObject({ count: 1000, seed: 3, granule: 64, proc: 2 });
  });

  it('names file, line and column of malformed extension lines', () => {
    expect(parseError('machine cpus=2\nthread t cpu=2')).toMatch(/^t\.mms:2:10: bad CPU '2' \(the machine has cpus=2/);
    expect(parseError('machine tlb=pentium')).toMatch(/^t\.mms:1:1: config\.tlb: unknown preset 'pentium'/);
    expect(parseError('map a 1M anon\nrace\ntouch a 0 4K write\nmunmap a 0 4K\nend')).toMatch(/^t\.mms:4:1: 'munmap' cannot race/);
    expect(parseError('map a 1M anon\nrace\ntouch a 0 4K write\nend')).toMatch(/^t\.mms:4:1: a race needs at least two accesses/);
    expect(parseError('map a 1M anon\nrace seed=2\ntouch a 0 4K write')).toMatch(/^t\.mms:2:1: 'race' block without 'end'/);
    expect(parseError('end')).toMatch(/^t\.mms:1:1: 'end' without 'race'/);
    expect(parseError('map a 1M anon\nrandom a 0 1M many read')).toMatch(/^t\.mms:2:15: bad count 'many'/);
    expect(parseError('cpu nobody 0')).toMatch(/unknown process or thread 'nobody'/);
  });

  it('runs threads on CPUs and reports the TLB counters per snapshot, in JSON and in the report', async () => {
    const r = await runScenario(parse(SCRIPT));
    expect(r.errors).toEqual([]);
    const fill = r.snapshots.fill, shoot = r.snapshots.shootdown, race = r.snapshots.race;
    // threads share main's mm: one process in the report
    expect(Object.keys(fill.procs)).toEqual(['main']);
    expect(fill.tlb!.model).toBe('skylake');
    expect(fill.tlb!.cpus.map((c) => c.loads)).toEqual([0, 256, 1000, 0]);
    expect(fill.tlb!.total.stores).toBe(256);
    // mprotect of 16 pages on CPU 0: IPIs to the two other CPUs that ran the mm
    expect(shoot.tlb!.total.ipi_sent - fill.tlb!.total.ipi_sent).toBe(2);
    expect(shoot.tlb!.cpus.map((c, i) => c.ipi_received - fill.tlb!.cpus[i].ipi_received)).toEqual([0, 1, 1, 0]);
    expect(shoot.tlb!.cpus[3].loads).toBe(1);
    // the race: main's 64K folio loses to t1's zero page and main refaults (release-and-refault)
    expect(race.vmstat.pgfault - shoot.vmstat.pgfault).toBe(3);
    expect(race.procs.main.regions.r.Rss).toBe(4);
    expect(race.tlb!.total.race_switches).toBe(1);
    const json = JSON.parse(formatResult(r));
    expect(json.snapshots.race.tlb.cpus).toHaveLength(4);
    const text = formatReport(r);
    expect(text).toMatch(/tlb {6}skylake: l1d \d+ hits \d+ misses/);
    expect(text).toMatch(/cpu 2 {2}.*IPIs 0 sent, 1 received/);
  });

  it('leaves the oracle schema untouched without a TLB model', async () => {
    const r = await runScenario(parse('machine cpus=2\nmap a 64K anon\nthread t cpu=1\nin t touch a 0 64K write\nsnapshot s'));
    expect(r.snapshots.s.tlb).toBeUndefined();
    expect(Object.keys(r.snapshots.s)).toEqual(['line', 'vmstat', 'mthp', 'meminfo', 'hugetlb', 'procs']);
    expect(r.snapshots.s.procs.main.status.RssAnon).toBe(64);
  });
});
