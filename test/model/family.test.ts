// The model family: each regulariser's terms against known answers computed independently
// (test/fixtures/model-family/known_answers.py, plain Python floats from the papers' equations), how each variant puts
// them into its loss, FactorVAE's two gradient paths, and every architecture with every variant.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { tf } from '../../src/model/tf.js';
import { totalCorrelation } from '../../src/model/beta-tcvae.js';
import { covariance, dipCovariance, dipPenalty } from '../../src/model/dip-vae.js';
import { discriminatorLoss, permutationIndices, permuteDims, stopGradient, tcFromLogits } from '../../src/model/factor-vae.js';
import { ARCHITECTURES, ConvVae, paramCount, paramSpecs, modelParamCounts } from '../../src/model/architecture.js';
import { MODEL_VARIANTS, resolveModelConfig, ConfigError, type ModelConfig } from '../../src/model/config.js';
import { MODEL_VARIANTS as CONTRACT_VARIANTS, ARCHITECTURES as CONTRACT_ARCHITECTURES } from '../../src/contract/types.js';
import { VaeModel } from '../../src/model/vae.js';

interface Known {
  z: number[][];
  mu: number[][];
  logvar: number[][];
  betaTcvae: { tc: number };
  dip: { covI: number[][]; covII: number[][]; penaltyI: number; penaltyII: number; lambdaOdI: number; lambdaDFactorI: number; lambdaOdII: number; lambdaDFactorII: number };
  factorVae: { logitsReal: number[][]; logitsPermuted: number[][]; tc: number; discriminatorLoss: number; perms: number[][]; permuted: number[][] };
}
const known = JSON.parse(readFileSync('test/fixtures/model-family/known_answers.json', 'utf8')) as Known;
const close = (a: number, b: number, tol = 1e-5): boolean => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));
const scalar = (f: () => tf.Tensor): number => tf.tidy(() => f().dataSync()[0] as number);

test('variant and architecture lists agree between the model and the Temporal contract', (t) => {
  t.deepEqual([...MODEL_VARIANTS], [...CONTRACT_VARIANTS]);
  t.deepEqual([...ARCHITECTURES], [...CONTRACT_ARCHITECTURES]);
});

test('beta-TCVAE: minibatch-weighted-sampling TC equals the known answer', (t) => {
  const got = scalar(() => totalCorrelation(tf.tensor2d(known.z), tf.tensor2d(known.mu), tf.tensor2d(known.logvar)));
  t.true(close(got, known.betaTcvae.tc), `${got} vs ${known.betaTcvae.tc}`);
});

test('beta-TCVAE: dependent latents have a larger TC estimate than independent ones (by log 2 here)', (t) => {
  // Narrow posteriors at the four corners of a square (z_0, z_1 independent) vs two corners twice (z_1 = z_0).
  const grid = [[0, 0], [0, 5], [5, 0], [5, 5]];
  const line = [[0, 0], [0, 0], [5, 5], [5, 5]];
  const lv = grid.map(() => [-6, -6]);
  const tcGrid = scalar(() => totalCorrelation(tf.tensor2d(grid), tf.tensor2d(grid), tf.tensor2d(lv)));
  const tcLine = scalar(() => totalCorrelation(tf.tensor2d(line), tf.tensor2d(line), tf.tensor2d(lv)));
  t.true(close(tcLine - tcGrid, Math.log(2), 1e-4), `${tcLine} - ${tcGrid}`);
});

test('DIP-VAE-I and -II: covariances and penalties equal the known answers', (t) => {
  const { dip } = known;
  const covI = tf.tidy(() => covariance(tf.tensor2d(known.mu)).arraySync() as number[][]);
  const covII = tf.tidy(() => dipCovariance('ii', tf.tensor2d(known.mu), tf.tensor2d(known.logvar)).arraySync() as number[][]);
  covI.forEach((row, a) => row.forEach((v, b) => t.true(close(v, dip.covI[a]![b]!), `covI[${a}][${b}]`)));
  covII.forEach((row, a) => row.forEach((v, b) => t.true(close(v, dip.covII[a]![b]!), `covII[${a}][${b}]`)));
  const pI = scalar(() => dipPenalty(dipCovariance('i', tf.tensor2d(known.mu), tf.tensor2d(known.logvar)), dip.lambdaOdI, dip.lambdaOdI * dip.lambdaDFactorI));
  const pII = scalar(() => dipPenalty(dipCovariance('ii', tf.tensor2d(known.mu), tf.tensor2d(known.logvar)), dip.lambdaOdII, dip.lambdaOdII * dip.lambdaDFactorII));
  t.true(close(pI, dip.penaltyI), `${pI} vs ${dip.penaltyI}`);
  t.true(close(pII, dip.penaltyII), `${pII} vs ${dip.penaltyII}`);
});

