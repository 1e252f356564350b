// The sweep's trials as child workflows: start the queued ones while slots are free (each `sweep/<name>/<trial>`,
// abandoned on the sweep's close so it outlives a continue-as-new), record how each ends even when it never reports,
// and ask running ones to pause (behind a patched() marker). Deterministic: the child's input is built from the spec and the trial's status.
import {
  ParentClosePolicy,
  WorkflowIdReusePolicy,
  getExternalWorkflowHandle,
  isCancellation,
  patched,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';

import { trainConfigFor } from '../src/sweep/expand.js';
import { trialEarlyStopping } from '../src/sweep/early-stopping.js';
import type { TrialPlan, TrialStatus } from '../src/contract/types.js';
import { pauseTrialSignal, trialWorkflowId } from '../src/contract/index.js';
import type { TrialInput, TrialResult } from '../src/contract/index.js';
import { failureMessage } from './failure-message.js';
import { checkpointOf, pausedAt, running, settle, slotFree, type SweepRun } from './sweep-state.js';
import { trialWorkflow } from './trial.js';

/** Starts queued trials, in queue order, while the sweep runs and a slot is free. */
export async function startQueuedTrials(r: SweepRun): Promise<void> {
  while (slotFree(r)) {
    const t = r.byKey.get(r.queue.shift() as string);
    if (t && (t.state === 'pending' || t.state === 'paused')) await startTrial(r, t);
  }
}

/**
 * Workflow patches (Temporal's patched()): a sweep that started on older workflow code replays through its old
 * branch. test/workflows/replay-compat.test.ts replays histories recorded by the previous releases.
 */
const PATCH_PAUSE_RUNNING_TRIALS = 'pause-running-trials';

/** The sweep was paused: running trials are asked to pause too (new trials are held by slotFree). */
export async function pauseTrials(r: SweepRun): Promise<void> {
  r.pauseTrialsDue = false;
  // Before this patch, pause only held new trials: a sweep paused under the older code replays without signals.
  if (patched(PATCH_PAUSE_RUNNING_TRIALS)) await pauseRunningTrials(r);
}

/** Asks every running trial to stop at its next step boundary; each reports `paused` once its checkpoint is stored. */
async function pauseRunningTrials(r: SweepRun): Promise<void> {
  for (const t of running(r)) {
    try {
      await getExternalWorkflowHandle(trialWorkflowId(r.spec.name, t.key)).signal(pauseTrialSignal);
    } catch {
      // it has just ended; its report says how
    }
  }
}

async function startTrial(r: SweepRun, t: TrialStatus): Promise<void> {
  const { spec } = r;
  const resume = resumeOf(t);
  const start = (r.starts.get(t.key) ?? 0) + 1;
  r.starts.set(t.key, start);
  const current = (): boolean => r.starts.get(t.key) === start;
  t.state = 'running';
  t.startedAt = Date.now();
  const trialInput = trialInputFor(r, t, resume);
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
      (res: TrialResult) => {
        if (!current()) return;
        if (res.state === 'paused') {
          if (res.checkpointUri) t.checkpointUri = res.checkpointUri;
          t.checkpointStep = res.step;
          pausedAt(r, t);
        } else settle(t, res.state, undefined, res.metrics);
      },
      (err: unknown) => {
        if (current()) settle(t, isCancellation(err) ? 'cancelled' : 'failed', failureMessage(err));
      },
    );
  } catch (err) {
    settle(t, 'failed', `could not start: ${failureMessage(err)}`);
  }
}

/** A trial that ran before (paused, or left unfinished by an ended run) continues from its newest checkpoint. */
function resumeOf(t: TrialStatus): TrialInput['resume'] {
  return t.startedAt === undefined ? undefined : { generation: t.generation + 1, ...(checkpointOf(t) ? { checkpoint: checkpointOf(t) } : {}) };
}

function trialInputFor(r: SweepRun, t: TrialStatus, resume: TrialInput['resume']): TrialInput {
  const { spec, progress, input } = r;
  const trial: TrialPlan = { key: t.key, params: t.params, seed: t.seed };
  const train = trainConfigFor(spec, trial, `${spec.name}/${t.key}`);
  const earlyStopping = trialEarlyStopping(spec, train.steps);
  return {
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
    searchAttributes: r.searchAttributes,
    ...(input.progressReportMs !== undefined ? { progressReportMs: input.progressReportMs } : {}),
    ...(resume ? { resume } : {}),
  };
}
