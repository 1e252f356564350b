// The sweep lifecycle against the real Temporal dev server and a real MLflow server (replicas: the fake replica, real
// child processes): an ended sweep resumed, failed trials retried, a true pause. Each test proves what did and did not
// train from the steps the replicas wrote (trained.jsonl) and from the trials' MLflow runs and metric histories.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

import anyTest from 'ava';
import type { ExecutionContext, TestFn } from 'ava';
import { Worker } from '@temporalio/worker';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';

import { pauseSweep, resumeSweep, startSweep, sweepProgress } from '../../src/sweep/control.js';
import { SA_STATE, trialProgressQuery, trialWorkflowId, sweepWorkflowId } from '../../src/contract/index.js';
import type { TrialResult } from '../../src/contract/index.js';
import type { SweepProgress } from '../../src/contract/types.js';
import { CheckpointStore, MlflowClient } from '../../src/tracking/index.js';
import { testMlflowServer } from '../helpers/mlflow.js';
import type { MlflowServer } from '../helpers/mlflow.js';
import { startTemporal, temporalAvailable } from '../helpers/temporal.js';
import type { TemporalTestServer } from '../helpers/temporal.js';
import { bundle, replicaPids, smallSpec, startWorker, stillAliveAfter, tempDir, trainedSteps, waitFor, waitHeld } from '../helpers/sweep-fixture.js';
import type { RunningWorker } from '../helpers/sweep-fixture.js';

interface Ctx {
  server: TemporalTestServer;
  code: WorkflowBundleWithSourceMap;
  mlflow: MlflowServer;
  tracking: MlflowClient;
  runRoot: string;
  worker: RunningWorker;
}
const test = anyTest as TestFn<Ctx>;
const QUEUE = 'lifecycle';
const CLI = path.resolve('dist/src/cli/main.js');
// Each test run gets its own sweep names: the shared MLflow server of a whole-suite run keeps experiments by name.
const RUN = Date.now().toString(36);
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

