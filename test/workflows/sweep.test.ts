// Orchestration against the real Temporal dev server: sweeps of tiny trials whose replicas are real child processes
// (the fake replica: same config and JSON-lines protocol as src/parallel/replica-child.ts, no TensorFlow).
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

import anyTest from 'ava';
import type { TestFn } from 'ava';
import { Worker } from '@temporalio/worker';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';

import { SweepAlreadyRunningError, addTrials, cancelSweep, pauseSweep, resumeSweep, startSweep, sweepProgress } from '../../src/sweep/control.js';
import { SA_BETA, SA_LATENT, SA_SWEEP, trialWorkflowId, trialCurveQuery, trialProgressQuery } from '../../src/contract/index.js';
import type { TrialResult } from '../../src/contract/index.js';
import { startTemporal, temporalAvailable } from '../helpers/temporal.js';
import type { TemporalTestServer } from '../helpers/temporal.js';
import { alive, bundle, replicaPids, smallSpec, startWorker, stillAliveAfter, tempDir, trainedSteps, waitFor, waitHeld } from '../helpers/sweep-fixture.js';
import type { RunningWorker } from '../helpers/sweep-fixture.js';

interface Ctx {
  server: TemporalTestServer;
  code: WorkflowBundleWithSourceMap;
  runRoot: string;
  worker: RunningWorker;
}
const test = anyTest as TestFn<Ctx>;
const QUEUE = 'sweep-test';
const CLI = path.resolve('dist/src/cli/main.js');

