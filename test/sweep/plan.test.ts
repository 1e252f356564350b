// The plan before start: expansion, slots, the trainer's own checks on every trial, the dataset's form, the size
// confirmation, the estimate, and the CLI (`sweep plan`, `sweep start --dry-run`) refusing before it connects.
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import test from 'ava';
import { stringify } from 'yaml';

import { estimateHours, planSweep, MAX_TRIALS_UNCONFIRMED } from '../../src/sweep/plan.js';
import { measureStepTimes } from '../../src/sweep/step-time.js';
import { SweepSpecError, validateSweepSpec } from '../../src/sweep/spec.js';
import { loadTf } from '../../src/backend.js';

const run = promisify(execFile);
const CLI = path.resolve('dist/src/cli/main.js');

const base = {
  name: 'plan',
  dataset: 'dsprites-small',
  model: { variant: 'beta-vae', imageSize: 32 },
  train: { steps: 100, batchSize: 16 },
  search: { grid: { beta: [1, 4], latentSize: [4, 8] }, seeds: [0, 1] },
  replicas: 2,
  maxConcurrentTrials: 3,
};
const spec = (over: Record<string, unknown> = {}): ReturnType<typeof validateSweepSpec> => validateSweepSpec({ ...base, ...over });

async function specFile(over: Record<string, unknown>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'dcign-plan-'));
  const file = path.join(dir, 'spec.yaml');
  await writeFile(file, stringify({ ...base, ...over }));
  return file;
}

test('the plan lists every trial with its shape, the replicas each holds and the slots busy at once', (t) => {
  const plan = planSweep(spec());
  t.is(plan.trials.length, 8);
  t.is(plan.replicasPerTrial, 2);
  t.is(plan.slotsAtOnce, 6); // 3 trials at once x 2 replicas
  t.deepEqual([...plan.shapes.keys()].sort(), ['beta-vae/standard/latent=4/32px/batch=8', 'beta-vae/standard/latent=8/32px/batch=8']);
  t.deepEqual([...plan.shapes.values()].map((s) => s.trials), [4, 4]);
  t.true(plan.trials.every((t2) => t2.steps === 100));
  t.is(plan.workerFile, undefined);
});

