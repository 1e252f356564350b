// The ground-truth source every sampling metric draws from, after disentanglement_lib's `GroundTruthData` together
// with a `representation_function`: factor vectors are sampled, and the representation of their observations is
// returned. For a trained model `represent` renders the images and returns the encoder means; for a conformance case
// it is the closed-form linear map with fresh noise on every call.
import type { Rng } from '../random.js';
import { MetricInputError } from './utils.js';

export interface GroundTruthSource {
  /** Number of values of each factor; factor k takes indices 0 .. factorSizes[k]-1. */
  readonly factorSizes: readonly number[];
  /** n factor vectors (rows of K indices). */
  sampleFactors(n: number, rng: Rng): number[][] | Int32Array[];
  /** Representation (rows of D numbers) of the observations of the given factor vectors. */
  represent(factors: number[][]): Promise<ArrayLike<number>[]>;
  /**
   * n factor vectors whose factor k has index `value`, for sources that hold only some combinations (a list of
   * images); absent when every combination exists, and metrics that fix a factor overwrite it in sampled vectors.
   */
  sampleWithFactor?(n: number, k: number, value: number, rng: Rng): number[][];
}

/** Uniform factor sampler: column k drawn with rng.int(size_k), k = 0..K-1 in order per row. */
export function uniformFactorSampler(factorSizes: readonly number[]): (n: number, rng: Rng) => number[][] {
  return (n, rng) => {
    const out: number[][] = [];
    for (let i = 0; i < n; i++) out.push(factorSizes.map((s) => rng.int(s)));
    return out;
  };
}

export function sampleFactorRows(source: GroundTruthSource, n: number, rng: Rng): number[][] {
  const rows = source.sampleFactors(n, rng);
  if (rows.length !== n) throw new MetricInputError(`sampleFactors(${n}) returned ${rows.length} rows`);
  return rows.map((r) => Array.from(r));
}

/** Calls represent and checks it returned one finite row per factor vector. */
export async function representRows(source: GroundTruthSource, factors: number[][]): Promise<ArrayLike<number>[]> {
  const reps = await source.represent(factors);
  if (reps.length !== factors.length) {
    throw new MetricInputError(`represent() returned ${reps.length} rows for ${factors.length} factor vectors`);
  }
  return reps;
}

/**
 * Samples numPoints (codes, factors) pairs, batchSize at a time, as disentanglement_lib
 * `utils.generate_batch_factor_code`; returns row-major codes and factors.
 */
export async function generateBatchFactorCode(
  source: GroundTruthSource,
  numPoints: number,
  rng: Rng,
  batchSize: number,
): Promise<{ codes: ArrayLike<number>[]; factors: number[][] }> {
  const codes: ArrayLike<number>[] = [];
  const factors: number[][] = [];
  for (let i = 0; i < numPoints; i += batchSize) {
    const f = sampleFactorRows(source, Math.min(batchSize, numPoints - i), rng);
    const r = await representRows(source, f);
    factors.push(...f);
    codes.push(...r);
  }
  return { codes, factors };
}
