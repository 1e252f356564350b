// Early stopping, the trial's side: report the objective at each rung to the sweep, which may answer with stopTrial
// (./early-stopping.ts decides there). An evaluation metric is computed on the checkpoint written at each rung
// (./rung-evaluation.ts); the others are training scalars: a held-out objective is computed by rank 0 at the rung
// steps, a training loss is logged anyway. Workflow code: deterministic.
import { getExternalWorkflowHandle } from '@temporalio/workflow';

import { rungReachedSignal } from '../src/contract/index.js';
import type { CurvePoint } from '../src/contract/index.js';
import { rungEvaluations } from './rung-evaluation.js';
import type { RungEvaluations } from './rung-evaluation.js';
import type { TrialActivities, TrialRun } from './trial-state.js';

export interface TrialRungs {
  /** The rungs are judged on checkpoint evaluations: the trainer keeps each rung's checkpoint. */
  readonly evaluated: boolean;
  /** Present when `evaluated`: the evaluations running beside training. */
  readonly evaluations: RungEvaluations | undefined;
  /** A training point came in: reports every scalar rung it passed, in order. */
  reached(point: CurvePoint): void;
}

export function trialRungs(r: TrialRun, control: TrialActivities['control']): TrialRungs {
  const { input } = r;
  const evaluated = input.earlyStopping?.evaluated === true;
  const rungs = evaluated ? [] : (input.earlyStopping?.rungs ?? []);
  let nextRung = 0;
  // One report at a time: two signals sent at once may arrive in either order, and a rung is judged once.
  let rungReports: Promise<void> = Promise.resolve();
  const reportRung = (rung: number, at: number, value: number): Promise<void> => {
    const parent = input.parentWorkflowId;
    if (!parent) return Promise.resolve();
    return getExternalWorkflowHandle(parent)
      .signal(rungReachedSignal, { key: input.trial.key, rung, step: at, value })
      .catch(() => undefined); // the sweep has closed: nobody left to compare with
  };
  const evaluations =
    evaluated && input.earlyStopping
      ? rungEvaluations({
          rungs: input.earlyStopping.rungs,
          metric: input.earlyStopping.metric,
          // the metrics only, logged to the trial's run at the checkpoint's step (eval/<metric> over steps)
          evaluate: (checkpoint) =>
            control.evaluate({
              trialKey: input.trial.key,
              checkpoint,
              runDir: input.train.runDir,
              dataset: input.train.dataset,
              evaluation: input.evaluation,
              seed: input.trial.seed,
              metricsOnly: true,
              ...(r.mlflowRunId ? { mlflowRunId: r.mlflowRunId } : {}),
            }),
          report: reportRung,
        })
      : undefined;
  return {
    evaluated,
    evaluations,
    reached: (point) => {
      const value = input.earlyStopping ? point.scalars[input.earlyStopping.metric] : undefined;
      while (nextRung < rungs.length && point.step >= (rungs[nextRung] as number) && value !== undefined) {
        const rung = rungs[nextRung] as number;
        nextRung += 1;
        rungReports = rungReports.then(() => reportRung(rung, point.step, value));
      }
    },
  };
}
