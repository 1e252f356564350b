import test from 'ava';

import { ConvVae } from '../../src/model/architecture.js';
import { biasActivation, sigmoidCrossEntropySum } from '../../src/model/native-ops.js';
import { tf, type Tensor } from '../../src/model/tf.js';

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

for (const shape of [
  [3, 5],
  [2, 4, 4, 3],
  [2, 4, 4, 1],
  [2, 4, 4, 8],
]) {
  for (const relu of [true, false]) {
    test(`biasActivation ([${shape.join(", ")}], relu ${relu}) has the value and gradients of relu(x + b) in plain tfjs ops`, (t) => {
      const before = tf.memory().numTensors;
      const [ours, plain] = tf.tidy(() => {
        const x = tf.randomNormal(shape, 0, 1, 'float32', 7);
        const b = tf.randomNormal([shape.at(-1) as number], 0, 1, 'float32', 8);
        const w = tf.randomNormal(shape, 0, 1, 'float32', 9); // weights the output so every gradient entry differs
        const run = (f: (x: Tensor, b: Tensor) => Tensor): Float32Array[] => {
          const { value, grads } = tf.valueAndGrads((xx: Tensor, bb: Tensor) => tf.sum(tf.mul(f(xx, bb), w)))([x, b]);
          return [f(x, b).dataSync() as Float32Array, value.dataSync() as Float32Array, ...grads.map((g) => g.dataSync() as Float32Array)];
        };
        return [
          run((xx, bb) => biasActivation(xx, bb, relu)),
          run((xx, bb) => (relu ? tf.relu(tf.add(xx, bb)) : tf.add(xx, bb))),
        ];
      });
      t.is(ours.length, 4);
      ours.forEach((v, i) => t.true(maxAbsDiff(v, plain[i] as Float32Array) < 1e-5, `part ${i}: ${maxAbsDiff(v, plain[i] as Float32Array)}`));
      t.is(tf.memory().numTensors, before);
    });
  }
}

test('sigmoidCrossEntropySum equals the stable formula, also for large logits, and its gradient is sigmoid(l) - x', (t) => {
  const logits = [-80, -3, -0.5, 0, 0.25, 2, 40, 90];
  const labels = [0, 1, 0.5, 1, 0, 1, 0, 1];
  const expected = logits.reduce((s, l, i) => s + Math.max(l, 0) - l * (labels[i] as number) + Math.log1p(Math.exp(-Math.abs(l))), 0);
  const [value, gl, gx] = tf.tidy(() => {
    const l = tf.tensor1d(logits);
    const x = tf.tensor1d(labels);
    const { value: v, grads } = tf.valueAndGrads((a: Tensor, b: Tensor) => tf.mul(sigmoidCrossEntropySum(a, b), 3))([l, x]);
    return [v.dataSync()[0] as number, grads[0]!.dataSync(), grads[1]!.dataSync()];
  });
  t.true(Math.abs(value - 3 * expected) < 1e-3 * Math.max(1, Math.abs(expected)), `${value} vs ${3 * expected}`);
  logits.forEach((l, i) => {
    t.true(Math.abs((gl[i] as number) - 3 * (1 / (1 + Math.exp(-l)) - (labels[i] as number))) < 1e-6, `d/dl at ${l}`);
    t.true(Math.abs((gx[i] as number) + 3 * l) < 1e-4, `d/dx at ${l}`);
  });
});

test('sigmoidCrossEntropySum names mismatched shapes', (t) => {
  const a = tf.zeros([2, 3]);
  const b = tf.zeros([3, 2]);
  t.throws(() => sigmoidCrossEntropySum(a, b), { message: /logits \[2,3\] and labels \[3,2\] differ in shape/ });
  tf.dispose([a, b]);
});

for (const architecture of ['standard', 'residual', 'attention'] as const) {
  test(`the model with native tails has the gradients of the same model in plain tfjs ops: ${architecture}`, (t) => {
    const arch = { imageSize: 32, channels: 1, latentSize: 3, encoderKernels: 'higgins', architecture } as const;
    const nets = [new ConvVae(arch, 11, true), new ConvVae(arch, 11, false)];
    const grads = nets.map((net) =>
      tf.tidy(() => {
        const x = tf.randomUniform([4, 32, 32, 1], 0, 1, 'float32', 5);
        const { grads: g } = tf.variableGrads(() => {
          const out = net.decode(net.encode(x).mu);
          return tf.sum(tf.mul(out, out)) as tf.Scalar;
        }, net.params as tf.Variable[]);
        return net.params.map((p) => g[p.name]!.dataSync() as Float32Array);
      }),
    );
    for (const n of nets) n.dispose();
    const [fused, plain] = grads as [Float32Array[], Float32Array[]];
    fused.forEach((g, i) => {
      const scale = Math.max(1e-6, ...Array.from(plain[i] as Float32Array, Math.abs));
      t.true(maxAbsDiff(g, plain[i] as Float32Array) / scale < 1e-4, `parameter ${i}`);
    });
  });
}
