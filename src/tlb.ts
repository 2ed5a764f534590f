/**
 * TLB presets and geometries (data only; ../shared/spec/TLB-PRESETS.md), their
 * encoding for the core, and the counters the core keeps per CPU. The core owns
 * the counter names (names_tlb_counters); this module never lists them.
 */
import { ConfigError } from './errors.js';

export type PageSize = '4K' | '16K' | '32K' | '64K' | '2M' | '32M' | '512M' | '1G';
export type Replacement = 'lru' | 'fifo' | 'random';

/** One set-associative array of a TLB level (ways === entries: fully associative). */
export interface TlbArray {
  pageSizes: PageSize[];
  entries: number;
  ways: number;
  /** default 'lru' */
  replacement?: Replacement;
}

/** A page-walk cache: entries of one page-table level, keyed by the VA bits above it. */
export interface WalkCache {
  /** 'pde' (VA>>21, skips 3 levels), 'pdpte' (>>30), 'pml4e' (>>39), 'pml5e' (>>48) */
  level: 'pde' | 'pdpte' | 'pml4e' | 'pml5e';
  entries: number;
  ways: number;
}

export interface TlbGeometry {
  /** 'x86' (IPI shootdowns, PCID slots) or 'arm64' (broadcast TLBI, ASIDs) */
  arch: 'x86' | 'arm64';
  l1d: TlbArray[];
  l1i: TlbArray[];
  /** the L2 (STLB); unified for data and instruction fetches unless l2i is given */
  l2: TlbArray[];
  /** a separate L2 instruction TLB (zen2) */
  l2i?: TlbArray[];
  pwc?: WalkCache[];
  /** arm64 contpte (16 x 4K = 64K entries), AMD-style coalescing of `factor` aligned 4K PTEs */
  coalesce?: { kind: 'none' } | { kind: 'contpte' } | { kind: 'amd'; factor: 4 | 8 };
  /** AMD family 16h: INVLPG flushes the whole TLB once smashed (fractured) entries exist */
  invlpgFullFlushOnSmashed?: boolean;
  /** concurrent hardware walks (metadata: the model has no timing) */
  walkers?: number;
  /** where the numbers come from */
  sources?: string[];
}

const SHIFT: Record<PageSize, number> = { '4K': 12, '16K': 14, '32K': 15, '64K': 16, '2M': 21, '32M': 25, '512M': 29, '1G': 30 };
const PWC_SHIFT = { pde: 21, pdpte: 30, pml4e: 39, pml5e: 48 } as const;
const REPL = { lru: 0, fifo: 1, random: 2 } as const;

/**
 * Walk-cache sizes of Intel and AMD cores are not published (TLB-PRESETS.md marks
 * them U). The presets use ChampSim's defaults (champsim_config.json: PSCL5 2,
 * PSCL4 4, PSCL3 2x4, PSCL2 4x8), a documented simulator configuration.
 */
const CHAMPSIM_PWC: WalkCache[] = [
  { level: 'pml5e', entries: 2, ways: 2 },
  { level: 'pml4e', entries: 4, ways: 4 },
  { level: 'pdpte', entries: 8, ways: 4 },
  { level: 'pde', entries: 32, ways: 8 },
];

