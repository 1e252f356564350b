import test from 'ava';
import { tf } from '../../src/model/tf.js';
import { clampContribution, dcignClamp, freeMaskFor, resolveAssignment } from '../../src/model/dcign.js';
import { resolveModelConfig, type DcignConfig } from '../../src/model/config.js';
import { noiseFor, VaeModel } from '../../src/model/vae.js';
import { computeGradients, localClampTarget } from '../../src/train/step.js';
import { createSampler } from '../../src/data/index.js';
import type { Batch } from '../../src/data/types.js';
import { createBars } from '../helpers/bars.js';

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

// ---- the clamp point (issue 33): the encoder's distribution parameters, as the authors' code does ----------------

const bars = createBars();
const L = 3;

function dcignModel(extra: Partial<DcignConfig> = {}, seed = 5): VaeModel {
  const cfg = resolveModelConfig({ imageSize: 32, latentSize: L, variant: 'dcign', dcign: { clamp: 'mean', ...extra } });
  return new VaeModel(cfg, seed, { factors: bars.factors, channels: 1 });
}

function factorBatch(batchSize: number, rank = 0, worldSize = 1): Batch {
  return createSampler(bars, { kind: 'dcign', batchSize, seed: 11, rank, worldSize, variedFactor: 'x' }).next();
}

/** The gradient of the encoder's output layer (columns 0..L-1 the means', L..2L-1 the log-variances'). */
function outGrad(model: VaeModel, f: () => tf.Scalar): Float32Array {
  const i = model.specs.findIndex((s) => s.name === 'enc.out.w');
  const p = model.params[i] as tf.Variable;
  return tf.tidy(() => {
    const { grads } = tf.variableGrads(f, [p]);
    return grads[p.name]!.dataSync() as Float32Array;
  });
}

const columns = (g: Float32Array, cols: number[]): number[] => {
  const out: number[] = [];
  for (let r = 0; r < g.length / (2 * L); r++) for (const c of cols) out.push(g[r * 2 * L + c] as number);
  return out;
};

test('DCIGN clamps mean and log-variance: the clamped latents get exactly the invariance gradient, none through eps', (t) => {
  const batch = factorBatch(8);
  t.is(batch.variedFactor, 0); // x varies: latent 0 free, latents 1 and 2 clamped
  for (const clampAt of ['params', 'z'] as const) {
    const model = dcignModel({ clampAt });
    const x = tf.tensor4d(batch.images, [8, 32, 32, 1]);
    const eps = tf.tensor2d(noiseFor(3, 1, batch.globalIndices, L), [8, L]);
    const scale = 1 / 8;
    const got = outGrad(model, () => model.loss({ x, eps, step: 0, variedFactor: 0 }).total as tf.Scalar);
    // the authors' semantics: d/d(mu, logvar) of the clamped latents is scale * (v - batch mean), nothing else
    const [mMu, mLv] = tf.tidy(() => {
      const e = model.net.encode(x);
      return [tf.mean(e.mu, 0, true), tf.mean(e.logvar, 0, true)];
    });
    const clampedMask = tf.tensor2d([[0, 1, 1]]);
    const want = outGrad(model, () => {
      const e = model.net.encode(x);
      const dev = tf.add(tf.sum(tf.mul(tf.square(tf.sub(e.mu, mMu!)), clampedMask)), tf.sum(tf.mul(tf.square(tf.sub(e.logvar, mLv!)), clampedMask)));
      return tf.mul(dev, scale / 2) as tf.Scalar;
    });
    const cols = [1, 2, L + 1, L + 2];
    const [a, b] = [columns(got, cols), columns(want, cols)];
    const maxDiff = Math.max(...a.map((v, i) => Math.abs(v - (b[i] as number))));
    const maxRef = Math.max(...b.map(Math.abs));
    if (clampAt === 'params') {
      // float32 rounding of two sums of ~256 products each: 1e-5 of the gradient's size
      t.true(maxRef > 0 && maxDiff <= 1e-5 * maxRef, `params: clamped gradient off by ${maxDiff} (size ${maxRef})`);
    } else {
      // the old clamp point sends the invariance gradient through eps into logvar (and the KL's too): not the same
      t.true(maxDiff > 1e-2 * maxRef, `z: clamped gradient unexpectedly equals the authors' (${maxDiff})`);
    }
    tf.dispose([x, eps, mMu!, mLv!, clampedMask]);
    model.dispose();
  }
});

