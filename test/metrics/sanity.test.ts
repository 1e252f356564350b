// Known answers per metric, as disentanglement_lib's own tests do: an identity representation scores high, a
// constant or duplicated one low; invalid inputs give clear errors.
import test from 'ava';
import { Rng } from '../../src/random.js';
import {
  activeUnits,
  computeBetaVae,
  computeFactorVae,
  dciFromCodes,
  explicitnessFromCodes,
  histogramDiscretize,
  irsFromCodes,
  klPerDimension,
  MetricInputError,
  migFromCodes,
  modularityFromCodes,
  mutualInfoScore,
  sapFromCodes,
  uniformFactorSampler,
  type GroundTruthSource,
} from '../../src/metrics/index.js';

const SIZES = [4, 5, 3];

function sample(n: number, seed: number): number[][] {
  return uniformFactorSampler(SIZES)(n, new Rng(seed));
}
const identity = (f: number[][]): number[][] => f.map((r) => r.map((v) => v + 0));
const noisyIdentity = (f: number[][], seed: number): number[][] => {
  const rng = new Rng(seed);
  return f.map((r) => r.map((v) => v + 0.05 * rng.normal()));
};
const duplicated = (f: number[][]): number[][] => f.map((r) => [r[0] as number, r[0] as number, r[0] as number]);
const constantPlusOne = (f: number[][], seed: number): number[][] => {
  const rng = new Rng(seed);
  return f.map(() => [rng.normal(), rng.normal(), rng.normal()]);
};

const train = sample(1200, 1);
const test_ = sample(600, 2);

test('histogram discretiser follows np.histogram edges and np.digitize', (t) => {
  // edges 0, 0.5 (2 bins over [0, 1]): 0 -> 1, 0.25 -> 1, 0.5 -> 2, 1 (the max) -> 2
  t.deepEqual(Array.from(histogramDiscretize([0, 0.25, 0.5, 1], 2)), [1, 1, 2, 2]);
  // a constant column uses [v - 0.5, v + 0.5]: every value in the middle bin
  t.deepEqual(Array.from(histogramDiscretize([3, 3, 3, 3], 4)), [3, 3, 3, 3]);
});

test('mutual information matches scikit-learn on a small example', (t) => {
  // mutual_info_score([0,0,1,1], [0,0,1,1]) = log 2; independent labels give 0.
  t.true(Math.abs(mutualInfoScore([0, 0, 1, 1], [0, 0, 1, 1]) - Math.log(2)) < 1e-15);
  t.is(mutualInfoScore([0, 1, 0, 1], [0, 0, 1, 1]), 0);
  t.is(mutualInfoScore([0, 0, 0, 0], [0, 1, 0, 1]), 0);
});

test('MIG: identity high, duplicated and noise low', (t) => {
  t.true(migFromCodes(identity(train), train).discrete_mig > 0.9);
  t.true(migFromCodes(duplicated(train), train).discrete_mig < 0.1);
  t.true(migFromCodes(constantPlusOne(train, 3), train).discrete_mig < 0.1);
});

test('SAP: identity beats duplicated; continuous variant near 1 for identity', (t) => {
  const id = sapFromCodes(identity(train), train, identity(test_), test_).SAP_score;
  const dup = sapFromCodes(duplicated(train), train, duplicated(test_), test_).SAP_score;
  t.true(id > 0.2, `identity SAP ${id}`);
  t.true(dup < 0.01, `duplicated SAP ${dup}`);
  t.true(sapFromCodes(identity(train), train, [], [], { continuousFactors: true }).SAP_score > 0.9);
});

test('Modularity: identity near 1; explicitness: identity 1, noise near 1/2', (t) => {
  t.true(modularityFromCodes(identity(train), train).modularity_score > 0.95);
  const e = explicitnessFromCodes(identity(train), train, identity(test_), test_);
  t.true(e.explicitness_score_test > 0.99);
  const n = explicitnessFromCodes(constantPlusOne(train, 4), train, constantPlusOne(test_, 5), test_);
  t.true(n.explicitness_score_test < 0.6, `noise explicitness ${n.explicitness_score_test}`);
});

