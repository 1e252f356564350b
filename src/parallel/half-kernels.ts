// The 16-bit wire's conversions in WebAssembly SIMD (the approach of kernels.ts): float32 -> fp16 / bf16 rounded to
// nearest, ties to even, and fp16 / bf16 -> float32, either stored or added to a float32 buffer. Scalar JavaScript
// loops ran at 15-65 ns per element on this loaded machine, which made an fp16 all-reduce of a 16 MB gradient slower
// than the float32 one even on a 1 Gbit/s link; these handle 4 or 8 elements per instruction.
//
// fp16 encode is F. Giesen's float_to_half_fast3_rtne (public domain, "half.c" gist, 2016) lane-wise: normal values
// by integer rounding of the rebiased bits; values below 2^-14 by adding 0.5f in float32, whose own round-to-even puts
// the subnormal half's bits at the bottom of the mantissa; 2^16 and above (and infinities) to infinity, NaN to a quiet
// NaN. fp16 decode shifts the 15 magnitude bits into float32 position and multiplies by 2^112 (exact, subnormals
// included; WebAssembly never flushes them), with infinities and NaNs given float32's all-ones exponent. bf16 is the
// upper half of float32 with the same rounding. Every encode also counts the finite inputs that became infinite.

import { body, HEADER, I32, name, section, sleb, uleb, vec, wasmApi, type WasmMemory } from './wasm-module.js';

type Kernel = (dst: number, src: number, groups: number) => void;
type Exports = Record<'f16enc' | 'bf16enc' | 'f16add' | 'bf16add' | 'f16dec' | 'bf16dec', Kernel>;

// ---- the module, from its opcodes -------------------------------------------------------------------------------

const simd = (sub: number): number[] => [0xfd, ...uleb(sub)];
const op = {
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  end: [0x0b],
  br: (d: number) => [0x0c, d],
  brIf: (d: number) => [0x0d, d],
  get: (i: number) => [0x20, i],
  set: (i: number) => [0x21, i],
  i32Const: (v: number) => [0x41, ...sleb(v | 0)],
  i32Add: [0x6a],
  i32Sub: [0x6b],
  i32Eqz: [0x45],
  // memarg = log2(alignment), offset
  load: (offset: number) => [...simd(0x00), 4, ...uleb(offset)],
  load16x4u: [...simd(0x04), 3, 0],
  store: (offset: number) => [...simd(0x0b), 4, ...uleb(offset)],
  splat: (v: number) => [0x41, ...sleb(v | 0), ...simd(0x11)],
  eq: simd(0x37),
  ltU: simd(0x3a),
  gtU: simd(0x3c),
  geU: simd(0x40),
  and: simd(0x4e),
  or: simd(0x50),
  xor: simd(0x51),
  bitselect: simd(0x52),
  narrowU: simd(0x86),
  shl: (bits: number) => [0x41, bits, ...simd(0xab)],
  shrU: (bits: number) => [0x41, bits, ...simd(0xad)],
  add: simd(0xae),
  sub: simd(0xb1),
  fadd: simd(0xe4),
  fmul: simd(0xe6),
};

// parameters: 0 dst, 1 src, 2 groups (of 8 elements for encodes, 4 for decodes)
const DST = 0;
const SRC = 1;
const COUNT = 2;

/** Loop `groups` times over `step`, advancing dst and src by their strides. */
function loop(dstStride: number, srcStride: number, step: number[][]): number[][] {
  return [
    op.block,
    op.loop,
    op.get(COUNT),
    op.i32Eqz,
    op.brIf(1),
    ...step,
    ...[op.get(DST), op.i32Const(dstStride), op.i32Add, op.set(DST)],
    ...[op.get(SRC), op.i32Const(srcStride), op.i32Add, op.set(SRC)],
    ...[op.get(COUNT), op.i32Const(1), op.i32Sub, op.set(COUNT)],
    op.br(0),
    op.end,
    op.end,
  ];
}

// encode locals: v, sign, a (|v| bits), n, d, o, res, acc (overflow lanes)
const [V, SIGN, A, N, D, O, RES, ACC] = [3, 4, 5, 6, 7, 8, 9, 10];
const INF = 0x7f800000;

