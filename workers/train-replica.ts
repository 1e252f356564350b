// The trial workflow's trainReplica activity: one replica of a data-parallel group. It resumes from the group's
// checkpoint (fetched to this host when stored in MLflow), joins the trial's rendezvous, runs the replica process in a
// slot, forwards its progress and durable checkpoints to the workflow, polls for a pause (rank 0), and reports how the
// replica ended in words a person can act on.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { ApplicationFailure, CancelledFailure, Context, activityInfo, heartbeat } from '@temporalio/activity';

import { executionTags } from '../src/graph/support.js';
import { threadShareEnv } from '../src/parallel/threads.js';
import type { TrainConfigInput } from '../src/train/config.js';
import { REPLICA_EXIT, trainedTo, type ReplicaConfig, type ReplicaMessage } from '../src/train/replica-protocol.js';
import type { TrainConfigJson } from '../src/contract/types.js';
import { DEFAULT_KEEP_CHECKPOINTS, checkpointStoredUpdate, pauseRequestedQuery, replicaProgressSignal } from '../src/contract/index.js';
import type { CheckpointRef, CurvePoint } from '../src/contract/index.js';
import { CheckpointStore } from '../src/tracking/index.js';
import type { ActivityDeps } from './activity-deps.js';
import type { CheckpointCache } from './checkpoint-cache.js';
import { CheckpointUploader } from './checkpoint-uploader.js';
import { unreadableDatasetFile } from './dataset-check.js';
import { localCheckpoint } from './local-checkpoint.js';
import { TemporalRendezvous } from './rendezvous.js';
import { spawnReplica } from './replica.js';
import { ringTimeoutMs } from './ring-timeout.js';
import { CheckpointGatedMetrics } from './trial-metrics.js';

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

// eslint-disable-next-line @typescript-eslint/explicit-module-boundary-types
export function createTrainReplica(deps: ActivityDeps, checkpoints: CheckpointCache) {
  const progressEvery = deps.progressIntervalMs ?? 2000;

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
      const resumeFrom = resume ? await localCheckpoint(checkpoints, resume, runDir) : undefined;
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

  return { trainReplica };
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
