// DCI: Disentanglement, Completeness and Informativeness.
// Based on "A Framework for the Quantitative Evaluation of Disentangled Representations" (Eastwood & Williams, 2018,
// https://openreview.net/forum?id=By-7dz-AZ); ported from disentanglement_lib `evaluation/metrics/dci.py`.
// Per factor a gradient-boosted-trees classifier on all codes gives an importance of each code; disentanglement is
// how concentrated each code's importance is on one factor, completeness how concentrated each factor's importance is
// on one code (both 1 - normalised entropy, weighted by importance mass), informativeness the classifiers' accuracy.
import type { Rng } from '../random.js';
import { fitGbt, predictGbt, type GbtOptions } from './gbt.js';
import { NumpyRandomState } from './numpy-random.js';
import { accuracy } from './logistic.js';
import { generateBatchFactorCode, type GroundTruthSource } from './source.js';
import { MetricInputError, pairedColumns, requireVaryingFactors, type Rows } from './utils.js';

export interface DciResult {
  disentanglement: number;
  completeness: number;
  informativeness_train: number;
  informativeness_test: number;
  /** importance[code][factor]. */
  importanceMatrix: number[][];
  disentanglementPerCode: number[];
  completenessPerFactor: number[];
}

/** DCI of a representation: numTrain (default 10000) points to fit, numTest (default 5000) to score. */
export async function computeDci(
  source: GroundTruthSource,
  rng: Rng,
  opts: GbtOptions & { numTrain?: number; numTest?: number; batchSize?: number } = {},
): Promise<DciResult> {
  const batch = opts.batchSize ?? 16;
  const train = await generateBatchFactorCode(source, opts.numTrain ?? 10000, rng, batch);
  const test = await generateBatchFactorCode(source, opts.numTest ?? 5000, rng, batch);
  return dciFromCodes(train.codes, train.factors, test.codes, test.factors, opts);
}

/** 1 - entropy(p + 1e-11 normalised) in log base `base` (scipy.stats.entropy). */
function oneMinusEntropy(values: readonly number[], base: number): number {
  const p = values.map((v) => v + 1e-11);
  const total = p.reduce((a, b) => a + b, 0);
  let h = 0;
  for (const v of p) {
    const q = v / total;
    if (q > 0) h -= q * Math.log(q);
  }
  return 1 - h / Math.log(base);
}

/** Disentanglement and completeness from an importance matrix [code][factor]. */
export function dciFromImportance(importance: readonly (readonly number[])[]): {
  disentanglement: number;
  completeness: number;
  disentanglementPerCode: number[];
  completenessPerFactor: number[];
} {
  const numCodes = importance.length;
  const numFactors = (importance[0] as readonly number[]).length;
  if (numCodes < 2 || numFactors < 2) {
    throw new MetricInputError(`DCI needs at least two codes and two factors (got ${numCodes} and ${numFactors})`);
  }
  const disentanglementPerCode = importance.map((row) => oneMinusEntropy(row, numFactors));
  const completenessPerFactor = Array.from({ length: numFactors }, (_, k) =>
    oneMinusEntropy(importance.map((row) => row[k] as number), numCodes),
  );
  let total = 0;
  for (const row of importance) for (const v of row) total += v;
  const m = total === 0 ? importance.map((row) => row.map(() => 1)) : importance;
  const mTotal = total === 0 ? numCodes * numFactors : total;
  let disentanglement = 0;
  m.forEach((row, d) => {
    disentanglement += (disentanglementPerCode[d] as number) * (row.reduce((a, b) => a + b, 0) / mTotal);
  });
  let completeness = 0;
  for (let k = 0; k < numFactors; k++) {
    const colSum = m.reduce((a, row) => a + (row[k] as number), 0);
    completeness += (completenessPerFactor[k] as number) * (colSum / mTotal);
  }
  return { disentanglement, completeness, disentanglementPerCode, completenessPerFactor };
}

/** DCI of fixed train and test samples. */
export function dciFromCodes(
  codesTrain: Rows,
  factorsTrain: Rows,
  codesTest: Rows,
  factorsTest: Rows,
  opts: GbtOptions & { seed?: number } = {},
): DciResult {
  const train = pairedColumns(codesTrain, factorsTrain, 'DCI train');
  const test = pairedColumns(codesTest, factorsTest, 'DCI test');
  if (test.codes.length !== train.codes.length || test.factors.length !== train.factors.length) {
    throw new MetricInputError('DCI: train and test differ in the number of codes or factors');
  }
  requireVaryingFactors(train.factors, 'DCI train');
  // One random stream across the factors' fits, as `np.random.seed(seed)` before the library's `_compute_dci`.
  const random = opts.random ?? new NumpyRandomState(opts.seed ?? 0);
  const importanceMatrix = train.codes.map(() => new Array<number>(train.factors.length).fill(0));
  const accTrain: number[] = [];
  const accTest: number[] = [];
  train.factors.forEach((y, k) => {
    const model = fitGbt(train.codes, y, { ...opts, random });
    model.featureImportances.forEach((v, d) => ((importanceMatrix[d] as number[])[k] = Math.abs(v)));
    accTrain.push(accuracy(model.trainPredictions, y));
    accTest.push(accuracy(predictGbt(model, test.codes), test.factors[k] as Int32Array));
  });
  const avg = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
  return {
    ...dciFromImportance(importanceMatrix),
    informativeness_train: avg(accTrain),
    informativeness_test: avg(accTest),
    importanceMatrix,
  };
}
