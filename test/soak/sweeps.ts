// The soak's workload: sweeps of real replicas (the real trainer on dsprites-small at 32x32, latent 4) with ASHA on the
// training loss, alternating 2- and 3-replica trials, one sweep after another until the soak's time is up.
import type { Client } from '@temporalio/client';

import { sweepWorkflowId } from '../../src/contract/index.js';
import type { SweepProgress, SweepSpec } from '../../src/contract/types.js';
import { SweepAlreadyRunningError, startSweep } from '../../src/sweep/control.js';
import { validateSweepSpec } from '../../src/sweep/spec.js';

export interface WorkloadOptions {
  readonly seed: number;
  readonly taskQueue: string;
  readonly steps: number;
  readonly logEvery: number;
  readonly checkpointEvery: number;
  /**
   * Generous: on a machine whose cores are shared with other work, a starved trainer (or worker) can miss a short
   * heartbeat deadline with nothing wrong, and the soak would then count restarts no fault caused.
   */
  readonly heartbeatSeconds: number;
}

/** The i-th sweep: replicas 2 for even i, 3 for odd; two learning rates, one far too small, so ASHA has a loser. */
export function sweepSpec(o: WorkloadOptions, i: number): SweepSpec {
  return validateSweepSpec({
    name: `soak-s${o.seed}-${i}`,
    dataset: 'dsprites-small',
    model: { variant: 'beta-vae', imageSize: 32, latentSize: 4, beta: 4 },
    train: { steps: o.steps, batchSize: 8, learningRate: 0.001, logEvery: o.logEvery, checkpointEvery: o.checkpointEvery, evalBatches: 0 },
    search: { grid: { learningRate: [0.001, 0.000001] }, seeds: [o.seed] },
    replicas: i % 2 === 0 ? 2 : 3,
    evaluation: { enabled: false },
    maxConcurrentTrials: 2,
    objective: 'loss',
    earlyStopping: { asha: { minSteps: Math.max(o.logEvery, Math.floor(o.steps / 4)), eta: 2 } },
    // enough restarts that a trial hit by several faults in a row still finishes; each fault costs at most one
    retry: { maxGroupRestarts: 8, heartbeatTimeoutSeconds: o.heartbeatSeconds, activityMaxAttempts: 10 },
    taskQueue: o.taskQueue,
  });
}

export interface SweepRecord {
  readonly spec: SweepSpec;
  readonly startedAt: number;
  endedAt?: number;
  result?: SweepProgress;
  /** Why it has no result (still running at the drain deadline, or its workflow failed). */
  error?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Waits for a sweep's workflow (its latest run, across continue-as-new) to close, polling describe so that a
 * Temporal outage is only a pause here, not an error; returns its result, or why there is none by `deadline`.
 */
export async function awaitSweep(client: Client, name: string, deadline: number): Promise<{ result?: SweepProgress; error?: string }> {
  const handle = client.workflow.getHandle(sweepWorkflowId(name));
  for (;;) {
    try {
      const d = await handle.describe();
      if (d.status.name !== 'RUNNING') {
        if (d.status.name === 'COMPLETED') return { result: (await handle.result()) as SweepProgress };
        return { error: `sweep workflow ${d.status.name}` };
      }
    } catch {
      // Temporal down: wait for it
    }
    if (Date.now() > deadline) return { error: 'still running at the drain deadline' };
    await sleep(3000);
  }
}

/**
 * Starts sweeps one after another until `until` (ms since epoch); the last one may run past it, up to `drainUntil`.
 * Start retries while Temporal is down.
 */
export async function runWorkload(client: Client, o: WorkloadOptions, until: number, drainUntil: number, log: (l: string) => void, stopped: () => boolean): Promise<SweepRecord[]> {
  const records: SweepRecord[] = [];
  for (let i = 0; Date.now() < until && !stopped(); i++) {
    const spec = sweepSpec(o, i);
    const rec: SweepRecord = { spec, startedAt: Date.now() };
    records.push(rec);
    for (;;) {
      try {
        await startSweep(client, spec);
        break;
      } catch (err) {
        // a start the server took before the connection broke: it runs
        if (err instanceof SweepAlreadyRunningError) break;
        if (Date.now() > drainUntil || stopped()) {
          rec.error = `could not start: ${(err as Error).message}`;
          return records;
        }
        await sleep(3000);
      }
    }
    log(`sweep ${spec.name}: started (${spec.replicas} replicas per trial)`);
    const r = await awaitSweep(client, spec.name, drainUntil);
    rec.endedAt = Date.now();
    if (r.result) rec.result = r.result;
    if (r.error) rec.error = r.error;
    log(`sweep ${spec.name}: ${r.error ?? r.result?.trials.map((t) => `${t.key} ${t.state}${t.error ? ` (${t.error.slice(0, 80)})` : ''}`).join('; ')}`);
  }
  return records;
}