/** The shipped presets: only cores whose geometry TLB-PRESETS.md sources (no U rows). */
export const TLB_PRESETS: Record<string, TlbGeometry> = {
  skylake: {
    arch: 'x86',
    l1d: [
      { pageSizes: ['4K'], entries: 64, ways: 4 },
      { pageSizes: ['2M'], entries: 32, ways: 4 },
      { pageSizes: ['1G'], entries: 4, ways: 4 },
    ],
    l1i: [
      { pageSizes: ['4K'], entries: 128, ways: 8 },
      { pageSizes: ['2M'], entries: 8, ways: 8 },
    ],
    l2: [
      { pageSizes: ['4K', '2M'], entries: 1536, ways: 6 },
      { pageSizes: ['1G'], entries: 16, ways: 4 },
    ],
    pwc: CHAMPSIM_PWC,
    walkers: 2,
    sources: [
      'Intel Optimization Manual 248966-045 Table 2-15 (via McCalpin, Intel community), SKX CPUID: STLB 1536 6-way 4K+2M, 16 1G 4-way',
      'QEMU cputlb comment (16 1G STLB entries); page-walk caches: ChampSim defaults (Intel sizes unpublished)',
    ],
  },
  'golden-cove': {
    arch: 'x86',
    l1d: [
      { pageSizes: ['4K'], entries: 96, ways: 6 },
      { pageSizes: ['2M'], entries: 32, ways: 4 },
      { pageSizes: ['1G'], entries: 8, ways: 8 },
    ],
    l1i: [
      { pageSizes: ['4K'], entries: 256, ways: 8 },
      { pageSizes: ['2M'], entries: 32, ways: 32 },
    ],
    l2: [{ pageSizes: ['4K', '2M', '1G'], entries: 2048, ways: 16 }],
    pwc: CHAMPSIM_PWC,
    walkers: 4,
    sources: [
      'Hennessy & Patterson CA:AQA notes on the i9-12900 (STLB 2048 16-way 4K/2M/1G, L1 DTLB 96/32/8) and on Golden Cove (ITLB 256/32)',
      'page-walk caches: ChampSim defaults (Intel sizes unpublished); ITLB 2M ways unpublished: fully associative',
    ],
  },
  zen2: {
    arch: 'x86',
    l1d: [{ pageSizes: ['4K', '2M', '1G'], entries: 64, ways: 64 }],
    l1i: [{ pageSizes: ['4K', '2M', '1G'], entries: 64, ways: 64 }],
    // 1G pages are smashed into 2M entries here and reinstalled as 1G in L1
    l2: [{ pageSizes: ['4K', '2M'], entries: 2048, ways: 12 }],
    l2i: [{ pageSizes: ['4K', '2M'], entries: 512, ways: 8 }],
    pwc: CHAMPSIM_PWC,
    walkers: 2,
    sources: [
      'AMD SOG 17h via WikiChip zen_2 and 7-cpu.com/cpu/Zen2: L1 DTLB/ITLB 64 FA all sizes, L2 DTLB 2048 12-way 4K+2M (1G smashed), L2 ITLB 512 8-way',
      'the skewed 12-way L2 is modelled as 170 sets x 12 ways (2040 entries); PDEs cached in the L2: a ChampSim-sized walk cache; 32K coalescing (U) off',
    ],
  },
  'neoverse-n1': {
    arch: 'arm64',
    l1d: [{ pageSizes: ['4K', '64K', '2M', '512M'], entries: 48, ways: 48 }],
    l1i: [{ pageSizes: ['4K', '64K', '2M', '32M'], entries: 48, ways: 48 }],
    l2: [{ pageSizes: ['4K', '64K', '2M', '32M', '1G'], entries: 1280, ways: 5 }],
    pwc: CHAMPSIM_PWC.filter((p) => p.level !== 'pml5e'),
    coalesce: { kind: 'contpte' },
    walkers: 4,
    sources: [
      'Cortex-A76 TRM §A5.2 (the N1 core): L1 DTLB/ITLB 48 FA (4K granule sizes; 1G held as 512M in the L1 DTLB), L2 1280 5-way',
      'contpte: arch/arm64/mm/contpte.c (16 x 4K PTEs, 64K entries); walk results kept in the L2: a ChampSim-sized walk cache',
    ],
  },
};

export type TlbPresetName = keyof typeof TLB_PRESETS;

function bad(path: string, msg: string): never {
  throw new ConfigError(`config.tlb${path}: ${msg}`);
}

function checkArrays(path: string, v: unknown, required: boolean): TlbArray[] {
  if (v === undefined && !required) return [];
  if (!Array.isArray(v) || v.length === 0 || v.length > 4) bad(path, 'an array of 1 to 4 {pageSizes, entries, ways[, replacement]}');
  return (v as unknown[]).map((a, i) => {
    const p = `${path}[${i}]`;
    if (a === null || typeof a !== 'object') bad(p, 'must be an object {pageSizes, entries, ways[, replacement]}');
    const o = a as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!['pageSizes', 'entries', 'ways', 'replacement'].includes(k)) bad(`${p}.${k}`, 'unknown key');
    if (!Array.isArray(o.pageSizes) || o.pageSizes.length === 0) bad(`${p}.pageSizes`, `a list of ${Object.keys(SHIFT).join(', ')}`);
    for (const s of o.pageSizes as unknown[]) if (!(String(s) in SHIFT)) bad(`${p}.pageSizes`, `'${String(s)}' is not one of ${Object.keys(SHIFT).join(', ')}`);
    const entries = o.entries, ways = o.ways;
    if (!Number.isInteger(entries) || (entries as number) < 1 || (entries as number) > 65536) bad(`${p}.entries`, 'an integer from 1 to 65536');
    if (!Number.isInteger(ways) || (ways as number) < 1 || (ways as number) > (entries as number)) bad(`${p}.ways`, `an integer from 1 to entries (${String(entries)})`);
    if (o.replacement !== undefined && !(String(o.replacement) in REPL)) bad(`${p}.replacement`, "'lru', 'fifo' or 'random'");
    return { pageSizes: o.pageSizes as PageSize[], entries: entries as number, ways: ways as number, replacement: (o.replacement as Replacement) ?? 'lru' };
  });
}

