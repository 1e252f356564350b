// How a replica finds its group: the rendezvous interface and what it hands out, independent of the transport and of
// who keeps the store (a static list, the supervisor, or the Temporal trial workflow).

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
