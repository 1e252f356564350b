// MLflow tracking for dcign: a REST client (experiments, runs, batched metrics, artifacts through the server's proxy)
// and a buffered, spooling run logger for the trainer.
export { MlflowClient } from './client.js';
export { clientOptionsFromEnv, trackingUriFromEnv, DEFAULT_TRACKING_URI, type MlflowClientOptions } from './options.js';
export {
  proxyPathFromArtifactUri,
  type ArtifactInfo,
  type CreateRunOptions,
  type Experiment,
  type Run,
  type RunInfo,
  type RunStatus,
  type SearchRunsOptions,
} from './wire.js';
export { RunLogger, type RunLoggerOptions, type RunLoggerStats } from './run-logger.js';
export { defaultSpoolDir } from './run-spool.js';
export { MlflowError, isMlflowError } from './errors.js';
export { MLFLOW_LIMITS, splitBatches, type BatchLimits, type KeyValue, type LogBatchBody, type MetricPoint } from './batch.js';
export * from './trial-logging.js';
export * from './sweep-summary.js';
export { trackTraining, type TrackTrainingOptions, type TrainingTracker } from './train-tracking.js';
export {
  CheckpointStore,
  DurableCheckpointError,
  checkpointArtifactPath,
  CHECKPOINTS_ARTIFACT_DIR,
  MANIFEST_FILE,
  type CheckpointManifest,
  type StoredCheckpoint,
} from './checkpoint-store.js';
