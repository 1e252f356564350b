// One rank's link to its two ring neighbours over ZeroMQ: the sockets, ordered sends, heartbeats, verified receives,
// and how a failure is detected, told round the ring and shut down. Joining (ring-join.ts: the hellos) and the
// collectives (ring-schedule.ts) drive it.
//
// Topology: every rank binds one PULL socket (its endpoint; receives from its left neighbour) and connects one PUSH
// socket to its right neighbour. Frames from one neighbour arrive in order, so every received header must name
// exactly the collective, bucket, ring step and chunk the schedule expects next (expect). Checksums run in
// WebAssembly SIMD (kernels.ts).
//
// Failure: JSON-free heartbeats flow to the right every heartbeatMs, so a neighbour that is alive but waiting is
// told apart from one that died or stalled. A receive that hears nothing for timeoutMs fails naming the peer; the
// rank that detects a failure sends an abort frame around the ring so every rank stops with the same diagnosis.
//
// One file: sending, receiving and the socket events share the link's liveness state (the left neighbour suspected,
// the right one lost, the failure, the pending receive and its waker); split apart, each half would reach into the other's.
import type { Compression } from './compression.js';
import * as zmq from 'zeromq';

import { peerKey, type CurveKeys } from './curve.js';
import { Kernels } from './kernels.js';
import { abortBody, abortError, badFrameError, lostError, peerName, RingError, timeoutError, type WaitContext } from './ring-error.js';
import { mod, type ScheduleLink } from './ring-schedule.js';
import type { RendezvousResult } from './types.js';
import { decodeFrame, encodeHeader, FrameError, hashGroupId, Kind, KIND_NAMES, payloadChecksum, type Header } from './wire.js';

/** Frame problems that say the message is not from a ring peer of this generation, so it is dropped, not fatal. */
const FOREIGN_REASONS = new Set(['malformed', 'group', 'stale']);

type WaitResult = { kind: 'msg'; frames: Buffer[] } | { kind: 'err'; error: unknown } | { kind: 'timeout' } | { kind: 'wake' };

/** What joinRing settled before the link exists: limits, CURVE and the bound endpoint. */
export interface LinkConfig {
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

export class RingLink implements ScheduleLink {
  readonly rank: number;
  readonly worldSize: number;
  readonly generation: number;
  readonly groupId: string;
  readonly peers: readonly string[];
  /** This rank's own endpoint as announced to the rendezvous. */
  readonly endpoint: string;
  readonly left: number;
  readonly right: number;
  readonly bucketElems: number;
  readonly kernels = new Kernels();
  /** The step of the collective under way (or the last one): named in heartbeats and failures. */
  lastStep = -1;
  /** Payload bytes of the all-reduce frames handed to the socket so far, counted as they are sent. */
  bytesSent = 0;
  /** How gradients travel (every rank agreed on it in the hellos). */
  readonly compression: Compression;

  private readonly groupHash: number;
  private push: zmq.Push | undefined;
  /** Number of the current collective, in every data frame's header. */
  private op = 0;
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

  constructor(
    group: RendezvousResult,
    private readonly pull: zmq.Pull,
    private readonly cfg: LinkConfig,
  ) {
    this.rank = group.rank;
    this.worldSize = group.worldSize;
    this.generation = group.generation;
    this.groupId = group.groupId;
    this.peers = group.peers;
    this.endpoint = cfg.endpoint;
    this.compression = cfg.compression;
    this.left = mod(this.rank - 1, this.worldSize);
    this.right = mod(this.rank + 1, this.worldSize);
    this.groupHash = hashGroupId(group.groupId);
    this.bucketElems = cfg.bucketBytes / 4;
    this.graceMs = Math.min(cfg.timeoutMs, Math.max(3 * cfg.heartbeatMs, 500));
  }

  /** The group's failure, once there is one: every later collective rejects with it. */
  get failed(): RingError | undefined {
    return this.failure;
  }

  /** Whether close() began or the sockets are shut. */
  get closedOrClosing(): boolean {
    return this.closed || this.closing;
  }

  /** Messages dropped so far as not coming from a ring peer. */
  get foreignDropped(): number {
    return this.foreignMessages;
  }

  /** A new collective at this training step: its frames carry the next collective number. */
  nextCollective(step: number): void {
    this.op++;
    this.lastStep = step;
  }

  /** Connects the sending socket to the right neighbour (with CURVE where configured) and watches both sockets. */
  connect(): void {
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
  }

  /** Liveness heartbeats to the right neighbour from now on, every heartbeatMs. */
  startHeartbeats(): void {
    this.heartbeat = setInterval(() => this.sendHeartbeat(), this.cfg.heartbeatMs);
    this.heartbeat.unref();
  }

