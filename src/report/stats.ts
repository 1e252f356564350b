// Statistics of a study report, pure numerics:
// - percentile bootstrap confidence interval of a mean (Efron & Tibshirani 1993, "An Introduction to the Bootstrap",
//   ch. 13.3), seeded so a report is reproducible;
// - Spearman's rank correlation (Spearman 1904): Pearson's correlation of the ranks, ties given their average rank;
// - the Pareto front of trials trading one objective against another (non-dominated points);
// - the interval over seeds a report shows (seedInterval): Student's t interval of the mean (Student 1908) from 3
//   seeds, the plain range for 2 (a t interval from 2 values is mean +- 12.7 half-ranges: honest but useless, and a
//   bootstrap of 2 values is just their range mislabelled as 95%), nothing for 1.
import { Rng } from '../random.js';

export function mean(xs: readonly number[]): number {
  return xs.length === 0 ? NaN : xs.reduce((s, x) => s + x, 0) / xs.length;
}

/** Linear-interpolated quantile of sorted values (numpy's default, type 7). */
export function quantileSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return (sorted[lo] as number) + (h - lo) * ((sorted[hi] as number) - (sorted[lo] as number));
}

export interface MeanCi {
  readonly n: number;
  readonly mean: number;
  /** Bounds of the interval; NaN when n < 2 (one seed says nothing about seed variation). */
  readonly lo: number;
  readonly hi: number;
  /** What the bounds are: a 95% t interval of the mean, the range of the values (n = 2), a bootstrap, or none. */
  readonly kind?: 't95' | 'range' | 'bootstrap' | 'none';
}

/** Two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom (standard tables). */
const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

/** t_{0.975, df}; beyond 30 degrees of freedom the normal's 1.96 plus the first-order correction 2.4/df. */
export function tQuantile975(df: number): number {
  if (!(df >= 1)) return NaN;
  return df <= 30 ? (T975[Math.round(df) - 1] as number) : 1.96 + 2.4 / df;
}

/** Sample standard deviation (n - 1). */
export function sampleSd(xs: readonly number[]): number {
  if (xs.length < 2) return NaN;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1));
}

/**
 * The interval over seeds of a report: n >= 3 a 95% Student t interval of the mean, n = 2 the range, n < 2 none.
 * Non-finite values (a trial that logged nothing) are left out; `n` says how many seeds it rests on.
 */
export function seedInterval(xs: readonly number[]): MeanCi {
  const values = xs.filter(Number.isFinite);
  const n = values.length;
  const m = mean(values);
  if (n < 2) return { n, mean: m, lo: NaN, hi: NaN, kind: 'none' };
  if (n === 2) return { n, mean: m, lo: Math.min(...values), hi: Math.max(...values), kind: 'range' };
  const half = (tQuantile975(n - 1) * sampleSd(values)) / Math.sqrt(n);
  return { n, mean: m, lo: m - half, hi: m + half, kind: 't95' };
}

/** Mean and percentile bootstrap interval of the mean (default 95%, 2000 resamples). */
export function bootstrapMeanCi(xs: readonly number[], o: { level?: number; resamples?: number; seed?: number } = {}): MeanCi {
  const values = xs.filter(Number.isFinite);
  const n = values.length;
  const m = mean(values);
  if (n < 2) return { n, mean: m, lo: NaN, hi: NaN };
  const resamples = o.resamples ?? 2000;
  const level = o.level ?? 0.95;
  const rng = new Rng(o.seed ?? 0);
  const means = new Float64Array(resamples);
  for (let b = 0; b < resamples; b++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += values[rng.int(n)] as number;
    means[b] = s / n;
  }
  const sorted = Array.from(means).sort((a, b) => a - b);
  return { n, mean: m, lo: quantileSorted(sorted, (1 - level) / 2), hi: quantileSorted(sorted, 1 - (1 - level) / 2), kind: 'bootstrap' };
}

