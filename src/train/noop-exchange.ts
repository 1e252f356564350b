// A stand-in for the gradient exchange that keeps the rest of data-parallel training as it is: the replicas still
// join their ring and take rank 0's initial parameters, and every step still hands its flat gradient (the same
// Float32Array, the same shapes) to allReduceMean, which returns at once and leaves it as it was. bench:cluster times
// it on the same hosts as the real exchange: the difference between the two step times is the communication a step
// waits for, not the slowdown of replicas that share one machine's cores. The replicas' parameters drift apart
// under it, so it is for timing only (consistency checks are skipped).
import type { GradientReducer } from './gradient-reducer.js';

export function noopExchange(inner: GradientReducer): GradientReducer {
  return {
    rank: inner.rank,
    worldSize: inner.worldSize,
    allReduceMean: async () => undefined,
    broadcast: (buf, step) => inner.broadcast(buf, step),
    checkConsistent: async () => undefined,
    close: () => inner.close(),
  };
}
