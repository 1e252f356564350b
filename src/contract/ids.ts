// Workflow ids and task-queue names: meaningful, derived from the sweep's name, so a second start of the same sweep
// is refused by Temporal and every trial can be found from the CLI without a lookup.

export const sweepWorkflowId = (name: string): string => `sweep/${name}`;
export const trialWorkflowId = (sweepName: string, trialKey: string): string => `sweep/${sweepName}/${trialKey}`;
/** Bookkeeping activities (MLflow runs, evaluation, summary) run here; the spec's queue is for training slots. */
export const controlQueue = (taskQueue: string): string => `${taskQueue}.control`;
