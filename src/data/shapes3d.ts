// A colour ground-truth dataset in the spirit of 3D Shapes (Burgess & Kim 2018, https://github.com/deepmind/3d-shapes):
// an object standing on a floor in front of a wall, with six factors: floor hue, wall hue and object hue (10 each),
// scale (8), shape (cube, cylinder, sphere, capsule) and orientation (15 values in [-30, 30] degrees), 480,000
// combinations of 64x64 RGB images, the same grid sizes as the original.
//
// Rendering by composition, so a batch costs little more than copying: the renderer (render.ts) draws the grey,
// Lambert-shaded background (floor and wall) once, and each object pose (scale x shape x orientation, 480 of them) once
// when first asked for, at the supersampled resolution. A pose is kept as three grey layers at the final resolution:
// the box-filtered shading of the object, of the floor and of the wall where each is seen. Box filtering is linear, so
// an image is exactly object layer x object hue + floor layer x floor hue + wall layer x wall hue, per channel. The
// object stands on the floor in front of the wall, so it is never hidden by either and composition is exact.
import { linearGrid } from './detmath.js';
import { LruCache } from './lru.js';
import { box, capsule, cylinder, merge, sphere, transform, type Mesh } from './mesh.js';
import { Renderer, SUPERSAMPLE, type View } from './render.js';
import { RenderedGridDataset } from './rendered-grid.js';
import type { FactorSpec } from './types.js';

const DEG = Math.PI / 180;
export const SHAPES3D_SHAPES = ['cube', 'cylinder', 'sphere', 'capsule'] as const;
/** Camera above the floor looking slightly down, light from the viewer's upper left: fixed for every image. */
const VIEW: View = { azimuth: 0, elevation: 12 * DEG, light: -35 * DEG };
const FLOOR_Y = -0.55;
const SATURATION = 0.85;

export interface Shapes3dOptions {
  /** Image side, 16 to 256 (default 64). */
  readonly imageSize?: number;
  /** Composited images kept in the LRU cache (default 16,384: about 200 MB at 64x64). */
  readonly cacheSize?: number;
}

/** RGB of a hue in [0, 1) at fixed saturation and full value (HSV), exact arithmetic only. */
export function hueToRgb(hue: number): [number, number, number] {
  const h6 = hue * 6;
  const sector = Math.floor(h6);
  const f = h6 - sector;
  const p = 1 - SATURATION;
  const q = 1 - SATURATION * f;
  const t = 1 - SATURATION * (1 - f);
  switch (sector % 6) {
    case 0:
      return [1, t, p];
    case 1:
      return [q, 1, p];
    case 2:
      return [p, 1, t];
    case 3:
      return [p, q, 1];
    case 4:
      return [t, p, 1];
    default:
      return [1, p, q];
  }
}

/** A rendered layer at the supersampled size: shading per pixel and whether the layer covers it. */
interface Layer {
  readonly shade: Float32Array;
  readonly covered: Uint8Array;
}

/** One object pose at the final resolution: the shading seen on the object, the floor and the wall per pixel. */
interface Pose {
  readonly object: Float32Array;
  readonly floor: Float32Array;
  readonly wall: Float32Array;
}

export class Shapes3dDataset extends RenderedGridDataset {
  readonly name = 'shapes3d';
  readonly channels = 3;
  private readonly poses: LruCache<number, Pose>;
  private readonly renderer: Renderer;
  private readonly fine: number;
  /** Background shading, and 1 where the floor (not the wall) is seen. */
  private readonly background: Layer;
  private readonly hues: [number, number, number][];

  constructor(options: Shapes3dOptions = {}) {
    const imageSize = options.imageSize ?? 64;
    if (!Number.isInteger(imageSize) || imageSize < 16 || imageSize > 256) {
      throw new RangeError(`shapes3d imageSize must be an integer in [16, 256], got ${imageSize}`);
    }
    const hues = linearGrid(0, 0.9, 10);
    const factors: FactorSpec[] = [
      { name: 'floor_hue', size: 10, values: hues },
      { name: 'wall_hue', size: 10, values: hues },
      { name: 'object_hue', size: 10, values: hues },
      { name: 'scale', size: 8, values: linearGrid(0.75, 1.25, 8) },
      { name: 'shape', size: 4, values: [0, 1, 2, 3], labels: [...SHAPES3D_SHAPES] },
      { name: 'orientation', size: 15, values: linearGrid(-30 * DEG, 30 * DEG, 15) },
    ];
    super(factors, imageSize, options.cacheSize ?? 16384);
    this.fine = imageSize * SUPERSAMPLE;
    this.renderer = new Renderer(this.fine);
    this.hues = hues.map(hueToRgb);
    // All 480 poses at 64x64 (24 MB); fewer at larger sizes, to stay near that.
    this.poses = new LruCache(Math.max(32, Math.floor((480 * 64 * 64) / (imageSize * imageSize))));
    const floor = box([0, FLOOR_Y - 0.05, 0.2], [3, 0.05, 1.2], 1);
    const wall = box([0, 0.9, -1.0], [4, 2.6, 0.05], 0.8);
    const shade = Float32Array.from(this.renderer.draw(merge([floor, wall]), VIEW));
    this.renderer.draw(floor, VIEW);
    const covered = Uint8Array.from(this.renderer.coverage, (w) => (w > 0 ? 1 : 0));
    this.background = { shade, covered };
  }

