// The per-byte work of the all-reduce, in WebAssembly SIMD: the payload checksum and the reduction (add, or add and
// divide for the average). Plain JavaScript loops over Float32Array run at about 2 GB/s here and node:zlib's crc32
// at about 4 GB/s; on a two-core machine that CPU time is taken from ZeroMQ's I/O threads, so it lowered the
// ring's bandwidth by a third. These kernels handle 16 bytes per instruction, and the reduction checksums its own
// output in the same pass, so the frame that forwards a partial sum costs no extra read.
//
// Checksum: four 32-bit lanes, each a Fletcher-style pair (a += word, b += a, mod 2^32), folded to 32 bits. It is
// position dependent and covers the length: it catches any single changed word, truncation, reordered words, and a
// frame whose buffer changed between checksum and send; it is not a MAC (CURVE authenticates traffic between hosts).
//
// WebAssembly cannot read JavaScript's buffers, so a payload is first copied into the module's memory (memcpy speed,
// several times faster than the loops it replaces). The module is assembled here from its opcodes; it is
// small enough to read, and needs no build step or binary file.

import { body, F32, HEADER, I32, name, section, sleb, uleb, vec, wasmApi, type WasmMemory } from './wasm-module.js';

type Exports = {
  checksum(ptr: number, bytes: number): void;
  add(dst: number, src: number, bytes: number): void;
  addDiv(dst: number, src: number, bytes: number, divisor: number): void;
};

// ---- the module, from its opcodes -------------------------------------------------------------------------------

const op = {
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  end: [0x0b],
  br: (d: number) => [0x0c, d],
  brIf: (d: number) => [0x0d, d],
  get: (i: number) => [0x20, i],
  set: (i: number) => [0x21, i],
  tee: (i: number) => [0x22, i],
  i32Const: (v: number) => [0x41, ...sleb(v)],
  i32Add: [0x6a],
  i32Sub: [0x6b],
  i32Eqz: [0x45],
  // SIMD opcodes: 0xfd prefix, LEB128 sub-opcode; memarg = log2(alignment), offset
  v128Load: (offset: number) => [0xfd, 0x00, 4, ...uleb(offset)],
  v128Store: (offset: number) => [0xfd, 0x0b, 4, ...uleb(offset)],
  f32x4Splat: [0xfd, 0x13],
  i32x4Add: [0xfd, 0xae, 0x01],
  f32x4Add: [0xfd, 0xe4, 0x01],
  f32x4Div: [0xfd, 0xe7, 0x01],
};

/** Loop over `bytes` (local n, a multiple of 16) advancing the pointers in `ptrs`; the loop body is `step`. */
function loop16(n: number, ptrs: number[], step: number[][]): number[][] {
  return [
    op.block,
    op.loop,
    op.get(n),
    op.i32Eqz,
    op.brIf(1),
    ...step,
    ...ptrs.flatMap((p) => [op.get(p), op.i32Const(16), op.i32Add, op.set(p)]),
    op.get(n),
    op.i32Const(16),
    op.i32Sub,
    op.set(n),
    op.br(0),
    op.end,
    op.end,
  ];
}

/** a += v; b += a, lane-wise, with v on the stack. */
const fletcher = (a: number, b: number): number[][] => [op.get(a), op.i32x4Add, op.tee(a), op.get(b), op.i32x4Add, op.set(b)];
/** Stores the checksum lanes a, b at addresses 0 and 16 (the scratch area). */
const storeSums = (a: number, b: number): number[][] => [
  ...[op.i32Const(0), op.get(a), op.v128Store(0)],
  ...[op.i32Const(0), op.get(b), op.v128Store(16)],
];

/** dst address (for the store that follows), then dst[i..i+4] + src[i..i+4]; dst and src are locals 0 and 1. */
const loadSum: number[][] = [op.get(0), op.get(0), op.v128Load(0), op.get(1), op.v128Load(0), op.f32x4Add];

