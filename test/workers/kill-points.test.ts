// Real replicas (src/train/replica-child.ts under a real `dcign worker` process, native TensorFlow, ZeroMQ ring, real
// Temporal and MLflow) SIGKILLed at a point the test chooses (src/fault/point.ts freezes the process there and names
// itself in a file; the test then kills it):
//   - losses-released: the worker holding rank 0, right after the workflow accepted checkpoint 20 and before the
//     losses it released reached MLflow (the gap the checkpoint's carried losses close);
//   - checkpoint-upload: the worker holding rank 0 with every file of checkpoint 20 stored but its manifest;
//   - after-allreduce: a replica between the all-reduce and the optimizer update of step 25 (its worker lives on).
// Each time MLflow's own record of the run (metrics/get-history, REST) must hold every logged step exactly once.
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';

import anyTest from 'ava';
import type { ExecutionContext, TestFn } from 'ava';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';

import { trialProgressQuery, trialWorkflowId } from '../../src/contract/index.js';
import { startSweep } from '../../src/sweep/control.js';
import { MlflowClient } from '../../src/tracking/index.js';
import { REPLICA_CHILD_PATH } from '../../workers/worker.js';
import { testMlflowServer, type MlflowServer } from '../helpers/mlflow.js';
import { startTemporal, temporalAvailable, type TemporalTestServer } from '../helpers/temporal.js';
import { alive, bundle, smallSpec, startWorker, stillAliveAfter, tempDir, waitFor } from '../helpers/sweep-fixture.js';
import { spawnCliWorker } from '../helpers/cli-worker.js';

interface Ctx {
  server: TemporalTestServer;
  mlflow: MlflowServer;
  code: WorkflowBundleWithSourceMap;
  runRoot: string;
}
const test = anyTest as TestFn<Ctx>;
const CLI = path.resolve('dist/src/cli/main.js');
const STEPS = 40;
const LOG_STEPS = Array.from({ length: STEPS / 2 }, (_, i) => 2 * (i + 1)); // logEvery 2

interface Fired {
  point: string;
  step: number;
  pid: number;
}

function cliWorker(o: { address: string; queue: string; runRoot: string; mlflowUri: string; fault: Record<string, string> }): { proc: ChildProcess; ready: Promise<void> } {
  const args = ['--task-queue', o.queue, '--slots', '2', '--address', o.address, '--run-root', o.runRoot, '--advertise-host', '127.0.0.1'];
  return spawnCliWorker(args, { MLFLOW_TRACKING_URI: o.mlflowUri, ...o.fault });
}

/** Every point of `key` in the run, as MLflow's REST API returns them (steps sorted; duplicates kept). */
async function history(mlflow: MlflowServer, runId: string, key: string): Promise<number[]> {
  const res = await fetch(`${mlflow.uri}/api/2.0/mlflow/metrics/get-history?run_id=${runId}&metric_key=${encodeURIComponent(key)}`);
  const j = (await res.json()) as { metrics?: { step?: string | number }[] };
  return (j.metrics ?? []).map((m) => Number(m.step ?? 0)).sort((a, b) => a - b);
}

