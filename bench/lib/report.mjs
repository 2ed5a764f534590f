// Ratios, targets, the stdout table and the JSON file.

/** hugemmu speed / baseline speed: value/baseline for rates, baseline/value for times. */
export function ratioOf(fig, value, base) {
  if (!base || base.value == null || !(value > 0) || !(base.value > 0)) return null;
  if (base.unit !== fig.unit) throw new Error(`bench: ${fig.name} is in ${fig.unit} but its baseline ${base.key} in ${base.unit}`);
  return fig.better === 'lower' ? base.value / value : value / base.value;
}

/** true (all targets met), false (one missed), null (no target, or a ratio target without a baseline). */
export function checkTarget(fig, value, ratio) {
  const t = fig.target ?? {};
  const checks = [];
  if (t.min !== undefined) checks.push(value >= t.min);
  if (t.max !== undefined) checks.push(value <= t.max);
  if (t.ratio !== undefined) checks.push(ratio == null ? null : ratio >= t.ratio);
  if (!checks.length) return null;
  if (checks.includes(false)) return false;
  if (checks.includes(null)) return null;
  return true;
}

export function targetText(fig) {
  const t = fig.target ?? {};
  const parts = [];
  if (t.min !== undefined) parts.push(`≥ ${fmt(t.min, fig.unit)}`);
  if (t.max !== undefined) parts.push(`≤ ${fmt(t.max, fig.unit)}`);
  if (t.ratio !== undefined) parts.push(`≥ ${t.ratio}× ${fig.better === 'lower' ? 'baseline speed' : 'baseline'}`);
  return parts.join(', ');
}

const SI = [
  [1e9, 'G'],
  [1e6, 'M'],
  [1e3, 'k'],
];

function sig(x) {
  const a = Math.abs(x);
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toPrecision(3);
}

/** 6.02 M faults/s, 40.0 MiB, 12.9 B/page */
export function fmt(x, unit) {
  if (x == null || Number.isNaN(x)) return '—';
  if (unit.endsWith('/s')) {
    for (const [f, p] of SI) if (Math.abs(x) >= f) return `${sig(x / f)} ${p} ${unit}`;
  }
  return `${sig(x)} ${unit}`;
}

export function fmtRatio(r) {
  if (r == null) return '—';
  return r >= 100 ? `${r.toFixed(0)}×` : r >= 10 ? `${r.toFixed(1)}×` : `${r.toFixed(2)}×`;
}

function pad(s, n) {
  s = String(s);
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows.map((r) => r.map((c, i) => pad(c, widths[i])).join('  ').trimEnd()).join('\n');
}

export function renderText(result) {
  const { machine, figures, pending, errors, notes } = result;
  const out = [];
  out.push(`hugemmu benchmarks (${machine.mode}) — ${machine.cores} × ${machine.cpu}, Node ${machine.node}, ` +
    `${machine.compiler ? `${machine.compiler.split(' ').slice(0, 3).join(' ')} ${machine.cflags.split(' ')[0]}` : 'no C compiler'}, ` +
    `commit ${machine.commit ?? '?'}${machine.dirty ? '+dirty' : ''}`);
  out.push('');
  const rows = [['figure', 'value', 'baseline', 'baseline value', 'ratio', 'target', 'status']];
  for (const f of figures) {
    rows.push([
      f.name,
      fmt(f.value, f.unit),
      f.baseline ? f.baseline.name : f.baselineError ? 'unavailable' : '—',
      f.baseline ? fmt(f.baseline.value, f.baseline.unit) : '',
      fmtRatio(f.ratio),
      f.target || '—',
      f.met === true ? 'met' : f.met === false ? 'MISSED' : '',
    ]);
  }
  out.push(table(rows));
  if (pending.length) {
    out.push('');
    out.push('pending (feature missing or failing its probe; measured automatically once it works):');
    out.push(table(pending.map((p) => [`  ${p.name}`, p.reason])));
  }
  if (errors.length) {
    out.push('');
    out.push('errors:');
    for (const e of errors) out.push(`  ${e.name}: ${e.error}`);
  }
  const baseNotes = figures.filter((f) => f.baselineError).map((f) => `${f.name}: baseline unavailable: ${f.baselineError}`);
  if (notes.length || baseNotes.length) {
    out.push('');
    for (const n of [...notes, ...baseNotes]) out.push(`note: ${n}`);
  }
  out.push('');
  out.push('ratio = hugemmu speed / baseline speed (higher is better; for times: baseline time / hugemmu time).');
  return out.join('\n');
}
