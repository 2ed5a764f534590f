// The single source of truth for the core's linear memory.
//
//   0x000000  guard page (never used: a null record pointer faults loudly in tests)
//   CTRL      control block: machine configuration in, status out
//   COUNTERS  vmstat events, node stats, per-order mTHP stats, TLB counters
//   CMD       command buffer: the host writes batched operations here
//   RES       result buffer: one record per command
//   IO        scratch buffer for views (smaps records, VMA lists, text)
//   --memoryBase (4 MiB): AssemblyScript's static data (name tables)
//   HEAP      from __heap_base, 2 MiB aligned: pageblock table, then chunks,
//             page-table storage, data backing, slabs; grown on demand.
//
// Everything below memoryBase is at a fixed offset so that the host can find
// it without asking, and so that static data never overlaps mutable state.
// The host reads these constants from the exports; it never copies them.

export const PAGE_SHIFT: u32 = 12;
export const PAGE_SIZE: u32 = 4096;
export const PMD_SHIFT: u32 = 21;
export const PUD_SHIFT: u32 = 30;
export const P4D_SHIFT: u32 = 39;
export const PTRS_PER_TABLE: u32 = 512;
export const HPAGE_PMD_ORDER: u32 = 9;
export const HPAGE_PMD_NR: u32 = 512;
export const HPAGE_PUD_ORDER: u32 = 18;
export const HPAGE_PUD_NR: u32 = 262144;
export const MAX_PAGE_ORDER: u32 = 10;
export const PAGEBLOCK_ORDER: u32 = 9;
export const PAGEBLOCK_NR_PAGES: u32 = 512;

// --- fixed regions ---------------------------------------------------------
export const LAYOUT_CTRL: u32 = 0x1000;
export const LAYOUT_CTRL_SIZE: u32 = 0x1000;
export const LAYOUT_COUNTERS: u32 = 0x2000;
export const LAYOUT_COUNTERS_SIZE: u32 = 0xe000;
export const LAYOUT_CMD: u32 = 0x10000;
export const CMD_RECORD_SIZE: u32 = 48;
export const CMD_MAX: u32 = 65536;
export const LAYOUT_RES: u32 = LAYOUT_CMD + CMD_RECORD_SIZE * CMD_MAX; // 0x310000
export const RES_RECORD_SIZE: u32 = 32;
export const LAYOUT_IO: u32 = LAYOUT_RES + RES_RECORD_SIZE * CMD_MAX; // 0x390000
export const LAYOUT_IO_SIZE: u32 = 0x60000; // up to 0x3f0000
export const LAYOUT_MEMORY_BASE: u32 = 0x400000;

// --- control block (offsets from LAYOUT_CTRL) --------------------------------
// Configuration written by the host before machine_init():
export const CTRL_RAM_PAGES: u32 = 0; // f64: emulated RAM in 4 KiB pages
export const CTRL_DATA_MODE: u32 = 8; // u32: 1 = user pages have real bytes
export const CTRL_PGTABLE_LEVELS: u32 = 12; // u32: 4 or 5
export const CTRL_HOST_LIMIT_PAGES: u32 = 16; // u32: max wasm pages the core may use (0 = 65536)
// Status written by the core:
export const CTRL_STATUS: u32 = 64; // i32: last error (ERR_*), 0 = ok
export const CTRL_HOST_BYTES: u32 = 72; // f64: wasm memory in use (bytes)
export const CTRL_HEAP_USED: u32 = 80; // f64: bytes handed out by the host allocator
export const CTRL_RESULT0: u32 = 96; // f64 scratch results of the last call
export const CTRL_RESULT1: u32 = 104;
export const CTRL_RESULT2: u32 = 112;
export const CTRL_RESULT3: u32 = 120;
// Tunables (sysfs knobs) live in the CTRL block too, see mm/huge_memory.ts.
export const CTRL_KNOBS: u32 = 256; // 128 x u32

// --- counters (offsets from LAYOUT_COUNTERS) ---------------------------------
export const CNT_VM_EVENTS: u32 = 0; // 128 x u64 (vm_event_item)
export const CNT_NODE_STATS: u32 = 0x400; // 64 x i64 (node_stat_item, in pages)
export const CNT_MTHP: u32 = 0x600; // 19 orders x 32 stats x u64
export const MTHP_ORDERS: u32 = 19;
export const MTHP_STATS_PER_ORDER: u32 = 32;
export const CNT_TLB: u32 = 0x2000; // TLB model counters: 64 per-CPU blocks (arch/tlb_model.ts), then TLB info
// (the mTHP stats end at 0x600 + 19 * 32 * 8 = 0x1900)

// --- error codes returned by calls (CTRL_STATUS) -----------------------------
export const ERR_OK: i32 = 0;
export const ERR_HOST_MEMORY: i32 = 1; // the wasm32 4 GiB limit (or the configured host limit) was hit
export const ERR_BAD_HANDLE: i32 = 2; // unknown task / process id
export const ERR_BAD_ARGUMENT: i32 = 3; // malformed request from the host
export const ERR_BROKEN: i32 = 4; // an earlier call trapped; refuse further calls

// A syscall whose kernel feature is not modelled yet returns this (not an errno).
export const NOT_MODELLED: i32 = -4095;

// --- command ops (CMD records) -----------------------------------------------
// record: +0 u32 op | flags<<8 | arg16<<16, +4 u32 task, +8 f64 addr, +16 f64 len,
//         +24 f64 stride, +32 f64 base (pattern origin), +40 f64 spare
export const OP_LOAD: u32 = 1; // load one byte
export const OP_STORE: u32 = 2; // store one byte (arg16 = value)
export const OP_TOUCH: u32 = 3; // one 1-byte access per stride point; flags bit0 = write; arg16 = gen
export const OP_VERIFY: u32 = 4; // compare the pattern of gen arg16 at every stride point (gen 0 = zero)
export const OP_FILL: u32 = 5; // store byte arg16 at every stride point
export const OP_RANDOM: u32 = 6; // +24 count accesses at uniformly random points of [addr, addr+len),
//                                 +32 seed, +40 granule (addresses are multiples of it; 0 = 64)
export const CMDF_WRITE: u32 = 1;
export const CMDF_FETCH: u32 = 2; // instruction fetches (through the instruction TLBs, NX checked)
export const CMDF_RACE: u32 = 4; // member of a race group (arch/race.ts)
export const CMDF_RACE_START: u32 = 8; // first member; its +40 holds the interleaving seed (0 = preempt always)
export const CMDF_RACE_AT_FAULT: u32 = 16; // race start: switch only at fault entry (LP_FAULT)
export const CMDF_RACE_AT_PTL: u32 = 32; // race start: switch only at do_anonymous_page's PTE lock (LP_ANON_PTL)
// result record: +0 i32 status (0 ok, SIG_*), +4 u32 value, +8 f64 faults taken,
//                +16 f64 fault address / first bad address, +24 f64 mismatch count
export const SIG_NONE: i32 = 0;
export const SIG_SEGV: i32 = 11;
export const SIG_BUS: i32 = 7;
export const SIG_OOM: i32 = 9; // VM_FAULT_OOM: the kernel would invoke the OOM killer
export const SIG_HOSTMEM: i32 = 64; // host memory limit reached while handling a fault
