// search.pbt in the spec: what is accepted, each bad input refused with the field named and the fix (by
// validateSweepSpec and by `dcign sweep plan` as a user runs it), and the pure rules of exploit and explore.
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import test from 'ava';
import { stringify } from 'yaml';

import { SweepSpecError, loadSweepSpec, validateSweepSpec } from '../../src/sweep/spec.js';
import { boundaryRng, chooseExploits, generationTrainConfig, pbtGenerations, pbtMembers, perturb } from '../../src/sweep/pbt-plan.js';
import { Rng } from '../../src/random.js';

const run = promisify(execFile);
const CLI = path.resolve('dist/src/cli/main.js');

const pbt = { population: 4, interval: 50, quantile: 0.25, perturb: { beta: [0.8, 1.2], learningRate: [0.8, 1.2] }, fitness: 'elbo', seed: 3 };
const base = {
  name: 'pbt',
  dataset: 'dsprites-small',
  model: { variant: 'beta-vae', imageSize: 32, beta: 4 },
  train: { steps: 200, batchSize: 16, learningRate: 0.001, checkpointEvery: 25 },
  search: { seeds: [0], pbt },
  evaluation: { metrics: ['mig'] },
  maxConcurrentTrials: 2,
};
type Over = Record<string, unknown>;
const withPbt = (over: Over, search: Over = {}): Over => ({ search: { seeds: [0], ...search, pbt: { ...pbt, ...over } } });

function issues(over: Over): { field: string; allowed: string }[] {
  try {
    validateSweepSpec({ ...base, ...over });
  } catch (err) {
    if (err instanceof SweepSpecError) return err.issues.map((i) => ({ field: i.field, allowed: i.allowed }));
    throw err;
  }
  return [];
}
const fields = (over: Over): string[] => issues(over).map((i) => i.field);

test('a PBT spec is accepted: members with their own seeds, one config per generation, trained to its boundary', (t) => {
  const spec = validateSweepSpec(base);
  t.deepEqual(spec.search.pbt, { ...pbt, fitness: { metric: 'elbo', mode: 'max' } });
  t.is(pbtGenerations(spec), 4);
  const members = pbtMembers(spec);
  t.deepEqual(members.map((m) => m.key), ['member=0,seed=0', 'member=1,seed=1', 'member=2,seed=2', 'member=3,seed=3']);
  t.deepEqual(members[0]?.params, { beta: 4, learningRate: 0.001 });
  const cfg = generationTrainConfig(spec, members[1]!, { beta: 4.8, learningRate: 0.0008 }, 2);
  t.like(cfg, { steps: 150, learningRate: 0.0008, seed: 1, runDir: 'pbt/member=1,seed=1' });
  t.deepEqual(cfg.evalSteps, [150], 'the held-out ELBO at the boundary (the fitness)');
  t.is(cfg.model.beta, 4.8);
  // one seed per member, and an evaluation metric as fitness
  const own = validateSweepSpec({ ...base, ...withPbt({ fitness: { metric: 'mig' } }, { seeds: [7, 8, 9, 10] }) });
  t.deepEqual(pbtMembers(own).map((m) => m.seed), [7, 8, 9, 10]);
  t.deepEqual(own.search.pbt?.fitness, { metric: 'mig', mode: 'max' });
});

test('each bad pbt field is refused, naming the field and what is allowed', (t) => {
  const one = (over: Over, search: Over = {}): { field: string; allowed: string } => {
    const all = issues(over.search === undefined && !('model' in over) && !('train' in over) && !('earlyStopping' in over) && !('objective' in over) ? withPbt(over, search) : over);
    t.is(all.length, 1, JSON.stringify(all));
    return all[0] as { field: string; allowed: string };
  };
  t.like(one({ population: 1 }), { field: 'search.pbt.population' });
  t.like(one({ population: 2.5 }), { field: 'search.pbt.population' });
  t.regex(one({ interval: 75 }).allowed, /a divisor of train\.steps \(200\) smaller than it.*e\.g\. 50/);
  t.regex(one({ interval: 200 }).allowed, /a divisor of train\.steps \(200\) smaller than it/);
  t.regex(one({ interval: 40 }).allowed, /a multiple of train\.checkpointEvery \(25\)/);
  t.regex(one({ quantile: 0 }).allowed, /0 < quantile <= 0\.5/);
  t.regex(one({ quantile: 0.6 }).allowed, /0 < quantile <= 0\.5/);
  t.regex(one({ quantile: 0.2 }).allowed, /replaces nobody; use at least 0\.250/);
  const unknown = one({ perturb: { beta: [0.8, 1.2], lambda: [0.5, 2] } });
  t.is(unknown.field, 'search.pbt.perturb.lambda');
  t.regex(unknown.allowed, /cannot perturb lambda for beta-vae; allowed: beta, learningRate/);
  t.like(one({ perturb: { beta: [0, 1.2] } }), { field: 'search.pbt.perturb.beta' });
  t.like(one({ perturb: {} }), { field: 'search.pbt.perturb' });
  t.like(one({ populaton: 4 }), { field: 'search.pbt.populaton' });
  t.regex(one({ fitness: 'dci_disentanglement' }).allowed, /comes from the dci metric, which evaluation\.metrics does not list/);
  t.like(one({ fitness: { metric: 'elbo', mode: 'up' } }), { field: 'search.pbt.fitness.mode' });
  t.regex(one({ seed: -1 }).allowed, /integer >= 0/);
  t.regex(one({}, { seeds: [0, 1] }).allowed, /one seed \(member m trains with seed \+ m\) or one per member \(4\)/);
  // fields outside search.pbt that PBT depends on
  t.regex(one({ train: { ...base.train, evalBatches: 0 } }).allowed, /elbo is the held-out ELBO .* set train\.evalBatches >= 1/);
  t.regex(one({ model: { variant: 'beta-vae', imageSize: 32 } }).allowed, /beta needs a starting value > 0 to multiply: set model\.beta/);
  t.deepEqual(fields({ earlyStopping: { asha: { minSteps: 50, eta: 3 } }, objective: 'elbo' }), ['earlyStopping']);
  t.deepEqual(fields(withPbt({}, { grid: { beta: [1, 2] } })), ['search.grid']);
});

