// A tiny 32x32 factor dataset for model and trainer tests: a 4x4 square (blob) at (x, y) on an 8x8 grid of
// positions, drawn with one of two intensities. Three factors, 128 images; rendering is a few loops.
import type { FactorDataset } from '../../src/data/types.js';

export function createBars(imageSize = 32): FactorDataset {
  const factors = [
    { name: 'x', size: 8, values: [0, 1, 2, 3, 4, 5, 6, 7] },
    { name: 'y', size: 8, values: [0, 1, 2, 3, 4, 5, 6, 7] },
    { name: 'intensity', size: 2, values: [0.6, 1] },
  ];
  const cell = imageSize / 8;
  return {
    name: 'bars',
    factors,
    imageSize,
    channels: 1,
    size: 128,
    render(f: readonly number[], out: Float32Array, offset: number): void {
      const [x = 0, y = 0, i = 0] = f;
      const v = factors[2]?.values[i] ?? 1;
      out.fill(0, offset, offset + imageSize * imageSize);
      for (let r = y * cell; r < (y + 1) * cell; r++) {
        for (let c = x * cell; c < (x + 1) * cell; c++) out[offset + r * imageSize + c] = v;
      }
    },
    factorsOf(index: number): number[] {
      return [Math.floor(index / 16), Math.floor(index / 2) % 8, index % 2];
    },
    indexOf(f: readonly number[]): number {
      return (f[0] ?? 0) * 16 + (f[1] ?? 0) * 2 + (f[2] ?? 0);
    },
  };
}
