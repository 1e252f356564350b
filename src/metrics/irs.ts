// Interventional Robustness Score (IRS).
// Based on "Robustly Disentangled Causal Mechanisms: Validating Deep Representations for Interventional Robustness"
// (Suter, Miladinovic, Schoelkopf & Bauer, 2019, https://arxiv.org/abs/1811.00007); ported from disentanglement_lib
// `evaluation/metrics/irs.py` (`scalable_disentanglement_score`).
// For each code and factor: how far the code moves (99th percentile of |z - E[z | factor value]|) when every factor
// but that one is left free, relative to the code's largest deviation; the best factor's robustness per code,
// weighted by that largest deviation.
import type { Rng } from '../random.js';
import { generateBatchFactorCode, type GroundTruthSource } from './source.js';
import { discretizeColumns, mean, MetricInputError, pairedColumns, variance, type Rows } from './utils.js';

export interface IrsResult {
  IRS: number;
  /** irs[activeCode][factor] for the non-constant codes. */
  irsMatrix: number[][];
  disentanglementScores: number[];
  maxDeviations: number[];
  /** Indices of the non-constant codes the score used. */
  activeDims: number[];
  numActiveDims: number;
}

export interface IrsOptions {
  diffQuantile?: number;
  numBins?: number;
}

/** IRS of a representation over numTrain sampled points (default 10000, batches of 16). */
export async function computeIrs(
  source: GroundTruthSource,
  rng: Rng,
  opts: IrsOptions & { numTrain?: number; batchSize?: number } = {},
): Promise<IrsResult> {
  const { codes, factors } = await generateBatchFactorCode(source, opts.numTrain ?? 10000, rng, opts.batchSize ?? 16);
  return irsFromCodes(codes, factors, opts);
}

/** numpy `percentile(x, q*100)` with linear interpolation, on a sorted copy. */
export function quantileLinear(values: Float64Array, q: number): number {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  const pos = (n - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, n - 1);
  const t = pos - lo;
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  // numpy's _lerp: a + (b - a) t, computed from the upper end when t >= 0.5.
  return t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t;
}

/** IRS of a fixed sample (the library scores the train rows). */
export function irsFromCodes(codes: Rows, factors: Rows, opts: IrsOptions = {}): IrsResult {
  const q = opts.diffQuantile ?? 0.99;
  if (!(q >= 0 && q <= 1)) throw new MetricInputError(`IRS: diffQuantile must lie in [0, 1], got ${q}`);
  const cols = pairedColumns(codes, factors, 'IRS');
  const n = codes.length;
  const genFactors = discretizeColumns(cols.factors, opts.numBins ?? 20);
  const activeDims: number[] = [];
  cols.codes.forEach((c, j) => {
    if (variance(c) > 0) activeDims.push(j);
  });
  if (activeDims.length === 0) {
    return { IRS: 0, irsMatrix: [], disentanglementScores: [], maxDeviations: [], activeDims, numActiveDims: 0 };
  }
  const latents = activeDims.map((j) => cols.codes[j] as Float64Array);
  const maxDeviations = latents.map((z) => {
    const m = mean(z);
    let best = 0;
    for (let i = 0; i < n; i++) best = Math.max(best, Math.abs((z[i] as number) - m));
    return best;
  });
  const numGen = genFactors.length;
  const cum = latents.map(() => new Float64Array(numGen));
  genFactors.forEach((g, k) => {
    const groups = new Map<number, number[]>();
    for (let i = 0; i < n; i++) {
      const v = g[i] as number;
      let list = groups.get(v);
      if (!list) groups.set(v, (list = []));
      list.push(i);
    }
    for (const rows of groups.values()) {
      latents.forEach((z, j) => {
        const sub = Float64Array.from(rows, (i) => z[i] as number);
        const e = mean(sub);
        for (let t = 0; t < sub.length; t++) sub[t] = Math.abs((sub[t] as number) - e);
        (cum[j] as Float64Array)[k]! += quantileLinear(sub, q);
      });
    }
    cum.forEach((c) => (c[k]! /= groups.size));
  });
  const irsMatrix = cum.map((c, j) => Array.from(c, (v) => 1 - v / (maxDeviations[j] as number)));
  const disentanglementScores = irsMatrix.map((row) => Math.max(...row));
  const totalDev = maxDeviations.reduce((a, b) => a + b, 0);
  const IRS =
    totalDev > 0
      ? disentanglementScores.reduce((a, s, j) => a + s * (maxDeviations[j] as number), 0) / totalDev
      : disentanglementScores.reduce((a, b) => a + b, 0) / disentanglementScores.length;
  return { IRS, irsMatrix, disentanglementScores, maxDeviations, activeDims, numActiveDims: activeDims.length };
}
