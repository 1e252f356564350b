// Modularity.
// Based on "Learning Deep Disentangled Embeddings With the F-Statistic Loss" (Ridgeway & Mozer, 2018,
// https://arxiv.org/pdf/1802.05312.pdf); ported from disentanglement_lib
// `evaluation/metrics/modularity_explicitness.py` (its modularity half; explicitness is in explicitness.ts).
// A code is modular when it carries information about one factor only: 1 minus the squared-MI mass outside the best
// factor, relative to the best factor's, averaged over all codes.
import type { Rng } from '../random.js';
import { generateBatchFactorCode, type GroundTruthSource } from './source.js';
import { discreteMutualInfo, discretizeColumns, pairedColumns, type Rows } from './utils.js';

export interface ModularityResult {
  modularity_score: number;
  /** MI in nats, [code][factor]. */
  mutualInfo: number[][];
  perCode: number[];
}

/** Modularity of a representation over numTrain sampled points (default 10000, batches of 16). */
export async function computeModularity(
  source: GroundTruthSource,
  rng: Rng,
  opts: { numTrain?: number; batchSize?: number; numBins?: number } = {},
): Promise<ModularityResult> {
  const { codes, factors } = await generateBatchFactorCode(source, opts.numTrain ?? 10000, rng, opts.batchSize ?? 16);
  return modularityFromCodes(codes, factors, opts.numBins);
}

/** Modularity of a fixed sample (the library scores the train rows only). */
export function modularityFromCodes(codes: Rows, factors: Rows, numBins = 20): ModularityResult {
  const cols = pairedColumns(codes, factors, 'Modularity');
  const mutualInfo = discreteMutualInfo(discretizeColumns(cols.codes, numBins), cols.factors);
  return { ...modularityFromMutualInfo(mutualInfo), mutualInfo };
}

/** Modularity from an MI matrix [code][factor]. */
export function modularityFromMutualInfo(mutualInfo: readonly (readonly number[])[]): {
  modularity_score: number;
  perCode: number[];
} {
  const perCode = mutualInfo.map((row) => {
    const sq = row.map((v) => v * v);
    const max = Math.max(...sq);
    if (max === 0) return 0;
    const sum = sq.reduce((a, b) => a + b, 0);
    const delta = (sum - max) / (max * (sq.length - 1));
    return 1 - delta;
  });
  return { modularity_score: perCode.reduce((a, b) => a + b, 0) / perCode.length, perCode };
}
