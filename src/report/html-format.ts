// Text formatting shared by the report page's sections: HTML escaping, numbers at three significant digits, and an
// interval written with what it is and how many seeds it rests on.
import type { MeanCi } from './stats.js';

export const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export function fmt(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '–';
  if (v !== 0 && (Math.abs(v) >= 1e4 || Math.abs(v) < 1e-3)) return v.toExponential(2);
  return String(Number(v.toPrecision(3)));
}

/** `[lo, hi] t95 n=3`, `range [lo, hi] n=2`: what the interval is and how many seeds it rests on. */
export function intervalText(c: MeanCi): string {
  if (!Number.isFinite(c.lo)) return `(${c.n} seed${c.n === 1 ? '' : 's'}: no interval)`;
  const bounds = `[${fmt(c.lo)}, ${fmt(c.hi)}]`;
  return c.kind === 'range' ? `range ${bounds} n=${c.n}` : `${bounds} ${c.kind === 'bootstrap' ? 'bootstrap95' : 't95'} n=${c.n}`;
}

