// Rendezvous through the trial workflow (the Temporal counterpart of torchrun's c10d store): the worker calls the
// workflow's `join` update with the endpoint its replica has bound and gets its rank and every peer once all R have
// joined, then hands that to the replica (src/train/replica-protocol.ts). The replica never talks to Temporal.
// A replica of a replaced generation is rejected by the update's validator, so stale peers never form a ring.
import type { Client } from '@temporalio/client';

import { joinUpdate } from '../src/contract/index.js';
import type { Rendezvous, RendezvousResult } from '../src/parallel/types.js';

export interface TemporalRendezvousConfig {
  /** The trial workflow, e.g. sweep/smoke/beta=4,seed=0. */
  readonly workflowId: string;
  readonly generation: number;
  readonly replicaIndex: number;
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
