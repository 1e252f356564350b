// Data parallelism must not change the maths: R replicas with batch B/R each end with the same parameters as one
// replica with batch B. The sampler gives replica r the slice [rB/R, (r+1)B/R) of each global batch and the trainer
// draws each sample's noise from its global index, so both runs see the same images and the same noise; the only
// difference is float32 summation order (TF's per-batch reductions, the ring's chunked sums).
// Tolerances, with production Adam (epsilon 1e-8): a float32 sum of n ~ 1e4 terms in another order differs by about
// sqrt(n) * 2^-24 ~ 1e-5 relative, and Adam passes that on to each update. So the mean |difference| over the
// parameters stays below 1e-4 of the mean distance the last 10 steps moved them (measured: about 1e-6 of it), and no
// parameter differs by more than lr / 10 = 1e-4: a gradient that were float noise could make one run step the other
// way (a difference of about 2 lr per step); these seeded runs have none (measured max 2.2e-5 for R=2, 2.8e-5 for R=3).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import test from 'ava';

import { loadCheckpoint } from '../../src/train/checkpoint.js';
import type { TrainConfigInput } from '../../src/train/config.js';
import { runTraining, type TrainResult } from '../../src/train/run.js';
import { createBars } from '../helpers/bars.js';
import { closeAll, maxAbsDiff, ringGroup } from './helpers.js';

const TOLERANCE = 1e-4;
const ROUNDING = 1e-4;
const STEPS = 20;
const BATCH = 12; // divisible by 2 and 3

let root = '';
test.before(async () => {
  root = await mkdtemp(join(tmpdir(), 'dcign-parallel-train-'));
});
test.after.always(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

const config = (runDir: string): TrainConfigInput => ({
  dataset: 'bars',
  sampler: 'iid',
  model: { imageSize: 32, latentSize: 3, beta: 4 },
  steps: STEPS,
  batchSize: BATCH,
  learningRate: 1e-3,
  // production Adam: DEFAULT_TRAIN's beta1, beta2 and epsilon (1e-8); an epsilon of 1e-5 here once hid differences
  seed: 11,
  logEvery: 5,
  checkpointEvery: 10, // step 10's checkpoint is the yardstick of how far training moves the parameters
  consistencyEvery: 5,
  evalBatches: 0,
  runDir,
});

async function finalParams(result: TrainResult): Promise<Float32Array> {
  if (!result.lastCheckpoint) throw new Error('no final checkpoint');
  return (await loadCheckpoint(result.lastCheckpoint)).params;
}

let single: Promise<Float32Array> | undefined;
function singleReplica(): Promise<Float32Array> {
  single ??= runTraining(config(join(root, 'single')), { dataset: createBars() }).then(finalParams);
  return single;
}

for (const R of [2, 3]) {
  test.serial(`R=${R} replicas with batch ${BATCH}/${R} end where one replica with batch ${BATCH} does (max |diff| < ${TOLERANCE})`, async (t) => {
    const reference = await singleReplica();
    const group = await ringGroup(R, { timeoutMs: 60_000 });
    try {
      const results = await Promise.all(
        group.map((reducer) => runTraining(config(join(root, `r${R}`)), { dataset: createBars(), reducer })),
      );
      for (const r of results) t.is(r.step, STEPS);
      t.is(new Set(results.map((r) => r.paramChecksum)).size, 1, 'replicas disagree');
      const params = await finalParams(results[0] as TrainResult);
      const diff = maxAbsDiff(params, reference);
      t.log(`R=${R}: max |param difference| vs single replica = ${diff.toExponential(2)} over ${params.length} parameters`);
      let over = 0;
      for (let i = 0; i < params.length; i++) if (Math.abs((params[i] as number) - (reference[i] as number)) > TOLERANCE) over++;
      t.log(`${over} parameters differ by more than ${TOLERANCE}`);
      const mean = params.reduce((s, v, i) => s + Math.abs(v - (reference[i] as number)), 0) / params.length;
      const step10 = (await loadCheckpoint(join(root, 'single', 'checkpoints', 'step-00000010'))).params;
      const moved = step10.reduce((s, v, i) => s + Math.abs(v - (reference[i] as number)), 0) / params.length;
      t.log(`mean |param difference| ${mean.toExponential(2)}, mean distance of steps 11-20 ${moved.toExponential(2)}`);
      t.true(mean <= ROUNDING * moved, `mean |difference| ${mean} vs ${ROUNDING} x ${moved}`);
      t.true(diff < TOLERANCE);
    } finally {
      await closeAll(group);
    }
  });
}
