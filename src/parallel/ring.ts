// Ring all-reduce of gradients over ZeroMQ (Patarasuk & Yuan 2009; the scheme Horovod and NCCL use):
// reduce-scatter, then all-gather, so each of the R ranks sends 2(R-1)/R of the buffer's bytes whatever R is.
//
// Topology: every rank binds one PULL socket (its endpoint; receives from its left neighbour) and connects one PUSH
// socket to its right neighbour. Frames from one neighbour arrive in order, so the schedule is a fixed sequence that
// both sides know: each received header must name exactly the collective, bucket, ring step and chunk expected next.
//
// Pipelining: the buffer is cut into buckets; every bucket's first chunk goes out at once and each received chunk
// immediately triggers the next send of its bucket, so ZeroMQ's I/O thread sends one bucket while this thread adds
// the next. Sends are zero-copy from the caller's buffer where the schedule guarantees the bytes are not changed
// before the right neighbour consumed them (every reduce-scatter send is consumed before the all-gather overwrites
// that chunk here); all-gather frames are forwarded as received. The chunk this rank finishes is sent from a staging
// buffer that is reused from one all-reduce to the next: the caller may change its buffer as soon as allReduceMean
// returns, but the staging area is only rewritten after the frame that proves the right neighbour finished the
// previous collective has arrived (see stagingFor). Checksums and sums run in WebAssembly SIMD (kernels.ts).
//
// Failure: JSON-free heartbeats flow to the right every heartbeatMs, so a neighbour that is alive but waiting is
// told apart from one that died or stalled. A receive that hears nothing for timeoutMs fails naming the peer; the
// rank that detects a failure sends an abort frame around the ring so every rank stops with the same diagnosis.
import * as zmq from 'zeromq';

import { compressedAllReduce, type RingIo } from './compressed-ring.js';
import { codecFor, parseCompression, type Compression, type HalfCodec } from './compression.js';
import { peerKey, registerZapDomain, type CurveKeys } from './curve.js';
import { Kernels } from './kernels.js';
import type { Rendezvous, RendezvousResult } from './types.js';
import {
  decodeFrame,
  encodeHeader,
  floatBytes,
  FrameError,
  hashGroupId,
  HEADER_BYTES,
  Kind,
  KIND_NAMES,
  payloadChecksum,
  type Header,
} from './wire.js';

export interface RingOptions {
  /** Interface the receiving socket binds; only this one (default 127.0.0.1). */
  readonly bindHost?: string;
  /** Port to bind; 0 or undefined picks a free one. */
  readonly port?: number;
  /** Host written into the endpoint announced to the rendezvous (default bindHost). */
  readonly advertiseHost?: string;
  /** A receive that hears nothing from its peer for this long fails (default 60 s). */
  readonly timeoutMs?: number;
  /** Gradient bucket size in bytes (default 1 MiB); every rank must use the same. */
  readonly bucketBytes?: number;
  /** Interval of the liveness heartbeats (default min(1 s, timeoutMs / 4)). */
  readonly heartbeatMs?: number;
  /** CURVE keys; when set, all traffic is encrypted and only the group's keys are admitted. */
  readonly curve?: CurveKeys;
  /** Gradients on the wire as 16-bit floats, sums in float32 (compression.ts; default none); every rank must agree. */
  readonly compression?: Compression;
  /**
   * Told about every message dropped as not from a ring peer (garbage, another group, an older generation, a rank
   * that is not the left neighbour); default: a line on stderr, at most one a second.
   */
  readonly onForeign?: (detail: string) => void;
}

export type RingErrorCode = 'timeout' | 'peer-lost' | 'bad-frame' | 'inconsistent' | 'aborted' | 'closed' | 'config' | 'auth';

/** A failure of the group, naming this rank, the peer at fault (where known) and the training step. */
export class RingError extends Error {
  constructor(
    message: string,
    readonly code: RingErrorCode,
    readonly rank: number,
    readonly step?: number,
    readonly peerRank?: number,
    readonly peerEndpoint?: string,
  ) {
    super(message);
    this.name = 'RingError';
  }
}

/** Counters of a reducer's exchanges so far (a reader takes differences over the window it measures). */
export interface ExchangeStats {
  readonly allReduceCalls: number;
  readonly allReduceSeconds: number;
  readonly allReduceWaitSeconds: number;
  readonly allReduceFloats: number;
  /** Payload bytes of the all-reduce frames this rank handed to its socket, counted as they are sent. */
  readonly bytesSent: number;
}

/** Frame problems that say the message is not from a ring peer of this generation, so it is dropped, not fatal. */
const FOREIGN_REASONS = new Set(['malformed', 'group', 'stale']);

export const DEFAULT_TIMEOUT_MS = 60_000;
export const DEFAULT_BUCKET_BYTES = 1 << 20;

const WILDCARD_HOSTS = new Set(['*', '0.0.0.0', '::', '[::]', '']);

/** [start, end) of chunk c when n elements are split into r near-equal chunks (the first n % r get one more). */
export function chunkRange(n: number, r: number, c: number): [number, number] {
  const base = Math.floor(n / r);
  const rem = n % r;
  const start = c * base + Math.min(c, rem);
  return [start, start + base + (c < rem ? 1 : 0)];
}

