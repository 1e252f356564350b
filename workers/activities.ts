// Activities of the sweep and trial workflows, built by a factory over injected dependencies (STYLE.md), so the
// workflows, the worker and the tests are all typed from `ReturnType<typeof createActivities>`.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { ApplicationFailure, CancelledFailure, Context, activityInfo, heartbeat } from '@temporalio/activity';
import type { Client } from '@temporalio/client';

import type { MlflowClient } from '../src/tracking/index.js';
import {
  ensureExperiment,
  findOrStartTrialRun,
  startSweepParentRun,
  trialRunNameFor,
  sweepSummaryRows,
  writeSweepSummary,
  type TrialConfigLike,
} from '../src/tracking/trial-logging.js';
import { threadShareEnv } from '../src/parallel/threads.js';
import type { TrainConfigInput } from '../src/train/config.js';
import { REPLICA_EXIT, trainedTo, type ReplicaConfig, type ReplicaMessage } from '../src/train/replica-protocol.js';
import type { ParamValue, SweepProgress, SweepSpec, TrainConfigJson } from '../src/contract/types.js';
import { SEARCH_ATTRIBUTE_TYPES, replicaProgressSignal, specVariants } from '../src/contract/index.js';
import type { CurvePoint } from '../src/contract/index.js';
import { TemporalRendezvous } from './rendezvous.js';
import { spawnReplica } from './replica.js';
import { CheckpointGatedMetrics } from './trial-metrics.js';
import type { SlotPool } from './slots.js';

export interface EvaluateRequest {
  readonly trialKey: string;
  readonly checkpointPath: string;
  readonly dataset: string;
  readonly evaluation: SweepSpec['evaluation'];
  readonly seed: number;
  readonly mlflowRunId?: string;
}

export interface ActivityDeps {
  /** Temporal client: replicas join their trial's rendezvous and report progress through it. */
  readonly temporal: Client;
  readonly namespace?: string;
  /** MLflow; without it, sweeps run untracked (runs are not created, links not printed). */
  readonly mlflow?: MlflowClient;
  /** Where trial folders (checkpoints) live; shared storage lets another node resume a trial. */
  readonly runRoot: string;
  /** Address other workers reach this one at, for the replicas' ZeroMQ ring. */
  readonly advertiseHost: string;
  /** The replica process: [node, dist/src/train/replica-child.js]; the config file path is appended. */
  readonly replicaCommand: readonly string[];
  /** [node, dist/workers/replica-guard.js] for replica commands that do not stop when their stdin closes; else []. */
  readonly guardCommand: readonly string[];
  readonly slots: SlotPool;
  /** Computes the disentanglement metrics of a checkpoint (src/metrics/evaluate.ts in production). */
  readonly evaluate?: (req: EvaluateRequest) => Promise<Record<string, number>>;
  /** How often rank 0 forwards losses to its trial workflow (ms; default 2000). Checkpoints are sent at once. */
  readonly progressIntervalMs?: number;
  /** Extra environment for replicas. */
  readonly replicaEnv?: NodeJS.ProcessEnv;
  /** ZeroMQ all-reduce timeout handed to replicas (ms). */
  readonly ringTimeoutMs?: number;
}

export interface TrainReplicaInput {
  readonly trialWorkflowId: string;
  readonly sweepName: string;
  readonly trialKey: string;
  readonly generation: number;
  readonly replicaIndex: number;
  readonly replicas: number;
  /** runDir is relative to the worker's run root. */
  readonly train: TrainConfigJson;
  readonly mlflowRunId?: string;
}

export interface ReplicaResult {
  readonly rank: number;
  readonly step: number;
  readonly checkpointPath?: string;
  readonly checkpointStep?: number;
  readonly losses?: Record<string, number>;
}

/** What a trainReplica heartbeat carries (and what a retried attempt resumes from). */
export interface ReplicaHeartbeat {
  readonly generation: number;
  readonly step: number;
  readonly checkpointPath?: string;
  readonly checkpointStep?: number;
}

/** The activity interface the workflows schedule, typed from the factory itself (STYLE.md: declared once). */
export type Activities = ReturnType<typeof createActivities>;

