// The orchestration with the real replica child (src/train/replica-child.ts: TensorFlow trainer + ZeroMQ ring): a tiny
// sweep of 2 trials x 2 data-parallel replicas rendezvousing through the trial workflow's update (untracked: local
// checkpoints); and a tracked trial whose worker goes away after a durable checkpoint, resumed by a real replica on a
// worker with its own run root from the checkpoint it fetched from MLflow; and early stopping on the held-out ELBO that
// rank 0 of a real 2-replica group computes at the rung while its peer waits in the ring; and early stopping on MIG,
// the real evaluator (in its child process) scoring the real checkpoint written at each rung while training goes on.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import anyTest from 'ava';
import type { TestFn } from 'ava';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';

import { startSweep } from '../../src/sweep/control.js';
import { progressQuery, trialCurveQuery, trialProgressQuery, trialWorkflowId } from '../../src/contract/index.js';
import { MlflowClient } from '../../src/tracking/index.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { REPLICA_CHILD_PATH } from '../../workers/worker.js';
import { childEvaluator } from '../../workers/cli.js';
import { startMlflowServer, type MlflowServer } from '../helpers/mlflow.js';
import { startTemporal, temporalAvailable } from '../helpers/temporal.js';
import type { TemporalTestServer } from '../helpers/temporal.js';
import { bundle, smallSpec, startWorker, tempDir, waitFor } from '../helpers/sweep-fixture.js';
import type { RunningWorker } from '../helpers/sweep-fixture.js';

const test = anyTest as TestFn<{ server: TemporalTestServer; mlflow: MlflowServer; code: WorkflowBundleWithSourceMap; worker: RunningWorker }>;
const QUEUE = 'real-replica';
const FREEZE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../workers/fixtures/freeze-after-checkpoint.js');

