// Early stopping and failing fast against the real Temporal dev server and a real MLflow server, with the fake replica
// (real child processes, no TensorFlow): ASHA stops the planted worst trials of a sweep whose objective is known, and
// they are marked stopped in the sweep, in Temporal (result and search attribute) and in MLflow; the same on the
// held-out ELBO, which the fake replica logs at the trainer's evalSteps as the trainer names it; the same on an
// evaluation metric, evaluated on the checkpoint each rung asks for while training goes on; a trial whose npz
// file its worker host lacks fails at once, naming the file and the host, without a restart.
import { execFile } from 'node:child_process';
import { hostname } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import anyTest from 'ava';
import type { ExecutionContext, TestFn } from 'ava';
import { Worker } from '@temporalio/worker';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';

import { startSweep } from '../../src/sweep/control.js';
import { projectRoot } from '../../src/stack/paths.js';
import { SA_STATE, sweepWorkflowId, trialWorkflowId } from '../../src/contract/index.js';
import type { TrialResult } from '../../src/contract/index.js';
import { MlflowClient } from '../../src/tracking/index.js';
import { testMlflowServer } from '../helpers/mlflow.js';
import type { MlflowServer } from '../helpers/mlflow.js';
import { startTemporal, temporalAvailable } from '../helpers/temporal.js';
import type { TemporalTestServer } from '../helpers/temporal.js';
import { bundle, replicaPids, smallSpec, startWorker, stillAliveAfter, tempDir, trainedSteps } from '../helpers/sweep-fixture.js';
import type { RunningWorker } from '../helpers/sweep-fixture.js';

type Ctx = { server: TemporalTestServer; mlflow: MlflowServer; worker: RunningWorker; runRoot: string; code: WorkflowBundleWithSourceMap };
const run = promisify(execFile);
const CLI = path.join(projectRoot, 'dist', 'src', 'cli', 'main.js');
const test = anyTest as TestFn<Ctx>;
const QUEUE = 'early-stopping';

