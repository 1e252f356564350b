// FactorVAE score.
// Based on "Disentangling by Factorising" (Kim & Mnih, 2018, https://arxiv.org/pdf/1802.05983.pdf); ported from
// disentanglement_lib `evaluation/metrics/factor_vae.py`.
// Each point fixes one random factor across a batch; the code with the smallest variance (relative to its global
// variance, among codes whose global std is at least 0.05) votes for that factor. A majority-vote classifier maps
// each code to a factor; the score is the fraction of votes it gets right, on training and on fresh points.
import type { Rng } from '../random.js';
import { representRows, sampleFactorRows, type GroundTruthSource } from './source.js';
import { MetricInputError } from './utils.js';

export interface FactorVaeOptions {
  batchSize?: number;
  numTrain?: number;
  numEval?: number;
  numVarianceEstimate?: number;
  /** Codes whose global std is below this are pruned (default 0.05, disentanglement_lib's gin binding). */
  pruneThreshold?: number;
  pointsPerCall?: number;
}

export interface FactorVaeResult {
  train_accuracy: number;
  eval_accuracy: number;
  /** Codes that passed the prune threshold (a count, unlike the library's quirk). */
  num_active_dims: number;
  /** votes[factor][code]. */
  trainVotes: number[][];
}

/** Per-dimension variance with ddof = 1 of rows of codes. */
function columnVariances(reps: readonly ArrayLike<number>[], from: number, to: number): Float64Array {
  const d = (reps[from] as ArrayLike<number>).length;
  const n = to - from;
  const mean = new Float64Array(d);
  for (let i = from; i < to; i++) {
    const r = reps[i] as ArrayLike<number>;
    for (let j = 0; j < d; j++) mean[j]! += r[j] as number;
  }
  for (let j = 0; j < d; j++) mean[j]! /= n;
  const v = new Float64Array(d);
  for (let i = from; i < to; i++) {
    const r = reps[i] as ArrayLike<number>;
    for (let j = 0; j < d; j++) v[j]! += ((r[j] as number) - (mean[j] as number)) ** 2;
  }
  for (let j = 0; j < d; j++) {
    v[j]! /= n - 1;
    if (!Number.isFinite(v[j])) throw new MetricInputError(`FactorVAE score: representation dim ${j} is not finite`);
  }
  return v;
}

/** Global variance per code over numPoints sampled points (ddof = 1). */
export async function globalVariances(
  source: GroundTruthSource,
  rng: Rng,
  numPoints: number,
  chunk = 64,
): Promise<Float64Array> {
  const factors = sampleFactorRows(source, numPoints, rng);
  const reps: ArrayLike<number>[] = [];
  for (let i = 0; i < numPoints; i += chunk) reps.push(...(await representRows(source, factors.slice(i, i + chunk))));
  return columnVariances(reps, 0, numPoints);
}

/** votes[factor][code] over numPoints points. */
export async function factorVaeVotes(
  source: GroundTruthSource,
  rng: Rng,
  numPoints: number,
  batchSize: number,
  globalVar: Float64Array,
  active: readonly number[],
  pointsPerCall = 64,
): Promise<number[][]> {
  const k = source.factorSizes.length;
  const votes = Array.from({ length: k }, () => new Array<number>(globalVar.length).fill(0));
  for (let start = 0; start < numPoints; start += pointsPerCall) {
    const count = Math.min(pointsPerCall, numPoints - start);
    const rows: number[][] = [];
    const fixed: number[] = [];
    for (let p = 0; p < count; p++) {
      const index = rng.int(k);
      fixed.push(index);
      const f = sampleFactorRows(source, batchSize, rng);
      const v = (f[0] as number[])[index] as number;
      if (source.sampleWithFactor === undefined) {
        for (const row of f) row[index] = v;
        rows.push(...f);
      } else {
        // Only some combinations exist: draw the batch among the observations that have the fixed value.
        rows.push(...source.sampleWithFactor(batchSize, index, v, rng));
      }
    }
    const reps = await representRows(source, rows);
    for (let p = 0; p < count; p++) {
      const local = columnVariances(reps, p * batchSize, (p + 1) * batchSize);
      let best = -1;
      let bestV = Infinity;
      for (const j of active) {
        const r = (local[j] as number) / (globalVar[j] as number);
        if (r < bestV) {
          bestV = r;
          best = j;
        }
      }
      if (best < 0) best = active[0] as number; // every ratio NaN: cannot happen for finite codes
      (votes[fixed[p] as number] as number[])[best]! += 1;
    }
  }
  return votes;
}

/** Accuracy of the majority-vote classifier `classifier[code] = factor` on a vote matrix. */
export function votesAccuracy(votes: readonly (readonly number[])[], classifier: readonly number[]): number {
  let hit = 0;
  let total = 0;
  votes.forEach((row, k) =>
    row.forEach((v, j) => {
      total += v;
      if (classifier[j] === k) hit += v;
    }),
  );
  return hit / total;
}

/** Majority vote per code (argmax over factors, first on ties). */
export function majorityVote(votes: readonly (readonly number[])[]): number[] {
  const numCodes = (votes[0] as readonly number[]).length;
  return Array.from({ length: numCodes }, (_, j) => {
    let best = 0;
    for (let k = 1; k < votes.length; k++) {
      if (((votes[k] as readonly number[])[j] as number) > ((votes[best] as readonly number[])[j] as number)) best = k;
    }
    return best;
  });
}

/** FactorVAE score (defaults of disentanglement_lib: batch 64, 10000 train, 5000 eval, 10000 for the variances). */
export async function computeFactorVae(
  source: GroundTruthSource,
  rng: Rng,
  opts: FactorVaeOptions = {},
): Promise<FactorVaeResult> {
  const batchSize = opts.batchSize ?? 64;
  if (batchSize < 2) throw new MetricInputError('FactorVAE score: batchSize must be at least 2');
  const globalVar = await globalVariances(source, rng, opts.numVarianceEstimate ?? 10000);
  const threshold = opts.pruneThreshold ?? 0.05;
  const active: number[] = [];
  globalVar.forEach((v, j) => {
    if (Math.sqrt(v) >= threshold) active.push(j);
  });
  if (active.length === 0) return { train_accuracy: 0, eval_accuracy: 0, num_active_dims: 0, trainVotes: [] };
  const trainVotes = await factorVaeVotes(
    source,
    rng,
    opts.numTrain ?? 10000,
    batchSize,
    globalVar,
    active,
    opts.pointsPerCall,
  );
  const classifier = majorityVote(trainVotes);
  const evalVotes = await factorVaeVotes(
    source,
    rng,
    opts.numEval ?? 5000,
    batchSize,
    globalVar,
    active,
    opts.pointsPerCall,
  );
  return {
    train_accuracy: votesAccuracy(trainVotes, classifier),
    eval_accuracy: votesAccuracy(evalVotes, classifier),
    num_active_dims: active.length,
    trainVotes,
  };
}