function mod(a: number, n: number): number {
  return ((a % n) + n) % n;
}

interface WaitContext {
  readonly what: string;
  readonly step: number;
}

type WaitResult = { kind: 'msg'; frames: Buffer[] } | { kind: 'err'; error: unknown } | { kind: 'timeout' } | { kind: 'wake' };

/**
 * Binds, joins the rendezvous, connects to the right neighbour and exchanges a hello with both neighbours.
 * Resolves once the ring is closed end to end; rejects with a RingError naming the peer otherwise.
 */
export async function joinRing(rendezvous: Rendezvous, opts: RingOptions = {}): Promise<RingReducer> {
  const bindHost = opts.bindHost ?? '127.0.0.1';
  if (WILDCARD_HOSTS.has(bindHost)) {
    throw new Error(
      `refusing to bind the all-reduce socket to every interface (${JSON.stringify(bindHost)}): ` +
        'give the address of the one interface the replicas talk over (default 127.0.0.1)',
    );
  }
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const bucketBytes = opts.bucketBytes ?? DEFAULT_BUCKET_BYTES;
  if (!(timeoutMs > 0)) throw new Error(`timeoutMs must be positive, got ${timeoutMs}`);
  if (!Number.isInteger(bucketBytes) || bucketBytes < 4 || bucketBytes % 4 !== 0) {
    throw new Error(`bucketBytes must be a positive multiple of 4, got ${bucketBytes}`);
  }
  const compression = parseCompression(opts.compression, 'compression');
  const heartbeatMs = opts.heartbeatMs ?? Math.max(10, Math.min(1000, timeoutMs / 4));
  const maxPayload = bucketBytes + 65536;

  const pull = new zmq.Pull({
    linger: 0,
    receiveHighWaterMark: 0,
    maxMessageSize: maxPayload + HEADER_BYTES,
    heartbeatInterval: heartbeatMs,
    heartbeatTimeout: timeoutMs,
  });
  let zap: { domain: string; release: () => void } | undefined;
  const authFailures: string[] = [];
  try {
    if (opts.curve) {
      zap = await registerZapDomain(opts.curve.peerPublicKeys, (address, key) => {
        authFailures.push(`${address} (key ${key})`);
      });
      pull.curveServer = true;
      pull.curveSecretKey = opts.curve.secretKey;
      pull.curvePublicKey = opts.curve.publicKey;
      pull.zapDomain = zap.domain;
    }
    const port = opts.port && opts.port > 0 ? String(opts.port) : '*';
    const host = bindHost.includes(':') && !bindHost.startsWith('[') ? `[${bindHost}]` : bindHost;
    try {
      await pull.bind(`tcp://${host}:${port}`);
    } catch (err) {
      throw new Error(`cannot bind the all-reduce socket to tcp://${host}:${port}: ${(err as Error).message}`);
    }
    const bound = pull.lastEndpoint ?? '';
    const boundPort = bound.slice(bound.lastIndexOf(':') + 1);
    const adv = opts.advertiseHost ?? bindHost;
    const endpoint = `tcp://${adv.includes(':') && !adv.startsWith('[') ? `[${adv}]` : adv}:${boundPort}`;

    const group = await rendezvous.join(endpoint);
    checkGroup(group, opts.curve);
    const reducer = new RingReducer(group, pull, {
      timeoutMs,
      bucketBytes,
      heartbeatMs,
      maxPayload,
      compression,
      curve: opts.curve,
      zap,
      authFailures,
      endpoint,
      onForeign: opts.onForeign,
    });
    await reducer.start();
    return reducer;
  } catch (err) {
    pull.close();
    zap?.release();
    throw err;
  }
}

function checkGroup(g: RendezvousResult, curve: CurveKeys | undefined): void {
  if (!Number.isInteger(g.worldSize) || g.worldSize < 1 || g.worldSize > 65535) {
    throw new Error(`rendezvous gave world size ${g.worldSize}; need an integer in 1..65535`);
  }
  if (!Number.isInteger(g.rank) || g.rank < 0 || g.rank >= g.worldSize) {
    throw new Error(`rendezvous gave rank ${g.rank} for world size ${g.worldSize}`);
  }
  if (g.peers.length !== g.worldSize) {
    throw new Error(`rendezvous gave ${g.peers.length} peer endpoints for world size ${g.worldSize}`);
  }
  if (!Number.isInteger(g.generation) || g.generation < 0 || g.generation > 0xffffffff) {
    throw new Error(`rendezvous gave generation ${g.generation}; need a uint32`);
  }
  if (curve && !curve.cluster && curve.peerPublicKeys.length !== g.worldSize) {
    throw new Error(`CURVE configuration lists ${curve.peerPublicKeys.length} public keys for a group of ${g.worldSize}`);
  }
}

interface Internals {
  readonly timeoutMs: number;
  readonly bucketBytes: number;
  readonly heartbeatMs: number;
  readonly maxPayload: number;
  readonly compression: Compression;
  readonly curve: CurveKeys | undefined;
  readonly zap: { domain: string; release: () => void } | undefined;
  readonly authFailures: string[];
  readonly endpoint: string;
  readonly onForeign: ((detail: string) => void) | undefined;
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

