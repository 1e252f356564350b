// The one protocol between a replica process (src/train/replica-child.ts) and whoever supervises it: a dcign worker's
// trainReplica activity (workers/replica.ts) or the local launcher (src/train/launch-local.ts). JSON lines both ways:
// the replica writes ReplicaMessage lines on stdout, the supervisor writes SupervisorMessage lines on its stdin.
//
// Start-up with a supervisor rendezvous: the replica binds its all-reduce socket on port 0 (no port is picked and
// released first, so no other process can take it in between), prints {"type":"bound","endpoint":...}, and waits for
// {"type":"rendezvous","result":{rank, worldSize, generation, peers, groupId}} on stdin. The supervisor gathers the
// endpoints its own way (the Temporal trial workflow's join update, or all of its local children) and answers.
// Later, {"type":"pause"} asks rank 0 to stop at its next step boundary, write a checkpoint there and finish with a
// 'done' line whose train.status is 'aborted' (the other ranks are stopped by their supervisors; only rank 0's state
// is kept, so a step they had begun is simply dropped).
import type { RendezvousResult } from '../parallel/types.js';
import type { CurveKeySources } from '../parallel/curve.js';
import type { ExerciseConfig, ExerciseResult } from '../parallel/exercise.js';
import type { ExchangeStats } from '../parallel/ring.js';
import type { TrainConfigInput } from './config.js';
import type { TrainResult } from './run.js';

/** How the replica finds its group. */
export type ReplicaRendezvous =
  /** A fixed list of endpoints (hand-written multi-host setups); the replica binds its own entry's port. */
  | { readonly kind: 'static'; readonly endpoints: readonly string[]; readonly rank: number; readonly groupId: string; readonly generation?: number }
  /** The supervisor answers the `bound` line with the group (see the top of this file). */
  | { readonly kind: 'supervisor' };

export interface ReplicaConfig {
  /** Train a model (validated by the replica before it binds anything), or run the synthetic all-reduce workload (a
   * check of a cluster's links; tests and benchmarks). */
  readonly train?: TrainConfigInput;
  readonly exercise?: ExerciseConfig;
  readonly rendezvous: ReplicaRendezvous;
  /** Interface to bind (default 127.0.0.1). */
  readonly bind?: string;
  /** Host other replicas reach this one at (default bind). */
  readonly advertise?: string;
  readonly timeoutMs?: number;
  readonly bucketBytes?: number;
  /** Wire compression of the exercise workload; a training replica takes its train config's `compression`. */
  readonly compression?: string;
  /**
   * 'ring' (default) averages gradients; 'noop' keeps the ring and the initial broadcast but skips every gradient
   * exchange (noop-exchange.ts): compute-only steps for timing (bench:cluster), never for a model that is kept.
   */
  readonly exchange?: 'ring' | 'noop';
  /** CURVE key files; DCIGN_CURVE_* variables are read too. */
  readonly curve?: CurveKeySources;
  /** Emit log and checkpoint lines from every rank, not only rank 0. */
  readonly logAllRanks?: boolean;
}

/**
 * Why a replica failed, which decides what its supervisor does: `config` never gets better by retrying (the activity
 * fails for good), `ring` is a peer or link problem (`code` says which), `stopped` was asked for, `failed` is anything
 * else (retried from the last checkpoint).
 */
export type ReplicaErrorKind = 'config' | 'ring' | 'stopped' | 'failed';

/** What a finished replica reports: the trainer's result or the exercise's. */
export type ReplicaOutput = { readonly kind: 'train'; readonly train: TrainResult } | { readonly kind: 'exercise'; readonly exercise: ExerciseResult };

/** A line the replica prints on stdout. */
export type ReplicaMessage =
  | { readonly type: 'bound'; readonly endpoint: string }
  | { readonly type: 'ready'; readonly rank: number; readonly worldSize: number; readonly endpoint: string }
  | { readonly type: 'log'; readonly step: number; readonly scalars: Record<string, number>; readonly rank?: number; readonly exchange?: ExchangeStats }
  | { readonly type: 'checkpoint'; readonly step: number; readonly path: string; readonly rank?: number }
  | { readonly type: 'done'; readonly output: ReplicaOutput; readonly rank?: number; readonly exchange?: ExchangeStats }
  | {
      readonly type: 'error';
      readonly kind: ReplicaErrorKind;
      readonly message: string;
      /** The ring's error code when kind is `ring` (timeout, peer-lost, bad-frame, ...). */
      readonly code?: string;
      readonly rank?: number;
      readonly peerRank?: number;
      /** The last step this replica completed. */
      readonly step?: number;
    };

/** A line the supervisor writes on the replica's stdin. */
export type SupervisorMessage = { readonly type: 'rendezvous'; readonly result: RendezvousResult } | { readonly type: 'pause' };

/** Exit status of a replica: 0 done, 1 failed, 2 bad configuration, 143 stopped by a signal or its supervisor. */
export const REPLICA_EXIT = { ok: 0, failed: 1, config: 2, stopped: 143 } as const;

const MESSAGE_TYPES = new Set<string>(['bound', 'ready', 'log', 'checkpoint', 'done', 'error']);

export function encodeMessage(m: ReplicaMessage | SupervisorMessage): string {
  return `${JSON.stringify(m)}\n`;
}

/** A replica's stdout line as a message; undefined for anything else (a stray print of a library). */
export function parseReplicaMessage(line: string): ReplicaMessage | undefined {
  if (!line.startsWith('{')) return undefined;
  let m: unknown;
  try {
    m = JSON.parse(line);
  } catch {
    return undefined;
  }
  const type = (m as { type?: unknown } | null)?.type;
  return typeof type === 'string' && MESSAGE_TYPES.has(type) ? (m as ReplicaMessage) : undefined;
}

/** A supervisor's stdin line; throws naming the line when it is not one. */
export function parseSupervisorMessage(line: string): SupervisorMessage {
  let m: unknown;
  try {
    m = JSON.parse(line);
  } catch {
    throw new Error(`supervisor sent a line that is not JSON: ${line.slice(0, 200)}`);
  }
  const r = (m as { type?: unknown; result?: Partial<RendezvousResult> } | null) ?? {};
  if (r.type === 'pause') return { type: 'pause' };
  if (r.type !== 'rendezvous' || typeof r.result !== 'object' || r.result === null || !Array.isArray(r.result.peers)) {
    throw new Error(`supervisor sent an unknown message: ${line.slice(0, 200)}`);
  }
  return m as SupervisorMessage;
}

/** The step and checkpoint a finished training replica reached (what a supervisor records and resumes from). */
export function trainedTo(output: ReplicaOutput): { step: number; checkpoint?: { step: number; path: string }; scalars?: Record<string, number> } {
  if (output.kind !== 'train') return { step: 0 };
  const r = output.train;
  return {
    step: r.step,
    ...(r.lastCheckpoint ? { checkpoint: { step: r.step, path: r.lastCheckpoint } } : {}),
    ...(r.lastScalars ? { scalars: r.lastScalars } : {}),
  };
}
