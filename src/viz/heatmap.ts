// Heatmap PNG of a matrix (e.g. the factor x latent mutual information of a trained model): one square cell per entry,
// a perceptually ordered colour scale (dark blue = 0 -> yellow = the scale's maximum), thin grid lines between cells.
// No text: the caller's metrics JSON names the rows (factors) and columns (latents).
import { encodePng, writeFileAtomic, type Image } from './png.js';

export interface HeatmapOptions {
  /** Pixels per cell side (default 24). */
  cellSize?: number;
  /** Value mapped to the top colour (default: the matrix maximum, or 1 when all entries are 0). */
  max?: number;
}

// Anchor colours of viridis at 0, 0.25, 0.5, 0.75, 1.
const ANCHORS: readonly (readonly [number, number, number])[] = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
];

/** Colour of t in [0, 1]. */
export function colourOf(t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (ANCHORS.length - 1);
  const i = Math.min(ANCHORS.length - 2, Math.floor(x));
  const f = x - i;
  const a = ANCHORS[i] as readonly [number, number, number];
  const b = ANCHORS[i + 1] as readonly [number, number, number];
  return [0, 1, 2].map((c) => Math.round((a[c] as number) + ((b[c] as number) - (a[c] as number)) * f)) as [
    number,
    number,
    number,
  ];
}

/** RGB image of the matrix (rows top to bottom, columns left to right). */
export function heatmapImage(matrix: readonly (readonly number[])[], opts: HeatmapOptions = {}): Image {
  const rows = matrix.length;
  const cols = rows > 0 ? (matrix[0] as readonly number[]).length : 0;
  if (rows === 0 || cols === 0) throw new RangeError('heatmap: the matrix is empty');
  if (matrix.some((r) => r.length !== cols)) throw new RangeError('heatmap: rows differ in length');
  const cell = opts.cellSize ?? 24;
  if (!Number.isInteger(cell) || cell < 2) throw new RangeError(`heatmap: cellSize must be an integer >= 2, got ${cell}`);
  let max = opts.max ?? 0;
  if (opts.max === undefined) for (const r of matrix) for (const v of r) if (Number.isFinite(v)) max = Math.max(max, v);
  if (!(max > 0)) max = 1;
  const width = cols * cell + 1;
  const height = rows * cell + 1;
  const data = new Uint8Array(width * height * 3).fill(255);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const [R, G, B] = colourOf(((matrix[r] as readonly number[])[c] as number) / max);
      for (let y = r * cell + 1; y < (r + 1) * cell; y++) {
        for (let x = c * cell + 1; x < (c + 1) * cell; x++) {
          const o = (y * width + x) * 3;
          data[o] = R;
          data[o + 1] = G;
          data[o + 2] = B;
        }
      }
    }
  }
  return { width, height, channels: 3, data };
}

/** Writes the heatmap PNG atomically. */
export async function writeHeatmapPng(
  path: string,
  matrix: readonly (readonly number[])[],
  opts: HeatmapOptions = {},
): Promise<void> {
  await writeFileAtomic(path, encodePng(heatmapImage(matrix, opts)));
}
