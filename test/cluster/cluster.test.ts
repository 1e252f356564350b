// A cluster on one machine (test/helpers/cluster.ts): a stack host (`dcign dev up --host 0.0.0.0`), three 1-slot
// worker hosts (`dcign worker --cluster-key`), a rogue host without the key, each a network namespace on a bridge.
// Real servers, real worker and replica processes (TensorFlow trainer, ZeroMQ ring with CURVE between hosts).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import anyTest, { type TestFn } from 'ava';

import { progressQuery, trialProgressQuery, trialWorkflowId } from '../../src/contract/index.js';
import type { SweepProgress } from '../../src/contract/types.js';
import { readClusterKeyFile } from '../../src/parallel/curve.js';
import { startSweep } from '../../src/sweep/control.js';
import { MlflowClient, MlflowError } from '../../src/tracking/index.js';
import { Cluster } from '../helpers/cluster.js';
import { MLFLOW_BIN } from '../helpers/mlflow.js';
import { netnsUnavailable } from '../helpers/netns.js';
import { smallSpec, waitFor } from '../helpers/sweep-fixture.js';
import { temporalAvailable } from '../helpers/temporal.js';

const test = anyTest as TestFn<{ cluster: Cluster }>;
const PREFIX = 'dcgcl';
const SUBNET = '198.19.42';
const QUEUE = 'cluster';
const ROGUE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/rogue.js');

const missing = (await netnsUnavailable(PREFIX)) ?? (!temporalAvailable() ? 'no Temporal CLI (run scripts/setup.sh)' : !existsSync(MLFLOW_BIN) ? `no MLflow at ${MLFLOW_BIN} (run scripts/setup.sh)` : undefined);

/** A real-replica spec: one trial of R = 2 on dsprites-small, no evaluation. */
function spec(name: string, steps: number, over: { checkpointEvery?: number; heartbeatTimeoutSeconds?: number; trials?: number } = {}) {
  return smallSpec(name, QUEUE, {
    search: { grid: { beta: Array.from({ length: over.trials ?? 1 }, (_, i) => 4 + i) }, seeds: [0] },
    replicas: 2,
    maxConcurrentTrials: 1,
    train: { steps, batchSize: 8, logEvery: 5, checkpointEvery: over.checkpointEvery ?? 10, evalBatches: 0 },
    evaluation: { enabled: false },
    retry: { maxGroupRestarts: 2, heartbeatTimeoutSeconds: over.heartbeatTimeoutSeconds ?? 60, activityMaxAttempts: 3 },
  });
}

/** Replica config files a sweep's trials left on each worker host: which generation and rank ran where. */
function replicaRuns(cluster: Cluster, sweep: string): { host: string; generation: number; rank: number; bind: string }[] {
  const out: { host: string; generation: number; rank: number; bind: string }[] = [];
  for (const host of cluster.workerNames) {
    const dir = path.join(cluster.runRoot(host), sweep);
    if (!existsSync(dir)) continue;
    for (const trial of readdirSync(dir)) {
      for (const f of readdirSync(path.join(dir, trial))) {
        const m = /^replica-g(\d+)-r(\d+)\.json$/.exec(f);
        if (!m) continue;
        const cfg = JSON.parse(readFileSync(path.join(dir, trial, f), 'utf8')) as { bind: string };
        out.push({ host, generation: Number(m[1]), rank: Number(m[2]), bind: cfg.bind });
      }
    }
  }
  return out.sort((a, b) => a.generation - b.generation || a.rank - b.rank);
}

/** Replica processes of a sweep (any generation, or one) now running on a host. */
async function replicaPids(cluster: Cluster, host: string, sweep: string, generation?: number): Promise<number[]> {
  const gen = generation === undefined ? '\\d+' : String(generation);
  return cluster.net.pids(host, new RegExp(`replica-child\\.js .*/${sweep}/.*replica-g${gen}-r\\d+\\.json`));
}

async function trialProgress(cluster: Cluster, sweep: string) {
  const p = await cluster.client.workflow.getHandle(`sweep/${sweep}`).query(progressQuery);
  const key = p.trials[0]?.key;
  if (!key) return undefined;
  return cluster.client.workflow.getHandle(trialWorkflowId(sweep, key)).query(trialProgressQuery).catch(() => undefined);
}

