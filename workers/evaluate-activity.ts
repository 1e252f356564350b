// The trial workflow's evaluate activity: a rung's or the final checkpoint, fetched to this host when it is stored in
// MLflow, handed to the evaluator (workers/evaluate.ts), its metrics logged as eval/<metric> at the checkpoint's step.
import path from 'node:path';

import { ApplicationFailure, CancelledFailure, Context, heartbeat } from '@temporalio/activity';

import type { ActivityDeps, EvaluateInput, EvaluateRequest } from './activity-deps.js';
import type { CheckpointCache } from './checkpoint-cache.js';
import { localCheckpoint } from './local-checkpoint.js';

// eslint-disable-next-line @typescript-eslint/explicit-module-boundary-types
export function createEvaluateActivity(deps: ActivityDeps, checkpoints: CheckpointCache) {
  async function evaluate(input: EvaluateInput): Promise<Record<string, number>> {
    if (!deps.evaluate) {
      throw ApplicationFailure.nonRetryable('this worker has no evaluator (src/metrics/evaluate.ts); set evaluation.enabled: false in the spec or wire one in', 'BadConfig');
    }
    // The final checkpoint may have been written on another host: fetch it here when it is stored in MLflow.
    const { checkpoint, runDir, ...rest } = input;
    const checkpointPath = await localCheckpoint(checkpoints, checkpoint, path.resolve(deps.runRoot, runDir));
    const req: EvaluateRequest = { ...rest, checkpointPath };
    // Heartbeats carry cancellation here (a stopped trial's rung evaluation) and keep a long evaluation alive.
    const ctx = Context.current();
    const ticker = setInterval(() => heartbeat(), 1000);
    let metrics: Record<string, number>;
    try {
      metrics = await deps.evaluate(req, ctx.cancellationSignal);
    } finally {
      clearInterval(ticker);
    }
    if (ctx.cancellationSignal.aborted) throw new CancelledFailure(`evaluation of ${input.trialKey} at step ${checkpoint.step}: cancelled`);
    // At the checkpoint's step: rung evaluations give eval/<metric> a history over steps, and the final one (at the
    // last step) stays the run's latest value, which MLflow picks by step.
    if (deps.mlflow && req.mlflowRunId) await deps.mlflow.logMetrics(req.mlflowRunId, prefixed('eval/', metrics), checkpoint.step);
    return metrics;
  }

  return { evaluate };
}

function prefixed(prefix: string, m: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [`${prefix}${k}`, v]));
}
