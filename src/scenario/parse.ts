/**
 * Parser of .mms scenario scripts (conformance/README.md; the checks of
 * oracle.c parse_line()). The whole script is parsed and placed before
 * anything runs, so a malformed script changes nothing. Every error names
 * file, line and column and carries a hint.
 */
import { parseSize, GiB, MiB } from '../units.js';
import { resolveConfig, type MachineConfig } from '../config.js';
import { ConfigError } from '../errors.js';
import { canonicalKnobName, type ScenarioKnob } from './knobs.js';

export const ARENA = 0x600000000000;
const SLOT = GiB;
const PAGE = 4096;

/** A malformed scenario (or a failure that stops it), as `FILE:LINE:COL: message (hint)`. */
export class ScenarioError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly col: number,
    readonly reason: string,
    readonly hint?: string,
  ) {
    super(`${file}${line ? `:${line}:${col}` : ''}: ${reason}${hint ? ` (${hint})` : ''}`);
    this.name = 'ScenarioError';
  }
}

export type RegionKind = 'anon' | 'shmem' | 'hugetlb2M' | 'hugetlb1G';

export interface Region {
  name: string;
  kind: RegionKind;
  shared: boolean;
  prot: string;
  noreserve: boolean;
  populate: boolean;
  size: number;
  align: number;
  skew: number;
  /** fixed address in the arena, assigned in script order */
  addr: number;
}

interface OpBase {
  line: number;
  /** column of the operation word */
  col: number;
  /** the line's tokens joined by single spaces, as errors show it ("in c touch a 0 4K write") */
  text: string;
  /** index into Scenario.procs of the process that runs it (0 = main) */
  proc: number;
}

export type Op = OpBase & (
  | { op: 'set'; knob: ScenarioKnob; value: string }
  | { op: 'map'; region: number }
  | { op: 'madvise'; region: number; off: number; len: number; advice: string }
  | { op: 'touch'; region: number; off: number; len: number; write: boolean; fetch?: boolean; stride: number; gen: number }
  | { op: 'store' | 'expect'; region: number; off: number; value: number }
  | { op: 'verify'; region: number; off: number; len: number; gen: number; stride: number }
  | { op: 'munmap'; region: number; off: number; len: number }
  | { op: 'mprotect'; region: number; off: number; len: number; prot: string }
  | { op: 'mremap'; region: number; to: number }
  | { op: 'fork' | 'exit'; child: number }
  | { op: 'snapshot'; label: string }
  | { op: 'check' }
  // extensions for CPUs, threads and the TLB model
  | { op: 'random'; region: number; off: number; len: number; count: number; write: boolean; fetch: boolean; seed: number; granule: number }
  | { op: 'thread'; child: number; of: number; cpu: number }
  | { op: 'cpu'; target: number; cpu: number }
  | { op: 'race'; seed: number; at: 'any' | 'fault' | 'pte-lock'; members: Op[] }
);

export interface Scenario {
  /** file name as given (for messages) */
  file: string;
  /** base name, the `script` field of the output */
  script: string;
  ops: Op[];
  regions: Region[];
  /** process names: 'main', then children in fork order (and threads in creation order) */
  procs: string[];
  /** for each entry of procs: its own index, or for a thread the index of its process */
  leaders: number[];
  /** from the `machine` extension line (data mode on unless data=off) */
  machine: MachineConfig;
  /** the leading `set`s: ops[0..leadingSets) are the configuration before the reference point */
  leadingSets: number;
}

export interface ParseOptions {
  /** the knobs `set` may name (scenarioKnobTable()) */
  knobs: ScenarioKnob[];
  /** madvise advice names the model knows (oracle names plus extensions) */
  advices: ReadonlySet<string>;
}

/** madvise advices of the oracle (anything else the model knows is an extension) */
export const ORACLE_ADVICES = ['hugepage', 'nohugepage', 'dontneed', 'free', 'pageout', 'cold', 'collapse', 'populate_read',
  'populate_write', 'remove', 'willneed', 'normal', 'random', 'sequential', 'dontfork', 'dofork', 'wipeonfork', 'keeponfork'];

