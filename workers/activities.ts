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
import { executionTags } from '../src/graph/support.js';
import { threadShareEnv } from '../src/parallel/threads.js';
import type { TrainConfigInput } from '../src/train/config.js';
import { REPLICA_EXIT, trainedTo, type ReplicaConfig, type ReplicaMessage } from '../src/train/replica-protocol.js';
import type { ParamValue, SweepProgress, SweepSpec, TrainConfigJson } from '../src/contract/types.js';
import {
  DEFAULT_KEEP_CHECKPOINTS,
  SEARCH_ATTRIBUTE_TYPES,
  checkpointStoredUpdate,
  pauseRequestedQuery,
  replicaProgressSignal,
  specVariants,
} from '../src/contract/index.js';
import type { CheckpointRef, CurvePoint } from '../src/contract/index.js';
import { CheckpointStore } from '../src/tracking/index.js';
import { CheckpointCache, NoTrackingServerError } from './checkpoint-cache.js';
import { CheckpointUploader } from './checkpoint-uploader.js';
import { unreadableDatasetFile } from './dataset-check.js';
import { TemporalRendezvous } from './rendezvous.js';
import { spawnReplica } from './replica.js';
import { ringTimeoutMs } from './ring-timeout.js';
import { CheckpointGatedMetrics } from './trial-metrics.js';
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

export interface TrainReplicaInput {
  readonly trialWorkflowId: string;
  readonly sweepName: string;
  readonly trialKey: string;
  readonly generation: number;
  readonly replicaIndex: number;
  readonly replicas: number;
  /** runDir is relative to the worker's run root. */
  readonly train: TrainConfigJson;
  /** The checkpoint the group resumes from; fetched to this host first when it is stored in MLflow. */
  readonly resumeFrom?: CheckpointRef;
  /** Durable checkpoints to keep in the trial's MLflow run (rank 0 deletes older ones). */
  readonly keepCheckpoints?: number;
  /** Steps whose durable checkpoints are kept besides (early stopping's rungs, evaluated while training goes on). */
  readonly keepCheckpointSteps?: readonly number[];
  readonly mlflowRunId?: string;
}

export interface ReplicaResult {
  readonly rank: number;
  readonly step: number;
  /** Rank 0's final checkpoint: durable (stored in MLflow) when the trial is tracked. */
  readonly checkpoint?: CheckpointRef;
  readonly losses?: Record<string, number>;
  /** Rank 0 stopped early because its trial was paused; `checkpoint` holds `step`. */
  readonly paused?: boolean;
}

/** What a trainReplica heartbeat carries (and what a retried attempt resumes from). */
export interface ReplicaHeartbeat {
  readonly generation: number;
  readonly step: number;
  /** The newest checkpoint a resume may use: `runs:/...` once stored in MLflow, else a local path. */
  readonly checkpointUri?: string;
  readonly checkpointStep?: number;
}

/** The activity interface the workflows schedule, typed from the factory itself (STYLE.md: declared once). */
export type Activities = ReturnType<typeof createActivities>;

