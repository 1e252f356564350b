// Data parallelism: ring all-reduce over ZeroMQ, rendezvous, local multi-process launch.
export type { GradientReducer, Rendezvous, RendezvousResult } from './types.js';
export { joinRing, RingReducer, RingError, chunkRange, DEFAULT_BUCKET_BYTES, DEFAULT_TIMEOUT_MS } from './ring.js';
export type { RingOptions, RingErrorCode } from './ring.js';
export { StaticRendezvous, pickFreePorts, localEndpoints, parseEndpoint } from './rendezvous.js';
export type { StaticRendezvousConfig } from './rendezvous.js';
export { loadCurveKeys, generateCurveKeyPair, parsePeerKeys } from './curve.js';
export type { CurveKeys, CurveKeySources } from './curve.js';
export { launchLocalReplicas, spawnReplicas, resultOf, ReplicaGroup, ReplicaGroupError, REPLICA_CHILD_SCRIPT } from './launch-local.js';
export type { LaunchLocalOptions, SpawnReplicasOptions, ReplicaHandle, ReplicaOutcome } from './launch-local.js';
export type { ReplicaConfig, ReplicaMessage, RendezvousConfig, ExerciseConfig } from './replica-child.js';
export { threadShareEnv } from './threads.js';
