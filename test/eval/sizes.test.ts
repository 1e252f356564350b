// `dcign eval --num-train N --num-test M` sizes every metric, the BetaVAE and FactorVAE scores included (they used to
// run on a fixed 10000/5000 whatever the flags said: about 2.9 million encoded images), and long evaluations say
// where they are: metric k of n on a terminal, JSON lines elsewhere.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import test from 'ava';

import { evalProgress } from '../../src/eval/cli.js';
import { evaluateCheckpoint, type EvaluationEvent } from '../../src/eval/evaluate-checkpoint.js';
import { runTraining } from '../../src/train/run.js';

test('the sampling metrics follow --num-train / --num-test, and progress names every metric in turn', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'dcign-eval-sizes-'));
  try {
    const trained = await runTraining({
      dataset: 'dsprites-small',
      model: { imageSize: 32, latentSize: 3 },
      steps: 2,
      batchSize: 4,
      logEvery: 1,
      checkpointEvery: 0,
      evalBatches: 0,
      runDir: dir,
    });
    const events: EvaluationEvent[] = [];
    const numTrain = 40;
    const numTest = 20;
    const r = await evaluateCheckpoint(
      trained.lastCheckpoint as string,
      { out: path.join(dir, 'eval'), seed: 0, numTrain, numTest, skipSampling: false, traversalSteps: 2 },
      (e) => events.push(e),
    );
    t.true(Number.isFinite(r.metrics.beta_vae_eval), JSON.stringify(r.errors));
    t.true(Number.isFinite(r.metrics.factor_vae_eval), JSON.stringify(r.errors));
    // fixed sample + BetaVAE (2 x 64 images a point) + FactorVAE (64 a point, plus its variance estimate of 10000)
    const bound = numTrain + numTest + 2 * 64 * (numTrain + numTest) + 64 * (numTrain + numTest) + 10_000;
    t.true(r.imagesEncoded <= bound, `${r.imagesEncoded} images encoded; the sizes allow ${bound}`);
    const started = events.filter((e) => e.type === 'metric-start').map((e) => (e as { metric: string }).metric);
    t.deepEqual(started, ['mig', 'sap', 'explicitness', 'dci', 'irs', 'active_units', 'beta_vae', 'factor_vae']);
    t.true(events.some((e) => e.type === 'metric-done' && e.metric === 'factor_vae' && e.index === 7 && e.total === 8));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('on a terminal, progress is one status line rewritten in place; elsewhere, JSON lines', (t) => {
  const written: string[] = [];
  const tty = { isTTY: true, write: (s: string) => written.push(s) } as unknown as NodeJS.WriteStream;
  const show = evalProgress(tty);
  show({ type: 'metric-start', metric: 'beta_vae', index: 6, total: 8 });
  show({ type: 'images', encoded: 123456, elapsedMs: 61_000 });
  t.regex(written[0] ?? '', /^\revaluating \[7\/8\] beta_vae {2}0 images encoded/);
  t.regex(written[1] ?? '', /^\revaluating \[7\/8\] beta_vae {2}123,456 images encoded/);
  show({ type: 'metric-done', metric: 'factor_vae', index: 7, total: 8, elapsedMs: 70_000 });
  t.regex(written[2] ?? '', /^\r +\r$/); // the line is cleared when the last metric is done

  const lines: string[] = [];
  const pipe = { isTTY: false, write: (s: string) => lines.push(s) } as unknown as NodeJS.WriteStream;
  evalProgress(pipe)({ type: 'metric-start', metric: 'mig', index: 0, total: 6 });
  t.like(JSON.parse(lines[0] ?? '{}'), { progress: 'metric-start', metric: 'mig', index: 0, total: 6 });
});
