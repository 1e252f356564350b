// Links into the MLflow UI that open where researchers look: the training-runs view, not MLflow 3's GenAI layout.
//
// MLflow 3 picks its sidebar (GenAI: traces, judges, ...; or model training: runs, models) from the browser's
// localStorage key `mlflow.workflowType`, default GenAI, and not from the experiment's `mlflow.experimentKind` tag
// (mlflow/mlflow#24498, closed without a release that reconciles them; 3.17.2 and 3.18.0 behave alike). Its
// WorkflowTypeProvider does honour a `workflowType` query parameter on the route, so every link dcign prints
// carries it; the experiment tag stays set too (src/tracking/trial-logging.ts) for MLflow's own experiment lists.
const TRAINING_VIEW = 'workflowType=machine_learning';

const base = (trackingUri: string): string => trackingUri.replace(/\/$/, '');

/** The experiment's runs table in the model-training view (a sweep's parent run with its trials nested under it). */
export function mlflowExperimentLink(trackingUri: string, experimentId: string): string {
  return `${base(trackingUri)}/#/experiments/${experimentId}/runs?${TRAINING_VIEW}`;
}

/** One run's page in the model-training view. */
export function mlflowRunLink(trackingUri: string, experimentId: string, runId: string): string {
  return `${base(trackingUri)}/#/experiments/${experimentId}/runs/${runId}?${TRAINING_VIEW}`;
}