test('FactorVAE: TC from logits, the discriminator loss and permute_dims equal the known answers', (t) => {
  const fv = known.factorVae;
  t.true(close(scalar(() => tcFromLogits(tf.tensor2d(fv.logitsReal))), fv.tc));
  const d = scalar(() => discriminatorLoss(tf.tensor2d(fv.logitsReal), tf.tensor2d(fv.logitsPermuted)));
  t.true(close(d, fv.discriminatorLoss), `${d} vs ${fv.discriminatorLoss}`);
  const L = known.z[0]!.length;
  const idx = new Int32Array(known.z.length * L);
  fv.perms.forEach((perm, l) => perm.forEach((src, i) => (idx[i * L + l] = src * L + l)));
  const got = tf.tidy(() => permuteDims(tf.tensor2d(known.z), tf.tensor1d(idx, 'int32')).arraySync() as number[][]);
  got.forEach((row, i) => row.forEach((v, l) => t.true(close(v, fv.permuted[i]![l]!), `permuted[${i}][${l}]`)));
});

test('FactorVAE: permutation indices permute each latent column independently and deterministically', (t) => {
  const B = 7;
  const L = 4;
  const a = permutationIndices(3, 128, B, L);
  t.deepEqual(a, permutationIndices(3, 128, B, L));
  t.notDeepEqual(a, permutationIndices(3, 192, B, L));
  const columns: number[][] = [];
  for (let l = 0; l < L; l++) {
    const rows = Array.from({ length: B }, (_, i) => a[i * L + l]!);
    rows.forEach((v) => t.is(v % L, l, 'stays in its column'));
    const src = rows.map((v) => (v - l) / L).sort((x, y) => x - y);
    t.deepEqual(src, Array.from({ length: B }, (_, i) => i));
    columns.push(rows.map((v) => (v - l) / L));
  }
  t.true(new Set(columns.map((c) => c.join())).size > 1, 'columns draw different permutations');
});

test('stopGradient passes values and no gradient', (t) => {
  const [v, g] = tf.tidy(() => {
    const x = tf.tensor1d([1, 2, 3]);
    const f = (u: tf.Tensor): tf.Tensor => tf.add(tf.sum(tf.square(stopGradient(u))), tf.sum(u));
    return [f(x).dataSync()[0], tf.grad(f)(x).dataSync()];
  });
  t.is(v, 14 + 6);
  t.deepEqual(Array.from(g!), [1, 1, 1]);
});

const factors = [
  { name: 'x', size: 8 },
  { name: 'y', size: 8 },
  { name: 'intensity', size: 2 },
];
const smallFv = { gamma: 7, hidden: 16, layers: 2, learningRate: 1e-4, beta1: 0.5, beta2: 0.9 };

function modelFor(variant: ModelConfig['variant'], architecture: ModelConfig['architecture'], extra: Partial<ModelConfig> = {}): VaeModel {
  const cfg = resolveModelConfig({ variant, architecture, imageSize: 32, latentSize: 3, beta: 3, factorVae: smallFv, ...extra });
  return new VaeModel(cfg, 1, { factors });
}

const B = 4;
function inputs(model: VaeModel): Parameters<VaeModel['loss']>[0] {
  const L = model.config.latentSize;
  return {
    x: tf.randomUniform([B, 32, 32, 1], 0, 1, 'float32', 7),
    eps: tf.randomNormal([B, L], 0, 1, 'float32', 8),
    prior: tf.randomNormal([B, L], 0, 1, 'float32', 9),
    permutation: tf.tensor1d(permutationIndices(1, 0, B, L), 'int32'),
    step: 10,
    variedFactor: 1,
  };
}

