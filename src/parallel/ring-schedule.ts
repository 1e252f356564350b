// The ring protocol: each collective as the fixed sequence of frames both neighbours know (Patarasuk & Yuan 2009).
// All-reduce is reduce-scatter then all-gather, so each of the R ranks sends 2(R-1)/R of the buffer's bytes whatever R
// is; broadcast and the checksum gather go once round the ring. These functions only say what to send and what to
// expect next; the link (ring-link.ts) moves and verifies the frames.
import type { Kernels } from './kernels.js';
import type { WaitContext } from './ring-error.js';
import { floatBytes, Kind } from './wire.js';

/** What a schedule needs from the link to its neighbours. */
export interface ScheduleLink {
  readonly rank: number;
  readonly worldSize: number;
  readonly right: number;
  /** Floats per gradient bucket (bucketBytes / 4). */
  readonly bucketElems: number;
  readonly kernels: Kernels;
  sendData(kind: Kind, step: number, bucket: number, ringStep: number, chunk: number, payload: Buffer, checksum?: number): void;
  expect(
    ctx: WaitContext,
    kind: Kind,
    step: number,
    bucket: number,
    ringStep: number,
    chunk: number,
    bytes: number,
  ): Promise<{ payload: Buffer; checksum: number }>;
}

/** [start, end) of chunk c when n elements are split into r near-equal chunks (the first n % r get one more). */
export function chunkRange(n: number, r: number, c: number): [number, number] {
  const base = Math.floor(n / r);
  const rem = n % r;
  const start = c * base + Math.min(c, rem);
  return [start, start + base + (c < rem ? 1 : 0)];
}

export function mod(a: number, n: number): number {
  return ((a % n) + n) % n;
}

/**
 * Outgoing copies of the chunks this rank finishes, one slot per bucket, reused from one all-reduce to the next.
 * Rewriting bucket b's slot is safe: it happens after this rank received the last reduce-scatter frame of bucket b in
 * the current collective, and that frame carries data the right neighbour sent in this collective, which it started
 * only after finishing the previous one, that is after it received every frame this rank sent from the slot before.
 */
export class Staging {
  private area = new Float32Array(0);

  constructor(
    private readonly bucketElems: number,
    private readonly worldSize: number,
  ) {}

  slot(bucket: number, elems: number): Float32Array {
    const slot = Math.ceil(this.bucketElems / this.worldSize);
    if (this.area.length < (bucket + 1) * slot) {
      // frames still queued keep the old array alive (ZeroMQ holds a reference until they are sent)
      this.area = new Float32Array(Math.max((bucket + 1) * slot, 2 * this.area.length));
    }
    return this.area.subarray(bucket * slot, bucket * slot + elems);
  }
}

/**
 * Pipelined ring all-reduce of buf into its mean: every bucket's first chunk goes out at once and each received chunk
 * immediately triggers the next send of its bucket, so ZeroMQ's I/O thread sends one bucket while this thread adds
 * the next. onFirstFrame marks when the left neighbour's first frame arrived (the wait for the slowest peer).
 */
