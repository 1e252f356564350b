// A dataset that is a list of images, each with its own factor indices (or none): users' labelled files whose
// factor combinations need not form a complete grid, and unlabelled image collections. Images are addressed by
// position; the groups samplers and metrics need (images sharing a factor value, images differing in one factor
// only) are indexed lazily, once per factor.
import type { FactorDataset, FactorSpec, ImageList } from './types.js';

export interface ImageListInput {
  readonly name: string;
  readonly imageSize: number;
  readonly channels: number;
  readonly count: number;
  /** Empty for unlabelled images. */
  readonly factors: readonly FactorSpec[];
  /** count x factors.length factor indices, row-major. */
  readonly classes: Int32Array;
  /** Writes image i into out at offset (imageSize^2 * channels values in [0, 1]). */
  readonly read: (i: number, out: Float32Array, offset: number) => void;
}

export class ImageListDataset implements FactorDataset, ImageList {
  readonly name: string;
  readonly factors: readonly FactorSpec[];
  readonly imageSize: number;
  readonly channels: number;
  readonly size: number;
  readonly list: ImageList = this;
  private readonly k: number;
  private byCombination: Map<string, number> | undefined;
  private readonly byValue: (number[][] | undefined)[] = [];
  private readonly groups: (Map<string, number[]> | undefined)[] = [];
  private readonly anchorLists: (number[] | undefined)[] = [];

  constructor(private readonly input: ImageListInput) {
    const { name, imageSize, channels, count, factors, classes } = input;
    if (!Number.isInteger(count) || count < 1) throw new Error(`dataset '${name}' has no images`);
    if (classes.length !== count * factors.length) {
      throw new RangeError(`dataset '${name}': ${classes.length} factor indices for ${count} images x ${factors.length} factors`);
    }
    this.name = name;
    this.factors = factors;
    this.imageSize = imageSize;
    this.channels = channels;
    this.size = count;
    this.k = factors.length;
  }

  factorsOf(index: number): number[] {
    this.checkImage(index);
    return Array.from(this.input.classes.subarray(index * this.k, (index + 1) * this.k));
  }

  indexOf(factorIndices: readonly number[]): number {
    if (this.k === 0) {
      throw new Error(`dataset '${this.name}' is unlabelled: it has no factors, so images are addressed by position only`);
    }
    if (factorIndices.length !== this.k) {
      throw new RangeError(`expected ${this.k} factor indices, got ${factorIndices.length}`);
    }
    if (this.byCombination === undefined) {
      this.byCombination = new Map();
      for (let i = this.size - 1; i >= 0; i--) this.byCombination.set(this.key(i, -1), i);
    }
    const found = this.byCombination.get(factorIndices.join(','));
    if (found === undefined) {
      throw new RangeError(`dataset '${this.name}' has no image with factor indices (${factorIndices.join(', ')})`);
    }
    return found;
  }

  render(factorIndices: readonly number[], out: Float32Array, offset: number): void {
    this.renderImage(this.indexOf(factorIndices), out, offset);
  }

  renderImage(i: number, out: Float32Array, offset: number): void {
    this.checkImage(i);
    const values = this.imageSize * this.imageSize * this.channels;
    if (offset < 0 || offset + values > out.length) {
      throw new RangeError(`render target too small: need ${values} values at offset ${offset}`);
    }
    this.input.read(i, out, offset);
  }

  withFactor(factor: number, value: number): readonly number[] {
    this.checkFactor(factor);
    let lists = this.byValue[factor];
    if (lists === undefined) {
      const size = (this.factors[factor] as FactorSpec).size;
      lists = Array.from({ length: size }, () => []);
      for (let i = 0; i < this.size; i++) lists[this.input.classes[i * this.k + factor] as number]?.push(i);
      this.byValue[factor] = lists;
    }
    return lists[value] ?? [];
  }

  siblings(i: number, factor: number): readonly number[] {
    this.checkImage(i);
    return this.groupsOf(factor).get(this.key(i, factor)) ?? [i];
  }

  anchors(factor: number): readonly number[] {
    this.checkFactor(factor);
    let list = this.anchorLists[factor];
    if (list === undefined) {
      const groups = this.groupsOf(factor);
      list = [];
      for (let i = 0; i < this.size; i++) if ((groups.get(this.key(i, factor))?.length ?? 0) > 1) list.push(i);
      this.anchorLists[factor] = list;
    }
    return list;
  }

  private groupsOf(factor: number): Map<string, number[]> {
    this.checkFactor(factor);
    let groups = this.groups[factor];
    if (groups === undefined) {
      groups = new Map();
      for (let i = 0; i < this.size; i++) {
        const key = this.key(i, factor);
        const g = groups.get(key);
        if (g === undefined) groups.set(key, [i]);
        else g.push(i);
      }
      this.groups[factor] = groups;
    }
    return groups;
  }

  /** Image i's factor indices as a string, with factor `skip` left out (-1: none). */
  private key(i: number, skip: number): string {
    const parts: number[] = [];
    for (let f = 0; f < this.k; f++) if (f !== skip) parts.push(this.input.classes[i * this.k + f] as number);
    return parts.join(',');
  }

  private checkImage(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.size) {
      throw new RangeError(`image ${i} is outside [0, ${this.size}) of dataset '${this.name}'`);
    }
  }

  private checkFactor(factor: number): void {
    if (!Number.isInteger(factor) || factor < 0 || factor >= this.k) {
      throw new RangeError(`factor ${factor} is outside [0, ${this.k}) of dataset '${this.name}'`);
    }
  }
}

/** Writes image `index` of any dataset: by position for lists, by its factor combination for grids. */
export function renderAt(dataset: FactorDataset, index: number, out: Float32Array, offset: number): void {
  if (dataset.list !== undefined) dataset.list.renderImage(index, out, offset);
  else dataset.render(dataset.factorsOf(index), out, offset);
}
