// Rendezvous through the trial workflow (the Temporal counterpart of torchrun's c10d store): each replica calls the
// workflow's `join` update with the endpoint it will bind and gets its rank and every peer once all R have joined.
// A replica of a replaced generation is rejected by the update's validator, so stale peers never form a ring.
import { Client, Connection } from '@temporalio/client';

import { joinUpdate } from '../../workflows/defs.js';
import type { Rendezvous, RendezvousResult } from './types.js';

export interface TemporalRendezvousConfig {
  /** The trial workflow, e.g. sweep/smoke/beta=4,seed=0. */
  readonly workflowId: string;
  readonly generation: number;
  readonly replicaIndex: number;
  /** Temporal frontend host:port (the child process connects on its own); default TEMPORAL_ADDRESS or 127.0.0.1:7233. */
  readonly address?: string;
  readonly namespace?: string;
}

export class TemporalRendezvous implements Rendezvous {
  constructor(
    private readonly client: Client,
    private readonly cfg: TemporalRendezvousConfig,
  ) {}

  async join(endpoint: string): Promise<RendezvousResult> {
    const handle = this.client.workflow.getHandle(this.cfg.workflowId);
    try {
      return await handle.executeUpdate(joinUpdate, {
        args: [{ generation: this.cfg.generation, replicaIndex: this.cfg.replicaIndex, endpoint }],
      });
    } catch (err) {
      const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
      throw new Error(
        `rendezvous of replica ${this.cfg.replicaIndex} (generation ${this.cfg.generation}) on ${this.cfg.workflowId} failed: ${(err as Error).message}${cause}`,
        { cause: err },
      );
    }
  }
}

/** For a replica process that talks to Temporal itself: connects, and returns the rendezvous and a close function. */
export async function connectTemporalRendezvous(cfg: TemporalRendezvousConfig): Promise<{ rendezvous: TemporalRendezvous; close: () => Promise<void> }> {
  const connection = await Connection.connect({ address: cfg.address ?? process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233' });
  const client = new Client({ connection, namespace: cfg.namespace ?? 'default' });
  return { rendezvous: new TemporalRendezvous(client, cfg), close: () => connection.close() };
}
