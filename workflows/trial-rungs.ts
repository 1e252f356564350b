// Early stopping, the trial's side: report the objective at each rung to the sweep, which may answer with stopTrial
// (./early-stopping.ts decides there). An evaluation metric is computed on the checkpoint written at each rung
// (./rung-evaluation.ts); the others are training scalars: a held-out objective is computed by rank 0 at the rung
// steps, a training loss is logged anyway. The sweep answers each report (rungPromoted, or stopTrial); a trial that
// trained to its end waits for every answer before it completes (answered()). Workflow code: deterministic.
import { condition, getExternalWorkflowHandle, setHandler } from '@temporalio/workflow';

import { rungPromotedSignal, rungReachedSignal } from '../src/contract/index.js';
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
  /**
   * Resolves once every rung report is sent and the sweep has answered each (or stopped the trial), or after
   * `timeout` (a sweep on older code never answers a promotion; a closed sweep answers nothing).
   */
  answered(timeout: string): Promise<void>;
}

export function trialRungs(r: TrialRun, control: TrialActivities['control']): TrialRungs {
  const { input } = r;
  const evaluated = input.earlyStopping?.evaluated === true;
  const rungs = evaluated ? [] : (input.earlyStopping?.rungs ?? []);
  let nextRung = 0;
  // One report at a time: two signals sent at once may arrive in either order, and a rung is judged once.
  let rungReports: Promise<void> = Promise.resolve();
  const sent = new Set<number>();
  const promoted = new Set<number>();
  setHandler(rungPromotedSignal, (rung) => void promoted.add(rung));
  const reportRung = (rung: number, at: number, value: number): Promise<void> => {
    const parent = input.parentWorkflowId;
    if (!parent) return Promise.resolve();
    return getExternalWorkflowHandle(parent)
      .signal(rungReachedSignal, { key: input.trial.key, rung, step: at, value })
      .then(
        () => void sent.add(rung),
        () => undefined, // the sweep has closed: nobody left to compare with, or to answer
      );
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
    answered: async (timeout) => {
      await rungReports;
      if (evaluations) await evaluations.settled();
      const done = (): boolean => r.stopReason !== undefined || [...sent].every((rung) => promoted.has(rung));
      if (!done()) await condition(done, timeout); // (no timer at all when nothing is awaited)
    },
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