/** fp16 bits (in i32 lanes) of the 4 floats at src + offset, left on the stack; counts overflows into ACC. */
function f16Lanes(offset: number): number[][] {
  return [
    ...[op.get(SRC), op.load(offset), op.set(V)],
    ...[op.get(V), op.splat(0x80000000), op.and, op.set(SIGN)],
    ...[op.get(V), op.get(SIGN), op.xor, op.set(A)],
    // normal: (a + ((15 - 127) << 23) + 0xfff + ((a >> 13) & 1)) >> 13
    ...[op.get(A), op.splat(((15 - 127) << 23) + 0xfff), op.add, op.get(A), op.shrU(13), op.splat(1), op.and, op.add, op.shrU(13), op.set(N)],
    // below 2^-14: bits(float(a) + 0.5f) - bits(0.5f)
    ...[op.get(A), op.splat(126 << 23), op.fadd, op.splat(126 << 23), op.sub, op.set(D)],
    // 2^16 and above: NaN stays a (quiet) NaN, the rest is infinity
    ...[op.splat(0x7e00), op.splat(0x7c00), op.get(A), op.splat(INF), op.gtU, op.bitselect, op.set(O)],
    ...[op.get(O), op.get(D), op.get(N), op.get(A), op.splat(113 << 23), op.ltU, op.bitselect, op.get(A), op.splat(143 << 23), op.geU, op.bitselect, op.set(RES)],
    ...[op.get(ACC), op.get(RES), op.splat(0x7c00), op.eq, op.get(A), op.splat(INF), op.ltU, op.and, op.sub, op.set(ACC)],
    ...[op.get(RES), op.get(SIGN), op.shrU(16), op.or],
  ];
}

/** bf16 bits (in i32 lanes) of the 4 floats at src + offset, left on the stack; counts overflows into ACC. */
function bf16Lanes(offset: number): number[][] {
  return [
    ...[op.get(SRC), op.load(offset), op.set(V)],
    ...[op.get(V), op.splat(0x7fffffff), op.and, op.set(A)],
    ...[op.get(V), op.splat(0x7fff), op.add, op.get(V), op.shrU(16), op.splat(1), op.and, op.add, op.shrU(16), op.set(N)],
    ...[op.get(V), op.shrU(16), op.splat(0x40), op.or, op.get(N), op.get(A), op.splat(INF), op.gtU, op.bitselect, op.set(RES)],
    ...[op.get(ACC), op.get(RES), op.splat(0x7fff), op.and, op.splat(0x7f80), op.eq, op.get(A), op.splat(INF), op.ltU, op.and, op.sub, op.set(ACC)],
    op.get(RES),
  ];
}

function encoder(lanes: (offset: number) => number[][]): number[] {
  return body(8, [
    ...loop(16, 32, [op.get(DST), ...lanes(0), ...lanes(16), op.narrowU, op.store(0)]),
    ...[op.i32Const(0), op.get(ACC), op.store(0)],
  ]);
}

// decode locals: h, m
const [H, M] = [3, 4];

/** The 4 floats of the 16-bit values at src, left on the stack. */
function f16Floats(): number[][] {
  return [
    ...[op.get(SRC), op.load16x4u, op.set(H)],
    ...[op.get(H), op.splat(0x7fff), op.and, op.shl(13), op.set(M)],
    ...[op.get(M), op.splat(INF), op.or, op.get(M), op.splat(0x77800000), op.fmul, op.get(H), op.splat(0x7c00), op.and, op.splat(0x7c00), op.eq, op.bitselect],
    ...[op.get(H), op.splat(0x8000), op.and, op.shl(16), op.or],
  ];
}

function bf16Floats(): number[][] {
  return [op.get(SRC), op.load16x4u, op.shl(16)];
}

const decoder = (floats: () => number[][]): number[] => body(2, loop(16, 8, [op.get(DST), ...floats(), op.store(0)]));
const adder = (floats: () => number[][]): number[] => body(2, loop(16, 8, [op.get(DST), op.get(DST), op.load(0), ...floats(), op.fadd, op.store(0)]));

