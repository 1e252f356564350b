// The orchestration with the real replica child (src/parallel/replica-child.ts: TensorFlow trainer + ZeroMQ ring):
// a tiny sweep of 2 trials x 2 data-parallel replicas rendezvousing through the trial workflow's update.
import { existsSync } from 'node:fs';
import anyTest from 'ava';
import type { TestFn } from 'ava';

import { startSweep } from '../../src/sweep/control.js';
import { trialCurveQuery, trialWorkflowId } from '../../src/contract/index.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { REPLICA_CHILD_PATH } from '../../workers/worker.js';
import { startTemporal, temporalAvailable } from '../helpers/temporal.js';
import type { TemporalTestServer } from '../helpers/temporal.js';
import { bundle, smallSpec, startWorker, tempDir } from '../helpers/sweep-fixture.js';
import type { RunningWorker } from '../helpers/sweep-fixture.js';

const test = anyTest as TestFn<{ server: TemporalTestServer; worker: RunningWorker }>;
const QUEUE = 'real-replica';

if (!temporalAvailable() || !existsSync(REPLICA_CHILD_PATH)) {
  test('temporal binary and the replica child are built', (t) => t.fail(`need ${REPLICA_CHILD_PATH} and the Temporal CLI`));
} else {
  test.before(async (t) => {
    const [server, code, runRoot] = await Promise.all([startTemporal(), bundle(), tempDir('real')]);
    const worker = await startWorker({ taskQueue: QUEUE, address: server.address, slots: 4, runRoot, code, replicaCommand: [process.execPath, REPLICA_CHILD_PATH] });
    t.context = { server, worker };
  });
  test.after.always(async (t) => {
    await t.context.worker?.stop().catch(() => undefined);
    await t.context.server?.stop();
  });

  test.serial('2 trials x 2 real replicas train through the Temporal rendezvous and finish with checkpoints', async (t) => {
    const { server } = t.context;
    const spec = smallSpec('real', QUEUE, {
      model: { variant: 'beta-vae', imageSize: 32, latentSize: 4 },
      train: { steps: 6, batchSize: 8, logEvery: 2, checkpointEvery: 3, evalBatches: 0 },
      search: { grid: { beta: [1, 4] }, seeds: [0] },
      evaluation: { enabled: false },
      retry: { heartbeatTimeoutSeconds: 60 },
    });
    const result = await (await startSweep(server.client, spec)).result();
    for (const trial of result.trials) {
      t.is(trial.state, 'completed', `${trial.key}: ${trial.error ?? ''}`);
      t.is(trial.step, 6);
      t.is((await loadCheckpoint(trial.checkpointPath ?? '(none)')).state.step, 6, `final checkpoint ${trial.checkpointPath}`);
      t.true(Number.isFinite(trial.losses.loss), JSON.stringify(trial.losses));
      const curve = await server.client.workflow.getHandle(trialWorkflowId('real', trial.key)).query(trialCurveQuery);
      t.deepEqual(curve.map((p) => p.step), [2, 4, 6]);
    }
  });
}