function assemble(): Uint8Array {
  // checksum(ptr, n): locals a=2, b=3
  const checksum = body(2, [...loop16(1, [0], [op.get(0), op.v128Load(0), ...fletcher(2, 3)]), ...storeSums(2, 3)]);
  // add(dst, src, n): dst += src, checksum of the result; locals a=3, b=4, v=5
  const add = body(3, [
    ...loop16(2, [0, 1], [
      ...loadSum,
      op.tee(5),
      op.v128Store(0),
      op.get(5),
      ...fletcher(3, 4),
    ]),
    ...storeSums(3, 4),
  ]);
  // addDiv(dst, src, n, r): dst = (dst + src) / r, checksum of the result; locals a=4, b=5, v=6, rv=7
  const addDiv = body(4, [
    op.get(3),
    op.f32x4Splat,
    op.set(7),
    ...loop16(2, [0, 1], [
      ...loadSum,
      op.get(7),
      op.f32x4Div,
      op.tee(6),
      op.v128Store(0),
      op.get(6),
      ...fletcher(4, 5),
    ]),
    ...storeSums(4, 5),
  ]);
  const bytes = [
    ...HEADER,
    ...section(1, [
      [0x60, ...vec([I32, I32]), 0],
      [0x60, ...vec([I32, I32, I32]), 0],
      [0x60, ...vec([I32, I32, I32, F32]), 0],
    ]),
    ...section(2, [[...name('env'), ...name('memory'), 0x02, 0x00, 0x01]]),
    ...section(3, [[0], [1], [2]]),
    ...section(7, [
      [...name('checksum'), 0x00, 0],
      [...name('add'), 0x00, 1],
      [...name('addDiv'), 0x00, 2],
    ]),
    ...section(10, [checksum, add, addDiv]),
  ];
  return Uint8Array.from(bytes);
}

let compiled: object | undefined;

// ---- the JavaScript side ------------------------------------------------------------------------------------------

const PAGE = 65536;
/** Scratch area (checksum lanes) at 0; the input and output regions start 16-byte aligned after it. */
const SCRATCH = 64;

const pad16 = (n: number): number => (n + 15) & ~15;

/**
 * One instance per reducer: its input region holds the last payload checksummed, so a collective can reduce a
 * frame right after the frame was checked without copying it twice. Synchronous throughout.
 */
export class Kernels {
  private readonly memory: WasmMemory;
  private readonly fns: Exports;
  private capacity = 0;
  private staged: Uint8Array | undefined;
  private stagedBytes = 0;

  constructor() {
    compiled ??= new wasmApi.Module(assemble());
    this.memory = new wasmApi.Memory({ initial: 1 });
    this.fns = new wasmApi.Instance(compiled, { env: { memory: this.memory } }).exports as unknown as Exports;
  }

  /** Checksum of `payload`, which stays staged as the input of the next reduction. */
  checksum(payload: Uint8Array): number {
    const padded = pad16(payload.length);
    this.reserve(padded);
    const mem = new Uint8Array(this.memory.buffer);
    mem.set(payload, this.inAt);
    mem.fill(0, this.inAt + payload.length, this.inAt + padded);
    this.fns.checksum(this.inAt, padded);
    this.staged = payload;
    this.stagedBytes = payload.length;
    return this.fold(payload.length);
  }

  /** The floats of `payload`, staged (and checksummed) unless it is the payload staged last. */
  input(payload: Uint8Array): Float32Array {
    if (this.staged !== payload) this.checksum(payload);
    return new Float32Array(this.memory.buffer, this.inAt, this.stagedBytes / 4);
  }

  /**
   * dst[off + i] = (dst[off + i] + staged[i]) / divisor for the staged payload (divisor 1: a plain sum, no
   * division); returns the checksum of the result, ready for the frame that sends it on.
   */
  reduceInto(dst: Float32Array, off: number, payload: Uint8Array, divisor: number): number {
    const src = this.input(payload);
    const n = src.length;
    const padded = pad16(n * 4);
    const out = this.outAt;
    const mem = new Float32Array(this.memory.buffer); // the kernels never grow the memory
    mem.set(dst.subarray(off, off + n), out / 4);
    mem.fill(0, out / 4 + n, (out + padded) / 4);
    if (divisor === 1) this.fns.add(out, this.inAt, padded);
    else this.fns.addDiv(out, this.inAt, padded, divisor);
    dst.set(mem.subarray(out / 4, out / 4 + n), off);
    return this.fold(n * 4);
  }

  /** Input region: the staged payload. */
  private get inAt(): number {
    return SCRATCH;
  }

  /** Output region: the reduction's result before it is copied back. */
  private get outAt(): number {
    return SCRATCH + this.capacity;
  }

  /** Room for `bytes` in both regions; growing detaches old views, so every method takes fresh ones. */
  private reserve(bytes: number): void {
    if (bytes <= this.capacity) return;
    const capacity = pad16(Math.max(bytes, 2 * this.capacity));
    const need = Math.ceil((SCRATCH + 2 * capacity) / PAGE);
    const have = this.memory.buffer.byteLength / PAGE;
    if (need > have) this.memory.grow(need - have);
    this.capacity = capacity;
  }

  /** Folds the eight checksum lanes and the length into 32 bits (multiply-xorshift, so every lane counts). */
  private fold(length: number): number {
    const lanes = new Uint32Array(this.memory.buffer, 0, 8);
    let h = Math.imul(length ^ 0x9e3779b9, 0x85ebca6b);
    for (let i = 0; i < 8; i++) {
      h = Math.imul(h ^ (lanes[i] as number), 0xcc9e2d51);
      h ^= h >>> 15;
    }
    return h >>> 0;
  }
}
