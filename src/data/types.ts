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
  /**
   * Number of addressable images: for a grid, the number of factor combinations (the product of the factor sizes);
   * for a list (see `list`), the number of images.
   */
  readonly size: number;
  /** Writes the image for one factor combination (integer indices, one per factor) into out at offset, HWC order. */
  render(factorIndices: readonly number[], out: Float32Array, offset: number): void;
  /** Factor indices of a flat index in [0, size) (row-major, last factor fastest). */
  factorsOf(index: number): number[];
  /** Flat index of a factor combination. */
  indexOf(factorIndices: readonly number[]): number;
  /**
   * Present when the dataset is a list of images rather than a complete grid (users' files: an incomplete grid, or no
   * factors at all). Then factorsOf(i) are image i's factor indices, indexOf finds the first image with a combination
   * (an error when none has it), and samplers and metrics draw images from the list instead of combining factor
   * values freely.
   */
  readonly list?: ImageList;
}

/** The images of a list dataset, addressed by position, and the groups samplers and metrics draw from. */
export interface ImageList {
  /** Writes image i (0 <= i < size) into out at offset, HWC, values in [0, 1]. */
  renderImage(i: number, out: Float32Array, offset: number): void;
  /** Images whose factor `factor` has index `value`, ascending. */
  withFactor(factor: number, value: number): readonly number[];
  /** Images equal to image i in every factor but `factor` (i among them), ascending. */
  siblings(i: number, factor: number): readonly number[];
  /** Images that have at least one sibling for `factor`: where a batch varying only that factor can start. */
  anchors(factor: number): readonly number[];
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
