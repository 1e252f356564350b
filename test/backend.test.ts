// The native backend loads, is native, and computes a conv and its gradient like a plain-JS reference.
import test from 'ava';
import { loadBackend } from '../src/backend.js';

/** Plain-JS valid 2-D convolution (cross-correlation), NHWC with one image and one in/out channel. */
function conv2dRef(x: number[][], k: number[][]): number[][] {
  const out: number[][] = [];
  for (let i = 0; i + k.length <= x.length; i++) {
    const row: number[] = [];
    for (let j = 0; j + (k[0]?.length ?? 0) <= (x[0]?.length ?? 0); j++) {
      let s = 0;
      for (let a = 0; a < k.length; a++) for (let b = 0; b < (k[0]?.length ?? 0); b++) s += x[i + a]![j + b]! * k[a]![b]!;
      row.push(s);
    }
    out.push(row);
  }
  return out;
}

test('native TensorFlow backend loads and reports itself', async (t) => {
  const { tf, info } = await loadBackend();
  t.is(tf.getBackend(), 'tensorflow');
  t.is(info.backend, 'tensorflow');
  t.regex(info.tensorflowVersion, /^\d+\.\d+\.\d+/);
  t.regex(info.device, /\S/, 'the device is named');
});

test('conv2d and its gradient match a plain-JS computation', async (t) => {
  const { tf } = await loadBackend();
  const x = [
    [1, 2, 0, -1],
    [0.5, -2, 3, 1],
    [2, 1, -1, 0],
    [-1, 0, 2, 4],
  ];
  const k = [
    [0.25, -1],
    [2, 0.5],
  ];
  const before = tf.memory().numTensors;
  const xt = tf.tensor4d(x.flat(), [1, 4, 4, 1]);
  const kt = tf.tensor4d(k.flat(), [2, 2, 1, 1]);
  const y = tf.conv2d(xt, kt, 1, 'valid');
  const expected = conv2dRef(x, k);
  const got = Array.from(await y.data());
  got.forEach((v, i) => t.true(Math.abs(v - expected.flat()[i]!) < 1e-5, `y[${i}] = ${v}, expected ${expected.flat()[i]}`));

  // d(sum(conv(x, k)))/dk[a][b] = sum of the x values that k[a][b] touches.
  const g = tf.grad((kk) => tf.conv2d(xt, kk as typeof kt, 1, 'valid').sum())(kt);
  const gGot = Array.from(await g.data());
  const gExp = k.flatMap((row, a) =>
    row.map((_, b) => conv2dRef(x, k.map((r, i) => r.map((__, j) => (i === a && j === b ? 1 : 0)))).flat().reduce((s, v) => s + v, 0)),
  );
  gGot.forEach((v, i) => t.true(Math.abs(v - gExp[i]!) < 1e-5, `dk[${i}] = ${v}, expected ${gExp[i]}`));
  tf.dispose([xt, kt, y, g]);
  t.is(tf.memory().numTensors, before, 'no tensor leaked');
});