test('DCIGN clamped latents: z is still stochastic (clamped mean + clamped sigma x own eps), the KL is the clamped q', (t) => {
  const batch = factorBatch(8);
  const model = dcignModel();
  const { z, klPerDim, mu, lv, e } = tf.tidy(() => {
    const x = tf.tensor4d(batch.images, [8, 32, 32, 1]);
    const eps = tf.tensor2d(noiseFor(3, 1, batch.globalIndices, L), [8, L]);
    const parts = model.loss({ x, eps, step: 0, variedFactor: 0 });
    const enc = model.net.encode(x);
    return {
      z: parts.z.arraySync() as number[][],
      klPerDim: parts.klPerDim.arraySync() as number[],
      mu: tf.mean(enc.mu, 0).arraySync() as number[],
      lv: tf.mean(enc.logvar, 0).arraySync() as number[],
      e: eps.arraySync() as number[][],
    };
  });
  model.dispose();
  for (const j of [1, 2]) {
    const col = z.map((r) => r[j] as number);
    t.true(Math.max(...col) - Math.min(...col) > 1e-3, `latent ${j} is constant over the batch: ${col}`);
    col.forEach((v, i) => t.true(Math.abs(v - ((mu[j] as number) + Math.exp((lv[j] as number) / 2) * (e[i]![j] as number))) < 1e-5));
    const kl = 0.5 * ((mu[j] as number) ** 2 + Math.exp(lv[j] as number) - (lv[j] as number) - 1);
    t.true(Math.abs((klPerDim[j] as number) - kl) < 1e-5, `KL of latent ${j}: ${klPerDim[j]} vs ${kl}`);
  }
});

for (const mode of ['mean', 'first-sample'] as const) {
  test(`DCIGN with replicas (${mode}): the all-reduced clamp target makes two half batches train as the whole batch`, (t) => {
    const model = dcignModel({ clamp: mode });
    const whole = computeGradients(model, factorBatch(8), 0, 3, false).grads;
    const halves = [0, 1].map((r) => factorBatch(8, r, 2));
    const contributions = halves.map((b, r) => clampContribution(localClampTarget(model, b, 3), mode, r, 2));
    const target = contributions[0]!.map((v, i) => (v + (contributions[1]![i] as number)) / 2);
    const mean = (targets: (Float32Array | undefined)[]): Float32Array =>
      tf.tidy(() => {
        const gs = halves.map((b, r) => computeGradients(model, b, 0, 3, false, targets[r]).grads);
        const flat = gs.map((g) => tf.concat(g.map((x) => tf.reshape(x, [-1]))));
        const m = tf.div(tf.add(flat[0]!, flat[1]!), 2).dataSync() as Float32Array;
        gs.flat().forEach((g) => g.dispose());
        return m;
      });
    const ref = tf.tidy(() => tf.concat(whole.map((x) => tf.reshape(x, [-1]))).dataSync() as Float32Array);
    whole.forEach((g) => g.dispose());
    // the encoder's output layer, where the clamp target enters the gradient (mean and log-variance columns)
    const i = model.specs.findIndex((sp) => sp.name === 'enc.out.w');
    const off = model.params.slice(0, i).reduce((n, p) => n + p.size, 0);
    const end = off + (model.params[i] as tf.Variable).size;
    const dist = (a: Float32Array): number => a.subarray(off, end).reduce((m, v, k) => Math.max(m, Math.abs(v - (ref[off + k] as number))), 0);
    const size = ref.subarray(off, end).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const global = dist(mean([target, target]));
    const local = dist(mean([undefined, undefined]));
    model.dispose();
    // float32 rounding of the split sums: 1e-5 of the largest gradient
    t.true(global <= 1e-5 * size, `global target: ${global} (gradient size ${size})`);
    t.true(local > 100 * 1e-5 * size, // a hundred times the tolerance
      `each half clamping to its own target should differ: ${local} (global ${global}, size ${size})`);
  });
}
