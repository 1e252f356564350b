import test from 'ava';
import { ConfigError, resolveTrainConfig } from '../../src/train/config.js';

const ok = { dataset: 'bars', runDir: '/tmp/x', model: { imageSize: 32 } } as const;

test('defaults fill a minimal config and survive a JSON round trip', (t) => {
  const cfg = resolveTrainConfig(ok);
  t.is(cfg.batchSize, 64);
  t.is(cfg.learningRate, 1e-4);
  t.is(cfg.model.variant, 'beta-vae');
  t.deepEqual(resolveTrainConfig(JSON.parse(JSON.stringify(cfg)) as typeof cfg), cfg);
});

const bad: [string, object, RegExp][] = [
  ['negative beta', { model: { imageSize: 32, beta: -0.5 } }, /model\.beta/],
  ['latent size 0', { model: { imageSize: 32, latentSize: 0 } }, /model\.latentSize/],
  ['unknown model', { model: { imageSize: 32, variant: 'vq-vae' } }, /model\.variant is unknown/],
  ['unsupported image size', { model: { imageSize: 128 } }, /model\.imageSize must be one of 32, 64, got 128/],
  ['zero steps', { steps: 0 }, /steps must be a positive integer/],
  ['fractional batch', { batchSize: 2.5 }, /batchSize must be a positive integer/],
  ['zero learning rate', { learningRate: 0 }, /learningRate must be a positive number/],
  ['adam beta2 = 1', { adam: { beta2: 1 } }, /adam\.beta2/],
  ['negative clipNorm', { clipNorm: -1 }, /clipNorm/],
  ['no run dir', { runDir: '' }, /runDir/],
];
for (const [what, patch, message] of bad) {
  test(`bad train config fails naming the field: ${what}`, (t) => {
    t.throws(() => resolveTrainConfig({ ...ok, ...patch }), { instanceOf: ConfigError, message });
  });
}
