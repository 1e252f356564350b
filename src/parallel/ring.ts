// The all-reduce driver: what a trainer calls (allReduceMean, broadcast, checkConsistent, close), one collective at
// a time, over the link to its ring neighbours. Ring all-reduce of gradients over ZeroMQ (Patarasuk & Yuan 2009; the
// scheme Horovod and NCCL use): the schedules are in ring-schedule.ts, the sockets and failure handling in
// ring-link.ts, joining a group in ring-join.ts.
//
// Sends are zero-copy from the caller's buffer where the schedule guarantees the bytes are not changed before the
// right neighbour consumed them (every reduce-scatter send is consumed before the all-gather overwrites that chunk
// here); all-gather frames are forwarded as received. The chunk this rank finishes is sent from a staging buffer that
// is reused from one all-reduce to the next: the caller may change its buffer as soon as allReduceMean returns, but
// the staging area is only rewritten after the frame that proves the right neighbour finished the previous
// collective has arrived (see Staging).
// With parallel.compression the all-reduce runs compressed-ring.ts's schedule instead: 16-bit payloads, float32 sums.
import { compressedAllReduce, type RingIo } from './compressed-ring.js';
import { codecFor, type Compression, type HalfCodec } from './compression.js';
import { RingError } from './ring-error.js';
import type { RingLink } from './ring-link.js';
import { chunkRange, ringAllReduce, ringBroadcast, ringGatherChecksums, Staging } from './ring-schedule.js';

/** Counters of a reducer's exchanges so far (a reader takes differences over the window it measures). */
export interface ExchangeStats {
  readonly allReduceCalls: number;
  readonly allReduceSeconds: number;
  readonly allReduceWaitSeconds: number;
  readonly allReduceFloats: number;
  /** Payload bytes of the all-reduce frames this rank handed to its socket, counted as they are sent. */
  readonly bytesSent: number;
}

// Satisfies src/train's GradientReducer structurally (checked where the replica process hands it to the trainer).
export class RingReducer {
  readonly rank: number;
  readonly worldSize: number;
  readonly generation: number;
  readonly groupId: string;
  readonly peers: readonly string[];
  /** This rank's own endpoint as announced to the rendezvous. */
  readonly endpoint: string;

  private readonly counters = { allReduceCalls: 0, allReduceSeconds: 0, allReduceWaitSeconds: 0, allReduceFloats: 0 };
  private busy: string | undefined;
  private readonly codec: HalfCodec | undefined;
  /** Outgoing copies of the chunks this rank finishes, one slot per bucket. */
  private readonly staging: Staging;

  /** @internal use joinRing */
  constructor(private readonly link: RingLink) {
    this.rank = link.rank;
    this.worldSize = link.worldSize;
    this.generation = link.generation;
    this.groupId = link.groupId;
    this.peers = link.peers;
    this.endpoint = link.endpoint;
    this.staging = new Staging(link.bucketElems, link.worldSize);
    this.codec = codecFor(link.compression);
  }

  /** Bytes this rank sends per all-reduce of n floats (excluding headers): 2(R-1)/R of the buffer. */
  static bytesSentPerAllReduce(n: number, worldSize: number, bytesPerElement = 4): number {
    return worldSize === 1 ? 0 : (2 * (worldSize - 1) * n * bytesPerElement) / worldSize;
  }

  /** How gradients travel (compression.ts). */
  get compression(): Compression {
    return this.link.compression;
  }

  async allReduceMean(buf: Float32Array, step: number): Promise<void> {
    this.begin('allReduceMean', step);
    const t0 = performance.now();
    try {
      const firstFrame = (): void => {
        this.counters.allReduceWaitSeconds += (performance.now() - t0) / 1000;
      };
      if (this.worldSize > 1 && this.codec) await compressedAllReduce(this.ringIo(step, firstFrame), this.codec, buf);
      else if (this.worldSize > 1) await ringAllReduce(this.link, this.staging, buf, step, firstFrame);
      this.counters.allReduceCalls++;
      this.counters.allReduceSeconds += (performance.now() - t0) / 1000;
      this.counters.allReduceFloats += buf.length;
    } finally {
      this.busy = undefined;
    }
  }

