// The trial workflow's MLflow run (workflows/trial-lifecycle.ts): created (or found again, idempotently) under the
// sweep's parent run, marked paused, and finished with the trial's state and metrics.
import { activityInfo } from '@temporalio/activity';

import { findOrStartTrialRun, trialRunNameFor, type TrialConfigLike } from '../src/tracking/trial-logging.js';
import type { ParamValue, TrainConfigJson } from '../src/contract/types.js';
import type { CheckpointRef } from '../src/contract/index.js';
import { CheckpointStore } from '../src/tracking/index.js';
import type { ActivityDeps } from './activity-deps.js';

// eslint-disable-next-line @typescript-eslint/explicit-module-boundary-types
export function createTrialRunActivities(deps: ActivityDeps) {
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

  return { createTrialRun, pauseTrialRun, finishTrialRun };
}

/** The trial run's tag holding its state as the trial last set it (running, paused, completed, failed, cancelled). */
const TRIAL_STATE_TAG = 'dcign.state';