if (!temporalAvailable() || !existsSync(REPLICA_CHILD_PATH)) {
  test('temporal binary and the replica child are built', (t) => t.fail(`need ${REPLICA_CHILD_PATH} and the Temporal CLI`));
} else {
  test.before(async (t) => {
    const [server, mlflow, code, runRoot] = await Promise.all([startTemporal(), startMlflowServer(), bundle(), tempDir('real')]);
    const worker = await startWorker({ taskQueue: QUEUE, address: server.address, slots: 4, runRoot, code, replicaCommand: [process.execPath, REPLICA_CHILD_PATH] });
    t.context = { server, mlflow, code, worker };
  });
  test.after.always(async (t) => {
    await t.context.worker?.stop().catch(() => undefined);
    await t.context.server?.stop();
    await t.context.mlflow?.dispose();
  });

  test.serial('2 trials x 2 real replicas train through the Temporal rendezvous and finish with checkpoints', async (t) => {
    const { server } = t.context;
    const spec = smallSpec('real', QUEUE, {
      model: { variant: 'beta-vae', imageSize: 32, latentSize: 4 },
      train: { steps: 6, batchSize: 8, logEvery: 2, checkpointEvery: 3, evalBatches: 0 },
      search: { grid: { beta: [1, 4] }, seeds: [0] },
      evaluation: { enabled: false },
      retry: { heartbeatTimeoutSeconds: 60 },
    });
    const result = await (await startSweep(server.client, spec)).result();
    for (const trial of result.trials) {
      t.is(trial.state, 'completed', `${trial.key}: ${trial.error ?? ''}`);
      t.is(trial.step, 6);
      // untracked here: the final checkpoint is a local folder, and it loads at the last step
      t.is((await loadCheckpoint(trial.checkpointUri ?? '(none)')).state.step, 6, `final checkpoint ${trial.checkpointUri}`);
      t.true(Number.isFinite(trial.losses.loss), JSON.stringify(trial.losses));
      const curve = await server.client.workflow.getHandle(trialWorkflowId('real', trial.key)).query(trialCurveQuery);
      t.deepEqual(curve.map((p) => p.step), [2, 4, 6]);
    }
  });

  test.serial('ASHA on the held-out ELBO of real replicas stops the planted tiny-learning-rate trials at the rung', async (t) => {
    const { server } = t.context;
    // lr 1e-7 learns nothing in 10 steps; lr 3e-3 does. One at a time, in spec order: the good trial records first (and
    // is promoted, alone), the tiny-lr one meets its record at rung 10 and is stopped there (of 2, eta 3 keeps 1).
    // Step 10 is no log step (logEvery 4): it is logged because it is the rung. 150 steps leave the stop time to arrive.
    const spec = smallSpec('realelbo', QUEUE, {
      model: { variant: 'beta-vae', imageSize: 32, latentSize: 4 },
      train: { steps: 150, batchSize: 16, logEvery: 4, checkpointEvery: 50, evalBatches: 2, evalBatchSize: 16 },
      search: { grid: { learningRate: [0.003, 1e-7] }, seeds: [0] },
      replicas: 2,
      maxConcurrentTrials: 1,
      evaluation: { enabled: false },
      retry: { heartbeatTimeoutSeconds: 60 },
      objective: 'elbo',
      earlyStopping: { asha: { minSteps: 10, eta: 3 } },
    });
    const result = await (await startSweep(server.client, spec)).result();
    const byKey = new Map(result.trials.map((x) => [x.key, x]));
    const rung = (key: string): number => byKey.get(key)?.rungs?.['10'] as number;
    const good = 'lr=0.003,seed=0';
    const tiny = 'lr=1e-7,seed=0';
    {
      const key = good;
      const s = byKey.get(key);
      t.is(s?.state, 'completed', `${key}: ${s?.stopped ?? s?.error ?? ''}`);
      t.true(Number.isFinite(rung(key)) && rung(key) < 0, `${key}: elbo at rung 10 = ${rung(key)}`);
      t.true(Number.isFinite(s?.losses.elbo), `${key}: the last step carries the held-out ELBO: ${JSON.stringify(s?.losses)}`);
      const curve = await server.client.workflow.getHandle(trialWorkflowId('realelbo', key)).query(trialCurveQuery);
      t.deepEqual(curve.filter((p) => p.scalars.elbo !== undefined).map((p) => p.step), [10, 30, 90, 150]);
      t.is(curve.find((p) => p.step === 10)?.scalars.elbo, rung(key), 'the sweep recorded the value logged at the rung');
    }
    const s = byKey.get(tiny);
    t.is(s?.state, 'stopped', `${tiny}: ${s?.error ?? ''} (rung values ${JSON.stringify(result.trials.map((x) => [x.key, x.rungs]))})`);
    t.regex(s?.stopped ?? '', /^ASHA rung 10 \(step 10\): elbo -[\d.]+ is outside the top 1 of 2 recorded there \(cutoff -[\d.]+, higher is better, eta 3\)$/);
    t.true(rung(tiny) < rung(good), `tiny lr ${rung(tiny)} vs ${rung(good)}`);
    t.true((s?.step ?? 150) < 150, `stopped before the end, at ${s?.step}`);
    t.log(`held-out ELBO at rung 10: lr 3e-3 ${rung(good)}, lr 1e-7 ${rung(tiny)}; the tiny-lr trial stopped at step ${s?.step}`);
  });

  test.serial('ASHA on MIG: the real evaluator scores each rung\'s real checkpoint beside training; the second trial ends as its recorded MIG decides', async (t) => {
    const { server, mlflow, code } = t.context;
    const queue = 'real-mig';
    // Tracked (eval/mig goes to each trial's run) and with the production evaluator. The MIG values are real, so no
    // ranking is known before the run; but once they are recorded exactly one outcome is right for the second trial,
    // and the test demands it: the first to arrive is promoted at every rung (alone there); the second is stopped at
    // the first rung where its MIG is below the first's (ASHA keeps the top 1 of 2, ties promoted), with that rung,
    // value and cutoff in its reason, else it completes. Each trial's eval/mig history shows the recorded values are
    // the evaluator's own for that trial's checkpoints.
    const uriBefore = process.env.MLFLOW_TRACKING_URI;
    process.env.MLFLOW_TRACKING_URI = mlflow.uri; // the evaluation child reads it, as on a real worker
    const worker = await startWorker({ taskQueue: queue, address: server.address, slots: 2, runRoot: await tempDir('real-mig'), code, mlflowUri: mlflow.uri, replicaCommand: [process.execPath, REPLICA_CHILD_PATH], evaluate: childEvaluator });
    const client = new MlflowClient({ trackingUri: mlflow.uri });
    try {
      const spec = smallSpec('realmig', queue, {
        model: { variant: 'beta-vae', imageSize: 32, latentSize: 4 },
        // 200 steps: a stop decided at rung 10 must reach the trial while it still trains (the rung's evaluation runs
        // beside training); with 40 steps the trial had ended before the decision arrived and completed anyway.
        train: { steps: 200, batchSize: 16, learningRate: 0.003, logEvery: 5, checkpointEvery: 20, evalBatches: 0 },
        search: { grid: { beta: [1, 4] }, seeds: [0] },
        replicas: 1,
        maxConcurrentTrials: 1,
        evaluation: { metrics: ['mig'], numTrain: 200, numTest: 100 },
        retry: { heartbeatTimeoutSeconds: 60 },
        objective: 'mig',
        earlyStopping: { asha: { minSteps: 10, eta: 3 } },
      });
      const result = await (await startSweep(server.client, spec)).result();
      const [first, second] = result.trials;
      t.is(first?.state, 'completed', `${first?.key}: ${first?.stopped ?? first?.error ?? ''}`);
      t.deepEqual(Object.keys(first?.rungs ?? {}), ['10', '30', '90']);
      for (const trial of result.trials) {
        t.true(trial.state === 'completed' || trial.state === 'stopped', `${trial.key}: ${trial.state} ${trial.error ?? ''}`);
        const rung10 = trial.rungs?.['10'];
        t.true(typeof rung10 === 'number' && Number.isFinite(rung10) && rung10 >= 0 && rung10 <= 1, `${trial.key}: mig at rung 10 = ${rung10}`);
        // A rung is evaluated on the first checkpoint stored at or after it: the rung's own, unless the uploader
        // skipped it for a newer one (real steps are quick), so the step is a checkpoint step at or after the rung.
        const history = (await client.getMetricHistory(trial.mlflowRunId as string, 'eval/mig')).sort((a, b) => a.step - b.step);
        const at = (rung: number, value: number | undefined): boolean => history.some((m) => m.step >= rung && (m.step % 20 === 0 || [10, 30, 90].includes(m.step)) && m.value === value);
        t.true(at(10, rung10), `${trial.key}: eval/mig holds the value rung 10 recorded: ${JSON.stringify(history.map((m) => [m.step, m.value]))}`);
        if (trial === first) {
          t.true(at(30, first.rungs?.['30']), 'and the one rung 30 recorded');
          t.is(history.at(-1)?.step, 200, 'the final evaluation, at the last step');
          t.is(history.at(-1)?.value, first.metrics.mig);
        }
        t.log(`${trial.key}: eval/mig ${JSON.stringify(history.map((m) => [m.step, Number(m.value.toPrecision(4))]))}`);
      }
      // The one right outcome for the second trial, from the recorded values (rungs 10, 30 and 90 fall within 200 steps).
      const fmt = (v: number): string => String(Number(v.toPrecision(4)));
      let expected: { state: 'completed' | 'stopped'; stopped?: string } = { state: 'completed' };
      for (const rung of ['10', '30', '90']) {
        const mine = second?.rungs?.[rung];
        const cutoff = first?.rungs?.[rung] as number;
        if (mine === undefined) break;
        if (mine < cutoff) {
          expected = { state: 'stopped', stopped: `ASHA rung ${rung} (step ${rung}): mig ${fmt(mine)} is outside the top 1 of 2 recorded there (cutoff ${fmt(cutoff)}, higher is better, eta 3)` };
          break;
        }
      }
      t.is(second?.state, expected.state, `second trial ${second?.key} (stopped: ${second?.stopped ?? 'no'}): rungs ${JSON.stringify(second?.rungs)} vs the first's ${JSON.stringify(first?.rungs)}`);
      t.is(second?.stopped, expected.stopped);
      if (expected.state === 'completed') t.deepEqual(Object.keys(second?.rungs ?? {}), ['10', '30', '90'], 'a trial that is never stopped records every rung');
      else t.is(Object.keys(second?.rungs ?? {}).at(-1), /rung (\d+)/.exec(expected.stopped ?? '')?.[1], 'no rung is recorded after the one that stopped it');
      t.log(`MIG at the rungs: ${result.trials.map((x) => `${x.key} ${JSON.stringify(x.rungs)} (${x.state})`).join('; ')}; ${second?.stopped ?? ''}`);
    } finally {
      client.close();
      await worker.stop();
      if (uriBefore === undefined) delete process.env.MLFLOW_TRACKING_URI;
      else process.env.MLFLOW_TRACKING_URI = uriBefore;
    }
  });

  test.serial('a real replica on another host resumes from the checkpoint it fetched from MLflow', async (t) => {
    const { server, mlflow, code } = t.context;
    const queue = 'real-durable';
    const key = 'beta=4,seed=0';
    const trialDir = path.join('realdurable', key);
    const [rootA, rootB] = await Promise.all([tempDir('real-a'), tempDir('real-b')]);
    const child = [process.execPath, REPLICA_CHILD_PATH];
    // A's replica is frozen right after its checkpoint at step 4 (test/workers/fixtures/freeze-after-checkpoint.ts).
    const a = await startWorker({ taskQueue: queue, address: server.address, slots: 1, runRoot: rootA, code, mlflowUri: mlflow.uri, replicaCommand: [process.execPath, FREEZE, '4', ...child] });
    const spec = smallSpec('realdurable', queue, {
      model: { variant: 'beta-vae', imageSize: 32, latentSize: 4 },
      train: { steps: 8, batchSize: 8, logEvery: 2, checkpointEvery: 4, evalBatches: 0 },
      search: { grid: { beta: [4] }, seeds: [0] },
      replicas: 1,
      retry: { heartbeatTimeoutSeconds: 60 },
    });
    const handle = await startSweep(server.client, spec);
    const trial = server.client.workflow.getHandle(trialWorkflowId('realdurable', key));
    const client = new MlflowClient({ trackingUri: mlflow.uri });
    let b: RunningWorker | undefined;
    try {
      const runId = await waitFor('the trial run in MLflow', async () => (await handle.query(progressQuery)).trials[0]?.mlflowRunId, 120_000);
      await waitFor(
        'the durable checkpoint at step 4',
        async () => ((await trial.query(trialProgressQuery).catch(() => undefined))?.lastCheckpoint?.uri === `runs:/${runId}/checkpoints/step-00000004` ? true : undefined),
        180_000,
      );
      await waitFor('losses up to step 4 in MLflow', async () => ((await client.getMetricHistory(runId, 'loss')).some((m) => m.step === 4) ? true : undefined), 60_000);
      // Worker A goes away (its frozen replica is cancelled and killed); B, with its own run root, takes over.
      const stopping = a.stop();
      b = await startWorker({ taskQueue: queue, address: server.address, slots: 1, runRoot: rootB, code, mlflowUri: mlflow.uri, replicaCommand: child });
      await stopping;

      const result = await handle.result();
      const done = result.trials[0];
      t.is(done?.state, 'completed', done?.error);
      t.is(done?.step, 8);
      t.is(done?.checkpointUri, `runs:/${runId}/checkpoints/step-00000008`);
      t.deepEqual((await trial.query(trialProgressQuery)).restarts.map((r) => r.resumeStep), [4]);
      const resumed = path.join(rootB, trialDir, 'checkpoints', 'step-00000004');
      const config = JSON.parse(readFileSync(path.join(rootB, trialDir, 'replica-g1-r0.json'), 'utf8')) as { train: { resumeFrom?: string } };
      t.is(config.train.resumeFrom, resumed, 'the real replica on B resumed from its fetched copy');
      t.true(existsSync(path.join(resumed, 'MANIFEST.json')));
      for (const f of ['params.bin', 'adam-m.bin', 'adam-v.bin', 'state.json', 'config.json']) {
        const written = readFileSync(path.join(rootA, trialDir, 'checkpoints', 'step-00000004', f));
        t.true(readFileSync(path.join(resumed, f)).equals(written), `${f} fetched bit-exact`);
      }
      t.is((await loadCheckpoint(path.join(rootB, trialDir, 'checkpoints', 'step-00000008'))).state.step, 8);
      const history = (await client.getMetricHistory(runId, 'loss')).map((m) => m.step).sort((x, y) => x - y);
      t.deepEqual(history, [2, 4, 6, 8], 'each step once in the MLflow loss history');
      t.deepEqual((await trial.query(trialCurveQuery)).map((p) => p.step), [2, 4, 6, 8]);
    } finally {
      client.close();
      await b?.stop();
      await a.stop().catch(() => undefined);
    }
  });
}
