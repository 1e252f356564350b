// Activities of the sweep and trial workflows, built by a factory over injected dependencies (STYLE.md), so the
// workflows, the worker and the tests are all typed from `ReturnType<typeof createActivities>`.
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';

import { ApplicationFailure, CancelledFailure, Context, activityInfo, heartbeat } from '@temporalio/activity';
import type { Client } from '@temporalio/client';

import type { MlflowClient } from '../src/tracking/index.js';
import { ensureExperiment, standardTags, trialRunName, writeSweepSummary } from '../src/tracking/trial-logging.js';
import { TemporalRendezvous } from '../src/parallel/temporal-rendezvous.js';
import { threadShareEnv } from '../src/parallel/threads.js';
import type { RendezvousResult } from '../src/parallel/types.js';
import type { ParamValue, SweepProgress, SweepSpec, TrainConfigJson } from '../src/sweep/types.js';
import { SEARCH_ATTRIBUTE_TYPES, replicaProgressSignal } from '../workflows/defs.js';
import type { CurvePoint } from '../workflows/defs.js';
import { spawnReplica } from './replica.js';
import { CheckpointGatedMetrics } from './trial-metrics.js';
import type { ReplicaMessage } from './replica.js';
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
  /** The replica process: [node, dist/src/parallel/replica-child.js]; the config file path is appended. */
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
  readonly result?: Record<string, unknown>;
}

