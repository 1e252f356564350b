// The soak's checks must be able to fail: against a real MLflow server, a clean trial run holds every invariant, and
// planted faults (a step logged twice, a step missing, a completed trial short of train.steps, a checkpoint past the
// last logged step) are each reported; a port still bound and a process still alive are reported too.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

import anyTest, { type TestFn } from 'ava';

import type { SweepProgress } from '../../src/contract/types.js';
import { CheckpointStore } from '../../src/tracking/checkpoint-store.js';
import { MlflowClient } from '../../src/tracking/index.js';
import { testMlflowServer, type MlflowServer } from '../helpers/mlflow.js';
import { metricsAndCheckpoints, noLeakedPorts } from './invariants.js';
import { processesMatching } from './stack.js';
import { sweepSpec, type SweepRecord } from './sweeps.js';

const test = anyTest as TestFn<{ mlflow: MlflowServer; client: MlflowClient }>;

test.before(async (t) => {
  const mlflow = await testMlflowServer();
  t.context = { mlflow, client: new MlflowClient({ trackingUri: mlflow.uri }) };
});
test.after.always(async (t) => {
  t.context.client?.close();
  await t.context.mlflow?.dispose();
});

const spec = sweepSpec({ seed: 0, taskQueue: 'q', steps: 40, logEvery: 5, checkpointEvery: 20, heartbeatSeconds: 40 }, 0);

/** A trial run with `loss` and `kl` at the given steps and, if given, a complete checkpoint stored at `ckpt`. */
async function trialRun(client: MlflowClient, name: string, steps: number[], ckpt?: number): Promise<string> {
  const experimentId = await client.getOrCreateExperiment(`soak-invariants-${name}-${Date.now()}`);
  const run = await client.createRun({ experimentId, runName: name });
  const runId = run.info.runId;
  // values differ per point, so a step logged twice is two points to the server (a recomputation, say)
  for (const [i, s] of steps.entries()) await client.logMetrics(runId, { loss: 100 - s + i / 100, kl: s / 10 + i / 100 }, s);
  if (ckpt !== undefined) {
    const dir = mkdtempSync(path.join(tmpdir(), 'dcign-soak-ckpt-'));
    writeFileSync(path.join(dir, 'state.json'), JSON.stringify({ step: ckpt }));
    await new CheckpointStore(client, runId).upload(dir, ckpt);
  }
  return runId;
}

function record(trials: { key: string; runId: string; state: 'completed' | 'stopped' | 'failed' }[]): SweepRecord {
  const result = { name: spec.name, state: 'completed', maxConcurrentTrials: 2, continuedAsNew: 0, trials: trials.map((x) => ({ key: x.key, params: {}, seed: 0, state: x.state, step: 0, generation: 0, losses: {}, metrics: {}, mlflowRunId: x.runId })) } as SweepProgress;
  return { spec, startedAt: 0, result };
}

test.serial('a clean completed trial and a trial stopped early hold every metric and checkpoint invariant', async (t) => {
  const { client, mlflow } = t.context;
  const done = await trialRun(client, 'clean', [5, 10, 15, 20, 25, 30, 35, 40], 40);
  const stopped = await trialRun(client, 'stopped', [5, 10, 15, 20], 20);
  const m = await metricsAndCheckpoints(mlflow.uri, [record([{ key: 'a', runId: done, state: 'completed' }, { key: 'b', runId: stopped, state: 'stopped' }])]);
  t.deepEqual(m.once.violations, []);
  t.is(m.once.checked, 4, 'two keys in each of two runs');
  t.deepEqual(m.checkpoints.violations, []);
});

test.serial('a step twice, a step missing, a completed trial short of train.steps and a checkpoint past the last logged step are each reported', async (t) => {
  const { client, mlflow } = t.context;
  const runId = await trialRun(client, 'planted', [5, 10, 10, 20, 25, 30, 35], 40);
  const m = await metricsAndCheckpoints(mlflow.uri, [record([{ key: 'p', runId, state: 'completed' }])]);
  const once = m.once.violations.join('\n');
  t.regex(once, /p \(run \w+\) loss: step 10 x2/);
  t.regex(once, /p \(run \w+\) kl: step 10 x2/);
  t.regex(once, /loss: missing step 15 of 7 up to 35/);
  const ck = m.checkpoints.violations.join('\n');
  t.regex(ck, /newest stored checkpoint step 40 > last logged step 35/);
  t.regex(ck, /completed, but its last logged step is 35, not train.steps 40/);
});

test.serial('a port still bound and a process still alive are found', async (t) => {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  t.deepEqual((await noLeakedPorts([{ port, what: 'planted' }], [])).violations, [`planted port ${port} still bound`]);
  await new Promise((r) => srv.close(r));
  t.deepEqual((await noLeakedPorts([{ port, what: 'planted' }], [])).violations, []);
  const marker = `dcign-soak-marker-${process.pid}`;
  // A process whose command line names the marker (GNU sleep refuses an extra operand and exits at once).
  const p = spawn(process.execPath, ['-e', 'setTimeout(() => undefined, 30000)', marker], { stdio: 'ignore' });
  try {
    // until it has exec'd (a loaded machine takes a while)
    const until = Date.now() + 20_000;
    while (processesMatching((c) => c.includes(marker)).length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    t.deepEqual(processesMatching((c) => c.includes(marker)), [p.pid]);
  } finally {
    p.kill('SIGKILL');
  }
});