// eslint-disable-next-line @typescript-eslint/explicit-module-boundary-types
export function createActivities(deps: ActivityDeps) {
  const progressEvery = deps.progressIntervalMs ?? 2000;
  const checkpoints = new CheckpointCache(deps.mlflow);

  /** A local folder holding `ref` (fetched from MLflow when it is stored there); failures say what to do. */
  async function localCheckpoint(ref: CheckpointRef, runDir: string): Promise<string> {
    try {
      return await checkpoints.localDir(ref, runDir);
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      if (e instanceof NoTrackingServerError) throw ApplicationFailure.nonRetryable(e.message, 'BadConfig');
      throw ApplicationFailure.retryable(`cannot fetch checkpoint ${ref.uri} to ${runDir}: ${e.message}`, 'CheckpointUnavailable');
    }
  }

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
  }): Promise<{ runId?: string; latestCheckpoint?: CheckpointRef }> {
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
    const runId = run.info.runId;
    // A trial continued after a pause or an ended sweep keeps its run: reopened, and resumed from its newest
    // checkpoint stored whole (the durable record, whatever the workflow that stored it knew).
    if (run.info.status !== 'RUNNING') await deps.mlflow.updateRun(runId, { status: 'RUNNING' });
    await deps.mlflow.setTags(runId, { [TRIAL_STATE_TAG]: 'running' });
    const store = new CheckpointStore(deps.mlflow, runId);
    const latest = await store.latest();
    return { runId, ...(latest ? { latestCheckpoint: { step: latest.step, uri: store.uri(latest.artifactPath) } } : {}) };
  }

  /** Marks a trial paused in its MLflow run, which stays open for the trial to continue in. */
  async function pauseTrialRun(req: { runId: string; step: number }): Promise<void> {
    if (!deps.mlflow) return;
    await deps.mlflow.setTags(req.runId, { [TRIAL_STATE_TAG]: 'paused', 'dcign.pausedAtStep': String(req.step) });
  }

  /**
   * A sweep run that continues an ended one (`dcign sweep resume`): its parent run is reopened, nothing is created.
   * Returns the search attributes the server has, as setupSweep does.
   */
  async function reopenSweep(req: { parentRunId?: string }): Promise<{ searchAttributes: string[] }> {
    const searchAttributes = await hasSearchAttributes(deps.temporal, deps.namespace ?? 'default');
    if (deps.mlflow && req.parentRunId) {
      await deps.mlflow.updateRun(req.parentRunId, { status: 'RUNNING' });
      const wf = activityInfo().workflowExecution;
      if (wf) await deps.mlflow.setTags(req.parentRunId, { 'temporal.runId': wf.runId });
    }
    return { searchAttributes };
  }

  async function trainReplica(input: TrainReplicaInput): Promise<ReplicaResult> {
    const ctx = Context.current();
    const previous = activityInfo().heartbeatDetails as ReplicaHeartbeat | undefined;
    const unreadable = unreadableDatasetFile(input.train.dataset, deps.advertiseHost);
    if (unreadable) throw ApplicationFailure.nonRetryable(`replica #${input.replicaIndex} of ${input.trialKey}: ${unreadable}`, 'BadConfig');
    const runDir = path.resolve(deps.runRoot, input.train.runDir);
    await mkdir(runDir, { recursive: true });

    // Resume from the newer of: what the workflow knows, what our own last heartbeat said (a retried attempt).
    let resume = input.resumeFrom;
    if (previous?.generation === input.generation && previous.checkpointUri && previous.checkpointStep !== undefined && previous.checkpointStep >= (resume?.step ?? -1)) {
      resume = { step: previous.checkpointStep, uri: previous.checkpointUri };
    }
    let step = resume?.step ?? 0;
    let checkpoint: CheckpointRef | undefined = resume;
    let losses: Record<string, number> | undefined;
    const beat = (): void => heartbeat({ generation: input.generation, step, checkpointUri: checkpoint?.uri, checkpointStep: checkpoint?.step } satisfies ReplicaHeartbeat);
    const ticker = setInterval(beat, 1000);
    beat();

    const device = deps.slots.acquire();
    try {
      // A durable checkpoint is fetched into this host's run folder first (any host can resume any trial).
      const resumeFrom = resume ? await localCheckpoint(resume, runDir) : undefined;
      // The replica binds its all-reduce socket itself (port 0) and announces it; we join the trial workflow's
      // rendezvous with that endpoint and hand the group back. No port is picked here and bound later elsewhere.
      const config: ReplicaConfig = {
        train: { ...input.train, runDir, ...(resumeFrom ? { resumeFrom } : {}) } as TrainConfigInput,
        rendezvous: { kind: 'supervisor' },
        bind: deps.advertiseHost,
        timeoutMs: ringTimeoutMs(deps.ringTimeoutMs, activityInfo().heartbeatTimeoutMs),
        // every rank reports its step (one line per log interval), so any replica's failure names where it was;
        // only rank 0's reach the workflow and MLflow
        logAllRanks: true,
      };
      const configPath = path.join(runDir, `replica-g${input.generation}-r${input.replicaIndex}.json`);
      await writeFile(configPath, JSON.stringify(config, null, 2));

      // Rank 0 forwards every log point (batched) and each checkpoint to the trial workflow, and its losses to the
      // trial's MLflow run from here (the worker), so the training child never waits on HTTP. With MLflow, rank 0
      // also stores each checkpoint in the trial's run (in the background) and reports it only once it is stored.
      const handle = deps.temporal.workflow.getHandle(input.trialWorkflowId);
      const durable = deps.mlflow !== undefined && input.mlflowRunId !== undefined;
      let rank: number | undefined;
      let tracked: CheckpointGatedMetrics | undefined;
      let uploader: CheckpointUploader | undefined;
      let uploadFailure: Error | undefined;
      let pending: CurvePoint[] = [];
      let lastSent = 0;
      let sending: Promise<void> = Promise.resolve();
      /**
       * Sends progress (throttled unless forced). With `acknowledge`, as the checkpointStored update: resolves whether
       * the trial's current generation took the checkpoint (false for a replaced generation, or while Temporal is
       * unreachable); otherwise as a signal: resolves whether it was delivered.
       */
      const send = (force: boolean, acknowledge = false): Promise<boolean> => {
        if (rank !== 0) return Promise.resolve(false);
        const now = Date.now();
        if (!force && now - lastSent < progressEvery) return Promise.resolve(false);
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
        const delivered = sending
          .then(() => (acknowledge ? handle.executeUpdate(checkpointStoredUpdate, { args: [msg] }) : handle.signal(replicaProgressSignal, msg).then(() => true)))
          .catch(() => false);
        sending = delivered.then(() => undefined);
        return delivered;
      };
      // Rank 0 alone is told of a pause: it stops at a step boundary and keeps the checkpoint; its peers are stopped
      // by the workflow (their state is a copy of rank 0's, so a step they had begun is dropped, never half-kept).
      let pausePoll: NodeJS.Timeout | undefined;
      const watchForPause = (): void => {
        let asking = false;
        pausePoll = setInterval(() => {
          if (asking) return;
          asking = true;
          handle
            .query(pauseRequestedQuery)
            .then((requested) => {
              if (!requested) return;
              clearInterval(pausePoll);
              child.requestPause();
            })
            .catch(() => undefined) // Temporal unreachable for a moment: ask again at the next tick
            .finally(() => {
              asking = false;
            });
        }, deps.pausePollMs ?? 1000);
      };
      let joinFailure: Error | undefined;
      const rdzv = new TemporalRendezvous(deps.temporal, { workflowId: input.trialWorkflowId, generation: input.generation, replicaIndex: input.replicaIndex });
      const join = async (endpoint: string): Promise<void> => {
        try {
          const group = await abortable(rdzv.join(endpoint), ctx.cancellationSignal);
          rank = group.rank;
          if (rank === 0) watchForPause();
          if (durable && deps.mlflow && input.mlflowRunId && rank === 0) {
            const metrics = new CheckpointGatedMetrics(deps.mlflow, input.mlflowRunId);
            tracked = metrics;
            // MLflow's history decides what the checkpoint's carried losses still owe it (./trial-metrics.ts)
            if (resumeFrom) await metrics.resumeFrom(resumeFrom, Object.keys((await deps.mlflow.getRun(input.mlflowRunId)).data.metrics));
            uploader = new CheckpointUploader({
              store: new CheckpointStore(deps.mlflow, input.mlflowRunId),
              keep: input.keepCheckpoints ?? DEFAULT_KEEP_CHECKPOINTS,
              ...(input.keepCheckpointSteps ? { protect: input.keepCheckpointSteps } : {}),
              cacheDir: path.join(runDir, 'checkpoints'),
              ...(deps.uploadBackoff ? { backoff: deps.uploadBackoff } : {}),
              onDurable: async (ref) => {
                checkpoint = ref;
                beat();
                // The workflow learns the resume point before the losses it covers go to MLflow: a group restarted
                // from it retrains only steps whose losses were never logged (exactly once, see trial-metrics.ts).
                const told = await send(true, true);
                // A refused checkpoint keeps its losses held: a later accepted one releases them, or, if this group
                // was replaced, they are dropped with it and its successor logs those steps once.
                if (told) metrics.checkpointed(ref.step);
                return told;
              },
              onFatal: (err) => {
                uploadFailure = err;
                child.kill();
              },
              warn: (message) => console.warn(`[dcign worker] ${input.trialKey} generation ${input.generation}: ${message}`),
            });
          }
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
          void send(false);
        } else if (m.type === 'checkpoint') {
          step = Math.max(step, m.step);
          if (uploader) {
            tracked?.writeCarried(m.path, m.step);
            uploader.add({ step: m.step, path: m.path });
          } else {
            checkpoint = { step: m.step, uri: m.path };
            tracked?.checkpointed(m.step);
            beat();
            void send(true);
          }
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
        clearInterval(pausePoll);
      }
      const trainedOk = exit.done !== undefined && exit.code === REPLICA_EXIT.ok && !ctx.cancellationSignal.aborted;
      const up = uploader as CheckpointUploader | undefined; // assigned in a callback
      if (up) {
        if (trainedOk && exit.done) {
          // Training is over: the final checkpoint must be stored before the trial can evaluate or resume from it.
          const last = trainedTo(exit.done).checkpoint;
          if (last && last.step !== checkpoint?.step) up.add(last);
          try {
            await up.drain();
          } catch (err) {
            uploadFailure = err instanceof Error ? err : new Error(String(err));
          }
        } else {
          await up.stop();
        }
      }
      void send(true);
      await sending;
      await tracked?.close(trainedOk && !uploadFailure);
      if (ctx.cancellationSignal.aborted) throw new CancelledFailure(`replica ${input.replicaIndex} of ${input.trialKey} stopped: cancelled`);
      if (joinFailure) throw joinFailure;
      const who = `replica ${rank ?? `#${input.replicaIndex}`} of ${input.trialKey} (generation ${input.generation})`;
      const failed = uploadFailure as Error | undefined; // assigned in a callback
      if (failed) throw ApplicationFailure.nonRetryable(`${who}: ${failed.message}`, 'BadConfig', { step, checkpointUri: checkpoint?.uri });
      if (exit.done && exit.code === REPLICA_EXIT.ok) {
        const trained = trainedTo(exit.done);
        if (exit.done.kind !== 'train') throw ApplicationFailure.nonRetryable(`${who} ran a ${exit.done.kind} workload, not training`, 'BadConfig');
        const paused = exit.done.train.status === 'aborted';
        if (trained.scalars) losses = trained.scalars;
        if (rank === 0 && deps.mlflow && input.mlflowRunId && exit.done.train.stepExecution) {
          // The run was tagged from its config at start; this host may have trained eagerly (no graph addon here).
          await deps.mlflow
            .setTags(input.mlflowRunId, executionTags(exit.done.train.stepExecution))
            .catch((err: unknown) => console.warn(`[dcign worker] ${input.trialKey}: could not tag how its step ran: ${(err as Error).message}`));
        }
        // Tracked: the durable copy of the final checkpoint. Untracked: the replica's own folder, as it reported it.
        const ckpt = durable ? (rank === 0 ? checkpoint : undefined) : trained.checkpoint ? { step: trained.checkpoint.step, uri: trained.checkpoint.path } : checkpoint;
        return {
          rank: rank ?? input.replicaIndex,
          step: trained.step,
          ...(ckpt ? { checkpoint: ckpt } : {}),
          ...(losses ? { losses } : {}),
          ...(paused ? { paused } : {}),
        };
      }
      const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
      const why = exit.error?.message ?? lastWords(exit.stderrTail, exit.signal);
      const message = `${who} ${how} after step ${step}: ${why}`;
      // Bad configuration never gets better by retrying: the replica says so with kind 'config' (and exit code 2).
      if (exit.error?.kind === 'config' || exit.code === REPLICA_EXIT.config) {
        throw ApplicationFailure.nonRetryable(message, 'BadConfig', { step, checkpointUri: checkpoint?.uri });
      }
      throw ApplicationFailure.retryable(message, 'ReplicaFailed', { step, checkpointUri: checkpoint?.uri });
    } finally {
      clearInterval(ticker);
      deps.slots.release(device);
    }
  }

  async function evaluate(input: EvaluateInput): Promise<Record<string, number>> {
    if (!deps.evaluate) {
      throw ApplicationFailure.nonRetryable('this worker has no evaluator (src/metrics/evaluate.ts); set evaluation.enabled: false in the spec or wire one in', 'BadConfig');
    }
    // The final checkpoint may have been written on another host: fetch it here when it is stored in MLflow.
    const { checkpoint, runDir, ...rest } = input;
    const checkpointPath = await localCheckpoint(checkpoint, path.resolve(deps.runRoot, runDir));
    const req: EvaluateRequest = { ...rest, checkpointPath };
    // Heartbeats carry cancellation here (a stopped trial's rung evaluation) and keep a long evaluation alive.
    const ctx = Context.current();
    const ticker = setInterval(() => heartbeat(), 1000);
    let metrics: Record<string, number>;
    try {
      metrics = await deps.evaluate(req, ctx.cancellationSignal);
    } finally {
      clearInterval(ticker);
    }
    if (ctx.cancellationSignal.aborted) throw new CancelledFailure(`evaluation of ${input.trialKey} at step ${checkpoint.step}: cancelled`);
    // At the checkpoint's step: rung evaluations give eval/<metric> a history over steps, and the final one (at the
    // last step) stays the run's latest value, which MLflow picks by step.
    if (deps.mlflow && req.mlflowRunId) await deps.mlflow.logMetrics(req.mlflowRunId, prefixed('eval/', metrics), checkpoint.step);
    return metrics;
  }

  async function finishTrialRun(req: {
    runId: string;
    status: 'FINISHED' | 'FAILED' | 'KILLED';
    metrics: Record<string, number>;
    error?: string;
    /** e.g. early stopping's dcign.state = stopped and its reason */
    tags?: Record<string, string>;
  }): Promise<void> {
    if (!deps.mlflow) return;
    const state = { FINISHED: 'completed', FAILED: 'failed', KILLED: 'cancelled' }[req.status];
    await deps.mlflow.setTags(req.runId, { [TRIAL_STATE_TAG]: state, ...(req.error ? { 'dcign.error': req.error.slice(0, 4000) } : {}), ...req.tags });
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
    const counts = { completed: 0, stopped: 0, failed: 0, cancelled: 0 };
    for (const t of p.trials) if (t.state in counts) counts[t.state as keyof typeof counts] += 1;
    await deps.mlflow.logMetrics(p.parentRunId, {
      'trials/completed': counts.completed,
      'trials/stopped': counts.stopped,
      'trials/failed': counts.failed,
      'trials/cancelled': counts.cancelled,
    });
    await deps.mlflow.endRun(p.parentRunId, p.state === 'cancelled' ? 'KILLED' : counts.failed > 0 && counts.completed === 0 ? 'FAILED' : 'FINISHED');
  }

  return { setupSweep, reopenSweep, createTrialRun, pauseTrialRun, trainReplica, evaluate, finishTrialRun, summarizeSweep };
}

/** The trial run's tag holding its state as the trial last set it (running, paused, completed, failed, cancelled). */
const TRIAL_STATE_TAG = 'dcign.state';

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
