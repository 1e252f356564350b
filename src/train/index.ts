// Public entry of the training package.
export { runTraining, DivergedError, INIT_SALT } from './run.js';
export type { TrainHooks, TrainResult } from './run.js';
export { resolveTrainConfig, DEFAULT_TRAIN, ConfigError } from './config.js';
export type { TrainConfig, TrainConfigInput } from './config.js';
export { loadCheckpoint, saveCheckpoint, resolveCheckpointDir } from './checkpoint.js';
export { computeGradients, applyGradients, applyFlatGradients, flattenGradients, unflattenGradients, readScalars, parameterChecksum } from './step.js';
export { Adam } from './adam.js';
export { evaluateElbo } from './evaluate.js';
export type { GradientReducer } from './gradient-reducer.js';
export { launchLocalReplicas, spawnReplicas, resultOf, ReplicaGroup, ReplicaGroupError, REPLICA_CHILD_SCRIPT } from './launch-local.js';
export type { LaunchLocalOptions, SpawnReplicasOptions, ReplicaHandle, ReplicaOutcome } from './launch-local.js';
export type { ReplicaConfig, ReplicaMessage, ReplicaOutput, SupervisorMessage } from './replica-protocol.js';
