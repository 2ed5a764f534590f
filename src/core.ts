/**
 * Loading and calling the wasm core. Everything the host knows about the
 * core's memory layout and names comes from the core's exports.
 * Only loadWasmBytes() touches Node APIs (to read the file); a browser
 * fetches the same bytes.
 */
import { instantiate, type ASUtil } from '@assemblyscript/loader';
import { MachineBrokenError } from './errors.js';

export type CoreFlavor = 'release' | 'debug';

/** The raw exports (numbers in, numbers out). */
export interface CoreExports {
  memory: WebAssembly.Memory;
  machine_init(): number;
  spawn(): number;
  process_exit(pid: number): number;
  sys_mmap(pid: number, addr: number, len: number, prot: number, flags: number, align: number): number;
  sys_munmap(pid: number, addr: number, len: number): number;
  sys_mprotect(pid: number, addr: number, len: number, prot: number): number;
  sys_madvise(pid: number, addr: number, len: number, advice: number): number;
  run(first: number, n: number): number;
  proc_status(pid: number): number;
  proc_smaps(pid: number, first: number, max: number): number;
  nr_vmas(pid: number): number;
  sysfs_set(id: number, value: number): number;
  sysfs_get(id: number): number;
  invariants(): number;
  inject_alloc_failures(n: number, minOrder: number, maxOrder: number, skip: number): void;
  free_pages_count(): number;
  mthp_stat_exists(order: number, stat: number): number;
  names_vm_events(): number;
  names_node_stats(): number;
  names_mthp_stats(): number;
  names_knobs(): number;
  names_errno(): number;
  names_vm_flags(): number;
  names_smaps_fields(): number;
  names_invariants(): number;
  names_madvise(): number;
  [name: string]: unknown;
}

/** Layout constants and name tables, read once per compiled module. */
export interface CoreInfo {
  c: Record<string, number>;
  vmEvents: string[];
  nodeStats: string[];
  mthpStats: string[];
  mthpPresent: boolean[][]; // [order][stat]
  knobs: KnobInfo[];
  errno: Map<number, string>;
  vmFlags: string[];
  smapsFields: string[];
  invariants: Map<number, string>;
  madvise: Map<string, number>;
}

export interface KnobInfo {
  id: number;
  path: string;
  /** enumerated spellings (index = stored value), or undefined for integers */
  values?: string[];
  min: number;
  max: number;
  default: string;
}

const modules = new Map<CoreFlavor, Promise<WebAssembly.Module>>();
let info: CoreInfo | undefined;

function wasmUrl(flavor: CoreFlavor): URL {
  return new URL(flavor === 'debug' ? '../build/hugemmu.debug.wasm' : '../build/hugemmu.wasm', import.meta.url);
}

async function loadWasmBytes(flavor: CoreFlavor): Promise<BufferSource> {
  const url = wasmUrl(flavor);
  if (url.protocol === 'file:') {
    const { readFile } = await import('node:fs/promises');
    try {
      return await readFile(url);
    } catch (err) {
      throw new Error(`cannot read the hugemmu core ${url.pathname}: run 'npm run build' first (${(err as Error).message})`);
    }
  }
  const res = await fetch(url);
  if (!res.ok) throw new Error(`cannot fetch the hugemmu core ${url}: HTTP ${res.status}`);
  return await res.arrayBuffer();
}

export function defaultFlavor(): CoreFlavor {
  const env = typeof process !== 'undefined' ? process.env.HUGEMMU_CORE : undefined;
  return env === 'debug' ? 'debug' : 'release';
}

function compile(flavor: CoreFlavor): Promise<WebAssembly.Module> {
  let p = modules.get(flavor);
  if (!p) {
    p = loadWasmBytes(flavor).then((b) => WebAssembly.compile(b));
    modules.set(flavor, p);
  }
  return p;
}

/** One instance of the core: one emulated machine. */
export class Core {
  readonly e: CoreExports;
  readonly util: ASUtil;
  readonly info: CoreInfo;
  private dv: DataView;
  private broken: string | undefined;

