// The Temporal server dies mid-trial and comes back on the same database (a crash and restart of the frontend), with
// a real MLflow server and a worker that stores checkpoints there (fake replicas: this is about orchestration).
//   - An outage shorter than the trial's heartbeat timeout (the grace period) costs no training: the replicas keep
//     training through it, heartbeats resume, no step is trained twice and the group is never restarted.
//   - An outage longer than that: Temporal gives up on the group and restarts it from the newest checkpoint it
//     accepted. The old group, still alive, is refused when it reports later checkpoints, so it never logs their
//     losses: every step is in the MLflow loss history exactly once, whoever trained it.
import anyTest from 'ava';
import type { TestFn } from 'ava';

import { trialProgressQuery, trialWorkflowId, type TrialProgress } from '../../src/contract/index.js';
import { startSweep } from '../../src/sweep/control.js';
import { MlflowClient } from '../../src/tracking/index.js';
import { startMlflowServer, type MlflowServer } from '../helpers/mlflow.js';
import { startTemporal, temporalAvailable, type TemporalTestServer } from '../helpers/temporal.js';
import { bundle, smallSpec, startWorker, tempDir, trainedSteps, waitFor, type RunningWorker } from '../helpers/sweep-fixture.js';

const test = anyTest as TestFn<{ server: TemporalTestServer; mlflow: MlflowServer; worker: RunningWorker; runRoot: string; client: MlflowClient }>;
const QUEUE = 'outage';
const STEPS = 400;
const KEY = 'beta=1,seed=0';

async function progress(server: TemporalTestServer, sweep: string): Promise<TrialProgress | undefined> {
  try {
    return await server.client.workflow.getHandle(trialWorkflowId(sweep, KEY)).query(trialProgressQuery);
  } catch {
    return undefined;
  }
}

/** Kills Temporal once the trial has an accepted checkpoint, lets rank 0 train `during` more steps, restarts it. */
async function outage(t: { context: { server: TemporalTestServer; runRoot: string } }, sweep: string, during: number): Promise<number> {
  const { server, runRoot } = t.context;
  const accepted = await waitFor('an accepted checkpoint', async () => {
    const p = await progress(server, sweep);
    return p?.lastCheckpoint && p.lastCheckpoint.step >= 40 ? p.lastCheckpoint.step : undefined;
  });
  await server.kill();
  const trainedAtKill = (await trainedSteps(runRoot, sweep, KEY)).length;
  // the replicas go on training while Temporal is gone (an event in the file rank 0 appends to, not a clock)
  await waitFor(`${during} steps trained during the outage`, async () => ((await trainedSteps(runRoot, sweep, KEY)).length >= trainedAtKill + during ? true : undefined));
  await server.restart();
  return accepted;
}

async function lossSteps(client: MlflowClient, runId: string): Promise<number[]> {
  return (await client.getMetricHistory(runId, 'loss')).map((m) => m.step).sort((a, b) => a - b);
}

const everyLogStep = Array.from({ length: STEPS / 2 }, (_, i) => 2 * (i + 1));

if (!temporalAvailable()) {
  test('temporal dev server binary is missing (scripts/setup-temporal.sh)', (t) => t.fail());
} else {
  test.before(async (t) => {
    const [server, mlflow, code, runRoot] = await Promise.all([startTemporal(), startMlflowServer(), bundle(), tempDir('outage')]);
    const worker = await startWorker({ taskQueue: QUEUE, address: server.address, slots: 2, runRoot, code, mlflowUri: mlflow.uri });
    t.context = { server, mlflow, worker, runRoot, client: new MlflowClient({ trackingUri: mlflow.uri }) };
  });
  test.after.always(async (t) => {
    t.context.client?.close();
    await t.context.worker?.stop().catch(() => undefined);
    await t.context.server?.stop();
    await t.context.mlflow?.dispose();
  });

  const spec = (name: string, heartbeatTimeoutSeconds: number) =>
    smallSpec(name, QUEUE, {
      train: { steps: STEPS, logEvery: 2, checkpointEvery: 20, fakeStepMs: 25 },
      search: { grid: { beta: [1] }, seeds: [0] },
      retry: { heartbeatTimeoutSeconds, maxGroupRestarts: 3 },
    });

  test.serial('an outage within the heartbeat timeout costs no training: no restart, no step trained or logged twice', async (t) => {
    const handle = await startSweep(t.context.server.client, spec('outage-short', 120));
    const accepted = await outage(t, 'outage-short', 40);
    const result = await handle.result();
    const trial = result.trials[0];
    t.is(trial?.state, 'completed', trial?.error);
    t.is((await progress(t.context.server, 'outage-short'))?.generation, 0, 'the group was never restarted');
    const trained = (await trainedSteps(t.context.runRoot, 'outage-short', KEY)).map((s) => s.step);
    t.deepEqual(trained, Array.from({ length: STEPS }, (_, i) => i + 1), 'each step trained once');
    t.deepEqual(await lossSteps(t.context.client, trial?.mlflowRunId as string), everyLogStep);
    t.log(`Temporal killed after the checkpoint at step ${accepted}`);
  });

  test.serial('an outage past the heartbeat timeout restarts the group; MLflow still gets each step exactly once', async (t) => {
    const handle = await startSweep(t.context.server.client, spec('outage-long', 2));
    // long enough that the old group stores and reports checkpoints while Temporal is down or has given up on it
    const accepted = await outage(t, 'outage-long', 60);
    const result = await handle.result();
    const trial = result.trials[0];
    t.is(trial?.state, 'completed', trial?.error);
    const p = await progress(t.context.server, 'outage-long');
    t.true((p?.generation ?? 0) >= 1, 'Temporal restarted the group after its heartbeat timeout');
    t.deepEqual(await lossSteps(t.context.client, trial?.mlflowRunId as string), everyLogStep);
    const trained = (await trainedSteps(t.context.runRoot, 'outage-long', KEY)).map((s) => s.step);
    t.log(`Temporal killed after the checkpoint at step ${accepted}; ${trained.length - STEPS} steps trained twice; restarts: ${JSON.stringify(p?.restarts)}`);
  });
}
