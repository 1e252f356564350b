// search.optimize and the seed-aware objective in the spec: what is accepted, and each bad input refused with the field
// named and the fix (by validateSweepSpec, and by `dcign sweep plan` as a user runs it).
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import test from 'ava';
import { stringify } from 'yaml';

import { SweepSpecError, loadSweepSpec, validateSweepSpec } from '../../src/sweep/spec.js';
import { expandTrials } from '../../src/sweep/expand.js';
import { driverSpace } from '../../src/search/plans.js';

const run = promisify(execFile);
const CLI = path.resolve('dist/src/cli/main.js');

const base = {
  name: 'opt',
  dataset: 'dsprites-small',
  model: { variant: 'beta-vae', imageSize: 32 },
  train: { steps: 100, batchSize: 16 },
  search: { seeds: [0, 1], optimize: { sampler: 'tpe', trials: 10, batch: 2, params: { beta: { logUniform: [0.5, 16] }, learningRate: { logUniform: [1e-4, 1e-3] } } } },
  evaluation: { metrics: ['mig', 'elbo'] },
  objective: { metric: 'mig', aggregate: 'lcb', stdErrors: 1.5 },
  maxConcurrentTrials: 4,
};
type Over = Record<string, unknown>;
const withSearch = (opt: Over, seeds: number[] = [0, 1], extra: Over = {}): Over => ({ search: { seeds, ...extra, optimize: { ...base.search.optimize, ...opt } } });

function issues(over: Over): { field: string; allowed: string }[] {
  try {
    validateSweepSpec({ ...base, ...over });
  } catch (err) {
    if (err instanceof SweepSpecError) return err.issues.map((i) => ({ field: i.field, allowed: i.allowed }));
    throw err;
  }
  return [];
}

test('a TPE search over seeds with an lcb objective is accepted with its defaults; it expands to no fixed trials', (t) => {
  const spec = validateSweepSpec(base);
  t.deepEqual(spec.search.optimize?.objectives, [{ metric: 'mig', mode: 'max', aggregate: 'lcb', stdErrors: 1.5 }]);
  t.is(spec.search.optimize?.seed, 0);
  t.deepEqual(expandTrials(spec), []);
  // multi-objective with a variant choice (a conditional space) under NSGA-II
  const mo = validateSweepSpec({
    ...base,
    model: { imageSize: 32 },
    ...withSearch({ sampler: 'nsga2', params: { learningRate: { logUniform: [1e-4, 1e-3] } }, objectives: ['heldout_recon', 'mig'] }, [0, 1], { variants: { 'beta-vae': { beta: [1, 4] }, 'factor-vae': { gamma: [10, 40] } } }),
    objective: undefined,
  });
  // the held-out reconstruction is a loss: minimised unless the spec says otherwise
  t.deepEqual(mo.search.optimize?.objectives.map((o) => [o.metric, o.mode]), [['heldout_recon', 'min'], ['mig', 'max']]);
  t.deepEqual(driverSpace(mo).variants, { 'beta-vae': { beta: { choice: [1, 4] } }, 'factor-vae': { gamma: { choice: [10, 40] } } });
});

test('an objective naming a metric the evaluation does not compute is refused, naming the metric to add', (t) => {
  const got = issues({ objective: { metric: 'dci_disentanglement' } });
  t.is(got.length, 1);
  t.is(got[0]?.field, 'objective');
  t.regex(got[0]?.allowed ?? '', /comes from the dci metric, which evaluation\.metrics does not list: add dci there/);
  const listed = issues({ ...withSearch({ objectives: ['mig', 'nonsense'] }) });
  t.is(listed[0]?.field, 'search.optimize.objectives[1]');
  t.regex(listed[0]?.allowed ?? '', /expected a key the trials compute: one of recon, kl, loss, mig, elbo, heldout_recon, heldout_kl/);
});

test('a sampler that cannot take the space is refused: CMA-ES with categorical variants, or with two objectives', (t) => {
  const got = issues({ model: { imageSize: 32 }, ...withSearch({ sampler: 'cmaes' }, [0, 1], { variants: { 'beta-vae': {}, 'factor-vae': { gamma: [10, 40] } } }) });
  t.is(got.length, 1);
  t.is(got[0]?.field, 'search.optimize.sampler');
  t.regex(got[0]?.allowed ?? '', /CMA-ES samples continuous and integer parameters only: .*search\.variants.*use tpe, gp or nsga2/);
  const two = issues({ ...withSearch({ sampler: 'cmaes', objectives: ['mig', 'recon'] }) });
  t.is(two[0]?.field, 'search.optimize.sampler');
  t.regex(two[0]?.allowed ?? '', /cmaes optimises one objective/);
});

test('batch above maxConcurrentTrials, lcb with one seed, and optimize beside a grid are refused with the field named', (t) => {
  const batch = issues({ ...withSearch({ batch: 5 }) });
  t.deepEqual(batch.map((i) => i.field), ['search.optimize.batch']);
  t.regex(batch[0]?.allowed ?? '', /at most maxConcurrentTrials \(4\)/);
  const lcb = issues({ ...withSearch({}, [0]) });
  t.deepEqual(lcb.map((i) => i.field), ['objective.aggregate']);
  t.regex(lcb[0]?.allowed ?? '', /lcb needs a standard error, so at least two seeds: search\.seeds has 1/);
  const grid = issues({ ...withSearch({}, [0, 1], { grid: { latentSize: [4, 8] } }) });
  t.deepEqual(grid.map((i) => i.field), ['search.grid']);
  t.deepEqual(issues({ ...withSearch({ sampler: 'bayes' }) }).map((i) => i.field), ['search.optimize.sampler']);
  t.deepEqual(issues({ search: { seeds: [0, 1], grid: { beta: [1] } } }).map((i) => i.field), ['objective.aggregate']);
});

test('`dcign sweep plan` refuses each bad input with the field named; the example study plans', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'dcign-optspec-'));
  const cases: [Over, RegExp][] = [
    [{ objective: { metric: 'dci_disentanglement' } }, /- objective: got "dci_disentanglement"; dci_disentanglement comes from the dci metric/],
    [{ model: { imageSize: 32 }, ...withSearch({ sampler: 'cmaes' }, [0, 1], { variants: { 'beta-vae': {}, 'factor-vae': {} } }) }, /- search\.optimize\.sampler: got "cmaes"; CMA-ES samples continuous/],
    [withSearch({ batch: 5 }), /- search\.optimize\.batch: got 5; expected at most maxConcurrentTrials \(4\)/],
    [withSearch({}, [0]), /- objective\.aggregate: got "lcb"; lcb needs a standard error, so at least two seeds/],
  ];
  for (const [i, [over, want]] of cases.entries()) {
    const file = path.join(dir, `bad-${i}.yaml`);
    await writeFile(file, stringify({ ...base, ...over }));
    const err = await t.throwsAsync(run(process.execPath, [CLI, 'sweep', 'plan', file, '--measure-steps', '0']));
    t.regex((err as { stderr?: string }).stderr ?? '', want);
  }
  const spec = loadSweepSpec('sweeps/tpe-study.yaml');
  t.is(spec.search.optimize?.sampler, 'tpe');
  const { stdout } = await run(process.execPath, [CLI, 'sweep', 'plan', 'sweeps/tpe-study.yaml', '--measure-steps', '0']);
  t.regex(stdout, /search\.optimize: tpe proposes \d+ configurations x \d+ seeds = \d+ trials/);
});