  protected draw(factorIndices: readonly number[]): Uint8Array {
    return this.compose(factorIndices);
  }

  private compose([floorHue, wallHue, objectHue, scale, shape, orientation]: readonly number[]): Uint8Array {
    const pose = this.pose(scale as number, shape as number, orientation as number);
    const floorRgb = this.hues[floorHue as number] as [number, number, number];
    const wallRgb = this.hues[wallHue as number] as [number, number, number];
    const objectRgb = this.hues[objectHue as number] as [number, number, number];
    const n = this.imageSize * this.imageSize;
    const out = new Uint8Array(n * 3);
    for (let p = 0; p < n; p++) {
      const o = pose.object[p] as number;
      const f = pose.floor[p] as number;
      const w = pose.wall[p] as number;
      for (let c = 0; c < 3; c++) {
        const v = Math.round(255 * (o * (objectRgb[c] as number) + f * (floorRgb[c] as number) + w * (wallRgb[c] as number)));
        out[3 * p + c] = v > 255 ? 255 : v < 0 ? 0 : v;
      }
    }
    return out;
  }

  /** The three layers of one pose, rendered once and kept. */
  private pose(scale: number, shape: number, orientation: number): Pose {
    const key = (scale * 4 + shape) * 15 + orientation;
    let pose = this.poses.get(key);
    if (pose === undefined) {
      const s = this.factors[3]?.values[scale] as number;
      const turn = this.factors[5]?.values[orientation] as number;
      const shade = this.renderer.draw(objectMesh(shape, s, turn), VIEW);
      const covered = this.renderer.coverage;
      const size = this.imageSize;
      const k = SUPERSAMPLE;
      const norm = 1 / (k * k);
      const object = new Float32Array(size * size);
      const floor = new Float32Array(size * size);
      const wall = new Float32Array(size * size);
      const bg = this.background;
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          let so = 0;
          let sf = 0;
          let sw = 0;
          for (let dy = 0; dy < k; dy++) {
            for (let dx = 0; dx < k; dx++) {
              const q = (y * k + dy) * this.fine + x * k + dx;
              if ((covered[q] as number) > 0) so += shade[q] as number;
              else if (bg.covered[q] === 1) sf += bg.shade[q] as number;
              else sw += bg.shade[q] as number;
            }
          }
          object[y * size + x] = so * norm;
          floor[y * size + x] = sf * norm;
          wall[y * size + x] = sw * norm;
        }
      }
      pose = { object, floor, wall };
      this.poses.set(key, pose);
    }
    return pose;
  }
}

/** The four shapes at unit size, standing on y = -1: built once, then only scaled, turned and placed per pose. */
const UNIT_SHAPES: readonly (() => Mesh)[] = [
  () => box([0, 0, 0], [1, 1, 1], 0.95),
  () => cylinder(24, 0.95),
  () => sphere(14, 20, 0.95),
  () => transform(capsule(6, 20, 0.95), { scale: [0.6, 0.5, 0.6] }),
];
const unitMeshes: (Mesh | undefined)[] = [];

/** Shape `shape` at scale `s`, turned by `turn` about the vertical, standing on the floor. */
function objectMesh(shape: number, s: number, turn: number): Mesh {
  let unit = unitMeshes[shape];
  if (unit === undefined) {
    unit = (UNIT_SHAPES[shape] as () => Mesh)();
    unitMeshes[shape] = unit;
  }
  const r = 0.42 * s; // half-height of every shape at this scale
  return transform(unit, { scale: [r, r, r], rotateY: turn, translate: [0, FLOOR_Y + r, 0.15] });
}

export function createShapes3d(options: Shapes3dOptions = {}): Shapes3dDataset {
  return new Shapes3dDataset(options);
}