  private readonly left: number;
  private readonly right: number;
  private readonly groupHash: number;
  private readonly bucketElems: number;
  private push: zmq.Push | undefined;
  private op = 0;
  private readonly counters = { allReduceCalls: 0, allReduceSeconds: 0, allReduceWaitSeconds: 0, allReduceFloats: 0, bytesSent: 0 };
  private readonly codec: HalfCodec | undefined;
  /** When the current allReduceMean started (for allReduceWaitSeconds). */
  private allReduceStart = 0;
  private lastStep = -1;
  private busy: string | undefined;
  private failure: RingError | undefined;
  private closed = false;
  private closing = false;
  private pending: Promise<Buffer[]> | undefined;
  private waker: (() => void) | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private sendChain: Promise<void> = Promise.resolve();
  private queuedSends = 0;
  /** Frames waiting in sendChain for the socket (not yet handed to ZeroMQ). */
  private chained = 0;
  private leftSuspectAt: number | undefined;
  private rightLostAt: number | undefined;
  private failedHandshakes = 0;
  private foreignMessages = 0;
  private lastForeignReport = 0;
  private readonly graceMs: number;
  private readonly kernels = new Kernels();
  /** Outgoing copies of the chunks this rank finishes, one slot per bucket (see stagingFor). */
  private staging = new Float32Array(0);

  /** @internal use joinRing */
  constructor(
    group: RendezvousResult,
    private readonly pull: zmq.Pull,
    private readonly cfg: Internals,
  ) {
    this.rank = group.rank;
    this.worldSize = group.worldSize;
    this.generation = group.generation;
    this.groupId = group.groupId;
    this.peers = group.peers;
    this.endpoint = cfg.endpoint;
    this.left = mod(this.rank - 1, this.worldSize);
    this.right = mod(this.rank + 1, this.worldSize);
    this.groupHash = hashGroupId(group.groupId);
    this.bucketElems = cfg.bucketBytes / 4;
    this.codec = codecFor(cfg.compression);
    this.graceMs = Math.min(cfg.timeoutMs, Math.max(3 * cfg.heartbeatMs, 500));
  }

  /** Bytes this rank sends per all-reduce of n floats (excluding headers): 2(R-1)/R of the buffer. */
  static bytesSentPerAllReduce(n: number, worldSize: number, bytesPerElement = 4): number {
    return worldSize === 1 ? 0 : (2 * (worldSize - 1) * n * bytesPerElement) / worldSize;
  }

  /** How gradients travel (compression.ts). */
  get compression(): Compression {
    return this.cfg.compression;
  }

  /** @internal */
  async start(): Promise<void> {
    if (this.worldSize === 1) return;
    const push = new zmq.Push({
      linger: 0,
      sendHighWaterMark: 0,
      heartbeatInterval: this.cfg.heartbeatMs,
      heartbeatTimeout: this.cfg.timeoutMs,
    });
    this.push = push;
    if (this.cfg.curve) {
      push.curveServerKey = peerKey(this.cfg.curve, this.right) ?? null;
      push.curvePublicKey = this.cfg.curve.publicKey;
      push.curveSecretKey = this.cfg.curve.secretKey;
    }
    this.watchEvents(push);
    const target = this.peers[this.right] ?? '';
    try {
      push.connect(target);
    } catch (err) {
      throw this.fail(
        new RingError(`rank ${this.rank}: cannot connect to rank ${this.right} at ${target}: ${(err as Error).message}`, 'config', this.rank),
      );
    }
    const hello = Buffer.from(
      JSON.stringify({
        rank: this.rank,
        worldSize: this.worldSize,
        bucketBytes: this.cfg.bucketBytes,
        compression: this.cfg.compression,
        endpoint: this.endpoint,
      }),
    );
    this.send(this.header(Kind.Hello, 0, 0, 0, 0, hello), hello);
    this.heartbeat = setInterval(() => this.sendHeartbeat(), this.cfg.heartbeatMs);
    this.heartbeat.unref();
    const { payload } = await this.expect({ what: 'join (hello)', step: 0 }, Kind.Hello, 0, 0, 0, 0, -1);
    let info: { rank?: unknown; worldSize?: unknown; bucketBytes?: unknown; compression?: unknown };
    try {
      info = JSON.parse(payload.toString('utf8')) as typeof info;
    } catch {
      throw this.fail(this.badFrame('hello payload is not JSON', { what: 'join', step: 0 }));
    }
    if (info.worldSize !== this.worldSize || info.rank !== this.left) {
      throw this.fail(
        this.badFrame(`hello says rank ${String(info.rank)} of ${String(info.worldSize)}, expected rank ${this.left} of ${this.worldSize}`, {
          what: 'join',
          step: 0,
        }),
      );
    }
    if (info.bucketBytes !== this.cfg.bucketBytes) {
      throw this.fail(
        new RingError(
          `rank ${this.rank}: rank ${this.left} uses bucketBytes ${String(info.bucketBytes)}, this rank ${this.cfg.bucketBytes}; every rank must use the same`,
          'config',
          this.rank,
          0,
          this.left,
          this.peers[this.left],
        ),
      );
    }
    const leftCompression = info.compression ?? 'none'; // a peer from before compression existed sends float32
    if (leftCompression !== this.cfg.compression) {
      throw this.fail(
        new RingError(
          `rank ${this.rank}: rank ${this.left} sends gradients as ${String(leftCompression)}, this rank as ${this.cfg.compression}; ` +
            'every rank must use the same parallel.compression',
          'config',
          this.rank,
          0,
          this.left,
          this.peers[this.left],
        ),
      );
    }
  }

