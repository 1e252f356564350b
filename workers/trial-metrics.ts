// Rank 0's per-step losses on their way to the trial's MLflow run. Points are held until a checkpoint covers them:
// if the replica group dies, the restarted group retrains from its last checkpoint and logs those steps again, so
// holding back uncheckpointed points is what keeps every step in the final curve exactly once.
import { RunLogger, type MlflowClient } from '../src/tracking/index.js';

export interface StepScalars {
  readonly step: number;
  readonly scalars: Readonly<Record<string, number>>;
}

export class CheckpointGatedMetrics {
  private held: StepScalars[] = [];
  private readonly logger: RunLogger;

  constructor(client: MlflowClient, runId: string, spoolDir?: string) {
    this.logger = new RunLogger(client, runId, { ...(spoolDir ? { spoolDir } : {}), flushOnExit: true });
  }

  add(point: StepScalars): void {
    this.held.push(point);
  }

  /** A checkpoint at `step` makes every point up to it final. */
  checkpointed(step: number): void {
    const [final, rest] = partition(this.held, (p) => p.step <= step);
    this.held = rest;
    for (const p of final) this.logger.logMetrics(finite(p.scalars), p.step);
    // released losses leave at once rather than at the next interval: the window in which a host that dies right
    // after its checkpoint was accepted loses them shrinks to one request
    if (final.length > 0) void this.logger.flush().catch(() => undefined);
  }

  /** Training finished: everything held is final. Failed or cancelled: drop what no checkpoint covers. */
  async close(finished: boolean): Promise<void> {
    if (finished) this.checkpointed(Number.POSITIVE_INFINITY);
    this.held = [];
    await this.logger.close();
  }
}

function finite(scalars: Readonly<Record<string, number>>): Record<string, number> {
  return Object.fromEntries(Object.entries(scalars).filter(([, v]) => Number.isFinite(v)));
}

function partition<T>(items: readonly T[], pred: (t: T) => boolean): [T[], T[]] {
  const yes: T[] = [];
  const no: T[] = [];
  for (const i of items) (pred(i) ? yes : no).push(i);
  return [yes, no];
}
