import { describe, it, expect, beforeAll, afterEach, vi } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import {
  parseScenario, runScenario, scenarioVocabulary, formatResult, compareResults, formatReport, canonicalKnobName,
  ScenarioError, Process, UnsupportedFeatureError, MachineBrokenError, HostMemoryError, VERSION, type ParseOptions, type ScenarioResult,
} from '../src/index.js';

let vocab: ParseOptions;
beforeAll(async () => {
  vocab = await scenarioVocabulary();
});
afterEach(() => {
  vi.restoreAllMocks();
});

const parse = (text: string) => parseScenario(text, 't.mms', vocab);
const run = async (text: string) => runScenario(parse(text));
const parseError = (text: string): string => {
  try {
    parse(text);
  } catch (e) {
    expect(e).toBeInstanceOf(ScenarioError);
    return (e as Error).message;
  }
  throw new Error('parsed without error');
};
const EXPECTED = new URL('./conformance/expected/', import.meta.url);

describe('parser: good scripts', () => {
  it('reads every operation, comments, blank lines and tabs', () => {
    const sc = parse([
      '# a comment line',
      'set thp.enabled always   # trailing comment',
      'set\tthp.size.64k\talways',
      '',
      'map a 2M anon',
      'map s 1M shmem private prot=r align=2M skew=8K noreserve populate',
      'map h 2M hugetlb2M shared',
      'madvise a 0 2M hugepage',
      'touch a 0 1M+4K write stride=8K gen=3',
      'store a 0x1000 0x55',
      'expect a 4096 85',
      'verify a 0 2M-4K 1 stride=2M',
      'mprotect a 0 4K r',
      'munmap a 1M 4K',
      'fork c',
      'in c touch a 0 4K read',
      'in c mremap a b skew=4K',
      'exit c',
      'snapshot end',
      'check',
    ].join('\n'));
    expect(sc.ops.map((o) => o.op)).toEqual(['set', 'set', 'map', 'map', 'map', 'madvise', 'touch', 'store', 'expect', 'verify',
      'mprotect', 'munmap', 'fork', 'touch', 'mremap', 'exit', 'snapshot', 'check']);
    expect(sc.leadingSets).toBe(2);
    expect(sc.procs).toEqual(['main', 'c']);
    expect(sc.script).toBe('t.mms');
    const touch = sc.ops[6];
    expect(touch).toMatchObject({ op: 'touch', off: 0, len: 1024 * 1024 + 4096, write: true, stride: 8192, gen: 3, line: 9, col: 1 });
    expect(sc.ops[7]).toMatchObject({ op: 'store', off: 4096, value: 0x55 });
    expect(sc.ops[13]).toMatchObject({ op: 'touch', proc: 1, text: 'in c touch a 0 4K read', col: 6 });
    expect(sc.regions[1]).toMatchObject({ kind: 'shmem', shared: false, prot: 'r', noreserve: true, populate: true, skew: 8192 });
    expect(sc.regions[2]).toMatchObject({ kind: 'hugetlb2M', shared: true });
    expect(sc.regions.map((r) => r.name)).toEqual(['a', 's', 'h', 'b']);
  });

  it('places regions like the oracle: 1 GiB slots (or align), skew, a 4K gap, mremap targets and failed maps included', () => {
    const sc = parse('map a 1M anon\nmap b 2M anon skew=16K\nmap c 4K anon align=4G\nmremap a d\nmap e 3G anon\nmap f 4K anon');
    expect(sc.regions.map((r) => '0x' + r.addr.toString(16))).toEqual([
      '0x600000000000', '0x600040004000', '0x600100000000', '0x600140000000', '0x600180000000', '0x600280000000',
    ]);
    expect(sc.regions[3]).toMatchObject({ name: 'd', size: 1024 * 1024, skew: 0 });
  });

  it('accepts every spelling of a size knob and the extension knobs', () => {
    expect(canonicalKnobName('thp.size.16k')).toBe('thp.size.16K');
    expect(canonicalKnobName('thp.size.16384')).toBe('thp.size.16K');
    expect(canonicalKnobName('thp.size.1024K')).toBe('thp.size.1M');
    expect(canonicalKnobName('hugetlb.2048K')).toBe('hugetlb.2M');
    expect(canonicalKnobName('shmem.size.0x2000')).toBe('shmem.size.8K');
    expect(canonicalKnobName('thp.size.1536K')).toBe('thp.size.1536K'); // not a size: stays unknown
    const sc = parse('set thp.size.16K always\nset thp.size.16k always\nset thp.size.16384 always\nset thp.size.1G always\n' +
      'set hugemmu.mthp.orderSelection preferred-plus-order0\nset vm.overcommit_memory 1');
    const paths = sc.ops.map((o) => (o.op === 'set' ? o.knob.path : ''));
    expect(new Set(paths.slice(0, 3))).toEqual(new Set(['transparent_hugepage/hugepages-16kB/enabled']));
    expect(paths.slice(3)).toEqual(['transparent_hugepage/hugepages-1048576kB/enabled', 'hugemmu/mthp.orderSelection', 'vm/overcommit_memory']);
  });

  it('reads the machine extension line', () => {
    const sc = parse('machine ram=64G data=off levels=5 cpus=2\nmap a 4K anon');
    expect(sc.machine).toEqual({ data: false, ram: 64 * 2 ** 30, pagingLevels: 5, cpus: 2 });
    expect(parse('map a 4K anon').machine).toEqual({ data: true });
  });
});

