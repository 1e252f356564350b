// Known answers per metric, as disentanglement_lib's own tests do: an identity representation scores high; constant
// codes score low or the metric's documented degenerate value; duplicated codes score low where the metric penalises
// redundancy; noise scores low; invalid inputs give clear errors.
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
// The representations disentanglement_lib's own tests score (mig_test.py, sap_score_test.py, irs_test.py,
// modularity_explicitness_test.py, dci_test.py, beta_vae_test.py, factor_vae_test.py): the factors themselves
// (identity), codes that never change (constant), every code twice (np.hstack([x, x]): duplicated), codes that know
// nothing of the factors (noise), and each row's factors in a random order (permuted: modularity's bad case).
const identity = (f: number[][]): number[][] => f.map((r) => r.map((v) => v + 0));
const noisyIdentity = (f: number[][], seed: number): number[][] => {
  const rng = new Rng(seed);
  return f.map((r) => r.map((v) => v + 0.05 * rng.normal()));
};
const constant = (f: number[][]): number[][] => f.map(() => [0.5, 0.5, 0.5]);
const duplicated = (f: number[][]): number[][] => f.map((r) => [...r, ...r]);
/** One factor, three times; the others nowhere. */
const oneFactorThrice = (f: number[][]): number[][] => f.map((r) => [r[0] as number, r[0] as number, r[0] as number]);
const noise = (f: number[][], seed: number): number[][] => {
  const rng = new Rng(seed);
  return f.map(() => [rng.normal(), rng.normal(), rng.normal()]);
};
const permuted = (f: number[][], seed: number): number[][] => {
  const rng = new Rng(seed);
  return f.map((row) => {
    const a = [...row];
    for (let i = a.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [a[i], a[j]] = [a[j] as number, a[i] as number];
    }
    return a;
  });
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

test('MIG: identity high; constant 0; duplicated and noise low', (t) => {
  t.true(migFromCodes(identity(train), train).discrete_mig > 0.9);
  t.is(migFromCodes(constant(train), train).discrete_mig, 0);
  // Each factor's best code has a twin as informative as itself: the gap is 0.
  t.true(migFromCodes(duplicated(train), train).discrete_mig < 0.1);
  t.true(migFromCodes(oneFactorThrice(train), train).discrete_mig < 0.1);
  t.true(migFromCodes(noise(train, 3), train).discrete_mig < 0.1);
});

test('SAP: identity beats duplicated; constant 0; duplicated and noise low; continuous variant near 1 for identity', (t) => {
  const id = sapFromCodes(identity(train), train, identity(test_), test_).SAP_score;
  t.true(id > 0.2, `identity SAP ${id}`);
  t.is(sapFromCodes(constant(train), train, constant(test_), test_).SAP_score, 0);
  const dup = sapFromCodes(duplicated(train), train, duplicated(test_), test_).SAP_score;
  t.true(dup < 0.01, `duplicated SAP ${dup}`);
  const thrice = sapFromCodes(oneFactorThrice(train), train, oneFactorThrice(test_), test_).SAP_score;
  t.true(thrice < 0.01, `one factor thrice SAP ${thrice}`);
  const n = sapFromCodes(noise(train, 3), train, noise(test_, 4), test_).SAP_score;
  t.true(n < 0.05, `noise SAP ${n}`);
  t.true(sapFromCodes(identity(train), train, [], [], { continuousFactors: true }).SAP_score > 0.9);
});

test('Modularity: identity and duplicated near 1 (it does not penalise redundancy); constant 0; permuted and noise low', (t) => {
  t.true(modularityFromCodes(identity(train), train).modularity_score > 0.95);
  t.true(modularityFromCodes(duplicated(train), train).modularity_score > 0.95);
  // No code carries information: modularity_explicitness.modularity scores such a code 0.
  t.is(modularityFromCodes(constant(train), train).modularity_score, 0);
  // disentanglement_lib's bad case: every code holds every factor equally often. Equal factor sizes make the mutual
  // information of each code equal across factors, which is what the case needs.
  const equal = uniformFactorSampler([5, 5, 5])(3000, new Rng(11));
  const perm = modularityFromCodes(permuted(equal, 3), equal).modularity_score;
  t.true(perm < 0.3, `permuted modularity ${perm}`);
  // Noise: what modularity sees is the estimation bias of mutual information (larger for larger factors), which
  // favours one factor per code by chance; well below identity but not near 0.
  const n = modularityFromCodes(noise(train, 3), train).modularity_score;
  t.true(n < 0.7, `noise modularity ${n}`);
});

test('Explicitness: identity and duplicated 1; noise near 1/2; constant codes are refused', (t) => {
  t.true(explicitnessFromCodes(identity(train), train, identity(test_), test_).explicitness_score_test > 0.99);
  t.true(explicitnessFromCodes(duplicated(train), train, duplicated(test_), test_).explicitness_score_test > 0.99);
  const n = explicitnessFromCodes(noise(train, 4), train, noise(test_, 5), test_);
  t.true(n.explicitness_score_test < 0.6, `noise explicitness ${n.explicitness_score_test}`);
  // disentanglement_lib standardises with a zero deviation and feeds NaN to its classifier; we say so instead.
  t.throws(() => explicitnessFromCodes(constant(train), train, constant(test_), test_), {
    instanceOf: MetricInputError,
    message: /code 0 is constant on the train rows/,
  });
});

test('DCI: identity disentangled and complete; constant 0; duplicated incomplete; noise neither', (t) => {
  const small = train.slice(0, 600);
  const smallTest = test_.slice(0, 300);
  const dci = (codes: (f: number[][], seed: number) => number[][]): ReturnType<typeof dciFromCodes> =>
    dciFromCodes(codes(small, 6), small, codes(smallTest, 7), smallTest, { nEstimators: 20 });
  const id = dci(noisyIdentity);
  t.true(id.disentanglement > 0.9, `identity D ${id.disentanglement}`);
  t.true(id.completeness > 0.9, `identity C ${id.completeness}`);
  t.true(id.informativeness_test > 0.95);
  // No tree splits on a constant code: the importance matrix is 0, which dci.py scores as D = C = 0.
  const cst = dci(constant);
  t.is(cst.disentanglement, 0);
  t.is(cst.completeness, 0);
  t.true(cst.informativeness_test < 0.4, `constant informativeness ${cst.informativeness_test}`);
  // Every factor split evenly over two codes: each code still serves one factor (D high), each factor is spread
  // (C = 1 - log 2 / log 6 = 0.61 at best).
  const dup = dci(duplicated);
  t.true(dup.disentanglement > 0.9, `duplicated D ${dup.disentanglement}`);
  t.true(dup.completeness < 0.7, `duplicated C ${dup.completeness}`);
  const thrice = dci(oneFactorThrice);
  t.true(thrice.completeness < 0.1, `one factor thrice C ${thrice.completeness}`);
  const n = dci(noise);
  t.true(n.disentanglement < 0.1 && n.completeness < 0.1, `noise D ${n.disentanglement} C ${n.completeness}`);
  t.true(n.informativeness_test < 0.4, `noise informativeness ${n.informativeness_test}`);
});

test('IRS: identity and duplicated near 1; constant codes 0 with no active dimension; noise and permuted low', (t) => {
  t.true(irsFromCodes(noisyIdentity(train, 8), train).IRS > 0.8);
  t.true(irsFromCodes(duplicated(train), train).IRS > 0.9);
  const cst = irsFromCodes(constant(train), train);
  t.is(cst.IRS, 0);
  t.is(cst.numActiveDims, 0);
  const n = irsFromCodes(noise(train, 3), train).IRS;
  t.true(n < 0.5, `noise IRS ${n}`);
  const perm = irsFromCodes(permuted(train, 3), train).IRS;
  t.true(perm < 0.5, `permuted IRS ${perm}`);
});

function source(map: (f: number[][]) => number[][]): GroundTruthSource {
  return {
    factorSizes: SIZES,
    sampleFactors: uniformFactorSampler(SIZES),
    represent: (f) => Promise.resolve(map(f)),
  };
}

const samplingOpts = { numTrain: 300, numEval: 200, batchSize: 16 };
const liveNoise = (seed: number): ((f: number[][]) => number[][]) => {
  const rng = new Rng(seed);
  return (f) => f.map(() => [rng.normal(), rng.normal(), rng.normal()]);
};

test('BetaVAE score: identity and duplicated 1; constant and noise at chance (1/3 for 3 factors)', async (t) => {
  const noiseRng = new Rng(9);
  const id = source((f) => f.map((r) => r.map((v) => v + 0.01 * noiseRng.normal())));
  t.is((await computeBetaVae(id, new Rng(1), samplingOpts)).eval_accuracy, 1);
  t.is((await computeBetaVae(source(duplicated), new Rng(1), samplingOpts)).eval_accuracy, 1);
  const cst = await computeBetaVae(source(constant), new Rng(1), samplingOpts);
  t.true(cst.eval_accuracy < 0.5, `constant BetaVAE ${cst.eval_accuracy}`);
  const n = await computeBetaVae(source(liveNoise(7)), new Rng(1), samplingOpts);
  t.true(n.eval_accuracy < 0.5, `noise BetaVAE ${n.eval_accuracy}`);
});

test('FactorVAE score: identity and duplicated 1; constant 0 with no active dimension; noise and one-factor low', async (t) => {
  const opts = { ...samplingOpts, numVarianceEstimate: 500 };
  const noiseRng = new Rng(9);
  const id = source((f) => f.map((r) => r.map((v) => v + 0.01 * noiseRng.normal())));
  t.is((await computeFactorVae(id, new Rng(1), opts)).eval_accuracy, 1);
  t.is((await computeFactorVae(source(duplicated), new Rng(1), opts)).eval_accuracy, 1);
  // factor_vae.py: "Empty representation" -> every score 0.
  t.like(await computeFactorVae(source(constant), new Rng(1), opts), { train_accuracy: 0, eval_accuracy: 0, num_active_dims: 0 });
  const n = await computeFactorVae(source(liveNoise(7)), new Rng(1), opts);
  t.true(n.eval_accuracy < 0.5, `noise FactorVAE ${n.eval_accuracy}`);
  const one = source((f) => f.map((r) => [(r[0] as number) + 0.01 * noiseRng.normal(), 0.01 * noiseRng.normal(), 0]));
  const fv = await computeFactorVae(one, new Rng(2), opts);
  t.true(fv.eval_accuracy < 0.7, `one-factor FactorVAE ${fv.eval_accuracy}`);
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