test('a value only the trainer refuses is caught at plan time, naming the trials and the field', (t) => {
  const err = t.throws(() => planSweep(spec({ model: { variant: 'beta-vae', imageSize: 32, encoderKernels: 'wide' } })), { instanceOf: SweepSpecError }) as SweepSpecError;
  t.is(err.issues.length, 1, 'one message for the eight trials that share it');
  t.regex(err.message, /8 trials \(beta=1,latent=4,seed=0; .*\): model\.encoderKernels: got "wide"; the trainer refuses it \(invalid config: model\.encoderKernels must be 'higgins'/);
  const one = t.throws(() => planSweep(spec({ search: { grid: { 'train.adam.beta1': [0.5, 1.5] }, seeds: [0] } }))) as SweepSpecError;
  t.regex(one.message, /trial train\.adam\.beta1=1\.5,seed=0: adam\.beta1: got 1\.5; the trainer refuses it \(.*must be in \[0, 1\)/);
});

test('datasets: an unknown name is refused; an npz file on the workers is checked for form only', (t) => {
  t.throws(() => planSweep(spec({ dataset: 'mnist' })), { message: /dataset: got "mnist"; unknown dataset 'mnist'; known: dsprites, dsprites-small, scenes, faces, shapes3d, npz:<path>, images:<folder>/ });
  t.throws(() => planSweep(spec({ dataset: 'npz:data/d.npz' })), { message: /give its absolute path there, e\.g\. npz:\/data\/d\.npz/ });
  t.throws(() => planSweep(spec({ dataset: 'npz:/data/d.zip' })), { message: /expected a \.npz file/ });
  // Not on this machine, and not needed here: the workers open it.
  const plan = planSweep(spec({ dataset: 'npz:/nowhere/on/this/host/dsprites.npz' }));
  t.is(plan.workerFile, '/nowhere/on/this/host/dsprites.npz');
});

test('what spec validation already catches stays caught: unknown metrics, a parameter its variant lacks', (t) => {
  t.throws(() => spec({ evaluation: { metrics: ['mig', 'accuracy'] } }), { message: /evaluation\.metrics\[1\]: got "accuracy"; expected one of beta-vae/ });
  t.throws(() => spec({ search: { grid: { gamma: [10] }, seeds: [0] } }), { message: /gamma does not belong to beta-vae/ });
});

test(`more than ${MAX_TRIALS_UNCONFIRMED} trials need --max-trials; a lower confirmed ceiling is enforced too`, (t) => {
  const big = spec({ search: { grid: { beta: Array.from({ length: 51 }, (_, i) => i + 1) }, seeds: [0, 1] } });
  t.throws(() => planSweep(big), { message: /search: got "102 trials"; more than the 100 a sweep may have unconfirmed; check the grid, then confirm with --max-trials 102/ });
  t.is(planSweep(big, { maxTrials: 102 }).trials.length, 102);
  t.throws(() => planSweep(spec(), { maxTrials: 4 }), { message: /more than --max-trials 4; .*--max-trials 8/ });
});

test('the estimate is trials x steps x step time x replicas, per shape', (t) => {
  const plan = planSweep(spec({ search: { grid: { beta: [1, 4], latentSize: [4, 8], steps: [100, 300] }, seeds: [0] } }));
  const times = new Map([...plan.shapes.keys()].map((k, i) => [k, { msPerStep: i === 0 ? 100 : 200, source: 'test' }]));
  const e = estimateHours(plan, times);
  // per shape: 2 betas x (100 + 300) steps = 800 steps x 2 replicas
  t.deepEqual(e.perShape.map((s) => s.steps), [800, 800]);
  t.is(e.slotHours, (800 * 100 * 2 + 800 * 200 * 2) / 3.6e6);
  t.is(e.wallHours, (800 * 100 + 800 * 200) / 3.6e6 / 3);
});

test('step times are measured with the real trainer on this host, leaving no tensors behind', async (t) => {
  const tf = await loadTf();
  const plan = planSweep(spec({ search: { grid: { latentSize: [4] }, seeds: [0] } }));
  await measureStepTimes(plan, { steps: 1, warmup: 1 }); // first use builds kernels and caches
  const before = tf.memory().numTensors;
  const times = await measureStepTimes(plan, { steps: 2, warmup: 1 });
  t.is(tf.memory().numTensors, before);
  const st = times.get('beta-vae/standard/latent=4/32px/batch=8');
  t.truthy(st);
  t.true((st?.msPerStep ?? 0) > 0);
  t.regex(st?.source ?? '', /^measured here: 2 steps after 1 warm-up on /);
});

test('`dcign sweep plan` prints trials, slots and the estimate; `start --dry-run` plans without connecting', async (t) => {
  const file = await specFile({ search: { grid: { beta: [1, 4] }, seeds: [0] }, model: { variant: 'beta-vae', imageSize: 32, latentSize: 4 } });
  const { stdout } = await run(process.execPath, [CLI, 'sweep', 'plan', file, '--step-time-ms', '250']);
  t.regex(stdout, /sweep 'plan': 2 trials x 2 replicas, dataset dsprites-small/);
  t.regex(stdout, /2 trial\(s\) at once \(maxConcurrentTrials 3\) -> 4 slot\(s\) busy/);
  t.regex(stdout, /beta=1,seed=0\s+beta-vae\/standard\/latent=4\/32px\/batch=8\s+100/);
  // 2 trials x 100 steps x 0.25 s x 2 replicas = 100 s
  t.regex(stdout, /total: 0\.028 slot-hours/);
  const json = JSON.parse((await run(process.execPath, [CLI, 'sweep', 'plan', file, '--step-time-ms', '250', '--format', 'json'])).stdout) as { trials: unknown[]; estimate: { slotHours: number } };
  t.is(json.trials.length, 2);
  t.is(json.estimate.slotHours, 100 / 3600);
  // Nothing listens on port 1: a dry run never connects.
  const dry = await run(process.execPath, [CLI, 'sweep', 'start', file, '--dry-run', '--measure-steps', '0', '--address', '127.0.0.1:1']);
  t.regex(dry.stdout, /sweep 'plan': 2 trials/);
  t.regex(dry.stdout, /estimate: none/);
  // A refused plan is one clear message and a failing exit, not a stack trace.
  const refused = await t.throwsAsync(run(process.execPath, [CLI, 'sweep', 'plan', file, '--max-trials', '1', '--measure-steps', '0']));
  const stderr = (refused as { stderr?: string }).stderr ?? '';
  t.regex(stderr, /^error: .*spec\.yaml is invalid \(1 problem\):\n {2}- search: got "2 trials"; more than --max-trials 1; check the grid, then confirm with --max-trials 2\n$/);
});

test('`dcign sweep start` refuses a plan the trainer would refuse before connecting to Temporal', async (t) => {
  const file = await specFile({ model: { variant: 'info-vae', imageSize: 32, mmd: { alpha: 2 } }, search: { grid: { latentSize: [4] }, seeds: [0] } });
  const err = await t.throwsAsync(run(process.execPath, [CLI, 'sweep', 'start', file, '--address', '127.0.0.1:1']));
  const stderr = (err as { stderr?: string }).stderr ?? '';
  t.regex(stderr, /model\.mmd\.alpha must be <= 1/);
  t.notRegex(stderr, /cannot reach Temporal/);
  const many = await specFile({ search: { grid: { beta: Array.from({ length: 101 }, (_, i) => i) }, seeds: [0] } });
  const err2 = await t.throwsAsync(run(process.execPath, [CLI, 'sweep', 'start', many, '--address', '127.0.0.1:1']));
  t.regex((err2 as { stderr?: string }).stderr ?? '', /confirm with --max-trials 101/);
});
