// Step time for a sweep's estimate, measured on this host with the real trainer: a few steps of each distinct trial
// shape (src/sweep/plan.ts), in this process, after warm-up steps that build the kernels. Every step reads its losses
// back (logEvery 1), so the interval between two log callbacks is one full step, device work included. One replica
// alone: the ring all-reduce of R > 1 replicas adds to this (README, Cluster: about 50 ms per step at 1 Gbit/s).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import type { SweepPlan, StepTime } from './plan.js';

export interface MeasureOptions {
  /** Steps timed after the warm-up (default 3). */
  readonly steps?: number;
  /** Steps run first and not timed: graph building and first allocations (default 2). */
  readonly warmup?: number;
  /** Called as each shape is done, for progress output. */
  readonly onShape?: (shape: string, t: StepTime) => void;
}

/** Measures each of the plan's shapes; the source names the backend and device it ran on. */
export async function measureStepTimes(plan: SweepPlan, o: MeasureOptions = {}): Promise<Map<string, StepTime>> {
  const steps = o.steps ?? 3;
  const warmup = o.warmup ?? 2;
  const [{ runTraining }, { loadBackend }, { openDataset }] = await Promise.all([import('../train/run.js'), import('../backend.js'), import('../data/index.js')]);
  const { info } = await loadBackend();
  const out = new Map<string, StepTime>();
  const dir = await mkdtemp(path.join(tmpdir(), 'dcign-step-time-'));
  try {
    for (const [key, { config }] of plan.shapes) {
      // An npz file lives on the workers: time the generated dSprites of the same image size instead (same tensors).
      const dataset = plan.workerFile !== undefined ? openDataset('dsprites', { imageSize: config.model.imageSize }) : undefined;
      const stamps: number[] = [];
      await runTraining(
        {
          ...config,
          batchSize: config.batchSize / plan.replicasPerTrial,
          steps: warmup + steps,
          logEvery: 1,
          checkpointEvery: 0,
          consistencyEvery: 0,
          evalBatches: 0,
          runDir: path.join(dir, String(out.size)),
        },
        { onLog: () => void stamps.push(performance.now()), ...(dataset ? { dataset } : {}) },
      );
      const timed = stamps.slice(warmup - 1); // from the end of the last warm-up step
      const first = timed[0];
      const last = timed[timed.length - 1];
      if (first === undefined || last === undefined || timed.length < 2) throw new Error(`step-time measurement of ${key} logged ${stamps.length} steps, expected ${warmup + steps}`);
      const t: StepTime = {
        msPerStep: (last - first) / (timed.length - 1),
        source: `measured here: ${steps} steps after ${warmup} warm-up on ${info.variant === 'gpu' ? `GPU ${info.device}` : info.device}${dataset ? ', on generated dsprites of the same size' : ''}`,
      };
      out.set(key, t);
      o.onShape?.(key, t);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return out;
}