if (!temporalAvailable()) {
  test('temporal dev server binary is missing (scripts/setup-temporal.sh)', (t) => t.fail());
} else {
  test.before(async (t) => {
    const [server, code, runRoot] = await Promise.all([startTemporal(), bundle(), tempDir('runs')]);
    // These replicas run under the guard (workers/replica-guard.ts); the worker-kill test covers the guard-less path.
    const worker = await startWorker({ taskQueue: QUEUE, address: server.address, slots: 8, runRoot, code, guard: true });
    t.context = { server, code, runRoot, worker };
  });

  test.after.always(async (t) => {
    await t.context.worker?.stop().catch(() => undefined);
    await t.context.server?.stop();
  });

  test.serial('a small sweep completes with every trial result; the history replays deterministically', async (t) => {
    const { server, runRoot, code } = t.context;
    const spec = smallSpec('small', QUEUE);
    const handle = await startSweep(server.client, spec);
    const result = await handle.result();
    t.is(result.state, 'completed');
    t.is(result.trials.length, 4);
    for (const trial of result.trials) {
      t.is(trial.state, 'completed', `${trial.key}: ${trial.error ?? ''}`);
      t.is(trial.step, 20);
      t.true(trial.metrics.mig !== undefined && trial.metrics.sap !== undefined, trial.key);
      const steps = (await trainedSteps(runRoot, 'small', trial.key)).map((s) => s.step);
      t.deepEqual(steps, Array.from({ length: 20 }, (_, i) => i + 1), trial.key);
      const tr: TrialResult = await server.client.workflow.getHandle(trialWorkflowId('small', trial.key)).result();
      t.deepEqual(tr.curve.map((p) => p.step), [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]);
    }
    t.deepEqual(result.trials.map((x) => x.key).sort(), ['beta=1,seed=0', 'beta=1,seed=1', 'beta=4,seed=0', 'beta=4,seed=1']);

    // Trials are filterable in the Temporal UI by sweep, beta and latent size.
    const desc = await server.client.workflow.getHandle(trialWorkflowId('small', 'beta=4,seed=1')).describe();
    t.is(desc.typedSearchAttributes.get(SA_SWEEP), 'small');
    t.is(desc.typedSearchAttributes.get(SA_BETA), 4);
    t.is(desc.typedSearchAttributes.get(SA_LATENT), 4);

    // Replay: the recorded histories of the sweep and of one trial run through the workflow code again.
    for (const id of ['sweep/small', trialWorkflowId('small', 'beta=4,seed=1')]) {
      const history = await server.client.workflow.getHandle(id).fetchHistory();
      await t.notThrowsAsync(Worker.runReplayHistory({ workflowBundle: { code: code.code } }, history, id), id);
    }
  });

  test.serial('a second start of a running sweep is refused clearly; an ended one can run again', async (t) => {
    const { server, runRoot } = t.context;
    // The first run holds after step 1 until released, so it is surely still running at the second start.
    const spec = smallSpec('twice', QUEUE, { train: { steps: 4, fakeStepMs: 10, fakeHoldAt: '0:1' }, search: { grid: { beta: [1] }, seeds: [0] } });
    const first = await startSweep(server.client, spec);
    const err = await t.throwsAsync(startSweep(server.client, spec), { instanceOf: SweepAlreadyRunningError });
    t.regex(err?.message ?? '', /sweep 'twice' is already running \(workflow sweep\/twice\)/);
    t.regex(err?.message ?? '', /dcign sweep cancel twice/);
    await waitHeld(runRoot, 'twice', 'beta=1,seed=0', 0, 2);
    await writeFile(path.join(runRoot, 'twice', 'beta=1,seed=0', 'release-g0'), '');
    t.is((await first.result()).state, 'completed');
    const again = await startSweep(server.client, spec);
    t.is((await again.result()).state, 'completed');
  });

  test.serial('a failing replica restarts the whole group from its last checkpoint under a new generation', async (t) => {
    const { server, runRoot } = t.context;
    // Rank 1 of generation 0 dies at step 13; the last checkpoint is step 10.
    const spec = smallSpec('restart', QUEUE, { train: { fakeFail: '0:1:13', fakeStepMs: 20 }, search: { grid: { beta: [2] }, seeds: [0] } });
    const result = await (await startSweep(server.client, spec)).result();
    const [trial] = result.trials;
    t.is(trial?.state, 'completed', trial?.error);
    const tr: TrialResult = await server.client.workflow.getHandle(trialWorkflowId('restart', 'beta=2,seed=0')).result();
    t.is(tr.generations, 2);
    // The final curve holds each step once, in order.
    const curveSteps = tr.curve.map((p) => p.step);
    t.deepEqual(curveSteps, [...new Set(curveSteps)].sort((a, b) => a - b));
    t.deepEqual(curveSteps, Array.from({ length: 10 }, (_, i) => 2 * (i + 1)));
    // Generation 1 resumed from the checkpoint at step 10: it trained exactly 11..20.
    const g1 = (await trainedSteps(runRoot, 'restart', 'beta=2,seed=0')).filter((s) => s.generation === 1).map((s) => s.step);
    t.deepEqual(g1, Array.from({ length: 10 }, (_, i) => 11 + i));
  });

  test.serial('SIGKILL of a replica mid-trial: the group resumes from the last checkpoint and finishes', async (t) => {
    const { server, runRoot } = t.context;
    const key = 'beta=3,seed=0';
    // Generation 0 holds right after its checkpoint at step 20, so the kill lands there however slow the machine is.
    const spec = smallSpec('killreplica', QUEUE, { train: { steps: 60, fakeStepMs: 10, checkpointEvery: 10, fakeHoldAt: '0:20' }, search: { grid: { beta: [3] }, seeds: [0] } });
    const handle = await startSweep(server.client, spec);
    const trial = server.client.workflow.getHandle(trialWorkflowId('killreplica', key));
    await waitHeld(runRoot, 'killreplica', key, 0, 2);
    await waitFor('the workflow to know the checkpoint at step 20', async () => {
      try {
        const p = await trial.query(trialProgressQuery);
        return p.lastCheckpoint?.step === 20 ? p : undefined;
      } catch {
        return undefined;
      }
    });
    const pids = await replicaPids(runRoot, 'killreplica', key);
    t.is(pids.length, 2);
    process.kill(pids[1] as number, 'SIGKILL');
    const result = await handle.result();
    t.is(result.trials[0]?.state, 'completed', result.trials[0]?.error);
    const progress = await trial.query(trialProgressQuery);
    t.is(progress.restarts.length, 1);
    t.is(progress.restarts[0]?.resumeStep, 20);
    const g1 = (await trainedSteps(runRoot, 'killreplica', key)).filter((s) => s.generation === 1).map((s) => s.step);
    t.deepEqual(g1, Array.from({ length: 40 }, (_, i) => 21 + i), 'generation 1 trains exactly the steps after the checkpoint');
    const curve = (await trial.query(trialCurveQuery)).map((p) => p.step);
    t.deepEqual(curve, Array.from({ length: 30 }, (_, i) => 2 * (i + 1)), 'no step twice in the final curve');
    for (const pid of await replicaPids(runRoot, 'killreplica', key)) t.false(alive(pid), `replica ${pid} left running`);
  });

  test.serial('pause holds new trials (a running one pauses or finishes), resume releases them; trials can be added to a running sweep', async (t) => {
    const { server } = t.context;
    const spec = smallSpec('pausing', QUEUE, { maxConcurrentTrials: 1, train: { steps: 20, fakeStepMs: 30 }, search: { grid: { beta: [1, 2] }, seeds: [0] } });
    const handle = await startSweep(server.client, spec);
    await pauseSweep(server.client, 'pausing');
    const added = await addTrials(server.client, 'pausing', ['beta=8,seed=5', 'beta=1,seed=0']);
    t.deepEqual(added, ['beta=8,seed=5'], 'a known point is skipped');
    // Whatever was running when the pause arrived pauses at a step boundary (or finishes first); nothing new starts.
    await waitFor('running trials to finish', async () => {
      const p = await sweepProgress(server.client, 'pausing');
      return p.trials.every((x) => x.state !== 'running') ? p : undefined;
    });
    await new Promise((r) => setTimeout(r, 2000));
    const paused = await sweepProgress(server.client, 'pausing');
    t.is(paused.state, 'paused');
    t.true(paused.trials.filter((x) => x.state === 'pending').length >= 2, JSON.stringify(paused.trials.map((x) => x.state)));
    await resumeSweep(server.client, 'pausing');
    const result = await handle.result();
    t.deepEqual(result.trials.map((x) => [x.key, x.state]), [
      ['beta=1,seed=0', 'completed'],
      ['beta=2,seed=0', 'completed'],
      ['beta=8,seed=5', 'completed'],
    ]);
  });

  test.serial('cancel stops every trial and its replicas', async (t) => {
    const { server, runRoot } = t.context;
    const spec = smallSpec('cancelling', QUEUE, { maxConcurrentTrials: 2, train: { steps: 100000, fakeStepMs: 20 }, search: { grid: { beta: [1, 2, 3] }, seeds: [0] } });
    const handle = await startSweep(server.client, spec);
    await waitFor('both first trials training', async () => {
      const p = await sweepProgress(server.client, 'cancelling');
      return p.trials.filter((x) => x.step > 0).length === 2 ? p : undefined;
    });
    await cancelSweep(server.client, 'cancelling', 'test cancel');
    // The trials would train for over half an hour: the result arriving at all is the evidence that cancel stopped them.
    const result = await handle.result();
    t.is(result.state, 'cancelled');
    t.deepEqual(result.trials.map((x) => x.state), ['cancelled', 'cancelled', 'cancelled']);
    t.true(result.trials.every((x) => x.step < 100000), JSON.stringify(result.trials.map((x) => x.step)));
    const pids = (await Promise.all(result.trials.map((x) => replicaPids(runRoot, 'cancelling', x.key)))).flat();
    t.is(pids.length, 4);
    // 60 s is a hang guard only: the worker stops the replicas when their activities are cancelled.
    t.deepEqual(await stillAliveAfter(pids, 60_000), [], 'replicas left running after cancel');
  });

  test.serial('`dcign sweep add` reaches a sweep that has continued as new; the added trial runs and a known point is skipped', async (t) => {
    const { server, runRoot } = t.context;
    // Every trial holds after its last step until released, so the sweep is surely running while points are added.
    const spec = smallSpec('addlater', QUEUE, { maxConcurrentTrials: 1, train: { steps: 10, fakeStepMs: 10, fakeHoldAt: '0:10' }, search: { grid: { beta: [1, 2] }, seeds: [0] } });
    const handle = await startSweep(server.client, spec, { maxHistoryEvents: 20, progressReportMs: 100 });
    await waitHeld(runRoot, 'addlater', 'beta=1,seed=0', 0, 2);
    // Signals grow the history too: pause/resume (which changes nothing here) until the sweep has continued as new.
    await waitFor('the sweep to continue as new', async () => {
      if ((await sweepProgress(server.client, 'addlater')).continuedAsNew >= 1) return true;
      await pauseSweep(server.client, 'addlater');
      await resumeSweep(server.client, 'addlater');
      return undefined;
    });
    const cli = (args: string[]): Promise<{ stdout: string }> => promisify(execFile)(process.execPath, [CLI, 'sweep', 'add', 'addlater', ...args, '--address', server.address]);
    t.is((await cli(['beta=8,seed=3'])).stdout.trim(), 'added 1 trial(s): beta=8,seed=3');
    t.is((await cli(['beta=2,seed=0'])).stdout.trim(), 'nothing added: every point is already in the sweep');
    for (const key of ['beta=1,seed=0', 'beta=2,seed=0', 'beta=8,seed=3']) {
      await mkdir(path.join(runRoot, 'addlater', key), { recursive: true });
      await writeFile(path.join(runRoot, 'addlater', key, 'release-g0'), '');
    }
    const result = await handle.result();
    t.true(result.continuedAsNew >= 1, `continued ${result.continuedAsNew} times`);
    t.deepEqual(result.trials.map((x) => [x.key, x.state, x.step]), [
      ['beta=1,seed=0', 'completed', 10],
      ['beta=2,seed=0', 'completed', 10],
      ['beta=8,seed=3', 'completed', 10],
    ]);
  });

  test.serial('a sweep continues as new when its history grows, and still completes every trial', async (t) => {
    const { server } = t.context;
    const spec = smallSpec('longhistory', QUEUE, { maxConcurrentTrials: 2, search: { grid: { beta: [1, 2, 3] }, seeds: [0, 1] } });
    const handle = await startSweep(server.client, spec, { maxHistoryEvents: 40, progressReportMs: 100 });
    const result = await handle.result();
    t.true(result.continuedAsNew >= 1, `continued ${result.continuedAsNew} times`);
    t.is(result.trials.length, 6);
    t.true(result.trials.every((x) => x.state === 'completed'), JSON.stringify(result.trials.map((x) => [x.key, x.state, x.error])));
  });
}
