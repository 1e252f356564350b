// How a sweep opens and ends: the MLflow experiment and parent run (created, or reopened by a resume, or carried over
// by continue-as-new), the search beside it, continue-as-new once the history is long, cancellation of every trial
// still queued or running, and the summary written to the parent run. Deterministic; the I/O is in activities.
import {
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  upsertSearchAttributes,
} from '@temporalio/workflow';

import type { Activities } from '../workers/activities.js';
import type { SweepProgress } from '../src/contract/types.js';
import { SA_SWEEP, trialWorkflowId } from '../src/contract/index.js';
import type { SweepWorkflow } from '../src/contract/index.js';
import { startOptimizer, type Optimizer } from './optimize.js';
import { addTrials, running, settle, type SweepRun } from './sweep-state.js';

/** A new sweep creates its experiment and parent run; a resumed one reopens its parent run; a continued one has both. */
export async function openSweep(r: SweepRun, control: Activities): Promise<void> {
  const { input, spec, progress } = r;
  if (input.resumed) {
    // The experiment, parent run and trial runs exist: reopen the parent run, create nothing.
    r.searchAttributes = (await control.reopenSweep({ ...(progress.parentRunId ? { parentRunId: progress.parentRunId } : {}) })).searchAttributes;
    if (r.searchAttributes.includes(SA_SWEEP.name)) upsertSearchAttributes([{ key: SA_SWEEP, value: spec.name }]);
  } else if (!input.carried) {
    const setup = await control.setupSweep({ name: spec.name, spec, trialCount: progress.trials.length });
    r.searchAttributes = setup.searchAttributes;
    if (setup.experimentId) progress.experimentId = setup.experimentId;
    if (setup.parentRunId) progress.parentRunId = setup.parentRunId;
    if (r.searchAttributes.includes(SA_SWEEP.name)) upsertSearchAttributes([{ key: SA_SWEEP, value: spec.name }]);
  }
}

/** search.optimize: Optuna proposes the trials while the sweep runs (./optimize.ts); absent, nothing changes. */
export function startSearch(r: SweepRun): Optimizer | undefined {
  // Trials the search proposes are queued as `sweep add` queues them, without its checks: the keys are new.
  return r.spec.search.optimize ? startOptimizer(r.spec, r.progress, (plans) => void addTrials(r, plans)) : undefined;
}

/** Carries progress, queue and search attributes into a fresh run once every handler and the search are idle. */
export async function continueSweepAsNew(r: SweepRun): Promise<never> {
  const { input, spec, progress, queue, searchAttributes } = r;
  await condition(() => allHandlersFinished() && (r.search?.idle() ?? true));
  progress.continuedAsNew += 1;
  return await continueAsNew<SweepWorkflow>({
    spec,
    ...(input.maxHistoryEvents !== undefined ? { maxHistoryEvents: input.maxHistoryEvents } : {}),
    ...(input.progressReportMs !== undefined ? { progressReportMs: input.progressReportMs } : {}),
    carried: { progress, queue, searchAttributes },
  });
}

/** Stops the search, settles queued trials and cancels running ones, waiting a minute for them to confirm. */
export async function cancelSweep(r: SweepRun, control: Activities): Promise<void> {
  const { spec, progress, byKey } = r;
  r.search?.stop();
  await CancellationScope.nonCancellable(async () => {
    progress.state = 'cancelling';
    for (const key of r.queue.splice(0)) {
      const t = byKey.get(key);
      if (t?.state === 'paused' && t.mlflowRunId) {
        // its run stayed open for the trial to continue in; it will not
        await control.finishTrialRun({ runId: t.mlflowRunId, status: 'KILLED', metrics: t.metrics, error: r.cancelReason }).catch(() => undefined);
      }
      if (t && (t.state === 'pending' || t.state === 'paused')) settle(t, 'cancelled', r.cancelReason);
    }
    for (const t of running(r)) {
      try {
        await getExternalWorkflowHandle(trialWorkflowId(spec.name, t.key)).cancel();
      } catch {
        settle(t, 'cancelled', r.cancelReason); // already closed
      }
    }
    // Trials report 'cancelled' once their replicas are stopped; give them a minute, then record them anyway.
    await condition(() => running(r).length === 0, '1 minute');
    for (const t of running(r)) settle(t, 'cancelled', `${r.cancelReason} (no confirmation from the trial)`);
    progress.state = 'cancelled';
  });
}

/** Writes the sweep's summary to its parent run, even while the sweep is being cancelled. */
export async function finishSweep(r: SweepRun, control: Activities): Promise<SweepProgress> {
  await CancellationScope.nonCancellable(() => control.summarizeSweep({ progress: r.progress, model: r.spec.model }));
  return r.progress;
}
