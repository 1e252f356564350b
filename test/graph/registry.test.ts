// The graph ops whose gradients come from TensorFlow's C++ gradient registry (GraphBuilder.fromRegistry, through
// TF_AddGradients in native/tf-graph): each one is covered there, and its gradient equals tfjs's own gradient of the
// same op, an independent implementation. The check is d sum(op(x) * w) / dx for random x and w.
import test from 'ava';
import { GraphBuilder, type Node } from '../../src/graph/builder.js';
import { DT_FLOAT, loadGraphAddon } from '../../src/graph/native.js';
import { sessionConfig } from '../../src/graph/session-config.js';
import { tf, type Tensor } from '../../src/model/tf.js';
import { Rng } from '../../src/random.js';

interface Probe {
  readonly name: string;
  readonly shape: readonly number[];
  readonly graph: (b: GraphBuilder, x: Node) => Node;
  readonly eager: (x: Tensor) => Tensor;
  /** Inputs kept away from zero (c / x). */
  readonly positive?: boolean;
}

const probes: Probe[] = [
  { name: 'Softmax', shape: [2, 3, 5], graph: (b, x) => b.softmax(x), eager: (x) => tf.softmax(x) },
  { name: 'LogSoftmax', shape: [4, 2], graph: (b, x) => b.logSoftmax(x), eager: (x) => tf.logSoftmax(x) },
  { name: 'LeakyRelu', shape: [4, 6], graph: (b, x) => b.leakyRelu(x, 0.2), eager: (x) => tf.leakyRelu(x, 0.2) },
  { name: 'RealDiv (c / x)', shape: [3, 4], graph: (b, x) => b.scalarOver(8, x), eager: (x) => tf.div(8, x), positive: true },
  { name: 'Sum over an axis, kept', shape: [3, 4], graph: (b, x) => b.sumAxis(x, 1, true), eager: (x) => tf.sum(x, 1, true) },
  { name: 'Sum over an axis, dropped', shape: [2, 3, 4], graph: (b, x) => b.sumAxis(x, 2, false), eager: (x) => tf.sum(x, 2) },
  { name: 'Mean', shape: [3, 4], graph: (b, x) => b.mean(x), eager: (x) => tf.mean(x) },
  { name: 'BroadcastTo', shape: [1, 3, 4], graph: (b, x) => b.broadcastTo(x, [5, 3, 4]), eager: (x) => tf.broadcastTo(x, [5, 3, 4]) },
  { name: 'log-sum-exp (a composite)', shape: [3, 5, 2], graph: (b, x) => b.logSumExp(x, 1), eager: (x) => tf.logSumExp(x, 1) },
  { name: 'SplitV rows (second piece)', shape: [6, 2], graph: (b, x) => b.splitRows(x, [2, 4])[1] as Node, eager: (x) => tf.slice(x, [2, 0], [4, 2]) },
];

const size = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

for (const p of probes) {
  test(`the registry's gradient of ${p.name} equals tfjs's`, (t) => {
    const addon = loadGraphAddon();
    if (typeof addon === 'string') throw new Error(addon);
    const rng = new Rng(11);
    const xv = Float32Array.from({ length: size(p.shape) }, () => (p.positive ? 0.5 + rng.float() : 4 * rng.float() - 2));
    const b = new GraphBuilder(addon);
    try {
      const x = b.placeholder(p.shape);
      const y = p.graph(b, x);
      const wv = Float32Array.from({ length: size(y.shape) }, () => 2 * rng.float() - 1);
      const loss = b.sum(b.mul(y, b.constant(wv, y.shape)));
      const [g] = b.gradients(loss, [x]);
      const session = addon.newSession(b.graph, sessionConfig());
      let got: Float32Array;
      try {
        got = addon.run(session, [[x.out, { dtype: DT_FLOAT, shape: p.shape, data: xv }]], [g!.out], [])[0]!.data;
      } finally {
        addon.closeSession(session);
      }
      const want = tf.tidy(() => {
        const w = tf.tensor(wv, [...y.shape]);
        return tf.grad((xt: Tensor) => tf.sum(tf.mul(p.eager(xt), w)))(tf.tensor(xv, [...p.shape]));
      });
      const wantV = want.dataSync();
      want.dispose();
      const scale = Math.max(...Array.from(wantV, Math.abs));
      let maxDiff = 0;
      wantV.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - (got[i] as number)))));
      t.is(got.length, wantV.length);
      t.true(scale > 0, 'a gradient of zeros compares nothing');
      // float32 rounding of sums of a few terms: 1e-6 of the largest gradient entry
      t.true(maxDiff <= 1e-6 * scale + 1e-7, `max |registry - tfjs| ${maxDiff} (largest ${scale})`);
    } finally {
      b.dispose();
    }
  });
}

test('an op outside the registry is refused with its name', (t) => {
  const addon = loadGraphAddon();
  if (typeof addon === 'string') throw new Error(addon);
  const b = new GraphBuilder(addon);
  try {
    const x = b.placeholder([3]);
    const y = b.raw('Dawsn', [x], [3]);
    t.throws(() => addon.addGradients(b.graph, 'probe', [y.out], [x.out], []), { message: /No gradient defined for op: Dawsn/ });
  } finally {
    b.dispose();
  }
});
