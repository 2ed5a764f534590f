// Text output of the variant comparisons: a header naming the machine, then each
// section's own tables (its render()).
function pad(s, n, right) {
  s = String(s);
  if (s.length >= n) return s;
  return right ? ' '.repeat(n - s.length) + s : s + ' '.repeat(n - s.length);
}

/** rows[0] is the header; columns whose header starts with '>' are right-aligned. */
export function table(rows, indent = '  ') {
  const right = rows[0].map((h) => String(h).startsWith('>'));
  const head = rows[0].map((h) => String(h).replace(/^>/, ''));
  const all = [head, ...rows.slice(1)];
  const widths = head.map((_, i) => Math.max(...all.map((r) => String(r[i] ?? '').length)));
  return all.map((r) => indent + r.map((c, i) => pad(c ?? '', widths[i], right[i])).join('  ').trimEnd()).join('\n');
}

export function renderVariants(result, sections) {
  const { machine } = result;
  const out = [];
  out.push(`hugemmu design-variant comparisons (${machine.mode}) — ${machine.cores} × ${machine.cpu}, Node ${machine.node}, ` +
    `commit ${machine.commit ?? '?'}${machine.dirty ? '+dirty' : ''}, load ${machine.loadavg.join(' ')}`);
  out.push('Counts are exact; times are the fastest sample in this run (compare within a table, not across runs).');
  for (const s of result.sections) {
    out.push('');
    out.push(`== ${s.title}`);
    out.push(sections[s.key].render(s));
  }
  return out.join('\n');
}
