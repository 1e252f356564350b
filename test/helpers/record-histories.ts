// Records complete workflow histories with the workflow code of the checkout it runs in, for the replay-compatibility
// test of later releases (test/workflows/replay-compat.test.ts). Run it from a worktree of the release to record:
//   git worktree add /tmp/rel <commit> && cd /tmp/rel && npm ci && npx tsc -p tsconfig.json
//   cp <this file> test/helpers/ && npx tsc -p tsconfig.json && node dist/test/helpers/record-histories.js <out dir>
// then copy <out dir> to test/fixtures/histories/<commit>/. It uses only the control calls every release has had.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import proto from '@temporalio/proto';

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
  const out = process.argv[2];
  if (!out) throw new Error('usage: node dist/test/helpers/record-histories.js <out dir>');
  recordHistories(out).then(
    (n) => console.log(`recorded ${n} histories in ${out}`),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