/** Validate a custom geometry (every problem named by its path). */
export function checkGeometry(g: unknown): TlbGeometry {
  if (g === null || typeof g !== 'object' || Array.isArray(g)) bad('', `a preset name (${Object.keys(TLB_PRESETS).join(', ')}), 'off', or a geometry object`);
  const o = g as Record<string, unknown>;
  const keys = ['arch', 'l1d', 'l1i', 'l2', 'l2i', 'pwc', 'coalesce', 'invlpgFullFlushOnSmashed', 'walkers', 'sources'];
  for (const k of Object.keys(o)) if (!keys.includes(k)) bad(`.${k}`, `unknown key (known: ${keys.join(', ')})`);
  if (o.arch !== 'x86' && o.arch !== 'arm64') bad('.arch', "'x86' or 'arm64'");
  const out: TlbGeometry = {
    arch: o.arch,
    l1d: checkArrays('.l1d', o.l1d, true),
    l1i: checkArrays('.l1i', o.l1i, true),
    l2: checkArrays('.l2', o.l2, false),
  };
  if (o.l2i !== undefined) out.l2i = checkArrays('.l2i', o.l2i, true);
  if (o.pwc !== undefined) {
    if (!Array.isArray(o.pwc) || o.pwc.length > 4) bad('.pwc', 'an array of up to 4 {level, entries, ways}');
    const seen = new Set<string>();
    out.pwc = (o.pwc as unknown[]).map((c, i) => {
      const p = `.pwc[${i}]`;
      const x = (c ?? {}) as Record<string, unknown>;
      if (!(String(x.level) in PWC_SHIFT)) bad(`${p}.level`, "'pde', 'pdpte', 'pml4e' or 'pml5e'");
      if (seen.has(String(x.level))) bad(`${p}.level`, `'${String(x.level)}' given twice`);
      seen.add(String(x.level));
      if (!Number.isInteger(x.entries) || (x.entries as number) < 1 || (x.entries as number) > 4096) bad(`${p}.entries`, 'an integer from 1 to 4096');
      if (!Number.isInteger(x.ways) || (x.ways as number) < 1 || (x.ways as number) > (x.entries as number)) bad(`${p}.ways`, 'an integer from 1 to entries');
      return { level: x.level as WalkCache['level'], entries: x.entries as number, ways: x.ways as number };
    });
  }
  if (o.coalesce !== undefined) {
    const c = (o.coalesce ?? {}) as Record<string, unknown>;
    if (c.kind === 'none' || c.kind === 'contpte') out.coalesce = { kind: c.kind };
    else if (c.kind === 'amd') {
      if (c.factor !== 4 && c.factor !== 8) bad('.coalesce.factor', '4 or 8 (aligned 4K PTEs per entry)');
      out.coalesce = { kind: 'amd', factor: c.factor };
    } else bad('.coalesce.kind', "'none', 'contpte' or 'amd'");
    if (out.coalesce?.kind === 'contpte' && out.arch !== 'arm64') bad('.coalesce', "contpte is arm64's: use arch 'arm64'");
  }
  if (o.invlpgFullFlushOnSmashed !== undefined) {
    if (typeof o.invlpgFullFlushOnSmashed !== 'boolean') bad('.invlpgFullFlushOnSmashed', 'true or false');
    out.invlpgFullFlushOnSmashed = o.invlpgFullFlushOnSmashed;
  }
  if (o.walkers !== undefined) {
    if (!Number.isInteger(o.walkers) || (o.walkers as number) < 1) bad('.walkers', 'a positive integer');
    out.walkers = o.walkers as number;
  }
  if (o.sources !== undefined) out.sources = (o.sources as unknown[]).map(String);
  return out;
}

