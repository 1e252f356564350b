// Activities of the sweep and trial workflows, built by a factory over injected dependencies (STYLE.md), so the
// workflows, the worker and the tests are all typed from `ReturnType<typeof createActivities>`. Each group lives in
// its own module, by the workflow that calls it: ./sweep-activities.ts (the sweep's MLflow parent run and summary),
// ./trial-run-activities.ts (a trial's MLflow run), ./train-replica.ts (one replica of a trial's group) and
// ./evaluate-activity.ts (a trial's checkpoint evaluated), ./pbt-activities.ts (PBT's exploit copy and lineage).
import type { ActivityDeps } from './activity-deps.js';
import { CheckpointCache } from './checkpoint-cache.js';
import { createEvaluateActivity } from './evaluate-activity.js';
import { createSweepActivities } from './sweep-activities.js';
import { createPbtActivities } from './pbt-activities.js';
import { createTrainReplica } from './train-replica.js';
import { createTrialRunActivities } from './trial-run-activities.js';

/** The activity interface the workflows schedule, typed from the factory itself (STYLE.md: declared once). */
export type Activities = ReturnType<typeof createActivities>;

// eslint-disable-next-line @typescript-eslint/explicit-module-boundary-types
export function createActivities(deps: ActivityDeps) {
  // one cache for the host: replicas of a group and evaluations on it share a checkpoint's download
  const checkpoints = new CheckpointCache(deps.mlflow);
  const { setupSweep, reopenSweep, summarizeSweep } = createSweepActivities(deps);
  const { createTrialRun, pauseTrialRun, finishTrialRun } = createTrialRunActivities(deps);
  const { trainReplica } = createTrainReplica(deps, checkpoints);
  const { evaluate } = createEvaluateActivity(deps, checkpoints);
  const { copyPbtCheckpoint, recordPbtGeneration } = createPbtActivities(deps);
  return { setupSweep, reopenSweep, createTrialRun, pauseTrialRun, trainReplica, evaluate, finishTrialRun, summarizeSweep, copyPbtCheckpoint, recordPbtGeneration };
}
