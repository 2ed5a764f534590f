/** Machine configuration: validated, every unknown or malformed key named. */
import { ConfigError } from './errors.js';
import { parseSize, GiB, TiB } from './units.js';
import type { CoreFlavor } from './core.js';
import { resolveTlb, type TlbGeometry, type TlbPresetName } from './tlb.js';

export interface MachineConfig {
  /** emulated RAM (bytes or a size string); default '16G', up to 4T */
  ram?: number | string;
  /** data mode: user pages hold real bytes (loads, stores, COW copies, zeroing are real) */
  data?: boolean;
  /** 4 (default) or 5 page-table levels (LA57) */
  pagingLevels?: 4 | 5;
  /** number of emulated CPUs (default 1) */
  cpus?: number;
  /**
   * TLB model: 'off' (default: a functional translation cache, no TLB statistics), a preset
   * ('skylake', 'golden-cove', 'zen2', 'neoverse-n1') or a custom geometry object
   */
  tlb?: 'off' | TlbPresetName | TlbGeometry;
  /** check after every call that no cached translation grants more than the page table (default: on with the debug core) */
  tlbCheck?: boolean;
  /** sysfs/sysctl knobs by path, e.g. {'transparent_hugepage/enabled': 'always'} */
  sysfs?: Record<string, string | number>;
  /** design variants (KERNEL-SPEC §12), e.g. {'mthp.orderSelection': 'preferred-plus-order0'} */
  variants?: Record<string, string | number>;
  /** /proc/sys/vm/min_free_kbytes; default as the kernel computes it from RAM */
  minFreeKbytes?: number;
  /** cap on the core's wasm memory (bytes or size string, at most 4G) */
  hostMemoryLimit?: number | string;
  /** which core build to run: 'release' (default) or 'debug' (assertions on) */
  core?: CoreFlavor;
}

export interface ResolvedConfig {
  ram: number;
  data: boolean;
  pagingLevels: 4 | 5;
  cpus: number;
  /** 'off', the preset name, or 'custom' */
  tlb: string;
  /** the geometry of the TLB model (undefined when off) */
  tlbGeometry?: TlbGeometry;
  tlbCheck?: boolean;
  sysfs: Record<string, string | number>;
  variants: Record<string, string | number>;
  minFreeKbytes: number;
  hostMemoryLimit: number;
  core?: CoreFlavor;
}

const KEYS = ['ram', 'data', 'pagingLevels', 'cpus', 'tlb', 'tlbCheck', 'sysfs', 'variants', 'minFreeKbytes', 'hostMemoryLimit', 'core'];

function sizeOf(key: string, v: unknown): number {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  if (typeof v === 'string') {
    const n = parseSize(v);
    if (n !== undefined) return n;
  }
  throw new ConfigError(`config.${key}: ${JSON.stringify(v)} is not a size (examples: 16G, 1T, 4096)`);
}

export function resolveConfig(cfg: MachineConfig = {}): ResolvedConfig {
  if (cfg === null || typeof cfg !== 'object' || Array.isArray(cfg)) throw new ConfigError('config must be an object');
  for (const k of Object.keys(cfg)) {
    if (!KEYS.includes(k)) throw new ConfigError(`config.${k}: unknown key (known: ${KEYS.join(', ')})`);
  }
  const ram = cfg.ram === undefined ? 16 * GiB : sizeOf('ram', cfg.ram);
  if (ram < 64 * 1024 * 1024) throw new ConfigError(`config.ram: ${ram} bytes is too small (at least 64M)`);
  if (ram > 4 * TiB) throw new ConfigError(`config.ram: at most 4T`);
  if (cfg.data !== undefined && typeof cfg.data !== 'boolean') throw new ConfigError('config.data: must be true or false');
  const levels = cfg.pagingLevels ?? 4;
  if (levels !== 4 && levels !== 5) throw new ConfigError('config.pagingLevels: must be 4 or 5');
  const cpus = cfg.cpus ?? 1;
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > 64) throw new ConfigError('config.cpus: an integer from 1 to 64');
  const tlb = resolveTlb(cfg.tlb);
  if (cfg.tlbCheck !== undefined && typeof cfg.tlbCheck !== 'boolean') throw new ConfigError('config.tlbCheck: must be true or false');
  for (const k of ['sysfs', 'variants'] as const) {
    const v = cfg[k];
    if (v !== undefined && (v === null || typeof v !== 'object' || Array.isArray(v)))
      throw new ConfigError(`config.${k}: must be an object of name: value`);
  }
  const mfk = cfg.minFreeKbytes ?? 0;
  if (!Number.isInteger(mfk) || mfk < 0) throw new ConfigError('config.minFreeKbytes: a non-negative integer');
  const lim = cfg.hostMemoryLimit === undefined ? 4 * GiB : sizeOf('hostMemoryLimit', cfg.hostMemoryLimit);
  if (lim > 4 * GiB) throw new ConfigError('config.hostMemoryLimit: at most 4G (the wasm32 limit)');
  if (cfg.core !== undefined && cfg.core !== 'release' && cfg.core !== 'debug')
    throw new ConfigError("config.core: 'release' or 'debug'");
  return {
    ram,
    data: cfg.data ?? false,
    pagingLevels: levels,
    cpus,
    tlb: tlb.name,
    tlbGeometry: tlb.geometry,
    tlbCheck: cfg.tlbCheck,
    sysfs: { ...(cfg.sysfs ?? {}) },
    variants: { ...(cfg.variants ?? {}) },
    minFreeKbytes: mfk,
    hostMemoryLimit: lim,
    core: cfg.core,
  };
}
