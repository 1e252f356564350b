// Minibatch samplers over a FactorDataset, deterministic in (seed, step) and shardable across data-parallel replicas.
//
// Both kinds define one global batch per step that every replica can compute on its own; replica `rank` of
// `worldSize` takes the contiguous slice [rank * B / W, (rank + 1) * B / W). So the replicas' shards are disjoint, they
// cover the global batch, and the global sample order for a seed does not depend on how many replicas there are.
// Batch.globalIndices gives each image's position g = step * batchSize + i in that order, so training noise can be tied
// to the sample rather than to the replica.
//
//  - iid: sample g draws each factor uniformly from Rng(mixSeed(seed, g)), with replacement across samples.
//  - dcign (Kulkarni et al. 2015, "Deep Convolutional Inverse Graphics Network", Sec. 3.1): in every batch exactly one
//    factor varies and all others are fixed to one random combination. The varied factor is drawn per step (uniformly
//    among the factors with more than one value) unless `variedFactor` fixes it; its values run through a shuffled
//    cycle of all its values, so a batch covers the factor's range as evenly as the batch size allows.
// Over a list dataset (users' files: images need not form a complete grid) samples are images, not combinations:
//  - iid: sample g is image Rng(mixSeed(seed, g)).int(size);
//  - dcign: the batch starts from a random image that has siblings (images differing from it in the varied factor
//    only) and runs through a shuffled cycle of that sibling group. Factors without any such group are never varied.
import { mixSeed, Rng } from '../random.js';
import { resolveFactor } from './grid.js';
import type { Batch, FactorDataset, ImageList, Sampler, SamplerPosition } from './types.js';

export type SamplerKind = 'iid' | 'dcign';

export interface SamplerOptions {
  readonly kind: SamplerKind;
  /** Global batch size (summed over replicas). */
  readonly batchSize: number;
  readonly seed: number;
  readonly rank?: number;
  readonly worldSize?: number;
  /** dcign only: vary always this factor (index or name) instead of a random one per batch. */
  readonly variedFactor?: number | string;
}

/** Salt that keeps the dcign stream apart from the iid stream for the same seed. */
const DCIGN_SALT = 0xdc16;

export function createSampler(dataset: FactorDataset, options: SamplerOptions): Sampler {
  return new FactorSampler(dataset, options);
}

class FactorSampler implements Sampler {
  private step = 0;
  private readonly rank: number;
  private readonly worldSize: number;
  private readonly localSize: number;
  private readonly variedFactor: number | undefined;
  private readonly variableFactors: number[];
  private readonly imageValues: number;