export async function ringAllReduce(link: ScheduleLink, staging: Staging, buf: Float32Array, step: number, onFirstFrame: () => void): Promise<void> {
  const R = link.worldSize;
  const r = link.rank;
  const n = buf.length;
  const nb = Math.max(1, Math.ceil(n / link.bucketElems));
  const bucket = (b: number): [number, number] => [b * link.bucketElems, Math.min(n, (b + 1) * link.bucketElems)];
  const chunk = (b: number, c: number): [number, number] => {
    const [s, e] = bucket(b);
    const [cs, ce] = chunkRange(e - s, R, c);
    return [s + cs, s + ce];
  };
  const ctx = (what: string): WaitContext => ({ what: `allReduceMean ${what}`, step });
  // reduce-scatter ring step 0: every bucket's own chunk goes out at once
  for (let b = 0; b < nb; b++) {
    const c = r;
    const [s, e] = chunk(b, c);
    link.sendData(Kind.ReduceScatter, step, b, 0, c, floatBytes(buf, s, e));
  }
  // reduce-scatter: add the left neighbour's partial sum, pass the result on
  for (let t = 0; t < R - 1; t++) {
    for (let b = 0; b < nb; b++) {
      const c = mod(r - t - 1, R);
      const [s, e] = chunk(b, c);
      const { payload } = await link.expect(ctx(`reduce-scatter bucket ${b}`), Kind.ReduceScatter, step, b, t, c, (e - s) * 4);
      if (t === 0 && b === 0) onFirstFrame();
      if (t < R - 2) {
        const sum = link.kernels.reduceInto(buf, s, payload, 1);
        link.sendData(Kind.ReduceScatter, step, b, t + 1, c, floatBytes(buf, s, e), sum);
      } else {
        // this rank now owns the full sum of chunk c (= r + 1): average it and start the all-gather
        const sum = link.kernels.reduceInto(buf, s, payload, R);
        const out = staging.slot(b, e - s);
        out.set(buf.subarray(s, e));
        link.sendData(Kind.AllGather, step, b, 0, c, floatBytes(out, 0, e - s), sum);
      }
    }
  }
  // all-gather: take the finished chunk, forward the very same bytes
  for (let t = 0; t < R - 1; t++) {
    for (let b = 0; b < nb; b++) {
      const c = mod(r - t, R);
      const [s, e] = chunk(b, c);
      const { payload, checksum } = await link.expect(ctx(`all-gather bucket ${b}`), Kind.AllGather, step, b, t, c, (e - s) * 4);
      buf.set(link.kernels.input(payload), s);
      if (t < R - 2) link.sendData(Kind.AllGather, step, b, t + 1, c, payload, checksum);
    }
  }
}

/** Rank 0's buffer to every rank, bucket by bucket, forwarded round the ring. */
export async function ringBroadcast(link: ScheduleLink, buf: Float32Array, step: number): Promise<void> {
  const n = buf.length;
  const nb = Math.max(1, Math.ceil(n / link.bucketElems));
  for (let b = 0; b < nb; b++) {
    const s = b * link.bucketElems;
    const e = Math.min(n, s + link.bucketElems);
    if (link.rank === 0) {
      link.sendData(Kind.Broadcast, step, b, 0, 0, Buffer.from(floatBytes(buf, s, e)));
    } else {
      const { payload, checksum } = await link.expect({ what: `broadcast bucket ${b}`, step }, Kind.Broadcast, step, b, 0, 0, (e - s) * 4);
      buf.set(link.kernels.input(payload), s);
      if (link.right !== 0) link.sendData(Kind.Broadcast, step, b, 0, 0, payload, checksum);
    }
  }
}

/** Every rank's checksum on every rank: R - 1 passes of what each rank knows so far. */
export async function ringGatherChecksums(link: ScheduleLink, checksum: number, step: number): Promise<Float64Array> {
  const R = link.worldSize;
  const known = new Float64Array(R).fill(Number.NaN);
  const have = new Uint8Array(R);
  known[link.rank] = checksum;
  have[link.rank] = 1;
  for (let t = 0; t < R - 1; t++) {
    const out = Buffer.alloc(R * 9);
    for (let i = 0; i < R; i++) {
      out.writeDoubleLE(known[i] as number, i * 8);
      out.writeUInt8(have[i] as number, R * 8 + i);
    }
    link.sendData(Kind.Checksum, step, 0, t, 0, out);
    const { payload: got } = await link.expect({ what: 'checkConsistent', step }, Kind.Checksum, step, 0, t, 0, R * 9);
    for (let i = 0; i < R; i++) {
      if (!have[i] && got.readUInt8(R * 8 + i)) {
        known[i] = got.readDoubleLE(i * 8);
        have[i] = 1;
      }
    }
  }
  return known;
}
