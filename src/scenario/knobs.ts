/**
 * The knob names of the .mms format (conformance/oracle.c init_knobs()) mapped
 * to hugemmu's sysfs paths, the oracle's baseline, and hugemmu's extension knobs.
 */
import { parseSize, KiB } from '../units.js';
import type { KnobInfo } from '../core.js';

export interface ScenarioKnob {
  /** the `set` name, e.g. 'thp.size.64K' */
  name: string;
  /** the Machine.setSysfs() path, e.g. 'transparent_hugepage/hugepages-64kB/enabled' */
  path: string;
  /** the oracle's baseline value; undefined for extension knobs (they keep the model's default) */
  baseline?: string;
  /** the core's description: accepted values, range, default */
  info?: KnobInfo;
}

const THP = 'transparent_hugepage';

/** Size label as the oracle prints it: 16K, 1M, 1G. */
export function sizeLabel(kb: number): string {
  if (kb >= 1024 * 1024) return `${kb / (1024 * 1024)}G`;
  if (kb >= 1024) return `${kb / 1024}M`;
  return `${kb}K`;
}

/** Every knob of the oracle, in its order (the order of the `settings` object), with its baseline. */
function oracleKnobs(): ScenarioKnob[] {
  const out: ScenarioKnob[] = [];
  const add = (name: string, path: string, baseline: string) => out.push({ name, path, baseline });
  add('thp.enabled', `${THP}/enabled`, 'madvise');
  add('thp.defrag', `${THP}/defrag`, 'madvise');
  add('thp.use_zero_page', `${THP}/use_zero_page`, '1');
  add('thp.shrink_underused', `${THP}/shrink_underused`, '1');
  add('shmem.enabled', `${THP}/shmem_enabled`, 'never');
  for (let kb = 8; kb <= 2048; kb *= 2) {
    const l = sizeLabel(kb), base = kb === 2048 ? 'inherit' : 'never';
    if (kb > 8) add(`thp.size.${l}`, `${THP}/hugepages-${kb}kB/enabled`, base); // anon mTHP starts at order 2
    add(`shmem.size.${l}`, `${THP}/hugepages-${kb}kB/shmem_enabled`, base);
  }
  add('hugetlb.2M', 'hugepages/hugepages-2048kB/nr_hugepages', '0');
  add('hugetlb.1G', 'hugepages/hugepages-1048576kB/nr_hugepages', '0');
  for (const [k, v] of [['defrag', '1'], ['max_ptes_none', '511'], ['max_ptes_shared', '256'], ['max_ptes_swap', '64'],
    ['pages_to_scan', '4096'], ['scan_sleep_millisecs', '3600000'], ['alloc_sleep_millisecs', '60000']])
    add(`khugepaged.${k}`, `${THP}/khugepaged/${k}`, v);
  return out;
}

/** The oracle's baseline by knob name (README "Baseline"). */
export const ORACLE_BASELINE: Readonly<Record<string, string>> = Object.fromEntries(oracleKnobs().map((k) => [k.name, k.baseline!]));

/**
 * The oracle's knobs in its order, then hugemmu's extensions (sizes the kernel
 * lacks such as 1G anon THP, sysctls, design variants); only those the core
 * has (Machine.knobs()).
 */
export function scenarioKnobs(core: readonly KnobInfo[]): ScenarioKnob[] {
  const info = new Map(core.map((k) => [k.path, k]));
  const out = oracleKnobs().filter((k) => info.has(k.path)).map((k) => ({ ...k, info: info.get(k.path) }));
  const add = (name: string, path: string) => {
    if (info.has(path)) out.push({ name, path, info: info.get(path) });
  };
  for (let kb = 4096; kb <= 1024 * 1024; kb *= 2) {
    add(`thp.size.${sizeLabel(kb)}`, `${THP}/hugepages-${kb}kB/enabled`);
    add(`shmem.size.${sizeLabel(kb)}`, `${THP}/hugepages-${kb}kB/shmem_enabled`);
  }
  add('vm.overcommit_memory', 'vm/overcommit_memory');
  add('vm.max_map_count', 'vm/max_map_count');
  for (const k of core) if (k.path.startsWith('hugemmu/')) out.push({ name: `hugemmu.${k.path.slice(8)}`, path: k.path, info: k });
  return out;
}

/** Canonical `set` name: thp.size.16k, thp.size.16384 and thp.size.16K are one knob. */
export function canonicalKnobName(name: string): string {
  for (const pre of ['thp.size.', 'shmem.size.', 'hugetlb.']) {
    if (!name.startsWith(pre)) continue;
    const bytes = parseSize(name.slice(pre.length));
    // only exact powers of two name a size; anything else stays unknown
    if (bytes !== undefined && bytes >= KiB && Number.isInteger(Math.log2(bytes))) return pre + sizeLabel(bytes / KiB);
  }
  return name;
}
