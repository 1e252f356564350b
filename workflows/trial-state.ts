// What a trial workflow knows while it runs, and how it tells its sweep: the state every phase of trialWorkflow
// (./trial.ts) reads and advances, the activity proxies it calls, and the reports it signals to its parent.
// Workflow code: deterministic.
import { CancellationScope, condition, getExternalWorkflowHandle, isCancellation, proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';

import type { Activities } from '../workers/activities.js';
import type { TrialState } from '../src/contract/types.js';
import { SA_STATE, controlQueue, trialReportSignal } from '../src/contract/index.js';
import type { CheckpointRef, CurvePoint, TrialInput, TrialProgress, TrialReport, TrialResult } from '../src/contract/index.js';

export interface TrialActivities {
  /** The replicas: one attempt each (a lone replica cannot rejoin a running ring; the group restarts instead). */
  readonly training: Activities;
  /** Tracking and evaluation, on the control queue, retried. */
  readonly control: Activities;
}

export function trialActivities(input: TrialInput): TrialActivities {
  return {
    training: proxyActivities<Activities>({
      taskQueue: input.taskQueue,
      startToCloseTimeout: '30 days',
      heartbeatTimeout: `${input.retry.heartbeatTimeoutSeconds}s`,
      // A lone replica cannot rejoin a running ring: the workflow restarts the whole group instead of retrying one.
      retry: { maximumAttempts: 1 },
      cancellationType: 'WAIT_CANCELLATION_COMPLETED',
    }),
    control: proxyActivities<Activities>({
      taskQueue: controlQueue(input.taskQueue),
      startToCloseTimeout: '2 hours',
      heartbeatTimeout: '5 minutes',
      retry: { maximumAttempts: input.retry.activityMaxAttempts, initialInterval: '1s', nonRetryableErrorTypes: ['BadConfig'] },
    }),
  };
}

/**
 * Temporal patch: a stop decided after the last step stops the trial, which waits for the sweep's answer to every
 * rung it reported before its final evaluation. Trials started on older code replay through the old branch (the stop
 * ignored once trained to the end).
 */
export const PATCH_STOP_AFTER_LAST_STEP = 'stop-after-last-step';

export interface TrialRun {
  readonly input: TrialInput;
  readonly workflowId: string;
  state: TrialState;
  /** A continued trial numbers its generations on, so nothing of an earlier workflow's group passes for this one's. */
  generation: number;
  step: number;
  losses: Record<string, number>;
  metrics: Record<string, number>;
  /** With MLflow, only checkpoints stored there whole (`runs:/...`): a group restarted on any host can fetch them. */
  lastCheckpoint: CheckpointRef | undefined;
  curve: CurvePoint[];
  /** The current generation's rendezvous: replica index -> endpoint. */
  joined: Map<number, string>;
  mlflowRunId: string | undefined;
  error: string | undefined;
  readonly restarts: { generation: number; reason: string; resumeStep: number }[];
  pauseRequested: boolean;
  /** Set by early stopping (stopTrial); the trial then ends `stopped`. */
  stopReason: string | undefined;
  /** Rank 0 trained to the last step: a stop that comes now still stops the trial, until evaluatingFinal. */
  trainedToEnd: boolean;
  /** The final evaluation has begun: a stop that comes now is ignored (the trial completes). */
  evaluatingFinal: boolean;
  /** The current generation's replicas. */
  groupScope: CancellationScope | undefined;
  /** Progress reports are throttled: state changes at once, progress at most every progressReportMs. */
  reportDue: boolean;
  lastReportAt: number;
}

export function newTrialRun(input: TrialInput, workflowId: string): TrialRun {
  const lastCheckpoint = input.resume?.checkpoint;
  return {
    input,
    workflowId,
    state: 'pending',
    generation: input.resume?.generation ?? 0,
    step: lastCheckpoint?.step ?? 0,
    losses: {},
    metrics: {},
    lastCheckpoint,
    curve: [],
    joined: new Map(),
    mlflowRunId: undefined,
    error: undefined,
    restarts: [],
    pauseRequested: false,
    stopReason: undefined,
    trainedToEnd: false,
    evaluatingFinal: false,
    groupScope: undefined,
    reportDue: false,
    lastReportAt: -Infinity,
  };
}

export function trialProgress(r: TrialRun): TrialProgress {
  return {
    key: r.input.trial.key,
    state: r.state,
    generation: r.generation,
    step: r.step,
    losses: r.losses,
    ...(r.lastCheckpoint ? { lastCheckpoint: r.lastCheckpoint } : {}),
    joined: r.joined.size,
    replicas: r.input.replicas,
    restarts: r.restarts,
  };
}

/** What the workflow returns however it ends: the trial as it stands. */
export function trialResult(r: TrialRun, end: Pick<TrialResult, 'state' | 'stopped'>): TrialResult {
  const { trial } = r.input;
  return {
    key: trial.key,
    params: trial.params,
    seed: trial.seed,
    ...end,
    step: r.step,
    generations: r.generation + 1,
    metrics: r.metrics,
    losses: r.losses,
    ...(r.lastCheckpoint ? { checkpointUri: r.lastCheckpoint.uri } : {}),
    ...(r.mlflowRunId ? { mlflowRunId: r.mlflowRunId } : {}),
    curve: r.curve,
  };
}

/** Signals the trial as it stands to its sweep. */
export async function reportToSweep(r: TrialRun): Promise<void> {
  if (!r.input.parentWorkflowId) return;
  r.lastReportAt = Date.now();
  r.reportDue = false;
  const report: TrialReport = {
    key: r.input.trial.key,
    state: r.state,
    step: r.step,
    generation: r.generation,
    losses: r.losses,
    metrics: r.metrics,
    ...(r.lastCheckpoint ? { checkpointUri: r.lastCheckpoint.uri, checkpointStep: r.lastCheckpoint.step } : {}),
    ...(r.mlflowRunId ? { mlflowRunId: r.mlflowRunId } : {}),
    ...(r.error ? { error: r.error } : {}),
  };
  try {
    await getExternalWorkflowHandle(r.input.parentWorkflowId).signal(trialReportSignal, report);
  } catch (err) {
    // The sweep may have closed (cancelled or finished); the trial's own result still holds everything.
    if (isCancellation(err)) throw err;
  }
}

/** The state, also as the DcignState search attribute (when the server has it). */
export function markState(r: TrialRun, s: TrialState): void {
  r.state = s;
  if (r.input.searchAttributes.includes(SA_STATE.name)) upsertSearchAttributes([{ key: SA_STATE, value: s }]);
}

export async function setState(r: TrialRun, s: TrialState): Promise<void> {
  markState(r, s);
  await reportToSweep(r);
}

/** Progress reports run beside training, throttled in workflow time; cancel the returned scope to end them. */
export function startProgressReports(r: TrialRun): CancellationScope {
  const reportEvery = r.input.progressReportMs ?? 5000;
  const scope = new CancellationScope();
  const reporter = scope.run(async () => {
    for (;;) {
      await condition(() => r.reportDue);
      const wait = r.lastReportAt + reportEvery - Date.now();
      if (wait > 0) await condition(() => false, wait);
      await reportToSweep(r);
    }
  });
  reporter.catch(() => undefined);
  return scope;
}
