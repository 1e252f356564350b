import test from 'ava';
import { tf } from '../../src/model/tf.js';
import { DLIB_L2_SIGMA, betaVaeLoss, decoderMean, elboParts, gaussianSigma, klPerDim, reconstructionLoss, reparameterise } from '../../src/model/losses.js';
import { mmd } from '../../src/model/mmd.js';
import { VaeModel } from '../../src/model/vae.js';
import { resolveModelConfig } from '../../src/model/config.js';

const close = (a: number, b: number, tol = 1e-4): boolean => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

test('per-dimension KL equals the closed form on known mean and log-variance', (t) => {
  const mu = [
    [0, 1, -2],
    [0.5, 0, 1],
  ];
  const lv = [
    [0, Math.log(4), -1],
    [1, 0, Math.log(0.25)],
  ];
  const got = tf.tidy(() => klPerDim(tf.tensor2d(mu), tf.tensor2d(lv)).arraySync()) as number[];
  for (let l = 0; l < 3; l++) {
    let expected = 0;
    for (let b = 0; b < 2; b++) {
      const m = mu[b]![l]!;
      const s2 = Math.exp(lv[b]![l]!);
      expected += 0.5 * (m * m + s2 - 1 - Math.log(s2));
    }
    t.true(close(got[l]!, expected / 2), `dim ${l}: ${got[l]} vs ${expected / 2}`);
  }
  // KL of the prior with itself is zero.
  const zero = tf.tidy(() => tf.sum(klPerDim(tf.zeros([4, 3]), tf.zeros([4, 3]))).dataSync()[0]);
  t.is(zero, 0);
});

test('Bernoulli reconstruction is the summed sigmoid cross-entropy, mean over the batch', (t) => {
  const x = [0, 1, 1, 0, 0.5, 1, 0, 1];
  const l = [-2, 3, 0.5, 10, 0, -30, 30, 0.1];
  const got = tf.tidy(() => reconstructionLoss(tf.tensor4d(x, [2, 2, 2, 1]), tf.tensor4d(l, [2, 2, 2, 1]), 'bernoulli').dataSync()[0]!);
  let expected = 0;
  x.forEach((xi, i) => {
    const p = 1 / (1 + Math.exp(-l[i]!));
    expected += -(xi * Math.log(Math.max(p, 1e-300)) + (1 - xi) * Math.log(Math.max(1 - p, 1e-300)));
  });
  t.true(close(got, expected / 2, 1e-4), `${got} vs ${expected / 2}`);
});

test("Gaussian reconstruction by default is disentanglement_lib's l2_loss: sum (x - sigmoid(out))^2, mean over the batch", (t) => {
  // losses.py: tf.reduce_sum(tf.square(true_images - tf.nn.sigmoid(reconstructed_images)), [1, 2, 3]); the old loss
  // here was 1/2 (x - mean)^2 + constants (sigma 1), half of it: the same as doubling beta.
  const x = [0.2, 0.9, 0.4, 0.1, 0.7, 0.5, 0, 1];
  const o = [0, 1, -1, 2, 0.5, -2, 3, -0.3];
  const got = tf.tidy(() => reconstructionLoss(tf.tensor4d(x, [2, 2, 2, 1]), tf.tensor4d(o, [2, 2, 2, 1]), 'gaussian').dataSync()[0]!);
  let dlib = 0;
  x.forEach((xi, i) => {
    dlib += (xi - 1 / (1 + Math.exp(-o[i]!))) ** 2;
  });
  t.true(close(got, dlib / 2, 1e-5), `${got} vs dlib ${dlib / 2}`);
  t.is(DLIB_L2_SIGMA, Math.SQRT1_2);
  t.is(gaussianSigma({}), DLIB_L2_SIGMA);
  t.is(gaussianSigma({ decoderSigma: 0.1 }), 0.1);
});

test('Gaussian reconstruction with a given sigma is the negative log-likelihood less its constant: 1/2 ((x - mean) / sigma)^2', (t) => {
  const x = [0.2, 0.9, 0.4, 0.1];
  const o = [0, 1, -1, 2];
  const sigma = 0.5;
  const got = tf.tidy(() => reconstructionLoss(tf.tensor4d(x, [1, 2, 2, 1]), tf.tensor4d(o, [1, 2, 2, 1]), 'gaussian', sigma).dataSync()[0]!);
  let expected = 0;
  x.forEach((xi, i) => {
    const m = 1 / (1 + Math.exp(-o[i]!));
    expected += (0.5 * (xi - m) ** 2) / sigma ** 2;
  });
  t.true(close(got, expected), `${got} vs ${expected}`);
});

