// `dcign udr <sweep>` and computeSweepUdr against a real MLflow server: three seeds of one configuration, each trained
// for a few real steps and logged as a sweep's trial run with its checkpoint stored in MLflow (as a sweep's workers
// do), get `udr` logged on every run; the tensor count stays flat; a configuration with one seed (unless skipped),
// trials without a stored checkpoint and an unknown sweep are refused before any model is loaded, and a collapsed
// model is named by its trial run, each with the fix in the message.
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { computeSweepUdr, SweepUdrError, UDR_ARTIFACT, UDR_METRIC } from '../../src/eval/sweep-udr.js';
import { tf } from '../../src/model/tf.js';
import { CheckpointStore } from '../../src/tracking/checkpoint-store.js';
import { MlflowClient } from '../../src/tracking/client.js';
import { ensureExperiment, startSweepParentRun, startTrialRun, type TrialConfigLike } from '../../src/tracking/trial-logging.js';
import type { TrainConfigInput } from '../../src/train/config.js';
import { runTraining } from '../../src/train/run.js';
import { testMlflowServer, type MlflowServer } from '../helpers/mlflow.js';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.resolve(here, '..', '..', 'src', 'cli', 'main.js');
const tag = `${process.pid}-${Date.now()}`;

let server: MlflowServer;
let client: MlflowClient;
let root: string;
/** A trained checkpoint per seed of the main configuration. */
const checkpoints = new Map<number, { dir: string; step: number }>();

// A Gaussian decoder with a small sigma weighs reconstruction heavily, so 40 steps already make the encoder's means
// vary with the image and every latent's KL exceed the 0.01 filter (a Bernoulli beta-VAE needs hundreds of steps on
// dSprites for that; a higher learning rate kills the encoder's ReLUs and leaves its means constant).
const trainConfig = (seed: number, beta: number): TrainConfigInput => ({
  dataset: 'dsprites-small',
  model: { imageSize: 32, latentSize: 4, beta, decoder: 'gaussian', decoderSigma: 0.05 },
  steps: 40,
  batchSize: 16,
  learningRate: 2e-3,
  logEvery: 10,
  checkpointEvery: 0,
  evalBatches: 1,
  evalBatchSize: 8,
  seed,
  runDir: path.join(root, `beta${beta}-seed${seed}`),
});

/** A sweep's experiment and parent run, as the sweep's setup activity makes them. */
async function newSweep(name: string): Promise<{ experimentId: string; parentRunId: string }> {
  const experimentId = await ensureExperiment(client, name);
  const parent = await startSweepParentRun(client, { experimentId, sweepName: name });
  return { experimentId, parentRunId: parent.info.runId };
}

/** A finished trial run of the sweep, with the given checkpoint stored as the workers store it (or none). */
async function trialRun(sweep: string, s: { experimentId: string; parentRunId: string }, seed: number, beta: number, checkpoint?: { dir: string; step: number }): Promise<string> {
  const r = await startTrialRun(client, {
    experimentId: s.experimentId,
    parentRunId: s.parentRunId,
    sweepName: sweep,
    trialKey: `beta=${beta}/seed=${seed}`,
    config: { ...trainConfig(seed, beta), seed } as unknown as TrialConfigLike,
  });
  if (checkpoint) await new CheckpointStore(client, r.info.runId).upload(checkpoint.dir, checkpoint.step);
  await client.endRun(r.info.runId);
  return r.info.runId;
}

const main = `udr-main-${tag}`;
const mainRuns: string[] = [];

test.before(async () => {
  server = await testMlflowServer();
  client = new MlflowClient({ trackingUri: server.uri, maxRetries: 1 });
  root = await mkdtemp(path.join(tmpdir(), 'dcign-udr-test-'));
  for (const seed of [0, 1, 2]) {
    const r = await runTraining(trainConfig(seed, 1));
    if (!r.lastCheckpoint) throw new Error(`training seed ${seed} wrote no checkpoint`);
    checkpoints.set(seed, { dir: r.lastCheckpoint, step: r.step });
  }
  const s = await newSweep(main);
  for (const seed of [0, 1, 2]) mainRuns.push(await trialRun(main, s, seed, 1, checkpoints.get(seed)));
});

test.after.always(async () => {
  if (root) await rm(root, { recursive: true, force: true });
  await server?.dispose();
});

test.serial('dcign udr <sweep> logs udr on every trial run of the configuration and prints the scores', async (t) => {
  const { stdout, stderr } = await run(process.execPath, [CLI, 'udr', main, '--tracking-uri', server.uri, '--num-examples', '300'], { maxBuffer: 16 << 20 });
  const out = JSON.parse(stdout.trim().split('\n').pop() as string) as { udr: Record<string, number>; configurations: { label: string; runIds: string[]; seeds: number[]; pairwise: number[][] }[] };
  t.log(JSON.stringify(out.configurations[0]?.pairwise));
  t.deepEqual(Object.keys(out.udr).sort(), [...mainRuns].sort());
  t.is(out.configurations.length, 1);
  t.deepEqual(out.configurations[0]?.seeds, [0, 1, 2]);
  t.regex(out.configurations[0]?.label ?? '', /beta=1 z=4$/);
  // Progress: JSON lines on stderr when it is not a terminal, one per encoded model.
  t.is(stderr.split('\n').filter((l) => l.includes('"progress":"encoded"')).length, 3);
  for (const id of mainRuns) {
    const logged = (await client.getRun(id)).data.metrics[UDR_METRIC]?.value;
    t.log(`run ${id}: udr ${logged}`);
    t.is(logged, out.udr[id], `udr of run ${id} in MLflow`);
    t.true(typeof logged === 'number' && logged > 0 && logged <= 1, `udr of run ${id} is a score in (0, 1]: ${logged}`);
    const summary = JSON.parse((await client.readArtifact(id, UDR_ARTIFACT)).toString('utf8')) as { runs: { runId: string }[]; pairwise: number[][] };
    t.deepEqual(summary.runs.map((r) => r.runId).sort(), [...mainRuns].sort());
    t.is(summary.pairwise.length, 3);
  }
});

