// The graph training step (src/graph, src/train/graph-step.ts) against the eager step it replaces: same losses and
// parameters to float rounding, the data-parallel split equal to the fused step, no tfjs tensors left behind, a
// bit-identical resume, and the eager fallback (with its reason) for models the graph does not cover.
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { tf } from '../../src/model/tf.js';
import { resolveModelConfig, type ModelConfig } from '../../src/model/config.js';
import { VaeModel } from '../../src/model/vae.js';
import { Adam, type AdamConfig } from '../../src/train/adam.js';
import { GraphStep } from '../../src/train/graph-step.js';
import { computeGradients, applyGradients, readScalars, scalarNames } from '../../src/train/step.js';
import { runTraining } from '../../src/train/run.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { ConfigError, resolveTrainConfig } from '../../src/train/config.js';
import { configFromFlags } from '../../src/train/cli.js';
import { stepTags } from '../../src/graph/support.js';
import { createSampler } from '../../src/data/index.js';
import { createBars } from '../helpers/bars.js';
import { smallTrainConfig } from '../helpers/small-train.js';

const BATCH = 8;
const STEPS = 5;
/**
 * Graph and eager paths compute the same float32 maths with other kernels and summation orders: a sum of n ~ 1e4
 * terms differs by about sqrt(n) * 2^-24 ~ 1e-5 relative, and Adam passes that on to each update (m / sqrt(v) is a
 * ratio of such sums). So, measured over the parameters:
 *  - mean |graph - eager| <= ROUNDING * mean distance the steps moved them (ROUNDING = 1e-4, 10x the 1e-5 above;
 *    measured 1e-5 of it);
 *  - max |graph - eager| <= lr / 10: a parameter whose gradient were float noise could step the other way in one
 *    path, a difference of about 2 lr; these seeded cases have none (measured max 1.6e-5 at lr 1e-3).
 */
const ROUNDING = 1e-4;

