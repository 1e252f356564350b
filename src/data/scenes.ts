// The inverse-graphics dataset of the DCIGN setting (Kulkarni et al. 2015, "Deep Convolutional Inverse Graphics
// Network", https://arxiv.org/abs/1503.03167): grey renders of 3D objects whose identity, pose and lighting are known.
//
// The renderer is src/data/render.ts (IEEE-exact, so every combination renders to the same bytes on every machine).
import { linearGrid, turnGrid } from './detmath.js';
import { FactorGrid, copyPixels } from './grid.js';
import { LruCache } from './lru.js';
import { chair, cubeMesh, cylinderMesh, head, sphereMesh, torusMesh, type Mesh } from './mesh.js';
import { downsample, Renderer, SUPERSAMPLE, type View } from './render.js';
import type { FactorDataset, FactorSpec } from './types.js';

export type { View } from './render.js';

export const IDENTITIES = ['head', 'chair', 'cube', 'sphere', 'cylinder', 'torus'] as const;
const BUILDERS: readonly (() => Mesh)[] = [head, chair, cubeMesh, sphereMesh, cylinderMesh, torusMesh];

const DEG = Math.PI / 180;

export interface ScenesOptions {
  readonly imageSize?: number;
  /** Rendered images kept in the LRU cache (default: all 7,776 at 64x64, about 32 MB). */
  readonly cacheSize?: number;
}

export class ScenesDataset implements FactorDataset {
  readonly name = 'scenes';
  readonly factors: readonly FactorSpec[];
  readonly imageSize: number;
  readonly channels = 1;
  readonly size: number;
  private readonly grid: FactorGrid;
  private readonly cache: LruCache<number, Uint8Array>;
  private readonly meshes: (Mesh | undefined)[] = [];
  private readonly renderer: Renderer;

  constructor(options: ScenesOptions = {}) {
    const imageSize = options.imageSize ?? 64;
    if (!Number.isInteger(imageSize) || imageSize < 8 || imageSize > 512) {
      throw new RangeError(`scenes imageSize must be an integer in [8, 512], got ${imageSize}`);
    }
    this.imageSize = imageSize;
    this.factors = [
      { name: 'identity', size: IDENTITIES.length, values: IDENTITIES.map((_, i) => i), labels: [...IDENTITIES] },
      { name: 'azimuth', size: 24, values: turnGrid(24) },
      { name: 'elevation', size: 6, values: linearGrid(-15 * DEG, 60 * DEG, 6) },
      { name: 'light', size: 9, values: linearGrid(-80 * DEG, 80 * DEG, 9) },
    ];
    this.grid = new FactorGrid(this.factors);
    this.size = this.grid.size;
    this.cache = new LruCache(options.cacheSize ?? 8192);
    this.renderer = new Renderer(imageSize * SUPERSAMPLE);
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

  /** The 8-bit grey image of one factor combination, from the cache when possible. */
  pixels(factorIndices: readonly number[]): Uint8Array {
    const index = this.grid.indexOf(factorIndices);
    let image = this.cache.get(index);
    if (image === undefined) {
      const [id, az, el, li] = factorIndices as [number, number, number, number];
      const value = (f: number, i: number): number => this.factors[f]?.values[i] as number;
      image = this.renderView(id, { azimuth: value(1, az), elevation: value(2, el), light: value(3, li) });
      this.cache.set(index, image);
    }
    return image;
  }

  /** Renders any view (not only grid points) of identity `id`: for traversals and tests. */
  renderView(id: number, view: View): Uint8Array {
    let mesh = this.meshes[id];
    if (mesh === undefined) {
      const build = BUILDERS[id];
      if (build === undefined) throw new RangeError(`identity ${id} is outside [0, ${BUILDERS.length})`);
      mesh = build();
      this.meshes[id] = mesh;
    }
    const fine = this.renderer.draw(mesh, view);
    return downsample(fine, this.imageSize, SUPERSAMPLE);
  }
}

export function createScenes(options: ScenesOptions = {}): ScenesDataset {
  return new ScenesDataset(options);
}