test('exploit: the bottom quantile copy a top member (a missing fitness ranks last); explore multiplies by a listed factor', (t) => {
  // higher is better: member 2 is worst, 0 best; quantile 0.25 of 4 -> one exploit, from the one top member
  t.deepEqual(chooseExploits([5, 3, 1, 4], { mode: 'max' }, 0.25, new Rng(0)), [{ member: 2, donor: 0 }]);
  t.deepEqual(chooseExploits([5, 3, 1, 4], { mode: 'min' }, 0.25, new Rng(0)), [{ member: 0, donor: 2 }]);
  t.deepEqual(chooseExploits([5, undefined, 1, 4], { mode: 'max' }, 0.25, new Rng(0)), [{ member: 1, donor: 0 }]);
  t.deepEqual(chooseExploits([undefined, undefined, NaN, undefined], { mode: 'max' }, 0.25, new Rng(0)), [], 'no measured fitness: no exploit');
  const two = chooseExploits([1, 2, 3, 4, 5, 6], { mode: 'max' }, 0.34, new Rng(1));
  t.deepEqual(two.map((e) => e.member), [1, 0]);
  t.true(two.every((e) => e.donor === 5 || e.donor === 4), JSON.stringify(two));
  const spec = validateSweepSpec(base);
  const p = spec.search.pbt!;
  const a = perturb({ beta: 4, learningRate: 0.001 }, p.perturb, boundaryRng(p, 1));
  t.deepEqual(perturb({ beta: 4, learningRate: 0.001 }, p.perturb, boundaryRng(p, 1)), a, 'the same draws on every replay');
  t.true([3.2, 4.8].includes(a.beta as number) && [0.0008, 0.0012].includes(a.learningRate as number), JSON.stringify(a));
});

test('`dcign sweep plan` refuses bad pbt fields with the field named; the example PBT study plans', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'dcign-pbtspec-'));
  const cases: [Over, RegExp][] = [
    [withPbt({ interval: 60 }), /- search\.pbt\.interval: got 60; expected a divisor of train\.steps \(200\)/],
    [withPbt({ perturb: { gamma: [0.8, 1.2] } }), /- search\.pbt\.perturb\.gamma: got "gamma"; cannot perturb gamma for beta-vae; allowed: beta, learningRate/],
    [withPbt({ quantile: 0.75 }), /- search\.pbt\.quantile: got 0\.75; expected a number with 0 < quantile <= 0\.5/],
    [withPbt({ population: 1 }), /- search\.pbt\.population: got 1; expected an integer in 2\.\.256/],
    [withPbt({ fitness: 'sap' }), /- search\.pbt\.fitness: got "sap"; sap comes from the sap metric, which evaluation\.metrics does not list/],
  ];
  for (const [i, [over, want]] of cases.entries()) {
    const file = path.join(dir, `bad-${i}.yaml`);
    await writeFile(file, stringify({ ...base, ...over }));
    const err = await t.throwsAsync(run(process.execPath, [CLI, 'sweep', 'plan', file, '--measure-steps', '0']));
    t.regex((err as { stderr?: string }).stderr ?? '', want);
  }
  t.is(loadSweepSpec('sweeps/pbt-study.yaml').search.pbt?.population, 4);
  const { stdout } = await run(process.execPath, [CLI, 'sweep', 'plan', 'sweeps/pbt-study.yaml', '--measure-steps', '0']);
  t.regex(stdout, /search\.pbt: 4 members, 4 generations of 200 steps; at each boundary the bottom 1 by elbo \(max\) copy a top member's checkpoint/);
  t.regex(stdout, /member=3,seed=3/);
});
