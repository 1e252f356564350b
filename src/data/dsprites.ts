// A dSprites equivalent (Matthey et al. 2017, https://github.com/deepmind/dsprites-dataset): white shapes on black,
// five factors on a fixed grid, every image rendered on demand from its factor indices.
//
// Each pixel is on when its centre lies inside the shape, decided analytically (no Canvas, no anti-aliasing) with
// IEEE-exact arithmetic and the deterministic trigonometry of detmath.ts, so an index gives the same bytes on every
// machine. Shapes live in normalised image coordinates [0, 1]^2 (y down), so a 32x32 rendering is the same scene
// sampled at half the resolution.
import { dcos, dsin, linearGrid, turnGrid } from './detmath.js';
import { FactorGrid, copyPixels } from './grid.js';
import { LruCache } from './lru.js';
import type { FactorDataset, FactorSpec } from './types.js';

export const SHAPES = ['square', 'ellipse', 'heart'] as const;

export interface DspritesGridOptions {
  /** Image side in pixels (default 64). */
  readonly imageSize?: number;
  readonly scales?: number;
  readonly orientations?: number;
  readonly positions?: number;
  /** How many rendered images the LRU cache keeps (default 8192, about 32 MB at 64x64). */
  readonly cacheSize?: number;
  readonly name?: string;
}

/** Half-side of the square at scale 1, in image widths; the other shapes are sized to a similar area. */
const BASE_RADIUS = 0.14;
/** Distance of the extreme centres from the border: the largest rotated shape (the square's corner, sqrt(2) * 0.14)
 * stays inside the image. */
const MARGIN = 0.2;
/** The ellipse's semi-axes relative to the base radius. */
const ELLIPSE_A = 1.05;
const ELLIPSE_B = 0.55;
/** The heart curve (x^2 + y^2 - 1)^3 = x^2 y^3 spans x in [-1.14, 1.14], y in [-1, 1.24]; scale it into the unit
 * disc and centre it vertically. */
const HEART_SCALE = 1.15;
const HEART_SHIFT = 0.12;
/** Every shape fits inside this many base radii of its centre, so only that box of pixels is tested. */
const BOUND = 1.5;

export class DspritesDataset implements FactorDataset {
  readonly name: string;
  readonly factors: readonly FactorSpec[];
  readonly imageSize: number;
  readonly channels = 1;
  readonly size: number;
  private readonly grid: FactorGrid;
  private readonly cache: LruCache<number, Uint8Array>;
  private readonly cosTable: number[];
  private readonly sinTable: number[];

  constructor(options: DspritesGridOptions = {}) {
    const imageSize = options.imageSize ?? 64;
    if (!Number.isInteger(imageSize) || imageSize < 8 || imageSize > 1024) {
      throw new RangeError(`dsprites imageSize must be an integer in [8, 1024], got ${imageSize}`);
    }
    const orientations = turnGrid(options.orientations ?? 40);
    const positions = linearGrid(0, 1, options.positions ?? 32);
    this.factors = [
      { name: 'shape', size: 3, values: [1, 2, 3], labels: [...SHAPES] },
      { name: 'scale', size: options.scales ?? 6, values: linearGrid(0.5, 1, options.scales ?? 6) },
      { name: 'orientation', size: orientations.length, values: orientations },
      { name: 'posX', size: positions.length, values: positions },
      { name: 'posY', size: positions.length, values: positions },
    ];
    this.name = options.name ?? 'dsprites';
    this.imageSize = imageSize;
    this.grid = new FactorGrid(this.factors);
    this.size = this.grid.size;
    this.cache = new LruCache(options.cacheSize ?? 8192);
    this.cosTable = orientations.map(dcos);
    this.sinTable = orientations.map(dsin);
  }

  factorsOf(index: number): number[] {
    return this.grid.factorsOf(index);
  }

  indexOf(factorIndices: readonly number[]): number {
    return this.grid.indexOf(factorIndices);
  }

  render(factorIndices: readonly number[], out: Float32Array, offset: number): void {
    copyPixels(this.pixels(factorIndices), out, offset);
  }

  /** The binary image (0 or 1 per pixel, row-major) of one factor combination, from the cache when possible. */
  pixels(factorIndices: readonly number[]): Uint8Array {
    const index = this.grid.indexOf(factorIndices);
    let image = this.cache.get(index);
    if (image === undefined) {
      image = this.rasterise(factorIndices);
      this.cache.set(index, image);
    }
    return image;
  }

  private rasterise(f: readonly number[]): Uint8Array {
    const [shape, scaleI, orientI, xI, yI] = f as [number, number, number, number, number];
    const n = this.imageSize;
    const image = new Uint8Array(n * n);
    const radius = BASE_RADIUS * (this.factors[1]?.values[scaleI] as number);
    const cx = MARGIN + (1 - 2 * MARGIN) * (this.factors[3]?.values[xI] as number);
    const cy = MARGIN + (1 - 2 * MARGIN) * (this.factors[4]?.values[yI] as number);
    const c = this.cosTable[orientI] as number;
    const s = this.sinTable[orientI] as number;
    const inside = SHAPE_TESTS[shape] as (u: number, v: number) => boolean;
    const extent = BOUND * radius;
    const x0 = Math.max(0, Math.floor((cx - extent) * n));
    const x1 = Math.min(n - 1, Math.ceil((cx + extent) * n));
    const y0 = Math.max(0, Math.floor((cy - extent) * n));
    const y1 = Math.min(n - 1, Math.ceil((cy + extent) * n));
    for (let py = y0; py <= y1; py++) {
      const dy = (py + 0.5) / n - cy;
      for (let px = x0; px <= x1; px++) {
        const dx = (px + 0.5) / n - cx;
        // Rotate the pixel centre by -orientation into the shape's own frame (v up, so the heart points down).
        const u = (c * dx + s * dy) / radius;
        const v = (s * dx - c * dy) / radius;
        if (inside(u, v)) image[py * n + px] = 1;
      }
    }
    return image;
  }
}

const SHAPE_TESTS: readonly ((u: number, v: number) => boolean)[] = [
  // square, half-side 1
  (u, v) => u >= -1 && u <= 1 && v >= -1 && v <= 1,
  // ellipse, long axis along u
  (u, v) => {
    const a = u / ELLIPSE_A;
    const b = v / ELLIPSE_B;
    return a * a + b * b <= 1;
  },
  // heart: (x^2 + y^2 - 1)^3 - x^2 y^3 <= 0
  (u, v) => {
    const x = u * HEART_SCALE;
    const y = v * HEART_SCALE + HEART_SHIFT;
    const r = x * x + y * y - 1;
    return r * r * r - x * x * y * y * y <= 0;
  },
];

/** The full dSprites grid: 3 x 6 x 40 x 32 x 32 = 737,280 combinations, 64x64 (or imageSize) binary images. */
export function createDsprites(options: { imageSize?: number; cacheSize?: number } = {}): DspritesDataset {
  return new DspritesDataset({ ...options, name: 'dsprites' });
}

/** A small grid for tests and smoke runs: 32x32 images, 3 x 3 x 8 x 8 x 8 = 4,608 combinations. */
export function createDspritesSmall(options: { imageSize?: number; cacheSize?: number } = {}): DspritesDataset {
  return new DspritesDataset({
    imageSize: options.imageSize ?? 32,
    cacheSize: options.cacheSize,
    scales: 3,
    orientations: 8,
    positions: 8,
    name: 'dsprites-small',
  });
}