let root = '';
test.before(async () => {
  root = await mkdtemp(join(tmpdir(), 'dcign-graph-test-'));
});
test.after.always(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

function pair(config: ModelConfig, adam: AdamConfig, adamKernel: 'fused' | 'flat' = 'fused'): { model: VaeModel; opt: Adam; graph: GraphStep } {
  const model = new VaeModel(config, 7, { channels: 1 });
  const opt = new Adam(model.params, adam, model.groups);
  const graph = GraphStep.create(model, adam, BATCH, adamKernel);
  if (typeof graph === 'string') throw new Error(graph);
  graph.loadFrom(opt);
  return { model, opt, graph };
}

function batches(n: number): ReturnType<ReturnType<typeof createSampler>['next']>[] {
  const sampler = createSampler(createBars(), { kind: 'iid', batchSize: BATCH, seed: 3, rank: 0, worldSize: 1 });
  return Array.from({ length: n }, () => sampler.next());
}

const cases: { title: string; model: Parameters<typeof resolveModelConfig>[0]; adam?: Partial<AdamConfig>; kernel?: 'flat' }[] = [
  { title: 'beta-vae, standard, Bernoulli', model: { variant: 'beta-vae', beta: 4 } },
  { title: 'beta-vae, standard, Adam as flat ops', model: { variant: 'beta-vae', beta: 4 }, kernel: 'flat' },
  { title: 'annealed-vae, residual, Gaussian, clipped', model: { variant: 'annealed-vae', architecture: 'residual', decoder: 'gaussian', capacity: { gamma: 100, cMax: 5, steps: 3 } }, adam: { clipNorm: 1 } },
];

for (const c of cases) {
  test.serial(`graph and eager steps agree over ${STEPS} steps: ${c.title}`, (t) => {
    const config = resolveModelConfig({ imageSize: 32, latentSize: 4, ...c.model });
    const adam: AdamConfig = { learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, ...c.adam };
    const eager = new VaeModel(config, 7, { channels: 1 });
    const eagerOpt = new Adam(eager.params, adam, eager.groups);
    const g = pair(config, adam, c.kernel);
    const names = scalarNames(eager);
    try {
      for (const [s, b] of batches(STEPS).entries()) {
        const { grads, scalars } = computeGradients(eager, b, s, 0, true);
        applyGradients(eagerOpt, grads);
        const e = readScalars(eager, scalars!);
        const v = g.graph.train(g.opt, b, s, 0, true)!;
        t.is(v.length, names.length);
        // stated tolerance: every loss part within 1e-5 relative (1e-6 absolute near zero)
        names.forEach((n, i) => {
          const diff = Math.abs((v[i] as number) - (e[n] as number));
          t.true(diff <= 1e-5 * Math.abs(e[n] as number) + 1e-6, `step ${s} ${n}: graph ${v[i]} eager ${e[n]}`);
        });
      }
      g.graph.storeTo(g.opt);
      t.is(g.opt.t, eagerOpt.t);
      const a = eager.readFlat();
      const b = g.model.readFlat();
      let maxDiff = 0;
      let sumDiff = 0;
      for (let i = 0; i < a.length; i++) {
        const d = Math.abs((a[i] as number) - (b[i] as number));
        maxDiff = Math.max(maxDiff, d);
        sumDiff += d;
      }
      // tolerances derived at ROUNDING above
      const moved = absDiff(a, initial(config)).mean;
      t.true(maxDiff <= adam.learningRate / 10, `max |graph - eager| ${maxDiff}`);
      t.true(sumDiff / a.length <= ROUNDING * moved, `mean |graph - eager| ${sumDiff / a.length} vs ${ROUNDING} x mean movement ${moved}`);
      t.not(checksum(b), checksum(initial(config)), 'the graph step trained nothing');
    } finally {
      g.graph.dispose();
      g.opt.dispose();
      g.model.dispose();
      eagerOpt.dispose();
      eager.dispose();
    }
  });
}

/** Largest and mean |a[i] - b[i]|. */
function absDiff(a: Float32Array, b: Float32Array): { max: number; mean: number } {
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs((a[i] as number) - (b[i] as number));
    max = Math.max(max, d);
    sum += d;
  }
  return { max, mean: sum / a.length };
}

function checksum(x: Float32Array): number {
  return x.reduce((s, v) => s + v, 0);
}

function initial(config: ModelConfig): Float32Array {
  const m = new VaeModel(config, 7, { channels: 1 });
  const v = m.readFlat();
  m.dispose();
  return v;
}

test.serial('the data-parallel split (flat gradient out, Adam with it fed back) equals the fused step bit for bit', (t) => {
  const config = resolveModelConfig({ imageSize: 32, latentSize: 4, variant: 'beta-vae', beta: 4 });
  const adam: AdamConfig = { learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };
  const fused = pair(config, adam);
  const split = pair(config, adam);
  try {
    for (const [s, b] of batches(3).entries()) {
      fused.graph.train(fused.opt, b, s, 0, false);
      const { flat, scalars } = split.graph.gradients(b, s, 0, true);
      t.is(flat.length, split.model.paramCounts().total);
      t.true(Number.isFinite(scalars![0]!));
      split.graph.apply(split.opt, flat);
    }
    fused.graph.storeTo(fused.opt);
    split.graph.storeTo(split.opt);
    t.true(Buffer.from(fused.model.readFlat().buffer).equals(Buffer.from(split.model.readFlat().buffer)), 'parameters differ');
  } finally {
    for (const p of [fused, split]) {
      p.graph.dispose();
      p.opt.dispose();
      p.model.dispose();
    }
  }
});