  async allReduceMean(buf: Float32Array, step: number): Promise<void> {
    this.begin('allReduceMean', step);
    const t0 = performance.now();
    this.allReduceStart = t0;
    try {
      if (this.worldSize > 1) await this.ringAllReduce(buf, step);
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
    return { ...this.counters };
  }

  /** Messages dropped so far as not coming from a ring peer. */
  get foreignDropped(): number {
    return this.foreignMessages;
  }

  async broadcast(buf: Float32Array, step: number): Promise<void> {
    this.begin('broadcast', step);
    try {
      if (this.worldSize > 1) await this.ringBroadcast(buf, step);
    } finally {
      this.busy = undefined;
    }
  }

  async checkConsistent(checksum: number, step: number): Promise<void> {
    this.begin('checkConsistent', step);
    let all: Float64Array;
    try {
      all = this.worldSize > 1 ? await this.ringGatherChecksums(checksum, step) : Float64Array.of(checksum);
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
    if (this.failure || this.closed) return;
    this.fail(new RingError(`rank ${this.rank} (${this.endpoint}) stopped: ${reason}`, 'aborted', this.rank, this.lastStep, this.rank, this.endpoint));
  }

  /**
   * Leaves the group without losing frames: ZeroMQ may still hold this rank's last frames when the collective
   * returns, so the sockets may only close once the right neighbour has them. Goodbyes go round the ring: every rank
   * sends bye 1 to its right; on bye k from its left it sends bye k + 1; bye R from the left proves that every rank
   * has received everything from its left (bye k certifies the k ranks before this one). Bounded by timeoutMs.
   */
  async close(): Promise<void> {
    if (this.closed || this.closing) return;
    this.closing = true;
    if (!this.failure && this.push) {
      const R = this.worldSize;
      const deadline = Date.now() + this.cfg.timeoutMs;
      const ctx = { what: 'close', step: this.lastStep };
      const bye = (k: number): void => this.send(this.header(Kind.Bye, this.lastStep, 0, k, 0, Buffer.alloc(0)), Buffer.alloc(0));
      try {
        bye(1);
        for (;;) {
          const { header } = await this.nextFrame(ctx, deadline);
          if (header.kind !== Kind.Bye) break; // an abort or a peer still in a collective: nothing to wait for
          if (header.ringStep >= R) break;
          bye(header.ringStep + 1);
        }
      } catch {
        // the neighbour is gone: nothing more to wait for
      }
      // the last goodbye is tiny; give it a moment to leave
      await Promise.race([this.sendChain, new Promise((r) => setTimeout(r, this.graceMs))]);
      // a neighbour that never said goodbye failed the wait, which already shut the sockets
      if (!this.push.closed) this.push.linger = Math.min(this.cfg.timeoutMs, 2000);
    }
    this.shutdown();
  }

  // ---- collectives --------------------------------------------------------------------------------------------

  private async ringAllReduce(buf: Float32Array, step: number): Promise<void> {
    if (this.codec) return compressedAllReduce(this.ringIo(step), this.codec, buf);
    const R = this.worldSize;
    const r = this.rank;
    const n = buf.length;
    const nb = Math.max(1, Math.ceil(n / this.bucketElems));
    const bucket = (b: number): [number, number] => [b * this.bucketElems, Math.min(n, (b + 1) * this.bucketElems)];
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
      this.sendData(Kind.ReduceScatter, step, b, 0, c, floatBytes(buf, s, e));
    }
    // reduce-scatter: add the left neighbour's partial sum, pass the result on
    for (let t = 0; t < R - 1; t++) {
      for (let b = 0; b < nb; b++) {
        const c = mod(r - t - 1, R);
        const [s, e] = chunk(b, c);
        const { payload } = await this.expect(ctx(`reduce-scatter bucket ${b}`), Kind.ReduceScatter, step, b, t, c, (e - s) * 4);
        if (t === 0 && b === 0) this.counters.allReduceWaitSeconds += (performance.now() - this.allReduceStart) / 1000;
        if (t < R - 2) {
          const sum = this.kernels.reduceInto(buf, s, payload, 1);
          this.sendData(Kind.ReduceScatter, step, b, t + 1, c, floatBytes(buf, s, e), sum);
        } else {
          // this rank now owns the full sum of chunk c (= r + 1): average it and start the all-gather
          const sum = this.kernels.reduceInto(buf, s, payload, R);
          const out = this.stagingFor(b, e - s);
          out.set(buf.subarray(s, e));
          this.sendData(Kind.AllGather, step, b, 0, c, floatBytes(out, 0, e - s), sum);
        }
      }
    }
    // all-gather: take the finished chunk, forward the very same bytes
    for (let t = 0; t < R - 1; t++) {
      for (let b = 0; b < nb; b++) {
        const c = mod(r - t, R);
        const [s, e] = chunk(b, c);
        const { payload, checksum } = await this.expect(ctx(`all-gather bucket ${b}`), Kind.AllGather, step, b, t, c, (e - s) * 4);
        buf.set(this.kernels.input(payload), s);
        if (t < R - 2) this.sendData(Kind.AllGather, step, b, t + 1, c, payload, checksum);
      }
    }
  }

  /** The transport as the compressed schedule (compressed-ring.ts) sees it, for the all-reduce at `step`. */
  private ringIo(step: number): RingIo {
    const bucket = (n: number, b: number): [number, number] => [b * this.bucketElems, Math.min(n, (b + 1) * this.bucketElems)];
    return {
      rank: this.rank,
      worldSize: this.worldSize,
      buckets: (n) => Math.max(1, Math.ceil(n / this.bucketElems)),
      chunk: (n, b, c) => {
        const [s, e] = bucket(n, b);
        const [cs, ce] = chunkRange(e - s, this.worldSize, c);
        return [s + cs, s + ce];
      },
      send: (kind, b, ringStep, c, payload, checksum) => this.sendData(kind, step, b, ringStep, c, payload, checksum),
      expect: (what, kind, b, ringStep, c, bytes) => this.expect({ what: `allReduceMean ${what}`, step }, kind, step, b, ringStep, c, bytes),
      firstFrame: () => {
        this.counters.allReduceWaitSeconds += (performance.now() - this.allReduceStart) / 1000;
      },
      overflow: (count, b) =>
        this.fail(
          new RingError(
            `rank ${this.rank}: ${count} gradient values of bucket ${b} at step ${step} are beyond ${this.cfg.compression}'s range ` +
              `(|g| > ${this.codec?.maxValue ?? 0}); train with parallel.compression: bf16 (float32's range) or none`,
            'config',
            this.rank,
            step,
          ),
        ),
    };
  }

  private async ringBroadcast(buf: Float32Array, step: number): Promise<void> {
    const n = buf.length;
    const nb = Math.max(1, Math.ceil(n / this.bucketElems));
    for (let b = 0; b < nb; b++) {
      const s = b * this.bucketElems;
      const e = Math.min(n, s + this.bucketElems);
      if (this.rank === 0) {
        this.sendData(Kind.Broadcast, step, b, 0, 0, Buffer.from(floatBytes(buf, s, e)));
      } else {
        const { payload, checksum } = await this.expect({ what: `broadcast bucket ${b}`, step }, Kind.Broadcast, step, b, 0, 0, (e - s) * 4);
        buf.set(this.kernels.input(payload), s);
        if (this.right !== 0) this.sendData(Kind.Broadcast, step, b, 0, 0, payload, checksum);
      }
    }
  }

  private async ringGatherChecksums(checksum: number, step: number): Promise<Float64Array> {
    const R = this.worldSize;
    const known = new Float64Array(R).fill(Number.NaN);
    const have = new Uint8Array(R);
    known[this.rank] = checksum;
    have[this.rank] = 1;
    for (let t = 0; t < R - 1; t++) {
      const out = Buffer.alloc(R * 9);
      for (let i = 0; i < R; i++) {
        out.writeDoubleLE(known[i] as number, i * 8);
        out.writeUInt8(have[i] as number, R * 8 + i);
      }
      this.sendData(Kind.Checksum, step, 0, t, 0, out);
      const { payload: got } = await this.expect({ what: 'checkConsistent', step }, Kind.Checksum, step, 0, t, 0, R * 9);
      for (let i = 0; i < R; i++) {
        if (!have[i] && got.readUInt8(R * 8 + i)) {
          known[i] = got.readDoubleLE(i * 8);
          have[i] = 1;
        }
      }
    }
    return known;
  }

  // ---- sending ------------------------------------------------------------------------------------------------

  /**
   * Slot for bucket b's outgoing all-gather chunk. Rewriting it is safe: this is called after this rank received
   * the last reduce-scatter frame of bucket b in the current collective, and that frame carries data the right
   * neighbour sent in this collective, which it started only after finishing the previous one, that is after it
   * received every frame this rank sent from the staging area before.
   */
  private stagingFor(bucket: number, elems: number): Float32Array {
    const slot = Math.ceil(this.bucketElems / this.worldSize);
    if (this.staging.length < (bucket + 1) * slot) {
      // frames still queued keep the old array alive (ZeroMQ holds a reference until they are sent)
      this.staging = new Float32Array(Math.max((bucket + 1) * slot, 2 * this.staging.length));
    }
    return this.staging.subarray(bucket * slot, bucket * slot + elems);
  }

  private header(kind: Kind, step: number, bucket: number, ringStep: number, chunk: number, payload: Buffer, checksum?: number): Buffer {
    const h: Header = {
      kind,
      groupHash: this.groupHash,
      generation: this.generation,
      sender: this.rank,
      step,
      op: kind === Kind.Hello || kind === Kind.Heartbeat || kind === Kind.Abort || kind === Kind.Bye ? 0 : this.op,
      bucket,
      ringStep,
      chunk,
      length: payload.length,
      checksum: checksum ?? payloadChecksum(payload, this.kernels),
    };
    return encodeHeader(h);
  }

  private sendData(kind: Kind, step: number, bucket: number, ringStep: number, chunk: number, payload: Buffer, checksum?: number): void {
    if (kind === Kind.ReduceScatter || kind === Kind.AllGather) this.counters.bytesSent += payload.length;
    this.send(this.header(kind, step, bucket, ringStep, chunk, payload, checksum), payload);
  }

  /**
   * Sends a frame pair in order. ZeroMQ allows one send in flight per socket: with nothing waiting, the frame is
   * handed over now (with an unlimited high-water mark it is queued at once, so the I/O thread starts on it while this
   * thread checksums the next one); while the socket is busy, frames wait in a chain.
   */
  private send(header: Buffer, payload: Buffer): void {
    const push = this.push;
    if (!push) return;
    this.queuedSends++;
    let sent: Promise<void> | undefined;
    if (this.chained === 0 && !push.closed) {
      try {
        sent = push.send([header, payload]);
      } catch (err) {
        if ((err as { code?: string }).code !== 'EBUSY') sent = Promise.reject(err);
      }
    }
    if (!sent) {
      this.chained++;
      sent = this.sendChain.then(() => {
        this.chained--;
        return push.closed ? undefined : push.send([header, payload]);
      });
    }
    this.sendChain = sent
      .catch((err: unknown) => {
        if (!this.closed && !this.failure) {
          this.fail(
            new RingError(
              `rank ${this.rank}: sending to rank ${this.right} (${this.peers[this.right]}) failed: ${(err as Error).message}`,
              'peer-lost',
              this.rank,
              this.lastStep,
              this.right,
              this.peers[this.right],
            ),
          );
        }
      })
      .finally(() => {
        this.queuedSends--;
      });
  }

  private sendHeartbeat(): void {
    if (this.failure || this.closed || this.queuedSends > 0) return;
    const empty = Buffer.alloc(0);
    this.send(this.header(Kind.Heartbeat, this.lastStep, 0, 0, 0, empty), empty);
  }

  // ---- receiving ----------------------------------------------------------------------------------------------

  private peerName(rank: number): string {
    return `rank ${rank} (${this.peers[rank] ?? '?'})`;
  }

  private badFrame(detail: string, ctx: WaitContext): RingError {
    return new RingError(
      `rank ${this.rank}: rejected a frame from ${this.peerName(this.left)} during ${ctx.what} at step ${ctx.step}: ${detail}; nothing from it was applied`,
      'bad-frame',
      this.rank,
      ctx.step,
      this.left,
      this.peers[this.left],
    );
  }

  /**
   * Waits for the next data frame and checks it against the schedule; heartbeats are skipped, an abort frame stops
   * this rank with the originator's diagnosis. Returns the payload (and its verified checksum, for forwarding) only
   * if every field is what the schedule says.
   */
  private async expect(
    ctx: WaitContext,
    kind: Kind,
    step: number,
    bucket: number,
    ringStep: number,
    chunk: number,
    bytes: number,
  ): Promise<{ payload: Buffer; checksum: number }> {
    const { header, payload } = await this.nextFrame(ctx);
    if (header.kind === Kind.Abort) throw this.fail(this.abortFrom(header, payload, ctx));
    if (header.kind === Kind.Bye) {
      throw this.fail(
        new RingError(
          `rank ${this.rank}: ${this.peerName(header.sender)} left the group (closed its reducer) while this rank was in ${ctx.what} at step ${ctx.step}`,
          'peer-lost',
          this.rank,
          ctx.step,
          header.sender,
          this.peers[header.sender],
        ),
      );
    }
    const want = { kind, op: kind === Kind.Hello ? 0 : this.op, step, bucket, ringStep, chunk };
    if (header.sender !== this.left) {
      throw this.fail(this.badFrame(`sender is rank ${header.sender}, but only rank ${this.left} sends to this rank`, ctx));
    }
    const h = header;
    if (h.kind !== kind || h.op !== want.op || h.step !== step || h.bucket !== bucket || h.ringStep !== ringStep || h.chunk !== chunk) {
      const got = { kind: h.kind, op: h.op, step: h.step, bucket: h.bucket, ringStep: h.ringStep, chunk: h.chunk };
      const show = (x: typeof want): string =>
        `${KIND_NAMES[x.kind] ?? x.kind} (collective #${x.op}, step ${x.step}, bucket ${x.bucket}, ring step ${x.ringStep}, chunk ${x.chunk})`;
      throw this.fail(this.badFrame(`expected ${show(want)}, got ${show(got)}`, ctx));
    }
    if (bytes >= 0 && payload.length !== bytes) {
      throw this.fail(this.badFrame(`payload is ${payload.length} bytes, expected ${bytes}`, ctx));
    }
    return { payload, checksum: header.checksum };
  }

  /** Next frame from the left neighbour that is not a heartbeat, checked for everything but its schedule slot. */
  private async nextFrame(ctx: WaitContext, deadline?: number): Promise<{ header: Header; payload: Buffer }> {
    const since = Date.now();
    for (;;) {
      const frames = await this.nextRaw(ctx, deadline, since);
      let decoded: { header: Header; payload: Buffer };
      try {
        decoded = decodeFrame(frames, { groupHash: this.groupHash, generation: this.generation }, this.kernels);
      } catch (err) {
        if (!(err instanceof FrameError)) throw err;
        // Only the left neighbour's own bad frames fail the group. Anything that does not even claim to be a frame
        // of this group's current generation is not from a ring peer (a stranger's garbage: ZeroMQ passes a
        // non-ZMTP-3 peer's bytes on as ZMTP/1.0 messages; a replica of an older generation): dropped, logged.
        if (FOREIGN_REASONS.has(err.reason)) {
          this.dropForeign(err.message);
          continue;
        }
        throw this.fail(this.badFrame(err.message, ctx));
      }
      if (decoded.header.sender !== this.left) {
        this.dropForeign(`a ${KIND_NAMES[decoded.header.kind] ?? 'frame'} claiming to be from rank ${decoded.header.sender}, not the left neighbour ${this.left}`);
        continue;
      }
      this.leftSuspectAt = undefined; // the left neighbour is alive: whatever disconnected, it was not
      if (decoded.header.kind !== Kind.Heartbeat) return decoded;
    }
  }

  private dropForeign(detail: string): void {
    this.foreignMessages++;
    const now = Date.now();
    if (now - this.lastForeignReport < 1000) return;
    this.lastForeignReport = now;
    const line = `rank ${this.rank}: dropped a message that is not from a ring peer (${detail}); ${this.foreignMessages} so far. The group goes on.`;
    if (this.cfg.onForeign) this.cfg.onForeign(line);
    else process.stderr.write(`${line}\n`);
  }

  private abortFrom(header: Header, payload: Buffer, ctx: WaitContext): RingError {
    let info: { origin?: number; message?: string; code?: RingErrorCode; peerRank?: number; peerEndpoint?: string; step?: number } = {};
    try {
      info = JSON.parse(payload.toString('utf8')) as typeof info;
    } catch {
      // a malformed abort still aborts
    }
    const origin = typeof info.origin === 'number' ? info.origin : header.sender;
    const err = new RingError(
      `rank ${this.rank}: group aborted during ${ctx.what} at step ${ctx.step} because ${info.message ?? `rank ${origin} failed`}`,
      info.code ?? 'aborted',
      this.rank,
      ctx.step,
      info.peerRank,
      info.peerEndpoint,
    );
    (err as { abortOrigin?: number }).abortOrigin = origin;
    return err;
  }

  private receiveOnce(): Promise<Buffer[]> {
    const p = this.pull.receive();
    p.catch(() => undefined);
    return p;
  }

  /** Next raw message from the left neighbour, failing on timeout, on a lost neighbour or when the group failed. */
  /**
   * `since`: when the caller began waiting for this frame. Time and suspicion count from there, so neither messages
   * dropped on the way (a stranger's flood) nor a long computation before the wait (frames queued meanwhile) moves them.
   */
  private async nextRaw(ctx: WaitContext, deadline?: number, since = Date.now()): Promise<Buffer[]> {
    const started = since;
    for (;;) {
      if (this.failure) throw this.failure;
      this.pending ??= this.receiveOnce();
      const pending = this.pending;
      const now = Date.now();
      const limits: [number, RingError | 'timeout'][] = [[Math.min(started + this.cfg.timeoutMs, deadline ?? Infinity), 'timeout']];
      if (this.leftSuspectAt !== undefined) limits.push([Math.max(this.leftSuspectAt, started) + this.graceMs, this.lostError(this.left, ctx)]);
      if (this.rightLostAt !== undefined && !this.closing) {
        limits.push([this.rightLostAt + 2 * this.graceMs, this.lostError(this.right, ctx)]);
      }
      limits.sort((a, b) => a[0] - b[0]);
      const [until, reason] = limits[0] as [number, RingError | 'timeout'];
      if (until <= now) throw this.fail(reason === 'timeout' ? this.timeoutError(ctx) : reason);
      const res = await new Promise<WaitResult>((resolve) => {
        const timer = setTimeout(() => resolve({ kind: 'timeout' }), until - now);
        this.waker = () => {
          clearTimeout(timer);
          resolve({ kind: 'wake' });
        };
        pending.then(
          (frames) => {
            clearTimeout(timer);
            resolve({ kind: 'msg', frames });
          },
          (error: unknown) => {
            clearTimeout(timer);
            resolve({ kind: 'err', error });
          },
        );
      });
      this.waker = undefined;
      if (res.kind === 'msg') {
        this.pending = undefined;
        return res.frames;
      }
      if (res.kind === 'err') {
        this.pending = undefined;
        if (this.failure) throw this.failure;
        const e = res.error as Error & { code?: string };
        if (e.code === 'EFSM' || e.code === 'EAGAIN') continue;
        throw this.fail(
          new RingError(`rank ${this.rank}: receiving from ${this.peerName(this.left)} failed: ${e.message}`, 'peer-lost', this.rank, ctx.step, this.left, this.peers[this.left]),
        );
      }
    }
  }

  private timeoutError(ctx: WaitContext): RingError {
    const auth = this.cfg.authFailures.length ? `; CURVE authentication refused ${this.cfg.authFailures.join(', ')}` : '';
    return new RingError(
      `rank ${this.rank}: heard nothing from ${this.peerName(this.left)} for ${this.cfg.timeoutMs} ms during ${ctx.what} at step ${ctx.step}: the peer died or stalled${auth}`,
      'timeout',
      this.rank,
      ctx.step,
      this.left,
      this.peers[this.left],
    );
  }

  private lostError(peer: number, ctx: WaitContext): RingError {
    return new RingError(
      `rank ${this.rank}: lost the connection to ${this.peerName(peer)} during ${ctx.what} at step ${ctx.step}: the peer died or its host is unreachable`,
      'peer-lost',
      this.rank,
      ctx.step,
      peer,
      this.peers[peer],
    );
  }

  // ---- events and failure -------------------------------------------------------------------------------------

  private watchEvents(push: zmq.Push): void {
    const pe = this.pull.events;
    const failedHandshake = (): void => {
      this.failedHandshakes++;
    };
    pe.on('handshake:error:auth', failedHandshake);
    pe.on('handshake:error:protocol', failedHandshake);
    pe.on('handshake:error:other', failedHandshake);
    pe.on('accept', () => {
      // the left neighbour reconnected: back to plain timeouts (frames lost meanwhile fail the schedule check)
      this.leftSuspectAt = undefined;
    });
    pe.on('disconnect', () => {
      if (this.failedHandshakes > 0) {
        this.failedHandshakes--; // a stranger that never got in
        return;
      }
      if (this.closing || this.closed) return;
      // Maybe the left neighbour, maybe a stranger whose bytes got in (ZMTP/1.0): the neighbour's next frame (a
      // heartbeat comes well within the grace period) clears the suspicion, its silence confirms it.
      this.leftSuspectAt ??= Date.now();
      this.waker?.();
    });
    const ev = push.events;
    const clientHandshakeFailed = (e: { error: Error }): void => {
      if (this.closing || this.closed) return;
      this.fail(
        new RingError(
          `rank ${this.rank}: CURVE handshake with ${this.peerName(this.right)} failed (${e.error.message}): ${
            this.cfg.curve?.cluster
              ? 'check that every host uses the same cluster key file (DCIGN_CLUSTER_KEY_FILE, dcign worker --cluster-key)'
              : 'check that every rank uses its own key pair and that the peer key list (DCIGN_CURVE_PEER_KEYS) is in rank order'
          }`,
          'auth',
          this.rank,
          this.lastStep,
          this.right,
          this.peers[this.right],
        ),
      );
    };
    ev.on('handshake:error:auth', clientHandshakeFailed);
    ev.on('handshake:error:protocol', clientHandshakeFailed);
    ev.on('connect', () => {
      this.rightLostAt = undefined;
    });
    ev.on('disconnect', () => {
      if (this.closing || this.closed) return;
      this.rightLostAt ??= Date.now();
      this.waker?.();
    });
  }

  private begin(what: string, step: number): void {
    if (this.failure) throw this.failure;
    if (this.closed || this.closing) throw new RingError(`rank ${this.rank}: ${what} after close()`, 'closed', this.rank, step);
    if (this.busy) {
      throw new RingError(`rank ${this.rank}: ${what} called while ${this.busy} is still running; collectives must be awaited one at a time`, 'config', this.rank, step);
    }
    if (!Number.isFinite(step) || step < 0) throw new RingError(`rank ${this.rank}: ${what} needs a step >= 0, got ${step}`, 'config', this.rank, step);
    this.busy = what;
    this.op++;
    this.lastStep = step;
  }

  /** Marks the group failed, tells the right neighbour (unless it is the origin or gone), closes; returns err. */
  private fail(err: RingError): RingError {
    if (this.failure) return this.failure;
    this.failure = err;
    const origin = (err as { abortOrigin?: number }).abortOrigin ?? this.rank;
    if (this.push && this.right !== origin && this.rightLostAt === undefined) {
      const body = Buffer.from(
        JSON.stringify({ origin, message: err.message, code: err.code, peerRank: err.peerRank, peerEndpoint: err.peerEndpoint, step: err.step }),
      );
      this.send(this.header(Kind.Abort, err.step ?? this.lastStep, 0, 0, 0, body), body);
      this.push.linger = Math.min(1000, this.graceMs);
    }
    this.waker?.();
    const chain = this.sendChain;
    void chain.then(() => this.shutdown());
    setTimeout(() => this.shutdown(), 50).unref();
    return err;
  }

  private shutdown(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.pull.close();
    this.push?.close();
    this.cfg.zap?.release();
  }
}
