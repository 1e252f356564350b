// No trial state on one worker's disk: two workers with separate run roots (two hosts, no shared files) and a real
// MLflow server. Worker A (a `dcign worker` process; fake replicas, frozen by a fault-injecting wrapper right after
// their checkpoint at step 30) stores its checkpoints in the trial's MLflow run and is SIGKILLed once step 30 is
// durable and its losses are logged. Worker B, which never saw the trial, fetches that checkpoint from MLflow, resumes
// the group from it and completes the trial: every step trained once after the checkpoint, every logged step once in
// the MLflow loss history, and only the newest `checkpoints.keep` checkpoints left in MLflow and on B's disk.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import anyTest from 'ava';
import type { TestFn } from 'ava';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';

import { startSweep } from '../../src/sweep/control.js';
import { progressQuery, trialProgressQuery, trialWorkflowId } from '../../src/contract/index.js';
import { CheckpointStore, MlflowClient } from '../../src/tracking/index.js';
import { startMlflowServer, type MlflowServer } from '../helpers/mlflow.js';
import { startTemporal, temporalAvailable } from '../helpers/temporal.js';
import type { TemporalTestServer } from '../helpers/temporal.js';
import { FAKE_REPLICA, alive, bundle, replicaPids, smallSpec, startWorker, tempDir, trainedSteps, waitFor } from '../helpers/sweep-fixture.js';

interface Ctx {
  server: TemporalTestServer;
  mlflow: MlflowServer;
  client: MlflowClient;
  code: WorkflowBundleWithSourceMap;
}
const test = anyTest as TestFn<Ctx>;
const CLI = path.resolve('dist/src/cli/main.js');
const FREEZE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/freeze-after-checkpoint.js');

