// The contracts every dataset and sampler honours, so the trainer, the metrics and the workers need not know which
// dataset they were given.

/** A dataset whose every image is a pure function of its discrete generative factors. */
export interface FactorDataset {
  readonly name: string;
  /** One entry per generative factor, in a fixed order. */
  readonly factors: readonly FactorSpec[];
  /** Images are square: imageSize x imageSize x channels, values in [0, 1]. */
  readonly imageSize: number;
  readonly channels: number;
  /** Number of distinct factor combinations (the product of the factor sizes). */
  readonly size: number;
  /** Writes the image for one factor combination (integer indices, one per factor) into out at offset, HWC order. */
  render(factorIndices: readonly number[], out: Float32Array, offset: number): void;
  /** Factor indices of a flat index in [0, size) (row-major, last factor fastest). */
  factorsOf(index: number): number[];
  /** Flat index of a factor combination. */
  indexOf(factorIndices: readonly number[]): number;
}

export interface FactorSpec {
  readonly name: string;
  /** Number of values the factor takes; its indices are 0 .. size-1. */
  readonly size: number;
  /** The physical value of each index (e.g. radians for an angle), for display and for continuous metrics. */
  readonly values: readonly number[];
  /** Optional display names of the values (e.g. shape names), same length as values. */
  readonly labels?: readonly string[];
}

/** One minibatch, ready to become a tensor. */
export interface Batch {
  /** batchSize x imageSize x imageSize x channels, HWC per image. */
  readonly images: Float32Array;
  readonly batchSize: number;
  /** Factor indices per image. */
  readonly factors: readonly (readonly number[])[];
  /** Index of the factor that alone varies in this batch (DCIGN batches); undefined for i.i.d. batches. */
  readonly variedFactor?: number;
  /** Position of each image in the global sample order; ties per-sample noise to the sample, not to the replica. */
  readonly globalIndices: readonly number[];
}

/** A resumable source of minibatches: position() is stored in checkpoints and restore() continues exactly. */
export interface Sampler {
  next(): Batch;
  position(): SamplerPosition;
  restore(position: SamplerPosition): void;
}

/** JSON-serialisable sampler state. */
export type SamplerPosition = Readonly<Record<string, unknown>>;
