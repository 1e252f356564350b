// Wire compression of the all-reduce: gradients travel as 16-bit floats, IEEE 754 binary16 (fp16) or bfloat16 (bf16,
// float32's upper half), while every sum is kept in float32 (the scheme of Horovod's fp16 compressor and of NCCL's
// half-precision reductions, with the accumulator widened as in Micikevicius et al. 2018, "Mixed Precision
// Training", section 3.2).
//
// The conversions are written here (half-kernels.ts, WebAssembly SIMD), not taken from a package: the one on npm
// (@petamoriken/float16 3.9.3, a Float16Array polyfill; Node 20 has no native Float16Array) measured 40 ns per
// element to encode and over 1 us per element to decode through its DataView API, which would cost seconds per step
// on a 16 MB gradient. Encoding rounds to nearest, ties to even, as a hardware conversion does.
//
// Error of one ring all-reduce (derivation, used by the tests): each encode of a value x returns x(1 + d) + a with
// |d| <= u and |a| <= eta (u: unit roundoff, 2^-11 for fp16, 2^-8 for bf16; eta: half the spacing of the format's
// subnormals, 2^-25 for fp16, 2^-134 for bf16). In the reduce-scatter a chunk's partial sum is encoded R - 1 times
// (once per hop) and every encoded partial sum P_k is bounded by sum_i |g_i|; the float32 additions add at most
// 2^-24 |P_k| each; the mean is encoded once more before the all-gather, which forwards those bytes unchanged. So per
// element, with A = (1/R) sum_i |g_i| (the mean absolute gradient over the ranks):
//     |result - exact mean| <= R * ((u + 2^-24) * A + eta)     (hops = R: R - 1 partial sums and the mean)
// to first order in u; errorBound() returns it with a (1 + u)^R factor for the higher-order terms.

import { HalfKernels } from './half-kernels.js';

export const COMPRESSIONS = ['none', 'fp16', 'bf16'] as const;
export type Compression = (typeof COMPRESSIONS)[number];

/** Checks a compression name; the message names the field, the value and what to write instead. */
export function parseCompression(value: unknown, field = 'parallel.compression'): Compression {
  if (value === undefined) return 'none';
  if (typeof value === 'string' && (COMPRESSIONS as readonly string[]).includes(value)) return value as Compression;
  throw new Error(
    `${field}: got ${JSON.stringify(value)}; expected one of ${COMPRESSIONS.join(', ')} ` +
      '(none: float32 on the wire; fp16: IEEE half, 2 bytes, 11-bit precision, |g| <= 65504; bf16: bfloat16, 2 bytes, 8-bit precision, float32 range)',
  );
}

/** A 16-bit wire format: encode float32 ranges, decode (or decode and add in float32) received payloads. */
export interface HalfCodec {
  readonly name: Exclude<Compression, 'none'>;
  /** Relative rounding error of one encode (unit roundoff). */
  readonly unitRoundoff: number;
  /** Absolute rounding error of one encode near zero (half the subnormal spacing). */
  readonly absoluteError: number;
  /** Largest finite value; beyond it an encode overflows to infinity. */
  readonly maxValue: number;
  /**
   * 2 bytes per element of src[start, end), in a fresh buffer; `overflow` counts finite inputs that became infinite.
   */
  encode(src: Float32Array, start: number, end: number): { bytes: Buffer; overflow: number };
  /** dst[off + i] += decoded payload[i], the sum rounded once to float32. */
  addInto(dst: Float32Array, off: number, payload: Uint8Array): void;
  /** dst[off + i] = decoded payload[i]. */
  decodeInto(dst: Float32Array, off: number, payload: Uint8Array): void;
}

/** The codec of a compression, undefined for none. */
export function codecFor(compression: Compression): HalfCodec | undefined {
  if (compression === 'fp16') return (fp16 ??= makeCodec('fp16'));
  if (compression === 'bf16') return (bf16 ??= makeCodec('bf16'));
  return undefined;
}

/** Bytes one element takes on the wire. */
export function wireBytesPerElement(compression: Compression): number {
  return compression === 'none' ? 4 : 2;
}

/**
 * The bound derived at the top of this file on |all-reduced mean - exact mean| for one element, given the mean
 * absolute value A of that element over the R ranks' inputs.
 */
export function errorBound(codec: HalfCodec, worldSize: number, meanAbs: number): number {
  const u = codec.unitRoundoff + 2 ** -24;
  return worldSize * (u * meanAbs + codec.absoluteError) * (1 + codec.unitRoundoff) ** worldSize;
}

let fp16: HalfCodec | undefined;
let bf16: HalfCodec | undefined;

let kernels: HalfKernels | undefined;

function makeCodec(name: 'fp16' | 'bf16'): HalfCodec {
  const k = (kernels ??= new HalfKernels());
  return {
    name,
    unitRoundoff: name === 'fp16' ? 2 ** -11 : 2 ** -8,
    absoluteError: name === 'fp16' ? 2 ** -25 : 2 ** -134,
    maxValue: name === 'fp16' ? 65504 : 3.3895313892515355e38,
    encode: (src, start, end) => k.encode(name, src, start, end),
    addInto: (dst, off, payload) => k.apply(name, 'add', dst, off, payload),
    decodeInto: (dst, off, payload) => k.apply(name, 'decode', dst, off, payload),
  };
}
