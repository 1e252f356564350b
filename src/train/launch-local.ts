// Starts R replica child processes on one machine and supervises them: each binds its all-reduce socket on a port of
// its own choosing and announces it (./replica-protocol.ts); once all R have, this launcher is their rendezvous and
// answers each with the group. Returns when all finish; if one fails, the others are stopped (SIGTERM, then SIGKILL)
// and the first error is thrown. Children watch their parent's pid and their stdin, so they never outlive this process.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { threadShareEnv } from '../parallel/threads.js';
import type { TrainConfig } from './config.js';
import {
  encodeMessage,
  parseReplicaMessage,
  type ReplicaConfig,
  type ReplicaMessage,
  type ReplicaOutput,
} from './replica-protocol.js';
import type { TrainResult } from './run.js';

export const REPLICA_CHILD_SCRIPT = fileURLToPath(new URL('./replica-child.js', import.meta.url));

export interface SpawnReplicasOptions {
  readonly replicas: number;
  /** Builds one rank's configuration (the launcher is its rendezvous). */
  readonly config: (rank: number) => Omit<ReplicaConfig, 'rendezvous'>;
  readonly bindHost?: string;
  readonly groupId?: string;
  readonly generation?: number;
  readonly script?: string;
  /** Extra node options for the children (e.g. --max-old-space-size=8192, --cpu-prof). */
  readonly execArgv?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** Every JSON line from every child, as it arrives. */
  readonly onMessage?: (rank: number, msg: ReplicaMessage) => void;
  /** Children's stderr: passed through (default), collected, or dropped. */
  readonly stderr?: 'inherit' | 'pipe' | 'ignore';
  /** How long stopped children get before SIGKILL (default 5 s). */
  readonly killGraceMs?: number;
  /**
   * After one child fails, how long the others get to notice on their own (their errors name the peer and step)
   * before they are stopped (default 3 s).
   */
  readonly failureGraceMs?: number;
  readonly signal?: AbortSignal;
}

export interface ReplicaHandle {
  readonly rank: number;
  readonly child: ChildProcess;
  readonly messages: ReplicaMessage[];
  /** Collected stderr when stderr: 'pipe'. */
  stderr: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface ReplicaOutcome {
  readonly rank: number;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly done?: ReplicaOutput;
  readonly error?: Extract<ReplicaMessage, { type: 'error' }>;
}

export class ReplicaGroupError extends Error {
  constructor(
    message: string,
    readonly outcomes: readonly ReplicaOutcome[],
  ) {
    super(message);
    this.name = 'ReplicaGroupError';
  }
}

export class ReplicaGroup {
  private stopping = false;
  private readonly onExit = (): void => this.killAll('SIGKILL');

  constructor(
    readonly processes: readonly ReplicaHandle[],
    readonly endpoints: readonly string[],
    private readonly killGraceMs: number,
    private readonly failureGraceMs: number = 3000,
  ) {
    process.on('exit', this.onExit);
  }

  /** Sends a signal to every child still running. */
  killAll(signal: NodeJS.Signals = 'SIGTERM'): void {
    for (const p of this.processes) {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill(signal);
    }
  }

  /** SIGTERM to all, SIGKILL to those still running after the grace period. */
  stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    this.killAll('SIGTERM');
    setTimeout(() => this.killAll('SIGKILL'), this.killGraceMs).unref();
  }

  /** Waits for every child; stops the rest as soon as one fails. Resolves with every outcome, failed or not. */
  async wait(): Promise<ReplicaOutcome[]> {
    const outcomes = await Promise.all(
      this.processes.map(async (p) => {
        const { code, signal } = await p.exited;
        const error = p.messages.find((m): m is Extract<ReplicaMessage, { type: 'error' }> => m.type === 'error');
        const done = p.messages.find((m): m is Extract<ReplicaMessage, { type: 'done' }> => m.type === 'done');
        if (code !== 0) setTimeout(() => this.stop(), this.failureGraceMs).unref();
        return { rank: p.rank, code, signal, ...(done ? { done: done.output } : {}), ...(error ? { error } : {}) };
      }),
    );
    process.off('exit', this.onExit);
    return outcomes;
  }
}

/**
 * Spawns R children of `script` (default replica-child.js) bound to `bindHost` (default loopback) and completes their
 * rendezvous: resolves once every child has bound its socket and been told the group; rejects, stopping the others,
 * if one exits before that.
 */
