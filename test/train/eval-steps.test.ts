// The held-out ELBO during training (TrainConfig.evalSteps, what early stopping on `objective: elbo` compares): the
// listed steps are log steps whose scalars carry it, it is evaluateElbo of the parameters at that step (a run stopped
// there gives the same figure), only rank 0 computes it, and no tensor is left behind.
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { tf } from '../../src/model/tf.js';
import { ConfigError, resolveTrainConfig } from '../../src/train/config.js';
import type { GradientReducer } from '../../src/train/gradient-reducer.js';
import { runTraining } from '../../src/train/run.js';
import { createBars } from '../helpers/bars.js';
import { smallTrainConfig } from '../helpers/small-train.js';

let root = '';
test.before(async () => {
  root = await mkdtemp(join(tmpdir(), 'dcign-eval-steps-test-'));
});
test.after.always(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

const HELD_OUT = ['elbo', 'heldout_recon', 'heldout_kl'];

for (const stepMode of ['graph', 'eager'] as const) {
  test.serial(`${stepMode} step: evalSteps log the held-out ELBO of the parameters at that step, tensor count flat`, async (t) => {
    const dataset = createBars();
    const cfg = (dir: string, steps: number, evalSteps?: number[]) =>
      smallTrainConfig(join(root, `${stepMode}-${dir}`), { stepMode, steps, logEvery: 2, evalBatches: 2, ...(evalSteps ? { evalSteps } : {}) });
    const logged: { step: number; scalars: Record<string, number>; tensors: number }[] = [];
    const before = tf.memory().numTensors;
    const run = await runTraining(cfg('run', 6, [3, 4, 6]), {
      dataset,
      onLog: (step, scalars) => logged.push({ step, scalars, tensors: tf.memory().numTensors }),
    });
    t.is(tf.memory().numTensors, before, 'the run left tensors behind');
    t.deepEqual(new Set(logged.map((l) => l.tensors)).size, 1, `tensors at log steps: ${logged.map((l) => `${l.step}:${l.tensors}`).join(' ')}`);

    // step 3 is not a multiple of logEvery: it is logged because it is an eval step
    t.deepEqual(logged.map((l) => l.step), [2, 3, 4, 6]);
    const at = (step: number): Record<string, number> => logged.find((l) => l.step === step)?.scalars ?? {};
    for (const key of HELD_OUT) t.false(key in at(2), `step 2 is no eval step but logged ${key}`);
    for (const step of [3, 4, 6]) {
      const s = at(step);
      for (const key of HELD_OUT) t.true(Number.isFinite(s[key]), `step ${step}: ${key} = ${s[key]}`);
      t.true((s.elbo as number) < 0);
      t.true(Math.abs((s.elbo as number) + (s.heldout_recon as number) + (s.heldout_kl as number)) < 1e-6 * Math.abs(s.elbo as number));
      t.true(Number.isFinite(s.loss) && Number.isFinite(s.recon), 'the training losses are still there');
    }
    // the end-of-training evaluation is the last step's, not computed twice differently
    t.is(run.eval?.elbo, at(6).elbo);

    // runs stopped at steps 3 and 4 evaluate the same parameters at their end: the same figure, to the bit
    const stopped3 = await runTraining(cfg('stop3', 3), { dataset });
    const stopped4 = await runTraining(cfg('stop4', 4), { dataset });
    t.is(stopped3.eval?.elbo, at(3).elbo);
    t.is(stopped3.eval?.recon, at(3).heldout_recon);
    t.is(stopped3.eval?.kl, at(3).heldout_kl);
    t.is(stopped4.eval?.elbo, at(4).elbo, 'evaluating at step 3 changed the training after it');
    t.is(stopped4.paramChecksum, (await runTraining(cfg('plain4', 4, [2, 3]), { dataset })).paramChecksum);
  });
}

test.serial('only rank 0 computes the held-out ELBO; its peers log the losses alone', async (t) => {
  const stub = (rank: number): GradientReducer => ({
    rank,
    worldSize: 2,
    allReduceMean: async () => undefined,
    broadcast: async () => undefined,
    checkConsistent: async () => undefined,
    close: async () => undefined,
  });
  const keysAt = async (rank: number): Promise<Record<number, string[]>> => {
    const out: Record<number, string[]> = {};
    await runTraining(smallTrainConfig(join(root, `rank${rank}`), { steps: 4, evalSteps: [3] }), {
      dataset: createBars(),
      reducer: stub(rank),
      onLog: (step, s) => (out[step] = Object.keys(s).filter((k) => HELD_OUT.includes(k))),
    });
    return out;
  };
  t.deepEqual(await keysAt(0), { 2: [], 3: HELD_OUT, 4: [] });
  t.deepEqual(await keysAt(1), { 2: [], 3: [], 4: [] }, 'every rank logs the eval step, only rank 0 evaluates');
});

test('evalSteps are validated: positive steps, and evalBatches to compute them with', (t) => {
  const dir = join(root, 'cfg');
  t.deepEqual(resolveTrainConfig(smallTrainConfig(dir, { evalSteps: [2, 4] })).evalSteps, [2, 4]);
  t.deepEqual(resolveTrainConfig(smallTrainConfig(dir, { evalSteps: [], evalBatches: 0 })).evalSteps, []);
  t.throws(() => resolveTrainConfig(smallTrainConfig(dir, { evalSteps: [2, 0] })), { instanceOf: ConfigError, message: /evalSteps\[1\] must be a positive integer, got 0/ });
  t.throws(() => resolveTrainConfig(smallTrainConfig(dir, { evalSteps: [2, 4], evalBatches: 0 })), {
    instanceOf: ConfigError,
    message: /evalBatches must be >= 1 to compute the held-out ELBO at evalSteps \(2, 4; .*\), got 0; set it to 1 or more/,
  });
});