if (!temporalAvailable() || !existsSync(REPLICA_CHILD_PATH) || !existsSync(CLI)) {
  test('temporal binary, the CLI and the replica child are built', (t) => t.fail(`need ${CLI}, ${REPLICA_CHILD_PATH} and the Temporal CLI`));
} else {
  test.before(async (t) => {
    const [server, mlflow, code, runRoot] = await Promise.all([startTemporal(), testMlflowServer(), bundle(), tempDir('kill-points')]);
    t.context = { server, mlflow, code, runRoot };
  });
  test.after.always(async (t) => {
    await t.context.server?.stop();
    await t.context.mlflow?.dispose();
  });

  /**
   * One 2-replica trial of STEPS real steps (checkpoints every 10) on worker A, whose processes freeze at `point` at
   * step >= `step`; `victim` says what is SIGKILLed then: the frozen process alone, or worker A with its replicas (the
   * host). A second worker, without the fault, finishes the trial. Returns what fired, the run and the MLflow
   * history of `loss` right after the kill.
   */
  async function killAt(t: ExecutionContext<Ctx>, name: string, point: string, step: number, victim: 'process' | 'host') {
    const { server, mlflow, code, runRoot } = t.context;
    const queue = `kp-${name}`;
    const key = 'beta=1,seed=0';
    const faultFile = path.join(runRoot, `${name}.fault`);
    rmSync(faultFile, { force: true });
    const a = cliWorker({ address: server.address, queue, runRoot, mlflowUri: mlflow.uri, fault: { DCIGN_FAULT_POINT: point, DCIGN_FAULT_STEP: String(step), DCIGN_FAULT_FILE: faultFile } });
    await a.ready;
    const spec = smallSpec(name, queue, {
      train: { steps: STEPS, batchSize: 8, logEvery: 2, checkpointEvery: 10, evalBatches: 0 },
      search: { grid: { beta: [1] }, seeds: [0] },
      evaluation: { enabled: false },
      retry: { maxGroupRestarts: 3, heartbeatTimeoutSeconds: 15, activityMaxAttempts: 1 },
    });
    const handle = await startSweep(server.client, spec);
    const trial = server.client.workflow.getHandle(trialWorkflowId(name, key));
    const fired = await waitFor(`a process to freeze at ${point}`, () => (existsSync(faultFile) ? (JSON.parse(readFileSync(faultFile, 'utf8')) as Fired) : undefined), 240_000, 100);
    const client = new MlflowClient({ trackingUri: mlflow.uri });
    const experiment = await client.getExperimentByName(name);
    const [run] = await client.searchRuns({ experimentIds: [experiment?.experimentId ?? ''], filter: `tags.\`dcign.trial\` = '${key}'` });
    const runId = run?.info.runId ?? '';
    if (victim === 'host') a.proc.kill('SIGKILL');
    else process.kill(fired.pid, 'SIGKILL');
    const atKill = await history(mlflow, runId, 'loss');
    let b: Awaited<ReturnType<typeof startWorker>> | undefined;
    if (victim === 'host') {
      // the host's replicas follow it (their stdin closes); then another worker takes the trial
      await waitFor('worker A to be gone', () => (alive(a.proc.pid as number) ? undefined : true), 30_000);
      b = await startWorker({ taskQueue: queue, address: server.address, slots: 2, runRoot: `${runRoot}-b`, code, mlflowUri: mlflow.uri, replicaCommand: [process.execPath, REPLICA_CHILD_PATH] });
    }
    try {
      const result = await handle.result();
      const progress = await trial.query(trialProgressQuery);
      return { fired, runId, atKill, result, progress };
    } finally {
      await b?.stop();
      a.proc.kill('SIGKILL');
      t.deepEqual(await stillAliveAfter(a.proc.pid === undefined ? [] : [a.proc.pid], 30_000), []);
    }
  }

  test.serial('worker SIGKILLed after a checkpoint (step >= 20) was accepted, before its losses reached MLflow: none lost, none twice', async (t) => {
    const r = await killAt(t, 'released', 'losses-released', 20, 'host');
    // the first checkpoint at or after 20 that the workflow accepted (the uploader skips one a newer supersedes)
    t.is(r.fired.point, 'losses-released');
    t.true(r.fired.step >= 20 && r.fired.step % 10 === 0, JSON.stringify(r.fired));
    // the gap is real: at the kill, MLflow lacked the steps that checkpoint had released
    t.false(r.atKill.includes(r.fired.step), `MLflow already had step ${r.fired.step} at the kill: ${r.atKill.join(',')}`);
    t.is(r.result.trials[0]?.state, 'completed', r.result.trials[0]?.error);
    t.is(r.progress.restarts[0]?.resumeStep, r.fired.step, JSON.stringify(r.progress.restarts));
    t.deepEqual(await history(t.context.mlflow, r.runId, 'loss'), LOG_STEPS, 'every logged step exactly once in MLflow');
    t.deepEqual(await history(t.context.mlflow, r.runId, 'kl'), LOG_STEPS);
  });

  test.serial('worker SIGKILLed during the upload of checkpoint 20 (files stored, manifest not): resumes from 10, every step once', async (t) => {
    const r = await killAt(t, 'upload', 'checkpoint-upload', 20, 'host');
    t.like(r.fired, { point: 'checkpoint-upload', step: 20 });
    t.is(r.result.trials[0]?.state, 'completed', r.result.trials[0]?.error);
    t.is(r.progress.restarts[0]?.resumeStep, 10, JSON.stringify(r.progress.restarts));
    t.deepEqual(await history(t.context.mlflow, r.runId, 'loss'), LOG_STEPS, 'every logged step exactly once in MLflow');
  });

  test.serial('a replica SIGKILLed between the all-reduce and the update of step 25: the group restarts from its last accepted checkpoint, every step once', async (t) => {
    const r = await killAt(t, 'allreduce', 'after-allreduce', 25, 'process');
    t.like(r.fired, { point: 'after-allreduce', step: 25 });
    t.is(r.result.trials[0]?.state, 'completed', r.result.trials[0]?.error);
    // the last checkpoint accepted before step 25: 20, or 10 when 20's upload had not finished at the kill
    t.true([10, 20].includes(r.progress.restarts[0]?.resumeStep ?? -1), JSON.stringify(r.progress.restarts));
    t.deepEqual(await history(t.context.mlflow, r.runId, 'loss'), LOG_STEPS, 'every logged step exactly once in MLflow');
  });
}
