// Faces under varying pose and light, the headline experiment of the DCIGN paper (Kulkarni et al. 2015, "Deep
// Convolutional Inverse Graphics Network", https://arxiv.org/abs/1503.03167, Sec. 4: faces rendered with azimuth,
// elevation and light source varied on grids). Here the faces are procedural (face-mesh.ts: an identity is a few shape
// parameters) and rendered by the scenes' software renderer (render.ts) in grey, 64x64 by default. Every image is a
// pure function of its factor indices; renders are cached per combination (LRU) as they are first asked for.
import { linearGrid } from './detmath.js';
import { faceMesh, faceShape } from './face-mesh.js';
import type { Mesh } from './mesh.js';
import { downsample, Renderer, SUPERSAMPLE, type View } from './render.js';
import { RenderedGridDataset } from './rendered-grid.js';
import type { FactorSpec } from './types.js';

const DEG = Math.PI / 180;
export const FACE_IDENTITIES = 10;

export interface FacesOptions {
  /** Image side, 16 to 512 (default 64). */
  readonly imageSize?: number;
  /** Rendered images kept in the LRU cache (default: all 9,450 at 64x64, about 39 MB). */
  readonly cacheSize?: number;
}

export class FacesDataset extends RenderedGridDataset {
  readonly name = 'faces';
  readonly channels = 1;
  private readonly meshes: (Mesh | undefined)[] = [];
  private readonly renderer: Renderer;

  constructor(options: FacesOptions = {}) {
    const imageSize = options.imageSize ?? 64;
    if (!Number.isInteger(imageSize) || imageSize < 16 || imageSize > 512) {
      throw new RangeError(`faces imageSize must be an integer in [16, 512], got ${imageSize}`);
    }
    const ids = Array.from({ length: FACE_IDENTITIES }, (_, i) => i);
    const factors: FactorSpec[] = [
      { name: 'identity', size: FACE_IDENTITIES, values: ids, labels: ids.map((i) => `face${i}`) },
      { name: 'azimuth', size: 15, values: linearGrid(-90 * DEG, 90 * DEG, 15) },
      { name: 'elevation', size: 7, values: linearGrid(-30 * DEG, 30 * DEG, 7) },
      { name: 'light', size: 9, values: linearGrid(-80 * DEG, 80 * DEG, 9) },
    ];
    // Larger images cost more memory per entry: keep the cache near 40 MB whatever the size.
    super(factors, imageSize, options.cacheSize ?? Math.max(256, Math.floor((9450 * 64 * 64) / (imageSize * imageSize))));
    this.renderer = new Renderer(imageSize * SUPERSAMPLE);
  }

  protected draw([id, az, el, li]: readonly number[]): Uint8Array {
    const value = (f: number, i: number | undefined): number => this.factors[f]?.values[i as number] as number;
    return this.renderView(id as number, { azimuth: value(1, az), elevation: value(2, el), light: value(3, li) });
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
