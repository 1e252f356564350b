// Trainer behaviour on a tiny 32x32 dataset (test/helpers/bars.ts), kept small so the file runs in seconds.
import test from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '../../src/model/tf.js';
import { MODEL_VARIANTS, resolveModelConfig, type ModelVariant } from '../../src/model/config.js';
import { ARCHITECTURES, type Architecture } from '../../src/model/param-specs.js';
import { VaeModel } from '../../src/model/vae.js';
import { Adam } from '../../src/train/adam.js';
import { DivergedError, runTraining } from '../../src/train/run.js';
import { applyFlatGradients, applyGradients, computeGradients, flattenGradients, readScalars } from '../../src/train/step.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { resolveTrainConfig } from '../../src/train/config.js';
import { createSampler, openDataset } from '../../src/data/index.js';
import type { FactorDataset } from '../../src/data/types.js';
import type { GradientReducer } from '../../src/train/gradient-reducer.js';
import { createBars } from '../helpers/bars.js';
import { smallTrainConfig } from '../helpers/small-train.js';

let root = '';
test.before(async () => {
  root = await mkdtemp(join(tmpdir(), 'dcign-train-test-'));
});
test.after.always(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

/** FactorVAE's discriminator at test size (the default, 6 x 1000, is disentanglement_lib's). */
const SMALL_DISCRIMINATOR = { gamma: 10, hidden: 32, layers: 2, learningRate: 1e-4, beta1: 0.5, beta2: 0.9 };

const small = smallTrainConfig;

test.serial('resume from a checkpoint gives bit-identical parameters and optimiser state to an uninterrupted run', async (t) => {
  const dataset = createBars();
  const a = await runTraining(small(join(root, 'a')), { dataset });
  const half = await runTraining(small(join(root, 'b'), { steps: 3 }), { dataset });
  t.is(half.step, 3);
  const b = await runTraining(small(join(root, 'b'), { resumeFrom: join(root, 'b') }), { dataset });
  t.is(b.step, 6);
  const ca = await loadCheckpoint(a.lastCheckpoint!);
  const cb = await loadCheckpoint(b.lastCheckpoint!);
  t.true(Buffer.from(ca.params.buffer).equals(Buffer.from(cb.params.buffer)), 'parameters differ');
  t.true(Buffer.from(ca.adamM.buffer).equals(Buffer.from(cb.adamM.buffer)), 'Adam m differs');
  t.true(Buffer.from(ca.adamV.buffer).equals(Buffer.from(cb.adamV.buffer)), 'Adam v differs');
  t.deepEqual(ca.state.sampler, cb.state.sampler);
  t.is(a.paramChecksum, b.paramChecksum);
  const summary = JSON.parse(await readFile(join(root, 'b', 'summary.json'), 'utf8')) as { result: { step: number; replicas: number } };
  t.is(summary.result.step, 6);
  t.is(summary.result.replicas, 1);
});

test.serial('a small model on the generated dataset halves its loss', async (t) => {
  const losses: number[] = [];
  const r = await runTraining(small(join(root, 'learn'), { steps: 30, batchSize: 16, logEvery: 3, evalBatches: 2 }), {
    dataset: createBars(),
    onLog: (_step, s) => losses.push(s.loss!),
  });
  t.true(losses.length === 10);
  t.true(losses.at(-1)! <= losses[0]! / 2, `loss went ${losses[0]} -> ${losses.at(-1)}`);
  t.true(Number.isFinite(r.eval!.elbo) && r.eval!.elbo < 0);
});

/** Counts tensors around `steps` steps of one trainer path (after one warm-up step). */
function leakCheck(
  dataset: FactorDataset,
  variant: ModelVariant,
  viaFlat: boolean,
  steps: number,
  architecture: Architecture = 'standard',
  latentSize = 3,
): number[] {
  const model = new VaeModel(
    resolveModelConfig({ variant, architecture, imageSize: 32, latentSize, beta: 1, factorVae: SMALL_DISCRIMINATOR }),
    1,
    { factors: dataset.factors, channels: dataset.channels },
  );
  const opt = new Adam(model.params, { learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, clipNorm: 1 }, model.groups);
  const sampler = createSampler(dataset, { kind: variant === 'dcign' ? 'dcign' : 'iid', batchSize: 2, seed: 1 });
  const step = (i: number): void => {
    const { grads, scalars } = computeGradients(model, sampler.next(), i, 1, i % 10 === 0);
    if (viaFlat) {
      const flat = flattenGradients(grads);
      for (const x of grads) x.dispose();
      applyFlatGradients(opt, flat);
    } else applyGradients(opt, grads);
    if (scalars) readScalars(model, scalars);
  };
  step(0);
  const before = tf.memory().numTensors;
  for (let i = 1; i <= steps; i++) step(i);
  const after = tf.memory().numTensors;
  opt.dispose();
  model.dispose();
  return [before, after];
}

// 100 steps on the main path; the other paths run the same code around a different loss, so 20 steps each.
for (const [variant, viaFlat, steps] of [
  ['beta-vae', false, 100],
  ['beta-vae', true, 20],
  ['dcign', false, 20],
  ['info-vae', false, 20],
  ['annealed-vae', false, 20],
] as const) {
  test.serial(`tensor count stays flat over ${steps} steps: ${variant}${viaFlat ? ' through the flat (all-reduce) path' : ''}`, (t) => {
    const start = tf.memory().numTensors;
    const [before, after] = leakCheck(createBars(), variant, viaFlat, steps);
    t.is(after, before);
    t.is(tf.memory().numTensors, start);
  });
}

// RGB images (shapes3d at 32x32): three channels through encoder, decoder and the Bernoulli reconstruction.
test.serial('tensor count stays flat over 10 steps on RGB images (shapes3d), beta-vae and dcign', (t) => {
  const start = tf.memory().numTensors;
  const rgb = openDataset('shapes3d', { imageSize: 32 });
  t.is(rgb.channels, 3);
  for (const variant of ['beta-vae', 'dcign'] as const) {
    const [before, after] = leakCheck(rgb, variant, false, 10, 'standard', 6); // dcign: one latent per factor
    t.is(after, before, variant);
  }
  t.is(tf.memory().numTensors, start);
});

// Every variant on every architecture: the same loop around a different loss and network, 8 steps each.
for (const architecture of ARCHITECTURES) {
  test.serial(`tensor count stays flat for every variant on the ${architecture} architecture (and through the flat path)`, (t) => {
    const start = tf.memory().numTensors;
    for (const variant of MODEL_VARIANTS) {
      const [before, after] = leakCheck(createBars(), variant, variant === 'factor-vae', 8, architecture);
      t.is(after, before, variant);
    }
    t.is(tf.memory().numTensors, start);
  });
}

for (const [variant, architecture] of [
  ['factor-vae', 'standard'],
  ['factor-vae', 'residual'],
  ['factor-vae', 'attention'],
  ['beta-tcvae', 'residual'],
  ['dip-vae-ii', 'attention'],
] as const) {
  test.serial(`resume is bit-identical for ${variant} on ${architecture}${variant === 'factor-vae' ? ' (discriminator and its Adam state included)' : ''}`, async (t) => {
    const dataset = createBars();
    const model = { imageSize: 32, latentSize: 3, beta: 2, variant, architecture, factorVae: SMALL_DISCRIMINATOR };
    const dir = (x: string): string => join(root, `${variant}-${architecture}-${x}`);
    const a = await runTraining(small(dir('a'), { model, steps: 4 }), { dataset });
    await runTraining(small(dir('b'), { model, steps: 2 }), { dataset });
    const b = await runTraining(small(dir('b'), { model, steps: 4, resumeFrom: dir('b') }), { dataset });
    const ca = await loadCheckpoint(a.lastCheckpoint!);
    const cb = await loadCheckpoint(b.lastCheckpoint!);
    t.true(Buffer.from(ca.params.buffer).equals(Buffer.from(cb.params.buffer)), 'parameters differ');
    t.true(Buffer.from(ca.adamM.buffer).equals(Buffer.from(cb.adamM.buffer)), 'Adam m differs');
    t.true(Buffer.from(ca.adamV.buffer).equals(Buffer.from(cb.adamV.buffer)), 'Adam v differs');
    const names = ca.state.params.map((p) => p.name);
    t.is(names.some((n) => n.startsWith('disc.')), variant === 'factor-vae', 'discriminator weights in the checkpoint');
    t.is(names.some((n) => n.startsWith('enc.res') || n.startsWith('enc.attn')), architecture !== 'standard');
    const summary = JSON.parse(await readFile(join(dir('b'), 'summary.json'), 'utf8')) as {
      result: { parameters: { total: number; encoderDecoder: number; discriminator: number } };
    };
    t.is(summary.result.parameters.total, ca.params.length);
    t.is(summary.result.parameters.discriminator > 0, variant === 'factor-vae');
  });
}

test.serial('Adam parameter groups step exactly as separate Adams with each group\'s settings', (t) => {
  const mk = (): tf.Variable[] => [tf.variable(tf.tensor1d([0.5, -1, 2])), tf.variable(tf.tensor2d([[1, 2], [3, -4]]))];
  const grouped = mk();
  const [a, b] = [mk().slice(0, 1), mk().slice(1)];
  const base = { learningRate: 1e-2, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, clipNorm: 1 };
  const disc = { learningRate: 1e-3, beta1: 0.5, beta2: 0.9 };
  const og = new Adam(grouped, base, [{ count: 1 }, { count: 1, adam: disc }]);
  const oa = new Adam(a as tf.Variable[], base);
  const ob = new Adam(b as tf.Variable[], { ...base, ...disc });
  for (let i = 0; i < 3; i++) {
    tf.tidy(() => {
      const g = [tf.tensor1d([0.3 * i, -2, 1]), tf.tensor2d([[5, -1], [0.5, 2 * i]])];
      og.apply(g);
      oa.apply([g[0]!]);
      ob.apply([g[1]!]);
    });
  }
  t.deepEqual(grouped[0]!.dataSync(), a[0]!.dataSync());
  t.deepEqual(grouped[1]!.dataSync(), b[0]!.dataSync());
  for (const o of [og, oa, ob]) o.dispose();
  tf.dispose([...grouped, ...a, ...b]);
});

test.serial('FactorVAE data parallel: the discriminator gradient travels in the one all-reduced vector', async (t) => {
  const sizes: number[] = [];
  const reducer: GradientReducer = {
    rank: 0,
    worldSize: 1,
    allReduceMean: async (buf) => void sizes.push(buf.length),
    broadcast: async (buf) => void sizes.push(buf.length),
    checkConsistent: async () => undefined,
    close: async () => undefined,
  };
  const model = { imageSize: 32, latentSize: 3, variant: 'factor-vae', architecture: 'attention', factorVae: SMALL_DISCRIMINATOR } as const;
  const plain = await runTraining(small(join(root, 'fv-plain'), { model, steps: 3 }), { dataset: createBars() });
  const r = await runTraining(small(join(root, 'fv-reduced'), { model, steps: 3 }), { dataset: createBars(), reducer });
  t.deepEqual(new Set(sizes), new Set([r.parameters!.total]));
  t.is(r.paramChecksum, plain.paramChecksum);
});

test.serial('a reducer gets one broadcast, an all-reduce per step and a consistency check every K steps', async (t) => {
  const calls: string[] = [];
  const reducer: GradientReducer = {
    rank: 0,
    worldSize: 1,
    allReduceMean: async (_buf, step) => void calls.push(`reduce ${step}`),
    broadcast: async (_buf, step) => void calls.push(`broadcast ${step}`),
    checkConsistent: async (sum, step) => void calls.push(`check ${step} ${Number.isFinite(sum)}`),
    close: async () => undefined,
  };
  const plain = await runTraining(small(join(root, 'plain'), { steps: 4 }), { dataset: createBars() });
  const r = await runTraining(small(join(root, 'reduced'), { steps: 4, consistencyEvery: 2 }), { dataset: createBars(), reducer });
  t.deepEqual(calls, ['broadcast 0', 'reduce 0', 'reduce 1', 'check 2 true', 'reduce 2', 'reduce 3', 'check 4 true']);
  // the mean over one replica is the identity: same parameters as training alone
  t.is(r.paramChecksum, plain.paramChecksum);
});

test.serial('rank 0 of two replicas records replicas: 2 in its result and summary.json', async (t) => {
  const reducer: GradientReducer = {
    rank: 0,
    worldSize: 2,
    allReduceMean: async () => undefined,
    broadcast: async () => undefined,
    checkConsistent: async () => undefined,
    close: async () => undefined,
  };
  const r = await runTraining(small(join(root, 'two'), { steps: 2 }), { dataset: createBars(), reducer });
  t.is(r.replicas, 2);
  const summary = JSON.parse(await readFile(join(root, 'two', 'summary.json'), 'utf8')) as { result: { replicas: number } };
  t.is(summary.result.replicas, 2);
});

test.serial('a NaN loss stops with "diverged at step N" and keeps the last good checkpoint', async (t) => {
  const bars = createBars();
  let rendered = 0;
  const poisoned: FactorDataset = {
    ...bars,
    render(f, out, offset) {
      bars.render(f, out, offset);
      if (++rendered > 4 * 4) out[offset] = NaN; // batches of 4: steps 5 and later see NaN
    },
  };
  const runDir = join(root, 'nan');
  const err = await t.throwsAsync(runTraining(small(runDir, { steps: 10, checkpointEvery: 2, logEvery: 1 }), { dataset: poisoned }), {
    instanceOf: DivergedError,
    message: /diverged at step 5/,
  });
  t.is(err?.lastCheckpoint, join(runDir, 'checkpoints', 'step-00000004'));
  t.true(existsSync(join(runDir, 'checkpoints', 'step-00000004', 'params.bin')));
  t.false(existsSync(join(runDir, 'checkpoints', 'step-00000006')));
  const ck = await loadCheckpoint(runDir);
  t.is(ck.state.step, 4);
});

test.serial('a resumed run that diverges says so in summary.json and history.jsonl, with each segment\'s settings', async (t) => {
  const runDir = join(root, 'resume-diverge');
  await runTraining(small(runDir, { steps: 4, checkpointEvery: 2 }), { dataset: createBars() });
  const before = JSON.parse(await readFile(join(runDir, 'summary.json'), 'utf8')) as { result: { status: string; step: number } };
  t.like(before.result, { status: 'completed', step: 4 });
  const bars = createBars();
  const poisoned: FactorDataset = {
    ...bars,
    render(f, out, offset) {
      bars.render(f, out, offset);
      out[offset] = NaN;
    },
  };
  await t.throwsAsync(runTraining(small(runDir, { steps: 8, logEvery: 1, learningRate: 5, resumeFrom: runDir }), { dataset: poisoned }), {
    instanceOf: DivergedError,
  });
  const after = JSON.parse(await readFile(join(runDir, 'summary.json'), 'utf8')) as {
    config: { learningRate: number };
    result: { status: string; step: number; error: string; lastCheckpoint: string };
  };
  t.is(after.config.learningRate, 5);
  t.like(after.result, { status: 'diverged', step: 5 });
  t.regex(after.result.error, /diverged at step 5/);
  t.regex(after.result.lastCheckpoint, /step-00000004$/);
  const history = (await readFile(join(runDir, 'history.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { event: string; step: number; config?: { learningRate: number } });
  t.deepEqual(
    history.map((h) => [h.event, h.step, h.config?.learningRate]),
    [
      ['start', 0, 1e-3],
      ['completed', 4, undefined],
      ['start', 4, 5],
      ['diverged', 5, undefined],
    ],
  );
});

test.serial('checkpointSteps: a checkpoint at each listed step (early stopping\'s rungs) beside checkpointEvery; validated', async (t) => {
  const runDir = join(root, 'checkpoint-steps');
  const seen: number[] = [];
  await runTraining(small(runDir, { steps: 8, checkpointEvery: 4, checkpointSteps: [3, 4] }), { dataset: createBars(), onCheckpoint: (step) => void seen.push(step) });
  t.deepEqual(seen, [3, 4, 8], 'listed steps, checkpointEvery steps and the last, each once');
  t.is((await loadCheckpoint(join(runDir, 'checkpoints', 'step-00000003'))).state.step, 3);
  t.throws(() => resolveTrainConfig(small(runDir, { checkpointSteps: [0] })), { message: /invalid config: checkpointSteps\[0\] must be a positive integer, got 0/ });
});