test('the image of a Gaussian decoder is sigmoid(out), the mean its loss fits, not out clipped to [0, 1]', (t) => {
  // 0.3 and 0.8 are inside [0, 1], where a clip would pass them through unchanged.
  const o = [-3, -0.5, 0, 0.3, 0.8, 2, 5];
  const before = tf.memory().numTensors;
  const got = tf.tidy(() => decoderMean(tf.tensor4d(o, [1, 1, 7, 1]), 'gaussian').dataSync());
  t.is(tf.memory().numTensors, before);
  o.forEach((oi, i) => t.true(close(got[i]!, 1 / (1 + Math.exp(-oi)), 1e-6), `out ${oi}: ${got[i]}`));
});

for (const decoder of ['bernoulli', 'gaussian'] as const) {
  test(`${decoder}: the reconstruction loss is stationary where the image equals decoderMean(out)`, (t) => {
    // The image shown must be the x that the likelihood rates best for this output: d loss / d out = 0 there.
    const o = tf.tensor4d([-4, -1, -0.2, 0, 0.3, 0.7, 1.5, 6], [2, 2, 2, 1]);
    const grad = tf.tidy(() => {
      const x = decoderMean(o, decoder);
      return tf.grad((out: tf.Tensor) => reconstructionLoss(x, out, decoder, 0.5))(o).dataSync();
    });
    o.dispose();
    for (const g of grad) t.true(Math.abs(g) < 1e-6, `gradient ${g}`);
  });
}

test('reparameterisation uses the supplied noise: z = mu + exp(logvar / 2) * eps', (t) => {
  const z = tf.tidy(() => reparameterise(tf.tensor2d([[1, -1]]), tf.tensor2d([[Math.log(4), 0]]), tf.tensor2d([[0.5, 2]])).arraySync());
  t.deepEqual(z, [[2, 1]]);
});

test('loss parts add up: total = recon + beta * KL, and KL = sum of per-dimension KL', (t) => {
  const [recon, kl, perDimSum, total] = tf.tidy(() => {
    const x = tf.randomUniform([3, 2, 2, 1], 0, 1, 'float32', 1);
    const out = tf.randomNormal([3, 2, 2, 1], 0, 1, 'float32', 2);
    const mu = tf.randomNormal([3, 4], 0, 1, 'float32', 3);
    const lv = tf.randomNormal([3, 4], 0, 1, 'float32', 4);
    const p = elboParts(x, out, mu, lv, 'bernoulli');
    return [p.recon, p.kl, tf.sum(p.klPerDim), betaVaeLoss(p, 4)].map((s) => s.dataSync()[0]!);
  });
  t.true(close(kl!, perDimSum!));
  t.true(close(total!, recon! + 4 * kl!));
});

const inputs = (model: VaeModel, b: number) => ({
  x: tf.randomUniform([b, 32, 32, 1], 0, 1, 'float32', 7),
  eps: tf.randomNormal([b, model.config.latentSize], 0, 1, 'float32', 8),
  prior: tf.randomNormal([b, model.config.latentSize], 0, 1, 'float32', 9),
});

for (const variant of ['beta-vae', 'annealed-vae', 'info-vae'] as const) {
  test(`${variant}: total = recon + regulariser, regulariser as the paper's equation`, (t) => {
    const cfg = resolveModelConfig({ variant, imageSize: 32, latentSize: 3, beta: 2, capacity: { gamma: 10, cMax: 5, steps: 100 } });
    const model = new VaeModel(cfg, 1);
    const v = tf.tidy(() => {
      const p = model.loss({ ...inputs(model, 4), step: 40 });
      return {
        total: p.total.dataSync()[0]!,
        recon: p.recon.dataSync()[0]!,
        kl: p.kl.dataSync()[0]!,
        reg: p.regulariser.dataSync()[0]!,
        mmd: p.mmd?.dataSync()[0],
        capacity: p.capacity,
      };
    });
    model.dispose();
    t.true(close(v.total, v.recon + v.reg));
    if (variant === 'beta-vae') t.true(close(v.reg, 2 * v.kl));
    if (variant === 'annealed-vae') {
      t.is(v.capacity, 2); // 5 * 40 / 100
      t.true(close(v.reg, 10 * Math.abs(v.kl - 2)));
    }
    if (variant === 'info-vae') {
      // defaults alpha = 1, lambda = 1000: (1 - alpha) KL + (alpha + lambda - 1) MMD
      t.true(close(v.reg, 1000 * v.mmd!));
    }
  });
}

test('MMD is near zero for samples of one distribution and larger for a shifted one', (t) => {
  const [same, shifted] = tf.tidy(() => {
    const p = tf.randomNormal([200, 4], 0, 1, 'float32', 11);
    const q = tf.randomNormal([200, 4], 0, 1, 'float32', 12);
    const r = tf.randomNormal([200, 4], 1.5, 1, 'float32', 13);
    return [mmd(q, p, 'imq').dataSync()[0]!, mmd(r, p, 'rbf').dataSync()[0]!];
  });
  t.true(Math.abs(same!) < 0.01, `same: ${same}`);
  t.true(shifted! > 0.05, `shifted: ${shifted}`);
});
