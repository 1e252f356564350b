// Faces under varying pose and light, the headline experiment of the DCIGN paper (Kulkarni et al. 2015, "Deep
// Convolutional Inverse Graphics Network", https://arxiv.org/abs/1503.03167, Sec. 4: faces rendered with azimuth,
// elevation and light source varied on grids). Here the faces are procedural (face-mesh.ts: an identity is a few shape
// parameters) and rendered by the scenes' software renderer (render.ts) in grey, 64x64 by default. Every image is a
// pure function of its factor indices; renders are cached per combination (LRU) as they are first asked for.
import { linearGrid } from './detmath.js';
import { faceMesh, faceShape } from './face-mesh.js';
import { FactorGrid, copyPixels } from './grid.js';
import { LruCache } from './lru.js';
import type { Mesh } from './mesh.js';
import { downsample, Renderer, SUPERSAMPLE, type View } from './render.js';
import type { FactorDataset, FactorSpec } from './types.js';

const DEG = Math.PI / 180;
export const FACE_IDENTITIES = 10;

export interface FacesOptions {
  /** Image side, 16 to 512 (default 64). */
  readonly imageSize?: number;
  /** Rendered images kept in the LRU cache (default: all 9,450 at 64x64, about 39 MB). */
  readonly cacheSize?: number;
}

export class FacesDataset implements FactorDataset {
  readonly name = 'faces';
  readonly factors: readonly FactorSpec[];
  readonly imageSize: number;
  readonly channels = 1;
  readonly size: number;
  private readonly grid: FactorGrid;
  private readonly cache: LruCache<number, Uint8Array>;
  private readonly meshes: (Mesh | undefined)[] = [];
  private readonly renderer: Renderer;

  constructor(options: FacesOptions = {}) {
    const imageSize = options.imageSize ?? 64;
    if (!Number.isInteger(imageSize) || imageSize < 16 || imageSize > 512) {
      throw new RangeError(`faces imageSize must be an integer in [16, 512], got ${imageSize}`);
    }
    this.imageSize = imageSize;
    const ids = Array.from({ length: FACE_IDENTITIES }, (_, i) => i);
    this.factors = [
      { name: 'identity', size: FACE_IDENTITIES, values: ids, labels: ids.map((i) => `face${i}`) },
      { name: 'azimuth', size: 15, values: linearGrid(-90 * DEG, 90 * DEG, 15) },
      { name: 'elevation', size: 7, values: linearGrid(-30 * DEG, 30 * DEG, 7) },
      { name: 'light', size: 9, values: linearGrid(-80 * DEG, 80 * DEG, 9) },
    ];
    this.grid = new FactorGrid(this.factors);
    this.size = this.grid.size;
    // Larger images cost more memory per entry: keep the cache near 40 MB whatever the size.
    this.cache = new LruCache(options.cacheSize ?? Math.max(256, Math.floor((9450 * 64 * 64) / (imageSize * imageSize))));
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
    if (!Number.isInteger(id) || id < 0 || id >= FACE_IDENTITIES) {
      throw new RangeError(`identity ${id} is outside [0, ${FACE_IDENTITIES})`);
    }
    let mesh = this.meshes[id];
    if (mesh === undefined) {
      mesh = faceMesh(faceShape(id));
      this.meshes[id] = mesh;
    }
    return downsample(this.renderer.draw(mesh, view), this.imageSize, SUPERSAMPLE);
  }
}

export function createFaces(options: FacesOptions = {}): FacesDataset {
  return new FacesDataset(options);
}
