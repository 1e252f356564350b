// search.pbt against the real Temporal dev server, a real MLflow server and the real trainer (the replica child:
// native TensorFlow): a population of 3 tiny beta-VAEs, 2 generations, ranked on the held-out ELBO of each
// generation's last step. Asserted from MLflow: each member's lineage (tags, pbt/* metrics at the step they took
// effect), its loss history exactly once though an exploiting member continued from a donor's checkpoint, and the
// copy of that checkpoint in the member's own run. Then a worker (a real `dcign worker` process) SIGKILLed inside the
// exploit step, after the copy and before the member resumed: the copy is found whole on the retry and not made
// again, the lineage is intact, and no metric step is logged twice.
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';

import anyTest from 'ava';
import type { ExecutionContext, TestFn } from 'ava';
import { defaultPayloadConverter } from '@temporalio/common';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';

import { buildReport } from '../../src/report/build.js';
import { startSweep } from '../../src/sweep/control.js';
import { trialWorkflowId } from '../../src/contract/index.js';
import type { PbtMember, SweepProgress } from '../../src/contract/types.js';
import { MlflowClient } from '../../src/tracking/index.js';
import { REPLICA_CHILD_PATH } from '../../workers/worker.js';
import { testMlflowServer, type MlflowServer } from '../helpers/mlflow.js';
import { startTemporal, temporalAvailable, type TemporalTestServer } from '../helpers/temporal.js';
import { alive, bundle, smallSpec, startWorker, stillAliveAfter, tempDir, waitFor } from '../helpers/sweep-fixture.js';
import type { RunningWorker } from '../helpers/sweep-fixture.js';
import { spawnCliWorker } from '../helpers/cli-worker.js';

interface Ctx {
  server: TemporalTestServer;
  mlflow: MlflowServer;
  code: WorkflowBundleWithSourceMap;
  runRoot: string;
}
const test = anyTest as TestFn<Ctx>;
const CLI = path.resolve('dist/src/cli/main.js');
const FACTORS = [0.5, 2];

/** 3 members x 2 generations of 4 real steps; quantile 0.34 of 3: the worst copies the best at step 4. */
function pbtSpec(name: string, queue: string, heartbeatTimeoutSeconds = 60) {
  return smallSpec(name, queue, {
    model: { variant: 'beta-vae', imageSize: 32, latentSize: 4, beta: 4 },
    train: { steps: 8, batchSize: 8, learningRate: 0.002, logEvery: 2, checkpointEvery: 4, evalBatches: 1, evalBatchSize: 8 },
    search: { grid: undefined, seeds: [0], pbt: { population: 3, interval: 4, quantile: 0.34, perturb: { beta: FACTORS, learningRate: FACTORS }, fitness: 'elbo', seed: 1 } },
    replicas: 1,
    maxConcurrentTrials: 3,
    evaluation: { enabled: false },
    retry: { maxGroupRestarts: 1, heartbeatTimeoutSeconds, activityMaxAttempts: 3 },
  });
}

/** Every step MLflow holds for `key` in the run (REST get-history; duplicates kept), sorted. */
async function steps(client: MlflowClient, runId: string, key: string): Promise<number[]> {
  return (await client.getMetricHistory(runId, key)).map((p) => p.step).sort((a, b) => a - b);
}

async function valueAt(client: MlflowClient, runId: string, key: string, step: number): Promise<number | undefined> {
  return (await client.getMetricHistory(runId, key)).find((p) => p.step === step)?.value;
}

/**
 * What every PBT run must show, whatever else happened: one exploit at step 4 (the worst member by its recorded
 * fitness copying the best), perturbed hyperparameters that took effect, and in MLflow each member's history once.
 */
