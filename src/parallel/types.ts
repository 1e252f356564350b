// What the trainer needs from data parallelism, independent of the transport (ZeroMQ ring) and the rendezvous
// (static list of endpoints, or the Temporal trial workflow).

/** Where a replica stands in its group, as handed out by a rendezvous. */
export interface RendezvousResult {
  readonly rank: number;
  readonly worldSize: number;
  /** Bumped whenever the group restarts; frames from an older generation are rejected. */
  readonly generation: number;
  /** ZeroMQ endpoint of every rank, indexed by rank (e.g. tcp://10.0.0.5:41001). */
  readonly peers: readonly string[];
  /** Identifies the trial; frames from another trial are rejected. */
  readonly groupId: string;
}

export interface Rendezvous {
  /** Announce this replica's endpoint and wait until the whole group has joined. */
  join(endpoint: string): Promise<RendezvousResult>;
}

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
