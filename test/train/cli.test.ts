// `dcign train` flag handling, without running training.
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configFromFlags, Progress } from '../../src/train/cli.js';
import { saveCheckpoint, CHECKPOINT_FORMAT } from '../../src/train/checkpoint.js';
import { ConfigError } from '../../src/train/config.js';

test('flags map onto the TrainConfig; the default run folder names dataset, model, beta, latent size and seed', (t) => {
  const cfg = configFromFlags(
    { dataset: 'dsprites-small', model: 'dcign', beta: 2, latent: 6, steps: 100, batchSize: 32, lr: 5e-4, seed: 3, checkpointEvery: 50 },
    new Date('2026-01-02T03:04:05.678Z'),
  );
  t.is(cfg.model.variant, 'dcign');
  t.is(cfg.model.beta, 2);
  t.is(cfg.model.latentSize, 6);
  t.is(cfg.model.imageSize, 32); // dsprites-small is 32x32
  t.is(cfg.learningRate, 5e-4);
  t.is(cfg.batchSize, 32);
  t.is(cfg.checkpointEvery, 50);
  t.regex(cfg.runDir, /\.dcign\/runs\/dsprites-small-dcign-b2-L6-s3-20260102T030405Z$/);
});

test('bad flag values fail naming the config field', (t) => {
  t.throws(() => configFromFlags({ beta: -1, runDir: '/tmp/x' }), { instanceOf: ConfigError, message: /model\.beta/ });
  t.throws(() => configFromFlags({ model: 'gan', runDir: '/tmp/x' }), { instanceOf: ConfigError, message: /model\.variant/ });
  t.throws(() => configFromFlags({ imageSize: 50, runDir: '/tmp/x' }), { instanceOf: ConfigError, message: /model\.imageSize/ });
});

test('--resume takes the checkpoint config and its run folder; explicit flags override', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dcign-cli-test-'));
  try {
    const base = configFromFlags({ dataset: 'dsprites-small', latent: 5, steps: 10, runDir: dir });
    const ck = await saveCheckpoint(dir, {
      state: { format: CHECKPOINT_FORMAT, step: 10, adamT: 10, sampler: {}, params: [], checksum: 0 },
      config: base,
      params: new Float32Array(0),
      adamM: new Float32Array(0),
      adamV: new Float32Array(0),
    });
    const cfg = configFromFlags({ resume: dir, steps: 20 });
    t.is(cfg.steps, 20);
    t.is(cfg.model.latentSize, 5);
    t.is(cfg.resumeFrom, ck);
    t.is(cfg.runDir, dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('without a terminal, progress is JSON lines', (t) => {
  const lines: string[] = [];
  const out = { isTTY: false, write: (s: string) => lines.push(s) } as unknown as NodeJS.WriteStream;
  const p = new Progress(10, false, out);
  p.log(5, { loss: 1.5 });
  p.note({ type: 'checkpoint', step: 5 }, 'checkpoint');
  t.deepEqual(lines.map((l) => JSON.parse(l) as unknown), [{ type: 'log', step: 5, loss: 1.5 }, { type: 'checkpoint', step: 5 }]);
});

test('on a terminal, progress is one rewritten line with step, steps/s, losses and ETA', (t) => {
  let text = '';
  const out = { isTTY: true, write: (s: string) => (text += s) } as unknown as NodeJS.WriteStream;
  const p = new Progress(10, false, out);
  p.log(5, { loss: 1.5, recon: 1, kl: 0.5, steps_per_s: 2 });
  t.regex(text, /^\r\[#+-+\] 5\/10 {2}2\.0 steps\/s {2}loss 1\.50 {2}recon 1\.00 {2}kl 0\.50 {2}ETA \d+s/);
});

test('the ETA counts steps from the first log over the time since then, never from before it', (t) => {
  // 50 s of start-up, then 100 steps per 50 s (2 steps/s), logged every 100 steps of 1000.
  let ms = 0;
  let text = '';
  const out = { isTTY: true, write: (s: string) => (text = s) } as unknown as NodeJS.WriteStream;
  const p = new Progress(1000, false, out, () => ms);
  ms = 100_000;
  p.log(100, { loss: 1, steps_per_s: 2 });
  t.regex(text, /ETA 7m30s/, 'first log: 900 steps at the loop\'s 2 steps/s');
  ms = 150_000;
  p.log(200, { loss: 1, steps_per_s: 2 });
  t.regex(text, /ETA 6m40s/, 'second log: 100 steps in 50 s since the first, 800 to go');
});
