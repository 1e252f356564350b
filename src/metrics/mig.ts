// Mutual Information Gap (MIG).
// Based on "Isolating Sources of Disentanglement in Variational Autoencoders" (Chen, Li, Grosse & Duvenaud, 2018,
// https://arxiv.org/pdf/1802.04942.pdf); ported from disentanglement_lib `evaluation/metrics/mig.py`.
// For each factor: the gap between the two largest mutual informations with a discretised code, divided by the
// factor's entropy; averaged over factors.
import type { Rng } from '../random.js';
import { generateBatchFactorCode, type GroundTruthSource } from './source.js';
import {
  discreteEntropy,
  discreteMutualInfo,
  discretizeColumns,
  MetricInputError,
  pairedColumns,
  requireVaryingFactors,
  type Rows,
} from './utils.js';

export interface MigResult {
  discrete_mig: number;
  /** MI in nats, [code][factor]. */
  mutualInfo: number[][];
  /** Entropy of each factor in nats. */
  factorEntropy: number[];
}

export interface MigOptions {
  numTrain?: number;
  batchSize?: number;
  numBins?: number;
}

/** MIG of a representation: samples numTrain points (default 10000, batches of 16) from the source. */
export async function computeMig(source: GroundTruthSource, rng: Rng, opts: MigOptions = {}): Promise<MigResult> {
  const { codes, factors } = await generateBatchFactorCode(source, opts.numTrain ?? 10000, rng, opts.batchSize ?? 16);
  return migFromCodes(codes, factors, opts.numBins);
}

/** MIG of a fixed sample: codes (N rows of D) and their factors (N rows of K). */
export function migFromCodes(codes: Rows, factors: Rows, numBins = 20): MigResult {
  const cols = pairedColumns(codes, factors, 'MIG');
  if (cols.codes.length < 2) throw new MetricInputError('MIG needs at least two code dimensions');
  requireVaryingFactors(cols.factors, 'MIG');
  const mutualInfo = discreteMutualInfo(discretizeColumns(cols.codes, numBins), cols.factors);
  const factorEntropy = discreteEntropy(cols.factors);
  let total = 0;
  factorEntropy.forEach((h, k) => {
    const col = mutualInfo.map((row) => row[k] as number).sort((a, b) => b - a);
    total += ((col[0] as number) - (col[1] as number)) / h;
  });
  return { discrete_mig: total / factorEntropy.length, mutualInfo, factorEntropy };
}
