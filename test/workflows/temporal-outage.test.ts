// The Temporal server dies mid-trial and comes back on the same database (a crash and restart of the frontend), with
// a real MLflow server and a worker that stores checkpoints there (fake replicas: this is about orchestration). Both
// cases run the same spec, heartbeat timeout H = 45 s, and differ only in how long Temporal stays down, measured:
//   - An outage shorter than the grace period costs no training: the replicas keep training through it, heartbeats
//     resume, no step is trained twice and the group is never restarted. The SDK sends heartbeats at most every
//     0.8 H, so the last one before the kill may be 0.8 H old: only an outage under 0.2 H (9 s) is sure to miss no
//     heartbeat deadline, and the test asserts that its outage was that short.
//   - An outage longer than H (asserted too): Temporal gives up on the group and restarts it from the newest
//     checkpoint it accepted. A report of the old group after the restart is refused (the trial's checkpointStored
//     update answers false; the test sends one as the old rank 0 would, since the old group's worker usually stops
//     it first) and no report of a replaced generation is ever accepted (read from the workflow's history), so the
//     old group never logs those losses: every step is in the MLflow loss history exactly once, whoever trained it.
import anyTest from 'ava';
import type { TestFn } from 'ava';

import { checkpointStoredUpdate, trialProgressQuery, trialWorkflowId, type ReplicaProgress, type TrialProgress } from '../../src/contract/index.js';
import { startSweep } from '../../src/sweep/control.js';
import { MlflowClient } from '../../src/tracking/index.js';
import { startMlflowServer, type MlflowServer } from '../helpers/mlflow.js';
import { startTemporal, temporalAvailable, type TemporalTestServer } from '../helpers/temporal.js';
import { bundle, smallSpec, startWorker, tempDir, trainedSteps, waitFor, type RunningWorker } from '../helpers/sweep-fixture.js';

const test = anyTest as TestFn<{ server: TemporalTestServer; mlflow: MlflowServer; worker: RunningWorker; runRoot: string; client: MlflowClient }>;
const QUEUE = 'outage';
/** The heartbeat timeout of both cases; see the top of the file for the short and long outages it separates. */
const HEARTBEAT_S = 45;
const SHORT_OUTAGE_MAX_MS = 0.2 * HEARTBEAT_S * 1000;
const KEY = 'beta=1,seed=0';

async function progress(server: TemporalTestServer, sweep: string): Promise<TrialProgress | undefined> {
  try {
    return await server.client.workflow.getHandle(trialWorkflowId(sweep, KEY)).query(trialProgressQuery);
  } catch {
    return undefined;
  }
}

/**
 * Kills Temporal once the trial has an accepted checkpoint, lets rank 0 train `during` more steps and at least
 * `downMs` pass, restarts it. Returns the accepted checkpoint's step and how long Temporal was down (kill to answering).
 */
async function outage(t: { context: { server: TemporalTestServer; runRoot: string } }, sweep: string, during: number, downMs = 0): Promise<{ accepted: number; outageMs: number }> {
  const { server, runRoot } = t.context;
  const accepted = await waitFor('an accepted checkpoint', async () => {
    const p = await progress(server, sweep);
    return p?.lastCheckpoint && p.lastCheckpoint.step >= 40 ? p.lastCheckpoint.step : undefined;
  });
  const killedAt = Date.now();
  await server.kill();
  const trainedAtKill = (await trainedSteps(runRoot, sweep, KEY)).length;
  // the replicas go on training while Temporal is gone (an event in the file rank 0 appends to, not a clock)
  await waitFor(`${during} steps trained during the outage`, async () => ((await trainedSteps(runRoot, sweep, KEY)).length >= trainedAtKill + during ? true : undefined));
  const left = killedAt + downMs - Date.now();
  if (left > 0) await new Promise((r) => setTimeout(r, left));
  await server.restart();
  return { accepted, outageMs: Date.now() - killedAt };
}

/**
 * The trial's answers to checkpointStored reports, from its history: how many it answered, those it refused, and
 * those it accepted from a generation it had already replaced (the current generation at each point is the newest
 * that trainReplica activities were scheduled for).
 */
async function checkpointReports(server: TemporalTestServer, sweep: string): Promise<{ answered: number; refused: ReplicaProgress[]; staleAccepted: ReplicaProgress[] }> {
  const { events } = await server.client.workflow.getHandle(trialWorkflowId(sweep, KEY)).fetchHistory();
  const decode = (p: { data?: Uint8Array | null } | undefined): unknown => JSON.parse(Buffer.from(p?.data ?? []).toString());
  const asked = new Map<string, { report: ReplicaProgress; current: number }>();
  const refused: ReplicaProgress[] = [];
  const staleAccepted: ReplicaProgress[] = [];
  let current = 0;
  for (const e of events ?? []) {
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled?.activityType?.name === 'trainReplica') current = Math.max(current, (decode(scheduled.input?.payloads?.[0]) as { generation: number }).generation);
    const a = e.workflowExecutionUpdateAcceptedEventAttributes;
    if (a?.acceptedRequest?.input?.name === checkpointStoredUpdate.name) {
      asked.set(a.acceptedRequest.meta?.updateId ?? '', { report: decode(a.acceptedRequest.input.args?.payloads?.[0]) as ReplicaProgress, current });
    }
    const c = e.workflowExecutionUpdateCompletedEventAttributes;
    const q = asked.get(c?.meta?.updateId ?? '');
    if (!c || !q) continue;
    if (decode(c.outcome?.success?.payloads?.[0]) === false) refused.push(q.report);
    else if (q.report.generation < q.current) staleAccepted.push(q.report);
  }
  return { answered: asked.size, refused, staleAccepted };
}

