// trialWorkflow: one model of a sweep. Creates its MLflow child run, trains R data-parallel replicas as activities
// with the workflow itself as their rendezvous (like torchrun's, with Temporal as the store), restarts the whole group
// from the last checkpoint under a new generation when any replica fails, evaluates, and reports to its sweep.
// A pause stops the group at a step boundary with a checkpoint and ends the workflow `paused`; a later workflow of the
// same trial (input.resume) continues from that checkpoint, in the same MLflow run.
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
import { failureMessage } from './failure-message.js';
import { rungEvaluations } from './rung-evaluation.js';
import { trainForEarlyStopping } from '../src/sweep/early-stopping.js';
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
  pauseRequestedQuery,
  pauseTrialSignal,
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
  // A continued trial numbers its generations on, so nothing of an earlier workflow's group passes for this one's.
  let generation = input.resume?.generation ?? 0;
  let losses: Record<string, number> = {};
  let metrics: Record<string, number> = {};
  // With MLflow, only checkpoints stored there whole (`runs:/...`): a group restarted on any host can fetch them.
  let lastCheckpoint: CheckpointRef | undefined = input.resume?.checkpoint;
  let step = lastCheckpoint?.step ?? 0;
  let pauseRequested = false;
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
  setHandler(pauseTrialSignal, () => {
    pauseRequested = true;
  });
  setHandler(pauseRequestedQuery, () => pauseRequested);

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
      ...(lastCheckpoint ? { checkpointUri: lastCheckpoint.uri, checkpointStep: lastCheckpoint.step } : {}),
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
  // An evaluation metric is computed on the checkpoint written at each rung (./rung-evaluation.ts); the others are
  // training scalars: a held-out objective is computed by rank 0 at the rung steps, a training loss is logged anyway.
  const evaluatedRungs = input.earlyStopping?.evaluated === true;
  const rungs = evaluatedRungs ? [] : (input.earlyStopping?.rungs ?? []);
  const replicaTrain = trainForEarlyStopping(input.train, input.earlyStopping);
  let nextRung = 0;
  // One report at a time: two signals sent at once may arrive in either order, and a rung is judged once.
  let rungReports: Promise<void> = Promise.resolve();
  const reportRung = (rung: number, at: number, value: number): Promise<void> => {
    const parent = input.parentWorkflowId;
    if (!parent) return Promise.resolve();
    return getExternalWorkflowHandle(parent)
      .signal(rungReachedSignal, { key: trial.key, rung, step: at, value })
      .catch(() => undefined); // the sweep has closed: nobody left to compare with
  };
  const rungEvals =
    evaluatedRungs && input.earlyStopping
      ? rungEvaluations({
          rungs: input.earlyStopping.rungs,
          metric: input.earlyStopping.metric,
          // the metrics only, logged to the trial's run at the checkpoint's step (eval/<metric> over steps)
          evaluate: (checkpoint) =>
            control.evaluate({
              trialKey: trial.key,
              checkpoint,
              runDir: input.train.runDir,
              dataset: input.train.dataset,
              evaluation: input.evaluation,
              seed: trial.seed,
              metricsOnly: true,
              ...(mlflowRunId ? { mlflowRunId } : {}),
            }),
          report: reportRung,
        })
      : undefined;
  const reachRungs = (point: CurvePoint): void => {
    const value = input.earlyStopping ? point.scalars[input.earlyStopping.metric] : undefined;
    while (nextRung < rungs.length && point.step >= (rungs[nextRung] as number) && value !== undefined) {
      const rung = rungs[nextRung] as number;
      nextRung += 1;
      rungReports = rungReports.then(() => reportRung(rung, point.step, value));
    }
  };
  setHandler(stopTrialSignal, (reason) => {
    if (stopReason !== undefined || trainedToEnd) return; // a trial that trained to its end evaluates and completes
    stopReason = reason;
    groupScope?.cancel();
    rungEvals?.cancel(); // a rung evaluation still running has nothing left to decide
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
    if (p.checkpoint && (!lastCheckpoint || p.checkpoint.step >= lastCheckpoint.step)) {
      lastCheckpoint = p.checkpoint;
      rungEvals?.accepted(p.checkpoint);
    }
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

  /** What this workflow returns however it ends: the trial as it stands. */
  const result = (end: Pick<TrialResult, 'state' | 'stopped'>): TrialResult => ({
    key: trial.key,
    params: trial.params,
    seed: trial.seed,
    ...end,
    step,
    generations: generation + 1,
    metrics,
    losses,
    ...(lastCheckpoint ? { checkpointUri: lastCheckpoint.uri } : {}),
    ...(mlflowRunId ? { mlflowRunId } : {}),
    curve,
  });

  /** Ends this workflow at its newest checkpoint; the MLflow run stays open for the workflow that continues it. */
  const paused = async (): Promise<TrialResult> => {
    step = lastCheckpoint?.step ?? 0;
    curve = curve.filter((p) => p.step <= step);
    if (mlflowRunId) await control.pauseTrialRun({ runId: mlflowRunId, step });
    await setState('paused');
    return result({ state: 'paused' });
  };

  /** Early stopping ended the trial: no evaluation; the run is closed as KILLED with the reason in its tags. */
  const stopped = async (reason: string): Promise<TrialResult> => {
    if (mlflowRunId) {
      await control.finishTrialRun({ runId: mlflowRunId, status: 'KILLED', metrics, tags: { 'dcign.state': 'stopped', 'dcign.stopped': reason } });
    }
    await setState('stopped');
    return result({ state: 'stopped', stopped: reason });
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
    // The run's newest stored checkpoint wins over what the sweep remembered (a report may have been lost).
    if (run.latestCheckpoint && run.latestCheckpoint.step >= (lastCheckpoint?.step ?? 0)) {
      lastCheckpoint = run.latestCheckpoint;
      step = lastCheckpoint.step;
    }
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
    for (;;) {
      if (pauseRequested || stopReason !== undefined) break; // asked before this generation started: nothing to stop
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
            train: replicaTrain,
            ...(resumeFrom ? { resumeFrom } : {}),
            keepCheckpoints: input.checkpoints?.keep ?? DEFAULT_KEEP_CHECKPOINTS,
            // a rung's checkpoint outlives retention: its evaluation may fetch it after newer ones landed
            ...(evaluatedRungs && input.earlyStopping ? { keepCheckpointSteps: input.earlyStopping.rungs } : {}),
            ...(mlflowRunId ? { mlflowRunId } : {}),
          }),
        ),
      );
      try {
        final = await groupOutcome(group, () => pauseRequested);
        if (final?.paused) {
          // Rank 0 stopped with its checkpoint; the others wait on it in the ring (or have failed for it): stop them.
          scope.cancel();
          await CancellationScope.nonCancellable(() => Promise.allSettled(group));
        } else trainedToEnd = true;
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

    if (final === undefined || final.paused) {
      rungEvals?.cancel(); // the continuing workflow judges the rung on its next checkpoint
      return await paused();
    }
    // Every rung the trial reached is recorded before its final evaluation (a stop that comes now is ignored: it
    // trained to its end).
    if (rungEvals) await rungEvals.settled();

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
    return result({ state: 'completed' });
  } catch (err) {
    const cancelled = isCancellation(err);
    error = cancelled ? 'cancelled' : failureMessage(err);
    rungEvals?.cancel();
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

/**
 * What a replica group came to: rank 0's result once every replica succeeded, or as soon as rank 0 reports it paused
 * (its peers then wait on it in the ring). A failure rejects at once, except a peer's while a pause is asked for:
 * that one is expected once rank 0 leaves the ring, so rank 0's own outcome decides.
 */
function groupOutcome<T extends { readonly paused?: boolean }>(group: readonly Promise<T>[], pausing: () => boolean): Promise<T | undefined> {
  return new Promise<T | undefined>((resolve, reject) => {
    const results: T[] = [];
    let settled = 0;
    let firstError: unknown;
    const finish = (): void => (firstError === undefined ? resolve(results[0]) : reject(firstError));
    group.forEach((p, i) => {
      p.then(
        (r) => {
          results[i] = r;
          settled += 1;
          if (i === 0 && r.paused) resolve(r);
          else if (settled === group.length) finish();
        },
        (err: unknown) => {
          settled += 1;
          firstError ??= err;
          if (i === 0 || !pausing()) reject(err);
          else if (settled === group.length) finish();
        },
      );
    });
  });
}


// The signature the contract promises to clients that start this workflow by name.
const _conforms: TrialWorkflow = trialWorkflow;