if (!temporalAvailable()) {
  test('temporal dev server binary is missing (scripts/setup-temporal.sh)', (t) => t.fail());
} else {
  test.before(async (t) => {
    const [server, mlflow, code, runRoot] = await Promise.all([startTemporal(), testMlflowServer(), bundle(), tempDir('asha')]);
    const worker = await startWorker({ taskQueue: QUEUE, address: server.address, slots: 4, runRoot, code, mlflowUri: mlflow.uri });
    t.context = { server, mlflow, worker, runRoot, code };
  });
  test.after.always(async (t) => {
    await t.context.worker?.stop().catch(() => undefined);
    await t.context.server?.stop();
    await t.context.mlflow?.dispose();
  });

  /** The recorded history of a workflow goes through the workflow code again without a determinism error. */
  const replays = async (t: ExecutionContext<Ctx>, workflowId: string): Promise<void> => {
    const history = await t.context.server.client.workflow.getHandle(workflowId).fetchHistory();
    await t.notThrowsAsync(Worker.runReplayHistory({ workflowBundle: { code: t.context.code.code } }, history, workflowId), workflowId);
  };

  const good = ['train.fakeLossScale=1,seed=0', 'train.fakeLossScale=1,seed=1'];
  const bad = ['train.fakeLossScale=10,seed=0', 'train.fakeLossScale=10,seed=1'];
  /** Two good and two planted trials (fakeLossScale 10: ten times worse at every step), two at a time, ASHA eta 2. */
  const plantedSweep = async (server: TemporalTestServer, name: string, objective: string, train: Record<string, number>, replicas: number) => {
    const spec = smallSpec(name, QUEUE, {
      train: { steps: 100, fakeStepMs: 20, checkpointEvery: 20, ...train },
      search: { grid: { 'train.fakeLossScale': [1, 10] }, seeds: [0, 1] },
      replicas,
      maxConcurrentTrials: 2,
      objective,
      earlyStopping: { asha: { minSteps: 10, eta: 2 } },
    });
    const result = await (await startSweep(server.client, spec)).result();
    return { result, byKey: new Map(result.trials.map((x) => [x.key, x])) };
  };

  test.serial('ASHA stops the planted worst trials at the first rung; the rest complete', async (t) => {
    const { server, mlflow, runRoot } = t.context;
    // Loss = scale * 1000 / step: the two scale-10 trials are ten times worse at every step. They start only once a
    // good trial has ended (2 at once, in spec order), so each meets good records at rung 10 and is stopped there.
    const { result, byKey } = await plantedSweep(server, 'asha', 'loss', { logEvery: 2 }, 1);
    t.is(result.state, 'completed');
    for (const key of good) {
      const s = byKey.get(key);
      t.is(s?.state, 'completed', `${key}: ${s?.stopped ?? s?.error ?? ''}`);
      t.is(s?.step, 100);
      t.is(s?.rungs?.['10'], 100); // 1000 / 10
    }
    for (const key of bad) {
      const s = byKey.get(key);
      t.is(s?.state, 'stopped', `${key}: ${s?.error ?? ''}`);
      t.regex(s?.stopped ?? '', /^ASHA rung 10 \(step 10\): loss 1000 is outside the top [12] of [234] recorded there \(cutoff 100, lower is better, eta 2\)$/);
      t.is(s?.error, undefined);
      t.deepEqual(Object.keys(s?.rungs ?? {}), ['10']);
      // Stopped early: it never trained to the end, and none of its replicas is left running.
      const steps = (await trainedSteps(runRoot, 'asha', key)).map((x) => x.step);
      t.true(Math.max(...steps) < 100, `${key} trained to ${Math.max(...steps)}`);
      t.deepEqual(await stillAliveAfter(await replicaPids(runRoot, 'asha', key), 10_000), []);

      // Temporal: the trial workflow completed (not failed) with state stopped, and is filterable by DcignState.
      const handle = server.client.workflow.getHandle(trialWorkflowId('asha', key));
      const tr: TrialResult = await handle.result();
      t.is(tr.state, 'stopped');
      t.is(tr.stopped, s?.stopped);
      const desc = await handle.describe();
      t.is(desc.status.name, 'COMPLETED');
      t.is(desc.typedSearchAttributes.get(SA_STATE), 'stopped');
    }
    t.is((await server.client.workflow.getHandle(trialWorkflowId('asha', good[0] as string)).describe()).typedSearchAttributes.get(SA_STATE), 'completed');

    // MLflow: the stopped trials' runs say so, with the reason; the completed ones are evaluated and FINISHED.
    const client = new MlflowClient({ trackingUri: mlflow.uri });
    try {
      const runs = await client.searchRuns({ experimentIds: [result.experimentId as string], filter: `tags.mlflow.parentRunId = '${result.parentRunId}'` });
      t.is(runs.length, 4);
      for (const run of runs) {
        const key = run.data.tags['dcign.trial'] as string;
        if (bad.includes(key)) {
          t.is(run.info.status, 'KILLED', key);
          t.is(run.data.tags['dcign.state'], 'stopped');
          t.is(run.data.tags['dcign.stopped'], byKey.get(key)?.stopped);
          t.is(run.data.metrics['eval/mig'], undefined, 'a stopped trial is not evaluated');
        } else {
          t.is(run.info.status, 'FINISHED', key);
          t.is(run.data.tags['dcign.state'], 'completed');
        }
      }
      const parent = await client.getRun(result.parentRunId as string);
      t.is(parent.data.metrics['trials/stopped']?.value, 2);
      t.is(parent.data.metrics['trials/completed']?.value, 2);
    } finally {
      client.close();
    }

    // `dcign sweep results` as a user runs it, against the live server: the compact table reads the spec from the
    // sweep's start event and ranks by its objective (loss, lower first); stopped trials say why.
    const { stdout } = await run(process.execPath, [CLI, 'sweep', 'results', 'asha', '--format', 'json', '--address', server.address]);
    const rows = JSON.parse(stdout) as Record<string, string | number>[];
    t.deepEqual(Object.keys(rows[0] ?? {}).slice(0, 3), ['configuration', 'seed', 'state']);
    t.deepEqual(rows.map((r) => [r.configuration, r.state]), [
      ['train.fakeLossScale=1', 'completed'],
      ['train.fakeLossScale=1', 'completed'],
      ['train.fakeLossScale=10', 'stopped'],
      ['train.fakeLossScale=10', 'stopped'],
    ]);
    const losses = rows.map((r) => r.loss as number);
    t.deepEqual([...losses].sort((a, b) => a - b), losses, `ranked by loss: ${losses.join(', ')}`);
    t.true(rows.every((r) => 'mig' in r && 'sap' in r), 'the spec metrics are columns');
    t.true(rows.slice(2).every((r) => String(r.stopped).startsWith('ASHA rung 10')), JSON.stringify(rows.slice(2)));
  });

  test.serial('ASHA on the held-out ELBO: rank 0 logs it at the rungs, and the planted worst trials are stopped there', async (t) => {
    const { server, mlflow, runRoot } = t.context;
    // elbo = -scale * 1000 / step at the eval steps: the scale-10 trials are ten times worse (higher is better). logEvery
    // 4 does not log step 10: the first rung is logged only because the trial passes its rungs as eval steps.
    const { result, byKey } = await plantedSweep(server, 'ashaelbo', 'elbo', { logEvery: 4 }, 2);
    t.is(result.state, 'completed');
    for (const key of good) {
      const s = byKey.get(key);
      t.is(s?.state, 'completed', `${key}: ${s?.stopped ?? s?.error ?? ''}`);
      t.deepEqual(s?.rungs, { '10': -100, '20': -50, '40': -25, '80': -12.5 });
      t.is(s?.losses.elbo, -10, 'the last step is an eval step too: sweep results rank completed trials by it');
    }
    for (const key of bad) {
      const s = byKey.get(key);
      t.is(s?.state, 'stopped', `${key}: ${s?.error ?? ''}`);
      t.regex(s?.stopped ?? '', /^ASHA rung 10 \(step 10\): elbo -1000 is outside the top [12] of [234] recorded there \(cutoff -100, higher is better, eta 2\)$/);
      t.deepEqual(Object.keys(s?.rungs ?? {}), ['10']);
      const steps = (await trainedSteps(runRoot, 'ashaelbo', key)).map((x) => x.step);
      t.true(Math.max(...steps) < 100, `${key} trained to ${Math.max(...steps)}`);
      t.deepEqual(await stillAliveAfter(await replicaPids(runRoot, 'ashaelbo', key), 10_000), []);
    }

    // MLflow: a completed trial's run holds the held-out ELBO at each rung and at the last step, beside the losses.
    const client = new MlflowClient({ trackingUri: mlflow.uri });
    try {
      const runs = await client.searchRuns({ experimentIds: [result.experimentId as string], filter: `tags.mlflow.parentRunId = '${result.parentRunId}'` });
      const run = runs.find((r) => r.data.tags['dcign.trial'] === good[0]);
      t.is(run?.info.status, 'FINISHED');
      const history = await client.getMetricHistory(run?.info.runId as string, 'elbo');
      t.deepEqual(history.map((p) => [p.step, p.value]).sort((a, b) => (a[0] as number) - (b[0] as number)), [[10, -100], [20, -50], [40, -25], [80, -12.5], [100, -10]]);
      t.is((await client.getMetricHistory(run?.info.runId as string, 'loss')).length, 100 / 4 + 1, 'every log step (4, 8, ..., 100) and the rung at 10');
    } finally {
      client.close();
    }
  });

  test.serial('ASHA on an evaluation metric: each rung\'s checkpoint is evaluated beside training, and the planted worst trials are stopped there', async (t) => {
    const { server, mlflow, runRoot } = t.context;
    // The fake evaluator's mig is 0.01 / fakeLossScale: the planted trials score 0.001, ten times worse (higher is
    // better); its sap is 0.01 * the checkpoint's step, which shows which checkpoint each rung evaluated. logEvery 4
    // and checkpointEvery 20 put no checkpoint at step 10: the first rung has one because the trial asks for it.
    const { result, byKey } = await plantedSweep(server, 'ashamig', 'mig', { logEvery: 4, fakeStepMs: 50 }, 1);
    t.is(result.state, 'completed');
    for (const key of good) {
      const s = byKey.get(key);
      t.is(s?.state, 'completed', `${key}: ${s?.stopped ?? s?.error ?? ''}`);
      t.deepEqual(s?.rungs, { '10': 0.01, '20': 0.01, '40': 0.01, '80': 0.01 }, 'every rung it reached is recorded');
      t.is(s?.metrics.mig, 0.01, 'the final evaluation as before');
      t.is(s?.metrics.sap, 1, 'the final evaluation is of the last checkpoint (step 100)');
    }
    for (const key of bad) {
      const s = byKey.get(key);
      t.is(s?.state, 'stopped', `${key}: ${s?.error ?? ''}`);
      t.regex(s?.stopped ?? '', /^ASHA rung 10 \(step 10\): mig 0\.001 is outside the top [12] of [234] recorded there \(cutoff 0\.01, higher is better, eta 2\)$/);
      t.deepEqual(Object.keys(s?.rungs ?? {}), ['10']);
      const steps = (await trainedSteps(runRoot, 'ashamig', key)).map((x) => x.step);
      t.true(Math.max(...steps) < 100, `${key} trained to ${Math.max(...steps)}`);
      t.deepEqual(await stillAliveAfter(await replicaPids(runRoot, 'ashamig', key), 10_000), []);
    }

    // MLflow: eval/<metric> at each rung's step, from that step's checkpoint, and the final evaluation at the last
    // step (so it stays the run's latest value); a stopped trial has its first rung's and no final evaluation.
    const client = new MlflowClient({ trackingUri: mlflow.uri });
    try {
      const runs = await client.searchRuns({ experimentIds: [result.experimentId as string], filter: `tags.mlflow.parentRunId = '${result.parentRunId}'` });
      const history = async (key: string, metric: string): Promise<number[][]> => {
        const run = runs.find((r) => r.data.tags['dcign.trial'] === key);
        return (await client.getMetricHistory(run?.info.runId as string, metric)).map((p) => [p.step, p.value]).sort((a, b) => (a[0] as number) - (b[0] as number));
      };
      for (const key of good) {
        t.deepEqual(await history(key, 'eval/mig'), [[10, 0.01], [20, 0.01], [40, 0.01], [80, 0.01], [100, 0.01]], key);
        t.deepEqual(await history(key, 'eval/sap'), [[10, 0.1], [20, 0.2], [40, 0.4], [80, 0.8], [100, 1]], key);
        t.is(runs.find((r) => r.data.tags['dcign.trial'] === key)?.data.metrics['eval/mig']?.value, 0.01);
      }
      for (const key of bad) {
        const run = runs.find((r) => r.data.tags['dcign.trial'] === key);
        t.is(run?.info.status, 'KILLED', key);
        t.deepEqual((await history(key, 'eval/mig')).slice(0, 1), [[10, 0.001]], key);
        t.true((await history(key, 'eval/sap')).every(([step]) => (step as number) < 100), `${key}: no final evaluation`);
      }
    } finally {
      client.close();
    }
    // Deterministic: rung evaluations racing training, a stop cancelling one, replay as recorded.
    for (const key of [...good, ...bad]) await replays(t, trialWorkflowId('ashamig', key));
    await replays(t, sweepWorkflowId('ashamig'));
  });

  test.serial('a stop decided after the last step still stops the trial: the outcome follows the recorded values, not the race', async (t) => {
    const { server, mlflow } = t.context;
    // Each rung evaluation takes 3 s and training 20 steps about 0.2 s: both trials have trained to their end before
    // their rung 10 is judged. One at a time, in spec order: the good one records first and is promoted; the planted
    // one (mig ten times worse) loses at rung 10 and must end stopped, unevaluated, its run KILLED, as it would have
    // had its evaluation been quick.
    const spec = smallSpec('ashalate', QUEUE, {
      train: { steps: 20, fakeStepMs: 10, logEvery: 2, checkpointEvery: 10 },
      search: { grid: { 'train.fakeLossScale': [1, 10], 'train.fakeEvalDelayMs': [3000] }, seeds: [0] },
      replicas: 1,
      maxConcurrentTrials: 1,
      objective: 'mig',
      earlyStopping: { asha: { minSteps: 10, eta: 2 } },
    });
    const result = await (await startSweep(server.client, spec)).result();
    const [first, second] = result.trials;
    t.is(first?.state, 'completed', `${first?.key}: ${first?.stopped ?? first?.error ?? ''}`);
    t.is(first?.metrics.mig, 0.01, 'the promoted trial is evaluated at its end');
    t.is(second?.state, 'stopped', `${second?.key}: ${second?.error ?? ''}`);
    t.is(second?.step, 20, 'it had trained to its end before the decision');
    t.regex(second?.stopped ?? '', /^ASHA rung 10 \(step 10\): mig 0\.001 is outside the top 1 of 2 recorded there \(cutoff 0\.01, higher is better, eta 2\)$/);
    t.deepEqual(second?.metrics, {}, 'a stopped trial is not evaluated');
    const tr: TrialResult = await server.client.workflow.getHandle(trialWorkflowId('ashalate', second?.key as string)).result();
    t.is(tr.state, 'stopped');
    const client = new MlflowClient({ trackingUri: mlflow.uri });
    try {
      const run = await client.getRun(second?.mlflowRunId as string);
      t.is(run.info.status, 'KILLED');
      t.is(run.data.tags['dcign.stopped'], second?.stopped);
    } finally {
      client.close();
    }
    for (const key of [first?.key, second?.key]) await replays(t, trialWorkflowId('ashalate', key as string));
    await replays(t, sweepWorkflowId('ashalate'));
  });

  test.serial('a rung evaluation that fails does not fail its trial: that rung is skipped, the others are judged', async (t) => {
    const { server } = t.context;
    // The fake evaluator fails on the checkpoint of step 20 (every attempt): rung 20 goes unjudged.
    const spec = smallSpec('ashamigfail', QUEUE, {
      train: { steps: 100, fakeStepMs: 20, logEvery: 4, checkpointEvery: 20 },
      search: { grid: { 'train.fakeEvalFail': [20] }, seeds: [0] },
      replicas: 1,
      objective: 'mig',
      earlyStopping: { asha: { minSteps: 10, eta: 2 } },
    });
    const result = await (await startSweep(server.client, spec)).result();
    const s = result.trials[0];
    t.is(s?.state, 'completed', `${s?.stopped ?? s?.error ?? ''}`);
    t.deepEqual(s?.rungs, { '10': 0.01, '40': 0.01, '80': 0.01 });
    t.is(s?.metrics.mig, 0.01);
    await replays(t, trialWorkflowId('ashamigfail', s?.key as string));
  });

  test.serial('a trial whose npz file its worker host lacks fails at once, naming the file and the host, without a restart', async (t) => {
    const { server, runRoot } = t.context;
    const file = '/nonexistent/dcign-early-stopping-test/dsprites.npz';
    const spec = smallSpec('npzmissing', QUEUE, { dataset: `npz:${file}`, search: { grid: { beta: [1] }, seeds: [0] }, replicas: 1, retry: { maxGroupRestarts: 3 } });
    const result = await (await startSweep(server.client, spec)).result();
    const trial = result.trials[0];
    t.is(trial?.state, 'failed');
    t.is(trial?.generation, 0, 'no group restart');
    const host = hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    t.regex(trial?.error ?? '', new RegExp(`dataset file ${file} \\(from 'npz:${file}'\\) does not exist on worker host ${host} \\(127\\.0\\.0\\.1\\); copy it to the same path on every worker host`));
    t.deepEqual(await replicaPids(runRoot, 'npzmissing', 'beta=1,seed=0'), [], 'no replica process was started');
  });
}
