// Encoding of a WebAssembly module from its opcodes, shared by the SIMD kernels (kernels.ts: checksums and sums;
// half-kernels.ts: the 16-bit conversions). Hand-written because the kernels are a few hundred bytes each and no
// package assembles WebAssembly at run time without a toolchain; the binary format is in the WebAssembly core spec
// (sections 5.1-5.5: LEB128 integers, vectors, names, sections, function bodies).

export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Memory: new (d: { initial: number }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (m: object, imports: object) => { exports: Record<string, unknown> };
}
export const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

export const I32 = 0x7f;
export const F32 = 0x7d;
export const V128 = 0x7b;
/** The magic number and version every module starts with. */
export const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

export const vec = (bytes: number[]): number[] => [...uleb(bytes.length), ...bytes];
export const name = (s: string): number[] => vec([...Buffer.from(s, 'latin1')]);
export const section = (id: number, items: number[][]): number[] => [id, ...vec([...uleb(items.length), ...items.flat()])];

/** A function body: one v128 local group of `v128Locals`, then the code, then `end`. */
export const body = (v128Locals: number, code: number[][]): number[] => vec([1, v128Locals, V128, ...code.flat(), 0x0b]);
