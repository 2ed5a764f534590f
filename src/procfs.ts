/** /proc and /sys files in the kernel's text formats (fs/proc/meminfo.c, task_mmu.c, array.c, mm/vmstat.c). */
import type { Machine } from './machine.js';
import { ConfigError } from './errors.js';

/** show_val_kb(): a 16-character label and an 8-wide number */
function kbLine(label: string, kb: number): string {
  return `${(label + ':').padEnd(16)}${String(kb).padStart(8)} kB`;
}

export function meminfo(m: Machine): Record<string, number> {
  const s = m.nodeStats();
  const kb = (pages: number) => pages * 4;
  // hugetlb_report_meminfo(): the default hstate (2 MiB); Hugetlb sums every hstate
  const pools = m.hugetlbPools();
  const def = pools['2048kB'];
  let hugetlbKb = 0;
  for (const [size, pool] of Object.entries(pools)) hugetlbKb += pool.nr_hugepages * parseInt(size, 10);
  return {
    MemTotal: kb(s.nr_managed),
    MemFree: kb(s.nr_free_pages),
    AnonPages: kb(s.nr_anon_pages),
    Mapped: kb(s.nr_mapped),
    Shmem: kb(s.nr_shmem),
    PageTables: kb(s.nr_page_table_pages),
    Committed_AS: kb((m.core.e.committed_as_pages as () => number)()),
    AnonHugePages: kb(s.nr_anon_transparent_hugepages),
    ShmemHugePages: kb(s.nr_shmem_hugepages),
    ShmemPmdMapped: kb(s.nr_shmem_pmdmapped),
    FileHugePages: kb(s.nr_file_hugepages),
    FilePmdMapped: kb(s.nr_file_pmdmapped),
    HugePages_Total: def.nr_hugepages,
    HugePages_Free: def.free_hugepages,
    HugePages_Rsvd: def.resv_hugepages,
    HugePages_Surp: def.surplus_hugepages,
    Hugepagesize: 2048,
    Hugetlb: hugetlbKb,
  };
}

function meminfoText(m: Machine): string {
  const v = meminfo(m);
  const out: string[] = [];
  for (const k of ['MemTotal', 'MemFree', 'AnonPages', 'Mapped', 'Shmem', 'PageTables', 'Committed_AS', 'AnonHugePages', 'ShmemHugePages',
    'ShmemPmdMapped', 'FileHugePages', 'FilePmdMapped']) out.push(kbLine(k, v[k]));
  // %lu: a (transiently) negative resv_huge_pages prints as the kernel's unsigned long
  for (const k of ['HugePages_Total', 'HugePages_Free', 'HugePages_Rsvd', 'HugePages_Surp'])
    out.push(`${(k + ':').padEnd(16)}${String(BigInt.asUintN(64, BigInt(v[k]))).padStart(6)}`);
  out.push(kbLine('Hugepagesize', v.Hugepagesize));
  out.push(kbLine('Hugetlb', v.Hugetlb));
  return out.join('\n') + '\n';
}

// vmstat_item_print_in_thp(): these node stats print in THP units
const IN_THP = new Set(['nr_anon_transparent_hugepages', 'nr_shmem_hugepages', 'nr_shmem_pmdmapped', 'nr_file_hugepages', 'nr_file_pmdmapped']);

function vmstatText(m: Machine): string {
  const out: string[] = [];
  for (const [k, v] of Object.entries(m.nodeStats())) {
    if (k === 'nr_managed' || k === 'nr_lazyfree') continue;
    out.push(`${k} ${IN_THP.has(k) ? Math.floor(v / 512) : v}`);
  }
  for (const [k, v] of Object.entries(m.vmstat())) out.push(`${k} ${v}`);
  return out.join('\n') + '\n';
}

function statusText(m: Machine, pid: number): string {
  const p = m.processes().find((x) => x.pid === pid);
  if (!p) throw new ConfigError(`/proc/${pid}: no such process`);
  const s = p.status();
  const line = (k: string, v: number) => `${k}:\t${String(v).padStart(8)} kB`;
  return [
    `Name:\thugemmu-${pid}`,
    `Pid:\t${pid}`,
    line('VmSize', s.VmSize),
    line('VmRSS', s.VmRSS),
    line('RssAnon', s.RssAnon),
    line('RssFile', s.RssFile),
    line('RssShmem', s.RssShmem),
    line('VmPTE', s.VmPTE),
    line('VmSwap', 0),
    line('HugetlbPages', s.HugetlbPages),
  ].join('\n') + '\n';
}

