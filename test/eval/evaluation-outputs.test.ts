// What the sweep's evaluate step leaves for the study report: only the metrics the spec lists, the posterior audit
// (posterior.json and its scalars) and one traversal GIF per latent; and no tensors left behind.
// Serial: each test counts live tensors, which another running beside it would change.
import test from 'ava';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import type { PosteriorReport } from '../../src/eval/evaluate-checkpoint.js';
import { tf } from '../../src/model/tf.js';
import { runTraining } from '../../src/train/run.js';
import { evaluateTrial } from '../../workers/evaluate.js';
import { constantDecoderCheckpoint } from '../helpers/checkpoint-fixtures.js';
import { smallTrainConfig } from '../helpers/small-train.js';

test.serial('the evaluate step computes the spec metrics only, audits the posterior, writes a GIF per latent, leaks no tensors', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'dcign-eval-outputs-'));
  try {
    // A decoder that outputs the same grey everywhere: every prior sample decodes to a flat (blank) image.
    const checkpoint = await constantDecoderCheckpoint(dir, 'bernoulli', 0.5, 3);
    const evaluation = { enabled: true, metrics: ['mig', 'modularity'], numTrain: 200, numTest: 100 };
    const before = tf.memory().numTensors;
    const metrics = await evaluateTrial({ trialKey: 'outputs', checkpointPath: checkpoint, dataset: 'dsprites-small', evaluation, seed: 0 });
    t.is(tf.memory().numTensors, before, 'tensor count after evaluation');
    t.deepEqual(Object.keys(metrics).sort(), ['active_units', 'mig', 'modularity', 'posterior_kl_lower_bound', 'posterior_tc', 'prior_blank', 'prior_broken']);
    t.is(metrics.prior_blank, 1, 'a constant decoder draws nothing for any prior sample');
    const out = path.join(dir, 'eval');
    const audit = JSON.parse(await readFile(path.join(out, 'posterior.json'), 'utf8')) as PosteriorReport;
    t.is(audit.klPerLatent.length, 3);
    t.is(audit.covariance.length, 3);
    t.is(audit.prior.samples, 500);
    t.is(audit.gaussianKlLowerBound, metrics.posterior_kl_lower_bound as number);
    for (let j = 0; j < 3; j++) {
      const gif = await readFile(path.join(out, 'traversals', `z${j}.gif`));
      t.is(gif.subarray(0, 6).toString('latin1'), 'GIF89a');
      t.is(gif.readUInt16LE(6), 96, 'the 32 px frames are scaled to 96 px');
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.serial('evaluation.metrics [elbo]: the held-out ELBO of the checkpoint, the same figure the trainer computes on its parameters', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'dcign-eval-elbo-'));
  try {
    const trained = await runTraining(smallTrainConfig(path.join(dir, 'run'), { dataset: 'dsprites-small', evalBatches: 2 }));
    const expected = trained.eval;
    t.truthy(expected, 'the trainer evaluated at its end');
    const evaluation = { enabled: true, metrics: ['elbo'], numTrain: 64, numTest: 32 };
    const before = tf.memory().numTensors;
    const metrics = await evaluateTrial({ trialKey: 'elbo', checkpointPath: trained.lastCheckpoint as string, dataset: 'dsprites-small', evaluation, seed: 0 });
    t.is(tf.memory().numTensors, before, 'tensor count after evaluation');
    t.is(metrics.elbo, expected?.elbo);
    t.is(metrics.heldout_recon, expected?.recon);
    t.is(metrics.heldout_kl, expected?.kl);
    t.true((metrics.elbo as number) < 0, 'an ELBO in nats per image is negative for images of many pixels');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.serial('metricsOnly (an early-stopping rung): the same spec metrics, no posterior audit, nothing written, leaks no tensors', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'dcign-eval-rung-'));
  try {
    const checkpoint = await constantDecoderCheckpoint(dir, 'bernoulli', 0.5, 3);
    const evaluation = { enabled: true, metrics: ['mig', 'modularity'], numTrain: 200, numTest: 100 };
    const before = tf.memory().numTensors;
    const rung = await evaluateTrial({ trialKey: 'rung', checkpointPath: checkpoint, dataset: 'dsprites-small', evaluation, seed: 0, metricsOnly: true });
    t.is(tf.memory().numTensors, before, 'tensor count after evaluation');
    t.deepEqual(Object.keys(rung).sort(), ['active_units', 'mig', 'modularity']);
    t.false(existsSync(path.join(dir, 'eval')), 'no images, GIFs or reports written');
    // the figures are the full evaluation's, seed for seed
    const full = await evaluateTrial({ trialKey: 'full', checkpointPath: checkpoint, dataset: 'dsprites-small', evaluation, seed: 0 });
    for (const k of Object.keys(rung)) t.is(rung[k], full[k], k);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
