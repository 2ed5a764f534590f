/** Sizes: 4096, 0x1000, 4K, 2M, 1G, 1T, '64GiB', and sums/differences such as '1M+4K'. */
export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
export const TiB = 1024 * GiB;

const UNIT: Record<string, number> = { '': 1, K: KiB, M: MiB, G: GiB, T: TiB };

/** Parse a size; returns undefined when the text is not a size. */
export function parseSize(text: string): number | undefined {
  const s = text.trim();
  if (!s) return undefined;
  let total = 0;
  let sign = 1;
  const re = /^(0x[0-9a-fA-F]+|\d+)([kKmMgGtT]?)(?:i?[bB])?/;
  let rest = s;
  while (rest.length) {
    const m = re.exec(rest);
    if (!m) return undefined;
    const v = Number(m[1]) * UNIT[m[2].toUpperCase()];
    total += sign * v;
    rest = rest.slice(m[0].length);
    if (!rest.length) break;
    if (rest[0] === '+') sign = 1;
    else if (rest[0] === '-') sign = -1;
    else return undefined;
    rest = rest.slice(1);
    if (!rest.length) return undefined;
  }
  if (!Number.isSafeInteger(total) || total < 0) return undefined;
  return total;
}

/** Accept a number or a size string. */
export function toBytes(v: number | string, what: string): number {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${what}: ${v} is not a byte count`);
    return v;
  }
  const n = parseSize(v);
  if (n === undefined) throw new RangeError(`${what}: '${v}' is not a size (examples: 4096, 0x1000, 4K, 2M, 1G, 1M+4K)`);
  return n;
}

export function hex(n: number): string {
  return '0x' + n.toString(16);
}
