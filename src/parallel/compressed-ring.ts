// The ring all-reduce's schedule with a 16-bit wire (compression.ts): the same reduce-scatter then all-gather as
// ring.ts, frame for frame, but every payload is 2 bytes per element and every sum is taken in float32.
//
// Per hop of the reduce-scatter a rank decodes its left neighbour's partial sum, adds it to its own float32 gradient
// and encodes the result once for the next hop; nothing is decoded and re-encoded without an addition in between,
// so the accumulated sum is rounded to 16 bits exactly once per hop. The rank that completes a chunk divides by R in
// float32, encodes the mean once and keeps the decoded copy of those very bytes itself, so every rank ends with the
// same values bit for bit (the parameters stay identical across replicas); the all-gather forwards the bytes as
// received. The transport (sockets, schedule checks, failure handling) stays in ring-link.ts, reached through RingIo
// (built by the driver, ring.ts).
import type { HalfCodec } from './compression.js';
import { Kind } from './wire.js';

/** What the compressed schedule needs of its reducer, for one collective. */
export interface RingIo {
  readonly rank: number;
  readonly worldSize: number;
  /** Number of buckets of an n-element buffer. */
  buckets(n: number): number;
  /** [start, end) of chunk c of bucket b of an n-element buffer. */
  chunk(n: number, b: number, c: number): [number, number];
  send(kind: Kind.ReduceScatter | Kind.AllGather, bucket: number, ringStep: number, chunk: number, payload: Buffer, checksum?: number): void;
  /** The next frame, checked against this slot of the schedule (and its byte length). */
  expect(
    what: string,
    kind: Kind.ReduceScatter | Kind.AllGather,
    bucket: number,
    ringStep: number,
    chunk: number,
    bytes: number,
  ): Promise<{ payload: Buffer; checksum: number }>;
  /** Called when the collective's first frame arrived (the reducer's wait counter). */
  firstFrame(): void;
  /** The error that fails the group when values left the codec's range (the reducer tells its peers). */
  overflow(count: number, bucket: number): Error;
}

const mod = (a: number, n: number): number => ((a % n) + n) % n;

/** buf = mean of every rank's buf, 16 bits on the wire, float32 sums. */
export async function compressedAllReduce(io: RingIo, codec: HalfCodec, buf: Float32Array): Promise<void> {
  const R = io.worldSize;
  const r = io.rank;
  const n = buf.length;
  const nb = io.buckets(n);
  const encode = (b: number, s: number, e: number): Buffer => {
    const { bytes, overflow } = codec.encode(buf, s, e);
    if (overflow > 0) throw io.overflow(overflow, b);
    return bytes;
  };
  // reduce-scatter ring step 0: every bucket's own chunk goes out at once
  for (let b = 0; b < nb; b++) {
    const [s, e] = io.chunk(n, b, r);
    io.send(Kind.ReduceScatter, b, 0, r, encode(b, s, e));
  }
  // reduce-scatter: decode the left neighbour's partial sum, add in float32, encode once for the next hop
  for (let t = 0; t < R - 1; t++) {
    for (let b = 0; b < nb; b++) {
      const c = mod(r - t - 1, R);
      const [s, e] = io.chunk(n, b, c);
      const { payload } = await io.expect(`reduce-scatter bucket ${b}`, Kind.ReduceScatter, b, t, c, (e - s) * 2);
      if (t === 0 && b === 0) io.firstFrame();
      codec.addInto(buf, s, payload);
      if (t < R - 2) {
        io.send(Kind.ReduceScatter, b, t + 1, c, encode(b, s, e));
      } else {
        // this rank holds the full float32 sum of chunk c: the mean, encoded once, is what every rank keeps
        for (let i = s; i < e; i++) buf[i] = (buf[i] as number) / R;
        const bytes = encode(b, s, e);
        codec.decodeInto(buf, s, bytes);
        io.send(Kind.AllGather, b, 0, c, bytes);
      }
    }
  }
  // all-gather: take the finished chunk, forward the very same bytes
  for (let t = 0; t < R - 1; t++) {
    for (let b = 0; b < nb; b++) {
      const c = mod(r - t, R);
      const [s, e] = io.chunk(n, b, c);
      const { payload, checksum } = await io.expect(`all-gather bucket ${b}`, Kind.AllGather, b, t, c, (e - s) * 2);
      codec.decodeInto(buf, s, payload);
      if (t < R - 2) io.send(Kind.AllGather, b, t + 1, c, payload, checksum);
    }
  }
}
