// What the trainer needs from data parallelism, declared next to the trainer that calls it. The ZeroMQ ring
// (src/parallel/ring.ts) satisfies it structurally, so the transport depends on nothing of the trainer's.

/** Averages gradients across replicas. A single replica uses none. */
export interface GradientReducer {
  readonly rank: number;
  readonly worldSize: number;
  /** Replaces buf, on every rank, with the element-wise mean of all ranks' buf. */
  allReduceMean(buf: Float32Array, step: number): Promise<void>;
  /** Replaces buf on every rank with rank 0's buf (initial parameters). */
  broadcast(buf: Float32Array, step: number): Promise<void>;
  /** Throws on every rank, naming the ranks, if the parameter checksums differ from rank 0's. */
  checkConsistent(checksum: number, step: number): Promise<void>;
  close(): Promise<void>;
}