const USAGE: Record<string, string> = {
  set: 'set KNOB VALUE',
  map: 'map NAME SIZE anon|shmem|hugetlb2M|hugetlb1G [shared|private] [prot=P] [align=A] [skew=S] [noreserve] [populate]',
  madvise: 'madvise NAME OFF LEN ADVICE',
  touch: 'touch NAME OFF LEN read|write [stride=S] [gen=G]',
  random: 'random NAME OFF LEN COUNT read|write|fetch [seed=S] [granule=G]',
  thread: 'thread NAME [of=PROC] [cpu=N]',
  cpu: 'cpu PROC N',
  race: 'race [seed=N] [at=any|fault|pte-lock] ... end',
  end: 'end',
  store: 'store NAME OFF BYTE',
  expect: 'expect NAME OFF BYTE',
  verify: 'verify NAME OFF LEN GEN [stride=S]',
  munmap: 'munmap NAME OFF LEN',
  mprotect: 'mprotect NAME OFF LEN PROT',
  mremap: 'mremap NAME NEWNAME [skew=S]',
  fork: 'fork CHILD',
  in: 'in CHILD OP...',
  exit: 'exit CHILD',
  snapshot: 'snapshot LABEL',
  machine: 'machine [ram=SIZE] [data=on|off] [levels=4|5] [cpus=N] [tlb=PRESET|off]',
  check: 'check',
};
const LOCAL_OPS = new Set(['map', 'madvise', 'touch', 'store', 'expect', 'verify', 'munmap', 'mprotect', 'mremap', 'random']);
const RACE_OPS = new Set(['touch', 'store', 'random']);
const KINDS: RegionKind[] = ['anon', 'shmem', 'hugetlb2M', 'hugetlb1G'];
const SIZE_HINT = 'sizes look like 4096, 0x1000, 4K, 2M, 1G, 1M+4K';

interface Token {
  text: string;
  col: number;
}

function tokenize(line: string): Token[] {
  const code = line.split('#')[0];
  const out: Token[] = [];
  for (const m of code.matchAll(/[^ \t\r\n]+/g)) out.push({ text: m[0], col: (m.index ?? 0) + 1 });
  return out;
}

/** 0x1F, 31 */
function parseInt0(s: string): number | undefined {
  if (/^0x[0-9a-f]+$/i.test(s) || /^\d+$/.test(s)) {
    const v = Number(s);
    return Number.isSafeInteger(v) ? v : undefined;
  }
  return undefined;
}

function alignUp(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}

