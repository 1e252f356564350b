// How a trial workflow opens and ends: opened (search attributes, its MLflow child run), then completed (evaluated),
// paused at its newest checkpoint, stopped by early stopping, or failed/cancelled; each closes or keeps the MLflow run
// and reports the end to the sweep. Workflow code: deterministic.
import { CancellationScope, isCancellation, patched, upsertSearchAttributes } from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';

import { SA_ARCHITECTURE, SA_BETA, SA_LATENT, SA_MODEL, SA_SWEEP, SA_TRIAL } from '../src/contract/index.js';
import type { TrialResult } from '../src/contract/index.js';
import { failureMessage } from './failure-message.js';
import type { TrialRungs } from './trial-rungs.js';
import { PATCH_STOP_AFTER_LAST_STEP, setState, trialResult } from './trial-state.js';
import type { TrialActivities, TrialRun } from './trial-state.js';

type Control = TrialActivities['control'];

/** Search attributes, the trial's MLflow child run (its newest stored checkpoint, if any), state `running`. */
export async function openTrial(r: TrialRun, control: Control): Promise<void> {
  const { input } = r;
  // Only attributes the server has registered (an unknown one would fail the workflow task).
  const pairs: SearchAttributeUpdatePair[] = [
    { key: SA_SWEEP, value: input.sweepName },
    { key: SA_TRIAL, value: input.trial.key },
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
    trialKey: input.trial.key,
    params: input.trial.params,
    seed: input.trial.seed,
    train: input.train,
    replicas: input.replicas,
    ...input.mlflow,
  });
  r.mlflowRunId = run.runId;
  // The run's newest stored checkpoint wins over what the sweep remembered (a report may have been lost).
  // A PBT member resumes from the checkpoint it was given (a donor's copy) unless its run holds a newer one.
  const newer = (step: number, given: number): boolean => (input.pbt ? step > given : step >= given);
  if (run.latestCheckpoint && newer(run.latestCheckpoint.step, r.lastCheckpoint?.step ?? 0)) {
    r.lastCheckpoint = run.latestCheckpoint;
    r.step = r.lastCheckpoint.step;
  }
  await setState(r, 'running');
}

/**
 * Trained to its end: every rung it reached is judged (a rung that loses stops it even now, so the outcome depends on
 * the recorded values, not on a race with the last step), then the final evaluation, and the run is FINISHED.
 */
export async function completeTrial(r: TrialRun, control: Control, rungs: TrialRungs): Promise<TrialResult> {
  const { input } = r;
  if (patched(PATCH_STOP_AFTER_LAST_STEP)) {
    await rungs.answered('2 minutes');
    if (r.stopReason !== undefined) return await stopTrial(r, control, r.stopReason);
  } else if (rungs.evaluations) {
    await rungs.evaluations.settled();
  }
  r.evaluatingFinal = true; // a stop that comes now is ignored: it trained to its end and is being evaluated
  if (input.evaluation.enabled && r.lastCheckpoint) {
    await setState(r, 'evaluating');
    r.metrics = await control.evaluate({
      trialKey: input.trial.key,
      checkpoint: r.lastCheckpoint,
      runDir: input.train.runDir,
      dataset: input.train.dataset,
      evaluation: input.evaluation,
      seed: input.trial.seed,
      ...(r.mlflowRunId ? { mlflowRunId: r.mlflowRunId } : {}),
    });
  }
  if (r.mlflowRunId) await control.finishTrialRun({ runId: r.mlflowRunId, status: 'FINISHED', metrics: r.metrics });
  await setState(r, 'completed');
  return trialResult(r, { state: 'completed' });
}

/** Ends this workflow at its newest checkpoint; the MLflow run stays open for the workflow that continues it. */
export async function pauseTrial(r: TrialRun, control: Control, rungs: TrialRungs): Promise<TrialResult> {
  rungs.evaluations?.cancel(); // the continuing workflow judges the rung on its next checkpoint
  r.step = r.lastCheckpoint?.step ?? 0;
  r.curve = r.curve.filter((p) => p.step <= r.step);
  if (r.mlflowRunId) await control.pauseTrialRun({ runId: r.mlflowRunId, step: r.step });
  await setState(r, 'paused');
  return trialResult(r, { state: 'paused' });
}

/** Early stopping ended the trial: no evaluation; the run is closed as KILLED with the reason in its tags. */
export async function stopTrial(r: TrialRun, control: Control, reason: string): Promise<TrialResult> {
  if (r.mlflowRunId) {
    await control.finishTrialRun({ runId: r.mlflowRunId, status: 'KILLED', metrics: r.metrics, tags: { 'dcign.state': 'stopped', 'dcign.stopped': reason } });
  }
  await setState(r, 'stopped');
  return trialResult(r, { state: 'stopped', stopped: reason });
}

/** Failed or cancelled: the run is closed FAILED or KILLED (best effort) and the sweep told, even when cancelled. */
export async function failTrial(r: TrialRun, control: Control, rungs: TrialRungs, err: unknown): Promise<void> {
  const cancelled = isCancellation(err);
  r.error = cancelled ? 'cancelled' : failureMessage(err);
  rungs.evaluations?.cancel();
  await CancellationScope.nonCancellable(async () => {
    if (r.mlflowRunId) {
      try {
        await control.finishTrialRun({ runId: r.mlflowRunId, status: cancelled ? 'KILLED' : 'FAILED', metrics: r.metrics, error: r.error });
      } catch {
        // tracking is best effort here; the failure itself is reported below
      }
    }
    await setState(r, cancelled ? 'cancelled' : 'failed');
  });
}