/** The geometry of a preset name or a custom object, validated. */
export function resolveTlb(tlb: unknown): { name: string; geometry?: TlbGeometry } {
  if (tlb === undefined || tlb === 'off') return { name: 'off' };
  if (typeof tlb === 'string') {
    const g = TLB_PRESETS[tlb];
    if (!g) bad('', `unknown preset '${tlb}' (presets: ${Object.keys(TLB_PRESETS).join(', ')}; or 'off', or a geometry object)`);
    return { name: tlb, geometry: g };
  }
  return { name: 'custom', geometry: checkGeometry(tlb) };
}

/** Modelled entries of an array (sets are whole: entries rounded down to a multiple of ways). */
export function modelledEntries(a: TlbArray): number {
  return Math.floor(a.entries / a.ways) * a.ways;
}

/**
 * Reach in bytes of one level for one page size: the entries that can hold pages of
 * that size, times the size (arithmetic of TLB-PRESETS.md §3.3).
 */
export function tlbReach(g: TlbGeometry, level: 'l1d' | 'l1i' | 'l2' | 'l2i', size: PageSize): number {
  const arrays = g[level] ?? [];
  return arrays.filter((a) => a.pageSizes.includes(size)).reduce((n, a) => n + a.entries, 0) * 2 ** SHIFT[size];
}

/** The f64 words tlb_setup() reads from the IO buffer (assembly/arch/tlb_model.ts). */
export function encodeTlbConfig(opts: { cpus: number; geometry?: TlbGeometry; check: boolean; offEntries?: number }): number[] {
  const g = opts.geometry;
  const coal = g?.coalesce;
  const words = [
    1,
    g ? 1 : 0,
    opts.cpus,
    g?.arch === 'arm64' ? 1 : 0,
    opts.check ? 1 : 0,
    !coal || coal.kind === 'none' ? 0 : coal.kind === 'contpte' ? 1 : 2,
    coal?.kind === 'amd' ? 12 + Math.log2(coal.factor) : coal?.kind === 'contpte' ? 16 : 12,
    g?.invlpgFullFlushOnSmashed ? 1 : 0,
    opts.offEntries ?? 4096,
  ];
  const arrays: number[][] = [];
  if (g) {
    const levels: [TlbArray[] | undefined, number][] = [[g.l1d, 0], [g.l1i, 1], [g.l2, 2], [g.l2i, 3]];
    for (const [list, level] of levels) {
      for (const a of list ?? []) {
        const mask = a.pageSizes.reduce((m, s) => m | (1 << SHIFT[s]), 0) >>> 0;
        arrays.push([level, modelledEntries(a), a.ways, mask, REPL[a.replacement ?? 'lru'], 0]);
      }
    }
  }
  words.push(arrays.length, ...arrays.flat());
  const pwc = g?.pwc ?? [];
  words.push(pwc.length, ...pwc.flatMap((c) => [PWC_SHIFT[c.level], Math.floor(c.entries / c.ways) * c.ways, c.ways]));
  return words;
}

export type TlbCounters = Record<string, number>;

export interface TlbStats {
  /** preset name, 'custom', or 'off' */
  model: string;
  /** per CPU: the core's counters plus l1d/l1i/l2/l2i lookups, hits and misses summed over page sizes */
  cpus: TlbCounters[];
  total: TlbCounters;
}

/** Sums a derived view over the core's counters (lookups = hits + misses per level). */
export function deriveTlbCounters(raw: TlbCounters): TlbCounters {
  const out: TlbCounters = { ...raw };
  for (const l of ['l1d', 'l1i', 'l2', 'l2i']) {
    let hits = 0, misses = 0;
    for (const c of ['4k', 'coal', '2m', '1g']) {
      hits += raw[`${l}_hit_${c}`] ?? 0;
      misses += raw[`${l}_miss_${c}`] ?? 0;
    }
    out[`${l}_hits`] = hits;
    out[`${l}_misses`] = misses;
    out[`${l}_lookups`] = hits + misses;
  }
  return out;
}