async function checkPopulation(t: ExecutionContext<Ctx>, name: string, result: SweepProgress): Promise<{ member: PbtMember; donor: PbtMember; runId: string }> {
  const { mlflow } = t.context;
  const client = new MlflowClient({ trackingUri: mlflow.uri });
  t.is(result.state, 'completed');
  for (const trial of result.trials) t.is(trial.state, 'completed', `${trial.key}: ${trial.error ?? ''}`);
  const pbt = result.pbt;
  if (!pbt) throw new Error('no pbt state in the result');
  t.is(pbt.generation, 2);
  t.deepEqual(pbt.members.map((m) => m.lineage.map((g) => [g.generation, g.step])), [0, 1, 2].map(() => [[0, 0], [1, 4]]));
  const fit0 = pbt.members.map((m) => m.lineage[0]?.fitness as number);
  t.true(fit0.every((f) => Number.isFinite(f) && f < 0), `held-out ELBO of generation 0: ${fit0.join(', ')}`);
  const exploited = pbt.members.filter((m) => m.lineage[1]?.parent !== m.member);
  t.is(exploited.length, 1, JSON.stringify(pbt.members));
  const member = exploited[0] as PbtMember;
  const donor = pbt.members[member.lineage[1]?.parent as number] as PbtMember;
  t.is(fit0[member.member], Math.min(...fit0), 'the worst member exploits');
  t.is(fit0[donor.member], Math.max(...fit0), 'the best member donates');
  const before = donor.lineage[0]?.hyperparameters ?? {};
  const after = member.lineage[1]?.hyperparameters ?? {};
  for (const k of ['beta', 'learningRate']) {
    const ratio = (after[k] as number) / (before[k] as number);
    t.true(FACTORS.some((f) => Math.abs(ratio - f) < 1e-9), `${k}: ${before[k]} -> ${after[k]}`);
  }

  const experiment = await client.getExperimentByName(name);
  const runs = (await client.searchRuns({ experimentIds: [experiment?.experimentId ?? ''] })).filter((r) => r.data.tags['pbt.member'] !== undefined);
  t.is(runs.length, 3);
  let memberRun = '';
  for (const m of pbt.members) {
    const run = runs.find((r) => r.data.tags['pbt.member'] === String(m.member));
    const runId = run?.info.runId ?? '';
    if (m === member) memberRun = runId;
    const parent = pbt.members[m.lineage[1]?.parent as number] as PbtMember;
    t.like(run?.data.tags, { 'dcign.trial': m.key, 'pbt.generation': '1', 'pbt.parent': parent.key });
    // one run per member, every logged step of its loss exactly once: the exploiting one continued at step 5 in its
    // own run; the donor's steps 1-4 were not copied into it
    t.deepEqual(await steps(client, runId, 'loss'), [2, 4, 6, 8], `${m.key}: loss steps`);
    t.deepEqual(await steps(client, runId, 'pbt/generation'), [0, 4], `${m.key}: pbt/generation steps`);
    t.deepEqual(await steps(client, runId, 'pbt/fitness'), [4, 8], `${m.key}: pbt/fitness steps`);
    t.is(await valueAt(client, runId, 'pbt/generation', 4), 1);
    t.is(await valueAt(client, runId, 'pbt/parent', 4), parent.member);
    t.is(await valueAt(client, runId, 'pbt/learningRate', 4), m.lineage[1]?.hyperparameters.learningRate);
    t.is(await valueAt(client, runId, 'pbt/fitness', 4), m.lineage[0]?.fitness);
    // the hyperparameters of generation 1 are what trained steps 5-8 (the final checkpoint's own config)
    const config = JSON.parse((await client.readArtifact(runId, 'checkpoints/step-00000008/config.json')).toString('utf8')) as { learningRate?: number; model?: { beta?: number } };
    t.is(config.learningRate, m.lineage[1]?.hyperparameters.learningRate);
    t.is(config.model?.beta, m.lineage[1]?.hyperparameters.beta);
  }

  // the exploit's copy: one folder in the member's run, the donor's step-4 weights and optimiser state byte for byte,
  // with the member's own sampler seed (it keeps drawing its own batches)
  const copy = `pbt/member-${member.member}-g0001`;
  t.is(member.lineage[1]?.copied, `runs:/${memberRun}/${copy}`);
  t.deepEqual((await client.listArtifacts(memberRun, 'pbt')).map((a) => a.path), [copy]);
  const donorRun = runs.find((r) => r.data.tags['pbt.member'] === String(donor.member))?.info.runId ?? '';
  const files = async (runId: string, dir: string): Promise<Record<string, string>> => {
    const m = JSON.parse((await client.readArtifact(runId, `${dir}/MANIFEST.json`)).toString('utf8')) as { step: number; files: { name: string; sha256: string }[] };
    t.is(m.step, 4);
    return Object.fromEntries(m.files.map((f) => [f.name, f.sha256]));
  };
  const [copied, donated] = [await files(memberRun, copy), await files(donorRun, 'checkpoints/step-00000004')];
  for (const f of ['params.bin', 'adam-m.bin', 'adam-v.bin']) t.is(copied[f], donated[f], f);
  const state = JSON.parse((await client.readArtifact(memberRun, `${copy}/state.json`)).toString('utf8')) as { step: number; sampler: { seed: number; step: number } };
  const donorState = JSON.parse((await client.readArtifact(donorRun, 'checkpoints/step-00000004/state.json')).toString('utf8')) as typeof state;
  t.deepEqual(state, { ...donorState, sampler: { ...donorState.sampler, seed: result.trials.find((x) => x.key === member.key)?.seed as number } });
  return { member, donor, runId: memberRun };
}

/** The checkpoint the member's generation-1 trial workflow handed its replica (decoded from its history). */
async function resumedFrom(server: TemporalTestServer, name: string, key: string): Promise<string | undefined> {
  const history = await server.client.workflow.getHandle(trialWorkflowId(name, key)).fetchHistory();
  for (const e of history.events ?? []) {
    const a = e.activityTaskScheduledEventAttributes;
    if (a?.activityType?.name !== 'trainReplica') continue;
    const [input] = (a.input?.payloads ?? []).map((p) => defaultPayloadConverter.fromPayload<{ resumeFrom?: { uri: string } }>(p));
    return input?.resumeFrom?.uri;
  }
  return undefined;
}

