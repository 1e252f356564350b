// Wire compression of the all-reduce: gradients travel as 16-bit floats, IEEE 754 binary16 (fp16) or bfloat16 (bf16,
// float32's upper half), while every sum is kept in float32 (the scheme of Horovod's fp16 compressor and of NCCL's
// half-precision reductions, with the accumulator widened as in Micikevicius et al. 2018, "Mixed Precision
// Training", section 3.2).
//
// The conversions are written here, not taken from a package: the one on npm (@petamoriken/float16 3.9.3, a
// Float16Array polyfill; Node 20 has no native Float16Array) measured 40 ns per element to encode and over 1 us per
// element to decode through its DataView API, which would cost seconds per step on a 16 MB gradient; these loops run
// at a few ns per element. Encoding rounds to nearest, ties to even (as a hardware conversion does); decoding is a
// lookup in a 65536-entry table.
//
// Error of one ring all-reduce (derivation, used by the tests): each encode of a value x returns x(1 + d) + a with
// |d| <= u and |a| <= eta (u: unit roundoff, 2^-11 for fp16, 2^-8 for bf16; eta: half the spacing of the format's
// subnormals, 2^-25 for fp16, 2^-134 for bf16). In the reduce-scatter a chunk's partial sum is encoded R - 1 times
// (once per hop) and every encoded partial sum P_k is bounded by sum_i |g_i|; the float32 additions add at most
// 2^-24 |P_k| each; the mean is encoded once more before the all-gather, which forwards those bytes unchanged. So per
// element, with A = (1/R) sum_i |g_i| (the mean absolute gradient over the ranks):
//     |result - exact mean| <= R * ((u + 2^-24) * A + eta)     (hops = R: R - 1 partial sums and the mean)
// to first order in u; errorBound() returns it with a (1 + u)^R factor for the higher-order terms.

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

/** binary16 bits of the float32 with bits b, rounded to nearest, ties to even. */
function fp16Bits(b: number): number {
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  const e = exp - 112; // rebias 127 -> 15
  if (e >= 1 && e <= 30) {
    let h = (e << 10) | (mant >>> 13);
    const rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && (h & 1) !== 0)) h++; // a carry into the exponent is right, up to infinity
    return sign | h;
  }
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0); // infinity stays, NaN stays a (quiet) NaN
  if (e > 30) return sign | 0x7c00; // overflow
  if (e < -10) return sign; // below half the smallest subnormal (2^-25): zero
  // subnormal: value = m * 2^(exp - 150) = k * 2^-24 with k = m >> (14 - e), rounded
  const m = mant | 0x800000;
  const shift = 14 - e;
  let h = m >>> shift;
  const rem = m & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rem > half || (rem === half && (h & 1) !== 0)) h++; // may carry into the smallest normal, which is right
  return sign | h;
}

/** bfloat16 bits of the float32 with bits b, rounded to nearest, ties to even. */
function bf16Bits(b: number): number {
  if ((b & 0x7fffffff) >>> 0 > 0x7f800000) return ((b >>> 16) | 0x40) & 0xffff; // NaN stays a quiet NaN
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

function decodeTable(name: 'fp16' | 'bf16'): Float32Array {
  const table = new Float32Array(65536);
  const bits = new Uint32Array(table.buffer);
  for (let h = 0; h < 65536; h++) {
    if (name === 'bf16') {
      bits[h] = (h << 16) >>> 0;
      continue;
    }
    const sign = (h & 0x8000) !== 0 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) table[h] = sign * mant * 2 ** -24;
    else if (exp === 31) table[h] = mant === 0 ? sign * Infinity : Number.NaN;
    else table[h] = sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  return table;
}

/** A Uint16Array over the payload; a copy when ZeroMQ handed over an odd-aligned buffer. */
function halves(payload: Uint8Array): Uint16Array {
  if (payload.byteOffset % 2 === 0) return new Uint16Array(payload.buffer, payload.byteOffset, payload.length >>> 1);
  return new Uint16Array(Uint8Array.from(payload).buffer);
}

function makeCodec(name: 'fp16' | 'bf16'): HalfCodec {
  const table = decodeTable(name);
  const toBits = name === 'fp16' ? fp16Bits : bf16Bits;
  const infBits = name === 'fp16' ? 0x7c00 : 0x7f80;
  return {
    name,
    unitRoundoff: name === 'fp16' ? 2 ** -11 : 2 ** -8,
    absoluteError: name === 'fp16' ? 2 ** -25 : 2 ** -134,
    maxValue: name === 'fp16' ? 65504 : 3.3895313892515355e38,
    encode(src, start, end) {
      const n = end - start;
      const out = new Uint16Array(n);
      let overflow = 0;
      const bits = new Uint32Array(src.buffer, src.byteOffset + start * 4, n);
      for (let i = 0; i < n; i++) {
        const b = bits[i] as number;
        const h = toBits(b);
        out[i] = h;
        if ((h & 0x7fff) === infBits && (b & 0x7f800000) !== 0x7f800000) overflow++;
      }
      return { bytes: Buffer.from(out.buffer, 0, n * 2), overflow };
    },
    addInto(dst, off, payload) {
      const h = halves(payload);
      for (let i = 0; i < h.length; i++) dst[off + i] = (dst[off + i] as number) + (table[h[i] as number] as number);
    },
    decodeInto(dst, off, payload) {
      const h = halves(payload);
      for (let i = 0; i < h.length; i++) dst[off + i] = table[h[i] as number] as number;
    },
  };
}
