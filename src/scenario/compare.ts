/**
 * Comparison of a result with an expected oracle JSON, by the rules of
 * conformance/compare.py (and with its difference texts): every value under
 * snapshots, errors and mismatches of EXPECTED must be in ACTUAL and equal,
 * except numbers marked {"unstable": [...]} in either file and ignored keys;
 * extra keys in ACTUAL are allowed.
 */

const COMPARED = ['snapshots', 'errors', 'mismatches'] as const;

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function unstable(v: unknown): boolean {
  return isObject(v) && Object.keys(v).length === 1 && 'unstable' in v;
}

/** Python's json.dumps() (", " and ": " separators, ASCII only). */
function pyJson(v: unknown): string {
  if (v === undefined || v === null) return 'null';
  if (Array.isArray(v)) return `[${v.map(pyJson).join(', ')}]`;
  if (isObject(v)) return `{${Object.entries(v).map(([k, x]) => `${pyJson(k)}: ${pyJson(x)}`).join(', ')}}`;
  if (typeof v === 'string') return JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return JSON.stringify(v);
}

/** Python's repr() of a JSON value. */
function pyRepr(v: unknown): string {
  if (v === undefined || v === null) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'string') {
    const q = v.includes("'") && !v.includes('"') ? '"' : "'";
    return q + v.replace(/\\/g, '\\\\').replace(new RegExp(q, 'g'), `\\${q}`).replace(/\n/g, '\\n') + q;
  }
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  if (isObject(v)) return `{${Object.entries(v).map(([k, x]) => `${pyRepr(k)}: ${pyRepr(x)}`).join(', ')}}`;
  return String(v);
}

function walk(exp: unknown, act: unknown, path: string, ignore: ReadonlySet<string>, out: string[]): void {
  if (unstable(exp) || unstable(act)) return;
  if (isObject(exp)) {
    if (!isObject(act)) {
      out.push(`${path}: expected an object, got ${pyRepr(act)}`);
      return;
    }
    for (const [key, val] of Object.entries(exp)) {
      if (ignore.has(key)) continue;
      if (!(key in act)) out.push(`${path}.${key}: missing`);
      else walk(val, act[key], `${path}.${key}`, ignore, out);
    }
  } else if (Array.isArray(exp)) {
    if (!Array.isArray(act) || act.length !== exp.length) {
      out.push(`${path}: expected ${pyJson(exp)}, got ${pyJson(act)}`);
      return;
    }
    exp.forEach((e, i) => walk(e, act[i], `${path}.${i}`, ignore, out));
  } else if (exp !== act) {
    out.push(`${path}: expected ${pyRepr(exp)}, got ${pyRepr(act)}`);
  }
}

/**
 * The differences of ACTUAL from EXPECTED, in compare.py's order and wording;
 * empty when they match. `ignore` names keys to skip anywhere (compare.py -i).
 */
export function compareResults(expected: unknown, actual: unknown, ignore: Iterable<string> = []): string[] {
  const exp = isObject(expected) ? expected : {};
  const act = isObject(actual) ? actual : {};
  const fields = exp.unstable_fields;
  if (Array.isArray(fields) && fields.includes('*')) return ['runs differed in structure; nothing is reliable'];
  const out: string[] = [];
  const ig = new Set(ignore);
  for (const key of COMPARED) walk(exp[key], act[key], key, ig, out);
  return out;
}
