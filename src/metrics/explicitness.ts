// Explicitness.
// Based on "Learning Deep Disentangled Embeddings With the F-Statistic Loss" (Ridgeway & Mozer, 2018,
// https://arxiv.org/pdf/1802.05312.pdf); ported from disentanglement_lib
// `evaluation/metrics/modularity_explicitness.py` (its explicitness half; modularity is in modularity.ts).
// A factor is explicit when a linear classifier reads it off the (standardised) codes: per factor, the macro
// one-vs-rest ROC AUC of an L2 logistic regression; averaged over factors, on the train and on the test rows.
import type { Rng } from '../random.js';
import { fitLogistic, macroRocAuc, predictProba } from './logistic.js';
import { generateBatchFactorCode, type GroundTruthSource } from './source.js';
import { MetricInputError, pairedColumns, requireVaryingFactors, type Rows } from './utils.js';

export interface ExplicitnessResult {
  explicitness_score_train: number;
  explicitness_score_test: number;
  perFactorTrain: number[];
  perFactorTest: number[];
}

/** Explicitness of a representation: numTrain (default 10000) points to fit, numTest (default 5000) to score. */
export async function computeExplicitness(
  source: GroundTruthSource,
  rng: Rng,
  opts: { numTrain?: number; numTest?: number; batchSize?: number } = {},
): Promise<ExplicitnessResult> {
  const batch = opts.batchSize ?? 16;
  const train = await generateBatchFactorCode(source, opts.numTrain ?? 10000, rng, batch);
  const test = await generateBatchFactorCode(source, opts.numTest ?? 5000, rng, batch);
  return explicitnessFromCodes(train.codes, train.factors, test.codes, test.factors);
}

/** Explicitness of fixed train and test samples. */
export function explicitnessFromCodes(
  codesTrain: Rows,
  factorsTrain: Rows,
  codesTest: Rows,
  factorsTest: Rows,
): ExplicitnessResult {
  const train = pairedColumns(codesTrain, factorsTrain, 'Explicitness train');
  const test = pairedColumns(codesTest, factorsTest, 'Explicitness test');
  if (test.codes.length !== train.codes.length || test.factors.length !== train.factors.length) {
    throw new MetricInputError('Explicitness: train and test differ in the number of codes or factors');
  }
  requireVaryingFactors(train.factors, 'Explicitness train');
  // Standardise with the train mean and population std (disentanglement_lib `utils.normalize_data`).
  const stats = train.codes.map((c, j) => {
    let m = 0;
    for (let i = 0; i < c.length; i++) m += c[i] as number;
    m /= c.length;
    let v = 0;
    for (let i = 0; i < c.length; i++) v += ((c[i] as number) - m) ** 2;
    const sd = Math.sqrt(v / c.length);
    if (!(sd > 0)) {
      throw new MetricInputError(`Explicitness: code ${j} is constant on the train rows; it cannot be standardised`);
    }
    return { m, sd };
  });
  const norm = (cols: Float64Array[]): Float64Array[] =>
    cols.map((c, j) => {
      const { m, sd } = stats[j] as { m: number; sd: number };
      return c.map((v) => (v - m) / sd);
    });
  const xTrain = norm(train.codes);
  const xTest = norm(test.codes);
  const perFactorTrain: number[] = [];
  const perFactorTest: number[] = [];
  train.factors.forEach((y, k) => {
    const model = fitLogistic(xTrain, y);
    perFactorTrain.push(macroRocAuc(y, predictProba(model, xTrain), model.classes));
    perFactorTest.push(macroRocAuc(test.factors[k] as Int32Array, predictProba(model, xTest), model.classes));
  });
  const avg = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
  return {
    explicitness_score_train: avg(perFactorTrain),
    explicitness_score_test: avg(perFactorTest),
    perFactorTrain,
    perFactorTest,
  };
}
