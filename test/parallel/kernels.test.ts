// The WebAssembly kernels against plain JavaScript: the checksum against a scalar implementation of the same
// definition, the reductions against Math.fround of the same arithmetic, for sizes that are not multiples of the
// SIMD width, and across a growth of the module's memory.
import test from 'ava';

import { Kernels } from '../../src/parallel/kernels.js';
import { Rng } from '../../src/random.js';

/** The checksum's definition, one 32-bit word at a time: lane i % 4 of (a += w; b += a), zero-padded to 16 bytes. */
function referenceChecksum(bytes: Uint8Array): number {
  const padded = new Uint8Array((bytes.length + 15) & ~15);
  padded.set(bytes);
  const words = new Uint32Array(padded.buffer);
  const a = new Uint32Array(4);
  const b = new Uint32Array(4);
  for (let i = 0; i < words.length; i += 4) {
    for (let l = 0; l < 4; l++) {
      a[l] = (a[l] as number) + (words[i + l] as number);
      b[l] = (b[l] as number) + (a[l] as number);
    }
  }
  let h = Math.imul(bytes.length ^ 0x9e3779b9, 0x85ebca6b);
  for (const w of [...a, ...b]) {
    h = Math.imul(h ^ w, 0xcc9e2d51);
    h ^= h >>> 15;
  }
  return h >>> 0;
}

const SIZES = [0, 1, 3, 4, 5, 17, 1000, 65_537, 300_001];

function randomFloats(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.float() * 2 - 1);
}

const bytesOf = (f: Float32Array): Buffer => Buffer.from(f.buffer, f.byteOffset, f.byteLength);

test('checksum matches its scalar definition, for any length and after the memory grew', (t) => {
  const k = new Kernels();
  for (const n of [...SIZES, 2_000_000, 7]) {
    const bytes = bytesOf(randomFloats(n, n + 1));
    t.is(k.checksum(bytes), referenceChecksum(bytes), `${n} floats`);
  }
  const odd = Buffer.from('{"rank":1}'); // control payloads are not whole floats
  t.is(k.checksum(odd), referenceChecksum(odd));
});

test('checksum changes for a flipped bit, swapped words, a shorter payload and trailing zeros', (t) => {
  const k = new Kernels();
  const base = bytesOf(randomFloats(1001, 5));
  const sum = k.checksum(base);
  const flipped = Buffer.from(base);
  flipped[2001] = (flipped[2001] as number) ^ 0x10;
  t.not(k.checksum(flipped), sum);
  const swapped = Buffer.from(base);
  swapped.copy(swapped, 400, 0, 4);
  base.copy(swapped, 0, 400, 404);
  t.not(k.checksum(swapped), sum);
  t.not(k.checksum(base.subarray(0, base.length - 4)), sum);
  t.not(k.checksum(Buffer.concat([base, Buffer.alloc(4)])), sum);
});

test('reduceInto adds (divisor 1) or averages a staged payload into a buffer range, and checksums the result', (t) => {
  const k = new Kernels();
  for (const n of SIZES) {
    for (const divisor of [1, 2, 3]) {
      const dst = randomFloats(n + 10, 2 * n + divisor);
      const src = randomFloats(n, 3 * n + divisor);
      const want = Float32Array.from(dst);
      for (let i = 0; i < n; i++) want[5 + i] = Math.fround(Math.fround((want[5 + i] as number) + (src[i] as number)) / divisor);
      const payload = bytesOf(src);
      t.is(k.checksum(payload), referenceChecksum(payload));
      const sum = k.reduceInto(dst, 5, payload, divisor);
      t.deepEqual(dst, want, `${n} floats / ${divisor}`);
      t.is(sum, referenceChecksum(bytesOf(dst.subarray(5, 5 + n))), `checksum of the result, ${n} floats / ${divisor}`);
    }
  }
});

test('input and reduceInto stage a payload again if another one was checksummed in between', (t) => {
  const k = new Kernels();
  const a = bytesOf(Float32Array.of(1, 2, 3));
  const b = bytesOf(Float32Array.of(10, 20, 30, 40, 50));
  k.checksum(a);
  k.checksum(b);
  t.deepEqual(Array.from(k.input(a)), [1, 2, 3]);
  const dst = Float32Array.of(1, 1, 1);
  k.checksum(b);
  k.reduceInto(dst, 0, a, 1);
  t.deepEqual(Array.from(dst), [2, 3, 4]);
});
