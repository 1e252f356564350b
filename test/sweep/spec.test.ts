import test from 'ava';

import { expandTrials, parsePoint, trainConfigFor } from '../../src/sweep/expand.js';
import { SweepSpecError, loadSweepSpec, parseSweepSpec, validateSweepSpec } from '../../src/sweep/spec.js';

const base = {
  name: 'unit',
  dataset: 'dsprites',
  model: { variant: 'beta-vae', latentSize: 10 },
  train: { steps: 100, batchSize: 64 },
  search: { grid: { beta: [1, 4], latentSize: [5, 10] }, seeds: [0, 1] },
  replicas: 2,
};

test('the example specs are valid and the smoke sweep has >= 4 trials of 2 replicas', (t) => {
  for (const f of ['smoke', 'dsprites-beta', 'dcign-scenes']) t.notThrows(() => loadSweepSpec(`sweeps/${f}.yaml`), f);
  const smoke = loadSweepSpec('sweeps/smoke.yaml');
  t.true(expandTrials(smoke).length >= 4);
  t.true(smoke.replicas >= 2);
  const locatello = loadSweepSpec('sweeps/dsprites-beta.yaml');
  t.deepEqual(locatello.search.grid.beta, [1, 2, 4, 6, 8, 16]);
  t.deepEqual(locatello.search.grid.latentSize, [10]);
});

test('every problem is reported at once, naming the field, the value and what is allowed', (t) => {
  const err = t.throws(
    () =>
      validateSweepSpec({
        ...base,
        name: 'Bad Name',
        model: { variant: 'vq-vae' },
        train: { steps: 0, batchSize: 63 },
        search: { grid: { beta: [1, -2], latnt: [3] }, seeds: [0, 0] },
        maxConcurrentTrials: 0,
        evaluation: { metrics: ['mig', 'accuracy'] },
        retry: { maxGroupRestarts: -1, bogus: 1 },
        colour: 'blue',
      }),
    { instanceOf: SweepSpecError },
  ) as SweepSpecError;
  const fields = err.issues.map((i) => i.field);
  for (const f of [
    'name',
    'model.variant',
    'train.steps',
    'train.batchSize',
    'search.grid.beta[1]',
    'search.grid.latnt',
    'search.seeds',
    'maxConcurrentTrials',
    'evaluation.metrics[1]',
    'retry.maxGroupRestarts',
    'retry.bogus',
    'colour',
  ]) {
    t.true(fields.includes(f), `${f} missing from ${fields.join(', ')}`);
  }
  t.regex(err.message, /model\.variant: got "vq-vae"; expected one of beta-vae, annealed-vae, dcign, info-vae/);
  t.regex(err.message, /search\.grid\.beta\[1\]: got -2; expected a number >= 0/);
  t.regex(err.message, /train\.batchSize: got 63; expected a multiple of replicas \(2\)/);
});

test('YAML errors and random-search distributions are validated too', (t) => {
  t.throws(() => parseSweepSpec('name: [unclosed'), { instanceOf: SweepSpecError, message: /expected valid YAML/ });
  const err = t.throws(() =>
    validateSweepSpec({ ...base, search: { grid: { beta: [1] }, random: { count: 3, params: { beta: { uniform: [2, 1] }, learningRate: { normal: [0, 1] } } } } }),
  ) as SweepSpecError;
  t.deepEqual(
    err.issues.map((i) => i.field),
    ['search.random.params.beta', 'search.random.params.beta.uniform', 'search.random.params.learningRate'],
  );
});

test('checkpoints.keep defaults to 3, takes an integer >= 1 and nothing else', (t) => {
  t.deepEqual(validateSweepSpec(base).checkpoints, { keep: 3 });
  t.deepEqual(validateSweepSpec({ ...base, checkpoints: { keep: 1 } }).checkpoints, { keep: 1 });
  const err = t.throws(() => validateSweepSpec({ ...base, checkpoints: { keep: 0, every: 5 } }), { instanceOf: SweepSpecError }) as SweepSpecError;
  t.deepEqual(err.issues.map((i) => i.field).sort(), ['checkpoints.every', 'checkpoints.keep']);
  t.regex(err.message, /checkpoints\.keep: got 0; expected an integer >= 1/);
  t.throws(() => validateSweepSpec({ ...base, checkpoints: 3 }), { instanceOf: SweepSpecError, message: /checkpoints: got 3; expected a mapping/ });
});

test('grid x seeds expands with stable, readable keys', (t) => {
  const spec = validateSweepSpec(base);
  const keys = expandTrials(spec).map((x) => x.key);
  t.deepEqual(keys, [
    'beta=1,latent=5,seed=0',
    'beta=1,latent=5,seed=1',
    'beta=1,latent=10,seed=0',
    'beta=1,latent=10,seed=1',
    'beta=4,latent=5,seed=0',
    'beta=4,latent=5,seed=1',
    'beta=4,latent=10,seed=0',
    'beta=4,latent=10,seed=1',
  ]);
});

