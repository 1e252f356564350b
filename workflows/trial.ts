// trialWorkflow: one model of a sweep. Creates its MLflow child run, trains R data-parallel replicas as activities
// with the workflow itself as their rendezvous (like torchrun's, with Temporal as the store), restarts the whole group
// from the last checkpoint under a new generation when any replica fails, evaluates, and reports to its sweep.
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';

import type { Activities } from '../workers/activities.js';
import type { TrialState } from '../src/contract/types.js';
import {
  DEFAULT_KEEP_CHECKPOINTS,
  SA_BETA,
  SA_LATENT,
  SA_MODEL,
  SA_ARCHITECTURE,
  SA_STATE,
  SA_SWEEP,
  SA_TRIAL,
  controlQueue,
  joinUpdate,
  checkpointStoredUpdate,
  replicaProgressSignal,
  rungReachedSignal,
  stopTrialSignal,
  trialCurveQuery,
  trialProgressQuery,
  trialReportSignal,
} from '../src/contract/index.js';
import type { CheckpointRef, CurvePoint, RendezvousResult, ReplicaProgress, TrialInput, TrialProgress, TrialReport, TrialResult, TrialWorkflow } from '../src/contract/index.js';

/** Longest curve kept in workflow state (payloads stay far below the 2 MB limit); older points are thinned. */
const MAX_CURVE_POINTS = 2000;

