// DCIGN's training condition measured on a model (src/eval/dcign-recovery.ts): a trained DCIGN whose decoder is made
// to read z0 alone recovers all of x's variation through x's latent z0 (exactly 1) and none of y's through y's z1
// (exactly 0), and it leaves the tensor count flat.
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { dcignRecovery } from '../../src/eval/dcign-recovery.js';
import { tf } from '../../src/model/tf.js';
import { VaeModel } from '../../src/model/vae.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { resolveTrainConfig } from '../../src/train/config.js';
import { runTraining } from '../../src/train/run.js';
import { createBars } from '../helpers/bars.js';
import { smallTrainConfig } from '../helpers/small-train.js';

test('the assigned latent recovers its factor exactly when the decoder reads it alone, and nothing when it is ignored', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'dcign-recovery-'));
  try {
    const dataset = createBars();
    const model = { variant: 'dcign' as const, imageSize: 32, latentSize: 3, dcign: { clamp: 'mean' as const, assignment: { x: [0], y: [1], intensity: [2] } } };
    const cfg = smallTrainConfig(root, { steps: 60, batchSize: 16, learningRate: 3e-3, model });
    const r = await runTraining(cfg, { dataset });
    const ck = await loadCheckpoint(r.lastCheckpoint as string);
    const vae = new VaeModel(resolveTrainConfig(cfg).model, 0, { factors: dataset.factors, channels: 1 });
    try {
      vae.assignFlat(ck.params);
      // The decoder's first layer reads z0 only: rows 1 and 2 of dec.fc0.w set to 0.
      const w = vae.params[vae.specs.findIndex((s) => s.name === 'dec.fc0.w')] as tf.Variable;
      tf.tidy(() => w.assign(tf.mul(w, tf.tensor2d([1, 0, 0], [3, 1]))));
      const before = tf.memory().numTensors;
      const got = Object.fromEntries(dcignRecovery(vae, dataset, vae.assignment ?? [], 1, 8).map((f) => [f.factor, f]));
      t.is(tf.memory().numTensors, before, 'no tensor left behind');
      t.true((got.x?.noneFree ?? 0) > (got.x?.allFree ?? Infinity), `the model reconstructs x's variation at all: ${JSON.stringify(got.x)}`);
      t.is(got.x?.assignedFree, got.x?.allFree, 'freeing z0 alone is freeing everything the decoder reads');
      t.is(got.x?.recovered, 1);
      t.is(got.y?.assignedFree, got.y?.noneFree, "y's z1 is ignored: freeing it changes nothing");
      t.true(got.y?.recovered === 0 || Number.isNaN(got.y?.recovered), `y: ${JSON.stringify(got.y)}`);
      t.true((got.x?.modelled ?? 0) > 0 && (got.x?.modelled ?? 2) <= 1);
    } finally {
      vae.dispose();
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
