/** hugemmu: an emulator of the Linux MMU and the kernel's huge-page memory management. */
export { Machine, type Command, type CommandResult } from './machine.js';
export { Process, Thread, type MmapOptions, type TouchOptions, type ProcStatus, type SmapsEntry, parseProt } from './process.js';
export type { MachineConfig } from './config.js';
export {
  TLB_PRESETS, tlbReach, modelledEntries, type TlbGeometry, type TlbArray, type WalkCache, type PageSize, type TlbStats,
  type TlbCounters,
} from './tlb.js';
export {
  ErrnoError, SignalError, HostMemoryError, ConfigError, MachineBrokenError, InvariantError, UnsupportedFeatureError,
} from './errors.js';
export { parseSize, toBytes, KiB, MiB, GiB, TiB } from './units.js';
export * from './scenario/index.js';
