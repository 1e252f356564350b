import test from 'ava';
import { tf } from '../../src/model/tf.js';
import { dcignClamp, freeMaskFor, resolveAssignment } from '../../src/model/dcign.js';
import { resolveModelConfig } from '../../src/model/config.js';
import { VaeModel } from '../../src/model/vae.js';

const Z = [
  [1, 2, 3],
  [3, 6, -3],
  [5, 1, 0],
  [-1, 3, 4],
];
const W = [
  [1, 2, 3],
  [4, 5, 6],
  [7, 8, 9],
  [10, 11, 12],
];

function run(mode: 'mean' | 'first-sample', scale: number): { y: number[][]; g: number[][] } {
  return tf.tidy(() => {
    const z = tf.tensor2d(Z);
    const free = tf.tensor2d([[0, 1, 0]]);
    const w = tf.tensor2d(W);
    const f = (zz: tf.Tensor): tf.Scalar => tf.sum(tf.mul(dcignClamp(zz, free, mode, scale), w));
    const y = dcignClamp(z, free, mode, scale).arraySync() as number[][];
    const g = tf.grad(f)(z).arraySync() as number[][];
    return { y, g };
  });
}

test('DCIGN mean clamp: clamped latents sit at the batch mean, free latents pass through', (t) => {
  const { y } = run('mean', 1);
  const mean0 = (1 + 3 + 5 - 1) / 4;
  const mean2 = (3 - 3 + 0 + 4) / 4;
  y.forEach((row, i) => {
    t.is(row[0], mean0);
    t.is(row[1], Z[i]![1]);
    t.is(row[2], mean2);
  });
});

test('DCIGN mean clamp: clamped gradients equal the deviation from the batch mean, free ones flow', (t) => {
  const scale = 0.5;
  const { g } = run('mean', scale);
  const mean = [2, 0, 1];
  g.forEach((row, i) => {
    t.is(row[1], W[i]![1]); // free: upstream gradient
    t.is(row[0], scale * (Z[i]![0]! - mean[0]!));
    t.is(row[2], scale * (Z[i]![2]! - mean[2]!));
  });
});

test("DCIGN first-sample clamp (authors' Torch code): clamped to sample 0, zero gradient", (t) => {
  const { y, g } = run('first-sample', 1);
  y.forEach((row, i) => {
    t.is(row[0], Z[0]![0]);
    t.is(row[1], Z[i]![1]);
    t.is(row[2], Z[0]![2]);
  });
  g.forEach((row, i) => t.deepEqual(row, [0, W[i]![1]!, 0]));
});

test('DCIGN assignment: by name, by index, default one latent per varying factor', (t) => {
  const factors = [
    { name: 'shape', size: 3 },
    { name: 'const', size: 1 },
    { name: 'x', size: 8 },
  ];
  t.deepEqual(resolveAssignment({ clamp: 'mean' }, factors, 4), [[0], [], [1]]);
  t.deepEqual(resolveAssignment({ clamp: 'mean', assignment: { x: [2, 3], '0': [0] } }, factors, 4), [[0], [], [2, 3]]);
  t.deepEqual([...freeMaskFor([[0], [], [2, 3]], 2, 4)], [0, 0, 1, 1]);
  t.throws(() => resolveAssignment({ clamp: 'mean', assignment: { nope: [0] } }, factors, 4), { message: /dcign\.assignment\.nope/ });
});

test('DCIGN without a varied factor trains as a plain VAE (same loss as beta-vae)', (t) => {
  const factors = [{ name: 'x', size: 8 }];
  const base = { imageSize: 32, latentSize: 3, beta: 2 } as const;
  const dc = new VaeModel(resolveModelConfig({ ...base, variant: 'dcign' }), 5, { factors });
  const bv = new VaeModel(resolveModelConfig({ ...base, variant: 'beta-vae' }), 5, { factors });
  const [a, b, c] = tf.tidy(() => {
    const x = tf.randomUniform([4, 32, 32, 1], 0, 1, 'float32', 1);
    const eps = tf.randomNormal([4, 3], 0, 1, 'float32', 2);
    return [
      dc.loss({ x, eps, step: 0 }).total.dataSync()[0],
      bv.loss({ x, eps, step: 0 }).total.dataSync()[0],
      dc.loss({ x, eps, step: 0, variedFactor: 0 }).total.dataSync()[0],
    ];
  });
  dc.dispose();
  bv.dispose();
  t.is(a, b);
  t.not(a, c);
});
