// The inverse-graphics dataset of the DCIGN setting (Kulkarni et al. 2015, "Deep Convolutional Inverse Graphics
// Network", https://arxiv.org/abs/1503.03167): grey renders of 3D objects whose identity, pose and lighting are known.
//
// The renderer is src/data/render.ts (IEEE-exact, so every combination renders to the same bytes on every machine).
import { linearGrid, turnGrid } from './detmath.js';
import { chair, cubeMesh, cylinderMesh, head, sphereMesh, torusMesh, type Mesh } from './mesh.js';
import { downsample, Renderer, SUPERSAMPLE, type View } from './render.js';
import { RenderedGridDataset } from './rendered-grid.js';
import type { FactorSpec } from './types.js';

export type { View } from './render.js';

export const IDENTITIES = ['head', 'chair', 'cube', 'sphere', 'cylinder', 'torus'] as const;
const BUILDERS: readonly (() => Mesh)[] = [head, chair, cubeMesh, sphereMesh, cylinderMesh, torusMesh];

const DEG = Math.PI / 180;

export interface ScenesOptions {
  readonly imageSize?: number;
  /** Rendered images kept in the LRU cache (default: all 7,776 at 64x64, about 32 MB). */
  readonly cacheSize?: number;
}

export class ScenesDataset extends RenderedGridDataset {
  readonly name = 'scenes';
  readonly channels = 1;
  private readonly meshes: (Mesh | undefined)[] = [];
  private readonly renderer: Renderer;

  constructor(options: ScenesOptions = {}) {
    const imageSize = options.imageSize ?? 64;
    if (!Number.isInteger(imageSize) || imageSize < 8 || imageSize > 512) {
      throw new RangeError(`scenes imageSize must be an integer in [8, 512], got ${imageSize}`);
    }
    const factors: FactorSpec[] = [
      { name: 'identity', size: IDENTITIES.length, values: IDENTITIES.map((_, i) => i), labels: [...IDENTITIES] },
      { name: 'azimuth', size: 24, values: turnGrid(24) },
      { name: 'elevation', size: 6, values: linearGrid(-15 * DEG, 60 * DEG, 6) },
      { name: 'light', size: 9, values: linearGrid(-80 * DEG, 80 * DEG, 9) },
    ];
    super(factors, imageSize, options.cacheSize ?? 8192);
    this.renderer = new Renderer(imageSize * SUPERSAMPLE);
  }

  protected draw([id, az, el, li]: readonly number[]): Uint8Array {
    const value = (f: number, i: number | undefined): number => this.factors[f]?.values[i as number] as number;
    return this.renderView(id as number, { azimuth: value(1, az), elevation: value(2, el), light: value(3, li) });
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