test('each new variant puts its terms into the loss as its paper says', (t) => {
  const read = (variant: ModelConfig['variant'], extra: Partial<ModelConfig> = {}): { total: number; recon: number; kl: number; reg: number; tc: number; dip: number; disc: number } => {
    const model = modelFor(variant, 'standard', extra);
    const v = tf.tidy(() => {
      const p = model.loss(inputs(model));
      const one = (x: tf.Tensor | undefined): number => (x === undefined ? NaN : (x.dataSync()[0] as number));
      return { total: one(p.total), recon: one(p.recon), kl: one(p.kl), reg: one(p.regulariser), tc: one(p.tc), dip: one(p.dip), disc: one(p.discriminatorLoss) };
    });
    model.dispose();
    return v;
  };
  const f = read('factor-vae');
  t.true(close(f.total, f.recon + f.reg, 1e-4));
  t.true(close(f.reg, f.kl + 7 * f.tc, 1e-4), 'KL + gamma TC');
  t.true(Number.isFinite(f.disc) && f.disc > 0);
  const b = read('beta-tcvae');
  t.true(close(b.reg, b.kl + (3 - 1) * b.tc, 1e-4), 'KL + (beta - 1) TC');
  for (const variant of ['dip-vae-i', 'dip-vae-ii'] as const) {
    const d = read(variant, { dip: { lambdaOd: 2, lambdaDFactor: 5 } });
    t.true(close(d.reg, d.kl + d.dip, 1e-4), `${variant}: KL + penalty`);
    t.true(d.dip > 0);
  }
});

test('FactorVAE: the VAE objective moves no discriminator weight and the discriminator loss moves no encoder weight', (t) => {
  const model = modelFor('factor-vae', 'standard');
  const disc = model.discriminator!.params;
  const net = model.net.params;
  const norms = tf.tidy(() => {
    const inp = inputs(model);
    const gTotal = tf.variableGrads(() => model.loss(inp).total as tf.Scalar, [...net, ...disc] as tf.Variable[]).grads;
    const gDisc = tf.variableGrads(() => model.loss(inp).discriminatorLoss as tf.Scalar, [...net, ...disc] as tf.Variable[]).grads;
    const norm = (vs: readonly tf.Variable[], g: Record<string, tf.Tensor>): number =>
      vs.reduce((a, v) => a + (g[v.name] === undefined ? 0 : (tf.sum(tf.abs(g[v.name]!)).dataSync()[0] as number)), 0);
    return { totalNet: norm(net, gTotal), totalDisc: norm(disc, gTotal), discNet: norm(net, gDisc), discDisc: norm(disc, gDisc) };
  });
  model.dispose();
  t.true(norms.totalNet > 0);
  t.is(norms.totalDisc, 0);
  t.is(norms.discNet, 0);
  t.true(norms.discDisc > 0);
});

test('parameter counts: standard 764,245 (the PyTorch reference), residual and attention add their layers', (t) => {
  const base = { imageSize: 64, channels: 1, latentSize: 10, encoderKernels: 'higgins' } as const;
  t.is(paramCount(paramSpecs({ ...base, architecture: 'standard' })), 764245);
  // residual: 3x3 convs with biases at 32, 32, 64, 64 channels (encoder) and 64, 64, 32, 32 (decoder)
  const res = 2 * (2 * (9 * 32 * 32 + 32) + 2 * (9 * 64 * 64 + 64));
  t.is(paramCount(paramSpecs({ ...base, architecture: 'residual' })), 764245 + res);
  // attention at 32 channels, both sides: q, k (32 -> 4), v (32 -> 32), gamma
  const attn = 2 * (2 * (32 * 4 + 4) + (32 * 32 + 32) + 1);
  t.is(paramCount(paramSpecs({ ...base, architecture: 'attention' })), 764245 + attn);
  // FactorVAE's discriminator: 10 -> 6 x 1000 -> 2
  const disc = 10 * 1000 + 1000 + 5 * (1000 * 1000 + 1000) + 1000 * 2 + 2;
  t.deepEqual(modelParamCounts({ variant: 'factor-vae', architecture: 'residual', imageSize: 64, latentSize: 10 }), {
    total: 764245 + res + disc,
    encoderDecoder: 764245 + res,
    discriminator: disc,
  });
});

