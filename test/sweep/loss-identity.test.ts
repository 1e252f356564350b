// The plan's loss check (src/sweep/loss-identity.ts) on what real training logs: every variant's final logged loss is
// its paper's equation of its logged terms with the configured weights (graph and eager steps alike), and a weight
// the step did not apply (a planted wrong beta, lambda or gamma) is caught; the held-out gap flags a decoder that
// does not reconstruct unseen images.
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { resolveModelConfig, type ModelVariant } from '../../src/model/config.js';
import { runTraining } from '../../src/train/run.js';
import { heldOutGap, lossIdentity } from '../../src/sweep/loss-identity.js';
import { lossWeightsOf } from '../../src/report/gather.js';
import { createBars } from '../helpers/bars.js';
import { smallTrainConfig } from '../helpers/small-train.js';

let root = '';
test.before(async () => {
  root = await mkdtemp(join(tmpdir(), 'dcign-loss-identity-'));
});
test.after.always(async () => {
  await rm(root, { recursive: true, force: true });
});

const models: Record<string, Record<string, unknown>> = {
  'beta-vae': { variant: 'beta-vae', beta: 0.5 },
  dcign: { variant: 'dcign', beta: 0.5 },
  'beta-tcvae': { variant: 'beta-tcvae', beta: 6 },
  'factor-vae': { variant: 'factor-vae', factorVae: { gamma: 7 } },
  'info-vae': { variant: 'info-vae', mmd: { kernel: 'imq', lambda: 100, alpha: 0 } },
  'dip-vae-i': { variant: 'dip-vae-i' },
  'dip-vae-ii': { variant: 'dip-vae-ii' },
};

for (const [variant, model] of Object.entries(models)) {
  test.serial(`${variant}: the logged loss is its equation of the logged terms, and a wrong weight is caught`, async (t) => {
    const cfg = smallTrainConfig(join(root, variant), { steps: 12, learningRate: 3e-3, logEvery: 4, model: { imageSize: 32, latentSize: 3, ...model } });
    const r = await runTraining(cfg, { dataset: createBars() });
    const scalars = r.lastScalars ?? {};
    const weights = resolveModelConfig(cfg.model ?? {});
    const got = lossIdentity(weights, scalars);
    t.true(got.applies && got.ok, `${variant} (${r.stepExecution.mode} step): ${JSON.stringify(got)} from ${JSON.stringify(scalars)}`);
    // A weight off: the equation no longer holds. It shows in proportion to the term it multiplies, which is why these
    // runs train 12 steps at lr 3e-3 and beta 0.5 (after 4 steps at lr 1e-3 the KL was 5e-4 nats, below the tolerance).
    const wrong =
      variant === 'info-vae'
        ? { ...weights, mmd: { ...weights.mmd, lambda: (weights.mmd?.lambda ?? 0) + 1000 } }
        : variant === 'factor-vae'
          ? { ...weights, factorVae: { ...(weights.factorVae ?? {}), gamma: (weights.factorVae?.gamma ?? 0) + 1 } }
          : variant.startsWith('dip')
            ? { ...weights, variant: 'beta-vae' as ModelVariant, beta: 1 } // the DIP penalty left out
            : { ...weights, beta: weights.beta + 1 };
    const planted = lossIdentity(wrong as typeof weights, scalars);
    t.true(planted.applies && !planted.ok, `${variant}: a wrong weight must fail: ${JSON.stringify(planted)}`);
  });
}

test('annealed-vae is not checked (its capacity at the step is not logged), and missing terms say which', (t) => {
  const annealed = lossIdentity(resolveModelConfig({ variant: 'annealed-vae' }), { loss: 1, recon: 1, kl: 0 });
  t.false(annealed.applies);
  t.false(lossIdentity(resolveModelConfig({ variant: 'beta-tcvae' }), { loss: 1, recon: 1, kl: 0 }).applies);
  const noTc = lossIdentity(resolveModelConfig({ variant: 'beta-tcvae' }), { loss: 1, recon: 1, kl: 0 });
  t.deepEqual(noTc, { applies: false, why: 'no logged tc' });
});

test('the report reads the weights from run params, with the model defaults where a param is absent', (t) => {
  t.is(lossWeightsOf('dcign', {}).beta, 1, "DCIGN's default beta is the plain bound");
  t.is(lossWeightsOf('beta-vae', { 'model.beta': '8' }).beta, 8);
  t.is(lossWeightsOf('info-vae', { 'model.mmd.lambda': '100' }).mmd?.lambda, 100);
  t.is(lossWeightsOf('info-vae', {}).mmd?.alpha, 1);
});

test('held-out gap: flagged above 1.25x the training reconstruction, absent without both values', (t) => {
  t.deepEqual(heldOutGap({ recon: 100, heldout_recon: 110 }), { ratio: 1.1, ok: true });
  t.false(heldOutGap({ recon: 100, heldout_recon: 130 })?.ok);
  t.is(heldOutGap({ recon: 100 }), undefined);
});
