// A trial's replica group, one generation at a time: start R replicas as activities, supervise them until rank 0
// finishes, pauses or one fails, and on a failure restart the whole group from the last checkpoint under a new
// generation (stale replicas are then refused at the rendezvous). Workflow code: deterministic.
import { ApplicationFailure, CancellationScope } from '@temporalio/workflow';

import { DEFAULT_KEEP_CHECKPOINTS } from '../src/contract/index.js';
import type { Activities } from '../workers/activities.js';
import { failureMessage } from './failure-message.js';
import { markState, setState } from './trial-state.js';
import type { TrialActivities, TrialRun } from './trial-state.js';

export type GroupResult = Awaited<ReturnType<Activities['trainReplica']>>;

export interface Generation {
  readonly scope: CancellationScope;
  readonly replicas: readonly Promise<GroupResult>[];
}

/** Starts the current generation's replicas, each from the last checkpoint, in their own cancellation scope. */
export function startGeneration(r: TrialRun, training: TrialActivities['training'], train: Parameters<Activities['trainReplica']>[0]['train'], evaluatedRungs: boolean): Generation {
  const { input } = r;
  const scope = new CancellationScope();
  r.groupScope = scope;
  const gen = r.generation;
  const resumeFrom = r.lastCheckpoint;
  const replicas = Array.from({ length: input.replicas }, (_, replicaIndex) =>
    scope.run(() =>
      training.trainReplica({
        trialWorkflowId: r.workflowId,
        sweepName: input.sweepName,
        trialKey: input.trial.key,
        generation: gen,
        replicaIndex,
        replicas: input.replicas,
        train,
        ...(resumeFrom ? { resumeFrom } : {}),
        keepCheckpoints: input.checkpoints?.keep ?? DEFAULT_KEEP_CHECKPOINTS,
        // a rung's checkpoint outlives retention: its evaluation may fetch it after newer ones landed
        ...(evaluatedRungs && input.earlyStopping ? { keepCheckpointSteps: input.earlyStopping.rungs } : {}),
        ...(r.mlflowRunId ? { mlflowRunId: r.mlflowRunId } : {}),
      }),
    ),
  );
  return { scope, replicas };
}

/** Cancels a generation's replicas and waits until every one has ended. */
export async function stopGeneration(g: Generation): Promise<void> {
  g.scope.cancel();
  await CancellationScope.nonCancellable(() => Promise.allSettled(g.replicas));
}

/**
 * Waits for the generation: rank 0's result when it trained to its end or paused (its peers, waiting on it in the
 * ring, are then stopped); rejects when a replica failed or early stopping cancelled the group.
 */
export async function superviseGeneration(r: TrialRun, g: Generation): Promise<GroupResult | undefined> {
  const final = await groupOutcome(g.replicas, () => r.pauseRequested);
  if (final?.paused) await stopGeneration(g);
  else r.trainedToEnd = true;
  return final;
}

/**
 * After a replica failed (the group already stopped): a bad config or too many restarts fail the trial; otherwise
 * the next generation resumes from the last checkpoint, and the curve drops the steps after it.
 */
export async function restartGroup(r: TrialRun, err: unknown): Promise<void> {
  const { trial, retry } = r.input;
  const reason = failureMessage(err);
  const cause = err instanceof Error && 'cause' in err ? (err.cause as { nonRetryable?: boolean; type?: string } | undefined) : undefined;
  if (cause?.nonRetryable === true || cause?.type === 'BadConfig') {
    throw ApplicationFailure.nonRetryable(`trial ${trial.key}: ${reason}`, 'BadConfig');
  }
  if (r.restarts.length >= retry.maxGroupRestarts) {
    throw ApplicationFailure.nonRetryable(
      `trial ${trial.key} failed ${r.restarts.length + 1} times (limit retry.maxGroupRestarts=${retry.maxGroupRestarts}); last: ${reason}`,
      'TrialFailed',
    );
  }
  const resumeStep = r.lastCheckpoint?.step ?? 0;
  r.restarts.push({ generation: r.generation, reason, resumeStep });
  r.generation += 1;
  r.joined = new Map();
  r.step = resumeStep;
  r.curve = r.curve.filter((p) => p.step <= resumeStep);
  await setState(r, 'restarting');
  markState(r, 'running');
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
        (res) => {
          results[i] = res;
          settled += 1;
          if (i === 0 && res.paused) resolve(res);
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