if (!temporalAvailable()) {
  test('temporal dev server binary is missing (scripts/setup-temporal.sh)', (t) => t.fail());
} else {
  test.before(async (t) => {
    const [server, mlflow, code, runRoot] = await Promise.all([startTemporal(), testMlflowServer(), bundle(), tempDir('lifecycle')]);
    const worker = await startWorker({ taskQueue: QUEUE, address: server.address, slots: 4, runRoot, code, mlflowUri: mlflow.uri, pausePollMs: 200 });
    t.context = { server, code, mlflow, tracking: new MlflowClient({ trackingUri: mlflow.uri }), runRoot, worker };
  });
  test.after.always(async (t) => {
    t.context.tracking?.close();
    await t.context.worker?.stop().catch(() => undefined);
    await t.context.server?.stop();
    await t.context.mlflow?.dispose();
  });

  /** Steps of a run's `loss` history, in order; each must appear once. */
  const lossSteps = async (t: ExecutionContext<Ctx>, runId: string): Promise<number[]> =>
    (await t.context.tracking.getMetricHistory(runId, 'loss')).map((m) => m.step).sort((a, b) => a - b);

  /** The recorded history of one workflow run goes through the workflow code again without a determinism error. */
  const replays = async (t: ExecutionContext<Ctx>, workflowId: string, runId?: string): Promise<void> => {
    const history = await t.context.server.client.workflow.getHandle(workflowId, runId).fetchHistory();
    await t.notThrowsAsync(Worker.runReplayHistory({ workflowBundle: { code: t.context.code.code } }, history, workflowId), `${workflowId} ${runId ?? ''}`);
  };

  const trialOf = (p: SweepProgress, key: string): SweepProgress['trials'][number] => {
    const trial = p.trials.find((x) => x.key === key);
    if (!trial) throw new Error(`no trial ${key} in ${JSON.stringify(p.trials.map((x) => x.key))}`);
    return trial;
  };

  test.serial('a sweep terminated mid-run and resumed (--stop-running stops its orphaned trial): the completed trial is not trained again, the running one continues from its checkpoint', async (t) => {
    const { server, runRoot, tracking } = t.context;
    const name = `resume-${RUN}`;
    const [done, cut] = ['beta=1,seed=0', 'beta=2,seed=0'];
    // Both trials hold after step 20 (checkpoint 20 stored first); `done` is released to complete, `cut` stays held.
    const spec = smallSpec(name, QUEUE, {
      train: { steps: 40, logEvery: 1, checkpointEvery: 10, fakeStepMs: 10, fakeHoldAt: '0:20' },
      search: { grid: { beta: [1, 2] }, seeds: [0] },
    });
    const handle = await startSweep(server.client, spec, { progressReportMs: 200 });
    await Promise.all([waitHeld(runRoot, name, done, 0, 2), waitHeld(runRoot, name, cut, 0, 2)]);
    await writeFile(path.join(runRoot, name, done, 'release-g0'), '');
    await waitFor(`${done} completed`, async () => (trialOf(await sweepProgress(server.client, name, { live: false }), done).state === 'completed' ? true : undefined));
    const cutTrial = server.client.workflow.getHandle(trialWorkflowId(name, cut));
    await waitFor(`${cut}'s checkpoint at step 20 stored in MLflow`, async () => ((await cutTrial.query(trialProgressQuery)).lastCheckpoint?.step === 20 ? true : undefined));

    // Terminated by the server, as an operator or a timeout would end it: the sweep and its running trial.
    const before = await sweepProgress(server.client, name, { live: false });
    await handle.terminate('test: the sweep ends mid-run');
    // Temporal leaves a terminated sweep's trials running: resume refuses to start a second copy beside one, and says
    // how to stop it and continue.
    await t.throwsAsync(resumeSweep(server.client, name), {
      message:
        `trial '${cut}' of sweep '${name}' is still running although the sweep ended, and a second copy would train beside it: ` +
        `let it finish, or stop it and continue from the newest checkpoint with \`dcign sweep resume ${name} --stop-running\``,
    });
    t.is((await cutTrial.describe()).status.name, 'RUNNING', 'the refused resume left the trial alone');
    const cutPids = await replicaPids(runRoot, name, cut);
    const doneRun = await tracking.getRun(trialOf(before, done).mlflowRunId as string);
    const doneSteps = await trainedSteps(runRoot, name, done);
    const cutRunId = trialOf(before, cut).mlflowRunId as string;
    t.deepEqual(await lossSteps(t, cutRunId), range(1, 20), 'before the resume, the cut trial logged the steps its checkpoint covers');

    // --stop-running: the orphaned trial is cancelled (its replicas stop) and continues from its checkpoint.
    const out = await resumeSweep(server.client, name, { progressReportMs: 200, stopRunning: true });
    t.deepEqual(out, { how: 'restarted', trials: [cut], kept: 1 });
    t.deepEqual(await stillAliveAfter(cutPids, 30_000), [], 'replicas of the stopped trial stopped');
    const result = await server.client.workflow.getHandle<() => Promise<SweepProgress>>(sweepWorkflowId(name)).result();
    t.is(result.state, 'completed');
    t.is(result.resumed, 1);
    t.deepEqual(result.trials.map((x) => [x.key, x.state, x.step]), [[done, 'completed', 40], [cut, 'completed', 40]]);

    // The completed trial: not trained again, its run untouched.
    t.deepEqual(await trainedSteps(runRoot, name, done), doneSteps);
    const doneAfter = await tracking.getRun(doneRun.info.runId);
    t.is(doneAfter.info.status, 'FINISHED');
    t.is(doneAfter.info.endTime, doneRun.info.endTime);
    t.is(trialOf(result, done).mlflowRunId, doneRun.info.runId);

    // The cut trial: generation 1 trained exactly 21..40 from the checkpoint, in the same run, each step logged once.
    const cutSteps = await trainedSteps(runRoot, name, cut);
    t.deepEqual(cutSteps.filter((s) => s.generation === 1).map((s) => s.step), range(21, 40));
    t.true(cutSteps.every((s) => s.generation <= 1), JSON.stringify(cutSteps.filter((s) => s.generation > 1)));
    t.is(trialOf(result, cut).mlflowRunId, cutRunId);
    const cutRun = await tracking.getRun(cutRunId);
    t.is(cutRun.info.status, 'FINISHED');
    t.is(cutRun.data.tags['dcign.state'], 'completed');
    t.deepEqual(await lossSteps(t, cutRunId), range(1, 40));
    const tr: TrialResult = await cutTrial.result();
    t.is(tr.generations, 2);
    const parent = await tracking.getRun(result.parentRunId as string);
    t.is(parent.info.status, 'FINISHED');
    t.is(parent.data.tags['temporal.runId'], (await server.client.workflow.getHandle(sweepWorkflowId(name)).describe()).runId, 'the parent run names the run that continued it');

    await replays(t, sweepWorkflowId(name)); // the run that continued the terminated one

    // Nothing is left to resume; the error says so and names retry.
    await t.throwsAsync(resumeSweep(server.client, name), { message: new RegExp(`sweep '${name}' has nothing to resume: 2 trial\\(s\\) completed, 0 failed`) });
  });

  test.serial('`dcign sweep retry` reruns a failed trial of an ended sweep from its checkpoint, in its run', async (t) => {
    const { server, runRoot, tracking } = t.context;
    const name = `retry-${RUN}`;
    const key = 'beta=3,seed=0';
    // Rank 1 dies at step 13 in generation 0 and no restart is allowed: the trial fails after checkpoint 10.
    const spec = smallSpec(name, QUEUE, {
      train: { steps: 20, logEvery: 1, checkpointEvery: 5, fakeStepMs: 10, fakeFail: '0:1:13' },
      search: { grid: { beta: [3] }, seeds: [0] },
      retry: { maxGroupRestarts: 0 },
    });
    const first = await (await startSweep(server.client, spec)).result();
    t.is(trialOf(first, key).state, 'failed');
    const runId = trialOf(first, key).mlflowRunId as string;
    t.is((await tracking.getRun(runId)).info.status, 'FAILED');
    // The newest checkpoint stored whole before the failure (10, or 5 when 10 was still uploading as rank 1 died).
    const stored = (await new CheckpointStore(tracking, runId).latest())?.step ?? 0;
    t.true(stored === 5 || stored === 10, `newest stored checkpoint: ${stored}`);
    t.deepEqual(await lossSteps(t, runId), range(1, stored), 'losses are logged up to the stored checkpoint');

    const cli = await promisify(execFile)(process.execPath, [CLI, 'sweep', 'retry', name, key, '--address', server.address]);
    t.regex(cli.stdout, new RegExp(`retrying 1 trial\\(s\\) in a new run of the ended sweep \\(0 trial\\(s\\) kept as they ended\\), each from its newest checkpoint: beta=3,seed=0`));
    const result = await server.client.workflow.getHandle<() => Promise<SweepProgress>>(sweepWorkflowId(name)).result();
    t.is(trialOf(result, key).state, 'completed', trialOf(result, key).error);
    t.deepEqual((await trainedSteps(runRoot, name, key)).filter((s) => s.generation === 1).map((s) => s.step), range(stored + 1, 20));
    const run = await tracking.getRun(runId);
    t.is(run.info.status, 'FINISHED', 'the failed run is reopened and finished, not replaced');
    t.deepEqual(await lossSteps(t, runId), range(1, 20));

    // A trial that did not fail is refused by name, before anything starts.
    await t.throwsAsync(promisify(execFile)(process.execPath, [CLI, 'sweep', 'retry', name, key, '--address', server.address]), {
      message: new RegExp(`trial '${key}' of sweep '${name}' is completed, not failed; only failed trials are retried`),
    });
  });

  test.serial('pause: the running trial stores a checkpoint at a step boundary and frees its slot; resume continues from it', async (t) => {
    const { server, runRoot, tracking, worker } = t.context;
    const name = `pause-${RUN}`;
    const key = 'beta=1,seed=0';
    const spec = smallSpec(name, QUEUE, {
      train: { steps: 600, logEvery: 1, checkpointEvery: 50, fakeStepMs: 10 },
      search: { grid: { beta: [1] }, seeds: [0] },
    });
    const handle = await startSweep(server.client, spec, { progressReportMs: 200 });
    await waitFor('training under way', async () => ((await trainedSteps(runRoot, name, key).catch(() => [])).length >= 60 ? true : undefined));
    await pauseSweep(server.client, name);
    const paused = await waitFor('the trial paused', async () => {
      const p = await sweepProgress(server.client, name, { live: false });
      return trialOf(p, key).state === 'paused' ? p : undefined;
    });
    t.is(paused.state, 'paused');
    const at = trialOf(paused, key).checkpointStep as number;
    t.true(at > 0 && at < 600, `paused at ${at}`);

    // Nothing holds a slot: no replica process, no training task on the worker, the trial's workflow closed.
    t.deepEqual(await stillAliveAfter(await replicaPids(runRoot, name, key), 30_000), []);
    t.is(worker.worker.slotsInUse(), 0);
    const pausedRunId = (await server.client.workflow.getHandle(trialWorkflowId(name, key)).describe()).runId;
    const pausedTrial: TrialResult = await server.client.workflow.getHandle(trialWorkflowId(name, key)).result();
    t.is(pausedTrial.state, 'paused');
    t.is(pausedTrial.step, at);
    const pausedDesc = await server.client.workflow.getHandle(trialWorkflowId(name, key)).describe();
    t.is((pausedDesc.raw.pendingActivities ?? []).length, 0, 'no training activity pending in Temporal');
    t.is(pausedDesc.typedSearchAttributes.get(SA_STATE), 'paused', 'filterable in the Temporal UI');
    // It trained exactly up to its pause checkpoint, and nothing trains while paused.
    const trained = await trainedSteps(runRoot, name, key);
    t.deepEqual(trained.map((s) => s.step), range(1, at));
    await new Promise((r) => setTimeout(r, 1500));
    t.is((await trainedSteps(runRoot, name, key)).length, at);
    const runId = trialOf(paused, key).mlflowRunId as string;
    const pausedRun = await tracking.getRun(runId);
    t.is(pausedRun.info.status, 'RUNNING', 'the run stays open for the trial to continue in');
    t.is(pausedRun.data.tags['dcign.state'], 'paused');

    t.deepEqual(await resumeSweep(server.client, name), { how: 'signalled' });
    const result = await handle.result();
    t.deepEqual(result.trials.map((x) => [x.key, x.state, x.step]), [[key, 'completed', 600]]);
    const after = await trainedSteps(runRoot, name, key);
    t.deepEqual(after.slice(at).map((s) => s.step), range(at + 1, 600), 'resumed at the pause checkpoint + 1');
    t.true(after.slice(at).every((s) => s.generation === 1), 'the continuation is a new generation');
    t.deepEqual(await lossSteps(t, runId), range(1, 600), 'each step logged once');
    await replays(t, trialWorkflowId(name, key), pausedRunId);
    await replays(t, sweepWorkflowId(name));
  });
}
