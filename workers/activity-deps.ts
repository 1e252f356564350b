// What the worker's activities are built over (STYLE.md: a factory over injected dependencies), and what the
// evaluator gets: shared by the activities of ./activities.ts, the worker and the evaluator processes.
import type { Client } from '@temporalio/client';

import type { MlflowClient } from '../src/tracking/index.js';
import type { CheckpointRef, SweepSpec } from '../src/contract/index.js';
import type { SlotPool } from './slots.js';

/** What the evaluator (src/metrics via workers/evaluate.ts) gets: a checkpoint on this host's disk. */
export interface EvaluateRequest {
  readonly trialKey: string;
  readonly checkpointPath: string;
  readonly dataset: string;
  readonly evaluation: SweepSpec['evaluation'];
  readonly seed: number;
  readonly mlflowRunId?: string;
  /**
   * Only the metrics (an early-stopping rung, while the trial trains on): no posterior audit, images, GIFs or
   * artifacts. The end-of-trial evaluation leaves it unset.
   */
  readonly metricsOnly?: boolean;
}

/** The evaluate activity's input: the trial's final checkpoint wherever it is stored. */
export interface EvaluateInput extends Omit<EvaluateRequest, 'checkpointPath'> {
  readonly checkpoint: CheckpointRef;
  /** The trial's run folder, relative to the run root (where a durable checkpoint is fetched to). */
  readonly runDir: string;
}

export interface ActivityDeps {
  /** Temporal client: replicas join their trial's rendezvous and report progress through it. */
  readonly temporal: Client;
  readonly namespace?: string;
  /** MLflow; without it, sweeps run untracked (runs are not created, links not printed). */
  readonly mlflow?: MlflowClient;
  /**
   * Where trial folders live on this host. With MLflow they are a cache: checkpoints are stored in the trial's run
   * and fetched from there by whichever host resumes or evaluates the trial. Without MLflow they are the only copy.
   */
  readonly runRoot: string;
  /** Address other workers reach this one at, for the replicas' ZeroMQ ring. */
  readonly advertiseHost: string;
  /** The replica process: [node, dist/src/train/replica-child.js]; the config file path is appended. */
  readonly replicaCommand: readonly string[];
  /** [node, dist/workers/replica-guard.js] for replica commands that do not stop when their stdin closes; else []. */
  readonly guardCommand: readonly string[];
  readonly slots: SlotPool;
  /**
   * Computes the disentanglement metrics of a checkpoint (src/metrics/evaluate.ts in production); stops when `signal`
   * aborts (the activity was cancelled: a rung evaluation of a trial that early stopping ended).
   */
  readonly evaluate?: (req: EvaluateRequest, signal?: AbortSignal) => Promise<Record<string, number>>;
  /** How often rank 0 forwards losses to its trial workflow (ms; default 2000). Checkpoints are sent at once. */
  readonly progressIntervalMs?: number;
  /** Extra environment for replicas. */
  readonly replicaEnv?: NodeJS.ProcessEnv;
  /** ZeroMQ all-reduce timeout handed to replicas (ms; capped by the trial's heartbeat timeout, ./ring-timeout.ts). */
  readonly ringTimeoutMs?: number;
  /** How often rank 0's worker asks its trial whether a pause was requested (ms; default 1000). */
  readonly pausePollMs?: number;
  /** Backoff of failed checkpoint uploads (default 1 s doubling to 60 s). */
  readonly uploadBackoff?: { readonly initialMs: number; readonly maxMs: number };
}
