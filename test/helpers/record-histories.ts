// Records complete workflow histories with the workflow code of the checkout it runs in, for the replay-compatibility
// test of later releases (test/workflows/replay-compat.test.ts), which replays every directory it finds there.
// `npm run record-histories` records the checkout it runs in to test/fixtures/histories/<short HEAD>/ (or to the
// directory given after `--`); commit it with the release. For an older release, run it from a worktree of it:
//   git worktree add /tmp/rel <commit> && cd /tmp/rel && npm ci && cp <this file> test/helpers/ && npm run record-histories
// It uses only the control calls every release has had.
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import proto from '@temporalio/proto';

import { projectRoot } from '../../src/stack/paths.js';
import { addTrials, cancelSweep, pauseSweep, resumeSweep, startSweep } from '../../src/sweep/control.js';
import { testMlflowServer } from './mlflow.js';
import { startTemporal } from './temporal.js';
import { bundle, smallSpec, startWorker, tempDir, waitFor } from './sweep-fixture.js';

const QUEUE = 'record';

export async function recordHistories(out: string): Promise<number> {
  const [server, mlflow, code, runRoot] = await Promise.all([startTemporal(), testMlflowServer(), bundle(), tempDir('record')]);
  const worker = await startWorker({ taskQueue: QUEUE, address: server.address, slots: 4, runRoot, code, mlflowUri: mlflow.uri });
  const c = server.client;
  try {
    // two trials complete, tracked and evaluated
    await (await startSweep(c, smallSpec('basic', QUEUE, { search: { grid: { beta: [1, 4] }, seeds: [0] } }))).result();
    // a replica fails at step 13: the group restarts from its checkpoint and completes
    await (await startSweep(c, smallSpec('restart', QUEUE, { train: { fakeFail: '0:1:13', fakeStepMs: 20 }, search: { grid: { beta: [2] }, seeds: [0] } }))).result();
    // restarts run out: the trial fails, the sweep completes
    await (await startSweep(c, smallSpec('failed', QUEUE, { train: { fakeFail: '0:1:7' }, retry: { maxGroupRestarts: 0 }, search: { grid: { beta: [3] }, seeds: [0] } }))).result();
    // paused with a trial running, a trial added, resumed
    const paused = await startSweep(c, smallSpec('pauseadd', QUEUE, { maxConcurrentTrials: 1, train: { steps: 30, fakeStepMs: 20 }, search: { grid: { beta: [1] }, seeds: [0] } }));
    await new Promise((r) => setTimeout(r, 300));
    await pauseSweep(c, 'pauseadd');
    await addTrials(c, 'pauseadd', ['beta=2,seed=0']);
    await new Promise((r) => setTimeout(r, 500));
    await resumeSweep(c, 'pauseadd');
    await paused.result();
    // cancelled mid-run
    const cancelled = await startSweep(c, smallSpec('cancel', QUEUE, { train: { steps: 400, fakeStepMs: 20 }, search: { grid: { beta: [1] }, seeds: [0] } }));
    await waitFor('the cancel sweep to start its trial', async () => ((await c.workflow.getHandle('sweep/cancel/beta=1,seed=0').describe().catch(() => undefined)) ? true : undefined));
    await new Promise((r) => setTimeout(r, 800));
    await cancelSweep(c, 'cancel');
    await cancelled.result().catch(() => undefined);
    // ASHA on an evaluation metric: each rung's checkpoint is evaluated beside training (rung evaluations), and the
    // planted worse trials (fakeLossScale 10) are stopped at the first rung
    await (await startSweep(c, smallSpec('asha', QUEUE, {
      train: { steps: 100, fakeStepMs: 50, checkpointEvery: 20, logEvery: 4 },
      search: { grid: { 'train.fakeLossScale': [1, 10] }, seeds: [0, 1] },
      replicas: 1,
      maxConcurrentTrials: 2,
      objective: 'mig',
      earlyStopping: { asha: { minSteps: 10, eta: 2 } },
    }))).result();
    // continue-as-new: a small history limit
    await (await startSweep(c, smallSpec('chain', QUEUE, { maxConcurrentTrials: 1, train: { steps: 4 }, search: { grid: { beta: [1, 2, 3] }, seeds: [0] } }), { maxHistoryEvents: 40 })).result();

    await mkdir(out, { recursive: true });
    let n = 0;
    for await (const wf of c.workflow.list()) {
      if (wf.status.name === 'RUNNING') continue;
      const history = await c.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
      // protobuf bytes: the JSON route (historyFromJSON) trips over two copies of protobufjs in this install
      const file = `${wf.workflowId.replace(/[^A-Za-z0-9=,.-]+/g, '_')}__${wf.runId}.binpb`;
      await writeFile(path.join(out, file), proto.temporal.api.history.v1.History.encode(history).finish());
      n += 1;
    }
    return n;
  } finally {
    await worker.stop();
    await server.stop();
    await mlflow.dispose();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const head = () => execFileSync('git', ['rev-parse', '--short=7', 'HEAD'], { cwd: projectRoot, encoding: 'utf8' }).trim();
  const out = process.argv[2] ?? path.join(projectRoot, 'test', 'fixtures', 'histories', head());
  recordHistories(out).then(
    (n) => console.log(`recorded ${n} histories in ${out}`),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