test.serial('graph steps leave the tfjs tensor count flat', (t) => {
  const config = resolveModelConfig({ imageSize: 32, latentSize: 4, variant: 'beta-vae' });
  const adam: AdamConfig = { learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };
  const p = pair(config, adam);
  try {
    const bs = batches(6);
    p.graph.train(p.opt, bs[0]!, 0, 0, true);
    p.graph.storeTo(p.opt);
    const before = tf.memory().numTensors;
    for (let s = 1; s < 6; s++) {
      p.graph.train(p.opt, bs[s]!, s, 0, s % 2 === 0);
      p.graph.apply(p.opt, p.graph.gradients(bs[s]!, s, 0, true).flat);
      p.graph.storeTo(p.opt);
    }
    t.is(tf.memory().numTensors, before);
  } finally {
    p.graph.dispose();
    p.opt.dispose();
    p.model.dispose();
  }
});

test.serial('a batch of another size than the graph was built for is refused with both sizes named', (t) => {
  const config = resolveModelConfig({ imageSize: 32, latentSize: 4, variant: 'beta-vae' });
  const p = pair(config, { learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 });
  try {
    const sampler = createSampler(createBars(), { kind: 'iid', batchSize: 4, seed: 3, rank: 0, worldSize: 1 });
    const err = t.throws(() => p.graph.train(p.opt, sampler.next(), 0, 0, false));
    t.regex(err?.message ?? '', /built for batches of 8, this batch has 4/);
  } finally {
    p.graph.dispose();
    p.opt.dispose();
    p.model.dispose();
  }
});

const small = smallTrainConfig;

test.serial('the trainer runs the graph step by default, and a graph run resumed from a checkpoint is bit-identical', async (t) => {
  const dataset = createBars();
  const a = await runTraining(small(join(root, 'a')), { dataset });
  t.deepEqual(a.stepExecution, { mode: 'graph' });
  const half = await runTraining(small(join(root, 'b'), { steps: 3 }), { dataset });
  t.is(half.step, 3);
  const b = await runTraining(small(join(root, 'b'), { resumeFrom: join(root, 'b') }), { dataset });
  const ca = await loadCheckpoint(a.lastCheckpoint!);
  const cb = await loadCheckpoint(b.lastCheckpoint!);
  t.true(Buffer.from(ca.params.buffer).equals(Buffer.from(cb.params.buffer)), 'parameters differ');
  t.true(Buffer.from(ca.adamM.buffer).equals(Buffer.from(cb.adamM.buffer)), 'Adam m differs');
  t.true(Buffer.from(ca.adamV.buffer).equals(Buffer.from(cb.adamV.buffer)), 'Adam v differs');
  t.is(ca.state.adamT, 6);
  // the eager path from the same start lands within the stated tolerance of the graph's
  const e = await runTraining(small(join(root, 'e'), { stepMode: 'eager' }), { dataset });
  t.deepEqual(e.stepExecution, { mode: 'eager', reason: 'stepMode is eager' });
  const ce = await loadCheckpoint(e.lastCheckpoint!);
  const c3 = await loadCheckpoint(half.lastCheckpoint!);
  const { max, mean } = absDiff(ca.params, ce.params);
  const moved = absDiff(ca.params, c3.params);
  // tolerances derived at ROUNDING above, against what steps 4-6 alone moved (a stricter yardstick than all six)
  t.true(max <= 1e-3 / 10, `graph vs eager after 6 steps (lr 1e-3): max ${max}`);
  t.true(mean <= ROUNDING * moved.mean, `graph vs eager after 6 steps: mean ${mean} vs ${ROUNDING} x mean movement ${moved.mean}`);
});

