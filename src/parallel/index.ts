// Data parallelism: ring all-reduce over ZeroMQ, rendezvous, the synthetic all-reduce workload.
export type { Rendezvous, RendezvousResult } from './types.js';
export { RingReducer } from './ring.js';
export type { ExchangeStats } from './ring.js';
export { joinRing, DEFAULT_BUCKET_BYTES, DEFAULT_TIMEOUT_MS } from './ring-join.js';
export type { RingOptions } from './ring-join.js';
export { RingError } from './ring-error.js';
export type { RingErrorCode } from './ring-error.js';
export { chunkRange } from './ring-schedule.js';
export { StaticRendezvous, pickFreePorts, localEndpoints, parseEndpoint } from './rendezvous.js';
export type { StaticRendezvousConfig } from './rendezvous.js';
export { loadCurveKeys, generateCurveKeyPair, parsePeerKeys } from './curve.js';
export type { CurveKeys, CurveKeySources } from './curve.js';
export { runExercise } from './exercise.js';
export type { ExerciseConfig, ExerciseResult } from './exercise.js';
export { threadShareEnv } from './threads.js';