describe('parser: malformed scripts name file, line, column and give a hint', () => {
  const cases: [string, string][] = [
    ['frobnicate a', "t.mms:1:1: unknown operation 'frobnicate' (operations: set, map, madvise, touch, random, thread, cpu, race, end, store, expect, verify, munmap, mprotect, mremap, fork, in, exit, snapshot, machine, check)"],
    ['map a 2M anon\n  map a 2M anon', "t.mms:2:7: region 'a' already defined (region names are global and unique)"],
    ['map a 3000 anon', 't.mms:1:7: size/skew/align must be non-zero multiples of 4K (usage: map NAME SIZE anon|shmem|hugetlb2M|hugetlb1G [shared|private] [prot=P] [align=A] [skew=S] [noreserve] [populate])'],
    ['map a 2X anon', "t.mms:1:7: bad size '2X' (sizes look like 4096, 0x1000, 4K, 2M, 1G, 1M+4K)"],
    ['map a 2M file', "t.mms:1:10: unknown kind 'file' (kinds: anon, shmem, hugetlb2M, hugetlb1G)"],
    ['map a 2M anon prot=rwz', "t.mms:1:15: bad prot 'rwz' (combine r, w, x, or write 'none')"],
    ['map a 2M anon colour=red', "t.mms:1:15: unknown map option 'colour=red' (options: shared, private, prot=P, align=A, skew=S, noreserve, populate)"],
    ['map a 2M anon skew=1K', 't.mms:1:7: size/skew/align must be non-zero multiples of 4K (usage: map NAME SIZE anon|shmem|hugetlb2M|hugetlb1G [shared|private] [prot=P] [align=A] [skew=S] [noreserve] [populate])'],
    ['map a', "t.mms:1:1: 'map' needs 3 arguments (usage: map NAME SIZE anon|shmem|hugetlb2M|hugetlb1G [shared|private] [prot=P] [align=A] [skew=S] [noreserve] [populate])"],
    ['touch b 0 4K write', "t.mms:1:7: unknown region 'b' (a region exists from its 'map' line on)"],
    ['map a 2M anon\ntouch a 0 4M write', "t.mms:2:11: range 0+4M ends past the end of region 'a' (its size is 2097152 bytes)"],
    ['map a 2M anon\nmadvise a 1 4K dontneed', 't.mms:2:11: offset 1 is not page-aligned (offsets of this operation are multiples of 4K)'],
    ['map a 2M anon\nmadvise a 0 4K frob', "t.mms:2:16: unknown advice 'frob' (advices: "],
    ['map a 2M anon\ntouch a 0 4K poke', 't.mms:2:14: touch needs read|write (usage: touch NAME OFF LEN read|write [stride=S] [gen=G])'],
    ['map a 2M anon\ntouch a 0 4K read stride=0', 't.mms:2:19: stride must be > 0 (e.g. stride=4K)'],
    ['map a 2M anon\ntouch a 0 4K read colour=1', "t.mms:2:19: unknown option 'colour=1' (usage: touch NAME OFF LEN read|write [stride=S] [gen=G])"],
    ['map a 2M anon\ntouch a 0 4K write gen=x', "t.mms:2:20: bad generation 'gen=x' (gen=G takes a number)"],
    ['map a 2M anon\nverify a 0 4K x', "t.mms:2:15: bad generation 'x' (a number; 0 means zero bytes)"],
    ['map a 2M anon\nverify a 0 4K 1 gen=2', "t.mms:2:17: unknown option 'gen=2' (usage: verify NAME OFF LEN GEN [stride=S])"],
    ['map a 2M anon\nstore a 0 256', "t.mms:2:11: byte '256' not 0..255 (e.g. 0x10 or 16)"],
    ['map a 2M anon\nexpect a 2M 1', "t.mms:2:10: offset 2M outside region 'a' (its size is 2097152 bytes)"],
    ['map a 2M anon\nmunmap a 0 4K extra', "t.mms:2:15: unexpected argument 'extra' (usage: munmap NAME OFF LEN)"],
    ['map a 2M anon\nmprotect a 0 4K rq', "t.mms:2:17: bad prot 'rq' (combine r, w, x, or write 'none')"],
    ['map a 2M anon\nmremap a a', "t.mms:2:10: region 'a' already defined (region names are global and unique)"],
    ['map a 2M anon\nmremap a b skew=3', 't.mms:2:12: skew must be a multiple of 4K (usage: mremap NAME NEWNAME [skew=S])'],
    ['map a 2M anon\nmremap a b far', "t.mms:2:12: unknown option 'far' (usage: mremap NAME NEWNAME [skew=S])"],
    ['set thp.enabeld always', "t.mms:1:5: unknown or unsupported setting 'thp.enabeld' ('hugemmu knobs' lists them)"],
    ['set thp.size.8K always', "t.mms:1:5: unknown or unsupported setting 'thp.size.8K' ('hugemmu knobs' lists them)"],
    ['set thp.enabled', "t.mms:1:1: 'set' needs 2 arguments (usage: set KNOB VALUE)"],
    ['in c touch a 0 4K read', "t.mms:1:4: unknown child 'c' (a child exists from its 'fork CHILD' line on)"],
    ['fork c\nin c', "t.mms:2:1: 'in' needs a child and an operation (usage: in CHILD OP...)"],
    ['fork c\nin c fork d', "t.mms:2:6: 'fork' cannot run inside a child (in a child: map, madvise, touch, store, expect, verify, munmap, mprotect, mremap, random)"],
    ['fork c\nin c snapshot x', "t.mms:2:6: 'snapshot' cannot run inside a child (in a child: map, madvise, touch, store, expect, verify, munmap, mprotect, mremap, random)"],
    ['fork c\nfork c', "t.mms:2:6: process 'c' already defined (process names are unique; main is taken)"],
    ['fork main', "t.mms:1:6: process 'main' already defined (process names are unique; main is taken)"],
    ['exit main', "t.mms:1:6: unknown child 'main' (a child exists from its 'fork CHILD' line on; main cannot exit)"],
    ['snapshot s\nsnapshot s', "t.mms:2:10: duplicate snapshot label 's' (labels are unique)"],
    ['snapshot', "t.mms:1:1: 'snapshot' needs 1 argument (usage: snapshot LABEL)"],
    ['machine data=off\nmap a 4K anon\nverify a 0 4K 1', "t.mms:3:1: 'verify' reads page contents, but the machine line has data=off (remove data=off to check contents)"],
    ['map a 4K anon\nmachine ram=1G', "t.mms:2:1: 'machine' must come first and only once (put it before every other operation)"],
    ['machine ram=lots', "t.mms:1:9: bad size 'lots' (sizes look like 4096, 0x1000, 4K, 2M, 1G, 1M+4K)"],
    ['machine colour=red', "t.mms:1:9: bad machine option 'colour=red' (usage: machine [ram=SIZE] [data=on|off] [levels=4|5] [cpus=N] [tlb=PRESET|off])"],
    ['machine ram=16M', 't.mms:1:1: config.ram: 16777216 bytes is too small (at least 64M) (usage: machine [ram=SIZE] [data=on|off] [levels=4|5] [cpus=N] [tlb=PRESET|off])'],
    ['check now', "t.mms:1:7: unexpected argument 'now' (usage: check)"],
  ];
  it.each(cases)('%j', (text, message) => {
    const got = parseError(text);
    if (message.endsWith('(advices: ')) expect(got.startsWith(message)).toBe(true);
    else expect(got).toBe(message);
  });

  it('keeps the parsed fields for tools', () => {
    try {
      parse('map a 2M anon\ntouch a 0 4K poke');
    } catch (e) {
      expect(e).toMatchObject({ file: 't.mms', line: 2, col: 14, reason: 'touch needs read|write' });
    }
  });
});