test('DCI: identity disentangled and complete, duplicated not', (t) => {
  const small = train.slice(0, 600);
  const smallTest = test_.slice(0, 300);
  const id = dciFromCodes(noisyIdentity(small, 6), small, noisyIdentity(smallTest, 7), smallTest, { nEstimators: 20 });
  t.true(id.disentanglement > 0.9, `identity D ${id.disentanglement}`);
  t.true(id.completeness > 0.9, `identity C ${id.completeness}`);
  t.true(id.informativeness_test > 0.95);
  const dup = dciFromCodes(duplicated(small), small, duplicated(smallTest), smallTest, { nEstimators: 20 });
  t.true(dup.completeness < 0.1, `duplicated C ${dup.completeness}`);
});

test('IRS: identity near 1', (t) => {
  t.true(irsFromCodes(noisyIdentity(train, 8), train).IRS > 0.8);
});

function source(map: (f: number[][]) => number[][]): GroundTruthSource {
  return {
    factorSizes: SIZES,
    sampleFactors: uniformFactorSampler(SIZES),
    represent: (f) => Promise.resolve(map(f)),
  };
}

test('BetaVAE and FactorVAE: identity scores 1, duplicated low', async (t) => {
  const opts = { numTrain: 300, numEval: 200, batchSize: 16 };
  const noise = new Rng(9);
  const id = source((f) => f.map((r) => r.map((v) => v + 0.01 * noise.normal())));
  t.is((await computeBetaVae(id, new Rng(1), opts)).eval_accuracy, 1);
  t.is((await computeFactorVae(id, new Rng(1), { ...opts, numVarianceEstimate: 500 })).eval_accuracy, 1);
  const dup = source((f) => f.map((r) => [(r[0] as number) + 0.01 * noise.normal(), 0.01 * noise.normal(), 0]));
  const fv = await computeFactorVae(dup, new Rng(2), { ...opts, numVarianceEstimate: 500 });
  t.true(fv.eval_accuracy < 0.7, `duplicated FactorVAE ${fv.eval_accuracy}`);
  t.is(fv.num_active_dims, 1);
});

test('sampling metrics are deterministic for a seed', async (t) => {
  const noise = () => new Rng(5);
  const mk = (): GroundTruthSource => {
    const r = noise();
    return source((f) => f.map((row) => row.map((v, j) => v * (j + 1) + r.normal())));
  };
  const opts = { numTrain: 100, numEval: 50, batchSize: 8 };
  t.deepEqual(await computeBetaVae(mk(), new Rng(3), opts), await computeBetaVae(mk(), new Rng(3), opts));
});

test('active units and per-dimension KL', (t) => {
  const mu = [
    [0, 1],
    [0, -1],
    [0, 1],
    [0, -1],
  ];
  const logvar = mu.map(() => [0, Math.log(0.5)]);
  const au = activeUnits(mu);
  t.is(au.count, 1);
  t.deepEqual(au.active, [false, true]);
  const kl = klPerDimension(mu, logvar);
  t.is(kl[0], 0);
  t.true(Math.abs((kl[1] as number) - 0.5 * (1 + 0.5 - Math.log(0.5) - 1)) < 1e-15);
});

test('bad inputs give clear errors', (t) => {
  const codes = identity(train);
  t.throws(() => migFromCodes(codes.slice(0, 10), train), {
    instanceOf: MetricInputError,
    message: /codes have 10 rows but factors have 1200/,
  });
  const withNaN = codes.map((r, i) => (i === 5 ? [r[0] as number, NaN, r[2] as number] : r));
  t.throws(() => migFromCodes(withNaN, train), { instanceOf: MetricInputError, message: /row 5, dim 1 is NaN/ });
  const oneValue = train.map((r) => [r[0] as number, 2, r[2] as number]);
  t.throws(() => migFromCodes(codes, oneValue), {
    instanceOf: MetricInputError,
    message: /factor 1 takes a single value \(2\)/,
  });
  t.throws(() => dciFromCodes(codes, oneValue, codes, oneValue), { message: /factor 1 takes a single value/ });
  t.throws(() => migFromCodes(codes.slice(0, 10), train.slice(0, 10)), {
    instanceOf: MetricInputError,
    message: /10 samples are fewer than the 20 bins/,
  });
  t.throws(() => modularityFromCodes([[1, 2], [3]], [[0], [1]]), { message: /row 1 has 1 values, row 0 has 2/ });
  t.throws(() => migFromCodes(codes, train.map((r) => [(r[0] as number) + 0.5, 1, 2])), {
    message: /must be integer indices/,
  });
});