function mapsLine(start: number, end: number, flags: string, pgoff: number): string {
  const perm = (flags.includes('rd') ? 'r' : '-') + (flags.includes('wr') ? 'w' : '-') + (flags.includes('ex') ? 'x' : '-') +
    (flags.split(' ').includes('sh') ? 's' : 'p');
  const hex = (n: number) => n.toString(16).padStart(8, '0');
  return `${hex(start)}-${hex(end)} ${perm} ${hex(pgoff * 4096)} 00:00 0`;
}

function smapsText(m: Machine, pid: number, mapsOnly: boolean): string {
  const p = m.processes().find((x) => x.pid === pid);
  if (!p) throw new ConfigError(`/proc/${pid}: no such process`);
  const out: string[] = [];
  for (const e of p.smaps()) {
    // show_map_vma(): only file-backed VMAs (shmem included) print their offset
    const off = e.kind === 'anon' ? 0 : e.pgoff;
    out.push(mapsLine(e.start, e.end, e.vmFlags, off) + (mapsOnly ? '' : ' '));
    if (mapsOnly) continue;
    for (const k of ['Size', 'KernelPageSize', 'MMUPageSize', 'Rss', 'Pss', 'Pss_Dirty', 'Pss_Anon', 'Pss_File', 'Pss_Shmem',
      'Shared_Clean', 'Shared_Dirty', 'Private_Clean', 'Private_Dirty', 'Referenced', 'Anonymous', 'KSM', 'LazyFree',
      'AnonHugePages', 'ShmemPmdMapped', 'FilePmdMapped', 'Shared_Hugetlb', 'Private_Hugetlb', 'Swap', 'SwapPss', 'Locked'])
      out.push(kbLine(k, e.fields[k]));
    out.push(`THPeligible:    ${String(e.fields.THPeligible).padStart(8)}`);
    out.push(`VmFlags: ${e.vmFlags} `);
  }
  return out.join('\n') + '\n';
}

/** The text of a /proc or /sys file. */
export function text(m: Machine, path: string): string {
  if (path === '/proc/meminfo') return meminfoText(m);
  if (path === '/proc/vmstat') return vmstatText(m);
  const pm = /^\/proc\/(\d+)\/(status|smaps|maps)$/.exec(path);
  if (pm) {
    const pid = Number(pm[1]);
    if (pm[2] === 'status') return statusText(m, pid);
    return smapsText(m, pid, pm[2] === 'maps');
  }
  const sm = /^\/sys\/kernel\/mm\/transparent_hugepage\/hugepages-(\d+)kB\/stats\/(\w+)$/.exec(path);
  if (sm) {
    const v = m.mthp()[`${sm[1]}kB`]?.[sm[2]];
    if (v === undefined) throw new ConfigError(`${path}: no such file`);
    return `${v}\n`;
  }
  // /sys/kernel/mm/hugepages/hugepages-<N>kB/{free,resv,surplus}_hugepages (nr_hugepages is a knob)
  const hp = /^\/sys\/kernel\/mm\/hugepages\/hugepages-(\d+)kB\/(free|resv|surplus)_hugepages$/.exec(path);
  if (hp) {
    const pool = m.hugetlbPools()[`${hp[1]}kB`];
    if (!pool) throw new ConfigError(`${path}: no such file`);
    return `${BigInt.asUintN(64, BigInt(pool[`${hp[2]}_hugepages` as 'free_hugepages']))}\n`;
  }
  if (path.startsWith('/sys/kernel/mm/') || path.startsWith('/proc/sys/')) return m.readSysfs(path) + '\n';
  throw new ConfigError(`${path}: not modelled (known: /proc/meminfo, /proc/vmstat, /proc/PID/{status,smaps,maps}, /sys/kernel/mm/...)`);
}
