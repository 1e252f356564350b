// Separated Attribute Predictability (SAP).
// Based on "Variational Inference of Disentangled Latent Concepts from Unlabeled Observations" (Kumar, Sattigeri &
// Balakrishnan, 2018, https://arxiv.org/abs/1711.00848); ported from disentanglement_lib
// `evaluation/metrics/sap_score.py`.
// Score every (code, factor) pair by how well that one code predicts the factor; SAP is the mean over factors of the
// gap between the best and second-best code. Discrete factors (the library default) use the test accuracy of a
// one-feature LinearSVC(C=0.01, class_weight='balanced'); continuous factors use the squared correlation on the train
// rows.
import type { Rng } from '../random.js';
import { generateBatchFactorCode, type GroundTruthSource } from './source.js';
import { fitLinearSvc1d, predictLinearSvc1d } from './svm.js';
import { MetricInputError, meanTopTwoGap, pairedColumns, requireVaryingFactors, variance, type Rows } from './utils.js';
import { accuracy } from './logistic.js';

export interface SapResult {
  SAP_score: number;
  /** score[code][factor]. */
  scoreMatrix: number[][];
}

export interface SapOptions {
  /** Treat factors as continuous (squared correlation) instead of discrete (LinearSVC accuracy). Default false. */
  continuousFactors?: boolean;
  /** LinearSVC C (default 0.01). */
  C?: number;
}

/** SAP of a representation: numTrain (default 10000) points to fit, numTest (default 5000) to score. */
export async function computeSap(
  source: GroundTruthSource,
  rng: Rng,
  opts: SapOptions & { numTrain?: number; numTest?: number; batchSize?: number } = {},
): Promise<SapResult> {
  const batch = opts.batchSize ?? 16;
  const train = await generateBatchFactorCode(source, opts.numTrain ?? 10000, rng, batch);
  const test = await generateBatchFactorCode(source, opts.numTest ?? 5000, rng, batch);
  return sapFromCodes(train.codes, train.factors, test.codes, test.factors, opts);
}

/** SAP of fixed train and test samples (the continuous variant uses the train rows only). */
export function sapFromCodes(
  codesTrain: Rows,
  factorsTrain: Rows,
  codesTest: Rows,
  factorsTest: Rows,
  opts: SapOptions = {},
): SapResult {
  const train = pairedColumns(codesTrain, factorsTrain, 'SAP train');
  requireVaryingFactors(train.factors, 'SAP train');
  if (train.codes.length < 2) throw new MetricInputError('SAP needs at least two code dimensions');
  let scoreMatrix: number[][];
  if (opts.continuousFactors) {
    scoreMatrix = train.codes.map((mu) => {
      const varMu = variance(mu, 1);
      return train.factors.map((y) => {
        if (!(varMu > 1e-12)) return 0;
        return correlationSquaredNumerator(mu, y) / (varMu * variance(y, 1));
      });
    });
  } else {
    const test = pairedColumns(codesTest, factorsTest, 'SAP test');
    if (test.codes.length !== train.codes.length || test.factors.length !== train.factors.length) {
      throw new MetricInputError(
        `SAP: train has ${train.codes.length} codes and ${train.factors.length} factors, ` +
          `test has ${test.codes.length} and ${test.factors.length}`,
      );
    }
    const C = opts.C ?? 0.01;
    scoreMatrix = train.codes.map((mu, i) =>
      train.factors.map((y, j) => {
        const model = fitLinearSvc1d(mu, y, C);
        return accuracy(predictLinearSvc1d(model, test.codes[i] as Float64Array), test.factors[j] as Int32Array);
      }),
    );
  }
  return { SAP_score: meanTopTwoGap(scoreMatrix), scoreMatrix };
}

/** cov(a, b)^2 with ddof = 1 (numpy `np.cov(a, b)[0, 1] ** 2`). */
function correlationSquaredNumerator(a: Float64Array, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i] as number;
    mb += b[i] as number;
  }
  ma /= n;
  mb /= n;
  let s = 0;
  for (let i = 0; i < n; i++) s += ((a[i] as number) - ma) * ((b[i] as number) - mb);
  const cov = s / (n - 1);
  return cov * cov;
}