async function lossSteps(client: MlflowClient, runId: string): Promise<number[]> {
  return (await client.getMetricHistory(runId, 'loss')).map((m) => m.step).sort((a, b) => a - b);
}

const everyLogStep = (steps: number): number[] => Array.from({ length: steps / 2 }, (_, i) => 2 * (i + 1));

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

  const spec = (name: string, steps: number) =>
    smallSpec(name, QUEUE, {
      train: { steps, logEvery: 2, checkpointEvery: 20, fakeStepMs: 25 },
      search: { grid: { beta: [1] }, seeds: [0] },
      retry: { heartbeatTimeoutSeconds: HEARTBEAT_S, maxGroupRestarts: 3 },
    });

  test.serial(`an outage under 0.2 x the heartbeat timeout costs no training: no restart, no refusal, no step trained or logged twice`, async (t) => {
    const steps = 400;
    const handle = await startSweep(t.context.server.client, spec('outage-short', steps));
    const { accepted, outageMs } = await outage(t, 'outage-short', 40);
    t.true(outageMs < SHORT_OUTAGE_MAX_MS, `the outage lasted ${outageMs} ms, not under ${SHORT_OUTAGE_MAX_MS} ms: this machine restarted Temporal too slowly for the case`);
    const result = await handle.result();
    const trial = result.trials[0];
    t.is(trial?.state, 'completed', trial?.error);
    t.is((await progress(t.context.server, 'outage-short'))?.generation, 0, 'the group was never restarted');
    const reports = await checkpointReports(t.context.server, 'outage-short');
    t.true(reports.answered > 0, 'the trial answered checkpoint reports');
    t.deepEqual(reports.refused, [], 'no checkpoint report was refused');
    const trained = (await trainedSteps(t.context.runRoot, 'outage-short', KEY)).map((s) => s.step);
    t.deepEqual(trained, Array.from({ length: steps }, (_, i) => i + 1), 'each step trained once');
    t.deepEqual(await lossSteps(t.context.client, trial?.mlflowRunId as string), everyLogStep(steps));
    t.log(`Temporal killed after the checkpoint at step ${accepted}, down for ${outageMs} ms (heartbeat timeout ${HEARTBEAT_S} s)`);
  });

  test.serial('an outage past the heartbeat timeout restarts the group and refuses the old one; MLflow still gets each step exactly once', async (t) => {
    t.timeout(10 * 60_000);
    // 25 ms a step: the old group trains about 2,000 steps while Temporal is down for H + 5 s, and keeps reporting
    // checkpoints until its worker learns that its activities timed out.
    const steps = 4000;
    const handle = await startSweep(t.context.server.client, spec('outage-long', steps));
    const { accepted, outageMs } = await outage(t, 'outage-long', 60, (HEARTBEAT_S + 5) * 1000);
    t.true(outageMs > HEARTBEAT_S * 1000, `the outage lasted ${outageMs} ms`);
    const generation = await waitFor('the restarted group', async () => ((await progress(t.context.server, 'outage-long'))?.generation ?? 0) >= 1 ? true : undefined, 120_000);
    t.true(generation, 'Temporal restarted the group after its heartbeat timeout');
    // The old group's own worker usually stops it as soon as its heartbeat is answered "timed out", before it stores
    // another checkpoint, so it may never report again. Its report is sent here as its rank 0 would send it (the same
    // update, generation 0, a checkpoint newer than any): the trial must refuse it and keep its resume point.
    const handle0 = t.context.server.client.workflow.getHandle(trialWorkflowId('outage-long', KEY));
    const stale = { generation: 0, replicaIndex: 0, step: steps - 1, checkpoint: { step: steps - 1, uri: 'runs:/stale-generation-0/checkpoints/step-late' }, points: [] };
    t.false(await handle0.executeUpdate(checkpointStoredUpdate, { args: [stale] }), 'a report of the replaced generation is refused');
    t.not((await progress(t.context.server, 'outage-long'))?.lastCheckpoint?.uri, stale.checkpoint.uri, 'the refused checkpoint is not the resume point');
    const result = await handle.result();
    const trial = result.trials[0];
    t.is(trial?.state, 'completed', trial?.error);
    t.not(trial?.checkpointUri, stale.checkpoint.uri);
    const p = await progress(t.context.server, 'outage-long');
    const { refused, staleAccepted } = await checkpointReports(t.context.server, 'outage-long');
    t.deepEqual(staleAccepted, [], 'no report of a replaced generation was accepted');
    t.true(refused.some((r) => r.checkpoint?.uri === stale.checkpoint.uri), 'the refusal is in the history');
    const fromOldGroup = refused.filter((r) => r.checkpoint?.uri !== stale.checkpoint.uri);
    t.true(refused.every((r) => r.generation < (p?.generation ?? 0)), `only replaced generations are refused: ${JSON.stringify(refused.map((r) => r.generation))}`);
    t.deepEqual(await lossSteps(t.context.client, trial?.mlflowRunId as string), everyLogStep(steps));
    const trained = (await trainedSteps(t.context.runRoot, 'outage-long', KEY)).map((s) => s.step);
    t.log(
      `Temporal killed after the checkpoint at step ${accepted}, down for ${outageMs} ms (heartbeat timeout ${HEARTBEAT_S} s); ` +
        `${trained.length - steps} steps trained twice; ${fromOldGroup.length} reports of the old group itself refused (steps ${fromOldGroup.map((r) => r.checkpoint?.step ?? r.step).join(', ')}); restarts: ${JSON.stringify(p?.restarts)}`,
    );
  });
}