/** Parse a script. Throws ScenarioError at the first problem. */
export function parseScenario(text: string, file: string, opts: ParseOptions): Scenario {
  const script = file.split(/[\\/]/).pop() ?? file;
  const knobByName = new Map(opts.knobs.map((k) => [k.name, k]));
  const regions: Region[] = [];
  const procs = ['main'];
  const leaders = [0];
  let race: Extract<Op, { op: 'race' }> | undefined;
  let raceTok: Token | undefined;
  const labels = new Set<string>();
  const ops: Op[] = [];
  let machine: MachineConfig = { data: true };
  let machineLine = 0;
  let cursor = ARENA;
  let leadingSets = -1;

  // Fixed, deterministic placement (oracle.c place()): each region starts in its
  // own 1 GiB slot (or align-sized if larger) after the previous one, plus skew.
  const place = (size: number, align: number, skew: number) => {
    const a = alignUp(cursor, Math.max(align, SLOT)) + skew;
    cursor = a + size + PAGE;
    return a;
  };

  const lines = text.split('\n');
  for (let ln = 1; ln <= lines.length; ln++) {
    const all = tokenize(lines[ln - 1]);
    if (!all.length) continue;
    const bad = (tok: Token, reason: string, hint?: string): never => {
      throw new ScenarioError(file, ln, tok.col, reason, hint);
    };
    let proc = 0;
    let t = all;
    if (all[0].text === 'in') {
      if (all.length < 3) bad(all[0], "'in' needs a child and an operation", `usage: ${USAGE.in}`);
      proc = procs.indexOf(all[1].text);
      if (proc <= 0) bad(all[1], `unknown child '${all[1].text}'`, "a child exists from its 'fork CHILD' line on");
      t = all.slice(2);
    }
    const word = t[0];
    const name = word.text;
    if (!(name in USAGE) || name === 'in') {
      bad(word, `unknown operation '${name}'`, `operations: ${Object.keys(USAGE).join(', ')}`);
    }
    if (proc && !LOCAL_OPS.has(name)) bad(word, `'${name}' cannot run inside a child`, `in a child: ${[...LOCAL_OPS].join(', ')}`);
    const need = (n: number) => {
      if (t.length < n) bad(word, `'${name}' needs ${n - 1} argument${n > 2 ? 's' : ''}`, `usage: ${USAGE[name]}`);
    };
    const atMost = (n: number) => {
      if (t.length > n) bad(t[n], `unexpected argument '${t[n].text}'`, `usage: ${USAGE[name]}`);
    };
    const size = (tok: Token, s = tok.text): number => parseSize(s) ?? bad(tok, `bad size '${s}'`, SIZE_HINT);
    const region = (tok: Token): number => {
      const r = regions.findIndex((x) => x.name === tok.text);
      return r >= 0 ? r : bad(tok, `unknown region '${tok.text}'`, "a region exists from its 'map' line on");
    };
    const newRegion = (tok: Token) => {
      if (regions.some((x) => x.name === tok.text)) bad(tok, `region '${tok.text}' already defined`, 'region names are global and unique');
    };
    const prot = (tok: Token, s: string): string => {
      if (s === 'none' || /^[rwx]+$/.test(s)) return s;
      return bad(tok, `bad prot '${s}'`, "combine r, w, x, or write 'none'");
    };
    // OFF LEN inside the region; OFF aligned to `al`
    const range = (r: number, al: number): { off: number; len: number } => {
      const off = size(t[2]), len = size(t[3]);
      if (off % al) bad(t[2], `offset ${t[2].text} is not page-aligned`, 'offsets of this operation are multiples of 4K');
      if (off + len > regions[r].size)
        bad(t[3], `range ${t[2].text}+${t[3].text} ends past the end of region '${regions[r].name}'`, `its size is ${regions[r].size} bytes`);
      return { off, len };
    };
    const strideOpt = (tok: Token): number => {
      const s = size(tok, tok.text.slice(7));
      return s > 0 ? s : bad(tok, 'stride must be > 0', 'e.g. stride=4K');
    };
    const cpuArg = (tok: Token, v: string): number => {
      const n = parseInt0(v);
      const cpus = machine.cpus ?? 1;
      if (n === undefined || n >= cpus) bad(tok, `bad CPU '${v}'`, `the machine has cpus=${cpus} (numbered from 0; set cpus=N on the 'machine' line)`);
      return n!;
    };
    const needData = () => {
      if (machine.data === false)
        bad(word, `'${name}' reads page contents, but the machine line has data=off`, 'remove data=off to check contents');
    };
    const base = { line: ln, col: word.col, text: all.map((x) => x.text).join(' '), proc };

    if (name !== 'set' && name !== 'machine' && leadingSets < 0) leadingSets = ops.length;
    switch (name) {
      case 'machine': {
        if (ops.length || machineLine) bad(word, "'machine' must come first and only once", 'put it before every other operation');
        machineLine = ln;
        const cfg: MachineConfig = { data: true };
        for (const tok of t.slice(1)) {
          const [k, v] = tok.text.split('=', 2);
          if (v === undefined) bad(tok, `bad machine option '${tok.text}'`, `usage: ${USAGE.machine}`);
          if (k === 'ram') cfg.ram = size(tok, v);
          else if (k === 'data' && (v === 'on' || v === 'off')) cfg.data = v === 'on';
          else if (k === 'levels' && (v === '4' || v === '5')) cfg.pagingLevels = Number(v) as 4 | 5;
          else if (k === 'cpus' && parseInt0(v) !== undefined) cfg.cpus = parseInt0(v);
          else if (k === 'tlb') cfg.tlb = v as MachineConfig['tlb'];
          else bad(tok, `bad machine option '${tok.text}'`, `usage: ${USAGE.machine}`);
        }
        try {
          resolveConfig(cfg);
        } catch (e) {
          if (e instanceof ConfigError) bad(word, e.message, `usage: ${USAGE.machine}`);
          throw e;
        }
        machine = cfg;
        continue;
      }
      case 'set': {
        need(3);
        atMost(3);
        const knob = knobByName.get(canonicalKnobName(t[1].text));
        if (!knob) bad(t[1], `unknown or unsupported setting '${t[1].text}'`, "'hugemmu knobs' lists them");
        ops.push({ ...base, op: 'set', knob: knob!, value: t[2].text });
        break;
      }
      case 'map': {
        need(4);
        newRegion(t[1]);
        const kind = KINDS.find((k) => k === t[3].text) ?? bad(t[3], `unknown kind '${t[3].text}'`, `kinds: ${KINDS.join(', ')}`);
        const R: Region = {
          name: t[1].text, kind, shared: kind === 'shmem', prot: 'rw', noreserve: false, populate: false,
          size: size(t[2]), align: 0, skew: 0, addr: 0,
        };
        R.align = R.size >= GiB || kind === 'hugetlb1G' ? GiB : 2 * MiB;
        for (const tok of t.slice(4)) {
          const o = tok.text;
          if (o === 'shared') R.shared = true;
          else if (o === 'private') R.shared = false;
          else if (o === 'noreserve') R.noreserve = true;
          else if (o === 'populate') R.populate = true;
          else if (o.startsWith('prot=')) R.prot = prot(tok, o.slice(5));
          else if (o.startsWith('align=')) R.align = size(tok, o.slice(6));
          else if (o.startsWith('skew=')) R.skew = size(tok, o.slice(5));
          else bad(tok, `unknown map option '${o}'`, 'options: shared, private, prot=P, align=A, skew=S, noreserve, populate');
        }
        if (!R.size || R.size % PAGE || R.skew % PAGE || !R.align || R.align % PAGE)
          bad(t[2], 'size/skew/align must be non-zero multiples of 4K', `usage: ${USAGE.map}`);
        R.addr = place(R.size, R.align, R.skew);
        regions.push(R);
        ops.push({ ...base, op: 'map', region: regions.length - 1 });
        break;
      }
      case 'madvise': {
        need(5);
        atMost(5);
        const r = region(t[1]);
        const { off, len } = range(r, PAGE);
        if (!opts.advices.has(t[4].text)) bad(t[4], `unknown advice '${t[4].text}'`, `advices: ${[...opts.advices].join(' ')}`);
        ops.push({ ...base, op: 'madvise', region: r, off, len, advice: t[4].text });
        break;
      }
      case 'touch':
      case 'verify': {
        need(5);
        const r = region(t[1]);
        const { off, len } = range(r, 1);
        let stride = PAGE, gen = 0;
        if (name === 'touch') {
          // 'fetch' (instruction fetches through the ITLB) is a hugemmu extension
          if (t[4].text !== 'read' && t[4].text !== 'write' && t[4].text !== 'fetch') bad(t[4], 'touch needs read|write', `usage: ${USAGE.touch}`);
        } else {
          needData();
          gen = parseInt0(t[4].text) ?? bad(t[4], `bad generation '${t[4].text}'`, 'a number; 0 means zero bytes');
        }
        for (const tok of t.slice(5)) {
          if (tok.text.startsWith('stride=')) stride = strideOpt(tok);
          else if (name === 'touch' && tok.text.startsWith('gen='))
            gen = parseInt0(tok.text.slice(4)) ?? bad(tok, `bad generation '${tok.text}'`, 'gen=G takes a number');
          else bad(tok, `unknown option '${tok.text}'`, `usage: ${USAGE[name]}`);
        }
        if (name === 'touch') ops.push({ ...base, op: 'touch', region: r, off, len, write: t[4].text === 'write', fetch: t[4].text === 'fetch', stride, gen });
        else ops.push({ ...base, op: 'verify', region: r, off, len, gen, stride });
        break;
      }
      case 'store':
      case 'expect': {
        need(4);
        atMost(4);
        if (name === 'expect') needData();
        const r = region(t[1]);
        const off = size(t[2]);
        if (off >= regions[r].size) bad(t[2], `offset ${t[2].text} outside region '${regions[r].name}'`, `its size is ${regions[r].size} bytes`);
        const value = parseInt0(t[3].text);
        if (value === undefined || value > 255) bad(t[3], `byte '${t[3].text}' not 0..255`, 'e.g. 0x10 or 16');
        ops.push({ ...base, op: name, region: r, off, value: value! });
        break;
      }
      case 'munmap': {
        need(4);
        atMost(4);
        const r = region(t[1]);
        ops.push({ ...base, op: 'munmap', region: r, ...range(r, PAGE) });
        break;
      }
      case 'mprotect': {
        need(5);
        atMost(5);
        const r = region(t[1]);
        const rg = range(r, PAGE);
        ops.push({ ...base, op: 'mprotect', region: r, ...rg, prot: prot(t[4], t[4].text) });
        break;
      }
      case 'mremap': {
        need(3);
        atMost(4);
        const r = region(t[1]);
        newRegion(t[2]);
        const R: Region = { ...regions[r], name: t[2].text, skew: 0 };
        if (t[3]) {
          if (!t[3].text.startsWith('skew=')) bad(t[3], `unknown option '${t[3].text}'`, `usage: ${USAGE.mremap}`);
          R.skew = size(t[3], t[3].text.slice(5));
          if (R.skew % PAGE) bad(t[3], 'skew must be a multiple of 4K', `usage: ${USAGE.mremap}`);
        }
        R.addr = place(R.size, R.align, R.skew);
        regions.push(R);
        ops.push({ ...base, op: 'mremap', region: r, to: regions.length - 1 });
        break;
      }
      case 'fork': {
        need(2);
        atMost(2);
        if (procs.includes(t[1].text)) bad(t[1], `process '${t[1].text}' already defined`, 'process names are unique; main is taken');
        procs.push(t[1].text);
        leaders.push(procs.length - 1);
        ops.push({ ...base, op: 'fork', child: procs.length - 1 });
        break;
      }
      case 'exit': {
        need(2);
        atMost(2);
        const child = procs.indexOf(t[1].text);
        if (child <= 0) bad(t[1], `unknown child '${t[1].text}'`, "a child exists from its 'fork CHILD' line on; main cannot exit");
        ops.push({ ...base, op: 'exit', child });
        break;
      }
      case 'snapshot': {
        need(2);
        atMost(2);
        if (labels.has(t[1].text)) bad(t[1], `duplicate snapshot label '${t[1].text}'`, 'labels are unique');
        labels.add(t[1].text);
        ops.push({ ...base, op: 'snapshot', label: t[1].text });
        break;
      }
      case 'check':
        atMost(1);
        ops.push({ ...base, op: 'check' });
        break;
      case 'random': {
        need(6);
        const r = region(t[1]);
        const { off, len } = range(r, 1);
        const count = parseInt0(t[4].text) ?? bad(t[4], `bad count '${t[4].text}'`, 'a number of accesses');
        if (!['read', 'write', 'fetch'].includes(t[5].text)) bad(t[5], 'random needs read|write|fetch', `usage: ${USAGE.random}`);
        let seed = 1, granule = 64;
        for (const tok of t.slice(6)) {
          if (tok.text.startsWith('seed=')) seed = parseInt0(tok.text.slice(5)) ?? bad(tok, `bad seed '${tok.text}'`, 'seed=N takes a number');
          else if (tok.text.startsWith('granule=')) granule = size(tok, tok.text.slice(8));
          else bad(tok, `unknown option '${tok.text}'`, `usage: ${USAGE.random}`);
        }
        if (!granule || len < granule) bad(t[3], `LEN must hold at least one granule (${granule} bytes)`, `usage: ${USAGE.random}`);
        ops.push({ ...base, op: 'random', region: r, off, len, count, write: t[5].text === 'write', fetch: t[5].text === 'fetch', seed, granule });
        break;
      }
      case 'thread': {
        need(2);
        atMost(4);
        if (procs.includes(t[1].text)) bad(t[1], `process '${t[1].text}' already defined`, 'process and thread names are unique');
        let of = 0, cpu = -1;
        for (const tok of t.slice(2)) {
          if (tok.text.startsWith('of=')) {
            of = procs.indexOf(tok.text.slice(3));
            if (of < 0) bad(tok, `unknown process '${tok.text.slice(3)}'`, "a child exists from its 'fork CHILD' line on");
          } else if (tok.text.startsWith('cpu=')) cpu = cpuArg(tok, tok.text.slice(4));
          else bad(tok, `unknown option '${tok.text}'`, `usage: ${USAGE.thread}`);
        }
        procs.push(t[1].text);
        leaders.push(leaders[of]);
        ops.push({ ...base, op: 'thread', child: procs.length - 1, of, cpu });
        break;
      }
      case 'cpu': {
        need(3);
        atMost(3);
        const target = procs.indexOf(t[1].text);
        if (target < 0) bad(t[1], `unknown process or thread '${t[1].text}'`, 'main, a forked child or a thread');
        ops.push({ ...base, op: 'cpu', target, cpu: cpuArg(t[2], t[2].text) });
        break;
      }
      case 'race': {
        atMost(3);
        if (race) bad(word, "'race' inside a race block", "close the block with 'end' first");
        let seed = 0;
        let at: 'any' | 'fault' | 'pte-lock' = 'any';
        for (const tok of t.slice(1)) {
          if (tok.text.startsWith('seed=')) seed = parseInt0(tok.text.slice(5)) ?? bad(tok, `bad seed '${tok.text}'`, 'seed=N takes a number (0: preempt at every lock point)');
          else if (tok.text === 'at=any' || tok.text === 'at=fault' || tok.text === 'at=pte-lock') at = tok.text.slice(3) as typeof at;
          else bad(tok, `unknown option '${tok.text}'`, `usage: ${USAGE.race}`);
        }
        race = { ...base, op: 'race', seed, at, members: [] };
        raceTok = word;
        continue;
      }
      case 'end': {
        atMost(1);
        if (!race) bad(word, "'end' without 'race'", `usage: ${USAGE.race}`);
        if (race!.members.length < 2) bad(word, 'a race needs at least two accesses', "put two or more 'touch', 'store' or 'random' lines in the block");
        ops.push(race!);
        race = undefined;
        continue;
      }
    }
    if (race) {
      // inside a race block: the line is one of the racing accesses
      const o = ops.pop()!;
      if (!RACE_OPS.has(o.op)) bad(word, `'${name}' cannot race`, `a race block holds ${[...RACE_OPS].join(', ')} lines (with 'in PROC' for other tasks)`);
      race.members.push(o);
    }
  }
  if (race) throw new ScenarioError(file, race.line, raceTok!.col, "'race' block without 'end'", `usage: ${USAGE.race}`);
  return {
    file, script, ops, regions, procs, leaders, machine,
    leadingSets: leadingSets < 0 ? ops.length : leadingSets,
  };
}
