// `npm run demo`'s happy path as a user runs it: `dcign demo` as a process brings the embedded stack up (real Temporal
// dev server and MLflow) on ports of its own, starts a local worker, runs the smoke sweep (sweeps/smoke.yaml, made
// small: one trial of 2 replicas, a few steps, a small evaluation) to completion and prints the results and the UI
// links; the servers' own records then say the sweep completed and the trial's run holds its losses and metrics, and
// `dcign dev down` leaves no server, worker or port behind.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { Client, Connection } from '@temporalio/client';
import test from 'ava';
import { parse, stringify } from 'yaml';

import { sweepWorkflowId } from '../../src/contract/index.js';
import { pickFreePorts } from '../../src/parallel/rendezvous.js';
import { portIsFree } from '../../src/stack/ports.js';
import { projectRoot } from '../../src/stack/paths.js';
import { localWorkers } from '../../src/stack/workers.js';
import { MlflowClient } from '../../src/tracking/index.js';

const run = promisify(execFile);
const CLI = path.join(projectRoot, 'dist/src/cli/main.js');

test('`dcign demo` runs the smoke sweep end to end on its own ports; the servers record it; `dev down` leaves nothing', async (t) => {
  t.timeout(20 * 60_000);
  const dir = await mkdtemp(path.join(tmpdir(), 'dcign-demo-test-'));
  const [temporalPort, uiPort, mlflowPort] = (await pickFreePorts(3)) as [number, number, number];
  const stackFlags = ['--state-dir', dir, '--temporal-port', String(temporalPort), '--temporal-ui-port', String(uiPort), '--mlflow-port', String(mlflowPort)];
  // The shipped smoke spec, shrunk so the test takes a minute or two: same dataset, model, replicas and metrics.
  const smoke = parse(readFileSync(path.join(projectRoot, 'sweeps/smoke.yaml'), 'utf8')) as Record<string, Record<string, unknown>>;
  const spec = {
    ...smoke,
    train: { ...smoke.train, steps: 10, logEvery: 5, checkpointEvery: 5 },
    search: { grid: { beta: [4] }, seeds: [0] },
    evaluation: { ...smoke.evaluation, numTrain: 100, numTest: 50 },
  };
  const specFile = path.join(dir, 'smoke-small.yaml');
  await writeFile(specFile, stringify(spec));
  const env = { ...process.env };
  for (const k of ['TEMPORAL_ADDRESS', 'MLFLOW_TRACKING_URI', 'DCIGN_STATE_DIR']) delete env[k];
  try {
    const { stdout } = await run(process.execPath, [CLI, 'demo', ...stackFlags, '--spec', specFile, '--workers', '1', '--slots', '2'], { env, timeout: 15 * 60_000, maxBuffer: 32 << 20 });
    t.log(stdout.split('\n').filter((l) => l.startsWith('==')).join('\n'));
    t.regex(stdout, /== workers: 1 x 2 training slots on task queue dcign-train/);
    const name = /started sweep '([^']+)': 1 trials x 2 replicas on task queue dcign-train/.exec(stdout)?.[1];
    t.truthy(name, stdout);
    t.regex(name ?? '', /^smoke-\d{8}-\d{6}$/, 'a fresh name per run');
    t.regex(stdout, /^beta=4 +0 +completed /m, 'the results table shows the trial completed');
    t.regex(stdout, new RegExp(`Temporal UI: http://localhost:${uiPort}/namespaces/default/workflows`));
    t.regex(stdout, new RegExp(`MLflow UI: +http://(127\\.0\\.0\\.1|localhost):${mlflowPort}`));

    // What the servers themselves recorded, not what the demo printed.
    const connection = await Connection.connect({ address: `127.0.0.1:${temporalPort}` });
    try {
      const d = await new Client({ connection, namespace: 'default' }).workflow.getHandle(sweepWorkflowId(name as string)).describe();
      t.is(d.status.name, 'COMPLETED');
    } finally {
      await connection.close();
    }
    const mlflow = new MlflowClient({ trackingUri: `http://127.0.0.1:${mlflowPort}` });
    try {
      const exp = await mlflow.getExperimentByName(name as string);
      t.truthy(exp, `MLflow has the experiment ${name}`);
      const runs = await mlflow.searchRuns({ experimentIds: [exp?.experimentId as string] });
      const trials = runs.filter((r) => r.data.tags['mlflow.parentRunId'] !== undefined);
      t.is(trials.length, 1, runs.map((r) => r.info.runName).join(', '));
      const trial = trials[0];
      t.is(trial?.info.status, 'FINISHED');
      const loss = await mlflow.getMetricHistory(trial?.info.runId as string, 'loss');
      t.deepEqual(loss.map((m) => m.step).sort((a, b) => a - b), [5, 10], 'each log step exactly once');
      for (const metric of ['eval/mig', 'eval/sap']) t.true((await mlflow.getMetricHistory(trial?.info.runId as string, metric)).length >= 1, `${metric} logged`);
    } finally {
      mlflow.close();
    }
  } finally {
    const down = await run(process.execPath, [CLI, 'dev', 'down', '--state-dir', dir], { env, timeout: 120_000 }).catch((e: Error) => e);
    t.false(down instanceof Error, `dev down: ${String(down)}`);
    t.deepEqual(localWorkers(dir), [], 'no worker left running');
    for (const p of [temporalPort, uiPort, mlflowPort]) t.true(await portIsFree(p), `port ${p} is free after dev down`);
    await rm(dir, { recursive: true, force: true });
  }
});
