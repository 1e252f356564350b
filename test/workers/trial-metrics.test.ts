// The losses a checkpoint carries, against a real MLflow server: a group resuming from the checkpoint logs exactly
// the carried steps MLflow lacks; a step MLflow holds is never logged again, whether recomputed with the same value
// or a different one (the first stays; a differing one is counted in the tag dcign.recomputedDiffering).
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

import { MlflowClient } from '../../src/tracking/index.js';
import { CARRIED_LOSSES_FILE, CheckpointGatedMetrics, readCarried } from '../../workers/trial-metrics.js';
import { testMlflowServer, type MlflowServer } from '../helpers/mlflow.js';

let mlflow: MlflowServer;
test.before(async () => {
  mlflow = await testMlflowServer();
});
test.after.always(async () => {
  await mlflow?.dispose();
});

async function newRun(client: MlflowClient, name: string): Promise<string> {
  const exp = await client.getOrCreateExperiment(name);
  return (await client.createRun({ experimentId: exp, runName: name })).info.runId;
}

const pt = (step: number, loss: number): { step: number; scalars: Record<string, number> } => ({ step, scalars: { loss, kl: step } });

test('a checkpoint carries every point up to its step that MLflow is not known to have', async (t) => {
  const client = new MlflowClient({ trackingUri: mlflow.uri });
  const runId = await newRun(client, 'carry-1');
  const spool = mkdtempSync(path.join(os.tmpdir(), 'carry-spool-'));
  const m = new CheckpointGatedMetrics(client, runId, spool);
  for (const s of [2, 4, 6, 8]) m.add(pt(s, s / 10));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'carry-ckpt-'));
  m.writeCarried(dir, 6);
  t.deepEqual(
    readCarried(dir).map((p) => p.step),
    [2, 4, 6],
    `${CARRIED_LOSSES_FILE} holds the held points up to the checkpoint's step`,
  );
  m.checkpointed(6);
  await m.close(false); // flushed: 2, 4, 6 are on the server; 8 (no checkpoint covers it) is dropped
  t.deepEqual((await client.getMetricHistory(runId, 'loss')).map((p) => p.step).sort((a, b) => a - b), [2, 4, 6]);
});

test('resuming: carried steps MLflow lacks are logged once; steps it holds are never logged again', async (t) => {
  const client = new MlflowClient({ trackingUri: mlflow.uri });
  const runId = await newRun(client, 'carry-2');
  // what a dead host left: steps 2 and 4 reached MLflow, 6 and 8 were released but never sent
  await client.logMetrics(runId, { loss: 0.2, kl: 2 }, 2);
  await client.logMetrics(runId, { loss: 0.4, kl: 4 }, 4);
  const dead = new CheckpointGatedMetrics(client, runId, mkdtempSync(path.join(os.tmpdir(), 'carry-spool-')));
  for (const s of [4, 6, 8]) dead.add(pt(s, s / 10));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'carry-ckpt-'));
  dead.writeCarried(dir, 8); // step 4 is carried too: the dead host never learnt it had arrived

  const next = new CheckpointGatedMetrics(client, runId, mkdtempSync(path.join(os.tmpdir(), 'carry-spool-')));
  t.is(await next.resumeFrom(dir, ['loss', 'kl']), 2 * 2, 'the two missing steps, two keys each');
  // the resumed group recomputes step 4 with a different loss and step 8 with the same one (already carried), then 10
  next.add(pt(4, 0.45));
  next.add(pt(8, 0.8));
  next.add(pt(10, 1.0));
  next.checkpointed(10);
  await next.close(true);
  const steps = async (key: string): Promise<number[]> => (await client.getMetricHistory(runId, key)).map((p) => p.step).sort((a, b) => a - b);
  t.deepEqual(await steps('loss'), [2, 4, 6, 8, 10], 'every step exactly once');
  t.deepEqual(await steps('kl'), [2, 4, 6, 8, 10]);
  const loss4 = (await client.getMetricHistory(runId, 'loss')).find((p) => p.step === 4)?.value;
  t.is(Math.fround(loss4 ?? NaN), Math.fround(0.4), 'the first value of a step stays');
  t.is((await client.getRun(runId)).data.tags['dcign.recomputedDiffering'], '1');
});
