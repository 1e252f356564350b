// sweepWorkflow: expands the search space, opens the MLflow experiment and parent run, and runs up to
// maxConcurrentTrials trial workflows at a time. A failed trial is recorded, never fatal. Pause holds new trials,
// resume releases them, cancel stops every running trial (and its replicas). Trials report back by signal, so the
// sweep can continue as new at any moment without losing track of trials in flight.
import {
  CancellationScope,
  ParentClosePolicy,
  WorkflowIdReusePolicy,
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
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
  progressQuery,
  resumeSignal,
  specQuery,
  trialReportSignal,
  trialWorkflowId,
} from '../src/contract/index.js';
import type { SweepInput, SweepWorkflow, TrialInput } from '../src/contract/index.js';
import { failureMessage, trialWorkflow } from './trial.js';
import { handleRungReports } from './early-stopping.js';
import { trialEarlyStopping } from '../src/sweep/early-stopping.js';

const TERMINAL = new Set(['completed', 'stopped', 'failed', 'cancelled']);

export async function sweepWorkflow(input: SweepInput): Promise<SweepProgress> {
  const { spec } = input;
  const control = proxyActivities<Activities>({
    taskQueue: controlQueue(spec.taskQueue),
    startToCloseTimeout: '1 hour',
    retry: { maximumAttempts: spec.retry.activityMaxAttempts, initialInterval: '1s' },
  });
  const maxHistoryEvents = input.maxHistoryEvents ?? 10000;

  // ---- state (carried across continue-as-new)
  let searchAttributes: readonly string[] = input.carried?.searchAttributes ?? [];
  const progress: SweepProgress = input.carried?.progress ?? {
    name: spec.name,
    state: 'running',
    maxConcurrentTrials: spec.maxConcurrentTrials,
    trials: (input.trials ?? expandTrials(spec)).map(newStatus),
    continuedAsNew: 0,
  };
  const byKey = new Map(progress.trials.map((t) => [t.key, t]));
  const queue: string[] = input.carried ? [...input.carried.queue] : progress.trials.map((t) => t.key);
  let cancelRequested = progress.state === 'cancelling';
  let cancelReason = 'cancelled by request';
  const running = (): TrialStatus[] => progress.trials.filter((t) => t.state !== 'pending' && !TERMINAL.has(t.state));

  setHandler(progressQuery, () => progress);
  handleRungReports(spec, () => progress.trials);
  setHandler(specQuery, () => spec);
  setHandler(pauseSignal, () => {
    if (progress.state === 'running') progress.state = 'paused';
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
    if (!t || TERMINAL.has(t.state)) return; // late report after the sweep recorded its end
    t.state = r.state;
    t.step = r.step;
    t.generation = r.generation;
    t.losses = r.losses;
    t.metrics = r.metrics;
    if (r.checkpointUri) t.checkpointUri = r.checkpointUri;
    if (r.mlflowRunId) t.mlflowRunId = r.mlflowRunId;
    if (r.error) t.error = r.error;
    if (TERMINAL.has(r.state)) t.endedAt = Date.now();
  });
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

  try {
    if (!input.carried) {
      const setup = await control.setupSweep({ name: spec.name, spec, trialCount: progress.trials.length });
      searchAttributes = setup.searchAttributes;
      if (setup.experimentId) progress.experimentId = setup.experimentId;
      if (setup.parentRunId) progress.parentRunId = setup.parentRunId;
      if (searchAttributes.includes(SA_SWEEP.name)) upsertSearchAttributes([{ key: SA_SWEEP, value: spec.name }]);
    }

    const startTrial = async (t: TrialStatus): Promise<void> => {
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
          (r) => settle(t, r.state, undefined, r.metrics),
          (err: unknown) => settle(t, isCancellation(err) ? 'cancelled' : 'failed', failureMessage(err)),
        );
      } catch (err) {
        settle(t, 'failed', `could not start: ${failureMessage(err)}`);
      }
    };

    for (;;) {
      await condition(
        () =>
          cancelRequested ||
          (queue.length === 0 && running().length === 0) ||
          (progress.state === 'running' && queue.length > 0 && running().length < spec.maxConcurrentTrials) ||
          workflowInfo().historyLength > maxHistoryEvents ||
          workflowInfo().continueAsNewSuggested,
      );
      if (cancelRequested) break;
      if (queue.length === 0 && running().length === 0) break;
      if (workflowInfo().historyLength > maxHistoryEvents || workflowInfo().continueAsNewSuggested) {
        await condition(allHandlersFinished);
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
        if (t && t.state === 'pending') await startTrial(t);
      }
    }
  } catch (err) {
    if (!isCancellation(err)) throw err;
    cancelRequested = true;
    cancelReason = 'sweep workflow cancelled';
  }

  if (cancelRequested) {
    await CancellationScope.nonCancellable(async () => {
      progress.state = 'cancelling';
      for (const key of queue.splice(0)) {
        const t = byKey.get(key);
        if (t && t.state === 'pending') settle(t, 'cancelled', cancelReason);
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

  function settle(t: TrialStatus, state: 'completed' | 'stopped' | 'failed' | 'cancelled', error?: string, metrics?: Record<string, number>): void {
    if (TERMINAL.has(t.state)) return;
    t.state = state;
    if (error) t.error = error;
    if (metrics) t.metrics = metrics;
    t.endedAt = Date.now();
  }
}

function newStatus(p: TrialPlan): TrialStatus {
  return { key: p.key, params: p.params, seed: p.seed, state: 'pending', step: 0, generation: 0, losses: {}, metrics: {} };
}

// The signature the contract promises to clients that start this workflow by name.
const _conforms: SweepWorkflow = sweepWorkflow;
