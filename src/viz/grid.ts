// Tiling equally sized images into one grid image with padding, for previews, traversals and reconstructions.
import type { Image } from './png.js';

export interface GridOptions {
  /** Images per row; default: ceil(sqrt(count)). */
  readonly columns?: number;
  /** Pixels between tiles and around the border (default 2). */
  readonly padding?: number;
  /** Value of padding pixels, in the data's own scale (default: 0.5 for Float32, 128 for Uint8). */
  readonly padValue?: number;
}

export interface ImageStack {
  /** count x height x width x channels, HWC per image. */
  readonly data: Float32Array | Uint8Array;
  readonly count: number;
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 3 | 4;
}

/** Tiles images row by row (image i goes to row floor(i / columns)); empty cells are padding. */
export function tileGrid(stack: ImageStack, options: GridOptions = {}): Image {
  const { data, count, width, height, channels } = stack;
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`a grid needs at least one image, got ${count}`);
  if (data.length !== count * width * height * channels) {
    throw new RangeError(`image stack has ${data.length} values, expected ${count}x${height}x${width}x${channels}`);
  }
  const columns = options.columns ?? Math.ceil(Math.sqrt(count));
  if (!Number.isInteger(columns) || columns < 1) throw new RangeError(`columns must be a positive integer`);
  const pad = options.padding ?? 2;
  if (!Number.isInteger(pad) || pad < 0) throw new RangeError(`padding must be a non-negative integer`);
  const rows = Math.ceil(count / columns);
  const outW = columns * width + (columns + 1) * pad;
  const outH = rows * height + (rows + 1) * pad;
  const isFloat = data instanceof Float32Array;
  const out = isFloat ? new Float32Array(outW * outH * channels) : new Uint8Array(outW * outH * channels);
  out.fill(options.padValue ?? (isFloat ? 0.5 : 128));
  const rowValues = width * channels;
  for (let i = 0; i < count; i++) {
    const gx = pad + (i % columns) * (width + pad);
    const gy = pad + Math.floor(i / columns) * (height + pad);
    for (let y = 0; y < height; y++) {
      const src = (i * height + y) * rowValues;
      out.set(data.subarray(src, src + rowValues), ((gy + y) * outW + gx) * channels);
    }
  }
  return { width: outW, height: outH, channels, data: out };
}