  constructor(
    private readonly dataset: FactorDataset,
    private readonly options: SamplerOptions,
  ) {
    const { kind, batchSize, seed } = options;
    if (kind !== 'iid' && kind !== 'dcign') {
      throw new Error(`unknown sampler kind '${String(kind)}' (use iid or dcign)`);
    }
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
    }
    if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
    this.worldSize = options.worldSize ?? 1;
    this.rank = options.rank ?? 0;
    if (!Number.isInteger(this.worldSize) || this.worldSize < 1) {
      throw new RangeError(`worldSize must be a positive integer, got ${this.worldSize}`);
    }
    if (!Number.isInteger(this.rank) || this.rank < 0 || this.rank >= this.worldSize) {
      throw new RangeError(`rank must be an integer in [0, ${this.worldSize}), got ${this.rank}`);
    }
    if (batchSize % this.worldSize !== 0) {
      throw new RangeError(
        `global batchSize ${batchSize} does not divide evenly over ${this.worldSize} replicas; ` +
          `choose a batch size that is a multiple of the replica count`,
      );
    }
    this.localSize = batchSize / this.worldSize;
    const list = dataset.list;
    this.variableFactors = dataset.factors.flatMap((f, i) =>
      f.size > 1 && (list === undefined || kind !== 'dcign' || list.anchors(i).length > 0) ? [i] : [],
    );
    if (options.variedFactor !== undefined) {
      if (kind !== 'dcign') throw new Error('variedFactor applies to dcign batches only');
      this.variedFactor = resolveFactor(dataset.factors, options.variedFactor);
      if (list !== undefined && list.anchors(this.variedFactor).length === 0) {
        const name = (dataset.factors[this.variedFactor] as { name: string }).name;
        throw new Error(
          `dataset '${dataset.name}' has no two images that differ in '${name}' alone, so no dcign batch can vary it; ` +
            `vary another factor or use the iid sampler`,
        );
      }
    } else if (kind === 'dcign' && this.variableFactors.length === 0) {
      throw new Error(
        dataset.factors.length === 0
          ? `dataset '${dataset.name}' is unlabelled (no factors); dcign batches vary one factor: use the iid sampler`
          : list !== undefined
            ? `dataset '${dataset.name}' has no two images that differ in one factor alone, so no dcign batch can be ` +
              `formed; use the iid sampler`
            : `dataset '${dataset.name}' has no factor with more than one value to vary`,
      );
    }
    this.imageValues = dataset.imageSize * dataset.imageSize * dataset.channels;
  }

  next(): Batch {
    if (this.dataset.list !== undefined) return this.nextFromList(this.dataset.list);
    const { batchSize } = this.options;
    const first = this.rank * this.localSize;
    const globalIndices: number[] = [];
    for (let i = 0; i < this.localSize; i++) globalIndices.push(this.step * batchSize + first + i);
    let factors: number[][];
    let variedFactor: number | undefined;
    if (this.options.kind === 'iid') {
      factors = globalIndices.map((g) => this.iidFactors(g));
    } else {
      const plan = this.dcignPlan(this.step);
      variedFactor = plan.varied;
      factors = [];
      for (let i = 0; i < this.localSize; i++) {
        const combo = [...plan.fixed];
        combo[plan.varied] = plan.values[(first + i) % plan.values.length] as number;
        factors.push(combo);
      }
    }
    const images = new Float32Array(this.localSize * this.imageValues);
    factors.forEach((f, i) => this.dataset.render(f, images, i * this.imageValues));
    this.step++;
    return variedFactor === undefined
      ? { images, batchSize: this.localSize, factors, globalIndices }
      : { images, batchSize: this.localSize, factors, globalIndices, variedFactor };
  }

  /** A batch of a list dataset: images drawn by position (see the header). */
  private nextFromList(list: ImageList): Batch {
    const { batchSize } = this.options;
    const first = this.rank * this.localSize;
    const globalIndices: number[] = [];
    for (let i = 0; i < this.localSize; i++) globalIndices.push(this.step * batchSize + first + i);
    let images: number[];
    let variedFactor: number | undefined;
    if (this.options.kind === 'iid') {
      images = globalIndices.map((g) => new Rng(mixSeed(this.options.seed, g)).int(this.dataset.size));
    } else {
      const rng = new Rng(mixSeed(this.options.seed, DCIGN_SALT, this.step));
      variedFactor = this.variedFactor ?? (this.variableFactors[rng.int(this.variableFactors.length)] as number);
      const anchors = list.anchors(variedFactor);
      const group = list.siblings(anchors[rng.int(anchors.length)] as number, variedFactor);
      const order: number[] = [];
      while (order.length < batchSize) order.push(...rng.shuffle([...group]));
      images = Array.from({ length: this.localSize }, (_, i) => order[first + i] as number);
    }
    const pixels = new Float32Array(this.localSize * this.imageValues);
    images.forEach((image, i) => list.renderImage(image, pixels, i * this.imageValues));
    const factors = images.map((image) => this.dataset.factorsOf(image));
    this.step++;
    return variedFactor === undefined
      ? { images: pixels, batchSize: this.localSize, factors, globalIndices }
      : { images: pixels, batchSize: this.localSize, factors, globalIndices, variedFactor };
  }

  position(): SamplerPosition {
    return {
      kind: this.options.kind,
      step: this.step,
      seed: this.options.seed,
      batchSize: this.options.batchSize,
      dataset: this.dataset.name,
    };
  }

  restore(position: SamplerPosition): void {
    const { kind, step, seed, batchSize } = position;
    const mismatch = (what: string, saved: unknown, now: unknown): Error =>
      new Error(`cannot resume sampler: checkpoint has ${what} ${String(saved)}, this run has ${String(now)}`);
    if (kind !== this.options.kind) throw mismatch('kind', kind, this.options.kind);
    if (seed !== this.options.seed) throw mismatch('seed', seed, this.options.seed);
    if (batchSize !== this.options.batchSize) throw mismatch('global batchSize', batchSize, this.options.batchSize);
    if (typeof step !== 'number' || !Number.isInteger(step) || step < 0) {
      throw new Error(`cannot resume sampler: position step ${String(step)} is not a non-negative integer`);
    }
    this.step = step;
  }

  private iidFactors(globalIndex: number): number[] {
    const rng = new Rng(mixSeed(this.options.seed, globalIndex));
    return this.dataset.factors.map((f) => (f.size > 1 ? rng.int(f.size) : 0));
  }

  /** The whole global batch of a dcign step: which factor varies, the fixed combination, the varied values. */
  private dcignPlan(step: number): { varied: number; fixed: number[]; values: number[] } {
    const rng = new Rng(mixSeed(this.options.seed, DCIGN_SALT, step));
    const varied = this.variedFactor ?? (this.variableFactors[rng.int(this.variableFactors.length)] as number);
    const fixed = this.dataset.factors.map((f) => (f.size > 1 ? rng.int(f.size) : 0));
    const size = (this.dataset.factors[varied] as { size: number }).size;
    const values: number[] = [];
    while (values.length < this.options.batchSize) {
      const cycle = rng.shuffle(Array.from({ length: size }, (_, i) => i));
      values.push(...cycle);
    }
    values.length = this.options.batchSize;
    return { varied, fixed, values };
  }
}