test.serial('a model without a graph step trains eagerly and says why, in its result, summary.json and run tags', async (t) => {
  const dataset = createBars();
  const model = { imageSize: 32, latentSize: 3, variant: 'beta-tcvae' as const, architecture: 'attention' as const };
  const r = await runTraining(small(join(root, 'tc'), { steps: 2, model }), { dataset });
  t.is(r.stepExecution.mode, 'eager');
  t.regex(r.stepExecution.reason ?? '', /beta-tcvae variant has no graph step/);
  const summary = JSON.parse(await readFile(join(root, 'tc', 'summary.json'), 'utf8')) as { result: { stepExecution: unknown } };
  t.deepEqual(summary.result.stepExecution, r.stepExecution);
  t.deepEqual(stepTags({ model }), { 'dcign.step': 'eager', 'dcign.step.reason': r.stepExecution.reason! });
  t.deepEqual(stepTags({ model: { variant: 'beta-vae', architecture: 'attention' } })['dcign.step.reason'], 'the attention architecture has no graph step yet (standard and residual have)');
  t.deepEqual(stepTags({ model: { variant: 'annealed-vae', architecture: 'residual' } }), { 'dcign.step': 'graph' });
  t.deepEqual(stepTags({ stepMode: 'eager', model: {} }), { 'dcign.step': 'eager', 'dcign.step.reason': 'stepMode is eager' });
});

test.serial('stepMode is validated before anything starts, and `dcign train --step` sets it', (t) => {
  t.throws(() => resolveTrainConfig({ runDir: '/tmp/x', stepMode: 'fast' as 'graph' }), { instanceOf: ConfigError, message: /stepMode.*'graph' or 'eager'/ });
  t.is(configFromFlags({ runDir: '/tmp/x', stepMode: 'eager' }).stepMode, 'eager');
  t.is(configFromFlags({ runDir: '/tmp/x' }).stepMode, 'graph');
});

async function dcignTrain(args: string[]): Promise<Record<string, unknown>[]> {
  const { stdout } = await promisify(execFile)(process.execPath, [resolve('dist/src/cli/main.js'), ...args], { timeout: 240_000, maxBuffer: 16 << 20 });
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test.serial('`dcign train --replicas 2` runs the graph step on both replicas (gradients, ring all-reduce, apply) and lands where one replica does', async (t) => {
  const common = ['train', '--dataset', 'dsprites-small', '--latent', '3', '--batch-size', '8', '--steps', '4', '--lr', '1e-3', '--log-every', '2', '--checkpoint-every', '0', '--no-mlflow', '--json'];
  const two = await dcignTrain([...common, '--replicas', '2', '--run-dir', join(root, 'r2')]);
  const oneArgs = [...common, '--run-dir', join(root, 'r1')];
  oneArgs[oneArgs.indexOf('--checkpoint-every') + 1] = '2'; // step 2's checkpoint is the yardstick below
  const one = await dcignTrain(oneArgs);
  const done2 = two.find((l) => l.type === 'done') as { result: { stepExecution: unknown; replicas: number; lastCheckpoint: string } };
  const done1 = one.find((l) => l.type === 'done') as { result: { stepExecution: unknown; lastCheckpoint: string } };
  t.deepEqual(done2.result.stepExecution, { mode: 'graph' });
  t.deepEqual(done1.result.stepExecution, { mode: 'graph' });
  t.is(done2.result.replicas, 2);
  // the mean of two half-batch gradients is the whole batch's gradient, to float rounding
  const [p2, p1] = [(await loadCheckpoint(done2.result.lastCheckpoint)).params, (await loadCheckpoint(done1.result.lastCheckpoint)).params];
  const { max: maxDiff, mean } = absDiff(p1, p2);
  // tolerances derived at ROUNDING above (the ring's chunked sums are one more summation order); measured max 3.7e-6
  const moved = absDiff(p1, (await loadCheckpoint(join(root, 'r1', 'checkpoints', 'step-00000002'))).params).mean;
  t.true(maxDiff <= 1e-3 / 10, `R=2 vs R=1 after 4 steps (lr 1e-3): max ${maxDiff}`);
  t.true(mean <= ROUNDING * moved, `R=2 vs R=1 after 4 steps: mean ${mean} vs ${ROUNDING} x mean movement of steps 3-4 ${moved}`);
  t.true(maxDiff > 0, 'two replicas and one summed their gradients in the same order: suspicious');
});
