import test from 'ava';
import { ConfigError, resolveModelConfig } from '../../src/model/config.js';
import { ConvVae, paramCount, paramSpecs } from '../../src/model/architecture.js';
import { tf } from '../../src/model/tf.js';

const bad: [string, object, string, RegExp][] = [
  ['negative beta', { beta: -1 }, 'model.beta', /model\.beta must be >= 0/],
  ['latent size 0', { latentSize: 0 }, 'model.latentSize', /model\.latentSize must be a positive integer/],
  ['unknown model', { variant: 'gan' }, 'model.variant', /model\.variant is unknown: 'gan'/],
  ['unsupported image size', { imageSize: 48 }, 'model.imageSize', /model\.imageSize must be one of 32, 64/],
  ['unknown kernels', { encoderKernels: 'x' }, 'model.encoderKernels', /model\.encoderKernels/],
  ['dcign latent out of range', { variant: 'dcign', latentSize: 2, dcign: { clamp: 'mean', assignment: { x: [5] } } }, 'model.dcign.assignment.x', /model\.dcign\.assignment\.x/],
  ['unknown dcign clamp point', { variant: 'dcign', dcign: { clamp: 'mean', clampAt: 'mu' } }, 'model.dcign.clampAt', /model\.dcign\.clampAt must be 'params'.*or 'z'/],
  ['info-vae alpha > 1', { variant: 'info-vae', mmd: { kernel: 'imq', lambda: 1, alpha: 2 } }, 'model.mmd.alpha', /model\.mmd\.alpha/],
];
for (const [what, input, field, message] of bad) {
  test(`bad model config fails naming the field: ${what}`, (t) => {
    const err = t.throws(() => resolveModelConfig(input), { instanceOf: ConfigError, message });
    t.is(err?.field, field);
  });
}

test('the default beta is per variant: 1 for dcign (the plain bound of Kulkarni et al.), 4 for beta-vae; explicit wins', (t) => {
  t.is(resolveModelConfig({ variant: 'dcign' }).beta, 1);
  t.is(resolveModelConfig({ variant: 'beta-vae' }).beta, 4);
  t.is(resolveModelConfig({}).beta, 4);
  t.is(resolveModelConfig({ variant: 'dcign', beta: 4 }).beta, 4);
  t.is(resolveModelConfig({ variant: 'dcign', beta: undefined }).beta, 1);
  t.is(resolveModelConfig({ variant: 'dcign' }).dcign?.clampAt ?? 'params', 'params');
});

test('standard 64x64 architecture has the same parameter count as the PyTorch reference (764,245 at L=10)', (t) => {
  t.is(paramCount(paramSpecs({ imageSize: 64, channels: 1, latentSize: 10, encoderKernels: 'higgins' })), 764245);
});

for (const [imageSize, kernels] of [
  [64, 'higgins'],
  [64, 'dlib'],
  [32, 'higgins'],
  [32, 'dlib'],
] as const) {
  test(`encoder/decoder shapes at ${imageSize}x${imageSize}, ${kernels} kernels`, (t) => {
    const net = new ConvVae({ imageSize, channels: 3, latentSize: 6, encoderKernels: kernels }, 1);
    const shapes = tf.tidy(() => {
      const { mu, logvar } = net.encode(tf.zeros([2, imageSize, imageSize, 3]));
      return [mu.shape, logvar.shape, net.decode(mu).shape];
    });
    net.dispose();
    t.deepEqual(shapes, [
      [2, 6],
      [2, 6],
      [2, imageSize, imageSize, 3],
    ]);
  });
}

test('initialisation is a pure function of the seed', (t) => {
  const a = new ConvVae({ imageSize: 32, channels: 1, latentSize: 2, encoderKernels: 'higgins' }, 3);
  const b = new ConvVae({ imageSize: 32, channels: 1, latentSize: 2, encoderKernels: 'higgins' }, 3);
  const c = new ConvVae({ imageSize: 32, channels: 1, latentSize: 2, encoderKernels: 'higgins' }, 4);
  t.deepEqual(a.readFlat(), b.readFlat());
  t.notDeepEqual(a.readFlat(), c.readFlat());
  for (const n of [a, b, c]) n.dispose();
});

test('fused and unfused forward passes agree', (t) => {
  const arch = { imageSize: 32, channels: 1, latentSize: 3, encoderKernels: 'higgins' } as const;
  const a = new ConvVae(arch, 9, true);
  const b = new ConvVae(arch, 9, false);
  const [ya, yb] = tf.tidy(() => {
    const x = tf.randomUniform([2, 32, 32, 1], 0, 1, 'float32', 3);
    return [a.decode(a.encode(x).mu).dataSync(), b.decode(b.encode(x).mu).dataSync()];
  });
  a.dispose();
  b.dispose();
  let maxDiff = 0;
  ya!.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - yb![i]!))));
  t.true(maxDiff < 1e-4, `max diff ${maxDiff}`);
});