  /** Stops this rank at once: a pending collective rejects, and the other ranks get an abort naming this rank. */
  stop(reason: string): void {
    if (this.failure || this.closed) return;
    this.fail(new RingError(`rank ${this.rank} (${this.endpoint}) stopped: ${reason}`, 'aborted', this.rank, this.lastStep, this.rank, this.endpoint));
  }

  /**
   * Leaves the group without losing frames: ZeroMQ may still hold this rank's last frames when the collective
   * returns, so the sockets may only close once the right neighbour has them. Goodbyes go round the ring: every rank
   * sends bye 1 to its right; on bye k from its left it sends bye k + 1; bye R from the left proves that every rank
   * has received everything from its left (bye k certifies the k ranks before this one). Bounded by timeoutMs.
   */
  async leave(): Promise<void> {
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

  // ---- sending ------------------------------------------------------------------------------------------------

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

  sendData(kind: Kind, step: number, bucket: number, ringStep: number, chunk: number, payload: Buffer, checksum?: number): void {
    if (kind === Kind.ReduceScatter || kind === Kind.AllGather) this.bytesSent += payload.length;
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

  /**
   * Waits for the next data frame and checks it against the schedule; heartbeats are skipped, an abort frame stops
   * this rank with the originator's diagnosis. Returns the payload (and its verified checksum, for forwarding) only
   * if every field is what the schedule says.
   */
  async expect(
    ctx: WaitContext,
    kind: Kind,
    step: number,
    bucket: number,
    ringStep: number,
    chunk: number,
    bytes: number,
  ): Promise<{ payload: Buffer; checksum: number }> {
    const { header, payload } = await this.nextFrame(ctx);
    if (header.kind === Kind.Abort) throw this.fail(abortError(this, header.sender, payload, ctx));
    if (header.kind === Kind.Bye) {
      throw this.fail(
        new RingError(
          `rank ${this.rank}: ${peerName(this, header.sender)} left the group (closed its reducer) while this rank was in ${ctx.what} at step ${ctx.step}`,
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
      throw this.fail(badFrameError(this, this.left, `sender is rank ${header.sender}, but only rank ${this.left} sends to this rank`, ctx));
    }
    const h = header;
    if (h.kind !== kind || h.op !== want.op || h.step !== step || h.bucket !== bucket || h.ringStep !== ringStep || h.chunk !== chunk) {
      const got = { kind: h.kind, op: h.op, step: h.step, bucket: h.bucket, ringStep: h.ringStep, chunk: h.chunk };
      const show = (x: typeof want): string =>
        `${KIND_NAMES[x.kind] ?? x.kind} (collective #${x.op}, step ${x.step}, bucket ${x.bucket}, ring step ${x.ringStep}, chunk ${x.chunk})`;
      throw this.fail(badFrameError(this, this.left, `expected ${show(want)}, got ${show(got)}`, ctx));
    }
    if (bytes >= 0 && payload.length !== bytes) {
      throw this.fail(badFrameError(this, this.left, `payload is ${payload.length} bytes, expected ${bytes}`, ctx));
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
        throw this.fail(badFrameError(this, this.left, err.message, ctx));
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

  private receiveOnce(): Promise<Buffer[]> {
    const p = this.pull.receive();
    p.catch(() => undefined);
    return p;
  }

  /**
   * Next raw message from the left neighbour, failing on timeout, on a lost neighbour or when the group failed.
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
      if (this.leftSuspectAt !== undefined) limits.push([Math.max(this.leftSuspectAt, started) + this.graceMs, lostError(this, this.left, ctx)]);
      if (this.rightLostAt !== undefined && !this.closing) {
        limits.push([this.rightLostAt + 2 * this.graceMs, lostError(this, this.right, ctx)]);
      }
      limits.sort((a, b) => a[0] - b[0]);
      const [until, reason] = limits[0] as [number, RingError | 'timeout'];
      if (until <= now) {
        throw this.fail(reason === 'timeout' ? timeoutError(this, this.left, this.cfg.timeoutMs, this.cfg.authFailures, ctx) : reason);
      }
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
          new RingError(`rank ${this.rank}: receiving from ${peerName(this, this.left)} failed: ${e.message}`, 'peer-lost', this.rank, ctx.step, this.left, this.peers[this.left]),
        );
      }
    }
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
          `rank ${this.rank}: CURVE handshake with ${peerName(this, this.right)} failed (${e.error.message}): ${
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

  /** Marks the group failed, tells the right neighbour (unless it is the origin or gone), closes; returns err. */
  fail(err: RingError): RingError {
    if (this.failure) return this.failure;
    this.failure = err;
    const origin = (err as { abortOrigin?: number }).abortOrigin ?? this.rank;
    if (this.push && this.right !== origin && this.rightLostAt === undefined) {
      const body = abortBody(err, origin);
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
