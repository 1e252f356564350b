// Data parallelism: ring all-reduce over ZeroMQ, rendezvous, the synthetic all-reduce workload.
export type { Rendezvous, RendezvousResult } from './types.js';
export { joinRing, RingReducer, RingError, chunkRange, DEFAULT_BUCKET_BYTES, DEFAULT_TIMEOUT_MS } from './ring.js';
export type { RingOptions, RingErrorCode } from './ring.js';
export { StaticRendezvous, pickFreePorts, localEndpoints, parseEndpoint } from './rendezvous.js';
export type { StaticRendezvousConfig } from './rendezvous.js';
export { loadCurveKeys, generateCurveKeyPair, parsePeerKeys } from './curve.js';
export type { CurveKeys, CurveKeySources } from './curve.js';
export { runExercise } from './exercise.js';
export type { ExerciseConfig, ExerciseResult } from './exercise.js';
export { threadShareEnv } from './threads.js';