test('an unknown architecture fails naming model.architecture', (t) => {
  t.throws(() => resolveModelConfig({ architecture: 'unet' as never }), { instanceOf: ConfigError, message: /model\.architecture is unknown: 'unet'/ });
});

test('attention with gamma = 0 (its initial value) and residual with zero 3x3 kernels compute the standard network', (t) => {
  const arch = { imageSize: 32, channels: 1, latentSize: 3, encoderKernels: 'higgins' } as const;
  const std = new ConvVae({ ...arch, architecture: 'standard' }, 5);
  const stdValues = new Map(std.specs.map((s, i) => [s.name, std.params[i]!]));
  const outputs: Float32Array[] = [];
  for (const architecture of ['attention', 'residual'] as const) {
    const net = new ConvVae({ ...arch, architecture }, 6);
    net.specs.forEach((s, i) => {
      const same = stdValues.get(s.name);
      const v = net.params[i]!;
      if (same !== undefined) v.assign(same);
      else if (architecture === 'residual') v.assign(tf.zerosLike(v));
    });
    outputs.push(tf.tidy(() => net.decode(net.encode(tf.randomUniform([2, 32, 32, 1], 0, 1, 'float32', 3)).mu).dataSync() as Float32Array));
    net.dispose();
  }
  const ref = tf.tidy(() => std.decode(std.encode(tf.randomUniform([2, 32, 32, 1], 0, 1, 'float32', 3)).mu).dataSync() as Float32Array);
  std.dispose();
  for (const out of outputs) {
    let maxDiff = 0;
    out.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - ref[i]!))));
    t.true(maxDiff < 1e-5, `max diff ${maxDiff}`);
  }
});

for (const architecture of ARCHITECTURES) {
  for (const imageSize of [32, 64]) {
    test(`${architecture} at ${imageSize}x${imageSize}: shapes through encoder and decoder`, (t) => {
      const net = new ConvVae({ imageSize, channels: 3, latentSize: 6, encoderKernels: 'higgins', architecture }, 1);
      const shapes = tf.tidy(() => {
        const { mu, logvar } = net.encode(tf.zeros([2, imageSize, imageSize, 3]));
        return [mu.shape, logvar.shape, net.decode(mu).shape];
      });
      net.dispose();
      t.deepEqual(shapes, [[2, 6], [2, 6], [2, imageSize, imageSize, 3]]);
    });
  }
  test(`${architecture}: every variant gives a finite gradient for every parameter, no tensor left behind`, (t) => {
    for (const variant of MODEL_VARIANTS) {
      const model = modelFor(variant, architecture);
      const before = tf.memory().numTensors;
      const stats = tf.tidy(() => {
        const inp = inputs(model);
        const { grads } = tf.variableGrads(() => {
          const p = model.loss(inp);
          return (p.discriminatorLoss === undefined ? p.total : tf.add(p.total, p.discriminatorLoss)) as tf.Scalar;
        }, model.params as tf.Variable[]);
        return model.params.map((p) => {
          const g = grads[p.name];
          return g === undefined ? NaN : (tf.sum(tf.abs(g)).dataSync()[0] as number);
        });
      });
      t.is(tf.memory().numTensors, before, `${variant}: tensors`);
      stats.forEach((s, i) => t.true(Number.isFinite(s), `${variant}: ${model.specs[i]!.name}`));
      // SAGAN's query, key and value get no gradient while gamma is 0; everything else learns from the first step.
      const zeroAllowed = (name: string): boolean => /attn\.[qkv]\./.test(name);
      stats.forEach((s, i) => {
        if (!zeroAllowed(model.specs[i]!.name)) t.true(s > 0, `${variant}: ${model.specs[i]!.name} has a zero gradient`);
      });
      model.dispose();
    }
  });
}
