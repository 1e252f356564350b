// ASHA's decision rule (Li et al. 2020, Algorithm 2, stopping form) and the spec's earlyStopping section.
import test from 'ava';

import { ashaDecide, ashaRungs } from '../../src/sweep/asha.js';
import { trialEarlyStopping } from '../../src/sweep/early-stopping.js';
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

test('earlyStopping is validated with the spec: it needs a training-loss objective and rungs trials reach', (t) => {
  const spec = validateSweepSpec({ ...base, objective: 'loss', earlyStopping: { asha: { minSteps: 10, eta: 2 } } });
  t.deepEqual(spec.earlyStopping, { asha: { minSteps: 10, eta: 2 } });
  t.deepEqual(trialEarlyStopping(spec, 100), { metric: 'loss', rungs: [10, 20, 40, 80] });
  t.deepEqual(validateSweepSpec({ ...base, objective: 'recon', earlyStopping: { asha: { minSteps: 10 } } }).earlyStopping, { asha: { minSteps: 10, eta: 3 } });
  t.is(trialEarlyStopping(validateSweepSpec(base), 100), undefined);

  t.throws(() => validateSweepSpec({ ...base, earlyStopping: { asha: { minSteps: 10 } } }), { message: /earlyStopping: got .*needs an objective to compare trials on: add e\.g\. `objective: loss`/ });
  t.throws(() => validateSweepSpec({ ...base, objective: 'mig', earlyStopping: { asha: { minSteps: 10 } } }), {
    message: /objective: got "mig"; early stopping compares trials at rungs on a loss the replicas log while training: one of recon, kl, loss/,
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
