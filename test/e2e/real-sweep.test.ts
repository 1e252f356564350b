// One real sweep end to end, nothing faked: real Temporal and MLflow servers, a dcign worker whose replicas are the real
// replica child (native TensorFlow + ZeroMQ ring), the real evaluation child, real MLflow uploads. Faults are injected
// by killing replica processes once a checkpoint is reported:
//   - trial beta=1: one replica SIGKILLed after a checkpoint; the group restarts from that checkpoint and completes;
//   - trial beta=4: killed in two generations; with retry.maxGroupRestarts=1 it fails for good, and the sweep still
//     completes its other trial.
// A second sweep on the same stack runs sweeps/faces-dcign.yaml, cut to one short trial at 32x32: a DCIGN trial on the
// faces dataset trains and is evaluated through the sweep path.
// Then MLflow is checked: each step exactly once in the completed trial's loss history, evaluation metrics and
// artifacts from the real evaluator, the failed trial's run marked FAILED with its reason.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

import anyTest from 'ava';
import type { TestFn } from 'ava';

import { trialProgressQuery, trialWorkflowId, type TrialProgress } from '../../src/contract/index.js';
import { startSweep } from '../../src/sweep/control.js';
import { loadSweepSpec, validateSweepSpec } from '../../src/sweep/spec.js';
import { projectRoot } from '../../src/stack/paths.js';
import { MlflowClient } from '../../src/tracking/index.js';
import { childEvaluator } from '../../workers/cli.js';
import { REPLICA_CHILD_PATH } from '../../workers/worker.js';
import { testMlflowServer, type MlflowServer } from '../helpers/mlflow.js';
import { startTemporal, temporalAvailable, type TemporalTestServer } from '../helpers/temporal.js';
import { bundle, smallSpec, startWorker, tempDir, waitFor, type RunningWorker } from '../helpers/sweep-fixture.js';

const test = anyTest as TestFn<{ server: TemporalTestServer; mlflow: MlflowServer; worker: RunningWorker; runRoot: string }>;
const QUEUE = 'e2e-real';
const SWEEP = 'e2e-real';
const STEPS = 100;