export async function trialWorkflow(input: TrialInput): Promise<TrialResult> {
  const { trial, replicas } = input;
  const info = workflowInfo();
  const heartbeatTimeout = `${input.retry.heartbeatTimeoutSeconds}s`;
  const training = proxyActivities<Activities>({
    taskQueue: input.taskQueue,
    startToCloseTimeout: '30 days',
    heartbeatTimeout,
    // A lone replica cannot rejoin a running ring: the workflow restarts the whole group instead of retrying one.
    retry: { maximumAttempts: 1 },
    cancellationType: 'WAIT_CANCELLATION_COMPLETED',
  });
  const control = proxyActivities<Activities>({
    taskQueue: controlQueue(input.taskQueue),
    startToCloseTimeout: '2 hours',
    heartbeatTimeout: '5 minutes',
    retry: { maximumAttempts: input.retry.activityMaxAttempts, initialInterval: '1s', nonRetryableErrorTypes: ['BadConfig'] },
  });

  let state: TrialState = 'pending';
  let generation = 0;
  let step = 0;
  let losses: Record<string, number> = {};
  let metrics: Record<string, number> = {};
  // With MLflow, only checkpoints stored there whole (`runs:/...`): a group restarted on any host can fetch them.
  let lastCheckpoint: CheckpointRef | undefined;
  let curve: CurvePoint[] = [];
  let joined = new Map<number, string>();
  let mlflowRunId: string | undefined;
  let error: string | undefined;
  const restarts: { generation: number; reason: string; resumeStep: number }[] = [];

  const progress = (): TrialProgress => ({
    key: trial.key,
    state,
    generation,
    step,
    losses,
    ...(lastCheckpoint ? { lastCheckpoint } : {}),
    joined: joined.size,
    replicas,
    restarts,
  });
  setHandler(trialProgressQuery, progress);
  setHandler(trialCurveQuery, () => curve);

  // ---- reporting to the sweep: state changes at once, progress at most every progressReportMs of workflow time
  const reportEvery = input.progressReportMs ?? 5000;
  let lastReportAt = -Infinity;
  let reportDue = false;
  const report = async (): Promise<void> => {
    if (!input.parentWorkflowId) return;
    lastReportAt = Date.now();
    reportDue = false;
    const r: TrialReport = {
      key: trial.key,
      state,
      step,
      generation,
      losses,
      metrics,
      ...(lastCheckpoint ? { checkpointUri: lastCheckpoint.uri } : {}),
      ...(mlflowRunId ? { mlflowRunId } : {}),
      ...(error ? { error } : {}),
    };
    try {
      await getExternalWorkflowHandle(input.parentWorkflowId).signal(trialReportSignal, r);
    } catch (err) {
      // The sweep may have closed (cancelled or finished); the trial's own result still holds everything.
      if (isCancellation(err)) throw err;
    }
  };
  /** The state, also as the DcignState search attribute (when the server has it). */
  const markState = (s: TrialState): void => {
    state = s;
    if (input.searchAttributes.includes(SA_STATE.name)) upsertSearchAttributes([{ key: SA_STATE, value: s }]);
  };
  const setState = async (s: TrialState): Promise<void> => {
    markState(s);
    await report();
  };

  // ---- early stopping: report the objective at each rung to the sweep, which may answer with stopTrial
  let stopReason: string | undefined;
  let trainedToEnd = false;
  let groupScope: CancellationScope | undefined; // the current generation's replicas
  const rungs = input.earlyStopping?.rungs ?? [];
  let nextRung = 0;
  // One report at a time: two signals sent at once may arrive in either order, and a rung is judged once.
  let rungReports: Promise<void> = Promise.resolve();
  const reachRungs = (point: CurvePoint): void => {
    const value = input.earlyStopping ? point.scalars[input.earlyStopping.metric] : undefined;
    const parent = input.parentWorkflowId;
    while (nextRung < rungs.length && point.step >= (rungs[nextRung] as number) && value !== undefined) {
      const rung = rungs[nextRung] as number;
      nextRung += 1;
      if (parent) {
        rungReports = rungReports
          .then(() => getExternalWorkflowHandle(parent).signal(rungReachedSignal, { key: trial.key, rung, step: point.step, value }))
          .catch(() => undefined); // the sweep has closed: nobody left to compare with
      }
    }
  };
  setHandler(stopTrialSignal, (reason) => {
    if (stopReason !== undefined || trainedToEnd) return; // a trial that trained to its end evaluates and completes
    stopReason = reason;
    groupScope?.cancel();
  });

  // ---- rendezvous: each replica of the current generation joins with its endpoint; all get the peer list
  setHandler(
    joinUpdate,
    async (req): Promise<RendezvousResult> => {
      joined.set(req.replicaIndex, req.endpoint);
      const gen = req.generation;
      await condition(() => generation !== gen || joined.size === replicas);
      if (generation !== gen) throw ApplicationFailure.nonRetryable(`generation ${gen} was replaced by ${generation} while joining`, 'StaleGeneration');
      const peers = Array.from({ length: replicas }, (_, i) => joined.get(i) as string);
      return { rank: req.replicaIndex, worldSize: replicas, generation: gen, peers, groupId: info.workflowId };
    },
    {
      validator: (req) => {
        if (req.generation !== generation) throw new Error(`stale generation ${req.generation}: the group is at generation ${generation}`);
        if (!Number.isInteger(req.replicaIndex) || req.replicaIndex < 0 || req.replicaIndex >= replicas) {
          throw new Error(`replica index ${req.replicaIndex} is outside 0..${replicas - 1}`);
        }
        if (typeof req.endpoint !== 'string' || !req.endpoint.startsWith('tcp://')) throw new Error(`bad endpoint ${String(req.endpoint)}`);
      },
    },
  );

  const applyProgress = (p: ReplicaProgress): void => {
    if (p.step > step) step = p.step;
    if (p.scalars) losses = p.scalars;
    if (p.checkpoint && (!lastCheckpoint || p.checkpoint.step >= lastCheckpoint.step)) lastCheckpoint = p.checkpoint;
    for (const point of p.points ?? []) {
      const last = curve[curve.length - 1];
      if (!last || point.step > last.step) curve.push(point);
      reachRungs(point);
    }
    if (curve.length > MAX_CURVE_POINTS) curve = curve.filter((_, i) => i % 2 === 0 || i >= curve.length - 100);
    reportDue = true;
  };
  setHandler(replicaProgressSignal, (p) => {
    if (p.generation === generation) applyProgress(p); // else a stale replica of a replaced group
  });
  setHandler(checkpointStoredUpdate, (p) => {
    if (p.generation !== generation) return false;
    applyProgress(p);
    return true;
  });

  /** Early stopping ended the trial: no evaluation; the run is closed as KILLED with the reason in its tags. */
  const stopped = async (reason: string): Promise<TrialResult> => {
    if (mlflowRunId) {
      await control.finishTrialRun({ runId: mlflowRunId, status: 'KILLED', metrics, tags: { 'dcign.state': 'stopped', 'dcign.stopped': reason } });
    }
    await setState('stopped');
    return {
      key: trial.key,
      params: trial.params,
      seed: trial.seed,
      state: 'stopped',
      stopped: reason,
      step,
      generations: generation + 1,
      metrics,
      losses,
      ...(lastCheckpoint ? { checkpointUri: lastCheckpoint.uri } : {}),
      ...(mlflowRunId ? { mlflowRunId } : {}),
      curve,
    };
  };

  try {
    // Only attributes the server has registered (an unknown one would fail the workflow task).
    const pairs: SearchAttributeUpdatePair[] = [
      { key: SA_SWEEP, value: input.sweepName },
      { key: SA_TRIAL, value: trial.key },
      { key: SA_MODEL, value: String(input.train.model.variant ?? '') },
      { key: SA_ARCHITECTURE, value: String(input.train.model.architecture ?? 'standard') },
    ];
    const beta = input.train.model.beta;
    const latent = input.train.model.latentSize;
    if (typeof beta === 'number') pairs.push({ key: SA_BETA, value: beta });
    if (typeof latent === 'number' && Number.isInteger(latent)) pairs.push({ key: SA_LATENT, value: latent });
    const usable = pairs.filter((p) => input.searchAttributes.includes(p.key.name));
    if (usable.length > 0) upsertSearchAttributes(usable);

    const run = await control.createTrialRun({
      sweepName: input.sweepName,
      trialKey: trial.key,
      params: trial.params,
      seed: trial.seed,
      train: input.train,
      replicas,
      ...input.mlflow,
    });
    mlflowRunId = run.runId;
    await setState('running');

    // Progress reports run beside training, throttled in workflow time.
    const reporterScope = new CancellationScope();
    const reporter = reporterScope.run(async () => {
      for (;;) {
        await condition(() => reportDue);
        const wait = lastReportAt + reportEvery - Date.now();
        if (wait > 0) await condition(() => false, wait);
        await report();
      }
    });
    reporter.catch(() => undefined);

    let final: Awaited<ReturnType<Activities['trainReplica']>> | undefined;
    while (stopReason === undefined) {
      const scope = new CancellationScope();
      groupScope = scope;
      const gen = generation;
      const resumeFrom = lastCheckpoint;
      const group = Array.from({ length: replicas }, (_, replicaIndex) =>
        scope.run(() =>
          training.trainReplica({
            trialWorkflowId: info.workflowId,
            sweepName: input.sweepName,
            trialKey: trial.key,
            generation: gen,
            replicaIndex,
            replicas,
            train: input.train,
            ...(resumeFrom ? { resumeFrom } : {}),
            keepCheckpoints: input.checkpoints?.keep ?? DEFAULT_KEEP_CHECKPOINTS,
            ...(mlflowRunId ? { mlflowRunId } : {}),
          }),
        ),
      );
      try {
        const results = await Promise.all(group);
        final = results[0];
        trainedToEnd = true;
        break;
      } catch (err) {
        scope.cancel();
        await CancellationScope.nonCancellable(() => Promise.allSettled(group));
        if (CancellationScope.current().consideredCancelled) throw err;
        if (stopReason !== undefined) break; // early stopping cancelled the group
        const reason = failureMessage(err);
        const cause = err instanceof Error && 'cause' in err ? (err.cause as { nonRetryable?: boolean; type?: string } | undefined) : undefined;
        if (cause?.nonRetryable === true || cause?.type === 'BadConfig') {
          throw ApplicationFailure.nonRetryable(`trial ${trial.key}: ${reason}`, 'BadConfig');
        }
        if (restarts.length >= input.retry.maxGroupRestarts) {
          throw ApplicationFailure.nonRetryable(
            `trial ${trial.key} failed ${restarts.length + 1} times (limit retry.maxGroupRestarts=${input.retry.maxGroupRestarts}); last: ${reason}`,
            'TrialFailed',
          );
        }
        // New generation: stale replicas are rejected at the rendezvous; the curve drops steps after the checkpoint.
        const resumeStep = lastCheckpoint?.step ?? 0;
        restarts.push({ generation, reason, resumeStep });
        generation += 1;
        joined = new Map();
        step = resumeStep;
        curve = curve.filter((p) => p.step <= resumeStep);
        await setState('restarting');
        markState('running');
      }
    }
    if (final?.checkpoint) lastCheckpoint = final.checkpoint;
    step = final?.step ?? step;
    if (final?.losses) losses = final.losses;
    reporterScope.cancel();
    if (stopReason !== undefined) return await stopped(stopReason);

    if (input.evaluation.enabled && lastCheckpoint) {
      await setState('evaluating');
      metrics = await control.evaluate({
        trialKey: trial.key,
        checkpoint: lastCheckpoint,
        runDir: input.train.runDir,
        dataset: input.train.dataset,
        evaluation: input.evaluation,
        seed: trial.seed,
        ...(mlflowRunId ? { mlflowRunId } : {}),
      });
    }
    if (mlflowRunId) await control.finishTrialRun({ runId: mlflowRunId, status: 'FINISHED', metrics });
    await setState('completed');
    return {
      key: trial.key,
      params: trial.params,
      seed: trial.seed,
      state: 'completed',
      step,
      generations: generation + 1,
      metrics,
      losses,
      ...(lastCheckpoint ? { checkpointUri: lastCheckpoint.uri } : {}),
      ...(mlflowRunId ? { mlflowRunId } : {}),
      curve,
    };
  } catch (err) {
    const cancelled = isCancellation(err);
    error = cancelled ? 'cancelled' : failureMessage(err);
    await CancellationScope.nonCancellable(async () => {
      if (mlflowRunId) {
        try {
          await control.finishTrialRun({ runId: mlflowRunId, status: cancelled ? 'KILLED' : 'FAILED', metrics, error });
        } catch {
          // tracking is best effort here; the failure itself is reported below
        }
      }
      await setState(cancelled ? 'cancelled' : 'failed');
    });
    throw err;
  }
}

/** The innermost message of an activity/child failure chain (what actually went wrong). */
export function failureMessage(err: unknown): string {
  let e: unknown = err;
  let msg = err instanceof Error ? err.message : String(err);
  while (e instanceof Error && e.cause instanceof Error) {
    e = e.cause;
    if (e instanceof Error && e.message) msg = e.message;
  }
  return msg;
}

// The signature the contract promises to clients that start this workflow by name.
const _conforms: TrialWorkflow = trialWorkflow;