  private constructor(inst: ASUtil & CoreExports) {
    this.e = inst as unknown as CoreExports;
    this.util = inst;
    this.dv = new DataView(this.e.memory.buffer);
    this.info = info ?? (info = readInfo(inst));
  }

  static async create(flavor: CoreFlavor = defaultFlavor()): Promise<Core> {
    const mod = await compile(flavor);
    let core: Core | undefined;
    const imports = {
      env: {
        abort(msg: number, file: number, line: number, col: number) {
          const u = core?.util;
          const text = u ? `${u.__getString(msg)} (${u.__getString(file)}:${line}:${col})` : 'abort';
          throw new WebAssembly.RuntimeError(`core assertion failed: ${text}`);
        },
      },
    };
    const inst = await instantiate<CoreExports>(mod, imports);
    core = new Core(inst.exports as unknown as ASUtil & CoreExports);
    return core;
  }

  get c(): Record<string, number> {
    return this.info.c;
  }

  /** A DataView over the current memory (re-created after memory.grow). */
  view(): DataView {
    if (this.dv.buffer !== this.e.memory.buffer) this.dv = new DataView(this.e.memory.buffer);
    return this.dv;
  }

  /** Call into the core; a trap breaks the machine for good. */
  call<T>(what: string, fn: () => T): T {
    if (this.broken) throw new MachineBrokenError(`the machine trapped earlier (${this.broken}) and refuses further calls`);
    try {
      return fn();
    } catch (err) {
      if (err instanceof WebAssembly.RuntimeError || err instanceof RangeError) {
        this.broken = `${what}: ${err.message}`;
        throw new MachineBrokenError(`core trapped in ${what}: ${err.message}; the machine state is no longer trusted and further calls are refused`);
      }
      throw err;
    }
  }

  get isBroken(): boolean {
    return this.broken !== undefined;
  }

  status(): number {
    return this.view().getInt32(this.c.LAYOUT_CTRL + this.c.CTRL_STATUS, true);
  }

  hostBytes(): number {
    return this.view().getFloat64(this.c.LAYOUT_CTRL + this.c.CTRL_HOST_BYTES, true);
  }

  heapUsed(): number {
    return this.view().getFloat64(this.c.LAYOUT_CTRL + this.c.CTRL_HEAP_USED, true);
  }
}

function lines(s: string): string[] {
  return s.split('\n').filter((l) => l.length > 0);
}

function readInfo(u: ASUtil & CoreExports): CoreInfo {
  const str = (ptr: number) => u.__getString(ptr);
  const c: Record<string, number> = {};
  for (const [k, v] of Object.entries(u)) {
    if (v instanceof WebAssembly.Global && /^[A-Z][A-Z0-9_]*$/.test(k)) c[k] = Number(v.value);
  }
  const mthpStats = lines(str(u.names_mthp_stats()));
  const mthpPresent: boolean[][] = [];
  for (let o = 0; o < c.MTHP_ORDERS; o++) mthpPresent.push(mthpStats.map((_, s) => u.mthp_stat_exists(o, s) !== 0));
  const knobs: KnobInfo[] = lines(str(u.names_knobs())).map((l) => {
    const [id, path, kind, def] = l.split('|');
    if (kind.startsWith('int:')) {
      const [, min, max] = kind.split(':');
      return { id: Number(id), path, min: Number(min), max: Number(max), default: def };
    }
    const values = kind.split(',');
    return { id: Number(id), path, values, min: 0, max: values.length - 1, default: def };
  });
  const pairs = (s: string) => lines(s).map((l) => [Number(l.slice(0, l.indexOf(' '))), l.slice(l.indexOf(' ') + 1)] as const);
  return {
    c,
    vmEvents: lines(str(u.names_vm_events())),
    nodeStats: lines(str(u.names_node_stats())),
    mthpStats,
    mthpPresent,
    knobs,
    errno: new Map(pairs(str(u.names_errno()))),
    vmFlags: str(u.names_vm_flags()).split(' ').map((f) => (f === '..' ? '' : f)),
    smapsFields: lines(str(u.names_smaps_fields())),
    invariants: new Map(pairs(str(u.names_invariants()))),
    madvise: new Map(pairs(str(u.names_madvise())).map(([n, name]) => [name, n] as const)),
  };
}
