// How long a replica waits to hear from its ring before it stops. A replica cut off from its peers must be gone by
// the time Temporal declares its activity dead (the heartbeat timeout) and the trial starts a new generation:
// otherwise two generations could both train and write the trial's checkpoints. So the ring timeout never exceeds
// 3/4 of the heartbeat timeout, whatever the worker was told.
export const DEFAULT_RING_TIMEOUT_MS = 120_000;

export function ringTimeoutMs(configured: number | undefined, heartbeatTimeoutMs: number | undefined): number {
  const want = configured ?? DEFAULT_RING_TIMEOUT_MS;
  return heartbeatTimeoutMs && heartbeatTimeoutMs > 0 ? Math.min(want, Math.floor(heartbeatTimeoutMs * 0.75)) : want;
}