// eslint-disable-next-line @typescript-eslint/explicit-module-boundary-types
export function createActivities(deps: ActivityDeps) {
  const progressEvery = deps.progressIntervalMs ?? 2000;

  async function setupSweep(req: { name: string; spec: SweepSpec; trialCount: number }): Promise<{
    experimentId?: string;
    parentRunId?: string;
    searchAttributes: string[];
  }> {
    const searchAttributes = await hasSearchAttributes(deps.temporal, deps.namespace ?? 'default');
    if (!deps.mlflow) return { searchAttributes };
    const experimentId = await ensureExperiment(deps.mlflow, req.name); // opens on its runs table in MLflow 3's UI
    await deps.mlflow.setExperimentTag(experimentId, 'dcign.sweep', req.name);
    const wf = activityInfo().workflowExecution;
    const run = await startSweepParentRun(deps.mlflow, {
      experimentId,
      sweepName: req.name,
      spec: req.spec,
      ...(wf ? { workflowId: wf.workflowId, workflowRunId: wf.runId } : {}),
      params: {
        dataset: req.spec.dataset,
        'model.variant': specVariants(req.spec).join(','),
        replicas: req.spec.replicas,
        trials: req.trialCount,
        steps: req.spec.train.steps,
        batchSize: req.spec.train.batchSize,
      },
    });
    return { experimentId, parentRunId: run.info.runId, searchAttributes };
  }

  async function createTrialRun(req: {
    sweepName: string;
    trialKey: string;
    params: Readonly<Record<string, ParamValue>>;
    seed: number;
    train: TrainConfigJson;
    replicas: number;
    experimentId?: string;
    parentRunId?: string;
  }): Promise<{ runId?: string }> {
    if (!deps.mlflow || !req.experimentId) return {};
    const wf = activityInfo().workflowExecution;
    const gpu = deps.slots.devices.some((d) => d !== '');
    // Idempotent across activity retries: an existing run of this trial under the same parent is reused.
    const run = await findOrStartTrialRun(deps.mlflow, {
      experimentId: req.experimentId,
      ...(req.parentRunId ? { parentRunId: req.parentRunId } : {}),
      runName: trialRunNameFor(req.train.model, req.seed),
      sweepName: req.sweepName,
      trialKey: req.trialKey,
      ...(wf ? { workflowId: wf.workflowId, workflowRunId: wf.runId } : {}),
      replicas: req.replicas,
      backend: gpu ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node',
      device: gpu ? `GPU ${deps.slots.devices.join(',')}` : 'CPU',
      config: { ...req.train, seed: req.seed } as unknown as TrialConfigLike,
    });
    return { runId: run.info.runId };
  }

  async function trainReplica(input: TrainReplicaInput): Promise<ReplicaResult> {
    const ctx = Context.current();
    const previous = activityInfo().heartbeatDetails as ReplicaHeartbeat | undefined;
    const runDir = path.resolve(deps.runRoot, input.train.runDir);
    await mkdir(runDir, { recursive: true });

    // Resume from the newer of: what the workflow knows, what our own last heartbeat said (a retried attempt).
    let resumeFrom = input.train.resumeFrom;
    if (previous?.generation === input.generation && previous.checkpointPath) resumeFrom = previous.checkpointPath;
    let step = 0;
    let checkpoint: { step: number; path: string } | undefined;
    let losses: Record<string, number> | undefined;
    const beat = (): void => heartbeat({ generation: input.generation, step, checkpointPath: checkpoint?.path, checkpointStep: checkpoint?.step } satisfies ReplicaHeartbeat);
    const ticker = setInterval(beat, 1000);
    beat();

    const device = deps.slots.acquire();
    try {
      // The replica binds its all-reduce socket itself (port 0) and announces it; we join the trial workflow's
      // rendezvous with that endpoint and hand the group back. No port is picked here and bound later elsewhere.
      const config: ReplicaConfig = {
        train: { ...input.train, runDir, ...(resumeFrom ? { resumeFrom } : {}) } as TrainConfigInput,
        rendezvous: { kind: 'supervisor' },
        bind: deps.advertiseHost,
        timeoutMs: deps.ringTimeoutMs ?? 120_000,
        // every rank reports its step (one line per log interval), so any replica's failure names where it was;
        // only rank 0's reach the workflow and MLflow
        logAllRanks: true,
      };
      const configPath = path.join(runDir, `replica-g${input.generation}-r${input.replicaIndex}.json`);
      await writeFile(configPath, JSON.stringify(config, null, 2));

      // Rank 0 forwards every log point (batched) and each checkpoint to the trial workflow, and its losses to the
      // trial's MLflow run from here (the worker), so the training child never waits on HTTP.
      const handle = deps.temporal.workflow.getHandle(input.trialWorkflowId);
      let rank: number | undefined;
      let tracked: CheckpointGatedMetrics | undefined;
      let pending: CurvePoint[] = [];
      let lastSent = 0;
      let sending: Promise<void> = Promise.resolve();
      const send = (force: boolean): void => {
        if (rank !== 0) return;
        const now = Date.now();
        if (!force && now - lastSent < progressEvery) return;
        lastSent = now;
        const points = pending;
        pending = [];
        const msg = {
          generation: input.generation,
          replicaIndex: input.replicaIndex,
          step,
          ...(losses ? { scalars: losses } : {}),
          ...(checkpoint ? { checkpoint } : {}),
          points,
        };
        sending = sending.then(() => handle.signal(replicaProgressSignal, msg)).catch(() => undefined);
      };
      let joinFailure: Error | undefined;
      const rdzv = new TemporalRendezvous(deps.temporal, { workflowId: input.trialWorkflowId, generation: input.generation, replicaIndex: input.replicaIndex });
      const join = async (endpoint: string): Promise<void> => {
        try {
          const group = await abortable(rdzv.join(endpoint), ctx.cancellationSignal);
          rank = group.rank;
          if (deps.mlflow && input.mlflowRunId && rank === 0) tracked = new CheckpointGatedMetrics(deps.mlflow, input.mlflowRunId);
          child.answerRendezvous(group);
        } catch (err) {
          joinFailure = err instanceof Error ? err : new Error(String(err));
          child.kill();
        }
      };
      const onMessage = (m: ReplicaMessage): void => {
        if (m.type === 'bound') {
          void join(m.endpoint);
        } else if (m.type === 'log') {
          step = m.step;
          losses = m.scalars;
          if (rank === 0) pending.push({ step: m.step, scalars: m.scalars });
          tracked?.add({ step: m.step, scalars: m.scalars });
          beat();
          send(false);
        } else if (m.type === 'checkpoint') {
          checkpoint = { step: m.step, path: m.path };
          step = Math.max(step, m.step);
          tracked?.checkpointed(m.step);
          beat();
          send(true);
        } else if (m.type === 'error' && m.step !== undefined) {
          step = Math.max(step, m.step);
        }
      };
      const child = spawnReplica({
        guard: deps.guardCommand,
        command: [...deps.replicaCommand, configPath],
        env: {
          // CPU slots share the machine's cores; a GPU replica keeps TensorFlow's defaults for its host-side work
          ...(device === '' ? threadShareEnv(deps.slots.size, { ...process.env, ...deps.replicaEnv }) : {}),
          ...process.env,
          ...deps.replicaEnv,
          CUDA_VISIBLE_DEVICES: device,
        },
        cwd: process.cwd(),
        onMessage,
      });
      const onAbort = (): void => child.kill();
      ctx.cancellationSignal.addEventListener('abort', onAbort);
      let exit;
      try {
        exit = await child.exited;
      } finally {
        ctx.cancellationSignal.removeEventListener('abort', onAbort);
      }
      send(true);
      await sending;
      await tracked?.close(exit.done !== undefined && exit.code === REPLICA_EXIT.ok && !ctx.cancellationSignal.aborted);
      if (ctx.cancellationSignal.aborted) throw new CancelledFailure(`replica ${input.replicaIndex} of ${input.trialKey} stopped: cancelled`);
      if (joinFailure) throw joinFailure;
      const who = `replica ${rank ?? `#${input.replicaIndex}`} of ${input.trialKey} (generation ${input.generation})`;
      if (exit.done && exit.code === REPLICA_EXIT.ok) {
        const trained = trainedTo(exit.done);
        if (exit.done.kind !== 'train') throw ApplicationFailure.nonRetryable(`${who} ran a ${exit.done.kind} workload, not training`, 'BadConfig');
        if (trained.scalars) losses = trained.scalars;
        const ckpt = trained.checkpoint ?? checkpoint;
        return {
          rank: rank ?? input.replicaIndex,
          step: trained.step,
          ...(ckpt ? { checkpointPath: ckpt.path, checkpointStep: ckpt.step } : {}),
          ...(losses ? { losses } : {}),
        };
      }
      const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
      const why = exit.error?.message ?? lastWords(exit.stderrTail, exit.signal);
      const message = `${who} ${how} after step ${step}: ${why}`;
      // Bad configuration never gets better by retrying: the replica says so with kind 'config' (and exit code 2).
      if (exit.error?.kind === 'config' || exit.code === REPLICA_EXIT.config) {
        throw ApplicationFailure.nonRetryable(message, 'BadConfig', { step, checkpointPath: checkpoint?.path });
      }
      throw ApplicationFailure.retryable(message, 'ReplicaFailed', { step, checkpointPath: checkpoint?.path });
    } finally {
      clearInterval(ticker);
      deps.slots.release(device);
    }
  }

  async function evaluate(req: EvaluateRequest): Promise<Record<string, number>> {
    if (!deps.evaluate) {
      throw ApplicationFailure.nonRetryable('this worker has no evaluator (src/metrics/evaluate.ts); set evaluation.enabled: false in the spec or wire one in', 'BadConfig');
    }
    const metrics = await deps.evaluate(req);
    if (deps.mlflow && req.mlflowRunId) await deps.mlflow.logMetrics(req.mlflowRunId, prefixed('eval/', metrics));
    return metrics;
  }

  async function finishTrialRun(req: { runId: string; status: 'FINISHED' | 'FAILED' | 'KILLED'; metrics: Record<string, number>; error?: string }): Promise<void> {
    if (!deps.mlflow) return;
    if (req.error) await deps.mlflow.setTags(req.runId, { 'dcign.error': req.error.slice(0, 4000) });
    await deps.mlflow.endRun(req.runId, req.status);
  }

  /**
   * The sweep's summary on its parent run: summary/summary.csv and .json, one plot per metric against beta per latent
   * size, a markdown table as the run's description (src/tracking/trial-logging.ts), and every trial's full status.
   */
  async function summarizeSweep(req: { progress: SweepProgress; model?: Record<string, unknown> }): Promise<void> {
    const p = req.progress;
    if (!deps.mlflow || !p.parentRunId) return;
    const rows = sweepSummaryRows(p, req.model); // grouped by variant and architecture too
    await writeSweepSummary(deps.mlflow, p.parentRunId, rows, { sweepName: p.name });
    await deps.mlflow.logArtifactBytes(p.parentRunId, 'summary/trials.json', JSON.stringify(p.trials, null, 2));
    const counts = { completed: 0, failed: 0, cancelled: 0 };
    for (const t of p.trials) if (t.state in counts) counts[t.state as keyof typeof counts] += 1;
    await deps.mlflow.logMetrics(p.parentRunId, { 'trials/completed': counts.completed, 'trials/failed': counts.failed, 'trials/cancelled': counts.cancelled });
    await deps.mlflow.endRun(p.parentRunId, p.state === 'cancelled' ? 'KILLED' : counts.failed > 0 && counts.completed === 0 ? 'FAILED' : 'FINISHED');
  }

  return { setupSweep, createTrialRun, trainReplica, evaluate, finishTrialRun, summarizeSweep };
}

