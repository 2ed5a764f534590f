/**
 * The built-in demo (`hugemmu` without arguments): a short, readable tour of
 * what the emulator models today, with the numbers it produces. Each step is
 * a handful of API calls; the per-page work runs in the core.
 */
import { Machine } from './machine.js';
import type { Process } from './process.js';
import { UnsupportedFeatureError } from './errors.js';
import { GiB, MiB } from './units.js';
import { VERSION } from './scenario/version.js';

const n = (v: number) => v.toLocaleString('en-US');

function timed<T>(f: () => T): [T, number] {
  const t0 = performance.now();
  const r = f();
  return [r, performance.now() - t0];
}

/** The lines of /proc/PID/maps inside [base, base+len). */
function mapsLines(p: Process, base: number, len: number): string[] {
  return p.text('maps').split('\n').filter((l) => {
    const [s, e] = l.split(' ')[0].split('-').map((x) => parseInt(x, 16));
    return s >= base && e <= base + len;
  });
}

/** Does an operation run, or does the model report it as not supported yet? */
function probe(f: () => boolean | void): string {
  try {
    return f() === false ? 'not yet (falls back to 4 KiB pages)' : 'modelled';
  } catch (e) {
    if (e instanceof UnsupportedFeatureError) return 'not yet';
    throw e;
  }
}

