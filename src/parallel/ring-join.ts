// Joining a ring group: bind the receiving socket (with CURVE where configured), announce its endpoint to the
// rendezvous, check the group it hands back, then greet both neighbours over the link (a hello each way, which also
// proves every rank uses the same bucket size). What comes back is the reducer.
import * as zmq from 'zeromq';

import { parseCompression, type Compression } from './compression.js';
import { registerZapDomain, type CurveKeys } from './curve.js';
import { RingReducer } from './ring.js';
import { badFrameError, RingError } from './ring-error.js';
import { RingLink } from './ring-link.js';
import type { Rendezvous, RendezvousResult } from './types.js';
import { HEADER_BYTES, Kind } from './wire.js';

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

export const DEFAULT_TIMEOUT_MS = 60_000;
export const DEFAULT_BUCKET_BYTES = 1 << 20;

const WILDCARD_HOSTS = new Set(['*', '0.0.0.0', '::', '[::]', '']);

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
    const link = new RingLink(group, pull, {
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
    await greetNeighbours(link, bucketBytes, compression);
    return new RingReducer(link);
  } catch (err) {
    pull.close();
    zap?.release();
    throw err;
  }
}

/**
 * Closes the ring end to end: connects to the right neighbour, sends it a hello, and waits for the left neighbour's,
 * which must name the expected rank, world size, bucket size and compression (nothing to do alone).
 */
async function greetNeighbours(link: RingLink, bucketBytes: number, compression: Compression): Promise<void> {
  if (link.worldSize === 1) return;
  link.connect();
  const hello = Buffer.from(JSON.stringify({ rank: link.rank, worldSize: link.worldSize, bucketBytes, compression, endpoint: link.endpoint }));
  link.sendData(Kind.Hello, 0, 0, 0, 0, hello);
  link.startHeartbeats();
  const { payload } = await link.expect({ what: 'join (hello)', step: 0 }, Kind.Hello, 0, 0, 0, 0, -1);
  let info: { rank?: unknown; worldSize?: unknown; bucketBytes?: unknown; compression?: unknown };
  try {
    info = JSON.parse(payload.toString('utf8')) as typeof info;
  } catch {
    throw link.fail(badFrameError(link, link.left, 'hello payload is not JSON', { what: 'join', step: 0 }));
  }
  if (info.worldSize !== link.worldSize || info.rank !== link.left) {
    const detail = `hello says rank ${String(info.rank)} of ${String(info.worldSize)}, expected rank ${link.left} of ${link.worldSize}`;
    throw link.fail(badFrameError(link, link.left, detail, { what: 'join', step: 0 }));
  }
  if (info.bucketBytes !== bucketBytes) {
    throw link.fail(
      new RingError(
        `rank ${link.rank}: rank ${link.left} uses bucketBytes ${String(info.bucketBytes)}, this rank ${bucketBytes}; every rank must use the same`,
        'config',
        link.rank,
        0,
        link.left,
        link.peers[link.left],
      ),
    );
  }
  const leftCompression = info.compression ?? 'none'; // a peer from before compression existed sends float32
  if (leftCompression !== compression) {
    throw link.fail(
      new RingError(
        `rank ${link.rank}: rank ${link.left} sends gradients as ${String(leftCompression)}, this rank as ${compression}; ` +
          'every rank must use the same parallel.compression',
        'config',
        link.rank,
        0,
        link.left,
        link.peers[link.left],
      ),
    );
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
