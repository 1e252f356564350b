// Flat indexing over a grid of discrete factors (row-major, last factor fastest), shared by every dataset.
import type { FactorSpec } from './types.js';

export class FactorGrid {
  readonly size: number;
  private readonly strides: number[];

  constructor(readonly factors: readonly FactorSpec[]) {
    if (factors.length === 0) throw new Error('a factor dataset needs at least one factor');
    const strides = new Array<number>(factors.length).fill(1);
    let size = 1;
    for (let f = factors.length - 1; f >= 0; f--) {
      const spec = factors[f] as FactorSpec;
      if (!Number.isInteger(spec.size) || spec.size < 1 || spec.values.length !== spec.size) {
        throw new Error(`factor '${spec.name}' has size ${spec.size} but ${spec.values.length} values`);
      }
      strides[f] = size;
      size *= spec.size;
    }
    this.size = size;
    this.strides = strides;
  }

  /** Factor indices of a flat index, validating the range. */
  factorsOf(index: number): number[] {
    if (!Number.isInteger(index) || index < 0 || index >= this.size) {
      throw new RangeError(`flat index ${index} is outside [0, ${this.size})`);
    }
    const out = new Array<number>(this.factors.length);
    let rest = index;
    for (let f = 0; f < this.factors.length; f++) {
      const stride = this.strides[f] as number;
      const q = Math.floor(rest / stride);
      out[f] = q;
      rest -= q * stride;
    }
    return out;
  }

  /** Flat index of a factor combination, validating every index. */
  indexOf(factorIndices: readonly number[]): number {
    if (factorIndices.length !== this.factors.length) {
      throw new RangeError(`expected ${this.factors.length} factor indices, got ${factorIndices.length}`);
    }
    let index = 0;
    for (let f = 0; f < this.factors.length; f++) {
      const i = factorIndices[f] as number;
      const spec = this.factors[f] as FactorSpec;
      if (!Number.isInteger(i) || i < 0 || i >= spec.size) {
        throw new RangeError(`factor '${spec.name}' index ${i} is outside [0, ${spec.size})`);
      }
      index += i * (this.strides[f] as number);
    }
    return index;
  }
}

/** Index of a factor given by position or by name; a clear error otherwise. */
export function resolveFactor(factors: readonly FactorSpec[], factor: number | string): number {
  if (typeof factor === 'number') {
    if (!Number.isInteger(factor) || factor < 0 || factor >= factors.length) {
      throw new RangeError(`factor ${factor} is outside [0, ${factors.length}); factors: ${factorNames(factors)}`);
    }
    return factor;
  }
  const found = factors.findIndex((f) => f.name === factor);
  if (found < 0) throw new RangeError(`no factor named '${factor}'; factors: ${factorNames(factors)}`);
  return found;
}

function factorNames(factors: readonly FactorSpec[]): string {
  return factors.map((f, i) => `${i}=${f.name}`).join(', ');
}

/** Copies one rendered image into a batch buffer, HWC, each value divided by `divisor` (255 for bytes). */
export function copyPixels(pixels: ArrayLike<number>, out: Float32Array, offset: number, divisor = 1): void {
  if (offset < 0 || offset + pixels.length > out.length) {
    throw new RangeError(`render target too small: need ${pixels.length} values at offset ${offset}`);
  }
  for (let i = 0; i < pixels.length; i++) out[offset + i] = (pixels[i] as number) / divisor;
}