/** Ranks 1..n, tied values sharing their average rank. */
export function ranks(xs: readonly number[]): number[] {
  const order = xs.map((x, i) => ({ x, i })).sort((a, b) => a.x - b.x);
  const r = new Array<number>(xs.length);
  for (let start = 0; start < order.length; ) {
    let end = start;
    while (end + 1 < order.length && (order[end + 1] as { x: number }).x === (order[start] as { x: number }).x) end += 1;
    const avg = (start + end) / 2 + 1;
    for (let k = start; k <= end; k++) r[(order[k] as { i: number }).i] = avg;
    start = end + 1;
  }
  return r;
}

function pearson(x: readonly number[], y: readonly number[]): number {
  const mx = mean(x);
  const my = mean(y);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < x.length; i++) {
    const dx = (x[i] as number) - mx;
    const dy = (y[i] as number) - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxx === 0 || syy === 0 ? NaN : sxy / Math.sqrt(sxx * syy);
}

/** Spearman's rho over the pairs where both values are finite; NaN with fewer than 3 pairs or a constant side. */
export function spearman(x: readonly number[], y: readonly number[]): { rho: number; n: number } {
  const pairs = x.map((v, i) => [v, y[i] as number] as const).filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b));
  if (pairs.length < 3) return { rho: NaN, n: pairs.length };
  return { rho: pearson(ranks(pairs.map((p) => p[0])), ranks(pairs.map((p) => p[1]))), n: pairs.length };
}

/**
 * Indices of the non-dominated points: no other point is at least as good on both axes and better on one. `x` and
 * `y` say which direction is better for each (reconstruction error: min; a disentanglement score: max).
 */
export function paretoFront(points: readonly { x: number; y: number }[], better: { x: 'min' | 'max'; y: 'min' | 'max' }): number[] {
  const sx = better.x === 'min' ? -1 : 1;
  const sy = better.y === 'min' ? -1 : 1;
  const ok = points.map((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const front: number[] = [];
  points.forEach((p, i) => {
    if (!ok[i]) return;
    const dominated = points.some(
      (q, j) => j !== i && ok[j] && sx * q.x >= sx * p.x && sy * q.y >= sy * p.y && (sx * q.x > sx * p.x || sy * q.y > sy * p.y),
    );
    if (!dominated) front.push(i);
  });
  return front;
}

export interface Difference {
  /** mean(a) - mean(b). */
  readonly diff: number;
  readonly lo: number;
  readonly hi: number;
  readonly na: number;
  readonly nb: number;
  /** 'settled': the 95% interval excludes 0; 'inside the seed noise': it holds 0; 'too few seeds': n < 2 on a side. */
  readonly verdict: 'settled' | 'inside the seed noise' | 'too few seeds';
}

/**
 * 95% Welch t interval of mean(a) - mean(b) over seeds (Welch 1947: unequal variances, Satterthwaite's degrees of
 * freedom). With fewer than 2 finite values on a side there is no interval.
 */
export function differenceInterval(a: readonly number[], b: readonly number[]): Difference {
  const xa = a.filter(Number.isFinite);
  const xb = b.filter(Number.isFinite);
  const diff = mean(xa) - mean(xb);
  if (xa.length < 2 || xb.length < 2) return { diff, lo: NaN, hi: NaN, na: xa.length, nb: xb.length, verdict: 'too few seeds' };
  const va = sampleSd(xa) ** 2 / xa.length;
  const vb = sampleSd(xb) ** 2 / xb.length;
  const se = Math.sqrt(va + vb);
  const df = se === 0 ? xa.length + xb.length - 2 : (va + vb) ** 2 / (va ** 2 / (xa.length - 1) + vb ** 2 / (xb.length - 1));
  const half = tQuantile975(Math.max(1, Math.floor(df))) * se;
  const lo = diff - half;
  const hi = diff + half;
  return { diff, lo, hi, na: xa.length, nb: xb.length, verdict: lo > 0 || hi < 0 ? 'settled' : 'inside the seed noise' };
}