function explain(cluster: Cluster, result: SweepProgress | undefined): string {
  return `${JSON.stringify(result?.trials.map((t) => ({ key: t.key, state: t.state, error: t.error })))}\n${cluster.logs(12)}`;
}

if (missing) {
  test('cluster on network namespaces', (t) => t.fail(`cannot build the namespace cluster: ${missing}`));
} else {
  test.before(async (t) => {
    t.context.cluster = await Cluster.start({ prefix: PREFIX, subnet: SUBNET, workers: 3, taskQueue: QUEUE, bareHosts: ['rogue'] });
  });
  test.after.always(async (t) => {
    await t.context.cluster?.destroy();
  });

  test.serial('dev up --host 0.0.0.0 serves other hosts and says at which address; MLflow refuses an unlisted Host header, and the error says so', async (t) => {
    const { cluster } = t.context;
    const ip = cluster.host('stack').ip;
    t.regex(cluster.stack.upOutput, new RegExp(`workers on other hosts: TEMPORAL_ADDRESS=${ip.replace(/\./g, '\\.')}:7233 MLFLOW_TRACKING_URI=http://${ip.replace(/\./g, '\\.')}:5000`));
    // a second address on the stack host, added after MLflow started: not in its --allowed-hosts
    const extra = `${SUBNET}.200`;
    await cluster.net.run('stack', ['ip', 'addr', 'add', `${extra}/24`, 'dev', 'eth0']);
    const refused = new MlflowClient({ trackingUri: `http://${extra}:5000`, maxRetries: 0 });
    try {
      const err = await t.throwsAsync(refused.getExperimentByName('x'), { instanceOf: MlflowError });
      t.is(err?.errorCode, 'HOST_NOT_ALLOWED');
      t.regex(err?.message ?? '', /refused the Host header .*--allowed-hosts/);
      t.notRegex(err?.message ?? '', /credentials:/);
    } finally {
      refused.close();
      await cluster.net.run('stack', ['ip', 'addr', 'del', `${extra}/24`, 'dev', 'eth0']);
    }
  });

  test.serial('(a) a trial whose two replicas land on different hosts trains over CURVE and lands in MLflow', async (t) => {
    const { cluster } = t.context;
    const result = await (await startSweep(cluster.client, spec('cl-a', 30))).result();
    const trial = result.trials[0];
    t.is(trial?.state, 'completed', explain(cluster, result));
    t.is(trial?.step, 30);
    const runs = replicaRuns(cluster, 'cl-a');
    t.is(runs.length, 2, JSON.stringify(runs));
    t.not(runs[0]?.host, runs[1]?.host, 'the two replicas ran on different hosts');
    for (const r of runs) t.is(r.bind, cluster.host(r.host).ip, 'each replica bound its own host\'s address only');
    const mlflow = new MlflowClient({ trackingUri: cluster.stack.mlflowUri });
    try {
      const history = await mlflow.getMetricHistory(trial?.mlflowRunId as string, 'loss');
      t.deepEqual(history.map((p) => p.step).sort((a, b) => a - b), [5, 10, 15, 20, 25, 30], 'loss at every log step');
    } finally {
      mlflow.close();
    }
  });

  test.serial('(c) a rogue host without the cluster key cannot join a ring or inject frames; the trial completes untouched', async (t) => {
    const { cluster } = t.context;
    const handle = await startSweep(cluster.client, spec('cl-c', 300, { checkpointEvery: 100 }));
    await waitFor('the trial to train', async () => ((await trialProgress(cluster, 'cl-c'))?.step ?? 0) >= 5, 120_000);
    // the ring endpoints: TCP listeners on the worker hosts' addresses (workers themselves listen on nothing)
    const endpoints: string[] = [];
    for (const host of cluster.workerNames) {
      const ip = cluster.host(host).ip;
      const ss = await cluster.net.run(host, ['ss', '-Hltn']);
      for (const m of ss.matchAll(new RegExp(`${ip.replace(/\./g, '\\.')}:(\\d+)`, 'g'))) endpoints.push(`tcp://${ip}:${m[1]}`);
    }
    t.is(endpoints.length, 2, `two replicas listening: ${endpoints.join(', ')}`);
    const { publicKey } = readClusterKeyFile(cluster.keyFile);
    for (const endpoint of endpoints) {
      const out = await cluster.net.run('rogue', [process.execPath, ROGUE, endpoint, publicKey]);
      const r = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { raw: string; plainZmq: string; curveWithOwnKey: string };
      t.log(endpoint, r);
      t.is(r.raw, 'closed-by-replica', 'garbage on the raw socket is dropped');
      t.not(r.plainZmq, 'accepted', 'no ZeroMQ peer without CURVE gets in');
      t.not(r.curveWithOwnKey, 'accepted', 'no CURVE peer with a key other than the cluster key gets in');
    }
    const during = await trialProgress(cluster, 'cl-c');
    t.true(during !== undefined && during.state === 'running' && during.step < 300, `the trial was still training while the rogue tried (${JSON.stringify(during)})`);
    const result = await handle.result();
    t.is(result.trials[0]?.state, 'completed', explain(cluster, result));
    t.is(result.trials[0]?.generation, 0, 'no restart: the rogue never disturbed the ring');
  });

  test.serial('(b) the Temporal server restarted mid-sweep: the sweep completes', async (t) => {
    const { cluster } = t.context;
    const handle = await startSweep(cluster.client, spec('cl-b', 200, { trials: 2, checkpointEvery: 50 }));
    await waitFor('the first trial to train', async () => ((await trialProgress(cluster, 'cl-b'))?.step ?? 0) >= 5, 120_000);
    await cluster.restartTemporal();
    const result = await handle.result();
    t.is(result.trials.length, 2);
    for (const trial of result.trials) {
      t.is(trial.state, 'completed', explain(cluster, result));
      t.is(trial.step, 200);
    }
  });

  test.serial('(d) a worker host cut off past the heartbeat timeout: the group restarts elsewhere; the cut-off replica exits on its own first', async (t) => {
    const { cluster } = t.context;
    // heartbeat timeout 12 s: the replicas' ring timeout is capped at 9 s (workers/ring-timeout.ts)
    const handle = await startSweep(cluster.client, spec('cl-d', 400, { checkpointEvery: 20, heartbeatTimeoutSeconds: 12 }));
    await waitFor('a checkpoint of generation 0', async () => {
      const p = await trialProgress(cluster, 'cl-d');
      return p?.generation === 0 && p.lastCheckpoint !== undefined;
    }, 120_000);
    const gen0 = replicaRuns(cluster, 'cl-d').filter((r) => r.generation === 0);
    const victim = gen0.find((r) => r.rank === 1)?.host as string;
    t.truthy(victim, JSON.stringify(gen0));
    const victimPids = await replicaPids(cluster, victim, 'cl-d', 0);
    t.is(victimPids.length, 1, `one replica on ${victim}`);
    await cluster.net.cut(victim);
    try {
      // the cut-off replica stops by itself (nothing can reach it); when the last generation-0 replica is gone, no
      // generation-1 replica may have started anywhere, so the two never both train or write checkpoints
      await waitFor('every generation-0 replica to exit', async () => {
        for (const host of cluster.workerNames) if ((await replicaPids(cluster, host, 'cl-d', 0)).length > 0) return false;
        return true;
      }, 60_000, 100);
      const gen1Started = replicaRuns(cluster, 'cl-d').filter((r) => r.generation >= 1);
      let gen1Running = 0;
      for (const host of cluster.workerNames) gen1Running += (await cluster.net.pids(host, /replica-g[1-9]\d*-r/)).length;
      t.deepEqual(gen1Started, [], 'no generation-1 replica was started before generation 0 was gone');
      t.is(gen1Running, 0);
      await waitFor('generation 1 to form', async () => {
        const p = await trialProgress(cluster, 'cl-d');
        return p !== undefined && p.generation >= 1 && p.joined === 2;
      }, 120_000);
    } finally {
      await cluster.net.restore(victim);
    }
    const result = await handle.result();
    const trial = result.trials[0];
    t.is(trial?.state, 'completed', explain(cluster, result));
    t.is(trial?.step, 400);
    t.true((trial?.generation ?? 0) >= 1, `restarted (last generation ${trial?.generation})`);
    const gen1 = replicaRuns(cluster, 'cl-d').filter((r) => r.generation === 1);
    t.is(gen1.length, 2);
    t.false(gen1.some((r) => r.host === victim), `generation 1 ran elsewhere than ${victim}: ${JSON.stringify(gen1)}`);
  });

  test.serial('(e) every process of the host holding rank 0 killed after a stored checkpoint: the trial resumes on another host from MLflow, each step logged once', async (t) => {
    const { cluster } = t.context;
    const steps = 300;
    const handle = await startSweep(cluster.client, spec('cl-e', steps, { checkpointEvery: 20, heartbeatTimeoutSeconds: 12 }));
    let stored: { step: number; uri: string } | undefined;
    await waitFor('a checkpoint of generation 0 stored in MLflow', async () => {
      const p = await trialProgress(cluster, 'cl-e');
      if (p?.generation === 0 && p.lastCheckpoint?.uri.startsWith('runs:/')) stored = p.lastCheckpoint;
      return stored !== undefined;
    }, 180_000);
    // The host dies once the losses that checkpoint covers are in MLflow. Known limit, not tested here: a host that
    // dies in the few milliseconds between the workflow accepting a checkpoint and its worker sending the losses it
    // released loses those log points (a gap in the history, never a duplicate).
    const watcher = new MlflowClient({ trackingUri: cluster.stack.mlflowUri });
    try {
      await waitFor('the losses up to the stored checkpoint in MLflow', async () => {
        const runId = (await handle.query(progressQuery)).trials.find((x) => x.mlflowRunId)?.mlflowRunId;
        const logged = runId ? (await watcher.getMetricHistory(runId, 'loss')).map((p) => p.step) : [];
        return logged.some((s) => s >= (stored?.step ?? Infinity)) ? true : undefined;
      }, 60_000);
    } finally {
      watcher.close();
    }
    const gen0 = replicaRuns(cluster, 'cl-e').filter((r) => r.generation === 0);
    const victim = gen0.find((r) => r.rank === 0)?.host as string;
    t.truthy(victim, JSON.stringify(gen0));
    // every dcign process on that host at once (worker, replica, any child): as a machine losing power would
    const pids = await cluster.net.pids(victim, /dist\/(src|workers)\//);
    t.true(pids.length >= 2, `the worker and its replica on ${victim}: ${pids.join(', ')}`);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    cluster.workers.delete(victim);
    try {
      await waitFor(`nothing of dcign left on ${victim}`, async () => (await cluster.net.pids(victim, /dist\/(src|workers)\//)).length === 0, 30_000, 100);
      const result = await handle.result();
      const trial = result.trials[0];
      t.is(trial?.state, 'completed', explain(cluster, result));
      t.is(trial?.step, steps);
      t.true((trial?.generation ?? 0) >= 1, `restarted (last generation ${trial?.generation})`);
      const later = replicaRuns(cluster, 'cl-e').filter((r) => r.generation >= 1);
      t.true(later.length >= 2, JSON.stringify(later));
      t.false(later.some((r) => r.host === victim), `no later generation ran on ${victim}: ${JSON.stringify(later)}`);
      // generation 1 resumed from a checkpoint no later than the one stored before the kill, from MLflow: rank 0 wrote
      // that checkpoint into the victim's run root only, and hosts share no files
      const progress = await cluster.client.workflow.getHandle(trialWorkflowId('cl-e', trial?.key as string)).query(trialProgressQuery);
      const restart = progress.restarts.find((r) => r.generation === 0); // the restart that ended generation 0
      t.truthy(restart, JSON.stringify(progress.restarts));
      t.true((restart?.resumeStep ?? 0) >= (stored?.step ?? Infinity), `generation 1 resumed at step ${restart?.resumeStep}, a checkpoint at ${stored?.step} was stored`);
      const resumedOn = later.find((r) => r.generation === 1 && r.rank === 0)?.host as string;
      const local = path.join(cluster.runRoot(victim), 'cl-e');
      t.true(existsSync(local), 'rank 0 of generation 0 wrote its checkpoints on the victim host');
      t.not(resumedOn, victim);
      const mlflow = new MlflowClient({ trackingUri: cluster.stack.mlflowUri });
      try {
        const history = await mlflow.getMetricHistory(trial?.mlflowRunId as string, 'loss');
        const logged = history.map((p) => p.step).sort((a, b) => a - b);
        t.deepEqual(logged, Array.from({ length: steps / 5 }, (_, i) => (i + 1) * 5), 'each log step exactly once');
      } finally {
        mlflow.close();
      }
    } finally {
      await cluster.startWorker(victim); // the host back, as the other tests found it
    }
  });
}