if (!temporalAvailable()) {
  test('temporal dev server binary is missing (scripts/setup-temporal.sh)', (t) => t.fail());
} else {
  test.before(async (t) => {
    const [server, mlflow, code] = await Promise.all([startTemporal(), startMlflowServer(), bundle()]);
    t.context = { server, mlflow, code, client: new MlflowClient({ trackingUri: mlflow.uri }) };
  });
  test.after.always(async (t) => {
    t.context.client?.close();
    await t.context.server?.stop();
    await t.context.mlflow?.dispose();
  });

  /** `dcign worker` as its own process, tracked in MLflow, its replicas frozen after their checkpoint at `freezeAt`. */
  function startCliWorker(o: { address: string; queue: string; runRoot: string; mlflowUri: string; freezeAt: number }): { proc: ChildProcess; ready: Promise<void> } {
    const replica = [process.execPath, FREEZE, String(o.freezeAt), process.execPath, FAKE_REPLICA].join(' ');
    const args = [CLI, 'worker', '--task-queue', o.queue, '--slots', '2', '--address', o.address, '--run-root', o.runRoot];
    args.push('--advertise-host', '127.0.0.1', '--replica-command', replica);
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MLFLOW_TRACKING_URI: o.mlflowUri } });
    let err = '';
    proc.stderr?.on('data', (c: Buffer) => {
      err = (err + c.toString()).slice(-3000);
    });
    const ready = new Promise<void>((resolve, reject) => {
      createInterface({ input: proc.stdout! }).on('line', (l) => {
        if (l.startsWith('{"type":"worker"')) resolve();
      });
      proc.once('exit', (code) => reject(new Error(`worker exited with ${code}: ${err}`)));
    });
    return { proc, ready };
  }

  test.serial('worker A is killed after a durable checkpoint; worker B, with its own disk, resumes the trial from MLflow', async (t) => {
    const { server, mlflow, client, code } = t.context;
    const queue = 'durable';
    const sweep = 'durable';
    const key = 'beta=2,seed=0';
    const trialDir = path.join(sweep, key);
    const [rootA, rootB] = await Promise.all([tempDir('host-a'), tempDir('host-b')]);

    const a = startCliWorker({ address: server.address, queue, runRoot: rootA, mlflowUri: mlflow.uri, freezeAt: 30 });
    await a.ready;
    const spec = smallSpec(sweep, queue, {
      train: { steps: 80, fakeStepMs: 20, checkpointEvery: 10, logEvery: 2 },
      search: { grid: { beta: [2] }, seeds: [0] },
      checkpoints: { keep: 2 },
    });
    const handle = await startSweep(server.client, spec);
    const trial = server.client.workflow.getHandle(trialWorkflowId(sweep, key));

    // The workflow's resume point is the checkpoint stored in MLflow, named so any host can fetch it.
    const runId = await waitFor('the trial run in MLflow', async () => (await handle.query(progressQuery)).trials[0]?.mlflowRunId, 120_000);
    const durable = `runs:/${runId}/checkpoints/step-00000030`;
    await waitFor(
      'the durable checkpoint at step 30',
      async () => {
        const p = await trial.query(trialProgressQuery).catch(() => undefined);
        return p?.lastCheckpoint?.uri === durable ? true : undefined;
      },
      120_000,
    );
    // Its losses are released to MLflow only now; wait until they are there, then kill worker A.
    await waitFor('losses up to step 30 in MLflow', async () => ((await client.getMetricHistory(runId, 'loss')).some((m) => m.step === 30) ? true : undefined), 60_000);
    t.deepEqual(
      (await client.getMetricHistory(runId, 'loss')).map((m) => m.step).sort((x, y) => x - y),
      Array.from({ length: 15 }, (_, i) => 2 * (i + 1)),
      'no loss past the durable checkpoint is logged before it is stored',
    );
    const pidsA = await replicaPids(rootA, sweep, key);
    t.is(pidsA.length, 2);
    a.proc.kill('SIGKILL');
    await waitFor("worker A's replicas to exit", () => (pidsA.every((p) => !alive(p)) ? true : undefined), 10_000);

    const b = await startWorker({ taskQueue: queue, address: server.address, slots: 2, runRoot: rootB, code, mlflowUri: mlflow.uri });
    try {
      const result = await handle.result();
      const done = result.trials[0];
      t.is(done?.state, 'completed', done?.error);
      t.is(done?.step, 80);
      t.is(done?.checkpointUri, `runs:/${runId}/checkpoints/step-00000080`);
      t.like(done?.metrics, { mig: 0.02, sap: 0.8 }, 'evaluated on B from the final checkpoint fetched from MLflow');

      const progress = await trial.query(trialProgressQuery);
      t.deepEqual(progress.restarts.map((r) => r.resumeStep), [30]);
      // B resumed from its own copy of the durable checkpoint, fetched into its run folder (a cache, pruned later).
      const config = JSON.parse(readFileSync(path.join(rootB, trialDir, 'replica-g1-r0.json'), 'utf8')) as { train: { resumeFrom?: string } };
      t.is(config.train.resumeFrom, path.join(rootB, trialDir, 'checkpoints', 'step-00000030'));
      t.false(existsSync(path.join(rootB, trialDir, 'replica-g0-r0.json')), 'B never ran generation 0');
      const trainedB = await trainedSteps(rootB, sweep, key);
      t.deepEqual(trainedB.map((s) => s.step), Array.from({ length: 50 }, (_, i) => 31 + i), 'B trains exactly the steps after the checkpoint');
      t.true(trainedB.every((s) => s.generation === 1));

      const history = (await client.getMetricHistory(runId, 'loss')).map((m) => m.step).sort((x, y) => x - y);
      t.deepEqual(history, Array.from({ length: 40 }, (_, i) => 2 * (i + 1)), 'each logged step exactly once in MLflow');

      // Retention (checkpoints.keep: 2): the newest two in MLflow, and only those among B's local copies. Which two
      // depends on upload speed (a checkpoint written while another uploads waits, and is skipped if a newer one comes),
      // but step 40 (the first after the resume, with nothing ahead of it) and step 80 (the last) are always stored.
      const stored = await new CheckpointStore(client, runId).list();
      t.is(stored.length, 2, JSON.stringify(stored));
      t.true(stored.every((c) => c.complete));
      const [older, newest] = stored.map((c) => c.step) as [number, number];
      t.is(newest, 80);
      t.true(older >= 40 && older < 80 && older % 10 === 0, `kept ${older}`);
      const local = readdirSync(path.join(rootB, trialDir)).filter((f) => f.startsWith('ckpt-'));
      const written = [40, 50, 60, 70, 80];
      t.deepEqual(local.sort(), written.filter((s) => s >= older).map((s) => `ckpt-${String(s).padStart(7, '0')}`));
      t.deepEqual(readdirSync(path.join(rootB, trialDir, 'checkpoints')), ['step-00000080'], 'step 30 left the cache; step 80 was fetched for evaluation');
    } finally {
      await b.stop();
    }
  });
}