function cliWorker(o: { address: string; queue: string; runRoot: string; mlflowUri: string; fault: Record<string, string> }): { proc: ChildProcess; ready: Promise<void> } {
  const args = ['--task-queue', o.queue, '--slots', '3', '--address', o.address, '--run-root', o.runRoot, '--advertise-host', '127.0.0.1'];
  return spawnCliWorker(args, { MLFLOW_TRACKING_URI: o.mlflowUri, ...o.fault });
}

if (!temporalAvailable() || !existsSync(REPLICA_CHILD_PATH) || !existsSync(CLI)) {
  test('temporal binary, the CLI and the replica child are built', (t) => t.fail(`need ${CLI}, ${REPLICA_CHILD_PATH} and the Temporal CLI`));
} else {
  test.before(async (t) => {
    const [server, mlflow, code, runRoot] = await Promise.all([startTemporal(), testMlflowServer(), bundle(), tempDir('pbt')]);
    t.context = { server, mlflow, code, runRoot };
  });
  test.after.always(async (t) => {
    await t.context.server?.stop();
    await t.context.mlflow?.dispose();
  });

  test.serial('PBT of 3 real members over 2 generations: lineage and exactly-once loss history in MLflow', async (t) => {
    const { server, mlflow, code, runRoot } = t.context;
    const name = 'pbt-tiny';
    const worker: RunningWorker = await startWorker({ taskQueue: name, address: server.address, slots: 3, runRoot, code, mlflowUri: mlflow.uri, replicaCommand: [process.execPath, REPLICA_CHILD_PATH] });
    try {
      const result = await (await startSweep(server.client, pbtSpec(name, name))).result();
      const { member } = await checkPopulation(t, name, result);
      t.log(JSON.stringify(result.pbt?.members.map((m) => m.lineage.map((g) => ({ g: g.generation, parent: g.parent, ...g.hyperparameters, fitness: g.fitness })))));
      t.true(member.lineage[1]?.fresh, 'the copy was made by the one attempt');
      t.is(await resumedFrom(server, name, member.key), member.lineage[1]?.copied, 'the member resumed from the copy of the donor');
      // the report reads the lineage back from MLflow alone and draws it
      const report = await buildReport(new MlflowClient({ trackingUri: mlflow.uri }), { sweep: name, trackingUri: mlflow.uri, out: await tempDir('pbt-report'), upload: false });
      t.true(report.files.some((f) => f.endsWith(path.join('figures', 'pbt-lineage.png'))), report.files.join(', '));
      t.true(readFileSync(report.html, 'utf8').includes('id="lineage"'));
      const fromMlflow = report.data.trials.map((x) => x.pbt).sort((a, b) => (a?.member ?? 0) - (b?.member ?? 0));
      t.deepEqual(
        fromMlflow,
        (result.pbt?.members ?? []).map((m) => ({ member: m.member, generations: m.lineage.map((g) => ({ generation: g.generation, step: g.step, parent: g.parent, hyperparameters: g.hyperparameters, fitness: g.fitness })) })),
      );
    } finally {
      await worker.stop();
    }
  });

  test.serial('a worker SIGKILLed in the exploit step, copy made and member not resumed: copy not made twice, lineage intact, no metric step twice', async (t) => {
    const { server, mlflow, code, runRoot } = t.context;
    const name = 'pbt-kill';
    const faultFile = path.join(runRoot, `${name}.fault`);
    rmSync(faultFile, { force: true });
    const a = cliWorker({ address: server.address, queue: name, runRoot: `${runRoot}-a`, mlflowUri: mlflow.uri, fault: { DCIGN_FAULT_POINT: 'pbt-copied', DCIGN_FAULT_FILE: faultFile } });
    await a.ready;
    let b: RunningWorker | undefined;
    try {
      const handle = await startSweep(server.client, pbtSpec(name, name, 8));
      const fired = await waitFor('the worker to freeze after the exploit copy', () => (existsSync(faultFile) ? (JSON.parse(readFileSync(faultFile, 'utf8')) as { step: number; pid: number }) : undefined), 300_000, 100);
      t.is(fired.step, 4);
      t.is(fired.pid, a.proc.pid as number);
      a.proc.kill('SIGKILL');
      await waitFor('worker A to be gone', () => (alive(a.proc.pid as number) ? undefined : true), 30_000);
      b = await startWorker({ taskQueue: name, address: server.address, slots: 3, runRoot: `${runRoot}-b`, code, mlflowUri: mlflow.uri, replicaCommand: [process.execPath, REPLICA_CHILD_PATH] });
      const result = await handle.result();
      const { member } = await checkPopulation(t, name, result);
      t.false(member.lineage[1]?.fresh, 'the retried copy found the whole copy there and made none');
      t.is(await resumedFrom(server, name, member.key), member.lineage[1]?.copied);
    } finally {
      await b?.stop();
      a.proc.kill('SIGKILL');
      t.deepEqual(await stillAliveAfter(a.proc.pid === undefined ? [] : [a.proc.pid], 30_000), []);
    }
  });
}