  /**
   * Time spent in allReduceMean and what went through it. allReduceSeconds includes waiting for slower peers;
   * allReduceWaitSeconds is the part before the left neighbour's first frame arrived: mostly the time until the
   * neighbour reached the same collective (in training, the difference of the ranks' step times), plus one frame's
   * transit.
   */
  stats(): ExchangeStats {
    return { ...this.counters, bytesSent: this.link.bytesSent };
  }

  /** The link as the compressed schedule (compressed-ring.ts) sees it, for the all-reduce at `step`. */
  private ringIo(step: number, firstFrame: () => void): RingIo {
    const link = this.link;
    const be = link.bucketElems;
    return {
      rank: this.rank,
      worldSize: this.worldSize,
      buckets: (n) => Math.max(1, Math.ceil(n / be)),
      chunk: (n, b, c) => {
        const [s, e] = [b * be, Math.min(n, (b + 1) * be)];
        const [cs, ce] = chunkRange(e - s, this.worldSize, c);
        return [s + cs, s + ce];
      },
      send: (kind, b, ringStep, c, payload, checksum) => link.sendData(kind, step, b, ringStep, c, payload, checksum),
      expect: (what, kind, b, ringStep, c, bytes) => link.expect({ what: `allReduceMean ${what}`, step }, kind, step, b, ringStep, c, bytes),
      firstFrame,
      overflow: (count, b) =>
        link.fail(
          new RingError(
            `rank ${this.rank}: ${count} gradient values of bucket ${b} at step ${step} are beyond ${link.compression}'s range ` +
              `(|g| > ${this.codec?.maxValue ?? 0}); train with parallel.compression: bf16 (float32's range) or none`,
            'config',
            this.rank,
            step,
          ),
        ),
    };
  }

  /** Messages dropped so far as not coming from a ring peer. */
  get foreignDropped(): number {
    return this.link.foreignDropped;
  }

  async broadcast(buf: Float32Array, step: number): Promise<void> {
    this.begin('broadcast', step);
    try {
      if (this.worldSize > 1) await ringBroadcast(this.link, buf, step);
    } finally {
      this.busy = undefined;
    }
  }

  async checkConsistent(checksum: number, step: number): Promise<void> {
    this.begin('checkConsistent', step);
    let all: Float64Array;
    try {
      all = this.worldSize > 1 ? await ringGatherChecksums(this.link, checksum, step) : Float64Array.of(checksum);
    } finally {
      this.busy = undefined;
    }
    const ref = all[0];
    const bad: number[] = [];
    all.forEach((v, i) => {
      if (!Object.is(v, ref)) bad.push(i);
    });
    if (bad.length > 0) {
      const values = Array.from(all, (v, i) => `rank ${i}: ${v}`).join(', ');
      throw new RingError(
        `parameters diverged at step ${step}: ${bad.length > 1 ? `ranks ${bad.join(', ')} differ` : `rank ${bad[0]} differs`} from rank 0 (checksums ${values})`,
        'inconsistent',
        this.rank,
        step,
        bad[0],
        this.peers[bad[0] ?? 0],
      );
    }
  }

  /** Stops this rank at once: a pending collective rejects, and the other ranks get an abort naming this rank. */
  abort(reason: string): void {
    this.link.stop(reason);
  }

  /** Leaves the group without losing frames (the goodbye round in RingLink.leave), bounded by timeoutMs. */
  async close(): Promise<void> {
    await this.link.leave();
  }

  private begin(what: string, step: number): void {
    const failure = this.link.failed;
    if (failure) throw failure;
    if (this.link.closedOrClosing) throw new RingError(`rank ${this.rank}: ${what} after close()`, 'closed', this.rank, step);
    if (this.busy) {
      throw new RingError(`rank ${this.rank}: ${what} called while ${this.busy} is still running; collectives must be awaited one at a time`, 'config', this.rank, step);
    }
    if (!Number.isFinite(step) || step < 0) throw new RingError(`rank ${this.rank}: ${what} needs a step >= 0, got ${step}`, 'config', this.rank, step);
    this.busy = what;
    this.link.nextCollective(step);
  }
}