test.serial('computeSweepUdr: the same scores again, and the tensor count stays flat', async (t) => {
  const before = tf.memory().numTensors;
  const a = await computeSweepUdr({ trackingUri: server.uri, sweep: main, numExamples: 300, log: false });
  t.is(tf.memory().numTensors, before, 'tensors left behind by computeSweepUdr');
  for (const id of mainRuns) t.is(a.scores.get(id), (await client.getRun(id)).data.metrics[UDR_METRIC]?.value);
});

test.serial('a configuration with one seed: UDR is undefined, said before anything is loaded', async (t) => {
  const name = `udr-single-${tag}`;
  const s = await newSweep(name);
  const pair = [await trialRun(name, s, 0, 1, checkpoints.get(0)), await trialRun(name, s, 1, 1, checkpoints.get(1))];
  const lone = await trialRun(name, s, 0, 4); // no checkpoint: the seed check comes first
  const err = await t.throwsAsync(computeSweepUdr({ trackingUri: server.uri, sweep: name, numExamples: 50 }), { instanceOf: SweepUdrError });
  t.regex(err?.message ?? '', /undefined for a configuration with one seed.*'beta-vae standard beta=4 z=4' \(seed 0\).*at least two seeds/);
  t.is((await client.getRun(lone)).data.metrics[UDR_METRIC], undefined);
  // The CLI says the same on stderr and exits 1.
  const cli = await run(process.execPath, [CLI, 'udr', name, '--tracking-uri', server.uri]).catch((e: { code: number; stderr: string }) => e);
  t.is((cli as { code?: number }).code, 1);
  t.regex((cli as { stderr: string }).stderr, /error: UDR is undefined for a configuration with one seed/);
  // Asked to skip it, the configurations with two seeds are scored and the lone one is reported as skipped.
  const r = await computeSweepUdr({ trackingUri: server.uri, sweep: name, numExamples: 50, singleSeed: 'skip', log: false });
  t.deepEqual([...r.scores.keys()].sort(), [...pair].sort());
  t.deepEqual(r.skipped, ['beta-vae standard beta=4 z=4']);
});

test.serial('trials without a stored checkpoint are named, and nothing is logged', async (t) => {
  const name = `udr-nockpt-${tag}`;
  const s = await newSweep(name);
  const kept = await trialRun(name, s, 0, 1, checkpoints.get(0));
  const a = await trialRun(name, s, 1, 1);
  const b = await trialRun(name, s, 2, 1);
  const err = await t.throwsAsync(computeSweepUdr({ trackingUri: server.uri, sweep: name, numExamples: 50 }), { instanceOf: SweepUdrError });
  t.regex(err?.message ?? '', /no complete stored checkpoint/);
  t.true(err?.message.includes(a) && err.message.includes(b) && !err.message.includes(kept), err?.message);
  t.is((await client.getRun(kept)).data.metrics[UDR_METRIC], undefined);
});

test.serial('a model whose latents all collapsed is named by its trial run', async (t) => {
  const name = `udr-collapsed-${tag}`;
  const s = await newSweep(name);
  // Two steps of a Bernoulli beta-VAE: the posterior is still the prior, every latent's KL far below 0.01.
  const fresh = async (seed: number): Promise<{ dir: string; step: number }> => {
    const cfg = { ...trainConfig(seed, 1), model: { imageSize: 32, latentSize: 4, beta: 1 }, steps: 2, runDir: path.join(root, `collapsed-${seed}`) };
    const r = await runTraining(cfg);
    return { dir: r.lastCheckpoint as string, step: r.step };
  };
  const ids: string[] = [];
  for (const seed of [0, 1]) {
    const ck = await fresh(seed);
    const r = await startTrialRun(client, {
      experimentId: s.experimentId,
      parentRunId: s.parentRunId,
      sweepName: name,
      trialKey: `collapsed/seed=${seed}`,
      config: { ...trainConfig(seed, 1), model: { imageSize: 32, latentSize: 4, beta: 1 }, steps: 2, seed } as unknown as TrialConfigLike,
    });
    await new CheckpointStore(client, r.info.runId).upload(ck.dir, ck.step);
    await client.endRun(r.info.runId);
    ids.push(r.info.runId);
  }
  const err = await t.throwsAsync(computeSweepUdr({ trackingUri: server.uri, sweep: name, numExamples: 50 }), { instanceOf: SweepUdrError });
  t.regex(err?.message ?? '', new RegExp(`configuration '.*': UDR: trial .* \\((${ids.join('|')})\\) has no latent with mean KL above 0.01`));
});

test.serial('an unknown sweep is refused with where it looked', async (t) => {
  const err = await t.throwsAsync(computeSweepUdr({ trackingUri: server.uri, sweep: `udr-nope-${tag}` }), { instanceOf: SweepUdrError });
  t.regex(err?.message ?? '', new RegExp(`no MLflow experiment named 'udr-nope-${tag}' at ${server.uri.replace(/[.]/g, '\\.')}`));
});
