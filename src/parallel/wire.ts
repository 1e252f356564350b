// Wire format of the ring all-reduce. Every message is two ZeroMQ frames: a fixed 48-byte header and a payload
// (raw little-endian Float32 values for gradient chunks, UTF-8 JSON for control messages). The header names the trial
// (hash of the group id), the rendezvous generation, the collective operation and the exact slot the payload fills,
// plus a checksum of the payload (kernels.ts), so a frame from another trial, an older generation, the wrong place in
// the schedule or a corrupted payload is rejected before a single value is applied.
import { Kernels } from './kernels.js';

/** 'DCAR' read as a little-endian uint32. */
export const MAGIC = 0x52414344;
/** 2: the payload checksum is kernels.ts's SIMD Fletcher sum instead of CRC32. */
export const WIRE_VERSION = 2;
export const HEADER_BYTES = 48;

/** What a message carries. */
export const enum Kind {
  Hello = 1,
  ReduceScatter = 2,
  AllGather = 3,
  Broadcast = 4,
  Checksum = 5,
  Heartbeat = 6,
  Abort = 7,
  Bye = 8,
}

export const KIND_NAMES: Readonly<Record<number, string>> = {
  1: 'hello',
  2: 'reduce-scatter',
  3: 'all-gather',
  4: 'broadcast',
  5: 'checksum',
  6: 'heartbeat',
  7: 'abort',
  8: 'bye',
};

export interface Header {
  readonly kind: Kind;
  readonly groupHash: number;
  readonly generation: number;
  /** Rank of the sender. */
  readonly sender: number;
  /** Training step the collective belongs to. */
  readonly step: number;
  /** Per-reducer sequence number of the collective call; catches ranks calling different collectives. */
  readonly op: number;
  readonly bucket: number;
  /** Ring step inside the collective (0 .. 2(R-1)-1 for all-reduce). */
  readonly ringStep: number;
  readonly chunk: number;
  /** Payload length in bytes. */
  readonly length: number;
  /** Kernels.checksum of the payload. */
  readonly checksum: number;
}

/** FNV-1a over the UTF-8 bytes of the group id: a cheap tag, not a secret. */
export function hashGroupId(groupId: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(groupId, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

let sharedKernels: Kernels | undefined;

/** Checksum of a payload, as the header carries it; `kernels` keeps the payload staged for a reduction. */
export function payloadChecksum(payload: Uint8Array, kernels?: Kernels): number {
  return (kernels ?? (sharedKernels ??= new Kernels())).checksum(payload);
}

export function encodeHeader(h: Header): Buffer {
  const b = Buffer.allocUnsafe(HEADER_BYTES);
  b.writeUInt32LE(MAGIC, 0);
  b.writeUInt16LE(WIRE_VERSION, 4);
  b.writeUInt8(h.kind, 6);
  b.writeUInt8(0, 7);
  b.writeUInt32LE(h.groupHash >>> 0, 8);
  b.writeUInt32LE(h.generation >>> 0, 12);
  b.writeUInt32LE(h.sender >>> 0, 16);
  b.writeDoubleLE(h.step, 20);
  b.writeUInt32LE(h.op >>> 0, 28);
  b.writeUInt32LE(h.bucket >>> 0, 32);
  b.writeUInt16LE(h.ringStep, 36);
  b.writeUInt16LE(h.chunk, 38);
  b.writeUInt32LE(h.length >>> 0, 40);
  b.writeUInt32LE(h.checksum >>> 0, 44);
  return b;
}

/** Why a frame was refused; `stale` marks frames from an older generation. */
export class FrameError extends Error {
  constructor(
    message: string,
    readonly reason: 'malformed' | 'version' | 'group' | 'stale' | 'generation' | 'checksum' | 'size' | 'schedule',
  ) {
    super(message);
    this.name = 'FrameError';
  }
}

/**
 * Parses and checks the parts of a frame that do not depend on the schedule: frame count, header size, magic,
 * version, group, generation, payload length and checksum. Throws FrameError; never returns a partly valid frame.
 * With `kernels`, the checked payload stays staged there, so reducing it needs no second copy.
 */
export function decodeFrame(
  frames: readonly Buffer[],
  expect: { readonly groupHash: number; readonly generation: number },
  kernels?: Kernels,
): { header: Header; payload: Buffer } {
  if (frames.length !== 2) throw new FrameError(`expected 2 frames (header, payload), got ${frames.length}`, 'malformed');
  const [hb, payload] = frames as [Buffer, Buffer];
  if (hb.length !== HEADER_BYTES) {
    throw new FrameError(`header frame is ${hb.length} bytes, expected ${HEADER_BYTES}`, 'malformed');
  }
  const magic = hb.readUInt32LE(0);
  if (magic !== MAGIC) throw new FrameError(`bad magic 0x${magic.toString(16)} (not a dcign all-reduce frame)`, 'malformed');
  const version = hb.readUInt16LE(4);
  if (version !== WIRE_VERSION) {
    throw new FrameError(`wire version ${version}, this build speaks ${WIRE_VERSION}`, 'version');
  }
  const kind = hb.readUInt8(6);
  if (KIND_NAMES[kind] === undefined) throw new FrameError(`unknown message kind ${kind}`, 'malformed');
  const header: Header = {
    kind: kind as Kind,
    groupHash: hb.readUInt32LE(8),
    generation: hb.readUInt32LE(12),
    sender: hb.readUInt32LE(16),
    step: hb.readDoubleLE(20),
    op: hb.readUInt32LE(28),
    bucket: hb.readUInt32LE(32),
    ringStep: hb.readUInt16LE(36),
    chunk: hb.readUInt16LE(38),
    length: hb.readUInt32LE(40),
    checksum: hb.readUInt32LE(44),
  };
  if (header.groupHash !== expect.groupHash) {
    throw new FrameError(
      `frame from another group (group hash 0x${header.groupHash.toString(16)}, ours 0x${expect.groupHash.toString(16)})`,
      'group',
    );
  }
  if (header.generation !== expect.generation) {
    const stale = header.generation < expect.generation;
    throw new FrameError(
      `${stale ? 'stale' : 'future'} generation ${header.generation} from rank ${header.sender} (current ${expect.generation})`,
      stale ? 'stale' : 'generation',
    );
  }
  if (payload.length !== header.length) {
    throw new FrameError(`payload is ${payload.length} bytes but the header says ${header.length}`, 'size');
  }
  const sum = payloadChecksum(payload, kernels);
  if (sum !== header.checksum) {
    throw new FrameError(
      `payload checksum mismatch (0x${sum.toString(16)}, header 0x${header.checksum.toString(16)}) in ${KIND_NAMES[kind]} frame from rank ${header.sender}`,
      'checksum',
    );
  }
  return { header, payload };
}

/** Bytes of a Float32Array range, without copying. */
export function floatBytes(buf: Float32Array, start: number, end: number): Buffer {
  return Buffer.from(buf.buffer, buf.byteOffset + start * 4, (end - start) * 4);
}
