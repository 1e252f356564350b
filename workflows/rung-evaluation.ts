// Early stopping on an evaluation metric (mig, dci_disentanglement, ...): the trainer writes a checkpoint at each rung
// step; when the trial accepts one at or past the next rung, this evaluates it (metrics only) while training goes on,
// and reports the value for every rung it covers, in rung order, one report at a time. Workflow code: deterministic.
import { CancellationScope, isCancellation, log } from '@temporalio/workflow';

import type { CheckpointRef } from '../src/contract/index.js';
import { failureMessage } from './failure-message.js';

export interface RungEvaluations {
  /** A checkpoint the trial took as its resume point: evaluated when it reaches the next rung. */
  accepted(checkpoint: CheckpointRef): void;
  /** Resolves once every evaluation started so far has been reported or skipped. */
  settled(): Promise<void>;
  /** Cancels the evaluations still running (the trial was stopped, paused or ended). */
  cancel(): void;
}

export interface RungEvaluationOptions {
  readonly rungs: readonly number[];
  /** The objective's key in the evaluation's metrics. */
  readonly metric: string;
  readonly evaluate: (checkpoint: CheckpointRef) => Promise<Record<string, number>>;
  readonly report: (rung: number, step: number, value: number) => Promise<void>;
}

export function rungEvaluations(o: RungEvaluationOptions): RungEvaluations {
  const scope = new CancellationScope();
  let next = 0;
  let reports: Promise<void> = Promise.resolve();
  return {
    accepted(checkpoint) {
      const reached: number[] = [];
      while (next < o.rungs.length && checkpoint.step >= (o.rungs[next] as number)) reached.push(o.rungs[next++] as number);
      if (reached.length === 0) return;
      // Started at once, beside training (older checkpoints are pruned as new ones land); reported in rung order.
      const value = scope
        .run(() => o.evaluate(checkpoint))
        .then(
          (metrics) => {
            const v = metrics[o.metric];
            if (v !== undefined && Number.isFinite(v)) return v;
            log.warn(`rung ${reached.join(', ')} not judged: the evaluation at step ${checkpoint.step} has no finite ${o.metric}`, { metrics });
            return undefined;
          },
          // A failed rung evaluation does not fail the trial: the trial is simply not judged at that rung.
          (err: unknown) => {
            if (!isCancellation(err)) log.warn(`rung ${reached.join(', ')} not judged: the evaluation at step ${checkpoint.step} failed`, { error: failureMessage(err) });
            return undefined;
          },
        );
      reports = reports.then(async () => {
        const v = await value;
        if (v !== undefined) for (const rung of reached) await o.report(rung, checkpoint.step, v);
      });
    },
    settled: () => reports,
    cancel: () => scope.cancel(),
  };
}
