// Datasets whose images are rendered on demand, one per factor combination, and kept in an LRU cache once drawn
// (scenes, faces, shapes3d): the grid addressing and the cache live here once; a subclass says how one combination is
// drawn, as 8-bit pixels (HWC).
import { FactorGrid, copyPixels } from './grid.js';
import { LruCache } from './lru.js';
import type { FactorDataset, FactorSpec } from './types.js';

export abstract class RenderedGridDataset implements FactorDataset {
  abstract readonly name: string;
  abstract readonly channels: number;
  readonly size: number;
  private readonly grid: FactorGrid;
  private readonly cache: LruCache<number, Uint8Array>;

  protected constructor(
    readonly factors: readonly FactorSpec[],
    readonly imageSize: number,
    cacheSize: number,
  ) {
    this.grid = new FactorGrid(factors);
    this.size = this.grid.size;
    this.cache = new LruCache(cacheSize);
  }

  factorsOf(index: number): number[] {
    return this.grid.factorsOf(index);
  }

  indexOf(factorIndices: readonly number[]): number {
    return this.grid.indexOf(factorIndices);
  }

  render(factorIndices: readonly number[], out: Float32Array, offset: number): void {
    copyPixels(this.pixels(factorIndices), out, offset, 255);
  }

  /** The 8-bit image (HWC) of one factor combination, from the cache when possible. */
  pixels(factorIndices: readonly number[]): Uint8Array {
    const index = this.grid.indexOf(factorIndices);
    let image = this.cache.get(index);
    if (image === undefined) {
      image = this.draw(factorIndices);
      this.cache.set(index, image);
    }
    return image;
  }

  /** Draws one factor combination (valid indices: pixels() checked them through the grid). */
  protected abstract draw(factorIndices: readonly number[]): Uint8Array;
}