export async function spawnReplicas(opts: SpawnReplicasOptions): Promise<ReplicaGroup> {
  const R = opts.replicas;
  if (!Number.isInteger(R) || R < 1) throw new Error(`replicas must be a positive integer, got ${R}`);
  const host = opts.bindHost ?? '127.0.0.1';
  const groupId = opts.groupId ?? `local-${randomUUID()}`;
  const handles: ReplicaHandle[] = [];
  const endpoints: (string | undefined)[] = new Array<string | undefined>(R).fill(undefined);
  let onBound: () => void = () => undefined;
  const allBound = new Promise<void>((resolve) => {
    onBound = () => {
      if (endpoints.every((e) => e !== undefined)) resolve();
    };
  });
  for (let rank = 0; rank < R; rank++) {
    const cfg: ReplicaConfig = { bind: host, ...opts.config(rank), rendezvous: { kind: 'supervisor' } };
    const child = spawn(process.execPath, [...(opts.execArgv ?? []), opts.script ?? REPLICA_CHILD_SCRIPT], {
      env: { ...threadShareEnv(R, { ...process.env, ...opts.env }), ...process.env, ...opts.env, DCIGN_REPLICA_CONFIG: JSON.stringify(cfg) },
      stdio: ['pipe', 'pipe', opts.stderr ?? 'inherit'],
    });
    const handle: ReplicaHandle = {
      rank,
      child,
      messages: [],
      stderr: '',
      exited: new Promise((resolve) => {
        child.on('error', (err) => {
          handle.messages.push({ type: 'error', kind: 'failed', message: `could not start replica ${rank}: ${err.message}` });
          resolve({ code: -1, signal: null });
        });
        child.on('close', (code, signal) => resolve({ code, signal }));
      }),
    };
    child.stdin?.on('error', () => undefined); // the child may be gone already
    child.stderr?.on('data', (d: Buffer) => {
      handle.stderr += d.toString();
    });
    if (child.stdout) {
      createInterface({ input: child.stdout }).on('line', (line) => {
        const msg = parseReplicaMessage(line);
        if (msg === undefined) {
          process.stderr.write(`[replica ${rank}] ${line}\n`);
          return;
        }
        handle.messages.push(msg);
        if (msg.type === 'bound') {
          endpoints[rank] = msg.endpoint;
          onBound();
        }
        opts.onMessage?.(rank, msg);
      });
    }
    handles.push(handle);
  }
  const group = new ReplicaGroup(handles, endpoints as string[], opts.killGraceMs ?? 5000, opts.failureGraceMs ?? 3000);
  opts.signal?.addEventListener('abort', () => group.stop(), { once: true });
  const early = Promise.race(handles.map((h) => h.exited.then(() => h)));
  const first = await Promise.race([allBound.then(() => undefined), early]);
  if (first !== undefined) {
    group.stop();
    const outcomes = await group.wait();
    resultOf(outcomes, opts.signal); // throws, naming the child that failed
    throw new ReplicaGroupError(`replica ${first.rank} exited before its rendezvous`, outcomes);
  }
  const generation = opts.generation ?? 0;
  for (const h of handles) {
    const result = { rank: h.rank, worldSize: R, generation, peers: endpoints as string[], groupId };
    h.child.stdin?.write(encodeMessage({ type: 'rendezvous', result }));
  }
  return group;
}

export interface LaunchLocalOptions {
  readonly bindHost?: string;
  readonly timeoutMs?: number;
  readonly bucketBytes?: number;
  readonly onLog?: (step: number, scalars: Record<string, number>) => void;
  readonly onCheckpoint?: (step: number, path: string) => void;
  readonly signal?: AbortSignal;
  readonly stderr?: 'inherit' | 'pipe' | 'ignore';
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * `dcign train --replicas R` on one machine: trains one model with R data-parallel replica processes on loopback.
 * Rank 0's log and checkpoint lines go to the hooks; resolves with rank 0's TrainResult; throws a ReplicaGroupError
 * carrying the first failure (the others are stopped) otherwise.
 */
export async function launchLocalReplicas(config: TrainConfig, replicas: number, opts: LaunchLocalOptions = {}): Promise<TrainResult> {
  const group = await spawnReplicas({
    replicas,
    ...(opts.bindHost === undefined ? {} : { bindHost: opts.bindHost }),
    ...(opts.signal === undefined ? {} : { signal: opts.signal }),
    ...(opts.stderr === undefined ? {} : { stderr: opts.stderr }),
    ...(opts.env === undefined ? {} : { env: opts.env }),
    config: () => ({
      train: config,
      ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }),
      ...(opts.bucketBytes === undefined ? {} : { bucketBytes: opts.bucketBytes }),
    }),
    onMessage: (rank, msg) => {
      if (rank !== 0) return;
      if (msg.type === 'log') opts.onLog?.(msg.step, msg.scalars);
      else if (msg.type === 'checkpoint') opts.onCheckpoint?.(msg.step, msg.path);
    },
  });
  const outcomes = await group.wait();
  const done = resultOf(outcomes, opts.signal);
  if (done?.kind !== 'train') throw new ReplicaGroupError('rank 0 finished without a training result', outcomes);
  return done.train;
}

/** Rank 0's result if every replica finished; otherwise a ReplicaGroupError naming the first failure. */
export function resultOf(outcomes: readonly ReplicaOutcome[], signal?: AbortSignal): ReplicaOutput | undefined {
  const failed = outcomes.filter((o) => o.code !== 0);
  if (failed.length === 0) return outcomes[0]?.done;
  // the root cause: a rank that failed on its own (not an abort relayed from a peer) if there is one
  const root = failed.find((o) => o.error && o.error.kind !== 'stopped' && o.error.code !== 'aborted' && !/group aborted/.test(o.error.message)) ?? failed.find((o) => o.error) ?? failed[0];
  const why = root?.error?.message ?? `replica ${root?.rank} exited with ${root?.signal ?? `code ${root?.code}`}`;
  const summary = outcomes.map((o) => `rank ${o.rank}: ${o.code === 0 ? 'ok' : (o.signal ?? `exit ${o.code}`)}`).join(', ');
  throw new ReplicaGroupError(`${signal?.aborted ? 'stopped' : 'data-parallel training failed'}: ${why} (${summary})`, outcomes);
}