describe('runner', () => {
  it('reports deltas from the reference point after the leading sets, with the schema order', async () => {
    const r = await run('set thp.size.64K always\nmap a 256K anon\ntouch a 0 64K write\nsnapshot s\nverify a 0 64K 1\nverify a 64K 192K 0');
    expect(Object.keys(r)).toEqual(['oracle', 'script', 'kernel', 'runs', 'settings', 'snapshots', 'errors', 'mismatches', 'unstable_fields']);
    expect(r.oracle).toBe(`hugemmu/${VERSION}`);
    expect(r.settings['thp.size.64K']).toBe('always');
    expect(r.settings['khugepaged.scan_sleep_millisecs']).toBe('3600000'); // the oracle's baseline, not the model's default
    const s = r.snapshots.s;
    expect(Object.keys(s)).toEqual(['line', 'vmstat', 'mthp', 'meminfo', 'hugetlb', 'procs']);
    expect(s.line).toBe(4);
    expect(s.vmstat.pgfault).toBe(1);
    expect(Object.keys(s.vmstat).every((k) => k === 'pgfault' || k === 'pgmajfault' || k.startsWith('thp_'))).toBe(true);
    expect(s.mthp['64kB'].anon_fault_alloc).toBe(1);
    expect(s.meminfo).toEqual({ AnonPages: 64, AnonHugePages: 0, Shmem: 0, ShmemHugePages: 0, ShmemPmdMapped: 0, HugePages_Free: 0, HugePages_Rsvd: 0, PageTables: 12 });
    expect(s.procs.main.status).toEqual({ VmRSS: 64, RssAnon: 64, RssShmem: 0, VmPTE: 12 });
    expect(s.procs.main.faults).toEqual({ minflt: 1, majflt: 0 });
    const a = s.procs.main.regions.a;
    const expectedKeys = Object.keys(JSON.parse(readFileSync(new URL('thp_madvise_fault.json', EXPECTED), 'utf8')).snapshots.mapped.procs.main.regions.a);
    expect(Object.keys(a)).toEqual(expectedKeys);
    expect(a).toMatchObject({ addr: '0x600000000000', nr_vmas: 1, vmas_kB: [[0, 256]], Size: 256, Rss: 64, THPeligible: 1, KernelPageSize: 4, VmFlags: 'rd wr mr mw me ac' });
    expect(r.errors).toEqual([]);
    expect(r.mismatches).toEqual([]);
  });

  it('turns failures into errors entries: errno names, signals at region offsets, read-back, missing features', async () => {
    const r = await run([
      'map a 8K anon', 'munmap a 0 8K', 'madvise a 0 8K dontneed',
      'map b 2M anon', 'mprotect b 1M 1M r', 'touch b 0 2M write',
      'set thp.enabled sometimes',
      'madvise b 0 4K collapse', 'map h 2M hugetlb2M', 'map z 4K anon', 'snapshot s',
    ].join('\n'));
    expect(r.errors.slice(0, 3)).toEqual([
      { line: 3, proc: 'main', op: 'madvise a 0 8K dontneed', error: 'ENOMEM' },
      { line: 6, proc: 'main', op: 'touch b 0 2M write', error: 'SIGSEGV at offset 0x100000' },
      { line: 7, proc: 'main', op: 'set thp.enabled sometimes', error: 'EINVAL' },
    ]);
    // collapse succeeds, fails with an errno or is reported as not supported yet, never silently
    const collapse = r.errors.find((e) => e.line === 8);
    if (collapse) expect(collapse.error).toMatch(/^(E[A-Z]+|not supported yet: .*collapse.*)$/);
    // a pool of 0 pages: hugetlb mmap fails (ENOMEM, or not supported yet); the region is not held, its slot is used
    expect(r.errors.find((e) => e.line === 9)?.error).toMatch(/^(ENOMEM|not supported yet: .*)$/);
    const regions = r.snapshots.s.procs.main.regions;
    expect(Object.keys(regions)).toEqual(['a', 'b', 'z']);
    expect(regions.z.addr).toBe('0x6000c0000000');
    // a fully unmapped region stays listed, with nothing in it
    expect(regions.a).toMatchObject({ nr_vmas: 0, vmas_kB: [], Size: 0, THPeligible: 0, KernelPageSize: 0, VmFlags: '' });
    // the partial write happened: 256 pages before the fault
    expect(regions.b).toMatchObject({ nr_vmas: 2, vmas_kB: [[0, 1024], [1024, 1024]], Rss: 1024, VmFlags: 'rd wr mr mw me ac' });
  });

  it('names the missing feature of an operation the model lacks, and keeps going', async () => {
    vi.spyOn(Process.prototype, 'fork').mockImplementation(() => {
      throw new UnsupportedFeatureError('fork');
    });
    const r = await run('map a 4K anon\nfork c\nin c touch a 0 4K write\nexit c\ntouch a 0 4K write\nsnapshot s');
    expect(r.errors).toEqual([
      { line: 2, proc: 'main', op: 'fork c', error: 'not supported yet: fork' },
      { line: 3, proc: 'c', op: 'in c touch a 0 4K write', error: 'child not running' },
    ]);
    expect(Object.keys(r.snapshots.s.procs)).toEqual(['main']);
    expect(r.snapshots.s.procs.main.faults.minflt).toBe(1);
  });

  it('keeps going after a host memory failure, and stops with one located line when the core breaks', async () => {
    const touch = vi.spyOn(Process.prototype, 'touch').mockImplementationOnce(() => {
      throw new HostMemoryError('touch at 0x600000000000');
    });
    const r = await run('map a 4K anon\ntouch a 0 4K write\ntouch a 0 4K write');
    expect(r.errors).toEqual([{ line: 2, proc: 'main', op: 'touch a 0 4K write', error: new HostMemoryError('touch at 0x600000000000').message }]);
    touch.mockImplementation(() => {
      throw new MachineBrokenError('core trapped in run: unreachable; the machine state is no longer trusted');
    });
    await expect(run('map a 4K anon\n  touch a 0 4K write')).rejects.toThrow(new ScenarioError('t.mms', 2, 3,
      "'touch a 0 4K write' failed in the emulator: core trapped in run: unreachable; the machine state is no longer trusted",
      'a hugemmu bug: please report it with this script'));
  });

  it('records mismatches of expect and verify with the first bad offset and the count', async () => {
    const r = await run([
      'map a 64K anon', 'touch a 0 64K write', 'touch a 8K 8K write gen=5', 'store a 4K 0x55',
      'expect a 4K 0x11', 'expect a 0 0x10', 'verify a 0 64K 1', 'verify a 0 64K 1 stride=32K', 'verify a 32K 4K 0',
    ].join('\n'));
    expect(r.mismatches).toEqual([
      { line: 5, proc: 'main', region: 'a', off: 4096, expected: 0x11, got: 0x55, count: 1 },
      // the store at 4K and the gen=5 writes at 8K and 12K
      { line: 7, proc: 'main', region: 'a', off: 4096, expected: 0x11, got: 0x55, count: 3 },
      { line: 9, proc: 'main', region: 'a', off: 32768, expected: 0, got: 0x18, count: 1 },
    ]);
    expect(r.errors).toEqual([]);
  });

  it('writes the pattern of the region offset, whatever the touched range', async () => {
    const r = await run('map a 1M anon skew=4K\ntouch a 512K 8K write stride=1\nexpect a 512K 0x90\nexpect a 516K+1 0x91\nverify a 512K 8K 1 stride=1');
    expect(r.mismatches).toEqual([]);
  });

  it('sets extension knobs and reports them after the oracle knobs', async () => {
    const r = await run('set thp.size.1G always\nset hugemmu.mthp.orderSelection preferred-plus-order0\nmap a 4K anon');
    const names = Object.keys(r.settings);
    expect(names.slice(0, 5)).toEqual(['thp.enabled', 'thp.defrag', 'thp.use_zero_page', 'thp.shrink_underused', 'shmem.enabled']);
    expect(names.indexOf('thp.size.1G')).toBeGreaterThan(names.indexOf('khugepaged.alloc_sleep_millisecs'));
    expect(r.settings['thp.size.1G']).toBe('always');
    expect(r.settings['hugemmu.mthp.orderSelection']).toBe('preferred-plus-order0');
    expect(r.errors).toEqual([]);
  });

  it('runs the invariant checker on request', async () => {
    const r = await runScenario(parse('map a 2M anon\ntouch a 0 2M write\ncheck\nmunmap a 1M 4K'), { check: true });
    expect(r.errors).toEqual([]);
  });

  it('reports progress per operation', async () => {
    const seen: number[] = [];
    await runScenario(parse('set thp.enabled never\nmap a 4K anon\nsnapshot s'), { onProgress: (d, t) => seen.push(d * 10 + t) });
    expect(seen).toEqual([13, 23, 33]);
  });

  it('with fork: children hold main\'s regions, write their generation, and the PGD is bookkeeping', async (ctx) => {
    const r = await run('map a 64K anon\ntouch a 0 64K write\nfork c\nmap b 4K anon\nin c touch a 0 4K write\nin c expect a 0 0x20\nexpect a 0 0x10\nsnapshot s');
    if (r.errors.some((e) => e.error === 'not supported yet: fork')) return ctx.skip();
    expect(r.errors).toEqual([]);
    expect(r.mismatches).toEqual([]);
    const s = r.snapshots.s;
    expect(Object.keys(s.procs)).toEqual(['main', 'c']);
    expect(Object.keys(s.procs.c.regions)).toEqual(['a']);
    expect(s.procs.c.faults.minflt).toBe(1);
    // PageTables: main's and the child's tables for a and b, without the child's PGD
    expect(s.meminfo.PageTables).toBe(s.procs.main.status.VmPTE + s.procs.c.status.VmPTE);
  });

  it('with mremap: the region moves to its new name and slot', async (ctx) => {
    const r = await run('map a 64K anon\ntouch a 0 64K write\nmremap a b skew=4K\nsnapshot s\nverify b 0 64K 1');
    if (r.errors.some((e) => e.error === 'not supported yet: mremap')) return ctx.skip();
    expect(r.errors).toEqual([]);
    expect(r.mismatches).toEqual([]);
    expect(Object.keys(r.snapshots.s.procs.main.regions)).toEqual(['b']);
    expect(r.snapshots.s.procs.main.regions.b).toMatchObject({ addr: '0x600040001000', Rss: 64 });
  });
});