/** Run the demo, writing lines to `out`. Takes well under 2 s with the release core. */
export async function runDemo(out: (line: string) => void): Promise<void> {
  const m = await Machine.create({ ram: '64G' });
  const p = m.spawn();
  out(`hugemmu ${VERSION}: the Linux MMU and the kernel's huge-page memory management, emulated (model of Linux 6.18)`);
  out(`Machine: ${n(m.config.ram / GiB)} GiB of emulated RAM, x86-64 4-level page tables, metadata mode`);
  out('(page contents are counted, not stored, so a 64 GiB machine costs the host a few MiB).');

  out('');
  out('1. 4 KiB page faults at scale');
  const a = p.mmap(4 * GiB, { align: GiB });
  const [r, ms] = timed(() => p.touch(a, 4 * GiB, { write: true }));
  let st = p.status();
  out(`   mmap 4 GiB and write one byte per page: ${n(r.faults)} page faults in ${ms.toFixed(0)} ms ` +
    `(${(r.faults / ms / 1000).toFixed(1)} M faults/s on this host)`);
  out(`   RSS ${n(st.RssAnon)} kB; page tables (VmPTE) ${n(st.VmPTE)} kB = ${(100 * st.VmPTE / st.RssAnon).toFixed(2)} % of the memory mapped:`);
  out(`   that is ${n(4 * GiB / (2 * MiB))} PTE tables (one per 2 MiB) + 4 PMD tables (one per 1 GiB) + 1 PUD table, ` +
    'each a real 4 KiB page of 512 x86-64 entries');

  out('');
  out('2. The shared zero page');
  const z = p.mmap(GiB, { align: GiB });
  const before = st;
  const rz = p.touch(z, GiB);
  st = p.status();
  out(`   read every page of a fresh 1 GiB mapping: ${n(rz.faults)} faults, RSS grows by ${n(st.RssAnon - before.RssAnon)} kB ` +
    `(every PTE maps the zero page), page tables grow by ${n(st.VmPTE - before.VmPTE)} kB`);
  p.touch(z, 4096, { write: true });
  out(`   a write to one of those pages replaces its zero page with a private copy: RSS +${n(p.status().RssAnon - st.RssAnon)} kB`);
  p.munmap(a, 4 * GiB);
  p.munmap(z, GiB);
  out(`   after munmap of both: RSS ${n(p.status().RssAnon)} kB, page tables ${n(p.status().VmPTE)} kB (free_pgtables gave them back)`);

  out('');
  out('3. VMA splits and merges (mprotect, munmap), as /proc/PID/maps shows them');
  const v = p.mmap(16 * 4096);
  p.touch(v, 16 * 4096, { write: true });
  p.mprotect(v + 4 * 4096, 4 * 4096, 'r');
  out('   mprotect(PROT_READ) of pages 4..7 of a 16-page mapping splits it in three:');
  for (const l of mapsLines(p, v, 16 * 4096)) out(`     ${l}`);
  p.munmap(v + 12 * 4096, 4096);
  out('   munmap of page 12 punches a hole:');
  for (const l of mapsLines(p, v, 16 * 4096)) out(`     ${l}`);
  p.mprotect(v + 4 * 4096, 4 * 4096, 'rw');
  out('   mprotect back to read-write merges the neighbours again:');
  for (const l of mapsLines(p, v, 16 * 4096)) out(`     ${l}`);

  out('');
  out('4. Multi-size THP (mTHP): 64 KiB anonymous folios');
  const status64 = probe(() => {
    m.setSysfs('transparent_hugepage/hugepages-64kB/enabled', 'always');
    const t = p.mmap(2 * MiB, { align: 2 * MiB });
    const rt = p.touch(t, 2 * MiB, { write: true });
    const s = m.mthp()['64kB'];
    out(`   with hugepages-64kB/enabled = always, writing 2 MiB takes ${rt.faults} faults instead of 512:`);
    out(`   mthp 64kB anon_fault_alloc ${s.anon_fault_alloc}, nr_anon ${s.nr_anon}`);
    m.setSysfs('transparent_hugepage/hugepages-64kB/enabled', 'never');
  });
  if (status64 !== 'modelled') out(`   ${status64}`);

  out('');
  out('5. The kernel\'s counters, as /proc shows them');
  const vm = m.vmstat();
  const mi = m.meminfo();
  out(`   /proc/vmstat: pgfault ${n(vm.pgfault)}, pgalloc_normal ${n(vm.pgalloc_normal)}, pgfree ${n(vm.pgfree)}`);
  out(`   /proc/meminfo: MemFree ${n(mi.MemFree)} kB, AnonPages ${n(mi.AnonPages)} kB, PageTables ${n(mi.PageTables)} kB`);
  m.checkInvariants();
  out('   Machine.checkInvariants() recomputed mapcounts, RSS, page-table counts and free memory from scratch: all hold.');

  out('');
  out('6. Feature status of this build');
  const fresh = () => m.spawn();
  const rows: [string, string][] = [
    ['PMD THP on fault (2 MiB)', probe(() => {
      const q = fresh();
      const t = q.mmap(2 * MiB, { align: 2 * MiB });
      q.madvise(t, 2 * MiB, 'hugepage');
      q.touch(t, 1, { write: true });
      const huge = q.smaps()[0].fields.AnonHugePages > 0;
      q.exit();
      return huge;
    })],
    ['fork and copy-on-write', probe(() => { const q = fresh(); q.mmap(4096); try { q.fork().exit(); } finally { q.exit(); } })],
    ['mremap', probe(() => { const q = fresh(); const t = q.mmap(4096); try { q.mremap(t, 4096, 8192, { maymove: true }); } finally { q.exit(); } })],
    ['shmem (memfd, MAP_SHARED|MAP_ANONYMOUS)', probe(() => { const q = fresh(); try { q.mmap(4096, { backing: 'memfd' }); } finally { q.exit(); } })],
    ['hugetlb pools (nr_hugepages)', probe(() => {
      m.setSysfs('hugepages/hugepages-2048kB/nr_hugepages', 1);
      m.setSysfs('hugepages/hugepages-2048kB/nr_hugepages', 0);
    })],
    ['MADV_COLLAPSE', probe(() => {
      const q = fresh();
      const t = q.mmap(2 * MiB, { align: 2 * MiB });
      try {
        q.madvise(t, 2 * MiB, 'collapse');
      } catch (e) {
        // an errno (nothing to collapse) still means the path exists
        if (e instanceof UnsupportedFeatureError) throw e;
      } finally {
        q.exit();
      }
    })],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  for (const [k, s] of rows) out(`   ${k.padEnd(w)}  ${s}`);

  out('');
  out('Next: hugemmu run test/conformance/mthp_64k_fault.mms   (a scenario script, reported like the kernel reports it)');
  out('      hugemmu conformance test/conformance             (all recorded Linux 6.18 scenarios, compared)');
  out('      hugemmu --help');
}
