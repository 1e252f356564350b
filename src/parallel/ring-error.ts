// How a ring group fails: the error every rank stops with, and the diagnoses a rank writes about its neighbours.
// Kept apart from the sockets so the wording of a failure (what, which peer, which step, what to do) reads in one place.

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

/** What a rank was doing when it waited for a frame: named in every failure it reports. */
export interface WaitContext {
  readonly what: string;
  readonly step: number;
}

/** The rank writing a diagnosis and the group it sees: its own rank and every rank's endpoint. */
export interface Observer {
  readonly rank: number;
  readonly peers: readonly string[];
}

export function peerName(self: Observer, rank: number): string {
  return `rank ${rank} (${self.peers[rank] ?? '?'})`;
}

/** A frame from the left neighbour that breaks the schedule or the wire format. */
export function badFrameError(self: Observer, left: number, detail: string, ctx: WaitContext): RingError {
  return new RingError(
    `rank ${self.rank}: rejected a frame from ${peerName(self, left)} during ${ctx.what} at step ${ctx.step}: ${detail}; nothing from it was applied`,
    'bad-frame',
    self.rank,
    ctx.step,
    left,
    self.peers[left],
  );
}

/** The left neighbour stayed silent for timeoutMs (with CURVE refusals heard meanwhile, which often explain it). */
export function timeoutError(self: Observer, left: number, timeoutMs: number, authFailures: readonly string[], ctx: WaitContext): RingError {
  const auth = authFailures.length ? `; CURVE authentication refused ${authFailures.join(', ')}` : '';
  return new RingError(
    `rank ${self.rank}: heard nothing from ${peerName(self, left)} for ${timeoutMs} ms during ${ctx.what} at step ${ctx.step}: the peer died or stalled${auth}`,
    'timeout',
    self.rank,
    ctx.step,
    left,
    self.peers[left],
  );
}

export function lostError(self: Observer, peer: number, ctx: WaitContext): RingError {
  return new RingError(
    `rank ${self.rank}: lost the connection to ${peerName(self, peer)} during ${ctx.what} at step ${ctx.step}: the peer died or its host is unreachable`,
    'peer-lost',
    self.rank,
    ctx.step,
    peer,
    self.peers[peer],
  );
}

/** The error an abort frame carries round the ring: the originator's diagnosis, as this rank's own failure. */
export function abortError(self: Observer, sender: number, payload: Buffer, ctx: WaitContext): RingError {
  let info: { origin?: number; message?: string; code?: RingErrorCode; peerRank?: number; peerEndpoint?: string; step?: number } = {};
  try {
    info = JSON.parse(payload.toString('utf8')) as typeof info;
  } catch {
    // a malformed abort still aborts
  }
  const origin = typeof info.origin === 'number' ? info.origin : sender;
  const err = new RingError(
    `rank ${self.rank}: group aborted during ${ctx.what} at step ${ctx.step} because ${info.message ?? `rank ${origin} failed`}`,
    info.code ?? 'aborted',
    self.rank,
    ctx.step,
    info.peerRank,
    info.peerEndpoint,
  );
  (err as { abortOrigin?: number }).abortOrigin = origin;
  return err;
}

/** The body of the abort frame a failing rank sends to its right: what abortError reads back. */
export function abortBody(err: RingError, origin: number): Buffer {
  return Buffer.from(
    JSON.stringify({ origin, message: err.message, code: err.code, peerRank: err.peerRank, peerEndpoint: err.peerEndpoint, step: err.step }),
  );
}
