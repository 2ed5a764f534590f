// The figure table. Adding a figure = one entry here plus its run function.
//
//   name      stable name (results are compared across versions by it)
//   unit      unit of value; better: 'higher' (rates) or 'lower' (times, bytes)
//   needs     feature probes (bench/lib/features.mjs) that must pass, else the
//             figure is listed as pending with the probe's reason
//   baseline  key in bench/figures/baselines.mjs (measured in the same run), or null
//   target    { min, max } on value and/or { ratio } on hugemmu speed / baseline speed
//   run(ctx)  -> { value, detail }
import * as machine from './machine.mjs';
import * as faults from './faults.mjs';
import * as access from './access.mjs';
import * as kernels from './kernels.mjs';
import * as fork from './fork.mjs';
import { conformanceRuntime } from './conformance.mjs';

export const FIGURES = [
  {
    name: 'machine_1t_create_ms', unit: 'ms', better: 'lower', needs: [], baseline: null,
    target: { max: 1000 }, run: machine.createMs,
    what: 'Machine.create({ram: "1T"}), best of several (module already compiled)',
  },
  {
    name: 'machine_1t_host_mib', unit: 'MiB', better: 'lower', needs: [], baseline: null,
    target: { max: 64 }, run: machine.hostMib,
    what: 'wasm memory of a fresh 1 TiB machine',
  },
  {
    name: 'host_bytes_per_4k_page', unit: 'B/page', better: 'lower', needs: [], baseline: null,
    target: { max: 16 }, run: machine.bytesPer4kPage,
    what: 'heap bytes per page after touching 64 GiB (quick: 16 GiB) with 4 KiB pages, metadata mode',
  },
  {
    name: 'fault_4k', unit: 'faults/s', better: 'higher', needs: [], baseline: 'host_fault_4k',
    target: { min: 10e6, ratio: 20 }, run: faults.fault4k,
    what: '4 KiB write faults, 256 MiB batched range touch per call, metadata mode',
  },
  {
    name: 'fault_mthp_64k', unit: 'faults/s', better: 'higher', needs: ['mthp64k'], baseline: null,
    target: { min: 5e6 }, run: faults.faultMthp64k, // target: issue 5
    what: '64 KiB mTHP write faults, 1 GiB touched per call',
  },
  {
    name: 'fault_pmd', unit: 'faults/s', better: 'higher', needs: ['thpPmd'], baseline: 'host_thp_fault_2m',
    target: { min: 2e6 }, run: faults.faultPmd, // target: issue 5
    what: '2 MiB PMD THP write faults, 8 GiB touched per call',
  },
  {
    name: 'fault_pud', unit: 'faults/s', better: 'higher', needs: ['thpPud'], baseline: null,
    target: {}, run: faults.faultPud,
    what: '1 GiB PUD THP write faults, 64 GiB touched per call',
  },
  {
    name: 'access_tlb_hit', unit: 'accesses/s', better: 'higher', needs: ['tlbModel'], baseline: 'native_tlb_lookup',
    target: { min: 150e6, ratio: 0.5 }, run: access.accessTlbHit,
    what: 'reads over 64 pages (L1 DTLB reach) with the TLB model on',
  },
  {
    name: 'access_walk', unit: 'accesses/s', better: 'higher', needs: [], baseline: 'native_walk',
    target: { min: 40e6, ratio: 0.5 }, run: access.accessWalk,
    what: 'one read per page over 1 GiB of 4 KiB pages: every access walks 4 levels',
  },
  {
    name: 'access_walk_model', unit: 'accesses/s', better: 'higher', needs: ['tlbModel'], baseline: 'native_tlb_walk',
    target: { min: 40e6, ratio: 0.5 }, run: access.accessWalkModel,
    what: 'the access_walk pattern with the TLB model on (skylake): every access misses L1 and L2 and walks',
  },
  {
    name: 'access_tlb_off', unit: 'accesses/s', better: 'higher', needs: ['tlbModel'], baseline: 'native_walk',
    target: {}, run: access.accessTlbOff,
    what: 'the access_tlb_hit pattern with tlb: "off" (every access walks)',
  },
  {
    name: 'pte_table_fill', unit: 'tables/s', better: 'higher', needs: ['benchExports'], baseline: 'native_pte_fill',
    target: { ratio: 0.8 }, run: kernels.pteTableFill,
    what: 'fill_pte_table(): one 512-entry table of consecutive pfns, hot',
  },
  {
    name: 'zero_1g', unit: 'ms', better: 'lower', needs: ['thpPudData'], baseline: 'native_memset_1g',
    target: { ratio: 0.95 }, run: kernels.zero1g,
    what: 'write fault on a 1 GiB THP in data mode (zeroes 1 GiB)',
  },
  {
    name: 'split_pud', unit: 'µs', better: 'lower', needs: ['pudSplit'], baseline: 'native_split_pud',
    target: { ratio: 0.67 }, run: kernels.splitPud,
    what: 'mprotect() of 4 KiB inside a 1 GiB THP: PUD split to 512 PTE tables',
  },
  {
    name: 'fork_pte_copy', unit: 'PTEs/s', better: 'higher', needs: ['fork'], baseline: 'host_fork_4k_1g',
    target: {}, run: fork.forkPteCopy,
    what: 'fork() of a process with 1 GiB of 4 KiB pages',
  },
  {
    name: 'fork_pmd_64g', unit: 'ms', better: 'lower', needs: ['fork', 'thpPmd'], baseline: 'host_fork_thp_64g',
    target: {}, run: fork.forkPmd64g,
    what: 'fork() of a process with 64 GiB of PMD-mapped THPs',
  },
  {
    name: 'conformance_runtime_s', unit: 's', better: 'lower', needs: ['conformance'], baseline: null,
    target: {}, run: conformanceRuntime,
    what: 'node bin/hugemmu.js conformance test/conformance',
  },
];