/** PIDs of the real replica processes of one generation of a trial (their config file path names both). */
function replicaPids(runRoot: string, trialKey: string, generation: number): number[] {
  const marker = path.join(runRoot, SWEEP, trialKey, `replica-g${generation}-r`);
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (cmd.some((a) => a.endsWith('replica-child.js')) && cmd.some((a) => a.startsWith(marker))) pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

async function progressOf(server: TemporalTestServer, key: string): Promise<TrialProgress | undefined> {
  try {
    return await server.client.workflow.getHandle(trialWorkflowId(SWEEP, key)).query(trialProgressQuery);
  } catch {
    return undefined; // not started yet
  }
}

/** Once generation `generation` of the trial has a checkpoint at or after `atLeast`, SIGKILL one of its two replicas. */
async function killAfterCheckpoint(server: TemporalTestServer, runRoot: string, key: string, generation: number, atLeast: number): Promise<number> {
  const ckptStep = await waitFor(
    `${key} generation ${generation} to report a checkpoint at step >= ${atLeast}`,
    async () => {
      const p = await progressOf(server, key);
      return p && p.generation === generation && (p.lastCheckpoint?.step ?? 0) >= atLeast ? p.lastCheckpoint?.step : undefined;
    },
    180_000,
    50,
  );
  const pids = await waitFor(`the replica processes of ${key} generation ${generation}`, () => {
    const found = replicaPids(runRoot, key, generation);
    return found.length === 2 ? found : undefined;
  });
  process.kill(pids[1] as number, 'SIGKILL');
  return ckptStep;
}

if (!temporalAvailable() || !existsSync(REPLICA_CHILD_PATH)) {
  test('temporal binary and the replica child are built', (t) => t.fail(`need ${REPLICA_CHILD_PATH} and the Temporal CLI`));
} else {
  test.before(async (t) => {
    const [server, mlflow, code, runRoot] = await Promise.all([startTemporal(), testMlflowServer(), bundle(), tempDir('e2e')]);
    process.env.MLFLOW_TRACKING_URI = mlflow.uri; // the evaluation child reads it, as on a real worker
    const worker = await startWorker({
      taskQueue: QUEUE,
      address: server.address,
      slots: 4,
      runRoot,
      code,
      mlflowUri: mlflow.uri,
      replicaCommand: [process.execPath, REPLICA_CHILD_PATH],
      evaluate: childEvaluator,
    });
    t.context = { server, mlflow, worker, runRoot };
  });
  test.after.always(async (t) => {
    await t.context.worker?.stop().catch(() => undefined);
    await t.context.server?.stop();
    await t.context.mlflow?.dispose();
  });

  test.serial('a real sweep survives a killed replica, fails a trial whose restarts run out, and lands exactly once in MLflow', async (t) => {
    const { server, mlflow, runRoot } = t.context;
    const spec = smallSpec(SWEEP, QUEUE, {
      model: { variant: 'beta-vae', imageSize: 32, latentSize: 4 },
      train: { steps: STEPS, batchSize: 8, logEvery: 2, checkpointEvery: 10, evalBatches: 0 },
      search: { grid: { beta: [1, 4] }, seeds: [0] },
      evaluation: { metrics: ['mig', 'sap'], numTrain: 200, numTest: 100 },
      retry: { maxGroupRestarts: 1, heartbeatTimeoutSeconds: 60 },
    });
    const handle = await startSweep(server.client, spec);
    const survivor = 'beta=1,seed=0';
    const doomed = 'beta=4,seed=0';
    const [survivorKill, doomedKill0] = await Promise.all([
      killAfterCheckpoint(server, runRoot, survivor, 0, 10),
      killAfterCheckpoint(server, runRoot, doomed, 0, 10),
    ]);
    const doomedKill1 = await killAfterCheckpoint(server, runRoot, doomed, 1, doomedKill0 + 10);
    const result = await handle.result();

    const ok = result.trials.find((x) => x.key === survivor);
    const bad = result.trials.find((x) => x.key === doomed);
    t.is(result.state, 'completed');
    t.is(ok?.state, 'completed', ok?.error);
    t.is(ok?.step, STEPS);
    t.is(bad?.state, 'failed');
    t.regex(bad?.error ?? '', /failed 2 times \(limit retry\.maxGroupRestarts=1\)/);
    // whichever replica was killed (rank 1 never talks to the workflow), its failure names how far it got
    t.regex(bad?.error ?? '', /was killed by SIGKILL after step (\d+)/);
    t.true(Number(/after step (\d+)/.exec(bad?.error ?? '')?.[1]) >= doomedKill1, bad?.error);
    t.notRegex(bad?.error ?? '', /absl|oneDNN/);
    t.log(`killed ${survivor} after checkpoint ${survivorKill}; ${doomed} after ${doomedKill0} and ${doomedKill1}`);

    // The kill races the next checkpoint: one at a later step may be accepted between our query and the SIGKILL (ten
    // steps at 32x32 take well under a second). So the group resumes from the newest checkpoint the workflow accepted:
    // at least the one we saw, and one the group stored (a multiple of checkpointEvery).
    const progress = await progressOf(server, survivor);
    t.is(progress?.generation, 1);
    const restart = progress?.restarts[0];
    const resumeStep = restart?.resumeStep ?? -1;
    t.true(resumeStep >= survivorKill, `resumed from ${resumeStep}, before the checkpoint at ${survivorKill} it had reported`);
    t.is(resumeStep % 10, 0, `resumed from ${resumeStep}, not a stored checkpoint`);
    t.true(resumeStep < STEPS, `resumed from ${resumeStep}`);

    const client = new MlflowClient({ trackingUri: mlflow.uri });
    try {
      const run = await client.getRun(ok?.mlflowRunId as string);
      t.is(run.info.status, 'FINISHED');
      t.is(run.data.tags['dcign.step'], 'graph', 'a beta-VAE on a host with the graph addon trains as one graph');
      // Exactly once: every logged step of the final model, once, although steps after the checkpoint ran twice.
      const history = await client.getMetricHistory(run.info.runId, 'loss');
      const steps = history.map((m) => m.step).sort((a, b) => a - b);
      t.deepEqual(steps, Array.from({ length: STEPS / 2 }, (_, i) => 2 * (i + 1)));
      // The real evaluator's metrics and artifacts.
      t.true(Number.isFinite(run.data.metrics['eval/mig']?.value), JSON.stringify(Object.keys(run.data.metrics)));
      t.true(Number.isFinite(run.data.metrics['eval/sap']?.value));
      const files = (await client.listArtifactsRecursive(run.info.runId)).map((f) => f.path);
      for (const f of ['images/latent_traversals.png', 'images/reconstructions.png', 'eval/metrics.json', 'eval/mi-heatmap.png', 'checkpoint/params.bin']) {
        t.true(files.includes(f), `${f} in ${files.join(', ')}`);
      }
      const report = JSON.parse((await client.readArtifact(run.info.runId, 'eval/metrics.json')).toString('utf8')) as { step: number; numTrain: number };
      t.is(report.step, STEPS);
      t.is(report.numTrain, 200);

      const failed = await client.getRun(bad?.mlflowRunId as string);
      t.is(failed.info.status, 'FAILED');
      t.regex(failed.data.tags['dcign.error'] ?? '', /maxGroupRestarts/);
      const failedSteps = (await client.getMetricHistory(failed.info.runId, 'loss')).map((m) => m.step);
      t.is(new Set(failedSteps).size, failedSteps.length, 'no step twice in the failed trial either');
      // Exactly the steps its accepted checkpoints cover: the newest accepted one is at least the one we killed after.
      const doomedCkpt = (await progressOf(server, doomed))?.lastCheckpoint?.step ?? -1;
      t.true(doomedCkpt >= doomedKill1, `last accepted checkpoint ${doomedCkpt}, before ${doomedKill1}`);
      t.true(failedSteps.every((s) => s <= doomedCkpt), `only checkpointed steps of the failed trial were logged (up to ${doomedCkpt}): ${failedSteps.join(',')}`);
    } finally {
      client.close();
    }
  });

  test.serial('a host without the graph addon trains eagerly, and its trial run says so, not what the config allowed', async (t) => {
    const { server, mlflow, runRoot } = t.context;
    const spec = smallSpec('e2e-no-addon', QUEUE, {
      model: { variant: 'beta-vae', imageSize: 32, latentSize: 4 },
      train: { steps: 4, batchSize: 8, logEvery: 2, checkpointEvery: 4, evalBatches: 0 },
      search: { grid: { beta: [1] }, seeds: [0] },
      evaluation: { enabled: false },
      replicas: 1,
    });
    // The replicas this worker spawns now look for the addon where there is none, as on a host set up without it.
    const before = process.env.DCIGN_TF_GRAPH_DIR;
    process.env.DCIGN_TF_GRAPH_DIR = path.join(runRoot, 'no-graph-addon-here');
    let result;
    try {
      result = await (await startSweep(server.client, spec)).result();
    } finally {
      if (before === undefined) delete process.env.DCIGN_TF_GRAPH_DIR;
      else process.env.DCIGN_TF_GRAPH_DIR = before;
    }
    const trial = result.trials[0];
    t.is(trial?.state, 'completed', trial?.error);
    const client = new MlflowClient({ trackingUri: mlflow.uri });
    try {
      const run = await client.getRun(trial?.mlflowRunId as string);
      t.is(run.data.tags['dcign.step'], 'eager');
      t.regex(run.data.tags['dcign.step.reason'] ?? '', /graph addon is not built \(.*no-graph-addon-here.* missing\)/);
    } finally {
      client.close();
    }
  });

  test.serial('a DCIGN trial on faces (sweeps/faces-dcign.yaml, cut short) trains and is evaluated through the sweep path', async (t) => {
    const { server, mlflow } = t.context;
    const base = loadSweepSpec(path.join(projectRoot, 'sweeps', 'faces-dcign.yaml'));
    t.is(base.dataset, 'faces');
    t.is(base.model.variant, 'dcign');
    const steps = 6;
    const spec = validateSweepSpec({
      ...base,
      name: 'e2e-faces',
      taskQueue: QUEUE,
      model: { ...base.model, imageSize: 32 },
      train: { ...base.train, steps, batchSize: 8, logEvery: 2, checkpointEvery: steps, evalBatches: 0 },
      search: { grid: { learningRate: [0.0005] }, seeds: [0] },
      evaluation: { metrics: ['mig'], numTrain: 100, numTest: 50 },
      maxConcurrentTrials: 1,
    });
    const result = await (await startSweep(server.client, spec)).result();
    t.is(result.state, 'completed');
    const trial = result.trials[0];
    t.is(result.trials.length, 1);
    t.is(trial?.state, 'completed', trial?.error);
    t.is(trial?.step, steps);
    const client = new MlflowClient({ trackingUri: mlflow.uri });
    try {
      const run = await client.getRun(trial?.mlflowRunId as string);
      t.is(run.info.status, 'FINISHED');
      t.is(run.data.params['dataset'], 'faces', JSON.stringify(run.data.params));
      t.is(run.data.params['model.variant'], 'dcign');
      const losses = await client.getMetricHistory(run.info.runId, 'loss');
      t.deepEqual(losses.map((m) => m.step).sort((a, b) => a - b), [2, 4, 6]);
      t.true(losses.every((m) => Number.isFinite(m.value)));
      t.true(Number.isFinite(run.data.metrics['eval/mig']?.value), JSON.stringify(Object.keys(run.data.metrics)));
    } finally {
      client.close();
    }
  });
}
