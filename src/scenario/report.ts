/** A scenario result as a report for people: what changed, per snapshot, per process and region. */
import { ORACLE_BASELINE } from './knobs.js';
import type { ScenarioResult, SnapshotReport } from './result.js';

function nonzero(o: Record<string, number>): [string, number][] {
  return Object.entries(o).filter(([, v]) => v !== 0);
}

function table(rows: string[][], indent: string): string[] {
  const w = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  // numbers right-aligned, text (names, addresses, flags) left-aligned
  const numeric = w.map((_, c) => rows.slice(1).every((r) => /^-?\d+$/.test(r[c])));
  return rows.map((r) => indent + r.map((cell, c) => (numeric[c] ? cell.padStart(w[c]) : cell.padEnd(w[c]))).join('  ').trimEnd());
}

function snapshotLines(label: string, s: SnapshotReport): string[] {
  const o: string[] = [`snapshot '${label}' (line ${s.line})`];
  const vm = nonzero(s.vmstat);
  o.push(`  vmstat   ${vm.length ? vm.map(([k, v]) => `${k} ${v}`).join(', ') : 'no events'}`);
  const mthp = Object.entries(s.mthp).map(([size, f]) => [size, nonzero(f)] as const).filter(([, f]) => f.length);
  if (mthp.length) {
    o.push(`  mthp     ${mthp.map(([size, f]) => `${size}: ${f.map(([k, v]) => `${k} ${v}`).join(', ')}`).join('; ')}`);
  }
  const mi = nonzero(s.meminfo);
  o.push(`  meminfo  ${mi.length ? mi.map(([k, v]) => `${k} ${v > 0 ? '+' : ''}${v}${k.startsWith('HugePages_') ? '' : ' kB'}`).join(', ') : 'no change'}`);
  const pools = Object.entries(s.hugetlb).filter(([, p]) => p.nr_hugepages || p.resv_hugepages || p.surplus_hugepages);
  if (pools.length) {
    o.push(`  hugetlb  ${pools.map(([size, p]) => `${size}: ${p.nr_hugepages} pages, ${p.free_hugepages} free, ${p.resv_hugepages} reserved, ${p.surplus_hugepages} surplus`).join('; ')}`);
  }
  if (s.tlb) o.push(...tlbLines(s.tlb));
  for (const [name, p] of Object.entries(s.procs)) {
    const st = p.status;
    o.push(`  ${name}: RSS ${st.VmRSS} kB (anon ${st.RssAnon}, shmem ${st.RssShmem}), page tables ${st.VmPTE} kB, ` +
      `faults ${p.faults.minflt} minor, ${p.faults.majflt} major`);
    const regions = Object.entries(p.regions);
    if (!regions.length) continue;
    const rows = [['region', 'address', 'VMAs', 'Size', 'Rss', 'Pss', 'AnonHuge', 'ShmemPmd', 'Hugetlb', 'THPelig', 'KPS', 'VmFlags of the first VMA']];
    for (const [rn, r] of regions) {
      rows.push([rn, r.addr, String(r.nr_vmas), String(r.Size), String(r.Rss), String(r.Pss), String(r.AnonHugePages),
        String(r.ShmemPmdMapped), String(r.Shared_Hugetlb + r.Private_Hugetlb), String(r.THPeligible), String(r.KernelPageSize), r.VmFlags]);
    }
    o.push(...table(rows, '    '));
    for (const [rn, r] of regions) {
      if (r.nr_vmas > 1) o.push(`      ${rn}: VMAs at ${r.vmas_kB.map(([off, size]) => `+${off}K (${size}K)`).join(', ')}`);
    }
  }
  return o;
}

/** The TLB model's counters: per level, walks, flushes and shootdowns, then one line per busy CPU. */
function tlbLines(t: NonNullable<SnapshotReport['tlb']>): string[] {
  const level = (c: Record<string, number>, l: string) => {
    if (!c[`${l}_lookups`]) return '';
    const sizes = ['4k', 'coal', '2m', '1g'].filter((z) => c[`${l}_hit_${z}`] || c[`${l}_miss_${z}`])
      .map((z) => `${z} ${c[`${l}_hit_${z}`]}/${c[`${l}_miss_${z}`]}`);
    return `${l} ${c[`${l}_hits`]} hits ${c[`${l}_misses`]} misses (${sizes.join(', ')})`;
  };
  const line = (c: Record<string, number>) => [
    ['l1d', 'l1i', 'l2', 'l2i'].map((l) => level(c, l)).filter(Boolean).join('; '),
    c.walks ? `${c.walks} walks, ${c.walk_refs} entries read` : '',
    c.page_faults ? `${c.page_faults} faults${c.spurious_faults ? ` (${c.spurious_faults} spurious)` : ''}` : '',
    c.invlpg || c.flush_full ? `flushes ${c.flush_single} single, ${c.flush_range} range (${c.invlpg} pages), ${c.flush_full} full` : '',
    c.ipi_sent || c.ipi_received ? `IPIs ${c.ipi_sent} sent, ${c.ipi_received} received` : '',
    c.tlbi_broadcast ? `${c.tlbi_broadcast} broadcast TLBIs` : '',
    c.contpte_set || c.contpte_fold || c.contpte_unfold ? `contpte ${c.contpte_set} set, ${c.contpte_fold} folds, ${c.contpte_unfold} unfolds` : '',
    c.context_switches ? `${c.context_switches} context switches (${c.flush_on_switch} flushed a PCID)` : '',
  ].filter(Boolean).join('; ');
  const o = [`  tlb      ${t.model}: ${line(t.total) || 'no events'}`];
  if (t.cpus.length > 1) t.cpus.forEach((c, i) => { const l = line(c); if (l) o.push(`    cpu ${i}  ${l}`); });
  return o;
}

/** The readable report of `hugemmu run` (sizes in kB as the kernel prints them). */
export function formatReport(r: ScenarioResult): string {
  const o: string[] = [`${r.script}  (${r.oracle}, ${r.kernel})`];
  const changed = Object.entries(r.settings).filter(([k, v]) => k in ORACLE_BASELINE && ORACLE_BASELINE[k] !== v);
  o.push(`settings: ${changed.length ? `baseline, except ${changed.map(([k, v]) => `${k}=${v}`).join(', ')}` : 'baseline'}`);
  o.push('(numbers are changes since the reference point after the leading sets; sizes in kB; region columns sum the VMAs inside the region)');
  for (const [label, s] of Object.entries(r.snapshots)) o.push('', ...snapshotLines(label, s));
  if (!Object.keys(r.snapshots).length) o.push('', 'no snapshots');
  o.push('');
  if (r.errors.length) {
    o.push(`errors (${r.errors.length}):`);
    for (const e of r.errors) o.push(`  line ${e.line} [${e.proc}] ${e.op}: ${e.error}`);
  } else o.push('errors: none');
  if (r.mismatches.length) {
    o.push(`mismatches (${r.mismatches.length}):`);
    for (const x of r.mismatches) {
      o.push(`  line ${x.line} [${x.proc}] region ${x.region} offset 0x${x.off.toString(16)}: expected 0x${x.expected.toString(16)}, ` +
        `got 0x${x.got.toString(16)} (${x.count} bad)`);
    }
  } else o.push('mismatches: none');
  return o.join('\n') + '\n';
}
