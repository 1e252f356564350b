// BetaVAE score.
// Based on "beta-VAE: Learning Basic Visual Concepts with a Constrained Variational Framework" (Higgins et al., 2017,
// https://openreview.net/forum?id=Sy2fzU9gl); ported from disentanglement_lib `evaluation/metrics/beta_vae.py`
// (`compute_beta_vae_sklearn`).
// Each point fixes one random factor across two batches whose other factors are drawn independently; the feature is
// the mean absolute difference of their codes, the label the fixed factor. The score is the accuracy of a logistic
// regression predicting the label, on its training points and on fresh evaluation points.
import type { Rng } from '../random.js';
import { accuracy, fitLogistic, predictLogistic } from './logistic.js';
import { representRows, sampleFactorRows, type GroundTruthSource } from './source.js';
import { MetricInputError } from './utils.js';

export interface BetaVaeOptions {
  batchSize?: number;
  numTrain?: number;
  numEval?: number;
  /** Points whose batches go to one represent() call (default 64). */
  pointsPerCall?: number;
}

export interface BetaVaeResult {
  train_accuracy: number;
  eval_accuracy: number;
}

/** Features (one row of D per point) and labels for numPoints points. */
export async function betaVaeBatch(
  source: GroundTruthSource,
  rng: Rng,
  numPoints: number,
  batchSize: number,
  pointsPerCall = 64,
): Promise<{ features: Float64Array[]; labels: Int32Array }> {
  const k = source.factorSizes.length;
  if (k < 2) throw new MetricInputError('BetaVAE score needs at least two factors');
  const labels = new Int32Array(numPoints);
  const features: Float64Array[] = [];
  for (let start = 0; start < numPoints; start += pointsPerCall) {
    const count = Math.min(pointsPerCall, numPoints - start);
    const rows: number[][] = [];
    for (let p = 0; p < count; p++) {
      const index = rng.int(k);
      labels[start + p] = index;
      const f1 = sampleFactorRows(source, batchSize, rng);
      let f2: number[][];
      if (source.sampleWithFactor === undefined) {
        f2 = sampleFactorRows(source, batchSize, rng);
        for (let b = 0; b < batchSize; b++) (f2[b] as number[])[index] = (f1[b] as number[])[index] as number;
      } else {
        // Only some combinations exist: draw each partner among the observations that share the fixed value.
        const withFactor = source.sampleWithFactor.bind(source);
        f2 = f1.map((row) => withFactor(1, index, row[index] as number, rng)[0] as number[]);
      }
      rows.push(...f1, ...f2);
    }
    const reps = await representRows(source, rows);
    for (let p = 0; p < count; p++) {
      const base = p * 2 * batchSize;
      const d = (reps[base] as ArrayLike<number>).length;
      const feat = new Float64Array(d);
      for (let b = 0; b < batchSize; b++) {
        const r1 = reps[base + b] as ArrayLike<number>;
        const r2 = reps[base + batchSize + b] as ArrayLike<number>;
        for (let j = 0; j < d; j++) feat[j]! += Math.abs((r1[j] as number) - (r2[j] as number));
      }
      for (let j = 0; j < d; j++) {
        feat[j]! /= batchSize;
        if (!Number.isFinite(feat[j])) throw new MetricInputError(`BetaVAE score: representation dim ${j} is not finite`);
      }
      features.push(feat);
    }
  }
  return { features, labels };
}

/** BetaVAE score (defaults of disentanglement_lib: batch 64, 10000 train and 5000 eval points). */
export async function computeBetaVae(
  source: GroundTruthSource,
  rng: Rng,
  opts: BetaVaeOptions = {},
): Promise<BetaVaeResult> {
  const batchSize = opts.batchSize ?? 64;
  const train = await betaVaeBatch(source, rng, opts.numTrain ?? 10000, batchSize, opts.pointsPerCall);
  const model = betaVaeClassifier(train.features, train.labels);
  const evalSet = await betaVaeBatch(source, rng, opts.numEval ?? 5000, batchSize, opts.pointsPerCall);
  return {
    train_accuracy: betaVaeAccuracy(model, train.features, train.labels),
    eval_accuracy: betaVaeAccuracy(model, evalSet.features, evalSet.labels),
  };
}

type Model = ReturnType<typeof fitLogistic>;

function toColumns(features: Float64Array[]): Float64Array[] {
  const d = (features[0] as Float64Array).length;
  return Array.from({ length: d }, (_, j) => Float64Array.from(features, (f) => f[j] as number));
}

/** Logistic regression (scikit-learn defaults) on the features; the pure part of the score. */
export function betaVaeClassifier(features: Float64Array[], labels: Int32Array): Model {
  if (features.length !== labels.length) throw new MetricInputError('BetaVAE score: features and labels differ in length');
  return fitLogistic(toColumns(features), labels);
}

export function betaVaeAccuracy(model: Model, features: Float64Array[], labels: Int32Array): number {
  return accuracy(predictLogistic(model, toColumns(features)), labels);
}
