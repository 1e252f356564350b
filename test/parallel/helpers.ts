// Shared helpers for the parallel tests: in-process rings on loopback, reference means, child processes.
import { Rng } from '../../src/random.js';
import type { RingReducer } from '../../src/parallel/ring.js';
import { joinRing, type RingOptions } from '../../src/parallel/ring-join.js';
import { localEndpoints, StaticRendezvous } from '../../src/parallel/rendezvous.js';

let groupCounter = 0;

/** R reducers in this process, each with its own sockets, joined concurrently over loopback. */
export async function ringGroup(
  worldSize: number,
  opts: RingOptions & { generation?: number; groupId?: string } = {},
  perRank?: (rank: number) => RingOptions,
): Promise<RingReducer[]> {
  const endpoints = await localEndpoints(worldSize);
  const groupId = opts.groupId ?? `test-group-${process.pid}-${++groupCounter}`;
  return Promise.all(
    endpoints.map((_, rank) => {
      const rdv = new StaticRendezvous({ endpoints, rank, groupId, generation: opts.generation ?? 0 });
      return joinRing(rdv, { timeoutMs: 5000, ...opts, port: rdv.ownPort, ...perRank?.(rank) });
    }),
  );
}

export function randomBuffers(worldSize: number, n: number, seed: number): Float32Array[] {
  const rng = new Rng(seed);
  return Array.from({ length: worldSize }, () => Float32Array.from({ length: n }, () => rng.float() * 2 - 1));
}

/** Element-wise mean in float64. */
export function referenceMean(bufs: readonly Float32Array[]): Float64Array {
  const n = bufs[0]?.length ?? 0;
  const out = new Float64Array(n);
  for (const b of bufs) for (let i = 0; i < n; i++) out[i] = (out[i] as number) + (b[i] as number);
  for (let i = 0; i < n; i++) out[i] = (out[i] as number) / bufs.length;
  return out;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

export async function closeAll(reducers: readonly RingReducer[]): Promise<void> {
  await Promise.all(reducers.map((r) => r.close()));
}
