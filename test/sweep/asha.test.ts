// ASHA's decision rule (Li et al. 2020, Algorithm 2, stopping form) and the spec's earlyStopping section.
import test from 'ava';

import { ashaDecide, ashaRungs } from '../../src/sweep/asha.js';
import { trainForEarlyStopping, trialEarlyStopping } from '../../src/sweep/early-stopping.js';
import { trainConfigFor } from '../../src/sweep/expand.js';
import { loadSweepSpec, validateSweepSpec } from '../../src/sweep/spec.js';
import { planSweep } from '../../src/sweep/plan.js';

test('rungs sit at minSteps * eta^k below the last step', (t) => {
  t.deepEqual(ashaRungs({ minSteps: 10, eta: 3 }, 300), [10, 30, 90, 270]);
  t.deepEqual(ashaRungs({ minSteps: 10, eta: 3 }, 270), [10, 30, 90]);
  t.deepEqual(ashaRungs({ minSteps: 100, eta: 2 }, 100), []);
});

test('a trial trains on only in the top 1/eta of what its rung recorded so far, itself included', (t) => {
  // The first arrival has nothing to lose to: promoted.
  t.like(ashaDecide(5, [], 'min', 3), { promote: true, kept: 1, recorded: 1 });
  // 3 recorded, eta 3: only the best goes on.
  t.like(ashaDecide(2, [1, 3], 'min', 3), { promote: false, kept: 1, recorded: 3, cutoff: 1 });
  t.like(ashaDecide(0.5, [1, 3], 'min', 3), { promote: true, kept: 1 });
  // 6 recorded, eta 3: the best two; a tie with the cutoff goes on.
  t.like(ashaDecide(2, [1, 2, 3, 4, 5], 'min', 3), { promote: true, kept: 2, cutoff: 2 });
  t.like(ashaDecide(3, [1, 2, 3, 4, 5], 'min', 3), { promote: false, kept: 2, cutoff: 2 });
  // Higher is better for max objectives.
  t.like(ashaDecide(0.9, [0.1, 0.5, 0.7], 'max', 2), { promote: true, kept: 2, cutoff: 0.7 });
  t.like(ashaDecide(0.2, [0.1, 0.5, 0.7], 'max', 2), { promote: false, kept: 2, cutoff: 0.5 });
  // A diverged loss (NaN) is worse than any number.
  t.like(ashaDecide(Number.NaN, [10, 20], 'min', 2), { promote: false });
  t.like(ashaDecide(30, [Number.NaN, Number.NaN], 'min', 2), { promote: true });
});

test('planted worst trials arriving after the good ones are all stopped at the first rung', (t) => {
  // The order of the orchestration test: two good trials (loss 100) record first, then two planted bad ones (1000).
  const recorded: number[] = [];
  const decide = (v: number): boolean => {
    const d = ashaDecide(v, recorded, 'min', 2);
    recorded.push(v);
    return d.promote;
  };
  t.deepEqual([100, 100, 1000, 1000].map(decide), [true, true, false, false]);
});

const base = {
  name: 'es',
  dataset: 'dsprites-small',
  model: { variant: 'beta-vae', imageSize: 32 },
  train: { steps: 100, batchSize: 8, logEvery: 5 },
  search: { grid: { beta: [1, 4] }, seeds: [0] },
};

