// Starts R replica child processes on one machine (loopback, free ports, static rendezvous) and supervises them:
// returns when all finish; if one fails, the others are stopped (SIGTERM, then SIGKILL) and the first error is
// thrown. Children watch their parent's pid and their stdin, so they never outlive this process.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import type { TrainConfig } from '../train/config.js';
import { localEndpoints } from './rendezvous.js';
import { threadShareEnv } from './threads.js';
import type { ReplicaConfig, ReplicaMessage } from './replica-child.js';

export const REPLICA_CHILD_SCRIPT = fileURLToPath(new URL('./replica-child.js', import.meta.url));

export interface SpawnReplicasOptions {
  readonly replicas: number;
  /** Builds one rank's configuration (its rendezvous entry is filled in by the launcher). */
  readonly config: (rank: number, endpoints: readonly string[], groupId: string) => Omit<ReplicaConfig, 'rendezvous'>;
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
  readonly done?: unknown;
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
        return { rank: p.rank, code, signal, ...(done ? { done: done.result } : {}), ...(error ? { error } : {}) };
      }),
    );
    process.off('exit', this.onExit);
    return outcomes;
  }
}

/** Spawns R children of `script` (default replica-child.js) on free loopback ports with a static rendezvous. */
export async function spawnReplicas(opts: SpawnReplicasOptions): Promise<ReplicaGroup> {
  const R = opts.replicas;
  if (!Number.isInteger(R) || R < 1) throw new Error(`replicas must be a positive integer, got ${R}`);
  const host = opts.bindHost ?? '127.0.0.1';
  const endpoints = await localEndpoints(R, host);
  const groupId = opts.groupId ?? `local-${randomUUID()}`;
  const handles: ReplicaHandle[] = [];
  for (let rank = 0; rank < R; rank++) {
    const cfg: ReplicaConfig = {
      bind: host,
      ...opts.config(rank, endpoints, groupId),
      rendezvous: { kind: 'static', endpoints, rank, groupId, generation: opts.generation ?? 0 },
    };
    const child = spawn(process.execPath, [...(opts.execArgv ?? []), opts.script ?? REPLICA_CHILD_SCRIPT], {
      env: { ...threadShareEnv(R, { ...process.env, ...opts.env }), ...process.env, ...opts.env, DCIGN_REPLICA_CONFIG: JSON.stringify(cfg), DCIGN_WATCH_STDIN: '1' },
      stdio: ['pipe', 'pipe', opts.stderr ?? 'inherit'],
    });
    const handle: ReplicaHandle = {
      rank,
      child,
      messages: [],
      stderr: '',
      exited: new Promise((resolve) => {
        child.on('error', (err) => {
          handle.messages.push({ type: 'error', message: `could not start replica ${rank}: ${err.message}` });
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
        let msg: ReplicaMessage;
        try {
          msg = JSON.parse(line) as ReplicaMessage;
        } catch {
          process.stderr.write(`[replica ${rank}] ${line}\n`);
          return;
        }
        handle.messages.push(msg);
        opts.onMessage?.(rank, msg);
      });
    }
    handles.push(handle);
  }
  const group = new ReplicaGroup(handles, endpoints, opts.killGraceMs ?? 5000, opts.failureGraceMs ?? 3000);
  opts.signal?.addEventListener('abort', () => group.stop(), { once: true });
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
export async function launchLocalReplicas(config: TrainConfig, replicas: number, opts: LaunchLocalOptions = {}): Promise<unknown> {
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
  return resultOf(outcomes, opts.signal);
}

/** Rank 0's result if every replica finished; otherwise a ReplicaGroupError naming the first failure. */
export function resultOf(outcomes: readonly ReplicaOutcome[], signal?: AbortSignal): unknown {
  const failed = outcomes.filter((o) => o.code !== 0);
  if (failed.length === 0) return outcomes[0]?.done;
  // the root cause: a rank that failed on its own (not an abort relayed from a peer) if there is one
  const root = failed.find((o) => o.error && o.error.code !== 'aborted' && !/group aborted/.test(o.error.message)) ?? failed.find((o) => o.error) ?? failed[0];
  const why = root?.error?.message ?? `replica ${root?.rank} exited with ${root?.signal ?? `code ${root?.code}`}`;
  const summary = outcomes.map((o) => `rank ${o.rank}: ${o.code === 0 ? 'ok' : (o.signal ?? `exit ${o.code}`)}`).join(', ');
  throw new ReplicaGroupError(`${signal?.aborted ? 'stopped' : 'data-parallel training failed'}: ${why} (${summary})`, outcomes);
}