describe('output schema and text', () => {
  it("lays out JSON exactly like the oracle (every recorded file re-formats to itself)", () => {
    for (const f of readdirSync(EXPECTED).filter((n) => n.endsWith('.json'))) {
      const text = readFileSync(new URL(f, EXPECTED), 'utf8');
      expect(formatResult(JSON.parse(text) as ScenarioResult), f).toBe(text);
    }
  });

  it('round-trips a run through its text', async () => {
    const r = await run('map a 64K anon\ntouch a 0 64K write\nsnapshot one\nmunmap a 16K 16K\nsnapshot two\nstore a 16K 1');
    expect(JSON.parse(formatResult(r))).toEqual(r);
    expect(r.errors[0].error).toBe('SIGSEGV at offset 0x4000');
  });

  it('reports for people', async () => {
    const r = await run('set thp.size.64K always\nmap a 256K anon\ntouch a 0 256K write\nmunmap a 64K 4K\nsnapshot s\ntouch a 64K 4K write');
    const text = formatReport(r);
    expect(text).toContain('settings: baseline, except thp.size.64K=always');
    expect(text).toContain("snapshot 's' (line 5)");
    expect(text).toContain('mthp     64kB: anon_fault_alloc 4');
    expect(text).toMatch(/a +0x600000000000 +2 +252 +252 +252/);
    expect(text).toContain('a: VMAs at +0K (64K), +68K (188K)');
    expect(text).toContain('line 6 [main] touch a 64K 4K write: SIGSEGV at offset 0x10000');
    expect(text).toContain('mismatches: none');
  });
});