test('earlyStopping is validated with the spec: it needs an objective it can compare at rungs and rungs trials reach', (t) => {
  const spec = validateSweepSpec({ ...base, objective: 'loss', earlyStopping: { asha: { minSteps: 10, eta: 2 } } });
  t.deepEqual(spec.earlyStopping, { asha: { minSteps: 10, eta: 2 } });
  t.deepEqual(trialEarlyStopping(spec, 100), { metric: 'loss', rungs: [10, 20, 40, 80] });
  t.deepEqual(validateSweepSpec({ ...base, objective: 'recon', earlyStopping: { asha: { minSteps: 10 } } }).earlyStopping, { asha: { minSteps: 10, eta: 3 } });
  t.is(trialEarlyStopping(validateSweepSpec(base), 100), undefined);

  t.throws(() => validateSweepSpec({ ...base, earlyStopping: { asha: { minSteps: 10 } } }), { message: /earlyStopping: got .*needs an objective to compare trials on: add e\.g\. `objective: loss`/ });
  t.throws(() => validateSweepSpec({ ...base, objective: 'steps_per_s', earlyStopping: { asha: { minSteps: 10 } } }), {
    message:
      /objective: got "steps_per_s"; early stopping compares trials at rungs on a training loss, the held-out ELBO or an evaluation metric: one of recon, kl, loss, elbo, or the key of a metric in evaluation\.metrics \(beta_vae_eval, factor_vae_eval, mig, sap, dci_disentanglement, irs, modularity, explicitness_test\)/,
  });
  const err = t.throws(() => validateSweepSpec({ ...base, objective: 'loss', earlyStopping: { asha: { minSteps: 100, eta: 1.5, rungs: 3 } } }));
  t.regex(err?.message ?? '', /earlyStopping\.asha\.rungs: got 3; unknown field; allowed: minSteps, eta/);
  t.regex(err?.message ?? '', /earlyStopping\.asha\.minSteps: got 100; expected fewer than train\.steps \(100\)/);
  t.regex(err?.message ?? '', /earlyStopping\.asha\.eta: got 1\.5; expected an integer >= 2/);
  t.throws(() => validateSweepSpec({ ...base, objective: 'loss', earlyStopping: { asha: { minSteps: 2 } } }), { message: /expected at least train\.logEvery \(5\)/ });
  t.throws(() => validateSweepSpec({ ...base, objective: 'loss', earlyStopping: { hyperband: {} } }), { message: /earlyStopping: got .*expected \{asha: \{minSteps/ });
});

test('the README\'s example sweeps/asha-smoke.yaml is valid and stops on its training loss', (t) => {
  const spec = loadSweepSpec('sweeps/asha-smoke.yaml');
  t.deepEqual(spec.objective, { metric: 'loss', mode: 'min' });
  t.deepEqual(trialEarlyStopping(spec, spec.train.steps), { metric: 'loss', rungs: [20, 40, 80] });
  t.is(planSweep(spec).trials.length, 6);
});

test('the held-out ELBO is an early-stopping objective: maximised, computed at each rung and the last step, and it needs evalBatches', (t) => {
  const spec = validateSweepSpec({ ...base, objective: 'elbo', earlyStopping: { asha: { minSteps: 10, eta: 2 } } });
  t.deepEqual(spec.objective, { metric: 'elbo', mode: 'max' });
  const es = trialEarlyStopping(spec, 100);
  t.deepEqual(es, { metric: 'elbo', rungs: [10, 20, 40, 80] });
  const train = trainConfigFor(spec, { key: 'beta=1,seed=0', params: { beta: 1 }, seed: 0 }, 'es/beta=1,seed=0');
  t.deepEqual(trainForEarlyStopping(train, es).evalSteps, [10, 20, 40, 80, 100]);
  // a training loss is logged anyway: its trials' config is left as it is
  const lossSpec = validateSweepSpec({ ...base, objective: 'loss', earlyStopping: { asha: { minSteps: 10, eta: 2 } } });
  t.is(trainForEarlyStopping(train, trialEarlyStopping(lossSpec, 100)), train);
  // the rungs are eval steps, so they need not wait for a log step
  t.deepEqual(trialEarlyStopping(validateSweepSpec({ ...base, objective: 'elbo', earlyStopping: { asha: { minSteps: 2, eta: 3 } } }), 100)?.rungs, [2, 6, 18, 54]);
  t.truthy(validateSweepSpec({ ...base, train: { ...base.train, evalBatches: 1 }, objective: 'elbo', earlyStopping: { asha: { minSteps: 10 } } }).earlyStopping);

  t.throws(() => validateSweepSpec({ ...base, train: { ...base.train, evalBatches: 0 }, objective: 'elbo', earlyStopping: { asha: { minSteps: 10 } } }), {
    message: /train\.evalBatches: got 0; expected an integer >= 1 with `objective: elbo` and earlyStopping: the held-out ELBO at each rung is the mean over that many evaluation batches \(remove train\.evalBatches for the default 8, or set it to 1 or more\)/,
  });
  // set per trial by the search: refused by the plan, naming the trials, before anything starts
  const perTrial = validateSweepSpec({ ...base, search: { grid: { 'train.evalBatches': [0, 2] }, seeds: [0] }, objective: 'elbo', earlyStopping: { asha: { minSteps: 10 } } });
  t.throws(() => planSweep(perTrial), {
    message: /trial train\.evalBatches=0,seed=0: evalBatches: got 0; .*must be >= 1 to compute the held-out ELBO at evalSteps \(10, 30, 90, 100; /,
  });
  // without early stopping nothing is computed during training: any evalBatches will do
  t.is(validateSweepSpec({ ...base, train: { ...base.train, evalBatches: 0 }, objective: 'elbo' }).objective?.metric, 'elbo');
});

test('the README\'s example sweeps/asha-elbo-smoke.yaml is valid and stops on the held-out ELBO', (t) => {
  const spec = loadSweepSpec('sweeps/asha-elbo-smoke.yaml');
  t.deepEqual(spec.objective, { metric: 'elbo', mode: 'max' });
  const es = trialEarlyStopping(spec, spec.train.steps);
  t.deepEqual(es, { metric: 'elbo', rungs: [20, 40, 80] });
  const plan = planSweep(spec);
  t.is(plan.trials.length, 6);
  t.deepEqual(trainForEarlyStopping(trainConfigFor(spec, plan.trials[0]!, 'x'), es).evalSteps, [20, 40, 80, 120]);
});

test('an evaluation metric is an early-stopping objective when evaluation.metrics lists it: maximised, checkpointed and evaluated at each rung', (t) => {
  const spec = validateSweepSpec({ ...base, evaluation: { metrics: ['mig', 'dci'] }, objective: 'mig', earlyStopping: { asha: { minSteps: 10, eta: 2 } } });
  t.deepEqual(spec.objective, { metric: 'mig', mode: 'max' });
  const es = trialEarlyStopping(spec, 100);
  t.deepEqual(es, { metric: 'mig', rungs: [10, 20, 40, 80], evaluated: true });
  const train = trainConfigFor(spec, { key: 'beta=1,seed=0', params: { beta: 1 }, seed: 0 }, 'es/beta=1,seed=0');
  const replica = trainForEarlyStopping(train, es);
  t.deepEqual(replica.checkpointSteps, [10, 20, 40, 80], 'the trainer writes a checkpoint at each rung');
  t.is(replica.evalSteps, undefined, 'no held-out ELBO is computed for it');
  // a metric's headline key names it: dci logs dci_disentanglement; rungs need not be log steps (logEvery 5)
  const dci = validateSweepSpec({ ...base, evaluation: { metrics: ['dci'] }, objective: 'dci_disentanglement', earlyStopping: { asha: { minSteps: 2 } } });
  t.deepEqual(trialEarlyStopping(dci, 100), { metric: 'dci_disentanglement', rungs: [2, 6, 18, 54], evaluated: true });
  // the held-out elbo stays the trainer's, even when evaluation.metrics lists elbo too
  t.deepEqual(trialEarlyStopping(validateSweepSpec({ ...base, evaluation: { metrics: ['elbo'] }, objective: 'elbo', earlyStopping: { asha: { minSteps: 10 } } }), 100), {
    metric: 'elbo',
    rungs: [10, 30, 90],
  });
  // and the plan validates the trainer config with the rung checkpoints in it
  t.is(planSweep(spec).trials.length, 2);

  t.throws(() => validateSweepSpec({ ...base, evaluation: { metrics: ['sap'] }, objective: 'mig', earlyStopping: { asha: { minSteps: 10 } } }), {
    message: /objective: got "mig"; objective mig needs mig in evaluation\.metrics: early stopping evaluates each rung's checkpoint on the metrics listed there \(add mig to evaluation\.metrics, now \[sap\]\)/,
  });
  t.throws(() => validateSweepSpec({ ...base, evaluation: { metrics: ['mig'] }, objective: 'dci_disentanglement', earlyStopping: { asha: { minSteps: 10 } } }), {
    message: /objective dci_disentanglement needs dci in evaluation\.metrics/,
  });
  t.throws(() => validateSweepSpec({ ...base, evaluation: { enabled: false, metrics: ['mig'] }, objective: 'mig', earlyStopping: { asha: { minSteps: 10 } } }), {
    message: /evaluation\.enabled: got false; expected true with `objective: mig` and earlyStopping: each rung evaluates the trial's checkpoint there/,
  });
  // without early stopping an objective is only for ranking: nothing is evaluated before the end
  t.is(validateSweepSpec({ ...base, evaluation: { metrics: ['sap'] }, objective: 'mig' }).objective?.metric, 'mig');
});

test('the README\'s example sweeps/asha-mig-smoke.yaml is valid and stops on MIG evaluated at the rungs', (t) => {
  const spec = loadSweepSpec('sweeps/asha-mig-smoke.yaml');
  t.deepEqual(spec.objective, { metric: 'mig', mode: 'max' });
  const es = trialEarlyStopping(spec, spec.train.steps);
  t.deepEqual(es, { metric: 'mig', rungs: [40, 80, 160], evaluated: true });
  const plan = planSweep(spec);
  t.is(plan.trials.length, 6);
  t.deepEqual(trainForEarlyStopping(trainConfigFor(spec, plan.trials[0]!, 'x'), es).checkpointSteps, [40, 80, 160]);
});