/** What a trainReplica heartbeat carries (and what a retried attempt resumes from). */
export interface ReplicaHeartbeat {
  readonly generation: number;
  readonly step: number;
  readonly checkpointPath?: string;
  readonly checkpointStep?: number;
}

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
    const run = await deps.mlflow.createRun({
      experimentId,
      runName: `sweep ${req.name}`,
      tags: { 'dcign.sweep': req.name, 'dcign.role': 'sweep', 'dcign.workflowId': activityInfo().workflowExecution?.workflowId ?? '' },
    });
    await deps.mlflow.logParams(run.info.runId, {
      dataset: req.spec.dataset,
      'model.variant': req.spec.model.variant,
      replicas: req.spec.replicas,
      trials: req.trialCount,
      steps: req.spec.train.steps,
      batchSize: req.spec.train.batchSize,
    });
    await deps.mlflow.logArtifactBytes(run.info.runId, 'sweep-spec.json', JSON.stringify(req.spec, null, 2));
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
    // Idempotent across activity retries: an existing run of this trial under the same parent is reused.
    const filter = `tags.\`dcign.trial\` = '${req.trialKey.replace(/'/g, "\\'")}'${req.parentRunId ? ` and tags.mlflow.parentRunId = '${req.parentRunId}'` : ''}`;
    const existing = await deps.mlflow.searchRuns({ experimentIds: [req.experimentId], filter, maxResults: 1 });
    if (existing[0]) return { runId: existing[0].info.runId };
    const info = activityInfo();
    const model = req.train.model as { beta?: number; latentSize?: number };
    const runName = trialRunName({ beta: model.beta, latentSize: model.latentSize, seed: req.seed });
    const run = await deps.mlflow.createRun({
      experimentId: req.experimentId,
      runName,
      ...(req.parentRunId ? { parentRunId: req.parentRunId } : {}),
      tags: {
        ...standardTags({
          runName,
          sweepName: req.sweepName,
          trialKey: req.trialKey,
          workflowId: info.workflowExecution?.workflowId ?? '',
          workflowRunId: info.workflowExecution?.runId ?? '',
          replicas: req.replicas,
          backend: deps.slots.devices.some((d) => d !== '') ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node',
          device: deps.slots.devices.some((d) => d !== '') ? `GPU ${deps.slots.devices.join(',')}` : 'CPU',
        }),
        'dcign.workflowId': info.workflowExecution?.workflowId ?? '',
      },
    });
    const params: Record<string, string | number | boolean> = { seed: req.seed, replicas: req.replicas };
    flatten('', req.train as unknown as Record<string, unknown>, params);
    delete params.runDir;
    await deps.mlflow.logParams(run.info.runId, params);
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

    let rendezvous: RendezvousResult;
    const device = deps.slots.acquire();
    try {
      const port = await freePort(deps.advertiseHost);
      const endpoint = `tcp://${deps.advertiseHost.includes(':') ? `[${deps.advertiseHost}]` : deps.advertiseHost}:${port}`;
      const rdzv = new TemporalRendezvous(deps.temporal, { workflowId: input.trialWorkflowId, generation: input.generation, replicaIndex: input.replicaIndex });
      rendezvous = await abortable(rdzv.join(endpoint), ctx.cancellationSignal);
      const rank = rendezvous.rank;

      const config = {
        train: { ...input.train, runDir, ...(resumeFrom ? { resumeFrom } : {}) },
        rendezvous: { kind: 'static', endpoints: rendezvous.peers, rank, groupId: rendezvous.groupId, generation: rendezvous.generation },
        bind: deps.advertiseHost,
        timeoutMs: deps.ringTimeoutMs ?? 120_000,
      };
      // Rank 0's losses go to the trial's MLflow run from here (the worker), so the training child never waits on HTTP.
      const tracked = deps.mlflow && input.mlflowRunId && rank === 0 ? new CheckpointGatedMetrics(deps.mlflow, input.mlflowRunId) : undefined;
      const configPath = path.join(runDir, `replica-g${input.generation}-r${input.replicaIndex}.json`);
      await writeFile(configPath, JSON.stringify(config, null, 2));

      // Rank 0 forwards every log point (batched) and each checkpoint to the trial workflow.
      const handle = deps.temporal.workflow.getHandle(input.trialWorkflowId);
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
      const onMessage = (m: ReplicaMessage): void => {
        if (m.type === 'log') {
          step = m.step;
          losses = m.scalars;
          pending.push({ step: m.step, scalars: m.scalars });
          tracked?.add({ step: m.step, scalars: m.scalars });
          beat();
          send(false);
        } else if (m.type === 'checkpoint') {
          checkpoint = { step: m.step, path: m.path };
          step = Math.max(step, m.step);
          tracked?.checkpointed(m.step);
          beat();
          send(true);
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
          DCIGN_REPLICA_RANK: String(rank),
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
      await tracked?.close(exit.done !== undefined && exit.code === 0 && !ctx.cancellationSignal.aborted);
      if (ctx.cancellationSignal.aborted) throw new CancelledFailure(`replica ${rank} of ${input.trialKey} stopped: cancelled`);
      if (exit.done && exit.code === 0) {
        const r = exit.done;
        const finalStep = typeof r.step === 'number' ? r.step : step;
        // The trainer's TrainResult names its last checkpoint `lastCheckpoint` and its losses `lastScalars`.
        const ckptPath = typeof r.lastCheckpoint === 'string' ? r.lastCheckpoint : typeof r.checkpointPath === 'string' ? r.checkpointPath : undefined;
        const ckpt = ckptPath ? { step: finalStep, path: ckptPath } : checkpoint;
        if (r.lastScalars && typeof r.lastScalars === 'object') losses = r.lastScalars as Record<string, number>;
        return {
          rank,
          step: finalStep,
          ...(ckpt ? { checkpointPath: ckpt.path, checkpointStep: ckpt.step } : {}),
          ...(losses ? { losses } : {}),
          result: r,
        };
      }
      const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
      const why = exit.error?.message ?? (exit.stderrTail.trim() || 'no error message');
      const message = `replica ${rank} of ${input.trialKey} (generation ${input.generation}) ${how} at step ${step}: ${why}`;
      // Bad configuration never gets better by retrying: the child says so with exit code 2, an error of kind/code
      // 'config', or the trainer's ConfigError text ('invalid config: <field> ...').
      if (exit.code === 2 || exit.error?.kind === 'config' || exit.error?.kind === 'spawn' || /^invalid config:/.test(exit.error?.message ?? '')) {
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
  async function summarizeSweep(req: { progress: SweepProgress; model?: { beta?: unknown; latentSize?: unknown } }): Promise<void> {
    const p = req.progress;
    if (!deps.mlflow || !p.parentRunId) return;
    const num = (v: unknown): number => (typeof v === 'number' ? v : NaN);
    const rows = p.trials.map((t) => ({
      trialKey: t.key,
      ...(t.mlflowRunId ? { runId: t.mlflowRunId } : {}),
      beta: num(t.params.beta ?? req.model?.beta),
      latentSize: num(t.params.latentSize ?? req.model?.latentSize),
      seed: t.seed,
      status: t.state,
      metrics: t.metrics,
    }));
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

function flatten(prefix: string, obj: Record<string, unknown>, out: Record<string, string | number | boolean>): void {
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v === undefined || v === null) continue;
    if (typeof v === 'object' && !Array.isArray(v)) flatten(key, v as Record<string, unknown>, out);
    else out[key] = typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string' ? v : JSON.stringify(v);
  }
}

function prefixed(prefix: string, m: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [`${prefix}${k}`, v]));
}

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const a = srv.address();
      srv.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
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
