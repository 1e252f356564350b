// sweepWorkflow: expands the search space, opens the MLflow experiment and parent run, and runs up to
// maxConcurrentTrials trial workflows at a time. A failed trial is recorded, never fatal. Pause holds new trials and
// pauses running ones (each stops at a step boundary with a checkpoint and frees its slot), resume continues them from
// there, cancel stops every running trial (and its replicas), retry queues failed trials again. Trials report back by
// signal, so the sweep can continue as new at any moment without losing track of trials in flight. A run that
// continues an ended one (input.resumed) reuses its MLflow runs and starts only the trials it was given in its queue.
import {
  CancellationScope,
  ParentClosePolicy,
  WorkflowIdReusePolicy,
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  patched,
  proxyActivities,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';

import { expandTrials, trainConfigFor } from '../src/sweep/expand.js';
import type { Activities } from '../workers/activities.js';
import type { SweepProgress, TrialPlan, TrialStatus } from '../src/contract/types.js';
import {
  SA_SWEEP,
  addTrialsUpdate,
  cancelSignal,
  controlQueue,
  pauseSignal,
  pauseTrialSignal,
  progressQuery,
  resumeSignal,
  retryTrialsUpdate,
  specQuery,
  trialReportSignal,
  trialWorkflowId,
} from '../src/contract/index.js';
import type { CheckpointRef, SweepInput, SweepWorkflow, TrialInput, TrialResult } from '../src/contract/index.js';
import { failureMessage } from './failure-message.js';
import { trialWorkflow } from './trial.js';
import { handleRungReports } from './early-stopping.js';
import { trialEarlyStopping } from '../src/sweep/early-stopping.js';
import { startOptimizer } from './optimize.js';
import type { Optimizer } from './optimize.js';

const TERMINAL = new Set(['completed', 'stopped', 'failed', 'cancelled']);

/**
 * Workflow patches (Temporal's patched()): a sweep that started on older workflow code replays through its old
 * branch. test/workflows/replay-compat.test.ts replays histories recorded by the previous release.
 */
const PATCH_PAUSE_RUNNING_TRIALS = 'pause-running-trials';

export async function sweepWorkflow(input: SweepInput): Promise<SweepProgress> {
  const { spec } = input;
  const control = proxyActivities<Activities>({
    taskQueue: controlQueue(spec.taskQueue),
    startToCloseTimeout: '1 hour',
    retry: { maximumAttempts: spec.retry.activityMaxAttempts, initialInterval: '1s' },
  });
  const maxHistoryEvents = input.maxHistoryEvents ?? 10000;

  // ---- state (carried across continue-as-new, or taken over from an ended run by resume)
  let searchAttributes: readonly string[] = input.carried?.searchAttributes ?? [];
  const seeded = input.carried ?? input.resumed;
  const progress: SweepProgress = seeded?.progress ?? {
    name: spec.name,
    state: 'running',
    maxConcurrentTrials: spec.maxConcurrentTrials,
    trials: (input.trials ?? expandTrials(spec)).map(newStatus),
    continuedAsNew: 0,
  };
  if (input.resumed) progress.resumed = (progress.resumed ?? 0) + 1;
  const byKey = new Map(progress.trials.map((t) => [t.key, t]));
  const queue: string[] = seeded ? [...seeded.queue] : progress.trials.map((t) => t.key);
  let cancelRequested = progress.state === 'cancelling';
  let cancelReason = 'cancelled by request';
  // Trials holding a slot: paused and pending ones hold none.
  const running = (): TrialStatus[] => progress.trials.filter((t) => t.state !== 'pending' && t.state !== 'paused' && !TERMINAL.has(t.state));
  // Each start of a trial's workflow; a result of an earlier start (a paused workflow) never overwrites a later one.
  const starts = new Map<string, number>();
  let pauseTrialsDue = progress.state === 'paused' && running().length > 0;

  setHandler(progressQuery, () => progress);
  handleRungReports(spec, () => progress.trials);
  setHandler(specQuery, () => spec);
  setHandler(pauseSignal, () => {
    if (progress.state !== 'running') return;
    progress.state = 'paused';
    pauseTrialsDue = true;
  });
  setHandler(resumeSignal, () => {
    if (progress.state === 'paused') progress.state = 'running';
  });
  setHandler(cancelSignal, (reason) => {
    cancelRequested = true;
    if (reason) cancelReason = reason;
  });
  setHandler(trialReportSignal, (r) => {
    const t = byKey.get(r.key);
    if (!t || TERMINAL.has(t.state) || t.state === 'paused') return; // late report after the sweep recorded its end
    t.step = r.step;
    t.generation = r.generation;
    t.losses = r.losses;
    t.metrics = r.metrics;
    if (r.checkpointUri) t.checkpointUri = r.checkpointUri;
    if (r.checkpointStep !== undefined) t.checkpointStep = r.checkpointStep;
    if (r.mlflowRunId) t.mlflowRunId = r.mlflowRunId;
    if (r.error) t.error = r.error;
    if (r.state === 'paused') {
      pausedAt(t);
      return;
    }
    t.state = r.state;
    if (TERMINAL.has(r.state)) t.endedAt = Date.now();
  });
  setHandler(
    retryTrialsUpdate,
    (keys) => {
      const chosen = keys.length > 0 ? keys.map((k) => byKey.get(k) as TrialStatus) : progress.trials.filter((t) => t.state === 'failed');
      for (const t of chosen) {
        t.state = 'pending';
        delete t.error;
        delete t.endedAt;
        queue.push(t.key);
      }
      return chosen.map((t) => t.key);
    },
    {
      validator: (keys) => {
        if (cancelRequested || progress.state === 'cancelled' || progress.state === 'completed') {
          throw new Error(`sweep ${spec.name} is ${cancelRequested ? 'cancelling' : progress.state}; \`dcign sweep retry\` on an ended sweep starts a new run of it`);
        }
        for (const k of keys) {
          const t = byKey.get(k);
          if (!t) throw new Error(`sweep ${spec.name} has no trial '${k}'; \`dcign sweep status ${spec.name}\` lists its trials`);
          if (t.state !== 'failed') throw new Error(`trial '${k}' is ${t.state}, not failed; only failed trials are retried`);
        }
      },
    },
  );
  setHandler(
    addTrialsUpdate,
    (points) => {
      const added: string[] = [];
      for (const p of points) {
        if (byKey.has(p.key)) continue;
        const t = newStatus(p);
        progress.trials.push(t);
        byKey.set(t.key, t);
        queue.push(t.key);
        added.push(t.key);
      }
      return added;
    },
    {
      validator: (points) => {
        if (cancelRequested || progress.state === 'cancelled' || progress.state === 'completed') {
          throw new Error(`sweep ${spec.name} is ${cancelRequested ? 'cancelling' : progress.state}; it takes no new trials`);
        }
        if (!Array.isArray(points) || points.length === 0) throw new Error('addTrials needs at least one point');
        for (const p of points) {
          if (typeof p?.key !== 'string' || typeof p.seed !== 'number' || typeof p.params !== 'object') {
            throw new Error(`bad point ${JSON.stringify(p)}: expected {key, params, seed}`);
          }
        }
      },
    },
  );

  let search: Optimizer | undefined;
  try {
    if (input.resumed) {
      // The experiment, parent run and trial runs exist: reopen the parent run, create nothing.
      searchAttributes = (await control.reopenSweep({ ...(progress.parentRunId ? { parentRunId: progress.parentRunId } : {}) })).searchAttributes;
      if (searchAttributes.includes(SA_SWEEP.name)) upsertSearchAttributes([{ key: SA_SWEEP, value: spec.name }]);
    } else if (!input.carried) {
      const setup = await control.setupSweep({ name: spec.name, spec, trialCount: progress.trials.length });
      searchAttributes = setup.searchAttributes;
      if (setup.experimentId) progress.experimentId = setup.experimentId;
      if (setup.parentRunId) progress.parentRunId = setup.parentRunId;
      if (searchAttributes.includes(SA_SWEEP.name)) upsertSearchAttributes([{ key: SA_SWEEP, value: spec.name }]);
    }

    // search.optimize: Optuna proposes the trials while the sweep runs (workflows/optimize.ts); absent, nothing changes.
    search = spec.search.optimize ? startOptimizer(spec, progress, addPlans) : undefined;

    const startTrial = async (t: TrialStatus): Promise<void> => {
      // A trial that ran before (paused, or left unfinished by an ended run) continues from its newest checkpoint.
      const resume = t.startedAt === undefined ? undefined : { generation: t.generation + 1, ...(checkpointOf(t) ? { checkpoint: checkpointOf(t) } : {}) };
      const start = (starts.get(t.key) ?? 0) + 1;
      starts.set(t.key, start);
      const current = (): boolean => starts.get(t.key) === start;
      t.state = 'running';
      t.startedAt = Date.now();
      const trial: TrialPlan = { key: t.key, params: t.params, seed: t.seed };
      const train = trainConfigFor(spec, trial, `${spec.name}/${t.key}`);
      const earlyStopping = trialEarlyStopping(spec, train.steps);
      const trialInput: TrialInput = {
        sweepName: spec.name,
        trial,
        train,
        ...(earlyStopping ? { earlyStopping } : {}),
        replicas: spec.replicas,
        taskQueue: spec.taskQueue,
        evaluation: spec.evaluation,
        retry: spec.retry,
        ...(spec.checkpoints ? { checkpoints: spec.checkpoints } : {}), // absent in specs of sweeps started before it existed
        mlflow: {
          ...(progress.experimentId ? { experimentId: progress.experimentId } : {}),
          ...(progress.parentRunId ? { parentRunId: progress.parentRunId } : {}),
        },
        parentWorkflowId: workflowInfo().workflowId,
        searchAttributes,
        ...(input.progressReportMs !== undefined ? { progressReportMs: input.progressReportMs } : {}),
        ...(resume ? { resume } : {}),
      };
      try {
        const child = await startChild(trialWorkflow, {
          workflowId: trialWorkflowId(spec.name, t.key),
          args: [trialInput],
          taskQueue: spec.taskQueue,
          // Trials outlive a continue-as-new of their sweep; cancel reaches them through their ids.
          parentClosePolicy: ParentClosePolicy.ABANDON,
          workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
        });
        // Safety net for this run: a trial that ends without reporting (terminated, timed out) is still recorded.
        child.result().then(
          (r: TrialResult) => {
            if (!current()) return;
            if (r.state === 'paused') {
              if (r.checkpointUri) t.checkpointUri = r.checkpointUri;
              t.checkpointStep = r.step;
              pausedAt(t);
            } else settle(t, r.state, undefined, r.metrics);
          },
          (err: unknown) => {
            if (current()) settle(t, isCancellation(err) ? 'cancelled' : 'failed', failureMessage(err));
          },
        );
      } catch (err) {
        settle(t, 'failed', `could not start: ${failureMessage(err)}`);
      }
    };

    for (;;) {
      await condition(
        () =>
          cancelRequested ||
          pauseTrialsDue ||
          (queue.length === 0 && running().length === 0 && (search?.done() ?? true)) ||
          (progress.state === 'running' && queue.length > 0 && running().length < spec.maxConcurrentTrials) ||
          workflowInfo().historyLength > maxHistoryEvents ||
          workflowInfo().continueAsNewSuggested,
      );
      if (cancelRequested) break;
      if (pauseTrialsDue) {
        pauseTrialsDue = false;
        // Before this patch, pause only held new trials: a sweep paused under the older code replays without signals.
        if (patched(PATCH_PAUSE_RUNNING_TRIALS)) await pauseRunningTrials();
        continue;
      }
      if (queue.length === 0 && running().length === 0 && (search?.done() ?? true)) break;
      if (workflowInfo().historyLength > maxHistoryEvents || workflowInfo().continueAsNewSuggested) {
        await condition(() => allHandlersFinished() && (search?.idle() ?? true));
        progress.continuedAsNew += 1;
        await continueAsNew<typeof sweepWorkflow>({
          spec,
          ...(input.maxHistoryEvents !== undefined ? { maxHistoryEvents: input.maxHistoryEvents } : {}),
          ...(input.progressReportMs !== undefined ? { progressReportMs: input.progressReportMs } : {}),
          carried: { progress, queue, searchAttributes },
        });
      }
      while (progress.state === 'running' && queue.length > 0 && running().length < spec.maxConcurrentTrials) {
        const t = byKey.get(queue.shift() as string);
        if (t && (t.state === 'pending' || t.state === 'paused')) await startTrial(t);
      }
    }
  } catch (err) {
    if (!isCancellation(err)) throw err;
    cancelRequested = true;
    cancelReason = 'sweep workflow cancelled';
  }

  if (cancelRequested) {
    search?.stop();
    await CancellationScope.nonCancellable(async () => {
      progress.state = 'cancelling';
      for (const key of queue.splice(0)) {
        const t = byKey.get(key);
        if (t?.state === 'paused' && t.mlflowRunId) {
          // its run stayed open for the trial to continue in; it will not
          await control.finishTrialRun({ runId: t.mlflowRunId, status: 'KILLED', metrics: t.metrics, error: cancelReason }).catch(() => undefined);
        }
        if (t && (t.state === 'pending' || t.state === 'paused')) settle(t, 'cancelled', cancelReason);
      }
      for (const t of running()) {
        try {
          await getExternalWorkflowHandle(trialWorkflowId(spec.name, t.key)).cancel();
        } catch {
          settle(t, 'cancelled', cancelReason); // already closed
        }
      }
      // Trials report 'cancelled' once their replicas are stopped; give them a minute, then record them anyway.
      await condition(() => running().length === 0, '1 minute');
      for (const t of running()) settle(t, 'cancelled', `${cancelReason} (no confirmation from the trial)`);
      progress.state = 'cancelled';
    });
  } else {
    progress.state = 'completed';
  }
  await CancellationScope.nonCancellable(() => control.summarizeSweep({ progress, model: spec.model }));
  return progress;

  /** Queues trials the search proposed (as `sweep add` does, without its checks: the keys are new). */
  function addPlans(plans: readonly TrialPlan[]): void {
    for (const p of plans) {
      if (byKey.has(p.key)) continue;
      const t = newStatus(p);
      progress.trials.push(t);
      byKey.set(t.key, t);
      queue.push(t.key);
    }
  }

  /** Asks every running trial to stop at its next step boundary; each reports `paused` once its checkpoint is stored. */
  async function pauseRunningTrials(): Promise<void> {
    for (const t of running()) {
      try {
        await getExternalWorkflowHandle(trialWorkflowId(spec.name, t.key)).signal(pauseTrialSignal);
      } catch {
        // it has just ended; its report says how
      }
    }
  }

  /** A trial that stopped for a pause: it holds no slot and goes first in the queue, to continue on resume. */
  function pausedAt(t: TrialStatus): void {
    if (t.state === 'paused' || TERMINAL.has(t.state)) return;
    t.state = 'paused';
    if (t.checkpointStep !== undefined) t.step = t.checkpointStep;
    if (!queue.includes(t.key)) queue.unshift(t.key);
  }

  function settle(t: TrialStatus, state: 'completed' | 'stopped' | 'failed' | 'cancelled', error?: string, metrics?: Record<string, number>): void {
    if (TERMINAL.has(t.state)) return;
    t.state = state;
    if (error) t.error = error;
    if (metrics) t.metrics = metrics;
    t.endedAt = Date.now();
  }
}

/** Where a trial that ran before continues: its newest checkpoint the sweep heard of (the trial run may hold newer). */
function checkpointOf(t: TrialStatus): CheckpointRef | undefined {
  return t.checkpointUri !== undefined && t.checkpointStep !== undefined ? { step: t.checkpointStep, uri: t.checkpointUri } : undefined;
}

function newStatus(p: TrialPlan): TrialStatus {
  return { key: p.key, params: p.params, seed: p.seed, state: 'pending', step: 0, generation: 0, losses: {}, metrics: {} };
}

// The signature the contract promises to clients that start this workflow by name.
const _conforms: SweepWorkflow = sweepWorkflow;
