/**
 * The output schema of a scenario run (conformance/README.md "JSON output"),
 * and its text form laid out exactly like the kernel oracle prints it, so
 * that `diff expected/x.json actual.json` lines up.
 */

export const SMAPS_FIELDS = ['Size', 'Rss', 'Pss', 'Shared_Clean', 'Shared_Dirty', 'Private_Clean', 'Private_Dirty', 'Anonymous',
  'LazyFree', 'AnonHugePages', 'ShmemPmdMapped', 'FilePmdMapped', 'Shared_Hugetlb', 'Private_Hugetlb', 'Swap'] as const;
export const MEMINFO_FIELDS = ['AnonPages', 'AnonHugePages', 'Shmem', 'ShmemHugePages', 'ShmemPmdMapped', 'HugePages_Free',
  'HugePages_Rsvd', 'PageTables'] as const;
export const STATUS_FIELDS = ['VmRSS', 'RssAnon', 'RssShmem', 'VmPTE'] as const;
export const HUGETLB_FIELDS = ['nr_hugepages', 'free_hugepages', 'resv_hugepages', 'surplus_hugepages'] as const;

export type RegionReport = {
  addr: string;
  nr_vmas: number;
  vmas_kB: [number, number][];
} & Record<(typeof SMAPS_FIELDS)[number], number> & {
  THPeligible: number;
  KernelPageSize: number;
  VmFlags: string;
};

export interface ProcReport {
  status: Record<(typeof STATUS_FIELDS)[number], number>;
  faults: { minflt: number; majflt: number };
  regions: Record<string, RegionReport>;
}

export interface SnapshotReport {
  line: number;
  vmstat: Record<string, number>;
  mthp: Record<string, Record<string, number>>;
  meminfo: Record<(typeof MEMINFO_FIELDS)[number], number>;
  hugetlb: Record<string, Record<(typeof HUGETLB_FIELDS)[number], number>>;
  procs: Record<string, ProcReport>;
  /** hugemmu extension, with a TLB model: its counters since the reference point */
  tlb?: { model: string; total: Record<string, number>; cpus: Record<string, number>[] };
}

export interface ErrorEntry {
  line: number;
  proc: string;
  op: string;
  error: string;
}

export interface MismatchEntry {
  line: number;
  proc: string;
  region: string;
  off: number;
  expected: number;
  got: number;
  count: number;
}

export interface ScenarioResult {
  oracle: string;
  script: string;
  kernel: string;
  runs: number;
  settings: Record<string, string>;
  snapshots: Record<string, SnapshotReport>;
  errors: ErrorEntry[];
  mismatches: MismatchEntry[];
  unstable_fields: string[];
}

/** {"a": 1, "b": [[0, 4]]} on one line, with the oracle's spacing */
function flat(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(flat).join(', ')}]`;
  if (v !== null && typeof v === 'object') return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}: ${flat(x)}`).join(', ')}}`;
  return JSON.stringify(v);
}

/** The result as JSON text, laid out line for line like oracle.c prints it. */
export function formatResult(r: ScenarioResult): string {
  const o: string[] = [];
  o.push('{');
  o.push(`  "oracle": ${JSON.stringify(r.oracle)},`);
  o.push(`  "script": ${JSON.stringify(r.script)},`);
  o.push(`  "kernel": ${JSON.stringify(r.kernel)},`);
  o.push(`  "runs": ${r.runs},`);
  o.push(`  "settings": ${flat(r.settings)},`);
  o.push('  "snapshots": {');
  const snaps = Object.entries(r.snapshots);
  snaps.forEach(([label, s], si) => {
    o.push(`    ${JSON.stringify(label)}: {`);
    o.push(`      "line": ${s.line},`);
    o.push(`      "vmstat": ${flat(s.vmstat)},`);
    o.push('      "mthp": {');
    const sizes = Object.entries(s.mthp);
    sizes.forEach(([size, v], i) => o.push(`        ${JSON.stringify(size)}: ${flat(v)}${i < sizes.length - 1 ? ',' : ''}`));
    o.push('      },');
    o.push(`      "meminfo": ${flat(s.meminfo)},`);
    o.push(`      "hugetlb": ${flat(s.hugetlb)},`);
    if (s.tlb) {
      o.push(`      "tlb": {"model": ${JSON.stringify(s.tlb.model)}, "total": ${flat(s.tlb.total)}, "cpus": [`);
      s.tlb.cpus.forEach((c, i) => o.push(`        ${flat(c)}${i < s.tlb!.cpus.length - 1 ? ',' : ''}`));
      o.push('      ]},');
    }
    o.push('      "procs": {');
    const procs = Object.entries(s.procs);
    procs.forEach(([name, p], pi) => {
      o.push(`        ${JSON.stringify(name)}: {`);
      o.push(`          "status": ${flat(p.status)},`);
      o.push(`          "faults": ${flat(p.faults)},`);
      const regions = Object.entries(p.regions);
      if (!regions.length) o.push('          "regions": {}');
      else {
        o.push('          "regions": {');
        regions.forEach(([rn, rr], i) => o.push(`            ${JSON.stringify(rn)}: ${flat(rr)}${i < regions.length - 1 ? ',' : ''}`));
        o.push('          }');
      }
      o.push(`        }${pi < procs.length - 1 ? ',' : ''}`);
    });
    o.push('      }');
    o.push(`    }${si < snaps.length - 1 ? ',' : ''}`);
  });
  o.push('  },');
  const list = (key: string, items: object[], last: boolean) => {
    o.push(`  ${JSON.stringify(key)}: [`);
    items.forEach((e, i) => o.push(`    ${flat(e)}${i < items.length - 1 ? ',' : ''}`));
    o.push(`  ]${last ? '' : ','}`);
  };
  list('errors', r.errors, false);
  list('mismatches', r.mismatches, false);
  o.push(`  "unstable_fields": [${r.unstable_fields.map((f) => `\n    ${JSON.stringify(f)}`).join(',')}${r.unstable_fields.length ? '\n  ' : ''}]`);
  o.push('}');
  return o.join('\n') + '\n';
}