/** Which of dcign's search attributes the server has registered (upserting an unknown one fails the workflow). */
async function hasSearchAttributes(client: Client, namespace: string): Promise<string[]> {
  try {
    const res = await client.connection.operatorService.listSearchAttributes({ namespace });
    const custom = res.customAttributes ?? {};
    return Object.keys(SEARCH_ATTRIBUTE_TYPES).filter((k) => k in custom);
  } catch {
    return [];
  }
}

/** TensorFlow's start-up chatter, which says nothing about why a replica ended. */
const STDERR_NOISE = /^(WARNING: All log messages before absl|[IW]\d{4} .*(port\.cc|cpu_feature_guard|oneDNN)|.*oneDNN custom operations are on)/;

/** The last meaningful lines a replica wrote on stderr, or what its ending says when it wrote none. */
function lastWords(stderrTail: string, signal: NodeJS.Signals | null): string {
  const lines = stderrTail
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !STDERR_NOISE.test(l));
  if (lines.length > 0) return lines.slice(-5).join(' | ');
  return signal ? `no error message (${signal} came from outside the replica: the OOM killer, a person, or the host going down)` : 'no error message';
}

function prefixed(prefix: string, m: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [`${prefix}${k}`, v]));
}

function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new CancelledFailure('cancelled'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new CancelledFailure('cancelled while waiting for the rendezvous'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