describe('compare (compare.py)', () => {
  const exp = {
    snapshots: { s: { vmstat: { pgfault: 2, thp_fault_alloc: { unstable: [1, 2] } }, procs: { main: { regions: { a: { VmFlags: 'rd wr', nr_vmas: 1 } } } } } },
    errors: [],
    mismatches: [{ line: 3, off: 0 }],
    settings: { 'thp.enabled': 'always' },
    unstable_fields: ['snapshots.s.vmstat.thp_fault_alloc'],
  };
  const act = () => JSON.parse(JSON.stringify({ ...exp, settings: {}, extra: 1 }));

  it('accepts equal values, skips unstable numbers, settings and extra keys', () => {
    const a = act();
    a.snapshots.s.vmstat.thp_fault_alloc = 7;
    a.snapshots.s.vmstat.more = 1;
    expect(compareResults(exp, a)).toEqual([]);
    const b = act();
    b.snapshots.s.vmstat.pgfault = { unstable: [2, 3] };
    expect(compareResults(exp, b)).toEqual([]);
  });

  it("words differences like compare.py", () => {
    const a = act();
    a.snapshots.s.vmstat.pgfault = 3;
    a.snapshots.s.procs.main.regions.a.VmFlags = "rd it's";
    delete a.snapshots.s.procs.main.regions.a.nr_vmas;
    a.errors = [{ line: 1, op: 'fork c', error: 'not supported yet: fork' }];
    a.mismatches = 'none';
    expect(compareResults(exp, a)).toEqual([
      'snapshots.s.vmstat.pgfault: expected 2, got 3',
      `snapshots.s.procs.main.regions.a.VmFlags: expected 'rd wr', got "rd it's"`,
      'snapshots.s.procs.main.regions.a.nr_vmas: missing',
      'errors: expected [], got [{"line": 1, "op": "fork c", "error": "not supported yet: fork"}]',
      'mismatches: expected [{"line": 3, "off": 0}], got "none"',
    ]);
    const b = act();
    b.snapshots.s.procs = 5;
    delete b.mismatches;
    expect(compareResults(exp, b)).toEqual(['snapshots.s.procs: expected an object, got 5', 'mismatches: expected [{"line": 3, "off": 0}], got null']);
  });

  it('ignores keys given like -i and refuses structurally unstable expectations', () => {
    const a = act();
    a.snapshots.s.vmstat.pgfault = 3;
    expect(compareResults(exp, a, ['pgfault'])).toEqual([]);
    expect(compareResults({ ...exp, unstable_fields: ['*'] }, a)).toEqual(['runs differed in structure; nothing is reliable']);
  });
});