test('random search is deterministic from its seed and stays in range', (t) => {
  const spec = validateSweepSpec({
    ...base,
    search: {
      grid: { latentSize: [10] },
      random: { count: 5, seed: 3, params: { learningRate: { logUniform: [1e-5, 1e-3] }, beta: { intUniform: [1, 16] } } },
      seeds: [0],
    },
  });
  const a = expandTrials(spec);
  const b = expandTrials(spec);
  t.deepEqual(a, b);
  t.is(a.length, 5);
  for (const trial of a) {
    const lr = trial.params.learningRate as number;
    const beta = trial.params.beta as number;
    t.true(lr >= 1e-5 && lr <= 1e-3, String(lr));
    t.true(Number.isInteger(beta) && beta >= 1 && beta <= 16);
    t.regex(trial.key, /^latent=10,lr=[\d.e-]+,beta=\d+,seed=0$/);
  }
  const other = expandTrials(validateSweepSpec({ ...spec, search: { ...spec.search, random: { ...spec.search.random!, seed: 4 } } }));
  t.notDeepEqual(other.map((x) => x.key), a.map((x) => x.key));
});

test('a trial config applies the trial parameters over the spec defaults', (t) => {
  const spec = validateSweepSpec({ ...base, search: { grid: { beta: [4], 'train.gradClip': [1.5] }, seeds: [7] } });
  const [trial] = expandTrials(spec);
  const cfg = trainConfigFor(spec, trial!, 'unit/x');
  t.is(cfg.model.beta, 4);
  t.is(cfg.model.latentSize, 10);
  t.is(cfg.gradClip, 1.5);
  t.is(cfg.seed, 7);
  t.is(cfg.steps, 100);
  t.is(cfg.runDir, 'unit/x');
});

test('points added on the command line parse to canonical keys, errors name the part', (t) => {
  const spec = validateSweepSpec(base);
  t.is(parsePoint(spec, 'latent=10, beta=3, seed=0').key, 'beta=3,latent=10,seed=0');
  t.is(parsePoint(spec, 'beta=3,latentSize=10,seed=0').key, 'beta=3,latent=10,seed=0');
  t.throws(() => parsePoint(spec, 'beta=3,latent=10'), { message: /name a seed/ });
  t.throws(() => parsePoint(spec, 'beta=-1,seed=0'), { message: /beta must be >= 0/ });
  t.throws(() => parsePoint(spec, 'gama=1,seed=0'), { message: /unknown parameter "gama"/ });
  t.throws(() => parsePoint(spec, 'gamma=1,seed=0'), { message: /gamma does not belong to beta-vae; it is a parameter of annealed-vae, factor-vae/ });
  t.throws(() => parsePoint(spec, 'beta,seed=0'), { message: /"beta" is not NAME=VALUE/ });
  // A point added to the smoke sweep (no latent axis) parses against that spec's own axes.
  t.is(parsePoint(loadSweepSpec('sweeps/smoke.yaml'), 'seed=2,beta=2').key, 'beta=2,seed=2');
});

test('objective: a bare key takes its mode from the metric, a mapping states it, bad forms are named', (t) => {
  const base = { name: 'o', dataset: 'dsprites-small', model: { variant: 'beta-vae' }, train: { steps: 1, batchSize: 8 }, search: { grid: { beta: [1] }, seeds: [0] } };
  t.deepEqual(validateSweepSpec({ ...base, objective: 'mig' }).objective, { metric: 'mig', mode: 'max' });
  t.deepEqual(validateSweepSpec({ ...base, objective: 'recon' }).objective, { metric: 'recon', mode: 'min' });
  t.deepEqual(validateSweepSpec({ ...base, objective: { metric: 'elbo', mode: 'max' } }).objective, { metric: 'elbo', mode: 'max' });
  t.is(validateSweepSpec(base).objective, undefined);
  const e = t.throws(() => validateSweepSpec({ ...base, objective: { metric: 'mig', mode: 'best' } }));
  t.regex(e.message, /objective\.mode[\s\S]*min \(lower is better\) or max/);
  t.throws(() => validateSweepSpec({ ...base, objective: 42 }), { message: /objective[\s\S]*metric key/ });
});

test('every section refuses unknown keys, naming the allowed ones (train, train.adam, model and its sections, evaluation)', (t) => {
  const err = t.throws(
    () =>
      validateSweepSpec({
        ...base,
        model: { variant: 'beta-vae', latentSize: 10, latentsize: 4, capacity: { gamma: 1, cmax: 5 } },
        train: { steps: 100, batchSize: 64, learningrate: 1e-3, adam: { beta1: 0.9, eps: 1e-7 } },
        evaluation: { metrics: ['mig'], numtest: 10 },
      }),
    { instanceOf: SweepSpecError },
  ) as SweepSpecError;
  t.deepEqual(
    err.issues.map((i) => i.field),
    ['model.latentsize', 'model.capacity.cmax', 'train.learningrate', 'train.adam.eps', 'evaluation.numtest'],
  );
  t.regex(err.message, /train\.learningrate: got 0\.001; unknown field; allowed: steps, batchSize, learningRate, adam, /);
  t.regex(err.message, /train\.adam\.eps: got 1e-7; unknown field; allowed: beta1, beta2, epsilon/);
  t.regex(err.message, /model\.latentsize: got 4; unknown field; allowed: variant, architecture, beta, latentSize,/);
  t.regex(err.message, /model\.capacity\.cmax: got 5; unknown field; allowed: gamma, cMax, steps/);
  t.regex(err.message, /evaluation\.numtest: got 10; unknown field; allowed: enabled, metrics, numTrain, numTest/);
  // every known field of each list is accepted
  t.notThrows(() => validateSweepSpec({ ...base, train: { ...base.train, clipNorm: 1, adam: { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 } } }));
});