const NAMES = ['f16enc', 'bf16enc', 'f16add', 'bf16add', 'f16dec', 'bf16dec'] as const;

function assemble(): Uint8Array {
  const bodies = [encoder(f16Lanes), encoder(bf16Lanes), adder(f16Floats), adder(bf16Floats), decoder(f16Floats), decoder(bf16Floats)];
  const bytes = [
    ...HEADER,
    ...section(1, [[0x60, ...vec([I32, I32, I32]), 0]]),
    ...section(2, [[...name('env'), ...name('memory'), 0x02, 0x00, 0x01]]),
    ...section(3, bodies.map(() => [0])),
    ...section(7, NAMES.map((n, i) => [...name(n), 0x00, i])),
    ...section(10, bodies),
  ];
  return Uint8Array.from(bytes);
}

let compiled: object | undefined;

// ---- the JavaScript side ------------------------------------------------------------------------------------------

const PAGE = 65536;
/** Overflow lanes at 0; the float32 and 16-bit regions start 16-byte aligned after it. */
const SCRATCH = 64;
const pad8 = (n: number): number => (n + 7) & ~7;

/** One instance per process is enough: every call is synchronous and leaves nothing behind. */
export class HalfKernels {
  private readonly memory: WasmMemory;
  private readonly fns: Exports;
  /** Elements the regions hold (a multiple of 8). */
  private capacity = 0;

  constructor() {
    compiled ??= new wasmApi.Module(assemble());
    this.memory = new wasmApi.Memory({ initial: 1 });
    this.fns = new wasmApi.Instance(compiled, { env: { memory: this.memory } }).exports as unknown as Exports;
  }

  /** 16-bit values of src[start, end) in a fresh buffer, and how many finite inputs overflowed to infinity. */
  encode(format: 'fp16' | 'bf16', src: Float32Array, start: number, end: number): { bytes: Buffer; overflow: number } {
    const n = end - start;
    const p = pad8(n);
    this.reserve(p);
    const f = new Float32Array(this.memory.buffer, this.floatsAt, p);
    f.set(src.subarray(start, end));
    f.fill(0, n); // padding must not count as overflow
    (format === 'fp16' ? this.fns.f16enc : this.fns.bf16enc)(this.halvesAt, this.floatsAt, p / 8);
    const lanes = new Int32Array(this.memory.buffer, 0, 4);
    const overflow = (lanes[0] as number) + (lanes[1] as number) + (lanes[2] as number) + (lanes[3] as number);
    return { bytes: Buffer.from(new Uint8Array(this.memory.buffer, this.halvesAt, n * 2)), overflow };
  }

  /** dst[off + i] += value i of payload (add) or = it (decode), in float32. */
  apply(format: 'fp16' | 'bf16', mode: 'add' | 'decode', dst: Float32Array, off: number, payload: Uint8Array): void {
    const n = payload.length >>> 1;
    const p = pad8(n);
    this.reserve(p);
    new Uint8Array(this.memory.buffer, this.halvesAt, n * 2).set(payload.subarray(0, n * 2)); // any alignment
    const f = new Float32Array(this.memory.buffer, this.floatsAt, p);
    if (mode === 'add') f.set(dst.subarray(off, off + n));
    const fn = mode === 'add' ? (format === 'fp16' ? this.fns.f16add : this.fns.bf16add) : format === 'fp16' ? this.fns.f16dec : this.fns.bf16dec;
    fn(this.floatsAt, this.halvesAt, p / 4);
    dst.set(f.subarray(0, n), off);
  }

  private get floatsAt(): number {
    return SCRATCH;
  }

  private get halvesAt(): number {
    return SCRATCH + this.capacity * 4;
  }

  /** Room for `elems` in both regions; growing detaches old views, so every method takes fresh ones. */
  private reserve(elems: number): void {
    if (elems <= this.capacity) return;
    const capacity = pad8(Math.max(elems, 2 * this.capacity));
    const need = Math.ceil((SCRATCH + capacity * 6) / PAGE);
    const have = this.memory.buffer.byteLength / PAGE;
    if (need > have) this.memory.grow(need - have);
    this.capacity = capacity;
  }
}
