// The images that `dcign eval` and the sweep's evaluate activity write show the decoder's mean (decoderMean in
// src/model/losses.ts), for every likelihood. A Gaussian decoder used to be shown as its output clipped to [0, 1];
// its mean is sigmoid(output).
import test from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { evaluateCheckpoint } from '../../src/eval/evaluate-checkpoint.js';
import { decodePng } from '../../src/viz/png.js';
import { evaluateTrial } from '../../workers/evaluate.js';
import { constantDecoderCheckpoint } from '../helpers/checkpoint-fixtures.js';

/** Pixels of a grey PNG whose value is `grey`. */
async function countGrey(file: string, grey: number): Promise<number> {
  const png = decodePng(await readFile(file));
  let count = 0;
  for (let i = 0; i < png.rgba.length; i += 4) if (png.rgba[i] === grey) count++;
  return count;
}

// 0.5 is inside [0, 1]: a clip would show 0.5 (grey 128, also the grid padding), the mean sigmoid(0.5) = 0.622 (159).
const BIAS = 0.5;
const MEAN_GREY = Math.round(255 / (1 + Math.exp(-BIAS)));

for (const decoder of ['gaussian', 'bernoulli'] as const) {
  test.serial(`${decoder}: latent traversals show sigmoid of the decoder output`, async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'dcign-eval-images-'));
    try {
      const checkpoint = await constantDecoderCheckpoint(dir, decoder, BIAS);
      const steps = 2;
      const result = await evaluateCheckpoint(checkpoint, {
        out: path.join(dir, 'eval'),
        seed: 0,
        numTrain: 200,
        numTest: 100,
        skipSampling: true,
        traversalSteps: steps,
      });
      t.is(result.files.traversals, path.join(dir, 'eval', 'traversals.png'));
      // Every pixel of every traversal image (2 latents x 2 steps of 32x32) has the mean's grey; padding does not.
      const count = await countGrey(path.join(dir, 'eval', 'traversals.png'), MEAN_GREY);
      t.is(count, 2 * steps * 32 * 32, `pixels with grey ${MEAN_GREY}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test.serial(`${decoder}: the evaluate activity's reconstructions show sigmoid of the decoder output`, async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'dcign-eval-images-'));
    try {
      const checkpoint = await constantDecoderCheckpoint(dir, decoder, BIAS);
      const evaluation = { enabled: true, metrics: ['mig'], numTrain: 200, numTest: 100 };
      await evaluateTrial({ trialKey: 'images', checkpointPath: checkpoint, dataset: 'dsprites-small', evaluation, seed: 0 });
      // Bottom row: 8 reconstructions of 32x32 at the mean's grey. The top row's inputs are binary sprites (0 or 255).
      const count = await countGrey(path.join(dir, 'eval', 'reconstructions.png'), MEAN_GREY);
      t.is(count, 8 * 32 * 32, `pixels with grey ${MEAN_GREY}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}
